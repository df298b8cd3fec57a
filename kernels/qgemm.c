/*
** qgemm: the front end of the integer GEMM (see qgemm.h for the contract):
** weight packing and its validation, reading codes back, the sparse
** outlier correction, and the dispatch of a product to the active (or a
** named) variant, split over threads.
**
** Threading: the product is cut into contiguous ranges of rows (units of
** KQ_ROW_UNIT) or of 16-channel panels, one range per thread, and each range
** is handed to the variant's block function (qgemm_impl.h). Rows are split
** when A is the bigger operand (M >= N: each thread then streams all of W
** but only its share of A), panels otherwise (each thread packs all of A but
** reads only its share of W). Integer sums are exact and the epilogue is per
** element, so the result does not depend on the split.
*/
#include "kernels/qgemm.h"
#include "kernels/qgemm_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KQ_ALIGN 64
#define KQ_ROW_UNIT 8          /* rows per unit of a row split */
/* Below this many multiply-adds a product runs on one thread.  With a pool
** that slept between loops, a 64^3 bound made lavt-tiny's W8A8 forward
** slower on 2 threads than on 1 (16.7 against 11.9 ms), and the bound was
** 192^3.  Since the pool's workers poll between loops (threadpool.c), a
** forward pass keeps them awake: with 64^3 and KT_MIN_ELEMS = 8192 the
** all-integer lavt-tiny W8A8 forward on 2 threads took 3.88 ms against 4.86
** (fastest repetitions, mean of 6 alternated runs; medians 5.58 against
** 6.81; fp32 5.48 against 5.88) on the 2-core VM.  A lone small product
** called back to back (`risq bench kernels --shapes tiny`) is slower split
** than not: there the worker's hand-off costs more than half the product. */
#define KQ_PARALLEL_MIN_WORK (64.0 * 64.0 * 64.0)

static int kq_round_up(int x, int m) { return (x + m - 1) / m * m; }

/* ------------------------------------------------------------------------ */
/* Packing.                                                                   */

/* Write a message to err (when the caller gave a buffer). */
__attribute__((format(printf, 3, 4)))
static void kq_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Store code v of weight t (t = 4j + i) into a block of the given width. */
static void kq_put(uint8_t *blk, int bits, int t, int v) {
    unsigned u = (unsigned)v;
    switch (bits) {
    case 8:
        blk[t] = (uint8_t)(u & 0xffu);
        break;
    default: { /* 4 and 6 share the nibble part */
        unsigned nib = u & 0x0fu;
        if (t < 32) blk[t] = (uint8_t)((blk[t] & 0xf0u) | nib);
        else blk[t - 32] = (uint8_t)((blk[t - 32] & 0x0fu) | nib << 4);
        if (bits == 6) {
            unsigned hi = (u >> 4) & 3u, sh = 2u * (unsigned)(t / 16);
            uint8_t *h = &blk[32 + t % 16];
            *h = (uint8_t)((*h & ~(3u << sh)) | hi << sh);
        }
        break;
    }
    }
}

/* The arguments of a packing: 0, or -1 with a message. */
static int kq_pack_check(const int8_t *W, int N, int K, int ldw, int bits, char *err,
                         size_t errlen) {
    if (bits != 4 && bits != 6 && bits != 8) {
        kq_err(err, errlen, "packed weights: bits must be 4, 6 or 8 (got %d)", bits);
        return -1;
    }
    if (N <= 0 || K <= 0) {
        kq_err(err, errlen, "packed weights: empty matrix (N=%d, K=%d)", N, K);
        return -1;
    }
    if (K > KQ_K_MAX) {
        kq_err(err, errlen,
                 "packed weights: K=%d inputs exceeds the integer GEMM limit %d "
                 "(int32 sums could overflow); keep this layer in floating point",
                 K, KQ_K_MAX);
        return -1;
    }
    if (ldw < K) {
        kq_err(err, errlen, "packed weights: row stride %d is smaller than K=%d", ldw, K);
        return -1;
    }
    int qmax = (1 << (bits - 1)) - 1;
    int bad = 0;   /* a branch-free pass first: it vectorises; then find the culprit */
    for (int n = 0; n < N; n++) {
        const int8_t *row = W + (size_t)n * ldw;
        for (int k = 0; k < K; k++)
            bad |= (row[k] < -qmax) | (row[k] > qmax);
    }
    for (int n = 0; bad && n < N; n++) {
        const int8_t *row = W + (size_t)n * ldw;
        for (int k = 0; k < K; k++) {
            if (row[k] < -qmax || row[k] > qmax) {
                kq_err(err, errlen,
                         "packed weights: W[%d][%d] = %d is outside the %d-bit range "
                         "[-%d, %d] (weights must be narrow-range symmetric codes, "
                         "as kernels/quant produces for %d bits)",
                         n, k, row[k], bits, qmax, qmax, bits);
                return -1;
            }
        }
    }
    return 0;
}

