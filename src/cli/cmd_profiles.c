/*
 * natpilot profiles: list, show, search and validate game profiles.
 *
 *   natpilot profiles [--profiles DIR] [--json] list [--platform P]
 *   natpilot profiles show ID... [--platform P]
 *   natpilot profiles search WORDS...
 *   natpilot profiles validate [PATH...]
 *
 * Layers, lowest first: the catalog built into the binary, the user
 * directory ($XDG_DATA_HOME/natpilot/profiles), --profiles DIR; a profile id
 * in a higher layer replaces the same id below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "natpilot/profile.h"
#include "report_json.h"
#include "natpilot/advice.h"

#define CMD "profiles"

typedef struct opts {
    const char *sub;
    const char *profiles_dir;
    const char *platform_name;
    unsigned platform;
    int json;
    int help;
    char **args;
    int n_args;
} opts;

static void usage_main(FILE *f)
{
    fprintf(f,
            "usage: natpilot profiles [--profiles DIR] [--json] COMMAND "
            "[ARGS]\n\n"
            "Commands:\n"
            "  list [--platform P]        the profiles in the catalog\n"
            "  show ID... [--platform P]  the resolved rules of profiles, "
            "with sources\n"
            "  search WORDS...            find profiles by name or alias "
            "(typos are fine)\n"
            "  validate [PATH...]         check profile files or "
            "directories (exit 2 on errors)\n\n"
            "Options:\n"
            "  --profiles DIR  a directory of profiles layered over the "
            "others\n"
            "  --platform P    xbox, playstation, switch or pc\n"
            "  --json          machine-readable output\n\n"
            "Layers, lowest first: the built-in catalog, the user directory\n"
            "($XDG_DATA_HOME/natpilot/profiles, default "
            "~/.local/share/natpilot/profiles),\nthen --profiles DIR. A "
            "profile id in a higher layer replaces the same id below.\n");
}

static void usage_sub(FILE *f, const char *sub)
{
    if (strcmp(sub, "list") == 0)
        fprintf(f, "usage: natpilot profiles [--profiles DIR] list "
                   "[--platform P] [--json]\n\n"
                   "Lists every profile: id, kind, platforms, layer and "
                   "name. --platform keeps\nthose that list platform P "
                   "(xbox, playstation, switch, pc).\n");
    else if (strcmp(sub, "show") == 0)
        fprintf(f, "usage: natpilot profiles [--profiles DIR] show ID... "
                   "[--platform P] [--json]\n\n"
                   "Shows the rules of the profiles together with the base "
                   "profiles they build on,\nfiltered for device platform P "
                   "when given, each with its source. These are\nthe ports "
                   "'natpilot open' asks the router for (broad rules are "
                   "never mapped).\n");
    else if (strcmp(sub, "search") == 0)
        fprintf(f, "usage: natpilot profiles [--profiles DIR] search "
                   "WORDS... [--platform P] [--json]\n\n"
                   "Finds profiles by id, name and aliases, forgiving "
                   "typos: 'minecraft bedrok',\n'cod'. Exit 1 when nothing "
                   "matches.\n");
    else
        fprintf(f, "usage: natpilot profiles [--profiles DIR] validate "
                   "[PATH...] [--json]\n\n"
                   "Checks profile files, or every *.json under "
                   "directories, against the format\n(docs/profiles.md). "
                   "Bases are looked up in the loaded catalog too. With no\n"
                   "PATH, validates the whole loaded catalog. Problems go to "
                   "stderr, one per line:\n  FILE:LINE:COL: /json/path: "
                   "message\nExit 0 when valid, 2 on any error.\n");
}

static int parse_opts(int argc, char **argv, opts *o)
{
    int i, rest = 0;

    memset(o, 0, sizeof(*o));
    o->args = calloc((size_t)argc + 1, sizeof(*o->args));
    if (o->args == NULL) {
        np_out_errorf(CMD, "out of memory");
        return -1;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!rest && strcmp(a, "--") == 0) {
            rest = 1;
        } else if (!rest && strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (!rest &&
                   (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            o->help = 1;
        } else if (!rest && (strcmp(a, "--profiles") == 0 ||
                             strcmp(a, "--platform") == 0)) {
            if (i + 1 >= argc) {
                np_out_errorf(CMD, "%s needs a value", a);
                return -1;
            }
            if (a[3] == 'r')
                o->profiles_dir = argv[++i];
            else
                o->platform_name = argv[++i];
        } else if (!rest && strncmp(a, "--profiles=", 11) == 0) {
            o->profiles_dir = a + 11;
        } else if (!rest && strncmp(a, "--platform=", 11) == 0) {
            o->platform_name = a + 11;
        } else if (!rest && a[0] == '-' && a[1] != '\0') {
            np_out_errorf(CMD,
                          "unknown option '%s'; see 'natpilot profiles "
                          "--help'",
                          a);
            return -1;
        } else if (o->sub == NULL) {
            o->sub = a;
        } else {
            o->args[o->n_args++] = argv[i];
        }
    }
    if (o->platform_name != NULL &&
        np_platform_parse(o->platform_name, &o->platform) != NP_OK) {
        np_out_errorf(CMD,
                      "unknown platform '%s': use xbox, playstation, switch "
                      "or pc",
                      o->platform_name);
        return -1;
    }
    return 0;
}

static void platforms_text(unsigned set, char *buf, size_t size)
{
    size_t n = 0;
    unsigned bit;

    buf[0] = '\0';
    for (bit = 1; bit <= NP_PLAT_PC; bit <<= 1) {
        if (set & bit) {
            int w = snprintf(buf + n, size - n, "%s%s", n ? "," : "",
                             np_platform_name(bit));
            if (w > 0 && n + (size_t)w < size)
                n += (size_t)w;
        }
    }
}

static int print_json(cJSON *root)
{
    char *s;

    if (root == NULL) {
        np_out_errorf(CMD, "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    s = cJSON_Print(root);
    cJSON_Delete(root);
    if (s == NULL) {
        np_out_errorf(CMD, "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    printf("%s\n", s);
    free(s);
    return NP_EXIT_OK;
}

static void print_diag(const np_diag *d)
{
    char buf[2048];

    fprintf(stderr, "%s\n", np_diag_format(d, buf, sizeof(buf)));
}

/*
 * Load the layers for list/show/search. Files with errors are skipped and
 * reported on stderr as warnings. Returns NULL (reported) when the catalog
 * cannot be built at all.
 */
