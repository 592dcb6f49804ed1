/*
 * natpilot: the one mapping store — what natpilot made on a router, for
 * whom, with which protocol and PCP nonce, until when. `natpilot open` /
 * `close` (owner "cli") and the daemon (owner: the device's name) keep
 * their records in this format; each names its file (the CLI's default
 * path is np_store_default_path, the daemon's is its config's state_file).
 *
 * File format (JSON, UTF-8), version NP_STORE_VERSION:
 *   {"version": 2, "written": <unix s>,
 *    "mappings": [{"owner": "cli", "gateway": "192.168.1.1",
 *                  "protocol": "pcp", "transport": "udp",
 *                  "internal": "192.168.1.20" (absent: the host that made
 *                  it), "internal_port": 3074, "external_port": 3074,
 *                  "nonce": "<24 hex>", "expires": <unix s, 0 unknown>}]}
 * Older files are read too: the CLI's bare array (version 1 of
 * mappings.json) and the daemon's {"version": 1, "mappings": [{"device",
 * "external": "ip:port", ...}]}.
 *
 * Durability: np_store_save writes a temporary file with mode 0600, fsyncs
 * it, renames it over the store and fsyncs the directory: a crash leaves
 * the old store or the new one, never a mix.
 *
 * Load errors are reported, never ignored: a store that is not valid JSON
 * in a known format, or larger than NP_STORE_MAX_BYTES, is renamed aside to
 * "<path>.corrupt-<unix time>" (kept byte for byte) and the load goes on
 * with an empty store, telling the caller in np_store_note so it can show
 * the message. A store that cannot be read at all (permissions) is an
 * error: nothing is renamed, and saving over it would lose its nonces.
 *
 * Ownership: np_store is the caller's (np_store_new / np_store_free, which
 * accepts NULL). Entries are plain data held in the store's array; indices
 * stay valid until the next put or del.
 */
#ifndef NATPILOT_STORE_H
#define NATPILOT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"
#include "natpilot/portmap.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_STORE_VERSION     2
#define NP_STORE_MAX_BYTES   (4 * 1024 * 1024)
#define NP_STORE_MAX_ENTRIES 4096
#define NP_STORE_OWNER_MAX   64
#define NP_STORE_PATH_MAX    600
#define NP_STORE_OWNER_CLI   "cli"

/* One mapping natpilot made. */
typedef struct np_store_entry {
    char owner[NP_STORE_OWNER_MAX]; /* "cli", or the daemon's device name */
    np_addr gateway;                /* the router it was made on (port 0) */
    enum np_pm_proto proto;         /* the protocol that made it */
    int transport;                  /* NP_PM_UDP / NP_PM_TCP */
    np_addr internal;               /* the device (port 0); empty: the host that
                                       made it (the CLI mapping for itself) */
    uint16_t internal_port;         /* the rule's port */
    uint16_t external_port; /* granted (an alternate port when the platform
                               accepts one) */
    uint8_t nonce[12];      /* PCP mapping nonce; zero for the others */
    int64_t expires;        /* unix seconds the lease ends; 0 unknown or
                               permanent */
} np_store_entry;

/* What a load found that the user should hear about. */
typedef struct np_store_note {
    int moved_aside;                         /* 1: the file was corrupt */
    char aside_path[NP_STORE_PATH_MAX + 32]; /* where it went */
    char message[NP_STORE_PATH_MAX + 200];   /* one sentence, "" if none */
} np_store_note;

typedef struct np_store {
    char path[NP_STORE_PATH_MAX];
    np_store_entry *e; /* n entries, owned */
    size_t n, cap;
} np_store;

/*
 * The CLI's store path: $NATPILOT_STATE_DIR/mappings.json, else
 * $XDG_STATE_HOME/natpilot/mappings.json, else
 * $HOME/.local/state/natpilot/mappings.json. NP_ENOTFOUND when none is set.
 */
int np_store_default_path(char *buf, size_t size, np_error *err);

/* An empty store for path (copied). NULL with *err on failure. */
np_store *np_store_new(const char *path, np_error *err);
void np_store_free(np_store *s);

/*
 * Read the file into s (replacing its entries). A missing file is NP_OK and
 * an empty store. A corrupt or oversize file: renamed aside, note filled,
 * NP_OK with an empty store (NP_ESYS if it could not even be renamed). An
 * unreadable file: NP_ESYS. Expired entries (expires in the past) are kept:
 * the caller decides (the daemon drops them, close tries them anyway).
 * note may be NULL (then a corrupt file is still moved aside).
 */
int np_store_load(np_store *s, np_store_note *note, np_error *err);

/* Write s atomically (see above); creates the directory (0700). */
int np_store_save(const np_store *s, np_error *err);

/* Remove the file (and fsync the directory); a missing file is NP_OK. */
int np_store_remove(const np_store *s, np_error *err);

/*
 * Index of the entry for (gateway, transport, port, internal) where port is
 * the external port or, when by_internal is set, the internal port;
 * internal empty matches only entries for "the host that made it". gateway
 * NULL matches any gateway. -1 when none.
 */
long np_store_find(const np_store *s, const np_addr *gateway, int transport,
                   uint16_t port, int by_internal, const np_addr *internal);

/* Add e, or replace the entry with the same (gateway, transport, external
 * port, internal). NP_ENOMEM (also at NP_STORE_MAX_ENTRIES). */
int np_store_put(np_store *s, const np_store_entry *e);

/* Remove entry i (later entries move down by one). */
void np_store_del(np_store *s, size_t i);

/* --- (de)serialisation, pure (tested without files) --- */

/* The store's JSON text (malloc'ed, the caller frees), NULL on ENOMEM. */
char *np_store_to_json(const np_store *s, int64_t now);
/* Parse text into s's entries (replacing them). NP_EPARSE when it is not a
 * store in any known version (s is then empty). */
int np_store_from_json(np_store *s, const char *text, size_t len,
                       np_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_STORE_H */
