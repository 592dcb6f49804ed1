/*
 * Unit tests for the egress module: range sampling, classification of
 * errno values, advice and summary selection, and one run on loopback
 * (a listening TCP socket, a closed TCP port, a closed UDP port).
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "natpilot/egress.h"

/* ---- sampling ------------------------------------------------------------ */

struct sample_case {
    uint16_t lo, hi;
    size_t max;
    size_t n;
    uint16_t want[8];
};

static void test_sample_table(void **state)
{
    static const struct sample_case cases[] = {
        {3074, 3074, 5, 1, {3074}},
        {3478, 3480, 5, 3, {3478, 3479, 3480}},
        {1, 5, 5, 5, {1, 2, 3, 4, 5}},
        {1, 6, 5, 5, {1, 2, 3, 4, 6}},
        {27015, 27030, 5, 5, {27015, 27018, 27022, 27026, 27030}},
        {1, 65535, 5, 5, {1, 16384, 32768, 49151, 65535}},
        {100, 200, 2, 2, {100, 200}},
        {100, 200, 1, 1, {100}},
        {10, 12, 0, 0, {0}},
        {20, 10, 5, 0, {0}}, /* inverted */
        {65534, 65535, 5, 2, {65534, 65535}},
    };
    size_t i, j;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct sample_case *c = &cases[i];
        uint16_t out[16];
        size_t n;
        memset(out, 0, sizeof(out));
        n = np_egress_sample(c->lo, c->hi, out, c->max);
        print_message("case %zu: %u-%u max %zu -> %zu\n", i, c->lo, c->hi,
                      c->max, n);
        assert_int_equal(n, c->n);
        for (j = 0; j < n; j++)
            assert_int_equal(out[j], c->want[j]);
    }
}

/* Properties over many ranges: first, last, ascending, in range, bounded. */
static void test_sample_properties(void **state)
{
    static const uint16_t los[] = {1, 80, 1000, 3074, 49152, 65000};
    static const uint32_t spans[] = {1, 2, 7, 8, 9, 100, 1001, 16384};
    size_t a, b, max, j;
    (void)state;

    for (a = 0; a < sizeof(los) / sizeof(los[0]); a++)
        for (b = 0; b < sizeof(spans) / sizeof(spans[0]); b++)
            for (max = 2; max <= 16; max++) {
                uint32_t hi32 = los[a] + spans[b] - 1;
                uint16_t lo = los[a], hi, out[16];
                size_t n;
                if (hi32 > 65535)
                    continue;
                hi = (uint16_t)hi32;
                n = np_egress_sample(lo, hi, out, max);
                assert_true(n >= 1 && n <= max);
                assert_int_equal(out[0], lo);
                assert_int_equal(out[n - 1], hi);
                if (spans[b] <= max)
                    assert_int_equal(n, spans[b]);
                for (j = 1; j < n; j++)
                    assert_true(out[j] > out[j - 1]);
            }
}

/* ---- classification ------------------------------------------------------ */

static void test_classify_table(void **state)
{
    static const struct {
        int proto, e, want;
    } cases[] = {
        {NP_EGRESS_TCP, 0, NP_EGRESS_REACHABLE},
        {NP_EGRESS_UDP, 0, NP_EGRESS_REACHABLE},
        {NP_EGRESS_TCP, ETIMEDOUT, NP_EGRESS_DROPPED},
        {NP_EGRESS_UDP, ETIMEDOUT, NP_EGRESS_DROPPED},
        {NP_EGRESS_TCP, ECONNREFUSED, NP_EGRESS_REFUSED},  /* RST */
        {NP_EGRESS_UDP, ECONNREFUSED, NP_EGRESS_REJECTED}, /* ICMP port */
        {NP_EGRESS_TCP, EHOSTUNREACH, NP_EGRESS_REJECTED},
        {NP_EGRESS_UDP, EHOSTUNREACH, NP_EGRESS_REJECTED},
        {NP_EGRESS_TCP, ENETUNREACH, NP_EGRESS_REJECTED},
        {NP_EGRESS_TCP, EHOSTDOWN, NP_EGRESS_REJECTED},
        {NP_EGRESS_TCP, ENONET, NP_EGRESS_REJECTED},
        {NP_EGRESS_UDP, ENOPROTOOPT, NP_EGRESS_REJECTED},
        {NP_EGRESS_TCP, EPERM, NP_EGRESS_LOCAL},
        {NP_EGRESS_UDP, EACCES, NP_EGRESS_LOCAL},
        {NP_EGRESS_TCP, EMFILE, NP_EGRESS_ERROR},
        {NP_EGRESS_UDP, EADDRNOTAVAIL, NP_EGRESS_ERROR},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case %zu: errno %d\n", i, cases[i].e);
        assert_int_equal(np_egress_classify(cases[i].proto, cases[i].e),
                         cases[i].want);
    }
}

