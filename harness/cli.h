/*
** cli: small helpers shared by the risq commands' option parsing.
*/
#ifndef RISQ_HARNESS_CLI_H
#define RISQ_HARNESS_CLI_H

/* *out = s as a decimal integer in [lo, hi]; 0, or -1 after printing
** "PROG: WHAT: 's' is not an integer in [lo, hi]" to stderr. */
int cli_parse_ll(const char *prog, const char *s, const char *what, long long lo, long long hi,
                 long long *out);
/* The same for an int option. */
int cli_parse_int(const char *prog, const char *s, const char *what, int lo, int hi, int *out);

#endif
