/*
 * natpilot: STUN message codec (RFC 8489, RFC 5389, RFC 5780 attributes).
 *
 * No sockets here. Decoding reads the caller's buffer through a bounds-checked
 * cursor and never keeps a pointer into it: variable-length values (SOFTWARE,
 * USERNAME, REALM, NONCE, the ERROR-CODE reason) come back as offset/length
 * spans into the caller's buffer, valid for as long as that buffer is.
 *
 * Message layout (RFC 8489 section 5):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |0 0|     STUN Message Type     |         Message Length        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                         Magic Cookie                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Transaction ID (96 bits)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * followed by attributes: 16-bit type, 16-bit length, value padded to 4.
 */
#ifndef NATPILOT_STUN_H
#define NATPILOT_STUN_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_STUN_HEADER_LEN   20
#define NP_STUN_MAGIC_COOKIE 0x2112A442u
#define NP_STUN_TXID_LEN     12
#define NP_STUN_DEFAULT_PORT 3478
/* Large enough for every message natpilot builds (RFC 8489 sec. 6.1 MTU). */
#define NP_STUN_MAX_MSG 548

/* Message types: method and class interleaved (RFC 8489 section 5). */
enum np_stun_type {
    NP_STUN_BINDING_REQUEST = 0x0001,
    NP_STUN_BINDING_INDICATION = 0x0011,
    NP_STUN_BINDING_SUCCESS = 0x0101,
    NP_STUN_BINDING_ERROR = 0x0111
};

enum np_stun_attr {
    NP_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    NP_STUN_ATTR_RESPONSE_ADDRESS = 0x0002, /* RFC 3489 only, ignored */
    NP_STUN_ATTR_CHANGE_REQUEST = 0x0003,   /* RFC 5780 7.2 */
    NP_STUN_ATTR_SOURCE_ADDRESS = 0x0004,   /* RFC 3489 11.2.3 */
    NP_STUN_ATTR_CHANGED_ADDRESS = 0x0005,  /* RFC 3489 11.2.3 */
    NP_STUN_ATTR_USERNAME = 0x0006,
    NP_STUN_ATTR_PASSWORD = 0x0007, /* RFC 3489 only, ignored */
    NP_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    NP_STUN_ATTR_ERROR_CODE = 0x0009,
    NP_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    NP_STUN_ATTR_REFLECTED_FROM = 0x000B, /* RFC 3489 only, ignored */
    NP_STUN_ATTR_REALM = 0x0014,
    NP_STUN_ATTR_NONCE = 0x0015,
    NP_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    NP_STUN_ATTR_PRIORITY = 0x0024,               /* RFC 8445, vectors only */
    NP_STUN_ATTR_USE_CANDIDATE = 0x0025,          /* RFC 8445, ignored */
    NP_STUN_ATTR_PADDING = 0x0026,                /* RFC 5780 7.6 */
    NP_STUN_ATTR_RESPONSE_PORT = 0x0027,          /* RFC 5780 7.5 */
    NP_STUN_ATTR_XOR_MAPPED_ADDRESS_OLD = 0x8020, /* pre-RFC 5389 drafts */
    NP_STUN_ATTR_SOFTWARE = 0x8022,
    NP_STUN_ATTR_FINGERPRINT = 0x8028,
    NP_STUN_ATTR_ICE_CONTROLLED = 0x8029,  /* RFC 8445, vectors only */
    NP_STUN_ATTR_ICE_CONTROLLING = 0x802A, /* RFC 8445, ignored */
    NP_STUN_ATTR_RESPONSE_ORIGIN = 0x802B, /* RFC 5780 7.3 */
    NP_STUN_ATTR_OTHER_ADDRESS = 0x802C    /* RFC 5780 7.4 */
};

/* CHANGE-REQUEST flags (RFC 5780 section 7.2). */
#define NP_STUN_CHANGE_IP   0x04u
#define NP_STUN_CHANGE_PORT 0x02u

