/*
** report.c -- `risq report` and the table writer (see report.h).
**
** Layout: 1. formats and the string table; 2. loading the history (one
** query over run/build/machine/config/metric); 3. the sections (latest per
** suite, trends with change points, bit-widths, methods paired over
** expressions, boards); 4. writers per format; 5. inline SVG charts for
** HTML; 6. command line.
**
** The HTML page is one self-contained file: inline CSS, inline SVG, no
** script, no external resources; every text from the DB is escaped.
*/
#include "harness/report.h"

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

/* ------------------------------------------ 1. formats, string table --- */

int report_parse_format(const char *s, report_format *out)
{
    static const char *const names[] = {"table", "md", "csv", "json", "html"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (report_format)i;
            return 0;
        }
    if (!strcmp(s, "markdown")) {
        *out = REPORT_MD;
        return 0;
    }
    return -1;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s ? s : "", n);
    return d;
}

report_table *report_table_new(int ncols, const char *const *head)
{
    report_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    t->head = calloc((size_t)ncols, sizeof *t->head);
    if (!t->head) {
        free(t);
        return NULL;
    }
    for (int i = 0; i < ncols; i++)
        if (!(t->head[i] = dupstr(head[i]))) {
            report_table_free(t);
            return NULL;
        }
    return t;
}

