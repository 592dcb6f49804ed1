/*
 * natpilot verify --outbound: which outbound ports of the games' profiles
 * does the network let out, and what do the blocked ones break?
 *
 * The tests are libnatpilot's egress module and the verdicts its advice
 * module (advice.h); this file parses the options, resolves the servers
 * and renders the report (outbound.h), for verify --outbound, diagnose
 * --outbound and the wizard alike.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "natpilot/egress.h"
#include "natpilot/profile.h"
#include "natpilot/stun.h"
#include "outbound.h"
#include "np_util.h"

#define CMD "verify --outbound"

/*
 * portquiz.net answers TCP on every port (documented on its own page), so a
 * handshake on port N means the network lets TCP N out. Port 443 is the
 * calibration port: almost every network lets it out.
 */
static const char default_reflector[] = "portquiz.net";
#define DEFAULT_OPEN_PORT 443
/* The STUN server diagnose uses; it listens on UDP 3478 only. */

#define MAX_RANGES   NP_ADVICE_OB_RANGES
#define MAX_SAMPLE   NP_ADVICE_OB_SAMPLE
#define MAX_RULES    256
#define MAX_CLI_STUN NP_EGRESS_MAX_STUN

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: natpilot verify --outbound [PROFILE...] [--port "
        "tcp:N|udp:N-M]...\n"
        "                       [--platform P] [--profiles DIR]\n"
        "                       [--reflector HOST[:PORT]] [--stun "
        "HOST[:PORT]]...\n"
        "                       [--stun-all-ports] [--timeout MS] "
        "[--min-wait MS]\n"
        "                       [--parallel N] [--sample N] [--source ADDR] "
        "[--json]\n"
        "\n"
        "Tests whether this device can reach the internet on the outbound "
        "ports the\nprofiles list (and those given with --port), all at once, "
        "and says which\nare blocked, how (dropped, refused by a reset, "
        "rejected by ICMP) and what\nthat breaks.\n"
        "\n"
        "  PROFILE             a game or platform profile id (see 'natpilot "
        "profiles')\n"
        "  --port PROTO:PORTS  also test these (tcp:443, udp:3478-3480); "
        "repeatable\n"
        "  --platform P        device platform for the profiles: xbox, "
        "playstation,\n"
        "                      switch or pc (default pc)\n"
        "  --profiles DIR      extra profile directory over the built-in "
        "catalog\n"
        "  --reflector H[:P]   TCP reflector: a host that accepts TCP on "
        "every port\n"
        "                      (default %s); P is a port known to be\n"
        "                      open there, used to measure the round trip "
        "(default %d).\n"
        "                      'none' skips TCP.\n"
        "  --stun H[:P]        STUN server listening on UDP port P; "
        "repeatable\n"
        "                      (default %s);\n"
        "                      'none' for no STUN. UDP ports with no STUN\n"
        "                      server are 'not testable'. Only contacted for "
        "UDP rules\n"
        "                      (the reflector only for TCP rules) unless "
        "named.\n"
        "  --stun-all-ports    the first --stun host answers STUN on every "
        "UDP port\n"
        "  --timeout MS        longest wait for an answer (default 3000)\n"
        "  --min-wait MS       shortest wait (default 400); the wait is 4 "
        "round trips\n"
        "                      between the two\n"
        "  --parallel N        tests in flight at once (default 64)\n"
        "  --sample N          ports tested per range: first, last and N-2 "
        "inside (default %d)\n"
        "  --source ADDR       local address to test from\n"
        "  --json              machine-readable output\n"
        "  --help              this text\n"
        "\n"
        "Exit status: 0 nothing essential blocked, 1 an essential outbound "
        "rule is\nblocked (--port rules count as essential), 2 usage error, "
        "3 nothing at all\nwas reachable (not even the reflector's open "
        "port).\n",
        default_reflector, DEFAULT_OPEN_PORT, np_probe_default_servers[0],
        NP_EGRESS_SAMPLE_DEFAULT);
}

static void show_progress(void *ctx, const char *step)
{
    (void)ctx;
    np_progress(step);
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
    int64_t v;

    if (lo < 0 || np__parse_i64(s, lo, hi, &v) != NP_OK)
        return -1;
    *out = (long)v;
    return 0;
}

