/* Unit tests of the profile module: validation with exact positions,
 * layers, resolve, search, the embedded catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "natpilot/profile.h"

#include "np_fixture.h"

#define DATA NP_TEST_DATA "/profiles"

/* --- one bad fixture per error kind, with its exact position ---------- */

static const struct bad_case {
    const char *file; /* relative to tests/data/profiles/bad */
    unsigned line, col;
    const char *path;
    const char *message; /* the diagnostic's message starts with this */
    size_t errors;       /* how many errors the file has in total */
} bad_cases[] = {
    {"games/syntax-missing-comma.json", 5, 3, "",
     "malformed JSON: expected ',' or '}' after an object member, found '\"'",
     1},
    {"games/syntax-trailing-comma.json", 12, 3, "",
     "malformed JSON: trailing comma before ']'", 1},
    {"games/syntax-unterminated.json", 5, 11, "",
     "malformed JSON: unterminated string (a string cannot contain a line "
     "break)",
     1},
    {"games/syntax-bad-literal.json", 9, 19, "",
     "malformed JSON: expected a JSON value", 1},
    {"games/unknown-key.json", 10, 6, "/inbound/1/proto",
     "unknown key \"proto\" (did you mean \"protocol\"?)", 2},
    {"games/unknown-top-key.json", 17, 3, "/homepage",
     "unknown key \"homepage\"", 1},
    {"games/duplicate-key.json", 6, 3, "/name", "duplicate key \"name\"", 1},
    {"games/wrong-type.json", 9, 19, "/inbound/0/essential",
     "expected true or false, found a string", 1},
    {"games/wrong-type-ports.json", 8, 34, "/inbound/0/ports",
     "expected an array of ports, found a number", 1},
    {"games/missing-key.json", 10, 5, "/inbound/1",
     "missing required key \"source\"", 1},
    {"games/schema-version.json", 2, 13, "/schema", "unsupported schema 2", 1},
    {"games/bad-protocol.json", 8, 18, "/inbound/0/protocol",
     "bad protocol \"sctp\": expected \"udp\" or \"tcp\"", 1},
    {"games/bad-role.json", 8, 50, "/inbound/0/role", "bad role \"p2p\"", 1},
    {"games/bad-confidence.json", 11, 56, "/inbound/1/confidence",
     "bad confidence \"certain\"", 1},
    {"games/bad-platform.json", 6, 25, "/platforms/1", "bad platform \"wii\"",
     1},
    {"games/port-zero.json", 8, 41, "/inbound/0/ports/1",
     "port 0 is out of range 1-65535", 1},
    {"games/port-too-big.json", 8, 35, "/inbound/0/ports/0",
     "port 70000 is out of range 1-65535", 1},
    {"games/port-not-integer.json", 8, 35, "/inbound/0/ports/0",
     "port must be an integer", 1},
    {"games/range-inverted.json", 10, 35, "/inbound/1/ports/0",
     "range 27030-27015 is inverted", 1},
    {"games/range-malformed.json", 10, 35, "/inbound/1/ports/0",
     "malformed port range \"27015:27030\"", 1},
    {"games/range-out-of-range.json", 10, 35, "/inbound/1/ports/0",
     "range 27015-70000: port 70000 is out of range 1-65535", 1},
    {"games/too-broad.json", 10, 34, "/inbound/1/ports",
     "rule covers 64512 ports (more than 1024) without \"broad\": true", 1},
    {"games/broad-no-note.json", 10, 5, "/inbound/1",
     "a broad rule needs a \"note\"", 1},
    {"games/duplicate-ports.json", 10, 35, "/inbound/1/ports/0",
     "udp 3074 duplicates /inbound/0/ports/0", 1},
    {"games/overlapping-ports.json", 10, 35, "/inbound/1/ports/0",
     "udp 3070-3080 overlaps /inbound/0/ports/0 (3074)", 1},
    {"games/source-unknown.json", 11, 36, "/inbound/1/source",
     "source \"s2\" is not the id of an entry in /sources", 1},
    {"games/source-http.json", 14, 25, "/sources/0/url",
     "source URL must be an https:// address", 1},
    {"games/source-duplicate-id.json", 15, 12, "/sources/1/id",
     "duplicate source id \"s1\"", 1},
    {"games/sources-empty.json", 13, 14, "/sources",
     "must list at least one source", 3},
    {"games/id-mismatch.json", 3, 9, "/id",
     "id \"another-game\" does not match the file name (expected "
     "\"id-mismatch\")",
     1},
    {"games/id-invalid.json", 3, 9, "/id",
     "id \"Id_Invalid\" must be 2-48 characters", 1},
    {"games/rule-platforms.json", 9, 39, "/inbound/0/platforms/0",
     "platform \"switch\" is not one of the profile's platforms", 1},
    {"games/bad-date.json", 16, 14, "/checked", "bad date \"2026-02-30\"", 1},
    {"games/empty-ports.json", 8, 34, "/inbound/0/ports",
     "must list at least one port", 1},
    {"games/facts-in-game.json", 16, 3, "/facts",
     "facts belong in platform profiles", 1},
    {"games/not-object.json", 1, 1, "", "expected an object, found an array",
     1},
    {"games/deep-nesting.json", 1, 55, "",
     "malformed JSON: nesting deeper than 32 levels", 1},
    {"platforms/kind-mismatch.json", 4, 11, "/kind",
     "kind \"game\" does not match the directory", 1},
    {"games/official-wrong-domain.json", 12, 85, "/sources/0/official",
     "\"official\": true but \"https://www.clrn.org/ports\" is not on a "
     "domain profiles/official-domains.json allows",
     1},
    /* help.steampowered.com and github.com/pocketpairjp pass; a host that
     * only ends in the letters of an allowed domain does not. */
    {"games/official-lookalike-domain.json", 11, 92, "/sources/2/official",
     "\"official\": true but \"https://evilsteampowered.com/ports\"", 1},
    {"games/range-too-wide.json", 10, 42, "/inbound/1/ports/1",
     "range 35000-35099 covers 100 ports (more than 32): record the maker's "
     "own range and quote it in \"justification\"",
     1},
    {"games/deprecated-port.json", 10, 35, "/inbound/1/ports/0",
     "tcp 28080-28085 uses deprecated port 28082 (/deprecated/1: the old "
     "Rust+ default)",
     1},
};

