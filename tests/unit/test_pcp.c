/*
 * Unit tests of the PCP codec (RFC 6887) against datagrams built by hand from
 * the RFC's diagrams (sections 7.1, 7.2, 7.3, 11.1, 13.1, 13.2), also kept
 * as golden files under tests/data/pcp/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "natpilot/pcp.h"

#define Z10 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define NONCE                                                                  \
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c

/* MAP request: UDP 3074 -> 3074, 7200 s, client 198.18.0.10 */
static const uint8_t map_request[] = {
    0x02,  0x01, 0x00, 0x00,            /* version 2, R=0 MAP, reserved */
    0x00,  0x00, 0x1c, 0x20,            /* requested lifetime 7200 */
    Z10,   0xff, 0xff, 198,  18, 0, 10, /* client ::ffff:198.18.0.10 */
    NONCE,                              /* mapping nonce */
    17,    0,    0,    0,               /* protocol UDP, reserved */
    0x0c,  0x02, 0x0c, 0x02,            /* internal 3074, suggested 3074 */
    Z10,   0xff, 0xff, 0,    0,  0, 0}; /* no external preference */

/* MAP request: TCP 3389 for 198.18.0.20, THIRD_PARTY + PREFER_FAILURE */
static const uint8_t map_request_thirdparty[] = {
    0x02, 0x01, 0x00, 0x00, 0x00, 0x00,  0x1c, 0x20, Z10, 0xff,
    0xff, 198,  18,   0,    10,   NONCE, 6,    0,    0,   0, /* protocol TCP */
    0x0d, 0x3d, 0x0d, 0x3d,                                  /* 3389 -> 3389 */
    Z10,  0xff, 0xff, 0,    0,    0,     0,  /* no external preference */
    1,    0,    0x00, 0x10,                  /* THIRD_PARTY, length 16 */
    Z10,  0xff, 0xff, 198,  18,   0,     20, /* ::ffff:198.18.0.20 */
    2,    0,    0x00, 0x00};                 /* PREFER_FAILURE, length 0 */

static const uint8_t announce_request[] = {0x02, 0x00, 0x00, 0x00, 0x00,
                                           0x00, 0x00, 0x00, Z10,  0xff,
                                           0xff, 198,  18,   0,    10};

/* MAP SUCCESS: UDP 3074 -> 203.0.113.1:3075, lifetime 7200, epoch 1234 */
static const uint8_t map_response_success[] = {
    0x02,  0x81, 0x00, 0x00, /* version 2, R=1 MAP, result 0 */
    0x00,  0x00, 0x1c, 0x20, /* lifetime 7200 */
    0x00,  0x00, 0x04, 0xd2, /* epoch 1234 */
    0,     0,    0,    0,    0, 0,    0,    0,    0,    0, 0, 0, /* reserved */
    NONCE, 17,   0,    0,    0, 0x0c, 0x02, 0x0c, 0x03, /* 3074 -> 3075 */
    Z10,   0xff, 0xff, 203,  0, 113,  1};

/* NOT_AUTHORIZED for the THIRD_PARTY request, lifetime 30, epoch 1235 */
static const uint8_t map_response_not_authorized[] = {
    0x02, 0x81, 0x00, 0x02, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x04, 0xd3,  0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    NONCE, 6,
    0,    0,    0,    0x0d, 0x3d, 0x0d, 0x3d, Z10,  0xff, 0xff, 0,    0,     0,
    0,    1,    0,    0x00, 0x10, Z10,  0xff, 0xff, 198,  18,   0,    20};

/* UNSUPP_OPTION (miniupnpd without pcp_allow_thirdparty), epoch 7 */
static const uint8_t map_response_unsupp_option[] = {
    0x02, 0x81, 0x00, 0x05, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x07,  0,
    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    NONCE, 6,
    0,    0,    0,    0x0d, 0x3d, 0x0d, 0x3d, Z10,  0xff, 0xff, 0,    0,     0,
    0,    1,    0,    0x00, 0x10, Z10,  0xff, 0xff, 198,  18,   0,    20};

