/*
 * natpilot verify: is each inbound rule mapped to the right device, to
 * another device, or missing? UPnP reads the router's table (this sees the
 * mappings a console made itself); PCP and NAT-PMP have no table, so their
 * mappings are re-requested (which renews them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pmcli.h"

static const char usage[] =
    "usage: natpilot verify [PROFILE...] [--port PROTO:PORT[-PORT]]...\n"
    "                       [--for ADDRESS] [--via pcp|natpmp|upnp]\n"
    "                       [--platform NAME] [--profiles DIR] [--json]\n"
    "\n"
    "For each inbound port of the profiles (or --port rules): mapped to this\n"
    "host (or to --for ADDRESS), mapped to another device, or missing.\n"
    "UPnP is asked first (its table shows what the console mapped itself).\n"
    "Exit: 0 all mapped right, 1 something missing or elsewhere, 2 usage,\n"
    "3 no router answered.\n";

int np_cmd_verify(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    struct pm_state st;
    np_pm_discovery d;
    np_portmap *pm = NULL;
    int code, bad = 0;
    size_t i;
    cJSON *j = NULL, *arr = NULL;

    memset(&st, 0, sizeof(st));
    if (a == NULL)
        return NP_EXIT_NETWORK;
    code = pm_parse(argc, argv, a, usage, 0);
    if (code < 0)
        code = pm_resolve_profiles(a);
    if (code >= 0)
        goto out;
    memset(&d, 0, sizeof(d));
    pm = pm_session(a, 1, &d, &code);
    if (pm == NULL)
        goto out;
    pm_print_discovery(a, &d);
    (void)pm_state_load(&st);
    if (a->json) {
        j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "discovery", pm_discovery_json(&d));
        arr = cJSON_AddArrayToObject(j, "rules");
    }
    for (i = 0; i < a->nrules; i++) {
        const struct pm_rule *r = &a->rules[i];
        np_pm_request q;
        np_pm_result res;
        np_error err;
        const char *status;
        char ext[NP_ADDRSTRLEN], in[NP_ADDRSTRLEN];
        long k;
        int rc;

        pm_request(a, r, &q);
        k = pm_state_find(&st, r->transport, r->port, &q.internal, &d.gateway);
        if (k >= 0) {
            /* made by natpilot with PCP/NAT-PMP: renew it the same way,
             * with its nonce, unless the router's table can be read */
            memcpy(q.nonce, st.e[k].nonce, 12);
            if (!d.has[NP_PM_UPNP] || a->via != NP_PM_NONE)
                (void)np_portmap_use(pm, st.e[k].proto, NULL);
        }
        if (k < 0 && !d.has[NP_PM_UPNP]) {
            /* PCP/NAT-PMP can only re-request, which would create the
             * mapping: do not, for one natpilot did not make */
            memset(&res, 0, sizeof(res));
            res.proto = d.chosen;
            res.outcome = NP_PM_NOT_FOUND;
            snprintf(res.message, sizeof(res.message),
                     "not made by natpilot, and without UPnP the router's "
                     "table cannot be read");
            rc = NP_OK;
        } else {
            rc = np_portmap_get(pm, &q, &res, &err);
        }
        (void)np_portmap_use(pm, NP_PM_NONE, NULL);
        if (rc != NP_OK && rc != NP_ETIMEOUT) {
            np_out_error(a->cmd, &err);
            code = NP_EXIT_NETWORK;
            cJSON_Delete(j);
            goto out;
        }
        switch (res.outcome) {
        case NP_PM_OK:
            status = "mapped";
            break;
        case NP_PM_OTHER_DEVICE:
        case NP_PM_CONFLICT:
        case NP_PM_OTHER_PORT:
            status = "other-device";
            bad++;
            break;
        case NP_PM_NOT_FOUND:
            status = "missing";
            bad++;
            break;
        case NP_PM_POLICY:
        case NP_PM_THIRD_PARTY:
        case NP_PM_PERMANENT_ONLY:
        case NP_PM_TIMEOUT:
        case NP_PM_UNSUPPORTED:
        case NP_PM_FAILED:
        default:
            status = "unknown";
            bad++;
            break;
        }
        np_addr_str(&res.external, ext, sizeof(ext));
        np_addr_ip_str(&res.internal, in, sizeof(in));
        if (a->json) {
            cJSON *o = cJSON_CreateObject();
            char hold[NP_ADDRSTRLEN];

            cJSON_AddStringToObject(o, "protocol",
                                    np_pm_transport_name(r->transport));
            cJSON_AddNumberToObject(o, "port", r->port);
            cJSON_AddStringToObject(o, "profile", r->label);
            cJSON_AddStringToObject(o, "status", status);
            cJSON_AddStringToObject(o, "via", np_pm_proto_name(res.proto));
            cJSON_AddStringToObject(o, "message", res.message);
            if (res.outcome == NP_PM_OK) {
                cJSON_AddStringToObject(o, "external", ext);
                cJSON_AddStringToObject(o, "internal", in);
                cJSON_AddNumberToObject(o, "lease", res.lifetime);
            }
            if (np_addr_is_set(&res.holder) && res.outcome != NP_PM_OK) {
                cJSON_AddStringToObject(
                    o, "holder",
                    np_addr_ip_str(&res.holder, hold, sizeof(hold)));
                cJSON_AddStringToObject(o, "holder_description",
                                        res.holder_desc);
            }
            cJSON_AddItemToArray(arr, o);
        } else {
            const char *c = res.outcome == NP_PM_OK ? np_c_good() : np_c_bad();

            printf("  %-3s %-5u %s%-12s%s %s (%s)\n",
                   np_pm_transport_name(r->transport), (unsigned)r->port, c,
                   status, np_c_reset(), res.message,
                   np_pm_proto_name(res.proto));
        }
    }
    if (a->json) {
        cJSON_AddNumberToObject(j, "problems", bad);
        pm_json_out(j);
    } else {
        printf("\n%zu of %zu ports mapped to the right device.\n",
               a->nrules - (size_t)bad, a->nrules);
    }
    code = bad ? NP_EXIT_PROBLEM : NP_EXIT_OK;
out:
    np_portmap_free(pm);
    pm_state_free(&st);
    free(a);
    return code;
}
