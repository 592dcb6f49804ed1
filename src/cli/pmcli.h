/*
 * natpilot program: what open, verify and close share: their options, the
 * rules they act on (from --port and from profiles), and opening the
 * library's mapping session (src/lib/session.c holds the policy) with the
 * mapping store.
 */
#ifndef NP_PMCLI_H
#define NP_PMCLI_H

#include <signal.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "natpilot/portmap.h"
#include "natpilot/session.h"
#include "natpilot/store.h"
#include "report_json.h"

#define PM_MAX_RULES NP_SESS_MAX_RULES
#define PM_MAX_IDS   32
#define PM_RANGE_MAX 256 /* ports one --port range may name */

struct pm_args {
    const char *cmd;
    int json, all, permanent, have_for, help;
    uint32_t lease;
    enum np_pm_proto via;
    unsigned platform;
    const char *profiles_dir;
    np_addr for_addr;
    const char *ids[PM_MAX_IDS];
    size_t nids;
    np_sess_rule rules[PM_MAX_RULES];
    size_t nrules;
    int timeout_ms;
    const char *stun; /* verify: STUN server for the reachability proof */
    np_store_note store_note; /* what loading the store found */
};

/* Parse argv; returns -1 to go on, else the exit code (usage/help). */
int pm_parse(int argc, char **argv, struct pm_args *a, const char *usage,
             int allow_all);

/* Rules from the profiles named in a->ids (appended to a->rules). Returns
 * -1 to go on, else an exit code (after printing the error). */
int pm_resolve_profiles(struct pm_args *a);

/* pm_parse then pm_resolve_profiles on a (calloc'ed by the caller; NULL
 * reports out of memory). Returns -1 to go on, else the exit code. */
int pm_args_load(struct pm_args *a, int argc, char **argv, const char *usage,
                 int allow_all);

/*
 * The session for a command: options from the arguments, the mapping store
 * loaded (a corrupt one is moved aside and said on stderr), the gateway
 * discovered (op: NP_SESS_APPLY prefers PCP, verify and close UPnP). A
 * store moved aside is said on stderr at once and in a->store_note. On
 * failure prints the error and sets *exit_code (3: no router answered);
 * *st is set to the store (freed by the caller) in every case.
 */
np_session *pm_session_open(struct pm_args *a, enum np_sess_op op,
                            np_store **st, np_pm_discovery *d, int *exit_code);

/* Tell the user what the report says about the store (corrupt file moved
 * aside, a write that failed), on stderr; never in --json's stdout. */
void pm_store_notes(const struct pm_args *a, const np_sess_report *rep);

/* JSON of the discovery: pm_discovery_json in report_json.h. */
void pm_print_discovery(const struct pm_args *a, const np_pm_discovery *d);

/* Signals during apply (open): SIGINT/SIGTERM set this flag. */
extern volatile sig_atomic_t pm_interrupted;
void pm_catch_signals(void);

/* Print cJSON to stdout and free it. */
void pm_json_out(cJSON *j);

/* open / verify / close --ipv6 (cmd_pinhole.c): the IPv6 pinhole modes of
 * those commands, not commands of their own; each command hands over its
 * argv before parsing anything when --ipv6 is in it (getopt runs once). */
int pm_has_ipv6(int argc, char **argv);
int pinhole_open_mode(int argc, char **argv);
int pinhole_verify_mode(int argc, char **argv);
int pinhole_close_mode(int argc, char **argv);

#endif /* NP_PMCLI_H */