static void test_blocked_and_names(void **state)
{
    (void)state;
    assert_false(np_egress_state_blocked(NP_EGRESS_REACHABLE));
    assert_true(np_egress_state_blocked(NP_EGRESS_DROPPED));
    assert_true(np_egress_state_blocked(NP_EGRESS_REFUSED));
    assert_true(np_egress_state_blocked(NP_EGRESS_REJECTED));
    assert_true(np_egress_state_blocked(NP_EGRESS_LOCAL));
    assert_false(np_egress_state_blocked(NP_EGRESS_UNTESTABLE));
    assert_false(np_egress_state_blocked(NP_EGRESS_ERROR));
    /* Stable names: part of the --json interface. */
    assert_string_equal(np_egress_state_name(NP_EGRESS_REACHABLE), "reachable");
    assert_string_equal(np_egress_state_name(NP_EGRESS_DROPPED), "dropped");
    assert_string_equal(np_egress_state_name(NP_EGRESS_REFUSED), "refused");
    assert_string_equal(np_egress_state_name(NP_EGRESS_REJECTED), "rejected");
    assert_string_equal(np_egress_state_name(NP_EGRESS_LOCAL),
                        "blocked-locally");
    assert_string_equal(np_egress_state_name(NP_EGRESS_UNTESTABLE),
                        "not-testable");
    assert_string_equal(np_egress_state_name(99), "unknown");
    assert_string_equal(np_egress_icmp_text(0, 3, 13),
                        "communication administratively prohibited");
    assert_string_equal(np_egress_icmp_text(0, 3, 3), "port unreachable");
    assert_string_equal(np_egress_icmp_text(1, 1, 4), "port unreachable");
    assert_string_equal(np_egress_icmp_text(1, 1, 1),
                        "communication administratively prohibited");
    assert_string_equal(np_egress_icmp_text(0, -1, -1), "");
}

/* ---- advice and summary -------------------------------------------------- */

static void test_advice_selection(void **state)
{
    (void)state;
    /* Each blocked kind has its own words, and they differ by protocol
     * where the protocol matters. */
    assert_non_null(strstr(np_egress_advice(NP_EGRESS_TCP, NP_EGRESS_DROPPED),
                           "silently discards TCP"));
    assert_non_null(strstr(np_egress_advice(NP_EGRESS_UDP, NP_EGRESS_DROPPED),
                           "silently discards UDP"));
    assert_non_null(strstr(np_egress_advice(NP_EGRESS_TCP, NP_EGRESS_REFUSED),
                           "resets TCP"));
    assert_non_null(strstr(np_egress_advice(NP_EGRESS_UDP, NP_EGRESS_REJECTED),
                           "prohibited"));
    assert_non_null(strstr(np_egress_advice(NP_EGRESS_TCP, NP_EGRESS_LOCAL),
                           "own firewall"));
    assert_non_null(
        strstr(np_egress_advice(NP_EGRESS_UDP, NP_EGRESS_UNTESTABLE),
               "Not a verdict"));
    assert_non_null(strstr(
        np_egress_advice(NP_EGRESS_TCP, NP_EGRESS_UNTESTABLE), "--reflector"));
    assert_string_equal(np_egress_advice(NP_EGRESS_TCP, NP_EGRESS_REACHABLE),
                        "");
    /* Every blocked state asks someone to do something. */
    assert_non_null(
        strstr(np_egress_advice(NP_EGRESS_TCP, NP_EGRESS_DROPPED), "admin"));
    assert_non_null(
        strstr(np_egress_advice(NP_EGRESS_UDP, NP_EGRESS_REJECTED), "admin"));
    assert_non_null(
        strstr(np_egress_advice(NP_EGRESS_TCP, NP_EGRESS_REFUSED), "admin"));
}

