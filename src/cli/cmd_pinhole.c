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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "natpilot/netinfo.h"
#include "natpilot/pinhole.h"
#include "natpilot/probe.h"
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

static const char *status_of(const np_ph_result *r)
{
    switch (r->outcome) {
    case NP_PM_OK:
    case NP_PM_OTHER_PORT:
        return "open";
    case NP_PM_POLICY:
        return "refused";
    case NP_PM_THIRD_PARTY:
        return "third-party-refused";
    case NP_PM_TIMEOUT:
        return "timeout";
    case NP_PM_UNSUPPORTED:
        return "unsupported";
    case NP_PM_NOT_FOUND:
        return "not-found";
    case NP_PM_CONFLICT:
    case NP_PM_PERMANENT_ONLY:
    case NP_PM_OTHER_DEVICE:
    case NP_PM_FAILED:
    default:
        return "failed";
    }
}

/* What the player does by hand when the router refuses (data for both
 * outputs). */
static void manual_steps(const np_ph_result *r, const np_v6_pinholes *sup,
                         const char *ip, int transport, unsigned port,
                         char *buf, size_t size)
{
    const char *t = np_pm_transport_name(transport);

    switch (r->outcome) {
    case NP_PM_THIRD_PARTY:
        snprintf(buf, size,
                 "The router opens pinholes only for the device that asks "
                 "(UPnP secure mode, PCP without THIRD_PARTY). Let the device "
                 "open its own (UPnP on "
                 "in the router; consoles do this), or allow inbound %s port "
                 "%u to %s in the router's IPv6 firewall settings.",
                 t, port, ip);
        break;
    case NP_PM_POLICY:
        snprintf(buf, size,
                 "The router's IPv6 firewall control is disabled%s. Turn on "
                 "\"allow UPnP/PCP to open IPv6 ports\" (the name varies), "
                 "or add the rule by hand: allow inbound %s port %u to %s "
                 "in the IPv6 firewall.",
                 sup->upnp_inbound == 0
                     ? " (UPnP GetFirewallStatus: InboundPinholeAllowed = 0)"
                     : "",
                 t, port, ip);
        break;
    case NP_PM_UNSUPPORTED:
    case NP_PM_TIMEOUT:
        snprintf(buf, size,
                 "The router takes no pinhole requests over IPv6. Allow "
                 "inbound %s port %u to %s in the router's IPv6 firewall "
                 "settings, or turn on UPnP (IGDv2) or PCP there.",
                 t, port, ip);
        break;
    case NP_PM_OK:
    case NP_PM_OTHER_PORT:
    case NP_PM_CONFLICT:
    case NP_PM_NOT_FOUND:
    case NP_PM_OTHER_DEVICE:
    case NP_PM_PERMANENT_ONLY:
    case NP_PM_FAILED:
    default:
        buf[0] = '\0';
        break;
    }
}

