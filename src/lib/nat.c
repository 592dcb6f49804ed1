/*
 * natpilot: classification of probe observations (see nat.h).
 *
 * Two steps, both pure: derive the RFC 4787 behaviours from what answered and
 * from where, then look the behaviours up in one table of console labels.
 */
#include <stdio.h>
#include <string.h>

#include "natpilot/nat.h"

/* --- step 1: behaviours ----------------------------------------------- */

/*
 * "UDP blocked" is a claim about the path, so it needs evidence about the
 * path, not about one server: another server's UDP answer disproves it
 * (udp_answered counts every server), an ICMP port-unreachable from the
 * server's host proves UDP gets there, and one server that answers TCP but
 * not UDP may simply serve TCP only. A refused TCP connection (RST) still
 * proves the host is reachable: never "no internet".
 */
static enum np_udp_state derive_udp(const np_probe_obs *o)
{
    size_t i, other = 0;

    if (o->udp_answered || o->test[0].answered || o->filt_plain.answered)
        return NP_UDP_OK;
    if (o->udp_refused)
        return NP_UDP_SERVER_NO_UDP;
    if (!(o->tcp_answered || o->tcp_connected || o->tcp_refused))
        return NP_UDP_NO_ANSWER;
    for (i = 0; i < o->n_extra && i < NP_PROBE_MAX_EXTRA; i++)
        if (o->extra[i].sent > 0 && !o->extra[i].answered &&
            !np_addr_same_ip(&o->extra[i].dest, &o->test[0].dest))
            other++;
    if (o->tcp_answered && other > 0)
        return NP_UDP_BLOCKED;
    return NP_UDP_UNKNOWN;
}

static int derive_behind_nat(const np_probe_obs *o)
{
    if (o->test[0].answered && np_addr_is_set(&o->test[0].mapped))
        return !np_addr_equal(&o->test[0].mapped, &o->local_m);
    if (o->filt_plain.answered && np_addr_is_set(&o->filt_plain.mapped))
        return !np_addr_equal(&o->filt_plain.mapped, &o->local_f);
    return -1;
}

/* RFC 5780 section 4.3, plus the comparison across further servers. */
static enum np_behaviour derive_mapping(const np_probe_obs *o, int *extra_diff,
                                        int *extra_same)
{
    const np_probe_tx *t1 = &o->test[0], *t2 = &o->test[1], *t3 = &o->test[2];
    enum np_behaviour m = NP_BEH_UNKNOWN;
    size_t i;

    *extra_diff = *extra_same = 0;
    if (!t1->answered)
        return NP_BEH_UNKNOWN;
    if (t2->answered) {
        if (np_addr_equal(&t2->mapped, &t1->mapped))
            m = NP_BEH_EI;
        else if (t3->answered)
            m = np_addr_equal(&t3->mapped, &t2->mapped) ? NP_BEH_AD
                                                        : NP_BEH_APD;
        else
            m = NP_BEH_NOT_EI;
    }
    for (i = 0; i < o->n_extra && i < NP_PROBE_MAX_EXTRA; i++) {
        if (!o->extra[i].answered)
            continue;
        if (np_addr_equal(&o->extra[i].mapped, &t1->mapped))
            (*extra_same)++;
        else
            (*extra_diff)++;
    }
    if (*extra_diff > 0 && (m == NP_BEH_EI || m == NP_BEH_UNKNOWN))
        m = NP_BEH_NOT_EI;
    else if (m == NP_BEH_UNKNOWN && *extra_same > 0)
        m = NP_BEH_EI;
    return m;
}

/* RFC 5780 section 4.4; only trusted when the server proved it can. */
static enum np_behaviour derive_filtering(const np_probe_obs *o)
{
    if (o->filt_change_both.answered)
        return NP_BEH_EI; /* an answer from the verified alternate address */
    if (o->server_state != NP_SRV_OK)
        return NP_BEH_UNKNOWN;
    if (o->filt_change_port.answered)
        return NP_BEH_AD;
    if (o->filt_plain.answered || o->test[0].answered)
        return NP_BEH_APD;
    return NP_BEH_UNKNOWN;
}

