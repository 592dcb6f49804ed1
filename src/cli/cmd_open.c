/*
 * natpilot open: map the inbound ports of profiles (or --port rules) on the
 * router, for this host or another device, transactionally: an unexpected
 * failure, SIGINT/SIGTERM, or the refusal of an essential rule removes what
 * this run added, so the router's table is as it was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pmcli.h"

static const char usage[] =
    "usage: natpilot open [PROFILE...] [--port PROTO:PORT[-PORT]]...\n"
    "                     [--for ADDRESS] [--lease SECONDS | --permanent]\n"
    "                     [--via pcp|natpmp|upnp] [--platform NAME]\n"
    "                     [--profiles DIR] [--timeout MS] [--json]\n"
    "\n"
    "Ask the router for exactly the inbound ports the named profiles (and\n"
    "their base profiles) need, or the ports given with --port (e.g.\n"
    "--port udp:3074 --port tcp:27015-27030), via PCP, NAT-PMP or UPnP-IGD.\n"
    "\n"
    "  --for ADDRESS   map for another device (a console) instead of this\n"
    "                  host; many routers refuse this (see the report)\n"
    "  --lease SECONDS lease of each mapping (default 7200); renew with\n"
    "                  open again or run natpilot daemon\n"
    "  --permanent     a permanent mapping (only if the router insists)\n"
    "  --via PROTO     use only this protocol\n"
    "  --platform NAME the device's platform, filters profile rules\n"
    "  --json          machine-readable report on stdout\n"
    "\n"
    "If an essential rule is refused, the run is interrupted, or something\n"
    "unexpected fails, every mapping this run made is removed again.\n"
    "Never a DMZ. Exit: 0 all mapped, 1 some not mapped, 2 usage,\n"
    "3 no router answered.\n";

struct outcome {
    np_pm_result res;
    int done;      /* a request was made */
    int added;     /* we made it (and may roll it back) */
    int removed;   /* rolled back */
    int alternate; /* mapped to another external port the platform accepts */
};

static const char *status_of(const struct outcome *o)
{
    if (!o->done)
        return "skipped";
    if (o->removed)
        return "rolled-back";
    if (o->added && o->alternate)
        return "mapped";
    switch (o->res.outcome) {
    case NP_PM_OK:
        return "mapped";
    case NP_PM_OTHER_PORT:
    case NP_PM_CONFLICT:
        return "conflict";
    case NP_PM_POLICY:
        return "refused";
    case NP_PM_THIRD_PARTY:
        return "third-party-refused";
    case NP_PM_PERMANENT_ONLY:
        return "permanent-only";
    case NP_PM_TIMEOUT:
        return "timeout";
    case NP_PM_UNSUPPORTED:
        return "unsupported";
    case NP_PM_NOT_FOUND:
    case NP_PM_OTHER_DEVICE:
    case NP_PM_FAILED:
    default:
        return "failed";
    }
}

static void rollback(np_portmap *pm, struct pm_args *a, struct outcome *out,
                     struct pm_state *st, const np_addr *gw)
{
    size_t i;

    for (i = a->nrules; i-- > 0;) {
        np_pm_request q;
        np_pm_result r;
        np_error err;
        long k;

        if (!out[i].added)
            continue;
        pm_request(a, &a->rules[i], &q);
        q.external_port = np_addr_port(&out[i].res.external);
        memcpy(q.nonce, out[i].res.nonce, 12);
        (void)np_portmap_use(pm, out[i].res.proto, NULL);
        if (np_portmap_delete(pm, &q, &r, &err) == NP_OK &&
            (r.outcome == NP_PM_OK || r.outcome == NP_PM_NOT_FOUND)) {
            out[i].removed = 1;
            k = pm_state_find(st, q.transport, q.external_port, &q.internal,
                              gw);
            if (k >= 0)
                pm_state_del(st, (size_t)k);
        }
    }
    (void)np_portmap_use(pm, NP_PM_NONE, NULL);
}

#define RULE_INDENT "              "

