/*
** gemm_f32_tile: the x86 fp32 register tile, written once for the AVX2
** (ymm, kernels/x86/gemm_f32_avx2.c) and AVX-512 (zmm,
** kernels/x86/gemm_f32_avx512.c) files. Not a header to include anywhere
** else: each of those files includes it once, after defining
**
**   KF_T_VL          floats per vector (8 or 16); the tile is KF_MR rows x
**                    2 * KF_T_VL columns
**   kf_t_vec         the vector type
**   KF_T_ZERO()      a vector of zeros
**   KF_T_LOAD(p)     KF_T_VL floats from p (unaligned)
**   KF_T_STORE(p, v) v to p (unaligned)
**   KF_T_ADD(a, b)   a + b, one rounding
**   KF_T_FMA(a, b, c) a * b + c, fused (one rounding)
**   KF_T_BCAST(p)    *p in every lane
**   KF_T_TILE        the name of the kf_tile_fn to define
**
** The tile computes, for its mr x nr corner of C (gemm_f32_impl.h has the
** contract), each element as one accumulator lane summed over k in order
** from 0 with one FMA per step, then stores it with one add (bias + acc on
** the first K slice, C + acc on later ones). That per-element sequence does
** not depend on the vector width, so the AVX2 and AVX-512 tiles give the
** same bits.
**
** Each k step loads the 2 vectors of the packed B panel, broadcasts the 6
** values of the packed A panel one at a time and issues 12 FMAs (12
** accumulators, 2 B registers, 1 broadcast). Edge tiles compute the full
** width and store only their valid columns; bottom-edge tiles of fewer than
** 6 rows use a shorter tile (the same per-element sequence) rather than
** computing rows that are thrown away: M = 20 (BERT's tokens) would
** otherwise waste a sixth of the work.
*/

#define KF_T_NR (2 * KF_T_VL)

/* Write one row: first slice C = bias + acc (or acc), later C += acc; all
** KF_T_NR columns, or (nr < KF_T_NR) only the first nr with the same one
** float add per element (a scalar add rounds as a vector lane's does). */
static inline void kf_store_row(float *c, kf_t_vec lo, kf_t_vec hi, int nr, const float *bias,
                                int first) {
  if (nr == KF_T_NR) {
    if (!first) {
      lo = KF_T_ADD(KF_T_LOAD(c), lo);
      hi = KF_T_ADD(KF_T_LOAD(c + KF_T_VL), hi);
    } else if (bias) {
      lo = KF_T_ADD(KF_T_LOAD(bias), lo);
      hi = KF_T_ADD(KF_T_LOAD(bias + KF_T_VL), hi);
    }
    KF_T_STORE(c, lo);
    KF_T_STORE(c + KF_T_VL, hi);
    return;
  }
  float acc[KF_T_NR];
  KF_T_STORE(acc, lo);
  KF_T_STORE(acc + KF_T_VL, hi);
  if (!first) {
    for (int j = 0; j < nr; j++) c[j] += acc[j];
  } else if (bias) {
    for (int j = 0; j < nr; j++) c[j] = bias[j] + acc[j];
  } else {
    for (int j = 0; j < nr; j++) c[j] = acc[j];
  }
}

/* The tile for the first R rows of the panel (R = 1..6, a compile-time
** constant in each caller, so the loops unroll and acc lives in registers). */
static inline __attribute__((always_inline)) void
kf_tile_rows(const int R, int kc, const float *ap, const float *bp, float *C, int ldc, int nr,
             const float *bias, int first) {
  kf_t_vec acc[KF_MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) acc[i][0] = acc[i][1] = KF_T_ZERO();

  /* The rows of C this tile writes (64 or 128 bytes each, usually
  ** straddling one more line) are fetched while the sums run. */
#pragma GCC unroll 6
  for (int i = 0; i < R; i++) {
    const float *c = C + (size_t)i * ldc;
    for (int o = 0; o < KF_T_NR; o += 16) _mm_prefetch((const char *)(c + o), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + KF_T_NR - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (int k = 0; k < kc; k++) {
    kf_t_vec b0 = KF_T_LOAD(bp), b1 = KF_T_LOAD(bp + KF_T_VL);
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
      kf_t_vec a = KF_T_BCAST(ap + i);
      acc[i][0] = KF_T_FMA(a, b0, acc[i][0]);
      acc[i][1] = KF_T_FMA(a, b1, acc[i][1]);
    }
    ap += KF_MR;
    bp += KF_T_NR;
  }

#pragma GCC unroll 6
  for (int i = 0; i < R; i++)
    kf_store_row(C + (size_t)i * ldc, acc[i][0], acc[i][1], nr, bias, first);
}

void KF_T_TILE(int kc, const float *Ap, const float *Bp, float *C, int ldc, int mr, int nr,
               const float *bias, int first) {
  switch (mr) {
  case 6: kf_tile_rows(6, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 5: kf_tile_rows(5, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 4: kf_tile_rows(4, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 3: kf_tile_rows(3, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  case 2: kf_tile_rows(2, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  default: kf_tile_rows(1, kc, Ap, Bp, C, ldc, nr, bias, first); break;
  }
}
