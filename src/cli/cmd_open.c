/*
 * natpilot open: map the inbound ports of profiles (or --port rules) on the
 * router, for this host or another device, transactionally: an unexpected
 * failure, SIGINT/SIGTERM, or the refusal of an essential rule removes what
 * this run added, so the router's table is as it was. The policy lives in
 * the library's mapping session (src/lib/session.c); this file parses,
 * calls np_session_apply and renders its report as text or JSON.
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

static void render_json(const struct pm_args *a, const np_sess_report *rep)
{
    cJSON *j = np_rj_apply_report(rep, a->nrules);

    if (a->store_note.moved_aside)
        cJSON_AddStringToObject(j, "store_warning", a->store_note.message);
    pm_json_out(j);
}

/* The words after "conflict" for a port another mapping holds. */
static void render_conflict(const char *head, const np_sess_result *x)
{
    const np_pm_result *res = &x->pm;
    char hold[NP_ADDRSTRLEN];
    int who = np_addr_is_set(&res->holder);

    np_addr_ip_str(&res->holder, hold, sizeof(hold));
    if (x->offered_port != 0) {
        np_out_wrapf(head, RULE_INDENT,
                     "%sconflict%s the port is held by another mapping%s%s; "
                     "the router offered external port %u instead (%s), "
                     "which this game cannot use: taken back",
                     np_c_bad(), np_c_reset(), who ? ", " : "", who ? hold : "",
                     (unsigned)x->offered_port, np_pm_proto_name(res->proto));
        return;
    }
    np_out_wrapf(head, RULE_INDENT,
                 "%sconflict%s the external port is taken%s%s%s%s%s [%s]",
                 np_c_bad(), np_c_reset(), who ? " by " : "", who ? hold : "",
                 res->holder_desc[0] ? " (\"" : "", res->holder_desc,
                 res->holder_desc[0] ? "\")" : "", res->message);
}

static void render_rule(const np_sess_result *x)
{
    const np_sess_rule *r = &x->rule;
    const np_pm_result *res = &x->pm;
    char ext[NP_ADDRSTRLEN], in[NP_ADDRSTRLEN], head[32];

    np_addr_str(&res->external, ext, sizeof(ext));
    np_addr_ip_str(&res->internal, in, sizeof(in));
    snprintf(head, sizeof(head), "  %-3s %-5u ",
             np_pm_transport_name(r->transport), (unsigned)r->port);
    switch (x->outcome) {
    case NP_SESS_MAPPED:
        np_out_wrapf(head, RULE_INDENT,
                     "%smapped%s %s -> %s:%u, lease %lu s (%s)%s", np_c_good(),
                     np_c_reset(), ext, in, (unsigned)r->port,
                     (unsigned long)res->lifetime, np_pm_proto_name(res->proto),
                     x->alternate ? "; another external port, which this "
                                    "platform accepts"
                                  : "");
        break;
    case NP_SESS_ROLLED_BACK:
        np_out_wrapf(head, RULE_INDENT, "%srolled back%s (was mapped to %s)",
                     np_c_warn(), np_c_reset(), ext);
        break;
    case NP_SESS_NOT_TRIED:
        np_out_wrapf(head, RULE_INDENT, "%snot tried%s", np_c_dim(),
                     np_c_reset());
        break;
    case NP_SESS_CONFLICT:
        render_conflict(head, x);
        break;
    case NP_SESS_REFUSED:
        np_out_wrapf(head, RULE_INDENT,
                     "%srefused%s by the router's policy [%s]%s%s%s",
                     np_c_bad(), np_c_reset(), res->message,
                     r->feature[0] ? "; affects: " : "", r->feature,
                     r->essential ? " (essential for the NAT type)" : "");
        break;
    case NP_SESS_THIRD_PARTY:
        np_out_wrapf(head, RULE_INDENT, "%srefused%s for another device [%s]",
                     np_c_bad(), np_c_reset(), res->message);
        break;
    case NP_SESS_PERMANENT_ONLY:
        np_out_wrapf(head, RULE_INDENT, "%snot mapped%s %s", np_c_warn(),
                     np_c_reset(), res->message);
        break;
    default:
        np_out_wrapf(head, RULE_INDENT, "%s%s%s [%s]", np_c_bad(),
                     np_sess_outcome_name(x->outcome), np_c_reset(),
                     res->message);
        break;
    }
}

static void render_text(const struct pm_args *a, const np_sess_report *rep)
{
    size_t i;

    for (i = 0; i < rep->n; i++)
        render_rule(&rep->r[i]);
    if (rep->rolled_back) {
        printf("\n");
        np_out_wrapf("", "",
                     "%sRolled back%s (%s): every mapping this "
                     "run made was removed.",
                     np_c_warn(), np_c_reset(), rep->reason);
    } else if (rep->reason[0] != '\0') {
        printf("\n");
        np_out_wrapf("", "", "%sStopped%s (%s); this run had made nothing.",
                     np_c_warn(), np_c_reset(), rep->reason);
    }
    if (rep->third_party > 0 && a->have_for)
        explain_third_party(a);
    printf("\n%zu of %zu ports mapped.\n", rep->ok, a->nrules);
}

int np_cmd_open(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_sess_report rep;
    np_pm_discovery d;
    np_store *st = NULL;
    np_session *s = NULL;
    np_error err;
    int code, rc;

    if (pm_has_ipv6(argc, argv)) { /* IPv6 pinholes: cmd_pinhole.c */
        free(a);
        return pinhole_open_mode(argc, argv);
    }
    memset(&rep, 0, sizeof(rep));
    code = pm_args_load(a, argc, argv, usage, 0);
    if (code >= 0)
        goto out;
    if (a->nrules == 0) {
        np_out_errorf(a->cmd, "the profiles have no inbound ports to map");
        code = NP_EXIT_OK;
        goto out;
    }
    pm_catch_signals();
    s = pm_session_open(a, NP_SESS_APPLY, &st, &d, &code);
    if (s == NULL)
        goto out;
    pm_print_discovery(a, &d);
    np_progress("mapping...");
    np_error_clear(&err);
    rc = np_session_apply(s, a->rules, a->nrules, &rep, &err);
    np_progress_done();
    if (rc == NP_ENOMEM || (rc != NP_OK && rep.n == 0)) {
        np_out_error(a->cmd, &err);
        code = NP_EXIT_NETWORK;
        goto out;
    }
    if (a->json)
        render_json(a, &rep);
    else
        render_text(a, &rep);
    pm_store_notes(a, &rep);
    code = rep.ok == a->nrules ? NP_EXIT_OK : NP_EXIT_PROBLEM;
out:
    np_sess_report_free(&rep);
    np_session_free(s);
    np_store_free(st);
    free(a);
    return code;
}
