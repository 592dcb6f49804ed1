/*
 * Unit tests of probe.c, against STUN servers on loopback only (127.0.0.1
 * primary, 127.0.0.2 alternate; both are loopback addresses).
 *
 * np_probe_reachable, the proof from outside (and its decision,
 * np_reach_decide): the decision row by row, and the whole exchange against
 * scripted STUN servers that behave like the servers verify meets: an
 * RFC 5780 server, one without OTHER-ADDRESS that answers CHANGE-REQUEST
 * with an error, a host that serves TCP but drops UDP, a host that refuses
 * UDP (ICMP port unreachable), and a path that drops unsolicited inbound
 * answers to the mapped port.
 *
 * np_probe_run, the NAT behaviour discovery (RFC 5780 section 4), against
 * a responder thread written with the library's own STUN codec: four UDP
 * sockets (both addresses times two ports), so it can answer a
 * CHANGE-REQUEST from the changed address, and optionally a TCP listener.
 * Its misbehaviours are flags: never answer, answer from the wrong source,
 * ignore CHANGE-REQUEST, advertise no or a bogus OTHER-ADDRESS, leave the
 * alternate address dead, drop the first copy of every request, hold every
 * answer for a while, send junk first.
 *
 * Times are asserted only as bounds that follow from the configuration (a
 * run never outlives its budget by more than a generous slack), never as
 * speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
#include "np_util.h"

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

/* --- np_probe_run: a responder thread on loopback ---------------------- */

/* Slack for a loaded machine (2 cores shared by many jobs). */
#define SLACK_MS 2000.0

enum {
    R_SILENT = 1 << 0,        /* never answer UDP */
    R_WRONG_SOURCE = 1 << 1,  /* answer everything from 127.0.0.2:P1 */
    R_IGNORE_CHANGE = 1 << 2, /* answer from the socket the request hit */
    R_NO_OTHER = 1 << 3,      /* no OTHER-ADDRESS in answers */
    R_OTHER_SAME_IP = 1 << 4, /* OTHER-ADDRESS = 127.0.0.1:P2 (bogus) */
    R_ALT_DEAD = 1 << 5,      /* 127.0.0.2 neither answers nor is used */
    R_DROP_FIRST = 1 << 6,    /* drop the first copy of each request */
    R_TCP = 1 << 7,           /* answer STUN over TCP on 127.0.0.1:P1 */
    R_NOISE = 1 << 8,         /* junk and a stranger's answer first */
    R_PLAIN_WRONG = 1 << 9    /* only plain requests answered from the
                                 wrong source, CHANGE-REQUESTs right */
};

#define MAX_PENDING 64
#define MAX_SEEN    64

struct pending {
    uint64_t due_us;
    int fd;
    np_addr to;
    uint8_t buf[NP_STUN_MAX_MSG];
    size_t len;
};

struct responder {
    int mode;
    unsigned delay_ms;
    np_addr addr[2][2]; /* [ip: .1/.2][port: P1/P2] */
    int udp[2][2];
    int tcp_listen, tcp_conn;
    uint8_t tcp_buf[NP_STUN_MAX_MSG];
    size_t tcp_have;
    int stop[2];
    pthread_t thread;
    struct pending q[MAX_PENDING];
    size_t nq;
    uint8_t seen[MAX_SEEN][NP_STUN_TXID_LEN];
    size_t nseen;
    int running;
    /* Read only after responder_stop, which counts every request sent
     * before it was called. */
    unsigned udp_requests, tcp_requests, dropped;
};

static void loop_addr(np_addr *a, int ip, uint16_t port)
{
    const uint8_t v4[4] = {127, 0, 0, (uint8_t)(ip + 1)};

    np_addr_from_ipv4(a, v4, port);
}

static int bound_socket(int type, const np_addr *a, np_addr *out)
{
    socklen_t len = sizeof(out->ss);
    int one = 1;
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
        (type == SOCK_STREAM && listen(fd, 4) != 0)) {
        close(fd);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (getsockname(fd, (struct sockaddr *)&out->ss, &len) != 0) {
        close(fd);
        return -1;
    }
    out->len = len;
    return fd;
}

static void close_all(struct responder *r)
{
    int i, j;

    for (i = 0; i < 2; i++)
        for (j = 0; j < 2; j++)
            if (r->udp[i][j] >= 0)
                close(r->udp[i][j]);
    if (r->tcp_listen >= 0)
        close(r->tcp_listen);
    if (r->tcp_conn >= 0)
        close(r->tcp_conn);
    r->udp[0][0] = r->udp[0][1] = r->udp[1][0] = r->udp[1][1] = -1;
    r->tcp_listen = r->tcp_conn = -1;
}

