/*
 * The JSON API under /api/v1/ (docs/web-api.md). Each handler asks the
 * library and serialises its answer; field names follow the CLI's --json
 * output for the same reports (status, profiles show/search, diagnose).
 *
 * The set-up never decides by itself: the plan is the mapping session's
 * (np_sess_rules_from_resolved + np_session_plan_proto, as the wizard's),
 * the check is np_session_verify for the device, the JSON of its reports
 * is report_json.c's (the CLI's --json). Applying adds the device
 * (catalog profiles only, a LAN address only) to the web devices file and
 * reloads the keeper, which maps it through its sessions exactly as a
 * device written in the configuration by hand.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/advice.h"
#include "natpilot/nat.h"
#include "natpilot/netinfo.h"
#include "natpilot/oui.h"
#include "natpilot/probe.h"
#include "natpilot/profile.h"
#include "natpilot/session.h"
#include "report_json.h"
#include "web.h"
#include "web_mhd.h"

#define MAX_HITS 50

static char *print(cJSON *doc)
{
    char *s = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;

    cJSON_Delete(doc);
    return s;
}

static const char *arg(np_web_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static np_catalog *load_catalog(np_web *w, np_web_req *r)
{
    const np_config *cfg = np__web_config(w);
    np_catalog *cat = np_catalog_new();
    np_diags d;
    np_error e;
    int rc;

    if (cat == NULL) {
        np__web_error(r, 500, "internal", "out of memory");
        return NULL;
    }
    np_diags_init(&d);
    np_error_clear(&e);
    rc = np_catalog_load_default(
        cat, cfg->profiles_dir[0] ? cfg->profiles_dir : NULL, &d, &e);
    np_diags_free(&d);
    if (rc == NP_ENOMEM || rc == NP_ESYS) {
        np_catalog_free(cat);
        np__web_error(r, 500, "internal", "cannot load the catalog: %s", e.msg);
        return NULL;
    }
    return cat;
}

/* --- profiles
 * ----------------------------------------------------------------*/

static cJSON *profile_brief(const np_profile *p)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "id", p->id);
    cJSON_AddStringToObject(e, "kind", np_kind_name(p->kind));
    cJSON_AddStringToObject(e, "name", p->name);
    cJSON_AddItemToObject(e, "platforms", np_rj_platforms(p->platforms));
    cJSON_AddItemToObject(e, "aliases",
                          np_rj_strings(p->aliases, p->n_aliases));
    cJSON_AddItemToObject(e, "base", np_rj_strings(p->base, p->n_base));
    cJSON_AddStringToObject(e, "layer", np_layer_name(p->layer));
    cJSON_AddStringToObject(e, "checked", p->checked);
    return e;
}

/* GET /profiles?q=words&platform=xbox */
static void api_profiles(np_web *w, np_web_req *r)
{
    const char *q = arg(r, "q"), *plat = arg(r, "platform");
    unsigned pset = 0;
    np_catalog *cat;
    cJSON *doc, *arr;
    size_t i;

    if (plat != NULL && plat[0] != '\0' &&
        np_platform_parse(plat, &pset) != NP_OK) {
        np__web_error(r, 400, "bad_request",
                      "unknown platform (xbox, playstation, switch, pc)");
        return;
    }
    if (q != NULL && strlen(q) > 200) {
        np__web_error(r, 400, "bad_request", "search text too long");
        return;
    }
    cat = load_catalog(w, r);
    if (cat == NULL)
        return;
    doc = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(doc, "profiles");
    if (q != NULL && q[0] != '\0') {
        char buf[208], *words[16], *p = buf;
        size_t nw = 0, nh = 0;
        np_search_hit hits[MAX_HITS];

        snprintf(buf, sizeof(buf), "%s", q);
        while (*p != '\0' && nw < 16) {
            while (*p == ' ')
                *p++ = '\0';
            if (*p == '\0')
                break;
            words[nw++] = p;
            while (*p != '\0' && *p != ' ')
                p++;
        }
        cJSON_AddStringToObject(doc, "query", q);
        if (nw > 0 && np_catalog_search(cat, (const char *const *)words, nw,
                                        pset, hits, MAX_HITS, &nh) == NP_OK) {
            for (i = 0; i < nh; i++) {
                cJSON *e = profile_brief(hits[i].profile);

                cJSON_AddNumberToObject(e, "score", hits[i].score);
                cJSON_AddItemToArray(arr, e);
            }
        }
    } else {
        for (i = 0; i < np_catalog_count(cat); i++) {
            const np_profile *p = np_catalog_at(cat, i);

            if (pset == 0 || (p->platforms & pset))
                cJSON_AddItemToArray(arr, profile_brief(p));
        }
    }
    np__web_json(r, 200, print(doc));
    np_catalog_free(cat);
}

