/* libnatpilot: advice, the player-facing conclusions as data (advice.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/advice.h"

/* ---- double NAT ---------------------------------------------------------- */

static const char second_nat_fix[] =
    "Put the provider's modem in bridge mode so your router gets the public "
    "address; or ask the provider for a public IPv4 address, or whether its "
    "NAT takes PCP requests; or play over IPv6 where the game and console "
    "support it.";

const char *np_advice_second_nat_fix(void)
{
    return second_nat_fix;
}

void np_advice_double_nat(const np_advice_dnat_input *in,
                          np_advice_dnat_verdict *out)
{
    int have_ext =
        in->router_external != NULL && np_addr_is_set(in->router_external);

    memset(out, 0, sizeof(*out));
    out->reserved_hint =
        have_ext && np_addr_scope(in->router_external) != NP_SCOPE_PUBLIC;
    out->text = "";
    if (in->mapped == NULL || !np_addr_is_set(in->mapped)) {
        out->verdict = NP_ADVICE_DNAT_UNKNOWN;
        out->why = NP_ADVICE_DNAT_NO_STUN;
        return;
    }
    if (!in->router_answered) {
        out->verdict = NP_ADVICE_DNAT_UNKNOWN;
        out->why = NP_ADVICE_DNAT_NO_ROUTER;
        return;
    }
    /* A router that does not know its public address (0.0.0.0, its LAN
     * address, an unreadable answer) proves nothing either way. */
    if (!have_ext && in->router_unsure) {
        out->verdict = NP_ADVICE_DNAT_UNKNOWN;
        out->why = NP_ADVICE_DNAT_ROUTER_UNSURE;
        return;
    }
    /* miniupnpd answers an empty address and NAT-PMP "network failure"
     * when the router's own WAN address is private or shared. */
    if (!have_ext) {
        out->verdict = NP_ADVICE_DNAT_YES;
        out->why = NP_ADVICE_DNAT_ROUTER_SILENT;
        out->text = "The router has no public address: there is a second "
                    "NAT beyond your router (double NAT, or the provider's "
                    "carrier-grade NAT). Forwarding ports at home alone "
                    "cannot make the NAT Open.";
        return;
    }
    if (!np_addr_same_ip(in->router_external, in->mapped)) {
        out->verdict = NP_ADVICE_DNAT_YES;
        out->why = NP_ADVICE_DNAT_DIFFERENT;
        out->text = "These differ: there is a second NAT beyond your router "
                    "(double NAT, or the provider's carrier-grade NAT). "
                    "Forwarding ports at home alone cannot make the NAT "
                    "Open.";
        return;
    }
    /* Equal, even in a reserved range: the router holds the address the
     * internet sees (LAB-NOTES: the lab's documentation ranges). */
    out->verdict = NP_ADVICE_DNAT_NO;
    out->why = NP_ADVICE_DNAT_SAME;
}

/* ---- the plan ------------------------------------------------------------ */

const char *np_advice_proto_list(const int has[NP_PM_NPROTO], int igd_version,
                                 char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s%s%s", has[NP_PM_PCP] ? "PCP" : "",
             has[NP_PM_PCP] && has[NP_PM_NATPMP] ? ", " : "",
             has[NP_PM_NATPMP] ? "NAT-PMP" : "",
             (has[NP_PM_PCP] || has[NP_PM_NATPMP]) && has[NP_PM_UPNP] ? ", "
                                                                      : "",
             has[NP_PM_UPNP] ? "UPnP-IGD" : "",
             has[NP_PM_UPNP] ? (igd_version == 2 ? " v2" : " v1") : "");
    return buf;
}

static const struct {
    const char *platform, *profile, *vendor;
    unsigned bit;
} consoles[NP_ADVICE_PLAN_MAX] = {
    {"xbox", "xbox-network", "Microsoft", NP_PLAT_XBOX},
    {"playstation", "playstation-network", "Sony", NP_PLAT_PLAYSTATION},
    {"switch", "nintendo-switch-online", "Nintendo", NP_PLAT_SWITCH},
};

