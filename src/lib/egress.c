/*
 * natpilot: concurrent egress (outbound port) tests (see egress.h).
 *
 * One `struct test` per distinct (protocol, port) plus two calibration tests.
 * Tests wait in a queue until a slot is free (max_inflight), then run in one
 * poll() loop. Every running test ends at start + W, where W is the ceiling
 * until the first answer gives an RTT and clamp(k * RTT, floor, ceiling)
 * afterwards (also for tests already running).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "natpilot/egress.h"
#include "natpilot/stun.h"
#include "np_util.h"

#define MAX_FDS           3       /* TCP: first SYN and two retries */
#define PRE_RTT_RESEND_US 250000u /* UDP re-send before any RTT is known */
#define MIN_RESEND_US     20000u
#define MAX_UDP_SENDS     6

struct test {
    int proto;
    uint16_t port;
    np_addr dest;
    int fd[MAX_FDS];
    uint64_t fd_start[MAX_FDS]; /* when each socket sent its SYN / first */
    int nfd;
    int queued;  /* waiting for a slot */
    int running; /* sockets open, not finished */
    int done;
    uint64_t start_us;
    uint64_t next_send_us;           /* UDP: next re-send */
    uint64_t last_send_us;           /* UDP: last datagram sent */
    uint64_t send_us[MAX_UDP_SENDS]; /* UDP: when each request went out */
    unsigned earlier_attempts;       /* sent in a previous pass */
    /* UDP: request i carries txid with its last byte XORed with i, so an
     * answer says which request it answers (a real RTT, and real evidence
     * of loss when it answers a re-send). */
    uint8_t txid[NP_STUN_TXID_LEN];
    uint8_t req[NP_STUN_MAX_MSG];
    size_t req_len;
    np_egress_target res; /* result, copied to the caller's targets */
};

struct run {
    const np_egress_config *cfg;
    struct test *t;
    size_t n;
    size_t inflight;
    int rtt_known;
    uint64_t rtt_us;
    int rtt_proto;
    uint64_t wait_us;
    unsigned tests;
    unsigned retransmits;
    unsigned max_parallel;
    unsigned late; /* answers that came only to a re-sent request */
};

/* ---- pure helpers --------------------------------------------------------
 */

const char *np_egress_state_name(int state)
{
    switch (state) {
    case NP_EGRESS_PENDING:
        return "pending";
    case NP_EGRESS_REACHABLE:
        return "reachable";
    case NP_EGRESS_DROPPED:
        return "dropped";
    case NP_EGRESS_REFUSED:
        return "refused";
    case NP_EGRESS_REJECTED:
        return "rejected";
    case NP_EGRESS_LOCAL:
        return "blocked-locally";
    case NP_EGRESS_UNTESTABLE:
        return "not-testable";
    case NP_EGRESS_ERROR:
        return "error";
    default:
        return "unknown";
    }
}

int np_egress_state_blocked(int state)
{
    return state == NP_EGRESS_DROPPED || state == NP_EGRESS_REFUSED ||
           state == NP_EGRESS_REJECTED || state == NP_EGRESS_LOCAL;
}

int np_egress_classify(int proto, int e)
{
    switch (e) {
    case 0:
        return NP_EGRESS_REACHABLE;
    case ETIMEDOUT:
        return NP_EGRESS_DROPPED;
    case ECONNREFUSED:
        /* TCP: a RST. UDP: ICMP port unreachable. */
        return proto == NP_EGRESS_TCP ? NP_EGRESS_REFUSED : NP_EGRESS_REJECTED;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENONET:
    case ENOPROTOOPT:
        return NP_EGRESS_REJECTED;
    case EPERM:
    case EACCES:
        return NP_EGRESS_LOCAL;
    default:
        return NP_EGRESS_ERROR;
    }
}

