/* Unit tests of portmap's pure parts: result-code classification, tags,
 * the RFC 6887 §8.5 epoch check, SSDP parsing. (The PCP codec is tested
 * in test_pcp.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "natpilot/pcp.h"
#include "natpilot/portmap.h"
#include "portmap_int.h"

#include "np_fixture.h"

static void classify_upnp_table(void **state)
{
    static const struct {
        int code, third, leased;
        enum np_pm_outcome want;
    } t[] = {
        {0, 0, 1, NP_PM_OK},
        {606, 0, 1, NP_PM_POLICY},         /* allow 1024-65535 refuses 88 */
        {606, 1, 1, NP_PM_THIRD_PARTY},    /* secure_mode, IGDv2 */
        {718, 0, 1, NP_PM_CONFLICT},       /* ConflictInMappingEntry */
        {718, 1, 1, NP_PM_THIRD_PARTY},    /* secure_mode, IGDv1 */
        {729, 0, 1, NP_PM_CONFLICT},       /* ConflictWithOtherMechanisms */
        {725, 0, 1, NP_PM_PERMANENT_ONLY}, /* OnlyPermanentLeasesSupported */
        {402, 0, 1, NP_PM_PERMANENT_ONLY}, /* Invalid Args on a lease */
        {402, 0, 0, NP_PM_FAILED},         /* Invalid Args, permanent */
        {714, 0, 0, NP_PM_NOT_FOUND},
        {602, 0, 0, NP_PM_UNSUPPORTED},
        {501, 0, 1, NP_PM_FAILED},
        {-3, 0, 1, NP_PM_FAILED}, /* miniupnpc's own HTTP error */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(
            np_pm_classify_upnp(t[i].code, t[i].third, t[i].leased), t[i].want);
}

