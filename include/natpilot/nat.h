/*
 * natpilot: from probe observations to RFC 4787 behaviours and console
 * labels. Pure functions, no I/O. The label table is in nat.c, one row per
 * case with its source, and mirrored in the README.
 */
#ifndef NATPILOT_NAT_H
#define NATPILOT_NAT_H

#include "natpilot/probe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 4787 mapping (section 4.1) and filtering (section 5) behaviour. */
enum np_behaviour {
    NP_BEH_UNKNOWN = 0,
    NP_BEH_EI,    /* endpoint-independent */
    NP_BEH_AD,    /* address-dependent */
    NP_BEH_APD,   /* address-and-port-dependent */
    NP_BEH_NOT_EI /* endpoint-dependent, AD or APD not told apart */
};

enum np_udp_state {
    NP_UDP_OK = 0,       /* a STUN server answered over UDP */
    NP_UDP_BLOCKED,      /* UDP silent towards two servers or more (the
                            primary and another address) while the primary's
                            host answers over TCP: evidence about the path */
    NP_UDP_NO_ANSWER,    /* nothing answered at all: offline or server down */
    NP_UDP_UNKNOWN,      /* one server, silent over UDP while its host is
                            reachable over TCP (answered, or refused the
                            connection): a UDP block and a server that serves
                            TCP only cannot be told apart */
    NP_UDP_SERVER_NO_UDP /* ICMP port unreachable from the server's host:
                            UDP gets there, the server does not serve it */
};

enum np_port_alloc {
    NP_PA_UNKNOWN = 0,
    NP_PA_PRESERVING, /* external port = local port */
    NP_PA_SEQUENTIAL, /* new mappings take nearby, increasing ports */
    NP_PA_RANDOM      /* new mappings take unpredictable ports */
};

enum np_nat_confidence {
    NP_NAT_CONF_LOW = 0,
    NP_NAT_CONF_MEDIUM,
    NP_NAT_CONF_HIGH
};

enum np_generic {
    NP_GEN_UNKNOWN = 0,
    NP_GEN_OPEN,
    NP_GEN_MODERATE,
    NP_GEN_STRICT,
    NP_GEN_BLOCKED
};
enum np_xbox {
    NP_XBOX_UNKNOWN = 0,
    NP_XBOX_OPEN,
    NP_XBOX_MODERATE,
    NP_XBOX_STRICT,
    NP_XBOX_UNAVAILABLE
};
enum np_psn {
    NP_PSN_UNKNOWN = 0,
    NP_PSN_TYPE1,
    NP_PSN_TYPE2,
    NP_PSN_TYPE3,
    NP_PSN_FAILED
};
enum np_switch {
    NP_SW_UNKNOWN = 0,
    NP_SW_A,
    NP_SW_B,
    NP_SW_C,
    NP_SW_D,
    NP_SW_F
};

typedef struct np_nat_verdict {
    enum np_udp_state udp;
    int behind_nat; /* 1, 0, or -1 when unknown */
    enum np_behaviour mapping;
    enum np_behaviour filtering;
    enum np_port_alloc port_alloc;
    int port_preserved; /* 1, 0, -1 unknown */
    int hairpin;        /* 1, 0, -1 untested */
    enum np_nat_confidence confidence;
    enum np_generic generic;
    enum np_xbox xbox;
    enum np_psn psn;
    enum np_switch sw;
    /* Static English text from the table; never NULL. */
    const char *reason; /* one line: why this verdict */
    const char *advice; /* what would make it Open */
    /* Why the confidence is not high, or a server problem; "" if none. */
    char caveat[256];
} np_nat_verdict;

/*
 * Classify. game_port_mapped is 1 when an active UPnP/PCP/NAT-PMP mapping of
 * the game's port is known to exist: that counts as Open for that port (as
 * the consoles themselves count it).
 */
void np_nat_classify(const np_probe_obs *obs, int game_port_mapped,
                     np_nat_verdict *v);

/* Stable names used in --json output. */
const char *np_behaviour_name(enum np_behaviour b);
const char *np_udp_state_name(enum np_udp_state u);
const char *np_port_alloc_name(enum np_port_alloc p);
const char *np_nat_confidence_name(enum np_nat_confidence c);
const char *np_generic_name(enum np_generic g);
const char *np_xbox_name(enum np_xbox x);
const char *np_psn_name(enum np_psn p);
const char *np_switch_name(enum np_switch s);
const char *np_probe_server_name(enum np_probe_server s);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_NAT_H */
