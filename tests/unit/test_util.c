/* Unit tests of the internal helper layer (src/lib/np_util.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "np_util.h"

/* One row per input: what np__parse_u64 answers under a maximum. */
static const struct u64_case {
    const char *in;
    uint64_t max;
    int rc;
    uint64_t out;
} u64_cases[] = {
    {.in = "0", .max = 10, .rc = NP_OK, .out = 0},
    {.in = "10", .max = 10, .rc = NP_OK, .out = 10},
    {.in = "11", .max = 10, .rc = NP_EINVAL},
    {.in = "65535", .max = 65535, .rc = NP_OK, .out = 65535},
    {.in = "65536", .max = 65535, .rc = NP_EINVAL},
    {.in = "18446744073709551615",
     .max = UINT64_MAX,
     .rc = NP_OK,
     .out = UINT64_MAX},
    {.in = "18446744073709551616", .max = UINT64_MAX, .rc = NP_EINVAL},
    {.in = "99999999999999999999999", .max = UINT64_MAX, .rc = NP_EINVAL},
    {.in = "", .max = 10, .rc = NP_EPARSE},
    {.in = "-1", .max = 10, .rc = NP_EPARSE},
    {.in = "+1", .max = 10, .rc = NP_EPARSE},
    {.in = " 1", .max = 10, .rc = NP_EPARSE},
    {.in = "1 ", .max = 10, .rc = NP_EPARSE},
    {.in = "0x10", .max = 100, .rc = NP_EPARSE},
    {.in = "1e3", .max = 10000, .rc = NP_EPARSE},
    {.in = NULL, .max = 10, .rc = NP_EPARSE},
};

static void parse_u64_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(u64_cases) / sizeof(u64_cases[0]); i++) {
        const struct u64_case *c = &u64_cases[i];
        uint64_t v = 424242;
        int rc = np__parse_u64(c->in, c->max, &v);

        if (rc != c->rc)
            fail_msg("row %zu (\"%s\"): rc %d, want %d", i,
                     c->in ? c->in : "(null)", rc, c->rc);
        assert_int_equal(v, rc == NP_OK ? c->out : 424242); /* untouched */
    }
}

static const struct i64_case {
    const char *in;
    int64_t min, max;
    int rc;
    int64_t out;
} i64_cases[] = {
    {.in = "-5", .min = -10, .max = 10, .rc = NP_OK, .out = -5},
    {.in = "-10", .min = -10, .max = 10, .rc = NP_OK, .out = -10},
    {.in = "-11", .min = -10, .max = 10, .rc = NP_EINVAL},
    {.in = "11", .min = -10, .max = 10, .rc = NP_EINVAL},
    {.in = "-0", .min = -10, .max = 10, .rc = NP_OK, .out = 0},
    {.in = "-1", .min = 0, .max = 10, .rc = NP_EINVAL},
    {.in = "3", .min = 5, .max = 10, .rc = NP_EINVAL},
    {.in = "-9223372036854775808",
     .min = INT64_MIN,
     .max = INT64_MAX,
     .rc = NP_OK,
     .out = INT64_MIN},
    {.in = "9223372036854775807",
     .min = INT64_MIN,
     .max = INT64_MAX,
     .rc = NP_OK,
     .out = INT64_MAX},
    {.in = "9223372036854775808",
     .min = INT64_MIN,
     .max = INT64_MAX,
     .rc = NP_EINVAL},
    {.in = "-", .min = -10, .max = 10, .rc = NP_EPARSE},
    {.in = "--1", .min = -10, .max = 10, .rc = NP_EPARSE},
};

static void parse_i64_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(i64_cases) / sizeof(i64_cases[0]); i++) {
        const struct i64_case *c = &i64_cases[i];
        int64_t v = 77;
        int rc = np__parse_i64(c->in, c->min, c->max, &v);

        if (rc != c->rc)
            fail_msg("row %zu (\"%s\"): rc %d, want %d", i, c->in, rc, c->rc);
        if (rc == NP_OK)
            assert_true(v == c->out);
        else
            assert_true(v == 77);
    }
}

