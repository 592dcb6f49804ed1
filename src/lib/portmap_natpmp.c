/*
 * natpilot: the NAT-PMP backend (RFC 6886) over libnatpmp.
 *
 * libnatpmp does the I/O on a socket connected to gateway:5351, so the
 * kernel drops datagrams from any other source (a rogue responder on the LAN
 * never reaches us). NAT-PMP has no field for another device's address: a
 * request for another device is answered NP_PM_UNSUPPORTED without asking.
 * It has no read operation either: get re-requests the mapping (a renewal).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <natpmp.h>

#include "portmap_int.h"

struct nat {
    const np__pm_ctx *ctx;
    natpmp_t n;
    int inited;
    int have_epoch;
    uint32_t epoch;
    uint64_t epoch_client; /* our clock (s) when epoch was seen */
    int lost_state;        /* §3.6: the epoch says the router restarted */
    np_addr ext;
};

static void *nat_open(const np__pm_ctx *ctx, np_error *err)
{
    struct nat *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    s->ctx = ctx;
    s->n.s = -1;
    return s;
}

static void nat_close(void *st)
{
    struct nat *s = st;

    if (s == NULL)
        return;
    if (s->inited)
        closenatpmp(&s->n);
    free(s);
}

static int ensure(struct nat *s, np_error *err)
{
    struct sockaddr_in gw;
    int rc;

    if (s->inited)
        return NP_OK;
    if (np_addr_family(&s->ctx->gateway) != AF_INET)
        return np_error_set(err, NP_EUNSUPP, NULL, "NAT-PMP is IPv4 only");
    memcpy(&gw, &s->ctx->gateway.ss, sizeof(gw));
    rc = initnatpmp(&s->n, 1, gw.sin_addr.s_addr);
    if (rc != 0)
        return np_error_set(err, NP_ESYS, NULL, "libnatpmp init failed (%d)",
                            rc);
    s->inited = 1;
    return NP_OK;
}

static int nat_disc_fd(void *st)
{
    struct nat *s = st;

    return s->inited ? s->n.s : -1;
}

static int nat_disc_send(void *st, int attempt, np_error *err)
{
    struct nat *s = st;
    int rc;

    (void)attempt;
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    if (sendpublicaddressrequest(&s->n) < 0)
        return np_error_set(err, NP_EUNREACH, NULL,
                            "cannot send to the gateway");
    return NP_OK;
}

static void note_epoch(struct nat *s, uint32_t epoch)
{
    uint64_t now = (uint64_t)np__mono_ms() / 1000;

    if (s->have_epoch && !np_pm_epoch_ok(s->epoch, s->epoch_client, epoch, now))
        s->lost_state = 1;
    s->have_epoch = 1;
    s->epoch = epoch;
    s->epoch_client = now;
}

static int nat_disc_recv(void *st, np_pm_discovery *d, np_error *err)
{
    struct nat *s = st;
    natpmpresp_t r;
    int rc;

    (void)err;
    memset(&r, 0, sizeof(r));
    rc = readnatpmpresponseorretry(&s->n, &r);
    if (rc == NATPMP_TRYAGAIN)
        return NP__DISC_PENDING;
    if (rc == NATPMP_ERR_RECVFROM || rc == NATPMP_ERR_NOGATEWAYSUPPORT ||
        rc == NATPMP_ERR_NOPENDINGREQ || rc == NATPMP_ERR_WRONGPACKETSOURCE)
        return NP__DISC_GAVE_UP; /* ICMP unreachable: nobody on 5351 */
    /* A server that answers but refuses to tell its address (result 2
     * NOT_AUTHORIZED, 3 NETWORK_FAILURE: no public address, e.g. a private
     * WAN) will not map either: fall back to the next protocol. */
    if (rc == NATPMP_ERR_NOTAUTHORIZED || rc == NATPMP_ERR_NETWORKFAILURE)
        return NP__DISC_GAVE_UP;
    /* Any answer with a result code is a NAT-PMP server. */
    note_epoch(s, r.epoch);
    d->epoch[NP_PM_NATPMP] = r.epoch;
    if (rc == 0 && r.type == NATPMP_RESPTYPE_PUBLICADDRESS) {
        np_addr_from_ipv4(&s->ext, &r.pnu.publicaddress.addr, 0);
        d->external[NP_PM_NATPMP] = s->ext;
    }
    return NP__DISC_ANSWERED;
}

