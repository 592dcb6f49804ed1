/*
 * The keeper: one poll() loop that keeps the configured mappings alive.
 *
 * Timers (all on CLOCK_MONOTONIC, no periodic tick):
 *   - each held mapping is renewed at 40-50 % of its granted lease; entries
 *     that fall due within a short slack of each other are renewed in one
 *     batch, so a round of renewals is one wake-up;
 *   - a periodic check (verify_interval): rediscovery (PCP / NAT-PMP epochs,
 *     RFC 6887 §8.5 and RFC 6886 §3.6), the UPnP table read back (our
 *     mappings gone = the router restarted; the self-mapping devices' rules
 *     present, missing or pointing elsewhere);
 *   - while the router does not answer, a retry with exponential back-off.
 * Events: the signal fd (SIGTERM/SIGINT stop, SIGHUP reload), the status
 * socket (one JSON document per connection), and SSDP NOTIFY from the
 * gateway (a new BOOTID or LOCATION brings the check forward).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "natpilot/session.h"

#include "keeper_int.h"
#include "np_util.h"

#define NEVER INT64_MAX

void np__keep_log(np_keeper *k, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (k->opts.log == NULL || level > k->cfg->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    k->opts.log(k->opts.log_ud, level, line);
}

static double rnd01(np_keeper *k)
{
    uint64_t x = k->rnd;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    k->rnd = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

static const char *tname(int transport)
{
    return transport == NP_PM_TCP ? "TCP" : "UDP";
}

/* --- entries from the configuration ------------------------------------ */

/* Append (tr, p) for device i unless it is listed already: 0 added or
 * a duplicate, 1 the device is full, -1 out of memory. */
static int add_ent(np__ent **ents, size_t *n, size_t *cap, size_t first,
                   size_t i, const np_cfg_device *d, int tr, uint32_t p,
                   int alt)
{
    size_t j;

    for (j = first; j < *n; j++)
        if ((*ents)[j].transport == tr && (*ents)[j].port == p)
            return 0;
    if (*n - first >= NP__KEEP_MAX_PER_DEVICE)
        return 1;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        np__ent *ne = realloc(*ents, nc * sizeof(*ne));

        if (ne == NULL)
            return -1;
        *ents = ne;
        *cap = nc;
    }
    memset(&(*ents)[*n], 0, sizeof((*ents)[*n]));
    (*ents)[*n].dev = i;
    (*ents)[*n].transport = tr;
    (*ents)[*n].port = (uint16_t)p;
    (*ents)[*n].alt_port = alt;
    (*ents)[*n].state =
        d->mode == NP_CFG_MAP ? NP__ENT_PENDING : NP__ENT_UNKNOWN;
    (*ents)[*n].due = d->mode == NP_CFG_MAP ? 0 : NEVER;
    (*n)++;
    return 0;
}

static int build_entries(const np_config *cfg, const np_catalog *cat,
                         np__ent **out, size_t *n_out, np_keeper *logk,
                         np_error *err)
{
    np__ent *ents = NULL;
    size_t n = 0, cap = 0, i, r, x;

    *out = NULL;
    *n_out = 0;
    for (i = 0; i < cfg->n_devices; i++) {
        const np_cfg_device *d = &cfg->devices[i];
        np_resolved *res = NULL;
        size_t first = n;
        int rc = 0;

        if (d->n_profiles > 0) {
            rc = np_resolve(cat, (const char *const *)d->profiles,
                            d->n_profiles, d->platform, &res, err);
            if (rc != NP_OK) {
                free(ents);
                return rc;
            }
        }
        for (r = 0; res != NULL && r < res->n_inbound; r++) {
            const np_rule *rule = &res->inbound[r];

            if (rule->broad) {
                if (logk != NULL)
                    np__keep_log(logk, NP_LOG_WARN,
                                 "device %s: a %s rule of profile %s covers "
                                 "a broad range; not mapped",
                                 d->name, np_proto_name(rule->protocol),
                                 rule->profile_id);
                continue;
            }
            for (x = 0; x < rule->n_ports; x++) {
                uint32_t p;

                for (p = rule->ports[x].lo; p <= rule->ports[x].hi; p++) {
                    int tr =
                        rule->protocol == NP_PROTO_TCP ? NP_PM_TCP : NP_PM_UDP;
                    int alt = 0;
                    size_t j;

                    for (j = 0; j < res->n_alt_ports; j++)
                        if (res->alt_ports[j].port == p &&
                            res->alt_ports[j].protocol == rule->protocol)
                            alt = 1;
                    rc = add_ent(&ents, &n, &cap, first, i, d, tr, p, alt);
                    if (rc != 0)
                        goto device_done;
                }
            }
        }
        /* explicit ports (the web page's expert form), bounded by config */
        for (x = 0; x < d->n_ports; x++) {
            uint32_t p;

            for (p = d->ports[x].lo; p <= d->ports[x].hi; p++) {
                rc = add_ent(&ents, &n, &cap, first, i, d,
                             d->ports[x].transport, p, 0);
                if (rc != 0)
                    goto device_done;
            }
        }
    device_done:
        np_resolved_free(res);
        if (rc < 0) {
            free(ents);
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        }
        if (rc == 1 && logk != NULL)
            np__keep_log(logk, NP_LOG_WARN,
                         "device %s: more than %d ports; the rest are not "
                         "mapped",
                         d->name, NP__KEEP_MAX_PER_DEVICE);
    }
    *out = ents;
    *n_out = n;
    return NP_OK;
}

/* --- life cycle ------------------------------------------------------------
 */

