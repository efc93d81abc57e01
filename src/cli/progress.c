/*
 * progress.c — the progress bar and progress lines of progress.h. Nothing
 * here allocates, so it is safe to call from a progress callback at any
 * step; all values are clamped so a confused caller (step > total, time
 * going backwards) gives odd numbers, never a crash or a runaway line.
 */
#include "cli/progress.h"

#include <math.h>

#define BAR_WIDTH 30

void df_cli_progress_init(df_cli_progress *progress, FILE *out, int terminal, const char *prefix)
{
    *progress = (df_cli_progress){.out = out, .prefix = prefix, .terminal = terminal,
                                  .last_tenth = -1, .last_draw_seconds = -1};
}

/* "2s", "1m05s", "2h03m": short enough to keep the bar on one line. */
static void format_duration(double seconds, char *text, size_t size)
{
    if (!(seconds >= 0) || seconds > 359999)
        seconds = 359999; /* NaN, negative or absurd: show the largest, never garbage */
    int s = (int)lround(seconds);
    if (s < 60)
        snprintf(text, size, "%ds", s);
    else if (s < 3600)
        snprintf(text, size, "%dm%02ds", s / 60, s % 60);
    else
        snprintf(text, size, "%dh%02dm", s / 3600, (s % 3600) / 60);
}

void df_cli_progress_update(df_cli_progress *progress, int step, int total, double seconds)
{
    if (!progress->out || total <= 0)
        return;
    if (step < 0)
        step = 0;
    if (step > total)
        step = total;
    if (progress->first_step == 0 || step < progress->first_step) {
        progress->first_step = step;
        progress->first_seconds = seconds;
    }
    /* Steps per second from the first step seen; before a second step there
     * is only the whole elapsed time to go by (which includes loading). */
    double rate = 0;
    if (step > progress->first_step && seconds > progress->first_seconds)
        rate = (step - progress->first_step) / (seconds - progress->first_seconds);
    else if (seconds > 0)
        rate = step / seconds;
    char eta[32];
    format_duration(rate > 0 ? (total - step) / rate : 0, eta, sizeof eta);
    progress->last_step = step;

    if (progress->terminal) {
        if (step < total && progress->last_draw_seconds >= 0 &&
            seconds - progress->last_draw_seconds < 1.0 / 15)
            return;
        progress->last_draw_seconds = seconds;
        char bar[BAR_WIDTH + 1];
        int filled = (int)((long long)step * BAR_WIDTH / total);
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[BAR_WIDTH] = 0;
        /* \r back to the start, \033[K clears what a longer line left. */
        fprintf(progress->out, "\r[%s] %d/%d  %.2f it/s  ETA %s\033[K", bar, step, total, rate,
                eta);
        fflush(progress->out);
        progress->drawn = 1;
        return;
    }
    int tenth = (int)((long long)step * 10 / total);
    if (tenth == progress->last_tenth && step < total)
        return;
    if (step == total && progress->last_tenth == 10)
        return;
    progress->last_tenth = step == total ? 10 : tenth;
    fprintf(progress->out, "%sstep %d/%d, %.2f it/s, ETA %s\n",
            progress->prefix ? progress->prefix : "", step, total, rate, eta);
    fflush(progress->out);
}

void df_cli_progress_end(df_cli_progress *progress)
{
    if (progress->out && progress->drawn) {
        fputc('\n', progress->out);
        fflush(progress->out);
    }
    progress->drawn = 0;
}