/* "udp 3074, tcp 3074" of the essential, mappable inbound rules. */
static int essential_ports(const np_catalog *cat, const char *profile,
                           unsigned bit, char *buf, size_t size, int *broad)
{
    const char *ids[1] = {profile};
    np_resolved *res = NULL;
    size_t i, j, n = 0;
    int count = 0;

    buf[0] = '\0';
    *broad = 0;
    if (cat == NULL || np_resolve(cat, ids, 1, bit, &res, NULL) != NP_OK)
        return 0;
    for (i = 0; i < res->n_inbound; i++) {
        const np_rule *r = &res->inbound[i];
        if (r->broad) {
            *broad = 1;
            continue;
        }
        if (!r->essential)
            continue;
        for (j = 0; j < r->n_ports && n + 24 < size; j++) {
            int k =
                r->ports[j].lo == r->ports[j].hi
                    ? snprintf(buf + n, size - n, "%s%s %u", count ? ", " : "",
                               np_proto_name(r->protocol),
                               (unsigned)r->ports[j].lo)
                    : snprintf(buf + n, size - n, "%s%s %u-%u",
                               count ? ", " : "", np_proto_name(r->protocol),
                               (unsigned)r->ports[j].lo,
                               (unsigned)r->ports[j].hi);
            if (k < 0)
                break;
            n += (size_t)k;
            count++;
        }
    }
    np_resolved_free(res);
    return count;
}

static const char *console_label(unsigned bit, const np_nat_verdict *v)
{
    switch (bit) {
    case NP_PLAT_XBOX:
        return np_xbox_name(v->xbox);
    case NP_PLAT_PLAYSTATION:
        return np_psn_name(v->psn);
    default:
        return np_switch_name(v->sw);
    }
}

static void plan_one(const np_advice_plan_input *in, size_t i,
                     np_advice_plan_item *it)
{
    const np_nat_verdict *v = in->verdict;
    char protos[64];
    int broad, have;

    memset(it, 0, sizeof(*it));
    it->platform = consoles[i].platform;
    it->profile = consoles[i].profile;
    it->label = console_label(consoles[i].bit, v);
    have = essential_ports(in->cat, consoles[i].profile, consoles[i].bit,
                           it->ports, sizeof(it->ports), &broad);
    if (v->udp == NP_UDP_BLOCKED) {
        it->kind = NP_ADVICE_PLAN_UNBLOCK_UDP;
        snprintf(it->action, sizeof(it->action),
                 "Unblock outbound UDP first.%s",
                 in->router_answered
                     ? " The router answers mapping requests, but mappings it "
                       "reports as made carry no traffic while UDP is "
                       "blocked."
                     : "");
    } else if (v->generic == NP_GEN_OPEN) {
        it->kind = NP_ADVICE_PLAN_ALREADY_OPEN;
        snprintf(it->action, sizeof(it->action),
                 "Already Open: nothing to do.");
    } else if (in->double_nat == NP_ADVICE_DNAT_YES) {
        it->kind = NP_ADVICE_PLAN_SECOND_NAT;
        snprintf(it->action, sizeof(it->action),
                 "A second NAT sits beyond your router (double NAT or the "
                 "provider's carrier-grade NAT): forwarding at home alone "
                 "cannot make it Open. Ask the provider for a public IPv4 "
                 "address or whether its NAT takes PCP requests, put the "
                 "provider's modem in bridge mode, or play over IPv6.");
    } else if (in->router_answered && have) {
        it->kind = NP_ADVICE_PLAN_MAP;
        snprintf(it->action, sizeof(it->action),
                 "Map %s to the console (natpilot asks the router over %s), "
                 "or turn UPnP on and let the console map itself; reserve "
                 "the console's address in DHCP.",
                 it->ports,
                 np_advice_proto_list(in->has, in->igd_version, protos,
                                      sizeof(protos)));
        snprintf(it->command, sizeof(it->command),
                 "natpilot open --platform %s --for CONSOLE-IP %s",
                 consoles[i].platform, consoles[i].profile);
    } else if (in->router_answered) {
        it->kind = NP_ADVICE_PLAN_SELF_MAP;
        snprintf(it->action, sizeof(it->action),
                 "Turn UPnP on in the router and let the console map its own "
                 "ports (%s publishes no fixed inbound port%s); then check "
                 "with natpilot verify --for CONSOLE-IP.",
                 consoles[i].vendor,
                 broad ? " other than \"all UDP ports\", which natpilot "
                         "never forwards to one device"
                       : "");
        snprintf(it->command, sizeof(it->command),
                 "natpilot verify --platform %s --for CONSOLE-IP %s",
                 consoles[i].platform, consoles[i].profile);
    } else {
        it->kind = NP_ADVICE_PLAN_MANUAL;
        snprintf(it->action, sizeof(it->action),
                 "The router answers none of PCP, NAT-PMP or UPnP: turn UPnP "
                 "on in its settings%s%s, with a DHCP reservation for the "
                 "console. Not the DMZ.",
                 have ? ", or forward by hand to the console: " : "",
                 have ? it->ports : "");
    }
}

