/* Unit tests of socket addresses (include/natpilot/addr.h, addr.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "natpilot/addr.h"

/* A text, the default port, and what np_addr_parse makes of it. */
/* clang-format off */
static const struct parse_case {
    const char *in;
    uint16_t dport;
    int family;
    const char *str; /* np_addr_str of the result */
} parse_cases[] = {
    {.in = "198.51.100.1", .dport = 3478, .family = AF_INET, .str = "198.51.100.1:3478"},
    {.in = "198.51.100.1:80", .dport = 3478, .family = AF_INET, .str = "198.51.100.1:80"},
    {.in = "198.51.100.1:65535", .dport = 1, .family = AF_INET, .str = "198.51.100.1:65535"},
    {.in = "198.51.100.1:1", .dport = 9, .family = AF_INET, .str = "198.51.100.1:1"},
    {.in = "198.51.100.1:00080", .dport = 9, .family = AF_INET, .str = "198.51.100.1:80"},
    {.in = "0.0.0.0", .dport = 0, .family = AF_INET, .str = "0.0.0.0:0"},
    {.in = "255.255.255.255:9", .dport = 0, .family = AF_INET, .str = "255.255.255.255:9"},
    {.in = "::1", .dport = 3478, .family = AF_INET6, .str = "[::1]:3478"},
    {.in = "::", .dport = 5, .family = AF_INET6, .str = "[::]:5"},
    {.in = "2001:db8::1", .dport = 3478, .family = AF_INET6, .str = "[2001:db8::1]:3478"},
    {.in = "[2001:db8::1]", .dport = 3478, .family = AF_INET6, .str = "[2001:db8::1]:3478"},
    {.in = "[2001:db8::1]:3479", .dport = 3478, .family = AF_INET6, .str = "[2001:db8::1]:3479"},
    {.in = "[2001:DB8:0:0:0:0:0:1]:1", .dport = 0, .family = AF_INET6, .str = "[2001:db8::1]:1"},
    {.in = "[::ffff:192.0.2.1]:5", .dport = 0, .family = AF_INET6, .str = "[::ffff:192.0.2.1]:5"},
    {.in = "fe80::1:2:3:4", .dport = 7, .family = AF_INET6, .str = "[fe80::1:2:3:4]:7"},
};
/* clang-format on */

static void parse_good(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        np_addr a, back;
        np_error err;
        char buf[NP_ADDRSTRLEN];

        np_error_clear(&err);
        if (np_addr_parse(&a, c->in, c->dport, &err) != NP_OK)
            fail_msg("row %zu (\"%s\"): %s", i, c->in, err.msg);
        assert_int_equal(np_addr_family(&a), c->family);
        assert_true(np_addr_is_set(&a));
        np_addr_str(&a, buf, sizeof(buf));
        if (strcmp(buf, c->str) != 0)
            fail_msg("row %zu (\"%s\"): \"%s\", want \"%s\"", i, c->in, buf,
                     c->str);
        /* what np_addr_str writes parses back to the same address, except
         * port 0, which text cannot carry */
        if (np_addr_port(&a) != 0) {
            assert_int_equal(np_addr_parse(&back, buf, 1, &err), NP_OK);
            assert_true(np_addr_equal(&a, &back));
        }
        /* the untouched error stays clear on success */
        assert_int_equal(err.code, NP_OK);
    }
}