/* A NAT-PMP-only gateway's answer (RFC 6886 3.5, erratum 3618), epoch 42 */
static const uint8_t natpmp_unsupp_version[] = {0x00, 0x80, 0x00, 0x01,
                                                0x00, 0x00, 0x00, 0x2a};

/* A pre-RFC PCP (version 1) server: UNSUPP_VERSION, header only */
static const uint8_t version1_unsupp_version[] = {
    0x01, 0x81, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 9,
    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0};

static const uint8_t nonce[12] = {NONCE};

struct golden {
    const char *file;
    const uint8_t *bytes;
    size_t len;
};

static const struct golden goldens[] = {
    {"map-request.bin", map_request, sizeof(map_request)},
    {"map-request-thirdparty.bin", map_request_thirdparty,
     sizeof(map_request_thirdparty)},
    {"announce-request.bin", announce_request, sizeof(announce_request)},
    {"map-response-success.bin", map_response_success,
     sizeof(map_response_success)},
    {"map-response-not-authorized.bin", map_response_not_authorized,
     sizeof(map_response_not_authorized)},
    {"map-response-unsupp-option.bin", map_response_unsupp_option,
     sizeof(map_response_unsupp_option)},
    {"natpmp-unsupp-version.bin", natpmp_unsupp_version,
     sizeof(natpmp_unsupp_version)},
    {"version1-unsupp-version.bin", version1_unsupp_version,
     sizeof(version1_unsupp_version)},
};

static void addr(np_addr *a, const char *text)
{
    assert_int_equal(np_addr_parse(a, text, 0, NULL), NP_OK);
}

static void assert_addr(const np_addr *a, const char *want)
{
    char buf[NP_ADDRSTRLEN];

    assert_string_equal(np_addr_str(a, buf, sizeof(buf)), want);
}

static void udp_request(np_pcp_map_request *req)
{
    memset(req, 0, sizeof(*req));
    memcpy(req->nonce, nonce, sizeof(nonce));
    req->protocol = NP_PCP_PROTO_UDP;
    req->internal_port = 3074;
    req->suggested_external_port = 3074;
    req->lifetime = 7200;
    addr(&req->client, "198.18.0.10");
}

static void tcp_thirdparty_request(np_pcp_map_request *req)
{
    udp_request(req);
    req->protocol = NP_PCP_PROTO_TCP;
    req->internal_port = 3389;
    req->suggested_external_port = 3389;
    addr(&req->third_party, "198.18.0.20");
    req->prefer_failure = 1;
}

static void test_golden_files(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
        char path[512];
        uint8_t buf[2048];
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/pcp/%s", NP_TEST_DATA,
                 goldens[i].file);
        f = fopen(path, "rb");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_int_equal(n, goldens[i].len);
        assert_memory_equal(buf, goldens[i].bytes, n);
    }
}

static void test_encode_map(void **state)
{
    np_pcp_map_request req;
    uint8_t buf[NP_PCP_MAX_MSG];
    size_t len = 0;
    np_error err;

    (void)state;
    udp_request(&req);
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_OK);
    assert_int_equal(len, sizeof(map_request));
    assert_memory_equal(buf, map_request, len);

    tcp_thirdparty_request(&req);
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_OK);
    assert_int_equal(len, sizeof(map_request_thirdparty));
    assert_memory_equal(buf, map_request_thirdparty, len);

    /* Exactly big enough, then one byte short. */
    assert_int_equal(np_pcp_encode_map(buf, 84, &req, &len, &err), NP_OK);
    assert_int_equal(np_pcp_encode_map(buf, 83, &req, &len, &err), NP_EBUFSIZE);
    assert_int_equal(len, 0);
}

