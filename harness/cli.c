/*
** cli: small helpers shared by the risq commands' option parsing (main.c,
** modelcmd.c, benchkernels.c), so that every command words a bad number the
** same way.
*/
#include "harness/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cli_parse_ll(const char *prog, const char *s, const char *what, long long lo, long long hi,
                 long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: '%s' is not an integer in [%lld, %lld]\n", prog, what, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int(const char *prog, const char *s, const char *what, int lo, int hi, int *out)
{
    long long v;
    if (cli_parse_ll(prog, s, what, lo, hi, &v))
        return -1;
    *out = (int)v;
    return 0;
}
