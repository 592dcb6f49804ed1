/* natpilot program: the router's side of diagnose (see router_check.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "natpilot/profile.h"
#include "router_check.h"

/* Discovery inside diagnose waits less than open does: a router that has
 * not answered PCP or NAT-PMP in 600 ms, or SSDP in 800 ms, is reported as
 * silent (open and verify still wait their full time). */
#define DIAG_PM_TIMEOUT_MS 600
#define DIAG_SSDP_MAX_MS   800

static void *router_thread(void *arg)
{
    struct router_check *rc = arg;
    np_pm_options opt;
    np_portmap *pm;
    size_t i;

    memset(&opt, 0, sizeof(opt));
    /* UPnP first: diagnose wants every protocol's answer and the UPnP
     * table, and waiting for SSDP costs nothing beside the STUN probe. */
    opt.prefer[0] = NP_PM_UPNP;
    opt.prefer[1] = NP_PM_PCP;
    opt.prefer[2] = NP_PM_NATPMP;
    opt.timeout_ms = DIAG_PM_TIMEOUT_MS;
    opt.ssdp_max_ms = DIAG_SSDP_MAX_MS;
    /* An IGD answers M-SEARCH after a random delay of up to MX = 1 s
     * (miniupnpd does): give SSDP its whole window even when PCP answered
     * at once, or diagnose would sometimes report UPnP as absent. */
    opt.ssdp_window_ms = DIAG_SSDP_MAX_MS;
    np_error_clear(&rc->err);
    pm = np_portmap_new(&opt, &rc->err);
    if (pm == NULL) {
        rc->rc = rc->err.code;
        return NULL;
    }
    rc->rc = np_portmap_discover(pm, &rc->disc, &rc->err);
    if (rc->rc == NP_OK) {
        rc->any = rc->disc.has[NP_PM_PCP] || rc->disc.has[NP_PM_NATPMP] ||
                  rc->disc.has[NP_PM_UPNP];
        for (i = 0; i < NP_PM_NPROTO; i++)
            if (np_addr_is_set(&rc->disc.external[i])) {
                rc->external = rc->disc.external[i];
                break;
            }
        /* The UPnP table shows the mappings consoles made for themselves. */
        if (rc->disc.has[NP_PM_UPNP] &&
            np_portmap_use(pm, NP_PM_UPNP, NULL) == NP_OK &&
            np_portmap_list(pm, &rc->maps, &rc->n_maps, NULL) != NP_OK) {
            rc->maps = NULL;
            rc->n_maps = 0;
        }
    }
    np_portmap_free(pm);
    return NULL;
}

void router_check_start(struct router_check *rc)
{
    memset(rc, 0, sizeof(*rc));
    rc->started = pthread_create(&rc->thread, NULL, router_thread, rc) == 0;
}

void router_check_finish(struct router_check *rc)
{
    if (rc->started)
        pthread_join(rc->thread, NULL);
    else
        router_thread(rc);
    rc->started = 0;
}

void router_check_free(struct router_check *rc)
{
    free(rc->maps);
    rc->maps = NULL;
    rc->n_maps = 0;
}

void router_check_conclude(struct router_check *rc, const np_probe_obs *o,
                           const np_nat_verdict *v)
{
    np_advice_dnat_input in;
    np_advice_plan_input pin;
    np_catalog *cat;
    size_t i;

    memset(&in, 0, sizeof(in));
    in.mapped = o->test[0].answered ? &o->test[0].mapped : NULL;
    in.router_answered = rc->any;
    in.router_external = &rc->external;
    in.router_unsure = np_pm_discovery_external_unsure(&rc->disc);
    np_advice_double_nat(&in, &rc->dnat);
    rc->n_plan = 0;
    if (v->udp == NP_UDP_NO_ANSWER)
        return;
    memset(&pin, 0, sizeof(pin));
    pin.verdict = v;
    pin.double_nat = rc->dnat.verdict;
    pin.router_answered = rc->any;
    for (i = 0; i < NP_PM_NPROTO; i++)
        pin.has[i] = rc->disc.has[i];
    pin.igd_version = rc->disc.igd_version;
    cat = np_catalog_new();
    if (cat != NULL && np_catalog_load_embedded(cat, NULL, NULL) == NP_OK)
        pin.cat = cat;
    rc->n_plan = np_advice_plan(&pin, rc->plan);
    np_catalog_free(cat);
}

