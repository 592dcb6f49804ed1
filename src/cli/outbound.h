/*
 * natpilot program: the outbound check as a report (cmd_outbound.c).
 *
 * verify --outbound, diagnose --outbound and the wizard all fill the same
 * options, get the same report from the library (advice.h's outbound
 * verdicts over the egress module) and render it with the same two
 * renderers; no command runs another.
 */
#ifndef NP_OUTBOUND_H
#define NP_OUTBOUND_H

#include <cjson/cJSON.h>

#include "natpilot/advice.h"
#include "natpilot/egress.h"
#include "natpilot/profile.h"

#define OUTBOUND_MAX_IDS 32

struct outbound_opts {
    const char *ids[OUTBOUND_MAX_IDS]; /* profile ids */
    size_t n_ids;
    const char *platform;     /* NULL: "pc" */
    const char *profiles_dir; /* NULL: none */
    const char *reflector;    /* NULL: the default; "none": no TCP */
    const char *stun[NP_EGRESS_MAX_STUN]; /* none: the default for UDP */
    size_t n_stun;
    const np_advice_ob_rule *extra; /* --port rules (essential) */
    size_t n_extra;
    size_t sample;        /* 0: the default */
    np_egress_config cfg; /* np_egress_config_init'ed, options set */
};

struct outbound_report {
    np_advice_outbound *ob; /* NULL until set up */
    np_egress_config cfg;   /* as run (servers resolved) */
    const char *reflector_text;
    np_catalog *cat; /* the rules' strings point into these */
    np_resolved *res;
    int exit_code; /* 0 ok, 1 essential blocked, 3 nothing reachable */
};

/* Defaults: pc, the default reflector and STUN, an initialised cfg. */
void outbound_opts_init(struct outbound_opts *o);

/*
 * Resolve the profiles and servers and run the check. Errors go to stderr
 * under cmd's name. Returns the exit code; r->ob->ran says whether there is
 * a report to render. Free with outbound_report_free.
 */
int outbound_check(const char *cmd, const struct outbound_opts *o,
                   struct outbound_report *r);
void outbound_report_free(struct outbound_report *r);

/* The renderers: text on stdout, and the JSON object (caller owns it). */
void outbound_print(const struct outbound_report *r);
cJSON *outbound_json(const struct outbound_report *r);

/*
 * verify's --outbound mode (cmd_outbound.c): not a command of its own but
 * the second half of `natpilot verify`, which hands over its argv before
 * parsing anything when --outbound is among them (so getopt runs once);
 * argv[0] is "verify". Returns the exit code.
 */
int outbound_verify_mode(int argc, char **argv);

#endif /* NP_OUTBOUND_H */
