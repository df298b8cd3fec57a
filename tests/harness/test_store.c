/*
** test_store.c -- checks harness/store.c: schema, pragmas, writes, the
** v_results view, refusal of foreign/newer databases and concurrent
** writers.  Works in a fresh mkdtemp directory; one line per check; exit
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
        "user_version is the schema version (1)");
  CHECK(strcmp(qtext(db, "PRAGMA journal_mode", buf, sizeof buf), "wal") == 0,
        "journal mode is WAL");
  CHECK(qint(db, "PRAGMA foreign_keys", NULL) == 1, "foreign keys on");
  CHECK(qint(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('machine',"
             "'build','run','config','metric','sample','v_results')", NULL) == 7,
        "all v1 tables and the view exist");

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
             "this risq supports (1); upgrade risq", path2);
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

  /* --- clean up (best effort) --- */
  {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if( system(cmd) != 0 ) printf("     (could not remove %s)\n", dir);
  }
  printf("%s: %d failure(s)\n", nfail ? "FAILED" : "PASSED", nfail);
  return nfail ? 1 : 0;
}
