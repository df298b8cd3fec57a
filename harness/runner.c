/*
** runner: `risq run` and `risq merge` (see runner.h).
**
** Data flow (DESIGN.md "Data flow"): load and expand the suite; per model
** and dataset (both loaded in this process, shared with the children by
** fork) one FP32 accuracy pass over every expression, run as its own child
** job and reused by that pair's configurations; it also writes every
** expression's logits, the reference of the quantized passes.  Per
** quantized (method, bits) a child calibrates (calib_s), runs the simulated
** model over the split (accuracy, fp_agreement, logit_sqnr_db against the
** reference) and sends back the quantizer parameters as JSON.  Per
** configuration (method x bits x target x threads) a speed pass (warm-up,
** then timed repetitions with the counters of harness/measure.h) in a child
** of its own, with those parameters installed.
**
** Speed-only models (random weights, lavt_speed_only(): e.g. lavt-b-shapes)
** get no accuracy jobs: their accuracy metrics, expressions, fp_agreement
** and logit_sqnr_db are stored as NULL (not available) and the table says
** "ok (speed only)"; a quantized method still calibrates on the calibration
** split (its quantizer ranges and calib_s), then the speed passes run.
**
** Isolation: every job runs in a forked child with the suite's time limit
** (timeout_s, --timeout overrides).  The child sends its result as one JSON
** record through a pipe and _exits; the parent reads it, reaps the child
** with wait4 (its peak RSS is the configuration's peak_rss_kb) and stores
** the configuration in its own transaction.  A crash, a signal, a non-zero
** exit or a timeout (SIGKILL at the limit) is stored as a failed
** configuration with its reason and the suite goes on.  SIGINT/SIGTERM
** kill the child in flight (which is not stored), mark the run
** 'interrupted' and give exit status 1.  Children die with the parent
** (PR_SET_PDEATHSIG), so `kill -9` of risq leaves no orphans.
**
** Test hooks (for tests/harness/test_cli_run.sh only): the environment
** variables RISQ_TEST_CRASH, RISQ_TEST_SLEEP and RISQ_TEST_EXIT, each set to
** a configuration index (0-based, expansion order), make that
** configuration's child raise SIGSEGV, sleep forever or _exit(3) before it
** measures anything.
*/
#include "harness/runner.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "datasets/dataset.h"
#include "datasets/synth.h"
#include "harness/evaluate.h"
#include "harness/measure.h"
#include "harness/metrics.h"
#include "harness/stats.h"
#include "harness/store.h"
#include "harness/suite.h"
#include "kernels/isa.h"
#include "kernels/ops_f32.h"
#include "kernels/threadpool.h"
#include "models/lavt.h"
#include "models/quantize.h"
#include "models/tokenizer.h"


#define DEFAULT_SUITE "suites/smoke.yaml"
#define DEFAULT_TIMEOUT_S 600.0

static const char usage[] =
    "usage: risq run [SUITE] [--db PATH] [--board NAME] [--zoo DIR]\n"
    "                [--counters auto|hardware|software|timer] [--timeout S] [--quiet]\n"
    "\n"
    "Run every configuration of SUITE (default " DEFAULT_SUITE "): per model and\n"
    "dataset an FP32 accuracy pass (miou, oiou, prec@0.5..0.9 over every referring\n"
    "expression); per quantized method and bits a calibration (calib_s) and an\n"
    "accuracy pass of the quantized model (plus fp_agreement and logit_sqnr_db\n"
    "against FP32; int:METHOD runs on the integer kernels and also stores\n"
    "sim_agreement and sim_miou against the simulated pass); then per method,\n"
    "bits, target and thread count a speed pass (warm-up, then timed\n"
    "repetitions with counters) on the target's isa (auto: the best this CPU\n"
    "runs, stored under its name). Each job runs in a child\n"
    "process with a time limit; a crash or timeout is stored as a failed\n"
    "configuration and the suite goes on. Prints a results table and appends the\n"
    "run to the SQLite history, one transaction per finished configuration.\n"
    "\n"
    "  --db PATH      results history (default " STORE_DEFAULT_PATH ")\n"
    "  --board NAME   board name recorded with the machine identity and the run\n"
    "  --zoo DIR      where model names are looked up (default: $RISQ_ZOO,\n"
    "                 then models/zoo, then ../models/zoo next to the suite)\n"
    "  --counters T   counter tier: auto (default: the best available),\n"
    "                 hardware (PAPI cycles, instructions, cache misses),\n"
    "                 software (perf task-clock, page faults, context switches)\n"
    "                 or timer (wall time only); forcing an unavailable tier is\n"
    "                 an error\n"
    "  --timeout S    time limit of each job in seconds (default: the suite's\n"
    "                 timeout_s, else 600)\n"
    "  -q, --quiet    print only the final table (no progress line)\n"
    "\n"
    "exit status: 0 all configurations ran, 1 some failed or the run was\n"
    "interrupted, 2 usage, suite or database errors\n";

static const char usage_merge[] =
    "usage: risq merge [--db MAIN] OTHER.sqlite...\n"
    "\n"
    "Bring the runs of other results histories (e.g. from other machines or CI\n"
    "jobs) into MAIN, with their configurations, metrics, raw samples, machine\n"
    "and build rows, and the baselines MAIN does not define yet. Runs are\n"
    "matched by their uuid, so merging a file again adds nothing. Each OTHER is\n"
    "merged in one transaction and only read; a file that is not a risq history,\n"
    "or has a newer schema, is refused.\n"
    "\n"
    "  --db MAIN      history to merge into (default " STORE_DEFAULT_PATH ")\n"
    "\n"
    "exit status: 0 every file merged, 2 usage or a file refused\n";

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

typedef struct latency { double median, p90, min, mad; } latency;