/* "tcp:N", "udp:N-M", "tcp:80,443,1000-1010". */
static int parse_port_spec(const char *spec, np_advice_ob_rule *r)
{
    char buf[256], *p, *comma;
    const char *colon = strchr(spec, ':');

    memset(r, 0, sizeof(*r));
    if (colon == NULL)
        return -1;
    if ((size_t)(colon - spec) == 3 && strncmp(spec, "tcp", 3) == 0)
        r->proto = NP_EGRESS_TCP;
    else if ((size_t)(colon - spec) == 3 && strncmp(spec, "udp", 3) == 0)
        r->proto = NP_EGRESS_UDP;
    else
        return -1;
    if (snprintf(buf, sizeof(buf), "%s", colon + 1) >= (int)sizeof(buf))
        return -1;
    for (p = buf; p != NULL; p = comma) {
        char *dash;
        long lo, hi;
        comma = strchr(p, ',');
        if (comma != NULL)
            *comma++ = '\0';
        dash = strchr(p, '-');
        if (dash != NULL)
            *dash++ = '\0';
        if (parse_num(p, 1, 65535, &lo) != 0)
            return -1;
        hi = lo;
        if (dash != NULL && parse_num(dash, 1, 65535, &hi) != 0)
            return -1;
        if (hi < lo || r->n_ranges == MAX_RANGES)
            return -1;
        r->lo[r->n_ranges] = (uint16_t)lo;
        r->hi[r->n_ranges] = (uint16_t)hi;
        r->n_ranges++;
    }
    r->essential = 1; /* the user asked for it */
    return 0;
}

static const char *proto_name(int proto)
{
    return proto == NP_EGRESS_TCP ? "tcp" : "udp";
}

/* "tested 27015, 27019, 27022, 27026, 27030 of 16 ports" */
static const char *sample_text(const np_advice_outbound *c,
                               const np_advice_ob_rule *r, char *buf,
                               size_t size)
{
    size_t i, used = 0;
    int n;

    n = snprintf(buf, size, "tested ");
    used = n > 0 ? (size_t)n : 0;
    for (i = 0; i < r->count && used < size; i++) {
        n = snprintf(buf + used, size - used, "%s%u", i ? ", " : "",
                     (unsigned)c->targets[r->first + i].port);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used < size)
        (void)snprintf(buf + used, size - used, " of %u ports",
                       (unsigned)r->total_ports);
    return buf;
}

static const char *errno_name(int e)
{
    switch (e) {
    case 0:
        return NULL;
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case EHOSTUNREACH:
        return "EHOSTUNREACH";
    case ENETUNREACH:
        return "ENETUNREACH";
    case EHOSTDOWN:
        return "EHOSTDOWN";
    case ENONET:
        return "ENONET";
    case ENOPROTOOPT:
        return "ENOPROTOOPT";
    case EPERM:
        return "EPERM";
    case EACCES:
        return "EACCES";
    case EMFILE:
        return "EMFILE";
    case ENFILE:
        return "ENFILE";
    case EADDRNOTAVAIL:
        return "EADDRNOTAVAIL";
    case EAFNOSUPPORT:
        return "EAFNOSUPPORT";
    default:
        return "other";
    }
}

/* One line describing how one target ended. */
static const char *target_text(const np_egress_report *rep,
                               const np_egress_target *t, char *buf,
                               size_t size)
{
    char from[NP_ADDRSTRLEN];
    int v6 = np_addr_family(&t->icmp_from) == AF_INET6;

    switch (t->state) {
    case NP_EGRESS_REACHABLE:
        (void)snprintf(buf, size, "reachable (%s in %.1f ms)",
                       t->proto == NP_EGRESS_TCP ? "connected"
                                                 : "STUN answered",
                       t->rtt_ms);
        break;
    case NP_EGRESS_DROPPED:
        (void)snprintf(buf, size, "dropped: no answer within %.0f ms (%u %s)",
                       rep->wait_ms, t->attempts,
                       t->proto == NP_EGRESS_TCP
                           ? (t->attempts == 1 ? "SYN" : "SYNs")
                           : (t->attempts == 1 ? "request" : "requests"));
        break;
    case NP_EGRESS_REFUSED:
        (void)snprintf(buf, size, "refused: reset after %.1f ms", t->rtt_ms);
        break;
    case NP_EGRESS_REJECTED:
        if (t->icmp_type >= 0 && np_addr_is_set(&t->icmp_from))
            (void)snprintf(
                buf, size, "rejected: ICMP %s from %s%s",
                np_egress_icmp_text(v6, t->icmp_type, t->icmp_code),
                np_addr_ip_str(&t->icmp_from, from, sizeof(from)),
                np_addr_same_ip(&t->icmp_from, &t->dest)
                    ? " (the server itself: nothing listens there, or its "
                      "own firewall)"
                    : " (on the way)");
        else
            (void)snprintf(buf, size, "rejected: %s", strerror(t->sys_errno));
        break;
    case NP_EGRESS_LOCAL:
        (void)snprintf(buf, size, "blocked on this device: %s",
                       strerror(t->sys_errno));
        break;
    case NP_EGRESS_UNTESTABLE:
        (void)snprintf(buf, size, "%s",
                       t->proto == NP_EGRESS_TCP
                           ? "not testable: no TCP reflector"
                           : "not testable: no STUN server on this port");
        break;
    case NP_EGRESS_ERROR:
    default:
        (void)snprintf(buf, size, "error: %s", strerror(t->sys_errno));
        break;
    }
    return buf;
}

