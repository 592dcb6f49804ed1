/*
 * natpilot: the profile catalog — storage, layers (embedded, user
 * directory, --profiles), loading from memory, files and directories, and
 * the cross-file checks (unknown and cyclic bases).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "np_profile_int.h"
#include "np_util.h"

#define MAX_DIR_DEPTH  8
#define MAX_BASE_DEPTH 64

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

np_catalog *np_catalog_new(void)
{
    np_catalog *cat = calloc(1, sizeof(*cat));

    if (cat != NULL)
        cat->sorted = 1;
    return cat;
}

void np_catalog_free(np_catalog *cat)
{
    size_t i;

    if (cat == NULL)
        return;
    for (i = 0; i < cat->n; i++)
        np__prof_free(cat->profs[i]);
    free(cat->profs);
    free(cat->hash);
    free(cat);
}

static np__prof **hash_slot(const np_catalog *cat, const char *id)
{
    size_t mask = cat->hcap - 1;
    size_t i = (size_t)hash_id(id) & mask;

    while (cat->hash[i] != NULL && strcmp(cat->hash[i]->pub.id, id) != 0)
        i = (i + 1) & mask;
    return &cat->hash[i];
}

static int hash_grow(np_catalog *cat)
{
    size_t ncap = cat->hcap ? cat->hcap * 2 : 64, i;
    np__prof **old = cat->hash;
    size_t ocap = cat->hcap;

    cat->hash = calloc(ncap, sizeof(*cat->hash));
    if (cat->hash == NULL) {
        cat->hash = old;
        return NP_ENOMEM;
    }
    cat->hcap = ncap;
    for (i = 0; i < ocap; i++)
        if (old[i] != NULL)
            *hash_slot(cat, old[i]->pub.id) = old[i];
    free(old);
    return NP_OK;
}

const np_profile *np_catalog_find(const np_catalog *cat, const char *id)
{
    if (cat == NULL || id == NULL || cat->hcap == 0)
        return NULL;
    return (const np_profile *)*hash_slot(cat, id);
}

static int cmp_prof(const void *a, const void *b)
{
    const np__prof *x = *(np__prof *const *)a, *y = *(np__prof *const *)b;

    return strcmp(x->pub.id, y->pub.id);
}

static void sort_catalog(np_catalog *cat)
{
    size_t i;

    if (cat->sorted)
        return;
    qsort(cat->profs, cat->n, sizeof(*cat->profs), cmp_prof);
    for (i = 0; i < cat->n; i++)
        cat->profs[i]->idx = i;
    cat->sorted = 1;
}

size_t np_catalog_count(const np_catalog *cat)
{
    return cat ? cat->n : 0;
}

const np_profile *np_catalog_at(const np_catalog *cat, size_t i)
{
    if (cat == NULL || i >= cat->n)
        return NULL;
    return &cat->profs[i]->pub;
}

/*
 * Add p (ownership transferred, also on failure). A profile of the same id
 * from a lower layer is replaced in place; one from the same layer is a
 * duplicate (reported, p dropped).
 */
static int catalog_add(np_catalog *cat, np__prof *p, np_diags *diags)
{
    np__prof **slot;

    if (cat->hcap == 0 || (cat->n + 1) * 2 > cat->hcap) {
        if (hash_grow(cat) != NP_OK) {
            np__prof_free(p);
            return NP_ENOMEM;
        }
    }
    slot = hash_slot(cat, p->pub.id);
    if (*slot != NULL) {
        np__prof *old = *slot;
        if (old->pub.layer > p->pub.layer) {
            np__prof_free(p); /* a higher layer already has it */
            return NP_OK;
        }
        if (old->pub.layer == p->pub.layer) {
            int r = np__diag_add(diags, NP_DIAG_ERROR, p->pub.file, p->id_line,
                                 p->id_col, "/id",
                                 "duplicate id \"%s\": also defined in %s",
                                 p->pub.id, old->pub.file);
            np__prof_free(p);
            return r == NP_OK ? NP_EINVALID : r;
        }
        /* Replace in place: the array and hash keep pointing at old. */
        p->idx = old->idx;
        np__arena_free(&old->arena);
        *old = *p;
        free(p);
        return NP_OK;
    }
    if (cat->n == cat->cap) {
        size_t ncap = cat->cap ? cat->cap * 2 : 64;
        np__prof **np = realloc(cat->profs, ncap * sizeof(*np));
        if (np == NULL) {
            np__prof_free(p);
            return NP_ENOMEM;
        }
        cat->profs = np;
        cat->cap = ncap;
    }
    p->idx = cat->n;
    cat->profs[cat->n++] = p;
    *slot = p;
    cat->sorted = 0;
    return NP_OK;
}

