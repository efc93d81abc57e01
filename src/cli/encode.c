/* encode.c — temporary scaffold, replaced by the real subcommand. */
#include <stdio.h>
#include "cli/commands.h"
int df_cli_encode(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "diffuse encode: not built yet\n");
    return 2;
}
