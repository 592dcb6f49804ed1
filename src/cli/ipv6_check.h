/*
 * natpilot program: the IPv6 side of diagnose. The router's pinhole
 * support (np_pinhole_discover: PCP over IPv6 and SSDP over IPv6) is asked
 * on its own thread while the STUN probes run; the IPv6 probe itself runs
 * in the same poll loop as the IPv4 one (np_probe_run_jobs). The library
 * assesses (np_ipv6_assess); this file only renders.
 */
#ifndef NP_IPV6_CHECK_H
#define NP_IPV6_CHECK_H

#include <pthread.h>

#include <cjson/cJSON.h>

#include "natpilot/ipv6.h"
#include "natpilot/pinhole.h"
#include "natpilot/probe.h"
#include "natpilot/teredo.h"

struct ipv6_check {
    /* Local facts (ipv6_check_local). */
    np_ipv6_input in;
    /* The router's pinhole support, asked on a thread. */
    pthread_t thread;
    int started, asked;
    int rc;
    np_error err;
    np_v6_pinholes pinholes;
    /* RFC 4380 qualification against --teredo SERVER, on a thread. */
    np_addr teredo_server;
    pthread_t tthread;
    int tstarted, tasked, trc;
    np_teredo_qual qual;
};

/* Global address and default route of this host. */
void ipv6_check_local(struct ipv6_check *c);
/* Ask the router about pinholes on a thread (when IPv6 is configured). */
void ipv6_check_router_start(struct ipv6_check *c);
void ipv6_check_router_finish(struct ipv6_check *c);

/* Qualify against c->teredo_server (when set) on a thread. */
void ipv6_check_teredo_start(struct ipv6_check *c);
/* Wait; returns the run (NULL when none was made or it failed). */
const np_teredo_qual *ipv6_check_teredo_finish(struct ipv6_check *c);

void ipv6_print(const np_ipv6_report *r, const np_probe_obs *o);
cJSON *ipv6_json(const np_ipv6_report *r, const np_probe_obs *o);
void teredo_print(const np_teredo_outlook *t, const np_teredo_qual *q);
cJSON *teredo_json(const np_teredo_outlook *t, const np_teredo_qual *q);
void plan6_print(const np_v6_plan *p);
cJSON *plan6_json(const np_v6_plan *p);

#endif /* NP_IPV6_CHECK_H */
