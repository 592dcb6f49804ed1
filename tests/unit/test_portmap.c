/* Unit tests of portmap's pure parts: result-code classification, tags,
 * the RFC 6887 §8.5 epoch check, SSDP parsing, the PCP backend's codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "natpilot/portmap.h"
#include "np_cursor.h"
#include "portmap_int.h"

static void classify_upnp_table(void **state)
{
    static const struct {
        int code, third, leased;
        enum np_pm_outcome want;
    } t[] = {
        {0, 0, 1, NP_PM_OK},
        {606, 0, 1, NP_PM_POLICY},         /* allow 1024-65535 refuses 88 */
        {606, 1, 1, NP_PM_THIRD_PARTY},    /* secure_mode, IGDv2 */
        {718, 0, 1, NP_PM_CONFLICT},       /* ConflictInMappingEntry */
        {718, 1, 1, NP_PM_THIRD_PARTY},    /* secure_mode, IGDv1 */
        {729, 0, 1, NP_PM_CONFLICT},       /* ConflictWithOtherMechanisms */
        {725, 0, 1, NP_PM_PERMANENT_ONLY}, /* OnlyPermanentLeasesSupported */
        {402, 0, 1, NP_PM_PERMANENT_ONLY}, /* Invalid Args on a lease */
        {402, 0, 0, NP_PM_FAILED},         /* Invalid Args, permanent */
        {714, 0, 0, NP_PM_NOT_FOUND},
        {602, 0, 0, NP_PM_UNSUPPORTED},
        {501, 0, 1, NP_PM_FAILED},
        {-3, 0, 1, NP_PM_FAILED}, /* miniupnpc's own HTTP error */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(
            np_pm_classify_upnp(t[i].code, t[i].third, t[i].leased), t[i].want);
}

static void classify_pcp_natpmp(void **state)
{
    (void)state;
    assert_int_equal(np_pm_classify_pcp(0, 0), NP_PM_OK);
    assert_int_equal(np_pm_classify_pcp(2, 0), NP_PM_POLICY);
    assert_int_equal(np_pm_classify_pcp(2, 1), NP_PM_POLICY);
    assert_int_equal(np_pm_classify_pcp(5, 1), NP_PM_THIRD_PARTY);
    assert_int_equal(np_pm_classify_pcp(5, 0), NP_PM_UNSUPPORTED);
    assert_int_equal(np_pm_classify_pcp(11, 0), NP_PM_CONFLICT);
    assert_int_equal(np_pm_classify_pcp(1, 0), NP_PM_UNSUPPORTED);
    assert_int_equal(np_pm_classify_pcp(8, 0), NP_PM_FAILED);
    assert_int_equal(np_pm_classify_pcp(200, 0), NP_PM_FAILED);
    assert_int_equal(np_pm_classify_natpmp(0), NP_PM_OK);
    assert_int_equal(np_pm_classify_natpmp(2), NP_PM_POLICY);
    assert_int_equal(np_pm_classify_natpmp(1), NP_PM_UNSUPPORTED);
    assert_int_equal(np_pm_classify_natpmp(4), NP_PM_FAILED);
    assert_non_null(strstr(np_pm_pcp_result_str(2), "NOT_AUTHORIZED"));
    assert_non_null(strstr(np_pm_pcp_result_str(5), "THIRD_PARTY"));
    assert_string_equal(np_pm_pcp_result_str(14), "unknown PCP result code");
    assert_string_equal(np_pm_pcp_result_str(-1), "unknown PCP result code");
    assert_string_equal(np_pm_upnp_error_str(718), "ConflictInMappingEntry");
    assert_string_equal(np_pm_outcome_name(NP_PM_THIRD_PARTY),
                        "third-party-refused");
}

static void tags(void **state)
{
    char d[NP_PM_DESC_MAX], small[12];
    char longlabel[200];

    (void)state;
    assert_string_equal(np_pm_describe(d, sizeof(d), "xbox udp/3074"),
                        "natpilot:xbox udp/3074");
    assert_true(np_pm_is_ours(d));
    assert_false(np_pm_is_ours("PCP MAP 0011"));
    assert_false(np_pm_is_ours("natpilot")); /* no colon */
    assert_false(np_pm_is_ours(NULL));
    memset(longlabel, 'x', sizeof(longlabel) - 1);
    longlabel[sizeof(longlabel) - 1] = '\0';
    np_pm_describe(d, sizeof(d), longlabel);
    assert_int_equal(strlen(d), NP_PM_DESC_MAX - 1);
    assert_true(np_pm_is_ours(d));
    np_pm_describe(small, sizeof(small), "game");
    assert_string_equal(small, "natpilot:ga");
}

static void epoch(void **state)
{
    (void)state;
    /* steady: both clocks advanced 100 s */
    assert_true(np_pm_epoch_ok(1000, 50, 1100, 150));
    /* one second back is tolerated */
    assert_true(np_pm_epoch_ok(1000, 50, 999, 50));
    /* the server restarted: its epoch went back */
    assert_false(np_pm_epoch_ok(1000, 50, 10, 60));
    /* the server's clock ran far slower than ours (rebooted meanwhile) */
    assert_false(np_pm_epoch_ok(1000, 50, 1005, 350));
    /* or far faster */
    assert_false(np_pm_epoch_ok(1000, 50, 2000, 60));
    /* within the 1/16 + 2 s slack */
    assert_true(np_pm_epoch_ok(1000, 0, 1160, 170));
}

