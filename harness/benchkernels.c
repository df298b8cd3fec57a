/*
** benchkernels: `risq bench kernels` (see benchkernels.h for what it owns).
**
** For every distinct GEMM shape of the chosen set, in this order:
**   1. make the operands (deterministic random data; weights packed with
**      kq_pack_weights and kf_pack_nt outside any timed region, as the
**      model packs each layer's weights once);
**   2. correctness, before any timing: own int8 and int4 = oneDNN's
**      dnnl_gemm_u8s8s32 on the same codes, element for element (when oneDNN
**      is built in); own fp32 within 2 (2K+4) eps sum|a||w| of OpenBLAS; and,
**      on the smallest shape of the run, all of them against plain C loops
**      (so a build without the references still checks something). A
**      kernel that fails is not timed; its configuration is stored as
**      failed and the exit status is 1;
**   3. per implementation: warm-up calls (the last one also fixes how many
**      calls one sample times, so that a sample lasts at least --min-ms),
**      then --reps samples, taken round-robin over the implementations
**      (sample r of each before sample r + 1) so that the load of a shared
**      machine hits all alike, each after one untimed call that wakes the
**      implementation's threads; the time per call of each sample is kept;
**   4. each implementation's samples are stored as one configuration of a
**      run of suite "bench-kernels" (model "gemm", dataset "MxNxK", method
**      = implementation, bits, isa, threads) with latency_ms (median, p90,
**      min, MAD), gops (2MNK / median) and busy_threads.
** Then a table of GOP/s and the ratios own / reference, and per model the
** total over one forward pass's linear layers and convolutions.
**
** Threads: the own kernels run on a kt_pool of --threads; OpenBLAS gets
** openblas_set_num_threads(); Debian's oneDNN uses OpenMP, so
** omp_set_num_threads() before its first call, with OMP_WAIT_POLICY=passive
** unless the environment or --omp-wait says otherwise (libgomp reads it only
** when it is loaded, so risq sets it and executes itself again; spinning
** OpenMP barriers cost ~15 ms per call when other processes share the
** cores, which would measure the machine, not oneDNN), and
** OPENBLAS_THREAD_TIMEOUT=18 unless set (its workers sleep after ~0.1 ms
** instead of ~0.1 s; see bk_lib_env). busy_threads says how many
** threads of this process actually ran during a measurement (from each
** thread's /proc/self/task/TID/schedstat run time, harness/taskstat.c: at
** least half as long as the busiest thread). After each sample of a
** library the benchmark waits (up to 1 s) until the other threads of the
** process are idle, so that the library's spin-waiting workers do not
** steal the cores of the next measurement.
*/
#include "harness/benchkernels.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "harness/cli.h"
#include "harness/evaluate.h"
#include "harness/stats.h"
#include "harness/store.h"
#include "harness/taskstat.h"
#include "kernels/gemm_f32.h"
#include "kernels/isa.h"
#include "kernels/qgemm.h"
#include "kernels/threadpool.h"
#include "models/lavt.h"

#ifdef RISQ_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef RISQ_HAVE_DNNL
#include <dnnl.h>
#endif
#ifdef RISQ_HAVE_OPENMP
#include <omp.h>
#endif


#define BK_SUITE "bench-kernels"
#define BK_MAX_REPS 10000

/* Set by SIGINT / SIGTERM: stop after the measurement in flight. */
static volatile sig_atomic_t bk_interrupted;
static void bk_on_signal(int sig)
{
    (void)sig;
    bk_interrupted = 1;
}

/* ------------------------------------------------------------ shapes --- */

static int bk_add(bk_shapes *s, int set, int M, int N, int K, int calls, const char *layer)
{
    if (M <= 0 || N <= 0 || K <= 0 || calls <= 0) return 0;
    bk_shape *h = NULL;
    for (int i = 0; i < s->n; i++)
        if (s->v[i].M == M && s->v[i].N == N && s->v[i].K == K) h = &s->v[i];
    if (!h) {
        if (s->n == s->cap) {
            int cap = s->cap ? 2 * s->cap : 32;
            bk_shape *nv = realloc(s->v, (size_t)cap * sizeof *nv);
            if (!nv) return -1;
            s->v = nv;
            s->cap = cap;
        }
        h = &s->v[s->n++];
        memset(h, 0, sizeof *h);
        h->M = M;
        h->N = N;
        h->K = K;
    }
    if (set >= 0 && set < 2) h->calls[set] += calls;
    /* "B:swin.s0.proj x2, B:pwam.s0.proj x6"; cut with "..." when long */
    char item[96];
    snprintf(item, sizeof item, "%s%s", set == 0 ? "tiny:" : set == 1 ? "B:" : "", layer);
    if (calls > 1) {
        size_t l = strlen(item);
        snprintf(item + l, sizeof item - l, " x%d", calls);
    }
    size_t used = strlen(h->layers), need = strlen(item) + (used ? 2 : 0);
    if (used + need + 4 < sizeof h->layers) {
        snprintf(h->layers + used, sizeof h->layers - used, "%s%s", used ? ", " : "", item);
    } else if (used + 4 < sizeof h->layers && strcmp(h->layers + used - 3, "...")) {
        snprintf(h->layers + used, sizeof h->layers - used, "...");
    }
    return 0;
}

int bk_shapes_from_config(const lavt_config *c, int set, bk_shapes *s)
{
    int T = c->max_tokens, Lh = c->hidden_size, inter = c->intermediate_size;
    int w = c->window_size, C0 = c->embed_dim, p = c->patch_size;
    int H = (c->input_size + p - 1) / p, H0 = H;
    int Hs[LAVT_MAX_STAGES] = {0};
    char name[64];
    int rc = 0;
    /* Convolutions are listed as the products of their im2col patches:
    ** M = output pixels, N = output channels, K = C kh kw (the model runs
    ** the larger ones in blocks of pixels; the sums are the same). The
    ** patch embedding is a p x p, stride-p conv from the 3 image channels. */
    rc |= bk_add(s, set, H * H, C0, 3 * p * p, 1, "patch");
    for (int i = 0; i < c->nstages && !rc; i++) {
        Hs[i] = H;
        int D = C0 << i, hid = (int)((float)D * c->mlp_ratio), depth = c->depths[i];
        int Hp = (H + w - 1) / w * w;  /* windows see the zero-padded map */
        snprintf(name, sizeof name, "swin.s%d.qkv", i);
        rc |= bk_add(s, set, Hp * Hp, 3 * D, D, depth, name);
        snprintf(name, sizeof name, "swin.s%d.proj", i);
        rc |= bk_add(s, set, Hp * Hp, D, D, depth, name);
        snprintf(name, sizeof name, "swin.s%d.fc1", i);
        rc |= bk_add(s, set, H * H, hid, D, depth, name);
        snprintf(name, sizeof name, "swin.s%d.fc2", i);
        rc |= bk_add(s, set, H * H, D, hid, depth, name);
        /* PWAM: vis, f_query, W, project_mm, res_gate.0, res_gate.2 are 1x1
        ** convs over the pixels; key and value project the words. */
        snprintf(name, sizeof name, "pwam.s%d.proj", i);
        rc |= bk_add(s, set, H * H, D, D, 6, name);
        snprintf(name, sizeof name, "pwam.s%d.kv", i);
        rc |= bk_add(s, set, T, D, Lh, 2, name);
        if (i < c->nstages - 1) {
            int Hn = (H + 1) / 2;
            snprintf(name, sizeof name, "merge.s%d", i);
            rc |= bk_add(s, set, Hn * Hn, 2 * D, 4 * D, 1, name);
        }
        H = (H + 1) / 2;
    }
    rc |= bk_add(s, set, T, Lh, Lh, 4 * c->num_layers, "bert.qkvo");
    rc |= bk_add(s, set, T, inter, Lh, c->num_layers, "bert.ffn1");
    rc |= bk_add(s, set, T, Lh, inter, c->num_layers, "bert.ffn2");
    /* decoder: per level, on stage 2 - lv's map, a 3x3 conv from the
    ** upsampled features concatenated with the stage's (12C, then 4C + the
    ** stage's width) to 4C channels, then a 3x3 conv 4C -> 4C; then the
    ** classifier, a 1x1 conv from 4C. */
    int h = 4 * C0;
    for (int lv = 0; lv < 3 && c->nstages == 4; lv++) {
        int Hy = Hs[2 - lv], cin = lv == 0 ? 12 * C0 : h + (C0 << (2 - lv));
        snprintf(name, sizeof name, "dec.l%d.c1", lv);
        rc |= bk_add(s, set, Hy * Hy, h, 9 * cin, 1, name);
        snprintf(name, sizeof name, "dec.l%d.c2", lv);
        rc |= bk_add(s, set, Hy * Hy, h, 9 * h, 1, name);
    }
    rc |= bk_add(s, set, H0 * H0, c->num_classes, h, 1, "dec.cls");
    return rc ? -1 : 0;
}

