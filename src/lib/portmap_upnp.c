/*
 * natpilot: the UPnP-IGD backend (IGD v1 and v2) over miniupnpc.
 *
 * Discovery is our own SSDP M-SEARCH inside the front's poll() loop (so no
 * fixed 2-second upnpDiscover wait); the chosen IGD's description is then
 * fetched with UPNP_GetIGDFromUrl. Every miniupnpc call is wrapped here:
 * its mixed return conventions (0, UPnP error codes, negative
 * UPNPCOMMAND_*) become np_pm_result fields, and its unsized output buffers
 * are given room well beyond what it may write.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>

#include "natpilot/netinfo.h"
#include "portmap_int.h"
#include "np_util.h"

#if !defined(MINIUPNPC_API_VERSION) || MINIUPNPC_API_VERSION < 14
#error "miniupnpc API version 14 or later is needed"
#endif

/* Room for what miniupnpc writes into caller buffers (it is not told their
 * sizes; the documented maxima are 6..80 bytes). */
#define UPNP_BUF 128

struct upnp {
    const np__pm_ctx *ctx;
    int fd;
    char url[256];
    int igd_version;
    int have_urls;
    struct UPNPUrls urls;
    struct IGDdatas data;
    char lanaddr[64];
    np_addr ext;   /* cached external address */
    np_addr bogus; /* an unusable external address the IGD answered */
    /* An IGD on the LAN that answered the unicast M-SEARCH sent to the
     * gateway from its own address (a CARP/VRRP pair answers from its
     * static address, not the floating gateway's): used when the gateway
     * itself does not answer. */
    char lan_url[256];
    np_addr lan_from;
    unsigned prefix; /* the LAN's prefix length, 0 unknown */
    int prefix_known;
    char note[160]; /* what discovery changed: re-pointed LOCATION, ... */
};

static void *upnp_open(const np__pm_ctx *ctx, np_error *err)
{
    struct upnp *u = calloc(1, sizeof(*u));

    if (u == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    u->ctx = ctx;
    u->fd = -1;
    return u;
}

static void upnp_close(void *st)
{
    struct upnp *u = st;

    if (u == NULL)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->have_urls)
        FreeUPNPUrls(&u->urls);
    free(u);
}

static int upnp_disc_fd(void *st)
{
    return ((struct upnp *)st)->fd;
}

#define GW_ONLY_ST "urn:schemas-upnp-org:service:WANIPConnection:1"

static int upnp_disc_send(void *st, int attempt, np_error *err)
{
    struct upnp *u = st;
    static const char *const sts[] = {
        "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
        "urn:schemas-upnp-org:device:InternetGatewayDevice:1"};
    struct sockaddr_in mc, uc;
    char msg[256];
    size_t i;
    int n;

    if (attempt > 2)
        return NP_OK; /* three rounds are plenty */
    if (np_addr_family(&u->ctx->gateway) != AF_INET)
        return np_error_set(err, NP_EUNSUPP, NULL, "SSDP over IPv4 only");
    if (u->fd < 0) {
        struct sockaddr_in local;
        unsigned char ttl = 2;

        u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (u->fd < 0)
            return np_error_sys(err, errno, NULL, "socket");
        memcpy(&local, &u->ctx->local.ss, sizeof(local));
        local.sin_port = 0;
        if (bind(u->fd, (struct sockaddr *)&local, sizeof(local)) != 0)
            return np_error_sys(err, errno, NULL, "bind");
        (void)setsockopt(u->fd, IPPROTO_IP, IP_MULTICAST_IF, &local.sin_addr,
                         sizeof(local.sin_addr));
        (void)setsockopt(u->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl,
                         sizeof(ttl));
    }
    memset(&mc, 0, sizeof(mc));
    mc.sin_family = AF_INET;
    mc.sin_port = htons(u->ctx->opt.ssdp_port);
    inet_pton(AF_INET, "239.255.255.250", &mc.sin_addr);
    memcpy(&uc, &u->ctx->gateway.ss, sizeof(uc));
    uc.sin_port = htons(u->ctx->opt.ssdp_port);
    for (i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        n = snprintf(msg, sizeof(msg),
                     "M-SEARCH * HTTP/1.1\r\n"
                     "HOST: 239.255.255.250:1900\r\n"
                     "MAN: \"ssdp:discover\"\r\n"
                     "MX: 1\r\n"
                     "ST: %s\r\n\r\n",
                     sts[i]);
        /* multicast for any IGD, unicast to the gateway (answers at once) */
        (void)sendto(u->fd, msg, (size_t)n, 0, (struct sockaddr *)&mc,
                     sizeof(mc));
        (void)sendto(u->fd, msg, (size_t)n, 0, (struct sockaddr *)&uc,
                     sizeof(uc));
    }
    /* Only to the gateway's address, with a service ST never multicast: an
     * answer carrying it came from whoever holds that address, even when it
     * answers from another one (CARP/VRRP). */
    n = snprintf(msg, sizeof(msg),
                 "M-SEARCH * HTTP/1.1\r\n"
                 "HOST: 239.255.255.250:1900\r\n"
                 "MAN: \"ssdp:discover\"\r\n"
                 "MX: 1\r\n"
                 "ST: %s\r\n\r\n",
                 GW_ONLY_ST);
    (void)sendto(u->fd, msg, (size_t)n, 0, (struct sockaddr *)&uc, sizeof(uc));
    return NP_OK;
}