/* --- output ------------------------------------------------------------------
 */

void router_print(const struct router_check *rc, const np_probe_obs *o)
{
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN], protos[64];
    size_t i, mine = 0;
    int dn = rc->dnat.verdict;

    printf("\n%sRouter%s\n", np_c_bold(), np_c_reset());
    if (!np_addr_is_set(&rc->disc.gateway)) {
        printf("  Gateway           none found (%s)\n",
               rc->err.msg[0] ? rc->err.msg : "no default route");
    } else {
        printf("  Gateway           %s\n",
               np_addr_ip_str(&rc->disc.gateway, a, sizeof(a)));
        printf("  Answers           %s\n",
               rc->any
                   ? np_advice_proto_list(rc->disc.has, rc->disc.igd_version,
                                          protos, sizeof(protos))
                   : "none of PCP, NAT-PMP, UPnP-IGD");
    }
    if (np_addr_is_set(&rc->external)) {
        printf("  External address  %s",
               np_addr_ip_str(&rc->external, a, sizeof(a)));
        if (dn == 0)
            printf(" (the public address: the router holds it)\n");
        else if (dn == 1)
            printf("\n  %sDouble NAT%s        the internet sees %s: a second "
                   "NAT (double NAT or carrier-grade\n                    "
                   "NAT) sits beyond the router\n",
                   np_c_warn(), np_c_reset(),
                   np_addr_ip_str(&o->test[0].mapped, b, sizeof(b)));
        else
            printf(" (%s)\n", np_addr_scope_name(np_addr_scope(&rc->external)));
    }
    if (!np_addr_is_set(&rc->external))
        for (i = 0; i < NP_PM_NPROTO; i++)
            if (np_addr_is_set(&rc->disc.external_bogus[i])) {
                printf(
                    "  External address  unknown: the router does not "
                    "know its public address (%s said %s)\n",
                    np_pm_proto_name((enum np_pm_proto)i),
                    np_addr_ip_str(&rc->disc.external_bogus[i], a, sizeof(a)));
                break;
            }
    if (rc->disc.note[0] != '\0')
        np_out_wrap("  Note              ", "                    ",
                    rc->disc.note);
    for (i = 0; i < rc->disc.nsuspects; i++)
        printf("  %sSuspicious%s        %s answered from %s (not the gateway; "
               "ignored)\n",
               np_c_warn(), np_c_reset(),
               np_pm_proto_name(rc->disc.suspects[i].proto),
               np_addr_ip_str(&rc->disc.suspects[i].from, a, sizeof(a)));
    for (i = 0; i < rc->n_maps; i++) {
        const np_pm_mapping *m = &rc->maps[i];
        if (!np_addr_same_ip(&m->internal, &o->local_m))
            continue;
        printf("  %s %s %-5u -> %s \"%s\"%s\n",
               mine++ ? "                 " : "Mappings here    ",
               np_pm_transport_name(m->transport), (unsigned)m->external_port,
               np_addr_str(&m->internal, a, sizeof(a)), m->description,
               m->ours ? " (natpilot)" : "");
    }
    if (rc->disc.has[NP_PM_UPNP] && mine == 0)
        printf("  Mappings here     none for this device (UPnP table)\n");

    if (rc->n_plan == 0)
        return;
    printf("\n%sTo make each console Open%s\n", np_c_bold(), np_c_reset());
    for (i = 0; i < rc->n_plan; i++) {
        const np_advice_plan_item *it = &rc->plan[i];
        char head[40];
        snprintf(head, sizeof(head), "  %-11s %-9s ", it->platform, it->label);
        np_out_wrap(head, "                        ", it->action);
        if (it->command[0] != '\0')
            printf("    %s$ %s%s\n", np_c_dim(), it->command, np_c_reset());
    }
}

