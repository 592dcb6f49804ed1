/* natpilot program: subcommand dispatch in the style of git and ip. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef NP_VERSION
#define NP_VERSION "0"
#endif

static const struct np_command {
    const char *name;
    np_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"diagnose", np_cmd_diagnose, "find out what the NAT does to game traffic"},
    {"profiles", np_cmd_profiles,
     "list, show, search and validate game profiles"},
    {"open", np_cmd_open,
     "map the inbound ports of game profiles on the router"},
    {"verify", np_cmd_verify,
     "check that a profile's ports are mapped and reachable"},
    {"close", np_cmd_close, "remove natpilot's own mappings"},
    {"wizard", np_cmd_wizard,
     "guided set-up, from the games you play to an Open NAT"},
    {"daemon", np_cmd_daemon,
     "keep the mappings of every device alive (headless)"},
    {"status", np_cmd_status, "show what the running daemon holds"},
    {"update", np_cmd_update, "fetch a newer profile catalog over HTTPS"},
    {"web-token", np_cmd_web_token,
     "show the login token of the daemon's web interface"},
};

static void usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: natpilot [--version] [--help] COMMAND [ARGS]\n\n"
               "Commands:\n");
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(
        f,
        "\n'natpilot COMMAND --help' describes one command; every "
        "command takes --json.\n"
        "Exit codes: 0 ok, 1 a problem found (e.g. a Strict NAT), "
        "2 usage or input error,\n3 network failure, 4 a local failure (out of "
        "memory, a system call).\n");
}

int main(int argc, char **argv)
{
    size_t i;

    if (argc < 2) {
        usage(stderr);
        return NP_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return NP_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("natpilot %s\n", NP_VERSION);
        return NP_EXIT_OK;
    }
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "natpilot: '%s' is not a command; see 'natpilot --help'\n",
            argv[1]);
    return NP_EXIT_USAGE;
}
