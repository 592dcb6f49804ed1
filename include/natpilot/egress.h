/*
 * natpilot: which outbound (egress) ports does the network let through?
 *
 * np_egress_run() tests a list of (protocol, port) targets at once, with
 * non-blocking sockets in one poll() loop and a bounded number in flight:
 *
 *   TCP  connect() to the reflector (a host that accepts TCP on every port)
 *        on the target port. Handshake completed: reachable. RST: refused (a
 *        firewall answered for the server, or the reflector is not what it
 *        claims). ICMP unreachable / administratively prohibited: rejected.
 *        No answer within the wait: dropped. Two more SYNs go out on
 *        fresh sockets at 1/3 and 2/3 of the wait, so one lost SYN does
 *        not turn into "dropped".
 *   UDP  a STUN Binding request (RFC 8489) to a STUN server listening on the
 *        target port, over a connected socket with IP_RECVERR. An answer:
 *        reachable. ICMP port unreachable or prohibited: rejected. Silence,
 *        with retransmissions inside the wait: dropped. Where no configured
 *        STUN server listens on that port the target is "not testable":
 *        natpilot never guesses.
 *
 * The wait is learnt, not fixed: two calibration probes (TCP to the
 * reflector's known-open port, a Binding request to the first STUN server)
 * start with everything else; the first completed handshake or STUN answer
 * (calibration or target) gives the RTT, and every test then waits
 * clamp(rtt_factor * RTT, floor, ceiling) after its start. Before any RTT is
 * known, tests wait at most the ceiling. A list of dozens of ports takes about
 * one wait in total. When the run shows loss (answers that came only to a
 * re-sent request), the targets that stayed silent are tested once more
 * (a second wait), so loss is not reported as a firewall drop.
 *
 * Ranges are never tested port by port: np_egress_sample() picks the first,
 * the last and a few ports inside, and callers state that sample.
 *
 * No printing, no global state. Targets are the caller's array; the library
 * fills their result fields.
 */
#ifndef NATPILOT_EGRESS_H
#define NATPILOT_EGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum np_egress_proto { NP_EGRESS_UDP = 0, NP_EGRESS_TCP = 1 };

/* What happened to one target. */
enum np_egress_state {
    NP_EGRESS_PENDING = 0, /* not finished (only seen inside the run) */
    NP_EGRESS_REACHABLE,   /* handshake completed / STUN answered */
    NP_EGRESS_DROPPED,     /* no answer at all within the wait */
    NP_EGRESS_REFUSED,     /* TCP reset (actively refused) */
    NP_EGRESS_REJECTED,    /* ICMP unreachable / prohibited from the path */
    NP_EGRESS_LOCAL,       /* blocked on this device (EPERM, EACCES) */
    NP_EGRESS_UNTESTABLE,  /* no server to test against: not a verdict */
    NP_EGRESS_ERROR,       /* a local failure (socket limit, ...) */
    NP_EGRESS_STATE_MAX
};

/* Stable names for output: "reachable", "dropped", "refused", "rejected",
 * "blocked-locally", "not-testable", "error", "pending". Never NULL. */
const char *np_egress_state_name(int state);

/* 1 for DROPPED, REFUSED, REJECTED and LOCAL: the port is blocked. */
int np_egress_state_blocked(int state);

/*
 * Classify the errno a test ended with (0 = success, ETIMEDOUT = no answer).
 * TCP ECONNREFUSED is a reset (REFUSED); UDP ECONNREFUSED is an ICMP port
 * unreachable (REJECTED). EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENONET,
 * ENOPROTOOPT: REJECTED. EPERM, EACCES: LOCAL. Anything else: ERROR.
 */
int np_egress_classify(int proto, int errno_value);

/*
 * The ports to test for the range lo..hi (lo <= hi): all of them when there
 * are at most max; otherwise the first, the last and max - 2 ports spread
 * evenly inside, ascending, without duplicates. Writes at most max ports to
 * out and returns how many (0 when max is 0 or lo > hi).
 */
size_t np_egress_sample(uint16_t lo, uint16_t hi, uint16_t *out, size_t max);

/* Default number of ports np_egress_sample is asked for per range. */
#define NP_EGRESS_SAMPLE_DEFAULT 5

typedef struct np_egress_target {
    /* Input. */
    int proto;     /* enum np_egress_proto */
    uint16_t port; /* destination port, 1..65535 */
    /* Output (overwritten by np_egress_run). */
    int state;         /* enum np_egress_state */
    int sys_errno;     /* the errno behind the state, 0 when none */
    np_addr dest;      /* where the test went; empty when untestable */
    np_addr icmp_from; /* who sent the ICMP error, when one came */
    int icmp_type;     /* ICMP type / code of that error, -1 when none */
    int icmp_code;
    unsigned attempts; /* SYNs (sockets) or datagrams sent */
    double rtt_ms;     /* first send to answer, when reachable/refused/
                          rejected; 0 otherwise */
} np_egress_target;