static np_catalog *load_catalog(const opts *o)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;
    np_error err;
    size_t i;
    int r;

    if (cat == NULL) {
        np_out_errorf(CMD, "out of memory");
        return NULL;
    }
    np_diags_init(&d);
    np_error_clear(&err);
    r = np_catalog_load_default(cat, o->profiles_dir, &d, &err);
    if (r != NP_OK && r != NP_EINVALID) {
        np_out_error(CMD, &err);
        np_diags_free(&d);
        np_catalog_free(cat);
        return NULL;
    }
    for (i = 0; i < d.count; i++) {
        char buf[2048];
        if (d.items[i].severity != NP_DIAG_ERROR)
            continue;
        fprintf(stderr, "natpilot profiles: skipped: %s\n",
                np_diag_format(&d.items[i], buf, sizeof(buf)));
    }
    np_diags_free(&d);
    return cat;
}

/* --- list ---------------------------------------------------------------- */

static int cmd_list(const opts *o)
{
    np_catalog *cat;
    size_t i, n, wid = 2, pwid = 9;
    cJSON *root = NULL, *arr = NULL;

    if (o->n_args > 0) {
        np_out_errorf(CMD,
                      "list takes no arguments (did you mean 'show "
                      "%s'?)",
                      o->args[0]);
        return NP_EXIT_USAGE;
    }
    cat = load_catalog(o);
    if (cat == NULL)
        return NP_EXIT_USAGE;
    n = np_catalog_count(cat);
    if (o->json) {
        root = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(root, "profiles");
    } else {
        for (i = 0; i < n; i++) {
            const np_profile *p = np_catalog_at(cat, i);
            char plat[64];
            platforms_text(p->platforms, plat, sizeof(plat));
            if (strlen(p->id) > wid)
                wid = strlen(p->id);
            if (strlen(plat) > pwid)
                pwid = strlen(plat);
        }
        printf("%s%-*s  %-8s  %-*s  %-8s  %s%s\n", np_c_bold(), (int)wid, "ID",
               "KIND", (int)pwid, "PLATFORMS", "LAYER", "NAME", np_c_reset());
    }
    for (i = 0; i < n; i++) {
        const np_profile *p = np_catalog_at(cat, i);
        char plat[64];
        if (o->platform != 0 && !(p->platforms & o->platform))
            continue;
        if (o->json) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "id", p->id);
            cJSON_AddStringToObject(e, "kind", np_kind_name(p->kind));
            cJSON_AddStringToObject(e, "name", p->name);
            cJSON_AddItemToObject(e, "platforms",
                                  np_rj_platforms(p->platforms));
            cJSON_AddItemToObject(e, "aliases",
                                  np_rj_strings(p->aliases, p->n_aliases));
            cJSON_AddItemToObject(e, "base", np_rj_strings(p->base, p->n_base));
            cJSON_AddStringToObject(e, "layer", np_layer_name(p->layer));
            cJSON_AddStringToObject(e, "file", p->file);
            cJSON_AddStringToObject(e, "checked", p->checked);
            cJSON_AddItemToArray(arr, e);
            continue;
        }
        platforms_text(p->platforms, plat, sizeof(plat));
        printf("%-*s  %-8s  %-*s  %-8s  %s\n", (int)wid, p->id,
               np_kind_name(p->kind), (int)pwid, plat, np_layer_name(p->layer),
               p->name);
    }
    np_catalog_free(cat);
    if (o->json)
        return print_json(root);
    return NP_EXIT_OK;
}

