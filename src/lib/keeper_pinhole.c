/*
 * natpilot: the keeper's IPv6 pinholes (see keeper_int.h). A device with
 * an "address6" in the configuration gets, for each of its map-mode
 * inbound ports, an IPv6 pinhole through pinhole.h (UPnP IGDv2 first, PCP
 * over IPv6 second), renewed at about half the granted lease
 * (UpdatePinhole / PCP with its nonce), opened again when the router lost
 * it (NoSuchEntry), and removed when the keeper stops. The renew-or-add
 * decision is pinhole_run.h's np_ph_renew, the one natpilot open --ipv6
 * uses.
 *
 * Not yet: pinholes are not written to the state file, so a crashed
 * keeper's pinholes are not removed at the next start (they expire with
 * their lease).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keeper_int.h"
#include "natpilot/pinhole_run.h"
#include "np_util.h"

#define PIN_NEVER    INT64_MAX
#define PIN_RETRY_MS 30000

int np__keep_pins_build(np_keeper *k)
{
    size_t i, n = 0;

    for (i = 0; i < k->n_ents; i++)
        if (np_addr_is_set(&k->cfg->devices[k->ents[i].dev].address6) &&
            k->cfg->devices[k->ents[i].dev].mode == NP_CFG_MAP)
            n++;
    k->pins = NULL;
    k->n_pins = 0;
    if (n == 0)
        return NP_OK;
    k->pins = calloc(n, sizeof(*k->pins));
    if (k->pins == NULL)
        return NP_ENOMEM;
    for (i = 0; i < k->n_ents; i++) {
        const np__ent *e = &k->ents[i];
        const np_cfg_device *d = &k->cfg->devices[e->dev];
        np__pin *p;

        if (!np_addr_is_set(&d->address6) || d->mode != NP_CFG_MAP)
            continue;
        p = &k->pins[k->n_pins++];
        p->dev = e->dev;
        p->transport = e->transport;
        p->port = e->port;
        p->req.transport = e->transport;
        p->req.internal = d->address6;
        np_addr_set_port(&p->req.internal, e->port);
        p->due = 0;
    }
    k->ph_due = 0;
    return NP_OK;
}

int64_t np__keep_pins_next_due(const np_keeper *k)
{
    int64_t t = PIN_NEVER;
    size_t i;

    if (k->n_pins == 0)
        return PIN_NEVER;
    if (k->ph == NULL)
        return k->ph_due;
    for (i = 0; i < k->n_pins; i++)
        if (k->pins[i].due < t)
            t = k->pins[i].due;
    return t;
}

static int pins_discover(np_keeper *k)
{
    np_ph_options opt;
    np_v6_pinholes sup;
    np_pinhole *ph;
    np_error err;
    int rc;

    memset(&opt, 0, sizeof(opt));
    np_error_clear(&err);
    ph = np_pinhole_new(&opt, &err);
    if (ph == NULL)
        return 0;
    rc = np_pinhole_discover(ph, &sup, &err);
    if (rc != NP_OK || (!sup.upnp_fwctl && !sup.pcp_answered)) {
        unsigned f = ++k->ph_failures;
        int64_t back = (int64_t)1000 << (f < 6 ? f : 6);

        np_pinhole_free(ph);
        k->ph_due = np__mono_ms() + (back < PIN_RETRY_MS ? back : PIN_RETRY_MS);
        if (f == 1)
            np__keep_log(k, NP_LOG_WARN, "IPv6 pinholes: %s",
                         rc != NP_OK ? err.msg
                                     : "the router takes "
                                       "no pinhole "
                                       "requests (neither "
                                       "UPnP IGDv2 nor PCP "
                                       "answered over "
                                       "IPv6)");
        return 0;
    }
    k->ph = ph;
    k->ph_failures = 0;
    np__keep_log(k, NP_LOG_INFO, "IPv6 pinholes: UPnP IGDv2 %s, PCP %s",
                 sup.upnp_fwctl ? (sup.upnp_inbound == 0 ? "says inbound "
                                                           "pinholes are not "
                                                           "allowed"
                                                         : "yes")
                                : "no",
                 sup.pcp_answered ? "yes" : "no");
    return 1;
}

static void pin_one(np_keeper *k, np__pin *p, int64_t now)
{
    const np_cfg_device *d = &k->cfg->devices[p->dev];
    np_ph_result res;
    np_error err;
    char ip[NP_ADDRSTRLEN];
    int rc, readded = 0;

    np_error_clear(&err);
    memset(&res, 0, sizeof(res));
    p->req.lifetime = k->cfg->lease;
    /* The same renew-or-add as natpilot open --ipv6 (pinhole_run.h). */
    rc = np_ph_renew(k->ph, &p->req, p->held, NP_PM_NONE, &res, &readded, &err);
    if (readded) {
        np__keep_log(k, NP_LOG_WARN,
                     "%s: IPv6 pinhole %s %u gone from the router; "
                     "opening it again",
                     d->name, np_pm_transport_name(p->transport),
                     (unsigned)p->port);
        p->held = 0;
    }
    np_addr_ip_str(&p->req.internal, ip, sizeof(ip));
    if (rc != NP_OK || res.outcome != NP_PM_OK) {
        unsigned f = ++p->failures;
        int64_t back = (int64_t)2000 << (f < 5 ? f : 5);

        snprintf(p->last_error, sizeof(p->last_error), "%s",
                 rc != NP_OK ? err.msg : res.message);
        p->due = now + back;
        if (f == 1)
            np__keep_log(k, NP_LOG_WARN,
                         "%s: IPv6 pinhole %s %u for %s refused: %s", d->name,
                         np_pm_transport_name(p->transport), (unsigned)p->port,
                         ip, p->last_error);
        return;
    }
    if (p->held)
        np__keep_log(k, NP_LOG_DEBUG,
                     "%s: IPv6 pinhole %s %u for %s renewed, lease %u s",
                     d->name, np_pm_transport_name(p->transport),
                     (unsigned)p->port, ip, (unsigned)res.lifetime);
    else
        np__keep_log(k, NP_LOG_INFO,
                     "%s: IPv6 pinhole %s %u for %s open via %s, lease %u s",
                     d->name, np_pm_transport_name(p->transport),
                     (unsigned)p->port, ip, np_pm_proto_name(res.proto),
                     (unsigned)res.lifetime);
    p->held = 1;
    p->failures = 0;
    p->last_error[0] = '\0';
    p->req.proto = res.proto;
    memcpy(p->req.uid, res.uid, sizeof(p->req.uid));
    memcpy(p->req.nonce, res.nonce, sizeof(p->req.nonce));
    p->due = now + np__keep_renew_delay_ms(
                       res.lifetime ? res.lifetime : k->cfg->lease, 0.5);
}