/* Send one mapping request and wait for its answer. */
static int transact(struct nat *s, int transport, uint16_t iport,
                    uint16_t eport, uint32_t lifetime, natpmpresp_t *r,
                    int *rc_out)
{
    int64_t end = np__mono_ms() + s->ctx->opt.timeout_ms;
    int proto =
        transport == NP_PM_TCP ? NATPMP_PROTOCOL_TCP : NATPMP_PROTOCOL_UDP;
    int want = transport == NP_PM_TCP ? NATPMP_RESPTYPE_TCPPORTMAPPING
                                      : NATPMP_RESPTYPE_UDPPORTMAPPING;

    if (sendnewportmappingrequest(&s->n, proto, iport, eport, lifetime) < 0)
        return NP_EUNREACH;
    for (;;) {
        struct pollfd pfd;
        struct timeval tv;
        int64_t left = end - np__mono_ms(), wait = left;
        int rc;

        if (left <= 0)
            return NP_ETIMEOUT;
        if (getnatpmprequesttimeout(&s->n, &tv) == 0) {
            int64_t t = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;

            if (t < wait)
                wait = t < 1 ? 1 : t;
        }
        pfd.fd = s->n.s;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, (int)wait) < 0) {
            if (errno == EINTR)
                return NP_ECANCELED;
            return NP_ESYS;
        }
        memset(r, 0, sizeof(*r));
        rc = readnatpmpresponseorretry(&s->n, r);
        if (rc == NATPMP_TRYAGAIN)
            continue;
        if (rc == NATPMP_ERR_RECVFROM || rc == NATPMP_ERR_NOGATEWAYSUPPORT)
            return NP_EUNREACH;
        /* On an error result libnatpmp fills only resultcode and epoch:
         * accept it as the answer to the one request in flight. */
        if (r->resultcode == 0 &&
            (r->type != want || r->pnu.newportmapping.privateport != iport)) {
            /* a late answer to an earlier request: keep waiting */
            if (sendnewportmappingrequest(&s->n, proto, iport, eport,
                                          lifetime) < 0)
                return NP_EUNREACH;
            continue;
        }
        note_epoch(s, r->epoch);
        *rc_out = rc;
        return NP_OK;
    }
}

static void fail_io(np_pm_result *res, int rc)
{
    if (rc == NP_ETIMEOUT)
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_TIMEOUT, 0,
                          "no NAT-PMP answer from the router");
    else
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_FAILED, 0,
                          "NAT-PMP request failed: %s", np_strerror(rc));
}

static void set_result(struct nat *s, np_pm_result *res, const natpmpresp_t *r,
                       uint16_t asked)
{
    int code = r->resultcode;
    enum np_pm_outcome o = np_pm_classify_natpmp(code);
    uint16_t got = r->pnu.newportmapping.mappedpublicport;

    res->external = s->ext;
    if (!np_addr_is_set(&res->external))
        res->external = s->ctx->gateway;
    np_addr_set_port(&res->external, got);
    res->lifetime = r->pnu.newportmapping.lifetime;
    res->internal = s->ctx->local;
    res->internal_port = r->pnu.newportmapping.privateport;
    if (o == NP_PM_OK && got != asked)
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_OTHER_PORT, code,
                          "the router granted external port %u instead of "
                          "%u (the port is taken)",
                          (unsigned)got, (unsigned)asked);
    else
        np__pm_result_set(res, NP_PM_NATPMP, o, code, "NAT-PMP result %d: %s%s",
                          code, np_pm_natpmp_result_str(code),
                          s->lost_state ? " (the router's epoch says it "
                                          "restarted)"
                                        : "");
}

