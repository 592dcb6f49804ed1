/*
 * natpilot: the NAT-PMP backend (RFC 6886).
 *
 * Its own UDP socket, connected to gateway:5351, so the kernel drops
 * datagrams from any other source (a rogue responder on the LAN never
 * reaches us) and an ICMP port-unreachable surfaces as ECONNREFUSED. Every
 * byte the router sends goes through natpilot's bounded decoder
 * (natpmp.h): libnatpmp's readnatpmpresponse() does not check the length of
 * what it received, so a 2-byte answer to the external-address request read
 * as "0.0.0.0" and a false double NAT. A truncated or malformed answer is an
 * error that names the peer and the byte offset. NAT-PMP has no field for
 * another device's address: a request for another device is answered
 * NP_PM_UNSUPPORTED without asking. It has no read operation either: get
 * re-requests the mapping (a renewal).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natpilot/natpmp.h"
#include "portmap_int.h"

struct nat {
    const np__pm_ctx *ctx;
    int fd;
    int have_epoch;
    uint32_t epoch;
    uint64_t epoch_client; /* our clock (s) when epoch was seen */
    int lost_state;        /* §3.6: the epoch says the router restarted */
    np_addr ext;
    np_addr peer;   /* gateway:port, for messages */
    int bad_answer; /* the last answer did not decode: bad says why */
    np_error bad;
    int no_ext;    /* the router answered an unusable external address */
    np_addr bogus; /* ... this one */
};

static void *nat_open(const np__pm_ctx *ctx, np_error *err)
{
    struct nat *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    s->ctx = ctx;
    s->fd = -1;
    return s;
}

