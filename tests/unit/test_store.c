/* Unit tests of the one mapping store: every known format read, the
 * current one written and read back, corrupt and oversize files moved
 * aside byte for byte, mode 0600, atomic replace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "natpilot/store.h"

/* A fresh directory under /tmp for one test; removed by rmdir_all. */
static void tmpdir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/np-store-test-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static void rmdir_all(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%.200s", dir, e->d_name);
        (void)unlink(p);
    }
    closedir(d);
    (void)rmdir(dir);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* The one file in dir whose name starts with prefix, into out. */
static int find_prefixed(const char *dir, const char *prefix, char *out,
                         size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(out, size, "%s/%.100s", dir, e->d_name);
            found++;
        }
    closedir(d);
    return found;
}

/* Each known format, one row: what is read from it. */
static void formats_table(void **state)
{
    static const struct {
        const char *name, *text;
        size_t n;
        const char *owner;
        enum np_pm_proto proto;
        int transport;
        uint16_t iport, eport;
        const char *internal; /* "" this host */
        int64_t expires;
        uint8_t nonce0;
    } t[] = {
        {.name = "v2, the CLI's own",
         .text =
             "{\"version\":2,\"written\":1,\"mappings\":[{\"owner\":\"cli\","
             "\"gateway\":\"192.0.2.1\",\"protocol\":\"pcp\",\"transport\":"
             "\"udp\",\"internal_port\":3074,\"external_port\":3075,"
             "\"nonce\":\"0a0000000000000000000000\",\"expires\":99}]}",
         .n = 1,
         .owner = "cli",
         .proto = NP_PM_PCP,
         .transport = NP_PM_UDP,
         .iport = 3074,
         .eport = 3075,
         .internal = "",
         .expires = 99,
         .nonce0 = 0x0a},
        {.name = "v2, the daemon's, for a console",
         .text =
             "{\"version\":2,\"mappings\":[{\"owner\":\"xbox\",\"protocol\":"
             "\"natpmp\",\"transport\":\"tcp\",\"internal\":\"192.0.2.20\","
             "\"internal_port\":25565,\"external_port\":25565,"
             "\"expires\":0}]}",
         .n = 1,
         .owner = "xbox",
         .proto = NP_PM_NATPMP,
         .transport = NP_PM_TCP,
         .iport = 25565,
         .eport = 25565,
         .internal = "192.0.2.20"},
        {.name = "v1 of the CLI: a bare array",
         .text =
             "[{\"protocol\":\"pcp\",\"transport\":\"udp\",\"internal_port\":"
             "3074,\"external_port\":3074,\"gateway\":\"192.0.2.1\","
             "\"nonce\":\"ff0000000000000000000000\"}]",
         .n = 1,
         .owner = "cli",
         .proto = NP_PM_PCP,
         .transport = NP_PM_UDP,
         .iport = 3074,
         .eport = 3074,
         .internal = "",
         .nonce0 = 0xff},
        {.name = "v1 of the daemon: device and external ip:port",
         .text = "{\"version\":1,\"pid\":7,\"mappings\":[{\"device\":\"ps5\","
                 "\"protocol\":\"upnp\",\"transport\":\"udp\",\"internal\":"
                 "\"192.0.2.30\",\"internal_port\":3478,\"external\":"
                 "\"203.0.113.2:3479\",\"expires\":1234}]}",
         .n = 1,
         .owner = "ps5",
         .proto = NP_PM_UPNP,
         .transport = NP_PM_UDP,
         .iport = 3478,
         .eport = 3479,
         .internal = "192.0.2.30",
         .expires = 1234},
        {.name = "entries that are not usable are skipped",
         .text =
             "{\"version\":2,\"mappings\":[{\"protocol\":\"carrier-pigeon\","
             "\"transport\":\"udp\",\"internal_port\":1},{\"protocol\":"
             "\"pcp\",\"transport\":\"udp\",\"internal_port\":70000},"
             "{\"protocol\":\"pcp\",\"transport\":\"sctp\","
             "\"internal_port\":1}]}",
         .n = 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        np_store *s = np_store_new("/nonexistent/x.json", NULL);
        char ip[NP_ADDRSTRLEN];

        assert_non_null(s);
        print_message("  %s\n", t[i].name);
        assert_int_equal(
            np_store_from_json(s, t[i].text, strlen(t[i].text), NULL), NP_OK);
        assert_int_equal(s->n, t[i].n);
        if (t[i].n == 1) {
            const np_store_entry *e = &s->e[0];

            assert_string_equal(e->owner, t[i].owner);
            assert_int_equal(e->proto, t[i].proto);
            assert_int_equal(e->transport, t[i].transport);
            assert_int_equal(e->internal_port, t[i].iport);
            assert_int_equal(e->external_port, t[i].eport);
            assert_string_equal(
                np_addr_is_set(&e->internal)
                    ? np_addr_ip_str(&e->internal, ip, sizeof(ip))
                    : "",
                t[i].internal);
            assert_int_equal(e->expires, t[i].expires);
            assert_int_equal(e->nonce[0], t[i].nonce0);
        }
        np_store_free(s);
    }
}

static void not_a_store_table(void **state)
{
    static const char *bad[] = {
        "",
        "{",
        "{\"mappings\":[]}",               /* no version */
        "{\"version\":2}",                 /* no mappings */
        "{\"version\":3,\"mappings\":[]}", /* from the future */
        "{\"version\":2,\"mappings\":{}}", /* not an array */
        "\"mappings\"",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        np_store *s = np_store_new("/nonexistent/x.json", NULL);
        np_error err;

        assert_int_equal(np_store_from_json(s, bad[i], strlen(bad[i]), &err),
                         NP_EPARSE);
        assert_int_equal(s->n, 0);
        np_store_free(s);
    }
}

static void put_find_del(void **state)
{
    np_store *s = np_store_new("/nonexistent/x.json", NULL);
    np_store_entry e;
    np_addr gw, dev;

    (void)state;
    assert_int_equal(np_addr_parse(&gw, "192.0.2.1", 0, NULL), NP_OK);
    assert_int_equal(np_addr_parse(&dev, "192.0.2.20", 0, NULL), NP_OK);
    memset(&e, 0, sizeof(e));
    e.gateway = gw;
    e.proto = NP_PM_PCP;
    e.transport = NP_PM_UDP;
    e.internal_port = 3074;
    e.external_port = 3075; /* an alternate port */
    assert_int_equal(np_store_put(s, &e), NP_OK);
    e.internal = dev;
    assert_int_equal(np_store_put(s, &e), NP_OK);
    assert_int_equal(s->n, 2);
    e.nonce[0] = 9; /* the same mapping again: replaced */
    assert_int_equal(np_store_put(s, &e), NP_OK);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->e[1].nonce[0], 9);
    /* this host's entry by external port; by internal port; the device's */
    assert_int_equal(np_store_find(s, &gw, NP_PM_UDP, 3075, 0, NULL), 0);
    assert_int_equal(np_store_find(s, &gw, NP_PM_UDP, 3074, 0, NULL), -1);
    assert_int_equal(np_store_find(s, &gw, NP_PM_UDP, 3074, 1, NULL), 0);
    assert_int_equal(np_store_find(s, &gw, NP_PM_UDP, 3075, 0, &dev), 1);
    assert_int_equal(np_store_find(s, NULL, NP_PM_UDP, 3075, 0, &dev), 1);
    assert_int_equal(np_store_find(s, &gw, NP_PM_TCP, 3075, 0, &dev), -1);
    np_store_del(s, 0);
    assert_int_equal(s->n, 1);
    assert_int_equal(np_store_find(s, &gw, NP_PM_UDP, 3075, 0, &dev), 0);
    np_store_free(s);
    np_store_free(NULL);
}

