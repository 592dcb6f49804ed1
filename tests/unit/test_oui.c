/* Unit tests: MAC vendor look-up in an oui.csv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/oui.h"

static const char csv[] =
    "Registry,Assignment,Organization Name,Organization Address\n"
    "MA-L,98E8FA,\"Nintendo Co.,Ltd\",\"11-1 HOKOTATE-CHO KYOTO JP\"\n"
    "MA-L,00D9D1,Sony Interactive Entertainment Inc.,Tokyo JP\n"
    "MA-L,7CED8D,Microsoft,\"One Microsoft Way Redmond\"\n"
    "MA-M,7CED8D,Not the large block,somewhere\n";

static void test_find(void **state)
{
    static const struct {
        uint8_t mac[6];
        int rc;
        const char *vendor, *hint;
    } cases[] = {
        {{0x98, 0xe8, 0xfa, 1, 2, 3}, NP_OK, "Nintendo Co.,Ltd", "switch"},
        {{0x00, 0xd9, 0xd1, 0, 0, 0},
         NP_OK,
         "Sony Interactive Entertainment Inc.",
         "playstation"},
        {{0x7c, 0xed, 0x8d, 9, 9, 9}, NP_OK, "Microsoft", "xbox"},
        {{0x02, 0x00, 0x00, 0, 0, 1}, NP_ENOTFOUND, "", NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char vendor[64];
        np_error err;
        int rc = np_oui_find(csv, sizeof(csv) - 1, cases[i].mac, vendor,
                             sizeof(vendor), &err);
        assert_int_equal(rc, cases[i].rc);
        assert_string_equal(vendor, cases[i].vendor);
        if (cases[i].hint == NULL)
            assert_null(np_oui_console_hint(rc == NP_OK ? vendor : NULL));
        else
            assert_string_equal(np_oui_console_hint(vendor), cases[i].hint);
    }
}

static void test_malformed_line(void **state)
{
    static const char bad[] = "Registry,Assignment,Org,Addr\n"
                              "MA-L,98E8,\"short\",\"x\"\n";
    static const uint8_t mac[6] = {0x98, 0xe8, 0xfa, 0, 0, 0};
    char vendor[32];
    np_error err;

    (void)state;
    assert_int_equal(
        np_oui_find(bad, sizeof(bad) - 1, mac, vendor, sizeof(vendor), &err),
        NP_EPARSE);
    assert_string_equal(err.where, "line 2");
}

static void test_missing_file(void **state)
{
    static const uint8_t mac[6] = {0};
    char vendor[32];
    np_error err;

    (void)state;
    assert_int_equal(np_oui_lookup("/nonexistent/oui.csv", mac, vendor,
                                   sizeof(vendor), &err),
                     NP_ESYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_malformed_line),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
