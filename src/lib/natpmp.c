/*
 * natpilot: NAT-PMP wire codec (RFC 6886). See include/natpilot/natpmp.h for
 * the packet diagrams.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "natpilot/natpmp.h"
#include "np_cursor.h"

/* Section 3.5. */
static const struct {
    const char *name;
    const char *message;
} results[] = {
    [NP_NATPMP_SUCCESS] = {"SUCCESS", "the gateway granted the request"},
    [NP_NATPMP_UNSUPP_VERSION] = {"UNSUPP_VERSION",
                                  "the gateway does not speak this NAT-PMP "
                                  "version"},
    [NP_NATPMP_NOT_AUTHORIZED] = {"NOT_AUTHORIZED",
                                  "the gateway supports NAT-PMP but refuses "
                                  "this mapping (switched off, or the port "
                                  "is outside what its policy allows)"},
    [NP_NATPMP_NETWORK_FAILURE] = {"NETWORK_FAILURE",
                                   "the gateway has no working external "
                                   "connection (no external address yet)"},
    [NP_NATPMP_NO_RESOURCES] = {"NO_RESOURCES",
                                "the gateway cannot create more mappings "
                                "right now"},
    [NP_NATPMP_UNSUPP_OPCODE] = {"UNSUPP_OPCODE",
                                 "the gateway does not support this request"},
};

#define N_RESULTS (sizeof(results) / sizeof(results[0]))

const char *np_natpmp_result_name(int result)
{
    if (result < 0 || (size_t)result >= N_RESULTS)
        return "UNKNOWN";
    return results[result].name;
}

const char *np_natpmp_result_message(int result)
{
    if (result < 0 || (size_t)result >= N_RESULTS)
        return "the gateway answered with a result code NAT-PMP does not "
               "define";
    return results[result].message;
}

int np_natpmp_encode_public_address(uint8_t *buf, size_t cap, size_t *len,
                                    np_error *err)
{
    if (len != NULL)
        *len = 0;
    if (buf == NULL || len == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_natpmp_encode_public_address: NULL argument");
    if (cap < NP_NATPMP_PUBLIC_REQ_LEN)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "buffer of %zu bytes too small for a NAT-PMP "
                            "request",
                            cap);
    buf[0] = NP_NATPMP_VERSION;
    buf[1] = NP_NATPMP_OP_PUBLIC_ADDRESS;
    *len = NP_NATPMP_PUBLIC_REQ_LEN;
    return NP_OK;
}

int np_natpmp_encode_map(uint8_t *buf, size_t cap,
                         const np_natpmp_map_request *req, size_t *len,
                         np_error *err)
{
    np__wr w;

    if (len != NULL)
        *len = 0;
    if (buf == NULL || req == NULL || len == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_natpmp_encode_map: NULL argument");
    if (req->opcode != NP_NATPMP_OP_MAP_UDP &&
        req->opcode != NP_NATPMP_OP_MAP_TCP)
        return np_error_set(err, NP_EINVAL, NULL,
                            "NAT-PMP map opcode must be 1 (UDP) or 2 (TCP), "
                            "not %u",
                            (unsigned)req->opcode);
    if (req->internal_port == 0 && req->lifetime != 0)
        return np_error_set(err, NP_EINVAL, NULL,
                            "internal port 0 only deletes all mappings "
                            "(lifetime 0, RFC 6886 3.4)");
    np__wr_init(&w, buf, cap);
    np__wr_u8(&w, NP_NATPMP_VERSION);
    np__wr_u8(&w, req->opcode);
    np__wr_u16(&w, 0);
    np__wr_u16(&w, req->internal_port);
    np__wr_u16(&w, req->suggested_external_port);
    np__wr_u32(&w, req->lifetime);
    if (np__wr_status(&w) != NP_OK)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "buffer of %zu bytes too small for a NAT-PMP "
                            "map request",
                            cap);
    *len = w.pos;
    return NP_OK;
}

