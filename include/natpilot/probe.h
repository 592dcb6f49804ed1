/*
 * natpilot: NAT behaviour discovery (RFC 5780 section 4), run concurrently.
 *
 * np_probe_run() sends every test it can at once over three sockets and one
 * poll() loop, and returns raw observations; it decides no labels (that is
 * nat.h's job). The sockets:
 *
 *   M (mapping)   test I to the server's primary address; when the answer
 *                 names OTHER-ADDRESS, test II (alternate IP, primary port)
 *                 and test III (alternate IP and port) at once; a Binding
 *                 request to each further configured server; and a request
 *                 to its own mapped address (hairpinning).
 *   F (filtering) at time zero, all to the primary address: a plain Binding,
 *                 CHANGE-REQUEST(IP and port) and CHANGE-REQUEST(port). F
 *                 never sends to the alternate address, so M's traffic cannot
 *                 open the filter that F measures.
 *   T (TCP)       STUN over TCP to the primary address: an RTT even when UDP
 *                 is silent, which tells "UDP blocked" from "server down".
 *
 * Waits are derived from the measured RTT (a few RTTs, clamped to a floor and
 * a ceiling); unanswered requests are re-sent inside the wait, so one lost
 * datagram does not flip a verdict. Each response's source address is checked
 * against what the request asked for.
 */
#ifndef NATPILOT_PROBE_H
#define NATPILOT_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_PROBE_MAX_EXTRA 4

typedef struct np_probe_config {
    np_addr server;                    /* RFC 5780 server (required) */
    np_addr extra[NP_PROBE_MAX_EXTRA]; /* further servers, mapping only */
    size_t n_extra;
    np_addr bind;           /* local address to use; empty: chosen by route */
    unsigned wait_floor_ms; /* shortest wait for an answer that may not come */
    unsigned wait_ceil_ms;  /* longest such wait */
    unsigned budget_ms;     /* give up entirely after this long */
    int use_tcp;            /* STUN over TCP beside UDP (default 1) */
    /* Called from inside the loop as each phase starts; may be NULL. */
    void (*progress)(void *ctx, const char *step);
    void *progress_ctx;
} np_probe_config;

/* Defaults: floor 100 ms, ceiling 1000 ms, budget 3000 ms, TCP on. */
void np_probe_config_init(np_probe_config *cfg);

/*
 * The public STUN servers natpilot uses when none is named, one list for
 * every command: the first answers RFC 5780 behaviour discovery (OTHER-
 * ADDRESS, CHANGE-REQUEST); the others only confirm the mapping across
 * servers. NP_PROBE_N_DEFAULT_SERVERS entries, host:port, never NULL.
 */
#define NP_PROBE_N_DEFAULT_SERVERS 3
extern const char *const np_probe_default_servers[NP_PROBE_N_DEFAULT_SERVERS];

/* What the server's RFC 5780 support turned out to be. */
enum np_probe_server {
    NP_SRV_UNTESTED = 0,     /* test I never answered */
    NP_SRV_OK,               /* OTHER-ADDRESS valid, answers, honours
                                CHANGE-REQUEST */
    NP_SRV_NO_OTHER_ADDRESS, /* no OTHER-ADDRESS: not an RFC 5780 server */
    NP_SRV_OTHER_SAME_IP,    /* OTHER-ADDRESS has the primary IP: bogus */
    NP_SRV_OTHER_NO_ANSWER,  /* OTHER-ADDRESS never answered */
    NP_SRV_IGNORES_CHANGE    /* answered a CHANGE-REQUEST from the wrong
                                address */
};

/* One request/response exchange. */
typedef struct np_probe_tx {
    np_addr dest;     /* where the request went */
    np_addr from;     /* where the accepted answer came from */
    np_addr mapped;   /* XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) */
    unsigned sent;    /* datagrams sent (1 + retransmissions) */
    int answered;     /* 1 when an answer from the expected source came */
    int wrong_source; /* answers from an unexpected source (ignored) */
    double rtt_ms;    /* from the last send to the accepted answer */
    double waited_ms; /* from the first send to the accepted answer */
} np_probe_tx;