size_t np_egress_sample(uint16_t lo, uint16_t hi, uint16_t *out, size_t max)
{
    uint32_t count, inner, i;
    size_t n = 0;

    if (max == 0 || lo > hi || out == NULL)
        return 0;
    count = (uint32_t)hi - lo + 1;
    if (count <= max) {
        for (i = 0; i < count; i++)
            out[n++] = (uint16_t)(lo + i);
        return n;
    }
    out[n++] = lo;
    if (max == 1)
        return n;
    /* max - 2 ports strictly inside, evenly spaced: lo + span*i/(inner+1). */
    inner = (uint32_t)max - 2;
    for (i = 1; i <= inner; i++) {
        uint32_t p = lo + (uint32_t)(((uint64_t)(count - 1) * i) / (inner + 1));
        if (p > out[n - 1] && p < hi)
            out[n++] = (uint16_t)p;
    }
    out[n++] = hi;
    return n;
}

const char *np_egress_advice(int proto, int state)
{
    int tcp = proto == NP_EGRESS_TCP;

    switch (state) {
    case NP_EGRESS_DROPPED:
        return tcp ? "A firewall on the way out silently discards TCP "
                     "connections to these ports (no answer at all). Ask the "
                     "network's admin to allow outbound TCP to them; on your "
                     "own router, remove the outbound filter, parental-control "
                     "or 'block service' rule that covers them."
                   : "A firewall on the way out silently discards UDP to "
                     "these ports (no answer at all). Ask the network's admin "
                     "to allow outbound UDP to them; on your own router, "
                     "remove the outbound filter, parental-control or 'block "
                     "service' rule that covers them.";
    case NP_EGRESS_REFUSED:
        return "Something between this device and the internet resets TCP "
               "connections to these ports (the reflector accepts every "
               "port, so the reset is a firewall's). Ask the network's admin "
               "to allow outbound TCP to them, or remove the router rule "
               "that rejects them.";
    case NP_EGRESS_REJECTED:
        return tcp ? "The network answers connections to these ports with "
                     "'unreachable / administratively prohibited': a "
                     "firewall rule rejects them. Ask the network's admin to "
                     "allow outbound TCP to them, or remove the router's "
                     "reject rule."
                   : "The network answers UDP to these ports with "
                     "'unreachable / administratively prohibited': a "
                     "firewall rule rejects them. Ask the network's admin to "
                     "allow outbound UDP to them, or remove the router's "
                     "reject rule.";
    case NP_EGRESS_LOCAL:
        return "This device's own firewall blocks these ports before they "
               "reach the network. Allow the game (or these ports) in the "
               "firewall of this computer; the router is not involved.";
    case NP_EGRESS_UNTESTABLE:
        return tcp ? "No TCP reflector was configured, so these ports could "
                     "not be tested; give one with --reflector."
                   : "No STUN server listens on these UDP ports, so natpilot "
                     "cannot tell whether they pass (UDP gives no answer "
                     "without a server). Not a verdict: test them with a "
                     "server on the other side (--stun HOST:PORT).";
    case NP_EGRESS_ERROR:
        return "The test could not run on this device (see the error); the "
               "result says nothing about the network.";
    default:
        return "";
    }
}

int np_egress_overall(const np_egress_target *t, size_t n,
                      const np_egress_report *rep)
{
    size_t i, reachable = 0, blocked = 0, tested = 0, attempted = 0;

    for (i = 0; i < n; i++) {
        if (t[i].state == NP_EGRESS_REACHABLE)
            reachable++;
        else if (np_egress_state_blocked(t[i].state))
            blocked++;
        if (t[i].state == NP_EGRESS_REACHABLE ||
            np_egress_state_blocked(t[i].state))
            tested++;
    }
    attempted = tested;
    if (rep != NULL) {
        const np_egress_target *c[2] = {&rep->calib_tcp, &rep->calib_udp};
        for (i = 0; i < 2; i++) {
            if (c[i]->state == NP_EGRESS_REACHABLE)
                reachable++;
            if (c[i]->state == NP_EGRESS_REACHABLE ||
                np_egress_state_blocked(c[i]->state))
                attempted++;
        }
    }
    if (attempted > 0 && reachable == 0)
        return NP_EGRESS_NOTHING_REACHABLE;
    if (tested == 0)
        return NP_EGRESS_NOTHING_TESTABLE;
    return blocked > 0 ? NP_EGRESS_SOME_BLOCKED : NP_EGRESS_ALL_REACHABLE;
}

