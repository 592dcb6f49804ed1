/* Unit tests of the JSON position index (src/lib/np_jsonpos.h, jsonpos.c):
 * the scanner's error offsets, line:column of an offset, JSON Pointers
 * (RFC 6901) for messages, whole-number range checks, type names. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "np_jsonpos.h"

/* --- line:column of a byte offset ------------------------------------- */

/* clang-format off */
static const struct linecol_case {
    const char *text;
    size_t off;
    unsigned line, col;
} linecol_cases[] = {
    {.text = "ab\ncd\n\nx", .off = 0, .line = 1, .col = 1},
    {.text = "ab\ncd\n\nx", .off = 1, .line = 1, .col = 2},
    {.text = "ab\ncd\n\nx", .off = 2, .line = 1, .col = 3}, /* the '\n' */
    {.text = "ab\ncd\n\nx", .off = 3, .line = 2, .col = 1},
    {.text = "ab\ncd\n\nx", .off = 6, .line = 3, .col = 1},
    {.text = "ab\ncd\n\nx", .off = 7, .line = 4, .col = 1},
    {.text = "ab\ncd\n\nx", .off = 8, .line = 4, .col = 2},   /* the end */
    {.text = "ab\ncd\n\nx", .off = 999, .line = 4, .col = 2}, /* clamped */
    {.text = "a\r\nb", .off = 2, .line = 1, .col = 3}, /* CR is a column */
    {.text = "a\r\nb", .off = 3, .line = 2, .col = 1},
    {.text = "\t\tx", .off = 2, .line = 1, .col = 3},     /* a tab is 1 byte */
    {.text = "\xc3\xa9x", .off = 2, .line = 1, .col = 3}, /* bytes, not chars */
    {.text = "", .off = 0, .line = 1, .col = 1},
};
/* clang-format on */

static void linecol_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(linecol_cases) / sizeof(linecol_cases[0]); i++) {
        const struct linecol_case *c = &linecol_cases[i];
        unsigned line = 0, col = 0;

        np__jpos_linecol(c->text, strlen(c->text), c->off, &line, &col);
        if (line != c->line || col != c->col)
            fail_msg("row %zu (offset %zu): %u:%u, want %u:%u", i, c->off, line,
                     col, c->line, c->col);
    }
}

/* --- the scanner: where the first error is and what it says ------------ */

/* clang-format off */
static const struct scan_case {
    const char *text;
    int rc;
    size_t off;      /* error offset when rc is -1 */
    const char *msg; /* the message when rc is -1 */
} scan_cases[] = {
    {.text = "{\"a\": [1, 2.5e3, -0, true, false, null, \"\\u00e9\"]}", .rc = 0},
    {.text = " \n[ ]\n ", .rc = 0},
    {.text = "", .rc = -1, .off = 0, .msg = "expected a JSON value, found the end of the input"},
    {.text = "{\"a\": 1,}", .rc = -1, .off = 8, .msg = "trailing comma before '}'"},
    {.text = "[1,]", .rc = -1, .off = 3, .msg = "trailing comma before ']'"},
    {.text = "{\"a\" 1}", .rc = -1, .off = 5, .msg = "expected ':' after the key, found '1'"},
    {.text = "{a: 1}", .rc = -1, .off = 1, .msg = "expected a string key or '}', found 'a'"},
    {.text = "[1 2]", .rc = -1, .off = 3, .msg = "expected ',' or ']' after an array element, found '2'"},
    {.text = "[01]", .rc = -1, .off = 1, .msg = "invalid number: leading zero"},
    {.text = "[1.]", .rc = -1, .off = 1, .msg = "invalid number: expected a digit after '.'"},
    {.text = "[1e]", .rc = -1, .off = 1, .msg = "invalid number: expected a digit in the exponent"},
    {.text = "[-]", .rc = -1, .off = 1, .msg = "invalid number: expected a digit"},
    {.text = "[\"ab", .rc = -1, .off = 1, .msg = "unterminated string"},
    {.text = "[\"a\nb\"]", .rc = -1, .off = 1, .msg = "unterminated string (a string cannot contain a line break)"},
    {.text = "[\"a\tb\"]", .rc = -1, .off = 3, .msg = "control character in string (escape it)"},
    {.text = "[\"\\x\"]", .rc = -1, .off = 2, .msg = "invalid escape: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"},
    {.text = "[\"\\u12g4\"]", .rc = -1, .off = 2, .msg = "invalid \\u escape: expected 4 hex digits"},
    {.text = "[\"\\u0000\"]", .rc = -1, .off = 2, .msg = "\\u0000 is not allowed"},
    {.text = "[tru]", .rc = -1, .off = 1, .msg = "expected a JSON value (object, array, string, number, true, false or null), found 't'"},
    {.text = "{} {}", .rc = -1, .off = 3, .msg = "unexpected content after the JSON value"},
    {.text = "\xef\xbb\xbf{}", .rc = -1, .off = 0, .msg = "byte order mark or stray byte: a JSON file must start with '{'"},
    {.text = "[[[[1]]]]", .rc = -1, .off = 3, .msg = "nesting deeper than 3 levels"},
    {.text = "[[[1]]]", .rc = 0},
};
/* clang-format on */

