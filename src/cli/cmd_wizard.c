/*
 * natpilot wizard: the guided flow from "what do I play" to an Open NAT.
 *
 * The wizard asks and explains; the library decides and does the work:
 * the probe and the advice module (double NAT, manual forwards), the
 * mapping session (apply, verify), the outbound check. It calls them
 * directly, never another command, and shows the equivalent command line
 * so a player learns it for next time.
 * Every question can be answered by a flag, so the same flow runs
 * unattended and in tests. Nothing on the router changes before the player
 * says yes, and the session's rollback covers Ctrl-C during the change.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "natpilot/advice.h"
#include "natpilot/nat.h"
#include "natpilot/netinfo.h"
#include "natpilot/oui.h"
#include "natpilot/portmap.h"
#include "natpilot/probe.h"
#include "natpilot/profile.h"
#include "natpilot/session.h"
#include "natpilot/store.h"
#include "natpilot/stun.h"
#include "outbound.h"
#include "router_check.h"
#include "np_util.h"

#define MAX_GAMES   12
#define MAX_STUN    (1 + NP_PROBE_MAX_EXTRA)
#define MAX_CHOICES 16
#define STEPS       8

static const char usage[] =
    "usage: natpilot wizard [--device self|ADDRESS] [--platform NAME]\n"
    "                       [--game ID]... [--yes | --no-apply]\n"
    "                       [--lease SECONDS] [--via pcp|natpmp|upnp]\n"
    "                       [--stun HOST[:PORT]]... [--profiles DIR]\n"
    "                       [--save FILE | --no-save]\n"
    "                       [--outbound [--reflector HOST]]\n"
    "\n"
    "A guided set-up: looks at the network, asks which device and games,\n"
    "explains the NAT type in that console's own terms, shows the exact\n"
    "ports it would ask the router for, and changes nothing until you say\n"
    "yes. Every question can be answered by the flag beside it, so the\n"
    "wizard also runs unattended.\n"
    "\n"
    "  --device self|ADDRESS  the device you play on (this computer, or a\n"
    "                         console's address)\n"
    "  --platform NAME        xbox, playstation, switch or pc\n"
    "  --game ID              a game profile (repeatable; see natpilot\n"
    "                         profiles search)\n"
    "  --yes                  apply the plan without asking\n"
    "  --no-apply             show the plan, change nothing\n"
    "  --lease SECONDS        lease of each mapping (default 7200)\n"
    "  --via PROTO            use only PCP, NAT-PMP or UPnP\n"
    "  --stun HOST[:PORT]     STUN server(s), as for diagnose\n"
    "  --save FILE            write a natpilot daemon config to FILE\n"
    "  --no-save              do not offer to save one\n"
    "  --outbound             also check that the network lets the games'\n"
    "                         outbound ports through (verify --outbound)\n"
    "  --reflector HOST       TCP reflector for that check\n"
    "\n"
    "Exit: 0 Open at the end, 1 not Open (the steps to take are shown),\n"
    "2 usage or a question left unanswered without a terminal, 3 no\n"
    "network. Ctrl-C at any step leaves the router as it was.\n";

struct wiz {
    /* answers given as flags */
    const char *device_arg, *platform_arg, *lease_arg, *via_arg;
    uint32_t lease; /* --lease, checked; 0: the default */
    const char *profiles_dir, *save_path, *reflector;
    const char *games[MAX_GAMES];
    size_t n_games;
    const char *stun[MAX_STUN];
    size_t n_stun;
    int yes, no_apply, no_save, interactive, outbound;
    /* what the wizard found and was told */
    np_probe_obs obs;
    np_nat_verdict before;
    int probe_ok;
    struct router_check router; /* discovery, external address, table */
    int router_started;
    int outbound_rc; /* exit code of the outbound check, -1 when not run */
    int open_rc;     /* exit code of open, -1 when not run */
    int double_nat;  /* 1 yes, 0 no, -1 unknown */
    np_addr device;  /* empty: this computer */
    char device_text[NP_ADDRSTRLEN];
    unsigned platform;
    const char *platform_word;
    np_catalog *cat;
    const char *ids[MAX_GAMES + 1];
    size_t n_ids;
    np_resolved *res;
    size_t n_mappable;
    /* the mapping session (set up once the plan is shown) */
    np_store *store;
    np_session *sess;
    np_sess_rule *rules;
    size_t n_rules;
    np_pm_discovery sdisc;
    enum np_pm_proto plan_proto; /* what the session will use first */
    int sess_found;              /* the session's discovery found one */
};

static volatile sig_atomic_t wiz_cancelled;

static void on_sigint(int sig)
{
    (void)sig;
    wiz_cancelled = 1;
}