static enum np_port_alloc derive_port_alloc(const np_probe_obs *o,
                                            enum np_behaviour mapping,
                                            int *preserved)
{
    uint16_t ports[3 + NP_PROBE_MAX_EXTRA];
    size_t n = 0, i;
    int seq = 1;
    uint16_t local = np_addr_port(&o->local_m);

    *preserved = -1;
    if (!o->test[0].answered)
        return NP_PA_UNKNOWN;
    *preserved = np_addr_port(&o->test[0].mapped) == local;
    if (mapping == NP_BEH_EI)
        return *preserved ? NP_PA_PRESERVING : NP_PA_UNKNOWN;
    /* Distinct mappings of socket M, in the order they were made. */
    for (i = 0; i < 3; i++)
        if (o->test[i].answered &&
            (n == 0 || np_addr_port(&o->test[i].mapped) != ports[n - 1]))
            ports[n++] = np_addr_port(&o->test[i].mapped);
    for (i = 0; i < o->n_extra && i < NP_PROBE_MAX_EXTRA; i++)
        if (o->extra[i].answered &&
            np_addr_port(&o->extra[i].mapped) != ports[n - 1])
            ports[n++] = np_addr_port(&o->extra[i].mapped);
    if (n < 3)
        return NP_PA_UNKNOWN;
    for (i = 1; i < n; i++) {
        int d = (int)ports[i] - (int)ports[i - 1];
        if (d < 1 || d > 32)
            seq = 0;
    }
    return seq ? NP_PA_SEQUENTIAL : NP_PA_RANDOM;
}

/* --- step 2: the label table ------------------------------------------ */

/*
 * Sources of the labels:
 * [XBOX] Xbox 360-era definitions of the NAT types (Microsoft, "Xbox LIVE
 *        NAT types"): Open = endpoint-independent mapping with no filtering,
 *        or a working UPnP mapping; Moderate = endpoint-independent mapping
 *        with address or port filtering; Strict = anything else. Xbox shows
 *        "Unavailable" when it cannot qualify UDP (Teredo) at all.
 * [PS4]  PS4 User's Guide, "Test Internet Connection": Type 1 = connected
 *        directly to the internet; Type 2 = connected via a router; Type 3 =
 *        via a router, peer-to-peer connections may fail. natpilot reports
 *        Type 3 where the mapping is not endpoint-independent (P2P fails),
 *        Type 2 for a router with endpoint-independent mapping.
 * [NSW]  The published empirical study of Nintendo Switch NAT types:
 *        A = EIM with EIF or ADF; B = EIM with APDF; C = not EIM but a
 *        predictable port; D = not EIM and unpredictable; F = UDP fails.
 * [RFC]  RFC 4787 (behaviours) and RFC 5780 (how they are measured).
 */
#define ANY (-1)

enum map_class { MC_EI, MC_NOT_EI, MC_UNKNOWN };

struct row {
    int udp, nat, map, filt, alloc; /* ANY matches everything */
    enum np_generic gen;
    enum np_xbox xbox;
    enum np_psn psn;
    enum np_switch sw;
    const char *reason;
    const char *advice;
};

static const char ADVICE_OPEN[] =
    "Nothing to do: other players can reach this device.";
static const char ADVICE_MAP[] =
    "Have the router map the game's ports to this device (natpilot open "
    "PROFILE uses PCP, NAT-PMP or UPnP), or forward them by hand in the "
    "router. Never use the DMZ.";
static const char ADVICE_STRICT[] =
    "Turn on UPnP (or PCP/NAT-PMP) in the router and let the console or "
    "natpilot map the game's ports, or forward them by hand; if the router "
    "is itself behind another NAT, that NAT must forward them too.";
static const char ADVICE_FIREWALL[] =
    "A firewall on this device or upstream filters inbound UDP: allow the "
    "game's ports in it.";

