/* natpilot: socket addresses (see include/natpilot/addr.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/addr.h"

int np_addr_family(const np_addr *a)
{
    if (a == NULL || a->len == 0)
        return AF_UNSPEC;
    return a->ss.ss_family;
}

int np_addr_is_set(const np_addr *a)
{
    return np_addr_family(a) != AF_UNSPEC;
}

void np_addr_from_ipv4(np_addr *out, const void *ip4, uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

    memset(out, 0, sizeof(*out));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    memcpy(&sin->sin_addr, ip4, 4);
    out->len = sizeof(*sin);
}

void np_addr_from_ipv6(np_addr *out, const void *ip6, uint16_t port)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

    memset(out, 0, sizeof(*out));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    memcpy(&sin6->sin6_addr, ip6, 16);
    out->len = sizeof(*sin6);
}

void np_addr_from_sockaddr(np_addr *out, const struct sockaddr *sa,
                           socklen_t len)
{
    memset(out, 0, sizeof(*out));
    if (sa == NULL || len == 0 || len > sizeof(out->ss))
        return;
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
        return;
    memcpy(&out->ss, sa, len);
    out->len = len;
}

uint16_t np_addr_port(const np_addr *a)
{
    switch (np_addr_family(a)) {
    case AF_INET:
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    case AF_INET6:
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    default:
        return 0;
    }
}

void np_addr_set_port(np_addr *a, uint16_t port)
{
    switch (np_addr_family(a)) {
    case AF_INET:
        ((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
        break;
    case AF_INET6:
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
        break;
    default:
        break;
    }
}

const char *np_addr_ip_str(const np_addr *a, char *buf, size_t size)
{
    const void *src;
    int fam = np_addr_family(a);

    if (size == 0)
        return buf;
    if (fam == AF_INET)
        src = &((const struct sockaddr_in *)&a->ss)->sin_addr;
    else if (fam == AF_INET6)
        src = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
    else {
        snprintf(buf, size, "-");
        return buf;
    }
    if (inet_ntop(fam, src, buf, (socklen_t)size) == NULL)
        snprintf(buf, size, "?");
    return buf;
}

const char *np_addr_str(const np_addr *a, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (size == 0)
        return buf;
    switch (np_addr_family(a)) {
    case AF_INET:
        snprintf(buf, size, "%s:%u", np_addr_ip_str(a, ip, sizeof(ip)),
                 (unsigned)np_addr_port(a));
        break;
    case AF_INET6:
        snprintf(buf, size, "[%s]:%u", np_addr_ip_str(a, ip, sizeof(ip)),
                 (unsigned)np_addr_port(a));
        break;
    default:
        snprintf(buf, size, "-");
        break;
    }
    return buf;
}

int np_addr_same_ip(const np_addr *a, const np_addr *b)
{
    int fam = np_addr_family(a);

    if (fam != np_addr_family(b))
        return 0;
    if (fam == AF_INET)
        return memcmp(&((const struct sockaddr_in *)&a->ss)->sin_addr,
                      &((const struct sockaddr_in *)&b->ss)->sin_addr, 4) == 0;
    if (fam == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr,
                      16) == 0;
    return 1; /* both empty */
}

int np_addr_equal(const np_addr *a, const np_addr *b)
{
    return np_addr_same_ip(a, b) && np_addr_port(a) == np_addr_port(b);
}

/* Parse the decimal port in text (1..65535) into *port. */
static int parse_port(const char *text, uint16_t *port)
{
    unsigned long v = 0;
    const char *p = text;

    if (*p == '\0')
        return -1;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/*
 * Split "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal into
 * host and port. Returns 0, or -1 when the text has no valid shape.
 */
static int split_host_port(const char *text, char *host, size_t hostsize,
                           uint16_t *port)
{
    const char *colon;
    size_t n;

    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL)
            return -1;
        n = (size_t)(end - text - 1);
        if (n == 0 || n >= hostsize)
            return -1;
        memcpy(host, text + 1, n);
        host[n] = '\0';
        if (end[1] == '\0')
            return 0;
        if (end[1] != ':')
            return -1;
        return parse_port(end + 2, port);
    }
    colon = strchr(text, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL) {
        /* Two colons: a bare IPv6 literal, no port. */
        n = strlen(text);
        if (n >= hostsize)
            return -1;
        memcpy(host, text, n + 1);
        return 0;
    }
    n = colon ? (size_t)(colon - text) : strlen(text);
    if (n == 0 || n >= hostsize)
        return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    return colon ? parse_port(colon + 1, port) : 0;
}

int np_addr_parse(np_addr *out, const char *text, uint16_t default_port,
                  np_error *err)
{
    char host[256];
    uint16_t port = default_port;
    unsigned char buf[16];

    memset(out, 0, sizeof(*out));
    if (text == NULL || split_host_port(text, host, sizeof(host), &port) != 0)
        return np_error_set(err, NP_EPARSE, text,
                            "not an address: expected IP, IP:PORT or "
                            "[IPv6]:PORT with a port from 1 to 65535");
    if (inet_pton(AF_INET, host, buf) == 1) {
        np_addr_from_ipv4(out, buf, port);
        return NP_OK;
    }
    if (inet_pton(AF_INET6, host, buf) == 1) {
        np_addr_from_ipv6(out, buf, port);
        return NP_OK;
    }
    return np_error_set(err, NP_EPARSE, text, "'%s' is not an IP address",
                        host);
}