int report_table_add(report_table *t, const char *const *cells)
{
    if (!t) return -1;
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        char **nc = realloc(t->cells, (size_t)cap * t->ncols * sizeof *nc);
        if (!nc) return -1;
        t->cells = nc;
        t->cap = cap;
    }
    char **row = t->cells + (size_t)t->nrows * t->ncols;
    for (int i = 0; i < t->ncols; i++) {
        if (!(row[i] = dupstr(cells[i]))) {
            while (i-- > 0) free(row[i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

void report_table_free(report_table *t)
{
    if (!t) return;
    for (int i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    if (t->head)
        for (int i = 0; i < t->ncols; i++) free(t->head[i]);
    free(t->cells);
    free(t->head);
    free(t);
}

static int numeric(const char *s)
{
    char *end;
    if (!*s) return 0;
    if (!strcmp(s, "-")) return 1;
    strtod(s, &end);
    return end != s && (*end == 0 || (end[0] == '%' && end[1] == 0));
}

void report_html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void csv_cell(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
}

void report_table_write(const report_table *t, report_format fmt, FILE *f)
{
    int nc = t->ncols;
    if (fmt == REPORT_CSV) {
        for (int i = 0; i < nc; i++) {
            if (i) fputc(',', f);
            csv_cell(f, t->head[i]);
        }
        fputs("\r\n", f);
        for (int r = 0; r < t->nrows; r++) {
            for (int i = 0; i < nc; i++) {
                if (i) fputc(',', f);
                csv_cell(f, t->cells[(size_t)r * nc + i]);
            }
            fputs("\r\n", f);
        }
    } else if (fmt == REPORT_MD) {
        for (int pass = 0; pass < 2; pass++) {
            fputc('|', f);
            for (int i = 0; i < nc; i++) {
                fputc(' ', f);
                if (pass == 0) md_cell(f, t->head[i]);
                else fputs("---", f);
                fputs(" |", f);
            }
            fputc('\n', f);
        }
        for (int r = 0; r < t->nrows; r++) {
            fputc('|', f);
            for (int i = 0; i < nc; i++) {
                fputc(' ', f);
                md_cell(f, t->cells[(size_t)r * nc + i]);
                fputs(" |", f);
            }
            fputc('\n', f);
        }
    } else if (fmt == REPORT_HTML) {
        fputs("<table>\n<thead><tr>", f);
        for (int i = 0; i < nc; i++) {
            fputs("<th>", f);
            report_html_escape(f, t->head[i]);
            fputs("</th>", f);
        }
        fputs("</tr></thead>\n<tbody>\n", f);
        for (int r = 0; r < t->nrows; r++) {
            fputs("<tr>", f);
            for (int i = 0; i < nc; i++) {
                const char *c = t->cells[(size_t)r * nc + i];
                const char *cls = numeric(c) ? " class=\"n\"" : "";
                if (!strcmp(c, "worse") || !strcmp(c, "NEW-FAIL") || !strcmp(c, "FAIL") || !strcmp(c, "failed"))
                    cls = " class=\"bad\"";
                else if (!strcmp(c, "better") || !strcmp(c, "FIXED"))
                    cls = " class=\"good\"";
                fprintf(f, "<td%s>", cls);
                report_html_escape(f, c);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</tbody>\n</table>\n", f);
    } else {
        int *w = calloc((size_t)nc, sizeof *w);
        if (!w) return;
        for (int i = 0; i < nc; i++) w[i] = (int)strlen(t->head[i]);
        for (int r = 0; r < t->nrows; r++)
            for (int i = 0; i < nc; i++) {
                int l = (int)strlen(t->cells[(size_t)r * nc + i]);
                if (l > w[i]) w[i] = l;
            }
        for (int i = 0; i < nc; i++) fprintf(f, "%s%-*s", i ? "  " : "", i == nc - 1 ? 0 : w[i], t->head[i]);
        fputc('\n', f);
        for (int r = 0; r < t->nrows; r++) {
            for (int i = 0; i < nc; i++) {
                const char *c = t->cells[(size_t)r * nc + i];
                int last = i == nc - 1;
                if (numeric(c)) fprintf(f, "%s%*s", i ? "  " : "", w[i], c);
                else fprintf(f, "%s%-*s", i ? "  " : "", last ? 0 : w[i], c);
            }
            fputc('\n', f);
        }
        free(w);
    }
}

/* ------------------------------------------------- 2. the history ----- */

typedef struct rrun {
    long long id;
    char suite[64], started[32], commit[48], fingerprint[24], machine[128];
    int dirty;
    int c0, c1;   /* its configurations: cfgs[c0..c1) (loaded in run order) */
} rrun;

typedef struct rcfg {
    long long id;   /* config.id */
    int run;        /* index into runs */
    char model[64], dataset[96], method[32], bits[16], isa[16];
    int threads, ok;
    double miou, oiou, lat, p90;
} rcfg;

typedef struct hist {
    rrun *runs;
    int nruns;
    rcfg *cfgs;
    int ncfgs;
} hist;

static void hist_free(hist *h)
{
    free(h->runs);
    free(h->cfgs);
}

static void colcpy(sqlite3_stmt *st, int i, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

static double coldbl(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int has_run_board(sqlite3 *db)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('run') WHERE name='board'", -1, &st, NULL)) return 0;
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static int hist_load(sqlite3 *db, hist *h, char *err, size_t errlen)
{
    char sql[2048];
    sqlite3_stmt *st;
    int rcap = 0, ccap = 0;
    memset(h, 0, sizeof *h);
    snprintf(sql, sizeof sql,
             "SELECT r.id, r.suite, r.started_at, b.git_commit, b.dirty, m.fingerprint, %s,"
             "       c.id, c.model, c.dataset, c.method, c.bits, c.isa, c.threads, c.status,"
             "       (SELECT value FROM metric WHERE config_id = c.id AND name = 'miou'),"
             "       (SELECT value FROM metric WHERE config_id = c.id AND name = 'oiou'),"
             "       (SELECT value FROM metric WHERE config_id = c.id AND name = 'latency_ms'),"
             "       (SELECT value FROM metric WHERE config_id = c.id AND name = 'latency_p90_ms')"
             "  FROM run r JOIN build b ON b.id = r.build_id JOIN machine m ON m.id = r.machine_id"
             "  LEFT JOIN config c ON c.run_id = r.id"
             " ORDER BY r.started_at, r.id, c.id",
             has_run_board(db) ? "COALESCE(NULLIF(r.board,''), NULLIF(m.board,''), m.cpu_model, '?')"
                               : "COALESCE(NULLIF(m.board,''), m.cpu_model, '?')");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL)) {
        snprintf(err, errlen, "cannot read the history: %s", sqlite3_errmsg(db));
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(st, 0);
        if (!h->nruns || h->runs[h->nruns - 1].id != id) {
            if (h->nruns == rcap) {
                rcap = rcap ? 2 * rcap : 32;
                rrun *nr = realloc(h->runs, (size_t)rcap * sizeof *nr);
                if (!nr) goto oom;
                h->runs = nr;
            }
            rrun *r = &h->runs[h->nruns++];
            r->id = id;
            colcpy(st, 1, r->suite, sizeof r->suite);
            colcpy(st, 2, r->started, sizeof r->started);
            colcpy(st, 3, r->commit, sizeof r->commit);
            r->dirty = sqlite3_column_int(st, 4);
            colcpy(st, 5, r->fingerprint, sizeof r->fingerprint);
            colcpy(st, 6, r->machine, sizeof r->machine);
            r->c0 = r->c1 = h->ncfgs;
        }
        if (sqlite3_column_type(st, 7) == SQLITE_NULL) continue;   /* run without configs */
        if (h->ncfgs == ccap) {
            ccap = ccap ? 2 * ccap : 64;
            rcfg *nc = realloc(h->cfgs, (size_t)ccap * sizeof *nc);
            if (!nc) goto oom;
            h->cfgs = nc;
        }
        rcfg *c = &h->cfgs[h->ncfgs++];
        c->id = sqlite3_column_int64(st, 7);
        c->run = h->nruns - 1;
        h->runs[c->run].c1 = h->ncfgs;
        colcpy(st, 8, c->model, sizeof c->model);
        colcpy(st, 9, c->dataset, sizeof c->dataset);
        colcpy(st, 10, c->method, sizeof c->method);
        colcpy(st, 11, c->bits, sizeof c->bits);
        colcpy(st, 12, c->isa, sizeof c->isa);
        c->threads = sqlite3_column_int(st, 13);
        char status[16];
        colcpy(st, 14, status, sizeof status);
        c->ok = !strcmp(status, "ok");
        c->miou = coldbl(st, 15);
        c->oiou = coldbl(st, 16);
        c->lat = coldbl(st, 17);
        c->p90 = coldbl(st, 18);
    }
    sqlite3_finalize(st);
    return 0;
oom:
    sqlite3_finalize(st);
    hist_free(h);
    snprintf(err, errlen, "out of memory reading the history");
    return -1;
}

static int same_cfg(const rcfg *a, const rcfg *b)
{
    return !strcmp(a->model, b->model) && !strcmp(a->dataset, b->dataset) && !strcmp(a->method, b->method) &&
           !strcmp(a->bits, b->bits) && !strcmp(a->isa, b->isa) && a->threads == b->threads;
}

/* ------------------------------------------------------ 3. sections --- */

/* Index of the latest run of each suite into out[]; returns the count. */
static int latest_per_suite(const hist *h, int *out)
{
    int n = 0;
    for (int i = h->nruns - 1; i >= 0; i--) {
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(h->runs[out[k]].suite, h->runs[i].suite);
        if (!seen) out[n++] = i;
    }
    return n;
}

/* Latest run of each (suite, machine) into out[]. */
static int latest_per_board(const hist *h, int *out)
{
    int n = 0;
    for (int i = h->nruns - 1; i >= 0; i--) {
        int seen = 0;
        for (int k = 0; k < n && !seen; k++)
            seen = !strcmp(h->runs[out[k]].suite, h->runs[i].suite) &&
                   !strcmp(h->runs[out[k]].fingerprint, h->runs[i].fingerprint);
        if (!seen) out[n++] = i;
    }
    return n;
}

static const char *num(double v, char *buf, size_t n, const char *fmt)
{
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, fmt, v);
    return buf;
}

/* A trend: one configuration key on one machine, its points in time order. */
typedef struct trend {
    int first;            /* a cfg index carrying the key */
    int n;
    int *idx;             /* cfg indices */
    char *cp_lat, *cp_miou;   /* per point: 1 when a new level starts there */
} trend;

static void trends_free(trend *t, int n)
{
    for (int i = 0; i < n; i++) {
        free(t[i].idx);
        free(t[i].cp_lat);
        free(t[i].cp_miou);
    }
    free(t);
}

/* Mark change points of one series (NaN points skipped). */
static int mark_changes(const hist *h, trend *t, int use_lat, char *flags)
{
    double *y = malloc((size_t)t->n * sizeof *y);
    int *pos = malloc((size_t)t->n * sizeof *pos), *cp = malloc((size_t)t->n * sizeof *cp);
    int m = 0, rc = 0;
    if (!y || !pos || !cp) rc = -1;
    for (int i = 0; !rc && i < t->n; i++) {
        const rcfg *c = &h->cfgs[t->idx[i]];
        double v = use_lat ? c->lat : c->miou;
        if (!c->ok || isnan(v)) continue;
        y[m] = v;
        pos[m++] = i;
    }
    if (!rc) {
        /* Latency is noisy: levels of at least 2 runs, 5% steps. Accuracy
        ** is deterministic: any step of a single run counts. */
        int k = use_lat ? stats_changepoints(y, m, 2, 0.05, cp, m) : stats_changepoints(y, m, 1, 1e-9, cp, m);
        if (k < 0) rc = -1;
        for (int i = 0; i < k; i++) flags[pos[cp[i]]] = 1;
    }
    free(y);
    free(pos);
    free(cp);
    return rc;
}

static int build_trends(const hist *h, trend **out, int *nout)
{
    trend *t = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < h->ncfgs; i++) {
        const rcfg *c = &h->cfgs[i];
        int k;
        for (k = 0; k < n; k++) {
            const rcfg *f = &h->cfgs[t[k].first];
            if (same_cfg(f, c) && !strcmp(h->runs[f->run].fingerprint, h->runs[c->run].fingerprint) &&
                !strcmp(h->runs[f->run].suite, h->runs[c->run].suite))
                break;
        }
        if (k == n) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                trend *nt = realloc(t, (size_t)cap * sizeof *nt);
                if (!nt) goto oom;
                t = nt;
            }
            memset(&t[n], 0, sizeof t[n]);
            t[n].first = i;
            n++;
        }
        int *ni = realloc(t[k].idx, (size_t)(t[k].n + 1) * sizeof *ni);
        if (!ni) goto oom;
        t[k].idx = ni;
        t[k].idx[t[k].n++] = i;
    }
    for (int k = 0; k < n; k++) {
        t[k].cp_lat = calloc((size_t)t[k].n, 1);
        t[k].cp_miou = calloc((size_t)t[k].n, 1);
        if (!t[k].cp_lat || !t[k].cp_miou || mark_changes(h, &t[k], 1, t[k].cp_lat) ||
            mark_changes(h, &t[k], 0, t[k].cp_miou))
            goto oom;
    }
    *out = t;
    *nout = n;
    return 0;
oom:
    trends_free(t, n);
    return -1;
}

static int is_fp32(const rcfg *c)
{
    return !strcmp(c->bits, "fp32") || !strcmp(c->method, "fp32");
}

/* The first FP32 configuration with an mIoU of the same model/dataset in
** the same run (the one that keeps the pass's IoUs), or NULL. */
static const rcfg *fp32_of(const hist *h, const rcfg *q)
{
    for (int i = h->runs[q->run].c0; i < h->runs[q->run].c1; i++) {
        const rcfg *f = &h->cfgs[i];
        if (f->ok && !isnan(f->miou) && is_fp32(f) && !strcmp(f->model, q->model) &&
            !strcmp(f->dataset, q->dataset))
            return f;
    }
    return NULL;
}

/* FP32 mIoU of the same model/dataset in the same run (NaN if none). */
static double fp32_miou(const hist *h, const rcfg *q)
{
    const rcfg *f = fp32_of(h, q);
    return f ? f->miou : NAN;
}

/* The tables of every section. */
typedef struct sections {
    report_table *latest, *trends, *bits, *paired, *boards;
    int nboards;
} sections;

static void sections_free(sections *s)
{
    report_table_free(s->paired);
    report_table_free(s->latest);
    report_table_free(s->trends);
    report_table_free(s->bits);
    report_table_free(s->boards);
}

static void run_commit(const rrun *r, char *buf, size_t n)
{
    snprintf(buf, n, "%.10s%s", r->commit, r->dirty ? "+" : "");
}

static int build_sections(const hist *h, const trend *t, int nt, sections *s)
{
    static const char *const hl[] = {"suite", "run", "commit", "machine", "model", "dataset", "method", "bits",
                                     "isa", "threads", "status", "miou", "oiou", "latency_ms", "p90_ms"};
    static const char *const ht[] = {"suite", "machine", "model", "dataset", "method", "bits", "isa", "threads",
                                     "run", "started_at", "commit", "miou", "latency_ms", "change"};
    static const char *const hb[] = {"suite", "model", "dataset", "method", "bits", "miou", "drop_vs_fp32",
                                     "best_latency_ms", "at"};
    char b1[32], b2[32], b3[32], b4[32], b5[32], b6[48], b7[48];
    int *lat = malloc((size_t)(h->nruns + 1) * sizeof *lat), *brd = malloc((size_t)(h->nruns + 1) * sizeof *brd);
    memset(s, 0, sizeof *s);
    s->latest = report_table_new(15, hl);
    s->trends = report_table_new(14, ht);
    s->bits = report_table_new(9, hb);
    if (!lat || !brd || !s->latest || !s->trends || !s->bits) goto oom;

    int nl = latest_per_suite(h, lat);
    for (int k = nl - 1; k >= 0; k--) {
        const rrun *r = &h->runs[lat[k]];
        for (int i = r->c0; i < r->c1; i++) {
            const rcfg *c = &h->cfgs[i];
            snprintf(b1, sizeof b1, "%lld", r->id);
            run_commit(r, b6, sizeof b6);
            snprintf(b7, sizeof b7, "%d", c->threads);
            const char *cells[15] = {r->suite, b1, b6, r->machine, c->model, c->dataset, c->method, c->bits, c->isa,
                                     b7, c->ok ? "ok" : "failed", num(c->miou, b2, sizeof b2, "%.2f"),
                                     num(c->oiou, b3, sizeof b3, "%.2f"), num(c->lat, b4, sizeof b4, "%.3f"),
                                     num(c->p90, b5, sizeof b5, "%.3f")};
            if (report_table_add(s->latest, cells)) goto oom;
        }
        /* Bit-width vs accuracy and latency. */
        for (int i = r->c0; i < r->c1; i++) {
            const rcfg *c = &h->cfgs[i];
            int dup = 0;
            for (int j = r->c0; j < i && !dup; j++) {
                const rcfg *o = &h->cfgs[j];
                dup = !strcmp(o->model, c->model) && !strcmp(o->dataset, c->dataset) &&
                      !strcmp(o->method, c->method) && !strcmp(o->bits, c->bits);
            }
            if (dup) continue;
            double miou = NAN, best = NAN;
            char at[48] = "-";
            for (int j = i; j < r->c1; j++) {
                const rcfg *o = &h->cfgs[j];
                if (!o->ok || strcmp(o->model, c->model) || strcmp(o->dataset, c->dataset) ||
                    strcmp(o->method, c->method) || strcmp(o->bits, c->bits))
                    continue;
                if (isnan(miou)) miou = o->miou;
                if (!isnan(o->lat) && (isnan(best) || o->lat < best)) {
                    best = o->lat;
                    snprintf(at, sizeof at, "%s t%d", o->isa, o->threads);
                }
            }
            double fp = fp32_miou(h, c);
            const char *cells[9] = {r->suite, c->model, c->dataset, c->method, c->bits,
                                    num(miou, b2, sizeof b2, "%.2f"), num(fp - miou, b3, sizeof b3, "%.2f"),
                                    num(best, b4, sizeof b4, "%.3f"), at};
            if (report_table_add(s->bits, cells)) goto oom;
        }
    }
    for (int k = 0; k < nt; k++) {
        for (int i = 0; i < t[k].n; i++) {
            const rcfg *c = &h->cfgs[t[k].idx[i]];
            const rrun *r = &h->runs[c->run];
            char change[64] = "";
            if (t[k].cp_lat[i]) snprintf(change, sizeof change, "latency step");
            if (t[k].cp_miou[i])
                snprintf(change + strlen(change), sizeof change - strlen(change), "%smiou step", change[0] ? ", " : "");
            if (!c->ok) snprintf(change, sizeof change, "failed");
            snprintf(b1, sizeof b1, "%lld", r->id);
            run_commit(r, b6, sizeof b6);
            snprintf(b7, sizeof b7, "%d", c->threads);
            const char *cells[14] = {r->suite, r->machine, c->model, c->dataset, c->method, c->bits, c->isa, b7, b1,
                                     r->started, b6, num(c->miou, b2, sizeof b2, "%.2f"),
                                     num(c->lat, b3, sizeof b3, "%.3f"), change};
            if (report_table_add(s->trends, cells)) goto oom;
        }
    }
    /* Boards side by side: rows are (suite, configuration), one latency
    ** column per machine (latest run of the suite on it). */
    int nb = latest_per_board(h, brd);
    char **mnames = calloc((size_t)nb + 1, sizeof *mnames);
    int nm = 0;
    if (!mnames) goto oom;
    for (int k = nb - 1; k >= 0; k--) {
        int seen = 0;
        for (int j = 0; j < nm && !seen; j++) seen = !strcmp(mnames[j], h->runs[brd[k]].machine);
        if (!seen) mnames[nm++] = h->runs[brd[k]].machine;
    }
    const char **hd = calloc((size_t)nm + 7, sizeof *hd);
    if (!hd) {
        free(mnames);
        goto oom;
    }
    const char *const fixed[] = {"suite", "model", "dataset", "method", "bits", "isa", "threads"};
    for (int i = 0; i < 7; i++) hd[i] = fixed[i];
    char (*colname)[160] = calloc((size_t)nm + 1, sizeof *colname);
    for (int j = 0; colname && j < nm; j++) {
        snprintf(colname[j], sizeof colname[j], "%s latency_ms", mnames[j]);
        hd[7 + j] = colname[j];
    }
    s->boards = colname ? report_table_new(7 + nm, hd) : NULL;
    s->nboards = nm;
    const char **cells = calloc((size_t)nm + 7, sizeof *cells);
    char (*vals)[32] = calloc((size_t)nm + 1, sizeof *vals);
    int ok = s->boards && cells && vals;
    for (int k = nb - 1; ok && k >= 0; k--) {
        for (int i = h->runs[brd[k]].c0; ok && i < h->runs[brd[k]].c1; i++) {
            const rcfg *c = &h->cfgs[i];
            /* Already listed from an earlier board of the same suite? */
            int dup = 0;
            for (int kk = nb - 1; kk > k && !dup; kk--)
                for (int j = h->runs[brd[kk]].c0; j < h->runs[brd[kk]].c1 && !dup; j++)
                    dup = same_cfg(&h->cfgs[j], c) && !strcmp(h->runs[brd[kk]].suite, h->runs[c->run].suite);
            if (dup) continue;
            snprintf(b7, sizeof b7, "%d", c->threads);
            const char *fx[7] = {h->runs[c->run].suite, c->model, c->dataset, c->method, c->bits, c->isa, b7};
            for (int j = 0; j < 7; j++) cells[j] = fx[j];
            for (int j = 0; j < nm; j++) {
                snprintf(vals[j], sizeof vals[j], "-");
                for (int kk = 0; kk < nb; kk++) {
                    if (strcmp(h->runs[brd[kk]].machine, mnames[j]) || strcmp(h->runs[brd[kk]].suite, h->runs[c->run].suite))
                        continue;
                    for (int q = h->runs[brd[kk]].c0; q < h->runs[brd[kk]].c1; q++)
                        if (same_cfg(&h->cfgs[q], c) && h->cfgs[q].ok)
                            num(h->cfgs[q].lat, vals[j], sizeof vals[j], "%.3f");
                }
                cells[7 + j] = vals[j];
            }
            if (report_table_add(s->boards, cells)) ok = 0;
        }
    }
    free(cells);
    free(vals);
    free(colname);
    free(hd);
    free(mnames);
    if (!ok) goto oom;
    free(lat);
    free(brd);
    return 0;
oom:
    free(lat);
    free(brd);
    sections_free(s);
    return -1;
}

/* Methods paired over expressions.  Each accuracy configuration stores its
** expressions' IoU (samples "iou", in dataset order), so two methods of the
** same run, model and dataset can be compared expression by expression:
** the mean difference is their mIoU difference, and its 95% interval
** (stats_paired_diff) says whether the evaluation split could tell them
** apart.  Per (model, dataset, bits) of the latest run of each suite, every
** quantized method against FP32 and against a reference: the best method
** at those bits, or the method --vs names (the reference itself against
** the best of the others). */

typedef struct pmember {
    const rcfg *c;
    double *iou;   /* its "iou" samples; NULL: none (runs from before them, speed-only models) */
    int n;
} pmember;

/* Cells of one paired comparison of a with b (in mIoU points). */
static void paired_cells(const pmember *a, const pmember *b, char *d, char *lo, char *hi, size_t len,
                         stats_paired *out)
{
    stats_paired p = {0, NAN, NAN, NAN, 0, 0};
    if (a->iou && b && b->iou && a->n == b->n) stats_paired_diff(a->iou, b->iou, a->n, &p);
    num(100 * p.mean, d, len, "%+.3f");
    num(100 * p.lo, lo, len, "%+.3f");
    num(100 * p.hi, hi, len, "%+.3f");
    *out = p;
}

static int build_paired(sqlite3 *db, const hist *h, const char *vs_method, report_table **out)
{
    static const char *const head[] = {"suite", "model", "dataset", "bits", "method", "miou", "vs_fp32",
                                       "fp32_lo", "fp32_hi", "vs", "diff", "lo", "hi", "above", "below", "verdict"};
    report_table *t = report_table_new(16, head);
    int *lat = malloc((size_t)(h->nruns + 1) * sizeof *lat);
    pmember *mem = NULL;
    int ok = t && lat;
    int nl = ok ? latest_per_suite(h, lat) : 0;
    for (int k = nl - 1; ok && k >= 0; k--) {
        const rrun *r = &h->runs[lat[k]];
        int nc = r->c1 - r->c0;
        free(mem);
        mem = calloc((size_t)nc + 1, sizeof *mem);
        if (!mem) {
            ok = 0;
            break;
        }
        for (int i = r->c0; ok && i < r->c1; i++) {
            const rcfg *c = &h->cfgs[i];
            if (is_fp32(c)) continue;
            /* one group per (model, dataset, bits), at its first config */
            int seen = 0;
            for (int j = r->c0; j < i && !seen; j++) {
                const rcfg *o = &h->cfgs[j];
                seen = !strcmp(o->model, c->model) && !strcmp(o->dataset, c->dataset) && !strcmp(o->bits, c->bits);
            }
            if (seen) continue;
            /* members: each method's first ok config at these bits, and
            ** fp32's; samples none: NULL, no comparison */
            int nm = 0;
            pmember fp = {fp32_of(h, c), NULL, 0};
            if (fp.c) store_read_samples(db, fp.c->id, "iou", &fp.iou, &fp.n);
            for (int j = i; j < r->c1; j++) {
                const rcfg *o = &h->cfgs[j];
                if (!o->ok || strcmp(o->model, c->model) || strcmp(o->dataset, c->dataset) ||
                    strcmp(o->bits, c->bits))
                    continue;
                int dup = 0;
                for (int q = 0; q < nm && !dup; q++) dup = !strcmp(mem[q].c->method, o->method);
                if (dup) continue;
                mem[nm] = (pmember){o, NULL, 0};
                store_read_samples(db, o->id, "iou", &mem[nm].iou, &mem[nm].n);
                nm++;
            }
            /* the best and the runner-up among members with samples; a
            ** group without any (kernel benchmarks, speed-only models, runs
            ** from before the samples) is not listed */
            int best = -1, second = -1;
            for (int q = 0; q < nm; q++) {
                if (!mem[q].iou || isnan(mem[q].c->miou)) continue;
                if (best < 0 || mem[q].c->miou > mem[best].c->miou) {
                    second = best;
                    best = q;
                } else if (second < 0 || mem[q].c->miou > mem[second].c->miou) {
                    second = q;
                }
            }
            /* the reference: vs_method when it has samples here, else the best */
            int ref = best;
            for (int q = 0; vs_method && q < nm; q++)
                if (mem[q].iou && !strcmp(mem[q].c->method, vs_method)) ref = q;
            for (int q = 0; ok && best >= 0 && q < nm; q++) {
                char mi[32], fd[32], flo[32], fhi[32], d[32], lo[32], hi[32], ab[16] = "-", be[16] = "-";
                stats_paired pf, pv;
                /* the reference itself: against the best of the others */
                int other = ref == best ? second : best;
                const pmember *vs = q == ref ? (other >= 0 ? &mem[other] : NULL) : &mem[ref];
                paired_cells(&mem[q], fp.c ? &fp : NULL, fd, flo, fhi, sizeof fd, &pf);
                paired_cells(&mem[q], vs, d, lo, hi, sizeof d, &pv);
                const char *verdict = "-";
                if (!isnan(pv.lo)) {
                    snprintf(ab, sizeof ab, "%d", pv.above);
                    snprintf(be, sizeof be, "%d", pv.below);
                    verdict = pv.lo > 0 ? "better" : pv.hi < 0 ? "worse" : "~";
                }
                const char *cells[16] = {r->suite, c->model, c->dataset, c->bits, mem[q].c->method,
                                         num(mem[q].c->miou, mi, sizeof mi, "%.2f"), fd, flo, fhi,
                                         vs ? vs->c->method : "-", d, lo, hi, ab, be, verdict};
                if (report_table_add(t, cells)) ok = 0;
            }
            for (int q = 0; q < nm; q++) free(mem[q].iou);
            free(fp.iou);
        }
    }
    free(mem);
    free(lat);
    if (!ok) {
        report_table_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* ------------------------------------------------------- 4. writers --- */

static void write_text(const sections *s, const hist *h, report_format fmt, FILE *f)
{
    char now[32];
    const char *h1 = fmt == REPORT_MD ? "# " : "", *h2 = fmt == REPORT_MD ? "## " : "== ";
    const char *e2 = fmt == REPORT_MD ? "" : " ==";
    fprintf(f, "%srisq report (%d runs, generated %s)\n\n", h1, h->nruns, store_now_utc(now));
    fprintf(f, "%sLatest results per suite%s\n\n", h2, e2);
    report_table_write(s->latest, fmt, f);
    fprintf(f, "\n%sBit-width vs accuracy and latency (latest run per suite)%s\n\n", h2, e2);
    report_table_write(s->bits, fmt, f);
    fprintf(f, "\n%sMethods paired over expressions (latest run per suite)%s\n\n", h2, e2);
    fprintf(f, "Differences in mIoU points with their 95%% interval: vs_fp32 = method - FP32;\n"
               "diff = method - vs (the best method at these bits, or --vs METHOD; for that\n"
               "method itself, the best of the others);\n"
               "above/below: expressions where the method's IoU is higher/lower; verdict: the\n"
               "interval excludes 0 (better/worse) or not (~: the split cannot tell them apart).\n\n");
    report_table_write(s->paired, fmt, f);
    fprintf(f, "\n%sBoards side by side (latest run per suite and machine)%s\n\n", h2, e2);
    report_table_write(s->boards, fmt, f);
    fprintf(f, "\n%sTrends per configuration (change points marked)%s\n\n", h2, e2);
    report_table_write(s->trends, fmt, f);
}

/* CSV: one long table, a section column first. */
static void write_csv(const sections *s, FILE *f)
{
    static const char *const head[] = {"section", "suite", "run", "machine", "model", "dataset", "method", "bits",
                                       "isa", "threads", "metric", "value", "note"};
    report_table *t = report_table_new(13, head);
    if (!t) return;
    const report_table *lt = s->latest;
    for (int r = 0; r < lt->nrows; r++) {
        char **c = lt->cells + (size_t)r * lt->ncols;
        static const int mcol[] = {11, 12, 13, 14};
        static const char *const mname[] = {"miou", "oiou", "latency_ms", "latency_p90_ms"};
        for (int k = 0; k < 4; k++) {
            const char *v = strcmp(c[mcol[k]], "-") ? c[mcol[k]] : "";
            const char *cells[13] = {"latest", c[0], c[1], c[3], c[4], c[5], c[6], c[7], c[8], c[9], mname[k], v, c[10]};
            report_table_add(t, cells);
        }
    }
    const report_table *bt = s->bits;
    for (int r = 0; r < bt->nrows; r++) {
        char **c = bt->cells + (size_t)r * bt->ncols;
        static const char *const mname[] = {"miou", "drop_vs_fp32", "best_latency_ms"};
        for (int k = 0; k < 3; k++) {
            const char *v = strcmp(c[5 + k], "-") ? c[5 + k] : "";
            const char *cells[13] = {"bits", c[0], "", "", c[1], c[2], c[3], c[4], "", "", mname[k], v, c[8]};
            report_table_add(t, cells);
        }
    }
    const report_table *pt = s->paired;
    for (int r = 0; r < pt->nrows; r++) {
        char **c = pt->cells + (size_t)r * pt->ncols;
        static const int mcol[] = {6, 7, 8, 10, 11, 12};
        static const char *const mname[] = {"vs_fp32", "vs_fp32_lo", "vs_fp32_hi", "diff", "diff_lo", "diff_hi"};
        for (int k = 0; k < 6; k++) {
            const char *v = strcmp(c[mcol[k]], "-") ? c[mcol[k]] : "";
            char note[128];
            snprintf(note, sizeof note, "%s%s%s", k < 3 ? "fp32" : c[9], k < 3 ? "" : ": ", k < 3 ? "" : c[15]);
            const char *cells[13] = {"paired", c[0], "", "", c[1], c[2], c[4], c[3], "", "", mname[k], v, note};
            report_table_add(t, cells);
        }
    }
    const report_table *ot = s->boards;
    for (int r = 0; r < ot->nrows; r++) {
        char **c = ot->cells + (size_t)r * ot->ncols;
        for (int k = 7; k < ot->ncols; k++) {
            char mach[160];
            snprintf(mach, sizeof mach, "%s", ot->head[k]);
            char *sp = strstr(mach, " latency_ms");
            if (sp) *sp = 0;
            const char *v = strcmp(c[k], "-") ? c[k] : "";
            const char *cells[13] = {"boards", c[0], "", mach, c[1], c[2], c[3], c[4], c[5], c[6], "latency_ms", v, ""};
            report_table_add(t, cells);
        }
    }
    const report_table *tt = s->trends;
    for (int r = 0; r < tt->nrows; r++) {
        char **c = tt->cells + (size_t)r * tt->ncols;
        for (int k = 0; k < 2; k++) {
            const char *v = strcmp(c[11 + k], "-") ? c[11 + k] : "";
            const char *cells[13] = {"trend", c[0], c[8], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
                                     k ? "latency_ms" : "miou", v, c[13]};
            report_table_add(t, cells);
        }
    }
    report_table_write(t, REPORT_CSV, f);
    report_table_free(t);
}

static json_t *jnum(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* A table cell as JSON: integers for run/threads, numbers (or null for
** "-") for the numeric columns, strings otherwise. */
static json_t *json_cell(const char *head, const char *v)
{
    static const char *const reals[] = {"miou", "oiou", "latency_ms", "p90_ms", "drop_vs_fp32", "best_latency_ms",
                                        "vs_fp32", "fp32_lo", "fp32_hi", "diff", "lo", "hi"};
    static const char *const ints[] = {"run", "threads", "above", "below"};
    size_t hl = strlen(head);
    int is_real = hl > 11 && !strcmp(head + hl - 11, " latency_ms");
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) is_real |= !strcmp(head, reals[i]);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(head, ints[i])) return strcmp(v, "-") ? json_integer(strtoll(v, NULL, 10)) : json_null();
    if (is_real) return strcmp(v, "-") ? json_real(strtod(v, NULL)) : json_null();
    return json_string(v);
}

static int write_json(const hist *h, const trend *t, int nt, const sections *s, FILE *f)
{
    char now[32];
    json_t *root = json_object(), *runs = json_array(), *tr = json_array();
    json_object_set_new(root, "generated_at", json_string(store_now_utc(now)));
    for (int i = 0; i < h->nruns; i++) {
        const rrun *r = &h->runs[i];
        json_array_append_new(runs, json_pack("{s:I, s:s, s:s, s:s, s:b, s:s, s:s}", "id", (json_int_t)r->id,
                                              "suite", r->suite, "started_at", r->started, "commit", r->commit,
                                              "dirty", r->dirty, "machine", r->machine, "fingerprint",
                                              r->fingerprint));
    }
    json_object_set_new(root, "runs", runs);
    /* Tables as arrays of objects keyed by their headers. */
    const report_table *tabs[4] = {s->latest, s->bits, s->paired, s->boards};
    const char *names[4] = {"latest", "bits", "paired", "boards"};
    for (int k = 0; k < 4; k++) {
        json_t *arr = json_array();
        for (int r = 0; r < tabs[k]->nrows; r++) {
            json_t *o = json_object();
            for (int c = 0; c < tabs[k]->ncols; c++) {
                const char *v = tabs[k]->cells[(size_t)r * tabs[k]->ncols + c];
                json_object_set_new(o, tabs[k]->head[c], json_cell(tabs[k]->head[c], v));
            }
            json_array_append_new(arr, o);
        }
        json_object_set_new(root, names[k], arr);
    }
    for (int k = 0; k < nt; k++) {
        const rcfg *c0 = &h->cfgs[t[k].first];
        const rrun *r0 = &h->runs[c0->run];
        json_t *pts = json_array(), *cpl = json_array(), *cpm = json_array();
        for (int i = 0; i < t[k].n; i++) {
            const rcfg *c = &h->cfgs[t[k].idx[i]];
            const rrun *r = &h->runs[c->run];
            json_t *p = json_pack("{s:I, s:s, s:s, s:b}", "run", (json_int_t)r->id, "started_at", r->started,
                                  "commit", r->commit, "ok", c->ok);
            json_object_set_new(p, "miou", jnum(c->miou));
            json_object_set_new(p, "latency_ms", jnum(c->lat));
            json_array_append_new(pts, p);
            if (t[k].cp_lat[i]) json_array_append_new(cpl, json_integer(r->id));
            if (t[k].cp_miou[i]) json_array_append_new(cpm, json_integer(r->id));
        }
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "suite", r0->suite, "machine", r0->machine,
                              "model", c0->model, "dataset", c0->dataset, "method", c0->method, "bits", c0->bits,
                              "isa", c0->isa, "threads", c0->threads);
        json_object_set_new(o, "points", pts);
        json_object_set_new(o, "change_points", json_pack("{s:o, s:o}", "latency_ms", cpl, "miou", cpm));
        json_array_append_new(tr, o);
    }
    json_object_set_new(root, "trends", tr);
    int rc = json_dumpf(root, f, JSON_INDENT(2)) ? -1 : 0;
    fputc('\n', f);
    json_decref(root);
    return rc;
}

/* ------------------------------------------------- 5. SVG for HTML --- */

#define SVG_W 520
#define SVG_H 190
#define SVG_L 58
#define SVG_R 12
#define SVG_T 24
#define SVG_B 30

/* Line chart of y[n] (NaN = gap) with change points as dashed red lines. */
static void svg_line(FILE *f, const char *title, const char *unit, const double *y, const char *cp,
                     const long long *runs, int n)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (!isnan(y[i])) {
            lo = fmin(lo, y[i]);
            hi = fmax(hi, y[i]);
        }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">",
            SVG_W, SVG_H, SVG_W, SVG_H);
    fputs("<title>", f);
    report_html_escape(f, title);
    fputs("</title>", f);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fbfbfd\" stroke=\"#ccd\"/>", SVG_W, SVG_H);
    fputs("<text x=\"8\" y=\"16\" font-size=\"12\" fill=\"#223\">", f);
    report_html_escape(f, title);
    fputs(" (", f);
    report_html_escape(f, unit);
    fputs(")</text>", f);
    if (isinf(lo)) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#888\">no data</text></svg>\n", SVG_W / 2 - 25,
                SVG_H / 2);
        return;
    }
    if (hi - lo < 1e-12) {
        double pad = fabs(hi) > 0 ? fabs(hi) * 0.05 : 1;
        lo -= pad;
        hi += pad;
    }
    double pw = SVG_W - SVG_L - SVG_R, ph = SVG_H - SVG_T - SVG_B;
