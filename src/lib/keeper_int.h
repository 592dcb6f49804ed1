/*
 * Internal: the keeper's data, shared by keeper.c (the loop and the
 * mappings) and keeper_state.c (state file, status JSON, SSDP parsing).
 */
#ifndef NP_KEEPER_INT_H
#define NP_KEEPER_INT_H

#include <stdint.h>

#include "natpilot/keeper.h"
#include "natpilot/pinhole.h"
#include "natpilot/portmap.h"
#include "natpilot/store.h"
#include "np_util.h"

#define NP__KEEP_MAX_PER_DEVICE 64
#define NP__KEEP_ERR_MAX        400

enum np__ent_state {
    NP__ENT_PENDING = 0, /* not yet asked */
    NP__ENT_HELD,        /* mapped by us (map mode) */
    NP__ENT_REFUSED,     /* the router said no (map mode) */
    NP__ENT_PRESENT,     /* mapped to the device (verify mode) */
    NP__ENT_MISSING,     /* not mapped (verify mode) */
    NP__ENT_ELSEWHERE,   /* mapped to another device (verify mode) */
    NP__ENT_UNKNOWN      /* cannot tell (verify mode without UPnP) */
};

/* One port of one device. */
typedef struct np__ent {
    size_t dev; /* index in cfg->devices */
    int transport;
    uint16_t port;
    int alt_port;           /* the platform accepts another external port */
    int state;              /* enum np__ent_state */
    enum np_pm_proto proto; /* the protocol holding it */
    np_addr external;       /* external address and port */
    uint32_t lifetime;      /* granted */
    int64_t expires;        /* wall clock, unix seconds; 0 unknown */
    int64_t due;            /* monotonic ms of the next action */
    uint8_t nonce[12];
    unsigned failures;
    int64_t renewed;            /* wall clock of the last grant; 0 never */
    char holder[NP_ADDRSTRLEN]; /* verify: who holds it instead */
    char last_error[NP__KEEP_ERR_MAX];
} np__ent;

/* A mapping left by a crashed run, to remove. */
typedef struct np__orphan {
    enum np_pm_proto proto;
    int transport;
    uint16_t port, ext_port;
    np_addr internal; /* port 0 */
    np_addr gateway;  /* the router it was made on */
    uint8_t nonce[12];
    int64_t expires;
    char device[NP_CFG_NAME_MAX];
} np__orphan;

/* One IPv6 pinhole of a device with an address6 (keeper_pinhole.c). */
typedef struct np__pin {
    size_t dev;
    int transport;
    uint16_t port;
    int held;          /* opened by us */
    np_ph_request req; /* protocol, UniqueID / nonce once held */
    int64_t due;       /* monotonic ms of the next action */
    unsigned failures;
    char last_error[NP__KEEP_ERR_MAX];
} np__pin;

enum np__router_state { NP__R_UNKNOWN = 0, NP__R_UP, NP__R_DOWN };

struct np_keeper {
    np_keeper_opts opts;
    np_config *cfg;
    np_portmap *pm;
    np_pm_discovery disc;
    int lock_fd, status_fd, ssdp_fd, sig_fd;
    int stop;
    uint64_t rnd; /* xorshift state for the jitter */

    np__ent *ents;
    size_t n_ents;
    np__orphan *orphans;
    size_t n_orphans;

    int router; /* enum np__router_state */
    unsigned router_failures;
    int64_t router_due; /* discovery / retry (monotonic ms) */
    int64_t check_due;  /* periodic check */
    int have_epoch[NP_PM_NPROTO];
    uint32_t epoch[NP_PM_NPROTO];
    uint64_t epoch_client[NP_PM_NPROTO];
    long ssdp_bootid;
    char ssdp_location[256];
    int64_t last_restart; /* wall clock; 0 never */
    char last_restart_why[160];
    char last_error[NP__KEEP_ERR_MAX];
    int64_t started;
    int ssdp_joined;
    int ssdp_restart;     /* a new BOOTID / LOCATION was announced */
    int table_has_pcp;    /* the UPnP table lists PCP / NAT-PMP mappings */
    int table_seen;       /* the IGD answered a check once */
    unsigned upnp_misses; /* checks in a row the IGD did not answer since */
    np_pm_options pmopt;
    np_store *store; /* the state file, in the one mapping store's format */
    unsigned long n_restarts;       /* router restarts seen */
    unsigned long n_renew_failures; /* map / renew attempts that failed */
    np_keeper_ext ext;              /* extra event source (web); fd -1 */
    /* IPv6 pinholes (keeper_pinhole.c) */
    np__pin *pins;
    size_t n_pins;
    np_pinhole *ph; /* NULL until the IPv6 gateway answered */
    int64_t ph_due; /* next discovery attempt (monotonic ms) */
    unsigned ph_failures;
};

void np__keep_log(np_keeper *k, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write the state file through the mapping store (atomic, fsync'ed). */
int np__keep_state_write(np_keeper *k, np_error *err);
/* Read the state file into k->orphans (a missing file is NP_OK). */
int np__keep_state_read(np_keeper *k, np_error *err);
/* Remove the state file (clean stop). */
void np__keep_state_remove(np_keeper *k);

/* IPv6 pinholes of devices with an address6 (keeper_pinhole.c): built
 * from the map-mode entries, opened and renewed at about half the lease in
 * the keeper's loop, removed on stop. */
int np__keep_pins_build(np_keeper *k);
void np__keep_pins_process(np_keeper *k);
int64_t np__keep_pins_next_due(const np_keeper *k);
size_t np__keep_pins_teardown(np_keeper *k);
void np__keep_pins_free(np_keeper *k);

#endif /* NP_KEEPER_INT_H */
