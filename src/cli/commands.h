/*
 * commands.h — the subcommands of the `diffuse` executable. Each takes the
 * arguments after its name (argv[0] is the subcommand) and returns the
 * process exit status: 0 success, 1 a failure of the work, 2 a usage error.
 */
#ifndef DF_CLI_COMMANDS_H
#define DF_CLI_COMMANDS_H

int df_cli_tokenize(int argc, char **argv);
int df_cli_inspect(int argc, char **argv);
int df_cli_encode(int argc, char **argv);
int df_cli_bench(int argc, char **argv);
int df_cli_generate(int argc, char **argv);
int df_cli_serve(int argc, char **argv);
int df_cli_keys(int argc, char **argv);  /* keys create|list|revoke (keys.c) */
int df_cli_usage(int argc, char **argv); /* per-key usage (keys.c) */

/* The model used when -m is not given: $DIFFUSE_MODEL, else the bundled one. */
const char *df_cli_default_model(void);

/* The data directory used when --data is not given, by every command that
 * has one (serve, keys, usage), so that a key made by `diffuse keys` is the
 * running server's: $DIFFUSE_DATA, else ./diffuse-data. */
#define DF_CLI_DATA_DIR "diffuse-data"
const char *df_cli_default_data_dir(void);

/* Parses "--threads N" style integers; 0 on success, prints and returns 2 on error. */
int df_cli_parse_int(const char *option, const char *text, long min, long max, long *out);

#endif
