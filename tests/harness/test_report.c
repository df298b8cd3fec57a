/*
** test_report.c -- checks harness/report.c on a synthetic history built
** here with the store functions: eight nightly runs on board-a (a latency
** step at the fifth run, an mIoU step at the sixth), one on board-b, and a
** dataset label full of HTML specials. Checks every format: JSON parses and
** has the change points, CSV has a fixed column count, Markdown and text
** have their sections, HTML is self-contained and escaped; `risq report`
** exit codes; the paired section; results/README.md's pooled query
** (example 14), read from that file and run on a history of two splits.
**
**   test_report             run the checks in a temporary folder
**   test_report --keep DIR  also leave DIR/history.sqlite for the HTML test
**                           (test_report_html.sh)
**
** One line per check; exit status 1 when any check fails.
*/
#include "harness/report.h"
#include "harness/stats.h"
#include "harness/store.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

static int nfail = 0, npass = 0;

#define CHECK(cond, desc) do {                                              \
        if (cond) { printf("ok   %s\n", desc); npass++; }                   \
        else { printf("FAIL %s  (%s:%d: %s)\n", desc, __FILE__, __LINE__, #cond); nfail++; } \
    } while (0)

#define DSLABEL "synth<&>\"'"

static int64_t add_run(store *s, const char *board, int k, double lat_fp32, double miou_w4)
{
    char err[512], commit[48];
    store_run_info ri;
    memset(&ri, 0, sizeof ri);
    ri.suite = "nightly";
    ri.command = "test_report";
    ri.board = board;
    snprintf(ri.machine.cpu_model, sizeof ri.machine.cpu_model, "test-cpu");
    snprintf(ri.machine.board, sizeof ri.machine.board, "%s", board);
    ri.machine.cores = 2;
    store_machine_fingerprint(&ri.machine);
    snprintf(commit, sizeof commit, "%04dabcdef0123456789", k);
    ri.build = (store_build){commit, 0, "gcc test", "-O2"};
    int64_t run;
    if (store_begin_run(s, &ri, &run, err, sizeof err)) {
        printf("  %s\n", err);
        return -1;
    }
    static const struct { const char *method, *bits; int threads; double miou, latf; } cf[] = {
        {"fp32", "fp32", 1, 50.0, 1.0}, {"fp32", "fp32", 2, 50.0, 0.55},
        {"ptq4ris", "W8A8", 1, 49.4, 0.6}, {"ptq4ris", "W4A4", 1, -1, 0.5}};
    for (int i = 0; i < 4; i++) {
        store_config c;
        memset(&c, 0, sizeof c);
        c.model = "lavt-tiny";
        c.model_hash = "mh";
        c.dataset = DSLABEL;
        c.dataset_hash = "dh";
        c.method = cf[i].method;
        c.bits = cf[i].bits;
        c.isa = "scalar";
        c.threads = cf[i].threads;
        c.status = "ok";
        c.counter_source = "timer";
        double miou = cf[i].miou < 0 ? miou_w4 : cf[i].miou;
        /* a little noise, +-1% */
        double lat = lat_fp32 * cf[i].latf * (1 + 0.01 * ((k + i) % 3 - 1));
        store_metric m[4] = {{"miou", miou, 0, "%"}, {"oiou", miou - 5, 0, "%"}, {"latency_ms", lat, 0, "ms"},
                             {"latency_p90_ms", lat * 1.1, 0, "ms"}};
        if (store_add_config(s, run, &c, m, 4, NULL, 0, NULL, err, sizeof err)) {
            printf("  %s\n", err);
            return -1;
        }
    }
    store_end_run(s, run, "ok", err, sizeof err);
    usleep(2000);
    return run;
}

static char *render_vs(sqlite3 *db, report_format fmt, const char *vs)
{
    char *buf = NULL, err[512];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = report_render(db, fmt, vs, f, err, sizeof err);
    fclose(f);
    if (rc) {
        printf("  report_render: %s\n", err);
        free(buf);
        return NULL;
    }
    return buf;
}

static char *render(sqlite3 *db, report_format fmt)
{
    return render_vs(db, fmt, NULL);
}

static int cli(const char *first, ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)first;
    va_start(ap, first);
    for (const char *v; argc < 15 && (v = va_arg(ap, const char *)) != NULL;) argv[argc++] = (char *)v;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    int rc = report_main(argc, argv);
    fflush(stdout);
    return rc;
}

