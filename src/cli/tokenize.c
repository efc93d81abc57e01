/* tokenize.c — temporary scaffold, replaced by the real subcommand. */
#include <stdio.h>
#include "cli/commands.h"
int df_cli_tokenize(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "diffuse tokenize: not built yet\n");
    return 2;
}