/* --- show ---------------------------------------------------------------- */

/* Sources cited by the resolution, numbered in order of first use. */
typedef struct cite {
    const np_source *src[256];
    const char *checked[256];
    size_t n;
} cite;

static size_t cite_of(cite *c, const np_source *s, const np_resolved *res)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (c->src[i] == s)
            return i + 1;
    if (c->n == 256)
        return 0;
    c->src[c->n] = s;
    c->checked[c->n] = "";
    for (i = 0; i < res->n_profiles; i++)
        if (s >= res->profiles[i]->sources &&
            s < res->profiles[i]->sources + res->profiles[i]->n_sources)
            c->checked[c->n] = res->profiles[i]->checked;
    return ++c->n;
}

/* text dimmed, word-wrapped at 78 columns (np_out_wrap), indented. */
static void print_wrapped(const char *text, int indent)
{
    char ind[64];

    snprintf(ind, sizeof(ind), "%*s%s", indent < 32 ? indent : 32, "",
             np_c_dim());
    np_out_wrap(ind, ind, text);
    fputs(np_c_reset(), stdout);
}

static void print_rules(const char *title, const np_rule *rules, size_t n,
                        const np_resolved *res, cite *c, int show_plat)
{
    size_t i, pw = 5, fw = 4, plw = 9;
    char plat[64];

    printf("\n%s%s%s\n", np_c_bold(), title, np_c_reset());
    if (n == 0) {
        printf("  (none)\n");
        return;
    }
    for (i = 0; i < n; i++) {
        char pt[256];
        size_t l = strlen(rules[i].profile_id);
        np_advice_rule_ports(&rules[i], pt, sizeof(pt));
        platforms_text(rules[i].platforms, plat, sizeof(plat));
        if (strlen(pt) > pw)
            pw = strlen(pt);
        if (strlen(plat) > plw)
            plw = strlen(plat);
        if (l > fw)
            fw = l;
    }
    if (pw > 24)
        pw = 24;
    printf("  %s%-5s  %-*s  %-12s  %-9s  %-6s  %-*s  ", np_c_dim(), "PROTO",
           (int)pw, "PORTS", "ROLE", "ESSENTIAL", "CONF", (int)fw, "FROM");
    if (show_plat)
        printf("%-*s  ", (int)plw, "PLATFORMS");
    printf("SOURCE / NOTE%s\n", np_c_reset());
    for (i = 0; i < n; i++) {
        const np_rule *r = &rules[i];
        char pt[256];
        size_t k = cite_of(c, r->source, res);
        np_advice_rule_ports(r, pt, sizeof(pt));
        platforms_text(r->platforms, plat, sizeof(plat));
        printf("  %-5s  %-*s  %-12s  %s%-9s%s  %-6s  %-*s  ",
               np_proto_name(r->protocol), (int)pw, pt, np_role_name(r->role),
               r->essential ? np_c_good() : "", r->essential ? "yes" : "no",
               r->essential ? np_c_reset() : "",
               np_confidence_name(r->confidence), (int)fw, r->profile_id);
        if (show_plat)
            printf("%-*s  ", (int)plw, plat);
        if (r->broad)
            printf("%sBROAD, never mapped%s ", np_c_warn(), np_c_reset());
        printf("[%zu]%s%s\n", k, r->feature ? " " : "",
               r->feature ? r->feature : "");
        if (r->note)
            print_wrapped(r->note, 9);
    }
}

