/*
 * natpilot: one port-mapping interface over PCP (RFC 6887), NAT-PMP
 * (RFC 6886, natpilot's own codec) and UPnP-IGD v1/v2 (through miniupnpc).
 *
 * Usage: np_portmap_new() with options, np_portmap_discover() (PCP, NAT-PMP
 * and SSDP at once in one poll() loop, returning as soon as the gateway has
 * answered well enough), then add / get / list / delete / external address.
 * The object picks a protocol by preference (PCP > NAT-PMP > UPnP unless
 * configured) and falls back to the next one when a protocol is silent,
 * unsupported, or cannot do what was asked (third-party mapping).
 *
 * Return codes are transport-level only (NP_OK, NP_ETIMEOUT when nothing
 * answers at all, NP_EUNREACH, ...). What the router said travels in
 * np_pm_result: the protocol used, its own result code and message, and a
 * classified outcome. A refused mapping is NP_OK with outcome != NP_PM_OK.
 *
 * Ownership: np_portmap is owned by the caller (np_portmap_free accepts
 * NULL). Arrays returned by np_portmap_list are the caller's, freed with
 * free(). No function keeps pointers to the caller's structs.
 */
#ifndef NATPILOT_PORTMAP_H
#define NATPILOT_PORTMAP_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every natpilot mapping's description starts with this tag. */
#define NP_PM_TAG      "natpilot:"
#define NP_PM_DESC_MAX 80 /* UPnP descriptions are cut at 80 bytes */
#define NP_PM_MSG_MAX  200

enum np_pm_proto {
    NP_PM_NONE = 0,
    NP_PM_PCP = 1,
    NP_PM_NATPMP = 2,
    NP_PM_UPNP = 3
};
#define NP_PM_NPROTO 4

/* "pcp", "natpmp", "upnp", "none". */
const char *np_pm_proto_name(enum np_pm_proto p);
/* Parse "pcp" / "natpmp" / "nat-pmp" / "upnp"; NP_PM_NONE if unknown. */
enum np_pm_proto np_pm_proto_parse(const char *s);

enum np_pm_transport { NP_PM_UDP = 17, NP_PM_TCP = 6 };
const char *np_pm_transport_name(int transport); /* "udp" / "tcp" */

/* What became of one request, whatever the protocol. */
enum np_pm_outcome {
    NP_PM_OK = 0,         /* mapped as asked */
    NP_PM_OTHER_PORT,     /* mapped, but to a different external port */
    NP_PM_CONFLICT,       /* the external port is held by another mapping */
    NP_PM_POLICY,         /* refused by the router's policy (606,
                             NOT_AUTHORIZED, NAT-PMP result 2) */
    NP_PM_THIRD_PARTY,    /* refused because it is for another device */
    NP_PM_PERMANENT_ONLY, /* the router only takes permanent leases (725, or
                             402 on a leased request) */
    NP_PM_NOT_FOUND,      /* (get, delete) no such mapping */
    NP_PM_OTHER_DEVICE,   /* (get) the port is mapped to another device */
    NP_PM_TIMEOUT,        /* the protocol did not answer */
    NP_PM_UNSUPPORTED,    /* the protocol cannot do this at all */
    NP_PM_FAILED          /* any other refusal or error from the router */
};
/* "ok", "other-port", "conflict", "policy", "third-party-refused",
 * "permanent-only", "not-found", "other-device", "timeout", "unsupported",
 * "failed": stable names used in --json. */
const char *np_pm_outcome_name(enum np_pm_outcome o);

/* Options of a portmap object; zero-initialise, then set what matters. */
typedef struct np_pm_options {
    /* Preference order, NP_PM_NONE-terminated; all zero = PCP, NAT-PMP,
     * UPnP. Protocols not listed are not used. */
    enum np_pm_proto prefer[NP_PM_NPROTO];
    np_addr gateway;    /* empty: the default gateway from netinfo */
    int timeout_ms;     /* per request; 0: 1500 ms (PCP/NAT-PMP re-sent
                           at 250 ms, 500 ms, ...) */
    int ssdp_window_ms; /* SSDP wait once PCP/NAT-PMP answered when UPnP is
                           preferred; 0: derived from the gateway RTT */
    int ssdp_max_ms;    /* SSDP wait when nothing else answers; 0: 2000 */
    int wait_all;       /* discover: wait for every protocol up to its limit (a
                           full report, e.g. for diagnose) instead of returning
                           once the preferred one answered */
    uint16_t ssdp_port; /* 0: 1900 (tests only) */
    uint16_t pcp_port;  /* 0: 5351 (tests only) */
    /* The last description URL of the gateway's IGD that worked (the
     * daemon's): when SSDP stays silent while the IGD's HTTP server still
     * answers (a known miniupnpd bug), discovery reads it instead of
     * declaring the IGD gone. Only a URL on the gateway's address is used;
     * "" none. */
    char igd_url_hint[256];
} np_pm_options;

