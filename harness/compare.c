/*
** compare.c -- `risq compare` and `risq baseline` (see compare.h).
**
** Layout: 1. small SQL helpers; 2. run references; 3. loading a run's
** configurations; 4. gates from a suite; 5. the comparison; 6. output;
** 7. named baselines; 8. command line.
**
** Statistics (design after LNT and asv, no code taken from them): accuracy
** metrics are deterministic, so any change beyond CMP_EXACT_EPS is real;
** latency is judged on the raw per-repetition samples with a two-sided
** Mann-Whitney U test and must also move by at least the minimum effect
** (speed_regression, default 5%) between the sample medians, so tiny but
** "significant" shifts are not flagged. The resident memory of the speed
** pass (rss_kb) is one measurement per configuration, steady to ~1% from
** run to run: it counts when it moves by memory_regression (default 5%).
*/
#include "harness/compare.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "harness/stats.h"
#include "harness/store.h"
#include "harness/suite.h"

/* ---------------------------------------------------- 1. SQL helpers --- */

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

static int has_table(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1", -1, &st, NULL))
        return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static int has_column(sqlite3 *db, const char *table, const char *col)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name=?2", -1, &st, NULL)) return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* --------------------------------------------------- 2. references ---- */

static int run_exists(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM run WHERE id=?1", -1, &st, NULL)) return 0;
    sqlite3_bind_int64(st, 1, id);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* "runs 1..7 (latest 7: suite nightly, commit 1a2b3c4d); baselines: a, b" */
static void describe_db(sqlite3 *db, char *out, size_t n)
{
    sqlite3_stmt *st;
    size_t len = 0;
    out[0] = 0;
    if (sqlite3_prepare_v2(db,
            "SELECT (SELECT count(*) FROM run), (SELECT min(id) FROM run), r.id, r.suite,"
            " substr(b.git_commit,1,10) FROM run r JOIN build b ON b.id=r.build_id"
            " ORDER BY r.started_at DESC, r.id DESC LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            len = snprintf(out, n, "the database has %lld run(s), ids %lld..%lld (latest: run %lld, suite '%s', commit %s)",
                           (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1),
                           (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 2),
                           (const char *)sqlite3_column_text(st, 3), (const char *)sqlite3_column_text(st, 4));
        else
            len = snprintf(out, n, "the database has no runs yet (record one with `risq run`)");
        sqlite3_finalize(st);
    }
    if (len < n && has_table(db, "baseline") &&
        sqlite3_prepare_v2(db, "SELECT name FROM baseline ORDER BY name", -1, &st, NULL) == SQLITE_OK) {
        int k = 0;
        while (sqlite3_step(st) == SQLITE_ROW && len < n)
            len += snprintf(out + len, n - len, "%s%s", k++ ? ", " : "; baselines: ",
                            (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
}

int cmp_latest(sqlite3 *db, int64_t *id, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT id FROM run ORDER BY started_at DESC, id DESC LIMIT 1", -1, &st, NULL)) {
        errf(err, errlen, "cannot read runs: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        errf(err, errlen, "the database has no runs yet (record one with `risq run`)");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Ids matched by one query with ?1 = ref. Returns the number of distinct
** matches (first in *id), or -1 on SQL error. */
static int match_ids(sqlite3 *db, const char *sql, const char *ref, int64_t *id)
{
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL)) return -1;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == 0) *id = sqlite3_column_int64(st, 0);
        n++;
    }
    sqlite3_finalize(st);
    return n;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int all_hex(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdefABCDEF", *s)) return 0;
    return 1;
}

int cmp_resolve(sqlite3 *db, const char *ref, int64_t *id, char *err, size_t errlen)
{
    char what[1024];
    if (!strcmp(ref, "latest")) return cmp_latest(db, id, err, errlen);
    if (all_digits(ref) && strlen(ref) < 12) {
        int64_t v = strtoll(ref, NULL, 10);
        if (run_exists(db, v)) {
            *id = v;
            return 0;
        }
    }
    if (has_table(db, "baseline")) {
        int n = match_ids(db, "SELECT r.id FROM baseline b JOIN run r ON r.uuid = b.run_uuid WHERE b.name = ?1", ref, id);
        if (n > 0) return 0;
        if (match_ids(db, "SELECT 1 FROM baseline WHERE name = ?1", ref, id) > 0) {
            errf(err, errlen, "baseline '%s' points to a run that is no longer in the database", ref);
            return -1;
        }
    }
    if (all_hex(ref) && strlen(ref) >= 4) {
        int n = match_ids(db, "SELECT id FROM run WHERE substr(uuid, 1, length(?1)) = lower(?1)", ref, id);
        if (n == 1) return 0;
        if (n > 1) {
            errf(err, errlen, "'%s' matches %d run uuids; give more digits", ref, n);
            return -1;
        }
        /* Commit prefix: the latest run of that commit. */
        int ncommits = match_ids(db, "SELECT DISTINCT git_commit FROM build WHERE substr(git_commit, 1, length(?1)) = lower(?1)"
                                     " AND id IN (SELECT build_id FROM run)", ref, id);
        if (ncommits > 1) {
            errf(err, errlen, "'%s' matches %d different commits; give more digits", ref, ncommits);
            return -1;
        }
        if (ncommits == 1 &&
            match_ids(db, "SELECT r.id FROM run r JOIN build b ON b.id = r.build_id"
                          " WHERE substr(b.git_commit, 1, length(?1)) = lower(?1)"
                          " ORDER BY r.started_at DESC, r.id DESC", ref, id) > 0)
            return 0;
    }
    describe_db(db, what, sizeof what);
    errf(err, errlen, "no run matches '%s' (a run id, a uuid or git commit prefix of at least 4 hex digits, "
                      "a baseline name or 'latest'); %s", ref, what);
    return -1;
}

static const char *machine_expr(sqlite3 *db)
{
    return has_column(db, "run", "board")
               ? "COALESCE(NULLIF(r.board,''), NULLIF(m.board,''), m.cpu_model, '?')"
               : "COALESCE(NULLIF(m.board,''), m.cpu_model, '?')";
}

static int load_runinfo(sqlite3 *db, int64_t id, cmp_runinfo *ri, char *err, size_t errlen)
{
    char sql[768];
    sqlite3_stmt *st;
    snprintf(sql, sizeof sql,
             "SELECT r.id, r.uuid, r.suite, r.started_at, b.git_commit, b.dirty, m.fingerprint, %s, m.id"
             "  FROM run r JOIN build b ON b.id = r.build_id JOIN machine m ON m.id = r.machine_id"
             " WHERE r.id = ?1", machine_expr(db));
    memset(ri, 0, sizeof *ri);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL)) {
        errf(err, errlen, "cannot read run %lld: %s", (long long)id, sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        errf(err, errlen, "run %lld is not in the database", (long long)id);
        return -1;
    }
    ri->id = sqlite3_column_int64(st, 0);
    col_copy(st, 1, ri->uuid, sizeof ri->uuid);
    col_copy(st, 2, ri->suite, sizeof ri->suite);
    col_copy(st, 3, ri->started_at, sizeof ri->started_at);
    col_copy(st, 4, ri->commit, sizeof ri->commit);
    ri->dirty = sqlite3_column_int(st, 5);
    col_copy(st, 6, ri->fingerprint, sizeof ri->fingerprint);
    col_copy(st, 7, ri->machine, sizeof ri->machine);
    ri->machine_id = sqlite3_column_int64(st, 8);
    sqlite3_finalize(st);
    return 0;
}

int cmp_previous(sqlite3 *db, int64_t cand, int64_t *id, char *err, size_t errlen)
{
    cmp_runinfo c;
    sqlite3_stmt *st;
    if (load_runinfo(db, cand, &c, err, errlen)) return -1;
    if (sqlite3_prepare_v2(db,
            "SELECT id FROM run WHERE suite = ?1 AND machine_id = ?2 AND id <> ?3"
            " AND status IN ('ok', 'failed')"
            " AND (started_at < ?4 OR (started_at = ?4 AND id < ?3))"
            " ORDER BY started_at DESC, id DESC LIMIT 1", -1, &st, NULL)) {
        errf(err, errlen, "cannot read runs: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(st, 1, c.suite, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c.machine_id);
    sqlite3_bind_int64(st, 3, cand);
    sqlite3_bind_text(st, 4, c.started_at, -1, SQLITE_STATIC);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    if (rc == 0) return 0;
    /* Say what exists: other runs of the suite, on which machines. */
    char list[1024] = "";
    size_t len = 0;
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT r.id, r.status, %s FROM run r JOIN machine m ON m.id = r.machine_id"
             " WHERE r.suite = ?1 AND r.id <> ?2 ORDER BY r.started_at DESC, r.id DESC LIMIT 8", machine_expr(db));
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c.suite, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, cand);
        while (sqlite3_step(st) == SQLITE_ROW && len < sizeof list)
            len += snprintf(list + len, sizeof list - len, "%s%lld (%s, %s)", len ? ", " : "",
                            (long long)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                            (const char *)sqlite3_column_text(st, 2));
        sqlite3_finalize(st);
    }
    errf(err, errlen, "no earlier finished run of suite '%s' on this machine (%s) before run %lld; %s%s; "
                      "name one with --baseline REF",
         c.suite, c.machine, (long long)cand, len ? "other runs of the suite: " : "it is the only run of the suite",
         list);
    return -1;
}

/* ------------------------------------------ 3. a run's configurations --- */

typedef struct cfg_metric { char name[32]; double v; int is_null; } cfg_metric;

typedef struct cfg {
    char model[64], model_hash[24], dataset[96], dataset_hash[24], method[32], bits[16], isa[16];
    int threads, ok, used;
    char error[192];
    int nm;
    cfg_metric *m;
    int nlat;
    double *lat;
    int niou;
    double *iou;      /* each expression's IoU (samples "iou"), for the mIoU note */
} cfg;

typedef struct cfgset { cfg *c; int n; } cfgset;

static void cfgset_free(cfgset *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->c[i].m);
        free(s->c[i].lat);
        free(s->c[i].iou);
    }
    free(s->c);
    s->c = NULL;
    s->n = 0;
}

