/*
 * natpilot: the Teredo outlook and RFC 4380's qualification (see
 * include/natpilot/teredo.h; every rule is sourced in docs/ipv6.md).
 *
 * The client's Router Solicitation in UDP (RFC 4380 sections 5.1.1 and
 * 5.2.1):
 *
 *   Authentication indicator   0x00 0x01, ID-len 0, AU-len 0,
 *                              nonce (8 bytes), confirmation (1 byte)
 *   IPv6 header (40)           version 6, payload 8, next header 58 (ICMPv6),
 *                              hop limit 255, fe80::ffff:ffff:fffe -> ff02::2
 *   ICMPv6 RS (8)              type 133, code 0, checksum, reserved
 *
 * The server's answer: the authentication indicator with our nonce, an
 * origin indication (0x00 0x00, port XOR 0xffff, IPv4 address XOR
 * 0xffffffff: the client's mapped address as the server saw it), then the
 * IPv6 packet carrying an ICMPv6 Router Advertisement (type 134).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natpilot/teredo.h"
#include "np_cursor.h"
#include "np_util.h"

/* --- names ------------------------------------------------------------- */

const char *np_teredo_verdict_name(enum np_teredo_verdict v)
{
    switch (v) {
    case NP_TEREDO_QUALIFIES:
        return "qualifies";
    case NP_TEREDO_UNCERTAIN:
        return "uncertain";
    case NP_TEREDO_FAILS:
        return "fails";
    case NP_TEREDO_UNKNOWN:
        break;
    }
    return "unknown";
}

const char *np_teredo_reason_name(enum np_teredo_reason r)
{
    switch (r) {
    case NP_TEREDO_R_NO_NETWORK:
        return "no-network";
    case NP_TEREDO_R_UDP_BLOCKED:
        return "udp-blocked";
    case NP_TEREDO_R_3544_BLOCKED:
        return "udp-3544-blocked";
    case NP_TEREDO_R_SYMMETRIC:
        return "symmetric-nat";
    case NP_TEREDO_R_SYMMETRIC_PORTS:
        return "symmetric-nat-port-preserving";
    case NP_TEREDO_R_3544_UNTESTED:
        return "udp-3544-untested";
    case NP_TEREDO_R_NONE:
        break;
    }
    return "none";
}

const char *np_teredo_fix_name(enum np_teredo_fix f)
{
    switch (f) {
    case NP_TEREDO_FIX_ALLOW_UDP:
        return "allow-udp";
    case NP_TEREDO_FIX_ALLOW_3544:
        return "allow-udp-3544";
    case NP_TEREDO_FIX_NATIVE_IPV6:
        return "native-ipv6";
    case NP_TEREDO_FIX_ROUTER_EIM:
        return "router-eim";
    case NP_TEREDO_FIX_NONE:
        break;
    }
    return "none";
}

/* --- the outlook: the rules of docs/ipv6.md, in order ------------------- */

static const char FIX_UDP[] =
    "Allow outbound UDP in the router or firewall: Teredo (and every game) "
    "runs over UDP.";
static const char FIX_3544[] =
    "Allow outbound UDP to port 3544 (the Teredo server's port) in the "
    "router, firewall or security software.";
static const char FIX_IPV6[] =
    "Turn on native IPv6 in the router and open the game's ports as IPv6 "
    "pinholes (natpilot open --ipv6): the Xbox then reaches peers with IPv6 "
    "directly.";
static const char FIX_EIM[] =
    "Make the router's NAT endpoint-independent (a setting often named "
    "\"full cone\", \"endpoint-independent mapping\" or \"consistent NAT\"), "
    "or "
    "turn on UPnP so the console maps its own port.";

static void set(np_teredo_outlook *o, enum np_teredo_verdict v,
                enum np_teredo_reason r, enum np_teredo_fix f, const char *why,
                const char *fix, const char *source)
{
    o->verdict = v;
    o->reason = r;
    o->fix = f;
    o->why = why;
    o->fix_text = fix;
    o->source = source;
}

static int v6_works(const np_ipv6_report *v6)
{
    return v6 != NULL && v6->state == NP_V6_OK && v6->nat == NP_V6NAT_NONE;
}