/* One gateway answer seen during discovery that was not the gateway's. */
typedef struct np_pm_suspect {
    enum np_pm_proto proto;
    np_addr from;
    char what[96]; /* "PCP answer from a host that is not the gateway" */
} np_pm_suspect;

#define NP_PM_MAX_SUSPECTS 8

typedef struct np_pm_discovery {
    np_addr gateway;                /* the gateway asked (port 0) */
    np_addr local;                  /* this host's address towards it */
    int has[NP_PM_NPROTO];          /* [proto] 1 when the protocol answered */
    int rtt_ms[NP_PM_NPROTO];       /* [proto] first answer time, -1 if none */
    uint32_t epoch[NP_PM_NPROTO];   /* PCP / NAT-PMP epoch seconds */
    int pcp_version;                /* 2; 0: the server speaks NAT-PMP (or
                                       PCP did not answer); 1 or > 2: a PCP
                                       server of another version answered
                                       UNSUPP_VERSION (not usable) */
    np_addr external[NP_PM_NPROTO]; /* external address each one told */
    int igd_version;                /* 1 or 2; 0 when no IGD */
    char igd_url[256];              /* root description URL of the IGD */
    int igd_connected;              /* the IGD says its WAN is connected */
    int igd_from_hint;              /* SSDP was silent: the IGD was read at
                                       np_pm_options.igd_url_hint */
    enum np_pm_proto chosen;        /* the protocol used first */
    size_t nsuspects;
    np_pm_suspect suspects[NP_PM_MAX_SUSPECTS];
    int elapsed_ms;
    /* [proto] an external address the router answered that it cannot hold
     * as its public one (0.0.0.0, loopback, its own or this host's LAN
     * address): the router does not know its public address. Never shown
     * as the public IP, and not proof of a double NAT. external[] stays
     * empty for it. */
    np_addr external_bogus[NP_PM_NPROTO];
    /* [proto] 1: it answered, but its answer could not be read (a
     * truncated or malformed datagram; note says where): the external
     * address is unknown, not absent. */
    int external_unread[NP_PM_NPROTO];
    /* What discovery had to work around or could not use, "" if nothing;
     * "; " between entries, each "PROTO: ...": an IGD that answered for
     * the gateway from another LAN address (CARP/VRRP), a LOCATION on
     * loopback re-pointed, a second WAN service chosen, a NAT-PMP answer
     * that does not decode (peer and byte offset). */
    char note[320];
} np_pm_discovery;

/* A mapping to make (or to delete, or to look up). */
typedef struct np_pm_request {
    int transport;          /* NP_PM_UDP or NP_PM_TCP */
    uint16_t internal_port; /* required */
    uint16_t external_port; /* 0: same as internal_port */
    np_addr internal;       /* empty: this host; else another device (PCP
                               THIRD_PARTY, UPnP NewInternalClient) */
    uint32_t lifetime;      /* seconds; 0 with permanent = permanent */
    int permanent;          /* ask for a permanent lease (UPnP only) */
    int allow_other_port;   /* accept another external port (no PCP
                               PREFER_FAILURE) */
    char description[NP_PM_DESC_MAX]; /* np_pm_describe() builds it */
    /* PCP mapping nonce: all zero = random (add); the nonce the mapping was
     * made with (delete, renew). add writes the one used to the result. */
    uint8_t nonce[12];
    /* (delete) natpilot's mapping store says natpilot made this mapping:
     * a UPnP entry is then matched by internal client, internal port and
     * protocol whatever its description (routers change or blank it);
     * without it only an entry carrying NP_PM_TAG is removed. */
    int owned;
} np_pm_request;

typedef struct np_pm_result {
    enum np_pm_outcome outcome;
    enum np_pm_proto proto;      /* the protocol that gave this answer */
    int code;                    /* the protocol's own result code (UPnP
                                    error, PCP/NAT-PMP result), 0 ok */
    char message[NP_PM_MSG_MAX]; /* the protocol's words for code */
    np_addr external;            /* external address and granted port */
    uint32_t lifetime;           /* granted lease in seconds, 0 permanent */
    np_addr internal;            /* the device the mapping points to */
    uint16_t internal_port;
    np_addr holder; /* CONFLICT / OTHER_DEVICE: who holds it,
                       when the router's table tells */
    char holder_desc[NP_PM_DESC_MAX];
    uint8_t nonce[12]; /* PCP: the nonce of the mapping */
} np_pm_result;

/* One entry of a router's mapping table (UPnP) or of ours (PCP/NAT-PMP). */
typedef struct np_pm_mapping {
    enum np_pm_proto proto;
    int transport;
    uint16_t external_port;
    np_addr internal; /* with the internal port */
    char description[NP_PM_DESC_MAX];
    uint32_t lifetime; /* remaining seconds, 0 permanent */
    int enabled;
    int ours; /* the description carries NP_PM_TAG */
} np_pm_mapping;

typedef struct np_portmap np_portmap;

