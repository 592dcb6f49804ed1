/* natpilot: local network facts (see include/natpilot/netinfo.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "np_hex.h"
#include "natpilot/netinfo.h"
#include "np_util.h"

#define NETINFO_FILE_MAX (1024 * 1024) /* cap for /proc files */
#define NETINFO_FIELDS   16
#define NETINFO_FIELD    64

/* Split one line into whitespace-separated fields (copied, truncated). */
struct fields {
    int n;
    char f[NETINFO_FIELDS][NETINFO_FIELD];
};

static void split_fields(const char *line, size_t len, struct fields *out)
{
    size_t i = 0;

    out->n = 0;
    while (i < len && out->n < NETINFO_FIELDS) {
        size_t start, flen;

        while (i < len &&
               (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i >= len)
            break;
        start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            i++;
        flen = i - start;
        if (flen >= NETINFO_FIELD)
            flen = NETINFO_FIELD - 1;
        memcpy(out->f[out->n], line + start, flen);
        out->f[out->n][flen] = '\0';
        out->n++;
    }
}

/* Copy a string, truncating to size - 1 bytes. */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Parse a hexadecimal field of at most 8 digits. */
static int parse_hex32(const char *s, uint32_t *v)
{
    uint32_t r = 0;
    size_t i, n = strlen(s);

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        n -= 2;
    }
    if (n == 0 || n > 8)
        return NP_EPARSE;
    for (i = 0; i < n; i++) {
        int d = np__hex_digit(s[i]);

        if (d < 0)
            return NP_EPARSE;
        r = r << 4 | (uint32_t)d;
    }
    *v = r;
    return NP_OK;
}

/* Iterate over lines: returns 1 with [*line, *line_len) while lines remain. */
static int next_line(const char *text, size_t len, size_t *pos,
                     const char **line, size_t *line_len)
{
    size_t start = *pos, i = *pos;

    if (start >= len)
        return 0;
    while (i < len && text[i] != '\n')
        i++;
    *line = text + start;
    *line_len = i - start;
    *pos = i < len ? i + 1 : i;
    return 1;
}

#define RTF_UP_      0x0001
#define RTF_GATEWAY_ 0x0002

