/*
 * natpilot: IPv6 pinholes through UPnP IGDv2 and PCP over IPv6 (see
 * include/natpilot/pinhole.h).
 *
 * UPnP: SSDP over IPv6 (miniupnpc upnpDiscover with ipv6 = 1, so that the
 * control connection comes from this host's IPv6 address: a router in
 * secure mode only opens pinholes for the address that asks), then the
 * WANIPv6FirewallControl service of the IGD (UPnP-gw-WANIPv6FirewallControl
 * v1, section 2.5: GetFirewallStatus, AddPinhole, UpdatePinhole,
 * DeletePinhole, CheckPinholeWorking).
 *
 * PCP: RFC 6887 over IPv6 to the gateway's port 5351. A MAP request whose
 * internal address is IPv6 asks an IPv6 firewall for a pinhole (section
 * 11.1: "the suggested external address ... of the same family"; the
 * external port is the internal one, there being no translation). Answers
 * are checked as in portmap_pcp.c: source, nonce, protocol, port.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#include "natpilot/netinfo.h"
#include "natpilot/pcp.h"
#include "natpilot/pinhole.h"
#include "np_hex.h"
#include "np_util.h"

struct np_pinhole {
    np_ph_options opt;
    np_addr gateway; /* PCP server, port set */
    np_addr local;   /* this host, port 0 */
    int discovered;
    /* UPnP */
    int have_igd;
    struct UPNPUrls urls;
    struct IGDdatas data;
    char lanaddr[64];
    /* PCP */
    int fd;
    int pcp_ok;
};

np_pinhole *np_pinhole_new(const np_ph_options *opt, np_error *err)
{
    np_pinhole *ph = calloc(1, sizeof(*ph));

    if (ph == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if (opt != NULL)
        ph->opt = *opt;
    if (ph->opt.ssdp_ms <= 0)
        ph->opt.ssdp_ms = 1000;
    if (ph->opt.timeout_ms <= 0)
        ph->opt.timeout_ms = 1000;
    if (ph->opt.pcp_port == 0)
        ph->opt.pcp_port = NP_PCP_SERVER_PORT;
    ph->fd = -1;
    return ph;
}

void np_pinhole_free(np_pinhole *ph)
{
    if (ph == NULL)
        return;
    if (ph->have_igd)
        FreeUPNPUrls(&ph->urls);
    if (ph->fd >= 0)
        close(ph->fd);
    free(ph);
}

const np_addr *np_pinhole_local(const np_pinhole *ph)
{
    return ph != NULL ? &ph->local : NULL;
}

/* The gateway, this host's address and the PCP socket. */
static int setup(np_pinhole *ph, np_error *err)
{
    np_gateway gw;
    struct sockaddr_in6 *g;
    np_addr bind_to;
    int rc;

    memset(&gw, 0, sizeof(gw));
    if (np_addr_is_set(&ph->opt.gateway)) {
        ph->gateway = ph->opt.gateway;
    } else {
        rc = np_netinfo_default_gateway6(&gw, err);
        if (rc != NP_OK)
            return rc == NP_ENOTFOUND ? np_error_set(err, NP_EUNREACH, NULL,
                                                     "no IPv6 default route")
                                      : rc;
        ph->gateway = gw.addr;
    }
    if (ph->opt.ifname[0] == '\0')
        memcpy(ph->opt.ifname, gw.ifname, sizeof(ph->opt.ifname));
    if (np_addr_family(&ph->gateway) != AF_INET6)
        return np_error_set(err, NP_EINVAL, NULL,
                            "the IPv6 gateway is not an IPv6 address");
    g = (struct sockaddr_in6 *)&ph->gateway.ss;
    if (IN6_IS_ADDR_LINKLOCAL(&g->sin6_addr) && g->sin6_scope_id == 0 &&
        ph->opt.ifname[0] != '\0')
        g->sin6_scope_id = if_nametoindex(ph->opt.ifname);
    np_addr_set_port(&ph->gateway, ph->opt.pcp_port);
    if (np_addr_is_set(&ph->opt.local)) {
        ph->local = ph->opt.local;
    } else {
        np_netif_addr a;
        /* The global address: a link-local source would not do for a
         * pinhole, even towards a link-local gateway. */
        if (np_netinfo_global6(&a, err) != NP_OK)
            return np_error_set(err, NP_EUNREACH, NULL,
                                "no global IPv6 address on this host");
        ph->local = a.addr;
        if (np_netinfo_is_global6(&ph->gateway) &&
            np_netinfo_source_for(&ph->gateway, &ph->local, NULL) != NP_OK)
            ph->local = a.addr;
    }
    np_addr_set_port(&ph->local, 0);
    if (ph->opt.no_pcp)
        return NP_OK;
    ph->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ph->fd < 0)
        return np_error_sys(err, errno, NULL, "cannot create a UDP socket");
    bind_to = ph->local;
    if (bind(ph->fd, (const struct sockaddr *)&bind_to.ss, bind_to.len) != 0) {
        int e = errno;
        close(ph->fd);
        ph->fd = -1;
        return np_error_sys(err, e, NULL,
                            "cannot bind to this host's IPv6 "
                            "address");
    }
    return NP_OK;
}

