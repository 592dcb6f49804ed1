/* Unit tests: classification of probe observations, row by row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/nat.h"

/* A synthetic run, described by what answered and with which mapping. */
struct given {
    int public_host; /* mapped == local */
    int udp;         /* 1: UDP answered */
    int tcp;         /* 1: TCP answered */
    enum np_probe_server server;
    int t2_same, t3_same; /* test II/III mapping equal to test I / II */
    int t2_ans, t3_ans;
    uint16_t p1, p2, p3; /* mapped ports of tests I, II, III */
    int f_both, f_port;  /* filtering answers */
    unsigned f_both_sent;
    int mapped_flag; /* game port mapped */
};

/* What the classification must say: one line of the README's table. */
struct want {
    enum np_udp_state udp;
    enum np_behaviour mapping, filtering;
    enum np_port_alloc alloc;
    enum np_generic generic;
    enum np_xbox xbox;
    enum np_psn psn;
    enum np_switch sw;
    enum np_nat_confidence conf;
};

struct scenario {
    const char *name;
    struct given given;
    struct want want;
};

static void addr(np_addr *a, const char *text)
{
    assert_int_equal(np_addr_parse(a, text, 0, NULL), NP_OK);
}

static void build(const struct scenario *sc, np_probe_obs *o)
{
    const struct given *s = &sc->given;

    memset(o, 0, sizeof(*o));
    o->hairpin = -1;
    addr(&o->local_m,
         s->public_host ? "192.0.2.10:40000" : "198.18.0.10:40000");
    addr(&o->local_f,
         s->public_host ? "192.0.2.10:40001" : "198.18.0.10:40001");
    o->server_state = s->server;
    addr(&o->test[0].dest, "198.51.100.10:3478");
    if (s->server != NP_SRV_NO_OTHER_ADDRESS)
        addr(&o->other_address, "198.51.100.11:3479");
    if (s->udp) {
        o->udp_answered = 1;
        o->rtt_ms = 80;
        o->test[0].answered = 1;
        o->test[0].sent = 1;
        if (s->public_host)
            o->test[0].mapped = o->local_m;
        else {
            addr(&o->test[0].mapped, "203.0.113.2:1");
            np_addr_set_port(&o->test[0].mapped, s->p1);
        }
        o->filt_plain.answered = 1;
        o->filt_plain.sent = 1;
        o->test[1].answered = s->t2_ans;
        o->test[1].sent = 1;
        o->test[1].mapped = o->test[0].mapped;
        if (!s->t2_same)
            np_addr_set_port(&o->test[1].mapped, s->p2);
        o->test[2].answered = s->t3_ans;
        o->test[2].sent = 1;
        o->test[2].mapped = o->test[1].mapped;
        if (!s->t3_same)
            np_addr_set_port(&o->test[2].mapped, s->p3);
        o->filt_change_both.answered = s->f_both;
        o->filt_change_both.sent = s->f_both_sent ? s->f_both_sent : 3;
        o->filt_change_port.answered = s->f_port;
        o->filt_change_port.sent = 3;
    }
    if (s->tcp) {
        o->tcp_tried = o->tcp_connected = o->tcp_answered = 1;
        o->tcp_rtt_ms = 80;
        o->test[0].sent = 4;
    }
}

/* One row per situation: what the probes saw (given), then what the
 * classification must say (want), in the order of the README's table:
 * UDP, mapping, filtering, port allocation, generic, Xbox, PlayStation,
 * Switch, and the confidence. Fields not named in given are 0. */
