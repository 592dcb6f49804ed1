/*
 * libFuzzer target for the PCP response decoder: decode any bytes; when they
 * decode, re-encode what was understood and check it decodes to the same
 * values, and exercise nonce matching. Seeds: tests/fuzz/corpus/pcp/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/pcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

/* Requests too (the lab's fake servers decode them). */
static void request(const uint8_t *data, size_t size)
{
    np_pcp_request q, back;
    uint8_t out[NP_PCP_MAX_MSG];
    np_error err;
    size_t len = 0;
    int rc;

    rc = np_pcp_decode_request(data, size, &q, &err);
    if (rc != NP_OK) {
        CHECK(rc == NP_ETRUNC || rc == NP_EPARSE);
        CHECK(strncmp(err.where, "byte ", 5) == 0);
        return;
    }
    if (q.version != NP_PCP_VERSION || !q.has_map)
        return;
    rc = np_pcp_encode_map(out, sizeof(out), &q.map, &len, &err);
    if (rc != NP_OK) {
        CHECK(rc == NP_EINVAL);
        return;
    }
    CHECK(np_pcp_decode_request(out, len, &back, &err) == NP_OK);
    CHECK(back.has_map && back.opcode == NP_PCP_OP_MAP);
    CHECK(memcmp(back.map.nonce, q.map.nonce, NP_PCP_NONCE_LEN) == 0);
    CHECK(back.map.protocol == q.map.protocol);
    CHECK(back.map.internal_port == q.map.internal_port);
    CHECK(back.map.suggested_external_port == q.map.suggested_external_port);
    CHECK(back.map.lifetime == q.map.lifetime);
    CHECK(np_addr_same_ip(&back.map.client, &q.map.client));
    CHECK(np_addr_same_ip(&back.map.suggested_external,
                          &q.map.suggested_external));
    CHECK(np_addr_same_ip(&back.map.third_party, &q.map.third_party));
    CHECK(back.map.prefer_failure == q.map.prefer_failure);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    np_pcp_response r, back;
    np_pcp_map_request req;
    np_pcp_epoch epoch;
    uint8_t out[NP_PCP_MAX_MSG];
    np_error err;
    size_t len = 0;
    int rc;

    request(data, size);
    np_error_clear(&err);
    rc = np_pcp_decode_response(data, size, &r, &err);
    if (rc != NP_OK) {
        CHECK(rc == NP_ETRUNC || rc == NP_EPARSE);
        CHECK(strncmp(err.where, "byte ", 5) == 0);
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    CHECK(r.n_unknown_options <= NP_PCP_MAX_UNKNOWN_OPTS);
    CHECK(np_pcp_result_name(r.result) != NULL);
    CHECK(np_pcp_result_message(r.result) != NULL);

    /* A request built from the response's own fields must match it. */
    memset(&req, 0, sizeof(req));
    memcpy(req.nonce, r.nonce, sizeof(req.nonce));
    req.protocol = r.protocol;
    req.internal_port = r.internal_port;
    if (r.options & NP_PCP_HAS_THIRD_PARTY)
        req.third_party = r.third_party;
    CHECK(np_pcp_response_matches(&r, &req) ==
          (!r.natpmp_reply && r.has_map && r.version == NP_PCP_VERSION &&
           r.opcode == NP_PCP_OP_MAP));

    memset(&epoch, 0, sizeof(epoch));
    CHECK(np_pcp_epoch_lost_state(&epoch, r.epoch, 100) == 0);
    (void)np_pcp_epoch_lost_state(&epoch, r.lifetime, 100 + r.epoch % 4096);

    /* Round trip of what was understood (the options' order and unknown
     * options are not kept, so compare fields, not bytes). */
    CHECK(np_pcp_encode_response(out, sizeof(out), &r, &len, &err) == NP_OK);
    CHECK(np_pcp_decode_response(out, len, &back, &err) == NP_OK);
    CHECK(back.natpmp_reply == r.natpmp_reply);
    CHECK(back.version == r.version);
    CHECK(back.result == r.result);
    CHECK(back.epoch == r.epoch);
    if (r.natpmp_reply)
        return 0;
    CHECK(back.opcode == r.opcode);
    CHECK(back.lifetime == r.lifetime);
    if (r.version != NP_PCP_VERSION)
        return 0;
    CHECK(back.has_map == r.has_map);
    if (r.has_map) {
        CHECK(memcmp(back.nonce, r.nonce, NP_PCP_NONCE_LEN) == 0);
        CHECK(back.protocol == r.protocol);
        CHECK(back.internal_port == r.internal_port);
        CHECK(back.external_port == r.external_port);
        CHECK(np_addr_equal(&back.external, &r.external));
    }
    CHECK(
        (back.options & (NP_PCP_HAS_THIRD_PARTY | NP_PCP_HAS_PREFER_FAILURE)) ==
        (r.options & (NP_PCP_HAS_THIRD_PARTY | NP_PCP_HAS_PREFER_FAILURE)));
    if (r.options & NP_PCP_HAS_THIRD_PARTY)
        CHECK(np_addr_same_ip(&back.third_party, &r.third_party));
    return 0;
}