/* A portmap object; options may be NULL. NULL with *err on failure. */
np_portmap *np_portmap_new(const np_pm_options *opt, np_error *err);
void np_portmap_free(np_portmap *pm);

/*
 * Ask the gateway with every preferred protocol at once. NP_OK when one
 * protocol answered (out says which); NP_ETIMEOUT when none did, NP_EUNREACH
 * without a default gateway. out may be NULL.
 */
int np_portmap_discover(np_portmap *pm, np_pm_discovery *out, np_error *err);

/* The object's view of the gateway: the discovery result, with suspects
 * (answers from other hosts) found by later operations added. Owned by pm,
 * valid until np_portmap_free. */
const np_pm_discovery *np_portmap_discovery(const np_portmap *pm);

/* Restrict later operations to one protocol (after discover; NP_EUNSUPP if
 * it did not answer). NP_PM_NONE lifts the restriction. */
int np_portmap_use(np_portmap *pm, enum np_pm_proto proto, np_error *err);

/* Make one mapping (with fallback to the next protocol as described). */
int np_portmap_add(np_portmap *pm, const np_pm_request *req, np_pm_result *res,
                   np_error *err);

/*
 * Is this mapping in place? outcome NP_PM_OK (mapped to req->internal, or to
 * this host), NP_PM_OTHER_DEVICE (holder says who), NP_PM_NOT_FOUND. UPnP
 * reads the table; PCP and NAT-PMP re-request the mapping (which renews it)
 * since they have no read operation.
 */
int np_portmap_get(np_portmap *pm, const np_pm_request *req, np_pm_result *res,
                   np_error *err);

/* UPnP: the whole table; PCP / NAT-PMP: only what this object made. */
int np_portmap_list(np_portmap *pm, np_pm_mapping **out, size_t *n,
                    np_error *err);

/*
 * In a table from np_portmap_list: the enabled mapping that forwards
 * (transport, port) to the device at dev (its port ignored), on external
 * port `port` or, failing that, on any other external port (an Xbox picks
 * another one when a second Xbox holds UDP 3074); NULL when there is none.
 */
const np_pm_mapping *np_pm_table_find(const np_pm_mapping *tab, size_t n,
                                      int transport, uint16_t port,
                                      const np_addr *dev);

/* Remove a mapping (PCP: with the nonce it was made with). */
int np_portmap_delete(np_portmap *pm, const np_pm_request *req,
                      np_pm_result *res, np_error *err);

/* The router's external address as the chosen protocol reports it. */
int np_portmap_external_address(np_portmap *pm, np_addr *out, np_error *err);

/* --- pure helpers (tested without a network) --- */

/* 1 when a, which a router gave as its external address, can be one: set,
 * not unspecified (0.0.0.0, ::), not loopback, not the gateway's LAN
 * address nor this host's (gateway, local may be NULL). */
int np_pm_external_usable(const np_addr *a, const np_addr *gateway,
                          const np_addr *local);

/* 1 when a protocol told an external address that proves nothing (0.0.0.0,
 * loopback, a LAN address) or answered so that it could not be read: the
 * router does not know its public address, which proves no second NAT. */
int np_pm_discovery_external_unsure(const np_pm_discovery *d);

/* "natpilot:" + label, cut to fit; returns out. */
const char *np_pm_describe(char *out, size_t size, const char *label);
/* 1 when desc starts with NP_PM_TAG. */
int np_pm_is_ours(const char *desc);

/* Classify a UPnP error for an AddPortMapping request (third_party: the
 * request was for another device; leased: lifetime > 0). */
enum np_pm_outcome np_pm_classify_upnp(int upnp_code, int third_party,
                                       int leased);
/* Classify a PCP result code (RFC 6887 §7.4). */
enum np_pm_outcome np_pm_classify_pcp(int result_code, int third_party);
/* Classify a NAT-PMP result code (RFC 6886 §3.5). */
enum np_pm_outcome np_pm_classify_natpmp(int result_code);

/* The words for a UPnP error code; never NULL. (PCP and NAT-PMP result
 * codes: np_pcp_result_name/_message, np_natpmp_result_name/_message.) */
const char *np_pm_upnp_error_str(int upnp_code);

/*
 * RFC 6887 §8.5 epoch check: 1 when the server's epoch is consistent with
 * the previous one (prev_* from the last response, now_* from this one;
 * client times in seconds), 0 when the server has lost its state.
 */
int np_pm_epoch_ok(uint32_t prev_server, uint64_t prev_client,
                   uint32_t now_server, uint64_t now_client);

/*
 * Parse one SSDP response (len bytes): 1 and the LOCATION URL into loc when
 * it is an "HTTP/1.1 200" answer whose ST names an InternetGatewayDevice or
 * WAN*Connection service; 0 otherwise (malformed, other device, no room).
 * *igd_version is set from the ST (1 or 2).
 */
int np_pm_ssdp_parse(const char *buf, size_t len, char *loc, size_t locsize,
                     int *igd_version);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_PORTMAP_H */