#define NP_EGRESS_MAX_STUN 8

typedef struct np_egress_config {
    np_addr reflector;  /* TCP reflector; empty: TCP targets untestable */
    uint16_t open_port; /* a reflector port known to be open (calibration);
                           0: no TCP calibration probe */
    np_addr stun[NP_EGRESS_MAX_STUN]; /* STUN servers, each on its port */
    size_t n_stun;
    int stun_all_ports;    /* stun[0]'s host answers STUN on every UDP port */
    int confirm_drops;     /* when answers came only to re-sent requests (loss),
                              test the dropped targets once more (default 1) */
    np_addr bind;          /* local address to use; empty: chosen by route */
    unsigned max_inflight; /* tests in flight at once (default 64) */
    unsigned rtt_factor;   /* wait = rtt_factor * RTT ... (default 4) */
    unsigned wait_floor_ms; /* ... but at least this (default 400) */
    unsigned wait_ceil_ms;  /* ... and at most this (default 3000) */
    /* Called from inside the loop with a short status; may be NULL. */
    void (*progress)(void *ctx, const char *step);
    void *progress_ctx;
} np_egress_config;

/* Defaults as above; no reflector, no STUN server. */
void np_egress_config_init(np_egress_config *cfg);

/* 1 when cfg gives a way to test (proto, port), else 0. */
int np_egress_testable(const np_egress_config *cfg, int proto, uint16_t port);

typedef struct np_egress_report {
    np_egress_target calib_tcp; /* reflector:open_port (state PENDING->...;
                                   UNTESTABLE when not configured) */
    np_egress_target calib_udp; /* stun[0] (UNTESTABLE when none) */
    double rtt_ms;        /* the RTT the wait was derived from; 0 if none */
    int rtt_proto;        /* enum np_egress_proto it came from; -1 if none */
    double wait_ms;       /* the wait used (the ceiling when no RTT) */
    double elapsed_ms;    /* wall time of the whole run */
    unsigned tests;       /* sockets opened (targets + calibration + retries) */
    unsigned retransmits; /* UDP re-sends and extra SYNs */
    unsigned max_parallel; /* most tests in flight at one time */
    unsigned late;         /* answers only to a re-sent request: loss */
    int confirm_pass;      /* 1 when dropped targets were tested again */
    unsigned reachable;    /* targets (not calibration) per outcome */
    unsigned blocked;
    unsigned untestable;
} np_egress_report;

/*
 * Run every target of targets[0..n). Duplicate (proto, port) pairs are tested
 * once and get the same result. Returns NP_OK when the run completed whatever
 * it found (a network that drops everything is a finding), NP_EINVAL for a
 * bad argument (port 0, bad proto, rtt_factor 0, floor > ceiling), NP_ENOMEM,
 * or NP_ESYS when poll() itself fails. rep may be NULL.
 */
int np_egress_run(const np_egress_config *cfg, np_egress_target *targets,
                  size_t n, np_egress_report *rep, np_error *err);

/*
 * Advice: one plain-language sentence for a blocked (or untestable) state,
 * telling the user what to ask the network's admin or change on the router.
 * proto selects TCP/UDP wording. Never NULL ("" for REACHABLE/PENDING).
 */
const char *np_egress_advice(int proto, int state);

/* Overall picture of a run, for the summary line. */
enum np_egress_overall {
    NP_EGRESS_ALL_REACHABLE = 0, /* every testable target reachable */
    NP_EGRESS_SOME_BLOCKED,      /* some blocked, something reachable */
    NP_EGRESS_NOTHING_REACHABLE, /* something was tried, nothing at all
                                    was reachable, calibration included:
                                    offline or reflector down */
    NP_EGRESS_NOTHING_TESTABLE   /* no target could be tested (and no
                                    calibration probe ran) */
};

/*
 * Pick the overall picture from the targets and the calibration results in
 * rep (rep may be NULL: then only the targets count).
 */
int np_egress_overall(const np_egress_target *targets, size_t n,
                      const np_egress_report *rep);

/*
 * Human name of an ICMP (v6 = 0) or ICMPv6 (v6 = 1) error as recorded in
 * np_egress_target.icmp_type/icmp_code: "communication administratively
 * prohibited", "port unreachable"... "" when type is -1. Never NULL.
 */
const char *np_egress_icmp_text(int v6, int type, int code);

/* The summary sentence for an overall picture. Never NULL. */
const char *np_egress_overall_text(int overall);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_EGRESS_H */
