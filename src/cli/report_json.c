/* natpilot program: the session reports as JSON (report_json.h). */
#include "report_json.h"

#include "natpilot/addr.h"

static void add_addr(cJSON *o, const char *k, const np_addr *a)
{
    char buf[NP_ADDRSTRLEN];

    if (np_addr_is_set(a))
        cJSON_AddStringToObject(o, k, np_addr_ip_str(a, buf, sizeof(buf)));
    else
        cJSON_AddNullToObject(o, k);
}

cJSON *pm_discovery_json(const np_pm_discovery *d)
{
    cJSON *j = cJSON_CreateObject(), *p, *s;
    int i;
    size_t k;

    add_addr(j, "gateway", &d->gateway);
    add_addr(j, "local", &d->local);
    p = cJSON_AddObjectToObject(j, "protocols");
    for (i = NP_PM_PCP; i < NP_PM_NPROTO; i++) {
        cJSON *e = cJSON_AddObjectToObject(p, np_pm_proto_name(i));

        cJSON_AddBoolToObject(e, "answered", d->has[i]);
        if (d->rtt_ms[i] >= 0)
            cJSON_AddNumberToObject(e, "answer_ms", d->rtt_ms[i]);
        if (np_addr_is_set(&d->external[i]))
            add_addr(e, "external_address", &d->external[i]);
        if (np_addr_is_set(&d->external_bogus[i]))
            add_addr(e, "external_address_unusable", &d->external_bogus[i]);
        if (i == NP_PM_UPNP && d->has[i]) {
            cJSON_AddNumberToObject(e, "igd_version", d->igd_version);
            cJSON_AddStringToObject(e, "igd_url", d->igd_url);
        }
    }
    cJSON_AddStringToObject(j, "chosen", np_pm_proto_name(d->chosen));
    cJSON_AddNumberToObject(j, "elapsed_ms", d->elapsed_ms);
    cJSON_AddStringToObject(j, "note", d->note);
    s = cJSON_AddArrayToObject(j, "suspicious");
    for (k = 0; k < d->nsuspects; k++) {
        cJSON *e = cJSON_CreateObject();

        cJSON_AddStringToObject(e, "protocol",
                                np_pm_proto_name(d->suspects[k].proto));
        add_addr(e, "from", &d->suspects[k].from);
        cJSON_AddStringToObject(e, "what", d->suspects[k].what);
        cJSON_AddItemToArray(s, e);
    }
    return j;
}

cJSON *np_rj_apply_rule(const np_sess_result *x)
{
    const np_sess_rule *r = &x->rule;
    const np_pm_result *res = &x->pm;
    char ext[NP_ADDRSTRLEN], in[NP_ADDRSTRLEN], hold[NP_ADDRSTRLEN];
    int held = x->outcome == NP_SESS_MAPPED;
    cJSON *o = cJSON_CreateObject();

    np_addr_str(&res->external, ext, sizeof(ext));
    np_addr_ip_str(&res->internal, in, sizeof(in));
    cJSON_AddStringToObject(o, "protocol", np_pm_transport_name(r->transport));
    cJSON_AddNumberToObject(o, "port", r->port);
    cJSON_AddStringToObject(o, "profile", r->label);
    cJSON_AddBoolToObject(o, "essential", r->essential);
    if (r->feature[0])
        cJSON_AddStringToObject(o, "feature", r->feature);
    cJSON_AddStringToObject(o, "status", np_sess_outcome_name(x->outcome));
    if (x->tried) {
        cJSON_AddStringToObject(o, "outcome", np_pm_outcome_name(res->outcome));
        cJSON_AddStringToObject(o, "via", np_pm_proto_name(res->proto));
        cJSON_AddNumberToObject(o, "code", res->code);
        cJSON_AddStringToObject(o, "message", res->message);
    }
    if (held && x->alternate)
        cJSON_AddNumberToObject(o, "alternate_external_port",
                                np_addr_port(&res->external));
    if (held || x->rolled_back) {
        cJSON_AddStringToObject(o, "external", ext);
        cJSON_AddStringToObject(o, "internal", in);
        cJSON_AddNumberToObject(o, "lease", res->lifetime);
    }
    if (np_addr_is_set(&res->holder) && x->outcome == NP_SESS_CONFLICT) {
        cJSON_AddStringToObject(
            o, "holder", np_addr_ip_str(&res->holder, hold, sizeof(hold)));
        cJSON_AddStringToObject(o, "holder_description", res->holder_desc);
    }
    if (x->offered_port != 0)
        cJSON_AddNumberToObject(o, "offered_external_port", x->offered_port);
    return o;
}

