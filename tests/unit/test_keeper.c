/* Unit tests of the keeper's pure helpers (include/natpilot/keeper.h):
 * renewal delay, back-off, and the SSDP NOTIFY parser that tells the
 * daemon a gateway restarted. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/keeper.h"

/* --- renewal delay: 40-50 % of the lease, by the jitter rnd (0..1) --------*/

/* clang-format off */
static const struct renew_case {
    uint32_t lease_s;
    double rnd;
    int64_t ms;
} renew_cases[] = {
    {.lease_s = 0, .rnd = 0.0, .ms = 0},
    {.lease_s = 0, .rnd = 1.0, .ms = 0},
    {.lease_s = 1, .rnd = 0.0, .ms = 400},
    {.lease_s = 1, .rnd = 1.0, .ms = 500},
    {.lease_s = 100, .rnd = 0.0, .ms = 40000},
    {.lease_s = 100, .rnd = 0.5, .ms = 45000},
    {.lease_s = 100, .rnd = 1.0, .ms = 50000},
    {.lease_s = 100, .rnd = 7.0, .ms = 50000},  /* rnd above 1: clamped */
    {.lease_s = 100, .rnd = -3.0, .ms = 40000}, /* rnd below 0: clamped */
    {.lease_s = 100, .rnd = NAN, .ms = 40000},  /* as low as it goes */
    {.lease_s = 100, .rnd = INFINITY, .ms = 50000},
    {.lease_s = 7200, .rnd = 0.5, .ms = 3240000},
    {.lease_s = 86400, .rnd = 0.0, .ms = 34560000},
    {.lease_s = UINT32_MAX, .rnd = 0.0, .ms = INT64_C(1717986918000)},
    {.lease_s = UINT32_MAX, .rnd = 1.0, .ms = INT64_C(2147483647500)},
};
/* clang-format on */

static void renew_delay_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(renew_cases) / sizeof(renew_cases[0]); i++) {
        const struct renew_case *c = &renew_cases[i];
        int64_t got = np_keeper_renew_delay_ms(c->lease_s, c->rnd);

        if (got != c->ms)
            fail_msg("lease %u s, rnd %g: %lld ms, want %lld", c->lease_s,
                     c->rnd, (long long)got, (long long)c->ms);
    }
}

/* For any lease and jitter: inside [40 %, 50 %] of the lease, growing with
 * the lease and with the jitter. */
static void renew_delay_bounds(void **state)
{
    static const uint32_t leases[] = {
        1,         2,    20,    59,     60,       120,
        3599,      3600, 86400, 604800, 1u << 31, UINT32_MAX - 1,
        UINT32_MAX};
    size_t i;
    int r;

    (void)state;
    for (i = 0; i < sizeof(leases) / sizeof(leases[0]); i++) {
        int64_t prev = -1;
        int64_t lo = (int64_t)leases[i] * 400, hi = (int64_t)leases[i] * 500;

        for (r = 0; r <= 20; r++) {
            int64_t d = np_keeper_renew_delay_ms(leases[i], r / 20.0);

            if (d < lo - 1 || d > hi || d < prev)
                fail_msg("lease %u, rnd %g: %lld outside [%lld, %lld] or "
                         "below %lld",
                         leases[i], r / 20.0, (long long)d, (long long)lo,
                         (long long)hi, (long long)prev);
            prev = d;
        }
        if (i > 0)
            assert_true(np_keeper_renew_delay_ms(leases[i], 0.5) >=
                        np_keeper_renew_delay_ms(leases[i - 1], 0.5));
    }
}

/* --- back-off: 2 s doubling up to the cap, 0 before any failure ---------- */

