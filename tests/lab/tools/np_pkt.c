/*
 * np_pkt: small packet tools for the network-namespace lab (no ping or
 * netcat timing games needed). Every mode is IPv4 only.
 *
 *   np_pkt listen (-u|-t) -p PORT [-b ADDR] [-w TIMEOUT_MS] [-r READYFILE]
 *       Wait for one UDP datagram (or one TCP connection's first data) on
 *       PORT; print "from ADDR:PORT <payload>" and exit 0, or exit 1 when
 *       TIMEOUT_MS (default 3000) passes. READYFILE is created once bound.
 *   np_pkt send (-u|-t) -a ADDR -p PORT [-m PAYLOAD] [-n COUNT]
 *       [-i INTERVAL_MS] [-b SRCADDR] [-s SRCPORT]
 *       Send PAYLOAD (default "np-probe") COUNT times (default 1) to
 *       ADDR:PORT. TCP: one connection, one write (exit 1 if it fails).
 *   np_pkt echo -p PORT [-b ADDR] [-r READYFILE]
 *       UDP echo server until SIGTERM; also accepts (and closes) TCP
 *       connections on PORT for TCP pings.
 *   np_pkt ping [-t] -a ADDR -p PORT [-c COUNT] [-i INTERVAL_MS] [-w WAIT_MS]
 *       UDP ping against an echo server (-t: time TCP connects instead,
 *       for paths that drop UDP). Prints one line:
 *       "sent N received M loss_pct L rtt_min A rtt_median B rtt_max C"
 *       (milliseconds, 3 decimals). Exit 0 if anything came back, else 1.
 *       ping and echo ask for a real-time priority (best effort) so that
 *       a busy machine is not measured as network delay.
 *   np_pkt rogue [-e FAKE_EXT_ADDR] [-d IFNAME] [-r READYFILE]
 *       A rogue PCP / NAT-PMP responder (RFC 6887 / RFC 6886): answers every
 *       request it sees for UDP port 5351 with success, from its own address
 *       and port 5351, announcing FAKE_EXT_ADDR (default 203.0.113.66).
 *       Requests sent to it directly are answered; with -d IFNAME it also
 *       sniffs the interface (AF_PACKET) and answers requests addressed to
 *       someone else (put the bridge in hub mode so it sees them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Best effort real-time priority for the timing modes (ping, echo), so
 * that a busy machine does not show up as network delay. */
static void try_realtime(void)
{
    struct sched_param sp;

    memset(&sp, 0, sizeof(sp));
    sp.sched_priority = 5;
    (void)sched_setscheduler(0, SCHED_FIFO, &sp);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "np_pkt: bad number: %s\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int make_addr(const char *ip, long port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (ip == NULL) {
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        fprintf(stderr, "np_pkt: bad IPv4 address: %s\n", ip);
        return -1;
    }
    return 0;
}

static void touch_ready(const char *path)
{
    FILE *f;

    if (path == NULL)
        return;
    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "np_pkt: %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
}

