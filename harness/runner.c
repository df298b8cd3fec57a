/*
** runner: `risq run` (see runner.h).
**
** Data flow (DESIGN.md "Data flow"): load and expand the suite; per model,
** per dataset, one FP32 accuracy pass over every expression; per
** configuration (method x bits x target x threads) a speed pass (warm-up,
** then timed repetitions with CLOCK_MONOTONIC); each configuration is stored
** in its own transaction as soon as it finishes, and a failing one is stored
** as failed with its error while the suite goes on. Ctrl-C finishes the
** configuration in flight and marks the run interrupted.
*/
#include "harness/runner.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "datasets/dataset.h"
#include "datasets/synth.h"
#include "harness/metrics.h"
#include "harness/store.h"
#include "harness/suite.h"
#include "kernels/ops_f32.h"
#include "kernels/threadpool.h"
#include "models/lavt.h"
#include "models/tokenizer.h"

#ifndef RISQ_COMPILER
#define RISQ_COMPILER "unknown"
#endif
#ifndef RISQ_FLAGS
#define RISQ_FLAGS "unknown"
#endif

#define DEFAULT_SUITE "suites/smoke.yaml"

static const char usage[] =
    "usage: risq run [SUITE] [--db PATH] [--board NAME] [--zoo DIR] [--quiet]\n"
    "\n"
    "Run every configuration of SUITE (default " DEFAULT_SUITE "): per model and\n"
    "dataset an FP32 accuracy pass (miou, oiou, prec@0.5..0.9 over every referring\n"
    "expression), then per method, bits, target and thread count a speed pass\n"
    "(warm-up, then timed repetitions). Prints a results table and appends the\n"
    "run to the SQLite history, one transaction per finished configuration.\n"
    "\n"
    "  --db PATH      results history (default " STORE_DEFAULT_PATH ")\n"
    "  --board NAME   board name recorded with the machine identity\n"
    "  --zoo DIR      where model names are looked up (default: $RISQ_ZOO,\n"
    "                 then models/zoo, then ../models/zoo next to the suite)\n"
    "  -q, --quiet    print only the final table\n"
    "\n"
    "exit status: 0 all configurations ran, 1 some failed or the run was\n"
    "interrupted, 2 usage, suite or database errors\n";

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ------------------------------------------------------------ helpers --- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile of sorted v[n] with linear interpolation (numpy's default). */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

typedef struct latency { double median, p90, min, mad; } latency;

static latency summarise(const double *samples, int n)
{
    latency l;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return (latency){NAN, NAN, NAN, NAN};
    memcpy(v, samples, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    l.median = quantile(v, n, 0.5);
    l.p90 = quantile(v, n, 0.9);
    l.min = v[0];
    for (int i = 0; i < n; i++) v[i] = fabs(samples[i] - l.median);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    l.mad = quantile(v, n, 0.5);
    free(v);
    return l;
}

/* FNV-1a 64 over the bytes of a file, chained into h. */
static int hash_file(const char *path, uint64_t *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) *h = (*h ^ buf[i]) * 0x100000001B3ull;
    fclose(f);
    return 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Resolve a suite's model entry to a folder: a path if it contains '/',
** else NAME under $RISQ_ZOO, --zoo, ./models/zoo or <suite dir>/../models/zoo. */
static int resolve_model(const char *entry, const char *zoo, const char *suite_file,
                         char *out, size_t outlen)
{
    if (strchr(entry, '/')) {
        snprintf(out, outlen, "%s", entry);
        return is_dir(out) ? 0 : -1;
    }
    const char *env = getenv("RISQ_ZOO");
    char sdir[2048];
    snprintf(sdir, sizeof sdir, "%s", suite_file);
    char *slash = strrchr(sdir, '/');
    if (slash) *slash = 0; else snprintf(sdir, sizeof sdir, ".");
    const char *bases[4] = {zoo, env, "models/zoo", NULL};
    char rel[2100];
    snprintf(rel, sizeof rel, "%s/../models/zoo", sdir);
    bases[3] = rel;
    for (int i = 0; i < 4; i++) {
        if (!bases[i]) continue;
        snprintf(out, outlen, "%s/%s", bases[i], entry);
        if (is_dir(out)) return 0;
    }
    return -1;
}

/* -------------------------------------------------------- evaluation --- */

typedef struct evalctx {
    lavt_model *model;
    const lavt_config *cfg;
    kt_pool *pool;
    float *image, *logits, *up;   /* input, S x S logits, logits at dataset size */
    uint8_t *pred;
    size_t up_cap;
} evalctx;

static int evalctx_init(evalctx *e, lavt_model *m, int threads)
{
    memset(e, 0, sizeof *e);
    e->model = m;
    e->cfg = lavt_get_config(m);
    int S = e->cfg->input_size, K = e->cfg->num_classes;
    e->pool = kt_pool_create(threads);
    e->image = malloc((size_t)3 * S * S * sizeof(float));
    e->logits = malloc((size_t)K * S * S * sizeof(float));
    return e->pool && e->image && e->logits ? 0 : -1;
}

static void evalctx_free(evalctx *e)
{
    kt_pool_destroy(e->pool);
    free(e->image);
    free(e->logits);
    free(e->up);
    free(e->pred);
}

/* Predict the mask of one expression at the image's own resolution:
** logits are upsampled (bilinear, align_corners=True as LAVT) when the image
** is not input_size, then argmax (class 1 only when strictly greater). */
static int predict(evalctx *e, const ds_image *im, const char *sentence, int image_ready,
                   char *err, size_t errlen)
{
    const lavt_config *c = e->cfg;
    int S = c->input_size, T = c->max_tokens;
    int32_t ids[512], mask[512];
    if (T > 512) {
        snprintf(err, errlen, "max_tokens %d exceeds 512", T);
        return -1;
    }
    if (!image_ready) lavt_preprocess(e->model, im->rgb, im->w, im->h, e->image);
    tok_encode(lavt_vocab(e->model), sentence, T, ids, mask);
    if (lavt_forward(e->model, e->pool, e->image, ids, mask, e->logits, err, errlen)) return -1;
    size_t npix = (size_t)im->w * im->h;
    const float *lg = e->logits;
    if (im->w != S || im->h != S) {
        size_t need = (size_t)c->num_classes * npix;
        if (need > e->up_cap) {
            free(e->up);
            free(e->pred);
            e->up = malloc(need * sizeof(float));
            e->pred = malloc(npix);
            e->up_cap = need;
            if (!e->up || !e->pred) {
                e->up_cap = 0;
                snprintf(err, errlen, "out of memory upsampling logits to %dx%d", im->w, im->h);
                return -1;
            }
        }
        kf_resize_bilinear(e->logits, c->num_classes, S, S, e->up, im->h, im->w, 1);
        lg = e->up;
    } else if (!e->pred) {
        if (!(e->pred = malloc(npix))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (size_t q = 0; q < npix; q++) e->pred[q] = lg[npix + q] > lg[q];
    return 0;
}

/* FP32 accuracy over every expression of the split. */
static int accuracy_pass(evalctx *e, const ds_dataset *d, mt_acc *acc, char *err, size_t errlen)
{
    mt_init(acc);
    int last_image = -1;
    for (int i = 0; i < d->nsamples && !interrupted; i++) {
        const ds_sample *s = &d->samples[i];
        const ds_image *im = &d->images[s->image];
        for (int k = 0; k < s->nsent; k++) {
            if (predict(e, im, s->sentences[k], s->image == last_image, err, errlen)) return -1;
            last_image = s->image;
            mt_add(acc, e->pred, s->mask, (size_t)im->w * im->h);
        }
    }
    if (interrupted) {
        snprintf(err, errlen, "interrupted");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- output --- */

static void print_header(void)
{
    printf("%-12s %-24s %-6s %-5s %-6s %3s %7s %7s %7s %7s %7s %7s %7s %11s %9s %s\n", "model", "dataset",
           "method", "bits", "isa", "thr", "miou", "oiou", "p@0.5", "p@0.6", "p@0.7", "p@0.8", "p@0.9",
           "latency_ms", "mad_ms", "status");
}

static void print_row(const char *model, const char *dataset, const char *method, const char *bits,
                      const char *isa, int threads, const double *acc, const latency *lat,
                      const char *status)
{
    printf("%-12s %-24s %-6s %-5s %-6s %3d", model, dataset, method, bits, isa, threads);
    for (int k = 0; k < MT_NMETRICS; k++) printf(" %7.2f", acc ? acc[k] : NAN);
    printf(" %11.3f %9.3f %s\n", lat ? lat->median : NAN, lat ? lat->mad : NAN, status);
    fflush(stdout);
}

/* --------------------------------------------------------------- main --- */

typedef struct runopts {
    const char *suite_path, *db, *board, *zoo;
    int quiet;
} runopts;

static int parse_args(int argc, char **argv, runopts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"board", required_argument, 0, 'b'},
        {"zoo", required_argument, 0, 'z'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->suite_path = DEFAULT_SUITE;
    o->db = STORE_DEFAULT_PATH;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'b': o->board = optarg; break;
        case 'z': o->zoo = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return 1;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) o->suite_path = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "risq run: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return 2;
    }
    return 0;
}

static void join_args(int argc, char **argv, char *out, size_t n)
{
    size_t len = snprintf(out, n, "risq");
    for (int i = 0; i < argc && len < n; i++) len += snprintf(out + len, n - len, " %s", argv[i]);
}

int runner_main(int argc, char **argv)
{
    runopts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;

    char err[2048];
    suite *s = NULL;
    if (suite_load(o.suite_path, &s, err, sizeof err)) {
        fprintf(stderr, "risq run: %s\n", err);
        if (!strcmp(o.suite_path, DEFAULT_SUITE))
            fprintf(stderr, "risq run: (run from the risq source folder, or name a suite file)\n");
        return 2;
    }
    suite_config *cfgs = NULL;
    int ncfg = suite_expand(s, &cfgs);
    if (ncfg <= 0) {
        fprintf(stderr, "risq run: %s: the suite expands to no configurations\n", s->file);
        suite_free(s);
        return 2;
    }

    store *db = NULL;
    if (store_open(o.db, &db, err, sizeof err)) {
        fprintf(stderr, "risq run: %s\n", err);
        free(cfgs);
        suite_free(s);
        return 2;
    }
    char command[1024];
    join_args(argc, argv, command, sizeof command);
    store_run_info ri = {.suite = s->name, .command = command};
    store_machine_probe(&ri.machine);
    if (o.board) {
        snprintf(ri.machine.board, sizeof ri.machine.board, "%s", o.board);
        store_machine_fingerprint(&ri.machine);
    }
    char commit[64];
    snprintf(commit, sizeof commit, "%s", RISQ_GIT_DESCRIBE);
    char *dirty = strstr(commit, "-dirty");
    if (dirty) *dirty = 0;
    ri.build = (store_build){commit, dirty != NULL, RISQ_COMPILER, RISQ_FLAGS};
    int64_t run_id;
    if (store_begin_run(db, &ri, &run_id, err, sizeof err)) {
        fprintf(stderr, "risq run: %s\n", err);
        store_close(db);
        free(cfgs);
        suite_free(s);
        return 2;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (!o.quiet)
        printf("risq run: suite '%s' (%s), %d configurations, run %lld in %s\n", s->name, s->file, ncfg,
               (long long)run_id, o.db);
    print_header();

    int failed = 0;
    /* Per (model, dataset): the model, its dataset and FP32 accuracy are
    ** computed once and shared by that pair's configurations. */
    lavt_model *model = NULL;
    int cur_model = -1, cur_dataset = -1;
    char model_hash[17] = "", dataset_hash[17] = "", model_err[2048] = "", data_err[2048] = "";
    ds_dataset *data = NULL;
    double acc_vals[MT_NMETRICS];
    int nexpr = 0, acc_ok = 0;
    char acc_err[2048] = "";

    for (int ci = 0; ci < ncfg && !interrupted; ci++) {
        const suite_config *c = &cfgs[ci];
        char started[32];
        store_now_utc(started);
        if (c->model != cur_model) {
            lavt_free(model);
            model = NULL;
            cur_model = c->model;
            cur_dataset = -1;
            char dir[2048];
            model_err[0] = 0;
            if (resolve_model(s->models[c->model], o.zoo, s->file, dir, sizeof dir)) {
                snprintf(model_err, sizeof model_err,
                         "model '%s' not found (looked in --zoo, $RISQ_ZOO, models/zoo and next to the suite)",
                         s->models[c->model]);
            } else if (lavt_load(dir, &model, model_err, sizeof model_err) == 0) {
                const lavt_config *mc = lavt_get_config(model);
                uint64_t h = 0xCBF29CE484222325ull;
                char p[2400];
                snprintf(p, sizeof p, "%s/model.yaml", dir);
                hash_file(p, &h);
                snprintf(p, sizeof p, "%s/%s", dir, mc->weights_file);
                hash_file(p, &h);
                snprintf(p, sizeof p, "%s/%s", dir, mc->vocab_file);
                hash_file(p, &h);
                snprintf(model_hash, sizeof model_hash, "%016llx", (unsigned long long)h);
            }
        }
        if (c->dataset != cur_dataset) {
            ds_free(data);
            data = NULL;
            cur_dataset = c->dataset;
            const suite_dataset *sd = &s->datasets[c->dataset];
            data_err[0] = 0;
            int drc = sd->is_synth ? synth_generate(&sd->synth, sd->split, &data, data_err, sizeof data_err)
                                   : ds_load(sd->path, sd->split, &data, data_err, sizeof data_err);
            if (drc == 0)
                snprintf(dataset_hash, sizeof dataset_hash, "%016llx", (unsigned long long)ds_hash(data));
            acc_ok = 0;
            acc_err[0] = 0;
            if (model && data) {
                evalctx e;
                mt_acc acc;
                int threads = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
                if (evalctx_init(&e, model, threads)) {
                    snprintf(acc_err, sizeof acc_err, "out of memory preparing the accuracy pass");
                } else if (accuracy_pass(&e, data, &acc, acc_err, sizeof acc_err) == 0) {
                    for (int k = 0; k < MT_NMETRICS; k++) acc_vals[k] = mt_value(&acc, k);
                    nexpr = (int)mt_count(&acc);
                    acc_ok = 1;
                }
                evalctx_free(&e);
            }
        }

        const char *method = s->methods[c->method];
        const char *bits = c->bits < 0 ? "fp32" : s->bits[c->bits];
        /* isa auto and scalar both mean the portable C kernels, the only
        ** path built so far. */
        const char *isa = "scalar";
        const char *error = model_err[0] ? model_err : data_err[0] ? data_err : !acc_ok ? acc_err : NULL;

        latency lat = {NAN, NAN, NAN, NAN};
        double *samples = NULL;
        long faults = -1;
        char speed_err[2048] = "";
        if (!error) {
            /* Speed pass: one expression, warm-up then timed repetitions. */
            evalctx e;
            samples = calloc((size_t)s->repetitions, sizeof *samples);
            if (!samples || evalctx_init(&e, model, c->threads)) {
                snprintf(speed_err, sizeof speed_err, "out of memory preparing the speed pass");
            } else {
                const ds_sample *smp = &data->samples[0];
                const ds_image *im = &data->images[smp->image];
                struct rusage r0, r1;
                for (int w = 0; w < s->warmup && !speed_err[0]; w++)
                    predict(&e, im, smp->sentences[0], 0, speed_err, sizeof speed_err);
                getrusage(RUSAGE_SELF, &r0);
                for (int r = 0; r < s->repetitions && !speed_err[0] && !interrupted; r++) {
                    double t0 = now_ms();
                    if (predict(&e, im, smp->sentences[0], 0, speed_err, sizeof speed_err)) break;
                    samples[r] = now_ms() - t0;
                }
                getrusage(RUSAGE_SELF, &r1);
                faults = (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt);
                if (interrupted && !speed_err[0]) snprintf(speed_err, sizeof speed_err, "interrupted");
                evalctx_free(&e);
            }
            if (speed_err[0]) error = speed_err;
            else lat = summarise(samples, s->repetitions);
        }

        store_metric m[MT_NMETRICS + 12];
        int nm = 0;
        for (int k = 0; k < MT_NMETRICS; k++)
            m[nm++] = (store_metric){mt_metrics[k].name, acc_ok ? acc_vals[k] : NAN, !acc_ok, mt_metrics[k].unit};
        m[nm++] = (store_metric){"expressions", nexpr, !acc_ok, "count"};
        m[nm++] = (store_metric){"latency_ms", lat.median, isnan(lat.median), "ms"};
        m[nm++] = (store_metric){"latency_p90_ms", lat.p90, isnan(lat.p90), "ms"};
        m[nm++] = (store_metric){"latency_min_ms", lat.min, isnan(lat.min), "ms"};
        m[nm++] = (store_metric){"latency_mad_ms", lat.mad, isnan(lat.mad), "ms"};
        /* No PAPI yet: cycles and instructions are unavailable (NULL). */
        m[nm++] = (store_metric){"cycles", NAN, 1, "count"};
        m[nm++] = (store_metric){"instructions", NAN, 1, "count"};
        m[nm++] = (store_metric){"page_faults", (double)faults, faults < 0, "count"};
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        /* Peak RSS of the whole risq process so far (per-configuration
        ** isolation in child processes comes with the full harness). */
        m[nm++] = (store_metric){"peak_rss_kb", (double)ru.ru_maxrss, 0, "kB"};
        m[nm++] = (store_metric){"weight_bytes", model ? (double)lavt_weight_bytes(model) : NAN, !model, "bytes"};
        m[nm++] = (store_metric){"arena_bytes", model ? (double)lavt_arena_bytes(model) : NAN, !model, "bytes"};

        store_sample *smp = NULL;
        int ns = 0;
        if (!error && (smp = calloc((size_t)s->repetitions, sizeof *smp)))
            for (; ns < s->repetitions; ns++) smp[ns] = (store_sample){"latency_ms", ns, samples[ns]};
        char finished[32];
        store_now_utc(finished);
        store_config sc = {s->models[c->model], model_hash[0] ? model_hash : NULL, s->datasets[c->dataset].label,
                           dataset_hash[0] ? dataset_hash : NULL, method, bits, isa, c->threads,
                           error ? "failed" : "ok", error, "timer", started, finished};
        /* A failed configuration is stored with its error and no metrics:
        ** it shows once in v_results, with NULL metric and value. */
        if (store_add_config(db, run_id, &sc, m, error ? 0 : nm, smp, ns, NULL, err, sizeof err)) {
            fprintf(stderr, "risq run: %s\n", err);
            failed++;
        }
        print_row(s->models[c->model], s->datasets[c->dataset].label, method, bits, isa, c->threads,
                  acc_ok ? acc_vals : NULL, error ? NULL : &lat, error ? "FAILED" : "ok");
        if (error) {
            fprintf(stderr, "  %s\n", error);
            failed++;
        }
        free(samples);
        free(smp);
    }

    const char *status = interrupted ? "interrupted" : failed ? "failed" : "ok";
    if (store_end_run(db, run_id, status, err, sizeof err)) fprintf(stderr, "risq run: %s\n", err);
    if (!o.quiet) printf("risq run: run %lld %s (%d failed); results in %s\n", (long long)run_id, status, failed, o.db);
    lavt_free(model);
    ds_free(data);
    store_close(db);
    free(cfgs);
    suite_free(s);
    return interrupted || failed ? 1 : 0;
}
