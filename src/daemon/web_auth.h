/*
 * The web interface's gatekeeping, without HTTP plumbing (so that it is
 * unit-tested and fuzzed on its own): the login secret, sessions, CSRF
 * tokens, the Host / Origin checks, the request size limit and the rate
 * limits. web.c asks these functions for every request; none of them
 * performs I/O except the token file functions.
 *
 * Secrets are compared in constant time (np_web_ct_memcmp, the technique of
 * OpenSSL's CRYPTO_memcmp). libcrypto itself is not used here: natpilotd
 * does not otherwise load it, and loading it costs 1.5 MiB of resident
 * memory (measured: 2.4 -> 3.9 MiB VmHWM), a quarter of the daemon's
 * budget with the web interface on.
 */
#ifndef NP_WEB_AUTH_H
#define NP_WEB_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#define NP_WEB_SECRET_BYTES 32
#define NP_WEB_SECRET_HEX   (2 * NP_WEB_SECRET_BYTES) /* without the NUL */
#define NP_WEB_MAX_SESSIONS 16
#define NP_WEB_SESSION_IDLE (12 * 3600) /* seconds without a request */
#define NP_WEB_MAX_BODY     8192        /* bytes of a request body */
#define NP_WEB_COOKIE       "np_session"
#define NP_WEB_RATE_SLOTS   32

/*
 * The secret in the file at path (64 hex digits and a newline), created
 * with a fresh random one (mode 0600, directory 0700) when missing. A file
 * that exists but is readable by group or others, or is owned by another
 * user (root excepted, reading a service user's token), is refused
 * (NP_EINVALID), like ssh refuses a readable key. *created is 1 when the
 * file was made now. out gets the hex digits, terminated.
 */
int np_web_token_load(const char *path, int create,
                      char out[NP_WEB_SECRET_HEX + 1], int *created,
                      np_error *err);

/* 0 when the n bytes at a and b are equal, else 1; the time taken depends
 * on n only, not on where the bytes differ (CRYPTO_memcmp's contract). */
int np_web_ct_memcmp(const void *a, const void *b, size_t n);

/* 1 when given equals secret (both NUL-terminated; constant time over the
 * secret's length; a wrong length is a mismatch). */
int np_web_secret_equal(const char *given, const char *secret);

/*
 * The token of a login request's body, {"token": "<hex>"}, read without a
 * general JSON parser (the body is unauthenticated): the first "token" key,
 * a colon, and a string of at most size - 1 characters without escapes.
 * 1 found (out terminated), 0 otherwise (out is "").
 */
int np_web_login_token(const char *body, size_t len, char *out, size_t size);

/* --- sessions ------------------------------------------------------------ */

typedef struct np_web_session {
    char id[NP_WEB_SECRET_HEX + 1];   /* "" when the slot is free */
    char csrf[NP_WEB_SECRET_HEX + 1]; /* sent by the page in X-CSRF-Token */
    int64_t last;                     /* monotonic seconds of last use */
} np_web_session;

typedef struct np_web_sessions {
    np_web_session s[NP_WEB_MAX_SESSIONS];
} np_web_sessions;

/* A new session (the least recently used one is dropped when full). NULL
 * only when the system's random source fails. */
np_web_session *np_web_session_new(np_web_sessions *ss, int64_t now);
/* The session whose id is the cookie's value (touching it), or NULL;
 * expired sessions are dropped. */
np_web_session *np_web_session_find(np_web_sessions *ss, const char *id,
                                    int64_t now);
void np_web_session_drop(np_web_session *s);

/*
 * The value of cookie name in a Cookie header ("a=1; np_session=abc"),
 * copied into out (at most size - 1 bytes, else not found). 1 found, 0 not.
 */
int np_web_cookie_get(const char *header, const char *name, char *out,
                      size_t size);

/* --- origin ---------------------------------------------------------------*/

/* The Host values a request may carry: the listen address ("ip:port",
 * "[v6]:port"), "localhost:port" when listening on loopback, and each
 * configured host name with the port. */
typedef struct np_web_hosts {
    char h[12][80];
    size_t n;
} np_web_hosts;

void np_web_hosts_init(np_web_hosts *hs, const np_addr *listen,
                       const char (*names)[48], size_t n_names);

/* 1 when host (the Host header, may be NULL) is one of hs (case-insensitive
 * for names). A request with another Host is refused: it came through a
 * name an attacker controls (DNS rebinding). */
int np_web_host_ok(const np_web_hosts *hs, const char *host);

/*
 * A state-changing request's origin: Origin must be present and equal
 * "http://" + Host (Host itself checked by np_web_host_ok), and
 * Sec-Fetch-Site, when the browser sends it, must be "same-origin".
 * 1 allowed, 0 refused (why gets a reason).
 */
int np_web_origin_ok(const np_web_hosts *hs, const char *host,
                     const char *origin, const char *fetch_site,
                     const char **why);

/* 1 when the CSRF header equals the session's token. */
int np_web_csrf_ok(const np_web_session *s, const char *header);

/*
 * The request size check: content_length is the Content-Length header (NULL
 * when absent); 0 fine, 413 when it announces more than max, 400 when it
 * is not a plain decimal number.
 */
int np_web_length_check(const char *content_length, size_t max);

/* --- rate limits ----------------------------------------------------------*/

/* A token bucket per client address (a small table; the least recently
 * seen address is forgotten first). */
typedef struct np_web_rate_slot {
    np_addr ip; /* port 0 */
    double tokens;
    int64_t last_ms;
} np_web_rate_slot;

typedef struct np_web_rate {
    double per_s, burst;
    np_web_rate_slot slot[NP_WEB_RATE_SLOTS];
} np_web_rate;

void np_web_rate_init(np_web_rate *r, double per_s, double burst);
/* Take one token for client; 1 allowed, 0 over the limit (429). */
int np_web_rate_take(np_web_rate *r, const np_addr *client, int64_t now_ms);

#endif /* NP_WEB_AUTH_H */
