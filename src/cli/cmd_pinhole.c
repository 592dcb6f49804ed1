/*
 * natpilot open / verify / close --ipv6: the inbound rules of profiles (or
 * --port) as IPv6 pinholes in the router's firewall, for this host (or
 * --for another device's IPv6 address, which routers in secure mode
 * refuse), through UPnP IGDv2 or PCP over IPv6 (library: pinhole.h). What
 * was opened is kept in the pinhole store (pinholes.json beside the
 * mappings' state) so that open renews, and close removes, only natpilot's
 * own pinholes. verify proves this host's UDP pinholes from outside: STUN
 * over IPv6 from the pinholed port, answered from the server's alternate
 * address, which this port never sent to.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "natpilot/netinfo.h"
#include "natpilot/pinhole.h"
#include "natpilot/pinhole_run.h"
#include "natpilot/store.h"
#include "natpilot/stun.h"
#include "pmcli.h"

#define PH_STORE_NAME "pinholes.json"

static const char usage_open[] =
    "usage: natpilot open --ipv6 [PROFILE...] [--port PROTO:PORT[-PORT]]...\n"
    "                     [--for IPV6-ADDRESS] [--lease SECONDS]\n"
    "                     [--via pcp|upnp] [--platform NAME] [--json]\n"
    "\n"
    "Open the inbound ports as IPv6 pinholes in the router's firewall (UPnP\n"
    "IGDv2 WANIPv6FirewallControl, or PCP over IPv6) for this host's global\n"
    "IPv6 address. IPv6 has no NAT at home: the external port is the port.\n"
    "Running it again renews the pinholes; natpilot close --ipv6 removes\n"
    "them. Exit: 0 all opened, 1 some refused, 2 usage, 3 no IPv6 or no\n"
    "router answered.\n";

static const char usage_verify[] =
    "usage: natpilot verify --ipv6 [PROFILE...] [--port PROTO:PORT]...\n"
    "                       --stun [IPV6]:PORT [--json]\n"
    "\n"
    "Check natpilot's IPv6 pinholes: the router's view (UPnP\n"
    "CheckPinholeWorking) and, for this host's UDP ports, a proof from\n"
    "outside (STUN over IPv6 from the port, answered from the server's\n"
    "alternate address).\n";

static const char usage_close[] =
    "usage: natpilot close --ipv6 [PROFILE...] [--port PROTO:PORT]... "
    "[--all]\n"
    "                      [--json]\n"
    "\n"
    "Remove the IPv6 pinholes natpilot opened (all of them with --all).\n";

int pm_has_ipv6(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--ipv6") == 0)
            return 1;
    }
    return 0;
}

/* argv without --ipv6, for pm_parse. */
static int parse6(int argc, char **argv, struct pm_args *a, const char *usage,
                  int allow_all)
{
    char **v = calloc((size_t)argc + 1, sizeof(*v));
    int n = 0, i, rc;

    if (v == NULL)
        return NP_EXIT_INTERNAL;
    for (i = 0; i < argc; i++)
        if (strcmp(argv[i], "--ipv6") != 0)
            v[n++] = argv[i];
    v[n] = NULL;
    rc = pm_parse(n, v, a, usage, allow_all);
    if (rc < 0 && (a->nids > 0))
        rc = pm_resolve_profiles(a);
    /* pm_parse keeps pointers to the profile names, which are argv's. */
    free(v);
    if (rc < 0 && a->have_for && np_addr_family(&a->for_addr) == AF_INET) {
        /* The same device: its MAC address in the IPv4 neighbour table,
         * then that MAC address in the IPv6 one. */
        np_addr v6;
        uint8_t mac[6];
        char ip[NP_ADDRSTRLEN], ip6[NP_ADDRSTRLEN], m[18];
        np_error err;

        np_error_clear(&err);
        if (np_netinfo_ipv6_of(&a->for_addr, &v6, mac, &err) != NP_OK) {
            np_out_errorf(a->cmd,
                          "--for %s: %s; give the device's IPv6 address "
                          "instead (the console shows it in its network "
                          "settings)",
                          np_addr_ip_str(&a->for_addr, ip, sizeof(ip)),
                          err.msg);
            return NP_EXIT_PROBLEM;
        }
        if (!a->json)
            printf("%s (MAC %s) is %s over IPv6\n",
                   np_addr_ip_str(&a->for_addr, ip, sizeof(ip)),
                   np_netinfo_mac_str(mac, m, sizeof(m)),
                   np_addr_ip_str(&v6, ip6, sizeof(ip6)));
        a->for_addr = v6;
    }
    if (rc < 0 && a->via == NP_PM_NATPMP) {
        np_out_errorf(a->cmd, "NAT-PMP has no IPv6 pinholes: --via pcp or "
                              "--via upnp");
        return NP_EXIT_USAGE;
    }
    return rc;
}