static void scan_stops_at_non_digit(void **state)
{
    const char *s = "27015-27030", *p = s;
    uint64_t a = 0, b = 0;

    (void)state;
    assert_int_equal(np__scan_u64(&p, s + strlen(s), 65535, &a), NP_OK);
    assert_int_equal(a, 27015);
    assert_int_equal(*p, '-');
    p++;
    assert_int_equal(np__scan_u64(&p, s + strlen(s), 65535, &b), NP_OK);
    assert_int_equal(b, 27030);
    assert_ptr_equal(p, s + strlen(s));
    /* failure consumes nothing */
    p = s;
    assert_int_equal(np__scan_u64(&p, s + strlen(s), 100, &a), NP_EINVAL);
    assert_ptr_equal(p, s);
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/np-util.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void replace_then_load(void **state)
{
    char path[128], *text = NULL;
    size_t len = 0;
    struct stat st;
    np_error err;
    mode_t old = umask(077);

    (void)state;
    snprintf(path, sizeof(path), "%s/store.json", tmpdir);
    assert_int_equal(np__file_replace(path, "{\"v\":1}\n", 8, 0644, &err),
                     NP_OK);
    umask(old);
    /* the mode asked for, whatever the umask */
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(np__file_replace(path, "{\"v\":2}", 7, 0600, &err), NP_OK);
    assert_int_equal(np__file_load(path, 100, &text, &len, &err), NP_OK);
    assert_int_equal(len, 7);
    assert_string_equal(text, "{\"v\":2}"); /* NUL-terminated */
    free(text);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void load_cap_and_missing(void **state)
{
    char path[128], *text = (char *)1;
    size_t len;
    np_error err;

    (void)state;
    snprintf(path, sizeof(path), "%s/big", tmpdir);
    assert_int_equal(np__file_replace(path, "0123456789", 10, 0600, &err),
                     NP_OK);
    assert_int_equal(np__file_load(path, 10, &text, &len, &err), NP_OK);
    free(text);
    assert_int_equal(np__file_load(path, 9, &text, &len, &err), NP_ETOOBIG);
    assert_null(text);
    assert_string_equal(err.where, path);
    assert_non_null(strstr(err.msg, "larger than 9 bytes"));
    snprintf(path, sizeof(path), "%s/none", tmpdir);
    assert_int_equal(np__file_load(path, 9, &text, &len, &err), NP_ENOTFOUND);
    /* /proc files report size 0 and still load */
    assert_int_equal(
        np__file_load("/proc/self/stat", 1 << 16, &text, &len, &err), NP_OK);
    assert_true(len > 0);
    free(text);
}

static void replace_fails_cleanly(void **state)
{
    char path[160];
    np_error err;

    (void)state;
    snprintf(path, sizeof(path), "%s/no-such-dir/x", tmpdir);
    assert_int_equal(np__file_replace(path, "x", 1, 0600, &err), NP_ESYS);
    assert_true(err.sys_errno != 0);
}

static void clock_and_random(void **state)
{
    uint64_t a = np__mono_us(), b;
    uint8_t r1[16] = {0}, r2[16] = {0};

    (void)state;
    b = np__mono_us();
    assert_true(b >= a);
    assert_true(np__wall_s() > 1700000000);
    assert_int_equal(np__random(r1, sizeof(r1)), 0);
    assert_int_equal(np__random(r2, sizeof(r2)), 0);
    assert_memory_not_equal(r1, r2, sizeof(r1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_u64_table),
        cmocka_unit_test(parse_i64_table),
        cmocka_unit_test(scan_stops_at_non_digit),
        cmocka_unit_test_setup_teardown(replace_then_load, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test_setup_teardown(load_cap_and_missing, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test_setup_teardown(replace_fails_cleanly, make_tmpdir,
                                        remove_tmpdir),
        cmocka_unit_test(clock_and_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
