/* Unit tests of the catalog index parser, path checks and digests
 * (src/lib/catalog.c). Fixtures: tests/data/catalog/{good,bad}/. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "natpilot/catalog.h"
#include "np_hex.h"

#include "np_fixture.h"
#include "np_catalog_int.h"

/* --- path safety -------------------------------------------------------- */

static const struct {
    const char *path;
    const char *why; /* NULL: accepted; else a part of the message */
} path_cases[] = {
    {"games/ab.json", NULL},
    {"platforms/xbox-network.json", NULL},
    {"games/call-of-duty-black-ops-6.json", NULL},
    {"games/012345678901234567890123456789012345678901234567.json", NULL},
    {"games/01234567890123456789012345678901234567890123456789.json", "2..48"},
    {"", "empty path"},
    {"/games/ab.json", "absolute path"},
    {"/etc/passwd", "absolute path"},
    {"..", "'..'"},
    {"../games/ab.json", "'..'"},
    {"games/../ab.json", "'..'"},
    {"games/../../etc/x.json", "'..'"},
    {"games/..", "'..'"},
    {"games\\ab.json", "backslash"},
    {"games/ab.json\\", "backslash"},
    {"profiles/ab.json", "not under platforms/ or games/"},
    {"./games/ab.json", "not under platforms/ or games/"},
    {"Games/ab.json", "not under platforms/ or games/"},
    {"gamesx/ab.json", "not under platforms/ or games/"},
    {"games", "not under platforms/ or games/"},
    {"games/sub/ab.json", "subdirectory"},
    {"games//ab.json", "subdirectory"},
    {"games/ab.txt", "does not end in .json"},
    {"games/ab.json.bak", "does not end in .json"},
    {"games/ab", "does not end in .json"},
    {"games/.json", "2..48"},
    {"games/a.json", "2..48"},
    {"games/.index.json", "may only hold"},
    {"games/AB.json", "may only hold"},
    {"games/a b.json", "may only hold"},
    {"games/a_b.json", "may only hold"},
    {"games/a%2e.json", "may only hold"},
    {"games/ab?.json", "may only hold"},
    {"games/ab.json?x=.json", "may only hold"},
    {"games/a\xc3\xa9.json", "may only hold"},
    {"games/ab.JSON", "does not end in .json"},
    {"https://evil.example/games/ab.json", "not under platforms/ or games/"},
    {"games/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json",
     "longer than"},
};

static void test_path_check(void **state)
{
    size_t i;
    np_error err;

    (void)state;
    for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
        int r;
        np_error_clear(&err);
        r = np_catalog_path_check(path_cases[i].path, &err);
        if (path_cases[i].why == NULL) {
            if (r != NP_OK)
                fail_msg("'%s' refused: %s", path_cases[i].path, err.msg);
        } else {
            if (r != NP_EINVALID)
                fail_msg("'%s' accepted (want: %s)", path_cases[i].path,
                         path_cases[i].why);
            if (strstr(err.msg, path_cases[i].why) == NULL)
                fail_msg("'%s': message '%s' lacks '%s'", path_cases[i].path,
                         err.msg, path_cases[i].why);
        }
    }
    assert_int_equal(np_catalog_path_check(NULL, NULL), NP_EINVALID);
}

/* --- the index: good fixtures -------------------------------------------- */

