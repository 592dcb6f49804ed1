/*
 * Internal: the table of functions each port-mapping backend provides
 * (portmap_pcp.c, portmap_natpmp.c, portmap_upnp.c), in the manner of
 * curl's vtls and libplum's protocol.h. portmap.c is the front: discovery
 * loop, protocol choice and fallback.
 */
#ifndef NP_PORTMAP_INT_H
#define NP_PORTMAP_INT_H

#include <stdint.h>

#include "natpilot/portmap.h"

/* What the front shares with every backend (read-only for them). */
typedef struct np__pm_ctx {
    np_pm_options opt; /* with defaults filled in */
    np_addr gateway;   /* port 0 */
    np_addr local;     /* this host towards the gateway, port 0 */
} np__pm_ctx;

/* Discovery answers of disc_recv. */
enum { NP__DISC_PENDING = 0, NP__DISC_ANSWERED = 1, NP__DISC_GAVE_UP = 2 };

typedef struct np__pm_backend {
    enum np_pm_proto proto;
    /* State for one np_portmap; NULL with *err on failure. */
    void *(*open)(const np__pm_ctx *ctx, np_error *err);
    void (*close)(void *st);
    /* Discovery: the socket to poll (-1 when none), the first request (and
     * re-sends when called again with attempt > 0), reading an answer,
     * and the work after the loop (UPnP: fetch the chosen IGD). */
    int (*disc_fd)(void *st);
    int (*disc_send)(void *st, int attempt, np_error *err);
    int (*disc_recv)(void *st, np_pm_discovery *d, np_error *err);
    int (*disc_finish)(void *st, np_pm_discovery *d, np_error *err);
    /* Operations; results in *res, return codes transport-level only. */
    int (*add)(void *st, const np_pm_request *req, np_pm_result *res,
               np_error *err);
    int (*get)(void *st, const np_pm_request *req, np_pm_result *res,
               np_error *err);
    int (*list)(void *st, np_pm_mapping **out, size_t *n,
                np_error *err); /* NULL: not available */
    int (*del)(void *st, const np_pm_request *req, np_pm_result *res,
               np_error *err);
    int (*external)(void *st, np_addr *out, np_error *err);
} np__pm_backend;

extern const np__pm_backend np__pm_pcp;
extern const np__pm_backend np__pm_natpmp;
extern const np__pm_backend np__pm_upnp;

/* Milliseconds of a monotonic clock. */
int64_t np__pm_now_ms(void);

/* Fill res->outcome/code/message/proto in one go. */
void np__pm_result_set(np_pm_result *res, enum np_pm_proto proto,
                       enum np_pm_outcome outcome, int code, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

/* Record a response from an unexpected source in d->suspects. */
void np__pm_suspect(np_pm_discovery *d, enum np_pm_proto proto,
                    const np_addr *from, const char *what);

/*
 * The PCP backend's own minimal RFC 6887 codec (MAP and ANNOUNCE only),
 * used until the full codec of include/natpilot/pcp.h takes its place.
 */
#define NP__PCP_VERSION     2
#define NP__PCP_OP_ANNOUNCE 0
#define NP__PCP_OP_MAP      1
#define NP__PCP_OPT_THIRD   1
#define NP__PCP_OPT_PREFER  2
#define NP__PCP_MAX         1100 /* RFC 6887 §7: max message size */

typedef struct np__pcp_map {
    uint8_t nonce[12];
    uint8_t protocol; /* 17 UDP, 6 TCP */
    uint16_t internal_port;
    uint16_t external_port; /* suggested (request) / assigned (response) */
    np_addr external;       /* suggested / assigned address, port 0 */
} np__pcp_map;

typedef struct np__pcp_resp {
    uint8_t version; /* 2; 0 when a NAT-PMP-only server answered */
    uint8_t opcode;  /* without the R bit */
    uint8_t result;
    uint32_t lifetime;
    uint32_t epoch;
    int has_map;
    np__pcp_map map;
} np__pcp_resp;

/* Encode a request; map is NULL for ANNOUNCE, third_party NULL if none. */
int np__pcp_encode(uint8_t *buf, size_t cap, size_t *len, uint8_t opcode,
                   uint32_t lifetime, const np_addr *client,
                   const np__pcp_map *map, const np_addr *third_party,
                   int prefer_failure);
/* Decode a response (RFC 6887 §7.2, §11.1); NP_EPARSE/NP_ETRUNC with the
 * byte offset in err->where. */
int np__pcp_decode(const uint8_t *buf, size_t len, np__pcp_resp *out,
                   np_error *err);

#endif /* NP_PORTMAP_INT_H */
