/*
 * natpilot verify: is each inbound rule mapped to the right device, to
 * another device, or missing? UPnP reads the router's table (this sees the
 * mappings a console made itself); PCP and NAT-PMP have no table, so their
 * mappings are re-requested (which renews them). For this host's UDP
 * mappings it then proves them from outside: a STUN answer from the
 * server's alternate address must come in through the mapped port
 * (np_probe_reachable), which a second NAT or a firewall beyond the router
 * would stop even though the router reports the mapping as made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "natpilot/probe.h"
#include "natpilot/stun.h"
#include "pmcli.h"

#define DEFAULT_STUN "stun.stunprotocol.org:3478"

static const char usage[] =
    "usage: natpilot verify [PROFILE...] [--port PROTO:PORT[-PORT]]...\n"
    "                       [--for ADDRESS] [--via pcp|natpmp|upnp]\n"
    "                       [--platform NAME] [--profiles DIR] [--json]\n"
    "                       [--stun HOST[:PORT]|none]\n"
    "       natpilot verify --outbound ... (see natpilot verify --outbound "
    "--help)\n"
    "\n"
    "For each inbound port of the profiles (or --port rules): mapped to this\n"
    "host (or to --for ADDRESS), mapped to another device, or missing.\n"
    "UPnP is asked first (its table shows what the console mapped itself).\n"
    "This host's UDP mappings are then proven from outside: an RFC 5780\n"
    "STUN server (--stun; default " DEFAULT_STUN ") answers from its\n"
    "alternate address, which only a working mapping lets in. --stun none\n"
    "skips that.\n"
    "Exit: 0 all mapped right, 1 something missing, elsewhere or not\n"
    "reachable, 2 usage, 3 no router answered.\n";

struct reach_ctx {
    int enabled;
    np_addr server;
    char note[160]; /* why it is off, "" when on */
};

/* Resolve the STUN server once; a failure only turns the proof off. */
static void reach_setup(const struct pm_args *a, struct reach_ctx *rc)
{
    np_error err;

    memset(rc, 0, sizeof(*rc));
    if (a->have_for) {
        snprintf(rc->note, sizeof(rc->note),
                 "reachability is proven only for this host");
        return;
    }
    if (a->stun != NULL && strcmp(a->stun, "none") == 0) {
        snprintf(rc->note, sizeof(rc->note),
                 "reachability not tested "
                 "(--stun none)");
        return;
    }
    if (np_addr_resolve(&rc->server, a->stun ? a->stun : DEFAULT_STUN,
                        NP_STUN_DEFAULT_PORT, AF_UNSPEC, &err) != NP_OK) {
        snprintf(rc->note, sizeof(rc->note), "reachability not tested: %.120s",
                 err.msg);
        return;
    }
    rc->enabled = 1;
}

/*
 * The rule is not mapped on its own external port (missing, or that port
 * is another device's): look for it on any other one. A device that maps
 * itself may pick another external port (an Xbox does when a second Xbox
 * holds UDP 3074), and so may natpilot's open for such a platform; the
 * router's table shows it as this device's internal port. Reads the table
 * once (*tab, *n; *listed set whatever the result). 1 when res now says so.
 */
static int find_elsewhere(np_portmap *pm, const np_pm_discovery *d,
                          const np_pm_request *q, np_pm_mapping **tab,
                          size_t *n, int *listed, np_pm_result *res)
{
    const np_addr *dev =
        np_addr_is_set(&q->internal) ? &q->internal : &d->local;
    char held[NP_PM_MSG_MAX], holder[NP_ADDRSTRLEN];
    const np_pm_mapping *m;
    np_error err;

    if (!*listed) {
        *listed = 1;
        (void)np_portmap_use(pm, NP_PM_UPNP, NULL);
        if (np_portmap_list(pm, tab, n, &err) != NP_OK) {
            *tab = NULL;
            *n = 0;
        }
        (void)np_portmap_use(pm, NP_PM_NONE, NULL);
    }
    m = np_pm_table_find(*tab, *n, q->transport, q->internal_port, dev);
    if (m == NULL || m->external_port == q->external_port)
        return 0; /* none, or the one np_portmap_get already judged */
    if (res->outcome == NP_PM_OTHER_DEVICE && np_addr_is_set(&res->holder))
        snprintf(held, sizeof(held), "; %u itself is %s's",
                 (unsigned)q->external_port,
                 np_addr_ip_str(&res->holder, holder, sizeof(holder)));
    else
        held[0] = '\0';
    res->outcome = NP_PM_OK;
    res->proto = NP_PM_UPNP;
    res->external = d->external[NP_PM_UPNP];
    np_addr_set_port(&res->external, m->external_port);
    res->internal = m->internal;
    res->internal_port = q->internal_port;
    res->lifetime = m->lifetime;
    if (snprintf(res->message, sizeof(res->message),
                 "mapped on external port %u instead (\"%.60s\")%s",
                 (unsigned)m->external_port, m->description,
                 held) >= (int)sizeof(res->message))
        res->message[sizeof(res->message) - 1] = '\0'; /* cut: display only */
    return 1;
}