/* SIGINT interrupts a prompt (no SA_RESTART) so the wizard can say so. */
static void catch_sigint(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int cancelled_exit(void)
{
    printf("\n\nCancelled. Nothing on the router was changed.\n");
    return 130;
}

static void heading(int step, const char *title)
{
    char line[80];
    int n = snprintf(line, sizeof(line), "-- %d/%d  %s ", step, STEPS, title);

    if (n < 0)
        n = 0;
    while (n < 78 && (size_t)n < sizeof(line) - 1)
        line[n++] = '-';
    line[n] = '\0';
    printf("\n%s%s%s\n", np_c_bold(), line, np_c_reset());
}

/*
 * Ask a question. The answer (trimmed) goes to buf; Enter gives def.
 * Returns 0, 1 when cancelled (Ctrl-C or end of input), or 2 when there is
 * no terminal to ask (the caller names the flag).
 */
static int ask(struct wiz *w, const char *question, const char *def, char *buf,
               size_t size)
{
    size_t n;

    if (!w->interactive)
        return 2;
    printf("%s%s%s%s%s ", question, def ? " [" : "", def ? def : "",
           def ? "]" : "", ":");
    fflush(stdout);
    if (fgets(buf, (int)size, stdin) == NULL || wiz_cancelled)
        return 1;
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\r' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (n == 0 && def != NULL)
        snprintf(buf, size, "%s", def);
    return 0;
}

static int needs_flag(const char *flag, const char *what)
{
    np_out_errorf("wizard",
                  "no terminal to ask %s: answer it with %s (see "
                  "natpilot wizard --help)",
                  what, flag);
    return NP_EXIT_USAGE;
}

static int yes_no(struct wiz *w, const char *question, int def, int *out)
{
    char q[256], buf[16];
    int rc;

    snprintf(q, sizeof(q), "%s [%s]", question, def ? "Y/n" : "y/N");
    for (;;) {
        rc = ask(w, q, NULL, buf, sizeof(buf));
        if (rc != 0)
            return rc;
        if (buf[0] == '\0') {
            *out = def;
            return 0;
        }
        if (strcasecmp(buf, "y") == 0 || strcasecmp(buf, "yes") == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(buf, "n") == 0 || strcasecmp(buf, "no") == 0) {
            *out = 0;
            return 0;
        }
        printf("  Please answer y or n.\n");
    }
}

/* ---- step 1: the network ------------------------------------------------ */

static void progress_cb(void *ctx, const char *step)
{
    (void)ctx;
    np_progress(step);
}

static const char *console_label(const struct wiz *w, const np_nat_verdict *v,
                                 char *buf, size_t size)
{
    switch (w->platform) {
    case NP_PLAT_XBOX:
        snprintf(buf, size, "Xbox NAT type %s", np_xbox_name(v->xbox));
        break;
    case NP_PLAT_PLAYSTATION:
        snprintf(buf, size, "PlayStation NAT %s", np_psn_name(v->psn));
        break;
    case NP_PLAT_SWITCH:
        snprintf(buf, size, "Switch NAT type %s", np_switch_name(v->sw));
        break;
    default:
        snprintf(buf, size, "NAT %s (Xbox %s, PlayStation %s, Switch %s)",
                 np_generic_name(v->generic), np_xbox_name(v->xbox),
                 np_psn_name(v->psn), np_switch_name(v->sw));
        break;
    }
    return buf;
}

static int step_network(struct wiz *w)
{
    np_probe_config cfg;
    np_error err;
    size_t i, n_ok = 0;
    char a[NP_ADDRSTRLEN], b[NP_ADDRSTRLEN];

    heading(1, "Your network");
    np_probe_config_init(&cfg);
    for (i = 0; i < w->n_stun; i++) {
        np_addr *slot = n_ok == 0 ? &cfg.server : &cfg.extra[n_ok - 1];
        np_progress("resolving STUN servers");
        if (np_addr_resolve(slot, w->stun[i], NP_STUN_DEFAULT_PORT, AF_UNSPEC,
                            &err) == NP_OK)
            n_ok++;
    }
    /* The router is asked on its own thread while the STUN probe runs. */
    router_check_start(&w->router);
    w->router_started = 1;
    if (n_ok > 0) {
        cfg.n_extra = n_ok - 1;
        cfg.progress = progress_cb;
        w->probe_ok = np_probe_run(&cfg, &w->obs, &err) == NP_OK;
    }
    np_progress("asking the router");
    router_check_finish(&w->router);
    np_progress_done();
    if (wiz_cancelled)
        return cancelled_exit();

    if (!w->probe_ok) {
        np_out_errorf("wizard", "no STUN server could be reached: is this "
                                "computer online?");
        return NP_EXIT_NETWORK;
    }
    np_nat_classify(&w->obs, 0, &w->before);
    router_check_conclude(&w->router, &w->obs, &w->before);
    w->double_nat = w->router.dnat.verdict;
    if (w->before.udp == NP_UDP_NO_ANSWER) {
        np_out_wrap("  ", "  ", w->before.reason);
        return NP_EXIT_NETWORK;
    }

    if (np_addr_is_set(&w->router.disc.gateway))
        printf("  Router        %s\n",
               np_addr_ip_str(&w->router.disc.gateway, a, sizeof(a)));
    if (w->router.any) {
        printf("  It answers   %s%s%s%s\n",
               w->router.disc.has[NP_PM_PCP] ? " PCP" : "",
               w->router.disc.has[NP_PM_NATPMP] ? " NAT-PMP" : "",
               w->router.disc.has[NP_PM_UPNP] ? " UPnP-IGD" : "",
               w->router.disc.has[NP_PM_UPNP]
                   ? (w->router.disc.igd_version == 2 ? " v2" : " v1")
                   : "");
    } else {
        printf("  It answers    none of PCP, NAT-PMP or UPnP (they are off, "
               "or not there)\n");
    }
    if (w->obs.test[0].answered) {
        printf("  Public IP     %s as the internet sees it",
               np_addr_ip_str(&w->obs.test[0].mapped, a, sizeof(a)));
        if (np_addr_is_set(&w->router.external))
            printf("; the router says %s",
                   np_addr_ip_str(&w->router.external, b, sizeof(b)));
        else if (w->router.any)
            printf("; the router cannot say");
        printf("\n");
    }
    if (w->double_nat == NP_ADVICE_DNAT_YES)
        np_out_wrap("  ", "  ", w->router.dnat.text);
    printf("  NAT today     %s\n", np_generic_name(w->before.generic));
    printf("  Mapping       %s\n", np_behaviour_name(w->before.mapping));
    printf("  Filtering     %s\n", np_behaviour_name(w->before.filtering));
    return -1;
}

/* ---- step 2: the device -------------------------------------------------- */

struct choice {
    np_addr addr;
    char vendor[96];
    const char *hint; /* platform word suggested by the vendor, or NULL */
};

static int step_device_list(struct wiz *w, struct choice *ch)
{
    np_neighbour *nb = NULL;
    size_t n_nb = 0, n = 0, i;
    char a[NP_ADDRSTRLEN], mac[24];
    np_error err;

    if (np_netinfo_neighbours(&nb, &n_nb, &err) != NP_OK)
        n_nb = 0;
    for (i = 0; i < n_nb && n < MAX_CHOICES; i++) {
        if (!nb[i].complete ||
            np_addr_same_ip(&nb[i].ip, &w->router.disc.gateway))
            continue;
        memset(&ch[n], 0, sizeof(ch[n]));
        ch[n].addr = nb[i].ip;
        if (np_oui_lookup(NULL, nb[i].mac, ch[n].vendor, sizeof(ch[n].vendor),
                          NULL) == NP_OK)
            ch[n].hint = np_oui_console_hint(ch[n].vendor);
        else
            snprintf(ch[n].vendor, sizeof(ch[n].vendor), "%s",
                     np_netinfo_mac_str(nb[i].mac, mac, sizeof(mac)));
        n++;
    }
    free(nb);
    printf("  1  this computer     %s\n",
           np_addr_ip_str(&w->obs.local_m, a, sizeof(a)));
    for (i = 0; i < n; i++)
        printf("  %zu  %-17s %s%s%s\n", i + 2,
               np_addr_ip_str(&ch[i].addr, a, sizeof(a)), ch[i].vendor,
               ch[i].hint ? "  <- looks like a " : "",
               ch[i].hint ? ch[i].hint : "");
    printf("  or type a console's address\n");
    return (int)n;
}

/* The answer at "Device": 0 taken, -1 not understood. */
static int take_device(struct wiz *w, const struct choice *ch, size_t n,
                       const char *answer)
{
    uint64_t k = 0; /* 0 when too large: not on the list */

    if (strcmp(answer, "1") == 0 || strcasecmp(answer, "self") == 0) {
        w->device_arg = "self";
        return 0;
    }
    if (np__parse_u64(answer, UINT64_MAX, &k) != NP_EPARSE) {
        if (k < 2 || k >= (uint64_t)n + 2)
            return -1; /* a number, but not one on the list */
        w->device = ch[k - 2].addr;
        if (ch[k - 2].hint != NULL && w->platform_arg == NULL)
            w->platform_arg = ch[k - 2].hint;
        return 0;
    }
    return np_addr_parse(&w->device, answer, 0, NULL) == NP_OK ? 0 : -1;
}

static int ask_device(struct wiz *w)
{
    struct choice ch[MAX_CHOICES];
    char buf[256], hint[200];
    size_t n = (size_t)step_device_list(w, ch);
    int rc;

    for (;;) {
        rc = ask(w, "Device", "1", buf, sizeof(buf));
        if (rc == 2)
            return needs_flag("--device self|ADDRESS", "which device");
        if (rc == 1)
            return cancelled_exit();
        if (take_device(w, ch, n, buf) == 0)
            return -1;
        /* A wrong answer asks again, with what would be understood. */
        if (n > 0)
            snprintf(hint, sizeof(hint),
                     "'%.60s' is not one of the choices: type a number from 1 "
                     "to %zu, or a console's IP address (like 192.168.1.20).",
                     buf, n + 1);
        else
            snprintf(hint, sizeof(hint),
                     "'%.60s' is not one of the choices: type 1 for this "
                     "computer, or a console's IP address (like "
                     "192.168.1.20).",
                     buf);
        np_out_wrap("  ", "  ", hint);
    }
}

static int step_device(struct wiz *w)
{
    char buf[256];
    np_error err;
    int rc;

    heading(2, "Which device do you play on?");
    if (w->device_arg == NULL) {
        if ((rc = ask_device(w)) >= 0)
            return rc;
    } else if (strcmp(w->device_arg, "self") != 0 &&
               np_addr_parse(&w->device, w->device_arg, 0, &err) != NP_OK) {
        np_out_error("wizard", &err);
        return NP_EXIT_USAGE;
    }
    if (np_addr_is_set(&w->device) &&
        np_addr_same_ip(&w->device, &w->obs.local_m))
        memset(&w->device, 0, sizeof(w->device)); /* that is this computer */
    if (np_addr_is_set(&w->device)) {
        np_addr_ip_str(&w->device, w->device_text, sizeof(w->device_text));
        printf("  Device: %s\n", w->device_text);
        snprintf(buf, sizeof(buf),
                 "Tip: reserve %s for this console in the router's DHCP "
                 "settings, so that forwards keep pointing at it.",
                 w->device_text);
        np_out_wrap("  ", "  ", buf);
    } else {
        np_addr_ip_str(&w->obs.local_m, w->device_text, sizeof(w->device_text));
        printf("  Device: this computer (%s)\n", w->device_text);
    }
    return -1;
}

/* ---- step 3: platform and games ----------------------------------------- */

static const char *platform_profile(unsigned platform)
{
    switch (platform) {
    case NP_PLAT_XBOX:
        return "xbox-network";
    case NP_PLAT_PLAYSTATION:
        return "playstation-network";
    case NP_PLAT_SWITCH:
        return "nintendo-switch-online";
    default:
        return "generic-pc";
    }
}

static int add_id(struct wiz *w, const char *id)
{
    size_t i;

    for (i = 0; i < w->n_ids; i++)
        if (strcmp(w->ids[i], id) == 0)
            return 0;
    if (w->n_ids == sizeof(w->ids) / sizeof(w->ids[0]))
        return -1;
    w->ids[w->n_ids++] = id;
    return 0;
}

static int pick_games(struct wiz *w)
{
    char buf[128], *words[8], *save = NULL, *tok;
    np_search_hit hits[6];
    size_t n_hits, i, nw;
    int rc;

    for (;;) {
        rc = ask(w,
                 w->n_ids > 1 ? "Another game (Enter when done)"
                              : "A game you play (Enter for none)",
                 NULL, buf, sizeof(buf));
        if (rc == 1)
            return cancelled_exit();
        if (rc == 2 || buf[0] == '\0')
            return -1;
        nw = 0;
        for (tok = strtok_r(buf, " ", &save); tok != NULL && nw < 8;
             tok = strtok_r(NULL, " ", &save))
            words[nw++] = tok;
        if (np_catalog_search(w->cat, (const char *const *)words, nw,
                              w->platform, hits, 6, &n_hits) != NP_OK ||
            n_hits == 0) {
            printf("  No game matches; try other words.\n");
            continue;
        }
        for (i = 0; i < n_hits; i++)
            printf("  %zu  %s\n", i + 1, hits[i].profile->name);
        rc = ask(w, "Which one (Enter: none of these)", NULL, buf, sizeof(buf));
        if (rc == 1)
            return cancelled_exit();
        if (buf[0] != '\0') {
            uint64_t k = 0;

            if (np__parse_u64(buf, n_hits, &k) != NP_OK || k < 1) {
                printf("  Not a number from the list.\n");
                continue;
            }
            if (add_id(w, hits[k - 1].profile->id) != 0)
                return -1;
            printf("  Added %s.\n", hits[k - 1].profile->name);
        }
    }
}

/* The platform: from --platform or the vendor's hint, else asked (a wrong
 * answer asks again). Returns -1 to go on, else an exit code. */
static int ask_platform(struct wiz *w)
{
    char buf[64], q[128];
    int rc;

    if (w->platform_arg == NULL && !np_addr_is_set(&w->device))
        w->platform_arg = "pc";
    if (w->platform_arg != NULL)
        return -1;
    snprintf(q, sizeof(q),
             "Which platform is %s (xbox, playstation, switch, pc)",
             w->device_text);
    for (;;) {
        rc = ask(w, q, NULL, buf, sizeof(buf));
        if (rc == 2)
            return needs_flag("--platform NAME", "the platform");
        if (rc == 1)
            return cancelled_exit();
        if (np_platform_parse(buf, &w->platform) == NP_OK) {
            w->platform_arg = np_platform_name(w->platform);
            return -1;
        }
        printf("  Please answer xbox, playstation, switch or pc.\n");
    }
}

static int step_games(struct wiz *w)
{
    np_diags diags;
    np_error err;
    size_t i;
    int rc;

    heading(3, "Platform and games");
    if ((rc = ask_platform(w)) >= 0)
        return rc;
    if (np_platform_parse(w->platform_arg, &w->platform) != NP_OK) {
        np_out_errorf("wizard",
                      "'%s' is not a platform: xbox, playstation, switch or "
                      "pc",
                      w->platform_arg);
        return NP_EXIT_USAGE;
    }
    w->platform_word = np_platform_name(w->platform);
    printf("  Platform: %s\n", w->platform_word);

    np_diags_init(&diags);
    w->cat = np_catalog_new();
    if (w->cat == NULL || np_catalog_load_default(w->cat, w->profiles_dir,
                                                  &diags, &err) == NP_ENOMEM) {
        np_diags_free(&diags);
        np_out_errorf("wizard", "cannot load the profile catalog");
        return NP_EXIT_USAGE;
    }
    np_diags_free(&diags);
    if (np_catalog_find(w->cat, platform_profile(w->platform)) != NULL)
        add_id(w, platform_profile(w->platform));
    for (i = 0; i < w->n_games; i++) {
        if (np_catalog_find(w->cat, w->games[i]) == NULL) {
            np_out_errorf("wizard",
                          "no game profile '%s' (natpilot profiles search "
                          "WORDS finds its id)",
                          w->games[i]);
            return NP_EXIT_USAGE;
        }
        add_id(w, w->games[i]);
    }
    if (w->n_games == 0 && w->interactive) {
        rc = pick_games(w);
        if (rc >= 0)
            return rc;
    }
    if (w->n_ids == 0) {
        np_out_errorf("wizard",
                      "nothing to map: no platform profile for %s "
                      "and no game chosen",
                      w->platform_word);
        return NP_EXIT_USAGE;
    }
    if (np_resolve(w->cat, w->ids, w->n_ids, w->platform, &w->res, &err) !=
        NP_OK) {
        np_out_error("wizard", &err);
        return NP_EXIT_USAGE;
    }
    {
        char list[1024];
        size_t n = 0;

        list[0] = '\0';
        for (i = 0; i < w->res->n_profiles && n < sizeof(list); i++) {
            int k = snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
                             w->res->profiles[i]->name);
            if (k < 0)
                break;
            n += (size_t)k;
        }
        np_out_wrap("  Profiles: ", "            ", list);
    }
    return -1;
}