/* Texts np_addr_parse refuses, with the location and message it gives. */
/* clang-format off */
static const struct bad_case {
    const char *in;
    const char *msg;
} bad_cases[] = {
#define SHAPE                                                                  \
    "not an address: expected IP, IP:PORT or [IPv6]:PORT with a port from 1 "  \
    "to 65535"
    {.in = "", .msg = SHAPE},
    {.in = ":80", .msg = SHAPE},
    {.in = "198.51.100.1:", .msg = SHAPE},
    {.in = "198.51.100.1:0", .msg = SHAPE},
    {.in = "198.51.100.1:65536", .msg = SHAPE},
    {.in = "198.51.100.1:99999999999999999999999", .msg = SHAPE},
    {.in = "198.51.100.1:-1", .msg = SHAPE},
    {.in = "198.51.100.1:+80", .msg = SHAPE},
    {.in = "198.51.100.1: 80", .msg = SHAPE},
    {.in = "198.51.100.1:80 ", .msg = SHAPE},
    {.in = "198.51.100.1:0x50", .msg = SHAPE},
    {.in = "[2001:db8::1", .msg = SHAPE},
    {.in = "[]:80", .msg = SHAPE},
    {.in = "[]", .msg = SHAPE},
    {.in = "[2001:db8::1]80", .msg = SHAPE},
    {.in = "[2001:db8::1]:", .msg = SHAPE},
    {.in = "[2001:db8::1]:0", .msg = SHAPE},
    {.in = "[2001:db8::1]:70000", .msg = SHAPE},
    {.in = "198.51.100.300", .msg = "'198.51.100.300' is not an IP address"},
    {.in = "198.51.100", .msg = "'198.51.100' is not an IP address"},
    {.in = " 198.51.100.1", .msg = "' 198.51.100.1' is not an IP address"},
    {.in = "example.org:3478", .msg = "'example.org' is not an IP address"},
    {.in = "2001:db8::g", .msg = "'2001:db8::g' is not an IP address"},
    {.in = "1.2.3.4:80:90", .msg = "'1.2.3.4:80:90' is not an IP address"},
    {.in = "[2001:db8:::1]:1", .msg = "'2001:db8:::1' is not an IP address"},
    {.in = "[fe80::1%eth0]:1", .msg = "'fe80::1%eth0' is not an IP address"},
#undef SHAPE
};
/* clang-format on */

static void parse_bad(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        np_addr a;
        np_error err;
        int rc;

        memset(&a, 0xa5, sizeof(a));
        rc = np_addr_parse(&a, c->in, 3478, &err);
        if (rc != NP_EPARSE)
            fail_msg("row %zu (\"%s\"): rc %d, want NP_EPARSE", i, c->in, rc);
        assert_int_equal(err.code, NP_EPARSE);
        /* where is the whole text the user gave */
        assert_string_equal(err.where, c->in);
        if (strcmp(err.msg, c->msg) != 0)
            fail_msg("row %zu (\"%s\"): \"%s\", want \"%s\"", i, c->in, err.msg,
                     c->msg);
        /* the output is left empty, never half-filled */
        assert_false(np_addr_is_set(&a));
    }
}

static void parse_null_and_long(void **state)
{
    char big[400];
    np_addr a;
    np_error err;

    (void)state;
    assert_int_equal(np_addr_parse(&a, NULL, 1, &err), NP_EPARSE);
    assert_string_equal(err.where, "");
    assert_false(np_addr_is_set(&a));
    /* a host longer than the parser's buffer is refused, not cut */
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(np_addr_parse(&a, big, 1, &err), NP_EPARSE);
    assert_int_equal(np_addr_parse(&a, big, 1, NULL), NP_EPARSE);
}

/* np_addr_resolve takes the numeric path without any lookup (no DNS). */
static void resolve_numeric(void **state)
{
    np_addr a;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_addr_resolve(&a, "192.0.2.7:99", 1, AF_UNSPEC, &err),
                     NP_OK);
    assert_string_equal(np_addr_str(&a, buf, sizeof(buf)), "192.0.2.7:99");
    assert_int_equal(np_addr_resolve(&a, "[2001:db8::7]", 5, AF_INET6, &err),
                     NP_OK);
    assert_string_equal(np_addr_str(&a, buf, sizeof(buf)), "[2001:db8::7]:5");
    assert_int_equal(np_addr_resolve(&a, "192.0.2.7:0", 1, AF_UNSPEC, &err),
                     NP_EPARSE);
}

