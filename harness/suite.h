/*
** suite: a benchmark suite read from YAML (libyaml document API).
**
** Owns the suite schema, its validation (every error is FILE:LINE:COL:
** message; unknown and duplicate keys are errors) and the expansion of the
** matrix into configurations. The schema is documented in suites/README.md.
*/
#ifndef RISQ_HARNESS_SUITE_H
#define RISQ_HARNESS_SUITE_H

#include <stddef.h>
#include "datasets/synth.h"

#define SUITE_MAX_THREADS 8

typedef struct suite_dataset {
    int is_synth;
    synth_params synth;    /* when is_synth */
    char *path, *split;    /* dataset folder and split, otherwise */
    char *label;           /* name shown in tables: synth-s7-n100-p64-d1 or the path */
} suite_dataset;

typedef struct suite_target {
    char isa[16];          /* auto, scalar */
    int nthreads;
    int threads[SUITE_MAX_THREADS];
} suite_target;

typedef struct suite {
    char *file;            /* path it was read from */
    char *name, *description;
    int nmodels;
    char **models;         /* zoo names or model folder paths */
    int ndatasets;
    suite_dataset *datasets;
    int nmethods;
    char **methods;
    int nbits;
    char **bits;           /* "W8A8", ... ; fp32 ignores them */
    int ntargets;
    suite_target *targets;
    int warmup, repetitions;
} suite;

/* One point of the expanded matrix. */
typedef struct suite_config {
    int model, dataset, method, bits;   /* indices; bits = -1 for fp32 */
    int target, threads;                /* target index, thread count */
} suite_config;

int suite_load(const char *path, suite **out, char *err, size_t errlen);
void suite_free(suite *s);

/* Expand the matrix in its fixed order: model, dataset, method, bits,
** target, threads (models outermost, so each model loads once). Returns the
** number of configurations; *out is malloc'd (NULL when there are none). */
int suite_expand(const suite *s, suite_config **out);

/* Methods this build can run. */
extern const char *const suite_methods[];

#endif
