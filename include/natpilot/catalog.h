/*
 * natpilot: update the on-disk profile catalog over HTTPS (libcurl), every
 * file verified by sha256 (OpenSSL EVP) and validated as a profile before
 * the user catalog is replaced atomically. Format and on-disk layout:
 * docs/update.md.
 *
 * The index (JSON, at most NP_CATALOG_INDEX_MAX bytes):
 *
 *     {"schema": 1,
 *      "files": [{"path": "games/foo.json", "sha256": "<64 hex>",
 *                 "size": 1234}, ...]}
 *
 * Paths are relative to the index URL's directory and must be
 * "platforms/<id>.json" or "games/<id>.json" with id lowercase [a-z0-9-],
 * 2..48 characters (so no "..", no absolute paths, nothing else).
 *
 * TLS peer and host verification are always on; the caller can add a CA to
 * trust (np_catalog_update_opts.cacert), never turn verification off.
 *
 * The library never prints. libcurl must be initialised by the program
 * (curl_global_init) before np_catalog_update is called; nothing here keeps
 * global state. Ownership is stated with each function.
 */
#ifndef NATPILOT_CATALOG_H
#define NATPILOT_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natpilot/error.h"
#include "natpilot/profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where the project publishes the catalog index (the one place this URL is
 * written; docs/update.md describes how it is produced).
 */
#define NP_CATALOG_DEFAULT_URL                                                 \
    "https://natpilot.github.io/catalog/v1/index.json"

#define NP_CATALOG_INDEX_SCHEMA 1
#define NP_CATALOG_INDEX_MAX    (1024 * 1024)          /* bytes of the index */
#define NP_CATALOG_FILE_MAX     NP_PROFILE_MAX_BYTES   /* bytes per file */
#define NP_CATALOG_FILES_MAX    4096                   /* files per index */
#define NP_CATALOG_TOTAL_MAX    (256ull * 1024 * 1024) /* all files together */
#define NP_CATALOG_PATH_MAX     64 /* "platforms/" + 48 + ".json" fits */

/* --- the index ----------------------------------------------------------- */

typedef struct np_catalog_entry {
    char path[NP_CATALOG_PATH_MAX]; /* "games/foo.json", checked safe */
    unsigned char sha256[32];       /* expected digest */
    uint64_t size;                  /* expected size, <= NP_CATALOG_FILE_MAX */
} np_catalog_entry;

typedef struct np_catalog_index {
    int schema;              /* NP_CATALOG_INDEX_SCHEMA */
    np_catalog_entry *files; /* owned; in index order, paths unique */
    size_t n_files;
    uint64_t total_size; /* sum of the sizes */
} np_catalog_index;

/*
 * Parse an index from text[0..len). name is used in error locations
 * ("NAME:3:14: /files/0/sha256"). Unknown keys, wrong types, a schema other
 * than 1, unsafe or duplicate paths, malformed digests, sizes above
 * NP_CATALOG_FILE_MAX, more than NP_CATALOG_FILES_MAX files or an empty list
 * are errors. On NP_OK *out is a new index the caller frees with
 * np_catalog_index_free. Errors: NP_EPARSE (malformed JSON), NP_EINVALID
 * (valid JSON, invalid index), NP_ETOOBIG (len above NP_CATALOG_INDEX_MAX),
 * NP_ENOMEM, NP_EINVAL; err says where and what.
 */
int np_catalog_index_parse(const char *name, const char *text, size_t len,
                           np_catalog_index **out, np_error *err);

/* Free an index. Accepts NULL. */
void np_catalog_index_free(np_catalog_index *idx);

/*
 * Check that path is a safe catalog path: "platforms/<id>.json" or
 * "games/<id>.json", id as above. Returns NP_OK or NP_EINVALID with err
 * saying why (absolute path, "..", backslash, wrong directory, bad name).
 */
int np_catalog_path_check(const char *path, np_error *err);

/* --- update -------------------------------------------------------------- */

