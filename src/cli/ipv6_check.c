/* natpilot program: the IPv6 side of diagnose (see ipv6_check.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ipv6_check.h"
#include "natpilot/netinfo.h"

/* As the IPv4 router check in diagnose: a router silent for this long is
 * reported as such (the STUN probes take about as long). */
#define DIAG_V6_SSDP_MS 800
#define DIAG_V6_PCP_MS  600

void ipv6_check_local(struct ipv6_check *c)
{
    np_netif_addr a;
    np_gateway gw;

    memset(c, 0, sizeof(*c));
    c->in.probe_rc = NP_EINVAL;
    if (np_netinfo_global6(&a, NULL) == NP_OK) {
        c->in.has_global = 1;
        c->in.global = a.addr;
        memcpy(c->in.ifname, a.ifname, sizeof(c->in.ifname));
    }
    if (np_netinfo_default_gateway6(&gw, NULL) == NP_OK) {
        c->in.has_route = 1;
        c->in.gateway = gw.addr;
    }
}

static void *router_thread(void *arg)
{
    struct ipv6_check *c = arg;
    np_ph_options opt;
    np_pinhole *ph;

    memset(&opt, 0, sizeof(opt));
    opt.ssdp_ms = DIAG_V6_SSDP_MS;
    opt.timeout_ms = DIAG_V6_PCP_MS;
    np_error_clear(&c->err);
    ph = np_pinhole_new(&opt, &c->err);
    if (ph == NULL) {
        c->rc = c->err.code;
        return NULL;
    }
    c->rc = np_pinhole_discover(ph, &c->pinholes, &c->err);
    np_pinhole_free(ph);
    return NULL;
}

void ipv6_check_router_start(struct ipv6_check *c)
{
    if (!c->in.has_global || !c->in.has_route)
        return;
    c->asked = 1;
    c->started = pthread_create(&c->thread, NULL, router_thread, c) == 0;
}

void ipv6_check_router_finish(struct ipv6_check *c)
{
    if (!c->asked)
        return;
    if (c->started)
        pthread_join(c->thread, NULL);
    else
        router_thread(c);
    c->started = 0;
    if (c->rc == NP_OK)
        c->in.pinholes = &c->pinholes;
}

static cJSON *jaddr(const np_addr *a)
{
    char buf[NP_ADDRSTRLEN];

    if (!np_addr_is_set(a))
        return cJSON_CreateNull();
    return cJSON_CreateString(np_addr_str(a, buf, sizeof(buf)));
}

static cJSON *jip(const np_addr *a)
{
    char buf[NP_ADDRSTRLEN];

    if (!np_addr_is_set(a))
        return cJSON_CreateNull();
    return cJSON_CreateString(np_addr_ip_str(a, buf, sizeof(buf)));
}

static cJSON *jtri(int v)
{
    return v < 0 ? cJSON_CreateNull() : cJSON_CreateBool(v);
}

