/* natpilot diagnose: what the network does to game traffic, and why. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "ipv6_check.h"
#include "natpilot/nat.h"
#include "natpilot/probe.h"
#include "natpilot/stun.h"
#include "outbound.h"
#include "router_check.h"
#include "np_util.h"

/*
 * Public servers tried when no --stun is given. The first must speak
 * RFC 5780 (OTHER-ADDRESS, CHANGE-REQUEST); the others only confirm the
 * mapping. natpilot checks every claim at run time and says so when a server
 * falls short, rather than trusting the list.
 */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: natpilot diagnose [--stun HOST[:PORT]]... [--json]\n"
            "                         [--timeout MS] [--source ADDR]\n"
            "                         [--outbound PROFILE]... [--reflector "
            "HOST]\n"
            "\n"
            "Finds out how the NAT between this device and the internet "
            "treats game\ntraffic (RFC 5780 behaviour discovery), and names "
            "the result in each\nconsole's own terms.\n"
            "\n"
            "  --stun HOST[:PORT]  STUN server (repeatable). The first must "
            "support\n"
            "                      RFC 5780; the others only confirm the "
            "mapping.\n"
            "                      Default: %s,\n"
            "                      then %s and %s.\n"
            "  --timeout MS        give up after MS milliseconds (default "
            "3000)\n"
            "  --source ADDR       local address to probe from\n"
            "  --no-router         do not ask the router (PCP, NAT-PMP, "
            "UPnP)\n"
            "  --stun6 HOST[:PORT] RFC 5780 STUN server for the IPv6 side "
            "(default:\n"
            "                      the first --stun server's IPv6 address, "
            "if it has one)\n"
            "  --no-ipv6           leave IPv6 out\n"
            "  --teredo HOST[:PORT] Teredo server (IPv4) to qualify against "
            "(RFC 4380)\n"
            "  --outbound PROFILE  also check that this network lets the "
            "profile's\n"
            "                      outbound ports through (repeatable; as\n"
            "                      natpilot verify --outbound)\n"
            "  --reflector HOST    TCP reflector for --outbound\n"
            "  --platform NAME     device platform for --outbound rules\n"
            "  --profiles DIR      extra profile directory for --outbound\n"
            "  --json              machine-readable output (fields in "
            "natpilot(1))\n"
            "  --help              this text\n"
            "\n"
            "Exit status: 0 open, 1 moderate, strict, blocked or "
            "inconclusive,\n2 usage error, 3 no network (nothing "
            "answered).\n",
            np_probe_default_servers[0], np_probe_default_servers[1],
            np_probe_default_servers[2]);
}

static void show_progress(void *ctx, const char *step)
{
    (void)ctx;
    np_progress(step);
}

static cJSON *json_addr(const np_addr *a)
{
    char buf[NP_ADDRSTRLEN];

    if (!np_addr_is_set(a))
        return cJSON_CreateNull();
    return cJSON_CreateString(np_addr_str(a, buf, sizeof(buf)));
}

static cJSON *json_tristate(int v)
{
    return v < 0 ? cJSON_CreateNull() : cJSON_CreateBool(v);
}

static cJSON *json_tx(const char *name, const np_probe_tx *t)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "test", name);
    cJSON_AddItemToObject(o, "destination", json_addr(&t->dest));
    cJSON_AddBoolToObject(o, "answered", t->answered);
    cJSON_AddItemToObject(o, "mapped_address", json_addr(&t->mapped));
    cJSON_AddNumberToObject(o, "sent", t->sent);
    cJSON_AddNumberToObject(o, "wrong_source", t->wrong_source);
    return o;
}

/* diagnose's report: the probe, its verdict, the router's side and the
 * outbound check, each filled by the library; rendered once as text and
 * once as JSON. */
