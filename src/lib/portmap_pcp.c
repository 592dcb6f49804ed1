/*
 * natpilot: the PCP backend (RFC 6887) over the wire codec of
 * include/natpilot/pcp.h (MAP and ANNOUNCE).
 *
 * Request header (§7.1)                 Response header (§7.2)
 *  0      1      2      3                0      1      2      3
 * +------+-+-----+------+------+        +------+-+-----+------+------+
 * | Ver=2|R| Opc | Reserved (16)|        | Ver=2|R| Opc | Rsvd | Result|
 * +------+-+-----+------+------+        +------+-+-----+------+------+
 * |   Requested Lifetime (32)   |        |        Lifetime (32)        |
 * +-----------------------------+        +-----------------------------+
 * | PCP Client's IP Address(128)|        |       Epoch Time (32)       |
 * +-----------------------------+        +-----------------------------+
 * : opcode data, options        :        |      Reserved (96)          |
 *                                        : opcode data, options        :
 * MAP opcode data (§11.1): Mapping Nonce (96), Protocol (8), Reserved (24),
 * Internal Port (16), Suggested/Assigned External Port (16),
 * Suggested/Assigned External IP Address (128).
 * Options (§7.3): Code (8), Reserved (8), Length (16), data padded to 4.
 * THIRD_PARTY (§13.1, code 1): Internal IP Address (128).
 * PREFER_FAILURE (§13.2, code 2): no data.
 *
 * Every response's nonce, protocol and internal port must match the
 * request (§11.3); responses from any source other than gateway:5351 are
 * ignored. The epoch is checked per §8.5 on every response.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natpilot/pcp.h"
#include "portmap_int.h"

/* --- the backend --------------------------------------------------------- */

struct pcp {
    const np__pm_ctx *ctx;
    int fd;
    np_addr server; /* gateway:5351 */
    int have_epoch;
    uint32_t epoch;
    uint64_t epoch_client;
    int lost_state;
    int version;   /* 2, or 0 once a NAT-PMP server answered */
    np_addr ext;   /* last assigned external address */
    np_addr bogus; /* an unusable external address the router answered */
    np_pm_discovery *disc;
};

static void *pcp_open(const np__pm_ctx *ctx, np_error *err)
{
    struct pcp *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    s->ctx = ctx;
    s->fd = -1;
    s->version = 2;
    return s;
}

