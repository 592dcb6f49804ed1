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

#include "natpilot/natpmp.h"
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
    /* one wording per code, pcp.c's; UNSUPP_OPTION blames no option (the
     * backend names THIRD_PARTY when the request carried it) */
    assert_string_equal(np_pcp_result_name(2), "NOT_AUTHORIZED");
    assert_null(strstr(np_pcp_result_message(5), "THIRD_PARTY"));
    assert_string_equal(np_pcp_result_name(14), "UNKNOWN");
    assert_string_equal(np_pcp_result_name(-1), "UNKNOWN");
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
    FAKE_V1,       /* UNSUPP_VERSION from a PCP version 1 server */
    FAKE_OPTION,   /* MAP answered UNSUPP_OPTION */
    FAKE_ZERO_EXT, /* MAP SUCCESS with external address 0.0.0.0 */
    FAKE_LAN_EXT,  /* MAP SUCCESS with the gateway's own address */
    FAKE_NOTAUTH   /* NOT_AUTHORIZED to everything, ANNOUNCE too */
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
        if (mode == FAKE_V1) {
            rs.version = 1;
            rs.result = NP_PCP_UNSUPP_VERSION;
        }
        if (rq.has_map && mode == FAKE_OPTION)
            rs.result = NP_PCP_UNSUPP_OPTION;
        if (rq.has_map && mode != FAKE_V1) {
            rs.has_map = 1;
            memcpy(rs.nonce, rq.map.nonce, 12);
            if (mode == FAKE_BADNONCE)
                rs.nonce[0] ^= 1;
            rs.protocol = rq.map.protocol;
            rs.internal_port = rq.map.internal_port;
            rs.external_port = rq.map.suggested_external_port;
            assert_int_equal(np_addr_parse(&rs.external,
                                           mode == FAKE_ZERO_EXT ? "0.0.0.0"
                                           : mode == FAKE_LAN_EXT
                                               ? "127.0.0.1"
                                               : "203.0.113.2",
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

/* A PCP version 1 server answers UNSUPP_VERSION with version 1: it is not
 * a NAT-PMP server, and not "none of PCP". */
static void pcp_v1_is_not_natpmp(void **state)
{
    uint16_t port;
    pid_t pid = fake_start(FAKE_V1, &port);
    np_portmap *pm = pcp_only(port);
    np_pm_discovery d;
    np_error err;

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_EUNSUPP);
    assert_int_equal(d.pcp_version, 1);
    assert_non_null(strstr(err.msg, "only version 1"));
    assert_null(strstr(err.msg, "none of"));
    np_portmap_free(pm);
    fake_stop(pid);
}

/* UNSUPP_OPTION on a request without THIRD_PARTY is not a third-party
 * refusal. */
static void pcp_unsupp_option_not_third_party(void **state)
{
    uint16_t port;
    pid_t pid = fake_start(FAKE_OPTION, &port);
    np_portmap *pm = pcp_only(port);
    np_pm_request q;
    np_pm_result r;
    np_error err;

    (void)state;
    assert_int_equal(np_portmap_discover(pm, NULL, &err), NP_OK);
    add_req(&q);
    assert_int_equal(np_portmap_add(pm, &q, &r, &err), NP_OK);
    assert_int_equal(r.proto, NP_PM_PCP);
    assert_int_equal(r.code, NP_PCP_UNSUPP_OPTION);
    assert_int_not_equal(r.outcome, NP_PM_THIRD_PARTY);
    assert_null(strstr(r.message, "THIRD_PARTY"));
    np_portmap_free(pm);
    fake_stop(pid);
}

/* SUCCESS with an external address that cannot be one is not a mapping. */
static void pcp_bogus_external_rejected(void **state)
{
    enum fake_mode modes[] = {FAKE_ZERO_EXT, FAKE_LAN_EXT};
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        uint16_t port;
        pid_t pid = fake_start(modes[i], &port);
        np_portmap *pm = pcp_only(port);
        np_pm_request q;
        np_pm_result r;
        np_addr ext;
        np_error err;

        assert_int_equal(np_portmap_discover(pm, NULL, &err), NP_OK);
        add_req(&q);
        assert_int_equal(np_portmap_add(pm, &q, &r, &err), NP_OK);
        assert_int_equal(r.proto, NP_PM_PCP);
        assert_int_equal(r.outcome, NP_PM_FAILED);
        assert_false(np_addr_is_set(&r.external));
        assert_non_null(strstr(r.message, "does not know"));
        assert_int_equal(np_portmap_external_address(pm, &ext, &err),
                         NP_ENOTFOUND);
        assert_non_null(strstr(err.msg, "does not know its public address"));
        np_portmap_free(pm);
        fake_stop(pid);
    }
}

static void external_usable(void **state)
{
    static const struct {
        const char *ip;
        int usable;
    } rows[] = {
        {"203.0.113.7", 1},     {"100.64.1.2", 1},  {"10.0.0.2", 1},
        {"0.0.0.0", 0},         {"0.1.2.3", 0},     {"127.0.0.1", 0},
        {"127.1.2.3", 0},       {"192.168.1.1", 0}, /* the gateway */
        {"192.168.1.20", 0},                        /* this host */
        {"255.255.255.255", 0}, {"::", 0},          {"::1", 0},
        {"2001:db8::1", 1},
    };
    np_addr gw, me, a;
    size_t i;

    (void)state;
    assert_int_equal(np_addr_parse(&gw, "192.168.1.1", 0, NULL), NP_OK);
    assert_int_equal(np_addr_parse(&me, "192.168.1.20", 0, NULL), NP_OK);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(np_addr_parse(&a, rows[i].ip, 0, NULL), NP_OK);
        if (np_pm_external_usable(&a, &gw, &me) != rows[i].usable)
            fail_msg("%s: expected %d", rows[i].ip, rows[i].usable);
    }
    memset(&a, 0, sizeof(a));
    assert_int_equal(np_pm_external_usable(&a, NULL, NULL), 0);
}

