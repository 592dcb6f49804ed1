/*
 * Unit tests of the STUN codec: the four RFC 5769 test vectors byte for byte
 * (decode, MESSAGE-INTEGRITY, FINGERPRINT, re-encode), RFC 5780 and RFC 3489
 * attributes, the Binding request builder, and malformed inputs rejected
 * with the byte offset of the offending field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "natpilot/stun.h"

/* ---- RFC 5769 section 2 (also as tests/data/stun/ files) ---------------- */

/* 2.1 Sample Request: SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MI, FP */
static const uint8_t v21[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
    0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
    0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
    0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

/* 2.2 Sample IPv4 Response: SOFTWARE, XOR-MAPPED-ADDRESS, MI, FP */
static const uint8_t v22[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
    0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

/* 2.3 Sample IPv6 Response */
static const uint8_t v23[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
    0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

/* 2.4 Sample Request with Long-Term Authentication (padding is 0x00) */
static const uint8_t v24[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33,
    0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12,
    0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83,
    0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00, 0x15, 0x00, 0x1c,
    0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79,
    0x36, 0x34, 0x73, 0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d,
    0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x08, 0x00, 0x14,
    0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02, 0xb8, 0xe0, 0x71,
    0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66};

static const char short_term_pw[] = "VOkJxbRl1RmTxUk/WvJxBt";
/* U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9 ("matrix" in katakana) */
static const char lt_user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83"
                              "\x83\xe3\x82\xaf\xe3\x82\xb9";
static const char lt_nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
static const char lt_realm[] = "example.org";
/* SASLprep("The<U+00AD>M<U+00AA>trIX") = "TheMatrIX" (RFC 5769 2.4) */
static const char lt_password[] = "TheMatrIX";

static const uint8_t vtxid[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                  0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
static const uint8_t zero_txid[12] = {0};

/* ---- helpers ----------------------------------------------------------- */

static int span_is(const uint8_t *buf, np_stun_span s, const char *text)
{
    return s.len == strlen(text) && memcmp(buf + s.off, text, s.len) == 0;
}

/* The key of vector v into key (size bytes): the long-term key (16 bytes)
 * or the short-term password. */
static void key_of(const uint8_t *v, uint8_t *key, size_t size, size_t *keylen)
{
    np_error err;

    if (v == v24) {
        assert_true(size >= 16);
        assert_int_equal(
            np_stun_long_term_key(lt_user, lt_realm, lt_password, key, &err),
            NP_OK);
        *keylen = 16;
    } else {
        assert_true(strlen(short_term_pw) <= size);
        memcpy(key, short_term_pw, strlen(short_term_pw));
        *keylen = strlen(short_term_pw);
    }
}

static void assert_addr(const np_addr *a, const char *want)
{
    char buf[NP_ADDRSTRLEN];

    assert_string_equal(np_addr_str(a, buf, sizeof(buf)), want);
}

/* Re-encoders for each vector, with the builder. */
static size_t build21(uint8_t *out, size_t cap)
{
    np_stun_builder b;
    static const uint8_t tie[8] = {0x93, 0x2f, 0xf9, 0xb1,
                                   0x51, 0x26, 0x3b, 0x36};
    size_t len = 0;

    np_stun_builder_init(&b, out, cap, NP_STUN_BINDING_REQUEST, vtxid);
    b.pad_byte = 0x20;
    np_stun_add_raw(&b, NP_STUN_ATTR_SOFTWARE, "STUN test client", 16);
    np_stun_add_u32(&b, NP_STUN_ATTR_PRIORITY, 0x6e0001ffu);
    np_stun_add_raw(&b, NP_STUN_ATTR_ICE_CONTROLLED, tie, sizeof(tie));
    np_stun_add_raw(&b, NP_STUN_ATTR_USERNAME, "evtj:h6vY", 9);
    np_stun_add_integrity(&b, (const uint8_t *)short_term_pw,
                          strlen(short_term_pw));
    np_stun_add_fingerprint(&b);
    assert_int_equal(np_stun_finish(&b, &len), NP_OK);
    return len;
}

static size_t build_resp(uint8_t *out, size_t cap, const char *mapped)
{
    np_stun_builder b;
    np_addr a;
    size_t len = 0;

    assert_int_equal(np_addr_parse(&a, mapped, 0, NULL), NP_OK);
    np_stun_builder_init(&b, out, cap, NP_STUN_BINDING_SUCCESS, vtxid);
    b.pad_byte = 0x20;
    np_stun_add_raw(&b, NP_STUN_ATTR_SOFTWARE, "test vector", 11);
    np_stun_add_xor_addr(&b, NP_STUN_ATTR_XOR_MAPPED_ADDRESS, &a);
    np_stun_add_integrity(&b, (const uint8_t *)short_term_pw,
                          strlen(short_term_pw));
    np_stun_add_fingerprint(&b);
    assert_int_equal(np_stun_finish(&b, &len), NP_OK);
    return len;
}

static size_t build22(uint8_t *out, size_t cap)
{
    return build_resp(out, cap, "192.0.2.1:32853");
}

static size_t build23(uint8_t *out, size_t cap)
{
    return build_resp(out, cap, "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
}

static size_t build24(uint8_t *out, size_t cap)
{
    static const uint8_t txid[12] = {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
                                     0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e};
    np_stun_builder b;
    uint8_t key[16];
    size_t len = 0;

    assert_int_equal(
        np_stun_long_term_key(lt_user, lt_realm, lt_password, key, NULL),
        NP_OK);
    np_stun_builder_init(&b, out, cap, NP_STUN_BINDING_REQUEST, txid);
    assert_int_equal(b.pad_byte, 0);
    np_stun_add_raw(&b, NP_STUN_ATTR_USERNAME, lt_user, strlen(lt_user));
    np_stun_add_raw(&b, NP_STUN_ATTR_NONCE, lt_nonce, strlen(lt_nonce));
    np_stun_add_raw(&b, NP_STUN_ATTR_REALM, lt_realm, strlen(lt_realm));
    np_stun_add_integrity(&b, key, sizeof(key));
    assert_int_equal(np_stun_finish(&b, &len), NP_OK);
    return len;
}

struct vector {
    const char *file;
    const uint8_t *bytes;
    size_t len;
    uint16_t type;
    uint32_t present;
    size_t (*build)(uint8_t *out, size_t cap);
};

static const struct vector vectors[] = {
    {"rfc5769-2.1-request.bin", v21, sizeof(v21), NP_STUN_BINDING_REQUEST,
     NP_STUN_HAS_SOFTWARE | NP_STUN_HAS_USERNAME | NP_STUN_HAS_INTEGRITY |
         NP_STUN_HAS_FINGERPRINT,
     build21},
    {"rfc5769-2.2-ipv4-response.bin", v22, sizeof(v22), NP_STUN_BINDING_SUCCESS,
     NP_STUN_HAS_SOFTWARE | NP_STUN_HAS_XOR_MAPPED | NP_STUN_HAS_INTEGRITY |
         NP_STUN_HAS_FINGERPRINT,
     build22},
    {"rfc5769-2.3-ipv6-response.bin", v23, sizeof(v23), NP_STUN_BINDING_SUCCESS,
     NP_STUN_HAS_SOFTWARE | NP_STUN_HAS_XOR_MAPPED | NP_STUN_HAS_INTEGRITY |
         NP_STUN_HAS_FINGERPRINT,
     build23},
    {"rfc5769-2.4-long-term-request.bin", v24, sizeof(v24),
     NP_STUN_BINDING_REQUEST,
     NP_STUN_HAS_USERNAME | NP_STUN_HAS_NONCE | NP_STUN_HAS_REALM |
         NP_STUN_HAS_INTEGRITY,
     build24},
};

/* ---- the vectors ------------------------------------------------------- */

/* Bit-at-a-time reference CRC-32, to cross-check the table. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    size_t i;
    int k;

    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

static void test_crc32_check_value(void **state)
{
    uint8_t buf[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 37u + 11u);
    for (i = 0; i <= sizeof(buf); i++)
        assert_int_equal(np_stun_crc32(buf, i), crc32_bitwise(buf, i));
    assert_int_equal(np_stun_crc32((const uint8_t *)"123456789", 9),
                     0xCBF43926u);
    assert_int_equal(np_stun_crc32(NULL, 0), 0);
}

static void test_vectors_golden_files(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char path[512];
        uint8_t buf[1024];
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/stun/%s", NP_TEST_DATA,
                 vectors[i].file);
        f = fopen(path, "rb");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_int_equal(n, vectors[i].len);
        assert_memory_equal(buf, vectors[i].bytes, n);
    }
}

static void test_vectors_decode_and_verify(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *v = &vectors[i];
        np_stun_msg m;
        np_error err;
        uint8_t key[32];
        size_t keylen;

        np_error_clear(&err);
        assert_int_equal(np_stun_looks_like(v->bytes, v->len), 1);
        assert_int_equal(np_stun_decode(v->bytes, v->len, &m, &err), NP_OK);
        assert_int_equal(m.type, v->type);
        assert_int_equal(m.length, v->len - NP_STUN_HEADER_LEN);
        assert_memory_equal(m.txid, v->bytes + 8, 12);
        assert_int_equal(m.present, v->present);
        assert_int_equal(m.n_unknown, 0);
        key_of(v->bytes, key, sizeof(key), &keylen);
        assert_int_equal(
            np_stun_check_integrity(v->bytes, v->len, &m, key, keylen, &err),
            NP_OK);
        /* A wrong key fails. */
        key[0] ^= 1;
        assert_int_equal(
            np_stun_check_integrity(v->bytes, v->len, &m, key, keylen, &err),
            NP_EVERIFY);
    }
}

static void test_vector_fields(void **state)
{
    np_stun_msg m;

    (void)state;
    assert_int_equal(np_stun_decode(v21, sizeof(v21), &m, NULL), NP_OK);
    assert_true(span_is(v21, m.software, "STUN test client"));
    assert_true(span_is(v21, m.username, "evtj:h6vY"));
    assert_int_equal(m.integrity_off, 76);
    assert_int_equal(m.fingerprint_off, 100);

    assert_int_equal(np_stun_decode(v22, sizeof(v22), &m, NULL), NP_OK);
    assert_true(span_is(v22, m.software, "test vector"));
    assert_addr(&m.xor_mapped, "192.0.2.1:32853");
    assert_int_equal(m.integrity_off, 48);
    assert_int_equal(m.fingerprint_off, 72);

    assert_int_equal(np_stun_decode(v23, sizeof(v23), &m, NULL), NP_OK);
    assert_addr(&m.xor_mapped, "[2001:db8:1234:5678:11:2233:4455:6677]:32853");

    assert_int_equal(np_stun_decode(v24, sizeof(v24), &m, NULL), NP_OK);
    assert_true(span_is(v24, m.username, lt_user));
    assert_true(span_is(v24, m.nonce, lt_nonce));
    assert_true(span_is(v24, m.realm, lt_realm));
    assert_int_equal(m.integrity_off, 92);
}

static void test_vectors_reencode(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint8_t out[NP_STUN_MAX_MSG];
        size_t n = vectors[i].build(out, sizeof(out));

        assert_int_equal(n, vectors[i].len);
        assert_memory_equal(out, vectors[i].bytes, n);
        /* One byte too small: NP_EBUFSIZE, never a write past cap. */
        {
            uint8_t small[NP_STUN_MAX_MSG];
            np_stun_builder b;
            size_t len = 99;

            np_stun_builder_init(&b, small, n - 1, 0x0001, vtxid);
            np_stun_add_raw(&b, 0x8022, out + 20, n - 20 - 4);
            np_stun_add_fingerprint(&b);
            assert_int_equal(np_stun_finish(&b, &len), NP_EBUFSIZE);
            assert_int_equal(len, 0);
        }
    }
}

static void test_long_term_key(void **state)
{
    /* MD5("user:realm:pass") computed independently (openssl dgst -md5). */
    static const uint8_t want[16] = {0x84, 0x93, 0xfb, 0xc5, 0x3b, 0xa5,
                                     0x82, 0xfb, 0x4c, 0x04, 0x4c, 0x45,
                                     0x6b, 0xdc, 0x40, 0xeb};
    uint8_t key[16];

    (void)state;
    assert_int_equal(np_stun_long_term_key("user", "realm", "pass", key, NULL),
                     NP_OK);
    assert_memory_equal(key, want, 16);
    assert_int_equal(np_stun_long_term_key(NULL, "r", "p", key, NULL),
                     NP_EINVAL);
}

/* ---- builder and RFC 5780 / RFC 3489 attributes ------------------------ */

static void test_binding_request(void **state)
{
    uint8_t buf[NP_STUN_MAX_MSG];
    size_t len = 0;
    np_stun_msg m;
    np_error err;

    (void)state;
    assert_int_equal(np_stun_binding_request(buf, sizeof(buf), vtxid, 0, &len),
                     NP_OK);
    assert_int_equal(len, 28);
    assert_int_equal(np_stun_looks_like(buf, len), 1);
    assert_int_equal(np_stun_decode(buf, len, &m, &err), NP_OK);
    assert_int_equal(m.type, NP_STUN_BINDING_REQUEST);
    assert_int_equal(m.present, NP_STUN_HAS_FINGERPRINT);
    assert_memory_equal(m.txid, vtxid, 12);
    assert_int_equal(np_stun_check_integrity(buf, len, &m, NULL, 0, &err),
                     NP_ENOTFOUND);

    assert_int_equal(
        np_stun_binding_request(buf, sizeof(buf), vtxid,
                                NP_STUN_CHANGE_IP | NP_STUN_CHANGE_PORT, &len),
        NP_OK);
    assert_int_equal(len, 36);
    /* CHANGE-REQUEST first, as 00 03 00 04 00 00 00 06 */
    {
        static const uint8_t cr[8] = {0, 3, 0, 4, 0, 0, 0, 6};
        assert_memory_equal(buf + 20, cr, 8);
    }
    assert_int_equal(np_stun_decode(buf, len, &m, &err), NP_OK);
    assert_int_equal(m.present,
                     NP_STUN_HAS_CHANGE_REQUEST | NP_STUN_HAS_FINGERPRINT);
    assert_int_equal(m.change_request, 6);

    assert_int_equal(np_stun_binding_request(buf, 27, vtxid, 0, &len),
                     NP_EBUFSIZE);
    assert_int_equal(np_stun_binding_request(buf, 35, vtxid, 2, &len),
                     NP_EBUFSIZE);
    assert_int_equal(np_stun_binding_request(buf, 10, vtxid, 2, &len),
                     NP_EBUFSIZE);
}

static void test_rfc5780_response(void **state)
{
    uint8_t buf[NP_STUN_MAX_MSG];
    np_stun_builder b;
    np_addr mapped, other, origin, v6;
    np_stun_msg m;
    size_t len = 0;
    static const uint8_t pad[12] = {0};
    uint8_t rp[4] = {0xbe, 0xef, 0, 0};

    (void)state;
    assert_int_equal(np_addr_parse(&mapped, "203.0.113.9:40000", 0, NULL), 0);
    assert_int_equal(np_addr_parse(&other, "198.51.100.2:3479", 0, NULL), 0);
    assert_int_equal(np_addr_parse(&origin, "198.51.100.1:3478", 0, NULL), 0);
    assert_int_equal(np_addr_parse(&v6, "[2001:db8::5]:1", 0, NULL), 0);
    np_stun_builder_init(&b, buf, sizeof(buf), NP_STUN_BINDING_SUCCESS, vtxid);
    np_stun_add_xor_addr(&b, NP_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
    np_stun_add_addr(&b, NP_STUN_ATTR_MAPPED_ADDRESS, &v6);
    np_stun_add_addr(&b, NP_STUN_ATTR_OTHER_ADDRESS, &other);
    np_stun_add_addr(&b, NP_STUN_ATTR_RESPONSE_ORIGIN, &origin);
    np_stun_add_raw(&b, NP_STUN_ATTR_RESPONSE_PORT, rp, 4);
    np_stun_add_raw(&b, NP_STUN_ATTR_PADDING, pad, sizeof(pad));
    np_stun_add_raw(&b, 0x7777, "x", 1); /* unknown, comprehension-required */
    np_stun_add_raw(&b, 0xC001, "y", 1); /* unknown, optional */
    np_stun_add_fingerprint(&b);
    assert_int_equal(np_stun_finish(&b, &len), NP_OK);
    assert_int_equal(np_stun_decode(buf, len, &m, NULL), NP_OK);
    assert_int_equal(
        m.present, NP_STUN_HAS_XOR_MAPPED | NP_STUN_HAS_MAPPED |
                       NP_STUN_HAS_OTHER_ADDRESS | NP_STUN_HAS_RESPONSE_ORIGIN |
                       NP_STUN_HAS_RESPONSE_PORT | NP_STUN_HAS_PADDING |
                       NP_STUN_HAS_FINGERPRINT);
    assert_addr(&m.xor_mapped, "203.0.113.9:40000");
    assert_addr(&m.mapped, "[2001:db8::5]:1");
    assert_addr(&m.other_address, "198.51.100.2:3479");
    assert_addr(&m.response_origin, "198.51.100.1:3478");
    assert_int_equal(m.response_port, 0xbeef);
    assert_int_equal(m.n_unknown, 1);
    assert_int_equal(m.unknown[0], 0x7777);
    assert_ptr_equal(np_stun_other_address(&m), &m.other_address);
    assert_ptr_equal(np_stun_response_origin(&m), &m.response_origin);
}

/* An RFC 3489 server: MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS. */
static void test_rfc3489_response(void **state)
{
    /* Binding Response as such a server echoes our cookie and txid. */
    static const uint8_t old[] = {
        0x01, 0x01, 0x00, 0x24, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
        0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        /* MAPPED-ADDRESS 203.0.113.5:5000 */
        0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x13, 0x88, 203, 0, 113, 5,
        /* SOURCE-ADDRESS 198.51.100.1:3478 */
        0x00, 0x04, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x96, 198, 51, 100, 1,
        /* CHANGED-ADDRESS 198.51.100.2:3479 */
        0x00, 0x05, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 198, 51, 100, 2};
    np_stun_msg m;

    (void)state;
    assert_int_equal(np_stun_decode(old, sizeof(old), &m, NULL), NP_OK);
    assert_int_equal(m.present, NP_STUN_HAS_MAPPED |
                                    NP_STUN_HAS_SOURCE_ADDRESS |
                                    NP_STUN_HAS_CHANGED_ADDRESS);
    assert_addr(&m.mapped, "203.0.113.5:5000");
    assert_addr(&m.source_address, "198.51.100.1:3478");
    assert_addr(&m.changed_address, "198.51.100.2:3479");
    assert_int_equal(m.n_unknown, 0);
    assert_ptr_equal(np_stun_other_address(&m), &m.changed_address);
    assert_ptr_equal(np_stun_response_origin(&m), &m.source_address);
    m.present = 0;
    assert_null(np_stun_other_address(&m));
    assert_null(np_stun_response_origin(&m));
    assert_null(np_stun_other_address(NULL));
}

static void test_error_response(void **state)
{
    uint8_t buf[NP_STUN_MAX_MSG];
    np_stun_builder b;
    np_stun_msg m;
    size_t len = 0;
    static const uint8_t list[6] = {0x00, 0x1c, 0x7f, 0xff, 0x00, 0x03};

    (void)state;
    np_stun_builder_init(&b, buf, sizeof(buf), NP_STUN_BINDING_ERROR, vtxid);
    np_stun_add_error(&b, 420, "Unknown Attribute");
    np_stun_add_raw(&b, NP_STUN_ATTR_UNKNOWN_ATTRIBUTES, list, sizeof(list));
    np_stun_add_fingerprint(&b);
    assert_int_equal(np_stun_finish(&b, &len), NP_OK);
    assert_int_equal(buf[22 + 2 + 2], 4); /* class */
    assert_int_equal(buf[22 + 2 + 3], 20);
    assert_int_equal(np_stun_decode(buf, len, &m, NULL), NP_OK);
    assert_int_equal(m.type, NP_STUN_BINDING_ERROR);
    assert_int_equal(m.error_code, 420);
    assert_true(span_is(buf, m.error_reason, "Unknown Attribute"));
    assert_int_equal(m.n_peer_unknown, 3);
    assert_int_equal(m.peer_unknown[0], 0x001c);
    assert_int_equal(m.peer_unknown[1], 0x7fff);
    assert_int_equal(m.peer_unknown[2], 0x0003);

    /* Codes outside 300..699 cannot be built. */
    np_stun_builder_init(&b, buf, sizeof(buf), NP_STUN_BINDING_ERROR, vtxid);
    np_stun_add_error(&b, 200, "no");
    assert_int_equal(np_stun_finish(&b, &len), NP_EBUFSIZE);
}

/* After MESSAGE-INTEGRITY only FINGERPRINT counts (RFC 8489 14.5). */
static void test_attrs_after_integrity_ignored(void **state)
{
    uint8_t buf[NP_STUN_MAX_MSG];
    np_stun_builder b;
    np_stun_msg m;
    np_addr a;
    size_t len = 0;

    (void)state;
    assert_int_equal(np_addr_parse(&a, "203.0.113.1:1", 0, NULL), NP_OK);
    np_stun_builder_init(&b, buf, sizeof(buf), NP_STUN_BINDING_SUCCESS, vtxid);
    np_stun_add_integrity(&b, (const uint8_t *)"k", 1);
    np_stun_add_addr(&b, NP_STUN_ATTR_MAPPED_ADDRESS, &a);
    np_stun_add_raw(&b, 0x7001, NULL, 0);
    np_stun_add_fingerprint(&b);
    assert_int_equal(np_stun_finish(&b, &len), NP_OK);
    assert_int_equal(np_stun_decode(buf, len, &m, NULL), NP_OK);
    assert_int_equal(m.present,
                     NP_STUN_HAS_INTEGRITY | NP_STUN_HAS_FINGERPRINT);
    assert_int_equal(m.n_unknown, 0);
    assert_int_equal(
        np_stun_check_integrity(buf, len, &m, (const uint8_t *)"k", 1, NULL),
        NP_OK);
}

/* ---- malformed input: return code AND the byte offset ------------------ */

struct bad {
    const char *name;
    const uint8_t *base; /* starting vector */
    size_t base_len;
    size_t len; /* length to decode (may differ from base_len) */
    int at1;    /* byte index to overwrite, -1 for none */
    uint8_t v1; /* value for at1 */
    int at2;    /* second byte, -1 for none */
    uint8_t v2; /* value for at2 */
    int rc;     /* expected return of np_stun_decode */
    const char *where;
    const char *msg_part;
};

static const struct bad bads[] = {
    {"empty", v22, sizeof(v22), 0, -1, 0, -1, 0, NP_ETRUNC, "byte 0",
     "header needs 20"},
    {"truncated header", v22, sizeof(v22), 10, -1, 0, -1, 0, NP_ETRUNC,
     "byte 10", "ends after 10"},
    {"header only, length 0x3c", v22, sizeof(v22), 20, -1, 0, -1, 0, NP_ETRUNC,
     "byte 2", "only 0 follow"},
    {"truncated datagram", v22, sizeof(v22), 76, -1, 0, -1, 0, NP_ETRUNC,
     "byte 2", "says 60 bytes of attributes but only 56"},
    {"over-long length field", v22, sizeof(v22), 80, 3, 0x40, -1, 0, NP_ETRUNC,
     "byte 2", "says 64"},
    {"length not a multiple of 4", v22, sizeof(v22), 80, 3, 0x3d, -1, 0,
     NP_EPARSE, "byte 2", "not a multiple of 4"},
    {"length shorter than datagram", v22, sizeof(v22), 80, 3, 0x38, -1, 0,
     NP_EPARSE, "byte 2", "but 60 follow"},
    {"wrong cookie", v22, sizeof(v22), 80, 4, 0x31, -1, 0, NP_EPARSE, "byte 4",
     "magic cookie is 0x3112a442"},
    {"top bits set", v22, sizeof(v22), 80, 0, 0x41, -1, 0, NP_EPARSE, "byte 0",
     "top bits"},
    {"attribute longer than message", v22, sizeof(v22), 80, 51, 0x40, -1, 0,
     NP_ETRUNC, "byte 48",
     "attribute 0x0008 at byte 48 claims 64 bytes but 28 remain"},
    {"truncated XOR-MAPPED-ADDRESS", v22, sizeof(v22), 80, 39, 0x30, -1, 0,
     NP_ETRUNC, "byte 36",
     "attribute 0x0020 at byte 36 claims 48 bytes but 40 remain"},
    {"bad address family", v22, sizeof(v22), 80, 41, 0x03, -1, 0, NP_EPARSE,
     "byte 41", "family 0x03"},
    {"IPv6 family in 8 bytes", v22, sizeof(v22), 80, 41, 0x02, -1, 0, NP_EPARSE,
     "byte 38", "needs 20"},
    {"MESSAGE-INTEGRITY of 16 bytes", v22, sizeof(v22), 80, 51, 0x10, -1, 0,
     NP_EPARSE, "byte 50", "must be 20"},
    {"bad FINGERPRINT", v22, sizeof(v22), 80, 79, 0x97, -1, 0, NP_EVERIFY,
     "byte 76", "FINGERPRINT at byte 72"},
    {"FINGERPRINT of 8 bytes", v22, sizeof(v22), 80, 75, 0x08, 3, 0x40,
     NP_ETRUNC, "byte 2", "says 64"},
    {"altered SOFTWARE breaks FINGERPRINT", v22, sizeof(v22), 80, 24, 'T', -1,
     0, NP_EVERIFY, "byte 76", "altered"},
    {"IPv6 response: bad family", v23, sizeof(v23), 92, 41, 0x00, -1, 0,
     NP_EPARSE, "byte 41", "family 0x00"},
};

static void test_malformed(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad *t = &bads[i];
        uint8_t buf[256];
        np_stun_msg m;
        np_error err;
        int rc;

        memset(buf, 0, sizeof(buf));
        memcpy(buf, t->base, t->base_len);
        if (t->at1 >= 0)
            buf[t->at1] = t->v1;
        if (t->at2 >= 0)
            buf[t->at2] = t->v2;
        np_error_clear(&err);
        rc = np_stun_decode(buf, t->len, &m, &err);
        if (rc != t->rc || strcmp(err.where, t->where) != 0 ||
            strstr(err.msg, t->msg_part) == NULL)
            fail_msg("case '%s': rc %d where '%s' msg '%s'; want rc %d "
                     "where '%s' msg containing '%s'",
                     t->name, rc, err.where, err.msg, t->rc, t->where,
                     t->msg_part);
        assert_int_equal(err.code, t->rc);
    }
}

static void test_attribute_after_fingerprint(void **state)
{
    uint8_t buf[128];
    np_stun_msg m;
    np_error err;

    (void)state;
    memcpy(buf, v22, sizeof(v22));
    /* SOFTWARE "abcd" after FINGERPRINT; header length 0x3c -> 0x44 */
    memcpy(buf + 80,
           "\x80\x22\x00\x04"
           "abcd",
           8);
    buf[3] = 0x44;
    assert_int_equal(np_stun_decode(buf, 88, &m, &err), NP_EPARSE);
    assert_string_equal(err.where, "byte 80");
    assert_non_null(strstr(err.msg, "after FINGERPRINT"));
}

static void test_bad_integrity(void **state)
{
    uint8_t buf[128];
    np_stun_msg m;
    np_error err;

    (void)state;
    memcpy(buf, v21, sizeof(v21));
    buf[80] ^= 0x01; /* first byte of the HMAC; FINGERPRINT then breaks too */
    assert_int_equal(np_stun_decode(buf, sizeof(v21), &m, &err), NP_EVERIFY);
    assert_string_equal(err.where, "byte 104");

    /* Without FINGERPRINT (2.4) the decode passes and the HMAC fails. */
    memcpy(buf, v24, sizeof(v24));
    buf[100] ^= 0x80;
    assert_int_equal(np_stun_decode(buf, sizeof(v24), &m, &err), NP_OK);
    {
        uint8_t key[16];
        assert_int_equal(
            np_stun_long_term_key(lt_user, lt_realm, lt_password, key, NULL),
            NP_OK);
        assert_int_equal(
            np_stun_check_integrity(buf, sizeof(v24), &m, key, 16, &err),
            NP_EVERIFY);
        assert_string_equal(err.where, "byte 96");
        assert_non_null(strstr(err.msg, "MESSAGE-INTEGRITY at byte 92"));
    }
    /* A msg that does not belong to the buffer is refused. */
    assert_int_equal(np_stun_check_integrity(buf, 50, &m, NULL, 0, &err),
                     NP_EINVAL);
}

static void test_bad_error_code(void **state)
{
    uint8_t buf[64];
    np_stun_builder b;
    np_stun_msg m;
    np_error err;
    size_t len = 0;
    static const uint8_t ec[4] = {0, 0, 2, 0}; /* class 2: not an error */

    (void)state;
    np_stun_builder_init(&b, buf, sizeof(buf), NP_STUN_BINDING_ERROR,
                         zero_txid);
    np_stun_add_raw(&b, NP_STUN_ATTR_ERROR_CODE, ec, sizeof(ec));
    assert_int_equal(np_stun_finish(&b, &len), NP_OK);
    assert_int_equal(np_stun_decode(buf, len, &m, &err), NP_EPARSE);
    assert_string_equal(err.where, "byte 26");
    assert_non_null(strstr(err.msg, "class 2"));
}

static void test_looks_like(void **state)
{
    uint8_t buf[128];

    (void)state;
    assert_int_equal(np_stun_looks_like(v22, 19), 0);
    assert_int_equal(np_stun_looks_like(v22, 76), 0);
    assert_int_equal(np_stun_looks_like(NULL, 0), 0);
    memcpy(buf, v22, sizeof(v22));
    buf[5] = 0;
    assert_int_equal(np_stun_looks_like(buf, sizeof(v22)), 0);
    memcpy(buf, v22, sizeof(v22));
    buf[0] = 0x80;
    assert_int_equal(np_stun_looks_like(buf, sizeof(v22)), 0);
}

static void test_frame_len(void **state)
{
    uint8_t buf[8];

    (void)state;
    assert_int_equal(np_stun_frame_len(v21, 3), 0);
    assert_int_equal(np_stun_frame_len(v21, 4), sizeof(v21));
    assert_int_equal(np_stun_frame_len(v24, sizeof(v24)), sizeof(v24));
    memcpy(buf, v22, 8);
    buf[3] = 0x3d;
    assert_int_equal(np_stun_frame_len(buf, 8), 0);
    buf[3] = 0x3c;
    buf[0] = 0x40;
    assert_int_equal(np_stun_frame_len(buf, 8), 0);
    assert_int_equal(np_stun_frame_len(NULL, 8), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_vectors_golden_files),
        cmocka_unit_test(test_vectors_decode_and_verify),
        cmocka_unit_test(test_vector_fields),
        cmocka_unit_test(test_vectors_reencode),
        cmocka_unit_test(test_long_term_key),
        cmocka_unit_test(test_binding_request),
        cmocka_unit_test(test_rfc5780_response),
        cmocka_unit_test(test_rfc3489_response),
        cmocka_unit_test(test_error_response),
        cmocka_unit_test(test_attrs_after_integrity_ignored),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_attribute_after_fingerprint),
        cmocka_unit_test(test_bad_integrity),
        cmocka_unit_test(test_bad_error_code),
        cmocka_unit_test(test_looks_like),
        cmocka_unit_test(test_frame_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