/* Real-router rules (docs/routers.md), row by row. */
static void upnp_router_rules(void **state)
{
    static const struct {
        int code, leased, retry_permanent, addany_broken;
    } t[] = {
        {.code = 725, .leased = 1, .retry_permanent = 1}, /* behaviour 1 */
        {.code = 402, .leased = 1, .retry_permanent = 1}, /* behaviour 2 */
        {.code = 725, .leased = 0, .retry_permanent = 0}, /* once only */
        {.code = 402, .leased = 0, .retry_permanent = 0},
        {.code = 718, .leased = 1, .retry_permanent = 0},
        {.code = 606, .leased = 1, .retry_permanent = 0},
        {.code = 401, .leased = 1, .addany_broken = 1}, /* behaviour 11 */
        {.code = 602, .leased = 1, .addany_broken = 1},
        {.code = -3, .leased = 1, .addany_broken = 1}, /* dropped */
        {.code = -1, .leased = 1, .addany_broken = 1},
        {.code = 606, .leased = 1, .addany_broken = 0}, /* a refusal */
        {.code = 728, .leased = 1, .addany_broken = 0},
        {.code = 0, .leased = 1, .addany_broken = 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(np__upnp_retry_permanent(t[i].code, t[i].leased),
                         t[i].retry_permanent);
        assert_int_equal(np__upnp_addany_broken(t[i].code), t[i].addany_broken);
    }
}

/* Behaviours 3 and 12: what the table holds, not what the router said. */
static void upnp_readback_rules(void **state)
{
    static const struct {
        int rc;
        const char *client, *iport;
        enum np__upnp_readback want;
    } t[] = {
        {0, "198.18.0.10", "3074", NP__RB_HELD},
        {714, NULL, NULL, NP__RB_ABSENT}, /* success answer, no mapping */
        {713, NULL, NULL, NP__RB_ABSENT},
        {501, NULL, NULL, NP__RB_ABSENT},
        {0, "198.18.0.11", "3074", NP__RB_OTHER}, /* another device */
        {0, "198.18.0.10", "3075", NP__RB_OTHER}, /* another port */
        {0, "198.18.0.10", "", NP__RB_OTHER},
        {0, "198.18.0.10", "99999", NP__RB_OTHER},
        {-3, NULL, NULL, NP__RB_UNKNOWN}, /* no evidence either way */
        {401, NULL, NULL, NP__RB_UNKNOWN},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_int_equal(np__upnp_readback(t[i].rc, t[i].client, t[i].iport,
                                           "198.18.0.10", 3074),
                         t[i].want);
}

static void classify_pcp_natpmp(void **state)
{
    (void)state;
    assert_int_equal(np_pm_classify_pcp(0, 0), NP_PM_OK);
    assert_int_equal(np_pm_classify_pcp(2, 0), NP_PM_POLICY);
    assert_int_equal(np_pm_classify_pcp(2, 1), NP_PM_POLICY);
    assert_int_equal(np_pm_classify_pcp(5, 1), NP_PM_THIRD_PARTY);
    assert_int_equal(np_pm_classify_pcp(5, 0), NP_PM_UNSUPPORTED);
    assert_int_equal(np_pm_classify_pcp(11, 0), NP_PM_CONFLICT);
    assert_int_equal(np_pm_classify_pcp(1, 0), NP_PM_UNSUPPORTED);
    assert_int_equal(np_pm_classify_pcp(8, 0), NP_PM_FAILED);
    assert_int_equal(np_pm_classify_pcp(200, 0), NP_PM_FAILED);
    assert_int_equal(np_pm_classify_natpmp(0), NP_PM_OK);
    assert_int_equal(np_pm_classify_natpmp(2), NP_PM_POLICY);
    assert_int_equal(np_pm_classify_natpmp(1), NP_PM_UNSUPPORTED);
    assert_int_equal(np_pm_classify_natpmp(4), NP_PM_FAILED);
    assert_non_null(strstr(np_pm_pcp_result_str(2), "NOT_AUTHORIZED"));
    assert_non_null(strstr(np_pm_pcp_result_str(5), "THIRD_PARTY"));
    assert_string_equal(np_pm_pcp_result_str(14), "unknown PCP result code");
    assert_string_equal(np_pm_pcp_result_str(-1), "unknown PCP result code");
    assert_string_equal(np_pm_upnp_error_str(718), "ConflictInMappingEntry");
    assert_string_equal(np_pm_outcome_name(NP_PM_THIRD_PARTY),
                        "third-party-refused");
}

static void tags(void **state)
{
    char d[NP_PM_DESC_MAX], small[12];
    char longlabel[200];

    (void)state;
    assert_string_equal(np_pm_describe(d, sizeof(d), "xbox udp/3074"),
                        "natpilot:xbox udp/3074");
    assert_true(np_pm_is_ours(d));
    assert_false(np_pm_is_ours("PCP MAP 0011"));
    assert_false(np_pm_is_ours("natpilot")); /* no colon */
    assert_false(np_pm_is_ours(NULL));
    memset(longlabel, 'x', sizeof(longlabel) - 1);
    longlabel[sizeof(longlabel) - 1] = '\0';
    np_pm_describe(d, sizeof(d), longlabel);
    assert_int_equal(strlen(d), NP_PM_DESC_MAX - 1);
    assert_true(np_pm_is_ours(d));
    np_pm_describe(small, sizeof(small), "game");
    assert_string_equal(small, "natpilot:ga");
}

static void epoch(void **state)
{
    (void)state;
    /* steady: both clocks advanced 100 s */
    assert_true(np_pm_epoch_ok(1000, 50, 1100, 150));
    /* one second back is tolerated */
    assert_true(np_pm_epoch_ok(1000, 50, 999, 50));
    /* the server restarted: its epoch went back */
    assert_false(np_pm_epoch_ok(1000, 50, 10, 60));
    /* the server's clock ran far slower than ours (rebooted meanwhile) */
    assert_false(np_pm_epoch_ok(1000, 50, 1005, 350));
    /* or far faster */
    assert_false(np_pm_epoch_ok(1000, 50, 2000, 60));
    /* within the 1/16 + 2 s slack */
    assert_true(np_pm_epoch_ok(1000, 0, 1160, 170));
}

/* A device's mapping in a router's table, on its port or another one. */
static void table_find(void **state)
{
    np_pm_mapping t[4];
    np_addr dev, other;

    (void)state;
    memset(t, 0, sizeof(t));
    assert_int_equal(np_addr_parse(&dev, "198.18.0.11", 0, NULL), NP_OK);
    assert_int_equal(np_addr_parse(&other, "198.18.0.10", 0, NULL), NP_OK);
    /* 0: another device holds UDP 3074; 1: ours on 3075; 2: ours on 3076 */
    t[0] = (np_pm_mapping){
        .transport = NP_PM_UDP, .external_port = 3074, .enabled = 1};
    t[0].internal = other;
    np_addr_set_port(&t[0].internal, 3074);
    t[1] = t[0];
    t[1].external_port = 3075;
    t[1].internal = dev;
    np_addr_set_port(&t[1].internal, 3074);
    t[2] = t[1];
    t[2].external_port = 3076;
    assert_ptr_equal(np_pm_table_find(t, 3, NP_PM_UDP, 3074, &dev), &t[1]);
    assert_null(np_pm_table_find(t, 3, NP_PM_TCP, 3074, &dev));
    assert_null(np_pm_table_find(t, 3, NP_PM_UDP, 3075, &dev));
    /* its own external port first, wherever it stands */
    t[3] = t[1];
    t[3].external_port = 3074;
    assert_ptr_equal(np_pm_table_find(t, 4, NP_PM_UDP, 3074, &dev), &t[3]);
    /* a disabled entry forwards nothing */
    t[1].enabled = t[2].enabled = 0;
    assert_null(np_pm_table_find(t, 3, NP_PM_UDP, 3074, &dev));
}

static void ssdp(void **state)
{
    char loc[256], tiny[16];
    size_t len;
    char *b;
    int ver = 0;

    (void)state;
    b = np_fixture("portmap", "ssdp-miniupnpd-igd2.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 1);
    assert_string_equal(loc, "http://198.18.0.1:37915/rootDesc.xml");
    assert_int_equal(ver, 2);
    /* no room for the URL: refused, nothing half-written */
    assert_int_equal(np_pm_ssdp_parse(b, len, tiny, sizeof(tiny), &ver), 0);
    assert_string_equal(tiny, "");
    /* cut anywhere: never reads past len */
    for (size_t n = 0; n < len; n++) {
        char *c = malloc(n ? n : 1);

        memcpy(c, b, n);
        (void)np_pm_ssdp_parse(c, n, loc, sizeof(loc), &ver);
        free(c);
    }
    free(b);

    b = np_fixture("portmap", "ssdp-lf-lowercase-v1.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 1);
    assert_string_equal(loc, "http://198.18.0.1:5000/rootDesc.xml");
    assert_int_equal(ver, 1);
    free(b);

    b = np_fixture("portmap", "ssdp-renderer.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 0);
    free(b);
    b = np_fixture("portmap", "ssdp-notify.txt", &len);
    assert_int_equal(np_pm_ssdp_parse(b, len, loc, sizeof(loc), &ver), 0);
    free(b);
    {
        /* a later ST naming something else leaves the IGD's version
         * (fuzz_ssdp found it returning 0) */
        static const char two[] =
            "HTTP/1.1 200 OK\r\nLOCATION: http://198.18.0.1:1/r.xml\r\n"
            "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n"
            "ST: upnp:rootdevice\r\n\r\n";

        assert_int_equal(
            np_pm_ssdp_parse(two, sizeof(two) - 1, loc, sizeof(loc), &ver), 1);
        assert_int_equal(ver, 2);
    }
}

/* --- a fake PCP server on loopback (no other network traffic) ---------- */

enum fake_mode {
    FAKE_GOOD,
    FAKE_ROGUE,
    FAKE_NATPMP,
    FAKE_BADNONCE,
    FAKE_NOTAUTH
};

/* Serve in a child: answer every request on s_good, from s_good (good) or
 * from s_other (rogue: another loopback address). */
static void fake_serve(int s_good, int s_other, enum fake_mode mode)
{
    alarm(3);
    for (;;) {
        uint8_t in[1100], out[1100];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        np_pcp_request rq;
        np_pcp_response rs;
        size_t len;
        ssize_t n;

        n = recvfrom(s_good, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            _exit(1);
        if (np_pcp_decode_request(in, (size_t)n, &rq, NULL) != NP_OK)
            continue;
        memset(&rs, 0, sizeof(rs));
        rs.version = 2;
        rs.opcode = rq.opcode;
        rs.lifetime = rq.map.lifetime;
        rs.epoch = 1000;
        if (mode == FAKE_NATPMP)
            rs.natpmp_reply = 1;
        if (mode == FAKE_NOTAUTH)
            rs.result = NP_PCP_NOT_AUTHORIZED; /* to ANNOUNCE too */
        if (rq.has_map) {
            rs.has_map = 1;
            memcpy(rs.nonce, rq.map.nonce, 12);
            if (mode == FAKE_BADNONCE)
                rs.nonce[0] ^= 1;
            rs.protocol = rq.map.protocol;
            rs.internal_port = rq.map.internal_port;
            rs.external_port = rq.map.suggested_external_port;
            assert_int_equal(np_addr_parse(&rs.external, "203.0.113.2",
                                           rs.external_port, NULL),
                             NP_OK);
        }
        if (np_pcp_encode_response(out, sizeof(out), &rs, &len, NULL) != NP_OK)
            _exit(2);
        (void)sendto(mode == FAKE_ROGUE ? s_other : s_good, out, len, 0,
                     (struct sockaddr *)&from, fl);
    }
}

static int udp_on(const char *ip, uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static pid_t fake_start(enum fake_mode mode, uint16_t *port)
{
    uint16_t other;
    int g = udp_on("127.0.0.1", port), o = udp_on("127.0.0.2", &other);
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        fake_serve(g, o, mode);
    close(g);
    close(o);
    return pid;
}

static void fake_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static np_portmap *pcp_only(uint16_t port)
{
    np_pm_options o;
    np_portmap *pm;

    memset(&o, 0, sizeof(o));
    o.prefer[0] = NP_PM_PCP;
    o.pcp_port = port;
    o.timeout_ms = 300;
    assert_int_equal(np_addr_parse(&o.gateway, "127.0.0.1", 0, NULL), NP_OK);
    pm = np_portmap_new(&o, NULL);
    assert_non_null(pm);
    return pm;
}

static void add_req(np_pm_request *q)
{
    memset(q, 0, sizeof(*q));
    q->transport = NP_PM_UDP;
    q->internal_port = 3074;
    q->lifetime = 600;
    np_pm_describe(q->description, sizeof(q->description), "test");
}

static void discover_good_pcp(void **state)
{
    uint16_t port;
    pid_t pid = fake_start(FAKE_GOOD, &port);
    np_portmap *pm = pcp_only(port);
    np_pm_discovery d;
    np_pm_request q;
    np_pm_result r;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_OK);
    assert_int_equal(d.chosen, NP_PM_PCP);
    assert_int_equal(d.pcp_version, 2);
    assert_int_equal(d.epoch[NP_PM_PCP], 1000);
    assert_int_equal(d.nsuspects, 0);
    assert_true(d.elapsed_ms < 200); /* no fixed wait once answered */
    add_req(&q);
    assert_int_equal(np_portmap_add(pm, &q, &r, &err), NP_OK);
    assert_int_equal(r.outcome, NP_PM_OK);
    assert_int_equal(r.proto, NP_PM_PCP);
    assert_string_equal(np_addr_str(&r.external, buf, sizeof(buf)),
                        "203.0.113.2:3074");
    assert_int_equal(r.lifetime, 600);
    np_portmap_free(pm);
    fake_stop(pid);
}

static void discover_rogue_ignored(void **state)
{
    uint16_t port;
    pid_t pid = fake_start(FAKE_ROGUE, &port);
    np_portmap *pm = pcp_only(port);
    np_pm_discovery d;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_ETIMEOUT);
    assert_int_equal(d.chosen, NP_PM_NONE);
    assert_int_equal(d.nsuspects, 1);
    assert_string_equal(np_addr_ip_str(&d.suspects[0].from, buf, sizeof(buf)),
                        "127.0.0.2");
    np_portmap_free(pm);
    fake_stop(pid);
}

static void natpmp_server_gives_up_pcp(void **state)
{
    uint16_t port;
    pid_t pid = fake_start(FAKE_NATPMP, &port);
    np_portmap *pm = pcp_only(port);
    np_pm_discovery d;
    np_error err;

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_ETIMEOUT);
    assert_int_equal(d.pcp_version, 0); /* UNSUPP_VERSION: use NAT-PMP */
    assert_true(d.elapsed_ms < 200);    /* and no waiting for more */
    np_portmap_free(pm);
    fake_stop(pid);
}

/* Behaviour 10: a PCP server that answers ANNOUNCE with NOT_AUTHORIZED
 * will not map: discovery gives up on PCP at once, so the next protocol
 * is used instead of failing on it. */
static void pcp_refusing_gives_up(void **state)
{
    uint16_t port;
    pid_t pid = fake_start(FAKE_NOTAUTH, &port);
    np_portmap *pm = pcp_only(port);
    np_pm_discovery d;
    np_error err;

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_ETIMEOUT);
    assert_int_equal(d.has[NP_PM_PCP], 0);
    assert_true(d.elapsed_ms < 200); /* no waiting for more */
    np_portmap_free(pm);
    fake_stop(pid);
}

static void wrong_nonce_ignored(void **state)
{
    uint16_t port;
    pid_t pid = fake_start(FAKE_BADNONCE, &port);
    np_portmap *pm = pcp_only(port);
    np_pm_request q;
    np_pm_result r;
    np_error err;

    (void)state;
    assert_int_equal(np_portmap_discover(pm, NULL, &err), NP_OK);
    add_req(&q);
    assert_int_equal(np_portmap_add(pm, &q, &r, &err), NP_ETIMEOUT);
    assert_int_equal(r.outcome, NP_PM_TIMEOUT);
    np_portmap_free(pm);
    fake_stop(pid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_upnp_table),
        cmocka_unit_test(classify_pcp_natpmp),
        cmocka_unit_test(tags),
        cmocka_unit_test(epoch),
        cmocka_unit_test(table_find),
        cmocka_unit_test(ssdp),
        cmocka_unit_test(discover_good_pcp),
        cmocka_unit_test(discover_rogue_ignored),
        cmocka_unit_test(natpmp_server_gives_up_pcp),
        cmocka_unit_test(wrong_nonce_ignored),
        cmocka_unit_test(pcp_refusing_gives_up),
        cmocka_unit_test(upnp_router_rules),
        cmocka_unit_test(upnp_readback_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
