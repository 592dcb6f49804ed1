/*
 * natpilot: PCP wire codec (RFC 6887). See include/natpilot/pcp.h for the
 * packet diagrams. Reads through the np__rd_* cursor, writes through np__wr_*;
 * every error names the byte offset of the offending field.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "natpilot/pcp.h"
#include "np_cursor.h"

#define OPT_HDR_LEN 4
#define R_BIT       0x80u

/* ------------------------------------------------------------------------ */
/* Result codes (section 7.4)                                               */

struct result_info {
    const char *name;
    const char *message;
    int transient; /* short-lifetime error: worth retrying later */
};

static const struct result_info results[] = {
    [NP_PCP_SUCCESS] = {"SUCCESS", "the router granted the request", 0},
    [NP_PCP_UNSUPP_VERSION] = {"UNSUPP_VERSION",
                               "the router does not speak this PCP version "
                               "(fall back to NAT-PMP or UPnP)",
                               0},
    [NP_PCP_NOT_AUTHORIZED] = {"NOT_AUTHORIZED",
                               "the router's policy refuses this mapping "
                               "(port range, protocol, or mapping for "
                               "another device not allowed)",
                               0},
    [NP_PCP_MALFORMED_REQUEST] = {"MALFORMED_REQUEST",
                                  "the router could not parse the request", 0},
    [NP_PCP_UNSUPP_OPCODE] = {"UNSUPP_OPCODE",
                              "the router does not support this kind of "
                              "request",
                              0},
    [NP_PCP_UNSUPP_OPTION] = {"UNSUPP_OPTION",
                              "the router does not support an option the "
                              "request marked mandatory",
                              0},
    [NP_PCP_MALFORMED_OPTION] = {"MALFORMED_OPTION",
                                 "the router rejected an option as malformed",
                                 0},
    [NP_PCP_NETWORK_FAILURE] = {"NETWORK_FAILURE",
                                "the router has a network problem (e.g. no "
                                "external address yet); try again later",
                                1},
    [NP_PCP_NO_RESOURCES] = {"NO_RESOURCES",
                             "the router is out of mappings or memory right "
                             "now; try again later",
                             1},
    [NP_PCP_UNSUPP_PROTOCOL] = {"UNSUPP_PROTOCOL",
                                "the router cannot map this protocol", 0},
    [NP_PCP_USER_EX_QUOTA] = {"USER_EX_QUOTA",
                              "this device has used up its quota of "
                              "mappings on the router",
                              1},
    [NP_PCP_CANNOT_PROVIDE_EXTERNAL] = {"CANNOT_PROVIDE_EXTERNAL",
                                        "the router cannot give the "
                                        "requested external port or address "
                                        "(taken, or PREFER_FAILURE asked "
                                        "for exactly it)",
                                        1},
    [NP_PCP_ADDRESS_MISMATCH] = {"ADDRESS_MISMATCH",
                                 "the address in the request differs from "
                                 "the packet's source address (another NAT "
                                 "between this device and the router?)",
                                 0},
    [NP_PCP_EXCESSIVE_REMOTE_PEERS] = {"EXCESSIVE_REMOTE_PEERS",
                                       "the router cannot apply that many "
                                       "remote-peer filters",
                                       0},
};

#define N_RESULTS (sizeof(results) / sizeof(results[0]))

const char *np_pcp_result_name(int result)
{
    if (result < 0 || (size_t)result >= N_RESULTS)
        return "UNKNOWN";
    return results[result].name;
}

const char *np_pcp_result_message(int result)
{
    if (result < 0 || (size_t)result >= N_RESULTS)
        return "the router answered with a result code PCP does not define";
    return results[result].message;
}

int np_pcp_result_is_transient(int result)
{
    if (result < 0 || (size_t)result >= N_RESULTS)
        return 0;
    return results[result].transient;
}

/* ------------------------------------------------------------------------ */
/* Addresses: IPv4 as ::ffff:a.b.c.d (section 5)                            */

