/*
 * natpilot verify: is each inbound rule mapped to the right device, to
 * another device, or missing? UPnP reads the router's table (this sees the
 * mappings a console made itself); PCP and NAT-PMP have no table, so their
 * mappings are re-requested (which renews them). For this host's UDP
 * mappings it then proves them from outside: a STUN answer from the
 * server's alternate address must come in through the mapped port
 * (np_probe_reachable), which a second NAT or a firewall beyond the router
 * would stop even though the router reports the mapping as made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "natpilot/probe.h"
#include "natpilot/stun.h"
#include "outbound.h"
#include "pmcli.h"

static const char usage[] =
    "usage: natpilot verify [PROFILE...] [--port PROTO:PORT[-PORT]]...\n"
    "                       [--for ADDRESS] [--via pcp|natpmp|upnp]\n"
    "                       [--platform NAME] [--profiles DIR] [--json]\n"
    "                       [--stun HOST[:PORT]|none]\n"
    "       natpilot verify --outbound ... (see natpilot verify --outbound "
    "--help)\n"
    "\n"
    "For each inbound port of the profiles (or --port rules): mapped to this\n"
    "host (or to --for ADDRESS), mapped to another device, or missing.\n"
    "UPnP is asked first (its table shows what the console mapped itself).\n"
    "This host's UDP mappings are then proven from outside: an RFC 5780\n"
    "STUN server (--stun; default: the first server diagnose --help names)\n"
    "answers from its alternate address, which only a working mapping lets\n"
    "in. --stun none skips that.\n"
    "Exit: 0 all mapped right and nothing known contradicts them, 1\n"
    "something missing, elsewhere, not reachable, or UDP blocked on the way\n"
    "(the proof from outside cannot be made), 2 usage, 3 no router answered.\n";

struct reach_ctx {
    int enabled;
    np_addr server;
    char note[160]; /* why it is off, "" when on */
};

/* Resolve the STUN server once; a failure only turns the proof off. */
static void reach_setup(const struct pm_args *a, struct reach_ctx *rc)
{
    np_error err;

    memset(rc, 0, sizeof(*rc));
    if (a->have_for) {
        snprintf(rc->note, sizeof(rc->note),
                 "reachability is proven only for this host");
        return;
    }
    if (a->stun != NULL && strcmp(a->stun, "none") == 0) {
        snprintf(rc->note, sizeof(rc->note),
                 "reachability not tested "
                 "(--stun none)");
        return;
    }
    if (np_addr_resolve(&rc->server,
                        a->stun ? a->stun : np_probe_default_servers[0],
                        NP_STUN_DEFAULT_PORT, AF_UNSPEC, &err) != NP_OK) {
        snprintf(rc->note, sizeof(rc->note), "reachability not tested: %.120s",
                 err.msg);
        return;
    }
    rc->enabled = 1;
}

enum reach_state {
    REACH_NONE = 0,
    REACH_OK,
    REACH_NOT,
    REACH_INCONC,
    REACH_UNTESTED,
    REACH_UDP_BLOCKED
};

/* The library's verdict (np_reach_decide) for one rule, as rendered. */
struct reach_out {
    enum reach_state st;
    enum np_reach_reason reason;
    const char *why; /* the library's sentence; NULL when not tested */
};

static const char *reach_name(enum reach_state r)
{
    switch (r) {
    case REACH_OK:
        return "reachable";
    case REACH_NOT:
        return "not-reachable";
    case REACH_INCONC:
        return "inconclusive";
    case REACH_UNTESTED:
        return "not-tested";
    case REACH_UDP_BLOCKED:
        return "udp-blocked";
    case REACH_NONE:
    default:
        return NULL;
    }
}

/* Prove this host's UDP mapping from outside (a probe, not mapping policy:
 * the session said the router holds it; this asks the internet). The
 * library decides what the answers mean (np_reach_decide); this renders. */
static struct reach_out prove(const struct reach_ctx *rc,
                              const np_sess_result *x)
{
    struct reach_out o = {REACH_NONE, NP_REACH_R_NONE, NULL};
    np_reach rr;
    np_error rerr;

    if (x->outcome != NP_SESS_MAPPED || !rc->enabled ||
        x->rule.transport != NP_PM_UDP)
        return o;
    np_progress("proving the mapping from outside");
    if (np_probe_reachable(&rc->server, NULL, NULL, x->rule.port, 40, 1000, &rr,
                           &rerr) != NP_OK) {
        o.st = REACH_UNTESTED;
    } else {
        o.reason = rr.reason;
        o.why = rr.reason_text;
        if (rr.verdict == NP_REACH_PROVEN)
            o.st = REACH_OK;
        else if (rr.verdict == NP_REACH_PROBLEM)
            o.st = rr.reason == NP_REACH_R_UDP_BLOCKED ? REACH_UDP_BLOCKED
                                                       : REACH_NOT;
        else
            o.st = REACH_INCONC;
    }
    np_progress_done();
    return o;
}

static int reach_problem(enum reach_state rs)
{
    return rs == REACH_NOT || rs == REACH_UDP_BLOCKED;
}

static const char *status_of(const np_sess_result *x, enum reach_state rs)
{
    if (reach_problem(rs))
        return "unreachable";
    return np_sess_outcome_name(x->outcome);
}

