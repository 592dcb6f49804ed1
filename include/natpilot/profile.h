/*
 * natpilot: game and platform profiles — load, validate, layer, search and
 * resolve (the format: docs/profiles.md and profiles/schema.json, schema 1).
 *
 * A catalog (np_catalog) holds profiles loaded from layers. Layers are loaded
 * lowest first; a profile id loaded from a higher layer replaces the same id
 * from a lower one:
 *
 *     NP_LAYER_EMBEDDED  the catalog compiled into the binary
 *     NP_LAYER_USER      $XDG_DATA_HOME/natpilot/profiles
 *                        (default ~/.local/share/natpilot/profiles)
 *     NP_LAYER_CUSTOM    --profiles DIR (and files given to `validate`)
 *
 * Every problem found while loading is appended to an np_diags list the
 * caller owns: file, line, column (1-based), JSON path (RFC 6901 pointer,
 * "" for the whole document) and a message, e.g.
 *     games/foo.json:12:7: /inbound/2/ports/0: range 3074-3000 is inverted
 * A file with errors is not added to the catalog. Cross-file checks (unknown
 * and cyclic bases, duplicate ids within one layer) run in np_catalog_check.
 *
 * Ownership: the catalog owns every np_profile and every string reachable
 * from it; pointers returned by lookups stay valid until np_catalog_free.
 * np_resolved and np_diags are owned by the caller and freed with their
 * _free functions (which accept NULL). Nothing here prints or uses globals;
 * a catalog may be used from one thread at a time.
 */
#ifndef NATPILOT_PROFILE_H
#define NATPILOT_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_PROFILE_SCHEMA      1
#define NP_PROFILE_MAX_BYTES   (1024 * 1024) /* per file */
#define NP_PROFILE_MAX_DEPTH   32            /* JSON nesting */
#define NP_PROFILE_MAX_DIAGS   64            /* per file, then one "more" */
#define NP_PROFILE_BROAD_LIMIT 1024 /* inbound ports per rule w/o broad */
#define NP_PROFILE_RANGE_MAX   32   /* one inbound range w/o justification */
#define NP_PROFILE_ID_MAX      48

/* Device platforms, usable as a bit set. */
enum np_platform {
    NP_PLAT_XBOX = 1u << 0,
    NP_PLAT_PLAYSTATION = 1u << 1,
    NP_PLAT_SWITCH = 1u << 2,
    NP_PLAT_PC = 1u << 3,
    NP_PLAT_ALL = 0xfu
};

enum np_profile_kind { NP_KIND_PLATFORM = 0, NP_KIND_GAME = 1 };
enum np_proto { NP_PROTO_UDP = 0, NP_PROTO_TCP = 1 };
enum np_role {
    NP_ROLE_PEER_TO_PEER = 0,
    NP_ROLE_GAME_SERVER = 1,
    NP_ROLE_SERVICE = 2,
    NP_ROLE_VOICE = 3
};
enum np_confidence { NP_CONF_HIGH = 0, NP_CONF_MEDIUM = 1, NP_CONF_LOW = 2 };
enum np_layer {
    NP_LAYER_EMBEDDED = 0,
    NP_LAYER_USER = 1,
    NP_LAYER_CUSTOM = 2,
    NP_LAYER_CHECK = 3 /* files being validated: above everything else */
};

/* Names as written in profiles ("xbox", "udp", "peer-to-peer", "high"...). */
const char *np_platform_name(unsigned platform); /* one bit; NULL if not */
int np_platform_parse(const char *name, unsigned *out); /* NP_OK/NP_EINVAL */
const char *np_proto_name(int proto);
const char *np_role_name(int role);
const char *np_confidence_name(int confidence);
const char *np_kind_name(int kind);
const char *np_layer_name(int layer);

/* --- diagnostics -------------------------------------------------------- */

enum np_diag_severity { NP_DIAG_ERROR = 0, NP_DIAG_WARNING = 1 };

typedef struct np_diag {
    int severity;  /* enum np_diag_severity */
    char *file;    /* display name: the path given, or "games/x.json" */
    unsigned line; /* 1-based; 0 when the problem has no position */
    unsigned col;  /* 1-based, in bytes */
    char *path;    /* JSON pointer ("/inbound/2/ports/0"), "" = document */
    char *message; /* one sentence, no newline */
} np_diag;

typedef struct np_diags {
    np_diag *items; /* owned */
    size_t count;
    size_t cap;
    size_t errors; /* items with NP_DIAG_ERROR */
} np_diags;

/* An empty list; no allocation until the first item. */
void np_diags_init(np_diags *d);
/* Free the items (not d itself); d is empty afterwards. Accepts NULL. */
void np_diags_free(np_diags *d);
/* "file:line:col: /path: message" into buf (always terminated). */
const char *np_diag_format(const np_diag *diag, char *buf, size_t size);