/* The host part of "http://HOST:PORT/path" equals the gateway's address? */
static int url_host_is(const char *url, const np_addr *a)
{
    char ip[NP_ADDRSTRLEN];
    const char *h = url + 7, *e;
    size_t n;

    if (strncmp(url, "http://", 7) != 0)
        return 0;
    e = h;
    while (*e != '\0' && *e != ':' && *e != '/')
        e++;
    n = (size_t)(e - h);
    np_addr_ip_str(a, ip, sizeof(ip));
    return n == strlen(ip) && strncmp(h, ip, n) == 0;
}

/* 1 when the SSDP answer's ST is the service type sent only to the
 * gateway's address (any version of it). */
static int st_is_gw_only(const char *buf, size_t len)
{
    static const char pfx[] = "urn:schemas-upnp-org:service:WANIPConnection:";
    size_t pos = 0, l, vl;
    const char *line, *v;

    while (np__ssdp_line(buf, len, &pos, &line, &l))
        if (np__ssdp_header(line, l, "ST", &v, &vl))
            return vl > sizeof(pfx) - 1 &&
                   strncmp(v, pfx, sizeof(pfx) - 1) == 0;
    return 0;
}

static void lan_prefix(struct upnp *u)
{
    np_netif_addr *a = NULL;
    size_t n = 0, i;

    if (u->prefix_known)
        return;
    u->prefix_known = 1;
    if (np_netinfo_local_addrs(&a, &n, NULL) != NP_OK)
        return;
    for (i = 0; i < n; i++)
        if (np_addr_same_ip(&a[i].addr, &u->ctx->local))
            u->prefix = a[i].prefix_len;
    free(a);
}

static int upnp_disc_recv(void *st, np_pm_discovery *d, np_error *err)
{
    struct upnp *u = st;
    char buf[1536], loc[256], fixed[256];
    struct sockaddr_storage ss;
    socklen_t sl;
    ssize_t r;
    int ver = 1, answered = 0, rp;

    (void)err;
    for (;;) {
        np_addr from;

        sl = sizeof(ss);
        r = recvfrom(u->fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
        if (r < 0)
            break;
        np_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl);
        if (!np_pm_ssdp_parse(buf, (size_t)r, loc, sizeof(loc), &ver))
            continue;
        /* LOCATION on loopback or 0.0.0.0 (TP-Link): the answerer's */
        rp = np__url_repoint(loc, &from, fixed, sizeof(fixed));
        if (rp < 0)
            continue;
        if (np_addr_same_ip(&from, &u->ctx->gateway) &&
            url_host_is(rp ? fixed : loc, &u->ctx->gateway)) {
            if (u->url[0] == '\0' || ver > u->igd_version) {
                snprintf(u->url, sizeof(u->url), "%s", rp ? fixed : loc);
                u->igd_version = ver;
                if (rp)
                    snprintf(u->note, sizeof(u->note),
                             "the IGD's LOCATION named an unusable host "
                             "(%.60s); used the gateway's address",
                             loc);
            }
            answered = 1;
            continue;
        }
        lan_prefix(u);
        if (!np_addr_same_ip(&from, &u->ctx->gateway) &&
            st_is_gw_only(buf, (size_t)r) &&
            np__on_lan(&from, &u->ctx->local, u->prefix) &&
            url_host_is(rp ? fixed : loc, &from)) {
            /* answered the M-SEARCH sent to the gateway, from its own LAN
             * address: a CARP/VRRP pair */
            if (u->lan_url[0] == '\0') {
                snprintf(u->lan_url, sizeof(u->lan_url), "%s",
                         rp ? fixed : loc);
                u->lan_from = from;
            }
            answered = 1;
            continue;
        }
        np__pm_suspect(d, NP_PM_UPNP, &from,
                       np__on_lan(&from, &u->ctx->local, u->prefix)
                           ? "an UPnP IGD that is not the default gateway"
                           : "an UPnP IGD outside the LAN (never used)");
    }
    return answered ? NP__DISC_ANSWERED : NP__DISC_PENDING;
}