int np_natpmp_decode_response(const uint8_t *buf, size_t len,
                              np_natpmp_response *resp, np_error *err)
{
    np__rd r;
    uint8_t op;
    size_t need;

    if (resp == NULL || (buf == NULL && len > 0))
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_natpmp_decode_response: NULL argument");
    memset(resp, 0, sizeof(*resp));
    np__rd_init(&r, buf, len);
    if (np__rd_u8(&r, &resp->version) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, 0,
                           "empty datagram: no NAT-PMP version");
    if (resp->version != NP_NATPMP_VERSION)
        return np__fail_at(err, NP_EPARSE, 0, "version %u is not NAT-PMP (0)%s",
                           (unsigned)resp->version,
                           resp->version == 2 ? ": a PCP server answered" : "");
    if (np__rd_u8(&r, &op) != NP_OK || np__rd_u16(&r, &resp->result) != NP_OK ||
        np__rd_u32(&r, &resp->epoch) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, len,
                           "NAT-PMP response needs at least 8 bytes but the "
                           "datagram ends after %zu",
                           len);
    if (!(op & NP_NATPMP_RESPONSE_BIT))
        return np__fail_at(
            err, NP_EPARSE, 1,
            "opcode %u has the response bit clear: a request, not a "
            "response",
            (unsigned)op);
    resp->opcode = (uint8_t)(op & 0x7Fu);
    switch (resp->opcode) {
    case NP_NATPMP_OP_PUBLIC_ADDRESS:
        need = NP_NATPMP_PUBLIC_RESP_LEN;
        break;
    case NP_NATPMP_OP_MAP_UDP:
    case NP_NATPMP_OP_MAP_TCP:
        need = NP_NATPMP_MAP_RESP_LEN;
        break;
    default:
        return NP_OK; /* only the common fields exist */
    }
    if (len < need) {
        /* Error responses may stop after the epoch (section 3.5 leaves the
         * rest undefined); a success must be whole. */
        if (resp->result != NP_NATPMP_SUCCESS)
            return NP_OK;
        return np__fail_at(
            err, NP_ETRUNC, len,
            "NAT-PMP %s response needs %zu bytes but the datagram "
            "ends after %zu",
            resp->opcode == 0 ? "external address" : "map", need, len);
    }
    if (resp->opcode == NP_NATPMP_OP_PUBLIC_ADDRESS) {
        uint8_t ip[4];
        (void)np__rd_bytes(&r, ip, 4);
        np_addr_from_ipv4(&resp->external, ip, 0);
        resp->has_address = 1;
    } else {
        (void)np__rd_u16(&r, &resp->internal_port);
        (void)np__rd_u16(&r, &resp->external_port);
        (void)np__rd_u32(&r, &resp->lifetime);
        resp->has_map = 1;
    }
    return NP_OK;
}

int np_natpmp_decode_request(const uint8_t *buf, size_t len,
                             np_natpmp_map_request *req, np_error *err)
{
    np__rd r;
    uint8_t version, op;
    uint16_t reserved;

    if (req == NULL || (buf == NULL && len > 0))
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_natpmp_decode_request: NULL argument");
    memset(req, 0, sizeof(*req));
    np__rd_init(&r, buf, len);
    if (np__rd_u8(&r, &version) != NP_OK || np__rd_u8(&r, &op) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, len,
                           "NAT-PMP request needs at least 2 bytes but the "
                           "datagram ends after %zu",
                           len);
    if (version != NP_NATPMP_VERSION)
        return np__fail_at(err, NP_EPARSE, 0, "version %u is not NAT-PMP (0)",
                           (unsigned)version);
    if (op & NP_NATPMP_RESPONSE_BIT)
        return np__fail_at(
            err, NP_EPARSE, 1,
            "opcode %u has the response bit set: a response, not a "
            "request",
            (unsigned)op);
    req->opcode = op;
    if (op == NP_NATPMP_OP_PUBLIC_ADDRESS)
        return NP_OK;
    if (op != NP_NATPMP_OP_MAP_UDP && op != NP_NATPMP_OP_MAP_TCP)
        return np__fail_at(err, NP_EUNSUPP, 1,
                           "NAT-PMP opcode %u is not defined", (unsigned)op);
    if (np__rd_u16(&r, &reserved) != NP_OK ||
        np__rd_u16(&r, &req->internal_port) != NP_OK ||
        np__rd_u16(&r, &req->suggested_external_port) != NP_OK ||
        np__rd_u32(&r, &req->lifetime) != NP_OK)
        return np__fail_at(
            err, NP_ETRUNC, len,
            "NAT-PMP map request needs 12 bytes but the datagram "
            "ends after %zu",
            len);
    return NP_OK;
}

int np_natpmp_encode_response(uint8_t *buf, size_t cap,
                              const np_natpmp_response *resp, size_t *len,
                              np_error *err)
{
    np__wr w;

    if (len != NULL)
        *len = 0;
    if (buf == NULL || resp == NULL || len == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_natpmp_encode_response: NULL argument");
    np__wr_init(&w, buf, cap);
    np__wr_u8(&w, NP_NATPMP_VERSION);
    np__wr_u8(&w, (uint8_t)(NP_NATPMP_RESPONSE_BIT | (resp->opcode & 0x7Fu)));
    np__wr_u16(&w, resp->result);
    np__wr_u32(&w, resp->epoch);
    if (resp->opcode == NP_NATPMP_OP_PUBLIC_ADDRESS) {
        uint8_t ip[4] = {0, 0, 0, 0};
        if (np_addr_family(&resp->external) == AF_INET)
            memcpy(ip,
                   &((const struct sockaddr_in *)&resp->external.ss)->sin_addr,
                   4);
        np__wr_bytes(&w, ip, 4);
    } else if (resp->opcode == NP_NATPMP_OP_MAP_UDP ||
               resp->opcode == NP_NATPMP_OP_MAP_TCP) {
        np__wr_u16(&w, resp->internal_port);
        np__wr_u16(&w, resp->external_port);
        np__wr_u32(&w, resp->lifetime);
    }
    if (np__wr_status(&w) != NP_OK)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "buffer of %zu bytes too small for a NAT-PMP "
                            "response",
                            cap);
    *len = w.pos;
    return NP_OK;
}