size_t np_advice_plan(const np_advice_plan_input *in,
                      np_advice_plan_item items[NP_ADVICE_PLAN_MAX])
{
    size_t i;

    if (in == NULL || in->verdict == NULL || items == NULL)
        return 0;
    for (i = 0; i < NP_ADVICE_PLAN_MAX; i++)
        plan_one(in, i, &items[i]);
    return NP_ADVICE_PLAN_MAX;
}

/* ---- manual forwards ----------------------------------------------------- */

const char *np_advice_console_test(unsigned platform)
{
    switch (platform) {
    case NP_PLAT_XBOX:
        return "On the Xbox: Settings > General > Network settings > Test "
               "NAT type.";
    case NP_PLAT_PLAYSTATION:
        return "On the PS5: Settings > Network > Connection Status > Test "
               "Internet Connection (PS4: Settings > Network > Test "
               "Internet Connection).";
    case NP_PLAT_SWITCH:
        return "On the Switch: System Settings > Internet > Test "
               "Connection.";
    default:
        return "Then run natpilot verify to check the mappings.";
    }
}

/* Append ",LO" or ",LO-HI" (no comma first) to buf at *used. */
static void range_append(char *buf, size_t size, size_t *used, size_t i,
                         unsigned lo, unsigned hi)
{
    int n;

    if (*used >= size)
        return;
    if (lo == hi)
        n = snprintf(buf + *used, size - *used, "%s%u", i ? "," : "", lo);
    else
        n = snprintf(buf + *used, size - *used, "%s%u-%u", i ? "," : "", lo,
                     hi);
    if (n > 0)
        *used += (size_t)n < size - *used ? (size_t)n : size - *used;
}

const char *np_advice_rule_ports(const np_rule *r, char *buf, size_t size)
{
    size_t i, used = 0;

    if (buf == NULL || size == 0)
        return "";
    buf[0] = '\0';
    for (i = 0; r != NULL && i < r->n_ports; i++)
        range_append(buf, size, &used, i, r->ports[i].lo, r->ports[i].hi);
    return buf;
}

const char *np_advice_ob_ranges(const np_advice_ob_rule *r, char *buf,
                                size_t size)
{
    size_t i, used = 0;

    if (buf == NULL || size == 0)
        return "";
    buf[0] = '\0';
    for (i = 0; r != NULL && i < r->n_ranges; i++)
        range_append(buf, size, &used, i, r->lo[i], r->hi[i]);
    return buf;
}