/* ---- step 4: the diagnosis ------------------------------------------------
 */

static int step_diagnosis(struct wiz *w)
{
    char label[96];

    heading(4, "What your network does to game traffic");
    printf("  Today: %s%s%s\n", np_c_bold(),
           console_label(w, &w->before, label, sizeof(label)), np_c_reset());
    np_out_wrap("  ", "  ", w->before.reason);
    if (np_addr_is_set(&w->device))
        np_out_wrap("  ", "  ",
                    "(Measured from this computer: the console sits behind "
                    "the same router, so it sees the same NAT.)");
    if (w->before.caveat[0] != '\0')
        np_out_wrap("  Note: ", "  Note: ", w->before.caveat);
    if (w->before.udp == NP_UDP_BLOCKED)
        np_out_wrap("  ", "  ", w->before.advice);
    return -1;
}

static void show_command(char **argv, int argc);

/* The outbound side: can this network reach the games' servers at all? */
static int check_outbound(struct wiz *w)
{
    struct outbound_opts o;
    struct outbound_report r;
    char *argv[48];
    int argc = 0, go = w->outbound, rc;
    size_t i;

    if (w->res == NULL || w->res->n_outbound == 0)
        return -1;
    /* Asked only in a fully interactive run; unattended, --outbound says. */
    if (!go && w->interactive && !w->yes && !w->no_apply) {
        rc = yes_no(w, "Check the games' outbound ports too?", 0, &go);
        if (rc == 1)
            return cancelled_exit();
    }
    if (!go)
        return -1;
    outbound_opts_init(&o);
    o.platform = w->platform_word;
    o.profiles_dir = w->profiles_dir;
    o.reflector = w->reflector;
    if (w->n_stun > 0)
        o.stun[o.n_stun++] = w->stun[0];
    for (i = 0; i < w->n_ids && o.n_ids < OUTBOUND_MAX_IDS; i++)
        o.ids[o.n_ids++] = w->ids[i];

    /* The same check as a command line, for next time. */
    argv[argc++] = (char *)"verify";
    argv[argc++] = (char *)"--outbound";
    argv[argc++] = (char *)"--platform";
    argv[argc++] = (char *)w->platform_word;
    if (w->n_stun > 0) {
        argv[argc++] = (char *)"--stun";
        argv[argc++] = (char *)w->stun[0];
    }
    if (w->reflector != NULL) {
        argv[argc++] = (char *)"--reflector";
        argv[argc++] = (char *)w->reflector;
    }
    if (w->profiles_dir != NULL) {
        argv[argc++] = (char *)"--profiles";
        argv[argc++] = (char *)w->profiles_dir;
    }
    for (i = 0; i < w->n_ids && argc < 47; i++)
        argv[argc++] = (char *)w->ids[i];
    show_command(argv, argc);
    fflush(stdout);
    w->outbound_rc = outbound_check("verify --outbound", &o, &r);
    outbound_print(&r);
    outbound_report_free(&r);
    if (np_addr_is_set(&w->device))
        np_out_wrap("  ", "  ",
                    "(Tested from this computer: the console shares its "
                    "network, so the same ports are open or blocked for it.)");
    return wiz_cancelled ? cancelled_exit() : -1;
}
/* ---- steps 5 and 6: the plan and the change ------------------------------ */

