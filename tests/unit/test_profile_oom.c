/*
 * Allocation-failure ("torture") test of the profile module, after curl's
 * torture mode: the Nth allocation fails, for every N until the whole flow
 * succeeds; each run must return NP_OK or a clean error and free everything.
 *
 * malloc and friends are interposed here (glibc's __libc_* underneath), so
 * libnatpilot and cJSON go through the counter. Sanitizer builds replace
 * malloc themselves: there the test only runs the flow once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/profile.h"

#include "np_oom.h"

#define DATA NP_TEST_DATA "/profiles"

/* Everything a caller does with profiles; returns the first failure. */
static int flow(void)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;
    np_resolved *res = NULL;
    np_search_hit hits[4];
    const char *ids[] = {"call-of-duty-mw3", "minecraft-bedrock"};
    const char *words[] = {"minecraft", "bedrok"};
    size_t n;
    int r;

    if (cat == NULL)
        return NP_ENOMEM;
    np_diags_init(&d);
    r = np_catalog_load_dir(cat, DATA "/good", NP_LAYER_USER, &d, NULL);
    if (r == NP_OK)
        r = np_catalog_load_dir(cat, DATA "/override", NP_LAYER_CUSTOM, &d,
                                NULL);
    if (r == NP_OK)
        r = np_catalog_load_file(cat, DATA "/bad/games/overlapping-ports.json",
                                 NP_LAYER_CUSTOM, &d, NULL) == NP_EINVALID
                ? NP_OK
                : NP_ENOMEM;
    if (r == NP_OK)
        r = np_catalog_load_dir(cat, DATA "/bad/cycle", NP_LAYER_CUSTOM, &d,
                                NULL);
    if (r == NP_OK)
        r = np_catalog_check(cat, NP_LAYER_EMBEDDED, &d) == NP_EINVALID
                ? NP_OK
                : NP_ENOMEM;
    if (r == NP_OK)
        r = np_resolve(cat, ids, 2, NP_PLAT_XBOX, &res, NULL);
    if (r == NP_OK)
        r = np_catalog_search(cat, words, 2, 0, hits, 4, &n);
    np_resolved_free(res);
    np_diags_free(&d);
    np_catalog_free(cat);
    return r;
}

static void test_every_allocation_fails_once(void **state)
{
    long i, base;
    int r = NP_ENOMEM;

    (void)state;
#ifdef NP_NO_INTERPOSE
    assert_int_equal(flow(), NP_OK);
    skip();
#endif
    for (i = 0; i < 100000 && r != NP_OK; i++) {
        base = live;
        n_alloc = 0;
        fail_at = i;
        r = flow();
        fail_at = -1;
        if (live != base)
            print_error("allocation %ld failing leaks %ld blocks (r=%d)\n", i,
                        live - base, r);
        assert_int_equal(live, base);
        /* A failed allocation may only ever be reported as such, or as a
         * file that could not be read (opendir/fopen need memory too). */
        if (r != NP_OK && r != NP_ENOMEM && r != NP_EINVALID)
            fail_msg("allocation %ld failing gave %d", i, r);
    }
    assert_int_equal(r, NP_OK);
    print_message("flow succeeded after %ld allocation failures\n", i - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
