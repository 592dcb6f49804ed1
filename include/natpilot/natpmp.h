/*
 * natpilot: NAT-PMP wire codec (RFC 6886). Pure: no sockets, no clock.
 * The portmap backend (portmap_natpmp.c) encodes every request and decodes
 * every answer with it; libnatpmp is not used, since its
 * readnatpmpresponse() does not check the length of what it received (a
 * 2-byte answer read as 0.0.0.0). Also serves fuzzing, tests and the lab's
 * scripted gateways. All integers are big-endian; IPv4 only.
 *
 * External address request (RFC 6886 section 3.2), 2 bytes:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = 0        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * External address response, 12 bytes:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = 128 + 0  | Result Code (net byte order)  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Seconds Since Start of Epoch (in network byte order)          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | External IPv4 Address (a.b.c.d)                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Map request (section 3.3), 12 bytes; OP = 1 for UDP, 2 for TCP:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = x        | Reserved                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Internal Port                 | Suggested External Port       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Requested Port Mapping Lifetime in Seconds                    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Map response, 16 bytes:
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Vers = 0      | OP = 128 + x  | Result Code                   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Seconds Since Start of Epoch                                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Internal Port                 | Mapped External Port          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | Port Mapping Lifetime in Seconds                              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * A lifetime of 0 (with suggested external port 0) deletes a mapping
 * (section 3.4).
 */
#ifndef NATPILOT_NATPMP_H
#define NATPILOT_NATPMP_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_NATPMP_VERSION          0
#define NP_NATPMP_SERVER_PORT      5351
#define NP_NATPMP_PUBLIC_REQ_LEN   2
#define NP_NATPMP_PUBLIC_RESP_LEN  12
#define NP_NATPMP_MAP_REQ_LEN      12
#define NP_NATPMP_MAP_RESP_LEN     16
#define NP_NATPMP_RESPONSE_BIT     0x80u
#define NP_NATPMP_RECOMMENDED_LIFE 7200 /* seconds (section 3.3) */

enum np_natpmp_opcode {
    NP_NATPMP_OP_PUBLIC_ADDRESS = 0,
    NP_NATPMP_OP_MAP_UDP = 1,
    NP_NATPMP_OP_MAP_TCP = 2
};

/* Result codes (section 3.5). */
enum np_natpmp_result {
    NP_NATPMP_SUCCESS = 0,
    NP_NATPMP_UNSUPP_VERSION = 1,
    NP_NATPMP_NOT_AUTHORIZED = 2, /* "Not Authorized/Refused" */
    NP_NATPMP_NETWORK_FAILURE = 3,
    NP_NATPMP_NO_RESOURCES = 4,
    NP_NATPMP_UNSUPP_OPCODE = 5
};

/* "NOT_AUTHORIZED"; "UNKNOWN" otherwise. Never NULL, static. */
const char *np_natpmp_result_name(int result);
/* One plain sentence for a player. Never NULL, static. */
const char *np_natpmp_result_message(int result);

/* The 2-byte external address request. NP_OK and 2 in *len. */
int np_natpmp_encode_public_address(uint8_t *buf, size_t cap, size_t *len,
                                    np_error *err);

typedef struct np_natpmp_map_request {
    uint8_t opcode; /* NP_NATPMP_OP_MAP_UDP or NP_NATPMP_OP_MAP_TCP */
    uint16_t internal_port;
    uint16_t suggested_external_port; /* 0: no preference */
    uint32_t lifetime;                /* seconds; 0 deletes */
} np_natpmp_map_request;

/* A 12-byte map request. NP_EINVAL for another opcode or internal port 0
 * with a non-zero lifetime; NP_EBUFSIZE when cap < 12. */
int np_natpmp_encode_map(uint8_t *buf, size_t cap,
                         const np_natpmp_map_request *req, size_t *len,
                         np_error *err);

/* A decoded response. Plain value; owns nothing. */
typedef struct np_natpmp_response {
    uint8_t version; /* always 0 after a successful decode */
    uint8_t opcode;  /* without the response bit: enum np_natpmp_opcode */
    uint16_t result; /* enum np_natpmp_result (or an unknown code) */
    uint32_t epoch;  /* seconds since the gateway's port-mapping table began */
    /* Opcode 0: */
    int has_address;
    np_addr external; /* AF_INET, port 0 */
    /* Opcodes 1, 2: */
    int has_map;
    uint16_t internal_port;
    uint16_t external_port; /* may differ from the suggested one: report */
    uint32_t lifetime;
} np_natpmp_response;

/*
 * Decode a datagram from a NAT-PMP gateway. NP_ETRUNC / NP_EPARSE with
 * err->where = "byte N": fewer than 8 bytes, version not 0 (byte 0; a PCP
 * server answers with version 2), response bit clear (byte 1), a successful
 * response shorter than its opcode's size. An error response (result != 0)
 * may stop after the epoch; a non-zero result is NOT a decode failure.
 * Opcodes other than 0..2 (e.g. UNSUPP_OPCODE answers) decode with only the
 * common fields. resp is fully overwritten.
 */
int np_natpmp_decode_response(const uint8_t *buf, size_t len,
                              np_natpmp_response *resp, np_error *err);

/*
 * Decode a request (for the lab's fake gateways and fuzzing): opcode 0 (2
 * bytes, the other fields zero) or a 12-byte map request. NP_ETRUNC /
 * NP_EPARSE with "byte N" for a short datagram, a version other than 0, the
 * response bit set, or an unknown opcode (reported as NP_EUNSUPP at byte 1,
 * with req->opcode set, so that a server can answer UNSUPP_OPCODE).
 */
int np_natpmp_decode_request(const uint8_t *buf, size_t len,
                             np_natpmp_map_request *req, np_error *err);

/* Encode a response (tests, fuzzing, the lab's fake gateways): 8 bytes for
 * unknown opcodes, else 12 or 16 from the fields. */
int np_natpmp_encode_response(uint8_t *buf, size_t cap,
                              const np_natpmp_response *resp, size_t *len,
                              np_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_NATPMP_H */
