/*
** test_store.c -- checks harness/store.c: schema, pragmas, writes, the
** v_results view, refusal of foreign/newer databases, concurrent
** writers, the v1 -> v2 migration, baselines and merging histories.  Works in a fresh mkdtemp directory; one line per check; exit
** status 1 when any check fails.
*/
#include "harness/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

static int nfail = 0;

#define CHECK(cond, desc) do{                                              \
    if( cond ) printf("ok   %s\n", desc);                                  \
    else{ printf("FAIL %s  (%s:%d: %s)\n", desc, __FILE__, __LINE__, #cond); \
          nfail++; }                                                       \
  }while(0)

/* One integer from a query with at most one bound text parameter. */
static int64_t qint(sqlite3 *db, const char *sql, const char *arg){
  sqlite3_stmt *st = NULL;
  int64_t v = -12345;
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ){
    printf("  (prepare failed: %s)\n", sqlite3_errmsg(db));
    return v;
  }
  if( arg ) sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
  if( sqlite3_step(st) == SQLITE_ROW ) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* One text value (copied into buf) or "<NULL>". */
static const char *qtext(sqlite3 *db, const char *sql, char *buf, size_t n){
  sqlite3_stmt *st = NULL;
  snprintf(buf, n, "<no row>");
  if( sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ){
    snprintf(buf, n, "<error %s>", sqlite3_errmsg(db));
    return buf;
  }
  if( sqlite3_step(st) == SQLITE_ROW ){
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(buf, n, "%s", t ? (const char *)t : "<NULL>");
  }
  sqlite3_finalize(st);
  return buf;
}

static void run_info(store_run_info *ri, const char *suite){
  memset(ri, 0, sizeof *ri);
  ri->suite = suite;
  ri->command = "risq run test";
  store_machine_probe(&ri->machine);
  ri->build.git_commit = "0123456789abcdef0123456789abcdef01234567";
  ri->build.dirty = 1;
  ri->build.compiler = "gcc 12.2.0";
  ri->build.flags = "-O2";
}

static void config(store_config *c, const char *method, const char *bits,
                   const char *status, const char *error){
  memset(c, 0, sizeof *c);
  c->model = "lavt-tiny";
  c->model_hash = "m-hash";
  c->dataset = "synth-7";
  c->dataset_hash = "d-hash";
  c->method = method;
  c->bits = bits;
  c->isa = "avx2";
  c->threads = 2;
  c->status = status;
  c->error = error;
  c->counter_source = "timer";
}

/* Child/parent body of the concurrency test: open path, one run, n
** configs, end.  Returns 0 on success. */
static int writer(const char *path, const char *suite, int n){
  store *s = NULL;
  store_run_info ri;
  store_config c;
  int64_t run = 0;
  char err[512];
  run_info(&ri, suite);
  if( store_open(path, &s, err, sizeof err) ){
    fprintf(stderr, "writer %s: %s\n", suite, err);
    return 1;
  }
  if( store_begin_run(s, &ri, &run, err, sizeof err) ){
    fprintf(stderr, "writer %s: %s\n", suite, err);
    store_close(s);
    return 1;
  }
  for(int i = 0; i < n; i++){
    char bits[16];
    store_metric m[2] = {{"miou", i, 0, "%"}, {"latency_ms", 1.5, 0, "ms"}};
    store_sample smp[3] = {{"latency_ms", 0, 1.4}, {"latency_ms", 1, 1.5},
                           {"latency_ms", 2, 1.6}};
    snprintf(bits, sizeof bits, "W%dA8", i);
    config(&c, "ptq4ris", bits, "ok", NULL);
    if( store_add_config(s, run, &c, m, 2, smp, 3, NULL, err, sizeof err) ){
      fprintf(stderr, "writer %s config %d: %s\n", suite, i, err);
      store_close(s);
      return 1;
    }
  }
  if( store_end_run(s, run, "ok", err, sizeof err) ){
    fprintf(stderr, "writer %s: %s\n", suite, err);
    store_close(s);
    return 1;
  }
  store_close(s);
  return 0;
}

