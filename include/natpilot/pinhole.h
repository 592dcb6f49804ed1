/*
 * natpilot: IPv6 pinholes in the router's firewall, through UPnP IGDv2
 * (WANIPv6FirewallControl: GetFirewallStatus, AddPinhole, UpdatePinhole,
 * DeletePinhole, CheckPinholeWorking; through miniupnpc) or PCP over IPv6
 * (RFC 6887 MAP with an IPv6 internal address: the server opens its
 * firewall, section 1 and 11).
 *
 * IPv6 has no NAT at home: a pinhole lets inbound traffic to one port of
 * one IPv6 address through the router's stateful firewall. The external
 * port is the internal one. Leases, renewal and removal follow the IPv4
 * mappings' rules (portmap.h); results use the same outcome words.
 *
 * Usage: np_pinhole_new() with options, np_pinhole_discover() (PCP over
 * IPv6 to the IPv6 gateway and SSDP over IPv6 at once), then add / update
 * / check / delete. Return codes are transport-level only; what the router
 * said travels in np_ph_result (as in portmap.h).
 *
 * Ownership: np_pinhole is the caller's (np_pinhole_free accepts NULL).
 */
#ifndef NATPILOT_PINHOLE_H
#define NATPILOT_PINHOLE_H

#include <net/if.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"
#include "natpilot/ipv6.h"
#include "natpilot/portmap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct np_ph_options {
    np_addr gateway;          /* PCP server; empty: IPv6 default route */
    char ifname[IF_NAMESIZE]; /* for SSDP and a link-local gateway; empty:
                                 the default route's interface */
    np_addr local;            /* this host's IPv6 address; empty: the
                                 source address towards the gateway */
    int ssdp_ms;              /* SSDP over IPv6 wait; 0: 1000 */
    int timeout_ms;           /* PCP per request; 0: 1000 */
    int no_upnp;              /* do not use UPnP */
    int no_pcp;               /* do not use PCP */
    uint16_t pcp_port;        /* 0: 5351 (tests only) */
} np_ph_options;

#define NP_PH_UID_MAX 16

/* A pinhole to make, renew, check or remove. */
typedef struct np_ph_request {
    int transport;     /* NP_PM_UDP or NP_PM_TCP */
    np_addr internal;  /* IPv6 address and port; address empty: this host */
    uint32_t lifetime; /* seconds (1 to 86400 for UPnP) */
    /* From the add result, for update / check / delete: */
    enum np_pm_proto proto;  /* NP_PM_NONE on add: by preference */
    char uid[NP_PH_UID_MAX]; /* UPnP UniqueID */
    uint8_t nonce[12];       /* PCP mapping nonce; zero on add: random */
} np_ph_request;

typedef struct np_ph_result {
    enum np_pm_outcome outcome; /* NP_PM_OK, NP_PM_POLICY (firewall control
                                   disabled, inbound pinholes not allowed),
                                   NP_PM_THIRD_PARTY (for another host),
                                   NP_PM_NOT_FOUND, NP_PM_TIMEOUT,
                                   NP_PM_UNSUPPORTED, NP_PM_FAILED */
    enum np_pm_proto proto;
    int code; /* UPnP error or PCP result; 0 ok */
    char message[NP_PM_MSG_MAX];
    np_addr internal; /* the pinholed address and port */
    uint32_t lifetime;
    char uid[NP_PH_UID_MAX];
    uint8_t nonce[12];
    int working; /* check: 1 working, 0 not (yet) used, -1 unknown */
} np_ph_result;

typedef struct np_pinhole np_pinhole;

np_pinhole *np_pinhole_new(const np_ph_options *opt, np_error *err);
void np_pinhole_free(np_pinhole *ph);

/*
 * Ask the IPv6 gateway what it supports: PCP ANNOUNCE over IPv6 and SSDP
 * over IPv6 for an IGD with WANIPv6FirewallControl (then its
 * GetFirewallStatus), at once. NP_OK whatever was found (out says);
 * NP_EUNREACH without an IPv6 default route or address.
 */
int np_pinhole_discover(np_pinhole *ph, np_v6_pinholes *out, np_error *err);

/* This host's IPv6 address as used towards the gateway (after discover). */
const np_addr *np_pinhole_local(const np_pinhole *ph);

int np_pinhole_add(np_pinhole *ph, const np_ph_request *req, np_ph_result *res,
                   np_error *err);
/* Renew (UPnP UpdatePinhole; PCP: the MAP again with its nonce). */
int np_pinhole_update(np_pinhole *ph, const np_ph_request *req,
                      np_ph_result *res, np_error *err);
/* UPnP CheckPinholeWorking (PCP: NP_PM_UNSUPPORTED). */
int np_pinhole_check(np_pinhole *ph, const np_ph_request *req,
                     np_ph_result *res, np_error *err);
int np_pinhole_delete(np_pinhole *ph, const np_ph_request *req,
                      np_ph_result *res, np_error *err);

/* --- the pinhole store: what natpilot opened, to renew and remove --- */

typedef struct np_ph_entry {
    enum np_pm_proto proto;
    int transport;
    np_addr internal; /* address and port */
    np_addr gateway;  /* the router asked (PCP) */
    char uid[NP_PH_UID_MAX];
    uint8_t nonce[12];
    uint32_t lifetime;
    int64_t expires; /* Unix seconds */
} np_ph_entry;

typedef struct np_ph_store {
    np_ph_entry *e; /* owned; np_ph_store_free */
    size_t n, cap;
} np_ph_store;

/* Load (a missing file is an empty store) and save atomically (mode
 * 0600). NP_EPARSE for a file that is not such a store. */
int np_ph_store_load(const char *path, np_ph_store *s, np_error *err);
int np_ph_store_save(const char *path, const np_ph_store *s, np_error *err);
void np_ph_store_free(np_ph_store *s);
/* Index of the entry for (transport, internal address and port), or -1. */
long np_ph_store_find(const np_ph_store *s, int transport,
                      const np_addr *internal);
/* Add or replace the entry with the same key. NP_ENOMEM. */
int np_ph_store_put(np_ph_store *s, const np_ph_entry *e);
void np_ph_store_del(np_ph_store *s, size_t i);

/* Classify a WANIPv6FirewallControl error (third_party: the pinhole was for
 * another host). Pure; unit-tested. */
enum np_pm_outcome np_ph_classify_upnp(int upnp_code, int third_party);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_PINHOLE_H */