static const np_diag *find_diag(const np_diags *d, const struct bad_case *c)
{
    size_t i;

    for (i = 0; i < d->count; i++) {
        const np_diag *x = &d->items[i];
        if (x->line == c->line && x->col == c->col &&
            strcmp(x->path, c->path) == 0 &&
            strncmp(x->message, c->message, strlen(c->message)) == 0)
            return x;
    }
    return NULL;
}

static void test_bad_fixtures(void **state)
{
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        size_t len;
        char *text;
        np_diags d;
        np_error err;
        np_catalog *cat = np_catalog_new();
        const np_diag *hit;
        int r;

        assert_non_null(cat);
        text = np_fixture("profiles/bad", c->file, &len);
        np_diags_init(&d);
        r = np_catalog_load_buffer(cat, c->file, text, len, NP_LAYER_CUSTOM, &d,
                                   &err);
        hit = find_diag(&d, c);
        if (hit == NULL || d.errors != c->errors || r != NP_EINVALID) {
            char buf[1024];
            print_error("case %s: r=%d errors=%zu (want %zu); got:\n", c->file,
                        r, d.errors, c->errors);
            for (k = 0; k < d.count; k++)
                print_error("  %s\n",
                            np_diag_format(&d.items[k], buf, sizeof(buf)));
        }
        assert_int_equal(r, NP_EINVALID);
        assert_non_null(hit);
        assert_string_equal(hit->file, c->file);
        assert_int_equal(hit->severity, NP_DIAG_ERROR);
        assert_int_equal(d.errors, c->errors);
        /* A file with errors never enters the catalog. */
        assert_int_equal(np_catalog_count(cat), 0);
        np_diags_free(&d);
        np_catalog_free(cat);
        free(text);
    }
}

static void test_diag_format(void **state)
{
    np_diags d;
    np_catalog *cat = np_catalog_new();
    char buf[512];
    size_t len;
    char *text;

    (void)state;
    text = np_fixture("profiles/bad", "games/range-inverted.json", &len);
    np_diags_init(&d);
    assert_int_equal(np_catalog_load_buffer(cat, "games/range-inverted.json",
                                            text, len, NP_LAYER_CUSTOM, &d,
                                            NULL),
                     NP_EINVALID);
    assert_int_equal(d.count, 1);
    assert_string_equal(np_diag_format(&d.items[0], buf, sizeof(buf)),
                        "games/range-inverted.json:10:35: /inbound/1/ports/0: "
                        "range 27030-27015 is inverted");
    np_diags_free(&d);
    np_catalog_free(cat);
    free(text);
}

/* Loading from disk names the file by the path given. */
static void test_load_file_names_path(void **state)
{
    np_diags d;
    np_catalog *cat = np_catalog_new();
    char path[512];

    (void)state;
    snprintf(path, sizeof(path), "%s/bad/games/port-zero.json", DATA);
    np_diags_init(&d);
    assert_int_equal(np_catalog_load_file(cat, path, NP_LAYER_CUSTOM, &d, NULL),
                     NP_EINVALID);
    assert_int_equal(d.errors, 1);
    assert_string_equal(d.items[0].file, path);
    assert_int_equal(d.items[0].line, 8);
    assert_int_equal(d.items[0].col, 41);
    np_diags_free(&d);
    /* A missing file is a diagnostic, not a crash. */
    assert_int_equal(np_catalog_load_file(cat, "/nonexistent/x.json",
                                          NP_LAYER_CUSTOM, &d, NULL),
                     NP_EINVALID);
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.items[0].message, "cannot read"));
    np_diags_free(&d);
    np_catalog_free(cat);
}