void bk_lavt_b_config(lavt_config *c)
{
    static const int depths[4] = {2, 2, 18, 2}, heads[4] = {4, 8, 16, 32};
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "lavt-b");
    snprintf(c->arch, sizeof c->arch, "lavt_one");
    c->input_size = 480;
    c->patch_size = 4;
    c->embed_dim = 128;
    c->nstages = 4;
    for (int i = 0; i < 4; i++) {
        c->depths[i] = depths[i];
        c->num_heads[i] = heads[i];
        c->fusion_heads[i] = 1;
    }
    c->window_size = 12;
    c->mlp_ratio = 4.0f;
    c->vocab_size = 30522;
    c->hidden_size = 768;
    c->num_layers = 12;
    c->bert_heads = 12;
    c->intermediate_size = 3072;
    c->max_position = 512;
    c->type_vocab_size = 2;
    c->bert_ln_eps = 1e-12f;
    c->max_tokens = 20;
    c->num_classes = 2;
}

void bk_shapes_free(bk_shapes *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------- implementations --- */

enum { BK_OWN_FP32, BK_OPENBLAS, BK_OWN_INT8, BK_OWN_INT4, BK_ONEDNN, BK_NIMPL };

/* own-fp32: kf_gemm_nt_packed; openblas: cblas_sgemm; own-int8 / own-int4:
** kq_gemm_s32 on 8- / 4-bit packed weights; onednn: dnnl_gemm_u8s8s32. */
static const struct {
    const char *name;   /* method in the history, column in the table */
    const char *bits;
} bk_impls[BK_NIMPL] = {
    {"own-fp32", "fp32"}, {"openblas", "fp32"}, {"own-int8", "W8A8"}, {"own-int4", "W4A8"},
    {"onednn", "W8A8"},
};

static int bk_impl_built(int impl)
{
#ifndef RISQ_HAVE_OPENBLAS
    if (impl == BK_OPENBLAS) return 0;
#endif
#ifndef RISQ_HAVE_DNNL
    if (impl == BK_ONEDNN) return 0;
#endif
    (void)impl;
    return 1;
}

typedef struct bk_opts {
    const char *db;
    const char *zoo;
    int threads, reps, warmup;
    double min_ms;
    int sets;            /* bit 0 tiny, bit 1 LAVT-B, bit 2 1024^3 */
    int use[BK_NIMPL];   /* implementations asked for */
    ki_isa isa;
    const char *isa_name;
    const char *omp_wait;  /* --omp-wait: "passive", "active" or "default" */
    int list;              /* --list: print the shapes, time nothing */
} bk_opts;

/* Operands of one shape. A holds activation codes u in [0, 127] (see
** bk_make): own kernels get them as int8 u - 128 with zero point zu - 128,
** oneDNN as uint8 u with zero point zu. */
typedef struct bk_data {
    int M, N, K;
    float *A, *W, *C;
    uint8_t *Au8;
    int8_t *A8, *W8, *W4;
    int zu;
    kq_weights q8, q4;
    kf_packed *wf;       /* W packed for the own fp32 GEMM */
    int32_t *C32;
} bk_data;

typedef struct bk_env {
    kt_pool *pool;
    ki_isa isa;
    int threads;
} bk_env;

static uint64_t bk_rng;
static uint64_t bk_next(void)
{
    uint64_t z = (bk_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void bk_free_data(bk_data *d)
{
    free(d->A);
    free(d->W);
    free(d->C);
    free(d->Au8);
    free(d->A8);
    free(d->W8);
    free(d->W4);
    free(d->C32);
    kq_weights_free(&d->q8);
    kq_weights_free(&d->q4);
    kf_packed_free(d->wf);
    memset(d, 0, sizeof *d);
}

/* Random operands for one shape (seeded by the shape, so every run times
** the same data). Activation codes stay in [0, 127]: oneDNN's AVX2 path
** without VNNI adds u8 x s8 products pairwise in int16 (vpmaddubsw), which
** saturates above 32767; with u <= 127 and |w| <= 127 a pair is at most
** 32258, so oneDNN is exact and can be compared bit for bit. */
static int bk_make(bk_data *d, int M, int N, int K, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->M = M;
    d->N = N;
    d->K = K;
    size_t mk = (size_t)M * K, nk = (size_t)N * K, mn = (size_t)M * N;
    d->A = malloc(mk * sizeof *d->A);
    d->W = malloc(nk * sizeof *d->W);
    d->C = malloc(mn * sizeof *d->C);
    d->Au8 = malloc(mk);
    d->A8 = malloc(mk);
    d->W8 = malloc(nk);
    d->W4 = malloc(nk);
    d->C32 = malloc(mn * sizeof *d->C32);
    if (!d->A || !d->W || !d->C || !d->Au8 || !d->A8 || !d->W8 || !d->W4 || !d->C32) {
        snprintf(err, errlen, "%dx%dx%d: out of memory for the operands", M, N, K);
        bk_free_data(d);
        return -1;
    }
    bk_rng = 0x6b656e656cULL ^ ((uint64_t)M << 40) ^ ((uint64_t)N << 20) ^ (uint64_t)K;
    for (size_t i = 0; i < mk; i++) {
        uint64_t r = bk_next();
        d->A[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        d->Au8[i] = (uint8_t)(r & 127);
        d->A8[i] = (int8_t)((int)d->Au8[i] - 128);
    }
    for (size_t i = 0; i < nk; i++) {
        uint64_t r = bk_next();
        d->W[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0) * 0.1f;
        d->W8[i] = (int8_t)((int)(r % 255) - 127);
        d->W4[i] = (int8_t)((int)((r >> 8) % 15) - 7);
    }
    d->zu = 64 + (int)(bk_next() % 8);
    if (kq_pack_weights(&d->q8, d->W8, N, K, K, 8, err, errlen) ||
        kq_pack_weights(&d->q4, d->W4, N, K, K, 4, err, errlen)) {
        bk_free_data(d);
        return -1;
    }
    d->wf = kf_pack_nt(N, K, d->W, K);
    if (!d->wf) {
        snprintf(err, errlen, "%dx%dx%d: out of memory for the packed fp32 weights", M, N, K);
        bk_free_data(d);
        return -1;
    }
    return 0;
}

/* One call of an implementation. Returns 0, or -1 with a message. */
static int bk_call(const bk_env *e, bk_data *d, int impl, char *err, size_t errlen)
{
    int M = d->M, N = d->N, K = d->K, rc = 0;
    switch (impl) {
    case BK_OWN_FP32: /* (e->isa is the active ISA, for which d->wf was packed) */
        kf_gemm_nt_packed(e->pool, M, d->A, K, d->wf, NULL, d->C, N);
        break;
    case BK_OWN_INT8:
        rc = kq_gemm_s32_isa(e->isa, e->pool, M, d->A8, K, d->zu - 128, &d->q8, d->C32, N);
        break;
    case BK_OWN_INT4:
        rc = kq_gemm_s32_isa(e->isa, e->pool, M, d->A8, K, d->zu - 128, &d->q4, d->C32, N);
        break;
#ifdef RISQ_HAVE_OPENBLAS
    case BK_OPENBLAS:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, d->A, K, d->W, K, 0.0f,
                    d->C, N);
        break;
#endif
#ifdef RISQ_HAVE_DNNL
    case BK_ONEDNN: {
        const int32_t co = 0;
        dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'T', 'F', M, N, K, 1.0f, d->Au8, K, (uint8_t)d->zu,
                                             d->W8, K, 0, 0.0f, d->C32, N, &co);
        if (st != dnnl_success) {
            snprintf(err, errlen, "dnnl_gemm_u8s8s32 failed (status %d)", (int)st);
            return -1;
        }
        break;
    }
#endif
    default:
        snprintf(err, errlen, "%s is not built in",
                 impl >= 0 && impl < BK_NIMPL ? bk_impls[impl].name : "this implementation");
        return -1;
    }
    if (rc) snprintf(err, errlen, "the %s kernels cannot run on this CPU", ki_isa_name(e->isa));
    return rc ? -1 : 0;
}

/* ------------------------------------------------------ correctness --- */

/* Plain C: acc = sum (A - za) * W, exact in int64. */
static void bk_ref_s32(const bk_data *d, const int8_t *W, int32_t *C)
{
    int za = d->zu - 128;
    for (int m = 0; m < d->M; m++)
        for (int n = 0; n < d->N; n++) {
            int64_t s = 0;
            for (int k = 0; k < d->K; k++)
                s += (int64_t)(d->A8[(size_t)m * d->K + k] - za) * W[(size_t)n * d->K + k];
            C[(size_t)m * d->N + n] = (int32_t)s;
        }
}

static int bk_same_s32(const int32_t *a, const int32_t *b, int M, int N, const char *an, const char *bn,
                       char *err, size_t errlen)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++)
            if (a[(size_t)m * N + n] != b[(size_t)m * N + n]) {
                snprintf(err, errlen, "wrong result: C[%d][%d] = %ld (%s) but %ld (%s)", m, n,
                         (long)a[(size_t)m * N + n], an, (long)b[(size_t)m * N + n], bn);
                return 0;
            }
    return 1;
}

