/*
 * natpilotd's web interface: the HTTP side (libmicrohttpd), the gate every
 * request passes (web_auth.c), the pages compiled in (cmake/embed_web.cmake)
 * and the dispatch to the JSON API (web_api.c).
 *
 * Why libmicrohttpd: a maintained GNU library, packaged in Debian
 * (libmicrohttpd12), written for embedding in C programs; it can run
 * without a thread of its own inside another program's event loop
 * (external select / poll / epoll mode), bounds connections, per-address
 * connections, per-connection memory and idle time, and has a history of
 * security fixes handled upstream and in Debian.
 *
 * Integration: MHD_USE_EPOLL without an internal thread. MHD keeps its
 * sockets in one epoll descriptor, which the keeper's poll() watches beside
 * its own; the keeper calls MHD_run when it is readable or when MHD's
 * timeout (only while a connection is open) has passed. Idle, with no
 * connection, nothing wakes the daemon.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web.h"
#include "web_mhd.h"
#include "web_assets.h"
#include "np_util.h"
#include "web_auth.h"

#define NP_WEB_CONN_LIMIT   32
#define NP_WEB_PER_IP_LIMIT 8
#define NP_WEB_CONN_TIMEOUT 15 /* seconds a connection may stay idle */

struct np_web {
    struct MHD_Daemon *d;
    np_keeper *k;
    const char *config_path;
    np_keeper_log_fn log;
    void *log_ud;
    char token[NP_WEB_SECRET_HEX + 1];
    char metrics_token[NP_WEB_SECRET_HEX + 1];
    np_web_sessions sessions;
    np_web_hosts hosts;
    np_web_rate rate;       /* every request */
    np_web_rate login_rate; /* login attempts */
    int epfd;
    char last_nat[24]; /* generic label of the last diagnosis */
};

/* Per request: the body as it arrives. */
typedef struct req_ctx {
    char *body;
    size_t len;
    int too_big;
} req_ctx;

static int64_t mono_ms(void)
{
    return np__mono_ms();
}

