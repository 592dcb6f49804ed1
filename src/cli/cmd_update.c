/* natpilot update: fetch a newer profile catalog over HTTPS (docs/update.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "cli.h"
#include "natpilot/catalog.h"
#include "np_util.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: natpilot update [--url URL] [--cacert FILE] [--dir DIR] "
            "[--json]\n"
            "\n"
            "Downloads the profile catalog index from URL and every file it "
            "lists,\nchecks each file's sha256 and validates it as a "
            "profile, and only when\nall of them pass replaces the user "
            "catalog in one atomic step.\n"
            "\n"
            "  --url URL      index to fetch (https:// only; default\n"
            "                 %s)\n"
            "  --cacert FILE  also trust the CA certificate(s) in FILE (PEM);\n"
            "                 certificate verification is always on\n"
            "  --dir DIR      catalog to replace (default "
            "$XDG_DATA_HOME/natpilot/profiles,\n"
            "                 else ~/.local/share/natpilot/profiles)\n"
            "  --json         machine-readable output (fields in "
            "docs/update.md)\n"
            "  --help         this text\n"
            "\n"
            "Exit status: 0 updated or already current; 1 the catalog could "
            "not be\nwritten; 2 usage error, or the server sent an invalid "
            "index, a file\nwhose sha256 or size differs, or an invalid "
            "profile; 3 network, HTTP\nor TLS failure. On any error the "
            "installed catalog is left as it was.\n",
            NP_CATALOG_DEFAULT_URL);
}

/* --- progress on a terminal ------------------------------------------------
 */

typedef struct show {
    double last; /* monotonic seconds of the last redraw */
    int phase;
    const char *file;
} show;

static int on_progress(void *ctx, const np_catalog_progress *p)
{
    show *s = ctx;
    char text[200];
    double t = ((double)np__mono_us() / 1e6);

    if (p->phase == s->phase && p->file == s->file && t - s->last < 0.1)
        return 0;
    s->phase = p->phase;
    s->file = p->file;
    s->last = t;
    switch (p->phase) {
    case NP_CATALOG_PHASE_INDEX:
        snprintf(text, sizeof(text), "fetching the catalog index");
        break;
    case NP_CATALOG_PHASE_FILES:
        snprintf(
            text, sizeof(text), "fetching %s  (%zu/%zu files, %.1f/%.1f kB)",
            p->file ? p->file : "", p->files_done + 1, p->files_total,
            (double)p->bytes_done / 1000.0, (double)p->bytes_total / 1000.0);
        break;
    case NP_CATALOG_PHASE_VALIDATE:
        snprintf(text, sizeof(text), "checking the profiles together");
        break;
    default:
        snprintf(text, sizeof(text), "installing the new catalog");
        break;
    }
    np_progress(text);
    return 0;
}

/* --- results -----------------------------------------------------------------
 */

static const char *code_name(int r)
{
    switch (r) {
    case NP_EINVAL:
        return "usage";
    case NP_EPARSE:
        return "index-syntax";
    case NP_EINVALID:
        return "invalid";
    case NP_EVERIFY:
        return "integrity";
    case NP_ETOOBIG:
        return "too-large";
    case NP_ENOMEM:
        return "out-of-memory";
    case NP_EUNREACH:
        return "unreachable";
    case NP_ETIMEOUT:
        return "timeout";
    case NP_EPROTO:
        return "tls";
    case NP_EREFUSED:
        return "http";
    case NP_ECONFLICT:
        return "locked";
    default:
        return "local";
    }
}

