/*
** store.c -- the SQLite results history (see store.h for the rules).
**
** Layout of this file:
**   1. small helpers (error messages, time, uuid, mkdir -p)
**   2. the schema: one SQL script per migration step, applied forward only
**   3. open / close (identity checks, pragmas, migration)
**   4. writes: begin run, add config, end run
**   5. baselines
**   6. merge of another history
**   7. machine probe and fingerprint
**
** Every value reaches SQLite through sqlite3_bind_*; the only SQL built
** here is constant text.  Every write transaction starts with BEGIN
** IMMEDIATE, so the write lock is taken up front and the busy timeout (not
** a failed upgrade from a read lock) handles concurrent writers.
*/
#include "harness/store.h"
#include "build_info.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

struct store {
  sqlite3 *db;
  char    *path;   /* as given, for messages */
};

/* ------------------------------------------------------------------ */
/* 1. helpers                                                          */
/* ------------------------------------------------------------------ */

/* printf into the caller's error buffer (which may be NULL). */
static void errf(char *err, size_t errlen, const char *fmt, ...){
  va_list ap;
  if( err == NULL || errlen == 0 ) return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

char *store_now_utc(char buf[32]){
  struct timeval tv;
  struct tm tm;
  size_t n;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(tv.tv_usec / 1000) % 1000u);
  return buf;
}

/* 128 random bits as 32 lowercase hex digits.  /dev/urandom first; if it
** cannot be read, SQLite's own CSPRNG (itself seeded from the OS). */
static void make_uuid(char out[33]){
  unsigned char b[16];
  size_t got = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if( fd >= 0 ){
    while( got < sizeof b ){
      ssize_t r = read(fd, b + got, sizeof b - got);
      if( r > 0 ) got += (size_t)r;
      else if( r < 0 && errno == EINTR ) continue;
      else break;
    }
    close(fd);
  }
  if( got < sizeof b ) sqlite3_randomness((int)sizeof b, b);
  for(int i = 0; i < 16; i++) snprintf(out + 2*i, 3, "%02x", b[i]);
  out[32] = 0;
}

/* Create every missing directory above the file `path` (like mkdir -p
** on dirname(path)). */
static int make_parent_dirs(const char *path, char *err, size_t errlen){
  char *p = strdup(path);
  char *slash;
  int rc = 0;
  if( p == NULL ){ errf(err, errlen, "%s: out of memory", path); return -1; }
  slash = strrchr(p, '/');
  if( slash == NULL || slash == p ){ free(p); return 0; }   /* cwd or / */
  *slash = 0;
  for(char *q = p + 1; ; q++){
    if( *q == '/' || *q == 0 ){
      char c = *q;
      *q = 0;
      if( mkdir(p, 0777) != 0 && errno != EEXIST ){
        errf(err, errlen, "%s: cannot create directory %s: %s",
             path, p, strerror(errno));
        rc = -1;
        break;
      }
      *q = c;
      if( c == 0 ) break;
    }
  }
  if( rc == 0 ){
    struct stat st;
    if( stat(p, &st) != 0 || !S_ISDIR(st.st_mode) ){
      errf(err, errlen, "%s: %s is not a directory", path, p);
      rc = -1;
    }
  }
  free(p);
  return rc;
}

