/*
** store.h -- the SQLite results history (prefix store_).
**
** This module owns the results database: opening/creating it, its schema
** and forward-only migrations, and every write the runner makes to it
** (machine, build, run, config, metric and sample rows), the named
** baselines, and merging other histories into one (`risq merge`).  Readers
** (compare, reports) may use the raw handle from store_sqlite() for SELECTs.
**
** Database rules (see results/README.md for tables, view and queries):
**   - PRAGMA application_id = STORE_APPLICATION_ID ('risq'),
**     PRAGMA user_version   = schema version (STORE_SCHEMA_VERSION);
**     migrations only go forward; a newer DB is refused, never touched.
**   - WAL journal, busy_timeout STORE_BUSY_TIMEOUT_MS, foreign keys on.
**   - Every write transaction is BEGIN IMMEDIATE; every value is a bound
**     parameter.
**   - One transaction per configuration, so a crash loses at most the
**     configuration in flight.
**   - A metric that could not be measured is NULL, never 0.
**
** All functions returning int give 0 on success and -1 on failure; on
** failure a message the user can act on is written to err (errlen bytes,
** always NUL-terminated when errlen > 0; err may be NULL).
** A store handle is used by one thread at a time.
*/
#ifndef RISQ_HARNESS_STORE_H
#define RISQ_HARNESS_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_APPLICATION_ID   0x72697371      /* 'risq' */
#define STORE_SCHEMA_VERSION   2
#define STORE_DEFAULT_PATH     "results/history.sqlite"
#define STORE_BUSY_TIMEOUT_MS  10000

typedef struct store store;   /* opaque */
struct sqlite3;

/* Identity of the machine a run was made on.  Filled by
** store_machine_probe(); the caller may then set board (e.g. from the
** suite) and must call store_machine_fingerprint() again. */
typedef struct store_machine {
  char fingerprint[17];   /* 16 hex digits, FNV-1a 64 of the fields below */
  char cpu_model[128];    /* "model name" (x86) or implementer/part (arm) */
  char isa_flags[256];    /* compact, space-separated, e.g. "avx2 fma" */
  int  cores;             /* online logical CPUs */
  char board[64];         /* board name; "" when unknown */
} store_machine;

/* Identity of the risq build. */
typedef struct store_build {
  const char *git_commit;   /* full hash, or "unknown" */
  int         dirty;        /* 1 when the work tree had local changes */
  const char *compiler;     /* e.g. "gcc 12.2.0" */
  const char *flags;        /* compile flags that matter for speed */
} store_build;

/* This binary's build (git describe of the source tree when it was built,
** compiler, flags). commit[len] receives the hash without "-dirty"; the
** result points into it. */
store_build store_build_current(char *commit, size_t len);

/* Everything recorded when a run starts. */
typedef struct store_run_info {
  const char   *suite;      /* suite name */
  const char   *command;    /* command line, for humans */
  const char   *suite_text; /* the suite file's text (gates etc.), or NULL */
  const char   *board;      /* --board or the suite's board, or NULL */
  store_machine machine;
  store_build   build;
} store_run_info;

/* One configuration (model x dataset x method x bits x target x threads).
** NULL strings are stored as NULL; started_at/finished_at NULL = now. */
typedef struct store_config {
  const char *model;
  const char *model_hash;     /* content hash of the model folder */
  const char *dataset;
  const char *dataset_hash;   /* content hash of the split / generator */
  const char *method;         /* fp32, minmax, ptq4vit, ptq4ris, ... */
  const char *bits;           /* "W8A8", ...; "fp32" for the reference */
  const char *isa;            /* scalar, avx2, avx512vnni, neon */
  int         threads;        /* <= 0 stores NULL (not applicable) */
  const char *status;         /* "ok" or "failed" */
  const char *error;          /* message when failed, else NULL */
  const char *counter_source; /* "hardware", "software", "timer" or NULL */
  const char *started_at;     /* UTC ISO-8601 (store_now_utc) */
  const char *finished_at;
  const char *exit_reason;    /* how its process ended: "ok", "error",
                              ** "signal", "timeout", "exit"; NULL = unknown */
  double      timeout_s;      /* its time limit; <= 0 stores NULL */
} store_config;