struct diag_report {
    np_probe_obs obs;
    np_nat_verdict v;
    struct router_check router;
    int have_router;
    struct outbound_report outbound;
    int have_outbound; /* the outbound check was asked for and tried */
    int outbound_rc;   /* its exit code, -1 when not run */
    /* the IPv6 side, measured beside IPv4 in the same poll loop */
    int no_ipv6, have6;
    np_probe_obs obs6;
    struct ipv6_check v6;
    np_ipv6_report rep6;
    const np_teredo_qual *tq;
    np_teredo_outlook tout;
    np_v6_plan plan6;
};

static cJSON *json_nat(const np_probe_obs *o, const np_nat_verdict *v)
{
    cJSON *nat = cJSON_CreateObject();

    cJSON_AddItemToObject(nat, "behind_nat", json_tristate(v->behind_nat));
    cJSON_AddStringToObject(nat, "udp", np_udp_state_name(v->udp));
    cJSON_AddStringToObject(nat, "mapping", np_behaviour_name(v->mapping));
    cJSON_AddStringToObject(nat, "filtering", np_behaviour_name(v->filtering));
    cJSON_AddStringToObject(nat, "port_allocation",
                            np_port_alloc_name(v->port_alloc));
    cJSON_AddItemToObject(nat, "port_preserved",
                          json_tristate(v->port_preserved));
    cJSON_AddItemToObject(nat, "hairpinning", json_tristate(v->hairpin));
    cJSON_AddStringToObject(nat, "confidence",
                            np_nat_confidence_name(v->confidence));
    cJSON_AddItemToObject(nat, "local_address", json_addr(&o->local_m));
    cJSON_AddItemToObject(
        nat, "mapped_address",
        json_addr(o->test[0].answered ? &o->test[0].mapped : &o->tcp_mapped));
    return nat;
}

static void print_json(const struct diag_report *r)
{
    const np_probe_obs *o = &r->obs;
    const np_nat_verdict *v = &r->v;
    cJSON *root = cJSON_CreateObject(), *labels, *srv, *tcp, *arr;
    char *text;
    size_t i;

    labels = cJSON_AddObjectToObject(root, "labels");
    cJSON_AddStringToObject(labels, "generic", np_generic_name(v->generic));
    cJSON_AddStringToObject(labels, "xbox", np_xbox_name(v->xbox));
    cJSON_AddStringToObject(labels, "playstation", np_psn_name(v->psn));
    cJSON_AddStringToObject(labels, "switch", np_switch_name(v->sw));
    cJSON_AddStringToObject(root, "reason", v->reason);
    cJSON_AddStringToObject(root, "advice", v->advice);
    cJSON_AddStringToObject(root, "caveat", v->caveat);

    cJSON_AddItemToObject(root, "nat", json_nat(o, v));

    srv = cJSON_AddObjectToObject(root, "server");
    cJSON_AddItemToObject(srv, "address", json_addr(&o->test[0].dest));
    cJSON_AddStringToObject(srv, "rfc5780",
                            np_probe_server_name(o->server_state));
    cJSON_AddItemToObject(srv, "other_address", json_addr(&o->other_address));
    tcp = cJSON_AddObjectToObject(srv, "tcp");
    cJSON_AddBoolToObject(tcp, "tried", o->tcp_tried);
    cJSON_AddBoolToObject(tcp, "connected", o->tcp_connected);
    cJSON_AddBoolToObject(tcp, "answered", o->tcp_answered);
    if (o->tcp_connected || o->tcp_refused)
        cJSON_AddNumberToObject(tcp, "rtt_ms", o->tcp_rtt_ms);
    else
        cJSON_AddNullToObject(tcp, "rtt_ms");

    arr = cJSON_AddArrayToObject(root, "tests");
    cJSON_AddItemToArray(arr, json_tx("mapping-1", &o->test[0]));
    cJSON_AddItemToArray(arr, json_tx("mapping-2", &o->test[1]));
    cJSON_AddItemToArray(arr, json_tx("mapping-3", &o->test[2]));
    cJSON_AddItemToArray(arr, json_tx("filtering-plain", &o->filt_plain));
    cJSON_AddItemToArray(
        arr, json_tx("filtering-change-ip-port", &o->filt_change_both));
    cJSON_AddItemToArray(
        arr, json_tx("filtering-change-port", &o->filt_change_port));
    for (i = 0; i < o->n_extra; i++)
        cJSON_AddItemToArray(arr, json_tx("mapping-extra", &o->extra[i]));

    if (o->rtt_ms > 0)
        cJSON_AddNumberToObject(root, "rtt_ms", o->rtt_ms);
    else if (o->tcp_connected)
        cJSON_AddNumberToObject(root, "rtt_ms", o->tcp_rtt_ms);
    else
        cJSON_AddNullToObject(root, "rtt_ms");
    cJSON_AddNumberToObject(root, "wait_ms", o->wait_ms);
    cJSON_AddNumberToObject(root, "elapsed_ms", o->elapsed_ms);
    cJSON_AddNumberToObject(root, "retransmits", o->retransmits);
    cJSON_AddNumberToObject(root, "late_answers", o->late);
    if (r->have_router) {
        cJSON_AddItemToObject(root, "router", router_json(&r->router, o));
        cJSON_AddItemToObject(root, "plan", router_plan_json(&r->router));
    }
    if (!r->no_ipv6) {
        cJSON *j6 = ipv6_json(&r->rep6, r->have6 ? &r->obs6 : NULL);

        if (j6 != NULL)
            cJSON_AddItemToObject(j6, "plan", plan6_json(&r->plan6));
        cJSON_AddItemToObject(root, "ipv6", j6);
    }
    cJSON_AddItemToObject(root, "teredo", teredo_json(&r->tout, r->tq));
    if (r->have_outbound)
        cJSON_AddItemToObject(root, "outbound", outbound_json(&r->outbound));

    text = cJSON_Print(root);
    if (text != NULL)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
}