static void print_plan(struct wiz *w)
{
    char ports[96], text[320];
    size_t i;

    w->n_mappable = 0;
    for (i = 0; i < w->res->n_inbound; i++) {
        const np_rule *r = &w->res->inbound[i];
        (void)np_advice_rule_ports(r, ports, sizeof(ports));
        if (r->broad) {
            snprintf(text, sizeof(text),
                     "not mapped: %s %s (%s) -- the source advises a huge "
                     "range; natpilot never forwards that to one device.%s%s",
                     np_proto_name(r->protocol), ports, r->profile_id,
                     r->note ? " " : "", r->note ? r->note : "");
            np_out_wrap("    ", "    ", text);
            continue;
        }
        w->n_mappable++;
        printf("  %-3s %-13s -> %s  (%s)\n", np_proto_name(r->protocol), ports,
               w->device_text, r->profile_id);
        if (r->feature != NULL) {
            snprintf(text, sizeof(text), "for %s", r->feature);
            np_out_wrap("        ", "        ", text);
        }
        if (r->essential)
            printf("        %sessential%s: the NAT type depends on it\n",
                   np_c_warn(), np_c_reset());
    }
}

/* Build the argv of open/verify: options first, then the profiles. */
static int build_argv(const struct wiz *w, const char *cmd, char **argv,
                      size_t max)
{
    size_t n = 0, i;

    argv[n++] = (char *)cmd;
    argv[n++] = (char *)"--platform";
    argv[n++] = (char *)w->platform_word;
    if (np_addr_is_set(&w->device)) {
        argv[n++] = (char *)"--for";
        argv[n++] = (char *)w->device_text;
    }
    if (w->lease_arg != NULL && strcmp(cmd, "open") == 0) {
        argv[n++] = (char *)"--lease";
        argv[n++] = (char *)w->lease_arg;
    }
    if (w->via_arg != NULL) {
        argv[n++] = (char *)"--via";
        argv[n++] = (char *)w->via_arg;
    }
    /* No --stun on verify: the wizard checks the router's answers
     * (np_session_verify), not reachability through a STUN server, and
     * the line shown must be what it did. */
    if (w->profiles_dir != NULL) {
        argv[n++] = (char *)"--profiles";
        argv[n++] = (char *)w->profiles_dir;
    }
    for (i = 0; i < w->n_ids && n + 1 < max; i++)
        argv[n++] = (char *)w->ids[i];
    argv[n] = NULL;
    return (int)n;
}

