/*
 * The mapping session (see include/natpilot/session.h): the one place where
 * natpilot decides what a router's answer means for a rule, for open,
 * verify, close, the wizard and the daemon.
 *
 * The policy is a chain of small named steps, so that router quirks can be
 * added one step at a time:
 *   sess_request     the request for a rule (device, lease, description)
 *   sess_add         one add, with the stored nonce and protocol
 *   sess_stand_in    a stand-in external port: kept only where the
 *                    platform accepts another external port
 *   sess_alternate   a conflict on a platform that accepts another port:
 *                    ask for any free external port
 *   sess_find_holder who holds a conflicting port (the UPnP table)
 *   sess_readback    UPnP: read the mapping back after add
 *   sess_record      remember PCP/NAT-PMP mappings (nonces) in the store
 *   sess_rollback    remove what this run made
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "natpilot/session.h"
#include "np_util.h"

struct np_session {
    np_sess_opts o;
    char owner[NP_STORE_OWNER_MAX];
    np_portmap *own;                       /* made (and freed) by the session */
    np_portmap *pm;                        /* own or borrowed */
    enum np_pm_proto prefer[NP_PM_NPROTO]; /* discovery for apply */
    np_pm_discovery disc;
    int have_disc;
    np_pm_mapping *tab; /* the UPnP table, read at most once per run */
    size_t ntab;
    int listed;
};

const char *np_sess_outcome_name(enum np_sess_outcome o)
{
    switch (o) {
    case NP_SESS_NOT_TRIED:
        return "skipped";
    case NP_SESS_MAPPED:
        return "mapped";
    case NP_SESS_CONFLICT:
        return "conflict";
    case NP_SESS_REFUSED:
        return "refused";
    case NP_SESS_THIRD_PARTY:
        return "third-party-refused";
    case NP_SESS_PERMANENT_ONLY:
        return "permanent-only";
    case NP_SESS_TIMEOUT:
        return "timeout";
    case NP_SESS_UNSUPPORTED:
        return "unsupported";
    case NP_SESS_ROLLED_BACK:
        return "rolled-back";
    case NP_SESS_MISSING:
        return "missing";
    case NP_SESS_ELSEWHERE:
        return "other-device";
    case NP_SESS_UNKNOWN:
        return "unknown";
    case NP_SESS_REMOVED:
        return "removed";
    case NP_SESS_GONE:
        return "gone";
    case NP_SESS_FAILED:
    default:
        return "failed";
    }
}

void np_sess_report_free(np_sess_report *rep)
{
    if (rep == NULL)
        return;
    free(rep->r);
    rep->r = NULL;
    rep->n = 0;
}

/* --- the object ------------------------------------------------------------*/

np_session *np_session_new(const np_sess_opts *opts, np_error *err)
{
    np_session *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if (opts != NULL)
        s->o = *opts;
    snprintf(s->owner, sizeof(s->owner), "%s",
             s->o.owner != NULL ? s->o.owner : NP_STORE_OWNER_CLI);
    s->o.owner = NULL; /* copied into s->owner */
    if (opts != NULL && opts->prefer != NULL) {
        size_t i;

        for (i = 0; i < NP_PM_NPROTO && opts->prefer[i] != NP_PM_NONE; i++)
            s->prefer[i] = opts->prefer[i];
    }
    s->o.prefer = s->prefer[0] != NP_PM_NONE ? s->prefer : NULL;
    if (s->o.lease == 0)
        s->o.lease = NP_SESS_DEFAULT_LEASE;
    np_addr_set_port(&s->o.device, 0);
    s->pm = s->o.pm;
    if (s->pm != NULL) {
        const np_pm_discovery *d = np_portmap_discovery(s->pm);

        if (d != NULL) {
            s->disc = *d;
            s->have_disc = 1;
        }
    }
    return s;
}

void np_session_free(np_session *s)
{
    if (s == NULL)
        return;
    free(s->tab);
    np_portmap_free(s->own);
    free(s);
}

np_portmap *np_session_portmap(np_session *s)
{
    return s != NULL ? s->pm : NULL;
}

static int cancelled(const np_session *s)
{
    return s->o.cancel != NULL && *s->o.cancel != 0;
}

static int for_other_device(const np_session *s)
{
    return np_addr_is_set(&s->o.device);
}

/* The device a table entry must point to: the session's, or this host. */
static const np_addr *device_of(const np_session *s)
{
    return for_other_device(s) ? &s->o.device : &s->disc.local;
}

static void default_prefer(enum np_pm_proto out[NP_PM_NPROTO])
{
    out[0] = NP_PM_PCP;
    out[1] = NP_PM_NATPMP;
    out[2] = NP_PM_UPNP;
    out[3] = NP_PM_NONE;
}

static void discover_options(const np_session *s, enum np_sess_op purpose,
                             const enum np_pm_proto *prefer, np_pm_options *o)
{
    size_t i;

    memset(o, 0, sizeof(*o));
    o->gateway = s->o.gateway;
    if (s->o.via != NP_PM_NONE) {
        o->prefer[0] = s->o.via;
    } else if (purpose != NP_SESS_APPLY) {
        o->prefer[0] = NP_PM_UPNP;
        o->prefer[1] = NP_PM_PCP;
        o->prefer[2] = NP_PM_NATPMP;
        /* The UPnP table is the point (verify, close): an IGD answers
         * M-SEARCH after a random delay of up to MX = 1 s, so do not give
         * up on SSDP a few PCP round trips after PCP answered. */
        o->ssdp_window_ms = 1200;
    } else if (prefer != NULL) {
        for (i = 0; i < NP_PM_NPROTO && prefer[i] != NP_PM_NONE; i++)
            o->prefer[i] = prefer[i];
    }
    if (s->o.timeout_ms > 0) {
        o->timeout_ms = s->o.timeout_ms;
        o->ssdp_max_ms = s->o.timeout_ms;
    }
}