#define XP(i) (SVG_L + (n > 1 ? pw * (i) / (n - 1) : pw / 2))
#define YP(v) (SVG_T + ph * (1 - ((v) - lo) / (hi - lo)))
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#99a\"/>", SVG_L, SVG_T, SVG_L, SVG_H - SVG_B);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#99a\"/>", SVG_L, SVG_H - SVG_B, SVG_W - SVG_R,
            SVG_H - SVG_B);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" fill=\"#445\">%.4g</text>", SVG_L - 4,
            SVG_T + 4, hi);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" fill=\"#445\">%.4g</text>", SVG_L - 4,
            SVG_H - SVG_B, lo);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#445\">run %lld</text>", SVG_L, SVG_H - 10, runs[0]);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" fill=\"#445\">run %lld</text>",
            SVG_W - SVG_R, SVG_H - 10, runs[n - 1]);
    for (int i = 0; i < n; i++)
        if (cp[i])
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d33\" stroke-dasharray=\"4 3\">"
                       "<title>change point at run %lld</title></line>",
                    XP(i), SVG_T, XP(i), SVG_H - SVG_B, runs[i]);
    fputs("<polyline fill=\"none\" stroke=\"#2a6fdb\" stroke-width=\"2\" points=\"", f);
    for (int i = 0; i < n; i++)
        if (!isnan(y[i])) fprintf(f, "%.1f,%.1f ", XP(i), YP(y[i]));
    fputs("\"/>", f);
    for (int i = 0; i < n; i++)
        if (!isnan(y[i]))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>run %lld: %.4g</title></circle>",
                    XP(i), YP(y[i]), cp[i] ? "#d33" : "#2a6fdb", runs[i], y[i]);
    fputs("</svg>\n", f);
