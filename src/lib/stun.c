/*
 * natpilot: STUN message codec (see include/natpilot/stun.h).
 *
 * RFC 8489 (and RFC 5389, which it replaces) for the header, the attribute
 * TLVs, MESSAGE-INTEGRITY and FINGERPRINT; RFC 5780 section 7 for
 * CHANGE-REQUEST, RESPONSE-ORIGIN, OTHER-ADDRESS, RESPONSE-PORT and PADDING;
 * RFC 3489 section 11.2 for the MAPPED-ADDRESS-only answers of old servers.
 *
 * All reads go through the bounds-checked np__rd_* cursor; every error names
 * the byte offset of the field that is wrong ("byte N").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "natpilot/stun.h"
#include "np_cursor.h"

#define SHA1_LEN 20
/* RFC 8489 section 14: upper bounds for the text attributes. */
#define MAX_USERNAME 512 /* "MUST contain a UTF-8 ... < 513 bytes" */
#define MAX_TEXT     763 /* REALM, NONCE, SOFTWARE, reason: < 763 bytes */

/* ------------------------------------------------------------------------ */
/* CRC-32 (ISO 3309, reflected polynomial 0xEDB88320), table-driven.        */

/*
 * Four bits at a time: a 16-entry constant table (entry i is i run through
 * four shift-and-xor rounds of the polynomial), small enough to
 * check by hand and fast enough for datagrams. The unit test checks the
 * standard check value CRC-32("123456789") = 0xCBF43926.
 */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t np_stun_crc32(const uint8_t *buf, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;

    for (i = 0; i < len; i++) {
        c ^= buf[i];
        c = (c >> 4) ^ crc_nibble[c & 0x0Fu];
        c = (c >> 4) ^ crc_nibble[c & 0x0Fu];
    }
    return c ^ 0xFFFFFFFFu;
}

/* ------------------------------------------------------------------------ */
/* Demultiplexing                                                           */

int np_stun_looks_like(const uint8_t *buf, size_t len)
{
    uint16_t mlen;

    if (buf == NULL || len < NP_STUN_HEADER_LEN)
        return 0;
    if ((buf[0] & 0xC0) != 0)
        return 0;
    if (np__get_u32(buf + 4) != NP_STUN_MAGIC_COOKIE)
        return 0;
    mlen = np__get_u16(buf + 2);
    return (mlen % 4) == 0 && (size_t)mlen == len - NP_STUN_HEADER_LEN;
}

