/*
 * natpilot: resolve profile ids for a device platform into the flat list of
 * rules the port-mapping code acts on (see np_resolve in profile.h).
 */
#include <stdlib.h>
#include <string.h>

#include "np_profile_int.h"

#define MAX_DEPTH 64

typedef struct rctx {
    const np_catalog *cat;
    unsigned platform;
    const np_profile **seen; /* every profile visited */
    unsigned char *state;    /* 1 = on the stack, 2 = done */
    size_t n_seen, cap;
    np_resolved *res;
    np_error *err;
} rctx;

static int seen_index(const rctx *c, const np_profile *p)
{
    size_t i;

    for (i = 0; i < c->n_seen; i++)
        if (c->seen[i] == p)
            return (int)i;
    return -1;
}

static int visit(rctx *c, const char *id, const char *from, unsigned depth)
{
    const np_profile *p = np_catalog_find(c->cat, id);
    int si;
    size_t i;

    if (p == NULL) {
        if (from != NULL)
            return np_error_set(c->err, NP_ENOTFOUND, from,
                                "unknown base profile \"%s\"", id);
        return np_error_set(c->err, NP_ENOTFOUND, NULL, "no profile \"%s\"",
                            id);
    }
    if (c->platform != 0 && !(p->platforms & c->platform)) {
        if (from != NULL)
            return NP_OK; /* a base for other platforms: does not apply */
        return np_error_set(c->err, NP_EUNSUPP, p->file,
                            "profile \"%s\" does not list platform %s", id,
                            np_platform_name(c->platform));
    }
    si = seen_index(c, p);
    if (si >= 0) {
        if (c->state[si] == 1)
            return np_error_set(c->err, NP_EINVALID, p->file,
                                "cyclic base through \"%s\"", id);
        return NP_OK;
    }
    if (depth > MAX_DEPTH)
        return np_error_set(c->err, NP_EINVALID, p->file,
                            "bases nest deeper than %d", MAX_DEPTH);
    if (c->n_seen == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        const np_profile **ns = realloc(c->seen, ncap * sizeof(*ns));
        unsigned char *nst;
        if (ns == NULL)
            return np_error_set(c->err, NP_ENOMEM, NULL, "out of memory");
        c->seen = ns;
        nst = realloc(c->state, ncap);
        if (nst == NULL)
            return np_error_set(c->err, NP_ENOMEM, NULL, "out of memory");
        c->state = nst;
        c->cap = ncap;
    }
    si = (int)c->n_seen++;
    c->seen[si] = p;
    c->state[si] = 1;
    for (i = 0; i < p->n_base; i++) {
        int r = visit(c, p->base[i], p->id, depth + 1);
        if (r != NP_OK)
            return r;
    }
    c->state[si] = 2;
    c->res->profiles[c->res->n_profiles++] = p;
    return NP_OK;
}

static int same_ports(const np_rule *a, const np_rule *b)
{
    size_t i;

    if (a->protocol != b->protocol || a->n_ports != b->n_ports)
        return 0;
    for (i = 0; i < a->n_ports; i++)
        if (a->ports[i].lo != b->ports[i].lo ||
            a->ports[i].hi != b->ports[i].hi)
            return 0;
    return 1;
}

static int add_rules(np_rule **list, size_t *n, const np_rule *rules,
                     size_t count, unsigned platform)
{
    size_t i, j;

    for (i = 0; i < count; i++) {
        const np_rule *r = &rules[i];
        np_rule *nl;
        int dup = 0;
        if (platform != 0 && !(r->platforms & platform))
            continue;
        for (j = 0; j < *n; j++) {
            /* Same ports, and the earlier rule covers every platform in
             * question (with a filter: just that one, which both have). */
            unsigned need = platform != 0 ? platform : r->platforms;
            if (same_ports(&(*list)[j], r) &&
                (need & ~(*list)[j].platforms) == 0) {
                if (r->essential)
                    (*list)[j].essential = true;
                dup = 1;
                break;
            }
        }
        if (dup)
            continue;
        nl = realloc(*list, (*n + 1) * sizeof(*nl));
        if (nl == NULL)
            return NP_ENOMEM;
        *list = nl;
        nl[(*n)++] = *r;
    }
    return NP_OK;
}

void np_resolved_free(np_resolved *res)
{
    if (res == NULL)
        return;
    free(res->inbound);
    free(res->outbound);
    free(res->alt_ports);
    free(res->profiles);
    free(res);
}

int np_resolve(const np_catalog *cat, const char *const *ids, size_t n_ids,
               unsigned platform, np_resolved **out, np_error *err)
{
    rctx c;
    np_resolved *res;
    size_t i, j;
    int r = NP_OK;

    if (out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no output");
    *out = NULL;
    if (cat == NULL || (ids == NULL && n_ids > 0))
        return np_error_set(err, NP_EINVAL, NULL, "no catalog or ids");
    if (platform != 0 && np_platform_name(platform) == NULL)
        return np_error_set(err, NP_EINVAL, NULL,
                            "platform must be one platform bit");
    res = calloc(1, sizeof(*res));
    if (res == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    res->platform = platform;
    /* At most every profile of the catalog appears once. */
    res->profiles = calloc(np_catalog_count(cat) + 1, sizeof(*res->profiles));
    if (res->profiles == NULL) {
        np_resolved_free(res);
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    }
    memset(&c, 0, sizeof(c));
    c.cat = cat;
    c.platform = platform;
    c.res = res;
    c.err = err;
    for (i = 0; i < n_ids && r == NP_OK; i++)
        r = visit(&c, ids[i], NULL, 0);
    free(c.seen);
    free(c.state);
    if (r != NP_OK) {
        np_resolved_free(res);
        return r;
    }
    for (i = 0; i < res->n_profiles && r == NP_OK; i++) {
        const np_profile *p = res->profiles[i];
        r = add_rules(&res->inbound, &res->n_inbound, p->inbound, p->n_inbound,
                      platform);
        if (r == NP_OK)
            r = add_rules(&res->outbound, &res->n_outbound, p->outbound,
                          p->n_outbound, platform);
        if (p->self_maps_with_upnp == 1)
            res->self_maps_with_upnp = true;
        for (j = 0; j < p->n_alt_ports && r == NP_OK; j++) {
            const np_alt_port *a = &p->alt_ports[j];
            size_t k;
            np_alt_port *na;
            for (k = 0; k < res->n_alt_ports; k++)
                if (res->alt_ports[k].protocol == a->protocol &&
                    res->alt_ports[k].port == a->port)
                    break;
            if (k < res->n_alt_ports)
                continue;
            na = realloc(res->alt_ports, (res->n_alt_ports + 1) * sizeof(*na));
            if (na == NULL) {
                r = NP_ENOMEM;
                break;
            }
            res->alt_ports = na;
            na[res->n_alt_ports++] = *a;
        }
    }
    if (r != NP_OK) {
        np_resolved_free(res);
        return np_error_set(err, r, NULL, "out of memory");
    }
    *out = res;
    return NP_OK;
}
