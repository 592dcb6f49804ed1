/*
 * natpilot: the IPv6 side of diagnose, as data.
 *
 * At home IPv6 has no NAT (normally), but the router's stateful firewall
 * filters inbound traffic the way a NAT's filter does; the same RFC 4787
 * words describe it, measured with the same RFC 5780 tests (probe.h) run
 * over IPv6 beside the IPv4 ones. np_ipv6_assess() turns what netinfo and
 * the probe found, and what the router said about pinholes, into one
 * report; it is pure (no I/O) and the front ends render it.
 */
#ifndef NATPILOT_IPV6_H
#define NATPILOT_IPV6_H

#include <net/if.h>

#include "natpilot/addr.h"
#include "natpilot/nat.h"
#include "natpilot/probe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the IPv6 path stands, from the first thing that is missing. */
enum np_v6_state {
    NP_V6_NO_ADDRESS = 0, /* no global IPv6 address: no IPv6 here */
    NP_V6_NO_ROUTE,       /* a global address, but no default route */
    NP_V6_NOT_TESTED,     /* IPv6 is configured; no IPv6 STUN server given */
    NP_V6_NO_ANSWER,      /* configured, but nothing answered over IPv6 (UDP
                             or TCP): IPv6 is blocked or broken upstream */
    NP_V6_UDP_BLOCKED,    /* STUN over TCP answered, UDP did not */
    NP_V6_OK,             /* the STUN server answered over UDP */
    NP_V6_UDP_UNKNOWN     /* TCP answered, UDP did not, from one server:
                             the server may not serve UDP (no proof that
                             the path blocks it) */
};

/* Address translation on the IPv6 path (RFC 6296 NPTv6, or NAT66). */
enum np_v6_nat {
    NP_V6NAT_UNKNOWN = 0,
    NP_V6NAT_NONE,      /* the server saw this host's own address */
    NP_V6NAT_TRANSLATED /* the address was translated (NAT66 or NPTv6;
                           port_preserved tells whether the port was kept,
                           which NPTv6 always does and NAT66 may do) */
};

/* What the router says about IPv6 pinholes. -1 = not known. */
typedef struct np_v6_pinholes {
    int upnp_asked;    /* an IGD was looked for over IPv6 */
    int upnp_fwctl;    /* an IGDv2 with WANIPv6FirewallControl answered */
    int upnp_firewall; /* GetFirewallStatus: FirewallEnabled (-1) */
    int upnp_inbound;  /* GetFirewallStatus: InboundPinholeAllowed (-1) */
    char upnp_url[256];
    int pcp_asked;    /* PCP was asked over IPv6 */
    int pcp_answered; /* a PCP server answered over IPv6 */
    int pcp_result;   /* its result code (ANNOUNCE: 0 SUCCESS), -1 */
    np_addr gateway;  /* where the PCP request went */
} np_v6_pinholes;

/* 1 when the router can open a pinhole for this host (UPnP or PCP). */
int np_v6_pinholes_available(const np_v6_pinholes *p);

typedef struct np_ipv6_input {
    int has_global; /* a global IPv6 address is configured */
    np_addr global; /* that address (port 0) */
    char ifname[IF_NAMESIZE];
    int has_route;           /* an IPv6 default route exists */
    np_addr gateway;         /* its next hop (may be link-local or ::) */
    const np_probe_obs *obs; /* the IPv6 probe; NULL when not run */
    int probe_rc;            /* its setup result (NP_OK, NP_EUNREACH, ...) */
    const np_v6_pinholes *pinholes; /* NULL when the router was not asked */
} np_ipv6_input;

typedef struct np_ipv6_report {
    enum np_v6_state state;
    np_addr global;
    char ifname[IF_NAMESIZE];
    np_addr gateway;
    int has_route;
    enum np_v6_nat nat;
    int port_preserved; /* with NP_V6NAT_TRANSLATED: 1, 0; else -1 */
    np_nat_verdict v;   /* udp, mapping, filtering, labels (IPv4's table) */
    np_addr local;      /* probe socket's local address */
    np_addr mapped;     /* what the server saw */
    np_v6_pinholes pinholes;
    int pinholes_known;
    /* Static English text; never NULL. */
    const char *reason;
    const char *advice;
} np_ipv6_report;

void np_ipv6_assess(const np_ipv6_input *in, np_ipv6_report *out);

/*
 * The plan behind carrier-grade NAT or DS-Lite: when IPv4 sits behind a
 * second NAT (forwarding at home cannot open it) and IPv6 works, what each
 * platform gets over IPv6. Data; the front ends render it.
 */
enum np_v6_plan_gain {
    NP_V6_GAIN_OPEN = 0, /* Open over IPv6 (with pinholes) */
    NP_V6_GAIN_HOSTING,  /* hosting reachable over IPv6 */
    NP_V6_GAIN_NONE      /* no IPv6 for peer-to-peer */
};

typedef struct np_v6_plan_row {
    const char *platform; /* "xbox", "pc", "playstation", "switch" */
    enum np_v6_plan_gain gain;
    const char *what;    /* static English text */
    const char *command; /* a natpilot command line, or "" */
} np_v6_plan_row;

#define NP_V6_PLAN_ROWS 4

typedef struct np_v6_plan {
    int applies; /* IPv4 behind a second NAT and IPv6 works (no NAT66) */
    const char *summary; /* static English text; "" when !applies */
    np_v6_plan_row rows[NP_V6_PLAN_ROWS];
    size_t n_rows;
} np_v6_plan;

/* double_nat: 1 IPv4 is behind a second NAT (carrier-grade NAT, DS-Lite),
 * 0 not, -1 unknown. */
void np_ipv6_plan(int double_nat, const np_ipv6_report *v6, np_v6_plan *out);
/* "open", "hosting", "none". */
const char *np_v6_plan_gain_name(enum np_v6_plan_gain g);

/* Stable names used in --json: "no-address", "no-route", "not-tested",
 * "no-answer", "udp-blocked", "ok"; "unknown", "none", "nat66". */
const char *np_v6_state_name(enum np_v6_state s);
const char *np_v6_nat_name(enum np_v6_nat n);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_IPV6_H */