#undef XP
#undef YP
}

/* Bar chart of the bit-width table's mIoU (one bar per row). */
static void svg_bars(FILE *f, const report_table *bt)
{
    int n = bt->nrows, bw = 44, gap = 14;
    int w = SVG_L + SVG_R + (n > 0 ? n : 1) * (bw + gap), hgt = 240, base = hgt - 60;
    double hi = 0;
    for (int r = 0; r < n; r++) hi = fmax(hi, strtod(bt->cells[(size_t)r * bt->ncols + 5], NULL));
    hi = hi > 0 ? hi : 100;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
               "<title>mIoU per bit-width</title>",
            w, hgt, w, hgt);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fbfbfd\" stroke=\"#ccd\"/>", w, hgt);
    fputs("<text x=\"8\" y=\"16\" font-size=\"12\" fill=\"#223\">mIoU (%) per bit-width, latest run</text>", f);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#99a\"/>", SVG_L - 6, base, w - SVG_R, base);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\" fill=\"#445\">%.4g</text>", SVG_L - 8, 34,
            hi);
    for (int r = 0; r < n; r++) {
        char **c = bt->cells + (size_t)r * bt->ncols;
        double v = strtod(c[5], NULL);
        double bh = strcmp(c[5], "-") ? (base - 30) * v / hi : 0;
        int x = SVG_L + r * (bw + gap);
        int fp = !strcmp(c[4], "fp32");
        fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>", x, base - bh, bw, bh,
                fp ? "#7a8" : "#2a6fdb");
        report_html_escape(f, c[1]);
        fputs(" ", f);
        report_html_escape(f, c[3]);
        fputs(" ", f);
        report_html_escape(f, c[4]);
        fprintf(f, ": %s</title></rect>", c[5]);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\" fill=\"#223\">", x + bw / 2,
                base - bh - 3);
        report_html_escape(f, c[5]);
        fprintf(f, "</text><text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"#223\">", x + bw / 2,
                base + 14);
        report_html_escape(f, c[4]);
        fprintf(f, "</text><text x=\"%d\" y=\"%d\" font-size=\"9\" text-anchor=\"middle\" fill=\"#667\">", x + bw / 2,
                base + 27);
        report_html_escape(f, c[3]);
        fputs("</text>", f);
    }
    fputs("</svg>\n", f);
}

