/*
 * libnatpilot internals: hexadecimal, for digests in the catalog index, PCP
 * nonces in the mapping store, JSON \u escapes, OUIs and /proc/net/route.
 * Not public: reached through the include path src/lib.
 */
#ifndef NP_HEX_H
#define NP_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1. */
int np__hex_digit(char c);

/* n bytes as 2n lowercase hex digits into out (2n + 1 bytes, terminated). */
void np__hex_encode(char *out, const uint8_t *b, size_t n);

/* Exactly 2n hex digits in s into b[0..n): 0, or -1 (NULL, wrong length,
 * not a hex digit) with b unspecified. */
int np__hex_decode(uint8_t *b, size_t n, const char *s);

#endif /* NP_HEX_H */