int np_cmd_verify(int argc, char **argv)
{
    struct pm_args *a = calloc(1, sizeof(*a));
    struct pm_state st;
    np_pm_discovery d;
    np_portmap *pm = NULL;
    int code, bad = 0, unreachable = 0, proven = 0;
    size_t i;
    cJSON *j = NULL, *arr = NULL;
    struct reach_ctx reach;
    np_pm_mapping *tab = NULL;
    size_t ntab = 0;
    int listed = 0;

    for (i = 1; i < (size_t)argc; i++)
        if (strcmp(argv[i], "--outbound") == 0) {
            free(a);
            return np_cmd_verify_outbound(argc, argv);
        }

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
    reach_setup(a, &reach);
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
        const char *status, *reach_state;
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
        if (rc == NP_OK && d.has[NP_PM_UPNP] &&
            (res.outcome == NP_PM_NOT_FOUND ||
             res.outcome == NP_PM_OTHER_DEVICE))
            (void)find_elsewhere(pm, &d, &q, &tab, &ntab, &listed, &res);
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
        /* Prove this host's UDP mappings from outside. */
        reach_state = NULL;
        if (res.outcome == NP_PM_OK && reach.enabled &&
            r->transport == NP_PM_UDP) {
            np_reach rr;
            np_error rerr;

            np_progress("proving the mapping from outside");
            if (np_probe_reachable(&reach.server, NULL, NULL, r->port, 40, 1000,
                                   &rr, &rerr) != NP_OK)
                reach_state = "not-tested";
            else if (rr.reachable)
                reach_state = "reachable";
            else if (rr.wrong_source || !rr.answered)
                reach_state = "inconclusive";
            else
                reach_state = "not-reachable";
            if (strcmp(reach_state, "reachable") == 0)
                proven++;
            np_progress_done();
            if (strcmp(reach_state, "not-reachable") == 0) {
                status = "unreachable";
                bad++;
                unreachable++;
            }
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
            if (reach_state != NULL)
                cJSON_AddStringToObject(o, "reachability", reach_state);
            else
                cJSON_AddNullToObject(o, "reachability");
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
            const char *msg;

            char head[32];

            snprintf(head, sizeof(head), "  %-3s %-5u ",
                     np_pm_transport_name(r->transport), (unsigned)r->port);
            if (reach_state != NULL && strcmp(reach_state, "reachable") != 0)
                c = np_c_bad();
            /* "mapped" + "mapped to X" reads twice: drop the repeat. */
            msg = res.message;
            if (strncmp(msg, status, strlen(status)) == 0 &&
                msg[strlen(status)] == ' ')
                msg += strlen(status) + 1;
            np_out_wrapf(head, "              ", "%s%s%s %s (%s)%s%s", c,
                         status, np_c_reset(), msg, np_pm_proto_name(res.proto),
                         reach_state ? "; from outside: " : "",
                         reach_state ? reach_state : "");
        }
    }
    if (a->json) {
        cJSON_AddNumberToObject(j, "problems", bad);
        cJSON_AddNumberToObject(j, "unreachable", unreachable);
        if (reach.enabled)
            cJSON_AddNullToObject(j, "reachability_note");
        else
            cJSON_AddStringToObject(j, "reachability_note", reach.note);
        pm_json_out(j);
    } else {
        if (!reach.enabled && reach.note[0] != '\0')
            printf("  (%s)\n", reach.note);
        if (unreachable > 0) {
            printf("\n");
            np_out_wrap("", "",
                        "The router reports these mappings as made, but "
                        "nothing from the internet gets through them: a "
                        "second NAT (double NAT or the provider's "
                        "carrier-grade NAT) or a firewall sits beyond the "
                        "router. Forwarding at home alone cannot fix that; "
                        "see natpilot diagnose.");
        }
        printf("\n%zu of %zu ports mapped to the right device",
               a->nrules - (size_t)bad, a->nrules);
        if (reach.enabled)
            printf("; %d proven from outside (UDP only)", proven);
        printf(".\n");
    }
    code = bad ? NP_EXIT_PROBLEM : NP_EXIT_OK;
out:
    free(tab);
    np_portmap_free(pm);
    pm_state_free(&st);
    free(a);
    return code;
}
