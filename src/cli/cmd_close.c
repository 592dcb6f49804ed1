/*
 * natpilot close: remove natpilot's own mappings only. UPnP mappings are
 * recognised by the natpilot tag in their description; PCP and NAT-PMP
 * mappings by the mapping store open wrote (with their PCP nonces). Other
 * devices' and other programs' mappings stay. The library's session
 * (np_session_close) decides; this file parses and renders.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pmcli.h"

static const char usage[] =
    "usage: natpilot close [PROFILE...] [--port PROTO:PORT[-PORT]]... [--all]\n"
    "                      [--for ADDRESS] [--via pcp|natpmp|upnp] [--json]\n"
    "\n"
    "Remove the mappings natpilot made for the profiles' ports (or --port\n"
    "rules), or with --all every mapping natpilot made. Mappings made by\n"
    "other programs or devices are never touched.\n"
    "Exit: 0 done, 1 something could not be removed, 2 usage, 3 no router.\n";

static const char *status_of(const np_sess_result *x)
{
    return x->outcome == NP_SESS_REMOVED ? "removed"
           : x->outcome == NP_SESS_GONE  ? "gone"
                                         : "failed";
}

static cJSON *mapping_json(const np_sess_result *x)
{
    char in[NP_ADDRSTRLEN];
    cJSON *o = cJSON_CreateObject();

    np_addr_ip_str(&x->device, in, sizeof(in));
    cJSON_AddStringToObject(o, "protocol",
                            np_pm_transport_name(x->rule.transport));
    cJSON_AddNumberToObject(o, "port", x->rule.port);
    cJSON_AddStringToObject(o, "internal", in);
    cJSON_AddStringToObject(o, "status", status_of(x));
    cJSON_AddStringToObject(o, "via", np_pm_proto_name(x->pm.proto));
    cJSON_AddStringToObject(o, "message", x->pm.message);
    return o;
}

static void mapping_text(const np_sess_result *x)
{
    char in[NP_ADDRSTRLEN], head[128];

    np_addr_ip_str(&x->device, in, sizeof(in));
    snprintf(head, sizeof(head), "  %-3s %-5u %-15s ",
             np_pm_transport_name(x->rule.transport), (unsigned)x->rule.port,
             in);
    np_out_wrapf(head, "              ", "%s%s%s (%s: %s)",
                 x->outcome == NP_SESS_REMOVED ? np_c_good() : np_c_warn(),
                 status_of(x), np_c_reset(), np_pm_proto_name(x->pm.proto),
                 x->pm.message);
}

static void render(const struct pm_args *a, const np_sess_report *rep)
{
    size_t i, removed = 0, failed = 0;
    cJSON *j = NULL, *arr = NULL;

    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "discovery", pm_discovery_json(&rep->disc));
        arr = cJSON_AddArrayToObject(j, "mappings");
    }
    for (i = 0; i < rep->n; i++) {
        removed += rep->r[i].outcome == NP_SESS_REMOVED;
        failed += rep->r[i].outcome == NP_SESS_FAILED;
        if (a->json)
            cJSON_AddItemToArray(arr, mapping_json(&rep->r[i]));
        else
            mapping_text(&rep->r[i]);
    }
    if (a->json) {
        cJSON_AddNumberToObject(j, "removed", (double)removed);
        cJSON_AddNumberToObject(j, "failed", (double)failed);
        if (a->store_note.moved_aside)
            cJSON_AddStringToObject(j, "store_warning", a->store_note.message);
        pm_json_out(j);
    } else {
        printf("\n%zu mapping%s removed%s.\n", removed, removed == 1 ? "" : "s",
               failed ? ", some could not be" : "");
    }
}

int np_cmd_close(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    np_sess_report rep;
    np_pm_discovery d;
    np_store *st = NULL;
    np_session *s = NULL;
    np_error err;
    int code;
    size_t i;

    if (pm_has_ipv6(argc, argv)) { /* IPv6 pinholes: cmd_pinhole.c */
        free(a);
        return pinhole_close_mode(argc, argv);
    }
    memset(&rep, 0, sizeof(rep));
    code = pm_args_load(a, argc, argv, usage, 1);
    if (code >= 0)
        goto out;
    s = pm_session_open(a, NP_SESS_CLOSE, &st, &d, &code);
    if (s == NULL)
        goto out;
    pm_print_discovery(a, &d);
    np_error_clear(&err);
    if (np_session_close(s, a->rules, a->nrules, a->all, &rep, &err) != NP_OK) {
        np_out_error(a->cmd, &err);
        code = NP_EXIT_NETWORK;
        goto out;
    }
    render(a, &rep);
    pm_store_notes(a, &rep);
    code = NP_EXIT_OK;
    for (i = 0; i < rep.n; i++)
        if (rep.r[i].outcome == NP_SESS_FAILED)
            code = NP_EXIT_PROBLEM;
out:
    np_sess_report_free(&rep);
    np_session_free(s);
    np_store_free(st);
    free(a);
    return code;
}