int np_netinfo_parse_route(const char *text, size_t len, np_gateway *out,
                           np_error *err)
{
    size_t pos = 0, line_len;
    const char *line;
    unsigned lineno = 0;
    int found = 0;
    struct fields fl;

    if (text == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no route text");
    memset(out, 0, sizeof(*out));
    while (next_line(text, len, &pos, &line, &line_len)) {
        uint32_t dest, gw, flags, metric, mask;
        char where[32];

        lineno++;
        split_fields(line, line_len, &fl);
        if (fl.n == 0)
            continue;
        if (lineno == 1 && strcmp(fl.f[0], "Iface") == 0)
            continue;
        snprintf(where, sizeof(where), "line %u", lineno);
        if (fl.n < 8 || parse_hex32(fl.f[1], &dest) != NP_OK ||
            parse_hex32(fl.f[2], &gw) != NP_OK ||
            parse_hex32(fl.f[3], &flags) != NP_OK ||
            np__parse_u32(fl.f[6], UINT32_MAX, &metric) != NP_OK ||
            parse_hex32(fl.f[7], &mask) != NP_OK)
            return np_error_set(err, NP_EPARSE, where,
                                "malformed route line (expected Iface, "
                                "Destination, Gateway, Flags, ..., Mask)");
        if (dest != 0 || mask != 0 || (flags & RTF_UP_) == 0 ||
            (flags & RTF_GATEWAY_) == 0 || gw == 0)
            continue;
        if (found && metric >= out->metric)
            continue;
        /* The kernel prints the address as a native-endian integer of the
         * network-order bytes: copying its memory back gives them again. */
        np_addr_from_ipv4(&out->addr, &gw, 0);
        copy_str(out->ifname, sizeof(out->ifname), fl.f[0]);
        out->metric = metric;
        found = 1;
    }
    if (!found)
        return np_error_set(err, NP_ENOTFOUND, NULL, "no IPv4 default route");
    return NP_OK;
}

typedef int (*route_parser)(const char *text, size_t len, np_gateway *out,
                            np_error *err);

/*
 * Read a /proc route table and parse it; a parse error's place is prefixed
 * with the file. absent: when not NULL, a file that cannot be read means
 * NP_ENOTFOUND with this message (a kernel without IPv6 has no
 * /proc/net/ipv6_route).
 */
static int route_from(const char *path, route_parser parse, const char *absent,
                      np_gateway *out, np_error *err)
{
    char *text;
    size_t len;
    int rc;

    if (out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no output");
    rc = np__file_load(path, NETINFO_FILE_MAX, &text, &len, err);
    if (rc != NP_OK) {
        if (absent != NULL && (rc == NP_ESYS || rc == NP_ENOTFOUND))
            return np_error_set(err, NP_ENOTFOUND, path, "%s", absent);
        return rc;
    }
    rc = parse(text, len, out, err);
    if (rc == NP_EPARSE && err != NULL) {
        char where[NP_ERROR_WHERE_MAX];

        copy_str(where, sizeof(where), err->where);
        snprintf(err->where, sizeof(err->where), "%s %.200s", path, where);
    }
    free(text);
    return rc;
}

int np_netinfo_default_gateway(np_gateway *out, np_error *err)
{
    return route_from("/proc/net/route", np_netinfo_parse_route, NULL, out,
                      err);
}

/* --- IPv6 (/proc/net/ipv6_route, global addresses) --- */

#define RTF_REJECT_ 0x0200

int np_netinfo_parse_route6(const char *text, size_t len, np_gateway *out,
                            np_error *err)
{
    size_t pos = 0, line_len;
    const char *line;
    unsigned lineno = 0;
    int found = 0;
    struct fields fl;

    if (text == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no route text");
    memset(out, 0, sizeof(*out));
    while (next_line(text, len, &pos, &line, &line_len)) {
        uint8_t dest[16], gw[16];
        uint32_t dplen, metric, flags;
        char where[32];

        lineno++;
        split_fields(line, line_len, &fl);
        if (fl.n == 0)
            continue;
        snprintf(where, sizeof(where), "line %u", lineno);
        /* dest plen src plen next-hop metric refcnt use flags ifname */
        if (fl.n < 10 || np__hex_decode(dest, 16, fl.f[0]) != 0 ||
            parse_hex32(fl.f[1], &dplen) != NP_OK ||
            np__hex_decode(gw, 16, fl.f[4]) != 0 ||
            parse_hex32(fl.f[5], &metric) != NP_OK ||
            parse_hex32(fl.f[8], &flags) != NP_OK)
            return np_error_set(err, NP_EPARSE, where,
                                "malformed IPv6 route line (expected "
                                "destination, length, source, length, "
                                "next hop, metric, ..., flags, device)");
        if (dplen != 0 || (flags & RTF_UP_) == 0 || (flags & RTF_REJECT_) ||
            strcmp(fl.f[9], "lo") == 0)
            continue;
        if (found && metric >= out->metric)
            continue;
        /* An all-zero next hop: the route is on-link (point to point). */
        np_addr_from_ipv6(&out->addr, gw, 0);
        copy_str(out->ifname, sizeof(out->ifname), fl.f[9]);
        out->metric = metric;
        found = 1;
    }
    if (!found)
        return np_error_set(err, NP_ENOTFOUND, NULL, "no IPv6 default route");
    return NP_OK;
}

int np_netinfo_default_gateway6(np_gateway *out, np_error *err)
{
    return route_from("/proc/net/ipv6_route", np_netinfo_parse_route6,
                      "IPv6 is not available on this host", out, err);
}

int np_netinfo_is_global6(const np_addr *a)
{
    const struct sockaddr_in6 *s6;

    if (a == NULL || np_addr_family(a) != AF_INET6)
        return 0;
    s6 = (const struct sockaddr_in6 *)&a->ss;
    /* Global unicast is 2000::/3 (RFC 4291 section 2.4, RFC 3587); ULA,
     * link-local, loopback, multicast and mapped addresses are not. */
    return (s6->sin6_addr.s6_addr[0] & 0xe0) == 0x20;
}

int np_netinfo_global6(np_netif_addr *out, np_error *err)
{
    np_netif_addr *all = NULL;
    size_t n = 0, i;
    int rc;

    if (out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no output");
    memset(out, 0, sizeof(*out));
    rc = np_netinfo_local_addrs(&all, &n, err);
    if (rc != NP_OK)
        return rc;
    rc = NP_ENOTFOUND;
    for (i = 0; i < n; i++)
        if (all[i].is_up && !all[i].is_loopback &&
            np_netinfo_is_global6(&all[i].addr)) {
            *out = all[i];
            rc = NP_OK;
            break;
        }
    free(all);
    if (rc != NP_OK)
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "no global IPv6 address on any interface");
    return NP_OK;
}

int np_netinfo_source_for(const np_addr *dest, np_addr *src, np_error *err)
{
    int fd;
    np_addr d;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char buf[NP_ADDRSTRLEN];

    if (dest == NULL || src == NULL || !np_addr_is_set(dest))
        return np_error_set(err, NP_EINVAL, NULL, "no destination");
    memset(src, 0, sizeof(*src));
    d = *dest;
    if (np_addr_port(&d) == 0)
        np_addr_set_port(&d, 9); /* connect() needs some port */
    fd = socket(np_addr_family(&d), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return np_error_sys(err, errno, NULL, "socket");
    if (connect(fd, (const struct sockaddr *)&d.ss, d.len) != 0) {
        int e = errno;

        close(fd);
        snprintf(buf, sizeof(buf), "peer ");
        np_addr_ip_str(dest, buf + 5, sizeof(buf) - 5);
        if (e == ENETUNREACH || e == EHOSTUNREACH)
            return np_error_set(err, NP_EUNREACH, buf,
                                "no route to this address");
        return np_error_sys(err, e, buf, "connect");
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        int e = errno;

        close(fd);
        return np_error_sys(err, e, NULL, "getsockname");
    }
    close(fd);
    np_addr_from_sockaddr(src, (const struct sockaddr *)&ss, sl);
    np_addr_set_port(src, 0);
    return NP_OK;
}

static unsigned prefix_of(const struct sockaddr *mask)
{
    const uint8_t *b;
    size_t n, i;
    unsigned bits = 0;

    if (mask == NULL)
        return 0;
    if (mask->sa_family == AF_INET) {
        b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)mask)
                ->sin_addr;
        n = 4;
    } else if (mask->sa_family == AF_INET6) {
        b = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)mask)
                ->sin6_addr;
        n = 16;
    } else {
        return 0;
    }
    for (i = 0; i < n; i++) {
        uint8_t v = b[i];

        while (v & 0x80) {
            bits++;
            v = (uint8_t)(v << 1);
        }
        if (b[i] != 0xff)
            break;
    }
    return bits;
}

