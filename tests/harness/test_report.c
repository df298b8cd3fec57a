/*
** test_report.c -- checks harness/report.c on a synthetic history built
** here with the store functions: eight nightly runs on board-a (a latency
** step at the fifth run, an mIoU step at the sixth), one on board-b, and a
** dataset label full of HTML specials. Checks every format: JSON parses and
** has the change points, CSV has a fixed column count, Markdown and text
** have their sections, HTML is self-contained and escaped; `risq report`
** exit codes.
**
**   test_report             run the checks in a temporary folder
**   test_report --keep DIR  also leave DIR/history.sqlite for the HTML test
**                           (test_report_html.sh)
**
** One line per check; exit status 1 when any check fails.
*/
#include "harness/report.h"
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

static char *render(sqlite3 *db, report_format fmt)
{
    char *buf = NULL, err[512];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = report_render(db, fmt, f, err, sizeof err);
    fclose(f);
    if (rc) {
        printf("  report_render: %s\n", err);
        free(buf);
        return NULL;
    }
    return buf;
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
    char missing[320];
    snprintf(missing, sizeof missing, "%s/none.sqlite", dir);
    CHECK(cli("report", "--db", missing, (char *)NULL) == 2 && access(missing, F_OK) != 0,
          "missing DB exits 2 and is not created");
    unlink(out);
    if (!keep) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    }
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