/* Summary of raw samples (definitions in stats.c, shared with compare). */
static latency summarise(const double *samples, int n)
{
    latency l = {stats_median(samples, n), stats_p90(samples, n), stats_quantile(samples, n, 0.0),
                 stats_mad(samples, n)};
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

/* -------------------------------------------------------- child jobs --- */

/* A job runs in a forked child: it fills the JSON record rec and returns
** 0, or returns -1 with a message in err. */
typedef int (*job_fn)(void *ctx, json_t *rec, char *err, size_t errlen);

/* What the parent learnt about one child job. */
typedef struct jobres {
    int ok;                     /* the child sent a record and exited 0 */
    char reason[2048];          /* why not, for config.error */
    const char *exit_reason;    /* "ok", "error", "signal", "timeout", "exit",
                                ** "interrupted" */
    json_t *rec;                /* the child's record (NULL when none) */
    struct rusage ru;           /* the child's resource usage (wait4) */
} jobres;

/* JSON number, or null for NaN (jansson has no NaN). */
static json_t *jnum(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static double jget(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Index named by environment variable `name`, or -2 when unset. */
static int test_hook(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : -2;
}

/* Child side: never returns. */
static void job_child(job_fn fn, void *ctx, int fd, pid_t parent, int hook_index)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);   /* the parent is already gone */
    if (hook_index >= 0) {
        if (test_hook("RISQ_TEST_CRASH") == hook_index) {
            signal(SIGSEGV, SIG_DFL);   /* a real death by signal, even under ASan */
            raise(SIGSEGV);
        }
        if (test_hook("RISQ_TEST_EXIT") == hook_index) _exit(3);
        if (test_hook("RISQ_TEST_SLEEP") == hook_index)
            for (;;) pause();
    }
    json_t *rec = json_object();
    char err[2048] = "";
    int rc = rec ? fn(ctx, rec, err, sizeof err) : -1;
    if (!rec) {
        rec = json_object();
        snprintf(err, sizeof err, "out of memory in the child");
    }
    if (rc) json_object_set_new(rec, "error", json_string(err[0] ? err : "unknown error"));
    char *txt = json_dumps(rec, JSON_COMPACT);
    size_t len = txt ? strlen(txt) : 0, off = 0;
    while (off < len) {
        ssize_t w = write(fd, txt + off, len - off);
        if (w > 0) off += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else break;
    }
    _exit(off == len && txt ? (rc ? 3 : 0) : 4);
}

static void describe_signal(int sig, char *out, size_t n)
{
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) snprintf(out, n, "killed by signal %d (SIG%s)", sig, abbrev);
    else snprintf(out, n, "killed by signal %d", sig);
}

/* Run fn in a child with a time limit; fill *r.  hook_index is the
** configuration index the RISQ_TEST_* hooks compare with (-1: none). */
static void run_job(job_fn fn, void *ctx, double timeout_s, int hook_index, jobres *r)
{
    memset(r, 0, sizeof *r);
    r->exit_reason = "exit";
    int pfd[2];
    if (pipe(pfd) != 0) {
        snprintf(r->reason, sizeof r->reason, "cannot create a pipe for the child: %s", strerror(errno));
        r->exit_reason = "error";
        return;
    }
    fflush(NULL);   /* nothing buffered may be written twice by the child */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->reason, sizeof r->reason, "cannot fork the configuration's child: %s", strerror(errno));
        r->exit_reason = "error";
        close(pfd[0]);
        close(pfd[1]);
        return;
    }
    if (pid == 0) {
        close(pfd[0]);
        job_child(fn, ctx, pfd[1], parent, hook_index);
    }
    close(pfd[1]);

    double deadline = now_ms() + timeout_s * 1e3;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int killed = 0, timed_out = 0, status = 0, reaped = 0;
    for (;;) {
        if (interrupted) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        double left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = timed_out = 1;
            break;
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int pr = poll(&p, 1, left > 200 ? 200 : (int)left + 1);
        if (pr < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pr == 0) continue;
        if (len + 4096 > cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, ncap);
            if (!nb) break;
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(pfd[0], buf + len, cap - len - 1);
        if (got > 0) len += (size_t)got;
        else if (got < 0 && errno == EINTR) continue;
        else break;   /* EOF: the child closed its end (exited) */
    }
    close(pfd[0]);
    /* After EOF the child is exiting; still honour the limit and Ctrl-C. */
    while (!killed) {
        pid_t w = wait4(pid, &status, WNOHANG, &r->ru);
        if (w == pid) {
            reaped = 1;
            break;
        }
        if (w < 0 && errno != EINTR) break;
        if (interrupted || now_ms() >= deadline) {
            kill(pid, SIGKILL);
            killed = 1;
            timed_out = !interrupted;
            break;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!reaped)
        while (wait4(pid, &status, 0, &r->ru) < 0 && errno == EINTR) {}

    if (buf && len > 0) {
        buf[len] = 0;
        json_error_t jerr;
        r->rec = json_loadb(buf, len, 0, &jerr);
    }
    free(buf);
    if (interrupted) {
        r->exit_reason = "interrupted";
        snprintf(r->reason, sizeof r->reason, "interrupted");
    } else if (timed_out) {
        r->exit_reason = "timeout";
        snprintf(r->reason, sizeof r->reason, "timed out after %g s", timeout_s);
    } else if (WIFSIGNALED(status)) {
        r->exit_reason = "signal";
        describe_signal(WTERMSIG(status), r->reason, sizeof r->reason);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && r->rec) {
        r->ok = 1;
        r->exit_reason = "ok";
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 3 && r->rec &&
               json_is_string(json_object_get(r->rec, "error"))) {
        r->exit_reason = "error";
        snprintf(r->reason, sizeof r->reason, "%s", json_string_value(json_object_get(r->rec, "error")));
    } else {
        r->exit_reason = "exit";
        snprintf(r->reason, sizeof r->reason, "the child exited with status %d without a result",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (!r->ok) {
        json_decref(r->rec);
        r->rec = NULL;
    }
}

/* Threads of the accuracy passes: accuracy does not depend on them. */
static int acc_threads(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
}

/* Per-expression IoUs (0..1) of an accuracy pass: n of them go into the job's
** record as "iou", and the parent stores them as samples named "iou" (what
** `risq report` pairs two methods on). */
static double *iou_alloc(const ds_dataset *d, char *err, size_t errlen)
{
    int64_t n = ev_expressions(d);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) snprintf(err, errlen, "out of memory keeping %lld expressions' IoU", (long long)n);
    return v;
}

static int iou_put(json_t *rec, const double *v, int64_t n, char *err, size_t errlen)
{
    json_t *a = json_array();
    for (int64_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(v[i]))) {
            json_decref(a);
            a = NULL;
        }
    if (!a || json_object_set_new(rec, "iou", a)) {
        snprintf(err, errlen, "out of memory sending %lld expressions' IoU", (long long)n);
        return -1;
    }
    return 0;
}

