/* natpilot diagnose: not built yet (issue #2). This file is replaced when it
 * is. */
#include "cli.h"

int np_cmd_diagnose(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return np_not_built("diagnose", "issue #2");
}
