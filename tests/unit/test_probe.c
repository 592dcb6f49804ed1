/*
 * Unit tests for probe.c's proof from outside (np_probe_reachable and its
 * decision, np_reach_decide): the decision row by row, and the whole
 * exchange against scripted STUN servers on loopback (127.0.0.1 primary,
 * 127.0.0.2 alternate) that behave like the servers verify meets: an
 * RFC 5780 server, one without OTHER-ADDRESS that answers CHANGE-REQUEST
 * with an error, a host that serves TCP but drops UDP, a host that refuses
 * UDP (ICMP port unreachable), and a path that drops unsolicited inbound
 * answers to the mapped port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "natpilot/probe.h"
#include "natpilot/stun.h"

/* --- the decision, one row per case ------------------------------------ */

struct decide_row {
    const char *name;
    int answered, reachable, wrong_source, change_error, control_changed;
    int icmp_refused, tcp_reachable, have_other;
    enum np_reach_verdict verdict;
    enum np_reach_reason reason;
};

static const struct decide_row rows[] = {
    {.name = "proven",
     .answered = 1,
     .reachable = 1,
     .have_other = 1,
     .verdict = NP_REACH_PROVEN,
     .reason = NP_REACH_R_NONE},
    {.name = "udp blocked: silent UDP, TCP connects",
     .tcp_reachable = 1,
     .verdict = NP_REACH_PROBLEM,
     .reason = NP_REACH_R_UDP_BLOCKED},
    {.name = "server refuses UDP (ICMP from the server)",
     .icmp_refused = 1,
     .tcp_reachable = 1,
     .verdict = NP_REACH_INCONCLUSIVE,
     .reason = NP_REACH_R_SERVER_NO_UDP},
    {.name = "silent everywhere",
     .verdict = NP_REACH_INCONCLUSIVE,
     .reason = NP_REACH_R_SILENT},
    {.name = "no OTHER-ADDRESS, CHANGE-REQUEST error",
     .answered = 1,
     .change_error = 1,
     .verdict = NP_REACH_INCONCLUSIVE,
     .reason = NP_REACH_R_NO_RFC5780},
    {.name = "ignores CHANGE-REQUEST",
     .answered = 1,
     .wrong_source = 1,
     .have_other = 1,
     .verdict = NP_REACH_INCONCLUSIVE,
     .reason = NP_REACH_R_IGNORES_CHANGE},
    {.name = "control never changed: cannot prove",
     .answered = 1,
     .have_other = 1,
     .verdict = NP_REACH_INCONCLUSIVE,
     .reason = NP_REACH_R_CHANGE_REFUSED},
    {.name = "change error with OTHER-ADDRESS",
     .answered = 1,
     .change_error = 1,
     .control_changed = 1,
     .have_other = 1,
     .verdict = NP_REACH_INCONCLUSIVE,
     .reason = NP_REACH_R_CHANGE_REFUSED},
    {.name = "not inbound: control came, mapped port did not",
     .answered = 1,
     .control_changed = 1,
     .have_other = 1,
     .verdict = NP_REACH_PROBLEM,
     .reason = NP_REACH_R_NOT_INBOUND},
};

static void decide_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct decide_row *w = &rows[i];
        np_reach r;

        memset(&r, 0, sizeof(r));
        r.answered = w->answered;
        r.reachable = w->reachable;
        r.wrong_source = w->wrong_source;
        r.change_error = w->change_error;
        r.control_changed = w->control_changed;
        r.icmp_refused = w->icmp_refused;
        r.tcp_reachable = w->tcp_reachable;
        np_reach_decide(&r, w->have_other);
        if (r.verdict != w->verdict || r.reason != w->reason)
            fail_msg("row \"%s\": got %s/%s", w->name,
                     np_reach_verdict_name(r.verdict),
                     np_reach_reason_name(r.reason));
        assert_non_null(r.reason_text);
        assert_true(strlen(r.reason_text) > 20);
    }
    assert_string_equal(np_reach_verdict_name(NP_REACH_PROBLEM), "problem");
    assert_string_equal(np_reach_reason_name(NP_REACH_R_UDP_BLOCKED),
                        "udp-blocked");
}

