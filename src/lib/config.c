/*
 * The daemon's configuration: JSON scanned twice, like the profiles
 * (np_jsonpos.h gives each value's position, cJSON its content), so every
 * problem names file:line:col and the JSON pointer of the value.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "natpilot/config.h"
#include "np_jsonpos.h"
#include "np_profile_int.h"
#include "np_util.h"

const char *np_log_level_name(int level)
{
    switch (level) {
    case NP_LOG_ERROR:
        return "error";
    case NP_LOG_WARN:
        return "warn";
    case NP_LOG_INFO:
        return "info";
    case NP_LOG_DEBUG:
        return "debug";
    default:
        return "?";
    }
}

int np_log_level_parse(const char *s)
{
    int i;

    if (s == NULL)
        return -1;
    if (strcmp(s, "warning") == 0)
        return NP_LOG_WARN;
    for (i = NP_LOG_ERROR; i <= NP_LOG_DEBUG; i++)
        if (strcmp(s, np_log_level_name(i)) == 0)
            return i;
    return -1;
}

/* --- walking cJSON and the position index together ----------------------- */

typedef struct jv {
    const cJSON *v;
    uint32_t n;
} jv;

typedef struct cctx {
    np_diags *diags;
    const char *file;
    const char *text;
    size_t len;
    const np__jpos *jp;
    char path[256];
    size_t plen;
    unsigned errors;
    int oom;
    jv empty_devices; /* "devices": [] (v NULL when not seen) */
} cctx;

__attribute__((format(printf, 4, 5))) static void
diag_off(cctx *c, size_t off, const char *path, const char *fmt, ...)
{
    va_list ap;
    unsigned line, col;

    c->errors++;
    if (c->oom || c->errors > 64)
        return;
    np__jpos_linecol(c->text, c->len, off, &line, &col);
    va_start(ap, fmt);
    if (np__diag_vadd(c->diags, NP_DIAG_ERROR, c->file, line, col, path, fmt,
                      ap) != NP_OK)
        c->oom = 1;
    va_end(ap);
}

#define ERR_AT(c, x, ...)                                                      \
    diag_off((c), (c)->jp->nodes[(x).n].off, (c)->path, __VA_ARGS__)
#define ERR_KEY(c, x, ...)                                                     \
    diag_off((c), (c)->jp->nodes[(x).n].key_off, (c)->path, __VA_ARGS__)

static size_t push(cctx *c, const char *key, size_t idx)
{
    if (key != NULL)
        return np__jptr_push_key(c->path, sizeof(c->path), &c->plen, key);
    return np__jptr_push_idx(c->path, sizeof(c->path), &c->plen, idx);
}

static void pop(cctx *c, size_t old)
{
    np__jptr_pop(c->path, &c->plen, old);
}

static jv first_child(const cctx *c, jv x)
{
    jv r = {x.v->child, c->jp->nodes[x.n].child};
    return r;
}

static jv next_sib(const cctx *c, jv x)
{
    jv r = {x.v->next, c->jp->nodes[x.n].next};
    return r;
}

/* A whole number in [lo, hi], or an error; 1 when good. */
static int get_uint(cctx *c, jv x, const char *what, uint32_t lo, uint32_t hi,
                    uint32_t *out)
{
    int64_t v;

    if (!cJSON_IsNumber(x.v)) {
        ERR_AT(c, x, "%s must be a number, not %s", what,
               np__json_type_name(x.v));
        return 0;
    }
    if (!np__json_whole(x.v, lo, hi, &v)) {
        ERR_AT(c, x, "%s must be a whole number from %lu to %lu (got %g)", what,
               (unsigned long)lo, (unsigned long)hi, x.v->valuedouble);
        return 0;
    }
    *out = (uint32_t)v;
    return 1;
}

static int get_str(cctx *c, jv x, const char *what, char *buf, size_t size)
{
    size_t n;

    if (!cJSON_IsString(x.v)) {
        ERR_AT(c, x, "%s must be a string, not %s", what,
               np__json_type_name(x.v));
        return 0;
    }
    n = strlen(x.v->valuestring);
    if (n == 0 || n >= size) {
        ERR_AT(c, x, "%s must be 1 to %zu characters long", what, size - 1);
        return 0;
    }
    memcpy(buf, x.v->valuestring, n + 1);
    return 1;
}

/* A device's own LAN address: IPv4, not 0/8, loopback or multicast. */
static int get_addr(cctx *c, jv x, const char *what, np_addr *out)
{
    const unsigned char *b;
    enum np_addr_scope sc;

    if (!cJSON_IsString(x.v)) {
        ERR_AT(c, x, "%s must be a string, not %s", what,
               np__json_type_name(x.v));
        return 0;
    }
    if (np_addr_parse(out, x.v->valuestring, 0, NULL) != NP_OK ||
        np_addr_family(out) != AF_INET || np_addr_port(out) != 0) {
        ERR_AT(c, x, "%s \"%s\" is not an IPv4 address (like 198.18.0.20)",
               what, x.v->valuestring);
        return 0;
    }
    b = (const unsigned char *)&((const struct sockaddr_in *)&out->ss)
            ->sin_addr;
    sc = np_addr_scope(out);
    if (b[0] == 0 || b[0] >= 224 || sc == NP_SCOPE_LOOPBACK || (b[0] == 255)) {
        ERR_AT(c, x, "%s %s cannot be a device on the LAN", what,
               x.v->valuestring);
        return 0;
    }
    return 1;
}

static int get_bool(cctx *c, jv x, const char *what, int *out)
{
    if (!cJSON_IsBool(x.v)) {
        ERR_AT(c, x, "%s must be true or false, not %s", what,
               np__json_type_name(x.v));
        return 0;
    }
    *out = cJSON_IsTrue(x.v) ? 1 : 0;
    return 1;
}

static void check_object(cctx *c, jv x, const char *what)
{
    if (!cJSON_IsObject(x.v))
        ERR_AT(c, x, "%s must be an object, not %s", what,
               np__json_type_name(x.v));
}