/* Run ids listed in trend `t`'s change_points[name]. */
static int has_cp(json_t *t, const char *name, json_int_t run)
{
    json_t *a = json_object_get(json_object_get(t, "change_points"), name);
    for (size_t i = 0; i < json_array_size(a); i++)
        if (json_integer_value(json_array_get(a, i)) == run) return 1;
    return 0;
}

static json_t *find_trend(json_t *root, const char *machine, const char *bits, int threads)
{
    json_t *tr = json_object_get(root, "trends");
    for (size_t i = 0; i < json_array_size(tr); i++) {
        json_t *t = json_array_get(tr, i);
        if (!strcmp(json_string_value(json_object_get(t, "machine")), machine) &&
            !strcmp(json_string_value(json_object_get(t, "bits")), bits) &&
            json_integer_value(json_object_get(t, "threads")) == threads)
            return t;
    }
    return NULL;
}

/* The row of the paired section for method m, or NULL. */
static json_t *paired_row(json_t *p, const char *m)
{
    for (size_t i = 0; i < json_array_size(p); i++) {
        json_t *r = json_array_get(p, i);
        const char *v = json_string_value(json_object_get(r, "method"));
        if (v && !strcmp(v, m)) return r;
    }
    return NULL;
}

/* A fresh history DIR/NAME.sqlite and the run info of a test machine and
** build for its runs (suite NAME); NULL (a failed check) when it cannot be
** opened. */
static store *fresh_history(const char *dir, const char *name, store_run_info *ri)
{
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/%s.sqlite", dir, name);
    unlink(path);
    store *s;
    if (store_open(path, &s, err, sizeof err)) {
        CHECK(0, "store_open of a fresh history");
        return NULL;
    }
    memset(ri, 0, sizeof *ri);
    ri->suite = name;
    snprintf(ri->machine.cpu_model, sizeof ri->machine.cpu_model, "test-cpu");
    store_machine_fingerprint(&ri->machine);
    ri->build = (store_build){"feedface", 0, "gcc test", "-O2"};
    return s;
}

/* Store an ok one-thread scalar configuration of model "m" with its
** per-expression IoU samples (and metrics m[nm]); 0 on success. */
static int add_iou_config(store *s, int64_t run, const char *dataset, const char *method,
                          const char *bits, const store_metric *m, int nm, const store_sample *smp,
                          int n, char *err, size_t errlen)
{
    store_config c;
    memset(&c, 0, sizeof c);
    c.model = "m";
    c.dataset = dataset;
    c.method = method;
    c.bits = bits;
    c.isa = "scalar";
    c.threads = 1;
    c.status = "ok";
    return store_add_config(s, run, &c, m, nm, smp, n, NULL, err, errlen);
}