static const char *label_colour(enum np_generic g)
{
    switch (g) {
    case NP_GEN_OPEN:
        return np_c_good();
    case NP_GEN_MODERATE:
        return np_c_warn();
    case NP_GEN_STRICT:
    case NP_GEN_BLOCKED:
        return np_c_bad();
    case NP_GEN_UNKNOWN:
    default:
        return np_c_bold();
    }
}

static const char *yes_no(int v)
{
    return v < 0 ? "not tested" : v ? "yes" : "no";
}

static void print_human(const np_probe_obs *o, const np_nat_verdict *v)
{
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN];
    const char *c = label_colour(v->generic), *r = np_c_reset();

    printf("%sNAT: %s%s   Xbox %s%s%s · PlayStation %s%s%s · Switch %s%s%s\n",
           c, np_generic_name(v->generic), r, c, np_xbox_name(v->xbox), r, c,
           np_psn_name(v->psn), r, c, np_switch_name(v->sw), r);
    printf("Why: %s\n", v->reason);
    printf("Fix: %s\n", v->advice);
    if (v->caveat[0] != '\0')
        printf("%sNote:%s %s\n", np_c_warn(), r, v->caveat);

    printf("\n%sDetails%s\n", np_c_bold(), r);
    if (v->udp == NP_UDP_OK)
        printf("  UDP               ok, round trip %.1f ms\n", o->rtt_ms);
    else
        printf("  UDP               %s\n", np_udp_state_name(v->udp));
    if (o->tcp_tried)
        printf("  STUN over TCP     %s\n", o->tcp_answered ? "answered"
                                           : o->tcp_connected
                                               ? "connected, no answer"
                                           : o->tcp_refused  ? "refused"
                                           : o->udp_answered ? "not needed"
                                                             : "no answer");
    if (v->behind_nat >= 0)
        printf("  Behind a NAT      %s (local %s, public %s)\n",
               yes_no(v->behind_nat), np_addr_str(&o->local_m, a, sizeof(a)),
               np_addr_str(&o->test[0].mapped, b, sizeof(b)));
    printf("  Mapping           %s (RFC 4787)\n",
           np_behaviour_name(v->mapping));
    printf("  Filtering         %s (RFC 4787)\n",
           np_behaviour_name(v->filtering));
    printf("  Port allocation   %s\n", np_port_alloc_name(v->port_alloc));
    printf("  Hairpinning       %s\n", yes_no(v->hairpin));
    printf("  Confidence        %s\n", np_nat_confidence_name(v->confidence));
    printf("  Server            %s, RFC 5780: %s",
           np_addr_str(&o->test[0].dest, a, sizeof(a)),
           np_probe_server_name(o->server_state));
    if (np_addr_is_set(&o->other_address))
        printf(" (alternate %s)", np_addr_str(&o->other_address, b, sizeof(b)));
    printf("\n");
    if (o->rtt_ms > 0)
        printf("  Took              %.0f ms (%.1f round trips)\n",
               o->elapsed_ms, o->elapsed_ms / o->rtt_ms);
    else
        printf("  Took              %.0f ms\n", o->elapsed_ms);
}

