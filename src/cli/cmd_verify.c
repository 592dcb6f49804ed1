/* natpilot verify: inbound checks are not built yet (issue #3); --outbound
 * is (cmd_outbound.c). This file is replaced when the inbound side lands. */
#include <string.h>

#include "cli.h"

int np_cmd_verify(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--outbound") == 0)
            return np_cmd_verify_outbound(argc, argv);
    return np_not_built("verify", "issue #3");
}
