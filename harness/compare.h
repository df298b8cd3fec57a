/*
** compare.h -- `risq compare` and `risq baseline` (prefix cmp_).
**
** Owns resolving run references (id, uuid prefix, git commit prefix, named
** baseline), matching the configurations of two runs like with like
** (machine fingerprint, model and dataset content hashes, method, bits, isa,
** threads), the verdict per metric (accuracy: any change beyond 1e-9;
** latency: Mann-Whitney U on the raw samples plus a minimum effect), the
** accuracy gates against the FP32 configuration of the same run, and the
** outputs (table, md, csv, json). Reads the DB with plain SELECTs; writes
** only the named-baseline table.
*/
#ifndef RISQ_HARNESS_COMPARE_H
#define RISQ_HARNESS_COMPARE_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#include "harness/report.h"

struct sqlite3;
struct store;

#define CMP_MAX_GATE_BITS 16
#define CMP_EXACT_EPS 1e-9

/* Thresholds (same meaning as the suite's `gates:`). */
typedef struct cmp_gates {
    int n_miou;
    char miou_bits[CMP_MAX_GATE_BITS][16];   /* "W8A8", ... */
    double miou_drop_max[CMP_MAX_GATE_BITS]; /* mIoU points vs FP32 */
    double speed_regression;                 /* minimum latency effect, fraction */
    double memory_regression;                /* minimum rss_kb change, fraction */
    double alpha;                            /* Mann-Whitney significance level */
    double ratio_min;                        /* miou / fp32 miou floor; 0 = off */
} cmp_gates;

void cmp_gates_default(cmp_gates *g);

/* Gates of a suite file / of suite YAML text (the run's suite_text).
** Returns 0, or -1 with a message. */
int cmp_gates_from_suite_file(const char *path, cmp_gates *g, char *err, size_t errlen);
int cmp_gates_from_suite_text(const char *text, cmp_gates *g, char *err, size_t errlen);

/* Marks. */
#define CMP_BETTER   "better"
#define CMP_WORSE    "worse"
#define CMP_SAME     "~"
#define CMP_NC       "n/c"
#define CMP_NEWFAIL  "NEW-FAIL"
#define CMP_FIXED    "FIXED"
#define CMP_FAILING  "failing"
#define CMP_PASS     "pass"
#define CMP_GATEFAIL "FAIL"

typedef enum cmp_row_kind { CMP_ROW_METRIC, CMP_ROW_STATUS, CMP_ROW_GATE } cmp_row_kind;

/* One line of the verdict. For gate rows: metric is "gate:miou_drop" or
** "gate:ratio", base is the FP32 miou, cand the configuration's miou,
** delta the drop (negative) and limit the threshold. NaN = not available. */
typedef struct cmp_row {
    cmp_row_kind kind;
    char model[64], dataset[96], method[32], bits[16], isa[16];
    int threads;
    char metric[32];
    double base, cand, delta, pct, p, limit;
    char mark[12];
    char note[320];
} cmp_row;

typedef struct cmp_runinfo {
    int64_t id;
    char uuid[33];
    char suite[64];
    char started_at[32];
    char commit[48];
    int dirty;
    char fingerprint[24];
    char machine[128];    /* board, else CPU model */
    int64_t machine_id;
} cmp_runinfo;

typedef struct cmp_result {
    cmp_runinfo base, cand;
    cmp_gates gates;
    char gates_from[160];          /* "defaults", "suite FILE", "run's suite" */
    cmp_row *rows;
    int nrows, cap;
    int nworse, nbetter, nsame, nnc, nnewfail, nfixed, nfailing, ngatefail, ngates;
} cmp_result;

/* Resolve a reference to a run id: a run id, a named baseline, a uuid
** prefix, or a git commit prefix (the latest run of that commit); "latest"
** is the latest run. Returns 0, or -1 with a message saying what exists. */
int cmp_resolve(struct sqlite3 *db, const char *ref, int64_t *id, char *err, size_t errlen);

/* The latest run (-1 with a message when the DB has none). */
int cmp_latest(struct sqlite3 *db, int64_t *id, char *err, size_t errlen);

/* The previous run of the same suite on the same machine before run cand. */
int cmp_previous(struct sqlite3 *db, int64_t cand, int64_t *id, char *err, size_t errlen);

/* Compare run base with run cand under gates g (NULL: the candidate run's
** suite_text when present, else defaults). *out is freed with
** cmp_result_free. Returns 0 or -1 with a message. */
int cmp_compare(struct sqlite3 *db, int64_t base, int64_t cand, const cmp_gates *g,
                cmp_result **out, char *err, size_t errlen);
void cmp_result_free(cmp_result *r);

/* 1 when something got worse, newly failed or a gate failed. */
int cmp_regressed(const cmp_result *r);

/* Write the verdict in fmt (REPORT_HTML is not supported: -1). */
int cmp_write(const cmp_result *r, report_format fmt, FILE *f);

/* Point named baseline `name` at run (store_set_baseline after checking
** the name: not all digits, not 'latest', [A-Za-z0-9._-]{1,64}). */
int cmp_baseline_set(struct store *s, const char *name, int64_t run, char *err, size_t errlen);

/* `risq compare ...` and `risq baseline ...` (argv[0] is the command);
** return the exit status: 0 fine, 1 regression / gate failure, 2 error. */
int cmp_main(int argc, char **argv);
int cmp_baseline_main(int argc, char **argv);

#endif
