/*
 * natpilot program: the router's side of diagnose. Discovery of PCP,
 * NAT-PMP and UPnP-IGD runs on its own thread while the STUN probe runs, so
 * it adds no time when the router answers; then the router's external
 * address is compared with the STUN-mapped one, and a plan per console is
 * drawn from the platform profiles.
 */
#ifndef NP_ROUTER_CHECK_H
#define NP_ROUTER_CHECK_H

#include <pthread.h>

#include <cjson/cJSON.h>

#include "natpilot/nat.h"
#include "natpilot/portmap.h"
#include "natpilot/probe.h"

struct router_check {
    pthread_t thread;
    int started;
    int rc; /* of the discovery */
    np_error err;
    np_pm_discovery disc;
    int any;             /* PCP, NAT-PMP or UPnP answered */
    np_pm_mapping *maps; /* the UPnP table (NULL when not read) */
    size_t n_maps;
    np_addr external; /* the router's external address, if it told */
};

/* Start discovery on a thread; on failure it runs inline at finish. */
void router_check_start(struct router_check *rc);
/* Wait for the discovery to end. */
void router_check_finish(struct router_check *rc);
void router_check_free(struct router_check *rc);

/* 1 double NAT, 0 the router holds the public address, -1 unknown. */
int router_double_nat(const struct router_check *rc, const np_probe_obs *o);

void router_print(const struct router_check *rc, const np_probe_obs *o,
                  const np_nat_verdict *v);
cJSON *router_json(const struct router_check *rc, const np_probe_obs *o);
cJSON *router_plan_json(const struct router_check *rc, const np_probe_obs *o,
                        const np_nat_verdict *v);

#endif /* NP_ROUTER_CHECK_H */
