/* libFuzzer target: the catalog index parser (jsonpos scanner, cJSON, the
 * index rules and the path checks) on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "natpilot/catalog.h"
#include "np_catalog_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    np_catalog_index *idx = NULL;
    np_error err;
    char buf[NP_ERROR_WHERE_MAX + NP_ERROR_MSG_MAX + 4], hex[65];
    size_t i;
    int r;

    r = np_catalog_index_parse("fuzz", (const char *)data, size, &idx, &err);
    np_error_format(&err, buf, sizeof(buf));
    if (r != NP_OK) {
        if (idx != NULL)
            __builtin_trap(); /* no output on error */
        return 0;
    }
    for (i = 0; i < idx->n_files; i++) {
        /* every accepted path passes the path check on its own */
        if (np_catalog_path_check(idx->files[i].path, NULL) != NP_OK ||
            idx->files[i].size == 0 || idx->files[i].size > NP_CATALOG_FILE_MAX)
            __builtin_trap();
        np__catalog_hex(idx->files[i].sha256, hex, sizeof(hex));
    }
    np_catalog_index_free(idx);
    return 0;
}
