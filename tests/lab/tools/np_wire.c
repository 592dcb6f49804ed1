/*
 * np_wire: one request, one decoded answer, through libnatpilot's wire
 * codecs (stun.h, pcp.h, natpmp.h), for interoperability tests against real
 * servers in the lab (coturn, Vovida stund, miniupnpd). IPv4 only. Prints
 * one line of "name value" pairs (see lab_field in lib.sh).
 *
 *   np_wire stun ADDR PORT [CHANGE_FLAGS]
 *       Binding request (np_stun_binding_request); prints from, type,
 *       txid_ok, fingerprint, xor_mapped, mapped, other (OTHER-ADDRESS or
 *       RFC 3489 CHANGED-ADDRESS), origin (RESPONSE-ORIGIN or SOURCE-ADDRESS),
 *       unknown.
 *   np_wire pcp-announce GW CLIENT
 *   np_wire pcp-map GW CLIENT udp|tcp PORT LIFETIME [THIRD_PARTY [pf]]
 *       PCP request (np_pcp_encode_*); prints from, version, natpmp, opcode,
 *       result (name), lifetime, epoch, match (nonce etc., MAP only),
 *       external, options, nonce (hex). The MAP nonce is random unless
 *       the environment gives NP_WIRE_NONCE (24 hex digits): renewing or
 *       deleting a mapping needs the nonce that created it (RFC 6887 15).
 *   np_wire natpmp-public GW
 *   np_wire natpmp-map GW udp|tcp PORT LIFETIME
 *       NAT-PMP request; prints from, opcode, result (name), epoch,
 *       external, internal_port, external_port, lifetime.
 *   np_wire epoch PREV_EPOCH PREV_TIME NEW_EPOCH NEW_TIME
 *       RFC 6887 section 8.5 check; prints "lost 0|1".
 *
 * Exit status: 0 decoded, 1 decode or usage error, 3 no answer in 2 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natpilot/natpmp.h"
#include "natpilot/pcp.h"
#include "natpilot/stun.h"

#define WAIT_MS 2000

static int die(const char *what)
{
    fprintf(stderr, "np_wire: %s\n", what);
    return 1;
}

static int num(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int proto_of(const char *s)
{
    if (strcmp(s, "udp") == 0)
        return 17;
    if (strcmp(s, "tcp") == 0)
        return 6;
    return -1;
}

/* Send q to addr:port and wait for one datagram; its length, -1 on error,
 * -3 on timeout. */
static int exchange(const np_addr *to, const uint8_t *q, size_t qn, uint8_t *r,
                    size_t cap, np_addr *from)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct pollfd p;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    if (fd < 0)
        return -1;
    if (sendto(fd, q, qn, 0, (const struct sockaddr *)&to->ss, to->len) < 0) {
        close(fd);
        return -1;
    }
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, WAIT_MS) <= 0) {
        close(fd);
        return -3;
    }
    n = recvfrom(fd, r, cap, 0, (struct sockaddr *)&ss, &sl);
    close(fd);
    if (n < 0)
        return -1;
    np_addr_from_sockaddr(from, (const struct sockaddr *)&ss, sl);
    return (int)n;
}

/* NP_WIRE_NONCE (24 hex digits) into nonce; 0 if set and valid, 1 if
 * unset, -1 if malformed. */