static void explain_third_party(const struct pm_args *a)
{
    char ip[NP_ADDRSTRLEN];
    size_t i;

    np_addr_ip_str(&a->for_addr, ip, sizeof(ip));
    printf("\n");
    np_out_wrapf("", "",
                 "The router does not let this computer open ports for "
                 "another device (%s). That is a safety setting (UPnP secure "
                 "mode, PCP third-party off), and NAT-PMP cannot do it at "
                 "all. Two real fixes:",
                 ip);
    np_out_wrapf("  1. ", "     ",
                 "Turn on UPnP in the router and let the console map its own "
                 "ports (consoles do this well), then check it with: "
                 "natpilot verify --for %s%s%s",
                 ip, a->nids ? " " : "", a->nids ? a->ids[0] : "");
    np_out_wrapf("  2. ", "     ",
                 "Or enter these forwards in the router's port-forwarding "
                 "page, each to %s:",
                 ip);
    for (i = 0; i < a->nrules; i++)
        printf("       %s  external %u  ->  %s port %u\n",
               a->rules[i].transport == NP_PM_TCP ? "TCP" : "UDP",
               (unsigned)a->rules[i].port, ip, (unsigned)a->rules[i].port);
    np_out_wrapf("     ", "     ",
                 "and reserve %s for the console in the router's DHCP "
                 "settings, so the forwards keep pointing at it.",
                 ip);
    printf("A DMZ is not a fix: it exposes every port of the device.\n");
}