/* ICMP (type 3) and ICMPv6 (type 1) destination-unreachable codes. */
const char *np_egress_icmp_text(int v6, int type, int code)
{
    if (!v6 && type == 3) {
        switch (code) {
        case 0:
            return "network unreachable";
        case 1:
            return "host unreachable";
        case 2:
            return "protocol unreachable";
        case 3:
            return "port unreachable";
        case 9:
            return "network administratively prohibited";
        case 10:
            return "host administratively prohibited";
        case 13:
            return "communication administratively prohibited";
        default:
            return "destination unreachable";
        }
    }
    if (v6 && type == 1) {
        switch (code) {
        case 0:
            return "no route to destination";
        case 1:
            return "communication administratively prohibited";
        case 3:
            return "address unreachable";
        case 4:
            return "port unreachable";
        case 5:
            return "source address failed policy";
        case 6:
            return "reject route to destination";
        default:
            return "destination unreachable";
        }
    }
    if (type < 0)
        return "";
    return v6 ? "ICMPv6 error" : "ICMP error";
}

const char *np_egress_overall_text(int overall)
{
    switch (overall) {
    case NP_EGRESS_ALL_REACHABLE:
        return "Every outbound port that could be tested is open: the "
               "firewall on the way out is not the problem.";
    case NP_EGRESS_SOME_BLOCKED:
        return "The network blocks some outbound ports the games need; the "
               "rest get through. Only the ports listed as blocked need a "
               "change.";
    case NP_EGRESS_NOTHING_REACHABLE:
        return "Nothing was reachable, not even the reflector's open port: "
               "this device is offline, the reflector or STUN server is down "
               "or not what it should be, or the network lets nothing out "
               "except through a proxy. The port verdicts cannot be trusted "
               "until something is reachable.";
    case NP_EGRESS_NOTHING_TESTABLE:
    default:
        return "None of the ports could be tested (no reflector or STUN "
               "server for them).";
    }
}

void np_egress_config_init(np_egress_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_inflight = 64;
    cfg->rtt_factor = 4;
    cfg->wait_floor_ms = 400;
    cfg->wait_ceil_ms = 3000;
    cfg->open_port = 443;
    cfg->confirm_drops = 1;
}

/* The STUN server for a UDP port, or NULL. */
static const np_addr *stun_for(const np_egress_config *cfg, uint16_t port)
{
    size_t i;

    for (i = 0; i < cfg->n_stun && i < NP_EGRESS_MAX_STUN; i++)
        if (np_addr_port(&cfg->stun[i]) == port)
            return &cfg->stun[i];
    if (cfg->n_stun > 0 && cfg->stun_all_ports)
        return &cfg->stun[0];
    return NULL;
}

int np_egress_testable(const np_egress_config *cfg, int proto, uint16_t port)
{
    if (port == 0)
        return 0;
    if (proto == NP_EGRESS_TCP)
        return np_addr_is_set(&cfg->reflector);
    return stun_for(cfg, port) != NULL;
}

/* ---- the run ----------------------------------------------------------- */

static void progress(struct run *r, const char *step)
{
    if (r->cfg->progress != NULL)
        r->cfg->progress(r->cfg->progress_ctx, step);
}

static void close_fds(struct test *t)
{
    int i;

    for (i = 0; i < t->nfd; i++)
        if (t->fd[i] >= 0)
            close(t->fd[i]);
    t->nfd = 0;
}

static void finish(struct run *r, struct test *t, int state, int e,
                   uint64_t now)
{
    if (t->done)
        return;
    close_fds(t);
    t->res.state = state;
    t->res.sys_errno = e;
    if (state != NP_EGRESS_DROPPED && state != NP_EGRESS_ERROR &&
        state != NP_EGRESS_LOCAL)
        t->res.rtt_ms = (double)(now - t->start_us) / 1000.0;
    t->done = 1;
    if (t->running) {
        t->running = 0;
        r->inflight--;
    }
}

static uint64_t resend_interval(const struct run *r);

