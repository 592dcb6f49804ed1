/*
 * Unit tests of the NAT-PMP codec (RFC 6886) against datagrams built by hand
 * from the RFC's diagrams (sections 3.2, 3.3, 3.5), also kept as golden
 * files under tests/data/natpmp/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "natpilot/natpmp.h"

/* External address request: version 0, opcode 0 */
static const uint8_t public_request[] = {0x00, 0x00};

/* External address 203.0.113.5, epoch 42 */
static const uint8_t public_response[] = {
    0x00, 0x80, 0x00, 0x00, /* version 0, opcode 128, result 0 */
    0x00, 0x00, 0x00, 0x2a, /* epoch 42 */
    203,  0,    113,  5};

/* Map UDP 3074 -> 3074 for 7200 s */
static const uint8_t map_udp_request[] = {
    0x00, 0x01, 0x00, 0x00,  /* version 0, opcode 1 (UDP), reserved */
    0x0c, 0x02, 0x0c, 0x02,  /* internal 3074, suggested external 3074 */
    0x00, 0x00, 0x1c, 0x20}; /* lifetime 7200 */

/* Mapped UDP 3074 -> 3075 for 7200 s, epoch 43 */
static const uint8_t map_udp_response[] = {0x00, 0x81, 0x00, 0x00, 0x00, 0x00,
                                           0x00, 0x2b, 0x0c, 0x02, 0x0c, 0x03,
                                           0x00, 0x00, 0x1c, 0x20};

/* Delete TCP 3389 (lifetime 0, suggested port 0: section 3.4) */
static const uint8_t map_tcp_delete_request[] = {
    0x00, 0x02, 0x00, 0x00, 0x0d, 0x3d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* TCP 3389 refused: NOT_AUTHORIZED, epoch 44 */
static const uint8_t map_tcp_refused[] = {0x00, 0x82, 0x00, 0x02, 0x00, 0x00,
                                          0x00, 0x2c, 0x0d, 0x3d, 0x00, 0x00,
                                          0x00, 0x00, 0x00, 0x00};

/* Opcode 5 answered UNSUPP_OPCODE in 8 bytes, epoch 45 */
static const uint8_t unsupp_opcode_short[] = {0x00, 0x85, 0x00, 0x05,
                                              0x00, 0x00, 0x00, 0x2d};

struct golden {
    const char *file;
    const uint8_t *bytes;
    size_t len;
};

static const struct golden goldens[] = {
    {"public-request.bin", public_request, sizeof(public_request)},
    {"public-response.bin", public_response, sizeof(public_response)},
    {"map-udp-request.bin", map_udp_request, sizeof(map_udp_request)},
    {"map-udp-response.bin", map_udp_response, sizeof(map_udp_response)},
    {"map-tcp-delete-request.bin", map_tcp_delete_request,
     sizeof(map_tcp_delete_request)},
    {"map-tcp-refused.bin", map_tcp_refused, sizeof(map_tcp_refused)},
    {"unsupp-opcode-short.bin", unsupp_opcode_short,
     sizeof(unsupp_opcode_short)},
};

static void test_golden_files(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
        char path[512];
        uint8_t buf[256];
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "%s/natpmp/%s", NP_TEST_DATA,
                 goldens[i].file);
        f = fopen(path, "rb");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_int_equal(n, goldens[i].len);
        assert_memory_equal(buf, goldens[i].bytes, n);
    }
}

static void test_encode_requests(void **state)
{
    uint8_t buf[16];
    size_t len = 0;
    np_natpmp_map_request req = {NP_NATPMP_OP_MAP_UDP, 3074, 3074, 7200};
    np_natpmp_map_request del = {NP_NATPMP_OP_MAP_TCP, 3389, 0, 0};
    np_natpmp_map_request bad = {3, 3074, 3074, 7200};
    np_error err;

    (void)state;
    assert_int_equal(
        np_natpmp_encode_public_address(buf, sizeof(buf), &len, &err), NP_OK);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, public_request, 2);
    assert_int_equal(np_natpmp_encode_public_address(buf, 1, &len, &err),
                     NP_EBUFSIZE);

    assert_int_equal(np_natpmp_encode_map(buf, sizeof(buf), &req, &len, &err),
                     NP_OK);
    assert_int_equal(len, 12);
    assert_memory_equal(buf, map_udp_request, 12);
    assert_int_equal(np_natpmp_encode_map(buf, sizeof(buf), &del, &len, &err),
                     NP_OK);
    assert_memory_equal(buf, map_tcp_delete_request, 12);
    assert_int_equal(np_natpmp_encode_map(buf, 11, &req, &len, &err),
                     NP_EBUFSIZE);
    assert_int_equal(len, 0);
    assert_int_equal(np_natpmp_encode_map(buf, sizeof(buf), &bad, &len, &err),
                     NP_EINVAL);
    bad.opcode = NP_NATPMP_OP_MAP_UDP;
    bad.internal_port = 0;
    assert_int_equal(np_natpmp_encode_map(buf, sizeof(buf), &bad, &len, &err),
                     NP_EINVAL);
}

