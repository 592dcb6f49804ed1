/* Unit tests of the daemon's configuration (config.c); the keeper's pure
 * helpers are in test_keeper.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "natpilot/config.h"

#define PROFILES NP_TEST_DATA "/../lab/data/daemon/profiles"

static np_catalog *catalog(void)
{
    np_catalog *cat = np_catalog_new();
    np_diags d;

    assert_non_null(cat);
    np_diags_init(&d);
    assert_int_equal(
        np_catalog_load_dir(cat, PROFILES, NP_LAYER_CUSTOM, &d, NULL), NP_OK);
    np_diags_free(&d);
    return cat;
}

static void test_good(void **state)
{
    static const char text[] =
        "{\n"
        "  \"lease\": 3600,\n"
        "  \"protocols\": [\"upnp\", \"pcp\"],\n"
        "  \"log_level\": \"debug\",\n"
        "  \"state_file\": \"/var/lib/natpilot/state.json\",\n"
        "  \"status_socket\": \"/run/natpilot/status.sock\",\n"
        "  \"verify_interval\": 60,\n"
        "  \"ssdp_listen\": false,\n"
        "  \"devices\": [\n"
        "    {\"name\": \"xbox\", \"address\": \"198.18.0.20\",\n"
        "     \"platform\": \"xbox\", \"profiles\": [\"lab-game\"]},\n"
        "    {\"name\": \"ps5\", \"address\": \"198.18.0.21\",\n"
        "     \"profiles\": [\"lab-game\", \"lab-game-2\"],\n"
        "     \"mode\": \"verify\"}\n"
        "  ]\n"
        "}\n";
    np_catalog *cat = catalog();
    np_config *cfg = NULL;
    np_diags d;
    char ip[NP_ADDRSTRLEN];

    (void)state;
    np_diags_init(&d);
    assert_int_equal(
        np_config_parse("t.conf", text, strlen(text), cat, &cfg, &d, NULL),
        NP_OK);
    assert_int_equal(d.count, 0);
    assert_non_null(cfg);
    assert_int_equal(cfg->lease, 3600);
    assert_int_equal(cfg->prefer[0], NP_PM_UPNP);
    assert_int_equal(cfg->prefer[1], NP_PM_PCP);
    assert_int_equal(cfg->prefer[2], NP_PM_NONE);
    assert_int_equal(cfg->log_level, NP_LOG_DEBUG);
    assert_int_equal(cfg->verify_interval, 60);
    assert_int_equal(cfg->ssdp_listen, 0);
    assert_string_equal(cfg->state_file, "/var/lib/natpilot/state.json");
    assert_int_equal(cfg->n_devices, 2);
    assert_string_equal(cfg->devices[0].name, "xbox");
    assert_int_equal(cfg->devices[0].platform, NP_PLAT_XBOX);
    assert_int_equal(cfg->devices[0].mode, NP_CFG_MAP);
    assert_string_equal(
        np_addr_ip_str(&cfg->devices[1].address, ip, sizeof(ip)),
        "198.18.0.21");
    assert_int_equal(cfg->devices[1].mode, NP_CFG_VERIFY);
    assert_int_equal(cfg->devices[1].n_profiles, 2);
    assert_string_equal(cfg->devices[1].profiles[1], "lab-game-2");
    np_config_free(cfg);
    np_diags_free(&d);
    np_catalog_free(cat);
}

static void test_defaults(void **state)
{
    static const char text[] =
        "{\"state_file\": \"/s\", \"status_socket\": \"/t\", \"devices\": "
        "[{\"name\": \"a\", \"address\": \"198.18.0.2\", \"profiles\": "
        "[\"lab-game\"]}]}";
    np_config *cfg = NULL;
    np_diags d;

    (void)state;
    np_diags_init(&d);
    assert_int_equal(
        np_config_parse("t", text, strlen(text), NULL, &cfg, &d, NULL), NP_OK);
    assert_int_equal(cfg->lease, NP_CFG_LEASE_DEFAULT);
    assert_int_equal(cfg->verify_interval, 300);
    assert_int_equal(cfg->log_level, NP_LOG_INFO);
    assert_int_equal(cfg->ssdp_listen, 1);
    assert_int_equal(cfg->prefer[0], NP_PM_NONE); /* portmap's default */
    np_config_free(cfg);
    np_diags_free(&d);
}