static void write_html(const hist *h, const trend *t, int nt, const sections *s, FILE *f)
{
    char now[32];
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>risq report</title>\n"
          "<style>\n"
          "body{font-family:system-ui,sans-serif;margin:24px;color:#223;background:#fff}\n"
          "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccd}\n"
          "h3{font-size:13px;margin:14px 0 4px;font-weight:600}\n"
          "table{border-collapse:collapse;font-size:12px;margin:4px 0}\n"
          "th,td{border:1px solid #ccd;padding:3px 7px;text-align:left}th{background:#eef1f8}\n"
          "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
          "td.bad{color:#b00;font-weight:600}td.good{color:#070;font-weight:600}\n"
          ".charts{display:flex;flex-wrap:wrap;gap:10px}.meta{color:#667;font-size:12px}\n"
          "</style>\n</head>\n<body>\n",
          f);
    fprintf(f, "<h1>risq report</h1>\n<p class=\"meta\">%d runs, %d configurations, generated %s</p>\n", h->nruns,
            h->ncfgs, store_now_utc(now));
    fputs("<h2>Latest results per suite</h2>\n", f);
    report_table_write(s->latest, REPORT_HTML, f);
    fputs("<h2>Bit-width vs accuracy and latency</h2>\n", f);
    svg_bars(f, s->bits);
    report_table_write(s->bits, REPORT_HTML, f);
    fputs("<h2>Methods paired over expressions</h2>\n<p class=\"meta\">Differences in mIoU points with "
          "their 95% interval: vs_fp32 = method &minus; FP32; diff = method &minus; vs (the best method at these "
          "bits, or the one <code>--vs</code> names; for that method itself, the best of the others); above/below: expressions where the method's IoU is higher/lower; "
          "verdict ~: the split cannot tell the two apart.</p>\n",
          f);
    report_table_write(s->paired, REPORT_HTML, f);
    fputs("<h2>Boards side by side</h2>\n", f);
    report_table_write(s->boards, REPORT_HTML, f);
    fputs("<h2>Trends per configuration</h2>\n<p class=\"meta\">Dashed red lines mark change points (a new level "
          "starts at that run).</p>\n",
          f);
    for (int k = 0; k < nt; k++) {
        const rcfg *c0 = &h->cfgs[t[k].first];
        char title[512];
        snprintf(title, sizeof title, "%s / %s / %s / %s / %s / %s t%d on %s", h->runs[c0->run].suite, c0->model,
                 c0->dataset, c0->method, c0->bits, c0->isa, c0->threads, h->runs[c0->run].machine);
        double *lat = malloc((size_t)t[k].n * sizeof *lat), *mi = malloc((size_t)t[k].n * sizeof *mi);
        long long *runs = malloc((size_t)t[k].n * sizeof *runs);
        if (lat && mi && runs) {
            for (int i = 0; i < t[k].n; i++) {
                const rcfg *c = &h->cfgs[t[k].idx[i]];
                lat[i] = c->ok ? c->lat : NAN;
                mi[i] = c->ok ? c->miou : NAN;
                runs[i] = h->runs[c->run].id;
            }
            fputs("<h3>", f);
            report_html_escape(f, title);
            fputs("</h3>\n<div class=\"charts\">\n", f);
            svg_line(f, "median latency", "ms", lat, t[k].cp_lat, runs, t[k].n);
            svg_line(f, "mIoU", "%", mi, t[k].cp_miou, runs, t[k].n);
            fputs("</div>\n", f);
        }
        free(lat);
        free(mi);
        free(runs);
    }
    fputs("<h2>Trend data</h2>\n", f);
    report_table_write(s->trends, REPORT_HTML, f);
    fputs("</body>\n</html>\n", f);
}

