/* natpilot profiles: not built yet (issue #4). This file is replaced when it
 * is. */
#include "cli.h"

int np_cmd_profiles(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return np_not_built("profiles", "issue #4");
}
