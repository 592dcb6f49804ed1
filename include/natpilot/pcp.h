/*
 * natpilot: Port Control Protocol wire codec (RFC 6887). Pure: no sockets,
 * no clock, no allocation. The portmap backend does the I/O and policy.
 *
 * Every PCP message starts with a 24-byte common header (RFC 6887 7.1
 * request, 7.2 response), then opcode-specific data (MAP: 36 bytes, 11.1),
 * then options (7.3). All messages are 24..1100 bytes and a multiple of 4.
 *
 * Request header (RFC 6887 section 7.1):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Version = 2  |R|   Opcode    |         Reserved              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Requested Lifetime (32 bits)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            PCP Client's IP Address (128 bits)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Response header (RFC 6887 section 7.2):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Version = 2  |R|   Opcode    |   Reserved    |  Result Code  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      Lifetime (32 bits)                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Epoch Time (32 bits)                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                      Reserved (96 bits)                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * MAP opcode data, request and response (RFC 6887 section 11.1):
 *
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Mapping Nonce (96 bits)                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |   Protocol    |          Reserved (24 bits)                   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |        Internal Port          |    Suggested/Assigned         |
 *   |                               |    External Port              |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Suggested/Assigned External IP Address (128 bits)         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Option (RFC 6887 section 7.3): code (8), reserved (8), length (16), data
 * padded to a multiple of 4.
 *
 * IPv4 addresses travel as IPv4-mapped IPv6 addresses (::ffff:a.b.c.d,
 * section 5); this API takes and returns plain np_addr values (AF_INET for
 * IPv4) and converts at the wire.
 */
#ifndef NATPILOT_PCP_H
#define NATPILOT_PCP_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_PCP_VERSION     2
#define NP_PCP_SERVER_PORT 5351 /* requests go here (section 19.1) */
#define NP_PCP_CLIENT_PORT 5350 /* ANNOUNCE multicast goes here */
#define NP_PCP_MAX_MSG     1100 /* section 7 */
#define NP_PCP_HEADER_LEN  24
#define NP_PCP_MAP_LEN     36 /* MAP opcode data */
#define NP_PCP_PEER_LEN    56 /* PEER opcode data */
#define NP_PCP_NONCE_LEN   12

/* Opcodes (section 19.2); the R bit (0x80) marks a response. */
enum np_pcp_opcode {
    NP_PCP_OP_ANNOUNCE = 0,
    NP_PCP_OP_MAP = 1,
    NP_PCP_OP_PEER = 2
};

/* Options (section 19.4). Codes 0..127 must be understood by the peer. */
enum np_pcp_option {
    NP_PCP_OPT_THIRD_PARTY = 1,    /* 13.1: map for another internal host */
    NP_PCP_OPT_PREFER_FAILURE = 2, /* 13.2: exactly the suggested port */
    NP_PCP_OPT_FILTER = 3          /* 13.3: restrict remote peers */
};

/* Result codes (section 7.4). */
enum np_pcp_result {
    NP_PCP_SUCCESS = 0,
    NP_PCP_UNSUPP_VERSION = 1,
    NP_PCP_NOT_AUTHORIZED = 2,
    NP_PCP_MALFORMED_REQUEST = 3,
    NP_PCP_UNSUPP_OPCODE = 4,
    NP_PCP_UNSUPP_OPTION = 5,
    NP_PCP_MALFORMED_OPTION = 6,
    NP_PCP_NETWORK_FAILURE = 7,
    NP_PCP_NO_RESOURCES = 8,
    NP_PCP_UNSUPP_PROTOCOL = 9,
    NP_PCP_USER_EX_QUOTA = 10,
    NP_PCP_CANNOT_PROVIDE_EXTERNAL = 11,
    NP_PCP_ADDRESS_MISMATCH = 12,
    NP_PCP_EXCESSIVE_REMOTE_PEERS = 13
};

/* IANA protocol numbers for the MAP Protocol field (0 = all protocols). */
#define NP_PCP_PROTO_ALL 0
#define NP_PCP_PROTO_TCP 6
#define NP_PCP_PROTO_UDP 17

/*
 * "NOT_AUTHORIZED"; "UNKNOWN" for codes outside 0..13. Never NULL, static.
 */
const char *np_pcp_result_name(int result);

/*
 * One plain sentence for a player, e.g. NOT_AUTHORIZED: "the router's policy
 * refuses this mapping". Never NULL, static.
 */