static int load_buffer(np_catalog *cat, const char *name, const char *text,
                       size_t len, int layer, np_diags *diags)
{
    np__prof *p = NULL;
    int r = np__profile_parse(name, text, len, layer, -1, diags, &p);

    if (r != NP_OK)
        return r;
    if (cat == NULL) {
        np__prof_free(p);
        return NP_OK;
    }
    return catalog_add(cat, p, diags);
}

int np_catalog_load_buffer(np_catalog *cat, const char *name, const char *text,
                           size_t len, int layer, np_diags *diags,
                           np_error *err)
{
    int r;

    if (name == NULL || (text == NULL && len > 0))
        return np_error_set(err, NP_EINVAL, NULL, "no profile text");
    r = load_buffer(cat, name, text ? text : "", len, layer, diags);
    if (cat != NULL)
        sort_catalog(cat);
    if (r == NP_ENOMEM)
        return np_error_set(err, r, name, "out of memory");
    if (r == NP_EINVALID)
        return np_error_set(err, r, name, "the profile has errors");
    return r;
}

size_t np_catalog_embedded_count(void)
{
    return np__embedded_count;
}

int np_catalog_load_embedded(np_catalog *cat, np_diags *diags, np_error *err)
{
    size_t i;
    int bad = 0;

    if (cat == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no catalog");
    for (i = 0; i < np__embedded_count; i++) {
        const np__embedded_file *f = &np__embedded_files[i];
        int r = load_buffer(cat, f->name, (const char *)f->data, f->size,
                            NP_LAYER_EMBEDDED, diags);
        if (r == NP_ENOMEM) {
            sort_catalog(cat);
            return np_error_set(err, r, f->name, "out of memory");
        }
        if (r != NP_OK)
            bad = 1;
    }
    sort_catalog(cat);
    if (bad)
        return np_error_set(err, NP_EINVALID, "embedded catalog",
                            "some embedded profiles have errors");
    return NP_OK;
}

static int load_path(np_catalog *cat, const char *path, int layer,
                     np_diags *diags)
{
    char *text;
    size_t len;
    np_error ferr;
    int r;

    r = np__file_load(path, NP_PROFILE_MAX_BYTES, &text, &len, &ferr);
    if (r == NP_ESYS || r == NP_ENOTFOUND) {
        r = np__diag_add(
            diags, NP_DIAG_ERROR, path, 0, 0, "", "cannot read: %s",
            r == NP_ESYS ? strerror(ferr.sys_errno) : "no such file");
        return r == NP_OK ? NP_EINVALID : r;
    }
    if (r == NP_ETOOBIG) {
        r = np__diag_add(diags, NP_DIAG_ERROR, path, 0, 0, "",
                         "file is larger than the limit of %d bytes",
                         NP_PROFILE_MAX_BYTES);
        return r == NP_OK ? NP_EINVALID : r;
    }
    if (r != NP_OK)
        return r;
    r = load_buffer(cat, path, text, len, layer, diags);
    free(text);
    return r;
}

int np_catalog_load_file(np_catalog *cat, const char *path, int layer,
                         np_diags *diags, np_error *err)
{
    int r;

    if (path == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no path");
    r = load_path(cat, path, layer, diags);
    if (cat != NULL)
        sort_catalog(cat);
    if (r == NP_ENOMEM)
        return np_error_set(err, r, path, "out of memory");
    if (r == NP_EINVALID)
        return np_error_set(err, r, path, "the profile has errors");
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int skip_name(const char *name)
{
    return name[0] == '.' || strcmp(name, "schema.json") == 0 ||
           strcmp(name, "TEMPLATE.json") == 0 ||
           strcmp(name, "official-domains.json") == 0;
}

static int ends_json(const char *name)
{
    size_t n = strlen(name);

    return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Load dir recursively, in name order. *bad is set when a file had errors. */
static int load_tree(np_catalog *cat, const char *dir, int layer,
                     np_diags *diags, unsigned depth, int *bad)
{
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int r = NP_OK;

    if (depth > MAX_DIR_DEPTH)
        return NP_OK;
    d = opendir(dir);
    if (d == NULL) {
        r = np__diag_add(diags, NP_DIAG_ERROR, dir, 0, 0, "",
                         "cannot open directory: %s", strerror(errno));
        *bad = 1;
        return r;
    }
    while ((de = readdir(d)) != NULL) {
        if (skip_name(de->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (nn == NULL) {
                r = NP_ENOMEM;
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = malloc(strlen(de->d_name) + 1);
        if (names[n] == NULL) {
            r = NP_ENOMEM;
            goto out;
        }
        memcpy(names[n], de->d_name, strlen(de->d_name) + 1);
        n++;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_str);
    for (i = 0; i < n && r != NP_ENOMEM; i++) {
        char path[4096];
        struct stat st;
        size_t dl = strlen(dir);
        int w = snprintf(path, sizeof(path), "%s%s%s", dir,
                         dl > 0 && dir[dl - 1] == '/' ? "" : "/", names[i]);
        if (w < 0 || (size_t)w >= sizeof(path))
            continue;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            r = load_tree(cat, path, layer, diags, depth + 1, bad);
        } else if (S_ISREG(st.st_mode) && ends_json(names[i])) {
            int lr = load_path(cat, path, layer, diags);
            if (lr == NP_ENOMEM)
                r = lr;
            else if (lr != NP_OK)
                *bad = 1;
        }
    }
out:
    closedir(d);
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

int np_catalog_load_dir(np_catalog *cat, const char *dir, int layer,
                        np_diags *diags, np_error *err)
{
    struct stat st;
    int bad = 0, r;

    if (dir == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no directory");
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return np_error_set(err, NP_ENOTFOUND, dir, "no such directory");
        return np_error_sys(err, errno, dir, "cannot open");
    }
    if (!S_ISDIR(st.st_mode))
        return np_error_set(err, NP_EINVAL, dir, "not a directory");
    r = load_tree(cat, dir, layer, diags, 0, &bad);
    if (cat != NULL)
        sort_catalog(cat);
    if (r == NP_ENOMEM)
        return np_error_set(err, r, dir, "out of memory");
    if (r != NP_OK)
        return np_error_set(err, r, dir, "loading failed");
    if (bad)
        return np_error_set(err, NP_EINVALID, dir, "some profiles have errors");
    return NP_OK;
}

/* --- cross-file checks ------------------------------------------------- */

typedef struct check_ctx {
    const np_catalog *cat;
    unsigned char *color; /* 0 white, 1 on the stack, 2 done */
    const np__prof **stack;
    size_t depth;
    int min_layer;
    np_diags *diags;
    int bad;
    int oom;
} check_ctx;

static void check_visit(check_ctx *c, const np__prof *p)
{
    size_t i;

    c->color[p->idx] = 1;
    c->stack[c->depth++] = p;
    for (i = 0; i < p->pub.n_base; i++) {
        const np__prof *b =
            (const np__prof *)np_catalog_find(c->cat, p->pub.base[i]);
        char path[32];
        snprintf(path, sizeof(path), "/base/%zu", i);
        if (b == NULL) {
            if (p->pub.layer >= c->min_layer) {
                if (np__diag_add(c->diags, NP_DIAG_ERROR, p->pub.file,
                                 p->base_line[i], p->base_col[i], path,
                                 "unknown base profile \"%s\"",
                                 p->pub.base[i]) != NP_OK)
                    c->oom = 1;
                c->bad = 1;
            }
            continue;
        }
        if (p->pub.layer >= c->min_layer &&
            (b->pub.platforms & p->pub.platforms) == 0) {
            if (np__diag_add(c->diags, NP_DIAG_WARNING, p->pub.file,
                             p->base_line[i], p->base_col[i], path,
                             "base \"%s\" shares no platform with this "
                             "profile, so it never applies",
                             b->pub.id) != NP_OK)
                c->oom = 1;
        }
        if (c->color[b->idx] == 1) {
            char chain[512];
            size_t k, start = 0, cl = 0;
            for (k = 0; k < c->depth; k++)
                if (c->stack[k] == b)
                    start = k;
            chain[0] = '\0';
            for (k = start; k < c->depth; k++) {
                int w = snprintf(chain + cl, sizeof(chain) - cl, "%s -> ",
                                 c->stack[k]->pub.id);
                if (w > 0 && cl + (size_t)w < sizeof(chain))
                    cl += (size_t)w;
            }
            if (np__diag_add(c->diags, NP_DIAG_ERROR, p->pub.file,
                             p->base_line[i], p->base_col[i], path,
                             "cyclic base: %s%s", chain, b->pub.id) != NP_OK)
                c->oom = 1;
            c->bad = 1;
            continue;
        }
        if (c->color[b->idx] == 0) {
            if (c->depth >= MAX_BASE_DEPTH) {
                if (np__diag_add(c->diags, NP_DIAG_ERROR, p->pub.file,
                                 p->base_line[i], p->base_col[i], path,
                                 "bases nest deeper than %d profiles",
                                 MAX_BASE_DEPTH) != NP_OK)
                    c->oom = 1;
                c->bad = 1;
                continue;
            }
            check_visit(c, b);
        }
    }
    c->depth--;
    c->color[p->idx] = 2;
}

/* A game's name lower-cased, letters and digits only ("Rust" = "RUST!"). */
typedef struct name_key {
    char norm[64];
    const np__prof *p;
} name_key;

static void norm_name(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; *s != '\0' && n + 1 < size; s++) {
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            (unsigned char)ch >= 0x80)
            out[n++] = ch;
    }
    out[n] = '\0';
}

static int cmp_name_key(const void *a, const void *b)
{
    const name_key *x = a, *y = b;
    int r = strcmp(x->norm, y->norm);

    return r != 0 ? r : strcmp(x->p->pub.id, y->p->pub.id);
}

/* Two games of different ids with the same normalised name: the second
 * (by id) is reported when its layer is checked. */
static int check_names(const np_catalog *cat, int min_layer, np_diags *diags,
                       int *bad)
{
    name_key *k = calloc(cat->n, sizeof(*k));
    size_t i, n = 0;

    if (k == NULL)
        return NP_ENOMEM;
    for (i = 0; i < cat->n; i++) {
        const np__prof *p = cat->profs[i];
        if (p->pub.kind != NP_KIND_GAME || p->pub.name == NULL)
            continue;
        norm_name(p->pub.name, k[n].norm, sizeof(k[n].norm));
        k[n].p = p;
        if (k[n].norm[0] != '\0')
            n++;
    }
    qsort(k, n, sizeof(*k), cmp_name_key);
    for (i = 1; i < n; i++) {
        const np__prof *a = k[i - 1].p, *b = k[i].p;
        if (strcmp(k[i - 1].norm, k[i].norm) != 0)
            continue;
        if (a->pub.layer < min_layer && b->pub.layer < min_layer)
            continue;
        if (np__diag_add(diags, NP_DIAG_ERROR, b->pub.file, 0, 0, "/name",
                         "duplicate game: \"%s\" has the same name as "
                         "\"%s\" (%s); merge them, or make one an alias",
                         b->pub.id, a->pub.id, a->pub.file) != NP_OK) {
            free(k);
            return NP_ENOMEM;
        }
        *bad = 1;
    }
    free(k);
    return NP_OK;
}

int np_catalog_check(const np_catalog *cat, int min_layer, np_diags *diags)
{
    check_ctx c;
    size_t i;

    if (cat == NULL || cat->n == 0)
        return NP_OK;
    memset(&c, 0, sizeof(c));
    c.cat = cat;
    c.min_layer = min_layer;
    c.diags = diags;
    c.color = calloc(cat->n, 1);
    c.stack = calloc(MAX_BASE_DEPTH + 1, sizeof(*c.stack));
    if (c.color == NULL || c.stack == NULL) {
        free(c.color);
        free(c.stack);
        return NP_ENOMEM;
    }
    /* idx must be the position in profs: np_catalog_* keeps it sorted. */
    for (i = 0; i < cat->n; i++)
        if (c.color[i] == 0)
            check_visit(&c, cat->profs[i]);
    free(c.color);
    free(c.stack);
    if (c.oom)
        return NP_ENOMEM;
    if (check_names(cat, min_layer, diags, &c.bad) != NP_OK)
        return NP_ENOMEM;
    return c.bad ? NP_EINVALID : NP_OK;
}

int np_catalog_user_dir(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;

    if (buf == NULL || size == 0)
        return NP_EINVAL;
    buf[0] = '\0';
    /* XDG: a relative XDG_DATA_HOME is invalid and must be ignored. */
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, size, "%s/natpilot/profiles", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(buf, size, "%s/.local/share/natpilot/profiles", home);
    else
        return NP_ENOTFOUND;
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return NP_EBUFSIZE;
    }
    return NP_OK;
}

int np_catalog_load_default(np_catalog *cat, const char *custom_dir,
                            np_diags *diags, np_error *err)
{
    char user[4096];
    int r, bad = 0;
    struct stat st;

    if (cat == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no catalog");
    r = np_catalog_load_embedded(cat, diags, err);
    if (r == NP_ENOMEM)
        return r;
    bad |= r != NP_OK;
    if (np_catalog_user_dir(user, sizeof(user)) == NP_OK &&
        stat(user, &st) == 0 && S_ISDIR(st.st_mode)) {
        r = np_catalog_load_dir(cat, user, NP_LAYER_USER, diags, err);
        if (r == NP_ENOMEM)
            return r;
        bad |= r != NP_OK;
    }
    if (custom_dir != NULL) {
        r = np_catalog_load_dir(cat, custom_dir, NP_LAYER_CUSTOM, diags, err);
        if (r == NP_ENOMEM || r == NP_ENOTFOUND || r == NP_ESYS ||
            r == NP_EINVAL)
            return r;
        bad |= r != NP_OK;
    }
    r = np_catalog_check(cat, NP_LAYER_EMBEDDED, diags);
    if (r == NP_ENOMEM)
        return np_error_set(err, r, NULL, "out of memory");
    bad |= r != NP_OK;
    if (bad)
        return np_error_set(err, NP_EINVALID, NULL,
                            "some profiles have errors and were skipped");
    return NP_OK;
}