static cJSON *json_addr(const np_addr *a, int with_port)
{
    char buf[NP_ADDRSTRLEN];

    if (!np_addr_is_set(a))
        return cJSON_CreateNull();
    return cJSON_CreateString(with_port ? np_addr_str(a, buf, sizeof(buf))
                                        : np_addr_ip_str(a, buf, sizeof(buf)));
}

cJSON *router_json(const struct router_check *rc, const np_probe_obs *o)
{
    cJSON *r = cJSON_CreateObject(), *arr;
    int dn = rc->dnat.verdict;
    size_t i;

    cJSON_AddItemToObject(r, "gateway", json_addr(&rc->disc.gateway, 0));
    cJSON_AddBoolToObject(r, "pcp", rc->disc.has[NP_PM_PCP]);
    cJSON_AddBoolToObject(r, "natpmp", rc->disc.has[NP_PM_NATPMP]);
    cJSON_AddBoolToObject(r, "upnp", rc->disc.has[NP_PM_UPNP]);
    if (rc->disc.has[NP_PM_UPNP]) {
        cJSON_AddNumberToObject(r, "igd_version", rc->disc.igd_version);
        cJSON_AddStringToObject(r, "igd_url", rc->disc.igd_url);
    } else {
        cJSON_AddNullToObject(r, "igd_version");
        cJSON_AddNullToObject(r, "igd_url");
    }
    cJSON_AddItemToObject(r, "external_address", json_addr(&rc->external, 0));
    if (dn < 0)
        cJSON_AddNullToObject(r, "double_nat");
    else
        cJSON_AddBoolToObject(r, "double_nat", dn);
    cJSON_AddStringToObject(r, "note", rc->disc.note);
    arr = cJSON_AddArrayToObject(r, "suspects");
    for (i = 0; i < rc->disc.nsuspects; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "protocol",
                                np_pm_proto_name(rc->disc.suspects[i].proto));
        cJSON_AddItemToObject(s, "from",
                              json_addr(&rc->disc.suspects[i].from, 0));
        cJSON_AddStringToObject(s, "what", rc->disc.suspects[i].what);
        cJSON_AddItemToArray(arr, s);
    }
    arr = cJSON_AddArrayToObject(r, "mappings");
    for (i = 0; i < rc->n_maps; i++) {
        const np_pm_mapping *m = &rc->maps[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "protocol",
                                np_pm_transport_name(m->transport));
        cJSON_AddNumberToObject(j, "external_port", m->external_port);
        cJSON_AddItemToObject(j, "internal", json_addr(&m->internal, 1));
        cJSON_AddStringToObject(j, "description", m->description);
        cJSON_AddBoolToObject(j, "natpilot", m->ours);
        cJSON_AddBoolToObject(j, "this_device",
                              np_addr_same_ip(&m->internal, &o->local_m));
        cJSON_AddNumberToObject(j, "lease", m->lifetime);
        cJSON_AddItemToArray(arr, j);
    }
    return r;
}

cJSON *router_plan_json(const struct router_check *rc)
{
    cJSON *arr = cJSON_CreateArray();
    size_t i;

    for (i = 0; i < rc->n_plan; i++) {
        const np_advice_plan_item *it = &rc->plan[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "platform", it->platform);
        cJSON_AddStringToObject(j, "label", it->label);
        cJSON_AddStringToObject(j, "profile", it->profile);
        cJSON_AddStringToObject(j, "action", it->action);
        if (it->command[0] != '\0')
            cJSON_AddStringToObject(j, "command", it->command);
        else
            cJSON_AddNullToObject(j, "command");
        cJSON_AddItemToArray(arr, j);
    }
    return arr;
}