static void print_text(struct diag_report *r)
{
    print_human(&r->obs, &r->v);
    if (!r->no_ipv6)
        ipv6_print(&r->rep6, r->have6 ? &r->obs6 : NULL);
    teredo_print(&r->tout, r->tq);
    if (!r->no_ipv6)
        plan6_print(&r->plan6);
    if (r->have_router)
        router_print(&r->router, &r->obs);
    if (r->have_outbound) {
        printf("\n%sOutbound ports%s\n", np_c_bold(), np_c_reset());
        outbound_print(&r->outbound);
    }
}

struct diag_args {
    const char *servers[1 + NP_PROBE_MAX_EXTRA];
    size_t n_servers;
    int json, no_router, no_ipv6;
    np_probe_config cfg;
    struct outbound_opts ob; /* n_ids 0: no --outbound */
    const char *stun6;       /* --stun6, NULL: the first --stun's IPv6 */
    const char *teredo;      /* --teredo SERVER, NULL: none */
};

/* Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, struct diag_args *a)
{
    static const struct option opts[] = {
        {"stun", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"source", required_argument, NULL, 'S'},
        {"outbound", required_argument, NULL, 'o'},
        {"no-router", no_argument, NULL, 'R'},
        {"reflector", required_argument, NULL, 'r'},
        {"platform", required_argument, NULL, 'p'},
        {"profiles", required_argument, NULL, 'P'},
        {"stun6", required_argument, NULL, '6'},
        {"no-ipv6", no_argument, NULL, 'N'},
        {"teredo", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const size_t max_servers = sizeof(a->servers) / sizeof(a->servers[0]);
    np_error err;
    int c;

    while ((c = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (a->n_servers == max_servers) {
                np_out_errorf("diagnose", "at most %zu --stun servers",
                              max_servers);
                return NP_EXIT_USAGE;
            }
            a->servers[a->n_servers++] = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 't': {
            uint32_t ms = 0;

            if (np__parse_u32(optarg, 60000, &ms) != NP_OK || ms < 100) {
                np_out_errorf("diagnose",
                              "--timeout %s: expected milliseconds from 100 "
                              "to 60000",
                              optarg);
                return NP_EXIT_USAGE;
            }
            a->cfg.budget_ms = ms;
            break;
        }
        case 'S':
            if (np_addr_parse(&a->cfg.bind, optarg, 0, &err) != NP_OK) {
                np_out_error("diagnose", &err);
                return NP_EXIT_USAGE;
            }
            break;
        case 'R':
            a->no_router = 1;
            break;
        case 'o':
            if (a->ob.n_ids == 16) {
                np_out_errorf("diagnose", "at most 16 --outbound profiles");
                return NP_EXIT_USAGE;
            }
            a->ob.ids[a->ob.n_ids++] = optarg;
            break;
        case 'r':
            a->ob.reflector = optarg;
            break;
        case 'p':
            a->ob.platform = optarg;
            break;
        case 'P':
            a->ob.profiles_dir = optarg;
            break;
        case '6':
            a->stun6 = optarg;
            break;
        case 'N':
            a->no_ipv6 = 1;
            break;
        case 'T':
            a->teredo = optarg;
            break;
        case 'h':
            usage(stdout);
            return NP_EXIT_OK;
        default:
            usage(stderr);
            return NP_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        np_out_errorf("diagnose", "unexpected argument '%s'", argv[optind]);
        return NP_EXIT_USAGE;
    }
    return -1;
}

/* The first server that resolves is the RFC 5780 one. Returns -1 to go on,
 * else an exit code. */