static int bound_socket(int type, const char *ip, long port)
{
    struct sockaddr_in sa;
    int one = 1;
    int fd;

    if (make_addr(ip, port, &sa) != 0)
        return -1;
    fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("np_pkt: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "np_pkt: bind %s:%ld: %s\n", ip ? ip : "0.0.0.0", port,
                strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait until fd is readable or the deadline passes; 1 readable, 0 not. */
static int wait_readable(int fd, double deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        double left = deadline - now_ms();
        int rc;

        if (left <= 0 || stop_requested)
            return 0;
        rc = poll(&p, 1, (int)(left + 1));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return 0;
    }
}

static void print_payload(const struct sockaddr_in *from, const char *buf,
                          ssize_t n)
{
    char ip[INET_ADDRSTRLEN];
    ssize_t i;

    inet_ntop(AF_INET, &from->sin_addr, ip, sizeof(ip));
    printf("from %s:%u ", ip, ntohs(from->sin_port));
    for (i = 0; i < n; i++)
        putchar(buf[i] >= 32 && buf[i] < 127 ? buf[i] : '.');
    putchar('\n');
    fflush(stdout);
}

static int mode_listen(int tcp, const char *bind_ip, long port, long wait,
                       const char *ready)
{
    double deadline = now_ms() + (double)wait;
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    char buf[2048];
    ssize_t n;
    int fd, c;

    fd = bound_socket(tcp ? SOCK_STREAM : SOCK_DGRAM, bind_ip, port);
    if (fd < 0)
        return 2;
    if (tcp && listen(fd, 4) != 0) {
        perror("np_pkt: listen");
        close(fd);
        return 2;
    }
    touch_ready(ready);
    if (!wait_readable(fd, deadline)) {
        close(fd);
        return 1;
    }
    if (!tcp) {
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        close(fd);
        if (n < 0)
            return 1;
        print_payload(&from, buf, n);
        return 0;
    }
    c = accept(fd, (struct sockaddr *)&from, &fl);
    close(fd);
    if (c < 0)
        return 1;
    if (!wait_readable(c, deadline)) {
        close(c);
        return 1;
    }
    n = recv(c, buf, sizeof(buf), 0);
    close(c);
    if (n <= 0)
        return 1;
    print_payload(&from, buf, n);
    return 0;
}

static int mode_send(int tcp, const char *ip, long port, const char *msg,
                     long count, long interval, const char *bind_ip, long sport)
{
    struct sockaddr_in to;
    size_t len = strlen(msg);
    long i;
    int fd;

    if (ip == NULL || port <= 0 || make_addr(ip, port, &to) != 0) {
        fprintf(stderr, "np_pkt send: need -a ADDR -p PORT\n");
        return 2;
    }
    fd = bound_socket(tcp ? SOCK_STREAM : SOCK_DGRAM, bind_ip, sport);
    if (fd < 0)
        return 2;
    if (tcp) {
        int ok = connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
                 send(fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len;
        if (!ok)
            fprintf(stderr, "np_pkt: tcp to %s:%ld: %s\n", ip, port,
                    strerror(errno));
        close(fd);
        return ok ? 0 : 1;
    }
    for (i = 0; i < count && !stop_requested; i++) {
        if (i > 0)
            usleep((useconds_t)interval * 1000u);
        if (sendto(fd, msg, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
            fprintf(stderr, "np_pkt: sendto: %s\n", strerror(errno));
    }
    close(fd);
    return 0;
}

static int mode_echo(const char *bind_ip, long port, const char *ready)
{
    int fd = bound_socket(SOCK_DGRAM, bind_ip, port);
    int tfd = bound_socket(SOCK_STREAM, bind_ip, port);

    if (fd < 0 || tfd < 0 || listen(tfd, 64) != 0) {
        if (fd >= 0)
            close(fd);
        if (tfd >= 0)
            close(tfd);
        return 2;
    }
    touch_ready(ready);
    while (!stop_requested) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                              {.fd = tfd, .events = POLLIN, .revents = 0}};
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        char buf[2048];
        ssize_t n;

        if (poll(p, 2, 1000) <= 0)
            continue; /* EINTR on SIGTERM ends the loop */
        if (p[1].revents & POLLIN) {
            int c = accept(tfd, NULL, NULL);

            if (c >= 0)
                close(c); /* the handshake was the measurement */
        }
        if (!(p[0].revents & POLLIN))
            continue;
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            continue;
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
    close(fd);
    close(tfd);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* TCP "ping": the time connect() takes is one round trip (SYN, SYN-ACK). */
static int mode_tcping(const struct sockaddr_in *to, long count, long interval,
                       double *rtt)
{
    long got = 0, i;

    for (i = 0; i < count && !stop_requested; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        double t0;

        if (fd < 0)
            return -1;
        if (i > 0)
            usleep((useconds_t)interval * 1000u);
        t0 = now_ms();
        if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) == 0)
            rtt[got++] = now_ms() - t0;
        close(fd);
    }
    return (int)got;
}

static int mode_ping(int tcp, const char *ip, long port, long count,
                     long interval, long wait)
{
    struct sockaddr_in to;
    double *sent_at, *rtt;
    long sent = 0, got = 0, i;
    double next_send, deadline = 0;
    int fd;

    if (ip == NULL || port <= 0 || make_addr(ip, port, &to) != 0) {
        fprintf(stderr, "np_pkt ping: need -a ADDR -p PORT\n");
        return 2;
    }
    fd = bound_socket(SOCK_DGRAM, NULL, 0);
    if (fd < 0)
        return 2;
    sent_at = calloc((size_t)count, sizeof(double));
    rtt = calloc((size_t)count, sizeof(double));
    if (sent_at == NULL || rtt == NULL) {
        free(sent_at);
        free(rtt);
        close(fd);
        return 2;
    }
    if (tcp) {
        int n = mode_tcping(&to, count, interval, rtt);

        sent = count;
        got = n < 0 ? 0 : n;
        stop_requested = 1; /* skip the UDP loop */
    }
    next_send = now_ms();
    while (!stop_requested) {
        double t = now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        double until;

        if (sent < count && t >= next_send) {
            char msg[32];
            int len = snprintf(msg, sizeof(msg), "np-ping %ld", sent);

            sent_at[sent] = t;
            sendto(fd, msg, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to));
            sent++;
            next_send = t + (double)interval;
            if (sent == count)
                deadline = t + (double)wait;
        }
        if (sent == count && (t >= deadline || got == count))
            break;
        until = sent < count ? next_send : deadline;
        if (poll(&p, 1, (int)(until - t) + 1) > 0) {
            char buf[64];
            ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
            long seq;
            char *end;

            if (n <= 8 || memcmp(buf, "np-ping ", 8) != 0)
                continue;
            buf[n] = '\0';
            errno = 0;
            seq = strtol(buf + 8, &end, 10);
            if (errno != 0 || *end != '\0' || seq < 0 || seq >= sent)
                continue;
            if (sent_at[seq] < 0)
                continue; /* duplicate */
            rtt[got++] = now_ms() - sent_at[seq];
            sent_at[seq] = -1;
        }
    }
    close(fd);
    qsort(rtt, (size_t)got, sizeof(double), cmp_double);
    printf("sent %ld received %ld loss_pct %.1f rtt_min %.3f rtt_median %.3f "
           "rtt_max %.3f\n",
           sent, got, sent ? 100.0 * (double)(sent - got) / (double)sent : 0.0,
           got ? rtt[0] : 0.0, got ? rtt[got / 2] : 0.0,
           got ? rtt[got - 1] : 0.0);
    i = got;
    free(sent_at);
    free(rtt);
    return i > 0 ? 0 : 1;
}

/* ---- rogue PCP / NAT-PMP responder ---------------------------------- */

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/*
 * Build a success answer to request req (len bytes) into out; returns its
 * length or 0 when the request is not one we answer.
 * NAT-PMP (RFC 6886 section 3): version 0; opcode 0 public address,
 * 1/2 map UDP/TCP. PCP (RFC 6887 section 7.2, 11): version 2; MAP (1).
 */
static size_t rogue_answer(const unsigned char *req, size_t len,
                           const struct in_addr *ext, uint32_t epoch,
                           unsigned char *out, size_t cap)
{
    if (len >= 2 && req[0] == 0 && cap >= 16) {
        unsigned op = req[1];

        memset(out, 0, 16);
        out[0] = 0;
        out[1] = (unsigned char)(128 + op);
        put16(out + 2, 0); /* result success */
        put32(out + 4, epoch);
        if (op == 0) {
            memcpy(out + 8, &ext->s_addr, 4);
            return 12;
        }
        if ((op == 1 || op == 2) && len >= 12) {
            memcpy(out + 8, req + 4, 2);  /* internal port */
            memcpy(out + 10, req + 6, 2); /* suggested external port */
            memcpy(out + 12, req + 8, 4); /* lifetime */
            return 16;
        }
        return 0;
    }
    if (len >= 24 && req[0] == 2 && (req[1] & 0x80) == 0) {
        unsigned op = req[1] & 0x7f;
        size_t n = len > cap ? cap : len;

        if (n < 24 || len > 1100)
            return 0;
        /* Response header: version, R|opcode, reserved, result, lifetime,
         * epoch, 96 reserved bits; then the opcode data copied back with
         * the assigned address filled in for MAP. */
        memcpy(out, req, n);
        out[1] = (unsigned char)(0x80 | op);
        out[2] = 0;
        out[3] = 0; /* SUCCESS */
        /* lifetime (bytes 4..7) echoed */
        put32(out + 8, epoch);
        memset(out + 12, 0, 12);
        if (op == 1 && n >= 24 + 36) {
            /* MAP: nonce(12) proto(1) rsv(3) iport(2) eport(2) eaddr(16) */
            unsigned char *e = out + 24 + 20;
            memset(e, 0, 10);
            e[10] = 0xff;
            e[11] = 0xff;
            memcpy(e + 12, &ext->s_addr, 4);
            if (out[24 + 18] == 0 && out[24 + 19] == 0)
                memcpy(out + 24 + 18, out + 24 + 16, 2);
        }
        return n;
    }
    return 0;
}

static void rogue_reply(int fd, const unsigned char *req, size_t len,
                        const struct sockaddr_in *to, const struct in_addr *ext,
                        uint32_t epoch)
{
    unsigned char out[1100];
    size_t n = rogue_answer(req, len, ext, epoch, out, sizeof(out));
    char ip[INET_ADDRSTRLEN];

    if (n == 0)
        return;
    sendto(fd, out, n, 0, (const struct sockaddr *)to, sizeof(*to));
    inet_ntop(AF_INET, &to->sin_addr, ip, sizeof(ip));
    printf("answered %s request from %s:%u\n", req[0] == 0 ? "NAT-PMP" : "PCP",
           ip, ntohs(to->sin_port));
    fflush(stdout);
}

static int mode_rogue(const char *ext_ip, const char *ifname, const char *ready)
{
    struct in_addr ext;
    uint32_t epoch = 1000;
    int fd, pfd = -1;

    if (inet_pton(AF_INET, ext_ip, &ext) != 1) {
        fprintf(stderr, "np_pkt: bad address %s\n", ext_ip);
        return 2;
    }
    fd = bound_socket(SOCK_DGRAM, NULL, 5351);
    if (fd < 0)
        return 2;
    if (ifname != NULL) {
        struct sockaddr_ll ll;
        unsigned idx = if_nametoindex(ifname);

        pfd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
        if (pfd < 0 || idx == 0) {
            fprintf(stderr, "np_pkt: packet socket on %s: %s\n", ifname,
                    strerror(errno));
            close(fd);
            if (pfd >= 0)
                close(pfd);
            return 2;
        }
        memset(&ll, 0, sizeof(ll));
        ll.sll_family = AF_PACKET;
        ll.sll_protocol = htons(ETH_P_IP);
        ll.sll_ifindex = (int)idx;
        if (bind(pfd, (struct sockaddr *)&ll, sizeof(ll)) != 0) {
            perror("np_pkt: bind packet socket");
            close(fd);
            close(pfd);
            return 2;
        }
    }
    touch_ready(ready);
    while (!stop_requested) {
        struct pollfd p[2];
        unsigned char buf[1500];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n;

        p[0].fd = fd;
        p[0].events = POLLIN;
        p[0].revents = 0;
        p[1].fd = pfd;
        p[1].events = POLLIN;
        p[1].revents = 0;
        if (poll(p, pfd >= 0 ? 2 : 1, 1000) <= 0)
            continue;
        epoch++;
        if (p[0].revents & POLLIN) {
            n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
                         &fl);
            if (n > 0)
                rogue_reply(fd, buf, (size_t)n, &from, &ext, epoch);
        }
        if (pfd >= 0 && (p[1].revents & POLLIN)) {
            struct sockaddr_ll ll;
            socklen_t ll_len = sizeof(ll);
            size_t ihl;

            n = recvfrom(pfd, buf, sizeof(buf), 0, (struct sockaddr *)&ll,
                         &ll_len);
            /* Only frames for other hosts: ours come through fd. */
            if (n < 28 || ll.sll_pkttype != PACKET_OTHERHOST)
                continue;
            ihl = (size_t)(buf[0] & 0x0f) * 4;
            if ((buf[0] >> 4) != 4 || buf[9] != IPPROTO_UDP || ihl < 20 ||
                (size_t)n < ihl + 8)
                continue;
            if (buf[ihl + 2] != 0x14 || buf[ihl + 3] != 0xe7) /* 5351 */
                continue;
            memset(&from, 0, sizeof(from));
            from.sin_family = AF_INET;
            memcpy(&from.sin_addr, buf + 12, 4);
            memcpy(&from.sin_port, buf + ihl, 2);
            rogue_reply(fd, buf + ihl + 8, (size_t)n - ihl - 8, &from, &ext,
                        epoch);
        }
    }
    close(fd);
    if (pfd >= 0)
        close(pfd);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: np_pkt listen|send|echo|ping|rogue [options]\n"
                    "  (see the comment at the top of np_pkt.c)\n");
}