/* The record's "iou" array when it has exactly n numbers, else NULL. */
static double *iou_get(const json_t *rec, int n)
{
    const json_t *a = json_object_get(rec, "iou");
    if (n < 1 || !json_is_array(a) || json_array_size(a) != (size_t)n) return NULL;
    double *v = malloc((size_t)n * sizeof *v);
    for (int i = 0; v && i < n; i++) {
        const json_t *x = json_array_get(a, (size_t)i);
        if (!json_is_number(x)) {
            free(v);
            return NULL;
        }
        v[i] = json_number_value(x);
    }
    return v;
}

/* The FP32 accuracy job of one (model, dataset) pair; it also writes every
** expression's logits to ref_path, the reference of the quantized passes. */
typedef struct acc_job {
    lavt_model *model;
    const ds_dataset *data;
    const char *ref_path;
} acc_job;

static int acc_job_fn(void *ctx, json_t *rec, char *err, size_t errlen)
{
    acc_job *j = ctx;
    ev_ctx e;
    mt_acc acc;
    int rc = -1;
    double *iou = iou_alloc(j->data, err, errlen);
    if (!iou) return -1;
    FILE *ref = fopen(j->ref_path, "wb");
    if (!ref) {
        snprintf(err, errlen, "%s: cannot write the fp32 reference: %s", j->ref_path, strerror(errno));
        free(iou);
        return -1;
    }
    /* an fp32 process: hold the weights once, packed (lavt.h) */
    if (lavt_release_weights(j->model, err, errlen)) {
        memset(&e, 0, sizeof e);
    } else if (ev_init(&e, j->model, acc_threads())) {
        snprintf(err, errlen, "out of memory preparing the accuracy pass");
    } else if (ev_accuracy(&e, j->data, &acc, ref, NULL, NULL, iou, &interrupted, err, errlen) == 0) {
        for (int k = 0; k < MT_NMETRICS; k++) json_object_set_new(rec, mt_metrics[k].name, jnum(mt_value(&acc, k)));
        json_object_set_new(rec, "expressions", json_integer(mt_count(&acc)));
        rc = iou_put(rec, iou, mt_count(&acc), err, errlen);
    }
    free(iou);
    if (fclose(ref) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: cannot write the fp32 reference (disk full?)", j->ref_path);
        rc = -1;
    }
    ev_free(&e);
    return rc;
}

/* The accuracy job of one quantized (method, bits) on a pair: calibrate
** (timed: calib_s), install simulated execution, accuracy pass compared with
** the fp32 reference.  The quantizer parameters go back to the parent as
** JSON for the speed jobs. */
typedef struct quant_job {
    lavt_model *model;
    const ds_dataset *data;
    const float *ref;                 /* fp32 logits per expression */
    const suite *s;
    const suite_dataset *sd;
    const char *method;
    qm_bits bits;
    int speed_only;                   /* random weights: calibrate, no accuracy pass */
} quant_job;

/* Integer recipes: the simulated pass of the same quantizers first, its
** logits into *buf (malloc'd, *n floats) and its mIoU into *miou, so the
** integer pass can be checked against its own reference semantics. */
static int sim_pass(quant_job *j, qm_state *q, float **buf, size_t *n, double *miou, char *err,
                    size_t errlen)
{
    char *mem = NULL;
    size_t len = 0;
    ev_ctx e;
    mt_acc acc;
    int rc = -1;
    memset(&e, 0, sizeof e);
    qm_set_exec(q, QM_EXEC_SIM);
    FILE *f = open_memstream(&mem, &len);
    if (!f) {
        snprintf(err, errlen, "out of memory keeping the simulated pass's logits");
    } else if (qm_apply(j->model, q, err, errlen) == 0) {
        if (ev_init(&e, j->model, acc_threads()))
            snprintf(err, errlen, "out of memory preparing the simulated accuracy pass");
        else if (ev_accuracy(&e, j->data, &acc, f, NULL, NULL, NULL, &interrupted, err, errlen) == 0)
            rc = 0;
        ev_free(&e);
        qm_detach(j->model);
    }
    if (f && fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "out of memory keeping the simulated pass's logits");
        rc = -1;
    }
    qm_set_exec(q, QM_EXEC_INT);
    if (rc) {
        free(mem);
        return -1;
    }
    *buf = (float *)(void *)mem;
    *n = len / sizeof(float);
    *miou = mt_value(&acc, MT_MIOU);
    return 0;
}