typedef struct np_probe_obs {
    /* Test I, II, III on socket M (RFC 5780 4.3). */
    np_probe_tx test[3];
    np_addr local_m;       /* socket M's local address */
    np_addr other_address; /* as advertised in test I's answer */
    enum np_probe_server server_state;
    /* Further servers on socket M. */
    np_probe_tx extra[NP_PROBE_MAX_EXTRA];
    size_t n_extra;
    /* Socket F (RFC 5780 4.4): plain, change IP+port, change port. */
    np_probe_tx filt_plain, filt_change_both, filt_change_port;
    np_addr local_f;
    /* Hairpinning (RFC 5780 4.6): -1 untested, 0 no, 1 yes. */
    int hairpin;
    /* STUN over TCP. */
    int tcp_tried;
    int tcp_connected; /* the handshake completed */
    int tcp_refused;   /* RST: the host is up, nothing on the port */
    int tcp_answered;  /* a STUN answer came over TCP */
    np_addr tcp_mapped;
    double tcp_rtt_ms; /* handshake RTT */
    /* Summary. */
    int udp_answered;     /* any UDP answer from the server at all */
    double rtt_ms;        /* best UDP RTT to the primary address */
    double wait_ms;       /* the RTT-derived wait that was used */
    double elapsed_ms;    /* wall time of the whole run */
    unsigned retransmits; /* re-sent datagrams, all sockets */
    unsigned late;        /* answers that came only after a re-send: loss */
    unsigned stray;       /* datagrams ignored (unknown, wrong source) */
    /* An ICMP port-unreachable from the primary server's own host
     * (IP_RECVERR): UDP reaches it, it does not serve STUN on that port. */
    int udp_refused;
} np_probe_obs;

/*
 * Run the discovery. Returns NP_OK when the run completed, whatever it found
 * (a silent network is an observation: udp_answered == 0); NP_EUNREACH when
 * the server cannot even be routed to; NP_ESYS for socket failures;
 * NP_EINVAL for a bad config. obs is fully overwritten.
 */
int np_probe_run(const np_probe_config *cfg, np_probe_obs *obs, np_error *err);

/*
 * Several discoveries in one poll() loop, at once: typically IPv4 and IPv6
 * (diagnose), each against its own server, so the second family adds no
 * round trip. Each job has its own config, observations and setup result:
 * rc NP_EUNREACH (no route to that server, e.g. no IPv6 default route) or
 * NP_ESYS in job->rc and job->err leave that job's obs empty and the
 * others running. A job with follow set whose server has not answered at
 * all when job 0 finishes gets only a few of job 0's round trips more
 * (at least three floors), not its whole budget.
 * Returns NP_OK unless the arguments are invalid (NP_EINVAL) or poll()
 * fails (NP_ESYS).
 */
#define NP_PROBE_MAX_JOBS 2

typedef struct np_probe_job {
    const np_probe_config *cfg; /* in */
    np_probe_obs *obs;          /* out, fully overwritten */
    int follow;                 /* in: see above */
    int rc;                     /* out: this job's setup result */
    np_error err;               /* out: when rc != NP_OK */
} np_probe_job;

int np_probe_run_jobs(np_probe_job *jobs, size_t n_jobs, np_error *err);

/*
 * Inbound reachability of one mapped UDP port of this host (used by verify).
 * From a socket bound to local_port it sends the primary server a plain
 * Binding request (which tells the public address of that port) and a
 * CHANGE-REQUEST(IP and port), whose answer comes from the server's
 * alternate address: an address this socket never sent to, so only a
 * working port mapping (or no filtering at all) lets it in.
 *
 * A control exchange on a second, ephemeral socket shows that the server
 * can prove anything at all: it sends to the alternate address itself
 * (opening its own filter) and the same CHANGE-REQUEST; only when that
 * changed answer comes in, from the alternate address, does a missing one
 * on the mapped port count against the mapping. STUN over TCP to the
 * server (and an ICMP port-unreachable, IP_RECVERR) tell, when UDP stays
 * silent, a UDP block on the way from a server that is down or does not
 * serve UDP.
 */

