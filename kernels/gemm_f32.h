/*
** gemm_f32: single-precision matrix products, blocked for cache.
**
** Row-major everywhere. The "nt" form multiplies by a transposed right-hand
** matrix, which is how PyTorch stores Linear / 1x1-conv weights ([out][in]),
** so y = x W^T + b is kf_gemm_nt(x, W, b).
**
** kf_gemm_nt / kf_gemm_nn run the variant of the active ISA
** (kernels/isa.h): the AVX-512F one for avx512vnni, the AVX2+FMA one for
** avx2, the portable C one otherwise. Variants agree with the *_ref loops
** within the bound of kernels/README.md; the scalar one differs from the
** others in the last bits (FMA rounds once), the AVX2 and AVX-512 ones give
** the same bits; one variant gives the same bits for every thread count.
*/
#ifndef RISQ_KERNELS_GEMM_F32_H
#define RISQ_KERNELS_GEMM_F32_H

#include <stddef.h>

#include "kernels/isa.h"
#include "kernels/threadpool.h"

/* C[M x N] = A[M x K] * B[N x K]^T (+ bias[N] broadcast over rows, if not NULL). */
void kf_gemm_nt(kt_pool *pool, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                const float *bias, float *C, int ldc);

/* C[M x N] = A[M x K] * B[K x N]. */
void kf_gemm_nn(kt_pool *pool, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                float *C, int ldc);

/* The same on a named ISA's variant (tests, benchmarks): returns -1 and
** does nothing when the ISA is not supported (ki_isa_supported), else 0. */
int kf_gemm_nt_isa(ki_isa isa, kt_pool *pool, int M, int N, int K,
                   const float *A, int lda, const float *B, int ldb,
                   const float *bias, float *C, int ldc);
int kf_gemm_nn_isa(ki_isa isa, kt_pool *pool, int M, int N, int K,
                   const float *A, int lda, const float *B, int ldb,
                   float *C, int ldc);

/* Weights packed once, for products that reuse them (a layer's weights
** across forward passes). The packed copy holds the panels that kf_gemm_nt /
** kf_gemm_nn would build on every call, for the variant of the ISA active
** when packing, so the products below give the same bits as the unpacked
** calls and only skip the packing. If the active ISA's variant differs at
** the time of the product, it runs unpacked from the source, which must
** therefore stay valid (and unchanged) while the packed copy is used.
** Returns NULL for bad sizes or when out of memory. */
typedef struct kf_packed kf_packed;
kf_packed *kf_pack_nt(int N, int K, const float *W, int ldw);  /* W[N][K] as B of kf_gemm_nt */
kf_packed *kf_pack_lhs(int M, int K, const float *W, int ldw); /* W[M][K] as A of kf_gemm_nn */
void kf_packed_free(kf_packed *p);
const float *kf_packed_source(const kf_packed *p); /* the W it was packed from */
int kf_packed_current(const kf_packed *p); /* 1: packed for the active ISA's variant */
size_t kf_packed_bytes(const kf_packed *p);        /* memory it holds */
/* Forget the source, which the caller may then free: products on p then
** always run on the variant that packed it, whatever the active ISA, and
** kf_packed_source() returns NULL. (A convolution on such weights needs its
** scratch buffer: kf_conv2d_packed.) */
void kf_packed_detach(kf_packed *p);

/* C[M x N] = A[M x K] * W^T (+ bias), W from kf_pack_nt (N, K from there):
** the bits of kf_gemm_nt(pool, M, N, K, A, lda, W, ldw, bias, C, ldc). */
void kf_gemm_nt_packed(kt_pool *pool, int M, const float *A, int lda, const kf_packed *W,
                       const float *bias, float *C, int ldc);
/* C[M x N] = W[M x K] * B[K x N], W from kf_pack_lhs: the bits of
** kf_gemm_nn(pool, M, N, K, W, ldw, B, ldb, C, ldc). */
void kf_gemm_nn_packed(kt_pool *pool, const kf_packed *W, int N, const float *B, int ldb,
                       float *C, int ldc);

/* Which fp32 variant runs for isa: "avx512", "avx2" or "scalar". */
const char *kf_gemm_variant_name(ki_isa isa);

/* Unblocked triple loops: the specification the tests compare against. */
void kf_gemm_nt_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, const float *bias, float *C, int ldc);
void kf_gemm_nn_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc);

#endif
