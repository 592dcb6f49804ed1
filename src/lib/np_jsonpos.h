/*
 * Internal: a strict JSON scanner that records where every value starts.
 *
 * cJSON keeps no positions, so the profile loader first scans the same text
 * with this scanner. It checks the syntax (RFC 8259, bounded depth) and
 * reports the byte offset of the first error and what was expected; on
 * success it holds one node per value, in document order, shaped like the
 * cJSON tree that cJSON builds from the same text (object members and array
 * elements in order, duplicate keys kept), so a validator can walk both in
 * lock step and turn any cJSON item into a byte offset, then a line:column.
 */
#ifndef NP_JSONPOS_H
#define NP_JSONPOS_H

#include <stddef.h>
#include <stdint.h>

#define NP__JNONE UINT32_MAX

typedef struct np__jnode {
    uint32_t off;     /* byte offset of the value's first character */
    uint32_t key_off; /* offset of the member's key (objects), else off */
    uint32_t child;   /* first member/element, or NP__JNONE */
    uint32_t next;    /* next sibling, or NP__JNONE */
} np__jnode;

typedef struct np__jpos {
    np__jnode *nodes; /* owned; nodes[0] is the root value */
    size_t n, cap;
} np__jpos;

/*
 * Scan text[0..len). Returns 0 and fills jp, or -1 with *err_off set to the
 * byte offset of the syntax error and msg (always terminated) saying what was
 * expected, or -2 when out of memory. jp must be zeroed first; free it with
 * np__jpos_free whatever the result.
 */
int np__jpos_scan(np__jpos *jp, const char *text, size_t len,
                  unsigned max_depth, size_t *err_off, char *msg,
                  size_t msgsize);
void np__jpos_free(np__jpos *jp);

/* 1-based line and column (in bytes) of offset off in text. */
void np__jpos_linecol(const char *text, size_t len, size_t off, unsigned *line,
                      unsigned *col);

/*
 * A JSON Pointer (RFC 6901) built while a validator walks a document, for
 * its messages: path[0..*len) in a buffer of size bytes, always terminated.
 * push_key appends "/" and the key with "~" and "/" escaped, push_idx
 * "/N"; what does not fit is cut. Both return the old length, which pop
 * restores.
 */
size_t np__jptr_push_key(char *path, size_t size, size_t *len, const char *key);
size_t np__jptr_push_idx(char *path, size_t size, size_t *len, size_t idx);
void np__jptr_pop(char *path, size_t *len, size_t old);

/* "a string", "a number", ... for messages about a value's JSON type. */
struct cJSON;
const char *np__json_type_name(const struct cJSON *v);

/*
 * 1 when v is a number with no fraction in [lo, hi], stored in *out; else 0.
 * The range is checked before any conversion, so a document's 1e300 or NaN
 * never reaches an integer cast (undefined behaviour in C).
 */
int np__json_whole(const struct cJSON *v, int64_t lo, int64_t hi, int64_t *out);

#endif /* NP_JSONPOS_H */
