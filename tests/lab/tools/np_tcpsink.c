/*
 * np_tcpsink: the lab's TCP reflector. Listens on ADDR:PORT, accepts every
 * connection and closes it at once, until SIGTERM. With an nftables DNAT of
 * every TCP port of an address to PORT it becomes "a host that accepts TCP
 * on every port", like the public egress-test services.
 *
 *   np_tcpsink -p PORT [-b ADDR] [-r READYFILE]
 *
 * READYFILE is created once the socket listens. Prints the number of
 * connections accepted on exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int parse_port(const char *s, unsigned short *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < 1 || v > 65535)
        return -1;
    *out = (unsigned short)v;
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct sigaction act;
    const char *bind_addr = "0.0.0.0", *ready = NULL;
    unsigned short port = 0;
    unsigned long accepted = 0;
    int fd, one = 1, opt;

    while ((opt = getopt(argc, argv, "p:b:r:")) != -1) {
        switch (opt) {
        case 'p':
            if (parse_port(optarg, &port) != 0) {
                fprintf(stderr, "np_tcpsink: bad port %s\n", optarg);
                return 2;
            }
            break;
        case 'b':
            bind_addr = optarg;
            break;
        case 'r':
            ready = optarg;
            break;
        default:
            fprintf(stderr,
                    "usage: np_tcpsink -p PORT [-b ADDR] [-r READYFILE]\n");
            return 2;
        }
    }
    if (port == 0) {
        fprintf(stderr, "np_tcpsink: -p PORT is required\n");
        return 2;
    }
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "np_tcpsink: bad address %s\n", bind_addr);
        return 2;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1024) < 0) {
        perror("np_tcpsink");
        return 1;
    }
    if (ready != NULL) {
        FILE *f = fopen(ready, "w");
        if (f == NULL) {
            perror(ready);
            return 1;
        }
        fclose(f);
    }
    while (!stop_requested) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        int c;
        if (poll(&p, 1, 200) <= 0)
            continue;
        c = accept(fd, NULL, NULL);
        if (c >= 0) {
            accepted++;
            close(c);
        }
    }
    close(fd);
    printf("accepted %lu\n", accepted);
    return 0;
}