static void learn_rtt(struct run *r, uint64_t sample, int proto)
{
    uint64_t w, lo, hi;
    size_t i;

    if (r->rtt_known)
        return;
    r->rtt_known = 1;
    r->rtt_us = sample > 0 ? sample : 1;
    r->rtt_proto = proto;
    lo = (uint64_t)r->cfg->wait_floor_ms * 1000u;
    hi = (uint64_t)r->cfg->wait_ceil_ms * 1000u;
    w = r->rtt_us * r->cfg->rtt_factor;
    r->wait_us = w < lo ? lo : w > hi ? hi : w;
    /* Re-sends already scheduled with the pre-RTT interval move closer. */
    for (i = 0; i < r->n; i++) {
        struct test *t = &r->t[i];
        uint64_t at = t->last_send_us + resend_interval(r);
        if (t->running && t->proto == NP_EGRESS_UDP && at < t->next_send_us)
            t->next_send_us = at;
    }
    progress(r, "round trip measured; waiting for the rest");
}

static uint64_t resend_interval(const struct run *r)
{
    uint64_t i;

    if (!r->rtt_known)
        return PRE_RTT_RESEND_US;
    i = r->wait_us / 3;
    return i < MIN_RESEND_US ? MIN_RESEND_US : i;
}

/*
 * Read ICMP details from the socket's error queue (IP_RECVERR). Returns the
 * errno of the last ICMP error found, 0 when none. Reading the queue also
 * clears the socket's pending error (SO_ERROR), so callers that need both
 * read SO_ERROR first or use this return value.
 */
static int read_errqueue(int fd, struct test *t)
{
    int found = 0;
    uint8_t cbuf[512];
    uint8_t data[64];
    int guard;

    for (guard = 0; guard < 8; guard++) {
        struct msghdr msg;
        struct iovec iov;
        struct cmsghdr *c;

        memset(&msg, 0, sizeof(msg));
        iov.iov_base = data;
        iov.iov_len = sizeof(data);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return found;
        for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            struct sock_extended_err ee;
            const uint8_t *p = CMSG_DATA(c);
            size_t avail = c->cmsg_len - (size_t)(p - (const uint8_t *)c);

            if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            if (avail < sizeof(ee))
                continue;
            memcpy(&ee, p, sizeof(ee));
            if (ee.ee_origin != SO_EE_ORIGIN_ICMP &&
                ee.ee_origin != SO_EE_ORIGIN_ICMP6)
                continue;
            t->res.icmp_type = ee.ee_type;
            t->res.icmp_code = ee.ee_code;
            found = (int)ee.ee_errno;
            if (avail > sizeof(ee)) {
                struct sockaddr_storage ss;
                size_t sl = avail - sizeof(ee);
                if (sl > sizeof(ss))
                    sl = sizeof(ss);
                memset(&ss, 0, sizeof(ss));
                memcpy(&ss, p + sizeof(ee), sl);
                if (ss.ss_family == AF_INET)
                    np_addr_from_sockaddr(&t->res.icmp_from,
                                          (struct sockaddr *)&ss,
                                          sizeof(struct sockaddr_in));
                else if (ss.ss_family == AF_INET6)
                    np_addr_from_sockaddr(&t->res.icmp_from,
                                          (struct sockaddr *)&ss,
                                          sizeof(struct sockaddr_in6));
            }
        }
    }
    return found;
}

/*
 * A non-blocking socket connected (TCP: connecting) to t->dest. Returns the
 * fd, or -1 with *e set (the connect() errno when it failed at once).
 */
static int open_socket(struct run *r, struct test *t, int *e)
{
    int fam = np_addr_family(&t->dest), one = 1, fd;
    int type = t->proto == NP_EGRESS_TCP ? SOCK_STREAM : SOCK_DGRAM;

    fd = socket(fam, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *e = errno;
        return -1;
    }
    /* ICMP details (type, code, who sent it) on the error queue. */
    if (fam == AF_INET6)
        (void)setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
    else
        (void)setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one));
    if (np_addr_is_set(&r->cfg->bind) && np_addr_family(&r->cfg->bind) == fam) {
        np_addr b = r->cfg->bind;
        np_addr_set_port(&b, 0);
        if (bind(fd, (const struct sockaddr *)&b.ss, b.len) < 0) {
            *e = errno;
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (const struct sockaddr *)&t->dest.ss, t->dest.len) < 0 &&
        errno != EINPROGRESS) {
        *e = errno;
        read_errqueue(fd, t);
        close(fd);
        return -1;
    }
    *e = 0;
    return fd;
}