void np__keep_pins_process(np_keeper *k)
{
    int64_t now = np__mono_ms();
    size_t i;

    if (k->n_pins == 0 || k->stop)
        return;
    if (k->ph == NULL) {
        if (k->ph_due > now || !pins_discover(k))
            return;
    }
    for (i = 0; i < k->n_pins && !k->stop; i++)
        if (k->pins[i].due <= now)
            pin_one(k, &k->pins[i], now);
}

size_t np__keep_pins_teardown(np_keeper *k)
{
    size_t i, removed = 0, left = 0;

    for (i = 0; i < k->n_pins; i++) {
        np__pin *p = &k->pins[i];
        np_ph_result res;
        np_error err;

        if (!p->held || k->ph == NULL)
            continue;
        np_error_clear(&err);
        if (np_pinhole_delete(k->ph, &p->req, &res, &err) == NP_OK &&
            (res.outcome == NP_PM_OK || res.outcome == NP_PM_NOT_FOUND)) {
            p->held = 0;
            removed++;
        } else {
            left++;
        }
    }
    if (removed > 0 || left > 0)
        np__keep_log(k, left ? NP_LOG_WARN : NP_LOG_INFO,
                     "stopped: removed %zu IPv6 pinhole%s%s", removed,
                     removed == 1 ? "" : "s",
                     left ? "; some could not be removed (they expire with "
                            "their lease)"
                          : "");
    return left;
}

void np__keep_pins_free(np_keeper *k)
{
    np_pinhole_free(k->ph);
    k->ph = NULL;
    free(k->pins);
    k->pins = NULL;
    k->n_pins = 0;
}
