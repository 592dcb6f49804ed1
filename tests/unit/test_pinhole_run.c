/*
 * Unit tests of the IPv6 pinhole policy (pinhole_run.c): the renew-or-add
 * decision as a table (one row, one router answer and what natpilot does
 * with it, for open --ipv6 and the daemon alike), the status words, and
 * the runs' paths that ask the router nothing (cancelled before the first
 * request, an empty store, a rollback of pinholes the store no longer
 * has).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "natpilot/pinhole_run.h"

static void renew_or_add(void **state)
{
    /* known: ours in the store / held; stored: its protocol; via: asked;
     * updated + outcome: the router's answer to the renewal. */
    static const struct {
        int known;
        enum np_pm_proto stored, via;
        int updated;
        enum np_pm_outcome outcome;
        enum np_ph_action want;
    } rows[] = {
        /* not ours: a new pinhole */
        {0, NP_PM_NONE, NP_PM_NONE, 0, NP_PM_OK, NP_PH_ADD},
        {0, NP_PM_UPNP, NP_PM_NONE, 0, NP_PM_OK, NP_PH_ADD},
        {0, NP_PM_NONE, NP_PM_PCP, 0, NP_PM_OK, NP_PH_ADD},
        /* ours: renew, by any protocol or the one asked */
        {1, NP_PM_UPNP, NP_PM_NONE, 0, NP_PM_OK, NP_PH_UPDATE},
        {1, NP_PM_PCP, NP_PM_NONE, 0, NP_PM_OK, NP_PH_UPDATE},
        {1, NP_PM_UPNP, NP_PM_UPNP, 0, NP_PM_OK, NP_PH_UPDATE},
        {1, NP_PM_PCP, NP_PM_PCP, 0, NP_PM_OK, NP_PH_UPDATE},
        /* ours, but another protocol asked (--via): a new one */
        {1, NP_PM_UPNP, NP_PM_PCP, 0, NP_PM_OK, NP_PH_ADD},
        {1, NP_PM_PCP, NP_PM_UPNP, 0, NP_PM_OK, NP_PH_ADD},
        /* stored without a protocol (never granted): a new one */
        {1, NP_PM_NONE, NP_PM_NONE, 0, NP_PM_OK, NP_PH_ADD},
        /* the renewal's answer: NoSuchEntry (704, a restart) adds it
         * again; any other answer stands */
        {1, NP_PM_UPNP, NP_PM_NONE, 1, NP_PM_NOT_FOUND, NP_PH_ADD},
        {1, NP_PM_UPNP, NP_PM_NONE, 1, NP_PM_OK, NP_PH_DONE},
        {1, NP_PM_UPNP, NP_PM_NONE, 1, NP_PM_POLICY, NP_PH_DONE},
        {1, NP_PM_UPNP, NP_PM_NONE, 1, NP_PM_TIMEOUT, NP_PH_DONE},
        {1, NP_PM_UPNP, NP_PM_NONE, 1, NP_PM_FAILED, NP_PH_DONE},
        {1, NP_PM_PCP, NP_PM_PCP, 1, NP_PM_THIRD_PARTY, NP_PH_DONE},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum np_ph_action got =
            np_ph_decide(rows[i].known, rows[i].stored, rows[i].via,
                         rows[i].updated, rows[i].outcome);
        if (got != rows[i].want)
            fail_msg("row %zu: got %d, want %d", i, (int)got,
                     (int)rows[i].want);
    }
}

static void status_words(void **state)
{
    (void)state;
    assert_string_equal(np_ph_status_name(NP_PM_OK), "open");
    assert_string_equal(np_ph_status_name(NP_PM_OTHER_PORT), "open");
    assert_string_equal(np_ph_status_name(NP_PM_POLICY), "refused");
    assert_string_equal(np_ph_status_name(NP_PM_THIRD_PARTY),
                        "third-party-refused");
    assert_string_equal(np_ph_status_name(NP_PM_TIMEOUT), "timeout");
    assert_string_equal(np_ph_status_name(NP_PM_UNSUPPORTED), "unsupported");
    assert_string_equal(np_ph_status_name(NP_PM_NOT_FOUND), "not-found");
    assert_string_equal(np_ph_status_name(NP_PM_CONFLICT), "failed");
    assert_string_equal(np_ph_status_name(NP_PM_FAILED), "failed");
}

