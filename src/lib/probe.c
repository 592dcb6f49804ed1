/*
 * natpilot: concurrent RFC 5780 behaviour discovery (see probe.h).
 *
 * The run is a small event loop. Every exchange is a `struct tx` with its own
 * transaction ID, expected answer source, retransmission time and deadline.
 * Deadlines are unknown (0) until the first answer gives an RTT; from then on
 * every wait is W = clamp(2 * RTT, floor, ceiling) after the later of the
 * request's first send and the moment the RTT became known.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/errqueue.h>
#include <netinet/in.h>

#include "natpilot/probe.h"
#include "natpilot/stun.h"
#include "np_util.h"

enum { SOCK_M = 0, SOCK_F = 1, N_UDP = 2 };

enum tx_kind {
    TX_TEST1 = 0, /* M -> primary */
    TX_TEST2,     /* M -> alternate IP, primary port */
    TX_TEST3,     /* M -> alternate IP, alternate port */
    TX_FPLAIN,    /* F -> primary */
    TX_FBOTH,     /* F -> primary, CHANGE-REQUEST(IP and port) */
    TX_FPORT,     /* F -> primary, CHANGE-REQUEST(port) */
    TX_HAIRPIN,   /* M -> M's own mapped address */
    TX_EXTRA0,    /* M -> further servers */
    TX_MAX = TX_EXTRA0 + NP_PROBE_MAX_EXTRA
};

#define MAX_SENDS      7
#define INITIAL_RTO_US 100000u /* before any RTT is known */
#define MIN_RESEND_US  5000u

struct tx {
    np_probe_tx *pub; /* results in the caller's obs; NULL for hairpin */
    int sock;
    uint8_t txid[NP_STUN_TXID_LEN];
    uint32_t change;
    int active;
    int done;
    uint64_t first_us, last_us, next_us, deadline_us;
    uint64_t rto_us;
};

struct tcp_probe {
    int fd;
    int state; /* 0 off, 1 connecting, 2 sent, 3 finished */
    uint64_t start_us, sent_us;
    uint8_t txid[NP_STUN_TXID_LEN];
    uint8_t buf[NP_STUN_MAX_MSG];
    size_t have;
};

struct run {
    const np_probe_config *cfg;
    np_probe_obs *obs;
    int fd[N_UDP];
    struct tx tx[TX_MAX];
    struct tcp_probe tcp;
    uint64_t t0;
    uint64_t rtt_us;       /* 0 until the first UDP answer */
    uint64_t wait_us;      /* W, once rtt_us is known */
    uint64_t anchor_us;    /* when rtt_us became known */
    uint64_t udp_deadline; /* UDP-blocked verdict time, after a TCP answer */
    uint64_t budget_deadline;
    int other_known;
    np_probe_tx hairpin_pub; /* the hairpin exchange is not reported as such */
};

static int icmp_port_unreach(int fd, const np_addr *dest);
static void recverr_on(int fd, int family);

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void progress(struct run *r, const char *step)
{
    if (r->cfg->progress != NULL)
        r->cfg->progress(r->cfg->progress_ctx, step);
}

