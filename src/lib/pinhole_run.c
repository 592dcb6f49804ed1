/*
 * natpilot: the IPv6 pinhole policy (pinhole_run.h): renew-or-add, and
 * the apply / verify / close runs over a set of rules for one device.
 * Nothing here prints; the reports are data for the front ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/pinhole_run.h"
#include "natpilot/probe.h"
#include "np_util.h"

#define PH_LIFETIME_MAX 86400

enum np_ph_action np_ph_decide(int known, enum np_pm_proto stored,
                               enum np_pm_proto via, int updated,
                               enum np_pm_outcome outcome)
{
    if (updated)
        /* NoSuchEntry: the router lost it (a restart); open it again.
         * Any other answer to the renewal is the answer. */
        return outcome == NP_PM_NOT_FOUND ? NP_PH_ADD : NP_PH_DONE;
    if (known && stored != NP_PM_NONE && (via == NP_PM_NONE || via == stored))
        return NP_PH_UPDATE;
    return NP_PH_ADD;
}

int np_ph_renew(np_pinhole *ph, np_ph_request *req, int known,
                enum np_pm_proto via, np_ph_result *res, int *readded,
                np_error *err)
{
    int rc;

    if (readded != NULL)
        *readded = 0;
    memset(res, 0, sizeof(*res));
    if (np_ph_decide(known, req->proto, via, 0, NP_PM_OK) == NP_PH_ADD) {
        /* Not ours (or in another protocol than asked): a new one, by the
         * caller's protocol, with a fresh nonce. */
        req->proto = via;
        memset(req->nonce, 0, sizeof(req->nonce));
        req->uid[0] = '\0';
        return np_pinhole_add(ph, req, res, err);
    }
    rc = np_pinhole_update(ph, req, res, err);
    if (rc != NP_OK ||
        np_ph_decide(known, req->proto, via, 1, res->outcome) != NP_PH_ADD)
        return rc;
    /* Again with the same protocol and nonce: the router that answered the
     * renewal speaks it. */
    req->uid[0] = '\0';
    if (readded != NULL)
        *readded = 1;
    memset(res, 0, sizeof(*res));
    return np_pinhole_add(ph, req, res, err);
}

