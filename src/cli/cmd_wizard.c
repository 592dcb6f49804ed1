/* natpilot wizard: not built yet (issue #6). This file is replaced when it is.
 */
#include "cli.h"

int np_cmd_wizard(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return np_not_built("wizard", "issue #6");
}