static int resolve_servers(struct diag_args *a)
{
    size_t i, n_ok = 0;

    if (a->n_servers == 0)
        for (; a->n_servers < NP_PROBE_N_DEFAULT_SERVERS; a->n_servers++)
            a->servers[a->n_servers] = np_probe_default_servers[a->n_servers];
    for (i = 0; i < a->n_servers; i++) {
        np_addr *slot = n_ok == 0 ? &a->cfg.server : &a->cfg.extra[n_ok - 1];
        np_error rerr;
        np_progress("resolving servers");
        if (np_addr_resolve(slot, a->servers[i], NP_STUN_DEFAULT_PORT,
                            np_addr_is_set(&a->cfg.server)
                                ? np_addr_family(&a->cfg.server)
                                : AF_UNSPEC,
                            &rerr) != NP_OK) {
            np_out_error("diagnose", &rerr);
            if (rerr.code == NP_EPARSE)
                return NP_EXIT_USAGE;
            continue;
        }
        n_ok++;
    }
    if (n_ok == 0) {
        np_out_errorf("diagnose", "no STUN server could be resolved: no "
                                  "network, or no DNS");
        return NP_EXIT_NETWORK;
    }
    a->cfg.n_extra = n_ok - 1;
    a->cfg.progress = show_progress;
    return -1;
}

/* Fill the report: the probe with the router asked beside it, the
 * library's conclusions, then the outbound check on the same STUN server.
 * Returns -1 when there is a report, else an exit code. */
/* The IPv6 side: a global address, a default route, and a server; the
 * Teredo server to qualify against. Returns -1 to go on, else an exit
 * code. */
static int setup_ipv6(struct diag_args *a, struct diag_report *r,
                      np_probe_config *cfg6)
{
    np_error rerr;

    r->no_ipv6 = a->no_ipv6;
    ipv6_check_local(&r->v6);
    if (!a->no_ipv6 && r->v6.in.has_global && r->v6.in.has_route) {
        const char *name = a->stun6 != NULL ? a->stun6 : a->servers[0];

        if (np_addr_resolve(&cfg6->server, name, NP_STUN_DEFAULT_PORT, AF_INET6,
                            &rerr) == NP_OK) {
            r->have6 = 1;
            cfg6->budget_ms = a->cfg.budget_ms;
        } else if (a->stun6 != NULL) {
            np_out_error("diagnose", &rerr);
            if (rerr.code == NP_EPARSE)
                return NP_EXIT_USAGE;
        }
    }
    if (a->teredo != NULL &&
        np_addr_resolve(&r->v6.teredo_server, a->teredo, NP_TEREDO_PORT,
                        AF_INET, &rerr) != NP_OK) {
        np_out_error("diagnose", &rerr);
        return np_exit_code(rerr.code);
    }
    return -1;
}

/* The library's conclusions about IPv6 and Teredo, once both probes ran. */
static void conclude_ipv6(struct diag_report *r, int probe6_rc)
{
    np_teredo_input tin;

    if (r->have6) {
        r->v6.in.obs = &r->obs6;
        r->v6.in.probe_rc = probe6_rc;
    }
    r->tq = ipv6_check_teredo_finish(&r->v6);
    np_ipv6_assess(&r->v6.in, &r->rep6);
    memset(&tin, 0, sizeof(tin));
    tin.v4 = &r->v;
    tin.udp3544 = -1;
    tin.qual = r->tq;
    tin.v6 = r->no_ipv6 ? NULL : &r->rep6;
    np_teredo_assess(&tin, &r->tout);
    np_ipv6_plan(r->have_router ? r->router.dnat.verdict : -1, &r->rep6,
                 &r->plan6);
}

