/*
 * libnatpilot internals of the catalog updater (catalog.c), for its unit
 * tests and fuzz target; not part of the public API.
 */
#ifndef NP_CATALOG_INT_H
#define NP_CATALOG_INT_H

#include <stddef.h>

/* sha256 of data (OpenSSL EVP) into out[32]. NP_OK or NP_ENOMEM. */
int np__catalog_sha256(const void *data, size_t len, unsigned char out[32]);

/* Lowercase hex of a digest into buf (>= 65 bytes); returns buf. */
const char *np__catalog_hex(const unsigned char digest[32], char *buf,
                            size_t size);

#endif /* NP_CATALOG_INT_H */
