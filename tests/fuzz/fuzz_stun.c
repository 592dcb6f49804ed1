/*
 * libFuzzer target for the STUN codec: decode any bytes; when they decode,
 * check MESSAGE-INTEGRITY with a fixed key, rebuild the message from the
 * decoded fields with the builder and check that it decodes to the same
 * values. Seeds: tests/fuzz/corpus/stun/ (the RFC 5769 vectors).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";

static uint8_t out[NP_STUN_HEADER_LEN + 0xFFFF];

static int same_span(const uint8_t *a, np_stun_span sa, const uint8_t *b,
                     np_stun_span sb)
{
    return sa.len == sb.len && memcmp(a + sa.off, b + sb.off, sa.len) == 0;
}

static void add_span(np_stun_builder *b, uint16_t attr, const uint8_t *buf,
                     np_stun_span s)
{
    np_stun_add_raw(b, attr, buf + s.off, s.len);
}

static void roundtrip(const uint8_t *data, const np_stun_msg *m)
{
    np_stun_builder b;
    np_stun_msg r;
    np_error err;
    size_t len = 0;
    uint32_t i;

    np_stun_builder_init(&b, out, sizeof(out), m->type, m->txid);
    if (m->present & NP_STUN_HAS_MAPPED)
        np_stun_add_addr(&b, NP_STUN_ATTR_MAPPED_ADDRESS, &m->mapped);
    if (m->present & NP_STUN_HAS_XOR_MAPPED)
        np_stun_add_xor_addr(&b, NP_STUN_ATTR_XOR_MAPPED_ADDRESS,
                             &m->xor_mapped);
    if (m->present & NP_STUN_HAS_OTHER_ADDRESS)
        np_stun_add_addr(&b, NP_STUN_ATTR_OTHER_ADDRESS, &m->other_address);
    if (m->present & NP_STUN_HAS_RESPONSE_ORIGIN)
        np_stun_add_addr(&b, NP_STUN_ATTR_RESPONSE_ORIGIN, &m->response_origin);
    if (m->present & NP_STUN_HAS_CHANGED_ADDRESS)
        np_stun_add_addr(&b, NP_STUN_ATTR_CHANGED_ADDRESS, &m->changed_address);
    if (m->present & NP_STUN_HAS_SOURCE_ADDRESS)
        np_stun_add_addr(&b, NP_STUN_ATTR_SOURCE_ADDRESS, &m->source_address);
    if (m->present & NP_STUN_HAS_CHANGE_REQUEST)
        np_stun_add_u32(&b, NP_STUN_ATTR_CHANGE_REQUEST, m->change_request);
    if (m->present & NP_STUN_HAS_RESPONSE_PORT)
        np_stun_add_u32(&b, NP_STUN_ATTR_RESPONSE_PORT,
                        (uint32_t)m->response_port << 16);
    if (m->present & NP_STUN_HAS_SOFTWARE)
        add_span(&b, NP_STUN_ATTR_SOFTWARE, data, m->software);
    if (m->present & NP_STUN_HAS_USERNAME)
        add_span(&b, NP_STUN_ATTR_USERNAME, data, m->username);
    if (m->present & NP_STUN_HAS_REALM)
        add_span(&b, NP_STUN_ATTR_REALM, data, m->realm);
    if (m->present & NP_STUN_HAS_NONCE)
        add_span(&b, NP_STUN_ATTR_NONCE, data, m->nonce);
    if (m->present & NP_STUN_HAS_ERROR_CODE) {
        uint8_t v[4 + 763];
        CHECK(m->error_reason.len <= 763);
        v[0] = 0;
        v[1] = 0;
        v[2] = (uint8_t)(m->error_code / 100);
        v[3] = (uint8_t)(m->error_code % 100);
        memcpy(v + 4, data + m->error_reason.off, m->error_reason.len);
        np_stun_add_raw(&b, NP_STUN_ATTR_ERROR_CODE, v,
                        4 + m->error_reason.len);
    }
    if (m->present & NP_STUN_HAS_UNKNOWN_ATTRS) {
        uint8_t v[2 * NP_STUN_MAX_UNKNOWN];
        for (i = 0; i < m->n_peer_unknown; i++) {
            v[2 * i] = (uint8_t)(m->peer_unknown[i] >> 8);
            v[2 * i + 1] = (uint8_t)m->peer_unknown[i];
        }
        np_stun_add_raw(&b, NP_STUN_ATTR_UNKNOWN_ATTRIBUTES, v,
                        2 * m->n_peer_unknown);
    }
    if (m->present & NP_STUN_HAS_PADDING)
        np_stun_add_raw(&b, NP_STUN_ATTR_PADDING, NULL, 0);
    np_stun_add_integrity(&b, key, sizeof(key) - 1);
    np_stun_add_fingerprint(&b);
    CHECK(np_stun_finish(&b, &len) == NP_OK);
    CHECK(np_stun_looks_like(out, len));
    CHECK(np_stun_decode(out, len, &r, &err) == NP_OK);
    CHECK(np_stun_check_integrity(out, len, &r, key, sizeof(key) - 1, &err) ==
          NP_OK);

    CHECK(r.type == m->type);
    CHECK(memcmp(r.txid, m->txid, NP_STUN_TXID_LEN) == 0);
    CHECK((r.present & ~(NP_STUN_HAS_INTEGRITY | NP_STUN_HAS_FINGERPRINT)) ==
          (m->present & ~(NP_STUN_HAS_INTEGRITY | NP_STUN_HAS_FINGERPRINT)));
    CHECK(r.n_unknown == 0);
    if (m->present & NP_STUN_HAS_MAPPED)
        CHECK(np_addr_equal(&r.mapped, &m->mapped));
    if (m->present & NP_STUN_HAS_XOR_MAPPED)
        CHECK(np_addr_equal(&r.xor_mapped, &m->xor_mapped));
    if (m->present & NP_STUN_HAS_OTHER_ADDRESS)
        CHECK(np_addr_equal(&r.other_address, &m->other_address));
    if (m->present & NP_STUN_HAS_RESPONSE_ORIGIN)
        CHECK(np_addr_equal(&r.response_origin, &m->response_origin));
    if (m->present & NP_STUN_HAS_CHANGED_ADDRESS)
        CHECK(np_addr_equal(&r.changed_address, &m->changed_address));
    if (m->present & NP_STUN_HAS_SOURCE_ADDRESS)
        CHECK(np_addr_equal(&r.source_address, &m->source_address));
    CHECK(r.change_request == m->change_request);
    CHECK(r.response_port == m->response_port);
    CHECK(r.error_code == m->error_code);
    CHECK(same_span(out, r.error_reason, data, m->error_reason));
    CHECK(same_span(out, r.software, data, m->software));
    CHECK(same_span(out, r.username, data, m->username));
    CHECK(same_span(out, r.realm, data, m->realm));
    CHECK(same_span(out, r.nonce, data, m->nonce));
    CHECK(r.n_peer_unknown == m->n_peer_unknown);
    for (i = 0; i < m->n_peer_unknown; i++)
        CHECK(r.peer_unknown[i] == m->peer_unknown[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    np_stun_msg m;
    np_error err;
    int rc;

    np_error_clear(&err);
    rc = np_stun_decode(data, size, &m, &err);
    if (rc != NP_OK) {
        CHECK(rc == NP_ETRUNC || rc == NP_EPARSE || rc == NP_EVERIFY);
        CHECK(strncmp(err.where, "byte ", 5) == 0);
        CHECK(err.msg[0] != '\0');
        return 0;
    }
    CHECK(np_stun_looks_like(data, size));
    CHECK(m.n_unknown <= NP_STUN_MAX_UNKNOWN);
    CHECK(m.software.off + m.software.len <= size);
    CHECK(m.error_reason.off + m.error_reason.len <= size);
    rc = np_stun_check_integrity(data, size, &m, key, sizeof(key) - 1, &err);
    CHECK(rc == NP_OK || rc == NP_ENOTFOUND || rc == NP_EVERIFY);
    CHECK((rc == NP_ENOTFOUND) == !(m.present & NP_STUN_HAS_INTEGRITY));
    roundtrip(data, &m);
    return 0;
}
