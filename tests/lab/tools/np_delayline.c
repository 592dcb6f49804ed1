/*
 * np_delayline: a user-space delay and loss line between two TAP devices
 * that live in two different network namespaces (this kernel has no netem).
 *
 *   np_delayline --ns-a /run/netns/A --dev-a wan --ns-b /run/netns/B
 *                --dev-b up [--delay-ms 40] [--loss-pct 5.0] [--seed 1]
 *                [--ready-file PATH]
 *
 * The TAP devices are expected to exist already (created persistent with
 * `ip tuntap add dev NAME mode tap`, addresses configured); the tool enters
 * each namespace with setns(), opens /dev/net/tun there and attaches to the
 * device by name. Every Ethernet frame read from one side is held for
 * --delay-ms (each way) and then written to the other side, unless the
 * seeded PRNG drops it (--loss-pct, each way, independently). Frames keep
 * their order. One ppoll() loop (nanosecond timeouts), run at real-time
 * priority where allowed; SIGTERM or SIGINT ends it cleanly.
 * When both devices are attached it creates --ready-file (if given) so a
 * caller can poll for readiness. Statistics go to stderr on SIGUSR1 and on
 * exit, one line: "np_delayline stats: a->b passed N dropped N overflow N;
 * b->a passed N dropped N overflow N".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 2048 /* MTU 1500 + Ethernet header, with room to spare */
#define QUEUE_LEN 8192 /* frames in flight per direction */

struct frame {
    uint64_t due_ns;
    uint16_t len;
    unsigned char data[FRAME_MAX];
};

struct queue {
    struct frame *slots;
    size_t head, count;
    unsigned long long passed, dropped, overflow;
};

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t stats_requested;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        stats_requested = 1;
    else
        stop_requested = 1;
}

static void print_stats(const char *when, const struct queue *ab,
                        const struct queue *ba)
{
    fprintf(stderr,
            "np_delayline %s: a->b passed %llu dropped %llu overflow %llu; "
            "b->a passed %llu dropped %llu overflow %llu\n",
            when, ab->passed, ab->dropped, ab->overflow, ba->passed,
            ba->dropped, ba->overflow);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: small, seeded, reproducible. */
static uint64_t prng_state = 0x9e3779b97f4a7c15ull;

static uint64_t prng_next(void)
{
    uint64_t x = prng_state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    prng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Drop with probability loss (0..1). */
static int should_drop(double loss)
{
    double u;

    if (loss <= 0.0)
        return 0;
    u = (double)(prng_next() >> 11) / 9007199254740992.0; /* [0,1) */
    return u < loss;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Enter namespace nspath, open /dev/net/tun there and attach to dev. */
static int open_tap_in(const char *nspath, const char *dev)
{
    struct ifreq ifr;
    int nsfd, fd, flags;

    nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
        fprintf(stderr, "np_delayline: open %s: %s\n", nspath, strerror(errno));
        return -1;
    }
    if (setns(nsfd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "np_delayline: setns %s: %s\n", nspath,
                strerror(errno));
        close(nsfd);
        return -1;
    }
    close(nsfd);
    fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "np_delayline: open /dev/net/tun: %s\n",
                strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (strlen(dev) >= sizeof(ifr.ifr_name)) {
        fprintf(stderr, "np_delayline: device name too long: %s\n", dev);
        close(fd);
        return -1;
    }
    memcpy(ifr.ifr_name, dev, strlen(dev) + 1);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "np_delayline: TUNSETIFF %s in %s: %s\n", dev, nspath,
                strerror(errno));
        close(fd);
        return -1;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        fprintf(stderr, "np_delayline: O_NONBLOCK: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Read every frame waiting on fd into q, stamping it due after delay. */
static void drain(int fd, struct queue *q, uint64_t delay_ns, double loss)
{
    unsigned char buf[FRAME_MAX];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        struct frame *f;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN or a real error: poll tells us later */
        }
        if (n == 0)
            return;
        if (should_drop(loss)) {
            q->dropped++;
            continue;
        }
        if (q->count == QUEUE_LEN) {
            q->overflow++;
            continue;
        }
        f = &q->slots[(q->head + q->count) % QUEUE_LEN];
        f->due_ns = now_ns() + delay_ns;
        f->len = (uint16_t)n;
        memcpy(f->data, buf, (size_t)n);
        q->count++;
    }
}

/* Write every frame of q that is due to fd. */
static void release(int fd, struct queue *q, uint64_t now)
{
    while (q->count > 0) {
        struct frame *f = &q->slots[q->head];

        if (f->due_ns > now)
            return;
        if (write(fd, f->data, f->len) < 0 && errno == EINTR)
            continue;
        /* A frame the kernel refuses (device down) is lost, like a wire. */
        q->passed++;
        q->head = (q->head + 1) % QUEUE_LEN;
        q->count--;
    }
}

/* Time until the next frame is due (at most 1 s), to the nanosecond. */
static struct timespec next_timeout(const struct queue *a,
                                    const struct queue *b, uint64_t now)
{
    uint64_t due = UINT64_MAX;
    uint64_t wait = 1000000000ull;
    struct timespec ts;

    if (a->count > 0)
        due = a->slots[a->head].due_ns;
    if (b->count > 0 && b->slots[b->head].due_ns < due)
        due = b->slots[b->head].due_ns;
    if (due != UINT64_MAX)
        wait = due <= now ? 0 : due - now;
    if (wait > 1000000000ull)
        wait = 1000000000ull;
    ts.tv_sec = (time_t)(wait / 1000000000ull);
    ts.tv_nsec = (long)(wait % 1000000000ull);
    return ts;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: np_delayline --ns-a PATH --dev-a NAME --ns-b PATH "
            "--dev-b NAME\n"
            "                    [--delay-ms N] [--loss-pct P] [--seed S] "
            "[--ready-file PATH]\n");
}