static int quant_job_fn(void *ctx, json_t *rec, char *err, size_t errlen)
{
    quant_job *j = ctx;
    qm_recipe r;
    if (suite_recipe_of(j->s, j->method, &r)) {
        snprintf(err, errlen, "unknown method '%s'", j->method);
        return -1;
    }
    /* the calibration split: for a synthetic dataset the generator's output
    ** for seed + EV_CALIB_SEED_OFFSET, else the folder's calibration split */
    ds_dataset *cd = NULL;
    int drc;
    if (j->sd->is_synth) {
        synth_params p = j->sd->synth;
        p.seed += EV_CALIB_SEED_OFFSET;
        p.count = j->s->calib_samples;
        drc = synth_generate(&p, j->s->calib_split, &cd, err, errlen);
    } else {
        drc = ds_load(j->sd->path, j->s->calib_split, &cd, err, errlen);
    }
    if (drc) return -1;
    ev_calib cal;
    int rc = ev_calib_build(j->model, cd, j->s->calib_samples, &cal, err, errlen);
    ds_free(cd);
    if (rc) return -1;
    qm_state *q = NULL;
    double t0 = now_ms();
    rc = qm_calibrate(j->model, &r, j->bits, cal.s, cal.n, &q, err, errlen);
    double calib_s = (now_ms() - t0) / 1e3;
    ev_calib_free(&cal);
    if (rc) return -1;
    ev_ctx e;
    mt_acc acc;
    ev_agree ag;
    /* integer execution: the simulated pass first (sim_agreement) */
    int integer = r.exec == QM_EXEC_INT && !j->speed_only;
    float *simlg = NULL;
    char *intmem = NULL;
    size_t nsim = 0, intlen = 0;
    double sim_miou = NAN;
    FILE *fint = NULL;
    double *iou = j->speed_only ? NULL : iou_alloc(j->data, err, errlen);
    if (!j->speed_only && !iou) {
        qm_free(q);
        return -1;
    }
    if (integer && (sim_pass(j, q, &simlg, &nsim, &sim_miou, err, errlen) ||
                    !(fint = open_memstream(&intmem, &intlen)))) {
        if (!err[0]) snprintf(err, errlen, "out of memory keeping the integer pass's logits");
        free(simlg);
        free(iou);
        qm_free(q);
        return -1;
    }
    rc = -1;
    if (qm_apply(j->model, q, err, errlen) == 0) {
        memset(&e, 0, sizeof e);
        if (j->speed_only) {
            /* random weights: no accuracy, no agreement (absent = NULL) */
            rc = 0;
        } else if (ev_init(&e, j->model, acc_threads())) {
            snprintf(err, errlen, "out of memory preparing the accuracy pass");
        } else if (ev_accuracy(&e, j->data, &acc, fint, j->ref, &ag, iou, &interrupted, err, errlen) == 0 &&
                   !qm_exec_error(q)) {
            for (int k = 0; k < MT_NMETRICS; k++)
                json_object_set_new(rec, mt_metrics[k].name, jnum(mt_value(&acc, k)));
            json_object_set_new(rec, "expressions", json_integer(mt_count(&acc)));
            json_object_set_new(rec, "fp_agreement", jnum(ev_fp_agreement(&ag)));
            double sq = ev_logit_sqnr_db(&ag);
            json_object_set_new(rec, "logit_sqnr_db", jnum(isinf(sq) ? NAN : sq));
            rc = iou_put(rec, iou, mt_count(&acc), err, errlen);
            if (rc == 0 && integer) {
                /* the masks of the integer pass against the simulated pass's */
                rc = -1;
                if (fclose(fint) != 0 || intlen / sizeof(float) != nsim) {
                    snprintf(err, errlen, "out of memory keeping the integer pass's logits");
                } else {
                    ev_agree as;
                    memset(&as, 0, sizeof as);
                    ev_agree_logits(&as, lavt_get_config(j->model), (const float *)(void *)intmem, simlg,
                                    nsim / ev_ref_floats(lavt_get_config(j->model)));
                    json_object_set_new(rec, "sim_agreement", jnum(ev_pixel_agreement(&as)));
                    json_object_set_new(rec, "sim_miou", jnum(sim_miou));
                    rc = 0;
                }
                fint = NULL;
            }
        }
        if (rc == 0) {
            rc = -1;
            json_object_set_new(rec, "calib_s", json_real(calib_s));
            json_object_set_new(rec, "weight_bytes", json_integer((json_int_t)qm_weight_bytes(j->model, q)));
            char *st = qm_state_to_json(j->model, q);
            if (st) {
                json_object_set_new(rec, "state", json_string(st));
                free(st);
                rc = 0;
            } else {
                snprintf(err, errlen, "out of memory writing the quantizer parameters");
            }
        }
        ev_free(&e);
        if (qm_exec_error(q)) snprintf(err, errlen, "%s", qm_exec_error(q));
    }
    if (fint) fclose(fint);
    free(intmem);
    free(simlg);
    free(iou);
    qm_detach(j->model);
    qm_free(q);
    return rc;
}

/* This process's resident set now (VmRSS), kB; -1 when unreadable. */
static long self_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (kb < 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) != 1) kb = -1;
    fclose(f);
    return kb;
}

/* The speed job of one configuration. */
typedef struct speed_job {
    lavt_model *model;
    const ds_dataset *data;
    int threads, warmup, repetitions, counters;
    const char *qstate;   /* quantizer parameters (JSON), NULL for fp32 */
    ki_isa isa;           /* kernel variant (supported: checked by the parent) */
} speed_job;

static int speed_job_fn(void *ctx, json_t *rec, char *err, size_t errlen)
{
    speed_job *j = ctx;
    measure *mz = NULL;
    if (ki_isa_set(j->isa, err, errlen)) return -1;
    ev_ctx e;
    qm_state *q = NULL;
    int rc = -1, n = j->repetitions;
    measure_reading *rd = calloc((size_t)n, sizeof *rd);
    if (!rd) {
        snprintf(err, errlen, "out of memory preparing the speed pass");
        return -1;
    }
    if (measure_open(j->counters, &mz, err, errlen)) {
        free(rd);
        return -1;
    }
    memset(&e, 0, sizeof e);
    /* each layer held once, as a deployment would: packed for this ISA
    ** before any timing, or only the integer hook's codes; the loaded fp32
    ** copies go as each layer is set up (quantize.h) */
    if (j->qstate && qm_state_from_json(j->model, j->qstate, &q, err, errlen))
        goto out;
    if (qm_apply_final(j->model, q, err, errlen))
        goto out;
    if (ev_init(&e, j->model, j->threads)) {
        snprintf(err, errlen, "out of memory preparing the speed pass");
        goto out;
    }
    const ds_sample *smp = &j->data->samples[0];
    const ds_image *im = &j->data->images[smp->image];
    for (int w = 0; w < j->warmup; w++)
        if (ev_predict(&e, im, smp->sentences[0], 0, err, errlen)) goto out;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    for (int r = 0; r < n; r++) {
        if (measure_begin(mz, err, errlen)) goto out;
        if (ev_predict(&e, im, smp->sentences[0], 0, err, errlen)) goto out;
        if (measure_end(mz, &rd[r], err, errlen)) goto out;
    }
    getrusage(RUSAGE_SELF, &r1);
    long rss = self_rss_kb();
    if (qm_exec_error(q)) {
        snprintf(err, errlen, "%s", qm_exec_error(q));
        goto out;
    }

    json_object_set_new(rec, "tier", json_string(measure_tier_name(measure_get_tier(mz))));
    json_t *lat = json_array(), *ctr = json_object();
    for (int r = 0; r < n; r++) json_array_append_new(lat, json_real(rd[r].elapsed_ms));
    json_object_set_new(rec, "latency_ms", lat);
    for (int k = 0; k < MEASURE_NCOUNTERS; k++) {
        if (n == 0 || isnan(rd[0].counter[k])) continue;   /* not counted by this tier */
        json_t *a = json_array();
        for (int r = 0; r < n; r++) json_array_append_new(a, jnum(rd[r].counter[k]));
        json_object_set_new(ctr, measure_counter_name(k), a);
    }
    json_object_set_new(rec, "counters", ctr);
    json_object_set_new(rec, "page_faults",
                        json_integer((r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt)));
    json_object_set_new(rec, "weight_bytes", json_integer((json_int_t)qm_weight_bytes(j->model, q)));
    json_object_set_new(rec, "arena_bytes", json_integer((json_int_t)lavt_arena_bytes(j->model)));
    if (rss >= 0) json_object_set_new(rec, "rss_kb", json_integer(rss));
    rc = 0;
out:
    ev_free(&e);
    qm_detach(j->model);
    qm_free(q);
    measure_close(mz);
    free(rd);
    return rc;
}

