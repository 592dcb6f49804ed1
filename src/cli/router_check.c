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

/*
 * DESIGN.md: the router's external address unequal to the STUN-mapped one,
 * or the router unable to say what it is (miniupnpd answers an empty
 * address and NAT-PMP "network failure" when its own WAN address is private
 * or shared), means a second NAT beyond the router. A reserved address that
 * equals the STUN-mapped one is the router holding the public address.
 */
int router_double_nat(const struct router_check *rc, const np_probe_obs *o)
{
    if (!o->test[0].answered || !rc->any)
        return -1;
    if (!np_addr_is_set(&rc->external)) {
        size_t i;

        /* 0.0.0.0, loopback, its LAN address: the router does not know
         * its public address, which proves no second NAT */
        for (i = 0; i < NP_PM_NPROTO; i++)
            if (np_addr_is_set(&rc->disc.external_bogus[i]) ||
                rc->disc.external_unread[i])
                return -1;
        return 1;
    }
    return !np_addr_same_ip(&rc->external, &o->test[0].mapped);
}

static const char *proto_list(const struct router_check *rc, char *buf,
                              size_t size)
{
    snprintf(buf, size, "%s%s%s%s%s%s", rc->disc.has[NP_PM_PCP] ? "PCP" : "",
             rc->disc.has[NP_PM_PCP] && rc->disc.has[NP_PM_NATPMP] ? ", " : "",
             rc->disc.has[NP_PM_NATPMP] ? "NAT-PMP" : "",
             (rc->disc.has[NP_PM_PCP] || rc->disc.has[NP_PM_NATPMP]) &&
                     rc->disc.has[NP_PM_UPNP]
                 ? ", "
                 : "",
             rc->disc.has[NP_PM_UPNP] ? "UPnP-IGD" : "",
             rc->disc.has[NP_PM_UPNP]
                 ? (rc->disc.igd_version == 2 ? " v2" : " v1")
                 : "");
    return buf;
}

/* --- the plan, per console ------------------------------------------------ */

struct plan_item {
    const char *platform; /* "xbox", ... */
    const char *label;    /* the console's label today */
    const char *profile;  /* its platform profile */
    char action[480];
    char command[160]; /* "" when there is none to run */
};

static const struct {
    const char *platform, *profile, *vendor;
    unsigned bit;
} consoles[] = {
    {"xbox", "xbox-network", "Microsoft", NP_PLAT_XBOX},
    {"playstation", "playstation-network", "Sony", NP_PLAT_PLAYSTATION},
    {"switch", "nintendo-switch-online", "Nintendo", NP_PLAT_SWITCH},
};

/* "udp 3074, tcp 3074" of the essential, mappable inbound rules. */
static int essential_ports(const np_catalog *cat, const char *profile,
                           unsigned bit, char *buf, size_t size, int *broad)
{
    const char *ids[1] = {profile};
    np_resolved *res = NULL;
    size_t i, j, n = 0;
    int count = 0;

    buf[0] = '\0';
    *broad = 0;
    if (cat == NULL || np_resolve(cat, ids, 1, bit, &res, NULL) != NP_OK)
        return 0;
    for (i = 0; i < res->n_inbound; i++) {
        const np_rule *r = &res->inbound[i];
        if (r->broad) {
            *broad = 1;
            continue;
        }
        if (!r->essential)
            continue;
        for (j = 0; j < r->n_ports && n + 24 < size; j++) {
            int k =
                r->ports[j].lo == r->ports[j].hi
                    ? snprintf(buf + n, size - n, "%s%s %u", count ? ", " : "",
                               np_proto_name(r->protocol),
                               (unsigned)r->ports[j].lo)
                    : snprintf(buf + n, size - n, "%s%s %u-%u",
                               count ? ", " : "", np_proto_name(r->protocol),
                               (unsigned)r->ports[j].lo,
                               (unsigned)r->ports[j].hi);
            if (k < 0)
                break;
            n += (size_t)k;
            count++;
        }
    }
    np_resolved_free(res);
    return count;
}

