/* natpilot status: not built yet (issue #7). This file is replaced when it is.
 */
#include "cli.h"

int np_cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return np_not_built("status", "issue #7");
}