static const struct buf_case {
    const char *text;
    unsigned line, col;
    const char *message;
} buf_cases[] = {
    {"", 1, 1,
     "malformed JSON: expected a JSON value, found the end of the input"},
    {"   \n  ", 2, 3,
     "malformed JSON: expected a JSON value, found the end of the input"},
    {"{\"schema\": 1", 1, 13,
     "malformed JSON: expected ',' or '}' after an object member, found the "
     "end of the input"},
    {"{} {}", 1, 4, "malformed JSON: unexpected content after the JSON value"},
    {"{\"a\": 01}", 1, 7, "malformed JSON: invalid number: leading zero"},
    {"{\"a\": \"\\x\"}", 1, 8, "malformed JSON: invalid escape"},
    {"{\"a\": \"\\u00zz\"}", 1, 8, "malformed JSON: invalid \\u escape"},
    {"{\"a\": \"\\u0000\"}", 1, 8, "malformed JSON: \\u0000 is not allowed"},
    {"{a: 1}", 1, 2, "malformed JSON: expected a string key or '}', found 'a'"},
    {"{\"a\" 1}", 1, 6,
     "malformed JSON: expected ':' after the key, found '1'"},
    {"\xef\xbb\xbf{}", 1, 1, "malformed JSON: byte order mark"},
    {"{\"a\": [1,]}", 1, 10, "malformed JSON: trailing comma before ']'"},
    {"{\"a\": -}", 1, 7, "malformed JSON: invalid number: expected a digit"},
    {"{\"a\": 1.}", 1, 7,
     "malformed JSON: invalid number: expected a digit after '.'"},
    {"{\"a\": nul}", 1, 7, "malformed JSON: expected a JSON value"},
    {"{\"a\": \"x\ty\"}", 1, 9, "malformed JSON: control character in string"},
};

static void test_malformed_buffers(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(buf_cases) / sizeof(buf_cases[0]); i++) {
        const struct buf_case *c = &buf_cases[i];
        np_diags d;
        np_diags_init(&d);
        assert_int_equal(np_catalog_load_buffer(NULL, "games/x.json", c->text,
                                                strlen(c->text),
                                                NP_LAYER_CUSTOM, &d, NULL),
                         NP_EINVALID);
        if (d.count != 1 || d.items[0].line != c->line ||
            d.items[0].col != c->col ||
            strncmp(d.items[0].message, c->message, strlen(c->message)) != 0)
            print_error("case %zu: got %u:%u %s\n", i,
                        d.count ? d.items[0].line : 0,
                        d.count ? d.items[0].col : 0,
                        d.count ? d.items[0].message : "(none)");
        assert_int_equal(d.count, 1);
        assert_int_equal(d.items[0].line, c->line);
        assert_int_equal(d.items[0].col, c->col);
        assert_int_equal(
            strncmp(d.items[0].message, c->message, strlen(c->message)), 0);
        assert_string_equal(d.items[0].path, "");
        np_diags_free(&d);
    }
}

static void test_size_and_error_bounds(void **state)
{
    size_t n = NP_PROFILE_MAX_BYTES + 1, i, len;
    char *big = malloc(n);
    char *text;
    np_diags d;

    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    np_diags_init(&d);
    assert_int_equal(np_catalog_load_buffer(NULL, "games/big.json", big, n,
                                            NP_LAYER_CUSTOM, &d, NULL),
                     NP_EINVALID);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "the limit is"));
    np_diags_free(&d);
    free(big);

    /* 200 bad ports: at most NP_PROFILE_MAX_DIAGS reported, then one note. */
    text = malloc(8192);
    assert_non_null(text);
    len = (size_t)snprintf(text, 8192, "{\"inbound\": [{\"ports\": [");
    for (i = 0; i < 200; i++)
        len += (size_t)snprintf(text + len, 8192 - len, "%s0", i ? "," : "");
    len += (size_t)snprintf(text + len, 8192 - len, "]}]}");
    np_diags_init(&d);
    assert_int_equal(np_catalog_load_buffer(NULL, "games/many.json", text, len,
                                            NP_LAYER_CUSTOM, &d, NULL),
                     NP_EINVALID);
    assert_int_equal(d.count, NP_PROFILE_MAX_DIAGS + 1);
    assert_non_null(strstr(d.items[d.count - 1].message, "too many problems"));
    np_diags_free(&d);
    free(text);
}

/* --- the good catalog, layers ------------------------------------------- */

static np_catalog *load_good(void)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;

    assert_non_null(cat);
    np_diags_init(&d);
    assert_int_equal(
        np_catalog_load_dir(cat, DATA "/good", NP_LAYER_USER, &d, NULL), NP_OK);
    assert_int_equal(np_catalog_check(cat, NP_LAYER_EMBEDDED, &d), NP_OK);
    if (d.count > 0) {
        char buf[1024];
        print_error("unexpected: %s\n",
                    np_diag_format(&d.items[0], buf, sizeof(buf)));
    }
    assert_int_equal(d.count, 0); /* no errors, no warnings */
    np_diags_free(&d);
    return cat;
}

