/*
 * libFuzzer target for the two SSDP parsers: the UPnP backend's M-SEARCH
 * answer parser (np_pm_ssdp_parse) and the daemon's NOTIFY parser
 * (np_keeper_ssdp_notify). Any bytes: never read past the end, the
 * LOCATION returned always terminated (and an http:// URL for answers).
 * The LOCATION of an answer also goes through np__url_repoint (a loopback
 * or 0.0.0.0 host re-pointed at the answerer), and the bytes as text
 * through np__xml_unescape (router descriptions read back): both stay
 * terminated and never grow.
 * Seeds: tests/fuzz/corpus/ssdp/ (copies of tests/data/portmap/ssdp-*.txt).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/keeper.h"
#include "natpilot/portmap.h"
#include "portmap_int.h"

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
        {
            char out[256];
            np_addr from;
            int rp;

            if (np_addr_parse(&from, "192.0.2.1", 0, NULL) != NP_OK)
                abort();
            rp = np__url_repoint(loc, &from, out, sizeof(out));
            if (rp == 1 && (strnlen(out, sizeof(out)) >= sizeof(out) ||
                            strncmp(out, "http://192.0.2.1", 16) != 0))
                abort();
        }
    }
    {
        char *text = malloc(size + 1);
        size_t before;

        if (text != NULL) {
            memcpy(text, data, size);
            text[size] = '\0';
            before = strlen(text);
            np__xml_unescape(text);
            if (strlen(text) > before)
                abort();
            free(text);
        }
    }
    {
        long boot;

        if (np_keeper_ssdp_notify(copy, size, &boot, loc, sizeof(loc)) == 1 &&
            (loc[0] == '\0' || strnlen(loc, sizeof(loc)) >= sizeof(loc) ||
             boot < -1))
            abort();
    }
    free(copy);
    return 0;
}