/* GET /profiles/ID */
static void api_profile_show(np_web *w, np_web_req *r, const char *id)
{
    np_catalog *cat = load_catalog(w, r);
    const np_profile *p;
    cJSON *doc, *srcs;
    size_t i;

    if (cat == NULL)
        return;
    p = np_catalog_find(cat, id);
    if (p == NULL) {
        np_catalog_free(cat);
        np__web_error(r, 404, "not_found", "no profile \"%.60s\"", id);
        return;
    }
    doc = profile_brief(p);
    cJSON_AddStringToObject(doc, "file", p->file);
    if (p->notes != NULL)
        cJSON_AddStringToObject(doc, "notes", p->notes);
    else
        cJSON_AddNullToObject(doc, "notes");
    cJSON_AddItemToObject(doc, "inbound",
                          np_rj_rules(p->inbound, p->n_inbound));
    cJSON_AddItemToObject(doc, "outbound",
                          np_rj_rules(p->outbound, p->n_outbound));
    srcs = cJSON_AddArrayToObject(doc, "sources");
    for (i = 0; i < p->n_sources; i++)
        cJSON_AddItemToArray(srcs, np_rj_source(&p->sources[i]));
    np__web_json(r, 200, print(doc));
    np_catalog_free(cat);
}

/* --- devices
 * -------------------------------------------------------------------*/

/* 1 when a is a host on one of this machine's LANs: inside the subnet of
 * a local, up, non-loopback interface whose address may serve the page
 * (np_config_web_addr_ok) — this host itself included (a gaming PC or a
 * NAS running the daemon) — and not the subnet's network or broadcast
 * address. */
static int on_lan(const np_addr *a, np_error *err)
{
    np_netif_addr *ifs = NULL;
    size_t n = 0, i;
    int ok = 0;

    if (np_addr_family(a) != AF_INET)
        return 0;
    if (np_netinfo_local_addrs(&ifs, &n, err) != NP_OK)
        return 0;
    for (i = 0; i < n && !ok; i++) {
        const np_netif_addr *x = &ifs[i];
        uint32_t ia, ha, mask;

        if (!x->is_up || x->is_loopback ||
            np_addr_family(&x->addr) != AF_INET || x->prefix_len == 0 ||
            x->prefix_len > 30 || !np_config_web_addr_ok(&x->addr))
            continue;
        ia = ntohl(((const struct sockaddr_in *)&x->addr.ss)->sin_addr.s_addr);
        ha = ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr);
        mask = 0xffffffffu << (32 - x->prefix_len);
        if ((ia & mask) == (ha & mask) && (ha & ~mask) != 0 &&
            (ha & ~mask) != ~mask)
            ok = 1;
    }
    free(ifs);
    return ok;
}

/* GET /devices: the neighbour table with vendor hints */
static void api_devices(np_web *w, np_web_req *r)
{
    const np_config *cfg = np__web_config(w);
    np_neighbour *nb = NULL;
    np_gateway gw;
    size_t n = 0, i, j;
    np_error e;
    cJSON *doc, *arr;
    char ip[NP_ADDRSTRLEN], mac[20], vendor[128];

    np_error_clear(&e);
    if (np_netinfo_neighbours(&nb, &n, &e) != NP_OK) {
        np__web_error(r, 500, "netinfo", "cannot read the neighbour table: %s",
                      e.msg);
        return;
    }
    memset(&gw, 0, sizeof(gw));
    (void)np_netinfo_default_gateway(&gw, NULL);
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "gateway",
                            np_addr_is_set(&gw.addr)
                                ? np_addr_ip_str(&gw.addr, ip, sizeof(ip))
                                : "");
    arr = cJSON_AddArrayToObject(doc, "devices");
    for (i = 0; i < n; i++) {
        cJSON *o;
        const char *hint = NULL, *configured = NULL;

        if (!nb[i].complete || np_addr_family(&nb[i].ip) != AF_INET)
            continue;
        if (np_addr_is_set(&gw.addr) && np_addr_same_ip(&gw.addr, &nb[i].ip))
            continue; /* the router is not a device to map for */
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "address",
                                np_addr_ip_str(&nb[i].ip, ip, sizeof(ip)));
        cJSON_AddStringToObject(
            o, "mac", np_netinfo_mac_str(nb[i].mac, mac, sizeof(mac)));
        cJSON_AddStringToObject(o, "interface", nb[i].ifname);
        if (np_oui_lookup(NULL, nb[i].mac, vendor, sizeof(vendor), NULL) ==
            NP_OK) {
            cJSON_AddStringToObject(o, "vendor", vendor);
            hint = np_oui_console_hint(vendor);
        } else {
            cJSON_AddNullToObject(o, "vendor");
        }
        if (hint != NULL)
            cJSON_AddStringToObject(o, "platform_hint", hint);
        else
            cJSON_AddNullToObject(o, "platform_hint");
        cJSON_AddBoolToObject(o, "lan", on_lan(&nb[i].ip, NULL));
        for (j = 0; j < cfg->n_devices; j++)
            if (np_addr_same_ip(&cfg->devices[j].address, &nb[i].ip))
                configured = cfg->devices[j].name;
        if (configured != NULL)
            cJSON_AddStringToObject(o, "configured_as", configured);
        else
            cJSON_AddNullToObject(o, "configured_as");
        cJSON_AddItemToArray(arr, o);
    }
    free(nb);
    np__web_json(r, 200, print(doc));
}