static size_t build_plan(const struct router_check *rc, const np_probe_obs *o,
                         const np_nat_verdict *v, struct plan_item *items)
{
    np_catalog *cat = np_catalog_new();
    int dn = router_double_nat(rc, o);
    size_t i, n = 0;

    if (cat != NULL)
        (void)np_catalog_load_embedded(cat, NULL, NULL);
    for (i = 0; i < sizeof(consoles) / sizeof(consoles[0]); i++) {
        struct plan_item *it = &items[n++];
        char ports[160], protos[64];
        int broad, have;

        memset(it, 0, sizeof(*it));
        it->platform = consoles[i].platform;
        it->profile = consoles[i].profile;
        it->label = consoles[i].bit == NP_PLAT_XBOX ? np_xbox_name(v->xbox)
                    : consoles[i].bit == NP_PLAT_PLAYSTATION
                        ? np_psn_name(v->psn)
                        : np_switch_name(v->sw);
        have = essential_ports(cat, consoles[i].profile, consoles[i].bit, ports,
                               sizeof(ports), &broad);
        if (v->udp == NP_UDP_BLOCKED) {
            snprintf(it->action, sizeof(it->action),
                     "Unblock outbound UDP first.%s",
                     rc->any ? " The router answers mapping requests, but "
                               "mappings it reports as made carry no traffic "
                               "while UDP is blocked."
                             : "");
        } else if (v->generic == NP_GEN_OPEN) {
            snprintf(it->action, sizeof(it->action),
                     "Already Open: nothing to do.");
        } else if (dn == 1) {
            snprintf(it->action, sizeof(it->action),
                     "A second NAT sits beyond your router (double NAT or "
                     "the provider's carrier-grade NAT): forwarding at home "
                     "alone cannot make it Open. Ask the provider for a "
                     "public IPv4 address or whether its NAT takes PCP "
                     "requests, put the provider's modem in bridge mode, or "
                     "play over IPv6.");
        } else if (rc->any && have) {
            snprintf(it->action, sizeof(it->action),
                     "Map %s to the console (natpilot asks the router over "
                     "%s), or turn UPnP on and let the console map itself; "
                     "reserve the console's address in DHCP.",
                     ports, proto_list(rc, protos, sizeof(protos)));
            snprintf(it->command, sizeof(it->command),
                     "natpilot open --platform %s --for CONSOLE-IP %s",
                     consoles[i].platform, consoles[i].profile);
        } else if (rc->any) {
            snprintf(it->action, sizeof(it->action),
                     "Turn UPnP on in the router and let the console map its "
                     "own ports (%s publishes no fixed inbound port%s); "
                     "then check with natpilot verify --for CONSOLE-IP.",
                     consoles[i].vendor,
                     broad ? " other than \"all UDP ports\", which natpilot "
                             "never forwards to one device"
                           : "");
            snprintf(it->command, sizeof(it->command),
                     "natpilot verify --platform %s --for CONSOLE-IP %s",
                     consoles[i].platform, consoles[i].profile);
        } else {
            snprintf(it->action, sizeof(it->action),
                     "The router answers none of PCP, NAT-PMP or UPnP: turn "
                     "UPnP on in its settings%s%s, with a DHCP reservation "
                     "for the console. Not the DMZ.",
                     have ? ", or forward by hand to the console: " : "",
                     have ? ports : "");
        }
    }
    np_catalog_free(cat);
    return n;
}

/* --- output ------------------------------------------------------------------
 */

void router_print(const struct router_check *rc, const np_probe_obs *o,
                  const np_nat_verdict *v)
{
    struct plan_item items[3];
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN], protos[64];
    size_t i, n, mine = 0;
    int dn = router_double_nat(rc, o);

    printf("\n%sRouter%s\n", np_c_bold(), np_c_reset());
    if (!np_addr_is_set(&rc->disc.gateway)) {
        printf("  Gateway           none found (%s)\n",
               rc->err.msg[0] ? rc->err.msg : "no default route");
    } else {
        printf("  Gateway           %s\n",
               np_addr_ip_str(&rc->disc.gateway, a, sizeof(a)));
        printf("  Answers           %s\n",
               rc->any ? proto_list(rc, protos, sizeof(protos))
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

    if (v->udp == NP_UDP_NO_ANSWER)
        return;
    n = build_plan(rc, o, v, items);
    printf("\n%sTo make each console Open%s\n", np_c_bold(), np_c_reset());
    for (i = 0; i < n; i++) {
        char head[40];
        snprintf(head, sizeof(head), "  %-11s %-9s ", items[i].platform,
                 items[i].label);
        np_out_wrap(head, "                        ", items[i].action);
        if (items[i].command[0] != '\0')
            printf("    %s$ %s%s\n", np_c_dim(), items[i].command,
                   np_c_reset());
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
    int dn = router_double_nat(rc, o);
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

cJSON *router_plan_json(const struct router_check *rc, const np_probe_obs *o,
                        const np_nat_verdict *v)
{
    struct plan_item items[3];
    cJSON *arr = cJSON_CreateArray();
    size_t i, n;

    if (v->udp == NP_UDP_NO_ANSWER)
        return arr;
    n = build_plan(rc, o, v, items);
    for (i = 0; i < n; i++) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "platform", items[i].platform);
        cJSON_AddStringToObject(j, "label", items[i].label);
        cJSON_AddStringToObject(j, "profile", items[i].profile);
        cJSON_AddStringToObject(j, "action", items[i].action);
        if (items[i].command[0] != '\0')
            cJSON_AddStringToObject(j, "command", items[i].command);
        else
            cJSON_AddNullToObject(j, "command");
        cJSON_AddItemToArray(arr, j);
    }
    return arr;
}