/* clang-format off */
static const struct backoff_case {
    unsigned failures;
    int64_t cap_ms;
    int64_t ms;
} backoff_cases[] = {
    {.failures = 0, .cap_ms = 60000, .ms = 0},
    {.failures = 1, .cap_ms = 60000, .ms = 2000},
    {.failures = 2, .cap_ms = 60000, .ms = 4000},
    {.failures = 3, .cap_ms = 60000, .ms = 8000},
    {.failures = 5, .cap_ms = 60000, .ms = 32000},
    {.failures = 6, .cap_ms = 60000, .ms = 60000}, /* 64 s, capped */
    {.failures = 7, .cap_ms = 60000, .ms = 60000},
    {.failures = 1000, .cap_ms = 60000, .ms = 60000},
    {.failures = UINT_MAX, .cap_ms = 60000, .ms = 60000},
    {.failures = 1, .cap_ms = 500, .ms = 500}, /* a cap below 2 s wins */
    {.failures = 12, .cap_ms = 3600000, .ms = 3600000},
    {.failures = 11, .cap_ms = 3600000, .ms = 2048000},
    {.failures = 40, .cap_ms = INT64_C(1) << 50, .ms = INT64_C(1099511627776000)},
    {.failures = 41, .cap_ms = INT64_C(1) << 50, .ms = INT64_C(1) << 50},
    /* no cap to speak of: doubling stops before int64_t overflows */
    {.failures = 200, .cap_ms = INT64_MAX, .ms = INT64_C(2000) << 52},
};
/* clang-format on */

static void backoff_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(backoff_cases) / sizeof(backoff_cases[0]); i++) {
        const struct backoff_case *c = &backoff_cases[i];
        int64_t got = np_keeper_backoff_ms(c->failures, c->cap_ms);

        if (got != c->ms)
            fail_msg("%u failures, cap %lld: %lld ms, want %lld", c->failures,
                     (long long)c->cap_ms, (long long)got, (long long)c->ms);
    }
}

/* Never shrinks as failures add up, never exceeds the cap, reaches it. */
static void backoff_monotonic(void **state)
{
    static const int64_t caps[] = {2000, 5000, 60000, 300000, 86400000};
    size_t i;
    unsigned f;

    (void)state;
    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        int64_t prev = 0;

        for (f = 1; f <= 100; f++) {
            int64_t d = np_keeper_backoff_ms(f, caps[i]);

            if (d < prev || d > caps[i] || d <= 0)
                fail_msg("cap %lld, %u failures: %lld after %lld",
                         (long long)caps[i], f, (long long)d, (long long)prev);
            prev = d;
        }
        assert_int_equal(prev, caps[i]);
    }
}

/* --- SSDP NOTIFY: a restarted gateway announces itself ------------------- */

#define IGD "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
#define LOC "http://198.18.0.1:34567/rootDesc.xml"