static void udp_send(struct run *r, struct test *t, uint64_t now)
{
    uint8_t txid[NP_STUN_TXID_LEN];
    unsigned idx = t->res.attempts;
    ssize_t n;

    memcpy(txid, t->txid, sizeof(txid));
    txid[NP_STUN_TXID_LEN - 1] ^= (uint8_t)idx;
    if (np_stun_binding_request(t->req, sizeof(t->req), txid, 0, &t->req_len) !=
        NP_OK) {
        finish(r, t, NP_EGRESS_ERROR, ENOBUFS, now);
        return;
    }
    n = send(t->fd[0], t->req, t->req_len, 0);

    if (n < 0) {
        int e = errno;
        if (e == EAGAIN || e == EINTR || e == ENOBUFS)
            goto next; /* try again at the next re-send */
        read_errqueue(t->fd[0], t);
        finish(r, t, np_egress_classify(NP_EGRESS_UDP, e), e, now);
        return;
    }
    if (t->res.attempts > 0)
        r->retransmits++;
    if (idx < MAX_UDP_SENDS)
        t->send_us[idx] = now;
    t->res.attempts++;
    t->last_send_us = now;
next:
    t->next_send_us = now + resend_interval(r);
}

static void start_test(struct run *r, struct test *t, uint64_t now)
{
    int e, fd;

    t->queued = 0;
    t->start_us = now;
    r->tests++;
    fd = open_socket(r, t, &e);
    if (fd < 0) {
        t->res.attempts = 1;
        finish(r, t, np_egress_classify(t->proto, e), e, now);
        return;
    }
    t->fd[0] = fd;
    t->fd_start[0] = now;
    t->nfd = 1;
    t->running = 1;
    r->inflight++;
    if (r->inflight > r->max_parallel)
        r->max_parallel = (unsigned)r->inflight;
    if (t->proto == NP_EGRESS_TCP) {
        t->res.attempts = 1;
        t->next_send_us = 0; /* set from the wait once known */
    } else {
        udp_send(r, t, now);
    }
}

static uint64_t deadline(const struct run *r, const struct test *t)
{
    uint64_t w =
        r->rtt_known ? r->wait_us : (uint64_t)r->cfg->wait_ceil_ms * 1000u;
    return t->start_us + w;
}

/*
 * TCP: further SYNs, each on a fresh socket (the kernel's own retransmission
 * comes only after a second), at 1/3 and 2/3 of the wait: one lost SYN or
 * SYN-ACK does not turn into "dropped".
 */
static uint64_t tcp_retry_at(const struct run *r, const struct test *t)
{
    return t->start_us +
           (deadline(r, t) - t->start_us) * (uint64_t)t->nfd / MAX_FDS;
}

static void timers(struct run *r, uint64_t now)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        struct test *t = &r->t[i];
        if (!t->running)
            continue;
        if (now >= deadline(r, t)) {
            finish(r, t, NP_EGRESS_DROPPED, ETIMEDOUT, now);
            continue;
        }
        if (t->proto == NP_EGRESS_TCP) {
            if (t->nfd < MAX_FDS && now >= tcp_retry_at(r, t)) {
                int e, fd = open_socket(r, t, &e);
                if (fd >= 0) {
                    t->fd[t->nfd] = fd;
                    t->fd_start[t->nfd] = now;
                    t->nfd++;
                    t->res.attempts++;
                    r->retransmits++;
                    r->tests++;
                } else if (e != EMFILE && e != ENFILE && e != ENOBUFS) {
                    finish(r, t, np_egress_classify(t->proto, e), e, now);
                } else {
                    /* No fd to spare: rely on the SYNs already out. */
                    t->fd[t->nfd] = -1;
                    t->nfd++;
                }
            }
        } else if (now >= t->next_send_us && t->res.attempts < MAX_UDP_SENDS) {
            udp_send(r, t, now);
        }
    }
}

static void tcp_event(struct run *r, struct test *t, int k, uint64_t now)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    if (getsockopt(t->fd[k], SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr == EINPROGRESS || soerr == EALREADY)
        return;
    if (soerr == 0) {
        if (k > 0)
            r->late++;
        learn_rtt(r, now - t->fd_start[k], NP_EGRESS_TCP);
        finish(r, t, NP_EGRESS_REACHABLE, 0, now);
        return;
    }
    read_errqueue(t->fd[k], t);
    finish(r, t, np_egress_classify(NP_EGRESS_TCP, soerr), soerr, now);
}