const char *np_pcp_result_message(int result);

/*
 * 1 for the short-lifetime errors of section 7.4 (NETWORK_FAILURE,
 * NO_RESOURCES, USER_EX_QUOTA, CANNOT_PROVIDE_EXTERNAL ...: try again later),
 * 0 for long-lifetime ones (policy or protocol: do not retry as is) and for
 * SUCCESS.
 */
int np_pcp_result_is_transient(int result);

/* A MAP request (section 11.1), as the caller fills it. */
typedef struct np_pcp_map_request {
    uint8_t nonce[NP_PCP_NONCE_LEN];  /* random, kept for renewals (11.2) */
    uint8_t protocol;                 /* NP_PCP_PROTO_* */
    uint16_t internal_port;           /* 0 only with protocol 0 (all ports) */
    uint16_t suggested_external_port; /* 0: no preference */
    uint32_t lifetime;                /* seconds; 0 deletes the mapping */
    /*
     * The PCP client's own address, the source address of the datagram
     * (section 8.1); required. Its port is ignored.
     */
    np_addr client;
    /*
     * Suggested external address; unset means "no preference", sent as the
     * all-zeros address of the client's family (::ffff:0.0.0.0 for IPv4).
     * Its port is ignored (suggested_external_port counts).
     */
    np_addr suggested_external;
    /* Set: THIRD_PARTY option with this internal address (13.1). */
    np_addr third_party;
    int prefer_failure; /* non-zero: PREFER_FAILURE option (13.2) */
} np_pcp_map_request;

/*
 * Encode a MAP request into buf. NP_OK and the length (60 + options) in
 * *len; NP_EINVAL if client is unset, an address family is mixed in a way
 * PCP cannot carry, or internal_port is 0 with a protocol other than 0;
 * NP_EBUFSIZE if cap is too small (NP_PCP_MAX_MSG is always enough).
 */
int np_pcp_encode_map(uint8_t *buf, size_t cap, const np_pcp_map_request *req,
                      size_t *len, np_error *err);

/*
 * Encode an ANNOUNCE request (section 14.1, lifetime 0, no opcode data),
 * which a client may use to discover whether a PCP server is present: the
 * server answers with a SUCCESS (or an error that still proves it speaks
 * PCP). NP_OK and 24 in *len.
 */
int np_pcp_encode_announce(uint8_t *buf, size_t cap, const np_addr *client,
                           size_t *len, np_error *err);

/* Bits of np_pcp_response.options. */
#define NP_PCP_HAS_THIRD_PARTY    (1u << 0)
#define NP_PCP_HAS_PREFER_FAILURE (1u << 1)
#define NP_PCP_HAS_FILTER         (1u << 2)

#define NP_PCP_MAX_UNKNOWN_OPTS 8

/*
 * A decoded response. Plain value; owns nothing.
 *
 * A NAT-PMP-only server (RFC 6886) answers a PCP request with a NAT-PMP
 * packet (version 0, 8 bytes at least, opcode 0 or 128) carrying its own
 * "Unsupported Version" result (RFC 6887 section 9, RFC 6886 3.5 and erratum
 * 3618). Such a reply decodes with natpmp_reply = 1, version = 0, result =
 * NP_PCP_UNSUPP_VERSION, natpmp_result = its raw 16-bit code and epoch =
 * its epoch: the caller should fall back to NAT-PMP.
 *
 * A PCP server of another version (1: the pre-RFC drafts, or > 2) answers
 * UNSUPP_VERSION with its own version in the header; the header fields are
 * decoded and has_map stays 0.
 */
typedef struct np_pcp_response {
    uint8_t version;        /* 2, or what the server speaks */
    int natpmp_reply;       /* 1: the answer was a NAT-PMP (version 0) packet */
    uint16_t natpmp_result; /* raw NAT-PMP result code when natpmp_reply */
    uint8_t opcode;         /* without the R bit: enum np_pcp_opcode */
    uint8_t result;         /* enum np_pcp_result */
    uint32_t lifetime; /* granted lifetime (success) or retry hint (error) */
    uint32_t epoch;    /* server's Epoch Time (section 8.5) */
    /* MAP (and PEER) opcode data; has_map = 0 when the response has none
     * (allowed for some errors, e.g. from a server of another version). */
    int has_map;
    uint8_t nonce[NP_PCP_NONCE_LEN];
    uint8_t protocol;
    uint16_t internal_port;
    uint16_t external_port; /* assigned external port */
    np_addr external;       /* assigned external address, port included */
    /* Options present in the response (NP_PCP_HAS_* bits). */
    uint32_t options;
    np_addr third_party; /* THIRD_PARTY's internal address */
    /* FILTER (13.3): prefix length and the remote peer (port included). */
    uint8_t filter_prefix_len;
    np_addr filter_peer;
    /* Option codes not understood (either range). */
    uint8_t unknown_options[NP_PCP_MAX_UNKNOWN_OPTS];
    uint32_t n_unknown_options;
} np_pcp_response;