static np_sess_rule rule(int transport, uint16_t port)
{
    np_sess_rule r;

    memset(&r, 0, sizeof(r));
    r.transport = transport;
    r.port = port;
    r.essential = 1;
    return r;
}

/* Cancelled before the first request: nothing asked, nothing stored. */
static void apply_cancelled(void **state)
{
    static volatile sig_atomic_t flag = 1;
    np_sess_rule rules[2];
    np_ph_store st;
    np_ph_report rep;
    np_ph_run run;
    np_pinhole *ph;
    np_error err;

    (void)state;
    rules[0] = rule(NP_PM_UDP, 3074);
    rules[1] = rule(NP_PM_TCP, 3074);
    memset(&st, 0, sizeof(st));
    memset(&run, 0, sizeof(run));
    run.rules = rules;
    run.n_rules = 2;
    run.lifetime = 3600;
    run.cancel = &flag;
    np_error_clear(&err);
    ph = np_pinhole_new(NULL, &err);
    assert_non_null(ph);
    assert_int_equal(np_ph_apply(ph, &st, &run, &rep, &err), NP_ECANCELED);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.interrupted, 1);
    assert_int_equal(rep.opened + rep.refused, 0);
    assert_int_equal(rep.store_changed, 0);
    assert_int_equal(st.n, 0);
    np_ph_report_free(&rep);
    np_ph_report_free(&rep); /* zeroed: again is fine */
    np_pinhole_free(ph);
}

/* Close over an empty store: no request, nothing removed or failed. */
static void close_empty_store(void **state)
{
    np_sess_rule r = rule(NP_PM_UDP, 3074);
    np_ph_store st;
    np_ph_report rep;
    np_ph_run run;
    np_pinhole *ph;
    np_error err;

    (void)state;
    memset(&st, 0, sizeof(st));
    memset(&run, 0, sizeof(run));
    run.rules = &r;
    run.n_rules = 1;
    run.all = 1;
    ph = np_pinhole_new(NULL, &err);
    assert_non_null(ph);
    assert_int_equal(np_ph_close(ph, &st, &run, &rep, &err), NP_OK);
    assert_int_equal(rep.n, 0);
    assert_int_equal(rep.removed + rep.failed, 0);
    assert_int_equal(rep.store_changed, 0);
    np_ph_report_free(&rep);
    np_pinhole_free(ph);
}

/* A rollback only touches pinholes the run made and the store still has:
 * renewed ones stay, and one missing from the store is reported as left
 * (it cannot be found to remove) without asking the router. */
static void rollback_only_made(void **state)
{
    np_ph_item items[2];
    np_ph_report rep;
    np_ph_store st;
    np_pinhole *ph;
    np_error err;

    (void)state;
    memset(items, 0, sizeof(items));
    memset(&rep, 0, sizeof(rep));
    memset(&st, 0, sizeof(st));
    items[0].transport = NP_PM_UDP;
    items[0].made = 0; /* renewed: was there before the run */
    items[0].ok = 1;
    items[1].transport = NP_PM_TCP;
    items[1].made = 1;
    items[1].ok = 1;
    assert_int_equal(
        np_addr_parse(&items[1].internal, "[2001:db8::2]:3074", 0, &err),
        NP_OK);
    rep.items = items;
    rep.n = 2;
    ph = np_pinhole_new(NULL, &err);
    assert_non_null(ph);
    assert_int_equal(np_ph_rollback(ph, &st, &rep), 1);
    assert_int_equal(rep.rolled_back, 0);
    assert_int_equal(items[0].ok, 1);
    np_pinhole_free(ph);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renew_or_add),
        cmocka_unit_test(status_words),
        cmocka_unit_test(apply_cancelled),
        cmocka_unit_test(close_empty_store),
        cmocka_unit_test(rollback_only_made),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