/* --- set-up
 * ------------------------------------------------------------------------*/

/* The device a plan / set-up request names: {"name", "address",
 * "platform", "profiles": [...], "mode"}. 1 when good (dev filled; the
 * caller frees dev->profiles), else an error answer is set. */
static int read_ports(np_web_req *r, const cJSON *doc, np_cfg_device *dev);

static int read_device(np_web *w, np_web_req *r, const cJSON *doc,
                       np_cfg_device *dev, int need_name, int expert)
{
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(doc, "name");
    const cJSON *ad = cJSON_GetObjectItemCaseSensitive(doc, "address");
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(doc, "platform");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(doc, "profiles");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "mode");
    const cJSON *it;
    const char *c;
    np_error e;

    (void)w;
    memset(dev, 0, sizeof(*dev));
    if (!cJSON_IsObject(doc)) {
        np__web_error(r, 400, "bad_request", "the body must be a JSON object");
        return 0;
    }
    if (need_name) {
        if (!cJSON_IsString(nm) || nm->valuestring[0] == '\0' ||
            strlen(nm->valuestring) >= sizeof(dev->name)) {
            np__web_error(r, 400, "bad_request",
                          "name must be 1 to %zu characters",
                          sizeof(dev->name) - 1);
            return 0;
        }
        for (c = nm->valuestring; *c != '\0'; c++)
            if ((unsigned char)*c < 0x20) {
                np__web_error(r, 400, "bad_request",
                              "name has control characters");
                return 0;
            }
        memcpy(dev->name, nm->valuestring, strlen(nm->valuestring) + 1);
    }
    np_error_clear(&e);
    if (!cJSON_IsString(ad) ||
        np_addr_parse(&dev->address, ad->valuestring, 0, NULL) != NP_OK ||
        np_addr_family(&dev->address) != AF_INET ||
        np_addr_port(&dev->address) != 0) {
        np__web_error(r, 400, "bad_request",
                      "address must be the device's IPv4 address");
        return 0;
    }
    if (!on_lan(&dev->address, &e)) {
        np__web_error(r, 403, "not_lan",
                      "%s is not a device on this host's LAN: the page maps "
                      "only for devices on the LAN",
                      ad->valuestring);
        return 0;
    }
    if (pl != NULL && !cJSON_IsNull(pl) &&
        (!cJSON_IsString(pl) ||
         np_platform_parse(pl->valuestring, &dev->platform) != NP_OK)) {
        np__web_error(r, 400, "bad_request",
                      "platform is xbox, playstation, switch or pc");
        return 0;
    }
    if (md != NULL && cJSON_IsString(md) &&
        strcmp(md->valuestring, "verify") == 0)
        dev->mode = NP_CFG_VERIFY;
    else if (md != NULL &&
             !(cJSON_IsString(md) && strcmp(md->valuestring, "map") == 0)) {
        np__web_error(r, 400, "bad_request", "mode is map or verify");
        return 0;
    }
    if (expert)
        return read_ports(r, doc, dev);
    if (!cJSON_IsArray(pr) || cJSON_GetArraySize(pr) < 1 ||
        cJSON_GetArraySize(pr) > NP_CFG_MAX_PROFILES) {
        np__web_error(r, 400, "bad_request",
                      "profiles must list 1 to %d catalog profile ids",
                      NP_CFG_MAX_PROFILES);
        return 0;
    }
    dev->profiles = calloc(NP_CFG_MAX_PROFILES, sizeof(char *));
    if (dev->profiles == NULL) {
        np__web_error(r, 500, "internal", "out of memory");
        return 0;
    }
    cJSON_ArrayForEach(it, pr)
    {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
            strlen(it->valuestring) > 64) {
            np__web_error(r, 400, "bad_request",
                          "a profile id is a short string");
            return 0;
        }
        dev->profiles[dev->n_profiles] = strdup(it->valuestring);
        if (dev->profiles[dev->n_profiles] == NULL) {
            np__web_error(r, 500, "internal", "out of memory");
            return 0;
        }
        dev->n_profiles++;
    }
    return 1;
}

static void free_device(np_cfg_device *dev)
{
    size_t i;

    for (i = 0; i < dev->n_profiles; i++)
        free(dev->profiles[i]);
    free(dev->profiles);
    dev->profiles = NULL;
    dev->n_profiles = 0;
}

/* The expert form's rules: {"ports": ["udp:3074", "tcp:27015-27030"]}, each
 * checked by the library (np_cfg_port_parse: no whole ranges, nothing
 * DMZ-like), no profiles, no "dmz". 1 when good, else an error answer. */
