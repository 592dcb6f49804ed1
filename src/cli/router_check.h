/*
 * natpilot program: the router's side of diagnose and the wizard. Discovery
 * of PCP, NAT-PMP and UPnP-IGD runs on its own thread while the STUN probe
 * runs, so it adds no time when the router answers; then the library's
 * advice module compares the router's external address with the
 * STUN-mapped one and draws a plan per console (router_check_conclude);
 * this file only renders that report, as text and as JSON.
 */
#ifndef NP_ROUTER_CHECK_H
#define NP_ROUTER_CHECK_H

#include <pthread.h>

#include <cjson/cJSON.h>

#include "natpilot/advice.h"
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
    /* Filled by router_check_conclude (the library's advice): */
    np_advice_dnat_verdict dnat;
    np_advice_plan_item plan[NP_ADVICE_PLAN_MAX];
    size_t n_plan; /* 0 when nothing answered the probe */
};

/* Start discovery on a thread; on failure it runs inline at finish. */
void router_check_start(struct router_check *rc);
/* Wait for the discovery to end. */
void router_check_finish(struct router_check *rc);
void router_check_free(struct router_check *rc);

/* Ask the library for the double-NAT verdict and the per-console plan. */
void router_check_conclude(struct router_check *rc, const np_probe_obs *o,
                           const np_nat_verdict *v);

/* Renderers of the concluded report. */
void router_print(const struct router_check *rc, const np_probe_obs *o);
cJSON *router_json(const struct router_check *rc, const np_probe_obs *o);
cJSON *router_plan_json(const struct router_check *rc);

#endif /* NP_ROUTER_CHECK_H */
