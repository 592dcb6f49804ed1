/*
 * natpilot: parse and validate one profile (format: docs/profiles.md,
 * schema 1). The text is scanned twice: np__jpos_scan checks the syntax and
 * records where each value starts, cJSON builds the values; the validator
 * walks both in lock step so each diagnostic names file:line:col and the
 * JSON pointer of the value it is about.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "np_jsonpos.h"
#include "np_profile_int.h"

/* --- names ----------------------------------------------------------------*/

static const char *const platform_names[] = {"xbox", "playstation", "switch",
                                             "pc"};
static const char *const proto_names[] = {"udp", "tcp"};
static const char *const role_names[] = {"peer-to-peer", "game-server",
                                         "service", "voice"};
static const char *const conf_names[] = {"high", "medium", "low"};
static const char *const kind_names[] = {"platform", "game"};
static const char *const layer_names[] = {"embedded", "user", "custom",
                                          "check"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n ? names[v] : "?";
}

const char *np_platform_name(unsigned platform)
{
    size_t i;

    for (i = 0; i < COUNT(platform_names); i++)
        if (platform == (1u << i))
            return platform_names[i];
    return NULL;
}

int np_platform_parse(const char *name, unsigned *out)
{
    size_t i;

    if (name == NULL || out == NULL)
        return NP_EINVAL;
    for (i = 0; i < COUNT(platform_names); i++) {
        if (strcmp(name, platform_names[i]) == 0) {
            *out = 1u << i;
            return NP_OK;
        }
    }
    return NP_EINVAL;
}

const char *np_proto_name(int proto)
{
    return name_of(proto_names, COUNT(proto_names), proto);
}
const char *np_role_name(int role)
{
    return name_of(role_names, COUNT(role_names), role);
}
const char *np_confidence_name(int confidence)
{
    return name_of(conf_names, COUNT(conf_names), confidence);
}
const char *np_kind_name(int kind)
{
    return name_of(kind_names, COUNT(kind_names), kind);
}
const char *np_layer_name(int layer)
{
    return name_of(layer_names, COUNT(layer_names), layer);
}

uint32_t np_rule_port_count(const np_rule *rule)
{
    uint32_t n = 0;
    size_t i;

    for (i = 0; rule != NULL && i < rule->n_ports; i++)
        n += (uint32_t)rule->ports[i].hi - rule->ports[i].lo + 1;
    return n;
}

/* --- arena ----------------------------------------------------------------*/

struct np__arena_blk {
    np__arena_blk *next;
    size_t used, cap;
    max_align_t data[];
};

void *np__arena_alloc(np__arena *a, size_t size)
{
    np__arena_blk *b = a->head;
    size_t al = sizeof(max_align_t);
    void *p;

    size = (size + al - 1) / al * al;
    if (size == 0)
        size = al;
    if (b == NULL || b->cap - b->used < size) {
        size_t cap = a->next_size ? a->next_size : 512;
        if (cap < size)
            cap = size;
        b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
        if (a->next_size < 64 * 1024)
            a->next_size = cap * 2;
    }
    p = (char *)b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *np__arena_strdup(np__arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = np__arena_alloc(a, n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

void np__arena_free(np__arena *a)
{
    np__arena_blk *b = a->head, *next;

    for (; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
    a->next_size = 0;
}

void np__prof_free(np__prof *p)
{
    if (p == NULL)
        return;
    np__arena_free(&p->arena);
    free(p);
}

/* --- diagnostics ----------------------------------------------------------*/

void np_diags_init(np_diags *d)
{
    if (d != NULL)
        memset(d, 0, sizeof(*d));
}

void np_diags_free(np_diags *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].path);
        free(d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof(*d));
}

const char *np_diag_format(const np_diag *diag, char *buf, size_t size)
{
    const char *sev = diag->severity == NP_DIAG_WARNING ? "warning: " : "";

    if (size == 0)
        return buf;
    if (diag->line > 0)
        snprintf(buf, size, "%s:%u:%u: %s%s%s%s", diag->file, diag->line,
                 diag->col, diag->path, diag->path[0] ? ": " : "", sev,
                 diag->message);
    else
        snprintf(buf, size, "%s: %s%s%s%s", diag->file, diag->path,
                 diag->path[0] ? ": " : "", sev, diag->message);
    return buf;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

int np__diag_vadd(np_diags *d, int severity, const char *file, unsigned line,
                  unsigned col, const char *path, const char *fmt, va_list ap)
{
    char msg[512];
    np_diag *it;

    if (d == NULL)
        return NP_OK;
    if (d->count == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 16;
        np_diag *ni = realloc(d->items, ncap * sizeof(*ni));
        if (ni == NULL)
            return NP_ENOMEM;
        d->items = ni;
        d->cap = ncap;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    it = &d->items[d->count];
    it->severity = severity;
    it->line = line;
    it->col = col;
    it->file = xstrdup(file ? file : "");
    it->path = xstrdup(path ? path : "");
    it->message = xstrdup(msg);
    if (it->file == NULL || it->path == NULL || it->message == NULL) {
        free(it->file);
        free(it->path);
        free(it->message);
        return NP_ENOMEM;
    }
    d->count++;
    if (severity == NP_DIAG_ERROR)
        d->errors++;
    return NP_OK;
}

int np__diag_add(np_diags *d, int severity, const char *file, unsigned line,
                 unsigned col, const char *path, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = np__diag_vadd(d, severity, file, line, col, path, fmt, ap);
    va_end(ap);
    return r;
}

/* --- string distance (also used by search) --------------------------------*/

unsigned np__osa_distance_max(const char *a, size_t la, const char *b,
                              size_t lb, unsigned max)
{
    unsigned char d[64][64];
    size_t i, j;

    if (la > 63 || lb > 63)
        return 255;
    if (max > 254)
        max = 254;
    /* The distance is at least the difference in length. */
    if ((la > lb ? la - lb : lb - la) > max)
        return max + 1;
    for (i = 0; i <= la; i++)
        d[i][0] = (unsigned char)i;
    for (j = 0; j <= lb; j++)
        d[0][j] = (unsigned char)j;
    for (i = 1; i <= la; i++) {
        unsigned row_min = 255;
        for (j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned v = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < v)
                v = d[i][j - 1] + 1u;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < v)
                v = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)v;
            if (v < row_min)
                row_min = v;
        }
        /* Every later cell is at least the smallest of this row minus one
         * (a transposition reaches back two rows), so stop once even that
         * is over max. */
        if (lb > 0 && row_min > max + 1)
            return max + 1;
    }
    return d[la][lb] > max ? max + 1 : d[la][lb];
}

unsigned np__osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
    return np__osa_distance_max(a, la, b, lb, 254);
}

/* --- the validator --------------------------------------------------------*/