/* Duplicate keys: cJSON keeps both; the first wins, the second is an error */
static int seen_key(jv obj, const cJSON *m)
{
    const cJSON *p;

    for (p = obj.v->child; p != NULL && p != m; p = p->next)
        if (strcmp(p->string, m->string) == 0)
            return 1;
    return 0;
}

static int parse_protocols(cctx *c, jv x, np_config *cfg)
{
    jv e;
    size_t i = 0;

    if (!cJSON_IsArray(x.v) || x.v->child == NULL) {
        ERR_AT(c, x,
               "protocols must be a non-empty array of \"pcp\", "
               "\"natpmp\", \"upnp\"");
        return 0;
    }
    memset(cfg->prefer, 0, sizeof(cfg->prefer));
    for (e = first_child(c, x); e.v != NULL; e = next_sib(c, e), i++) {
        size_t old = push(c, NULL, i);
        enum np_pm_proto p = cJSON_IsString(e.v)
                                 ? np_pm_proto_parse(e.v->valuestring)
                                 : NP_PM_NONE;
        size_t k;
        int dup = 0;

        if (p == NP_PM_NONE) {
            ERR_AT(c, e,
                   "unknown protocol; use \"pcp\", \"natpmp\" or "
                   "\"upnp\"");
        } else {
            for (k = 0; k < NP_PM_NPROTO - 1 && cfg->prefer[k] != NP_PM_NONE;
                 k++)
                if (cfg->prefer[k] == p)
                    dup = 1;
            if (dup)
                ERR_AT(c, e, "protocol \"%s\" is listed twice",
                       np_pm_proto_name(p));
            else if (k < NP_PM_NPROTO - 1)
                cfg->prefer[k] = p;
        }
        pop(c, old);
    }
    return 1;
}