/* clang-format off */
static const struct scenario scenarios[] = {
    {.name = "public, no filter",
     .given = {.public_host = 1, .udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_both = 1, .f_port = 1, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_EI, NP_PA_PRESERVING, NP_GEN_OPEN, NP_XBOX_OPEN, NP_PSN_TYPE1, NP_SW_A, NP_NAT_CONF_HIGH}},
    {.name = "public, APD firewall",
     .given = {.public_host = 1, .udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_APD, NP_PA_PRESERVING, NP_GEN_MODERATE, NP_XBOX_MODERATE, NP_PSN_TYPE1, NP_SW_B, NP_NAT_CONF_HIGH}},
    {.name = "full cone",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_both = 1, .f_port = 1, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_EI, NP_PA_PRESERVING, NP_GEN_OPEN, NP_XBOX_OPEN, NP_PSN_TYPE2, NP_SW_A, NP_NAT_CONF_HIGH}},
    {.name = "restricted cone",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_port = 1, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_AD, NP_PA_PRESERVING, NP_GEN_MODERATE, NP_XBOX_MODERATE, NP_PSN_TYPE2, NP_SW_A, NP_NAT_CONF_HIGH}},
    {.name = "port-restricted cone",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_APD, NP_PA_PRESERVING, NP_GEN_MODERATE, NP_XBOX_MODERATE, NP_PSN_TYPE2, NP_SW_B, NP_NAT_CONF_HIGH}},
    {.name = "port-restricted, port not kept",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 50000, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_APD, NP_PA_UNKNOWN, NP_GEN_MODERATE, NP_XBOX_MODERATE, NP_PSN_TYPE2, NP_SW_B, NP_NAT_CONF_HIGH}},
    {.name = "symmetric, random",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_ans = 1, .t3_ans = 1, .p1 = 31000, .p2 = 52817, .p3 = 1203, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_APD, NP_BEH_APD, NP_PA_RANDOM, NP_GEN_STRICT, NP_XBOX_STRICT, NP_PSN_TYPE3, NP_SW_D, NP_NAT_CONF_HIGH}},
    {.name = "symmetric, sequential",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_ans = 1, .t3_ans = 1, .p1 = 31000, .p2 = 31001, .p3 = 31002, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_APD, NP_BEH_APD, NP_PA_SEQUENTIAL, NP_GEN_STRICT, NP_XBOX_STRICT, NP_PSN_TYPE3, NP_SW_C, NP_NAT_CONF_HIGH}},
    {.name = "address-dependent mapping",
     .given = {.udp = 1, .server = NP_SRV_OK, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 31000, .p2 = 31001, .f_port = 1, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_AD, NP_BEH_AD, NP_PA_UNKNOWN, NP_GEN_STRICT, NP_XBOX_STRICT, NP_PSN_TYPE3, NP_SW_UNKNOWN, NP_NAT_CONF_HIGH}},
    /* One server answers TCP, not UDP: a UDP block or a TCP-only server;
     * at most unknown ("blocked" needs a second server: udp_evidence). */
    {.name = "UDP silent, one TCP-only server",
     .given = {.tcp = 1, .server = NP_SRV_UNTESTED},
     .want = {NP_UDP_UNKNOWN, NP_BEH_UNKNOWN, NP_BEH_UNKNOWN, NP_PA_UNKNOWN, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN, NP_PSN_UNKNOWN, NP_SW_UNKNOWN, NP_NAT_CONF_LOW}},
    {.name = "nothing answers",
     .given = {.server = NP_SRV_UNTESTED},
     .want = {NP_UDP_NO_ANSWER, NP_BEH_UNKNOWN, NP_BEH_UNKNOWN, NP_PA_UNKNOWN, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN, NP_PSN_UNKNOWN, NP_SW_UNKNOWN, NP_NAT_CONF_LOW}},
    /* A server without OTHER-ADDRESS: nothing about filtering is claimed. */
    {.name = "no RFC 5780 server",
     .given = {.udp = 1, .server = NP_SRV_NO_OTHER_ADDRESS, .p1 = 40000, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_UNKNOWN, NP_BEH_UNKNOWN, NP_PA_UNKNOWN, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN, NP_PSN_UNKNOWN, NP_SW_UNKNOWN, NP_NAT_CONF_LOW}},
    /* A server that ignores CHANGE-REQUEST must not make it look EIF. */
    {.name = "server ignores CHANGE-REQUEST",
     .given = {.udp = 1, .server = NP_SRV_IGNORES_CHANGE, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_both_sent = 3},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_UNKNOWN, NP_PA_PRESERVING, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN, NP_PSN_TYPE2, NP_SW_UNKNOWN, NP_NAT_CONF_LOW}},
    /* A negative filtering result from a single send is less certain. */
    {.name = "filter test sent once",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_both_sent = 1},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_APD, NP_PA_PRESERVING, NP_GEN_MODERATE, NP_XBOX_MODERATE, NP_PSN_TYPE2, NP_SW_B, NP_NAT_CONF_MEDIUM}},
    /* [XBOX] a working mapping of the game port counts as Open. */
    {.name = "mapped game port",
     .given = {.udp = 1, .server = NP_SRV_OK, .t2_same = 1, .t3_same = 1, .t2_ans = 1, .t3_ans = 1, .p1 = 40000, .f_both_sent = 3, .mapped_flag = 1},
     .want = {NP_UDP_OK, NP_BEH_EI, NP_BEH_APD, NP_PA_PRESERVING, NP_GEN_OPEN, NP_XBOX_OPEN, NP_PSN_TYPE2, NP_SW_A, NP_NAT_CONF_HIGH}},
};
/* clang-format on */

static void test_scenarios(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const struct scenario *s = &scenarios[i];
        np_probe_obs o;
        np_nat_verdict v;

        build(s, &o);
        np_nat_classify(&o, s->given.mapped_flag, &v);
        print_message("case: %s -> %s/%s %s %s %s %s\n", s->name,
                      np_behaviour_name(v.mapping),
                      np_behaviour_name(v.filtering),
                      np_generic_name(v.generic), np_xbox_name(v.xbox),
                      np_psn_name(v.psn), np_switch_name(v.sw));
        assert_int_equal(v.udp, s->want.udp);
        assert_int_equal(v.mapping, s->want.mapping);
        assert_int_equal(v.filtering, s->want.filtering);
        assert_int_equal(v.port_alloc, s->want.alloc);
        assert_int_equal(v.generic, s->want.generic);
        assert_int_equal(v.xbox, s->want.xbox);
        assert_int_equal(v.psn, s->want.psn);
        assert_int_equal(v.sw, s->want.sw);
        assert_int_equal(v.confidence, s->want.conf);
        assert_non_null(v.reason);
        assert_non_null(v.advice);
        assert_true(strlen(v.reason) > 20);
    }
}