typedef struct vctx {
    np_diags *diags;
    const char *file;
    const char *text;
    size_t len;
    const np__jpos *jp;
    char path[512];
    size_t plen;
    size_t first; /* index of this file's first diagnostic */
    unsigned ndiag;
    unsigned errors;
    int oom;
    np__prof *p;
    /* The last position turned into line:col; diagnostics and recorded
     * positions mostly come in file order, so the next one scans on from
     * here instead of from the start (which made many diagnostics in a
     * large file quadratic). */
    size_t lc_off;
    unsigned lc_line, lc_col;
} vctx;

static void linecol(vctx *c, size_t off, unsigned *line, unsigned *col)
{
    size_t i;
    unsigned l, k;

    if (off > c->len)
        off = c->len;
    if (off < c->lc_off) {
        c->lc_off = 0;
        c->lc_line = 1;
        c->lc_col = 1;
    }
    l = c->lc_line;
    k = c->lc_col;
    for (i = c->lc_off; i < off; i++) {
        if (c->text[i] == '\n') {
            l++;
            k = 1;
        } else {
            k++;
        }
    }
    c->lc_off = off;
    c->lc_line = *line = l;
    c->lc_col = *col = k;
}

/* A JSON value and its position node, walked together. */
typedef struct jv {
    const cJSON *v;
    uint32_t n;
} jv;

/* The position node n; the root for an index out of range. The scanner and
 * cJSON build trees of the same shape from text both accept, so this is
 * only a guard. */
static const np__jnode *node(const vctx *c, uint32_t n)
{
    return n < c->jp->n ? &c->jp->nodes[n] : &c->jp->nodes[0];
}

static jv jv_child(const vctx *c, jv x)
{
    jv r = {x.v ? x.v->child : NULL, node(c, x.n)->child};
    return r;
}

static jv jv_next(const vctx *c, jv x)
{
    jv r = {x.v->next, node(c, x.n)->next};
    return r;
}

__attribute__((format(printf, 4, 0))) static void
vdiag(vctx *c, int sev, size_t off, const char *fmt, va_list ap)
{
    unsigned line, col;

    if (c->oom)
        return;
    if (c->ndiag == NP_PROFILE_MAX_DIAGS) {
        c->ndiag++;
        if (np__diag_add(c->diags, NP_DIAG_ERROR, c->file, 0, 0, "",
                         "too many problems; stopped reporting after %u",
                         (unsigned)NP_PROFILE_MAX_DIAGS) != NP_OK)
            c->oom = 1;
        c->errors++;
        return;
    }
    if (sev == NP_DIAG_ERROR)
        c->errors++;
    if (c->ndiag > NP_PROFILE_MAX_DIAGS)
        return;
    c->ndiag++;
    linecol(c, off, &line, &col);
    if (np__diag_vadd(c->diags, sev, c->file, line, col, c->path, fmt, ap) !=
        NP_OK)
        c->oom = 1;
}

/* An error about the value at node n (current path). */
__attribute__((format(printf, 3, 4))) static void err_at(vctx *c, uint32_t n,
                                                         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiag(c, NP_DIAG_ERROR, node(c, n)->off, fmt, ap);
    va_end(ap);
}