static char *load(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long sz;

    snprintf(path, sizeof(path), "%s/portmap/%s", NP_TEST_DATA, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    sz = ftell(f);
    rewind(f);
    buf = malloc((size_t)sz + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *len = (size_t)sz;
    return buf;
}

static void ssdp(void **state)
{
    char loc[256], tiny[16];
    size_t len;
    char *b;
    int ver = 0;

    (void)state;
    b = load("ssdp-miniupnpd-igd2.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 1);
    assert_string_equal(loc, "http://198.18.0.1:37915/rootDesc.xml");
    assert_int_equal(ver, 2);
    /* no room for the URL: refused, nothing half-written */
    assert_int_equal(np_pm_ssdp_parse(b, len, tiny, sizeof(tiny), &ver), 0);
    assert_string_equal(tiny, "");
    /* cut anywhere: never reads past len */
    for (size_t n = 0; n < len; n++) {
        char *c = malloc(n ? n : 1);

        memcpy(c, b, n);
        (void)np_pm_ssdp_parse(c, n, loc, sizeof(loc), &ver);
        free(c);
    }
    free(b);

    b = load("ssdp-lf-lowercase-v1.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 1);
    assert_string_equal(loc, "http://198.18.0.1:5000/rootDesc.xml");
    assert_int_equal(ver, 1);
    free(b);

    b = load("ssdp-renderer.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 0);
    free(b);
    b = load("ssdp-notify.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 0);
    free(b);
}

static void pcp_codec(void **state)
{
    uint8_t buf[NP__PCP_MAX], resp[60];
    size_t len;
    np__pcp_map m;
    np__pcp_resp r;
    np_addr client, third;
    np_error err;
    char s[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_addr_parse(&client, "198.18.0.10", 0, &err), NP_OK);
    assert_int_equal(np_addr_parse(&third, "198.18.0.11", 0, &err), NP_OK);
    memset(&m, 0, sizeof(m));
    memset(m.nonce, 0xab, 12);
    m.protocol = 17;
    m.internal_port = 3074;
    m.external_port = 3074;
    np_addr_from_ipv4(&m.external, "\0\0\0\0", 0);
    assert_int_equal(np__pcp_encode(buf, sizeof(buf), &len, NP__PCP_OP_MAP,
                                    7200, &client, &m, &third, 1),
                     NP_OK);
    /* 24 header + 36 MAP + 20 THIRD_PARTY + 4 PREFER_FAILURE */
    assert_int_equal(len, 84);
    assert_int_equal(buf[0], 2);
    assert_int_equal(buf[1], 1);
    assert_int_equal(np__get_u32(buf + 4), 7200);
    assert_int_equal(buf[18], 0xff); /* ::ffff:198.18.0.10 */
    assert_int_equal(buf[20], 198);
    assert_int_equal(buf[23], 10);
    assert_int_equal(buf[36], 17);
    assert_int_equal(np__get_u16(buf + 40), 3074);
    assert_int_equal(buf[60], NP__PCP_OPT_THIRD);
    assert_int_equal(np__get_u16(buf + 62), 16);
    assert_int_equal(buf[79], 11);
    assert_int_equal(buf[80], NP__PCP_OPT_PREFER);
    /* too small a buffer */
    assert_int_equal(np__pcp_encode(buf, 30, &len, NP__PCP_OP_MAP, 7200,
                                    &client, &m, NULL, 0),
                     NP_EBUFSIZE);

    /* a MAP response: turn the request into one */
    memset(resp, 0, sizeof(resp));
    memcpy(resp, buf, 60);
    resp[1] = 0x81;
    resp[3] = 0; /* SUCCESS */
    np__put_u32(resp + 4, 3600);
    np__put_u32(resp + 8, 77);
    memset(resp + 12, 0, 12);
    memcpy(resp + 24, m.nonce, 12);
    resp[36] = 17;
    np__put_u16(resp + 40, 3074);
    np__put_u16(resp + 42, 3075);
    memset(resp + 44, 0, 10);
    resp[54] = resp[55] = 0xff;
    resp[56] = 203;
    resp[57] = 0;
    resp[58] = 113;
    resp[59] = 2;
    assert_int_equal(np__pcp_decode(resp, 60, &r, &err), NP_OK);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.opcode, 1);
    assert_int_equal(r.lifetime, 3600);
    assert_int_equal(r.epoch, 77);
    assert_true(r.has_map);
    assert_memory_equal(r.map.nonce, m.nonce, 12);
    assert_int_equal(r.map.external_port, 3075);
    assert_string_equal(np_addr_ip_str(&r.map.external, s, sizeof(s)),
                        "203.0.113.2");
    /* every truncation fails cleanly */
    for (len = 0; len < 60; len++) {
        if (len == 24) { /* a bare header (error answers) is well-formed */
            assert_int_equal(np__pcp_decode(resp, len, &r, &err), NP_OK);
            assert_false(r.has_map);
            continue;
        }
        assert_int_not_equal(np__pcp_decode(resp, len, &r, &err), NP_OK);
    }
    /* a request (R bit clear) is not a response */
    resp[1] = 0x01;
    assert_int_equal(np__pcp_decode(resp, 60, &r, &err), NP_EPARSE);
    assert_string_equal(err.where, "byte 1");
    /* a NAT-PMP server's answer: version 0, result 1 */
    {
        const uint8_t nat[8] = {0, 0x81, 0, 1, 0, 0, 0, 9};

        assert_int_equal(np__pcp_decode(nat, sizeof(nat), &r, &err), NP_OK);
        assert_int_equal(r.version, 0);
        assert_int_equal(r.result, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_upnp_table),
        cmocka_unit_test(classify_pcp_natpmp),
        cmocka_unit_test(tags),
        cmocka_unit_test(epoch),
        cmocka_unit_test(ssdp),
        cmocka_unit_test(pcp_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