/* Four UDP sockets with the same two port numbers on both addresses. */
static int responder_bind(struct responder *r)
{
    int attempt;

    for (attempt = 0; attempt < 50; attempt++) {
        np_addr want, got;
        int j, ok = 1;

        for (j = 0; j < 2 && ok; j++) {
            loop_addr(&want, 0, 0);
            r->udp[0][j] = bound_socket(SOCK_DGRAM, &want, &got);
            if (r->udp[0][j] < 0) {
                ok = 0;
                break;
            }
            r->addr[0][j] = got;
            loop_addr(&want, 1, np_addr_port(&got));
            r->udp[1][j] = bound_socket(SOCK_DGRAM, &want, &r->addr[1][j]);
            ok = r->udp[1][j] >= 0;
        }
        if (ok && (r->mode & R_TCP)) {
            r->tcp_listen = bound_socket(SOCK_STREAM, &r->addr[0][0], &got);
            ok = r->tcp_listen >= 0;
        }
        if (ok)
            return 0;
        close_all(r);
    }
    return -1;
}

static void queue_reply(struct responder *r, int fd, const np_addr *to,
                        const uint8_t *buf, size_t len)
{
    struct pending *p;

    if (r->nq == MAX_PENDING)
        return;
    p = &r->q[r->nq++];
    p->due_us = np__mono_us() + (uint64_t)r->delay_ms * 1000u;
    p->fd = fd;
    p->to = *to;
    memcpy(p->buf, buf, len);
    p->len = len;
}

/* A Binding success for a request with txid from `from`, sent from `origin`. */
static int build_answer(const struct responder *r, const np_stun_msg *req,
                        const np_addr *from, const np_addr *origin,
                        uint8_t *out, size_t *len)
{
    np_stun_builder b;

    np_stun_builder_init(&b, out, NP_STUN_MAX_MSG, NP_STUN_BINDING_SUCCESS,
                         req->txid);
    np_stun_add_xor_addr(&b, NP_STUN_ATTR_XOR_MAPPED_ADDRESS, from);
    if (r->mode & R_OTHER_SAME_IP)
        np_stun_add_addr(&b, NP_STUN_ATTR_OTHER_ADDRESS, &r->addr[0][1]);
    else if (!(r->mode & R_NO_OTHER))
        np_stun_add_addr(&b, NP_STUN_ATTR_OTHER_ADDRESS, &r->addr[1][1]);
    if (origin != NULL)
        np_stun_add_addr(&b, NP_STUN_ATTR_RESPONSE_ORIGIN, origin);
    np_stun_add_fingerprint(&b);
    return np_stun_finish(&b, len);
}

static int seen_before(struct responder *r, const uint8_t *txid)
{
    size_t i;

    for (i = 0; i < r->nseen; i++)
        if (memcmp(r->seen[i], txid, NP_STUN_TXID_LEN) == 0)
            return 1;
    if (r->nseen < MAX_SEEN)
        memcpy(r->seen[r->nseen++], txid, NP_STUN_TXID_LEN);
    return 0;
}

static void on_udp(struct responder *r, int ip, int port)
{
    uint8_t buf[1500], out[NP_STUN_MAX_MSG];
    np_addr from;
    socklen_t flen;
    ssize_t n;

    for (;;) {
        np_stun_msg m;
        int ri = ip, rj = port;
        size_t len;

        memset(&from, 0, sizeof(from));
        flen = sizeof(from.ss);
        n = recvfrom(r->udp[ip][port], buf, sizeof(buf), 0,
                     (struct sockaddr *)&from.ss, &flen);
        if (n < 0)
            return;
        from.len = flen;
        if (np_stun_decode(buf, (size_t)n, &m, NULL) != NP_OK ||
            m.type != NP_STUN_BINDING_REQUEST)
            continue;
        r->udp_requests++;
        if ((r->mode & R_SILENT) || ((r->mode & R_ALT_DEAD) && ip == 1))
            continue;
        if ((r->mode & R_DROP_FIRST) && !seen_before(r, m.txid)) {
            r->dropped++;
            continue;
        }
        if ((r->mode & R_WRONG_SOURCE) ||
            ((r->mode & R_PLAIN_WRONG) &&
             !(m.present & NP_STUN_HAS_CHANGE_REQUEST))) {
            ri = 1;
            rj = 0;
        } else if (!(r->mode & R_IGNORE_CHANGE) &&
                   (m.present & NP_STUN_HAS_CHANGE_REQUEST)) {
            ri ^= (m.change_request & NP_STUN_CHANGE_IP) ? 1 : 0;
            rj ^= (m.change_request & NP_STUN_CHANGE_PORT) ? 1 : 0;
        }
        if ((r->mode & R_ALT_DEAD) && ri == 1)
            continue;
        if (r->mode & R_NOISE) {
            static const uint8_t junk[] = "not STUN at all";
            np_stun_msg other = m;

            /* not STUN, a truncated answer, an answer to no request */
            queue_reply(r, r->udp[ri][rj], &from, junk, sizeof(junk));
            other.txid[0] ^= 0xff;
            if (build_answer(r, &other, &from, NULL, out, &len) == NP_OK) {
                queue_reply(r, r->udp[ri][rj], &from, out, len - 4);
                queue_reply(r, r->udp[ri][rj], &from, out, len);
            }
        }
        if (build_answer(r, &m, &from, &r->addr[ri][rj], out, &len) == NP_OK)
            queue_reply(r, r->udp[ri][rj], &from, out, len);
    }
}