static void xml_escape(void **state)
{
    static const struct {
        const char *in, *out;
        size_t cap;
        int rc;
    } rows[] = {
        {"natpilot:Tom & Ana", "natpilot:Tom &amp; Ana", 64, 0},
        {"<a href=\"x\">'b'</a>",
         "&lt;a href=&quot;x&quot;&gt;&apos;b&apos;&lt;/a&gt;", 128, 0},
        {"plain", "plain", 64, 0},
        {"tab\tok\x01gone", "tab\tokgone", 64, 0},
        {"caf\xc3\xa9 & co", "caf\xc3\xa9 &amp; co", 64, 0},
        /* cut, never inside an entity or a UTF-8 sequence */
        {"ab&cd", "ab", 6, -1},
        {"ab\xc3\xa9", "ab", 4, -1},
        {"", "", 1, 0},
    };
    char out[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(np__xml_escape(rows[i].in, out, rows[i].cap),
                         rows[i].rc);
        assert_string_equal(out, rows[i].out);
    }
}

static void xml_unescape(void **state)
{
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"natpilot:Tom &amp; Ana", "natpilot:Tom & Ana"},
        {"&lt;a&gt;&quot;&apos;", "<a>\"'"},
        {"&#38;&#x41;&#X42;", "&AB"},
        {"&bogus; & &#1; &#xZ;", "&bogus; & &#1; &#xZ;"},
        {"&amp;amp;", "&amp;"},
        {"", ""},
    };
    char buf[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", rows[i].in);
        np__xml_unescape(buf);
        assert_string_equal(buf, rows[i].out);
    }
    /* what natpilot escapes comes back as it was */
    {
        char esc[128];

        assert_int_equal(
            np__xml_escape("natpilot:Tom & Ana <3 \"x\"", esc, sizeof(esc)), 0);
        np__xml_unescape(esc);
        assert_string_equal(esc, "natpilot:Tom & Ana <3 \"x\"");
    }
}