static void fill_req(const struct pm_args *a, const np_pinhole *ph,
                     const np_sess_rule *r, np_ph_request *q)
{
    memset(q, 0, sizeof(*q));
    q->transport = r->transport;
    q->internal = a->have_for ? a->for_addr : *np_pinhole_local(ph);
    np_addr_set_port(&q->internal, r->port);
    q->lifetime = a->lease > 86400 ? 86400 : a->lease;
    q->proto = a->via;
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

int np_cmd_open6(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_v6_pinholes sup;
    np_pinhole *ph = NULL;
    np_ph_store st;
    char path[700], ip[NP_ADDRSTRLEN], rule[32], steps[400];
    cJSON *j = NULL, *arr = NULL;
    size_t i;
    int code, opened = 0, refused = 0;
    np_error err;

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
    np_error_clear(&err);
    if (store_path(path, sizeof(path), 1) != 0 ||
        np_ph_store_load(path, &st, &err) != NP_OK) {
        np_out_errorf(a->cmd, "cannot read the pinhole store: %s", err.msg);
        code = NP_EXIT_INTERNAL;
        goto out;
    }
    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ipv6", 1);
        cJSON_AddItemToObject(j, "router", support_json(ph, &sup));
        arr = cJSON_AddArrayToObject(j, "pinholes");
    } else {
        printf("IPv6 pinholes for %s (router %s)\n",
               np_addr_ip_str(a->have_for ? &a->for_addr : np_pinhole_local(ph),
                              ip, sizeof(ip)),
               np_addr_ip_str(&sup.gateway, rule, sizeof(rule)));
    }
    for (i = 0; i < a->nrules; i++) {
        const np_sess_rule *r = &a->rules[i];
        np_ph_request q;
        np_ph_result res;
        long k;
        int rc;

        fill_req(a, ph, r, &q);
        k = np_ph_store_find(&st, q.transport, &q.internal);
        np_error_clear(&err);
        if (k >= 0 && st.e[k].proto != NP_PM_NONE &&
            (a->via == NP_PM_NONE || a->via == st.e[k].proto)) {
            /* Ours already: renew it (UpdatePinhole / PCP with its nonce).
             * If the router lost it (704, a restart), open it again. */
            q.proto = st.e[k].proto;
            memcpy(q.uid, st.e[k].uid, sizeof(q.uid));
            memcpy(q.nonce, st.e[k].nonce, sizeof(q.nonce));
            rc = np_pinhole_update(ph, &q, &res, &err);
            if (rc == NP_OK && res.outcome == NP_PM_NOT_FOUND) {
                q.uid[0] = '\0';
                rc = np_pinhole_add(ph, &q, &res, &err);
            }
        } else {
            rc = np_pinhole_add(ph, &q, &res, &err);
        }
        if (rc != NP_OK) {
            np_out_error(a->cmd, &err);
            code = NP_EXIT_INTERNAL;
            goto out;
        }
        if (res.outcome == NP_PM_OK) {
            np_ph_entry e;

            memset(&e, 0, sizeof(e));
            e.proto = res.proto;
            e.transport = q.transport;
            e.internal = q.internal;
            e.gateway = sup.gateway;
            np_addr_set_port(&e.gateway, 0);
            memcpy(e.uid, res.uid, sizeof(e.uid));
            memcpy(e.nonce, res.nonce, sizeof(e.nonce));
            e.lifetime = res.lifetime;
            e.expires = (int64_t)time(NULL) + res.lifetime;
            if (np_ph_store_put(&st, &e) != NP_OK) {
                code = NP_EXIT_INTERNAL;
                goto out;
            }
            opened++;
        } else {
            refused++;
        }
        manual_steps(&res, &sup, np_addr_ip_str(&q.internal, ip, sizeof(ip)),
                     q.transport, r->port, steps, sizeof(steps));
        snprintf(rule, sizeof(rule), "%s %u",
                 np_pm_transport_name(r->transport), (unsigned)r->port);
        if (a->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "transport",
                                    np_pm_transport_name(r->transport));
            cJSON_AddNumberToObject(o, "port", r->port);
            cJSON_AddStringToObject(o, "internal", ip);
            cJSON_AddStringToObject(o, "label", r->label);
            cJSON_AddStringToObject(o, "status", status_of(&res));
            cJSON_AddStringToObject(o, "protocol", np_pm_proto_name(res.proto));
            cJSON_AddNumberToObject(o, "code", res.code);
            cJSON_AddStringToObject(o, "message", res.message);
            cJSON_AddNumberToObject(o, "lifetime", res.lifetime);
            cJSON_AddStringToObject(o, "uid", res.uid);
            if (steps[0] != '\0')
                cJSON_AddStringToObject(o, "manual", steps);
            cJSON_AddItemToArray(arr, o);
        } else {
            const char *c = res.outcome == NP_PM_OK ? np_c_good() : np_c_bad();
            printf("  %-10s %s%-20s%s %s, %s", rule, c, status_of(&res),
                   np_c_reset(), np_pm_proto_name(res.proto), res.message);
            if (res.outcome == NP_PM_OK)
                printf(", lease %u s", (unsigned)res.lifetime);
            printf("\n");
            if (steps[0] != '\0')
                np_out_wrap("             ", "             ", steps);
        }
    }
    if (opened > 0 && np_ph_store_save(path, &st, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        code = NP_EXIT_INTERNAL;
        goto out;
    }
    code = refused ? NP_EXIT_PROBLEM : NP_EXIT_OK;
    if (j != NULL) {
        cJSON_AddNumberToObject(j, "opened", opened);
        cJSON_AddNumberToObject(j, "refused", refused);
    }
out:
    if (j != NULL)
        pm_json_out(j);
    np_ph_store_free(&st);
    np_pinhole_free(ph);
    free(a);
    return code;
}

