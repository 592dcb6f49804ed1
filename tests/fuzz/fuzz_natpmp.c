/*
 * libFuzzer target for the NAT-PMP response decoder: decode any bytes; when
 * they decode, re-encode and check the values survive.
 * Seeds: tests/fuzz/corpus/natpmp/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/natpmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void request(const uint8_t *data, size_t size)
{
    np_natpmp_map_request q, back;
    uint8_t out[16];
    np_error err;
    size_t len = 0;
    int rc;

    rc = np_natpmp_decode_request(data, size, &q, &err);
    if (rc != NP_OK) {
        CHECK(rc == NP_ETRUNC || rc == NP_EPARSE || rc == NP_EUNSUPP);
        CHECK(strncmp(err.where, "byte ", 5) == 0);
        return;
    }
    if (q.opcode == NP_NATPMP_OP_PUBLIC_ADDRESS)
        return;
    rc = np_natpmp_encode_map(out, sizeof(out), &q, &len, &err);
    if (rc != NP_OK) {
        CHECK(rc == NP_EINVAL && q.internal_port == 0 && q.lifetime != 0);
        return;
    }
    CHECK(len == 12 && memcmp(out, data, 2) == 0 &&
          memcmp(out + 4, data + 4, 8) == 0);
    CHECK(np_natpmp_decode_request(out, len, &back, &err) == NP_OK);
    CHECK(memcmp(&back, &q, sizeof(q)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    np_natpmp_response r, back;
    uint8_t out[64];
    np_error err;
    size_t len = 0;
    int rc;

    request(data, size);
    np_error_clear(&err);
    rc = np_natpmp_decode_response(data, size, &r, &err);
    if (rc != NP_OK) {
        CHECK(rc == NP_ETRUNC || rc == NP_EPARSE);
        CHECK(strncmp(err.where, "byte ", 5) == 0);
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    CHECK(size >= 8);
    CHECK(np_natpmp_result_message(r.result) != NULL);
    if (r.has_address || r.has_map || r.opcode > 2) {
        CHECK(np_natpmp_encode_response(out, sizeof(out), &r, &len, &err) ==
              NP_OK);
        CHECK(len <= size);
        CHECK(memcmp(out, data, 8) == 0);
        CHECK(np_natpmp_decode_response(out, len, &back, &err) == NP_OK);
        CHECK(back.opcode == r.opcode && back.result == r.result &&
              back.epoch == r.epoch && back.has_map == r.has_map &&
              back.has_address == r.has_address &&
              back.internal_port == r.internal_port &&
              back.external_port == r.external_port &&
              back.lifetime == r.lifetime);
        if (r.has_address)
            CHECK(np_addr_equal(&back.external, &r.external));
    }
    return 0;
}