static void pcp_send(np_pinhole *ph, const uint8_t *buf, size_t len)
{
    (void)sendto(ph->fd, buf, len, MSG_NOSIGNAL,
                 (const struct sockaddr *)&ph->gateway.ss, ph->gateway.len);
}

/* Read answers until one decodes from the gateway (1), or none is left. */
static int pcp_read(np_pinhole *ph, np_pcp_response *resp)
{
    for (;;) {
        uint8_t buf[NP_PCP_MAX_MSG];
        np_addr from;
        socklen_t fl = sizeof(from.ss);
        ssize_t n;

        memset(&from, 0, sizeof(from));
        n = recvfrom(ph->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from.ss,
                     &fl);
        if (n < 0)
            return 0;
        from.len = fl;
        if (!np_addr_same_ip(&from, &ph->gateway) ||
            np_addr_port(&from) != np_addr_port(&ph->gateway))
            continue;
        if (np_pcp_decode_response(buf, (size_t)n, resp, NULL) == NP_OK)
            return 1;
    }
}

/* Send req and wait for a matching answer: 1 answered, 0 timed out. */
static int pcp_transact(np_pinhole *ph, const uint8_t *req, size_t len,
                        const np_pcp_map_request *map, np_pcp_response *resp)
{
    int64_t start = np__mono_ms(), deadline = start + ph->opt.timeout_ms;
    int64_t next = start, rto = 250;

    for (;;) {
        struct pollfd p = {.fd = ph->fd, .events = POLLIN, .revents = 0};
        int64_t now = np__mono_ms(), wake;

        if (now >= deadline)
            return 0;
        if (now >= next) {
            pcp_send(ph, req, len);
            next = now + rto;
            rto *= 2;
        }
        wake = next < deadline ? next : deadline;
        if (poll(&p, 1, (int)(wake - now)) <= 0)
            continue;
        while (pcp_read(ph, resp)) {
            if (map == NULL)
                return 1;
            if (resp->has_map &&
                memcmp(resp->nonce, map->nonce, sizeof(map->nonce)) == 0 &&
                resp->protocol == map->protocol &&
                resp->internal_port == map->internal_port)
                return 1;
        }
    }
}

/* SSDP over IPv6 (UPnP Device Architecture 1.1 section 1.3.2): the
 * link-local multicast group and the gateway itself, IGDv2 only
 * (WANIPv6FirewallControl is an IGDv2 service). */
static const char msearch6[] =
    "M-SEARCH * HTTP/1.1\r\n"
    "HOST: [FF02::C]:1900\r\n"
    "MAN: \"ssdp:discover\"\r\n"
    "MX: 1\r\n"
    "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n"
    "\r\n";

static int ssdp6_open(np_pinhole *ph)
{
    np_addr b = ph->local;
    unsigned idx = ph->opt.ifname[0] ? if_nametoindex(ph->opt.ifname) : 0;
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    np_addr_set_port(&b, 0);
    if (bind(fd, (const struct sockaddr *)&b.ss, b.len) != 0) {
        close(fd);
        return -1;
    }
    if (idx != 0)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx,
                         sizeof(idx));
    return fd;
}