/* Own int8 and int4 against oneDNN (when built in) and, with full, against
** the plain C loops. ok[impl] is cleared and msg[impl] set for a kernel
** that gives a wrong result. */
static void bk_check_int(const bk_env *e, bk_data *d, int full, const int *use, int ok[BK_NIMPL],
                         char msg[BK_NIMPL][512])
{
    size_t mn = (size_t)d->M * d->N;
    int32_t *own = malloc(mn * sizeof *own), *ref = malloc(mn * sizeof *ref);
    if (!own || !ref) {
        for (int i = BK_OWN_INT8; i <= BK_ONEDNN; i++)
            if (use[i] && ok[i]) {
                ok[i] = 0;
                snprintf(msg[i], 512, "out of memory for the correctness check");
            }
        free(own);
        free(ref);
        return;
    }
    for (int bits = 8; bits >= 4; bits -= 4) {
        int impl = bits == 8 ? BK_OWN_INT8 : BK_OWN_INT4;
        const int8_t *W = bits == 8 ? d->W8 : d->W4;
        if (!use[impl] || !ok[impl]) continue;
        if (bk_call(e, d, impl, msg[impl], 512)) {
            ok[impl] = 0;
            continue;
        }
        memcpy(own, d->C32, mn * sizeof *own);
#ifdef RISQ_HAVE_DNNL
        if (use[BK_ONEDNN] && ok[BK_ONEDNN]) {
            /* oneDNN on the same codes; its weights are plain s8 [N][K] */
            const int32_t co = 0;
            dnnl_status_t st = dnnl_gemm_u8s8s32('N', 'T', 'F', d->M, d->N, d->K, 1.0f, d->Au8, d->K,
                                                 (uint8_t)d->zu, W, d->K, 0, 0.0f, ref, d->N, &co);
            if (st != dnnl_success) {
                ok[BK_ONEDNN] = 0;
                snprintf(msg[BK_ONEDNN], 512, "dnnl_gemm_u8s8s32 failed (status %d)", (int)st);
            } else if (!bk_same_s32(own, ref, d->M, d->N, bk_impls[impl].name, "oneDNN", msg[impl], 512)) {
                ok[impl] = 0;
                continue;
            }
        }
#endif
        if (full) {
            bk_ref_s32(d, W, ref);
            if (!bk_same_s32(own, ref, d->M, d->N, bk_impls[impl].name, "plain C", msg[impl], 512))
                ok[impl] = 0;
#ifdef RISQ_HAVE_DNNL
            if (bits == 8 && use[BK_ONEDNN] && ok[BK_ONEDNN]) {
                char m2[512];
                if (bk_call(e, d, BK_ONEDNN, msg[BK_ONEDNN], 512)) {
                    ok[BK_ONEDNN] = 0;
                } else if (!bk_same_s32(d->C32, ref, d->M, d->N, "oneDNN", "plain C", m2, sizeof m2)) {
                    ok[BK_ONEDNN] = 0;
                    snprintf(msg[BK_ONEDNN], 512, "%s", m2);
                }
            }
#endif
        }
    }
    free(own);
    free(ref);
}

/* Own fp32 against OpenBLAS (when built in) and, with full, against the
** unblocked kf_gemm_nt_ref: |own - ref| <= 2 (2K + 4) eps sum_k |a||w| for
** every element (the bound of kernels/README.md, doubled because both sides
** round). */
static void bk_check_fp32(const bk_env *e, bk_data *d, int full, const int *use, int ok[BK_NIMPL],
                          char msg[BK_NIMPL][512])
{
    int have_blas = 0;
#ifdef RISQ_HAVE_OPENBLAS
    have_blas = use[BK_OPENBLAS];
#endif
    if (!use[BK_OWN_FP32] || (!have_blas && !full)) return;
    int M = d->M, N = d->N, K = d->K;
    size_t mn = (size_t)M * N, mk = (size_t)M * K, nk = (size_t)N * K;
    float *own = malloc(mn * sizeof *own), *ref = malloc(mn * sizeof *ref), *S = malloc(mn * sizeof *S);
    float *aA = malloc(mk * sizeof *aA), *aW = malloc(nk * sizeof *aW);
    if (!own || !ref || !S || !aA || !aW) {
        ok[BK_OWN_FP32] = 0;
        snprintf(msg[BK_OWN_FP32], 512, "out of memory for the correctness check");
        goto out;
    }
    if (bk_call(e, d, BK_OWN_FP32, msg[BK_OWN_FP32], 512)) {
        ok[BK_OWN_FP32] = 0;
        goto out;
    }
    memcpy(own, d->C, mn * sizeof *own);
    for (size_t i = 0; i < mk; i++) aA[i] = fabsf(d->A[i]);
    for (size_t i = 0; i < nk; i++) aW[i] = fabsf(d->W[i]);
    kf_gemm_nt(e->pool, M, N, K, aA, K, aW, K, NULL, S, N);
    for (int r = 0; r < 2; r++) {
        const char *rname = r == 0 ? "OpenBLAS" : "kf_gemm_nt_ref";
        if (r == 0) {
            char e2[256];
            if (!have_blas || bk_call(e, d, BK_OPENBLAS, e2, sizeof e2)) continue;
            memcpy(ref, d->C, mn * sizeof *ref);
        } else {
            if (!full) continue;
            kf_gemm_nt_ref(M, N, K, d->A, K, d->W, K, NULL, ref, N);
        }
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                size_t i = (size_t)m * N + n;
                double tol = 2.0 * (2.0 * K + 4.0) * 1.1920928955078125e-07 * S[i] * 1.01 + 1e-30;
                double diff = fabs((double)own[i] - ref[i]);
                if (!(diff <= tol)) {
                    ok[BK_OWN_FP32] = 0;
                    snprintf(msg[BK_OWN_FP32], 512,
                             "wrong result: C[%d][%d] = %.9g but %.9g (%s), bound %.3g", m, n, own[i],
                             ref[i], rname, tol);
                    goto out;
                }
            }
    }
out:
    free(own);
    free(ref);
    free(S);
    free(aA);
    free(aW);
}

/* ------------------------------------------------------------ timing --- */