/* The entries of the store a close/verify run is about. */
static int selected(const struct pm_args *a, const np_ph_entry *e)
{
    size_t i;

    if (a->all)
        return 1;
    if (a->have_for && !np_addr_same_ip(&e->internal, &a->for_addr))
        return 0;
    for (i = 0; i < a->nrules; i++)
        if (a->rules[i].transport == e->transport &&
            a->rules[i].port == np_addr_port(&e->internal))
            return 1;
    return 0;
}

int np_cmd_close6(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_v6_pinholes sup;
    np_pinhole *ph = NULL;
    np_ph_store st;
    char path[700], ip[NP_ADDRSTRLEN];
    cJSON *j = NULL, *arr = NULL;
    size_t i;
    int code, removed = 0, failed = 0;
    np_error err;

    memset(&st, 0, sizeof(st));
    if (a == NULL)
        return NP_EXIT_INTERNAL;
    code = parse6(argc, argv, a, usage_close, 1);
    if (code >= 0)
        goto out;
    np_error_clear(&err);
    if (store_path(path, sizeof(path), 0) != 0 ||
        np_ph_store_load(path, &st, &err) != NP_OK) {
        np_out_errorf(a->cmd, "cannot read the pinhole store: %s", err.msg);
        code = NP_EXIT_INTERNAL;
        goto out;
    }
    ph = session6(a, &sup, &code);
    if (ph == NULL)
        goto out;
    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ipv6", 1);
        arr = cJSON_AddArrayToObject(j, "pinholes");
    }
    for (i = st.n; i-- > 0;) {
        np_ph_entry *e = &st.e[i];
        np_ph_request q;
        np_ph_result res;

        if (!selected(a, e))
            continue;
        memset(&q, 0, sizeof(q));
        q.transport = e->transport;
        q.internal = e->internal;
        q.proto = e->proto;
        memcpy(q.uid, e->uid, sizeof(q.uid));
        memcpy(q.nonce, e->nonce, sizeof(q.nonce));
        if (np_pinhole_delete(ph, &q, &res, &err) != NP_OK) {
            np_out_error(a->cmd, &err);
            failed++;
            continue;
        }
        np_addr_ip_str(&e->internal, ip, sizeof(ip));
        /* Gone from the router either way when it says NoSuchEntry. */
        if (res.outcome == NP_PM_OK || res.outcome == NP_PM_NOT_FOUND) {
            removed++;
        } else {
            failed++;
        }
        if (a->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "transport",
                                    np_pm_transport_name(e->transport));
            cJSON_AddNumberToObject(o, "port", np_addr_port(&e->internal));
            cJSON_AddStringToObject(o, "internal", ip);
            cJSON_AddStringToObject(o, "protocol", np_pm_proto_name(e->proto));
            cJSON_AddStringToObject(o, "status",
                                    res.outcome == NP_PM_OK ? "removed"
                                    : res.outcome == NP_PM_NOT_FOUND
                                        ? "already-gone"
                                        : status_of(&res));
            cJSON_AddStringToObject(o, "message", res.message);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("  %s %-5u %s  %s (%s)\n",
                   np_pm_transport_name(e->transport),
                   (unsigned)np_addr_port(&e->internal), ip,
                   res.outcome == NP_PM_OK          ? "removed"
                   : res.outcome == NP_PM_NOT_FOUND ? "already gone"
                                                    : res.message,
                   np_pm_proto_name(e->proto));
        }
        if (res.outcome == NP_PM_OK || res.outcome == NP_PM_NOT_FOUND)
            np_ph_store_del(&st, i);
    }
    if (removed > 0 && np_ph_store_save(path, &st, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        code = NP_EXIT_INTERNAL;
        goto out;
    }
    if (!a->json && removed == 0 && failed == 0)
        printf("no IPv6 pinholes of natpilot's to remove\n");
    code = failed ? NP_EXIT_PROBLEM : NP_EXIT_OK;
    if (j != NULL) {
        cJSON_AddNumberToObject(j, "removed", removed);
        cJSON_AddNumberToObject(j, "failed", failed);
    }
out:
    if (j != NULL)
        pm_json_out(j);
    np_ph_store_free(&st);
    np_pinhole_free(ph);
    free(a);
    return code;
}

