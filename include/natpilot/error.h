/*
 * natpilot: errors are values.
 *
 * Every fallible function of libnatpilot returns NP_OK (0) or one negative
 * NP_E* code, and when its np_error argument is not NULL fills it with a human
 * message and where the problem is: "profiles/games/x.json:12:7 /inbound/2",
 * "peer 198.51.100.10:3478", "byte 24". Protocol results (PCP result codes,
 * UPnP 7xx errors, STUN error codes) never travel in the return code: they are
 * fields of the output structs of the function that received them.
 *
 * The np_error struct is owned by the caller; it holds no pointers.
 */
#ifndef NATPILOT_ERROR_H
#define NATPILOT_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum np_status {
    NP_OK = 0,
    NP_EINVAL = -1,     /* the caller passed an invalid argument */
    NP_ENOMEM = -2,     /* out of memory, or a size cap was reached */
    NP_ESYS = -3,       /* a system call failed; np_error.sys_errno says why */
    NP_ETRUNC = -4,     /* input ends before a field it announces */
    NP_EPARSE = -5,     /* input is malformed */
    NP_EVERIFY = -6,    /* an integrity check failed (CRC, HMAC, sha256) */
    NP_ETIMEOUT = -7,   /* no answer in time */
    NP_EUNREACH = -8,   /* no route to the peer, or no network at all */
    NP_EREFUSED = -9,   /* the peer refused; the reason is in the output */
    NP_ENOTFOUND = -10, /* no such object (profile, mapping, device) */
    NP_EUNSUPP = -11,   /* the peer or the platform does not support it */
    NP_ECONFLICT = -12, /* the resource is held by someone else */
    NP_EBUFSIZE = -13,  /* the caller's buffer is too small */
    NP_EPROTO = -14,    /* the peer broke the protocol (bad nonce, source) */
    NP_ECANCELED = -15, /* the operation was cancelled by the caller */
    NP_EEXIST = -16,    /* the object already exists */
    NP_EINVALID = -17,  /* input failed validation (profile, config) */
    NP_ETOOBIG = -18    /* input larger than the cap its reader allows */
};

#define NP_ERROR_WHERE_MAX 256
#define NP_ERROR_MSG_MAX   320

typedef struct np_error {
    int code;                       /* one of enum np_status */
    int sys_errno;                  /* errno when code is NP_ESYS, else 0 */
    char where[NP_ERROR_WHERE_MAX]; /* location, or "" when not known */
    char msg[NP_ERROR_MSG_MAX];     /* one human sentence, no newline */
} np_error;

/* Static English name of a status code ("timed out"); never NULL. */
const char *np_strerror(int code);

/* Reset *err to NP_OK with empty strings. err may be NULL. */
void np_error_clear(np_error *err);

/*
 * Fill *err (if not NULL) and return code, so that a function can end with
 * `return np_error_set(err, NP_EPARSE, where, "...", ...)`. where may be NULL.
 */
int np_error_set(np_error *err, int code, const char *where, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

/* As np_error_set with code NP_ESYS, recording errno_value. */
int np_error_sys(np_error *err, int errno_value, const char *where,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "where: msg" or "msg" into buf (always terminated); returns buf. */
const char *np_error_format(const np_error *err, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_ERROR_H */
