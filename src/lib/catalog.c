/*
 * natpilot: update the on-disk profile catalog over HTTPS (see
 * include/natpilot/catalog.h and docs/update.md).
 *
 * Steps: resolve the catalog path and take a lock beside it; fetch the index
 * (size-capped); parse it (paths confined to platforms/ and games/); if it
 * equals the installed index and the installed files still hash right, stop
 * ("already current"); otherwise fetch every file into memory (capped at the
 * size the index declares), check its sha256 with OpenSSL EVP, validate it
 * as a profile, and write it into a new sibling directory; validate the set
 * together; fsync; then swap a symlink over the catalog path with rename(2).
 * Only after the swap is the old generation removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "natpilot/catalog.h"
#include "np_hex.h"
#include "np_jsonpos.h"
#include "np_util.h"
#include "np_catalog_int.h"

#ifndef NP_VERSION
#define NP_VERSION "0"
#endif

#define INDEX_NAME    ".index.json" /* copy of the index in a generation */
#define MAX_REDIRECTS 5L
#define REMOVE_DEPTH  16 /* directory levels a clean-up descends */

/* --- small helpers ------------------------------------------------------- */

int np__catalog_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;

    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return NP_ENOMEM;
    return NP_OK;
}

const char *np__catalog_hex(const unsigned char digest[32], char *buf,
                            size_t size)
{
    if (size < 65) {
        if (size > 0)
            buf[0] = '\0';
        return buf;
    }
    np__hex_encode(buf, digest, 32);
    return buf;
}

/* --- path safety ---------------------------------------------------------- */