void np_advice_manual_steps(const np_resolved *res, unsigned platform,
                            const char *device_ip, int console, int double_nat,
                            np_advice_manual *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->second_nat = double_nat == NP_ADVICE_DNAT_YES;
    out->second_nat_text =
        "Your router is behind another NAT (double NAT or the provider's "
        "carrier-grade NAT). Forwards at home stop at that second NAT, so "
        "they alone cannot make the NAT Open. What can: put the provider's "
        "modem in bridge mode so your router gets the public address; or ask "
        "the provider for a public IPv4 address, or whether its NAT takes "
        "PCP requests; or play over IPv6 where the game and console support "
        "it.";
    out->console = console;
    out->upnp_text =
        console ? "Either turn on UPnP in the router's settings and let the "
                  "console map its own ports (consoles do this well), then "
                  "test the NAT type on the console:"
                : "Either turn on UPnP (or NAT-PMP/PCP) in the router's "
                  "settings and run the wizard again, so that natpilot can "
                  "ask for the ports itself;";
    out->console_test = np_advice_console_test(platform);
    out->no_dmz =
        "Why not the DMZ: it sends every unsolicited packet from the "
        "internet, on every port, to one device -- it opens far more than "
        "any game needs, and the console still sees a Moderate or Strict NAT "
        "if the router's mapping is the problem. The few ports above are all "
        "the games use.";
    if (device_ip == NULL)
        device_ip = "";
    if (console)
        snprintf(out->verify_text, sizeof(out->verify_text),
                 "natpilot verify --for %s then shows the console's own "
                 "mappings.",
                 device_ip);
    snprintf(out->forward_intro, sizeof(out->forward_intro),
             "Or enter these forwards in the router's port-forwarding page, "
             "each to %s:",
             device_ip);
    if (console)
        snprintf(out->dhcp_text, sizeof(out->dhcp_text),
                 "and reserve %s for the console in the router's DHCP "
                 "settings so the forwards keep pointing at it.",
                 device_ip);
    for (i = 0; res != NULL && i < res->n_inbound; i++) {
        const np_rule *r = &res->inbound[i];
        np_advice_forward *f;

        if (r->broad)
            continue; /* never a huge range to one device */
        if (out->n_fwd == NP_ADVICE_FWD_MAX) {
            out->n_left_out++;
            continue;
        }
        f = &out->fwd[out->n_fwd++];
        f->protocol = r->protocol;
        np_advice_rule_ports(r, f->ports, sizeof(f->ports));
        f->several = r->n_ports > 1 ||
                     (r->n_ports == 1 && r->ports[0].lo != r->ports[0].hi);
        f->profile_id = r->profile_id;
    }
}

/* ---- outbound ------------------------------------------------------------ */

np_advice_outbound *np_advice_outbound_new(size_t sample)
{
    np_advice_outbound *ob = calloc(1, sizeof(*ob));

    if (ob == NULL)
        return NULL;
    if (sample == 0)
        sample = NP_EGRESS_SAMPLE_DEFAULT;
    if (sample < 2)
        sample = 2;
    if (sample > NP_ADVICE_OB_SAMPLE)
        sample = NP_ADVICE_OB_SAMPLE;
    ob->sample = sample;
    return ob;
}

void np_advice_outbound_free(np_advice_outbound *ob)
{
    if (ob == NULL)
        return;
    free(ob->rules);
    free(ob->targets);
    free(ob);
}

int np_advice_outbound_add(np_advice_outbound *ob, const np_advice_ob_rule *r,
                           np_error *err)
{
    np_advice_ob_rule *nr;

    if (ob == NULL || r == NULL || r->n_ranges == 0 ||
        r->n_ranges > NP_ADVICE_OB_RANGES)
        return np_error_set(err, NP_EINVAL, NULL, "bad outbound rule");
    if (ob->n_rules == ob->cap_rules) {
        size_t cap = ob->cap_rules ? ob->cap_rules * 2 : 16;
        if (cap > 4096)
            return np_error_set(err, NP_EINVAL, NULL,
                                "more than 4096 outbound rules");
        nr = realloc(ob->rules, cap * sizeof(*nr));
        if (nr == NULL)
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
        ob->rules = nr;
        ob->cap_rules = cap;
    }
    nr = &ob->rules[ob->n_rules++];
    *nr = *r;
    nr->first = nr->count = 0;
    nr->total_ports = 0;
    nr->sampled = nr->partial = 0;
    nr->state = NP_EGRESS_PENDING;
    return NP_OK;
}