static void show_command(char **argv, int argc)
{
    char line[1024];
    size_t n = 0;
    int i, k;

    line[0] = '\0';
    for (i = 0; i < argc && n < sizeof(line); i++) {
        k = snprintf(line + n, sizeof(line) - n, " %s", argv[i]);
        if (k < 0)
            break;
        n += (size_t)k;
    }
    np_out_wrapf("  ", "      ", "%s$ natpilot%s%s", np_c_dim(), line,
                 np_c_reset());
}

static void manual_steps(struct wiz *w)
{
    np_advice_manual m;
    size_t i;

    heading(7, "What to do in the router");
    np_advice_manual_steps(w->res, w->platform, w->device_text,
                           np_addr_is_set(&w->device), w->double_nat, &m);
    if (m.second_nat) {
        np_out_wrap("  ", "  ", m.second_nat_text);
        return;
    }
    np_out_wrap("  ", "  ", m.upnp_text);
    if (m.console) {
        np_out_wrap("    ", "    ", m.console_test);
        np_out_wrap("    ", "    ", m.verify_text);
    }
    np_out_wrap("  ", "  ", m.forward_intro);
    for (i = 0; i < m.n_fwd; i++)
        printf("      %s  external %-13s -> %s, same port%s\n",
               m.fwd[i].protocol == NP_PROTO_TCP ? "TCP" : "UDP",
               m.fwd[i].ports, w->device_text, m.fwd[i].several ? "s" : "");
    if (m.n_left_out > 0)
        printf("      (and %zu more rules: natpilot profiles show lists "
               "them)\n",
               m.n_left_out);
    if (m.dhcp_text[0] != '\0')
        np_out_wrap("  ", "  ", m.dhcp_text);
    np_out_wrap("  ", "  ", m.no_dmz);
}

/* ---- the mapping session ------------------------------------------------- */

static void session_opts(const struct wiz *w, np_sess_opts *so)
{
    memset(so, 0, sizeof(*so));
    so->device = w->device;
    so->lease = w->lease;
    so->via = w->via_arg != NULL ? np_pm_proto_parse(w->via_arg) : NP_PM_NONE;
    so->cancel = &wiz_cancelled;
    so->store = w->store;
}

/*
 * The store, the session and its discovery, before the plan is shown: the
 * plan then names the protocol the session will use for this device (not
 * the one diagnose's discovery happened to prefer). Nothing on the router
 * changes here. Returns -1 to go on, else an exit code.
 */
static int session_prepare(struct wiz *w)
{
    char path[NP_STORE_PATH_MAX];
    np_store_note note;
    np_sess_opts so;
    np_error err;
    int rc;

    np_error_clear(&err);
    memset(&note, 0, sizeof(note));
    if (np_store_default_path(path, sizeof(path), &err) != NP_OK ||
        (w->store = np_store_new(path, &err)) == NULL ||
        np_store_load(w->store, &note, &err) != NP_OK) {
        np_out_error("wizard", &err);
        return NP_EXIT_USAGE;
    }
    if (note.message[0] != '\0')
        np_out_wrap("  ", "  ", note.message);
    session_opts(w, &so);
    w->sess = np_session_new(&so, &err);
    w->rules = calloc(NP_SESS_MAX_RULES, sizeof(*w->rules));
    if (w->sess != NULL && w->rules == NULL)
        (void)np_error_set(&err, NP_ENOMEM, NULL, "out of memory");
    if (w->sess == NULL || w->rules == NULL) {
        np_out_error("wizard", &err);
        return np_exit_code(err.code);
    }
    if (np_sess_rules_from_resolved(w->rules, &w->n_rules, NP_SESS_MAX_RULES,
                                    w->res, NULL) != NP_OK) {
        np_out_errorf("wizard", "more than %d rules", NP_SESS_MAX_RULES);
        return NP_EXIT_USAGE;
    }
    np_progress("asking the router which protocol it takes");
    rc = np_session_discover(w->sess, NP_SESS_APPLY, &w->sdisc, &err);
    np_progress_done();
    if (rc == NP_ECANCELED || wiz_cancelled)
        return cancelled_exit();
    w->sess_found = rc == NP_OK;
    w->plan_proto =
        rc == NP_OK ? np_session_plan_proto(&w->sdisc, &so) : NP_PM_NONE;
    return -1;
}

