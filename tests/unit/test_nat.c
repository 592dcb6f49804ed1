/* Unit tests: classification of probe observations, row by row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/nat.h"

/* A synthetic run, described by what answered and with which mapping. */
struct scenario {
    const char *name;
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
    /* expectations */
    enum np_udp_state e_udp;
    enum np_behaviour e_map, e_filt;
    enum np_port_alloc e_alloc;
    enum np_generic e_gen;
    enum np_xbox e_xbox;
    enum np_psn e_psn;
    enum np_switch e_sw;
    enum np_nat_confidence e_conf;
};

static void addr(np_addr *a, const char *text)
{
    assert_int_equal(np_addr_parse(a, text, 0, NULL), NP_OK);
}

static void build(const struct scenario *s, np_probe_obs *o)
{
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

#define OK NP_SRV_OK
static const struct scenario scenarios[] = {
    {"public, no filter",
     1,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     1,
     1,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_EI,
     NP_PA_PRESERVING,
     NP_GEN_OPEN,
     NP_XBOX_OPEN,
     NP_PSN_TYPE1,
     NP_SW_A,
     NP_NAT_CONF_HIGH},
    {"public, APD firewall",
     1,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     0,
     0,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_APD,
     NP_PA_PRESERVING,
     NP_GEN_MODERATE,
     NP_XBOX_MODERATE,
     NP_PSN_TYPE1,
     NP_SW_B,
     NP_NAT_CONF_HIGH},
    {"full cone",
     0,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     1,
     1,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_EI,
     NP_PA_PRESERVING,
     NP_GEN_OPEN,
     NP_XBOX_OPEN,
     NP_PSN_TYPE2,
     NP_SW_A,
     NP_NAT_CONF_HIGH},
    {"restricted cone",
     0,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     0,
     1,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_AD,
     NP_PA_PRESERVING,
     NP_GEN_MODERATE,
     NP_XBOX_MODERATE,
     NP_PSN_TYPE2,
     NP_SW_A,
     NP_NAT_CONF_HIGH},
    {"port-restricted cone",
     0,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     0,
     0,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_APD,
     NP_PA_PRESERVING,
     NP_GEN_MODERATE,
     NP_XBOX_MODERATE,
     NP_PSN_TYPE2,
     NP_SW_B,
     NP_NAT_CONF_HIGH},
    {"port-restricted, port not kept",
     0,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     50000,
     0,
     0,
     0,
     0,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_APD,
     NP_PA_UNKNOWN,
     NP_GEN_MODERATE,
     NP_XBOX_MODERATE,
     NP_PSN_TYPE2,
     NP_SW_B,
     NP_NAT_CONF_HIGH},
    {"symmetric, random",
     0,
     1,
     0,
     OK,
     0,
     0,
     1,
     1,
     31000,
     52817,
     1203,
     0,
     0,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_APD,
     NP_BEH_APD,
     NP_PA_RANDOM,
     NP_GEN_STRICT,
     NP_XBOX_STRICT,
     NP_PSN_TYPE3,
     NP_SW_D,
     NP_NAT_CONF_HIGH},
    {"symmetric, sequential",
     0,
     1,
     0,
     OK,
     0,
     0,
     1,
     1,
     31000,
     31001,
     31002,
     0,
     0,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_APD,
     NP_BEH_APD,
     NP_PA_SEQUENTIAL,
     NP_GEN_STRICT,
     NP_XBOX_STRICT,
     NP_PSN_TYPE3,
     NP_SW_C,
     NP_NAT_CONF_HIGH},
    {"address-dependent mapping",
     0,
     1,
     0,
     OK,
     0,
     1,
     1,
     1,
     31000,
     31001,
     0,
     0,
     1,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_AD,
     NP_BEH_AD,
     NP_PA_UNKNOWN,
     NP_GEN_STRICT,
     NP_XBOX_STRICT,
     NP_PSN_TYPE3,
     NP_SW_UNKNOWN,
     NP_NAT_CONF_HIGH},
    /* one server that answers TCP, not UDP: a UDP block or a TCP-only
     * server; at most unknown (see udp_evidence for "blocked") */
    {"UDP silent, one TCP-only server",
     0,
     0,
     1,
     NP_SRV_UNTESTED,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     NP_UDP_UNKNOWN,
     NP_BEH_UNKNOWN,
     NP_BEH_UNKNOWN,
     NP_PA_UNKNOWN,
     NP_GEN_UNKNOWN,
     NP_XBOX_UNKNOWN,
     NP_PSN_UNKNOWN,
     NP_SW_UNKNOWN,
     NP_NAT_CONF_LOW},
    {"nothing answers",
     0,
     0,
     0,
     NP_SRV_UNTESTED,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     NP_UDP_NO_ANSWER,
     NP_BEH_UNKNOWN,
     NP_BEH_UNKNOWN,
     NP_PA_UNKNOWN,
     NP_GEN_UNKNOWN,
     NP_XBOX_UNKNOWN,
     NP_PSN_UNKNOWN,
     NP_SW_UNKNOWN,
     NP_NAT_CONF_LOW},
    /* A server without OTHER-ADDRESS: nothing about filtering is claimed. */
    {"no RFC 5780 server",
     0,
     1,
     0,
     NP_SRV_NO_OTHER_ADDRESS,
     0,
     0,
     0,
     0,
     40000,
     0,
     0,
     0,
     0,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_UNKNOWN,
     NP_BEH_UNKNOWN,
     NP_PA_UNKNOWN,
     NP_GEN_UNKNOWN,
     NP_XBOX_UNKNOWN,
     NP_PSN_UNKNOWN,
     NP_SW_UNKNOWN,
     NP_NAT_CONF_LOW},
    /* A server that ignores CHANGE-REQUEST must not make it look EIF. */
    {"server ignores CHANGE-REQUEST",
     0,
     1,
     0,
     NP_SRV_IGNORES_CHANGE,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     0,
     0,
     3,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_UNKNOWN,
     NP_PA_PRESERVING,
     NP_GEN_UNKNOWN,
     NP_XBOX_UNKNOWN,
     NP_PSN_TYPE2,
     NP_SW_UNKNOWN,
     NP_NAT_CONF_LOW},
    /* A negative filtering result from a single send is less certain. */
    {"filter test sent once",
     0,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     0,
     0,
     1,
     0,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_APD,
     NP_PA_PRESERVING,
     NP_GEN_MODERATE,
     NP_XBOX_MODERATE,
     NP_PSN_TYPE2,
     NP_SW_B,
     NP_NAT_CONF_MEDIUM},
    /* [XBOX] a working mapping of the game port counts as Open. */
    {"mapped game port",
     0,
     1,
     0,
     OK,
     1,
     1,
     1,
     1,
     40000,
     0,
     0,
     0,
     0,
     3,
     1,
     NP_UDP_OK,
     NP_BEH_EI,
     NP_BEH_APD,
     NP_PA_PRESERVING,
     NP_GEN_OPEN,
     NP_XBOX_OPEN,
     NP_PSN_TYPE2,
     NP_SW_A,
     NP_NAT_CONF_HIGH},
};

static void test_scenarios(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const struct scenario *s = &scenarios[i];
        np_probe_obs o;
        np_nat_verdict v;

        build(s, &o);
        np_nat_classify(&o, s->mapped_flag, &v);
        print_message("case: %s -> %s/%s %s %s %s %s\n", s->name,
                      np_behaviour_name(v.mapping),
                      np_behaviour_name(v.filtering),
                      np_generic_name(v.generic), np_xbox_name(v.xbox),
                      np_psn_name(v.psn), np_switch_name(v.sw));
        assert_int_equal(v.udp, s->e_udp);
        assert_int_equal(v.mapping, s->e_map);
        assert_int_equal(v.filtering, s->e_filt);
        assert_int_equal(v.port_alloc, s->e_alloc);
        assert_int_equal(v.generic, s->e_gen);
        assert_int_equal(v.xbox, s->e_xbox);
        assert_int_equal(v.psn, s->e_psn);
        assert_int_equal(v.sw, s->e_sw);
        assert_int_equal(v.confidence, s->e_conf);
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
