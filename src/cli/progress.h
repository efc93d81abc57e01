/*
 * progress.h — step progress for long runs, as the terminal or a log wants
 * it. On a terminal a single bar redrawn in place,
 *     [#####.....] 12/20  3.41 it/s  ETA 2s
 * ended with a newline; anywhere else (pipes, CI logs, the server's log)
 * a plain line every ~10%, because carriage returns make a mess of files:
 *     step 12/20, 3.41 it/s, ETA 2s
 * The rate is measured from the first step on, so the time spent before it
 * (model loading, prompt encoding) does not drag the it/s down.
 */
#ifndef DF_CLI_PROGRESS_H
#define DF_CLI_PROGRESS_H

#include <stdio.h>

typedef struct df_cli_progress {
    FILE *out;
    const char *prefix; /* plain lines start with it (may be NULL) */
    int terminal;       /* redraw in place rather than print lines */
    int drawn;          /* a bar is on the current line (needs a newline to end) */
    int last_step;      /* the step last reported, or 0 */
    int last_tenth;     /* plain mode: the last tenth of the run printed */
    int first_step;     /* the first step seen, and when (rate reference) */
    double first_seconds;
    double last_draw_seconds;
} df_cli_progress;

/* terminal: redraw a bar in place (pass isatty(fileno(out))). */
void df_cli_progress_init(df_cli_progress *progress, FILE *out, int terminal, const char *prefix);

/* Reports step (1..total) done, `seconds` after the run started. Terminal
 * redraws are limited to ~15 a second (and the last step always drawn), so
 * fast steps do not spend their time writing to the terminal. */
void df_cli_progress_update(df_cli_progress *progress, int step, int total, double seconds);

/* Ends the bar's line if one is drawn, so the next message starts on its own
 * line (call before printing anything else, and at the end). */
void df_cli_progress_end(df_cli_progress *progress);

#endif
