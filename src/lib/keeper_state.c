/*
 * The keeper's state file, its status document and the small parsers it
 * uses. The state file lists every mapping the keeper holds (device,
 * protocol, internal and external endpoint, lease expiry, PCP nonce), so a
 * run that crashed can be cleaned up by the next one. It is kept in the one
 * mapping store's format and written by store.c (temporary file, fsync,
 * rename, directory fsync); this file only turns the keeper's entries into
 * store entries and back.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keeper_int.h"
#include "portmap_int.h"
#include "np_util.h"

int64_t np_keeper_renew_delay_ms(uint32_t lease_s, double rnd)
{
    double f;

    if (!(rnd >= 0)) /* NaN too */
        rnd = 0;
    if (rnd > 1)
        rnd = 1;
    f = 0.40 + 0.10 * rnd; /* half the lease, minus up to 10 % jitter */
    return (int64_t)((double)lease_s * 1000.0 * f);
}

int64_t np_keeper_backoff_ms(unsigned failures, int64_t cap_ms)
{
    int64_t d = 2000;
    unsigned i;

    if (failures == 0)
        return 0;
    for (i = 1; i < failures && d < cap_ms && d <= INT64_MAX / 2; i++)
        d *= 2;
    return d < cap_ms ? d : cap_ms;
}

int np_keeper_ssdp_notify(const char *buf, size_t len, long *bootid, char *loc,
                          size_t locsize)
{
    static const char req[] = "NOTIFY * HTTP/1.1";
    size_t pos = 0, l, vl, k;
    const char *line, *v;
    int alive = 0, have_loc = 0, igd = 0;

    *bootid = -1;
    if (locsize > 0)
        loc[0] = '\0';
    if (!np__ssdp_line(buf, len, &pos, &line, &l) || l != sizeof(req) - 1 ||
        memcmp(line, req, l) != 0)
        return 0;
    while (np__ssdp_line(buf, len, &pos, &line, &l) && l > 0) {
        if (np__ssdp_header(line, l, "NTS", &v, &vl)) {
            alive = vl == 10 && strncasecmp(v, "ssdp:alive", 10) == 0;
        } else if (np__ssdp_header(line, l, "NT", &v, &vl)) {
            igd = np__ssdp_igd_type(v, vl) != 0;
        } else if (np__ssdp_header(line, l, "LOCATION", &v, &vl)) {
            if (!np__ssdp_location(v, vl, loc, locsize))
                return 0;
            have_loc = 1;
        } else if (np__ssdp_header(line, l, "BOOTID.UPNP.ORG", &v, &vl) &&
                   vl > 0 && vl <= 10) {
            long b = 0;

            for (k = 0; k < vl && b >= 0; k++)
                b = v[k] >= '0' && v[k] <= '9' ? b * 10 + (v[k] - '0') : -1;
            *bootid = b;
        }
    }
    return alive && igd && have_loc;
}

/* --- the state file ------------------------------------------------------
 * Kept in the one mapping store's format (store.h): what keeper_state.c
 * does is only turning the keeper's entries and orphans into store entries
 * and back. */

static void put_entry(np_keeper *k, const char *device, enum np_pm_proto proto,
                      int transport, const np_addr *internal, uint16_t port,
                      uint16_t ext_port, const np_addr *gateway,
                      int64_t expires, const uint8_t nonce[12])
{
    np_store_entry e;

    memset(&e, 0, sizeof(e));
    snprintf(e.owner, sizeof(e.owner), "%s", device);
    e.gateway = *gateway;
    np_addr_set_port(&e.gateway, 0);
    e.proto = proto;
    e.transport = transport;
    e.internal = *internal;
    np_addr_set_port(&e.internal, 0);
    e.internal_port = port;
    e.external_port = ext_port ? ext_port : port;
    memcpy(e.nonce, nonce, sizeof(e.nonce));
    e.expires = expires;
    (void)np_store_put(k->store, &e);
}

