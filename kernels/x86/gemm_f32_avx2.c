/*
** gemm_f32_avx2: the AVX2 + FMA register tile of the fp32 GEMM (x86-64
** only; compiled with -mavx2 -mfma into its own library, called only when
** ki_isa_active() says the CPU has AVX2 and FMA). The blocking, packing and
** threading around it are kernels/gemm_f32.c's; the contract of a tile is in
** kernels/gemm_f32_impl.h.
**
** Tile: 6 rows x 16 columns of C = 12 ymm accumulators (two 8-float halves
** per row; the loop is kernels/x86/gemm_f32_tile.h, shared with the AVX-512
** file). Each k step issues 12 FMAs per 8 loads, which keeps both FMA pipes
** of a Haswell/Zen core busy while the B panel (16 x kc floats, 16 KiB at
** kc = 256) stays in L1 and the A panel streams from L2.
**
** kf_avx2_pack_b_nt packs a [N][K] right-hand side into the 16-column
** panels (kf_avx2_pack_b_nt32: the AVX-512 variant's 32-column ones) with
** 8 x 8 in-register transposes (the portable packer's strided
** scalar stores cost about as much as the product itself when M is small,
** e.g. BERT's 20 tokens).
**
** Determinism: every accumulator lane is one element of C, summed over k in
** order from 0 with one rounding per step (FMA); there is no horizontal
** reduction, and edge tiles give the bits of full ones (gemm_f32_tile.h),
** so an element's bits do not depend on where the tile boundaries (and so
** the thread split) fall.
*/
#include <immintrin.h>
#include <stddef.h>

#include "kernels/gemm_f32_impl.h"

/* The tile (kernels/x86/gemm_f32_tile.h) on ymm registers: 6 x 16. */
#define KF_T_VL 8
typedef __m256 kf_t_vec;
#define KF_T_ZERO() _mm256_setzero_ps()
#define KF_T_LOAD(p) _mm256_loadu_ps(p)
#define KF_T_STORE(p, v) _mm256_storeu_ps(p, v)
#define KF_T_ADD(a, b) _mm256_add_ps(a, b)
#define KF_T_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define KF_T_BCAST(p) _mm256_broadcast_ss(p)
#define KF_T_TILE kf_avx2_tile_6x16
#include "kernels/x86/gemm_f32_tile.h"
_Static_assert(KF_T_NR == KF_AVX2_NR, "the tile is as wide as the variant's panels");

/* ------------------------------------------------------------------------ */
/* Packing B[N][K] into NR-column panels: Bp[panel][k][j] = B[j0 + j][k].      */

/* Transpose the 8 x 8 block r[0..7] (rows) in place: afterwards r[t] holds
** column t, i.e. (r0[t], r1[t], ..., r7[t]). */
static inline void kf_transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  /* (r0[c], r1[c], r2[c], r3[c]) for c = 0, 1, 2, 3 in the low lane, c + 4
  ** in the high lane; the same for rows 4-7. */
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* How far ahead (floats) the packer prefetches each row of B. */
#define KF_PF 64

/* Panels NR (16 or 32) columns wide, 8 rows of B per 8 x 8 transpose. */
static inline __attribute__((always_inline)) void
kf_pack_panels(const int NR, int nc, int kc, const float *B, int ldb, float *restrict Bp) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    int nr = nc - j0 < NR ? nc - j0 : NR;
    int k = 0;
    /* 8 k at a time, each group of 8 rows of B one 8 x 8 transpose; rows
    ** past nr are zero. */
    for (; k + 8 <= kc; k += 8) {
      /* 16 or 32 rows are read side by side: more streams than the hardware
      ** prefetchers follow, so fetch each row's line KF_PF floats ahead. */
      if (k % 16 == 0 && k + KF_PF < kc)
        for (int j = 0; j < nr; j++)
          _mm_prefetch((const char *)(B + (size_t)(j0 + j) * ldb + k + KF_PF), _MM_HINT_T0);
      for (int h = 0; h < NR / 8; h++) {
        __m256 r[8];
        for (int j = 0; j < 8; j++) {
          int row = 8 * h + j;
          r[j] = row < nr ? _mm256_loadu_ps(B + (size_t)(j0 + row) * ldb + k) : _mm256_setzero_ps();
        }
        kf_transpose8(r);
        for (int t = 0; t < 8; t++) _mm256_storeu_ps(Bp + (size_t)(k + t) * NR + 8 * h, r[t]);
      }
    }
    /* the k tail, element by element */
    for (; k < kc; k++) {
      float *d = Bp + (size_t)k * NR;
      int j = 0;
      for (; j < nr; j++) d[j] = B[(size_t)(j0 + j) * ldb + k];
      for (; j < NR; j++) d[j] = 0.0f;
    }
    Bp += (size_t)kc * NR;
  }
}

