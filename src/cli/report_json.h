/*
 * natpilot program: the JSON of the mapping session's reports, one copy
 * for the CLI's --json (open, verify, wizard) and the daemon's web API
 * (src/daemon/web_api.c): the same report, the same fields. Field names
 * are stable: scripts and the page use them (docs/web-api.md).
 *
 * Built into np_web (linked by natpilot and by natpilotd, which has no
 * libcurl): only libnatpilot and cJSON here.
 */
#ifndef NP_REPORT_JSON_H
#define NP_REPORT_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "natpilot/portmap.h"
#include "natpilot/profile.h"
#include "natpilot/session.h"

/* The gateway as discovered: addresses, protocols that answered, chosen. */
cJSON *pm_discovery_json(const np_pm_discovery *d);

/* One rule of an apply (open --json's "rules" entries). */
cJSON *np_rj_apply_rule(const np_sess_result *x);

/* An apply report (open --json without store_warning): discovery, rules,
 * rolled_back, rollback_reason, mapped, total. */
cJSON *np_rj_apply_report(const np_sess_report *rep, size_t total);

/* One rule of a verify (verify --json's "rules" entries): status is the
 * session's outcome name unless status_override is not NULL ("unreachable"
 * when the reachability proof failed); reachability NULL: null (and no
 * reachability_reason / reachability_why). */
cJSON *np_rj_verify_rule(const np_sess_result *x, const char *status_override,
                         const char *reachability, const char *reason,
                         const char *why);

/* Profiles, as profiles --json and the web API show them: a platform set
 * as ["xbox", ...], a list of strings, a source (null when NULL), rules. */
cJSON *np_rj_platforms(unsigned set);
cJSON *np_rj_strings(const char *const *s, size_t n);
cJSON *np_rj_source(const np_source *s);
cJSON *np_rj_rules(const np_rule *rules, size_t n);

#endif /* NP_REPORT_JSON_H */
