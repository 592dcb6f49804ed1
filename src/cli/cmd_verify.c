/* natpilot verify: not built yet (issue #3). This file is replaced when it is.
 */
#include "cli.h"

int np_cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return np_not_built("verify", "issue #3");
}