/* ---- human output ------------------------------------------------------ */

static const char *state_label(int state, int partial)
{
    switch (state) {
    case NP_EGRESS_REACHABLE:
        return "ok";
    case NP_EGRESS_UNTESTABLE:
        return "untested";
    case NP_EGRESS_ERROR:
        return "error";
    default:
        return partial ? "PARTLY" : "BLOCKED";
    }
}

static const char *state_colour(int state)
{
    if (state == NP_EGRESS_REACHABLE)
        return np_c_good();
    if (np_egress_state_blocked(state))
        return np_c_bad();
    return np_c_warn();
}

static void print_rule(const np_advice_outbound *c, const np_advice_ob_rule *r)
{
    char ports[128], line[256];
    size_t i;
    int same = 1;

    np_out_wrapf("", "         ", "%s%-8s%s %s %-13s %s%s%s%s",
                 state_colour(r->state), state_label(r->state, r->partial),
                 np_c_reset(), proto_name(r->proto),
                 np_advice_ob_ranges(r, ports, sizeof(ports)),
                 r->essential ? "essential " : "",
                 r->profile != NULL ? r->profile : "(--port)",
                 r->profile != NULL && r->feature != NULL ? ": " : "",
                 r->feature != NULL ? r->feature : "");
    for (i = 1; i < r->count; i++)
        if (c->targets[r->first + i].state != c->targets[r->first].state)
            same = 0;
    if (r->count == 0)
        return;
    if (same)
        np_out_wrap(
            "         ", "           ",
            target_text(&c->rep, &c->targets[r->first], line, sizeof(line)));
    else
        for (i = 0; i < r->count; i++) {
            const np_egress_target *t = &c->targets[r->first + i];
            np_out_wrapf("         ", "           ", "%s %u: %s",
                         proto_name(t->proto), (unsigned)t->port,
                         target_text(&c->rep, t, line, sizeof(line)));
        }
    if (r->sampled)
        np_out_wrapf("         ", "         ", "%s%s%s", np_c_dim(),
                     sample_text(c, r, line, sizeof(line)), np_c_reset());
    if (r->note != NULL)
        np_out_wrapf("         ", "         ", "%snote: %s%s", np_c_dim(),
                     r->note, np_c_reset());
}