static int fill_ext(struct upnp *u)
{
    char ip[UPNP_BUF];
    np_addr a;
    int rc;

    memset(ip, 0, sizeof(ip));
    memset(&u->ext, 0, sizeof(u->ext));
    rc = UPNP_GetExternalIPAddress(u->urls.controlURL,
                                   u->data.first.servicetype, ip);
    ip[sizeof(ip) - 1] = '\0';
    if (rc != 0 || np_addr_parse(&a, ip, 0, NULL) != NP_OK)
        return NP_EPROTO;
    if (!np_pm_external_usable(&a, &u->ctx->gateway, &u->ctx->local)) {
        /* 0.0.0.0, loopback, its own LAN address: it does not know */
        u->bogus = a;
        return NP_EPROTO;
    }
    u->ext = a;
    return NP_OK;
}

/* How good the WAN service in u->data.first is, as miniupnpc's
 * UPNP_GetValidIGD ranks IGDs: connected with a public address, connected
 * with another usable one, connected, not connected. */
static int service_rank(struct upnp *u)
{
    int connected = UPNPIGD_IsConnected(&u->urls, &u->data);
    int usable = fill_ext(u) == NP_OK;

    if (connected && usable)
        return np_addr_scope(&u->ext) == NP_SCOPE_PUBLIC ? 4 : 3;
    if (connected)
        return 2;
    return usable ? 1 : 0;
}

static int load_urls(struct upnp *u)
{
    if (u->have_urls)
        FreeUPNPUrls(&u->urls);
    memset(&u->urls, 0, sizeof(u->urls));
    GetUPNPUrls(&u->urls, &u->data, u->url, 0);
    u->have_urls = 1;
    return u->urls.controlURL != NULL && u->urls.controlURL[0] != '\0';
}

static void swap_services(struct upnp *u)
{
    u->data.tmp = u->data.first;
    u->data.first = u->data.second;
    u->data.second = u->data.tmp;
}

/*
 * Several WAN connection services (a DSL box with WANIPConnection and
 * WANPPPConnection, two WAN devices): miniupnpc keeps the first two it
 * finds; use the one that is connected with a usable external address.
 */
static void choose_service(struct upnp *u)
{
    int r1, r2;

    r1 = service_rank(u);
    if (r1 == 4 || u->data.second.servicetype[0] == '\0')
        return;
    swap_services(u);
    if (load_urls(u) && (r2 = service_rank(u)) > r1) {
        size_t n = strlen(u->note);

        snprintf(u->note + n, sizeof(u->note) - n,
                 "%sused the IGD's second WAN service (%.60s): the first is "
                 "%s",
                 n ? "; " : "", u->data.first.servicetype,
                 r1 >= 2 ? "connected without a usable external address"
                         : "not connected");
        return;
    }
    swap_services(u);
    (void)load_urls(u);
    (void)service_rank(u);
}

