/*
 * The one mapping store (see include/natpilot/store.h): JSON (de)serialisation,
 * load with a size cap and corrupt files moved aside, atomic replace with
 * fsync of the file and its directory.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "natpilot/store.h"
#include "np_hex.h"
#include "np_jsonpos.h"
#include "np_util.h"

/* The directory part of path into buf ("." when there is none). */
static void st_dirname(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/* mkdir -p of the store's directory, mode 0700 (errors show at the write) */
static void st_mkdirs(const char *path)
{
    char d[NP_STORE_PATH_MAX];
    char *p;

    st_dirname(path, d, sizeof(d));
    for (p = d + 1; *p != '\0'; p++)
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(d, 0700);
            *p = '/';
        }
    (void)mkdir(d, 0700);
}

/* --- the store object ------------------------------------------------ */

int np_store_default_path(char *buf, size_t size, np_error *err)
{
    const char *dir = getenv("NATPILOT_STATE_DIR");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int n;

    if (buf == NULL || size == 0)
        return np_error_set(err, NP_EINVAL, NULL, "no buffer");
    if (dir != NULL && dir[0] != '\0')
        n = snprintf(buf, size, "%s/mappings.json", dir);
    else if (xdg != NULL && xdg[0] != '\0')
        n = snprintf(buf, size, "%s/natpilot/mappings.json", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(buf, size, "%s/.local/state/natpilot/mappings.json", home);
    else
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "no NATPILOT_STATE_DIR, XDG_STATE_HOME or HOME: "
                            "nowhere to keep the mapping store");
    if (n < 0 || (size_t)n >= size)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "the mapping store's path is too long");
    return NP_OK;
}

np_store *np_store_new(const char *path, np_error *err)
{
    np_store *s;

    if (path == NULL || path[0] == '\0' || strlen(path) >= NP_STORE_PATH_MAX) {
        np_error_set(err, NP_EINVAL, NULL, "no usable store path");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    return s;
}

void np_store_free(np_store *s)
{
    if (s == NULL)
        return;
    free(s->e);
    free(s);
}

long np_store_find(const np_store *s, const np_addr *gateway, int transport,
                   uint16_t port, int by_internal, const np_addr *internal)
{
    size_t i;
    int want_dev = internal != NULL && np_addr_is_set(internal);

    if (s == NULL)
        return -1;
    for (i = 0; i < s->n; i++) {
        const np_store_entry *e = &s->e[i];
        uint16_t p = by_internal ? e->internal_port : e->external_port;

        if (e->transport != transport || p != port)
            continue;
        if (want_dev != np_addr_is_set(&e->internal))
            continue;
        if (want_dev && !np_addr_same_ip(internal, &e->internal))
            continue;
        if (gateway != NULL && np_addr_is_set(gateway) &&
            !np_addr_same_ip(gateway, &e->gateway))
            continue;
        return (long)i;
    }
    return -1;
}

int np_store_put(np_store *s, const np_store_entry *e)
{
    long i;

    if (s == NULL || e == NULL)
        return NP_EINVAL;
    i = np_store_find(s, &e->gateway, e->transport, e->external_port, 0,
                      &e->internal);
    if (i >= 0) {
        s->e[i] = *e;
        return NP_OK;
    }
    if (s->n >= NP_STORE_MAX_ENTRIES)
        return NP_ENOMEM;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        np_store_entry *ne = realloc(s->e, nc * sizeof(*ne));

        if (ne == NULL)
            return NP_ENOMEM;
        s->e = ne;
        s->cap = nc;
    }
    s->e[s->n++] = *e;
    return NP_OK;
}

void np_store_del(np_store *s, size_t i)
{
    if (s == NULL || i >= s->n)
        return;
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
    s->n--;
}

/* --- JSON ------------------------------------------------------------------*/

