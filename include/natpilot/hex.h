/*
 * natpilot: hexadecimal, for digests in the catalog index and PCP nonces
 * in the state files.
 */
#ifndef NATPILOT_HEX_H
#define NATPILOT_HEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The value of one hex digit (either case), or -1. */
int np_hex_digit(char c);

/* n bytes as 2n lowercase hex digits into out (2n + 1 bytes, terminated). */
void np_hex_encode(char *out, const uint8_t *b, size_t n);

/* Exactly 2n hex digits in s into b[0..n): 0, or -1 (NULL, wrong length,
 * not a hex digit) with b unspecified. */
int np_hex_decode(uint8_t *b, size_t n, const char *s);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_HEX_H */
