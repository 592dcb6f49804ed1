/* Unit tests of netinfo's /proc parsers, fed with fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "natpilot/netinfo.h"

#include "np_fixture.h"

static void route_lowest_metric_up_gateway(void **state)
{
    size_t len;
    char *t = np_fixture("netinfo", "route-two-defaults.txt", &len);
    np_gateway gw;
    np_error err;
    char ip[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_netinfo_parse_route(t, len, &gw, &err), NP_OK);
    /* metric 50 lacks RTF_GATEWAY, 600 loses to 100 (little-endian host) */
    assert_string_equal(np_addr_ip_str(&gw.addr, ip, sizeof(ip)), "198.18.0.1");
    assert_string_equal(gw.ifname, "lan0");
    assert_int_equal(gw.metric, 100);
    free(t);
}

static void route_none(void **state)
{
    size_t len;
    char *t = np_fixture("netinfo", "route-no-default.txt", &len);
    np_gateway gw;
    np_error err;

    (void)state;
    assert_int_equal(np_netinfo_parse_route(t, len, &gw, &err), NP_ENOTFOUND);
    free(t);
}

static void route_malformed(void **state)
{
    size_t len;
    char *t = np_fixture("netinfo", "route-bad.txt", &len);
    np_gateway gw;
    np_error err;

    (void)state;
    assert_int_equal(np_netinfo_parse_route(t, len, &gw, &err), NP_EPARSE);
    assert_string_equal(err.where, "line 2");
    /* not terminated, cut mid-line */
    assert_int_equal(np_netinfo_parse_route("lan0\t0000", 9, &gw, &err),
                     NP_EPARSE);
    free(t);
}

static void route6_lowest_metric(void **state)
{
    size_t len;
    char *t = np_fixture("netinfo", "ipv6_route-default.txt", &len);
    np_gateway gw;
    np_error err;
    char ip[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_netinfo_parse_route6(t, len, &gw, &err), NP_OK);
    /* metric 0x400 beats 0x800; lo's reject route is never a default */
    assert_string_equal(np_addr_ip_str(&gw.addr, ip, sizeof(ip)),
                        "2001:db8:1::1");
    assert_string_equal(gw.ifname, "eth0");
    assert_int_equal(gw.metric, 0x400);
    free(t);
}

static void route6_none_and_bad(void **state)
{
    size_t len;
    char *t = np_fixture("netinfo", "ipv6_route-none.txt", &len);
    char *b = np_fixture("netinfo", "ipv6_route-bad.txt", &len);
    np_gateway gw;
    np_error err;

    (void)state;
    len = strlen(t);
    assert_int_equal(np_netinfo_parse_route6(t, len, &gw, &err), NP_ENOTFOUND);
    len = strlen(b);
    assert_int_equal(np_netinfo_parse_route6(b, len, &gw, &err), NP_EPARSE);
    assert_string_equal(err.where, "line 2");
    free(t);
    free(b);
}

static void global6(void **state)
{
    static const struct {
        const char *ip;
        int global;
    } rows[] = {
        {.ip = "2001:db8:1::10", .global = 1},
        {.ip = "2a00:1450::1", .global = 1},
        {.ip = "3fff::1", .global = 1},
        {.ip = "fd00::1", .global = 0},
        {.ip = "fe80::1", .global = 0},
        {.ip = "::1", .global = 0},
        {.ip = "::ffff:192.0.2.1", .global = 0},
        {.ip = "ff02::c", .global = 0},
        {.ip = "192.0.2.1", .global = 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        np_addr a;
        np_error err;
        assert_int_equal(np_addr_parse(&a, rows[i].ip, 0, &err), NP_OK);
        assert_int_equal(np_netinfo_is_global6(&a), rows[i].global);
    }
}

/* An RTM_GETNEIGH dump: one IPv6 neighbour with a MAC, one IPv4 entry
 * (skipped), then NLMSG_DONE; and every truncation refused or cut. */
static size_t neigh_msg(uint8_t *b, int family, int lladdr)
{
    struct nlmsghdr h;
    struct ndmsg nd;
    struct rtattr ra;
    static const uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0,
                                    0,    0,    0,    0,    0, 0, 0, 0x11};
    static const uint8_t mac[6] = {2, 0, 0, 0, 0, 0x11};
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nd));

    memset(&nd, 0, sizeof(nd));
    nd.ndm_family = (uint8_t)family;
    nd.ndm_ifindex = 1;
    nd.ndm_state = NUD_REACHABLE;
    memcpy(b + NLMSG_HDRLEN, &nd, sizeof(nd));
    ra.rta_type = NDA_DST;
    ra.rta_len = (unsigned short)RTA_LENGTH(16);
    memcpy(b + off, &ra, sizeof(ra));
    memcpy(b + off + sizeof(ra), ip6, 16);
    off += RTA_ALIGN(ra.rta_len);
    if (lladdr) {
        ra.rta_type = NDA_LLADDR;
        ra.rta_len = (unsigned short)RTA_LENGTH(6);
        memcpy(b + off, &ra, sizeof(ra));
        memcpy(b + off + sizeof(ra), mac, 6);
        off += RTA_ALIGN(ra.rta_len);
    }
    memset(&h, 0, sizeof(h));
    h.nlmsg_len = (uint32_t)off;
    h.nlmsg_type = RTM_NEWNEIGH;
    memcpy(b, &h, sizeof(h));
    return off;
}