int np_addr_resolve(np_addr *out, const char *text, uint16_t default_port,
                    int family, np_error *err)
{
    char host[256];
    uint16_t port = default_port;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (np_addr_parse(out, text, default_port, NULL) == NP_OK &&
        (family == AF_UNSPEC || np_addr_family(out) == family))
        return NP_OK;
    memset(out, 0, sizeof(*out));
    if (text == NULL || split_host_port(text, host, sizeof(host), &port) != 0)
        return np_error_set(err, NP_EPARSE, text,
                            "not an address: expected HOST or HOST:PORT");
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL)
        return np_error_set(err, rc == EAI_AGAIN ? NP_EUNREACH : NP_ENOTFOUND,
                            text, "cannot resolve '%s': %s", host,
                            gai_strerror(rc));
    np_addr_from_sockaddr(out, res->ai_addr, res->ai_addrlen);
    np_addr_set_port(out, port);
    freeaddrinfo(res);
    return NP_OK;
}

struct prefix4 {
    uint32_t net;
    unsigned bits;
    enum np_addr_scope scope;
};

static const struct prefix4 reserved4[] = {
    {0x0A000000u, 8, NP_SCOPE_PRIVATE},         /* 10/8 */
    {0xAC100000u, 12, NP_SCOPE_PRIVATE},        /* 172.16/12 */
    {0xC0A80000u, 16, NP_SCOPE_PRIVATE},        /* 192.168/16 */
    {0x64400000u, 10, NP_SCOPE_SHARED},         /* 100.64/10 */
    {0x7F000000u, 8, NP_SCOPE_LOOPBACK},        /* 127/8 */
    {0xA9FE0000u, 16, NP_SCOPE_LINK_LOCAL},     /* 169.254/16 */
    {0xC0000200u, 24, NP_SCOPE_DOCUMENTATION},  /* 192.0.2/24 */
    {0xC6336400u, 24, NP_SCOPE_DOCUMENTATION},  /* 198.51.100/24 */
    {0xCB007100u, 24, NP_SCOPE_DOCUMENTATION},  /* 203.0.113/24 */
    {0x00000000u, 8, NP_SCOPE_OTHER_RESERVED},  /* 0/8 */
    {0xC0000000u, 24, NP_SCOPE_OTHER_RESERVED}, /* 192.0.0/24 */
    {0xC6120000u, 15, NP_SCOPE_OTHER_RESERVED}, /* 198.18/15 */
    {0xE0000000u, 3, NP_SCOPE_OTHER_RESERVED},  /* 224/4 and 240/4 */
};

enum np_addr_scope np_addr_scope(const np_addr *a)
{
    size_t i;

    if (np_addr_family(a) == AF_INET) {
        uint32_t ip =
            ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr);
        for (i = 0; i < sizeof(reserved4) / sizeof(reserved4[0]); i++) {
            uint32_t mask = 0xFFFFFFFFu << (32 - reserved4[i].bits);
            if ((ip & mask) == reserved4[i].net)
                return reserved4[i].scope;
        }
        return NP_SCOPE_PUBLIC;
    }
    if (np_addr_family(a) == AF_INET6) {
        const uint8_t *b =
            ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
        static const uint8_t loop[16] = {[15] = 1}, unspec[16];
        if (memcmp(b, loop, 16) == 0)
            return NP_SCOPE_LOOPBACK;
        if (memcmp(b, unspec, 16) == 0) /* "::", as 0.0.0.0 for IPv4 */
            return NP_SCOPE_OTHER_RESERVED;
        if ((b[0] & 0xFE) == 0xFC)
            return NP_SCOPE_PRIVATE;
        if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80)
            return NP_SCOPE_LINK_LOCAL;
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8)
            return NP_SCOPE_DOCUMENTATION;
        if (b[0] == 0xFF)
            return NP_SCOPE_OTHER_RESERVED;
        return NP_SCOPE_PUBLIC;
    }
    return NP_SCOPE_OTHER_RESERVED;
}

const char *np_addr_scope_name(enum np_addr_scope scope)
{
    switch (scope) {
    case NP_SCOPE_PUBLIC:
        return "public";
    case NP_SCOPE_PRIVATE:
        return "private";
    case NP_SCOPE_SHARED:
        return "shared (carrier-grade NAT)";
    case NP_SCOPE_LOOPBACK:
        return "loopback";
    case NP_SCOPE_LINK_LOCAL:
        return "link-local";
    case NP_SCOPE_DOCUMENTATION:
        return "documentation";
    case NP_SCOPE_OTHER_RESERVED:
        return "reserved";
    }
    return "reserved";
}