static void build_and_ports(void **state)
{
    static const uint8_t v4[4] = {203, 0, 113, 9};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x42};
    np_addr a, b, empty;
    char buf[NP_ADDRSTRLEN], ip[NP_ADDRSTRLEN];

    (void)state;
    memset(&empty, 0, sizeof(empty));
    np_addr_from_ipv4(&a, v4, 4500);
    assert_int_equal(np_addr_family(&a), AF_INET);
    assert_int_equal(np_addr_port(&a), 4500);
    assert_string_equal(np_addr_str(&a, buf, sizeof(buf)), "203.0.113.9:4500");
    assert_string_equal(np_addr_ip_str(&a, ip, sizeof(ip)), "203.0.113.9");
    np_addr_set_port(&a, 65535);
    assert_string_equal(np_addr_str(&a, buf, sizeof(buf)), "203.0.113.9:65535");

    np_addr_from_ipv6(&b, v6, 1);
    assert_string_equal(np_addr_str(&b, buf, sizeof(buf)), "[2001:db8::42]:1");
    assert_string_equal(np_addr_ip_str(&b, ip, sizeof(ip)), "2001:db8::42");
    np_addr_set_port(&b, 0);
    assert_int_equal(np_addr_port(&b), 0);

    /* empty: no family, port 0, "-", set_port does nothing */
    assert_int_equal(np_addr_family(&empty), AF_UNSPEC);
    assert_int_equal(np_addr_family(NULL), AF_UNSPEC);
    assert_false(np_addr_is_set(&empty));
    assert_int_equal(np_addr_port(&empty), 0);
    np_addr_set_port(&empty, 80);
    assert_int_equal(np_addr_port(&empty), 0);
    assert_false(np_addr_is_set(&empty));
    assert_string_equal(np_addr_str(&empty, buf, sizeof(buf)), "-");
    assert_string_equal(np_addr_ip_str(&empty, ip, sizeof(ip)), "-");
}

static void from_sockaddr(void **state)
{
    struct sockaddr_in sin;
    struct sockaddr_un sun;
    np_addr a;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(3478);
    inet_pton(AF_INET, "198.51.100.2", &sin.sin_addr);
    np_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof(sin));
    assert_string_equal(np_addr_str(&a, buf, sizeof(buf)), "198.51.100.2:3478");
    /* other families, NULL, zero or oversize lengths: empty */
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    np_addr_from_sockaddr(&a, (struct sockaddr *)&sun, sizeof(sun));
    assert_false(np_addr_is_set(&a));
    np_addr_from_sockaddr(&a, NULL, sizeof(sin));
    assert_false(np_addr_is_set(&a));
    np_addr_from_sockaddr(&a, (struct sockaddr *)&sin, 0);
    assert_false(np_addr_is_set(&a));
    np_addr_from_sockaddr(&a, (struct sockaddr *)&sin,
                          sizeof(struct sockaddr_storage) + 1);
    assert_false(np_addr_is_set(&a));
}

/* Formatting into small buffers: always terminated, never past size. */
/* clang-format off */
static const struct small_case {
    const char *in;
    size_t size;
    const char *str, *ip;
} small_cases[] = {
    {.in = "198.51.100.1:3478", .size = 18, .str = "198.51.100.1:3478", .ip = "198.51.100.1"},
    {.in = "198.51.100.1:3478", .size = 17, .str = "198.51.100.1:347", .ip = "198.51.100.1"},
    {.in = "198.51.100.1:3478", .size = 5, .str = "198.", .ip = "?"},
    {.in = "198.51.100.1:3478", .size = 1, .str = "", .ip = ""},
    {.in = "[2001:db8::1]:3478", .size = 6, .str = "[2001", .ip = "?"},
    {.in = "[2001:db8::1]:3478", .size = 12, .str = "[2001:db8::", .ip = "2001:db8::1"},
};
/* clang-format on */

static void format_small_buffers(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(small_cases) / sizeof(small_cases[0]); i++) {
        const struct small_case *c = &small_cases[i];
        char buf[NP_ADDRSTRLEN + 4];
        np_addr a;

        assert_int_equal(np_addr_parse(&a, c->in, 1, NULL), NP_OK);
        memset(buf, '#', sizeof(buf));
        np_addr_str(&a, buf, c->size);
        if (strcmp(buf, c->str) != 0)
            fail_msg("row %zu str: \"%s\", want \"%s\"", i, buf, c->str);
        assert_int_equal(buf[c->size], '#');
        memset(buf, '#', sizeof(buf));
        np_addr_ip_str(&a, buf, c->size);
        if (strcmp(buf, c->ip) != 0)
            fail_msg("row %zu ip: \"%s\", want \"%s\"", i, buf, c->ip);
        assert_int_equal(buf[c->size], '#');
    }
    {
        /* size 0: not touched */
        char b = '#';
        np_addr a;

        assert_int_equal(np_addr_parse(&a, "192.0.2.1", 1, NULL), NP_OK);
        np_addr_str(&a, &b, 0);
        np_addr_ip_str(&a, &b, 0);
        assert_int_equal(b, '#');
    }
}