static void ssdp6_send(np_pinhole *ph, int fd)
{
    struct sockaddr_in6 m;
    np_addr gw = ph->gateway;

    memset(&m, 0, sizeof(m));
    m.sin6_family = AF_INET6;
    m.sin6_port = htons(1900);
    (void)inet_pton(AF_INET6, "ff02::c", &m.sin6_addr);
    m.sin6_scope_id = ph->opt.ifname[0] ? if_nametoindex(ph->opt.ifname) : 0;
    (void)sendto(fd, msearch6, sizeof(msearch6) - 1, MSG_NOSIGNAL,
                 (const struct sockaddr *)&m, sizeof(m));
    np_addr_set_port(&gw, 1900);
    (void)sendto(fd, msearch6, sizeof(msearch6) - 1, MSG_NOSIGNAL,
                 (const struct sockaddr *)&gw.ss, gw.len);
}

/* The first IGD answer's LOCATION: 1 when one was read into loc. */
static int ssdp6_read(int fd, char *loc, size_t size)
{
    for (;;) {
        char buf[1500];
        int v = 0;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);

        if (n < 0)
            return 0;
        if (np_pm_ssdp_parse(buf, (size_t)n, loc, size, &v) == 1)
            return 1;
    }
}

static void upnp6_fetch(np_pinhole *ph, const char *loc, np_v6_pinholes *out)
{
    int fw = 0, inb = 0;

    if (UPNP_GetIGDFromUrl(loc, &ph->urls, &ph->data, ph->lanaddr,
                           sizeof(ph->lanaddr)) <= 0)
        return;
    ph->have_igd = 1;
    snprintf(out->upnp_url, sizeof(out->upnp_url), "%s", loc);
    if (ph->urls.controlURL_6FC == NULL || ph->urls.controlURL_6FC[0] == '\0' ||
        ph->data.IPv6FC.servicetype[0] == '\0')
        return;
    out->upnp_fwctl = 1;
    if (UPNP_GetFirewallStatus(ph->urls.controlURL_6FC,
                               ph->data.IPv6FC.servicetype, &fw,
                               &inb) == UPNPCOMMAND_SUCCESS) {
        out->upnp_firewall = fw != 0;
        out->upnp_inbound = inb != 0;
    }
}