static void url_repoint(void **state)
{
    np_addr from;
    char out[256];

    (void)state;
    assert_int_equal(np_addr_parse(&from, "192.168.1.1", 0, NULL), NP_OK);
    assert_int_equal(np__url_repoint("http://127.0.0.1:1900/igd.xml", &from,
                                     out, sizeof(out)),
                     1);
    assert_string_equal(out, "http://192.168.1.1:1900/igd.xml");
    assert_int_equal(
        np__url_repoint("http://0.0.0.0/d.xml", &from, out, sizeof(out)), 1);
    assert_string_equal(out, "http://192.168.1.1/d.xml");
    assert_int_equal(
        np__url_repoint("http://localhost:5000/r", &from, out, sizeof(out)), 1);
    assert_string_equal(out, "http://192.168.1.1:5000/r");
    snprintf(out, sizeof(out), "untouched");
    assert_int_equal(
        np__url_repoint("http://192.168.1.1:5000/r", &from, out, sizeof(out)),
        0);
    assert_string_equal(out, "untouched");
    assert_int_equal(
        np__url_repoint("http://router.lan:5000/r", &from, out, sizeof(out)),
        0);
    assert_int_equal(
        np__url_repoint("ftp://127.0.0.1/r", &from, out, sizeof(out)), -1);
    assert_int_equal(np__url_repoint("http://127.0.0.1:1/r", &from, out, 10),
                     -1);
}

static void on_lan(void **state)
{
    np_addr me, a;

    (void)state;
    assert_int_equal(np_addr_parse(&me, "192.168.1.20", 0, NULL), NP_OK);
    assert_int_equal(np_addr_parse(&a, "192.168.1.2", 0, NULL), NP_OK);
    assert_true(np__on_lan(&a, &me, 24));
    assert_true(np__on_lan(&a, &me, 0)); /* unknown: /24 */
    assert_false(np__on_lan(&a, &me, 31));
    assert_int_equal(np_addr_parse(&a, "192.168.2.2", 0, NULL), NP_OK);
    assert_false(np__on_lan(&a, &me, 24));
    assert_true(np__on_lan(&a, &me, 16));
    assert_int_equal(np_addr_parse(&a, "203.0.113.2", 0, NULL), NP_OK);
    assert_false(np__on_lan(&a, &me, 24));
    assert_int_equal(np_addr_parse(&a, "2001:db8::1", 0, NULL), NP_OK);
    assert_false(np__on_lan(&a, &me, 24));
}

/* --- a fake NAT-PMP gateway on loopback -------------------------------- */

enum npm_mode {
    NPM_GOOD,     /* 203.0.113.7, maps as asked */
    NPM_SHORT,    /* 2 bytes to the external address request */
    NPM_ZERO,     /* external address 0.0.0.0 */
    NPM_SHORT_MAP /* a 10-byte answer to a map request */
};

static void npm_serve(int fd, enum npm_mode mode)
{
    alarm(3);
    for (;;) {
        uint8_t in[64], out[64];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        np_natpmp_map_request rq;
        np_natpmp_response rs;
        size_t len;
        ssize_t n;

        n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            _exit(1);
        if (np_natpmp_decode_request(in, (size_t)n, &rq, NULL) != NP_OK)
            continue;
        memset(&rs, 0, sizeof(rs));
        rs.opcode = rq.opcode;
        rs.epoch = 500;
        if (rq.opcode == NP_NATPMP_OP_PUBLIC_ADDRESS) {
            rs.has_address = 1;
            assert_int_equal(
                np_addr_parse(&rs.external,
                              mode == NPM_ZERO ? "0.0.0.0" : "203.0.113.7", 0,
                              NULL),
                NP_OK);
        } else {
            rs.has_map = 1;
            rs.internal_port = rq.internal_port;
            rs.external_port = rq.suggested_external_port;
            rs.lifetime = rq.lifetime;
        }
        if (np_natpmp_encode_response(out, sizeof(out), &rs, &len, NULL) !=
            NP_OK)
            _exit(2);
        if (mode == NPM_SHORT && rq.opcode == NP_NATPMP_OP_PUBLIC_ADDRESS)
            len = 2;
        if (mode == NPM_SHORT_MAP && rq.opcode != NP_NATPMP_OP_PUBLIC_ADDRESS)
            len = 10;
        (void)sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
    }
}