/* ------------------------------------------------------------- output --- */

static void print_header(void)
{
    printf("%-12s %-24s %-15s %-5s %-6s %3s %7s %7s %7s %7s %7s %7s %7s %11s %9s %s\n", "model", "dataset",
           "method", "bits", "isa", "thr", "miou", "oiou", "p@0.5", "p@0.6", "p@0.7", "p@0.8", "p@0.9",
           "latency_ms", "mad_ms", "status");
}

static void print_row(const char *model, const char *dataset, const char *method, const char *bits,
                      const char *isa, int threads, const double *acc, const latency *lat,
                      const char *status)
{
    printf("%-12s %-24s %-15s %-5s %-6s %3d", model, dataset, method, bits, isa, threads);
    for (int k = 0; k < MT_NMETRICS; k++) printf(" %7.2f", acc ? acc[k] : NAN);
    printf(" %11.3f %9.3f %s\n", lat ? lat->median : NAN, lat ? lat->mad : NAN, status);
    fflush(stdout);
}

/* Progress on a terminal: one line on stderr, rewritten with \r.  No
** colour is used, so NO_COLOR needs nothing. */
typedef struct progress {
    int on, width, total;
    double t0;
} progress;

static void progress_clear(progress *p)
{
    if (!p->on || !p->width) return;
    fprintf(stderr, "\r%*s\r", p->width, "");
    fflush(stderr);
    p->width = 0;
}

