/*
** gemm_f32: single-precision matrix products, blocked for cache.
**
** Row-major everywhere. The "nt" form multiplies by a transposed right-hand
** matrix, which is how PyTorch stores Linear / 1x1-conv weights ([out][in]),
** so y = x W^T + b is kf_gemm_nt(x, W, b).
*/
#ifndef RISQ_KERNELS_GEMM_F32_H
#define RISQ_KERNELS_GEMM_F32_H

#include "kernels/threadpool.h"

/* C[M x N] = A[M x K] * B[N x K]^T (+ bias[N] broadcast over rows, if not NULL). */
void kf_gemm_nt(kt_pool *pool, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                const float *bias, float *C, int ldc);

/* C[M x N] = A[M x K] * B[K x N]. */
void kf_gemm_nn(kt_pool *pool, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                float *C, int ldc);

/* Unblocked triple loops: the specification the tests compare against. */
void kf_gemm_nt_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, const float *bias, float *C, int ldc);
void kf_gemm_nn_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc);

#endif