size_t np_stun_frame_len(const uint8_t *buf, size_t len)
{
    uint16_t mlen;

    if (buf == NULL || len < 4 || (buf[0] & 0xC0) != 0)
        return 0;
    mlen = np__get_u16(buf + 2);
    if (mlen % 4 != 0)
        return 0;
    return (size_t)NP_STUN_HEADER_LEN + mlen;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */

static const char *attr_name(uint16_t type)
{
    switch (type) {
    case NP_STUN_ATTR_MAPPED_ADDRESS:
        return "MAPPED-ADDRESS";
    case NP_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case NP_STUN_ATTR_XOR_MAPPED_ADDRESS_OLD:
        return "XOR-MAPPED-ADDRESS";
    case NP_STUN_ATTR_OTHER_ADDRESS:
        return "OTHER-ADDRESS";
    case NP_STUN_ATTR_RESPONSE_ORIGIN:
        return "RESPONSE-ORIGIN";
    case NP_STUN_ATTR_CHANGED_ADDRESS:
        return "CHANGED-ADDRESS";
    case NP_STUN_ATTR_SOURCE_ADDRESS:
        return "SOURCE-ADDRESS";
    case NP_STUN_ATTR_CHANGE_REQUEST:
        return "CHANGE-REQUEST";
    case NP_STUN_ATTR_RESPONSE_PORT:
        return "RESPONSE-PORT";
    case NP_STUN_ATTR_PADDING:
        return "PADDING";
    case NP_STUN_ATTR_SOFTWARE:
        return "SOFTWARE";
    case NP_STUN_ATTR_USERNAME:
        return "USERNAME";
    case NP_STUN_ATTR_REALM:
        return "REALM";
    case NP_STUN_ATTR_NONCE:
        return "NONCE";
    case NP_STUN_ATTR_ERROR_CODE:
        return "ERROR-CODE";
    case NP_STUN_ATTR_UNKNOWN_ATTRIBUTES:
        return "UNKNOWN-ATTRIBUTES";
    case NP_STUN_ATTR_MESSAGE_INTEGRITY:
        return "MESSAGE-INTEGRITY";
    case NP_STUN_ATTR_FINGERPRINT:
        return "FINGERPRINT";
    case NP_STUN_ATTR_PRIORITY:
        return "PRIORITY";
    case NP_STUN_ATTR_ICE_CONTROLLED:
        return "ICE-CONTROLLED";
    case NP_STUN_ATTR_ICE_CONTROLLING:
        return "ICE-CONTROLLING";
    default:
        return "attribute";
    }
}

/*
 * MAPPED-ADDRESS layout (RFC 8489 section 14.1), shared by OTHER-ADDRESS,
 * RESPONSE-ORIGIN (RFC 5780 7.3, 7.4) and XOR-MAPPED-ADDRESS (14.2, where
 * port and address are XORed with the cookie and, for IPv6, the txid):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |0 0 0 0 0 0 0 0|    Family     |           Port                |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Address (32 bits or 128 bits)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * val is a reader over the value; base is its absolute offset in the
 * message. The reserved first byte is ignored, as RFC 8489 asks.
 */
static int decode_addr(np__rd *val, size_t base, uint16_t type, int xored,
                       const uint8_t txid[NP_STUN_TXID_LEN], np_addr *out,
                       np_error *err)
{
    uint8_t family;
    uint16_t port;
    uint8_t ip[16];
    size_t want, i;
    uint8_t mask[16];

    if (np__rd_bytes(val, NULL, 1) != NP_OK || np__rd_u8(val, &family) != NP_OK)
        return np__fail_at(
            err, NP_EPARSE, base - 4 + 2,
            "%s (0x%04x) at byte %zu is %zu bytes long, too short "
            "for an address",
            attr_name(type), (unsigned)type, base - 4, val->len);
    if (family != 0x01 && family != 0x02)
        return np__fail_at(err, NP_EPARSE, base + 1,
                           "%s (0x%04x) at byte %zu has address family 0x%02x; "
                           "only 0x01 (IPv4) and 0x02 (IPv6) exist",
                           attr_name(type), (unsigned)type, base - 4,
                           (unsigned)family);
    want = family == 0x01 ? 4 : 16;
    if (val->len != 4 + want)
        return np__fail_at(err, NP_EPARSE, base - 4 + 2,
                           "%s (0x%04x) at byte %zu is %zu bytes long; an %s "
                           "address needs %zu",
                           attr_name(type), (unsigned)type, base - 4, val->len,
                           family == 0x01 ? "IPv4" : "IPv6", 4 + want);
    if (np__rd_u16(val, &port) != NP_OK || np__rd_bytes(val, ip, want) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, base + val->pos, "%s ends early",
                           attr_name(type));
    if (xored) {
        np__put_u32(mask, NP_STUN_MAGIC_COOKIE);
        memcpy(mask + 4, txid, NP_STUN_TXID_LEN);
        port ^= (uint16_t)(NP_STUN_MAGIC_COOKIE >> 16);
        for (i = 0; i < want; i++)
            ip[i] ^= mask[i];
    }
    if (family == 0x01)
        np_addr_from_ipv4(out, ip, port);
    else
        np_addr_from_ipv6(out, ip, port);
    return NP_OK;
}

static int decode_text(uint16_t type, size_t off, uint16_t alen, size_t max,
                       np_stun_span *span, np_error *err)
{
    if (alen > max)
        return np__fail_at(
            err, NP_EPARSE, off + 2,
            "%s (0x%04x) at byte %zu is %u bytes long; at most %zu "
            "are allowed",
            attr_name(type), (unsigned)type, off, (unsigned)alen, max);
    span->off = (uint32_t)(off + 4);
    span->len = alen;
    return NP_OK;
}

static int expect_len(uint16_t type, size_t off, uint16_t alen, uint16_t want,
                      np_error *err)
{
    if (alen == want)
        return NP_OK;
    return np__fail_at(
        err, NP_EPARSE, off + 2,
        "%s (0x%04x) at byte %zu is %u bytes long; it must be %u",
        attr_name(type), (unsigned)type, off, (unsigned)alen, (unsigned)want);
}

/*
 * ERROR-CODE (RFC 8489 section 14.8):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Reserved, should be 0         |Class|     Number    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |      Reason Phrase (variable)                                ..
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static int decode_error_code(np__rd *val, size_t base, np_stun_msg *msg,
                             np_error *err)
{
    uint32_t v;
    unsigned cls, num;

    if (np__rd_u32(val, &v) != NP_OK)
        return np__fail_at(
            err, NP_EPARSE, base - 2,
            "ERROR-CODE (0x0009) at byte %zu is %zu bytes long; it "
            "needs at least 4",
            base - 4, val->len);
    cls = (v >> 8) & 0x7u;
    num = v & 0xFFu;
    if (cls < 3 || cls > 6 || num > 99)
        return np__fail_at(err, NP_EPARSE, base + 2,
                           "ERROR-CODE at byte %zu has class %u and number %u; "
                           "codes run from 300 to 699",
                           base - 4, cls, num);
    if (val->len - 4 > MAX_TEXT)
        return np__fail_at(
            err, NP_EPARSE, base - 2,
            "ERROR-CODE at byte %zu has a %zu-byte reason; at most "
            "%d are allowed",
            base - 4, val->len - 4, MAX_TEXT);
    msg->error_code = (uint16_t)(cls * 100 + num);
    msg->error_reason.off = (uint32_t)(base + 4);
    msg->error_reason.len = (uint32_t)(val->len - 4);
    return NP_OK;
}

/* UNKNOWN-ATTRIBUTES (RFC 8489 section 14.9): a list of 16-bit types. */
static int decode_unknown_list(np__rd *val, size_t base, np_stun_msg *msg,
                               np_error *err)
{
    uint16_t t;

    if (val->len % 2 != 0)
        return np__fail_at(
            err, NP_EPARSE, base - 2,
            "UNKNOWN-ATTRIBUTES at byte %zu is %zu bytes long; it "
            "must hold whole 16-bit types",
            base - 4, val->len);
    while (np__rd_u16(val, &t) == NP_OK)
        if (msg->n_peer_unknown < NP_STUN_MAX_UNKNOWN)
            msg->peer_unknown[msg->n_peer_unknown++] = t;
    return NP_OK;
}

/* One attribute: type, length, value (val) at absolute offset off. */
static int decode_attr(const uint8_t *buf, uint16_t type, uint16_t alen,
                       size_t off, np__rd *val, np_stun_msg *msg, np_error *err)
{
    size_t base = off + 4;
    uint32_t bit = 0;
    np_addr *addr = NULL;
    int xored = 0;
    int rc;

    switch (type) {
    case NP_STUN_ATTR_MAPPED_ADDRESS:
        bit = NP_STUN_HAS_MAPPED;
        addr = &msg->mapped;
        break;
    case NP_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case NP_STUN_ATTR_XOR_MAPPED_ADDRESS_OLD:
        bit = NP_STUN_HAS_XOR_MAPPED;
        addr = &msg->xor_mapped;
        xored = 1;
        break;
    case NP_STUN_ATTR_OTHER_ADDRESS:
        bit = NP_STUN_HAS_OTHER_ADDRESS;
        addr = &msg->other_address;
        break;
    case NP_STUN_ATTR_RESPONSE_ORIGIN:
        bit = NP_STUN_HAS_RESPONSE_ORIGIN;
        addr = &msg->response_origin;
        break;
    case NP_STUN_ATTR_CHANGED_ADDRESS:
        bit = NP_STUN_HAS_CHANGED_ADDRESS;
        addr = &msg->changed_address;
        break;
    case NP_STUN_ATTR_SOURCE_ADDRESS:
        bit = NP_STUN_HAS_SOURCE_ADDRESS;
        addr = &msg->source_address;
        break;
    default:
        break;
    }
    if (addr != NULL) {
        np_addr tmp;
        rc = decode_addr(val, base, type, xored, msg->txid, &tmp, err);
        if (rc != NP_OK)
            return rc;
        /* RFC 8489 section 14: only the first of duplicates counts. */
        if (!(msg->present & bit)) {
            *addr = tmp;
            msg->present |= bit;
        }
        return NP_OK;
    }

    switch (type) {
    case NP_STUN_ATTR_CHANGE_REQUEST: /* RFC 5780 section 7.2 */
        rc = expect_len(type, off, alen, 4, err);
        if (rc == NP_OK && !(msg->present & NP_STUN_HAS_CHANGE_REQUEST)) {
            (void)np__rd_u32(val, &msg->change_request);
            msg->present |= NP_STUN_HAS_CHANGE_REQUEST;
        }
        return rc;
    case NP_STUN_ATTR_RESPONSE_PORT: /* RFC 5780 section 7.5 */
        rc = expect_len(type, off, alen, 4, err);
        if (rc == NP_OK && !(msg->present & NP_STUN_HAS_RESPONSE_PORT)) {
            (void)np__rd_u16(val, &msg->response_port);
            msg->present |= NP_STUN_HAS_RESPONSE_PORT;
        }
        return rc;
    case NP_STUN_ATTR_PADDING: /* RFC 5780 section 7.6: any content */
        msg->present |= NP_STUN_HAS_PADDING;
        return NP_OK;
    case NP_STUN_ATTR_SOFTWARE:
        if (msg->present & NP_STUN_HAS_SOFTWARE)
            return NP_OK;
        msg->present |= NP_STUN_HAS_SOFTWARE;
        return decode_text(type, off, alen, MAX_TEXT, &msg->software, err);
    case NP_STUN_ATTR_USERNAME:
        if (msg->present & NP_STUN_HAS_USERNAME)
            return NP_OK;
        msg->present |= NP_STUN_HAS_USERNAME;
        return decode_text(type, off, alen, MAX_USERNAME, &msg->username, err);
    case NP_STUN_ATTR_REALM:
        if (msg->present & NP_STUN_HAS_REALM)
            return NP_OK;
        msg->present |= NP_STUN_HAS_REALM;
        return decode_text(type, off, alen, MAX_TEXT, &msg->realm, err);
    case NP_STUN_ATTR_NONCE:
        if (msg->present & NP_STUN_HAS_NONCE)
            return NP_OK;
        msg->present |= NP_STUN_HAS_NONCE;
        return decode_text(type, off, alen, MAX_TEXT, &msg->nonce, err);
    case NP_STUN_ATTR_ERROR_CODE:
        if (msg->present & NP_STUN_HAS_ERROR_CODE)
            return NP_OK;
        rc = decode_error_code(val, base, msg, err);
        if (rc == NP_OK)
            msg->present |= NP_STUN_HAS_ERROR_CODE;
        return rc;
    case NP_STUN_ATTR_UNKNOWN_ATTRIBUTES:
        if (msg->present & NP_STUN_HAS_UNKNOWN_ATTRS)
            return NP_OK;
        msg->present |= NP_STUN_HAS_UNKNOWN_ATTRS;
        return decode_unknown_list(val, base, msg, err);
    case NP_STUN_ATTR_MESSAGE_INTEGRITY: /* RFC 8489 section 14.5 */
        rc = expect_len(type, off, alen, SHA1_LEN, err);
        if (rc != NP_OK)
            return rc;
        msg->integrity_off = (uint32_t)off;
        msg->present |= NP_STUN_HAS_INTEGRITY;
        return NP_OK;
    case NP_STUN_ATTR_FINGERPRINT: { /* RFC 8489 section 14.7 */
        uint32_t want, got = 0;
        rc = expect_len(type, off, alen, 4, err);
        if (rc != NP_OK)
            return rc;
        if (off + 8 != (size_t)NP_STUN_HEADER_LEN + msg->length)
            return np__fail_at(err, NP_EPARSE, off + 8,
                               "attribute after FINGERPRINT (at byte %zu): "
                               "FINGERPRINT must be the last attribute",
                               off);
        (void)np__rd_u32(val, &got);
        want = np_stun_crc32(buf, off) ^ NP_STUN_FINGERPRINT_XOR;
        if (got != want)
            return np__fail_at(
                err, NP_EVERIFY, base,
                "FINGERPRINT at byte %zu is 0x%08x but the message "
                "gives 0x%08x: the datagram was altered",
                off, (unsigned)got, (unsigned)want);
        msg->fingerprint_off = (uint32_t)off;
        msg->present |= NP_STUN_HAS_FINGERPRINT;
        return NP_OK;
    }
    case NP_STUN_ATTR_RESPONSE_ADDRESS:
    case NP_STUN_ATTR_PASSWORD:
    case NP_STUN_ATTR_REFLECTED_FROM:
    case NP_STUN_ATTR_PRIORITY:
    case NP_STUN_ATTR_USE_CANDIDATE:
        return NP_OK; /* understood, not needed */
    default:
        if (type < 0x8000 && msg->n_unknown < NP_STUN_MAX_UNKNOWN)
            msg->unknown[msg->n_unknown++] = type;
        return NP_OK;
    }
}

int np_stun_decode(const uint8_t *buf, size_t len, np_stun_msg *msg,
                   np_error *err)
{
    np__rd r, body;
    uint16_t type, mlen;
    uint32_t cookie;
    int rc;

    if (msg == NULL || (buf == NULL && len > 0))
        return np_error_set(err, NP_EINVAL, NULL, "np_stun_decode: NULL");
    memset(msg, 0, sizeof(*msg));
    np__rd_init(&r, buf, len);
    if (len < NP_STUN_HEADER_LEN)
        return np__fail_at(
            err, NP_ETRUNC, len,
            "STUN header needs %d bytes but the datagram ends after "
            "%zu",
            NP_STUN_HEADER_LEN, len);
    (void)np__rd_u16(&r, &type);
    (void)np__rd_u16(&r, &mlen);
    (void)np__rd_u32(&r, &cookie);
    (void)np__rd_bytes(&r, msg->txid, NP_STUN_TXID_LEN);
    if (type & 0xC000)
        return np__fail_at(
            err, NP_EPARSE, 0,
            "message type 0x%04x has one of the two top bits set: "
            "not a STUN message",
            (unsigned)type);
    if (cookie != NP_STUN_MAGIC_COOKIE)
        return np__fail_at(
            err, NP_EPARSE, 4,
            "magic cookie is 0x%08x, not 0x2112a442 (RFC 8489 5)",
            (unsigned)cookie);
    if (mlen % 4 != 0)
        return np__fail_at(err, NP_EPARSE, 2,
                           "message length %u is not a multiple of 4",
                           (unsigned)mlen);
    if ((size_t)mlen > len - NP_STUN_HEADER_LEN)
        return np__fail_at(
            err, NP_ETRUNC, 2,
            "message length says %u bytes of attributes but only %zu "
            "follow the header",
            (unsigned)mlen, len - NP_STUN_HEADER_LEN);
    if ((size_t)mlen < len - NP_STUN_HEADER_LEN)
        return np__fail_at(err, NP_EPARSE, 2,
                           "message length says %u bytes of attributes but %zu "
                           "follow the header",
                           (unsigned)mlen, len - NP_STUN_HEADER_LEN);
    msg->type = type;
    msg->length = mlen;

    /* cannot fail (the length was checked above); say so to the compiler */
    if (np__rd_sub(&r, mlen, &body) != NP_OK)
        return np__fail_at(err, NP_ETRUNC, 2, "attributes end early");
    while (np__rd_left(&body) > 0) {
        size_t off = NP_STUN_HEADER_LEN + body.pos;
        uint16_t atype, alen;
        size_t padded;
        np__rd val;

        if (np__rd_u16(&body, &atype) != NP_OK ||
            np__rd_u16(&body, &alen) != NP_OK)
            return np__fail_at(
                err, NP_ETRUNC, off,
                "attribute header at byte %zu needs 4 bytes but %zu "
                "remain",
                off, np__rd_left(&body));
        if (msg->present & NP_STUN_HAS_FINGERPRINT)
            return np__fail_at(
                err, NP_EPARSE, off,
                "attribute 0x%04x at byte %zu follows FINGERPRINT, "
                "which must be last",
                (unsigned)atype, off);
        if (np__rd_left(&body) < alen)
            return np__fail_at(
                err, NP_ETRUNC, off,
                "attribute 0x%04x at byte %zu claims %u bytes but %zu "
                "remain",
                (unsigned)atype, off, (unsigned)alen, np__rd_left(&body));
        padded = ((size_t)alen + 3u) & ~(size_t)3u;
        /* mlen is a multiple of 4, so the padding always fits here. */
        (void)np__rd_sub(&body, alen, &val);
        (void)np__rd_bytes(&body, NULL, padded - alen);
        /*
         * RFC 8489 section 14.5: after MESSAGE-INTEGRITY, only FINGERPRINT
         * may follow; anything else is ignored.
         */
        if ((msg->present & NP_STUN_HAS_INTEGRITY) &&
            atype != NP_STUN_ATTR_FINGERPRINT)
            continue;
        rc = decode_attr(buf, atype, alen, off, &val, msg, err);
        if (rc != NP_OK)
            return rc;
    }
    return NP_OK;
}

const np_addr *np_stun_other_address(const np_stun_msg *m)
{
    if (m == NULL)
        return NULL;
    if (m->present & NP_STUN_HAS_OTHER_ADDRESS)
        return &m->other_address;
    if (m->present & NP_STUN_HAS_CHANGED_ADDRESS)
        return &m->changed_address;
    return NULL;
}

const np_addr *np_stun_response_origin(const np_stun_msg *m)
{
    if (m == NULL)
        return NULL;
    if (m->present & NP_STUN_HAS_RESPONSE_ORIGIN)
        return &m->response_origin;
    if (m->present & NP_STUN_HAS_SOURCE_ADDRESS)
        return &m->source_address;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* MESSAGE-INTEGRITY and the long-term key                                  */

static int hmac_sha1_2(const uint8_t *key, size_t keylen, const uint8_t *a,
                       size_t alen, const uint8_t *b, size_t blen,
                       uint8_t out[SHA1_LEN])
{
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];
    char digest[] = "SHA1";
    size_t outlen = 0;
    int ok = 0;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL)
        return 0;
    ctx = EVP_MAC_CTX_new(mac);
    params[0] =
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    /* OpenSSL refuses a NULL key even when it is empty. */
    if (ctx != NULL &&
        EVP_MAC_init(ctx, keylen ? key : (const uint8_t *)"", keylen, params) ==
            1 &&
        EVP_MAC_update(ctx, a, alen) == 1 &&
        (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
        EVP_MAC_final(ctx, out, &outlen, SHA1_LEN) == 1 && outlen == SHA1_LEN)
        ok = 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

int np_stun_check_integrity(const uint8_t *buf, size_t len,
                            const np_stun_msg *msg, const uint8_t *key,
                            size_t keylen, np_error *err)
{
    uint8_t hdr[NP_STUN_HEADER_LEN];
    uint8_t mac[SHA1_LEN];
    size_t off;

    if (buf == NULL || msg == NULL || (key == NULL && keylen > 0))
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_stun_check_integrity: NULL argument");
    if (!(msg->present & NP_STUN_HAS_INTEGRITY))
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "the message carries no MESSAGE-INTEGRITY");
    off = msg->integrity_off;
    if (off < NP_STUN_HEADER_LEN || off % 4 != 0 || len < off + 4 + SHA1_LEN)
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_stun_check_integrity: msg does not belong to "
                            "this buffer");
    /*
     * RFC 8489 section 14.5: the HMAC covers the message up to the
     * attribute, with the header's length field set as if
     * MESSAGE-INTEGRITY were the last attribute.
     */
    memcpy(hdr, buf, NP_STUN_HEADER_LEN);
    np__put_u16(hdr + 2, (uint16_t)(off - NP_STUN_HEADER_LEN + 4 + SHA1_LEN));
    if (!hmac_sha1_2(key, keylen, hdr, sizeof(hdr), buf + NP_STUN_HEADER_LEN,
                     off - NP_STUN_HEADER_LEN, mac))
        return np_error_set(err, NP_EUNSUPP, NULL,
                            "OpenSSL cannot compute HMAC-SHA1 here");
    if (CRYPTO_memcmp(mac, buf + off + 4, SHA1_LEN) != 0)
        return np__fail_at(
            err, NP_EVERIFY, off + 4,
            "MESSAGE-INTEGRITY at byte %zu does not match: wrong "
            "key, or the message was altered",
            off);
    return NP_OK;
}