void np_teredo_assess(const np_teredo_input *in, np_teredo_outlook *o)
{
    const np_nat_verdict *v = in->v4;
    const np_teredo_qual *q = in->qual;
    int udp3544 = in->udp3544;
    int symmetric = -1;
    enum np_teredo_fix sym_fix;

    memset(o, 0, sizeof(*o));
    o->native_ipv6 = v6_works(in->v6);
    sym_fix =
        o->native_ipv6 ? NP_TEREDO_FIX_NATIVE_IPV6 : NP_TEREDO_FIX_ROUTER_EIM;
    /* A real qualification run says more than any prediction. */
    if (q != NULL) {
        if (q->answered_primary || q->answered_secondary)
            udp3544 = 1;
        else if (udp3544 < 0 && v != NULL && v->udp == NP_UDP_OK)
            udp3544 = 0;
        symmetric = q->symmetric;
    }
    if (v == NULL || v->udp == NP_UDP_NO_ANSWER) {
        set(o, NP_TEREDO_UNKNOWN, NP_TEREDO_R_NO_NETWORK, NP_TEREDO_FIX_NONE,
            "Nothing answered over IPv4: Teredo's chances cannot be judged.",
            "Check the internet connection first.", "T1");
        return;
    }
    /* UDP blocked needs evidence about the path (nat.c): the STUN
     * server's host answered over TCP but not over UDP, and the Teredo
     * server, another host, did not answer over UDP either. */
    if (v->udp == NP_UDP_BLOCKED ||
        (v->udp == NP_UDP_UNKNOWN && q != NULL && np_addr_is_set(&q->server) &&
         !q->answered_primary && !q->answered_secondary)) {
        set(o, NP_TEREDO_FAILS, NP_TEREDO_R_UDP_BLOCKED,
            NP_TEREDO_FIX_ALLOW_UDP,
            "UDP does not get out of this network, and Teredo runs over UDP.",
            FIX_UDP, "T2");
        return;
    }
    if (udp3544 == 0) {
        set(o, NP_TEREDO_FAILS, NP_TEREDO_R_3544_BLOCKED,
            NP_TEREDO_FIX_ALLOW_3544,
            "UDP to port 3544 does not get out: the Teredo server cannot be "
            "reached, so Teredo cannot qualify.",
            FIX_3544, "T3");
        return;
    }
    if (symmetric == 1) {
        set(o, NP_TEREDO_FAILS, NP_TEREDO_R_SYMMETRIC, sym_fix,
            "The Teredo server's two addresses saw two different public "
            "ports (a symmetric NAT): Teredo's qualification fails.",
            o->native_ipv6 ? FIX_IPV6 : FIX_EIM, "T4");
        return;
    }
    if (symmetric != 0 && v->mapping != NP_BEH_EI &&
        v->mapping != NP_BEH_UNKNOWN) {
        if (v->port_alloc == NP_PA_PRESERVING ||
            v->port_alloc == NP_PA_SEQUENTIAL)
            set(o, NP_TEREDO_UNCERTAIN, NP_TEREDO_R_SYMMETRIC_PORTS, sym_fix,
                "The NAT's mapping is not endpoint-independent (a symmetric "
                "NAT), but it keeps or counts up ports, which Teredo's "
                "extensions for symmetric NATs can sometimes work with.",
                o->native_ipv6 ? FIX_IPV6 : FIX_EIM, "T5");
        else
            set(o, NP_TEREDO_FAILS, NP_TEREDO_R_SYMMETRIC, sym_fix,
                "The NAT's mapping is not endpoint-independent (a symmetric "
                "NAT): Teredo's qualification sees two different public "
                "ports and fails.",
                o->native_ipv6 ? FIX_IPV6 : FIX_EIM, "T4");
        return;
    }
    if (v->mapping == NP_BEH_UNKNOWN && symmetric != 0) {
        set(o, NP_TEREDO_UNCERTAIN, NP_TEREDO_R_NONE, NP_TEREDO_FIX_NONE,
            "The NAT's mapping behaviour could not be measured (the STUN "
            "server lacks RFC 5780 support).",
            "Run diagnose against an RFC 5780 STUN server.", "T6");
        return;
    }
    if (udp3544 < 0) {
        set(o, NP_TEREDO_QUALIFIES, NP_TEREDO_R_3544_UNTESTED,
            NP_TEREDO_FIX_NONE,
            "The NAT's mapping is endpoint-independent, so Teredo can "
            "qualify, provided UDP to port 3544 gets out (not checked: name "
            "a Teredo server with --teredo).",
            "Nothing to do, unless a firewall blocks UDP port 3544.", "T7");
        return;
    }
    set(o, NP_TEREDO_QUALIFIES, NP_TEREDO_R_NONE, NP_TEREDO_FIX_NONE,
        "The NAT's mapping is endpoint-independent and UDP to port 3544 gets "
        "out: Teredo qualifies.",
        "Nothing to do for Teredo.", "T7");
}