void np__web_log(np_web *w, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (w->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    w->log(w->log_ud, level, line);
}

np_keeper *np__web_keeper(np_web *w)
{
    return w->k;
}

const char *np__web_config_path(np_web *w)
{
    return w->config_path;
}

const np_config *np__web_config(np_web *w)
{
    return np_keeper_config(w->k);
}

void np__web_set_diagnosis(np_web *w, const char *generic)
{
    snprintf(w->last_nat, sizeof(w->last_nat), "%s", generic ? generic : "");
}

const char *np__web_last_nat(np_web *w)
{
    return w->last_nat[0] ? w->last_nat : NULL;
}

/* --- answers ---------------------------------------------------------------*/

void np__web_json(np_web_req *r, unsigned status, char *json)
{
    free(r->out);
    r->status = status;
    r->out = json;
    r->out_type = "application/json";
}

void np__web_error(np_web_req *r, unsigned status, const char *code,
                   const char *fmt, ...)
{
    char msg[400], *out;
    size_t i, o = 0, cap;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* {"error":{"code":"...","message":"..."}} with the message escaped */
    cap = strlen(code) + 2 * strlen(msg) * 3 + 64;
    out = malloc(cap);
    if (out == NULL) {
        np__web_json(r, status, NULL);
        return;
    }
    o = (size_t)snprintf(out, cap, "{\"error\":{\"code\":\"%s\",\"message\":\"",
                         code);
    for (i = 0; msg[i] != '\0' && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)msg[i];

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    snprintf(out + o, cap - o, "\"}}");
    np__web_json(r, status, out);
}

static void add_security_headers(struct MHD_Response *resp, int api)
{
    MHD_add_response_header(
        resp, "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "img-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy",
                            "same-origin");
    MHD_add_response_header(resp, "Permissions-Policy",
                            "camera=(), microphone=(), geolocation=()");
    MHD_add_response_header(resp, "Cache-Control",
                            api ? "no-store" : "no-cache");
}

static enum MHD_Result send_req(struct MHD_Connection *c, np_web_req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->out == NULL) {
        static const char oom[] = "{\"error\":{\"code\":\"internal\","
                                  "\"message\":\"out of memory\"}}";
        resp = MHD_create_response_from_buffer(
            sizeof(oom) - 1, (void *)(uintptr_t)oom, MHD_RESPMEM_PERSISTENT);
        r->status = 500;
        r->out_type = "application/json";
    } else {
        resp = MHD_create_response_from_buffer_with_free_callback(
            strlen(r->out), r->out, free);
        r->out = NULL; /* transferred */
    }
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->out_type);
    if (r->set_cookie[0] != '\0')
        MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                "Bearer realm=\"natpilot\"");
    add_security_headers(resp, 1);
    ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_asset(struct MHD_Connection *c,
                                  const np_web_asset *a)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(a->len, (void *)(uintptr_t)a->data,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", a->type);
    add_security_headers(resp, 0);
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* --- the gate
 * ----------------------------------------------------------------*/

static const char *hdr(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static void client_addr(struct MHD_Connection *c, np_addr *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    memset(out, 0, sizeof(*out));
    if (ci != NULL && ci->client_addr != NULL)
        np_addr_from_sockaddr(out, ci->client_addr,
                              ci->client_addr->sa_family == AF_INET6
                                  ? sizeof(struct sockaddr_in6)
                                  : sizeof(struct sockaddr_in));
}

static np_web_session *session_of(np_web *w, struct MHD_Connection *c)
{
    char id[NP_WEB_SECRET_HEX + 2];

    if (!np_web_cookie_get(hdr(c, "Cookie"), NP_WEB_COOKIE, id, sizeof(id)))
        return NULL;
    return np_web_session_find(&w->sessions, id, mono_ms() / 1000);
}

/* POST /api/v1/login {"token": "..."} */
static void do_login(np_web *w, np_web_req *r, const np_addr *client)
{
    char given[NP_WEB_SECRET_HEX + 2];
    np_web_session *s;
    char ip[NP_ADDRSTRLEN];

    np_addr_ip_str(client, ip, sizeof(ip));
    if (!np_web_rate_take(&w->login_rate, client, mono_ms())) {
        np__web_error(r, 429, "rate_limited",
                      "too many login attempts; wait a minute");
        return;
    }
    (void)np_web_login_token(r->body, r->body_len, given, sizeof(given));
    if (!np_web_secret_equal(given, w->token)) {
        np__web_log(w, NP_LOG_WARN, "web: failed login from %s", ip);
        np__web_error(r, 401, "unauthorized",
                      "wrong token (see 'natpilot web-token' on the host)");
        return;
    }
    s = np_web_session_new(&w->sessions, mono_ms() / 1000);
    if (s == NULL) {
        np__web_error(r, 500, "internal", "no random numbers");
        return;
    }
    snprintf(r->set_cookie, sizeof(r->set_cookie),
             "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d",
             NP_WEB_COOKIE, s->id, NP_WEB_SESSION_IDLE);
    {
        char *out = malloc(NP_WEB_SECRET_HEX + 16);

        if (out != NULL)
            snprintf(out, NP_WEB_SECRET_HEX + 16, "{\"csrf\":\"%s\"}", s->csrf);
        np__web_json(r, 200, out);
    }
    np__web_log(w, NP_LOG_INFO, "web: login from %s", ip);
}

static int is_post(const char *m)
{
    return strcmp(m, MHD_HTTP_METHOD_POST) == 0;
}

static void handle(np_web *w, np_web_req *r, const np_addr *client)
{
    struct MHD_Connection *c = r->conn;
    const char *why = NULL;
    np_web_session *s;
    int post = is_post(r->method);
    int get = strcmp(r->method, MHD_HTTP_METHOD_GET) == 0 ||
              strcmp(r->method, MHD_HTTP_METHOD_HEAD) == 0;

    if (!get && !post) {
        np__web_error(r, 405, "method", "only GET and POST");
        return;
    }
    /* Every state change (login included) comes from the page itself. */
    if (post && !np_web_origin_ok(&w->hosts, hdr(c, "Host"), hdr(c, "Origin"),
                                  hdr(c, "Sec-Fetch-Site"), &why)) {
        np__web_error(r, 403, "origin", "refused: %s", why);
        return;
    }
    if (strcmp(r->url, "/api/v1/login") == 0) {
        if (!post)
            np__web_error(r, 405, "method", "POST the token");
        else
            do_login(w, r, client);
        return;
    }
    if (strcmp(r->url, "/metrics") == 0) {
        const char *auth = hdr(c, "Authorization");

        if (session_of(w, c) == NULL &&
            !(auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
              np_web_secret_equal(auth + 7, w->metrics_token))) {
            np__web_error(r, 401, "unauthorized",
                          "log in, or send the metrics token as a Bearer "
                          "token");
            return;
        }
        if (!get) {
            np__web_error(r, 405, "method", "GET only");
            return;
        }
        (void)np__web_metrics(w, r);
        return;
    }
    if (strncmp(r->url, "/api/v1/", 8) != 0) {
        np__web_error(r, 404, "not_found", "no such page");
        return;
    }
    s = session_of(w, c);
    if (s == NULL) {
        np__web_error(r, 401, "unauthorized", "log in first");
        return;
    }
    if (post && !np_web_csrf_ok(s, hdr(c, "X-CSRF-Token"))) {
        np__web_error(r, 403, "csrf", "missing or wrong X-CSRF-Token");
        return;
    }
    if (strcmp(r->url, "/api/v1/session") == 0) {
        char *out = malloc(NP_WEB_SECRET_HEX + 16);

        if (out != NULL)
            snprintf(out, NP_WEB_SECRET_HEX + 16, "{\"csrf\":\"%s\"}", s->csrf);
        np__web_json(r, 200, out);
        return;
    }
    if (strcmp(r->url, "/api/v1/logout") == 0) {
        if (!post) {
            np__web_error(r, 405, "method", "POST to log out");
            return;
        }
        np_web_session_drop(s);
        snprintf(r->set_cookie, sizeof(r->set_cookie),
                 "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                 NP_WEB_COOKIE);
        np__web_json(r, 200, strdup("{\"logged_out\":true}"));
        return;
    }
    if (!np__web_api(w, r, r->url + 7))
        np__web_error(r, 404, "not_found", "no such endpoint: %s", r->url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    np_web *w = cls;
    req_ctx *rc = *con_cls;
    np_web_req r;
    np_addr client;
    enum MHD_Result ret;

    (void)version;
    memset(&r, 0, sizeof(r));
    r.conn = c;
    r.method = method;
    r.url = url;
    if (rc == NULL) {
        /* Headers only: the checks that need no body. */
        int lc;

        client_addr(c, &client);
        if (!np_web_rate_take(&w->rate, &client, mono_ms())) {
            np__web_error(&r, 429, "rate_limited", "too many requests");
            return send_req(c, &r);
        }
        if (!np_web_host_ok(&w->hosts, hdr(c, "Host"))) {
            np__web_error(&r, 403, "host",
                          "refused: the Host header is not this "
                          "interface's address");
            return send_req(c, &r);
        }
        lc = np_web_length_check(hdr(c, "Content-Length"), NP_WEB_MAX_BODY);
        if (lc != 0) {
            np__web_error(&r, (unsigned)lc,
                          lc == 413 ? "too_large" : "bad_request",
                          lc == 413 ? "the request body is larger than %d "
                                      "bytes"
                                    : "bad Content-Length (limit %d)",
                          NP_WEB_MAX_BODY);
            return send_req(c, &r);
        }
        rc = calloc(1, sizeof(*rc));
        if (rc == NULL)
            return MHD_NO;
        *con_cls = rc;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        size_t n = *upload_size;

        if (!rc->too_big && rc->len + n <= NP_WEB_MAX_BODY) {
            char *nb = realloc(rc->body, rc->len + n + 1);

            if (nb == NULL)
                return MHD_NO;
            rc->body = nb;
            memcpy(rc->body + rc->len, upload, n);
            rc->len += n;
            rc->body[rc->len] = '\0';
        } else {
            rc->too_big = 1; /* chunked, without a length: cut here */
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rc->too_big) {
        np__web_error(&r, 413, "too_large",
                      "the request body is larger than %d bytes",
                      NP_WEB_MAX_BODY);
        return send_req(c, &r);
    }
    client_addr(c, &client);
    r.body = rc->body != NULL ? rc->body : "";
    r.body_len = rc->len;
    if (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/metrics") != 0 &&
        (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
         strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)) {
        const np_web_asset *a =
            np_web_asset_find(strcmp(url, "/") == 0 ? "/index.html" : url);

        if (a != NULL)
            return send_asset(c, a);
    }
    handle(w, &r, &client);
    ret = send_req(c, &r);
    free(r.out);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_ctx *rc = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (rc != NULL) {
        free(rc->body);
        free(rc);
        *con_cls = NULL;
    }
}

/* Connections only from loopback or the LAN (never from a WAN address, even
 * when a router forwards one here). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *sa,
                                 socklen_t len)
{
    np_web *w = cls;
    np_addr a;
    char ip[NP_ADDRSTRLEN];

    np_addr_from_sockaddr(&a, sa, len);
    if (np_config_web_addr_ok(&a))
        return MHD_YES;
    np__web_log(w, NP_LOG_WARN,
                "web: refused a connection from %s (not a LAN address)",
                np_addr_ip_str(&a, ip, sizeof(ip)));
    return MHD_NO;
}

/* MHD's messages (printf-style, as MHD_LogCallback is declared). */
__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    np_web *w = cls;
    char line[400];
    size_t n;

    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    np__web_log(w, NP_LOG_DEBUG, "web: %s", line);
}

/* --- the keeper's loop
 * -------------------------------------------------------*/

static int64_t ext_timeout(void *ud)
{
    np_web *w = ud;
    MHD_UNSIGNED_LONG_LONG t;

    if (MHD_get_timeout(w->d, &t) != MHD_YES)
        return -1;
    return t > INT64_MAX ? INT64_MAX : (int64_t)t;
}

static void ext_run(void *ud)
{
    np_web *w = ud;

    (void)MHD_run(w->d);
}

np_web *np_web_start(np_keeper *k, const np_config *cfg,
                     const char *config_path, np_keeper_log_fn log,
                     void *log_ud, np_error *err)
{
    np_web *w;
    char mpath[NP_CFG_PATH_MAX + 16], ip[NP_ADDRSTRLEN];
    const union MHD_DaemonInfo *di;
    np_keeper_ext ext;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    int created = 0, mcreated = 0, rc;

    if (np_mhd_load(err) != NP_OK)
        return NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    w->k = k;
    w->config_path = config_path;
    w->log = log;
    w->log_ud = log_ud;
    w->epfd = -1;
    np_web_hosts_init(&w->hosts, &cfg->web.listen, cfg->web.hosts,
                      cfg->web.n_hosts);
    np_web_rate_init(&w->rate, 20.0, 60.0);
    np_web_rate_init(&w->login_rate, 5.0 / 60.0, 5.0);
    rc = np_web_token_load(cfg->web.token_file, 1, w->token, &created, err);
    if (rc == NP_OK) {
        snprintf(mpath, sizeof(mpath), "%s-metrics", cfg->web.token_file);
        rc = np_web_token_load(mpath, 1, w->metrics_token, &mcreated, err);
    }
    if (rc != NP_OK) {
        free(w);
        return NULL;
    }
    if (np_addr_family(&cfg->web.listen) == AF_INET6)
        flags |= MHD_USE_IPv6;
    w->d = MHD_start_daemon(
        flags, np_addr_port(&cfg->web.listen), on_accept, w, on_request, w,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, w, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&cfg->web.listen.ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)NP_WEB_CONN_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)NP_WEB_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)NP_WEB_CONN_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_END);
    if (w->d == NULL) {
        np_error_set(err, NP_ESYS,
                     np_addr_str(&cfg->web.listen, ip, sizeof(ip)),
                     "the web interface cannot listen here (in use, or not "
                     "an address of this host)");
        free(w);
        return NULL;
    }
    di = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (di == NULL) {
        MHD_stop_daemon(w->d);
        free(w);
        np_error_set(err, NP_EUNSUPP, NULL, "libmicrohttpd without epoll");
        return NULL;
    }
    w->epfd = di->epoll_fd;
    memset(&ext, 0, sizeof(ext));
    ext.fd = w->epfd;
    ext.timeout = ext_timeout;
    ext.run = ext_run;
    ext.ud = w;
    np_keeper_set_ext(k, &ext);
    np__web_log(w, NP_LOG_INFO,
                "web interface on http://%s/ (login token in %s%s; "
                "'natpilot web-token' shows it)",
                np_addr_str(&cfg->web.listen, ip, sizeof(ip)),
                cfg->web.token_file, created ? ", made now" : "");
    if (created)
        np__web_log(w, NP_LOG_INFO, "web login token: %s", w->token);
    return w;
}

void np_web_stop(np_web *w)
{
    if (w == NULL)
        return;
    np_keeper_set_ext(w->k, NULL);
    if (w->d != NULL)
        MHD_stop_daemon(w->d);
    explicit_bzero(w, sizeof(*w));
    free(w);
}
