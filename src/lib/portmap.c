/*
 * natpilot: the port-mapping front (see include/natpilot/portmap.h):
 * parallel discovery, protocol choice and fallback, and the pure helpers
 * (classification of result codes, description tags, RFC 6887 §8.5 epoch
 * check). The protocols live in portmap_pcp.c, portmap_natpmp.c and
 * portmap_upnp.c behind np__pm_backend.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>

#include "natpilot/netinfo.h"
#include "natpilot/portmap.h"
#include "portmap_int.h"
#include "np_util.h"

struct np_portmap {
    np__pm_ctx ctx;
    const np__pm_backend *be[NP_PM_NPROTO]; /* by proto, NULL if unused */
    void *st[NP_PM_NPROTO];
    int answered[NP_PM_NPROTO];
    int late_tried[NP_PM_NPROTO];
    int discovered;
    enum np_pm_proto only; /* np_portmap_use(), NP_PM_NONE = any */
    np_pm_discovery disc;
    /* What this object made (PCP/NAT-PMP have no table to read). */
    np_pm_mapping *made;
    size_t nmade, capmade;
};

void np__pm_result_set(np_pm_result *res, enum np_pm_proto proto,
                       enum np_pm_outcome outcome, int code, const char *fmt,
                       ...)
{
    va_list ap;

    res->proto = proto;
    res->outcome = outcome;
    res->code = code;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

void np__pm_note(np_pm_discovery *d, const char *fmt, ...)
{
    size_t n;
    va_list ap;

    if (d == NULL)
        return;
    n = strnlen(d->note, sizeof(d->note));
    if (n > 0 && n + 2 < sizeof(d->note)) {
        memcpy(d->note + n, "; ", 3);
        n += 2;
    }
    if (n + 1 >= sizeof(d->note))
        return;
    va_start(ap, fmt);
    (void)vsnprintf(d->note + n, sizeof(d->note) - n, fmt, ap);
    va_end(ap);
}

void np__pm_suspect(np_pm_discovery *d, enum np_pm_proto proto,
                    const np_addr *from, const char *what)
{
    size_t i;
    np_pm_suspect *s;

    for (i = 0; i < d->nsuspects; i++)
        if (d->suspects[i].proto == proto &&
            np_addr_same_ip(&d->suspects[i].from, from))
            return;
    if (d->nsuspects >= NP_PM_MAX_SUSPECTS)
        return;
    s = &d->suspects[d->nsuspects++];
    s->proto = proto;
    s->from = *from;
    snprintf(s->what, sizeof(s->what), "%s", what);
}

/* --- names and pure helpers ------------------------------------------- */

int np__xml_escape(const char *s, char *out, size_t cap)
{
    size_t o = 0, i;

    if (out == NULL || cap == 0)
        return -1;
    out[0] = '\0';
    if (s == NULL)
        return 0;
    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *ent = NULL;
        size_t n = 1;

        switch (c) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&apos;";
            break;
        default:
            if (c < 0x20 && c != '\t')
                continue;    /* not allowed in XML 1.0 */
            if (c >= 0xC0) { /* a UTF-8 lead byte: keep the sequence whole */
                while ((s[i + n] & 0xC0) == 0x80)
                    n++;
            }
            break;
        }
        if (ent != NULL)
            n = strlen(ent);
        if (o + n >= cap) {
            out[o] = '\0';
            return -1;
        }
        memcpy(out + o, ent != NULL ? ent : s + i, n);
        o += n;
        if (ent == NULL)
            i += n - 1;
    }
    out[o] = '\0';
    return 0;
}

void np__xml_unescape(char *s)
{
    static const struct {
        const char *ent;
        char c;
    } named[] = {{"&amp;", '&'},
                 {"&lt;", '<'},
                 {"&gt;", '>'},
                 {"&quot;", '"'},
                 {"&apos;", '\''}};
    size_t r = 0, w = 0, i;

    if (s == NULL)
        return;
    while (s[r] != '\0') {
        size_t len = 0;
        char c = 0;

        if (s[r] == '&') {
            for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
                if (strncmp(s + r, named[i].ent, strlen(named[i].ent)) == 0) {
                    len = strlen(named[i].ent);
                    c = named[i].c;
                    break;
                }
            if (len == 0 && s[r + 1] == '#') {
                size_t k = r + 2;
                unsigned v = 0, digits = 0;
                int hex = s[k] == 'x' || s[k] == 'X';

                if (hex)
                    k++;
                for (; digits < 4; k++, digits++) {
                    char d = s[k];

                    if (d >= '0' && d <= '9')
                        v = v * (hex ? 16u : 10u) + (unsigned)(d - '0');
                    else if (hex && d >= 'a' && d <= 'f')
                        v = v * 16u + (unsigned)(d - 'a' + 10);
                    else if (hex && d >= 'A' && d <= 'F')
                        v = v * 16u + (unsigned)(d - 'A' + 10);
                    else
                        break;
                }
                if (digits > 0 && s[k] == ';' && v >= 0x20 && v < 0x7F) {
                    len = k + 1 - r;
                    c = (char)v;
                }
            }
        }
        if (len > 0) {
            s[w++] = c;
            r += len;
        } else {
            s[w++] = s[r++];
        }
    }
    s[w] = '\0';
}