/* An error about the key of the member at node n (current path). */
__attribute__((format(printf, 3, 4))) static void err_key(vctx *c, uint32_t n,
                                                          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiag(c, NP_DIAG_ERROR, node(c, n)->key_off, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void warn_at(vctx *c, uint32_t n,
                                                          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiag(c, NP_DIAG_WARNING, node(c, n)->off, fmt, ap);
    va_end(ap);
}

static size_t push_key(vctx *c, const char *key)
{
    return np__jptr_push_key(c->path, sizeof(c->path), &c->plen, key);
}

static size_t push_idx(vctx *c, size_t idx)
{
    return np__jptr_push_idx(c->path, sizeof(c->path), &c->plen, idx);
}

static void pop(vctx *c, size_t old)
{
    np__jptr_pop(c->path, &c->plen, old);
}

typedef struct keyspec {
    const char *name;
    int required;
} keyspec;

#define MAX_KEYS 16

/*
 * Collect the members of object x named in ks into found[] (in ks order);
 * report unknown keys (with the closest known one), duplicates and missing
 * required keys. Returns 0 when x is not an object (reported).
 */
static int members(vctx *c, jv x, const keyspec *ks, size_t nk, jv *found)
{
    jv m;
    size_t k;

    for (k = 0; k < nk; k++) {
        found[k].v = NULL;
        found[k].n = NP__JNONE;
    }
    if (!cJSON_IsObject(x.v)) {
        err_at(c, x.n, "expected an object, found %s", np__json_type_name(x.v));
        return 0;
    }
    for (m = jv_child(c, x); m.v != NULL; m = jv_next(c, m)) {
        const char *key = m.v->string ? m.v->string : "";
        size_t old;
        for (k = 0; k < nk; k++)
            if (strcmp(key, ks[k].name) == 0)
                break;
        old = push_key(c, key);
        if (k == nk) {
            size_t best = nk, kl = strlen(key);
            unsigned bd = 3;
            /* A prefix ("proto", "platform") beats a small distance. */
            for (k = 0; k < nk && kl >= 3; k++) {
                if (strncmp(key, ks[k].name, kl) == 0 ||
                    strncmp(key, ks[k].name, strlen(ks[k].name)) == 0) {
                    best = k;
                    bd = 0;
                    break;
                }
            }
            if (c->ndiag >= NP_PROFILE_MAX_DIAGS)
                bd = 0; /* not reported anyway: skip the suggestion */
            for (k = 0; k < nk && bd > 0; k++) {
                unsigned d = np__osa_distance_max(key, kl, ks[k].name,
                                                  strlen(ks[k].name), bd - 1);
                if (d < bd) {
                    bd = d;
                    best = k;
                }
            }
            if (best < nk)
                err_key(c, m.n, "unknown key \"%s\" (did you mean \"%s\"?)",
                        key, ks[best].name);
            else
                err_key(c, m.n, "unknown key \"%s\"", key);
        } else if (found[k].v != NULL) {
            err_key(c, m.n, "duplicate key \"%s\"", key);
        } else {
            found[k] = m;
        }
        pop(c, old);
    }
    for (k = 0; k < nk; k++)
        if (ks[k].required && found[k].v == NULL)
            err_at(c, x.n, "missing required key \"%s\"", ks[k].name);
    return 1;
}

/* The string value of x, or NULL (reported) when it is not a non-empty
 * string. Call with the path already pushed. */
static const char *want_string(vctx *c, jv x)
{
    if (!cJSON_IsString(x.v) || x.v->valuestring == NULL) {
        err_at(c, x.n, "expected a string, found %s", np__json_type_name(x.v));
        return NULL;
    }
    if (x.v->valuestring[0] == '\0') {
        err_at(c, x.n, "must not be empty");
        return NULL;
    }
    return x.v->valuestring;
}

static char *dup_string(vctx *c, jv x)
{
    const char *s = want_string(c, x);
    char *d;

    if (s == NULL)
        return NULL;
    d = np__arena_strdup(&c->p->arena, s);
    if (d == NULL)
        c->oom = 1;
    return d;
}

static int want_bool(vctx *c, jv x, bool *out)
{
    if (!cJSON_IsBool(x.v)) {
        err_at(c, x.n, "expected true or false, found %s",
               np__json_type_name(x.v));
        return 0;
    }
    *out = cJSON_IsTrue(x.v);
    return 1;
}

static int enum_value(vctx *c, jv x, const char *const *names, size_t n,
                      const char *what, int *out)
{
    const char *s;
    size_t i;
    char list[160];
    size_t ll = 0;

    if (!cJSON_IsString(x.v)) {
        err_at(c, x.n, "expected a string, found %s", np__json_type_name(x.v));
        return 0;
    }
    s = x.v->valuestring;
    for (i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 1;
        }
    }
    list[0] = '\0';
    for (i = 0; i < n; i++) {
        int w = snprintf(list + ll, sizeof(list) - ll, "%s\"%s\"",
                         i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
        if (w > 0 && ll + (size_t)w < sizeof(list))
            ll += (size_t)w;
    }
    err_at(c, x.n, "bad %s \"%s\": expected %s", what, s, list);
    return 0;
}

static int valid_id(const char *s)
{
    size_t i, n = strlen(s);

    if (n < 2 || n > NP_PROFILE_ID_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* A platform list (non-empty, known names, no duplicates) as a bit set;
 * 0 when anything was wrong (reported). */
static unsigned platform_set(vctx *c, jv x, unsigned allowed)
{
    unsigned set = 0;
    int bad = 0;
    size_t i = 0;
    jv e;

    if (!cJSON_IsArray(x.v)) {
        err_at(c, x.n, "expected an array of platforms, found %s",
               np__json_type_name(x.v));
        return 0;
    }
    if (x.v->child == NULL) {
        err_at(c, x.n, "must list at least one platform");
        return 0;
    }
    for (e = jv_child(c, x); e.v != NULL; e = jv_next(c, e), i++) {
        size_t old = push_idx(c, i);
        int v;
        if (enum_value(c, e, platform_names, COUNT(platform_names), "platform",
                       &v)) {
            unsigned bit = 1u << v;
            if (set & bit) {
                err_at(c, e.n, "duplicate platform \"%s\"", platform_names[v]);
                bad = 1;
            } else if (allowed != 0 && !(allowed & bit)) {
                err_at(c, e.n,
                       "platform \"%s\" is not one of the profile's platforms",
                       platform_names[v]);
                bad = 1;
            }
            set |= bit;
        } else {
            bad = 1;
        }
        pop(c, old);
    }
    return bad ? 0 : set;
}

static int parse_u16(const char *s, size_t n, unsigned long *out)
{
    unsigned long v = 0;
    size_t i;

    if (n == 0 || n > 6 || s[0] == '0')
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    *out = v;
    return 1;
}

/* One entry of "ports": an integer or an "a-b" string. */
static int port_entry(vctx *c, jv e, np_port_range *out)
{
    if (cJSON_IsNumber(e.v)) {
        double d = e.v->valuedouble;
        if (!(d >= -1e15 && d <= 1e15)) { /* before any cast */
            err_at(c, e.n, "port %g is out of range 1-65535", d);
            return 0;
        }
        if (d != (double)(long long)d) {
            err_at(c, e.n, "port must be an integer");
            return 0;
        }
        if (d < 1 || d > 65535) {
            err_at(c, e.n, "port %lld is out of range 1-65535", (long long)d);
            return 0;
        }
        out->lo = out->hi = (uint16_t)d;
        return 1;
    }
    if (cJSON_IsString(e.v)) {
        const char *s = e.v->valuestring;
        const char *dash = strchr(s, '-');
        unsigned long a, b;
        if (dash == NULL || !parse_u16(s, (size_t)(dash - s), &a) ||
            !parse_u16(dash + 1, strlen(dash + 1), &b)) {
            err_at(c, e.n,
                   "malformed port range \"%s\": expected \"a-b\" with "
                   "1 <= a <= b <= 65535",
                   s);
            return 0;
        }
        if (a < 1 || a > 65535 || b < 1 || b > 65535) {
            err_at(c, e.n, "range %s: port %lu is out of range 1-65535", s,
                   (a < 1 || a > 65535) ? a : b);
            return 0;
        }
        if (a > b) {
            err_at(c, e.n, "range %lu-%lu is inverted", a, b);
            return 0;
        }
        out->lo = (uint16_t)a;
        out->hi = (uint16_t)b;
        return 1;
    }
    err_at(c, e.n,
           "expected a port number or an \"a-b\" range string, found %s",
           np__json_type_name(e.v));
    return 0;
}

/* Where each port range of a rule sits, for overlap reports. */
typedef struct rule_pos {
    uint32_t *port_nodes;
    int ok;
} rule_pos;

static const np_source *find_source(const np__prof *p, const char *id)
{
    size_t i;

    for (i = 0; i < p->pub.n_sources; i++)
        if (strcmp(p->pub.sources[i].id, id) == 0)
            return &p->pub.sources[i];
    return NULL;
}

static const keyspec rule_keys[] = {
    {"protocol", 1},   {"ports", 1},   {"platforms", 0},    {"role", 1},
    {"essential", 1},  {"feature", 0}, {"note", 0},         {"source", 1},
    {"confidence", 1}, {"broad", 0},   {"justification", 0}};
enum {
    RK_PROTOCOL,
    RK_PORTS,
    RK_PLATFORMS,
    RK_ROLE,
    RK_ESSENTIAL,
    RK_FEATURE,
    RK_NOTE,
    RK_SOURCE,
    RK_CONFIDENCE,
    RK_BROAD,
    RK_JUSTIFICATION
};

static int parse_rule(vctx *c, jv x, np_rule *r, rule_pos *rp, int inbound,
                      bool *used_sources)
{
    jv f[COUNT(rule_keys)];
    size_t old, i;
    int ok = 1;
    unsigned errors_before = c->errors;

    r->profile_id = c->p->pub.id;
    r->platforms = c->p->pub.platforms;
    if (!members(c, x, rule_keys, COUNT(rule_keys), f))
        return 0;
    if (f[RK_PROTOCOL].v) {
        old = push_key(c, "protocol");
        enum_value(c, f[RK_PROTOCOL], proto_names, COUNT(proto_names),
                   "protocol", &r->protocol);
        pop(c, old);
    }
    if (f[RK_ROLE].v) {
        old = push_key(c, "role");
        enum_value(c, f[RK_ROLE], role_names, COUNT(role_names), "role",
                   &r->role);
        pop(c, old);
    }
    if (f[RK_CONFIDENCE].v) {
        old = push_key(c, "confidence");
        enum_value(c, f[RK_CONFIDENCE], conf_names, COUNT(conf_names),
                   "confidence", &r->confidence);
        pop(c, old);
    }
    if (f[RK_ESSENTIAL].v) {
        old = push_key(c, "essential");
        want_bool(c, f[RK_ESSENTIAL], &r->essential);
        pop(c, old);
    }
    if (f[RK_BROAD].v) {
        old = push_key(c, "broad");
        want_bool(c, f[RK_BROAD], &r->broad);
        pop(c, old);
    }
    if (f[RK_FEATURE].v) {
        old = push_key(c, "feature");
        r->feature = dup_string(c, f[RK_FEATURE]);
        pop(c, old);
    }
    if (f[RK_NOTE].v) {
        old = push_key(c, "note");
        r->note = dup_string(c, f[RK_NOTE]);
        pop(c, old);
    }
    if (f[RK_JUSTIFICATION].v) {
        old = push_key(c, "justification");
        r->justification = dup_string(c, f[RK_JUSTIFICATION]);
        pop(c, old);
    }
    if (f[RK_PLATFORMS].v) {
        old = push_key(c, "platforms");
        r->platforms = platform_set(c, f[RK_PLATFORMS], c->p->pub.platforms);
        pop(c, old);
    }
    if (f[RK_SOURCE].v) {
        const char *s;
        old = push_key(c, "source");
        s = want_string(c, f[RK_SOURCE]);
        if (s != NULL) {
            r->source = find_source(c->p, s);
            if (r->source == NULL)
                err_at(c, f[RK_SOURCE].n,
                       "source \"%s\" is not the id of an entry in /sources",
                       s);
            else
                used_sources[r->source - c->p->pub.sources] = true;
        }
        pop(c, old);
    }
    if (f[RK_PORTS].v) {
        jv pv = f[RK_PORTS], e;
        old = push_key(c, "ports");
        if (!cJSON_IsArray(pv.v)) {
            err_at(c, pv.n, "expected an array of ports, found %s",
                   np__json_type_name(pv.v));
        } else if (pv.v->child == NULL) {
            err_at(c, pv.n, "must list at least one port");
        } else {
            size_t n = (size_t)cJSON_GetArraySize(pv.v);
            np_port_range *pr = np__arena_alloc(&c->p->arena, n * sizeof(*pr));
            rp->port_nodes = calloc(n, sizeof(*rp->port_nodes));
            if (pr == NULL || rp->port_nodes == NULL) {
                c->oom = 1;
                pop(c, old);
                return 0;
            }
            i = 0;
            for (e = jv_child(c, pv); e.v != NULL; e = jv_next(c, e), i++) {
                size_t o2 = push_idx(c, i);
                if (port_entry(c, e, &pr[i]))
                    rp->port_nodes[i] = e.n;
                else
                    ok = 0;
                pop(c, o2);
            }
            r->ports = pr;
            r->n_ports = n;
            if (ok && inbound && !r->broad) {
                uint32_t total = np_rule_port_count(r);
                if (total > NP_PROFILE_BROAD_LIMIT)
                    err_at(c, pv.n,
                           "rule covers %u ports (more than %u) without "
                           "\"broad\": true; this looks like \"forward "
                           "everything\"",
                           (unsigned)total, (unsigned)NP_PROFILE_BROAD_LIMIT);
                for (i = 0; total <= NP_PROFILE_BROAD_LIMIT && i < n &&
                            f[RK_JUSTIFICATION].v == NULL;
                     i++) {
                    unsigned w = (unsigned)pr[i].hi - pr[i].lo + 1u;
                    size_t o2;
                    if (w <= NP_PROFILE_RANGE_MAX)
                        continue;
                    o2 = push_idx(c, i);
                    err_at(c, rp->port_nodes[i],
                           "range %u-%u covers %u ports (more than %u): "
                           "record the maker's own range and quote it in "
                           "\"justification\"",
                           pr[i].lo, pr[i].hi, w,
                           (unsigned)NP_PROFILE_RANGE_MAX);
                    pop(c, o2);
                }
            }
        }
        pop(c, old);
    }
    if (r->broad && r->note == NULL)
        err_at(c, x.n,
               "a broad rule needs a \"note\" saying what natpilot "
               "does instead of mapping the whole range");
    if (r->source != NULL && r->confidence == NP_CONF_HIGH &&
        !r->source->official && f[RK_CONFIDENCE].v)
        warn_at(c, f[RK_CONFIDENCE].n,
                "confidence \"high\" but source \"%s\" is not official",
                r->source->id);
    rp->ok = ok && c->errors == errors_before;
    return rp->ok;
}

static void fmt_range(char *buf, size_t size, const np_port_range *r)
{
    if (r->lo == r->hi)
        snprintf(buf, size, "%u", r->lo);
    else
        snprintf(buf, size, "%u-%u", r->lo, r->hi);
}

/* Report ports of inbound rules of the same protocol that overlap (when the
 * rules share a platform). Broad rules are exempt: they record a source's
 * advice to open a huge range, which the narrower rules refine. */
static void check_overlaps(vctx *c, const np_rule *rules, const rule_pos *rp,
                           size_t n, const char *list)
{
    size_t i, j, a, b;

    for (j = 0; j < n; j++) {
        if (!rp[j].ok || rules[j].broad)
            continue;
        for (b = 0; b < rules[j].n_ports; b++) {
            const np_port_range *y = &rules[j].ports[b];
            int reported = 0;
            for (i = 0; i <= j && !reported; i++) {
                if (!rp[i].ok || rules[i].broad ||
                    rules[i].protocol != rules[j].protocol ||
                    !(rules[i].platforms & rules[j].platforms))
                    continue;
                for (a = 0; a < (i == j ? b : rules[i].n_ports); a++) {
                    const np_port_range *x = &rules[i].ports[a];
                    size_t o1, o2, o3, o4;
                    char xbuf[16], ybuf[16];
                    if (x->hi < y->lo || y->hi < x->lo)
                        continue;
                    o1 = push_key(c, list);
                    o2 = push_idx(c, j);
                    o3 = push_key(c, "ports");
                    o4 = push_idx(c, b);
                    fmt_range(ybuf, sizeof(ybuf), y);
                    fmt_range(xbuf, sizeof(xbuf), x);
                    if (x->lo == y->lo && x->hi == y->hi)
                        err_at(c, rp[j].port_nodes[b],
                               "%s %s duplicates /%s/%zu/ports/%zu",
                               np_proto_name(rules[j].protocol), ybuf, list, i,
                               a);
                    else
                        err_at(c, rp[j].port_nodes[b],
                               "%s %s overlaps /%s/%zu/ports/%zu (%s)",
                               np_proto_name(rules[j].protocol), ybuf, list, i,
                               a, xbuf);
                    pop(c, o4);
                    pop(c, o3);
                    pop(c, o2);
                    pop(c, o1);
                    reported = 1;
                    break;
                }
            }
        }
    }
}

/* No inbound rule may cover a port the file lists as deprecated. */
static void check_deprecated(vctx *c, const np_rule *rules, const rule_pos *rp,
                             size_t n, const char *list)
{
    const np_profile *p = &c->p->pub;
    size_t i, a, k;

    for (i = 0; i < n; i++) {
        if (!rp[i].ok)
            continue;
        for (a = 0; a < rules[i].n_ports; a++) {
            const np_port_range *x = &rules[i].ports[a];
            for (k = 0; k < p->n_deprecated; k++) {
                const np_deprecated_port *d = &p->deprecated[k];
                size_t o1, o2, o3, o4;
                char xbuf[16], dbuf[16];
                if (d->protocol != rules[i].protocol || x->hi < d->range.lo ||
                    d->range.hi < x->lo)
                    continue;
                o1 = push_key(c, list);
                o2 = push_idx(c, i);
                o3 = push_key(c, "ports");
                o4 = push_idx(c, a);
                fmt_range(xbuf, sizeof(xbuf), x);
                fmt_range(dbuf, sizeof(dbuf), &d->range);
                err_at(c, rp[i].port_nodes[a],
                       "%s %s uses deprecated port %s (/deprecated/%zu: "
                       "%.200s)",
                       np_proto_name(rules[i].protocol), xbuf, dbuf, k,
                       d->reason ? d->reason : "");
                pop(c, o4);
                pop(c, o3);
                pop(c, o2);
                pop(c, o1);
                break;
            }
        }
    }
}

static int parse_rules(vctx *c, jv x, const char *list, np_rule **out,
                       size_t *n_out, bool *used_sources)
{
    size_t n, i = 0;
    np_rule *rules;
    rule_pos *rp;
    jv e;
    size_t old = push_key(c, list);

    if (!cJSON_IsArray(x.v)) {
        err_at(c, x.n, "expected an array of rules, found %s",
               np__json_type_name(x.v));
        pop(c, old);
        return 0;
    }
    n = (size_t)cJSON_GetArraySize(x.v);
    rules = np__arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(*rules));
    rp = calloc(n ? n : 1, sizeof(*rp));
    if (rules == NULL || rp == NULL) {
        free(rp);
        c->oom = 1;
        pop(c, old);
        return 0;
    }
    for (e = jv_child(c, x); e.v != NULL; e = jv_next(c, e), i++) {
        size_t o2 = push_idx(c, i);
        parse_rule(c, e, &rules[i], &rp[i], strcmp(list, "inbound") == 0,
                   used_sources);
        pop(c, o2);
    }
    pop(c, old);
    if (strcmp(list, "inbound") == 0) {
        check_overlaps(c, rules, rp, n, list);
        check_deprecated(c, rules, rp, n, list);
    }
    for (i = 0; i < n; i++)
        free(rp[i].port_nodes);
    free(rp);
    *out = rules;
    *n_out = n;
    return 1;
}

static char lower_ascii(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

const np__official_domain *np__official_domain_of(const char *url)
{
    const char *host, *end, *path;
    size_t hl, i;

    if (url == NULL || strncmp(url, "https://", 8) != 0)
        return NULL;
    host = url + 8;
    end = host + strcspn(host, "/?#");
    if (memchr(host, '@', (size_t)(end - host)) != NULL)
        return NULL; /* user info: no host to trust */
    path = end;
    if (memchr(host, ':', (size_t)(end - host)) != NULL)
        end = memchr(host, ':', (size_t)(end - host));
    hl = (size_t)(end - host);
    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    for (i = 0; i < np__official_domain_count; i++) {
        const char *d = np__official_domains[i].domain;
        const char *slash = strchr(d, '/');
        size_t dl = slash ? (size_t)(slash - d) : strlen(d), k;
        int ok = dl > 0 && hl >= dl;
        for (k = 0; ok && k < dl; k++)
            if (lower_ascii(host[hl - dl + k]) != d[k])
                ok = 0;
        /* the whole host, or a subdomain (".d") */
        if (!ok || (hl > dl && host[hl - dl - 1] != '.'))
            continue;
        if (slash != NULL) {
            size_t pl = strlen(slash);
            if (strncmp(path, slash, pl) != 0 ||
                (path[pl] != '\0' && path[pl] != '/' && path[pl] != '?' &&
                 path[pl] != '#'))
                continue;
        }
        return &np__official_domains[i];
    }
    return NULL;
}

static void parse_sources(vctx *c, jv x)
{
    static const keyspec ks[] = {
        {"id", 1}, {"url", 1}, {"title", 1}, {"official", 0}};
    size_t n, i = 0, k;
    np_source *src;
    jv e;
    size_t old = push_key(c, "sources");

    if (!cJSON_IsArray(x.v)) {
        err_at(c, x.n, "expected an array of sources, found %s",
               np__json_type_name(x.v));
        goto out;
    }
    if (x.v->child == NULL) {
        err_at(c, x.n, "must list at least one source");
        goto out;
    }
    n = (size_t)cJSON_GetArraySize(x.v);
    src = np__arena_alloc(&c->p->arena, n * sizeof(*src));
    if (src == NULL) {
        c->oom = 1;
        goto out;
    }
    c->p->pub.sources = src;
    for (e = jv_child(c, x); e.v != NULL; e = jv_next(c, e), i++) {
        jv f[4];
        size_t o2 = push_idx(c, i), o3;
        np_source *s = &src[c->p->pub.n_sources];
        if (!members(c, e, ks, COUNT(ks), f)) {
            pop(c, o2);
            continue;
        }
        if (f[0].v) {
            o3 = push_key(c, "id");
            s->id = dup_string(c, f[0]);
            if (s->id != NULL) {
                for (k = 0; k < c->p->pub.n_sources; k++) {
                    if (src[k].id && strcmp(src[k].id, s->id) == 0) {
                        err_at(c, f[0].n, "duplicate source id \"%s\"", s->id);
                        s->id = NULL;
                        break;
                    }
                }
            }
            pop(c, o3);
        }
        if (f[1].v) {
            o3 = push_key(c, "url");
            s->url = dup_string(c, f[1]);
            if (s->url != NULL) {
                const char *u = s->url;
                int bad = strncmp(u, "https://", 8) != 0 || u[8] == '\0' ||
                          u[8] == '/';
                for (k = 0; u[k] != '\0' && !bad; k++)
                    if ((unsigned char)u[k] <= ' ')
                        bad = 1;
                if (bad)
                    err_at(c, f[1].n,
                           "source URL must be an https:// address, found "
                           "\"%s\"",
                           u);
            }
            pop(c, o3);
        }
        if (f[2].v) {
            o3 = push_key(c, "title");
            s->title = dup_string(c, f[2]);
            pop(c, o3);
        }
        if (f[3].v) {
            o3 = push_key(c, "official");
            if (want_bool(c, f[3], &s->official) && s->official &&
                s->url != NULL && strncmp(s->url, "https://", 8) == 0 &&
                np__official_domain_of(s->url) == NULL)
                err_at(c, f[3].n,
                       "\"official\": true but \"%.200s\" is not on a domain "
                       "profiles/official-domains.json allows for any "
                       "publisher or platform",
                       s->url);
            pop(c, o3);
        }
        if (s->id != NULL && s->url != NULL && s->title != NULL)
            c->p->pub.n_sources++;
        pop(c, o2);
    }
out:
    pop(c, old);
}

static int valid_date(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, i;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
        (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 2000 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

static void parse_facts(vctx *c, jv x, bool *used_sources)
{
    static const keyspec ks[] = {{"alternate_external_port", 0},
                                 {"self_maps_with_upnp", 0}};
    static const keyspec aks[] = {
        {"protocol", 1}, {"port", 1}, {"source", 1}, {"note", 0}};
    jv f[2];
    size_t old = push_key(c, "facts");

    if (!members(c, x, ks, COUNT(ks), f))
        goto out;
    if (f[1].v) {
        bool b = false;
        size_t o2 = push_key(c, "self_maps_with_upnp");
        if (want_bool(c, f[1], &b))
            c->p->pub.self_maps_with_upnp = b ? 1 : 0;
        pop(c, o2);
    }
    if (f[0].v) {
        size_t o2 = push_key(c, "alternate_external_port"), n, i = 0;
        np_alt_port *alt;
        jv e;
        if (!cJSON_IsArray(f[0].v)) {
            err_at(c, f[0].n, "expected an array, found %s",
                   np__json_type_name(f[0].v));
            pop(c, o2);
            goto out;
        }
        n = (size_t)cJSON_GetArraySize(f[0].v);
        alt = np__arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(*alt));
        if (alt == NULL) {
            c->oom = 1;
            pop(c, o2);
            goto out;
        }
        c->p->pub.alt_ports = alt;
        for (e = jv_child(c, f[0]); e.v != NULL; e = jv_next(c, e), i++) {
            jv g[4];
            size_t o3 = push_idx(c, i), o4;
            np_alt_port *a = &alt[c->p->pub.n_alt_ports];
            np_port_range pr;
            int ok = 1;
            a->profile_id = c->p->pub.id;
            if (!members(c, e, aks, COUNT(aks), g)) {
                pop(c, o3);
                continue;
            }
            ok = g[0].v && g[1].v && g[2].v;
            if (g[0].v) {
                o4 = push_key(c, "protocol");
                ok &= enum_value(c, g[0], proto_names, COUNT(proto_names),
                                 "protocol", &a->protocol);
                pop(c, o4);
            }
            if (g[1].v) {
                o4 = push_key(c, "port");
                if (!cJSON_IsNumber(g[1].v)) {
                    err_at(c, g[1].n, "expected a port number, found %s",
                           np__json_type_name(g[1].v));
                    ok = 0;
                } else if (port_entry(c, g[1], &pr)) {
                    a->port = pr.lo;
                } else {
                    ok = 0;
                }
                pop(c, o4);
            }
            if (g[2].v) {
                const char *s;
                o4 = push_key(c, "source");
                s = want_string(c, g[2]);
                a->source = s ? find_source(c->p, s) : NULL;
                if (s != NULL && a->source == NULL)
                    err_at(c, g[2].n,
                           "source \"%s\" is not the id of an entry in "
                           "/sources",
                           s);
                if (a->source != NULL)
                    used_sources[a->source - c->p->pub.sources] = true;
                else
                    ok = 0;
                pop(c, o4);
            }
            if (g[3].v) {
                o4 = push_key(c, "note");
                a->note = dup_string(c, g[3]);
                pop(c, o4);
            }
            if (ok)
                c->p->pub.n_alt_ports++;
            pop(c, o3);
        }
        pop(c, o2);
    }
out:
    pop(c, old);
}

/* "deprecated": [{"protocol", "ports", "reason", "source"?}, ...]; each
 * port or range becomes one entry. */
static void parse_deprecated(vctx *c, jv x, bool *used_sources)
{
    static const keyspec ks[] = {
        {"protocol", 1}, {"ports", 1}, {"reason", 1}, {"source", 0}};
    np_profile *p = &c->p->pub;
    np_deprecated_port *dp;
    size_t total = 0, i = 0;
    jv e;
    size_t old = push_key(c, "deprecated");

    if (!cJSON_IsArray(x.v)) {
        err_at(c, x.n, "expected an array, found %s", np__json_type_name(x.v));
        goto out;
    }
    for (e = jv_child(c, x); e.v != NULL; e = jv_next(c, e)) {
        const cJSON *ports = cJSON_GetObjectItemCaseSensitive(e.v, "ports");
        total += cJSON_IsArray(ports) ? (size_t)cJSON_GetArraySize(ports) : 0;
    }
    dp = np__arena_alloc(&c->p->arena, (total ? total : 1) * sizeof(*dp));
    if (dp == NULL) {
        c->oom = 1;
        goto out;
    }
    p->deprecated = dp;
    for (e = jv_child(c, x); e.v != NULL; e = jv_next(c, e), i++) {
        jv f[4], pe;
        size_t o2 = push_idx(c, i), o3, k = 0;
        int proto = -1;
        const char *reason = NULL;
        const np_source *src = NULL;
        if (!members(c, e, ks, COUNT(ks), f)) {
            pop(c, o2);
            continue;
        }
        if (f[0].v) {
            o3 = push_key(c, "protocol");
            if (!enum_value(c, f[0], proto_names, COUNT(proto_names),
                            "protocol", &proto))
                proto = -1;
            pop(c, o3);
        }
        if (f[2].v) {
            o3 = push_key(c, "reason");
            reason = dup_string(c, f[2]);
            pop(c, o3);
        }
        if (f[3].v) {
            const char *sid;
            o3 = push_key(c, "source");
            sid = want_string(c, f[3]);
            src = sid ? find_source(c->p, sid) : NULL;
            if (sid != NULL && src == NULL)
                err_at(c, f[3].n,
                       "source \"%s\" is not the id of an entry in /sources",
                       sid);
            if (src != NULL)
                used_sources[src - p->sources] = true;
            pop(c, o3);
        }
        if (f[1].v) {
            o3 = push_key(c, "ports");
            if (!cJSON_IsArray(f[1].v) || f[1].v->child == NULL) {
                err_at(c, f[1].n, "expected a non-empty array of ports");
            } else {
                for (pe = jv_child(c, f[1]); pe.v != NULL;
                     pe = jv_next(c, pe), k++) {
                    size_t o4 = push_idx(c, k);
                    np_port_range r;
                    if (port_entry(c, pe, &r) && proto >= 0 &&
                        p->n_deprecated < total) {
                        np_deprecated_port *d = &dp[p->n_deprecated++];
                        d->protocol = proto;
                        d->range = r;
                        d->reason = reason;
                        d->source = src;
                    }
                    pop(c, o4);
                }
            }
            pop(c, o3);
        }
        pop(c, o2);
    }
out:
    pop(c, old);
}

static const keyspec top_keys[] = {
    {"schema", 1},  {"id", 1},        {"kind", 1},    {"name", 1},
    {"aliases", 0}, {"platforms", 1}, {"base", 0},    {"facts", 0},
    {"inbound", 1}, {"outbound", 0},  {"sources", 1}, {"checked", 1},
    {"notes", 0},   {"deprecated", 0}};
enum {
    TK_SCHEMA,
    TK_ID,
    TK_KIND,
    TK_NAME,
    TK_ALIASES,
    TK_PLATFORMS,
    TK_BASE,
    TK_FACTS,
    TK_INBOUND,
    TK_OUTBOUND,
    TK_SOURCES,
    TK_CHECKED,
    TK_NOTES,
    TK_DEPRECATED
};

/* The file name's id ("games/foo.json" -> "foo") and kind from its
 * directory (-1 when neither platforms/ nor games/). */
static void name_facts(const char *name, char *id, size_t idsize, int *kind)
{
    const char *base = strrchr(name, '/');
    size_t n;

    base = base ? base + 1 : name;
    n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".json") == 0)
        n -= 5;
    snprintf(id, idsize, "%.*s", (int)n, base);
    *kind = -1;
    if (base != name) {
        const char *end = base - 1, *start = end;
        while (start > name && start[-1] != '/')
            start--;
        if ((size_t)(end - start) == 9 && strncmp(start, "platforms", 9) == 0)
            *kind = NP_KIND_PLATFORM;
        else if ((size_t)(end - start) == 5 && strncmp(start, "games", 5) == 0)
            *kind = NP_KIND_GAME;
    }
}

static void validate_top(vctx *c, jv root, int expected_kind)
{
    jv f[COUNT(top_keys)];
    np_profile *p = &c->p->pub;
    size_t old, i;
    bool *used = NULL;
    char fid[256];
    int dir_kind;

    if (!members(c, root, top_keys, COUNT(top_keys), f))
        return;
    name_facts(c->file, fid, sizeof(fid), &dir_kind);
    if (expected_kind == -1)
        expected_kind = dir_kind;

    if (f[TK_SCHEMA].v) {
        old = push_key(c, "schema");
        if (!cJSON_IsNumber(f[TK_SCHEMA].v))
            err_at(c, f[TK_SCHEMA].n, "expected the number %d, found %s",
                   NP_PROFILE_SCHEMA, np__json_type_name(f[TK_SCHEMA].v));
        else if (f[TK_SCHEMA].v->valuedouble != NP_PROFILE_SCHEMA)
            err_at(c, f[TK_SCHEMA].n,
                   "unsupported schema %g: this natpilot reads schema %d",
                   f[TK_SCHEMA].v->valuedouble, NP_PROFILE_SCHEMA);
        pop(c, old);
    }
    if (f[TK_ID].v) {
        old = push_key(c, "id");
        p->id = dup_string(c, f[TK_ID]);
        linecol(c, node(c, f[TK_ID].n)->off, &c->p->id_line, &c->p->id_col);
        if (p->id != NULL && !valid_id(p->id)) {
            err_at(c, f[TK_ID].n,
                   "id \"%s\" must be 2-%d characters of a-z, 0-9 and '-'",
                   p->id, NP_PROFILE_ID_MAX);
        } else if (p->id != NULL && expected_kind != -2 &&
                   strcmp(p->id, fid) != 0) {
            err_at(c, f[TK_ID].n,
                   "id \"%s\" does not match the file name (expected \"%s\")",
                   p->id, fid);
        }
        pop(c, old);
    }
    if (p->id == NULL)
        p->id = "";
    if (f[TK_KIND].v) {
        old = push_key(c, "kind");
        if (enum_value(c, f[TK_KIND], kind_names, COUNT(kind_names), "kind",
                       &p->kind) &&
            expected_kind >= 0 && p->kind != expected_kind)
            err_at(c, f[TK_KIND].n,
                   "kind \"%s\" does not match the directory (a %s belongs in "
                   "%s/)",
                   kind_names[p->kind], kind_names[p->kind],
                   p->kind == NP_KIND_PLATFORM ? "platforms" : "games");
        pop(c, old);
    }
    if (f[TK_NAME].v) {
        old = push_key(c, "name");
        p->name = dup_string(c, f[TK_NAME]);
        pop(c, old);
    }
    if (f[TK_ALIASES].v) {
        jv a = f[TK_ALIASES], e;
        old = push_key(c, "aliases");
        if (!cJSON_IsArray(a.v)) {
            err_at(c, a.n, "expected an array of strings, found %s",
                   np__json_type_name(a.v));
        } else {
            size_t n = (size_t)cJSON_GetArraySize(a.v);
            const char **al =
                np__arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(*al));
            if (al == NULL) {
                c->oom = 1;
            } else {
                i = 0;
                for (e = jv_child(c, a); e.v != NULL; e = jv_next(c, e), i++) {
                    size_t o2 = push_idx(c, i);
                    char *s = dup_string(c, e);
                    if (s != NULL)
                        al[p->n_aliases++] = s;
                    pop(c, o2);
                }
                p->aliases = al;
            }
        }
        pop(c, old);
    }
    if (f[TK_PLATFORMS].v) {
        old = push_key(c, "platforms");
        p->platforms = platform_set(c, f[TK_PLATFORMS], 0);
        pop(c, old);
    }
    if (f[TK_BASE].v) {
        jv b = f[TK_BASE], e;
        old = push_key(c, "base");
        if (p->kind == NP_KIND_PLATFORM && f[TK_KIND].v != NULL &&
            cJSON_IsString(f[TK_KIND].v)) {
            err_key(c, b.n,
                    "only games have a base; a platform profile "
                    "stands alone");
        } else if (!cJSON_IsArray(b.v)) {
            err_at(c, b.n, "expected an array of profile ids, found %s",
                   np__json_type_name(b.v));
        } else {
            size_t n = (size_t)cJSON_GetArraySize(b.v);
            const char **bl =
                np__arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(*bl));
            c->p->base_line =
                np__arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(unsigned));
            c->p->base_col =
                np__arena_alloc(&c->p->arena, (n ? n : 1) * sizeof(unsigned));
            if (bl == NULL || c->p->base_line == NULL ||
                c->p->base_col == NULL) {
                c->oom = 1;
            } else {
                i = 0;
                for (e = jv_child(c, b); e.v != NULL; e = jv_next(c, e), i++) {
                    size_t o2 = push_idx(c, i), k;
                    char *s = dup_string(c, e);
                    int dup = 0;
                    if (s != NULL && !valid_id(s)) {
                        err_at(c, e.n, "base \"%s\" is not a valid profile id",
                               s);
                        s = NULL;
                    } else if (s != NULL && strcmp(s, p->id) == 0) {
                        err_at(c, e.n,
                               "cyclic base: profile \"%s\" builds on itself",
                               s);
                        s = NULL;
                    }
                    for (k = 0; s != NULL && k < p->n_base; k++)
                        if (strcmp(bl[k], s) == 0)
                            dup = 1;
                    if (dup)
                        err_at(c, e.n, "duplicate base \"%s\"", s);
                    else if (s != NULL) {
                        linecol(c, node(c, e.n)->off,
                                &c->p->base_line[p->n_base],
                                &c->p->base_col[p->n_base]);
                        bl[p->n_base++] = s;
                    }
                    pop(c, o2);
                }
                p->base = bl;
            }
        }
        pop(c, old);
    }
    /* Sources before rules and facts, which refer to them. */
    if (f[TK_SOURCES].v)
        parse_sources(c, f[TK_SOURCES]);
    used = calloc(p->n_sources ? p->n_sources : 1, sizeof(*used));
    if (used == NULL) {
        c->oom = 1;
        return;
    }
    if (f[TK_FACTS].v) {
        if (p->kind == NP_KIND_GAME && f[TK_KIND].v != NULL &&
            cJSON_IsString(f[TK_KIND].v)) {
            old = push_key(c, "facts");
            err_key(c, f[TK_FACTS].n,
                    "facts belong in platform profiles, "
                    "not games");
            pop(c, old);
        } else {
            parse_facts(c, f[TK_FACTS], used);
        }
    }
    if (f[TK_DEPRECATED].v)
        parse_deprecated(c, f[TK_DEPRECATED], used);
    if (f[TK_INBOUND].v) {
        np_rule *r = NULL;
        size_t n = 0;
        parse_rules(c, f[TK_INBOUND], "inbound", &r, &n, used);
        p->inbound = r;
        p->n_inbound = n;
    }
    if (f[TK_OUTBOUND].v) {
        np_rule *r = NULL;
        size_t n = 0;
        parse_rules(c, f[TK_OUTBOUND], "outbound", &r, &n, used);
        p->outbound = r;
        p->n_outbound = n;
    }
    if (f[TK_CHECKED].v) {
        old = push_key(c, "checked");
        p->checked = dup_string(c, f[TK_CHECKED]);
        if (p->checked != NULL && !valid_date(p->checked))
            err_at(c, f[TK_CHECKED].n,
                   "bad date \"%s\": expected a real date as YYYY-MM-DD",
                   p->checked);
        pop(c, old);
    }
    if (f[TK_NOTES].v) {
        old = push_key(c, "notes");
        p->notes = dup_string(c, f[TK_NOTES]);
        pop(c, old);
    }
    free(used);
}