static void addr_to_wire(const np_addr *a, uint8_t out[16])
{
    memset(out, 0, 16);
    if (np_addr_family(a) == AF_INET) {
        out[10] = 0xFF;
        out[11] = 0xFF;
        memcpy(out + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (np_addr_family(a) == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    }
}

static void addr_from_wire(np_addr *out, const uint8_t in[16], uint16_t port)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
                                         0, 0, 0, 0, 0xFF, 0xFF};

    if (memcmp(in, v4mapped, 12) == 0)
        np_addr_from_ipv4(out, in + 12, port);
    else
        np_addr_from_ipv6(out, in, port);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static void put_header(np__wr *w, uint8_t opcode_r, uint8_t byte3,
                       uint32_t lifetime, const uint8_t addr16[16])
{
    np__wr_u8(w, NP_PCP_VERSION);
    np__wr_u8(w, opcode_r);
    np__wr_u8(w, 0);
    np__wr_u8(w, byte3);
    np__wr_u32(w, lifetime);
    np__wr_bytes(w, addr16, 16);
}

static void put_option(np__wr *w, uint8_t code, const void *data, uint16_t len)
{
    np__wr_u8(w, code);
    np__wr_u8(w, 0);
    np__wr_u16(w, len);
    np__wr_bytes(w, data, len);
    np__wr_fill(w, 0, (size_t)((4u - (len & 3u)) & 3u));
}

int np_pcp_encode_map(uint8_t *buf, size_t cap, const np_pcp_map_request *req,
                      size_t *len, np_error *err)
{
    np__wr w;
    uint8_t a[16];
    int fam;

    if (len != NULL)
        *len = 0;
    if (buf == NULL || req == NULL || len == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_pcp_encode_map: NULL argument");
    fam = np_addr_family(&req->client);
    if (fam != AF_INET && fam != AF_INET6)
        return np_error_set(err, NP_EINVAL, NULL,
                            "PCP MAP request needs the client's own address");
    if (np_addr_is_set(&req->suggested_external) &&
        np_addr_family(&req->suggested_external) != fam)
        return np_error_set(err, NP_EINVAL, NULL,
                            "suggested external address family differs from "
                            "the client's (NAT64 mappings are not supported)");
    if (req->protocol == NP_PCP_PROTO_ALL && req->internal_port != 0)
        return np_error_set(err, NP_EINVAL, NULL,
                            "protocol 0 (all protocols) needs internal port 0 "
                            "(RFC 6887 11.1)");
    if (req->internal_port == 0 && req->lifetime != 0 &&
        (req->protocol == NP_PCP_PROTO_TCP ||
         req->protocol == NP_PCP_PROTO_UDP))
        return np_error_set(err, NP_EINVAL, NULL,
                            "internal port 0 would map every %s port to this "
                            "host; only a delete (lifetime 0) may use it",
                            req->protocol == NP_PCP_PROTO_TCP ? "TCP" : "UDP");

    np__wr_init(&w, buf, cap);
    addr_to_wire(&req->client, a);
    put_header(&w, NP_PCP_OP_MAP, 0, req->lifetime, a);
    /* MAP opcode data (section 11.1) */
    np__wr_bytes(&w, req->nonce, NP_PCP_NONCE_LEN);
    np__wr_u8(&w, req->protocol);
    np__wr_fill(&w, 0, 3);
    np__wr_u16(&w, req->internal_port);
    np__wr_u16(&w, req->suggested_external_port);
    if (np_addr_is_set(&req->suggested_external)) {
        addr_to_wire(&req->suggested_external, a);
    } else {
        /* All-zeros of the family (11.1): ::ffff:0.0.0.0 or :: */
        memset(a, 0, sizeof(a));
        if (fam == AF_INET) {
            a[10] = 0xFF;
            a[11] = 0xFF;
        }
    }
    np__wr_bytes(&w, a, 16);
    /* Options (section 13) */
    if (np_addr_is_set(&req->third_party)) {
        addr_to_wire(&req->third_party, a);
        put_option(&w, NP_PCP_OPT_THIRD_PARTY, a, 16);
    }
    if (req->prefer_failure)
        put_option(&w, NP_PCP_OPT_PREFER_FAILURE, NULL, 0);
    if (np__wr_status(&w) != NP_OK)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "buffer of %zu bytes too small for a PCP MAP "
                            "request",
                            cap);
    *len = w.pos;
    return NP_OK;
}

int np_pcp_encode_announce(uint8_t *buf, size_t cap, const np_addr *client,
                           size_t *len, np_error *err)
{
    np__wr w;
    uint8_t a[16];

    if (len != NULL)
        *len = 0;
    if (buf == NULL || client == NULL || len == NULL || !np_addr_is_set(client))
        return np_error_set(err, NP_EINVAL, NULL,
                            "PCP ANNOUNCE request needs the client's own "
                            "address");
    np__wr_init(&w, buf, cap);
    addr_to_wire(client, a);
    put_header(&w, NP_PCP_OP_ANNOUNCE, 0, 0, a);
    if (np__wr_status(&w) != NP_OK)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "buffer of %zu bytes too small for a PCP "
                            "ANNOUNCE request",
                            cap);
    *len = w.pos;
    return NP_OK;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

/*
 * A NAT-PMP server's answer to a PCP request (RFC 6886 section 3.5 with
 * erratum 3618; RFC 6887 section 9):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = 128 (0)  | Result Code = 1               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Seconds Since Start of Epoch                                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static int decode_natpmp_reply(np__rd *r, np_pcp_response *resp, np_error *err)
{
    uint8_t op;

    (void)np__rd_u8(r, &op);
    if (np__rd_u16(r, &resp->natpmp_result) != NP_OK ||
        np__rd_u32(r, &resp->epoch) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, r->len,
                           "NAT-PMP reply (version 0) needs 8 bytes but the "
                           "datagram ends after %zu",
                           r->len);
    if (op != 0 && op != 128)
        return np__fail_at(err, NP_EPARSE, 1,
                           "NAT-PMP reply to a PCP request has opcode %u; an "
                           "Unsupported Version answer has 128 (or 0)",
                           (unsigned)op);
    resp->natpmp_reply = 1;
    resp->version = 0;
    resp->opcode = (uint8_t)(op & 0x7Fu);
    resp->result = NP_PCP_UNSUPP_VERSION;
    return NP_OK;
}

/* MAP or PEER opcode data: the fields they share come first (11.1, 12.1). */
static int decode_map_data(np__rd *r, np_pcp_response *resp, np_error *err)
{
    size_t start = r->pos;
    size_t need =
        resp->opcode == NP_PCP_OP_PEER ? NP_PCP_PEER_LEN : NP_PCP_MAP_LEN;
    uint8_t ext[16];

    if (np__rd_left(r) < need) {
        /* Error responses may omit the opcode data (e.g. a server that
         * could not parse it); a success must carry it. */
        if (resp->result != NP_PCP_SUCCESS && np__rd_left(r) == 0)
            return NP_OK;
        return np__fail_at(
            err, NP_ETRUNC, start,
            "%s response data at byte %zu needs %zu bytes but %zu "
            "remain",
            resp->opcode == NP_PCP_OP_PEER ? "PEER" : "MAP", start, need,
            np__rd_left(r));
    }
    (void)np__rd_bytes(r, resp->nonce, NP_PCP_NONCE_LEN);
    (void)np__rd_u8(r, &resp->protocol);
    (void)np__rd_bytes(r, NULL, 3);
    (void)np__rd_u16(r, &resp->internal_port);
    (void)np__rd_u16(r, &resp->external_port);
    (void)np__rd_bytes(r, ext, 16);
    addr_from_wire(&resp->external, ext, resp->external_port);
    if (resp->opcode == NP_PCP_OP_PEER)
        (void)np__rd_bytes(r, NULL, NP_PCP_PEER_LEN - NP_PCP_MAP_LEN);
    resp->has_map = 1;
    return NP_OK;
}

static int decode_options(np__rd *r, np_pcp_response *resp, np_error *err)
{
    while (np__rd_left(r) > 0) {
        size_t off = r->pos;
        uint8_t code = 0, reserved = 0;
        uint16_t olen = 0;
        size_t padded;
        np__rd val;
        uint8_t a[16];

        np__rd_init(&val, NULL, 0);
        if (np__rd_left(r) < OPT_HDR_LEN)
            return np__fail_at(
                err, NP_ETRUNC, off,
                "option header at byte %zu needs 4 bytes but %zu "
                "remain",
                off, np__rd_left(r));
        (void)np__rd_u8(r, &code);
        (void)np__rd_u8(r, &reserved);
        (void)np__rd_u16(r, &olen);
        padded = ((size_t)olen + 3u) & ~(size_t)3u;
        if (np__rd_left(r) < padded)
            return np__fail_at(
                err, NP_ETRUNC, off,
                "option %u at byte %zu claims %u bytes (%zu padded) "
                "but %zu remain",
                (unsigned)code, off, (unsigned)olen, padded, np__rd_left(r));
        (void)np__rd_sub(r, olen, &val);
        (void)np__rd_bytes(r, NULL, padded - olen);
        switch (code) {
        case NP_PCP_OPT_THIRD_PARTY: /* 13.1 */
            if (olen != 16)
                return np__fail_at(err, NP_EPARSE, off + 2,
                                   "THIRD_PARTY option at byte %zu is %u bytes "
                                   "long; it must be 16",
                                   off, (unsigned)olen);
            (void)np__rd_bytes(&val, a, 16);
            if (!(resp->options & NP_PCP_HAS_THIRD_PARTY))
                addr_from_wire(&resp->third_party, a, 0);
            resp->options |= NP_PCP_HAS_THIRD_PARTY;
            break;
        case NP_PCP_OPT_PREFER_FAILURE: /* 13.2 */
            if (olen != 0)
                return np__fail_at(
                    err, NP_EPARSE, off + 2,
                    "PREFER_FAILURE option at byte %zu is %u bytes "
                    "long; it must be empty",
                    off, (unsigned)olen);
            resp->options |= NP_PCP_HAS_PREFER_FAILURE;
            break;
        case NP_PCP_OPT_FILTER: { /* 13.3 */
            uint8_t plen = 0;
            uint16_t port = 0;
            if (olen != 20)
                return np__fail_at(
                    err, NP_EPARSE, off + 2,
                    "FILTER option at byte %zu is %u bytes long; it "
                    "must be 20",
                    off, (unsigned)olen);
            (void)np__rd_bytes(&val, NULL, 1);
            (void)np__rd_u8(&val, &plen);
            (void)np__rd_u16(&val, &port);
            (void)np__rd_bytes(&val, a, 16);
            if (!(resp->options & NP_PCP_HAS_FILTER)) {
                resp->filter_prefix_len = plen;
                addr_from_wire(&resp->filter_peer, a, port);
            }
            resp->options |= NP_PCP_HAS_FILTER;
            break;
        }
        default:
            if (resp->n_unknown_options < NP_PCP_MAX_UNKNOWN_OPTS)
                resp->unknown_options[resp->n_unknown_options++] = code;
            break;
        }
    }
    return NP_OK;
}

int np_pcp_decode_response(const uint8_t *buf, size_t len,
                           np_pcp_response *resp, np_error *err)
{
    np__rd r;
    uint8_t op, reserved;

    if (resp == NULL || (buf == NULL && len > 0))
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_pcp_decode_response: NULL argument");
    memset(resp, 0, sizeof(*resp));
    np__rd_init(&r, buf, len);
    if (np__rd_u8(&r, &resp->version) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, 0, "empty datagram: no PCP version");
    if (resp->version == 0)
        return decode_natpmp_reply(&r, resp, err);
    if (len < NP_PCP_HEADER_LEN)
        return np__fail_at(
            err, NP_ETRUNC, len,
            "PCP response header needs %d bytes but the datagram "
            "ends after %zu",
            NP_PCP_HEADER_LEN, len);
    if (len > NP_PCP_MAX_MSG)
        return np__fail_at(err, NP_EPARSE, NP_PCP_MAX_MSG,
                           "PCP message is %zu bytes; at most %d are allowed "
                           "(RFC 6887 7)",
                           len, NP_PCP_MAX_MSG);
    if (len % 4 != 0)
        return np__fail_at(err, NP_EPARSE, len - len % 4,
                           "PCP message is %zu bytes, not a multiple of 4",
                           len);
    (void)np__rd_u8(&r, &op);
    if (!(op & R_BIT))
        return np__fail_at(
            err, NP_EPARSE, 1,
            "opcode byte 0x%02x has the R bit clear: a request, not "
            "a response",
            (unsigned)op);
    resp->opcode = (uint8_t)(op & 0x7Fu);
    (void)np__rd_u8(&r, &reserved);
    (void)np__rd_u8(&r, &resp->result);
    (void)np__rd_u32(&r, &resp->lifetime);
    (void)np__rd_u32(&r, &resp->epoch);
    (void)np__rd_bytes(&r, NULL, 12);
    if (resp->version != NP_PCP_VERSION)
        return NP_OK; /* another version: only the header is meaningful */
    if (resp->opcode == NP_PCP_OP_MAP || resp->opcode == NP_PCP_OP_PEER) {
        int rc = decode_map_data(&r, resp, err);
        if (rc != NP_OK)
            return rc;
    } else if (resp->opcode != NP_PCP_OP_ANNOUNCE) {
        return NP_OK; /* unknown opcode: its data cannot be told from
                         options */
    }
    return decode_options(&r, resp, err);
}

static int is_all_zeros_addr(const uint8_t a[16])
{
    static const uint8_t zero[16] = {0};
    static const uint8_t zero4[16] = {0, 0, 0,    0,    0, 0, 0, 0,
                                      0, 0, 0xFF, 0xFF, 0, 0, 0, 0};

    return memcmp(a, zero, 16) == 0 || memcmp(a, zero4, 16) == 0;
}

int np_pcp_decode_request(const uint8_t *buf, size_t len, np_pcp_request *req,
                          np_error *err)
{
    np__rd r;
    uint8_t op = 0, b = 0;
    uint8_t a[16];
    np_pcp_response opts;
    int rc;

    if (req == NULL || (buf == NULL && len > 0))
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_pcp_decode_request: NULL argument");
    memset(req, 0, sizeof(*req));
    np__rd_init(&r, buf, len);
    if (np__rd_u8(&r, &req->version) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, 0, "empty datagram: no PCP version");
    if (req->version != NP_PCP_VERSION) {
        if (np__rd_u8(&r, &op) == NP_OK)
            req->opcode = (uint8_t)(op & 0x7Fu);
        return NP_OK;
    }
    if (len < NP_PCP_HEADER_LEN)
        return np__fail_at(err, NP_ETRUNC, len,
                           "PCP request header needs %d bytes but the datagram "
                           "ends after %zu",
                           NP_PCP_HEADER_LEN, len);
    if (len > NP_PCP_MAX_MSG)
        return np__fail_at(err, NP_EPARSE, NP_PCP_MAX_MSG,
                           "PCP message is %zu bytes; at most %d are allowed "
                           "(RFC 6887 7)",
                           len, NP_PCP_MAX_MSG);
    if (len % 4 != 0)
        return np__fail_at(err, NP_EPARSE, len - len % 4,
                           "PCP message is %zu bytes, not a multiple of 4",
                           len);
    (void)np__rd_u8(&r, &op);
    if (op & R_BIT)
        return np__fail_at(
            err, NP_EPARSE, 1,
            "opcode byte 0x%02x has the R bit set: a response, not a "
            "request",
            (unsigned)op);
    req->opcode = op;
    (void)np__rd_bytes(&r, NULL, 2);
    (void)np__rd_u32(&r, &req->map.lifetime);
    (void)np__rd_bytes(&r, a, 16);
    addr_from_wire(&req->map.client, a, 0);
    if (op == NP_PCP_OP_MAP) {
        uint16_t ext_port = 0;
        if (np__rd_left(&r) < NP_PCP_MAP_LEN)
            return np__fail_at(
                err, NP_ETRUNC, r.pos,
                "MAP request data at byte %zu needs %d bytes but "
                "%zu remain",
                r.pos, NP_PCP_MAP_LEN, np__rd_left(&r));
        (void)np__rd_bytes(&r, req->map.nonce, NP_PCP_NONCE_LEN);
        (void)np__rd_u8(&r, &b);
        req->map.protocol = b;
        (void)np__rd_bytes(&r, NULL, 3);
        (void)np__rd_u16(&r, &req->map.internal_port);
        (void)np__rd_u16(&r, &ext_port);
        req->map.suggested_external_port = ext_port;
        (void)np__rd_bytes(&r, a, 16);
        if (!is_all_zeros_addr(a))
            addr_from_wire(&req->map.suggested_external, a, ext_port);
        req->has_map = 1;
    } else if (op != NP_PCP_OP_ANNOUNCE) {
        return NP_OK; /* PEER or unknown: the server answers by opcode */
    }
    memset(&opts, 0, sizeof(opts));
    rc = decode_options(&r, &opts, err);
    if (rc != NP_OK)
        return rc;
    req->options = opts.options;
    if (opts.options & NP_PCP_HAS_THIRD_PARTY)
        req->map.third_party = opts.third_party;
    req->map.prefer_failure = (opts.options & NP_PCP_HAS_PREFER_FAILURE) != 0;
    memcpy(req->unknown_options, opts.unknown_options,
           sizeof(req->unknown_options));
    req->n_unknown_options = opts.n_unknown_options;
    return NP_OK;
}

int np_pcp_encode_response(uint8_t *buf, size_t cap,
                           const np_pcp_response *resp, size_t *len,
                           np_error *err)
{
    np__wr w;
    uint8_t a[16];

    if (len != NULL)
        *len = 0;
    if (buf == NULL || resp == NULL || len == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_pcp_encode_response: NULL argument");
    np__wr_init(&w, buf, cap);
    if (resp->natpmp_reply) {
        np__wr_u8(&w, 0);
        np__wr_u8(&w, (uint8_t)(R_BIT | resp->opcode));
        np__wr_u16(&w, resp->natpmp_result);
        np__wr_u32(&w, resp->epoch);
    } else {
        np__wr_u8(&w, resp->version);
        np__wr_u8(&w, (uint8_t)(R_BIT | (resp->opcode & 0x7Fu)));
        np__wr_u8(&w, 0);
        np__wr_u8(&w, resp->result);
        np__wr_u32(&w, resp->lifetime);
        np__wr_u32(&w, resp->epoch);
        np__wr_fill(&w, 0, 12);
        if (resp->has_map) {
            np__wr_bytes(&w, resp->nonce, NP_PCP_NONCE_LEN);
            np__wr_u8(&w, resp->protocol);
            np__wr_fill(&w, 0, 3);
            np__wr_u16(&w, resp->internal_port);
            np__wr_u16(&w, resp->external_port);
            addr_to_wire(&resp->external, a);
            np__wr_bytes(&w, a, 16);
            if (resp->opcode == NP_PCP_OP_PEER)
                np__wr_fill(&w, 0, NP_PCP_PEER_LEN - NP_PCP_MAP_LEN);
        }
        if (resp->options & NP_PCP_HAS_THIRD_PARTY) {
            addr_to_wire(&resp->third_party, a);
            put_option(&w, NP_PCP_OPT_THIRD_PARTY, a, 16);
        }
        if (resp->options & NP_PCP_HAS_PREFER_FAILURE)
            put_option(&w, NP_PCP_OPT_PREFER_FAILURE, NULL, 0);
    }
    if (np__wr_status(&w) != NP_OK)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "buffer of %zu bytes too small for a PCP "
                            "response",
                            cap);
    *len = w.pos;
    return NP_OK;
}

/* ------------------------------------------------------------------------ */
/* Matching and epochs                                                      */

int np_pcp_response_matches(const np_pcp_response *resp,
                            const np_pcp_map_request *req)
{
    if (resp == NULL || req == NULL || resp->natpmp_reply || !resp->has_map)
        return 0;
    if (resp->version != NP_PCP_VERSION || resp->opcode != NP_PCP_OP_MAP)
        return 0;
    if (memcmp(resp->nonce, req->nonce, NP_PCP_NONCE_LEN) != 0 ||
        resp->protocol != req->protocol ||
        resp->internal_port != req->internal_port)
        return 0;
    if (np_addr_is_set(&req->third_party) &&
        (!(resp->options & NP_PCP_HAS_THIRD_PARTY) ||
         !np_addr_same_ip(&resp->third_party, &req->third_party)))
        return 0;
    return 1;
}

int np_pcp_epoch_lost_state(np_pcp_epoch *e, uint32_t server_epoch,
                            uint64_t client_now_s)
{
    int lost = 0;

    if (e == NULL)
        return 0;
    if (e->seen) {
        int64_t server_delta = (int64_t)server_epoch - (int64_t)e->server_time;
        int64_t client_delta = (int64_t)client_now_s - (int64_t)e->client_time;

        /* Going back by more than one second: obviously invalid. */
        if (server_delta < -1) {
            lost = 1;
        } else if (client_delta + 2 < server_delta - server_delta / 16 ||
                   server_delta + 2 < client_delta - client_delta / 16) {
            lost = 1;
        }
    }
    e->seen = 1;
    e->server_time = server_epoch;
    e->client_time = client_now_s;
    return lost;
}