int np_pinhole_discover(np_pinhole *ph, np_v6_pinholes *out, np_error *err)
{
    uint8_t ann[NP_PCP_MAX_MSG];
    char loc[256] = "";
    size_t alen = 0;
    int rc, sfd = -1, got_loc = 0;
    int64_t t0, pcp_deadline = 0, ssdp_deadline = 0, next_pcp = 0,
                next_ssdp = 0;
    np_pcp_response resp;

    if (ph == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no pinhole object");
    memset(out, 0, sizeof(*out));
    out->upnp_firewall = out->upnp_inbound = out->pcp_result = -1;
    rc = setup(ph, err);
    if (rc != NP_OK)
        return rc;
    ph->discovered = 1;
    out->gateway = ph->gateway;
    t0 = np__mono_ms();
    /* PCP ANNOUNCE and SSDP at once, one poll loop, each with its own
     * deadline; done as soon as both answered. */
    if (ph->fd >= 0 && np_pcp_encode_announce(ann, sizeof(ann), &ph->local,
                                              &alen, NULL) == NP_OK) {
        out->pcp_asked = 1;
        pcp_deadline = t0 + ph->opt.timeout_ms;
        next_pcp = t0;
    }
    if (!ph->opt.no_upnp && (sfd = ssdp6_open(ph)) >= 0) {
        out->upnp_asked = 1;
        ssdp_deadline = t0 + ph->opt.ssdp_ms;
        next_ssdp = t0;
    }
    for (;;) {
        struct pollfd p[2];
        int64_t now = np__mono_ms(), wake = INT64_MAX;
        int pcp_on = out->pcp_asked && !out->pcp_answered && now < pcp_deadline;
        int ssdp_on = sfd >= 0 && !got_loc && now < ssdp_deadline;
        nfds_t n = 0;

        if (!pcp_on && !ssdp_on)
            break;
        if (pcp_on) {
            if (now >= next_pcp) {
                pcp_send(ph, ann, alen);
                next_pcp = now + (now == t0 ? 250 : 500);
            }
            wake = next_pcp < pcp_deadline ? next_pcp : pcp_deadline;
            p[n].fd = ph->fd;
            p[n].events = POLLIN;
            p[n].revents = 0;
            n++;
        }
        if (ssdp_on) {
            if (now >= next_ssdp) {
                ssdp6_send(ph, sfd);
                next_ssdp = now + 300;
            }
            if (next_ssdp < wake)
                wake = next_ssdp;
            if (ssdp_deadline < wake)
                wake = ssdp_deadline;
            p[n].fd = sfd;
            p[n].events = POLLIN;
            p[n].revents = 0;
            n++;
        }
        (void)poll(p, n, wake > now ? (int)(wake - now) : 0);
        if (pcp_on)
            while (!out->pcp_answered && pcp_read(ph, &resp))
                if (resp.opcode == NP_PCP_OP_ANNOUNCE && !resp.natpmp_reply) {
                    out->pcp_answered = 1;
                    out->pcp_result = resp.result;
                }
        if (ssdp_on)
            got_loc = ssdp6_read(sfd, loc, sizeof(loc));
    }
    if (sfd >= 0)
        close(sfd);
    ph->pcp_ok = out->pcp_answered && out->pcp_result == NP_PCP_SUCCESS;
    if (got_loc)
        upnp6_fetch(ph, loc, out);
    return NP_OK;
}

/* --- operations ------------------------------------------------------- */

enum np_pm_outcome np_ph_classify_upnp(int code, int third_party)
{
    switch (code) {
    case 0:
        return NP_PM_OK;
    case 606: /* Action not authorized: secure mode, another host's address,
                 or a port the router's policy refuses */
        return third_party ? NP_PM_THIRD_PARTY : NP_PM_POLICY;
    case 702: /* FirewallDisabled */
    case 703: /* InboundPinholeNotAllowed */
        return NP_PM_POLICY;
    case 704: /* NoSuchEntry */
        return NP_PM_NOT_FOUND;
    case 705: /* ProtocolNotSupported */
    case 706: /* InternalPortWildcardingNotAllowed */
    case 707: /* ProtocolWildcardingNotAllowed */
    case 708: /* WildCardNotPermittedInSrcIP */
        return NP_PM_UNSUPPORTED;
    case 701: /* PinholeSpaceExhausted */
    default:
        return NP_PM_FAILED;
    }
}

static const char *upnp6_words(int code)
{
    switch (code) {
    case 606:
        return "Action not authorized";
    case 701:
        return "PinholeSpaceExhausted";
    case 702:
        return "FirewallDisabled: the router's IPv6 firewall is off";
    case 703:
        return "InboundPinholeNotAllowed: the router does not let devices "
               "open pinholes";
    case 704:
        return "NoSuchEntry";
    case 705:
        return "ProtocolNotSupported";
    case 706:
        return "InternalPortWildcardingNotAllowed";
    case 707:
        return "ProtocolWildcardingNotAllowed";
    case 708:
        return "WildCardNotPermittedInSrcIP";
    default:
        return strupnperror(code) != NULL ? strupnperror(code) : "UPnP error";
    }
}

static void set_res(np_ph_result *res, enum np_pm_proto proto,
                    enum np_pm_outcome o, int code, const char *msg)
{
    res->proto = proto;
    res->outcome = o;
    res->code = code;
    snprintf(res->message, sizeof(res->message), "%s", msg);
}

/* The request's internal address, this host's when empty; 1 third party. */
static int internal_of(const np_pinhole *ph, const np_ph_request *req,
                       np_addr *out)
{
    if (np_addr_is_set(&req->internal) &&
        np_addr_family(&req->internal) == AF_INET6) {
        *out = req->internal;
        return !np_addr_same_ip(&req->internal, &ph->local);
    }
    *out = ph->local;
    np_addr_set_port(out, np_addr_port(&req->internal));
    return 0;
}

/*
 * UPnP first: IGDv2 names each pinhole (UniqueID) and has an update, a
 * check and a delete of its own. PCP second: miniupnpd 2.3.1 refuses
 * (NOT_AUTHORIZED) to delete an IPv6 pinhole that a PCP request renewed,
 * so a renewed PCP pinhole can only expire (docs/ipv6.md).
 */
static enum np_pm_proto choose(const np_pinhole *ph, const np_ph_request *req)
{
    if (req->proto == NP_PM_PCP || req->proto == NP_PM_UPNP)
        return req->proto;
    if (ph->have_igd && ph->urls.controlURL_6FC != NULL &&
        ph->urls.controlURL_6FC[0] != '\0')
        return NP_PM_UPNP;
    if (ph->pcp_ok)
        return NP_PM_PCP;
    return NP_PM_NONE;
}

static int upnp_ready(const np_pinhole *ph, np_ph_result *res)
{
    if (ph->have_igd && ph->urls.controlURL_6FC != NULL &&
        ph->urls.controlURL_6FC[0] != '\0')
        return 1;
    set_res(res, NP_PM_UPNP, NP_PM_UNSUPPORTED, 0,
            "no IGDv2 with WANIPv6FirewallControl answered over IPv6");
    return 0;
}

static int upnp_add(np_pinhole *ph, const np_ph_request *req, np_ph_result *res)
{
    char ip[NP_ADDRSTRLEN], port[8], lease[12], proto[4], uid[NP_PH_UID_MAX];
    np_addr in;
    int third = internal_of(ph, req, &in), code;

    if (!upnp_ready(ph, res))
        return NP_OK;
    np_addr_ip_str(&in, ip, sizeof(ip));
    snprintf(port, sizeof(port), "%u", (unsigned)np_addr_port(&in));
    snprintf(lease, sizeof(lease), "%u",
             (unsigned)(req->lifetime > 86400 ? 86400
                        : req->lifetime == 0  ? 3600
                                              : req->lifetime));
    snprintf(proto, sizeof(proto), "%d", req->transport);
    memset(uid, 0, sizeof(uid));
    /* RemoteHost "" and RemotePort 0: any peer (the game's peers are not
     * known in advance). */
    code = UPNP_AddPinhole(ph->urls.controlURL_6FC, ph->data.IPv6FC.servicetype,
                           "", "0", ip, port, proto, lease, uid);
    res->internal = in;
    if (code == UPNPCOMMAND_SUCCESS) {
        set_res(res, NP_PM_UPNP, NP_PM_OK, 0, "pinhole added");
        snprintf(res->uid, sizeof(res->uid), "%s", uid);
        /* the router's text: a number, or no lease known */
        if (np__parse_u32(lease, UINT32_MAX, &res->lifetime) != NP_OK)
            res->lifetime = 0;
        return NP_OK;
    }
    if (code < 0) {
        set_res(res, NP_PM_UPNP, NP_PM_TIMEOUT, code,
                "the IGD did not answer AddPinhole");
        return NP_OK;
    }
    set_res(res, NP_PM_UPNP, np_ph_classify_upnp(code, third), code,
            upnp6_words(code));
    return NP_OK;
}

static int pcp_map6(np_pinhole *ph, const np_ph_request *req, uint32_t life,
                    np_ph_result *res, np_error *err)
{
    np_pcp_map_request m;
    np_pcp_response resp;
    uint8_t buf[NP_PCP_MAX_MSG];
    size_t len;
    np_addr in;
    int third = internal_of(ph, req, &in), zero = 1, i, rc;

    if (ph->fd < 0) {
        set_res(res, NP_PM_PCP, NP_PM_UNSUPPORTED, 0,
                "PCP over IPv6 was not asked");
        return NP_OK;
    }
    memset(&m, 0, sizeof(m));
    for (i = 0; i < 12; i++)
        zero &= req->nonce[i] == 0;
    if (zero) {
        if (np__random(m.nonce, sizeof(m.nonce)) != 0)
            return np_error_sys(err, errno, NULL, "no random numbers");
    } else {
        memcpy(m.nonce, req->nonce, sizeof(m.nonce));
    }
    m.protocol = (uint8_t)req->transport;
    m.internal_port = np_addr_port(&in);
    m.suggested_external_port = np_addr_port(&in);
    m.lifetime = life;
    m.client = ph->local;
    m.suggested_external = in; /* no translation: the same address */
    if (third)
        m.third_party = in;
    rc = np_pcp_encode_map(buf, sizeof(buf), &m, &len, err);
    if (rc != NP_OK)
        return rc;
    res->internal = in;
    memcpy(res->nonce, m.nonce, sizeof(res->nonce));
    if (!pcp_transact(ph, buf, len, &m, &resp)) {
        set_res(res, NP_PM_PCP, NP_PM_TIMEOUT, 0,
                "the PCP server did not answer over IPv6");
        return NP_OK;
    }
    if (resp.result != NP_PCP_SUCCESS) {
        char msg[NP_PM_MSG_MAX];

        snprintf(msg, sizeof(msg), "%s: %s", np_pcp_result_name(resp.result),
                 np_pcp_result_message(resp.result));
        set_res(res, NP_PM_PCP, np_pm_classify_pcp(resp.result, third),
                resp.result, msg);
        return NP_OK;
    }
    set_res(res, NP_PM_PCP, NP_PM_OK, 0,
            life ? "pinhole added" : "pinhole removed");
    res->lifetime = resp.lifetime;
    return NP_OK;
}

int np_pinhole_add(np_pinhole *ph, const np_ph_request *req, np_ph_result *res,
                   np_error *err)
{
    enum np_pm_proto p;

    if (ph == NULL || req == NULL || res == NULL ||
        np_addr_port(&req->internal) == 0 ||
        (req->transport != NP_PM_UDP && req->transport != NP_PM_TCP))
        return np_error_set(err, NP_EINVAL, NULL, "invalid pinhole request");
    if (!ph->discovered)
        return np_error_set(err, NP_EINVAL, NULL, "discover first");
    memset(res, 0, sizeof(*res));
    res->working = -1;
    p = choose(ph, req);
    if (p == NP_PM_NONE) {
        set_res(res, NP_PM_NONE, NP_PM_UNSUPPORTED, 0,
                "the router takes no IPv6 pinhole requests (neither UPnP "
                "IGDv2 firewall control nor PCP answered over IPv6)");
        return NP_OK;
    }
    if (p == NP_PM_UPNP) {
        int rc = upnp_add(ph, req, res);
        /* Fall back to PCP when UPnP said nothing, cannot do it, or refuses
         * it for another host (miniupnpd does even with secure mode off;
         * PCP's THIRD_PARTY may be allowed). */
        if (rc != NP_OK || req->proto == NP_PM_UPNP || !ph->pcp_ok ||
            (res->outcome != NP_PM_TIMEOUT &&
             res->outcome != NP_PM_UNSUPPORTED &&
             res->outcome != NP_PM_THIRD_PARTY))
            return rc;
        memset(res, 0, sizeof(*res));
        res->working = -1;
    }
    return pcp_map6(ph, req, req->lifetime ? req->lifetime : 3600, res, err);
}

int np_pinhole_update(np_pinhole *ph, const np_ph_request *req,
                      np_ph_result *res, np_error *err)
{
    char lease[12];
    int code;

    if (ph == NULL || req == NULL || res == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "invalid pinhole request");
    memset(res, 0, sizeof(*res));
    res->working = -1;
    if (req->proto == NP_PM_PCP)
        return pcp_map6(ph, req, req->lifetime ? req->lifetime : 3600, res,
                        err);
    if (!upnp_ready(ph, res))
        return NP_OK;
    snprintf(lease, sizeof(lease), "%u",
             (unsigned)(req->lifetime > 86400 ? 86400
                        : req->lifetime == 0  ? 3600
                                              : req->lifetime));
    code = UPNP_UpdatePinhole(ph->urls.controlURL_6FC,
                              ph->data.IPv6FC.servicetype, req->uid, lease);
    snprintf(res->uid, sizeof(res->uid), "%s", req->uid);
    res->internal = req->internal;
    if (code == UPNPCOMMAND_SUCCESS) {
        set_res(res, NP_PM_UPNP, NP_PM_OK, 0, "pinhole renewed");
        /* the router's text: a number, or no lease known */
        if (np__parse_u32(lease, UINT32_MAX, &res->lifetime) != NP_OK)
            res->lifetime = 0;
    } else {
        set_res(res, NP_PM_UPNP,
                code < 0 ? NP_PM_TIMEOUT : np_ph_classify_upnp(code, 0), code,
                code < 0 ? "the IGD did not answer" : upnp6_words(code));
    }
    return NP_OK;
}

int np_pinhole_check(np_pinhole *ph, const np_ph_request *req,
                     np_ph_result *res, np_error *err)
{
    int code, working = 0;

    if (ph == NULL || req == NULL || res == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "invalid pinhole request");
    memset(res, 0, sizeof(*res));
    res->working = -1;
    if (req->proto != NP_PM_UPNP) {
        set_res(res, req->proto, NP_PM_UNSUPPORTED, 0,
                "only UPnP can check a pinhole");
        return NP_OK;
    }
    if (!upnp_ready(ph, res))
        return NP_OK;
    code = UPNP_CheckPinholeWorking(ph->urls.controlURL_6FC,
                                    ph->data.IPv6FC.servicetype, req->uid,
                                    &working);
    snprintf(res->uid, sizeof(res->uid), "%s", req->uid);
    if (code == UPNPCOMMAND_SUCCESS) {
        set_res(res, NP_PM_UPNP, NP_PM_OK, 0, "pinhole present");
        res->working = working != 0;
    } else if (code == 709) {
        /* NoPacketSent: the pinhole exists, nothing came through yet. */
        set_res(res, NP_PM_UPNP, NP_PM_OK, code, "no packet sent yet");
        res->working = 0;
    } else {
        set_res(res, NP_PM_UPNP,
                code < 0 ? NP_PM_TIMEOUT : np_ph_classify_upnp(code, 0), code,
                code < 0 ? "the IGD did not answer" : upnp6_words(code));
    }
    return NP_OK;
}

int np_pinhole_delete(np_pinhole *ph, const np_ph_request *req,
                      np_ph_result *res, np_error *err)
{
    int code;

    if (ph == NULL || req == NULL || res == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "invalid pinhole request");
    memset(res, 0, sizeof(*res));
    res->working = -1;
    if (req->proto == NP_PM_PCP)
        return pcp_map6(ph, req, 0, res, err);
    if (!upnp_ready(ph, res))
        return NP_OK;
    code = UPNP_DeletePinhole(ph->urls.controlURL_6FC,
                              ph->data.IPv6FC.servicetype, req->uid);
    snprintf(res->uid, sizeof(res->uid), "%s", req->uid);
    if (code == UPNPCOMMAND_SUCCESS)
        set_res(res, NP_PM_UPNP, NP_PM_OK, 0, "pinhole removed");
    else
        set_res(res, NP_PM_UPNP,
                code < 0 ? NP_PM_TIMEOUT : np_ph_classify_upnp(code, 0), code,
                code < 0 ? "the IGD did not answer" : upnp6_words(code));
    return NP_OK;
}

/* --- the store ---------------------------------------------------------- */

#define PH_STORE_MAX (256 * 1024)

void np_ph_store_free(np_ph_store *s)
{
    if (s == NULL)
        return;
    free(s->e);
    memset(s, 0, sizeof(*s));
}

long np_ph_store_find(const np_ph_store *s, int transport,
                      const np_addr *internal)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->e[i].transport == transport &&
            np_addr_equal(&s->e[i].internal, internal))
            return (long)i;
    return -1;
}