/* profiles show --json: the resolved rules and facts as one object. */
static cJSON *show_json(const opts *o, const np_resolved *res)
{
    cJSON *root = cJSON_CreateObject(), *ids, *facts, *alt;
    int i;
    size_t k;

    ids = cJSON_AddArrayToObject(root, "requested");
    for (i = 0; i < o->n_args; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(o->args[i]));
    if (o->platform)
        cJSON_AddStringToObject(root, "platform",
                                np_platform_name(o->platform));
    else
        cJSON_AddNullToObject(root, "platform");
    ids = cJSON_AddArrayToObject(root, "profiles");
    for (k = 0; k < res->n_profiles; k++) {
        const np_profile *p = res->profiles[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", p->id);
        cJSON_AddStringToObject(e, "name", p->name);
        cJSON_AddStringToObject(e, "kind", np_kind_name(p->kind));
        cJSON_AddItemToObject(e, "platforms", np_rj_platforms(p->platforms));
        cJSON_AddStringToObject(e, "checked", p->checked);
        cJSON_AddStringToObject(e, "layer", np_layer_name(p->layer));
        if (p->notes)
            cJSON_AddStringToObject(e, "notes", p->notes);
        else
            cJSON_AddNullToObject(e, "notes");
        cJSON_AddItemToArray(ids, e);
    }
    cJSON_AddItemToObject(root, "inbound",
                          np_rj_rules(res->inbound, res->n_inbound));
    cJSON_AddItemToObject(root, "outbound",
                          np_rj_rules(res->outbound, res->n_outbound));
    facts = cJSON_AddObjectToObject(root, "facts");
    alt = cJSON_AddArrayToObject(facts, "alternate_external_port");
    for (k = 0; k < res->n_alt_ports; k++) {
        const np_alt_port *a = &res->alt_ports[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "protocol", np_proto_name(a->protocol));
        cJSON_AddNumberToObject(e, "port", a->port);
        if (a->note)
            cJSON_AddStringToObject(e, "note", a->note);
        else
            cJSON_AddNullToObject(e, "note");
        cJSON_AddItemToObject(e, "source", np_rj_source(a->source));
        cJSON_AddStringToObject(e, "profile", a->profile_id);
        cJSON_AddItemToArray(alt, e);
    }
    cJSON_AddBoolToObject(facts, "self_maps_with_upnp",
                          res->self_maps_with_upnp);
    return root;
}

/* profiles show: the profiles, their rules, platform facts and sources. */
static void show_text(const opts *o, const np_catalog *cat,
                      const np_resolved *res)
{
    int i;
    size_t k;
    cite c;

    memset(&c, 0, sizeof(c));
    for (i = 0; i < o->n_args; i++) {
        const np_profile *p = np_catalog_find(cat, o->args[i]);
        char plat[64];
        platforms_text(p->platforms, plat, sizeof(plat));
        printf("%s%s%s (%s), %s on %s, checked %s\n", np_c_bold(), p->name,
               np_c_reset(), p->id, np_kind_name(p->kind), plat, p->checked);
        if (p->n_base > 0) {
            printf("  builds on:");
            for (k = 0; k < p->n_base; k++)
                printf("%s %s", k ? "," : "", p->base[k]);
            printf("\n");
        }
        if (p->notes)
            print_wrapped(p->notes, 2);
    }
    printf("Resolved for %s:",
           o->platform ? np_platform_name(o->platform) : "every platform");
    for (k = 0; k < res->n_profiles; k++)
        printf("%s %s", k ? "," : "", res->profiles[k]->id);
    printf("\n");
    print_rules("Inbound (ports natpilot asks the router to open)",
                res->inbound, res->n_inbound, res, &c, o->platform == 0);
    print_rules("Outbound (must not be blocked)", res->outbound,
                res->n_outbound, res, &c, o->platform == 0);
    if (res->n_alt_ports > 0 || res->self_maps_with_upnp) {
        printf("\n%sPlatform facts%s\n", np_c_bold(), np_c_reset());
        for (k = 0; k < res->n_alt_ports; k++) {
            const np_alt_port *a = &res->alt_ports[k];
            printf("  %s %u accepts a different external port [%zu] (%s)\n",
                   np_proto_name(a->protocol), a->port,
                   cite_of(&c, a->source, res), a->profile_id);
            if (a->note)
                print_wrapped(a->note, 4);
        }
        if (res->self_maps_with_upnp)
            printf("  the device maps its own ports when UPnP is on\n");
    }
    printf("\n%sSources%s\n", np_c_bold(), np_c_reset());
    for (k = 0; k < c.n; k++)
        printf("  [%zu] %s%s, checked %s\n      %s\n", k + 1, c.src[k]->title,
               c.src[k]->official ? " (official)" : " (third party)",
               c.checked[k], c.src[k]->url);
}

static int cmd_show(const opts *o)
{
    np_catalog *cat;
    np_resolved *res = NULL;
    np_error err;
    int r;
    size_t k;

    if (o->n_args == 0) {
        np_out_errorf(CMD, "show needs a profile id; see 'natpilot profiles "
                           "list'");
        return NP_EXIT_USAGE;
    }
    cat = load_catalog(o);
    if (cat == NULL)
        return NP_EXIT_USAGE;
    np_error_clear(&err);
    r = np_resolve(cat, (const char *const *)o->args, (size_t)o->n_args,
                   o->platform, &res, &err);
    if (r != NP_OK) {
        np_out_error(CMD, &err);
        if (r == NP_ENOTFOUND) {
            np_search_hit hits[3];
            size_t nh = 0;
            np_catalog_search(cat, (const char *const *)o->args,
                              (size_t)o->n_args, 0, hits, 3, &nh);
            for (k = 0; k < nh; k++)
                fprintf(stderr, "  did you mean: %s (%s)\n",
                        hits[k].profile->id, hits[k].profile->name);
        }
        np_catalog_free(cat);
        return NP_EXIT_USAGE;
    }
    if (o->json) {
        cJSON *root = show_json(o, res);

        np_resolved_free(res);
        np_catalog_free(cat);
        return print_json(root);
    }
    show_text(o, cat, res);
    np_resolved_free(res);
    np_catalog_free(cat);
    return NP_EXIT_OK;
}

/* --- search -------------------------------------------------------------- */

static int cmd_search(const opts *o)
{
    np_catalog *cat;
    np_search_hit hits[50];
    size_t n = 0, i, wid = 2, pwid = 9;
    char plat[64];

    if (o->n_args == 0) {
        np_out_errorf(CMD, "search needs words, e.g. 'natpilot profiles "
                           "search minecraft bedrock'");
        return NP_EXIT_USAGE;
    }
    cat = load_catalog(o);
    if (cat == NULL)
        return NP_EXIT_USAGE;
    if (np_catalog_search(cat, (const char *const *)o->args, (size_t)o->n_args,
                          o->platform, hits, 50, &n) != NP_OK) {
        np_out_errorf(CMD, "out of memory");
        np_catalog_free(cat);
        return np_exit_code(NP_ENOMEM);
    }
    if (o->json) {
        cJSON *root = cJSON_CreateObject(), *q, *arr;
        int k;
        q = cJSON_AddArrayToObject(root, "query");
        for (k = 0; k < o->n_args; k++)
            cJSON_AddItemToArray(q, cJSON_CreateString(o->args[k]));
        arr = cJSON_AddArrayToObject(root, "results");
        for (i = 0; i < n; i++) {
            const np_profile *p = hits[i].profile;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "id", p->id);
            cJSON_AddStringToObject(e, "name", p->name);
            cJSON_AddStringToObject(e, "kind", np_kind_name(p->kind));
            cJSON_AddItemToObject(e, "platforms",
                                  np_rj_platforms(p->platforms));
            cJSON_AddNumberToObject(e, "score", hits[i].score);
            cJSON_AddNumberToObject(e, "words_matched", hits[i].words_matched);
            cJSON_AddItemToArray(arr, e);
        }
        np_catalog_free(cat);
        print_json(root);
        return n > 0 ? NP_EXIT_OK : NP_EXIT_PROBLEM;
    }
    if (n == 0) {
        fprintf(stderr, "natpilot profiles: nothing matches; try fewer "
                        "words or 'natpilot profiles list'\n");
        np_catalog_free(cat);
        return NP_EXIT_PROBLEM;
    }
    for (i = 0; i < n; i++) {
        platforms_text(hits[i].profile->platforms, plat, sizeof(plat));
        if (strlen(hits[i].profile->id) > wid)
            wid = strlen(hits[i].profile->id);
        if (strlen(plat) > pwid)
            pwid = strlen(plat);
    }
    printf("%s%-*s  %-8s  %-*s  %s%s\n", np_c_bold(), (int)wid, "ID", "KIND",
           (int)pwid, "PLATFORMS", "NAME", np_c_reset());
    for (i = 0; i < n; i++) {
        const np_profile *p = hits[i].profile;
        platforms_text(p->platforms, plat, sizeof(plat));
        printf("%-*s  %-8s  %-*s  %s\n", (int)wid, p->id, np_kind_name(p->kind),
               (int)pwid, plat, p->name);
    }
    np_catalog_free(cat);
    return NP_EXIT_OK;
}

