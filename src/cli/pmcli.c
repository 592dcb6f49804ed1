/* natpilot program: shared parts of open, verify and close (see pmcli.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "np_hex.h"
#include "natpilot/profile.h"
#include "cli.h"
#include "pmcli.h"

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

const char *pm_rule_str(const struct pm_rule *r, char *buf, size_t size)
{
    snprintf(buf, size, "%s %u", np_pm_transport_name(r->transport),
             (unsigned)r->port);
    return buf;
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
    char *end;
    unsigned long r;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    r = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || r > max)
        return -1;
    *v = r;
    return 0;
}

static int add_rule(struct pm_args *a, int transport, uint16_t port,
                    int essential, const char *label, const char *feature)
{
    size_t i;
    struct pm_rule *r;

    for (i = 0; i < a->nrules; i++)
        if (a->rules[i].transport == transport && a->rules[i].port == port) {
            a->rules[i].essential |= essential;
            return 0;
        }
    if (a->nrules >= PM_MAX_RULES)
        return -1;
    r = &a->rules[a->nrules++];
    memset(r, 0, sizeof(*r));
    r->transport = transport;
    r->port = port;
    r->essential = essential;
    snprintf(r->label, sizeof(r->label), "%s", label);
    snprintf(r->feature, sizeof(r->feature), "%s", feature ? feature : "");
    return 0;
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
    np_error err;

    a->cmd = argv[0];
    a->lease = 7200;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            switch (parse_port_spec(a, optarg)) {
            case 0:
                break;
            case -2:
                np_out_errorf(a->cmd,
                              "--port %s: a range of more than %d ports; "
                              "map only what the game needs",
                              optarg, PM_RANGE_MAX);
                return NP_EXIT_USAGE;
            default:
                np_out_errorf(a->cmd,
                              "--port %s: expected udp:PORT, tcp:PORT or "
                              "udp:LOW-HIGH",
                              optarg);
                return NP_EXIT_USAGE;
            }
            break;
        case 'f':
            if (np_addr_parse(&a->for_addr, optarg, 0, &err) != NP_OK) {
                np_out_errorf(a->cmd, "--for %s: not an IP address", optarg);
                return NP_EXIT_USAGE;
            }
            a->have_for = 1;
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
    size_t i, k;
    int rc;

    if (a->nids == 0)
        return -1;
    np_error_clear(&err);
    np_diags_init(&diags);
    cat = np_catalog_new();
    if (cat == NULL) {
        np_out_errorf(a->cmd, "out of memory");
        return NP_EXIT_NETWORK;
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
    for (i = 0; i < res->n_inbound; i++) {
        const np_rule *r = &res->inbound[i];
        int t = r->protocol == NP_PROTO_TCP ? NP_PM_TCP : NP_PM_UDP;

        if (r->broad) {
            if (!a->json)
                fprintf(stderr,
                        "natpilot %s: skipping a %s range from %s that its "
                        "source calls \"all ports\": natpilot never maps a "
                        "range like that to one device\n",
                        a->cmd, np_proto_name(r->protocol), r->profile_id);
            continue;
        }
        for (k = 0; k < r->n_ports; k++) {
            uint32_t p;

            for (p = r->ports[k].lo; p <= r->ports[k].hi; p++) {
                size_t j;

                if (add_rule(a, t, (uint16_t)p, r->essential, r->profile_id,
                             r->feature ? r->feature : r->note) != 0) {
                    np_out_errorf(a->cmd, "more than %d ports in total",
                                  PM_MAX_RULES);
                    np_resolved_free(res);
                    np_diags_free(&diags);
                    np_catalog_free(cat);
                    return NP_EXIT_USAGE;
                }
                for (j = 0; j < res->n_alt_ports; j++)
                    if (res->alt_ports[j].port == p &&
                        res->alt_ports[j].protocol == r->protocol)
                        a->rules[a->nrules - 1].alt_port = 1;
            }
        }
    }
    np_resolved_free(res);
    np_diags_free(&diags);
    np_catalog_free(cat);
    return -1;
}

np_portmap *pm_session(struct pm_args *a, int prefer_upnp, np_pm_discovery *d,
                       int *exit_code)
{
    np_pm_options o;
    np_portmap *pm;
    np_error err;
    int rc;

    memset(&o, 0, sizeof(o));
    np_error_clear(&err);
    if (a->via != NP_PM_NONE) {
        o.prefer[0] = a->via;
    } else if (prefer_upnp) {
        o.prefer[0] = NP_PM_UPNP;
        o.prefer[1] = NP_PM_PCP;
        o.prefer[2] = NP_PM_NATPMP;
        /* The UPnP table is the point (verify): an IGD answers M-SEARCH
         * after a random delay of up to MX = 1 s, so do not give up on
         * SSDP a few PCP round trips after PCP answered. */
        o.ssdp_window_ms = 1200;
    }
    if (a->timeout_ms > 0) {
        o.timeout_ms = a->timeout_ms;
        o.ssdp_max_ms = a->timeout_ms;
    }
    pm = np_portmap_new(&o, &err);
    if (pm == NULL) {
        np_out_error(a->cmd, &err);
        *exit_code = NP_EXIT_NETWORK;
        return NULL;
    }
    np_progress("asking the router (PCP, NAT-PMP, UPnP)...");
    rc = np_portmap_discover(pm, d, &err);
    np_progress_done();
    if (rc != NP_OK) {
        if (a->json) {
            cJSON *j = cJSON_CreateObject();

            cJSON_AddItemToObject(j, "discovery", pm_discovery_json(d));
            cJSON_AddStringToObject(j, "error", err.msg);
            pm_json_out(j);
        }
        if (rc == NP_ECANCELED || pm_interrupted) {
            np_out_errorf(a->cmd, "interrupted before anything was asked "
                                  "of the router; nothing was changed");
            *exit_code = NP_EXIT_PROBLEM;
            np_portmap_free(pm);
            return NULL;
        }
        np_out_error(a->cmd, &err);
        fprintf(stderr,
                "  No port-mapping protocol answered%s. Turn on UPnP (or "
                "NAT-PMP/PCP) in the router's settings, or enter the "
                "forwards by hand.\n",
                a->via != NP_PM_NONE ? " that --via allows" : "");
        *exit_code = NP_EXIT_NETWORK;
        np_portmap_free(pm);
        return NULL;
    }
    return pm;
}