int np_stun_long_term_key(const char *username, const char *realm,
                          const char *password, uint8_t key[16], np_error *err)
{
    EVP_MD_CTX *ctx;
    unsigned int n = 0;
    int ok;

    if (username == NULL || realm == NULL || password == NULL || key == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "np_stun_long_term_key: NULL argument");
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory for MD5");
    /* RFC 5389 section 15.4: MD5(username ":" realm ":" SASLprep(pw)). */
    ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, username, strlen(username)) == 1 &&
         EVP_DigestUpdate(ctx, ":", 1) == 1 &&
         EVP_DigestUpdate(ctx, realm, strlen(realm)) == 1 &&
         EVP_DigestUpdate(ctx, ":", 1) == 1 &&
         EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
         EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == 16;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return np_error_set(err, NP_EUNSUPP, NULL,
                            "OpenSSL cannot compute MD5 here (FIPS mode?)");
    return NP_OK;
}

/* ------------------------------------------------------------------------ */
/* Building                                                                 */

/* Keep the header's length field equal to what has been written. */
static void set_length(np_stun_builder *b, size_t extra)
{
    if (!b->overflow && b->len >= NP_STUN_HEADER_LEN)
        np__put_u16(b->buf + 2,
                    (uint16_t)(b->len - NP_STUN_HEADER_LEN + extra));
}