static void test_encode_map_ipv6_and_suggested(void **state)
{
    np_pcp_map_request req;
    uint8_t buf[NP_PCP_MAX_MSG];
    static const uint8_t client6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                        0,    0,    0,    0,    0, 0, 0, 0x10};
    static const uint8_t zero16[16] = {0};
    static const uint8_t ext4[16] = {Z10, 0xff, 0xff, 203, 0, 113, 7};
    size_t len = 0;

    (void)state;
    udp_request(&req);
    addr(&req.client, "2001:db8::10");
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, NULL),
                     NP_OK);
    assert_int_equal(len, 60);
    assert_memory_equal(buf + 8, client6, 16);
    assert_memory_equal(buf + 44, zero16, 16); /* :: for IPv6 (11.1) */

    udp_request(&req);
    addr(&req.suggested_external, "203.0.113.7:9999");
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, NULL),
                     NP_OK);
    assert_memory_equal(buf + 44, ext4, 16);
    assert_int_equal(buf[42], 0x0c); /* the port field, not the addr's port */
    assert_int_equal(buf[43], 0x02);
}

static void test_encode_map_invalid(void **state)
{
    np_pcp_map_request req;
    uint8_t buf[NP_PCP_MAX_MSG];
    size_t len = 7;
    np_error err;

    (void)state;
    udp_request(&req);
    memset(&req.client, 0, sizeof(req.client));
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_EINVAL);
    assert_int_equal(len, 0);

    udp_request(&req);
    addr(&req.suggested_external, "2001:db8::1");
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_EINVAL);

    /* Every UDP port to one host: refused; deleting them all: allowed. */
    udp_request(&req);
    req.internal_port = 0;
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_EINVAL);
    assert_non_null(strstr(err.msg, "every UDP port"));
    req.lifetime = 0;
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_OK);
    /* Protocol 0 (all) must come with internal port 0 (11.1). */
    udp_request(&req);
    req.protocol = NP_PCP_PROTO_ALL;
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_EINVAL);
    req.internal_port = 0;
    req.suggested_external_port = 0;
    req.lifetime = 0;
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_OK);
}

static void test_encode_announce(void **state)
{
    uint8_t buf[64];
    np_addr client;
    size_t len = 0;

    (void)state;
    addr(&client, "198.18.0.10");
    assert_int_equal(
        np_pcp_encode_announce(buf, sizeof(buf), &client, &len, NULL), NP_OK);
    assert_int_equal(len, sizeof(announce_request));
    assert_memory_equal(buf, announce_request, len);
    assert_int_equal(np_pcp_encode_announce(buf, 23, &client, &len, NULL),
                     NP_EBUFSIZE);
}

static void test_decode_success(void **state)
{
    np_pcp_response r;
    np_pcp_map_request req;
    np_error err;

    (void)state;
    assert_int_equal(np_pcp_decode_response(map_response_success,
                                            sizeof(map_response_success), &r,
                                            &err),
                     NP_OK);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.natpmp_reply, 0);
    assert_int_equal(r.opcode, NP_PCP_OP_MAP);
    assert_int_equal(r.result, NP_PCP_SUCCESS);
    assert_int_equal(r.lifetime, 7200);
    assert_int_equal(r.epoch, 1234);
    assert_true(r.has_map);
    assert_memory_equal(r.nonce, nonce, 12);
    assert_int_equal(r.protocol, 17);
    assert_int_equal(r.internal_port, 3074);
    assert_int_equal(r.external_port, 3075);
    assert_addr(&r.external, "203.0.113.1:3075");
    assert_int_equal(r.options, 0);
    assert_int_equal(r.n_unknown_options, 0);

    udp_request(&req);
    assert_int_equal(np_pcp_response_matches(&r, &req), 1);
    req.nonce[11] ^= 1; /* another request's nonce */
    assert_int_equal(np_pcp_response_matches(&r, &req), 0);
    udp_request(&req);
    req.internal_port = 3075;
    assert_int_equal(np_pcp_response_matches(&r, &req), 0);
    udp_request(&req);
    req.protocol = NP_PCP_PROTO_TCP;
    assert_int_equal(np_pcp_response_matches(&r, &req), 0);
    udp_request(&req);
    addr(&req.third_party, "198.18.0.20"); /* asked for, not echoed */
    assert_int_equal(np_pcp_response_matches(&r, &req), 0);
}

