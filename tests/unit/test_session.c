/* Unit tests of the mapping session: the protocol a plan names, the rules
 * from profiles, and the policy (alternate port, stand-in taken back,
 * rollback, cancellation, store records) against a scripted PCP server on
 * loopback (no other network traffic), where one answer must mean the same
 * for `open` (np_session_apply) and the daemon (np_session_map_rule). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "natpilot/pcp.h"
#include "natpilot/session.h"

/* --- pure parts ------------------------------------------------------------*/

static void outcome_names(void **state)
{
    static const struct {
        enum np_sess_outcome o;
        const char *name;
    } t[] = {
        {NP_SESS_NOT_TRIED, "skipped"},
        {NP_SESS_MAPPED, "mapped"},
        {NP_SESS_CONFLICT, "conflict"},
        {NP_SESS_REFUSED, "refused"},
        {NP_SESS_THIRD_PARTY, "third-party-refused"},
        {NP_SESS_PERMANENT_ONLY, "permanent-only"},
        {NP_SESS_TIMEOUT, "timeout"},
        {NP_SESS_UNSUPPORTED, "unsupported"},
        {NP_SESS_FAILED, "failed"},
        {NP_SESS_ROLLED_BACK, "rolled-back"},
        {NP_SESS_MISSING, "missing"},
        {NP_SESS_ELSEWHERE, "other-device"},
        {NP_SESS_UNKNOWN, "unknown"},
        {NP_SESS_REMOVED, "removed"},
        {NP_SESS_GONE, "gone"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        assert_string_equal(np_sess_outcome_name(t[i].o), t[i].name);
}

/* The plan names the protocol the session will really use. */
static void plan_proto_table(void **state)
{
    static const struct {
        const char *what;
        int pcp, natpmp, upnp; /* answered */
        enum np_pm_proto via;
        int other_device;
        enum np_pm_proto prefer0; /* NONE: default order */
        enum np_pm_proto want;
    } t[] = {
        {"all answer: PCP first", 1, 1, 1, NP_PM_NONE, 0, NP_PM_NONE,
         NP_PM_PCP},
        {"only UPnP", 0, 0, 1, NP_PM_NONE, 0, NP_PM_NONE, NP_PM_UPNP},
        {"NAT-PMP for this host", 0, 1, 1, NP_PM_NONE, 0, NP_PM_NONE,
         NP_PM_NATPMP},
        {"NAT-PMP cannot map for a console", 0, 1, 1, NP_PM_NONE, 1, NP_PM_NONE,
         NP_PM_UPNP},
        {"only NAT-PMP, for a console: none", 0, 1, 0, NP_PM_NONE, 1,
         NP_PM_NONE, NP_PM_NONE},
        {"--via upnp", 1, 1, 1, NP_PM_UPNP, 0, NP_PM_NONE, NP_PM_UPNP},
        {"--via pcp, silent", 0, 1, 1, NP_PM_PCP, 0, NP_PM_NONE, NP_PM_NONE},
        {"daemon prefers UPnP", 1, 1, 1, NP_PM_NONE, 0, NP_PM_UPNP, NP_PM_UPNP},
        {"nothing answered", 0, 0, 0, NP_PM_NONE, 0, NP_PM_NONE, NP_PM_NONE},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        np_pm_discovery d;
        np_sess_opts o;
        enum np_pm_proto pref[NP_PM_NPROTO] = {t[i].prefer0, NP_PM_PCP,
                                               NP_PM_NONE, NP_PM_NONE};

        memset(&d, 0, sizeof(d));
        memset(&o, 0, sizeof(o));
        d.has[NP_PM_PCP] = t[i].pcp;
        d.has[NP_PM_NATPMP] = t[i].natpmp;
        d.has[NP_PM_UPNP] = t[i].upnp;
        assert_int_equal(np_addr_parse(&d.local, "192.0.2.10", 0, NULL), NP_OK);
        o.via = t[i].via;
        if (t[i].other_device)
            assert_int_equal(np_addr_parse(&o.device, "192.0.2.20", 0, NULL),
                             NP_OK);
        if (t[i].prefer0 != NP_PM_NONE)
            o.prefer = pref;
        print_message("  %s\n", t[i].what);
        assert_int_equal(np_session_plan_proto(&d, &o), t[i].want);
    }
}

static void rules_add_merges(void **state)
{
    np_sess_rule r[3];
    size_t n = 0;

    (void)state;
    assert_int_equal(
        np_sess_rules_add(r, &n, 3, NP_PM_UDP, 3074, 0, "xbox", NULL), NP_OK);
    assert_int_equal(
        np_sess_rules_add(r, &n, 3, NP_PM_UDP, 3074, 1, "game", "chat"), NP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].essential, 1); /* ORed */
    assert_string_equal(r[0].label, "xbox");
    assert_int_equal(
        np_sess_rules_add(r, &n, 3, NP_PM_TCP, 3074, 0, "xbox", NULL), NP_OK);
    assert_int_equal(
        np_sess_rules_add(r, &n, 3, NP_PM_TCP, 3075, 0, "xbox", NULL), NP_OK);
    assert_int_equal(
        np_sess_rules_add(r, &n, 3, NP_PM_TCP, 3076, 0, "xbox", NULL),
        NP_ENOMEM);
    assert_int_equal(n, 3);
}

static void rules_from_resolved(void **state)
{
    static const np_port_range p3074[] = {{3074, 3074}};
    static const np_port_range p25565[] = {{25565, 25565}};
    static const np_port_range pall[] = {{1, 65535}};
    np_rule in[3];
    np_alt_port alt[1];
    np_resolved res;
    np_sess_rule r[8];
    size_t n = 0, broad = 0;

    (void)state;
    memset(in, 0, sizeof(in));
    memset(&res, 0, sizeof(res));
    memset(alt, 0, sizeof(alt));
    in[0].protocol = NP_PROTO_UDP;
    in[0].ports = p3074;
    in[0].n_ports = 1;
    in[0].essential = 1;
    in[0].profile_id = "xbox-network";
    in[1].protocol = NP_PROTO_TCP;
    in[1].ports = p25565;
    in[1].n_ports = 1;
    in[1].profile_id = "minecraft-java";
    in[2].protocol = NP_PROTO_UDP;
    in[2].ports = pall;
    in[2].n_ports = 1;
    in[2].broad = 1;
    in[2].profile_id = "some-game";
    alt[0].protocol = NP_PROTO_UDP;
    alt[0].port = 3074;
    res.inbound = in;
    res.n_inbound = 3;
    res.alt_ports = alt;
    res.n_alt_ports = 1;
    assert_int_equal(np_sess_rules_from_resolved(r, &n, 8, &res, &broad),
                     NP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(broad, 1);
    assert_int_equal(r[0].port, 3074);
    assert_int_equal(r[0].alt_port, 1); /* the Xbox accepts another port */
    assert_int_equal(r[0].essential, 1);
    assert_int_equal(r[1].port, 25565);
    assert_int_equal(r[1].alt_port, 0); /* Minecraft Java does not */
    assert_string_equal(r[1].label, "minecraft-java");
}

/* A device that maps itself, judged against the router's table. */
static void judge_table_rows(void **state)
{
    static const struct {
        const char *what;
        uint16_t port;
        enum np_sess_outcome want;
        int alternate;
        uint16_t ext;
        const char *holder;
    } t[] = {
        {"its own mapping on the rule's port", 3478, NP_SESS_MAPPED, 0, 3478,
         ""},
        {"its own mapping on another external port (Xbox)", 3074,
         NP_SESS_MAPPED, 1, 41074, ""},
        {"the rule's port held by another device", 25565, NP_SESS_ELSEWHERE, 0,
         0, "192.0.2.30"},
        {"nothing", 27015, NP_SESS_MISSING, 0, 0, ""},
    };
    np_pm_mapping tab[4];
    np_addr dev, ext;
    size_t i;

    (void)state;
    memset(tab, 0, sizeof(tab));
    assert_int_equal(np_addr_parse(&dev, "192.0.2.20", 0, NULL), NP_OK);
    assert_int_equal(np_addr_parse(&ext, "203.0.113.2", 0, NULL), NP_OK);
    /* lan2's console holds 3074; our device mapped itself on 41074 */
    tab[0].transport = NP_PM_UDP;
    tab[0].external_port = 3074;
    assert_int_equal(np_addr_parse(&tab[0].internal, "192.0.2.30", 3074, NULL),
                     NP_OK);
    tab[1].transport = NP_PM_UDP;
    tab[1].external_port = 41074;
    assert_int_equal(np_addr_parse(&tab[1].internal, "192.0.2.20", 3074, NULL),
                     NP_OK);
    tab[2].transport = NP_PM_UDP;
    tab[2].external_port = 3478;
    assert_int_equal(np_addr_parse(&tab[2].internal, "192.0.2.20", 3478, NULL),
                     NP_OK);
    tab[3].transport = NP_PM_UDP;
    tab[3].external_port = 25565;
    assert_int_equal(np_addr_parse(&tab[3].internal, "192.0.2.30", 25565, NULL),
                     NP_OK);
    for (i = 0; i < 4; i++)
        tab[i].enabled = 1;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        np_sess_result r;
        char ip[NP_ADDRSTRLEN];

        print_message("  %s\n", t[i].what);
        assert_int_equal(np_session_judge_table(tab, 4, NP_PM_UDP, t[i].port,
                                                &dev, &ext, &r),
                         t[i].want);
        assert_int_equal(r.alternate, t[i].alternate);
        if (t[i].want == NP_SESS_MAPPED)
            assert_int_equal(np_addr_port(&r.pm.external), t[i].ext);
        assert_string_equal(np_addr_is_set(&r.pm.holder)
                                ? np_addr_ip_str(&r.pm.holder, ip, sizeof(ip))
                                : "",
                            t[i].holder);
    }
}

/* --- a scripted PCP server on loopback --------------------------------- */

#define HELD_A 25565 /* held by another device: grants HELD + 1 */
#define HELD_B 3074
#define POLICY 88 /* refused: NOT_AUTHORIZED */

/* Serve in a child. Every MAP request is logged to logfd as one line
 * "internal_port suggested lifetime"; a held port gets port + 1 (a stand-in,
 * as NAT-PMP and PCP servers do without PREFER_FAILURE). */
static void fake_serve(int fd, int logfd, int held_b)
{
    alarm(10);
    for (;;) {
        uint8_t in[1100], out[1100];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        np_pcp_request rq;
        np_pcp_response rs;
        char line[64];
        size_t len;
        ssize_t n;
        int ln;

        n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            _exit(1);
        if (np_pcp_decode_request(in, (size_t)n, &rq, NULL) != NP_OK)
            continue;
        memset(&rs, 0, sizeof(rs));
        rs.version = 2;
        rs.opcode = rq.opcode;
        rs.lifetime = rq.map.lifetime;
        rs.epoch = 1000;
        if (rq.has_map) {
            uint16_t p = rq.map.internal_port;
            uint16_t ext = rq.map.suggested_external_port;

            ln = snprintf(line, sizeof(line), "%u %u %u\n", (unsigned)p,
                          (unsigned)ext, (unsigned)rq.map.lifetime);
            if (write(logfd, line, (size_t)ln) != ln)
                _exit(3);
            rs.has_map = 1;
            memcpy(rs.nonce, rq.map.nonce, 12);
            rs.protocol = rq.map.protocol;
            rs.internal_port = p;
            if (rq.map.lifetime > 0 &&
                (p == HELD_A || (held_b && p == HELD_B)) && ext == p)
                ext = (uint16_t)(p + 1);
            if (ext == 0)
                ext = p;
            rs.external_port = ext;
            if (p == POLICY && rq.map.lifetime > 0) {
                rs.result = 2; /* NOT_AUTHORIZED */
                rs.lifetime = 0;
            }
            assert_int_equal(
                np_addr_parse(&rs.external, "203.0.113.2", ext, NULL), NP_OK);
        }
        if (np_pcp_encode_response(out, sizeof(out), &rs, &len, NULL) != NP_OK)
            _exit(2);
        (void)sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
    }
}

struct fake {
    pid_t pid;
    int log; /* read end */
    np_portmap *pm;
};

static void fake_start(struct fake *f, int held_b)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_DGRAM, 0), pfd[2];
    np_pm_options o;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(pipe(pfd), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        close(pfd[0]);
        fake_serve(fd, pfd[1], held_b);
    }
    close(fd);
    close(pfd[1]);
    f->log = pfd[0];
    memset(&o, 0, sizeof(o));
    o.prefer[0] = NP_PM_PCP;
    o.pcp_port = ntohs(a.sin_port);
    o.timeout_ms = 300;
    assert_int_equal(np_addr_parse(&o.gateway, "127.0.0.1", 0, NULL), NP_OK);
    f->pm = np_portmap_new(&o, NULL);
    assert_non_null(f->pm);
    assert_int_equal(np_portmap_discover(f->pm, NULL, NULL), NP_OK);
}