int np_netinfo_local_addrs(np_netif_addr **out, size_t *n, np_error *err)
{
    struct ifaddrs *ifa, *p;
    size_t count = 0, i = 0;
    np_netif_addr *arr;

    if (out == NULL || n == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no output");
    *out = NULL;
    *n = 0;
    if (getifaddrs(&ifa) != 0)
        return np_error_sys(err, errno, NULL, "getifaddrs");
    for (p = ifa; p != NULL; p = p->ifa_next)
        if (p->ifa_addr != NULL && (p->ifa_addr->sa_family == AF_INET ||
                                    p->ifa_addr->sa_family == AF_INET6))
            count++;
    if (count == 0) {
        freeifaddrs(ifa);
        return NP_OK;
    }
    arr = calloc(count, sizeof(*arr));
    if (arr == NULL) {
        freeifaddrs(ifa);
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    }
    for (p = ifa; p != NULL && i < count; p = p->ifa_next) {
        socklen_t sl;

        if (p->ifa_addr == NULL)
            continue;
        if (p->ifa_addr->sa_family == AF_INET)
            sl = sizeof(struct sockaddr_in);
        else if (p->ifa_addr->sa_family == AF_INET6)
            sl = sizeof(struct sockaddr_in6);
        else
            continue;
        snprintf(arr[i].ifname, sizeof(arr[i].ifname), "%s", p->ifa_name);
        np_addr_from_sockaddr(&arr[i].addr, p->ifa_addr, sl);
        arr[i].prefix_len = prefix_of(p->ifa_netmask);
        arr[i].is_up =
            (p->ifa_flags & IFF_UP) != 0 && (p->ifa_flags & IFF_RUNNING) != 0;
        arr[i].is_loopback = (p->ifa_flags & IFF_LOOPBACK) != 0;
        i++;
    }
    freeifaddrs(ifa);
    *out = arr;
    *n = i;
    return NP_OK;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    int i;

    if (strlen(s) != 17)
        return NP_EPARSE;
    for (i = 0; i < 6; i++) {
        char h[3];
        uint32_t v;

        if (i < 5 && s[i * 3 + 2] != ':')
            return NP_EPARSE;
        h[0] = s[i * 3];
        h[1] = s[i * 3 + 1];
        h[2] = '\0';
        if (parse_hex32(h, &v) != NP_OK)
            return NP_EPARSE;
        mac[i] = (uint8_t)v;
    }
    return NP_OK;
}

#define ATF_COM_ 0x02

int np_netinfo_parse_arp(const char *text, size_t len, np_neighbour **out,
                         size_t *n, np_error *err)
{
    size_t pos = 0, line_len, cap = 0, count = 0;
    const char *line;
    unsigned lineno = 0;
    np_neighbour *arr = NULL;
    struct fields fl;

    if (text == NULL || out == NULL || n == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no arp text");
    *out = NULL;
    *n = 0;
    while (next_line(text, len, &pos, &line, &line_len)) {
        np_neighbour e;
        uint32_t flags;
        struct in_addr ia;
        char where[32];

        lineno++;
        split_fields(line, line_len, &fl);
        if (fl.n == 0)
            continue;
        if (lineno == 1 && strcmp(fl.f[0], "IP") == 0)
            continue;
        snprintf(where, sizeof(where), "line %u", lineno);
        memset(&e, 0, sizeof(e));
        if (fl.n < 6 || inet_pton(AF_INET, fl.f[0], &ia) != 1 ||
            parse_hex32(fl.f[2], &flags) != NP_OK) {
            free(arr);
            return np_error_set(err, NP_EPARSE, where,
                                "malformed neighbour line (expected IP "
                                "address, HW type, Flags, HW address, Mask, "
                                "Device)");
        }
        np_addr_from_ipv4(&e.ip, &ia, 0);
        if ((flags & ATF_COM_) != 0) {
            if (parse_mac(fl.f[3], e.mac) != NP_OK) {
                free(arr);
                return np_error_set(err, NP_EPARSE, where,
                                    "malformed hardware address '%s'", fl.f[3]);
            }
            e.complete = 1;
        }
        copy_str(e.ifname, sizeof(e.ifname), fl.f[5]);
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            np_neighbour *na;

            if (ncap > 65536) {
                free(arr);
                return np_error_set(err, NP_ENOMEM, where,
                                    "too many neighbours");
            }
            na = realloc(arr, ncap * sizeof(*arr));
            if (na == NULL) {
                free(arr);
                return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
            }
            arr = na;
            cap = ncap;
        }
        arr[count++] = e;
    }
    *out = arr;
    *n = count;
    return NP_OK;
}

int np_netinfo_neighbours(np_neighbour **out, size_t *n, np_error *err)
{
    char *text;
    size_t len;
    int rc;

    if (out == NULL || n == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no output");
    *out = NULL;
    *n = 0;
    rc = np__file_load("/proc/net/arp", NETINFO_FILE_MAX, &text, &len, err);
    if (rc != NP_OK)
        return rc;
    rc = np_netinfo_parse_arp(text, len, out, n, err);
    free(text);
    return rc;
}

const char *np_netinfo_mac_str(const uint8_t mac[6], char *buf, size_t size)
{
    if (size == 0)
        return buf;
    snprintf(buf, size, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
             mac[3], mac[4], mac[5]);
    return buf;
}