static void nat_close(void *st)
{
    struct nat *s = st;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static int ensure(struct nat *s, np_error *err)
{
    int fd;

    if (s->fd >= 0)
        return NP_OK;
    if (np_addr_family(&s->ctx->gateway) != AF_INET)
        return np_error_set(err, NP_EUNSUPP, NULL, "NAT-PMP is IPv4 only");
    s->peer = s->ctx->gateway;
    np_addr_set_port(&s->peer, s->ctx->opt.pcp_port ? s->ctx->opt.pcp_port
                                                    : NP_NATPMP_SERVER_PORT);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return np_error_sys(err, errno, NULL, "cannot create a UDP socket");
    if (connect(fd, (const struct sockaddr *)&s->peer.ss, s->peer.len) != 0) {
        int e = errno;

        close(fd);
        return np_error_sys(err, e, NULL, "cannot reach the gateway");
    }
    s->fd = fd;
    return NP_OK;
}

static int nat_disc_fd(void *st)
{
    struct nat *s = st;

    return s->fd;
}

static int send_buf(struct nat *s, const uint8_t *buf, size_t len)
{
    if (send(s->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
        return NP_EUNREACH;
    return NP_OK;
}

static int nat_disc_send(void *st, int attempt, np_error *err)
{
    struct nat *s = st;
    uint8_t buf[NP_NATPMP_PUBLIC_REQ_LEN];
    size_t len;
    int rc;

    (void)attempt;
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    rc = np_natpmp_encode_public_address(buf, sizeof(buf), &len, err);
    if (rc != NP_OK)
        return rc;
    if (send_buf(s, buf, len) != NP_OK)
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

#define RECV_NONE 1 /* nothing waiting on the socket */

/*
 * Read one datagram and decode it. NP_OK with *r; RECV_NONE when nothing
 * is waiting; NP_EUNREACH on ICMP unreachable (nobody on the port); a
 * decode error (NP_ETRUNC, NP_EPARSE) with err naming the peer and the byte.
 */
static int recv_one(struct nat *s, np_natpmp_response *r, np_error *err)
{
    uint8_t buf[1100];
    char where[NP_ERROR_WHERE_MAX], peer[NP_ADDRSTRLEN];
    np_error e;
    ssize_t n;
    int rc;

    n = recv(s->fd, buf, sizeof(buf), 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return RECV_NONE;
        return NP_EUNREACH; /* ECONNREFUSED: ICMP port unreachable */
    }
    np_error_clear(&e);
    rc = np_natpmp_decode_response(buf, (size_t)n, r, &e);
    if (rc == NP_OK)
        return NP_OK;
    snprintf(where, sizeof(where), "NAT-PMP answer from %.46s, %.40s",
             np_addr_str(&s->peer, peer, sizeof(peer)),
             e.where[0] ? e.where : "?");
    return np_error_set(err, rc, where, "%s", e.msg);
}

/* An external address the router cannot hold as its public one: it does
 * not know it (0.0.0.0, loopback), or names its own LAN side. */
static int ext_usable(const struct nat *s, const np_addr *a)
{
    return np_pm_external_usable(a, &s->ctx->gateway, &s->ctx->local);
}

static int nat_disc_recv(void *st, np_pm_discovery *d, np_error *err)
{
    struct nat *s = st;
    np_natpmp_response r;
    int rc;

    (void)err;
    rc = recv_one(s, &r, &s->bad);
    if (rc == RECV_NONE)
        return NP__DISC_PENDING;
    if (rc == NP_EUNREACH)
        return NP__DISC_GAVE_UP; /* ICMP unreachable: nobody on 5351 */
    if (rc != NP_OK) {
        /* Something answered on 5351, but not a NAT-PMP answer that can be
         * read: the router is there; what it said is not usable. */
        if (rc == NP_EPARSE && r.version != NP_NATPMP_VERSION)
            return NP__DISC_GAVE_UP; /* e.g. version 2: PCP only */
        s->bad_answer = 1;
        d->external_unread[NP_PM_NATPMP] = 1;
        np__pm_note(d, "NAT-PMP: %s: %s (not used)", s->bad.where, s->bad.msg);
        return NP__DISC_ANSWERED;
    }
    s->bad_answer = 0;
    /* UNSUPP_VERSION in NAT-PMP's own format: a PCP-only server telling
     * that it does not speak NAT-PMP (RFC 6887 section 9) */
    if (r.result == NP_NATPMP_UNSUPP_VERSION)
        return NP__DISC_GAVE_UP;
    /* A server that answers but refuses (result 2 NOT_AUTHORIZED, 3
     * NETWORK_FAILURE: no public address, e.g. a private WAN) will not map
     * either: fall back to the next protocol (docs/routers.md, 10). */
    if (r.result == NP_NATPMP_NOT_AUTHORIZED ||
        r.result == NP_NATPMP_NETWORK_FAILURE)
        return NP__DISC_GAVE_UP;
    /* Any other answer with a result code is a NAT-PMP server. */
    note_epoch(s, r.epoch);
    d->epoch[NP_PM_NATPMP] = r.epoch;
    if (r.result == NP_NATPMP_SUCCESS && r.has_address) {
        if (ext_usable(s, &r.external)) {
            s->ext = r.external;
            d->external[NP_PM_NATPMP] = s->ext;
        } else {
            s->no_ext = 1;
            s->bogus = r.external;
            d->external_bogus[NP_PM_NATPMP] = r.external;
        }
    }
    return NP__DISC_ANSWERED;
}

static int map_send(struct nat *s, int transport, uint16_t iport,
                    uint16_t eport, uint32_t lifetime)
{
    np_natpmp_map_request q;
    uint8_t buf[NP_NATPMP_MAP_REQ_LEN];
    size_t len;

    memset(&q, 0, sizeof(q));
    q.opcode =
        transport == NP_PM_TCP ? NP_NATPMP_OP_MAP_TCP : NP_NATPMP_OP_MAP_UDP;
    q.internal_port = iport;
    q.suggested_external_port = eport;
    q.lifetime = lifetime;
    if (np_natpmp_encode_map(buf, sizeof(buf), &q, &len, NULL) != NP_OK)
        return NP_EINVAL;
    return send_buf(s, buf, len);
}

/* Send one mapping request and wait for its answer, re-sending at 250 ms,
 * 500 ms, ... (RFC 6886 section 3.1) until the request's timeout. */
static int transact(struct nat *s, int transport, uint16_t iport,
                    uint16_t eport, uint32_t lifetime, np_natpmp_response *r,
                    np_error *err)
{
    int64_t start = np__mono_ms(), end = start + s->ctx->opt.timeout_ms;
    int64_t next, gap = 250;
    uint8_t want =
        transport == NP_PM_TCP ? NP_NATPMP_OP_MAP_TCP : NP_NATPMP_OP_MAP_UDP;
    int rc;

    if (map_send(s, transport, iport, eport, lifetime) != NP_OK)
        return NP_EUNREACH;
    next = start + gap;
    for (;;) {
        struct pollfd pfd;
        int64_t now = np__mono_ms(), wait;

        if (now >= end)
            return NP_ETIMEOUT;
        if (now >= next) {
            gap *= 2;
            next = now + gap;
            if (map_send(s, transport, iport, eport, lifetime) != NP_OK)
                return NP_EUNREACH;
        }
        wait = (next < end ? next : end) - now;
        pfd.fd = s->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, (int)(wait < 1 ? 1 : wait)) < 0) {
            if (errno == EINTR)
                return NP_ECANCELED;
            return NP_ESYS;
        }
        if (!(pfd.revents & (POLLIN | POLLERR)))
            continue;
        rc = recv_one(s, r, err);
        if (rc == RECV_NONE)
            continue;
        if (rc != NP_OK)
            return rc; /* unreachable, or an answer that does not decode */
        /* An error result may stop after the epoch (no ports to match):
         * accept it as the answer to the one request in flight. */
        if (r->opcode != want ||
            (r->result == NP_NATPMP_SUCCESS && r->internal_port != iport))
            continue; /* a late answer to an earlier request */
        note_epoch(s, r->epoch);
        return NP_OK;
    }
}

static void fail_io(np_pm_result *res, int rc, const np_error *e)
{
    char m[NP_PM_MSG_MAX];

    if (rc == NP_ETIMEOUT)
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_TIMEOUT, 0,
                          "no NAT-PMP answer from the router");
    else if (rc == NP_ETRUNC || rc == NP_EPARSE)
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_FAILED, 0,
                          "unusable answer: %s",
                          np_error_format(e, m, sizeof(m)));
    else
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_FAILED, 0,
                          "NAT-PMP request failed: %s", np_strerror(rc));
}

