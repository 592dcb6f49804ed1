/*
 * natpilot close: remove natpilot's own mappings only. UPnP mappings are
 * recognised by the natpilot tag in their description; PCP and NAT-PMP
 * mappings by the state file open wrote (with their PCP nonces). Other
 * devices' and other programs' mappings stay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pmcli.h"

static const char usage[] =
    "usage: natpilot close [PROFILE...] [--port PROTO:PORT[-PORT]]... [--all]\n"
    "                      [--for ADDRESS] [--via pcp|natpmp|upnp] [--json]\n"
    "\n"
    "Remove the mappings natpilot made for the profiles' ports (or --port\n"
    "rules), or with --all every mapping natpilot made. Mappings made by\n"
    "other programs or devices are never touched.\n"
    "Exit: 0 done, 1 something could not be removed, 2 usage, 3 no router.\n";

static int wanted(const struct pm_args *a, int transport, uint16_t port)
{
    size_t i;

    if (a->all)
        return 1;
    for (i = 0; i < a->nrules; i++)
        if (a->rules[i].transport == transport && a->rules[i].port == port)
            return 1;
    return 0;
}

static void report(const struct pm_args *a, cJSON *arr, int transport,
                   uint16_t port, const np_addr *internal,
                   const np_pm_result *r)
{
    char in[NP_ADDRSTRLEN], head[128];
    const char *status = r->outcome == NP_PM_OK          ? "removed"
                         : r->outcome == NP_PM_NOT_FOUND ? "gone"
                                                         : "failed";

    np_addr_ip_str(internal, in, sizeof(in));
    if (a->json) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "protocol", np_pm_transport_name(transport));
        cJSON_AddNumberToObject(o, "port", port);
        cJSON_AddStringToObject(o, "internal", in);
        cJSON_AddStringToObject(o, "status", status);
        cJSON_AddStringToObject(o, "via", np_pm_proto_name(r->proto));
        cJSON_AddStringToObject(o, "message", r->message);
        cJSON_AddItemToArray(arr, o);
        return;
    }
    snprintf(head, sizeof(head), "  %-3s %-5u %-15s ",
             np_pm_transport_name(transport), (unsigned)port, in);
    np_out_wrapf(head, "              ", "%s%s%s (%s: %s)",
                 r->outcome == NP_PM_OK ? np_c_good() : np_c_warn(), status,
                 np_c_reset(), np_pm_proto_name(r->proto), r->message);
}

int np_cmd_close(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    struct pm_state st;
    np_pm_discovery d;
    np_portmap *pm = NULL;
    np_pm_mapping *tab = NULL;
    size_t ntab = 0, i;
    int code, failed = 0, removed = 0;
    cJSON *j = NULL, *arr = NULL;
    np_error err;

    memset(&st, 0, sizeof(st));
    if (a == NULL)
        return NP_EXIT_NETWORK;
    code = pm_parse(argc, argv, a, usage, 1);
    if (code < 0)
        code = pm_resolve_profiles(a);
    if (code >= 0)
        goto out;
    memset(&d, 0, sizeof(d));
    pm = pm_session(a, 1, &d, &code);
    if (pm == NULL)
        goto out;
    pm_print_discovery(a, &d);
    (void)pm_state_load(&st);
    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "discovery", pm_discovery_json(&d));
        arr = cJSON_AddArrayToObject(j, "mappings");
    }
    /* 1. what natpilot made (state file; UPnP ones too) */
    for (i = st.n; i-- > 0;) {
        struct pm_state_entry *e = &st.e[i];
        np_pm_request q;
        np_pm_result r;
        np_addr who;

        /* A rule's mapping may sit on an alternate external port (a
         * platform that accepts one): its internal port matches then. */
        if (!np_addr_same_ip(&e->gateway, &d.gateway) ||
            (!wanted(a, e->transport, e->external_port) &&
             !wanted(a, e->transport, e->internal_port)))
            continue;
        if (a->have_for && !np_addr_same_ip(&e->internal, &a->for_addr))
            continue;
        if (!a->have_for && !a->all && np_addr_is_set(&e->internal))
            continue;
        if (a->via != NP_PM_NONE && a->via != e->proto)
            continue;
        memset(&q, 0, sizeof(q));
        q.transport = e->transport;
        q.internal_port = e->internal_port;
        q.external_port = e->external_port;
        q.internal = e->internal;
        q.owned = 1; /* recorded by natpilot open */
        memcpy(q.nonce, e->nonce, 12);
        memset(&r, 0, sizeof(r));
        if (np_portmap_use(pm, e->proto, NULL) != NP_OK ||
            np_portmap_delete(pm, &q, &r, &err) != NP_OK) {
            r.proto = e->proto;
            r.outcome = NP_PM_FAILED;
            snprintf(r.message, sizeof(r.message),
                     "the router no longer answers %s",
                     np_pm_proto_name(e->proto));
        }
        (void)np_portmap_use(pm, NP_PM_NONE, NULL);
        who = np_addr_is_set(&e->internal) ? e->internal : d.local;
        report(a, arr, e->transport, e->external_port, &who, &r);
        if (r.outcome == NP_PM_OK || r.outcome == NP_PM_NOT_FOUND) {
            removed += r.outcome == NP_PM_OK;
            pm_state_del(&st, i);
        } else {
            failed++;
        }
    }
    (void)pm_state_save(&st);
    /* 2. UPnP mappings carrying the natpilot tag */
    if (d.has[NP_PM_UPNP] && (a->via == NP_PM_NONE || a->via == NP_PM_UPNP) &&
        np_portmap_use(pm, NP_PM_UPNP, NULL) == NP_OK &&
        np_portmap_list(pm, &tab, &ntab, &err) == NP_OK) {
        for (i = 0; i < ntab; i++) {
            np_pm_request q;
            np_pm_result r;

            if (!tab[i].ours ||
                (!wanted(a, tab[i].transport, tab[i].external_port) &&
                 !wanted(a, tab[i].transport, np_addr_port(&tab[i].internal))))
                continue;
            if (a->have_for && !np_addr_same_ip(&tab[i].internal, &a->for_addr))
                continue;
            if (!a->have_for && !a->all &&
                !np_addr_same_ip(&tab[i].internal, &d.local))
                continue;
            memset(&q, 0, sizeof(q));
            q.transport = tab[i].transport;
            q.external_port = tab[i].external_port;
            q.internal_port = np_addr_port(&tab[i].internal);
            q.internal = tab[i].internal;
            np_addr_set_port(&q.internal, 0);
            if (np_portmap_delete(pm, &q, &r, &err) != NP_OK) {
                r.proto = NP_PM_UPNP;
                r.outcome = NP_PM_FAILED;
                snprintf(r.message, sizeof(r.message), "%.190s", err.msg);
            }
            report(a, arr, q.transport, q.external_port, &q.internal, &r);
            if (r.outcome == NP_PM_OK)
                removed++;
            else if (r.outcome != NP_PM_NOT_FOUND)
                failed++;
        }
    }
    (void)np_portmap_use(pm, NP_PM_NONE, NULL);
    if (a->json) {
        cJSON_AddNumberToObject(j, "removed", removed);
        cJSON_AddNumberToObject(j, "failed", failed);
        pm_json_out(j);
    } else {
        printf("\n%d mapping%s removed%s.\n", removed, removed == 1 ? "" : "s",
               failed ? ", some could not be" : "");
    }
    code = failed ? NP_EXIT_PROBLEM : NP_EXIT_OK;
out:
    free(tab);
    np_portmap_free(pm);
    pm_state_free(&st);
    free(a);
    return code;
}