static int nonce_from_env(uint8_t nonce[NP_PCP_NONCE_LEN])
{
    const char *h = getenv("NP_WIRE_NONCE");
    size_t i;

    if (h == NULL || *h == '\0')
        return 1;
    if (strlen(h) != 2 * NP_PCP_NONCE_LEN)
        return -1;
    for (i = 0; i < 2 * NP_PCP_NONCE_LEN; i++) {
        char c = h[i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            return -1;
        if (i % 2 == 0)
            nonce[i / 2] = (uint8_t)(v << 4);
        else
            nonce[i / 2] |= (uint8_t)v;
    }
    return 0;
}

static const char *str(const np_addr *a, char *buf, size_t size)
{
    return np_addr_str(a, buf, size);
}

static int report_error(const char *what, const np_error *err)
{
    char buf[NP_ERROR_WHERE_MAX + NP_ERROR_MSG_MAX + 4];

    printf("decode %s error %s\n", what,
           np_error_format(err, buf, sizeof(buf)));
    return 1;
}

static int cmd_stun(int argc, char **argv)
{
    uint8_t q[NP_STUN_MAX_MSG], r[2048], txid[NP_STUN_TXID_LEN];
    unsigned long port, flags = 0;
    np_addr to, from;
    np_stun_msg m;
    np_error err;
    size_t qn;
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN], c[NP_ADDRSTRLEN], d[NP_ADDRSTRLEN],
        e[NP_ADDRSTRLEN];
    const np_addr *other, *origin;
    np_addr none;
    int n;

    if (argc < 4 || num(argv[3], 65535, &port) != 0 ||
        (argc > 4 && num(argv[4], 0xFFFFFFFFul, &flags) != 0))
        return die("usage: np_wire stun ADDR PORT [CHANGE_FLAGS]");
    if (np_addr_parse(&to, argv[2], (uint16_t)port, NULL) != NP_OK)
        return die("bad address");
    if (getrandom(txid, sizeof(txid), 0) != (ssize_t)sizeof(txid))
        return die("getrandom failed");
    if (np_stun_binding_request(q, sizeof(q), txid, (uint32_t)flags, &qn) !=
        NP_OK)
        return die("cannot build the request");
    n = exchange(&to, q, qn, r, sizeof(r), &from);
    if (n == -3) {
        printf("timeout 1\n");
        return 3;
    }
    if (n < 0)
        return die("socket error");
    np_error_clear(&err);
    if (np_stun_decode(r, (size_t)n, &m, &err) != NP_OK)
        return report_error("stun", &err);
    memset(&none, 0, sizeof(none));
    other = np_stun_other_address(&m);
    origin = np_stun_response_origin(&m);
    printf("from %s type 0x%04x txid_ok %d fingerprint %d xor_mapped %s "
           "mapped %s other %s origin %s unknown %u\n",
           str(&from, a, sizeof(a)), (unsigned)m.type,
           memcmp(m.txid, txid, sizeof(txid)) == 0,
           (m.present & NP_STUN_HAS_FINGERPRINT) != 0,
           str(&m.xor_mapped, b, sizeof(b)), str(&m.mapped, c, sizeof(c)),
           str(other ? other : &none, d, sizeof(d)),
           str(origin ? origin : &none, e, sizeof(e)), (unsigned)m.n_unknown);
    return 0;
}

static int cmd_pcp(int argc, char **argv, int announce)
{
    uint8_t q[NP_PCP_MAX_MSG], r[2048];
    np_pcp_map_request req;
    np_pcp_response resp;
    unsigned long port = 0, life = 0;
    np_addr to, from;
    np_error err;
    size_t qn;
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN], c[NP_ADDRSTRLEN];
    int n, rc, proto = 0;

    memset(&req, 0, sizeof(req));
    if (argc < 4 || (!announce && argc < 7))
        return die("usage: np_wire pcp-announce GW CLIENT | pcp-map GW "
                   "CLIENT udp|tcp PORT LIFETIME [THIRD_PARTY [pf]]");
    if (np_addr_parse(&to, argv[2], NP_PCP_SERVER_PORT, NULL) != NP_OK ||
        np_addr_parse(&req.client, argv[3], 0, NULL) != NP_OK)
        return die("bad address");
    np_error_clear(&err);
    if (announce) {
        rc = np_pcp_encode_announce(q, sizeof(q), &req.client, &qn, &err);
    } else {
        proto = proto_of(argv[4]);
        if (proto < 0 || num(argv[5], 65535, &port) != 0 ||
            num(argv[6], 0xFFFFFFFFul, &life) != 0)
            return die("bad protocol, port or lifetime");
        rc = nonce_from_env(req.nonce);
        if (rc < 0)
            return die("NP_WIRE_NONCE must be 24 hex digits");
        if (rc > 0 && getrandom(req.nonce, sizeof(req.nonce), 0) !=
                          (ssize_t)sizeof(req.nonce))
            return die("getrandom failed");
        req.protocol = (uint8_t)proto;
        req.internal_port = (uint16_t)port;
        req.suggested_external_port = (uint16_t)port;
        req.lifetime = (uint32_t)life;
        if (argc > 7 &&
            np_addr_parse(&req.third_party, argv[7], 0, NULL) != NP_OK)
            return die("bad THIRD_PARTY address");
        req.prefer_failure = argc > 8 && strcmp(argv[8], "pf") == 0;
        rc = np_pcp_encode_map(q, sizeof(q), &req, &qn, &err);
    }
    if (rc != NP_OK)
        return report_error("pcp-encode", &err);
    n = exchange(&to, q, qn, r, sizeof(r), &from);
    if (n == -3) {
        printf("timeout 1\n");
        return 3;
    }
    if (n < 0)
        return die("socket error");
    if (np_pcp_decode_response(r, (size_t)n, &resp, &err) != NP_OK)
        return report_error("pcp", &err);
    printf("from %s version %u natpmp %d opcode %u result %s lifetime %lu "
           "epoch %lu match %d has_map %d external %s options 0x%x "
           "third_party %s nonce ",
           str(&from, a, sizeof(a)), (unsigned)resp.version, resp.natpmp_reply,
           (unsigned)resp.opcode, np_pcp_result_name(resp.result),
           (unsigned long)resp.lifetime, (unsigned long)resp.epoch,
           np_pcp_response_matches(&resp, &req), resp.has_map,
           str(&resp.external, b, sizeof(b)), (unsigned)resp.options,
           str(&resp.third_party, c, sizeof(c)));
    for (n = 0; n < NP_PCP_NONCE_LEN; n++)
        printf("%02x", (unsigned)req.nonce[n]);
    printf("\n");
    return 0;
}