char *np_store_to_json(const np_store *s, int64_t now)
{
    cJSON *doc = cJSON_CreateObject(), *arr;
    char ip[NP_ADDRSTRLEN], nh[25];
    char *text;
    size_t i;

    if (doc == NULL)
        return NULL;
    cJSON_AddNumberToObject(doc, "version", NP_STORE_VERSION);
    cJSON_AddNumberToObject(doc, "written", (double)now);
    arr = cJSON_AddArrayToObject(doc, "mappings");
    for (i = 0; arr != NULL && s != NULL && i < s->n; i++) {
        const np_store_entry *e = &s->e[i];
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(doc);
            return NULL;
        }
        cJSON_AddStringToObject(o, "owner", e->owner);
        if (np_addr_is_set(&e->gateway))
            cJSON_AddStringToObject(
                o, "gateway", np_addr_ip_str(&e->gateway, ip, sizeof(ip)));
        cJSON_AddStringToObject(o, "protocol", np_pm_proto_name(e->proto));
        cJSON_AddStringToObject(o, "transport",
                                np_pm_transport_name(e->transport));
        if (np_addr_is_set(&e->internal))
            cJSON_AddStringToObject(
                o, "internal", np_addr_ip_str(&e->internal, ip, sizeof(ip)));
        cJSON_AddNumberToObject(o, "internal_port", e->internal_port);
        cJSON_AddNumberToObject(o, "external_port", e->external_port);
        np__hex_encode(nh, e->nonce, 12);
        cJSON_AddStringToObject(o, "nonce", nh);
        cJSON_AddNumberToObject(o, "expires", (double)e->expires);
    }
    text = arr != NULL ? cJSON_Print(doc) : NULL;
    cJSON_Delete(doc);
    return text;
}

static int port_of(const cJSON *v, uint16_t *out)
{
    int64_t p;

    if (!np__json_whole(v, 1, 65535, &p))
        return 0;
    *out = (uint16_t)p;
    return 1;
}

/* One entry in any known version; 0 when it is not a usable entry. */
static int entry_from_json(const cJSON *it, np_store_entry *e)
{
    const cJSON *v;
    const char *s;
    int64_t x;

    memset(e, 0, sizeof(*e));
    if (!cJSON_IsObject(it))
        return 0;
    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "owner"));
    if (s == NULL) /* the daemon's version 1 */
        s = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(it, "device"));
    snprintf(e->owner, sizeof(e->owner), "%s", s ? s : NP_STORE_OWNER_CLI);
    e->proto = np_pm_proto_parse(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "protocol")));
    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "transport"));
    if (e->proto == NP_PM_NONE || s == NULL)
        return 0;
    if (strcmp(s, "tcp") == 0)
        e->transport = NP_PM_TCP;
    else if (strcmp(s, "udp") == 0)
        e->transport = NP_PM_UDP;
    else
        return 0;
    if (!port_of(cJSON_GetObjectItemCaseSensitive(it, "internal_port"),
                 &e->internal_port))
        return 0;
    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "internal"));
    if (s != NULL && np_addr_parse(&e->internal, s, 0, NULL) != NP_OK)
        return 0;
    np_addr_set_port(&e->internal, 0);
    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "gateway"));
    if (s != NULL && np_addr_parse(&e->gateway, s, 0, NULL) != NP_OK)
        return 0;
    e->external_port = e->internal_port;
    if (!port_of(cJSON_GetObjectItemCaseSensitive(it, "external_port"),
                 &e->external_port)) {
        np_addr ext; /* the daemon's version 1: "external": "ip:port" */

        s = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(it, "external"));
        if (s != NULL && np_addr_parse(&ext, s, 0, NULL) == NP_OK &&
            np_addr_port(&ext) != 0)
            e->external_port = np_addr_port(&ext);
    }
    v = cJSON_GetObjectItemCaseSensitive(it, "expires");
    if (np__json_whole(v, 0, INT64_C(1) << 53, &x))
        e->expires = x;
    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "nonce"));
    if (s != NULL)
        (void)np__hex_decode(e->nonce, 12, s);
    return 1;
}