static int load_configs(sqlite3 *db, int64_t run, cfgset *out, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL, *sm = NULL;
    int cap = 0, rc = -1;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(db,
            "SELECT id, model, model_hash, dataset, dataset_hash, method, bits, isa, threads, status, error"
            "  FROM config WHERE run_id = ?1 ORDER BY id", -1, &st, NULL) ||
        sqlite3_prepare_v2(db, "SELECT name, value FROM metric WHERE config_id = ?1 ORDER BY name", -1, &sm, NULL)) {
        errf(err, errlen, "cannot read configurations: %s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_int64(st, 1, run);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 16;
            cfg *nc = realloc(out->c, (size_t)cap * sizeof *nc);
            if (!nc) goto oom;
            out->c = nc;
        }
        cfg *c = &out->c[out->n++];
        memset(c, 0, sizeof *c);
        int64_t cid = sqlite3_column_int64(st, 0);
        col_copy(st, 1, c->model, sizeof c->model);
        col_copy(st, 2, c->model_hash, sizeof c->model_hash);
        col_copy(st, 3, c->dataset, sizeof c->dataset);
        col_copy(st, 4, c->dataset_hash, sizeof c->dataset_hash);
        col_copy(st, 5, c->method, sizeof c->method);
        col_copy(st, 6, c->bits, sizeof c->bits);
        col_copy(st, 7, c->isa, sizeof c->isa);
        c->threads = sqlite3_column_type(st, 8) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 8);
        char status[16];
        col_copy(st, 9, status, sizeof status);
        c->ok = !strcmp(status, "ok");
        col_copy(st, 10, c->error, sizeof c->error);

        sqlite3_reset(sm);
        sqlite3_bind_int64(sm, 1, cid);
        int mcap = 0;
        while (sqlite3_step(sm) == SQLITE_ROW) {
            if (c->nm == mcap) {
                mcap = mcap ? 2 * mcap : 32;
                cfg_metric *nmv = realloc(c->m, (size_t)mcap * sizeof *nmv);
                if (!nmv) goto oom;
                c->m = nmv;
            }
            cfg_metric *m = &c->m[c->nm++];
            col_copy(sm, 0, m->name, sizeof m->name);
            m->is_null = sqlite3_column_type(sm, 1) == SQLITE_NULL;
            m->v = m->is_null ? NAN : sqlite3_column_double(sm, 1);
        }
        if (store_read_samples(db, cid, "latency_ms", &c->lat, &c->nlat) ||
            store_read_samples(db, cid, "iou", &c->iou, &c->niou))
            goto oom;
    }
    rc = 0;
    goto done;
