/*
 * Allocation-failure ("torture") test of the catalog index parser, after
 * curl's torture mode: the Nth allocation fails, for every N until the parse
 * succeeds; each run must return NP_OK or NP_ENOMEM and free everything.
 * malloc and friends are interposed (as in test_profile_oom.c); sanitizer
 * builds replace malloc themselves, so there the flow only runs once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/catalog.h"

#include "np_fixture.h"
#include "np_oom.h"

static const struct {
    const char *file;
    int want; /* the result when no allocation fails */
} cases[] = {
    {"good/two.json", NP_OK},
    {"good/minimal.json", NP_OK},
    {"bad/path-duplicate.json", NP_EINVALID},
    {"bad/unknown-key-entry.json", NP_EINVALID},
    {"bad/not-json.json", NP_EPARSE},
};

static void test_every_allocation_fails_once(void **state)
{
    size_t c, len;
    long i, base;
    int r;

    (void)state;
    for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char *text = np_fixture("catalog", cases[c].file, &len);

        r = NP_ENOMEM;
        for (i = 0; i < 100000 && r == NP_ENOMEM; i++) {
            np_catalog_index *idx = NULL;
            np_error err;

            base = live;
            n_alloc = 0;
            fail_at = i;
            r = np_catalog_index_parse("idx", text, len, &idx, &err);
            fail_at = -1;
            np_catalog_index_free(idx);
            if (live != base)
                print_error("%s: allocation %ld failing leaks %ld blocks\n",
                            cases[c].file, i, live - base);
            assert_int_equal(live, base);
            if (r != NP_ENOMEM && r != cases[c].want)
                fail_msg("%s: allocation %ld failing gave %d", cases[c].file, i,
                         r);
            if (r != NP_OK)
                assert_null(idx);
#ifdef NP_NO_INTERPOSE
            break;
#endif
        }
        assert_int_equal(r, cases[c].want);
        print_message("%s: right after %ld allocation failures\n",
                      cases[c].file, i - 1);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