static void test_good_catalog(void **state)
{
    np_catalog *cat = load_good();
    const np_profile *p;

    (void)state;
    assert_int_equal(np_catalog_count(cat), 5);
    /* In id order. */
    assert_string_equal(np_catalog_at(cat, 0)->id, "call-of-duty-mw3");
    assert_string_equal(np_catalog_at(cat, 4)->id, "xbox-network");
    assert_null(np_catalog_at(cat, 5));
    p = np_catalog_find(cat, "xbox-network");
    assert_non_null(p);
    assert_int_equal(p->kind, NP_KIND_PLATFORM);
    assert_int_equal(p->platforms, NP_PLAT_XBOX | NP_PLAT_PC);
    assert_int_equal(p->n_inbound, 3);
    assert_int_equal(p->inbound[1].n_ports, 4);
    assert_int_equal(p->inbound[1].ports[3].lo, 4500);
    assert_int_equal(p->self_maps_with_upnp, 1);
    assert_int_equal(p->n_alt_ports, 1);
    assert_int_equal(p->layer, NP_LAYER_USER);
    assert_string_equal(p->sources[0].id, "xbox-ports");
    assert_true(p->sources[0].official);
    p = np_catalog_find(cat, "playstation-network");
    assert_int_equal(p->inbound[1].ports[0].lo, 3478);
    assert_int_equal(p->inbound[1].ports[0].hi, 3480);
    assert_int_equal(np_rule_port_count(&p->inbound[1]), 3);
    assert_int_equal(p->self_maps_with_upnp, -1);
    assert_null(np_catalog_find(cat, "no-such"));
    np_catalog_free(cat);
}

static void test_layers(void **state)
{
    np_catalog *cat = load_good();
    np_diags d;
    const np_profile *p;

    (void)state;
    np_diags_init(&d);
    /* A higher layer replaces the same id. */
    assert_int_equal(
        np_catalog_load_dir(cat, DATA "/override", NP_LAYER_CUSTOM, &d, NULL),
        NP_OK);
    assert_int_equal(np_catalog_count(cat), 5);
    p = np_catalog_find(cat, "minecraft-java");
    assert_string_equal(p->name, "Minecraft: Java Edition (my server)");
    assert_int_equal(p->layer, NP_LAYER_CUSTOM);
    assert_int_equal(p->inbound[0].ports[0].lo, 25570);
    /* A lower layer loaded later does not replace it. */
    assert_int_equal(
        np_catalog_load_dir(cat, DATA "/good", NP_LAYER_EMBEDDED, &d, NULL),
        NP_OK);
    p = np_catalog_find(cat, "minecraft-java");
    assert_int_equal(p->layer, NP_LAYER_CUSTOM);
    assert_int_equal(np_catalog_find(cat, "xbox-network")->layer,
                     NP_LAYER_USER);
    assert_int_equal(d.count, 0);
    /* The same id twice in one layer is an error naming both files. */
    assert_int_equal(
        np_catalog_load_dir(cat, DATA "/override", NP_LAYER_CUSTOM, &d, NULL),
        NP_EINVALID);
    assert_int_equal(d.errors, 1);
    assert_string_equal(d.items[0].path, "/id");
    assert_int_equal(d.items[0].line, 3);
    assert_int_equal(d.items[0].col, 9);
    assert_non_null(strstr(d.items[0].message, "duplicate id"));
    np_diags_free(&d);
    /* A missing directory. */
    assert_int_equal(
        np_catalog_load_dir(cat, DATA "/nope", NP_LAYER_CUSTOM, &d, NULL),
        NP_ENOTFOUND);
    np_catalog_free(cat);
}

static void test_user_dir(void **state)
{
    char buf[256];

    (void)state;
    setenv("XDG_DATA_HOME", "/srv/data", 1);
    assert_int_equal(np_catalog_user_dir(buf, sizeof(buf)), NP_OK);
    assert_string_equal(buf, "/srv/data/natpilot/profiles");
    setenv("XDG_DATA_HOME", "relative", 1); /* ignored, per XDG */
    setenv("HOME", "/home/p", 1);
    assert_int_equal(np_catalog_user_dir(buf, sizeof(buf)), NP_OK);
    assert_string_equal(buf, "/home/p/.local/share/natpilot/profiles");
    assert_int_equal(np_catalog_user_dir(buf, 8), NP_EBUFSIZE);
    unsetenv("XDG_DATA_HOME");
}

/* --- resolve ------------------------------------------------------------ */

struct want_rule {
    int protocol;
    uint16_t lo, hi; /* the first range */
    size_t n_ports;
    const char *from;
    bool essential;
};

static void check_rules(const np_rule *got, size_t n,
                        const struct want_rule *want, size_t nw)
{
    size_t i;

    assert_int_equal(n, nw);
    for (i = 0; i < n; i++) {
        assert_int_equal(got[i].protocol, want[i].protocol);
        assert_int_equal(got[i].ports[0].lo, want[i].lo);
        assert_int_equal(got[i].ports[0].hi, want[i].hi);
        assert_int_equal(got[i].n_ports, want[i].n_ports);
        assert_string_equal(got[i].profile_id, want[i].from);
        assert_int_equal(got[i].essential, want[i].essential);
        assert_non_null(got[i].source);
        assert_int_equal(strncmp(got[i].source->url, "https://", 8), 0);
    }
}