/* One metric value.  is_null (or a NaN value) stores NULL. */
typedef struct store_metric {
  const char *name;    /* "miou", "latency_ms", ... (DESIGN.md) */
  double      value;
  int         is_null;
  const char *unit;    /* "%", "ms", "count", "kB", "bytes", "s", "dB" */
} store_metric;

/* One raw sample (e.g. latency of repetition idx). */
typedef struct store_sample {
  const char *name;    /* e.g. "latency_ms", "cycles" */
  int         idx;     /* repetition number, from 0 */
  double      value;   /* NaN stores NULL */
} store_sample;

/* Open (creating or migrating when needed) the results DB at path
** (NULL = STORE_DEFAULT_PATH); missing parent directories are created.
** Refuses a DB written by a newer risq and a SQLite file that is not a
** risq DB.  On success *out is the new handle. */
int store_open(const char *path, store **out, char *err, size_t errlen);

/* Close the handle (NULL is fine). */
void store_close(store *s);

/* Raw SQLite handle for read-only queries (compare, reports). */
struct sqlite3 *store_sqlite(store *s);

/* The non-NULL samples `name` of configuration config_id, in idx order:
** *v (malloc'd, NULL when there are none) and *n.  On a bare handle, as
** `risq compare` and `risq report` read.  0, or -1 when the query fails or
** memory runs out (then *v is NULL and *n 0). */
int store_read_samples(struct sqlite3 *db, int64_t config_id, const char *name,
                       double **v, int *n);

/* Insert (or reuse) the machine and build rows and a new run with status
** 'running', a fresh random 128-bit uuid and started_at = now. */
int store_begin_run(store *s, const store_run_info *ri, int64_t *run_id,
                    char *err, size_t errlen);

/* uuid (32 lowercase hex digits) of a run into out[33]. */
int store_run_uuid(store *s, int64_t run_id, char out[33],
                   char *err, size_t errlen);

/* Record one finished configuration with its metrics and raw samples in a
** single BEGIN IMMEDIATE transaction.  config_id may be NULL. */
int store_add_config(store *s, int64_t run_id, const store_config *c,
                     const store_metric *m, int nm,
                     const store_sample *smp, int ns,
                     int64_t *config_id, char *err, size_t errlen);

/* Set the run's final status ("ok", "failed", "interrupted") and
** finished_at = now. */
int store_end_run(store *s, int64_t run_id, const char *status,
                  char *err, size_t errlen);

/* Point baseline `name` at run run_id (by the run's uuid, so the name
** survives `risq merge`), replacing an earlier target of that name. */
int store_set_baseline(store *s, const char *name, int64_t run_id,
                       char *err, size_t errlen);

/* The run id baseline `name` points at, in *run_id.  Returns 0 when found,
** 1 when there is no baseline of that name (or its run is not in this
** history; err says which), -1 on a database error. */
int store_get_baseline(store *s, const char *name, int64_t *run_id,
                       char *err, size_t errlen);

/* What store_merge() did. */
typedef struct store_merge_stats {
  int runs_added;        /* runs copied in */
  int runs_present;      /* runs of the source already here (same uuid) */
  int configs_added;
  int baselines_added;   /* names not yet defined here */
} store_merge_stats;

/* Copy every run of the history at src_path that this one lacks (matched
** by run uuid), with its configs, metrics, samples, machine and build rows,
** and baselines whose names are not defined here, in one transaction.
** Merging the same file again adds nothing.  Refuses a file that is not a
** risq history or whose schema is newer; the source is only read. */
int store_merge(store *s, const char *src_path, store_merge_stats *st,
                char *err, size_t errlen);

/* The SQL of migration step from -> from+1 (for tests that build an old
** database), NULL when there is no such step. */
const char *store_migration_sql(int from);

/* Probe this machine: CPU model, ISA flags, cores, board (device-tree
** model when there is one), then the fingerprint.  Fields it cannot read
** are left "" / 0.  Returns 0 (probing never fails hard). */
int store_machine_probe(store_machine *m);

/* (Re)compute m->fingerprint from cpu_model, isa_flags, cores, board. */
void store_machine_fingerprint(store_machine *m);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ" (ISO-8601, sorts as
** text) into buf[32]; returns buf. */
char *store_now_utc(char buf[32]);

#endif /* RISQ_HARNESS_STORE_H */
