/* natpilot: the IPv6 side of diagnose (see include/natpilot/ipv6.h). */
#include <string.h>

#include "natpilot/error.h"
#include "natpilot/ipv6.h"

const char *np_v6_state_name(enum np_v6_state s)
{
    switch (s) {
    case NP_V6_NO_ADDRESS:
        return "no-address";
    case NP_V6_NO_ROUTE:
        return "no-route";
    case NP_V6_NOT_TESTED:
        return "not-tested";
    case NP_V6_NO_ANSWER:
        return "no-answer";
    case NP_V6_UDP_BLOCKED:
        return "udp-blocked";
    case NP_V6_OK:
        return "ok";
    case NP_V6_UDP_UNKNOWN:
        return "udp-unknown";
    }
    return "unknown";
}

const char *np_v6_nat_name(enum np_v6_nat n)
{
    switch (n) {
    case NP_V6NAT_NONE:
        return "none";
    case NP_V6NAT_TRANSLATED:
        return "nat66";
    case NP_V6NAT_UNKNOWN:
        break;
    }
    return "unknown";
}

int np_v6_pinholes_available(const np_v6_pinholes *p)
{
    if (p == NULL)
        return 0;
    if (p->upnp_fwctl && p->upnp_inbound == 1)
        return 1;
    return p->pcp_answered && p->pcp_result == 0;
}

/* The translation seen in the mapped address of test I (or F's plain). */
static enum np_v6_nat derive_nat(const np_probe_obs *o, np_addr *local,
                                 np_addr *mapped, int *port_preserved)
{
    const np_probe_tx *t = o->test[0].answered ? &o->test[0] : &o->filt_plain;

    *port_preserved = -1;
    *local = o->test[0].answered ? o->local_m : o->local_f;
    if (!t->answered || !np_addr_is_set(&t->mapped))
        return NP_V6NAT_UNKNOWN;
    *mapped = t->mapped;
    if (np_addr_same_ip(mapped, local))
        return NP_V6NAT_NONE;
    *port_preserved = np_addr_port(mapped) == np_addr_port(local);
    return NP_V6NAT_TRANSLATED;
}

static void set_text(np_ipv6_report *r, const char *reason, const char *advice)
{
    r->reason = reason;
    r->advice = advice;
}

void np_ipv6_assess(const np_ipv6_input *in, np_ipv6_report *r)
{
    int ph;

    memset(r, 0, sizeof(*r));
    r->port_preserved = -1;
    r->v.reason = r->v.advice = "";
    r->v.hairpin = -1;
    r->v.behind_nat = -1;
    if (in->pinholes != NULL) {
        r->pinholes = *in->pinholes;
        r->pinholes_known = 1;
    }
    ph = np_v6_pinholes_available(in->pinholes);
    r->global = in->global;
    memcpy(r->ifname, in->ifname, sizeof(r->ifname));
    r->ifname[sizeof(r->ifname) - 1] = '\0';
    r->gateway = in->gateway;
    r->has_route = in->has_route;
    r->v.generic = NP_GEN_UNKNOWN;
    r->v.xbox = NP_XBOX_UNKNOWN;

    if (!in->has_global) {
        r->state = NP_V6_NO_ADDRESS;
        set_text(r,
                 "This device has no global IPv6 address: the network gives "
                 "it no IPv6, or IPv6 is turned off.",
                 "Turn IPv6 on in the router where the provider offers it: "
                 "an Xbox prefers native IPv6 for peer connections and "
                 "otherwise depends on Teredo.");
        return;
    }
    if (!in->has_route || in->probe_rc == NP_EUNREACH) {
        r->state = NP_V6_NO_ROUTE;
        set_text(r,
                 "This device has a global IPv6 address but no IPv6 default "
                 "route: IPv6 traffic cannot leave the network.",
                 "Check the router's IPv6 settings (router advertisements, "
                 "the provider's prefix delegation).");
        return;
    }
    if (in->obs == NULL || in->probe_rc != NP_OK) {
        r->state = NP_V6_NOT_TESTED;
        set_text(r,
                 "IPv6 is configured; its path was not tested (no IPv6 STUN "
                 "server).",
                 "Name an IPv6 STUN server with RFC 5780 support with "
                 "--stun6 to measure it.");
        return;
    }
    np_nat_classify(in->obs, 0, &r->v);
    r->v.hairpin = -1; /* no hairpinning without a NAT: not reported */
    r->nat = derive_nat(in->obs, &r->local, &r->mapped, &r->port_preserved);
    if (r->v.udp == NP_UDP_NO_ANSWER) {
        r->state = NP_V6_NO_ANSWER;
        r->v.generic = NP_GEN_BLOCKED;
        r->v.xbox = NP_XBOX_UNAVAILABLE;
        set_text(r,
                 "IPv6 is configured, but nothing answered over IPv6 (neither "
                 "UDP nor TCP): the router or the provider blocks or breaks "
                 "IPv6.",
                 "Check the IPv6 firewall in the router (outbound IPv6 must "
                 "be allowed) and ask the provider whether IPv6 works; a "
                 "broken IPv6 path is worse than none, since devices try it "
                 "first.");
        return;
    }
    if (r->v.udp == NP_UDP_UNKNOWN || r->v.udp == NP_UDP_SERVER_NO_UDP) {
        /* the same rule as IPv4 (nat.c): UDP blocked needs evidence about
         * the path, not about one server */
        r->state = NP_V6_UDP_UNKNOWN;
        set_text(r,
                 "STUN over TCP answered over IPv6, UDP did not; with one "
                 "server that does not prove the path blocks UDP (the "
                 "server may not serve it).",
                 "Name a second IPv6 STUN server (--stun6) to tell a "
                 "blocked path from a server without UDP.");
        return;
    }
    if (r->v.udp == NP_UDP_BLOCKED) {
        r->state = NP_V6_UDP_BLOCKED;
        set_text(r,
                 "STUN over TCP answered over IPv6, UDP did not: outbound "
                 "UDP over IPv6 is blocked.",
                 "Allow outbound UDP over IPv6 in the router's firewall; "
                 "games and the Xbox's peer connections use UDP.");
        return;
    }
    r->state = NP_V6_OK;
    if (r->nat == NP_V6NAT_TRANSLATED) {
        set_text(r,
                 "The IPv6 path is translated (NAT66 or NPTv6): IPv6 "
                 "without NAT is the point of IPv6 at home, and pinholes "
                 "cannot open a translation.",
                 "Look for an IPv6 NAT, NAT66 or NPTv6 setting in the router "
                 "and turn it off, so that devices use the provider's "
                 "prefix.");
        return;
    }
    if (r->v.filtering == NP_BEH_EI) {
        set_text(r,
                 "IPv6 reaches this device without NAT, and the router's "
                 "firewall lets unsolicited inbound traffic in.",
                 "Nothing to do for IPv6: other players with IPv6 reach "
                 "this device.");
        return;
    }
    if (ph) {
        set_text(r,
                 "IPv6 reaches this device without NAT; the router's "
                 "firewall drops unsolicited inbound traffic (it filters "
                 "like a NAT), and it opens pinholes on request.",
                 "natpilot open turns the game's inbound ports into IPv6 "
                 "pinholes (UPnP IGDv2 or PCP), with a lease, like an IPv4 "
                 "mapping.");
        return;
    }
    set_text(r,
             "IPv6 reaches this device without NAT; the router's firewall "
             "drops unsolicited inbound traffic (it filters like a NAT) and "
             "does not open pinholes on request.",
             "Allow the game's inbound ports to this device's IPv6 address "
             "in the router's IPv6 firewall, or turn on UPnP (IGDv2 "
             "pinholes) or PCP there.");
}