np_keeper *np_keeper_new(const np_keeper_opts *opts, np_config *cfg,
                         const np_catalog *cat, np_error *err)
{
    np_keeper *k;
    np_pm_options po;

    if (opts == NULL || cfg == NULL || cat == NULL) {
        np_config_free(cfg);
        np_error_set(err, NP_EINVAL, NULL, "missing argument");
        return NULL;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        np_config_free(cfg);
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    k->opts = *opts;
    k->cfg = cfg;
    k->lock_fd = k->status_fd = k->ssdp_fd = -1;
    k->ext.fd = -1;
    k->sig_fd = opts->signal_fd;
    k->ssdp_bootid = -1;
    if (np__random(&k->rnd, sizeof(k->rnd)) != 0 || !k->rnd)
        k->rnd = (uint64_t)np__mono_ms() | 1;
    if (build_entries(cfg, cat, &k->ents, &k->n_ents, k, err) != NP_OK) {
        np_keeper_free(k);
        return NULL;
    }
    if (np__keep_pins_build(k) != NP_OK) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        np_keeper_free(k);
        return NULL;
    }
    memset(&po, 0, sizeof(po));
    memcpy(po.prefer, cfg->prefer, sizeof(po.prefer));
    po.gateway = cfg->gateway;
    /* The daemon needs to know about UPnP even when PCP answers first (to
     * read the table for verify devices and restarts). The SSDP window
     * alone is not enough: once the preferred protocol has answered,
     * discovery stops two of its round trips later unless wait_all is set,
     * and miniupnpd answers an M-SEARCH after a random delay of up to
     * MX = 1 s. The daemon runs in the background: wait for every protocol
     * (each up to its own limit). */
    po.ssdp_window_ms = 1500;
    po.wait_all = 1;
    k->pmopt = po;
    k->pm = np_portmap_new(&po, err);
    if (k->pm == NULL) {
        np_keeper_free(k);
        return NULL;
    }
    return k;
}

void np_keeper_free(np_keeper *k)
{
    if (k == NULL)
        return;
    np_portmap_free(k->pm);
    if (k->status_fd >= 0) {
        close(k->status_fd);
        (void)unlink(k->cfg->status_socket);
    }
    if (k->ssdp_fd >= 0)
        close(k->ssdp_fd);
    if (k->lock_fd >= 0)
        close(k->lock_fd);
    np__keep_pins_free(k);
    free(k->ents);
    free(k->orphans);
    np_store_free(k->store);
    np_config_free(k->cfg);
    free(k);
}

/* mkdir the last component of path's directory (0700) if missing. */
static void ensure_dir(const char *path, mode_t mode)
{
    char dir[NP_CFG_PATH_MAX];

    snprintf(dir, sizeof(dir), "%s", path);
    (void)mkdir(dirname(dir), mode);
}

static int open_status(np_keeper *k, np_error *err)
{
    struct sockaddr_un sa;
    const char *path = k->cfg->status_socket;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return np_error_set(err, NP_EBUFSIZE, path,
                            "status socket path too long");
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ensure_dir(path, 0755);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return np_error_sys(err, errno, path, "socket");
    /* We hold the lock, so a socket file left here is stale. */
    (void)unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 8) != 0) {
        int e = errno;

        close(fd);
        return np_error_sys(err, e, path, "cannot open the status socket");
    }
    (void)chmod(path, 0666); /* read-only status for every local user */
    k->status_fd = fd;
    return NP_OK;
}

static void open_ssdp(np_keeper *k)
{
    struct sockaddr_in sa;
    int fd, one = 1;

    if (!k->cfg->ssdp_listen)
        return;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(1900);
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        np__keep_log(k, NP_LOG_WARN,
                     "cannot listen for SSDP announcements on port 1900 (%s); "
                     "router restarts are found at the periodic check",
                     strerror(errno));
        close(fd);
        return;
    }
    k->ssdp_fd = fd;
}

static void ssdp_join(np_keeper *k)
{
    struct ip_mreq mr;

    if (k->ssdp_fd < 0 || k->ssdp_joined ||
        np_addr_family(&k->disc.local) != AF_INET)
        return;
    memset(&mr, 0, sizeof(mr));
    mr.imr_multiaddr.s_addr = inet_addr("239.255.255.250");
    mr.imr_interface =
        ((const struct sockaddr_in *)&k->disc.local.ss)->sin_addr;
    if (setsockopt(k->ssdp_fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr,
                   sizeof(mr)) == 0)
        k->ssdp_joined = 1;
}