static int read_ports(np_web_req *r, const cJSON *doc, np_cfg_device *dev)
{
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(doc, "ports"), *it;
    size_t total = 0;
    np_error e;

    if (cJSON_GetObjectItemCaseSensitive(doc, "dmz") != NULL ||
        cJSON_GetObjectItemCaseSensitive(doc, "exposed_host") != NULL) {
        np__web_error(r, 422, "dmz",
                      "natpilot never sets a DMZ (exposed host): it would "
                      "open every port of the device; name the ports");
        return 0;
    }
    if (cJSON_GetObjectItemCaseSensitive(doc, "profiles") != NULL) {
        np__web_error(r, 400, "bad_request",
                      "the expert form takes ports, not profiles (use "
                      "/api/v1/setup for catalog profiles)");
        return 0;
    }
    if (!cJSON_IsArray(pa) || cJSON_GetArraySize(pa) < 1 ||
        cJSON_GetArraySize(pa) > NP_CFG_MAX_PORT_RULES) {
        np__web_error(r, 400, "bad_request",
                      "ports must list 1 to %d rules like \"udp:3074\" or "
                      "\"tcp:27015-27030\"",
                      NP_CFG_MAX_PORT_RULES);
        return 0;
    }
    cJSON_ArrayForEach(it, pa)
    {
        np_cfg_port pr;

        if (!cJSON_IsString(it) || strlen(it->valuestring) > 40) {
            np__web_error(r, 400, "bad_request",
                          "a port rule is a short string like \"udp:3074\"");
            return 0;
        }
        np_error_clear(&e);
        if (np_cfg_port_parse(it->valuestring, &pr, &e) != NP_OK) {
            int dmz = strstr(e.msg, "DMZ") != NULL;

            np__web_error(r, 422,
                          strstr(e.msg, "at most") != NULL ? "whole_range"
                          : dmz                            ? "dmz"
                                                           : "bad_port",
                          "%s", e.msg);
            return 0;
        }
        total += (size_t)(pr.hi - pr.lo) + 1;
        if (total > NP_CFG_PORTS_MAX) {
            np__web_error(r, 422, "whole_range",
                          "more than %d ports for one device: natpilot "
                          "forwards the ports a game needs, not a DMZ",
                          NP_CFG_PORTS_MAX);
            return 0;
        }
        dev->ports[dev->n_ports++] = pr;
    }
    return 1;
}

static cJSON *parse_body(np_web_req *r)
{
    cJSON *doc = cJSON_ParseWithLength(r->body, r->body_len);

    if (doc == NULL)
        np__web_error(r, 400, "bad_request", "the body is not JSON");
    return doc;
}

/* The session options for a device, as the keeper's own sessions have
 * them (lease, protocol preference, gateway of the configuration). */
static void sess_opts(np_web *w, const np_addr *device, const char *owner,
                      np_sess_opts *o)
{
    const np_config *cfg = np__web_config(w);

    memset(o, 0, sizeof(*o));
    o->device = *device;
    np_addr_set_port(&o->device, 0);
    o->owner = owner;
    o->lease = cfg->lease;
    o->prefer = cfg->prefer;
    o->gateway = cfg->gateway;
    o->side_table = 1; /* name who holds a conflicting port */
}

/* The device's profiles resolved (*res) and turned into the session's
 * rules, exactly as the keeper and the wizard do. 1 when good, else an
 * error answer is set. */
static int device_rules(np_web_req *r, const np_catalog *cat,
                        const np_cfg_device *dev, np_resolved **res,
                        np_sess_rule *rules, size_t *n, size_t *broad)
{
    np_error e;
    size_t i;
    int rc;

    np_error_clear(&e);
    *res = NULL;
    *n = 0;
    rc = dev->n_profiles == 0
             ? NP_OK
             : np_resolve(cat, (const char *const *)dev->profiles,
                          dev->n_profiles, dev->platform, res, &e);
    if (rc != NP_OK) {
        np__web_error(r, rc == NP_ENOMEM ? 500 : 422,
                      rc == NP_ENOTFOUND ? "unknown_profile" : "profiles", "%s",
                      e.msg);
        return 0;
    }
    if (*res != NULL && np_sess_rules_from_resolved(rules, n, NP_SESS_MAX_RULES,
                                                    *res, broad) != NP_OK) {
        np__web_error(r, 422, "profiles", "more than %d rules",
                      NP_SESS_MAX_RULES);
        return 0;
    }
    for (i = 0; i < dev->n_ports; i++) {
        uint32_t p;

        for (p = dev->ports[i].lo; p <= dev->ports[i].hi; p++)
            if (np_sess_rules_add(rules, n, NP_SESS_MAX_RULES,
                                  dev->ports[i].transport, (uint16_t)p, 1,
                                  "port", "") != NP_OK) {
                np__web_error(r, 422, "profiles", "more than %d rules",
                              NP_SESS_MAX_RULES);
                return 0;
            }
    }
    return 1;
}

