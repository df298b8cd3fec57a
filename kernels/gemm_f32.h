/*
** gemm_f32: single-precision matrix products, blocked for cache.
**
** Row-major everywhere. The "nt" form multiplies by a transposed right-hand
** matrix, which is how PyTorch stores Linear / 1x1-conv weights ([out][in]),
** so y = x W^T + b is kf_gemm_nt(x, W, b).
**
** kf_gemm_nt / kf_gemm_nn run the variant of the active ISA
** (kernels/isa.h): the AVX2+FMA one for avx2 and avx512vnni, the portable C
** one otherwise. Variants agree with the *_ref loops within the bound of
** kernels/README.md but not bit for bit with each other (FMA rounds once);
** one variant gives the same bits for every thread count.
*/
#ifndef RISQ_KERNELS_GEMM_F32_H
#define RISQ_KERNELS_GEMM_F32_H

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

/* Which fp32 variant runs for isa: "avx2" or "scalar". */
const char *kf_gemm_variant_name(ki_isa isa);

/* Unblocked triple loops: the specification the tests compare against. */
void kf_gemm_nt_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, const float *bias, float *C, int ldc);
void kf_gemm_nn_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc);

#endif