static void test_resolve_xbox(void **state)
{
    np_catalog *cat = load_good();
    const char *ids[] = {"call-of-duty-mw3", "minecraft-bedrock"};
    np_resolved *res = NULL;
    np_error err;
    static const struct want_rule in[] = {
        {NP_PROTO_UDP, 3074, 3074, 1, "xbox-network", true},
        {NP_PROTO_UDP, 88, 88, 4, "xbox-network", false},
        {NP_PROTO_TCP, 3074, 3074, 1, "xbox-network", false},
        /* cod's own UDP 3074 (xbox, pc) is dropped: xbox-network has it. */
        {NP_PROTO_UDP, 3075, 3079, 1, "call-of-duty-mw3", false},
        {NP_PROTO_UDP, 19132, 19132, 2, "minecraft-bedrock", true},
    };
    static const struct want_rule outr[] = {
        {NP_PROTO_TCP, 80, 80, 2, "xbox-network", true},
    };

    (void)state;
    assert_int_equal(np_resolve(cat, ids, 2, NP_PLAT_XBOX, &res, &err), NP_OK);
    /* xbox-network once, bases first; playstation-network does not apply. */
    assert_int_equal(res->n_profiles, 3);
    assert_string_equal(res->profiles[0]->id, "xbox-network");
    assert_string_equal(res->profiles[1]->id, "call-of-duty-mw3");
    assert_string_equal(res->profiles[2]->id, "minecraft-bedrock");
    check_rules(res->inbound, res->n_inbound, in, 5);
    check_rules(res->outbound, res->n_outbound, outr, 1);
    assert_string_equal(res->inbound[0].source->title,
                        "Network ports used by Xbox network");
    assert_string_equal(res->inbound[0].feature, "multiplayer and party chat");
    assert_int_equal(res->inbound[0].role, NP_ROLE_PEER_TO_PEER);
    assert_int_equal(res->inbound[0].confidence, NP_CONF_HIGH);
    assert_int_equal(res->inbound[3].confidence, NP_CONF_MEDIUM);
    assert_false(res->inbound[0].broad);
    assert_int_equal(res->n_alt_ports, 1);
    assert_int_equal(res->alt_ports[0].port, 3074);
    assert_int_equal(res->alt_ports[0].protocol, NP_PROTO_UDP);
    assert_true(res->self_maps_with_upnp);
    assert_int_equal(res->platform, NP_PLAT_XBOX);
    np_resolved_free(res);
    np_catalog_free(cat);
}

static void test_resolve_playstation_and_pc(void **state)
{
    np_catalog *cat = load_good();
    const char *ids[] = {"call-of-duty-mw3"};
    np_resolved *res = NULL;
    static const struct want_rule ps[] = {
        {NP_PROTO_UDP, 3478, 3479, 1, "playstation-network", true},
        {NP_PROTO_TCP, 3478, 3480, 1, "playstation-network", false},
        {NP_PROTO_UDP, 3075, 3079, 1, "call-of-duty-mw3", false},
    };
    static const struct want_rule pc[] = {
        {NP_PROTO_UDP, 3074, 3074, 1, "call-of-duty-mw3", true},
        {NP_PROTO_UDP, 3075, 3079, 1, "call-of-duty-mw3", false},
    };

    (void)state;
    assert_int_equal(np_resolve(cat, ids, 1, NP_PLAT_PLAYSTATION, &res, NULL),
                     NP_OK);
    assert_int_equal(res->n_profiles, 2);
    assert_string_equal(res->profiles[0]->id, "playstation-network");
    check_rules(res->inbound, res->n_inbound, ps, 3);
    assert_int_equal(res->n_outbound, 0);
    assert_false(res->self_maps_with_upnp);
    assert_int_equal(res->n_alt_ports, 0);
    np_resolved_free(res);

    /* On pc, xbox-network applies (it lists pc) but its rules are xbox-only
     * except the outbound one. */
    assert_int_equal(np_resolve(cat, ids, 1, NP_PLAT_PC, &res, NULL), NP_OK);
    check_rules(res->inbound, res->n_inbound, pc, 2);
    assert_int_equal(res->n_outbound, 1);
    np_resolved_free(res);

    /* No platform filter: every base, every rule; cod's UDP 3074 is kept
     * because xbox-network's covers only xbox, not pc. */
    assert_int_equal(np_resolve(cat, ids, 1, 0, &res, NULL), NP_OK);
    assert_int_equal(res->n_profiles, 3);
    assert_int_equal(res->n_inbound, 7);
    np_resolved_free(res);
    np_catalog_free(cat);
}