oom:
    errf(err, errlen, "out of memory reading run %lld", (long long)run);
    cfgset_free(out);
done:
    sqlite3_finalize(st);
    sqlite3_finalize(sm);
    return rc;
}

static const cfg_metric *cfg_get(const cfg *c, const char *name)
{
    for (int i = 0; i < c->nm; i++)
        if (!strcmp(c->m[i].name, name)) return c->m[i].is_null ? NULL : &c->m[i];
    return NULL;
}

static int same_key(const cfg *a, const cfg *b)
{
    return !strcmp(a->model, b->model) && !strcmp(a->dataset, b->dataset) && !strcmp(a->method, b->method) &&
           !strcmp(a->bits, b->bits) && !strcmp(a->isa, b->isa) && a->threads == b->threads;
}

static int is_fp32(const cfg *c)
{
    return !strcmp(c->bits, "fp32") || !strcmp(c->method, "fp32");
}

/* ---------------------------------------------------------- 4. gates --- */

void cmp_gates_default(cmp_gates *g)
{
    memset(g, 0, sizeof *g);
    g->speed_regression = 0.05;
    g->memory_regression = 0.05;
    g->alpha = 0.05;
    g->ratio_min = 0;
}

static void gates_from_suite(const suite *s, cmp_gates *g)
{
    const suite_gates *sg = &s->gates;
    cmp_gates_default(g);
    g->n_miou = sg->n_miou < CMP_MAX_GATE_BITS ? sg->n_miou : CMP_MAX_GATE_BITS;
    for (int i = 0; i < g->n_miou; i++) {
        snprintf(g->miou_bits[i], sizeof g->miou_bits[i], "%s", sg->miou_bits[i] ? sg->miou_bits[i] : "");
        g->miou_drop_max[i] = sg->miou_drop_max[i];
    }
    if (sg->speed_regression > 0) g->speed_regression = sg->speed_regression;
    if (sg->memory_regression > 0) g->memory_regression = sg->memory_regression;
    if (sg->alpha > 0) g->alpha = sg->alpha;
    g->ratio_min = sg->ratio_min > 0 ? sg->ratio_min : 0;
}

int cmp_gates_from_suite_file(const char *path, cmp_gates *g, char *err, size_t errlen)
{
    suite *s = NULL;
    if (suite_load(path, &s, err, errlen)) return -1;
    gates_from_suite(s, g);
    suite_free(s);
    return 0;
}

int cmp_gates_from_suite_text(const char *text, cmp_gates *g, char *err, size_t errlen)
{
    const char *tmpdir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/risq-suite-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        errf(err, errlen, "cannot create a temporary file for the run's suite in %s", path);
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        errf(err, errlen, "cannot write the run's suite to %s", path);
        return -1;
    }
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    int rc = bad ? -1 : cmp_gates_from_suite_file(path, g, err, errlen);
    if (bad) errf(err, errlen, "cannot write the run's suite to %s", path);
    unlink(path);
    return rc;
}

/* ----------------------------------------------------- 5. comparison --- */

typedef enum mkind { M_EXACT, M_SPEED, M_MEMORY } mkind;

static const struct { const char *name; int higher_better; mkind kind; } metrics[] = {
    {"miou", 1, M_EXACT},          {"oiou", 1, M_EXACT},          {"prec@0.5", 1, M_EXACT},
    {"prec@0.6", 1, M_EXACT},      {"prec@0.7", 1, M_EXACT},      {"prec@0.8", 1, M_EXACT},
    {"prec@0.9", 1, M_EXACT},      {"fp_agreement", 1, M_EXACT},  {"logit_sqnr_db", 1, M_EXACT},
    {"latency_ms", 0, M_SPEED},    {"weight_bytes", 0, M_EXACT},  {"arena_bytes", 0, M_EXACT},
    {"rss_kb", 0, M_MEMORY},
};

static cmp_row *add_row(cmp_result *r, cmp_row_kind kind, const cfg *c, const char *metric, const char *mark)
{
    if (r->nrows == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        cmp_row *nr = realloc(r->rows, (size_t)cap * sizeof *nr);
        if (!nr) return NULL;
        r->rows = nr;
        r->cap = cap;
    }
    cmp_row *w = &r->rows[r->nrows++];
    memset(w, 0, sizeof *w);
    w->kind = kind;
    snprintf(w->model, sizeof w->model, "%s", c->model);
    snprintf(w->dataset, sizeof w->dataset, "%s", c->dataset);
    snprintf(w->method, sizeof w->method, "%s", c->method);
    snprintf(w->bits, sizeof w->bits, "%s", c->bits);
    snprintf(w->isa, sizeof w->isa, "%s", c->isa);
    w->threads = c->threads;
    snprintf(w->metric, sizeof w->metric, "%s", metric);
    snprintf(w->mark, sizeof w->mark, "%s", mark);
    w->base = w->cand = w->delta = w->pct = w->p = w->limit = NAN;
    if (!strcmp(mark, CMP_WORSE)) r->nworse++;
    else if (!strcmp(mark, CMP_BETTER)) r->nbetter++;
    else if (!strcmp(mark, CMP_SAME)) r->nsame++;
    else if (!strcmp(mark, CMP_NC)) r->nnc++;
    else if (!strcmp(mark, CMP_NEWFAIL)) r->nnewfail++;
    else if (!strcmp(mark, CMP_FIXED)) r->nfixed++;
    else if (!strcmp(mark, CMP_FAILING)) r->nfailing++;
    else if (!strcmp(mark, CMP_GATEFAIL)) r->ngatefail++;
    return w;
}

