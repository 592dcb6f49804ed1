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

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The devices added from the web page: a file in the state directory
 * (the configuration may be read-only), loaded beside the configuration. */
static void test_add_web_device(void **state)
{
    char dir[] = "/tmp/np_cfg_web.XXXXXX", path[64], wpath[80], text[512];
    char *prof[] = {(char *)"lab-game"};
    np_cfg_device dev;
    np_config *cfg = NULL, *cfg2 = NULL;
    np_catalog *cat = NULL;
    np_diags d;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/natpilot.conf", dir);
    snprintf(wpath, sizeof(wpath), "%s/web-devices.json", dir);
    snprintf(text, sizeof(text),
             "{\"state_file\": \"%s/state.json\", \"status_socket\": \"/t\", "
             "\"profiles_dir\": \"%s\", \"web\": {\"enabled\": true}, "
             "\"devices\": []}",
             dir, PROFILES);
    write_file(path, text);
    np_diags_init(&d);
    assert_int_equal(np_config_load_full(path, &cfg, &cat, &d, NULL), NP_OK);
    assert_string_equal(cfg->web.devices_file, wpath); /* the default */
    assert_int_equal(cfg->n_devices, 0);
    memset(&dev, 0, sizeof(dev));
    snprintf(dev.name, sizeof(dev.name), "xbox");
    assert_int_equal(np_addr_parse(&dev.address, "198.18.0.20", 0, NULL),
                     NP_OK);
    dev.platform = NP_PLAT_XBOX;
    dev.profiles = prof;
    dev.n_profiles = 1;
    /* the configuration is read-only: only the web devices file is made */
    assert_int_equal(chmod(path, 0444), 0);
    assert_int_equal(np_config_add_web_device(cfg, &dev, cat, &d, NULL), NP_OK);
    assert_int_equal(stat(wpath, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* already in the file: NP_EEXIST */
    assert_int_equal(np_config_add_web_device(cfg, &dev, cat, &d, NULL),
                     NP_EEXIST);
    /* loaded beside the configuration */
    assert_int_equal(np_config_load_full(path, &cfg2, NULL, &d, NULL), NP_OK);
    assert_int_equal(cfg2->n_devices, 1);
    assert_string_equal(cfg2->devices[0].name, "xbox");
    assert_int_equal(cfg2->devices[0].platform, NP_PLAT_XBOX);
    /* already in the configuration in force: NP_EEXIST (other name, same
     * address) */
    snprintf(dev.name, sizeof(dev.name), "other");
    assert_int_equal(np_config_add_web_device(cfg2, &dev, cat, &d, NULL),
                     NP_EEXIST);
    /* an unknown profile: nothing written */
    snprintf(dev.name, sizeof(dev.name), "ps5");
    assert_int_equal(np_addr_parse(&dev.address, "198.18.0.21", 0, NULL),
                     NP_OK);
    prof[0] = (char *)"no-such-profile";
    assert_int_equal(np_config_add_web_device(cfg2, &dev, cat, &d, NULL),
                     NP_EINVALID);
    np_config_free(cfg2);
    cfg2 = NULL;
    /* a device of the configuration and the file at one address: invalid */
    assert_int_equal(chmod(path, 0644), 0);
    snprintf(text, sizeof(text),
             "{\"state_file\": \"%s/state.json\", \"status_socket\": \"/t\", "
             "\"profiles_dir\": \"%s\", \"devices\": [{\"name\": \"box\", "
             "\"address\": \"198.18.0.20\", \"profiles\": [\"lab-game\"]}]}",
             dir, PROFILES);
    write_file(path, text);
    assert_int_equal(np_config_load_full(path, &cfg2, NULL, &d, NULL),
                     NP_EINVALID);
    assert_null(cfg2);
    /* the web devices file holds only devices */
    write_file(wpath, "{\"lease\": 30, \"devices\": [{\"name\": \"a\", "
                      "\"address\": \"198.18.0.22\", \"profiles\": "
                      "[\"lab-game\"]}]}");
    snprintf(text, sizeof(text),
             "{\"state_file\": \"%s/state.json\", \"status_socket\": \"/t\", "
             "\"profiles_dir\": \"%s\", \"web\": {\"enabled\": true}}",
             dir, PROFILES);
    write_file(path, text);
    assert_int_equal(np_config_load_full(path, &cfg2, NULL, &d, NULL),
                     NP_EINVALID);
    assert_null(cfg2);
    /* no file: nothing added */
    unlink(wpath);
    assert_int_equal(np_config_load_full(path, &cfg2, NULL, &d, NULL), NP_OK);
    assert_int_equal(cfg2->n_devices, 0);
    np_config_free(cfg2);
    np_config_free(cfg);
    np_catalog_free(cat);
    np_diags_free(&d);
    unlink(path);
    rmdir(dir);
}

/* The expert form's explicit ports: bounded, never a whole range or a DMZ. */
static void test_ports(void **state)
{
    static const struct {
        const char *text;
        int ok, transport;
        unsigned lo, hi;
        const char *words;
    } cases[] = {
        {"udp:3074", 1, NP_PM_UDP, 3074, 3074, NULL},
        {"TCP:27015-27030", 1, NP_PM_TCP, 27015, 27030, NULL},
        {"udp:1000-1063", 1, NP_PM_UDP, 1000, 1063, NULL}, /* 64 ports */
        {"udp:1000-1064", 0, 0, 0, 0, "at most 64"},
        {"udp:1-65535", 0, 0, 0, 0, "at most 64"},
        {"tcp:0", 0, 0, 0, 0, "1 to 65535"},
        {"tcp:70000", 0, 0, 0, 0, "1 to 65535"},
        {"tcp:30-20", 0, 0, 0, 0, "low to high"},
        {"all", 0, 0, 0, 0, "DMZ"},
        {"DMZ", 0, 0, 0, 0, "DMZ"},
        {"udp:*", 0, 0, 0, 0, "DMZ"},
        {"tcp:all", 0, 0, 0, 0, "DMZ"},
        {"3074", 0, 0, 0, 0, "udp:PORT"},
        {"udp:3074x", 0, 0, 0, 0, "udp:PORT"},
        {"udp:", 0, 0, 0, 0, "a number"},
        {"udp:10-", 0, 0, 0, 0, "LO-HI"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        np_cfg_port p;
        np_error e;
        int rc = np_cfg_port_parse(cases[i].text, &p, &e);

        if (cases[i].ok) {
            assert_int_equal(rc, NP_OK);
            assert_int_equal(p.transport, cases[i].transport);
            assert_int_equal(p.lo, cases[i].lo);
            assert_int_equal(p.hi, cases[i].hi);
        } else {
            assert_int_equal(rc, NP_EINVALID);
            if (strstr(e.msg, cases[i].words) == NULL)
                fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].text, e.msg,
                         cases[i].words);
        }
    }
}

/* "ports" in a device: parsed, bounded in all, profiles then optional. */
static void test_device_ports(void **state)
{
    static const char good[] =
        "{\"state_file\": \"/s/state.json\", \"status_socket\": \"/t\", "
        "\"devices\": [{\"name\": \"pc\", \"address\": \"198.18.0.30\", "
        "\"ports\": [\"udp:41000-41001\", \"tcp:41010\"]}]}";
    static const char too_many[] =
        "{\"state_file\": \"/s/state.json\", \"status_socket\": \"/t\", "
        "\"devices\": [{\"name\": \"pc\", \"address\": \"198.18.0.30\", "
        "\"ports\": [\"udp:1000-1063\", \"udp:2000-2063\", \"udp:3000\"]}]}";
    static const char neither[] =
        "{\"state_file\": \"/s/state.json\", \"status_socket\": \"/t\", "
        "\"devices\": [{\"name\": \"pc\", \"address\": \"198.18.0.30\"}]}";
    np_config *cfg = NULL;
    np_diags d;

    (void)state;
    np_diags_init(&d);
    assert_int_equal(
        np_config_parse("t", good, strlen(good), NULL, &cfg, &d, NULL), NP_OK);
    assert_int_equal(cfg->devices[0].n_profiles, 0);
    assert_int_equal(cfg->devices[0].n_ports, 2);
    assert_int_equal(cfg->devices[0].ports[0].lo, 41000);
    assert_int_equal(cfg->devices[0].ports[0].hi, 41001);
    assert_int_equal(cfg->devices[0].ports[1].transport, NP_PM_TCP);
    np_config_free(cfg);
    cfg = NULL;
    assert_int_equal(
        np_config_parse("t", too_many, strlen(too_many), NULL, &cfg, &d, NULL),
        NP_EINVALID);
    assert_non_null(strstr(d.items[d.count - 1].message, "more than 128"));
    assert_string_equal(d.items[d.count - 1].path, "/devices/0/ports/2");
    assert_int_equal(
        np_config_parse("t", neither, strlen(neither), NULL, &cfg, &d, NULL),
        NP_EINVALID);
    assert_non_null(strstr(d.items[d.count - 1].message, "\"ports\""));
    np_diags_free(&d);
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
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_web),
        cmocka_unit_test(test_add_device),
        cmocka_unit_test(test_add_web_device),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_device_ports),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_log_levels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
