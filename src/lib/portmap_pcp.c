/*
 * natpilot: the PCP backend (RFC 6887), with its own minimal codec for the
 * MAP and ANNOUNCE opcodes (np__pcp_encode / np__pcp_decode).
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

#include "np_cursor.h"
#include "portmap_int.h"

/* --- codec -------------------------------------------------------------- */

static void wr_addr(np__wr *w, const np_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};

    if (a != NULL && np_addr_family(a) == AF_INET6) {
        np__wr_bytes(w, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    } else {
        np__wr_bytes(w, mapped, 12);
        if (a != NULL && np_addr_family(a) == AF_INET)
            np__wr_bytes(w, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
        else
            np__wr_fill(w, 0, 4);
    }
}

static int rd_addr(np__rd *r, np_addr *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    uint8_t b[16];
    int rc = np__rd_bytes(r, b, 16);

    if (rc != NP_OK)
        return rc;
    if (memcmp(b, mapped, 12) == 0)
        np_addr_from_ipv4(a, b + 12, 0);
    else
        np_addr_from_ipv6(a, b, 0);
    return NP_OK;
}

int np__pcp_encode(uint8_t *buf, size_t cap, size_t *len, uint8_t opcode,
                   uint32_t lifetime, const np_addr *client,
                   const np__pcp_map *map, const np_addr *third_party,
                   int prefer_failure)
{
    np__wr w;

    np__wr_init(&w, buf, cap);
    np__wr_u8(&w, NP__PCP_VERSION);
    np__wr_u8(&w, opcode & 0x7f);
    np__wr_u16(&w, 0);
    np__wr_u32(&w, lifetime);
    wr_addr(&w, client);
    if (map != NULL) {
        np__wr_bytes(&w, map->nonce, 12);
        np__wr_u8(&w, map->protocol);
        np__wr_fill(&w, 0, 3);
        np__wr_u16(&w, map->internal_port);
        np__wr_u16(&w, map->external_port);
        wr_addr(&w, &map->external);
    }
    if (third_party != NULL) {
        np__wr_u8(&w, NP__PCP_OPT_THIRD);
        np__wr_u8(&w, 0);
        np__wr_u16(&w, 16);
        wr_addr(&w, third_party);
    }
    if (prefer_failure) {
        np__wr_u8(&w, NP__PCP_OPT_PREFER);
        np__wr_u8(&w, 0);
        np__wr_u16(&w, 0);
    }
    *len = w.pos;
    return np__wr_status(&w);
}

static int bad(np_error *err, int code, size_t pos, const char *what)
{
    char where[32];

    snprintf(where, sizeof(where), "byte %zu", pos);
    return np_error_set(err, code, where, "PCP response: %s", what);
}

int np__pcp_decode(const uint8_t *buf, size_t len, np__pcp_resp *out,
                   np_error *err)
{
    np__rd r;
    uint8_t op, rsv;
    uint16_t u16;

    memset(out, 0, sizeof(*out));
    np__rd_init(&r, buf, len);
    if (np__rd_u8(&r, &out->version) != NP_OK)
        return bad(err, NP_ETRUNC, r.pos, "empty");
    if (out->version == 0) {
        /* A NAT-PMP server's answer to a PCP request (§9): version 0,
         * opcode, 16-bit result (1 = Unsupported Version). */
        if (np__rd_u8(&r, &op) != NP_OK || np__rd_u16(&r, &u16) != NP_OK)
            return bad(err, NP_ETRUNC, r.pos, "short NAT-PMP answer");
        out->opcode = op & 0x7f;
        out->result = u16 > 255 ? 255 : (uint8_t)u16;
        return NP_OK;
    }
    if (len < 24)
        return bad(err, NP_ETRUNC, len, "shorter than the 24-byte header");
    if (len > NP__PCP_MAX || len % 4 != 0)
        return bad(err, NP_EPARSE, len, "length not a multiple of 4");
    (void)np__rd_u8(&r, &op);
    if ((op & 0x80) == 0)
        return bad(err, NP_EPARSE, 1, "R bit not set (a request)");
    out->opcode = op & 0x7f;
    (void)np__rd_u8(&r, &rsv);
    (void)np__rd_u8(&r, &out->result);
    (void)np__rd_u32(&r, &out->lifetime);
    (void)np__rd_u32(&r, &out->epoch);
    (void)np__rd_bytes(&r, NULL, 12);
    if (out->version != NP__PCP_VERSION)
        return NP_OK; /* UNSUPP_VERSION answers carry only the header */
    if (out->opcode == NP__PCP_OP_MAP && np__rd_left(&r) > 0) {
        uint8_t proto;

        if (np__rd_bytes(&r, out->map.nonce, 12) != NP_OK ||
            np__rd_u8(&r, &proto) != NP_OK ||
            np__rd_bytes(&r, NULL, 3) != NP_OK ||
            np__rd_u16(&r, &out->map.internal_port) != NP_OK ||
            np__rd_u16(&r, &out->map.external_port) != NP_OK ||
            rd_addr(&r, &out->map.external) != NP_OK)
            return bad(err, NP_ETRUNC, r.pos, "MAP data cut short");
        out->map.protocol = proto;
        out->has_map = 1;
    }
    /* Options: checked for well-formedness, their contents are not used. */
    while (np__rd_left(&r) > 0) {
        uint8_t code, res;
        uint16_t olen;
        size_t padded;

        if (np__rd_u8(&r, &code) != NP_OK || np__rd_u8(&r, &res) != NP_OK ||
            np__rd_u16(&r, &olen) != NP_OK)
            return bad(err, NP_ETRUNC, r.pos, "option header cut short");
        padded = ((size_t)olen + 3) & ~(size_t)3;
        if (np__rd_bytes(&r, NULL, padded) != NP_OK)
            return bad(err, NP_ETRUNC, r.pos, "option longer than the rest");
    }
    return NP_OK;
}

/* --- the backend --------------------------------------------------------- */

struct pcp {
    const np__pm_ctx *ctx;
    int fd;
    np_addr server; /* gateway:5351 */
    int have_epoch;
    uint32_t epoch;
    uint64_t epoch_client;
    int lost_state;
    int version; /* 2, or 0 once a NAT-PMP server answered */
    np_addr ext; /* last assigned external address */
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
    rc = np__pcp_encode(buf, sizeof(buf), &len, NP__PCP_OP_ANNOUNCE, 0,
                        &s->ctx->local, NULL, NULL, 0);
    if (rc != NP_OK)
        return rc;
    if (send_req(s, buf, len) != NP_OK)
        return np_error_sys(err, errno, NULL, "sendto the gateway");
    return NP_OK;
}

static void note_epoch(struct pcp *s, uint32_t epoch)
{
    uint64_t now = (uint64_t)np__pm_now_ms() / 1000;

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
static int read_one(struct pcp *s, np__pcp_resp *resp, np_pm_discovery *d)
{
    uint8_t buf[NP__PCP_MAX + 4];
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
    if (np__pcp_decode(buf, (size_t)n, resp, NULL) != NP_OK)
        return 0;
    return 1;
}

static int pcp_disc_recv(void *st, np_pm_discovery *d, np_error *err)
{
    struct pcp *s = st;
    np__pcp_resp r;
    int k;

    (void)err;
    while ((k = read_one(s, &r, d)) >= 0) {
        if (k == 0)
            continue;
        if (r.version != NP__PCP_VERSION) {
            /* UNSUPP_VERSION, or a NAT-PMP server: fall back to NAT-PMP */
            s->version = r.version;
            d->pcp_version = r.version;
            return NP__DISC_GAVE_UP;
        }
        if (r.opcode != NP__PCP_OP_ANNOUNCE)
            continue;
        note_epoch(s, r.epoch);
        d->epoch[NP_PM_PCP] = r.epoch;
        d->pcp_version = 2;
        return NP__DISC_ANSWERED;
    }
    return NP__DISC_PENDING;
}

/* One MAP exchange with re-sends; 1 with *out on an answer, else an NP_E*
 * code. The nonce, protocol and internal port are checked (§11.3). */
static int map_transact(struct pcp *s, const np__pcp_map *m, uint32_t lifetime,
                        const np_addr *third, int prefer_failure,
                        np__pcp_resp *out)
{
    uint8_t buf[128];
    size_t len;
    int64_t start = np__pm_now_ms(), end = start + s->ctx->opt.timeout_ms;
    int64_t next = start, gap = 250;
    int rc;

    rc = np__pcp_encode(buf, sizeof(buf), &len, NP__PCP_OP_MAP, lifetime,
                        &s->ctx->local, m, third, prefer_failure);
    if (rc != NP_OK)
        return rc;
    for (;;) {
        struct pollfd pfd;
        int64_t now = np__pm_now_ms(), wait;
        np__pcp_resp r;
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
        while ((k = read_one(s, &r, NULL)) >= 0) {
            if (k == 0)
                continue;
            if (r.version != NP__PCP_VERSION) {
                s->version = r.version;
                *out = r;
                return NP_OK;
            }
            if (r.opcode != NP__PCP_OP_MAP || !r.has_map ||
                memcmp(r.map.nonce, m->nonce, 12) != 0 ||
                r.map.protocol != m->protocol ||
                r.map.internal_port != m->internal_port)
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

static int make_nonce(uint8_t n[12])
{
    size_t got = 0;

    while (got < 12) {
        ssize_t r = getrandom(n + got, 12 - got, 0);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return NP_ESYS;
        }
        got += (size_t)r;
    }
    return NP_OK;
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
    np__pcp_map m;
    np__pcp_resp r;
    int third = is_third(s, req), prefer = !req->allow_other_port, rc;
    uint16_t asked =
        req->external_port ? req->external_port : req->internal_port;

    if (s->version != NP__PCP_VERSION) {
        np__pm_result_set(res, NP_PM_PCP, NP_PM_UNSUPPORTED, 1,
                          "the router does not speak PCP version 2");
        return NP_OK;
    }
    rc = ensure(s, err);
    if (rc != NP_OK)
        return rc;
    memset(&m, 0, sizeof(m));
    if (nonce_zero(req->nonce)) {
        if (make_nonce(m.nonce) != NP_OK)
            return np_error_sys(err, errno, NULL, "getrandom");
    } else {
        memcpy(m.nonce, req->nonce, 12);
    }
    m.protocol = (uint8_t)req->transport;
    m.internal_port = req->internal_port;
    m.external_port = lifetime ? asked : 0;
    np_addr_from_ipv4(&m.external, "\0\0\0\0", 0);
    memcpy(res->nonce, m.nonce, 12);
    res->internal = third ? req->internal : s->ctx->local;
    np_addr_set_port(&res->internal, 0);
    res->internal_port = req->internal_port;
    rc = map_transact(s, &m, lifetime, third ? &req->internal : NULL,
                      prefer && lifetime > 0, &r);
    if (rc == NP_OK && r.version == NP__PCP_VERSION && r.result == 5 &&
        prefer && lifetime > 0) {
        /* UNSUPP_OPTION: maybe PREFER_FAILURE; ask once more without it */
        rc =
            map_transact(s, &m, lifetime, third ? &req->internal : NULL, 0, &r);
        prefer = 0;
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
    if (r.version != NP__PCP_VERSION) {
        np__pm_result_set(res, NP_PM_PCP, NP_PM_UNSUPPORTED, 1,
                          "UNSUPP_VERSION: the router speaks NAT-PMP, not "
                          "PCP");
        return NP_OK;
    }
    res->lifetime = r.lifetime;
    if (r.result != 0) {
        np__pm_result_set(res, NP_PM_PCP, np_pm_classify_pcp(r.result, third),
                          r.result, "PCP result %d: %s", r.result,
                          np_pm_pcp_result_str(r.result));
        return NP_OK;
    }
    res->external = r.map.external;
    np_addr_set_port(&res->external, r.map.external_port);
    if (lifetime > 0)
        s->ext = r.map.external;
    if (lifetime > 0 && r.map.external_port != asked)
        np__pm_result_set(res, NP_PM_PCP, NP_PM_OTHER_PORT, 0,
                          "the router granted external port %u instead of "
                          "%u (the port is taken)",
                          (unsigned)r.map.external_port, (unsigned)asked);
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
