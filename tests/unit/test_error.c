/* Unit tests of the error values (include/natpilot/error.h, error.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/error.h"

/* Every status code and the name np_strerror gives it. */
/* clang-format off */
static const struct name_case {
    int code;
    const char *name;
} name_cases[] = {
    {.code = NP_OK, .name = "success"},
    {.code = NP_EINVAL, .name = "invalid argument"},
    {.code = NP_ENOMEM, .name = "out of memory"},
    {.code = NP_ESYS, .name = "system error"},
    {.code = NP_ETRUNC, .name = "truncated input"},
    {.code = NP_EPARSE, .name = "malformed input"},
    {.code = NP_EVERIFY, .name = "integrity check failed"},
    {.code = NP_ETIMEOUT, .name = "timed out"},
    {.code = NP_EUNREACH, .name = "network unreachable"},
    {.code = NP_EREFUSED, .name = "refused by peer"},
    {.code = NP_ENOTFOUND, .name = "not found"},
    {.code = NP_EUNSUPP, .name = "not supported"},
    {.code = NP_ECONFLICT, .name = "conflict"},
    {.code = NP_EBUFSIZE, .name = "buffer too small"},
    {.code = NP_EPROTO, .name = "protocol error"},
    {.code = NP_ECANCELED, .name = "cancelled"},
    {.code = NP_EEXIST, .name = "already exists"},
    {.code = NP_EINVALID, .name = "validation failed"},
    {.code = NP_ETOOBIG, .name = "too large"},
};
/* clang-format on */

#define N_CASES (sizeof(name_cases) / sizeof(name_cases[0]))

static void strerror_names_every_code(void **state)
{
    size_t i, j;

    (void)state;
    for (i = 0; i < N_CASES; i++) {
        const char *s = np_strerror(name_cases[i].code);

        assert_non_null(s);
        if (strcmp(s, name_cases[i].name) != 0)
            fail_msg("code %d: \"%s\", want \"%s\"", name_cases[i].code, s,
                     name_cases[i].name);
        /* one name per code: a reader can tell them apart */
        for (j = 0; j < i; j++)
            assert_string_not_equal(s, np_strerror(name_cases[j].code));
    }
}

/* The table above covers 0 down to the last code without a gap, so no
 * code of enum np_status falls through to "unknown error". */
static void strerror_table_is_complete(void **state)
{
    int code;

    (void)state;
    assert_int_equal(N_CASES, 1 - NP_ETOOBIG);
    for (code = NP_OK; code >= NP_ETOOBIG; code--)
        assert_string_not_equal(np_strerror(code), "unknown error");
}

static void strerror_unknown_codes(void **state)
{
    static const int unknown[] = {1, NP_ETOOBIG - 1, -1000, 1000, INT32_MIN};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
        assert_string_equal(np_strerror(unknown[i]), "unknown error");
}

static void set_fills_and_returns_code(void **state)
{
    np_error err;

    (void)state;
    memset(&err, 'x', sizeof(err));
    assert_int_equal(np_error_set(&err, NP_EPARSE, "file.json:3:7",
                                  "expected %s, found %d", "a string", 42),
                     NP_EPARSE);
    assert_int_equal(err.code, NP_EPARSE);
    assert_int_equal(err.sys_errno, 0);
    assert_string_equal(err.where, "file.json:3:7");
    assert_string_equal(err.msg, "expected a string, found 42");

    /* where NULL: empty location */
    assert_int_equal(np_error_set(&err, NP_ETIMEOUT, NULL, "no answer"),
                     NP_ETIMEOUT);
    assert_string_equal(err.where, "");
    assert_string_equal(err.msg, "no answer");

    /* a NULL error struct: the code still comes back */
    assert_int_equal(np_error_set(NULL, NP_ENOMEM, "x", "y"), NP_ENOMEM);
    assert_int_equal(np_error_sys(NULL, EIO, "x", "y"), NP_ESYS);
}