static int cmp_diag_pos(const np_diag *a, const np_diag *b)
{
    if (a->line == 0 || b->line == 0)
        return a->line == 0 ? (b->line == 0 ? 0 : 1) : -1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return 0;
}

/* Stable insertion sort of this file's diagnostics by position. */
static void sort_diags(np_diags *d, size_t first)
{
    size_t i, j;

    if (d == NULL)
        return;
    for (i = first + 1; i < d->count; i++) {
        np_diag t = d->items[i];
        for (j = i; j > first && cmp_diag_pos(&d->items[j - 1], &t) > 0; j--)
            d->items[j] = d->items[j - 1];
        d->items[j] = t;
    }
}

int np__profile_parse(const char *name, const char *text, size_t len, int layer,
                      int expected_kind, np_diags *diags, np__prof **out)
{
    np__jpos jp = {0};
    vctx c;
    cJSON *doc = NULL;
    np__prof *p = NULL;
    size_t err_off = 0;
    char msg[200];
    unsigned line, col;
    int r, status = NP_OK;

    *out = NULL;
    if (len > NP_PROFILE_MAX_BYTES) {
        if (np__diag_add(diags, NP_DIAG_ERROR, name, 0, 0, "",
                         "file is %zu bytes; the limit is %d", len,
                         NP_PROFILE_MAX_BYTES) != NP_OK)
            return NP_ENOMEM;
        return NP_EINVALID;
    }
    r = np__jpos_scan(&jp, text, len, NP_PROFILE_MAX_DEPTH, &err_off, msg,
                      sizeof(msg));
    if (r == -2) {
        np__jpos_free(&jp);
        return NP_ENOMEM;
    }
    if (r != 0) {
        np__jpos_free(&jp);
        np__jpos_linecol(text, len, err_off, &line, &col);
        if (np__diag_add(diags, NP_DIAG_ERROR, name, line, col, "",
                         "malformed JSON: %s", msg) != NP_OK)
            return NP_ENOMEM;
        return NP_EINVALID;
    }
    {
        const char *end = NULL;
        doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
        if (doc == NULL) {
            /* The scanner accepted it: cJSON ran out of memory, or disagrees
             * on some corner of the grammar; report where it stopped. */
            size_t off = end != NULL && end >= text && end <= text + len
                             ? (size_t)(end - text)
                             : 0;
            np__jpos_free(&jp);
            np__jpos_linecol(text, len, off, &line, &col);
            if (np__diag_add(diags, NP_DIAG_ERROR, name, line, col, "",
                             "malformed JSON: the parser stopped here") !=
                NP_OK)
                return NP_ENOMEM;
            return NP_EINVALID;
        }
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        status = NP_ENOMEM;
        goto out;
    }
    p->pub.self_maps_with_upnp = -1;
    p->pub.layer = layer;
    p->pub.file = np__arena_strdup(&p->arena, name);
    if (p->pub.file == NULL) {
        status = NP_ENOMEM;
        goto out;
    }
    memset(&c, 0, sizeof(c));
    c.diags = diags;
    c.file = name;
    c.text = text;
    c.len = len;
    c.jp = &jp;
    c.p = p;
    c.lc_line = 1;
    c.lc_col = 1;
    c.first = diags ? diags->count : 0;
    {
        jv root = {doc, 0};
        validate_top(&c, root, expected_kind);
    }
    sort_diags(diags, c.first);
    if (c.oom)
        status = NP_ENOMEM;
    else if (c.errors > 0)
        status = NP_EINVALID;
out:
    cJSON_Delete(doc);
    np__jpos_free(&jp);
    if (status != NP_OK) {
        np__prof_free(p);
        return status;
    }
    *out = p;
    return NP_OK;
}