static pid_t npm_start(enum npm_mode mode, uint16_t *port)
{
    int g = udp_on("127.0.0.1", port);
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        npm_serve(g, mode);
    close(g);
    return pid;
}

static np_portmap *natpmp_only(uint16_t port)
{
    np_pm_options o;
    np_portmap *pm;

    memset(&o, 0, sizeof(o));
    o.prefer[0] = NP_PM_NATPMP;
    o.pcp_port = port;
    o.timeout_ms = 300;
    assert_int_equal(np_addr_parse(&o.gateway, "127.0.0.1", 0, NULL), NP_OK);
    pm = np_portmap_new(&o, NULL);
    assert_non_null(pm);
    return pm;
}

static void natpmp_good(void **state)
{
    uint16_t port;
    pid_t pid = npm_start(NPM_GOOD, &port);
    np_portmap *pm = natpmp_only(port);
    np_pm_discovery d;
    np_pm_request q;
    np_pm_result r;
    np_addr ext;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_OK);
    assert_int_equal(d.chosen, NP_PM_NATPMP);
    assert_int_equal(d.epoch[NP_PM_NATPMP], 500);
    assert_string_equal(
        np_addr_ip_str(&d.external[NP_PM_NATPMP], buf, sizeof(buf)),
        "203.0.113.7");
    assert_int_equal(np_portmap_external_address(pm, &ext, &err), NP_OK);
    add_req(&q);
    assert_int_equal(np_portmap_add(pm, &q, &r, &err), NP_OK);
    assert_int_equal(r.outcome, NP_PM_OK);
    assert_string_equal(np_addr_str(&r.external, buf, sizeof(buf)),
                        "203.0.113.7:3074");
    assert_int_equal(r.lifetime, 600);
    np_portmap_free(pm);
    fake_stop(pid);
}

/* libnatpmp read a 2-byte answer as 0.0.0.0 (a false double NAT): the
 * bounded decoder refuses it and says where. */
static void natpmp_truncated_answer(void **state)
{
    uint16_t port;
    pid_t pid = npm_start(NPM_SHORT, &port);
    np_portmap *pm = natpmp_only(port);
    np_pm_discovery d;
    np_addr ext;
    np_error err;
    char peer[64];

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_OK);
    assert_int_equal(d.chosen, NP_PM_NATPMP);
    assert_false(np_addr_is_set(&d.external[NP_PM_NATPMP]));
    assert_false(np_addr_is_set(&d.external_bogus[NP_PM_NATPMP]));
    assert_int_equal(d.external_unread[NP_PM_NATPMP], 1);
    assert_int_equal(np_portmap_external_address(pm, &ext, &err), NP_ETRUNC);
    snprintf(peer, sizeof(peer), "127.0.0.1:%u", (unsigned)port);
    assert_non_null(strstr(err.where, peer));
    assert_non_null(strstr(err.where, "byte 2"));
    assert_non_null(strstr(d.note, "NAT-PMP: NAT-PMP answer from 127.0.0.1"));
    assert_non_null(strstr(d.note, "byte 2"));
    np_portmap_free(pm);
    fake_stop(pid);
}

static void natpmp_zero_external(void **state)
{
    uint16_t port;
    pid_t pid = npm_start(NPM_ZERO, &port);
    np_portmap *pm = natpmp_only(port);
    np_pm_discovery d;
    np_addr ext;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    assert_int_equal(np_portmap_discover(pm, &d, &err), NP_OK);
    assert_false(np_addr_is_set(&d.external[NP_PM_NATPMP]));
    assert_string_equal(
        np_addr_ip_str(&d.external_bogus[NP_PM_NATPMP], buf, sizeof(buf)),
        "0.0.0.0");
    assert_int_equal(np_portmap_external_address(pm, &ext, &err), NP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "does not know its public address"));
    np_portmap_free(pm);
    fake_stop(pid);
}