/*
 * Decode a datagram from a PCP server. On failure NP_ETRUNC or NP_EPARSE
 * with err->where = "byte N" and err->msg naming the field: shorter than
 * the header, longer than 1100 bytes, not a multiple of 4, R bit clear (a
 * request, not a response), MAP data cut short on a SUCCESS, a bad option
 * length. A non-zero result code is NOT a failure: it is in resp->result.
 * resp is fully overwritten.
 */
int np_pcp_decode_response(const uint8_t *buf, size_t len,
                           np_pcp_response *resp, np_error *err);

/*
 * Encode a response (for tests, fuzzing and the lab's fake servers). Uses
 * version, opcode, result, lifetime, epoch, and when has_map the MAP fields
 * and NP_PCP_HAS_THIRD_PARTY / NP_PCP_HAS_PREFER_FAILURE options; a
 * natpmp_reply is encoded as the 8-byte NAT-PMP Unsupported Version answer.
 */
int np_pcp_encode_response(uint8_t *buf, size_t cap,
                           const np_pcp_response *resp, size_t *len,
                           np_error *err);

/* A decoded request, for the lab's fake servers and for fuzzing. */
typedef struct np_pcp_request {
    uint8_t version; /* as sent; the other fields are only set for 2 */
    uint8_t opcode;  /* enum np_pcp_opcode */
    /*
     * The header's lifetime and client address are copied into map.lifetime
     * and map.client for every opcode. For MAP (has_map) the rest of map is
     * filled; an all-zeros suggested external address leaves
     * map.suggested_external unset. THIRD_PARTY and PREFER_FAILURE set
     * map.third_party and map.prefer_failure.
     */
    int has_map;
    np_pcp_map_request map;
    uint32_t options; /* NP_PCP_HAS_* bits seen */
    uint8_t unknown_options[NP_PCP_MAX_UNKNOWN_OPTS];
    uint32_t n_unknown_options;
} np_pcp_request;

/*
 * Decode a PCP request. A version other than 2 decodes with only version
 * (and opcode when present) set, so that a server can answer
 * UNSUPP_VERSION; a version-0 datagram is a NAT-PMP request. Otherwise the
 * same length and layout rules as np_pcp_decode_response, with the R bit
 * clear. req is fully overwritten.
 */
int np_pcp_decode_request(const uint8_t *buf, size_t len, np_pcp_request *req,
                          np_error *err);

/*
 * Does this response answer this MAP request? 1 when it is a PCP (not
 * NAT-PMP) MAP response with MAP data whose nonce, protocol and internal
 * port equal the request's (section 11.3: anything else is discarded), and,
 * when the request carried THIRD_PARTY, the same THIRD_PARTY address;
 * otherwise 0. For error responses without MAP data it returns 0: match
 * those on opcode alone if at all.
 */
int np_pcp_response_matches(const np_pcp_response *resp,
                            const np_pcp_map_request *req);

/*
 * The client's view of a server's epoch (section 8.5), one per server.
 * Start zeroed.
 */
typedef struct np_pcp_epoch {
    int seen;             /* 0 until the first response */
    uint32_t server_time; /* prev_server_time */
    uint64_t client_time; /* prev_client_time, seconds, caller's clock */
} np_pcp_epoch;

/*
 * Section 8.5 epoch validation. Feed every response's epoch with the
 * caller's monotonic time in seconds. Returns 1 when the server has lost
 * its state (rebooted, or its epoch jumped: the client must re-create all
 * its mappings at once), 0 when the epoch is consistent (or this is the
 * first response). Updates *e either way.
 */
int np_pcp_epoch_lost_state(np_pcp_epoch *e, uint32_t server_epoch,
                            uint64_t client_now_s);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_PCP_H */