/* Metric rows of two comparable, successful configurations. */
static int compare_metrics(cmp_result *r, const cfg *b, const cfg *c)
{
    const cmp_gates *g = &r->gates;
    for (size_t k = 0; k < sizeof metrics / sizeof metrics[0]; k++) {
        const cfg_metric *mb = cfg_get(b, metrics[k].name), *mc = cfg_get(c, metrics[k].name);
        if (!mb && !mc) continue;
        double vb = mb ? mb->v : NAN, vc = mc ? mc->v : NAN;
        const char *mark = CMP_SAME;
        char note[320] = "";
        double p = NAN;
        if (!mb || !mc) {
            mark = CMP_NC;
            snprintf(note, sizeof note, "not measured in the %s", mb ? "candidate" : "baseline");
        } else if (metrics[k].kind == M_EXACT) {
            double d = vc - vb;
            if (fabs(d) > CMP_EXACT_EPS) mark = (d > 0) == metrics[k].higher_better ? CMP_BETTER : CMP_WORSE;
            /* accuracy is deterministic, so any change is the code's doing;
            ** whether the split can tell the two apart is the expressions'
            ** paired interval (same dataset hash: the same expressions) */
            stats_paired pd;
            if (!strcmp(metrics[k].name, "miou") && fabs(d) > CMP_EXACT_EPS && b->niou > 1 &&
                b->niou == c->niou && !stats_paired_diff(c->iou, b->iou, c->niou, &pd))
                snprintf(note, sizeof note, "paired over %d expressions: 95%% %+.3f ... %+.3f, %d up, %d down%s",
                         pd.n, 100 * pd.lo, 100 * pd.hi, pd.above, pd.below,
                         pd.lo <= 0 && pd.hi >= 0 ? " (within the split's noise)" : "");
        } else if (metrics[k].kind == M_MEMORY) {
            double effect = vb > 0 ? (vc - vb) / vb : 0;
            if (fabs(effect) >= g->memory_regression) mark = effect > 0 ? CMP_WORSE : CMP_BETTER;
            snprintf(note, sizeof note, "effect %+.1f%% (min %.1f%%)", 100 * effect, 100 * g->memory_regression);
        } else {
            double effect;
            if (b->nlat >= 2 && c->nlat >= 2) {
                stats_mw mw;
                double medb = stats_median(b->lat, b->nlat), medc = stats_median(c->lat, c->nlat);
                if (stats_mann_whitney(b->lat, b->nlat, c->lat, c->nlat, &mw)) return -1;
                p = mw.p;
                effect = medb > 0 ? (medc - medb) / medb : 0;
                if (p < g->alpha && fabs(effect) >= g->speed_regression)
                    mark = effect > 0 ? CMP_WORSE : CMP_BETTER;
                snprintf(note, sizeof note, "n=%d/%d%s, effect %+.1f%% (min %.1f%%, alpha %.3g)", b->nlat, c->nlat,
                         mw.exact ? " exact" : "", 100 * effect, 100 * g->speed_regression, g->alpha);
            } else {
                effect = vb > 0 ? (vc - vb) / vb : 0;
                if (fabs(effect) >= g->speed_regression) mark = effect > 0 ? CMP_WORSE : CMP_BETTER;
                snprintf(note, sizeof note, "no raw samples: medians only (min effect %.1f%%)",
                         100 * g->speed_regression);
            }
        }
        cmp_row *w = add_row(r, CMP_ROW_METRIC, c, metrics[k].name, mark);
        if (!w) return -1;
        w->base = vb;
        w->cand = vc;
        w->delta = vc - vb;
        w->pct = vb != 0 ? 100 * (vc - vb) / fabs(vb) : NAN;
        w->p = p;
        snprintf(w->note, sizeof w->note, "%s", note);
    }
    return 0;
}

/* The FP32 reference of configuration q in the same run. */
static const cfg *fp32_of(const cfgset *s, const cfg *q)
{
    const cfg *any = NULL;
    for (int i = 0; i < s->n; i++) {
        const cfg *f = &s->c[i];
        if (!is_fp32(f) || !f->ok || !cfg_get(f, "miou") || strcmp(f->model, q->model) ||
            strcmp(f->model_hash, q->model_hash) || strcmp(f->dataset, q->dataset) ||
            strcmp(f->dataset_hash, q->dataset_hash))
            continue;
        if (!strcmp(f->isa, q->isa) && f->threads == q->threads) return f;
        if (!any) any = f;
    }
    return any;
}

