/*
 * natpilot status: ask the running daemon what it holds, over its unix
 * status socket (one JSON document per connection), and show it.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "natpilot/config.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: natpilot status [--json] [--socket PATH]\n\n"
               "Show what the running natpilot daemon holds: devices, "
               "mappings, protocol,\nexpiry, last error and the last router "
               "restart it saw.\n\n"
               "  -s, --socket PATH  the daemon's status socket (default: "
               "/run/natpilot/status.sock\n"
               "                     as root, else "
               "$XDG_RUNTIME_DIR/natpilot/status.sock)\n"
               "      --json         the daemon's status document as is\n"
               "  -h, --help         this help\n\n"
               "Exit: 0 every mapping held or present, 1 some mapping "
               "missing, refused or the\nrouter unreachable, 3 no daemon "
               "answers.\n");
}

#define STATUS_MAX (4 * 1024 * 1024)

/* Read the whole document; NULL with errno-ish message when none. */
static char *fetch(const char *path, char *why, size_t whysize)
{
    struct sockaddr_un sa;
    int fd;
    char *buf = NULL;
    size_t len = 0, cap = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(why, whysize, "socket path too long");
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(why, whysize, "%s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 5000) <= 0) {
            snprintf(why, whysize, "the daemon did not answer in 5 s");
            break;
        }
        if (len + 4096 + 1 > cap) {
            char *nb;

            if (cap >= STATUS_MAX) {
                snprintf(why, whysize, "status too large");
                break;
            }
            cap = cap ? cap * 2 : 16384;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                snprintf(why, whysize, "out of memory");
                break;
            }
            buf = nb;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, whysize, "%s", strerror(errno));
            break;
        }
        if (n == 0) {
            close(fd);
            buf[len] = '\0';
            return buf;
        }
        len += (size_t)n;
    }
    close(fd);
    free(buf);
    return NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    /* Bounded, so that span() and when() may cast it to an integer. */
    if (!cJSON_IsNumber(v) ||
        !(v->valuedouble >= -1e15 && v->valuedouble <= 1e15))
        return dflt;
    return v->valuedouble;
}

static void span(char *buf, size_t size, double s)
{
    long v = (long)s;

    if (v < 0)
        snprintf(buf, size, "overdue");
    else if (v < 120)
        snprintf(buf, size, "%ld s", v);
    else if (v < 7200)
        snprintf(buf, size, "%ld min", v / 60);
    else
        snprintf(buf, size, "%ld h %ld min", v / 3600, (v % 3600) / 60);
}

static void when(char *buf, size_t size, double t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0) {
        snprintf(buf, size, "never");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* 1 when the router is not up or a mapping is not held / present. */
static int assess(const cJSON *doc)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "router");
    const cJSON *d, *m;

    if (strcmp(str(r, "state"), "up") != 0)
        return NP_EXIT_PROBLEM;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(doc, "devices"))
    {
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(d, "mappings"))
        {
            if (strcmp(str(m, "state"), "held") != 0 &&
                strcmp(str(m, "state"), "present") != 0)
                return NP_EXIT_PROBLEM;
        }
    }
    return NP_EXIT_OK;
}