static const struct row table[] = {
    /* [XBOX][PS4][NSW] UDP fails: no console can play online. */
    {NP_UDP_BLOCKED, ANY, ANY, ANY, ANY, NP_GEN_BLOCKED, NP_XBOX_UNAVAILABLE,
     NP_PSN_FAILED, NP_SW_F,
     "UDP to the internet gets no answer while TCP does: something on the "
     "way blocks UDP, which game traffic and voice chat need.",
     "Allow outbound UDP in the router or firewall, or ask the network's "
     "admin to; port forwarding cannot fix a UDP block."},
    {NP_UDP_UNKNOWN, ANY, ANY, ANY, ANY, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN,
     NP_PSN_UNKNOWN, NP_SW_UNKNOWN,
     "The STUN server's host is reachable over TCP, but nothing came back "
     "over UDP: either something on the way blocks UDP, or this server "
     "serves STUN over TCP only; one server cannot tell which.",
     "Run again with a second STUN server (--stun HOST --stun HOST2): an "
     "answer over UDP from either shows UDP works."},
    {NP_UDP_SERVER_NO_UDP, ANY, ANY, ANY, ANY, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN,
     NP_PSN_UNKNOWN, NP_SW_UNKNOWN,
     "The STUN server's host refused UDP on its port (ICMP port "
     "unreachable): UDP gets out, but this server does not serve STUN "
     "over UDP.",
     "Use another STUN server (--stun HOST)."},
    {NP_UDP_NO_ANSWER, ANY, ANY, ANY, ANY, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN,
     NP_PSN_UNKNOWN, NP_SW_UNKNOWN,
     "Nothing answered, over UDP or TCP: there is no internet connection, "
     "or the STUN server is down.",
     "Check the connection, or try another server with --stun HOST."},
    /* [PS4] Type 1 = connected directly; [XBOX] Open = no filtering. */
    {NP_UDP_OK, 0, ANY, NP_BEH_EI, ANY, NP_GEN_OPEN, NP_XBOX_OPEN, NP_PSN_TYPE1,
     NP_SW_A,
     "This device has a public address and nothing filters inbound UDP.",
     ADVICE_OPEN},
    /* [XBOX] filtering = Moderate; [NSW] ADF = A, APDF = B. */
    {NP_UDP_OK, 0, ANY, NP_BEH_AD, ANY, NP_GEN_MODERATE, NP_XBOX_MODERATE,
     NP_PSN_TYPE1, NP_SW_A,
     "This device has a public address, but a firewall only lets in UDP "
     "from addresses it has contacted first.",
     ADVICE_FIREWALL},
    {NP_UDP_OK, 0, ANY, NP_BEH_APD, ANY, NP_GEN_MODERATE, NP_XBOX_MODERATE,
     NP_PSN_TYPE1, NP_SW_B,
     "This device has a public address, but a firewall only lets in UDP "
     "from the exact address and port it has contacted first.",
     ADVICE_FIREWALL},
    {NP_UDP_OK, 0, ANY, ANY, ANY, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN, NP_PSN_TYPE1,
     NP_SW_UNKNOWN,
     "This device has a public address; how inbound UDP is filtered could "
     "not be measured with this server.",
     "Run again with an RFC 5780 server (--stun HOST)."},
    /* [XBOX] EIM + no filtering = Open; [NSW] A; [PS4] via a router. */
    {NP_UDP_OK, 1, MC_EI, NP_BEH_EI, ANY, NP_GEN_OPEN, NP_XBOX_OPEN,
     NP_PSN_TYPE2, NP_SW_A,
     "The router keeps one public port per local port and lets anyone reach "
     "it (endpoint-independent mapping and filtering).",
     ADVICE_OPEN},
    /* [XBOX] EIM + address filtering = Moderate; [NSW] EIM + ADF = A. */
    {NP_UDP_OK, 1, MC_EI, NP_BEH_AD, ANY, NP_GEN_MODERATE, NP_XBOX_MODERATE,
     NP_PSN_TYPE2, NP_SW_A,
     "The router keeps one public port per local port, but only lets in "
     "players whose address this device has contacted first.",
     ADVICE_MAP},
    /* [XBOX] EIM + port filtering = Moderate; [NSW] EIM + APDF = B. */
    {NP_UDP_OK, 1, MC_EI, NP_BEH_APD, ANY, NP_GEN_MODERATE, NP_XBOX_MODERATE,
     NP_PSN_TYPE2, NP_SW_B,
     "The router keeps one public port per local port, but only lets in "
     "players at the exact address and port this device contacted first.",
     ADVICE_MAP},
    {NP_UDP_OK, 1, MC_EI, ANY, ANY, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN,
     NP_PSN_TYPE2, NP_SW_UNKNOWN,
     "The router keeps one public port per local port; its filtering could "
     "not be measured with this server (Open or Moderate).",
     "Run again with an RFC 5780 server (--stun HOST)."},
    /* [XBOX] not EIM = Strict; [PS4] P2P may fail; [NSW] C / D. */
    {NP_UDP_OK, 1, MC_NOT_EI, ANY, NP_PA_PRESERVING, NP_GEN_STRICT,
     NP_XBOX_STRICT, NP_PSN_TYPE3, NP_SW_C,
     "The router gives every destination a different public port "
     "(symmetric NAT), though predictably, so other players cannot reach "
     "this device.",
     ADVICE_STRICT},
    {NP_UDP_OK, 1, MC_NOT_EI, ANY, NP_PA_SEQUENTIAL, NP_GEN_STRICT,
     NP_XBOX_STRICT, NP_PSN_TYPE3, NP_SW_C,
     "The router gives every destination a different public port "
     "(symmetric NAT), though predictably, so other players cannot reach "
     "this device.",
     ADVICE_STRICT},
    {NP_UDP_OK, 1, MC_NOT_EI, ANY, NP_PA_RANDOM, NP_GEN_STRICT, NP_XBOX_STRICT,
     NP_PSN_TYPE3, NP_SW_D,
     "The router gives every destination a different, random public port "
     "(symmetric NAT), so other players cannot reach this device.",
     ADVICE_STRICT},
    {NP_UDP_OK, 1, MC_NOT_EI, ANY, ANY, NP_GEN_STRICT, NP_XBOX_STRICT,
     NP_PSN_TYPE3, NP_SW_UNKNOWN,
     "The router gives every destination a different public port "
     "(symmetric NAT), so other players cannot reach this device.",
     ADVICE_STRICT},
    {ANY, ANY, ANY, ANY, ANY, NP_GEN_UNKNOWN, NP_XBOX_UNKNOWN, NP_PSN_UNKNOWN,
     NP_SW_UNKNOWN,
     "The STUN server answered, but it could not measure how the router "
     "maps ports (it is not an RFC 5780 server).",
     "Run again with an RFC 5780 server (--stun HOST)."},
};

