/* Unit tests: the web interface's gate (src/daemon/web_auth.c): secrets,
 * sessions, cookies, Host / Origin, CSRF, request size, rate limits, the
 * login body, the token file; and which addresses the interface accepts
 * (np_config_web_addr_ok). */
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

#include "natpilot/config.h"
#include "web_auth.h"

static const char SECRET[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void test_secret_equal(void **state)
{
    static const struct {
        const char *given;
        int eq;
    } cases[] = {
        {SECRET, 1},
        {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeef0", 0},
        {"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0",
         0},                     /* longer */
        {"0011223344556677", 0}, /* prefix */
        {"", 0},
        {NULL, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(np_web_secret_equal(cases[i].given, SECRET),
                         cases[i].eq);
    assert_int_equal(np_web_secret_equal("", ""), 0); /* no empty secret */
}

static void test_ct_memcmp(void **state)
{
    (void)state;
    assert_int_equal(np_web_ct_memcmp("abcd", "abcd", 4), 0);
    assert_int_equal(np_web_ct_memcmp("abcd", "abce", 4), 1);
    assert_int_equal(np_web_ct_memcmp("xbcd", "abcd", 4), 1);
    assert_int_equal(np_web_ct_memcmp("abcd", "abce", 3), 0);
    assert_int_equal(np_web_ct_memcmp("", "", 0), 0);
}

static void test_cookie(void **state)
{
    static const struct {
        const char *header;
        int found;
        const char *value;
    } cases[] = {
        {"np_session=abc", 1, "abc"},
        {"a=1; np_session=abc; b=2", 1, "abc"},
        {"a=1;np_session=abc ", 1, "abc"},
        {"xnp_session=abc", 0, ""},
        {"np_sessionx=abc", 0, ""},
        {"np_session", 0, ""},
        {"", 0, ""},
        {"np_session=0123456789abcdef0123456789abcdef", 0, ""}, /* too long */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[17] = "";
        int f =
            np_web_cookie_get(cases[i].header, "np_session", out, sizeof(out));

        assert_int_equal(f, cases[i].found);
        if (f)
            assert_string_equal(out, cases[i].value);
    }
    assert_int_equal(np_web_cookie_get(NULL, "np_session", NULL, 0), 0);
}

static void test_host_origin(void **state)
{
    static const char names[][48] = {"nas.local"};
    np_web_hosts lan, lo;
    np_addr a;
    const char *why;

    (void)state;
    assert_int_equal(np_addr_parse(&a, "192.168.1.5:8780", 0, NULL), NP_OK);
    np_web_hosts_init(&lan, &a, names, 1);
    assert_int_equal(np_addr_parse(&a, "127.0.0.1:8780", 0, NULL), NP_OK);
    np_web_hosts_init(&lo, &a, NULL, 0);

    assert_true(np_web_host_ok(&lan, "192.168.1.5:8780"));
    assert_true(np_web_host_ok(&lan, "NAS.local:8780"));
    assert_false(np_web_host_ok(&lan, "nas.local"));      /* port missing */
    assert_false(np_web_host_ok(&lan, "localhost:8780")); /* not loopback */
    assert_false(np_web_host_ok(&lan, "evil.example:8780"));
    assert_false(np_web_host_ok(&lan, NULL));
    assert_true(np_web_host_ok(&lo, "localhost:8780"));
    assert_true(np_web_host_ok(&lo, "127.0.0.1:8780"));

    assert_true(np_web_origin_ok(&lan, "192.168.1.5:8780",
                                 "http://192.168.1.5:8780", NULL, &why));
    assert_null(why);
    assert_true(np_web_origin_ok(&lan, "192.168.1.5:8780",
                                 "http://192.168.1.5:8780", "same-origin",
                                 &why));
    assert_false(np_web_origin_ok(&lan, "192.168.1.5:8780",
                                  "http://192.168.1.5:8780", "cross-site",
                                  &why));
    assert_false(np_web_origin_ok(&lan, "192.168.1.5:8780", NULL, NULL, &why));
    assert_string_equal(why, "no Origin header");
    assert_false(np_web_origin_ok(&lan, "192.168.1.5:8780",
                                  "http://evil.example", NULL, &why));
    assert_false(np_web_origin_ok(&lan, "192.168.1.5:8780",
                                  "https://192.168.1.5:8780", NULL, &why));
    assert_false(
        np_web_origin_ok(&lan, "192.168.1.5:8780", "null", NULL, &why));
    /* an attacker's name resolving to the LAN address: Host refused first */
    assert_false(np_web_origin_ok(&lan, "evil.example:8780",
                                  "http://evil.example:8780", NULL, &why));
    assert_non_null(why);
}

static void test_csrf(void **state)
{
    np_web_session s;

    (void)state;
    memset(&s, 0, sizeof(s));
    memcpy(s.csrf, SECRET, sizeof(SECRET));
    assert_true(np_web_csrf_ok(&s, SECRET));
    assert_false(np_web_csrf_ok(&s, NULL));
    assert_false(np_web_csrf_ok(&s, ""));
    assert_false(np_web_csrf_ok(&s, "00"));
    assert_false(np_web_csrf_ok(NULL, SECRET));
}

static void test_length(void **state)
{
    static const struct {
        const char *cl;
        int want;
    } cases[] = {
        {NULL, 0},
        {"0", 0},
        {"8192", 0},
        {"8193", 413},
        {"99999999999999999999999999999", 413}, /* no overflow */
        {"", 400},
        {"-1", 400},
        {"12a", 400},
        {" 12", 400},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(np_web_length_check(cases[i].cl, NP_WEB_MAX_BODY),
                         cases[i].want);
}

static void test_sessions(void **state)
{
    np_web_sessions ss;
    np_web_session *a, *b, *f;
    char id[NP_WEB_SECRET_HEX + 1];
    int i;

    (void)state;
    memset(&ss, 0, sizeof(ss));
    a = np_web_session_new(&ss, 100);
    assert_non_null(a);
    assert_int_equal(strlen(a->id), NP_WEB_SECRET_HEX);
    assert_int_equal(strlen(a->csrf), NP_WEB_SECRET_HEX);
    assert_string_not_equal(a->id, a->csrf);
    memcpy(id, a->id, sizeof(id));
    assert_ptr_equal(np_web_session_find(&ss, id, 200), a);
    id[0] = id[0] == '0' ? '1' : '0';
    assert_null(np_web_session_find(&ss, id, 200));
    assert_null(np_web_session_find(&ss, "short", 200));
    assert_null(np_web_session_find(&ss, NULL, 200));
    /* idle too long: gone */
    memcpy(id, a->id, sizeof(id));
    assert_null(np_web_session_find(&ss, id, 200 + NP_WEB_SESSION_IDLE + 1));
    /* full: the least recently used is replaced */
    memset(&ss, 0, sizeof(ss));
    for (i = 0; i < NP_WEB_MAX_SESSIONS; i++)
        assert_non_null(np_web_session_new(&ss, 10 + i));
    b = &ss.s[0]; /* used at 10: the oldest */
    memcpy(id, b->id, sizeof(id));
    f = np_web_session_new(&ss, 1000);
    assert_ptr_equal(f, b);
    assert_null(np_web_session_find(&ss, id, 1000));
    np_web_session_drop(f);
    assert_string_equal(f->id, "");
}

static void test_rate(void **state)
{
    np_web_rate r;
    np_addr a, b;
    int i, n = 0;

    (void)state;
    np_web_rate_init(&r, 5.0 / 60.0, 5.0);
    assert_int_equal(np_addr_parse(&a, "192.168.1.7:50000", 0, NULL), NP_OK);
    assert_int_equal(np_addr_parse(&b, "192.168.1.8", 0, NULL), NP_OK);
    for (i = 0; i < 10; i++)
        n += np_web_rate_take(&r, &a, 1000);
    assert_int_equal(n, 5);
    /* another port of the same address shares the bucket */
    np_addr_set_port(&a, 50001);
    assert_false(np_web_rate_take(&r, &a, 1000));
    /* another address has its own */
    assert_true(np_web_rate_take(&r, &b, 1000));
    /* one token back after 12 s */
    assert_false(np_web_rate_take(&r, &a, 12000));
    assert_true(np_web_rate_take(&r, &a, 13001));
    assert_false(np_web_rate_take(&r, &a, 13002));
}

static void test_login_token(void **state)
{
    static const struct {
        const char *body;
        int found;
        const char *tok;
    } cases[] = {
        {"{\"token\":\"abc\"}", 1, "abc"},
        {"{ \"token\" : \"abc\" }", 1, "abc"},
        {"{\"token\":\n\"abc\"}", 1, "abc"},
        {"{\"token\":\"a\\\"bc\"}", 0, ""}, /* escapes refused */
        {"{\"token\":abc}", 0, ""},
        {"{\"token\":\"abc", 0, ""}, /* unterminated */
        {"{\"tok\":\"abc\"}", 0, ""},
        {"{\"token\":\"0123456789abcdef\"}", 0, ""}, /* too long for out */
        {"", 0, ""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[16];
        int f = np_web_login_token(cases[i].body, strlen(cases[i].body), out,
                                   sizeof(out));

        assert_int_equal(f, cases[i].found);
        assert_string_equal(out, cases[i].tok);
    }
}

static void test_token_file(void **state)
{
    char dir[] = "/tmp/np_web_auth.XXXXXX", path[64], a[NP_WEB_SECRET_HEX + 1],
         b[NP_WEB_SECRET_HEX + 1];
    struct stat st;
    int created = -1;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sub/web-token", dir);
    /* not there, not asked to create */
    assert_int_not_equal(np_web_token_load(path, 0, a, &created, NULL), NP_OK);
    assert_int_equal(np_web_token_load(path, 1, a, &created, NULL), NP_OK);
    assert_int_equal(created, 1);
    assert_int_equal(strlen(a), NP_WEB_SECRET_HEX);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(np_web_token_load(path, 1, b, &created, NULL), NP_OK);
    assert_int_equal(created, 0);
    assert_string_equal(a, b);
    /* readable by others: refused */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(np_web_token_load(path, 1, b, &created, NULL),
                     NP_EINVALID);
    /* damaged */
    assert_int_equal(chmod(path, 0600), 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not hex\n", f);
    fclose(f);
    assert_int_equal(np_web_token_load(path, 1, b, &created, NULL),
                     NP_EINVALID);
    unlink(path);
    snprintf(path, sizeof(path), "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_addr_ok(void **state)
{
    static const struct {
        const char *a;
        int ok;
    } cases[] = {
        {"127.0.0.1", 1},
        {"::1", 1},
        {"192.168.1.5", 1},
        {"10.0.0.2", 1},
        {"172.16.9.9", 1},
        {"198.18.0.10", 1},
        {"169.254.1.1", 1},
        {"fd00::5", 1},
        {"fe80::1", 1},
        {"0.0.0.0", 0},
        {"::", 0},
        {"8.8.8.8", 0},
        {"203.0.113.2", 0},
        {"198.51.100.10", 0},
        {"100.64.0.1", 0},
        {"224.0.0.251", 0},
        {"255.255.255.255", 0},
        {"2001:db8::1", 0},
        {"2a00:1450::1", 0},
        {"198.20.0.1", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        np_addr a;

        assert_int_equal(np_addr_parse(&a, cases[i].a, 8780, NULL), NP_OK);
        if (np_config_web_addr_ok(&a) != cases[i].ok)
            fail_msg("%s: expected %d", cases[i].a, cases[i].ok);
    }
    assert_int_equal(np_config_web_addr_ok(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_equal), cmocka_unit_test(test_ct_memcmp),
        cmocka_unit_test(test_cookie),       cmocka_unit_test(test_host_origin),
        cmocka_unit_test(test_csrf),         cmocka_unit_test(test_length),
        cmocka_unit_test(test_sessions),     cmocka_unit_test(test_rate),
        cmocka_unit_test(test_login_token),  cmocka_unit_test(test_token_file),
        cmocka_unit_test(test_addr_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