static void on_tcp(struct responder *r)
{
    uint8_t out[NP_STUN_MAX_MSG];
    np_addr peer;
    socklen_t plen = sizeof(peer.ss);
    np_stun_msg m;
    size_t need, len;
    ssize_t n;

    n = recv(r->tcp_conn, r->tcp_buf + r->tcp_have,
             sizeof(r->tcp_buf) - r->tcp_have, 0);
    if (n <= 0) {
        close(r->tcp_conn);
        r->tcp_conn = -1;
        return;
    }
    r->tcp_have += (size_t)n;
    need = np_stun_frame_len(r->tcp_buf, r->tcp_have);
    if (need == 0 || r->tcp_have < need)
        return;
    memset(&peer, 0, sizeof(peer));
    getpeername(r->tcp_conn, (struct sockaddr *)&peer.ss, &plen);
    peer.len = plen;
    if (np_stun_decode(r->tcp_buf, need, &m, NULL) == NP_OK &&
        m.type == NP_STUN_BINDING_REQUEST &&
        build_answer(r, &m, &peer, NULL, out, &len) == NP_OK) {
        r->tcp_requests++;
        (void)send(r->tcp_conn, out, len, MSG_NOSIGNAL);
    }
    r->tcp_have = 0;
}

static void *responder_main(void *arg)
{
    struct responder *r = arg;

    for (;;) {
        struct pollfd pfd[7];
        int n = 0, i, j, timeout = -1;
        uint64_t now = np__mono_us();
        size_t k;

        /* send what is due */
        for (k = 0; k < r->nq;) {
            if (r->q[k].due_us <= now) {
                (void)sendto(r->q[k].fd, r->q[k].buf, r->q[k].len, 0,
                             (const struct sockaddr *)&r->q[k].to.ss,
                             r->q[k].to.len);
                /* keep the order they were queued in */
                memmove(&r->q[k], &r->q[k + 1],
                        (r->nq - k - 1) * sizeof(r->q[0]));
                r->nq--;
            } else {
                uint64_t ms = (r->q[k].due_us - now + 999) / 1000;
                if (timeout < 0 || (int)ms < timeout)
                    timeout = (int)ms;
                k++;
            }
        }
        pfd[n].fd = r->stop[0];
        pfd[n++].events = POLLIN;
        for (i = 0; i < 2; i++)
            for (j = 0; j < 2; j++) {
                pfd[n].fd = r->udp[i][j];
                pfd[n++].events = POLLIN;
            }
        pfd[n].fd = r->tcp_listen;
        pfd[n++].events = POLLIN;
        pfd[n].fd = r->tcp_conn;
        pfd[n++].events = POLLIN;
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents != 0) {
            /* count what arrived before the stop (sent before np_probe_run
             * returned: loopback delivers at once), then end */
            for (i = 0; i < 4; i++)
                on_udp(r, i / 2, i % 2);
            break;
        }
        for (i = 0; i < 4; i++)
            if (pfd[1 + i].revents & POLLIN)
                on_udp(r, i / 2, i % 2);
        if ((pfd[5].revents & POLLIN) && r->tcp_conn < 0) {
            r->tcp_conn = accept4(r->tcp_listen, NULL, NULL,
                                  SOCK_NONBLOCK | SOCK_CLOEXEC);
            r->tcp_have = 0;
        }
        if (r->tcp_conn >= 0 && (pfd[6].revents & (POLLIN | POLLHUP)))
            on_tcp(r);
    }
    return NULL;
}