static np_egress_target tgt(int proto, uint16_t port, int state)
{
    np_egress_target t;

    memset(&t, 0, sizeof(t));
    t.proto = proto;
    t.port = port;
    t.state = state;
    t.icmp_type = t.icmp_code = -1;
    return t;
}

static void test_overall_selection(void **state)
{
    np_egress_target t[4];
    np_egress_report rep;
    (void)state;

    memset(&rep, 0, sizeof(rep));
    rep.calib_tcp = tgt(NP_EGRESS_TCP, 443, NP_EGRESS_REACHABLE);
    rep.calib_udp = tgt(NP_EGRESS_UDP, 3478, NP_EGRESS_REACHABLE);

    t[0] = tgt(NP_EGRESS_TCP, 80, NP_EGRESS_REACHABLE);
    t[1] = tgt(NP_EGRESS_UDP, 3074, NP_EGRESS_UNTESTABLE);
    assert_int_equal(np_egress_overall(t, 2, &rep), NP_EGRESS_ALL_REACHABLE);

    t[2] = tgt(NP_EGRESS_TCP, 25, NP_EGRESS_DROPPED);
    assert_int_equal(np_egress_overall(t, 3, &rep), NP_EGRESS_SOME_BLOCKED);

    /* All targets blocked, but the reflector answered: the network is up,
     * the ports are blocked. */
    t[0] = tgt(NP_EGRESS_TCP, 80, NP_EGRESS_REFUSED);
    assert_int_equal(np_egress_overall(t, 3, &rep), NP_EGRESS_SOME_BLOCKED);

    /* Nothing at all answered, calibration included. */
    rep.calib_tcp.state = NP_EGRESS_DROPPED;
    rep.calib_udp.state = NP_EGRESS_DROPPED;
    assert_int_equal(np_egress_overall(t, 3, &rep),
                     NP_EGRESS_NOTHING_REACHABLE);
    assert_non_null(strstr(np_egress_overall_text(NP_EGRESS_NOTHING_REACHABLE),
                           "not even the reflector"));

    /* Nothing testable and no calibration ran. */
    rep.calib_tcp.state = NP_EGRESS_UNTESTABLE;
    rep.calib_udp.state = NP_EGRESS_UNTESTABLE;
    assert_int_equal(np_egress_overall(&t[1], 1, &rep),
                     NP_EGRESS_NOTHING_TESTABLE);
    /* Calibration reached, but no target testable: still "nothing
     * testable", never "all reachable". */
    rep.calib_udp.state = NP_EGRESS_REACHABLE;
    assert_int_equal(np_egress_overall(&t[1], 1, &rep),
                     NP_EGRESS_NOTHING_TESTABLE);
    /* Without a report only the targets count. */
    t[3] = tgt(NP_EGRESS_UDP, 3478, NP_EGRESS_REACHABLE);
    assert_int_equal(np_egress_overall(&t[3], 1, NULL),
                     NP_EGRESS_ALL_REACHABLE);
    assert_string_not_equal(np_egress_overall_text(NP_EGRESS_ALL_REACHABLE),
                            np_egress_overall_text(NP_EGRESS_SOME_BLOCKED));
}

/* ---- configuration ------------------------------------------------------- */