int np_catalog_path_check(const char *path, np_error *err)
{
    const char *name, *dot;
    size_t dirlen, idlen, i;

    if (path == NULL || path[0] == '\0')
        return np_error_set(err, NP_EINVALID, NULL, "empty path");
    if (strlen(path) >= NP_CATALOG_PATH_MAX)
        return np_error_set(err, NP_EINVALID, NULL,
                            "path is longer than %d bytes",
                            NP_CATALOG_PATH_MAX - 1);
    if (path[0] == '/')
        return np_error_set(err, NP_EINVALID, NULL,
                            "absolute path '%s' (paths are relative to the "
                            "index)",
                            path);
    if (strchr(path, '\\') != NULL)
        return np_error_set(err, NP_EINVALID, NULL, "backslash in path '%s'",
                            path);
    if (strcmp(path, "..") == 0 || strncmp(path, "../", 3) == 0 ||
        strstr(path, "/../") != NULL ||
        (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
        return np_error_set(err, NP_EINVALID, NULL,
                            "'..' in path '%s' (would leave the catalog)",
                            path);
    if (strncmp(path, "platforms/", 10) == 0)
        dirlen = 10;
    else if (strncmp(path, "games/", 6) == 0)
        dirlen = 6;
    else
        return np_error_set(err, NP_EINVALID, NULL,
                            "path '%s' is not under platforms/ or games/",
                            path);
    name = path + dirlen;
    if (strchr(name, '/') != NULL)
        return np_error_set(err, NP_EINVALID, NULL,
                            "path '%s' has a subdirectory (only "
                            "platforms/<id>.json and games/<id>.json)",
                            path);
    dot = strrchr(name, '.');
    if (dot == NULL || strcmp(dot, ".json") != 0)
        return np_error_set(err, NP_EINVALID, NULL,
                            "file name in '%s' does not end in .json", path);
    idlen = (size_t)(dot - name);
    if (idlen < 2 || idlen > NP_PROFILE_ID_MAX)
        return np_error_set(err, NP_EINVALID, NULL,
                            "profile id in '%s' must be 2..%d characters", path,
                            NP_PROFILE_ID_MAX);
    for (i = 0; i < idlen; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return np_error_set(err, NP_EINVALID, NULL,
                                "profile id in '%s' may only hold a-z, 0-9 "
                                "and '-'",
                                path);
    }
    return NP_OK;
}

/* --- index parser --------------------------------------------------------- */

typedef struct iparse {
    const char *name, *text;
    size_t len;
    const np__jpos *jp;
    const cJSON *root;
    np_error *err;
} iparse;

/* Pre-order number of target in the tree under it (the jpos node index). */
static long preorder(const cJSON *it, const cJSON *target, long *counter)
{
    const cJSON *c;
    long here = (*counter)++, r;

    if (it == target)
        return here;
    for (c = it->child; c != NULL; c = c->next) {
        r = preorder(c, target, counter);
        if (r >= 0)
            return r;
    }
    return -1;
}

/* Error at item (its value, or its key when at_key), with JSON path. */
__attribute__((format(printf, 5, 6))) static int
ifail(iparse *p, const cJSON *item, int at_key, const char *jpath,
      const char *fmt, ...)
{
    char where[NP_ERROR_WHERE_MAX], msg[NP_ERROR_MSG_MAX];
    unsigned line = 0, col = 0;
    long counter = 0, n = -1;
    va_list ap;

    if (item != NULL)
        n = preorder(p->root, item, &counter);
    if (n >= 0 && (size_t)n < p->jp->n) {
        const np__jnode *node = &p->jp->nodes[n];
        np__jpos_linecol(p->text, p->len, at_key ? node->key_off : node->off,
                         &line, &col);
        snprintf(where, sizeof(where), "%s:%u:%u: %s", p->name, line, col,
                 jpath[0] ? jpath : "/");
    } else {
        snprintf(where, sizeof(where), "%s: %s", p->name,
                 jpath[0] ? jpath : "/");
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return np_error_set(p->err, NP_EINVALID, where, "%s", msg);
}

static int parse_entry(iparse *p, const cJSON *e, size_t i,
                       np_catalog_entry *out)
{
    const cJSON *m, *path = NULL, *sha = NULL, *size = NULL;
    char jp[96];
    np_error perr;
    size_t k;

    snprintf(jp, sizeof(jp), "/files/%zu", i);
    if (!cJSON_IsObject(e))
        return ifail(p, e, 0, jp, "each file must be an object");
    for (m = e->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "path") == 0 && path == NULL)
            path = m;
        else if (strcmp(m->string, "sha256") == 0 && sha == NULL)
            sha = m;
        else if (strcmp(m->string, "size") == 0 && size == NULL)
            size = m;
        else if (strcmp(m->string, "path") == 0 ||
                 strcmp(m->string, "sha256") == 0 ||
                 strcmp(m->string, "size") == 0)
            return ifail(p, m, 1, jp, "duplicate key \"%s\"", m->string);
        else
            return ifail(p, m, 1, jp,
                         "unknown key \"%.64s\" (expected path, sha256, "
                         "size)",
                         m->string);
    }
    if (path == NULL)
        return ifail(p, e, 0, jp, "missing \"path\"");
    if (sha == NULL)
        return ifail(p, e, 0, jp, "missing \"sha256\"");
    if (size == NULL)
        return ifail(p, e, 0, jp, "missing \"size\"");

    snprintf(jp, sizeof(jp), "/files/%zu/path", i);
    if (!cJSON_IsString(path))
        return ifail(p, path, 0, jp, "must be a string");
    np_error_clear(&perr);
    if (np_catalog_path_check(path->valuestring, &perr) != NP_OK)
        return ifail(p, path, 0, jp, "%s", perr.msg);
    snprintf(out->path, sizeof(out->path), "%s", path->valuestring);

    snprintf(jp, sizeof(jp), "/files/%zu/sha256", i);
    if (!cJSON_IsString(sha))
        return ifail(p, sha, 0, jp, "must be a string");
    if (strlen(sha->valuestring) != 64)
        return ifail(p, sha, 0, jp,
                     "must be 64 hex digits (a sha256), not %zu characters",
                     strlen(sha->valuestring));
    for (k = 0; k < 32; k++) {
        int hi = np__hex_digit(sha->valuestring[2 * k]);
        int lo = np__hex_digit(sha->valuestring[2 * k + 1]);
        if (hi < 0 || lo < 0)
            return ifail(p, sha, 0, jp, "not a hex digit at character %zu",
                         hi < 0 ? 2 * k + 1 : 2 * k + 2);
        out->sha256[k] = (unsigned char)(hi << 4 | lo);
    }

    snprintf(jp, sizeof(jp), "/files/%zu/size", i);
    if (!cJSON_IsNumber(size))
        return ifail(p, size, 0, jp, "must be a number");
    if (!(size->valuedouble >= 1 &&
          size->valuedouble <= (double)NP_CATALOG_FILE_MAX) ||
        size->valuedouble != (double)(uint64_t)size->valuedouble)
        return ifail(p, size, 0, jp,
                     "must be a whole number of bytes from 1 to %d",
                     NP_CATALOG_FILE_MAX);
    out->size = (uint64_t)size->valuedouble;
    return NP_OK;
}

static int parse_index(iparse *p, np_catalog_index *idx)
{
    const cJSON *m, *schema = NULL, *files = NULL, *e;
    size_t n, i, j;
    int r;

    if (!cJSON_IsObject(p->root))
        return ifail(p, p->root, 0, "", "the index must be a JSON object");
    for (m = p->root->child; m != NULL; m = m->next) {
        if (strcmp(m->string, "schema") == 0 && schema == NULL)
            schema = m;
        else if (strcmp(m->string, "files") == 0 && files == NULL)
            files = m;
        else if (strcmp(m->string, "schema") == 0 ||
                 strcmp(m->string, "files") == 0)
            return ifail(p, m, 1, "", "duplicate key \"%s\"", m->string);
        else
            return ifail(p, m, 1, "",
                         "unknown key \"%.64s\" (expected schema, files)",
                         m->string);
    }
    if (schema == NULL)
        return ifail(p, p->root, 0, "", "missing \"schema\"");
    if (!cJSON_IsNumber(schema) ||
        schema->valuedouble != (double)NP_CATALOG_INDEX_SCHEMA)
        return ifail(p, schema, 0, "/schema",
                     "unsupported index schema (this natpilot reads "
                     "schema %d)",
                     NP_CATALOG_INDEX_SCHEMA);
    idx->schema = NP_CATALOG_INDEX_SCHEMA;
    if (files == NULL)
        return ifail(p, p->root, 0, "", "missing \"files\"");
    if (!cJSON_IsArray(files))
        return ifail(p, files, 0, "/files", "must be an array");
    n = (size_t)cJSON_GetArraySize(files);
    if (n == 0)
        return ifail(p, files, 0, "/files", "lists no files");
    if (n > NP_CATALOG_FILES_MAX)
        return ifail(p, files, 0, "/files",
                     "lists %zu files, more than the %d allowed", n,
                     NP_CATALOG_FILES_MAX);
    idx->files = calloc(n, sizeof(*idx->files));
    if (idx->files == NULL)
        return np_error_set(p->err, NP_ENOMEM, p->name, "out of memory");
    i = 0;
    for (e = files->child; e != NULL; e = e->next, i++) {
        r = parse_entry(p, e, i, &idx->files[i]);
        if (r != NP_OK)
            return r;
        for (j = 0; j < i; j++)
            if (strcmp(strchr(idx->files[j].path, '/'),
                       strchr(idx->files[i].path, '/')) == 0) {
                /* the same id in platforms/ and games/ is one id twice */
                char jp[64];
                snprintf(jp, sizeof(jp), "/files/%zu/path", i);
                return ifail(p, cJSON_GetObjectItemCaseSensitive(e, "path"), 0,
                             jp,
                             "'%s' is listed twice (also /files/%zu: "
                             "'%s'); profile ids are unique",
                             idx->files[i].path, j, idx->files[j].path);
            }
        idx->total_size += idx->files[i].size;
        idx->n_files = i + 1;
    }
    if (idx->total_size > NP_CATALOG_TOTAL_MAX)
        return ifail(p, files, 0, "/files",
                     "the files add up to %llu bytes, more than the %llu "
                     "allowed",
                     (unsigned long long)idx->total_size,
                     (unsigned long long)NP_CATALOG_TOTAL_MAX);
    return NP_OK;
}

void np_catalog_index_free(np_catalog_index *idx)
{
    if (idx == NULL)
        return;
    free(idx->files);
    free(idx);
}

int np_catalog_index_parse(const char *name, const char *text, size_t len,
                           np_catalog_index **out, np_error *err)
{
    np__jpos jp;
    np_catalog_index *idx = NULL;
    cJSON *root = NULL;
    iparse p;
    size_t err_off = 0;
    char msg[200], where[NP_ERROR_WHERE_MAX];
    unsigned line, col;
    int r;

    if (out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no output");
    *out = NULL;
    if (name == NULL)
        name = "index";
    if (text == NULL && len > 0)
        return np_error_set(err, NP_EINVAL, name, "no index text");
    if (len > NP_CATALOG_INDEX_MAX)
        return np_error_set(err, NP_ETOOBIG, name,
                            "the index is %zu bytes, more than the %d "
                            "allowed",
                            len, NP_CATALOG_INDEX_MAX);
    memset(&jp, 0, sizeof(jp));
    r = np__jpos_scan(&jp, text ? text : "", len, 16, &err_off, msg,
                      sizeof(msg));
    if (r == -2) {
        r = np_error_set(err, NP_ENOMEM, name, "out of memory");
        goto out;
    }
    if (r != 0) {
        np__jpos_linecol(text ? text : "", len, err_off, &line, &col);
        snprintf(where, sizeof(where), "%s:%u:%u", name, line, col);
        r = np_error_set(err, NP_EPARSE, where, "the index is not JSON: %s",
                         msg);
        goto out;
    }
    root = cJSON_ParseWithLength(text, len);
    if (root == NULL) { /* the scanner accepted it: cJSON ran out of memory */
        r = np_error_set(err, NP_ENOMEM, name,
                         "out of memory while parsing the index");
        goto out;
    }
    idx = calloc(1, sizeof(*idx));
    if (idx == NULL) {
        r = np_error_set(err, NP_ENOMEM, name, "out of memory");
        goto out;
    }
    p.name = name;
    p.text = text;
    p.len = len;
    p.jp = &jp;
    p.root = root;
    p.err = err;
    r = parse_index(&p, idx);
    if (r == NP_OK) {
        *out = idx;
        idx = NULL; /* transferred */
    }
out:
    np_catalog_index_free(idx);
    cJSON_Delete(root);
    np__jpos_free(&jp);
    return r;
}

/* --- HTTPS -----------------------------------------------------------------
 */

typedef struct np__update {
    const np_catalog_update_opts *opts;
    np_catalog_update_result *res;
    np_error *err;
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
    np_catalog_progress prog;
    uint64_t bytes_before; /* bytes of finished transfers */
    int canceled;
} np__update;

typedef struct np__buf {
    char *data;
    size_t len, cap, max;
    int too_big;
    CURL *curl;
} np__buf;

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    np__buf *b = ud;
    size_t add = size * nmemb, ncap;
    long status = 0;
    char *nd;

    /* The body of an error page is not the file: drop it, so that it is
     * neither kept nor mistaken for an oversize file. */
    curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return add;
    if (add > b->max - b->len) {
        b->too_big = 1;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + add > b->cap) {
        ncap = b->cap ? b->cap : 16384;
        while (ncap < b->len + add)
            ncap *= 2;
        if (ncap > b->max)
            ncap = b->max;
        nd = realloc(b->data, ncap + 1);
        if (nd == NULL)
            return 0;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static int xfer_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                   curl_off_t ultotal, curl_off_t ulnow)
{
    np__update *u = ud;

    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    if (u->opts->progress == NULL)
        return 0;
    u->prog.bytes_done = u->bytes_before + (uint64_t)(dlnow > 0 ? dlnow : 0);
    if (u->opts->progress(u->opts->progress_ctx, &u->prog) != 0) {
        u->canceled = 1;
        return 1;
    }
    return 0;
}

/* Map a failed transfer to a status and a sentence naming url. */
static int fetch_error(np__update *u, CURLcode cc, const np__buf *b,
                       const char *url, const char *what)
{
    const char *detail = u->curl_err[0] ? u->curl_err : curl_easy_strerror(cc);

    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return np_error_set(u->err, NP_EUNREACH, url,
                            "could not resolve the host name (offline or "
                            "DNS failure): %s",
                            detail);
    case CURLE_COULDNT_CONNECT:
        return np_error_set(u->err, NP_EUNREACH, url,
                            "could not connect (server down, offline or no "
                            "route): %s",
                            detail);
    case CURLE_OPERATION_TIMEDOUT:
        return np_error_set(u->err, NP_ETIMEOUT, url,
                            "the server did not answer in time: %s", detail);
    case CURLE_PEER_FAILED_VERIFICATION:
        return np_error_set(u->err, NP_EPROTO, url,
                            "TLS: the server's certificate is not trusted "
                            "(verification is always on): %s",
                            detail);
    case CURLE_SSL_CONNECT_ERROR:
        return np_error_set(u->err, NP_EPROTO, url, "TLS handshake failed: %s",
                            detail);
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return np_error_set(
            u->err, NP_EINVAL, u->opts->cacert ? u->opts->cacert : url,
            "could not load the CA certificate file: %s", detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return np_error_set(u->err, NP_EINVAL, url,
                            "only https:// is allowed (also for "
                            "redirects): %s",
                            detail);
    case CURLE_URL_MALFORMAT:
        return np_error_set(u->err, NP_EINVAL, url, "malformed URL: %s",
                            detail);
    case CURLE_TOO_MANY_REDIRECTS:
        return np_error_set(u->err, NP_EPROTO, url, "more than %ld redirects",
                            MAX_REDIRECTS);
    case CURLE_FILESIZE_EXCEEDED:
        return np_error_set(u->err, NP_ETOOBIG, url,
                            "%s is larger than the %zu bytes allowed", what,
                            b->max);
    case CURLE_WRITE_ERROR:
        if (b->too_big)
            return np_error_set(u->err, NP_ETOOBIG, url,
                                "%s is larger than the %zu bytes allowed "
                                "(stopped reading)",
                                what, b->max);
        return np_error_set(u->err, NP_ENOMEM, url, "out of memory");
    case CURLE_ABORTED_BY_CALLBACK:
        return np_error_set(u->err, NP_ECANCELED, url, "cancelled");
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return np_error_set(u->err, NP_EUNREACH, url,
                            "the connection failed during the transfer: %s",
                            detail);
    default:
        return np_error_set(u->err, NP_EPROTO, url, "download failed: %s",
                            detail);
    }
}

/*
 * GET url into *b (at most max bytes; the buffer is NUL-terminated). NP_OK
 * only for HTTP 200. what names the object in messages ("the index").
 */
static int fetch(np__update *u, const char *url, size_t max, const char *what,
                 np__buf *b)
{
    CURLcode cc;
    long status = 0;
    curl_off_t got = 0;

    memset(b, 0, sizeof(*b));
    b->max = max;
    b->curl = u->curl;
    u->curl_err[0] = '\0';
    curl_easy_setopt(u->curl, CURLOPT_URL, url);
    curl_easy_setopt(u->curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(u->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    cc = curl_easy_perform(u->curl);
    curl_easy_getinfo(u->curl, CURLINFO_SIZE_DOWNLOAD_T, &got);
    if (got > 0) {
        u->res->bytes += (uint64_t)got;
        u->bytes_before += (uint64_t)got;
    }
    curl_easy_getinfo(u->curl, CURLINFO_RESPONSE_CODE, &status);
    /* An HTTP error says more than the size cap its error page hit
     * (CURLOPT_MAXFILESIZE looks at any response's Content-Length). */
    if (cc != CURLE_OK &&
        !(status >= 300 && (cc == CURLE_FILESIZE_EXCEEDED ||
                            (cc == CURLE_WRITE_ERROR && b->too_big))))
        return fetch_error(u, cc, b, url, what);
    if (status != 200)
        return np_error_set(u->err, NP_EREFUSED, url,
                            "the server answered HTTP %ld%s for %s", status,
                            status == 404   ? " (not found)"
                            : status >= 500 ? " (server error)"
                                            : "",
                            what);
    if (b->data == NULL) { /* empty body */
        b->data = malloc(1);
        if (b->data == NULL)
            return np_error_set(u->err, NP_ENOMEM, url, "out of memory");
        b->data[0] = '\0';
    }
    return NP_OK;
}

static int curl_setup(np__update *u)
{
    const np_catalog_update_opts *o = u->opts;
    CURL *c;
    CURLcode cc = CURLE_OK;

    c = curl_easy_init();
    if (c == NULL)
        return np_error_set(u->err, NP_ENOMEM, NULL, "could not start libcurl");
    u->curl = c;
#define SET(opt, val)                                                          \
    do {                                                                       \
        if (cc == CURLE_OK)                                                    \
            cc = curl_easy_setopt(c, opt, val);                                \
    } while (0)
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, u->curl_err);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    /* Verification of the peer and of its name: always on. */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    /* Extra CAs: CAINFO replaces the bundle file, the system CA directory
     * (CAPATH, left at its default) stays trusted. */
    if (o->cacert != NULL)
        SET(CURLOPT_CAINFO, o->cacert);
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000L);
    SET(CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 120000L);
    /* A stalled transfer (under 1 byte/s for 30 s) fails before that. */
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, 30L);
    SET(CURLOPT_USERAGENT, "natpilot/" NP_VERSION);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, xfer_cb);
    SET(CURLOPT_XFERINFODATA, u);
#undef SET
    if (cc != CURLE_OK)
        return np_error_set(u->err, NP_EUNSUPP, NULL,
                            "libcurl refused an option: %s",
                            curl_easy_strerror(cc));
    return NP_OK;
}

