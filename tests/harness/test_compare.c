/*
** test_compare.c -- checks harness/compare.c on a synthetic history built
** here with the store functions: run references, the default baseline, each
** verdict mark (accuracy change, latency regression and improvement, noise,
** a significant but too small shift, resident memory beyond and within its
** minimum effect, NEW-FAIL, FIXED, still failing, not
** comparable), the gates (mIoU drop and ratio vs FP32), exit codes of
** `risq compare` / `risq baseline`, and that every output format parses
** (JSON with jansson, CSV column counts, Markdown table shape).
** One line per check; exit status 1 when any check fails.
*/
#include "harness/compare.h"
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

#define NREP 20

/* One configuration of a synthetic run. lat0 < 0: no samples. */
typedef struct tcfg {
    const char *method, *bits, *model_hash;
    int threads, ok;
    double miou, oiou, lat0, lat_step;
    double rss;   /* rss_kb; 0: not stored */
} tcfg;

static char tmpdir[256], dbpath[300], suitepath[300];

static const char suite_yaml[] =
    "suite: cmp\n"
    "models: [m]\n"
    "datasets: [{synth: {seed: 1, count: 4}}]\n"
    "methods: [fp32]\n"
    "bits: [W8A8, W4A4]\n"
    "targets: [{isa: scalar, threads: [1]}]\n"
    "gates:\n"
    "  miou_drop_max: {W8A8: 0.5}\n"
    "  ratio_min: 0.99\n";

static int64_t make_run(store *s, const char *commit, const char *cpu, const char *suite_text,
                        const tcfg *cf, int n)
{
    char err[512];
    store_run_info ri;
    memset(&ri, 0, sizeof ri);
    ri.suite = "cmp";
    ri.command = "test_compare";
    ri.suite_text = suite_text;
    snprintf(ri.machine.cpu_model, sizeof ri.machine.cpu_model, "%s", cpu);
    snprintf(ri.machine.isa_flags, sizeof ri.machine.isa_flags, "avx2 fma");
    ri.machine.cores = 4;
    store_machine_fingerprint(&ri.machine);
    ri.build = (store_build){commit, 0, "gcc test", "-O2"};
    int64_t run;
    if (store_begin_run(s, &ri, &run, err, sizeof err)) {
        printf("  begin_run: %s\n", err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const tcfg *c = &cf[i];
        store_config sc;
        memset(&sc, 0, sizeof sc);
        sc.model = "m";
        sc.model_hash = c->model_hash;
        sc.dataset = "d";
        sc.dataset_hash = "dh";
        sc.method = c->method;
        sc.bits = c->bits;
        sc.isa = "scalar";
        sc.threads = c->threads;
        sc.status = c->ok ? "ok" : "failed";
        sc.error = c->ok ? NULL : "boom: out of range";
        sc.counter_source = "timer";
        store_sample smp[NREP];
        double v[NREP];
        int ns = 0;
        if (c->ok && c->lat0 >= 0)
            for (ns = 0; ns < NREP; ns++) {
                /* deterministic spread: a permutation of 0..19 */
                v[ns] = c->lat0 + c->lat_step * ((ns * 7) % NREP);
                smp[ns] = (store_sample){"latency_ms", ns, v[ns]};
            }
        double med = NAN;
        if (ns) {
            double sorted[NREP];
            for (int k = 0; k < NREP; k++) sorted[k] = c->lat0 + c->lat_step * k;
            med = (sorted[NREP / 2 - 1] + sorted[NREP / 2]) / 2;
        }
        store_metric m[4] = {{"miou", c->miou, 0, "%"}, {"oiou", c->oiou, 0, "%"},
                             {"latency_ms", med, isnan(med), "ms"}, {"rss_kb", c->rss, 0, "kB"}};
        int nm = !c->ok ? 0 : c->rss > 0 ? 4 : 3;
        if (store_add_config(s, run, &sc, m, nm, smp, ns, NULL, err, sizeof err)) {
            printf("  add_config: %s\n", err);
            return -1;
        }
    }
    if (store_end_run(s, run, "ok", err, sizeof err)) return -1;
    usleep(2000);   /* distinct started_at */
    return run;
}

static const cmp_row *find(const cmp_result *r, const char *method, const char *bits, int threads,
                           const char *metric)
{
    for (int i = 0; i < r->nrows; i++) {
        const cmp_row *w = &r->rows[i];
        if (!strcmp(w->method, method) && !strcmp(w->bits, bits) && w->threads == threads &&
            !strcmp(w->metric, metric))
            return w;
    }
    return NULL;
}

static int mark_is(const cmp_result *r, const char *method, const char *bits, int threads, const char *metric,
                   const char *mark)
{
    const cmp_row *w = find(r, method, bits, threads, metric);
    if (!w) printf("  (no row %s %s t%d %s)\n", method, bits, threads, metric);
    else if (strcmp(w->mark, mark)) printf("  (%s %s t%d %s: mark '%s', note '%s')\n", method, bits, threads, metric, w->mark, w->note);
    return w && !strcmp(w->mark, mark);
}

/* Run cmp_main / cmp_baseline_main with a NULL-terminated argument list. */
static int cli(int (*fn)(int, char **), ...)
{
    char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, fn);
    for (const char *v; argc < 15 && (v = va_arg(ap, const char *)) != NULL;) argv[argc++] = (char *)v;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    int rc = fn(argc, argv);
    fflush(stdout);
    return rc;
}