/* Parent and child write 50 configs each to path at the same time. */
static void concurrent(const char *path, const char *desc){
  int pfd[2];
  pid_t pid;
  int status = 0, prc;
  char go = 0;
  if( pipe(pfd) != 0 ){ CHECK(0, "pipe"); return; }
  pid = fork();
  if( pid < 0 ){ CHECK(0, "fork"); return; }
  if( pid == 0 ){
    close(pfd[1]);
    if( read(pfd[0], &go, 1) != 1 ) _exit(2);   /* start together */
    _exit(writer(path, "child", 50));
  }
  close(pfd[0]);
  if( write(pfd[1], "g", 1) != 1 ) CHECK(0, "pipe write");
  close(pfd[1]);
  prc = writer(path, "parent", 50);
  waitpid(pid, &status, 0);
  CHECK(prc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, desc);
  {
    store *s = NULL;
    char err[512], line[256];
    if( store_open(path, &s, err, sizeof err) ){ CHECK(0, err); return; }
    sqlite3 *db = store_sqlite(s);
    snprintf(line, sizeof line, "%s: 100 configs, 200 metrics, 300 samples",
             desc);
    CHECK(qint(db, "SELECT count(*) FROM config c JOIN run r ON r.id=c.run_id "
               "WHERE r.suite IN ('parent','child')", NULL) == 100
          && qint(db, "SELECT count(*) FROM metric m JOIN config c ON "
                  "c.id=m.config_id JOIN run r ON r.id=c.run_id "
                  "WHERE r.suite IN ('parent','child')", NULL) == 200
          && qint(db, "SELECT count(*) FROM sample s JOIN config c ON "
                  "c.id=s.config_id JOIN run r ON r.id=c.run_id "
                  "WHERE r.suite IN ('parent','child')", NULL) == 300, line);
    snprintf(line, sizeof line, "%s: both runs ok", desc);
    CHECK(qint(db, "SELECT count(*) FROM run WHERE suite IN ('parent','child')"
               " AND status='ok'", NULL) == 2, line);
    store_close(s);
  }
}

/* Build a schema-version-1 history at path the way risq 1 did (its DDL is
** migration step 0 -> 1), with one run of two configs. */
static int make_v1(const char *path, const char *uuid){
  sqlite3 *raw = NULL;
  char sql[2048];
  int ok = sqlite3_open(path, &raw) == SQLITE_OK
        && sqlite3_exec(raw, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) == SQLITE_OK
        && sqlite3_exec(raw, store_migration_sql(0), NULL, NULL, NULL) == SQLITE_OK;
  snprintf(sql, sizeof sql,
    "PRAGMA application_id = %d; PRAGMA user_version = 1;"
    "INSERT INTO machine(id, fingerprint, cpu_model, isa_flags, cores, board)"
    " VALUES(7, 'fp-old', 'Old CPU', 'avx2', 4, NULL);"
    "INSERT INTO build(id, git_commit, dirty, compiler, flags)"
    " VALUES(3, 'c0ffee', 0, 'gcc 12', '-O2');"
    "INSERT INTO run(id, uuid, suite, started_at, finished_at, status,"
    " machine_id, build_id, command) VALUES(5, '%s', 'nightly',"
    " '2025-01-01T00:00:00.000Z', '2025-01-01T00:10:00.000Z', 'ok', 7, 3,"
    " 'risq run');"
    "INSERT INTO config(id, run_id, model, dataset, method, bits, isa,"
    " threads, status, error, counter_source) VALUES"
    " (11, 5, 'lavt-tiny', 'synth', 'fp32', 'fp32', 'scalar', 1, 'ok', NULL,"
    " 'timer'),"
    " (12, 5, 'lavt-tiny', 'synth', 'fp32', 'fp32', 'scalar', 2, 'failed',"
    " 'boom', NULL);"
    "INSERT INTO metric VALUES(11, 'miou', 61.5, '%%'), (11, 'cycles', NULL,"
    " 'count');"
    "INSERT INTO sample VALUES(11, 'latency_ms', 0, 3.5), (11, 'latency_ms',"
    " 1, 3.25);", STORE_APPLICATION_ID, uuid);
  ok = ok && sqlite3_exec(raw, sql, NULL, NULL, NULL) == SQLITE_OK;
  if( !ok ) printf("     (make_v1: %s)\n", sqlite3_errmsg(raw));
  sqlite3_close(raw);
  return ok ? 0 : -1;
}

