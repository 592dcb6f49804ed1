/*
 * natpilot daemon: keep every configured device's mappings alive (see
 * natpilot(1), natpilot.conf(5)). The work is the library's keeper; this
 * file parses options, turns the keeper's events into one stderr line each
 * (with sd-daemon level prefixes under journald), handles the signals
 * through a signalfd and, without --foreground, detaches once the start
 * has succeeded.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "natpilot/config.h"
#include "natpilot/keeper.h"
#include "web.h"

#ifndef NP_VERSION
#define NP_VERSION "0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: natpilot daemon --config FILE [--foreground] [--check]\n"
            "                       [--log-level LEVEL] [--json]\n"
            "                       [--web] [--web-listen ADDR:PORT]\n\n"
            "Keep the mappings of every device in FILE alive: renewed at half "
            "the lease,\nre-created after a router restart, removed on "
            "SIGTERM/SIGINT; SIGHUP reloads.\n\n"
            "  -c, --config FILE     the configuration (natpilot.conf(5))\n"
            "  -f, --foreground      stay in the foreground (for systemd and "
            "containers)\n"
            "      --check           validate FILE (and its profiles), then "
            "exit\n"
            "  -l, --log-level L     error, warn, info or debug (overrides "
            "the file)\n"
            "      --json            with --check: the result as JSON\n"
            "      --web             serve the web interface (as \"web\": "
            "{\"enabled\": true})\n"
            "      --web-listen A:P  its address: loopback (default "
            "127.0.0.1:8780) or a\n"
            "                        LAN address, never a WAN one\n"
            "  -h, --help            this help\n\n"
            "Exit: 0 stopped cleanly / configuration valid, 1 could not "
            "start or mappings\nleft behind, 2 usage or invalid "
            "configuration.\n");
}

struct logctx {
    int journal;
    int level;
};

static void log_line(void *ud, int level, const char *line)
{
    const struct logctx *lc = ud;
    static const int sd[] = {3, 4, 6, 7};
    static const char *const word[] = {"error", "warn", "info", "debug"};

    if (level < 0 || level > 3)
        level = 3;
    if (lc->journal) {
        fprintf(stderr, "<%d>%s\n", sd[level], line);
    } else {
        char ts[32];
        time_t t = time(NULL);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "%s natpilot[%ld] %s: %s\n", ts, (long)getpid(),
                word[level], line);
    }
    fflush(stderr);
}

static int check_only(const char *path, int json)
{
    np_diags diags;
    np_config *cfg = NULL;
    np_catalog *cat = NULL;
    np_error err;
    char buf[700];
    size_t i;
    int rc;

    np_diags_init(&diags);
    np_error_clear(&err);
    rc = np_config_load_full(path, &cfg, &cat, &diags, &err);
    if (json) {
        cJSON *doc = cJSON_CreateObject(), *arr;
        char *s;

        cJSON_AddStringToObject(doc, "config", path);
        cJSON_AddBoolToObject(doc, "valid", rc == NP_OK);
        arr = cJSON_AddArrayToObject(doc, "problems");
        for (i = 0; i < diags.count; i++) {
            cJSON *o = cJSON_CreateObject();

            cJSON_AddStringToObject(o, "file", diags.items[i].file);
            cJSON_AddNumberToObject(o, "line", diags.items[i].line);
            cJSON_AddNumberToObject(o, "column", diags.items[i].col);
            cJSON_AddStringToObject(o, "path", diags.items[i].path);
            cJSON_AddStringToObject(o, "message", diags.items[i].message);
            cJSON_AddItemToArray(arr, o);
        }
        if (rc != NP_OK && diags.count == 0)
            cJSON_AddStringToObject(doc, "error",
                                    np_error_format(&err, buf, sizeof(buf)));
        if (cfg != NULL)
            cJSON_AddNumberToObject(doc, "devices", (double)cfg->n_devices);
        s = cJSON_Print(doc);
        if (s != NULL)
            puts(s);
        free(s);
        cJSON_Delete(doc);
    } else {
        for (i = 0; i < diags.count; i++)
            fprintf(stderr, "%s\n",
                    np_diag_format(&diags.items[i], buf, sizeof(buf)));
        if (rc != NP_OK && diags.count == 0)
            np_out_error("daemon", &err);
        if (rc == NP_OK)
            printf("%s: valid, %zu device%s\n", path, cfg->n_devices,
                   cfg->n_devices == 1 ? "" : "s");
    }
    np_diags_free(&diags);
    np_config_free(cfg);
    np_catalog_free(cat);
    return rc == NP_OK ? NP_EXIT_OK : NP_EXIT_USAGE;
}

#ifndef NP_DAEMON_LEAN
#ifndef NP_LIBEXEC_REL
#define NP_LIBEXEC_REL "../libexec/natpilot"
#endif
/*
 * Become natpilotd (same PID, same arguments) when it sits next to this
 * program (build tree) or in the libexec directory: the long-running process
 * then does not carry the libraries only other commands need. Returns only
 * when there is no natpilotd (or NATPILOT_NO_EXEC is set): then the daemon
 * runs in this process.
 */
