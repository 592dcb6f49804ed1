/*
 * libnatpilot internals: numbers, files, clock, randomness (np_util.h).
 */
#include "np_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- numbers ----------------------------------------------------------- */

int np__scan_u64(const char **p, const char *end, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    if (s == NULL || s >= end || *s < '0' || *s > '9')
        return NP_EPARSE;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (v > (max - d) / 10)
            return NP_EINVAL;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return NP_OK;
}

int np__parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    const char *p = s, *end;
    uint64_t v;
    int r;

    if (s == NULL)
        return NP_EPARSE;
    end = s + strlen(s);
    r = np__scan_u64(&p, end, max, &v);
    if (r != NP_OK)
        return r;
    if (p != end)
        return NP_EPARSE;
    *out = v;
    return NP_OK;
}

int np__parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v;
    int r = np__parse_u64(s, max, &v);

    if (r == NP_OK)
        *out = (uint32_t)v;
    return r;
}

int np__parse_u16(const char *s, uint16_t max, uint16_t *out)
{
    uint64_t v;
    int r = np__parse_u64(s, max, &v);

    if (r == NP_OK)
        *out = (uint16_t)v;
    return r;
}

int np__parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    uint64_t mag;
    int r;

    if (s == NULL || min > max)
        return NP_EPARSE;
    if (*s == '-') {
        /* |min| as an unsigned number, without negating INT64_MIN */
        uint64_t lim = min < 0 ? (uint64_t)(-(min + 1)) + 1 : 0;

        if (min >= 0) /* a sign where none may be: not a number here */
            return s[1] >= '0' && s[1] <= '9' ? NP_EINVAL : NP_EPARSE;
        r = np__parse_u64(s + 1, lim, &mag);
        if (r != NP_OK)
            return r;
        if (mag == 0) {
            *out = 0;
        } else {
            *out = -(int64_t)(mag - 1) - 1;
            if (*out > max)
                return NP_EINVAL;
        }
        return NP_OK;
    }
    if (max < 0)
        return s[0] >= '0' && s[0] <= '9' ? NP_EINVAL : NP_EPARSE;
    r = np__parse_u64(s, (uint64_t)max, &mag);
    if (r != NP_OK)
        return r;
    if ((int64_t)mag < min)
        return NP_EINVAL;
    *out = (int64_t)mag;
    return NP_OK;
}

/* ---- files ------------------------------------------------------------- */

int np__write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int np__file_load_at(int dirfd, const char *path, size_t max, char **out,
                     size_t *len, np_error *err)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int fd, e;

    *out = NULL;
    if (len != NULL)
        *len = 0;
    if (path == NULL || max >= SIZE_MAX - 1)
        return np_error_set(err, NP_EINVAL, NULL, "no path, or no sane cap");
    fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        if (e == ENOENT)
            return np_error_set(err, NP_ENOTFOUND, path, "no such file");
        return np_error_sys(err, e, path, "cannot open");
    }
    /* Read to the end whatever fstat says: /proc files report size 0, and
     * a file may grow while read. One byte past max tells "too big". */
    for (;;) {
        ssize_t r;

        if (n == cap) {
            size_t ncap = cap == 0 ? 4096 : cap * 2;
            char *nb;

            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap <= n) { /* already read max + 1 bytes */
                free(buf);
                close(fd);
                return np_error_set(err, NP_ETOOBIG, path,
                                    "larger than %zu bytes", max);
            }
            nb = realloc(buf, ncap + 1);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return np_error_set(err, NP_ENOMEM, path, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            e = errno;
            free(buf);
            close(fd);
            return np_error_sys(err, e, path, "cannot read");
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(buf);
        return np_error_set(err, NP_ETOOBIG, path, "larger than %zu bytes",
                            max);
    }
    if (buf == NULL && (buf = malloc(1)) == NULL)
        return np_error_set(err, NP_ENOMEM, path, "out of memory");
    buf[n] = '\0';
    *out = buf;
    if (len != NULL)
        *len = n;
    return NP_OK;
}

int np__file_load(const char *path, size_t max, char **out, size_t *len,
                  np_error *err)
{
    return np__file_load_at(AT_FDCWD, path, max, out, len, err);
}

int np__fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    int fd, r, e;

    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else if (slash == path) {
        dir[0] = '/';
        dir[1] = '\0';
    } else {
        size_t n = (size_t)(slash - path);

        if (n >= sizeof(dir)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    r = fsync(fd);
    e = errno;
    close(fd);
    errno = e;
    return r;
}

int np__file_replace(const char *path, const void *data, size_t len,
                     mode_t mode, np_error *err)
{
    char tmp[PATH_MAX];
    int fd, n, e;
    unsigned tries;

    if (path == NULL || (data == NULL && len > 0))
        return np_error_set(err, NP_EINVAL, NULL, "no path or no data");
    /* A fresh name each try: O_EXCL never follows a planted symlink, and a
     * temporary file left by a crash does not block the next write. */
    for (tries = 0;; tries++) {
        uint32_t rnd = 0;

        (void)np__random(&rnd, sizeof(rnd));
        n = snprintf(tmp, sizeof(tmp), "%s.%08x.tmp", path, (unsigned)rnd);
        if (n < 0 || (size_t)n >= sizeof(tmp))
            return np_error_set(err, NP_EBUFSIZE, path, "path too long");
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  mode);
        if (fd >= 0)
            break;
        if (errno != EEXIST || tries >= 8)
            return np_error_sys(err, errno, tmp, "cannot create");
    }
    /* open() applies the umask; the file gets exactly the mode asked for */
    if (fchmod(fd, mode) != 0 || np__write_all(fd, data, len) != 0 ||
        fsync(fd) != 0) {
        e = errno;
        close(fd);
        (void)unlink(tmp);
        return np_error_sys(err, e, tmp, "cannot write");
    }
    if (close(fd) != 0) {
        e = errno;
        (void)unlink(tmp);
        return np_error_sys(err, e, tmp, "cannot write");
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        (void)unlink(tmp);
        return np_error_sys(err, e, path, "cannot rename into place");
    }
    if (np__fsync_parent(path) != 0)
        return np_error_sys(err, errno, path, "cannot sync the directory");
    return NP_OK;
}

/* ---- time and randomness ---------------------------------------------- */

uint64_t np__mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t np__mono_ms(void)
{
    return (int64_t)(np__mono_us() / 1000u);
}

int64_t np__wall_s(void)
{
    return (int64_t)time(NULL);
}

int np__random(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
