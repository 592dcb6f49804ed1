/*
 * natpilot: the mapping session — apply, verify and close a set of rules
 * for ONE device (this host, or another LAN address), with the whole
 * mapping policy in one place: protocol choice and fallback, the platform's
 * alternate-port rule, read-back after add, rollback when an essential rule
 * is refused or something fails, cancellation by the caller, PCP nonces
 * kept in the mapping store. `natpilot open`, `verify`, `close`, the wizard
 * and the daemon (keeper) all go through it, so one router answer has one
 * meaning everywhere.
 *
 * The alternate-port rule (one rule for open and daemon alike): when the
 * router grants or offers another external port than the rule's (NAT-PMP
 * and PCP do when the port is taken; a UPnP 718 conflict can be retried
 * with AddAnyPortMapping), that port is kept only when the rule's platform
 * accepts another external port for it (np_sess_rule.alt_port: an Xbox's
 * UDP 3074). Otherwise (Minecraft Java's TCP 25565 on a PC: the players'
 * clients dial 25565) a stand-in port is useless, so it is removed again
 * and the rule is reported as a conflict naming the holder when the router
 * says who it is.
 *
 * Reports are data: nothing here prints. Errors are values (np_error).
 * The session never installs signal handlers: the caller passes a flag it
 * sets from its own handler (np_sess_opts.cancel); it is checked between
 * requests, and a request interrupted by a signal (EINTR) counts as
 * cancelled too.
 *
 * Ownership: np_session is the caller's (np_session_free accepts NULL).
 * The np_portmap and np_store given in the options are borrowed: they must
 * outlive the session, and the session never frees them. A report's arrays
 * are owned by the report (np_sess_report_free, which accepts NULL and a
 * zeroed report).
 */
#ifndef NATPILOT_SESSION_H
#define NATPILOT_SESSION_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"
#include "natpilot/portmap.h"
#include "natpilot/profile.h"
#include "natpilot/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_SESS_MAX_RULES     512 /* rules one session takes */
#define NP_SESS_LABEL_MAX     48
#define NP_SESS_FEATURE_MAX   96
#define NP_SESS_REASON_MAX    600
#define NP_SESS_DEFAULT_LEASE 7200

/* One inbound rule: internal port = wanted external port. */
typedef struct np_sess_rule {
    int transport;                     /* NP_PM_UDP / NP_PM_TCP */
    uint16_t port;                     /* 1..65535 */
    int essential;                     /* refusal rolls the run back */
    int alt_port;                      /* the platform accepts another
                                          external port for this rule */
    char label[NP_SESS_LABEL_MAX];     /* profile id, or "port" */
    char feature[NP_SESS_FEATURE_MAX]; /* what it serves, "" unknown */
} np_sess_rule;

/* What the session concluded for one rule. */
enum np_sess_outcome {
    NP_SESS_NOT_TRIED = 0,  /* the run stopped before it ("skipped") */
    NP_SESS_MAPPED,         /* apply: mapped (alternate says on which
                               port); verify: present for the device */
    NP_SESS_CONFLICT,       /* another mapping holds the external port
                               (pm.holder when the router tells; a
                               stand-in port offered was taken back) */
    NP_SESS_REFUSED,        /* the router's policy */
    NP_SESS_THIRD_PARTY,    /* refused because it is for another device */
    NP_SESS_PERMANENT_ONLY, /* the router only takes permanent leases */
    NP_SESS_TIMEOUT,        /* no answer */
    NP_SESS_UNSUPPORTED,    /* no protocol can do it */
    NP_SESS_FAILED,         /* any other refusal or error */
    NP_SESS_ROLLED_BACK,    /* made by this run, then removed by the
                               rollback */
    NP_SESS_MISSING,        /* verify: not mapped */
    NP_SESS_ELSEWHERE,      /* verify: mapped to another device (holder) */
    NP_SESS_UNKNOWN,        /* verify: cannot tell (no table to read) */
    NP_SESS_REMOVED,        /* close: removed */
    NP_SESS_GONE            /* close: the router no longer had it */
};
/* Stable names: "skipped", "mapped", "conflict", "refused",
 * "third-party-refused", "permanent-only", "timeout", "unsupported",
 * "failed", "rolled-back", "missing", "other-device", "unknown", "removed",
 * "gone" (the status strings of open/verify/close --json). */
const char *np_sess_outcome_name(enum np_sess_outcome o);

