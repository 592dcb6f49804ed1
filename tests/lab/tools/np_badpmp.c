/*
 * np_badpmp: a scripted NAT-PMP / PCP gateway for the lab that misbehaves
 * the ways deployed gateways do and no packaged server can (issue 11,
 * "Truth"). Every datagram it reads goes through natpilot's bounded
 * decoders; what it sends is built with natpilot's encoders, then bent:
 *
 *   natpmp-short  a 2-byte answer to the external-address request (what
 *                 libnatpmp's readnatpmpresponse reads as 0.0.0.0); map
 *                 requests are answered properly
 *   natpmp-zero   external address 0.0.0.0 (the router does not know it)
 *   natpmp-liar   external address -e EXT, every map request "granted",
 *                 nothing forwarded (a router that reports mappings it
 *                 does not make)
 *   pcp-v1        every PCP request: UNSUPP_VERSION from a version 1 server
 *   pcp-zero-ext  ANNOUNCE ok; MAP: SUCCESS with external address 0.0.0.0
 *   pcp-option    ANNOUNCE ok; MAP: UNSUPP_OPTION
 *
 * In the natpmp-* modes a PCP request gets NAT-PMP's UNSUPP_VERSION (a
 * NAT-PMP-only gateway, RFC 6887 section 9); in the pcp-* modes NAT-PMP
 * requests are not answered.
 *
 * usage: np_badpmp -a ADDR [-p PORT] -m MODE [-e EXT] [-r READYFILE]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natpilot/natpmp.h"
#include "natpilot/pcp.h"

static int natpmp_mode(const char *m)
{
    return strncmp(m, "natpmp-", 7) == 0;
}

static const char *ext_ip = "0.0.0.0";

static size_t answer_natpmp(const char *mode, const uint8_t *in, size_t n,
                            uint8_t *out, size_t cap)
{
    np_natpmp_map_request rq;
    np_natpmp_response rs;
    size_t len = 0;

    if (!natpmp_mode(mode) ||
        np_natpmp_decode_request(in, n, &rq, NULL) != NP_OK)
        return 0;
    memset(&rs, 0, sizeof(rs));
    rs.opcode = rq.opcode;
    rs.epoch = 1234;
    if (rq.opcode == NP_NATPMP_OP_PUBLIC_ADDRESS) {
        rs.has_address = 1;
        (void)np_addr_parse(
            &rs.external, strcmp(mode, "natpmp-liar") == 0 ? ext_ip : "0.0.0.0",
            0, NULL);
    } else {
        rs.has_map = 1;
        rs.internal_port = rq.internal_port;
        rs.external_port = rq.suggested_external_port;
        rs.lifetime = rq.lifetime;
    }
    if (np_natpmp_encode_response(out, cap, &rs, &len, NULL) != NP_OK)
        return 0;
    if (strcmp(mode, "natpmp-short") == 0 &&
        rq.opcode == NP_NATPMP_OP_PUBLIC_ADDRESS)
        len = 2; /* version and opcode, nothing else */
    return len;
}

static size_t answer_pcp(const char *mode, const uint8_t *in, size_t n,
                         uint8_t *out, size_t cap)
{
    np_pcp_request rq;
    np_pcp_response rs;
    size_t len = 0;

    if (np_pcp_decode_request(in, n, &rq, NULL) != NP_OK)
        return 0;
    memset(&rs, 0, sizeof(rs));
    rs.version = NP_PCP_VERSION;
    rs.opcode = rq.opcode;
    rs.epoch = 1234;
    if (natpmp_mode(mode)) {
        rs.natpmp_reply = 1;
        rs.natpmp_result = 1; /* Unsupported Version */
        rs.version = 0;
    } else if (strcmp(mode, "pcp-v1") == 0) {
        rs.version = 1;
        rs.result = NP_PCP_UNSUPP_VERSION;
    } else if (rq.has_map) {
        rs.has_map = 1;
        rs.lifetime = rq.map.lifetime;
        memcpy(rs.nonce, rq.map.nonce, 12);
        rs.protocol = rq.map.protocol;
        rs.internal_port = rq.map.internal_port;
        rs.external_port = rq.map.suggested_external_port;
        if (strcmp(mode, "pcp-option") == 0)
            rs.result = NP_PCP_UNSUPP_OPTION;
        (void)np_addr_parse(&rs.external, "0.0.0.0", rs.external_port, NULL);
    }
    if (np_pcp_encode_response(out, cap, &rs, &len, NULL) != NP_OK)
        return 0;
    return len;
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *mode = NULL, *ready = NULL;
    unsigned port = 5351;
    struct sockaddr_in a;
    int fd, c, one = 1;

    while ((c = getopt(argc, argv, "a:p:m:e:r:")) != -1) {
        switch (c) {
        case 'a':
            addr = optarg;
            break;
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'r':
            ready = optarg;
            break;
        case 'e':
            ext_ip = optarg;
            break;
        default:
            return 2;
        }
    }
    if (addr == NULL || mode == NULL || port == 0 || port > 65535 ||
        (strcmp(mode, "natpmp-short") != 0 &&
         strcmp(mode, "natpmp-liar") != 0 && strcmp(mode, "natpmp-zero") != 0 &&
         strcmp(mode, "pcp-v1") != 0 && strcmp(mode, "pcp-zero-ext") != 0 &&
         strcmp(mode, "pcp-option") != 0)) {
        fprintf(stderr, "usage: np_badpmp -a ADDR [-p PORT] -m MODE [-e EXT] "
                        "[-r READYFILE]\n");
        return 2;
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &a.sin_addr) != 1)
        return 2;
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("np_badpmp: bind");
        return 1;
    }
    if (ready != NULL) {
        FILE *f = fopen(ready, "w");

        if (f != NULL)
            fclose(f);
    }
    for (;;) {
        uint8_t in[1100], out[1100];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n =
            recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
        size_t len;

        if (n <= 0)
            continue;
        if (in[0] == 0)
            len = answer_natpmp(mode, in, (size_t)n, out, sizeof(out));
        else
            len = answer_pcp(mode, in, (size_t)n, out, sizeof(out));
        if (len > 0)
            (void)sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
    }
}