static double bk_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Wait until no other thread of this process has run for more than 0.5 ms
** in a 10 ms window (at most 1 s): OpenBLAS's workers spin after a call
** (~0.1 s unless OPENBLAS_THREAD_TIMEOUT is set, see bk_lib_env) and
** OpenMP's for some ms, and would take cores from the next measurement.
** The window is long enough that a spinning thread which the scheduler of
** a loaded machine leaves waiting for a while still shows. */
static void bk_quiesce(void)
{
    static ts_task a[TS_MAX_TASKS], b[TS_MAX_TASKS];
    long self = (long)gettid();
    for (int i = 0; i < 100; i++) {
        int na = ts_snapshot(a, TS_MAX_TASKS);
        if (na < 0) return;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        int nb = ts_snapshot(b, TS_MAX_TASKS);
        if (nb < 0 || ts_others_ms(a, na, b, nb, self) <= 0.5) return;
    }
}

typedef struct bk_result {
    int measured;          /* 1: samples below are valid */
    int ok;                /* 0: failed (msg says why) */
    char msg[512];
    double *lat;           /* ms per call, reps of them */
    int nlat;
    int inner;             /* calls per sample */
    int busy;              /* threads busy during the samples, -1 unknown */
    double median, p90, min, mad, gops;
    char started[32], finished[32];
    ts_task *run;          /* [TS_MAX_TASKS]: run time of each thread that ran
                           ** during the samples, over all of them */
    int nrun;              /* entries of run; -1: /proc gave none */
} bk_result;

/* Warm-up calls; the last one fixes how many calls a sample times. */
static int bk_calibrate(const bk_env *e, bk_data *d, int impl, const bk_opts *o, bk_result *r)
{
    store_now_utc(r->started);
    double one = 0;
    int nw = o->warmup > 0 ? o->warmup : 1;
    for (int w = 0; w < nw; w++) {
        double t0 = bk_now_ms();
        if (bk_call(e, d, impl, r->msg, sizeof r->msg)) return -1;
        one = bk_now_ms() - t0;
    }
    double inner = one > 0 ? ceil(o->min_ms / one) : 1000;
    r->inner = inner < 1 ? 1 : inner > 100000 ? 100000 : (int)inner;
    r->lat = calloc((size_t)o->reps, sizeof *r->lat);
    r->run = calloc(TS_MAX_TASKS, sizeof *r->run);
    if (!r->lat || !r->run) {
        snprintf(r->msg, sizeof r->msg, "out of memory");
        return -1;
    }
    return 0;
}

/* Sample number rep: r->inner calls, their mean time; the run time each
** thread of the process got meanwhile is added to r->run. */
static void bk_sample(const bk_env *e, bk_data *d, int impl, bk_result *r, int rep)
{
    static ts_task a[TS_MAX_TASKS], b[TS_MAX_TASKS];
    char msg[512];
    /* One untimed call first: after the pause in which the previous
    ** library's workers went to sleep, the first call pays for waking this
    ** one's threads (on a VM, a worker woken onto the busy CPU can wait
    ** milliseconds for the idle one), which a forward pass, calling
    ** back to back, does not. The same for every implementation. */
    bk_call(e, d, impl, msg, sizeof msg);
    int na = ts_snapshot(a, TS_MAX_TASKS);
    double t0 = bk_now_ms();
    for (int i = 0; i < r->inner; i++) bk_call(e, d, impl, msg, sizeof msg);
    r->lat[rep] = (bk_now_ms() - t0) / r->inner;
    int nb = ts_snapshot(b, TS_MAX_TASKS);
    if (na < 0 || nb < 0) r->nrun = -1;
    if (r->nrun >= 0) r->nrun = ts_add_run(r->run, r->nrun, TS_MAX_TASKS, a, na, b, nb);
}

/* Summary of the samples. */
static void bk_finish(const bk_data *d, int reps, bk_result *r)
{
    r->nlat = reps;
    r->median = stats_median(r->lat, r->nlat);
    r->p90 = stats_p90(r->lat, r->nlat);
    r->min = stats_quantile(r->lat, r->nlat, 0.0);
    r->mad = stats_mad(r->lat, r->nlat);
    r->gops = 2.0 * d->M * d->N * d->K / (r->median * 1e-3) * 1e-9;
    r->busy = r->nrun > 0 ? ts_busy(r->run, r->nrun, 0.5) : -1;
    r->measured = 1;
    store_now_utc(r->finished);
}

/* ------------------------------------------------------------- store --- */

static const char *bk_ref_isa(int impl, const bk_opts *o)
{
    static char buf[64];
    (void)buf;
#ifdef RISQ_HAVE_OPENBLAS
    if (impl == BK_OPENBLAS) {
        const char *core = openblas_get_corename();
        snprintf(buf, sizeof buf, "%s", core ? core : "unknown");
        for (char *p = buf; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        return buf;
    }
#endif
#ifdef RISQ_HAVE_DNNL
    if (impl == BK_ONEDNN) {
        switch (dnnl_get_effective_cpu_isa()) {
        case dnnl_cpu_isa_sse41: return "sse41";
        case dnnl_cpu_isa_avx: return "avx";
        case dnnl_cpu_isa_avx2: return "avx2";
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
        case dnnl_cpu_isa_avx512_core: return "avx512_core";
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
        default: return "other";
        }
    }
#endif
    (void)impl;
    return o->isa_name;
}

static int bk_store(store *db, int64_t run_id, const bk_shape *sh, int impl, const bk_opts *o,
                    const bk_data *d, const bk_result *r, char *err, size_t errlen)
{
    char dataset[64];
    snprintf(dataset, sizeof dataset, "%dx%dx%d", sh->M, sh->N, sh->K);
    double wbytes = impl == BK_OWN_INT8 ? (double)kq_weights_bytes(&d->q8)
                  : impl == BK_OWN_INT4 ? (double)kq_weights_bytes(&d->q4)
                  : impl == BK_ONEDNN ? (double)sh->N * sh->K : 4.0 * sh->N * sh->K;
    store_metric m[8];
    int nm = 0;
    store_sample *smp = NULL;
    int ns = 0;
    if (r->ok && r->measured) {
        m[nm++] = (store_metric){"latency_ms", r->median, 0, "ms"};
        m[nm++] = (store_metric){"latency_p90_ms", r->p90, 0, "ms"};
        m[nm++] = (store_metric){"latency_min_ms", r->min, 0, "ms"};
        m[nm++] = (store_metric){"latency_mad_ms", r->mad, 0, "ms"};
        m[nm++] = (store_metric){"gops", r->gops, 0, "GOP/s"};
        m[nm++] = (store_metric){"busy_threads", r->busy, r->busy < 0, "count"};
        m[nm++] = (store_metric){"calls_per_sample", r->inner, 0, "count"};
        m[nm++] = (store_metric){"weight_bytes", wbytes, 0, "bytes"};
        smp = calloc((size_t)r->nlat, sizeof *smp);
        if (!smp) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int i = 0; i < r->nlat; i++) smp[ns++] = (store_sample){"latency_ms", i, r->lat[i]};
    }
    char now[32];
    store_now_utc(now);
    store_config sc = {.model = "gemm", .dataset = dataset, .method = bk_impls[impl].name,
                       .bits = bk_impls[impl].bits, .isa = bk_ref_isa(impl, o),
                       .threads = o->threads, .status = r->ok ? "ok" : "failed",
                       .error = r->ok ? NULL : r->msg, .counter_source = r->ok ? "timer" : NULL,
                       .started_at = r->started[0] ? r->started : now,
                       .finished_at = r->finished[0] ? r->finished : now,
                       .exit_reason = r->ok ? "ok" : "error", .timeout_s = 0};
    int rc = store_add_config(db, run_id, &sc, m, nm, smp, ns, NULL, err, errlen);
    free(smp);
    return rc;
}

/* ------------------------------------------------------------- table --- */

static void bk_cell(char *buf, size_t n, const bk_result *r)
{
    if (!r) snprintf(buf, n, "-");
    else if (!r->ok) snprintf(buf, n, "FAILED");
    else if (!r->measured) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.1f", r->gops);
}

static void bk_ratio(char *buf, size_t n, const bk_result *a, const bk_result *b)
{
    if (a && b && a->ok && b->ok && a->measured && b->measured && b->gops > 0)
        snprintf(buf, n, "%.2f", a->gops / b->gops);
    else
        snprintf(buf, n, "-");
}

