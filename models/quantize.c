/*
** quantize: recipes, calibration and simulated execution (see quantize.h).
**
** Calibration in three steps:
**   1. collect: the fp32 model runs on the calibration samples with an
**      observing hook.  Activations entering a linear layer keep whole rows
**      (at most ROW_VALUES values per site, evenly strided over all
**      samples); every other activation keeps values (at most VALS_MAX per
**      site); every site's min and max are taken over all its values.  A
**      first pass over sample 0 only counts, to fix the strides.
**   2. search, site by site in network order, on the fp32 inputs (errors do
**      not propagate from earlier sites):
**      - activations entering a linear layer, with range "output": CANDS
**        activation candidates and WCANDS per-channel weight clipping
**        ratios, alternated `rounds` times; the objective is the error of
**        the layer's output (MSE, or 1 - cosine) against fp32, summed over
**        the layers that read the activation (q/k/v, ...).  This replaces
**        the Hessian-guided metric of PTQ4ViT/PTQ4RIS, which needs autograd.
**      - everything else (activation x activation operands, convolutions,
**        and every site of the minmax/percentile/omse baselines): the
**        quantizer's own range rule on the tensor itself.
**   3. the result is a qm_state: one quantizer per site.  qm_apply makes the
**      fake-quantized weight copies and installs the activation hook.
*/
#include "models/quantize.h"

#include <fnmatch.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kernels/gemm_f32.h"
#include "kernels/qgemm.h"

/* Rows kept per linear-input site: up to ROW_VALUES values, at least
** ROWS_MIN rows.  The output search's error is estimated on these rows, and
** a small strided sample misses the rare large rows that clipping would
** hurt: with 256 rows the search clipped 8-bit activations that min-max
** leaves alone (lavt-tiny, W8A8: logit SQNR 43.5 dB against min-max's
** 47.4 on a development split, seed 8); with this budget 47.6.  The budget
** keeps all of lavt-tiny's rows up to 64 columns and caps LAVT-B's large
** sites, whose search time grows with the rows. */
#define ROW_VALUES (512 * 1024)
#define ROWS_MIN 256
#define VALS_MAX 65536    /* values kept per other activation site */
#define CANDS 16          /* activation candidates per search round */
#define WCANDS 10         /* weight clipping ratios per search round */
#define PERCENTILE 99.99

typedef struct qsite {
    qm_qtype type;
    int bits;
    qz_affine u;          /* QM_UNIFORM activation */
    qz_drq_softmax ds;
    qz_drq_gelu dg;
    qz_twin tw;
    qz_rorq rq;
    qz_affine *wq;        /* weight sites: one quantizer per output channel */
    int nrows;            /* weight sites: output channels */
    float *wfake;         /* weight sites: fake-quantized copy (qm_apply) */
    /* integer execution (qm_apply with exec int), weight sites only */
    kq_weights *kw;       /* packed weight codes; NULL: the layer runs in float */
    int in;               /* the activation site feeding the layer */
    float *dq;            /* [ngroups][rows]: activation step x channel step */
    int ngroups;          /* 1 uniform, 2 DRQ-GELU (pos, neg), RORQ: its bands */
    int kw_hwc;           /* conv weight sites: kw's K is in [ky][kx][c] order (int_conv
                          ** reorders it on first use; 0: still [c][ky][kx]) */
    int int_in;           /* activation sites: every reader runs in integers */
    int pair;             /* q and softmax sites: the other operand (lavt_site.pair) */
} qsite;

/* Scratch of integer execution: buffers grown on demand, each only for the
** layers that need it (one forward pass at a time per state). */
typedef struct qbuf {
    void *p;
    size_t cap;   /* bytes */
} qbuf;

/* Scratch of one attention product (int_mm), per concurrent slot. */
typedef struct qmmbuf {
    qbuf a;             /* activation operand codes (context: the values, transposed) */
    qbuf w;             /* what is packed as weights (scores: k's digits; context: the
                        ** probabilities' values by region) */
    qbuf acc;           /* int32 sums */
    kq_weights pw;      /* w packed (kq_repack_weights reuses its buffers) */
} qmmbuf;

typedef struct qscratch {
    qbuf a, b;          /* activation codes (b: DRQ-GELU negative region) */
    qbuf acc, acc2;     /* int32 sums */
    qbuf band;          /* RORQ: band of each element */
    qbuf rowptr, kidx, val;   /* RORQ: one band's outliers, CSR */
    qbuf img, patch, yt;      /* convolutions: padded input codes, a block of
                              ** patches, a block of outputs (pixel-major) */
    qmmbuf mm[LAVT_MM_SLOTS]; /* attention products, one per concurrent slot */
} qscratch;

struct qm_state {
    qm_recipe recipe;
    qm_bits bits;
    int nsites;
    qsite *s;
    int nint;             /* layers set up for integer execution */
    int nmm;              /* attention products set up for integer execution */
    atomic_int mm_oom;    /* one of them ran in float for want of memory */
    qscratch x;
    char exec_err[160];
};

/* ------------------------------------------------------------------ */
/* Recipes                                                              */
/* ------------------------------------------------------------------ */

const char *const qm_recipe_names[] = {
    "fp32", "minmax", "percentile", "omse", "ptq4vit", "ptq4ris", "ptq4ris-no-drq",
    "ptq4ris-no-rorq", NULL
};

static const char *const exec_names[] = { "sim", "int" };

const char *qm_exec_name(qm_exec e) { return (unsigned)e < 2 ? exec_names[e] : "?"; }

int qm_exec_parse(const char *str, qm_exec *out)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(str, exec_names[i])) {
            *out = (qm_exec)i;
            return 0;
        }
    return -1;
}

int qm_recipe_builtin(const char *name, qm_recipe *r)
{
    if (!strncmp(name, "int:", 4)) {
        if (!strcmp(name + 4, "fp32") || qm_recipe_builtin(name + 4, r))
            return -1;
        snprintf(r->name, sizeof r->name, "%s", name);
        r->exec = QM_EXEC_INT;
        return 0;
    }
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->weight = r->act = r->softmax = r->gelu = r->text = QM_UNIFORM;
    r->objective = QM_OBJ_MSE;
    r->rounds = 3;
    r->first_last = QM_FL_8BIT;
    r->scope = QM_SCOPE_UPSTREAM;
    if (!strcmp(name, "fp32")) {
        r->weight = r->act = r->softmax = r->gelu = r->text = QM_FLOAT;
        r->range = QM_RANGE_MINMAX;
    } else if (!strcmp(name, "minmax")) {
        r->range = QM_RANGE_MINMAX;
    } else if (!strcmp(name, "percentile")) {
        r->range = QM_RANGE_PERCENTILE;
    } else if (!strcmp(name, "omse")) {
        r->range = QM_RANGE_MSE;
    } else if (!strcmp(name, "ptq4vit")) {
        r->range = QM_RANGE_OUTPUT;
        r->softmax = QM_TWIN_SOFTMAX;
        r->gelu = QM_TWIN_GELU;
    } else if (!strcmp(name, "ptq4ris")) {
        r->range = QM_RANGE_OUTPUT;
        r->softmax = QM_DRQ_SOFTMAX;
        r->gelu = QM_DRQ_GELU;
        r->text = QM_RORQ;
    } else if (!strcmp(name, "ptq4ris-no-drq")) {
        r->range = QM_RANGE_OUTPUT;
        r->text = QM_RORQ;
    } else if (!strcmp(name, "ptq4ris-no-rorq")) {
        r->range = QM_RANGE_OUTPUT;
        r->softmax = QM_DRQ_SOFTMAX;
        r->gelu = QM_DRQ_GELU;
    } else {
        return -1;
    }
    return 0;
}

static const char *const qtype_names[] = { "float", "uniform", "drq-softmax", "drq-gelu",
                                           "twin-softmax", "twin-gelu", "rorq" };
static const char *const range_names[] = { "minmax", "percentile", "mse", "output" };
static const char *const scope_names[] = { "upstream", "all" };
static const char *const fl_names[] = { "8bit", "float", "same" };