static cJSON *sess_rules_json(const np_sess_rule *rules, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    size_t i;

    for (i = 0; a != NULL && i < n; i++) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "protocol",
                                np_pm_transport_name(rules[i].transport));
        cJSON_AddNumberToObject(o, "port", rules[i].port);
        cJSON_AddStringToObject(o, "profile", rules[i].label);
        cJSON_AddBoolToObject(o, "essential", rules[i].essential);
        cJSON_AddBoolToObject(o, "alternate_port_ok", rules[i].alt_port);
        if (rules[i].feature[0])
            cJSON_AddStringToObject(o, "feature", rules[i].feature);
        else
            cJSON_AddNullToObject(o, "feature");
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* The manual steps (np_advice_manual_steps) as JSON. */
static cJSON *manual_json(const np_advice_manual *m)
{
    cJSON *o = cJSON_CreateObject(), *f;
    size_t i;

    cJSON_AddBoolToObject(o, "second_nat", m->second_nat);
    if (m->second_nat) {
        cJSON_AddStringToObject(o, "second_nat_text", m->second_nat_text);
        return o;
    }
    if (m->upnp_text != NULL)
        cJSON_AddStringToObject(o, "upnp_text", m->upnp_text);
    if (m->console_test != NULL)
        cJSON_AddStringToObject(o, "console_test", m->console_test);
    cJSON_AddStringToObject(o, "verify_text", m->verify_text);
    cJSON_AddStringToObject(o, "forward_intro", m->forward_intro);
    f = cJSON_AddArrayToObject(o, "forwards");
    for (i = 0; i < m->n_fwd; i++) {
        cJSON *e = cJSON_CreateObject();

        cJSON_AddStringToObject(e, "protocol",
                                np_proto_name(m->fwd[i].protocol));
        cJSON_AddStringToObject(e, "ports", m->fwd[i].ports);
        cJSON_AddStringToObject(
            e, "profile", m->fwd[i].profile_id ? m->fwd[i].profile_id : "");
        cJSON_AddItemToArray(f, e);
    }
    cJSON_AddNumberToObject(o, "left_out", (double)m->n_left_out);
    cJSON_AddStringToObject(o, "dhcp_text", m->dhcp_text);
    if (m->no_dmz != NULL)
        cJSON_AddStringToObject(o, "no_dmz", m->no_dmz);
    return o;
}

/* POST /plan: what the session would do for the device: the catalog's
 * resolved rules (broad rules never), the session's rules, and the
 * protocol it will use first (np_session_plan_proto on its discovery, as
 * the wizard's plan). Nothing changes on the router. */
static void api_plan(np_web *w, np_web_req *r)
{
    cJSON *in = parse_body(r), *doc, *map, *never;
    np_cfg_device dev;
    np_catalog *cat;
    np_resolved *res = NULL;
    np_sess_rule *rules = NULL;
    np_sess_opts so;
    np_session *s = NULL;
    np_pm_discovery disc;
    np_error e;
    size_t i, n = 0, broad = 0;
    char ip[NP_ADDRSTRLEN];
    int rc;

    if (in == NULL)
        return;
    if (!read_device(w, r, in, &dev, 0, 0)) {
        free_device(&dev);
        cJSON_Delete(in);
        return;
    }
    cJSON_Delete(in);
    cat = load_catalog(w, r);
    rules = calloc(NP_SESS_MAX_RULES, sizeof(*rules));
    if (rules == NULL && cat != NULL)
        np__web_error(r, 500, "internal", "out of memory");
    if (cat == NULL || rules == NULL ||
        !device_rules(r, cat, &dev, &res, rules, &n, &broad))
        goto out;
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "address",
                            np_addr_ip_str(&dev.address, ip, sizeof(ip)));
    if (dev.platform)
        cJSON_AddStringToObject(doc, "platform",
                                np_platform_name(dev.platform));
    else
        cJSON_AddNullToObject(doc, "platform");
    cJSON_AddItemToObject(
        doc, "profiles",
        np_rj_strings((const char *const *)dev.profiles, dev.n_profiles));
    cJSON_AddBoolToObject(doc, "self_maps_with_upnp", res->self_maps_with_upnp);
    map = cJSON_CreateArray();
    never = cJSON_CreateArray();
    for (i = 0; i < res->n_inbound; i++) {
        cJSON *one = np_rj_rules(&res->inbound[i], 1);
        cJSON *rule = cJSON_DetachItemFromArray(one, 0);

        cJSON_Delete(one);
        cJSON_AddItemToArray(res->inbound[i].broad ? never : map, rule);
    }
    cJSON_AddItemToObject(doc, "map", map);
    cJSON_AddItemToObject(doc, "never_mapped", never);
    cJSON_AddItemToObject(doc, "rules", sess_rules_json(rules, n));
    cJSON_AddItemToObject(doc, "outbound",
                          np_rj_rules(res->outbound, res->n_outbound));
    /* The protocol: the session's discovery and its choice for this
     * device (NAT-PMP cannot map for another device). */
    sess_opts(w, &dev.address, "web", &so);
    np_error_clear(&e);
    memset(&disc, 0, sizeof(disc));
    s = np_session_new(&so, &e);
    rc = s != NULL ? np_session_discover(s, NP_SESS_APPLY, &disc, &e) : e.code;
    if (rc == NP_OK) {
        enum np_pm_proto p = np_session_plan_proto(&disc, &so);

        cJSON_AddItemToObject(doc, "discovery", pm_discovery_json(&disc));
        if (p != NP_PM_NONE)
            cJSON_AddStringToObject(doc, "via", np_pm_proto_name(p));
        else
            cJSON_AddNullToObject(doc, "via");
        cJSON_AddNullToObject(doc, "discovery_error");
    } else {
        cJSON_AddNullToObject(doc, "discovery");
        cJSON_AddNullToObject(doc, "via");
        cJSON_AddStringToObject(doc, "discovery_error", e.msg);
    }
    np__web_json(r, 200, print(doc));