int np_session_discover(np_session *s, enum np_sess_op purpose,
                        np_pm_discovery *out, np_error *err)
{
    np_pm_options o;
    int rc;

    if (s == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no session");
    if (s->o.pm != NULL) {
        if (out != NULL)
            *out = s->disc;
        return NP_OK;
    }
    discover_options(s, purpose, s->o.prefer, &o);
    np_portmap_free(s->own);
    s->own = s->pm = NULL;
    s->own = np_portmap_new(&o, err);
    if (s->own == NULL)
        return err != NULL ? err->code : NP_ENOMEM;
    memset(&s->disc, 0, sizeof(s->disc));
    rc = np_portmap_discover(s->own, &s->disc, err);
    if (out != NULL)
        *out = s->disc;
    if (rc != NP_OK) {
        if (cancelled(s) && rc != NP_ECANCELED)
            rc = np_error_set(err, NP_ECANCELED, NULL, "interrupted");
        return rc;
    }
    s->pm = s->own;
    s->have_disc = 1;
    return NP_OK;
}

enum np_pm_proto np_session_plan_proto(const np_pm_discovery *d,
                                       const np_sess_opts *opts)
{
    enum np_pm_proto order[NP_PM_NPROTO];
    int other = opts != NULL && np_addr_is_set(&opts->device) &&
                !np_addr_same_ip(&opts->device, &d->local);
    size_t i;

    if (d == NULL)
        return NP_PM_NONE;
    if (opts != NULL && opts->via != NP_PM_NONE)
        return d->has[opts->via] && !(other && opts->via == NP_PM_NATPMP)
                   ? opts->via
                   : NP_PM_NONE;
    default_prefer(order);
    if (opts != NULL && opts->prefer != NULL && opts->prefer[0] != NP_PM_NONE)
        for (i = 0; i < NP_PM_NPROTO; i++) {
            order[i] = opts->prefer[i];
            if (order[i] == NP_PM_NONE)
                break;
        }
    for (i = 0; i < NP_PM_NPROTO && order[i] != NP_PM_NONE; i++) {
        if (order[i] >= NP_PM_NPROTO || !d->has[order[i]])
            continue;
        /* NAT-PMP has no field for another host (RFC 6886) */
        if (other && order[i] == NP_PM_NATPMP)
            continue;
        return order[i];
    }
    return NP_PM_NONE;
}

/* --- rules -----------------------------------------------------------------*/

int np_sess_rules_add(np_sess_rule *rules, size_t *n, size_t max, int transport,
                      uint16_t port, int essential, const char *label,
                      const char *feature)
{
    size_t i;
    np_sess_rule *r;

    for (i = 0; i < *n; i++)
        if (rules[i].transport == transport && rules[i].port == port) {
            rules[i].essential |= essential;
            return NP_OK;
        }
    if (*n >= max)
        return NP_ENOMEM;
    r = &rules[(*n)++];
    memset(r, 0, sizeof(*r));
    r->transport = transport;
    r->port = port;
    r->essential = essential;
    snprintf(r->label, sizeof(r->label), "%s", label ? label : "");
    snprintf(r->feature, sizeof(r->feature), "%s", feature ? feature : "");
    return NP_OK;
}

int np_sess_rules_from_resolved(np_sess_rule *rules, size_t *n, size_t max,
                                const np_resolved *res, size_t *skipped_broad)
{
    size_t i, k, j;

    for (i = 0; i < res->n_inbound; i++) {
        const np_rule *r = &res->inbound[i];
        int t = r->protocol == NP_PROTO_TCP ? NP_PM_TCP : NP_PM_UDP;

        if (r->broad) {
            if (skipped_broad != NULL)
                (*skipped_broad)++;
            continue;
        }
        for (k = 0; k < r->n_ports; k++) {
            uint32_t p;

            for (p = r->ports[k].lo; p <= r->ports[k].hi; p++) {
                size_t at;

                if (np_sess_rules_add(rules, n, max, t, (uint16_t)p,
                                      r->essential, r->profile_id,
                                      r->feature ? r->feature : r->note) !=
                    NP_OK)
                    return NP_ENOMEM;
                for (at = 0; at < *n; at++)
                    if (rules[at].transport == t && rules[at].port == p)
                        break;
                for (j = 0; j < res->n_alt_ports; j++)
                    if (res->alt_ports[j].port == p &&
                        res->alt_ports[j].protocol == r->protocol)
                        rules[at].alt_port = 1;
            }
        }
    }
    return NP_OK;
}

/* --- steps -----------------------------------------------------------------*/

static void sess_request(const np_session *s, const np_sess_rule *r,
                         np_pm_request *q)
{
    char label[64];

    memset(q, 0, sizeof(*q));
    q->transport = r->transport;
    q->internal_port = r->port;
    q->external_port = r->port;
    if (for_other_device(s))
        q->internal = s->o.device;
    q->lifetime = s->o.permanent ? 0 : s->o.lease;
    q->permanent = s->o.permanent;
    if (strcmp(s->owner, NP_STORE_OWNER_CLI) != 0) {
        /* the daemon labels its mappings with the device's name */
        np_pm_describe(q->description, sizeof(q->description), s->owner);
        return;
    }
    snprintf(label, sizeof(label), "%.40s %s/%u", r->label,
             np_pm_transport_name(r->transport), (unsigned)r->port);
    np_pm_describe(q->description, sizeof(q->description), label);
}

static void table_drop(np_session *s)
{
    free(s->tab);
    s->tab = NULL;
    s->ntab = 0;
    s->listed = 0;
}

/* The UPnP table, read once per run; NULL/0 when it cannot be read. */
static void table_read(np_session *s)
{
    np_error err;

    if (s->listed)
        return;
    s->listed = 1;
    if (!s->disc.has[NP_PM_UPNP])
        return;
    (void)np_portmap_use(s->pm, NP_PM_UPNP, NULL);
    if (np_portmap_list(s->pm, &s->tab, &s->ntab, &err) != NP_OK) {
        s->tab = NULL;
        s->ntab = 0;
    }
    (void)np_portmap_use(s->pm, NP_PM_NONE, NULL);
}

/*
 * The UPnP table when the session's portmap has no IGD (PCP or NAT-PMP was
 * enough to map, or --via left UPnP out): ask the gateway's IGD on a side
 * object, read only. Used to name who holds a port, which PCP and NAT-PMP
 * never say; costs an SSDP wait, and only on a conflict.
 */
static void table_read_side(np_session *s)
{
    np_pm_options o;
    np_portmap *side;
    np_error err;

    if (s->listed || s->disc.has[NP_PM_UPNP] || !s->o.side_table) {
        table_read(s);
        return;
    }
    s->listed = 1;
    memset(&o, 0, sizeof(o));
    o.prefer[0] = NP_PM_UPNP;
    o.gateway = s->disc.gateway;
    o.ssdp_max_ms = 1500;
    side = np_portmap_new(&o, &err);
    if (side == NULL)
        return;
    if (np_portmap_discover(side, NULL, &err) != NP_OK ||
        np_portmap_list(side, &s->tab, &s->ntab, &err) != NP_OK) {
        s->tab = NULL;
        s->ntab = 0;
    }
    np_portmap_free(side);
}

/* Who holds the rule's external port, from the UPnP table, when the answer
 * did not say (PCP and NAT-PMP never do). */
static void sess_find_holder(np_session *s, const np_sess_rule *r,
                             np_pm_result *res)
{
    size_t i;

    if (np_addr_is_set(&res->holder))
        return;
    table_read_side(s);
    for (i = 0; i < s->ntab; i++) {
        const np_pm_mapping *m = &s->tab[i];

        if (m->transport != r->transport || m->external_port != r->port ||
            !m->enabled)
            continue;
        if (np_addr_same_ip(&m->internal, device_of(s)))
            continue;
        res->holder = m->internal;
        np_addr_set_port(&res->holder, 0);
        snprintf(res->holder_desc, sizeof(res->holder_desc), "%s",
                 m->description);
        return;
    }
}

/* Remove a mapping natpilot made (stand-in port, rollback, close): on
 * external port ext (0: the rule's), with the protocol and nonce it was
 * made with (proto NP_PM_NONE: any). */
static int sess_delete(np_session *s, const np_sess_rule *r,
                       enum np_pm_proto proto, uint16_t ext,
                       const uint8_t *nonce, np_pm_result *dr, np_error *err)
{
    np_pm_request q;
    int rc;

    sess_request(s, r, &q);
    q.external_port = ext != 0 ? ext : r->port;
    q.lifetime = 0;
    if (nonce != NULL)
        memcpy(q.nonce, nonce, sizeof(q.nonce));
    memset(dr, 0, sizeof(*dr));
    if (proto != NP_PM_NONE && np_portmap_use(s->pm, proto, err) != NP_OK)
        return err != NULL ? err->code : NP_EUNSUPP;
    rc = np_portmap_delete(s->pm, &q, dr, err);
    (void)np_portmap_use(s->pm, NP_PM_NONE, NULL);
    return rc;
}

/* sess_delete of what an add answered. */
static int sess_delete_made(np_session *s, const np_sess_rule *r,
                            const np_pm_result *made, np_pm_result *dr,
                            np_error *err)
{
    return sess_delete(s, r, made->proto, np_addr_port(&made->external),
                       made->nonce, dr, err);
}

static void sess_unrecord(np_session *s, int transport, uint16_t ext_port)
{
    long k;

    if (s->o.store == NULL)
        return;
    k = np_store_find(s->o.store, &s->disc.gateway, transport, ext_port, 0,
                      &s->o.device);
    if (k >= 0)
        np_store_del(s->o.store, (size_t)k);
}

static void sess_record(np_session *s, const np_sess_result *out)
{
    np_store_entry e;

    if (s->o.store == NULL || out->pm.proto == NP_PM_UPNP)
        return; /* UPnP mappings are found by their tag in the table */
    memset(&e, 0, sizeof(e));
    snprintf(e.owner, sizeof(e.owner), "%s", s->owner);
    e.gateway = s->disc.gateway;
    np_addr_set_port(&e.gateway, 0);
    e.proto = out->pm.proto;
    e.transport = out->rule.transport;
    e.internal = s->o.device;
    e.internal_port = out->rule.port;
    e.external_port = np_addr_port(&out->pm.external);
    if (e.external_port == 0)
        e.external_port = out->rule.port;
    memcpy(e.nonce, out->pm.nonce, sizeof(e.nonce));
    e.expires = out->pm.lifetime ? (int64_t)time(NULL) + out->pm.lifetime : 0;
    (void)np_store_put(s->o.store, &e);
}

/*
 * The router granted another external port than the rule's. Kept where the
 * platform accepts another external port (an Xbox announces whichever port
 * it got through Xbox Live); otherwise taken back at once and reported as a
 * conflict: a game whose players dial the well-known port (Minecraft Java's
 * TCP 25565) gains nothing from 25566 but a forward nobody uses, and the
 * port is someone else's. The daemon and open both come here, so the
 * router is left in the same state by either.
 */
static void sess_stand_in(np_session *s, const np_sess_rule *r,
                          np_sess_result *out)
{
    np_pm_result dr;
    np_error err;

    if (r->alt_port) {
        out->outcome = NP_SESS_MAPPED;
        out->alternate = 1;
        return;
    }
    out->offered_port = np_addr_port(&out->pm.external);
    out->outcome = NP_SESS_CONFLICT;
    np_error_clear(&err);
    if (sess_delete_made(s, r, &out->pm, &dr, &err) != NP_OK ||
        (dr.outcome != NP_PM_OK && dr.outcome != NP_PM_NOT_FOUND)) {
        /* still on the router: record it so close can remove it */
        sess_record(s, out);
    }
    sess_find_holder(s, r, &out->pm);
}

/* A conflict on a platform that accepts another external port: ask for any
 * free one (UPnP AddAnyPortMapping, PCP without PREFER_FAILURE). 1 when it
 * was granted (out updated). */
static int sess_alternate(np_session *s, const np_sess_rule *r,
                          const np_pm_request *q, np_sess_result *out)
{
    np_pm_request aq = *q;
    np_pm_result ar;
    np_error aerr;

    if (!r->alt_port || cancelled(s))
        return 0;
    aq.allow_other_port = 1;
    memset(aq.nonce, 0, sizeof(aq.nonce));
    if (np_portmap_add(s->pm, &aq, &ar, &aerr) != NP_OK ||
        (ar.outcome != NP_PM_OK && ar.outcome != NP_PM_OTHER_PORT) ||
        np_addr_port(&ar.external) == r->port)
        return 0;
    out->pm = ar;
    out->outcome = NP_SESS_MAPPED;
    out->alternate = 1;
    return 1;
}

/*
 * UPnP: read the mapping back after the router said yes (a router can
 * answer success and not hold it). Only a clear "not there" or "someone
 * else's" changes the verdict; a read that fails keeps the answer.
 */
static void sess_readback(np_session *s, const np_pm_request *q,
                          np_sess_result *out)
{
    np_pm_request gq = *q;
    np_pm_result gr;
    np_error err;

    if (out->pm.proto != NP_PM_UPNP || out->outcome != NP_SESS_MAPPED)
        return;
    gq.external_port = np_addr_port(&out->pm.external);
    if (gq.external_port == 0)
        return;
    (void)np_portmap_use(s->pm, NP_PM_UPNP, NULL);
    if (np_portmap_get(s->pm, &gq, &gr, &err) == NP_OK &&
        (gr.outcome == NP_PM_NOT_FOUND || gr.outcome == NP_PM_OTHER_DEVICE)) {
        out->outcome = NP_SESS_FAILED;
        snprintf(out->pm.message, sizeof(out->pm.message),
                 "the router answered success but does not list the "
                 "mapping (%s)",
                 np_pm_outcome_name(gr.outcome));
    }
    (void)np_portmap_use(s->pm, NP_PM_NONE, NULL);
}

static enum np_sess_outcome from_pm_apply(enum np_pm_outcome o)
{
    switch (o) {
    case NP_PM_OK:
        return NP_SESS_MAPPED;
    case NP_PM_OTHER_PORT:
    case NP_PM_CONFLICT:
        return NP_SESS_CONFLICT;
    case NP_PM_POLICY:
        return NP_SESS_REFUSED;
    case NP_PM_THIRD_PARTY:
        return NP_SESS_THIRD_PARTY;
    case NP_PM_PERMANENT_ONLY:
        return NP_SESS_PERMANENT_ONLY;
    case NP_PM_TIMEOUT:
        return NP_SESS_TIMEOUT;
    case NP_PM_UNSUPPORTED:
        return NP_SESS_UNSUPPORTED;
    case NP_PM_NOT_FOUND:
    case NP_PM_OTHER_DEVICE:
    case NP_PM_FAILED:
    default:
        return NP_SESS_FAILED;
    }
}

/* One add with the protocol and nonce the mapping was made with. */
static int sess_add(np_session *s, const np_pm_request *q,
                    enum np_pm_proto prev, np_pm_result *res, np_error *err)
{
    int rc;

    if (prev != NP_PM_NONE && np_portmap_use(s->pm, prev, NULL) != NP_OK)
        (void)np_portmap_use(s->pm, NP_PM_NONE, NULL);
    rc = np_portmap_add(s->pm, q, res, err);
    (void)np_portmap_use(s->pm, NP_PM_NONE, NULL);
    if (rc != NP_ECANCELED && cancelled(s) && rc != NP_OK)
        rc = NP_ECANCELED;
    return rc;
}

/* Map one rule: every step above. Return codes as np_session_map_rule. */
static int map_one(np_session *s, const np_sess_rule *r, enum np_pm_proto prev,
                   const uint8_t *nonce, np_sess_result *out, np_error *err)
{
    np_pm_request q;
    int rc;

    memset(out, 0, sizeof(*out));
    out->rule = *r;
    out->device = s->o.device;
    sess_request(s, r, &q);
    if (nonce != NULL)
        memcpy(q.nonce, nonce, sizeof(q.nonce));
    rc = sess_add(s, &q, prev, &out->pm, err);
    out->tried = 1;
    if (rc == NP_ECANCELED)
        return rc;
    if (rc != NP_OK && rc != NP_ETIMEOUT)
        return rc;
    out->outcome = from_pm_apply(out->pm.outcome);
    if (rc == NP_ETIMEOUT || out->outcome == NP_SESS_TIMEOUT) {
        out->outcome = NP_SESS_TIMEOUT;
        return NP_ETIMEOUT;
    }
    if (out->pm.outcome == NP_PM_OK && np_addr_port(&out->pm.external) != 0 &&
        np_addr_port(&out->pm.external) != r->port)
        out->pm.outcome = NP_PM_OTHER_PORT; /* "ok" on another port */
    if (out->pm.outcome == NP_PM_OTHER_PORT)
        sess_stand_in(s, r, out);
    else if (out->pm.outcome == NP_PM_CONFLICT &&
             !sess_alternate(s, r, &q, out))
        sess_find_holder(s, r, &out->pm);
    sess_readback(s, &q, out);
    if (out->outcome == NP_SESS_MAPPED)
        sess_record(s, out);
    return NP_OK;
}

int np_session_map_rule(np_session *s, const np_sess_rule *r,
                        enum np_pm_proto prev_proto, const uint8_t nonce[12],
                        np_sess_result *out, np_error *err)
{
    if (s == NULL || r == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    if (s->pm == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no gateway discovered");
    table_drop(s);
    return map_one(s, r, prev_proto, nonce, out, err);
}

int np_session_unmap(np_session *s, enum np_pm_proto proto, int transport,
                     uint16_t internal_port, uint16_t external_port,
                     const uint8_t nonce[12], np_sess_result *out,
                     np_error *err)
{
    int rc;

    if (s == NULL || out == NULL || s->pm == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    memset(out, 0, sizeof(*out));
    out->rule.transport = transport;
    out->rule.port = internal_port;
    out->device = s->o.device;
    rc = sess_delete(s, &out->rule, proto, external_port, nonce, &out->pm, err);
    out->tried = 1;
    if (out->pm.proto == NP_PM_NONE)
        out->pm.proto = proto;
    if (rc == NP_OK && out->pm.outcome == NP_PM_TIMEOUT)
        rc = NP_ETIMEOUT;
    if (rc != NP_OK) {
        out->outcome = NP_SESS_FAILED;
        if (out->pm.message[0] == '\0' && err != NULL)
            snprintf(out->pm.message, sizeof(out->pm.message), "%.190s",
                     err->msg);
        return rc;
    }
    out->outcome = out->pm.outcome == NP_PM_OK          ? NP_SESS_REMOVED
                   : out->pm.outcome == NP_PM_NOT_FOUND ? NP_SESS_GONE
                                                        : NP_SESS_FAILED;
    if (out->outcome != NP_SESS_FAILED)
        sess_unrecord(s, transport, external_port);
    return NP_OK;
}

/* --- reports ---------------------------------------------------------------*/

static int report_init(np_session *s, np_sess_report *rep, enum np_sess_op op,
                       size_t n, np_error *err)
{
    memset(rep, 0, sizeof(*rep));
    rep->op = op;
    rep->disc = s->disc;
    if (n == 0)
        return NP_OK;
    rep->r = calloc(n, sizeof(*rep->r));
    if (rep->r == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    rep->n = n;
    return NP_OK;
}

static int report_push(np_sess_report *rep, size_t *cap,
                       const np_sess_result *res)
{
    if (rep->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        np_sess_result *nr = realloc(rep->r, nc * sizeof(*nr));

        if (nr == NULL)
            return NP_ENOMEM;
        rep->r = nr;
        *cap = nc;
    }
    rep->r[rep->n++] = *res;
    return NP_OK;
}

static int ready(np_session *s, enum np_sess_op op, np_error *err)
{
    if (s->pm != NULL)
        return NP_OK;
    return np_session_discover(s, op, NULL, err);
}

static void store_save(np_session *s, np_sess_report *rep)
{
    np_error err;

    if (s->o.store == NULL)
        return;
    np_error_clear(&err);
    if (np_store_save(s->o.store, &err) != NP_OK) {
        rep->store_error = 1;
        np_error_format(&err, rep->store_message, sizeof(rep->store_message));
    }
}

/* --- apply -----------------------------------------------------------------*/

/* Remove what this run made, newest first. pending: a rule whose request
 * was cut off (it may have reached the router), or (size_t)-1. */
static void sess_rollback(np_session *s, np_sess_report *rep, size_t pending)
{
    size_t i;

    rep->rollback_ran = 1;
    for (i = rep->n; i-- > 0;) {
        np_sess_result *x = &rep->r[i];
        np_pm_result dr;
        np_error err;
        int rc;

        if (x->outcome != NP_SESS_MAPPED && i != pending)
            continue;
        if (x->pm.proto == NP_PM_NONE)
            x->pm.proto = s->disc.chosen;
        rc = sess_delete_made(s, &x->rule, &x->pm, &dr, &err);
        if (rc != NP_OK ||
            (dr.outcome != NP_PM_OK && dr.outcome != NP_PM_NOT_FOUND))
            continue;
        if (i != pending || dr.outcome == NP_PM_OK) {
            x->outcome = NP_SESS_ROLLED_BACK;
            x->rolled_back = 1;
            rep->rolled_back = 1;
        }
        sess_unrecord(s, x->rule.transport,
                      np_addr_port(&x->pm.external)
                          ? np_addr_port(&x->pm.external)
                          : x->rule.port);
    }
}

/* The stored PCP nonce of the rule's mapping (a renewal keeps it). */
static const uint8_t *stored_nonce(const np_session *s, const np_sess_rule *r,
                                   enum np_pm_proto *proto)
{
    long k;

    *proto = NP_PM_NONE;
    if (s->o.store == NULL)
        return NULL;
    /* by the internal port: the mapping may sit on an alternate port */
    k = np_store_find(s->o.store, &s->disc.gateway, r->transport, r->port, 1,
                      &s->o.device);
    if (k < 0 || s->o.store->e[k].proto != NP_PM_PCP)
        return NULL;
    return s->o.store->e[k].nonce;
}

/* 1 when the run must stop (reason set) after this rule's result. */
static int apply_stops(np_sess_report *rep, const np_sess_result *x)
{
    const char *t = np_pm_transport_name(x->rule.transport);

    if (x->outcome == NP_SESS_TIMEOUT || x->outcome == NP_SESS_FAILED) {
        snprintf(rep->reason, sizeof(rep->reason), "%s %u: %s", t,
                 (unsigned)x->rule.port, x->pm.message);
        return 1;
    }
    if (x->outcome != NP_SESS_MAPPED && x->rule.essential) {
        snprintf(rep->reason, sizeof(rep->reason),
                 "the essential rule %s %u was not mapped (%s)", t,
                 (unsigned)x->rule.port, x->pm.message);
        return 1;
    }
    return 0;
}

static void count(np_sess_report *rep)
{
    size_t i;

    rep->ok = rep->problems = rep->third_party = 0;
    for (i = 0; i < rep->n; i++) {
        enum np_sess_outcome o = rep->r[i].outcome;

        if (o == NP_SESS_MAPPED || o == NP_SESS_REMOVED)
            rep->ok++;
        else if (o != NP_SESS_GONE)
            rep->problems++;
        if (o == NP_SESS_THIRD_PARTY)
            rep->third_party++;
    }
}

int np_session_apply(np_session *s, const np_sess_rule *rules, size_t n,
                     np_sess_report *rep, np_error *err)
{
    size_t i, pending = (size_t)-1;
    int rc = NP_OK, stop = 0;

    if (s == NULL || rep == NULL || (n > 0 && rules == NULL))
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    rc = report_init(s, rep, NP_SESS_APPLY, n, err);
    if (rc == NP_OK)
        rc = ready(s, NP_SESS_APPLY, err);
    rep->disc = s->disc;
    if (rc != NP_OK)
        return rc;
    table_drop(s);
    for (i = 0; i < n && !stop; i++) {
        np_sess_result *x = &rep->r[i];
        enum np_pm_proto prev;
        const uint8_t *nonce = stored_nonce(s, &rules[i], &prev);

        if (cancelled(s)) {
            rep->interrupted = 1;
            break;
        }
        np_error_clear(err);
        rc = map_one(s, &rules[i], NP_PM_NONE, nonce, x, err);
        if (rc == NP_ECANCELED || cancelled(s)) {
            /* The request may have reached the router even if its answer
             * was cut off: remove it too ("not found" is fine). */
            rep->interrupted = 1;
            if (x->outcome != NP_SESS_MAPPED)
                pending = i;
            rc = NP_ECANCELED;
            break;
        }
        if (rc != NP_OK && rc != NP_ETIMEOUT) {
            snprintf(rep->reason, sizeof(rep->reason), "%s",
                     err != NULL ? err->msg : np_strerror(rc));
            break;
        }
        rc = NP_OK;
        stop = apply_stops(rep, x);
    }
    if (rep->interrupted)
        snprintf(rep->reason, sizeof(rep->reason), "interrupted");
    if (rep->interrupted || stop || rc != NP_OK)
        sess_rollback(s, rep, pending);
    count(rep);
    store_save(s, rep);
    rep->disc = *np_portmap_discovery(s->pm);
    if (rep->interrupted)
        return np_error_set(err, NP_ECANCELED, NULL, "interrupted");
    return rc;
}

/* --- verify ----------------------------------------------------------------*/

/*
 * Not mapped on its own external port (missing, or that port is another
 * device's): look for it on any other one. A device that maps itself may
 * pick another external port (an Xbox does when a second Xbox holds UDP
 * 3074), and so may natpilot for such a platform. 1 when res now says so.
 */
static int verify_elsewhere(np_session *s, const np_pm_request *q,
                            np_pm_result *res)
{
    char held[32 + NP_ADDRSTRLEN], holder[NP_ADDRSTRLEN];
    const np_pm_mapping *m;

    table_read(s);
    m = np_pm_table_find(s->tab, s->ntab, q->transport, q->internal_port,
                         device_of(s));
    if (m == NULL || m->external_port == q->external_port)
        return 0; /* none, or the one np_portmap_get already judged */
    if (res->outcome == NP_PM_OTHER_DEVICE && np_addr_is_set(&res->holder))
        snprintf(held, sizeof(held), "; %u itself is %s's",
                 (unsigned)q->external_port,
                 np_addr_ip_str(&res->holder, holder, sizeof(holder)));
    else
        held[0] = '\0';
    res->outcome = NP_PM_OK;
    res->proto = NP_PM_UPNP;
    res->external = s->disc.external[NP_PM_UPNP];
    np_addr_set_port(&res->external, m->external_port);
    res->internal = m->internal;
    res->internal_port = q->internal_port;
    res->lifetime = m->lifetime;
    snprintf(res->message, sizeof(res->message),
             "mapped on external port %u instead (\"%.60s\")%.80s",
             (unsigned)m->external_port, m->description, held);
    return 1;
}

static int verify_one(np_session *s, const np_sess_rule *r, np_sess_result *x,
                      np_error *err)
{
    const np_store_entry *e = NULL;
    np_pm_request q;
    long k = -1;
    int rc = NP_OK;

    x->rule = *r;
    x->device = s->o.device;
    sess_request(s, r, &q);
    if (s->o.store != NULL)
        k = np_store_find(s->o.store, &s->disc.gateway, r->transport, r->port,
                          1, &s->o.device);
    if (k >= 0) {
        /* made by natpilot with PCP/NAT-PMP: renew it the same way, with
         * its nonce, unless the router's table can be read */
        e = &s->o.store->e[k];
        memcpy(q.nonce, e->nonce, sizeof(q.nonce));
        if (!s->disc.has[NP_PM_UPNP] || s->o.via != NP_PM_NONE)
            (void)np_portmap_use(s->pm, e->proto, NULL);
    }
    x->tried = 1;
    if (e == NULL && !s->disc.has[NP_PM_UPNP]) {
        /* PCP/NAT-PMP can only re-request, which would create the mapping:
         * do not, for one natpilot did not make */
        x->pm.proto = s->disc.chosen;
        x->pm.outcome = NP_PM_NOT_FOUND;
        snprintf(x->pm.message, sizeof(x->pm.message),
                 "not made by natpilot, and without UPnP the router's table "
                 "cannot be read");
    } else {
        rc = np_portmap_get(s->pm, &q, &x->pm, err);
    }
    (void)np_portmap_use(s->pm, NP_PM_NONE, NULL);
    if (rc == NP_OK && s->disc.has[NP_PM_UPNP] &&
        (x->pm.outcome == NP_PM_NOT_FOUND ||
         x->pm.outcome == NP_PM_OTHER_DEVICE))
        x->alternate = verify_elsewhere(s, &q, &x->pm);
    if (rc != NP_OK && rc != NP_ETIMEOUT)
        return rc;
    switch (x->pm.outcome) {
    case NP_PM_OK:
        x->outcome = NP_SESS_MAPPED;
        break;
    case NP_PM_OTHER_DEVICE:
    case NP_PM_CONFLICT:
    case NP_PM_OTHER_PORT:
        x->outcome = NP_SESS_ELSEWHERE;
        break;
    case NP_PM_NOT_FOUND:
        x->outcome = NP_SESS_MISSING;
        break;
    default:
        x->outcome = NP_SESS_UNKNOWN;
        break;
    }
    return NP_OK;
}

int np_session_verify(np_session *s, const np_sess_rule *rules, size_t n,
                      np_sess_report *rep, np_error *err)
{
    size_t i;
    int rc;

    if (s == NULL || rep == NULL || (n > 0 && rules == NULL))
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    rc = report_init(s, rep, NP_SESS_VERIFY, n, err);
    if (rc == NP_OK)
        rc = ready(s, NP_SESS_VERIFY, err);
    rep->disc = s->disc;
    if (rc != NP_OK)
        return rc;
    table_drop(s);
    for (i = 0; i < n; i++) {
        if (cancelled(s)) {
            rep->interrupted = 1;
            break;
        }
        rc = verify_one(s, &rules[i], &rep->r[i], err);
        if (rc != NP_OK) {
            snprintf(rep->reason, sizeof(rep->reason), "%s",
                     err != NULL ? err->msg : np_strerror(rc));
            break;
        }
    }
    count(rep);
    /* verify renews natpilot's PCP/NAT-PMP mappings: nothing new to
     * record, and a verify never rewrites the store */
    if (rep->interrupted)
        return np_error_set(err, NP_ECANCELED, NULL, "interrupted");
    return rc;
}

enum np_sess_outcome np_session_judge_table(const np_pm_mapping *tab, size_t n,
                                            int transport, uint16_t port,
                                            const np_addr *device,
                                            const np_addr *ext_ip,
                                            np_sess_result *out)
{
    const np_pm_mapping *m;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->rule.transport = transport;
    out->rule.port = port;
    out->device = *device;
    np_addr_set_port(&out->device, 0);
    out->tried = 1;
    out->pm.proto = NP_PM_UPNP;
    m = np_pm_table_find(tab, n, transport, port, device);
    for (i = 0; m == NULL && i < n; i++)
        if (tab[i].transport == transport && tab[i].external_port == port)
            m = &tab[i]; /* whoever holds the rule's port */
    if (m == NULL) {
        out->pm.outcome = NP_PM_NOT_FOUND;
        snprintf(out->pm.message, sizeof(out->pm.message),
                 "not in the router's table");
        return out->outcome = NP_SESS_MISSING;
    }
    if (!np_addr_same_ip(&m->internal, device)) {
        out->pm.outcome = NP_PM_OTHER_DEVICE;
        out->pm.holder = m->internal;
        snprintf(out->pm.holder_desc, sizeof(out->pm.holder_desc), "%s",
                 m->description);
        snprintf(out->pm.message, sizeof(out->pm.message),
                 "mapped to another device");
        return out->outcome = NP_SESS_ELSEWHERE;
    }
    out->pm.outcome = NP_PM_OK;
    if (ext_ip != NULL)
        out->pm.external = *ext_ip;
    np_addr_set_port(&out->pm.external, m->external_port);
    out->pm.internal = m->internal;
    out->pm.internal_port = port;
    out->pm.lifetime = m->lifetime;
    out->alternate = m->external_port != port;
    snprintf(out->pm.message, sizeof(out->pm.message), "mapped (\"%.60s\")",
             m->description);
    return out->outcome = NP_SESS_MAPPED;
}

/* --- close -----------------------------------------------------------------*/

static int wanted(const np_sess_rule *rules, size_t n, int all, int transport,
                  uint16_t port)
{
    size_t i;

    if (all)
        return 1;
    for (i = 0; i < n; i++)
        if (rules[i].transport == transport && rules[i].port == port)
            return 1;
    return 0;
}

/* Whether a mapping for dev (empty: this host) is the session's to close. */
static int close_device_ok(const np_session *s, int all, const np_addr *dev,
                           int dev_is_this_host)
{
    if (for_other_device(s))
        return np_addr_is_set(dev) && np_addr_same_ip(dev, &s->o.device);
    return all || dev_is_this_host;
}

/* 1. what natpilot made with PCP / NAT-PMP (the store) */
static int close_store(np_session *s, const np_sess_rule *rules, size_t n,
                       int all, np_sess_report *rep, size_t *cap)
{
    np_store *st = s->o.store;
    size_t i;

    if (st == NULL)
        return NP_OK;
    for (i = st->n; i-- > 0;) {
        np_store_entry e = st->e[i];
        np_sess_result x;
        np_error err;
        np_session sub;

        /* A rule's mapping may sit on an alternate external port (a
         * platform that accepts one): its internal port matches then. */
        if (!np_addr_same_ip(&e.gateway, &s->disc.gateway) ||
            (!wanted(rules, n, all, e.transport, e.external_port) &&
             !wanted(rules, n, all, e.transport, e.internal_port)))
            continue;
        if (!close_device_ok(s, all, &e.internal, !np_addr_is_set(&e.internal)))
            continue;
        if (s->o.via != NP_PM_NONE && s->o.via != e.proto)
            continue;
        sub = *s; /* the same router, for the entry's device */
        sub.o.device = e.internal;
        sub.o.store = NULL;
        np_error_clear(&err);
        if (np_session_unmap(&sub, e.proto, e.transport, e.internal_port,
                             e.external_port, e.nonce, &x, &err) != NP_OK &&
            x.outcome == NP_SESS_FAILED)
            snprintf(x.pm.message, sizeof(x.pm.message),
                     "the router no longer answers %s",
                     np_pm_proto_name(e.proto));
        x.rule.port = e.external_port;
        x.device = np_addr_is_set(&e.internal) ? e.internal : s->disc.local;
        if (report_push(rep, cap, &x) != NP_OK)
            return NP_ENOMEM;
        if (x.outcome != NP_SESS_FAILED)
            np_store_del(st, i);
    }
    return NP_OK;
}

/* 2. UPnP mappings carrying the natpilot tag */
static int close_table(np_session *s, const np_sess_rule *rules, size_t n,
                       int all, np_sess_report *rep, size_t *cap)
{
    size_t i;

    if (!s->disc.has[NP_PM_UPNP] ||
        (s->o.via != NP_PM_NONE && s->o.via != NP_PM_UPNP))
        return NP_OK;
    table_drop(s);
    table_read(s);
    for (i = 0; i < s->ntab; i++) {
        const np_pm_mapping *m = &s->tab[i];
        np_addr dev = m->internal;
        np_sess_result x;
        np_session sub;
        np_error err;

        np_addr_set_port(&dev, 0);
        if (!m->ours ||
            (!wanted(rules, n, all, m->transport, m->external_port) &&
             !wanted(rules, n, all, m->transport, np_addr_port(&m->internal))))
            continue;
        if (!close_device_ok(s, all, &dev,
                             np_addr_same_ip(&dev, &s->disc.local)))
            continue;
        sub = *s;
        sub.o.device = dev;
        sub.o.store = NULL;
        np_error_clear(&err);
        (void)np_session_unmap(&sub, NP_PM_UPNP, m->transport,
                               np_addr_port(&m->internal), m->external_port,
                               NULL, &x, &err);
        x.rule.port = m->external_port;
        x.device = dev;
        if (report_push(rep, cap, &x) != NP_OK)
            return NP_ENOMEM;
    }
    return NP_OK;
}

int np_session_close(np_session *s, const np_sess_rule *rules, size_t n,
                     int all, np_sess_report *rep, np_error *err)
{
    size_t cap = 0;
    int rc;

    if (s == NULL || rep == NULL || (n > 0 && rules == NULL))
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    rc = report_init(s, rep, NP_SESS_CLOSE, 0, err);
    if (rc == NP_OK)
        rc = ready(s, NP_SESS_CLOSE, err);
    rep->disc = s->disc;
    if (rc != NP_OK)
        return rc;
    rc = close_store(s, rules, n, all, rep, &cap);
    store_save(s, rep);
    if (rc == NP_OK)
        rc = close_table(s, rules, n, all, rep, &cap);
    (void)np_portmap_use(s->pm, NP_PM_NONE, NULL);
    count(rep);
    if (rc != NP_OK)
        return np_error_set(err, rc, NULL, "out of memory");
    return NP_OK;
}
