/*
 * libFuzzer target for the SSDP response parser of the UPnP backend
 * (np_pm_ssdp_parse): any bytes, never read past the end, the LOCATION it
 * returns always terminated and an http:// URL. Seeds:
 * tests/fuzz/corpus/ssdp/ (copies of tests/data/portmap/ssdp-*.txt).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/portmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char loc[256];
    char *copy = malloc(size ? size : 1);
    int ver = 0;

    if (copy == NULL)
        return 0;
    /* an exact-size copy, so ASan sees any read past the end */
    memcpy(copy, data, size);
    if (np_pm_ssdp_parse(copy, size, loc, sizeof(loc), &ver) == 1) {
        if (strnlen(loc, sizeof(loc)) >= sizeof(loc) ||
            strncmp(loc, "http://", 7) != 0 || (ver != 1 && ver != 2))
            abort();
    }
    free(copy);
    return 0;
}