/* The result for one rule (or, for close, one mapping found). */
typedef struct np_sess_result {
    np_sess_rule rule;            /* the rule (close: rebuilt from the
                                     mapping; label "" when unknown) */
    enum np_sess_outcome outcome; /* the session's conclusion */
    int tried;                    /* a request was sent for it */
    np_pm_result pm;              /* the router's last answer: protocol
                                     used, code + message, external
                                     addr:port, granted lease, internal,
                                     holder (+ description), nonce */
    np_addr device;               /* the device it is for (port 0) */
    int alternate;                /* mapped on another external port that
                                     the platform accepts */
    uint16_t offered_port;        /* a stand-in external port the router
                                     offered and the session took back */
    int rolled_back;              /* it was made, then removed again */
} np_sess_result;

enum np_sess_op { NP_SESS_APPLY = 1, NP_SESS_VERIFY, NP_SESS_CLOSE };

/* The report of one apply / verify / close. */
typedef struct np_sess_report {
    enum np_sess_op op;
    np_pm_discovery disc; /* the gateway as the session saw it */
    np_sess_result *r;    /* n results, owned by the report */
    size_t n;
    size_t ok;          /* mapped (apply/verify), removed (close) */
    size_t problems;    /* everything else that was tried (close:
                           failed removals) */
    size_t third_party; /* rules refused because they were for another
                           device */
    int interrupted;    /* the caller's cancel flag stopped it */
    int rolled_back;    /* the rollback ran AND removed something this
                           run had made ("rolled back" is said only
                           then) */
    int rollback_ran;   /* the rollback ran (maybe with nothing to do) */
    char reason[NP_SESS_REASON_MAX]; /* why it stopped, "" when it did
                                        not */
    np_store_note store_note;        /* the store was corrupt: moved aside */
    int store_error; /* the store could not be read or written */
    char store_message[NP_ERROR_MSG_MAX + NP_ERROR_WHERE_MAX];
} np_sess_report;

void np_sess_report_free(np_sess_report *rep);

/* Options of a session; zero-initialise, then set what matters. */
typedef struct np_sess_opts {
    np_addr device;       /* empty: this host */
    const char *owner;    /* store owner: NULL "cli"; the daemon gives the
                             device's name (also the mapping's label) */
    uint32_t lease;       /* seconds; 0: NP_SESS_DEFAULT_LEASE */
    int permanent;        /* ask for permanent mappings */
    enum np_pm_proto via; /* NP_PM_NONE: any, by preference */
    const enum np_pm_proto *prefer;      /* NP_PM_NONE-terminated preference for
                                            discovery (daemon config); NULL:
                                            PCP, NAT-PMP, UPnP */
    np_addr gateway;                     /* empty: the default gateway */
    int timeout_ms;                      /* per request; 0: portmap's default */
    const volatile sig_atomic_t *cancel; /* the caller's flag, may be NULL */
    np_portmap *pm;  /* borrowed, discovered; NULL: the session
                        makes and discovers its own */
    np_store *store; /* borrowed, loaded; NULL: nothing is read or
                        recorded (the daemon keeps its own records
                        through store.h) */
    int side_table;  /* 1: on a conflict, when the portmap has no IGD, ask
                        the gateway's IGD for its table (an SSDP search,
                        read only) to name who holds the port, which PCP
                        and NAT-PMP never say; 0: never (unit tests) */
} np_sess_opts;

typedef struct np_session np_session;

/* A session (opts copied; pm and store borrowed). NULL with *err. */
np_session *np_session_new(const np_sess_opts *opts, np_error *err);
void np_session_free(np_session *s);

/*
 * Discover the gateway when the session owns its portmap (opts.pm NULL):
 * for NP_SESS_APPLY by the preference (PCP > NAT-PMP > UPnP, or opts.via);
 * for VERIFY and CLOSE UPnP first (its table shows what a console mapped
 * itself). With a borrowed portmap it only copies its discovery. out may
 * be NULL. NP_ETIMEOUT when no protocol answered, NP_ECANCELED when the
 * cancel flag was raised.
 */
int np_session_discover(np_session *s, enum np_sess_op purpose,
                        np_pm_discovery *out, np_error *err);

/* The portmap the session uses (borrowed or its own); NULL before
 * discovery. Valid until np_session_free. */
np_portmap *np_session_portmap(np_session *s);

