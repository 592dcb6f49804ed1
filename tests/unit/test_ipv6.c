/* Unit tests of the IPv6 assessment (ipv6.c) and the pinhole error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "natpilot/ipv6.h"
#include "natpilot/pinhole.h"

static void addr(np_addr *a, const char *text)
{
    np_error err;
    assert_int_equal(np_addr_parse(a, text, 0, &err), NP_OK);
}

/* Observations of a run against [2001:db8:ffff::10]:3478, alternate ::11. */
static void obs_base(np_probe_obs *o, const char *local, const char *mapped)
{
    memset(o, 0, sizeof(*o));
    o->hairpin = -1;
    addr(&o->local_m, local);
    addr(&o->local_f, local);
    addr(&o->test[0].dest, "[2001:db8:ffff::10]:3478");
    o->test[0].answered = 1;
    addr(&o->test[0].mapped, mapped);
    o->test[1].answered = 1;
    o->test[1].mapped = o->test[0].mapped;
    addr(&o->other_address, "[2001:db8:ffff::11]:3479");
    o->server_state = NP_SRV_OK;
    o->filt_plain.answered = 1;
    o->filt_plain.mapped = o->test[0].mapped;
    o->filt_change_both.sent = 3;
    o->filt_change_port.sent = 3;
    o->udp_answered = 1;
    o->rtt_ms = 10;
}

static void in_base(np_ipv6_input *in, const np_probe_obs *o)
{
    memset(in, 0, sizeof(*in));
    in->has_global = 1;
    addr(&in->global, "2001:db8:1::10");
    in->has_route = 1;
    in->obs = o;
    in->probe_rc = NP_OK;
}

static void states(void **state)
{
    np_probe_obs o;
    np_ipv6_input in;
    np_ipv6_report r;
    np_v6_pinholes ph;

    (void)state;
    obs_base(&o, "[2001:db8:1::10]:40000", "[2001:db8:1::10]:40000");
    in_base(&in, &o);

    in.has_global = 0;
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.state, NP_V6_NO_ADDRESS);
    assert_string_equal(np_v6_state_name(r.state), "no-address");

    in_base(&in, &o);
    in.has_route = 0;
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.state, NP_V6_NO_ROUTE);

    in_base(&in, &o);
    in.obs = NULL;
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.state, NP_V6_NOT_TESTED);

    /* No NAT, endpoint-independent filtering: open. */
    in_base(&in, &o);
    o.filt_change_both.answered = o.filt_change_port.answered = 1;
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.state, NP_V6_OK);
    assert_int_equal(r.nat, NP_V6NAT_NONE);
    assert_int_equal(r.v.filtering, NP_BEH_EI);
    assert_int_equal(r.v.generic, NP_GEN_OPEN);
    assert_int_equal(r.v.hairpin, -1);

    /* Address-and-port-dependent filtering, pinholes offered by PCP. */
    o.filt_change_both.answered = o.filt_change_port.answered = 0;
    memset(&ph, 0, sizeof(ph));
    ph.upnp_firewall = ph.upnp_inbound = -1;
    ph.pcp_answered = 1;
    ph.pcp_result = 0;
    in.pinholes = &ph;
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.v.filtering, NP_BEH_APD);
    assert_int_equal(r.v.generic, NP_GEN_MODERATE);
    assert_true(np_v6_pinholes_available(&r.pinholes));
    assert_non_null(strstr(r.advice, "pinholes"));

    /* UPnP says inbound pinholes are not allowed, no PCP: none. */
    ph.pcp_answered = 0;
    ph.upnp_fwctl = 1;
    ph.upnp_inbound = 0;
    assert_false(np_v6_pinholes_available(&ph));
    ph.upnp_inbound = 1;
    assert_true(np_v6_pinholes_available(&ph));

    /* NAT66 that keeps the port. */
    obs_base(&o, "[2001:db8:1::10]:40000", "[2001:db8:ffff::2]:40000");
    in_base(&in, &o);
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.nat, NP_V6NAT_TRANSLATED);
    assert_int_equal(r.port_preserved, 1);
    assert_string_equal(np_v6_nat_name(r.nat), "nat66");

    /* Nothing answered over IPv6: blocked. */
    memset(&o, 0, sizeof(o));
    o.hairpin = -1;
    o.test[0].sent = 3;
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.state, NP_V6_NO_ANSWER);
    assert_int_equal(r.v.generic, NP_GEN_BLOCKED);

    /* TCP answered, UDP silent, one server: not proof of a blocked path
     * (the IPv4 rule of nat.c) */
    o.tcp_answered = 1;
    np_ipv6_assess(&in, &r);
    assert_int_equal(r.state, NP_V6_UDP_UNKNOWN);
    assert_string_equal(np_v6_state_name(r.state), "udp-unknown");
}

static void upnp_errors(void **state)
{
    static const struct {
        int code, third;
        enum np_pm_outcome want;
    } rows[] = {
        {.code = 0, .third = 0, .want = NP_PM_OK},
        {.code = 606, .third = 1, .want = NP_PM_THIRD_PARTY},
        {.code = 606, .third = 0, .want = NP_PM_POLICY},
        {.code = 702, .third = 0, .want = NP_PM_POLICY},
        {.code = 703, .third = 0, .want = NP_PM_POLICY},
        {.code = 704, .third = 0, .want = NP_PM_NOT_FOUND},
        {.code = 705, .third = 0, .want = NP_PM_UNSUPPORTED},
        {.code = 701, .third = 0, .want = NP_PM_FAILED},
        {.code = 501, .third = 0, .want = NP_PM_FAILED},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(np_ph_classify_upnp(rows[i].code, rows[i].third),
                         rows[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(states),
        cmocka_unit_test(upnp_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