/* Run one statement that returns a single integer (a PRAGMA or a
** count).  Returns the SQLite result code. */
static int query_int(sqlite3 *db, const char *sql, int64_t *v){
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if( rc != SQLITE_OK ) return rc;
  rc = sqlite3_step(st);
  if( rc == SQLITE_ROW ){
    *v = sqlite3_column_int64(st, 0);
    rc = SQLITE_OK;
  }else if( rc == SQLITE_DONE ){
    *v = 0;
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return rc;
}

/* Execute constant SQL with no values (BEGIN, COMMIT, schema scripts). */
static int exec_sql(store *s, const char *sql, const char *what,
                    char *err, size_t errlen){
  char *msg = NULL;
  if( sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK ){
    errf(err, errlen, "%s: %s failed: %s", s->path, what,
         msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static int begin_write(store *s, char *err, size_t errlen){
  return exec_sql(s, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE (is another "
                  "process holding the results database?)", err, errlen);
}

/* Roll back after an error; the first error message is kept. */
static void rollback(store *s){
  if( !sqlite3_get_autocommit(s->db) ){
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  }
}

/* Bind a text parameter or NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *v){
  if( v == NULL ) return sqlite3_bind_null(st, i);
  return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

/* Bind a real, storing NULL for NaN (an unavailable value is never 0). */
static int bind_real(sqlite3_stmt *st, int i, double v, int is_null){
  if( is_null || isnan(v) ) return sqlite3_bind_null(st, i);
  return sqlite3_bind_double(st, i, v);
}

/* ------------------------------------------------------------------ */
/* 2. schema                                                           */
/* ------------------------------------------------------------------ */

/*
** migrations[i] takes the schema from version i to version i+1.  Steps are
** never edited once released: a change to the schema is a new step
** appended here (and STORE_SCHEMA_VERSION bumped).  A step runs inside the
** same BEGIN IMMEDIATE transaction that sets user_version, so a DB is
** always at exactly one version.
*/
static const char *const migrations[] = {
  /* 0 -> 1: initial schema */
  "CREATE TABLE machine(\n"
  "  id          INTEGER PRIMARY KEY,\n"
  "  fingerprint TEXT NOT NULL UNIQUE,\n"
  "  cpu_model   TEXT,\n"
  "  isa_flags   TEXT,\n"
  "  cores       INTEGER,\n"
  "  board       TEXT\n"
  ");\n"
  "CREATE TABLE build(\n"
  "  id          INTEGER PRIMARY KEY,\n"
  "  git_commit  TEXT NOT NULL,\n"
  "  dirty       INTEGER NOT NULL DEFAULT 0,\n"
  "  compiler    TEXT NOT NULL DEFAULT '',\n"
  "  flags       TEXT NOT NULL DEFAULT '',\n"
  "  UNIQUE(git_commit, dirty, compiler, flags)\n"
  ");\n"
  "CREATE TABLE run(\n"
  "  id          INTEGER PRIMARY KEY,\n"
  "  uuid        TEXT NOT NULL UNIQUE,\n"
  "  suite       TEXT NOT NULL,\n"
  "  started_at  TEXT NOT NULL,\n"
  "  finished_at TEXT,\n"
  "  status      TEXT NOT NULL DEFAULT 'running'\n"
  "              CHECK(status IN ('running','ok','failed','interrupted')),\n"
  "  machine_id  INTEGER NOT NULL REFERENCES machine(id),\n"
  "  build_id    INTEGER NOT NULL REFERENCES build(id),\n"
  "  command     TEXT\n"
  ");\n"
  "CREATE INDEX run_suite_started ON run(suite, started_at);\n"
  "CREATE TABLE config(\n"
  "  id             INTEGER PRIMARY KEY,\n"
  "  run_id         INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,\n"
  "  model          TEXT NOT NULL,\n"
  "  model_hash     TEXT,\n"
  "  dataset        TEXT NOT NULL,\n"
  "  dataset_hash   TEXT,\n"
  "  method         TEXT NOT NULL,\n"
  "  bits           TEXT NOT NULL,\n"
  "  isa            TEXT,\n"
  "  threads        INTEGER,\n"
  "  status         TEXT NOT NULL CHECK(status IN ('ok','failed')),\n"
  "  error          TEXT,\n"
  "  counter_source TEXT,\n"
  "  started_at     TEXT,\n"
  "  finished_at    TEXT\n"
  ");\n"
  "CREATE INDEX config_run ON config(run_id);\n"
  "CREATE INDEX config_key ON config(model, dataset, method, bits, isa, threads);\n"
  "CREATE TABLE metric(\n"
  "  config_id INTEGER NOT NULL REFERENCES config(id) ON DELETE CASCADE,\n"
  "  name      TEXT NOT NULL,\n"
  "  value     REAL,\n"
  "  unit      TEXT,\n"
  "  PRIMARY KEY(config_id, name)\n"
  ");\n"
  "CREATE TABLE sample(\n"
  "  config_id INTEGER NOT NULL REFERENCES config(id) ON DELETE CASCADE,\n"
  "  name      TEXT NOT NULL,\n"
  "  idx       INTEGER NOT NULL,\n"
  "  value     REAL,\n"
  "  PRIMARY KEY(config_id, name, idx)\n"
  ");\n"
  "CREATE VIEW v_results AS\n"
  "SELECT r.id          AS run_id,\n"
  "       r.started_at  AS started_at,\n"
  "       b.git_commit  AS git_commit,\n"
  "       COALESCE(NULLIF(m.board, ''), m.cpu_model) AS machine,\n"
  "       r.suite       AS suite,\n"
  "       c.model       AS model,\n"
  "       c.dataset     AS dataset,\n"
  "       c.method      AS method,\n"
  "       c.bits        AS bits,\n"
  "       c.isa         AS isa,\n"
  "       c.threads     AS threads,\n"
  "       c.status      AS status,\n"
  "       mt.name       AS metric,\n"
  "       mt.value      AS value,\n"
  "       mt.unit       AS unit\n"
  "  FROM config c\n"
  "  JOIN run r      ON r.id = c.run_id\n"
  "  JOIN machine m  ON m.id = r.machine_id\n"
  "  JOIN build b    ON b.id = r.build_id\n"
  "  LEFT JOIN metric mt ON mt.config_id = c.id;\n",

  /* 1 -> 2: isolation and compare support.  v_results is unchanged. */
  "ALTER TABLE run ADD COLUMN suite_text TEXT;\n"
  "ALTER TABLE run ADD COLUMN board TEXT;\n"
  "ALTER TABLE config ADD COLUMN exit_reason TEXT;\n"
  "ALTER TABLE config ADD COLUMN timeout_s REAL;\n"
  "CREATE TABLE baseline(\n"
  "  name       TEXT PRIMARY KEY,\n"
  "  run_uuid   TEXT NOT NULL,\n"
  "  created_at TEXT NOT NULL\n"
  ");\n",
};

/* Keep the header's version and the migration list in step. */
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

const char *store_migration_sql(int from){
  if( from < 0 || from >= STORE_SCHEMA_VERSION ) return NULL;
  return migrations[from];
}

/* Bring the schema to STORE_SCHEMA_VERSION.  Re-reads user_version inside
** the write transaction: another process may have migrated meanwhile. */
static int migrate(store *s, char *err, size_t errlen){
  int64_t ver = 0;
  if( begin_write(s, err, errlen) ) return -1;
  if( query_int(s->db, "PRAGMA user_version", &ver) != SQLITE_OK ){
    errf(err, errlen, "%s: cannot read schema version: %s",
         s->path, sqlite3_errmsg(s->db));
    goto fail;
  }
  if( ver > STORE_SCHEMA_VERSION ){
    errf(err, errlen, "%s: results schema version %lld is newer than this "
         "risq supports (%d); upgrade risq", s->path, (long long)ver,
         STORE_SCHEMA_VERSION);
    goto fail;
  }
  if( ver == STORE_SCHEMA_VERSION ){
    rollback(s);   /* nothing to do; release the write lock */
    return 0;
  }
  for(; ver < STORE_SCHEMA_VERSION; ver++){
    char *msg = NULL;
    if( sqlite3_exec(s->db, migrations[ver], NULL, NULL, &msg) != SQLITE_OK ){
      errf(err, errlen, "%s: migrating results schema from version %lld "
           "to %lld failed: %s", s->path, (long long)ver,
           (long long)ver + 1, msg ? msg : sqlite3_errmsg(s->db));
      sqlite3_free(msg);
      goto fail;
    }
  }
  /* PRAGMA values cannot be bound; these are compile-time constants,
  ** not data. */
  {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d",
             STORE_APPLICATION_ID);
    if( exec_sql(s, sql, "set application_id", err, errlen) ) goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
    if( exec_sql(s, sql, "set user_version", err, errlen) ) goto fail;
  }
  if( exec_sql(s, "COMMIT", "COMMIT of schema migration", err, errlen) )
    goto fail;
  return 0;
fail:
  rollback(s);
  return -1;
}

/* ------------------------------------------------------------------ */
/* 3. open / close                                                     */
/* ------------------------------------------------------------------ */

int store_open(const char *path, store **out, char *err, size_t errlen){
  store *s;
  int64_t appid = 0, ver = 0, nschema = 0;
  int rc;

  *out = NULL;
  if( path == NULL || path[0] == 0 ) path = STORE_DEFAULT_PATH;
  if( strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0 ){
    if( make_parent_dirs(path, err, errlen) ) return -1;
  }
  s = calloc(1, sizeof *s);
  if( s == NULL || (s->path = strdup(path)) == NULL ){
    free(s);
    errf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  rc = sqlite3_open_v2(path, &s->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                       SQLITE_OPEN_URI, NULL);
  if( rc != SQLITE_OK ){
    errf(err, errlen, "%s: cannot open results database: %s", path,
         s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    goto fail;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

  /* Identify the file before changing anything in it.  The three reads
  ** share one read transaction so that they see the same state even while
  ** another process is creating the schema. */
  rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
  if( rc == SQLITE_OK ) rc = query_int(s->db, "PRAGMA application_id", &appid);
  if( rc == SQLITE_OK ) rc = query_int(s->db, "PRAGMA user_version", &ver);
  if( rc == SQLITE_OK ){
    rc = query_int(s->db, "SELECT count(*) FROM sqlite_master", &nschema);
  }
  if( !sqlite3_get_autocommit(s->db) ){
    int rc2 = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if( rc == SQLITE_OK ) rc = rc2;
  }
  if( (rc & 0xff) == SQLITE_NOTADB ){
    errf(err, errlen, "%s: not a SQLite database, so not a risq results "
         "database; move it away or choose another results file", path);
    goto fail;
  }
  if( rc != SQLITE_OK ){
    errf(err, errlen, "%s: cannot read results database: %s", path,
         sqlite3_errmsg(s->db));
    goto fail;
  }
  if( appid != STORE_APPLICATION_ID && (appid != 0 || nschema > 0) ){
    errf(err, errlen, "%s: SQLite database that is not a risq results "
         "database (application_id 0x%08llx, %lld schema objects); "
         "choose another results file", path,
         (unsigned long long)(uint32_t)appid, (long long)nschema);
    goto fail;
  }
  if( ver > STORE_SCHEMA_VERSION ){
    errf(err, errlen, "%s: results schema version %lld is newer than this "
         "risq supports (%d); upgrade risq", path, (long long)ver,
         STORE_SCHEMA_VERSION);
    goto fail;
  }

  /* WAL: readers (compare, reports) never block the writer.  Switching a
  ** new file to WAL needs an exclusive lock, and SQLite returns SQLITE_BUSY
  ** for it at once, without the busy handler, when another process opens
  ** the same new file at that moment: so retry here, for as long as the
  ** busy timeout would have waited. */
  {
    int wal = 0, waited = 0;
    for(;;){
      sqlite3_stmt *st = NULL;
      rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st,
                              NULL);
      if( rc == SQLITE_OK ) rc = sqlite3_step(st);
      if( rc == SQLITE_ROW ){
        const unsigned char *m = sqlite3_column_text(st, 0);
        wal = m && (sqlite3_stricmp((const char *)m, "wal") == 0
                    || strcmp(path, ":memory:") == 0);   /* tests only */
      }
      sqlite3_finalize(st);
      if( (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED ) break;
      if( waited >= STORE_BUSY_TIMEOUT_MS ) break;
      sqlite3_sleep(10);
      waited += 10;
    }
    if( !wal ){
      errf(err, errlen, "%s: cannot switch the results database to WAL mode "
           "(%s); is it on a network file system?", path,
           sqlite3_errmsg(s->db));
      goto fail;
    }
  }
  if( exec_sql(s, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys",
               err, errlen) ) goto fail;
  if( ver < STORE_SCHEMA_VERSION && migrate(s, err, errlen) ) goto fail;

  *out = s;
  return 0;
fail:
  store_close(s);
  return -1;
}

void store_close(store *s){
  if( s == NULL ) return;
  if( s->db ) sqlite3_close_v2(s->db);
  free(s->path);
  free(s);
}

struct sqlite3 *store_sqlite(store *s){
  return s ? s->db : NULL;
}

/* ------------------------------------------------------------------ */
/* 4. writes                                                           */
/* ------------------------------------------------------------------ */

/* Prepare constant SQL, reporting failures with context. */
static int prep(store *s, const char *sql, sqlite3_stmt **st,
                char *err, size_t errlen){
  if( sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK ){
    errf(err, errlen, "%s: internal SQL error: %s", s->path,
         sqlite3_errmsg(s->db));
    return -1;
  }
  return 0;
}

/* Step a bound INSERT/UPDATE to completion. */
static int step_done(store *s, sqlite3_stmt *st, const char *what,
                     char *err, size_t errlen){
  int rc = sqlite3_step(st);
  if( rc != SQLITE_DONE ){
    errf(err, errlen, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return -1;
  }
  return 0;
}

/* Find or insert the machine row; *id receives its id. */
static int upsert_machine(store *s, const store_machine *m, int64_t *id,
                          char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  int rc = -1;
  if( prep(s, "INSERT INTO machine(fingerprint, cpu_model, isa_flags, "
           "cores, board) VALUES(?1, ?2, ?3, ?4, ?5) "
           "ON CONFLICT(fingerprint) DO NOTHING", &st, err, errlen) )
    return -1;
  bind_text(st, 1, m->fingerprint);
  bind_text(st, 2, m->cpu_model[0] ? m->cpu_model : NULL);
  bind_text(st, 3, m->isa_flags);
  if( m->cores > 0 ) sqlite3_bind_int(st, 4, m->cores);
  else sqlite3_bind_null(st, 4);
  bind_text(st, 5, m->board[0] ? m->board : NULL);
  if( step_done(s, st, "recording the machine", err, errlen) ) goto out;
  sqlite3_finalize(st);
  st = NULL;
  if( prep(s, "SELECT id FROM machine WHERE fingerprint = ?1", &st,
           err, errlen) ) goto out;
  bind_text(st, 1, m->fingerprint);
  if( sqlite3_step(st) != SQLITE_ROW ){
    errf(err, errlen, "%s: machine row vanished: %s", s->path,
         sqlite3_errmsg(s->db));
    goto out;
  }
  *id = sqlite3_column_int64(st, 0);
  rc = 0;
out:
  sqlite3_finalize(st);
  return rc;
}

/* Find or insert the build row.  NULL strings become '' ('unknown' for
** the commit) so that UNIQUE treats them as equal. */
static int upsert_build(store *s, const store_build *b, int64_t *id,
                        char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  int rc = -1;
  const char *commit = b->git_commit && b->git_commit[0] ? b->git_commit
                                                         : "unknown";
  const char *compiler = b->compiler ? b->compiler : "";
  const char *flags = b->flags ? b->flags : "";
  int dirty = b->dirty ? 1 : 0;
  if( prep(s, "INSERT INTO build(git_commit, dirty, compiler, flags) "
           "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(git_commit, dirty, compiler, "
           "flags) DO NOTHING", &st, err, errlen) ) return -1;
  bind_text(st, 1, commit);
  sqlite3_bind_int(st, 2, dirty);
  bind_text(st, 3, compiler);
  bind_text(st, 4, flags);
  if( step_done(s, st, "recording the build", err, errlen) ) goto out;
  sqlite3_finalize(st);
  st = NULL;
  if( prep(s, "SELECT id FROM build WHERE git_commit = ?1 AND dirty = ?2 "
           "AND compiler = ?3 AND flags = ?4", &st, err, errlen) ) goto out;
  bind_text(st, 1, commit);
  sqlite3_bind_int(st, 2, dirty);
  bind_text(st, 3, compiler);
  bind_text(st, 4, flags);
  if( sqlite3_step(st) != SQLITE_ROW ){
    errf(err, errlen, "%s: build row vanished: %s", s->path,
         sqlite3_errmsg(s->db));
    goto out;
  }
  *id = sqlite3_column_int64(st, 0);
  rc = 0;
out:
  sqlite3_finalize(st);
  return rc;
}

int store_begin_run(store *s, const store_run_info *ri, int64_t *run_id,
                    char *err, size_t errlen){
  store_machine m;
  int64_t machine_id = 0, build_id = 0;
  sqlite3_stmt *st = NULL;
  char uuid[33], now[32];

  if( s == NULL || ri == NULL || run_id == NULL ){
    errf(err, errlen, "store_begin_run: missing argument");
    return -1;
  }
  if( ri->suite == NULL || ri->suite[0] == 0 ){
    errf(err, errlen, "%s: cannot record a run without a suite name",
         s->path);
    return -1;
  }
  m = ri->machine;
  if( m.fingerprint[0] == 0 ) store_machine_fingerprint(&m);

  if( begin_write(s, err, errlen) ) return -1;
  if( upsert_machine(s, &m, &machine_id, err, errlen) ) goto fail;
  if( upsert_build(s, &ri->build, &build_id, err, errlen) ) goto fail;
  if( prep(s, "INSERT INTO run(uuid, suite, started_at, status, machine_id, "
           "build_id, command, suite_text, board) "
           "VALUES(?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8)",
           &st, err, errlen) ) goto fail;
  make_uuid(uuid);
  bind_text(st, 1, uuid);
  bind_text(st, 2, ri->suite);
  bind_text(st, 3, store_now_utc(now));
  sqlite3_bind_int64(st, 4, machine_id);
  sqlite3_bind_int64(st, 5, build_id);
  bind_text(st, 6, ri->command);
  bind_text(st, 7, ri->suite_text);
  bind_text(st, 8, ri->board && ri->board[0] ? ri->board : NULL);
  if( step_done(s, st, "recording the run", err, errlen) ) goto fail;
  *run_id = sqlite3_last_insert_rowid(s->db);
  sqlite3_finalize(st);
  st = NULL;
  if( exec_sql(s, "COMMIT", "COMMIT of new run", err, errlen) ) goto fail;
  return 0;
fail:
  sqlite3_finalize(st);
  rollback(s);
  return -1;
}

int store_run_uuid(store *s, int64_t run_id, char out[33],
                   char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  int rc = -1;
  out[0] = 0;
  if( prep(s, "SELECT uuid FROM run WHERE id = ?1", &st, err, errlen) )
    return -1;
  sqlite3_bind_int64(st, 1, run_id);
  if( sqlite3_step(st) == SQLITE_ROW ){
    const unsigned char *u = sqlite3_column_text(st, 0);
    snprintf(out, 33, "%s", u ? (const char *)u : "");
    rc = 0;
  }else{
    errf(err, errlen, "%s: no run with id %lld", s->path, (long long)run_id);
  }
  sqlite3_finalize(st);
  return rc;
}

int store_add_config(store *s, int64_t run_id, const store_config *c,
                     const store_metric *m, int nm,
                     const store_sample *smp, int ns,
                     int64_t *config_id, char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  int64_t cid;
  char now[32];
  int i, rc;

  if( s == NULL || c == NULL || nm < 0 || ns < 0 || (nm > 0 && m == NULL)
   || (ns > 0 && smp == NULL) ){
    errf(err, errlen, "store_add_config: missing argument");
    return -1;
  }
  if( c->model == NULL || c->dataset == NULL || c->method == NULL
   || c->bits == NULL ){
    errf(err, errlen, "%s: configuration lacks model, dataset, method or "
         "bits", s->path);
    return -1;
  }
  if( c->status == NULL || (strcmp(c->status, "ok") != 0
                            && strcmp(c->status, "failed") != 0) ){
    errf(err, errlen, "%s: configuration status must be 'ok' or 'failed', "
         "not '%s'", s->path, c->status ? c->status : "(null)");
    return -1;
  }
  for(i = 0; i < nm; i++){
    if( m[i].name == NULL || m[i].name[0] == 0 ){
      errf(err, errlen, "%s: metric %d has no name", s->path, i);
      return -1;
    }
  }
  for(i = 0; i < ns; i++){
    if( smp[i].name == NULL || smp[i].name[0] == 0 ){
      errf(err, errlen, "%s: sample %d has no name", s->path, i);
      return -1;
    }
  }
  store_now_utc(now);

  if( begin_write(s, err, errlen) ) return -1;

  if( prep(s, "INSERT INTO config(run_id, model, model_hash, dataset, "
           "dataset_hash, method, bits, isa, threads, status, error, "
           "counter_source, started_at, finished_at, exit_reason, "
           "timeout_s) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
           "?12, ?13, ?14, ?15, ?16)",
           &st, err, errlen) ) goto fail;
  sqlite3_bind_int64(st, 1, run_id);
  bind_text(st, 2, c->model);
  bind_text(st, 3, c->model_hash);
  bind_text(st, 4, c->dataset);
  bind_text(st, 5, c->dataset_hash);
  bind_text(st, 6, c->method);
  bind_text(st, 7, c->bits);
  bind_text(st, 8, c->isa);
  if( c->threads > 0 ) sqlite3_bind_int(st, 9, c->threads);
  else sqlite3_bind_null(st, 9);
  bind_text(st, 10, c->status);
  bind_text(st, 11, c->error);
  bind_text(st, 12, c->counter_source);
  bind_text(st, 13, c->started_at ? c->started_at : now);
  bind_text(st, 14, c->finished_at ? c->finished_at : now);
  bind_text(st, 15, c->exit_reason);
  bind_real(st, 16, c->timeout_s, !(c->timeout_s > 0));
  rc = sqlite3_step(st);
  if( rc == SQLITE_CONSTRAINT_FOREIGNKEY ){
    errf(err, errlen, "%s: cannot record configuration: no run with id "
         "%lld", s->path, (long long)run_id);
    goto fail;
  }
  if( rc != SQLITE_DONE ){
    errf(err, errlen, "%s: recording configuration %s/%s/%s/%s: %s",
         s->path, c->model, c->dataset, c->method, c->bits,
         sqlite3_errmsg(s->db));
    goto fail;
  }
  cid = sqlite3_last_insert_rowid(s->db);
  sqlite3_finalize(st);
  st = NULL;

  if( nm > 0 ){
    if( prep(s, "INSERT INTO metric(config_id, name, value, unit) "
             "VALUES(?1, ?2, ?3, ?4)", &st, err, errlen) ) goto fail;
    for(i = 0; i < nm; i++){
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, cid);
      bind_text(st, 2, m[i].name);
      bind_real(st, 3, m[i].value, m[i].is_null);
      bind_text(st, 4, m[i].unit);
      rc = sqlite3_step(st);
      if( rc != SQLITE_DONE ){
        if( rc == SQLITE_CONSTRAINT_PRIMARYKEY ){
          errf(err, errlen, "%s: metric '%s' given twice for one "
               "configuration", s->path, m[i].name);
        }else{
          errf(err, errlen, "%s: recording metric '%s': %s", s->path,
               m[i].name, sqlite3_errmsg(s->db));
        }
        goto fail;
      }
    }
    sqlite3_finalize(st);
    st = NULL;
  }

  if( ns > 0 ){
    if( prep(s, "INSERT INTO sample(config_id, name, idx, value) "
             "VALUES(?1, ?2, ?3, ?4)", &st, err, errlen) ) goto fail;
    for(i = 0; i < ns; i++){
      sqlite3_reset(st);
      sqlite3_bind_int64(st, 1, cid);
      bind_text(st, 2, smp[i].name);
      sqlite3_bind_int(st, 3, smp[i].idx);
      bind_real(st, 4, smp[i].value, 0);
      rc = sqlite3_step(st);
      if( rc != SQLITE_DONE ){
        if( rc == SQLITE_CONSTRAINT_PRIMARYKEY ){
          errf(err, errlen, "%s: sample '%s' #%d given twice for one "
               "configuration", s->path, smp[i].name, smp[i].idx);
        }else{
          errf(err, errlen, "%s: recording sample '%s' #%d: %s", s->path,
               smp[i].name, smp[i].idx, sqlite3_errmsg(s->db));
        }
        goto fail;
      }
    }
    sqlite3_finalize(st);
    st = NULL;
  }

  if( exec_sql(s, "COMMIT", "COMMIT of configuration", err, errlen) )
    goto fail;
  if( config_id ) *config_id = cid;
  return 0;
fail:
  sqlite3_finalize(st);
  rollback(s);
  return -1;
}

int store_end_run(store *s, int64_t run_id, const char *status,
                  char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  char now[32];
  if( s == NULL || status == NULL
   || (strcmp(status, "ok") != 0 && strcmp(status, "failed") != 0
       && strcmp(status, "interrupted") != 0) ){
    errf(err, errlen, "store_end_run: status must be 'ok', 'failed' or "
         "'interrupted', not '%s'", status ? status : "(null)");
    return -1;
  }
  if( begin_write(s, err, errlen) ) return -1;
  if( prep(s, "UPDATE run SET status = ?1, finished_at = ?2 WHERE id = ?3",
           &st, err, errlen) ) goto fail;
  bind_text(st, 1, status);
  bind_text(st, 2, store_now_utc(now));
  sqlite3_bind_int64(st, 3, run_id);
  if( step_done(s, st, "finishing the run", err, errlen) ) goto fail;
  if( sqlite3_changes(s->db) != 1 ){
    errf(err, errlen, "%s: cannot finish run: no run with id %lld",
         s->path, (long long)run_id);
    goto fail;
  }
  sqlite3_finalize(st);
  st = NULL;
  if( exec_sql(s, "COMMIT", "COMMIT of run status", err, errlen) ) goto fail;
  return 0;
fail:
  sqlite3_finalize(st);
  rollback(s);
  return -1;
}

/* ------------------------------------------------------------------ */
/* 5. baselines                                                        */
/* ------------------------------------------------------------------ */

int store_set_baseline(store *s, const char *name, int64_t run_id,
                       char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  char uuid[33], now[32];
  if( s == NULL || name == NULL || name[0] == 0 ){
    errf(err, errlen, "store_set_baseline: a baseline needs a name");
    return -1;
  }
  if( store_run_uuid(s, run_id, uuid, err, errlen) ) return -1;
  if( begin_write(s, err, errlen) ) return -1;
  if( prep(s, "INSERT INTO baseline(name, run_uuid, created_at) "
           "VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET "
           "run_uuid = excluded.run_uuid, created_at = excluded.created_at",
           &st, err, errlen) ) goto fail;
  bind_text(st, 1, name);
  bind_text(st, 2, uuid);
  bind_text(st, 3, store_now_utc(now));
  if( step_done(s, st, "recording the baseline", err, errlen) ) goto fail;
  sqlite3_finalize(st);
  st = NULL;
  if( exec_sql(s, "COMMIT", "COMMIT of baseline", err, errlen) ) goto fail;
  return 0;
fail:
  sqlite3_finalize(st);
  rollback(s);
  return -1;
}

int store_read_samples(sqlite3 *db, int64_t config_id, const char *name,
                       double **v, int *n){
  sqlite3_stmt *st = NULL;
  int cap = 0, rc;
  *v = NULL;
  *n = 0;
  if( sqlite3_prepare_v2(db, "SELECT value FROM sample WHERE config_id = ?1 "
                         "AND name = ?2 AND value IS NOT NULL ORDER BY idx",
                         -1, &st, NULL) != SQLITE_OK ){
    sqlite3_finalize(st);
    return -1;
  }
  sqlite3_bind_int64(st, 1, config_id);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  while( (rc = sqlite3_step(st)) == SQLITE_ROW ){
    if( *n == cap ){
      double *nv;
      cap = cap ? 2*cap : 64;
      nv = realloc(*v, (size_t)cap * sizeof *nv);
      if( nv == NULL ) break;
      *v = nv;
    }
    (*v)[(*n)++] = sqlite3_column_double(st, 0);
  }
  sqlite3_finalize(st);
  if( rc != SQLITE_DONE ){
    free(*v);
    *v = NULL;
    *n = 0;
    return -1;
  }
  return 0;
}

int store_get_baseline(store *s, const char *name, int64_t *run_id,
                       char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  int rc;
  *run_id = 0;
  if( s == NULL || name == NULL ){
    errf(err, errlen, "store_get_baseline: missing argument");
    return -1;
  }
  if( prep(s, "SELECT b.run_uuid, r.id FROM baseline b "
           "LEFT JOIN run r ON r.uuid = b.run_uuid WHERE b.name = ?1",
           &st, err, errlen) ) return -1;
  bind_text(st, 1, name);
  rc = sqlite3_step(st);
  if( rc == SQLITE_DONE ){
    errf(err, errlen, "%s: no baseline named '%s'", s->path, name);
    rc = 1;
  }else if( rc != SQLITE_ROW ){
    errf(err, errlen, "%s: reading baseline '%s': %s", s->path, name,
         sqlite3_errmsg(s->db));
    rc = -1;
  }else if( sqlite3_column_type(st, 1) == SQLITE_NULL ){
    const unsigned char *u = sqlite3_column_text(st, 0);
    errf(err, errlen, "%s: baseline '%s' names run %s, which is not in this "
         "history (merge the history it came from with `risq merge`)",
         s->path, name, u ? (const char *)u : "?");
    rc = 1;
  }else{
    *run_id = sqlite3_column_int64(st, 1);
    rc = 0;
  }
  sqlite3_finalize(st);
  return rc;
}

/* ------------------------------------------------------------------ */
/* 6. merge                                                            */
/* ------------------------------------------------------------------ */

/*
** The source is ATTACHed as `src`; the runs it has and this history lacks
** (by uuid) get fresh ids here, in source order, through the temporary
** maps merge_run and merge_config; machines and builds are matched by
** their natural keys.  Schema version 1 sources lack the v2 columns, which
** become NULL.
*/
static const char merge_map_runs_sql[] =
  "DROP TABLE IF EXISTS temp.merge_run;\n"
  "DROP TABLE IF EXISTS temp.merge_config;\n"
  "CREATE TEMP TABLE merge_run AS\n"
  "  SELECT r.id AS src_id,\n"
  "         (SELECT coalesce(max(id), 0) FROM main.run)\n"
  "           + row_number() OVER (ORDER BY r.id) AS dst_id\n"
  "    FROM src.run r WHERE r.uuid NOT IN (SELECT uuid FROM main.run);\n"
  "INSERT INTO main.machine(fingerprint, cpu_model, isa_flags, cores, board)\n"
  "  SELECT fingerprint, cpu_model, isa_flags, cores, board FROM src.machine\n"
  "   WHERE id IN (SELECT r.machine_id FROM src.run r\n"
  "                JOIN temp.merge_run mr ON mr.src_id = r.id)\n"
  "  ON CONFLICT(fingerprint) DO NOTHING;\n"
  "INSERT INTO main.build(git_commit, dirty, compiler, flags)\n"
  "  SELECT git_commit, dirty, compiler, flags FROM src.build\n"
  "   WHERE id IN (SELECT r.build_id FROM src.run r\n"
  "                JOIN temp.merge_run mr ON mr.src_id = r.id)\n"
  "  ON CONFLICT(git_commit, dirty, compiler, flags) DO NOTHING;\n";

#define MERGE_RUNS_SQL(V2COLS)                                              \
  "INSERT INTO main.run(id, uuid, suite, started_at, finished_at, status,\n" \
  "                     machine_id, build_id, command, suite_text, board)\n" \
  "  SELECT mr.dst_id, r.uuid, r.suite, r.started_at, r.finished_at,\n"      \
  "         r.status,\n"                                                     \
  "         (SELECT m.id FROM main.machine m JOIN src.machine sm\n"          \
  "             ON sm.fingerprint = m.fingerprint WHERE sm.id = r.machine_id),\n" \
  "         (SELECT b.id FROM main.build b JOIN src.build sb\n"              \
  "             ON sb.git_commit = b.git_commit AND sb.dirty = b.dirty\n"    \
  "            AND sb.compiler = b.compiler AND sb.flags = b.flags\n"        \
  "          WHERE sb.id = r.build_id),\n"                                   \
  "         r.command, " V2COLS "\n"                                         \
  "    FROM src.run r JOIN temp.merge_run mr ON mr.src_id = r.id\n"          \
  "   ORDER BY mr.dst_id;\n"                                                 \
  "CREATE TEMP TABLE merge_config AS\n"                                      \
  "  SELECT c.id AS src_id, mr.dst_id AS run_dst,\n"                         \
  "         (SELECT coalesce(max(id), 0) FROM main.config)\n"                \
  "           + row_number() OVER (ORDER BY c.id) AS dst_id\n"               \
  "    FROM src.config c JOIN temp.merge_run mr ON mr.src_id = c.run_id;\n"

#define MERGE_CONFIGS_SQL(V2COLS)                                           \
  "INSERT INTO main.config(id, run_id, model, model_hash, dataset,\n"        \
  "    dataset_hash, method, bits, isa, threads, status, error,\n"           \
  "    counter_source, started_at, finished_at, exit_reason, timeout_s)\n"   \
  "  SELECT mc.dst_id, mc.run_dst, c.model, c.model_hash, c.dataset,\n"      \
  "         c.dataset_hash, c.method, c.bits, c.isa, c.threads, c.status,\n" \
  "         c.error, c.counter_source, c.started_at, c.finished_at,\n"       \
  "         " V2COLS "\n"                                                    \
  "    FROM src.config c JOIN temp.merge_config mc ON mc.src_id = c.id\n"    \
  "   ORDER BY mc.dst_id;\n"                                                 \
  "INSERT INTO main.metric(config_id, name, value, unit)\n"                  \
  "  SELECT mc.dst_id, m.name, m.value, m.unit FROM src.metric m\n"          \
  "    JOIN temp.merge_config mc ON mc.src_id = m.config_id;\n"              \
  "INSERT INTO main.sample(config_id, name, idx, value)\n"                   \
  "  SELECT mc.dst_id, x.name, x.idx, x.value FROM src.sample x\n"           \
  "    JOIN temp.merge_config mc ON mc.src_id = x.config_id;\n"

static const char merge_v1_sql[] =
  MERGE_RUNS_SQL("NULL, NULL") MERGE_CONFIGS_SQL("NULL, NULL");
static const char merge_v2_sql[] =
  MERGE_RUNS_SQL("r.suite_text, r.board")
  MERGE_CONFIGS_SQL("c.exit_reason, c.timeout_s");

static const char merge_baselines_sql[] =
  "INSERT INTO main.baseline(name, run_uuid, created_at)\n"
  "  SELECT name, run_uuid, created_at FROM src.baseline WHERE true\n"
  "  ON CONFLICT(name) DO NOTHING;\n";

/* Check that src_path is a risq history this risq can read; *ver gets its
** schema version. */
static int merge_check_source(const char *src_path, int64_t *ver,
                              char *err, size_t errlen){
  sqlite3 *db = NULL;
  int64_t appid = 0, nschema = 0;
  struct stat sb;
  int rc;
  if( stat(src_path, &sb) != 0 ){
    errf(err, errlen, "%s: %s", src_path, strerror(errno));
    return -1;
  }
  rc = sqlite3_open_v2(src_path, &db, SQLITE_OPEN_READONLY, NULL);
  if( rc == SQLITE_OK ){
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if( rc == SQLITE_OK ) rc = query_int(db, "PRAGMA application_id", &appid);
    if( rc == SQLITE_OK ) rc = query_int(db, "PRAGMA user_version", ver);
    if( rc == SQLITE_OK )
      rc = query_int(db, "SELECT count(*) FROM sqlite_master", &nschema);
    if( !sqlite3_get_autocommit(db) ) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  }
  if( (rc & 0xff) == SQLITE_NOTADB ){
    errf(err, errlen, "%s: not a SQLite database, so not a risq results "
         "database; nothing merged", src_path);
  }else if( rc != SQLITE_OK ){
    errf(err, errlen, "%s: cannot read: %s", src_path,
         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  }else if( appid != STORE_APPLICATION_ID || *ver < 1 ){
    errf(err, errlen, "%s: SQLite database that is not a risq results "
         "database (application_id 0x%08llx, %lld schema objects); nothing "
         "merged", src_path, (unsigned long long)(uint32_t)appid,
         (long long)nschema);
    rc = SQLITE_ERROR;
  }else if( *ver > STORE_SCHEMA_VERSION ){
    errf(err, errlen, "%s: results schema version %lld is newer than this "
         "risq supports (%d); upgrade risq; nothing merged", src_path,
         (long long)*ver, STORE_SCHEMA_VERSION);
    rc = SQLITE_ERROR;
  }
  sqlite3_close_v2(db);
  return rc == SQLITE_OK ? 0 : -1;
}

int store_merge(store *s, const char *src_path, store_merge_stats *out,
                char *err, size_t errlen){
  sqlite3_stmt *st = NULL;
  int64_t ver = 0, n = 0, nsrc = 0;
  store_merge_stats stats;
  struct stat a, b;
  int rc = -1;

  memset(&stats, 0, sizeof stats);
  if( out ) *out = stats;
  if( s == NULL || src_path == NULL ){
    errf(err, errlen, "store_merge: missing argument");
    return -1;
  }
  if( merge_check_source(src_path, &ver, err, errlen) ) return -1;
  if( stat(src_path, &a) == 0 && stat(s->path, &b) == 0
   && a.st_dev == b.st_dev && a.st_ino == b.st_ino ){
    errf(err, errlen, "%s: is the history being merged into; nothing merged",
         src_path);
    return -1;
  }
  if( prep(s, "ATTACH DATABASE ?1 AS src", &st, err, errlen) ) return -1;
  bind_text(st, 1, src_path);
  if( sqlite3_step(st) != SQLITE_DONE ){
    errf(err, errlen, "%s: cannot attach for merging: %s", src_path,
         sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return -1;
  }
  sqlite3_finalize(st);

  if( begin_write(s, err, errlen) ) goto detach;
  if( exec_sql(s, merge_map_runs_sql, "merge (runs)", err, errlen) ) goto fail;
  if( exec_sql(s, ver >= 2 ? merge_v2_sql : merge_v1_sql,
               "merge (configs, metrics, samples)", err, errlen) ) goto fail;
  if( query_int(s->db, "SELECT count(*) FROM temp.merge_run", &n) ) goto sqlfail;
  stats.runs_added = (int)n;
  if( query_int(s->db, "SELECT count(*) FROM src.run", &nsrc) ) goto sqlfail;
  stats.runs_present = (int)(nsrc - n);
  if( query_int(s->db, "SELECT count(*) FROM temp.merge_config", &n) )
    goto sqlfail;
  stats.configs_added = (int)n;
  if( ver >= 2 ){
    if( exec_sql(s, merge_baselines_sql, "merge (baselines)", err, errlen) )
      goto fail;
    stats.baselines_added = sqlite3_changes(s->db);
  }
  if( exec_sql(s, "DROP TABLE temp.merge_run; DROP TABLE temp.merge_config",
               "merge (clean up)", err, errlen) ) goto fail;
  if( exec_sql(s, "COMMIT", "COMMIT of merge", err, errlen) ) goto fail;
  if( out ) *out = stats;
  rc = 0;
  goto detach;
sqlfail:
  errf(err, errlen, "%s: merging %s: %s", s->path, src_path,
       sqlite3_errmsg(s->db));
fail:
  rollback(s);
detach:
  sqlite3_exec(s->db, "DETACH DATABASE src", NULL, NULL, NULL);
  return rc;
}

/* ------------------------------------------------------------------ */
/* 7. machine probe                                                    */
/* ------------------------------------------------------------------ */

/* ISA features worth keying results on, in the order they are listed.
** Names are those of /proc/cpuinfo (x86 "flags", arm64 "Features"). */
static const char *const isa_interesting[] = {
  /* x86 */
  "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni",
  "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
  "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8",
  /* arm64 */
  "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2",
};

/* Copy src into dst[n] with surrounding white space removed. */
static void copy_trimmed(char *dst, size_t n, const char *src){
  size_t len;
  while( *src == ' ' || *src == '\t' ) src++;
  len = strlen(src);
  while( len > 0 && (src[len-1] == '\n' || src[len-1] == '\r'
                     || src[len-1] == ' ' || src[len-1] == '\t') ) len--;
  if( len >= n ) len = n - 1;
  memcpy(dst, src, len);
  dst[len] = 0;
}

/* If line is "key<tabs/spaces>: value", return value, else NULL. */
static const char *cpuinfo_value(const char *line, const char *key){
  size_t k = strlen(key);
  if( strncmp(line, key, k) != 0 ) return NULL;
  line += k;
  while( *line == ' ' || *line == '\t' ) line++;
  if( *line != ':' ) return NULL;
  return line + 1;
}

/* Does the space-separated list contain word? */
static int has_word(const char *list, const char *word){
  size_t w = strlen(word);
  const char *p = list;
  while( *p ){
    while( *p == ' ' || *p == '\t' ) p++;
    const char *e = p;
    while( *e && *e != ' ' && *e != '\t' && *e != '\n' ) e++;
    if( (size_t)(e - p) == w && strncmp(p, word, w) == 0 ) return 1;
    p = *e ? e + 1 : e;
  }
  return 0;
}

static const char *arm_implementer(unsigned v){
  switch( v ){
    case 0x41: return "ARM";
    case 0x42: return "Broadcom";
    case 0x43: return "Cavium";
    case 0x48: return "HiSilicon";
    case 0x4e: return "NVIDIA";
    case 0x51: return "Qualcomm";
    case 0x61: return "Apple";
    case 0xc0: return "Ampere";
    default:   return NULL;
  }
}

int store_machine_probe(store_machine *m){
  FILE *f;
  char line[4096];
  char *flags = NULL;            /* first flags/Features line */
  long implementer = -1, part = -1;
  long n;

  memset(m, 0, sizeof *m);
  f = fopen("/proc/cpuinfo", "r");
  if( f ){
    while( fgets(line, sizeof line, f) ){
      const char *v;
      if( m->cpu_model[0] == 0 && (v = cpuinfo_value(line, "model name")) ){
        copy_trimmed(m->cpu_model, sizeof m->cpu_model, v);
      }else if( flags == NULL && ((v = cpuinfo_value(line, "flags"))
                                  || (v = cpuinfo_value(line, "Features"))) ){
        flags = strdup(v);
      }else if( implementer < 0
                && (v = cpuinfo_value(line, "CPU implementer")) ){
        implementer = strtol(v, NULL, 0);
      }else if( part < 0 && (v = cpuinfo_value(line, "CPU part")) ){
        part = strtol(v, NULL, 0);
      }
    }
    fclose(f);
  }
  /* arm64 kernels usually print no "model name": use implementer/part. */
  if( m->cpu_model[0] == 0 && implementer >= 0 ){
    const char *name = arm_implementer((unsigned)implementer);
    if( name ){
      snprintf(m->cpu_model, sizeof m->cpu_model, "%s part 0x%03lx", name,
               part < 0 ? 0L : part);
    }else{
      snprintf(m->cpu_model, sizeof m->cpu_model,
               "implementer 0x%02lx part 0x%03lx", implementer,
               part < 0 ? 0L : part);
    }
  }
  if( flags ){
    size_t used = 0;
    for(size_t i = 0; i < sizeof isa_interesting / sizeof isa_interesting[0];
        i++){
      if( !has_word(flags, isa_interesting[i]) ) continue;
      int w = snprintf(m->isa_flags + used, sizeof m->isa_flags - used,
                       "%s%s", used ? " " : "", isa_interesting[i]);
      if( w < 0 || (size_t)w >= sizeof m->isa_flags - used ) break;
      used += (size_t)w;
    }
    free(flags);
  }
  n = sysconf(_SC_NPROCESSORS_ONLN);
  m->cores = n > 0 ? (int)n : 0;
  /* Boards (Raspberry Pi, Jetson, ...) name themselves in the device tree;
  ** the file is NUL-terminated text. */
  f = fopen("/sys/firmware/devicetree/base/model", "r");
  if( f ){
    size_t got = fread(line, 1, sizeof line - 1, f);
    line[got] = 0;
    fclose(f);
    copy_trimmed(m->board, sizeof m->board, line);
  }
  store_machine_fingerprint(m);
  return 0;
}

/* FNV-1a 64 over the identifying fields, each followed by a 0 byte so that
** ("ab","c") and ("a","bc") differ. */
static uint64_t fnv1a(uint64_t h, const char *s){
  const unsigned char *p = (const unsigned char *)s;
  do{
    h ^= *p;
    h *= 0x100000001b3ULL;
  }while( *p++ );
  return h;
}

void store_machine_fingerprint(store_machine *m){
  char cores[16];
  uint64_t h = 0xcbf29ce484222325ULL;
  snprintf(cores, sizeof cores, "%d", m->cores);
  h = fnv1a(h, m->cpu_model);
  h = fnv1a(h, m->isa_flags);
  h = fnv1a(h, cores);
  h = fnv1a(h, m->board);
  snprintf(m->fingerprint, sizeof m->fingerprint, "%016llx",
           (unsigned long long)h);
}

#ifndef RISQ_COMPILER
#define RISQ_COMPILER "unknown"
#endif
#ifndef RISQ_FLAGS
#define RISQ_FLAGS "unknown"
#endif

store_build store_build_current(char *commit, size_t len) {
  snprintf(commit, len, "%s", RISQ_GIT_DESCRIBE);
  char *dirty = strstr(commit, "-dirty");
  if (dirty) *dirty = 0;
  return (store_build){commit, dirty != NULL, RISQ_COMPILER, RISQ_FLAGS};
}