static void test_testable_and_args(void **state)
{
    np_egress_config cfg;
    np_egress_target t = tgt(NP_EGRESS_TCP, 0, 0);
    np_error err;
    (void)state;

    np_egress_config_init(&cfg);
    assert_int_equal(cfg.max_inflight, 64);
    assert_false(np_egress_testable(&cfg, NP_EGRESS_TCP, 80));
    assert_int_equal(np_addr_parse(&cfg.reflector, "203.0.113.100", 443, NULL),
                     NP_OK);
    assert_true(np_egress_testable(&cfg, NP_EGRESS_TCP, 80));
    assert_false(np_egress_testable(&cfg, NP_EGRESS_UDP, 3478));
    assert_int_equal(np_addr_parse(&cfg.stun[0], "198.51.100.10:3478", 0, NULL),
                     NP_OK);
    cfg.n_stun = 1;
    assert_true(np_egress_testable(&cfg, NP_EGRESS_UDP, 3478));
    assert_false(np_egress_testable(&cfg, NP_EGRESS_UDP, 3479));
    cfg.stun_all_ports = 1;
    assert_true(np_egress_testable(&cfg, NP_EGRESS_UDP, 3479));

    /* Port 0 and bad timing are rejected before any socket. */
    assert_int_equal(np_egress_run(&cfg, &t, 1, NULL, &err), NP_EINVAL);
    assert_non_null(strstr(err.where, "target 0"));
    t.port = 80;
    cfg.wait_floor_ms = 5000;
    assert_int_equal(np_egress_run(&cfg, &t, 1, NULL, &err), NP_EINVAL);
}

/* ---- a run on loopback -----------------------------------------------------
 */

static int loopback_socket(int type, uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, type, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_run_loopback(void **state)
{
    np_egress_config cfg;
    np_egress_report rep;
    np_egress_target t[5];
    np_error err;
    uint16_t open_port, closed_tcp, closed_udp;
    int lfd, cfd, ufd;
    (void)state;

    /* A listener (the kernel completes handshakes without accept()), and
     * ports that were bound and closed again, so nothing listens there. */
    lfd = loopback_socket(SOCK_STREAM, &open_port);
    assert_int_equal(listen(lfd, 16), 0);
    cfd = loopback_socket(SOCK_STREAM, &closed_tcp);
    close(cfd);
    ufd = loopback_socket(SOCK_DGRAM, &closed_udp);
    close(ufd);

    np_egress_config_init(&cfg);
    assert_int_equal(np_addr_parse(&cfg.reflector, "127.0.0.1", 0, NULL),
                     NP_OK);
    cfg.open_port = open_port;
    assert_int_equal(np_addr_parse(&cfg.stun[0], "127.0.0.1", closed_udp, NULL),
                     NP_OK);
    cfg.n_stun = 1;
    cfg.wait_floor_ms = 200;

    t[0] = tgt(NP_EGRESS_TCP, open_port, 0);
    t[1] = tgt(NP_EGRESS_TCP, closed_tcp, 0);
    t[2] = tgt(NP_EGRESS_UDP, closed_udp, 0);
    t[3] = tgt(NP_EGRESS_UDP, 9, 0);         /* no STUN server on 9 */
    t[4] = tgt(NP_EGRESS_TCP, open_port, 0); /* duplicate */
    assert_int_equal(np_egress_run(&cfg, t, 5, &rep, &err), NP_OK);

    assert_int_equal(t[0].state, NP_EGRESS_REACHABLE);
    assert_int_equal(t[1].state, NP_EGRESS_REFUSED);
    assert_int_equal(t[1].sys_errno, ECONNREFUSED);
    assert_int_equal(t[2].state, NP_EGRESS_REJECTED);
    assert_int_equal(t[2].icmp_type, 3); /* port unreachable, via */
    assert_int_equal(t[2].icmp_code, 3); /* IP_RECVERR */
    assert_int_equal(t[3].state, NP_EGRESS_UNTESTABLE);
    assert_int_equal(t[4].state, NP_EGRESS_REACHABLE);
    assert_int_equal(rep.calib_tcp.state, NP_EGRESS_REACHABLE);
    assert_int_equal(rep.rtt_proto, NP_EGRESS_TCP);
    assert_true(rep.rtt_ms > 0);
    assert_true(rep.wait_ms >= 200.0);
    /* Nothing had to wait: every answer came at once. */
    assert_true(rep.elapsed_ms < 150.0);
    assert_int_equal(rep.reachable, 2);
    assert_int_equal(rep.blocked, 2);
    assert_int_equal(rep.untestable, 1);
    assert_int_equal(np_egress_overall(t, 5, &rep), NP_EGRESS_SOME_BLOCKED);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_table),
        cmocka_unit_test(test_sample_properties),
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_blocked_and_names),
        cmocka_unit_test(test_advice_selection),
        cmocka_unit_test(test_overall_selection),
        cmocka_unit_test(test_testable_and_args),
        cmocka_unit_test(test_run_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
