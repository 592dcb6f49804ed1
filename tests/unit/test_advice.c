/* Unit tests: advice (double NAT, protocol, per-console plan, manual
 * forwards, outbound verdicts). Each table row reads as one rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/advice.h"

static np_addr ip(const char *s)
{
    np_addr a;

    memset(&a, 0, sizeof(a));
    if (s != NULL)
        assert_int_equal(np_addr_parse(&a, s, 0, NULL), NP_OK);
    return a;
}

/* ---- double NAT ---------------------------------------------------------- */

static void test_double_nat(void **state)
{
    static const struct {
        const char *name;
        const char *stun;     /* STUN-mapped; NULL: no answer */
        int router;           /* a router protocol answered */
        int unsure;           /* what it said proves nothing */
        const char *external; /* router's external; NULL: could not say */
        int verdict, why, hint;
    } cases[] = {
        {.name = "public, equal",
         .stun = "198.51.100.7",
         .router = 1,
         .external = "198.51.100.7",
         .verdict = NP_ADVICE_DNAT_NO,
         .why = NP_ADVICE_DNAT_SAME,
         .hint = 1},
        {.name = "reserved but equal: the router holds it (a hint only)",
         .stun = "203.0.113.2",
         .router = 1,
         .external = "203.0.113.2",
         .verdict = NP_ADVICE_DNAT_NO,
         .why = NP_ADVICE_DNAT_SAME,
         .hint = 1},
        {.name = "truly public, equal",
         .stun = "8.8.4.4",
         .router = 1,
         .external = "8.8.4.4",
         .verdict = NP_ADVICE_DNAT_NO,
         .why = NP_ADVICE_DNAT_SAME,
         .hint = 0},
        {.name = "carrier NAT address, STUN sees another",
         .stun = "198.51.100.9",
         .router = 1,
         .external = "100.64.0.2",
         .verdict = NP_ADVICE_DNAT_YES,
         .why = NP_ADVICE_DNAT_DIFFERENT,
         .hint = 1},
        {.name = "public but unequal: still a second NAT",
         .stun = "8.8.8.8",
         .router = 1,
         .external = "8.8.4.4",
         .verdict = NP_ADVICE_DNAT_YES,
         .why = NP_ADVICE_DNAT_DIFFERENT,
         .hint = 0},
        {.name = "router answers but cannot say its address",
         .stun = "198.51.100.9",
         .router = 1,
         .external = NULL,
         .verdict = NP_ADVICE_DNAT_YES,
         .why = NP_ADVICE_DNAT_ROUTER_SILENT,
         .hint = 0},
        {.name = "router says 0.0.0.0 or its LAN address: unknown, not proof",
         .stun = "198.51.100.9",
         .router = 1,
         .unsure = 1,
         .external = NULL,
         .verdict = NP_ADVICE_DNAT_UNKNOWN,
         .why = NP_ADVICE_DNAT_ROUTER_UNSURE,
         .hint = 0},
        {.name = "no router answered: unknown",
         .stun = "198.51.100.9",
         .router = 0,
         .external = NULL,
         .verdict = NP_ADVICE_DNAT_UNKNOWN,
         .why = NP_ADVICE_DNAT_NO_ROUTER,
         .hint = 0},
        {.name = "no STUN answer: unknown even with a private router address",
         .stun = NULL,
         .router = 1,
         .external = "10.0.0.2",
         .verdict = NP_ADVICE_DNAT_UNKNOWN,
         .why = NP_ADVICE_DNAT_NO_STUN,
         .hint = 1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        np_addr m = ip(cases[i].stun), e = ip(cases[i].external);
        np_advice_dnat_input in = {.mapped = &m,
                                   .router_answered = cases[i].router,
                                   .router_unsure = cases[i].unsure,
                                   .router_external = &e};
        np_advice_dnat_verdict v;

        np_advice_double_nat(&in, &v);
        print_message("  %s\n", cases[i].name);
        assert_int_equal(v.verdict, cases[i].verdict);
        assert_int_equal(v.why, cases[i].why);
        assert_int_equal(v.reserved_hint, cases[i].hint);
        assert_non_null(v.text);
        if (v.verdict == NP_ADVICE_DNAT_YES)
            assert_non_null(strstr(v.text, "cannot make the NAT Open"));
        else
            assert_string_equal(v.text, "");
    }
}

/* ---- plan ---------------------------------------------------------------- */

static void test_plan(void **state)
{
    static const struct {
        const char *name;
        enum np_udp_state udp;
        enum np_generic generic;
        int dnat, router, upnp;
        int xbox_kind, ps_kind;
        const char *xbox_has; /* in the Xbox's action */
        int xbox_command;     /* the Xbox row names a command */
    } cases[] = {
        {.name = "moderate, router answers UPnP",
         .generic = NP_GEN_MODERATE,
         .dnat = NP_ADVICE_DNAT_NO,
         .router = 1,
         .upnp = 1,
         .xbox_kind = NP_ADVICE_PLAN_MAP,
         .ps_kind = NP_ADVICE_PLAN_SELF_MAP,
         .xbox_has = "udp 3074",
         .xbox_command = 1},
        {.name = "open already",
         .generic = NP_GEN_OPEN,
         .dnat = NP_ADVICE_DNAT_NO,
         .router = 1,
         .upnp = 1,
         .xbox_kind = NP_ADVICE_PLAN_ALREADY_OPEN,
         .ps_kind = NP_ADVICE_PLAN_ALREADY_OPEN,
         .xbox_has = "nothing to do"},
        {.name = "second NAT",
         .generic = NP_GEN_STRICT,
         .dnat = NP_ADVICE_DNAT_YES,
         .router = 1,
         .upnp = 1,
         .xbox_kind = NP_ADVICE_PLAN_SECOND_NAT,
         .ps_kind = NP_ADVICE_PLAN_SECOND_NAT,
         .xbox_has = "IPv6"},
        {.name = "UDP blocked comes first",
         .udp = NP_UDP_BLOCKED,
         .generic = NP_GEN_BLOCKED,
         .dnat = NP_ADVICE_DNAT_YES,
         .router = 1,
         .xbox_kind = NP_ADVICE_PLAN_UNBLOCK_UDP,
         .ps_kind = NP_ADVICE_PLAN_UNBLOCK_UDP,
         .xbox_has = "Unblock"},
        {.name = "router silent: manual, never the DMZ",
         .generic = NP_GEN_MODERATE,
         .dnat = NP_ADVICE_DNAT_UNKNOWN,
         .xbox_kind = NP_ADVICE_PLAN_MANUAL,
         .ps_kind = NP_ADVICE_PLAN_MANUAL,
         .xbox_has = "Not the DMZ"},
    };
    np_catalog *cat = np_catalog_new();
    size_t i;

    (void)state;
    assert_non_null(cat);
    assert_int_equal(np_catalog_load_embedded(cat, NULL, NULL), NP_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        np_nat_verdict v;
        np_advice_plan_input in;
        np_advice_plan_item items[NP_ADVICE_PLAN_MAX];

        memset(&v, 0, sizeof(v));
        v.udp = cases[i].udp;
        v.generic = cases[i].generic;
        memset(&in, 0, sizeof(in));
        in.verdict = &v;
        in.double_nat = cases[i].dnat;
        in.router_answered = cases[i].router;
        in.has[NP_PM_UPNP] = cases[i].upnp;
        in.igd_version = 2;
        in.cat = cat;
        print_message("  %s\n", cases[i].name);
        assert_int_equal(np_advice_plan(&in, items), 3);
        assert_string_equal(items[0].platform, "xbox");
        assert_string_equal(items[1].platform, "playstation");
        assert_int_equal(items[0].kind, cases[i].xbox_kind);
        assert_int_equal(items[1].kind, cases[i].ps_kind);
        assert_non_null(strstr(items[0].action, cases[i].xbox_has));
        assert_int_equal(items[0].command[0] != '\0', cases[i].xbox_command);
        /* Never a whole range to one device: the Switch's "all UDP
         * ports" is never named as a port to map. */
        assert_null(strstr(items[2].ports, "1-65535"));
    }
    np_catalog_free(cat);
}

/* ---- manual forwards ----------------------------------------------------- */

static void test_manual(void **state)
{
    static const struct {
        const char *name;
        const char *id;
        unsigned platform;
        int console, dnat;
        size_t n_fwd;
        const char *first_ports;
        int dhcp;
    } cases[] = {
        {.name = "Xbox console: UDP 3074, DHCP reservation",
         .id = "xbox-network",
         .platform = NP_PLAT_XBOX,
         .console = 1,
         .dnat = NP_ADVICE_DNAT_NO,
         .n_fwd = 1,
         .first_ports = "3074",
         .dhcp = 1},
        {.name = "Switch: the broad range is never forwarded",
         .id = "nintendo-switch-online",
         .platform = NP_PLAT_SWITCH,
         .console = 1,
         .dnat = NP_ADVICE_DNAT_NO,
         .n_fwd = 0,
         .dhcp = 1},
        {.name = "this PC, Minecraft: no DHCP line",
         .id = "minecraft-java",
         .platform = NP_PLAT_PC,
         .console = 0,
         .dnat = NP_ADVICE_DNAT_NO,
         .n_fwd = 1,
         .first_ports = "25565",
         .dhcp = 0},
        {.name = "second NAT flagged",
         .id = "xbox-network",
         .platform = NP_PLAT_XBOX,
         .console = 1,
         .dnat = NP_ADVICE_DNAT_YES,
         .n_fwd = 1,
         .first_ports = "3074",
         .dhcp = 1},
    };
    np_catalog *cat = np_catalog_new();
    size_t i;

    (void)state;
    assert_non_null(cat);
    assert_int_equal(np_catalog_load_embedded(cat, NULL, NULL), NP_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *ids[1] = {cases[i].id};
        np_resolved *res = NULL;
        np_advice_manual m;

        print_message("  %s\n", cases[i].name);
        assert_int_equal(np_resolve(cat, ids, 1, cases[i].platform, &res, NULL),
                         NP_OK);
        np_advice_manual_steps(res, cases[i].platform, "192.168.1.20",
                               cases[i].console, cases[i].dnat, &m);
        assert_int_equal(m.second_nat, cases[i].dnat == NP_ADVICE_DNAT_YES);
        assert_int_equal(m.n_fwd, cases[i].n_fwd);
        if (cases[i].first_ports != NULL)
            assert_string_equal(m.fwd[0].ports, cases[i].first_ports);
        assert_int_equal(m.dhcp_text[0] != '\0', cases[i].dhcp);
        assert_non_null(strstr(m.forward_intro, "192.168.1.20"));
        assert_non_null(strstr(m.no_dmz, "Why not the DMZ"));
        assert_non_null(m.console_test);
        np_resolved_free(res);
    }
    np_catalog_free(cat);
}

/* ---- outbound ------------------------------------------------------------ */

static void test_ob_verdict(void **state)
{
    enum {
        R = NP_EGRESS_REACHABLE,
        D = NP_EGRESS_DROPPED,
        F = NP_EGRESS_REFUSED,
        U = NP_EGRESS_UNTESTABLE,
        E = NP_EGRESS_ERROR
    };
    static const struct {
        const char *name;
        int states[5];
        size_t n;
        int state, partial;
    } cases[] = {
        {.name = "all reachable", .states = {R, R, R}, .n = 3, .state = R},
        {.name = "one dropped among reachable: partly",
         .states = {R, D, R},
         .n = 3,
         .state = D,
         .partial = 1},
        {.name = "most frequent blocked state wins",
         .states = {D, F, F},
         .n = 3,
         .state = F},
        {.name = "an error beats reachable",
         .states = {R, E},
         .n = 2,
         .state = E},
        {.name = "untestable only", .states = {U, U}, .n = 2, .state = U},
        {.name = "nothing at all", .n = 0, .state = U},
    };
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        np_egress_target t[5];
        int s = -1, p = -1;

        memset(t, 0, sizeof(t));
        for (j = 0; j < cases[i].n; j++)
            t[j].state = cases[i].states[j];
        print_message("  %s\n", cases[i].name);
        np_advice_ob_verdict(t, cases[i].n, &s, &p);
        assert_int_equal(s, cases[i].state);
        assert_int_equal(p, cases[i].partial);
    }
}