/* --- scripted STUN servers on loopback ---------------------------------- */

enum srv_mode {
    SRV_RFC5780,    /* OTHER-ADDRESS, CHANGE-REQUEST honoured */
    SRV_NO5780,     /* no OTHER-ADDRESS; CHANGE-REQUEST -> 420 error */
    SRV_FILTERED,   /* RFC 5780, but changed answers to the mapped port are
                       dropped (a firewall beyond the router) */
    SRV_TCP_ONLY,   /* UDP bound and silent, TCP listening */
    SRV_UDP_REFUSED /* nothing on the UDP port: ICMP port unreachable */
};

static int bound(int type, const char *ip, uint16_t port, uint16_t *got)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int one = 1, fd = socket(AF_INET, type, 0);

    assert_true(fd >= 0);
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    if (got != NULL)
        *got = ntohs(a.sin_port);
    return fd;
}

static void answer(int fd, const struct sockaddr_in *to, const uint8_t *txid,
                   const np_addr *other, int error)
{
    uint8_t out[256];
    np_stun_builder b;
    np_addr m;
    size_t len;

    np_addr_from_sockaddr(&m, (const struct sockaddr *)to, sizeof(*to));
    np_stun_builder_init(
        &b, out, sizeof(out),
        error ? NP_STUN_BINDING_ERROR : NP_STUN_BINDING_SUCCESS, txid);
    if (error) {
        np_stun_add_error(&b, 420, "Unknown Attribute");
    } else {
        np_stun_add_xor_addr(&b, NP_STUN_ATTR_XOR_MAPPED_ADDRESS, &m);
        if (other != NULL)
            np_stun_add_addr(&b, NP_STUN_ATTR_OTHER_ADDRESS, other);
    }
    if (np_stun_finish(&b, &len) != NP_OK)
        _exit(2);
    (void)sendto(fd, out, len, 0, (const struct sockaddr *)to, sizeof(*to));
}

/* Serve on p (127.0.0.1:port) with a (127.0.0.2:port+0) as the alternate. */
static void serve(int p, int a, const np_addr *other, enum srv_mode mode,
                  uint16_t mapped_port)
{
    alarm(5);
    for (;;) {
        uint8_t in[600];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        np_stun_msg m;
        fd_set rs;
        int fd;
        ssize_t n;

        FD_ZERO(&rs);
        FD_SET(p, &rs);
        FD_SET(a, &rs);
        if (select((p > a ? p : a) + 1, &rs, NULL, NULL, NULL) < 0)
            _exit(1);
        fd = FD_ISSET(p, &rs) ? p : a;
        n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
        if (n < 0 || np_stun_decode(in, (size_t)n, &m, NULL) != NP_OK ||
            m.type != NP_STUN_BINDING_REQUEST)
            continue;
        if (mode == SRV_TCP_ONLY)
            continue;
        if (!(m.present & NP_STUN_HAS_CHANGE_REQUEST) ||
            m.change_request == 0) {
            answer(fd, &from, m.txid, mode == SRV_NO5780 ? NULL : other, 0);
            continue;
        }
        if (mode == SRV_NO5780) {
            answer(fd, &from, m.txid, NULL, 1);
            continue;
        }
        if (mode == SRV_FILTERED && ntohs(from.sin_port) == mapped_port)
            continue; /* dropped on the way in */
        answer(fd == p ? a : p, &from, m.txid, other, 0);
    }
}

struct srv {
    pid_t pid;
    np_addr primary;
};