int np__url_repoint(const char *url, const np_addr *answered, char *out,
                    size_t cap)
{
    char host[NP_ADDRSTRLEN + 2], ip[NP_ADDRSTRLEN];
    const char *h, *e;
    np_addr a;
    size_t n;
    int bad, w;

    if (url == NULL || answered == NULL || strncmp(url, "http://", 7) != 0)
        return -1;
    h = url + 7;
    if (*h == '[') { /* an IPv6 literal */
        e = strchr(h, ']');
        if (e == NULL)
            return -1;
        n = (size_t)(e - h - 1);
        if (n >= sizeof(host))
            return -1;
        memcpy(host, h + 1, n);
        e++;
    } else {
        e = h;
        while (*e != '\0' && *e != ':' && *e != '/')
            e++;
        n = (size_t)(e - h);
        if (n >= sizeof(host))
            return -1;
        memcpy(host, h, n);
    }
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0)
        bad = 1;
    else if (np_addr_parse(&a, host, 0, NULL) != NP_OK)
        return 0; /* a name: not ours to judge */
    else
        bad = np_addr_scope(&a) == NP_SCOPE_LOOPBACK ||
              !np_pm_external_usable(&a, NULL, NULL);
    if (!bad)
        return 0;
    np_addr_ip_str(answered, ip, sizeof(ip));
    w = snprintf(out, cap,
                 np_addr_family(answered) == AF_INET6 ? "http://[%s]%s"
                                                      : "http://%s%s",
                 ip, e);
    if (w < 0 || (size_t)w >= cap)
        return -1;
    return 1;
}

int np__on_lan(const np_addr *a, const np_addr *local, unsigned prefix_len)
{
    const uint8_t *x, *y;
    unsigned bits, i;

    if (a == NULL || local == NULL ||
        np_addr_family(a) != np_addr_family(local))
        return 0;
    if (np_addr_family(a) == AF_INET) {
        x = (const uint8_t *)&((const struct sockaddr_in *)&a->ss)->sin_addr;
        y = (const uint8_t *)&((const struct sockaddr_in *)&local->ss)
                ->sin_addr;
        bits = prefix_len == 0 || prefix_len > 32 ? 24 : prefix_len;
    } else if (np_addr_family(a) == AF_INET6) {
        x = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
        y = ((const struct sockaddr_in6 *)&local->ss)->sin6_addr.s6_addr;
        bits = prefix_len == 0 || prefix_len > 128 ? 64 : prefix_len;
    } else {
        return 0;
    }
    for (i = 0; i < bits; i++) {
        unsigned m = 0x80u >> (i % 8);

        if ((x[i / 8] & m) != (y[i / 8] & m))
            return 0;
    }
    return 1;
}

const char *np_pm_proto_name(enum np_pm_proto p)
{
    switch (p) {
    case NP_PM_PCP:
        return "pcp";
    case NP_PM_NATPMP:
        return "natpmp";
    case NP_PM_UPNP:
        return "upnp";
    case NP_PM_NONE:
    default:
        return "none";
    }
}

enum np_pm_proto np_pm_proto_parse(const char *s)
{
    if (s == NULL)
        return NP_PM_NONE;
    if (strcmp(s, "pcp") == 0)
        return NP_PM_PCP;
    if (strcmp(s, "natpmp") == 0 || strcmp(s, "nat-pmp") == 0)
        return NP_PM_NATPMP;
    if (strcmp(s, "upnp") == 0 || strcmp(s, "igd") == 0)
        return NP_PM_UPNP;
    return NP_PM_NONE;
}

const char *np_pm_transport_name(int transport)
{
    return transport == NP_PM_TCP ? "tcp" : "udp";
}

const char *np_pm_outcome_name(enum np_pm_outcome o)
{
    switch (o) {
    case NP_PM_OK:
        return "ok";
    case NP_PM_OTHER_PORT:
        return "other-port";
    case NP_PM_CONFLICT:
        return "conflict";
    case NP_PM_POLICY:
        return "policy";
    case NP_PM_THIRD_PARTY:
        return "third-party-refused";
    case NP_PM_PERMANENT_ONLY:
        return "permanent-only";
    case NP_PM_NOT_FOUND:
        return "not-found";
    case NP_PM_OTHER_DEVICE:
        return "other-device";
    case NP_PM_TIMEOUT:
        return "timeout";
    case NP_PM_UNSUPPORTED:
        return "unsupported";
    case NP_PM_FAILED:
    default:
        return "failed";
    }
}

const char *np_pm_describe(char *out, size_t size, const char *label)
{
    if (size == 0)
        return out;
    snprintf(out, size, "%s%s", NP_PM_TAG, label ? label : "");
    return out;
}

int np_pm_is_ours(const char *desc)
{
    return desc != NULL && strncmp(desc, NP_PM_TAG, strlen(NP_PM_TAG)) == 0;
}

enum np_pm_outcome np_pm_classify_upnp(int code, int third_party, int leased)
{
    switch (code) {
    case 0:
        return NP_PM_OK;
    case 606: /* Action not authorized: secure_mode on IGDv2, or policy */
        return third_party ? NP_PM_THIRD_PARTY : NP_PM_POLICY;
    case 718: /* ConflictInMappingEntry: also secure_mode on IGDv1 */
        return third_party ? NP_PM_THIRD_PARTY : NP_PM_CONFLICT;
    case 729: /* ConflictWithOtherMechanisms */
        return NP_PM_CONFLICT;
    case 725: /* OnlyPermanentLeasesSupported */
        return NP_PM_PERMANENT_ONLY;
    case 402: /* Invalid Args: some IGDv1 reject any non-zero lease */
        return leased ? NP_PM_PERMANENT_ONLY : NP_PM_FAILED;
    case 714: /* NoSuchEntryInArray */
    case 713: /* SpecifiedArrayIndexInvalid */
    case 730: /* PortMappingNotFound */
        return NP_PM_NOT_FOUND;
    case 401: /* Invalid Action */
    case 602: /* Optional Action Not Implemented */
        return NP_PM_UNSUPPORTED;
    default:
        return NP_PM_FAILED;
    }
}

int np__upnp_retry_permanent(int code, int leased)
{
    return leased && (code == 725 || code == 402);
}