static int matches(int want, int have)
{
    return want == ANY || want == have;
}

static enum map_class map_class(enum np_behaviour m)
{
    switch (m) {
    case NP_BEH_EI:
        return MC_EI;
    case NP_BEH_AD:
    case NP_BEH_APD:
    case NP_BEH_NOT_EI:
        return MC_NOT_EI;
    case NP_BEH_UNKNOWN:
    default:
        return MC_UNKNOWN;
    }
}

static void add_caveat(np_nat_verdict *v, const char *text)
{
    size_t n = strlen(v->caveat);

    if (n > 0 && n + 2 < sizeof(v->caveat)) {
        v->caveat[n++] = ' ';
        v->caveat[n] = '\0';
    }
    snprintf(v->caveat + n, sizeof(v->caveat) - n, "%s", text);
}

void np_nat_classify(const np_probe_obs *o, int game_port_mapped,
                     np_nat_verdict *v)
{
    const struct row *row = &table[sizeof(table) / sizeof(table[0]) - 1];
    int extra_diff, extra_same;
    size_t i;

    memset(v, 0, sizeof(*v));
    v->udp = derive_udp(o);
    v->behind_nat = derive_behind_nat(o);
    v->mapping = derive_mapping(o, &extra_diff, &extra_same);
    v->filtering = derive_filtering(o);
    v->port_alloc = derive_port_alloc(o, v->mapping, &v->port_preserved);
    v->hairpin = o->hairpin;

    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct row *r = &table[i];
        if (matches(r->udp, (int)v->udp) && matches(r->nat, v->behind_nat) &&
            matches(r->map, (int)map_class(v->mapping)) &&
            matches(r->filt, (int)v->filtering) &&
            matches(r->alloc, (int)v->port_alloc)) {
            row = r;
            break;
        }
    }
    v->generic = row->gen;
    v->xbox = row->xbox;
    v->psn = row->psn;
    v->sw = row->sw;
    v->reason = row->reason;
    v->advice = row->advice;

    /* [XBOX] a working UPnP mapping of the game port counts as Open. */
    if (game_port_mapped && v->udp == NP_UDP_OK &&
        (v->generic == NP_GEN_MODERATE || v->generic == NP_GEN_STRICT)) {
        v->generic = NP_GEN_OPEN;
        v->xbox = NP_XBOX_OPEN;
        v->sw = NP_SW_A;
        v->reason = "An active port mapping of the game's port lets other "
                    "players reach this device.";
        v->advice = ADVICE_OPEN;
    }

    /* Confidence: high unless something had to be guessed or re-sent. */
    v->confidence = NP_NAT_CONF_HIGH;
    switch (o->server_state) {
    case NP_SRV_OK:
    case NP_SRV_UNTESTED:
        break;
    case NP_SRV_NO_OTHER_ADDRESS:
        add_caveat(v, "The server sent no OTHER-ADDRESS (not an RFC 5780 "
                      "server): filtering was not measured.");
        v->confidence = NP_NAT_CONF_LOW;
        break;
    case NP_SRV_OTHER_SAME_IP:
        add_caveat(v, "The server's OTHER-ADDRESS has its own primary IP, "
                      "which is bogus: the test is inconclusive.");
        v->confidence = NP_NAT_CONF_LOW;
        break;
    case NP_SRV_OTHER_NO_ANSWER:
        add_caveat(v, "The server's alternate address never answered: the "
                      "test is inconclusive.");
        v->confidence = NP_NAT_CONF_LOW;
        break;
    case NP_SRV_IGNORES_CHANGE:
        add_caveat(v, "The server ignores CHANGE-REQUEST (it answered from "
                      "its primary address): filtering was not measured.");
        v->confidence = NP_NAT_CONF_LOW;
        break;
    }
    if (v->udp == NP_UDP_NO_ANSWER || v->udp == NP_UDP_UNKNOWN ||
        v->udp == NP_UDP_SERVER_NO_UDP)
        v->confidence = NP_NAT_CONF_LOW;
    if (v->confidence == NP_NAT_CONF_HIGH && v->udp == NP_UDP_OK) {
        if (o->late > 0) {
            add_caveat(v, "Some datagrams were lost and re-sent.");
            v->confidence = NP_NAT_CONF_MEDIUM;
        }
        if (v->filtering != NP_BEH_EI && o->filt_change_both.sent < 2) {
            add_caveat(v, "The filtering test could be sent only once.");
            v->confidence = NP_NAT_CONF_MEDIUM;
        }
        if (extra_diff > 0 && o->test[1].answered &&
            np_addr_equal(&o->test[1].mapped, &o->test[0].mapped)) {
            add_caveat(v, "The RFC 5780 test showed one mapping, another "
                          "server saw a different one.");
            v->confidence = NP_NAT_CONF_MEDIUM;
        }
    }
    if (v->udp == NP_UDP_BLOCKED && o->test[0].sent < 2)
        v->confidence = NP_NAT_CONF_MEDIUM;
}