int np_cmd_verify6(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_v6_pinholes sup;
    np_pinhole *ph = NULL;
    np_ph_store st;
    np_addr server;
    char path[700], ip[NP_ADDRSTRLEN];
    cJSON *j = NULL, *arr = NULL;
    size_t i;
    int code, bad = 0, have_server = 0;
    np_error err;

    memset(&st, 0, sizeof(st));
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
    np_error_clear(&err);
    if (store_path(path, sizeof(path), 0) != 0 ||
        np_ph_store_load(path, &st, &err) != NP_OK) {
        np_out_errorf(a->cmd, "cannot read the pinhole store: %s", err.msg);
        code = NP_EXIT_INTERNAL;
        goto out;
    }
    ph = session6(a, &sup, &code);
    if (ph == NULL)
        goto out;
    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ipv6", 1);
        cJSON_AddItemToObject(j, "router", support_json(ph, &sup));
        arr = cJSON_AddArrayToObject(j, "pinholes");
    }
    for (i = 0; i < a->nrules; i++) {
        const np_sess_rule *r = &a->rules[i];
        np_ph_request q;
        np_ph_result res;
        np_reach reach;
        long k;
        const char *status;
        int own, proven = -1;

        fill_req(a, ph, r, &q);
        own = !a->have_for;
        k = np_ph_store_find(&st, q.transport, &q.internal);
        memset(&res, 0, sizeof(res));
        res.working = -1;
        if (k >= 0 && st.e[k].proto == NP_PM_UPNP) {
            q.proto = NP_PM_UPNP;
            memcpy(q.uid, st.e[k].uid, sizeof(q.uid));
            (void)np_pinhole_check(ph, &q, &res, &err);
        }
        memset(&reach, 0, sizeof(reach));
        if (own && have_server && r->transport == NP_PM_UDP) {
            np_addr local = *np_pinhole_local(ph);
            if (np_probe_reachable(&server, NULL, &local, r->port, 100, 2000,
                                   &reach, &err) == NP_OK &&
                !reach.wrong_source)
                proven = reach.reachable;
        }
        if (proven == 1)
            status = "open";
        else if (proven == 0)
            status = "closed";
        else if (k < 0)
            status = "not-opened-by-natpilot";
        else if (res.outcome == NP_PM_NOT_FOUND)
            status = "missing";
        else
            status = "present";
        if (proven == 0 || res.outcome == NP_PM_NOT_FOUND ||
            (k < 0 && proven != 1))
            bad++;
        np_addr_ip_str(&q.internal, ip, sizeof(ip));
        if (a->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "transport",
                                    np_pm_transport_name(r->transport));
            cJSON_AddNumberToObject(o, "port", r->port);
            cJSON_AddStringToObject(o, "internal", ip);
            cJSON_AddStringToObject(o, "status", status);
            cJSON_AddBoolToObject(o, "in_store", k >= 0);
            if (proven >= 0)
                cJSON_AddBoolToObject(o, "reachable", proven);
            else
                cJSON_AddNullToObject(o, "reachable");
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("  %s %-5u %s  %s%s\n", np_pm_transport_name(r->transport),
                   (unsigned)r->port, ip, status,
                   proven == 1 ? " (proven from outside over IPv6)" : "");
        }
    }
    code = bad ? NP_EXIT_PROBLEM : NP_EXIT_OK;
out:
    if (j != NULL)
        pm_json_out(j);
    np_ph_store_free(&st);
    np_pinhole_free(ph);
    free(a);
    return code;
}