int np_cmd_open(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    struct outcome *out = NULL;
    struct pm_state st;
    np_pm_discovery d;
    np_portmap *pm = NULL;
    int code = -1, rolled = 0, interrupted = 0, fatal = 0;
    int mapped = 0, third = 0;
    size_t i;
    char why[600] = "";
    cJSON *j = NULL, *arr = NULL;

    memset(&st, 0, sizeof(st));
    if (a == NULL)
        return NP_EXIT_NETWORK;
    code = pm_parse(argc, argv, a, usage, 0);
    if (code < 0)
        code = pm_resolve_profiles(a);
    if (code >= 0)
        goto out;
    if (a->nrules == 0) {
        np_out_errorf(a->cmd, "the profiles have no inbound ports to map");
        code = NP_EXIT_OK;
        goto out;
    }
    out = calloc(a->nrules, sizeof(*out));
    if (out == NULL) {
        code = NP_EXIT_NETWORK;
        goto out;
    }
    pm_catch_signals();
    memset(&d, 0, sizeof(d));
    pm = pm_session(a, 0, &d, &code);
    if (pm == NULL)
        goto out;
    pm_print_discovery(a, &d);
    (void)pm_state_load(&st);

    for (i = 0; i < a->nrules && !pm_interrupted; i++) {
        struct pm_rule *r = &a->rules[i];
        np_pm_request q;
        np_error err;
        int rc;

        pm_request(a, r, &q);
        {
            /* a renewal of natpilot's own PCP mapping keeps its nonce */
            long k = pm_state_find(&st, r->transport, r->port, &q.internal,
                                   &d.gateway);

            if (k >= 0 && st.e[k].proto == NP_PM_PCP)
                memcpy(q.nonce, st.e[k].nonce, 12);
        }
        np_progress("mapping...");
        np_error_clear(&err);
        rc = np_portmap_add(pm, &q, &out[i].res, &err);
        out[i].done = 1;
        if (rc == NP_ECANCELED || pm_interrupted) {
            /* The request may have reached the router even if its answer
             * was cut off: remove it too (delete touches only natpilot's
             * own mapping for this device, and "not found" is fine). */
            interrupted = 1;
            out[i].added = 1;
            if (out[i].res.proto == NP_PM_NONE)
                out[i].res.proto = d.chosen;
            if (np_addr_port(&out[i].res.external) == 0)
                np_addr_set_port(&out[i].res.external, r->port);
            break;
        }
        if (rc != NP_OK && rc != NP_ETIMEOUT) {
            snprintf(why, sizeof(why), "%s", err.msg);
            fatal = 1;
            break;
        }
        switch (out[i].res.outcome) {
        case NP_PM_OK:
            out[i].added = 1;
            break;
        case NP_PM_OTHER_PORT: {
            /* The router offered a stand-in external port. A platform that
             * accepts an alternate external port (Xbox, for its UDP 3074)
             * can use it; for anything else it is no use (a game announces
             * its own port): take it back and report the conflict. */
            np_pm_request dq = q;
            np_pm_result dr;

            if (r->alt_port) {
                out[i].added = 1;
                out[i].alternate = 1;
                break;
            }
            dq.external_port = np_addr_port(&out[i].res.external);
            memcpy(dq.nonce, out[i].res.nonce, 12);
            (void)np_portmap_use(pm, out[i].res.proto, NULL);
            (void)np_portmap_delete(pm, &dq, &dr, NULL);
            (void)np_portmap_use(pm, NP_PM_NONE, NULL);
            break;
        }
        case NP_PM_CONFLICT:
            /* Another device holds the port. Where the platform accepts an
             * alternate external port, ask for any free one instead (UPnP
             * AddAnyPortMapping, PCP without PREFER_FAILURE), keeping the
             * holder's details for the report if that fails too. */
            if (r->alt_port && !pm_interrupted) {
                np_pm_request aq = q;
                np_pm_result ar;
                np_error aerr;

                aq.allow_other_port = 1;
                memset(aq.nonce, 0, sizeof(aq.nonce));
                if (np_portmap_add(pm, &aq, &ar, &aerr) == NP_OK &&
                    (ar.outcome == NP_PM_OK ||
                     ar.outcome == NP_PM_OTHER_PORT) &&
                    np_addr_port(&ar.external) != r->port) {
                    out[i].res = ar;
                    out[i].added = 1;
                    out[i].alternate = 1;
                }
            }
            break;
        case NP_PM_TIMEOUT:
        case NP_PM_FAILED:
            snprintf(why, sizeof(why), "%s %u: %s",
                     np_pm_transport_name(r->transport), (unsigned)r->port,
                     out[i].res.message);
            fatal = 1;
            break;
        case NP_PM_THIRD_PARTY:
            third++;
            break;
        case NP_PM_POLICY:
        case NP_PM_PERMANENT_ONLY:
        case NP_PM_UNSUPPORTED:
        case NP_PM_NOT_FOUND:
        case NP_PM_OTHER_DEVICE:
        default:
            break;
        }
        if (out[i].added) {
            /* every mapping natpilot made, UPnP ones too: close finds its
             * own by this record even where the router's table cannot be
             * listed or its description was changed (docs/routers.md) */
            struct pm_state_entry e;

            memset(&e, 0, sizeof(e));
            e.proto = out[i].res.proto;
            e.transport = r->transport;
            e.internal_port = r->port;
            e.external_port = np_addr_port(&out[i].res.external);
            if (a->have_for)
                e.internal = a->for_addr;
            e.gateway = d.gateway;
            memcpy(e.nonce, out[i].res.nonce, 12);
            pm_state_put(&st, &e);
        }
        if (fatal)
            break;
        if (!out[i].added && r->essential) {
            snprintf(why, sizeof(why),
                     "the essential rule %s %u was not mapped (%s)",
                     np_pm_transport_name(r->transport), (unsigned)r->port,
                     out[i].res.message);
            fatal = 1;
            break;
        }
    }
    np_progress_done();
    if (pm_interrupted)
        interrupted = 1;
    if (interrupted || fatal) {
        rollback(pm, a, out, &st, &d.gateway);
        rolled = 1;
        if (interrupted)
            snprintf(why, sizeof(why), "interrupted");
    }
    (void)pm_state_save(&st);

    for (i = 0; i < a->nrules; i++)
        if (out[i].added && !out[i].removed)
            mapped++;
    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "discovery",
                              pm_discovery_json(np_portmap_discovery(pm)));
        arr = cJSON_AddArrayToObject(j, "rules");
    }
    for (i = 0; i < a->nrules; i++) {
        const struct pm_rule *r = &a->rules[i];
        const np_pm_result *res = &out[i].res;
        char ext[NP_ADDRSTRLEN], in[NP_ADDRSTRLEN], hold[NP_ADDRSTRLEN];
        char head[32];
        const char *status = status_of(&out[i]);

        np_addr_str(&res->external, ext, sizeof(ext));
        np_addr_ip_str(&res->internal, in, sizeof(in));
        np_addr_ip_str(&res->holder, hold, sizeof(hold));
        if (a->json) {
            cJSON *o = cJSON_CreateObject();

            cJSON_AddStringToObject(o, "protocol",
                                    np_pm_transport_name(r->transport));
            cJSON_AddNumberToObject(o, "port", r->port);
            cJSON_AddStringToObject(o, "profile", r->label);
            cJSON_AddBoolToObject(o, "essential", r->essential);
            if (r->feature[0])
                cJSON_AddStringToObject(o, "feature", r->feature);
            cJSON_AddStringToObject(o, "status", status);
            if (out[i].done) {
                cJSON_AddStringToObject(o, "outcome",
                                        np_pm_outcome_name(res->outcome));
                cJSON_AddStringToObject(o, "via", np_pm_proto_name(res->proto));
                cJSON_AddNumberToObject(o, "code", res->code);
                cJSON_AddStringToObject(o, "message", res->message);
            }
            if (out[i].added && out[i].alternate)
                cJSON_AddNumberToObject(o, "alternate_external_port",
                                        np_addr_port(&res->external));
            if (out[i].added) {
                cJSON_AddStringToObject(o, "external", ext);
                cJSON_AddStringToObject(o, "internal", in);
                cJSON_AddNumberToObject(o, "lease", res->lifetime);
            }
            if (np_addr_is_set(&res->holder) &&
                res->outcome == NP_PM_CONFLICT) {
                cJSON_AddStringToObject(o, "holder", hold);
                cJSON_AddStringToObject(o, "holder_description",
                                        res->holder_desc);
            }
            if (res->outcome == NP_PM_OTHER_PORT)
                cJSON_AddNumberToObject(o, "offered_external_port",
                                        np_addr_port(&res->external));
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        snprintf(head, sizeof(head), "  %-3s %-5u ",
                 np_pm_transport_name(r->transport), (unsigned)r->port);
        if (out[i].added && !out[i].removed) {
            np_out_wrapf(
                head, RULE_INDENT, "%smapped%s %s -> %s:%u, lease %lu s (%s)",
                np_c_good(), np_c_reset(), ext, in, (unsigned)r->port,
                (unsigned long)res->lifetime, np_pm_proto_name(res->proto));
            continue;
        }
        if (out[i].removed) {
            np_out_wrapf(head, RULE_INDENT,
                         "%srolled back%s (was mapped to %s)", np_c_warn(),
                         np_c_reset(), ext);
            continue;
        }
        if (!out[i].done) {
            np_out_wrapf(head, RULE_INDENT, "%snot tried%s", np_c_dim(),
                         np_c_reset());
            continue;
        }
        switch (res->outcome) {
        case NP_PM_CONFLICT:
            np_out_wrapf(head, RULE_INDENT,
                         "%sconflict%s the external port is taken%s%s%s%s%s "
                         "[%s]",
                         np_c_bad(), np_c_reset(),
                         np_addr_is_set(&res->holder) ? " by " : "",
                         np_addr_is_set(&res->holder) ? hold : "",
                         res->holder_desc[0] ? " (\"" : "", res->holder_desc,
                         res->holder_desc[0] ? "\")" : "", res->message);
            break;
        case NP_PM_OTHER_PORT:
            np_out_wrapf(
                head, RULE_INDENT,
                "%sconflict%s the port is held by another mapping; the "
                "router offered external port %u instead (%s)%s\n",
                np_c_bad(), np_c_reset(), np_addr_port(&res->external),
                np_pm_proto_name(res->proto),
                r->alt_port ? "; this platform accepts another external "
                              "port for it"
                            : "");
            break;
        case NP_PM_POLICY:
            np_out_wrapf(head, RULE_INDENT,
                         "%srefused%s by the router's policy [%s]%s%s%s",
                         np_c_bad(), np_c_reset(), res->message,
                         r->feature[0] ? "; affects: " : "", r->feature,
                         r->essential ? " (essential for the NAT type)" : "");
            break;
        case NP_PM_THIRD_PARTY:
            np_out_wrapf(head, RULE_INDENT,
                         "%srefused%s for another device [%s]", np_c_bad(),
                         np_c_reset(), res->message);
            break;
        case NP_PM_PERMANENT_ONLY:
            np_out_wrapf(head, RULE_INDENT, "%snot mapped%s %s", np_c_warn(),
                         np_c_reset(), res->message);
            break;
        case NP_PM_OK:
        case NP_PM_NOT_FOUND:
        case NP_PM_OTHER_DEVICE:
        case NP_PM_TIMEOUT:
        case NP_PM_UNSUPPORTED:
        case NP_PM_FAILED:
        default:
            np_out_wrapf(head, RULE_INDENT, "%s%s%s [%s]", np_c_bad(), status,
                         np_c_reset(), res->message);
            break;
        }
    }
    if (a->json) {
        cJSON_AddBoolToObject(j, "rolled_back", rolled);
        if (rolled)
            cJSON_AddStringToObject(j, "rollback_reason", why);
        cJSON_AddNumberToObject(j, "mapped", mapped);
        cJSON_AddNumberToObject(j, "total", (double)a->nrules);
        pm_json_out(j);
    } else {
        if (rolled) {
            printf("\n");
            np_out_wrapf("", "",
                         "%sRolled back%s (%s): every mapping this "
                         "run made was removed.",
                         np_c_warn(), np_c_reset(), why);
        }
        if (third > 0 && a->have_for)
            explain_third_party(a);
        printf("\n%d of %zu ports mapped.\n", mapped, a->nrules);
    }
    code = mapped == (int)a->nrules ? NP_EXIT_OK : NP_EXIT_PROBLEM;
out:
    np_portmap_free(pm);
    pm_state_free(&st);
    free(out);
    free(a);
    return code;
}