int report_render(sqlite3 *db, report_format fmt, const char *vs, FILE *f, char *err, size_t errlen)
{
    hist h;
    trend *t = NULL;
    int nt = 0, rc = 0;
    sections s;
    if (hist_load(db, &h, err, errlen)) return -1;
    if (build_trends(&h, &t, &nt) || build_sections(&h, t, nt, &s)) {
        snprintf(err, errlen, "out of memory building the report");
        trends_free(t, nt);
        hist_free(&h);
        return -1;
    }
    if (build_paired(db, &h, vs, &s.paired)) {
        snprintf(err, errlen, "out of memory building the report");
        sections_free(&s);
        trends_free(t, nt);
        hist_free(&h);
        return -1;
    }
    switch (fmt) {
    case REPORT_JSON: rc = write_json(&h, t, nt, &s, f); break;
    case REPORT_CSV: write_csv(&s, f); break;
    case REPORT_HTML: write_html(&h, t, nt, &s, f); break;
    default: write_text(&s, &h, fmt, f); break;
    }
    if (rc) snprintf(err, errlen, "cannot write the report");
    sections_free(&s);
    trends_free(t, nt);
    hist_free(&h);
    return rc;
}

/* -------------------------------------------------- 6. command line --- */

static const char usage[] =
    "usage: risq report [--db PATH] [-o table|md|csv|json|html] [--out FILE] [--vs METHOD]\n"
    "\n"
    "Summarise the results history: the latest results of each suite, bit-width\n"
    "vs accuracy and latency, methods paired over expressions (each quantized\n"
    "method's mIoU difference to FP32 and to the best method at its bits, with\n"
    "a 95% interval from the per-expression IoUs: can the split tell them\n"
    "apart?), boards side by side (latest run of each suite per machine) and\n"
    "the trend of median latency and mIoU of every configuration over its runs,\n"
    "with change points marked. HTML is one self-contained file (inline CSS and\n"
    "SVG charts, no scripts, no external resources).\n"
    "\n"
    "  --db PATH        results history (default " STORE_DEFAULT_PATH ")\n"
    "  -o, --output FMT table (default), md, csv, json or html\n"
    "  --out FILE       write to FILE instead of standard output\n"
    "  --vs METHOD      in the paired section, compare every method with METHOD\n"
    "                   (e.g. ptq4ris) instead of the best method at its bits\n"
    "\n"
    "exit status: 0 written, 2 usage or database error\n";