/* --- profiles (read-only views owned by the catalog) -------------------- */

typedef struct np_port_range {
    uint16_t lo, hi; /* 1 <= lo <= hi <= 65535 */
} np_port_range;

typedef struct np_source {
    const char *id, *url, *title;
    bool official;
} np_source;

typedef struct np_rule {
    int protocol; /* enum np_proto */
    const np_port_range *ports;
    size_t n_ports;
    unsigned platforms; /* bit set; the profile's platforms when omitted */
    int role;           /* enum np_role */
    bool essential;
    bool broad; /* source advises a huge range: never map automatically */
    const char *feature; /* NULL when absent */
    const char *note;    /* NULL when absent */
    int confidence;      /* enum np_confidence */
    const np_source *source;
    const char *profile_id; /* the profile this rule is written in */
    /* Why an inbound range is wider than NP_PROFILE_RANGE_MAX ports (the
     * maker's own range, quoted); NULL when absent. */
    const char *justification;
} np_rule;

/* A port the profile's file says must not be mapped inbound any more (an
 * old guide's port, a port the maker moved): no inbound rule of the file
 * may cover it ("deprecated" in the file). */
typedef struct np_deprecated_port {
    int protocol; /* enum np_proto */
    np_port_range range;
    const char *reason;
    const np_source *source; /* NULL when absent */
} np_deprecated_port;

typedef struct np_alt_port {
    int protocol; /* enum np_proto */
    uint16_t port;
    const np_source *source;
    const char *note;       /* NULL when absent */
    const char *profile_id; /* the platform profile stating it */
} np_alt_port;

typedef struct np_profile {
    const char *id, *name;
    int kind;           /* enum np_profile_kind */
    unsigned platforms; /* bit set, non-empty */
    const char *const *aliases;
    size_t n_aliases;
    const char *const *base;
    size_t n_base;
    const np_rule *inbound;
    size_t n_inbound;
    const np_rule *outbound;
    size_t n_outbound;
    const np_source *sources;
    size_t n_sources;
    const np_alt_port *alt_ports; /* facts.alternate_external_port */
    size_t n_alt_ports;
    int self_maps_with_upnp; /* facts: 1 true, 0 false, -1 not stated */
    const char *checked;     /* "YYYY-MM-DD" */
    const char *notes;       /* NULL when absent */
    int layer;               /* enum np_layer it was loaded from */
    const char *file;        /* display name of the file */
    const np_deprecated_port *deprecated;
    size_t n_deprecated;
} np_profile;

/* --- catalog ------------------------------------------------------------ */

typedef struct np_catalog np_catalog;

/* A new empty catalog, or NULL when out of memory. */
np_catalog *np_catalog_new(void);
/* Free the catalog and every profile in it. Accepts NULL. */
void np_catalog_free(np_catalog *cat);

/*
 * Load the catalog compiled into the binary as NP_LAYER_EMBEDDED. Problems
 * go to diags (may be NULL). Returns NP_OK, NP_EINVALID when a file had
 * errors (the others are loaded) or NP_ENOMEM.
 */
int np_catalog_load_embedded(np_catalog *cat, np_diags *diags, np_error *err);

/* Number of files compiled into the binary. */
size_t np_catalog_embedded_count(void);

/*
 * Load every *.json under dir (recursively; dot files and schema.json /
 * TEMPLATE.json and official-domains.json skipped) as layer. Files in a
 * directory named "platforms" must be kind platform, in "games" kind game.
 * Display names are the paths as found (dir + "/" + relative path). A missing
 * dir is NP_ENOTFOUND (nothing added); unreadable files are diagnostics.
 * Returns NP_OK, NP_EINVALID when some file had errors, NP_ENOTFOUND, NP_ESYS,
 * NP_ENOMEM.
 */
int np_catalog_load_dir(np_catalog *cat, const char *dir, int layer,
                        np_diags *diags, np_error *err);

/*
 * Load one file (path on disk) as layer; same rules as load_dir. Returns
 * NP_OK, NP_EINVALID (errors in diags; nothing added), NP_ESYS, NP_ENOMEM.
 */
int np_catalog_load_file(np_catalog *cat, const char *path, int layer,
                         np_diags *diags, np_error *err);

/*
 * Parse and validate one profile from memory. name is the display name used
 * in diagnostics and for the checks against the file name: the id must
 * equal its base name without .json, and when its directory is named
 * "platforms" or "games" the kind must match ("games/foo.json": id "foo",
 * kind game). text need not be NUL-terminated. On success the profile is
 * added to cat as layer (see np_catalog_load_dir for replacement); with cat
 * NULL it is only validated. Returns NP_OK, NP_EINVALID (diagnostics in
 * diags, nothing added) or NP_ENOMEM.
 */
