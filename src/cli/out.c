/* natpilot program: colour, progress and error output. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int np_out_color(void)
{
    static int cached = -1;
    const char *term, *nc;

    if (cached >= 0)
        return cached;
    nc = getenv("NO_COLOR");
    term = getenv("TERM");
    cached = isatty(STDOUT_FILENO) && (nc == NULL || nc[0] == '\0') &&
             (term == NULL || strcmp(term, "dumb") != 0);
    return cached;
}

int np_out_progress_enabled(void)
{
    const char *term = getenv("TERM");

    return isatty(STDERR_FILENO) && (term == NULL || strcmp(term, "dumb") != 0);
}

const char *np_c_bold(void)
{
    return np_out_color() ? "\033[1m" : "";
}
const char *np_c_good(void)
{
    return np_out_color() ? "\033[1;32m" : "";
}
const char *np_c_warn(void)
{
    return np_out_color() ? "\033[1;33m" : "";
}
const char *np_c_bad(void)
{
    return np_out_color() ? "\033[1;31m" : "";
}
const char *np_c_dim(void)
{
    return np_out_color() ? "\033[2m" : "";
}
const char *np_c_reset(void)
{
    return np_out_color() ? "\033[0m" : "";
}

void np_out_error(const char *cmd, const np_error *err)
{
    char buf[NP_ERROR_WHERE_MAX + NP_ERROR_MSG_MAX + 4];

    np_progress_done();
    fprintf(stderr, "natpilot %s: %s\n", cmd,
            np_error_format(err, buf, sizeof(buf)));
}

void np_out_errorf(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    np_progress_done();
    fprintf(stderr, "natpilot %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int progress_shown;

void np_progress(const char *text)
{
    static const char spin[] = "|/-\\";
    static unsigned tick;

    if (!np_out_progress_enabled())
        return;
    fprintf(stderr, "\r\033[K%c %s", spin[tick++ % 4], text);
    fflush(stderr);
    progress_shown = 1;
}

void np_progress_done(void)
{
    if (!progress_shown)
        return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    progress_shown = 0;
}

/* Visible width of n bytes: SGR colour sequences take no columns. */
static size_t visible(const char *p, size_t n)
{
    size_t i = 0, w = 0;

    while (i < n) {
        if (p[i] == '\033') {
            while (i < n && p[i] != 'm')
                i++;
            i++;
            continue;
        }
        w++;
        i++;
    }
    return w;
}

void np_out_wrap(const char *first, const char *rest, const char *text)
{
    const char *p = text;
    size_t width = 78 - visible(first, strlen(first)), col = 0;

    fputs(first, stdout);
    while (*p != '\0') {
        const char *sp = p;
        size_t wl, vw;

        while (*sp != '\0' && *sp != ' ')
            sp++;
        wl = (size_t)(sp - p);
        vw = visible(p, wl);
        if (col > 0 && col + 1 + vw > width) {
            printf("\n%s", rest);
            width = 78 - visible(rest, strlen(rest));
            col = 0;
        } else if (col > 0) {
            putchar(' ');
            col++;
        }
        fwrite(p, 1, wl, stdout);
        col += vw;
        p = *sp == ' ' ? sp + 1 : sp;
    }
    putchar('\n');
}

void np_out_wrapf(const char *first, const char *rest, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    np_out_wrap(first, rest, buf);
}
