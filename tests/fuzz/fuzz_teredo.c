/* libFuzzer target: the Teredo Router Advertisement decoder (RFC 4380) on
 * arbitrary bytes, with and without a nonce to match. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "natpilot/teredo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    np_addr o;
    np_error err;

    if (np_teredo_decode_ra(data, size, nonce, &o, &err) == NP_OK &&
        (np_addr_family(&o) != AF_INET || size < 77))
        __builtin_trap(); /* an accepted answer names an IPv4 origin */
    if (np_teredo_decode_ra(data, size, NULL, &o, &err) == NP_OK &&
        np_addr_family(&o) != AF_INET)
        __builtin_trap();
    return 0;
}