static void natpmp_truncated_map(void **state)
{
    uint16_t port;
    pid_t pid = npm_start(NPM_SHORT_MAP, &port);
    np_portmap *pm = natpmp_only(port);
    np_pm_request q;
    np_pm_result r;
    np_error err;

    (void)state;
    assert_int_equal(np_portmap_discover(pm, NULL, &err), NP_OK);
    add_req(&q);
    assert_int_equal(np_portmap_add(pm, &q, &r, &err), NP_OK);
    assert_int_equal(r.proto, NP_PM_NATPMP);
    assert_int_equal(r.outcome, NP_PM_FAILED);
    assert_non_null(strstr(r.message, "byte 10"));
    assert_non_null(strstr(r.message, "127.0.0.1"));
    np_portmap_free(pm);
    fake_stop(pid);
}

/* --- a fake IGD on loopback: SSDP, description, SOAP ------------------- */

enum igd_mode {
    IGD_CARP,     /* answers the M-SEARCH sent to the gateway (127.0.0.1)
                     from its static address 127.0.0.2; WANPPPConnection
                     first and not connected, WANIPConnection connected */
    IGD_LOOPBACK, /* the gateway answers itself, LOCATION on 0.0.0.0; its
                     one WAN service says external address 0.0.0.0 */
};

static const char igd_desc[] =
    "<?xml version=\"1.0\"?>\n"
    "<root xmlns=\"urn:schemas-upnp-org:device-1-0\">"
    "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
    "<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1"
    "</deviceType><friendlyName>fake</friendlyName><deviceList><device>"
    "<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>"
    "<deviceList><device><deviceType>urn:schemas-upnp-org:device:"
    "WANConnectionDevice:1</deviceType><serviceList>%s</serviceList>"
    "</device></deviceList></device></deviceList></device></root>\n";
static const char svc_ppp[] =
    "<service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1"
    "</serviceType><serviceId>urn:upnp-org:serviceId:WANPPPConn1"
    "</serviceId><controlURL>/ppp</controlURL><eventSubURL>/e1"
    "</eventSubURL><SCPDURL>/ppp.xml</SCPDURL></service>";
static const char svc_ip[] =
    "<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1"
    "</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1"
    "</serviceId><controlURL>/ip</controlURL><eventSubURL>/e2"
    "</eventSubURL><SCPDURL>/ip.xml</SCPDURL></service>";

static void http_reply(int c, const char *type, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     type, strlen(body));

    if (send(c, head, (size_t)n, MSG_NOSIGNAL) < 0)
        return;
    (void)send(c, body, strlen(body), MSG_NOSIGNAL);
}