static int room(np_stun_builder *b, size_t n)
{
    if (b->overflow || b->cap < b->len || b->cap - b->len < n ||
        b->len + n > NP_STUN_HEADER_LEN + 0xFFFFu) {
        b->overflow = 1;
        return 0;
    }
    return 1;
}

void np_stun_builder_init(np_stun_builder *b, uint8_t *buf, size_t cap,
                          uint16_t type, const uint8_t txid[NP_STUN_TXID_LEN])
{
    b->buf = buf;
    b->cap = buf == NULL ? 0 : cap;
    b->len = 0;
    b->overflow = 0;
    b->pad_byte = 0;
    if (!room(b, NP_STUN_HEADER_LEN))
        return;
    np__put_u16(buf, (uint16_t)(type & 0x3FFFu));
    np__put_u16(buf + 2, 0);
    np__put_u32(buf + 4, NP_STUN_MAGIC_COOKIE);
    memcpy(buf + 8, txid, NP_STUN_TXID_LEN);
    b->len = NP_STUN_HEADER_LEN;
}

void np_stun_add_raw(np_stun_builder *b, uint16_t attr, const void *value,
                     size_t len)
{
    size_t pad = (4 - (len & 3u)) & 3u;

    if (len > 0xFFFFu) {
        b->overflow = 1;
        return;
    }
    if (!room(b, 4 + len + pad))
        return;
    np__put_u16(b->buf + b->len, attr);
    np__put_u16(b->buf + b->len + 2, (uint16_t)len);
    if (len > 0)
        memcpy(b->buf + b->len + 4, value, len);
    memset(b->buf + b->len + 4 + len, b->pad_byte, pad);
    b->len += 4 + len + pad;
    set_length(b, 0);
}