static int udp_socket(struct run *r, const np_addr *local, np_addr *bound,
                      np_error *err)
{
    np_addr any = *local;
    socklen_t len = sizeof(bound->ss);
    int fd;

    np_addr_set_port(&any, 0);
    fd = socket(np_addr_family(local),
                SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return np_error_sys(err, errno, NULL, "cannot create a UDP socket");
    if (bind(fd, (const struct sockaddr *)&any.ss, any.len) != 0) {
        int e = errno;
        close(fd);
        return np_error_sys(err, e, NULL, "cannot bind a UDP socket");
    }
    memset(bound, 0, sizeof(*bound));
    if (getsockname(fd, (struct sockaddr *)&bound->ss, &len) == 0)
        bound->len = len;
    (void)r;
    return fd;
}

/* The local address the kernel would use towards dest (no packet sent). */
static int route_source(const np_addr *dest, np_addr *src, np_error *err)
{
    char where[NP_ADDRSTRLEN + 8], a[NP_ADDRSTRLEN];
    socklen_t len = sizeof(src->ss);
    int fd, e;

    snprintf(where, sizeof(where), "peer %s", np_addr_str(dest, a, sizeof(a)));
    fd = socket(np_addr_family(dest), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return np_error_sys(err, errno, where, "cannot create a UDP socket");
    if (connect(fd, (const struct sockaddr *)&dest->ss, dest->len) != 0) {
        e = errno;
        close(fd);
        if (e == ENETUNREACH || e == EHOSTUNREACH || e == EADDRNOTAVAIL)
            return np_error_set(err, NP_EUNREACH, where,
                                "no route to the STUN server: this host has "
                                "no network connection");
        return np_error_sys(err, e, where, "cannot route to the STUN server");
    }
    memset(src, 0, sizeof(*src));
    if (getsockname(fd, (struct sockaddr *)&src->ss, &len) == 0)
        src->len = len;
    close(fd);
    return NP_OK;
}

/* Re-send unanswered requests every third of an RTT once it is known. */
static uint64_t resend_interval(const struct run *r)
{
    return clamp_u64(r->rtt_us / 3, MIN_RESEND_US, 250000u);
}

static void tx_send(struct run *r, struct tx *t, uint64_t now)
{
    uint8_t buf[NP_STUN_MAX_MSG];
    size_t len;

    if (np_stun_binding_request(buf, sizeof(buf), t->txid, t->change, &len) !=
        NP_OK)
        return;
    /* A failed send is like a lost datagram: the retransmission covers it. */
    (void)sendto(r->fd[t->sock], buf, len, MSG_NOSIGNAL,
                 (const struct sockaddr *)&t->pub->dest.ss, t->pub->dest.len);
    if (t->pub->sent > 0)
        r->obs->retransmits++;
    t->pub->sent++;
    if (t->first_us == 0)
        t->first_us = now;
    t->last_us = now;
    if (t->pub->sent >= MAX_SENDS) {
        t->next_us = 0;
        return;
    }
    if (r->rtt_us != 0)
        t->rto_us = resend_interval(r);
    t->next_us = now + t->rto_us;
    if (r->rtt_us == 0)
        t->rto_us *= 2;
}

/*
 * How long to wait for the answer to exchange k, started at `start`, once
 * the RTT is known. Three kinds of answers:
 * - must come (tests I-III, F's plain request, further servers): only a loss
 *   delays them, so waiting longer costs nothing in the normal case: 4 RTT;
 * - may never come (the filtering tests): W = 2 RTT, in which the copies
 *   sent at once, after a third and after two thirds of an RTT are all
 *   answered with a third of an RTT to spare;
 * - the hairpin, which never leaves the LAN: half an RTT.
 * All clamped to the configured floor and ceiling.
 */
static uint64_t tx_deadline(const struct run *r, enum tx_kind k, uint64_t start)
{
    uint64_t floor = r->cfg->wait_floor_ms * 1000u;
    uint64_t ceil = r->cfg->wait_ceil_ms * 1000u;

    switch (k) {
    case TX_FBOTH:
    case TX_FPORT:
        return start + r->wait_us;
    case TX_HAIRPIN:
        return start + clamp_u64(r->rtt_us / 2, floor, ceil);
    case TX_TEST1:
    case TX_TEST2:
    case TX_TEST3:
    case TX_FPLAIN:
    case TX_MAX:
    default:
        /* At least three floors: on a LAN the RTT is tiny, and a short
         * stall of this host must not turn a late answer into "none". */
        return start + clamp_u64(4 * r->rtt_us, 3 * floor, 2 * ceil);
    }
}

static void tx_start(struct run *r, enum tx_kind k, const np_addr *dest,
                     uint64_t now)
{
    struct tx *t = &r->tx[k];

    t->pub->dest = *dest;
    t->active = 1;
    t->rto_us = INITIAL_RTO_US;
    if (r->rtt_us != 0)
        t->deadline_us = tx_deadline(r, k, now);
    tx_send(r, t, now);
}

/*
 * The first UDP answer fixes the RTT, W, and every pending deadline. The
 * filtering requests still unanswered are re-sent at once, then every third
 * of an RTT, so that three copies are answered inside the window even when
 * the first one was lost.
 */
static void learn_rtt(struct run *r, uint64_t rtt, uint64_t now)
{
    size_t i;

    if (r->rtt_us != 0)
        return;
    r->rtt_us = rtt > 0 ? rtt : 1;
    r->wait_us = clamp_u64(2 * r->rtt_us, r->cfg->wait_floor_ms * 1000u,
                           r->cfg->wait_ceil_ms * 1000u);
    r->anchor_us = now;
    r->obs->wait_ms = (double)r->wait_us / 1000.0;
    for (i = 0; i < TX_MAX; i++) {
        struct tx *t = &r->tx[i];
        if (!t->active || t->done)
            continue;
        t->deadline_us = tx_deadline(r, (enum tx_kind)i, now);
        t->rto_us = resend_interval(r);
        if (i == TX_FBOTH || i == TX_FPORT)
            t->next_us = now;
        else if (t->next_us != 0 && t->next_us > now + t->rto_us)
            t->next_us = now + t->rto_us;
    }
}

static int other_address_valid(const struct run *r, const np_addr *other)
{
    return np_addr_family(other) == np_addr_family(&r->cfg->server) &&
           np_addr_port(other) != 0 && !np_addr_same_ip(other, &r->cfg->server);
}

/*
 * Record OTHER-ADDRESS from the first answer that has one (test I or F); an
 * RFC 3489 server's CHANGED-ADDRESS means the same (RFC 5780 section 7.4).
 */
static void note_other_address(struct run *r, const np_stun_msg *m)
{
    const np_addr *other = np_stun_other_address(m);

    if (r->other_known)
        return;
    r->other_known = 1;
    if (other == NULL) {
        r->obs->server_state = NP_SRV_NO_OTHER_ADDRESS;
        return;
    }
    r->obs->other_address = *other;
    if (!other_address_valid(r, other))
        r->obs->server_state = NP_SRV_OTHER_SAME_IP;
}

/* Where the answer to tx k must come from; empty when it cannot be known. */
static void expected_source(const struct run *r, enum tx_kind k, np_addr *exp)
{
    const np_addr *other = &r->obs->other_address;

    switch (k) {
    case TX_FBOTH:
        *exp = *other;
        break;
    case TX_FPORT:
        if (np_addr_is_set(other)) {
            *exp = r->cfg->server;
            np_addr_set_port(exp, np_addr_port(other));
        } else
            memset(exp, 0, sizeof(*exp));
        break;
    case TX_TEST1:
    case TX_TEST2:
    case TX_TEST3:
    case TX_FPLAIN:
    case TX_HAIRPIN:
    case TX_MAX:
    default:
        *exp = r->tx[k].pub->dest;
        break;
    }
}

static void start_mapping_tests(struct run *r, uint64_t now)
{
    np_addr alt;

    if (r->obs->server_state != NP_SRV_UNTESTED)
        return; /* already decided that the server cannot do tests II/III */
    if (!np_addr_is_set(&r->obs->other_address))
        return;
    progress(r, "testing mapping behaviour");
    alt = r->obs->other_address;
    np_addr_set_port(&alt, np_addr_port(&r->cfg->server));
    tx_start(r, TX_TEST2, &alt, now);
    tx_start(r, TX_TEST3, &r->obs->other_address, now);
}

static void on_answer(struct run *r, int sock, const uint8_t *buf, size_t len,
                      const np_addr *from, uint64_t now)
{
    np_stun_msg m;
    np_addr exp;
    size_t i;
    struct tx *t = NULL;
    enum tx_kind k = TX_MAX;

    if (np_stun_decode(buf, len, &m, NULL) != NP_OK) {
        r->obs->stray++;
        return;
    }
    for (i = 0; i < TX_MAX; i++) {
        if (r->tx[i].active && r->tx[i].sock == sock &&
            memcmp(r->tx[i].txid, m.txid, NP_STUN_TXID_LEN) == 0) {
            t = &r->tx[i];
            k = (enum tx_kind)i;
            break;
        }
    }
    if (t == NULL || t->done) {
        r->obs->stray++;
        return;
    }
    if (k == TX_HAIRPIN) {
        /* Our own request came back through the NAT: it hairpins. */
        if (m.type == NP_STUN_BINDING_REQUEST) {
            t->done = 1;
            r->obs->hairpin = 1;
        }
        return;
    }
    if (m.type != NP_STUN_BINDING_SUCCESS) {
        r->obs->stray++;
        return;
    }
    expected_source(r, k, &exp);
    if (!np_addr_equal(from, &exp)) {
        t->pub->wrong_source++;
        if ((k == TX_FBOTH || k == TX_FPORT) &&
            np_addr_equal(from, &r->cfg->server))
            r->obs->server_state = NP_SRV_IGNORES_CHANGE;
        else
            r->obs->stray++;
        return;
    }
    /* Only from an answer accepted above: an OTHER-ADDRESS from a refused
     * one would let the filtering answers in on no evidence. */
    if (k == TX_TEST1 || k == TX_FPLAIN)
        note_other_address(r, &m);
    t->done = 1;
    t->next_us = 0;
    t->pub->answered = 1;
    t->pub->from = *from;
    t->pub->rtt_ms = (double)(now - t->last_us) / 1000.0;
    t->pub->waited_ms = (double)(now - t->first_us) / 1000.0;
    /* Answered long after the first send although the RTT is known: the
     * first copy (or its answer) was lost. */
    if (r->rtt_us != 0 && t->pub->sent > 1 &&
        now - t->first_us > 2 * r->rtt_us + MIN_RESEND_US)
        r->obs->late++;
    if (m.present & NP_STUN_HAS_XOR_MAPPED)
        t->pub->mapped = m.xor_mapped;
    else if (m.present & NP_STUN_HAS_MAPPED)
        t->pub->mapped = m.mapped;
    if (sock == SOCK_M || k == TX_FPLAIN)
        r->obs->udp_answered = 1;
    if (k == TX_TEST1 || k == TX_FPLAIN) {
        /* Karn: an answer to a re-sent request may belong to any copy, so
         * its sample is taken from the first send (too long, never too
         * short: the waits err on the safe side, and the RTT reported is
         * never below the path's). */
        uint64_t sample = now - (t->pub->sent == 1 ? t->last_us : t->first_us);
        double rtt = (double)sample / 1000.0;

        if (r->obs->rtt_ms == 0 || rtt < r->obs->rtt_ms)
            r->obs->rtt_ms = rtt;
        learn_rtt(r, sample, now);
    }
    if (k == TX_TEST1) {
        start_mapping_tests(r, now);
        if (np_addr_is_set(&t->pub->mapped))
            tx_start(r, TX_HAIRPIN, &t->pub->mapped, now);
        if (r->tcp.state != 0 && r->tcp.state != 3) {
            /* UDP works: the TCP probe has nothing left to tell. */
            close(r->tcp.fd);
            r->tcp.fd = -1;
            r->tcp.state = 3;
        }
    }
}

static void read_udp(struct run *r, int sock, uint64_t now)
{
    uint8_t buf[1500];
    np_addr from;
    socklen_t flen;
    ssize_t n;

    for (;;) {
        memset(&from, 0, sizeof(from));
        flen = sizeof(from.ss);
        n = recvfrom(r->fd[sock], buf, sizeof(buf), 0,
                     (struct sockaddr *)&from.ss, &flen);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) {
            /* an ICMP error surfaced (IP_RECVERR): read the queue */
            if (icmp_port_unreach(r->fd[sock], &r->cfg->server))
                r->obs->udp_refused = 1;
            continue;
        }
        from.len = flen;
        on_answer(r, sock, buf, (size_t)n, &from, now);
    }
}

/* --- STUN over TCP (RFC 8489 section 6.2.2: messages back to back) --- */

static void tcp_finish(struct run *r)
{
    if (r->tcp.fd >= 0)
        close(r->tcp.fd);
    r->tcp.fd = -1;
    r->tcp.state = 3;
}

static void tcp_start(struct run *r, uint64_t now)
{
    int fd;

    r->tcp.fd = -1;
    if (!r->cfg->use_tcp)
        return;
    fd = socket(np_addr_family(&r->cfg->server),
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    r->obs->tcp_tried = 1;
    r->tcp.fd = fd;
    r->tcp.state = 1;
    r->tcp.start_us = now;
    if (connect(fd, (const struct sockaddr *)&r->cfg->server.ss,
                r->cfg->server.len) != 0 &&
        errno != EINPROGRESS)
        tcp_finish(r);
}

static void tcp_event(struct run *r, short revents, uint64_t now)
{
    if (r->tcp.state == 1 && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        uint8_t req[NP_STUN_MAX_MSG];
        size_t len;

        getsockopt(r->tcp.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        r->obs->tcp_rtt_ms = (double)(now - r->tcp.start_us) / 1000.0;
        if (soerr != 0) {
            r->obs->tcp_refused = soerr == ECONNREFUSED;
            tcp_finish(r);
            return;
        }
        r->obs->tcp_connected = 1;
        if (np_stun_binding_request(req, sizeof(req), r->tcp.txid, 0, &len) !=
                NP_OK ||
            send(r->tcp.fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
            tcp_finish(r);
            return;
        }
        r->tcp.sent_us = now;
        r->tcp.state = 2;
        return;
    }
    if (r->tcp.state == 2 && (revents & (POLLIN | POLLERR | POLLHUP))) {
        ssize_t n = recv(r->tcp.fd, r->tcp.buf + r->tcp.have,
                         sizeof(r->tcp.buf) - r->tcp.have, 0);
        size_t need;
        np_stun_msg m;

        if (n <= 0) {
            tcp_finish(r);
            return;
        }
        r->tcp.have += (size_t)n;
        if (r->tcp.have < NP_STUN_HEADER_LEN)
            return;
        need = NP_STUN_HEADER_LEN +
               ((size_t)r->tcp.buf[2] << 8 | (size_t)r->tcp.buf[3]);
        if (need > sizeof(r->tcp.buf)) {
            tcp_finish(r); /* larger than any Binding answer: not ours */
            return;
        }
        if (r->tcp.have < need)
            return;
        if (np_stun_decode(r->tcp.buf, need, &m, NULL) == NP_OK &&
            m.type == NP_STUN_BINDING_SUCCESS &&
            memcmp(m.txid, r->tcp.txid, NP_STUN_TXID_LEN) == 0) {
            uint64_t w;
            r->obs->tcp_answered = 1;
            r->obs->tcp_mapped =
                (m.present & NP_STUN_HAS_XOR_MAPPED) ? m.xor_mapped : m.mapped;
            /* UDP had as long as TCP's two round trips; give it one more
             * round trip (at least the floor) before calling it blocked. */
            w = clamp_u64((uint64_t)(r->obs->tcp_rtt_ms * 1000.0),
                          r->cfg->wait_floor_ms * 1000u,
                          r->cfg->wait_ceil_ms * 1000u);
            r->udp_deadline = now + w;
            progress(r, "UDP silent, TCP answers: checking for a UDP block");
        }
        tcp_finish(r);
    }
}

/* --- the loop --- */

static int tx_settled(const struct tx *t, uint64_t now)
{
    if (!t->active || t->done)
        return 1;
    return t->deadline_us != 0 && now >= t->deadline_us;
}

static int finished(struct run *r, uint64_t now)
{
    size_t i;
    const struct tx *t2 = &r->tx[TX_TEST2], *t3 = &r->tx[TX_TEST3];

    if (now >= r->budget_deadline)
        return 1;
    if (!r->tx[TX_TEST1].done) {
        if (r->udp_deadline != 0 && now >= r->udp_deadline)
            return 1;
        /* The server's host refused UDP and TCP has had its say: no UDP
         * answer is coming. */
        if (r->obs->udp_refused && !r->obs->udp_answered &&
            (r->tcp.fd < 0 || r->tcp.state == 3))
            return 1;
        /* The handshake was refused and UDP stays silent: nobody there. */
        if (r->obs->tcp_refused && r->udp_deadline == 0) {
            r->udp_deadline =
                now + clamp_u64((uint64_t)(r->obs->tcp_rtt_ms * 3000.0),
                                r->cfg->wait_floor_ms * 1000u,
                                r->cfg->wait_ceil_ms * 1000u);
        }
        return 0;
    }
    /* Test III is not needed when test II already shows the same mapping. */
    if (!tx_settled(t2, now))
        return 0;
    if (!tx_settled(t3, now) &&
        !(t2->done &&
          np_addr_equal(&t2->pub->mapped, &r->tx[TX_TEST1].pub->mapped)))
        return 0;
    for (i = TX_FPLAIN; i < TX_MAX; i++)
        if (!tx_settled(&r->tx[i], now))
            return 0;
    return 1;
}

static uint64_t next_wakeup(const struct run *r)
{
    uint64_t next = r->budget_deadline;
    size_t i;

    for (i = 0; i < TX_MAX; i++) {
        const struct tx *t = &r->tx[i];
        if (!t->active || t->done)
            continue;
        if (t->next_us != 0 && t->next_us < next)
            next = t->next_us;
        if (t->deadline_us != 0 && t->deadline_us < next)
            next = t->deadline_us;
    }
    if (r->udp_deadline != 0 && r->udp_deadline < next)
        next = r->udp_deadline;
    return next;
}

static void retransmit_due(struct run *r, uint64_t now)
{
    size_t i;

    for (i = 0; i < TX_MAX; i++) {
        struct tx *t = &r->tx[i];
        if (!t->active || t->done || t->next_us == 0 || now < t->next_us)
            continue;
        if (t->deadline_us != 0 && now >= t->deadline_us)
            continue;
        tx_send(r, t, now);
    }
}

static void finalize(struct run *r, uint64_t now)
{
    np_probe_obs *o = r->obs;
    const struct tx *t2 = &r->tx[TX_TEST2], *t3 = &r->tx[TX_TEST3];

    if (o->server_state == NP_SRV_UNTESTED && r->tx[TX_TEST1].done) {
        if (!np_addr_is_set(&o->other_address))
            o->server_state = NP_SRV_NO_OTHER_ADDRESS;
        else if (t2->active && !t2->done && !t3->done)
            o->server_state = NP_SRV_OTHER_NO_ANSWER;
        else
            o->server_state = NP_SRV_OK;
    }
    if (r->tx[TX_HAIRPIN].active && !r->tx[TX_HAIRPIN].done)
        o->hairpin = 0;
    o->elapsed_ms = (double)(now - r->t0) / 1000.0;
}

static int setup_tx(struct run *r)
{
    np_probe_obs *o = r->obs;
    np_probe_tx *pubs[TX_MAX] = {
        &o->test[0],     &o->test[1],          &o->test[2],
        &o->filt_plain,  &o->filt_change_both, &o->filt_change_port,
        &r->hairpin_pub,
    };
    size_t i;

    for (i = 0; i < TX_MAX; i++) {
        struct tx *t = &r->tx[i];
        memset(t, 0, sizeof(*t));
        t->sock = (i >= TX_FPLAIN && i <= TX_FPORT) ? SOCK_F : SOCK_M;
        if (np__random(t->txid, sizeof(t->txid)) != 0)
            return -1;
        if (i >= TX_EXTRA0)
            t->pub = &o->extra[i - TX_EXTRA0];
        else
            t->pub = pubs[i];
    }
    r->tx[TX_FBOTH].change = NP_STUN_CHANGE_IP | NP_STUN_CHANGE_PORT;
    r->tx[TX_FPORT].change = NP_STUN_CHANGE_PORT;
    return np__random(r->tcp.txid, sizeof(r->tcp.txid));
}

const char *const np_probe_default_servers[NP_PROBE_N_DEFAULT_SERVERS] = {
    "stun.stunprotocol.org:3478", /* RFC 5780: stuntman */
    "stun.l.google.com:19302",
    "stun.cloudflare.com:3478",
};

void np_probe_config_init(np_probe_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->wait_floor_ms = 100;
    cfg->wait_ceil_ms = 1000;
    cfg->budget_ms = 3000;
    cfg->use_tcp = 1;
}

static int config_valid(const np_probe_config *cfg)
{
    return cfg != NULL && np_addr_is_set(&cfg->server) &&
           cfg->n_extra <= NP_PROBE_MAX_EXTRA && cfg->wait_floor_ms != 0 &&
           cfg->wait_ceil_ms >= cfg->wait_floor_ms && cfg->budget_ms != 0;
}

static void run_close(struct run *r)
{
    int sock;

    for (sock = 0; sock < N_UDP; sock++)
        if (r->fd[sock] >= 0)
            close(r->fd[sock]);
    r->fd[SOCK_M] = r->fd[SOCK_F] = -1;
    if (r->tcp.fd >= 0)
        close(r->tcp.fd);
    r->tcp.fd = -1;
}

/* Sockets and transactions of one run; nothing sent yet. */
static int run_setup(struct run *r, const np_probe_config *cfg,
                     np_probe_obs *obs, np_error *err)
{
    np_addr local;
    int rc, sock;

    memset(obs, 0, sizeof(*obs));
    memset(r, 0, sizeof(*r));
    obs->hairpin = -1;
    obs->n_extra = cfg->n_extra;
    r->cfg = cfg;
    r->obs = obs;
    r->fd[SOCK_M] = r->fd[SOCK_F] = -1;
    r->tcp.fd = -1;

    if (np_addr_is_set(&cfg->bind))
        local = cfg->bind;
    else if ((rc = route_source(&cfg->server, &local, err)) != NP_OK)
        return rc;
    for (sock = 0; sock < N_UDP; sock++) {
        np_addr *bound = sock == SOCK_M ? &obs->local_m : &obs->local_f;
        rc = udp_socket(r, &local, bound, err);
        if (rc < 0) {
            run_close(r);
            return rc;
        }
        r->fd[sock] = rc;
        recverr_on(rc, np_addr_family(&local));
    }
    if (setup_tx(r) != 0) {
        rc = np_error_sys(err, errno, NULL, "no random numbers");
        run_close(r);
        return rc;
    }
    return NP_OK;
}

static void run_start(struct run *r, uint64_t now)
{
    const np_probe_config *cfg = r->cfg;
    size_t i;

    r->t0 = now;
    r->budget_deadline = r->t0 + (uint64_t)cfg->budget_ms * 1000u;
    tcp_start(r, now);
    /* Filtering first: F's requests must leave before anything else can
     * make the NAT open a filter entry towards the alternate address. */
    tx_start(r, TX_FPLAIN, &cfg->server, now);
    tx_start(r, TX_FBOTH, &cfg->server, now);
    tx_start(r, TX_FPORT, &cfg->server, now);
    tx_start(r, TX_TEST1, &cfg->server, now);
    for (i = 0; i < cfg->n_extra; i++)
        tx_start(r, (enum tx_kind)(TX_EXTRA0 + i), &cfg->extra[i], now);
}

/*
 * A companion run (a job with follow set) whose server has not answered
 * at all when the first job finishes is given a few of the first job's
 * round trips more, not its whole budget: a silent IPv6 path must not
 * hold up the IPv4 verdict for seconds.
 */
static void follow_deadline(struct run *r, const struct run *lead, uint64_t now)
{
    uint64_t until;

    if (r->tx[TX_TEST1].done || r->obs->udp_answered)
        return;
    until = now + clamp_u64(3 * lead->rtt_us, 3 * r->cfg->wait_floor_ms * 1000u,
                            2 * r->cfg->wait_ceil_ms * 1000u);
    if (r->udp_deadline == 0 || until < r->udp_deadline)
        r->udp_deadline = until;
}

int np_probe_run_jobs(np_probe_job *jobs, size_t n_jobs, np_error *err)
{
    struct run runs[NP_PROBE_MAX_JOBS];
    int running[NP_PROBE_MAX_JOBS];
    struct pollfd pfd[NP_PROBE_MAX_JOBS * (N_UDP + 1)];
    size_t owner[NP_PROBE_MAX_JOBS * (N_UDP + 1)];
    int what[NP_PROBE_MAX_JOBS * (N_UDP + 1)];
    uint64_t now;
    size_t j, i, left = 0;
    int rc = NP_OK, sock;

    if (jobs == NULL || n_jobs == 0 || n_jobs > NP_PROBE_MAX_JOBS)
        return np_error_set(err, NP_EINVAL, NULL,
                            "invalid probe configuration");
    for (j = 0; j < n_jobs; j++)
        if (!config_valid(jobs[j].cfg) || jobs[j].obs == NULL)
            return np_error_set(err, NP_EINVAL, NULL,
                                "invalid probe configuration");
    for (j = 0; j < n_jobs; j++) {
        np_error_clear(&jobs[j].err);
        jobs[j].rc =
            run_setup(&runs[j], jobs[j].cfg, jobs[j].obs, &jobs[j].err);
        running[j] = jobs[j].rc == NP_OK;
        left += (size_t)running[j];
    }
    now = np__mono_us();
    for (j = 0; j < n_jobs; j++)
        if (running[j]) {
            progress(&runs[j], "sending probes");
            run_start(&runs[j], now);
        }

    while (left > 0) {
        uint64_t wake = UINT64_MAX;
        nfds_t n = 0;
        int timeout_ms;

        now = np__mono_us();
        for (j = 0; j < n_jobs; j++) {
            struct run *r = &runs[j];
            if (!running[j])
                continue;
            if (finished(r, now)) {
                finalize(r, now);
                run_close(r);
                running[j] = 0;
                left--;
                if (j == 0)
                    for (i = 1; i < n_jobs; i++)
                        if (running[i] && jobs[i].follow)
                            follow_deadline(&runs[i], r, now);
                continue;
            }
            if (next_wakeup(r) < wake)
                wake = next_wakeup(r);
            for (sock = 0; sock < N_UDP; sock++) {
                pfd[n].fd = r->fd[sock];
                pfd[n].events = POLLIN;
                pfd[n].revents = 0;
                owner[n] = j;
                what[n] = sock;
                n++;
            }
            if (r->tcp.fd >= 0) {
                pfd[n].fd = r->tcp.fd;
                pfd[n].events = r->tcp.state == 1 ? POLLOUT : POLLIN;
                pfd[n].revents = 0;
                owner[n] = j;
                what[n] = N_UDP;
                n++;
            }
        }
        if (left == 0)
            break;
        timeout_ms = wake > now ? (int)((wake - now + 999) / 1000) : 0;
        rc = poll(pfd, n, timeout_ms);
        if (rc < 0 && errno != EINTR) {
            rc = np_error_sys(err, errno, NULL, "poll failed");
            goto out;
        }
        now = np__mono_us();
        if (rc > 0)
            for (i = 0; i < n; i++) {
                struct run *r = &runs[owner[i]];
                if (pfd[i].revents == 0)
                    continue;
                if (what[i] < N_UDP) {
                    if (pfd[i].revents & (POLLIN | POLLERR))
                        read_udp(r, what[i], now);
                } else if (r->tcp.fd >= 0) {
                    tcp_event(r, pfd[i].revents, now);
                }
            }
        for (j = 0; j < n_jobs; j++)
            if (running[j])
                retransmit_due(&runs[j], now);
    }
    rc = NP_OK;
out:
    for (j = 0; j < n_jobs; j++)
        if (running[j])
            run_close(&runs[j]);
    return rc;
}

/* --- ICMP errors (IP_RECVERR) ------------------------------------------- */

/* Queue ICMP errors on fd, so that a port-unreachable from the server
 * itself shows that UDP got there (a silent drop shows nothing). */
static void recverr_on(int fd, int family)
{
    int one = 1;

    if (family == AF_INET)
        (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
    else if (family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
}

/*
 * Drain fd's error queue: 1 when an ICMP port-unreachable sent by dest's
 * host (the offender) about a datagram to dest is among the entries. An
 * unreachable from a router on the way (a firewall's reject) does not
 * count: it proves nothing about the server.
 */
static int icmp_port_unreach(int fd, const np_addr *dest)
{
    int hit = 0;

    for (;;) {
        uint8_t data[64];
        union {
            struct cmsghdr align;
            char buf[512];
        } ctrl;
        struct sockaddr_storage ss;
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
        struct msghdr mh;
        struct cmsghdr *c;

        memset(&mh, 0, sizeof(mh));
        mh.msg_name = &ss;
        mh.msg_namelen = sizeof(ss);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctrl.buf;
        mh.msg_controllen = sizeof(ctrl.buf);
        if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            break;
        for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
            const struct sock_extended_err *ee;
            np_addr to, off;
            int unreach;

            if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == IPPROTO_IPV6 &&
                   c->cmsg_type == IPV6_RECVERR)))
                continue;
            ee = (const struct sock_extended_err *)(void *)CMSG_DATA(c);
            unreach = (ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == 3 &&
                       ee->ee_code == 3) ||
                      (ee->ee_origin == SO_EE_ORIGIN_ICMP6 &&
                       ee->ee_type == 1 && ee->ee_code == 4);
            if (!unreach)
                continue;
            memset(&to, 0, sizeof(to));
            memset(&off, 0, sizeof(off));
            np_addr_from_sockaddr(&to, (const struct sockaddr *)&ss,
                                  mh.msg_namelen);
            np_addr_from_sockaddr(&off, SO_EE_OFFENDER(ee),
                                  sizeof(struct sockaddr_in6));
            if (np_addr_equal(&to, dest) && np_addr_same_ip(&off, dest))
                hit = 1;
        }
    }
    return hit;
}

int np_probe_run(const np_probe_config *cfg, np_probe_obs *obs, np_error *err)
{
    np_probe_job job;
    int rc;

    if (!config_valid(cfg) || obs == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "invalid probe configuration");
    memset(&job, 0, sizeof(job));
    job.cfg = cfg;
    job.obs = obs;
    rc = np_probe_run_jobs(&job, 1, err);
    if (rc != NP_OK)
        return rc;
    if (job.rc != NP_OK && err != NULL)
        *err = job.err;
    return job.rc;
}

/* --- inbound reachability of one mapped port ---------------------------- */

const char *np_reach_verdict_name(enum np_reach_verdict v)
{
    switch (v) {
    case NP_REACH_PROVEN:
        return "proven";
    case NP_REACH_PROBLEM:
        return "problem";
    case NP_REACH_INCONCLUSIVE:
        break;
    }
    return "inconclusive";
}

const char *np_reach_reason_name(enum np_reach_reason r)
{
    switch (r) {
    case NP_REACH_R_NONE:
        return "";
    case NP_REACH_R_NOT_INBOUND:
        return "not-inbound";
    case NP_REACH_R_UDP_BLOCKED:
        return "udp-blocked";
    case NP_REACH_R_NO_RFC5780:
        return "no-rfc5780";
    case NP_REACH_R_CHANGE_REFUSED:
        return "change-refused";
    case NP_REACH_R_IGNORES_CHANGE:
        return "ignores-change";
    case NP_REACH_R_SERVER_NO_UDP:
        return "server-no-udp";
    case NP_REACH_R_SILENT:
        return "silent";
    }
    return "";
}

static void reach_set(np_reach *r, enum np_reach_verdict v,
                      enum np_reach_reason why, const char *text)
{
    r->verdict = v;
    r->reason = why;
    r->reason_text = text;
}

void np_reach_decide(np_reach *r, int have_other)
{
    if (r->reachable)
        reach_set(r, NP_REACH_PROVEN, NP_REACH_R_NONE,
                  "The STUN server's answer from its second address came in "
                  "through the mapped port.");
    else if (!r->answered && r->icmp_refused)
        reach_set(r, NP_REACH_INCONCLUSIVE, NP_REACH_R_SERVER_NO_UDP,
                  "The STUN server's host refused UDP on its port (ICMP "
                  "port unreachable): UDP gets out, but this server does "
                  "not serve STUN over UDP; try another with --stun.");
    else if (!r->answered && r->tcp_reachable)
        reach_set(r, NP_REACH_PROBLEM, NP_REACH_R_UDP_BLOCKED,
                  "Nothing came back over UDP from the STUN server, though "
                  "its host answers over TCP: UDP does not get out (a "
                  "firewall on the router or beyond it blocks UDP), so no "
                  "game traffic gets through; allow UDP out, or try "
                  "another server with --stun if this one serves TCP "
                  "only.");
    else if (!r->answered)
        reach_set(r, NP_REACH_INCONCLUSIVE, NP_REACH_R_SILENT,
                  "The STUN server answered nothing, over UDP or TCP (it "
                  "is down, or the internet cannot be reached); try "
                  "another server with --stun.");
    else if (!have_other)
        reach_set(r, NP_REACH_INCONCLUSIVE, NP_REACH_R_NO_RFC5780,
                  "The STUN server names no alternate address (it is not "
                  "an RFC 5780 server), so it cannot answer from an "
                  "address this port never contacted; prove the mapping "
                  "with an RFC 5780 server (--stun).");
    else if (r->wrong_source)
        reach_set(r, NP_REACH_INCONCLUSIVE, NP_REACH_R_IGNORES_CHANGE,
                  "The STUN server ignores CHANGE-REQUEST (its \"changed\" "
                  "answer came from its primary address), so it cannot "
                  "prove the mapping; use another RFC 5780 server "
                  "(--stun).");
    else if (r->change_error || !r->control_changed)
        reach_set(r, NP_REACH_INCONCLUSIVE, NP_REACH_R_CHANGE_REFUSED,
                  "The STUN server does not answer from its alternate "
                  "address (it refuses CHANGE-REQUEST, or its second "
                  "address is silent), so it cannot prove the mapping; use "
                  "another RFC 5780 server (--stun).");
    else
        reach_set(r, NP_REACH_PROBLEM, NP_REACH_R_NOT_INBOUND,
                  "The STUN server's answer from its second address reaches "
                  "a port that contacted that address, but not the mapped "
                  "port: a second NAT (double NAT or the provider's "
                  "carrier-grade NAT) or a firewall beyond the router stops "
                  "inbound traffic; forwarding at home alone cannot fix "
                  "that (see natpilot diagnose).");
}

enum { RS_MAPPED = 0, RS_CONTROL = 1, RS_N = 2 };
enum { TX_PLAIN = 0, TX_CHANGE, TX_CTL_ALT, TX_CTL_CHANGE, TX_RN };

struct reach_run {
    int fd[RS_N];
    int tcp;     /* -1 when done */
    int tcp_out; /* waiting for the handshake */
    uint8_t txid[TX_RN][NP_STUN_TXID_LEN];
    np_addr alt;
    int ctl_alt_answered;
};

static void reach_send(struct reach_run *q, int k, const np_addr *to)
{
    uint8_t buf[NP_STUN_MAX_MSG];
    uint32_t change = (k == TX_CHANGE || k == TX_CTL_CHANGE)
                          ? NP_STUN_CHANGE_IP | NP_STUN_CHANGE_PORT
                          : 0;
    int fd = q->fd[k >= TX_CTL_ALT ? RS_CONTROL : RS_MAPPED];
    size_t len;

    if (np_stun_binding_request(buf, sizeof(buf), q->txid[k], change, &len) ==
        NP_OK)
        (void)sendto(fd, buf, len, MSG_NOSIGNAL,
                     (const struct sockaddr *)&to->ss, to->len);
}

static void reach_read(struct reach_run *q, int sock, const np_addr *server,
                       np_reach *out, uint64_t now, uint64_t last_send,
                       int *learned)
{
    uint8_t buf[NP_STUN_MAX_MSG];

    for (;;) {
        np_addr from;
        socklen_t flen = sizeof(from.ss);
        np_stun_msg m;
        ssize_t n;

        memset(&from, 0, sizeof(from));
        n = recvfrom(q->fd[sock], buf, sizeof(buf), 0,
                     (struct sockaddr *)&from.ss, &flen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            /* an ICMP error surfaced (IP_RECVERR): read the queue */
            if (icmp_port_unreach(q->fd[sock], server))
                out->icmp_refused = 1;
            continue;
        }
        from.len = flen;
        if (np_stun_decode(buf, (size_t)n, &m, NULL) != NP_OK)
            continue;
        if (sock == RS_MAPPED &&
            memcmp(m.txid, q->txid[TX_CHANGE], NP_STUN_TXID_LEN) == 0) {
            if (m.type == NP_STUN_BINDING_ERROR && np_addr_equal(&from, server))
                out->change_error = 1;
            else if (m.type != NP_STUN_BINDING_SUCCESS)
                continue;
            else if (np_addr_is_set(&q->alt) && np_addr_equal(&from, &q->alt))
                out->reachable = 1;
            else if (np_addr_equal(&from, server))
                out->wrong_source = 1;
            continue;
        }
        if (m.type != NP_STUN_BINDING_SUCCESS)
            continue;
        if (sock == RS_MAPPED &&
            memcmp(m.txid, q->txid[TX_PLAIN], NP_STUN_TXID_LEN) == 0 &&
            !out->answered && np_addr_equal(&from, server)) {
            out->answered = 1;
            out->rtt_ms = (double)(now - last_send) / 1000.0;
            out->mapped =
                (m.present & NP_STUN_HAS_XOR_MAPPED) ? m.xor_mapped : m.mapped;
            if (!np_addr_is_set(&q->alt) && np_stun_other_address(&m))
                q->alt = *np_stun_other_address(&m);
            *learned = 1;
        } else if (sock == RS_CONTROL &&
                   memcmp(m.txid, q->txid[TX_CTL_ALT], NP_STUN_TXID_LEN) == 0 &&
                   np_addr_equal(&from, &q->alt)) {
            q->ctl_alt_answered = 1;
        } else if (sock == RS_CONTROL &&
                   memcmp(m.txid, q->txid[TX_CTL_CHANGE], NP_STUN_TXID_LEN) ==
                       0 &&
                   np_addr_equal(&from, &q->alt)) {
            out->control_changed = 1;
        }
    }
}

static int reach_tcp_start(const np_addr *server)
{
    int fd = socket(np_addr_family(server),
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&server->ss, server->len) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

int np_probe_reachable(const np_addr *server, const np_addr *other,
                       const np_addr *local, uint16_t local_port,
                       unsigned floor_ms, unsigned ceil_ms, np_reach *out,
                       np_error *err)
{
    struct reach_run q;
    np_addr src, any;
    uint64_t t0, now, deadline, next_send, last_send;
    unsigned sends = 0;
    char where[NP_ADDRSTRLEN + 16];
    int rc, i, learned;

    if (server == NULL || out == NULL || local_port == 0 ||
        !np_addr_is_set(server) || floor_ms == 0 || ceil_ms < floor_ms)
        return np_error_set(err, NP_EINVAL, NULL, "invalid arguments");
    memset(out, 0, sizeof(*out));
    memset(&q, 0, sizeof(q));
    q.fd[0] = q.fd[1] = q.tcp = -1;
    if (other != NULL)
        q.alt = *other;
    if (local != NULL && np_addr_is_set(local))
        src = *local;
    else if ((rc = route_source(server, &src, err)) != NP_OK)
        return rc;
    any = src;
    np_addr_set_port(&any, 0); /* the control's port: any free one */
    np_addr_set_port(&src, local_port);
    snprintf(where, sizeof(where), "local port %u", (unsigned)local_port);
    for (i = 0; i < RS_N; i++) {
        const np_addr *b = i == RS_MAPPED ? &src : &any;

        q.fd[i] = socket(np_addr_family(b),
                         SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (q.fd[i] < 0) {
            rc = np_error_sys(err, errno, where, "cannot create a UDP socket");
            goto out;
        }
        if (bind(q.fd[i], (const struct sockaddr *)&b->ss, b->len) != 0) {
            rc = np_error_sys(err, errno, where,
                              i == RS_MAPPED
                                  ? "cannot use the port to test it (is the "
                                    "game running and holding it?)"
                                  : "cannot bind a UDP socket");
            goto out;
        }
        recverr_on(q.fd[i], np_addr_family(b));
    }
    if (np__random(q.txid, sizeof(q.txid)) != 0) {
        rc = np_error_sys(err, errno, NULL, "no random numbers");
        goto out;
    }
    t0 = now = np__mono_us();
    q.tcp = reach_tcp_start(server);
    q.tcp_out = q.tcp >= 0;
    last_send = t0;
    next_send = t0;
    deadline = t0 + (uint64_t)ceil_ms * 1000u;
    for (;;) {
        struct pollfd pfd[RS_N + 1];
        nfds_t n = 0;
        uint64_t wake;

        if (now >= next_send && sends < MAX_SENDS) {
            if (!out->answered)
                reach_send(&q, TX_PLAIN, server);
            if (!out->reachable)
                reach_send(&q, TX_CHANGE, server);
            if (np_addr_is_set(&q.alt) && !out->control_changed) {
                /* the control: contact the alternate address, then ask
                 * for the changed answer, which its filter lets in */
                if (!q.ctl_alt_answered)
                    reach_send(&q, TX_CTL_ALT, &q.alt);
                reach_send(&q, TX_CTL_CHANGE, server);
            }
            sends++;
            last_send = now;
            next_send = now + (out->answered
                                   ? clamp_u64((uint64_t)(out->rtt_ms * 333.0),
                                               MIN_RESEND_US, 250000u)
                                   : INITIAL_RTO_US);
        }
        if (out->reachable || now >= deadline)
            break;
        /* UDP silent, and the server's host refuses it: nothing to wait for */
        if (!out->answered && out->icmp_refused)
            break;
        wake = next_send < deadline ? next_send : deadline;
        for (i = 0; i < RS_N; i++) {
            pfd[n].fd = q.fd[i];
            pfd[n].events = POLLIN;
            pfd[n].revents = 0;
            n++;
        }
        if (q.tcp >= 0) {
            pfd[n].fd = q.tcp;
            pfd[n].events = POLLOUT;
            pfd[n].revents = 0;
            n++;
        }
        rc = poll(pfd, n, wake > now ? (int)((wake - now + 999) / 1000) : 0);
        now = np__mono_us();
        if (rc <= 0)
            continue;
        learned = 0;
        for (i = 0; i < RS_N; i++) {
            if (pfd[i].revents & POLLERR)
                if (icmp_port_unreach(q.fd[i], server))
                    out->icmp_refused = 1;
            if (pfd[i].revents & POLLIN)
                reach_read(&q, i, server, out, now, last_send, &learned);
        }
        if (learned) {
            /* The alternate answers should be in within a few RTTs
             * (Karn: from the first send when there were re-sends); the
             * control starts now, so it is sent at once. */
            deadline = now + clamp_u64(3 * (now - (sends > 1 ? t0 : last_send)),
                                       (uint64_t)floor_ms * 1000u,
                                       (uint64_t)ceil_ms * 1000u);
            next_send = now;
        }
        if (q.tcp >= 0 && n > RS_N && pfd[RS_N].revents != 0) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);

            (void)getsockopt(q.tcp, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            /* a completed handshake or a refusal (RST): the host is up */
            out->tcp_reachable = soerr == 0 || soerr == ECONNREFUSED;
            close(q.tcp);
            q.tcp = -1;
        }
    }
    np_reach_decide(out, np_addr_is_set(&q.alt));
    out->elapsed_ms = (double)(now - t0) / 1000.0;
    rc = NP_OK;
out:
    for (i = 0; i < RS_N; i++)
        if (q.fd[i] >= 0)
            close(q.fd[i]);
    if (q.tcp >= 0)
        close(q.tcp);
    return rc;
}
