/*
 * natpilot verify --outbound: which outbound ports of the games' profiles
 * does the network let out, and what do the blocked ones break?
 *
 * The tests themselves are libnatpilot's egress module; this file turns
 * profile rules and --port options into targets, and the results into words.
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

#define CMD "verify --outbound"

/*
 * portquiz.net answers TCP on every port (documented on its own page), so a
 * handshake on port N means the network lets TCP N out. Port 443 is the
 * calibration port: almost every network lets it out.
 */
static const char default_reflector[] = "portquiz.net";
#define DEFAULT_OPEN_PORT 443
/* The STUN server diagnose uses; it listens on UDP 3478 only. */
static const char default_stun[] = "stun.stunprotocol.org:3478";

#define MAX_RANGES   32 /* per entry; longer rules are split */
#define MAX_SAMPLE   16
#define MAX_RULES    256
#define MAX_CLI_STUN NP_EGRESS_MAX_STUN

struct orule {
    int proto; /* enum np_egress_proto */
    uint16_t lo[MAX_RANGES], hi[MAX_RANGES];
    size_t n_ranges;
    const char *profile; /* NULL for --port */
    const char *feature, *note;
    int essential;
    int broad;
    size_t first, count;  /* its targets */
    uint32_t total_ports; /* ports the rule covers */
    int sampled;          /* fewer targets than ports */
    int state;            /* the rule's verdict (enum np_egress_state) */
    int partial;          /* some ports reachable, some blocked */
};

struct ctx {
    struct orule rules[MAX_RULES];
    size_t n_rules;
    np_egress_target *targets;
    size_t n_targets;
    np_egress_config cfg;
    np_egress_report rep;
    const char *reflector_text;
    const char *stun_text[MAX_CLI_STUN];
    size_t n_stun_text;
    size_t sample;
};

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
        default_reflector, DEFAULT_OPEN_PORT, default_stun,
        NP_EGRESS_SAMPLE_DEFAULT);
}

static void show_progress(void *ctx, const char *step)
{
    (void)ctx;
    np_progress(step);
}

static int parse_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "tcp:N", "udp:N-M", "tcp:80,443,1000-1010". */
static int parse_port_spec(const char *spec, struct orule *r)
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

/* Targets for every rule: each range sampled to at most c->sample ports. */
static int build_targets(struct ctx *c)
{
    size_t i, j, k, cap = 0;

    for (i = 0; i < c->n_rules; i++)
        cap += c->rules[i].n_ranges * c->sample;
    c->targets = calloc(cap > 0 ? cap : 1, sizeof(*c->targets));
    if (c->targets == NULL)
        return -1;
    for (i = 0; i < c->n_rules; i++) {
        struct orule *r = &c->rules[i];
        r->first = c->n_targets;
        for (j = 0; j < r->n_ranges; j++) {
            uint16_t s[MAX_SAMPLE];
            size_t n = np_egress_sample(r->lo[j], r->hi[j], s, c->sample);
            uint32_t span = (uint32_t)r->hi[j] - r->lo[j] + 1;
            r->total_ports += span;
            if (n < span)
                r->sampled = 1;
            for (k = 0; k < n; k++) {
                np_egress_target *t = &c->targets[c->n_targets++];
                t->proto = r->proto;
                t->port = s[k];
            }
        }
        r->count = c->n_targets - r->first;
    }
    return 0;
}

/*
 * A rule's verdict: the most frequent blocked state among its ports when any
 * is blocked (partial when others got through), else error, else reachable,
 * else not testable.
 */