static void test_resolve_errors(void **state)
{
    np_catalog *cat = load_good();
    const char *java[] = {"minecraft-java"};
    const char *none[] = {"no-such-game"};
    np_resolved *res = NULL;
    np_error err;

    (void)state;
    assert_int_equal(np_resolve(cat, java, 1, NP_PLAT_XBOX, &res, &err),
                     NP_EUNSUPP);
    assert_null(res);
    assert_non_null(strstr(err.msg, "does not list platform xbox"));
    assert_int_equal(np_resolve(cat, none, 1, NP_PLAT_XBOX, &res, &err),
                     NP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-such-game"));
    assert_int_equal(
        np_resolve(cat, java, 1, NP_PLAT_XBOX | NP_PLAT_PC, &res, &err),
        NP_EINVAL);
    assert_int_equal(np_resolve(cat, java, 1, NP_PLAT_PC, NULL, &err),
                     NP_EINVAL);
    np_catalog_free(cat);
}

static void test_cyclic_and_unknown_bases(void **state)
{
    np_catalog *cat = np_catalog_new();
    const char *a[] = {"cyc-a"};
    const char *u[] = {"unknown-base"};
    np_resolved *res = NULL;
    np_diags d;
    np_error err;
    size_t i, cyc = 0, unk = 0;

    (void)state;
    np_diags_init(&d);
    assert_int_equal(
        np_catalog_load_dir(cat, DATA "/bad/cycle", NP_LAYER_CUSTOM, &d, NULL),
        NP_OK); /* each file alone is valid */
    assert_int_equal(d.errors, 0);
    assert_int_equal(np_catalog_check(cat, NP_LAYER_EMBEDDED, &d), NP_EINVALID);
    for (i = 0; i < d.count; i++) {
        const np_diag *x = &d.items[i];
        if (x->severity != NP_DIAG_ERROR)
            continue;
        assert_string_equal(x->path, "/base/0");
        assert_int_equal(x->line, 7);
        assert_int_equal(x->col, 12);
        if (strstr(x->message, "cyclic base: cyc-a -> cyc-b -> cyc-c -> "
                               "cyc-a") != NULL) {
            assert_non_null(strstr(x->file, "cyc-c.json"));
            cyc++;
        }
        if (strstr(x->message, "unknown base profile \"no-such-platform\"")) {
            assert_non_null(strstr(x->file, "unknown-base.json"));
            unk++;
        }
    }
    assert_int_equal(d.errors, 2);
    assert_int_equal(cyc, 1);
    assert_int_equal(unk, 1);
    /* Resolve refuses to loop. */
    assert_int_equal(np_resolve(cat, a, 1, NP_PLAT_PC, &res, &err),
                     NP_EINVALID);
    assert_non_null(strstr(err.msg, "cyclic"));
    assert_int_equal(np_resolve(cat, u, 1, NP_PLAT_PC, &res, &err),
                     NP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-such-platform"));
    np_diags_free(&d);
    np_catalog_free(cat);
}

/* --- search ------------------------------------------------------------- */

static const struct search_case {
    const char *query[3];
    unsigned platforms;
    const char *expect[3]; /* the first hits, in order; NULL ends */
    size_t n_hits;         /* exact number of hits */
} search_cases[] = {
    {{"minecraft", "bedrok"}, 0, {"minecraft-bedrock", "minecraft-java"}, 2},
    {{"Minecraft", "Bedrock"}, 0, {"minecraft-bedrock", "minecraft-java"}, 2},
    {{"minecraft"}, 0, {"minecraft-bedrock", "minecraft-java"}, 2},
    {{"minecraft"}, NP_PLAT_SWITCH, {"minecraft-bedrock"}, 1},
    {{"cod"}, 0, {"call-of-duty-mw3"}, 1},
    {{"call", "of", "duty"}, 0, {"call-of-duty-mw3"}, 1},
    {{"modern", "warfar"}, 0, {"call-of-duty-mw3"}, 1},
    {{"xbox", "lvie"}, 0, {"xbox-network"}, 1},
    {{"psn"}, 0, {"playstation-network"}, 1},
    {{"playstaton"}, 0, {"playstation-network"}, 1},
    {{"mine"}, 0, {"minecraft-bedrock", "minecraft-java"}, 2},
    {{"zzzzqq"}, 0, {NULL}, 0},
    {{"god"}, 0, {NULL}, 0}, /* 3 letters: no typo allowed */
};

static void test_search(void **state)
{
    np_catalog *cat = load_good();
    np_search_hit hits[10];
    size_t i, j, n, nw;

    (void)state;
    for (i = 0; i < sizeof(search_cases) / sizeof(search_cases[0]); i++) {
        const struct search_case *c = &search_cases[i];
        for (nw = 0; nw < 3 && c->query[nw] != NULL; nw++)
            ;
        assert_int_equal(
            np_catalog_search(cat, c->query, nw, c->platforms, hits, 10, &n),
            NP_OK);
        if (n != c->n_hits)
            print_error("query %zu '%s': %zu hits\n", i, c->query[0], n);
        assert_int_equal(n, c->n_hits);
        for (j = 0; j < 3 && c->expect[j] != NULL; j++)
            assert_string_equal(hits[j].profile->id, c->expect[j]);
    }
    /* Ranked: both words beat one word. */
    {
        const char *q[] = {"minecraft", "bedrok"};
        assert_int_equal(np_catalog_search(cat, q, 2, 0, hits, 10, &n), NP_OK);
        assert_int_equal(hits[0].words_matched, 2);
        assert_int_equal(hits[1].words_matched, 1);
        assert_true(hits[0].score > hits[1].score);
        /* max bounds the output. */
        assert_int_equal(np_catalog_search(cat, q, 2, 0, hits, 1, &n), NP_OK);
        assert_int_equal(n, 1);
    }
    np_catalog_free(cat);
}

/* --- the catalog-protecting checks (issue 12) ------------------------- */

static const char wide_ok[] =
    "{\"schema\": 1, \"id\": \"wide\", \"kind\": \"game\", \"name\": "
    "\"Wide\", \"platforms\": [\"pc\"], \"inbound\": [{\"protocol\": "
    "\"udp\", \"ports\": [\"35000-35099\"], \"role\": \"peer-to-peer\", "
    "\"essential\": false, \"source\": \"s\", \"confidence\": \"low\", "
    "\"justification\": \"the maker lists 35000 - 35099\"}], \"deprecated\": "
    "[{\"protocol\": \"tcp\", \"ports\": [35050], \"reason\": \"TCP "
    "only\"}], \"sources\": [{\"id\": \"s\", \"url\": "
    "\"https://www.bungie.net/x\", \"title\": \"t\", \"official\": true}], "
    "\"checked\": \"2026-12-02\"}";

/* A justified wide range loads, keeps its justification, and a deprecated
 * port of the other protocol does not hit it. */
static void test_justification_and_deprecated(void **state)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;
    const np_profile *p;

    (void)state;
    np_diags_init(&d);
    assert_int_equal(np_catalog_load_buffer(cat, "games/wide.json", wide_ok,
                                            sizeof(wide_ok) - 1,
                                            NP_LAYER_CUSTOM, &d, NULL),
                     NP_OK);
    assert_int_equal(d.errors, 0);
    p = np_catalog_find(cat, "wide");
    assert_non_null(p);
    assert_int_equal(p->n_inbound, 1);
    assert_string_equal(p->inbound[0].justification,
                        "the maker lists 35000 - 35099");
    assert_int_equal(p->n_deprecated, 1);
    assert_int_equal(p->deprecated[0].protocol, NP_PROTO_TCP);
    assert_int_equal(p->deprecated[0].range.lo, 35050);
    assert_string_equal(p->deprecated[0].reason, "TCP only");
    assert_null(p->deprecated[0].source);
    np_diags_free(&d);
    np_catalog_free(cat);
}

static char *game_json(const char *id, const char *name)
{
    char *b = malloc(512);

    assert_non_null(b);
    snprintf(b, 512,
             "{\"schema\": 1, \"id\": \"%s\", \"kind\": \"game\", "
             "\"name\": \"%s\", \"platforms\": [\"pc\"], \"inbound\": [], "
             "\"sources\": [{\"id\": \"s\", \"url\": "
             "\"https://example.com/\", \"title\": \"t\"}], "
             "\"checked\": \"2026-12-02\"}",
             id, name);
    return b;
}

/* Two games of different ids whose names differ only in case and
 * punctuation are one game: np_catalog_check reports the second. */
static void test_duplicate_names(void **state)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;
    char *a = game_json("rust", "Rust"), *b = game_json("rust-2", "RUST!"),
         *c = game_json("rusty", "Rusty");
    size_t i, hits = 0;

    (void)state;
    np_diags_init(&d);
    assert_int_equal(np_catalog_load_buffer(cat, "games/rust.json", a,
                                            strlen(a), NP_LAYER_CUSTOM, &d,
                                            NULL),
                     NP_OK);
    assert_int_equal(np_catalog_load_buffer(cat, "games/rust-2.json", b,
                                            strlen(b), NP_LAYER_CUSTOM, &d,
                                            NULL),
                     NP_OK);
    assert_int_equal(np_catalog_load_buffer(cat, "games/rusty.json", c,
                                            strlen(c), NP_LAYER_CUSTOM, &d,
                                            NULL),
                     NP_OK);
    assert_int_equal(np_catalog_check(cat, NP_LAYER_CUSTOM, &d), NP_EINVALID);
    for (i = 0; i < d.count; i++) {
        if (strstr(d.items[i].message, "duplicate game") != NULL) {
            hits++;
            assert_string_equal(d.items[i].file, "games/rust-2.json");
            assert_string_equal(d.items[i].path, "/name");
            assert_non_null(strstr(d.items[i].message, "\"rust\""));
        }
    }
    assert_int_equal(hits, 1);
    assert_int_equal(d.errors, 1);
    /* Below min_layer nothing is reported. */
    np_diags_free(&d);
    assert_int_equal(np_catalog_check(cat, NP_LAYER_CHECK, &d), NP_OK);
    free(a);
    free(b);
    free(c);
    np_diags_free(&d);
    np_catalog_free(cat);
}