static int upnp_disc_finish(void *st, np_pm_discovery *d, np_error *err)
{
    struct upnp *u = st;
    char a[NP_ADDRSTRLEN];

    if (u->url[0] == '\0' && u->lan_url[0] != '\0') {
        /* Only a LAN host answering for the gateway (CARP/VRRP). */
        snprintf(u->url, sizeof(u->url), "%s", u->lan_url);
        snprintf(u->note, sizeof(u->note),
                 "the IGD answered for the gateway from %s (a CARP/VRRP "
                 "pair?)",
                 np_addr_ip_str(&u->lan_from, a, sizeof(a)));
    }
    if (u->url[0] == '\0')
        return np_error_set(err, NP_ENOTFOUND, NULL, "no IGD");
    if (u->have_urls) {
        FreeUPNPUrls(&u->urls);
        u->have_urls = 0;
    }
    memset(&u->urls, 0, sizeof(u->urls));
    memset(&u->data, 0, sizeof(u->data));
    memset(u->lanaddr, 0, sizeof(u->lanaddr));
    if (UPNP_GetIGDFromUrl(u->url, &u->urls, &u->data, u->lanaddr,
                           (int)sizeof(u->lanaddr) - 1) != 1) {
        FreeUPNPUrls(&u->urls);
        return np_error_set(err, NP_EPROTO, u->url,
                            "cannot read the IGD's description");
    }
    u->have_urls = 1;
    if (u->urls.controlURL == NULL || u->urls.controlURL[0] == '\0')
        return np_error_set(err, NP_EPROTO, u->url,
                            "the IGD has no WAN connection service");
    choose_service(u);
    if (strstr(u->data.first.servicetype, "Connection:2") != NULL)
        u->igd_version = 2;
    else
        u->igd_version = 1;
    d->igd_version = u->igd_version;
    snprintf(d->igd_url, sizeof(d->igd_url), "%s", u->url);
    if (u->note[0] != '\0')
        np__pm_note(d, "UPnP: %s", u->note);
    d->igd_connected = UPNPIGD_IsConnected(&u->urls, &u->data);
    if (np_addr_is_set(&u->ext) || fill_ext(u) == NP_OK)
        d->external[NP_PM_UPNP] = u->ext;
    else if (np_addr_is_set(&u->bogus))
        d->external_bogus[NP_PM_UPNP] = u->bogus;
    return NP_OK;
}

static const char *proto_str(int transport)
{
    return transport == NP_PM_TCP ? "TCP" : "UDP";
}

/* The client a request is for, as text: req->internal or our LAN address. */
static void client_of(const struct upnp *u, const np_pm_request *req, char *buf,
                      size_t size)
{
    if (np_addr_is_set(&req->internal))
        np_addr_ip_str(&req->internal, buf, size);
    else if (u->lanaddr[0] != '\0')
        snprintf(buf, size, "%s", u->lanaddr);
    else
        np_addr_ip_str(&u->ctx->local, buf, size);
}

static uint16_t ext_port_of(const np_pm_request *req)
{
    return req->external_port ? req->external_port : req->internal_port;
}

/* One entry, as GetSpecificPortMappingEntry reads it. */
struct entry {
    char client[UPNP_BUF];
    char port[UPNP_BUF];
    char desc[UPNP_BUF];
    char enabled[UPNP_BUF];
    char lease[UPNP_BUF];
};

static int get_specific(struct upnp *u, uint16_t eport, int transport,
                        struct entry *e)
{
    char ep[16];
    int rc;

    memset(e, 0, sizeof(*e));
    snprintf(ep, sizeof(ep), "%u", (unsigned)eport);
#if MINIUPNPC_API_VERSION >= 18
    rc = UPNP_GetSpecificPortMappingEntry(
        u->urls.controlURL, u->data.first.servicetype, ep, proto_str(transport),
        NULL, e->client, e->port, e->desc, sizeof(e->desc), e->enabled,
        e->lease);
#else
    rc = UPNP_GetSpecificPortMappingEntry(
        u->urls.controlURL, u->data.first.servicetype, ep, proto_str(transport),
        NULL, e->client, e->port, e->desc, e->enabled, e->lease);
#endif
    e->client[UPNP_BUF - 1] = e->port[UPNP_BUF - 1] = '\0';
    e->desc[UPNP_BUF - 1] = e->enabled[UPNP_BUF - 1] = '\0';
    np__xml_unescape(e->desc);
    e->lease[UPNP_BUF - 1] = '\0';
    return rc;
}

static void set_ext(struct upnp *u, np_pm_result *res, uint16_t port)
{
    if (!np_addr_is_set(&u->ext))
        (void)fill_ext(u);
    res->external = u->ext;
    np_addr_set_port(&res->external, port);
}

/* Fill holder fields of res from a table entry. */
static void set_holder(np_pm_result *res, const struct entry *e)
{
    (void)np_addr_parse(&res->holder, e->client, 0, NULL);
    snprintf(res->holder_desc, sizeof(res->holder_desc), "%.79s", e->desc);
}