static void test_decode_public(void **state)
{
    np_natpmp_response r;
    char text[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_natpmp_decode_response(
                         public_response, sizeof(public_response), &r, NULL),
                     NP_OK);
    assert_int_equal(r.version, 0);
    assert_int_equal(r.opcode, NP_NATPMP_OP_PUBLIC_ADDRESS);
    assert_int_equal(r.result, NP_NATPMP_SUCCESS);
    assert_int_equal(r.epoch, 42);
    assert_true(r.has_address);
    assert_false(r.has_map);
    assert_string_equal(np_addr_ip_str(&r.external, text, sizeof(text)),
                        "203.0.113.5");
}

static void test_decode_map(void **state)
{
    np_natpmp_response r;

    (void)state;
    assert_int_equal(np_natpmp_decode_response(
                         map_udp_response, sizeof(map_udp_response), &r, NULL),
                     NP_OK);
    assert_int_equal(r.opcode, NP_NATPMP_OP_MAP_UDP);
    assert_int_equal(r.result, 0);
    assert_int_equal(r.epoch, 43);
    assert_true(r.has_map);
    assert_int_equal(r.internal_port, 3074);
    assert_int_equal(r.external_port, 3075); /* not what was asked: report */
    assert_int_equal(r.lifetime, 7200);

    assert_int_equal(np_natpmp_decode_response(
                         map_tcp_refused, sizeof(map_tcp_refused), &r, NULL),
                     NP_OK);
    assert_int_equal(r.opcode, NP_NATPMP_OP_MAP_TCP);
    assert_int_equal(r.result, NP_NATPMP_NOT_AUTHORIZED);
    assert_int_equal(r.internal_port, 3389);

    /* An error may stop after the epoch. */
    assert_int_equal(np_natpmp_decode_response(map_tcp_refused, 8, &r, NULL),
                     NP_OK);
    assert_int_equal(r.result, NP_NATPMP_NOT_AUTHORIZED);
    assert_false(r.has_map);

    assert_int_equal(np_natpmp_decode_response(unsupp_opcode_short,
                                               sizeof(unsupp_opcode_short), &r,
                                               NULL),
                     NP_OK);
    assert_int_equal(r.opcode, 5);
    assert_int_equal(r.result, NP_NATPMP_UNSUPP_OPCODE);
    assert_int_equal(r.epoch, 45);
}

struct bad {
    const char *name;
    const uint8_t *base;
    size_t base_len;
    size_t len;
    int at;
    uint8_t v;
    int rc;
    const char *where;
    const char *msg_part;
};

static const struct bad bads[] = {
    {"empty", public_response, 12, 0, -1, 0, NP_ETRUNC, "byte 0", "empty"},
    {"7 bytes", public_response, 12, 7, -1, 0, NP_ETRUNC, "byte 7",
     "at least 8"},
    {"PCP version", public_response, 12, 12, 0, 2, NP_EPARSE, "byte 0",
     "a PCP server answered"},
    {"version 1", public_response, 12, 12, 0, 1, NP_EPARSE, "byte 0",
     "version 1"},
    {"request, not response", public_response, 12, 12, 1, 0, NP_EPARSE,
     "byte 1", "response bit clear"},
    {"address success cut short", public_response, 12, 10, -1, 0, NP_ETRUNC,
     "byte 10", "needs 12"},
    {"map success cut short", map_udp_response, 16, 12, -1, 0, NP_ETRUNC,
     "byte 12", "map response needs 16"},
};