int np_store_from_json(np_store *s, const char *text, size_t len, np_error *err)
{
    cJSON *doc, *arr, *it;
    int64_t ver = 1;

    if (s == NULL || text == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    s->n = 0;
    doc = cJSON_ParseWithLength(text, len);
    if (doc == NULL)
        return np_error_set(err, NP_EPARSE, s->path, "not valid JSON");
    if (cJSON_IsArray(doc)) {
        arr = doc; /* the CLI's version 1: a bare array */
    } else {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "version");

        arr = cJSON_GetObjectItemCaseSensitive(doc, "mappings");
        if (!cJSON_IsObject(doc) || !cJSON_IsArray(arr) ||
            !np__json_whole(v, 1, 1000000, &ver)) {
            cJSON_Delete(doc);
            return np_error_set(err, NP_EPARSE, s->path,
                                "not a natpilot mapping store");
        }
        if (ver > NP_STORE_VERSION) {
            cJSON_Delete(doc);
            return np_error_set(err, NP_EPARSE, s->path,
                                "a mapping store of version %lld, newer than "
                                "this natpilot (%d)",
                                (long long)ver, NP_STORE_VERSION);
        }
    }
    cJSON_ArrayForEach(it, arr)
    {
        np_store_entry e;

        if (!entry_from_json(it, &e))
            continue;
        if (np_store_put(s, &e) != NP_OK) {
            cJSON_Delete(doc);
            return np_error_set(err, NP_ENOMEM, s->path,
                                "too many entries in the mapping store");
        }
    }
    cJSON_Delete(doc);
    return NP_OK;
}

/* --- files -----------------------------------------------------------------*/

static int move_aside(np_store *s, np_store_note *note, const char *why,
                      np_error *err)
{
    np_store_note local;
    char aside[sizeof(local.aside_path)];

    if (note == NULL)
        note = &local;
    snprintf(aside, sizeof(aside), "%s.corrupt-%lld", s->path,
             (long long)np__wall_s());
    if (rename(s->path, aside) != 0)
        return np_error_sys(err, errno, s->path,
                            "the mapping store is %s and cannot be moved "
                            "aside",
                            why);
    (void)np__fsync_parent(s->path);
    note->moved_aside = 1;
    snprintf(note->aside_path, sizeof(note->aside_path), "%s", aside);
    snprintf(note->message, sizeof(note->message),
             "the mapping store was %.120s; it was kept as %.400s and a new "
             "one started (mappings it listed end with their lease)",
             why, aside);
    return NP_OK;
}

int np_store_load(np_store *s, np_store_note *note, np_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    np_error perr;

    if (note != NULL)
        memset(note, 0, sizeof(*note));
    if (s == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no store");
    s->n = 0;
    np_error_clear(&perr);
    rc = np__file_load(s->path, NP_STORE_MAX_BYTES, &text, &len, &perr);
    if (rc == NP_ENOTFOUND)
        return NP_OK;
    if (rc == NP_ETOOBIG)
        return move_aside(s, note, "larger than its limit", err);
    if (rc != NP_OK) {
        if (err != NULL)
            *err = perr;
        return rc;
    }
    np_error_clear(&perr);
    rc = np_store_from_json(s, text, len, &perr);
    free(text);
    if (rc == NP_EPARSE) {
        char why[NP_ERROR_MSG_MAX + 16];

        s->n = 0;
        snprintf(why, sizeof(why), "unreadable (%s)", perr.msg);
        return move_aside(s, note, why, err);
    }
    if (rc != NP_OK) {
        if (err != NULL)
            *err = perr;
        return rc;
    }
    return NP_OK;
}

int np_store_save(const np_store *s, np_error *err)
{
    char *text;
    size_t len;
    int rc;

    if (s == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no store");
    text = np_store_to_json(s, np__wall_s());
    if (text == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    st_mkdirs(s->path);
    len = strlen(text);
    text[len] = '\n'; /* cJSON_Print's buffer has room: its NUL */
    rc = np__file_replace(s->path, text, len + 1, 0600, err);
    free(text);
    return rc;
}

int np_store_remove(const np_store *s, np_error *err)
{
    if (s == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no store");
    if (unlink(s->path) != 0) {
        if (errno == ENOENT)
            return NP_OK;
        return np_error_sys(err, errno, s->path,
                            "cannot remove the mapping store");
    }
    (void)np__fsync_parent(s->path);
    return NP_OK;
}
