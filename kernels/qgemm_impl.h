/*
** qgemm_impl: the internal interface between the qgemm front end
** (kernels/qgemm.c: validation, threading, dispatch) and the per-ISA
** variants (kernels/ref/qgemm_ref.c, kernels/x86/qgemm_*.c,
** kernels/arm/qgemm_neon.c). Not part of the public API.
**
** A variant provides one "block" function (the macro-kernel): compute the
** output elements of rows [m0, m1) x channels [n0, n1) of one product, all
** of K, serially, writing them to C. n0 is a multiple of KQ_NR; n1 is a
** multiple of KQ_NR or equal to N (the last panel may be partial: only the
** channels n < N are written, and the padded channels of the packed panel
** hold zero weights). m0 < m1 <= M. The front end splits C into such blocks
** (one per thread) and never calls a block function with an empty range.
**
** A block function:
**   - computes acc[m][n] = sum over k < K of (A[m][k] - za) * W[n][k] exactly
**     (int32; see kernels/qgemm.h for why it cannot overflow), with any
**     internal blocking, packing and summation order it likes (the integers
**     are exact, so order does not matter);
**   - writes either the int32 acc (g->C32) or the f32 epilogue (g->Cf) with
**     kq_epilogue() below, or SIMD code that gives the same bits: convert
**     int32 -> float with round-to-nearest, one multiply, then, only when
**     g->bias is non-NULL, one add; no fused multiply-add (the variant files
**     are compiled with -ffp-contract=off; use separate mul and add
**     intrinsics, never an fma intrinsic);
**   - writes nothing outside rows [m0, m1) x channels [n0, min(n1, N)) of C
**     (tests check guard bytes around C) and reads nothing of A outside rows
**     [m0, m1) x columns [0, K) (guard bytes around A too: a variant that
**     wants to read A in whole 4-byte groups must copy the K % 4 tail);
**   - may allocate scratch (packed A, widened weights) with malloc for the
**     duration of the call, but must still produce the result when malloc
**     fails (fall back to a small stack buffer or an unpacked path): the
**     public functions return nothing and cannot report out of memory.
**
** Weight access: panel p (channels 16p .. 16p+15) starts at
** kq_panel(W, p); its Kp / KQ_KB blocks follow each other, each
** kq_block_bytes(W->bits) long, in the layout documented in qgemm.h.
** W->colsum[n] = sum over k of W[n][k] (zero for padded channels).
**
** Adding a variant: implement kq_<name>_block in its own file compiled with
** the ISA's flags, declare it here, add its RISQ_HAVE_* define in
** kernels/meson.build, and hook it into kq_variant() in qgemm.c.
**
** Files and flags (kernels/meson.build): x86/qgemm_avx2.c (-mavx2 -mfma,
** defines RISQ_HAVE_AVX2) and x86/qgemm_avx512vnni.c (-mavx512f -mavx512bw
** -mavx512vl -mavx512vnni, RISQ_HAVE_AVX512VNNI) on x86-64 hosts;
** arm/qgemm_neon.c (baseline aarch64 flags, RISQ_HAVE_NEON, defines
** kq_neon_block) and, when that file exists, arm/qgemm_neon_dotprod.c
** (-march=armv8.2-a+dotprod, RISQ_HAVE_NEON_DOTPROD, defines
** kq_neon_dotprod_block) on aarch64 hosts. Every variant file is compiled
** with -ffp-contract=off. The RISQ_HAVE_* defines are passed to the whole
** kernels library (isa.c and qgemm.c read them).
*/
#ifndef RISQ_KERNELS_QGEMM_IMPL_H
#define RISQ_KERNELS_QGEMM_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/qgemm.h"

/* One product, as the front end hands it to a variant. Exactly one of C32
** and Cf is non-NULL; scale (and, if non-NULL, bias) go with Cf. */
typedef struct kq_args {
    int M;
    const int8_t *A;      /* [M][K] activation codes, row stride lda */
    int lda;
    int za;               /* activation zero point, [-128, 127] */
    const kq_weights *W;  /* packed weights: N, K, Kp, Np, bits, data, colsum */
    int32_t *C32;         /* int32 output, or NULL */
    float *Cf;            /* f32 output (epilogue), or NULL */
    int ldc;              /* row stride of C (elements) */
    const float *scale;   /* [N] per-channel scale (Cf only) */
    const float *bias;    /* [N] or NULL (Cf only) */
} kq_args;