static void igd_http(int c, enum igd_mode mode)
{
    char req[4096], body[4096], svcs[1024];
    size_t have = 0;
    const char *svc;
    int ppp;

    for (;;) { /* read until the SOAP body (or the GET) is in */
        ssize_t n = read(c, req + have, sizeof(req) - 1 - have);
        char *hdr_end, *cl;

        if (n <= 0)
            break;
        have += (size_t)n;
        req[have] = '\0';
        hdr_end = strstr(req, "\r\n\r\n");
        if (hdr_end == NULL)
            continue;
        cl = strstr(req, "Content-Length:");
        if (cl == NULL ||
            (size_t)(hdr_end + 4 - req) + strtoul(cl + 15, NULL, 10) <= have)
            break;
    }
    req[have] = '\0';
    if (strncmp(req, "GET ", 4) == 0) {
        snprintf(svcs, sizeof(svcs), "%s%s", mode == IGD_CARP ? svc_ppp : "",
                 svc_ip);
        snprintf(body, sizeof(body), igd_desc, svcs);
        http_reply(c, "text/xml", body);
        return;
    }
    ppp = strstr(req, "POST /ppp") != NULL;
    svc = ppp ? "urn:schemas-upnp-org:service:WANPPPConnection:1"
              : "urn:schemas-upnp-org:service:WANIPConnection:1";
    if (strstr(req, "GetStatusInfo") != NULL)
        snprintf(body, sizeof(body),
                 "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://"
                 "schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
                 "<u:GetStatusInfoResponse xmlns:u=\"%s\">"
                 "<NewConnectionStatus>%s</NewConnectionStatus>"
                 "<NewLastConnectionError>ERROR_NONE"
                 "</NewLastConnectionError><NewUptime>5</NewUptime>"
                 "</u:GetStatusInfoResponse></s:Body></s:Envelope>",
                 svc, ppp ? "Disconnected" : "Connected");
    else
        snprintf(body, sizeof(body),
                 "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://"
                 "schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
                 "<u:GetExternalIPAddressResponse xmlns:u=\"%s\">"
                 "<NewExternalIPAddress>%s</NewExternalIPAddress>"
                 "</u:GetExternalIPAddressResponse></s:Body></s:Envelope>",
                 svc,
                 mode == IGD_LOOPBACK ? "0.0.0.0"
                 : ppp                ? ""
                                      : "203.0.113.9");
    http_reply(c, "text/xml", body);
}

static void igd_serve(int ssdp, int answer_from, int http, uint16_t hport,
                      enum igd_mode mode)
{
    alarm(5);
    for (;;) {
        fd_set rs;
        int m = ssdp > http ? ssdp : http;

        FD_ZERO(&rs);
        FD_SET(ssdp, &rs);
        FD_SET(http, &rs);
        if (select(m + 1, &rs, NULL, NULL, NULL) < 0)
            _exit(1);
        if (FD_ISSET(ssdp, &rs)) {
            char in[1024], out[512];
            struct sockaddr_in from;
            socklen_t fl = sizeof(from);
            ssize_t n = recvfrom(ssdp, in, sizeof(in) - 1, 0,
                                 (struct sockaddr *)&from, &fl);
            const char *st;
            char stv[128];
            int k;

            if (n <= 0)
                continue;
            in[n] = '\0';
            st = strstr(in, "\r\nST: "); /* not the one in "HOST: " */
            if (st == NULL)
                continue;
            for (k = 0; st[6 + k] != '\r' && st[6 + k] != '\0' && k < 127; k++)
                stv[k] = st[6 + k];
            stv[k] = '\0';
            snprintf(out, sizeof(out),
                     "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n"
                     "ST: %s\r\nUSN: uuid:fake::%s\r\n"
                     "LOCATION: http://%s:%u/desc.xml\r\n\r\n",
                     stv, stv, mode == IGD_CARP ? "127.0.0.2" : "0.0.0.0",
                     (unsigned)hport);
            (void)sendto(answer_from, out, strlen(out), 0,
                         (struct sockaddr *)&from, fl);
        }
        if (FD_ISSET(http, &rs)) {
            int c = accept(http, NULL, NULL);

            if (c >= 0) {
                igd_http(c, mode);
                close(c);
            }
        }
    }
}