int np_cfg_port_parse(const char *text, np_cfg_port *out, np_error *err)
{
    const char *p, *end;
    uint64_t lo, hi;

    if (text == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    memset(out, 0, sizeof(*out));
    if (strcasecmp(text, "all") == 0 || strcasecmp(text, "any") == 0 ||
        strcasecmp(text, "dmz") == 0 || strchr(text, '*') != NULL ||
        strcasestr(text, ":all") != NULL || strcasestr(text, ":any") != NULL)
        return np_error_set(err, NP_EINVALID, NULL,
                            "\"%.40s\" asks for every port (a DMZ): natpilot "
                            "never opens a device to everything",
                            text);
    if (strncasecmp(text, "udp:", 4) == 0)
        out->transport = NP_PM_UDP;
    else if (strncasecmp(text, "tcp:", 4) == 0)
        out->transport = NP_PM_TCP;
    else
        return np_error_set(err, NP_EINVALID, NULL,
                            "\"%.40s\": a rule is udp:PORT, tcp:PORT or "
                            "udp:LO-HI",
                            text);
    p = text + 4;
    if (*p < '0' || *p > '9')
        return np_error_set(err, NP_EINVALID, NULL,
                            "\"%.40s\": a port is a number", text);
    end = text + strlen(text);
    if (np__scan_u64(&p, end, 65536, &lo) != NP_OK)
        lo = 65536; /* too large: refused below */
    hi = lo;
    if (*p == '-') {
        p++;
        if (*p < '0' || *p > '9')
            return np_error_set(err, NP_EINVALID, NULL,
                                "\"%.40s\": a range is LO-HI", text);
        if (np__scan_u64(&p, end, 65536, &hi) != NP_OK)
            hi = 65536;
    }
    while (*p >= '0' && *p <= '9') /* the rest of an over-long number */
        p++;
    if (*p != '\0')
        return np_error_set(err, NP_EINVALID, NULL,
                            "\"%.40s\": a rule is udp:PORT, tcp:PORT or "
                            "udp:LO-HI",
                            text);
    if (lo == 0 || lo > 65535 || hi > 65535 || hi < lo)
        return np_error_set(err, NP_EINVALID, NULL,
                            "\"%.40s\": ports are 1 to 65535, low to high",
                            text);
    if (hi - lo + 1 > NP_CFG_PORT_SPAN_MAX)
        return np_error_set(err, NP_EINVALID, NULL,
                            "\"%.40s\" covers %lu ports: at most %d in one "
                            "rule (natpilot never forwards whole ranges; a "
                            "range that wide is a DMZ in all but name)",
                            text, (unsigned long)(hi - lo + 1),
                            NP_CFG_PORT_SPAN_MAX);
    out->lo = (uint16_t)lo;
    out->hi = (uint16_t)hi;
    return NP_OK;
}

static void parse_ports(cctx *c, jv x, np_cfg_device *dev)
{
    jv e;
    size_t i = 0, total = 0;

    if (!cJSON_IsArray(x.v) || x.v->child == NULL) {
        ERR_AT(c, x,
               "ports must be a non-empty array like [\"udp:3074\", "
               "\"tcp:27015-27030\"]");
        return;
    }
    for (e = first_child(c, x); e.v != NULL; e = next_sib(c, e), i++) {
        size_t old = push(c, NULL, i);
        np_cfg_port pr;
        np_error pe;

        if (i >= NP_CFG_MAX_PORT_RULES) {
            ERR_AT(c, e, "at most %d port rules per device",
                   NP_CFG_MAX_PORT_RULES);
            pop(c, old);
            break;
        }
        if (!cJSON_IsString(e.v)) {
            ERR_AT(c, e, "a port rule is a string like \"udp:3074\"");
        } else if (np_cfg_port_parse(e.v->valuestring, &pr, &pe) != NP_OK) {
            ERR_AT(c, e, "%s", pe.msg);
        } else if ((total += (size_t)(pr.hi - pr.lo) + 1) > NP_CFG_PORTS_MAX) {
            ERR_AT(c, e, "more than %d explicit ports for one device",
                   NP_CFG_PORTS_MAX);
        } else {
            dev->ports[dev->n_ports++] = pr;
        }
        pop(c, old);
    }
}

static void parse_device(cctx *c, jv x, np_cfg_device *dev,
                         const np_catalog *cat, int *has_addr)
{
    jv m, profs = {NULL, 0};
    int has_name = 0, has_profiles = 0, has_ports = 0;

    *has_addr = 0;
    if (!cJSON_IsObject(x.v)) {
        ERR_AT(c, x, "a device must be an object, not %s",
               np__json_type_name(x.v));
        return;
    }
    for (m = first_child(c, x); m.v != NULL; m = next_sib(c, m)) {
        const char *k = m.v->string;
        size_t old = push(c, k, 0);

        if (seen_key(x, m.v)) {
            ERR_KEY(c, m, "key \"%s\" appears twice", k);
        } else if (strcmp(k, "name") == 0) {
            has_name = get_str(c, m, "name", dev->name, sizeof(dev->name));
        } else if (strcmp(k, "address") == 0) {
            *has_addr = get_addr(c, m, "address", &dev->address);
        } else if (strcmp(k, "address6") == 0) {
            if (!cJSON_IsString(m.v) ||
                np_addr_parse(&dev->address6, m.v->valuestring, 0, NULL) !=
                    NP_OK ||
                np_addr_family(&dev->address6) != AF_INET6 ||
                np_addr_port(&dev->address6) != 0 ||
                (((const struct sockaddr_in6 *)&dev->address6.ss)
                     ->sin6_addr.s6_addr[0] &
                 0xe0) != 0x20) {
                memset(&dev->address6, 0, sizeof(dev->address6));
                ERR_AT(c, m,
                       "address6 must be a global IPv6 address (like "
                       "2001:db8:1::20)");
            }
        } else if (strcmp(k, "platform") == 0) {
            if (!cJSON_IsString(m.v) ||
                np_platform_parse(m.v->valuestring, &dev->platform) != NP_OK)
                ERR_AT(c, m,
                       "unknown platform; use \"xbox\", "
                       "\"playstation\", \"switch\" or \"pc\"");
        } else if (strcmp(k, "mode") == 0) {
            if (cJSON_IsString(m.v) && strcmp(m.v->valuestring, "map") == 0)
                dev->mode = NP_CFG_MAP;
            else if (cJSON_IsString(m.v) &&
                     strcmp(m.v->valuestring, "verify") == 0)
                dev->mode = NP_CFG_VERIFY;
            else
                ERR_AT(c, m,
                       "mode must be \"map\" (natpilot maps the "
                       "ports) or \"verify\" (the device maps them "
                       "itself)");
        } else if (strcmp(k, "profiles") == 0) {
            has_profiles = 1;
            profs = m;
        } else if (strcmp(k, "ports") == 0) {
            has_ports = 1;
            parse_ports(c, m, dev);
        } else {
            ERR_KEY(c, m,
                    "unknown key \"%s\" (a device has name, address, "
                    "address6, platform, profiles, ports, mode)",
                    k);
        }
        pop(c, old);
    }
    if (!has_name && cJSON_GetObjectItemCaseSensitive(x.v, "name") == NULL)
        ERR_AT(c, x, "a device needs a \"name\"");
    if (cJSON_GetObjectItemCaseSensitive(x.v, "address") == NULL)
        ERR_AT(c, x, "a device needs an \"address\"");
    if (!has_profiles && has_ports)
        return;
    if (!has_profiles) {
        ERR_AT(c, x,
               "a device needs \"profiles\" (a list of profile ids) or "
               "\"ports\"");
        return;
    }
    {
        size_t old = push(c, "profiles", 0);
        jv e;
        size_t i = 0;

        if (!cJSON_IsArray(profs.v) || profs.v->child == NULL) {
            ERR_AT(c, profs,
                   "profiles must be a non-empty array of profile "
                   "ids");
            pop(c, old);
            return;
        }
        dev->profiles = calloc(NP_CFG_MAX_PROFILES, sizeof(char *));
        if (dev->profiles == NULL) {
            c->oom = 1;
            pop(c, old);
            return;
        }
        for (e = first_child(c, profs); e.v != NULL; e = next_sib(c, e), i++) {
            size_t o2 = push(c, NULL, i);

            if (i >= NP_CFG_MAX_PROFILES) {
                ERR_AT(c, e, "at most %d profiles per device",
                       NP_CFG_MAX_PROFILES);
                pop(c, o2);
                break;
            }
            if (!cJSON_IsString(e.v) || e.v->valuestring[0] == '\0') {
                ERR_AT(c, e, "a profile id must be a non-empty string");
            } else if (cat != NULL &&
                       np_catalog_find(cat, e.v->valuestring) == NULL) {
                ERR_AT(c, e,
                       "unknown profile \"%s\" (see 'natpilot "
                       "profiles list')",
                       e.v->valuestring);
            } else {
                size_t k;
                int dup = 0;

                for (k = 0; k < dev->n_profiles; k++)
                    if (strcmp(dev->profiles[k], e.v->valuestring) == 0)
                        dup = 1;
                if (dup) {
                    ERR_AT(c, e, "profile \"%s\" is listed twice",
                           e.v->valuestring);
                } else {
                    dev->profiles[dev->n_profiles] = strdup(e.v->valuestring);
                    if (dev->profiles[dev->n_profiles] == NULL)
                        c->oom = 1;
                    else
                        dev->n_profiles++;
                }
            }
            pop(c, o2);
        }
        /* The whole set must resolve for the platform. */
        if (cat != NULL && dev->n_profiles > 0 && c->errors == 0) {
            np_resolved *res = NULL;
            np_error e2;
            int rc = np_resolve(cat, (const char *const *)dev->profiles,
                                dev->n_profiles, dev->platform, &res, &e2);

            if (rc == NP_ENOMEM)
                c->oom = 1;
            else if (rc != NP_OK)
                ERR_AT(c, profs, "%s", e2.msg);
            np_resolved_free(res);
        }
        pop(c, old);
    }
}

static void parse_devices(cctx *c, jv x, np_config *cfg, const np_catalog *cat)
{
    jv e;
    size_t i = 0, n = 0;

    if (!cJSON_IsArray(x.v)) {
        ERR_AT(c, x, "devices must be an array, not %s",
               np__json_type_name(x.v));
        return;
    }
    for (e = first_child(c, x); e.v != NULL; e = next_sib(c, e))
        n++;
    if (n == 0) {
        /* allowed only with the web interface on (checked in parse_top:
         * "web" may come later), where devices are added from the page */
        c->empty_devices = x;
        return;
    }
    if (n > NP_CFG_MAX_DEVICES) {
        ERR_AT(c, x, "at most %d devices", NP_CFG_MAX_DEVICES);
        return;
    }
    cfg->devices = calloc(n, sizeof(*cfg->devices));
    if (cfg->devices == NULL) {
        c->oom = 1;
        return;
    }
    cfg->n_devices = n;
    for (e = first_child(c, x); e.v != NULL; e = next_sib(c, e), i++) {
        size_t old = push(c, NULL, i), k;
        np_cfg_device *d = &cfg->devices[i];
        int has_addr = 0;

        parse_device(c, e, d, cat, &has_addr);
        for (k = 0; k < i; k++) {
            if (d->name[0] != '\0' &&
                strcmp(cfg->devices[k].name, d->name) == 0)
                ERR_AT(c, e,
                       "duplicate device name \"%s\" (also "
                       "/devices/%zu)",
                       d->name, k);
            else if (has_addr &&
                     np_addr_equal(&cfg->devices[k].address, &d->address))
                ERR_AT(c, e,
                       "duplicate device address (also /devices/%zu, "
                       "\"%s\")",
                       k, cfg->devices[k].name);
        }
        pop(c, old);
    }
}

int np_config_web_addr_ok(const np_addr *a)
{
    const unsigned char *b;

    if (a == NULL)
        return 0;
    switch (np_addr_scope(a)) {
    case NP_SCOPE_LOOPBACK:
    case NP_SCOPE_PRIVATE:
    case NP_SCOPE_LINK_LOCAL:
        return 1;
    case NP_SCOPE_OTHER_RESERVED:
        /* only 198.18.0.0/15 (benchmark networks, used for LANs in labs);
         * not 0/8, 240/4 or multicast */
        if (np_addr_family(a) != AF_INET)
            return 0;
        b = (const unsigned char *)&((const struct sockaddr_in *)&a->ss)
                ->sin_addr;
        return b[0] == 198 && (b[1] & 0xfe) == 18;
    case NP_SCOPE_PUBLIC:
    case NP_SCOPE_SHARED:
    case NP_SCOPE_DOCUMENTATION:
    default:
        return 0;
    }
}

static void parse_web(cctx *c, jv x, np_config *cfg)
{
    jv m;

    if (!cJSON_IsObject(x.v)) {
        check_object(c, x, "web");
        return;
    }
    for (m = first_child(c, x); m.v != NULL; m = next_sib(c, m)) {
        const char *k = m.v->string;
        size_t old = push(c, k, 0);

        if (seen_key(x, m.v)) {
            ERR_KEY(c, m, "key \"%s\" appears twice", k);
        } else if (strcmp(k, "enabled") == 0) {
            (void)get_bool(c, m, "enabled", &cfg->web.enabled);
        } else if (strcmp(k, "listen") == 0) {
            np_addr a;
            char abuf[NP_ADDRSTRLEN];

            if (!cJSON_IsString(m.v) ||
                np_addr_parse(&a, m.v->valuestring, NP_CFG_WEB_PORT, NULL) !=
                    NP_OK) {
                ERR_AT(c, m,
                       "listen must be an address and port, like "
                       "\"127.0.0.1:8780\" or \"[::1]:8780\"");
            } else if (np_addr_port(&a) == 0) {
                ERR_AT(c, m, "listen needs a port other than 0");
            } else if (!np_config_web_addr_ok(&a)) {
                ERR_AT(c, m,
                       "listen %s is not a loopback or LAN address; the web "
                       "interface can open ports on the router and never "
                       "listens on a WAN, public or wildcard address",
                       np_addr_ip_str(&a, abuf, sizeof(abuf)));
            } else {
                cfg->web.listen = a;
            }
        } else if (strcmp(k, "hosts") == 0) {
            jv e;
            size_t i = 0;

            if (!cJSON_IsArray(m.v)) {
                ERR_AT(c, m, "hosts must be an array of host names");
            } else {
                for (e = first_child(c, m); e.v != NULL;
                     e = next_sib(c, e), i++) {
                    size_t o2 = push(c, NULL, i);
                    char h[NP_CFG_NAME_MAX];
                    size_t j;
                    int bad = 0;

                    if (i >= NP_CFG_WEB_MAX_HOSTS) {
                        ERR_AT(c, e, "at most %d hosts", NP_CFG_WEB_MAX_HOSTS);
                        pop(c, o2);
                        break;
                    }
                    if (get_str(c, e, "a host name", h, sizeof(h))) {
                        for (j = 0; h[j] != '\0'; j++)
                            if (!((h[j] >= 'a' && h[j] <= 'z') ||
                                  (h[j] >= 'A' && h[j] <= 'Z') ||
                                  (h[j] >= '0' && h[j] <= '9') || h[j] == '-' ||
                                  h[j] == '.'))
                                bad = 1;
                        if (bad)
                            ERR_AT(c, e,
                                   "a host name has only letters, digits, "
                                   "'-' and '.' (no port)");
                        else
                            memcpy(cfg->web.hosts[cfg->web.n_hosts++], h,
                                   sizeof(h));
                    }
                    pop(c, o2);
                }
            }
        } else if (strcmp(k, "stun") == 0) {
            if (!cJSON_IsString(m.v) ||
                np_addr_parse(&cfg->web.stun, m.v->valuestring, 3478, NULL) !=
                    NP_OK)
                ERR_AT(c, m,
                       "stun must be a STUN server's address and port, like "
                       "\"198.51.100.10:3478\" (no names: no DNS here)");
        } else if (strcmp(k, "token_file") == 0) {
            if (get_str(c, m, "token_file", cfg->web.token_file,
                        sizeof(cfg->web.token_file)) &&
                cfg->web.token_file[0] != '/')
                ERR_AT(c, m, "token_file must be an absolute path");
        } else if (strcmp(k, "devices_file") == 0) {
            if (get_str(c, m, "devices_file", cfg->web.devices_file,
                        sizeof(cfg->web.devices_file)) &&
                cfg->web.devices_file[0] != '/')
                ERR_AT(c, m, "devices_file must be an absolute path");
        } else {
            ERR_KEY(c, m,
                    "unknown key \"%s\" (web has enabled, listen, hosts, "
                    "token_file, stun, devices_file)",
                    k);
        }
        pop(c, old);
    }
}

static void parse_top(cctx *c, jv root, np_config *cfg, const np_catalog *cat)
{
    jv m;
    int has_devices = 0;

    if (!cJSON_IsObject(root.v)) {
        check_object(c, root, "the configuration");
        return;
    }
    for (m = first_child(c, root); m.v != NULL; m = next_sib(c, m)) {
        const char *k = m.v->string;
        size_t old = push(c, k, 0);

        if (seen_key(root, m.v)) {
            ERR_KEY(c, m, "key \"%s\" appears twice", k);
        } else if (strcmp(k, "lease") == 0) {
            (void)get_uint(c, m, "lease", NP_CFG_LEASE_MIN, NP_CFG_LEASE_MAX,
                           &cfg->lease);
        } else if (strcmp(k, "verify_interval") == 0) {
            (void)get_uint(c, m, "verify_interval", NP_CFG_VERIFY_MIN,
                           NP_CFG_VERIFY_MAX, &cfg->verify_interval);
        } else if (strcmp(k, "protocols") == 0) {
            (void)parse_protocols(c, m, cfg);
        } else if (strcmp(k, "log_level") == 0) {
            int lv =
                cJSON_IsString(m.v) ? np_log_level_parse(m.v->valuestring) : -1;
            if (lv < 0)
                ERR_AT(c, m,
                       "log_level must be \"error\", \"warn\", "
                       "\"info\" or \"debug\"");
            else
                cfg->log_level = lv;
        } else if (strcmp(k, "state_file") == 0) {
            if (get_str(c, m, "state_file", cfg->state_file,
                        sizeof(cfg->state_file)) &&
                cfg->state_file[0] != '/')
                ERR_AT(c, m, "state_file must be an absolute path");
        } else if (strcmp(k, "status_socket") == 0) {
            if (get_str(c, m, "status_socket", cfg->status_socket,
                        sizeof(cfg->status_socket)) &&
                cfg->status_socket[0] != '/')
                ERR_AT(c, m, "status_socket must be an absolute path");
        } else if (strcmp(k, "ssdp_listen") == 0) {
            (void)get_bool(c, m, "ssdp_listen", &cfg->ssdp_listen);
        } else if (strcmp(k, "profiles_dir") == 0) {
            (void)get_str(c, m, "profiles_dir", cfg->profiles_dir,
                          sizeof(cfg->profiles_dir));
        } else if (strcmp(k, "gateway") == 0) {
            (void)get_addr(c, m, "gateway", &cfg->gateway);
        } else if (strcmp(k, "devices") == 0) {
            has_devices = 1;
            parse_devices(c, m, cfg, cat);
        } else if (strcmp(k, "web") == 0) {
            parse_web(c, m, cfg);
        } else {
            ERR_KEY(c, m, "unknown key \"%s\" (see natpilot.conf(5))", k);
        }
        pop(c, old);
    }
    if (!has_devices && !cfg->web.enabled)
        ERR_AT(c, root, "the configuration needs \"devices\"");
    if (c->empty_devices.v != NULL && !cfg->web.enabled) {
        size_t old = push(c, "devices", 0);

        ERR_AT(c, c->empty_devices,
               "devices is empty: list at least one device (or enable the "
               "web interface and add them there)");
        pop(c, old);
    }
}

void np_config_free(np_config *cfg)
{
    size_t i, k;

    if (cfg == NULL)
        return;
    for (i = 0; i < cfg->n_devices; i++) {
        for (k = 0; k < cfg->devices[i].n_profiles; k++)
            free(cfg->devices[i].profiles[k]);
        free(cfg->devices[i].profiles);
    }
    free(cfg->devices);
    free(cfg);
}

static int join(char *buf, size_t size, const char *a, const char *b);

int np_config_parse(const char *name, const char *text, size_t len,
                    const np_catalog *cat, np_config **out, np_diags *diags,
                    np_error *err)
{
    np__jpos jp = {0};
    cJSON *doc = NULL;
    np_config *cfg = NULL;
    cctx c;
    size_t err_off = 0;
    char msg[200];
    unsigned line, col;
    int r, status = NP_OK;

    if (out == NULL || diags == NULL || text == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    *out = NULL;
    if (name == NULL)
        name = "config";
    if (len > NP_CFG_MAX_BYTES) {
        if (np__diag_add(diags, NP_DIAG_ERROR, name, 0, 0, "",
                         "file is %zu bytes; the limit is %d", len,
                         NP_CFG_MAX_BYTES) != NP_OK)
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return np_error_set(err, NP_EINVALID, name, "invalid configuration");
    }
    r = np__jpos_scan(&jp, text, len, 16, &err_off, msg, sizeof(msg));
    if (r != 0) {
        np__jpos_free(&jp);
        if (r == -2)
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        np__jpos_linecol(text, len, err_off, &line, &col);
        if (np__diag_add(diags, NP_DIAG_ERROR, name, line, col, "",
                         "malformed JSON: %s", msg) != NP_OK)
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return np_error_set(err, NP_EINVALID, name, "invalid configuration");
    }
    doc = cJSON_ParseWithLength(text, len);
    cfg = calloc(1, sizeof(*cfg));
    if (doc == NULL || cfg == NULL) {
        status = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        goto out;
    }
    cfg->lease = NP_CFG_LEASE_DEFAULT;
    cfg->log_level = NP_LOG_INFO;
    cfg->ssdp_listen = 1;
    memset(&c, 0, sizeof(c));
    c.diags = diags;
    c.file = name;
    c.text = text;
    c.len = len;
    c.jp = &jp;
    {
        jv root = {doc, 0};
        parse_top(&c, root, cfg, cat);
    }
    if (c.oom) {
        status = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (c.errors > 0) {
        status = np_error_set(err, NP_EINVALID, name,
                              "invalid configuration (%u problem%s)", c.errors,
                              c.errors == 1 ? "" : "s");
        goto out;
    }
    if (cfg->verify_interval == 0)
        cfg->verify_interval = cfg->lease / 2 < 300 ? cfg->lease / 2 : 300;
    if (cfg->state_file[0] == '\0' &&
        np_config_default_state_file(cfg->state_file,
                                     sizeof(cfg->state_file)) != NP_OK) {
        (void)np__diag_add(diags, NP_DIAG_ERROR, name, 0, 0, "/state_file",
                           "no state_file given and no default directory "
                           "($STATE_DIRECTORY, $XDG_STATE_HOME, $HOME)");
        status = np_error_set(err, NP_EINVALID, name, "invalid configuration");
        goto out;
    }
    if (cfg->status_socket[0] == '\0' &&
        np_config_default_status_socket(cfg->status_socket,
                                        sizeof(cfg->status_socket)) != NP_OK) {
        (void)np__diag_add(diags, NP_DIAG_ERROR, name, 0, 0, "/status_socket",
                           "no status_socket given and no default directory "
                           "($RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR)");
        status = np_error_set(err, NP_EINVALID, name, "invalid configuration");
        goto out;
    }
    if (!np_addr_is_set(&cfg->web.listen))
        (void)np_addr_parse(&cfg->web.listen, "127.0.0.1", NP_CFG_WEB_PORT,
                            NULL);
    if (cfg->web.token_file[0] == '\0') {
        char dir[NP_CFG_PATH_MAX];

        memcpy(dir, cfg->state_file, sizeof(dir));
        if (join(cfg->web.token_file, sizeof(cfg->web.token_file), dirname(dir),
                 "/web-token") != NP_OK) {
            (void)np__diag_add(diags, NP_DIAG_ERROR, name, 0, 0,
                               "/web/token_file",
                               "the state directory's path is too long for "
                               "the web token file");
            status =
                np_error_set(err, NP_EINVALID, name, "invalid configuration");
            goto out;
        }
    }
    if (cfg->web.devices_file[0] == '\0') {
        char dir[NP_CFG_PATH_MAX];

        memcpy(dir, cfg->state_file, sizeof(dir));
        if (join(cfg->web.devices_file, sizeof(cfg->web.devices_file),
                 dirname(dir), "/web-devices.json") != NP_OK) {
            (void)np__diag_add(diags, NP_DIAG_ERROR, name, 0, 0,
                               "/web/devices_file",
                               "the state directory's path is too long for "
                               "the web devices file");
            status =
                np_error_set(err, NP_EINVALID, name, "invalid configuration");
            goto out;
        }
    }
    *out = cfg;
    cfg = NULL; /* transferred */
out:
    np_config_free(cfg);
    cJSON_Delete(doc);
    np__jpos_free(&jp);
    return status;
}

int np_config_load(const char *path, const np_catalog *cat, np_config **out,
                   np_diags *diags, np_error *err)
{
    FILE *f;
    char *buf;
    size_t n;
    int rc;

    if (path == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL)
        return np_error_sys(err, errno, path, "cannot open the configuration");
    buf = malloc(NP_CFG_MAX_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    }
    n = fread(buf, 1, NP_CFG_MAX_BYTES + 1, f);
    if (ferror(f)) {
        rc = np_error_sys(err, errno, path, "cannot read the configuration");
        fclose(f);
        free(buf);
        return rc;
    }
    fclose(f);
    rc = np_config_parse(path, buf, n, cat, out, diags, err);
    free(buf);
    return rc;
}

static int join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s%s", a, b);

    if (n < 0 || (size_t)n >= size)
        return NP_EBUFSIZE;
    return NP_OK;
}

int np_config_default_state_file(char *buf, size_t size)
{
    const char *e = getenv("STATE_DIRECTORY");

    if (e != NULL && e[0] == '/')
        return join(buf, size, e, "/state.json");
    if (geteuid() == 0)
        return join(buf, size, "/var/lib/natpilot", "/state.json");
    e = getenv("XDG_STATE_HOME");
    if (e != NULL && e[0] == '/')
        return join(buf, size, e, "/natpilot/state.json");
    e = getenv("HOME");
    if (e != NULL && e[0] == '/')
        return join(buf, size, e, "/.local/state/natpilot/state.json");
    return NP_ENOTFOUND;
}

int np_config_default_status_socket(char *buf, size_t size)
{
    const char *e = getenv("RUNTIME_DIRECTORY");

    if (e != NULL && e[0] == '/')
        return join(buf, size, e, "/status.sock");
    if (geteuid() == 0)
        return join(buf, size, "/run/natpilot", "/status.sock");
    e = getenv("XDG_RUNTIME_DIR");
    if (e != NULL && e[0] == '/')
        return join(buf, size, e, "/natpilot/status.sock");
    return NP_ENOTFOUND;
}

int np_config_client_status_socket(char *buf, size_t size)
{
    static const char sys[] = "/run/natpilot/status.sock";
    struct stat st;
    int rc = np_config_default_status_socket(buf, size);

    if (rc == NP_OK && stat(buf, &st) == 0)
        return NP_OK;
    if (rc != NP_EBUFSIZE && geteuid() != 0 && stat(sys, &st) == 0 &&
        S_ISSOCK(st.st_mode))
        return join(buf, size, sys, "");
    return rc;
}

/* The "profiles_dir" member of the text, if it is a string, else "". */
static void peek_profiles_dir(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    cJSON *doc, *v;

    out[0] = '\0';
    if (f == NULL)
        return;
    buf = malloc(NP_CFG_MAX_BYTES);
    if (buf == NULL) {
        fclose(f);
        return;
    }
    n = fread(buf, 1, NP_CFG_MAX_BYTES, f);
    fclose(f);
    doc = cJSON_ParseWithLength(buf, n);
    free(buf);
    v = cJSON_GetObjectItemCaseSensitive(doc, "profiles_dir");
    if (cJSON_IsString(v))
        snprintf(out, size, "%s", v->valuestring);
    cJSON_Delete(doc);
}

/* --- the devices added from the web page (web.devices_file) ------------- */

/* Only {"devices": [...]}: anything else in that file is an error. */
static int web_file_keys_ok(const char *name, const cJSON *doc, np_diags *d)
{
    const cJSON *it;

    if (!cJSON_IsObject(doc))
        return np__diag_add(d, NP_DIAG_ERROR, name, 0, 0, "",
                            "the web devices file must be a JSON object") ==
                       NP_OK
                   ? 0
                   : -1;
    cJSON_ArrayForEach(it, doc)
    {
        if (strcmp(it->string, "devices") != 0) {
            if (np__diag_add(d, NP_DIAG_ERROR, name, 0, 0, "",
                             "unknown key \"%s\" (the web devices file has "
                             "only devices)",
                             it->string) != NP_OK)
                return -1;
            return 0;
        }
    }
    return 1;
}

/* Parse the web devices file's text as a configuration of devices only. */
static int parse_web_devices(const char *name, const char *text, size_t len,
                             const np_catalog *cat, np_config **out,
                             np_diags *diags, np_error *err)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    int ok;

    *out = NULL;
    if (doc != NULL) {
        ok = web_file_keys_ok(name, doc, diags);
        cJSON_Delete(doc);
        if (ok < 0)
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        if (ok == 0)
            return np_error_set(err, NP_EINVALID, name,
                                "invalid web devices file");
    }
    return np_config_parse(name, text, len, cat, out, diags, err);
}

static int same_device(const np_cfg_device *a, const np_cfg_device *b)
{
    return strcmp(a->name, b->name) == 0 ||
           np_addr_same_ip(&a->address, &b->address);
}

static int merge_web_devices(np_config *cfg, const np_catalog *cat,
                             np_diags *diags, np_error *err)
{
    const char *path = cfg->web.devices_file;
    np_config *w = NULL;
    np_cfg_device *all;
    char *buf = NULL;
    size_t n = 0, i, j;
    int rc;

    if (path[0] == '\0')
        return NP_OK;
    rc = np__file_load(path, NP_CFG_MAX_BYTES, &buf, &n, err);
    if (rc == NP_ENOTFOUND) {
        np_error_clear(err);
        return NP_OK; /* nothing added from the page yet */
    }
    if (rc != NP_OK)
        return rc;
    rc = parse_web_devices(path, buf, n, cat, &w, diags, err);
    free(buf);
    if (rc != NP_OK)
        return rc;
    for (i = 0; i < w->n_devices; i++)
        for (j = 0; j < cfg->n_devices; j++)
            if (same_device(&w->devices[i], &cfg->devices[j])) {
                if (np__diag_add(diags, NP_DIAG_ERROR, path, 0, 0, "/devices",
                                 "device %s: a device of that name or "
                                 "address is already in the configuration",
                                 w->devices[i].name) != NP_OK)
                    rc = NP_ENOMEM;
                np_config_free(w);
                return rc == NP_ENOMEM
                           ? np_error_set(err, NP_ENOMEM, NULL, "out of memory")
                           : np_error_set(err, NP_EINVALID, path,
                                          "invalid web devices file");
            }
    if (cfg->n_devices + w->n_devices > NP_CFG_MAX_DEVICES) {
        np_config_free(w);
        (void)np__diag_add(diags, NP_DIAG_ERROR, path, 0, 0, "/devices",
                           "more than %d devices with the configuration's",
                           NP_CFG_MAX_DEVICES);
        return np_error_set(err, NP_EINVALID, path, "invalid web devices file");
    }
    all = realloc(cfg->devices,
                  (cfg->n_devices + w->n_devices + 1) * sizeof(*all));
    if (all == NULL) {
        np_config_free(w);
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    }
    cfg->devices = all;
    /* moved: the profiles now belong to cfg */
    memcpy(&all[cfg->n_devices], w->devices, w->n_devices * sizeof(*all));
    cfg->n_devices += w->n_devices;
    w->n_devices = 0;
    np_config_free(w);
    return NP_OK;
}

int np_config_load_full(const char *path, np_config **out, np_catalog **cat_out,
                        np_diags *diags, np_error *err)
{
    np_catalog *cat = NULL;
    np_diags pdiags;
    char dir[NP_CFG_PATH_MAX];
    int rc;

    if (path == NULL || out == NULL || diags == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    *out = NULL;
    if (cat_out != NULL)
        *cat_out = NULL;
    peek_profiles_dir(path, dir, sizeof(dir));
    cat = np_catalog_new();
    if (cat == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    np_diags_init(&pdiags);
    rc = np_catalog_load_default(cat, dir[0] ? dir : NULL, &pdiags, err);
    np_diags_free(&pdiags);
    if (rc == NP_ENOTFOUND && dir[0]) {
        if (np__diag_add(diags, NP_DIAG_ERROR, path, 0, 0, "/profiles_dir",
                         "profiles_dir %s does not exist", dir) != NP_OK)
            rc = NP_ENOMEM;
        np_catalog_free(cat);
        if (rc == NP_ENOMEM)
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return np_error_set(err, NP_EINVALID, path, "invalid configuration");
    }
    if (rc == NP_ENOMEM || rc == NP_ESYS) {
        np_catalog_free(cat);
        return rc;
    }
    np_error_clear(err);
    rc = np_config_load(path, cat, out, diags, err);
    if (rc == NP_OK) {
        rc = merge_web_devices(*out, cat, diags, err);
        if (rc != NP_OK) {
            np_config_free(*out);
            *out = NULL;
        }
    }
    if (rc != NP_OK || cat_out == NULL)
        np_catalog_free(cat);
    else
        *cat_out = cat;
    return rc;
}

/* --- adding a device (the web interface's set-up) ------------------------ */

/* Append dev to the devices of the text buf (the file at path), check the
 * result with parse, replace the file. web: the web devices file (buf
 * NULL: new file). */
static int add_device_to(const char *path, char *buf, size_t n, int web,
                         const np_cfg_device *dev, const np_catalog *cat,
                         np_diags *diags, np_error *err)
{
    char *text = NULL, ip[NP_ADDRSTRLEN];
    cJSON *doc = NULL, *devs, *o, *arr, *it;
    np_config *check = NULL;
    size_t i;
    int rc = NP_OK;

    /* The file as it is must load (so that nothing else changes meaning). */
    if (buf != NULL) {
        rc = web ? parse_web_devices(path, buf, n, cat, &check, diags, err)
                 : np_config_parse(path, buf, n, cat, &check, diags, err);
        np_config_free(check);
        check = NULL;
        if (rc != NP_OK)
            goto out;
    }
    doc = buf != NULL ? cJSON_ParseWithLength(buf, n) : cJSON_CreateObject();
    if (doc == NULL) {
        rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        goto out;
    }
    devs = cJSON_GetObjectItemCaseSensitive(doc, "devices");
    if (devs == NULL) {
        devs = cJSON_AddArrayToObject(doc, "devices");
        if (devs == NULL) {
            rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
            goto out;
        }
    }
    np_addr_ip_str(&dev->address, ip, sizeof(ip));
    cJSON_ArrayForEach(it, devs)
    {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *ad = cJSON_GetObjectItemCaseSensitive(it, "address");

        if ((cJSON_IsString(nm) && strcmp(nm->valuestring, dev->name) == 0) ||
            (cJSON_IsString(ad) && strcmp(ad->valuestring, ip) == 0)) {
            rc = np_error_set(err, NP_EEXIST, path,
                              "a device named %s or at %s is already "
                              "configured",
                              dev->name, ip);
            goto out;
        }
    }
    o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(devs, o)) {
        cJSON_Delete(o);
        rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        goto out;
    }
    arr = NULL;
    if (cJSON_AddStringToObject(o, "name", dev->name) == NULL ||
        cJSON_AddStringToObject(o, "address", ip) == NULL ||
        (dev->platform != 0 &&
         cJSON_AddStringToObject(o, "platform",
                                 np_platform_name(dev->platform)) == NULL) ||
        (dev->n_profiles > 0 &&
         (arr = cJSON_AddArrayToObject(o, "profiles")) == NULL) ||
        cJSON_AddStringToObject(
            o, "mode", dev->mode == NP_CFG_VERIFY ? "verify" : "map") == NULL) {
        rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        goto out;
    }
    if (dev->n_ports > 0) {
        cJSON *pa = cJSON_AddArrayToObject(o, "ports");

        for (i = 0; pa != NULL && i < dev->n_ports; i++) {
            char t[24];

            if (dev->ports[i].lo == dev->ports[i].hi)
                snprintf(t, sizeof(t), "%s:%u",
                         dev->ports[i].transport == NP_PM_TCP ? "tcp" : "udp",
                         (unsigned)dev->ports[i].lo);
            else
                snprintf(t, sizeof(t), "%s:%u-%u",
                         dev->ports[i].transport == NP_PM_TCP ? "tcp" : "udp",
                         (unsigned)dev->ports[i].lo,
                         (unsigned)dev->ports[i].hi);
            if (cJSON_AddItemToArray(pa, cJSON_CreateString(t)) == 0)
                pa = NULL;
        }
        if (pa == NULL) {
            rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
            goto out;
        }
    }
    for (i = 0; i < dev->n_profiles; i++) {
        cJSON *s = cJSON_CreateString(dev->profiles[i]);

        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
            goto out;
        }
    }
    text = cJSON_Print(doc);
    if (text == NULL) {
        rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        goto out;
    }
    /* The new text must load too, before it replaces the file. */
    rc = web ? parse_web_devices(path, text, strlen(text), cat, &check, diags,
                                 err)
             : np_config_parse(path, text, strlen(text), cat, &check, diags,
                               err);
    np_config_free(check);
    if (rc != NP_OK)
        goto out;
    {
        size_t tl = strlen(text);

        /* one trailing newline, as an editor writes it */
        char *t2 = realloc(text, tl + 2);

        if (t2 == NULL) {
            rc = np_error_set(err, NP_ENOMEM, NULL, "out of memory");
            goto out;
        }
        text = t2;
        text[tl] = '\n';
        text[tl + 1] = '\0';
        {
            struct stat st;

            rc = np__file_replace(
                path, text, tl + 1,
                stat(path, &st) == 0 ? st.st_mode & 07777 : 0644, err);
        }
    }
out:
    free(text);
    cJSON_Delete(doc);
    return rc;
}

int np_config_add_device(const char *path, const np_cfg_device *dev,
                         const np_catalog *cat, np_diags *diags, np_error *err)
{
    char *buf = NULL;
    size_t n = 0;
    int rc;

    if (path == NULL || dev == NULL || diags == NULL ||
        (dev->n_profiles == 0 && dev->n_ports == 0))
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    rc = np__file_load(path, NP_CFG_MAX_BYTES, &buf, &n, err);
    if (rc != NP_OK)
        return rc;
    rc = add_device_to(path, buf, n, 0, dev, cat, diags, err);
    free(buf);
    return rc;
}

int np_config_add_web_device(const np_config *cfg, const np_cfg_device *dev,
                             const np_catalog *cat, np_diags *diags,
                             np_error *err)
{
    const char *path;
    char *buf = NULL;
    size_t n = 0, i;
    int rc;

    if (cfg == NULL || dev == NULL || diags == NULL ||
        (dev->n_profiles == 0 && dev->n_ports == 0) ||
        cfg->web.devices_file[0] == '\0')
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    path = cfg->web.devices_file;
    for (i = 0; i < cfg->n_devices; i++)
        if (same_device(&cfg->devices[i], dev))
            return np_error_set(err, NP_EEXIST, path,
                                "a device named %s or at that address is "
                                "already configured (as %s)",
                                dev->name, cfg->devices[i].name);
    rc = np__file_load(path, NP_CFG_MAX_BYTES, &buf, &n, err);
    if (rc == NP_ENOTFOUND) {
        np_error_clear(err);
        buf = NULL;
    } else if (rc != NP_OK) {
        return rc;
    }
    rc = add_device_to(path, buf, n, 1, dev, cat, diags, err);
    free(buf);
    return rc;
}