int main(int argc, char **argv)
{
    const char *mode, *addr = NULL, *bind_ip = NULL, *ready = NULL;
    const char *msg = "np-probe", *ext = "203.0.113.66", *ifname = NULL;
    long port = 0, wait = 3000, count = 1, interval = 100, sport = 0;
    int tcp = 0, opt;

    if (argc < 2) {
        usage();
        return 2;
    }
    mode = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "utp:b:w:r:a:m:n:c:i:s:e:d:")) != -1) {
        switch (opt) {
        case 'u':
            tcp = 0;
            break;
        case 't':
            tcp = 1;
            break;
        case 'p':
            if (parse_long(optarg, 1, 65535, &port) != 0)
                return 2;
            break;
        case 'b':
            bind_ip = optarg;
            break;
        case 'w':
            if (parse_long(optarg, 0, 600000, &wait) != 0)
                return 2;
            break;
        case 'r':
            ready = optarg;
            break;
        case 'a':
            addr = optarg;
            break;
        case 'm':
            msg = optarg;
            break;
        case 'n':
        case 'c':
            if (parse_long(optarg, 1, 100000, &count) != 0)
                return 2;
            break;
        case 'i':
            if (parse_long(optarg, 0, 60000, &interval) != 0)
                return 2;
            break;
        case 's':
            if (parse_long(optarg, 0, 65535, &sport) != 0)
                return 2;
            break;
        case 'e':
            ext = optarg;
            break;
        case 'd':
            ifname = optarg;
            break;
        default:
            usage();
            return 2;
        }
    }
    install_signals();
    if (strcmp(mode, "listen") == 0)
        return port ? mode_listen(tcp, bind_ip, port, wait, ready) : 2;
    if (strcmp(mode, "send") == 0)
        return mode_send(tcp, addr, port, msg, count, interval, bind_ip, sport);
    if (strcmp(mode, "echo") == 0) {
        try_realtime();
        return port ? mode_echo(bind_ip, port, ready) : 2;
    }
    if (strcmp(mode, "ping") == 0) {
        try_realtime();
        return mode_ping(tcp, addr, port, count, interval, wait);
    }
    if (strcmp(mode, "rogue") == 0)
        return mode_rogue(ext, ifname, ready);
    usage();
    return 2;
}
