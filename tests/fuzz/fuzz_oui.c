/* libFuzzer: the oui.csv parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "natpilot/oui.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t mac[6] = {0x98, 0xe8, 0xfa, 0, 0, 0};
    char vendor[64];

    (void)np_oui_find((const char *)data, size, mac, vendor, sizeof(vendor),
                      NULL);
    return 0;
}