int np__upnp_addany_broken(int code)
{
    return code == 401 || code == 602 || code < 0;
}

enum np__upnp_readback np__upnp_readback(int rc, const char *client,
                                         const char *iport,
                                         const char *want_client,
                                         uint16_t want_iport)
{
    uint16_t v;

    if (rc == 714 || rc == 713 || rc == 730 || rc == 402 || rc == 501)
        return NP__RB_ABSENT;
    if (rc != 0 || client == NULL || iport == NULL || want_client == NULL)
        return NP__RB_UNKNOWN;
    if (np__parse_u16(iport, 65535, &v) != NP_OK)
        return NP__RB_OTHER;
    if (strcmp(client, want_client) != 0 || v != want_iport)
        return NP__RB_OTHER;
    return NP__RB_HELD;
}

/* RFC 6887 §7.4 result codes. */
enum np_pm_outcome np_pm_classify_pcp(int rc, int third_party)
{
    switch (rc) {
    case 0:
        return NP_PM_OK;
    case 1: /* UNSUPP_VERSION */
    case 4: /* UNSUPP_OPCODE */
    case 9: /* UNSUPP_PROTOCOL */
        return NP_PM_UNSUPPORTED;
    case 2: /* NOT_AUTHORIZED */
        return NP_PM_POLICY;
    case 5: /* UNSUPP_OPTION: THIRD_PARTY not allowed */
    case 6: /* MALFORMED_OPTION */
        return third_party ? NP_PM_THIRD_PARTY : NP_PM_UNSUPPORTED;
    case 11: /* CANNOT_PROVIDE_EXTERNAL */
        return NP_PM_CONFLICT;
    default:
        return NP_PM_FAILED;
    }
}

/* RFC 6886 §3.5 result codes. */
enum np_pm_outcome np_pm_classify_natpmp(int rc)
{
    switch (rc) {
    case 0:
        return NP_PM_OK;
    case 1: /* Unsupported Version */
    case 5: /* Unsupported opcode */
        return NP_PM_UNSUPPORTED;
    case 2: /* Not Authorized/Refused */
        return NP_PM_POLICY;
    default: /* 3 Network Failure, 4 Out of resources */
        return NP_PM_FAILED;
    }
}

const char *np_pm_upnp_error_str(int code)
{
    switch (code) {
    case 0:
        return "Success";
    case 401:
        return "Invalid Action";
    case 402:
        return "Invalid Args";
    case 501:
        return "Action Failed";
    case 602:
        return "Optional Action Not Implemented";
    case 606:
        return "Action not authorized";
    case 713:
        return "SpecifiedArrayIndexInvalid";
    case 714:
        return "NoSuchEntryInArray";
    case 715:
        return "WildCardNotPermittedInSrcIP";
    case 716:
        return "WildCardNotPermittedInExtPort";
    case 718:
        return "ConflictInMappingEntry";
    case 724:
        return "SamePortValuesRequired";
    case 725:
        return "OnlyPermanentLeasesSupported";
    case 726:
        return "RemoteHostOnlySupportsWildcard";
    case 727:
        return "ExternalPortOnlySupportsWildcard";
    case 728:
        return "NoPortMapsAvailable";
    case 729:
        return "ConflictWithOtherMechanisms";
    case 730:
        return "PortMappingNotFound";
    case 732:
        return "WildCardNotPermittedInIntPort";
    case -1:
        return "unknown error (no usable answer from the IGD)";
    case -2:
        return "invalid arguments";
    case -3:
        return "HTTP error talking to the IGD";
    case -4:
        return "invalid response from the IGD";
    case -5:
        return "out of memory";
    default:
        return "UPnP error";
    }
}

int np_pm_external_usable(const np_addr *a, const np_addr *gateway,
                          const np_addr *local)
{
    static const uint8_t zero16[16];

    if (a == NULL || !np_addr_is_set(a))
        return 0;
    if (np_addr_family(a) == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
        const uint8_t *b = (const uint8_t *)&v4->sin_addr;

        /* 0/8 "this network", multicast, 240/4 and broadcast: never a
         * host's public address */
        if (b[0] == 0 || b[0] >= 224)
            return 0;
    } else if (np_addr_family(a) == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;

        if (memcmp(&v6->sin6_addr, zero16, 16) == 0 ||
            v6->sin6_addr.s6_addr[0] == 0xff)
            return 0;
    } else {
        return 0;
    }
    if (np_addr_scope(a) == NP_SCOPE_LOOPBACK ||
        np_addr_scope(a) == NP_SCOPE_LINK_LOCAL)
        return 0;
    if (gateway != NULL && np_addr_is_set(gateway) &&
        np_addr_same_ip(a, gateway))
        return 0;
    if (local != NULL && np_addr_is_set(local) && np_addr_same_ip(a, local))
        return 0;
    return 1;
}

int np_pm_discovery_external_unsure(const np_pm_discovery *d)
{
    size_t i;

    if (d == NULL)
        return 0;
    for (i = 0; i < NP_PM_NPROTO; i++)
        if (np_addr_is_set(&d->external_bogus[i]) || d->external_unread[i])
            return 1;
    return 0;
}

int np_pm_epoch_ok(uint32_t prev_server, uint64_t prev_client,
                   uint32_t now_server, uint64_t now_client)
{
    int64_t cd, sd;

    /* RFC 6887 §8.5: the epoch going back by more than one second means
     * the server lost its state. */
    if ((int64_t)now_server + 1 < (int64_t)prev_server)
        return 0;
    if (now_client < prev_client)
        return 0;
    cd = (int64_t)(now_client - prev_client);
    sd = (int64_t)now_server - (int64_t)prev_server;
    if (cd + 2 < sd - sd / 16 || sd + 2 < cd - cd / 16)
        return 0;
    return 1;
}

