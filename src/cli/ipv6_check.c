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
                 r->state == NP_V6_UDP_BLOCKED || r->state == NP_V6_UDP_UNKNOWN;

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

/* --- Teredo -------------------------------------------------------------- */

#define DIAG_TEREDO_MS 1000

static void *teredo_thread(void *arg)
{
    struct ipv6_check *c = arg;

    c->trc =
        np_teredo_qualify(&c->teredo_server, DIAG_TEREDO_MS, &c->qual, NULL);
    return NULL;
}

void ipv6_check_teredo_start(struct ipv6_check *c)
{
    if (!np_addr_is_set(&c->teredo_server))
        return;
    c->tasked = 1;
    c->tstarted = pthread_create(&c->tthread, NULL, teredo_thread, c) == 0;
}

const np_teredo_qual *ipv6_check_teredo_finish(struct ipv6_check *c)
{
    if (!c->tasked)
        return NULL;
    if (c->tstarted)
        pthread_join(c->tthread, NULL);
    else
        teredo_thread(c);
    c->tstarted = 0;
    return c->trc == NP_OK ? &c->qual : NULL;
}

cJSON *teredo_json(const np_teredo_outlook *t, const np_teredo_qual *q)
{
    cJSON *j = cJSON_CreateObject(), *qj;

    cJSON_AddStringToObject(j, "verdict", np_teredo_verdict_name(t->verdict));
    cJSON_AddStringToObject(j, "reason", np_teredo_reason_name(t->reason));
    cJSON_AddStringToObject(j, "fix", np_teredo_fix_name(t->fix));
    cJSON_AddBoolToObject(j, "native_ipv6", t->native_ipv6);
    cJSON_AddStringToObject(j, "why", t->why);
    cJSON_AddStringToObject(j, "fix_text", t->fix_text);
    cJSON_AddStringToObject(j, "rule", t->source);
    if (q == NULL) {
        cJSON_AddNullToObject(j, "qualification");
        return j;
    }
    qj = cJSON_AddObjectToObject(j, "qualification");
    cJSON_AddItemToObject(qj, "server", jaddr(&q->server));
    cJSON_AddBoolToObject(qj, "answered_primary", q->answered_primary);
    cJSON_AddBoolToObject(qj, "answered_secondary", q->answered_secondary);
    cJSON_AddItemToObject(qj, "mapped_primary", jaddr(&q->mapped_primary));
    cJSON_AddItemToObject(qj, "mapped_secondary", jaddr(&q->mapped_secondary));
    cJSON_AddItemToObject(qj, "symmetric", jtri(q->symmetric));
    cJSON_AddNumberToObject(qj, "elapsed_ms", q->elapsed_ms);
    return j;
}

void teredo_print(const np_teredo_outlook *t, const np_teredo_qual *q)
{
    const char *c = t->verdict == NP_TEREDO_QUALIFIES ? np_c_good()
                    : t->verdict == NP_TEREDO_FAILS   ? np_c_bad()
                                                      : np_c_warn();

    printf("\n%sTeredo (Xbox)%s\n", np_c_bold(), np_c_reset());
    printf("  %s%s%s%s\n", c, np_teredo_verdict_name(t->verdict), np_c_reset(),
           t->native_ipv6 ? " (native IPv6 works: the Xbox uses it with IPv6 "
                            "peers)"
                          : "");
    np_out_wrap("  Why: ", "       ", t->why);
    np_out_wrap("  Fix: ", "       ", t->fix_text);
    if (q != NULL) {
        char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN];
        printf("  Qualification     %s: %s\n",
               np_addr_str(&q->server, a, sizeof(a)),
               !q->answered_primary && !q->answered_secondary
                   ? "no answer on UDP 3544"
               : q->symmetric == 1 ? "two different mappings (symmetric NAT)"
               : q->symmetric == 0 ? "answered, one mapping (cone NAT)"
                                   : "answered by one address only");
        if (q->answered_primary && q->answered_secondary)
            printf("                    seen as %s and %s\n",
                   np_addr_str(&q->mapped_primary, a, sizeof(a)),
                   np_addr_str(&q->mapped_secondary, b, sizeof(b)));
    }
}

/* --- the plan behind carrier-grade NAT --------------------------------- */

cJSON *plan6_json(const np_v6_plan *p)
{
    cJSON *j = cJSON_CreateObject(), *arr;
    size_t i;

    cJSON_AddBoolToObject(j, "applies", p->applies);
    cJSON_AddStringToObject(j, "summary", p->summary);
    arr = cJSON_AddArrayToObject(j, "platforms");
    for (i = 0; i < p->n_rows; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "platform", p->rows[i].platform);
        cJSON_AddStringToObject(o, "ipv6",
                                np_v6_plan_gain_name(p->rows[i].gain));
        cJSON_AddStringToObject(o, "what", p->rows[i].what);
        cJSON_AddStringToObject(o, "command", p->rows[i].command);
        cJSON_AddItemToArray(arr, o);
    }
    return j;
}

void plan6_print(const np_v6_plan *p)
{
    size_t i;

    if (!p->applies)
        return;
    printf("\n%sBehind carrier-grade NAT: the IPv6 way%s\n", np_c_bold(),
           np_c_reset());
    np_out_wrap("  ", "  ", p->summary);
    for (i = 0; i < p->n_rows; i++) {
        printf("  %-11s ", p->rows[i].platform);
        np_out_wrap("", "              ", p->rows[i].what);
        if (p->rows[i].command[0] != '\0')
            printf("    $ %s\n", p->rows[i].command);
    }
}