/* --- validate ------------------------------------------------------------ */

static int cmd_validate(const opts *o)
{
    np_catalog *cat = np_catalog_new();
    np_diags d, quiet;
    np_error err;
    size_t i, valid = 0, warnings = 0;
    int k, r, fatal = 0;

    if (cat == NULL) {
        np_out_errorf(CMD, "out of memory");
        return np_exit_code(NP_ENOMEM);
    }
    np_diags_init(&d);
    np_diags_init(&quiet);
    np_error_clear(&err);
    if (o->n_args == 0) {
        /* The whole loaded catalog, every layer reported. */
        r = np_catalog_load_default(cat, o->profiles_dir, &d, &err);
        if (r != NP_OK && r != NP_EINVALID) {
            np_out_error(CMD, &err);
            fatal = 1;
        }
        valid = np_catalog_count(cat);
    } else {
        /* The paths as the top layer; the catalog below resolves bases. */
        r = np_catalog_load_default(cat, o->profiles_dir, &quiet, &err);
        if (r != NP_OK && r != NP_EINVALID) {
            np_out_error(CMD, &err);
            fatal = 1;
        }
        for (k = 0; k < o->n_args && !fatal; k++) {
            struct stat st;
            const char *path = o->args[k];
            if (stat(path, &st) != 0) {
                fprintf(stderr, "%s: no such file or directory\n", path);
                fatal = 1;
                break;
            }
            if (S_ISDIR(st.st_mode))
                r = np_catalog_load_dir(cat, path, NP_LAYER_CHECK, &d, &err);
            else
                r = np_catalog_load_file(cat, path, NP_LAYER_CHECK, &d, &err);
            if (r == NP_ENOMEM || r == NP_ESYS) {
                np_out_error(CMD, &err);
                fatal = 1;
            }
        }
        if (!fatal && np_catalog_check(cat, NP_LAYER_CHECK, &d) == NP_ENOMEM)
            fatal = 1;
        for (i = 0; i < np_catalog_count(cat); i++)
            if (np_catalog_at(cat, i)->layer == NP_LAYER_CHECK)
                valid++;
    }
    for (i = 0; i < d.count; i++)
        if (d.items[i].severity == NP_DIAG_WARNING)
            warnings++;
    if (o->json) {
        cJSON *root = cJSON_CreateObject(), *arr;
        cJSON_AddBoolToObject(root, "valid", d.errors == 0 && !fatal);
        cJSON_AddNumberToObject(root, "profiles_loaded", (double)valid);
        cJSON_AddNumberToObject(root, "errors", (double)d.errors);
        cJSON_AddNumberToObject(root, "warnings", (double)warnings);
        arr = cJSON_AddArrayToObject(root, "diagnostics");
        for (i = 0; i < d.count; i++) {
            const np_diag *x = &d.items[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "file", x->file);
            cJSON_AddNumberToObject(e, "line", x->line);
            cJSON_AddNumberToObject(e, "col", x->col);
            cJSON_AddStringToObject(e, "path", x->path);
            cJSON_AddStringToObject(e, "severity",
                                    x->severity == NP_DIAG_ERROR ? "error"
                                                                 : "warning");
            cJSON_AddStringToObject(e, "message", x->message);
            cJSON_AddItemToArray(arr, e);
        }
        print_json(root);
    } else {
        for (i = 0; i < d.count; i++)
            print_diag(&d.items[i]);
        if (d.errors == 0 && !fatal)
            printf("%sok%s: %zu profile%s valid%s\n", np_c_good(), np_c_reset(),
                   valid, valid == 1 ? "" : "s",
                   warnings ? " (with warnings)" : "");
        else
            fprintf(stderr, "%zu error%s, %zu warning%s\n", d.errors,
                    d.errors == 1 ? "" : "s", warnings,
                    warnings == 1 ? "" : "s");
    }
    r = d.errors == 0 && !fatal ? NP_EXIT_OK : NP_EXIT_USAGE;
    np_diags_free(&d);
    np_diags_free(&quiet);
    np_catalog_free(cat);
    return r;
}

int np_cmd_profiles(int argc, char **argv)
{
    opts o;
    int r;

    if (parse_opts(argc, argv, &o) != 0) {
        free(o.args);
        return NP_EXIT_USAGE;
    }
    if (o.sub == NULL) {
        usage_main(o.help ? stdout : stderr);
        free(o.args);
        return o.help ? NP_EXIT_OK : NP_EXIT_USAGE;
    }
    if (strcmp(o.sub, "list") != 0 && strcmp(o.sub, "show") != 0 &&
        strcmp(o.sub, "search") != 0 && strcmp(o.sub, "validate") != 0) {
        np_out_errorf(CMD,
                      "'%s' is not a profiles command (list, show, "
                      "search, validate)",
                      o.sub);
        free(o.args);
        return NP_EXIT_USAGE;
    }
    if (o.help) {
        usage_sub(stdout, o.sub);
        free(o.args);
        return NP_EXIT_OK;
    }
    if (strcmp(o.sub, "list") == 0)
        r = cmd_list(&o);
    else if (strcmp(o.sub, "show") == 0)
        r = cmd_show(&o);
    else if (strcmp(o.sub, "search") == 0)
        r = cmd_search(&o);
    else
        r = cmd_validate(&o);
    free(o.args);
    return r;
}