int np__ssdp_line(const char *buf, size_t len, size_t *pos, const char **line,
                  size_t *llen)
{
    size_t start = *pos, l;

    if (*pos >= len)
        return 0;
    while (*pos < len && buf[*pos] != '\n')
        (*pos)++;
    l = *pos - start;
    if (*pos < len)
        (*pos)++;
    if (l > 0 && buf[start + l - 1] == '\r')
        l--;
    *line = buf + start;
    *llen = l;
    return 1;
}

int np__ssdp_header(const char *line, size_t len, const char *name,
                    const char **v, size_t *vlen)
{
    size_t n = strlen(name);

    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    line += n + 1;
    len -= n + 1;
    while (len > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    *v = line;
    *vlen = len;
    return 1;
}

int np__ssdp_location(const char *v, size_t vl, char *loc, size_t locsize)
{
    if (vl < 8 || vl >= locsize || strncmp(v, "http://", 7) != 0 ||
        memchr(v, '\0', vl) != NULL)
        return 0;
    memcpy(loc, v, vl);
    loc[vl] = '\0';
    return 1;
}

static int memmem_ci(const char *h, size_t hl, const char *n)
{
    size_t nl = strlen(n), i;

    if (nl > hl)
        return 0;
    for (i = 0; i + nl <= hl; i++)
        if (strncasecmp(h + i, n, nl) == 0)
            return 1;
    return 0;
}

int np__ssdp_igd_type(const char *v, size_t vl)
{
    /* TR-064 (urn:dslforum-org:device:InternetGatewayDevice:1) is another
     * protocol on the same box, not the IGD, and no IGD restart. */
    if (memmem_ci(v, vl, "dslforum"))
        return 0;
    if (!memmem_ci(v, vl, "device:InternetGatewayDevice:") &&
        !memmem_ci(v, vl, "service:WANIPConnection:") &&
        !memmem_ci(v, vl, "service:WANPPPConnection:"))
        return 0;
    return vl > 0 && v[vl - 1] == '2' ? 2 : 1;
}

/* --- the daemon's NOTIFY reader (gateway announcements) ------------- */

/* A BOOTID / CONFIGID header value: all digits, up to 10 of them; else -1. */
static long ssdp_number(const char *v, size_t vl)
{
    const char *p = v;
    uint64_t n;

    if (np__scan_u64(&p, v + vl, 9999999999ULL, &n) != NP_OK || p != v + vl)
        return -1;
    return (long)n;
}

int np__pm_ssdp_notice(const char *buf, size_t len, np__ssdp_notice *out)
{
    static const char req[] = "NOTIFY * HTTP/1.1";
    size_t pos = 0, l, vl;
    const char *line, *v;
    int alive = 0, have_loc = 0, igd = 0;

    memset(out, 0, sizeof(*out));
    out->bootid = out->configid = -1;
    if (!np__ssdp_line(buf, len, &pos, &line, &l) || l != sizeof(req) - 1 ||
        memcmp(line, req, l) != 0)
        return 0;
    while (np__ssdp_line(buf, len, &pos, &line, &l) && l > 0) {
        if (np__ssdp_header(line, l, "NTS", &v, &vl)) {
            alive = vl == 10 && strncasecmp(v, "ssdp:alive", 10) == 0;
        } else if (np__ssdp_header(line, l, "NT", &v, &vl)) {
            igd = np__ssdp_igd_type(v, vl) != 0;
        } else if (np__ssdp_header(line, l, "LOCATION", &v, &vl)) {
            if (!np__ssdp_location(v, vl, out->location, sizeof(out->location)))
                return 0;
            have_loc = 1;
        } else if (np__ssdp_header(line, l, "USN", &v, &vl)) {
            size_t n = 0;

            if (vl > 5 && strncasecmp(v, "uuid:", 5) == 0) {
                v += 5;
                vl -= 5;
                while (n < vl && n + 1 < sizeof(out->uuid) && v[n] != ':' &&
                       v[n] > ' ' && v[n] < 0x7f)
                    n++;
                memcpy(out->uuid, v, n);
                out->uuid[n] = '\0';
            }
        } else if (np__ssdp_header(line, l, "BOOTID.UPNP.ORG", &v, &vl)) {
            out->bootid = ssdp_number(v, vl);
        } else if (np__ssdp_header(line, l, "CONFIGID.UPNP.ORG", &v, &vl)) {
            out->configid = ssdp_number(v, vl);
        }
    }
    if (!(alive && igd && have_loc)) {
        out->location[0] = '\0';
        return 0;
    }
    return 1;
}

int np__pm_ssdp_notify(const char *buf, size_t len, long *bootid, char *loc,
                       size_t locsize)
{
    np__ssdp_notice n;
    int ok = np__pm_ssdp_notice(buf, len, &n);

    *bootid = ok ? n.bootid : -1;
    if (locsize > 0)
        loc[0] = '\0';
    if (!ok)
        return 0;
    if (strlen(n.location) >= locsize)
        return 0;
    memcpy(loc, n.location, strlen(n.location) + 1);
    return 1;
}

int np_pm_ssdp_parse(const char *buf, size_t len, char *loc, size_t locsize,
                     int *igd_version)
{
    size_t pos = 0, l, vl;
    const char *line, *v;
    int is_igd = 0, has_loc = 0, ver = 0, t;

    if (buf == NULL || loc == NULL || locsize == 0)
        return 0;
    loc[0] = '\0';
    if (!np__ssdp_line(buf, len, &pos, &line, &l) || l < 12 ||
        strncmp(line, "HTTP/1.", 7) != 0 || strncmp(line + 8, " 200", 4) != 0)
        return 0;
    while (np__ssdp_line(buf, len, &pos, &line, &l) && l > 0) {
        if (np__ssdp_header(line, l, "LOCATION", &v, &vl)) {
            if (!np__ssdp_location(v, vl, loc, locsize))
                return 0;
            has_loc = 1;
        } else if (np__ssdp_header(line, l, "ST", &v, &vl) &&
                   (t = np__ssdp_igd_type(v, vl)) != 0) {
            is_igd = 1;
            ver = t;
        }
    }
    if (!is_igd || !has_loc) {
        loc[0] = '\0';
        return 0;
    }
    if (igd_version != NULL)
        *igd_version = ver;
    return 1;
}

const np_pm_mapping *np_pm_table_find(const np_pm_mapping *tab, size_t n,
                                      int transport, uint16_t port,
                                      const np_addr *dev)
{
    const np_pm_mapping *other = NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        const np_pm_mapping *m = &tab[i];

        if (m->transport != transport || !m->enabled ||
            np_addr_port(&m->internal) != port ||
            !np_addr_same_ip(&m->internal, dev))
            continue;
        if (m->external_port == port)
            return m;
        if (other == NULL)
            other = m;
    }
    return other;
}