static void pcp_close(void *st)
{
    struct pcp *s = st;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

static int ensure(struct pcp *s, np_error *err)
{
    np_addr local;

    if (s->fd >= 0)
        return NP_OK;
    s->server = s->ctx->gateway;
    np_addr_set_port(&s->server, s->ctx->opt.pcp_port);
    s->fd = socket(np_addr_family(&s->server),
                   SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return np_error_sys(err, errno, NULL, "socket");
    local = s->ctx->local;
    np_addr_set_port(&local, 0);
    if (bind(s->fd, (struct sockaddr *)&local.ss, local.len) != 0)
        return np_error_sys(err, errno, NULL, "bind");
    return NP_OK;
}

static int pcp_disc_fd(void *st)
{
    return ((struct pcp *)st)->fd;
}

static int send_req(struct pcp *s, const uint8_t *buf, size_t len)
{
    if (sendto(s->fd, buf, len, 0, (const struct sockaddr *)&s->server.ss,
               s->server.len) < 0)
        return NP_EUNREACH;
    return NP_OK;
}

static int pcp_disc_send(void *st, int attempt, np_error *err)
{
    struct pcp *s = st;
    uint8_t buf[64];
    size_t len;
    int rc;

    (void)attempt;
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    rc = np_pcp_encode_announce(buf, sizeof(buf), &s->ctx->local, &len, err);
    if (rc != NP_OK)
        return rc;
    if (send_req(s, buf, len) != NP_OK)
        return np_error_sys(err, errno, NULL, "sendto the gateway");
    return NP_OK;
}

static void note_epoch(struct pcp *s, uint32_t epoch)
{
    uint64_t now = (uint64_t)np__mono_ms() / 1000;

    if (s->have_epoch && !np_pm_epoch_ok(s->epoch, s->epoch_client, epoch, now))
        s->lost_state = 1;
    s->have_epoch = 1;
    s->epoch = epoch;
    s->epoch_client = now;
}

/*
 * Read one datagram: 1 with *resp filled when it came from the server and
 * decodes, 0 when it must be ignored (suspect recorded in d if given), -1
 * when nothing is waiting.
 */
static int read_one(struct pcp *s, np_pcp_response *resp, np_pm_discovery *d)
{
    uint8_t buf[NP_PCP_MAX_MSG + 4];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    np_addr from;
    ssize_t n;

    n = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
    if (n < 0)
        return -1;
    np_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl);
    if (!np_addr_equal(&from, &s->server)) {
        if (d != NULL)
            np__pm_suspect(d, NP_PM_PCP, &from,
                           "a PCP/NAT-PMP answer from a host that is not "
                           "the gateway (ignored)");
        return 0;
    }
    if (np_pcp_decode_response(buf, (size_t)n, resp, NULL) != NP_OK)
        return 0;
    return 1;
}

static int pcp_disc_recv(void *st, np_pm_discovery *d, np_error *err)
{
    struct pcp *s = st;
    np_pcp_response r;
    int k;

    (void)err;
    while ((k = read_one(s, &r, d)) >= 0) {
        if (k == 0)
            continue;
        if (r.version != NP_PCP_VERSION) {
            /* Version 0: a NAT-PMP server (use NAT-PMP). Version 1 or
             * above 2: a PCP server of another version (RFC 6887 §9),
             * which natpilot cannot use: pcp_version tells which. */
            s->version = r.version;
            d->pcp_version = r.version;
            return NP__DISC_GAVE_UP;
        }
        if (r.opcode != NP_PCP_OP_ANNOUNCE)
            continue;
        if (r.result == NP_PCP_NOT_AUTHORIZED ||
            r.result == NP_PCP_ADDRESS_MISMATCH ||
            r.result == NP_PCP_NETWORK_FAILURE)
            return NP__DISC_GAVE_UP; /* answers, but refuses: next protocol */
        note_epoch(s, r.epoch);
        d->epoch[NP_PM_PCP] = r.epoch;
        d->pcp_version = 2;
        return NP__DISC_ANSWERED;
    }
    return NP__DISC_PENDING;
}

/* One MAP exchange with re-sends; 1 with *out on an answer, else an NP_E*
 * code. The nonce, protocol and internal port are checked (§11.3). */
static int map_transact(struct pcp *s, const np_pcp_map_request *m,
                        np_pcp_response *out)
{
    uint8_t buf[NP_PCP_MAX_MSG];
    size_t len;
    int64_t start = np__mono_ms(), end = start + s->ctx->opt.timeout_ms;
    int64_t next = start, gap = 250;
    int rc;

    rc = np_pcp_encode_map(buf, sizeof(buf), m, &len, NULL);
    if (rc != NP_OK)
        return rc;
    for (;;) {
        struct pollfd pfd;
        int64_t now = np__mono_ms(), wait;
        np_pcp_response r;
        int k;

        if (now >= end)
            return NP_ETIMEOUT;
        if (now >= next) {
            if (send_req(s, buf, len) != NP_OK)
                return NP_EUNREACH;
            next = now + gap;
            gap *= 2; /* §8.1.1: RT doubles */
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
        while ((k = read_one(s, &r, s->ctx->disc)) >= 0) {
            if (k == 0)
                continue;
            if (r.version != NP_PCP_VERSION) {
                s->version = r.version;
                *out = r;
                return NP_OK;
            }
            if (!np_pcp_response_matches(&r, m))
                continue; /* not the answer to this request */
            note_epoch(s, r.epoch);
            *out = r;
            return NP_OK;
        }
    }
}

static int nonce_zero(const uint8_t n[12])
{
    static const uint8_t z[12];

    return memcmp(n, z, 12) == 0;
}

static int is_third(const struct pcp *s, const np_pm_request *req)
{
    return np_addr_is_set(&req->internal) &&
           !np_addr_same_ip(&req->internal, &s->ctx->local);
}

/* The common part of add / get / delete. */
static int pcp_map(struct pcp *s, const np_pm_request *req, uint32_t lifetime,
                   np_pm_result *res, np_error *err)
{
    np_pcp_map_request m;
    np_pcp_response r;
    int third = is_third(s, req), prefer = !req->allow_other_port, rc;
    uint16_t asked =
        req->external_port ? req->external_port : req->internal_port;

    if (s->version != NP_PCP_VERSION) {
        np__pm_result_set(res, NP_PM_PCP, NP_PM_UNSUPPORTED, 1,
                          "the router does not speak PCP version 2 (it "
                          "answered version %d)",
                          s->version);
        return NP_OK;
    }
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    memset(&m, 0, sizeof(m));
    if (nonce_zero(req->nonce)) {
        if (np__random(m.nonce, sizeof(m.nonce)) != 0)
            return np_error_sys(err, errno, NULL, "getrandom");
    } else {
        memcpy(m.nonce, req->nonce, 12);
    }
    m.protocol = (uint8_t)req->transport;
    m.internal_port = req->internal_port;
    m.suggested_external_port = lifetime ? asked : 0;
    m.lifetime = lifetime;
    m.client = s->ctx->local;
    if (third)
        m.third_party = req->internal;
    m.prefer_failure = prefer && lifetime > 0;
    memcpy(res->nonce, m.nonce, 12);
    res->internal = third ? req->internal : s->ctx->local;
    np_addr_set_port(&res->internal, 0);
    res->internal_port = req->internal_port;
    rc = map_transact(s, &m, &r);
    if (rc == NP_OK && r.version == NP_PCP_VERSION && r.result == 5 && prefer &&
        lifetime > 0) {
        /* UNSUPP_OPTION: maybe PREFER_FAILURE; ask once more without it */
        m.prefer_failure = 0;
        rc = map_transact(s, &m, &r);
        prefer = 0;
    }
    if (rc == NP_OK && r.version == NP_PCP_VERSION && r.result == 11 &&
        prefer && lifetime > 0) {
        /* CANNOT_PROVIDE_EXTERNAL under PREFER_FAILURE: the port is taken,
         * or the policy forbids it (miniupnpd answers both this way). Ask
         * without PREFER_FAILURE to tell them apart; a stand-in mapping
         * granted that way is removed at once. */
        np_pcp_response r2;

        m.prefer_failure = 0;
        if (map_transact(s, &m, &r2) == NP_OK && r2.version == NP_PCP_VERSION) {
            if (r2.result == 0) {
                uint16_t offered = r2.external_port;

                m.lifetime = 0;
                m.suggested_external_port = 0;
                (void)map_transact(s, &m, &r2);
                res->external = r.external;
                np_addr_set_port(&res->external, offered);
                np__pm_result_set(res, NP_PM_PCP, NP_PM_CONFLICT, 11,
                                  "PCP result 11 (%s): %s (the router "
                                  "offered external port %u instead)",
                                  np_pcp_result_name(11),
                                  np_pcp_result_message(11), (unsigned)offered);
                return NP_OK;
            }
            if (r2.result != 11)
                r = r2;
        }
    }
    if (rc == NP_ETIMEOUT) {
        np__pm_result_set(res, NP_PM_PCP, NP_PM_TIMEOUT, 0,
                          "no PCP answer from the router");
        return NP_ETIMEOUT;
    }
    if (rc != NP_OK) {
        np__pm_result_set(res, NP_PM_PCP, NP_PM_FAILED, 0,
                          "PCP request failed: %s", np_strerror(rc));
        return NP_OK;
    }
    if (r.version != NP_PCP_VERSION) {
        if (r.version == 0)
            np__pm_result_set(res, NP_PM_PCP, NP_PM_UNSUPPORTED, 1,
                              "UNSUPP_VERSION: the router speaks NAT-PMP, "
                              "not PCP");
        else
            np__pm_result_set(res, NP_PM_PCP, NP_PM_UNSUPPORTED, 1,
                              "UNSUPP_VERSION: the router speaks PCP "
                              "version %u only, natpilot version 2",
                              (unsigned)r.version);
        return NP_OK;
    }
    res->lifetime = r.lifetime;
    if (r.result == NP_PCP_UNSUPP_OPTION ||
        r.result == NP_PCP_MALFORMED_OPTION) {
        /* Blame THIRD_PARTY only when the request carried it (§13.1). */
        np__pm_result_set(
            res, NP_PM_PCP, np_pm_classify_pcp(r.result, third), r.result,
            "PCP result %d: %s: the router refused %s", r.result,
            r.result == NP_PCP_UNSUPP_OPTION ? "UNSUPP_OPTION"
                                             : "MALFORMED_OPTION",
            third ? "the THIRD_PARTY option (mapping for another device is "
                    "not allowed)"
            : m.prefer_failure ? "the PREFER_FAILURE option"
                               : "an option although the request carried "
                                 "none");
        return NP_OK;
    }
    if (r.result != 0) {
        np__pm_result_set(res, NP_PM_PCP, np_pm_classify_pcp(r.result, third),
                          r.result, "PCP result %d (%s): %s", r.result,
                          np_pcp_result_name(r.result),
                          np_pcp_result_message(r.result));
        return NP_OK;
    }
    if (lifetime > 0 &&
        !np_pm_external_usable(&r.external, &s->ctx->gateway, &s->ctx->local)) {
        /* SUCCESS with an external address that cannot be one (all zero,
         * loopback, the router's LAN side): the router does not know its
         * public address; nothing can reach such a mapping. Remove it. */
        char a[NP_ADDRSTRLEN];

        np_addr_ip_str(&r.external, a, sizeof(a));
        s->bogus = r.external;
        m.lifetime = 0;
        m.suggested_external_port = 0;
        (void)map_transact(s, &m, &r);
        memset(&res->external, 0, sizeof(res->external));
        res->lifetime = 0;
        np__pm_result_set(res, NP_PM_PCP, NP_PM_FAILED, 0,
                          "the router answered SUCCESS with external address "
                          "%s, which cannot be a public address: it does not "
                          "know its own (removed again)",
                          a);
        return NP_OK;
    }
    res->external = r.external;
    np_addr_set_port(&res->external, r.external_port);
    if (lifetime > 0)
        s->ext = r.external;
    if (lifetime > 0 && r.external_port != asked)
        np__pm_result_set(res, NP_PM_PCP, NP_PM_OTHER_PORT, 0,
                          "the router granted external port %u instead of "
                          "%u (the port is taken)",
                          (unsigned)r.external_port, (unsigned)asked);
    else
        np__pm_result_set(res, NP_PM_PCP, NP_PM_OK, 0, "SUCCESS%s",
                          s->lost_state ? " (the router's epoch says it "
                                          "restarted and lost its mappings)"
                                        : "");
    return NP_OK;
}

static int pcp_add(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    struct pcp *s = st;

    if (req->permanent || req->lifetime == 0) {
        np__pm_result_set(res, NP_PM_PCP, NP_PM_UNSUPPORTED, 0,
                          "PCP has no permanent mappings");
        return NP_OK;
    }
    return pcp_map(s, req, req->lifetime, res, err);
}

static int pcp_get(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    struct pcp *s = st;
    uint16_t asked =
        req->external_port ? req->external_port : req->internal_port;
    np_pm_request q = *req;
    int rc;

    /* No read operation in PCP: renew the same mapping, and never accept
     * a stand-in port. */
    q.allow_other_port = 0;
    if (q.lifetime == 0)
        q.lifetime = 7200;
    rc = pcp_map(s, &q, q.lifetime, res, err);
    if (rc != NP_OK)
        return rc;
    if (res->outcome == NP_PM_CONFLICT || res->outcome == NP_PM_OTHER_PORT) {
        if (res->outcome == NP_PM_OTHER_PORT) {
            np_pm_result tmp;

            memset(&tmp, 0, sizeof(tmp));
            memcpy(q.nonce, res->nonce, 12);
            (void)pcp_map(s, &q, 0, &tmp, NULL);
        }
        np__pm_result_set(res, NP_PM_PCP, NP_PM_OTHER_DEVICE, res->code,
                          "external port %u is held by another mapping",
                          (unsigned)asked);
    } else if (res->outcome == NP_PM_OK) {
        np__pm_result_set(res, NP_PM_PCP, NP_PM_OK, 0,
                          "mapped (renewed for %lu s)",
                          (unsigned long)res->lifetime);
    }
    return NP_OK;
}

static int pcp_del(void *st, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    struct pcp *s = st;

    /* §15: lifetime 0 with the mapping's nonce deletes it */
    return pcp_map(s, req, 0, res, err);
}

static int pcp_external(void *st, np_addr *out, np_error *err)
{
    struct pcp *s = st;

    char a[NP_ADDRSTRLEN];

    if (!np_addr_is_set(&s->ext) && np_addr_is_set(&s->bogus))
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "the router does not know its public address "
                            "(it answered %s)",
                            np_addr_ip_str(&s->bogus, a, sizeof(a)));
    if (!np_addr_is_set(&s->ext))
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "PCP tells the external address only with a "
                            "mapping");
    *out = s->ext;
    return NP_OK;
}

const np__pm_backend np__pm_pcp = {
    NP_PM_PCP, pcp_open, pcp_close, pcp_disc_fd, pcp_disc_send, pcp_disc_recv,
    NULL,      pcp_add,  pcp_get,   NULL,        pcp_del,       pcp_external,
};