int np_ph_store_put(np_ph_store *s, const np_ph_entry *e)
{
    long i = np_ph_store_find(s, e->transport, &e->internal);

    if (i >= 0) {
        s->e[i] = *e;
        return NP_OK;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        np_ph_entry *ne = realloc(s->e, cap * sizeof(*ne));
        if (ne == NULL)
            return NP_ENOMEM;
        s->e = ne;
        s->cap = cap;
    }
    s->e[s->n++] = *e;
    return NP_OK;
}

void np_ph_store_del(np_ph_store *s, size_t i)
{
    if (i >= s->n)
        return;
    memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
    s->n--;
}

static int json_ip(const cJSON *o, const char *key, uint16_t port, np_addr *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsString(v))
        return -1;
    if (np_addr_parse(out, v->valuestring, 0, NULL) != NP_OK)
        return -1;
    np_addr_set_port(out, port);
    return 0;
}

int np_ph_store_load(const char *path, np_ph_store *s, np_error *err)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root, *o;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = np__file_load(path, PH_STORE_MAX, &text, &len, err);
    if (rc == NP_ENOTFOUND)
        return NP_OK;
    if (rc != NP_OK)
        return rc;
    root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return np_error_set(err, NP_EPARSE, path, "not a pinhole store");
    }
    cJSON_ArrayForEach(o, root)
    {
        np_ph_entry e;
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(o, "port");
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "transport");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "protocol");
        const cJSON *uid = cJSON_GetObjectItemCaseSensitive(o, "uid");
        const cJSON *nonce = cJSON_GetObjectItemCaseSensitive(o, "nonce");
        const cJSON *life = cJSON_GetObjectItemCaseSensitive(o, "lifetime");
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expires");

        memset(&e, 0, sizeof(e));
        if (!cJSON_IsNumber(port) || port->valuedouble < 1 ||
            port->valuedouble > 65535 || !cJSON_IsString(tr) ||
            !cJSON_IsString(pr) ||
            json_ip(o, "internal", (uint16_t)port->valuedouble, &e.internal) !=
                0) {
            cJSON_Delete(root);
            np_ph_store_free(s);
            return np_error_set(err, NP_EPARSE, path,
                                "a pinhole entry lacks port, transport, "
                                "protocol or internal address");
        }
        e.transport =
            strcmp(tr->valuestring, "tcp") == 0 ? NP_PM_TCP : NP_PM_UDP;
        e.proto = np_pm_proto_parse(pr->valuestring);
        (void)json_ip(o, "gateway", 0, &e.gateway);
        if (cJSON_IsString(uid))
            snprintf(e.uid, sizeof(e.uid), "%s", uid->valuestring);
        if (cJSON_IsString(nonce) &&
            np__hex_decode(e.nonce, sizeof(e.nonce), nonce->valuestring) != 0)
            memset(e.nonce, 0, sizeof(e.nonce));
        if (cJSON_IsNumber(life) && life->valuedouble >= 0 &&
            life->valuedouble <= 4294967295.0)
            e.lifetime = (uint32_t)life->valuedouble;
        if (cJSON_IsNumber(exp))
            e.expires = (int64_t)exp->valuedouble;
        if (np_ph_store_put(s, &e) != NP_OK) {
            cJSON_Delete(root);
            np_ph_store_free(s);
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        }
    }
    cJSON_Delete(root);
    return NP_OK;
}

