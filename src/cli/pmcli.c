/* natpilot program: shared parts of open, verify and close (see pmcli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/profile.h"
#include "cli.h"
#include "pmcli.h"
#include "np_util.h"

volatile sig_atomic_t pm_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    pm_interrupted = 1;
}

void pm_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void pm_json_out(cJSON *j)
{
    char *s = cJSON_Print(j);

    if (s != NULL) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    cJSON_Delete(j);
}

static int parse_num(const char *s, unsigned long max, unsigned long *v)
{
    uint64_t r;

    if (np__parse_u64(s, max, &r) != NP_OK)
        return -1;
    *v = (unsigned long)r;
    return 0;
}

static int add_rule(struct pm_args *a, int transport, uint16_t port,
                    int essential, const char *label, const char *feature)
{
    return np_sess_rules_add(a->rules, &a->nrules, PM_MAX_RULES, transport,
                             port, essential, label, feature) == NP_OK
               ? 0
               : -1;
}

/* "udp:3074", "tcp:27015-27030" */
static int parse_port_spec(struct pm_args *a, const char *spec)
{
    const char *colon = strchr(spec, ':'), *dash;
    char lo_s[8], hi_s[8];
    unsigned long lo, hi, p;
    int transport;
    size_t n;

    if (colon == NULL)
        return -1;
    if ((size_t)(colon - spec) == 3 && strncmp(spec, "udp", 3) == 0)
        transport = NP_PM_UDP;
    else if ((size_t)(colon - spec) == 3 && strncmp(spec, "tcp", 3) == 0)
        transport = NP_PM_TCP;
    else
        return -1;
    dash = strchr(colon + 1, '-');
    n = dash ? (size_t)(dash - colon - 1) : strlen(colon + 1);
    if (n == 0 || n >= sizeof(lo_s))
        return -1;
    memcpy(lo_s, colon + 1, n);
    lo_s[n] = '\0';
    if (parse_num(lo_s, 65535, &lo) != 0 || lo == 0)
        return -1;
    hi = lo;
    if (dash != NULL) {
        n = strlen(dash + 1);
        if (n == 0 || n >= sizeof(hi_s))
            return -1;
        memcpy(hi_s, dash + 1, n + 1);
        if (parse_num(hi_s, 65535, &hi) != 0 || hi < lo)
            return -1;
    }
    if (hi - lo + 1 > PM_RANGE_MAX)
        return -2;
    for (p = lo; p <= hi; p++)
        if (add_rule(a, transport, (uint16_t)p, 0, "port", NULL) != 0)
            return -3;
    return 0;
}

/* --port and --for; -1 to go on, else the exit code. */
static int parse_target(struct pm_args *a, int c, const char *arg)
{
    np_error err;

    switch (c) {
    case 'p':
        switch (parse_port_spec(a, arg)) {
        case 0:
            break;
        case -2:
            np_out_errorf(a->cmd,
                          "--port %s: a range of more than %d ports; "
                          "map only what the game needs",
                          arg, PM_RANGE_MAX);
            return NP_EXIT_USAGE;
        default:
            np_out_errorf(a->cmd,
                          "--port %s: expected udp:PORT, tcp:PORT or "
                          "udp:LOW-HIGH",
                          arg);
            return NP_EXIT_USAGE;
        }
        break;
    case 'f':
        if (np_addr_parse(&a->for_addr, arg, 0, &err) != NP_OK) {
            np_out_errorf(a->cmd, "--for %s: not an IP address", arg);
            return NP_EXIT_USAGE;
        }
        a->have_for = 1;
        break;
    default:
        break;
    }
    return -1;
}