/* Which attributes np_stun_decode() found (bits of np_stun_msg.present). */
#define NP_STUN_HAS_MAPPED          (1u << 0)
#define NP_STUN_HAS_XOR_MAPPED      (1u << 1)
#define NP_STUN_HAS_OTHER_ADDRESS   (1u << 2)
#define NP_STUN_HAS_RESPONSE_ORIGIN (1u << 3)
#define NP_STUN_HAS_CHANGE_REQUEST  (1u << 4)
#define NP_STUN_HAS_RESPONSE_PORT   (1u << 5)
#define NP_STUN_HAS_ERROR_CODE      (1u << 6)
#define NP_STUN_HAS_SOFTWARE        (1u << 7)
#define NP_STUN_HAS_USERNAME        (1u << 8)
#define NP_STUN_HAS_REALM           (1u << 9)
#define NP_STUN_HAS_NONCE           (1u << 10)
#define NP_STUN_HAS_INTEGRITY       (1u << 11)
#define NP_STUN_HAS_FINGERPRINT     (1u << 12)
#define NP_STUN_HAS_PADDING         (1u << 13)
#define NP_STUN_HAS_CHANGED_ADDRESS (1u << 14) /* RFC 3489 */
#define NP_STUN_HAS_SOURCE_ADDRESS  (1u << 15) /* RFC 3489 */
#define NP_STUN_HAS_UNKNOWN_ATTRS   (1u << 16) /* UNKNOWN-ATTRIBUTES */

/* FINGERPRINT is CRC-32 of the message XOR this (RFC 8489 section 14.7). */
#define NP_STUN_FINGERPRINT_XOR 0x5354554Eu

/* A run of bytes inside the caller's message buffer. */
typedef struct np_stun_span {
    uint32_t off;
    uint32_t len;
} np_stun_span;

#define NP_STUN_MAX_UNKNOWN 8

typedef struct np_stun_msg {
    uint16_t type;   /* enum np_stun_type, or other */
    uint16_t length; /* header length: bytes after header */
    uint8_t txid[NP_STUN_TXID_LEN];
    uint32_t present;          /* NP_STUN_HAS_* bits */
    np_addr mapped;            /* MAPPED-ADDRESS */
    np_addr xor_mapped;        /* XOR-MAPPED-ADDRESS, un-XORed */
    np_addr other_address;     /* OTHER-ADDRESS */
    np_addr response_origin;   /* RESPONSE-ORIGIN */
    uint32_t change_request;   /* NP_STUN_CHANGE_* bits */
    uint16_t response_port;    /* RESPONSE-PORT */
    uint16_t error_code;       /* 300..699 (class*100 + number) */
    np_stun_span error_reason; /* UTF-8 reason phrase */
    np_stun_span software, username, realm, nonce;
    uint32_t integrity_off;   /* offset of MESSAGE-INTEGRITY's attr header */
    uint32_t fingerprint_off; /* offset of FINGERPRINT's attr header */
    /* Comprehension-required attributes (type < 0x8000) not understood. */
    uint16_t unknown[NP_STUN_MAX_UNKNOWN];
    uint32_t n_unknown;
    /*
     * Added after the first API draft (append-only):
     * RFC 3489 servers send CHANGED-ADDRESS (what RFC 5780 calls
     * OTHER-ADDRESS) and SOURCE-ADDRESS (RESPONSE-ORIGIN). The decoder fills
     * these fields only; callers that want the RFC 5780 meaning may fall back
     * to them when OTHER-ADDRESS / RESPONSE-ORIGIN are absent.
     */
    np_addr changed_address; /* CHANGED-ADDRESS (RFC 3489) */
    np_addr source_address;  /* SOURCE-ADDRESS (RFC 3489) */
    /* The peer's UNKNOWN-ATTRIBUTES list (in a 420 error response). */
    uint16_t peer_unknown[NP_STUN_MAX_UNKNOWN];
    uint32_t n_peer_unknown;
} np_stun_msg;

/*
 * Cheap demultiplexing test (RFC 8489 section 6.3): top two bits zero, the
 * magic cookie, a length that is a multiple of 4 and equals len - 20.
 * Returns 1 or 0; never reads past len.
 */
int np_stun_looks_like(const uint8_t *buf, size_t len);

/*
 * For stream transports (STUN over TCP, RFC 8489 section 6.2.2): the total
 * length of the message that starts at buf (20 + its length field), once
 * the first 4 bytes are there; 0 while fewer than 4 bytes are buffered or
 * when the bytes cannot start a STUN message (top bits set, or a length not
 * a multiple of 4). Reads at most 4 bytes.
 */
size_t np_stun_frame_len(const uint8_t *buf, size_t len);