/* Migration 1 -> 2 keeps every row and the view's output. */
static void migration_v1(const char *dir){
  char path[512], err[512], buf[256];
  store *s = NULL;
  sqlite3 *db;
  snprintf(path, sizeof path, "%s/v1.sqlite", dir);
  CHECK(make_v1(path, "00000000000000000000000000000aaa") == 0, "build a v1 history");
  CHECK(store_open(path, &s, err, sizeof err) == 0, "open migrates v1 to v2");
  if( s == NULL ){ printf("     %s\n", err); return; }
  db = store_sqlite(s);
  CHECK(qint(db, "PRAGMA user_version", NULL) == 2, "migrated file is version 2");
  CHECK(qint(db, "SELECT count(*) FROM v_results", NULL) == 3
        && qint(db, "SELECT value = 61.5 FROM v_results WHERE metric='miou' AND "
                "run_id = 5 AND git_commit='c0ffee' AND machine='Old CPU' AND "
                "suite='nightly' AND threads=1", NULL) == 1
        && qint(db, "SELECT count(*) FROM v_results WHERE status='failed' AND "
                "metric IS NULL", NULL) == 1, "v_results gives the v1 rows");
  CHECK(qint(db, "SELECT count(*) FROM sample WHERE config_id=11", NULL) == 2
        && qint(db, "SELECT count(*) FROM metric WHERE value IS NULL", NULL) == 1
        && strcmp(qtext(db, "SELECT error FROM config WHERE id=12", buf,
                        sizeof buf), "boom") == 0, "metrics, samples, errors intact");
  CHECK(qint(db, "SELECT count(*) FROM run WHERE suite_text IS NULL AND board "
             "IS NULL", NULL) == 1
        && qint(db, "SELECT count(*) FROM config WHERE exit_reason IS NULL AND "
                "timeout_s IS NULL", NULL) == 2, "new columns are NULL for old rows");
  CHECK(qint(db, "SELECT count(*) FROM baseline", NULL) == 0, "baseline table exists");
  store_close(s);
  CHECK(store_open(path, &s, err, sizeof err) == 0
        && qint(store_sqlite(s), "SELECT count(*) FROM v_results", NULL) == 3,
        "reopening the migrated file changes nothing");
  store_close(s);
}

