/* libFuzzer target: the profile loader (scanner, cJSON, validator, catalog
 * insertion, cross-file check, resolve and search) on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "natpilot/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;
    np_resolved *res = NULL;
    char buf[2048];
    size_t i;

    if (cat == NULL)
        return 0;
    np_diags_init(&d);
    /* No directory in the name: either kind is accepted, the id is "fuzz". */
    np_catalog_load_buffer(cat, "fuzz.json", (const char *)data, size,
                           NP_LAYER_CUSTOM, &d, NULL);
    for (i = 0; i < d.count; i++)
        np_diag_format(&d.items[i], buf, sizeof(buf));
    np_catalog_check(cat, NP_LAYER_EMBEDDED, &d);
    if (np_catalog_count(cat) > 0) {
        const char *ids[] = {"fuzz"};
        const char *words[] = {"fuzz", "gam"};
        np_search_hit hits[4];
        size_t n;
        unsigned p;
        for (p = 0; p <= NP_PLAT_PC; p = p ? p << 1 : 1) {
            if (np_resolve(cat, ids, 1, p, &res, NULL) == NP_OK)
                np_resolved_free(res);
        }
        np_catalog_search(cat, words, 2, 0, hits, 4, &n);
    }
    np_diags_free(&d);
    np_catalog_free(cat);
    return 0;
}