cJSON *ipv6_json(const np_ipv6_report *r, const np_probe_obs *o)
{
    cJSON *j = cJSON_CreateObject(), *labels, *srv, *ph, *u, *p;
    int probed = r->state == NP_V6_OK || r->state == NP_V6_NO_ANSWER ||
                 r->state == NP_V6_UDP_BLOCKED;

    cJSON_AddStringToObject(j, "state", np_v6_state_name(r->state));
    cJSON_AddItemToObject(j, "address", jip(&r->global));
    cJSON_AddBoolToObject(j, "default_route", r->has_route);
    cJSON_AddItemToObject(j, "gateway", jip(&r->gateway));
    cJSON_AddStringToObject(j, "nat", np_v6_nat_name(r->nat));
    cJSON_AddItemToObject(j, "port_preserved", jtri(r->port_preserved));
    cJSON_AddStringToObject(j, "udp",
                            probed ? np_udp_state_name(r->v.udp) : "untested");
    cJSON_AddStringToObject(j, "mapping", np_behaviour_name(r->v.mapping));
    cJSON_AddStringToObject(j, "filtering", np_behaviour_name(r->v.filtering));
    cJSON_AddStringToObject(j, "confidence",
                            np_nat_confidence_name(r->v.confidence));
    cJSON_AddItemToObject(j, "local_address", jaddr(&r->local));
    cJSON_AddItemToObject(j, "mapped_address", jaddr(&r->mapped));
    labels = cJSON_AddObjectToObject(j, "labels");
    cJSON_AddStringToObject(labels, "generic", np_generic_name(r->v.generic));
    cJSON_AddStringToObject(labels, "xbox", np_xbox_name(r->v.xbox));
    cJSON_AddStringToObject(j, "reason", r->reason);
    cJSON_AddStringToObject(j, "advice", r->advice);
    if (o != NULL && probed) {
        srv = cJSON_AddObjectToObject(j, "server");
        cJSON_AddItemToObject(srv, "address", jaddr(&o->test[0].dest));
        cJSON_AddStringToObject(srv, "rfc5780",
                                np_probe_server_name(o->server_state));
        cJSON_AddItemToObject(srv, "other_address", jaddr(&o->other_address));
        if (o->rtt_ms > 0)
            cJSON_AddNumberToObject(j, "rtt_ms", o->rtt_ms);
        else
            cJSON_AddNullToObject(j, "rtt_ms");
        cJSON_AddNumberToObject(j, "elapsed_ms", o->elapsed_ms);
    }
    ph = cJSON_AddObjectToObject(j, "pinholes");
    if (!r->pinholes_known) {
        cJSON_AddBoolToObject(ph, "asked", 0);
        cJSON_AddNullToObject(ph, "available");
        return j;
    }
    cJSON_AddBoolToObject(ph, "asked", 1);
    cJSON_AddBoolToObject(ph, "available",
                          np_v6_pinholes_available(&r->pinholes));
    u = cJSON_AddObjectToObject(ph, "upnp");
    cJSON_AddBoolToObject(u, "asked", r->pinholes.upnp_asked);
    cJSON_AddBoolToObject(u, "firewall_control", r->pinholes.upnp_fwctl);
    cJSON_AddItemToObject(u, "firewall_enabled",
                          jtri(r->pinholes.upnp_firewall));
    cJSON_AddItemToObject(u, "inbound_pinhole_allowed",
                          jtri(r->pinholes.upnp_inbound));
    p = cJSON_AddObjectToObject(ph, "pcp");
    cJSON_AddBoolToObject(p, "asked", r->pinholes.pcp_asked);
    cJSON_AddBoolToObject(p, "answered", r->pinholes.pcp_answered);
    if (r->pinholes.pcp_result >= 0)
        cJSON_AddNumberToObject(p, "result", r->pinholes.pcp_result);
    else
        cJSON_AddNullToObject(p, "result");
    return j;
}

void ipv6_print(const np_ipv6_report *r, const np_probe_obs *o)
{
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN];
    const char *c = r->state == NP_V6_OK ? np_c_good() : np_c_warn();

    printf("\n%sIPv6%s\n", np_c_bold(), np_c_reset());
    if (r->state == NP_V6_OK)
        printf("  %s%s%s, NAT: %s, filtering: %s   Xbox %s%s%s\n", c,
               np_generic_name(r->v.generic), np_c_reset(),
               np_v6_nat_name(r->nat), np_behaviour_name(r->v.filtering), c,
               np_xbox_name(r->v.xbox), np_c_reset());
    else
        printf("  %s%s%s\n", c, np_v6_state_name(r->state), np_c_reset());
    np_out_wrap("  Why: ", "       ", r->reason);
    np_out_wrap("  Fix: ", "       ", r->advice);
    if (np_addr_is_set(&r->global))
        printf("  Address           %s (%s)\n",
               np_addr_ip_str(&r->global, a, sizeof(a)), r->ifname);
    printf("  Default route     %s\n", r->has_route ? "yes" : "no");
    if (r->state == NP_V6_OK && o != NULL) {
        printf("  Seen as           %s (local %s)\n",
               np_addr_str(&r->mapped, a, sizeof(a)),
               np_addr_str(&r->local, b, sizeof(b)));
        printf("  Mapping           %s (RFC 4787)\n",
               np_behaviour_name(r->v.mapping));
        printf("  Filtering         %s (RFC 4787)\n",
               np_behaviour_name(r->v.filtering));
        printf("  Server            %s, RFC 5780: %s\n",
               np_addr_str(&o->test[0].dest, a, sizeof(a)),
               np_probe_server_name(o->server_state));
        if (o->rtt_ms > 0)
            printf("  Took              %.0f ms (%.1f round trips)\n",
                   o->elapsed_ms, o->elapsed_ms / o->rtt_ms);
    }
    if (r->pinholes_known) {
        const np_v6_pinholes *p = &r->pinholes;
        printf("  Pinholes          %s\n",
               np_v6_pinholes_available(p) ? "available" : "not available");
        printf("    UPnP IGDv2      %s\n",
               !p->upnp_fwctl         ? "none"
               : p->upnp_inbound == 1 ? "inbound pinholes allowed"
               : p->upnp_inbound == 0 ? "inbound pinholes NOT allowed"
                                      : "status unknown");
        printf("    PCP over IPv6   %s\n", !p->pcp_answered ? "no answer"
                                           : p->pcp_result == 0
                                               ? "answers"
                                               : "answers with an error");
    }
}