static void srv_start(struct srv *s, enum srv_mode mode, uint16_t mapped_port)
{
    uint16_t port;
    np_addr other;
    int p, a = -1, t = -1;

    if (mode == SRV_UDP_REFUSED) {
        /* take a free port, then close it: nothing listens there */
        p = bound(SOCK_DGRAM, "127.0.0.1", 0, &port);
        close(p);
        t = bound(SOCK_STREAM, "127.0.0.1", port, NULL);
        assert_int_equal(listen(t, 4), 0);
        p = -1;
    } else {
        p = bound(SOCK_DGRAM, "127.0.0.1", 0, &port);
        a = bound(SOCK_DGRAM, "127.0.0.2", port, NULL);
        if (mode == SRV_TCP_ONLY) {
            t = bound(SOCK_STREAM, "127.0.0.1", port, NULL);
            assert_int_equal(listen(t, 4), 0);
        }
    }
    assert_int_equal(np_addr_parse(&s->primary, "127.0.0.1", port, NULL),
                     NP_OK);
    assert_int_equal(np_addr_parse(&other, "127.0.0.2", port, NULL), NP_OK);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        if (p < 0) {
            pause();
            _exit(0);
        }
        serve(p, a, &other, mode, mapped_port);
    }
    if (p >= 0)
        close(p);
    if (a >= 0)
        close(a);
    if (t >= 0)
        close(t); /* the child keeps the listening socket */
}

static void srv_stop(struct srv *s)
{
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
}

/* A free local UDP port for the "mapped" socket. */
static uint16_t free_port(void)
{
    uint16_t port;
    int fd = bound(SOCK_DGRAM, "127.0.0.1", 0, &port);

    close(fd);
    return port;
}

static void run(enum srv_mode mode, np_reach *r)
{
    struct srv s;
    uint16_t lp = free_port();
    np_addr local;
    np_error err;

    srv_start(&s, mode, lp);
    assert_int_equal(np_addr_parse(&local, "127.0.0.1", 0, NULL), NP_OK);
    assert_int_equal(
        np_probe_reachable(&s.primary, NULL, &local, lp, 40, 600, r, &err),
        NP_OK);
    srv_stop(&s);
}

static void reach_rfc5780_proven(void **state)
{
    np_reach r;

    (void)state;
    run(SRV_RFC5780, &r);
    assert_int_equal(r.verdict, NP_REACH_PROVEN);
    assert_true(r.answered && r.reachable);
}

static void reach_no5780_inconclusive(void **state)
{
    np_reach r;

    (void)state;
    run(SRV_NO5780, &r);
    /* not "unreachable ... a second NAT or a firewall" */
    assert_int_equal(r.verdict, NP_REACH_INCONCLUSIVE);
    assert_int_equal(r.reason, NP_REACH_R_NO_RFC5780);
    assert_true(r.change_error);
}

static void reach_filtered_problem(void **state)
{
    np_reach r;

    (void)state;
    run(SRV_FILTERED, &r);
    assert_int_equal(r.verdict, NP_REACH_PROBLEM);
    assert_int_equal(r.reason, NP_REACH_R_NOT_INBOUND);
    assert_true(r.control_changed);
}

static void reach_tcp_only_udp_blocked(void **state)
{
    np_reach r;

    (void)state;
    run(SRV_TCP_ONLY, &r);
    assert_int_equal(r.verdict, NP_REACH_PROBLEM);
    assert_int_equal(r.reason, NP_REACH_R_UDP_BLOCKED);
    assert_true(r.tcp_reachable);
    assert_false(r.answered);
}

static void reach_udp_refused_inconclusive(void **state)
{
    np_reach r;

    (void)state;
    run(SRV_UDP_REFUSED, &r);
    assert_true(r.icmp_refused);
    assert_int_equal(r.verdict, NP_REACH_INCONCLUSIVE);
    assert_int_equal(r.reason, NP_REACH_R_SERVER_NO_UDP);
    assert_true(r.elapsed_ms < 500); /* the refusal ends the wait */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decide_table),
        cmocka_unit_test(reach_rfc5780_proven),
        cmocka_unit_test(reach_no5780_inconclusive),
        cmocka_unit_test(reach_filtered_problem),
        cmocka_unit_test(reach_tcp_only_udp_blocked),
        cmocka_unit_test(reach_udp_refused_inconclusive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
