/* Unit tests of portmap's pure parts: result-code classification, tags,
 * the RFC 6887 §8.5 epoch check, SSDP parsing. (The PCP codec is tested
 * in test_pcp.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "natpilot/portmap.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_upnp_table),
        cmocka_unit_test(classify_pcp_natpmp),
        cmocka_unit_test(tags),
        cmocka_unit_test(epoch),
        cmocka_unit_test(ssdp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
