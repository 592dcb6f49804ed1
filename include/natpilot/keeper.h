/*
 * natpilot: the keeper behind `natpilot daemon` — keeps every configured
 * device's mappings alive across leases and router restarts, checks the
 * mappings of devices that map themselves, removes what it made when told
 * to stop, and records what it holds in a state file written atomically.
 *
 * One thread, one poll() loop: it sleeps until its next timer (a renewal at
 * about half the lease, a periodic check, a retry with exponential back-off
 * while the router does not answer) or until a signal, a status request, or
 * an SSDP announcement of the gateway arrives. It never prints: every event
 * goes to the caller's log callback as one line.
 *
 * Ownership: np_keeper_new takes ownership of cfg (also on failure). The
 * keeper owns its sockets and files; np_keeper_free closes them (it does not
 * remove mappings: np_keeper_run does that before returning).
 */
#ifndef NATPILOT_KEEPER_H
#define NATPILOT_KEEPER_H

#include "natpilot/config.h"
#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One event, one line, no newline; level is enum np_log_level. */
typedef void (*np_keeper_log_fn)(void *ud, int level, const char *line);

typedef struct np_keeper_opts {
    const char *config_path; /* re-read on SIGHUP; kept as a pointer */
    np_keeper_log_fn log;    /* may be NULL */
    void *log_ud;
    /* A signalfd(2) for SIGTERM, SIGINT and SIGHUP (the caller blocks them),
     * or -1: then only np_keeper_stop ends the loop. */
    int signal_fd;
    const char *version; /* shown in the status; may be NULL */
} np_keeper_opts;

typedef struct np_keeper np_keeper;

/*
 * A keeper for cfg (taken, also on failure). cat is only read here, to turn
 * each device's profiles into ports; it may be freed afterwards. NULL with
 * *err on failure.
 */
np_keeper *np_keeper_new(const np_keeper_opts *opts, np_config *cfg,
                         const np_catalog *cat, np_error *err);
void np_keeper_free(np_keeper *k);

/*
 * Take the state file's lock, open the status socket, and read the state a
 * crashed predecessor left (its mappings are removed before anything else
 * is mapped). On failure nothing has been mapped and nothing is left behind.
 */
int np_keeper_start(np_keeper *k, np_error *err);

/*
 * The loop, until SIGTERM / SIGINT: then every mapping the keeper made is
 * removed and the state file deleted (kept, listing the leftovers, when the
 * router could not be reached). NP_OK on a clean stop.
 */
int np_keeper_run(np_keeper *k, np_error *err);

/* The status as a JSON text (malloc'ed, the caller frees), or NULL. */
char *np_keeper_status_json(np_keeper *k);

/*
 * An extra event source served by the keeper's loop, in its thread (the
 * daemon's web interface): fd is polled for POLLIN beside the keeper's own;
 * timeout (may be NULL) answers how many ms the source may sleep without
 * an event (-1: no limit); run is called when fd is readable or that time
 * has passed. An idle source with no timeout adds no wake-ups.
 */
typedef struct np_keeper_ext {
    int fd; /* -1: none */
    int64_t (*timeout)(void *ud);
    void (*run)(void *ud);
    void *ud;
} np_keeper_ext;
void np_keeper_set_ext(np_keeper *k, const np_keeper_ext *ext);

/*
 * Reload the configuration file now, exactly as on SIGHUP (devices added,
 * removed or changed; paths and protocols only with a restart). 1 when the
 * new configuration is in force, 0 when it failed to load (the running one
 * is kept; the reasons are logged).
 */
int np_keeper_reload(np_keeper *k);

/* The configuration in force (owned by the keeper; valid until the next
 * reload or np_keeper_free). */
const np_config *np_keeper_config(const np_keeper *k);

/* --- pure helpers (unit-tested) --- */

/* Renewal delay in ms for a granted lease: 40-50 % of it, by rnd (0..1). */
int64_t np_keeper_renew_delay_ms(uint32_t lease_s, double rnd);
/* Back-off in ms after `failures` failed attempts (1, 2, ...), capped. */
int64_t np_keeper_backoff_ms(unsigned failures, int64_t cap_ms);
/*
 * Parse one SSDP datagram: 1 when it is a NOTIFY ssdp:alive announcing an
 * Internet gateway (NT an InternetGatewayDevice or WAN*Connection; other
 * devices on the same box, a media server say, have LOCATIONs of their own
 * and must not look like a restart), with the BOOTID.UPNP.ORG value in
 * *bootid (-1 when absent) and the LOCATION into loc; 0 otherwise.
 */
int np_keeper_ssdp_notify(const char *buf, size_t len, long *bootid, char *loc,
                          size_t locsize);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_KEEPER_H */