out:
    np_session_free(s);
    free(rules);
    np_resolved_free(res);
    np_catalog_free(cat);
    free_device(&dev);
}

/* POST /setup: add the device to the web devices file (beside the state
 * file: writable under the shipped unit, where /etc is not) and reload, as
 * on SIGHUP. The keeper then maps (or, mode verify, checks) its rules; the
 * page follows /status and asks POST /verify for the session's report. */
static void api_setup(np_web *w, np_web_req *r, int expert)
{
    cJSON *in = parse_body(r), *doc;
    const np_config *cfg = np__web_config(w);
    np_cfg_device dev;
    np_catalog *cat;
    np_diags d;
    np_error e;
    int rc;
    char ip[NP_ADDRSTRLEN];

    if (in == NULL)
        return;
    if (!read_device(w, r, in, &dev, 1, expert)) {
        free_device(&dev);
        cJSON_Delete(in);
        return;
    }
    cJSON_Delete(in);
    cat = load_catalog(w, r);
    if (cat == NULL) {
        free_device(&dev);
        return;
    }
    np_diags_init(&d);
    np_error_clear(&e);
    rc = np_config_add_web_device(cfg, &dev, cat, &d, &e);
    np_catalog_free(cat);
    if (rc != NP_OK) {
        char buf[600];

        if (d.count > 0)
            np__web_error(
                r, 422, "invalid", "the device would not load: %s",
                np_diag_format(&d.items[d.count - 1], buf, sizeof(buf)));
        else
            np__web_error(r, rc == NP_EEXIST ? 409 : 500,
                          rc == NP_EEXIST ? "exists" : "config", "%s",
                          np_error_format(&e, buf, sizeof(buf)));
        np_diags_free(&d);
        free_device(&dev);
        return;
    }
    np_diags_free(&d);
    np__web_log(w, NP_LOG_INFO, "web: device %s (%s) added to %s; reloading",
                dev.name, np_addr_ip_str(&dev.address, ip, sizeof(ip)),
                cfg->web.devices_file);
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "device", dev.name);
    cJSON_AddStringToObject(doc, "devices_file", cfg->web.devices_file);
    cJSON_AddBoolToObject(doc, "added", 1);
    /* cfg is the keeper's: not valid after the reload */
    cJSON_AddBoolToObject(doc, "reloaded", np_keeper_reload(np__web_keeper(w)));
    free_device(&dev);
    np__web_json(r, 200, print(doc));
}

/* POST /verify {"name"}: the session's check of a configured device's
 * rules in the router (np_session_verify), the report as `natpilot verify
 * --json` gives it, with the manual steps for what is not mapped. */
static void api_verify(np_web *w, np_web_req *r)
{
    cJSON *in = parse_body(r), *doc = NULL, *arr;
    const cJSON *nm;
    const np_config *cfg = np__web_config(w);
    const np_cfg_device *dev = NULL;
    np_catalog *cat = NULL;
    np_resolved *res = NULL;
    np_sess_rule *rules = NULL;
    np_sess_report rep;
    np_sess_opts so;
    np_session *s = NULL;
    np_error e;
    size_t i, n = 0, bad = 0;
    char ip[NP_ADDRSTRLEN];
    int rc;

    memset(&rep, 0, sizeof(rep));
    if (in == NULL)
        return;
    nm = cJSON_GetObjectItemCaseSensitive(in, "name");
    for (i = 0; cJSON_IsString(nm) && i < cfg->n_devices; i++)
        if (strcmp(cfg->devices[i].name, nm->valuestring) == 0)
            dev = &cfg->devices[i];
    if (dev == NULL) {
        np__web_error(r, 404, "not_found",
                      "name must be the name of a configured device");
        goto out;
    }
    cat = load_catalog(w, r);
    rules = calloc(NP_SESS_MAX_RULES, sizeof(*rules));
    if (rules == NULL && cat != NULL)
        np__web_error(r, 500, "internal", "out of memory");
    if (cat == NULL || rules == NULL ||
        !device_rules(r, cat, dev, &res, rules, &n, NULL))
        goto out;
    sess_opts(w, &dev->address, dev->name, &so);
    np_error_clear(&e);
    s = np_session_new(&so, &e);
    rc = s != NULL ? np_session_discover(s, NP_SESS_VERIFY, NULL, &e) : e.code;
    if (rc == NP_OK)
        rc = np_session_verify(s, rules, n, &rep, &e);
    if (rc != NP_OK) {
        np__web_error(r, rc == NP_ENOMEM ? 500 : 502, "router",
                      "the router could not be asked: %s", e.msg);
        goto out;
    }
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "device", dev->name);
    cJSON_AddStringToObject(doc, "address",
                            np_addr_ip_str(&dev->address, ip, sizeof(ip)));
    cJSON_AddStringToObject(doc, "mode",
                            dev->mode == NP_CFG_VERIFY ? "verify" : "map");
    cJSON_AddItemToObject(doc, "discovery", pm_discovery_json(&rep.disc));
    arr = cJSON_AddArrayToObject(doc, "rules");
    for (i = 0; i < rep.n; i++) {
        bad += rep.r[i].outcome != NP_SESS_MAPPED;
        cJSON_AddItemToArray(
            arr, np_rj_verify_rule(&rep.r[i], NULL, NULL, NULL, NULL));
    }
    cJSON_AddNumberToObject(doc, "problems", (double)bad);
    cJSON_AddNumberToObject(doc, "unreachable", 0);
    cJSON_AddStringToObject(doc, "reachability_note",
                            "the router's answers only: the page does not "
                            "test reachability from outside");
    if (bad > 0 && res != NULL) {
        np_advice_manual m;

        np_advice_manual_steps(res, dev->platform, ip, 1, 0, &m);
        cJSON_AddItemToObject(doc, "manual", manual_json(&m));
    } else {
        cJSON_AddNullToObject(doc, "manual");
    }
    np__web_json(r, 200, print(doc));
