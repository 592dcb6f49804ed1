/*
 * The web interface's gatekeeping (see web_auth.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "np_hex.h"
#include "np_util.h"
#include "web_auth.h"

int np_web_ct_memcmp(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d != 0;
}

static int random_hex(char out[NP_WEB_SECRET_HEX + 1])
{
    uint8_t b[NP_WEB_SECRET_BYTES];

    if (np__random(b, sizeof(b)) != 0)
        return -1;
    np__hex_encode(out, b, sizeof(b));
    explicit_bzero(b, sizeof(b));
    return 0;
}

static int read_token(int fd, const char *path, char out[NP_WEB_SECRET_HEX + 1],
                      np_error *err)
{
    char buf[NP_WEB_SECRET_HEX + 4];
    uint8_t tmp[NP_WEB_SECRET_BYTES];
    struct stat st;
    ssize_t n;

    if (fstat(fd, &st) != 0)
        return np_error_sys(err, errno, path, "cannot read the web token");
    /* root may read another user's token (natpilot web-token for a daemon
     * running as a systemd DynamicUser) */
    if ((st.st_mode & 077) != 0 || (st.st_uid != geteuid() && geteuid() != 0))
        return np_error_set(err, NP_EINVALID, path,
                            "the web token file must be private (mode 0600, "
                            "owned by the daemon's user)");
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        return np_error_sys(err, errno, path, "cannot read the web token");
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n != NP_WEB_SECRET_HEX || np__hex_decode(tmp, sizeof(tmp), buf) != 0)
        return np_error_set(err, NP_EINVALID, path,
                            "the web token file does not hold %d hex digits "
                            "(delete it to make a new one)",
                            NP_WEB_SECRET_HEX);
    explicit_bzero(tmp, sizeof(tmp));
    memcpy(out, buf, NP_WEB_SECRET_HEX + 1);
    explicit_bzero(buf, sizeof(buf));
    return NP_OK;
}

int np_web_token_load(const char *path, int create,
                      char out[NP_WEB_SECRET_HEX + 1], int *created,
                      np_error *err)
{
    char dir[512], line[NP_WEB_SECRET_HEX + 2];
    int fd, rc;

    if (created != NULL)
        *created = 0;
    if (path == NULL || out == NULL || strlen(path) >= sizeof(dir))
        return np_error_set(err, NP_EINVAL, path, "bad token file path");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        rc = read_token(fd, path, out, err);
        close(fd);
        return rc;
    }
    if (errno != ENOENT || !create)
        return np_error_sys(err, errno, path, "cannot open the web token");
    memcpy(dir, path, strlen(path) + 1);
    (void)mkdir(dirname(dir), 0700);
    if (random_hex(out) != 0)
        return np_error_sys(err, errno, NULL, "getrandom");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return np_error_sys(err, errno, path, "cannot create the web token");
    (void)fchmod(fd, 0600);
    memcpy(line, out, NP_WEB_SECRET_HEX);
    line[NP_WEB_SECRET_HEX] = '\n';
    if (np__write_all(fd, line, NP_WEB_SECRET_HEX + 1) != 0) {
        rc = np_error_sys(err, errno, path, "cannot write the web token");
        explicit_bzero(line, sizeof(line));
        close(fd);
        (void)unlink(path);
        return rc;
    }
    explicit_bzero(line, sizeof(line));
    if (fsync(fd) != 0) {
        rc = np_error_sys(err, errno, path, "cannot write the web token");
        close(fd);
        (void)unlink(path);
        return rc;
    }
    close(fd);
    if (created != NULL)
        *created = 1;
    return NP_OK;
}

int np_web_secret_equal(const char *given, const char *secret)
{
    size_t ls;

    if (given == NULL || secret == NULL)
        return 0;
    ls = strlen(secret);
    if (ls == 0 || strnlen(given, ls + 1) != ls)
        return 0;
    return np_web_ct_memcmp(given, secret, ls) == 0;
}

int np_web_login_token(const char *body, size_t len, char *out, size_t size)
{
    static const char key[] = "\"token\"";
    size_t i, k = sizeof(key) - 1, start;

    if (out == NULL || size == 0)
        return 0;
    out[0] = '\0';
    if (body == NULL)
        return 0;
    for (i = 0; i + k <= len; i++)
        if (memcmp(body + i, key, k) == 0)
            break;
    if (i + k > len)
        return 0;
    i += k;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
                       body[i] == '\n'))
        i++;
    if (i >= len || body[i] != ':')
        return 0;
    i++;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' ||
                       body[i] == '\n'))
        i++;
    if (i >= len || body[i] != '"')
        return 0;
    start = ++i;
    while (i < len && body[i] != '"') {
        if (body[i] == '\\' || (unsigned char)body[i] < 0x20 ||
            i - start >= size - 1)
            return 0;
        i++;
    }
    if (i >= len)
        return 0;
    memcpy(out, body + start, i - start);
    out[i - start] = '\0';
    return 1;
}

/* --- sessions -------------------------------------------------------------*/

np_web_session *np_web_session_new(np_web_sessions *ss, int64_t now)
{
    np_web_session *s = NULL;
    size_t i;

    for (i = 0; i < NP_WEB_MAX_SESSIONS; i++) {
        np_web_session *c = &ss->s[i];

        if (c->id[0] == '\0') {
            s = c;
            break;
        }
        if (s == NULL || c->last < s->last)
            s = c;
    }
    if (random_hex(s->id) != 0 || random_hex(s->csrf) != 0) {
        np_web_session_drop(s);
        return NULL;
    }
    s->last = now;
    return s;
}