/* One result's words: "mapped via pcp (external ...)", "conflict via
 * upnp: ...". */
static void result_text(const np_sess_result *r, char *line, size_t size)
{
    char ext[NP_ADDRSTRLEN];
    int quiet =
        r->outcome == NP_SESS_ROLLED_BACK || r->outcome == NP_SESS_NOT_TRIED;

    if (r->outcome == NP_SESS_MAPPED && np_addr_is_set(&r->pm.external))
        snprintf(line, size, "mapped via %s (external %s%s)",
                 np_pm_proto_name(r->pm.proto),
                 np_addr_str(&r->pm.external, ext, sizeof(ext)),
                 r->alternate ? ", another port the platform accepts" : "");
    else if (r->outcome == NP_SESS_MAPPED)
        snprintf(line, size, "mapped via %s", np_pm_proto_name(r->pm.proto));
    else
        snprintf(line, size, "%s%s%s%s%s", np_sess_outcome_name(r->outcome),
                 r->tried ? " via " : "",
                 r->tried ? np_pm_proto_name(r->pm.proto) : "",
                 !quiet && r->pm.message[0] ? ": " : "",
                 quiet ? "" : r->pm.message);
}

/* One line per rule of a session report. */
static void print_results(const struct wiz *w, const np_sess_report *rep)
{
    char line[400];
    size_t i;

    for (i = 0; i < rep->n; i++) {
        const np_sess_result *r = &rep->r[i];
        /* A rule the run never reached is named from the plan's list. */
        const np_sess_rule *rule =
            r->rule.port == 0 && i < w->n_rules ? &w->rules[i] : &r->rule;

        result_text(r, line, sizeof(line));
        np_out_wrapf("    ", "                  ", "%s%-3s %-5u%s  %s%s%s",
                     r->outcome == NP_SESS_MAPPED ? np_c_good() : np_c_warn(),
                     rule->transport == NP_PM_TCP ? "tcp" : "udp",
                     (unsigned)rule->port, np_c_reset(), line,
                     rule->essential ? " (essential)" : "",
                     r->rolled_back && r->outcome != NP_SESS_ROLLED_BACK
                         ? ", then removed again"
                         : "");
    }
    if (rep->third_party > 0)
        np_out_wrapf("  ", "  ",
                     "The router does not let this computer open ports for "
                     "another device (%s). That is a safety setting (UPnP "
                     "secure mode, PCP third-party off), and NAT-PMP cannot "
                     "do it at all: see what to do below.",
                     w->device_text);
    if (rep->reason[0] != '\0' && !rep->interrupted)
        np_out_wrap("  ", "  ", rep->reason);
    if (rep->store_error)
        np_out_wrapf("  ", "  ", "%sNote:%s %s", np_c_warn(), np_c_reset(),
                     rep->store_message);
}

/*
 * Ctrl-C came after the session's apply had ended (it stops and rolls back
 * by itself when the flag is raised during the run): take back what this
 * run mapped, with a session that is not cancelled, so that Ctrl-C at any
 * step leaves the router as it was. 1 removed, 0 nothing to remove, -1
 * failed.
 */
static int undo_apply(struct wiz *w, const np_sess_report *made)
{
    np_sess_rule *mine = calloc(made->n > 0 ? made->n : 1, sizeof(*mine));
    np_sess_report rep;
    np_sess_opts so;
    np_session *s = NULL;
    np_error err;
    size_t i, n = 0;
    int rc = -1;

    memset(&rep, 0, sizeof(rep));
    if (mine == NULL)
        return -1;
    for (i = 0; i < made->n; i++)
        if (made->r[i].outcome == NP_SESS_MAPPED)
            mine[n++] = made->r[i].rule;
    if (n == 0) {
        free(mine);
        return 0;
    }
    np_progress("removing this run's mappings");
    session_opts(w, &so);
    so.cancel = NULL;
    s = np_session_new(&so, &err);
    if (s != NULL && np_session_close(s, mine, n, 0, &rep, &err) == NP_OK &&
        rep.problems == 0)
        rc = 1;
    np_progress_done();
    np_sess_report_free(&rep);
    np_session_free(s);
    free(mine);
    return rc;
}

/* Say how an interrupted run left the router. Returns 130. */
static int interrupted(struct wiz *w, const np_sess_report *made, int stopped)
{
    int undone = 0;

    printf("\n");
    if (!stopped)
        undone = undo_apply(w, made);
    if (stopped ? made->rolled_back : undone == 1)
        np_out_wrap("", "",
                    "Interrupted: the mappings this run made were removed "
                    "again; the router's table is as before.");
    else if (stopped || undone == 0)
        np_out_wrap("", "",
                    "Interrupted before anything was mapped: nothing was "
                    "changed.");
    else
        np_out_wrap("", "",
                    "Interrupted, but removing this run's mappings failed: "
                    "natpilot close --all removes them.");
    return 130;
}

/* Apply the plan through the session, then verify it. Returns -1 to go on,
 * else an exit code; *open_rc is 0 when every rule is mapped and
 * verified. */
