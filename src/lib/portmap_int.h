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
#include "np_util.h"

/* What the front shares with every backend (read-only for them). */
typedef struct np__pm_ctx {
    np_pm_options opt;     /* with defaults filled in */
    np_addr gateway;       /* port 0 */
    np_addr local;         /* this host towards the gateway, port 0 */
    np_pm_discovery *disc; /* the front's; backends may add suspects */
} np__pm_ctx;

/*
 * The IGD version (1 or 2) an SSDP ST or NT value v[0..vl) names: an
 * InternetGatewayDevice or a WANIPConnection / WANPPPConnection service;
 * 0 for anything else (a media server, upnp:rootdevice, a uuid).
 */
int np__ssdp_igd_type(const char *v, size_t vl);

/*
 * Reading an SSDP message (HTTP over UDP), shared by the M-SEARCH answer
 * parser and the daemon's NOTIFY parser. np__ssdp_line: the next line of
 * buf[0..len) from *pos (LF or CR LF, the CR dropped), 0 at the end.
 * np__ssdp_header: 1 when line is header `name` (any case), with its value
 * trimmed. np__ssdp_location: 1 when the value is a whole http:// URL that
 * fits loc (no NUL inside to cut it short), copied and terminated.
 */
int np__ssdp_line(const char *buf, size_t len, size_t *pos, const char **line,
                  size_t *llen);
int np__ssdp_header(const char *line, size_t len, const char *name,
                    const char **v, size_t *vlen);
int np__ssdp_location(const char *v, size_t vl, char *loc, size_t locsize);

/*
 * XML-escape s into out (cap bytes, always terminated): & < > " ' become
 * entities, control characters other than tab are dropped. miniupnpc puts
 * SOAP arguments into the body as they are ("Tom & Ana" makes a broken
 * body, 402 from a strict IGD), so every string natpilot passes goes
 * through this. 0, or -1 when it had to be cut (never inside an entity or
 * a UTF-8 sequence).
 */
int np__xml_escape(const char *s, char *out, size_t cap);

/*
 * The reverse, in place, for text miniupnpc hands back from a SOAP answer
 * without decoding it (a description): &amp; &lt; &gt; &quot; &apos; and
 * &#N; / &#xN; for ASCII; anything else is left as it is.
 */
void np__xml_unescape(char *s);

/*
 * A LOCATION URL ("http://HOST[:PORT]/path") whose host cannot be reached
 * (loopback, 0.0.0.0: some TP-Link firmwares) re-pointed at the address
 * that answered: 1 with the new URL in out, 0 when the host is usable (out
 * untouched), -1 when it does not parse or fit.
 */
int np__url_repoint(const char *url, const np_addr *answered, char *out,
                    size_t cap);

/* 1 when a is inside local's subnet of prefix_len bits (same family); a
 * prefix_len of 0 (unknown) means /24 for IPv4 and /64 for IPv6. */
int np__on_lan(const np_addr *a, const np_addr *local, unsigned prefix_len);

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

/* Fill res->outcome/code/message/proto in one go. */
void np__pm_result_set(np_pm_result *res, enum np_pm_proto proto,
                       enum np_pm_outcome outcome, int code, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

/* Append "; " (when not the first) and the formatted text to d->note. */
void np__pm_note(np_pm_discovery *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record a response from an unexpected source in d->suspects. */
void np__pm_suspect(np_pm_discovery *d, enum np_pm_proto proto,
                    const np_addr *from, const char *what);

#endif /* NP_PORTMAP_INT_H */