int report_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"output", required_argument, 0, 'o'},
        {"out", required_argument, 0, 'O'}, {"vs", required_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *db_path = STORE_DEFAULT_PATH, *out = NULL, *vs = NULL;
    report_format fmt = REPORT_TABLE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_path = optarg; break;
        case 'O': out = optarg; break;
        case 'v': vs = optarg; break;
        case 'o':
            if (report_parse_format(optarg, &fmt)) {
                fprintf(stderr, "risq report: unknown output format '%s' (table, md, csv, json, html)\n", optarg);
                return 2;
            }
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "risq report: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return 2;
    }
    if (access(db_path, F_OK) != 0) {
        fprintf(stderr, "risq report: no results database at %s (record a run with `risq run`, or give --db PATH)\n",
                db_path);
        return 2;
    }
    char err[2048];
    store *s;
    if (store_open(db_path, &s, err, sizeof err)) {
        fprintf(stderr, "risq report: %s\n", err);
        return 2;
    }
    if (vs) {   /* a typo would silently fall back to the best method */
        sqlite3_stmt *st = NULL;
        int found = sqlite3_prepare_v2(store_sqlite(s), "SELECT 1 FROM config WHERE method = ?1 LIMIT 1", -1, &st,
                                       NULL) == SQLITE_OK &&
                    sqlite3_bind_text(st, 1, vs, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (!found) {
            fprintf(stderr, "risq report: --vs '%s': no configuration of that method in %s\n", vs, db_path);
            store_close(s);
            return 2;
        }
    }
    FILE *f = out ? fopen(out, "w") : stdout;
    int rc = 0;
    if (!f) {
        fprintf(stderr, "risq report: cannot write %s\n", out);
        rc = 2;
    } else if (report_render(store_sqlite(s), fmt, vs, f, err, sizeof err)) {
        fprintf(stderr, "risq report: %s\n", err);
        rc = 2;
    }
    if (f && f != stdout && fclose(f) != 0) {
        fprintf(stderr, "risq report: error writing %s\n", out);
        rc = 2;
    }
    store_close(s);
    return rc;
}