/* Ratio columns: own / reference. */
static const struct { int a, b; const char *name; } bk_ratios[] = {
    {BK_OWN_FP32, BK_OPENBLAS, "f32/oblas"},
    {BK_OWN_INT8, BK_ONEDNN, "i8/onednn"},
    {BK_OWN_INT4, BK_ONEDNN, "i4/onednn"},
    {BK_OWN_INT8, BK_OWN_FP32, "i8/f32"},
};
#define BK_NRATIO ((int)(sizeof bk_ratios / sizeof bk_ratios[0]))

static void bk_header(const bk_opts *o)
{
    printf("%-3s %-15s %-10s", "#", "shape MxNxK", "calls");
    for (int i = 0; i < BK_NIMPL; i++)
        if (o->use[i]) printf(" %9s", bk_impls[i].name);
    for (int k = 0; k < BK_NRATIO; k++)
        if (o->use[bk_ratios[k].a] && o->use[bk_ratios[k].b]) printf(" %9s", bk_ratios[k].name);
    printf("  layers\n");
}

static void bk_row(const bk_opts *o, const char *idx, const char *shape, const char *calls,
                   bk_result *res, const char *layers)
{
    char c[32];
    printf("%-3s %-15s %-10s", idx, shape, calls);
    for (int i = 0; i < BK_NIMPL; i++)
        if (o->use[i]) {
            bk_cell(c, sizeof c, &res[i]);
            printf(" %9s", c);
        }
    for (int k = 0; k < BK_NRATIO; k++)
        if (o->use[bk_ratios[k].a] && o->use[bk_ratios[k].b]) {
            bk_ratio(c, sizeof c, &res[bk_ratios[k].a], &res[bk_ratios[k].b]);
            printf(" %9s", c);
        }
    printf("  %s\n", layers);
    fflush(stdout);
}

/* -------------------------------------------------------------- main --- */

static const char usage_bench[] =
    "usage: risq bench kernels [--db PATH] [--threads N] [--reps N] [--warmup N]\n"
    "                          [--min-ms MS] [--shapes tiny|lavt-b|square|all]\n"
    "                          [--isa NAME] [--impl LIST] [--zoo DIR]\n"
    "\n"
    "Time the project's own GEMM kernels against the reference libraries on the\n"
    "matrix shapes the models really run, side by side in one process:\n"
    "  own-fp32   kf_gemm_nt_packed, the fp32 GEMM every float layer uses, on\n"
    "             weights packed once as the model packs them (packing not timed)\n"
    "  openblas   OpenBLAS cblas_sgemm (when risq was built with OpenBLAS)\n"
    "  own-int8   kq_gemm_s32 on 8-bit packed weights (packing not timed)\n"
    "  own-int4   kq_gemm_s32 on 4-bit packed weights (packing not timed)\n"
    "  onednn     oneDNN dnnl_gemm_u8s8s32 (when risq was built with oneDNN)\n"
    "Shapes: every distinct (M, N, K) of the linear layers and convolutions of\n"
    "lavt-tiny (from models/zoo/lavt-tiny/model.yaml) and of LAVT-B (Swin-B at\n"
    "480 px, window 12; BERT-base, 20 tokens), plus 1024x1024x1024; C[M][N] =\n"
    "A[M][K] W[N][K]^T as in a Linear layer. A convolution is the product of\n"
    "its im2col patches: M output pixels, N output channels, K = C kh kw (the\n"
    "patch embedding, the decoder's 3x3 convs, the 1x1 ones). Not included:\n"
    "the attention products inside each window (q k^T, P V).\n"
    "\n"
    "Before any timing, own int8 and int4 must equal oneDNN's result element\n"
    "for element (activation codes in [0, 127] keep oneDNN's AVX2 path exact),\n"
    "own fp32 must be within 2(2K+4) eps sum|a||w| of OpenBLAS, and on the\n"
    "smallest shape everything must match plain C loops. A kernel that fails is\n"
    "not timed, is stored as failed, and the exit status is 1.\n"
    "\n"
    "Each implementation: warm-up calls, then --reps samples (round-robin over the\n"
    "implementations), each one untimed call that wakes the threads, then timing\n"
    "as many calls as fill --min-ms; the table shows the median GOP/s\n"
    "(2*M*N*K / time per call), the ratios own / reference (f32/oblas, i8/onednn,\n"
    "i4/onednn) and own int8 / own fp32, and per model the total over one forward\n"
    "pass (calls x time). Every measurement is stored in the results history as\n"
    "a configuration of suite '" BK_SUITE "': model 'gemm', dataset 'MxNxK',\n"
    "method = the implementation, bits fp32/W8A8/W4A8, isa (own: the --isa\n"
    "variant; OpenBLAS: its core; oneDNN: its ISA), threads, raw latency samples,\n"
    "metrics latency_ms (median, p90, min, MAD, per call), gops, busy_threads,\n"
    "calls_per_sample, weight_bytes. `risq compare` compares two such runs.\n"
    "\n"
    "  --db PATH       results history (default " STORE_DEFAULT_PATH ")\n"
    "  --threads N     threads for every implementation (default: online CPUs);\n"
    "                  OpenBLAS via openblas_set_num_threads, oneDNN via OpenMP;\n"
    "                  busy_threads reports how many really ran\n"
    "  --reps N        timed samples per implementation and shape (default 5)\n"
    "  --warmup N      untimed calls first (default 2, at least 1)\n"
    "  --min-ms MS     a sample times at least this long (default 2)\n"
    "  --shapes SET    tiny (lavt-tiny), lavt-b, square (1024^3) or all (default)\n"
    "  --isa NAME      variant of the own kernels: auto (default: RISQ_ISA or the\n"
    "                  best), scalar, avx2, avx512vnni, neon, neon-dotprod\n"
    "  --impl LIST     comma-separated subset of own-fp32,openblas,own-int8,\n"
    "                  own-int4,onednn (default all that are built in)\n"
    "  --zoo DIR       where lavt-tiny and lavt-b-shapes live (default $RISQ_ZOO,\n"
    "                  then models/zoo; without lavt-b-shapes, LAVT-B's sizes are\n"
    "                  built in)\n"
    "  --list          print the shapes (M, N, K, calls per forward, layers) and\n"
    "                  exit; nothing is timed or stored\n"
    "  --omp-wait P    OpenMP wait policy for oneDNN: passive (default, unless\n"
    "                  OMP_WAIT_POLICY is set), active, or default (libgomp's own:\n"
    "                  spin, then sleep). Spinning barriers cost ~15 ms per call\n"
    "                  when other processes share the cores; risq sets\n"
    "                  OMP_WAIT_POLICY and runs itself again, since OpenMP reads it\n"
    "                  only at start\n"
    "\n"
    "OpenBLAS runs with OPENBLAS_THREAD_TIMEOUT=18 unless the environment sets\n"
    "it: its workers then sleep 2^18 cycles (~0.1 ms) after a call, about as\n"
    "soon as risq's own, instead of spinning ~0.1 s into the next measurement\n"
    "(set the same way, by running risq again).\n"
    "\n"
    "Which kernels the references run is theirs to choose, and it decides the\n"
    "ratios: OpenBLAS picks its core from the CPU (a CPU it does not know gets\n"
    "generic SSE kernels: risq warns when an AVX2 CPU gets a core without AVX2\n"
    "kernels), oneDNN its ISA (AMX where there is AMX). To compare like with\n"
    "like, name them: OPENBLAS_CORETYPE=Haswell (AVX2) or SkylakeX (AVX-512),\n"
    "ONEDNN_MAX_CPU_ISA=AVX2 or AVX512_CORE_VNNI, with --isa to match; the\n"
    "OpenBLAS and oneDNN lines, and each stored row's isa, say what ran.\n"
    "\n"
    "exit status: 0 success, 1 a kernel gave a wrong result or the run was\n"
    "interrupted (Ctrl-C: the shapes done so far are kept), 2 usage or database\n"
    "error\n";