static void responder_start(struct responder *r, int mode, unsigned delay_ms)
{
    memset(r, 0, sizeof(*r));
    r->mode = mode;
    r->delay_ms = delay_ms;
    r->udp[0][0] = r->udp[0][1] = r->udp[1][0] = r->udp[1][1] = -1;
    r->tcp_listen = r->tcp_conn = -1;
    assert_int_equal(responder_bind(r), 0);
    assert_int_equal(pipe2(r->stop, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&r->thread, NULL, responder_main, r), 0);
    r->running = 1;
}

static void responder_stop(struct responder *r)
{
    char c = 'x';

    if (!r->running)
        return;
    r->running = 0;
    assert_int_equal(write(r->stop[1], &c, 1), 1);
    assert_int_equal(pthread_join(r->thread, NULL), 0);
    close(r->stop[0]);
    close(r->stop[1]);
    close_all(r);
}

/* Static, so that a test that fails half-way (cmocka jumps out of it)
 * leaves no thread using a dead stack frame: the teardown stops them. */
static struct responder resp_a, resp_b;

static int stop_responders(void **state)
{
    (void)state;
    responder_stop(&resp_a);
    responder_stop(&resp_b);
    return 0;
}

/* --- running the probe ---------------------------------------------------*/

struct steps {
    char names[8][64];
    size_t n;
};

static void on_step(void *ctx, const char *step)
{
    struct steps *s = ctx;

    if (s->n < 8)
        snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", step);
}

static int saw_step(const struct steps *s, const char *step)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->names[i], step) == 0)
            return 1;
    return 0;
}

static void config(np_probe_config *cfg, const struct responder *r,
                   unsigned floor_ms, unsigned ceil_ms, unsigned budget_ms,
                   int use_tcp)
{
    np_probe_config_init(cfg);
    cfg->server = r->addr[0][0];
    cfg->wait_floor_ms = floor_ms;
    cfg->wait_ceil_ms = ceil_ms;
    cfg->budget_ms = budget_ms;
    cfg->use_tcp = use_tcp;
}

/* Run the probe; check what holds for every run; return the wall time. */
static double run_probe(const np_probe_config *cfg, np_probe_obs *obs)
{
    np_error err;
    uint64_t t0 = np__mono_us();
    double wall;
    unsigned resent = 0;
    size_t i;
    const np_probe_tx *all[] = {&obs->test[0],          &obs->test[1],
                                &obs->test[2],          &obs->filt_plain,
                                &obs->filt_change_both, &obs->filt_change_port};

    np_error_clear(&err);
    if (np_probe_run(cfg, obs, &err) != NP_OK)
        fail_msg("np_probe_run: %s", err.msg);
    wall = (double)(np__mono_us() - t0) / 1000.0;
    /* the budget bounds the run, and the run reports its own length */
    assert_true(obs->elapsed_ms <= cfg->budget_ms + SLACK_MS);
    assert_true(wall <= cfg->budget_ms + SLACK_MS);
    assert_true(obs->elapsed_ms <= wall + 1.0);
    /* both UDP sockets on loopback, different ports */
    assert_int_equal(np_addr_family(&obs->local_m), AF_INET);
    assert_true(np_addr_same_ip(&obs->local_m, &cfg->server));
    assert_true(np_addr_same_ip(&obs->local_f, &cfg->server));
    assert_int_not_equal(np_addr_port(&obs->local_m),
                         np_addr_port(&obs->local_f));
    /* every re-sent datagram is counted */
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i]->sent > 0)
            resent += all[i]->sent - 1;
        assert_true(all[i]->sent <= 7);
        assert_true(all[i]->answered == 0 || all[i]->sent > 0);
    }
    for (i = 0; i < obs->n_extra; i++)
        if (obs->extra[i].sent > 0)
            resent += obs->extra[i].sent - 1;
    /* the hairpin's own re-sends are counted but not shown: on loopback
     * its request is back at once, so at most a few */
    assert_true(obs->retransmits >= resent);
    assert_true(obs->retransmits <= resent + 6);
    return wall;
}

/* --- the cases ---------------------------------------------------------- */

