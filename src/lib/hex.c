/* natpilot: hexadecimal (see np_hex.h). */
#include <string.h>

#include "np_hex.h"

int np__hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void np__hex_encode(char *out, const uint8_t *b, size_t n)
{
    static const char h[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = h[b[i] >> 4];
        out[2 * i + 1] = h[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int np__hex_decode(uint8_t *b, size_t n, const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != 2 * n)
        return -1;
    for (i = 0; i < n; i++) {
        int hi = np__hex_digit(s[2 * i]), lo = np__hex_digit(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