static void udp_event(struct run *r, struct test *t, short revents,
                      uint64_t now)
{
    uint8_t buf[1500];
    unsigned idx;
    int guard;

    if (revents & POLLERR) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(t->fd[0], SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        {
            int icmp = read_errqueue(t->fd[0], t);
            if (soerr == 0)
                soerr = icmp;
        }
        if (soerr != 0 && soerr != EMSGSIZE) {
            finish(r, t, np_egress_classify(NP_EGRESS_UDP, soerr), soerr, now);
            return;
        }
    }
    for (guard = 0; guard < 16 && !t->done; guard++) {
        np_stun_msg m;
        ssize_t got = recv(t->fd[0], buf, sizeof(buf), MSG_DONTWAIT);
        if (got < 0) {
            int e = errno;
            if (e == EAGAIN || e == EINTR || e == EMSGSIZE)
                return;
            read_errqueue(t->fd[0], t);
            finish(r, t, np_egress_classify(NP_EGRESS_UDP, e), e, now);
            return;
        }
        if (np_stun_decode(buf, (size_t)got, &m, NULL) != NP_OK)
            continue;
        if (memcmp(m.txid, t->txid, NP_STUN_TXID_LEN - 1) != 0)
            continue;
        idx = (unsigned)(m.txid[NP_STUN_TXID_LEN - 1] ^
                         t->txid[NP_STUN_TXID_LEN - 1]);
        if (idx >= t->res.attempts || idx >= MAX_UDP_SENDS)
            continue; /* not one of ours */
        if (m.type != NP_STUN_BINDING_SUCCESS &&
            m.type != NP_STUN_BINDING_ERROR)
            continue;
        /* Any answer proves the path; an answer to a re-send (and none to
         * the first request) is evidence of loss. */
        if (idx > 0)
            r->late++;
        learn_rtt(r, now - t->send_us[idx], NP_EGRESS_UDP);
        finish(r, t, NP_EGRESS_REACHABLE, 0, now);
    }
}

static int all_done(const struct run *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (!r->t[i].done)
            return 0;
    return 1;
}

static int next_timeout_ms(const struct run *r, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    size_t i;

    for (i = 0; i < r->n; i++) {
        const struct test *t = &r->t[i];
        uint64_t d;
        if (!t->running)
            continue;
        d = deadline(r, t);
        if (d < next)
            next = d;
        if (t->proto == NP_EGRESS_TCP && t->nfd < MAX_FDS) {
            d = tcp_retry_at(r, t);
            if (d < next)
                next = d;
        } else if (t->proto == NP_EGRESS_UDP &&
                   t->res.attempts < MAX_UDP_SENDS && t->next_send_us < next)
            next = t->next_send_us;
    }
    if (next == UINT64_MAX)
        return 0;
    if (next <= now)
        return 0;
    /* Round up so we do not wake a moment early and spin. */
    return (int)((next - now + 999) / 1000);
}

static int init_test(struct test *t, int proto, uint16_t port,
                     const np_addr *dest)
{
    int k;

    memset(t, 0, sizeof(*t));
    t->proto = proto;
    t->port = port;
    for (k = 0; k < MAX_FDS; k++)
        t->fd[k] = -1;
    t->res.proto = proto;
    t->res.port = port;
    t->res.icmp_type = t->res.icmp_code = -1;
    if (dest == NULL) {
        t->res.state = NP_EGRESS_UNTESTABLE;
        t->done = 1;
        return NP_OK;
    }
    t->dest = *dest;
    np_addr_set_port(&t->dest, port);
    t->res.dest = t->dest;
    t->queued = 1;
    if (proto == NP_EGRESS_UDP) {
        if (np__random(t->txid, sizeof(t->txid)) < 0)
            return NP_ESYS;
    }
    return NP_OK;
}