static int show(const cJSON *doc)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(doc, "router");
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(doc, "devices");
    const cJSON *d, *m, *p;
    char b1[64], b2[64];
    int problem = 0;

    span(b1, sizeof(b1), (double)time(NULL) - num(doc, "started", 0));
    printf("%snatpilot daemon%s %s, pid %.0f, up %s, config %s\n", np_c_bold(),
           np_c_reset(), str(doc, "version"), num(doc, "pid", 0), b1,
           str(doc, "config"));
    printf("Router %s: ", str(r, "gateway")[0] ? str(r, "gateway") : "?");
    if (strcmp(str(r, "state"), "up") == 0) {
        printf("%sup%s (", np_c_good(), np_c_reset());
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(r, "protocols"))
        {
            printf("%s%s",
                   p == cJSON_GetObjectItemCaseSensitive(r, "protocols")->child
                       ? ""
                       : ", ",
                   cJSON_IsString(p) ? p->valuestring : "?");
        }
        printf(")\n");
    } else {
        problem = 1;
        printf("%s%s%s", np_c_bad(), str(r, "state"), np_c_reset());
        if (num(r, "retry_in", -1) >= 0)
            printf(", next try in %.0f s", num(r, "retry_in", 0));
        printf("\n");
    }
    when(b1, sizeof(b1), num(r, "last_restart", 0));
    printf("  last restart seen: %s%s%s\n", b1,
           str(r, "last_restart_reason")[0] ? " — " : "",
           str(r, "last_restart_reason"));
    if (str(r, "last_error")[0])
        printf("  last error: %s\n", str(r, "last_error"));
    if (num(r, "orphans_pending", 0) > 0)
        printf("  %.0f mapping(s) of a crashed run still to remove\n",
               num(r, "orphans_pending", 0));
    cJSON_ArrayForEach(d, devs)
    {
        printf("\n%s%s%s (%s, %s)\n", np_c_bold(), str(d, "name"), np_c_reset(),
               str(d, "address"), str(d, "mode"));
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(d, "mappings"))
        {
            const char *st = str(m, "state");
            int good = strcmp(st, "held") == 0 || strcmp(st, "present") == 0;

            if (!good)
                problem = 1;
            b1[0] = b2[0] = '\0';
            if (num(m, "expires_in", -1e9) > -1e9)
                span(b1, sizeof(b1), num(m, "expires_in", 0));
            printf("  %s %-5.0f %s%-12s%s %-7s %-22s %s%s\n",
                   strcmp(str(m, "transport"), "tcp") == 0 ? "TCP" : "UDP",
                   num(m, "internal_port", 0), good ? np_c_good() : np_c_warn(),
                   st, np_c_reset(),
                   strcmp(str(m, "protocol"), "none") == 0 ? "-"
                                                           : str(m, "protocol"),
                   str(m, "external")[0] ? str(m, "external") : "-",
                   b1[0] ? "expires in " : "", b1);
            if (str(m, "last_error")[0])
                printf("        %s%s%s\n", np_c_dim(), str(m, "last_error"),
                       np_c_reset());
        }
    }
    (void)b2;
    return problem ? NP_EXIT_PROBLEM : NP_EXIT_OK;
}

int np_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    char path[108], why[200];
    int c, json = 0, rc;
    char *text;
    cJSON *doc;

    path[0] = '\0';
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            snprintf(path, sizeof(path), "%s", optarg);
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return NP_EXIT_OK;
        default:
            usage(stderr);
            return NP_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return NP_EXIT_USAGE;
    }
    if (path[0] == '\0' &&
        np_config_client_status_socket(path, sizeof(path)) != NP_OK) {
        np_out_errorf("status", "no status socket known: give --socket PATH "
                                "(or set XDG_RUNTIME_DIR)");
        return NP_EXIT_USAGE;
    }
    text = fetch(path, why, sizeof(why));
    if (text == NULL) {
        if (json) {
            cJSON *o = cJSON_CreateObject();
            char *s;

            cJSON_AddBoolToObject(o, "running", 0);
            cJSON_AddStringToObject(o, "socket", path);
            cJSON_AddStringToObject(o, "error", why);
            s = cJSON_Print(o);
            if (s != NULL)
                puts(s);
            free(s);
            cJSON_Delete(o);
        }
        np_out_errorf("status", "no daemon answers on %s: %s", path, why);
        return NP_EXIT_NETWORK;
    }
    doc = cJSON_Parse(text);
    if (doc == NULL) {
        free(text);
        np_out_errorf("status", "the daemon's answer on %s is not JSON", path);
        return NP_EXIT_NETWORK;
    }
    if (json) {
        char *s;

        cJSON_AddBoolToObject(doc, "running", 1);
        s = cJSON_Print(doc);
        if (s != NULL)
            puts(s);
        free(s);
        rc = assess(doc);
    } else {
        rc = show(doc);
    }
    cJSON_Delete(doc);
    free(text);
    return rc;
}