int pm_parse(int argc, char **argv, struct pm_args *a, const char *usage,
             int allow_all)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"for", required_argument, NULL, 'f'},
        {"lease", required_argument, NULL, 'l'},
        {"permanent", no_argument, NULL, 'P'},
        {"via", required_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},
        {"platform", required_argument, NULL, 'x'},
        {"profiles", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 't'},
        {"stun", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c, i;
    unsigned long v;

    a->cmd = argv[0];
    a->lease = 7200;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
        case 'f':
            if ((i = parse_target(a, c, optarg)) >= 0)
                return i;
            break;
        case 'l':
            if (parse_num(optarg, 604800, &v) != 0 || v < 60) {
                np_out_errorf(a->cmd,
                              "--lease %s: seconds from 60 to 604800 (use "
                              "--permanent for a permanent mapping)",
                              optarg);
                return NP_EXIT_USAGE;
            }
            a->lease = (uint32_t)v;
            break;
        case 'P':
            a->permanent = 1;
            break;
        case 's':
            a->stun = optarg;
            break;
        case 'v':
            a->via = np_pm_proto_parse(optarg);
            if (a->via == NP_PM_NONE) {
                np_out_errorf(a->cmd, "--via %s: pcp, natpmp or upnp", optarg);
                return NP_EXIT_USAGE;
            }
            break;
        case 'j':
            a->json = 1;
            break;
        case 'a':
            if (!allow_all) {
                np_out_errorf(a->cmd, "--all is an option of close");
                return NP_EXIT_USAGE;
            }
            a->all = 1;
            break;
        case 'x':
            if (np_platform_parse(optarg, &a->platform) != NP_OK) {
                np_out_errorf(a->cmd,
                              "--platform %s: xbox, playstation, switch or "
                              "pc",
                              optarg);
                return NP_EXIT_USAGE;
            }
            break;
        case 'd':
            a->profiles_dir = optarg;
            break;
        case 't':
            if (parse_num(optarg, 60000, &v) != 0 || v < 10) {
                np_out_errorf(a->cmd, "--timeout %s: milliseconds", optarg);
                return NP_EXIT_USAGE;
            }
            a->timeout_ms = (int)v;
            break;
        case 'h':
            fputs(usage, stdout);
            return NP_EXIT_OK;
        default:
            np_out_errorf(a->cmd, "unknown option '%s'; see --help",
                          argv[optind - 1]);
            return NP_EXIT_USAGE;
        }
    }
    for (i = optind; i < argc; i++) {
        if (a->nids >= PM_MAX_IDS) {
            np_out_errorf(a->cmd, "too many profiles");
            return NP_EXIT_USAGE;
        }
        a->ids[a->nids++] = argv[i];
    }
    if (a->nids == 0 && a->nrules == 0 && !a->all) {
        np_out_errorf(a->cmd,
                      "name a PROFILE or give --port PROTO:PORT%s; see "
                      "--help",
                      allow_all ? " or --all" : "");
        return NP_EXIT_USAGE;
    }
    return -1;
}