static void test_decode_errors_with_options(void **state)
{
    np_pcp_response r;
    np_pcp_map_request req;

    (void)state;
    assert_int_equal(np_pcp_decode_response(map_response_not_authorized,
                                            sizeof(map_response_not_authorized),
                                            &r, NULL),
                     NP_OK);
    assert_int_equal(r.result, NP_PCP_NOT_AUTHORIZED);
    assert_int_equal(r.lifetime, 30);
    assert_int_equal(r.epoch, 1235);
    assert_true(r.has_map);
    assert_int_equal(r.protocol, 6);
    assert_int_equal(r.internal_port, 3389);
    assert_int_equal(r.options, NP_PCP_HAS_THIRD_PARTY);
    assert_addr(&r.third_party, "198.18.0.20:0");
    tcp_thirdparty_request(&req);
    assert_int_equal(np_pcp_response_matches(&r, &req), 1);
    addr(&req.third_party, "198.18.0.21");
    assert_int_equal(np_pcp_response_matches(&r, &req), 0);

    assert_int_equal(np_pcp_decode_response(map_response_unsupp_option,
                                            sizeof(map_response_unsupp_option),
                                            &r, NULL),
                     NP_OK);
    assert_int_equal(r.result, NP_PCP_UNSUPP_OPTION);
    assert_string_equal(np_pcp_result_name(r.result), "UNSUPP_OPTION");
    /* the code names no option: the backend blames THIRD_PARTY itself */
    assert_null(strstr(np_pcp_result_message(r.result), "THIRD_PARTY"));
}

static void test_decode_other_versions(void **state)
{
    np_pcp_response r;
    np_pcp_map_request req;
    uint8_t buf[8];

    (void)state;
    assert_int_equal(np_pcp_decode_response(natpmp_unsupp_version,
                                            sizeof(natpmp_unsupp_version), &r,
                                            NULL),
                     NP_OK);
    assert_int_equal(r.natpmp_reply, 1);
    assert_int_equal(r.version, 0);
    assert_int_equal(r.result, NP_PCP_UNSUPP_VERSION);
    assert_int_equal(r.natpmp_result, 1);
    assert_int_equal(r.epoch, 42);
    assert_int_equal(r.has_map, 0);
    udp_request(&req);
    assert_int_equal(np_pcp_response_matches(&r, &req), 0);

    /* RFC 6886 as first printed: OP = 0. */
    memcpy(buf, natpmp_unsupp_version, 8);
    buf[1] = 0;
    assert_int_equal(np_pcp_decode_response(buf, 8, &r, NULL), NP_OK);
    assert_int_equal(r.natpmp_reply, 1);

    assert_int_equal(np_pcp_decode_response(version1_unsupp_version,
                                            sizeof(version1_unsupp_version), &r,
                                            NULL),
                     NP_OK);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.natpmp_reply, 0);
    assert_int_equal(r.result, NP_PCP_UNSUPP_VERSION);
    assert_int_equal(r.epoch, 9);
    assert_int_equal(r.has_map, 0);
}

static void test_decode_options_misc(void **state)
{
    uint8_t buf[NP_PCP_MAX_MSG];
    np_pcp_response r;
    size_t n = sizeof(map_response_success);
    static const uint8_t filter[] = {3,    0,    0x00, 0x14, 0,    24,  0x1f,
                                     0x90, Z10,  0xff, 0xff, 198,  51,  100,
                                     0,    0x80, 0,    0x00, 0x03, 'a', 'b',
                                     'c',  0,    2,    0,    0,    0};

    (void)state;
    memcpy(buf, map_response_success, n);
    memcpy(buf + n, filter, sizeof(filter));
    n += sizeof(filter);
    assert_int_equal(n % 4, 0);
    assert_int_equal(np_pcp_decode_response(buf, n, &r, NULL), NP_OK);
    assert_int_equal(r.options, NP_PCP_HAS_FILTER | NP_PCP_HAS_PREFER_FAILURE);
    assert_int_equal(r.filter_prefix_len, 24);
    assert_addr(&r.filter_peer, "198.51.100.0:8080");
    assert_int_equal(r.n_unknown_options, 1);
    assert_int_equal(r.unknown_options[0], 0x80);
}