void pm_request(const struct pm_args *a, const struct pm_rule *r,
                np_pm_request *q)
{
    char label[64];

    memset(q, 0, sizeof(*q));
    q->transport = r->transport;
    q->internal_port = r->port;
    q->external_port = r->port;
    if (a->have_for)
        q->internal = a->for_addr;
    q->lifetime = a->permanent ? 0 : a->lease;
    q->permanent = a->permanent;
    snprintf(label, sizeof(label), "%.40s %s/%u", r->label,
             np_pm_transport_name(r->transport), (unsigned)r->port);
    np_pm_describe(q->description, sizeof(q->description), label);
}

static void add_addr(cJSON *o, const char *k, const np_addr *a)
{
    char buf[NP_ADDRSTRLEN];

    if (np_addr_is_set(a))
        cJSON_AddStringToObject(o, k, np_addr_ip_str(a, buf, sizeof(buf)));
    else
        cJSON_AddNullToObject(o, k);
}

cJSON *pm_discovery_json(const np_pm_discovery *d)
{
    cJSON *j = cJSON_CreateObject(), *p, *s;
    int i;
    size_t k;

    add_addr(j, "gateway", &d->gateway);
    add_addr(j, "local", &d->local);
    p = cJSON_AddObjectToObject(j, "protocols");
    for (i = NP_PM_PCP; i < NP_PM_NPROTO; i++) {
        cJSON *e = cJSON_AddObjectToObject(p, np_pm_proto_name(i));

        cJSON_AddBoolToObject(e, "answered", d->has[i]);
        if (d->rtt_ms[i] >= 0)
            cJSON_AddNumberToObject(e, "answer_ms", d->rtt_ms[i]);
        if (np_addr_is_set(&d->external[i]))
            add_addr(e, "external_address", &d->external[i]);
        if (i == NP_PM_UPNP && d->has[i]) {
            cJSON_AddNumberToObject(e, "igd_version", d->igd_version);
            cJSON_AddStringToObject(e, "igd_url", d->igd_url);
        }
    }
    cJSON_AddStringToObject(j, "chosen", np_pm_proto_name(d->chosen));
    cJSON_AddNumberToObject(j, "elapsed_ms", d->elapsed_ms);
    s = cJSON_AddArrayToObject(j, "suspicious");
    for (k = 0; k < d->nsuspects; k++) {
        cJSON *e = cJSON_CreateObject();

        cJSON_AddStringToObject(e, "protocol",
                                np_pm_proto_name(d->suspects[k].proto));
        add_addr(e, "from", &d->suspects[k].from);
        cJSON_AddStringToObject(e, "what", d->suspects[k].what);
        cJSON_AddItemToArray(s, e);
    }
    return j;
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
}

/* --- state file ------------------------------------------------------------
 */