/* What players type finds the game first in the embedded catalog: a query
 * equal to a whole alias ranks above fuzzy and one-word matches. */
static void test_search_aliases(void **state)
{
    static const struct {
        const char *q[3];
        const char *first;
    } cases[] = {
        {{"bo6"}, "call-of-duty-black-ops-6"},
        {{"mw3"}, "call-of-duty-modern-warfare-iii"},
        {{"gta", "5"}, "gta-online"},
        {{"GTA5"}, "gta-online"},
        {{"r6"}, "rainbow-six-siege"},
        {{"pz"}, "project-zomboid"},
        {{"7dtd"}, "7-days-to-die"},
        {{"ffxiv"}, "final-fantasy-xiv"},
        {{"rust+"}, "rust"},
    };
    np_catalog *cat = np_catalog_new();
    np_search_hit hits[8];
    size_t i, n, nw, k;
    int cod = 0;

    (void)state;
    assert_int_equal(np_catalog_load_embedded(cat, NULL, NULL), NP_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (nw = 0; nw < 3 && cases[i].q[nw] != NULL; nw++)
            ;
        assert_int_equal(np_catalog_search(cat, cases[i].q, nw, 0, hits, 8, &n),
                         NP_OK);
        assert_true(n >= 1);
        if (strcmp(hits[0].profile->id, cases[i].first) != 0)
            print_error("query '%s': first hit %s\n", cases[i].q[0],
                        hits[0].profile->id);
        assert_string_equal(hits[0].profile->id, cases[i].first);
        assert_int_equal(hits[0].words_matched, nw);
        /* the alias match is worth more than any fuzzy hit behind it */
        if (n > 1 && strcmp(cases[i].first, "rust") != 0)
            assert_true(hits[0].score > hits[1].score);
    }
    /* "cod" is an alias of every Call of Duty: they all come first. */
    {
        const char *q[] = {"cod"};
        assert_int_equal(np_catalog_search(cat, q, 1, 0, hits, 8, &n), NP_OK);
        for (k = 0; k < n && k < 4; k++)
            cod += strncmp(hits[k].profile->id, "call-of-duty-", 13) == 0;
        assert_int_equal(cod, 4);
    }
    /* "mc" finds both Minecraft editions first. */
    {
        const char *q[] = {"mc"};
        assert_int_equal(np_catalog_search(cat, q, 1, 0, hits, 8, &n), NP_OK);
        assert_true(n >= 2);
        assert_int_equal(strncmp(hits[0].profile->id, "minecraft-", 10), 0);
        assert_int_equal(strncmp(hits[1].profile->id, "minecraft-", 10), 0);
    }
    np_catalog_free(cat);
}