const char *np_behaviour_name(enum np_behaviour b)
{
    switch (b) {
    case NP_BEH_EI:
        return "endpoint-independent";
    case NP_BEH_AD:
        return "address-dependent";
    case NP_BEH_APD:
        return "address-and-port-dependent";
    case NP_BEH_NOT_EI:
        return "endpoint-dependent";
    case NP_BEH_UNKNOWN:
        return "unknown";
    }
    return "unknown";
}

const char *np_udp_state_name(enum np_udp_state u)
{
    switch (u) {
    case NP_UDP_OK:
        return "ok";
    case NP_UDP_BLOCKED:
        return "blocked";
    case NP_UDP_NO_ANSWER:
        return "no-answer";
    case NP_UDP_UNKNOWN:
        return "unknown";
    case NP_UDP_SERVER_NO_UDP:
        return "server-no-udp";
    }
    return "no-answer";
}

const char *np_port_alloc_name(enum np_port_alloc p)
{
    switch (p) {
    case NP_PA_PRESERVING:
        return "preserving";
    case NP_PA_SEQUENTIAL:
        return "sequential";
    case NP_PA_RANDOM:
        return "random";
    case NP_PA_UNKNOWN:
        return "unknown";
    }
    return "unknown";
}

const char *np_nat_confidence_name(enum np_nat_confidence c)
{
    switch (c) {
    case NP_NAT_CONF_HIGH:
        return "high";
    case NP_NAT_CONF_MEDIUM:
        return "medium";
    case NP_NAT_CONF_LOW:
        return "low";
    }
    return "low";
}

