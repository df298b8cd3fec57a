/*
** runner: `risq run` — expands a suite into configurations, runs each one
** (FP32 reference, accuracy pass, speed pass) and stores it.
*/
#ifndef RISQ_HARNESS_RUNNER_H
#define RISQ_HARNESS_RUNNER_H

/* argv[0] is "run". Returns the process exit status. */
int runner_main(int argc, char **argv);

#endif