/* An RFC 5780 server that does everything right, no NAT in between. */
static void rfc5780_server(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;
    struct steps steps = {.n = 0};

    (void)state;
    responder_start(r, R_TCP, 0);
    config(&cfg, r, 50, 400, 3000, 1);
    cfg.progress = on_step;
    cfg.progress_ctx = &steps;
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.udp_answered, 1);
    assert_int_equal(obs.server_state, NP_SRV_OK);
    assert_true(np_addr_equal(&obs.other_address, &r->addr[1][1]));
    /* test I: from the primary address, mapped = our own socket M */
    assert_int_equal(obs.test[0].answered, 1);
    assert_true(np_addr_equal(&obs.test[0].dest, &r->addr[0][0]));
    assert_true(np_addr_equal(&obs.test[0].from, &r->addr[0][0]));
    assert_true(np_addr_equal(&obs.test[0].mapped, &obs.local_m));
    /* test II: alternate IP, primary port; same mapping (no NAT) */
    assert_int_equal(obs.test[1].answered, 1);
    assert_true(np_addr_equal(&obs.test[1].dest, &r->addr[1][0]));
    assert_true(np_addr_equal(&obs.test[1].from, &r->addr[1][0]));
    assert_true(np_addr_equal(&obs.test[1].mapped, &obs.local_m));
    /* test III was sent to the alternate address and port */
    assert_true(obs.test[2].sent >= 1);
    assert_true(np_addr_equal(&obs.test[2].dest, &r->addr[1][1]));
    if (obs.test[2].answered)
        assert_true(np_addr_equal(&obs.test[2].mapped, &obs.local_m));
    /* filtering: every answer came in, each from the address asked for */
    assert_int_equal(obs.filt_plain.answered, 1);
    assert_true(np_addr_equal(&obs.filt_plain.mapped, &obs.local_f));
    assert_int_equal(obs.filt_change_both.answered, 1);
    assert_true(np_addr_equal(&obs.filt_change_both.from, &r->addr[1][1]));
    assert_int_equal(obs.filt_change_port.answered, 1);
    assert_true(np_addr_equal(&obs.filt_change_port.from, &r->addr[0][1]));
    assert_int_equal(obs.filt_change_both.wrong_source, 0);
    /* loopback hairpins: socket M's request to its own address came back */
    assert_int_equal(obs.hairpin, 1);
    /* RTT measured; the wait derived from it, clamped to [floor, ceiling] */
    assert_true(obs.rtt_ms > 0.0);
    assert_true(obs.test[0].rtt_ms > 0.0);
    assert_true(obs.test[0].waited_ms >= obs.test[0].rtt_ms);
    assert_true(obs.wait_ms >= cfg.wait_floor_ms);
    assert_true(obs.wait_ms <= cfg.wait_ceil_ms);
    assert_true(obs.wait_ms == cfg.wait_floor_ms ||
                obs.wait_ms >= 2 * obs.rtt_ms);
    /* answers came in: the run did not wait out its budget */
    assert_true(obs.elapsed_ms < cfg.budget_ms);
    assert_true(r->udp_requests >= 6);
    /* the steps were reported */
    assert_true(steps.n >= 2);
    assert_string_equal(steps.names[0], "sending probes");
    assert_true(saw_step(&steps, "testing mapping behaviour"));
}

/* Answers held 40 ms: the wait is two RTTs, inside floor and ceiling. */
static void wait_from_rtt(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, 0, 40);
    config(&cfg, r, 20, 1000, 4000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_true(obs.rtt_ms >= 40.0);
    assert_true(obs.test[0].rtt_ms >= 40.0);
    assert_true(obs.wait_ms >= 2 * obs.rtt_ms);
    assert_true(obs.wait_ms >= 80.0 && obs.wait_ms <= 1000.0);
    /* exactly two RTTs of the first answer (test I or F's plain request,
     * whichever came first), when neither was re-sent */
    if (obs.test[0].sent == 1 && obs.filt_plain.sent == 1) {
        double a = obs.test[0].rtt_ms, b = obs.filt_plain.rtt_ms;
        double lo = a < b ? a : b, hi = a < b ? b : a;

        assert_true(obs.wait_ms >= 2 * lo - 0.01);
        assert_true(obs.wait_ms <= 2 * hi + 0.01);
    }
    assert_int_equal(obs.server_state, NP_SRV_OK);
}

/* Answers held 150 ms, ceiling 100 ms: the wait is the ceiling. */
static void wait_ceiling(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, 0, 150);
    config(&cfg, r, 20, 100, 3000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_true(obs.rtt_ms >= 150.0);
    assert_true(obs.wait_ms == 100.0);
}

/* Loopback RTT is far below a 300 ms floor: the wait is the floor. */
static void wait_floor(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, 0, 0);
    config(&cfg, r, 300, 1000, 4000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_true(obs.rtt_ms < 150.0); /* 2 RTT below the floor */
    assert_true(obs.wait_ms == 300.0);
}

/* Junk, truncated answers and answers to nobody's request before every
 * real answer: all counted as stray, none changes an observation. */