/*
 * AddPortMapping; where another external port will do and the wanted one
 * is another client's (718), what an IGDv2's AddAnyPortMapping would do:
 * the next external ports the table shows free, a few at most. IGDv1 has
 * no AddAnyPortMapping. Returns the UPnP error of the wanted port when no
 * other port could be had; *granted is the port mapped.
 */
#define NP_UPNP_ALT_TRIES 16

static int add_or_next(struct upnp *u, const np_pm_request *req,
                       const char *client, const char *ip, const char *lease,
                       const char *desc, uint16_t *granted)
{
    uint16_t cand = *granted;
    char ep[16];
    struct entry e;
    int rc, first, i;

    snprintf(ep, sizeof(ep), "%u", (unsigned)cand);
    first = rc = UPNP_AddPortMapping(
        u->urls.controlURL, u->data.first.servicetype, ep, ip, client, desc,
        proto_str(req->transport), NULL, lease);
    if (rc != 718 || !req->allow_other_port ||
        get_specific(u, cand, req->transport, &e) != 0 ||
        strcmp(e.client, client) == 0)
        return rc; /* not another device's port (718 is also secure mode) */
    for (i = 0; i < NP_UPNP_ALT_TRIES; i++) {
        cand = cand >= 65535 ? 1024 : (uint16_t)(cand + 1);
        if (get_specific(u, cand, req->transport, &e) == 0)
            continue; /* taken */
        snprintf(ep, sizeof(ep), "%u", (unsigned)cand);
        rc = UPNP_AddPortMapping(u->urls.controlURL, u->data.first.servicetype,
                                 ep, ip, client, desc,
                                 proto_str(req->transport), NULL, lease);
        if (rc == 0) {
            *granted = cand;
            return 0;
        }
        if (rc != 718)
            break; /* policy or worse: more ports will not help */
    }
    return first;
}

static int upnp_add(void *st, const np_pm_request *req, np_pm_result *res,
                    np_error *err)
{
    struct upnp *u = st;
    char ep[16], ip[16], lease[16], client[NP_ADDRSTRLEN];
    char reserved[UPNP_BUF];
    /* miniupnpc sends arguments unescaped: "Tom & Ana" must not break the
     * SOAP body (a strict IGD answers 402) */
    char desc[NP_PM_DESC_MAX * 6];
    int rc, third = np_addr_is_set(&req->internal);
    uint16_t eport = ext_port_of(req), granted = eport;
    enum np_pm_outcome o;
    struct entry e;
    uint32_t v;

    (void)err;
    if (!u->have_urls)
        return np_error_set(err, NP_EUNSUPP, NULL, "no IGD");
    client_of(u, req, client, sizeof(client));
    (void)np__xml_escape(req->description, desc, sizeof(desc));
    snprintf(ep, sizeof(ep), "%u", (unsigned)eport);
    snprintf(ip, sizeof(ip), "%u", (unsigned)req->internal_port);
    snprintf(lease, sizeof(lease), "%lu",
             req->permanent ? 0UL : (unsigned long)req->lifetime);
    if (u->igd_version >= 2 && req->allow_other_port) {
        memset(reserved, 0, sizeof(reserved));
        rc = UPNP_AddAnyPortMapping(
            u->urls.controlURL, u->data.first.servicetype, ep, ip, client, desc,
            proto_str(req->transport), NULL, lease, reserved);
        reserved[UPNP_BUF - 1] = '\0';
        if (rc == 0 && np__parse_u32(reserved, UINT32_MAX, &v) == NP_OK &&
            v > 0 && v <= 65535)
            granted = (uint16_t)v;
    } else {
        rc = add_or_next(u, req, client, ip, lease, desc, &granted);
    }
    (void)np_addr_parse(&res->internal, client, 0, NULL);
    res->internal_port = req->internal_port;
    if (rc != 0) {
        o = np_pm_classify_upnp(rc, third, !req->permanent);
        np__pm_result_set(res, NP_PM_UPNP, o, rc, "UPnP error %d: %s", rc,
                          np_pm_upnp_error_str(rc));
        if (rc == 718 || rc == 729 || (rc == 606 && third)) {
            /* Who holds it? 718 also means "secure mode" on IGDv1. */
            if (get_specific(u, eport, req->transport, &e) == 0 &&
                strcmp(e.client, client) != 0) {
                res->outcome = NP_PM_CONFLICT;
                set_holder(res, &e);
            }
        }
        if (rc == 725 || (rc == 402 && !req->permanent))
            np__pm_result_set(res, NP_PM_UPNP, o, rc,
                              "UPnP error %d: %s: this router %s only "
                              "permanent mappings (use --permanent, and "
                              "remove them with natpilot close)",
                              rc, np_pm_upnp_error_str(rc),
                              rc == 725 ? "accepts" : "may accept");
        return NP_OK;
    }
    set_ext(u, res, granted);
    res->lifetime = req->permanent ? 0 : req->lifetime;
    /* Read it back: the router's own view of what it made. */
    if (get_specific(u, granted, req->transport, &e) == 0) {
        if (np__parse_u32(e.lease, UINT32_MAX, &v) == NP_OK)
            res->lifetime = v;
    }
    if (granted != eport)
        np__pm_result_set(res, NP_PM_UPNP, NP_PM_OTHER_PORT, 0,
                          "mapped to external port %u instead of %u",
                          (unsigned)granted, (unsigned)eport);
    else
        np__pm_result_set(res, NP_PM_UPNP, NP_PM_OK, 0, "Success");
    return NP_OK;
}