static cJSON *rule_json(const np_sess_result *x, const struct reach_out *ro)
{
    enum reach_state rs = ro->st;

    return np_rj_verify_rule(x, reach_problem(rs) ? "unreachable" : NULL,
                             reach_name(rs), np_reach_reason_name(ro->reason),
                             ro->why != NULL ? ro->why : "");
}

static void rule_text(const np_sess_result *x, enum reach_state rs)
{
    const char *status = status_of(x, rs);
    const char *c = x->outcome == NP_SESS_MAPPED ? np_c_good() : np_c_bad();
    const char *msg = x->pm.message;
    char head[32];

    snprintf(head, sizeof(head), "  %-3s %-5u ",
             np_pm_transport_name(x->rule.transport), (unsigned)x->rule.port);
    if (rs != REACH_NONE && rs != REACH_OK)
        c = np_c_bad();
    /* "mapped" + "mapped to X" reads twice: drop the repeat. */
    if (strncmp(msg, status, strlen(status)) == 0 && msg[strlen(status)] == ' ')
        msg += strlen(status) + 1;
    np_out_wrapf(head, "              ", "%s%s%s %s (%s)%s%s", c, status,
                 np_c_reset(), msg, np_pm_proto_name(x->pm.proto),
                 rs != REACH_NONE ? "; from outside: " : "",
                 rs != REACH_NONE ? reach_name(rs) : "");
}

static void summary_text(const struct pm_args *a, const struct reach_ctx *rc,
                         int bad, const char *const *why, size_t nwhy,
                         int proven)
{
    size_t i;

    if (!rc->enabled && rc->note[0] != '\0')
        printf("  (%s)\n", rc->note);
    /* one sentence per reason met (the library's): what is wrong, what
     * to do; or why the proof could not be made */
    for (i = 1; i < nwhy; i++)
        if (why[i] != NULL) {
            printf("\n");
            np_out_wrap("", "", why[i]);
        }
    printf("\n%zu of %zu ports mapped to the right device",
           a->nrules - (size_t)bad, a->nrules);
    if (rc->enabled)
        printf("; %d proven from outside (UDP only)", proven);
    printf(".\n");
}

/* Render the report (and prove reachability); the number of problems. */
static int render(const struct pm_args *a, const np_sess_report *rep,
                  const struct reach_ctx *rc)
{
    cJSON *j = NULL, *arr = NULL;
    int bad = 0, unreachable = 0, proven = 0;
    const char *why[NP_REACH_R_SILENT + 1] = {0}; /* [reason] its sentence */
    size_t i;

    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "discovery", pm_discovery_json(&rep->disc));
        arr = cJSON_AddArrayToObject(j, "rules");
    }
    for (i = 0; i < rep->n; i++) {
        const np_sess_result *x = &rep->r[i];
        struct reach_out ro = prove(rc, x);
        enum reach_state rs = ro.st;

        bad += x->outcome != NP_SESS_MAPPED || reach_problem(rs);
        unreachable += reach_problem(rs);
        proven += rs == REACH_OK;
        if (ro.why != NULL && (size_t)ro.reason < sizeof(why) / sizeof(why[0]))
            why[ro.reason] = ro.why;
        if (a->json)
            cJSON_AddItemToArray(arr, rule_json(x, &ro));
        else
            rule_text(x, rs);
    }
    if (a->json) {
        cJSON_AddNumberToObject(j, "problems", bad);
        cJSON_AddNumberToObject(j, "unreachable", unreachable);
        if (rc->enabled)
            cJSON_AddNullToObject(j, "reachability_note");
        else
            cJSON_AddStringToObject(j, "reachability_note", rc->note);
        if (a->store_note.moved_aside)
            cJSON_AddStringToObject(j, "store_warning", a->store_note.message);
        pm_json_out(j);
    } else {
        summary_text(a, rc, bad, why, sizeof(why) / sizeof(why[0]), proven);
    }
    return bad;
}

int np_cmd_verify(int argc, char **argv)
{
    struct pm_args *a;
    np_sess_report rep;
    np_pm_discovery d;
    np_store *st = NULL;
    np_session *s = NULL;
    struct reach_ctx reach;
    np_error err;
    int code, i;

    if (pm_has_ipv6(argc, argv)) /* IPv6 pinholes: cmd_pinhole.c */
        return pinhole_verify_mode(argc, argv);
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--outbound") == 0)
            return outbound_verify_mode(argc, argv);
    a = calloc(1, sizeof(*a));
    memset(&rep, 0, sizeof(rep));
    code = pm_args_load(a, argc, argv, usage, 0);
    if (code >= 0)
        goto out;
    s = pm_session_open(a, NP_SESS_VERIFY, &st, &d, &code);
    if (s == NULL)
        goto out;
    pm_print_discovery(a, &d);
    reach_setup(a, &reach);
    np_error_clear(&err);
    if (np_session_verify(s, a->rules, a->nrules, &rep, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        code = NP_EXIT_NETWORK;
        goto out;
    }
    code = render(a, &rep, &reach) ? NP_EXIT_PROBLEM : NP_EXIT_OK;
out:
    np_sess_report_free(&rep);
    np_session_free(s);
    np_store_free(st);
    free(a);
    return code;
}