static void noise_is_ignored(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_NOISE, 0);
    config(&cfg, r, 50, 300, 3000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.server_state, NP_SRV_OK);
    assert_int_equal(obs.test[0].answered, 1);
    assert_true(np_addr_equal(&obs.test[0].mapped, &obs.local_m));
    assert_int_equal(obs.filt_change_both.answered, 1);
    assert_int_equal(obs.filt_change_port.answered, 1);
    assert_int_equal(obs.test[0].wrong_source, 0);
    /* 3 per request answered: at least tests I, II and the 3 F requests */
    assert_true(obs.stray >= 15);
}

/* Every first copy is lost: re-sent, answered, RTT per Karn (from the
 * first send, so never below the initial 100 ms re-send time). */
static void retransmits(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_DROP_FIRST, 0);
    config(&cfg, r, 50, 500, 4000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_true(obs.test[0].sent >= 2);
    assert_true(obs.filt_plain.sent >= 2);
    assert_true(obs.retransmits >= 2);
    assert_true(r->dropped >= 2);
    assert_true(obs.test[0].waited_ms >= 100.0);
    assert_true(obs.rtt_ms >= 100.0);
    assert_int_equal(obs.server_state, NP_SRV_OK);
}

/* Nobody answers UDP and TCP is refused: "nobody there" soon after the
 * refusal, well inside the budget; every request was re-sent. */
static void silent_tcp_refused(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_SILENT, 0); /* no TCP listener: RST */
    config(&cfg, r, 100, 300, 5000, 1);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.udp_answered, 0);
    assert_int_equal(obs.test[0].answered, 0);
    assert_true(obs.test[0].sent >= 2);
    assert_int_equal(obs.server_state, NP_SRV_UNTESTED);
    assert_int_equal(obs.hairpin, -1);
    assert_int_equal(obs.tcp_tried, 1);
    assert_int_equal(obs.tcp_refused, 1);
    assert_int_equal(obs.tcp_connected, 0);
    assert_true(obs.elapsed_ms < cfg.budget_ms);
    assert_true(r->udp_requests >= 4);
}

/* Nobody answers and no TCP: the run ends at its budget, not before. */
static void silent_budget(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;
    double wall;

    (void)state;
    responder_start(r, R_SILENT, 0);
    config(&cfg, r, 50, 200, 600, 0);
    wall = run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.udp_answered, 0);
    assert_int_equal(obs.tcp_tried, 0);
    assert_true(obs.elapsed_ms >= 600.0);
    assert_true(wall >= 600.0);
    assert_true(obs.test[0].sent >= 2);
    assert_true(obs.retransmits >= 4);
    assert_true(obs.wait_ms == 0.0); /* no RTT: no derived wait */
}

/* UDP silent, STUN over TCP answers: TCP's mapping, and a UDP verdict
 * after one more round trip instead of the whole budget. */
static void udp_blocked_tcp_answers(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;
    char a[NP_ADDRSTRLEN];

    (void)state;
    responder_start(r, R_SILENT | R_TCP, 0);
    config(&cfg, r, 100, 300, 5000, 1);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.udp_answered, 0);
    assert_int_equal(obs.tcp_connected, 1);
    assert_int_equal(obs.tcp_answered, 1);
    assert_true(obs.tcp_rtt_ms > 0.0);
    assert_string_equal(np_addr_ip_str(&obs.tcp_mapped, a, sizeof(a)),
                        "127.0.0.1");
    assert_int_equal(r->tcp_requests, 1);
    assert_true(obs.elapsed_ms < cfg.budget_ms);
}

/* Every answer comes from 127.0.0.2:P1, an address no request went to:
 * none is accepted, each is counted as from the wrong source. */
static void wrong_source(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_WRONG_SOURCE, 0);
    config(&cfg, r, 50, 200, 1500, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.udp_answered, 0);
    assert_int_equal(obs.test[0].answered, 0);
    assert_true(obs.test[0].wrong_source >= 1);
    assert_int_equal(obs.filt_plain.answered, 0);
    assert_true(obs.filt_plain.wrong_source >= 1);
    assert_int_equal(obs.filt_change_both.answered, 0);
    assert_int_equal(obs.filt_change_port.answered, 0);
    assert_true(obs.stray >= 1);
    assert_int_equal(obs.server_state, NP_SRV_UNTESTED);
    assert_true(obs.rtt_ms == 0.0);
}

/* The plain answers come from the wrong source, the changed ones from
 * where they should: an OTHER-ADDRESS read from an answer that was refused
 * is no evidence, so no filtering answer may be accepted on its strength. */