/* The web section: defaults, no devices allowed with it on. */
static void test_web(void **state)
{
    static const char text[] =
        "{\"state_file\": \"/var/x/state.json\", \"status_socket\": \"/t\", "
        "\"web\": {\"enabled\": true, \"hosts\": [\"nas.local\"], "
        "\"stun\": \"198.51.100.10\"}, \"devices\": []}";
    np_config *cfg = NULL;
    np_diags d;
    char a[NP_ADDRSTRLEN];

    (void)state;
    np_diags_init(&d);
    assert_int_equal(
        np_config_parse("t", text, strlen(text), NULL, &cfg, &d, NULL), NP_OK);
    assert_int_equal(cfg->web.enabled, 1);
    assert_int_equal(cfg->n_devices, 0);
    assert_string_equal(np_addr_str(&cfg->web.listen, a, sizeof(a)),
                        "127.0.0.1:8780");
    assert_string_equal(cfg->web.token_file, "/var/x/web-token");
    assert_int_equal(cfg->web.n_hosts, 1);
    assert_string_equal(cfg->web.hosts[0], "nas.local");
    assert_string_equal(np_addr_str(&cfg->web.stun, a, sizeof(a)),
                        "198.51.100.10:3478");
    np_config_free(cfg);
    np_diags_free(&d);
}

/* Adding a device from the web set-up: atomically, checked, no duplicate. */
static void test_add_device(void **state)
{
    static const char text[] =
        "{\"state_file\": \"/s/state.json\", \"status_socket\": \"/t\", "
        "\"lease\": 600, \"web\": {\"enabled\": true}, \"devices\": []}";
    char dir[] = "/tmp/np_cfg_add.XXXXXX", path[64];
    char *prof[] = {(char *)"lab-game"};
    np_cfg_device dev;
    np_catalog *cat = catalog();
    np_config *cfg = NULL;
    np_diags d;
    struct stat st;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/natpilot.conf", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, 0640), 0);
    memset(&dev, 0, sizeof(dev));
    snprintf(dev.name, sizeof(dev.name), "xbox");
    assert_int_equal(np_addr_parse(&dev.address, "198.18.0.20", 0, NULL),
                     NP_OK);
    dev.platform = NP_PLAT_XBOX;
    dev.profiles = prof;
    dev.n_profiles = 1;
    np_diags_init(&d);
    assert_int_equal(np_config_add_device(path, &dev, cat, &d, NULL), NP_OK);
    assert_int_equal(np_config_load(path, cat, &cfg, &d, NULL), NP_OK);
    assert_int_equal(cfg->n_devices, 1);
    assert_string_equal(cfg->devices[0].name, "xbox");
    assert_int_equal(cfg->devices[0].platform, NP_PLAT_XBOX);
    assert_int_equal(cfg->lease, 600); /* the rest kept */
    np_config_free(cfg);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640); /* its mode kept */
    /* the same name or address again: NP_EEXIST, file unchanged */
    assert_int_equal(np_config_add_device(path, &dev, cat, &d, NULL),
                     NP_EEXIST);
    /* an unknown profile: the result would not load, nothing written */
    prof[0] = (char *)"no-such-profile";
    snprintf(dev.name, sizeof(dev.name), "ps5");
    assert_int_equal(np_addr_parse(&dev.address, "198.18.0.21", 0, NULL),
                     NP_OK);
    assert_int_equal(np_config_add_device(path, &dev, cat, &d, NULL),
                     NP_EINVALID);
    assert_int_equal(np_config_load(path, cat, &cfg, &d, NULL), NP_OK);
    assert_int_equal(cfg->n_devices, 1);
    np_config_free(cfg);
    np_diags_free(&d);
    np_catalog_free(cat);
    unlink(path);
    rmdir(dir);
}