/* --- the wire --------------------------------------------------------- */

static const uint8_t rs_src[16] = {
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
static const uint8_t rs_dst[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                   0,    0,    0, 0, 0, 0, 0, 2};

/* ICMPv6 checksum (RFC 4443 section 2.3) over the pseudo-header. */
static uint16_t icmp6_sum(const uint8_t src[16], const uint8_t dst[16],
                          const uint8_t *msg, size_t len)
{
    uint32_t s = 0;
    size_t i;

    for (i = 0; i < 16; i += 2) {
        s += (uint32_t)(src[i] << 8 | src[i + 1]);
        s += (uint32_t)(dst[i] << 8 | dst[i + 1]);
    }
    s += (uint32_t)len;
    s += 58;
    for (i = 0; i + 1 < len; i += 2)
        s += (uint32_t)(msg[i] << 8 | msg[i + 1]);
    if (len & 1)
        s += (uint32_t)(msg[len - 1] << 8);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

int np_teredo_encode_rs(uint8_t *buf, size_t cap, const uint8_t nonce[8],
                        size_t *len, np_error *err)
{
    uint8_t rs[8] = {133, 0, 0, 0, 0, 0, 0, 0};
    uint16_t sum;
    np__wr w;

    if (buf == NULL || nonce == NULL || len == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no buffer");
    sum = icmp6_sum(rs_src, rs_dst, rs, sizeof(rs));
    rs[2] = (uint8_t)(sum >> 8);
    rs[3] = (uint8_t)sum;
    np__wr_init(&w, buf, cap);
    /* authentication indicator */
    np__wr_u16(&w, 0x0001);
    np__wr_u8(&w, 0);
    np__wr_u8(&w, 0);
    np__wr_bytes(&w, nonce, 8);
    np__wr_u8(&w, 0);
    /* IPv6 header */
    np__wr_u32(&w, 0x60000000u);
    np__wr_u16(&w, sizeof(rs));
    np__wr_u8(&w, 58);
    np__wr_u8(&w, 255);
    np__wr_bytes(&w, rs_src, 16);
    np__wr_bytes(&w, rs_dst, 16);
    np__wr_bytes(&w, rs, sizeof(rs));
    if (np__wr_status(&w) != NP_OK)
        return np_error_set(err, NP_EBUFSIZE, NULL,
                            "a Teredo RS needs 61 bytes");
    *len = w.pos;
    return NP_OK;
}

int np_teredo_decode_ra(const uint8_t *buf, size_t len, const uint8_t nonce[8],
                        np_addr *origin, np_error *err)
{
    np__rd r;
    uint16_t type, port;
    uint32_t ip;
    uint8_t idlen, aulen, n[8], v, nh, icmp;
    int have_auth = 0;

    if (buf == NULL || origin == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no buffer");
    memset(origin, 0, sizeof(*origin));
    np__rd_init(&r, buf, len);
    if (np__rd_u16(&r, &type) != NP_OK)
        return np__fail_at(err, NP_EPARSE, r.pos, "shorter than 2 bytes");
    if (type == 0x0001) {
        /* Authentication indicator (section 5.1.1). */
        if (np__rd_u8(&r, &idlen) != NP_OK || np__rd_u8(&r, &aulen) != NP_OK ||
            np__rd_bytes(&r, NULL, (size_t)idlen + aulen) != NP_OK ||
            np__rd_bytes(&r, n, 8) != NP_OK ||
            np__rd_bytes(&r, NULL, 1) != NP_OK)
            return np__fail_at(err, NP_EPARSE, r.pos,
                               "truncated authentication indicator");
        if (nonce != NULL && memcmp(n, nonce, 8) != 0)
            return np__fail_at(err, NP_EPARSE, r.pos, "not our nonce");
        have_auth = 1;
        if (np__rd_u16(&r, &type) != NP_OK)
            return np__fail_at(err, NP_EPARSE, r.pos,
                               "nothing after the "
                               "indicator");
    }
    if (nonce != NULL && !have_auth)
        return np__fail_at(err, NP_EPARSE, 0, "no authentication indicator");
    if (type != 0x0000)
        return np__fail_at(err, NP_EPARSE, r.pos - 2, "no origin indication");
    if (np__rd_u16(&r, &port) != NP_OK || np__rd_u32(&r, &ip) != NP_OK)
        return np__fail_at(err, NP_EPARSE, r.pos,
                           "truncated origin indication");
    /* The IPv6 packet: version 6, next header ICMPv6, an RA. */
    if (np__rd_u8(&r, &v) != NP_OK || (v >> 4) != 6 ||
        np__rd_bytes(&r, NULL, 5) != NP_OK || np__rd_u8(&r, &nh) != NP_OK ||
        nh != 58 || np__rd_bytes(&r, NULL, 33) != NP_OK ||
        np__rd_u8(&r, &icmp) != NP_OK || icmp != 134 ||
        np__rd_bytes(&r, NULL, 15) != NP_OK) /* the rest of the RA header */
        return np__fail_at(err, NP_EPARSE, r.pos,
                           "not an IPv6 Router Advertisement");
    port = (uint16_t)~port;
    ip = ~ip;
    ip = htonl(ip);
    np_addr_from_ipv4(origin, &ip, port);
    return NP_OK;
}

static void secondary_of(const np_addr *primary, np_addr *out)
{
    const struct sockaddr_in *s = (const struct sockaddr_in *)&primary->ss;
    uint32_t ip = ntohl(s->sin_addr.s_addr) + 1;

    ip = htonl(ip);
    np_addr_from_ipv4(out, &ip, np_addr_port(primary));
}

int np_teredo_qualify(const np_addr *server, unsigned timeout_ms,
                      np_teredo_qual *out, np_error *err)
{
    uint8_t nonce[2][8], pkt[2][64];
    size_t len[2];
    np_addr dst[2];
    uint64_t t0, now, deadline, next = 0;
    unsigned rto = 250;
    int fd, i, answered[2] = {0, 0};

    if (server == NULL || out == NULL || np_addr_family(server) != AF_INET ||
        timeout_ms == 0)
        return np_error_set(err, NP_EINVAL, NULL,
                            "a Teredo server is an IPv4 address");
    memset(out, 0, sizeof(*out));
    out->symmetric = -1;
    dst[0] = *server;
    if (np_addr_port(&dst[0]) == 0)
        np_addr_set_port(&dst[0], NP_TEREDO_PORT);
    secondary_of(&dst[0], &dst[1]);
    out->server = dst[0];
    if (np__random(nonce, sizeof(nonce)) != 0)
        return np_error_sys(err, errno, NULL, "no random numbers");
    for (i = 0; i < 2; i++)
        if (np_teredo_encode_rs(pkt[i], sizeof(pkt[i]), nonce[i], &len[i],
                                err) != NP_OK)
            return NP_EINVAL;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return np_error_sys(err, errno, NULL, "cannot create a UDP socket");
    t0 = now = np__mono_us();
    deadline = t0 + (uint64_t)timeout_ms * 1000u;
    while (now < deadline && !(answered[0] && answered[1])) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        uint64_t wake;

        if (now >= next) {
            /* Both at once, from one socket: the NAT's mapping towards the
             * two addresses is what the qualification compares. */
            for (i = 0; i < 2; i++)
                if (!answered[i] &&
                    sendto(fd, pkt[i], len[i], MSG_NOSIGNAL,
                           (const struct sockaddr *)&dst[i].ss,
                           dst[i].len) < 0 &&
                    (errno == ENETUNREACH || errno == EHOSTUNREACH)) {
                    close(fd);
                    return np_error_set(err, NP_EUNREACH, NULL,
                                        "no route to the Teredo server");
                }
            next = now + (uint64_t)rto * 1000u;
            rto *= 2;
        }
        wake = next < deadline ? next : deadline;
        (void)poll(&p, 1, (int)((wake - now + 999) / 1000));
        now = np__mono_us();
        for (;;) {
            uint8_t buf[1500];
            np_addr from, origin;
            socklen_t fl = sizeof(from.ss);
            ssize_t n;

            memset(&from, 0, sizeof(from));
            n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from.ss,
                         &fl);
            if (n < 0)
                break;
            from.len = fl;
            for (i = 0; i < 2; i++) {
                if (answered[i] || !np_addr_same_ip(&from, &dst[i]) ||
                    np_teredo_decode_ra(buf, (size_t)n, nonce[i], &origin,
                                        NULL) != NP_OK)
                    continue;
                answered[i] = 1;
                if (i == 0) {
                    out->answered_primary = 1;
                    out->mapped_primary = origin;
                    out->rtt_ms = (double)(now - t0) / 1000.0;
                } else {
                    out->answered_secondary = 1;
                    out->mapped_secondary = origin;
                }
            }
        }
    }
    close(fd);
    if (answered[0] && answered[1])
        out->symmetric =
            !np_addr_equal(&out->mapped_primary, &out->mapped_secondary);
    out->elapsed_ms = (double)(np__mono_us() - t0) / 1000.0;
    return NP_OK;
}
