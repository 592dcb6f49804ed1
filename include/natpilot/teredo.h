/*
 * natpilot: the Teredo outlook for an Xbox (and Windows' Xbox networking),
 * as data.
 *
 * An Xbox without native IPv6 reaches its peers through Teredo (RFC 4380,
 * with the extensions of RFC 6081): "Teredo is unable to qualify" is its
 * error when that fails. Whether it can qualify follows from what diagnose
 * measures: UDP at all, UDP out to port 3544 (the Teredo server's port),
 * and the NAT's mapping behaviour (a symmetric, i.e. not endpoint-
 * independent, mapping fails the qualification's two-server test). Each
 * rule and its source is in docs/ipv6.md.
 *
 * np_teredo_assess() is pure. np_teredo_qualify() runs RFC 4380's
 * qualification against a real Teredo server (a Router Solicitation to its
 * primary and its secondary address on UDP 3544, reading the origin
 * indication of each Router Advertisement), which proves UDP 3544 gets out
 * and tells a symmetric mapping the way the Xbox itself would.
 */
#ifndef NATPILOT_TEREDO_H
#define NATPILOT_TEREDO_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"
#include "natpilot/ipv6.h"
#include "natpilot/nat.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_TEREDO_PORT 3544

enum np_teredo_verdict {
    NP_TEREDO_UNKNOWN = 0, /* nothing to go on (no network answered) */
    NP_TEREDO_QUALIFIES,   /* it will qualify */
    NP_TEREDO_UNCERTAIN,   /* it may qualify (see reason) */
    NP_TEREDO_FAILS        /* "Teredo is unable to qualify" */
};

enum np_teredo_reason {
    NP_TEREDO_R_NONE = 0,
    NP_TEREDO_R_NO_NETWORK,      /* nothing answered at all */
    NP_TEREDO_R_UDP_BLOCKED,     /* UDP does not get out */
    NP_TEREDO_R_3544_BLOCKED,    /* UDP to port 3544 does not get out */
    NP_TEREDO_R_SYMMETRIC,       /* the mapping is not endpoint-
                                    independent, ports random */
    NP_TEREDO_R_SYMMETRIC_PORTS, /* not endpoint-independent, but ports
                                    preserved or sequential: RFC 6081's
                                    symmetric-NAT support may cope */
    NP_TEREDO_R_3544_UNTESTED    /* mapping fine, UDP 3544 not checked */
};

enum np_teredo_fix {
    NP_TEREDO_FIX_NONE = 0,
    NP_TEREDO_FIX_ALLOW_UDP,   /* allow outbound UDP */
    NP_TEREDO_FIX_ALLOW_3544,  /* allow outbound UDP to port 3544 */
    NP_TEREDO_FIX_NATIVE_IPV6, /* use native IPv6 (with a pinhole) */
    NP_TEREDO_FIX_ROUTER_EIM   /* the router setting that makes the
                                  mapping endpoint-independent */
};

typedef struct np_teredo_qual {
    np_addr server;       /* primary address, port 3544 */
    int answered_primary; /* an RA came back from the primary address */
    int answered_secondary;
    np_addr mapped_primary; /* origin indication: the public address:port */
    np_addr mapped_secondary;
    int symmetric; /* 1 the two mappings differ, 0 equal, -1 unknown */
    double rtt_ms;
    double elapsed_ms;
} np_teredo_qual;

typedef struct np_teredo_input {
    const np_nat_verdict *v4;   /* required */
    int udp3544;                /* 1 gets out, 0 blocked, -1 untested */
    const np_teredo_qual *qual; /* a real qualification run, or NULL */
    const np_ipv6_report *v6;   /* or NULL */
} np_teredo_input;

typedef struct np_teredo_outlook {
    enum np_teredo_verdict verdict;
    enum np_teredo_reason reason;
    enum np_teredo_fix fix;
    int native_ipv6; /* 1: native IPv6 works here; the Xbox uses it for
                        peers that have it, Teredo for the others */
    /* Static English text; never NULL. */
    const char *why;
    const char *fix_text;
    const char *source; /* the docs/ipv6.md rule this came from */
} np_teredo_outlook;

void np_teredo_assess(const np_teredo_input *in, np_teredo_outlook *out);

/* Stable names for --json: "unknown", "qualifies", "uncertain", "fails";
 * "none", "no-network", "udp-blocked", "udp-3544-blocked", "symmetric-nat",
 * "symmetric-nat-port-preserving", "udp-3544-untested"; "none",
 * "allow-udp", "allow-udp-3544", "native-ipv6", "router-eim". */
const char *np_teredo_verdict_name(enum np_teredo_verdict v);
const char *np_teredo_reason_name(enum np_teredo_reason r);
const char *np_teredo_fix_name(enum np_teredo_fix f);

/* --- the wire: RFC 4380 section 5.2.1 qualification ---------------- */

/*
 * Encode the client's Router Solicitation in UDP (section 5.2.1 and 5.1.1):
 * an authentication indicator with an 8-byte nonce, then an IPv6 packet
 * from fe80::ffff:ffff:fffe (cone bit 0, as RFC 5991 requires) to ff02::2
 * with an ICMPv6 Router Solicitation. 61 bytes; NP_EBUFSIZE if cap is
 * smaller.
 */
int np_teredo_encode_rs(uint8_t *buf, size_t cap, const uint8_t nonce[8],
                        size_t *len, np_error *err);

/*
 * Decode a server's answer: an optional authentication indicator (its
 * nonce must be ours), an origin indication (the client's public address
 * and port, obfuscated), and an IPv6 packet carrying an ICMPv6 Router
 * Advertisement. NP_OK and *origin (port set) on such an answer; NP_EPARSE
 * otherwise (including a wrong nonce or no origin indication).
 */
int np_teredo_decode_ra(const uint8_t *buf, size_t len, const uint8_t nonce[8],
                        np_addr *origin, np_error *err);

/*
 * Qualify against the Teredo server at `server` (IPv4, port 3544; the
 * secondary address is the next one, RFC 4380 section 4): an RS to both at
 * once from one socket, re-sent while unanswered, within timeout_ms.
 * NP_OK whatever answered (out says); NP_EUNREACH, NP_ESYS.
 */
int np_teredo_qualify(const np_addr *server, unsigned timeout_ms,
                      np_teredo_qual *out, np_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_TEREDO_H */