/* The embedded catalog is the one issue 12 asks for: at least 150 games,
 * official sources only on allowed domains (the loader checks), and no
 * profile under profiles/ cites the documentation domain as official. */
static int on_example_domain(const char *url)
{
    static const char *const doms[] = {"example.com", "example.net",
                                       "example.org"};
    const char *host = strstr(url, "://");
    size_t i, hl, dl;

    host = host ? host + 3 : url;
    hl = strcspn(host, "/:?#");
    for (i = 0; i < 3; i++) {
        dl = strlen(doms[i]);
        if (hl >= dl && strncmp(host + hl - dl, doms[i], dl) == 0 &&
            (hl == dl || host[hl - dl - 1] == '.'))
            return 1;
    }
    return 0;
}

static void test_embedded_catalog_size(void **state)
{
    np_catalog *cat = np_catalog_new();
    size_t i, j, games = 0;

    (void)state;
    assert_int_equal(np_catalog_load_embedded(cat, NULL, NULL), NP_OK);
    for (i = 0; i < np_catalog_count(cat); i++) {
        const np_profile *p = np_catalog_at(cat, i);
        games += p->kind == NP_KIND_GAME;
        assert_non_null(p->checked);
        for (j = 0; j < p->n_sources; j++)
            assert_false(on_example_domain(p->sources[j].url));
    }
    assert_true(games >= 150);
    np_catalog_free(cat);
}

/* --- the embedded catalog ---------------------------------------------- */

static void test_embedded(void **state)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;
    size_t i;

    (void)state;
    np_diags_init(&d);
    assert_int_equal(np_catalog_load_embedded(cat, &d, NULL), NP_OK);
    assert_int_equal(np_catalog_check(cat, NP_LAYER_EMBEDDED, &d), NP_OK);
    for (i = 0; i < d.count; i++) {
        char buf[1024];
        if (d.items[i].severity == NP_DIAG_ERROR)
            print_error("%s\n", np_diag_format(&d.items[i], buf, sizeof(buf)));
    }
    assert_int_equal(d.errors, 0);
    /* Every compiled-in file loaded (the catalog may be empty). */
    assert_int_equal(np_catalog_count(cat), np_catalog_embedded_count());
    for (i = 0; i < np_catalog_count(cat); i++)
        assert_int_equal(np_catalog_at(cat, i)->layer, NP_LAYER_EMBEDDED);
    np_diags_free(&d);
    np_catalog_free(cat);
}

static void test_names(void **state)
{
    unsigned p = 0;

    (void)state;
    assert_int_equal(np_platform_parse("switch", &p), NP_OK);
    assert_int_equal(p, NP_PLAT_SWITCH);
    assert_int_equal(np_platform_parse("wii", &p), NP_EINVAL);
    assert_string_equal(np_platform_name(NP_PLAT_PLAYSTATION), "playstation");
    assert_null(np_platform_name(NP_PLAT_XBOX | NP_PLAT_PC));
    assert_string_equal(np_role_name(NP_ROLE_GAME_SERVER), "game-server");
    assert_string_equal(np_confidence_name(NP_CONF_LOW), "low");
    assert_string_equal(np_proto_name(NP_PROTO_TCP), "tcp");
    assert_string_equal(np_layer_name(NP_LAYER_USER), "user");
    assert_string_equal(np_role_name(99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_diag_format),
        cmocka_unit_test(test_load_file_names_path),
        cmocka_unit_test(test_malformed_buffers),
        cmocka_unit_test(test_size_and_error_bounds),
        cmocka_unit_test(test_good_catalog),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_user_dir),
        cmocka_unit_test(test_resolve_xbox),
        cmocka_unit_test(test_resolve_playstation_and_pc),
        cmocka_unit_test(test_resolve_errors),
        cmocka_unit_test(test_cyclic_and_unknown_bases),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_embedded),
        cmocka_unit_test(test_justification_and_deprecated),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_search_aliases),
        cmocka_unit_test(test_embedded_catalog_size),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