static void test_outbound_conclude(void **state)
{
    np_advice_outbound *ob = np_advice_outbound_new(5);
    np_advice_ob_rule r;
    size_t i;

    (void)state;
    assert_non_null(ob);
    memset(&r, 0, sizeof(r));
    r.proto = NP_EGRESS_TCP;
    r.lo[0] = 27015;
    r.hi[0] = 27030;
    r.n_ranges = 1;
    r.profile = "np-lab-shooter";
    r.feature = "matchmaking";
    r.essential = 1;
    assert_int_equal(np_advice_outbound_add(ob, &r, NULL), NP_OK);
    memset(&r, 0, sizeof(r));
    r.proto = NP_EGRESS_UDP;
    r.lo[0] = r.hi[0] = 3478;
    r.n_ranges = 1;
    assert_int_equal(np_advice_outbound_add(ob, &r, NULL), NP_OK);
    assert_int_equal(np_advice_outbound_prepare(ob, NULL), NP_OK);
    /* 16 ports sampled to 5, plus one. */
    assert_int_equal(ob->rules[0].count, 5);
    assert_int_equal(ob->rules[0].total_ports, 16);
    assert_true(ob->rules[0].sampled);
    assert_int_equal(ob->n_targets, 6);
    for (i = 0; i < 5; i++)
        ob->targets[i].state = NP_EGRESS_DROPPED;
    ob->targets[5].state = NP_EGRESS_REACHABLE;
    memset(&ob->rep, 0, sizeof(ob->rep));
    ob->rep.calib_tcp.state = NP_EGRESS_REACHABLE;
    ob->rep.calib_udp.state = NP_EGRESS_REACHABLE;
    np_advice_outbound_conclude(ob);
    assert_int_equal(ob->rules[0].state, NP_EGRESS_DROPPED);
    assert_int_equal(ob->rules[1].state, NP_EGRESS_REACHABLE);
    assert_true(ob->essential_blocked);
    assert_int_equal(ob->overall, NP_EGRESS_SOME_BLOCKED);
    assert_int_equal(ob->counts[NP_EGRESS_DROPPED], 5);
    assert_int_equal(ob->n_lines, 1);
    assert_int_equal(ob->lines[0].proto, NP_EGRESS_TCP);
    assert_non_null(strstr(ob->lines[0].ports, "27015"));
    assert_string_equal(ob->lines[0].features,
                        "np-lab-shooter matchmaking (essential)");
    np_advice_outbound_free(ob);
    np_advice_outbound_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_nat),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_manual),
        cmocka_unit_test(test_ob_verdict),
        cmocka_unit_test(test_outbound_conclude),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