static void scan_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
        const struct scan_case *c = &scan_cases[i];
        np__jpos jp;
        size_t off = 12345;
        char msg[200];
        int rc;

        memset(&jp, 0, sizeof(jp));
        rc = np__jpos_scan(&jp, c->text, strlen(c->text), 3, &off, msg,
                           sizeof(msg));
        if (rc != c->rc)
            fail_msg("row %zu (%s): rc %d, want %d (%s)", i, c->text, rc, c->rc,
                     msg);
        if (rc == -1 && (off != c->off || strcmp(msg, c->msg) != 0))
            fail_msg("row %zu (%s): at %zu \"%s\", want at %zu \"%s\"", i,
                     c->text, off, msg, c->off, c->msg);
        np__jpos_free(&jp);
        assert_null(jp.nodes);
    }
}

/* The index is shaped like cJSON's tree: members in order, with offsets. */
static void scan_nodes(void **state)
{
    static const char text[] = "{\"a\": 1,\n \"b\": [true, {}], \"a\": \"x\"}";
    np__jpos jp;
    size_t off;
    char msg[100];
    const np__jnode *n;

    (void)state;
    memset(&jp, 0, sizeof(jp));
    assert_int_equal(
        np__jpos_scan(&jp, text, strlen(text), 8, &off, msg, sizeof(msg)), 0);
    assert_int_equal(jp.n, 6); /* root, a, b, true, {}, a */
    n = jp.nodes;
    assert_int_equal(n[0].off, 0);
    assert_int_equal(n[0].child, 1);
    assert_int_equal(n[0].next, NP__JNONE);
    /* "a": 1 */
    assert_int_equal(n[1].key_off, 1);
    assert_int_equal(n[1].off, 6);
    assert_int_equal(n[1].next, 2);
    /* "b": [...] on line 2 */
    assert_int_equal(n[2].key_off, 10);
    assert_int_equal(n[2].off, 15);
    assert_int_equal(n[2].child, 3);
    assert_int_equal(n[3].off, 16);
    assert_int_equal(n[3].key_off, 16); /* array elements: key_off is off */
    assert_int_equal(n[3].next, 4);
    assert_int_equal(n[4].child, NP__JNONE);
    assert_int_equal(n[4].next, NP__JNONE);
    /* the duplicate key is kept, as cJSON keeps it */
    assert_int_equal(n[2].next, 5);
    assert_int_equal(n[5].key_off, 27);
    {
        unsigned line, col;

        np__jpos_linecol(text, strlen(text), n[2].key_off, &line, &col);
        assert_int_equal(line, 2);
        assert_int_equal(col, 2);
    }
    np__jpos_free(&jp);
    np__jpos_free(NULL);
}

/* --- JSON Pointers ------------------------------------------------------ */