static void rule_verdict(struct ctx *c, struct orule *r)
{
    unsigned count[NP_EGRESS_STATE_MAX] = {0};
    size_t i;
    int best = -1, s;

    for (i = 0; i < r->count; i++) {
        s = c->targets[r->first + i].state;
        if (s >= 0 && s < NP_EGRESS_STATE_MAX)
            count[s]++;
    }
    for (s = 0; s < NP_EGRESS_STATE_MAX; s++)
        if (np_egress_state_blocked(s) && count[s] > 0 &&
            (best < 0 || count[s] > count[best]))
            best = s;
    r->partial = 0;
    if (best >= 0) {
        r->state = best;
        r->partial = count[NP_EGRESS_REACHABLE] > 0;
    } else if (count[NP_EGRESS_ERROR] > 0)
        r->state = NP_EGRESS_ERROR;
    else if (count[NP_EGRESS_REACHABLE] > 0)
        r->state = NP_EGRESS_REACHABLE;
    else
        r->state = NP_EGRESS_UNTESTABLE;
}

static const char *proto_name(int proto)
{
    return proto == NP_EGRESS_TCP ? "tcp" : "udp";
}

/* "3074,3478-3480" */
static const char *ranges_text(const struct orule *r, char *buf, size_t size)
{
    size_t i, used = 0;

    buf[0] = '\0';
    for (i = 0; i < r->n_ranges && used < size; i++) {
        int n;
        if (r->lo[i] == r->hi[i])
            n = snprintf(buf + used, size - used, "%s%u", i ? "," : "",
                         (unsigned)r->lo[i]);
        else
            n = snprintf(buf + used, size - used, "%s%u-%u", i ? "," : "",
                         (unsigned)r->lo[i], (unsigned)r->hi[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* "tested 27015, 27019, 27022, 27026, 27030 of 16 ports" */
static const char *sample_text(const struct ctx *c, const struct orule *r,
                               char *buf, size_t size)
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
static const char *target_text(const struct ctx *c, const np_egress_target *t,
                               char *buf, size_t size)
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
                       c->rep.wait_ms, t->attempts,
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

static void print_rule(const struct ctx *c, const struct orule *r)
{
    char ports[128], line[256];
    size_t i;
    int same = 1;

    np_out_wrapf(
        "", "         ", "%s%-8s%s %s %-13s %s%s%s%s", state_colour(r->state),
        state_label(r->state, r->partial), np_c_reset(), proto_name(r->proto),
        ranges_text(r, ports, sizeof(ports)), r->essential ? "essential " : "",
        r->profile != NULL ? r->profile : "(--port)",
        r->profile != NULL && r->feature != NULL ? ": " : "",
        r->feature != NULL ? r->feature : "");
    for (i = 1; i < r->count; i++)
        if (c->targets[r->first + i].state != c->targets[r->first].state)
            same = 0;
    if (r->count == 0)
        return;
    if (same)
        np_out_wrap("         ", "           ",
                    target_text(c, &c->targets[r->first], line, sizeof(line)));
    else
        for (i = 0; i < r->count; i++) {
            const np_egress_target *t = &c->targets[r->first + i];
            np_out_wrapf("         ", "           ", "%s %u: %s",
                         proto_name(t->proto), (unsigned)t->port,
                         target_text(c, t, line, sizeof(line)));
        }
    if (r->sampled)
        np_out_wrapf("         ", "         ", "%s%s%s", np_c_dim(),
                     sample_text(c, r, line, sizeof(line)), np_c_reset());
    if (r->note != NULL)
        np_out_wrapf("         ", "         ", "%snote: %s%s", np_c_dim(),
                     r->note, np_c_reset());
}

/* The ports of all targets with (proto, state), "27015, 27020" into buf. */
static int ports_with(const struct ctx *c, int proto, int state, char *buf,
                      size_t size)
{
    size_t i, j, used = 0;
    int found = 0;

    buf[0] = '\0';
    for (i = 0; i < c->n_targets; i++) {
        const np_egress_target *t = &c->targets[i];
        int dup = 0, n;
        if (t->proto != proto || t->state != state)
            continue;
        for (j = 0; j < i && !dup; j++)
            dup = c->targets[j].proto == proto && c->targets[j].port == t->port;
        if (dup || used >= size)
            continue;
        n = snprintf(buf + used, size - used, "%s%u", found ? ", " : "",
                     (unsigned)t->port);
        if (n > 0)
            used += (size_t)n;
        found = 1;
    }
    return found;
}

/* Features (rule feature or profile) hit by (proto, state). */
static void features_with(const struct ctx *c, int proto, int state, char *buf,
                          size_t size)
{
    size_t i, j, used = 0;
    int first = 1;

    buf[0] = '\0';
    for (i = 0; i < c->n_rules; i++) {
        const struct orule *r = &c->rules[i];
        int hit = 0, n;
        if (r->proto != proto)
            continue;
        for (j = 0; j < r->count && !hit; j++)
            hit = c->targets[r->first + j].state == state;
        if (!hit || used >= size)
            continue;
        if (r->profile == NULL && r->feature == NULL) {
            char rt[128];
            n = snprintf(buf + used, size - used, "%s--port %s:%s",
                         first ? "" : "; ", proto_name(r->proto),
                         ranges_text(r, rt, sizeof(rt)));
        } else
            n = snprintf(buf + used, size - used, "%s%s%s%s%s",
                         first ? "" : "; ", r->profile ? r->profile : "",
                         r->profile && r->feature ? " " : "",
                         r->feature ? r->feature : "",
                         r->essential ? " (essential)" : "");
        if (n > 0)
            used += (size_t)n;
        first = 0;
    }
}

static void print_human(const struct ctx *c, int overall)
{
    char a[NP_ADDRSTRLEN], ports[512], feats[512];
    const np_egress_report *rep = &c->rep;
    size_t i;
    int proto, state, any = 0;

    {
        char head[512], stun[256] = "";
        size_t n = 0;

        for (i = 0; i < c->cfg.n_stun && n < sizeof(stun); i++) {
            int k = snprintf(stun + n, sizeof(stun) - n, "%s%s",
                             i == 0 ? "; STUN " : ", ",
                             np_addr_str(&c->cfg.stun[i], a, sizeof(a)));
            if (k < 0)
                break;
            n += (size_t)k;
        }
        snprintf(head, sizeof(head), "%zu rule%s, %zu test%s%s%s%s%s%s%s",
                 c->n_rules, c->n_rules == 1 ? "" : "s", c->n_targets,
                 c->n_targets == 1 ? "" : "s",
                 np_addr_is_set(&c->cfg.reflector) ? "; TCP reflector " : "",
                 np_addr_is_set(&c->cfg.reflector) ? c->reflector_text : "",
                 np_addr_is_set(&c->cfg.reflector) ? " (" : "",
                 np_addr_is_set(&c->cfg.reflector)
                     ? np_addr_ip_str(&c->cfg.reflector, a, sizeof(a))
                     : "",
                 np_addr_is_set(&c->cfg.reflector) ? ")" : "", stun);
        np_out_wrapf("", "  ", "%sOutbound ports%s: %s%s", np_c_bold(),
                     np_c_reset(), head,
                     c->cfg.stun_all_ports && c->cfg.n_stun > 0
                         ? " (all UDP ports)"
                         : "");
    }
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
               target_text(c, &rep->calib_tcp, feats, sizeof(feats)));
    if (rep->calib_udp.state != NP_EGRESS_UNTESTABLE)
        printf("STUN check: udp %u %s\n", (unsigned)rep->calib_udp.port,
               target_text(c, &rep->calib_udp, feats, sizeof(feats)));
    printf("\n");

    for (i = 0; i < c->n_rules; i++)
        print_rule(c, &c->rules[i]);

    printf("\n%sWhat to do%s\n", np_c_bold(), np_c_reset());
    np_out_wrap("  ", "  ", np_egress_overall_text(overall));
    if (overall == NP_EGRESS_NOTHING_REACHABLE)
        return;
    for (state = NP_EGRESS_DROPPED; state < NP_EGRESS_STATE_MAX; state++) {
        if (!np_egress_state_blocked(state) && state != NP_EGRESS_UNTESTABLE)
            continue;
        for (proto = NP_EGRESS_UDP; proto <= NP_EGRESS_TCP; proto++) {
            if (!ports_with(c, proto, state, ports, sizeof(ports)))
                continue;
            features_with(c, proto, state, feats, sizeof(feats));
            np_out_wrapf("  - ", "    ", "%s %s %s (%s): %s",
                         proto == NP_EGRESS_TCP ? "TCP" : "UDP", ports,
                         np_egress_state_name(state), feats,
                         np_egress_advice(proto, state));
            any = 1;
        }
    }
    if (!any)
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

static void print_json(const struct ctx *c, int overall, int exit_code)
{
    cJSON *root = cJSON_CreateObject(), *arr, *o, *tested, *sum, *adv;
    const np_egress_report *rep = &c->rep;
    char buf[512], feats[512];
    char *text;
    size_t i, j;
    int proto, state;
    unsigned counts[NP_EGRESS_STATE_MAX] = {0};

    o = cJSON_AddObjectToObject(root, "reflector");
    json_str_or_null(o, "host",
                     np_addr_is_set(&c->cfg.reflector) ? c->reflector_text
                                                       : NULL);
    cJSON_AddItemToObject(o, "address", json_addr(&rep->calib_tcp.dest));
    cJSON_AddNumberToObject(o, "open_port", c->cfg.open_port);
    cJSON_AddStringToObject(o, "state",
                            np_egress_state_name(rep->calib_tcp.state));
    arr = cJSON_AddArrayToObject(root, "stun");
    for (i = 0; i < c->cfg.n_stun; i++)
        cJSON_AddItemToArray(arr, json_addr(&c->cfg.stun[i]));
    cJSON_AddBoolToObject(root, "stun_all_ports", c->cfg.stun_all_ports);
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
    for (i = 0; i < c->n_rules; i++) {
        const struct orule *r = &c->rules[i];
        o = cJSON_CreateObject();
        json_str_or_null(o, "profile", r->profile);
        cJSON_AddStringToObject(o, "protocol", proto_name(r->proto));
        cJSON_AddStringToObject(o, "ports", ranges_text(r, buf, sizeof(buf)));
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
            cJSON_AddItemToArray(tested,
                                 json_target(&c->targets[r->first + j]));
        cJSON_AddItemToArray(arr, o);
    }

    for (i = 0; i < c->n_targets; i++) {
        int dup = 0;
        for (j = 0; j < i && !dup; j++)
            dup = c->targets[j].proto == c->targets[i].proto &&
                  c->targets[j].port == c->targets[i].port;
        if (!dup && c->targets[i].state < NP_EGRESS_STATE_MAX)
            counts[c->targets[i].state]++;
    }
    sum = cJSON_AddObjectToObject(root, "summary");
    for (state = NP_EGRESS_REACHABLE; state < NP_EGRESS_STATE_MAX; state++)
        cJSON_AddNumberToObject(sum, np_egress_state_name(state),
                                counts[state]);
    cJSON_AddStringToObject(root, "overall",
                            overall == NP_EGRESS_ALL_REACHABLE ? "all-reachable"
                            : overall == NP_EGRESS_SOME_BLOCKED ? "some-blocked"
                            : overall == NP_EGRESS_NOTHING_REACHABLE
                                ? "nothing-reachable"
                                : "nothing-testable");
    adv = cJSON_AddArrayToObject(root, "advice");
    cJSON_AddItemToArray(adv,
                         cJSON_CreateString(np_egress_overall_text(overall)));
    for (state = NP_EGRESS_DROPPED;
         state < NP_EGRESS_STATE_MAX && overall != NP_EGRESS_NOTHING_REACHABLE;
         state++) {
        if (!np_egress_state_blocked(state) && state != NP_EGRESS_UNTESTABLE)
            continue;
        for (proto = NP_EGRESS_UDP; proto <= NP_EGRESS_TCP; proto++) {
            char line[1400];
            if (!ports_with(c, proto, state, buf, sizeof(buf)))
                continue;
            features_with(c, proto, state, feats, sizeof(feats));
            (void)snprintf(line, sizeof(line), "%s %s %s (%s): %s",
                           proto == NP_EGRESS_TCP ? "TCP" : "UDP", buf,
                           np_egress_state_name(state), feats,
                           np_egress_advice(proto, state));
            cJSON_AddItemToArray(adv, cJSON_CreateString(line));
        }
    }
    cJSON_AddNumberToObject(root, "exit_code", exit_code);

    text = cJSON_Print(root);
    if (text != NULL)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
}

/* ---- profiles ------------------------------------------------------------ */

/* Outbound rules of the profiles, resolved for the platform. The catalog and
 * the resolution stay alive (rules point into them) until the caller frees
 * them. Returns an exit code, NP_EXIT_OK on success. */
static int add_profile_rules(struct ctx *c, char **ids, size_t n_ids,
                             const char *platform, const char *dir,
                             np_catalog **cat_out, np_resolved **res_out)
{
    np_catalog *cat = np_catalog_new();
    np_resolved *res = NULL;
    np_diags diags;
    np_error err;
    unsigned plat = 0;
    size_t i, j;
    int rc;

    np_error_clear(&err);
    np_diags_init(&diags);
    *cat_out = cat;
    if (cat == NULL) {
        np_out_errorf(CMD, "out of memory");
        return NP_EXIT_USAGE;
    }
    if (np_platform_parse(platform, &plat) != NP_OK) {
        np_out_errorf(CMD,
                      "--platform %s: expected xbox, playstation, switch or "
                      "pc",
                      platform);
        return NP_EXIT_USAGE;
    }
    /* Built-in catalog, the user's directory, then --profiles DIR. Invalid
     * files are skipped and named; the valid ones are used. */
    rc = np_catalog_load_default(cat, dir, &diags, &err);
    for (i = 0; i < diags.count; i++) {
        char line[1024];
        if (diags.items[i].severity == NP_DIAG_ERROR)
            np_out_errorf(CMD, "skipped: %s",
                          np_diag_format(&diags.items[i], line, sizeof(line)));
    }
    np_diags_free(&diags);
    if (rc != NP_OK && rc != NP_EINVALID) {
        np_out_error(CMD, &err);
        return NP_EXIT_USAGE;
    }
    rc = np_resolve(cat, (const char *const *)ids, n_ids, plat, &res, &err);
    if (rc != NP_OK) {
        np_out_error(CMD, &err);
        return NP_EXIT_USAGE;
    }
    *res_out = res;
    for (i = 0; i < res->n_outbound; i++) {
        const np_rule *pr = &res->outbound[i];
        size_t done = 0;
        /* A rule listing more ranges than fit one entry becomes several
         * entries with the same feature and note: nothing is dropped. */
        do {
            struct orule *r;
            if (c->n_rules == MAX_RULES) {
                np_out_errorf(CMD, "more than %d outbound rules", MAX_RULES);
                return NP_EXIT_USAGE;
            }
            r = &c->rules[c->n_rules++];
            memset(r, 0, sizeof(*r));
            r->proto =
                pr->protocol == NP_PROTO_TCP ? NP_EGRESS_TCP : NP_EGRESS_UDP;
            for (j = 0; done < pr->n_ports && j < MAX_RANGES; j++, done++) {
                r->lo[j] = pr->ports[done].lo;
                r->hi[j] = pr->ports[done].hi;
            }
            r->n_ranges = j;
            r->profile = pr->profile_id;
            r->feature = pr->feature;
            r->note = pr->note;
            r->essential = pr->essential;
            r->broad = pr->broad;
        } while (done < pr->n_ports);
    }
    return NP_EXIT_OK;
}

/* ---- the command ----------------------------------------------------------
 */

static int resolve_reflector(struct ctx *c, const char *text)
{
    np_error err;

    c->reflector_text = text;
    if (strcmp(text, "none") == 0)
        return NP_EXIT_OK;
    np_progress("resolving the reflector");
    if (np_addr_resolve(&c->cfg.reflector, text, DEFAULT_OPEN_PORT, AF_UNSPEC,
                        &err) != NP_OK) {
        np_out_error(CMD, &err);
        memset(&c->cfg.reflector, 0, sizeof(c->cfg.reflector));
        return err.code == NP_EPARSE ? NP_EXIT_USAGE : NP_EXIT_NETWORK;
    }
    c->cfg.open_port = np_addr_port(&c->cfg.reflector);
    return NP_EXIT_OK;
}

int np_cmd_verify_outbound(int argc, char **argv)
{
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
    static struct ctx c; /* large; one command per process */
    const char *platform = "pc", *profiles_dir = NULL;
    const char *reflector = default_reflector;
    struct orule cli_rules[MAX_RULES];
    size_t n_cli_rules = 0, i;
    int json = 0, opt, rc = NP_EXIT_OK, overall, exit_code, stun_failed = 0;
    int has_tcp = 0, has_udp = 0;
    np_error err;
    long v;
    np_catalog *cat = NULL;
    np_resolved *res = NULL;

    memset(&c, 0, sizeof(c));
    np_egress_config_init(&c.cfg);
    c.sample = NP_EGRESS_SAMPLE_DEFAULT;
    np_error_clear(&err);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        switch (opt) {
        case O_OUTBOUND:
            break;
        case O_PORT:
            if (n_cli_rules == MAX_RULES ||
                parse_port_spec(optarg, &cli_rules[n_cli_rules]) != 0) {
                np_out_errorf(CMD,
                              "--port %s: expected tcp:PORT or udp:LO-HI "
                              "(ports 1-65535, comma-separated)",
                              optarg);
                return NP_EXIT_USAGE;
            }
            n_cli_rules++;
            break;
        case O_PLATFORM:
            platform = optarg;
            break;
        case O_PROFILES:
            profiles_dir = optarg;
            break;
        case O_REFLECTOR:
            reflector = optarg;
            break;
        case O_STUN:
            if (c.n_stun_text == MAX_CLI_STUN) {
                np_out_errorf(CMD, "at most %d --stun servers", MAX_CLI_STUN);
                return NP_EXIT_USAGE;
            }
            c.stun_text[c.n_stun_text++] = optarg;
            break;
        case O_STUN_ALL:
            c.cfg.stun_all_ports = 1;
            break;
        case O_TIMEOUT:
        case O_MINWAIT:
            if (parse_num(optarg, 10, 60000, &v) != 0) {
                np_out_errorf(CMD, "%s %s: expected milliseconds, 10-60000",
                              opt == O_TIMEOUT ? "--timeout" : "--min-wait",
                              optarg);
                return NP_EXIT_USAGE;
            }
            if (opt == O_TIMEOUT)
                c.cfg.wait_ceil_ms = (unsigned)v;
            else
                c.cfg.wait_floor_ms = (unsigned)v;
            break;
        case O_PARALLEL:
            if (parse_num(optarg, 1, 512, &v) != 0) {
                np_out_errorf(CMD, "--parallel %s: expected 1-512", optarg);
                return NP_EXIT_USAGE;
            }
            c.cfg.max_inflight = (unsigned)v;
            break;
        case O_SAMPLE:
            if (parse_num(optarg, 2, MAX_SAMPLE, &v) != 0) {
                np_out_errorf(CMD, "--sample %s: expected 2-%d", optarg,
                              MAX_SAMPLE);
                return NP_EXIT_USAGE;
            }
            c.sample = (size_t)v;
            break;
        case O_SOURCE:
            if (np_addr_parse(&c.cfg.bind, optarg, 0, &err) != NP_OK) {
                np_out_error(CMD, &err);
                return NP_EXIT_USAGE;
            }
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return NP_EXIT_OK;
        default:
            usage(stderr);
            return NP_EXIT_USAGE;
        }
    }
    if (c.cfg.wait_floor_ms > c.cfg.wait_ceil_ms) {
        np_out_errorf(CMD, "--min-wait %u is above --timeout %u",
                      c.cfg.wait_floor_ms, c.cfg.wait_ceil_ms);
        return NP_EXIT_USAGE;
    }
    /* Positional arguments are profile ids ("verify" itself is argv[0]). */
    if (optind < argc) {
        rc = add_profile_rules(&c, argv + optind, (size_t)(argc - optind),
                               platform, profiles_dir, &cat, &res);
        if (rc != NP_EXIT_OK)
            goto out;
    }
    for (i = 0; i < n_cli_rules; i++) {
        if (c.n_rules == MAX_RULES) {
            np_out_errorf(CMD, "more than %d rules", MAX_RULES);
            rc = NP_EXIT_USAGE;
            goto out;
        }
        c.rules[c.n_rules++] = cli_rules[i];
    }
    if (c.n_rules == 0) {
        np_out_errorf(CMD, "nothing to test: name a profile or give --port "
                           "(see --help)");
        rc = NP_EXIT_USAGE;
        goto out;
    }

    /* Contact only what the rules need: the reflector for TCP rules, the
     * STUN servers for UDP rules (or what the user named explicitly). */
    for (i = 0; i < c.n_rules; i++) {
        if (c.rules[i].proto == NP_EGRESS_TCP)
            has_tcp = 1;
        else
            has_udp = 1;
    }
    if (has_tcp || reflector != default_reflector) {
        rc = resolve_reflector(&c, reflector);
        if (rc == NP_EXIT_USAGE)
            goto out;
    } else {
        c.reflector_text = "none";
    }
    if (c.n_stun_text == 0 && has_udp)
        c.stun_text[c.n_stun_text++] = default_stun;
    for (i = 0; i < c.n_stun_text; i++) {
        np_addr *a = &c.cfg.stun[c.cfg.n_stun];
        if (strcmp(c.stun_text[i], "none") == 0)
            continue;
        np_progress("resolving STUN servers");
        if (np_addr_resolve(a, c.stun_text[i], NP_STUN_DEFAULT_PORT, AF_UNSPEC,
                            &err) != NP_OK) {
            np_out_error(CMD, &err);
            if (err.code == NP_EPARSE) {
                rc = NP_EXIT_USAGE;
                goto out;
            }
            stun_failed = 1;
            continue;
        }
        c.cfg.n_stun++;
    }
    if (!np_addr_is_set(&c.cfg.reflector) && c.cfg.n_stun == 0 &&
        (rc == NP_EXIT_NETWORK || stun_failed)) {
        np_out_errorf(CMD, "neither the reflector nor a STUN server could be "
                           "resolved: no network, or no DNS");
        rc = NP_EXIT_NETWORK;
        goto out;
    }

    if (build_targets(&c) != 0) {
        np_out_errorf(CMD, "out of memory");
        rc = NP_EXIT_USAGE;
        goto out;
    }
    c.cfg.progress = show_progress;
    if (np_egress_run(&c.cfg, c.targets, c.n_targets, &c.rep, &err) != NP_OK) {
        np_progress_done();
        np_out_error(CMD, &err);
        rc = err.code == NP_EINVAL ? NP_EXIT_USAGE : NP_EXIT_NETWORK;
        goto out;
    }
    np_progress_done();
    for (i = 0; i < c.n_rules; i++)
        rule_verdict(&c, &c.rules[i]);
    overall = np_egress_overall(c.targets, c.n_targets, &c.rep);
    exit_code = NP_EXIT_OK;
    if (overall == NP_EGRESS_NOTHING_REACHABLE)
        exit_code = NP_EXIT_NETWORK;
    else
        for (i = 0; i < c.n_rules; i++)
            if (c.rules[i].essential &&
                np_egress_state_blocked(c.rules[i].state))
                exit_code = NP_EXIT_PROBLEM;
    if (json)
        print_json(&c, overall, exit_code);
    else
        print_human(&c, overall);
    rc = exit_code;
out:
    free(c.targets);
    c.targets = NULL;
    np_resolved_free(res);
    np_catalog_free(cat);
    return rc;
}
