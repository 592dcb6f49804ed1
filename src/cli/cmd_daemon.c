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

int np_cmd_daemon(int argc, char **argv)
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
    const char *path = NULL;
    int fg = 0, check = 0, json = 0, level = -1, c, rc, sfd, web = 0,
        pipefd[2] = {-1, -1};
    const char *web_listen = NULL;
    np_web *wi = NULL;
    np_config *cfg = NULL;
    np_catalog *cat = NULL;
    np_keeper *k = NULL;
    np_keeper_opts ko;
    np_diags diags;
    np_error err;
    sigset_t set;
    struct logctx lc;
    char buf[700];
    size_t i;

#ifndef NP_DAEMON_LEAN
    exec_lean(argc, argv);
#endif
    while ((c = getopt_long(argc, argv, "c:fl:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'f':
            fg = 1;
            break;
        case 'k':
            check = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'w':
            web = 1;
            break;
        case 'W':
            web = 1;
            web_listen = optarg;
            break;
        case 'l':
            level = np_log_level_parse(optarg);
            if (level < 0) {
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
    if (path == NULL || optind != argc) {
        usage(stderr);
        return NP_EXIT_USAGE;
    }
    if (check)
        return check_only(path, json);

    np_diags_init(&diags);
    np_error_clear(&err);
    rc = np_config_load_full(path, &cfg, &cat, &diags, &err);
    for (i = 0; i < diags.count; i++)
        fprintf(stderr, "%s\n",
                np_diag_format(&diags.items[i], buf, sizeof(buf)));
    np_diags_free(&diags);
    if (rc != NP_OK) {
        if (rc != NP_EINVALID)
            np_out_error("daemon", &err);
        np_catalog_free(cat);
        return NP_EXIT_USAGE;
    }
    if (level >= 0)
        cfg->log_level = level;
    if (web)
        cfg->web.enabled = 1;
    if (web_listen != NULL) {
        np_addr a;

        if (np_addr_parse(&a, web_listen, NP_CFG_WEB_PORT, NULL) != NP_OK ||
            np_addr_port(&a) == 0 || !np_config_web_addr_ok(&a)) {
            np_out_errorf("daemon",
                          "--web-listen %s: give a loopback or LAN address "
                          "and port (never a WAN, public or wildcard one)",
                          web_listen);
            np_config_free(cfg);
            np_catalog_free(cat);
            return NP_EXIT_USAGE;
        }
        cfg->web.listen = a;
    }
    lc.journal = getenv("JOURNAL_STREAM") != NULL;
    lc.level = cfg->log_level;

    /* Detach before anything is opened, but report a failed start. */
    if (!fg) {
        pid_t pid;

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
            np_config_free(cfg);
            np_catalog_free(cat);
            if (read(pipefd[0], &r, 1) != 1)
                r = 1;
            close(pipefd[0]);
            if (r == 0)
                return NP_EXIT_OK;
            (void)waitpid(pid, NULL, WNOHANG);
            return NP_EXIT_PROBLEM;
        }
        close(pipefd[0]);
        (void)setsid();
        {
            int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

            if (nul >= 0) {
                (void)dup2(nul, STDIN_FILENO);
                (void)dup2(nul, STDOUT_FILENO);
                close(nul);
            }
        }
    }

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        np_out_errorf("daemon", "signalfd: %s", strerror(errno));
        np_config_free(cfg);
        np_catalog_free(cat);
        return NP_EXIT_PROBLEM;
    }

    memset(&ko, 0, sizeof(ko));
    ko.config_path = path;
    ko.log = log_line;
    ko.log_ud = &lc;
    ko.signal_fd = sfd;
    ko.version = NP_VERSION;
    k = np_keeper_new(&ko, cfg, cat, &err);
    np_catalog_free(cat); /* only needed to resolve the profiles */
    cfg = NULL;           /* transferred */
    if (k == NULL || np_keeper_start(k, &err) != NP_OK ||
        (np_keeper_config(k)->web.enabled &&
         (wi = np_web_start(k, np_keeper_config(k), path, log_line, &lc,
                            &err)) == NULL)) {
        log_line(&lc, 0, np_error_format(&err, buf, sizeof(buf)));
        np_keeper_free(k);
        close(sfd);
        if (pipefd[1] >= 0) {
            char r = 1;

            (void)!write(pipefd[1], &r, 1);
        }
        return NP_EXIT_PROBLEM;
    }
    if (pipefd[1] >= 0) {
        char r = 0;

        (void)!write(pipefd[1], &r, 1);
        close(pipefd[1]);
    }
    rc = np_keeper_run(k, &err);
    np_web_stop(wi);
    np_keeper_free(k);
    close(sfd);
    if (rc != NP_OK) {
        log_line(&lc, 0, np_error_format(&err, buf, sizeof(buf)));
        return NP_EXIT_PROBLEM;
    }
    return NP_EXIT_OK;
}