enum np_catalog_phase {
    NP_CATALOG_PHASE_INDEX = 0,    /* downloading the index */
    NP_CATALOG_PHASE_FILES = 1,    /* downloading and checking the files */
    NP_CATALOG_PHASE_VALIDATE = 2, /* cross-file profile checks */
    NP_CATALOG_PHASE_INSTALL = 3   /* writing and swapping the catalog */
};

typedef struct np_catalog_progress {
    int phase;            /* enum np_catalog_phase */
    const char *file;     /* path being fetched, or NULL */
    size_t files_done;    /* files fetched and verified so far */
    size_t files_total;   /* files in the index (0 while fetching it) */
    uint64_t bytes_done;  /* bytes received so far (all files) */
    uint64_t bytes_total; /* sum of the index's sizes (0 while unknown) */
} np_catalog_progress;

/* Return 0 to go on, non-zero to cancel (the update fails NP_ECANCELED). */
typedef int (*np_catalog_progress_fn)(void *ctx, const np_catalog_progress *p);

typedef struct np_catalog_update_opts {
    const char *url;         /* index URL, https:// only; NULL = the default */
    const char *cacert;      /* PEM file of extra CAs to trust, or NULL */
    const char *dir;         /* catalog path; NULL = np_catalog_user_dir() */
    long connect_timeout_ms; /* 0 = 10000 */
    long timeout_ms;         /* per transfer; 0 = 120000 */
    np_catalog_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} np_catalog_update_opts;

typedef struct np_catalog_update_result {
    bool updated;          /* the catalog was replaced */
    bool current;          /* already the same catalog: nothing was replaced */
    size_t files;          /* files in the index */
    uint64_t bytes;        /* bytes downloaded (index and files) */
    char url[1024];        /* the index URL used */
    char dir[4096];        /* the catalog path */
    char index_sha256[65]; /* digest of the new index, "" if not fetched */
    char previous_sha256[65]; /* digest of the installed index, "" if none */
    char failed[1024];        /* URL of the file that failed, "" if none */
    np_diags diags;           /* validation problems of downloaded files */
} np_catalog_update_result;

/* Zero a result (diags empty). */
void np_catalog_update_result_init(np_catalog_update_result *res);
/* Free what a result holds (its diags); res itself is the caller's. */
void np_catalog_update_result_free(np_catalog_update_result *res);

/*
 * Download the index at opts->url, then every file it lists; check each
 * file's size and sha256, validate each as a profile (and all of them
 * together with the embedded catalog: bases exist, no cycles), and only when
 * everything passed replace the catalog at opts->dir atomically (see
 * docs/update.md: a symlink swapped by rename(2), so a crash leaves the whole
 * old or the whole new catalog). res is filled as far as the update got.
 *
 * Returns NP_OK (updated, or res->current when nothing changed) or:
 *   NP_EINVAL     bad options (URL not https, no catalog directory)
 *   NP_EUNREACH   host not resolved or not reachable, connection refused
 *   NP_ETIMEOUT   the server did not answer in time
 *   NP_EPROTO     TLS failure (untrusted certificate, handshake)
 *   NP_EREFUSED   the server answered with an HTTP error (404, 500...)
 *   NP_EPARSE     the index is not JSON
 *   NP_EINVALID   the index or a profile is invalid (profiles: res->diags)
 *   NP_EVERIFY    a file's sha256 or size differs from the index
 *   NP_ETOOBIG    a file above its size cap
 *   NP_ENOMEM     out of memory
 *   NP_ESYS       writing the catalog failed (nothing was replaced)
 *   NP_ECONFLICT  another update holds the catalog's lock
 *   NP_EEXIST     the catalog path exists and is not a directory/symlink
 *   NP_ECANCELED  the progress callback asked to stop
 * err->where names the URL or file; err->msg says what went wrong. On any
 * error the catalog at opts->dir is untouched.
 */
int np_catalog_update(const np_catalog_update_opts *opts,
                      np_catalog_update_result *res, np_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_CATALOG_H */