static int gate_rows(cmp_result *r, const cfgset *cs)
{
    const cmp_gates *g = &r->gates;
    for (int i = 0; i < cs->n; i++) {
        const cfg *q = &cs->c[i];
        const cfg_metric *mq = cfg_get(q, "miou");
        if (is_fp32(q) || !q->ok || !mq) continue;
        int gi = -1;
        for (int k = 0; k < g->n_miou; k++)
            if (!strcmp(g->miou_bits[k], q->bits)) gi = k;
        if (gi < 0 && g->ratio_min <= 0) continue;
        /* Accuracy does not depend on the target: one gate per
        ** (model, dataset, method, bits). */
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) {
            const cfg *o = &cs->c[j];
            dup = o->ok && !strcmp(o->model, q->model) && !strcmp(o->dataset, q->dataset) &&
                  !strcmp(o->method, q->method) && !strcmp(o->bits, q->bits) && cfg_get(o, "miou") &&
                  cfg_get(o, "miou")->v == mq->v;
        }
        if (dup) continue;
        const cfg *f = fp32_of(cs, q);
        for (int kind = 0; kind < 2; kind++) {
            if (kind == 0 && gi < 0) continue;
            if (kind == 1 && g->ratio_min <= 0) continue;
            const char *metric = kind == 0 ? "gate:miou_drop" : "gate:ratio";
            r->ngates++;
            if (!f) {
                cmp_row *w = add_row(r, CMP_ROW_GATE, q, metric, CMP_GATEFAIL);
                if (!w) return -1;
                w->cand = mq->v;
                snprintf(w->note, sizeof w->note, "no successful FP32 configuration of %s on %s in the run",
                         q->model, q->dataset);
                continue;
            }
            double fp = cfg_get(f, "miou")->v, drop = fp - mq->v;
            int pass;
            cmp_row *w;
            if (kind == 0) {
                pass = drop <= g->miou_drop_max[gi] + CMP_EXACT_EPS;
                w = add_row(r, CMP_ROW_GATE, q, metric, pass ? CMP_PASS : CMP_GATEFAIL);
                if (!w) return -1;
                w->limit = g->miou_drop_max[gi];
                snprintf(w->note, sizeof w->note, "mIoU drop %.3f points vs FP32 (max %.3g)", drop, w->limit);
            } else {
                double ratio = fp > 0 ? mq->v / fp : NAN;
                pass = fp > 0 && ratio >= g->ratio_min - 1e-12;
                w = add_row(r, CMP_ROW_GATE, q, metric, pass ? CMP_PASS : CMP_GATEFAIL);
                if (!w) return -1;
                w->limit = g->ratio_min;
                snprintf(w->note, sizeof w->note, "mIoU %.2f%% of FP32 (min %.2f%%)", 100 * ratio, 100 * g->ratio_min);
            }
            w->base = fp;
            w->cand = mq->v;
            w->delta = -drop;
            w->pct = fp != 0 ? -100 * drop / fp : NAN;
        }
    }
    return 0;
}