/* Baselines, and merging histories (idempotent; refusals). */
static void baselines_and_merge(const char *dir){
  char a[512], b[512], v1[512], bad[512], err[512], buf[256];
  store *sa = NULL, *sb = NULL;
  store_run_info ri;
  store_config c;
  store_merge_stats st;
  int64_t ra = 0, rb = 0, got = 0;
  snprintf(a, sizeof a, "%s/merge-a.sqlite", dir);
  snprintf(b, sizeof b, "%s/merge-b.sqlite", dir);
  snprintf(v1, sizeof v1, "%s/merge-v1.sqlite", dir);
  if( store_open(a, &sa, err, sizeof err) || store_open(b, &sb, err, sizeof err) ){
    CHECK(0, err);
    return;
  }
  run_info(&ri, "alpha");
  ri.suite_text = "suite: alpha\n";
  ri.board = "rpi5";
  store_begin_run(sa, &ri, &ra, err, sizeof err);
  config(&c, "fp32", "fp32", "ok", NULL);
  c.exit_reason = "ok";
  c.timeout_s = 60;
  {
    store_metric m[1] = {{"miou", 50, 0, "%"}};
    store_sample smp[2] = {{"latency_ms", 0, 1.0}, {"latency_ms", 1, 2.0}};
    CHECK(store_add_config(sa, ra, &c, m, 1, smp, 2, NULL, err, sizeof err) == 0,
          "v2 config with exit_reason and timeout_s");
  }
  store_end_run(sa, ra, "ok", err, sizeof err);
  CHECK(qint(store_sqlite(sa), "SELECT count(*) FROM run WHERE suite_text="
             "'suite: alpha\n' AND board='rpi5'", NULL) == 1
        && qint(store_sqlite(sa), "SELECT count(*) FROM config WHERE exit_reason="
                "'ok' AND timeout_s=60", NULL) == 1, "run.suite_text, run.board stored");

  /* baselines */
  CHECK(store_get_baseline(sa, "main", &got, err, sizeof err) == 1
        && strstr(err, "no baseline named 'main'") != NULL, "missing baseline reported");
  CHECK(store_set_baseline(sa, "main", ra, err, sizeof err) == 0
        && store_get_baseline(sa, "main", &got, err, sizeof err) == 0 && got == ra,
        "set and get a baseline");
  CHECK(store_set_baseline(sa, "main", 9999, err, sizeof err) != 0
        && strstr(err, "no run with id 9999") != NULL, "baseline to a missing run refused");
  CHECK(store_set_baseline(sa, "main", ra, err, sizeof err) == 0
        && qint(store_sqlite(sa), "SELECT count(*) FROM baseline", NULL) == 1,
        "setting a baseline again replaces it");

  run_info(&ri, "beta");
  store_begin_run(sb, &ri, &rb, err, sizeof err);
  config(&c, "fp32", "fp32", "failed", "crashed");
  store_add_config(sb, rb, &c, NULL, 0, NULL, 0, NULL, err, sizeof err);
  store_end_run(sb, rb, "failed", err, sizeof err);
  store_set_baseline(sb, "main", rb, err, sizeof err);     /* clashes: a's wins */
  store_set_baseline(sb, "beta-base", rb, err, sizeof err);
  store_close(sb);

  /* merge b into a, twice */
  CHECK(store_merge(sa, b, &st, err, sizeof err) == 0 && st.runs_added == 1
        && st.configs_added == 1 && st.runs_present == 0 && st.baselines_added == 1,
        "merge adds the other history's run, config and new baseline");
  if( err[0] ) printf("     -> %s\n", err);
  sqlite3 *db = store_sqlite(sa);
  CHECK(qint(db, "SELECT count(*) FROM run", NULL) == 2
        && qint(db, "SELECT count(*) FROM config WHERE error='crashed' AND run_id="
                "(SELECT id FROM run WHERE suite='beta')", NULL) == 1,
        "merged run and config present");
  CHECK(store_get_baseline(sa, "main", &got, err, sizeof err) == 0 && got == ra,
        "an existing baseline name is kept");
  CHECK(store_get_baseline(sa, "beta-base", &got, err, sizeof err) == 0
        && strcmp(qtext(db, "SELECT suite FROM run WHERE id = (SELECT id FROM run "
                        "WHERE uuid = (SELECT run_uuid FROM baseline WHERE name="
                        "'beta-base'))", buf, sizeof buf), "beta") == 0,
        "merged baseline points at the merged run");
  CHECK(store_merge(sa, b, &st, err, sizeof err) == 0 && st.runs_added == 0
        && st.configs_added == 0 && st.runs_present == 1 && st.baselines_added == 0,
        "merging the same file again adds nothing");
  CHECK(qint(db, "SELECT count(*) FROM run", NULL) == 2
        && qint(db, "SELECT count(*) FROM config", NULL) == 2
        && qint(db, "SELECT count(*) FROM sample", NULL) == 2
        && qint(db, "SELECT count(*) FROM machine", NULL) == 1
        && qint(db, "SELECT count(*) FROM build", NULL) == 1,
        "row counts unchanged after the second merge");

  /* merge a into a fresh c: everything, with the metrics and samples */
  {
    char cpath[512];
    store *sc = NULL;
    snprintf(cpath, sizeof cpath, "%s/merge-c.sqlite", dir);
    store_open(cpath, &sc, err, sizeof err);
    CHECK(sc && store_merge(sc, a, &st, err, sizeof err) == 0 && st.runs_added == 2
          && st.configs_added == 2 && st.baselines_added == 2,
          "merge into an empty history copies every run");
    if( sc ){
      sqlite3 *dc = store_sqlite(sc);
      CHECK(qint(dc, "SELECT count(*) FROM v_results", NULL) == 2
            && qint(dc, "SELECT value = 50 FROM v_results WHERE metric='miou'", NULL) == 1
            && qint(dc, "SELECT count(*) FROM sample", NULL) == 2
            && qint(dc, "SELECT count(*) FROM run WHERE board='rpi5' AND "
                    "suite_text='suite: alpha\n'", NULL) == 1
            && qint(dc, "SELECT count(*) FROM pragma_foreign_key_check", NULL) == 0,
            "merged rows complete and consistent");
      CHECK(store_merge(sc, cpath, &st, err, sizeof err) != 0
            && strstr(err, "being merged into") != NULL, "merging a file into itself refused");
      store_close(sc);
    }
  }

  /* a v1 source */
  CHECK(make_v1(v1, "00000000000000000000000000000bbb") == 0, "build a v1 history to merge");
  CHECK(store_merge(sa, v1, &st, err, sizeof err) == 0 && st.runs_added == 1
        && st.configs_added == 2
        && qint(db, "SELECT count(*) FROM sample s JOIN config c ON c.id=s.config_id "
                "JOIN run r ON r.id=c.run_id WHERE r.uuid="
                "'00000000000000000000000000000bbb'", NULL) == 2,
        "a v1 history merges (without touching it)");
  {
    sqlite3 *raw = NULL;
    sqlite3_open(v1, &raw);
    CHECK(qint(raw, "PRAGMA user_version", NULL) == 1, "merge source left at v1");
    sqlite3_close(raw);
  }

  /* refusals */
  {
    sqlite3 *raw = NULL;
    snprintf(bad, sizeof bad, "%s/merge-newer.sqlite", dir);
    make_v1(bad, "00000000000000000000000000000ccc");
    sqlite3_open(bad, &raw);
    sqlite3_exec(raw, "PRAGMA user_version = 999", NULL, NULL, NULL);
    sqlite3_close(raw);
    CHECK(store_merge(sa, bad, &st, err, sizeof err) != 0
          && strstr(err, "newer than this risq") != NULL, "newer source refused");
    printf("     -> %s\n", err);
    snprintf(bad, sizeof bad, "%s/merge-other.sqlite", dir);
    sqlite3_open(bad, &raw);
    sqlite3_exec(raw, "CREATE TABLE run(uuid TEXT)", NULL, NULL, NULL);
    sqlite3_close(raw);
    CHECK(store_merge(sa, bad, &st, err, sizeof err) != 0
          && strstr(err, "not a risq results database") != NULL, "non-risq source refused");
    printf("     -> %s\n", err);
    snprintf(bad, sizeof bad, "%s/merge-missing.sqlite", dir);
    CHECK(store_merge(sa, bad, &st, err, sizeof err) != 0
          && strstr(err, "No such file") != NULL, "missing source refused");
    CHECK(qint(db, "SELECT count(*) FROM run", NULL) == 3
          && sqlite3_get_autocommit(db), "refusals change nothing, leave no transaction");
  }
  store_close(sa);
}

