/*
 * natpilot: what this host knows about its network: local addresses, the
 * default gateway, the source address used towards a destination, and the
 * neighbour (ARP) table.
 *
 * The parse functions take the text of the /proc files so that they can be
 * tested without a network; the other functions read the live system.
 * Arrays returned through `out` are owned by the caller and released with
 * free() (plain arrays of plain values); *out is NULL and *n 0 on error.
 */
#ifndef NATPILOT_NETINFO_H
#define NATPILOT_NETINFO_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One address of a local interface (port 0). */
typedef struct np_netif_addr {
    char ifname[IF_NAMESIZE];
    np_addr addr;
    unsigned prefix_len; /* from the netmask; 0 when unknown */
    int is_up;           /* IFF_UP and IFF_RUNNING */
    int is_loopback;     /* IFF_LOOPBACK */
} np_netif_addr;

/* Every IPv4/IPv6 address of every interface (getifaddrs). */
int np_netinfo_local_addrs(np_netif_addr **out, size_t *n, np_error *err);

/* A default route: the gateway (port 0) and the interface it is reached by. */
typedef struct np_gateway {
    np_addr addr;
    char ifname[IF_NAMESIZE];
    uint32_t metric;
} np_gateway;

/*
 * Parse the text of /proc/net/route (len bytes, need not be terminated) and
 * return the IPv4 default route with the lowest metric. NP_ENOTFOUND when
 * there is none, NP_EPARSE (where: "line N") on malformed text.
 */
int np_netinfo_parse_route(const char *text, size_t len, np_gateway *out,
                           np_error *err);

/* The live IPv4 default gateway (reads /proc/net/route). */
int np_netinfo_default_gateway(np_gateway *out, np_error *err);

/*
 * Parse the text of /proc/net/ipv6_route and return the IPv6 default route
 * (::/0, up, not a reject route, not on lo) with the lowest metric; its
 * address is the next hop (often link-local; :: for an on-link route).
 * NP_ENOTFOUND when there is none, NP_EPARSE (where: "line N").
 */
int np_netinfo_parse_route6(const char *text, size_t len, np_gateway *out,
                            np_error *err);

/* The live IPv6 default route (NP_ENOTFOUND without one or without IPv6). */
int np_netinfo_default_gateway6(np_gateway *out, np_error *err);

/* 1 when a is an IPv6 global unicast address (2000::/3). */
int np_netinfo_is_global6(const np_addr *a);

/* The first global IPv6 address of an up, non-loopback interface;
 * NP_ENOTFOUND when there is none. */
int np_netinfo_global6(np_netif_addr *out, np_error *err);

/*
 * The local address the kernel would use as source towards dest (a
 * connected UDP socket and getsockname; no packet is sent). Port 0.
 */
int np_netinfo_source_for(const np_addr *dest, np_addr *src, np_error *err);

/* One entry of the neighbour table. */
typedef struct np_neighbour {
    np_addr ip;
    uint8_t mac[6];
    int complete; /* 1 when the MAC address is known (ATF_COM) */
    char ifname[IF_NAMESIZE];
} np_neighbour;

/*
 * Parse the text of /proc/net/arp. Incomplete entries are returned with
 * complete = 0. NP_EPARSE (where: "line N") on a malformed line.
 */
int np_netinfo_parse_arp(const char *text, size_t len, np_neighbour **out,
                         size_t *n, np_error *err);

/* The live IPv4 neighbour table (reads /proc/net/arp). */
int np_netinfo_neighbours(np_neighbour **out, size_t *n, np_error *err);

/*
 * The IPv6 neighbour table (rtnetlink RTM_GETNEIGH dump; netinfo6.c).
 * Entries without a link-layer address have complete = 0.
 */
int np_netinfo_neighbours6(np_neighbour **out, size_t *n, np_error *err);

/*
 * Parse one buffer of an RTM_GETNEIGH dump (len bytes): IPv6 entries are
 * appended to *arr (*n used, *cap allocated; grown with realloc), *done set
 * at NLMSG_DONE. NP_EPARSE on a truncated message or attribute.
 */
int np_netinfo_parse_neigh6(const void *buf, size_t len, np_neighbour **arr,
                            size_t *n, size_t *cap, int *done, np_error *err);

/*
 * The same device's global IPv6 address: the MAC address of ipv4 in the
 * IPv4 neighbour table, then an IPv6 neighbour with that MAC address (mac
 * may be NULL). NP_ENOTFOUND when either is missing.
 */
int np_netinfo_ipv6_of(const np_addr *ipv4, np_addr *out, uint8_t mac[6],
                       np_error *err);

/* "02:00:00:00:00:14" into buf (at least 18 bytes); returns buf. */
const char *np_netinfo_mac_str(const uint8_t mac[6], char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_NETINFO_H */