static int run_suite_text(sqlite3 *db, int64_t run, char **text)
{
    sqlite3_stmt *st;
    *text = NULL;
    if (!has_column(db, "run", "suite_text")) return 0;
    if (sqlite3_prepare_v2(db, "SELECT suite_text FROM run WHERE id = ?1", -1, &st, NULL)) return -1;
    sqlite3_bind_int64(st, 1, run);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *text = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

int cmp_compare(sqlite3 *db, int64_t base, int64_t cand, const cmp_gates *g, cmp_result **out, char *err,
                size_t errlen)
{
    cmp_result *r = calloc(1, sizeof *r);
    cfgset bs = {0}, cs = {0};
    *out = NULL;
    if (!r) {
        errf(err, errlen, "out of memory");
        return -1;
    }
    if (load_runinfo(db, base, &r->base, err, errlen) || load_runinfo(db, cand, &r->cand, err, errlen))
        goto fail;
    if (g) {
        r->gates = *g;
        snprintf(r->gates_from, sizeof r->gates_from, "given");
    } else {
        char *text = NULL;
        cmp_gates_default(&r->gates);
        snprintf(r->gates_from, sizeof r->gates_from, "defaults");
        if (run_suite_text(db, cand, &text) == 0 && text) {
            char e2[512];
            if (cmp_gates_from_suite_text(text, &r->gates, e2, sizeof e2) == 0)
                snprintf(r->gates_from, sizeof r->gates_from, "the candidate run's suite");
            else
                snprintf(r->gates_from, sizeof r->gates_from, "defaults (the run's stored suite did not load)");
            free(text);
        }
    }
    if (load_configs(db, base, &bs, err, errlen) || load_configs(db, cand, &cs, err, errlen)) goto fail;
    int same_machine = !strcmp(r->base.fingerprint, r->cand.fingerprint);

    for (int i = 0; i < cs.n; i++) {
        const cfg *c = &cs.c[i];
        cfg *b = NULL;
        for (int j = 0; j < bs.n && !b; j++)
            if (!bs.c[j].used && same_key(&bs.c[j], c)) b = &bs.c[j];
        const char *nc = NULL;
        if (!b) nc = "not in the baseline run";
        else if (!same_machine) nc = "different machine";
        else if (strcmp(b->model_hash, c->model_hash)) nc = "model content changed";
        else if (strcmp(b->dataset_hash, c->dataset_hash)) nc = "dataset content changed";
        if (b) b->used = 1;
        cmp_row *w;
        if (nc) {
            if (!(w = add_row(r, CMP_ROW_STATUS, c, "config", CMP_NC))) goto oom;
            snprintf(w->note, sizeof w->note, "%s", nc);
        } else if (b->ok && !c->ok) {
            if (!(w = add_row(r, CMP_ROW_STATUS, c, "status", CMP_NEWFAIL))) goto oom;
            snprintf(w->note, sizeof w->note, "%s", c->error[0] ? c->error : "failed");
        } else if (!b->ok && c->ok) {
            if (!(w = add_row(r, CMP_ROW_STATUS, c, "status", CMP_FIXED))) goto oom;
            snprintf(w->note, sizeof w->note, "failed in the baseline: %.160s", b->error);
        } else if (!b->ok && !c->ok) {
            if (!(w = add_row(r, CMP_ROW_STATUS, c, "status", CMP_FAILING))) goto oom;
            snprintf(w->note, sizeof w->note, "still failing: %.170s", c->error);
        } else if (compare_metrics(r, b, c)) {
            goto oom;
        }
    }
    for (int j = 0; j < bs.n; j++) {
        if (bs.c[j].used) continue;
        cmp_row *w = add_row(r, CMP_ROW_STATUS, &bs.c[j], "config", CMP_NC);
        if (!w) goto oom;
        snprintf(w->note, sizeof w->note, "not in the candidate run");
    }
    if (gate_rows(r, &cs)) goto oom;
    cfgset_free(&bs);
    cfgset_free(&cs);
    *out = r;
    return 0;
oom:
    errf(err, errlen, "out of memory comparing runs");
fail:
    cfgset_free(&bs);
    cfgset_free(&cs);
    cmp_result_free(r);
    return -1;
}

void cmp_result_free(cmp_result *r)
{
    if (!r) return;
    free(r->rows);
    free(r);
}

int cmp_regressed(const cmp_result *r)
{
    return r->nworse > 0 || r->nnewfail > 0 || r->ngatefail > 0;
}

/* ---------------------------------------------------------- 6. output --- */

static const char *fmt_num(double v, char *buf, size_t n, int sign)
{
    if (isnan(v)) snprintf(buf, n, "-");
    else if (v == floor(v) && fabs(v) >= 1e5 && fabs(v) < 1e15) snprintf(buf, n, sign ? "%+.0f" : "%.0f", v);
    else snprintf(buf, n, sign ? "%+.3f" : "%.3f", v);
    return buf;
}

static const char *const cols[] = {"model", "dataset", "method", "bits", "isa", "threads", "metric", "baseline",
                                   "candidate", "delta", "delta_pct", "p", "mark", "note"};
#define NCOLS ((int)(sizeof cols / sizeof cols[0]))

static int add_table_row(report_table *t, const cmp_row *w, int machine)
{
    char thr[16], vb[32], vc[32], d[32], pct[32], p[32];
    snprintf(thr, sizeof thr, "%d", w->threads);
    if (isnan(w->pct)) snprintf(pct, sizeof pct, "-");
    else snprintf(pct, sizeof pct, machine ? "%.4f" : "%+.1f%%", w->pct);
    if (isnan(w->p)) snprintf(p, sizeof p, "-");
    else snprintf(p, sizeof p, "%.3g", w->p);
    if (machine) {   /* CSV: full precision, empty for unavailable */
        snprintf(vb, sizeof vb, isnan(w->base) ? "" : "%.10g", w->base);
        snprintf(vc, sizeof vc, isnan(w->cand) ? "" : "%.10g", w->cand);
        snprintf(d, sizeof d, isnan(w->delta) ? "" : "%.10g", w->delta);
        if (isnan(w->pct)) pct[0] = 0;
        if (isnan(w->p)) p[0] = 0;
    } else {
        fmt_num(w->base, vb, sizeof vb, 0);
        fmt_num(w->cand, vc, sizeof vc, 0);
        fmt_num(w->delta, d, sizeof d, 1);
    }
    const char *cells[NCOLS] = {w->model, w->dataset, w->method, w->bits, w->isa, thr, w->metric, vb, vc, d, pct,
                                p, w->mark, w->note};
    return report_table_add(t, cells);
}

static void run_label(const cmp_runinfo *ri, char *buf, size_t n)
{
    snprintf(buf, n, "run %lld (%.8s), suite %s, commit %.10s%s, %s, %s", (long long)ri->id, ri->uuid, ri->suite,
             ri->commit, ri->dirty ? "+dirty" : "", ri->machine, ri->started_at);
}

static json_t *runinfo_json(const cmp_runinfo *ri)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "id", (json_int_t)ri->id, "uuid", ri->uuid, "suite",
                     ri->suite, "started_at", ri->started_at, "commit", ri->commit, "dirty", ri->dirty,
                     "machine", ri->machine, "fingerprint", ri->fingerprint);
}

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static int write_json(const cmp_result *r, FILE *f)
{
    json_t *root = json_object(), *rows = json_array(), *gates = json_array();
    if (!root || !rows || !gates) {
        json_decref(root);
        json_decref(rows);
        json_decref(gates);
        return -1;
    }
    json_object_set_new(root, "baseline", runinfo_json(&r->base));
    json_object_set_new(root, "candidate", runinfo_json(&r->cand));
    json_t *gj = json_pack("{s:s, s:f, s:f, s:f, s:f}", "from", r->gates_from, "speed_regression",
                           r->gates.speed_regression, "memory_regression", r->gates.memory_regression, "alpha",
                           r->gates.alpha, "ratio_min", r->gates.ratio_min);
    json_t *drop = json_object();
    for (int i = 0; i < r->gates.n_miou; i++)
        json_object_set_new(drop, r->gates.miou_bits[i], json_real(r->gates.miou_drop_max[i]));
    json_object_set_new(gj, "miou_drop_max", drop);
    json_object_set_new(root, "thresholds", gj);
    for (int i = 0; i < r->nrows; i++) {
        const cmp_row *w = &r->rows[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "model", w->model, "dataset",
                              w->dataset, "method", w->method, "bits", w->bits, "isa", w->isa, "threads", w->threads,
                              "metric", w->metric, "mark", w->mark, "note", w->note);
        json_object_set_new(o, "baseline", num_or_null(w->base));
        json_object_set_new(o, "candidate", num_or_null(w->cand));
        json_object_set_new(o, "delta", num_or_null(w->delta));
        json_object_set_new(o, "delta_pct", num_or_null(w->pct));
        if (w->kind == CMP_ROW_GATE) {
            json_object_set_new(o, "limit", num_or_null(w->limit));
            json_array_append_new(gates, o);
        } else {
            json_object_set_new(o, "p", num_or_null(w->p));
            json_array_append_new(rows, o);
        }
    }
    json_object_set_new(root, "rows", rows);
    json_object_set_new(root, "gates", gates);
    json_object_set_new(root, "summary",
                        json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b}", "worse", r->nworse, "better",
                                  r->nbetter, "same", r->nsame, "not_comparable", r->nnc, "new_fail", r->nnewfail,
                                  "fixed", r->nfixed, "failing", r->nfailing, "gates", r->ngates, "gate_failures",
                                  r->ngatefail, "regressed", cmp_regressed(r)));
    int rc = json_dumpf(root, f, JSON_INDENT(2)) ? -1 : 0;
    fputc('\n', f);
    json_decref(root);
    return rc;
}