int np_keeper_start(np_keeper *k, np_error *err)
{
    char lock[NP_CFG_PATH_MAX + 8];
    int rc;

    if (k == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no keeper");
    k->started = np__wall_s();
    ensure_dir(k->cfg->state_file, 0700);
    snprintf(lock, sizeof(lock), "%s.lock", k->cfg->state_file);
    k->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (k->lock_fd < 0)
        return np_error_sys(err, errno, lock, "cannot open the lock file");
    if (flock(k->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return np_error_set(err, NP_EEXIST, lock,
                                "another natpilot daemon holds this state "
                                "file");
        return np_error_sys(err, errno, lock, "cannot lock the state file");
    }
    rc = np__keep_state_read(k, err);
    if (rc != NP_OK)
        return rc;
    /* Prove the state can be written before anything is mapped. */
    rc = np__keep_state_write(k, err);
    if (rc != NP_OK)
        return rc;
    rc = open_status(k, err);
    if (rc != NP_OK)
        return rc;
    open_ssdp(k);
    if (k->n_orphans > 0)
        np__keep_log(k, NP_LOG_WARN,
                     "state file %s lists %zu mapping%s of a run that did not "
                     "stop cleanly; removing them first",
                     k->cfg->state_file, k->n_orphans,
                     k->n_orphans == 1 ? "" : "s");
    np__keep_log(k, NP_LOG_INFO,
                 "started: %zu device%s, %zu port%s, lease %lu s, check every "
                 "%lu s, status on %s",
                 k->cfg->n_devices, k->cfg->n_devices == 1 ? "" : "s",
                 k->n_ents, k->n_ents == 1 ? "" : "s",
                 (unsigned long)k->cfg->lease,
                 (unsigned long)k->cfg->verify_interval, k->cfg->status_socket);
    return NP_OK;
}

/* --- the router ---------------------------------------------------------- */

static int64_t backoff_cap_ms(const np_keeper *k)
{
    int64_t cap = (int64_t)k->cfg->lease * 1000 / 2;

    if (cap > 300000)
        cap = 300000;
    if (cap < 5000)
        cap = 5000;
    return cap;
}

static void note_restart(np_keeper *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note_restart(np_keeper *k, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(k->last_restart_why, sizeof(k->last_restart_why), fmt, ap);
    va_end(ap);
    k->last_restart = np__wall_s();
    k->n_restarts++;
    np__keep_log(k, NP_LOG_WARN, "router restart: %s", k->last_restart_why);
}

static void router_down(np_keeper *k, const char *why)
{
    int64_t d;

    k->router_failures++;
    d = np_keeper_backoff_ms(k->router_failures, backoff_cap_ms(k));
    k->router_due = np__mono_ms() + d;
    snprintf(k->last_error, sizeof(k->last_error), "%s", why);
    np__keep_log(k, k->router != NP__R_DOWN ? NP_LOG_WARN : NP_LOG_DEBUG,
                 "router unreachable: %s; next try in %lld s", why,
                 (long long)(d / 1000));
    k->router = NP__R_DOWN;
}

/* All mapping entries (of protocol p, or all when p is NONE) due now. */
static void all_due(np_keeper *k, enum np_pm_proto p)
{
    size_t i;

    for (i = 0; i < k->n_ents; i++) {
        np__ent *e = &k->ents[i];

        if (k->cfg->devices[e->dev].mode != NP_CFG_MAP)
            continue;
        if (p == NP_PM_NONE || e->proto == p)
            e->due = 0;
    }
}

/* Rediscover; 1 when the router answers. Checks the epochs. */
static int discover(np_keeper *k)
{
    np_pm_discovery d;
    np_portmap *npm;
    np_error e;
    int rc, p, was = k->router;
    uint64_t now_s = (uint64_t)(np__mono_ms() / 1000);

    /* A fresh object each time: a restarted router has a new IGD control
     * URL, and nothing learnt from the old one may stand in for an answer.
     * The mappings' own state (protocol, nonce) lives in the entries. */
    np_error_clear(&e);
    npm = np_portmap_new(&k->pmopt, &e);
    if (npm == NULL) {
        router_down(k, e.msg);
        return 0;
    }
    rc = np_portmap_discover(npm, &d, &e);
    if (rc == NP_OK && !d.has[NP_PM_PCP] && !d.has[NP_PM_NATPMP] &&
        !d.has[NP_PM_UPNP])
        rc = np_error_set(&e, NP_ETIMEOUT, NULL, "no protocol answered");
    if (rc != NP_OK) {
        np_portmap_free(npm);
        router_down(k, e.msg[0] ? e.msg : np_strerror(rc));
        return 0;
    }
    np_portmap_free(k->pm);
    k->pm = npm;
    k->disc = d;
    np__keep_log(k, NP_LOG_DEBUG,
                 "discovery: pcp %s (epoch %lu), natpmp %s (epoch %lu), "
                 "upnp %s, %d ms",
                 d.has[NP_PM_PCP] ? "yes" : "no",
                 (unsigned long)d.epoch[NP_PM_PCP],
                 d.has[NP_PM_NATPMP] ? "yes" : "no",
                 (unsigned long)d.epoch[NP_PM_NATPMP],
                 d.has[NP_PM_UPNP] ? "yes" : "no", d.elapsed_ms);
    for (p = NP_PM_PCP; p <= NP_PM_NATPMP; p++) {
        if (!d.has[p])
            continue;
        if (k->have_epoch[p] && !np_pm_epoch_ok(k->epoch[p], k->epoch_client[p],
                                                d.epoch[p], now_s)) {
            note_restart(k,
                         "%s epoch went from %lu to %lu: the router lost its "
                         "mappings; re-creating them",
                         np_pm_proto_name(p), (unsigned long)k->epoch[p],
                         (unsigned long)d.epoch[p]);
            all_due(k, (enum np_pm_proto)p);
        }
        k->have_epoch[p] = 1;
        k->epoch[p] = d.epoch[p];
        k->epoch_client[p] = now_s;
    }
    /* The IGD found now is the one later announcements are compared with:
     * a daemon that started after the router's NOTIFYs, or missed one,
     * still sees the next restart (miniupnpd's LOCATION port is new on
     * every start). Its BOOTID is unknown until it announces itself. */
    if (d.has[NP_PM_UPNP] && d.igd_url[0] != '\0' &&
        strcmp(d.igd_url, k->ssdp_location) != 0) {
        snprintf(k->ssdp_location, sizeof(k->ssdp_location), "%s", d.igd_url);
        k->ssdp_bootid = -1;
    }
    k->router = NP__R_UP;
    k->router_failures = 0;
    k->router_due = NEVER;
    k->last_error[0] = '\0';
    if (was != NP__R_UP) {
        char gw[NP_ADDRSTRLEN];

        np__keep_log(
            k, NP_LOG_INFO, "router %s answers:%s%s%s (using %s first)",
            np_addr_ip_str(&d.gateway, gw, sizeof(gw)),
            d.has[NP_PM_PCP] ? " PCP" : "",
            d.has[NP_PM_NATPMP] ? " NAT-PMP" : "",
            d.has[NP_PM_UPNP] ? " UPnP-IGD" : "", np_pm_proto_name(d.chosen));
        if (was == NP__R_DOWN)
            all_due(k, NP_PM_NONE);
    }
    ssdp_join(k);
    return 1;
}

/* A session for one device on the keeper's portmap: every mapping
 * decision (alternate port, conflict, nonce) is the session's. */
static np_session *dev_session(const np_keeper *k, const np_addr *dev,
                               const char *name, np_error *err)
{
    np_sess_opts o;

    memset(&o, 0, sizeof(o));
    o.device = *dev;
    np_addr_set_port(&o.device, 0);
    o.owner = name;
    o.lease = k->cfg->lease;
    o.pm = k->pm;
    o.side_table = 1; /* name who holds a conflicting port */
    return np_session_new(&o, err);
}

/* Remove one mapping through the session; return codes as
 * np_session_unmap (NP_ENOMEM when no session could be made). */
static int unmap(np_keeper *k, const np_addr *dev, const char *name,
                 enum np_pm_proto proto, int transport, uint16_t port,
                 uint16_t ext_port, const uint8_t nonce[12], np_sess_result *r,
                 np_error *er)
{
    np_session *s = dev_session(k, dev, name, er);
    int rc;

    memset(r, 0, sizeof(*r));
    if (s == NULL)
        return NP_ENOMEM;
    rc = np_session_unmap(s, proto, transport, port, ext_port ? ext_port : port,
                          nonce, r, er);
    np_session_free(s);
    return rc;
}

static int transport_failure(int rc)
{
    return rc == NP_ETIMEOUT || rc == NP_EUNREACH;
}

/* Remove the orphans of a crashed run; 0 when the router stopped answering */
static int clean_orphans(np_keeper *k)
{
    size_t i = 0, removed = 0;
    int dirty = 0;

    while (i < k->n_orphans) {
        np__orphan *o = &k->orphans[i];
        np_sess_result r;
        np_error e;
        int rc;
        char a[NP_ADDRSTRLEN];

        np_error_clear(&e);
        rc = unmap(k, &o->internal, o->device, o->proto, o->transport, o->port,
                   o->ext_port, o->nonce, &r, &e);
        if (rc == NP_EUNSUPP) {
            /* the protocol it was made with is gone: it cannot be removed
             * by us any more; its lease ends it */
            np__keep_log(k, NP_LOG_WARN,
                         "orphan %s %u for %s (%s): the router no longer "
                         "answers %s; it expires with its lease",
                         tname(o->transport), o->port,
                         np_addr_ip_str(&o->internal, a, sizeof(a)), o->device,
                         np_pm_proto_name(o->proto));
            k->orphans[i] = k->orphans[--k->n_orphans];
            dirty = 1;
            continue;
        }
        if (transport_failure(rc)) {
            router_down(k, e.msg[0] ? e.msg : "no answer");
            break;
        }
        np__keep_log(k, NP_LOG_INFO,
                     "removed orphan %s %u -> %s:%u (%s, %s): %s",
                     tname(o->transport), o->ext_port,
                     np_addr_ip_str(&o->internal, a, sizeof(a)), o->port,
                     o->device, np_pm_proto_name(o->proto),
                     rc == NP_OK ? np_pm_outcome_name(r.pm.outcome) : e.msg);
        k->orphans[i] = k->orphans[--k->n_orphans];
        removed++;
        dirty = 1;
    }
    if (dirty)
        (void)np__keep_state_write(k, NULL);
    (void)removed;
    return k->router == NP__R_UP;
}

static void renew_held(np_keeper *k, np__ent *e, const np_sess_result *r,
                       double jitter, int64_t now)
{
    const np_cfg_device *d = &k->cfg->devices[e->dev];
    uint32_t life = r->pm.lifetime ? r->pm.lifetime : k->cfg->lease;
    char ext[NP_ADDRSTRLEN];
    int was = e->state;

    e->state = NP__ENT_HELD;
    e->proto = r->pm.proto;
    e->external = r->pm.external;
    e->lifetime = r->pm.lifetime;
    e->expires = np__wall_s() + life;
    memcpy(e->nonce, r->pm.nonce, 12);
    e->failures = 0;
    e->renewed = np__wall_s();
    e->last_error[0] = '\0';
    e->holder[0] = '\0';
    if (r->alternate)
        snprintf(e->last_error, sizeof(e->last_error),
                 "on external port %u: the platform accepts another external "
                 "port (%s)",
                 np_addr_port(&r->pm.external), r->pm.message);
    e->due = now + np_keeper_renew_delay_ms(life, jitter);
    np__keep_log(k, was == NP__ENT_HELD ? NP_LOG_DEBUG : NP_LOG_INFO,
                 "device %s: %s %s %u -> %s via %s, lease %lu s%s%s", d->name,
                 was == NP__ENT_HELD ? "renewed" : "mapped",
                 tname(e->transport), e->port,
                 np_addr_str(&r->pm.external, ext, sizeof(ext)),
                 np_pm_proto_name(r->pm.proto), (unsigned long)life,
                 r->alternate ? ": " : "", r->alternate ? e->last_error : "");
}

/* Refused: policy, third party, conflict ... retry at the renew pace. */
static void renew_refused(np_keeper *k, np__ent *e, const np_sess_result *r,
                          double jitter, int64_t now)
{
    const np_cfg_device *d = &k->cfg->devices[e->dev];
    char hold[NP_ADDRSTRLEN] = "";

    if (np_addr_is_set(&r->pm.holder))
        np_addr_ip_str(&r->pm.holder, hold, sizeof(hold));
    e->state = NP__ENT_REFUSED;
    e->failures++;
    k->n_renew_failures++;
    snprintf(e->holder, sizeof(e->holder), "%s", hold);
    if (r->offered_port != 0)
        snprintf(e->last_error, sizeof(e->last_error),
                 "%s: the port is held%s%s; the router offered external port "
                 "%u instead, which this rule cannot use: taken back",
                 np_sess_outcome_name(r->outcome), hold[0] ? " by " : "", hold,
                 (unsigned)r->offered_port);
    else
        snprintf(e->last_error, sizeof(e->last_error), "%s%s%s: %s",
                 np_sess_outcome_name(r->outcome), hold[0] ? ", held by " : "",
                 hold, r->pm.message);
    e->due = now + np_keeper_renew_delay_ms(k->cfg->lease, jitter);
    np__keep_log(k, e->failures == 1 ? NP_LOG_WARN : NP_LOG_DEBUG,
                 "device %s: %s %u refused by the router (%s, %s)", d->name,
                 tname(e->transport), e->port, np_pm_proto_name(r->pm.proto),
                 e->last_error);
}

/* Make or renew one mapping through the session (the same policy as
 * `natpilot open`); 0 when the router stopped answering. */
static int renew(np_keeper *k, np__ent *e, double jitter, int *dirty)
{
    const np_cfg_device *d = &k->cfg->devices[e->dev];
    np_sess_rule rule;
    np_sess_result r;
    np_session *s;
    np_error er;
    int rc, was = e->state;
    int64_t now = np__mono_ms();

    memset(&rule, 0, sizeof(rule));
    rule.transport = e->transport;
    rule.port = e->port;
    rule.alt_port = e->alt_port;
    snprintf(rule.label, sizeof(rule.label), "%s", d->name);
    memset(&r, 0, sizeof(r));
    np_error_clear(&er);
    s = dev_session(k, &d->address, d->name, &er);
    rc = s != NULL ? np_session_map_rule(s, &rule, e->proto, e->nonce, &r, &er)
                   : NP_ENOMEM;
    np_session_free(s);
    if (transport_failure(rc)) {
        router_down(k, er.msg[0] ? er.msg : r.pm.message);
        return 0;
    }
    if (rc != NP_OK) {
        e->failures++;
        k->n_renew_failures++;
        snprintf(e->last_error, sizeof(e->last_error), "%s", er.msg);
        e->due = now + np_keeper_backoff_ms(e->failures, backoff_cap_ms(k));
        np__keep_log(k, NP_LOG_ERROR, "device %s: %s %u: %s", d->name,
                     tname(e->transport), e->port, er.msg);
        return 1;
    }
    if (r.outcome == NP_SESS_MAPPED)
        renew_held(k, e, &r, jitter, now);
    else
        renew_refused(k, e, &r, jitter, now);
    if (r.outcome == NP_SESS_MAPPED || was == NP__ENT_HELD)
        *dirty = 1;
    return 1;
}

static const np_pm_mapping *find_map(const np_pm_mapping *m, size_t n,
                                     int transport, uint16_t ext)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (m[i].transport == transport && m[i].external_port == ext)
            return &m[i];
    return NULL;
}

/* The periodic check; 0 when the router stopped answering. */
static int check(np_keeper *k)
{
    np_pm_mapping *tab = NULL;
    size_t n = 0, i, gone = 0, verify = 0, held = 0;
    np_error e;
    int rc, dirty = 0;
    int64_t now;

    k->check_due = np__mono_ms() + (int64_t)k->cfg->verify_interval * 1000;
    if (!discover(k))
        return 0;
    if (k->ssdp_restart) {
        /* The IGD announced a new boot: whatever the epochs say (a router
         * may count them from its system's uptime, not its NAT's), make
         * every mapping again now. */
        k->ssdp_restart = 0;
        note_restart(k, "the gateway announced a new BOOTID/LOCATION over "
                        "SSDP; re-creating every mapping");
        all_due(k, NP_PM_NONE);
        for (i = 0; i < k->n_ents; i++)
            if (k->ents[i].state == NP__ENT_HELD)
                k->ents[i].state = NP__ENT_PENDING;
    }
    for (i = 0; i < k->n_ents; i++) {
        if (k->cfg->devices[k->ents[i].dev].mode == NP_CFG_VERIFY)
            verify++;
        else if (k->ents[i].state == NP__ENT_HELD)
            held++; /* the table may list PCP / NAT-PMP ones too */
    }
    if (verify == 0 && held == 0)
        return 1;
    if (!k->disc.has[NP_PM_UPNP]) {
        /* An IGD that answered before and not now is most often a router
         * still coming up: its table is what shows a restart that the
         * epochs hide, so look again soon (2, 4, 8 s ... up to the
         * interval) instead of a whole interval later. */
        if (k->table_seen && (k->table_has_pcp || verify > 0)) {
            int64_t every = (int64_t)k->cfg->verify_interval * 1000;
            int64_t again = np_keeper_backoff_ms(++k->upnp_misses, every);

            if (again < every)
                k->check_due = np__mono_ms() + again;
        }
        for (i = 0; i < k->n_ents; i++) {
            np__ent *x = &k->ents[i];

            if (k->cfg->devices[x->dev].mode != NP_CFG_VERIFY)
                continue;
            x->state = NP__ENT_UNKNOWN;
            snprintf(x->last_error, sizeof(x->last_error),
                     "the router does not answer UPnP: its table cannot be "
                     "read");
        }
        for (i = 0; i < k->n_ents; i++)
            if (k->ents[i].state == NP__ENT_HELD &&
                k->ents[i].proto == NP_PM_UPNP) {
                /* UPnP went away: make it again with what answers */
                k->ents[i].proto = NP_PM_NONE;
                k->ents[i].state = NP__ENT_PENDING;
                k->ents[i].due = 0;
            }
        return 1;
    }
    k->upnp_misses = 0;
    k->table_seen = 1;
    np_error_clear(&e);
    (void)np_portmap_use(k->pm, NP_PM_UPNP, NULL);
    rc = np_portmap_list(k->pm, &tab, &n, &e);
    (void)np_portmap_use(k->pm, NP_PM_NONE, NULL);
    if (rc == NP_ETIMEOUT || rc == NP_EUNREACH) {
        router_down(k, e.msg);
        return 0;
    }
    if (rc != NP_OK) {
        snprintf(k->last_error, sizeof(k->last_error), "%s", e.msg);
        np__keep_log(k, NP_LOG_WARN, "cannot read the router's table: %s",
                     e.msg);
        return 1;
    }
    now = np__mono_ms();
    for (i = 0; i < k->n_ents; i++) {
        np__ent *x = &k->ents[i];
        const np_cfg_device *d = &k->cfg->devices[x->dev];
        const np_pm_mapping *m;
        char a[NP_ADDRSTRLEN];

        if (d->mode == NP_CFG_MAP) {
            uint16_t ext;

            if (x->state != NP__ENT_HELD)
                continue;
            ext = np_addr_port(&x->external) ? np_addr_port(&x->external)
                                             : x->port;
            m = find_map(tab, n, x->transport, ext);
            if (m != NULL && np_addr_same_ip(&m->internal, &d->address)) {
                if (x->proto != NP_PM_UPNP)
                    k->table_has_pcp = 1;
                continue;
            }
            /* PCP / NAT-PMP mappings count only on a router whose table
             * has been seen to list them (miniupnpd does). */
            if (x->proto != NP_PM_UPNP && !k->table_has_pcp)
                continue;
            gone++;
            x->state = NP__ENT_PENDING;
            x->due = 0;
            dirty = 1;
            continue;
        }
        /* The device's own mapping, on the rule's external port or on
         * another (an Xbox picks one when 3074 is taken); else whoever
         * holds the rule's port: the session judges. */
        {
            int ns, old = x->state;
            np_sess_result jr;

            switch (np_session_judge_table(
                tab, n, x->transport, x->port, &d->address,
                &k->disc.external[NP_PM_UPNP], &jr)) {
            case NP_SESS_MISSING:
                ns = NP__ENT_MISSING;
                x->holder[0] = '\0';
                break;
            case NP_SESS_MAPPED:
                ns = NP__ENT_PRESENT;
                x->holder[0] = '\0';
                x->proto = NP_PM_UPNP; /* seen in the UPnP table */
                x->external = jr.pm.external;
                x->expires = jr.pm.lifetime ? np__wall_s() + jr.pm.lifetime : 0;
                break;
            default:
                ns = NP__ENT_ELSEWHERE;
                np_addr_str(&jr.pm.holder, x->holder, sizeof(x->holder));
                break;
            }
            x->state = ns;
            if (ns == NP__ENT_PRESENT)
                x->last_error[0] = '\0';
            else if (ns == NP__ENT_MISSING)
                snprintf(x->last_error, sizeof(x->last_error),
                         "not mapped: the device's own UPnP mapping is "
                         "missing");
            else
                snprintf(x->last_error, sizeof(x->last_error),
                         "mapped to another device, %s", x->holder);
            if (ns != old)
                np__keep_log(
                    k, ns == NP__ENT_PRESENT ? NP_LOG_INFO : NP_LOG_WARN,
                    "device %s (%s): %s %u %s", d->name,
                    np_addr_ip_str(&d->address, a, sizeof(a)),
                    tname(x->transport), x->port,
                    ns == NP__ENT_PRESENT ? "is mapped by the device itself"
                    : ns == NP__ENT_MISSING
                        ? (old == NP__ENT_PRESENT
                               ? "is gone from the router's table"
                               : "is not mapped (the device has "
                                 "not mapped it)")
                        : x->last_error);
        }
    }
    free(tab);
    (void)now;
    if (gone > 0) {
        note_restart(k,
                     "%zu of natpilot's mappings are gone from the "
                     "router's table; re-creating them",
                     gone);
        dirty = 1;
    }
    if (dirty)
        (void)np__keep_state_write(k, NULL);
    return 1;
}

/* --- timers ----------------------------------------------------------------*/

static int64_t next_due(const np_keeper *k)
{
    int64_t t = NEVER, p = np__keep_pins_next_due(k);
    size_t i;

    if (k->router != NP__R_UP)
        return k->router_due < p ? k->router_due : p;
    if (p < t)
        t = p;
    if (k->n_orphans > 0)
        return 0;
    if (k->check_due < t)
        t = k->check_due;
    for (i = 0; i < k->n_ents; i++)
        if (k->ents[i].due < t)
            t = k->ents[i].due;
    return t;
}

static void process(np_keeper *k)
{
    int64_t now = np__mono_ms(), slack;
    double jitter = rnd01(k);
    int dirty = 0;
    size_t i;

    np__keep_pins_process(k); /* IPv6 pinholes: their own gateway */
    if (k->router != NP__R_UP) {
        if (k->router_due > now)
            return;
        if (!discover(k))
            return;
        if (k->check_due == 0 || k->check_due == NEVER)
            k->check_due = now + (int64_t)k->cfg->verify_interval * 1000;
    }
    if (k->n_orphans > 0 && !clean_orphans(k))
        return;
    if (k->check_due <= now && !check(k))
        return;
    /* Renew together whatever falls due soon: one wake-up per round. */
    slack = (int64_t)k->cfg->lease * 1000 / 10;
    if (slack > 30000)
        slack = 30000;
    now = np__mono_ms();
    for (i = 0; i < k->n_ents; i++) {
        np__ent *e = &k->ents[i];

        if (e->due > now + slack || k->stop)
            continue;
        if (!renew(k, e, jitter, &dirty))
            break;
    }
    if (dirty && np__keep_state_write(k, NULL) != NP_OK)
        np__keep_log(k, NP_LOG_ERROR, "cannot write the state file %s",
                     k->cfg->state_file);
}

/* --- events ----------------------------------------------------------------*/

static void serve_status(np_keeper *k)
{
    for (;;) {
        int c = accept4(k->status_fd, NULL, NULL, SOCK_CLOEXEC);
        struct timeval tv = {1, 0};
        char *doc;
        size_t len, off = 0;

        if (c < 0)
            return;
        (void)setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        doc = np_keeper_status_json(k);
        if (doc != NULL) {
            len = strlen(doc);
            while (off < len) {
                ssize_t w = send(c, doc + off, len - off, MSG_NOSIGNAL);

                if (w <= 0)
                    break;
                off += (size_t)w;
            }
            (void)send(c, "\n", 1, MSG_NOSIGNAL);
            free(doc);
        }
        close(c);
    }
}

static void read_ssdp(np_keeper *k)
{
    char buf[1500], loc[256];
    struct sockaddr_storage ss;

    for (;;) {
        socklen_t sl = sizeof(ss);
        ssize_t n = recvfrom(k->ssdp_fd, buf, sizeof(buf), 0,
                             (struct sockaddr *)&ss, &sl);
        np_addr from;
        long boot;

        if (n < 0)
            return;
        np_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl);
        if (!k->cfg->ssdp_listen || !np_addr_is_set(&k->disc.gateway) ||
            !np_addr_same_ip(&from, &k->disc.gateway))
            continue; /* only the gateway's announcements matter */
        if (!np_keeper_ssdp_notify(buf, (size_t)n, &boot, loc, sizeof(loc)))
            continue;
        if (k->ssdp_location[0] != '\0' &&
            (strcmp(loc, k->ssdp_location) != 0 ||
             (k->ssdp_bootid >= 0 && boot >= 0 && boot != k->ssdp_bootid))) {
            if (strcmp(loc, k->ssdp_location) != 0)
                np__keep_log(k, NP_LOG_INFO,
                             "the gateway's IGD announced itself anew (at %s, "
                             "was %s); checking the mappings",
                             loc, k->ssdp_location);
            else
                np__keep_log(k, NP_LOG_INFO,
                             "the gateway's IGD announced itself anew (BOOTID "
                             "%ld -> %ld); checking the mappings",
                             k->ssdp_bootid, boot);
            /* give the router a moment to come up fully */
            k->ssdp_restart = 1;
            if (k->router == NP__R_UP)
                k->check_due = np__mono_ms() + 1000;
            else
                k->router_due = np__mono_ms() + 1000;
        }
        k->ssdp_bootid = boot;
        snprintf(k->ssdp_location, sizeof(k->ssdp_location), "%s", loc);
    }
}

/* Carry state from old entries to new ones (same device address,
 * transport, port, mode); old held ones not kept are removed. */
static int reload(np_keeper *k)
{
    np_config *ncfg = NULL;
    np_catalog *cat = NULL;
    np_diags diags;
    np_error e;
    np__ent *ne = NULL;
    size_t nn = 0, i, j, removed = 0;
    int rc;

    np_diags_init(&diags);
    np_error_clear(&e);
    rc = np_config_load_full(k->opts.config_path, &ncfg, &cat, &diags, &e);
    if (rc == NP_OK)
        rc = build_entries(ncfg, cat, &ne, &nn, NULL, &e);
    np_catalog_free(cat);
    if (rc != NP_OK) {
        char buf[600];

        for (i = 0; i < diags.count && i < 10; i++)
            np__keep_log(k, NP_LOG_ERROR, "reload: %s",
                         np_diag_format(&diags.items[i], buf, sizeof(buf)));
        np__keep_log(k, NP_LOG_ERROR,
                     "reload failed (%s); keeping the running configuration",
                     np_error_format(&e, buf, sizeof(buf)));
        np_diags_free(&diags);
        np_config_free(ncfg);
        return 0;
    }
    np_diags_free(&diags);
    for (j = 0; j < nn; j++) {
        const np_cfg_device *nd = &ncfg->devices[ne[j].dev];

        for (i = 0; i < k->n_ents; i++) {
            const np_cfg_device *od = &k->cfg->devices[k->ents[i].dev];

            if (k->ents[i].transport == ne[j].transport &&
                k->ents[i].port == ne[j].port &&
                np_addr_same_ip(&od->address, &nd->address) &&
                od->mode == nd->mode) {
                size_t dev = ne[j].dev;

                ne[j] = k->ents[i];
                ne[j].dev = dev;
                k->ents[i].state = -1; /* carried over */
                break;
            }
        }
    }
    for (i = 0; i < k->n_ents; i++) {
        np__ent *o = &k->ents[i];
        const np_cfg_device *od = &k->cfg->devices[o->dev];
        np_sess_result r;

        if (o->state != NP__ENT_HELD)
            continue;
        (void)unmap(k, &od->address, od->name, o->proto, o->transport, o->port,
                    np_addr_port(&o->external), o->nonce, &r, NULL);
        removed++;
    }
    /* Paths, gateway and protocols stay as started. */
    if (strcmp(ncfg->state_file, k->cfg->state_file) != 0 ||
        strcmp(ncfg->status_socket, k->cfg->status_socket) != 0 ||
        memcmp(ncfg->prefer, k->cfg->prefer, sizeof(ncfg->prefer)) != 0 ||
        !np_addr_equal(&ncfg->gateway, &k->cfg->gateway))
        np__keep_log(k, NP_LOG_WARN,
                     "reload: state_file, status_socket, protocols and "
                     "gateway change only with a restart");
    memcpy(ncfg->state_file, k->cfg->state_file, sizeof(ncfg->state_file));
    memcpy(ncfg->status_socket, k->cfg->status_socket,
           sizeof(ncfg->status_socket));
    /* IPv6 pinholes index the old devices: closed, then made anew. */
    (void)np__keep_pins_teardown(k);
    np__keep_pins_free(k);
    np_config_free(k->cfg);
    k->cfg = ncfg;
    free(k->ents);
    k->ents = ne;
    k->n_ents = nn;
    if (np__keep_pins_build(k) != NP_OK)
        np__keep_log(k, NP_LOG_ERROR, "reload: out of memory for pinholes");
    k->check_due = 0; /* check the new set at once */
    (void)np__keep_state_write(k, NULL);
    np__keep_log(k, NP_LOG_INFO,
                 "configuration reloaded: %zu device%s, %zu port%s; %zu "
                 "mapping%s no longer wanted removed",
                 ncfg->n_devices, ncfg->n_devices == 1 ? "" : "s", nn,
                 nn == 1 ? "" : "s", removed, removed == 1 ? "" : "s");
    return 1;
}

int np_keeper_reload(np_keeper *k)
{
    return k != NULL ? reload(k) : 0;
}

const np_config *np_keeper_config(const np_keeper *k)
{
    return k != NULL ? k->cfg : NULL;
}

void np_keeper_set_ext(np_keeper *k, const np_keeper_ext *ext)
{
    if (k == NULL)
        return;
    if (ext == NULL) {
        memset(&k->ext, 0, sizeof(k->ext));
        k->ext.fd = -1;
    } else {
        k->ext = *ext;
    }
}

static void read_signals(np_keeper *k)
{
    struct signalfd_siginfo si;

    while (read(k->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            np__keep_log(k, NP_LOG_INFO, "SIGHUP: reloading %s",
                         k->opts.config_path ? k->opts.config_path : "");
            (void)reload(k);
        } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            np__keep_log(k, NP_LOG_INFO, "%s: removing natpilot's mappings",
                         si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            k->stop = 1;
        }
    }
}

/* Remove everything we hold; the number left behind. */
static size_t teardown(np_keeper *k)
{
    size_t i, left = 0, removed = 0;
    int dead = 0;

    for (i = 0; i < k->n_ents; i++) {
        np__ent *e = &k->ents[i];
        const np_cfg_device *d = &k->cfg->devices[e->dev];
        np_sess_result r;
        np_error er;
        int rc;

        if (e->state != NP__ENT_HELD)
            continue;
        if (dead) {
            left++;
            continue;
        }
        np_error_clear(&er);
        rc = unmap(k, &d->address, d->name, e->proto, e->transport, e->port,
                   np_addr_port(&e->external), e->nonce, &r, &er);
        if (rc == NP_EUNSUPP || rc == NP_ENOMEM) {
            left++;
            continue;
        }
        if (transport_failure(rc)) {
            dead = 1;
            left++;
            continue;
        }
        e->state = NP__ENT_PENDING;
        removed++;
    }
    left += k->n_orphans;
    (void)np__keep_pins_teardown(k);
    np__keep_log(k, left ? NP_LOG_WARN : NP_LOG_INFO,
                 "stopped: removed %zu mapping%s%s", removed,
                 removed == 1 ? "" : "s",
                 left ? "; the router did not answer for the rest (kept in "
                        "the state file for the next start)"
                      : "");
    if (left == 0)
        np__keep_state_remove(k);
    else
        (void)np__keep_state_write(k, NULL);
    return left;
}

int np_keeper_run(np_keeper *k, np_error *err)
{
    if (k == NULL || k->lock_fd < 0)
        return np_error_set(err, NP_EINVAL, NULL, "keeper not started");
    k->router = NP__R_UNKNOWN;
    k->router_due = 0;
    k->check_due = NEVER;
    while (!k->stop) {
        struct pollfd pfd[4];
        int nfd = 0, timeout, r, ext_i = -1;
        int64_t due, now;

        process(k);
        if (k->stop)
            break;
        due = next_due(k);
        now = np__mono_ms();
        if (due == NEVER)
            timeout = -1;
        else if (due <= now)
            timeout = 0;
        else if (due - now > 86400000)
            timeout = 86400000;
        else
            timeout = (int)(due - now);
        if (k->ext.run != NULL && k->ext.timeout != NULL) {
            int64_t et = k->ext.timeout(k->ext.ud);

            if (et >= 0 && (timeout < 0 || et < timeout))
                timeout = et > 86400000 ? 86400000 : (int)et;
        }
        if (k->sig_fd >= 0) {
            pfd[nfd].fd = k->sig_fd;
            pfd[nfd++].events = POLLIN;
        }
        pfd[nfd].fd = k->status_fd;
        pfd[nfd++].events = POLLIN;
        if (k->ssdp_fd >= 0) {
            pfd[nfd].fd = k->ssdp_fd;
            pfd[nfd++].events = POLLIN;
        }
        if (k->ext.fd >= 0 && k->ext.run != NULL) {
            ext_i = nfd;
            pfd[nfd].fd = k->ext.fd;
            pfd[nfd++].events = POLLIN;
        }
        r = poll(pfd, (nfds_t)nfd, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            np_error_sys(err, errno, NULL, "poll");
            break;
        }
        if (k->ext.run != NULL &&
            (r == 0 || (ext_i >= 0 && pfd[ext_i].revents != 0)))
            k->ext.run(k->ext.ud); /* its timeout passed, or an event */
        if (r == 0)
            continue;
        if (k->sig_fd >= 0 && (pfd[0].revents & POLLIN))
            read_signals(k);
        if (k->status_fd >= 0)
            serve_status(k);
        if (k->ssdp_fd >= 0)
            read_ssdp(k);
    }
    {
        size_t left = teardown(k);

        if (left > 0)
            return np_error_set(err, NP_EUNREACH, k->cfg->state_file,
                                "%zu mapping%s could not be removed (listed "
                                "in the state file)",
                                left, left == 1 ? "" : "s");
    }
    return NP_OK;
}