int np_catalog_load_buffer(np_catalog *cat, const char *name, const char *text,
                           size_t len, int layer, np_diags *diags,
                           np_error *err);

/*
 * Cross-file checks over the whole catalog: every base exists, bases are
 * acyclic, a base's platforms intersect the profile's, and no two games of
 * different ids share a name (compared lower-case, letters and digits
 * only: "Rust" and "RUST!" are the same game). Only profiles from layers
 * >= min_layer are reported. Returns NP_OK, NP_EINVALID or NP_ENOMEM.
 */
int np_catalog_check(const np_catalog *cat, int min_layer, np_diags *diags);

/*
 * The user layer's directory: $XDG_DATA_HOME/natpilot/profiles, else
 * $HOME/.local/share/natpilot/profiles. NP_OK, NP_ENOTFOUND (neither
 * variable set) or NP_EBUFSIZE. The directory may not exist.
 */
int np_catalog_user_dir(char *buf, size_t size);

/*
 * The usual stack: the embedded catalog, then the user directory (when it
 * exists), then custom_dir (NULL for none; it must exist), then
 * np_catalog_check. Invalid files are skipped and reported in diags.
 * Returns NP_OK, NP_EINVALID (some diagnostics are errors; the valid
 * profiles are loaded), NP_ENOTFOUND (custom_dir missing), NP_ENOMEM.
 */
int np_catalog_load_default(np_catalog *cat, const char *custom_dir,
                            np_diags *diags, np_error *err);

/* Number of profiles, and the i-th in id order (NULL when out of range). */
size_t np_catalog_count(const np_catalog *cat);
const np_profile *np_catalog_at(const np_catalog *cat, size_t i);

/* The profile with this id, or NULL. */
const np_profile *np_catalog_find(const np_catalog *cat, const char *id);

/* --- search ------------------------------------------------------------- */

typedef struct np_search_hit {
    const np_profile *profile;
    double score; /* higher is better; words matched + mean similarity */
    unsigned words_matched;
} np_search_hit;

/*
 * Search by words over ids, names and aliases, forgiving typos (optimal
 * string alignment distance, prefixes, aliases like "cod"). A query that,
 * squeezed to its letters and digits, equals a whole alias, name or id
 * ("gta 5" = alias "gta 5" or "GTA5") ranks first. Profiles not
 * listing a platform in the platforms filter are skipped (0 = no filter).
 * Writes up to max hits, best first, to hits (caller's array); *n_hits is
 * set to how many. Returns NP_OK or NP_EINVAL.
 */
int np_catalog_search(const np_catalog *cat, const char *const *words,
                      size_t n_words, unsigned platforms, np_search_hit *hits,
                      size_t max, size_t *n_hits);

/* --- resolve ------------------------------------------------------------ */

typedef struct np_resolved {
    np_rule *inbound; /* flat, de-duplicated; strings point into catalog */
    size_t n_inbound;
    np_rule *outbound;
    size_t n_outbound;
    np_alt_port *alt_ports; /* platform facts of the resolved profiles */
    size_t n_alt_ports;
    bool self_maps_with_upnp;    /* a resolved platform profile says so */
    const np_profile **profiles; /* resolution order: bases first */
    size_t n_profiles;
    unsigned platform; /* the device platform asked for (0 = any) */
} np_resolved;

/*
 * Resolve profile ids for a device platform (one NP_PLAT_* bit, or 0 for no
 * filter). Each id's bases are followed recursively (a base applies only if
 * its platforms include the platform), every profile appears once, bases
 * before the profiles built on them. Rules whose platforms exclude the
 * platform are dropped. A rule with the same protocol and the same port
 * ranges as an earlier one is dropped (the earlier one is kept, and marked
 * essential if either was). Broad rules are kept (with broad = true): the
 * caller must not map them.
 *
 * On NP_OK *out is a new np_resolved the caller frees with
 * np_resolved_free; its rules point into cat (keep cat alive). Errors:
 * NP_ENOTFOUND (unknown id or base; err names it), NP_EUNSUPP (a requested
 * profile does not list the platform), NP_EINVALID (cyclic bases),
 * NP_EINVAL, NP_ENOMEM.
 */
int np_resolve(const np_catalog *cat, const char *const *ids, size_t n_ids,
               unsigned platform, np_resolved **out, np_error *err);

/* Free a resolution. Accepts NULL. */
void np_resolved_free(np_resolved *res);

/* Number of ports a rule covers (sum of its ranges). */
uint32_t np_rule_port_count(const np_rule *rule);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_PROFILE_H */