/* Split one CSV line (RFC 4180 quotes) and count its fields. */
static int csv_fields(const char *line, size_t len)
{
    int n = 1, q = 0;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"') q = !q;
        else if (line[i] == ',' && !q) n++;
    }
    return q ? -1 : n;
}

static char *render(const cmp_result *r, report_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = cmp_write(r, fmt, f);
    fclose(f);
    if (rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

int main(void)
{
    char err[2048];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/risq-test-compare-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dbpath, sizeof dbpath, "%s/h.sqlite", tmpdir);
    snprintf(suitepath, sizeof suitepath, "%s/cmp.yaml", tmpdir);
    FILE *sf = fopen(suitepath, "w");
    if (!sf || fputs(suite_yaml, sf) < 0 || fclose(sf)) {
        printf("FAIL cannot write %s\n", suitepath);
        return 1;
    }

    store *s;
    if (store_open(dbpath, &s, err, sizeof err)) {
        printf("FAIL store_open: %s\n", err);
        return 1;
    }
    sqlite3 *db = store_sqlite(s);

    /*                method     bits    hash  thr ok  miou  oiou  lat0 step  rss_kb */
    tcfg A[] = {
        {"fp32",    "fp32", "h1", 1, 1, 50.0, 40, 10.0, 0.001, 1000},   /* 1% shift, tight: p small, effect small */
        {"fp32",    "fp32", "h1", 2, 1, 50.0, 40, 20.0, 0.01, 1000},    /* latency improves */
        {"fp32",    "fp32", "h1", 8, 1, 50.0, 40, 10.0, 0.1, 0},     /* noise */
        {"fp32",    "fp32", "h1", 4, 1, 50.0, 40, 10.0, 0.01, 0},    /* not comparable (model hash) */
        {"ptq4ris", "W8A8", "h1", 1, 1, 49.5, 39, 10.0, 0.01, 1000},    /* accuracy worse + latency worse */
        {"ptq4ris", "W4A4", "h1", 1, 1, 45.0, 35, 10.0, 0.01, 0},    /* newly failing */
        {"minmax",  "W8A8", "h1", 1, 0, 0, 0, -1, 0, 0},             /* fixed */
        {"minmax",  "W4A4", "h1", 1, 0, 0, 0, -1, 0, 0},             /* still failing */
        {"minmax",  "W6A6", "h1", 1, 1, 48.0, 38, 10.0, 0.01, 0},    /* gone in the candidate */
    };
    tcfg B[] = {
        {"fp32",    "fp32", "h1", 1, 1, 50.0 + 5e-10, 40, 10.1, 0.001, 1030},   /* rss +3%: ~ */
        {"fp32",    "fp32", "h1", 2, 1, 50.0, 40, 15.0, 0.01, 900},           /* rss -10%: better */
        {"fp32",    "fp32", "h1", 8, 1, 50.0, 40, 10.05, 0.1, 0},
        {"fp32",    "fp32", "h2", 4, 1, 50.0, 40, 10.0, 0.01, 0},
        {"ptq4ris", "W8A8", "h1", 1, 1, 49.0, 39, 12.0, 0.01, 1200},          /* rss +20%: worse */
        {"ptq4ris", "W4A4", "h1", 1, 0, 0, 0, -1, 0, 0},
        {"minmax",  "W8A8", "h1", 1, 1, 49.8, 39.5, 10.0, 0.01, 0},
        {"minmax",  "W4A4", "h1", 1, 0, 0, 0, -1, 0, 0},
        {"minmax",  "W2A8", "h1", 1, 1, 20.0, 15, 10.0, 0.01, 0},    /* new in the candidate */
    };
    int na = (int)(sizeof A / sizeof A[0]), nb = (int)(sizeof B / sizeof B[0]);
    int64_t ra = make_run(s, "aaaa1111aaaa1111", "test-cpu", NULL, A, na);
    int64_t rb = make_run(s, "bbbb2222bbbb2222", "test-cpu", suite_yaml, B, nb);
    int64_t rc_ = make_run(s, "bbbb2222bbbb2222", "test-cpu", NULL, B, nb);   /* rerun of B, no suite text */
    int64_t rd = make_run(s, "bbbb2222bbbb2222", "other-cpu", NULL, B, nb);   /* another machine */
    CHECK(ra > 0 && rb > 0 && rc_ > 0 && rd > 0, "synthetic history written");

    /* References. */
    int64_t id = 0;
    CHECK(cmp_latest(db, &id, err, sizeof err) == 0 && id == rd, "latest run");
    CHECK(cmp_resolve(db, "latest", &id, err, sizeof err) == 0 && id == rd, "'latest' resolves");
    char ref[40];
    snprintf(ref, sizeof ref, "%lld", (long long)ra);
    CHECK(cmp_resolve(db, ref, &id, err, sizeof err) == 0 && id == ra, "run id resolves");
    char uuid[33];
    store_run_uuid(s, rb, uuid, err, sizeof err);
    snprintf(ref, sizeof ref, "%.8s", uuid);
    CHECK(cmp_resolve(db, ref, &id, err, sizeof err) == 0 && id == rb, "uuid prefix resolves");
    CHECK(cmp_resolve(db, "aaaa11", &id, err, sizeof err) == 0 && id == ra, "commit prefix resolves");
    CHECK(cmp_resolve(db, "bbbb", &id, err, sizeof err) == 0 && id == rd, "commit prefix: latest run of it");
    CHECK(cmp_resolve(db, "nosuchref", &id, err, sizeof err) == -1 && strstr(err, "no run matches 'nosuchref'") &&
              strstr(err, "4 run(s)"),
          "unknown reference: message says what exists");
    CHECK(cmp_previous(db, rc_, &id, err, sizeof err) == 0 && id == rb, "previous run of the suite on the machine");
    CHECK(cmp_previous(db, rd, &id, err, sizeof err) == -1 && strstr(err, "no earlier finished run") &&
              strstr(err, "other runs of the suite"),
          "no previous run on that machine: message lists the others");

    /* Comparison A -> B, gates from B's stored suite text. */
    cmp_result *r = NULL;
    CHECK(cmp_compare(db, ra, rb, NULL, &r, err, sizeof err) == 0 && r, "compare run A with run B");
    if (!r) {
        printf("  %s\n", err);
        return 1;
    }
    CHECK(strstr(r->gates_from, "suite") != NULL, "gates come from the candidate's stored suite");
    CHECK(r->gates.n_miou == 1 && r->gates.miou_drop_max[0] == 0.5 && r->gates.ratio_min == 0.99,
          "suite gates read (W8A8 0.5 points, ratio 0.99)");
    CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "miou", CMP_WORSE), "accuracy drop is worse");
    CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "oiou", CMP_SAME), "unchanged accuracy is ~");
    CHECK(mark_is(r, "fp32", "fp32", 1, "miou", CMP_SAME), "a change below 1e-9 is ~");
    CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "latency_ms", CMP_WORSE), "20% slower latency is worse");
    const cmp_row *w = find(r, "ptq4ris", "W8A8", 1, "latency_ms");
    CHECK(w && w->p < 1e-6 && fabs(w->pct - 20.0) < 1.5, "latency regression: tiny p, about +20%");
    CHECK(mark_is(r, "fp32", "fp32", 2, "latency_ms", CMP_BETTER), "25% faster latency is better");
    CHECK(mark_is(r, "fp32", "fp32", 8, "latency_ms", CMP_SAME), "noise is ~");
    w = find(r, "fp32", "fp32", 8, "latency_ms");
    CHECK(w && w->p > 0.05, "noise: p above alpha");
    w = find(r, "fp32", "fp32", 1, "latency_ms");
    CHECK(w && w->p < 0.05 && !strcmp(w->mark, CMP_SAME), "significant 1% shift is below the 5% effect: ~");
    CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "rss_kb", CMP_WORSE), "20% more resident memory is worse");
    CHECK(mark_is(r, "fp32", "fp32", 2, "rss_kb", CMP_BETTER), "10% less resident memory is better");
    CHECK(mark_is(r, "fp32", "fp32", 1, "rss_kb", CMP_SAME), "3% more resident memory is below the 5% effect: ~");
    CHECK(r->gates.memory_regression == 0.05, "default minimum memory effect 5%");
    CHECK(mark_is(r, "ptq4ris", "W4A4", 1, "status", CMP_NEWFAIL), "newly failing configuration");
    w = find(r, "ptq4ris", "W4A4", 1, "status");
    CHECK(w && strstr(w->note, "boom"), "NEW-FAIL carries the error");
    CHECK(mark_is(r, "minmax", "W8A8", 1, "status", CMP_FIXED), "fixed configuration");
    CHECK(mark_is(r, "minmax", "W4A4", 1, "status", CMP_FAILING), "still failing configuration");
    CHECK(mark_is(r, "fp32", "fp32", 4, "config", CMP_NC), "changed model hash is n/c");
    CHECK(mark_is(r, "minmax", "W2A8", 1, "config", CMP_NC), "config new in the candidate is n/c");
    CHECK(mark_is(r, "minmax", "W6A6", 1, "config", CMP_NC), "config gone from the candidate is n/c");
    CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "gate:miou_drop", CMP_GATEFAIL), "W8A8 drop of 1.0 > 0.5 fails");
    CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "gate:ratio", CMP_GATEFAIL), "ratio 0.98 < 0.99 fails");
    CHECK(mark_is(r, "minmax", "W8A8", 1, "gate:miou_drop", CMP_PASS), "W8A8 drop of 0.2 passes");
    CHECK(mark_is(r, "minmax", "W8A8", 1, "gate:ratio", CMP_PASS), "ratio 0.996 passes");
    CHECK(r->ngates == 5 && r->ngatefail == 3, "5 gates, 3 failed (W2A8 ratio 0.4 fails too)");
    CHECK(cmp_regressed(r), "A -> B regressed");

    /* Output formats. */
    char *js = render(r, REPORT_JSON);
    json_error_t je;
    json_t *root = js ? json_loads(js, 0, &je) : NULL;
    CHECK(root != NULL, "JSON output parses");
    json_t *sum = json_object_get(root, "summary");
    CHECK(json_is_true(json_object_get(sum, "regressed")) &&
              json_integer_value(json_object_get(sum, "new_fail")) == 1 &&
              json_integer_value(json_object_get(sum, "fixed")) == 1 &&
              json_integer_value(json_object_get(sum, "gate_failures")) == 3,
          "JSON summary counts");
    CHECK(json_array_size(json_object_get(root, "gates")) == 5 &&
              (int)json_array_size(json_object_get(root, "rows")) == r->nrows - 5,
          "JSON rows and gates arrays");
    json_t *row0 = json_array_get(json_object_get(root, "rows"), 0);
    CHECK(json_is_string(json_object_get(row0, "mark")) && json_object_get(row0, "baseline") &&
              json_is_integer(json_object_get(row0, "threads")),
          "JSON row fields");
    CHECK(json_integer_value(json_object_get(json_object_get(root, "candidate"), "id")) == rb, "JSON candidate id");
    json_decref(root);
    free(js);

    char *csv = render(r, REPORT_CSV);
    int lines = 0, bad = 0, has_newfail = 0;
    for (char *p = csv; p && *p;) {
        char *e = strstr(p, "\r\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (lines == 0 && strncmp(p, "model,dataset,method,bits,isa,threads,metric,baseline,candidate,delta,", 70))
            bad++;
        if (csv_fields(p, len) != 14) bad++;
        if (memmem(p, len, ",NEW-FAIL,", 10)) has_newfail = 1;
        lines++;
        p = e ? e + 2 : p + len;
    }
    CHECK(csv && bad == 0 && lines == r->nrows + 1, "CSV: header + one line per row, 14 columns each");
    CHECK(has_newfail, "CSV has the NEW-FAIL row");
    free(csv);

    char *md = render(r, REPORT_MD);
    CHECK(md && strstr(md, "| model | dataset |") && strstr(md, "| --- |") && strstr(md, "**gates**") &&
              strstr(md, "REGRESSION"),
          "Markdown: table, separator, gates, verdict");
    free(md);
    char *tab = render(r, REPORT_TABLE);
    CHECK(tab && strstr(tab, "baseline:  run") && strstr(tab, "NEW-FAIL") && strstr(tab, "gates:") &&
              strstr(tab, "REGRESSION"),
          "table output");
    free(tab);
    CHECK(cmp_write(r, REPORT_HTML, stdout) == -1, "compare has no HTML output");
    cmp_result_free(r);

    /* B -> C: same results, no suite text: default gates, no regression. */
    CHECK(cmp_compare(db, rb, rc_, NULL, &r, err, sizeof err) == 0 && r, "compare B with its rerun C");
    if (r) {
        CHECK(!cmp_regressed(r) && r->nworse == 0 && r->ngates == 0 && !strcmp(r->gates_from, "defaults"),
              "identical rerun: no regression, default gates");
        CHECK(mark_is(r, "ptq4ris", "W4A4", 1, "status", CMP_FAILING), "rerun: still failing, not a regression");
        cmp_result_free(r);
    }
    /* B -> D: another machine: nothing comparable. */
    CHECK(cmp_compare(db, rb, rd, NULL, &r, err, sizeof err) == 0 && r, "compare across machines");
    if (r) {
        CHECK(r->nnc == nb && r->nworse == 0 && !cmp_regressed(r), "another machine: every config n/c");
        cmp_result_free(r);
    }
    /* Explicit gates override. */
    cmp_gates g;
    CHECK(cmp_gates_from_suite_file(suitepath, &g, err, sizeof err) == 0 && g.n_miou == 1 &&
              !strcmp(g.miou_bits[0], "W8A8") && g.alpha == 0.05 && g.speed_regression == 0.05,
          "gates from a suite file");
    g.speed_regression = 0.5;   /* 50% minimum effect: the 20%/25% shifts no longer count */
    g.memory_regression = 0.25;  /* and the 20% growth of rss_kb no longer either */
    if (cmp_compare(db, ra, rb, &g, &r, err, sizeof err) == 0) {
        CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "latency_ms", CMP_SAME), "minimum effect from the gates");
        CHECK(mark_is(r, "ptq4ris", "W8A8", 1, "rss_kb", CMP_SAME), "minimum memory effect from the gates");
        cmp_result_free(r);
    }
    CHECK(cmp_gates_from_suite_text("suite: x\nbogus: 1\n", &g, err, sizeof err) == -1, "bad suite text is an error");

    /* Named baselines. */
    char ida[24], idb[24];
    snprintf(ida, sizeof ida, "%lld", (long long)ra);
    snprintf(idb, sizeof idb, "%lld", (long long)rb);
    CHECK(cmp_baseline_set(s, "123", ra, err, sizeof err) == -1, "all-digit baseline name refused");
    CHECK(cmp_baseline_set(s, "bad name", ra, err, sizeof err) == -1, "baseline name with a space refused");
    CHECK(cmp_baseline_set(s, "release-1.0", ra, err, sizeof err) == 0, "baseline set");
    CHECK(cmp_resolve(db, "release-1.0", &id, err, sizeof err) == 0 && id == ra, "baseline name resolves");
    store_close(s);

    /* The command line. */
    CHECK(cli(cmp_baseline_main, "baseline", "set", "good", idb, "--db", dbpath, (char *)NULL) == 0,
          "risq baseline set exits 0");
    CHECK(cli(cmp_baseline_main, "baseline", "list", "--db", dbpath, (char *)NULL) == 0,
          "risq baseline list exits 0");
    CHECK(cli(cmp_baseline_main, "baseline", "set", "x", "nosuchrun", "--db", dbpath, (char *)NULL) == 2,
          "baseline set to an unknown run exits 2");
    CHECK(cli(cmp_baseline_main, "baseline", "frob", "--db", dbpath, (char *)NULL) == 2,
          "baseline with a bad sub-command exits 2");
    CHECK(cli(cmp_main, "compare", "--db", dbpath, "-b", ida, "-c", idb, (char *)NULL) == 1,
          "compare with a regression exits 1");
    CHECK(cli(cmp_main, "compare", "--db", dbpath, "-b", "release-1.0", "-c", "good", "-o", "md", (char *)NULL) == 1,
          "compare by baseline names exits 1");
    CHECK(cli(cmp_main, "compare", "--db", dbpath, "-b", idb, "-c", "good", "-o", "csv", (char *)NULL) == 1,
          "run B with itself: its own suite's gates fail, exits 1");
    {
        char idc[24];
        snprintf(idc, sizeof idc, "%lld", (long long)rc_);
        CHECK(cli(cmp_main, "compare", "--db", dbpath, "-b", idc, "-c", idc, "-o", "csv", (char *)NULL) == 0,
              "a run without suite gates compared with itself exits 0");
        CHECK(cli(cmp_main, "compare", "--db", dbpath, "-c", idc, "-o", "json", (char *)NULL) == 0,
              "default baseline (previous run) without regression exits 0");
        CHECK(cli(cmp_main, "compare", "--db", dbpath, "-c", idc, "--suite", suitepath, (char *)NULL) == 1,
              "--suite gates make it fail (W8A8 drop)");
    }
    CHECK(cli(cmp_main, "compare", "--db", dbpath, (char *)NULL) == 2,
          "latest run has no previous run on its machine: exits 2");
    CHECK(cli(cmp_main, "compare", "--db", dbpath, "-b", "nosuchref", (char *)NULL) == 2,
          "unknown baseline exits 2");
    CHECK(cli(cmp_main, "compare", "--db", dbpath, "-o", "xml", (char *)NULL) == 2, "unknown format exits 2");
    char missing[320];
    snprintf(missing, sizeof missing, "%s/none.sqlite", tmpdir);
    CHECK(cli(cmp_main, "compare", "--db", missing, (char *)NULL) == 2 && access(missing, F_OK) != 0,
          "missing DB exits 2 and is not created");

    /* A schema-1 history (no run.suite_text, run.board, baseline table):
    ** compare and report still work, with default gates. */
    {
        sqlite3 *v1 = NULL;
        const char *sql1 = store_migration_sql(0);
        int ok = sqlite3_open(":memory:", &v1) == SQLITE_OK && sql1 &&
                 sqlite3_exec(v1, sql1, NULL, NULL, NULL) == SQLITE_OK &&
                 sqlite3_exec(v1,
                     "INSERT INTO machine(id, fingerprint, cpu_model) VALUES(1, 'f1', 'cpu');"
                     "INSERT INTO build(id, git_commit) VALUES(1, 'cccc3333');"
                     "INSERT INTO run(id, uuid, suite, started_at, status, machine_id, build_id)"
                     "  VALUES(1, 'u1', 's', '2025-01-01T00:00:00.000Z', 'ok', 1, 1),"
                     "        (2, 'u2', 's', '2025-01-02T00:00:00.000Z', 'ok', 1, 1);"
                     "INSERT INTO config(id, run_id, model, model_hash, dataset, dataset_hash, method, bits, isa, threads, status)"
                     "  VALUES(1, 1, 'm', 'h', 'd', 'dh', 'fp32', 'fp32', 'scalar', 1, 'ok'),"
                     "        (2, 2, 'm', 'h', 'd', 'dh', 'fp32', 'fp32', 'scalar', 1, 'ok');"
                     "INSERT INTO metric(config_id, name, value) VALUES(1, 'miou', 50), (2, 'miou', 51);",
                     NULL, NULL, NULL) == SQLITE_OK;
        CHECK(ok, "schema-1 history built");
        CHECK(ok && cmp_previous(v1, 2, &id, err, sizeof err) == 0 && id == 1, "schema 1: previous run");
        CHECK(ok && cmp_resolve(v1, "nosuch", &id, err, sizeof err) == -1 && !strstr(err, "baselines:"),
              "schema 1: unknown reference without baselines");
        r = NULL;
        CHECK(ok && cmp_compare(v1, 1, 2, NULL, &r, err, sizeof err) == 0 && r && !strcmp(r->gates_from, "defaults") &&
                  mark_is(r, "fp32", "fp32", 1, "miou", CMP_BETTER),
              "schema 1: compare with default gates (miou better)");
        cmp_result_free(r);
        FILE *devnull = fopen("/dev/null", "w");
        CHECK(ok && devnull && report_render(v1, REPORT_HTML, NULL, devnull, err, sizeof err) == 0, "schema 1: report renders");
        if (devnull) fclose(devnull);
        sqlite3_close(v1);
    }

    /* The mIoU note: a change paired over the expressions (IoU samples).
    ** "noisy" loses 0.1 IoU on one of 20 expressions, "steady" 0.005 on
    ** each: the same -0.5 points, inside and outside the split's noise. */
    {
        char p2[400];
        snprintf(p2, sizeof p2, "%s/paired.sqlite", tmpdir);
        store *s2 = NULL;
        int ok = store_open(p2, &s2, err, sizeof err) == 0;
        sqlite3 *d2 = ok ? store_sqlite(s2) : NULL;
        ok = ok && sqlite3_exec(d2,
                 "INSERT INTO machine(id, fingerprint) VALUES(1, 'fp');"
                 "INSERT INTO build(id, git_commit) VALUES(1, 'dddd4444');"
                 "INSERT INTO run(id, uuid, suite, started_at, status, machine_id, build_id)"
                 "  VALUES(1, 'p1', 's', '2025-01-01T00:00:00.000Z', 'ok', 1, 1),"
                 "        (2, 'p2', 's', '2025-01-02T00:00:00.000Z', 'ok', 1, 1);"
                 "INSERT INTO config(id, run_id, model, model_hash, dataset, dataset_hash, method, bits, isa, threads, status)"
                 "  VALUES(1, 1, 'm', 'h', 'd', 'dh', 'noisy', 'W8A8', 'scalar', 1, 'ok'),"
                 "        (2, 1, 'm', 'h', 'd', 'dh', 'steady', 'W8A8', 'scalar', 1, 'ok'),"
                 "        (3, 2, 'm', 'h', 'd', 'dh', 'noisy', 'W8A8', 'scalar', 1, 'ok'),"
                 "        (4, 2, 'm', 'h', 'd', 'dh', 'steady', 'W8A8', 'scalar', 1, 'ok');"
                 "INSERT INTO metric(config_id, name, value) VALUES(1, 'miou', 49), (2, 'miou', 49),"
                 "  (3, 'miou', 48.5), (4, 'miou', 48.5);"
                 "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 19)"
                 "  INSERT INTO sample(config_id, name, idx, value)"
                 "  SELECT c, 'iou', i, 0.3 + 0.02 * i - CASE WHEN c = 3 AND i = 3 THEN 0.1"
                 "                                            WHEN c = 4 THEN 0.005 ELSE 0 END"
                 "    FROM k, (SELECT 1 AS c UNION SELECT 2 UNION SELECT 3 UNION SELECT 4);",
                 NULL, NULL, NULL) == SQLITE_OK;
        CHECK(ok, "paired history built");
        r = NULL;
        ok = ok && cmp_compare(d2, 1, 2, NULL, &r, err, sizeof err) == 0 && r;
        const cmp_row *wn = ok ? find(r, "noisy", "W8A8", 1, "miou") : NULL;
        const cmp_row *ws = ok ? find(r, "steady", "W8A8", 1, "miou") : NULL;
        if (wn) printf("  noisy: %s\n  steady: %s\n", wn->note, ws ? ws->note : "-");
        /* d = -0.1 once in 20: s = sqrt(.0095 / 19), 1.959964 s / sqrt(20) = .0098 */
        CHECK(wn && !strcmp(wn->mark, CMP_WORSE) &&
                  strstr(wn->note, "paired over 20 expressions: 95% -1.480 ... +0.480, 0 up, 1 down") &&
                  strstr(wn->note, "within the split's noise"),
              "miou note: one expression down, worse but within the split's noise");
        CHECK(ws && !strcmp(ws->mark, CMP_WORSE) && strstr(ws->note, "95% -0.500 ... -0.500, 0 up, 20 down") &&
                  !strstr(ws->note, "noise"),
              "miou note: every expression down, beyond the noise");
        cmp_result_free(r);
        store_close(s2);
    }

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", tmpdir);
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
