/*
 * natpilot program: the one place that turns a library status into an exit
 * code (README "Exit codes", natpilot(1)). Commands return np_exit_code(rc)
 * for a failure they cannot report more precisely; a problem the command
 * found (a Strict NAT, a port not mapped) is NP_EXIT_PROBLEM, decided by
 * the command from the library's report, not from a status code.
 */
#include "cli.h"

int np_exit_code(int status)
{
    switch ((enum np_status)status) {
    case NP_OK:
        return NP_EXIT_OK;
    /* the user's input: options, files, profiles, configs */
    case NP_EINVAL:
    case NP_EPARSE:
    case NP_EINVALID:
    case NP_ETRUNC:
    case NP_ETOOBIG:
    case NP_ENOTFOUND:
    case NP_EBUFSIZE:
    case NP_EVERIFY:
        return NP_EXIT_USAGE;
    /* the network: nothing answered, or what answered broke the rules */
    case NP_ETIMEOUT:
    case NP_EUNREACH:
    case NP_EREFUSED:
    case NP_EPROTO:
        return NP_EXIT_NETWORK;
    /* this machine: out of memory, a system call failed. Never reported
     * as a network failure or as the user's mistake. */
    case NP_ENOMEM:
    case NP_ESYS:
        return NP_EXIT_INTERNAL;
    /* a state of the world the command found: held, exists, unsupported,
     * cancelled */
    case NP_ECONFLICT:
    case NP_EEXIST:
    case NP_EUNSUPP:
    case NP_ECANCELED:
        return NP_EXIT_PROBLEM;
    }
    return NP_EXIT_INTERNAL;
}