out:
    np_sess_report_free(&rep);
    np_session_free(s);
    free(rules);
    np_resolved_free(res);
    np_catalog_free(cat);
    cJSON_Delete(in);
}

/* --- diagnose
 * -------------------------------------------------------------------*/

static cJSON *verdict_json(const np_nat_verdict *v)
{
    cJSON *o = cJSON_CreateObject(), *labels, *nat;

    labels = cJSON_AddObjectToObject(o, "labels");
    cJSON_AddStringToObject(labels, "generic", np_generic_name(v->generic));
    cJSON_AddStringToObject(labels, "xbox", np_xbox_name(v->xbox));
    cJSON_AddStringToObject(labels, "playstation", np_psn_name(v->psn));
    cJSON_AddStringToObject(labels, "switch", np_switch_name(v->sw));
    cJSON_AddStringToObject(o, "reason", v->reason);
    cJSON_AddStringToObject(o, "advice", v->advice);
    cJSON_AddStringToObject(o, "caveat", v->caveat);
    nat = cJSON_AddObjectToObject(o, "nat");
    cJSON_AddStringToObject(nat, "udp", np_udp_state_name(v->udp));
    cJSON_AddStringToObject(nat, "mapping", np_behaviour_name(v->mapping));
    cJSON_AddStringToObject(nat, "filtering", np_behaviour_name(v->filtering));
    cJSON_AddStringToObject(nat, "port_allocation",
                            np_port_alloc_name(v->port_alloc));
    cJSON_AddStringToObject(nat, "confidence",
                            np_nat_confidence_name(v->confidence));
    return o;
}

/* POST /diagnose: the NAT as the consoles name it, measured now from this
 * host (the router is the consoles' router too): without a mapping, and
 * with the game ports mapped (as the consoles count an active mapping). */
static void api_diagnose(np_web *w, np_web_req *r)
{
    const np_config *cfg = np__web_config(w);
    np_probe_config pc;
    np_probe_obs obs;
    np_nat_verdict before, after;
    np_error e;
    cJSON *doc;
    char a[NP_ADDRSTRLEN];
    int rc;

    if (!np_addr_is_set(&cfg->web.stun)) {
        np__web_error(r, 503, "no_stun",
                      "no STUN server configured (web.stun in "
                      "natpilot.conf); run 'natpilot diagnose' on a "
                      "computer of this LAN instead");
        return;
    }
    np_probe_config_init(&pc);
    pc.server = cfg->web.stun;
    np_error_clear(&e);
    rc = np_probe_run(&pc, &obs, &e);
    if (rc != NP_OK) {
        np__web_error(r, 502, "probe", "the diagnosis failed: %s", e.msg);
        return;
    }
    np_nat_classify(&obs, 0, &before);
    np_nat_classify(&obs, 1, &after);
    np__web_set_diagnosis(w, np_generic_name(before.generic));
    doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "server",
                            np_addr_str(&pc.server, a, sizeof(a)));
    cJSON_AddItemToObject(doc, "unmapped", verdict_json(&before));
    cJSON_AddItemToObject(doc, "mapped", verdict_json(&after));
    cJSON_AddNumberToObject(doc, "elapsed_ms", obs.elapsed_ms);
    np__web_json(r, 200, print(doc));
}

/* --- dispatch
 * -------------------------------------------------------------------*/

