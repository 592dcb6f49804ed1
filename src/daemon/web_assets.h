/*
 * The web interface's files (src/daemon/web/), compiled in by
 * cmake/embed_web.cmake: nothing is read from disk or fetched at run time.
 */
#ifndef NP_WEB_ASSETS_H
#define NP_WEB_ASSETS_H

#include <stddef.h>

typedef struct np_web_asset {
    const char *path; /* "/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} np_web_asset;

extern const np_web_asset np_web_assets[];
extern const size_t np_web_asset_count;

/* The asset at path, or NULL. */
const np_web_asset *np_web_asset_find(const char *path);

#endif /* NP_WEB_ASSETS_H */