int np_ph_store_save(const char *path, const np_ph_store *s, np_error *err)
{
    cJSON *root = cJSON_CreateArray();
    char ip[NP_ADDRSTRLEN], hex[25], *text;
    size_t i;
    int rc;

    if (root == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    for (i = 0; i < s->n; i++) {
        const np_ph_entry *e = &s->e[i];
        cJSON *o = cJSON_CreateObject();

        if (o == NULL)
            break;
        cJSON_AddStringToObject(o, "protocol", np_pm_proto_name(e->proto));
        cJSON_AddStringToObject(o, "transport",
                                np_pm_transport_name(e->transport));
        cJSON_AddStringToObject(o, "internal",
                                np_addr_ip_str(&e->internal, ip, sizeof(ip)));
        cJSON_AddNumberToObject(o, "port", np_addr_port(&e->internal));
        if (np_addr_is_set(&e->gateway))
            cJSON_AddStringToObject(
                o, "gateway", np_addr_ip_str(&e->gateway, ip, sizeof(ip)));
        cJSON_AddStringToObject(o, "uid", e->uid);
        np__hex_encode(hex, e->nonce, sizeof(e->nonce));
        cJSON_AddStringToObject(o, "nonce", hex);
        cJSON_AddNumberToObject(o, "lifetime", e->lifetime);
        cJSON_AddNumberToObject(o, "expires", (double)e->expires);
        cJSON_AddItemToArray(root, o);
    }
    text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    rc = np__file_replace(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}