/* The shapes of o->sets, in model order; 0, or -1 with a message. LAVT-B's
** come from models/zoo/lavt-b-shapes/model.yaml (what `risq run
** suites/lavt-b.yaml` runs) when it is there, else from bk_lavt_b_config;
** *bsrc says which. */
static int bk_load_shapes(const bk_opts *o, bk_shapes *shapes, const char **bsrc, char *err,
                          size_t errlen)
{
    static char bpath[2100];
    lavt_config cfg;
    char dir[2048];
    if (o->sets & 1) {
        char yaml[2100];
        if (ev_resolve_model("lavt-tiny", o->zoo, NULL, dir, sizeof dir)) {
            snprintf(err, errlen, "model 'lavt-tiny' not found (looked in --zoo, $RISQ_ZOO and "
                     "models/zoo; run from the risq source folder)");
            return -1;
        }
        snprintf(yaml, sizeof yaml, "%s/model.yaml", dir);
        if (lavt_config_load(yaml, &cfg, err, errlen)) return -1;
        if (bk_shapes_from_config(&cfg, 0, shapes)) goto oom;
    }
    if (o->sets & 2) {
        *bsrc = "built-in LAVT-B sizes";
        if (!ev_resolve_model("lavt-b-shapes", o->zoo, NULL, dir, sizeof dir)) {
            snprintf(bpath, sizeof bpath, "%s/model.yaml", dir);
            if (lavt_config_load(bpath, &cfg, err, errlen)) return -1;
            *bsrc = bpath;
        } else {
            bk_lavt_b_config(&cfg);
        }
        if (bk_shapes_from_config(&cfg, 1, shapes)) goto oom;
    }
    if ((o->sets & 4) && bk_add(shapes, -1, 1024, 1024, 1024, 1, "square")) goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int bk_parse_int(const char *s, const char *what, int lo, int hi, int *out)
{
    return cli_parse_int("risq bench kernels", s, what, lo, hi, out);
}

static int bk_parse_impls(const char *list, int use[BK_NIMPL])
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    memset(use, 0, BK_NIMPL * sizeof *use);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < BK_NIMPL; i++)
            if (!strcmp(t, bk_impls[i].name)) use[i] = found = 1;
        if (!found) {
            fprintf(stderr, "risq bench kernels: --impl: unknown implementation '%s' (known: "
                    "own-fp32, openblas, own-int8, own-int4, onednn)\n", t);
            return -1;
        }
    }
    return 0;
}

static void bk_join_args(int argc, char **argv, char *out, size_t n)
{
    size_t used = (size_t)snprintf(out, n, "risq");
    for (int i = 0; i < argc && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, " %s", argv[i]);
}

/* The reference libraries read some settings only when they are loaded
** (before main), so values other than the environment's need a fresh
** process: set them and execute risq again with the same arguments (once;
** RISQ_BENCH_ENV marks the second run).
**   OMP_WAIT_POLICY (oneDNN on OpenMP): passive, unless the environment or
**     --omp-wait says otherwise: spinning OpenMP barriers cost ~15 ms per
**     call when other processes share the cores.
**   OPENBLAS_THREAD_TIMEOUT: BK_BLAS_TIMEOUT unless the environment sets it.
**     OpenBLAS's workers spin 2^n cycles after a call before they sleep;
**     its default, 2^28 (~0.1 s), makes the benchmark wait that long after
**     every OpenBLAS sample (bk_quiesce), and after such a pause the own
**     kernels' first 2-thread products on the development VM ran at one
**     thread's speed (the woken worker shared the caller's CPU): own fp32
**     measured 0.57-0.81x OpenBLAS on LAVT-B shapes where it is 1.1-1.3x
**     with either library alone or with this setting. 2^18 cycles (~0.1
**     ms) is about as long as risq's own pool polls (kernels/threadpool.c);
**     calls within a sample follow each other sooner, so OpenBLAS's workers
**     do not sleep between them.
** When exec fails the run goes on, and prints the settings it got. */
#define BK_BLAS_TIMEOUT "18"

static void bk_lib_env(const bk_opts *o, int argc, char **argv)
{
    int change = 0;
    if (getenv("RISQ_BENCH_ENV")) return;
#if defined(RISQ_HAVE_DNNL) && defined(DNNL_CPU_RUNTIME) && defined(DNNL_RUNTIME_OMP) && \
    DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
    const char *env = getenv("OMP_WAIT_POLICY");
    const char *want = o->omp_wait ? o->omp_wait : env ? NULL : "passive";
    if (o->use[BK_ONEDNN] && want &&
        !(!strcmp(want, "default") ? !env : env && !strcasecmp(env, want))) {
        if (!strcmp(want, "default")) unsetenv("OMP_WAIT_POLICY");
        else setenv("OMP_WAIT_POLICY", want, 1);
        change = 1;
    }
#else
    if (o->omp_wait && strcmp(o->omp_wait, "default"))
        fprintf(stderr, "risq bench kernels: --omp-wait: this build's oneDNN does not run on OpenMP; ignored\n");
#endif
#ifdef RISQ_HAVE_OPENBLAS
    if (o->use[BK_OPENBLAS] && !getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", BK_BLAS_TIMEOUT, 1);
        change = 1;
    }
#endif
    if (!change) return;
    setenv("RISQ_BENCH_ENV", "1", 1);
    char **nargv = calloc((size_t)argc + 3, sizeof *nargv);
    if (!nargv) return;
    nargv[0] = "risq";
    nargv[1] = "bench";
    for (int i = 0; i < argc; i++) nargv[i + 2] = argv[i];
    fflush(NULL);
    execv("/proc/self/exe", nargv);
    fprintf(stderr, "risq bench kernels: cannot run risq again with the reference libraries' "
            "settings (%s); going on with this process's\n", strerror(errno));
    free(nargv);
}

#ifdef RISQ_HAVE_OPENBLAS
/* Does OpenBLAS's core (openblas_get_corename()) have AVX2 (or wider)
** kernels? Those of OpenBLAS 0.3.x that do; any other core on an AVX2 CPU
** means OpenBLAS did not recognise the CPU (lent Xeons got "Prescott"). */
static int bk_blas_core_avx2(const char *core)
{
    static const char *const avx2[] = {"haswell", "zen", "excavator", "skylakex",
                                       "cooperlake", "sapphirerapids"};
    for (size_t i = 0; core && i < sizeof avx2 / sizeof avx2[0]; i++)
        if (strcasecmp(core, avx2[i]) == 0) return 1;
    return 0;
}
#endif

/* Set the reference libraries' thread counts; print what each uses. */
static void bk_setup_threads(const bk_opts *o)
{
#ifdef RISQ_HAVE_OPENBLAS
    if (o->use[BK_OPENBLAS]) {
        openblas_set_num_threads(o->threads);
        const char *to = getenv("OPENBLAS_THREAD_TIMEOUT");
        const char *core = openblas_get_corename();
        printf("OpenBLAS: %s; core %s; %d thread%s; OPENBLAS_THREAD_TIMEOUT=%s\n",
               openblas_get_config(), core ? core : "unknown", openblas_get_num_threads(),
               openblas_get_num_threads() == 1 ? "" : "s",
               to ? to : "(unset: workers spin 2^28 cycles)");
        if (ki_isa_supported(KI_AVX2) && !bk_blas_core_avx2(core))
            printf("OpenBLAS: warning: core %s has no AVX2 kernels, on a CPU with AVX2 (not "
                   "recognised, or OPENBLAS_CORETYPE says so): its GFLOP/s understate "
                   "OpenBLAS; OPENBLAS_CORETYPE=Haswell or SkylakeX names the kernels\n",
                   core ? core : "unknown");
    }
#endif
#ifdef RISQ_HAVE_DNNL
    if (o->use[BK_ONEDNN]) {
        const dnnl_version_t *v = dnnl_version();
        const char *rt = "unknown threading";
        int nthr = -1;
#if defined(DNNL_CPU_RUNTIME) && defined(DNNL_RUNTIME_OMP) && DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
#ifdef RISQ_HAVE_OPENMP
        omp_set_num_threads(o->threads);
        nthr = omp_get_max_threads();
        rt = "OpenMP, omp_set_num_threads";
#else
        rt = "OpenMP, but risq has no OpenMP to set its thread count (OMP_NUM_THREADS rules)";
#endif
#elif defined(DNNL_CPU_RUNTIME) && defined(DNNL_RUNTIME_SEQ) && DNNL_CPU_RUNTIME == DNNL_RUNTIME_SEQ
        rt = "sequential";
        nthr = 1;
#else
        rt = "a threading runtime risq cannot set from C (TBB or threadpool)";
#endif
        const char *wp = getenv("OMP_WAIT_POLICY");
        printf("oneDNN: %d.%d.%d (%s); isa %s; %s, OMP_WAIT_POLICY=%s: ", v->major, v->minor, v->patch,
               v->hash, bk_ref_isa(BK_ONEDNN, o), rt, wp ? wp : "(unset: libgomp spins, then sleeps)");
        if (nthr > 0) printf("%d thread%s\n", nthr, nthr == 1 ? "" : "s");
        else printf("thread count unknown\n");
    }
#endif
    (void)o;
}