/* The first lines: what was tested against what, and how long it took. */
static void print_head(const struct outbound_report *r)
{
    const np_advice_outbound *c = r->ob;
    const np_egress_report *rep = &c->rep;
    const np_egress_config *cfg = &r->cfg;
    char a[NP_ADDRSTRLEN], head[512], stun[256] = "", line[512];
    size_t i, n = 0;
    int refl = np_addr_is_set(&cfg->reflector);

    for (i = 0; i < cfg->n_stun && n < sizeof(stun); i++) {
        int k = snprintf(stun + n, sizeof(stun) - n, "%s%s",
                         i == 0 ? "; STUN " : ", ",
                         np_addr_str(&cfg->stun[i], a, sizeof(a)));
        if (k < 0)
            break;
        n += (size_t)k;
    }
    snprintf(head, sizeof(head), "%zu rule%s, %zu test%s%s%s%s%s%s%s",
             c->n_rules, c->n_rules == 1 ? "" : "s", c->n_targets,
             c->n_targets == 1 ? "" : "s", refl ? "; TCP reflector " : "",
             refl ? r->reflector_text : "", refl ? " (" : "",
             refl ? np_addr_ip_str(&cfg->reflector, a, sizeof(a)) : "",
             refl ? ")" : "", stun);
    np_out_wrapf(
        "", "  ", "%sOutbound ports%s: %s%s", np_c_bold(), np_c_reset(), head,
        cfg->stun_all_ports && cfg->n_stun > 0 ? " (all UDP ports)" : "");
    if (rep->rtt_ms > 0)
        np_out_wrapf("", "",
                     "Round trip %.1f ms (%s); each test waited %.0f "
                     "ms; took %.0f ms, %u at most in flight.",
                     rep->rtt_ms,
                     rep->rtt_proto == NP_EGRESS_TCP ? "TCP" : "STUN",
                     rep->wait_ms, rep->elapsed_ms, rep->max_parallel);
    else
        np_out_wrapf("", "",
                     "No round trip measured; each test waited %.0f "
                     "ms; took %.0f ms.",
                     rep->wait_ms, rep->elapsed_ms);
    if (rep->late > 0)
        np_out_wrapf("", "",
                     "Loss on the path: %u answer%s came only to a "
                     "re-sent request%s.",
                     rep->late, rep->late == 1 ? "" : "s",
                     rep->confirm_pass ? "; the silent ports were tested a "
                                         "second time"
                                       : "");
    if (rep->calib_tcp.state != NP_EGRESS_UNTESTABLE)
        printf("Reflector check: tcp %u %s\n", (unsigned)rep->calib_tcp.port,
               target_text(rep, &rep->calib_tcp, line, sizeof(line)));
    if (rep->calib_udp.state != NP_EGRESS_UNTESTABLE)
        printf("STUN check: udp %u %s\n", (unsigned)rep->calib_udp.port,
               target_text(rep, &rep->calib_udp, line, sizeof(line)));
    printf("\n");
}

void outbound_print(const struct outbound_report *r)
{
    const np_advice_outbound *c = r->ob;
    size_t i;

    if (c == NULL || !c->ran)
        return;
    print_head(r);
    for (i = 0; i < c->n_rules; i++)
        print_rule(c, &c->rules[i]);

    printf("\n%sWhat to do%s\n", np_c_bold(), np_c_reset());
    np_out_wrap("  ", "  ", np_egress_overall_text(c->overall));
    if (c->overall == NP_EGRESS_NOTHING_REACHABLE)
        return;
    for (i = 0; i < c->n_lines; i++) {
        const np_advice_ob_line *l = &c->lines[i];
        np_out_wrapf("  - ", "    ", "%s %s %s (%s): %s",
                     l->proto == NP_EGRESS_TCP ? "TCP" : "UDP", l->ports,
                     np_egress_state_name(l->state), l->features, l->advice);
    }
    if (c->n_lines == 0)
        printf("  Nothing to change for the outbound side.\n");
}

/* ---- JSON output ------------------------------------------------------- */

static cJSON *json_addr(const np_addr *a)
{
    char buf[NP_ADDRSTRLEN];

    if (!np_addr_is_set(a))
        return cJSON_CreateNull();
    return cJSON_CreateString(np_addr_str(a, buf, sizeof(buf)));
}

static cJSON *json_target(const np_egress_target *t)
{
    cJSON *o = cJSON_CreateObject(), *icmp;
    const char *en = errno_name(t->sys_errno);
    char ip[NP_ADDRSTRLEN];

    cJSON_AddStringToObject(o, "protocol", proto_name(t->proto));
    cJSON_AddNumberToObject(o, "port", t->port);
    cJSON_AddStringToObject(o, "state", np_egress_state_name(t->state));
    cJSON_AddItemToObject(o, "destination", json_addr(&t->dest));
    if (en != NULL)
        cJSON_AddStringToObject(o, "errno", en);
    else
        cJSON_AddNullToObject(o, "errno");
    if (t->icmp_type >= 0) {
        icmp = cJSON_AddObjectToObject(o, "icmp");
        cJSON_AddNumberToObject(icmp, "type", t->icmp_type);
        cJSON_AddNumberToObject(icmp, "code", t->icmp_code);
        cJSON_AddStringToObject(
            icmp, "text",
            np_egress_icmp_text(np_addr_family(&t->icmp_from) == AF_INET6,
                                t->icmp_type, t->icmp_code));
        if (np_addr_is_set(&t->icmp_from))
            cJSON_AddStringToObject(
                icmp, "from", np_addr_ip_str(&t->icmp_from, ip, sizeof(ip)));
        else
            cJSON_AddNullToObject(icmp, "from");
    } else {
        cJSON_AddNullToObject(o, "icmp");
    }
    cJSON_AddNumberToObject(o, "attempts", t->attempts);
    if (t->rtt_ms > 0)
        cJSON_AddNumberToObject(o, "rtt_ms", t->rtt_ms);
    else
        cJSON_AddNullToObject(o, "rtt_ms");
    return o;
}