static pid_t igd_start(enum igd_mode mode, uint16_t *ssdp_port)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    uint16_t other, hport;
    int ssdp = udp_on("127.0.0.1", ssdp_port);
    int from = mode == IGD_CARP ? udp_on("127.0.0.2", &other) : ssdp;
    int http = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    pid_t pid;

    assert_true(http >= 0);
    (void)setsockopt(http, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    inet_pton(AF_INET, mode == IGD_CARP ? "127.0.0.2" : "127.0.0.1",
              &a.sin_addr);
    assert_int_equal(bind(http, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(http, (struct sockaddr *)&a, &al), 0);
    hport = ntohs(a.sin_port);
    assert_int_equal(listen(http, 8), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        igd_serve(ssdp, from, http, hport, mode);
    close(ssdp);
    if (from != ssdp)
        close(from);
    close(http);
    return pid;
}

static np_portmap *upnp_only(uint16_t ssdp_port)
{
    np_pm_options o;
    np_portmap *pm;

    memset(&o, 0, sizeof(o));
    o.prefer[0] = NP_PM_UPNP;
    o.ssdp_port = ssdp_port;
    o.ssdp_max_ms = 600;
    o.timeout_ms = 600;
    assert_int_equal(np_addr_parse(&o.gateway, "127.0.0.1", 0, NULL), NP_OK);
    pm = np_portmap_new(&o, NULL);
    assert_non_null(pm);
    return pm;
}

/* Behaviours 4 and 6: a CARP pair answers for the gateway from its static
 * address; its first WAN service (WANPPPConnection) is not connected. */
static void upnp_carp_second_service(void **state)
{
    uint16_t port;
    pid_t pid = igd_start(IGD_CARP, &port);
    np_portmap *pm = upnp_only(port);
    np_pm_discovery d;
    np_addr ext;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    if (np_portmap_discover(pm, &d, &err) != NP_OK)
        fail_msg("discover: %s (%s) suspects %zu", err.msg, err.where,
                 d.nsuspects);
    assert_int_equal(d.chosen, NP_PM_UPNP);
    assert_non_null(strstr(d.igd_url, "127.0.0.2"));
    assert_non_null(strstr(d.note, "answered for the gateway from "
                                   "127.0.0.2"));
    assert_non_null(strstr(d.note, "second WAN service"));
    assert_true(d.igd_connected);
    assert_string_equal(
        np_addr_ip_str(&d.external[NP_PM_UPNP], buf, sizeof(buf)),
        "203.0.113.9");
    assert_int_equal(np_portmap_external_address(pm, &ext, &err), NP_OK);
    np_portmap_free(pm);
    fake_stop(pid);
}

/* Behaviours 6 and 7: LOCATION on 0.0.0.0 (re-pointed at the gateway that
 * answered), external address 0.0.0.0 (not the public IP). */
static void upnp_loopback_location_bogus_external(void **state)
{
    uint16_t port;
    pid_t pid = igd_start(IGD_LOOPBACK, &port);
    np_portmap *pm = upnp_only(port);
    np_pm_discovery d;
    np_addr ext;
    np_error err;
    char buf[NP_ADDRSTRLEN];

    (void)state;
    if (np_portmap_discover(pm, &d, &err) != NP_OK)
        fail_msg("discover: %s (%s) suspects %zu", err.msg, err.where,
                 d.nsuspects);
    assert_int_equal(d.chosen, NP_PM_UPNP);
    assert_int_equal(strncmp(d.igd_url, "http://127.0.0.1:", 17), 0);
    assert_non_null(strstr(d.note, "unusable host"));
    assert_false(np_addr_is_set(&d.external[NP_PM_UPNP]));
    assert_string_equal(
        np_addr_ip_str(&d.external_bogus[NP_PM_UPNP], buf, sizeof(buf)),
        "0.0.0.0");
    assert_int_equal(np_portmap_external_address(pm, &ext, &err), NP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "does not know its public address"));
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
        cmocka_unit_test(pcp_v1_is_not_natpmp),
        cmocka_unit_test(pcp_unsupp_option_not_third_party),
        cmocka_unit_test(pcp_bogus_external_rejected),
        cmocka_unit_test(external_usable),
        cmocka_unit_test(xml_escape),
        cmocka_unit_test(xml_unescape),
        cmocka_unit_test(url_repoint),
        cmocka_unit_test(on_lan),
        cmocka_unit_test(natpmp_good),
        cmocka_unit_test(natpmp_truncated_answer),
        cmocka_unit_test(natpmp_zero_external),
        cmocka_unit_test(natpmp_truncated_map),
        cmocka_unit_test(upnp_carp_second_service),
        cmocka_unit_test(upnp_loopback_location_bogus_external),
        cmocka_unit_test(pcp_refusing_gives_up),
        cmocka_unit_test(upnp_router_rules),
        cmocka_unit_test(upnp_readback_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