int bk_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage_bench, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "kernels")) {
        fprintf(stderr, "risq bench: unknown benchmark '%s' (known: kernels)\n\n%s", argv[1], usage_bench);
        return 2;
    }
    char command[1024];
    bk_join_args(argc, argv, command, sizeof command);
    argc--;
    argv++;

    bk_opts o;
    memset(&o, 0, sizeof o);
    o.db = STORE_DEFAULT_PATH;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = ncpu > 0 ? (int)ncpu : 1;
    o.reps = 5;
    o.warmup = 2;
    o.min_ms = 2.0;
    o.sets = 7;
    o.isa_name = "auto";
    for (int i = 0; i < BK_NIMPL; i++) o.use[i] = 1;

    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},      {"threads", required_argument, 0, 't'},
        {"reps", required_argument, 0, 'r'},    {"warmup", required_argument, 0, 'w'},
        {"min-ms", required_argument, 0, 'm'},  {"shapes", required_argument, 0, 's'},
        {"isa", required_argument, 0, 'i'},     {"impl", required_argument, 0, 'I'},
        {"zoo", required_argument, 0, 'z'},     {"help", no_argument, 0, 'h'},
        {"omp-wait", required_argument, 0, 'W'}, {"list", no_argument, 0, 'l'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.db = optarg; break;
        case 't': if (bk_parse_int(optarg, "--threads", 1, 1024, &o.threads)) return 2; break;
        case 'r': if (bk_parse_int(optarg, "--reps", 1, BK_MAX_REPS, &o.reps)) return 2; break;
        case 'w': if (bk_parse_int(optarg, "--warmup", 0, 1000, &o.warmup)) return 2; break;
        case 'm': {
            char *end;
            o.min_ms = strtod(optarg, &end);
            if (!*optarg || *end || !(o.min_ms >= 0 && o.min_ms <= 10000)) {
                fprintf(stderr, "risq bench kernels: --min-ms: '%s' is not a number in [0, 10000]\n", optarg);
                return 2;
            }
            break;
        }
        case 's':
            if (!strcmp(optarg, "tiny")) o.sets = 1;
            else if (!strcmp(optarg, "lavt-b")) o.sets = 2;
            else if (!strcmp(optarg, "square")) o.sets = 4;
            else if (!strcmp(optarg, "all")) o.sets = 7;
            else {
                fprintf(stderr, "risq bench kernels: --shapes: '%s' is not tiny, lavt-b, square or all\n", optarg);
                return 2;
            }
            break;
        case 'i': o.isa_name = optarg; break;
        case 'I': if (bk_parse_impls(optarg, o.use)) return 2; break;
        case 'z': o.zoo = optarg; break;
        case 'l': o.list = 1; break;
        case 'W':
            if (strcmp(optarg, "passive") && strcmp(optarg, "active") && strcmp(optarg, "default")) {
                fprintf(stderr, "risq bench kernels: --omp-wait: '%s' is not passive, active or default\n",
                        optarg);
                return 2;
            }
            o.omp_wait = optarg;
            break;
        case 'h': fputs(usage_bench, stdout); return 0;
        default: fputs(usage_bench, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "risq bench kernels: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    if (!o.list) bk_lib_env(&o, argc, argv);

    char err[1024];
    /* the own kernels' variant */
    if (!strcmp(o.isa_name, "auto")) {
        o.isa = ki_isa_active();
        if (ki_isa_env_error()) fprintf(stderr, "risq bench kernels: %s\n", ki_isa_env_error());
    } else {
        if (ki_isa_parse(o.isa_name, &o.isa, err, sizeof err)) {
            fprintf(stderr, "risq bench kernels: --isa: %s\n", err);
            return 2;
        }
        if (!ki_isa_supported(o.isa)) {
            fprintf(stderr, "risq bench kernels: --isa %s: this binary or CPU cannot run it (CPU features: %s)\n",
                    o.isa_name, ki_cpu_features());
            return 2;
        }
        /* the process's choice too: own-fp32 packs its weights for it */
        if (ki_isa_set(o.isa, err, sizeof err)) {
            fprintf(stderr, "risq bench kernels: --isa %s: %s\n", o.isa_name, err);
            return 2;
        }
    }
    o.isa_name = ki_isa_name(o.isa);

    /* implementations: what was asked for and is built in */
    for (int i = 0; i < BK_NIMPL; i++)
        if (o.use[i] && !bk_impl_built(i)) {
            printf("%s: not built in (%s was not found, or was disabled, when risq was configured: "
                   "install it and re-run meson), skipped\n", bk_impls[i].name,
                   i == BK_OPENBLAS ? "OpenBLAS (pkg-config openblas; -Dopenblas)"
                                    : "oneDNN (libdnnl and dnnl.h; -Donednn)");
            o.use[i] = 0;
        }

    /* shapes */
    bk_shapes shapes = {0};
    const char *bsrc = NULL;
    if (bk_load_shapes(&o, &shapes, &bsrc, err, sizeof err)) {
        fprintf(stderr, "risq bench kernels: %s\n", err);
        bk_shapes_free(&shapes);
        return 2;
    }
    if (o.list) {
        if (o.sets & 2) printf("LAVT-B shapes from %s\n", bsrc);
        printf("%-3s %-15s %-10s %s\n", "#", "shape MxNxK", "calls", "layers");
        for (int i = 0; i < shapes.n; i++) {
            const bk_shape *sh = &shapes.v[i];
            char shape[48], calls[32] = "-";
            snprintf(shape, sizeof shape, "%dx%dx%d", sh->M, sh->N, sh->K);
            if (sh->calls[0] && sh->calls[1]) snprintf(calls, sizeof calls, "t%d+B%d", sh->calls[0], sh->calls[1]);
            else if (sh->calls[0]) snprintf(calls, sizeof calls, "tiny %d", sh->calls[0]);
            else if (sh->calls[1]) snprintf(calls, sizeof calls, "B %d", sh->calls[1]);
            printf("%-3d %-15s %-10s %s\n", i + 1, shape, calls, sh->layers);
        }
        bk_shapes_free(&shapes);
        return 0;
    }
    int smallest = 0;
    for (int i = 1; i < shapes.n; i++)
        if ((double)shapes.v[i].M * shapes.v[i].N * shapes.v[i].K <
            (double)shapes.v[smallest].M * shapes.v[smallest].N * shapes.v[smallest].K)
            smallest = i;

    /* results history */
    store *db = NULL;
    if (store_open(o.db, &db, err, sizeof err)) {
        fprintf(stderr, "risq bench kernels: %s\n", err);
        bk_shapes_free(&shapes);
        return 2;
    }
    store_run_info ri = {.suite = BK_SUITE, .command = command, .suite_text = NULL};
    store_machine_probe(&ri.machine);
    ri.board = ri.machine.board[0] ? ri.machine.board : NULL;
    char commit[64];
    ri.build = store_build_current(commit, sizeof commit);
    int64_t run_id;
    if (store_begin_run(db, &ri, &run_id, err, sizeof err)) {
        fprintf(stderr, "risq bench kernels: %s\n", err);
        store_close(db);
        bk_shapes_free(&shapes);
        return 2;
    }

    bk_env env = {kt_pool_create(o.threads), o.isa, o.threads};
    if (o.threads > 1 && !env.pool) {
        fprintf(stderr, "risq bench kernels: cannot create %d threads\n", o.threads);
        store_end_run(db, run_id, "failed", err, sizeof err);
        store_close(db);
        bk_shapes_free(&shapes);
        return 2;
    }
    double load[3] = {-1, -1, -1};
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
        fclose(lf);
    }
    printf("risq bench kernels: %d shapes, %d thread%s, own kernels isa %s (fp32 variant %s), "
           "%d sample%s (median), warm-up %d, >= %g ms per sample\n", shapes.n, o.threads,
           o.threads == 1 ? "" : "s", o.isa_name, kf_gemm_variant_name(o.isa), o.reps,
           o.reps == 1 ? "" : "s", o.warmup > 0 ? o.warmup : 1, o.min_ms);
    printf("machine: %s, %d cores%s", ri.machine.cpu_model, ri.machine.cores,
           load[0] >= 0 ? "" : "\n");
    if (load[0] >= 0) printf(", load average %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    printf("run %lld in %s\n", (long long)run_id, o.db);
    if (o.sets & 2) printf("LAVT-B shapes from %s\n", bsrc);
    bk_setup_threads(&o);
    printf("checks: own int8/int4 = oneDNN%s; own fp32 within 2(2K+4)eps of %s; all = plain C on %dx%dx%d\n",
           o.use[BK_ONEDNN] ? " on every shape" : " (not built in)",
           o.use[BK_OPENBLAS] ? "OpenBLAS on every shape" : "kf_gemm_nt_ref",
           shapes.v[smallest].M, shapes.v[smallest].N, shapes.v[smallest].K);
    printf("GOP/s (median of the samples):\n");
    bk_header(&o);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = bk_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int failed = 0, dberr = 0;
    /* per model: sum over its shapes of calls x median ms, per impl */
    double tot_ms[2][BK_NIMPL] = {{0}}, tot_ops[2] = {0};
    int tot_ok[2][BK_NIMPL];
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < BK_NIMPL; i++) tot_ok[s][i] = 1;
    int max_busy[BK_NIMPL];
    double max_work = -1;
    for (int i = 0; i < BK_NIMPL; i++) max_busy[i] = -1;

    for (int si = 0; si < shapes.n && !bk_interrupted; si++) {
        const bk_shape *sh = &shapes.v[si];
        bk_result res[BK_NIMPL];
        memset(res, 0, sizeof res);
        bk_data d;
        int ok[BK_NIMPL];
        char msg[BK_NIMPL][512];
        memset(msg, 0, sizeof msg);
        for (int i = 0; i < BK_NIMPL; i++) ok[i] = 1;
        if (bk_make(&d, sh->M, sh->N, sh->K, err, sizeof err)) {
            for (int i = 0; i < BK_NIMPL; i++) {
                ok[i] = 0;
                snprintf(msg[i], sizeof msg[i], "%.500s", err);
            }
        } else {
            bk_check_int(&env, &d, si == smallest, o.use, ok, msg);
            bk_check_fp32(&env, &d, si == smallest, o.use, ok, msg);
        }
        double work = (double)sh->M * sh->N * sh->K;
        /* warm-up of each implementation, then the samples round-robin
        ** (sample r of every implementation before sample r + 1), so that
        ** a change in the machine's load hits all of them alike. After a
        ** library's sample its spinning workers are given time to sleep. */
        for (int i = 0; i < BK_NIMPL; i++) {
            res[i].ok = o.use[i] && ok[i];
            snprintf(res[i].msg, sizeof res[i].msg, "%s", msg[i]);
            if (res[i].ok) {
                if (bk_calibrate(&env, &d, i, &o, &res[i])) res[i].ok = 0;
                if (i == BK_OPENBLAS || i == BK_ONEDNN) bk_quiesce();
            }
        }
        for (int rep = 0; rep < o.reps && !bk_interrupted; rep++)
            for (int i = 0; i < BK_NIMPL; i++)
                if (res[i].ok) {
                    bk_sample(&env, &d, i, &res[i], rep);
                    if (i == BK_OPENBLAS || i == BK_ONEDNN) bk_quiesce();
                }
        if (bk_interrupted) {  /* the shape in flight is not stored */
            for (int i = 0; i < BK_NIMPL; i++) {
                free(res[i].lat);
                free(res[i].run);
            }
            bk_free_data(&d);
            break;
        }
        for (int i = 0; i < BK_NIMPL; i++) {
            if (!o.use[i]) continue;
            bk_result *r = &res[i];
            if (r->ok) bk_finish(&d, o.reps, r);
            if (!r->ok) {
                failed++;
                fprintf(stderr, "risq bench kernels: %s on %dx%dx%d: %s\n", bk_impls[i].name, sh->M, sh->N,
                        sh->K, r->msg);
            }
            if (bk_store(db, run_id, sh, i, &o, &d, r, err, sizeof err)) {
                fprintf(stderr, "risq bench kernels: %s\n", err);
                dberr = 1;
            }
            for (int s = 0; s < 2; s++)
                if (sh->calls[s]) {
                    if (r->ok && r->measured) tot_ms[s][i] += sh->calls[s] * r->median;
                    else tot_ok[s][i] = 0;
                }
        }
        if (work > max_work) {  /* remember the busy threads of the largest shape */
            max_work = work;
            for (int i = 0; i < BK_NIMPL; i++) max_busy[i] = res[i].measured ? res[i].busy : -1;
        }
        for (int s = 0; s < 2; s++) tot_ops[s] += sh->calls[s] * 2.0 * work;
        char idx[16], shape[48], calls[32] = "-";
        snprintf(idx, sizeof idx, "%d", si + 1);
        snprintf(shape, sizeof shape, "%dx%dx%d", sh->M, sh->N, sh->K);
        if (sh->calls[0] && sh->calls[1]) snprintf(calls, sizeof calls, "t%d+B%d", sh->calls[0], sh->calls[1]);
        else if (sh->calls[0]) snprintf(calls, sizeof calls, "tiny %d", sh->calls[0]);
        else if (sh->calls[1]) snprintf(calls, sizeof calls, "B %d", sh->calls[1]);
        bk_row(&o, idx, shape, calls, res, sh->layers);
        for (int i = 0; i < BK_NIMPL; i++) {
            free(res[i].lat);
            free(res[i].run);
        }
        bk_free_data(&d);
    }

    /* totals over one forward pass of each model (linear layers and convolutions;
    ** not the attention products) */
    for (int s = 0; s < 2 && !bk_interrupted; s++) {
        if (!(o.sets & (1 << s))) continue;
        bk_result tr[BK_NIMPL];
        memset(tr, 0, sizeof tr);
        char ms[256] = "";
        size_t used = 0;
        for (int i = 0; i < BK_NIMPL; i++) {
            if (!o.use[i]) continue;
            tr[i].ok = tot_ok[s][i];
            tr[i].measured = tot_ok[s][i] && tot_ms[s][i] > 0;
            if (tr[i].measured) {
                tr[i].gops = tot_ops[s] / (tot_ms[s][i] * 1e-3) * 1e-9;
                used += (size_t)snprintf(ms + used, used < sizeof ms ? sizeof ms - used : 0, "%s%s %.3f ms",
                                         used ? ", " : "", bk_impls[i].name, tot_ms[s][i]);
            }
        }
        char label[320];
        snprintf(label, sizeof label, "one forward, linear + conv: %s", ms);
        bk_row(&o, "", s == 0 ? "total lavt-tiny" : "total LAVT-B", "", tr, label);
    }
    printf("busy threads on the largest shape:");
    for (int i = 0; i < BK_NIMPL; i++)
        if (o.use[i]) {
            if (max_busy[i] >= 0) printf(" %s %d", bk_impls[i].name, max_busy[i]);
            else printf(" %s ?", bk_impls[i].name);
        }
    printf(" (of %d asked)\n", o.threads);

    const char *status = bk_interrupted ? "interrupted" : failed ? "failed" : "ok";
    if (bk_interrupted)
        fprintf(stderr, "risq bench kernels: interrupted; the shape in flight was not stored\n");
    if (store_end_run(db, run_id, status, err, sizeof err)) {
        fprintf(stderr, "risq bench kernels: %s\n", err);
        dberr = 1;
    }
    printf("risq bench kernels: run %lld %s (%d failed); results in %s\n", (long long)run_id, status, failed,
           o.db);
    kt_pool_destroy(env.pool);
    store_close(db);
    bk_shapes_free(&shapes);
    return dberr ? 2 : failed || bk_interrupted ? 1 : 0;
}
