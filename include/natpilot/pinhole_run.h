/*
 * natpilot: the IPv6 pinhole policy for one device (the open, verify and
 * close runs of `natpilot open|verify|close --ipv6`, and the daemon's
 * renewals), over pinhole.h's requests and its pinhole store.
 *
 * - np_ph_decide: the renew-or-add decision, pure (unit-tested). A pinhole
 *   of ours (in the store, or held by the daemon) is renewed
 *   (UpdatePinhole / PCP MAP with its nonce) when the caller's protocol
 *   allows; when the router answers the renewal with NoSuchEntry (it lost
 *   the pinhole: a restart) the pinhole is added again, with the same
 *   protocol and nonce. np_ph_renew runs that decision; the CLI's open and
 *   the daemon both go through it, so one router answer has one meaning.
 * - np_ph_apply / np_ph_verify / np_ph_close: one run over a set of rules
 *   (session.h's np_sess_rule), filling an np_ph_report (data; nothing
 *   here prints) and updating the store in memory. Saving the store is the
 *   caller's (it owns the path); when the save fails after an apply, the
 *   caller calls np_ph_rollback.
 *
 * Ownership: the np_pinhole and np_ph_store are borrowed. A report's items
 * are the report's (np_ph_report_free accepts a zeroed report).
 */
#ifndef NATPILOT_PINHOLE_RUN_H
#define NATPILOT_PINHOLE_RUN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "natpilot/pinhole.h"
#include "natpilot/session.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_PH_MANUAL_MAX 400

/* The renew-or-add decision. */
enum np_ph_action {
    NP_PH_ADD = 0, /* open a new pinhole */
    NP_PH_UPDATE,  /* renew ours */
    NP_PH_DONE     /* the last answer stands */
};

/*
 * known: a pinhole of ours exists (store entry or held) with protocol
 * stored; via: the protocol the caller asks for (NP_PM_NONE: any).
 * updated: an update was sent and the router answered with outcome.
 * Pure.
 */
enum np_ph_action np_ph_decide(int known, enum np_pm_proto stored,
                               enum np_pm_proto via, int updated,
                               enum np_pm_outcome outcome);

/*
 * Make or renew one pinhole. req carries the stored proto / uid / nonce
 * when known (req->proto NP_PM_NONE otherwise, or the protocol asked for).
 * *readded (may be NULL) is set when the router had lost it and it was
 * added again. Returns as np_pinhole_add.
 */
int np_ph_renew(np_pinhole *ph, np_ph_request *req, int known,
                enum np_pm_proto via, np_ph_result *res, int *readded,
                np_error *err);

/* Per-rule status words (the CLI's output). */
const char *np_ph_status_name(enum np_pm_outcome outcome);

typedef struct np_ph_item {
    int transport;
    uint16_t port;
    np_addr internal; /* address and port */
    char label[NP_SESS_LABEL_MAX];
    const char *status;         /* "open", "refused", "removed", ... */
    int ok;                     /* apply: opened; close: removed or gone */
    enum np_pm_outcome outcome; /* the router's answer */
    enum np_pm_proto proto;
    int code;
    char message[NP_PM_MSG_MAX];
    uint32_t lifetime;
    char uid[NP_PH_UID_MAX];
    char manual[NP_PH_MANUAL_MAX]; /* what to do by hand; "" none */
    int made;                      /* apply: added by this run */
    int in_store;                  /* verify */
    int reachable;                 /* verify: 1, 0, -1 not proven */
    int error;                     /* close: the request failed (err) */
    np_error err;
} np_ph_item;

typedef struct np_ph_report {
    np_ph_item *items; /* owned */
    size_t n;
    int opened, refused; /* apply */
    int removed, failed; /* close */
    int bad;             /* verify: missing, closed or not ours */
    int interrupted;     /* the cancel flag stopped the run */
    int rolled_back;     /* pinholes removed by the rollback */
    int store_changed;   /* the store needs saving */
} np_ph_report;

void np_ph_report_free(np_ph_report *r);

typedef struct np_ph_run {
    const np_sess_rule *rules;
    size_t n_rules;
    const np_addr *device;     /* the device's IPv6 address; NULL: this host */
    uint32_t lifetime;         /* apply: seconds, capped at 86400 */
    enum np_pm_proto via;      /* NP_PM_NONE: by preference */
    const np_v6_pinholes *sup; /* from np_pinhole_discover */
    int all;                   /* close: every entry of the store */
    const np_addr *stun;       /* verify: an RFC 5780 server over IPv6, or
                                  NULL (no proof from outside) */
    const volatile sig_atomic_t *cancel; /* the caller's flag, may be NULL */
} np_ph_run;

/*
 * Open or renew the rules' pinholes; the store gets what is open.
 * What counts as essential here is the run itself, not a rule: a router
 * refusing a pinhole is an answer, reported per rule with manual steps,
 * and rolls nothing back (a pinhole is one port: the others stay useful),
 * whatever np_sess_rule.essential says. An error that is not the router's
 * answer (a failed request, out of memory) or the cancel flag stops the
 * run and removes the pinholes this run added (renewed ones were there
 * before and stay), from the router and the store: a failed open leaves
 * no stray pinhole. NP_OK when the run completed (whatever the router
 * said), NP_ECANCELED when cancelled, other codes with err.
 */
int np_ph_apply(np_pinhole *ph, np_ph_store *st, const np_ph_run *run,
                np_ph_report *rep, np_error *err);

/* Remove the pinholes rep says this run added (made), from the router and
 * the store; for a caller whose save of the store failed. Returns how many
 * are left on the router. */
size_t np_ph_rollback(np_pinhole *ph, np_ph_store *st, np_ph_report *rep);

/* The router's view (UPnP CheckPinholeWorking for stored UPnP pinholes)
 * and, for this host's UDP ports with run->stun, a proof from outside. */
int np_ph_verify(np_pinhole *ph, const np_ph_store *st, const np_ph_run *run,
                 np_ph_report *rep, np_error *err);

/* Remove the stored pinholes the rules select (all with run->all; only
 * run->device's when given), newest first; removed or already-gone ones
 * leave the store. */
int np_ph_close(np_pinhole *ph, np_ph_store *st, const np_ph_run *run,
                np_ph_report *rep, np_error *err);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_PINHOLE_RUN_H */