/* A further server seeing another mapping overrides an EIM verdict. */
static void test_extra_server_disagrees(void **state)
{
    np_probe_obs o;
    np_nat_verdict v;

    (void)state;
    build(&scenarios[4], &o);
    o.n_extra = 1;
    o.extra[0].answered = 1;
    o.extra[0].mapped = o.test[0].mapped;
    np_addr_set_port(&o.extra[0].mapped, 41234);
    np_nat_classify(&o, 0, &v);
    assert_int_equal(v.mapping, NP_BEH_NOT_EI);
    assert_int_equal(v.xbox, NP_XBOX_STRICT);
}

/* Without RFC 5780, agreeing further servers still show EIM. */
static void test_extra_servers_only(void **state)
{
    np_probe_obs o;
    np_nat_verdict v;

    (void)state;
    build(&scenarios[11], &o);
    o.n_extra = 2;
    o.extra[0].answered = o.extra[1].answered = 1;
    o.extra[0].mapped = o.extra[1].mapped = o.test[0].mapped;
    np_nat_classify(&o, 0, &v);
    assert_int_equal(v.mapping, NP_BEH_EI);
    assert_int_equal(v.filtering, NP_BEH_UNKNOWN);
    assert_int_equal(v.xbox, NP_XBOX_UNKNOWN);
    assert_int_equal(v.psn, NP_PSN_TYPE2);
}

static void test_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(np_behaviour_name(NP_BEH_APD),
                        "address-and-port-dependent");
    assert_string_equal(np_psn_name(NP_PSN_TYPE2), "Type 2");
    assert_string_equal(np_switch_name(NP_SW_F), "F");
    assert_string_equal(np_xbox_name(NP_XBOX_UNAVAILABLE), "Unavailable");
    assert_string_equal(np_generic_name(NP_GEN_BLOCKED), "blocked");
    assert_string_equal(np_udp_state_name(NP_UDP_NO_ANSWER), "no-answer");
}

/* "UDP blocked" needs evidence about the path, not about one server. */
static void udp_evidence(void **state)
{
    np_probe_obs o;
    np_nat_verdict v;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.hairpin = -1;
    addr(&o.test[0].dest, "198.51.100.10:3478");
    o.test[0].sent = 4;
    o.tcp_tried = o.tcp_connected = o.tcp_answered = 1;
    o.tcp_rtt_ms = 80;
    /* a second server, at another address, silent over UDP too */
    o.n_extra = 1;
    addr(&o.extra[0].dest, "203.0.113.77:3478");
    o.extra[0].sent = 4;
    np_nat_classify(&o, 0, &v);
    assert_int_equal(v.udp, NP_UDP_BLOCKED);
    assert_int_equal(v.xbox, NP_XBOX_UNAVAILABLE);
    /* the second server on the primary's own address proves nothing */
    addr(&o.extra[0].dest, "198.51.100.10:3479");
    np_nat_classify(&o, 0, &v);
    assert_int_equal(v.udp, NP_UDP_UNKNOWN);
    /* its UDP answer disproves a block */
    addr(&o.extra[0].dest, "203.0.113.77:3478");
    o.extra[0].answered = 1;
    o.udp_answered = 1;
    np_nat_classify(&o, 0, &v);
    assert_int_equal(v.udp, NP_UDP_OK);
    /* an ICMP port unreachable from the server: UDP gets there */
    o.extra[0].answered = 0;
    o.udp_answered = 0;
    o.udp_refused = 1;
    np_nat_classify(&o, 0, &v);
    assert_int_equal(v.udp, NP_UDP_SERVER_NO_UDP);
    assert_int_equal(v.confidence, NP_NAT_CONF_LOW);
    assert_string_equal(np_udp_state_name(v.udp), "server-no-udp");
    /* a refused TCP connection: the host is up, never "no internet" */
    memset(&o, 0, sizeof(o));
    o.hairpin = -1;
    addr(&o.test[0].dest, "198.51.100.10:3478");
    o.test[0].sent = 4;
    o.tcp_tried = o.tcp_refused = 1;
    np_nat_classify(&o, 0, &v);
    assert_int_equal(v.udp, NP_UDP_UNKNOWN);
    assert_null(strstr(v.reason, "no internet"));
    assert_string_equal(np_udp_state_name(v.udp), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(udp_evidence),
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_extra_server_disagrees),
        cmocka_unit_test(test_extra_servers_only),
        cmocka_unit_test(test_names_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
