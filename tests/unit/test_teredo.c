/* Unit tests of the Teredo outlook rules and the RFC 4380 wire codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include "natpilot/teredo.h"

/* A qualification RS as Microsoft's NetDebug Get-NatType sends it (nonce
 * bb1b5fc51b665057, cone bit 0): our encoder must produce it byte for
 * byte, checksum included. */
static const uint8_t rs_vector[61] = {
    0x00, 0x01, 0x00, 0x00, 0xBB, 0x1B, 0x5F, 0xC5, 0x1B, 0x66, 0x50,
    0x57, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3A, 0xFF, 0xFE,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x85, 0x00,
    0x7D, 0x38, 0x00, 0x00, 0x00, 0x00};

static void encode_rs(void **state)
{
    static const uint8_t nonce[8] = {0xBB, 0x1B, 0x5F, 0xC5,
                                     0x1B, 0x66, 0x50, 0x57};
    uint8_t buf[64];
    size_t len = 0;
    np_error err;

    (void)state;
    assert_int_equal(np_teredo_encode_rs(buf, sizeof(buf), nonce, &len, &err),
                     NP_OK);
    assert_int_equal(len, sizeof(rs_vector));
    assert_memory_equal(buf, rs_vector, sizeof(rs_vector));
    assert_int_equal(np_teredo_encode_rs(buf, 60, nonce, &len, &err),
                     NP_EBUFSIZE);
}

/* An RA answer: auth indicator, origin (203.0.113.2:40000 obfuscated),
 * IPv6 header, ICMPv6 type 134. */
static size_t make_ra(uint8_t *b, const uint8_t nonce[8])
{
    size_t n = 0;
    uint16_t port = (uint16_t)~40000u;
    uint32_t ip = ~(uint32_t)0xcb007102u; /* 203.0.113.2 */

    b[n++] = 0;
    b[n++] = 1;
    b[n++] = 0;
    b[n++] = 0;
    memcpy(b + n, nonce, 8);
    n += 8;
    b[n++] = 0;
    b[n++] = 0;
    b[n++] = 0;
    b[n++] = (uint8_t)(port >> 8);
    b[n++] = (uint8_t)port;
    b[n++] = (uint8_t)(ip >> 24);
    b[n++] = (uint8_t)(ip >> 16);
    b[n++] = (uint8_t)(ip >> 8);
    b[n++] = (uint8_t)ip;
    memset(b + n, 0, 40);
    b[n] = 0x60;
    b[n + 6] = 58;
    n += 40;
    b[n++] = 134;
    memset(b + n, 0, 15);
    n += 15;
    return n;
}