const char *np_generic_name(enum np_generic g)
{
    switch (g) {
    case NP_GEN_OPEN:
        return "open";
    case NP_GEN_MODERATE:
        return "moderate";
    case NP_GEN_STRICT:
        return "strict";
    case NP_GEN_BLOCKED:
        return "blocked";
    case NP_GEN_UNKNOWN:
        return "unknown";
    }
    return "unknown";
}

const char *np_xbox_name(enum np_xbox x)
{
    switch (x) {
    case NP_XBOX_OPEN:
        return "Open";
    case NP_XBOX_MODERATE:
        return "Moderate";
    case NP_XBOX_STRICT:
        return "Strict";
    case NP_XBOX_UNAVAILABLE:
        return "Unavailable";
    case NP_XBOX_UNKNOWN:
        return "Unknown";
    }
    return "Unknown";
}

const char *np_psn_name(enum np_psn p)
{
    switch (p) {
    case NP_PSN_TYPE1:
        return "Type 1";
    case NP_PSN_TYPE2:
        return "Type 2";
    case NP_PSN_TYPE3:
        return "Type 3";
    case NP_PSN_FAILED:
        return "Failed";
    case NP_PSN_UNKNOWN:
        return "Unknown";
    }
    return "Unknown";
}

const char *np_switch_name(enum np_switch s)
{
    switch (s) {
    case NP_SW_A:
        return "A";
    case NP_SW_B:
        return "B";
    case NP_SW_C:
        return "C";
    case NP_SW_D:
        return "D";
    case NP_SW_F:
        return "F";
    case NP_SW_UNKNOWN:
        return "Unknown";
    }
    return "Unknown";
}

const char *np_probe_server_name(enum np_probe_server s)
{
    switch (s) {
    case NP_SRV_OK:
        return "ok";
    case NP_SRV_NO_OTHER_ADDRESS:
        return "no-other-address";
    case NP_SRV_OTHER_SAME_IP:
        return "other-address-bogus";
    case NP_SRV_OTHER_NO_ANSWER:
        return "other-address-silent";
    case NP_SRV_IGNORES_CHANGE:
        return "ignores-change-request";
    case NP_SRV_UNTESTED:
        return "untested";
    }
    return "untested";
}