static void fmt_dur(double s, char *out, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

static void progress_show(progress *p, int done, const char *what)
{
    if (!p->on) return;
    char el[32], eta[32] = "?", line[512];
    double elapsed = (now_ms() - p->t0) / 1e3;
    fmt_dur(elapsed, el, sizeof el);
    if (done > 0) fmt_dur(elapsed / done * (p->total - done), eta, sizeof eta);
    int w = snprintf(line, sizeof line, "[%d/%d] %s  elapsed %s  ETA %s", done, p->total, what, el, eta);
    if (w > 150) {   /* keep it on one terminal line */
        line[150] = 0;
        w = 150;
    }
    int old = p->width;
    fprintf(stderr, "\r%s%*s", line, old > w ? old - w : 0, "");
    fflush(stderr);
    p->width = w > old ? w : old;
}

/* --------------------------------------------------------------- main --- */

typedef struct runopts {
    const char *suite_path, *db, *board, *zoo;
    int quiet, counters;
    double timeout_s;   /* <= 0: the suite's */
} runopts;

static int parse_args(int argc, char **argv, runopts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"board", required_argument, 0, 'b'},
        {"zoo", required_argument, 0, 'z'}, {"quiet", no_argument, 0, 'q'},
        {"counters", required_argument, 0, 'c'}, {"timeout", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->suite_path = DEFAULT_SUITE;
    o->db = STORE_DEFAULT_PATH;
    o->counters = MEASURE_AUTO;
    optind = 1;
    int c;
    char err[256], *end;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'b': o->board = optarg; break;
        case 'z': o->zoo = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'c':
            if (measure_parse_tier(optarg, &o->counters, err, sizeof err)) {
                fprintf(stderr, "risq run: %s\n", err);
                return 2;
            }
            break;
        case 't':
            o->timeout_s = strtod(optarg, &end);
            if (!*optarg || *end || !(o->timeout_s > 0) || o->timeout_s > 7 * 86400) {
                fprintf(stderr, "risq run: --timeout: '%s' is not a number of seconds in (0, 604800]\n", optarg);
                return 2;
            }
            break;
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

/* Per (model, dataset) pair: what the configurations of the pair share. */
typedef struct pairstate {
    lavt_model *model;
    ds_dataset *data;
    int cur_model, cur_dataset;
    char model_hash[17], dataset_hash[17];
    char model_err[2048], data_err[2048], acc_err[2200];
    const char *acc_exit;          /* exit_reason of a failed accuracy job */
    double acc[MT_NMETRICS];
    double *iou;                   /* fp32: each expression's IoU (nexpr); NULL once stored */
    int nexpr, acc_ok;
    int speed_only;                /* random weights (lavt_speed_only): no accuracy jobs */
    float *ref;                    /* fp32 logits of every expression */
    /* the current quantized (method, bits) of the pair */
    int cur_method, cur_bits;
    int q_ok;
    char q_err[2200];
    const char *q_exit;
    double q_acc[MT_NMETRICS], q_agree, q_sqnr, q_calib_s, q_weight_bytes, q_sim_agree, q_sim_miou;
    double *q_iou;                 /* each expression's IoU (nexpr); NULL once stored */
    char *q_state;                 /* quantizer parameters (JSON) */
} pairstate;

/* Read the fp32 reference logits the accuracy job wrote (n floats). */
static float *read_ref(const char *path, size_t n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    float *v = malloc((n ? n : 1) * sizeof(float));
    if (!f || !v || fread(v, sizeof(float), n, f) != n) {
        snprintf(err, errlen, "%.1024s: cannot read the fp32 reference logits", path);
        free(v);
        v = NULL;
    }
    if (f) fclose(f);
    return v;
}

/* Calibrate and evaluate the quantized (method, bits) of configuration c, in
** a child job, once per (model, dataset, method, bits). */
static void prepare_quant(pairstate *ps, const suite *s, const suite_config *c, double timeout_s)
{
    if (c->method == ps->cur_method && c->bits == ps->cur_bits) return;
    ps->cur_method = c->method;
    ps->cur_bits = c->bits;
    free(ps->q_state);
    ps->q_state = NULL;
    free(ps->q_iou);
    ps->q_iou = NULL;
    ps->q_ok = 0;
    ps->q_err[0] = 0;
    ps->q_exit = "error";
    const char *method = s->methods[c->method];
    if (!strcmp(method, "fp32") || !ps->acc_ok) return;
    quant_job j = {ps->model, ps->data, ps->ref, s, &s->datasets[c->dataset], method, {8, 8},
                   ps->speed_only};
    if (qm_bits_parse(s->bits[c->bits], &j.bits)) {
        snprintf(ps->q_err, sizeof ps->q_err, "bit setting '%s' is not WxAy with 2 <= x, y <= 8",
                 s->bits[c->bits]);
        return;
    }
    jobres r;
    run_job(quant_job_fn, &j, timeout_s, -1, &r);
    if (r.ok) {
        for (int k = 0; k < MT_NMETRICS; k++) ps->q_acc[k] = jget(r.rec, mt_metrics[k].name);
        ps->q_agree = jget(r.rec, "fp_agreement");
        ps->q_sqnr = jget(r.rec, "logit_sqnr_db");
        ps->q_calib_s = jget(r.rec, "calib_s");
        ps->q_sim_agree = jget(r.rec, "sim_agreement");
        ps->q_sim_miou = jget(r.rec, "sim_miou");
        ps->q_weight_bytes = jget(r.rec, "weight_bytes");
        ps->q_iou = iou_get(r.rec, ps->nexpr);
        const char *st = json_string_value(json_object_get(r.rec, "state"));
        ps->q_state = st ? strdup(st) : NULL;
        ps->q_ok = ps->q_state != NULL;
        if (!ps->q_ok) snprintf(ps->q_err, sizeof ps->q_err, "quantization: no quantizer parameters");
    } else {
        snprintf(ps->q_err, sizeof ps->q_err, "calibration and quantized accuracy pass: %s", r.reason);
        ps->q_exit = r.exit_reason;
    }
    json_decref(r.rec);
}

/* Load the model and dataset of configuration c (when they change) and run
** the pair's accuracy job. */
static void prepare_pair(pairstate *ps, const suite *s, const suite_config *c, const runopts *o,
                         double timeout_s)
{
    if (c->model != ps->cur_model) {
        lavt_free(ps->model);
        ps->model = NULL;
        ps->cur_model = c->model;
        ps->cur_dataset = -1;
        ps->model_hash[0] = 0;
        ps->speed_only = 0;
        char dir[2048];
        ps->model_err[0] = 0;
        if (ev_resolve_model(s->models[c->model], o->zoo, s->file, dir, sizeof dir)) {
            snprintf(ps->model_err, sizeof ps->model_err,
                     "model '%s' not found (looked in --zoo, $RISQ_ZOO, models/zoo and next to the suite)",
                     s->models[c->model]);
        } else if (lavt_load(dir, &ps->model, ps->model_err, sizeof ps->model_err) == 0) {
            const lavt_config *mc = lavt_get_config(ps->model);
            uint64_t h = 0xCBF29CE484222325ull;
            char p[2400];
            snprintf(p, sizeof p, "%s/model.yaml", dir);
            hash_file(p, &h);   /* random weights: their seed is in model.yaml */
            snprintf(p, sizeof p, "%s/%s", dir, mc->weights_file);
            if (!mc->weights_random) hash_file(p, &h);
            snprintf(p, sizeof p, "%s/%s", dir, mc->vocab_file);
            hash_file(p, &h);
            snprintf(ps->model_hash, sizeof ps->model_hash, "%016llx", (unsigned long long)h);
            ps->speed_only = lavt_speed_only(ps->model);
            if (ps->speed_only && !o->quiet)
                printf("risq run: note: %s has random weights (speed-only model): no accuracy pass, "
                       "its accuracy metrics are stored as NULL (not available); quantized methods "
                       "still calibrate\n", s->models[c->model]);
        }
    }
    if (c->dataset == ps->cur_dataset) return;
    ps->cur_method = ps->cur_bits = -2;   /* the quantized results belong to the pair */
    free(ps->ref);
    ps->ref = NULL;
    free(ps->iou);
    ps->iou = NULL;
    ds_free(ps->data);
    ps->data = NULL;
    ps->cur_dataset = c->dataset;
    ps->dataset_hash[0] = 0;
    const suite_dataset *sd = &s->datasets[c->dataset];
    ps->data_err[0] = 0;
    int drc = sd->is_synth ? synth_generate(&sd->synth, sd->split, &ps->data, ps->data_err, sizeof ps->data_err)
                           : ds_load(sd->path, sd->split, &ps->data, ps->data_err, sizeof ps->data_err);
    if (drc == 0) {
        snprintf(ps->dataset_hash, sizeof ps->dataset_hash, "%016llx", (unsigned long long)ds_hash(ps->data));
        if (ps->data->nsamples == 0) snprintf(ps->data_err, sizeof ps->data_err, "%s: the split has no samples", sd->label);
    }
    ps->acc_ok = 0;
    ps->acc_err[0] = 0;
    ps->acc_exit = "error";
    if (ps->model && ps->speed_only) {
        /* random weights: accuracy means nothing; NaN is stored as NULL */
        for (int k = 0; k < MT_NMETRICS; k++) ps->acc[k] = NAN;
        ps->nexpr = 0;
        ps->acc_ok = 1;
    } else if (ps->model && ps->data && !ps->data_err[0]) {
        /* the fp32 logits go through a temporary file (removed below) */
        const char *tmpdir = getenv("TMPDIR");
        char path[4096];
        snprintf(path, sizeof path, "%s/risq-fp32-ref-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
        int fd = mkstemp(path);
        if (fd < 0) {
            snprintf(ps->acc_err, sizeof ps->acc_err, "cannot create a temporary file for the fp32 "
                     "reference logits: %s (set TMPDIR)", strerror(errno));
            return;
        }
        close(fd);
        acc_job j = {ps->model, ps->data, path};
        jobres r;
        run_job(acc_job_fn, &j, timeout_s, -1, &r);
        if (r.ok) {
            for (int k = 0; k < MT_NMETRICS; k++) ps->acc[k] = jget(r.rec, mt_metrics[k].name);
            ps->nexpr = (int)jget(r.rec, "expressions");
            ps->iou = iou_get(r.rec, ps->nexpr);
            ps->ref = read_ref(path, (size_t)ps->nexpr * ev_ref_floats(lavt_get_config(ps->model)),
                               ps->acc_err, sizeof ps->acc_err);
            ps->acc_ok = ps->ref != NULL;
        } else {
            snprintf(ps->acc_err, sizeof ps->acc_err, "FP32 accuracy pass: %s", r.reason);
            ps->acc_exit = r.exit_reason;
        }
        unlink(path);
        json_decref(r.rec);
    }
}

int runner_main(int argc, char **argv)
{
    runopts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;

    char err[2048], why[1024];
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
    /* The suite's per-job time limit (suite field timeout_s), --timeout wins. */
    double timeout_s = o.timeout_s > 0 ? o.timeout_s : s->timeout_s > 0 ? s->timeout_s : DEFAULT_TIMEOUT_S;

    /* Counters: find the best tier; a forced tier must be available. */
    measure_tier best = measure_probe(why, sizeof why);
    if (o.counters != MEASURE_AUTO && o.counters > (int)best) {
        fprintf(stderr, "risq run: counter tier '%s' is not available on this machine (%s); "
                "the best available tier is '%s' (use --counters %s or --counters auto)\n",
                measure_tier_name((measure_tier)o.counters), why, measure_tier_name(best),
                measure_tier_name(best));
        free(cfgs);
        suite_free(s);
        return 2;
    }
    int counters = o.counters == MEASURE_AUTO ? (int)best : o.counters;

    store *db = NULL;
    if (store_open(o.db, &db, err, sizeof err)) {
        fprintf(stderr, "risq run: %s\n", err);
        free(cfgs);
        suite_free(s);
        return 2;
    }
    char command[1024];
    join_args(argc, argv, command, sizeof command);
    store_run_info ri = {.suite = s->name, .command = command, .suite_text = s->source_text};
    store_machine_probe(&ri.machine);
    if (o.board) {
        snprintf(ri.machine.board, sizeof ri.machine.board, "%s", o.board);
        store_machine_fingerprint(&ri.machine);
    }
    ri.board = o.board;
    for (int t = 0; !ri.board && t < s->ntargets; t++) ri.board = s->targets[t].board;
    if (!ri.board && ri.machine.board[0]) ri.board = ri.machine.board;
    char commit[64];
    ri.build = store_build_current(commit, sizeof commit);
    int64_t run_id;
    if (store_begin_run(db, &ri, &run_id, err, sizeof err)) {
        fprintf(stderr, "risq run: %s\n", err);
        store_close(db);
        free(cfgs);
        suite_free(s);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;   /* no SA_RESTART: poll() must wake up */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!o.quiet)
        printf("risq run: suite '%s' (%s), %d configurations, run %lld in %s\n"
               "risq run: counters: %s%s%s%s, time limit %g s per job\n",
               s->name, s->file, ncfg, (long long)run_id, o.db, measure_tier_name((measure_tier)counters),
               counters < (int)MEASURE_HARDWARE && why[0] ? " (" : "",
               counters < (int)MEASURE_HARDWARE ? why : "",
               counters < (int)MEASURE_HARDWARE && why[0] ? ")" : "", timeout_s);
    print_header();

    progress prog = {!o.quiet && isatty(STDERR_FILENO), 0, ncfg, now_ms()};
    int failed = 0;
    pairstate ps;
    memset(&ps, 0, sizeof ps);
    ps.cur_model = ps.cur_dataset = -1;
    ps.cur_method = ps.cur_bits = -2;

    for (int ci = 0; ci < ncfg && !interrupted; ci++) {
        const suite_config *c = &cfgs[ci];
        const char *method = s->methods[c->method];
        const char *bits = c->bits < 0 ? "fp32" : s->bits[c->bits];
        /* The kernel variant of the speed pass: the target's isa, "auto" =
        ** the best this CPU runs, recorded under its real name.  An isa this
        ** machine (or build) cannot run fails the configuration, not the run. */
        const char *isa = s->targets[c->target].isa;
        char isa_err[256] = "";
        ki_isa kisa = KI_REF;
        if (ki_isa_parse(isa, &kisa, isa_err, sizeof isa_err) == 0) {
            if (ki_isa_supported(kisa))
                isa = ki_isa_name(kisa);
            else
                snprintf(isa_err, sizeof isa_err, "isa %s: %s (CPU features: %s); isa auto picks the best "
                         "one this machine runs", isa,
                         ki_isa_compiled(kisa) ? "this CPU cannot run it" : "not compiled into this build",
                         ki_cpu_features());
        }
        char what[512], started[32];
        snprintf(what, sizeof what, "%s %s %s %s %s t%d", s->models[c->model], s->datasets[c->dataset].label,
                 method, bits, isa, c->threads);
        progress_show(&prog, ci, what);
        store_now_utc(started);

        prepare_pair(&ps, s, c, &o, timeout_s);
        if (interrupted) break;
        int quantized = strcmp(method, "fp32") != 0;
        if (quantized) prepare_quant(&ps, s, c, timeout_s);
        if (interrupted) break;
        const char *error = isa_err[0] ? isa_err : ps.model_err[0] ? ps.model_err : ps.data_err[0] ? ps.data_err
                          : !ps.acc_ok ? ps.acc_err : quantized && !ps.q_ok ? ps.q_err : NULL;
        const char *exit_reason = !error ? "ok" : error == ps.acc_err ? ps.acc_exit
                                : error == ps.q_err ? ps.q_exit : "error";
        const double *acc = quantized ? ps.q_acc : ps.acc;
        const double *iou = quantized ? ps.q_iou : ps.iou;

        jobres r;
        memset(&r, 0, sizeof r);
        if (!error) {
            speed_job j = {ps.model, ps.data, c->threads, s->warmup, s->repetitions, counters,
                           quantized ? ps.q_state : NULL, kisa};
            run_job(speed_job_fn, &j, timeout_s, ci, &r);
            if (interrupted) {
                json_decref(r.rec);
                break;   /* the configuration in flight is not stored */
            }
            if (!r.ok) error = r.reason;
            exit_reason = r.exit_reason;
        }

        latency lat = {NAN, NAN, NAN, NAN};
        /* the accuracy metrics, the counters, and 15 more: expressions,
        ** fp_agreement, logit_sqnr_db, calib_s, sim_agreement, sim_miou, 4
        ** latency summaries, page_faults, peak_rss_kb, rss_kb, weight_bytes,
        ** arena_bytes (METRIC checks the bound) */
        store_metric m[MT_NMETRICS + 15 + MEASURE_NCOUNTERS];
#define METRIC(...)                                                    \
    do {                                                               \
        assert(nm < (int)(sizeof m / sizeof m[0]));                    \
        m[nm++] = (store_metric){__VA_ARGS__};                         \
    } while (0)
        int nm = 0, ns = 0;
        store_sample *smp = NULL;
        double *vals = NULL;
        const char *tier = measure_tier_name((measure_tier)counters);
        if (!error) {
            const json_t *la = json_object_get(r.rec, "latency_ms");
            const json_t *ctr = json_object_get(r.rec, "counters");
            int n = (int)json_array_size(la);
            const char *t = json_string_value(json_object_get(r.rec, "tier"));
            if (t) tier = t;
            size_t maxs = (size_t)n * (1 + MEASURE_NCOUNTERS) + (iou ? (size_t)ps.nexpr : 0);
            smp = calloc(maxs ? maxs : 1, sizeof *smp);
            vals = calloc(n ? (size_t)n : 1, sizeof *vals);
            for (int i = 0; i < n && smp && vals; i++) {
                vals[i] = json_number_value(json_array_get(la, (size_t)i));
                smp[ns++] = (store_sample){"latency_ms", i, vals[i]};
            }
            if (n > 0 && vals) lat = summarise(vals, n);
            for (int i = 0; iou && smp && i < ps.nexpr; i++) smp[ns++] = (store_sample){"iou", i, iou[i]};
            for (int k = 0; k < MT_NMETRICS; k++)
                METRIC(mt_metrics[k].name, acc[k], 0, mt_metrics[k].unit);
            METRIC("expressions", ps.nexpr, ps.speed_only, "count");
            if (quantized) {   /* fp32 has no reference to agree with */
                METRIC("fp_agreement", ps.q_agree, 0, "%");
                METRIC("logit_sqnr_db", ps.q_sqnr, 0, "dB");
                METRIC("calib_s", ps.q_calib_s, 0, "s");
                if (!isnan(ps.q_sim_agree)) {   /* integer execution only */
                    METRIC("sim_agreement", ps.q_sim_agree, 0, "%");
                    METRIC("sim_miou", ps.q_sim_miou, 0, "%");
                }
            }
            METRIC("latency_ms", lat.median, 0, "ms");
            METRIC("latency_p90_ms", lat.p90, 0, "ms");
            METRIC("latency_min_ms", lat.min, 0, "ms");
            METRIC("latency_mad_ms", lat.mad, 0, "ms");
            /* Counters: median per inference over the repetitions; NULL when
            ** the tier does not count them.  page_faults is the total of the
            ** timed repetitions (getrusage, whole child), in every tier. */
            for (int k = 0; k < MEASURE_NCOUNTERS; k++) {
                const json_t *a = json_object_get(ctr, measure_counter_name(k));
                double med = NAN;
                if (json_is_array(a) && vals) {
                    int na = 0;
                    for (int i = 0; i < n && i < (int)json_array_size(a); i++) {
                        const json_t *v = json_array_get(a, (size_t)i);
                        double x = json_is_number(v) ? json_number_value(v) : NAN;
                        if (smp) smp[ns++] = (store_sample){measure_counter_name(k), i, x};
                        if (!isnan(x)) vals[na++] = x;
                    }
                    if (na > 0) med = summarise(vals, na).median;
                }
                if (k != MEASURE_PAGE_FAULTS)
                    METRIC(measure_counter_name(k), med, 0, measure_counter_unit(k));
            }
            METRIC("page_faults", jget(r.rec, "page_faults"), 0, "count");
            METRIC("peak_rss_kb", (double)r.ru.ru_maxrss, 0, "kB");
            METRIC("rss_kb", jget(r.rec, "rss_kb"), 0, "kB");
            METRIC("weight_bytes", jget(r.rec, "weight_bytes"), 0, "bytes");
            METRIC("arena_bytes", jget(r.rec, "arena_bytes"), 0, "bytes");
        }
#undef METRIC
        char finished[32];
        store_now_utc(finished);
        store_config sc = {
            .model = s->models[c->model], .model_hash = ps.model_hash[0] ? ps.model_hash : NULL,
            .dataset = s->datasets[c->dataset].label,
            .dataset_hash = ps.dataset_hash[0] ? ps.dataset_hash : NULL, .method = method, .bits = bits,
            .isa = isa, .threads = c->threads, .status = error ? "failed" : "ok", .error = error,
            .counter_source = error ? NULL : tier, .started_at = started, .finished_at = finished,
            .exit_reason = exit_reason, .timeout_s = timeout_s};
        /* A failed configuration is stored with its error and no metrics:
        ** it shows once in v_results, with NULL metric and value. */
        progress_clear(&prog);
        if (store_add_config(db, run_id, &sc, m, error ? 0 : nm, smp, error ? 0 : ns, NULL, err, sizeof err)) {
            fprintf(stderr, "risq run: %s\n", err);
            failed++;
        } else if (!error && iou) {
            /* the IoUs are the accuracy pass's, the same for every target:
            ** kept once, with the first configuration stored (~40 bytes
            ** per expression) */
            double **own = quantized ? &ps.q_iou : &ps.iou;
            free(*own);
            *own = NULL;
        }
        print_row(s->models[c->model], s->datasets[c->dataset].label, method, bits, isa, c->threads,
                  ps.acc_ok && (!quantized || ps.q_ok) ? acc : NULL, error ? NULL : &lat,
                  error ? "FAILED" : ps.speed_only ? "ok (speed only)" : "ok");
        if (error) {
            fprintf(stderr, "  %s\n", error);
            failed++;
        }
        free(smp);
        free(vals);
        json_decref(r.rec);
    }
    progress_clear(&prog);

    const char *status = interrupted ? "interrupted" : failed ? "failed" : "ok";
    if (interrupted) fprintf(stderr, "risq run: interrupted; the configuration in flight was not stored\n");
    if (store_end_run(db, run_id, status, err, sizeof err)) fprintf(stderr, "risq run: %s\n", err);
    if (!o.quiet) printf("risq run: run %lld %s (%d failed); results in %s\n", (long long)run_id, status, failed, o.db);
    lavt_free(ps.model);
    ds_free(ps.data);
    free(ps.ref);
    free(ps.iou);
    free(ps.q_iou);
    free(ps.q_state);
    store_close(db);
    free(cfgs);
    suite_free(s);
    return interrupted || failed ? 1 : 0;
}

/* -------------------------------------------------------------- merge --- */

int runner_merge_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *dbpath = STORE_DEFAULT_PATH;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbpath = optarg; break;
        case 'h': fputs(usage_merge, stdout); return 0;
        default: fputs(usage_merge, stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "risq merge: name at least one history to merge\n\n%s", usage_merge);
        return 2;
    }
    char err[2048];
    store *db = NULL;
    if (store_open(dbpath, &db, err, sizeof err)) {
        fprintf(stderr, "risq merge: %s\n", err);
        return 2;
    }
    int bad = 0;
    for (int i = optind; i < argc; i++) {
        store_merge_stats st;
        if (store_merge(db, argv[i], &st, err, sizeof err)) {
            fprintf(stderr, "risq merge: %s\n", err);
            bad++;
            continue;
        }
        printf("%s: %d run(s) added with %d configuration(s), %d already present, %d baseline(s) added\n",
               argv[i], st.runs_added, st.configs_added, st.runs_present, st.baselines_added);
    }
    store_close(db);
    return bad ? 2 : 0;
}
