/*
 * libnatpilot internals: the small helpers every module needs, written once.
 *
 * Not part of the public API (nothing under include/ includes this file);
 * the library, the program and the tests reach it through the include path
 * src/lib, the way curl's tool and tests use lib/curlx. Names carry the
 * internal prefix np__.
 *
 * - bounded number parsing: the whole string, a maximum, no sign surprises
 *   (curl's curlx_str_number);
 * - reading a whole file with a cap, and replacing one atomically with the
 *   file and its directory synced (OpenSSH's sshbuf_load_file /
 *   sshbuf_write_file);
 * - write-all over short writes and EINTR;
 * - the monotonic clock (libuv's uv__hrtime) and the wall clock;
 * - random bytes from the kernel.
 */
#ifndef NP_UTIL_H
#define NP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "natpilot/error.h"

/* ---- numbers ----------------------------------------------------------- */

/*
 * Parse all of s as a decimal number in [0, max]: digits only (no sign, no
 * space, no "0x"), at least one digit, no overflow. Returns NP_OK and sets
 * *out, or NP_EPARSE (not a number) / NP_EINVAL (above max) leaving *out
 * alone. s may be NULL (NP_EPARSE).
 */
int np__parse_u64(const char *s, uint64_t max, uint64_t *out);

/* As np__parse_u64 into narrower types; max must fit the type. */
int np__parse_u32(const char *s, uint32_t max, uint32_t *out);
int np__parse_u16(const char *s, uint16_t max, uint16_t *out);

/*
 * Parse all of s as a decimal number in [min, max], a leading '-' allowed
 * when min < 0. Same returns as np__parse_u64.
 */
int np__parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * Parse the decimal digits at the start of [*p, end) into a number <= max,
 * advancing *p past them; at least one digit. NP_EPARSE / NP_EINVAL leave
 * *p where it was. For parsers that walk a buffer (e.g. "a-b" ranges).
 */
int np__scan_u64(const char **p, const char *end, uint64_t max, uint64_t *out);

/* ---- files ------------------------------------------------------------- */

/*
 * Read the whole of path (relative to dirfd, or AT_FDCWD) into a malloc'ed
 * buffer with a terminating NUL the length does not count. More than max
 * bytes is NP_ETOOBIG with "larger than N bytes" in err (nothing returned);
 * a missing file is NP_ENOTFOUND; other failures NP_ESYS. On success the
 * caller owns *out (free()); on failure *out is NULL.
 */
int np__file_load_at(int dirfd, const char *path, size_t max, char **out,
                     size_t *len, np_error *err);
int np__file_load(const char *path, size_t max, char **out, size_t *len,
                  np_error *err);

/*
 * Replace path atomically with [data, data + len): write a temporary file
 * beside it with the given mode (O_EXCL, so never through a symlink), fsync
 * it, rename(2) it over path, fsync the directory. After a crash path holds
 * either the old or the new contents, never a mix. On failure the temporary
 * file is removed and path is untouched.
 */
int np__file_replace(const char *path, const void *data, size_t len,
                     mode_t mode, np_error *err);

/* fsync the directory that holds path ("." for a bare name). 0 or -1/errno. */
int np__fsync_parent(const char *path);

/* write(2) all n bytes, over short writes and EINTR. 0, or -1 with errno. */
int np__write_all(int fd, const void *p, size_t n);

/* ---- time and randomness ---------------------------------------------- */

/* Monotonic clock (CLOCK_MONOTONIC), never goes backwards. */
uint64_t np__mono_us(void);
int64_t np__mono_ms(void);

/* Wall clock, seconds since the epoch (for leases shown and stored). */
int64_t np__wall_s(void);

/* len unpredictable bytes from getrandom(2). 0, or -1 with errno. */
int np__random(void *buf, size_t len);

#endif /* NP_UTIL_H */