void np_stun_add_u32(np_stun_builder *b, uint16_t attr, uint32_t value)
{
    uint8_t v[4];

    np__put_u32(v, value);
    np_stun_add_raw(b, attr, v, sizeof(v));
}

static void add_addr(np_stun_builder *b, uint16_t attr, const np_addr *a,
                     int xored)
{
    uint8_t v[20];
    uint8_t mask[16];
    size_t n, i;
    uint16_t port = np_addr_port(a);

    v[0] = 0;
    if (np_addr_family(a) == AF_INET) {
        v[1] = 0x01;
        memcpy(v + 4, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
        n = 4;
    } else if (np_addr_family(a) == AF_INET6) {
        v[1] = 0x02;
        memcpy(v + 4, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
        n = 16;
    } else {
        b->overflow = 1; /* no address: the message cannot be built */
        return;
    }
    if (xored) {
        if (b->len < NP_STUN_HEADER_LEN) {
            b->overflow = 1;
            return;
        }
        np__put_u32(mask, NP_STUN_MAGIC_COOKIE);
        memcpy(mask + 4, b->buf + 8, NP_STUN_TXID_LEN);
        port ^= (uint16_t)(NP_STUN_MAGIC_COOKIE >> 16);
        for (i = 0; i < n; i++)
            v[4 + i] ^= mask[i];
    }
    np__put_u16(v + 2, port);
    np_stun_add_raw(b, attr, v, 4 + n);
}

void np_stun_add_addr(np_stun_builder *b, uint16_t attr, const np_addr *a)
{
    add_addr(b, attr, a, 0);
}

void np_stun_add_xor_addr(np_stun_builder *b, uint16_t attr, const np_addr *a)
{
    add_addr(b, attr, a, 1);
}

void np_stun_add_error(np_stun_builder *b, uint16_t code, const char *reason)
{
    uint8_t v[4 + MAX_TEXT];
    size_t n = reason == NULL ? 0 : strlen(reason);

    if (code < 300 || code > 699 || n > MAX_TEXT) {
        b->overflow = 1;
        return;
    }
    v[0] = 0;
    v[1] = 0;
    v[2] = (uint8_t)(code / 100);
    v[3] = (uint8_t)(code % 100);
    if (n > 0)
        memcpy(v + 4, reason, n);
    np_stun_add_raw(b, NP_STUN_ATTR_ERROR_CODE, v, 4 + n);
}

void np_stun_add_integrity(np_stun_builder *b, const uint8_t *key,
                           size_t keylen)
{
    uint8_t mac[SHA1_LEN];

    if (!room(b, 4 + SHA1_LEN) || b->len < NP_STUN_HEADER_LEN ||
        (key == NULL && keylen > 0)) {
        b->overflow = 1;
        return;
    }
    set_length(b, 4 + SHA1_LEN);
    if (!hmac_sha1_2(key, keylen, b->buf, b->len, NULL, 0, mac)) {
        b->overflow = 1;
        return;
    }
    np_stun_add_raw(b, NP_STUN_ATTR_MESSAGE_INTEGRITY, mac, sizeof(mac));
}

void np_stun_add_fingerprint(np_stun_builder *b)
{
    uint32_t crc;

    if (!room(b, 8) || b->len < NP_STUN_HEADER_LEN) {
        b->overflow = 1;
        return;
    }
    set_length(b, 8);
    crc = np_stun_crc32(b->buf, b->len) ^ NP_STUN_FINGERPRINT_XOR;
    np_stun_add_u32(b, NP_STUN_ATTR_FINGERPRINT, crc);
}

int np_stun_finish(np_stun_builder *b, size_t *len)
{
    if (b->overflow || b->len < NP_STUN_HEADER_LEN) {
        if (len != NULL)
            *len = 0;
        return NP_EBUFSIZE;
    }
    if (len != NULL)
        *len = b->len;
    return NP_OK;
}

int np_stun_binding_request(uint8_t *buf, size_t cap,
                            const uint8_t txid[NP_STUN_TXID_LEN],
                            uint32_t change_flags, size_t *len)
{
    np_stun_builder b;

    np_stun_builder_init(&b, buf, cap, NP_STUN_BINDING_REQUEST, txid);
    if (change_flags != 0)
        np_stun_add_u32(&b, NP_STUN_ATTR_CHANGE_REQUEST, change_flags);
    np_stun_add_fingerprint(&b);
    return np_stun_finish(&b, len);
}