static void json_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *json_rule(const np_advice_outbound *c, const np_advice_ob_rule *r)
{
    cJSON *o = cJSON_CreateObject(), *tested;
    char buf[512];
    size_t j;

    json_str_or_null(o, "profile", r->profile);
    cJSON_AddStringToObject(o, "protocol", proto_name(r->proto));
    cJSON_AddStringToObject(o, "ports",
                            np_advice_ob_ranges(r, buf, sizeof(buf)));
    cJSON_AddBoolToObject(o, "essential", r->essential);
    json_str_or_null(o, "feature", r->feature);
    json_str_or_null(o, "note", r->note);
    cJSON_AddStringToObject(o, "state", np_egress_state_name(r->state));
    cJSON_AddBoolToObject(o, "blocked", np_egress_state_blocked(r->state));
    cJSON_AddBoolToObject(o, "partial", r->partial);
    cJSON_AddBoolToObject(o, "sampled", r->sampled);
    cJSON_AddNumberToObject(o, "port_count", r->total_ports);
    tested = cJSON_AddArrayToObject(o, "tested");
    for (j = 0; j < r->count; j++)
        cJSON_AddItemToArray(tested, json_target(&c->targets[r->first + j]));
    return o;
}

cJSON *outbound_json(const struct outbound_report *r)
{
    const np_advice_outbound *c = r->ob;
    const np_egress_report *rep;
    cJSON *root, *arr, *o, *sum, *adv;
    size_t i;
    int state;

    if (c == NULL || !c->ran)
        return cJSON_CreateNull();
    rep = &c->rep;
    root = cJSON_CreateObject();
    o = cJSON_AddObjectToObject(root, "reflector");
    json_str_or_null(o, "host",
                     np_addr_is_set(&r->cfg.reflector) ? r->reflector_text
                                                       : NULL);
    cJSON_AddItemToObject(o, "address", json_addr(&rep->calib_tcp.dest));
    cJSON_AddNumberToObject(o, "open_port", r->cfg.open_port);
    cJSON_AddStringToObject(o, "state",
                            np_egress_state_name(rep->calib_tcp.state));
    arr = cJSON_AddArrayToObject(root, "stun");
    for (i = 0; i < r->cfg.n_stun; i++)
        cJSON_AddItemToArray(arr, json_addr(&r->cfg.stun[i]));
    cJSON_AddBoolToObject(root, "stun_all_ports", r->cfg.stun_all_ports);
    cJSON_AddStringToObject(root, "stun_state",
                            np_egress_state_name(rep->calib_udp.state));
    if (rep->rtt_ms > 0) {
        cJSON_AddNumberToObject(root, "rtt_ms", rep->rtt_ms);
        cJSON_AddStringToObject(root, "rtt_from", proto_name(rep->rtt_proto));
    } else {
        cJSON_AddNullToObject(root, "rtt_ms");
        cJSON_AddNullToObject(root, "rtt_from");
    }
    cJSON_AddNumberToObject(root, "wait_ms", rep->wait_ms);
    cJSON_AddNumberToObject(root, "elapsed_ms", rep->elapsed_ms);
    cJSON_AddNumberToObject(root, "tests", rep->tests);
    cJSON_AddNumberToObject(root, "retransmits", rep->retransmits);
    cJSON_AddNumberToObject(root, "max_parallel", rep->max_parallel);
    cJSON_AddNumberToObject(root, "late_answers", rep->late);
    cJSON_AddBoolToObject(root, "confirm_pass", rep->confirm_pass);

    arr = cJSON_AddArrayToObject(root, "rules");
    for (i = 0; i < c->n_rules; i++)
        cJSON_AddItemToArray(arr, json_rule(c, &c->rules[i]));
    sum = cJSON_AddObjectToObject(root, "summary");
    for (state = NP_EGRESS_REACHABLE; state < NP_EGRESS_STATE_MAX; state++)
        cJSON_AddNumberToObject(sum, np_egress_state_name(state),
                                c->counts[state]);
    cJSON_AddStringToObject(root, "overall",
                            np_advice_ob_overall_name(c->overall));
    adv = cJSON_AddArrayToObject(root, "advice");
    cJSON_AddItemToArray(
        adv, cJSON_CreateString(np_egress_overall_text(c->overall)));
    for (i = 0; i < c->n_lines; i++) {
        const np_advice_ob_line *l = &c->lines[i];
        char line[1400];
        (void)snprintf(line, sizeof(line), "%s %s %s (%s): %s",
                       l->proto == NP_EGRESS_TCP ? "TCP" : "UDP", l->ports,
                       np_egress_state_name(l->state), l->features, l->advice);
        cJSON_AddItemToArray(adv, cJSON_CreateString(line));
    }
    cJSON_AddNumberToObject(root, "exit_code", r->exit_code);
    return root;
}