static int state_path(char *buf, size_t size, int mk)
{
    const char *dir = getenv("NATPILOT_STATE_DIR");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char d[512];

    if (dir != NULL && dir[0] != '\0')
        snprintf(d, sizeof(d), "%s", dir);
    else if (xdg != NULL && xdg[0] != '\0')
        snprintf(d, sizeof(d), "%s/natpilot", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(d, sizeof(d), "%s/.local/state/natpilot", home);
    else
        return -1;
    if (mk) {
        char tmp[512];
        char *p;

        snprintf(tmp, sizeof(tmp), "%s", d);
        for (p = tmp + 1; *p != '\0'; p++)
            if (*p == '/') {
                *p = '\0';
                (void)mkdir(tmp, 0700);
                *p = '/';
            }
        (void)mkdir(tmp, 0700);
    }
    if ((size_t)snprintf(buf, size, "%s/mappings.json", d) >= size)
        return -1;
    return 0;
}

void pm_state_free(struct pm_state *s)
{
    free(s->e);
    memset(s, 0, sizeof(*s));
}

void pm_state_put(struct pm_state *s, const struct pm_state_entry *e)
{
    long i = pm_state_find(s, e->transport, e->external_port, &e->internal,
                           &e->gateway);

    if (i >= 0) {
        s->e[i] = *e;
        return;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct pm_state_entry *ne = realloc(s->e, nc * sizeof(*ne));

        if (ne == NULL)
            return;
        s->e = ne;
        s->cap = nc;
    }
    s->e[s->n++] = *e;
}

void pm_state_del(struct pm_state *s, size_t i)
{
    if (i >= s->n)
        return;
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
    s->n--;
}

long pm_state_find(const struct pm_state *s, int transport, uint16_t port,
                   const np_addr *internal, const np_addr *gateway)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        const struct pm_state_entry *e = &s->e[i];

        if (e->transport != transport || e->external_port != port)
            continue;
        if (np_addr_is_set(internal) != np_addr_is_set(&e->internal))
            continue;
        if (np_addr_is_set(internal) &&
            !np_addr_same_ip(internal, &e->internal))
            continue;
        if (gateway != NULL && !np_addr_same_ip(gateway, &e->gateway))
            continue;
        return (long)i;
    }
    return -1;
}

int pm_state_load(struct pm_state *s)
{
    char path[600], *text = NULL;
    FILE *f;
    long sz;
    cJSON *j, *it;

    memset(s, 0, sizeof(*s));
    if (state_path(path, sizeof(path), 0) != 0)
        return 0;
    f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 ||
        sz > 4 * 1024 * 1024) {
        fclose(f);
        return -1;
    }
    rewind(f);
    text = malloc((size_t)sz + 1);
    if (text == NULL || fread(text, 1, (size_t)sz, f) != (size_t)sz) {
        free(text);
        fclose(f);
        return -1;
    }
    fclose(f);
    text[sz] = '\0';
    j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return -1;
    }
    cJSON_ArrayForEach(it, j)
    {
        struct pm_state_entry e;
        cJSON *v;

        memset(&e, 0, sizeof(e));
        v = cJSON_GetObjectItem(it, "protocol");
        e.proto = np_pm_proto_parse(cJSON_GetStringValue(v));
        v = cJSON_GetObjectItem(it, "transport");
        e.transport = cJSON_GetStringValue(v) &&
                              strcmp(cJSON_GetStringValue(v), "tcp") == 0
                          ? NP_PM_TCP
                          : NP_PM_UDP;
        v = cJSON_GetObjectItem(it, "internal_port");
        e.internal_port =
            cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 65535
                ? (uint16_t)v->valuedouble
                : 0;
        v = cJSON_GetObjectItem(it, "external_port");
        e.external_port =
            cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 65535
                ? (uint16_t)v->valuedouble
                : 0;
        v = cJSON_GetObjectItem(it, "internal");
        if (cJSON_GetStringValue(v) != NULL)
            (void)np_addr_parse(&e.internal, cJSON_GetStringValue(v), 0, NULL);
        v = cJSON_GetObjectItem(it, "gateway");
        if (cJSON_GetStringValue(v) != NULL)
            (void)np_addr_parse(&e.gateway, cJSON_GetStringValue(v), 0, NULL);
        v = cJSON_GetObjectItem(it, "nonce");
        (void)np__hex_decode(e.nonce, 12, cJSON_GetStringValue(v));
        if (e.proto == NP_PM_NONE || e.internal_port == 0 ||
            e.external_port == 0)
            continue;
        pm_state_put(s, &e);
    }
    cJSON_Delete(j);
    return 0;
}

int pm_state_save(const struct pm_state *s)
{
    char path[600], tmp[640], ip[NP_ADDRSTRLEN], nh[25];
    cJSON *j = cJSON_CreateArray();
    char *text;
    size_t i;
    int fd, ok;

    if (state_path(path, sizeof(path), 1) != 0 || j == NULL) {
        cJSON_Delete(j);
        return -1;
    }
    for (i = 0; i < s->n; i++) {
        const struct pm_state_entry *e = &s->e[i];
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "protocol", np_pm_proto_name(e->proto));
        cJSON_AddStringToObject(o, "transport",
                                np_pm_transport_name(e->transport));
        cJSON_AddNumberToObject(o, "internal_port", e->internal_port);
        cJSON_AddNumberToObject(o, "external_port", e->external_port);
        if (np_addr_is_set(&e->internal))
            cJSON_AddStringToObject(
                o, "internal", np_addr_ip_str(&e->internal, ip, sizeof(ip)));
        cJSON_AddStringToObject(o, "gateway",
                                np_addr_ip_str(&e->gateway, ip, sizeof(ip)));
        np__hex_encode(nh, e->nonce, 12);
        cJSON_AddStringToObject(o, "nonce", nh);
        cJSON_AddItemToArray(j, o);
    }
    text = cJSON_Print(j);
    cJSON_Delete(j);
    if (text == NULL)
        return -1;
    /* written atomically: a crash leaves the old file or the new one */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(text);
        return -1;
    }
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    ok = fsync(fd) == 0 && ok;
    close(fd);
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
