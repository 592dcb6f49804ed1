/* libFuzzer target: the daemon's configuration parser (scanner, cJSON,
 * validator with positions) and the keeper's SSDP NOTIFY parser, on
 * arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "natpilot/config.h"
#include "natpilot/keeper.h"
#include "portmap_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    np_config *cfg = NULL;
    np_diags d;
    char buf[1024], loc[256];
    long boot;
    size_t i;

    np_diags_init(&d);
    if (np_config_parse("fuzz.conf", (const char *)data, size, NULL, &cfg, &d,
                        NULL) == 0 &&
        cfg != NULL) {
        for (i = 0; i < cfg->n_devices; i++)
            (void)strlen(cfg->devices[i].name);
    }
    for (i = 0; i < d.count; i++)
        np_diag_format(&d.items[i], buf, sizeof(buf));
    np_diags_free(&d);
    np_config_free(cfg);
    (void)np__pm_ssdp_notify((const char *)data, size, &boot, loc, sizeof(loc));
    return 0;
}