/*
 * Decode and validate the message in buf[0..len). On failure returns
 * NP_ETRUNC (input ends early), NP_EPARSE (bad header, cookie, length,
 * attribute layout or value) or NP_EVERIFY (FINGERPRINT present but wrong),
 * with err->where set to "byte N" (the offset of the offending field) and
 * err->msg naming it. Attributes after MESSAGE-INTEGRITY other than
 * FINGERPRINT are ignored, as RFC 8489 section 14.5 requires. An attribute
 * after FINGERPRINT is an error. msg is fully overwritten.
 */
int np_stun_decode(const uint8_t *buf, size_t len, np_stun_msg *msg,
                   np_error *err);

/*
 * The server's alternate address: OTHER-ADDRESS (RFC 5780 7.4), or, from an
 * RFC 3489 server (e.g. Vovida stund), CHANGED-ADDRESS, which RFC 5780
 * section 7.4 says it replaces with the same meaning. NULL when neither.
 * Points into *m.
 */
const np_addr *np_stun_other_address(const np_stun_msg *m);

/*
 * Where the server says it sent the response from: RESPONSE-ORIGIN (RFC 5780
 * 7.3), or an RFC 3489 server's SOURCE-ADDRESS. NULL when neither. Points
 * into *m.
 */
const np_addr *np_stun_response_origin(const np_stun_msg *m);

/*
 * Check MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 section 14.5) of a message
 * decoded by np_stun_decode() from the same buf/len. key is the short-term
 * password, or the 16-byte long-term key. NP_ENOTFOUND when the message has
 * no MESSAGE-INTEGRITY, NP_EVERIFY when it does not match.
 */
int np_stun_check_integrity(const uint8_t *buf, size_t len,
                            const np_stun_msg *msg, const uint8_t *key,
                            size_t keylen, np_error *err);

/*
 * Long-term credential key: MD5(username ":" realm ":" password)
 * (RFC 5389 section 15.4). Inputs must already be SASLprep'ed; natpilot only
 * uses this with the ASCII credentials of RFC 5769's vectors.
 */
int np_stun_long_term_key(const char *username, const char *realm,
                          const char *password, uint8_t key[16], np_error *err);

/* CRC-32 (ISO 3309 / zlib polynomial) as used by FINGERPRINT before XOR. */
uint32_t np_stun_crc32(const uint8_t *buf, size_t len);

/*
 * Building messages. The builder writes into the caller's buffer; the first
 * write that would pass cap makes np_stun_finish() return NP_EBUFSIZE.
 * pad_byte is the value used to pad attribute values to 4 bytes (0 by
 * default; RFC 5769's vectors pad with 0x20).
 */
typedef struct np_stun_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
    uint8_t pad_byte;
} np_stun_builder;

void np_stun_builder_init(np_stun_builder *b, uint8_t *buf, size_t cap,
                          uint16_t type, const uint8_t txid[NP_STUN_TXID_LEN]);
void np_stun_add_raw(np_stun_builder *b, uint16_t attr, const void *value,
                     size_t len);
void np_stun_add_u32(np_stun_builder *b, uint16_t attr, uint32_t value);
/* MAPPED-ADDRESS-style (also OTHER-ADDRESS, RESPONSE-ORIGIN). */
void np_stun_add_addr(np_stun_builder *b, uint16_t attr, const np_addr *a);
/* XOR-MAPPED-ADDRESS-style, XORed with the cookie and this txid. */
void np_stun_add_xor_addr(np_stun_builder *b, uint16_t attr, const np_addr *a);
void np_stun_add_error(np_stun_builder *b, uint16_t code, const char *reason);
/* MESSAGE-INTEGRITY over everything so far (length field adjusted). */
void np_stun_add_integrity(np_stun_builder *b, const uint8_t *key,
                           size_t keylen);
/* FINGERPRINT over everything so far; must be the last attribute. */
void np_stun_add_fingerprint(np_stun_builder *b);
/* Total length in *len; NP_EBUFSIZE if anything did not fit. */
int np_stun_finish(np_stun_builder *b, size_t *len);

/*
 * A Binding request as natpilot's probes send it: optional CHANGE-REQUEST
 * (flags 0 means none), then FINGERPRINT. Returns NP_OK and its length in
 * *len, or NP_EBUFSIZE.
 */
int np_stun_binding_request(uint8_t *buf, size_t cap,
                            const uint8_t txid[NP_STUN_TXID_LEN],
                            uint32_t change_flags, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_STUN_H */
