/* natpilot daemon: not built yet (issue #7). This file is replaced when it is.
 */
#include "cli.h"

int np_cmd_daemon(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return np_not_built("daemon", "issue #7");
}