/* The paired section: one run, FP32 and three W4A4 methods on the same 40
** expressions; "good" is FP32 everywhere, "bad" loses 0.1 IoU on 10 of them
** (mIoU -2.5 points), "old" has no per-expression samples; W8A8 has no
** samples at all. */
static void check_paired(const char *dir)
{
    char err[512];
    store_run_info ri;
    store *s = fresh_history(dir, "paired", &ri);
    if (!s) return;
    int64_t run;
    int ok = store_begin_run(s, &ri, &run, err, sizeof err) == 0;
    static const struct { const char *method, *bits; double loss; int nloss, samples; } cf[] = {
        {"fp32", "fp32", 0, 0, 1}, {"good", "W4A4", 0, 0, 1}, {"bad", "W4A4", 0.1, 10, 1}, {"old", "W4A4", 0.5, 40, 0},
        {"lone", "W8A8", 0, 0, 0}};
    for (int i = 0; ok && i < 5; i++) {
        store_sample smp[40];
        double sum = 0;
        for (int e = 0; e < 40; e++) {
            double v = 0.3 + 0.015 * e - (e % 4 == 1 && e / 4 < cf[i].nloss ? cf[i].loss : 0);
            if (cf[i].nloss == 40) v = 0.3 + 0.015 * e - cf[i].loss;
            smp[e] = (store_sample){"iou", e, v};
            sum += v;
        }
        store_metric m[1] = {{"miou", 100 * sum / 40, 0, "%"}};
        ok = add_iou_config(s, run, "d", cf[i].method, cf[i].bits, m, 1, smp, cf[i].samples ? 40 : 0, err,
                            sizeof err) == 0;
    }
    if (ok) store_end_run(s, run, "ok", err, sizeof err);
    CHECK(ok, "paired: history written");
    char *js = ok ? render(store_sqlite(s), REPORT_JSON) : NULL;
    json_t *root = js ? json_loads(js, 0, NULL) : NULL;
    json_t *p = json_object_get(root, "paired");
    CHECK(json_array_size(p) == 3, "paired: one row per W4A4 method (fp32 is the reference), no W8A8 group");
    json_t *good = NULL, *bad = NULL, *old = NULL;
    good = paired_row(p, "good");
    bad = paired_row(p, "bad");
    old = paired_row(p, "old");
    #define RV(r, k) json_real_value(json_object_get(r, k))
    CHECK(good && !strcmp(json_string_value(json_object_get(good, "vs")), "bad") &&
              fabs(RV(good, "diff") - 2.5) < 1e-9 && RV(good, "lo") > 0 &&
              !strcmp(json_string_value(json_object_get(good, "verdict")), "better"),
          "paired: the best method against the runner-up, +2.5 points, interval above 0");
    CHECK(good && fabs(RV(good, "vs_fp32")) < 1e-9 && RV(good, "fp32_lo") == 0 && RV(good, "fp32_hi") == 0,
          "paired: identical to FP32 on every expression, a zero-width interval");
    /* d = -0.1 on 10 of 40: sd = sqrt((10 * .075^2 + 30 * .025^2) / 39),
    ** half width 1.959964 sd / sqrt(40) = .01535 -> 1.535 points */
    double sd = sqrt((10 * 0.075 * 0.075 + 30 * 0.025 * 0.025) / 39), half = 100 * 1.959964 * sd / sqrt(40.0);
    CHECK(bad && !strcmp(json_string_value(json_object_get(bad, "vs")), "good") &&
              fabs(RV(bad, "diff") + 2.5) < 1e-9 && fabs(RV(bad, "hi") - (-2.5 + half)) < 1e-3 &&
              json_integer_value(json_object_get(bad, "below")) == 10 &&
              json_integer_value(json_object_get(bad, "above")) == 0 &&
              !strcmp(json_string_value(json_object_get(bad, "verdict")), "worse"),
          "paired: 10 expressions worse, -2.5 points, interval by hand, verdict worse");
    CHECK(old && json_is_null(json_object_get(old, "diff")) && json_is_null(json_object_get(old, "above")) &&
              !strcmp(json_string_value(json_object_get(old, "verdict")), "-"),
          "paired: a configuration without samples has no comparison");
    #undef RV
    json_decref(root);
    free(js);
    char *tab = ok ? render(store_sqlite(s), REPORT_TABLE) : NULL;
    CHECK(tab && strstr(tab, "== Methods paired over expressions"), "paired: the text report has the section");
    free(tab);

    /* --vs bad: every method against "bad", "bad" against the best other */
    js = ok ? render_vs(store_sqlite(s), REPORT_JSON, "bad") : NULL;
    root = js ? json_loads(js, 0, NULL) : NULL;
    p = json_object_get(root, "paired");
    good = bad = NULL;
    good = paired_row(p, "good");
    bad = paired_row(p, "bad");
    CHECK(good && bad && !strcmp(json_string_value(json_object_get(good, "vs")), "bad") &&
              fabs(json_real_value(json_object_get(good, "diff")) - 2.5) < 1e-9 &&
              !strcmp(json_string_value(json_object_get(bad, "vs")), "good") &&
              fabs(json_real_value(json_object_get(bad, "diff")) + 2.5) < 1e-9,
          "paired --vs: the named method is the reference, itself against the best of the others");
    json_decref(root);
    free(js);
    js = ok ? render_vs(store_sqlite(s), REPORT_JSON, "nosuch") : NULL;
    root = js ? json_loads(js, 0, NULL) : NULL;
    p = json_object_get(root, "paired");
    CHECK(json_array_size(p) == 3 &&
              !strcmp(json_string_value(json_object_get(json_array_get(p, 2), "vs")), "good"),
          "paired --vs: a method not in the group falls back to the best");
    json_decref(root);
    free(js);
    store_close(s);
}

