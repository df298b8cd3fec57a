/*
** suite: a benchmark suite read from YAML (libyaml document API).
**
** Owns the suite schema, its validation (every error is FILE:LINE:COL:
** message; unknown and duplicate keys are errors, with a "did you mean"
** hint), `include:` of other suite files, `exclude:` of matrix points and
** the expansion of the matrix into configurations. The schema, the merge
** rules of `include:` and the expansion order are documented in
** suites/README.md.
*/
#ifndef RISQ_HARNESS_SUITE_H
#define RISQ_HARNESS_SUITE_H

#include <stdio.h>
#include <stddef.h>
#include "datasets/synth.h"
#include "models/quantize.h"

#define SUITE_MAX_THREADS 8
#define SUITE_MAX_GATES 16
#define SUITE_MAX_INCLUDE_DEPTH 16
#define SUITE_DEFAULT_PATH "suites/smoke.yaml"

typedef struct suite_dataset {
    int is_synth;
    synth_params synth;    /* when is_synth */
    char *path, *split;    /* dataset folder and split, otherwise (split may be NULL) */
    char *label;           /* name shown in tables: synth-s7-n100-p64-d1 or the path as written */
} suite_dataset;

typedef struct suite_target {
    char isa[16];          /* auto, scalar (avx2, avx512vnni, neon once built) */
    int nthreads;
    int threads[SUITE_MAX_THREADS];
    char *board;           /* board this target is meant for; NULL when not set */
} suite_target;

/* Pass/fail gates used by `risq compare` and the nightly CI. */
typedef struct suite_gates {
    int n_miou;
    char *miou_bits[SUITE_MAX_GATES];       /* "W8A8", ... (each one of the suite's bits) */
    double miou_drop_max[SUITE_MAX_GATES];  /* accuracy drop vs FP32 per bit setting, in mIoU points */
    double speed_regression;  /* minimum effect, fraction, default 0.05 */
    double memory_regression; /* minimum rss_kb growth, fraction, default 0.05 */
    double alpha;             /* Mann-Whitney significance, default 0.05 */
    double ratio_min;         /* MLPerf-style: quantized accuracy >= ratio_min x FP32, 0 = off */
} suite_gates;

/* A recipe defined inline under `recipes:`: a new method name. */
typedef struct suite_recipe {
    char *name;
    qm_recipe r;
} suite_recipe;

/* One `exclude:` entry: removes every configuration matching all the keys
** that are set. */
typedef struct suite_exclude {
    char *model, *dataset, *method, *bits, *isa;   /* NULL = any */
    int threads;                                   /* 0 = any */
} suite_exclude;

typedef struct suite {
    char *file;            /* path it was read from (the top file) */
    char *source_text;     /* the top file's raw text, for the history */
    int nincludes;
    char **includes;       /* every file merged in through include:, in load order */
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
    double timeout_s;      /* per configuration, default 600 */
    char *calib_split;     /* calibration split, default "train" */
    int calib_samples;     /* calibration samples, default 32 */
    suite_gates gates;
    int nexcludes;
    suite_exclude *excludes;
    int nrecipes;
    suite_recipe *recipes;
} suite;

/* One point of the expanded matrix. */
typedef struct suite_config {
    int model, dataset, method, bits;   /* indices; bits = -1 for fp32 */
    int target, threads;                /* target index, thread count */
} suite_config;

/* Read, merge (include:) and validate the suite at `path`. On error returns
** -1 with "FILE:LINE:COL: message" in err and *out = NULL. */
int suite_load(const char *path, suite **out, char *err, size_t errlen);
void suite_free(suite *s);

/* Expand the matrix in its fixed order: model, dataset, method, bits,
** target, threads (models outermost, so each model loads once), leaving
** out the configurations matched by `exclude:`. Returns the number of
** configurations (-1 when out of memory); *out is malloc'd (NULL when there
** are none). */
int suite_expand(const suite *s, suite_config **out);

/* Print the expanded matrix, one line per configuration: index, model,
** dataset, method, bits, isa, threads, board. */
void suite_print(const suite *s, const suite_config *c, int n, FILE *f);

/* The recipe of method `name`: an inline recipe of the suite, else a built-in
** one.  Returns 0, or -1 when the name is neither. */
int suite_recipe_of(const suite *s, const char *name, qm_recipe *out);

/* Methods this build can run (NULL-terminated). */
extern const char *const suite_methods[];
/* Every method name a suite may name, runnable or not (NULL-terminated). */
extern const char *const suite_known_methods[];

#endif
