/*
 * np_pkt6: the IPv6 side of np_pkt (which is IPv4 only), for proving
 * pinholes in the namespace lab with real packets.
 *
 *   np_pkt6 listen (-u|-t) -p PORT [-b ADDR] [-w TIMEOUT_MS] [-r READYFILE]
 *       Wait for one UDP datagram (or one TCP connection's first data) on
 *       [ADDR]:PORT (default [::]); print "from [ADDR]:PORT <payload>" and
 *       exit 0, or exit 1 when TIMEOUT_MS (default 3000) passes. READYFILE
 *       is created once bound.
 *   np_pkt6 send (-u|-t) -a ADDR -p PORT [-m PAYLOAD] [-n COUNT]
 *       [-i INTERVAL_MS] [-b SRCADDR] [-s SRCPORT]
 *       Send PAYLOAD (default "np-probe") COUNT times (default 1) to
 *       [ADDR]:PORT. TCP: one connection (2 s at most), one write; exit 1
 *       if it fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
        fprintf(stderr, "np_pkt6: bad number: %s\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int make_addr(const char *ip, long port, struct sockaddr_in6 *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons((uint16_t)port);
    if (ip == NULL) {
        sa->sin6_addr = in6addr_any;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &sa->sin6_addr) != 1) {
        fprintf(stderr, "np_pkt6: bad IPv6 address: %s\n", ip);
        return -1;
    }
    return 0;
}

static int bound_socket(int type, const char *ip, long port)
{
    struct sockaddr_in6 sa;
    int one = 1;
    int fd;

    if (make_addr(ip, port, &sa) != 0)
        return -1;
    fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("np_pkt6: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "np_pkt6: bind [%s]:%ld: %s\n", ip ? ip : "::", port,
                strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int wait_readable(int fd, double deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        double left = deadline - now_ms();
        int rc;

        if (left <= 0)
            return 0;
        rc = poll(&p, 1, (int)(left + 1));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return 0;
    }
}

static void print_payload(const struct sockaddr_in6 *from, const char *buf,
                          ssize_t n)
{
    char ip[INET6_ADDRSTRLEN];
    ssize_t i;

    inet_ntop(AF_INET6, &from->sin6_addr, ip, sizeof(ip));
    printf("from [%s]:%u ", ip, ntohs(from->sin6_port));
    for (i = 0; i < n; i++)
        putchar(buf[i] >= 32 && buf[i] < 127 ? buf[i] : '.');
    putchar('\n');
    fflush(stdout);
}

static int mode_listen(int tcp, const char *bind_ip, long port, long wait,
                       const char *ready)
{
    double deadline = now_ms() + (double)wait;
    struct sockaddr_in6 from;
    socklen_t fl = sizeof(from);
    char buf[2048];
    ssize_t n;
    int fd, c;

    fd = bound_socket(tcp ? SOCK_STREAM : SOCK_DGRAM, bind_ip, port);
    if (fd < 0)
        return 2;
    if (tcp && listen(fd, 4) != 0) {
        perror("np_pkt6: listen");
        return 2;
    }
    if (ready != NULL) {
        FILE *f = fopen(ready, "w");
        if (f != NULL)
            fclose(f);
    }
    if (!wait_readable(fd, deadline))
        return 1;
    if (!tcp) {
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return 1;
        print_payload(&from, buf, n);
        return 0;
    }
    c = accept(fd, (struct sockaddr *)&from, &fl);
    if (c < 0)
        return 1;
    if (!wait_readable(c, deadline))
        return 1;
    n = recv(c, buf, sizeof(buf), 0);
    if (n < 0)
        return 1;
    print_payload(&from, buf, n);
    close(c);
    return 0;
}

static int mode_send(int tcp, const char *dst, long port, const char *msg,
                     long count, long interval, const char *src, long sport)
{
    struct sockaddr_in6 to;
    int fd;
    long i;

    if (make_addr(dst, port, &to) != 0)
        return 2;
    fd = bound_socket(tcp ? SOCK_STREAM : SOCK_DGRAM, src, sport);
    if (fd < 0)
        return 2;
    if (tcp) {
        struct pollfd p;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);

        fcntl(fd, F_SETFL, O_NONBLOCK);
        if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 &&
            errno != EINPROGRESS)
            return 1;
        p.fd = fd;
        p.events = POLLOUT;
        p.revents = 0;
        if (poll(&p, 1, 2000) != 1)
            return 1;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0)
            return 1;
        return send(fd, msg, strlen(msg), MSG_NOSIGNAL) == (ssize_t)strlen(msg)
                   ? 0
                   : 1;
    }
    for (i = 0; i < count; i++) {
        if (i > 0)
            usleep((useconds_t)interval * 1000u);
        (void)sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to,
                     sizeof(to));
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode, *addr = NULL, *bind_ip = NULL, *ready = NULL;
    const char *msg = "np-probe";
    long port = 0, wait = 3000, count = 1, interval = 100, sport = 0;
    int tcp = 0, c;

    if (argc < 2) {
        fprintf(stderr, "usage: np_pkt6 listen|send ...\n");
        return 2;
    }
    mode = argv[1];
    optind = 2;
    while ((c = getopt(argc, argv, "utp:b:w:r:a:m:n:i:s:")) != -1) {
        switch (c) {
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
            if (parse_long(optarg, 1, 600000, &wait) != 0)
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
            if (parse_long(optarg, 1, 1000, &count) != 0)
                return 2;
            break;
        case 'i':
            if (parse_long(optarg, 0, 10000, &interval) != 0)
                return 2;
            break;
        case 's':
            if (parse_long(optarg, 1, 65535, &sport) != 0)
                return 2;
            break;
        default:
            return 2;
        }
    }
    if (port == 0) {
        fprintf(stderr, "np_pkt6: -p PORT is required\n");
        return 2;
    }
    if (strcmp(mode, "listen") == 0)
        return mode_listen(tcp, bind_ip, port, wait, ready);
    if (strcmp(mode, "send") == 0 && addr != NULL)
        return mode_send(tcp, addr, port, msg, count, interval, bind_ip, sport);
    fprintf(stderr, "np_pkt6: unknown mode or missing -a\n");
    return 2;
}