/* What the proof from outside found. */
enum np_reach_verdict {
    NP_REACH_INCONCLUSIVE = 0, /* nothing known either way: see reason */
    NP_REACH_PROVEN,           /* the answer from the alternate address came
                                  in through the mapped port */
    NP_REACH_PROBLEM           /* something known stops inbound traffic */
};

enum np_reach_reason {
    NP_REACH_R_NONE = 0,       /* proven */
    NP_REACH_R_NOT_INBOUND,    /* problem: the server proved it can answer
                                  from its alternate address (control), but
                                  that answer never came in on the mapped
                                  port: a second NAT or a firewall */
    NP_REACH_R_UDP_BLOCKED,    /* problem: UDP got no answer at all while
                                  the server's host is reachable over TCP
                                  (it answered or refused the connection) */
    NP_REACH_R_NO_RFC5780,     /* no OTHER-ADDRESS: cannot prove */
    NP_REACH_R_CHANGE_REFUSED, /* CHANGE-REQUEST answered with an error, or
                                  not even the control's changed answer
                                  came: the server does not do RFC 5780 */
    NP_REACH_R_IGNORES_CHANGE, /* the "changed" answer came from the
                                  primary address */
    NP_REACH_R_SERVER_NO_UDP,  /* ICMP port unreachable from the server:
                                  UDP gets out; the server does not serve */
    NP_REACH_R_SILENT          /* nothing answered, over UDP or TCP */
};

typedef struct np_reach {
    int answered;     /* the plain request was answered */
    np_addr mapped;   /* the public address:port the server saw */
    int reachable;    /* the answer from the alternate address came in */
    int wrong_source; /* the "changed" answer came from the primary address:
                         the server ignores CHANGE-REQUEST, inconclusive */
    double rtt_ms;
    double elapsed_ms;
    /* The decision, from the observations below. */
    enum np_reach_verdict verdict;
    enum np_reach_reason reason;
    const char *reason_text; /* one sentence: what is wrong, what to do
                                (static; set whenever verdict is) */
    int change_error;        /* the CHANGE-REQUEST got an error answer */
    int control_changed;     /* the control's changed answer came in */
    int icmp_refused;        /* ICMP port unreachable from the server */
    int tcp_reachable;       /* TCP connected to the server, or was refused */
} np_reach;

/* "proven", "problem", "inconclusive" (stable, for --json). */
const char *np_reach_verdict_name(enum np_reach_verdict v);
/* "not-inbound", "udp-blocked", "no-rfc5780", ... "" for NP_REACH_R_NONE. */
const char *np_reach_reason_name(enum np_reach_reason r);

/*
 * Decide verdict, reason and reason_text from the observation fields of
 * r (answered, reachable, wrong_source, change_error, control_changed,
 * icmp_refused, tcp_reachable) and whether the server named an alternate
 * address (have_other). Pure; np_probe_reachable calls it.
 */
void np_reach_decide(np_reach *r, int have_other);

/*
 * server is the primary address of an RFC 5780 server; other its
 * OTHER-ADDRESS (from a diagnose run, or empty to learn it from the plain
 * answer). local may be empty (the route's source address is used).
 * Waits for the answer from the alternate address for a few RTTs, within
 * [floor, ceil] ms. NP_OK whatever the outcome (out->verdict says it);
 * NP_ESYS when local_port cannot be bound (in use: the game is running —
 * say so), NP_EUNREACH.
 */
int np_probe_reachable(const np_addr *server, const np_addr *other,
                       const np_addr *local, uint16_t local_port,
                       unsigned floor_ms, unsigned ceil_ms, np_reach *out,
                       np_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_PROBE_H */