/* ---- the check ------------------------------------------------------------
 */

void outbound_opts_init(struct outbound_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->platform = "pc";
    np_egress_config_init(&o->cfg);
}

/* Outbound rules of the profiles, resolved for the platform. The catalog
 * and the resolution stay in r (the rules point into them). Returns -1 to
 * go on, else an exit code. */
static int add_profile_rules(const char *cmd, const struct outbound_opts *o,
                             struct outbound_report *r)
{
    np_diags diags;
    np_error err;
    unsigned plat = 0;
    size_t i;
    int rc;

    np_error_clear(&err);
    if (np_platform_parse(o->platform, &plat) != NP_OK) {
        np_out_errorf(cmd,
                      "--platform %s: expected xbox, playstation, switch or "
                      "pc",
                      o->platform);
        return NP_EXIT_USAGE;
    }
    r->cat = np_catalog_new();
    if (r->cat == NULL) {
        np_out_errorf(cmd, "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    /* Built-in catalog, the user's directory, then --profiles DIR. Invalid
     * files are skipped and named; the valid ones are used. */
    np_diags_init(&diags);
    rc = np_catalog_load_default(r->cat, o->profiles_dir, &diags, &err);
    for (i = 0; i < diags.count; i++) {
        char line[1024];
        if (diags.items[i].severity == NP_DIAG_ERROR)
            np_out_errorf(cmd, "skipped: %s",
                          np_diag_format(&diags.items[i], line, sizeof(line)));
    }
    np_diags_free(&diags);
    if (rc != NP_OK && rc != NP_EINVALID) {
        np_out_error(cmd, &err);
        return NP_EXIT_USAGE;
    }
    if (np_resolve(r->cat, o->ids, o->n_ids, plat, &r->res, &err) != NP_OK ||
        np_advice_outbound_add_resolved(r->ob, r->res, &err) != NP_OK) {
        np_out_error(cmd, &err);
        return NP_EXIT_USAGE;
    }
    return -1;
}

static int resolve_reflector(const char *cmd, struct outbound_report *r,
                             const char *text)
{
    np_error err;

    r->reflector_text = text;
    if (strcmp(text, "none") == 0)
        return NP_EXIT_OK;
    np_progress("resolving the reflector");
    if (np_addr_resolve(&r->cfg.reflector, text, DEFAULT_OPEN_PORT, AF_UNSPEC,
                        &err) != NP_OK) {
        np_out_error(cmd, &err);
        memset(&r->cfg.reflector, 0, sizeof(r->cfg.reflector));
        return err.code == NP_EPARSE ? NP_EXIT_USAGE : NP_EXIT_NETWORK;
    }
    r->cfg.open_port = np_addr_port(&r->cfg.reflector);
    return NP_EXIT_OK;
}

/* Contact only what the rules need: the reflector for TCP rules, the STUN
 * servers for UDP rules (or what the user named explicitly). Returns -1 to
 * go on, else an exit code. */
static int resolve_servers(const char *cmd, const struct outbound_opts *o,
                           struct outbound_report *r)
{
    const char *reflector = o->reflector ? o->reflector : default_reflector;
    const char *stun[MAX_CLI_STUN];
    size_t i, n_stun = o->n_stun;
    int has_tcp = 0, has_udp = 0, rc = NP_EXIT_OK, stun_failed = 0;
    np_error err;

    for (i = 0; i < r->ob->n_rules; i++) {
        if (r->ob->rules[i].proto == NP_EGRESS_TCP)
            has_tcp = 1;
        else
            has_udp = 1;
    }
    if (has_tcp || o->reflector != NULL) {
        rc = resolve_reflector(cmd, r, reflector);
        if (rc == NP_EXIT_USAGE)
            return rc;
    } else {
        r->reflector_text = "none";
    }
    for (i = 0; i < n_stun; i++)
        stun[i] = o->stun[i];
    if (n_stun == 0 && has_udp)
        stun[n_stun++] = np_probe_default_servers[0];
    r->cfg.n_stun = 0;
    for (i = 0; i < n_stun; i++) {
        if (strcmp(stun[i], "none") == 0)
            continue;
        np_progress("resolving STUN servers");
        if (np_addr_resolve(&r->cfg.stun[r->cfg.n_stun], stun[i],
                            NP_STUN_DEFAULT_PORT, AF_UNSPEC, &err) != NP_OK) {
            np_out_error(cmd, &err);
            if (err.code == NP_EPARSE)
                return NP_EXIT_USAGE;
            stun_failed = 1;
            continue;
        }
        r->cfg.n_stun++;
    }
    if (!np_addr_is_set(&r->cfg.reflector) && r->cfg.n_stun == 0 &&
        (rc == NP_EXIT_NETWORK || stun_failed)) {
        np_out_errorf(cmd, "neither the reflector nor a STUN server could be "
                           "resolved: no network, or no DNS");
        return NP_EXIT_NETWORK;
    }
    return -1;
}

int outbound_check(const char *cmd, const struct outbound_opts *o,
                   struct outbound_report *r)
{
    np_error err;
    size_t i;
    int rc;

    memset(r, 0, sizeof(*r));
    np_error_clear(&err);
    r->cfg = o->cfg;
    r->ob = np_advice_outbound_new(o->sample);
    if (r->ob == NULL) {
        np_out_errorf(cmd, "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    if (o->n_ids > 0 && (rc = add_profile_rules(cmd, o, r)) >= 0)
        return rc;
    for (i = 0; i < o->n_extra; i++)
        if (np_advice_outbound_add(r->ob, &o->extra[i], &err) != NP_OK) {
            np_out_error(cmd, &err);
            return NP_EXIT_USAGE;
        }
    if (r->ob->n_rules == 0) {
        np_out_errorf(cmd, "nothing to test: name a profile or give --port "
                           "(see --help)");
        return NP_EXIT_USAGE;
    }
    if ((rc = resolve_servers(cmd, o, r)) >= 0)
        return rc;
    r->cfg.progress = show_progress;
    rc = np_advice_outbound_run(r->ob, &r->cfg, &err);
    np_progress_done();
    if (rc != NP_OK) {
        np_out_error(cmd, &err);
        return rc == NP_EINVAL ? NP_EXIT_USAGE : NP_EXIT_NETWORK;
    }
    r->exit_code = r->ob->overall == NP_EGRESS_NOTHING_REACHABLE
                       ? NP_EXIT_NETWORK
                   : r->ob->essential_blocked ? NP_EXIT_PROBLEM
                                              : NP_EXIT_OK;
    return r->exit_code;
}

void outbound_report_free(struct outbound_report *r)
{
    np_advice_outbound_free(r->ob);
    np_resolved_free(r->res);
    np_catalog_free(r->cat);
    memset(r, 0, sizeof(*r));
}

/* ---- the command ----------------------------------------------------------
 */

enum {
    O_OUTBOUND = 256,
    O_PORT,
    O_PLATFORM,
    O_PROFILES,
    O_REFLECTOR,
    O_STUN,
    O_STUN_ALL,
    O_TIMEOUT,
    O_MINWAIT,
    O_PARALLEL,
    O_SAMPLE,
    O_SOURCE
};

/* One numeric option into o; returns -1 to go on, else an exit code. */
static int parse_number_opt(int opt, const char *arg, struct outbound_opts *o)
{
    long v;

    switch (opt) {
    case O_TIMEOUT:
    case O_MINWAIT:
        if (parse_num(arg, 10, 60000, &v) != 0) {
            np_out_errorf(CMD, "%s %s: expected milliseconds, 10-60000",
                          opt == O_TIMEOUT ? "--timeout" : "--min-wait", arg);
            return NP_EXIT_USAGE;
        }
        if (opt == O_TIMEOUT)
            o->cfg.wait_ceil_ms = (unsigned)v;
        else
            o->cfg.wait_floor_ms = (unsigned)v;
        return -1;
    case O_PARALLEL:
        if (parse_num(arg, 1, 512, &v) != 0) {
            np_out_errorf(CMD, "--parallel %s: expected 1-512", arg);
            return NP_EXIT_USAGE;
        }
        o->cfg.max_inflight = (unsigned)v;
        return -1;
    default: /* O_SAMPLE */
        if (parse_num(arg, 2, MAX_SAMPLE, &v) != 0) {
            np_out_errorf(CMD, "--sample %s: expected 2-%d", arg, MAX_SAMPLE);
            return NP_EXIT_USAGE;
        }
        o->sample = (size_t)v;
        return -1;
    }
}

/* Parse argv into o (--port rules into rules[]); returns -1 to go on, else
 * an exit code. A fresh getopt scan: main() dispatches each command once. */
static int parse_args(int argc, char **argv, struct outbound_opts *o,
                      np_advice_ob_rule *rules, int *json)
{
    static const struct option opts[] = {
        {"outbound", no_argument, NULL, O_OUTBOUND},
        {"port", required_argument, NULL, O_PORT},
        {"platform", required_argument, NULL, O_PLATFORM},
        {"profiles", required_argument, NULL, O_PROFILES},
        {"reflector", required_argument, NULL, O_REFLECTOR},
        {"stun", required_argument, NULL, O_STUN},
        {"stun-all-ports", no_argument, NULL, O_STUN_ALL},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"min-wait", required_argument, NULL, O_MINWAIT},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"source", required_argument, NULL, O_SOURCE},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    np_error err;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        switch (opt) {
        case O_OUTBOUND:
            break;
        case O_PORT:
            if (o->n_extra == MAX_RULES ||
                parse_port_spec(optarg, &rules[o->n_extra]) != 0) {
                np_out_errorf(CMD,
                              "--port %s: expected tcp:PORT or udp:LO-HI "
                              "(ports 1-65535, comma-separated)",
                              optarg);
                return NP_EXIT_USAGE;
            }
            o->n_extra++;
            break;
        case O_PLATFORM:
            o->platform = optarg;
            break;
        case O_PROFILES:
            o->profiles_dir = optarg;
            break;
        case O_REFLECTOR:
            o->reflector = optarg;
            break;
        case O_STUN:
            if (o->n_stun == MAX_CLI_STUN) {
                np_out_errorf(CMD, "at most %d --stun servers", MAX_CLI_STUN);
                return NP_EXIT_USAGE;
            }
            o->stun[o->n_stun++] = optarg;
            break;
        case O_STUN_ALL:
            o->cfg.stun_all_ports = 1;
            break;
        case O_TIMEOUT:
        case O_MINWAIT:
        case O_PARALLEL:
        case O_SAMPLE:
            if ((rc = parse_number_opt(opt, optarg, o)) >= 0)
                return rc;
            break;
        case O_SOURCE:
            if (np_addr_parse(&o->cfg.bind, optarg, 0, &err) != NP_OK) {
                np_out_error(CMD, &err);
                return NP_EXIT_USAGE;
            }
            break;
        case 'j':
            *json = 1;
            break;
        case 'h':
            usage(stdout);
            return NP_EXIT_OK;
        default:
            usage(stderr);
            return NP_EXIT_USAGE;
        }
    }
    return -1;
}

int outbound_verify_mode(int argc, char **argv)
{
    static np_advice_ob_rule rules[MAX_RULES]; /* large; once per process */
    struct outbound_opts o;
    struct outbound_report r;
    int json = 0, rc;

    outbound_opts_init(&o);
    o.extra = rules;
    if ((rc = parse_args(argc, argv, &o, rules, &json)) >= 0)
        return rc;
    if (o.cfg.wait_floor_ms > o.cfg.wait_ceil_ms) {
        np_out_errorf(CMD, "--min-wait %u is above --timeout %u",
                      o.cfg.wait_floor_ms, o.cfg.wait_ceil_ms);
        return NP_EXIT_USAGE;
    }
    /* Positional arguments are profile ids ("verify" itself is argv[0]). */
    for (; optind < argc; optind++) {
        if (o.n_ids == OUTBOUND_MAX_IDS) {
            np_out_errorf(CMD, "at most %d profiles", OUTBOUND_MAX_IDS);
            return NP_EXIT_USAGE;
        }
        o.ids[o.n_ids++] = argv[optind];
    }
    rc = outbound_check(CMD, &o, &r);
    if (r.ob != NULL && r.ob->ran) {
        if (json) {
            cJSON *j = outbound_json(&r);
            char *text = cJSON_Print(j);
            if (text != NULL)
                printf("%s\n", text);
            cJSON_free(text);
            cJSON_Delete(j);
        } else {
            outbound_print(&r);
        }
    }
    outbound_report_free(&r);
    return rc;
}
