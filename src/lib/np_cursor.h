/*
 * Internal: bounds-checked big-endian readers and writers for wire formats.
 *
 * Every read checks the remaining length first and consumes nothing when it
 * fails (in the manner of OpenSSH's sshbuf getters), so a parser can report
 * the exact byte offset (r->pos) where the input ran out. Writers never write
 * past cap; the first overflow is sticky and reported by np__wr_status().
 */
#ifndef NP_CURSOR_H
#define NP_CURSOR_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "natpilot/error.h"

/*
 * Fill *err (if not NULL) with code, where = "byte OFF" and the formatted
 * message; returns code. The wire codecs report every failure through it.
 */
int np__fail_at(np_error *err, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct np__rd {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} np__rd;

static inline void np__rd_init(np__rd *r, const void *buf, size_t len)
{
    r->buf = (const uint8_t *)buf;
    r->len = len;
    r->pos = 0;
}

static inline size_t np__rd_left(const np__rd *r)
{
    return r->len - r->pos;
}

static inline int np__rd_u8(np__rd *r, uint8_t *v)
{
    if (np__rd_left(r) < 1)
        return NP_ETRUNC;
    *v = r->buf[r->pos];
    r->pos += 1;
    return NP_OK;
}

static inline int np__rd_u16(np__rd *r, uint16_t *v)
{
    if (np__rd_left(r) < 2)
        return NP_ETRUNC;
    *v = (uint16_t)((unsigned)r->buf[r->pos] << 8 | r->buf[r->pos + 1]);
    r->pos += 2;
    return NP_OK;
}

static inline int np__rd_u32(np__rd *r, uint32_t *v)
{
    const uint8_t *p;

    if (np__rd_left(r) < 4)
        return NP_ETRUNC;
    p = r->buf + r->pos;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
    r->pos += 4;
    return NP_OK;
}

/* Copy n bytes out (out may be NULL to skip them). */
static inline int np__rd_bytes(np__rd *r, void *out, size_t n)
{
    if (np__rd_left(r) < n)
        return NP_ETRUNC;
    if (out != NULL && n > 0)
        memcpy(out, r->buf + r->pos, n);
    r->pos += n;
    return NP_OK;
}

/* A sub-reader over the next n bytes, which are consumed from r. */
static inline int np__rd_sub(np__rd *r, size_t n, np__rd *sub)
{
    if (np__rd_left(r) < n)
        return NP_ETRUNC;
    np__rd_init(sub, r->buf + r->pos, n);
    r->pos += n;
    return NP_OK;
}

typedef struct np__wr {
    uint8_t *buf;
    size_t cap;
    size_t pos;
    int overflow;
} np__wr;

static inline void np__wr_init(np__wr *w, void *buf, size_t cap)
{
    w->buf = (uint8_t *)buf;
    w->cap = cap;
    w->pos = 0;
    w->overflow = 0;
}

static inline int np__wr_room(np__wr *w, size_t n)
{
    if (w->overflow || w->cap - w->pos < n) {
        w->overflow = 1;
        return 0;
    }
    return 1;
}

static inline void np__wr_u8(np__wr *w, uint8_t v)
{
    if (np__wr_room(w, 1))
        w->buf[w->pos++] = v;
}

static inline void np__wr_u16(np__wr *w, uint16_t v)
{
    if (!np__wr_room(w, 2))
        return;
    w->buf[w->pos++] = (uint8_t)(v >> 8);
    w->buf[w->pos++] = (uint8_t)v;
}

static inline void np__wr_u32(np__wr *w, uint32_t v)
{
    if (!np__wr_room(w, 4))
        return;
    w->buf[w->pos++] = (uint8_t)(v >> 24);
    w->buf[w->pos++] = (uint8_t)(v >> 16);
    w->buf[w->pos++] = (uint8_t)(v >> 8);
    w->buf[w->pos++] = (uint8_t)v;
}

static inline void np__wr_bytes(np__wr *w, const void *src, size_t n)
{
    if (n == 0 || !np__wr_room(w, n))
        return;
    memcpy(w->buf + w->pos, src, n);
    w->pos += n;
}

static inline void np__wr_fill(np__wr *w, uint8_t byte, size_t n)
{
    if (n == 0 || !np__wr_room(w, n))
        return;
    memset(w->buf + w->pos, byte, n);
    w->pos += n;
}

static inline int np__wr_status(const np__wr *w)
{
    return w->overflow ? NP_EBUFSIZE : NP_OK;
}

/* Store big-endian values at a fixed offset (for back-patched lengths). */
static inline void np__put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void np__put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint16_t np__get_u16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t np__get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

#endif /* NP_CURSOR_H */