static void save_load_round_trip(void **state)
{
    char dir[64], path[128];
    np_store *s, *r;
    np_store_entry e;
    np_store_note note;
    struct stat sb;

    (void)state;
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/sub/mappings.json", dir);
    s = np_store_new(path, NULL);
    memset(&e, 0, sizeof(e));
    snprintf(e.owner, sizeof(e.owner), "cli");
    assert_int_equal(np_addr_parse(&e.gateway, "192.0.2.1", 0, NULL), NP_OK);
    e.proto = NP_PM_PCP;
    e.transport = NP_PM_TCP;
    e.internal_port = 25565;
    e.external_port = 25565;
    memset(e.nonce, 0xab, sizeof(e.nonce));
    e.expires = 1700000000;
    assert_int_equal(np_store_put(s, &e), NP_OK);
    assert_int_equal(np_store_save(s, NULL), NP_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    r = np_store_new(path, NULL);
    assert_int_equal(np_store_load(r, &note, NULL), NP_OK);
    assert_int_equal(note.moved_aside, 0);
    assert_int_equal(r->n, 1);
    assert_memory_equal(&r->e[0].nonce, e.nonce, 12);
    assert_int_equal(r->e[0].expires, e.expires);
    assert_string_equal(r->e[0].owner, "cli");
    assert_int_equal(np_store_remove(r, NULL), NP_OK);
    assert_int_equal(np_store_remove(r, NULL), NP_OK);      /* gone: fine */
    assert_int_equal(np_store_load(r, &note, NULL), NP_OK); /* missing */
    assert_int_equal(r->n, 0);
    np_store_free(s);
    np_store_free(r);
    snprintf(path, sizeof(path), "%s/sub", dir);
    rmdir_all(path);
    rmdir_all(dir);
}

/* A corrupt or oversize store is moved aside byte for byte, reported, and
 * never overwritten; a save afterwards starts a new one. */
static void corrupt_moved_aside(void **state)
{
    static const struct {
        const char *name;
        size_t size; /* 0: text as given */
        const char *text;
    } t[] = {
        {.name = "truncated JSON", .text = "{\"version\":2,\"mappings\":[{"},
        {.name = "binary junk", .text = "\x01\x02garbage\xff"},
        {.name = "oversize", .size = NP_STORE_MAX_BYTES + 1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char dir[64], path[128], aside[256];
        size_t len = t[i].size ? t[i].size : strlen(t[i].text);
        char *text = malloc(len), *back;
        np_store *s;
        np_store_note note;
        FILE *f;

        print_message("  %s\n", t[i].name);
        assert_non_null(text);
        if (t[i].size)
            memset(text, ' ', len);
        else
            memcpy(text, t[i].text, len);
        tmpdir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/mappings.json", dir);
        write_file(path, text, len);
        s = np_store_new(path, NULL);
        assert_int_equal(np_store_load(s, &note, NULL), NP_OK);
        assert_int_equal(note.moved_aside, 1);
        assert_non_null(strstr(note.message, "kept as"));
        assert_int_equal(s->n, 0);
        assert_int_equal(access(path, F_OK), -1); /* moved, not copied */
        assert_int_equal(
            find_prefixed(dir, "mappings.json.corrupt-", aside, sizeof(aside)),
            1);
        assert_string_equal(aside, note.aside_path);
        back = malloc(len + 1);
        f = fopen(aside, "rb");
        assert_non_null(f);
        assert_int_equal(fread(back, 1, len + 1, f), len);
        fclose(f);
        assert_memory_equal(back, text, len);
        /* a save now starts a new store and leaves the old one aside */
        assert_int_equal(np_store_save(s, NULL), NP_OK);
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(access(aside, F_OK), 0);
        free(back);
        free(text);
        np_store_free(s);
        rmdir_all(dir);
    }
}

/* A store that cannot be read (here a directory in its place; a mode-000
 * file is readable to root, who runs the tests) is an error, nothing is
 * moved, and nothing is saved over it. */
static void directory_is_error(void **state)
{
    char dir[64], path[128];
    np_store *s;
    np_error err;

    (void)state;
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/mappings.json", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    s = np_store_new(path, NULL);
    assert_int_not_equal(np_store_load(s, NULL, &err), NP_OK);
    assert_int_not_equal(np_store_save(s, &err), NP_OK);
    np_store_free(s);
    (void)rmdir(path);
    rmdir_all(dir);
}

static void default_path_table(void **state)
{
    static const struct {
        const char *state_dir, *xdg, *home, *want;
        int rc;
    } t[] = {
        {"/s", "/x", "/h", "/s/mappings.json", NP_OK},
        {"", "/x", "/h", "/x/natpilot/mappings.json", NP_OK},
        {NULL, NULL, "/h", "/h/.local/state/natpilot/mappings.json", NP_OK},
        {NULL, NULL, NULL, "", NP_ENOTFOUND},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char buf[NP_STORE_PATH_MAX];

        buf[0] = '\0';
        if (t[i].state_dir)
            setenv("NATPILOT_STATE_DIR", t[i].state_dir, 1);
        else
            unsetenv("NATPILOT_STATE_DIR");
        if (t[i].xdg)
            setenv("XDG_STATE_HOME", t[i].xdg, 1);
        else
            unsetenv("XDG_STATE_HOME");
        if (t[i].home)
            setenv("HOME", t[i].home, 1);
        else
            unsetenv("HOME");
        assert_int_equal(np_store_default_path(buf, sizeof(buf), NULL),
                         t[i].rc);
        if (t[i].rc == NP_OK)
            assert_string_equal(buf, t[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_table),
        cmocka_unit_test(not_a_store_table),
        cmocka_unit_test(put_find_del),
        cmocka_unit_test(save_load_round_trip),
        cmocka_unit_test(corrupt_moved_aside),
        cmocka_unit_test(directory_is_error),
        cmocka_unit_test(default_path_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