/* clang-format off */
static const struct ptr_case {
    const char *key;
    size_t size;     /* of the path buffer */
    const char *out; /* "/"-prefixed, escaped, possibly cut */
} ptr_cases[] = {
    {.key = "inbound", .size = 64, .out = "/inbound"},
    {.key = "", .size = 64, .out = "/"},
    {.key = "a/b", .size = 64, .out = "/a~1b"},
    {.key = "m~n", .size = 64, .out = "/m~0n"},
    {.key = "~1", .size = 64, .out = "/~01"}, /* ~ first, so ~1 stays two */
    {.key = "/~", .size = 64, .out = "/~1~0"},
    {.key = "abcdefghij", .size = 8, .out = "/abcde"},
    {.key = "ab~", .size = 5, .out = "/ab"}, /* never half an escape */
    {.key = "ab/", .size = 6, .out = "/ab~1"},
    {.key = "x", .size = 2, .out = "/"},
    {.key = "x", .size = 1, .out = ""},
};
/* clang-format on */

static void pointer_keys(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ptr_cases) / sizeof(ptr_cases[0]); i++) {
        const struct ptr_case *c = &ptr_cases[i];
        char path[80];
        size_t len = 0, old;

        memset(path, '#', sizeof(path));
        path[0] = '\0';
        old = np__jptr_push_key(path, c->size, &len, c->key);
        assert_int_equal(old, 0);
        if (strcmp(path, c->out) != 0)
            fail_msg("row %zu (\"%s\" in %zu): \"%s\", want \"%s\"", i, c->key,
                     c->size, path, c->out);
        assert_int_equal(len, strlen(path));
        assert_true(len < c->size);
        assert_int_equal(path[c->size], '#'); /* nothing past size */
    }
}

static void pointer_nesting(void **state)
{
    char path[32];
    size_t len = 0, a, b, c;

    (void)state;
    path[0] = '\0';
    a = np__jptr_push_key(path, sizeof(path), &len, "devices");
    b = np__jptr_push_idx(path, sizeof(path), &len, 12);
    c = np__jptr_push_key(path, sizeof(path), &len, "tcp/udp");
    assert_string_equal(path, "/devices/12/tcp~1udp");
    np__jptr_pop(path, &len, c);
    assert_string_equal(path, "/devices/12");
    np__jptr_pop(path, &len, b);
    assert_string_equal(path, "/devices");
    assert_int_equal(len, 8);
    np__jptr_pop(path, &len, a);
    assert_string_equal(path, "");
    assert_int_equal(len, 0);
}

/* clang-format off */
static const struct idx_case {
    const char *prefix;
    size_t idx, size;
    const char *out;
} idx_cases[] = {
    {.prefix = "", .idx = 0, .size = 16, .out = "/0"},
    {.prefix = "/a", .idx = 12345, .size = 16, .out = "/a/12345"},
    {.prefix = "/a", .idx = SIZE_MAX, .size = 32, .out = "/a/18446744073709551615"},
    {.prefix = "/a", .idx = 12345, .size = 9, .out = "/a/12345"},
    {.prefix = "/a", .idx = 12345, .size = 8, .out = "/a"}, /* all or nothing */
    {.prefix = "", .idx = 7, .size = 2, .out = ""},
};
/* clang-format on */

static void pointer_indexes(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(idx_cases) / sizeof(idx_cases[0]); i++) {
        const struct idx_case *c = &idx_cases[i];
        char path[64];
        size_t len = strlen(c->prefix), old;

        memset(path, '#', sizeof(path));
        memcpy(path, c->prefix, len + 1);
        old = np__jptr_push_idx(path, c->size, &len, c->idx);
        assert_int_equal(old, strlen(c->prefix));
        if (strcmp(path, c->out) != 0)
            fail_msg("row %zu: \"%s\", want \"%s\"", i, path, c->out);
        assert_int_equal(len, strlen(path));
        assert_int_equal(path[c->size], '#');
    }
}

/* --- whole numbers in a range ------------------------------------------ */