static void exec_lean(int argc, char **argv)
{
    char self[4096], path[4200], *slash;
    char *nargv[64];
    ssize_t n;
    int i, k;

    if (getenv("NATPILOT_NO_EXEC") != NULL || argc + 2 > 64)
        return;
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    for (k = 0; k < 2; k++) {
        if (k == 0)
            snprintf(path, sizeof(path), "%s/natpilotd", self);
        else
            snprintf(path, sizeof(path), "%s/%s/natpilotd", self,
                     NP_LIBEXEC_REL);
        if (access(path, X_OK) != 0)
            continue;
        nargv[0] = path;
        nargv[1] = (char *)"daemon";
        for (i = 1; i < argc; i++)
            nargv[i + 1] = argv[i];
        nargv[argc + 1] = NULL;
        execv(path, nargv);
    }
}
#endif

struct daemon_args {
    const char *path, *web_listen;
    int fg, check, json, level, web;
};

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct daemon_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'f'},
        {"check", no_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"web", no_argument, NULL, 'w'},
        {"web-listen", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof(*a));
    a->level = -1;
    while ((c = getopt_long(argc, argv, "c:fl:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->path = optarg;
            break;
        case 'f':
            a->fg = 1;
            break;
        case 'k':
            a->check = 1;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'w':
            a->web = 1;
            break;
        case 'W':
            a->web = 1;
            a->web_listen = optarg;
            break;
        case 'l':
            a->level = np_log_level_parse(optarg);
            if (a->level < 0) {
                np_out_errorf("daemon", "unknown log level '%s'", optarg);
                return NP_EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return NP_EXIT_OK;
        default:
            usage(stderr);
            return NP_EXIT_USAGE;
        }
    }
    if (a->path == NULL || optind != argc) {
        usage(stderr);
        return NP_EXIT_USAGE;
    }
    return -1;
}

/* The configuration with the flags applied. Returns -1 to go on (the
 * caller owns *cfg and *cat), else the exit code (nothing to free). */
static int load_config(const struct daemon_args *a, np_config **cfg,
                       np_catalog **cat)
{
    np_diags diags;
    np_error err;
    char buf[700];
    size_t i;
    int rc;

    np_diags_init(&diags);
    np_error_clear(&err);
    rc = np_config_load_full(a->path, cfg, cat, &diags, &err);
    for (i = 0; i < diags.count; i++)
        fprintf(stderr, "%s\n",
                np_diag_format(&diags.items[i], buf, sizeof(buf)));
    np_diags_free(&diags);
    if (rc != NP_OK) {
        if (rc != NP_EINVALID)
            np_out_error("daemon", &err);
        np_catalog_free(*cat);
        /* a config that cannot be read or used is the user's input;
         * only running out of memory is this machine's failure */
        return rc == NP_ENOMEM ? np_exit_code(rc) : NP_EXIT_USAGE;
    }
    if (a->level >= 0)
        (*cfg)->log_level = a->level;
    if (a->web)
        (*cfg)->web.enabled = 1;
    if (a->web_listen != NULL) {
        np_addr w;

        if (np_addr_parse(&w, a->web_listen, NP_CFG_WEB_PORT, NULL) != NP_OK ||
            np_addr_port(&w) == 0 || !np_config_web_addr_ok(&w)) {
            np_out_errorf("daemon",
                          "--web-listen %s: give a loopback or LAN address "
                          "and port (never a WAN, public or wildcard one)",
                          a->web_listen);
            np_config_free(*cfg);
            np_catalog_free(*cat);
            return NP_EXIT_USAGE;
        }
        (*cfg)->web.listen = w;
    }
    return -1;
}

/*
 * Detach before anything is opened, but report a failed start: the parent
 * waits on a pipe for the child's first byte (0 started, 1 failed). In
 * the child returns -1 with pipefd[1] open; in the parent the exit code.
 */
static int detach(int pipefd[2])
{
    pid_t pid;
    int nul;

    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        np_out_errorf("daemon", "pipe: %s", strerror(errno));
        return NP_EXIT_PROBLEM;
    }
    pid = fork();
    if (pid < 0) {
        np_out_errorf("daemon", "fork: %s", strerror(errno));
        return NP_EXIT_PROBLEM;
    }
    if (pid > 0) {
        char r = 1;

        close(pipefd[1]);
        if (read(pipefd[0], &r, 1) != 1)
            r = 1;
        close(pipefd[0]);
        if (r == 0)
            return NP_EXIT_OK;
        (void)waitpid(pid, NULL, WNOHANG);
        return NP_EXIT_PROBLEM;
    }
    close(pipefd[0]);
    pipefd[0] = -1;
    (void)setsid();
    nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) {
        (void)dup2(nul, STDIN_FILENO);
        (void)dup2(nul, STDOUT_FILENO);
        close(nul);
    }
    return -1;
}