/* Compute rows [m0, m1) x channels [n0, n1) of C (see above). */
typedef void (*kq_block_fn)(const kq_args *g, int m0, int m1, int n0, int n1);

/* The variants. Each is defined only when its file is compiled in:
** kq_ref_block always; kq_avx2_block with RISQ_HAVE_AVX2;
** kq_avx512vnni_block with RISQ_HAVE_AVX512VNNI; kq_neon_block with
** RISQ_HAVE_NEON; kq_neon_dotprod_block with RISQ_HAVE_NEON_DOTPROD. */
void kq_ref_block(const kq_args *g, int m0, int m1, int n0, int n1);
void kq_avx2_block(const kq_args *g, int m0, int m1, int n0, int n1);
void kq_avx512vnni_block(const kq_args *g, int m0, int m1, int n0, int n1);
void kq_neon_block(const kq_args *g, int m0, int m1, int n0, int n1);
void kq_neon_dotprod_block(const kq_args *g, int m0, int m1, int n0, int n1);
/* x86/qgemm_avx512vnni.c compiled against SIMDe's portable AVX-512 (tests
** only, kernels/meson.build): runs on any x86-64 CPU with AVX2. */
void kq_avx512vnniemu_block(const kq_args *g, int m0, int m1, int n0, int n1);

/* Tests: kq_gemm_s32 / kq_gemm_f32 on a given block function (one that
** exists only in a test build), with the same threading. */
void kq_gemm_s32_fn(kq_block_fn fn, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, int32_t *C, int ldc);
void kq_gemm_f32_fn(kq_block_fn fn, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, const float *scale, const float *bias, float *C,
                    int ldc);

/* The AVX2 variant's path for a block of at most 6 channels (a
** classifier's N = 2: row-by-row dot products, no 16-wide panel of mostly
** padding), shared with the AVX-512 VNNI variant. Returns 0, writing
** nothing, when the block is wider or scratch memory is short. */
int kq_avx2_narrow_block(const kq_args *g, int m0, int m1, int n0, int n1);

/* The reference unpacking of one block (the specification of the packed
** format, kernels/ref/qgemm_ref.c): out[4*j + i] = W[n0 + j][k0 + i] for the
** block of panel channels n0.. and inputs k0.. (j < 16, i < 4). */
void kq_ref_unpack_block(const uint8_t *blk, int bits, int8_t out[64]);

/* Bytes of one 16 x 4 block: 64 (8-bit), 48 (6-bit), 32 (4-bit). */
static inline size_t kq_block_bytes(int bits) { return (size_t)bits * 8; }

/* Bytes of one 16-channel panel (all Kp / 4 blocks). */
static inline size_t kq_panel_bytes(const kq_weights *w) {
    return (size_t)(w->Kp / KQ_KB) * kq_block_bytes(w->bits);
}

/* First byte of panel p (channels KQ_NR * p ..). */
static inline const uint8_t *kq_panel(const kq_weights *w, int p) {
    return w->data + (size_t)p * kq_panel_bytes(w);
}

/* The f32 epilogue of one element: what every variant's SIMD epilogue must
** reproduce bit for bit. */
static inline float kq_epilogue(int32_t acc, float scale, const float *bias, int n) {
    float v = (float)acc * scale;
    if (bias) v = v + bias[n];
    return v;
}

/* Store acc[0 .. nr) (already zero-point corrected) to row m, channels
** n .. n + nr - 1 of C: int32, or through the epilogue. For tails and for
** variants whose tile store is scalar. */
static inline void kq_store_row(const kq_args *g, int m, int n, int nr, const int32_t *acc) {
    if (g->C32) {
        int32_t *c = g->C32 + (size_t)m * g->ldc + n;
        for (int j = 0; j < nr; j++) c[j] = acc[j];
    } else {
        float *c = g->Cf + (size_t)m * g->ldc + n;
        for (int j = 0; j < nr; j++) c[j] = kq_epilogue(acc[j], g->scale[n + j], g->bias, n + j);
    }
}

#endif
