/*
 * One test fixture read whole: NP_TEST_DATA/DIR/NAME (tests/data/...),
 * NUL-terminated, its length in *len; the test fails if it cannot be read.
 * Free it with free(). Include after <cmocka.h>.
 */
#ifndef NP_TEST_FIXTURE_H
#define NP_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

static char *np_fixture(const char *dir, const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s/%s", NP_TEST_DATA, dir, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif /* NP_TEST_FIXTURE_H */