int pm_resolve_profiles(struct pm_args *a)
{
    np_catalog *cat;
    np_resolved *res = NULL;
    np_diags diags;
    np_error err;
    size_t i;
    int rc;

    if (a->nids == 0)
        return -1;
    np_error_clear(&err);
    np_diags_init(&diags);
    cat = np_catalog_new();
    if (cat == NULL) {
        np_out_errorf(a->cmd, "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    rc = np_catalog_load_embedded(cat, &diags, &err);
    if (rc == NP_OK && a->profiles_dir != NULL)
        rc = np_catalog_load_dir(cat, a->profiles_dir, NP_LAYER_CUSTOM, &diags,
                                 &err);
    if (rc == NP_OK)
        rc = np_resolve(cat, a->ids, a->nids, a->platform, &res, &err);
    if (rc != NP_OK) {
        np_out_error(a->cmd, &err);
        if (diags.count > 0) {
            char buf[512];

            fprintf(stderr, "  %s\n",
                    np_diag_format(&diags.items[0], buf, sizeof(buf)));
        }
        np_diags_free(&diags);
        np_catalog_free(cat);
        return NP_EXIT_USAGE;
    }
    for (i = 0; i < res->n_inbound; i++)
        if (res->inbound[i].broad && !a->json)
            fprintf(stderr,
                    "natpilot %s: skipping a %s range from %s that its "
                    "source calls \"all ports\": natpilot never maps a "
                    "range like that to one device\n",
                    a->cmd, np_proto_name(res->inbound[i].protocol),
                    res->inbound[i].profile_id);
    if (np_sess_rules_from_resolved(a->rules, &a->nrules, PM_MAX_RULES, res,
                                    NULL) != NP_OK) {
        np_out_errorf(a->cmd, "more than %d ports in total", PM_MAX_RULES);
        np_resolved_free(res);
        np_diags_free(&diags);
        np_catalog_free(cat);
        return NP_EXIT_USAGE;
    }
    np_resolved_free(res);
    np_diags_free(&diags);
    np_catalog_free(cat);
    return -1;
}

int pm_args_load(struct pm_args *a, int argc, char **argv, const char *usage,
                 int allow_all)
{
    int code;

    if (a == NULL) {
        np_out_errorf(argc > 0 ? argv[0] : "natpilot", "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    code = pm_parse(argc, argv, a, usage, allow_all);
    if (code < 0)
        code = pm_resolve_profiles(a);
    return code;
}

static void session_opts(struct pm_args *a, np_store *st, np_sess_opts *o)
{
    memset(o, 0, sizeof(*o));
    if (a->have_for)
        o->device = a->for_addr;
    o->owner = NP_STORE_OWNER_CLI;
    o->lease = a->lease;
    o->permanent = a->permanent;
    o->via = a->via;
    o->timeout_ms = a->timeout_ms;
    o->cancel = &pm_interrupted;
    o->store = st;
    o->side_table = 1; /* name who holds a conflicting port */
}

/* The store: a corrupt one is moved aside and said; an unreadable one
 * stops the command (saving over it would lose its nonces). Without any
 * place for it, the command goes on and says so. 0, or -1 with *exit_code.
 */
static int store_open(struct pm_args *a, np_store **out, int *exit_code)
{
    char path[NP_STORE_PATH_MAX];
    np_store *st;
    np_error err;

    *out = NULL;
    np_error_clear(&err);
    if (np_store_default_path(path, sizeof(path), &err) != NP_OK) {
        fprintf(stderr, "natpilot %s: warning: %s\n", a->cmd, err.msg);
        return 0;
    }
    st = np_store_new(path, &err);
    if (st == NULL) {
        np_out_error(a->cmd, &err);
        *exit_code = NP_EXIT_NETWORK;
        return -1;
    }
    if (np_store_load(st, &a->store_note, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        np_store_free(st);
        *exit_code = NP_EXIT_USAGE;
        return -1;
    }
    if (a->store_note.moved_aside)
        fprintf(stderr, "natpilot %s: warning: %s\n", a->cmd,
                a->store_note.message);
    *out = st;
    return 0;
}

static void discovery_failed(struct pm_args *a, const np_pm_discovery *d,
                             int rc, const np_error *err, int *exit_code)
{
    if (a->json) {
        cJSON *j = cJSON_CreateObject();

        cJSON_AddItemToObject(j, "discovery", pm_discovery_json(d));
        cJSON_AddStringToObject(j, "error", err->msg);
        pm_json_out(j);
    }
    if (rc == NP_ECANCELED || pm_interrupted) {
        np_out_errorf(a->cmd, "interrupted before anything was asked "
                              "of the router; nothing was changed");
        *exit_code = NP_EXIT_PROBLEM;
        return;
    }
    np_out_error(a->cmd, err);
    if (rc == NP_ENOMEM) {
        *exit_code = NP_EXIT_NETWORK;
        return;
    }
    fprintf(stderr,
            "  No port-mapping protocol answered%s. Turn on UPnP (or "
            "NAT-PMP/PCP) in the router's settings, or enter the "
            "forwards by hand.\n",
            a->via != NP_PM_NONE ? " that --via allows" : "");
    *exit_code = NP_EXIT_NETWORK;
}

np_session *pm_session_open(struct pm_args *a, enum np_sess_op op,
                            np_store **st, np_pm_discovery *d, int *exit_code)
{
    np_sess_opts o;
    np_session *s;
    np_error err;
    int rc;

    memset(d, 0, sizeof(*d));
    if (store_open(a, st, exit_code) != 0)
        return NULL;
    session_opts(a, *st, &o);
    np_error_clear(&err);
    s = np_session_new(&o, &err);
    if (s == NULL) {
        np_out_error(a->cmd, &err);
        *exit_code = NP_EXIT_NETWORK;
        return NULL;
    }
    np_progress("asking the router (PCP, NAT-PMP, UPnP)...");
    rc = np_session_discover(s, op, d, &err);
    np_progress_done();
    if (rc != NP_OK) {
        discovery_failed(a, d, rc, &err, exit_code);
        np_session_free(s);
        return NULL;
    }
    return s;
}

void pm_store_notes(const struct pm_args *a, const np_sess_report *rep)
{
    if (rep->store_error)
        fprintf(stderr,
                "natpilot %s: warning: the mapping store could not be "
                "written (%s); close may not find the PCP/NAT-PMP mappings "
                "of this run\n",
                a->cmd, rep->store_message);
}

void pm_print_discovery(const struct pm_args *a, const np_pm_discovery *d)
{
    char gw[NP_ADDRSTRLEN], ip[NP_ADDRSTRLEN];
    size_t k;

    if (a->json)
        return;
    printf("Router %s%s%s: ", np_c_bold(),
           np_addr_ip_str(&d->gateway, gw, sizeof(gw)), np_c_reset());
    printf("PCP %s, NAT-PMP %s, UPnP %s", d->has[NP_PM_PCP] ? "yes" : "no",
           d->has[NP_PM_NATPMP] ? "yes" : "no",
           d->has[NP_PM_UPNP]
               ? (d->igd_version == 2 ? "yes (IGDv2)" : "yes (IGDv1)")
               : "no");
    printf(" (%d ms); using %s\n", d->elapsed_ms, np_pm_proto_name(d->chosen));
    for (k = 0; k < d->nsuspects; k++)
        printf("%sSuspicious:%s %s from %s\n", np_c_warn(), np_c_reset(),
               d->suspects[k].what,
               np_addr_ip_str(&d->suspects[k].from, ip, sizeof(ip)));
    if (d->note[0] != '\0')
        np_out_wrap("Note: ", "      ", d->note);
}