/* --- the object --------------------------------------------------------- */

static const np__pm_backend *backend_of(enum np_pm_proto p)
{
    switch (p) {
    case NP_PM_PCP:
        return &np__pm_pcp;
    case NP_PM_NATPMP:
        return &np__pm_natpmp;
    case NP_PM_UPNP:
        return &np__pm_upnp;
    case NP_PM_NONE:
    default:
        return NULL;
    }
}

np_portmap *np_portmap_new(const np_pm_options *opt, np_error *err)
{
    np_portmap *pm = calloc(1, sizeof(*pm));
    int i, n = 0;

    if (pm == NULL) {
        np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if (opt != NULL)
        pm->ctx.opt = *opt;
    if (pm->ctx.opt.prefer[0] == NP_PM_NONE) {
        pm->ctx.opt.prefer[0] = NP_PM_PCP;
        pm->ctx.opt.prefer[1] = NP_PM_NATPMP;
        pm->ctx.opt.prefer[2] = NP_PM_UPNP;
        pm->ctx.opt.prefer[3] = NP_PM_NONE;
    }
    for (i = 0; i < NP_PM_NPROTO; i++) {
        enum np_pm_proto p = pm->ctx.opt.prefer[i];

        if (p == NP_PM_NONE)
            break;
        if (backend_of(p) == NULL || pm->be[p] != NULL) {
            np_error_set(err, NP_EINVAL, NULL, "bad protocol preference list");
            free(pm);
            return NULL;
        }
        pm->be[p] = backend_of(p);
        n++;
    }
    for (; i < NP_PM_NPROTO; i++)
        pm->ctx.opt.prefer[i] = NP_PM_NONE;
    (void)n;
    if (pm->ctx.opt.timeout_ms <= 0)
        pm->ctx.opt.timeout_ms = 1500;
    if (pm->ctx.opt.ssdp_max_ms <= 0)
        pm->ctx.opt.ssdp_max_ms = 2000;
    if (pm->ctx.opt.ssdp_port == 0)
        pm->ctx.opt.ssdp_port = 1900;
    if (pm->ctx.opt.pcp_port == 0)
        pm->ctx.opt.pcp_port = 5351;
    pm->ctx.disc = &pm->disc;
    return pm;
}

void np_portmap_free(np_portmap *pm)
{
    int p;

    if (pm == NULL)
        return;
    for (p = 0; p < NP_PM_NPROTO; p++)
        if (pm->be[p] != NULL && pm->st[p] != NULL)
            pm->be[p]->close(pm->st[p]);
    free(pm->made);
    free(pm);
}

static int higher_pref(const np_portmap *pm, enum np_pm_proto a,
                       enum np_pm_proto b)
{
    int i;

    for (i = 0; i < NP_PM_NPROTO && pm->ctx.opt.prefer[i] != NP_PM_NONE; i++) {
        if (pm->ctx.opt.prefer[i] == a)
            return 1;
        if (pm->ctx.opt.prefer[i] == b)
            return 0;
    }
    return 0;
}

int np_portmap_discover(np_portmap *pm, np_pm_discovery *out, np_error *err)
{
    np_pm_discovery *d;
    struct pollfd pfd[NP_PM_NPROTO];
    enum np_pm_proto pproto[NP_PM_NPROTO];
    int next_send[NP_PM_NPROTO], attempt[NP_PM_NPROTO];
    int done[NP_PM_NPROTO];
    int64_t t0, end, now;
    int p, i, rc, npfd, any = 0, pending;
    char gw[NP_ADDRSTRLEN];

    if (pm == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no portmap object");
    d = &pm->disc;
    memset(d, 0, sizeof(*d));
    for (p = 0; p < NP_PM_NPROTO; p++)
        d->rtt_ms[p] = -1;
    if (np_addr_is_set(&pm->ctx.opt.gateway)) {
        pm->ctx.gateway = pm->ctx.opt.gateway;
    } else {
        np_gateway g;

        rc = np_netinfo_default_gateway(&g, err);
        if (rc != NP_OK)
            return np_error_set(err, NP_EUNREACH, NULL,
                                "no default gateway: this host has no route "
                                "to a router");
        pm->ctx.gateway = g.addr;
    }
    np_addr_set_port(&pm->ctx.gateway, 0);
    rc = np_netinfo_source_for(&pm->ctx.gateway, &pm->ctx.local, err);
    if (rc != NP_OK)
        return rc;
    d->gateway = pm->ctx.gateway;
    d->local = pm->ctx.local;
    np_addr_ip_str(&pm->ctx.gateway, gw, sizeof(gw));

    /* Open every preferred backend and send its first request at once. */
    t0 = np__mono_ms();
    for (p = 0; p < NP_PM_NPROTO; p++) {
        done[p] = 1;
        attempt[p] = 0;
        next_send[p] = 0;
        if (pm->be[p] == NULL)
            continue;
        if (pm->st[p] == NULL) {
            pm->st[p] = pm->be[p]->open(&pm->ctx, err);
            if (pm->st[p] == NULL)
                return err ? err->code : NP_ESYS;
        }
        rc = pm->be[p]->disc_send(pm->st[p], 0, err);
        if (rc != NP_OK)
            continue; /* e.g. no multicast route: that protocol is out */
        done[p] = 0;
        next_send[p] = 250;
    }
    end = t0 + (pm->ctx.opt.timeout_ms > pm->ctx.opt.ssdp_max_ms
                    ? pm->ctx.opt.timeout_ms
                    : pm->ctx.opt.ssdp_max_ms);
    for (;;) {
        int64_t wait, elapsed;

        now = np__mono_ms();
        elapsed = now - t0;
        pending = 0;
        npfd = 0;
        for (p = 0; p < NP_PM_NPROTO; p++) {
            int fd;

            if (done[p])
                continue;
            /* PCP and NAT-PMP give up at timeout_ms, SSDP at ssdp_max_ms */
            if (p != NP_PM_UPNP && elapsed >= pm->ctx.opt.timeout_ms) {
                done[p] = 1;
                continue;
            }
            if (elapsed >= next_send[p]) {
                attempt[p]++;
                (void)pm->be[p]->disc_send(pm->st[p], attempt[p], NULL);
                next_send[p] = next_send[p] * 2 + 250;
            }
            fd = pm->be[p]->disc_fd(pm->st[p]);
            if (fd < 0)
                continue;
            pfd[npfd].fd = fd;
            pfd[npfd].events = POLLIN;
            pfd[npfd].revents = 0;
            pproto[npfd] = (enum np_pm_proto)p;
            npfd++;
            pending++;
        }
        if (pending == 0 || now >= end)
            break;
        wait = end - now;
        for (p = 0; p < NP_PM_NPROTO; p++)
            if (!done[p] && next_send[p] - elapsed < wait)
                wait = next_send[p] - elapsed;
        if (wait < 1)
            wait = 1;
        rc = poll(pfd, (nfds_t)npfd, (int)wait);
        if (rc < 0) {
            if (errno == EINTR)
                return np_error_set(err, NP_ECANCELED, NULL,
                                    "discovery interrupted");
            return np_error_sys(err, errno, NULL, "poll");
        }
        for (i = 0; i < npfd; i++) {
            enum np_pm_proto q = pproto[i];

            if ((pfd[i].revents & (POLLIN | POLLERR)) == 0)
                continue;
            rc = pm->be[q]->disc_recv(pm->st[q], d, NULL);
            if (rc == NP__DISC_PENDING)
                continue;
            done[q] = 1;
            if (rc != NP__DISC_ANSWERED)
                continue;
            pm->answered[q] = 1;
            d->has[q] = 1;
            d->rtt_ms[q] = (int)(np__mono_ms() - t0);
            if (!any && !pm->ctx.opt.wait_all) {
                int64_t win = pm->ctx.opt.ssdp_window_ms;
                int upnp_first = pm->be[NP_PM_UPNP] != NULL &&
                                 higher_pref(pm, NP_PM_UPNP, q);

                /* a window derived from the first answer's RTT for the
                 * others to answer too; longer for SSDP when UPnP is
                 * preferred over the protocol that answered */
                if (win <= 0)
                    win = upnp_first ? 8 * (int64_t)d->rtt_ms[q] + 250
                                     : 4 * (int64_t)d->rtt_ms[q] + 50;
                if (np__mono_ms() + win < end)
                    end = np__mono_ms() + win;
                any = 1;
            }
        }
        /* The most preferred protocol answered: nothing better to wait
         * for. Stop when everything is done, or (unless wait_all) after a
         * window of two of its RTTs in which the other protocol on port
         * 5351 may still answer for the record; SSDP is not waited for
         * (a later fallback asks it again, see late_discover). */
        for (i = 0; i < NP_PM_NPROTO; i++) {
            enum np_pm_proto q = pm->ctx.opt.prefer[i];

            if (q == NP_PM_NONE || !done[q])
                break;
            if (pm->answered[q]) {
                int all = 1;
                int64_t w = 2 * (int64_t)d->rtt_ms[q] + 10;

                for (p = 0; p < NP_PM_NPROTO; p++)
                    if (!done[p])
                        all = 0;
                if (all)
                    end = np__mono_ms();
                else if (!pm->ctx.opt.wait_all && t0 + d->rtt_ms[q] + w < end)
                    end = t0 + d->rtt_ms[q] + w;
                break;
            }
        }
    }
    /* SSDP silent, but the IGD's last good description URL may still
     * answer over HTTP (docs/routers.md, behaviour 15). */
    if (!pm->answered[NP_PM_UPNP] && pm->be[NP_PM_UPNP] != NULL &&
        pm->st[NP_PM_UPNP] != NULL && pm->ctx.opt.igd_url_hint[0] != '\0' &&
        np__pm_upnp_use_url(pm->st[NP_PM_UPNP], pm->ctx.opt.igd_url_hint) ==
            NP_OK) {
        pm->answered[NP_PM_UPNP] = 1;
        d->has[NP_PM_UPNP] = 1;
        d->igd_from_hint = 1;
        d->rtt_ms[NP_PM_UPNP] = (int)(np__mono_ms() - t0);
    }
    /* UPnP needs the chosen IGD's description (one TCP exchange). */
    if (pm->answered[NP_PM_UPNP]) {
        rc = pm->be[NP_PM_UPNP]->disc_finish(pm->st[NP_PM_UPNP], d, NULL);
        if (rc != NP_OK) {
            pm->answered[NP_PM_UPNP] = 0;
            d->has[NP_PM_UPNP] = 0;
            d->igd_from_hint = 0;
        }
    }
    for (p = 0; p < NP_PM_NPROTO; p++)
        if (pm->answered[p] && pm->be[p]->disc_finish != NULL &&
            p != NP_PM_UPNP)
            (void)pm->be[p]->disc_finish(pm->st[p], d, NULL);
    d->chosen = NP_PM_NONE;
    for (i = 0; i < NP_PM_NPROTO; i++) {
        enum np_pm_proto q = pm->ctx.opt.prefer[i];

        if (q != NP_PM_NONE && pm->answered[q]) {
            d->chosen = q;
            break;
        }
    }
    d->elapsed_ms = (int)(np__mono_ms() - t0);
    pm->discovered = 1;
    if (out != NULL)
        *out = *d;
    if (d->chosen == NP_PM_NONE && d->pcp_version != 0 && d->pcp_version != 2)
        return np_error_set(
            err, NP_EUNSUPP, gw,
            "the router answers PCP, but only version %d "
            "(natpilot speaks version 2)%s%s%s in %d ms",
            d->pcp_version, pm->be[NP_PM_NATPMP] ? "; NAT-PMP" : "",
            pm->be[NP_PM_UPNP] ? ", UPnP-IGD (SSDP)" : "",
            pm->be[NP_PM_NATPMP] || pm->be[NP_PM_UPNP] ? " did not answer" : "",
            d->elapsed_ms);
    if (d->chosen == NP_PM_NONE)
        return np_error_set(err, NP_ETIMEOUT, gw,
                            "the router answered none of %s%s%s%s%s in %d "
                            "ms",
                            pm->be[NP_PM_PCP] ? "PCP" : "",
                            pm->be[NP_PM_NATPMP] ? ", NAT-PMP" : "",
                            pm->be[NP_PM_UPNP] ? ", UPnP-IGD (SSDP)" : "",
                            d->nsuspects ? "; answers from other hosts were "
                                           "ignored"
                                         : "",
                            "", d->elapsed_ms);
    return NP_OK;
}

const np_pm_discovery *np_portmap_discovery(const np_portmap *pm)
{
    return pm != NULL ? &pm->disc : NULL;
}

int np_portmap_use(np_portmap *pm, enum np_pm_proto proto, np_error *err)
{
    if (pm == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no portmap object");
    if (proto != NP_PM_NONE && (proto >= NP_PM_NPROTO || !pm->answered[proto]))
        return np_error_set(err, NP_EUNSUPP, NULL,
                            "the router did not answer %s",
                            np_pm_proto_name(proto));
    pm->only = proto;
    return NP_OK;
}

/* Protocols to try, in order. */
static int candidates(const np_portmap *pm, enum np_pm_proto out[])
{
    int i, n = 0;

    if (pm->only != NP_PM_NONE) {
        out[0] = pm->only;
        return 1;
    }
    for (i = 0; i < NP_PM_NPROTO; i++) {
        enum np_pm_proto q = pm->ctx.opt.prefer[i];

        if (q == NP_PM_NONE)
            break;
        if (pm->answered[q])
            out[n++] = q;
    }
    return n;
}

static int fallback_worth(enum np_pm_outcome o)
{
    return o == NP_PM_TIMEOUT || o == NP_PM_UNSUPPORTED ||
           o == NP_PM_THIRD_PARTY;
}

static void remember(np_portmap *pm, const np_pm_request *req,
                     const np_pm_result *res)
{
    np_pm_mapping *m;

    if (res->proto == NP_PM_UPNP)
        return;
    if (pm->nmade == pm->capmade) {
        size_t nc = pm->capmade ? pm->capmade * 2 : 8;
        np_pm_mapping *nm;

        if (nc > 4096)
            return;
        nm = realloc(pm->made, nc * sizeof(*nm));
        if (nm == NULL)
            return;
        pm->made = nm;
        pm->capmade = nc;
    }
    m = &pm->made[pm->nmade++];
    memset(m, 0, sizeof(*m));
    m->proto = res->proto;
    m->transport = req->transport;
    m->external_port = np_addr_port(&res->external);
    m->internal = res->internal;
    np_addr_set_port(&m->internal, res->internal_port);
    snprintf(m->description, sizeof(m->description), "%s", req->description);
    m->lifetime = res->lifetime;
    m->enabled = 1;
    m->ours = 1;
}

/*
 * Discovery of one protocol that was silent in the first window (typically
 * SSDP, cut short because PCP answered first), done only when an operation
 * falls through every protocol that answered. 1 when it answers now.
 */
static int late_discover(np_portmap *pm, enum np_pm_proto p)
{
    const np__pm_backend *be = pm->be[p];
    void *st = pm->st[p];
    int64_t t0 = np__mono_ms(), next = 250, limit;
    int attempt = 0;

    if (be == NULL || st == NULL || pm->answered[p] || pm->late_tried[p])
        return 0;
    pm->late_tried[p] = 1;
    limit = p == NP_PM_UPNP ? pm->ctx.opt.ssdp_max_ms : pm->ctx.opt.timeout_ms;
    if (be->disc_send(st, attempt, NULL) != NP_OK)
        return 0;
    for (;;) {
        struct pollfd pfd;
        int64_t el = np__mono_ms() - t0, wait;
        int rc;

        if (el >= limit)
            return 0;
        if (el >= next) {
            (void)be->disc_send(st, ++attempt, NULL);
            next = next * 2 + 250;
        }
        wait = (next < limit ? next : limit) - el;
        pfd.fd = be->disc_fd(st);
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (pfd.fd < 0)
            return 0;
        rc = poll(&pfd, 1, (int)(wait < 1 ? 1 : wait));
        if (rc < 0)
            return 0; /* EINTR: the caller sees its cancel flag */
        if (rc == 0)
            continue;
        rc = be->disc_recv(st, &pm->disc, NULL);
        if (rc == NP__DISC_GAVE_UP)
            return 0;
        if (rc != NP__DISC_ANSWERED)
            continue;
        if (be->disc_finish != NULL &&
            be->disc_finish(st, &pm->disc, NULL) != NP_OK)
            return 0;
        pm->answered[p] = 1;
        pm->disc.has[p] = 1;
        pm->disc.rtt_ms[p] = (int)(np__mono_ms() - t0);
        return 1;
    }
}

typedef int (*op_fn)(void *st, const np_pm_request *req, np_pm_result *res,
                     np_error *err);

static int run_op(np_portmap *pm, const np_pm_request *req, np_pm_result *res,
                  np_error *err, int which)
{
    enum np_pm_proto c[NP_PM_NPROTO];
    int n, i, rc = NP_OK, have = 0;
    np_pm_result first, r;

    if (pm == NULL || req == NULL || res == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    if (req->internal_port == 0 ||
        (req->transport != NP_PM_UDP && req->transport != NP_PM_TCP))
        return np_error_set(err, NP_EINVAL, NULL,
                            "a mapping needs a transport and a port");
    memset(res, 0, sizeof(*res));
    if (!pm->discovered) {
        rc = np_portmap_discover(pm, NULL, err);
        if (rc != NP_OK)
            return rc;
    }
    n = candidates(pm, c);
    if (n == 0)
        return np_error_set(err, NP_EUNSUPP, NULL,
                            "no port-mapping protocol answered");
    memset(&first, 0, sizeof(first));
    for (i = 0; i < n; i++) {
        const np__pm_backend *be = pm->be[c[i]];
        op_fn fn = which == 0 ? be->add : which == 1 ? be->get : be->del;

        memset(&r, 0, sizeof(r));
        rc = fn(pm->st[c[i]], req, &r, err);
        if (rc != NP_OK && rc != NP_ETIMEOUT)
            return rc;
        if (rc == NP_ETIMEOUT && r.outcome == NP_PM_OK)
            np__pm_result_set(&r, c[i], NP_PM_TIMEOUT, 0,
                              "no answer from the router");
        if (!have) {
            first = r;
            have = 1;
        }
        if (!fallback_worth(r.outcome))
            break;
        if (i == n - 1 && pm->only == NP_PM_NONE) {
            /* Every protocol that answered fell through: ask the silent
             * ones again, with their full wait this time. */
            int k;

            for (k = 0; k < NP_PM_NPROTO && n < NP_PM_NPROTO; k++) {
                enum np_pm_proto q = pm->ctx.opt.prefer[k];

                if (q == NP_PM_NONE)
                    break;
                if (late_discover(pm, q))
                    c[n++] = q;
            }
        }
    }
    /* Report the answer that settled it, or the first protocol's (most
     * preferred) when every one of them fell through. */
    *res = (i < n) ? r : first;
    if (which == 0 &&
        (res->outcome == NP_PM_OK || res->outcome == NP_PM_OTHER_PORT))
        remember(pm, req, res);
    if (res->outcome == NP_PM_TIMEOUT)
        return np_error_set(err, NP_ETIMEOUT, NULL, "%s", res->message);
    return NP_OK;
}

int np_portmap_add(np_portmap *pm, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    return run_op(pm, req, res, err, 0);
}

int np_portmap_get(np_portmap *pm, const np_pm_request *req, np_pm_result *res,
                   np_error *err)
{
    return run_op(pm, req, res, err, 1);
}

int np_portmap_delete(np_portmap *pm, const np_pm_request *req,
                      np_pm_result *res, np_error *err)
{
    return run_op(pm, req, res, err, 2);
}

int np_portmap_list(np_portmap *pm, np_pm_mapping **out, size_t *n,
                    np_error *err)
{
    enum np_pm_proto c[NP_PM_NPROTO];
    int k, i, rc;

    if (pm == NULL || out == NULL || n == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    *out = NULL;
    *n = 0;
    if (!pm->discovered) {
        rc = np_portmap_discover(pm, NULL, err);
        if (rc != NP_OK)
            return rc;
    }
    k = candidates(pm, c);
    for (i = 0; i < k; i++)
        if (pm->be[c[i]]->list != NULL)
            return pm->be[c[i]]->list(pm->st[c[i]], out, n, err);
    /* PCP / NAT-PMP: what this object made */
    if (pm->nmade == 0)
        return NP_OK;
    *out = malloc(pm->nmade * sizeof(**out));
    if (*out == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    memcpy(*out, pm->made, pm->nmade * sizeof(**out));
    *n = pm->nmade;
    return NP_OK;
}

int np_portmap_external_address(np_portmap *pm, np_addr *out, np_error *err)
{
    enum np_pm_proto c[NP_PM_NPROTO];
    int k, i, rc = NP_EUNSUPP;

    if (pm == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    memset(out, 0, sizeof(*out));
    if (!pm->discovered) {
        rc = np_portmap_discover(pm, NULL, err);
        if (rc != NP_OK)
            return rc;
    }
    k = candidates(pm, c);
    for (i = 0; i < k; i++) {
        rc = pm->be[c[i]]->external(pm->st[c[i]], out, err);
        if (rc == NP_OK)
            return NP_OK;
    }
    if (k == 0)
        return np_error_set(err, NP_EUNSUPP, NULL,
                            "no port-mapping protocol answered");
    return rc;
}