struct bad {
    const char *name;
    const uint8_t *base;
    size_t base_len;
    size_t len;
    int at; /* byte to overwrite, -1 for none */
    uint8_t v;
    int rc;
    const char *where;
    const char *msg_part;
};

static const struct bad bads[] = {
    {"empty", map_response_success, 60, 0, -1, 0, NP_ETRUNC, "byte 0", "empty"},
    {"short header", map_response_success, 60, 20, -1, 0, NP_ETRUNC, "byte 20",
     "needs 24"},
    {"23 bytes", map_response_success, 60, 23, -1, 0, NP_ETRUNC, "byte 23",
     "ends after 23"},
    {"not a multiple of 4", map_response_success, 60, 62, -1, 0, NP_EPARSE,
     "byte 60", "not a multiple of 4"},
    {"over 1100 bytes", map_response_success, 60, 1104, -1, 0, NP_EPARSE,
     "byte 1100", "1104 bytes"},
    {"R bit clear", map_response_success, 60, 60, 1, 0x01, NP_EPARSE, "byte 1",
     "R bit"},
    {"MAP success cut short", map_response_success, 60, 40, -1, 0, NP_ETRUNC,
     "byte 24", "needs 36 bytes but 16"},
    {"MAP error cut short", map_response_not_authorized, 80, 40, -1, 0,
     NP_ETRUNC, "byte 24", "needs 36"},
    {"option longer than message", map_response_not_authorized, 80, 80, 63,
     0x20, NP_ETRUNC, "byte 60", "option 1 at byte 60 claims 32"},
    {"THIRD_PARTY of 12 bytes", map_response_not_authorized, 80, 80, 63, 0x0c,
     NP_EPARSE, "byte 62", "must be 16"},
    {"NAT-PMP reply of 4 bytes", natpmp_unsupp_version, 8, 4, -1, 0, NP_ETRUNC,
     "byte 4", "needs 8"},
    {"NAT-PMP reply with opcode 5", natpmp_unsupp_version, 8, 8, 1, 5,
     NP_EPARSE, "byte 1", "opcode 5"},
};

static void test_malformed(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad *t = &bads[i];
        uint8_t buf[1200];
        np_pcp_response r;
        np_error err;
        int rc;

        memset(buf, 0, sizeof(buf));
        memcpy(buf, t->base, t->base_len);
        if (t->at >= 0)
            buf[t->at] = t->v;
        np_error_clear(&err);
        rc = np_pcp_decode_response(buf, t->len, &r, &err);
        if (rc != t->rc || strcmp(err.where, t->where) != 0 ||
            strstr(err.msg, t->msg_part) == NULL)
            fail_msg("case '%s': rc %d where '%s' msg '%s'; want rc %d "
                     "where '%s' msg containing '%s'",
                     t->name, rc, err.where, err.msg, t->rc, t->where,
                     t->msg_part);
    }
}

static void test_prefer_failure_with_data(void **state)
{
    uint8_t buf[80];
    np_pcp_response r;
    np_error err;
    static const uint8_t opt[8] = {2, 0, 0, 4, 1, 2, 3, 4};

    (void)state;
    memcpy(buf, map_response_success, 60);
    memcpy(buf + 60, opt, sizeof(opt));
    assert_int_equal(np_pcp_decode_response(buf, 68, &r, &err), NP_EPARSE);
    assert_string_equal(err.where, "byte 62");
    assert_non_null(strstr(err.msg, "PREFER_FAILURE"));
}

