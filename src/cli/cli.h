/* natpilot program: shared declarations of the command-line tool. */
#ifndef NP_CLI_H
#define NP_CLI_H

#include <stdio.h>

#include "natpilot/error.h"

/* Exit codes, documented in the README and natpilot(1). */
enum np_exit {
    NP_EXIT_OK = 0,      /* all good (e.g. an Open NAT) */
    NP_EXIT_PROBLEM = 1, /* a problem found (Strict NAT, missing mapping) */
    NP_EXIT_USAGE = 2,   /* usage or input error */
    NP_EXIT_NETWORK = 3, /* network failure: nothing could be reached */
    NP_EXIT_INTERNAL = 4 /* this machine failed: out of memory, a system call */
};

/* The exit code for a library status (exit.c): the one mapping. */
int np_exit_code(int status);

/* One subcommand: argv[0] is the subcommand's name. */
typedef int (*np_cmd_fn)(int argc, char **argv);

int np_cmd_diagnose(int argc, char **argv);
int np_cmd_profiles(int argc, char **argv);
int np_cmd_open(int argc, char **argv);
int np_cmd_verify(int argc, char **argv);
int np_cmd_close(int argc, char **argv);
int np_cmd_wizard(int argc, char **argv);
int np_cmd_daemon(int argc, char **argv);
int np_cmd_status(int argc, char **argv);
int np_cmd_update(int argc, char **argv);
int np_cmd_web_token(int argc, char **argv);

/* --- output helpers (out.c) --- */

/* Colour on stdout: a terminal, TERM not "dumb", NO_COLOR unset. */
int np_out_color(void);
/* Progress on stderr only when stderr is a terminal. */
int np_out_progress_enabled(void);

/* SGR sequences, or "" when colour is off. */
const char *np_c_bold(void);
const char *np_c_good(void);
const char *np_c_warn(void);
const char *np_c_bad(void);
const char *np_c_dim(void);
const char *np_c_reset(void);

/* "natpilot CMD: where: message" on stderr. */
void np_out_error(const char *cmd, const np_error *err);
void np_out_errorf(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print text word-wrapped at 78 columns: first line after first, the
 * following lines after rest (both indents count toward the width). */
void np_out_wrap(const char *first, const char *rest, const char *text);
void np_out_wrapf(const char *first, const char *rest, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A one-line spinner on stderr: step text, redrawn in place. */
void np_progress(const char *text);
void np_progress_done(void);

#endif /* NP_CLI_H */