int np_advice_outbound_add_resolved(np_advice_outbound *ob,
                                    const np_resolved *res, np_error *err)
{
    size_t i, j;

    for (i = 0; res != NULL && i < res->n_outbound; i++) {
        const np_rule *pr = &res->outbound[i];
        size_t done = 0;
        /* A rule listing more ranges than fit one entry becomes several
         * entries with the same feature and note: nothing is dropped. */
        do {
            np_advice_ob_rule r;
            int rc;

            memset(&r, 0, sizeof(r));
            r.proto =
                pr->protocol == NP_PROTO_TCP ? NP_EGRESS_TCP : NP_EGRESS_UDP;
            for (j = 0; done < pr->n_ports && j < NP_ADVICE_OB_RANGES;
                 j++, done++) {
                r.lo[j] = pr->ports[done].lo;
                r.hi[j] = pr->ports[done].hi;
            }
            r.n_ranges = j;
            r.profile = pr->profile_id;
            r.feature = pr->feature;
            r.note = pr->note;
            r.essential = pr->essential;
            r.broad = pr->broad;
            if (r.n_ranges == 0)
                break;
            rc = np_advice_outbound_add(ob, &r, err);
            if (rc != NP_OK)
                return rc;
        } while (done < pr->n_ports);
    }
    return NP_OK;
}

