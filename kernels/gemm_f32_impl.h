/*
** gemm_f32_impl: the internal interface between the fp32 GEMM driver
** (kernels/gemm_f32.c: blocking, packing, threading, dispatch) and its
** per-ISA register tiles (the scalar one in gemm_f32.c,
** kernels/x86/gemm_f32_avx2.c, kernels/x86/gemm_f32_avx512.c). Not part of
** the public API.
**
** Packed operands (written by gemm_f32.c, read by a tile function):
**   Ap: one MR-row panel of A, k-major: Ap[k * KF_MR + i], k < kc, rows past
**       the matrix edge are zero;
**   Bp: one NR-column panel of B, k-major: Bp[k * NR + j], columns past the
**       edge zero. Panels start 64-byte aligned when the packing buffers come
**       from the heap; tiles must not rely on it (the out-of-memory path
**       uses stack buffers aligned to 64 as well, but use unaligned loads).
**
** A tile function computes the MR x NR tile
**     acc[i][j] = sum over k < kc of Ap[k][i] * Bp[k][j]
** accumulated in k order starting from 0 (each step one multiply-add,
** fused or not: a variant's choice, but the same for every element), with
** no horizontal reductions, then writes the valid mr x nr corner of it to
** C (row stride ldc) and nothing else:
**     first && bias:  C[i][j] = bias[j] + acc[i][j]
**     first && !bias: C[i][j] = acc[i][j]
**     !first:         C[i][j] += acc[i][j]
** Partial tiles (mr < MR or nr < NR) must give the same bits as the same
** elements of a full tile (compute the full tile, store part of it).
*/
#ifndef RISQ_KERNELS_GEMM_F32_IMPL_H
#define RISQ_KERNELS_GEMM_F32_IMPL_H

#include "kernels/gemm_f32.h"

#define KF_MR 6        /* rows of every variant's tile */
#define KF_NR_MAX 32   /* the widest tile */

/* K is summed in slices of KF_KC (see gemm_f32.c, "Determinism"): every
** kernel that computes elements of C follows the same slicing. */
#define KF_KC 256

/* Rows per unit of a narrow kernel (below); threads split narrow products
** at multiples of it. */
#define KF_NARROW_ROWS 8

typedef void (*kf_tile_fn)(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                           int mr, int nr, const float *bias, int first);
/* Pack columns [0, nc) x k [0, kc) of B into NR-column panels (see above). */
typedef void (*kf_pack_b_fn)(int nc, int kc, const float *B, int ldb, float *restrict Bp);

/* A narrow "nt" product, C[M][N] = (bias or 0) + A[M][K] B[N][K]^T for
** N <= KF_MR, straight from the unpacked operands, with the bits of the
** tiles: each element summed over k in order from 0 within each KF_KC
** slice, C = (bias or 0) + S_0, then C += S_1, ... (each step as the
** variant's tile does it). */
typedef void (*kf_narrow_fn)(int M, int N, int K, const float *A, int lda, const float *B,
                             int ldb, const float *bias, float *C, int ldc);

typedef struct kf_variant {
  int nr;                 /* NR: columns of the tile */
  double min_work;        /* multiply-adds below which a product runs on one
                          ** thread (waking a worker costs 10-100 us) */
  kf_tile_fn tile;
  kf_pack_b_fn pack_b_nt; /* B is [N][K] */
  kf_pack_b_fn pack_b_nn; /* B is [K][N] */
  kf_narrow_fn narrow;    /* or NULL: gemm_f32.c's transposed product */
} kf_variant;

/* x86-64 AVX2 + FMA, 6 x 16 (kernels/x86/gemm_f32_avx2.c); defined only
** when RISQ_HAVE_GEMM_F32_AVX2 (kernels/meson.build) is. */
#define KF_AVX2_NR 16
void kf_avx2_tile_6x16(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                       int mr, int nr, const float *bias, int first);
void kf_avx2_pack_b_nt(int nc, int kc, const float *B, int ldb, float *restrict Bp);
void kf_avx2_narrow_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       const float *bias, float *C, int ldc);
/* The same transposing packer for the AVX-512 variant's 32-column panels. */
void kf_avx2_pack_b_nt32(int nc, int kc, const float *B, int ldb, float *restrict Bp);

/* x86-64 AVX-512F, 6 x 32 (kernels/x86/gemm_f32_avx512.c); defined only
** when RISQ_HAVE_GEMM_F32_AVX512 is. It gives the AVX2 tile's bits. */
#define KF_AVX512_NR 32
void kf_avx512_tile_6x32(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                         int mr, int nr, const float *bias, int first);
/* The same source compiled against SIMDe's portable AVX-512 (tests only,
** kernels/meson.build): runs on any x86-64 CPU with AVX2 and FMA. */
void kf_avx512emu_tile_6x32(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                            int mr, int nr, const float *bias, int first);

/* Tests: the products of gemm_f32.h on a variant given by its parts (nr,
** tile, packers, narrow kernel: a tile that exists only in a test build),
** through the same blocking, packing and threading. */
void kf_gemm_nt_variant(const kf_variant *v, kt_pool *pool, int M, int N, int K,
                        const float *A, int lda, const float *B, int ldb, const float *bias,
                        float *C, int ldc);
void kf_gemm_nn_variant(const kf_variant *v, kt_pool *pool, int M, int N, int K,
                        const float *A, int lda, const float *B, int ldb, float *C, int ldc);
/* kf_pack_nt (lhs 0) / kf_pack_lhs (lhs 1) for variant v instead of the
** active ISA's; detached (kf_packed_detach), the products on it run on v. */
kf_packed *kf_pack_variant(const kf_variant *v, int lhs, int rows, int K, const float *W,
                           int ldw);
/* The variant kf_gemm_nt_isa runs for isa (tests build theirs from it). */
const kf_variant *kf_gemm_variant(ki_isa isa);

#endif