const char *np_ph_status_name(enum np_pm_outcome outcome)
{
    switch (outcome) {
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

void np_ph_report_free(np_ph_report *r)
{
    if (r == NULL)
        return;
    free(r->items);
    memset(r, 0, sizeof(*r));
}

static int report_init(np_ph_report *rep, size_t n, np_error *err)
{
    memset(rep, 0, sizeof(*rep));
    rep->items = calloc(n ? n : 1, sizeof(*rep->items));
    if (rep->items == NULL)
        return np_error_set(err, NP_ENOMEM, "pinhole", "out of memory");
    return NP_OK;
}

static int cancelled(const np_ph_run *run)
{
    return run->cancel != NULL && *run->cancel;
}

/* What the player does by hand when the router refuses. */
static void manual_steps(enum np_pm_outcome outcome, const np_v6_pinholes *sup,
                         const char *ip, int transport, unsigned port,
                         char *buf, size_t size)
{
    const char *t = np_pm_transport_name(transport);

    switch (outcome) {
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
                 sup != NULL && sup->upnp_inbound == 0
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

static void fill_req(np_pinhole *ph, const np_ph_run *run,
                     const np_sess_rule *r, np_ph_request *q)
{
    memset(q, 0, sizeof(*q));
    q->transport = r->transport;
    q->internal = run->device != NULL ? *run->device : *np_pinhole_local(ph);
    np_addr_set_port(&q->internal, r->port);
    q->lifetime =
        run->lifetime > PH_LIFETIME_MAX ? PH_LIFETIME_MAX : run->lifetime;
    q->proto = run->via;
}

static void item_rule(np_ph_item *it, const np_sess_rule *r,
                      const np_addr *internal)
{
    it->transport = r->transport;
    it->port = r->port;
    it->internal = *internal;
    snprintf(it->label, sizeof(it->label), "%s", r->label);
    it->reachable = -1;
}

static void item_result(np_ph_item *it, const np_ph_result *res)
{
    it->outcome = res->outcome;
    it->proto = res->proto;
    it->code = res->code;
    snprintf(it->message, sizeof(it->message), "%s", res->message);
    it->lifetime = res->lifetime;
    memcpy(it->uid, res->uid, sizeof(it->uid));
    it->uid[sizeof(it->uid) - 1] = '\0';
}

static int store_opened(np_ph_store *st, const np_ph_run *run,
                        const np_ph_request *q, const np_ph_result *res)
{
    np_ph_entry e;

    memset(&e, 0, sizeof(e));
    e.proto = res->proto;
    e.transport = q->transport;
    e.internal = q->internal;
    if (run->sup != NULL)
        e.gateway = run->sup->gateway;
    np_addr_set_port(&e.gateway, 0);
    memcpy(e.uid, res->uid, sizeof(e.uid));
    memcpy(e.nonce, res->nonce, sizeof(e.nonce));
    e.lifetime = res->lifetime;
    e.expires = np__wall_s() + res->lifetime;
    return np_ph_store_put(st, &e);
}

/* One rule of an apply run: renew or add, the store, the item. */
static int apply_one(np_pinhole *ph, np_ph_store *st, const np_ph_run *run,
                     const np_sess_rule *r, np_ph_item *it, np_error *err)
{
    np_ph_request q;
    np_ph_result res;
    char ip[NP_ADDRSTRLEN];
    long k;
    int rc, known = 0, readded = 0;

    fill_req(ph, run, r, &q);
    item_rule(it, r, &q.internal);
    k = np_ph_store_find(st, q.transport, &q.internal);
    if (k >= 0) {
        known = 1;
        q.proto = st->e[k].proto;
        memcpy(q.uid, st->e[k].uid, sizeof(q.uid));
        memcpy(q.nonce, st->e[k].nonce, sizeof(q.nonce));
    }
    np_error_clear(err);
    rc = np_ph_renew(ph, &q, known, run->via, &res, &readded, err);
    if (rc != NP_OK)
        return rc;
    item_result(it, &res);
    it->status = np_ph_status_name(res.outcome);
    if (res.outcome == NP_PM_OK) {
        /* Added (not renewed) by this run: the rollback's to remove. */
        it->made = !known || readded ||
                   np_ph_decide(known, st->e[k].proto, run->via, 0, NP_PM_OK) ==
                       NP_PH_ADD;
        if (store_opened(st, run, &q, &res) != NP_OK) {
            /* Made here, on the router but not in the store (where the
             * rollback looks): remove it now. */
            if (it->made) {
                np_ph_result gone;
                np_error e2;

                q.proto = res.proto;
                memcpy(q.uid, res.uid, sizeof(q.uid));
                memcpy(q.nonce, res.nonce, sizeof(q.nonce));
                np_error_clear(&e2);
                (void)np_pinhole_delete(ph, &q, &gone, &e2);
            }
            return np_error_set(err, NP_ENOMEM, "pinhole", "out of memory");
        }
        it->ok = 1;
    }
    manual_steps(res.outcome, run->sup,
                 np_addr_ip_str(&q.internal, ip, sizeof(ip)), q.transport,
                 r->port, it->manual, sizeof(it->manual));
    return NP_OK;
}

static int remove_entry(np_pinhole *ph, const np_ph_entry *e, np_ph_result *res,
                        np_error *err)
{
    np_ph_request q;

    memset(&q, 0, sizeof(q));
    q.transport = e->transport;
    q.internal = e->internal;
    q.proto = e->proto;
    memcpy(q.uid, e->uid, sizeof(q.uid));
    memcpy(q.nonce, e->nonce, sizeof(q.nonce));
    return np_pinhole_delete(ph, &q, res, err);
}

size_t np_ph_rollback(np_pinhole *ph, np_ph_store *st, np_ph_report *rep)
{
    size_t i, left = 0;

    for (i = rep->n; i-- > 0;) {
        np_ph_item *it = &rep->items[i];
        np_ph_result res;
        np_error err;
        long k;

        if (!it->made)
            continue;
        k = np_ph_store_find(st, it->transport, &it->internal);
        if (k < 0) {
            left++;
            continue;
        }
        np_error_clear(&err);
        if (remove_entry(ph, &st->e[k], &res, &err) == NP_OK &&
            (res.outcome == NP_PM_OK || res.outcome == NP_PM_NOT_FOUND)) {
            np_ph_store_del(st, (size_t)k);
            it->made = 0;
            it->ok = 0;
            it->status = "rolled-back";
            rep->rolled_back++;
            rep->store_changed = 1;
        } else {
            left++;
        }
    }
    return left;
}

int np_ph_apply(np_pinhole *ph, np_ph_store *st, const np_ph_run *run,
                np_ph_report *rep, np_error *err)
{
    size_t i;
    int rc;

    rc = report_init(rep, run->n_rules, err);
    if (rc != NP_OK)
        return rc;
    for (i = 0; i < run->n_rules; i++) {
        np_ph_item *it = &rep->items[rep->n];

        if (cancelled(run)) {
            rep->interrupted = 1;
            rc = np_error_set(err, NP_ECANCELED, "pinhole", "interrupted");
            break;
        }
        rc = apply_one(ph, st, run, &run->rules[i], it, err);
        if (rc != NP_OK) {
            /* The rule that failed is in no report: nothing of it stays. */
            memset(it, 0, sizeof(*it));
            break;
        }
        rep->n++;
        if (it->ok) {
            rep->opened++;
            rep->store_changed = 1;
        } else {
            rep->refused++;
        }
    }
    if (rc != NP_OK && rc != NP_ECANCELED && cancelled(run)) {
        /* A request cut short by the caller's signal (EINTR). */
        char why[NP_ERROR_MSG_MAX];

        snprintf(why, sizeof(why), "%s", err->msg);
        rep->interrupted = 1;
        rc =
            np_error_set(err, NP_ECANCELED, "pinhole", "interrupted (%s)", why);
    }
    if (rc != NP_OK) {
        np_error keep = *err;

        (void)np_ph_rollback(ph, st, rep);
        *err = keep;
    }
    return rc;
}

int np_ph_verify(np_pinhole *ph, const np_ph_store *st, const np_ph_run *run,
                 np_ph_report *rep, np_error *err)
{
    size_t i;
    int rc;

    rc = report_init(rep, run->n_rules, err);
    if (rc != NP_OK)
        return rc;
    for (i = 0; i < run->n_rules && !cancelled(run); i++) {
        const np_sess_rule *r = &run->rules[i];
        np_ph_item *it = &rep->items[rep->n++];
        np_ph_request q;
        np_ph_result res;
        np_reach reach;
        long k;

        fill_req(ph, run, r, &q);
        item_rule(it, r, &q.internal);
        k = np_ph_store_find(st, q.transport, &q.internal);
        it->in_store = k >= 0;
        memset(&res, 0, sizeof(res));
        res.working = -1;
        if (k >= 0 && st->e[k].proto == NP_PM_UPNP) {
            q.proto = NP_PM_UPNP;
            memcpy(q.uid, st->e[k].uid, sizeof(q.uid));
            np_error_clear(err);
            (void)np_pinhole_check(ph, &q, &res, err);
        }
        it->outcome = res.outcome;
        memset(&reach, 0, sizeof(reach));
        if (run->device == NULL && run->stun != NULL &&
            r->transport == NP_PM_UDP) {
            np_addr local = *np_pinhole_local(ph);

            np_error_clear(err);
            if (np_probe_reachable(run->stun, NULL, &local, r->port, 100, 2000,
                                   &reach, err) == NP_OK &&
                !reach.wrong_source)
                it->reachable = reach.reachable;
        }
        if (it->reachable == 1)
            it->status = "open";
        else if (it->reachable == 0)
            it->status = "closed";
        else if (k < 0)
            it->status = "not-opened-by-natpilot";
        else if (res.outcome == NP_PM_NOT_FOUND)
            it->status = "missing";
        else
            it->status = "present";
        if (it->reachable == 0 || res.outcome == NP_PM_NOT_FOUND ||
            (k < 0 && it->reachable != 1))
            rep->bad++;
        else
            it->ok = 1;
    }
    np_error_clear(err);
    if (cancelled(run)) {
        rep->interrupted = 1;
        return np_error_set(err, NP_ECANCELED, "pinhole", "interrupted");
    }
    return NP_OK;
}

/* The entries of the store a close run is about. */
static int selected(const np_ph_run *run, const np_ph_entry *e)
{
    size_t i;

    if (run->all)
        return 1;
    if (run->device != NULL && !np_addr_same_ip(&e->internal, run->device))
        return 0;
    for (i = 0; i < run->n_rules; i++)
        if (run->rules[i].transport == e->transport &&
            run->rules[i].port == np_addr_port(&e->internal))
            return 1;
    return 0;
}

int np_ph_close(np_pinhole *ph, np_ph_store *st, const np_ph_run *run,
                np_ph_report *rep, np_error *err)
{
    size_t i;
    int rc;

    rc = report_init(rep, st->n, err);
    if (rc != NP_OK)
        return rc;
    for (i = st->n; i-- > 0 && !cancelled(run);) {
        np_ph_entry *e = &st->e[i];
        np_ph_item *it;
        np_ph_result res;

        if (!selected(run, e))
            continue;
        it = &rep->items[rep->n++];
        it->transport = e->transport;
        it->port = np_addr_port(&e->internal);
        it->internal = e->internal;
        it->proto = e->proto;
        it->reachable = -1;
        memset(&res, 0, sizeof(res));
        np_error_clear(&it->err);
        if (remove_entry(ph, e, &res, &it->err) != NP_OK) {
            it->error = 1;
            it->status = "failed";
            rep->failed++;
            continue;
        }
        item_result(it, &res);
        it->proto = e->proto;
        /* Gone from the router either way when it says NoSuchEntry. */
        if (res.outcome == NP_PM_OK || res.outcome == NP_PM_NOT_FOUND) {
            it->ok = 1;
            it->status = res.outcome == NP_PM_OK ? "removed" : "already-gone";
            rep->removed++;
            rep->store_changed = 1;
            np_ph_store_del(st, i);
        } else {
            it->status = np_ph_status_name(res.outcome);
            rep->failed++;
        }
    }
    np_error_clear(err);
    if (cancelled(run)) {
        rep->interrupted = 1;
        return np_error_set(err, NP_ECANCELED, "pinhole", "interrupted");
    }
    return NP_OK;
}