static int upnp_get(void *st, const np_pm_request *req, np_pm_result *res,
                    np_error *err)
{
    struct upnp *u = st;
    char client[NP_ADDRSTRLEN];
    struct entry e;
    uint16_t eport = ext_port_of(req);
    uint32_t v;
    int rc;

    if (!u->have_urls)
        return np_error_set(err, NP_EUNSUPP, NULL, "no IGD");
    client_of(u, req, client, sizeof(client));
    rc = get_specific(u, eport, req->transport, &e);
    if (rc != 0) {
        enum np_pm_outcome o = np_pm_classify_upnp(rc, 0, 0);

        if (rc == 402 || rc == 501)
            o = NP_PM_NOT_FOUND; /* some IGDs answer these for "none" */
        np__pm_result_set(res, NP_PM_UPNP, o, rc, "UPnP error %d: %s", rc,
                          np_pm_upnp_error_str(rc));
        return NP_OK;
    }
    set_ext(u, res, eport);
    (void)np_addr_parse(&res->internal, e.client, 0, NULL);
    if (np__parse_u32(e.port, UINT32_MAX, &v) == NP_OK && v <= 65535)
        res->internal_port = (uint16_t)v;
    if (np__parse_u32(e.lease, UINT32_MAX, &v) == NP_OK)
        res->lifetime = v;
    set_holder(res, &e);
    if (strcmp(e.client, client) == 0 &&
        res->internal_port == req->internal_port)
        np__pm_result_set(res, NP_PM_UPNP, NP_PM_OK, 0, "mapped to %s:%s (%s)",
                          e.client, e.port, e.desc);
    else
        np__pm_result_set(res, NP_PM_UPNP, NP_PM_OTHER_DEVICE, 0,
                          "mapped to %s:%s (%s), not to %s:%u", e.client,
                          e.port, e.desc, client, (unsigned)req->internal_port);
    return NP_OK;
}

static int upnp_del(void *st, const np_pm_request *req, np_pm_result *res,
                    np_error *err)
{
    struct upnp *u = st;
    char ep[16], client[NP_ADDRSTRLEN];
    struct entry e;
    uint16_t eport = ext_port_of(req);
    int rc;

    if (!u->have_urls)
        return np_error_set(err, NP_EUNSUPP, NULL, "no IGD");
    client_of(u, req, client, sizeof(client));
    rc = get_specific(u, eport, req->transport, &e);
    if (rc != 0) {
        np__pm_result_set(res, NP_PM_UPNP, NP_PM_NOT_FOUND, rc,
                          "no such mapping (UPnP error %d: %s)", rc,
                          np_pm_upnp_error_str(rc));
        return NP_OK;
    }
    set_holder(res, &e);
    /* Only natpilot's own mapping to this client is removed. */
    if (!np_pm_is_ours(e.desc) || strcmp(e.client, client) != 0) {
        np__pm_result_set(res, NP_PM_UPNP, NP_PM_OTHER_DEVICE, 0,
                          "left alone: held by %s (\"%s\"), not natpilot's "
                          "mapping for %s",
                          e.client, e.desc, client);
        return NP_OK;
    }
    snprintf(ep, sizeof(ep), "%u", (unsigned)eport);
    rc = UPNP_DeletePortMapping(u->urls.controlURL, u->data.first.servicetype,
                                ep, proto_str(req->transport), NULL);
    if (rc != 0) {
        np__pm_result_set(res, NP_PM_UPNP, np_pm_classify_upnp(rc, 0, 0), rc,
                          "UPnP error %d: %s", rc, np_pm_upnp_error_str(rc));
        return NP_OK;
    }
    np__pm_result_set(res, NP_PM_UPNP, NP_PM_OK, 0, "removed");
    return NP_OK;
}