static void print_json(const np_catalog_update_result *res, int r,
                       const np_error *err)
{
    cJSON *root = cJSON_CreateObject(), *e, *arr, *d;
    char *text;
    size_t i;

    cJSON_AddBoolToObject(root, "updated", res->updated);
    cJSON_AddBoolToObject(root, "current", res->current);
    cJSON_AddNumberToObject(root, "files", (double)res->files);
    cJSON_AddNumberToObject(root, "bytes", (double)res->bytes);
    cJSON_AddStringToObject(root, "from", res->url);
    cJSON_AddStringToObject(root, "to", res->dir);
    if (res->index_sha256[0])
        cJSON_AddStringToObject(root, "index_sha256", res->index_sha256);
    else
        cJSON_AddNullToObject(root, "index_sha256");
    if (res->previous_sha256[0])
        cJSON_AddStringToObject(root, "previous_sha256", res->previous_sha256);
    else
        cJSON_AddNullToObject(root, "previous_sha256");
    if (r == NP_OK) {
        cJSON_AddNullToObject(root, "error");
    } else {
        e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "kind", code_name(r));
        cJSON_AddStringToObject(e, "where", err->where);
        cJSON_AddStringToObject(e, "message", err->msg);
        if (res->failed[0])
            cJSON_AddStringToObject(e, "url", res->failed);
        else
            cJSON_AddNullToObject(e, "url");
        arr = cJSON_AddArrayToObject(e, "diagnostics");
        for (i = 0; i < res->diags.count; i++) {
            const np_diag *g = &res->diags.items[i];
            d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "severity",
                                    g->severity == NP_DIAG_ERROR ? "error"
                                                                 : "warning");
            cJSON_AddStringToObject(d, "file", g->file);
            cJSON_AddNumberToObject(d, "line", g->line);
            cJSON_AddNumberToObject(d, "col", g->col);
            cJSON_AddStringToObject(d, "path", g->path);
            cJSON_AddStringToObject(d, "message", g->message);
            cJSON_AddItemToArray(arr, d);
        }
    }
    text = cJSON_Print(root);
    if (text != NULL)
        printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
}

static void print_human(const np_catalog_update_result *res, int r,
                        const np_error *err)
{
    char buf[NP_ERROR_WHERE_MAX + NP_ERROR_MSG_MAX + 4];
    size_t i;

    if (r == NP_OK) {
        if (res->current)
            printf("%sThe catalog is already current%s: %zu files in %s\n",
                   np_c_good(), np_c_reset(), res->files, res->dir);
        else
            printf("%sCatalog updated%s: %zu files (%llu bytes) from %s\n"
                   "Installed in %s\n",
                   np_c_good(), np_c_reset(), res->files,
                   (unsigned long long)res->bytes, res->url, res->dir);
        return;
    }
    if (r == NP_EINVALID && res->diags.errors > 0) {
        /* The validator's own lines: file:line:col: /json/path: message */
        if (res->failed[0])
            np_out_errorf("update", "%s: invalid profile:", res->failed);
        else
            np_out_errorf("update",
                          "%s: the downloaded profiles do not fit "
                          "together:",
                          res->url);
        for (i = 0; i < res->diags.count; i++)
            fprintf(stderr, "  %s\n",
                    np_diag_format(&res->diags.items[i], buf, sizeof(buf)));
    } else {
        np_out_error("update", err);
    }
    if (r == NP_EPROTO && strstr(err->msg, "not trusted") != NULL)
        fprintf(stderr, "natpilot update: if this server uses a private CA, "
                        "pass it with --cacert FILE\n");
    if (r != NP_EINVAL)
        fprintf(stderr,
                "natpilot update: the installed catalog in %s was "
                "not changed\n",
                res->dir);
}

int np_cmd_update(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"cacert", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    np_catalog_update_opts opts;
    np_catalog_update_result res;
    np_error err;
    show s;
    int c, json = 0, r;

    memset(&opts, 0, sizeof(opts));
    memset(&s, 0, sizeof(s));
    s.phase = -1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            opts.url = optarg;
            break;
        case 'c':
            opts.cacert = optarg;
            break;
        case 'd':
            opts.dir = optarg;
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
    if (optind < argc) {
        np_out_errorf("update", "unexpected argument '%s'", argv[optind]);
        return NP_EXIT_USAGE;
    }
    if (np_out_progress_enabled()) {
        opts.progress = on_progress;
        opts.progress_ctx = &s;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        np_out_errorf("update", "could not initialise libcurl");
        return NP_EXIT_PROBLEM;
    }
    np_catalog_update_result_init(&res);
    np_error_clear(&err);
    r = np_catalog_update(&opts, &res, &err);
    np_progress_done();
    if (json)
        print_json(&res, r, &err);
    else
        print_human(&res, r, &err);
    np_catalog_update_result_free(&res);
    curl_global_cleanup();
    return np_exit_code(r);
}