cJSON *np_rj_apply_report(const np_sess_report *rep, size_t total)
{
    cJSON *j = cJSON_CreateObject(), *arr;
    size_t i;

    cJSON_AddItemToObject(j, "discovery", pm_discovery_json(&rep->disc));
    arr = cJSON_AddArrayToObject(j, "rules");
    for (i = 0; i < rep->n; i++)
        cJSON_AddItemToArray(arr, np_rj_apply_rule(&rep->r[i]));
    cJSON_AddBoolToObject(j, "rolled_back", rep->rolled_back);
    if (rep->rolled_back || rep->reason[0] != '\0')
        cJSON_AddStringToObject(j, "rollback_reason", rep->reason);
    cJSON_AddNumberToObject(j, "mapped", (double)rep->ok);
    cJSON_AddNumberToObject(j, "total", (double)total);
    return j;
}

cJSON *np_rj_verify_rule(const np_sess_result *x, const char *status_override,
                         const char *reachability, const char *reason,
                         const char *why)
{
    const np_pm_result *res = &x->pm;
    char ext[NP_ADDRSTRLEN], in[NP_ADDRSTRLEN], hold[NP_ADDRSTRLEN];
    cJSON *o = cJSON_CreateObject();

    np_addr_str(&res->external, ext, sizeof(ext));
    np_addr_ip_str(&res->internal, in, sizeof(in));
    cJSON_AddStringToObject(o, "protocol",
                            np_pm_transport_name(x->rule.transport));
    cJSON_AddNumberToObject(o, "port", x->rule.port);
    cJSON_AddStringToObject(o, "profile", x->rule.label);
    cJSON_AddStringToObject(o, "status",
                            status_override != NULL
                                ? status_override
                                : np_sess_outcome_name(x->outcome));
    cJSON_AddStringToObject(o, "via", np_pm_proto_name(res->proto));
    cJSON_AddStringToObject(o, "message", res->message);
    if (reachability != NULL) {
        cJSON_AddStringToObject(o, "reachability", reachability);
        cJSON_AddStringToObject(o, "reachability_reason",
                                reason != NULL ? reason : "");
        cJSON_AddStringToObject(o, "reachability_why", why != NULL ? why : "");
    } else {
        cJSON_AddNullToObject(o, "reachability");
    }
    if (x->outcome == NP_SESS_MAPPED) {
        cJSON_AddStringToObject(o, "external", ext);
        cJSON_AddStringToObject(o, "internal", in);
        cJSON_AddNumberToObject(o, "lease", res->lifetime);
    }
    if (np_addr_is_set(&res->holder) && x->outcome != NP_SESS_MAPPED) {
        cJSON_AddStringToObject(
            o, "holder", np_addr_ip_str(&res->holder, hold, sizeof(hold)));
        cJSON_AddStringToObject(o, "holder_description", res->holder_desc);
    }
    return o;
}

/* --- profiles (profiles --json, the web API's profiles) -------------- */

cJSON *np_rj_platforms(unsigned set)
{
    cJSON *a = cJSON_CreateArray();
    unsigned bit;

    for (bit = 1; a != NULL && bit <= NP_PLAT_PC; bit <<= 1)
        if (set & bit)
            cJSON_AddItemToArray(a, cJSON_CreateString(np_platform_name(bit)));
    return a;
}

cJSON *np_rj_strings(const char *const *s, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    size_t i;

    for (i = 0; a != NULL && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

cJSON *np_rj_source(const np_source *s)
{
    cJSON *o;

    if (s == NULL)
        return cJSON_CreateNull();
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "url", s->url);
    cJSON_AddStringToObject(o, "title", s->title);
    cJSON_AddBoolToObject(o, "official", s->official);
    return o;
}

cJSON *np_rj_rules(const np_rule *rules, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    size_t i, j;

    for (i = 0; a != NULL && i < n; i++) {
        const np_rule *r = &rules[i];
        cJSON *e = cJSON_CreateObject(), *ports = cJSON_CreateArray();

        cJSON_AddStringToObject(e, "protocol", np_proto_name(r->protocol));
        for (j = 0; j < r->n_ports; j++) {
            cJSON *pr = cJSON_CreateObject();

            cJSON_AddNumberToObject(pr, "lo", r->ports[j].lo);
            cJSON_AddNumberToObject(pr, "hi", r->ports[j].hi);
            cJSON_AddItemToArray(ports, pr);
        }
        cJSON_AddItemToObject(e, "ports", ports);
        cJSON_AddItemToObject(e, "platforms", np_rj_platforms(r->platforms));
        cJSON_AddStringToObject(e, "role", np_role_name(r->role));
        cJSON_AddBoolToObject(e, "essential", r->essential);
        cJSON_AddBoolToObject(e, "broad", r->broad);
        if (r->feature != NULL)
            cJSON_AddStringToObject(e, "feature", r->feature);
        else
            cJSON_AddNullToObject(e, "feature");
        if (r->note != NULL)
            cJSON_AddStringToObject(e, "note", r->note);
        else
            cJSON_AddNullToObject(e, "note");
        cJSON_AddStringToObject(e, "confidence",
                                np_confidence_name(r->confidence));
        cJSON_AddItemToObject(e, "source", np_rj_source(r->source));
        cJSON_AddStringToObject(e, "profile", r->profile_id);
        cJSON_AddItemToArray(a, e);
    }
    return a;
}
