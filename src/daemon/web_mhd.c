/* libmicrohttpd loaded on demand (see web_mhd.h). */
#include <dlfcn.h>
#include <string.h>

#define NP_MHD_NO_MACROS
#include "web_mhd.h"

#ifndef NP_MHD_SONAME
#define NP_MHD_SONAME "libmicrohttpd.so.12"
#endif

np_mhd_api np_mhd;

/* dlsym's void * into a function pointer, without a cast that ISO C
 * forbids (POSIX guarantees the representation). */
static int sym(void *h, const char *name, void *fp, size_t size)
{
    void *p = dlsym(h, name);

    if (p == NULL)
        return 0;
    memcpy(fp, &p, size);
    return 1;
}

#define SYM(field, name) sym(h, name, &np_mhd.field, sizeof(np_mhd.field))

int np_mhd_load(np_error *err)
{
    static void *h;

    if (h != NULL)
        return NP_OK;
    h = dlopen(NP_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return np_error_set(err, NP_ENOTFOUND, NP_MHD_SONAME,
                            "the web interface needs libmicrohttpd (Debian: "
                            "apt install libmicrohttpd12): %s",
                            dlerror());
    if (!SYM(start_daemon, "MHD_start_daemon") ||
        !SYM(stop_daemon, "MHD_stop_daemon") || !SYM(run, "MHD_run") ||
        !SYM(get_timeout, "MHD_get_timeout") ||
        !SYM(get_daemon_info, "MHD_get_daemon_info") ||
        !SYM(get_connection_info, "MHD_get_connection_info") ||
        !SYM(lookup_connection_value, "MHD_lookup_connection_value") ||
        !SYM(create_response_from_buffer, "MHD_create_response_from_buffer") ||
        !SYM(create_response_from_buffer_with_free_callback,
             "MHD_create_response_from_buffer_with_free_callback") ||
        !SYM(add_response_header, "MHD_add_response_header") ||
        !SYM(queue_response, "MHD_queue_response") ||
        !SYM(destroy_response, "MHD_destroy_response")) {
        dlclose(h);
        h = NULL;
        memset(&np_mhd, 0, sizeof(np_mhd));
        return np_error_set(err, NP_EUNSUPP, NP_MHD_SONAME,
                            "this libmicrohttpd lacks a function the web "
                            "interface needs (0.9.71 or newer is)");
    }
    return NP_OK;
}
