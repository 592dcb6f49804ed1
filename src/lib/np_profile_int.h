/* Internal: shared between the profile parser, catalog, search, resolve. */
#ifndef NP_PROFILE_INT_H
#define NP_PROFILE_INT_H

#include <stdarg.h>
#include <stddef.h>

#include "natpilot/profile.h"

/* A bump allocator: a profile's strings and arrays live in one arena. */
typedef struct np__arena_blk np__arena_blk;
typedef struct np__arena {
    np__arena_blk *head;
    size_t next_size;
} np__arena;

void *np__arena_alloc(np__arena *a, size_t size); /* zeroed, or NULL */
char *np__arena_strdup(np__arena *a, const char *s);
void np__arena_free(np__arena *a);

/* A profile as the catalog holds it; pub first so the pointers convert. */
typedef struct np__prof {
    np_profile pub;
    np__arena arena;
    unsigned *base_line; /* position of base[i] in the file, for checks */
    unsigned *base_col;
    unsigned id_line, id_col; /* position of "id"'s value */
    size_t idx;               /* index in the catalog (kept by sorting) */
} np__prof;

void np__prof_free(np__prof *p);

struct np_catalog {
    np__prof **profs; /* owned; sorted by id when sorted != 0 */
    size_t n, cap;
    int sorted;
    np__prof **hash; /* open addressing on id; slots point into profs */
    size_t hcap;     /* power of two, > 2 * n */
};

/*
 * Parse and validate one profile. name is the display name (id and kind are
 * checked against it; expected_kind -1 = from name's directory, -2 = no
 * check). Returns NP_OK with *out set (caller frees with np__prof_free),
 * NP_EINVALID with diagnostics, or NP_ENOMEM.
 */
int np__profile_parse(const char *name, const char *text, size_t len, int layer,
                      int expected_kind, np_diags *diags, np__prof **out);

/* Append a diagnostic (copies the strings); NP_OK or NP_ENOMEM. */
int np__diag_add(np_diags *d, int severity, const char *file, unsigned line,
                 unsigned col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
int np__diag_vadd(np_diags *d, int severity, const char *file, unsigned line,
                  unsigned col, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/* Optimal string alignment (Damerau-Levenshtein) distance, capped at 255;
 * inputs longer than 63 bytes return 255. */
unsigned np__osa_distance(const char *a, size_t la, const char *b, size_t lb);
/* The same, but any distance over max is returned as max + 1, which lets
 * it stop early (a length difference over max costs nothing). */
unsigned np__osa_distance_max(const char *a, size_t la, const char *b,
                              size_t lb, unsigned max);

/* The catalog compiled in (generated at build time by
 * cmake/embed_profiles.cmake into the build directory). */
typedef struct np__embedded_file {
    const char *name; /* "games/foo.json" */
    const unsigned char *data;
    size_t size;
} np__embedded_file;
extern const np__embedded_file np__embedded_files[];
extern const size_t np__embedded_count;

/* profiles/official-domains.json, compiled in by the same script: a source
 * may be "official": true only when its URL's host is domain or a
 * subdomain of it, and, when domain has a path ("github.com/org"), the URL's
 * path starts with that path followed by '/' or the end. */
typedef struct np__official_domain {
    const char *domain;
    const char *publisher;
} np__official_domain;
extern const np__official_domain np__official_domains[];
extern const size_t np__official_domain_count;

/* The entry of np__official_domains that url falls under, or NULL. */
const np__official_domain *np__official_domain_of(const char *url);

#endif /* NP_PROFILE_INT_H */