static int upnp_list(void *st, np_pm_mapping **out, size_t *n, np_error *err)
{
    struct upnp *u = st;
    np_pm_mapping *arr = NULL;
    size_t count = 0, cap = 0;
    unsigned idx;

    if (!u->have_urls)
        return np_error_set(err, NP_EUNSUPP, NULL, "no IGD");
    for (idx = 0; idx < 4096; idx++) {
        char is[16], ext[UPNP_BUF], client[UPNP_BUF], iport[UPNP_BUF];
        char proto[UPNP_BUF], desc[UPNP_BUF], en[UPNP_BUF], rhost[UPNP_BUF];
        char dur[UPNP_BUF];
        np_pm_mapping *m;
        uint32_t v;
        int rc;

        memset(ext, 0, sizeof(ext));
        memset(client, 0, sizeof(client));
        memset(iport, 0, sizeof(iport));
        memset(proto, 0, sizeof(proto));
        memset(desc, 0, sizeof(desc));
        memset(en, 0, sizeof(en));
        memset(rhost, 0, sizeof(rhost));
        memset(dur, 0, sizeof(dur));
        snprintf(is, sizeof(is), "%u", idx);
        rc = UPNP_GetGenericPortMappingEntry(
            u->urls.controlURL, u->data.first.servicetype, is, ext, client,
            iport, proto, desc, en, rhost, dur);
        if (rc != 0)
            break; /* 713: end of the table (or any error) */
        if (count == cap) {
            size_t nc = cap ? cap * 2 : 16;
            np_pm_mapping *na = realloc(arr, nc * sizeof(*arr));

            if (na == NULL) {
                free(arr);
                return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
            }
            arr = na;
            cap = nc;
        }
        m = &arr[count];
        memset(m, 0, sizeof(*m));
        m->proto = NP_PM_UPNP;
        m->transport = strcmp(proto, "TCP") == 0 ? NP_PM_TCP : NP_PM_UDP;
        if (np__parse_u32(ext, UINT32_MAX, &v) != NP_OK || v == 0 || v > 65535)
            continue;
        m->external_port = (uint16_t)v;
        if (np_addr_parse(&m->internal, client, 0, NULL) != NP_OK)
            continue;
        if (np__parse_u32(iport, UINT32_MAX, &v) == NP_OK && v <= 65535)
            np_addr_set_port(&m->internal, (uint16_t)v);
        desc[NP_PM_DESC_MAX - 1] = '\0';
        np__xml_unescape(desc);
        snprintf(m->description, sizeof(m->description), "%.79s", desc);
        if (np__parse_u32(dur, UINT32_MAX, &v) == NP_OK)
            m->lifetime = v;
        m->enabled = strcmp(en, "1") == 0;
        m->ours = np_pm_is_ours(desc);
        count++;
    }
    *out = arr;
    *n = count;
    return NP_OK;
}

static int upnp_external(void *st, np_addr *out, np_error *err)
{
    struct upnp *u = st;

    if (!u->have_urls)
        return np_error_set(err, NP_EUNSUPP, NULL, "no IGD");
    if (!np_addr_is_set(&u->ext) && fill_ext(u) != NP_OK) {
        char a[NP_ADDRSTRLEN];

        if (np_addr_is_set(&u->bogus))
            return np_error_set(err, NP_ENOTFOUND, u->url,
                                "the router does not know its public "
                                "address (it answered %s)",
                                np_addr_ip_str(&u->bogus, a, sizeof(a)));
        return np_error_set(err, NP_EPROTO, u->url,
                            "the IGD did not tell its external address");
    }
    *out = u->ext;
    return NP_OK;
}

const np__pm_backend np__pm_upnp = {
    NP_PM_UPNP,     upnp_open,      upnp_close,       upnp_disc_fd,
    upnp_disc_send, upnp_disc_recv, upnp_disc_finish, upnp_add,
    upnp_get,       upnp_list,      upnp_del,         upnp_external,
};