/* results/README.md example 14 (ptq4ris minus each baseline, pooled over
** every run and dataset of a history), read from the file so that the
** documented query is the one tested: two runs on different datasets,
** 40 and 20 expressions. minmax: 10 expressions of run 1 lower by 0.1, 4
** of run 2 higher by 0.05 (60 pooled); percentile only in run 1 (40). The
** query's diff, lo and hi (rounded to 3 decimals) must equal
** stats_paired_diff over the concatenated expressions. */
static char *readme_query(int number)
{
    FILE *f = fopen("results/README.md", "r");
    char line[1024], head[16];
    size_t len = 0, cap = 4096;
    char *q = malloc(cap);
    int state = 0; /* 0: before the heading, 1: before ```sql, 2: in the block */
    snprintf(head, sizeof head, "**%d. ", number);
    while (f && q && fgets(line, sizeof line, f)) {
        if (state == 0 && !strncmp(line, head, strlen(head))) state = 1;
        else if (state == 1 && !strncmp(line, "```sql", 6)) state = 2;
        else if (state == 2 && !strncmp(line, "```", 3)) { state = 3; break; }
        else if (state == 2) {
            size_t n = strlen(line);
            if (len + n + 1 > cap) {
                char *t = realloc(q, cap *= 2);
                if (!t) break;
                q = t;
            }
            memcpy(q + len, line, n + 1);
            len += n;
        }
    }
    if (f) fclose(f);
    if (state != 3) {
        free(q);
        return NULL;
    }
    return q;
}

static void check_pooled_query(const char *dir)
{
    char err[512];
    store_run_info ri;
    store *s = fresh_history(dir, "pooled", &ri);
    if (!s) return;
    double pa[60], pb[60], qa[40], qb[40];
    int np = 0, ok = 1;
    for (int r = 0; ok && r < 2; r++) {
        int64_t run;
        int n = r == 0 ? 40 : 20;
        ok = store_begin_run(s, &ri, &run, err, sizeof err) == 0;
        const char *methods[3] = {"ptq4ris", "minmax", "percentile"};
        for (int k = 0; ok && k < (r == 0 ? 3 : 2); k++) {
            store_sample smp[40];
            for (int e = 0; e < n; e++) {
                double v = 0.3 + 0.01 * e;
                if (k == 1 && r == 0 && e % 4 == 0) v -= 0.1;
                if (k == 1 && r == 1 && e % 5 == 0) v += 0.05;
                if (k == 2 && e % 8 == 3) v -= 0.02;
                smp[e] = (store_sample){"iou", e, v};
                if (k == 0) pa[np + e] = v;
                if (k == 1) pb[np + e] = v;
                if (k == 0 && r == 0) qa[e] = v;
                if (k == 2) qb[e] = v;
            }
            ok = add_iou_config(s, run, r == 0 ? "d1" : "d2", methods[k], "W4A4", NULL, 0, smp, n, err,
                                sizeof err) == 0;
        }
        if (ok) ok = store_end_run(s, run, "ok", err, sizeof err) == 0;
        np += n;
    }
    CHECK(ok, "pooled query: history of two splits written");
    stats_paired want[2];
    stats_paired_diff(pa, pb, 60, &want[0]);
    stats_paired_diff(qa, qb, 40, &want[1]);
    char *sql = readme_query(14);
    CHECK(sql != NULL, "pooled query: results/README.md has example 14 with its SQL");
    sqlite3_stmt *st = NULL;
    int rows = 0, good = 0;
    if (ok && sql && sqlite3_prepare_v2(store_sqlite(s), sql, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *base = (const char *)sqlite3_column_text(st, 2);
            int w = base && !strcmp(base, "minmax") ? 0 : base && !strcmp(base, "percentile") ? 1 : -1;
            rows++;
            if (w < 0) continue;
            int n = sqlite3_column_int(st, 3);
            double d = sqlite3_column_double(st, 4), lo = sqlite3_column_double(st, 5),
                   hi = sqlite3_column_double(st, 6);
            good += n == want[w].n && fabs(d - 100 * want[w].mean) < 6e-4 &&
                    fabs(lo - 100 * want[w].lo) < 6e-4 && fabs(hi - 100 * want[w].hi) < 6e-4;
        }
    } else {
        printf("  (%s)\n", sqlite3_errmsg(store_sqlite(s)));
    }
    sqlite3_finalize(st);
    CHECK(rows == 2 && good == 2,
          "pooled query: one row per baseline; n, diff and interval equal stats_paired_diff over both splits");
    CHECK(fabs(100 * want[0].mean - 100 * (10 * 0.1 - 4 * 0.05) / 60) < 1e-9 && want[0].n == 60,
          "pooled query: minmax's pooled difference is +1.333 points over 60 expressions");
    free(sql);
    store_close(s);
}