/* One bad configuration per kind of error, with its exact position. */
static const struct bad_case {
    const char *text;
    unsigned line, col;
    const char *path;
    const char *words; /* a fragment of the message */
} bad_cases[] = {
    {"{\"devices\": [], \"colour\": 1}", 1, 17, "/colour", "unknown key"},
    {"{\n  \"lease\": 5,\n  \"devices\": []}", 2, 12, "/lease",
     "from 20 to 86400"},
    {"{\"lease\": 90000, \"devices\": []}", 1, 11, "/lease", "86400"},
    {"{\"lease\": 30.5, \"devices\": []}", 1, 11, "/lease", "whole number"},
    /* beyond every integer type: rejected before any conversion */
    {"{\"lease\": 1e300, \"devices\": []}", 1, 11, "/lease", "whole number"},
    {"{\"lease\": -1e300, \"devices\": []}", 1, 11, "/lease", "whole number"},
    {"{\"devices\": [{\"name\": \"a\", \"address\": \"198.18.0.300\", "
     "\"profiles\": [\"lab-game\"]}]}",
     1, 39, "/devices/0/address", "not an IPv4 address"},
    {"{\"devices\": [{\"name\": \"a\", \"address\": \"127.0.0.1\", "
     "\"profiles\": [\"lab-game\"]}]}",
     1, 39, "/devices/0/address", "cannot be a device"},
    {"{\"devices\": [{\"name\": \"a\", \"address\": \"198.18.0.2\", "
     "\"profiles\": [\"nope\"]}]}",
     1, 66, "/devices/0/profiles/0", "unknown profile \"nope\""},
    {"{\"devices\": [\n {\"name\": \"a\", \"address\": \"198.18.0.2\", "
     "\"profiles\": [\"lab-game\"]},\n {\"name\": \"a\", \"address\": "
     "\"198.18.0.3\", \"profiles\": [\"lab-game\"]}]}",
     3, 2, "/devices/1", "duplicate device name"},
    {"{\"devices\": [\n {\"name\": \"a\", \"address\": \"198.18.0.2\", "
     "\"profiles\": [\"lab-game\"]},\n {\"name\": \"b\", \"address\": "
     "\"198.18.0.2\", \"profiles\": [\"lab-game\"]}]}",
     3, 2, "/devices/1", "duplicate device address"},
    {"{\"devices\": [{\"name\": \"a\", \"address\": \"198.18.0.2\", "
     "\"profiles\": [\"lab-game\"], \"mode\": \"auto\"}]}",
     1, 87, "/devices/0/mode", "mode must be"},
    {"{\"devices\": [{\"name\": \"a\", \"address\": \"198.18.0.2\", "
     "\"profiles\": [\"lab-game\"], \"platform\": \"dreamcast\"}]}",
     1, 91, "/devices/0/platform", "unknown platform"},
    {"{\"devices\": [{\"name\": \"a\", \"address\": \"198.18.0.2\"}]}", 1, 14,
     "/devices/0", "needs \"profiles\""},
    {"{\"protocols\": [\"pcp\", \"smoke\"], \"devices\": []}", 1, 23,
     "/protocols/1", "unknown protocol"},
    {"{\"state_file\": \"relative.json\", \"devices\": []}", 1, 16,
     "/state_file", "absolute path"},
    {"{\"devices\": [], \"lease\": 60, \"lease\": 61}", 1, 30, "/lease",
     "appears twice"},
    {"{\"devices\": [}", 1, 14, "", "malformed JSON"},
    {"[1, 2]", 1, 1, "", "must be an object"},
    {"{\"lease\": 60}", 1, 1, "", "needs \"devices\""},
    /* the web interface never listens on a WAN or wildcard address */
    {"{\"devices\": [], \"web\": {\"listen\": \"203.0.113.2:8780\"}}", 1, 35,
     "/web/listen", "never listens on a WAN"},
    {"{\"devices\": [], \"web\": {\"enabled\": true, \"listen\": "
     "\"0.0.0.0:8780\"}}",
     1, 52, "/web/listen", "never listens on a WAN"},
    {"{\"devices\": [], \"web\": {\"enabled\": true, \"colour\": 1}}", 1, 42,
     "/web/colour", "unknown key"},
    /* no devices: only with the web interface on */
    {"{\"devices\": []}", 1, 13, "/devices", "devices is empty"},
};

static void test_bad(void **state)
{
    np_catalog *cat = catalog();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *b = &bad_cases[i];
        np_config *cfg = (np_config *)1;
        np_diags d;
        np_error err;
        int rc;

        size_t k, hit = SIZE_MAX;

        np_diags_init(&d);
        rc = np_config_parse("bad.conf", b->text, strlen(b->text), cat, &cfg,
                             &d, &err);
        /* the diagnostic at that path (others may come with it) */
        for (k = 0; k < d.count && hit == SIZE_MAX; k++)
            if (strcmp(d.items[k].path, b->path) == 0)
                hit = k;
        if (rc != NP_EINVALID || hit == SIZE_MAX ||
            d.items[hit].line != b->line || d.items[hit].col != b->col ||
            strstr(d.items[hit].message, b->words) == NULL) {
            char buf[600];

            print_error(
                "case %zu: rc %d, %zu diags, first: %s\n", i, rc, d.count,
                d.count ? np_diag_format(&d.items[0], buf, sizeof(buf)) : "-");
            fail();
        }
        assert_null(cfg);
        assert_string_equal(d.items[0].file, "bad.conf");
        np_diags_free(&d);
    }
    np_catalog_free(cat);
}

static void test_log_levels(void **state)
{
    (void)state;
    assert_int_equal(np_log_level_parse("error"), NP_LOG_ERROR);
    assert_int_equal(np_log_level_parse("warning"), NP_LOG_WARN);
    assert_int_equal(np_log_level_parse("debug"), NP_LOG_DEBUG);
    assert_int_equal(np_log_level_parse("loud"), -1);
    assert_int_equal(np_log_level_parse(NULL), -1);
    assert_string_equal(np_log_level_name(NP_LOG_INFO), "info");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_web),  cmocka_unit_test(test_add_device),
        cmocka_unit_test(test_bad),  cmocka_unit_test(test_log_levels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