static void other_address_only_from_accepted_answers(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_PLAIN_WRONG, 0);
    config(&cfg, r, 50, 200, 1500, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.udp_answered, 0);
    assert_int_equal(obs.test[0].answered, 0);
    assert_true(obs.test[0].wrong_source >= 1);
    assert_int_equal(obs.filt_plain.answered, 0);
    assert_false(np_addr_is_set(&obs.other_address));
    assert_int_equal(obs.filt_change_both.answered, 0);
    assert_int_equal(obs.filt_change_port.answered, 0);
}

/* A server that answers CHANGE-REQUEST from its primary address would make
 * every NAT look open: detected, the "changed" answers refused. */
static void ignores_change_request(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_IGNORE_CHANGE, 0);
    config(&cfg, r, 50, 300, 3000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_int_equal(obs.filt_plain.answered, 1);
    assert_int_equal(obs.server_state, NP_SRV_IGNORES_CHANGE);
    assert_int_equal(obs.filt_change_both.answered, 0);
    assert_true(obs.filt_change_both.wrong_source >= 1);
    assert_int_equal(obs.filt_change_port.answered, 0);
    assert_true(obs.filt_change_port.wrong_source >= 1);
}

/* OTHER-ADDRESS with the primary IP is bogus: tests II/III never sent. */
static void bogus_other_address(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_OTHER_SAME_IP, 0);
    config(&cfg, r, 50, 300, 3000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_int_equal(obs.server_state, NP_SRV_OTHER_SAME_IP);
    assert_true(np_addr_equal(&obs.other_address, &r->addr[0][1]));
    assert_int_equal(obs.test[1].sent, 0);
    assert_int_equal(obs.test[2].sent, 0);
}

/* No OTHER-ADDRESS: not an RFC 5780 server; tests II/III never sent. */
static void no_other_address(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_NO_OTHER, 0);
    config(&cfg, r, 50, 300, 3000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_int_equal(obs.server_state, NP_SRV_NO_OTHER_ADDRESS);
    assert_false(np_addr_is_set(&obs.other_address));
    assert_int_equal(obs.test[1].sent, 0);
    assert_int_equal(obs.test[2].sent, 0);
}

/* OTHER-ADDRESS advertised but dead: tests II/III re-sent, then given up
 * on within their deadline; the server is reported as such. */
static void other_address_dead(void **state)
{
    struct responder *r = &resp_a;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, R_ALT_DEAD, 0);
    config(&cfg, r, 50, 300, 3000, 0);
    run_probe(&cfg, &obs);
    responder_stop(r);

    assert_int_equal(obs.test[0].answered, 1);
    assert_int_equal(obs.server_state, NP_SRV_OTHER_NO_ANSWER);
    assert_int_equal(obs.test[1].answered, 0);
    assert_int_equal(obs.test[2].answered, 0);
    assert_true(obs.test[1].sent >= 2);
    assert_int_equal(obs.filt_change_both.answered, 0);
    /* the change-port answer comes from the primary IP: still alive */
    assert_int_equal(obs.filt_change_port.answered, 1);
    assert_true(obs.elapsed_ms < cfg.budget_ms);
}

/* A further server: mapping compared across servers on socket M. */
static void extra_server(void **state)
{
    struct responder *r = &resp_a, *x = &resp_b;
    np_probe_config cfg;
    np_probe_obs obs;

    (void)state;
    responder_start(r, 0, 0);
    responder_start(x, R_NO_OTHER, 0);
    config(&cfg, r, 50, 300, 3000, 0);
    cfg.extra[0] = x->addr[0][0];
    cfg.n_extra = 1;
    run_probe(&cfg, &obs);
    responder_stop(r);
    responder_stop(x);

    assert_int_equal(obs.n_extra, 1);
    assert_int_equal(obs.extra[0].answered, 1);
    assert_true(np_addr_equal(&obs.extra[0].from, &x->addr[0][0]));
    assert_true(np_addr_equal(&obs.extra[0].mapped, &obs.local_m));
    assert_int_equal(obs.server_state, NP_SRV_OK); /* from the primary */
    assert_true(x->udp_requests >= 1);
}