/*
 * Which protocol a session with these options WILL use first for the
 * device, given a discovery: opts->via if it answered; else the preferred
 * protocol that answered and can map for that device (NAT-PMP cannot map
 * for another device). NP_PM_NONE when none can. opts may be NULL.
 */
enum np_pm_proto np_session_plan_proto(const np_pm_discovery *d,
                                       const np_sess_opts *opts);

/*
 * Map every rule (apply). Per rule: the request (with the stored PCP nonce
 * when natpilot made it before), the alternate-port rule, the record in the
 * store. Stops at the first essential rule that is not mapped, at an
 * unexpected failure, or when cancelled; then removes everything this run
 * made (rep->rolled_back when that removed something). rep is filled in
 * every case (free it with np_sess_report_free). NP_OK when the run ended
 * normally (whatever the router said), NP_ECANCELED when cancelled, other
 * codes when the run failed (rep->reason says why; rollback done).
 */
int np_session_apply(np_session *s, const np_sess_rule *rules, size_t n,
                     np_sess_report *rep, np_error *err);

/*
 * For each rule: mapped to the device (on its port, or on another external
 * port: alternate), mapped to another device (ELSEWHERE, holder), MISSING,
 * or UNKNOWN (only PCP/NAT-PMP, which cannot be asked without re-creating
 * the mapping, and natpilot did not make it). A mapping natpilot made with
 * PCP/NAT-PMP is renewed with its nonce when no table can be read.
 */
int np_session_verify(np_session *s, const np_sess_rule *rules, size_t n,
                      np_sess_report *rep, np_error *err);

/*
 * Remove natpilot's own mappings: the store's (PCP/NAT-PMP, with their
 * nonces) and the UPnP table's natpilot-tagged ones, for the rules given
 * (matched on internal or external port) or, with all, every one. With
 * opts.device set only that device's; else only this host's unless all.
 */
int np_session_close(np_session *s, const np_sess_rule *rules, size_t n,
                     int all, np_sess_report *rep, np_error *err);

/* --- one rule at a time (the daemon's renewals and removals) --- */

/*
 * Make or renew one rule for the session's device, with the protocol and
 * nonce it holds (prev_proto NP_PM_NONE / nonce NULL: new). Applies the
 * alternate-port rule. NP_OK when the router answered (out->outcome says
 * what it means: MAPPED, CONFLICT...); NP_ETIMEOUT / NP_EUNREACH when it
 * did not; NP_ECANCELED; other codes for local failures.
 */
int np_session_map_rule(np_session *s, const np_sess_rule *r,
                        enum np_pm_proto prev_proto, const uint8_t nonce[12],
                        np_sess_result *out, np_error *err);

/* Remove one mapping natpilot made (proto and nonce it was made with).
 * out->outcome REMOVED, GONE or FAILED; return codes as map_rule. */
int np_session_unmap(np_session *s, enum np_pm_proto proto, int transport,
                     uint16_t internal_port, uint16_t external_port,
                     const uint8_t nonce[12], np_sess_result *out,
                     np_error *err);

/*
 * Judge one rule of a device that maps itself against a router table
 * (np_portmap_list, UPnP): MAPPED when the device's own mapping is there, on
 * the rule's external port or another one (alternate set; an Xbox picks one
 * when a second Xbox holds UDP 3074), ELSEWHERE when another device holds
 * the rule's port (pm.holder, with its internal port), MISSING otherwise.
 * ext_ip is the router's external address (may be NULL). Pure; the
 * daemon's periodic check of such devices uses it. Returns out->outcome.
 */
enum np_sess_outcome np_session_judge_table(const np_pm_mapping *tab, size_t n,
                                            int transport, uint16_t port,
                                            const np_addr *device,
                                            const np_addr *ext_ip,
                                            np_sess_result *out);

/* --- rules --- */

/*
 * Append (transport, port) to rules[*n] (max entries), merging a duplicate
 * (essential ORed). NP_ENOMEM when full.
 */
int np_sess_rules_add(np_sess_rule *rules, size_t *n, size_t max, int transport,
                      uint16_t port, int essential, const char *label,
                      const char *feature);

/*
 * Append the inbound rules of a resolution, with the platform's
 * alternate-port facts set on the rules they name. Broad ("all ports")
 * rules are never mapped: they are counted in *skipped_broad (may be NULL).
 */
int np_sess_rules_from_resolved(np_sess_rule *rules, size_t *n, size_t max,
                                const np_resolved *res, size_t *skipped_broad);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_SESSION_H */