/* The URL of path relative to the index URL, in a new string (free()). */
static int file_url(np__update *u, const char *path, char **out)
{
    CURLU *h = curl_url();
    char *s = NULL;
    int r = NP_OK;

    *out = NULL;
    if (h == NULL)
        return np_error_set(u->err, NP_ENOMEM, NULL, "out of memory");
    if (curl_url_set(h, CURLUPART_URL, u->res->url, 0) != CURLUE_OK ||
        curl_url_set(h, CURLUPART_URL, path, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_URL, &s, 0) != CURLUE_OK) {
        r = np_error_set(u->err, NP_EINVAL, u->res->url,
                         "cannot make a URL for '%s'", path);
        goto out;
    }
    *out = strdup(s);
    if (*out == NULL)
        r = np_error_set(u->err, NP_ENOMEM, NULL, "out of memory");
out:
    curl_free(s);
    curl_url_cleanup(h);
    return r;
}

/* Only https:// URLs with a host. */
static int check_url(const char *url, np_error *err)
{
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL;
    int r = NP_OK;

    if (h == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        r = np_error_set(err, NP_EINVAL, url, "not a valid URL");
    else if (strcmp(scheme, "https") != 0)
        r = np_error_set(err, NP_EINVAL, url, "only https:// URLs are allowed");
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(h);
    return r;
}

/* --- validation (the one place a downloaded file is checked) ------------- */

/*
 * Check one downloaded file: its size and sha256 against the index entry,
 * then the profile validator. On success the profile is added to cat (which
 * also holds the embedded catalog, so bases can be checked afterwards).
 */
static int check_file(np__update *u, np_catalog *cat, const np_catalog_entry *e,
                      const char *url, const np__buf *b)
{
    unsigned char got[32];
    char hexw[65], hexg[65], where[NP_ERROR_WHERE_MAX];
    np_error verr;
    size_t first = u->res->diags.count, i;
    int r;

    if ((uint64_t)b->len != e->size)
        return np_error_set(u->err, NP_EVERIFY, url,
                            "size mismatch: got %zu bytes, the index says "
                            "%llu",
                            b->len, (unsigned long long)e->size);
    if (np__catalog_sha256(b->data, b->len, got) != NP_OK)
        return np_error_set(u->err, NP_ENOMEM, url, "sha256 failed");
    if (CRYPTO_memcmp(got, e->sha256, 32) != 0)
        return np_error_set(u->err, NP_EVERIFY, url,
                            "sha256 mismatch: the index says %s, the file "
                            "is %s",
                            np__catalog_hex(e->sha256, hexw, sizeof(hexw)),
                            np__catalog_hex(got, hexg, sizeof(hexg)));
    np_error_clear(&verr);
    r = np_catalog_load_buffer(cat, e->path, b->data, b->len, NP_LAYER_USER,
                               &u->res->diags, &verr);
    if (r == NP_OK)
        return NP_OK;
    if (r == NP_ENOMEM)
        return np_error_set(u->err, NP_ENOMEM, url, "out of memory");
    /* The first error of the validator, with its file:line:col and path. */
    if (u->res->diags.count > first) {
        const np_diag *d = &u->res->diags.items[first];
        for (i = first; i < u->res->diags.count; i++)
            if (u->res->diags.items[i].severity == NP_DIAG_ERROR) {
                d = &u->res->diags.items[i];
                break;
            }
        snprintf(where, sizeof(where), "%s:%u:%u: %s", d->file, d->line, d->col,
                 d->path[0] ? d->path : "/");
        return np_error_set(u->err, NP_EINVALID, where, "invalid profile: %s",
                            d->message);
    }
    return np_error_set(u->err, NP_EINVALID, url, "invalid profile: %s",
                        verr.msg[0] ? verr.msg : "validation failed");
}

/* Cross-file checks over the new files (bases exist, acyclic). */
static int check_set(np__update *u, const np_catalog *cat)
{
    char where[NP_ERROR_WHERE_MAX];
    size_t first = u->res->diags.count, i;
    int r;

    r = np_catalog_check(cat, NP_LAYER_USER, &u->res->diags);
    if (r == NP_OK)
        return NP_OK;
    if (r == NP_ENOMEM)
        return np_error_set(u->err, NP_ENOMEM, NULL, "out of memory");
    for (i = first; i < u->res->diags.count; i++) {
        const np_diag *d = &u->res->diags.items[i];
        if (d->severity != NP_DIAG_ERROR)
            continue;
        snprintf(where, sizeof(where), "%s:%u:%u: %s", d->file, d->line, d->col,
                 d->path[0] ? d->path : "/");
        return np_error_set(u->err, NP_EINVALID, where, "invalid profile: %s",
                            d->message);
    }
    return np_error_set(u->err, NP_EINVALID, u->res->url,
                        "the catalog's profiles do not fit together");
}

/* --- the file system ------------------------------------------------------ */

/* mkdir -p of path (mode 0755 for new directories). */
static int mkdirs(char *path, np_error *err)
{
    char *s;
    struct stat st;

    for (s = path + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            *s = '/';
            return np_error_sys(err, e, path, "cannot create the directory");
        }
        *s = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return np_error_sys(err, errno, path, "cannot create the directory");
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return np_error_set(err, NP_ESYS, path, "not a directory");
    return NP_OK;
}

/* Remove name under dirfd: a file, a symlink, or a tree (no symlinks
 * followed, at most depth levels). */
static int remove_tree(int at, const char *name, int depth)
{
    struct dirent *de;
    DIR *d;
    int fd, r = 0;

    if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    if (depth <= 0)
        return -1;
    fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (remove_tree(dirfd(d), de->d_name, depth - 1) != 0)
            r = -1;
    }
    closedir(d);
    if (unlinkat(at, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        r = -1;
    return r;
}

/* Write name (under dirfd) with data, fsync it. */
static int write_file(int dirfd, const char *name, const char *data, size_t len)
{
    int fd, e;

    fd = openat(dirfd, name,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (np__write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

typedef struct np__place {
    char dir[4096];    /* the catalog path, no trailing slash */
    char parent[4096]; /* its directory */
    char base[256];    /* its last component */
    int parent_fd;
    int lock_fd;
    char cur_target[300]; /* a generation name the link points to, or "" */
    int cur_is_dir;       /* the catalog path is a real directory */
    dev_t cur_dev;        /* what the catalog path resolves to now: */
    ino_t cur_ino;        /*  never removed by a sweep (0/0: nothing) */
    int cur_exists;
    char new_name[300]; /* the new generation ("" until made) */
    int new_fd;
} np__place;

/* Split opts->dir into parent and base, create parent, lock, and find out
 * what the catalog path is now. */
static int place_open(np__update *u, np__place *pl)
{
    char lockname[300], target[300];
    struct stat st, rst;
    size_t n;
    char *slash;
    const char *base;
    ssize_t tl;

    n = strlen(pl->dir);
    while (n > 1 && pl->dir[n - 1] == '/')
        pl->dir[--n] = '\0';
    slash = strrchr(pl->dir, '/');
    if (slash == NULL) {
        snprintf(pl->parent, sizeof(pl->parent), ".");
    } else if (slash == pl->dir) {
        snprintf(pl->parent, sizeof(pl->parent), "/");
    } else {
        snprintf(pl->parent, sizeof(pl->parent), "%.*s", (int)(slash - pl->dir),
                 pl->dir);
    }
    base = slash == NULL ? pl->dir : slash + 1;
    /* a last component longer than a file name can be is refused, not cut */
    if (strlen(base) >= sizeof(pl->base))
        return np_error_set(u->err, NP_EINVAL, pl->dir,
                            "the catalog directory's name is too long");
    memcpy(pl->base, base, strlen(base) + 1);
    if (pl->base[0] == '\0' || strcmp(pl->base, ".") == 0 ||
        strcmp(pl->base, "..") == 0 ||
        strlen(slash ? slash + 1 : pl->dir) >= sizeof(pl->base) - 16)
        return np_error_set(u->err, NP_EINVAL, pl->dir,
                            "not usable as a catalog directory");
    if (strcmp(pl->parent, "/") != 0 && strcmp(pl->parent, ".") != 0) {
        int r = mkdirs(pl->parent, u->err);
        if (r != NP_OK)
            return r;
    }
    pl->parent_fd = open(pl->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pl->parent_fd < 0)
        return np_error_sys(u->err, errno, pl->parent, "cannot open");
    snprintf(lockname, sizeof(lockname), ".%s.lock", pl->base);
    pl->lock_fd = openat(pl->parent_fd, lockname,
                         O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (pl->lock_fd < 0)
        return np_error_sys(u->err, errno, pl->parent,
                            "cannot create the lock file %s", lockname);
    if (flock(pl->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return np_error_set(u->err, NP_ECONFLICT, pl->dir,
                            "another natpilot update is writing this "
                            "catalog");
    if (fstatat(pl->parent_fd, pl->base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            return np_error_sys(u->err, errno, pl->dir, "cannot stat");
        return NP_OK;
    }
    pl->cur_exists = 1;
    if (fstatat(pl->parent_fd, pl->base, &rst, 0) == 0) {
        pl->cur_dev = rst.st_dev;
        pl->cur_ino = rst.st_ino;
    }
    if (S_ISDIR(st.st_mode)) {
        pl->cur_is_dir = 1;
    } else if (S_ISLNK(st.st_mode)) {
        tl = readlinkat(pl->parent_fd, pl->base, target, sizeof(target) - 1);
        if (tl > 0) {
            target[tl] = '\0';
            /* Only generations this code made are ever removed. */
            if (strchr(target, '/') == NULL && target[0] == '.' &&
                strncmp(target + 1, pl->base, strlen(pl->base)) == 0 &&
                target[1 + strlen(pl->base)] == '.')
                snprintf(pl->cur_target, sizeof(pl->cur_target), "%s", target);
        }
    } else {
        return np_error_set(u->err, NP_EEXIST, pl->dir,
                            "exists and is not a directory");
    }
    return NP_OK;
}

/* Remove leftovers of interrupted updates: every ".BASE.*" sibling except
 * the lock and the current generation. Called with the lock held. */
static void place_sweep(np__place *pl, const char *keep)
{
    char prefix[300];
    struct dirent *de;
    struct stat st;
    DIR *d;
    int fd;
    size_t pn;

    snprintf(prefix, sizeof(prefix), ".%s.", pl->base);
    pn = strlen(prefix);
    /* A new open file description: a dup() would share the offset of an
     * earlier readdir and see nothing. */
    fd = openat(pl->parent_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, pn) != 0 ||
            strcmp(de->d_name + pn, "lock") == 0)
            continue;
        if (keep != NULL && strcmp(de->d_name, keep) == 0)
            continue;
        if (pl->cur_target[0] && strcmp(de->d_name, pl->cur_target) == 0)
            continue;
        if (fstatat(pl->parent_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            pl->cur_ino != 0 && st.st_dev == pl->cur_dev &&
            st.st_ino == pl->cur_ino)
            continue; /* what the catalog path points at, by any name */
        (void)remove_tree(pl->parent_fd, de->d_name, REMOVE_DEPTH);
    }
    closedir(d);
}

static void place_close(np__place *pl)
{
    if (pl->new_fd >= 0)
        close(pl->new_fd);
    if (pl->new_name[0] != '\0')
        (void)remove_tree(pl->parent_fd, pl->new_name, REMOVE_DEPTH);
    if (pl->lock_fd >= 0)
        close(pl->lock_fd); /* releases the lock */
    if (pl->parent_fd >= 0)
        close(pl->parent_fd);
}

/* Is the installed catalog the one this index describes? Fills
 * res->previous_sha256 from the installed index copy. */
static int place_is_current(np__update *u, np__place *pl,
                            const np_catalog_index *idx,
                            const unsigned char index_digest[32])
{
    unsigned char d[32];
    char *text;
    size_t len, i;
    int fd, same = 1;

    if (!pl->cur_exists)
        return 0;
    fd = openat(pl->parent_fd, pl->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (np__file_load_at(fd, INDEX_NAME, NP_CATALOG_INDEX_MAX, &text, &len,
                         NULL) != NP_OK) {
        close(fd);
        return 0;
    }
    if (np__catalog_sha256(text, len, d) != NP_OK) {
        free(text);
        close(fd);
        return 0;
    }
    np__catalog_hex(d, u->res->previous_sha256,
                    sizeof(u->res->previous_sha256));
    free(text);
    if (memcmp(d, index_digest, 32) != 0) {
        close(fd);
        return 0;
    }
    /* Same index: are the files still the ones it lists? */
    for (i = 0; i < idx->n_files && same; i++) {
        (void)np__file_load_at(fd, idx->files[i].path, NP_CATALOG_FILE_MAX,
                               &text, &len, NULL);
        if (text == NULL || np__catalog_sha256(text, len, d) != NP_OK ||
            memcmp(d, idx->files[i].sha256, 32) != 0)
            same = 0;
        free(text);
    }
    close(fd);
    return same;
}

/* A new, empty generation directory beside the catalog path. */
static int place_new(np__update *u, np__place *pl)
{
    char tmpl[4096 + 300];
    const char *name;

    snprintf(tmpl, sizeof(tmpl), "%s/.%s.XXXXXX", pl->parent, pl->base);
    if (mkdtemp(tmpl) == NULL)
        return np_error_sys(u->err, errno, pl->parent,
                            "cannot create a directory for the new catalog");
    name = strrchr(tmpl, '/') + 1;
    snprintf(pl->new_name, sizeof(pl->new_name), "%s", name);
    pl->new_fd = openat(pl->parent_fd, pl->new_name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pl->new_fd < 0 || fchmod(pl->new_fd, 0755) != 0 ||
        mkdirat(pl->new_fd, "platforms", 0755) != 0 ||
        mkdirat(pl->new_fd, "games", 0755) != 0)
        return np_error_sys(u->err, errno, tmpl,
                            "cannot prepare the new catalog directory");
    return NP_OK;
}

static int place_put(np__update *u, np__place *pl, const char *path,
                     const char *data, size_t len)
{
    if (write_file(pl->new_fd, path, data, len) != 0)
        return np_error_sys(u->err, errno, path, "cannot write into %s/%s",
                            pl->parent, pl->new_name);
    return NP_OK;
}

static int fsync_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

    if (fd < 0)
        return -1;
    r = fsync(fd);
    close(fd);
    return r;
}

/* Make the new generation the catalog: fsync it, point a fresh symlink at
 * it, rename(2) the symlink over the catalog path (or exchange it with a
 * real directory there), fsync the parent, then remove the old one. */
static int place_commit(np__update *u, np__place *pl)
{
    char lnk[320];
    struct stat st;

    if (fsync_at(pl->new_fd, "platforms") != 0 ||
        fsync_at(pl->new_fd, "games") != 0 || fsync(pl->new_fd) != 0)
        return np_error_sys(u->err, errno, pl->new_name,
                            "cannot sync the new catalog");
    /* A name no one else uses (the generation's own, plus ".lnk"); a
     * leftover of a crash here is swept by the next update. */
    snprintf(lnk, sizeof(lnk), "%s.lnk", pl->new_name);
    if (symlinkat(pl->new_name, pl->parent_fd, lnk) != 0)
        return np_error_sys(u->err, errno, pl->parent,
                            "cannot create the symlink %s", lnk);
    if (pl->cur_is_dir) {
        /* A real directory cannot be replaced by rename(2); exchange the
         * two atomically, then remove the old one under the link name. */
        if (renameat2(pl->parent_fd, lnk, pl->parent_fd, pl->base,
                      RENAME_EXCHANGE) != 0) {
            int e = errno;
            (void)unlinkat(pl->parent_fd, lnk, 0);
            return np_error_sys(u->err, e, pl->dir,
                                "cannot swap the catalog directory "
                                "atomically");
        }
    } else if (renameat(pl->parent_fd, lnk, pl->parent_fd, pl->base) != 0) {
        int e = errno;
        (void)unlinkat(pl->parent_fd, lnk, 0);
        return np_error_sys(u->err, e, pl->dir, "cannot swap the catalog");
    }
    (void)fsync(pl->parent_fd);
    /* Committed: the new generation must survive place_close. */
    snprintf(pl->cur_target, sizeof(pl->cur_target), "%s", pl->new_name);
    if (fstat(pl->new_fd, &st) == 0) {
        pl->cur_dev = st.st_dev;
        pl->cur_ino = st.st_ino;
    }
    pl->new_name[0] = '\0';
    place_sweep(pl, NULL); /* the old generation, or the old real dir */
    (void)fsync(pl->parent_fd);
    return NP_OK;
}

/* --- the update ----------------------------------------------------------- */

void np_catalog_update_result_init(np_catalog_update_result *res)
{
    if (res == NULL)
        return;
    memset(res, 0, sizeof(*res));
    np_diags_init(&res->diags);
}

void np_catalog_update_result_free(np_catalog_update_result *res)
{
    if (res == NULL)
        return;
    np_diags_free(&res->diags);
}

static int progress(np__update *u, int phase, const char *file)
{
    u->prog.phase = phase;
    u->prog.file = file;
    u->prog.bytes_done = u->bytes_before;
    if (u->opts->progress != NULL &&
        u->opts->progress(u->opts->progress_ctx, &u->prog) != 0)
        return np_error_set(u->err, NP_ECANCELED, NULL, "cancelled");
    return NP_OK;
}

int np_catalog_update(const np_catalog_update_opts *opts,
                      np_catalog_update_result *res, np_error *err)
{
    np__update u;
    np__place pl;
    np__buf b;
    np_catalog_index *idx = NULL;
    np_catalog *cat = NULL;
    unsigned char digest[32];
    char *url = NULL;
    size_t i;
    int r;

    memset(&u, 0, sizeof(u));
    memset(&pl, 0, sizeof(pl));
    memset(&b, 0, sizeof(b));
    pl.parent_fd = pl.lock_fd = pl.new_fd = -1;
    if (opts == NULL || res == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no options or result");
    u.opts = opts;
    u.res = res;
    u.err = err;
    np_error_clear(err);
    snprintf(res->url, sizeof(res->url), "%s",
             opts->url ? opts->url : NP_CATALOG_DEFAULT_URL);
    if (strlen(opts->url ? opts->url : NP_CATALOG_DEFAULT_URL) >=
        sizeof(res->url))
        return np_error_set(err, NP_EINVAL, NULL, "the URL is too long");
    r = check_url(res->url, err);
    if (r != NP_OK)
        return r;
    if (opts->dir != NULL) {
        if (opts->dir[0] == '\0' || strlen(opts->dir) >= sizeof(pl.dir) - 300)
            return np_error_set(err, NP_EINVAL, NULL, "bad catalog directory");
        snprintf(pl.dir, sizeof(pl.dir), "%s", opts->dir);
    } else if (np_catalog_user_dir(pl.dir, sizeof(pl.dir) - 300) != NP_OK) {
        return np_error_set(err, NP_EINVAL, NULL,
                            "no catalog directory: set XDG_DATA_HOME or "
                            "HOME, or give one");
    }
    snprintf(res->dir, sizeof(res->dir), "%s", pl.dir);

    r = place_open(&u, &pl);
    if (r != NP_OK)
        goto out;
    place_sweep(&pl, NULL); /* leftovers of a crashed update */
    r = curl_setup(&u);
    if (r != NP_OK)
        goto out;

    /* The index. */
    r = progress(&u, NP_CATALOG_PHASE_INDEX, NULL);
    if (r != NP_OK)
        goto out;
    r = fetch(&u, res->url, NP_CATALOG_INDEX_MAX, "the index", &b);
    if (r != NP_OK) {
        snprintf(res->failed, sizeof(res->failed), "%s", res->url);
        goto out;
    }
    r = np_catalog_index_parse(res->url, b.data, b.len, &idx, err);
    if (r != NP_OK) {
        snprintf(res->failed, sizeof(res->failed), "%s", res->url);
        goto out;
    }
    res->files = idx->n_files;
    if (np__catalog_sha256(b.data, b.len, digest) != NP_OK) {
        r = np_error_set(err, NP_ENOMEM, NULL, "sha256 failed");
        goto out;
    }
    np__catalog_hex(digest, res->index_sha256, sizeof(res->index_sha256));
    if (place_is_current(&u, &pl, idx, digest)) {
        res->current = true;
        r = NP_OK;
        goto out;
    }

    /* Every file: fetch, verify, validate, write into the new generation. */
    cat = np_catalog_new();
    if (cat == NULL) {
        r = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        goto out;
    }
    (void)np_catalog_load_embedded(cat, NULL, NULL); /* bases to check */
    r = place_new(&u, &pl);
    if (r != NP_OK)
        goto out;
    r = place_put(&u, &pl, INDEX_NAME, b.data, b.len);
    if (r != NP_OK)
        goto out;
    free(b.data);
    b.data = NULL;
    u.prog.files_total = idx->n_files;
    u.prog.bytes_total = idx->total_size;
    u.bytes_before = 0;
    for (i = 0; i < idx->n_files; i++) {
        const np_catalog_entry *e = &idx->files[i];

        r = file_url(&u, e->path, &url);
        if (r != NP_OK)
            goto out;
        r = progress(&u, NP_CATALOG_PHASE_FILES, e->path);
        if (r == NP_OK)
            r = fetch(&u, url, (size_t)e->size, e->path, &b);
        if (r == NP_OK)
            r = check_file(&u, cat, e, url, &b);
        if (r == NP_OK)
            r = place_put(&u, &pl, e->path, b.data, b.len);
        if (r != NP_OK) {
            snprintf(res->failed, sizeof(res->failed), "%s", url);
            goto out;
        }
        free(b.data);
        b.data = NULL;
        free(url);
        url = NULL;
        u.prog.files_done = i + 1;
    }
    r = progress(&u, NP_CATALOG_PHASE_VALIDATE, NULL);
    if (r == NP_OK)
        r = check_set(&u, cat);
    if (r != NP_OK)
        goto out;

    r = progress(&u, NP_CATALOG_PHASE_INSTALL, NULL);
    if (r == NP_OK)
        r = place_commit(&u, &pl);
    if (r == NP_OK)
        res->updated = true;
out:
    free(url);
    free(b.data);
    np_catalog_free(cat);
    np_catalog_index_free(idx);
    if (u.curl != NULL)
        curl_easy_cleanup(u.curl);
    place_close(&pl);
    return r;
}
