/*
 * libnatpilot: advice, the player-facing conclusions as data.
 *
 * What diagnose, the wizard, verify --outbound and (later) the web page
 * tell a player is decided here once: whether a second NAT sits beyond the
 * router, what to do per console, what to enter in the router when nothing
 * can be asked for, and what the outbound test results mean. Nothing here
 * prints or touches the network; front ends render the structs. Texts are
 * English sentences (static, or in the struct's own buffers), never NULL.
 */
#ifndef NATPILOT_ADVICE_H
#define NATPILOT_ADVICE_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/egress.h"
#include "natpilot/error.h"
#include "natpilot/nat.h"
#include "natpilot/portmap.h"
#include "natpilot/profile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- double NAT / carrier-grade NAT ------------------------------------ */

enum np_advice_dnat {
    NP_ADVICE_DNAT_UNKNOWN = -1, /* not enough evidence either way */
    NP_ADVICE_DNAT_NO = 0,       /* the router holds the public address */
    NP_ADVICE_DNAT_YES = 1       /* a second NAT beyond the router */
};

enum np_advice_dnat_why {
    NP_ADVICE_DNAT_NO_STUN = 0,   /* no STUN-mapped address: unknown */
    NP_ADVICE_DNAT_NO_ROUTER,     /* no router protocol answered: unknown */
    NP_ADVICE_DNAT_ROUTER_SILENT, /* the router answered but could not
                                     say its external address: yes */
    NP_ADVICE_DNAT_DIFFERENT,     /* router's address != STUN's: yes */
    NP_ADVICE_DNAT_SAME,          /* equal (reserved range or not): no */
    NP_ADVICE_DNAT_ROUTER_UNSURE  /* what the router said about its address
                                     proves nothing: unknown */
};

typedef struct np_advice_dnat_input {
    const np_addr *mapped; /* STUN-mapped address; NULL or unset: none */
    int router_answered;   /* PCP, NAT-PMP or UPnP answered */
    const np_addr *router_external; /* NULL or unset: the router could not
                                       say */
    int router_unsure; /* the router told an address that proves nothing
                          (0.0.0.0, loopback, its own LAN address) or its
                          answer could not be read: no verdict from its
                          silence */
} np_advice_dnat_input;

typedef struct np_advice_dnat_verdict {
    int verdict;       /* enum np_advice_dnat */
    int why;           /* enum np_advice_dnat_why */
    int reserved_hint; /* the router's address is in a reserved range (a
                          hint only: never the verdict on its own) */
    const char *text;  /* one sentence for the player; "" when NO */
} np_advice_dnat_verdict;

/*
 * DESIGN.md: a reserved router address is a hint, not proof; the router's
 * external address unequal to the STUN-mapped one, or unknown while the
 * router answers, means a second NAT, and forwarding at home alone cannot
 * make the NAT Open. Pure.
 */
void np_advice_double_nat(const np_advice_dnat_input *in,
                          np_advice_dnat_verdict *out);

/* What can help behind a second NAT (bridge mode, provider, IPv6). */
const char *np_advice_second_nat_fix(void);

/* ---- the per-console plan ---------------------------------------------- */

enum np_advice_plan_kind {
    NP_ADVICE_PLAN_UNBLOCK_UDP = 0, /* outbound UDP is blocked */
    NP_ADVICE_PLAN_ALREADY_OPEN,    /* nothing to do */
    NP_ADVICE_PLAN_SECOND_NAT,      /* forwarding at home cannot help */
    NP_ADVICE_PLAN_MAP,             /* natpilot can ask the router */
    NP_ADVICE_PLAN_SELF_MAP,        /* the console maps itself; verify */
    NP_ADVICE_PLAN_MANUAL           /* nothing answers: turn UPnP on or
                                       forward by hand */
};

#define NP_ADVICE_PLAN_MAX 3 /* Xbox, PlayStation, Switch */

typedef struct np_advice_plan_input {
    const np_nat_verdict *verdict;
    int double_nat;        /* enum np_advice_dnat */
    int router_answered;   /* any of PCP, NAT-PMP, UPnP */
    int has[NP_PM_NPROTO]; /* which answered */
    int igd_version;       /* 1 or 2 when UPnP answered */
    const np_catalog *cat; /* platform profiles; NULL: none known */
} np_advice_plan_input;

typedef struct np_advice_plan_item {
    const char *platform; /* "xbox", "playstation", "switch" */
    const char *label;    /* the console's NAT label today */
    const char *profile;  /* its platform profile id */
    int kind;             /* enum np_advice_plan_kind */
    char ports[160];      /* "udp 3074, tcp 3074" (essential, mappable) */
    char action[480];     /* what to do, one paragraph */
    char command[160];    /* the natpilot command line; "" when none */
} np_advice_plan_item;

/* Fill items[NP_ADVICE_PLAN_MAX]; returns how many. Pure. */
size_t np_advice_plan(const np_advice_plan_input *in,
                      np_advice_plan_item items[NP_ADVICE_PLAN_MAX]);

/* "PCP, NAT-PMP, UPnP-IGD v2" of what answered, into buf. */
const char *np_advice_proto_list(const int has[NP_PM_NPROTO], int igd_version,
                                 char *buf, size_t size);

/* ---- manual forwards ----------------------------------------------------- */

#define NP_ADVICE_FWD_MAX 64

typedef struct np_advice_forward {
    int protocol;           /* enum np_proto */
    char ports[96];         /* "3074" or "27015-27030,27036" */
    int several;            /* more than one port */
    const char *profile_id; /* where the rule comes from */
} np_advice_forward;