/* --- the plan behind carrier-grade NAT / DS-Lite ----------------------- */

const char *np_v6_plan_gain_name(enum np_v6_plan_gain g)
{
    switch (g) {
    case NP_V6_GAIN_OPEN:
        return "open";
    case NP_V6_GAIN_HOSTING:
        return "hosting";
    case NP_V6_GAIN_NONE:
        break;
    }
    return "none";
}

static const np_v6_plan_row plan_rows[NP_V6_PLAN_ROWS] = {
    {"xbox", NP_V6_GAIN_OPEN,
     "Open over IPv6: the Xbox uses native IPv6 with peers that have it "
     "(and Teredo with the others). Let it open its own pinholes (UPnP on in "
     "the router), or open them for it.",
     "natpilot open --ipv6 --platform xbox --for CONSOLE-IPV6 xbox-network"},
    {"pc", NP_V6_GAIN_HOSTING,
     "Hosting is reachable over IPv6 by players who have IPv6; players with "
     "IPv4 only still cannot reach it.",
     "natpilot open --ipv6 PROFILE"},
    {"playstation", NP_V6_GAIN_NONE,
     "No IPv6 for peer-to-peer: the console plays over IPv4, which cannot "
     "be opened at home. Ask the provider for a public IPv4 address (often "
     "an option, sometimes paid) or for port forwarding on its NAT.",
     ""},
    {"switch", NP_V6_GAIN_NONE,
     "No IPv6 for peer-to-peer: the console plays over IPv4, which cannot "
     "be opened at home. Ask the provider for a public IPv4 address (often "
     "an option, sometimes paid) or for port forwarding on its NAT.",
     ""},
};

void np_ipv6_plan(int double_nat, const np_ipv6_report *v6, np_v6_plan *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->summary = "";
    if (double_nat != 1 || v6 == NULL || v6->state != NP_V6_OK ||
        v6->nat != NP_V6NAT_NONE)
        return;
    out->applies = 1;
    out->summary =
        "IPv4 is behind a second NAT (carrier-grade NAT or DS-Lite): no "
        "setting at home can open it. IPv6 works here without NAT, and its "
        "firewall can be opened: that is the way to an open connection for "
        "the devices that use IPv6.";
    for (i = 0; i < NP_V6_PLAN_ROWS; i++)
        out->rows[i] = plan_rows[i];
    out->n_rows = NP_V6_PLAN_ROWS;
}