static void test_encode_response_roundtrip(void **state)
{
    np_pcp_response r, back;
    uint8_t buf[NP_PCP_MAX_MSG];
    size_t len = 0;

    (void)state;
    assert_int_equal(np_pcp_decode_response(map_response_not_authorized,
                                            sizeof(map_response_not_authorized),
                                            &r, NULL),
                     NP_OK);
    assert_int_equal(np_pcp_encode_response(buf, sizeof(buf), &r, &len, NULL),
                     NP_OK);
    assert_int_equal(len, sizeof(map_response_not_authorized));
    assert_memory_equal(buf, map_response_not_authorized, len);

    assert_int_equal(np_pcp_decode_response(natpmp_unsupp_version, 8, &r, NULL),
                     NP_OK);
    assert_int_equal(np_pcp_encode_response(buf, sizeof(buf), &r, &len, NULL),
                     NP_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(buf, natpmp_unsupp_version, 8);
    assert_int_equal(np_pcp_decode_response(buf, len, &back, NULL), NP_OK);
    assert_int_equal(back.epoch, 42);
    assert_int_equal(np_pcp_encode_response(buf, 7, &r, &len, NULL),
                     NP_EBUFSIZE);
}

static void test_decode_request(void **state)
{
    np_pcp_request q;
    np_pcp_map_request want;
    uint8_t buf[NP_PCP_MAX_MSG];
    size_t len = 0;
    np_error err;

    (void)state;
    assert_int_equal(
        np_pcp_decode_request(map_request, sizeof(map_request), &q, &err),
        NP_OK);
    udp_request(&want);
    assert_int_equal(q.version, 2);
    assert_int_equal(q.opcode, NP_PCP_OP_MAP);
    assert_true(q.has_map);
    assert_memory_equal(q.map.nonce, want.nonce, 12);
    assert_int_equal(q.map.protocol, 17);
    assert_int_equal(q.map.internal_port, 3074);
    assert_int_equal(q.map.suggested_external_port, 3074);
    assert_int_equal(q.map.lifetime, 7200);
    assert_addr(&q.map.client, "198.18.0.10:0");
    assert_false(np_addr_is_set(&q.map.suggested_external));
    assert_false(np_addr_is_set(&q.map.third_party));
    assert_int_equal(q.map.prefer_failure, 0);
    /* What was decoded encodes to the same bytes. */
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &q.map, &len, NULL),
                     NP_OK);
    assert_int_equal(len, sizeof(map_request));
    assert_memory_equal(buf, map_request, len);

    assert_int_equal(np_pcp_decode_request(map_request_thirdparty,
                                           sizeof(map_request_thirdparty), &q,
                                           &err),
                     NP_OK);
    assert_int_equal(q.options,
                     NP_PCP_HAS_THIRD_PARTY | NP_PCP_HAS_PREFER_FAILURE);
    assert_addr(&q.map.third_party, "198.18.0.20:0");
    assert_int_equal(q.map.prefer_failure, 1);
    assert_int_equal(np_pcp_encode_map(buf, sizeof(buf), &q.map, &len, NULL),
                     NP_OK);
    assert_int_equal(len, sizeof(map_request_thirdparty));
    assert_memory_equal(buf, map_request_thirdparty, len);

    assert_int_equal(np_pcp_decode_request(announce_request,
                                           sizeof(announce_request), &q, &err),
                     NP_OK);
    assert_int_equal(q.opcode, NP_PCP_OP_ANNOUNCE);
    assert_false(q.has_map);
    assert_addr(&q.map.client, "198.18.0.10:0");

    /* A NAT-PMP request: version 0, for the server to answer in kind. */
    buf[0] = 0;
    buf[1] = 1;
    assert_int_equal(np_pcp_decode_request(buf, 12, &q, &err), NP_OK);
    assert_int_equal(q.version, 0);
    assert_int_equal(q.opcode, 1);

    assert_int_equal(np_pcp_decode_request(map_response_success,
                                           sizeof(map_response_success), &q,
                                           &err),
                     NP_EPARSE);
    assert_string_equal(err.where, "byte 1");
    assert_int_equal(np_pcp_decode_request(map_request, 40, &q, &err),
                     NP_ETRUNC);
    assert_string_equal(err.where, "byte 24");
    assert_int_equal(np_pcp_decode_request(map_request, 22, &q, &err),
                     NP_ETRUNC);
    assert_string_equal(err.where, "byte 22");
}