static np_pinhole *session6(struct pm_args *a, np_v6_pinholes *sup, int *code)
{
    np_ph_options opt;
    np_pinhole *ph;
    np_error err;
    int rc;

    memset(&opt, 0, sizeof(opt));
    if (a->timeout_ms > 0)
        opt.timeout_ms = a->timeout_ms;
    opt.no_upnp = a->via == NP_PM_PCP;
    opt.no_pcp = a->via == NP_PM_UPNP;
    np_error_clear(&err);
    ph = np_pinhole_new(&opt, &err);
    if (ph == NULL) {
        np_out_error(a->cmd, &err);
        *code = NP_EXIT_INTERNAL;
        return NULL;
    }
    if (!a->json)
        np_progress("asking the router over IPv6");
    rc = np_pinhole_discover(ph, sup, &err);
    np_progress_done();
    if (rc != NP_OK) {
        np_out_error(a->cmd, &err);
        np_pinhole_free(ph);
        *code = np_exit_code(rc);
        return NULL;
    }
    return ph;
}

/* pinholes.json in the directory of the mapping store (store.h). */
static int store_path(char *buf, size_t size, int mk)
{
    char m[600], *slash, *p;

    if (np_store_default_path(m, sizeof(m), NULL) != NP_OK)
        return -1;
    slash = strrchr(m, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (mk)
        for (p = m + 1;; p++) {
            if (*p == '/' || *p == '\0') {
                char c = *p;
                *p = '\0';
                (void)mkdir(m, 0700);
                *p = c;
                if (c == '\0')
                    break;
            }
        }
    if ((size_t)snprintf(buf, size, "%s/%s", m, PH_STORE_NAME) >= size)
        return -1;
    return 0;
}

static cJSON *support_json(const np_pinhole *ph, const np_v6_pinholes *s)
{
    cJSON *o = cJSON_CreateObject();
    char ip[NP_ADDRSTRLEN];

    cJSON_AddStringToObject(
        o, "address", np_addr_ip_str(np_pinhole_local(ph), ip, sizeof(ip)));
    cJSON_AddStringToObject(o, "gateway",
                            np_addr_ip_str(&s->gateway, ip, sizeof(ip)));
    cJSON_AddBoolToObject(o, "upnp_firewall_control", s->upnp_fwctl);
    if (s->upnp_inbound >= 0)
        cJSON_AddBoolToObject(o, "upnp_inbound_pinhole_allowed",
                              s->upnp_inbound);
    else
        cJSON_AddNullToObject(o, "upnp_inbound_pinhole_allowed");
    cJSON_AddBoolToObject(o, "pcp_answered", s->pcp_answered);
    return o;
}

/* Ctrl-C or SIGTERM during an open: the library stops and takes back the
 * pinholes the run added. */
static volatile sig_atomic_t open6_cancel;

static void on_signal(int sig)
{
    (void)sig;
    open6_cancel = 1;
}

static void signals6(int on, struct sigaction old[2])
{
    struct sigaction sa;

    if (!on) {
        (void)sigaction(SIGINT, &old[0], NULL);
        (void)sigaction(SIGTERM, &old[1], NULL);
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    open6_cancel = 0;
    (void)sigaction(SIGINT, &sa, &old[0]);
    (void)sigaction(SIGTERM, &sa, &old[1]);
}

/* Load the pinhole store; on failure the message and the exit code. */
static int load_store(const struct pm_args *a, char *path, size_t size, int mk,
                      np_ph_store *st)
{
    np_error err;

    np_error_clear(&err);
    if (store_path(path, size, mk) != 0 ||
        np_ph_store_load(path, st, &err) != NP_OK) {
        np_out_errorf(a->cmd, "cannot read the pinhole store: %s", err.msg);
        return NP_EXIT_INTERNAL;
    }
    return -1;
}

static void run_of(const struct pm_args *a, const np_v6_pinholes *sup,
                   np_ph_run *run)
{
    memset(run, 0, sizeof(*run));
    run->rules = a->rules;
    run->n_rules = a->nrules;
    run->device = a->have_for ? &a->for_addr : NULL;
    run->lifetime = a->lease;
    run->via = a->via;
    run->sup = sup;
    run->all = a->all;
}

static void open_item_json(cJSON *arr, const np_ph_item *it)
{
    cJSON *o = cJSON_CreateObject();
    char ip[NP_ADDRSTRLEN];

    cJSON_AddStringToObject(o, "transport",
                            np_pm_transport_name(it->transport));
    cJSON_AddNumberToObject(o, "port", it->port);
    cJSON_AddStringToObject(o, "internal",
                            np_addr_ip_str(&it->internal, ip, sizeof(ip)));
    cJSON_AddStringToObject(o, "label", it->label);
    cJSON_AddStringToObject(o, "status", it->status);
    cJSON_AddStringToObject(o, "protocol", np_pm_proto_name(it->proto));
    cJSON_AddNumberToObject(o, "code", it->code);
    cJSON_AddStringToObject(o, "message", it->message);
    cJSON_AddNumberToObject(o, "lifetime", it->lifetime);
    cJSON_AddStringToObject(o, "uid", it->uid);
    if (it->manual[0] != '\0')
        cJSON_AddStringToObject(o, "manual", it->manual);
    cJSON_AddItemToArray(arr, o);
}

static void open_item_text(const np_ph_item *it)
{
    const char *c = it->outcome == NP_PM_OK ? np_c_good() : np_c_bad();
    char rule[32];

    snprintf(rule, sizeof(rule), "%s %u", np_pm_transport_name(it->transport),
             (unsigned)it->port);
    printf("  %-10s %s%-20s%s %s, %s", rule, c, it->status, np_c_reset(),
           np_pm_proto_name(it->proto), it->message);
    if (it->outcome == NP_PM_OK)
        printf(", lease %u s", (unsigned)it->lifetime);
    printf("\n");
    if (it->manual[0] != '\0')
        np_out_wrap("             ", "             ", it->manual);
}

static void open_render(const struct pm_args *a, const np_pinhole *ph,
                        const np_v6_pinholes *sup, const np_ph_report *rep,
                        int counts)
{
    char ip[NP_ADDRSTRLEN], gw[NP_ADDRSTRLEN];
    cJSON *j, *arr;
    size_t i;

    if (!a->json) {
        printf("IPv6 pinholes for %s (router %s)\n",
               np_addr_ip_str(a->have_for ? &a->for_addr : np_pinhole_local(ph),
                              ip, sizeof(ip)),
               np_addr_ip_str(&sup->gateway, gw, sizeof(gw)));
        for (i = 0; i < rep->n; i++)
            open_item_text(&rep->items[i]);
        return;
    }
    j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "ipv6", 1);
    cJSON_AddItemToObject(j, "router", support_json(ph, sup));
    arr = cJSON_AddArrayToObject(j, "pinholes");
    for (i = 0; i < rep->n; i++)
        open_item_json(arr, &rep->items[i]);
    if (counts) {
        cJSON_AddNumberToObject(j, "opened", rep->opened);
        cJSON_AddNumberToObject(j, "refused", rep->refused);
    }
    pm_json_out(j);
}

/* Apply, then save the store (a failed save takes the run's new pinholes
 * back: the store is what close removes). */
static int open_run(const struct pm_args *a, np_pinhole *ph,
                    const np_v6_pinholes *sup, np_ph_store *st,
                    const char *path)
{
    np_ph_report rep;
    np_ph_run run;
    np_error err;
    struct sigaction old[2];
    int rc, code;

    run_of(a, sup, &run);
    run.cancel = &open6_cancel;
    np_error_clear(&err);
    signals6(1, old);
    rc = np_ph_apply(ph, st, &run, &rep, &err);
    signals6(0, old);
    if (rc == NP_OK && rep.store_changed &&
        np_ph_store_save(path, st, &err) != NP_OK) {
        (void)np_ph_rollback(ph, st, &rep);
        rc = NP_ESYS;
    }
    open_render(a, ph, sup, &rep, rc == NP_OK);
    if (rc != NP_OK) {
        np_out_error(a->cmd, &err);
        code = rc == NP_ECANCELED ? np_exit_code(rc) : NP_EXIT_INTERNAL;
    } else {
        code = rep.refused ? NP_EXIT_PROBLEM : NP_EXIT_OK;
    }
    np_ph_report_free(&rep);
    return code;
}

int pinhole_open_mode(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_v6_pinholes sup;
    np_pinhole *ph = NULL;
    np_ph_store st;
    char path[700];
    int code;

    memset(&st, 0, sizeof(st));
    if (a == NULL)
        return NP_EXIT_INTERNAL;
    code = parse6(argc, argv, a, usage_open, 0);
    if (code >= 0)
        goto out;
    if (a->nrules == 0) {
        np_out_errorf(a->cmd, "the profiles have no inbound ports to open");
        code = NP_EXIT_OK;
        goto out;
    }
    ph = session6(a, &sup, &code);
    if (ph == NULL)
        goto out;
    code = load_store(a, path, sizeof(path), 1, &st);
    if (code >= 0)
        goto out;
    code = open_run(a, ph, &sup, &st, path);
out:
    np_ph_store_free(&st);
    np_pinhole_free(ph);
    free(a);
    return code;
}

static void close_item(const struct pm_args *a, cJSON *arr,
                       const np_ph_item *it)
{
    char ip[NP_ADDRSTRLEN];

    if (it->error) {
        np_out_error(a->cmd, &it->err);
        return;
    }
    np_addr_ip_str(&it->internal, ip, sizeof(ip));
    if (arr != NULL) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "transport",
                                np_pm_transport_name(it->transport));
        cJSON_AddNumberToObject(o, "port", it->port);
        cJSON_AddStringToObject(o, "internal", ip);
        cJSON_AddStringToObject(o, "protocol", np_pm_proto_name(it->proto));
        cJSON_AddStringToObject(o, "status", it->status);
        cJSON_AddStringToObject(o, "message", it->message);
        cJSON_AddItemToArray(arr, o);
    } else {
        printf("  %s %-5u %s  %s (%s)\n", np_pm_transport_name(it->transport),
               (unsigned)it->port, ip,
               it->outcome == NP_PM_OK          ? "removed"
               : it->outcome == NP_PM_NOT_FOUND ? "already gone"
                                                : it->message,
               np_pm_proto_name(it->proto));
    }
}