static int apply_and_verify(struct wiz *w, int *open_rc)
{
    np_sess_report rep, vrep;
    np_error err;
    char *argv[64];
    int argc, rc, out = -1;

    memset(&rep, 0, sizeof(rep));
    memset(&vrep, 0, sizeof(vrep));
    np_error_clear(&err);
    heading(6, "Asking the router");
    argc = build_argv(w, "open", argv, sizeof(argv) / sizeof(argv[0]));
    show_command(argv, argc);
    fflush(stdout);
    rc = np_session_apply(w->sess, w->rules, w->n_rules, &rep, &err);
    print_results(w, &rep);
    if (rc == NP_ECANCELED || rep.interrupted || wiz_cancelled) {
        out = interrupted(w, &rep, rc == NP_ECANCELED || rep.interrupted);
        goto done;
    }
    if (rc != NP_OK && rep.reason[0] == '\0')
        np_out_error("wizard", &err);
    *open_rc =
        rc == NP_OK && rep.problems == 0 && rep.ok == rep.n && !rep.rollback_ran
            ? NP_EXIT_OK
            : NP_EXIT_PROBLEM;
    if (*open_rc != NP_EXIT_OK)
        goto done;

    printf("\n  Checking the mappings:\n");
    argc = build_argv(w, "verify", argv, sizeof(argv) / sizeof(argv[0]));
    show_command(argv, argc);
    fflush(stdout);
    rc = np_session_verify(w->sess, w->rules, w->n_rules, &vrep, &err);
    print_results(w, &vrep);
    if (wiz_cancelled) {
        out = interrupted(w, &rep, 0);
        goto done;
    }
    if (rc != NP_OK || vrep.ok != vrep.n)
        *open_rc = NP_EXIT_PROBLEM;
    if (rc != NP_OK && vrep.reason[0] == '\0')
        np_out_error("wizard", &err);
done:
    np_sess_report_free(&rep);
    np_sess_report_free(&vrep);
    return out;
}

static int step_plan_apply(struct wiz *w, int *open_rc)
{
    char label[96], text[320];
    int go = 0, rc;

    *open_rc = -1;
    heading(5, "The plan");
    print_plan(w);
    if (w->n_mappable == 0) {
        printf("  Nothing to map: these profiles need no inbound ports.\n");
        return -1;
    }
    if (w->router.any && w->double_nat != NP_ADVICE_DNAT_YES) {
        if ((rc = session_prepare(w)) >= 0)
            return rc;
    } else if (w->router.any) {
        /* Nothing will be asked (second NAT): name what would be used. */
        np_sess_opts so;
        session_opts(w, &so);
        w->plan_proto = np_session_plan_proto(&w->router.disc, &so);
        w->sess_found = 1;
    }
    snprintf(text, sizeof(text),
             "Each for %s s, via %s, tagged \"natpilot\" so that natpilot "
             "close removes only these. Renew them with natpilot open, or "
             "keep them alive with natpilot daemon.",
             w->lease_arg ? w->lease_arg : "7200",
             w->plan_proto != NP_PM_NONE ? np_pm_proto_name(w->plan_proto)
             : w->sess_found ? "(no protocol that answered can map for this "
                               "device)"
             : w->router.any ? "(the router did not answer again)"
                             : "(no router answered)");
    np_out_wrap("  ", "  ", text);
    if (!w->router.any) {
        printf("  The router answers none of PCP, NAT-PMP and UPnP, so "
               "natpilot cannot ask it.\n");
        return -1;
    }
    if (w->double_nat == NP_ADVICE_DNAT_YES) {
        printf("  Mapping at home cannot help behind a second NAT: see "
               "below.\n");
        return -1;
    }
    if (w->no_apply)
        go = 0;
    else if (w->yes)
        go = 1;
    else {
        rc = yes_no(w, "Ask the router for these mappings now?", 0, &go);
        if (rc == 2)
            return needs_flag("--yes or --no-apply", "whether to apply");
        if (rc == 1)
            return cancelled_exit();
    }
    if (!go) {
        printf("  Nothing was changed.\n");
        return -1;
    }
    if ((rc = apply_and_verify(w, open_rc)) >= 0)
        return rc;
    if (*open_rc == NP_EXIT_OK) {
        np_nat_verdict after;
        np_nat_classify(&w->obs, 1, &after);
        printf("\n  %sBefore%s  %s\n", np_c_bold(), np_c_reset(),
               console_label(w, &w->before, label, sizeof(label)));
        printf("  %sAfter%s   %s%s%s\n", np_c_bold(), np_c_reset(), np_c_good(),
               console_label(w, &after, label, sizeof(label)), np_c_reset());
        printf("          (the game's ports are mapped to %s)\n",
               w->device_text);
    }
    return -1;
}

/* ---- saving a daemon config ---------------------------------------------- */

static int write_config(struct wiz *w, const char *path)
{
    cJSON *root = cJSON_CreateObject(), *devs, *dev, *profs;
    char *text = NULL;
    np_error err;
    size_t i, len;
    int ok = 0;

    if (root == NULL)
        return -1;
    cJSON_AddNumberToObject(root, "lease", w->lease ? w->lease : 7200);
    devs = cJSON_AddArrayToObject(root, "devices");
    dev = cJSON_CreateObject();
    cJSON_AddItemToArray(devs, dev);
    cJSON_AddStringToObject(dev, "name",
                            np_addr_is_set(&w->device) ? w->platform_word
                                                       : "this-computer");
    cJSON_AddStringToObject(dev, "address", w->device_text);
    cJSON_AddStringToObject(dev, "platform", w->platform_word);
    profs = cJSON_AddArrayToObject(dev, "profiles");
    for (i = 0; i < w->n_ids; i++)
        cJSON_AddItemToArray(profs, cJSON_CreateString(w->ids[i]));
    /* natpilot keeps the mappings of this host, and of a console when the
     * router let it map for one; otherwise the console maps itself (UPnP)
     * and the daemon only checks. */
    cJSON_AddStringToObject(
        dev, "mode",
        !np_addr_is_set(&w->device) || w->open_rc == NP_EXIT_OK ? "map"
                                                                : "verify");
    text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL)
        return -1;
    /* Replaced atomically (file and directory synced): never half a file.
     * 0644: the daemon, under another user, reads it; it holds no secret. */
    len = strlen(text);
    text[len] = '\n'; /* over the NUL: the file ends with a newline */
    ok = np__file_replace(path, text, len + 1, 0644, &err) == NP_OK;
    if (!ok)
        errno = err.sys_errno ? err.sys_errno : EIO;
    cJSON_free(text);
    return ok ? 0 : -1;
}

static int step_save(struct wiz *w)
{
    char buf[512], def[512];
    const char *home = getenv("HOME");
    int save = 0, rc;

    if (w->no_save || (w->save_path == NULL && !w->interactive))
        return -1;
    if (w->save_path == NULL) {
        rc = yes_no(w,
                    "Save this set-up for natpilot daemon, which keeps the "
                    "mappings alive?",
                    0, &save);
        if (rc == 1)
            return cancelled_exit();
        if (!save)
            return -1;
        if (geteuid() == 0)
            snprintf(def, sizeof(def), "/etc/natpilot/natpilot.conf");
        else
            snprintf(def, sizeof(def), "%s/.config/natpilot/natpilot.conf",
                     home ? home : ".");
        rc = ask(w, "File", def, buf, sizeof(buf));
        if (rc == 1)
            return cancelled_exit();
        w->save_path = buf;
    }
    if (write_config(w, w->save_path) != 0) {
        np_out_errorf("wizard", "%s: cannot write the config: %s", w->save_path,
                      strerror(errno));
        return NP_EXIT_PROBLEM;
    }
    printf("  Saved %s. Start the daemon with:\n    natpilot daemon "
           "--config %s\n",
           w->save_path, w->save_path);
    return -1;
}

