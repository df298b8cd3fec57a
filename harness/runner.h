/*
** runner: `risq run` — expands a suite into configurations, runs each one
** in a child process with a time limit (FP32 reference, accuracy pass,
** speed pass with counters) and stores it; and `risq merge`, which brings
** other results histories into one.
*/
#ifndef RISQ_HARNESS_RUNNER_H
#define RISQ_HARNESS_RUNNER_H

/* argv[0] is "run". Returns the process exit status. */
int runner_main(int argc, char **argv);

/* argv[0] is "merge". Returns the process exit status. */
int runner_merge_main(int argc, char **argv);

#endif