static void sys_appends_errno_text(void **state)
{
    np_error err;
    char want[NP_ERROR_MSG_MAX];

    (void)state;
    assert_int_equal(np_error_sys(&err, ENOENT, "/etc/natpilot.conf",
                                  "cannot open %s", "the config"),
                     NP_ESYS);
    assert_int_equal(err.code, NP_ESYS);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_string_equal(err.where, "/etc/natpilot.conf");
    snprintf(want, sizeof(want), "cannot open the config: %s",
             strerror(ENOENT));
    assert_string_equal(err.msg, want);

    /* errno 0: nothing appended */
    np_error_sys(&err, 0, NULL, "odd");
    assert_string_equal(err.msg, "odd");
    assert_int_equal(err.sys_errno, 0);
}

static void set_truncates_safely(void **state)
{
    char longw[NP_ERROR_WHERE_MAX * 2], longm[NP_ERROR_MSG_MAX * 2];
    np_error err;

    (void)state;
    memset(longw, 'w', sizeof(longw) - 1);
    longw[sizeof(longw) - 1] = '\0';
    memset(longm, 'm', sizeof(longm) - 1);
    longm[sizeof(longm) - 1] = '\0';
    np_error_set(&err, NP_EPARSE, longw, "%s", longm);
    /* cut, terminated, nothing written past the arrays (ASan watches) */
    assert_int_equal(strlen(err.where), NP_ERROR_WHERE_MAX - 1);
    assert_int_equal(strlen(err.msg), NP_ERROR_MSG_MAX - 1);
    assert_memory_equal(err.where, longw, NP_ERROR_WHERE_MAX - 1);

    /* a long message leaves no room for the errno text: still terminated */
    np_error_sys(&err, EACCES, NULL, "%s", longm);
    assert_int_equal(strlen(err.msg), NP_ERROR_MSG_MAX - 1);
    assert_int_equal(err.sys_errno, EACCES);
}

/* What np_error_format writes into a buffer of a given size. */
/* clang-format off */
static const struct format_case {
    const char *where, *msg;
    size_t size;
    const char *out;
} format_cases[] = {
    {.where = "byte 24", .msg = "bad cookie", .size = 64, .out = "byte 24: bad cookie"},
    {.where = "", .msg = "bad cookie", .size = 64, .out = "bad cookie"},
    {.where = "byte 24", .msg = "bad cookie", .size = 10, .out = "byte 24: "},
    {.where = "byte 24", .msg = "bad cookie", .size = 2, .out = "b"},
    {.where = "byte 24", .msg = "bad cookie", .size = 1, .out = ""},
    {.where = "", .msg = "", .size = 8, .out = ""},
};
/* clang-format on */

static void format_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
        const struct format_case *c = &format_cases[i];
        np_error err;
        char buf[80];

        memset(buf, '#', sizeof(buf));
        np_error_set(&err, NP_EPARSE, c->where, "%s", c->msg);
        assert_ptr_equal(np_error_format(&err, buf, c->size), buf);
        if (strcmp(buf, c->out) != 0)
            fail_msg("row %zu: \"%s\", want \"%s\"", i, buf, c->out);
        /* nothing beyond size was touched */
        assert_int_equal(buf[c->size], '#');
    }
}

static void format_edge_cases(void **state)
{
    char buf[8];

    (void)state;
    /* size 0: the buffer is not touched at all */
    buf[0] = '#';
    assert_ptr_equal(np_error_format(NULL, buf, 0), buf);
    assert_int_equal(buf[0], '#');
    /* a NULL error formats as an empty string */
    assert_string_equal(np_error_format(NULL, buf, sizeof(buf)), "");
}

static void clear_resets(void **state)
{
    np_error err;

    (void)state;
    np_error_sys(&err, EPERM, "somewhere", "something");
    np_error_clear(&err);
    assert_int_equal(err.code, NP_OK);
    assert_int_equal(err.sys_errno, 0);
    assert_string_equal(err.where, "");
    assert_string_equal(err.msg, "");
    np_error_clear(NULL); /* allowed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strerror_names_every_code),
        cmocka_unit_test(strerror_table_is_complete),
        cmocka_unit_test(strerror_unknown_codes),
        cmocka_unit_test(set_fills_and_returns_code),
        cmocka_unit_test(sys_appends_errno_text),
        cmocka_unit_test(set_truncates_safely),
        cmocka_unit_test(format_table),
        cmocka_unit_test(format_edge_cases),
        cmocka_unit_test(clear_resets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