static void summary_line(const cmp_result *r, char *buf, size_t n)
{
    snprintf(buf, n, "%s: %d worse, %d better, %d unchanged, %d not comparable, %d newly failing, %d fixed, "
                     "%d still failing; gates %d/%d passed",
             cmp_regressed(r) ? "REGRESSION" : "no regression", r->nworse, r->nbetter, r->nsame, r->nnc, r->nnewfail,
             r->nfixed, r->nfailing, r->ngates - r->ngatefail, r->ngates);
}

int cmp_write(const cmp_result *r, report_format fmt, FILE *f)
{
    if (fmt == REPORT_JSON) return write_json(r, f);
    if (fmt == REPORT_HTML) return -1;
    report_table *t = report_table_new(NCOLS, cols), *gt = report_table_new(NCOLS, cols);
    if (!t || !gt) {
        report_table_free(t);
        report_table_free(gt);
        return -1;
    }
    int machine = fmt == REPORT_CSV, rc = 0;
    for (int i = 0; i < r->nrows && !rc; i++) {
        const cmp_row *w = &r->rows[i];
        rc = add_table_row(w->kind == CMP_ROW_GATE && !machine ? gt : t, w, machine);
    }
    char lb[512], lc[512], sum[512];
    run_label(&r->base, lb, sizeof lb);
    run_label(&r->cand, lc, sizeof lc);
    summary_line(r, sum, sizeof sum);
    if (rc) {
        /* out of memory: nothing written */
    } else if (fmt == REPORT_CSV) {
        report_table_write(t, REPORT_CSV, f);
    } else if (fmt == REPORT_MD) {
        fprintf(f, "**baseline:** %s  \n**candidate:** %s  \n**thresholds:** alpha %.3g, minimum latency effect "
                   "%.1f%%, minimum memory effect %.1f%% (from %s)\n\n",
                lb, lc, r->gates.alpha, 100 * r->gates.speed_regression, 100 * r->gates.memory_regression,
                r->gates_from);
        report_table_write(t, REPORT_MD, f);
        if (gt->nrows) {
            fprintf(f, "\n**gates**\n\n");
            report_table_write(gt, REPORT_MD, f);
        }
        fprintf(f, "\n**%s**\n", sum);
    } else {
        fprintf(f, "baseline:  %s\ncandidate: %s\nthresholds: alpha %.3g, minimum latency effect %.1f%%, "
                   "minimum memory effect %.1f%% (from %s)\n\n",
                lb, lc, r->gates.alpha, 100 * r->gates.speed_regression, 100 * r->gates.memory_regression,
                r->gates_from);
        report_table_write(t, REPORT_TABLE, f);
        if (gt->nrows) {
            fprintf(f, "\ngates:\n");
            report_table_write(gt, REPORT_TABLE, f);
        }
        fprintf(f, "\n%s\n", sum);
    }
    report_table_free(t);
    report_table_free(gt);
    return rc;
}

/* ------------------------------------------------ 7. named baselines --- */