static int parse_name(const char *s, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

const char *qm_scope_name(qm_scope sc) { return (unsigned)sc < 2 ? scope_names[sc] : "?"; }
const char *qm_first_last_name(qm_first_last f) { return (unsigned)f < 3 ? fl_names[f] : "?"; }

int qm_scope_parse(const char *s, qm_scope *out)
{
    int v;
    if (parse_name(s, scope_names, 2, &v)) return -1;
    *out = (qm_scope)v;
    return 0;
}

int qm_first_last_parse(const char *s, qm_first_last *out)
{
    int v;
    if (parse_name(s, fl_names, 3, &v)) return -1;
    *out = (qm_first_last)v;
    return 0;
}

const char *qm_qtype_name(qm_qtype t)
{
    return (unsigned)t < sizeof qtype_names / sizeof qtype_names[0] ? qtype_names[t] : "?";
}

int qm_qtype_parse(const char *s, qm_qtype *out)
{
    int v;
    if (parse_name(s, qtype_names, (int)(sizeof qtype_names / sizeof qtype_names[0]), &v)) return -1;
    *out = (qm_qtype)v;
    return 0;
}

const char *qm_range_name(qm_range r)
{
    return (unsigned)r < sizeof range_names / sizeof range_names[0] ? range_names[r] : "?";
}

int qm_range_parse(const char *s, qm_range *out)
{
    int v;
    if (parse_name(s, range_names, (int)(sizeof range_names / sizeof range_names[0]), &v)) return -1;
    *out = (qm_range)v;
    return 0;
}

int qm_bits_parse(const char *s, qm_bits *out)
{
    int w, a, n = 0;
    if (sscanf(s, "W%dA%d%n", &w, &a, &n) != 2 || s[n] != 0 || w < 2 || w > 8 || a < 2 || a > 8)
        return -1;
    out->w = w;
    out->a = a;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Fake quantization of one site                                        */
/* ------------------------------------------------------------------ */

static void fake_values(const qsite *p, const float *x, float *y, size_t n)
{
    switch (p->type) {
    case QM_FLOAT:
        if (y != x)
            memcpy(y, x, n * sizeof *x);
        break;
    case QM_UNIFORM: qz_affine_fake(&p->u, x, y, n); break;
    case QM_DRQ_SOFTMAX: qz_drq_softmax_fake(&p->ds, x, y, n); break;
    case QM_DRQ_GELU: qz_drq_gelu_fake(&p->dg, x, y, n); break;
    case QM_TWIN_SOFTMAX: qz_twin_softmax_fake(&p->tw, x, y, n); break;
    case QM_TWIN_GELU: qz_twin_gelu_fake(&p->tw, x, y, n); break;
    case QM_RORQ: qz_rorq_fake(&p->rq, x, y, n); break;
    }
}

/* The activation hook of simulated execution: read-only on the state, so it
** is safe on pool threads. */
static void fake_hook(void *ctx, int site, float *x, int rows, int cols, int ld)
{
    const qm_state *q = ctx;
    const qsite *p = &q->s[site];
    if (p->type == QM_FLOAT)
        return;
    if (ld == cols) {
        fake_values(p, x, x, (size_t)rows * cols);
        return;
    }
    for (int r = 0; r < rows; r++)
        fake_values(p, x + (size_t)r * ld, x + (size_t)r * ld, (size_t)cols);
}

/* ------------------------------------------------------------------ */
/* Step 1: collection                                                   */
/* ------------------------------------------------------------------ */

typedef struct coll {
    const lavt_model *m;
    int counting;
    int nsamples;
    size_t *count;     /* units (rows or values) seen on sample 0 */
    size_t *stride;    /* keep every stride-th unit */
    size_t *seen;
    float **buf;
    size_t *len;       /* values kept */
    size_t *cap;       /* values that fit */
    float *lo, *hi;    /* min and max of every value seen (not only those kept) */
    int oom;
} coll;

/* Row sites keep whole rows: activations entering (non-convolution) linear
** layers, which the output search multiplies by the weights. */
static int row_site(const lavt_site *t)
{
    return t->kind != LAVT_SITE_WEIGHT && ((t->nusers > 0 && !t->conv) || t->next >= 0);
}

static void collect_hook(void *ctx, int site, float *x, int rows, int cols, int ld)
{
    coll *c = ctx;
    const lavt_site *t = lavt_site_get(c->m, site);
    int rs = row_site(t);
    if (c->counting) {
        c->count[site] += rs ? (size_t)rows : (size_t)rows * cols;
        return;
    }
    if (!c->buf[site])
        return;
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * ld;
        float lo, hi;
        qz_minmax(row, (size_t)cols, &lo, &hi);
        c->lo[site] = fminf(c->lo[site], lo);
        c->hi[site] = fmaxf(c->hi[site], hi);
        if (rs) {
            if (c->seen[site]++ % c->stride[site] == 0 && c->len[site] + (size_t)cols <= c->cap[site]) {
                memcpy(c->buf[site] + c->len[site], row, (size_t)cols * sizeof(float));
                c->len[site] += (size_t)cols;
            }
            continue;
        }
        for (int k = 0; k < cols; k++)
            if (c->seen[site]++ % c->stride[site] == 0 && c->len[site] < c->cap[site])
                c->buf[site][c->len[site]++] = row[k];
    }
}

static void coll_free(coll *c, int nsites)
{
    if (c->buf)
        for (int i = 0; i < nsites; i++)
            free(c->buf[i]);
    free(c->buf);
    free(c->count);
    free(c->stride);
    free(c->seen);
    free(c->len);
    free(c->cap);
    free(c->lo);
    free(c->hi);
}

/* need[i]: keep site i's values (sites that stay float with all their
** weights need nothing). */
static int collect(lavt_model *m, const qm_sample *smp, int n, const char *need, coll *c, char *err,
                   size_t errlen)
{
    int ns = lavt_site_count(m);
    const lavt_config *cfg = lavt_get_config(m);
    size_t nlog = (size_t)cfg->num_classes * cfg->input_size * cfg->input_size;
    float *logits = malloc(nlog * sizeof(float));
    memset(c, 0, sizeof *c);
    c->m = m;
    c->nsamples = n;
    c->count = calloc((size_t)ns, sizeof(size_t));
    c->stride = calloc((size_t)ns, sizeof(size_t));
    c->seen = calloc((size_t)ns, sizeof(size_t));
    c->len = calloc((size_t)ns, sizeof(size_t));
    c->cap = calloc((size_t)ns, sizeof(size_t));
    c->buf = calloc((size_t)ns, sizeof(float *));
    c->lo = malloc((size_t)ns * sizeof(float));
    c->hi = malloc((size_t)ns * sizeof(float));
    if (!logits || !c->count || !c->stride || !c->seen || !c->len || !c->cap || !c->buf || !c->lo ||
        !c->hi) {
        snprintf(err, errlen, "out of memory collecting calibration activations");
        goto fail;
    }
    /* counting pass on sample 0 */
    c->counting = 1;
    lavt_set_act_hook(m, collect_hook, c);
    if (lavt_forward(m, NULL, smp[0].image, smp[0].ids, smp[0].mask, logits, err, errlen))
        goto fail;
    c->counting = 0;
    for (int i = 0; i < ns; i++) {
        c->lo[i] = INFINITY;
        c->hi[i] = -INFINITY;
        const lavt_site *t = lavt_site_get(m, i);
        if (t->kind == LAVT_SITE_WEIGHT || c->count[i] == 0 || !need[i])
            continue;
        size_t total = c->count[i] * (size_t)n, keep = VALS_MAX;
        if (row_site(t)) {
            keep = ROW_VALUES / (size_t)t->cols;
            if (keep < ROWS_MIN)
                keep = ROWS_MIN;
        }
        c->stride[i] = total > keep ? (total + keep - 1) / keep : 1;
        size_t units = (total + c->stride[i] - 1) / c->stride[i] + 1;
        c->cap[i] = row_site(t) ? units * (size_t)t->cols : units;
        c->buf[i] = malloc(c->cap[i] * sizeof(float));
        if (!c->buf[i]) {
            snprintf(err, errlen, "out of memory collecting calibration activations");
            goto fail;
        }
    }
    for (int k = 0; k < n; k++)
        if (lavt_forward(m, NULL, smp[k].image, smp[k].ids, smp[k].mask, logits, err, errlen))
            goto fail;
    lavt_set_act_hook(m, NULL, NULL);
    free(logits);
    return 0;
fail:
    lavt_set_act_hook(m, NULL, NULL);
    free(logits);
    coll_free(c, ns);
    memset(c, 0, sizeof *c);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Step 2: search                                                       */
/* ------------------------------------------------------------------ */

/* A site's calibration values: those kept (a strided subsample, see
** collect) and the min and max of every value seen. A range that stands for
** the calibration set's min-max takes lo / hi: the kept values miss the
** extremes (when 256 rows were kept per linear-input site, their max was
** under 90 % of the true one at 13 of lavt-tiny's 84 W8A8 sites, and under
** 75 % at 2). */
typedef struct qvals {
    const float *x;
    size_t n;
    float lo, hi;
} qvals;

static qz_affine weight_q(float absmax, float ratio, int bits)
{
    int qmax = (1 << (bits - 1)) - 1;
    float sc = absmax * ratio / (float)qmax;
    qz_affine a = { sc > 0 && isfinite(sc) ? sc : 1.0f, 0, -qmax, qmax };
    return a;
}

static float row_absmax(const float *w, int cols)
{
    float mx = 0;
    for (int k = 0; k < cols; k++)
        mx = fmaxf(mx, fabsf(w[k]));
    return mx;
}

/* Local (tensor-only) choice of an activation quantizer of type t. */
static void act_local(qsite *p, qm_qtype t, int bits, qm_range range, const qvals *v)
{
    const float *x = v->x;
    size_t n = v->n;
    p->type = t;
    p->bits = bits;
    switch (t) {
    case QM_FLOAT: break;
    case QM_UNIFORM:
        if (range == QM_RANGE_MINMAX) {
            p->u = qz_affine_range(v->lo, v->hi, bits, 0);
        } else if (range == QM_RANGE_PERCENTILE) {
            float lo, hi;
            if (qz_percentile_range(x, n, PERCENTILE, &lo, &hi))
                qz_minmax(x, n, &lo, &hi);
            p->u = qz_affine_range(lo, hi, bits, 0);
        } else {
            p->u = qz_affine_search_mse(x, n, bits, 0, 100, 0.2f);
        }
        break;
    case QM_DRQ_SOFTMAX: p->ds = qz_drq_softmax_search(x, n, bits); break;
    case QM_DRQ_GELU: p->dg = qz_drq_gelu_search(x, n, bits, 50); break;
    case QM_TWIN_SOFTMAX: p->tw = qz_twin_softmax_search(x, n, bits); break;
    case QM_TWIN_GELU: p->tw = qz_twin_gelu_search(x, n, bits, 50); break;
    case QM_RORQ: {
        /* RORQ's mean + 3 sigma bands isolate outliers only when they are
        ** sparse; when they are not, a clipped uniform quantizer does
        ** better, and the smaller squared error decides */
        p->rq = qz_rorq_calibrate(x, n, bits);
        qz_affine u = qz_affine_search_mse(x, n, bits, 0, 100, 0.2f);
        double er = 0;
        float buf[256];
        for (size_t i = 0; i < n; i += 256) {
            size_t m = n - i < 256 ? n - i : 256;
            qz_rorq_fake(&p->rq, x + i, buf, m);
            for (size_t k = 0; k < m; k++)
                er += ((double)buf[k] - x[i + k]) * ((double)buf[k] - x[i + k]);
        }
        if (qz_affine_sse(&u, x, n) < er) {
            p->type = QM_UNIFORM;
            p->u = u;
        }
        break;
    }
    }
}

/* Activation candidates for the output search: CANDS variants of type t
** (one for types without a free parameter). */
static int act_candidates(qm_qtype t, int bits, const qvals *v, qsite *cand)
{
    float lo = v->lo, hi = v->hi;
    int V = (1 << (bits - 1)) - 1, nc = 0;
    for (int c = 0; c < CANDS; c++) {
        /* uniform: geometric 1.0 ... 0.1 (heavy tails want hard clipping);
        ** others: linear 1.0 ... 0.4 */
        float r = t == QM_UNIFORM ? powf(0.1f, (float)c / (float)(CANDS - 1))
                                  : 1.0f - 0.6f * (float)c / (float)(CANDS - 1);
        qsite *p = &cand[nc];
        memset(p, 0, sizeof *p);
        p->type = t;
        p->bits = bits;
        switch (t) {
        case QM_UNIFORM: p->u = qz_affine_range(lo * r, hi * r, bits, 0); nc++; break;
        case QM_DRQ_GELU:
            p->dg.bits = bits;
            p->dg.scale_pos = hi > 0 ? hi * r / (float)V : 1.0f / (float)V;
            nc++;
            break;
        case QM_TWIN_GELU:
            /* PTQ4ViT: the negative region's step is fixed (GELU's minimum),
            ** the non-negative region's step is searched */
            p->tw.bits = bits;
            p->tw.scale_r2 = hi > 0 ? hi * r / (float)V : 1.0f / (float)V;
            nc++;
            break;
        case QM_RORQ:
            /* RORQ, then the uniform candidates: the objective decides
            ** (see act_local) */
            if (c == 0) {
                p->rq = qz_rorq_calibrate(v->x, v->n, bits);
            } else {
                p->type = QM_UNIFORM;
                r = powf(0.1f, (float)(c - 1) / (float)(CANDS - 2));
                p->u = qz_affine_range(lo * r, hi * r, bits, 0);
            }
            nc++;
            break;
        default:
            if (c == 0) {
                act_local(p, t, bits, QM_RANGE_MSE, v);
                nc++;
            }
            break;
        }
    }
    return nc;
}

/* Error of y against ref (rows x cols): MSE sum (each column weighted by
** w[col] when w is given), or 1 - cosine. */
static double out_err(qm_objective obj, const float *y, const float *ref, size_t rows, int cols,
                      const double *w)
{
    double e = 0, yy = 0, rr = 0, yr = 0;
    size_t n = rows * (size_t)cols;
    if (obj == QM_OBJ_MSE) {
        for (size_t i = 0; i < n; i++) {
            double d = (double)y[i] - ref[i];
            e += w ? d * d * w[i % (size_t)cols] : d * d;
        }
        return e;
    }
    for (size_t i = 0; i < n; i++) {
        yy += (double)y[i] * y[i];
        rr += (double)ref[i] * ref[i];
        yr += (double)y[i] * ref[i];
    }
    return (yy > 0 && rr > 0) ? 1.0 - yr / sqrt(yy * rr) : (yy == rr ? 0.0 : 1.0);
}

typedef struct user {
    int site;
    int rows;            /* output channels */
    const float *w;      /* fp32 weights [rows][cols] */
    float *wf;           /* current fake-quantized weights */
    float *yref;         /* fp32 layer output [R][rows] */
    float *absmax;       /* per channel */
    double *cw;          /* per-channel error weight (1 / variance) for out_norm layers, or NULL */
    int quant;           /* weights quantized */
} user;

/* Joint output search of activation site `a` (its values: whole rows) and
** its weights. */
static int output_search(const lavt_model *m, qm_state *q, int a, qm_qtype at, int abits,
                         int wbits, const int *wquant, const qvals *vals, char *err,
                         size_t errlen)
{
    const lavt_site *t = lavt_site_get(m, a);
    const qm_recipe *rc = &q->recipe;
    int K = t->cols, U = t->nusers, maxo = 0, rc_ok = -1;
    const float *A = vals->x;
    int R = (int)(vals->n / (size_t)K);
    user u[LAVT_SITE_MAX_USERS];
    memset(u, 0, sizeof u);
    float *Aq = malloc((size_t)R * K * sizeof(float));
    float *wtmp = NULL, *y = NULL;
    double *cerr = NULL;
    qsite *cand = calloc(CANDS, sizeof *cand);
    for (int i = 0; i < U; i++) {
        const lavt_site *ws = lavt_site_get(m, t->users[i]);
        u[i].site = t->users[i];
        u[i].rows = ws->rows;
        u[i].w = lavt_site_weight_fp32(m, u[i].site);
        u[i].quant = wquant[i];
        if (ws->rows > maxo)
            maxo = ws->rows;
        u[i].wf = malloc((size_t)ws->rows * K * sizeof(float));
        u[i].yref = malloc((size_t)R * ws->rows * sizeof(float));
        u[i].absmax = malloc((size_t)ws->rows * sizeof(float));
        if (!u[i].wf || !u[i].yref || !u[i].absmax)
            goto oom;
        kf_gemm_nt(NULL, R, ws->rows, K, A, K, u[i].w, K, NULL, u[i].yref, ws->rows);
        if (ws->out_norm) {
            /* the layer is followed by a per-channel normalisation: weigh
            ** each channel's error by 1 / its variance over the rows */
            if (!(u[i].cw = malloc((size_t)ws->rows * sizeof(double))))
                goto oom;
            for (int o = 0; o < ws->rows; o++) {
                double mu = 0, v = 0;
                for (int r = 0; r < R; r++)
                    mu += u[i].yref[(size_t)r * ws->rows + o];
                mu /= R;
                for (int r = 0; r < R; r++) {
                    double d = u[i].yref[(size_t)r * ws->rows + o] - mu;
                    v += d * d;
                }
                u[i].cw[o] = 1.0 / (v / R + 1e-12);
            }
        }
        for (int o = 0; o < ws->rows; o++) {
            u[i].absmax[o] = row_absmax(u[i].w + (size_t)o * K, K);
            q->s[u[i].site].wq[o] = weight_q(u[i].absmax[o], 1.0f, wbits);
        }
        if (u[i].quant)
            qz_weight_fake(q->s[u[i].site].wq, u[i].w, ws->rows, K, u[i].wf);
        else
            memcpy(u[i].wf, u[i].w, (size_t)ws->rows * K * sizeof(float));
    }
    wtmp = malloc((size_t)maxo * K * sizeof(float));
    y = malloc((size_t)R * maxo * sizeof(float));
    cerr = malloc((size_t)maxo * WCANDS * sizeof(double));
    if (!Aq || !wtmp || !y || !cerr || !cand)
        goto oom;

    qsite *best = &q->s[a];
    best->type = at;
    best->bits = abits;
    if (at == QM_FLOAT)
        memcpy(Aq, A, (size_t)R * K * sizeof(float));
    /* the candidates depend on the values only: built once for all rounds */
    int nc = at != QM_FLOAT ? act_candidates(at, abits, vals, cand) : 0;
    for (int round = 0; round < rc->rounds; round++) {
        /* activation: best candidate given the current weights */
        if (at != QM_FLOAT) {
            double beste = INFINITY;
            for (int c = 0; c < nc; c++) {
                fake_values(&cand[c], A, Aq, (size_t)R * K);
                double e = 0;
                for (int i = 0; i < U; i++) {
                    kf_gemm_nt(NULL, R, u[i].rows, K, Aq, K, u[i].wf, K, NULL, y, u[i].rows);
                    e += out_err(rc->objective, y, u[i].yref, (size_t)R, u[i].rows, u[i].cw);
                }
                if (e < beste) { /* ties keep the earlier (wider) candidate */
                    beste = e;
                    *best = cand[c];
                }
            }
            fake_values(best, A, Aq, (size_t)R * K);
        }
        /* weights: per output channel, the clipping ratio with the smallest
        ** error of that channel's output, given the quantized activation */
        for (int i = 0; i < U; i++) {
            if (!u[i].quant)
                continue;
            int O = u[i].rows;
            for (int c = 0; c < WCANDS; c++) {
                float ratio = 1.0f - 0.45f * (float)c / (float)(WCANDS - 1); /* 1.0 ... 0.55 */
                for (int o = 0; o < O; o++) {
                    qz_affine wq = weight_q(u[i].absmax[o], ratio, wbits);
                    qz_affine_fake(&wq, u[i].w + (size_t)o * K, wtmp + (size_t)o * K, (size_t)K);
                }
                kf_gemm_nt(NULL, R, O, K, Aq, K, wtmp, K, NULL, y, O);
                for (int o = 0; o < O; o++) {
                    double e = 0, yy = 0, rr = 0, yr = 0;
                    for (int r = 0; r < R; r++) {
                        double v = y[(size_t)r * O + o], f = u[i].yref[(size_t)r * O + o];
                        e += (v - f) * (v - f);
                        yy += v * v;
                        rr += f * f;
                        yr += v * f;
                    }
                    if (rc->objective == QM_OBJ_COSINE)
                        e = (yy > 0 && rr > 0) ? 1.0 - yr / sqrt(yy * rr) : (yy == rr ? 0.0 : 1.0);
                    cerr[(size_t)o * WCANDS + c] = e;
                }
            }
            for (int o = 0; o < O; o++) {
                int bc = 0;
                for (int c = 1; c < WCANDS; c++)
                    if (cerr[(size_t)o * WCANDS + c] < cerr[(size_t)o * WCANDS + bc])
                        bc = c;
                float ratio = 1.0f - 0.45f * (float)bc / (float)(WCANDS - 1);
                q->s[u[i].site].wq[o] = weight_q(u[i].absmax[o], ratio, wbits);
            }
            qz_weight_fake(q->s[u[i].site].wq, u[i].w, O, K, u[i].wf);
        }
    }
    rc_ok = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory in the calibration search of %s", t->name);
out:
    for (int i = 0; i < U; i++) {
        free(u[i].wf);
        free(u[i].yref);
        free(u[i].absmax);
        free(u[i].cw);
    }
    free(Aq);
    free(wtmp);
    free(y);
    free(cerr);
    free(cand);
    return rc_ok;
}

/* Operands whose channels reach a linear layer through a product (attention's
** v: softmax . v, then the output projection W): candidates are scored by
** their error weighted per channel with sum_o W[o][c]^2, the error that
** channel puts on W's output.  Without it, the local error of massive
** channels (which W divides back down) would decide. */
static void act_weighted(const lavt_model *m, const lavt_site *t, qsite *best, qm_qtype at,
                         int bits, const qvals *v, qsite *cand)
{
    const float *x = v->x;
    size_t n = v->n;
    int K = t->cols;
    const lavt_site *ws = lavt_site_get(m, t->next);
    const float *W = lavt_site_weight_fp32(m, t->next);
    double w[4096];
    float buf[4096];
    if (K > 4096 || ws->cols != K) {   /* not the layout expected: plain local error */
        act_local(best, at, bits, QM_RANGE_MSE, v);
        return;
    }
    for (int c = 0; c < K; c++) {
        w[c] = 0;
        for (int o = 0; o < ws->rows; o++)
            w[c] += (double)W[(size_t)o * K + c] * W[(size_t)o * K + c];
    }
    int nc = act_candidates(at, bits, v, cand);
    double beste = INFINITY;
    for (int c = 0; c < nc; c++) {
        double e = 0;
        for (size_t r = 0; r + (size_t)K <= n; r += (size_t)K) {
            fake_values(&cand[c], x + r, buf, (size_t)K);
            for (int k = 0; k < K; k++) {
                double d = (double)buf[k] - x[r + (size_t)k];
                e += d * d * w[k];
            }
        }
        if (e < beste) {
            beste = e;
            *best = cand[c];
        }
    }
}

static qm_qtype act_type(const qm_recipe *r, lavt_site_kind k)
{
    switch (k) {
    case LAVT_SITE_SOFTMAX: return r->softmax;
    case LAVT_SITE_GELU: return r->gelu;
    case LAVT_SITE_TEXT: return r->text;
    default: return r->act;
    }
}

/* Is site t quantized by recipe r, and at which bits? 0 = stays float. */
static int site_bits(const qm_recipe *r, qm_bits b, const lavt_site *t)
{
    if (r->scope == QM_SCOPE_UPSTREAM &&
        (!strncmp(t->group, "fusion", 6) || !strncmp(t->group, "decoder", 7)))
        return 0;
    for (int k = 0; k < r->nkeep; k++)
        if (fnmatch(r->keep_float[k], t->name, 0) == 0)
            return 0;
    if (r->only[0]) {
        if (!strncmp(r->only, "kind:", 5)) {
            if (strcmp(r->only + 5, lavt_site_kind_name(t->kind)) != 0)
                return 0;
        } else if (!strncmp(r->only, "site:", 5)) {
            if (strcmp(t->name, r->only + 5) != 0)
                return 0;
        } else if (strncmp(t->group, r->only, strlen(r->only)) != 0) {
            return 0;
        }
    }
    if (t->first_last && r->first_last == QM_FL_FLOAT)
        return 0;
    int bits = t->kind == LAVT_SITE_WEIGHT ? b.w : b.a;
    if (t->first_last && r->first_last == QM_FL_8BIT)
        bits = 8;
    return bits;
}

static qm_state *state_new(const lavt_model *m, const qm_recipe *r, qm_bits b)
{
    qm_state *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->recipe = *r;
    q->bits = b;
    q->nsites = lavt_site_count(m);
    q->s = calloc((size_t)q->nsites, sizeof *q->s);
    if (!q->s) {
        free(q);
        return NULL;
    }
    for (int i = 0; i < q->nsites; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        if (t->kind == LAVT_SITE_WEIGHT) {
            q->s[i].wq = calloc((size_t)t->rows, sizeof(qz_affine));
            q->s[i].nrows = t->rows;
            if (!q->s[i].wq) {
                qm_free(q);
                return NULL;
            }
        }
    }
    return q;
}

int qm_calibrate(lavt_model *m, const qm_recipe *r, qm_bits b, const qm_sample *smp, int n,
                 qm_state **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n < 1) {
        snprintf(err, errlen, "calibration needs at least one sample");
        return -1;
    }
    qm_state *q = state_new(m, r, b);
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int ns = q->nsites, any = 0;
    for (int i = 0; i < ns; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        qm_qtype ty = t->kind == LAVT_SITE_WEIGHT ? r->weight : act_type(r, t->kind);
        if (ty != QM_FLOAT && site_bits(r, b, t))
            any = 1;
    }
    if (!any) { /* fp32, or a filter that matches nothing: all float */
        *out = q;
        return 0;
    }
    /* an activation site is searched when it or one of its weights is
    ** quantized */
    char *need = calloc((size_t)ns, 1);
    if (!need) {
        qm_free(q);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < ns; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        if (t->kind == LAVT_SITE_WEIGHT)
            continue;
        need[i] = site_bits(r, b, t) && act_type(r, t->kind) != QM_FLOAT;
        for (int k = 0; k < t->nusers; k++)
            need[i] |= site_bits(r, b, lavt_site_get(m, t->users[k])) && r->weight != QM_FLOAT;
    }
    coll c;
    int crc = collect(m, smp, n, need, &c, err, errlen);
    free(need);
    if (crc) {
        qm_free(q);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < ns && rc == 0; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        if (t->kind == LAVT_SITE_WEIGHT)
            continue;
        int abits = site_bits(r, b, t);
        qm_qtype at = abits ? act_type(r, t->kind) : QM_FLOAT;
        int wq[LAVT_SITE_MAX_USERS] = { 0 }, wbits = 8, anyw = 0;
        for (int k = 0; k < t->nusers; k++) {
            const lavt_site *ws = lavt_site_get(m, t->users[k]);
            int bb = site_bits(r, b, ws);
            wq[k] = bb && r->weight != QM_FLOAT;
            if (wq[k]) {
                wbits = bb;
                anyw = 1;
            }
        }
        qvals v = { c.buf[i], c.len[i], c.lo[i], c.hi[i] };
        if (!v.x || v.n == 0) { /* not needed, or never reached */
            q->s[i].type = QM_FLOAT;
        } else if (t->nusers == 0 && t->next >= 0 && r->range == QM_RANGE_OUTPUT && at != QM_FLOAT) {
            qsite *cand = calloc(CANDS, sizeof *cand);
            if (!cand) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            act_weighted(m, t, &q->s[i], at, abits, &v, cand);
            free(cand);
        } else if (t->nusers > 0 && !t->conv && r->range == QM_RANGE_OUTPUT && (at != QM_FLOAT || anyw)) {
            rc = output_search(m, q, i, at, abits, wbits, wq, &v, err, errlen);
        } else {
            act_local(&q->s[i], at, abits, r->range, &v);
        }
        if (rc)
            break;
        if (!(t->nusers > 0 && !t->conv && r->range == QM_RANGE_OUTPUT)) {
            int mode = r->range == QM_RANGE_MINMAX ? QZ_RANGE_MINMAX
                     : r->range == QM_RANGE_PERCENTILE ? QZ_RANGE_PERCENTILE : QZ_RANGE_MSE;
            for (int k = 0; k < t->nusers; k++) {
                const lavt_site *ws = lavt_site_get(m, t->users[k]);
                if (wq[k])
                    qz_weight_per_channel(lavt_site_weight_fp32(m, t->users[k]), ws->rows,
                                          ws->cols, wbits, mode, q->s[t->users[k]].wq);
            }
        }
        for (int k = 0; k < t->nusers; k++) {
            qsite *ws = &q->s[t->users[k]];
            ws->type = wq[k] ? QM_UNIFORM : QM_FLOAT;
            ws->bits = wq[k] ? wbits : 0;
        }
    }
    coll_free(&c, ns);
    if (rc) {
        qm_free(q);
        return -1;
    }
    *out = q;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Step 3: installation -- simulated and integer execution              */
/* ------------------------------------------------------------------ */

/* Integer execution, activation hook: the sites whose every reader runs in
** integers are quantized by the linear hook itself (from the float values,
** giving the codes the simulated path would); the rest as simulated. */
static void int_act_hook(void *ctx, int site, float *x, int rows, int cols, int ld)
{
    const qm_state *q = ctx;
    if (!q->s[site].int_in)
        fake_hook(ctx, site, x, rows, cols, ld);
}

/* b->p with room for `bytes` (contents not kept), NULL when out of memory. */
static void *qbuf_get(qbuf *b, size_t bytes)
{
    if (bytes > b->cap) {
        free(b->p);
        b->p = malloc(bytes ? bytes : 1);
        b->cap = b->p ? bytes : 0;
    }
    return b->p;
}

static void qbuf_free(qbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}

static void scratch_free(qscratch *x)
{
    qbuf *all[] = { &x->a, &x->b, &x->acc, &x->acc2, &x->band, &x->rowptr, &x->kidx, &x->val,
                    &x->img, &x->patch, &x->yt };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        qbuf_free(all[i]);
    for (int i = 0; i < LAVT_MM_SLOTS; i++) {
        qbuf_free(&x->mm[i].a);
        qbuf_free(&x->mm[i].w);
        qbuf_free(&x->mm[i].acc);
        kq_weights_free(&x->mm[i].pw);
    }
}

/* The packed-weight container for k-bit codes: 4, 6 or 8 bits (narrower
** codes fit the next one up). */
static int container_bits(int bits)
{
    return bits <= 4 ? 4 : bits <= 6 ? 6 : 8;
}

/* Out of memory in a hook: the layer falls back to float; say so once. */
static int exec_oom(qm_state *q, const char *what, int a, int b)
{
    if (!q->exec_err[0])
        snprintf(q->exec_err, sizeof q->exec_err,
                 "out of memory for integer execution (%s %d x %d): a layer ran in float", what, a, b);
    return 0;
}

/* y[m][n] (+)= (float)acc[m][n] * dq[n] */
static void dequant_into(const int32_t *acc, int M, int N, const float *dq, float *y, int ldy, int add)
{
    for (int r = 0; r < M; r++) {
        const int32_t *a = acc + (size_t)r * N;
        float *yr = y + (size_t)r * ldy;
        if (add)
            for (int n = 0; n < N; n++)
                yr[n] += (float)a[n] * dq[n];
        else
            for (int n = 0; n < N; n++)
                yr[n] = (float)a[n] * dq[n];
    }
}

static void add_bias(const float *bias, int M, int N, float *y, int ldy)
{
    if (bias)
        for (int r = 0; r < M; r++)
            for (int n = 0; n < N; n++)
                y[(size_t)r * ldy + n] += bias[n];
}

/* Per-row steps of the integer linear hook, split by rows over the pool's
** threads (every row is computed by the same code whatever the split). */
enum { ROWS_CODES, ROWS_GELU_SPLIT, ROWS_GELU_DEQUANT, ROWS_RORQ_BANDS };
/* (ROWS_CODES and ROWS_GELU_SPLIT with `gelu` set: of GELU(x), x being the
** pre-activation; kernels/quant.h, qz_affine_codes_gelu_s8) */

typedef struct rowjob {
    int op;
    const qsite *pa;
    const float *x;          /* input [M][K], row stride ldx */
    int ldx, K;
    int gelu;                /* x is the pre-activation of GELU */
    const float *mul;        /* gelu: GELU(x) times mul [M][K] (row stride ldx), or NULL */
    int8_t *a, *b;           /* codes [M][K] (b: DRQ-GELU's negative region) */
    uint8_t *band;           /* RORQ: the band of each element [M][K] */
    int off;                 /* RORQ: subtracted from band 0's codes (int8 form) */
    const int32_t *acc, *acc2;   /* DRQ-GELU sums [M][N] of the two regions */
    const float *dq, *bias;  /* dq [2][N]; bias [N] or NULL */
    float *y;                /* output [M][N], row stride ldy */
    int ldy, N;
} rowjob;

static void rows_range(void *arg, int r0, int r1)
{
    const rowjob *j = arg;
    for (int r = r0; r < r1; r++) {
        const float *xr = j->x ? j->x + (size_t)r * j->ldx : NULL;
        switch (j->op) {
        case ROWS_CODES:
            if (j->gelu && j->mul)
                qz_affine_codes_gelu_mul_s8(&j->pa->u, xr, j->mul + (size_t)r * j->ldx,
                                            (size_t)j->K, j->a + (size_t)r * j->K);
            else if (j->gelu)
                qz_affine_codes_gelu_s8(&j->pa->u, xr, (size_t)j->K, j->a + (size_t)r * j->K);
            else
                qz_affine_codes_s8(&j->pa->u, xr, (size_t)j->K, j->a + (size_t)r * j->K);
            break;
        case ROWS_GELU_SPLIT:
            if (j->gelu)
                qz_drq_gelu_split_gelu_s8(&j->pa->dg, xr, (size_t)j->K, j->a + (size_t)r * j->K,
                                          j->b + (size_t)r * j->K);
            else
                qz_drq_gelu_split_s8(&j->pa->dg, xr, (size_t)j->K, j->a + (size_t)r * j->K,
                                     j->b + (size_t)r * j->K);
            break;
        case ROWS_RORQ_BANDS: /* band 0 (inliers): codes; the others: band 0's zero point */
            qz_rorq_codes_s8(&j->pa->rq, xr, (size_t)j->K, j->off, j->a + (size_t)r * j->K,
                             j->band + (size_t)r * j->K);
            break;
        case ROWS_GELU_DEQUANT: {
            /* y = acc_pos dq_pos, then + acc_neg dq_neg, then + bias: each a
            ** rounded float operation, in this order */
            const int32_t *a1 = j->acc + (size_t)r * j->N, *a2 = j->acc2 + (size_t)r * j->N;
            const float *dq2 = j->dq + j->N;
            float *yr = j->y + (size_t)r * j->ldy;
            for (int n = 0; n < j->N; n++) {
                float v = (float)a1[n] * j->dq[n];
                v += (float)a2[n] * dq2[n];
                if (j->bias)
                    v += j->bias[n];
                yr[n] = v;
            }
            break;
        }
        }
    }
}

static void rows_run(kt_pool *pool, int M, int cols, rowjob *j)
{
    kt_parallel_for(pool, M, kt_rows_grain(cols), rows_range, j);
}

/* Integer execution, linear hook.  Quantizes the float input to codes
** (exactly the simulated path's codes), runs the integer GEMM on the packed
** weights and dequantizes:
**   uniform:  y = acc * (s_a * s_w[n]) + bias, in the kernel's epilogue
**   DRQ-GELU: acc_pos, acc_neg from one GEMM per region (their steps are not
**             a power of two apart); y = acc_pos * dq_pos + acc_neg * dq_neg + bias
**   RORQ:     the dense GEMM holds band 0 (the inliers; other elements get
**             band 0's zero point, i.e. contribute 0), then per outlier band
**             a sparse correction acc_r; y = acc_0 * dq_0 + sum_r acc_r * dq_r + bias
** With `gelu` (lavt.h), x is the pre-activation and the codes are those of
** GELU(x) (times mul), taken straight from x (kernels/quant.h): uniform
** input sites, and DRQ-GELU ones without mul, whose readers all run in
** integers (so that the activation hook would have left the values alone);
** the others decline, and are offered the input itself next.
** Called from the forward pass's own thread only (lavt.h), so the scratch
** needs no lock. */
static int int_linear(void *ctx, kt_pool *pool, int w, const float *x, int M, int ldx, int gelu,
                      const float *mul, const float *bias, float *y, int ldy)
{
    qm_state *q = ctx;
    qsite *pw = &q->s[w];
    if (!pw->kw)
        return 0;
    const qsite *pa = &q->s[pw->in];
    if (gelu && !(pa->int_in && (pa->type == QM_UNIFORM || (pa->type == QM_DRQ_GELU && !mul))))
        return 0;
    const kq_weights *kw = pw->kw;
    int K = kw->K, N = kw->N;
    qscratch *sc = &q->x;
    size_t nc = (size_t)M * K, na = (size_t)M * N * sizeof(int32_t);
    int8_t *a = qbuf_get(&sc->a, nc);
    if (!a)
        return exec_oom(q, "codes", M, K);
    switch (pa->type) {
    case QM_UNIFORM: {
        int za = qz_affine_codes_s8(&pa->u, x, 0, a);   /* n = 0: only the zero point */
        rows_run(pool, M, K, &(rowjob){ .op = ROWS_CODES, .pa = pa, .x = x, .ldx = ldx, .K = K,
                                        .gelu = gelu, .mul = mul, .a = a });
        kq_gemm_f32(pool, M, a, K, za, kw, pw->dq, bias, y, ldy);
        return 1;
    }
    case QM_DRQ_GELU: {
        int8_t *b = qbuf_get(&sc->b, nc);
        int32_t *acc = qbuf_get(&sc->acc, na), *acc2 = qbuf_get(&sc->acc2, na);
        if (!b || !acc || !acc2)
            return exec_oom(q, "sums", M, N);
        rows_run(pool, M, K, &(rowjob){ .op = ROWS_GELU_SPLIT, .pa = pa, .x = x, .ldx = ldx,
                                        .K = K, .gelu = gelu, .a = a, .b = b });
        kq_gemm_s32(pool, M, a, K, 0, kw, acc, N);
        kq_gemm_s32(pool, M, b, K, 0, kw, acc2, N);
        rows_run(pool, M, N, &(rowjob){ .op = ROWS_GELU_DEQUANT, .acc = acc, .acc2 = acc2,
                                        .dq = pw->dq, .bias = bias, .y = y, .ldy = ldy, .N = N });
        return 1;
    }
    case QM_RORQ: {
        const qz_rorq *rq = &pa->rq;
        const qz_affine *b0 = &rq->band[0];
        int off = b0->qmin >= 0 ? 128 : 0, nb = rq->nbands;
        int bandcount[QZ_MAX_BANDS] = { 0 };
        uint8_t *band = qbuf_get(&sc->band, nc);
        int32_t *acc = qbuf_get(&sc->acc, na), *acc2 = qbuf_get(&sc->acc2, na);
        int *rowptr = qbuf_get(&sc->rowptr, ((size_t)M + 1) * sizeof(int));
        int *kidx = qbuf_get(&sc->kidx, nc * sizeof(int));
        int32_t *val = qbuf_get(&sc->val, nc * sizeof(int32_t));
        if (!band || !acc || !acc2 || !rowptr || !kidx || !val)
            return exec_oom(q, "RORQ bands", M, K);
        rows_run(pool, M, K, &(rowjob){ .op = ROWS_RORQ_BANDS, .pa = pa, .x = x, .ldx = ldx,
                                        .K = K, .a = a, .band = band, .off = off });
        for (size_t i = 0; i < nc; i++)
            bandcount[band[i]]++;
        kq_gemm_s32(pool, M, a, K, b0->zero - off, kw, acc, N);
        dequant_into(acc, M, N, pw->dq, y, ldy, 0);
        for (int b = 1; b < nb; b++) {
            if (!bandcount[b])
                continue;
            const qz_affine *ab = &rq->band[b];
            int e = 0;
            for (int r = 0; r < M; r++) {
                rowptr[r] = e;
                const float *xr = x + (size_t)r * ldx;
                const uint8_t *br = band + (size_t)r * K;
                for (int k = 0; k < K; k++)
                    if (br[k] == b) {
                        kidx[e] = k;
                        val[e++] = qz_affine_code(ab, xr[k]) - ab->zero;
                    }
            }
            rowptr[M] = e;
            memset(acc2, 0, na);
            kq_sparse_s32(M, rowptr, kidx, val, kw, acc2, N);
            dequant_into(acc2, M, N, pw->dq + (size_t)b * N, y, ldy, 1);
        }
        add_bias(bias, M, N, y, ldy);
        return 1;
    }
    default:
        return 0;
    }
}

/* Integer execution, conv hook. The input's codes once, channel-last
** ([Hp][Wp][C], padded with the zero point: value 0, as the simulated path
** pads with 0.0), so that a patch's kw neighbours along a row are kw * C
** contiguous codes; then blocks of output pixels: their patches (im2col, K in
** [ky][kx][c] order: kh copies per pixel; none for 1x1 convolutions, whose
** patches are the image's rows), one integer GEMM with the uniform epilogue,
** transposed into y [O][Ho][Wo]. The packed weights are reordered to the
** same K order on first use (the integer sums do not depend on the order, so
** the outputs are those of the [c][ky][kx] order, bit for bit). */
#define CONV_PATCH_BYTES (1 << 20)

/* Reorder conv weight site pw's packed codes from K = [c][ky][kx] to
** [ky][kx][c] (C input channels, kh x kw kernel). -1: out of memory (the
** codes, already valid, always pack). */
static int conv_weights_hwc(qsite *pw, int C, int kh, int kw)
{
    kq_weights *w = pw->kw, hwc;
    int O = w->N, K = w->K, taps = kh * kw;
    char err[160];
    int8_t *codes = malloc((size_t)O * K);
    if (!codes)
        return -1;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int t = 0; t < taps; t++)
                codes[(size_t)o * K + (size_t)t * C + c] = (int8_t)kq_weight_at(w, o, c * taps + t);
    int rc = kq_pack_weights(&hwc, codes, O, K, K, w->bits, err, sizeof err);
    free(codes);
    if (rc)
        return -1;
    kq_weights_free(w);
    *w = hwc;
    pw->kw_hwc = 1;
    return 0;
}

static int int_conv(void *ctx, kt_pool *pool, int w, const float *x, const lavt_conv_geom *g,
                    const float *bias, float *y)
{
    qm_state *q = ctx;
    qsite *pw = &q->s[w];
    if (!pw->kw)
        return 0;
    const qsite *pa = &q->s[pw->in];
    int C = g->C, H = g->H, W = g->W, kh = g->kh, kw = g->kw, st = g->stride, pad = g->pad;
    int Hp = H + 2 * pad, Wp = W + 2 * pad;
    int Ho = (Hp - kh) / st + 1, Wo = (Wp - kw) / st + 1;
    int K = C * kh * kw, O = pw->kw->N, M = Ho * Wo;
    int direct = kh == 1 && kw == 1 && st == 1 && pad == 0;   /* patches = image rows */
    if (kh * kw > 1 && !pw->kw_hwc && conv_weights_hwc(pw, C, kh, kw))
        return exec_oom(q, "convolution weights", O, K);
    int blk = CONV_PATCH_BYTES / K;
    blk = blk < 16 ? 16 : blk > M ? M : blk;
    qscratch *sc = &q->x;
    size_t nimg = (size_t)Hp * Wp * C;
    int8_t *img = qbuf_get(&sc->img, nimg + (size_t)W);   /* then one row of codes */
    int8_t *patch = direct ? img : qbuf_get(&sc->patch, (size_t)blk * K);
    float *yt = qbuf_get(&sc->yt, (size_t)blk * O * sizeof(float));
    if (!img || !patch || !yt)
        return exec_oom(q, "convolution input", C, H * W);
    int za = qz_affine_codes_s8(&pa->u, x, 0, img);   /* n = 0: only the zero point */
    if (pad)
        memset(img, za, nimg);
    int8_t *row = img + nimg;
    for (int c = 0; c < C; c++)
        for (int iy = 0; iy < H; iy++) {
            qz_affine_codes_s8(&pa->u, x + ((size_t)c * H + iy) * W, (size_t)W, row);
            int8_t *d = img + ((size_t)(iy + pad) * Wp + pad) * C + c;
            for (int ix = 0; ix < W; ix++)
                d[(size_t)ix * C] = row[ix];
        }
    size_t run = (size_t)kw * C;   /* one kernel row of a patch */
    for (int p0 = 0; p0 < M; p0 += blk) {
        int nb = M - p0 < blk ? M - p0 : blk;
        const int8_t *A = direct ? img + (size_t)p0 * C : patch;
        for (int r = 0; !direct && r < nb; r++) {
            int oy = (p0 + r) / Wo, ox = (p0 + r) % Wo;
            int8_t *dst = patch + (size_t)r * K;
            for (int ky = 0; ky < kh; ky++, dst += run)
                memcpy(dst, img + ((size_t)(oy * st + ky) * Wp + (size_t)ox * st) * C, run);
        }
        kq_gemm_f32(pool, nb, A, K, za, pw->kw, pw->dq, bias, yt, O);
        /* yt [nb][O] -> y [O][M], 16 pixels at a time (their rows stay in L1) */
        for (int r0 = 0; r0 < nb; r0 += 16) {
            int r1 = r0 + 16 < nb ? r0 + 16 : nb;
            for (int o = 0; o < O; o++)
                for (int r = r0; r < r1; r++)
                    y[(size_t)o * M + p0 + r] = yt[(size_t)r * O + o];
        }
    }
    return 1;
}

/* Attention products in integers (lavt_mm_hook); run on pool threads for
** window attention, so only the slot's scratch is written.  Out of memory:
** 0, the fp32 product on the raw values, and qm_exec_error says so.
**
** Scores, q k^T, both uniform: q's codes are the activation operand (its
** zero point the GEMM's za), k's codes minus their zero point the packed
** weights.  Those lie in [-127, 127] up to 7 bits; at 8 bits in
** [-255, 255], so they are split into digits d = 16 h + l (h in -16..15,
** l in 0..15), packed as 2N rows: acc = 16 acc_h + acc_l, exact.
** out = acc * s_q * s_k (in double, one rounding to float).
**
** Context, P V, DRQ-softmax probabilities times uniform values: both
** regions on the one grid of step Δ_lo (quant.h), the high region's sums
** shifted left:
**   out[m][d] = Δ_lo s_v sum_n (lo[m][n] + (hi[m][n] << shift)) (v[n][d] - z_v)
**             = Δ_lo s_v (acc_lo[d][m] + (acc_hi[d][m] << shift))
** The probability values are the packed weights (0..2^(k-1)-1 are
** narrow-range k-bit codes), low region's rows then high region's, so one
** GEMM gives both sums; the value codes transposed are the activation
** operand, so the values' zero point is the GEMM's za.  The two sums are
** combined exactly in int64, then one multiply in double and one rounding
** to float. */
static int mm_scores(qmmbuf *x, kt_pool *pool, const qsite *pa, const qsite *pb,
                     const float *a, int lda, int M, int K, const float *b, int ldb, int N,
                     float *out, int ldo)
{
    int split = pb->bits > 7, rows = split ? 2 * N : N;
    int8_t *ac = qbuf_get(&x->a, (size_t)M * K), *wc = qbuf_get(&x->w, (size_t)rows * K + K);
    int32_t *acc = qbuf_get(&x->acc, (size_t)M * rows * sizeof(int32_t));
    char kerr[160];
    if (!ac || !wc || !acc)
        return 0;
    int za = 0;
    for (int m = 0; m < M; m++)
        za = qz_affine_codes_s8(&pa->u, a + (size_t)m * lda, (size_t)K, ac + (size_t)m * K);
    int8_t *row = wc + (size_t)rows * K;
    for (int n = 0; n < N; n++) {
        int zb = qz_affine_codes_s8(&pb->u, b + (size_t)n * ldb, (size_t)K, row);
        int8_t *hi = wc + (size_t)n * K;   /* split: the low digits N rows further */
        for (int k = 0; k < K; k++) {
            int d = row[k] - zb;              /* the code minus the zero point */
            if (!split) {
                hi[k] = (int8_t)d;
            } else {
                int h = (d + 256) / 16 - 16;  /* floor(d / 16), d in -255..255 */
                hi[k] = (int8_t)h;
                hi[(size_t)N * K + k] = (int8_t)(d - 16 * h);
            }
        }
    }
    if (kq_repack_weights(&x->pw, wc, rows, K, K, 8, kerr, sizeof kerr))
        return 0;   /* the digits are in range: only memory can fail */
    kq_gemm_s32(pool, M, ac, K, za, &x->pw, acc, rows);
    double step = (double)pa->u.scale * (double)pb->u.scale;
    for (int m = 0; m < M; m++) {
        const int32_t *r = acc + (size_t)m * rows;
        for (int n = 0; n < N; n++)
            out[(size_t)m * ldo + n] =
                (float)((double)(split ? 16 * (int64_t)r[n] + r[N + n] : r[n]) * step);
    }
    return 1;
}

static int mm_context(qmmbuf *x, kt_pool *pool, const qsite *ps, const qsite *pv,
                      const float *p, int ldp, int M, int Nt, const float *v, int ldv, int D,
                      float *out, int ldo)
{
    int8_t *vt = qbuf_get(&x->a, (size_t)D * Nt + (size_t)D);
    int8_t *lo = qbuf_get(&x->w, 2 * (size_t)M * Nt);   /* then the high region's M rows */
    int32_t *acc = qbuf_get(&x->acc, 2 * (size_t)D * M * sizeof(int32_t));
    char kerr[160];
    if (!vt || !lo || !acc)
        return 0;
    int8_t *hi = lo + (size_t)M * Nt;
    int8_t *row = vt + (size_t)D * Nt;
    int za = 0;
    for (int n = 0; n < Nt; n++) {
        za = qz_affine_codes_s8(&pv->u, v + (size_t)n * ldv, (size_t)D, row);
        for (int d = 0; d < D; d++)
            vt[(size_t)d * Nt + n] = row[d];
    }
    for (int m = 0; m < M; m++)
        qz_drq_softmax_split_s8(&ps->ds, p + (size_t)m * ldp, (size_t)Nt, lo + (size_t)m * Nt,
                                hi + (size_t)m * Nt);
    if (kq_repack_weights(&x->pw, lo, 2 * M, Nt, Nt, container_bits(ps->bits), kerr,
                          sizeof kerr))
        return 0;   /* the values are in range: only memory can fail */
    kq_gemm_s32(pool, D, vt, Nt, za, &x->pw, acc, 2 * M);
    float dlo;
    int shift;
    qz_drq_softmax_grid(&ps->ds, &dlo, &shift);
    double step = (double)dlo * (double)pv->u.scale;
    for (int d = 0; d < D; d++) {
        const int32_t *alo = acc + (size_t)d * 2 * M, *ahi = alo + M;
        for (int m = 0; m < M; m++)
            out[(size_t)m * ldo + d] =
                (float)((double)((int64_t)ahi[m] * ((int64_t)1 << shift) + alo[m]) * step);
    }
    return 1;
}

static int int_mm(void *ctx, kt_pool *pool, int slot, int site, int bt, float *a, int lda, int M,
                  int K, float *b, int ldb, int N, float *out, int ldo)
{
    qm_state *q = ctx;
    const qsite *pa = &q->s[site];
    if (!pa->int_in)
        return 0;   /* not set up: the activation hook fake-quantized both operands */
    const qsite *pb = &q->s[pa->pair];
    qmmbuf *x = &q->x.mm[slot];
    int done = bt ? mm_scores(x, pool, pa, pb, a, lda, M, K, b, ldb, N, out, ldo)
                  : mm_context(x, pool, pa, pb, a, lda, M, K, b, ldb, N, out, ldo);
    if (!done)
        atomic_store(&q->mm_oom, 1);
    return done;
}

/* Can the product of site a (q or softmax) and its pair b run in integers?
** Scores: both uniform, up to 8 bits.  Context: DRQ-softmax probabilities
** (their regions' values fit the packed-weight codes) times uniform values
** of up to 8 bits. */
static int mm_capable(const lavt_site *t, const qsite *pa, const qsite *pb)
{
    if (pb->type != QM_UNIFORM || pb->bits > 8)
        return 0;
    if (t->kind == LAVT_SITE_SOFTMAX)
        return pa->type == QM_DRQ_SOFTMAX;
    return pa->type == QM_UNIFORM && pa->bits <= 8;
}

/* Can weight site i (with activation site a before it) run in integers?
** Linear layers with uniform, DRQ-GELU or RORQ inputs; convolutions with
** uniform inputs. */
static int int_capable(const lavt_site *t, const qsite *pw, const qsite *pa)
{
    if (t->kind != LAVT_SITE_WEIGHT || pw->type != QM_UNIFORM || !pw->wq)
        return 0;
    if (t->conv)
        return pa->type == QM_UNIFORM && pa->bits <= 8;
    if (pa->type == QM_UNIFORM)
        return pa->bits <= 8;
    if (pa->type == QM_DRQ_GELU)
        return 1;
    return pa->type == QM_RORQ && pa->rq.nbands > 0;
}

/* Pack weight site i's codes and its dequantization steps. */
static int int_prepare(const lavt_model *m, qm_state *q, int i, char *err, size_t errlen)
{
    const lavt_site *t = lavt_site_get(m, i);
    qsite *pw = &q->s[i];
    const qsite *pa = &q->s[t->input];
    int rows = t->rows, cols = t->cols;
    const float *w = lavt_site_weight_fp32(m, i);
    int8_t *codes = malloc((size_t)rows * cols);
    int ng = pa->type == QM_UNIFORM ? 1 : pa->type == QM_DRQ_GELU ? 2 : pa->rq.nbands;
    pw->kw = calloc(1, sizeof *pw->kw);
    pw->dq = malloc((size_t)ng * rows * sizeof(float));
    if (!codes || !pw->kw || !pw->dq) {
        free(codes);
        snprintf(err, errlen, "out of memory packing %s", t->name);
        return -1;
    }
    /* weights are symmetric: qz_affine_codes_s8 gives the codes themselves */
    for (int r = 0; r < rows; r++)
        qz_affine_codes_s8(&pw->wq[r], w + (size_t)r * cols, (size_t)cols, codes + (size_t)r * cols);
    char kerr[160];
    int rc = kq_pack_weights(pw->kw, codes, rows, cols, cols, container_bits(pw->bits), kerr,
                             sizeof kerr);
    free(codes);
    if (rc) {
        snprintf(err, errlen, "%s: %s", t->name, kerr);
        return -1;
    }
    float step[QZ_MAX_BANDS];
    if (pa->type == QM_UNIFORM) {
        step[0] = pa->u.scale;
    } else if (pa->type == QM_DRQ_GELU) {
        qz_drq_gelu_steps(&pa->dg, &step[0], &step[1]);
    } else {
        for (int b = 0; b < ng; b++)
            step[b] = pa->rq.band[b].scale;
    }
    for (int g = 0; g < ng; g++)
        for (int r = 0; r < rows; r++)
            pw->dq[(size_t)g * rows + r] = step[g] * pw->wq[r].scale;
    pw->ngroups = ng;
    pw->kw_hwc = 0;
    pw->in = t->input;
    return 0;
}

static void int_release(qm_state *q)
{
    for (int i = 0; i < q->nsites; i++) {
        qsite *p = &q->s[i];
        if (p->kw) {
            kq_weights_free(p->kw);
            free(p->kw);
            p->kw = NULL;
        }
        free(p->dq);
        p->dq = NULL;
        p->ngroups = 0;
        p->kw_hwc = 0;
        p->int_in = 0;
    }
    q->nint = 0;
    q->nmm = 0;
    atomic_store(&q->mm_oom, 0);
    scratch_free(&q->x);
}

/* qm_apply, and with `release` each weight site's loaded copy is freed as
** soon as the site is set up (lavt_release_site; the fake-quantized copy
** too, once packed), so memory peaks at one layer more than the quantized
** model; then the float sites are released the same way. */
static int apply(lavt_model *m, qm_state *q, int release, char *err, size_t errlen)
{
    if (q->nsites != lavt_site_count(m)) {
        snprintf(err, errlen, "quantization state has %d sites, the model %d", q->nsites,
                 lavt_site_count(m));
        return -1;
    }
    for (int i = 0; i < q->nsites; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        if (t->kind == LAVT_SITE_WEIGHT && q->s[i].type != QM_FLOAT &&
            !lavt_site_weight_fp32(m, i)) {
            snprintf(err, errlen, "%s: the model's weights were released (lavt_release_site); "
                     "load it again to quantize it", t->name);
            return -1;
        }
    }
    qm_detach(m);
    int_release(q);
    q->exec_err[0] = 0;
    int integer = q->recipe.exec == QM_EXEC_INT;
    for (int i = 0; i < q->nsites; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        qsite *p = &q->s[i];
        if (t->kind != LAVT_SITE_WEIGHT || p->type == QM_FLOAT)
            continue;
        if (integer && int_capable(t, p, &q->s[t->input])) {
            /* the fp32 weights stay in the slot; the hook never reads them */
            if (int_prepare(m, q, i, err, errlen) ||
                (release && lavt_release_site(m, i, 1, err, errlen))) {
                int_release(q);
                return -1;
            }
            q->nint++;
            continue;
        }
        if (!p->wfake) {
            p->wfake = malloc((size_t)t->rows * t->cols * sizeof(float));
            if (!p->wfake) {
                snprintf(err, errlen, "out of memory quantizing %s", t->name);
                qm_detach(m);
                int_release(q);
                return -1;
            }
            qz_weight_fake(p->wq, lavt_site_weight_fp32(m, i), t->rows, t->cols, p->wfake);
        }
        lavt_site_set_weight(m, i, p->wfake);
        if (release) {   /* packed and detached: the copy is not read again */
            if (lavt_release_site(m, i, 0, err, errlen)) {
                int_release(q);
                return -1;
            }
            free(p->wfake);
            p->wfake = NULL;
        }
    }
    if (release && lavt_release_weights(m, err, errlen)) {   /* the float sites */
        int_release(q);
        return -1;
    }
    /* an activation whose every reader runs in integers is quantized there */
    for (int i = 0; i < q->nsites; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        if (t->kind == LAVT_SITE_WEIGHT || t->nusers == 0)
            continue;
        int all = 1;
        for (int u = 0; u < t->nusers; u++)
            all &= q->s[t->users[u]].kw != NULL;
        q->s[i].int_in = all;
    }
    /* attention products (named by their first operand, q or softmax):
    ** both operands are quantized inside the product */
    for (int i = 0; integer && i < q->nsites; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        if (t->pair < i || !mm_capable(t, &q->s[i], &q->s[t->pair]))
            continue;   /* no pair, or i is the second operand (k, v) */
        q->s[i].pair = t->pair;
        q->s[i].int_in = q->s[t->pair].int_in = 1;
        q->nmm++;
    }
    /* no hook when no activation is quantized: a hook also changes how a
    ** few sites are computed (lavt.h), so fp32 stays bit-exact */
    int anyact = 0;
    for (int i = 0; i < q->nsites; i++)
        if (lavt_site_get(m, i)->kind != LAVT_SITE_WEIGHT && q->s[i].type != QM_FLOAT)
            anyact = 1;
    if (anyact)
        lavt_set_act_hook(m, integer ? int_act_hook : fake_hook, q);
    if (q->nint) {
        lavt_set_linear_hook(m, int_linear, q);
        lavt_set_conv_hook(m, int_conv, q);
    }
    if (q->nmm)
        lavt_set_mm_hook(m, int_mm, q);
    return 0;
}

int qm_apply(lavt_model *m, qm_state *q, char *err, size_t errlen)
{
    return apply(m, q, 0, err, errlen);
}

int qm_apply_final(lavt_model *m, qm_state *q, char *err, size_t errlen)
{
    return q ? apply(m, q, 1, err, errlen) : lavt_release_weights(m, err, errlen);
}

void qm_set_exec(qm_state *q, qm_exec e) { q->recipe.exec = e; }

const char *qm_exec_error(const qm_state *q)
{
    if (q && q->exec_err[0])
        return q->exec_err;
    if (q && atomic_load(&q->mm_oom))
        return "out of memory for integer execution of an attention product: it ran in float";
    return NULL;
}

int qm_int_layers(const qm_state *q) { return q ? q->nint : 0; }

int qm_int_products(const qm_state *q) { return q ? q->nmm : 0; }

int qm_site_int(const qm_state *q, int site)
{
    return q && site >= 0 && site < q->nsites && q->s[site].kw != NULL;
}

void qm_detach(lavt_model *m)
{
    for (int i = 0; i < lavt_site_count(m); i++)
        if (lavt_site_get(m, i)->kind == LAVT_SITE_WEIGHT)
            lavt_site_set_weight(m, i, NULL);
    lavt_set_act_hook(m, NULL, NULL);
    lavt_set_linear_hook(m, NULL, NULL);
    lavt_set_conv_hook(m, NULL, NULL);
    lavt_set_mm_hook(m, NULL, NULL);
}

void qm_free(qm_state *q)
{
    if (!q)
        return;
    int_release(q);
    for (int i = 0; i < q->nsites; i++) {
        free(q->s[i].wq);
        free(q->s[i].wfake);
    }
    free(q->s);
    free(q);
}

size_t qm_weight_bytes(const lavt_model *m, const qm_state *q)
{
    size_t bytes = lavt_weight_bytes(m);
    for (int i = 0; q && i < q->nsites; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        const qsite *p = &q->s[i];
        if (t->kind != LAVT_SITE_WEIGHT || p->type == QM_FLOAT)
            continue;
        size_t nw = (size_t)t->rows * t->cols;
        bytes -= nw * sizeof(float);
        if (p->kw)   /* integer execution: what the packed form really takes */
            bytes += kq_weights_bytes(p->kw) + (size_t)t->rows * sizeof(float);
        else
            bytes += (nw * (size_t)p->bits + 7) / 8 + (size_t)t->rows * sizeof(float);
    }
    return bytes;
}

void qm_describe_site(const qm_state *q, int site, char *buf, size_t n)
{
    const qsite *p = &q->s[site];
    switch (p->type) {
    case QM_FLOAT: snprintf(buf, n, "float"); break;
    case QM_UNIFORM:
        if (p->wq)
            snprintf(buf, n, "uniform %db per-channel", p->bits);
        else
            snprintf(buf, n, "uniform %db scale=%.4g zero=%d", p->bits, p->u.scale, (int)p->u.zero);
        break;
    case QM_DRQ_SOFTMAX: snprintf(buf, n, "drq-softmax %db s=2^-%d", p->bits, p->ds.shift); break;
    case QM_DRQ_GELU: snprintf(buf, n, "drq-gelu %db pos=%.4g", p->bits, p->dg.scale_pos); break;
    case QM_TWIN_SOFTMAX:
    case QM_TWIN_GELU:
        snprintf(buf, n, "%s %db r2=%.4g m=%d", qm_qtype_name(p->type), p->bits, p->tw.scale_r2,
                 p->tw.m);
        break;
    case QM_RORQ: snprintf(buf, n, "rorq %db %d bands", p->bits, p->rq.nbands); break;
    }
}

/* ------------------------------------------------------------------ */
/* JSON                                                                 */
/* ------------------------------------------------------------------ */

static json_t *affine_json(const qz_affine *a)
{
    return json_pack("{s:f,s:i,s:i,s:i}", "scale", (double)a->scale, "zero", (int)a->zero, "qmin",
                     (int)a->qmin, "qmax", (int)a->qmax);
}

static int affine_from(json_t *o, qz_affine *a)
{
    double sc;
    int z, lo, hi;
    if (json_unpack(o, "{s:F,s:i,s:i,s:i}", "scale", &sc, "zero", &z, "qmin", &lo, "qmax", &hi))
        return -1;
    if (!(sc > 0) || lo > hi || z < lo - 1 || z > hi + 1)
        return -1;
    *a = (qz_affine){ (float)sc, z, lo, hi };
    return 0;
}

char *qm_state_to_json(const lavt_model *m, const qm_state *q)
{
    json_t *root = json_object(), *sites = json_array();
    char bits[16];
    snprintf(bits, sizeof bits, "W%dA%d", q->bits.w, q->bits.a);
    json_object_set_new(root, "recipe", json_string(q->recipe.name));
    json_object_set_new(root, "exec", json_string(qm_exec_name(q->recipe.exec)));
    json_object_set_new(root, "bits", json_string(bits));
    for (int i = 0; i < q->nsites; i++) {
        const qsite *p = &q->s[i];
        json_t *o = json_pack("{s:s,s:s,s:i}", "site", lavt_site_get(m, i)->name, "type",
                              qm_qtype_name(p->type), "bits", p->bits);
        switch (p->type) {
        case QM_FLOAT: break;
        case QM_UNIFORM:
            if (p->wq) {
                json_t *a = json_array();
                for (int r = 0; r < p->nrows; r++)
                    json_array_append_new(a, json_real(p->wq[r].scale));
                json_object_set_new(o, "channel_scales", a);
            } else {
                json_object_set_new(o, "q", affine_json(&p->u));
            }
            break;
        case QM_DRQ_SOFTMAX: json_object_set_new(o, "shift", json_integer(p->ds.shift)); break;
        case QM_DRQ_GELU: json_object_set_new(o, "scale_pos", json_real(p->dg.scale_pos)); break;
        case QM_TWIN_SOFTMAX:
        case QM_TWIN_GELU:
            json_object_set_new(o, "m", json_integer(p->tw.m));
            json_object_set_new(o, "scale_r2", json_real(p->tw.scale_r2));
            break;
        case QM_RORQ: {
            json_t *bands = json_array();
            for (int k = 0; k < p->rq.nbands; k++) {
                json_t *bo = affine_json(&p->rq.band[k]);
                json_object_set_new(bo, "bound", json_real(p->rq.bound[k]));
                json_array_append_new(bands, bo);
            }
            json_object_set_new(o, "bands", bands);
            break;
        }
        }
        json_array_append_new(sites, o);
    }
    json_object_set_new(root, "sites", sites);
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(root);
    return s;
}

int qm_state_from_json(const lavt_model *m, const char *text, qm_state **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) {
        snprintf(err, errlen, "quantization state: invalid JSON at %d:%d: %s", je.line, je.column,
                 je.text);
        return -1;
    }
    qm_recipe r;
    memset(&r, 0, sizeof r);
    qm_bits b;
    const char *rn = json_string_value(json_object_get(root, "recipe"));
    const char *bs = json_string_value(json_object_get(root, "bits"));
    json_t *sites = json_object_get(root, "sites");
    qm_state *q = NULL;
    if (!rn || !bs || qm_bits_parse(bs, &b) || !json_is_array(sites)) {
        snprintf(err, errlen, "quantization state: missing recipe, bits or sites");
        goto fail;
    }
    qm_recipe_builtin(rn, &r);   /* unknown names keep the name; only name, exec and bits matter */
    snprintf(r.name, sizeof r.name, "%s", rn);
    const char *ex = json_string_value(json_object_get(root, "exec"));
    if (ex && qm_exec_parse(ex, &r.exec)) {
        snprintf(err, errlen, "quantization state: exec '%s' is neither sim nor int", ex);
        goto fail;
    }
    if (!(q = state_new(m, &r, b))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((int)json_array_size(sites) != q->nsites) {
        snprintf(err, errlen, "quantization state has %d sites, the model %d",
                 (int)json_array_size(sites), q->nsites);
        goto fail;
    }
    for (int i = 0; i < q->nsites; i++) {
        json_t *o = json_array_get(sites, (size_t)i);
        const lavt_site *t = lavt_site_get(m, i);
        qsite *p = &q->s[i];
        const char *ty = json_string_value(json_object_get(o, "type"));
        const char *nm = json_string_value(json_object_get(o, "site"));
        if (!nm || strcmp(nm, t->name) != 0) {
            snprintf(err, errlen, "quantization state: site %d is '%s', the model's is '%s'", i,
                     nm ? nm : "(missing)", t->name);
            goto fail;
        }
        int bad = !ty || qm_qtype_parse(ty, &p->type) != 0 ||
                  !json_is_integer(json_object_get(o, "bits"));
        p->bits = (int)json_integer_value(json_object_get(o, "bits"));
        if (!bad && p->type != QM_FLOAT && (p->bits < 2 || p->bits > 8))
            bad = 1;
        if (!bad && t->kind == LAVT_SITE_WEIGHT && p->type != QM_FLOAT) {
            json_t *a = json_object_get(o, "channel_scales");
            bad = p->type != QM_UNIFORM || (int)json_array_size(a) != t->rows;
            for (int k = 0; !bad && k < t->rows; k++) {
                double sc = json_number_value(json_array_get(a, (size_t)k));
                bad = !(sc > 0);
                int qmax = (1 << (p->bits - 1)) - 1;
                p->wq[k] = (qz_affine){ (float)sc, 0, -qmax, qmax };
            }
        } else if (!bad) {
            switch (p->type) {
            case QM_FLOAT: break;
            case QM_UNIFORM: bad = affine_from(json_object_get(o, "q"), &p->u) != 0; break;
            case QM_DRQ_SOFTMAX:
                p->ds.bits = p->bits;
                p->ds.shift = (int)json_integer_value(json_object_get(o, "shift"));
                bad = !json_is_integer(json_object_get(o, "shift")) || p->ds.shift < 0 || p->ds.shift > 19;
                break;
            case QM_DRQ_GELU:
                p->dg.bits = p->bits;
                p->dg.scale_pos = (float)json_number_value(json_object_get(o, "scale_pos"));
                bad = !json_is_number(json_object_get(o, "scale_pos")) || !(p->dg.scale_pos > 0);
                break;
            case QM_TWIN_SOFTMAX:
            case QM_TWIN_GELU:
                p->tw.bits = p->bits;
                p->tw.m = (int)json_integer_value(json_object_get(o, "m"));
                p->tw.scale_r2 = (float)json_number_value(json_object_get(o, "scale_r2"));
                bad = !json_is_integer(json_object_get(o, "m")) ||
                      !json_is_number(json_object_get(o, "scale_r2")) || !(p->tw.scale_r2 > 0) ||
                      p->tw.m < 0 || p->tw.m > 19;
                break;
            case QM_RORQ: {
                json_t *bands = json_object_get(o, "bands");
                p->rq.bits = p->bits;
                p->rq.nbands = (int)json_array_size(bands);
                bad = p->rq.nbands < 1 || p->rq.nbands > QZ_MAX_BANDS;
                for (int k = 0; !bad && k < p->rq.nbands; k++) {
                    json_t *bo = json_array_get(bands, (size_t)k);
                    bad = affine_from(bo, &p->rq.band[k]) != 0 ||
                          !json_is_number(json_object_get(bo, "bound"));
                    p->rq.bound[k] = (float)json_number_value(json_object_get(bo, "bound"));
                }
                break;
            }
            }
        }
        if (bad) {
            snprintf(err, errlen, "quantization state: site %d (%s) is malformed", i, t->name);
            goto fail;
        }
    }
    json_decref(root);
    *out = q;
    return 0;
fail:
    qm_free(q);
    json_decref(root);
    return -1;
}
