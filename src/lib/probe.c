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
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
    if (k == TX_TEST1 || k == TX_FPLAIN)
        note_other_address(r, &m);
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
        if (n < 0)
            return; /* EAGAIN, or an ICMP error surfaced: nothing to read */
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

void np_probe_config_init(np_probe_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->wait_floor_ms = 100;
    cfg->wait_ceil_ms = 1000;
    cfg->budget_ms = 3000;
    cfg->use_tcp = 1;
}

int np_probe_run(const np_probe_config *cfg, np_probe_obs *obs, np_error *err)
{
    struct run run, *r = &run;
    np_addr local;
    struct pollfd pfd[N_UDP + 1];
    uint64_t now;
    size_t i;
    int rc, sock;

    if (cfg == NULL || obs == NULL || !np_addr_is_set(&cfg->server) ||
        cfg->n_extra > NP_PROBE_MAX_EXTRA || cfg->wait_floor_ms == 0 ||
        cfg->wait_ceil_ms < cfg->wait_floor_ms || cfg->budget_ms == 0)
        return np_error_set(err, NP_EINVAL, NULL,
                            "invalid probe configuration");
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
        if (rc < 0)
            goto out;
        r->fd[sock] = rc;
    }
    if (setup_tx(r) != 0) {
        rc = np_error_sys(err, errno, NULL, "no random numbers");
        goto out;
    }

    progress(r, "sending probes");
    r->t0 = now = np__mono_us();
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

    while (!finished(r, now = np__mono_us())) {
        uint64_t wake = next_wakeup(r);
        int timeout_ms = wake > now ? (int)((wake - now + 999) / 1000) : 0;
        nfds_t n = 0;

        for (sock = 0; sock < N_UDP; sock++) {
            pfd[n].fd = r->fd[sock];
            pfd[n].events = POLLIN;
            pfd[n].revents = 0;
            n++;
        }
        if (r->tcp.fd >= 0) {
            pfd[n].fd = r->tcp.fd;
            pfd[n].events = r->tcp.state == 1 ? POLLOUT : POLLIN;
            pfd[n].revents = 0;
            n++;
        }
        rc = poll(pfd, n, timeout_ms);
        if (rc < 0 && errno != EINTR) {
            rc = np_error_sys(err, errno, NULL, "poll failed");
            goto out;
        }
        now = np__mono_us();
        if (rc > 0) {
            for (sock = 0; sock < N_UDP; sock++)
                if (pfd[sock].revents & POLLIN)
                    read_udp(r, sock, now);
            if (n > N_UDP && pfd[N_UDP].revents != 0 && r->tcp.fd >= 0)
                tcp_event(r, pfd[N_UDP].revents, now);
        }
        retransmit_due(r, now);
    }
    finalize(r, now);
    rc = NP_OK;
out:
    for (sock = 0; sock < N_UDP; sock++)
        if (r->fd[sock] >= 0)
            close(r->fd[sock]);
    if (r->tcp.fd >= 0)
        close(r->tcp.fd);
    return rc;
}

/* --- inbound reachability of one mapped port ---------------------------- */

int np_probe_reachable(const np_addr *server, const np_addr *other,
                       const np_addr *local, uint16_t local_port,
                       unsigned floor_ms, unsigned ceil_ms, np_reach *out,
                       np_error *err)
{
    uint8_t txid[2][NP_STUN_TXID_LEN], buf[NP_STUN_MAX_MSG];
    np_addr src, alt;
    uint64_t t0, now, deadline, next_send, last_send;
    size_t len;
    unsigned sends = 0;
    char where[NP_ADDRSTRLEN + 16];
    int fd, rc, i;

    if (server == NULL || out == NULL || local_port == 0 ||
        !np_addr_is_set(server) || floor_ms == 0 || ceil_ms < floor_ms)
        return np_error_set(err, NP_EINVAL, NULL, "invalid arguments");
    memset(out, 0, sizeof(*out));
    memset(&alt, 0, sizeof(alt));
    if (other != NULL)
        alt = *other;
    if (local != NULL && np_addr_is_set(local))
        src = *local;
    else if ((rc = route_source(server, &src, err)) != NP_OK)
        return rc;
    np_addr_set_port(&src, local_port);
    snprintf(where, sizeof(where), "local port %u", (unsigned)local_port);
    fd = socket(np_addr_family(&src), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0)
        return np_error_sys(err, errno, where, "cannot create a UDP socket");
    if (bind(fd, (const struct sockaddr *)&src.ss, src.len) != 0) {
        int e = errno;
        close(fd);
        return np_error_sys(err, e, where,
                            "cannot use the port to test it (is the game "
                            "running and holding it?)");
    }
    if (np__random(txid, sizeof(txid)) != 0) {
        close(fd);
        return np_error_sys(err, errno, NULL, "no random numbers");
    }
    t0 = now = np__mono_us();
    last_send = t0;
    next_send = t0;
    deadline = t0 + (uint64_t)ceil_ms * 1000u;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        uint64_t wake;

        if (now >= next_send && sends < MAX_SENDS) {
            for (i = 0; i < 2; i++) {
                uint32_t change =
                    i ? NP_STUN_CHANGE_IP | NP_STUN_CHANGE_PORT : 0;
                if (i == 0 && out->answered)
                    continue;
                if (np_stun_binding_request(buf, sizeof(buf), txid[i], change,
                                            &len) == NP_OK)
                    (void)sendto(fd, buf, len, MSG_NOSIGNAL,
                                 (const struct sockaddr *)&server->ss,
                                 server->len);
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
        wake = next_send < deadline ? next_send : deadline;
        rc = poll(&pfd, 1, wake > now ? (int)((wake - now + 999) / 1000) : 0);
        now = np__mono_us();
        if (rc <= 0 || !(pfd.revents & POLLIN))
            continue;
        for (;;) {
            np_addr from;
            socklen_t flen = sizeof(from.ss);
            np_stun_msg m;
            ssize_t n;

            memset(&from, 0, sizeof(from));
            n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from.ss,
                         &flen);
            if (n < 0)
                break;
            from.len = flen;
            if (np_stun_decode(buf, (size_t)n, &m, NULL) != NP_OK ||
                m.type != NP_STUN_BINDING_SUCCESS)
                continue;
            if (memcmp(m.txid, txid[0], NP_STUN_TXID_LEN) == 0 &&
                !out->answered && np_addr_equal(&from, server)) {
                out->answered = 1;
                out->rtt_ms = (double)(now - last_send) / 1000.0;
                out->mapped = (m.present & NP_STUN_HAS_XOR_MAPPED)
                                  ? m.xor_mapped
                                  : m.mapped;
                if (!np_addr_is_set(&alt) && np_stun_other_address(&m))
                    alt = *np_stun_other_address(&m);
                /* The alternate answer should be in within a few RTTs
                 * (Karn: from the first send when there were re-sends). */
                deadline =
                    now + clamp_u64(3 * (now - (sends > 1 ? t0 : last_send)),
                                    (uint64_t)floor_ms * 1000u,
                                    (uint64_t)ceil_ms * 1000u);
            } else if (memcmp(m.txid, txid[1], NP_STUN_TXID_LEN) == 0) {
                if (np_addr_is_set(&alt) && np_addr_equal(&from, &alt))
                    out->reachable = 1;
                else if (np_addr_equal(&from, server))
                    out->wrong_source = 1;
            }
        }
    }
    close(fd);
    out->elapsed_ms = (double)(now - t0) / 1000.0;
    return NP_OK;
}