static int check_args(const np_egress_config *cfg,
                      const np_egress_target *targets, size_t n, np_error *err)
{
    size_t i;

    if (cfg == NULL || (targets == NULL && n > 0))
        return np_error_set(err, NP_EINVAL, NULL, "missing config or targets");
    if (cfg->rtt_factor == 0 || cfg->max_inflight == 0 ||
        cfg->wait_ceil_ms == 0 || cfg->wait_floor_ms > cfg->wait_ceil_ms)
        return np_error_set(err, NP_EINVAL, NULL,
                            "bad timing: rtt_factor %u, max_inflight %u, "
                            "floor %u ms, ceiling %u ms",
                            cfg->rtt_factor, cfg->max_inflight,
                            cfg->wait_floor_ms, cfg->wait_ceil_ms);
    if (cfg->n_stun > NP_EGRESS_MAX_STUN)
        return np_error_set(err, NP_EINVAL, NULL, "at most %d STUN servers",
                            NP_EGRESS_MAX_STUN);
    for (i = 0; i < n; i++) {
        char where[32];
        if (targets[i].port != 0 && (targets[i].proto == NP_EGRESS_TCP ||
                                     targets[i].proto == NP_EGRESS_UDP))
            continue;
        (void)snprintf(where, sizeof(where), "target %zu", i);
        return np_error_set(err, NP_EINVAL, where, "bad protocol %d or port %u",
                            targets[i].proto, (unsigned)targets[i].port);
    }
    return NP_OK;
}

/* Index of the test for (proto, port) among tests [2..*n_tests), or add. */
static size_t test_for(struct run *r, size_t *n_tests, int proto, uint16_t port,
                       int *rc)
{
    const np_addr *dest;
    size_t i;

    for (i = 2; i < *n_tests; i++)
        if (r->t[i].proto == proto && r->t[i].port == port)
            return i;
    dest =
        proto == NP_EGRESS_TCP
            ? (np_addr_is_set(&r->cfg->reflector) ? &r->cfg->reflector : NULL)
            : stun_for(r->cfg, port);
    *rc = init_test(&r->t[*n_tests], proto, port, dest);
    return (*n_tests)++;
}

/* Put a finished test back in the queue for another pass. */
static void requeue(struct test *t)
{
    t->earlier_attempts += t->res.attempts;
    t->res.attempts = 0;
    t->res.state = NP_EGRESS_PENDING;
    t->res.sys_errno = 0;
    t->res.rtt_ms = 0;
    t->res.icmp_type = t->res.icmp_code = -1;
    memset(&t->res.icmp_from, 0, sizeof(t->res.icmp_from));
    t->nfd = 0;
    t->done = 0;
    t->queued = 1;
}

/* Run every queued test to its end. */
static int run_loop(struct run *r, struct pollfd *pfd, struct test **owner,
                    int *slot, np_error *err)
{
    uint64_t now = np__mono_us();
    size_t i;

    for (;;) {
        size_t nfds = 0;
        int timeout, k;

        for (i = 0; i < r->n && r->inflight < r->cfg->max_inflight; i++)
            if (r->t[i].queued)
                start_test(r, &r->t[i], now);
        timers(r, now);
        if (all_done(r))
            return NP_OK;
        for (i = 0; i < r->n; i++) {
            struct test *t = &r->t[i];
            if (!t->running)
                continue;
            for (k = 0; k < t->nfd; k++) {
                if (t->fd[k] < 0)
                    continue;
                pfd[nfds].fd = t->fd[k];
                pfd[nfds].events = t->proto == NP_EGRESS_TCP ? POLLOUT : POLLIN;
                pfd[nfds].revents = 0;
                owner[nfds] = t;
                slot[nfds] = k;
                nfds++;
            }
        }
        timeout = next_timeout_ms(r, now);
        if (poll(pfd, nfds, timeout) < 0 && errno != EINTR)
            return np_error_sys(err, errno, NULL, "poll failed");
        now = np__mono_us();
        for (i = 0; i < nfds; i++) {
            struct test *t = owner[i];
            if (pfd[i].revents == 0 || t->done)
                continue;
            if (t->proto == NP_EGRESS_TCP)
                tcp_event(r, t, slot[i], now);
            else
                udp_event(r, t, pfd[i].revents, now);
        }
    }
}

