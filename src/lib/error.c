/* natpilot: error values (see include/natpilot/error.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "natpilot/error.h"
#include "np_cursor.h"

const char *np_strerror(int code)
{
    switch (code) {
    case NP_OK:
        return "success";
    case NP_EINVAL:
        return "invalid argument";
    case NP_ENOMEM:
        return "out of memory";
    case NP_ESYS:
        return "system error";
    case NP_ETRUNC:
        return "truncated input";
    case NP_EPARSE:
        return "malformed input";
    case NP_EVERIFY:
        return "integrity check failed";
    case NP_ETIMEOUT:
        return "timed out";
    case NP_EUNREACH:
        return "network unreachable";
    case NP_EREFUSED:
        return "refused by peer";
    case NP_ENOTFOUND:
        return "not found";
    case NP_EUNSUPP:
        return "not supported";
    case NP_ECONFLICT:
        return "conflict";
    case NP_EBUFSIZE:
        return "buffer too small";
    case NP_EPROTO:
        return "protocol error";
    case NP_ECANCELED:
        return "cancelled";
    case NP_EEXIST:
        return "already exists";
    case NP_EINVALID:
        return "validation failed";
    case NP_ETOOBIG:
        return "too large";
    default:
        return "unknown error";
    }
}

void np_error_clear(np_error *err)
{
    if (err == NULL)
        return;
    err->code = NP_OK;
    err->sys_errno = 0;
    err->where[0] = '\0';
    err->msg[0] = '\0';
}

__attribute__((format(printf, 5, 0))) static void
error_vset(np_error *err, int code, int sys_errno, const char *where,
           const char *fmt, va_list ap)
{
    err->code = code;
    err->sys_errno = sys_errno;
    snprintf(err->where, sizeof(err->where), "%s", where ? where : "");
    if (fmt != NULL)
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    else
        snprintf(err->msg, sizeof(err->msg), "%s", np_strerror(code));
}

int np_error_set(np_error *err, int code, const char *where, const char *fmt,
                 ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    error_vset(err, code, 0, where, fmt, ap);
    va_end(ap);
    return code;
}

int np_error_sys(np_error *err, int errno_value, const char *where,
                 const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (err == NULL)
        return NP_ESYS;
    va_start(ap, fmt);
    error_vset(err, NP_ESYS, errno_value, where, fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    if (errno_value != 0 && n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s",
                 strerror(errno_value));
    return NP_ESYS;
}

const char *np_error_format(const np_error *err, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    if (err == NULL) {
        buf[0] = '\0';
        return buf;
    }
    if (err->where[0] != '\0')
        snprintf(buf, size, "%s: %s", err->where, err->msg);
    else
        snprintf(buf, size, "%s", err->msg);
    return buf;
}

int np__fail_at(np_error *err, int code, size_t off, const char *fmt, ...)
{
    char where[32];
    va_list ap;

    if (err == NULL)
        return code;
    snprintf(where, sizeof(where), "byte %zu", off);
    va_start(ap, fmt);
    error_vset(err, code, 0, where, fmt, ap);
    va_end(ap);
    return code;
}