int main(int argc, char **argv)
{
    const char *ns_a = NULL, *dev_a = NULL, *ns_b = NULL, *dev_b = NULL;
    const char *ready = NULL;
    long delay_ms = 0, seed = 1;
    double loss_pct = 0.0, loss;
    struct queue ab, ba; /* ab: frames read on A, to be written to B */
    struct sigaction sa;
    int fa, fb, i;
    uint64_t delay_ns;

    for (i = 1; i < argc; i += 2) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (val == NULL) {
            usage();
            return 2;
        }
        if (strcmp(opt, "--ns-a") == 0)
            ns_a = val;
        else if (strcmp(opt, "--dev-a") == 0)
            dev_a = val;
        else if (strcmp(opt, "--ns-b") == 0)
            ns_b = val;
        else if (strcmp(opt, "--dev-b") == 0)
            dev_b = val;
        else if (strcmp(opt, "--ready-file") == 0)
            ready = val;
        else if (strcmp(opt, "--delay-ms") == 0) {
            if (parse_long(val, 0, 60000, &delay_ms) != 0) {
                fprintf(stderr, "np_delayline: bad --delay-ms %s\n", val);
                return 2;
            }
        } else if (strcmp(opt, "--loss-pct") == 0) {
            if (parse_double(val, 0.0, 100.0, &loss_pct) != 0) {
                fprintf(stderr, "np_delayline: bad --loss-pct %s\n", val);
                return 2;
            }
        } else if (strcmp(opt, "--seed") == 0) {
            if (parse_long(val, 0, LONG_MAX, &seed) != 0) {
                fprintf(stderr, "np_delayline: bad --seed %s\n", val);
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (ns_a == NULL || dev_a == NULL || ns_b == NULL || dev_b == NULL) {
        usage();
        return 2;
    }
    prng_state ^= (uint64_t)seed * 0xbf58476d1ce4e5b9ull;
    if (prng_state == 0)
        prng_state = 1;
    loss = loss_pct / 100.0;
    delay_ns = (uint64_t)delay_ms * 1000000ull;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    /* Best effort: a real-time priority keeps the delay steady when the
     * machine is busy. The loop sleeps in ppoll(), so it cannot hog a CPU
     * (and the kernel's RT throttling would stop it if it did). */
    {
        struct sched_param sp;

        memset(&sp, 0, sizeof(sp));
        sp.sched_priority = 10;
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
            fprintf(stderr, "np_delayline: no real-time priority: %s\n",
                    strerror(errno));
    }

    fa = open_tap_in(ns_a, dev_a);
    if (fa < 0)
        return 1;
    fb = open_tap_in(ns_b, dev_b);
    if (fb < 0) {
        close(fa);
        return 1;
    }

    memset(&ab, 0, sizeof(ab));
    memset(&ba, 0, sizeof(ba));
    ab.slots = calloc(QUEUE_LEN, sizeof(struct frame));
    ba.slots = calloc(QUEUE_LEN, sizeof(struct frame));
    if (ab.slots == NULL || ba.slots == NULL) {
        fprintf(stderr, "np_delayline: out of memory\n");
        free(ab.slots);
        free(ba.slots);
        close(fa);
        close(fb);
        return 1;
    }

    if (ready != NULL) {
        FILE *rf = fopen(ready, "w");

        if (rf == NULL) {
            fprintf(stderr, "np_delayline: %s: %s\n", ready, strerror(errno));
        } else {
            fprintf(rf, "%ld\n", (long)getpid());
            fclose(rf);
        }
    }

    while (!stop_requested) {
        struct pollfd pfd[2];
        struct timespec timeout;
        int rc;

        if (stats_requested) {
            stats_requested = 0;
            print_stats("stats", &ab, &ba);
        }
        pfd[0].fd = fa;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = fb;
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        timeout = next_timeout(&ab, &ba, now_ns());
        rc = ppoll(pfd, 2, &timeout, NULL);
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "np_delayline: ppoll: %s\n", strerror(errno));
            break;
        }
        if (rc > 0) {
            if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL) ||
                pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                fprintf(stderr, "np_delayline: device gone\n");
                break;
            }
            if (pfd[0].revents & POLLIN)
                drain(fa, &ab, delay_ns, loss);
            if (pfd[1].revents & POLLIN)
                drain(fb, &ba, delay_ns, loss);
        }
        release(fb, &ab, now_ns());
        release(fa, &ba, now_ns());
    }

    print_stats("exit", &ab, &ba);
    free(ab.slots);
    free(ba.slots);
    close(fa);
    close(fb);
    return 0;
}