int np_egress_run(const np_egress_config *cfg, np_egress_target *targets,
                  size_t n, np_egress_report *rep, np_error *err)
{
    struct run r;
    struct pollfd *pfd = NULL;
    struct test **owner = NULL;
    int *slot = NULL;
    size_t *map = NULL, i, n_tests = 2, cap;
    uint64_t t0, now;
    int rc, confirm = 0;

    rc = check_args(cfg, targets, n, err);
    if (rc != NP_OK)
        return rc;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.rtt_proto = -1;
    cap = n + 2;
    r.t = calloc(cap, sizeof(*r.t));
    map = calloc(n > 0 ? n : 1, sizeof(*map));
    pfd = calloc(cap * MAX_FDS, sizeof(*pfd));
    owner = calloc(cap * MAX_FDS, sizeof(*owner));
    slot = calloc(cap * MAX_FDS, sizeof(*slot));
    if (r.t == NULL || map == NULL || pfd == NULL || owner == NULL ||
        slot == NULL) {
        rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory for %zu tests",
                          n);
        goto out;
    }

    /* Calibration: the reflector's open port, and the first STUN server. */
    rc = init_test(&r.t[0], NP_EGRESS_TCP, cfg->open_port,
                   np_addr_is_set(&cfg->reflector) && cfg->open_port != 0
                       ? &cfg->reflector
                       : NULL);
    if (rc == NP_OK)
        rc = init_test(&r.t[1], NP_EGRESS_UDP,
                       cfg->n_stun > 0 ? np_addr_port(&cfg->stun[0]) : 0,
                       cfg->n_stun > 0 ? &cfg->stun[0] : NULL);
    for (i = 0; i < n && rc == NP_OK; i++)
        map[i] = test_for(&r, &n_tests, targets[i].proto, targets[i].port, &rc);
    if (rc != NP_OK) {
        rc = np_error_set(err, rc, NULL, "cannot prepare the tests: %s",
                          np_strerror(rc));
        goto out;
    }
    r.n = n_tests;

    t0 = np__mono_us();
    progress(&r, "testing outbound ports");
    rc = run_loop(&r, pfd, owner, slot, err);
    if (rc != NP_OK)
        goto out;
    /*
     * Confirmation pass: when answers came only to re-sent requests (loss on
     * the path), a "dropped" may be loss too. Test those once more; a port
     * that is really dropped costs one more wait, only on a lossy path.
     */
    if (cfg->confirm_drops && r.late > 0) {
        size_t again = 0;
        for (i = 0; i < r.n; i++)
            if (r.t[i].res.state == NP_EGRESS_DROPPED) {
                requeue(&r.t[i]);
                again++;
            }
        if (again > 0) {
            confirm = 1;
            progress(&r, "loss seen: testing the silent ports again");
            rc = run_loop(&r, pfd, owner, slot, err);
            if (rc != NP_OK)
                goto out;
        }
    }
    now = np__mono_us();

    for (i = 0; i < r.n; i++)
        r.t[i].res.attempts += r.t[i].earlier_attempts;
    for (i = 0; i < n; i++) {
        const np_egress_target *src = &r.t[map[i]].res;
        targets[i] = *src;
    }
    if (rep != NULL) {
        memset(rep, 0, sizeof(*rep));
        rep->calib_tcp = r.t[0].res;
        rep->calib_udp = r.t[1].res;
        rep->rtt_ms = r.rtt_known ? (double)r.rtt_us / 1000.0 : 0;
        rep->rtt_proto = r.rtt_proto;
        rep->wait_ms = r.rtt_known ? (double)r.wait_us / 1000.0
                                   : (double)cfg->wait_ceil_ms;
        rep->elapsed_ms = (double)(now - t0) / 1000.0;
        rep->tests = r.tests;
        rep->retransmits = r.retransmits;
        rep->max_parallel = r.max_parallel;
        rep->late = r.late;
        rep->confirm_pass = confirm;
        for (i = 0; i < n; i++) {
            if (targets[i].state == NP_EGRESS_REACHABLE)
                rep->reachable++;
            else if (np_egress_state_blocked(targets[i].state))
                rep->blocked++;
            else if (targets[i].state == NP_EGRESS_UNTESTABLE)
                rep->untestable++;
        }
    }
    rc = NP_OK;
out:
    if (r.t != NULL)
        for (i = 0; i < r.n; i++)
            close_fds(&r.t[i]);
    free(r.t);
    free(map);
    free(pfd);
    free(owner);
    free(slot);
    return rc;
}
