/*
 * natpilotd: the same `natpilot daemon` command, linked on its own with
 * --as-needed so that the long-running process does not load what only
 * other commands use (libcurl and its ~30 dependencies cost about 4 MiB of
 * resident memory). `natpilot daemon` execs it when it is installed (or
 * built next to natpilot); the PID stays the same, so systemd and
 * container runtimes see no difference.
 *
 * Usage: natpilotd daemon --config FILE [--foreground] ...
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "daemon") == 0)
        return np_cmd_daemon(argc - 1, argv + 1);
    fprintf(stderr, "usage: natpilotd daemon --config FILE [--foreground] "
                    "[--check] [--log-level LEVEL]\n"
                    "(started by 'natpilot daemon'; see natpilot(1))\n");
    return NP_EXIT_USAGE;
}