int main(void){
  char tmpl[] = "/tmp/risq-test-store-XXXXXX";
  char *dir = mkdtemp(tmpl);
  char path[512], path2[512], path3[512], path4[512], path5[512], path6[512];
  char err[512], want[768], buf[256];
  store *s = NULL;
  sqlite3 *db;
  store_run_info ri;
  store_config c;
  int64_t run = 0, run2 = 0, cid = 0, cid2 = 0;
  struct stat st;

  if( dir == NULL ){ perror("mkdtemp"); return 1; }
  snprintf(path, sizeof path, "%s/results/deeper/history.sqlite", dir);

  /* --- machine probe --- */
  {
    store_machine m1, m2;
    store_machine_probe(&m1);
    store_machine_probe(&m2);
    printf("     machine: cpu='%s' isa='%s' cores=%d board='%s' fp=%s\n",
           m1.cpu_model, m1.isa_flags, m1.cores, m1.board, m1.fingerprint);
    CHECK(m1.cpu_model[0] != 0 && m1.cores > 0, "probe finds CPU model and cores");
    CHECK(strlen(m1.fingerprint) == 16
          && strspn(m1.fingerprint, "0123456789abcdef") == 16,
          "fingerprint is 16 hex digits");
    CHECK(strcmp(m1.fingerprint, m2.fingerprint) == 0, "fingerprint is stable");
    snprintf(m2.board, sizeof m2.board, "some-board");
    store_machine_fingerprint(&m2);
    CHECK(strcmp(m1.fingerprint, m2.fingerprint) != 0,
          "board name changes the fingerprint");
  }

  /* --- create --- */
  CHECK(store_open(path, &s, err, sizeof err) == 0, "open creates DB and parent dirs");
  if( s == NULL ){ printf("     %s\n", err); return 1; }
  db = store_sqlite(s);
  CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode), "DB file exists");
  CHECK(qint(db, "PRAGMA application_id", NULL) == STORE_APPLICATION_ID,
        "application_id is 'risq'");
  CHECK(qint(db, "PRAGMA user_version", NULL) == STORE_SCHEMA_VERSION,
        "user_version is the schema version (2)");
  CHECK(strcmp(qtext(db, "PRAGMA journal_mode", buf, sizeof buf), "wal") == 0,
        "journal mode is WAL");
  CHECK(qint(db, "PRAGMA foreign_keys", NULL) == 1, "foreign keys on");
  CHECK(qint(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('machine',"
             "'build','run','config','metric','sample','v_results','baseline')",
             NULL) == 8, "all tables and the view exist");
  CHECK(qint(db, "SELECT count(*) FROM pragma_table_info('run') WHERE name IN "
             "('suite_text','board')", NULL) == 2
        && qint(db, "SELECT count(*) FROM pragma_table_info('config') WHERE name "
                "IN ('exit_reason','timeout_s')", NULL) == 2, "v2 columns exist");

  /* --- a run with two configs --- */
  run_info(&ri, "smoke");
  ri.machine.board[0] = 0;                 /* machine column = CPU model */
  store_machine_fingerprint(&ri.machine);
  CHECK(store_begin_run(s, &ri, &run, err, sizeof err) == 0 && run > 0,
        "begin run");
  {
    char uuid[33];
    CHECK(store_run_uuid(s, run, uuid, err, sizeof err) == 0
          && strlen(uuid) == 32 && strspn(uuid, "0123456789abcdef") == 32,
          "run uuid is 32 hex digits");
  }
  CHECK(strcmp(qtext(db, "SELECT status FROM run", buf, sizeof buf),
               "running") == 0, "new run is 'running'");
  qtext(db, "SELECT started_at FROM run", buf, sizeof buf);
  CHECK(strlen(buf) == 24 && buf[10] == 'T' && buf[23] == 'Z',
        "started_at is UTC ISO-8601");
  {
    store_metric m[4] = {
      {"miou", 37.5, 0, "%"},
      {"oiou", 55.5, 0, "%"},
      {"cycles", 123, 1, "count"},        /* unavailable counter */
      {"instructions", NAN, 0, "count"},  /* NaN is also NULL */
    };
    store_sample smp[3] = {{"latency_ms", 0, 2.0}, {"latency_ms", 1, 2.5},
                           {"latency_ms", 2, NAN}};
    config(&c, "ptq4ris", "W8A8", "ok", NULL);
    CHECK(store_add_config(s, run, &c, m, 4, smp, 3, &cid, err, sizeof err) == 0
          && cid > 0, "add ok config with metrics and samples");
  }
  config(&c, "ptq4ris", "W4A4", "failed", "calibration diverged");
  c.counter_source = NULL;
  CHECK(store_add_config(s, run, &c, NULL, 0, NULL, 0, &cid2, err, sizeof err) == 0,
        "add failed config without metrics");
  {
    double *v = NULL;
    int n = -1;
    CHECK(store_read_samples(db, cid, "latency_ms", &v, &n) == 0 && n == 2
          && v && v[0] == 2.0 && v[1] == 2.5,
          "read samples: in idx order, the NULL one left out");
    free(v);
    CHECK(store_read_samples(db, cid2, "latency_ms", &v, &n) == 0 && n == 0
          && v == NULL, "read samples: none is 0 and NULL");
    CHECK(store_read_samples(db, cid, "iou", &v, &n) == 0 && n == 0 && v == NULL,
          "read samples: another name has none");
  }

  /* error paths: nothing half-written */
  {
    store_metric dup[2] = {{"miou", 1, 0, "%"}, {"miou", 2, 0, "%"}};
    config(&c, "minmax", "W8A8", "ok", NULL);
    CHECK(store_add_config(s, run, &c, dup, 2, NULL, 0, NULL, err, sizeof err) != 0
          && strstr(err, "given twice") != NULL, "duplicate metric refused");
    printf("     -> %s\n", err);
    CHECK(qint(db, "SELECT count(*) FROM config", NULL) == 2,
          "refused config rolled back entirely");
    CHECK(store_add_config(s, 9999, &c, NULL, 0, NULL, 0, NULL, err, sizeof err) != 0
          && strstr(err, "no run with id 9999") != NULL,
          "config for a missing run refused");
    printf("     -> %s\n", err);
    config(&c, "minmax", "W8A8", "maybe", NULL);
    CHECK(store_add_config(s, run, &c, NULL, 0, NULL, 0, NULL, err, sizeof err) != 0,
          "bad config status refused");
    CHECK(store_end_run(s, 9999, "ok", err, sizeof err) != 0
          && strstr(err, "no run with id 9999") != NULL, "end of missing run refused");
    CHECK(store_end_run(s, run, "done", err, sizeof err) != 0,
          "bad run status refused");
    CHECK(sqlite3_get_autocommit(db), "no transaction left open after errors");
  }

  CHECK(store_end_run(s, run, "ok", err, sizeof err) == 0, "end run");
  CHECK(strcmp(qtext(db, "SELECT status FROM run", buf, sizeof buf), "ok") == 0
        && qint(db, "SELECT finished_at IS NOT NULL FROM run", NULL) == 1,
        "run is 'ok' with finished_at");

  /* --- the view --- */
  CHECK(qint(db, "SELECT count(*) FROM v_results", NULL) == 5,
        "v_results: 4 metric rows + 1 row for the failed config");
  CHECK(qint(db, "SELECT count(*) FROM v_results WHERE status='failed' AND "
             "bits='W4A4' AND metric IS NULL AND value IS NULL AND unit IS NULL",
             NULL) == 1, "failed config appears once with NULL metric");
  CHECK(qint(db, "SELECT value = 37.5 FROM v_results WHERE metric='miou'", NULL) == 1,
        "miou value stored");
  CHECK(qint(db, "SELECT count(*) FROM v_results WHERE metric IN ('cycles',"
             "'instructions') AND value IS NULL AND unit='count'", NULL) == 2,
        "unavailable counters are NULL, not 0");
  CHECK(qint(db, "SELECT count(*) FROM v_results WHERE run_id = 1 AND "
             "git_commit='0123456789abcdef0123456789abcdef01234567' AND "
             "suite='smoke' AND model='lavt-tiny' AND dataset='synth-7' AND "
             "method='ptq4ris' AND isa='avx2' AND threads=2 AND "
             "started_at = (SELECT started_at FROM run WHERE id=1) AND "
             "machine = (SELECT cpu_model FROM machine)", NULL) == 5,
        "view columns (machine = CPU model when no board)");
  {
    sqlite3_stmt *q = NULL;
    static const char *const cols[] = {"run_id", "started_at", "git_commit",
      "machine", "suite", "model", "dataset", "method", "bits", "isa",
      "threads", "status", "metric", "value", "unit"};
    int okcols = sqlite3_prepare_v2(db, "SELECT * FROM v_results", -1, &q,
                                    NULL) == SQLITE_OK
                 && sqlite3_column_count(q) == 15;
    for(int k = 0; okcols && k < 15; k++){
      if( strcmp(sqlite3_column_name(q, k), cols[k]) != 0 ) okcols = 0;
    }
    sqlite3_finalize(q);
    CHECK(okcols, "v_results has exactly the documented columns");
  }
  CHECK(qint(db, "SELECT count(*) FROM sample WHERE name='latency_ms'", NULL) == 3
        && qint(db, "SELECT count(*) FROM sample WHERE value IS NULL", NULL) == 1,
        "raw samples stored (NaN sample as NULL)");
  CHECK(strcmp(qtext(db, "SELECT error FROM config WHERE status='failed'",
                     buf, sizeof buf), "calibration diverged") == 0,
        "failed config keeps its error");
  store_close(s);
  s = NULL;

  /* --- reopen: data kept, machine/build rows reused --- */
  CHECK(store_open(path, &s, err, sizeof err) == 0, "reopen existing DB");
  if( s == NULL ){ printf("     %s\n", err); return 1; }
  db = store_sqlite(s);
  CHECK(qint(db, "SELECT count(*) FROM v_results", NULL) == 5, "data survives reopen");
  CHECK(store_begin_run(s, &ri, &run2, err, sizeof err) == 0 && run2 == run + 1,
        "second run");
  CHECK(qint(db, "SELECT count(*) FROM machine", NULL) == 1
        && qint(db, "SELECT count(*) FROM build", NULL) == 1,
        "same machine and build reuse their rows");
  CHECK(qint(db, "SELECT count(DISTINCT uuid) FROM run", NULL) == 2,
        "run uuids differ");
  run_info(&ri, "boards");
  snprintf(ri.machine.board, sizeof ri.machine.board, "rpi5");
  store_machine_fingerprint(&ri.machine);
  ri.build.dirty = 0;
  CHECK(store_begin_run(s, &ri, &run2, err, sizeof err) == 0, "third run on a board");
  config(&c, "fp32", "fp32", "ok", NULL);
  {
    store_metric m1 = {"miou", 70.0, 0, "%"};
    store_add_config(s, run2, &c, &m1, 1, NULL, 0, NULL, err, sizeof err);
  }
  CHECK(strcmp(qtext(db, "SELECT machine FROM v_results WHERE suite='boards'",
                     buf, sizeof buf), "rpi5") == 0,
        "machine column = board name when set");
  CHECK(qint(db, "SELECT count(*) FROM machine", NULL) == 2
        && qint(db, "SELECT count(*) FROM build", NULL) == 2,
        "new board and clean build get new rows");
  store_close(s);
  s = NULL;

  /* --- newer schema refused, untouched --- */
  {
    sqlite3 *raw = NULL;
    snprintf(path2, sizeof path2, "%s/newer.sqlite", dir);
    CHECK(store_open(path2, &s, err, sizeof err) == 0, "create DB to bump");
    store_close(s);
    s = NULL;
    sqlite3_open(path2, &raw);
    sqlite3_exec(raw, "PRAGMA user_version = 999", NULL, NULL, NULL);
    sqlite3_close(raw);
    snprintf(want, sizeof want, "%s: results schema version 999 is newer than "
             "this risq supports (%d); upgrade risq", path2, STORE_SCHEMA_VERSION);
    CHECK(store_open(path2, &s, err, sizeof err) != 0 && s == NULL
          && strcmp(err, want) == 0, "user_version 999 refused with the message");
    printf("     -> %s\n", err);
    sqlite3_open(path2, &raw);
    CHECK(qint(raw, "PRAGMA user_version", NULL) == 999, "newer DB left untouched");
    sqlite3_close(raw);
  }

  /* --- foreign SQLite files refused --- */
  {
    sqlite3 *raw = NULL;
    snprintf(path3, sizeof path3, "%s/other.sqlite", dir);
    sqlite3_open(path3, &raw);
    sqlite3_exec(raw, "CREATE TABLE notes(x)", NULL, NULL, NULL);
    sqlite3_close(raw);
    CHECK(store_open(path3, &s, err, sizeof err) != 0
          && strstr(err, "not a risq results database") != NULL,
          "SQLite file with other tables refused");
    printf("     -> %s\n", err);
    sqlite3_open(path3, &raw);
    CHECK(strcmp(qtext(raw, "PRAGMA journal_mode", buf, sizeof buf), "wal") != 0
          && qint(raw, "SELECT count(*) FROM sqlite_master", NULL) == 1,
          "foreign DB not modified");
    sqlite3_close(raw);

    snprintf(path4, sizeof path4, "%s/otherapp.sqlite", dir);
    sqlite3_open(path4, &raw);
    sqlite3_exec(raw, "PRAGMA application_id = 42", NULL, NULL, NULL);
    sqlite3_close(raw);
    CHECK(store_open(path4, &s, err, sizeof err) != 0
          && strstr(err, "application_id 0x0000002a") != NULL,
          "empty SQLite file of another application refused");

    snprintf(path5, sizeof path5, "%s/text.sqlite", dir);
    FILE *f = fopen(path5, "w");
    if( f ){
      for(int k = 0; k < 200; k++) fputs("this is not a database file\n", f);
      fclose(f);
    }
    CHECK(store_open(path5, &s, err, sizeof err) != 0
          && strstr(err, "not a SQLite database") != NULL,
          "non-SQLite file refused");
    printf("     -> %s\n", err);

    snprintf(path6, sizeof path6, "%s/text.sqlite/history.sqlite", dir);
    CHECK(store_open(path6, &s, err, sizeof err) != 0
          && strstr(err, "not a directory") != NULL,
          "parent that is a file refused");
    printf("     -> %s\n", err);
  }

  /* --- concurrent writers --- */
  concurrent(path, "two processes write to an existing DB");
  {
    char fresh[512];
    snprintf(fresh, sizeof fresh, "%s/fresh/history.sqlite", dir);
    concurrent(fresh, "two processes create and write a new DB");
  }

  migration_v1(dir);
  baselines_and_merge(dir);

  /* --- clean up (best effort) --- */
  {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if( system(cmd) != 0 ) printf("     (could not remove %s)\n", dir);
  }
  printf("%s: %d failure(s)\n", nfail ? "FAILED" : "PASSED", nfail);
  return nfail ? 1 : 0;
}