static void test_malformed(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad *t = &bads[i];
        uint8_t buf[64];
        np_natpmp_response r;
        np_error err;
        int rc;

        memset(buf, 0, sizeof(buf));
        memcpy(buf, t->base, t->base_len);
        if (t->at >= 0)
            buf[t->at] = t->v;
        np_error_clear(&err);
        rc = np_natpmp_decode_response(buf, t->len, &r, &err);
        if (rc != t->rc || strcmp(err.where, t->where) != 0 ||
            strstr(err.msg, t->msg_part) == NULL)
            fail_msg("case '%s': rc %d where '%s' msg '%s'; want rc %d "
                     "where '%s' msg containing '%s'",
                     t->name, rc, err.where, err.msg, t->rc, t->where,
                     t->msg_part);
    }
}

static void test_encode_response_roundtrip(void **state)
{
    const struct golden *g;
    uint8_t buf[32];
    size_t i, len = 0;

    (void)state;
    for (i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
        np_natpmp_response r;

        g = &goldens[i];
        if (g->len < 8 || (g->bytes[1] & 0x80) == 0)
            continue; /* requests */
        assert_int_equal(np_natpmp_decode_response(g->bytes, g->len, &r, NULL),
                         NP_OK);
        assert_int_equal(
            np_natpmp_encode_response(buf, sizeof(buf), &r, &len, NULL), NP_OK);
        assert_int_equal(len, g->len);
        assert_memory_equal(buf, g->bytes, len);
        assert_int_equal(
            np_natpmp_encode_response(buf, len - 1, &r, &len, NULL),
            NP_EBUFSIZE);
    }
}

static void test_decode_request(void **state)
{
    np_natpmp_map_request q;
    np_error err;
    uint8_t buf[12];

    (void)state;
    assert_int_equal(np_natpmp_decode_request(
                         map_udp_request, sizeof(map_udp_request), &q, &err),
                     NP_OK);
    assert_int_equal(q.opcode, NP_NATPMP_OP_MAP_UDP);
    assert_int_equal(q.internal_port, 3074);
    assert_int_equal(q.suggested_external_port, 3074);
    assert_int_equal(q.lifetime, 7200);
    assert_int_equal(
        np_natpmp_decode_request(map_tcp_delete_request, 12, &q, &err), NP_OK);
    assert_int_equal(q.opcode, NP_NATPMP_OP_MAP_TCP);
    assert_int_equal(q.lifetime, 0);
    assert_int_equal(np_natpmp_decode_request(public_request, 2, &q, &err),
                     NP_OK);
    assert_int_equal(q.opcode, NP_NATPMP_OP_PUBLIC_ADDRESS);

    assert_int_equal(np_natpmp_decode_request(map_udp_request, 11, &q, &err),
                     NP_ETRUNC);
    assert_string_equal(err.where, "byte 11");
    assert_int_equal(np_natpmp_decode_request(public_request, 1, &q, &err),
                     NP_ETRUNC);
    assert_int_equal(np_natpmp_decode_request(map_udp_response, 16, &q, &err),
                     NP_EPARSE);
    assert_string_equal(err.where, "byte 1");
    memcpy(buf, map_udp_request, 12);
    buf[1] = 3;
    assert_int_equal(np_natpmp_decode_request(buf, 12, &q, &err), NP_EUNSUPP);
    assert_string_equal(err.where, "byte 1");
    assert_int_equal(q.opcode, 3);
    buf[0] = 2;
    assert_int_equal(np_natpmp_decode_request(buf, 12, &q, &err), NP_EPARSE);
    assert_string_equal(err.where, "byte 0");
}

static void test_result_table(void **state)
{
    int i;

    (void)state;
    for (i = 0; i <= 5; i++) {
        assert_string_not_equal(np_natpmp_result_name(i), "UNKNOWN");
        assert_true(strlen(np_natpmp_result_message(i)) > 10);
    }
    assert_string_equal(np_natpmp_result_name(2), "NOT_AUTHORIZED");
    assert_non_null(strstr(np_natpmp_result_message(2), "refuses"));
    assert_string_equal(np_natpmp_result_name(6), "UNKNOWN");
    assert_non_null(strstr(np_natpmp_result_message(6), "does not define"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_files),
        cmocka_unit_test(test_encode_requests),
        cmocka_unit_test(test_decode_public),
        cmocka_unit_test(test_decode_map),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_encode_response_roundtrip),
        cmocka_unit_test(test_decode_request),
        cmocka_unit_test(test_result_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