static void decode_ra(void **state)
{
    static const uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t other[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    uint8_t b[128];
    size_t n = make_ra(b, nonce), cut;
    np_addr o;
    np_error err;
    char s[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_teredo_decode_ra(b, n, nonce, &o, &err), NP_OK);
    assert_string_equal(np_addr_str(&o, s, sizeof(s)), "203.0.113.2:40000");
    assert_int_equal(np_teredo_decode_ra(b, n, other, &o, &err), NP_EPARSE);
    /* every truncation is refused, never read past the end */
    for (cut = 0; cut < n; cut++)
        assert_int_equal(np_teredo_decode_ra(b, cut, nonce, &o, &err),
                         NP_EPARSE);
    /* an RS (type 133) is not an answer */
    b[n - 16] = 133;
    assert_int_equal(np_teredo_decode_ra(b, n, nonce, &o, &err), NP_EPARSE);
}

static void rules(void **state)
{
    static const struct {
        const char *name;
        enum np_udp_state udp;
        enum np_behaviour mapping;
        enum np_port_alloc alloc;
        int udp3544;
        int symmetric; /* from a qualification run; -2: none */
        int v6ok;
        enum np_teredo_verdict want;
        enum np_teredo_reason reason;
        enum np_teredo_fix fix;
    } rows[] = {
        {.name = "no network",
         .udp = NP_UDP_NO_ANSWER,
         .udp3544 = -1,
         .symmetric = -2,
         .want = NP_TEREDO_UNKNOWN,
         .reason = NP_TEREDO_R_NO_NETWORK,
         .fix = NP_TEREDO_FIX_NONE},
        {.name = "udp blocked",
         .udp = NP_UDP_BLOCKED,
         .udp3544 = -1,
         .symmetric = -2,
         .want = NP_TEREDO_FAILS,
         .reason = NP_TEREDO_R_UDP_BLOCKED,
         .fix = NP_TEREDO_FIX_ALLOW_UDP},
        {.name = "3544 blocked",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_EI,
         .udp3544 = 0,
         .symmetric = -2,
         .want = NP_TEREDO_FAILS,
         .reason = NP_TEREDO_R_3544_BLOCKED,
         .fix = NP_TEREDO_FIX_ALLOW_3544},
        {.name = "qualification silent",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_EI,
         .udp3544 = -1,
         .symmetric = -1,
         .want = NP_TEREDO_FAILS,
         .reason = NP_TEREDO_R_3544_BLOCKED,
         .fix = NP_TEREDO_FIX_ALLOW_3544},
        {.name = "symmetric random",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_APD,
         .alloc = NP_PA_RANDOM,
         .udp3544 = 1,
         .symmetric = -2,
         .want = NP_TEREDO_FAILS,
         .reason = NP_TEREDO_R_SYMMETRIC,
         .fix = NP_TEREDO_FIX_ROUTER_EIM},
        {.name = "symmetric, native IPv6",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_APD,
         .alloc = NP_PA_RANDOM,
         .udp3544 = 1,
         .symmetric = -2,
         .v6ok = 1,
         .want = NP_TEREDO_FAILS,
         .reason = NP_TEREDO_R_SYMMETRIC,
         .fix = NP_TEREDO_FIX_NATIVE_IPV6},
        {.name = "symmetric sequential",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_APD,
         .alloc = NP_PA_SEQUENTIAL,
         .udp3544 = 1,
         .symmetric = -2,
         .want = NP_TEREDO_UNCERTAIN,
         .reason = NP_TEREDO_R_SYMMETRIC_PORTS,
         .fix = NP_TEREDO_FIX_ROUTER_EIM},
        {.name = "qualification symmetric",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_EI,
         .udp3544 = -1,
         .symmetric = 1,
         .want = NP_TEREDO_FAILS,
         .reason = NP_TEREDO_R_SYMMETRIC,
         .fix = NP_TEREDO_FIX_ROUTER_EIM},
        {.name = "cone, 3544 untested",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_EI,
         .udp3544 = -1,
         .symmetric = -2,
         .want = NP_TEREDO_QUALIFIES,
         .reason = NP_TEREDO_R_3544_UNTESTED,
         .fix = NP_TEREDO_FIX_NONE},
        {.name = "cone, qualified",
         .udp = NP_UDP_OK,
         .mapping = NP_BEH_EI,
         .udp3544 = -1,
         .symmetric = 0,
         .want = NP_TEREDO_QUALIFIES,
         .reason = NP_TEREDO_R_NONE,
         .fix = NP_TEREDO_FIX_NONE},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        np_nat_verdict v;
        np_teredo_qual q;
        np_ipv6_report r6;
        np_teredo_input in;
        np_teredo_outlook o;

        memset(&v, 0, sizeof(v));
        v.udp = rows[i].udp;
        v.mapping = rows[i].mapping;
        v.port_alloc = rows[i].alloc;
        memset(&q, 0, sizeof(q));
        q.symmetric = rows[i].symmetric;
        if (rows[i].symmetric >= 0)
            q.answered_primary = q.answered_secondary = 1;
        memset(&r6, 0, sizeof(r6));
        r6.state = NP_V6_OK;
        r6.nat = NP_V6NAT_NONE;
        memset(&in, 0, sizeof(in));
        in.v4 = &v;
        in.udp3544 = rows[i].udp3544;
        in.qual = rows[i].symmetric == -2 ? NULL : &q;
        in.v6 = rows[i].v6ok ? &r6 : NULL;
        np_teredo_assess(&in, &o);
        print_message("%s\n", rows[i].name);
        assert_int_equal(o.verdict, rows[i].want);
        assert_int_equal(o.reason, rows[i].reason);
        assert_int_equal(o.fix, rows[i].fix);
        assert_int_equal(o.native_ipv6, rows[i].v6ok);
        assert_non_null(o.why);
        assert_non_null(o.fix_text);
        assert_true(o.source[0] == 'T');
    }
    assert_string_equal(np_teredo_verdict_name(NP_TEREDO_FAILS), "fails");
    assert_string_equal(np_teredo_reason_name(NP_TEREDO_R_3544_BLOCKED),
                        "udp-3544-blocked");
    assert_string_equal(np_teredo_fix_name(NP_TEREDO_FIX_ROUTER_EIM),
                        "router-eim");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_rs),
        cmocka_unit_test(decode_ra),
        cmocka_unit_test(rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