static void test_index_good(void **state)
{
    np_catalog_index *idx = NULL;
    np_error err;
    char hex[65];
    size_t len;
    char *text;

    (void)state;
    text = np_fixture("catalog", "good/minimal.json", &len);
    assert_int_equal(np_catalog_index_parse("minimal", text, len, &idx, &err),
                     NP_OK);
    assert_int_equal(idx->schema, 1);
    assert_int_equal(idx->n_files, 1);
    assert_string_equal(idx->files[0].path, "games/ab.json");
    assert_int_equal(idx->files[0].size, 120);
    assert_int_equal(idx->total_size, 120);
    assert_string_equal(
        np__catalog_hex(idx->files[0].sha256, hex, sizeof(hex)),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    np_catalog_index_free(idx);
    free(text);

    text = np_fixture("catalog", "good/two.json", &len);
    assert_int_equal(np_catalog_index_parse("two", text, len, &idx, &err),
                     NP_OK);
    assert_int_equal(idx->n_files, 2);
    assert_string_equal(idx->files[0].path, "platforms/xbox-network.json");
    assert_string_equal(idx->files[1].path, "games/call-of-duty-mw3.json");
    assert_int_equal(idx->files[1].size, 1048576);
    assert_int_equal(idx->total_size, 2048 + 1048576);
    /* upper-case hex is accepted, and printed back in lower case */
    assert_string_equal(
        np__catalog_hex(idx->files[1].sha256, hex, sizeof(hex)),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    np_catalog_index_free(idx);
    free(text);

    text = np_fixture("catalog", "good/compact.json", &len);
    assert_int_equal(np_catalog_index_parse("compact", text, len, &idx, &err),
                     NP_OK);
    assert_int_equal(idx->n_files, 1);
    assert_string_equal(idx->files[0].path, "games/a-b-c-d.json");
    np_catalog_index_free(idx);
    free(text);
}

/* --- the index: bad fixtures -----------------------------------------------
 */

static const struct {
    const char *file;
    int code;
    const char *where; /* part of err.where ("NAME:line:col: /path") */
    const char *msg;   /* part of err.msg */
} bad_cases[] = {
    {"not-json", NP_EPARSE, "idx:3:1", "not JSON"},
    {"trailing-comma", NP_EPARSE, "idx:4:", "not JSON"},
    {"trailing-garbage", NP_EPARSE, "idx:7:1", "not JSON"},
    {"not-object", NP_EINVALID, "idx:1:1: /", "must be a JSON object"},
    {"schema-2", NP_EINVALID, "idx:2:13: /schema", "unsupported index schema"},
    {"schema-string", NP_EINVALID, "/schema", "unsupported index schema"},
    {"no-schema", NP_EINVALID, "idx:1:1: /", "missing \"schema\""},
    {"no-files", NP_EINVALID, "idx:1:1: /", "missing \"files\""},
    {"files-not-array", NP_EINVALID, "/files", "must be an array"},
    {"files-empty", NP_EINVALID, "/files", "lists no files"},
    {"unknown-key-top", NP_EINVALID, "idx:3:3: /", "unknown key \"version\""},
    {"unknown-key-entry", NP_EINVALID, "/files/0", "unknown key \"url\""},
    {"duplicate-key", NP_EINVALID, "/files/0", "duplicate key \"size\""},
    {"entry-not-object", NP_EINVALID, "idx:4:5: /files/0", "must be an object"},
    {"missing-path", NP_EINVALID, "/files/0", "missing \"path\""},
    {"missing-sha256", NP_EINVALID, "/files/0", "missing \"sha256\""},
    {"missing-size", NP_EINVALID, "/files/0", "missing \"size\""},
    {"path-not-string", NP_EINVALID, "/files/0/path", "must be a string"},
    {"path-dotdot", NP_EINVALID, "idx:4:14: /files/0/path", "'..' in path"},
    {"path-dotdot-start", NP_EINVALID, "/files/0/path", "'..' in path"},
    {"path-absolute", NP_EINVALID, "/files/0/path", "absolute path"},
    {"path-backslash", NP_EINVALID, "/files/0/path", "backslash"},
    {"path-outside", NP_EINVALID, "/files/0/path", "not under platforms/"},
    {"path-subdir", NP_EINVALID, "/files/0/path", "subdirectory"},
    {"path-uppercase", NP_EINVALID, "/files/0/path", "may only hold"},
    {"path-not-json", NP_EINVALID, "/files/0/path", "does not end in .json"},
    {"path-id-short", NP_EINVALID, "/files/0/path", "2..48"},
    {"path-dot-file", NP_EINVALID, "/files/0/path", "may only hold"},
    {"path-duplicate", NP_EINVALID, "idx:5:14: /files/1/path", "listed twice"},
    {"id-in-both-dirs", NP_EINVALID, "idx:5:14: /files/1/path",
     "ids are unique"},
    {"sha-short", NP_EINVALID, "idx:4:41: /files/0/sha256", "64 hex digits"},
    {"sha-nonhex", NP_EINVALID, "/files/0/sha256",
     "not a hex digit at "
     "character 11"},
    {"sha-number", NP_EINVALID, "/files/0/sha256", "must be a string"},
    {"size-zero", NP_EINVALID, "/files/0/size", "whole number"},
    {"size-negative", NP_EINVALID, "/files/0/size", "whole number"},
    {"size-fraction", NP_EINVALID, "/files/0/size", "whole number"},
    {"size-too-big", NP_EINVALID, "/files/0/size", "whole number"},
    {"size-string", NP_EINVALID, "/files/0/size", "must be a number"},
};

static void test_index_bad(void **state)
{
    size_t i, len;
    char name[128];

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        np_catalog_index *idx = (np_catalog_index *)&idx; /* must be reset */
        np_error err;
        char *text;
        int r;

        snprintf(name, sizeof(name), "bad/%s.json", bad_cases[i].file);
        text = np_fixture("catalog", name, &len);
        np_error_clear(&err);
        r = np_catalog_index_parse("idx", text, len, &idx, &err);
        if (r != bad_cases[i].code)
            fail_msg("%s: got %d (%s: %s), want %d", bad_cases[i].file, r,
                     err.where, err.msg, bad_cases[i].code);
        if (idx != NULL)
            fail_msg("%s: *out not NULL on error", bad_cases[i].file);
        if (err.code != r)
            fail_msg("%s: err.code %d != %d", bad_cases[i].file, err.code, r);
        if (strstr(err.where, bad_cases[i].where) == NULL)
            fail_msg("%s: where '%s' lacks '%s'", bad_cases[i].file, err.where,
                     bad_cases[i].where);
        if (strstr(err.msg, bad_cases[i].msg) == NULL)
            fail_msg("%s: message '%s' lacks '%s'", bad_cases[i].file, err.msg,
                     bad_cases[i].msg);
        free(text);
    }
}

static void test_index_limits(void **state)
{
    np_catalog_index *idx = NULL;
    np_error err;
    char *big, *p;
    size_t i, n = NP_CATALOG_FILES_MAX + 1, cap;
    int r;

    (void)state;
    /* an index above the size cap is refused before it is parsed */
    assert_int_equal(np_catalog_index_parse(
                         "big", "{}", NP_CATALOG_INDEX_MAX + 1, &idx, &err),
                     NP_ETOOBIG);
    assert_null(idx);
    assert_non_null(strstr(err.msg, "more than"));

    /* more files than allowed */
    cap = n * 128 + 64;
    big = malloc(cap);
    assert_non_null(big);
    p = big;
    p += snprintf(p, cap, "{\"schema\":1,\"files\":[");
    for (i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - big),
                      "%s{\"path\":\"games/g%zu.json\",\"sha256\":\"%064d\","
                      "\"size\":1}",
                      i ? "," : "", i, 0);
    p += snprintf(p, cap - (size_t)(p - big), "]}");
    r = np_catalog_index_parse("many", big, (size_t)(p - big), &idx, &err);
    assert_int_equal(r, NP_EINVALID);
    assert_non_null(strstr(err.msg, "more than the 4096 allowed"));
    free(big);

    /* empty input and bad arguments */
    assert_int_equal(np_catalog_index_parse("e", "", 0, &idx, &err), NP_EPARSE);
    assert_int_equal(np_catalog_index_parse("e", NULL, 3, &idx, &err),
                     NP_EINVAL);
    assert_int_equal(np_catalog_index_parse("e", "{}", 2, NULL, &err),
                     NP_EINVAL);
    np_catalog_index_free(NULL);
}

