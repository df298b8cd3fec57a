/*
** gemm_f32_avx512: the AVX-512F register tile of the fp32 GEMM (x86-64 only;
** compiled with -mavx512f -mavx2 -mfma into its own library, called only when
** the active ISA is avx512vnni). The blocking, packing and threading around
** it are kernels/gemm_f32.c's; the contract of a tile is in
** kernels/gemm_f32_impl.h. The "nt" packer and the narrow kernel of this
** variant are the AVX2 file's (kf_avx2_pack_b_nt32, kf_avx2_narrow_nt).
**
** Tile: 6 rows x 32 columns of C = 12 zmm accumulators (two 16-float halves
** per row). Each k step loads 32 floats of the packed B panel into two
** registers, broadcasts the 6 values of the packed A panel one at a time and
** issues 12 fused multiply-adds: the AVX2 tile's loop with registers twice as
** wide, so it keeps two 512-bit FMA pipes busy where the AVX2 tile fills
** only half of each. The B panel is 32 KiB at kc = 256: in L1 on cores with
** 48 KiB (Ice Lake and later, Zen 4), streaming from L2 on 32 KiB ones.
**
** Bits: every accumulator lane is one element of C, summed over k in order
** from 0 with one FMA per step, combined with the bias and earlier K slices
** by one add, exactly as in the AVX2 tile. So this variant gives the AVX2
** variant's bits, element for element (tests/kernels/test_gemm_f32.c checks
** it), and its own bits for every thread count.
**
** Testing without AVX-512: built with -DRISQ_AVX512_EMULATE (tests only), the
** same source is compiled against SIMDe's portable implementation of the
** AVX-512 intrinsics (Debian libsimde-dev; on AVX2+FMA, each 512-bit FMA is
** two fused 256-bit ones) under the names kf_avx512emu_*, so the tile's
** indexing, edges and stores are checked on every x86-64 machine; the native
** build is tested only where the CPU has AVX-512.
*/
#ifdef RISQ_AVX512_EMULATE
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define kf_avx512_tile_6x32 kf_avx512emu_tile_6x32
#else
#include <immintrin.h>
#endif
#include <stddef.h>

#include "kernels/gemm_f32_impl.h"

/* Write one row: first slice C = bias + acc (or acc), later C += acc; all
** 32 columns, or (nr < 32) only the first nr with the same one float add
** per element (the scalar adds round as the vector ones do). */
static inline void kf_store_row(float *c, __m512 lo, __m512 hi, int nr, const float *bias,
                                int first) {
  if (nr == KF_AVX512_NR) {
    if (!first) {
      lo = _mm512_add_ps(_mm512_loadu_ps(c), lo);
      hi = _mm512_add_ps(_mm512_loadu_ps(c + 16), hi);
    } else if (bias) {
      lo = _mm512_add_ps(_mm512_loadu_ps(bias), lo);
      hi = _mm512_add_ps(_mm512_loadu_ps(bias + 16), hi);
    }
    _mm512_storeu_ps(c, lo);
    _mm512_storeu_ps(c + 16, hi);
    return;
  }
  float acc[KF_AVX512_NR];
  _mm512_storeu_ps(acc, lo);
  _mm512_storeu_ps(acc + 16, hi);
  if (!first) {
    for (int j = 0; j < nr; j++) c[j] += acc[j];
  } else if (bias) {
    for (int j = 0; j < nr; j++) c[j] = bias[j] + acc[j];
  } else {
    for (int j = 0; j < nr; j++) c[j] = acc[j];
  }
}

/* The tile for the first R rows of the panel (R = 1..6, a compile-time
** constant in each caller, so the loops unroll and acc lives in registers);
** a short tile (the bottom edge) runs the full tile's FMA sequence for each
** of its elements and skips the rows that do not exist. */
static inline __attribute__((always_inline)) void
kf_tile_rows(const int R, int kc, const float *ap, const float *bp, float *C, int ldc, int nr,
             const float *bias, int first) {
  __m512 acc[KF_MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();

  /* The rows of C this tile writes (128 bytes each, up to three lines) are
  ** fetched while the sums run. */
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
    const char *c = (const char *)(C + (size_t)i * ldc);
    _mm_prefetch(c, _MM_HINT_T0);
    _mm_prefetch(c + 64, _MM_HINT_T0);
    _mm_prefetch(c + 127, _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (int k = 0; k < kc; k++) {
    __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      __m512 a = _mm512_set1_ps(ap[i]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
    ap += KF_MR;
    bp += KF_AVX512_NR;
  }

#pragma GCC unroll 6
  for (int i = 0; i < R; i++)
    kf_store_row(C + (size_t)i * ldc, acc[i][0], acc[i][1], nr, bias, first);
}

void kf_avx512_tile_6x32(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                         int mr, int nr, const float *bias, int first) {
  switch (mr) {
  case 6: kf_tile_rows(6, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 5: kf_tile_rows(5, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 4: kf_tile_rows(4, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 3: kf_tile_rows(3, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 2: kf_tile_rows(2, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  default: kf_tile_rows(1, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  }
}