/* clang-format off */
static const struct notify_case {
    const char *name;
    const char *text;
    int ret;         /* 1: an alive IGD announcement */
    long bootid;     /* when ret is 1 */
    const char *loc; /* when ret is 1 */
} notify_cases[] = {
    {.name = "alive, CRLF", .text = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\nBOOTID.UPNP.ORG: 1795475556\r\n\r\n", .ret = 1, .bootid = 1795475556L, .loc = LOC},
    {.name = "alive, LF only", .text = "NOTIFY * HTTP/1.1\nLOCATION: " LOC "\nNT: " IGD "\nNTS: ssdp:alive\nBOOTID.UPNP.ORG: 7\n\n", .ret = 1, .bootid = 7, .loc = LOC},
    {.name = "CRLF and LF mixed", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\nNT: " IGD "\r\nNTS: ssdp:alive\n\r\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "no final blank line", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: ssdp:alive", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "header names in lower case", .text = "NOTIFY * HTTP/1.1\r\nlocation: " LOC "\r\nnt: " IGD "\r\nnts: ssdp:alive\r\nbootid.upnp.org: 3\r\n\r\n", .ret = 1, .bootid = 3, .loc = LOC},
    {.name = "header names in mixed case", .text = "NOTIFY * HTTP/1.1\r\nLocation: " LOC "\r\nNt: " IGD "\r\nNtS: ssdp:alive\r\nBootId.UPnP.org: 4\r\n\r\n", .ret = 1, .bootid = 4, .loc = LOC},
    {.name = "NTS value in upper case", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: SSDP:ALIVE\r\n\r\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "blanks around values", .text = "NOTIFY * HTTP/1.1\r\nLOCATION:\t  " LOC " \t\r\nNT:" IGD "\r\nNTS:   ssdp:alive  \r\n\r\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "headers in any order", .text = "NOTIFY * HTTP/1.1\r\nNTS: ssdp:alive\r\nBOOTID.UPNP.ORG: 0\r\nNT: " IGD "\r\nLOCATION: " LOC "\r\n\r\n", .ret = 1, .bootid = 0, .loc = LOC},
    {.name = "NT WANIPConnection:2", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: urn:schemas-upnp-org:service:WANIPConnection:2\r\nNTS: ssdp:alive\r\n\r\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "NT WANPPPConnection:1", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: urn:schemas-upnp-org:service:WANPPPConnection:1\r\nNTS: ssdp:alive\r\n\r\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "BOOTID 10 digits", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\nBOOTID.UPNP.ORG: 4294967295\r\n\r\n", .ret = 1, .bootid = 4294967295L, .loc = LOC},
    {.name = "BOOTID 11 digits: ignored", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\nBOOTID.UPNP.ORG: 12345678901\r\n\r\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "BOOTID not a number", .text = "NOTIFY * HTTP/1.1\nLOCATION: " LOC "\nNT: " IGD "\nNTS: ssdp:alive\nBOOTID.UPNP.ORG: 12x\n\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "BOOTID negative", .text = "NOTIFY * HTTP/1.1\nLOCATION: " LOC "\nNT: " IGD "\nNTS: ssdp:alive\nBOOTID.UPNP.ORG: -5\n\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "BOOTID empty", .text = "NOTIFY * HTTP/1.1\nLOCATION: " LOC "\nNT: " IGD "\nNTS: ssdp:alive\nBOOTID.UPNP.ORG:\n\n", .ret = 1, .bootid = -1, .loc = LOC},
    {.name = "byebye", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNTS: ssdp:byebye\r\nNT: " IGD "\r\n\r\n", .ret = 0},
    {.name = "alive then byebye: the last NTS counts", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNTS: ssdp:alive\r\nNTS: ssdp:byebye\r\nNT: " IGD "\r\n\r\n", .ret = 0},
    {.name = "NTS ssdp:update", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNTS: ssdp:update\r\nNT: " IGD "\r\n\r\n", .ret = 0},
    {.name = "NTS with a longer value", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNTS: ssdp:alivex\r\nNT: " IGD "\r\n\r\n", .ret = 0},
    {.name = "M-SEARCH, not NOTIFY", .text = "M-SEARCH * HTTP/1.1\r\nNTS: ssdp:alive\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\n\r\n", .ret = 0},
    {.name = "a search answer", .text = "HTTP/1.1 200 OK\r\nLOCATION: " LOC "\r\nST: " IGD "\r\nNTS: ssdp:alive\r\nNT: " IGD "\r\n\r\n", .ret = 0},
    {.name = "method in lower case", .text = "notify * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "request line with a trailing blank", .text = "NOTIFY * HTTP/1.1 \r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "no LOCATION", .text = "NOTIFY * HTTP/1.1\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "no NT", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "no NTS", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\n\r\n", .ret = 0},
    {.name = "NT is a media server", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: http://198.18.0.1:49000/media.xml\r\nNT: urn:schemas-upnp-org:device:MediaServer:1\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "NT upnp:rootdevice", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "IGD only in the NTS value", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNTS: " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "blank before the colon", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: " LOC "\r\nNT : " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "headers after the blank line", .text = "NOTIFY * HTTP/1.1\r\n\r\nLOCATION: " LOC "\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "LOCATION https", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: https://198.18.0.1/r.xml\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "LOCATION only the scheme", .text = "NOTIFY * HTTP/1.1\r\nLOCATION: http://\r\nNT: " IGD "\r\nNTS: ssdp:alive\r\n\r\n", .ret = 0},
    {.name = "empty datagram", .text = "", .ret = 0},
};
/* clang-format on */

static void notify_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(notify_cases) / sizeof(notify_cases[0]); i++) {
        const struct notify_case *c = &notify_cases[i];
        char loc[128];
        long boot = 12345;
        size_t len = strlen(c->text);
        /* an exact-size copy: ASan sees any read past len */
        char *copy = malloc(len ? len : 1);
        int ret;

        assert_non_null(copy);
        memcpy(copy, c->text, len);
        ret = np_keeper_ssdp_notify(copy, len, &boot, loc, sizeof(loc));
        free(copy);
        if (ret != c->ret)
            fail_msg("%s: %d, want %d", c->name, ret, c->ret);
        if (ret == 1 && (boot != c->bootid || strcmp(loc, c->loc) != 0))
            fail_msg("%s: bootid %ld, loc \"%s\"; want %ld, \"%s\"", c->name,
                     boot, loc, c->bootid, c->loc);
    }
}

static const char alive[] = "NOTIFY * HTTP/1.1\r\n"
                            "HOST: 239.255.255.250:1900\r\n"
                            "LOCATION: " LOC "\r\n"
                            "NT: " IGD "\r\n"
                            "NTS: ssdp:alive\r\n"
                            "BOOTID.UPNP.ORG: 9\r\n"
                            "\r\n";

/* A NUL inside LOCATION would cut it short: refused (found by fuzz_ssdp). */
static void notify_nul_in_location(void **state)
{
    static const char nul[] =
        "NOTIFY * HTTP/1.1\r\nLOCATION: http://a\0/r.xml\r\n"
        "NT: " IGD "\r\nNTS: ssdp:alive\r\n\r\n";
    char loc[64];
    long boot;

    (void)state;
    assert_int_equal(
        np_keeper_ssdp_notify(nul, sizeof(nul) - 1, &boot, loc, sizeof(loc)),
        0);
}

/* A LOCATION that does not fit the caller's buffer is refused, not cut. */
static void notify_location_too_long(void **state)
{
    char loc[sizeof(LOC)];
    long boot;

    (void)state;
    /* exactly fits (with its NUL) */
    assert_int_equal(np_keeper_ssdp_notify(alive, sizeof(alive) - 1, &boot, loc,
                                           sizeof(loc)),
                     1);
    assert_string_equal(loc, LOC);
    assert_int_equal(boot, 9);
    /* one byte short */
    assert_int_equal(np_keeper_ssdp_notify(alive, sizeof(alive) - 1, &boot, loc,
                                           sizeof(loc) - 1),
                     0);
    assert_int_equal(
        np_keeper_ssdp_notify(alive, sizeof(alive) - 1, &boot, loc, 0), 0);
}

/* Cut anywhere: never reads past len, and only the whole header block
 * up to NTS counts. */
static void notify_truncated(void **state)
{
    const char *nts = strstr(alive, "NTS: ssdp:alive");
    size_t need = (size_t)(nts - alive) + strlen("NTS: ssdp:alive");
    size_t n;

    (void)state;
    for (n = 0; n < sizeof(alive) - 1; n++) {
        char *cp = malloc(n ? n : 1);
        char loc[64];
        long boot;
        int ret;

        assert_non_null(cp);
        memcpy(cp, alive, n);
        ret = np_keeper_ssdp_notify(cp, n, &boot, loc, sizeof(loc));
        free(cp);
        if (ret != (n >= need))
            fail_msg("cut at %zu: %d", n, ret);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renew_delay_table),
        cmocka_unit_test(renew_delay_bounds),
        cmocka_unit_test(backoff_table),
        cmocka_unit_test(backoff_monotonic),
        cmocka_unit_test(notify_table),
        cmocka_unit_test(notify_nul_in_location),
        cmocka_unit_test(notify_location_too_long),
        cmocka_unit_test(notify_truncated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