/* SIGTERM, SIGINT and SIGHUP arrive on a signalfd (the keeper polls it). */
static int signal_fd(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void tell_parent(int fd, char r)
{
    if (fd >= 0) {
        (void)!write(fd, &r, 1);
        close(fd);
    }
}

/* Start the keeper (and the web interface) and run until stopped. cfg and
 * cat are taken over. */
static int run_keeper(const struct daemon_args *a, np_config *cfg,
                      np_catalog *cat, struct logctx *lc, int sfd, int ready)
{
    np_keeper_opts ko;
    np_keeper *k;
    np_web *wi = NULL;
    np_error err;
    char buf[700];
    int rc;

    np_error_clear(&err);
    memset(&ko, 0, sizeof(ko));
    ko.config_path = a->path;
    ko.log = log_line;
    ko.log_ud = lc;
    ko.signal_fd = sfd;
    ko.version = NP_VERSION;
    k = np_keeper_new(&ko, cfg, cat, &err);
    np_catalog_free(cat); /* only needed to resolve the profiles */
    if (k == NULL || np_keeper_start(k, &err) != NP_OK ||
        (np_keeper_config(k)->web.enabled &&
         (wi = np_web_start(k, np_keeper_config(k), a->path, log_line, lc,
                            &err)) == NULL)) {
        log_line(lc, 0, np_error_format(&err, buf, sizeof(buf)));
        np_keeper_free(k);
        tell_parent(ready, 1);
        return NP_EXIT_PROBLEM;
    }
    tell_parent(ready, 0);
    rc = np_keeper_run(k, &err);
    np_web_stop(wi);
    np_keeper_free(k);
    if (rc != NP_OK) {
        log_line(lc, 0, np_error_format(&err, buf, sizeof(buf)));
        return NP_EXIT_PROBLEM;
    }
    return NP_EXIT_OK;
}

int np_cmd_daemon(int argc, char **argv)
{
    struct daemon_args a;
    np_config *cfg = NULL;
    np_catalog *cat = NULL;
    struct logctx lc;
    int rc, sfd, pipefd[2] = {-1, -1};

#ifndef NP_DAEMON_LEAN
    exec_lean(argc, argv);
#endif
    if ((rc = parse_args(argc, argv, &a)) >= 0)
        return rc;
    if (a.check)
        return check_only(a.path, a.json);
    if ((rc = load_config(&a, &cfg, &cat)) >= 0)
        return rc;
    lc.journal = getenv("JOURNAL_STREAM") != NULL;
    lc.level = cfg->log_level;
    if (!a.fg && (rc = detach(pipefd)) >= 0) {
        np_config_free(cfg); /* the parent: the child carries on */
        np_catalog_free(cat);
        return rc;
    }
    sfd = signal_fd();
    if (sfd < 0) {
        np_out_errorf("daemon", "signalfd: %s", strerror(errno));
        np_config_free(cfg);
        np_catalog_free(cat);
        tell_parent(pipefd[1], 1);
        return NP_EXIT_PROBLEM;
    }
    rc = run_keeper(&a, cfg, cat, &lc, sfd, pipefd[1]);
    close(sfd);
    return rc;
}