static int cmd_natpmp(int argc, char **argv, int map)
{
    uint8_t q[16], r[2048];
    np_natpmp_map_request req;
    np_natpmp_response resp;
    unsigned long port = 0, life = 0;
    np_addr to, from;
    np_error err;
    size_t qn;
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN];
    int n, rc, proto;

    if (argc < 3 || (map && argc < 6))
        return die("usage: np_wire natpmp-public GW | natpmp-map GW udp|tcp "
                   "PORT LIFETIME");
    if (np_addr_parse(&to, argv[2], NP_NATPMP_SERVER_PORT, NULL) != NP_OK)
        return die("bad address");
    np_error_clear(&err);
    if (map) {
        proto = proto_of(argv[3]);
        if (proto < 0 || num(argv[4], 65535, &port) != 0 ||
            num(argv[5], 0xFFFFFFFFul, &life) != 0)
            return die("bad protocol, port or lifetime");
        req.opcode = proto == 17 ? NP_NATPMP_OP_MAP_UDP : NP_NATPMP_OP_MAP_TCP;
        req.internal_port = (uint16_t)port;
        req.suggested_external_port = (uint16_t)port;
        req.lifetime = (uint32_t)life;
        rc = np_natpmp_encode_map(q, sizeof(q), &req, &qn, &err);
    } else {
        rc = np_natpmp_encode_public_address(q, sizeof(q), &qn, &err);
    }
    if (rc != NP_OK)
        return report_error("natpmp-encode", &err);
    n = exchange(&to, q, qn, r, sizeof(r), &from);
    if (n == -3) {
        printf("timeout 1\n");
        return 3;
    }
    if (n < 0)
        return die("socket error");
    if (np_natpmp_decode_response(r, (size_t)n, &resp, &err) != NP_OK)
        return report_error("natpmp", &err);
    printf("from %s opcode %u result %s epoch %lu external %s internal_port "
           "%u external_port %u lifetime %lu\n",
           str(&from, a, sizeof(a)), (unsigned)resp.opcode,
           np_natpmp_result_name(resp.result), (unsigned long)resp.epoch,
           str(&resp.external, b, sizeof(b)), (unsigned)resp.internal_port,
           (unsigned)resp.external_port, (unsigned long)resp.lifetime);
    return 0;
}

static int cmd_epoch(int argc, char **argv)
{
    unsigned long pe, pt, ne, nt;
    np_pcp_epoch e;

    if (argc < 6 || num(argv[2], 0xFFFFFFFFul, &pe) != 0 ||
        num(argv[3], 0xFFFFFFFFul, &pt) != 0 ||
        num(argv[4], 0xFFFFFFFFul, &ne) != 0 ||
        num(argv[5], 0xFFFFFFFFul, &nt) != 0)
        return die("usage: np_wire epoch PREV_EPOCH PREV_TIME NEW_EPOCH "
                   "NEW_TIME");
    memset(&e, 0, sizeof(e));
    (void)np_pcp_epoch_lost_state(&e, (uint32_t)pe, pt);
    printf("lost %d\n", np_pcp_epoch_lost_state(&e, (uint32_t)ne, nt));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return die("usage: np_wire stun|pcp-announce|pcp-map|natpmp-public|"
                   "natpmp-map|epoch ...");
    if (strcmp(argv[1], "stun") == 0)
        return cmd_stun(argc, argv);
    if (strcmp(argv[1], "pcp-announce") == 0)
        return cmd_pcp(argc, argv, 1);
    if (strcmp(argv[1], "pcp-map") == 0)
        return cmd_pcp(argc, argv, 0);
    if (strcmp(argv[1], "natpmp-public") == 0)
        return cmd_natpmp(argc, argv, 0);
    if (strcmp(argv[1], "natpmp-map") == 0)
        return cmd_natpmp(argc, argv, 1);
    if (strcmp(argv[1], "epoch") == 0)
        return cmd_epoch(argc, argv);
    return die("unknown command");
}