static void set_result(struct nat *s, np_pm_result *res,
                       const np_natpmp_response *r, uint16_t asked)
{
    int code = r->result;
    enum np_pm_outcome o = np_pm_classify_natpmp(code);
    uint16_t got = r->external_port;

    res->external = s->ext;
    if (!np_addr_is_set(&res->external))
        res->external = s->ctx->gateway;
    np_addr_set_port(&res->external, got);
    res->lifetime = r->lifetime;
    res->internal = s->ctx->local;
    res->internal_port = r->internal_port;
    if (o == NP_PM_OK && got != asked)
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_OTHER_PORT, code,
                          "the router granted external port %u instead of "
                          "%u (the port is taken)",
                          (unsigned)got, (unsigned)asked);
    else
        np__pm_result_set(
            res, NP_PM_NATPMP, o, code, "NAT-PMP result %d (%s): %s%s", code,
            np_natpmp_result_name(code), np_natpmp_result_message(code),
            s->lost_state ? " (the router's epoch says it "
                            "restarted)"
                          : "");
}

static int nat_add(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    struct nat *s = st;
    np_natpmp_response r;
    np_error e;
    uint16_t asked =
        req->external_port ? req->external_port : req->internal_port;
    int rc;

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
    np_error_clear(&e);
    rc = transact(s, req->transport, req->internal_port, asked, req->lifetime,
                  &r, &e);
    if (rc != NP_OK) {
        fail_io(res, rc, &e);
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
    np_natpmp_response r;
    np_error e;
    int rc;

    if (np_addr_is_set(&req->internal) &&
        !np_addr_same_ip(&req->internal, &s->ctx->local)) {
        np__pm_result_set(res, NP_PM_NATPMP, NP_PM_UNSUPPORTED, 0,
                          "NAT-PMP cannot remove another device's mapping");
        return NP_OK;
    }
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    np_error_clear(&e);
    /* RFC 6886 §3.4: lifetime 0 and external port 0 delete the mapping */
    rc = transact(s, req->transport, req->internal_port, 0, 0, &r, &e);
    if (rc != NP_OK) {
        fail_io(res, rc, &e);
        return rc == NP_ETIMEOUT ? NP_ETIMEOUT : NP_OK;
    }
    np__pm_result_set(res, NP_PM_NATPMP, np_pm_classify_natpmp(r.result),
                      r.result, "NAT-PMP result %d (%s): %s", r.result,
                      np_natpmp_result_name(r.result),
                      np_natpmp_result_message(r.result));
    return NP_OK;
}

static int nat_get(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
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
    return NP_OK;
}

static int nat_external(void *st, np_addr *out, np_error *err)
{
    struct nat *s = st;
    char a[NP_ADDRSTRLEN];

    if (np_addr_is_set(&s->ext)) {
        *out = s->ext;
        return NP_OK;
    }
    if (s->bad_answer) {
        if (err != NULL)
            *err = s->bad;
        return s->bad.code != NP_OK ? s->bad.code : NP_EPARSE;
    }
    if (s->no_ext)
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "the router does not know its public address "
                            "(it answered %s)",
                            np_addr_ip_str(&s->bogus, a, sizeof(a)));
    return np_error_set(err, NP_ENOTFOUND, NULL,
                        "the router did not tell its external address");
}

const np__pm_backend np__pm_natpmp = {
    NP_PM_NATPMP,  nat_open,      nat_close, nat_disc_fd,
    nat_disc_send, nat_disc_recv, NULL,      nat_add,
    nat_get,       NULL,          nat_del,   nat_external,
};
