/*
 * natpilot program: what open, verify and close share: their options, the
 * rules they act on (from --port and from profiles), the router session,
 * and the small state file that remembers PCP/NAT-PMP mappings (their
 * nonces) between runs, since those protocols have no table to read.
 */
#ifndef NP_PMCLI_H
#define NP_PMCLI_H

#include <signal.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "natpilot/portmap.h"

#define PM_MAX_RULES 512
#define PM_MAX_IDS   32
#define PM_RANGE_MAX 256 /* ports one --port range may name */

struct pm_rule {
    int transport;     /* NP_PM_UDP / NP_PM_TCP */
    uint16_t port;     /* internal = external */
    int essential;     /* refusal rolls the whole run back (open) */
    char label[48];    /* profile id, or "port" for --port */
    char feature[96];  /* what it serves, "" when not said */
    uint16_t alt_port; /* the platform accepts this external port too */
};

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
    struct pm_rule rules[PM_MAX_RULES];
    size_t nrules;
    int timeout_ms;
    const char *stun; /* verify: STUN server for the reachability proof */
};

/* Parse argv; returns -1 to go on, else the exit code (usage/help). */
int pm_parse(int argc, char **argv, struct pm_args *a, const char *usage,
             int allow_all);

/* Rules from the profiles named in a->ids (appended to a->rules). Returns
 * -1 to go on, else an exit code (after printing the error). */
int pm_resolve_profiles(struct pm_args *a);

/* A portmap object with a->via / the default preference, discovered.
 * prefer_upnp puts UPnP first (table reads). On failure prints and sets
 * *exit_code (3: no router answered). */
np_portmap *pm_session(struct pm_args *a, int prefer_upnp, np_pm_discovery *d,
                       int *exit_code);

/* Fill a request for a rule. */
void pm_request(const struct pm_args *a, const struct pm_rule *r,
                np_pm_request *q);

/* JSON of the discovery. */
cJSON *pm_discovery_json(const np_pm_discovery *d);
void pm_print_discovery(const struct pm_args *a, const np_pm_discovery *d);

/* --- state file (PCP / NAT-PMP mappings made by natpilot) --- */

struct pm_state_entry {
    enum np_pm_proto proto;
    int transport;
    uint16_t internal_port, external_port;
    np_addr internal; /* empty: this host */
    np_addr gateway;
    uint8_t nonce[12];
};

struct pm_state {
    struct pm_state_entry *e;
    size_t n, cap;
};

int pm_state_load(struct pm_state *s);
/* NAME in the state directory (made when mk); 0 or -1. */
int pm_state_file(char *buf, size_t size, const char *name, int mk);
int pm_state_save(const struct pm_state *s);
void pm_state_free(struct pm_state *s);
/* Index of the entry for (transport, port, internal, gateway), or -1. */
long pm_state_find(const struct pm_state *s, int transport, uint16_t port,
                   const np_addr *internal, const np_addr *gateway);
void pm_state_put(struct pm_state *s, const struct pm_state_entry *e);
void pm_state_del(struct pm_state *s, size_t i);

/* Signals during apply (open): SIGINT/SIGTERM set this flag. */
extern volatile sig_atomic_t pm_interrupted;
void pm_catch_signals(void);

/* "udp 3074" */
const char *pm_rule_str(const struct pm_rule *r, char *buf, size_t size);

/* Print cJSON to stdout and free it. */
void pm_json_out(cJSON *j);

/* open / verify / close --ipv6 (cmd_pinhole.c): IPv6 pinholes for this
 * host; the commands dispatch to these when --ipv6 is in argv. */
int pm_has_ipv6(int argc, char **argv);
int np_cmd_open6(int argc, char **argv);
int np_cmd_verify6(int argc, char **argv);
int np_cmd_close6(int argc, char **argv);

#endif /* NP_PMCLI_H */