int main(int argc, char **argv)
{
    char dir[256], db_path[300], err[512];
    int keep = argc == 3 && !strcmp(argv[1], "--keep");
    if (keep) snprintf(dir, sizeof dir, "%s", argv[2]);
    else {
        snprintf(dir, sizeof dir, "/tmp/risq-test-report-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    snprintf(db_path, sizeof db_path, "%s/history.sqlite", dir);
    unlink(db_path);
    store *s;
    if (store_open(db_path, &s, err, sizeof err)) {
        printf("FAIL store_open: %s\n", err);
        return 1;
    }
    int64_t runs[9];
    for (int k = 0; k < 8; k++) runs[k] = add_run(s, "board-a", k, k < 4 ? 10.0 : 12.0, k < 5 ? 45.0 : 44.0);
    runs[8] = add_run(s, "board-b", 8, 30.0, 44.0);
    CHECK(runs[0] > 0 && runs[8] > 0, "synthetic history written");
    sqlite3 *db = store_sqlite(s);

    char *js = render(db, REPORT_JSON);
    json_error_t je;
    json_t *root = js ? json_loads(js, 0, &je) : NULL;
    CHECK(root != NULL, "JSON report parses");
    CHECK(json_array_size(json_object_get(root, "runs")) == 9, "JSON: 9 runs");
    CHECK(json_array_size(json_object_get(root, "trends")) == 8, "JSON: 4 configurations x 2 boards = 8 trends");
    json_t *t1 = find_trend(root, "board-a", "fp32", 1), *t4 = find_trend(root, "board-a", "W4A4", 1);
    CHECK(t1 && json_array_size(json_object_get(t1, "points")) == 8, "JSON: trend with 8 points");
    CHECK(t1 && has_cp(t1, "latency_ms", runs[4]) &&
              json_array_size(json_object_get(json_object_get(t1, "change_points"), "latency_ms")) == 1,
          "latency step at the fifth run is the only latency change point");
    CHECK(t1 && json_array_size(json_object_get(json_object_get(t1, "change_points"), "miou")) == 0,
          "constant mIoU has no change point");
    CHECK(t4 && has_cp(t4, "miou", runs[5]), "mIoU step at the sixth run found");
    json_t *latest = json_object_get(root, "latest");
    CHECK(json_array_size(latest) == 4 &&
              !strcmp(json_string_value(json_object_get(json_array_get(latest, 0), "machine")), "board-b"),
          "latest: the four configurations of the latest run");
    CHECK(json_is_integer(json_object_get(json_array_get(latest, 0), "threads")) &&
              json_is_real(json_object_get(json_array_get(latest, 0), "miou")) &&
              json_is_string(json_object_get(json_array_get(latest, 0), "commit")),
          "latest: typed JSON cells (threads integer, miou number, commit string)");
    json_t *bits = json_object_get(root, "bits");
    int found_w8 = 0;
    for (size_t i = 0; i < json_array_size(bits); i++) {
        json_t *b = json_array_get(bits, i);
        if (!strcmp(json_string_value(json_object_get(b, "bits")), "W8A8"))
            found_w8 = fabs(json_real_value(json_object_get(b, "drop_vs_fp32")) - 0.6) < 1e-9;
    }
    CHECK(json_array_size(bits) == 3 && found_w8, "bits: fp32, W8A8 (drop 0.6), W4A4");
    json_t *b0 = json_array_get(json_object_get(root, "boards"), 0);
    CHECK(json_array_size(json_object_get(root, "boards")) == 4 && json_object_get(b0, "board-a latency_ms") &&
              json_object_get(b0, "board-b latency_ms"),
          "boards: one latency column per board");
    json_decref(root);
    free(js);

    char *csv = render(db, REPORT_CSV);
    int lines = 0, bad = 0;
    for (char *p = csv; p && *p;) {
        char *e = strstr(p, "\r\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int n = 1, q = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '"') q = !q;
            else if (p[i] == ',' && !q) n++;
        }
        if (n != 13 || q) bad++;
        lines++;
        p = e ? e + 2 : p + len;
    }
    CHECK(csv && !strncmp(csv, "section,suite,run,machine,model,dataset,method,bits,isa,threads,metric,value,note", 81),
          "CSV header");
    CHECK(csv && bad == 0 && lines > 40, "CSV: every line has 13 columns");
    CHECK(csv && strstr(csv, "\"synth<&>\"\"'\""), "CSV quotes a label with quotes");
    CHECK(csv && strstr(csv, "latency step"), "CSV marks the change point");
    free(csv);

    char *md = render(db, REPORT_MD);
    CHECK(md && strstr(md, "## Latest results per suite") && strstr(md, "## Trends per configuration") &&
              strstr(md, "## Boards side by side") && strstr(md, "## Bit-width vs accuracy") && strstr(md, "| --- |"),
          "Markdown sections and tables");
    free(md);
    char *tab = render(db, REPORT_TABLE);
    CHECK(tab && strstr(tab, "== Trends per configuration") && strstr(tab, "latency step") && strstr(tab, "miou step"),
          "text report with change points");
    free(tab);

    char *html = render(db, REPORT_HTML);
    CHECK(html && !strncmp(html, "<!DOCTYPE html>", 15) && strstr(html, "</html>"), "HTML document");
    int nsvg = 0;
    for (char *p = html; p && (p = strstr(p, "<svg")); p++) nsvg++;
    CHECK(nsvg == 17, "HTML: 1 bar chart + 2 line charts per trend");
    CHECK(html && !strstr(html, "<script") && !strstr(html, "src=") && !strstr(html, "href=") &&
              !strstr(html, "url(") && !strstr(html, "@import"),
          "HTML has no scripts or external resources");
    CHECK(html && strstr(html, "synth&lt;&amp;&gt;&quot;&#39;") && !strstr(html, DSLABEL), "HTML escapes text");
    CHECK(html && strstr(html, "change point at run"), "HTML charts mark change points");
    free(html);
    store_close(s);

    char out[320];
    snprintf(out, sizeof out, "%s/report.html", dir);
    CHECK(cli("report", "--db", db_path, "-o", "html", "--out", out, (char *)NULL) == 0 && access(out, R_OK) == 0,
          "risq report -o html --out FILE exits 0");
    CHECK(cli("report", "--db", db_path, "-o", "pdf", (char *)NULL) == 2, "unknown format exits 2");
    CHECK(cli("report", "--db", db_path, "--vs", "ptq4ris", "--out", out, (char *)NULL) == 0,
          "--vs a method of the history");
    CHECK(cli("report", "--db", db_path, "--vs", "ptq4rs", (char *)NULL) == 2, "--vs a method nowhere in it exits 2");
    char missing[320];
    snprintf(missing, sizeof missing, "%s/none.sqlite", dir);
    CHECK(cli("report", "--db", missing, (char *)NULL) == 2 && access(missing, F_OK) != 0,
          "missing DB exits 2 and is not created");
    unlink(out);
    check_paired(dir);
    check_pooled_query(dir);
    if (!keep) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    }
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