static int valid_name(const char *s)
{
    if (!*s || all_digits(s) || !strcmp(s, "latest") || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!(*s == '-' || *s == '_' || *s == '.' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

int cmp_baseline_set(store *s, const char *name, int64_t run, char *err, size_t errlen)
{
    if (!valid_name(name)) {
        errf(err, errlen, "'%s' is not a usable baseline name (letters, digits, '-', '_', '.'; not all digits, "
                          "not 'latest', at most 64 characters)", name);
        return -1;
    }
    if (!run_exists(store_sqlite(s), run)) {
        errf(err, errlen, "run %lld is not in the database", (long long)run);
        return -1;
    }
    return store_set_baseline(s, name, run, err, errlen);
}

/* ---------------------------------------------------- 8. command line --- */

static const char usage_compare[] =
    "usage: risq compare [--db PATH] [--baseline REF] [--candidate REF] [-o FORMAT] [--suite FILE]\n"
    "\n"
    "Compare two runs configuration by configuration (same machine fingerprint,\n"
    "model and dataset hashes, method, bits, isa, threads) and check the gates.\n"
    "REF is a run id, a run uuid prefix, a git commit prefix (the latest run of\n"
    "that commit), a named baseline (`risq baseline`) or 'latest'. Defaults: the\n"
    "candidate is the latest run, the baseline the previous finished run of the\n"
    "same suite on the same machine.\n"
    "\n"
    "Accuracy metrics (miou, oiou, prec@X, fp_agreement, logit_sqnr_db) change when\n"
    "they move by more than 1e-9 (the runs are deterministic); a changed miou's note\n"
    "gives the change paired over the expressions (95% interval, expressions up and\n"
    "down), which says whether the split could tell the two apart. latency_ms is\n"
    "worse/better when a two-sided Mann-Whitney U test on the raw samples gives\n"
    "p < alpha and the medians differ by at least the minimum effect. weight_bytes\n"
    "and arena_bytes change when they change; rss_kb (memory of the speed pass)\n"
    "when it moves by at least the minimum memory effect. Marks: better, worse,\n"
    "~ (no significant change), n/c (not comparable), NEW-FAIL, FIXED, failing.\n"
    "Gates (from --suite, else the candidate run's stored suite, else defaults:\n"
    "alpha 0.05, effect 5%, memory effect 5%) check each quantized\n"
    "configuration's mIoU drop against FP32 of the same run.\n"
    "\n"
    "  --db PATH          results history (default " STORE_DEFAULT_PATH ")\n"
    "  -b, --baseline REF baseline run\n"
    "  -c, --candidate REF candidate run (default: latest)\n"
    "  -o, --output FMT   table (default), md, csv or json\n"
    "  -s, --suite FILE   take the gates from this suite file\n"
    "\n"
    "exit status: 0 no regression, 1 something got worse, newly failed or a gate\n"
    "failed, 2 usage error, unknown reference, no previous run\n";

/* Open an existing DB (never create one for reading). */
static int open_existing(const char *path, const char *cmd, store **s)
{
    char err[1024];
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "risq %s: no results database at %s (record a run with `risq run`, or give --db PATH)\n",
                cmd, path);
        return -1;
    }
    if (store_open(path, s, err, sizeof err)) {
        fprintf(stderr, "risq %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

int cmp_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},       {"baseline", required_argument, 0, 'b'},
        {"candidate", required_argument, 0, 'c'}, {"output", required_argument, 0, 'o'},
        {"suite", required_argument, 0, 's'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db_path = STORE_DEFAULT_PATH, *bref = NULL, *cref = NULL, *suite_path = NULL;
    report_format fmt = REPORT_TABLE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hb:c:o:s:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'b': bref = optarg; break;
        case 'c': cref = optarg; break;
        case 's': suite_path = optarg; break;
        case 'o':
            if (report_parse_format(optarg, &fmt) || fmt == REPORT_HTML) {
                fprintf(stderr, "risq compare: unknown output format '%s' (table, md, csv, json)\n", optarg);
                return 2;
            }
            break;
        case 'h': fputs(usage_compare, stdout); return 0;
        default: fputs(usage_compare, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "risq compare: unexpected argument '%s'\n\n%s", argv[optind], usage_compare);
        return 2;
    }
    char err[2048];
    cmp_gates g, *gp = NULL;
    if (suite_path) {
        if (cmp_gates_from_suite_file(suite_path, &g, err, sizeof err)) {
            fprintf(stderr, "risq compare: %s\n", err);
            return 2;
        }
        gp = &g;
    }
    store *s;
    if (open_existing(db_path, "compare", &s)) return 2;
    sqlite3 *db = store_sqlite(s);
    int64_t cand, base;
    int rc = 2;
    cmp_result *r = NULL;
    if (cref ? cmp_resolve(db, cref, &cand, err, sizeof err) : cmp_latest(db, &cand, err, sizeof err)) {
        fprintf(stderr, "risq compare: candidate: %s\n", err);
    } else if (bref ? cmp_resolve(db, bref, &base, err, sizeof err) : cmp_previous(db, cand, &base, err, sizeof err)) {
        fprintf(stderr, "risq compare: baseline: %s\n", err);
    } else if (cmp_compare(db, base, cand, gp, &r, err, sizeof err)) {
        fprintf(stderr, "risq compare: %s\n", err);
    } else {
        if (suite_path) snprintf(r->gates_from, sizeof r->gates_from, "suite %.140s", suite_path);
        if (cmp_write(r, fmt, stdout)) fprintf(stderr, "risq compare: cannot write the output\n");
        else rc = cmp_regressed(r) ? 1 : 0;
        fflush(stdout);
    }
    cmp_result_free(r);
    store_close(s);
    return rc;
}

static const char usage_baseline[] =
    "usage: risq baseline set NAME [RUN] [--db PATH]\n"
    "       risq baseline list [--db PATH]\n"
    "\n"
    "Named baselines point to a run (stored by uuid), so `risq compare --baseline\n"
    "NAME` compares against it. RUN is any compare REF (default: the latest run);\n"
    "setting an existing name moves it.\n";

int cmp_baseline_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *db_path = STORE_DEFAULT_PATH;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'h': fputs(usage_baseline, stdout); return 0;
        default: fputs(usage_baseline, stderr); return 2;
        }
    }
    int nargs = argc - optind;
    char **a = argv + optind;
    int is_set = nargs >= 2 && nargs <= 3 && !strcmp(a[0], "set");
    int is_list = nargs == 1 && !strcmp(a[0], "list");
    if (!is_set && !is_list) {
        fputs(usage_baseline, stderr);
        return 2;
    }
    store *s;
    if (open_existing(db_path, "baseline", &s)) return 2;
    sqlite3 *db = store_sqlite(s);
    char err[2048];
    int rc = 0;
    if (is_set) {
        int64_t run;
        if ((nargs == 3 ? cmp_resolve(db, a[2], &run, err, sizeof err) : cmp_latest(db, &run, err, sizeof err)) ||
            cmp_baseline_set(s, a[1], run, err, sizeof err)) {
            fprintf(stderr, "risq baseline: %s\n", err);
            rc = 2;
        } else {
            printf("baseline '%s' -> run %lld\n", a[1], (long long)run);
        }
    } else if (!has_table(db, "baseline")) {
        printf("no baselines (this results database has no baseline table yet)\n");
    } else {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT b.name, b.run_uuid, b.created_at, r.id, r.suite, r.started_at"
                                   "  FROM baseline b LEFT JOIN run r ON r.uuid = b.run_uuid ORDER BY b.name",
                               -1, &st, NULL)) {
            fprintf(stderr, "risq baseline: cannot read baselines: %s\n", sqlite3_errmsg(db));
            rc = 2;
        } else {
            static const char *const h[] = {"name", "run", "uuid", "suite", "run_started", "set_at"};
            report_table *t = report_table_new(6, h);
            while (t && sqlite3_step(st) == SQLITE_ROW) {
                char id[24];
                if (sqlite3_column_type(st, 3) == SQLITE_NULL) snprintf(id, sizeof id, "(deleted)");
                else snprintf(id, sizeof id, "%lld", (long long)sqlite3_column_int64(st, 3));
                const char *cells[6] = {(const char *)sqlite3_column_text(st, 0), id,
                                        (const char *)sqlite3_column_text(st, 1),
                                        (const char *)sqlite3_column_text(st, 4),
                                        (const char *)sqlite3_column_text(st, 5),
                                        (const char *)sqlite3_column_text(st, 2)};
                report_table_add(t, cells);
            }
            sqlite3_finalize(st);
            if (t && t->nrows) report_table_write(t, REPORT_TABLE, stdout);
            else printf("no baselines (set one with `risq baseline set NAME [RUN]`)\n");
            report_table_free(t);
        }
    }
    store_close(s);
    return rc;
}
