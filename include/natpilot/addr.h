/*
 * natpilot: socket addresses (IPv4 and IPv6, with port).
 *
 * np_addr is a plain value: copy it freely, it owns nothing. A zeroed np_addr
 * (family AF_UNSPEC) means "no address".
 */
#ifndef NATPILOT_ADDR_H
#define NATPILOT_ADDR_H

#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct np_addr {
    struct sockaddr_storage ss;
    socklen_t len; /* 0 when empty */
} np_addr;

/* Longest text np_addr_str() writes: "[v6%scope]:65535" plus NUL. */
#define NP_ADDRSTRLEN 72

/* AF_INET, AF_INET6, or AF_UNSPEC for an empty address. */
int np_addr_family(const np_addr *a);
int np_addr_is_set(const np_addr *a);

/*
 * Parse a numeric address: "198.51.100.1", "198.51.100.1:3478", "::1",
 * "[2001:db8::1]:3478". default_port is used when none is given. Names are
 * not resolved here (see np_addr_resolve). NP_EPARSE with the text in where.
 */
int np_addr_parse(np_addr *out, const char *text, uint16_t default_port,
                  np_error *err);

/*
 * As np_addr_parse, but a host name is resolved with getaddrinfo() (which may
 * block). family is AF_UNSPEC, AF_INET or AF_INET6. "host:port" and
 * "[v6]:port" are accepted.
 */
int np_addr_resolve(np_addr *out, const char *text, uint16_t default_port,
                    int family, np_error *err);

/* Build from an IPv4 address in network byte order / 16 bytes of IPv6. */
void np_addr_from_ipv4(np_addr *out, const void *ip4, uint16_t port);
void np_addr_from_ipv6(np_addr *out, const void *ip6, uint16_t port);
void np_addr_from_sockaddr(np_addr *out, const struct sockaddr *sa,
                           socklen_t len);

uint16_t np_addr_port(const np_addr *a);
void np_addr_set_port(np_addr *a, uint16_t port);

/* "198.51.100.1:3478" / "[2001:db8::1]:3478"; "-" for an empty address. */
const char *np_addr_str(const np_addr *a, char *buf, size_t size);
/* The address without the port: "198.51.100.1" / "2001:db8::1". */
const char *np_addr_ip_str(const np_addr *a, char *buf, size_t size);

/* 1 if same family, address and port; np_addr_same_ip ignores the port. */
int np_addr_equal(const np_addr *a, const np_addr *b);
int np_addr_same_ip(const np_addr *a, const np_addr *b);

/*
 * Classes of addresses that are not globally routable, used to *hint* at
 * double NAT (never as proof: see DESIGN.md).
 */
enum np_addr_scope {
    NP_SCOPE_PUBLIC = 0,
    NP_SCOPE_PRIVATE, /* RFC 1918, fc00::/7 */
    NP_SCOPE_SHARED,  /* 100.64.0.0/10, RFC 6598 carrier-grade NAT */
    NP_SCOPE_LOOPBACK,
    NP_SCOPE_LINK_LOCAL,
    NP_SCOPE_DOCUMENTATION, /* RFC 5737, 2001:db8::/32 */
    NP_SCOPE_OTHER_RESERVED /* 0/8, 198.18/15, 240/4, multicast, ... */
};
enum np_addr_scope np_addr_scope(const np_addr *a);
const char *np_addr_scope_name(enum np_addr_scope scope);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_ADDR_H */