static int close_run(const struct pm_args *a, np_pinhole *ph,
                     const np_v6_pinholes *sup, np_ph_store *st,
                     const char *path)
{
    np_ph_report rep;
    np_ph_run run;
    np_error err;
    cJSON *j = NULL, *arr = NULL;
    size_t i;
    int code;

    run_of(a, sup, &run);
    np_error_clear(&err);
    if (np_ph_close(ph, st, &run, &rep, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        np_ph_report_free(&rep);
        return NP_EXIT_INTERNAL;
    }
    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ipv6", 1);
        arr = cJSON_AddArrayToObject(j, "pinholes");
    }
    for (i = 0; i < rep.n; i++)
        close_item(a, arr, &rep.items[i]);
    if (rep.removed > 0 && np_ph_store_save(path, st, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        code = NP_EXIT_INTERNAL;
    } else {
        if (!a->json && rep.removed == 0 && rep.failed == 0)
            printf("no IPv6 pinholes of natpilot's to remove\n");
        code = rep.failed ? NP_EXIT_PROBLEM : NP_EXIT_OK;
        if (j != NULL) {
            cJSON_AddNumberToObject(j, "removed", rep.removed);
            cJSON_AddNumberToObject(j, "failed", rep.failed);
        }
    }
    if (j != NULL)
        pm_json_out(j);
    np_ph_report_free(&rep);
    return code;
}

int pinhole_close_mode(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_v6_pinholes sup;
    np_pinhole *ph = NULL;
    np_ph_store st;
    char path[700];
    int code;

    memset(&st, 0, sizeof(st));
    if (a == NULL)
        return NP_EXIT_INTERNAL;
    code = parse6(argc, argv, a, usage_close, 1);
    if (code >= 0)
        goto out;
    code = load_store(a, path, sizeof(path), 0, &st);
    if (code >= 0)
        goto out;
    ph = session6(a, &sup, &code);
    if (ph == NULL)
        goto out;
    code = close_run(a, ph, &sup, &st, path);
out:
    np_ph_store_free(&st);
    np_pinhole_free(ph);
    free(a);
    return code;
}

static void verify_render(const struct pm_args *a, const np_pinhole *ph,
                          const np_v6_pinholes *sup, const np_ph_report *rep)
{
    char ip[NP_ADDRSTRLEN];
    cJSON *j = NULL, *arr = NULL;
    size_t i;

    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ipv6", 1);
        cJSON_AddItemToObject(j, "router", support_json(ph, sup));
        arr = cJSON_AddArrayToObject(j, "pinholes");
    }
    for (i = 0; i < rep->n; i++) {
        const np_ph_item *it = &rep->items[i];

        np_addr_ip_str(&it->internal, ip, sizeof(ip));
        if (arr != NULL) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "transport",
                                    np_pm_transport_name(it->transport));
            cJSON_AddNumberToObject(o, "port", it->port);
            cJSON_AddStringToObject(o, "internal", ip);
            cJSON_AddStringToObject(o, "status", it->status);
            cJSON_AddBoolToObject(o, "in_store", it->in_store);
            if (it->reachable >= 0)
                cJSON_AddBoolToObject(o, "reachable", it->reachable);
            else
                cJSON_AddNullToObject(o, "reachable");
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("  %s %-5u %s  %s%s\n", np_pm_transport_name(it->transport),
                   (unsigned)it->port, ip, it->status,
                   it->reachable == 1 ? " (proven from outside over IPv6)"
                                      : "");
        }
    }
    if (j != NULL)
        pm_json_out(j);
}