static void test_result_table(void **state)
{
    int i, j;

    (void)state;
    for (i = 0; i <= 13; i++) {
        assert_string_not_equal(np_pcp_result_name(i), "UNKNOWN");
        assert_true(strlen(np_pcp_result_message(i)) > 10);
        for (j = 0; j < i; j++)
            assert_string_not_equal(np_pcp_result_message(i),
                                    np_pcp_result_message(j));
    }
    assert_string_equal(np_pcp_result_name(2), "NOT_AUTHORIZED");
    assert_non_null(strstr(np_pcp_result_message(2), "policy refuses"));
    assert_string_equal(np_pcp_result_name(13), "EXCESSIVE_REMOTE_PEERS");
    assert_string_equal(np_pcp_result_name(14), "UNKNOWN");
    assert_string_equal(np_pcp_result_name(-1), "UNKNOWN");
    assert_non_null(np_pcp_result_message(255));
    /* Section 7.4: short-lifetime (transient) vs long-lifetime errors. */
    assert_int_equal(np_pcp_result_is_transient(NP_PCP_NETWORK_FAILURE), 1);
    assert_int_equal(np_pcp_result_is_transient(NP_PCP_NO_RESOURCES), 1);
    assert_int_equal(np_pcp_result_is_transient(NP_PCP_USER_EX_QUOTA), 1);
    assert_int_equal(np_pcp_result_is_transient(NP_PCP_CANNOT_PROVIDE_EXTERNAL),
                     1);
    assert_int_equal(np_pcp_result_is_transient(NP_PCP_NOT_AUTHORIZED), 0);
    assert_int_equal(np_pcp_result_is_transient(NP_PCP_UNSUPP_OPTION), 0);
    assert_int_equal(np_pcp_result_is_transient(NP_PCP_SUCCESS), 0);
}

static void test_epoch(void **state)
{
    np_pcp_epoch e;

    (void)state;
    memset(&e, 0, sizeof(e));
    assert_int_equal(np_pcp_epoch_lost_state(&e, 1000, 50), 0); /* first */
    assert_int_equal(np_pcp_epoch_lost_state(&e, 1010, 60), 0); /* +10/+10 */
    assert_int_equal(np_pcp_epoch_lost_state(&e, 1009, 60),
                     0); /* -1: reorder */
    assert_int_equal(np_pcp_epoch_lost_state(&e, 1010, 60), 0);
    assert_int_equal(np_pcp_epoch_lost_state(&e, 5, 70), 1);  /* rebooted */
    assert_int_equal(np_pcp_epoch_lost_state(&e, 15, 80), 0); /* re-synced */
    /* The router stayed down while we waited: server time barely moved. */
    assert_int_equal(np_pcp_epoch_lost_state(&e, 20, 1080), 1);
    /* Server time ran much faster than ours. */
    assert_int_equal(np_pcp_epoch_lost_state(&e, 5000, 1090), 1);
    /* Within the 1/16 + 2 s tolerance. */
    assert_int_equal(np_pcp_epoch_lost_state(&e, 5000 + 1000 + 60, 2090), 0);
    assert_int_equal(np_pcp_epoch_lost_state(NULL, 1, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_files),
        cmocka_unit_test(test_encode_map),
        cmocka_unit_test(test_encode_map_ipv6_and_suggested),
        cmocka_unit_test(test_encode_map_invalid),
        cmocka_unit_test(test_encode_announce),
        cmocka_unit_test(test_decode_success),
        cmocka_unit_test(test_decode_errors_with_options),
        cmocka_unit_test(test_decode_other_versions),
        cmocka_unit_test(test_decode_options_misc),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_prefer_failure_with_data),
        cmocka_unit_test(test_encode_response_roundtrip),
        cmocka_unit_test(test_decode_request),
        cmocka_unit_test(test_result_table),
        cmocka_unit_test(test_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
