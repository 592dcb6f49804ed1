/* natpilot update: not built yet (issue #4). This file is replaced when it is.
 */
#include "cli.h"

int np_cmd_update(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return np_not_built("update", "issue #4");
}