static void neigh6_dump(void **state)
{
    uint8_t b[512];
    struct nlmsghdr done;
    size_t len = 0, n = 0, cap = 0, cut;
    np_neighbour *arr = NULL;
    np_error err;
    char ip[NP_ADDRSTRLEN];
    int fin = 0;

    (void)state;
    len += neigh_msg(b + len, AF_INET6, 1);
    len += neigh_msg(b + len, AF_INET, 1);
    memset(&done, 0, sizeof(done));
    done.nlmsg_len = NLMSG_HDRLEN;
    done.nlmsg_type = NLMSG_DONE;
    memcpy(b + len, &done, sizeof(done));
    len += NLMSG_HDRLEN;
    assert_int_equal(
        np_netinfo_parse_neigh6(b, len, &arr, &n, &cap, &fin, &err), NP_OK);
    assert_true(fin);
    assert_int_equal(n, 1);
    assert_string_equal(np_addr_ip_str(&arr[0].ip, ip, sizeof(ip)),
                        "2001:db8:1::11");
    assert_int_equal(arr[0].mac[5], 0x11);
    assert_true(arr[0].complete);
    free(arr);
    /* a message cut anywhere: refused, or read only up to the cut */
    for (cut = 1; cut < len; cut++) {
        arr = NULL;
        n = cap = 0;
        fin = 0;
        (void)np_netinfo_parse_neigh6(b, cut, &arr, &n, &cap, &fin, &err);
        assert_true(n <= 1);
        free(arr);
    }
}

static void arp_entries(void **state)
{
    size_t len, n;
    char *t = np_fixture("netinfo", "arp-three.txt", &len);
    np_neighbour *nb;
    np_error err;
    char buf[32];

    (void)state;
    assert_int_equal(np_netinfo_parse_arp(t, len, &nb, &n, &err), NP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(np_addr_ip_str(&nb[0].ip, buf, sizeof(buf)),
                        "198.18.0.1");
    assert_true(nb[0].complete);
    assert_string_equal(np_netinfo_mac_str(nb[0].mac, buf, sizeof(buf)),
                        "02:00:c6:12:00:01");
    assert_false(nb[1].complete);
    assert_string_equal(np_netinfo_mac_str(nb[2].mac, buf, sizeof(buf)),
                        "02:ab:cd:12:00:14");
    assert_string_equal(nb[2].ifname, "lan0");
    free(nb);
    free(t);
}

static void arp_bad_mac(void **state)
{
    size_t len, n = 99;
    char *t = np_fixture("netinfo", "arp-bad-mac.txt", &len);
    np_neighbour *nb = (np_neighbour *)1;
    np_error err;

    (void)state;
    assert_int_equal(np_netinfo_parse_arp(t, len, &nb, &n, &err), NP_EPARSE);
    assert_null(nb);
    assert_int_equal(n, 0);
    assert_string_equal(err.where, "line 2");
    free(t);
}

static void source_for_loopback(void **state)
{
    np_addr dst, src;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_addr_parse(&dst, "127.0.0.1", 0, &err), NP_OK);
    assert_int_equal(np_netinfo_source_for(&dst, &src, &err), NP_OK);
    assert_string_equal(np_addr_ip_str(&src, buf, sizeof(buf)), "127.0.0.1");
    assert_int_equal(np_addr_port(&src), 0);
}

static void local_addrs_has_loopback(void **state)
{
    np_netif_addr *a;
    size_t n, i;
    np_error err;
    int lo = 0;

    (void)state;
    assert_int_equal(np_netinfo_local_addrs(&a, &n, &err), NP_OK);
    for (i = 0; i < n; i++)
        if (a[i].is_loopback && np_addr_family(&a[i].addr) == AF_INET) {
            lo = 1;
            assert_int_equal(a[i].prefix_len, 8);
        }
    assert_true(lo);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_lowest_metric_up_gateway),
        cmocka_unit_test(route_none),
        cmocka_unit_test(route_malformed),
        cmocka_unit_test(route6_lowest_metric),
        cmocka_unit_test(route6_none_and_bad),
        cmocka_unit_test(global6),
        cmocka_unit_test(neigh6_dump),
        cmocka_unit_test(arp_entries),
        cmocka_unit_test(arp_bad_mac),
        cmocka_unit_test(source_for_loopback),
        cmocka_unit_test(local_addrs_has_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