void kf_avx2_pack_b_nt(int nc, int kc, const float *B, int ldb, float *restrict Bp) {
  kf_pack_panels(KF_AVX2_NR, nc, kc, B, ldb, Bp);
}

void kf_avx2_pack_b_nt32(int nc, int kc, const float *B, int ldb, float *restrict Bp) {
  kf_pack_panels(KF_AVX512_NR, nc, kc, B, ldb, Bp);
}

/* ------------------------------------------------------------------------ */
/* Narrow products: N <= KF_MR columns (a classifier's N = 2).                */
/*                                                                            */
/* A 16-wide tile would compute mostly padding, and packing A (the large      */
/* operand) costs two extra passes over it. Here the lanes are 8 rows of C    */
/* instead: 8 rows of A are read 8 k at a time and transposed in registers    */
/* (kf_transpose8), so that lane i of vector t holds A[row i][k + t]; each    */
/* column n then takes 8 FMAs with B[n][k + t] broadcast. Every lane is one   */
/* element of C, summed over k in order from 0 with one FMA per step (the     */
/* multiply commutes with the tile's), slices of KF_KC combined as the tile's */
/* stores combine them: the bits are the wide path's. A is read once.         */

/* Rows rows[0..7] (pointers to row starts; repeats allowed), all of K, N
** columns (a compile-time constant in each caller): out[n * 8 + i] = C of
** row i, column n. */
static inline __attribute__((always_inline)) void
kf_narrow_rows(const int N, const float *const rows[8], int K, const float *B, int ldb,
               const float *bias, float out[8 * KF_MR]) {
  __m256 c[KF_MR];
#pragma GCC unroll 6
  for (int n = 0; n < N; n++) c[n] = _mm256_setzero_ps(); /* (set by the first slice) */
  for (int pc = 0; pc < K; pc += KF_KC) {
    int kc = K - pc < KF_KC ? K - pc : KF_KC;
    __m256 acc[KF_MR];
#pragma GCC unroll 6
    for (int n = 0; n < N; n++) acc[n] = _mm256_setzero_ps();
    int k = pc;
    for (; k + 8 <= pc + kc; k += 8) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(rows[j] + k);
      kf_transpose8(r);
#pragma GCC unroll 8
      for (int t = 0; t < 8; t++)
#pragma GCC unroll 6
        for (int n = 0; n < N; n++)
          acc[n] = _mm256_fmadd_ps(r[t], _mm256_broadcast_ss(B + (size_t)n * ldb + k + t), acc[n]);
    }
    for (; k < pc + kc; k++) { /* the slice's k tail */
      __m256 a = _mm256_setr_ps(rows[0][k], rows[1][k], rows[2][k], rows[3][k], rows[4][k],
                                rows[5][k], rows[6][k], rows[7][k]);
#pragma GCC unroll 6
      for (int n = 0; n < N; n++)
        acc[n] = _mm256_fmadd_ps(a, _mm256_broadcast_ss(B + (size_t)n * ldb + k), acc[n]);
    }
    /* as kf_store_row: first slice bias + acc (or acc), later c + acc */
#pragma GCC unroll 6
    for (int n = 0; n < N; n++)
      c[n] = pc ? _mm256_add_ps(c[n], acc[n])
                : bias ? _mm256_add_ps(_mm256_set1_ps(bias[n]), acc[n]) : acc[n];
  }
#pragma GCC unroll 6
  for (int n = 0; n < N; n++) _mm256_storeu_ps(out + 8 * n, c[n]);
}

_Static_assert(KF_NARROW_ROWS == 8, "a narrow unit is the 8 lanes of one ymm");

void kf_avx2_narrow_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                       const float *bias, float *C, int ldc) {
  for (int m = 0; m < M; m += KF_NARROW_ROWS) {
    int mr = M - m < KF_NARROW_ROWS ? M - m : KF_NARROW_ROWS;
    /* Past the last row, lanes repeat it (lanes are independent; their
    ** results are not stored). */
    const float *rows[KF_NARROW_ROWS];
    for (int i = 0; i < KF_NARROW_ROWS; i++) rows[i] = A + (size_t)(m + (i < mr ? i : mr - 1)) * lda;
    float out[KF_NARROW_ROWS * KF_MR];
    switch (N) {
    case 1: kf_narrow_rows(1, rows, K, B, ldb, bias, out); break;
    case 2: kf_narrow_rows(2, rows, K, B, ldb, bias, out); break;
    case 3: kf_narrow_rows(3, rows, K, B, ldb, bias, out); break;
    case 4: kf_narrow_rows(4, rows, K, B, ldb, bias, out); break;
    case 5: kf_narrow_rows(5, rows, K, B, ldb, bias, out); break;
    default: kf_narrow_rows(6, rows, K, B, ldb, bias, out); break;
    }
    for (int i = 0; i < mr; i++)
      for (int n = 0; n < N; n++) C[(size_t)(m + i) * ldc + n] = out[n * KF_NARROW_ROWS + i];
  }
}