/* Configurations np_probe_run refuses before sending anything. */
static void bad_configs(void **state)
{
    np_probe_config cfg;
    np_probe_obs obs;
    np_error err;
    np_addr srv;
    int i;

    (void)state;
    loop_addr(&srv, 0, 9);
    for (i = 0; i < 6; i++) {
        np_probe_config_init(&cfg);
        cfg.server = srv;
        switch (i) {
        case 0:
            memset(&cfg.server, 0, sizeof(cfg.server));
            break;
        case 1:
            cfg.wait_floor_ms = 0;
            break;
        case 2:
            cfg.wait_ceil_ms = cfg.wait_floor_ms - 1;
            break;
        case 3:
            cfg.budget_ms = 0;
            break;
        case 4:
            cfg.n_extra = NP_PROBE_MAX_EXTRA + 1;
            break;
        default:
            break;
        }
        if (i == 5) {
            assert_int_equal(np_probe_run(NULL, &obs, &err), NP_EINVAL);
            assert_int_equal(np_probe_run(&cfg, NULL, &err), NP_EINVAL);
            continue;
        }
        if (np_probe_run(&cfg, &obs, &err) != NP_EINVAL)
            fail_msg("case %d accepted", i);
        assert_int_equal(err.code, NP_EINVAL);
    }
    /* the defaults the header promises */
    np_probe_config_init(&cfg);
    assert_int_equal(cfg.wait_floor_ms, 100);
    assert_int_equal(cfg.wait_ceil_ms, 1000);
    assert_int_equal(cfg.budget_ms, 3000);
    assert_int_equal(cfg.use_tcp, 1);
}

static uint16_t free_udp_port(void)
{
    np_addr a, got;
    int fd;

    loop_addr(&a, 0, 0);
    fd = bound_socket(SOCK_DGRAM, &a, &got);
    assert_true(fd >= 0);
    close(fd);
    return np_addr_port(&got);
}

/* The "changed" answer from the primary address proves nothing. */
static void reachable_ignores_change(void **state)
{
    struct responder *r = &resp_a;
    np_reach out;
    np_error err;
    np_addr local;
    uint16_t port = free_udp_port();

    (void)state;
    loop_addr(&local, 0, 0);
    responder_start(r, R_IGNORE_CHANGE, 0);
    assert_int_equal(np_probe_reachable(&r->addr[0][0], NULL, &local, port, 50,
                                        400, &out, &err),
                     NP_OK);
    responder_stop(r);
    assert_int_equal(out.answered, 1);
    assert_int_equal(out.reachable, 0);
    assert_int_equal(out.wrong_source, 1);
    assert_int_equal(out.verdict, NP_REACH_INCONCLUSIVE);
    assert_int_equal(out.reason, NP_REACH_R_IGNORES_CHANGE);
    assert_true(out.elapsed_ms <= 400.0 + SLACK_MS);
}

/* The port is held by someone else (the game): NP_ESYS, nothing sent. */
static void reachable_port_in_use(void **state)
{
    np_addr a, got, srv;
    np_reach out;
    np_error err;
    int fd;

    (void)state;
    loop_addr(&a, 0, 0);
    loop_addr(&srv, 0, 9);
    fd = bound_socket(SOCK_DGRAM, &a, &got);
    assert_true(fd >= 0);
    assert_int_equal(np_probe_reachable(&srv, NULL, &a, np_addr_port(&got), 50,
                                        100, &out, &err),
                     NP_ESYS);
    assert_non_null(strstr(err.msg, "is the game running"));
    close(fd);
    assert_int_equal(np_probe_reachable(&srv, NULL, &a, 0, 50, 100, &out, &err),
                     NP_EINVAL);
    assert_int_equal(np_probe_reachable(&srv, NULL, &a, 5, 50, 10, &out, &err),
                     NP_EINVAL);
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
        cmocka_unit_test_teardown(rfc5780_server, stop_responders),
        cmocka_unit_test_teardown(wait_from_rtt, stop_responders),
        cmocka_unit_test_teardown(wait_ceiling, stop_responders),
        cmocka_unit_test_teardown(wait_floor, stop_responders),
        cmocka_unit_test_teardown(noise_is_ignored, stop_responders),
        cmocka_unit_test_teardown(retransmits, stop_responders),
        cmocka_unit_test_teardown(silent_tcp_refused, stop_responders),
        cmocka_unit_test_teardown(silent_budget, stop_responders),
        cmocka_unit_test_teardown(udp_blocked_tcp_answers, stop_responders),
        cmocka_unit_test_teardown(wrong_source, stop_responders),
        cmocka_unit_test_teardown(other_address_only_from_accepted_answers,
                                  stop_responders),
        cmocka_unit_test_teardown(ignores_change_request, stop_responders),
        cmocka_unit_test_teardown(bogus_other_address, stop_responders),
        cmocka_unit_test_teardown(no_other_address, stop_responders),
        cmocka_unit_test_teardown(other_address_dead, stop_responders),
        cmocka_unit_test_teardown(extra_server, stop_responders),
        cmocka_unit_test_teardown(bad_configs, stop_responders),
        cmocka_unit_test_teardown(reachable_ignores_change, stop_responders),
        cmocka_unit_test_teardown(reachable_port_in_use, stop_responders),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