/* --- digests ----------------------------------------------------------------
 */

static void test_sha256(void **state)
{
    static const struct {
        const char *in, *hex;
    } v[] = {
        /* FIPS 180-2 examples */
        {"",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    unsigned char d[32];
    char hex[65], small[10];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_int_equal(np__catalog_sha256(v[i].in, strlen(v[i].in), d),
                         NP_OK);
        assert_string_equal(np__catalog_hex(d, hex, sizeof(hex)), v[i].hex);
    }
    assert_string_equal(np__catalog_hex(d, small, sizeof(small)), "");
}

/* --- update: refusals that need no server ----------------------------------
 */

static void test_update_refusals(void **state)
{
    np_catalog_update_opts o;
    np_catalog_update_result res;
    np_error err;
    char dir[] = "/tmp/np-test-catalog.XXXXXX", cat[128];
    struct stat st;
    int r;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(cat, sizeof(cat), "%s/profiles", dir);
    memset(&o, 0, sizeof(o));
    o.dir = cat;

    /* only https */
    o.url = "http://127.0.0.1:1/index.json";
    np_catalog_update_result_init(&res);
    r = np_catalog_update(&o, &res, &err);
    assert_int_equal(r, NP_EINVAL);
    assert_non_null(strstr(err.msg, "only https://"));
    assert_string_equal(err.where, o.url);
    np_catalog_update_result_free(&res);

    o.url = "not a url";
    np_catalog_update_result_init(&res);
    assert_int_equal(np_catalog_update(&o, &res, &err), NP_EINVAL);
    np_catalog_update_result_free(&res);

    /* nothing listens on loopback port 1: refused, nothing installed */
    o.url = "https://127.0.0.1:1/index.json";
    o.connect_timeout_ms = 2000;
    np_catalog_update_result_init(&res);
    r = np_catalog_update(&o, &res, &err);
    assert_int_equal(r, NP_EUNREACH);
    assert_string_equal(err.where, o.url);
    assert_false(res.updated);
    assert_string_equal(res.failed, o.url);
    assert_int_not_equal(lstat(cat, &st), 0);
    np_catalog_update_result_free(&res);

    assert_int_equal(np_catalog_update(NULL, &res, &err), NP_EINVAL);

    snprintf(cat, sizeof(cat), "%s/.profiles.lock", dir);
    unlink(cat);
    assert_int_equal(rmdir(dir), 0); /* nothing else was left behind */
}

/* The hex helpers the index digests and the state files' nonces share. */
static void test_hex(void **state)
{
    const uint8_t b[3] = {0x00, 0xab, 0xf1};
    uint8_t d[3];
    char s[7];

    (void)state;
    np__hex_encode(s, b, 3);
    assert_string_equal(s, "00abf1");
    assert_int_equal(np__hex_decode(d, 3, "00ABf1"), 0);
    assert_memory_equal(d, b, 3);
    assert_int_equal(np__hex_decode(d, 3, "00abf"), -1);   /* short */
    assert_int_equal(np__hex_decode(d, 3, "00abf1a"), -1); /* long */
    assert_int_equal(np__hex_decode(d, 3, "00agf1"), -1);  /* not hex */
    assert_int_equal(np__hex_decode(d, 3, NULL), -1);
    assert_int_equal(np__hex_digit('F'), 15);
    assert_int_equal(np__hex_digit('g'), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_path_check),
        cmocka_unit_test(test_index_good),
        cmocka_unit_test(test_index_bad),
        cmocka_unit_test(test_index_limits),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_update_refusals),
    };
    int r;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