int np__keep_state_write(np_keeper *k, np_error *err)
{
    size_t i;

    if (k->store == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no state file");
    k->store->n = 0;
    for (i = 0; i < k->n_ents; i++) {
        const np__ent *e = &k->ents[i];
        const np_cfg_device *d = &k->cfg->devices[e->dev];

        if (e->state != NP__ENT_HELD)
            continue;
        put_entry(k, d->name, e->proto, e->transport, &d->address, e->port,
                  np_addr_port(&e->external), &k->disc.gateway, e->expires,
                  e->nonce);
    }
    for (i = 0; i < k->n_orphans; i++) {
        const np__orphan *o = &k->orphans[i];

        put_entry(k, o->device, o->proto, o->transport, &o->internal, o->port,
                  o->ext_port, &o->gateway, o->expires, o->nonce);
    }
    return np_store_save(k->store, err);
}

void np__keep_state_remove(np_keeper *k)
{
    if (k->store != NULL)
        (void)np_store_remove(k->store, NULL);
}

int np__keep_state_read(np_keeper *k, np_error *err)
{
    np_store_note note;
    int64_t now = np__wall_s();
    size_t i;
    int rc;

    if (k->store == NULL) {
        k->store = np_store_new(k->cfg->state_file, err);
        if (k->store == NULL)
            return err != NULL ? err->code : NP_ENOMEM;
    }
    rc = np_store_load(k->store, &note, err);
    if (rc != NP_OK)
        return rc;
    if (note.moved_aside)
        np__keep_log(k, NP_LOG_WARN, "%s", note.message);
    free(k->orphans);
    k->n_orphans = 0;
    k->orphans = k->store->n ? calloc(k->store->n, sizeof(*k->orphans)) : NULL;
    if (k->store->n && k->orphans == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    for (i = 0; i < k->store->n; i++) {
        const np_store_entry *e = &k->store->e[i];
        np__orphan *o = &k->orphans[k->n_orphans];

        if (e->expires != 0 && e->expires <= now)
            continue; /* its lease ran out: the router dropped it */
        if (!np_addr_is_set(&e->internal))
            continue; /* not the daemon's: it always names the device */
        memset(o, 0, sizeof(*o));
        o->proto = e->proto;
        o->transport = e->transport;
        o->port = e->internal_port;
        o->ext_port = e->external_port;
        o->internal = e->internal;
        o->gateway = e->gateway;
        memcpy(o->nonce, e->nonce, sizeof(o->nonce));
        o->expires = e->expires;
        snprintf(o->device, sizeof(o->device), "%.*s",
                 (int)sizeof(o->device) - 1, e->owner);
        k->n_orphans++;
    }
    return NP_OK;
}

static const char *ent_state_name(int s)
{
    switch (s) {
    case NP__ENT_PENDING:
        return "pending";
    case NP__ENT_HELD:
        return "held";
    case NP__ENT_REFUSED:
        return "refused";
    case NP__ENT_PRESENT:
        return "present";
    case NP__ENT_MISSING:
        return "missing";
    case NP__ENT_ELSEWHERE:
        return "other-device";
    default:
        return "unknown";
    }
}

static void add_time(cJSON *o, const char *name, int64_t t)
{
    if (t > 0)
        cJSON_AddNumberToObject(o, name, (double)t);
    else
        cJSON_AddNullToObject(o, name);
}

char *np_keeper_status_json(np_keeper *k)
{
    cJSON *doc, *r, *devs, *protos;
    char a[NP_ADDRSTRLEN];
    size_t i, j;
    int p;
    int64_t now = np__wall_s(), mono = np__mono_ms();
    char *out;

    if (k == NULL || (doc = cJSON_CreateObject()) == NULL)
        return NULL;
    cJSON_AddStringToObject(doc, "version",
                            k->opts.version ? k->opts.version : "");
    cJSON_AddNumberToObject(doc, "pid", (double)getpid());
    cJSON_AddNumberToObject(doc, "started", (double)k->started);
    cJSON_AddStringToObject(doc, "config",
                            k->opts.config_path ? k->opts.config_path : "");
    cJSON_AddNumberToObject(doc, "lease", k->cfg->lease);
    r = cJSON_AddObjectToObject(doc, "router");
    if (r != NULL) {
        cJSON_AddStringToObject(
            r, "gateway",
            np_addr_is_set(&k->disc.gateway)
                ? np_addr_ip_str(&k->disc.gateway, a, sizeof(a))
                : "");
        cJSON_AddStringToObject(r, "state",
                                k->router == NP__R_UP     ? "up"
                                : k->router == NP__R_DOWN ? "unreachable"
                                                          : "unknown");
        protos = cJSON_AddArrayToObject(r, "protocols");
        for (p = 1; protos != NULL && p < NP_PM_NPROTO; p++)
            if (k->router == NP__R_UP && k->disc.has[p])
                cJSON_AddItemToArray(protos,
                                     cJSON_CreateString(np_pm_proto_name(p)));
        add_time(r, "last_restart", k->last_restart);
        cJSON_AddStringToObject(r, "last_restart_reason", k->last_restart_why);
        cJSON_AddStringToObject(r, "last_error", k->last_error);
        if (k->router == NP__R_DOWN)
            cJSON_AddNumberToObject(r, "retry_in",
                                    (double)((k->router_due - mono) / 1000));
        cJSON_AddNumberToObject(r, "orphans_pending", (double)k->n_orphans);
        cJSON_AddNumberToObject(r, "restarts", (double)k->n_restarts);
    }
    cJSON_AddNumberToObject(doc, "renew_failures", (double)k->n_renew_failures);
    devs = cJSON_AddArrayToObject(doc, "devices");
    for (i = 0; devs != NULL && i < k->cfg->n_devices; i++) {
        const np_cfg_device *d = &k->cfg->devices[i];
        cJSON *dj = cJSON_CreateObject(), *ms;

        if (dj == NULL)
            break;
        cJSON_AddStringToObject(dj, "name", d->name);
        cJSON_AddStringToObject(dj, "address",
                                np_addr_ip_str(&d->address, a, sizeof(a)));
        cJSON_AddStringToObject(dj, "mode",
                                d->mode == NP_CFG_MAP ? "map" : "verify");
        if (d->platform != 0)
            cJSON_AddStringToObject(dj, "platform",
                                    np_platform_name(d->platform));
        else
            cJSON_AddNullToObject(dj, "platform");
        {
            cJSON *pa = cJSON_AddArrayToObject(dj, "profiles");

            for (j = 0; pa != NULL && j < d->n_profiles; j++)
                cJSON_AddItemToArray(pa, cJSON_CreateString(d->profiles[j]));
        }
        ms = cJSON_AddArrayToObject(dj, "mappings");
        for (j = 0; ms != NULL && j < k->n_ents; j++) {
            const np__ent *e = &k->ents[j];
            cJSON *m;

            if (e->dev != i || (m = cJSON_CreateObject()) == NULL)
                continue;
            cJSON_AddStringToObject(m, "transport",
                                    np_pm_transport_name(e->transport));
            cJSON_AddNumberToObject(m, "internal_port", e->port);
            cJSON_AddStringToObject(m, "state", ent_state_name(e->state));
            cJSON_AddStringToObject(m, "protocol", np_pm_proto_name(e->proto));
            cJSON_AddStringToObject(
                m, "external",
                np_addr_is_set(&e->external)
                    ? np_addr_str(&e->external, a, sizeof(a))
                    : "");
            add_time(m, "expires", e->expires);
            add_time(m, "last_renewed", e->renewed);
            if (e->expires > 0)
                cJSON_AddNumberToObject(m, "expires_in",
                                        (double)(e->expires - now));
            if (e->state == NP__ENT_HELD)
                cJSON_AddNumberToObject(m, "renew_in",
                                        (double)((e->due - mono) / 1000));
            if (e->holder[0] != '\0')
                cJSON_AddStringToObject(m, "holder", e->holder);
            cJSON_AddStringToObject(m, "last_error", e->last_error);
            cJSON_AddItemToArray(ms, m);
        }
        cJSON_AddItemToArray(devs, dj);
    }
    out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return out;
}