int np__web_api(np_web *w, np_web_req *r, const char *path)
{
    int post = strcmp(r->method, MHD_HTTP_METHOD_POST) == 0;

    if (strcmp(path, "/status") == 0) {
        char *s;

        if (post)
            goto method;
        s = np_keeper_status_json(np__web_keeper(w));
        if (s == NULL)
            np__web_error(r, 500, "internal", "out of memory");
        else
            np__web_json(r, 200, s);
        return 1;
    }
    if (strcmp(path, "/profiles") == 0) {
        if (post)
            goto method;
        api_profiles(w, r);
        return 1;
    }
    if (strncmp(path, "/profiles/", 10) == 0) {
        if (post)
            goto method;
        api_profile_show(w, r, path + 10);
        return 1;
    }
    if (strcmp(path, "/devices") == 0) {
        if (post)
            goto method;
        api_devices(w, r);
        return 1;
    }
    if (strcmp(path, "/plan") == 0) {
        if (!post)
            goto method;
        api_plan(w, r);
        return 1;
    }
    if (strcmp(path, "/setup") == 0) {
        if (!post)
            goto method;
        api_setup(w, r, 0);
        return 1;
    }
    if (strcmp(path, "/expert") == 0) {
        if (!post)
            goto method;
        api_setup(w, r, 1);
        return 1;
    }
    if (strcmp(path, "/verify") == 0) {
        if (!post)
            goto method;
        api_verify(w, r);
        return 1;
    }
    if (strcmp(path, "/diagnose") == 0) {
        if (!post)
            goto method;
        api_diagnose(w, r);
        return 1;
    }
    return 0;
method:
    np__web_error(r, 405, "method", "%s is not allowed here", r->method);
    return 1;
}

/* --- metrics
 * ----------------------------------------------------------------------*/

static void esc_label(char *out, size_t size, const char *s)
{
    size_t o = 0;

    for (; *s != '\0' && o + 3 < size; s++) {
        if (*s == '"' || *s == '\\' || *s == '\n') {
            out[o++] = '\\';
            out[o++] = *s == '\n' ? 'n' : *s;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/* Append to a growing text; 0 on out of memory. */
typedef struct buf {
    char *s;
    size_t len, cap;
} buf;

__attribute__((format(printf, 2, 3))) static int bprintf(buf *b,
                                                         const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        size_t room = b->cap - b->len;

        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return 0;
        if (b->s != NULL && (size_t)n < room) {
            b->len += (size_t)n;
            return 1;
        }
        {
            size_t nc = b->cap ? b->cap * 2 : 2048;
            char *ns;

            while (nc < b->len + (size_t)n + 1)
                nc *= 2;
            ns = realloc(b->s, nc);
            if (ns == NULL)
                return 0;
            b->s = ns;
            b->cap = nc;
        }
    }
}

int np__web_metrics(np_web *w, np_web_req *r)
{
    char *st = np_keeper_status_json(np__web_keeper(w));
    cJSON *doc = st != NULL ? cJSON_Parse(st) : NULL, *devs, *d, *rt;
    buf b = {NULL, 0, 0};
    char name[200];
    const char *nat = np__web_last_nat(w);

    free(st);
    if (doc == NULL) {
        np__web_error(r, 500, "internal", "no status");
        return 1;
    }
    rt = cJSON_GetObjectItemCaseSensitive(doc, "router");
    bprintf(&b, "# HELP natpilot_mappings_held Mappings natpilot holds (map "
                "mode) or sees (verify mode), per device.\n"
                "# TYPE natpilot_mappings_held gauge\n");
    devs = cJSON_GetObjectItemCaseSensitive(doc, "devices");
    cJSON_ArrayForEach(d, devs)
    {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(d, "name");
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(d, "mappings"), *m;
        unsigned held = 0, total = 0;

        cJSON_ArrayForEach(m, ms)
        {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "state");

            total++;
            if (cJSON_IsString(s) && (strcmp(s->valuestring, "held") == 0 ||
                                      strcmp(s->valuestring, "present") == 0))
                held++;
        }
        esc_label(name, sizeof(name),
                  cJSON_IsString(nm) ? nm->valuestring : "");
        bprintf(&b, "natpilot_mappings_held{device=\"%s\"} %u\n", name, held);
        bprintf(&b, "natpilot_mappings_wanted{device=\"%s\"} %u\n", name,
                total);
    }
    bprintf(&b,
            "# HELP natpilot_renew_failures_total Map or renew attempts "
            "that failed.\n# TYPE natpilot_renew_failures_total counter\n"
            "natpilot_renew_failures_total %.0f\n",
            cJSON_GetNumberValue(
                cJSON_GetObjectItemCaseSensitive(doc, "renew_failures")));
    bprintf(
        &b,
        "# HELP natpilot_router_restarts_total Router restarts seen."
        "\n# TYPE natpilot_router_restarts_total counter\n"
        "natpilot_router_restarts_total %.0f\n",
        cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rt, "restarts")));
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(rt, "state");

        bprintf(&b,
                "# HELP natpilot_router_up 1 when the router answers.\n"
                "# TYPE natpilot_router_up gauge\nnatpilot_router_up %d\n",
                cJSON_IsString(s) && strcmp(s->valuestring, "up") == 0);
    }
    bprintf(&b, "# HELP natpilot_nat_type The last diagnosis's NAT type "
                "(generic label), 1 for the label found.\n"
                "# TYPE natpilot_nat_type gauge\n");
    if (nat != NULL)
        bprintf(&b, "natpilot_nat_type{type=\"%s\"} 1\n", nat);
    cJSON_Delete(doc);
    if (b.s == NULL) {
        np__web_error(r, 500, "internal", "out of memory");
        return 1;
    }
    free(r->out);
    r->out = b.s;
    r->status = 200;
    r->out_type = "text/plain; version=0.0.4; charset=utf-8";
    return 1;
}
