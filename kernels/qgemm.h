/*
** qgemm: integer matrix products for quantized layers.
**
** Owns the packed weight format (8-, 6- and 4-bit signed weights), the
** integer GEMM over it (s8 activation codes x packed weights -> s32), the
** dequantizing epilogue, the sparse correction used for outlier values, and
** the dispatch to the per-ISA variants (kernels/ref = the specification,
** kernels/x86, kernels/arm; see kernels/isa.h for how one is chosen).
**
** Arithmetic contract (every variant, bit-exact):
**
**   acc[m][n] = sum over k < K of (A[m][k] - za) * W[n][k]        (int32)
**
** A holds activation codes as int8 (an unsigned b-bit code u in [0, 2^b-1]
** is passed as u - 128 with za - 128: the caller's choice, the sum is the
** same), za in [-128, 127]. Weights are signed codes in the narrow
** symmetric range of their width: [-127, 127], [-31, 31] or [-7, 7] (the
** quantizers of kernels/quant produce exactly these). With |A - 0| <= 128 and
** |W| <= 127 every product pair fits int16 (2 * 128 * 127 = 32512), so the
** AVX2 u8 x s8 pair-multiply never saturates; the sums are exact as long as
** K * 255 * 127 < 2^31 (K < 66000; kq_pack_weights refuses larger K).
**
** Dequantizing epilogue (kq_gemm_f32):
**   C[m][n] = (float)acc[m][n] * scale[n]   then, only when bias != NULL,
**   C[m][n] = C[m][n] + bias[n]
** evaluated as one float multiply, rounded, then one float add, rounded
** (no fused multiply-add; the variants are compiled so that none is formed).
** Without a bias no add happens at all (adding 0.0f would turn -0.0f into
** +0.0f); kq_epilogue() in qgemm_impl.h is the reference.
**
** Packed weight layout (one layout for all variants, so tests compare every
** variant on the same bytes): N is split into panels of KQ_NR = 16 output
** channels (the last panel zero-padded), K into groups of KQ_KB = 4 (K
** rounded up to Kp, padded with zero weights). A panel is Kp/4 consecutive
** blocks; a block holds the 64 weights W[n0 + j][k0 + i] (j < 16, i < 4):
**   8-bit: 64 bytes, byte 4*j + i = W[n0+j][k0+i]
**   4-bit: 32 bytes; weight t = 4*j + i (t < 64) is the low nibble of byte
**          t when t < 32, the high nibble of byte t - 32 otherwise; a nibble
**          is the two's-complement 4-bit code
**   6-bit: 48 bytes: the low 4 bits of the two's-complement 6-bit code as
**          the 4-bit block (32 bytes), then 16 bytes of high 2-bit pairs:
**          weight t's bits 4..5 sit at bits 2*(t / 16) .. 2*(t / 16) + 1 of
**          byte t % 16
** colsum[n] = sum over k of W[n][k] (int32, padded to a multiple of KQ_NR):
** what a variant needs to fold the zero point (and, on VNNI, the +128 that
** turns s8 activations into u8) into the accumulators.
**
** Threads: C is split into contiguous ranges of rows or column panels; each
** element is computed by one thread with the same instruction sequence, so
** every thread count gives bit-identical results (integers are exact anyway).
*/
#ifndef RISQ_KERNELS_QGEMM_H
#define RISQ_KERNELS_QGEMM_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/isa.h"
#include "kernels/threadpool.h"

#define KQ_NR 16
#define KQ_KB 4
#define KQ_K_MAX 65536

typedef struct kq_weights {
    int N, K;         /* logical shape: N output channels x K inputs */
    int Kp;           /* K rounded up to a multiple of KQ_KB */
    int Np;           /* N rounded up to a multiple of KQ_NR */
    int bits;         /* 8, 6 or 4 */
    uint8_t *data;    /* (Np / KQ_NR) panels x (Kp / KQ_KB) blocks, 64-byte aligned */
    int32_t *colsum;  /* [Np] */
    size_t data_bytes;/* bytes of data; kq_weights_bytes() adds the colsum */
    size_t data_cap;  /* bytes allocated at data (>= data_bytes) */
    int colsum_cap;   /* int32s allocated at colsum (>= Np) */
} kq_weights;

/* Pack W[N][K] (row stride ldw, codes in the narrow range of `bits`) into
** *out. Returns 0, or -1 with a message (bits not 4/6/8, a code out of range
** -- naming its row and column --, K > KQ_K_MAX, out of memory). */
int kq_pack_weights(kq_weights *out, const int8_t *W, int N, int K, int ldw, int bits,
                    char *err, size_t errlen);
/* The same into *w, which holds an earlier packing or is zeroed: its
** buffers are reused when large enough (operands packed on every call, as
** the attention products do, then cost no allocation). On error *w is
** freed (zeroed). */
int kq_repack_weights(kq_weights *w, const int8_t *W, int N, int K, int ldw, int bits,
                      char *err, size_t errlen);
void kq_weights_free(kq_weights *w);
/* The code of W[n][k] read back from the packed form. */
int kq_weight_at(const kq_weights *w, int n, int k);
/* data_bytes + colsum bytes. */
size_t kq_weights_bytes(const kq_weights *w);

/* acc (see above) into C[M][N] (row stride ldc), active variant. */
void kq_gemm_s32(kt_pool *pool, int M, const int8_t *A, int lda, int za,
                 const kq_weights *W, int32_t *C, int ldc);

/* acc, then the dequantizing epilogue, into C[M][N] (row stride ldc). */
void kq_gemm_f32(kt_pool *pool, int M, const int8_t *A, int lda, int za,
                 const kq_weights *W, const float *scale, const float *bias,
                 float *C, int ldc);

/* Same, on a named variant (tests and benchmarks); the variant must be
** supported (ki_isa_supported), else these do nothing and return -1. */
int kq_gemm_s32_isa(ki_isa isa, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, int32_t *C, int ldc);
int kq_gemm_f32_isa(ki_isa isa, kt_pool *pool, int M, const int8_t *A, int lda, int za,
                    const kq_weights *W, const float *scale, const float *bias,
                    float *C, int ldc);

/* Sparse correction (RORQ outliers): for every row m and every entry e of
** that row (CSR: entries rowptr[m] .. rowptr[m+1]-1, column kidx[e], integer
** value val[e]):  C[m][n] += val[e] * W[n][kidx[e]]  for all n < N. Scalar,
** any variant. */
void kq_sparse_s32(int M, const int *rowptr, const int *kidx, const int32_t *val,
                   const kq_weights *W, int32_t *C, int ldc);

#endif
