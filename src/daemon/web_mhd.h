/*
 * libmicrohttpd, loaded with dlopen(3) when the web interface is enabled.
 *
 * Why not linked: libmicrohttpd brings GnuTLS and its eight dependencies
 * (p11-kit, nettle, gmp, libunistring ...), about 3 MiB of resident memory
 * in every process that loads them, which would more than double the
 * daemon's footprint (about 2.3 MiB) for everyone, web interface or not.
 * Loaded on demand, only a daemon serving the interface pays for it.
 *
 * web.c and web_api.c include this header after <microhttpd.h>: the macros
 * below send each MHD_* call through the table np_mhd_load fills, so the
 * code reads as plain libmicrohttpd.
 */
#ifndef NP_WEB_MHD_H
#define NP_WEB_MHD_H

#include <microhttpd.h>

#include "natpilot/error.h"

typedef struct np_mhd_api {
    struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t,
                                       MHD_AcceptPolicyCallback, void *,
                                       MHD_AccessHandlerCallback, void *, ...);
    void (*stop_daemon)(struct MHD_Daemon *);
    enum MHD_Result (*run)(struct MHD_Daemon *);
    enum MHD_Result (*get_timeout)(struct MHD_Daemon *,
                                   MHD_UNSIGNED_LONG_LONG *);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *,
                                                   enum MHD_DaemonInfoType,
                                                   ...);
    const union MHD_ConnectionInfo *(*get_connection_info)(
        struct MHD_Connection *, enum MHD_ConnectionInfoType, ...);
    const char *(*lookup_connection_value)(struct MHD_Connection *,
                                           enum MHD_ValueKind, const char *);
    struct MHD_Response *(*create_response_from_buffer)(
        size_t, void *, enum MHD_ResponseMemoryMode);
    struct MHD_Response *(*create_response_from_buffer_with_free_callback)(
        size_t, void *, MHD_ContentReaderFreeCallback);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *,
                                           const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int,
                                      struct MHD_Response *);
    void (*destroy_response)(struct MHD_Response *);
} np_mhd_api;

extern np_mhd_api np_mhd;

/* Load libmicrohttpd (once; NP_OK afterwards). NP_ENOTFOUND with a
 * message naming the package when it is not installed. */
int np_mhd_load(np_error *err);

#ifndef NP_MHD_NO_MACROS
#define MHD_start_daemon                np_mhd.start_daemon
#define MHD_stop_daemon                 np_mhd.stop_daemon
#define MHD_run                         np_mhd.run
#define MHD_get_timeout                 np_mhd.get_timeout
#define MHD_get_daemon_info             np_mhd.get_daemon_info
#define MHD_get_connection_info         np_mhd.get_connection_info
#define MHD_lookup_connection_value     np_mhd.lookup_connection_value
#define MHD_create_response_from_buffer np_mhd.create_response_from_buffer
#define MHD_create_response_from_buffer_with_free_callback                     \
    np_mhd.create_response_from_buffer_with_free_callback
#define MHD_add_response_header np_mhd.add_response_header
#define MHD_queue_response      np_mhd.queue_response
#define MHD_destroy_response    np_mhd.destroy_response
#endif

#endif /* NP_WEB_MHD_H */