np_web_session *np_web_session_find(np_web_sessions *ss, const char *id,
                                    int64_t now)
{
    np_web_session *found = NULL;
    size_t i;

    if (id == NULL || strlen(id) != NP_WEB_SECRET_HEX)
        return NULL;
    for (i = 0; i < NP_WEB_MAX_SESSIONS; i++) {
        np_web_session *s = &ss->s[i];

        if (s->id[0] == '\0')
            continue;
        if (now - s->last > NP_WEB_SESSION_IDLE) {
            np_web_session_drop(s);
            continue;
        }
        /* every slot compared, in constant time each */
        if (np_web_ct_memcmp(s->id, id, NP_WEB_SECRET_HEX) == 0)
            found = s;
    }
    if (found != NULL)
        found->last = now;
    return found;
}

void np_web_session_drop(np_web_session *s)
{
    if (s != NULL)
        explicit_bzero(s, sizeof(*s));
}

int np_web_cookie_get(const char *header, const char *name, char *out,
                      size_t size)
{
    size_t nl;
    const char *p = header;

    if (header == NULL || name == NULL || out == NULL || size == 0)
        return 0;
    nl = strlen(name);
    while (*p != '\0') {
        const char *v, *end;

        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        end = p;
        while (*end != '\0' && *end != ';')
            end++;
        if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
            p[nl] == '=') {
            size_t vl;

            v = p + nl + 1;
            vl = (size_t)(end - v);
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= size)
                return 0;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

/* --- origin ---------------------------------------------------------------*/

static void hosts_add(np_web_hosts *hs, const char *h, uint16_t port)
{
    if (hs->n >= sizeof(hs->h) / sizeof(hs->h[0]))
        return;
    snprintf(hs->h[hs->n], sizeof(hs->h[0]), "%s:%u", h, (unsigned)port);
    hs->n++;
}

void np_web_hosts_init(np_web_hosts *hs, const np_addr *listen,
                       const char (*names)[48], size_t n_names)
{
    char ip[NP_ADDRSTRLEN];
    uint16_t port = np_addr_port(listen);
    size_t i;

    memset(hs, 0, sizeof(*hs));
    if (hs->n < sizeof(hs->h) / sizeof(hs->h[0])) {
        np_addr_str(listen, hs->h[hs->n], sizeof(hs->h[0]));
        hs->n++;
    }
    if (np_addr_scope(listen) == NP_SCOPE_LOOPBACK)
        hosts_add(hs, "localhost", port);
    (void)ip;
    for (i = 0; i < n_names; i++)
        hosts_add(hs, names[i], port);
}

int np_web_host_ok(const np_web_hosts *hs, const char *host)
{
    size_t i;

    if (host == NULL)
        return 0;
    for (i = 0; i < hs->n; i++)
        if (strcasecmp(host, hs->h[i]) == 0)
            return 1;
    return 0;
}

int np_web_origin_ok(const np_web_hosts *hs, const char *host,
                     const char *origin, const char *fetch_site,
                     const char **why)
{
    const char *w = NULL;

    if (!np_web_host_ok(hs, host))
        w = "the Host header is not this interface's address";
    else if (origin == NULL)
        w = "no Origin header";
    else if (strncmp(origin, "http://", 7) != 0 ||
             strcasecmp(origin + 7, host) != 0)
        w = "the Origin is another site";
    else if (fetch_site != NULL && strcmp(fetch_site, "same-origin") != 0)
        w = "Sec-Fetch-Site is not same-origin";
    if (why != NULL)
        *why = w;
    return w == NULL;
}

int np_web_csrf_ok(const np_web_session *s, const char *header)
{
    return s != NULL && np_web_secret_equal(header, s->csrf);
}

int np_web_length_check(const char *content_length, size_t max)
{
    uint64_t v = 0;
    const char *p;

    if (content_length == NULL)
        return 0;
    if (*content_length == '\0')
        return 400;
    for (p = content_length; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 400;
        if (v > max)
            return 413; /* already too big: no overflow possible */
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v > max ? 413 : 0;
}

/* --- rate limits ----------------------------------------------------------*/

void np_web_rate_init(np_web_rate *r, double per_s, double burst)
{
    memset(r, 0, sizeof(*r));
    r->per_s = per_s;
    r->burst = burst;
}

int np_web_rate_take(np_web_rate *r, const np_addr *client, int64_t now_ms)
{
    np_web_rate_slot *s = NULL, *old = NULL;
    np_addr ip = *client;
    size_t i;

    np_addr_set_port(&ip, 0);
    for (i = 0; i < NP_WEB_RATE_SLOTS; i++) {
        np_web_rate_slot *c = &r->slot[i];

        if (np_addr_is_set(&c->ip) && np_addr_equal(&c->ip, &ip)) {
            s = c;
            break;
        }
        if (old == NULL || !np_addr_is_set(&c->ip) ||
            (np_addr_is_set(&old->ip) && c->last_ms < old->last_ms))
            old = c;
    }
    if (s == NULL) {
        s = old;
        s->ip = ip;
        s->tokens = r->burst;
        s->last_ms = now_ms;
    }
    if (now_ms > s->last_ms) {
        s->tokens += (double)(now_ms - s->last_ms) * r->per_s / 1000.0;
        if (s->tokens > r->burst)
            s->tokens = r->burst;
        s->last_ms = now_ms;
    }
    if (s->tokens < 1.0)
        return 0;
    s->tokens -= 1.0;
    return 1;
}