int kq_pack_weights(kq_weights *out, const int8_t *W, int N, int K, int ldw, int bits,
                    char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    return kq_repack_weights(out, W, N, K, ldw, bits, err, errlen);
}

int kq_repack_weights(kq_weights *out, const int8_t *W, int N, int K, int ldw, int bits,
                      char *err, size_t errlen) {
    if (kq_pack_check(W, N, K, ldw, bits, err, errlen)) {
        kq_weights_free(out);
        return -1;
    }
    out->N = N;
    out->K = K;
    out->Kp = kq_round_up(K, KQ_KB);
    out->Np = kq_round_up(N, KQ_NR);
    out->bits = bits;
    out->data_bytes = (size_t)(out->Np / KQ_NR) * kq_panel_bytes(out);
    size_t alloc = (out->data_bytes + KQ_ALIGN - 1) / KQ_ALIGN * KQ_ALIGN;
    if (alloc > out->data_cap) {
        free(out->data);
        out->data = aligned_alloc(KQ_ALIGN, alloc);
        out->data_cap = out->data ? alloc : 0;
    }
    if (out->Np > out->colsum_cap) {
        free(out->colsum);
        out->colsum = malloc((size_t)out->Np * sizeof(int32_t));
        out->colsum_cap = out->colsum ? out->Np : 0;
    }
    if (!out->data || !out->colsum) {
        kq_weights_free(out);
        kq_err(err, errlen, "packed weights: out of memory (%zu bytes for %d x %d)", alloc,
                 N, K);
        return -1;
    }
    memset(out->data, 0, alloc); /* padding weights (and all bit fields) are 0 */

    size_t bb = kq_block_bytes(bits);
    for (int n = 0; n < out->Np; n++) {
        int32_t s = 0;
        if (n < N) {
            const int8_t *row = W + (size_t)n * ldw;
            uint8_t *panel = out->data + (size_t)(n / KQ_NR) * kq_panel_bytes(out);
            int j = n % KQ_NR;
            int k = 0;
            if (bits == 8)   /* a row's 4 inputs of a block are 4 consecutive bytes */
                for (; k + KQ_KB <= K; k += KQ_KB)
                    memcpy(panel + (size_t)(k / KQ_KB) * bb + 4 * j, row + k, KQ_KB);
            for (; k < K; k++)
                kq_put(panel + (size_t)(k / KQ_KB) * bb, bits, 4 * j + k % KQ_KB, row[k]);
            for (k = 0; k < K; k++)
                s += row[k];
        }
        out->colsum[n] = s;
    }
    return 0;
}

void kq_weights_free(kq_weights *w) {
    if (!w) return;
    free(w->data);
    free(w->colsum);
    memset(w, 0, sizeof *w);
}

/* The code of W[n][k] (kq_weight_at; inline for kq_sparse_s32's loop). */
static inline int kq_code_at(const kq_weights *w, int n, int k) {
    const uint8_t *blk = kq_panel(w, n / KQ_NR) + (size_t)(k / KQ_KB) * kq_block_bytes(w->bits);
    int t = 4 * (n % KQ_NR) + k % KQ_KB;
    if (w->bits == 8) return (int8_t)blk[t];
    unsigned code = t < 32 ? blk[t] & 0x0fu : (unsigned)blk[t - 32] >> 4;
    if (w->bits == 4) return code >= 8 ? (int)code - 16 : (int)code;
    code |= (((unsigned)blk[32 + t % 16] >> (2 * (t / 16))) & 3u) << 4;
    return code >= 32 ? (int)code - 64 : (int)code;
}

int kq_weight_at(const kq_weights *w, int n, int k) { return kq_code_at(w, n, k); }

size_t kq_weights_bytes(const kq_weights *w) {
    return w->data_bytes + (size_t)w->Np * sizeof(int32_t);
}

/* ------------------------------------------------------------------------ */
/* Sparse correction.                                                         */