/* Fill the report: the probe (IPv4 and IPv6 in one poll loop) with the
 * router asked beside it, the library's conclusions, then the outbound
 * check on the same STUN server. Returns -1 when there is a report, else
 * an exit code. */
static int run(struct diag_args *a, struct diag_report *r)
{
    np_probe_config cfg6;
    np_probe_job jobs[2];
    np_error err;
    int rc;

    np_error_clear(&err);
    np_probe_config_init(&cfg6);
    r->have_router = !a->no_router;
    r->outbound_rc = -1;
    if ((rc = setup_ipv6(a, r, &cfg6)) >= 0)
        return rc;
    memset(jobs, 0, sizeof(jobs));
    jobs[0].cfg = &a->cfg;
    jobs[0].obs = &r->obs;
    jobs[1].cfg = &cfg6;
    jobs[1].obs = &r->obs6;
    jobs[1].follow = 1;
    if (r->have_router)
        router_check_start(&r->router);
    if (r->have_router && !a->no_ipv6)
        ipv6_check_router_start(&r->v6);
    ipv6_check_teredo_start(&r->v6);
    rc = np_probe_run_jobs(jobs, r->have6 ? 2 : 1, &err);
    if (rc == NP_OK && jobs[0].rc != NP_OK) {
        rc = jobs[0].rc;
        err = jobs[0].err;
    }
    if (r->have_router) {
        np_progress("asking the router");
        router_check_finish(&r->router);
        ipv6_check_router_finish(&r->v6);
    }
    np_progress_done();
    if (rc != NP_OK) {
        (void)ipv6_check_teredo_finish(&r->v6);
        np_out_error("diagnose", &err);
        return rc == NP_EUNREACH ? NP_EXIT_NETWORK : NP_EXIT_PROBLEM;
    }
    np_nat_classify(&r->obs, 0, &r->v);
    if (r->have_router)
        router_check_conclude(&r->router, &r->obs, &r->v);
    conclude_ipv6(r, jobs[1].rc);
    if (a->ob.n_ids > 0 && r->v.udp != NP_UDP_NO_ANSWER) {
        a->ob.stun[0] = a->servers[0];
        a->ob.n_stun = 1;
        r->have_outbound = 1;
        r->outbound_rc =
            outbound_check("verify --outbound", &a->ob, &r->outbound);
    }
    return -1;
}

int np_cmd_diagnose(int argc, char **argv)
{
    struct diag_args *a = calloc(1, sizeof(*a));
    struct diag_report *r = calloc(1, sizeof(*r));
    int rc;

    if (a == NULL || r == NULL) {
        free(a);
        free(r);
        np_out_errorf("diagnose", "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    np_probe_config_init(&a->cfg);
    outbound_opts_init(&a->ob);
    if ((rc = parse_args(argc, argv, a)) >= 0 ||
        (rc = resolve_servers(a)) >= 0 || (rc = run(a, r)) >= 0)
        goto out;
    if (a->json)
        print_json(r);
    else
        print_text(r);
    if (r->v.udp == NP_UDP_NO_ANSWER)
        rc = NP_EXIT_NETWORK;
    else if (r->outbound_rc == NP_EXIT_PROBLEM ||
             r->outbound_rc == NP_EXIT_USAGE)
        rc = r->outbound_rc;
    else
        rc = r->v.generic == NP_GEN_OPEN ? NP_EXIT_OK : NP_EXIT_PROBLEM;
out:
    if (r->have_router)
        router_check_free(&r->router);
    outbound_report_free(&r->outbound);
    free(a);
    free(r);
    return rc;
}