/* Two addresses: same IP (port ignored)? the same endpoint? */
/* clang-format off */
static const struct same_case {
    const char *a, *b; /* NULL: an empty address */
    int same_ip, equal;
} same_cases[] = {
    {.a = "198.51.100.1:1", .b = "198.51.100.1:1", .same_ip = 1, .equal = 1},
    {.a = "198.51.100.1:1", .b = "198.51.100.1:2", .same_ip = 1, .equal = 0},
    {.a = "198.51.100.1:1", .b = "198.51.100.2:1", .same_ip = 0, .equal = 0},
    {.a = "[2001:db8::1]:1", .b = "[2001:db8:0::1]:1", .same_ip = 1, .equal = 1},
    {.a = "[2001:db8::1]:1", .b = "[2001:db8::1]:2", .same_ip = 1, .equal = 0},
    {.a = "[2001:db8::1]:1", .b = "[2001:db8::2]:1", .same_ip = 0, .equal = 0},
    {.a = "192.0.2.1:1", .b = "[::ffff:192.0.2.1]:1", .same_ip = 0, .equal = 0},
    {.a = "0.0.0.0:1", .b = "[::]:1", .same_ip = 0, .equal = 0},
    {.a = "192.0.2.1:1", .b = NULL, .same_ip = 0, .equal = 0},
    {.a = NULL, .b = "[::1]:1", .same_ip = 0, .equal = 0},
    {.a = NULL, .b = NULL, .same_ip = 1, .equal = 1},
};
/* clang-format on */

static void same_ip_and_equal(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(same_cases) / sizeof(same_cases[0]); i++) {
        const struct same_case *c = &same_cases[i];
        np_addr a, b;

        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        if (c->a != NULL)
            assert_int_equal(np_addr_parse(&a, c->a, 1, NULL), NP_OK);
        if (c->b != NULL)
            assert_int_equal(np_addr_parse(&b, c->b, 1, NULL), NP_OK);
        if (np_addr_same_ip(&a, &b) != c->same_ip ||
            np_addr_same_ip(&b, &a) != c->same_ip)
            fail_msg("row %zu: same_ip %d, want %d", i, np_addr_same_ip(&a, &b),
                     c->same_ip);
        if (np_addr_equal(&a, &b) != c->equal ||
            np_addr_equal(&b, &a) != c->equal)
            fail_msg("row %zu: equal %d, want %d", i, np_addr_equal(&a, &b),
                     c->equal);
    }
}

/* Address classes: the first and last address of each range, and the
 * neighbours just outside it. */