/* clang-format off */
static const struct whole_case {
    double v;
    int64_t lo, hi;
    int ok;
    int64_t out;
} whole_cases[] = {
    {.v = 1, .lo = 1, .hi = 65535, .ok = 1, .out = 1},
    {.v = 65535, .lo = 1, .hi = 65535, .ok = 1, .out = 65535},
    {.v = 0, .lo = 1, .hi = 65535, .ok = 0},
    {.v = 65536, .lo = 1, .hi = 65535, .ok = 0},
    {.v = 30.5, .lo = 0, .hi = 100, .ok = 0},
    {.v = 0.000001, .lo = 0, .hi = 100, .ok = 0},
    {.v = -0.0, .lo = 0, .hi = 100, .ok = 1, .out = 0},
    {.v = -5, .lo = -10, .hi = -1, .ok = 1, .out = -5},
    {.v = 7, .lo = 7, .hi = 7, .ok = 1, .out = 7},
    {.v = 1e300, .lo = 0, .hi = 86400, .ok = 0},
    {.v = -1e300, .lo = 0, .hi = 86400, .ok = 0},
    {.v = 1e300, .lo = INT64_MIN, .hi = INT64_MAX, .ok = 0},
    {.v = -1e300, .lo = INT64_MIN, .hi = INT64_MAX, .ok = 0},
    {.v = 9007199254740992.0, .lo = 0, .hi = INT64_C(1) << 53, .ok = 1, .out = INT64_C(1) << 53},
    {.v = 9007199254740994.0, .lo = 0, .hi = INT64_C(1) << 53, .ok = 0},
    /* 2^63 rounds to (double)INT64_MAX but does not fit an int64_t */
    {.v = 9223372036854775808.0, .lo = 0, .hi = INT64_MAX, .ok = 0},
    {.v = -9223372036854775808.0, .lo = INT64_MIN, .hi = 0, .ok = 1, .out = INT64_MIN},
};
/* clang-format on */

static void whole_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(whole_cases) / sizeof(whole_cases[0]); i++) {
        const struct whole_case *c = &whole_cases[i];
        cJSON *v = cJSON_CreateNumber(c->v);
        int64_t out = 4242;
        int ok;

        assert_non_null(v);
        ok = np__json_whole(v, c->lo, c->hi, &out);
        if (ok != c->ok)
            fail_msg("row %zu (%g in [%lld, %lld]): %d, want %d", i, c->v,
                     (long long)c->lo, (long long)c->hi, ok, c->ok);
        /* out is written only on success */
        assert_int_equal(out, ok ? c->out : 4242);
        cJSON_Delete(v);
    }
}

static void whole_non_numbers(void **state)
{
    cJSON *items[] = {
        cJSON_CreateString("5"),      cJSON_CreateTrue(),
        cJSON_CreateNull(),           cJSON_CreateArray(),
        cJSON_CreateNumber(NAN),      cJSON_CreateNumber(INFINITY),
        cJSON_CreateNumber(-INFINITY)};
    size_t i;
    int64_t out = 4242;

    (void)state;
    for (i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        assert_non_null(items[i]);
        assert_int_equal(np__json_whole(items[i], INT64_MIN, INT64_MAX, &out),
                         0);
        cJSON_Delete(items[i]);
    }
    assert_int_equal(np__json_whole(NULL, 0, 1, &out), 0);
    assert_int_equal(out, 4242);
}

/* --- type names for messages --------------------------------------------*/

static void type_names(void **state)
{
    static const char doc[] = "[\"s\", 1.5, true, false, null, [], {}]";
    static const char *const want[] = {"a string",  "a number", "a boolean",
                                       "a boolean", "null",     "an array",
                                       "an object"};
    cJSON *root = cJSON_Parse(doc), *it;
    size_t i = 0;

    (void)state;
    assert_non_null(root);
    cJSON_ArrayForEach(it, root)
    {
        assert_true(i < sizeof(want) / sizeof(want[0]));
        assert_string_equal(np__json_type_name(it), want[i]);
        i++;
    }
    assert_int_equal(i, sizeof(want) / sizeof(want[0]));
    cJSON_Delete(root);
    assert_string_equal(np__json_type_name(NULL), "an invalid value");
    it = cJSON_CreateRaw("1");
    assert_string_equal(np__json_type_name(it), "an invalid value");
    cJSON_Delete(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linecol_table),   cmocka_unit_test(scan_table),
        cmocka_unit_test(scan_nodes),      cmocka_unit_test(pointer_keys),
        cmocka_unit_test(pointer_nesting), cmocka_unit_test(pointer_indexes),
        cmocka_unit_test(whole_table),     cmocka_unit_test(whole_non_numbers),
        cmocka_unit_test(type_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
