/*
 * natpilotd's web interface: pages and a JSON API (docs/web-api.md) served
 * by libmicrohttpd inside the keeper's own poll() loop (MHD's external
 * epoll mode: one descriptor added to the keeper's poll set, no thread, no
 * timer while no connection is open). Off unless the configuration's "web"
 * section (or --web) enables it.
 *
 * The pages ask, the library decides: every handler calls libnatpilot (the
 * keeper's status, the catalog, netinfo, probe + nat, the configuration)
 * and serialises what it answers.
 */
#ifndef NP_WEB_H
#define NP_WEB_H

#include "natpilot/config.h"
#include "natpilot/error.h"
#include "natpilot/keeper.h"

typedef struct np_web np_web;

/*
 * Start serving cfg->web (read at this moment; a reload does not move the
 * listener) for keeper k, whose loop then runs it. The login secret is read
 * from (or created in) cfg->web.token_file, with a read-only metrics token
 * beside it (token_file + "-metrics"). log receives one line per event
 * (the secret's file, refused connections). NULL with *err on failure.
 */
np_web *np_web_start(np_keeper *k, const np_config *cfg,
                     const char *config_path, np_keeper_log_fn log,
                     void *log_ud, np_error *err);
void np_web_stop(np_web *w);

/* internal, shared by web.c and web_api.c ------------------------------- */

struct MHD_Connection;

typedef struct np_web_req {
    struct MHD_Connection *conn;
    const char *method, *url;
    const char *body; /* NUL-terminated; "" when none */
    size_t body_len;
    /* the answer, filled by a handler */
    unsigned status;
    char *out;            /* malloc'ed body */
    const char *out_type; /* content type */
    char set_cookie[200]; /* "" when none */
} np_web_req;

/* Handlers (web_api.c): 1 when the path was theirs (r->status and r->out
 * set), 0 when not found. */
int np__web_api(np_web *w, np_web_req *r, const char *path);
/* The /metrics text. */
int np__web_metrics(np_web *w, np_web_req *r);

/* Answer helpers (web.c). */
void np__web_json(np_web_req *r, unsigned status, char *json);
void np__web_error(np_web_req *r, unsigned status, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
np_keeper *np__web_keeper(np_web *w);
const char *np__web_config_path(np_web *w);
const np_config *np__web_config(np_web *w);
void np__web_log(np_web *w, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The last diagnosis as JSON (owned by w) and its generic label, or NULL. */
void np__web_set_diagnosis(np_web *w, const char *generic);
const char *np__web_last_nat(np_web *w);

#endif /* NP_WEB_H */