/* clang-format off */
static const struct scope_case {
    const char *ip;
    enum np_addr_scope scope;
} scope_cases[] = {
    {.ip = "9.255.255.255", .scope = NP_SCOPE_PUBLIC},
    {.ip = "10.0.0.0", .scope = NP_SCOPE_PRIVATE},
    {.ip = "10.255.255.255", .scope = NP_SCOPE_PRIVATE},
    {.ip = "11.0.0.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "172.15.255.255", .scope = NP_SCOPE_PUBLIC},
    {.ip = "172.16.0.0", .scope = NP_SCOPE_PRIVATE},
    {.ip = "172.31.255.255", .scope = NP_SCOPE_PRIVATE},
    {.ip = "172.32.0.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "192.167.255.255", .scope = NP_SCOPE_PUBLIC},
    {.ip = "192.168.0.0", .scope = NP_SCOPE_PRIVATE},
    {.ip = "192.168.255.255", .scope = NP_SCOPE_PRIVATE},
    {.ip = "192.169.0.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "100.63.255.255", .scope = NP_SCOPE_PUBLIC},
    {.ip = "100.64.0.0", .scope = NP_SCOPE_SHARED},
    {.ip = "100.127.255.255", .scope = NP_SCOPE_SHARED},
    {.ip = "100.128.0.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "127.0.0.1", .scope = NP_SCOPE_LOOPBACK},
    {.ip = "127.255.255.255", .scope = NP_SCOPE_LOOPBACK},
    {.ip = "169.254.0.0", .scope = NP_SCOPE_LINK_LOCAL},
    {.ip = "169.254.255.255", .scope = NP_SCOPE_LINK_LOCAL},
    {.ip = "169.255.0.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "192.0.2.0", .scope = NP_SCOPE_DOCUMENTATION},
    {.ip = "192.0.2.255", .scope = NP_SCOPE_DOCUMENTATION},
    {.ip = "192.0.3.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "198.51.100.1", .scope = NP_SCOPE_DOCUMENTATION},
    {.ip = "203.0.113.255", .scope = NP_SCOPE_DOCUMENTATION},
    {.ip = "203.0.114.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "0.0.0.0", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "0.255.255.255", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "192.0.0.8", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "198.17.255.255", .scope = NP_SCOPE_PUBLIC},
    {.ip = "198.18.0.0", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "198.19.255.255", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "198.20.0.0", .scope = NP_SCOPE_PUBLIC},
    {.ip = "223.255.255.255", .scope = NP_SCOPE_PUBLIC},
    {.ip = "224.0.0.1", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "239.255.255.250", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "240.0.0.1", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "255.255.255.255", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "::1", .scope = NP_SCOPE_LOOPBACK},
    {.ip = "::2", .scope = NP_SCOPE_PUBLIC},
    {.ip = "::", .scope = NP_SCOPE_OTHER_RESERVED},
    {.ip = "fbff:ffff::1", .scope = NP_SCOPE_PUBLIC},
    {.ip = "fc00::", .scope = NP_SCOPE_PRIVATE},
    {.ip = "fdff:ffff::1", .scope = NP_SCOPE_PRIVATE},
    {.ip = "fe80::1", .scope = NP_SCOPE_LINK_LOCAL},
    {.ip = "febf:ffff::1", .scope = NP_SCOPE_LINK_LOCAL},
    {.ip = "2001:db8::", .scope = NP_SCOPE_DOCUMENTATION},
    {.ip = "2001:db8:ffff:ffff::1", .scope = NP_SCOPE_DOCUMENTATION},
    {.ip = "2001:db9::1", .scope = NP_SCOPE_PUBLIC},
    {.ip = "2a00:1450::1", .scope = NP_SCOPE_PUBLIC},
    {.ip = "ff02::1", .scope = NP_SCOPE_OTHER_RESERVED},
};
/* clang-format on */

static void scope_table(void **state)
{
    size_t i;
    np_addr empty;

    (void)state;
    for (i = 0; i < sizeof(scope_cases) / sizeof(scope_cases[0]); i++) {
        const struct scope_case *c = &scope_cases[i];
        np_addr a;
        enum np_addr_scope got;

        assert_int_equal(np_addr_parse(&a, c->ip, 1, NULL), NP_OK);
        got = np_addr_scope(&a);
        if (got != c->scope)
            fail_msg("%s: %s, want %s", c->ip, np_addr_scope_name(got),
                     np_addr_scope_name(c->scope));
    }
    memset(&empty, 0, sizeof(empty));
    assert_int_equal(np_addr_scope(&empty), NP_SCOPE_OTHER_RESERVED);
}

static void scope_names(void **state)
{
    static const struct {
        enum np_addr_scope scope;
        const char *name;
    } names[] = {
        {NP_SCOPE_PUBLIC, "public"},
        {NP_SCOPE_PRIVATE, "private"},
        {NP_SCOPE_SHARED, "shared (carrier-grade NAT)"},
        {NP_SCOPE_LOOPBACK, "loopback"},
        {NP_SCOPE_LINK_LOCAL, "link-local"},
        {NP_SCOPE_DOCUMENTATION, "documentation"},
        {NP_SCOPE_OTHER_RESERVED, "reserved"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(np_addr_scope_name(names[i].scope), names[i].name);
    /* a value outside the enum: "reserved", never NULL */
    assert_string_equal(np_addr_scope_name((enum np_addr_scope)99), "reserved");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_good),
        cmocka_unit_test(parse_bad),
        cmocka_unit_test(parse_null_and_long),
        cmocka_unit_test(resolve_numeric),
        cmocka_unit_test(build_and_ports),
        cmocka_unit_test(from_sockaddr),
        cmocka_unit_test(format_small_buffers),
        cmocka_unit_test(same_ip_and_equal),
        cmocka_unit_test(scope_table),
        cmocka_unit_test(scope_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