/* Stop the server; the number of delete requests (lifetime 0; PCP sends
 * them with no suggested port) it saw for internal port `port`. */
static int fake_stop(struct fake *f, uint16_t port)
{
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    char *line, *nl;
    int dels = 0;

    np_portmap_free(f->pm);
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
    while ((r = read(f->log, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    close(f->log);
    buf[n] = '\0';
    for (line = buf; *line != '\0'; line = nl + 1) {
        char *end;
        unsigned long p = strtoul(line, &end, 10);
        unsigned long l;

        (void)strtoul(end, &end, 10);
        l = strtoul(end, &end, 10);
        if (p == port && l == 0)
            dels++;
        nl = strchr(line, '\n');
        if (nl == NULL)
            break;
    }
    return dels;
}

static np_sess_rule rule(int transport, uint16_t port, int alt, int essential)
{
    np_sess_rule r;

    memset(&r, 0, sizeof(r));
    r.transport = transport;
    r.port = port;
    r.alt_port = alt;
    r.essential = essential;
    snprintf(r.label, sizeof(r.label), "test");
    return r;
}

/*
 * One router answer, one meaning: the same rule through open's path
 * (np_session_apply) and the daemon's (np_session_map_rule) gives the same
 * outcome and leaves the same requests behind.
 */
static void one_answer_one_meaning(void **state)
{
    static const struct {
        const char *what;
        int transport;
        uint16_t port;
        int alt;
        enum np_sess_outcome want;
        int alternate;
        uint16_t ext;     /* granted external port (MAPPED) */
        uint16_t offered; /* stand-in offered and taken back */
    } t[] = {
        {"free port: mapped as asked", NP_PM_UDP, 3074, 0, NP_SESS_MAPPED, 0,
         3074, 0},
        {"Minecraft Java TCP 25565 held: stand-in 25566 taken back", NP_PM_TCP,
         HELD_A, 0, NP_SESS_CONFLICT, 0, 0, HELD_A + 1},
        {"a platform that accepts another port keeps 25566", NP_PM_TCP, HELD_A,
         1, NP_SESS_MAPPED, 1, HELD_A + 1, 0},
        {"refused by policy", NP_PM_UDP, POLICY, 0, NP_SESS_REFUSED, 0, 0, 0},
    };
    size_t i, path;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (path = 0; path < 2; path++) {
            struct fake f;
            np_sess_opts o;
            np_session *s;
            np_sess_rule r = rule(t[i].transport, t[i].port, t[i].alt, 0);
            np_sess_report rep;
            np_sess_result one;
            const np_sess_result *x;
            np_error err;

            print_message("  %s (%s)\n", t[i].what,
                          path == 0 ? "open" : "daemon");
            fake_start(&f, 0);
            memset(&o, 0, sizeof(o));
            o.pm = f.pm;
            o.owner = path == 0 ? NULL : "console";
            s = np_session_new(&o, &err);
            assert_non_null(s);
            if (path == 0) {
                assert_int_equal(np_session_apply(s, &r, 1, &rep, &err), NP_OK);
                assert_int_equal(rep.n, 1);
                x = &rep.r[0];
                assert_int_equal(rep.rolled_back, 0);
            } else {
                assert_int_equal(
                    np_session_map_rule(s, &r, NP_PM_NONE, NULL, &one, &err),
                    NP_OK);
                x = &one;
            }
            assert_int_equal(x->outcome, t[i].want);
            assert_int_equal(x->alternate, t[i].alternate);
            assert_int_equal(x->offered_port, t[i].offered);
            if (t[i].want == NP_SESS_MAPPED)
                assert_int_equal(np_addr_port(&x->pm.external), t[i].ext);
            if (path == 0)
                np_sess_report_free(&rep);
            np_session_free(s);
            /* the stand-in was deleted exactly once, nothing else was */
            assert_int_equal(fake_stop(&f, t[i].port), t[i].offered ? 1 : 0);
        }
    }
}

/* Rollback: said only when this run made something. */
static void rollback_table(void **state)
{
    static const struct {
        const char *what;
        uint16_t first, second; /* both essential */
        enum np_sess_outcome want_first, want_second;
        int rolled_back;
        int first_deleted;
    } t[] = {
        {"3074 made, then essential 88 refused: 3074 removed", 3074, POLICY,
         NP_SESS_ROLLED_BACK, NP_SESS_REFUSED, 1, 1},
        {"88 refused first: nothing was made, nothing to roll back", POLICY,
         3074, NP_SESS_REFUSED, NP_SESS_NOT_TRIED, 0, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct fake f;
        np_sess_opts o;
        np_session *s;
        np_sess_rule r[2];
        np_sess_report rep;
        np_error err;

        print_message("  %s\n", t[i].what);
        r[0] = rule(NP_PM_UDP, t[i].first, 0, 1);
        r[1] = rule(NP_PM_UDP, t[i].second, 0, 1);
        fake_start(&f, 0);
        memset(&o, 0, sizeof(o));
        o.pm = f.pm;
        s = np_session_new(&o, &err);
        assert_int_equal(np_session_apply(s, r, 2, &rep, &err), NP_OK);
        assert_int_equal(rep.r[0].outcome, t[i].want_first);
        assert_int_equal(rep.r[1].outcome, t[i].want_second);
        assert_int_equal(rep.rolled_back, t[i].rolled_back);
        assert_int_equal(rep.rollback_ran, 1);
        assert_non_null(strstr(rep.reason, "essential"));
        assert_int_equal(rep.ok, 0);
        np_sess_report_free(&rep);
        np_session_free(s);
        assert_int_equal(fake_stop(&f, t[i].first), t[i].first_deleted);
    }
}

/* The caller's flag stops the run before anything is asked. */
static void cancelled_before(void **state)
{
    volatile sig_atomic_t flag = 1;
    struct fake f;
    np_sess_opts o;
    np_session *s;
    np_sess_rule r = rule(NP_PM_UDP, 3074, 0, 0);
    np_sess_report rep;
    np_error err;

    (void)state;
    fake_start(&f, 0);
    memset(&o, 0, sizeof(o));
    o.pm = f.pm;
    o.cancel = &flag;
    s = np_session_new(&o, &err);
    assert_int_equal(np_session_apply(s, &r, 1, &rep, &err), NP_ECANCELED);
    assert_int_equal(rep.interrupted, 1);
    assert_int_equal(rep.rolled_back, 0);
    assert_int_equal(rep.r[0].outcome, NP_SESS_NOT_TRIED);
    assert_string_equal(rep.reason, "interrupted");
    np_sess_report_free(&rep);
    np_session_free(s);
    assert_int_equal(fake_stop(&f, 3074), 0);
}

/* A PCP mapping is recorded with its nonce; a second open renews it with
 * the same nonce; close removes it with that nonce and forgets it. */
static void store_records_and_close(void **state)
{
    struct fake f;
    np_sess_opts o;
    np_session *s;
    np_sess_rule r = rule(NP_PM_UDP, HELD_B, 1, 0);
    np_sess_report rep;
    np_store *st = np_store_new("/proc/np-no-such-dir/never-saved.json", NULL);
    np_error err;
    uint8_t nonce[12];

    (void)state;
    fake_start(&f, 1);
    memset(&o, 0, sizeof(o));
    o.pm = f.pm;
    o.store = st;
    s = np_session_new(&o, &err);
    assert_int_equal(np_session_apply(s, &r, 1, &rep, &err), NP_OK);
    assert_int_equal(rep.r[0].outcome, NP_SESS_MAPPED);
    assert_int_equal(rep.r[0].alternate, 1);
    /* the save failed (a directory that cannot exist): said, not hidden */
    assert_int_equal(rep.store_error, 1);
    assert_int_equal(st->n, 1);
    assert_string_equal(st->e[0].owner, "cli");
    assert_int_equal(st->e[0].proto, NP_PM_PCP);
    assert_int_equal(st->e[0].internal_port, HELD_B);
    assert_int_equal(st->e[0].external_port, HELD_B + 1);
    memcpy(nonce, st->e[0].nonce, 12);
    np_sess_report_free(&rep);
    assert_int_equal(np_session_apply(s, &r, 1, &rep, &err), NP_OK);
    assert_memory_equal(rep.r[0].pm.nonce, nonce, 12);
    np_sess_report_free(&rep);
    assert_int_equal(np_session_close(s, &r, 1, 0, &rep, &err), NP_OK);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.r[0].outcome, NP_SESS_REMOVED);
    assert_int_equal(st->n, 0);
    np_sess_report_free(&rep);
    np_session_free(s);
    np_store_free(st);
    assert_int_equal(fake_stop(&f, HELD_B), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outcome_names),
        cmocka_unit_test(plan_proto_table),
        cmocka_unit_test(rules_add_merges),
        cmocka_unit_test(rules_from_resolved),
        cmocka_unit_test(judge_table_rows),
        cmocka_unit_test(one_answer_one_meaning),
        cmocka_unit_test(rollback_table),
        cmocka_unit_test(cancelled_before),
        cmocka_unit_test(store_records_and_close),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