int pinhole_verify_mode(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_v6_pinholes sup;
    np_pinhole *ph = NULL;
    np_ph_store st;
    np_ph_report rep;
    np_ph_run run;
    np_addr server;
    char path[700];
    int code, have_server = 0;
    np_error err;

    memset(&st, 0, sizeof(st));
    memset(&rep, 0, sizeof(rep));
    memset(&server, 0, sizeof(server));
    if (a == NULL)
        return NP_EXIT_INTERNAL;
    code = parse6(argc, argv, a, usage_verify, 0);
    if (code >= 0)
        goto out;
    if (a->stun != NULL) {
        if (np_addr_resolve(&server, a->stun, NP_STUN_DEFAULT_PORT, AF_INET6,
                            &err) != NP_OK) {
            np_out_error(a->cmd, &err);
            code = NP_EXIT_USAGE;
            goto out;
        }
        have_server = 1;
    }
    code = load_store(a, path, sizeof(path), 0, &st);
    if (code >= 0)
        goto out;
    ph = session6(a, &sup, &code);
    if (ph == NULL)
        goto out;
    run_of(a, &sup, &run);
    run.stun = have_server ? &server : NULL;
    if (np_ph_verify(ph, &st, &run, &rep, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        code = NP_EXIT_INTERNAL;
        goto out;
    }
    verify_render(a, ph, &sup, &rep);
    code = rep.bad ? NP_EXIT_PROBLEM : NP_EXIT_OK;
out:
    np_ph_report_free(&rep);
    np_ph_store_free(&st);
    np_pinhole_free(ph);
    free(a);
    return code;
}