typedef struct np_advice_manual {
    int second_nat; /* only second_nat_text applies */
    const char *second_nat_text;
    int console;              /* the device is another host */
    const char *upnp_text;    /* turn UPnP on (and let the console map) */
    const char *console_test; /* the console's own NAT test path */
    char verify_text[160];    /* natpilot verify --for ... shows ... */
    char forward_intro[160];  /* "Or enter these forwards ... each to X:" */
    np_advice_forward fwd[NP_ADVICE_FWD_MAX];
    size_t n_fwd;
    size_t n_left_out;   /* rules that did not fit (never silently) */
    char dhcp_text[200]; /* the DHCP reservation; "" for this host */
    const char *no_dmz;  /* why not the DMZ */
} np_advice_manual;

/*
 * The steps to take in the router by hand for the resolved rules of a
 * device (device_ip: its address as text; console: 1 when it is another
 * host, platform one NP_PLAT_* bit). Broad rules are never forwarded.
 * Pure.
 */
void np_advice_manual_steps(const np_resolved *res, unsigned platform,
                            const char *device_ip, int console, int double_nat,
                            np_advice_manual *out);

/* The console's own "test NAT type" path (or verify, for a PC). */
const char *np_advice_console_test(unsigned platform);

/* ---- outbound verdicts --------------------------------------------------- */

#define NP_ADVICE_OB_RANGES 32 /* per rule; longer profile rules are split */
#define NP_ADVICE_OB_SAMPLE 16 /* most ports tested per range */

typedef struct np_advice_ob_rule {
    int proto; /* enum np_egress_proto */
    uint16_t lo[NP_ADVICE_OB_RANGES], hi[NP_ADVICE_OB_RANGES];
    size_t n_ranges;
    const char *profile; /* NULL for a rule the user named (--port) */
    const char *feature, *note;
    int essential, broad;
    /* Filled by np_advice_outbound_run: */
    size_t first, count;  /* its targets */
    uint32_t total_ports; /* ports the rule covers */
    int sampled;          /* fewer targets than ports */
    int state;            /* the rule's verdict (enum np_egress_state) */
    int partial;          /* some ports reachable, some blocked */
} np_advice_ob_rule;

/* A rule's ports as text, "3074,3478-3480", into buf (always terminated,
 * cut to fit); returns buf ("" when buf is NULL or size 0). The one
 * formatting of port lists for the plan, the manual steps and the
 * outbound report. */
const char *np_advice_rule_ports(const np_rule *r, char *buf, size_t size);
const char *np_advice_ob_ranges(const np_advice_ob_rule *r, char *buf,
                                size_t size);

/* One "what to do" line: the ports of one protocol in one blocked (or
 * untestable) state, the features they break, and the advice. */
typedef struct np_advice_ob_line {
    int proto, state;
    char ports[512];    /* "27015, 27020" */
    char features[512]; /* "game matchmaking (essential); --port tcp:80" */
    const char *advice; /* np_egress_advice() */
} np_advice_ob_line;

#define NP_ADVICE_OB_LINES (2 * NP_EGRESS_STATE_MAX)

typedef struct np_advice_outbound {
    np_advice_ob_rule *rules;
    size_t n_rules, cap_rules;
    np_egress_target *targets;
    size_t n_targets;
    size_t sample;         /* ports per range (2..NP_ADVICE_OB_SAMPLE) */
    np_egress_report rep;  /* of the run */
    int ran;               /* np_advice_outbound_run succeeded */
    int overall;           /* enum np_egress_overall */
    int essential_blocked; /* an essential rule is blocked */
    unsigned counts[NP_EGRESS_STATE_MAX]; /* distinct ports per state */
    np_advice_ob_line lines[NP_ADVICE_OB_LINES];
    size_t n_lines;
} np_advice_outbound;

/* An empty check; sample 0 means NP_EGRESS_SAMPLE_DEFAULT. NULL: ENOMEM. */
np_advice_outbound *np_advice_outbound_new(size_t sample);
void np_advice_outbound_free(np_advice_outbound *ob);

/* Add one rule (copied; its strings are borrowed and must outlive ob). */
int np_advice_outbound_add(np_advice_outbound *ob, const np_advice_ob_rule *r,
                           np_error *err);
/* Add a resolution's outbound rules (split when longer than one rule
 * holds; nothing dropped). res must outlive ob. */
int np_advice_outbound_add_resolved(np_advice_outbound *ob,
                                    const np_resolved *res, np_error *err);

/* The targets: each rule's ranges sampled (first, last, ob->sample - 2
 * inside). np_advice_outbound_run calls it; tests fill the targets' states
 * themselves and call np_advice_outbound_conclude. */
int np_advice_outbound_prepare(np_advice_outbound *ob, np_error *err);

/* Prepare, run the tests (np_egress_run), then fill the verdicts, the summary
 * and the lines. Network I/O happens in the egress module. */
int np_advice_outbound_run(np_advice_outbound *ob, const np_egress_config *cfg,
                           np_error *err);

/* Only the verdicts, for targets whose states are already known (the
 * run calls it; tests too). */
void np_advice_outbound_conclude(np_advice_outbound *ob);

/* A rule's verdict from its targets' states: the most frequent blocked
 * state when any is blocked (partial when others got through), else
 * error, else reachable, else untestable. Pure. */
void np_advice_ob_verdict(const np_egress_target *t, size_t n, int *state,
                          int *partial);

/* "all-reachable", "some-blocked", "nothing-reachable", "nothing-testable" */
const char *np_advice_ob_overall_name(int overall);

#ifdef __cplusplus
}
#endif

#endif /* NATPILOT_ADVICE_H */