/* Targets for every rule: each range sampled to at most ob->sample. */
int np_advice_outbound_prepare(np_advice_outbound *ob, np_error *err)
{
    size_t i, j, k, cap = 0;

    free(ob->targets);
    ob->n_targets = 0;
    for (i = 0; i < ob->n_rules; i++)
        cap += ob->rules[i].n_ranges * ob->sample;
    ob->targets = calloc(cap > 0 ? cap : 1, sizeof(*ob->targets));
    if (ob->targets == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    for (i = 0; i < ob->n_rules; i++) {
        np_advice_ob_rule *r = &ob->rules[i];
        r->first = ob->n_targets;
        r->total_ports = 0;
        r->sampled = 0;
        for (j = 0; j < r->n_ranges; j++) {
            uint16_t s[NP_ADVICE_OB_SAMPLE];
            size_t n = np_egress_sample(r->lo[j], r->hi[j], s, ob->sample);
            uint32_t span = (uint32_t)r->hi[j] - r->lo[j] + 1;
            r->total_ports += span;
            if (n < span)
                r->sampled = 1;
            for (k = 0; k < n; k++) {
                np_egress_target *t = &ob->targets[ob->n_targets++];
                t->proto = r->proto;
                t->port = s[k];
            }
        }
        r->count = ob->n_targets - r->first;
    }
    return NP_OK;
}

void np_advice_ob_verdict(const np_egress_target *t, size_t n, int *state,
                          int *partial)
{
    unsigned count[NP_EGRESS_STATE_MAX] = {0};
    size_t i;
    int best = -1, s;

    for (i = 0; i < n; i++) {
        s = t[i].state;
        if (s >= 0 && s < NP_EGRESS_STATE_MAX)
            count[s]++;
    }
    for (s = 0; s < NP_EGRESS_STATE_MAX; s++)
        if (np_egress_state_blocked(s) && count[s] > 0 &&
            (best < 0 || count[s] > count[best]))
            best = s;
    *partial = 0;
    if (best >= 0) {
        *state = best;
        *partial = count[NP_EGRESS_REACHABLE] > 0;
    } else if (count[NP_EGRESS_ERROR] > 0)
        *state = NP_EGRESS_ERROR;
    else if (count[NP_EGRESS_REACHABLE] > 0)
        *state = NP_EGRESS_REACHABLE;
    else
        *state = NP_EGRESS_UNTESTABLE;
}

const char *np_advice_ob_overall_name(int overall)
{
    switch (overall) {
    case NP_EGRESS_ALL_REACHABLE:
        return "all-reachable";
    case NP_EGRESS_SOME_BLOCKED:
        return "some-blocked";
    case NP_EGRESS_NOTHING_REACHABLE:
        return "nothing-reachable";
    default:
        return "nothing-testable";
    }
}

static const char *proto_word(int proto)
{
    return proto == NP_EGRESS_TCP ? "tcp" : "udp";
}

/* Distinct ports of the targets with (proto, state), "27015, 27020". */
static int ports_with(const np_advice_outbound *ob, int proto, int state,
                      char *buf, size_t size)
{
    size_t i, j, used = 0;
    int found = 0;

    buf[0] = '\0';
    for (i = 0; i < ob->n_targets; i++) {
        const np_egress_target *t = &ob->targets[i];
        int dup = 0, n;
        if (t->proto != proto || t->state != state)
            continue;
        for (j = 0; j < i && !dup; j++)
            dup =
                ob->targets[j].proto == proto && ob->targets[j].port == t->port;
        if (dup || used >= size)
            continue;
        n = snprintf(buf + used, size - used, "%s%u", found ? ", " : "",
                     (unsigned)t->port);
        if (n > 0)
            used += (size_t)n;
        found = 1;
    }
    return found;
}

/* Features (rule feature or profile) hit by (proto, state). */
static void features_with(const np_advice_outbound *ob, int proto, int state,
                          char *buf, size_t size)
{
    size_t i, j, used = 0;
    int first = 1;

    buf[0] = '\0';
    for (i = 0; i < ob->n_rules; i++) {
        const np_advice_ob_rule *r = &ob->rules[i];
        int hit = 0, n;
        if (r->proto != proto)
            continue;
        for (j = 0; j < r->count && !hit; j++)
            hit = ob->targets[r->first + j].state == state;
        if (!hit || used >= size)
            continue;
        if (r->profile == NULL && r->feature == NULL) {
            char rt[128];
            (void)np_advice_ob_ranges(r, rt, sizeof(rt));
            n = snprintf(buf + used, size - used, "%s--port %s:%s",
                         first ? "" : "; ", proto_word(r->proto), rt);
        } else
            n = snprintf(buf + used, size - used, "%s%s%s%s%s",
                         first ? "" : "; ", r->profile ? r->profile : "",
                         r->profile && r->feature ? " " : "",
                         r->feature ? r->feature : "",
                         r->essential ? " (essential)" : "");
        if (n > 0)
            used += (size_t)n;
        first = 0;
    }
}

void np_advice_outbound_conclude(np_advice_outbound *ob)
{
    size_t i, j;
    int state, proto;

    for (i = 0; i < ob->n_rules; i++) {
        np_advice_ob_rule *r = &ob->rules[i];
        np_advice_ob_verdict(ob->targets + r->first, r->count, &r->state,
                             &r->partial);
    }
    ob->overall = np_egress_overall(ob->targets, ob->n_targets, &ob->rep);
    ob->essential_blocked = 0;
    for (i = 0; i < ob->n_rules; i++)
        if (ob->rules[i].essential &&
            np_egress_state_blocked(ob->rules[i].state))
            ob->essential_blocked = 1;
    memset(ob->counts, 0, sizeof(ob->counts));
    for (i = 0; i < ob->n_targets; i++) {
        int dup = 0;
        for (j = 0; j < i && !dup; j++)
            dup = ob->targets[j].proto == ob->targets[i].proto &&
                  ob->targets[j].port == ob->targets[i].port;
        if (!dup && ob->targets[i].state >= 0 &&
            ob->targets[i].state < NP_EGRESS_STATE_MAX)
            ob->counts[ob->targets[i].state]++;
    }
    ob->n_lines = 0;
    if (ob->overall == NP_EGRESS_NOTHING_REACHABLE)
        return;
    for (state = NP_EGRESS_DROPPED; state < NP_EGRESS_STATE_MAX; state++) {
        if (!np_egress_state_blocked(state) && state != NP_EGRESS_UNTESTABLE)
            continue;
        for (proto = NP_EGRESS_UDP; proto <= NP_EGRESS_TCP; proto++) {
            np_advice_ob_line *l = &ob->lines[ob->n_lines];
            if (ob->n_lines == NP_ADVICE_OB_LINES ||
                !ports_with(ob, proto, state, l->ports, sizeof(l->ports)))
                continue;
            features_with(ob, proto, state, l->features, sizeof(l->features));
            l->proto = proto;
            l->state = state;
            l->advice = np_egress_advice(proto, state);
            ob->n_lines++;
        }
    }
}

int np_advice_outbound_run(np_advice_outbound *ob, const np_egress_config *cfg,
                           np_error *err)
{
    int rc;

    if (ob == NULL || cfg == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "missing argument");
    ob->ran = 0;
    rc = np_advice_outbound_prepare(ob, err);
    if (rc != NP_OK)
        return rc;
    rc = np_egress_run(cfg, ob->targets, ob->n_targets, &ob->rep, err);
    if (rc != NP_OK)
        return rc;
    np_advice_outbound_conclude(ob);
    ob->ran = 1;
    return NP_OK;
}