static int nat_add(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    struct nat *s = st;
    natpmpresp_t r;
    uint16_t asked =
        req->external_port ? req->external_port : req->internal_port;
    int rc, code = 0;

    if (np_addr_is_set(&req->internal) &&
        !np_addr_same_ip(&req->internal, &s->ctx->local)) {
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_UNSUPPORTED, 0,
                          "NAT-PMP cannot map ports for another device "
                          "(it has no field for its address)");
        return NP_OK;
    }
    if (req->permanent || req->lifetime == 0) {
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_UNSUPPORTED, 0,
                          "NAT-PMP has no permanent mappings");
        return NP_OK;
    }
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    rc = transact(s, req->transport, req->internal_port, asked, req->lifetime,
                  &r, &code);
    if (rc != NP_OK) {
        fail_io(res, rc);
        return rc == NP_ETIMEOUT ? NP_ETIMEOUT : NP_OK;
    }
    set_result(s, res, &r, asked);
    res->internal_port = req->internal_port;
    if (res->outcome != NP_PM_OK && res->outcome != NP_PM_OTHER_PORT)
        memset(&res->external, 0, sizeof(res->external));
    return NP_OK;
}

static int nat_del(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    struct nat *s = st;
    natpmpresp_t r;
    int rc, code = 0;

    if (np_addr_is_set(&req->internal) &&
        !np_addr_same_ip(&req->internal, &s->ctx->local)) {
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_UNSUPPORTED, 0,
                          "NAT-PMP cannot remove another device's mapping");
        return NP_OK;
    }
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    /* RFC 6886 §3.4: lifetime 0 and external port 0 delete the mapping */
    rc = transact(s, req->transport, req->internal_port, 0, 0, &r, &code);
    if (rc != NP_OK) {
        fail_io(res, rc);
        return rc == NP_ETIMEOUT ? NP_ETIMEOUT : NP_OK;
    }
    np__pm_result_set(res, NP_PM_NATPMP, np_pm_classify_natpmp(r.resultcode),
                      r.resultcode, "NAT-PMP result %d: %s", r.resultcode,
                      np_pm_natpmp_result_str(r.resultcode));
    return NP_OK;
}

static int nat_get(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    struct nat *s = st;
    uint16_t asked =
        req->external_port ? req->external_port : req->internal_port;
    int rc;

    rc = nat_add(st, req, res, err);
    if (rc != NP_OK || res->outcome == NP_PM_UNSUPPORTED)
        return rc;
    if (res->outcome == NP_PM_OTHER_PORT) {
        /* The port is held by someone else: undo the stand-in we got. */
        np_pm_result tmp;

        memset(&tmp, 0, sizeof(tmp));
        (void)nat_del(st, req, &tmp, NULL);
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_OTHER_DEVICE, 0,
                          "external port %u is held by another mapping",
                          (unsigned)asked);
    } else if (res->outcome == NP_PM_OK) {
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_OK, 0,
                          "mapped (renewed for %lu s)",
                          (unsigned long)res->lifetime);
    }
    (void)s;
    return NP_OK;
}

static int nat_external(void *st, np_addr *out, np_error *err)
{
    struct nat *s = st;

    if (!np_addr_is_set(&s->ext))
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "the router did not tell its external address");
    *out = s->ext;
    return NP_OK;
}

const np__pm_backend np__pm_natpmp = {
    NP_PM_NATPMP,  nat_open,      nat_close, nat_disc_fd,
    nat_disc_send, nat_disc_recv, NULL,      nat_add,
    nat_get,       NULL,          nat_del,   nat_external,
};