/* ---- the flow --------------------------------------------------------------
 */

/* One option of the wizard's command line: -1 to go on, or the exit
 * code. */
static int parse_opt(struct wiz *w, int c)
{
    switch (c) {
    case 'd':
        w->device_arg = optarg;
        return -1;
    case 'p':
        w->platform_arg = optarg;
        return -1;
    case 'g':
        if (w->n_games == MAX_GAMES) {
            np_out_errorf("wizard", "at most %d --game", MAX_GAMES);
            return NP_EXIT_USAGE;
        }
        w->games[w->n_games++] = optarg;
        return -1;
    case 'y':
        w->yes = 1;
        return -1;
    case 'n':
        w->no_apply = 1;
        return -1;
    case 'l': {
        uint32_t v = 0;

        if (np__parse_u32(optarg, 604800, &v) != NP_OK || v < 60) {
            np_out_errorf("wizard",
                          "--lease %s: seconds from 60 to "
                          "604800",
                          optarg);
            return NP_EXIT_USAGE;
        }
        w->lease_arg = optarg;
        w->lease = v;
        return -1;
    }
    case 'v':
        if (np_pm_proto_parse(optarg) == NP_PM_NONE) {
            np_out_errorf("wizard", "--via %s: pcp, natpmp or upnp", optarg);
            return NP_EXIT_USAGE;
        }
        w->via_arg = optarg;
        return -1;
    case 's':
        if (w->n_stun == MAX_STUN) {
            np_out_errorf("wizard", "at most %d --stun", MAX_STUN);
            return NP_EXIT_USAGE;
        }
        w->stun[w->n_stun++] = optarg;
        return -1;
    case 'P':
        w->profiles_dir = optarg;
        return -1;
    case 'S':
        w->save_path = optarg;
        return -1;
    case 'N':
        w->no_save = 1;
        return -1;
    case 'o':
        w->outbound = 1;
        return -1;
    case 'r':
        w->reflector = optarg;
        return -1;
    case 'j':
        np_out_errorf("wizard",
                      "the wizard talks to a person; scripts get the "
                      "same results with --json on diagnose, open and "
                      "verify");
        return NP_EXIT_USAGE;
    case 'h':
        fputs(usage, stdout);
        return NP_EXIT_OK;
    default:
        fputs(usage, stderr);
        return NP_EXIT_USAGE;
    }
}

static int parse_args(struct wiz *w, int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'},
        {"platform", required_argument, NULL, 'p'},
        {"game", required_argument, NULL, 'g'},
        {"yes", no_argument, NULL, 'y'},
        {"no-apply", no_argument, NULL, 'n'},
        {"lease", required_argument, NULL, 'l'},
        {"via", required_argument, NULL, 'v'},
        {"stun", required_argument, NULL, 's'},
        {"profiles", required_argument, NULL, 'P'},
        {"save", required_argument, NULL, 'S'},
        {"no-save", no_argument, NULL, 'N'},
        {"outbound", no_argument, NULL, 'o'},
        {"reflector", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "+hy", opts, NULL)) != -1) {
        int rc = parse_opt(w, c);

        if (rc >= 0)
            return rc;
    }
    if (optind < argc) {
        np_out_errorf("wizard", "unexpected argument '%s'", argv[optind]);
        return NP_EXIT_USAGE;
    }
    if (w->yes && w->no_apply) {
        np_out_errorf("wizard", "--yes and --no-apply contradict each other");
        return NP_EXIT_USAGE;
    }
    if (w->n_stun == 0)
        for (; w->n_stun < NP_PROBE_N_DEFAULT_SERVERS; w->n_stun++)
            w->stun[w->n_stun] = np_probe_default_servers[w->n_stun];
    return -1;
}

int np_cmd_wizard(int argc, char **argv)
{
    struct wiz *w = calloc(1, sizeof(*w));
    int rc, open_rc = -1;

    if (w == NULL)
        return NP_EXIT_NETWORK;
    rc = parse_args(w, argc, argv);
    if (rc >= 0)
        goto out;
    w->interactive = isatty(STDIN_FILENO);
    catch_sigint();
    printf("%snatpilot wizard%s: from the games you play to an Open NAT, "
           "without a DMZ.\n",
           np_c_bold(), np_c_reset());
    printf("Nothing on your router changes until you say yes. Ctrl-C quits "
           "at any step.\n");

    w->outbound_rc = -1;
    if ((rc = step_network(w)) >= 0 || (rc = step_device(w)) >= 0 ||
        (rc = step_games(w)) >= 0 || (rc = step_diagnosis(w)) >= 0 ||
        (rc = check_outbound(w)) >= 0 ||
        (rc = step_plan_apply(w, &open_rc)) >= 0)
        goto out;
    w->open_rc = open_rc;
    if (open_rc != NP_EXIT_OK && w->before.generic != NP_GEN_OPEN &&
        w->n_mappable > 0)
        manual_steps(w);
    if (!w->no_save && (w->save_path != NULL || w->interactive))
        heading(8, "Keeping it that way");
    if ((rc = step_save(w)) >= 0)
        goto out;
    rc = (open_rc == NP_EXIT_OK || w->before.generic == NP_GEN_OPEN) &&
                 w->outbound_rc != NP_EXIT_PROBLEM
             ? NP_EXIT_OK
             : NP_EXIT_PROBLEM;
    printf("\n%s\n", rc == NP_EXIT_OK
                         ? "Done: the game's ports are open for this device."
                         : "Not Open yet: the steps above say what to do.");
out:
    if (w->router_started)
        router_check_free(&w->router);
    np_session_free(w->sess);
    np_store_free(w->store);
    free(w->rules);
    np_resolved_free(w->res);
    np_catalog_free(w->cat);
    free(w);
    return rc;
}