void kq_sparse_s32(int M, const int *rowptr, const int *kidx, const int32_t *val,
                   const kq_weights *W, int32_t *C, int ldc) {
    for (int m = 0; m < M; m++) {
        int32_t *c = C + (size_t)m * ldc;
        for (int e = rowptr[m]; e < rowptr[m + 1]; e++) {
            int k = kidx[e];
            uint32_t v = (uint32_t)val[e];
            /* Unsigned arithmetic: wraps like the SIMD sums instead of being
            ** undefined should a caller's values overflow int32. */
            for (int n = 0; n < W->N; n++)
                c[n] = (int32_t)((uint32_t)c[n] + v * (uint32_t)kq_code_at(W, n, k));
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Dispatch and threading.                                                    */

/* The block function of a variant, or NULL when it is not compiled in. */
static kq_block_fn kq_variant(ki_isa isa) {
    switch (isa) {
    case KI_REF: return kq_ref_block;
#ifdef RISQ_HAVE_AVX2
    case KI_AVX2: return kq_avx2_block;
#endif
#ifdef RISQ_HAVE_AVX512VNNI
    case KI_AVX512VNNI: return kq_avx512vnni_block;
#endif
#ifdef RISQ_HAVE_NEON
    case KI_NEON: return kq_neon_block;
#endif
#ifdef RISQ_HAVE_NEON_DOTPROD
    case KI_NEON_DOTPROD: return kq_neon_dotprod_block;
#endif
    default: return NULL;
    }
}

typedef struct {
    const kq_args *g;
    kq_block_fn fn;
    int split_rows;  /* 1: units are KQ_ROW_UNIT rows; 0: units are panels */
} kq_job;

static void kq_range(void *arg, int begin, int end) {
    const kq_job *j = (const kq_job *)arg;
    const kq_args *g = j->g;
    if (j->split_rows) {
        int m0 = begin * KQ_ROW_UNIT;
        int m1 = end * KQ_ROW_UNIT < g->M ? end * KQ_ROW_UNIT : g->M;
        j->fn(g, m0, m1, 0, g->W->N);
    } else {
        int n0 = begin * KQ_NR;
        int n1 = end * KQ_NR < g->W->N ? end * KQ_NR : g->W->N;
        j->fn(g, 0, g->M, n0, n1);
    }
}

static void kq_run(kq_block_fn fn, kt_pool *pool, const kq_args *g) {
    const int M = g->M, N = g->W->N;
    if (M <= 0 || N <= 0) return;
    int threads = kt_pool_threads(pool);
    double work = (double)M * N * g->W->K;
    if (threads <= 1 || work < KQ_PARALLEL_MIN_WORK) {
        fn(g, 0, M, 0, N);
        return;
    }
    int row_units = (M + KQ_ROW_UNIT - 1) / KQ_ROW_UNIT;
    int panels = (N + KQ_NR - 1) / KQ_NR;
    kq_job job = {g, fn, M >= N};
    /* The preferred side must offer a unit per thread, else use the other. */
    if (job.split_rows && row_units < threads && panels > row_units) job.split_rows = 0;
    if (!job.split_rows && panels < threads && row_units > panels) job.split_rows = 1;
    int units = job.split_rows ? row_units : panels;
    double per_unit = work / units;
    int grain = (int)(KQ_PARALLEL_MIN_WORK / 4 / per_unit) + 1;
    kt_parallel_for(pool, units, grain, kq_range, &job);
}

void kq_gemm_s32_fn(kq_block_fn fn, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, int32_t *C, int ldc) {
    kq_args g = {M, A, lda, za, W, C, NULL, ldc, NULL, NULL};
    kq_run(fn, pool, &g);
}

void kq_gemm_f32_fn(kq_block_fn fn, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, const float *scale, const float *bias, float *C,
                    int ldc) {
    kq_args g = {M, A, lda, za, W, NULL, C, ldc, scale, bias};
    kq_run(fn, pool, &g);
}

int kq_gemm_s32_isa(ki_isa isa, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, int32_t *C, int ldc) {
    kq_block_fn fn = ki_isa_supported(isa) ? kq_variant(isa) : NULL;
    if (!fn) return -1;
    kq_gemm_s32_fn(fn, pool, M, A, lda, za, W, C, ldc);
    return 0;
}

int kq_gemm_f32_isa(ki_isa isa, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, const float *scale, const float *bias,
                    float *C, int ldc) {
    kq_block_fn fn = ki_isa_supported(isa) ? kq_variant(isa) : NULL;
    if (!fn) return -1;
    kq_gemm_f32_fn(fn, pool, M, A, lda, za, W, scale, bias, C, ldc);
    return 0;
}

void kq_gemm_s32(kt_pool *pool, int M, const int8_t *A, int lda, int za,
                 const kq_weights *W, int32_t *C, int ldc) {
    if (kq_gemm_s32_isa(ki_isa_active(), pool, M, A, lda, za, W, C, ldc) != 0)
        kq_gemm_s32_isa(KI_REF, pool, M, A, lda, za, W, C, ldc);
}

void kq_gemm_f32(kt_pool *pool, int M, const int8_t *A, int lda, int za,
                 const kq_weights *W, const float *scale, const float *bias,
                 float *C, int ldc) {
    if (kq_gemm_f32_isa(ki_isa_active(), pool, M, A, lda, za, W, scale, bias, C, ldc) != 0)
        kq_gemm_f32_isa(KI_REF, pool, M, A, lda, za, W, scale, bias, C, ldc);
}
