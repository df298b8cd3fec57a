/*
** gemm_f32: single-precision matrix products, blocked for cache (see
** gemm_f32.h for the contract).
**
** Structure (the classic Goto/BLIS layering, written for clarity):
**
**   for each column block of C, NC wide        (B block stays in L3)
**     for each KC-deep slice of K
**       for each row block of C, MC tall        (pack A slice -> Ap, in L2)
**         for each NR-wide panel of the B slice (first row block: pack it
**                                                into Bp, then reuse it)
**           for each MR-tall panel of Ap: micro-kernel, MR x NR tile of C
**
** Packed layouts: Ap holds MR-row panels, each stored k-major (for every k the
** MR values A[i][k] side by side); Bp holds NR-column panels, k-major as well.
** Panels at the matrix edges are zero-padded to a full MR / NR so that the
** micro-kernel has a single fixed shape; only the valid part of a tile is
** written back. "nt" and "nn" differ only in how B is packed.
**
** Variants: the blocking, packing and threading here are shared; what a
** variant supplies is its register tile (MR x NR) and the function that
** computes one tile and writes it to C. The scalar variant (below) is plain
** C over a small local accumulator array with compile-time bounds (plus one
** unroll pragma); gcc -O2 turns it into SSE code for the baseline x86-64 ISA.
** kernels/x86/gemm_f32_avx2.c is the AVX2+FMA variant (6 x 16 tile, FMA),
** used when ki_isa_active() is avx2; kernels/x86/gemm_f32_avx512.c the
** AVX-512F one (6 x 32, FMA), used for avx512vnni (AVX2 where it is not
** compiled in); every other ISA uses the scalar variant. The packed layouts
** depend only on MR and NR, so the variants share the packing code below
** (the x86 ones bring a faster packer for the "nt" right-hand side, same
** layout, and a kernel for "nt" products of at most MR columns that reads A
** unpacked: kf_variant.narrow).
**
** Determinism: every element of C is computed as
**     C = (bias or 0) + S_0,   then C += S_1, C += S_2, ...
** where S_p is the sum over the p-th KC slice of K, accumulated in k order
** starting from 0. This depends only on K and KC, never on how rows and
** columns are split into tiles, blocks or threads (the micro-kernel's lanes
** are independent; there is no horizontal reduction), so every thread count
** gives bit-identical results. (The scalar variant differs from the others
** in the last bits: it rounds twice per multiply-add, the AVX2 and AVX-512
** ones once, FMA; those two give the same bits.) Threads split C into
** contiguous column (or row) ranges and each runs the serial algorithm on
** its own part with its own packing buffers.
*/
#include "kernels/gemm_f32.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_f32_impl.h"

/* Register tile of the scalar variant: MR rows x NR columns of C. 6 x 8 = 12
** SSE accumulators plus two for B and one broadcast of A: fits the 16 xmm
** registers. Every variant has MR = KF_MR (kernels/gemm_f32_impl.h); NR is
** the variant's. */
#define KF_NR 8

/* Cache blocking. KC * NR * 4 bytes of B (8 KiB; 16 KiB for the AVX2 tile;
** 32 KiB for the AVX-512 one, which fits L1 only on 48 KiB cores) and
** MR * KC of A stay in L1 while a tile is computed; MC * KC * 4
** (~192 KiB) of A in L2; KC * NC * 4 (~2 MiB) of B in L3. KC also fixes the
** summation order (see above); it is defined in gemm_f32_impl.h. */
#define KF_MC 192   /* multiple of KF_MR */
#define KF_NC 2048  /* multiple of every variant's NR */

/* Below this many multiply-adds a product runs on one thread (scalar
** variant: ~20 us of work; the AVX2 variant is ~3x faster per thread, and
** waking a worker costs 10-100 us on a busy VM, so it waits for larger
** products). */
#define KF_PARALLEL_MIN_WORK (64.0 * 64.0 * 64.0)
#define KF_AVX2_PARALLEL_MIN_WORK (128.0 * 128.0 * 128.0)

#define KF_ALIGN 64

/* "nt" products of at most KF_MR columns take a variant's narrow kernel from
** this many rows (the AVX2 variant's bound when it was written, 4 x 16; it
** does not depend on the tile's width), the scalar variant's transposed
** product from 4 x NR rows. */
#define KF_NARROW_MIN_M 64

/* ------------------------------------------------------------------------ */
/* Reference triple loops: the specification.                                */

void kf_gemm_nt_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, const float *bias, float *C, int ldc) {
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      float s = 0.0f;
      for (int k = 0; k < K; k++) s += A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
      C[(size_t)i * ldc + j] = (bias ? bias[j] : 0.0f) + s;
    }
  }
}

void kf_gemm_nn_ref(int M, int N, int K, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc) {
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      float s = 0.0f;
      for (int k = 0; k < K; k++) s += A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
      C[(size_t)i * ldc + j] = s;
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Packing.                                                                   */

/* Pack rows [0, mc) x columns [0, kc) of A (already offset to the block's
** corner) into MR-row panels: Ap[panel][k][i]. Rows past mc are zero. */
static void kf_pack_a(int mc, int kc, const float *A, int lda, float *restrict Ap) {
  for (int i0 = 0; i0 < mc; i0 += KF_MR) {
    int mr = mc - i0 < KF_MR ? mc - i0 : KF_MR;
    for (int i = 0; i < mr; i++) {
      const float *a = A + (size_t)(i0 + i) * lda;
      for (int k = 0; k < kc; k++) Ap[k * KF_MR + i] = a[k];
    }
    for (int i = mr; i < KF_MR; i++)
      for (int k = 0; k < kc; k++) Ap[k * KF_MR + i] = 0.0f;
    Ap += (size_t)kc * KF_MR;
  }
}

/* "nt": B is [N][K]; pack rows [0, nc) x columns [0, kc) as NR-column panels
** Bp[panel][k][j] = B[j][k]. Columns past nc are zero. NR is a parameter
** (the variant's); the wrappers below give the compiler constant ones. */
static inline void kf_pack_b_nt(int NR, int nc, int kc, const float *B, int ldb,
                                float *restrict Bp) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    int nr = nc - j0 < NR ? nc - j0 : NR;
    for (int j = 0; j < nr; j++) {
      const float *b = B + (size_t)(j0 + j) * ldb;
      for (int k = 0; k < kc; k++) Bp[k * NR + j] = b[k];
    }
    for (int j = nr; j < NR; j++)
      for (int k = 0; k < kc; k++) Bp[k * NR + j] = 0.0f;
    Bp += (size_t)kc * NR;
  }
}

/* "nn": B is [K][N]; pack rows [0, kc) x columns [0, nc): each k row of a
** panel is a short contiguous copy. */
static inline void kf_pack_b_nn(int NR, int nc, int kc, const float *B, int ldb,
                                float *restrict Bp) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    int nr = nc - j0 < NR ? nc - j0 : NR;
    for (int k = 0; k < kc; k++) {
      const float *b = B + (size_t)k * ldb + j0;
      float *d = Bp + k * NR;
      int j = 0;
      for (; j < nr; j++) d[j] = b[j];
      for (; j < NR; j++) d[j] = 0.0f;
    }
    Bp += (size_t)kc * NR;
  }
}

static void kf_pack_b_nt8(int nc, int kc, const float *B, int ldb, float *restrict Bp) {
  kf_pack_b_nt(8, nc, kc, B, ldb, Bp);
}
static void kf_pack_b_nn8(int nc, int kc, const float *B, int ldb, float *restrict Bp) {
  kf_pack_b_nn(8, nc, kc, B, ldb, Bp);
}
#ifdef RISQ_HAVE_GEMM_F32_AVX2
/* (the AVX2 and AVX-512 variants pack "nt" with the AVX2 transposing packer) */
static void kf_pack_b_nn16(int nc, int kc, const float *B, int ldb, float *restrict Bp) {
  kf_pack_b_nn(16, nc, kc, B, ldb, Bp);
}
#endif
#ifdef RISQ_HAVE_GEMM_F32_AVX512
static void kf_pack_b_nn32(int nc, int kc, const float *B, int ldb, float *restrict Bp) {
  kf_pack_b_nn(32, nc, kc, B, ldb, Bp);
}
#endif

/* ------------------------------------------------------------------------ */
/* Scalar variant: micro-kernel and store.                                    */

/* acc[MR][NR] = sum over k < kc of Ap[k][i] * Bp[k][j], accumulated in k
** order from zero. The fixed trip counts of the i/j loops let gcc unroll
** them and keep acc in vector registers. */
static void kf_micro_6x8(int kc, const float *restrict Ap, const float *restrict Bp,
                         float acc_out[restrict KF_MR][KF_NR]) {
  float acc[KF_MR][KF_NR];
  for (int i = 0; i < KF_MR; i++)
    for (int j = 0; j < KF_NR; j++) acc[i][j] = 0.0f;

  for (int k = 0; k < kc; k++) {
    const float *restrict a = Ap + k * KF_MR;
    const float *restrict b = Bp + k * KF_NR;
    /* Without the full unroll gcc -O2 vectorises only the j loop and keeps
    ** acc in memory (~22 GFLOP/s at 512^3); unrolled, the 12 accumulators
    ** live in xmm registers (~33 GFLOP/s). -O3 alone does worse (~3). */
#pragma GCC unroll 6
    for (int i = 0; i < KF_MR; i++) {
      const float ai = a[i];
      for (int j = 0; j < KF_NR; j++) acc[i][j] += ai * b[j];
    }
  }

  for (int i = 0; i < KF_MR; i++)
    for (int j = 0; j < KF_NR; j++) acc_out[i][j] = acc[i][j];
}

/* The scalar variant's kf_tile_fn (see kernels/gemm_f32_impl.h). */
static void kf_scalar_tile_6x8(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                               int mr, int nr, const float *bias, int first) {
  float acc[KF_MR][KF_NR];
  kf_micro_6x8(kc, Ap, Bp, acc);
  for (int i = 0; i < mr; i++) {
    float *c = C + (size_t)i * ldc;
    if (!first) {
      for (int j = 0; j < nr; j++) c[j] += acc[i][j];
    } else if (bias) {
      for (int j = 0; j < nr; j++) c[j] = bias[j] + acc[i][j];
    } else {
      for (int j = 0; j < nr; j++) c[j] = acc[i][j];
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Variants.                                                                  */

static const kf_variant kf_scalar = {KF_NR, KF_PARALLEL_MIN_WORK, kf_scalar_tile_6x8,
                                     kf_pack_b_nt8, kf_pack_b_nn8, NULL};
#ifdef RISQ_HAVE_GEMM_F32_AVX2
static const kf_variant kf_avx2 = {KF_AVX2_NR, KF_AVX2_PARALLEL_MIN_WORK, kf_avx2_tile_6x16,
                                   kf_avx2_pack_b_nt, kf_pack_b_nn16, kf_avx2_narrow_nt};
#endif

#ifdef RISQ_HAVE_GEMM_F32_AVX512
/* (the parallel threshold is the AVX2 variant's, not tuned on AVX-512) */
static const kf_variant kf_avx512 = {KF_AVX512_NR, KF_AVX2_PARALLEL_MIN_WORK,
                                     kf_avx512_tile_6x32, kf_avx2_pack_b_nt32, kf_pack_b_nn32,
                                     kf_avx2_narrow_nt};
#endif

/* The variant that runs for isa: AVX-512F for avx512vnni (CPUs with
** AVX-512 but not VNNI run avx2), AVX2+FMA for avx2, the scalar one for
** everything else. */
static const kf_variant *kf_variant_for(ki_isa isa) {
#ifdef RISQ_HAVE_GEMM_F32_AVX512
  if (isa == KI_AVX512VNNI) return &kf_avx512;
#endif
#ifdef RISQ_HAVE_GEMM_F32_AVX2
  if (isa == KI_AVX2 || isa == KI_AVX512VNNI) return &kf_avx2;
#else
  (void)isa;
#endif
  return &kf_scalar;
}

const kf_variant *kf_gemm_variant(ki_isa isa) { return kf_variant_for(isa); }

/* ------------------------------------------------------------------------ */
/* Serial blocked driver.                                                     */

/* One GEMM problem, possibly a sub-range of a caller's. B points at the
** first column of this sub-problem: for nt that is row j0 of B, for nn
** column j0. bias (if any) is already offset the same way. */
typedef struct {
  int M, N, K;
  const float *A;
  int lda;
  const float *B;
  int ldb;
  const float *bias;
  float *C;
  int ldc;
  int nt;          /* 1: B is [N][K]; 0: B is [K][N] */
  kt_pool *pool;   /* only used by the parallel front end */
  int split_n;     /* parallel split over columns (1) or rows (0) */
  const kf_variant *v;
  /* Operands packed in advance (kf_pack_lhs / kf_pack_nt), or NULL: then A
  ** or B above is not read. pa_row / pb_col: the first row of A / column of
  ** B of this sub-problem within the packed operand (a panel multiple). */
  const kf_packed *pa, *pb;
  int pa_row, pb_col;
} kf_gemm_args;

/* An operand packed once (see gemm_f32.h): every KC slice of K holds the
** panels of all rows_p rows, each panel as the packers above write it, so
** slice pc starts at data + pc * rows_p (slices before the last are KC
** deep) and the panel of row/column r (a panel multiple) at + r * kc. */
struct kf_packed {
  const kf_variant *v; /* the variant it was packed for */
  int lhs;             /* 1: A (MR-row panels), 0: "nt" B (NR-column panels) */
  int rows, K;         /* M (lhs) or N (nt) rows of K values */
  int rows_p;          /* rows rounded up to the panel size */
  const float *src;    /* what was packed, row stride lds (kept for fallback) */
  int lds;
  float *data;
};

/* Offset of column j of B in the packed-B sense. */
static const float *kf_b_col(const kf_gemm_args *g, int j, int k) {
  return g->nt ? g->B + (size_t)j * g->ldb + k : g->B + (size_t)k * g->ldb + j;
}

/* Run the blocked algorithm with caller-supplied packing buffers of mc_max *
** KC (Ap) and KC * nc_max (Bp) floats. The block sizes do not change the
** result, so a small pair of buffers (mc_max = MR, nc_max = NR) gives the same
** bits as large ones, only slower. */
static void kf_gemm_blocked(const kf_gemm_args *g, float *Ap, int mc_max, float *Bp, int nc_max) {
  const kf_variant *v = g->v;
  const int NR = v->nr;
  kf_pack_b_fn pack_b = g->nt ? v->pack_b_nt : v->pack_b_nn;

  for (int jc = 0; jc < g->N; jc += nc_max) {
    int nc = g->N - jc < nc_max ? g->N - jc : nc_max;
    for (int pc = 0; pc < g->K; pc += KF_KC) {
      int kc = g->K - pc < KF_KC ? g->K - pc : KF_KC;
      int first = pc == 0;

      for (int ic = 0; ic < g->M; ic += mc_max) {
        int mc = g->M - ic < mc_max ? g->M - ic : mc_max;
        const float *ap = Ap;
        if (g->pa)
          ap = g->pa->data + (size_t)pc * g->pa->rows_p + (size_t)(g->pa_row + ic) * kc;
        else
          kf_pack_a(mc, kc, g->A + (size_t)ic * g->lda + pc, g->lda, Ap);

        for (int jr = 0; jr < nc; jr += NR) {
          int nr = nc - jr < NR ? nc - jr : NR;
          const float *bp;
          if (g->pb) {
            bp = g->pb->data + (size_t)pc * g->pb->rows_p + (size_t)(g->pb_col + jc + jr) * kc;
          } else {
            /* Panel jr/NR, NR*kc each. B panels are packed while the first
            ** row block uses them, so each is still in L1 for its first
            ** tiles (what matters when M is small and B is packed once for
            ** few tiles); later row blocks reuse the packed slice. */
            bp = Bp + (size_t)jr * kc;
            if (ic == 0) pack_b(nr, kc, kf_b_col(g, jc + jr, pc), g->ldb, Bp + (size_t)jr * kc);
          }
          const float *bias = g->bias && first ? g->bias + jc + jr : NULL;
          for (int ir = 0; ir < mc; ir += KF_MR) {
            int mr = mc - ir < KF_MR ? mc - ir : KF_MR;
            v->tile(kc, ap + (size_t)ir * kc, bp, g->C + (size_t)(ic + ir) * g->ldc + jc + jr,
                    g->ldc, mr, nr, bias, first);
          }
        }
      }
    }
  }
}

static void *kf_aligned_floats(size_t n) {
  size_t bytes = n * sizeof(float);
  bytes = (bytes + KF_ALIGN - 1) / KF_ALIGN * KF_ALIGN; /* aligned_alloc rule */
  return aligned_alloc(KF_ALIGN, bytes);
}

static int kf_round_up(int x, int m) { return (x + m - 1) / m * m; }

/* Serial GEMM on one (sub-)problem: allocate packing buffers sized to the
** problem, or fall back to small stack buffers when memory is short. */
static void kf_gemm_serial(const kf_gemm_args *g) {
  if (g->M <= 0 || g->N <= 0) return;
  if (g->K <= 0) {  /* empty sum: C = bias or 0 */
    for (int i = 0; i < g->M; i++)
      for (int j = 0; j < g->N; j++)
        g->C[(size_t)i * g->ldc + j] = g->bias ? g->bias[j] : 0.0f;
    return;
  }
  int NR = g->v->nr;
  int kc = g->K < KF_KC ? g->K : KF_KC;
  int mc = g->M < KF_MC ? kf_round_up(g->M, KF_MR) : KF_MC;
  int nc = g->N < KF_NC ? kf_round_up(g->N, NR) : KF_NC;
  /* (a packed operand needs no buffer; one float keeps the test simple) */
  float *Ap = kf_aligned_floats(g->pa ? 1 : (size_t)mc * kc);
  float *Bp = kf_aligned_floats(g->pb ? 1 : (size_t)kc * nc);
  if (Ap && Bp) {
    kf_gemm_blocked(g, Ap, mc, Bp, nc);
  } else {
    /* Out of memory: same arithmetic, one tile at a time (38 KiB of stack). */
    _Alignas(KF_ALIGN) float ap_small[KF_MR * KF_KC];
    _Alignas(KF_ALIGN) float bp_small[KF_KC * KF_NR_MAX];
    kf_gemm_blocked(g, ap_small, KF_MR, bp_small, NR);
  }
  free(Ap);
  free(Bp);
}

/* ------------------------------------------------------------------------ */
/* Parallel front end.                                                        */

/* kt_parallel_for callback: [begin, end) counts NR-column panels (split_n)
** or MR-row panels; run the serial algorithm on that slice of C. */
static void kf_gemm_range(void *arg, int begin, int end) {
  const kf_gemm_args *g = (const kf_gemm_args *)arg;
  kf_gemm_args sub = *g;
  if (g->split_n) {
    int NR = g->v->nr;
    int j0 = begin * NR;
    int j1 = end * NR < g->N ? end * NR : g->N;
    sub.N = j1 - j0;
    sub.B = g->pb ? NULL : kf_b_col(g, j0, 0);
    sub.pb_col += j0;
    sub.bias = g->bias ? g->bias + j0 : NULL;
    sub.C = g->C + j0;
  } else {
    int i0 = begin * KF_MR;
    int i1 = end * KF_MR < g->M ? end * KF_MR : g->M;
    sub.M = i1 - i0;
    sub.A = g->pa ? NULL : g->A + (size_t)i0 * g->lda;
    sub.pa_row += i0;
    sub.C = g->C + (size_t)i0 * g->ldc;
  }
  kf_gemm_serial(&sub);
}

static kf_gemm_args kf_args(const kf_variant *v, kt_pool *pool, int nt, int M, int N, int K,
                            const float *A, int lda, const float *B, int ldb,
                            const float *bias, float *C, int ldc);
static void kf_gemm_run(kf_gemm_args *g);

/* "nt" with very few columns (a classifier's N = 2) on a variant without a
** narrow kernel: a tile NR wide would compute mostly padding, so compute
** the transposed product
** C^T[N][M] = B[N][K] A^T, whose few rows fill one MR-row panel, into a
** scratch T, one KC slice at a time, and add each slice into C as the
** blocked driver does (C = bias + S_0, then C += S_1, ...). Each element's
** sum is the same sequence of multiply-adds (the product commutes), so the
** bits are those of the wide path. Returns 0 when out of memory. */
static int kf_gemm_narrow(const kf_gemm_args *g) {
  const int M = g->M, N = g->N;
  float *T = kf_aligned_floats((size_t)N * M);
  if (!T) return 0;
  for (int pc = 0; pc < g->K; pc += KF_KC) {
    int kc = g->K - pc < KF_KC ? g->K - pc : KF_KC;
    kf_gemm_args t = kf_args(g->v, g->pool, 1, N, M, kc, g->B + pc, g->ldb, g->A + pc, g->lda,
                             NULL, T, M);
    kf_gemm_run(&t);
    for (int i = 0; i < M; i++) {
      float *c = g->C + (size_t)i * g->ldc;
      for (int j = 0; j < N; j++) {
        float s = T[(size_t)j * M + i];
        c[j] = pc ? c[j] + s : g->bias ? g->bias[j] + s : s;
      }
    }
  }
  free(T);
  return 1;
}

/* kt_parallel_for callback of a variant's narrow kernel: [begin, end)
** counts units of KF_NARROW_ROWS rows. */
static void kf_narrow_range(void *arg, int begin, int end) {
  const kf_gemm_args *g = (const kf_gemm_args *)arg;
  int m0 = begin * KF_NARROW_ROWS;
  int m1 = end * KF_NARROW_ROWS < g->M ? end * KF_NARROW_ROWS : g->M;
  g->v->narrow(m1 - m0, g->N, g->K, g->A + (size_t)m0 * g->lda, g->lda, g->B, g->ldb, g->bias,
               g->C + (size_t)m0 * g->ldc, g->ldc);
}

static void kf_gemm_run(kf_gemm_args *g) {
  if (g->M <= 0 || g->N <= 0) return;
  /* (packed weights of so few rows are read from their source; detached
  ** ones, B == NULL, take the wide path, which gives the same bits) */
  int narrow_min = g->v->narrow ? KF_NARROW_MIN_M : 4 * g->v->nr;
  if (g->nt && g->N <= KF_MR && g->M >= narrow_min && g->K > 0 && !g->pa && g->B) {
    kf_gemm_args u = *g;
    u.pb = NULL;
    if (g->v->narrow) {
      int units = (g->M + KF_NARROW_ROWS - 1) / KF_NARROW_ROWS;
      double per_unit = (double)KF_NARROW_ROWS * g->N * g->K;
      if (kt_pool_threads(g->pool) <= 1 || per_unit * units < g->v->min_work)
        kf_narrow_range(&u, 0, units);
      else
        kt_parallel_for(g->pool, units, (int)(g->v->min_work / 4 / per_unit) + 1,
                        kf_narrow_range, &u);
      return;
    }
    if (kf_gemm_narrow(&u)) return;
  }
  int threads = kt_pool_threads(g->pool);
  double work = (double)g->M * g->N * (g->K > 0 ? g->K : 1);
  if (threads <= 1 || work < g->v->min_work) {
    kf_gemm_serial(g);
    return;
  }
  /* Split the longer side into panel-aligned contiguous ranges. Each thread
  ** re-packs the operand it shares (A when splitting columns), which costs
  ** little next to its share of the product. */
  int NR = g->v->nr;
  int npanels_n = (g->N + NR - 1) / NR;
  int npanels_m = (g->M + KF_MR - 1) / KF_MR;
  g->split_n = npanels_n * NR >= npanels_m * KF_MR;
  int npanels = g->split_n ? npanels_n : npanels_m;
  /* Grain: enough panels that a chunk is worth waking a thread for. */
  double per_panel = work / npanels;
  int grain = (int)(g->v->min_work / 4 / per_panel) + 1;
  kt_parallel_for(g->pool, npanels, grain, kf_gemm_range, g);
}

/* The arguments of one product on variant v, nothing packed in advance. */
static kf_gemm_args kf_args(const kf_variant *v, kt_pool *pool, int nt, int M, int N, int K,
                            const float *A, int lda, const float *B, int ldb,
                            const float *bias, float *C, int ldc) {
  kf_gemm_args g = {M, N, K, A, lda, B, ldb, bias, C, ldc, nt, pool, 1, v, NULL, NULL, 0, 0};
  return g;
}

void kf_gemm_nt(kt_pool *pool, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                const float *bias, float *C, int ldc) {
  kf_gemm_args g = kf_args(kf_variant_for(ki_isa_active()), pool, 1, M, N, K, A, lda, B, ldb,
                           bias, C, ldc);
  kf_gemm_run(&g);
}

void kf_gemm_nn(kt_pool *pool, int M, int N, int K,
                const float *A, int lda, const float *B, int ldb,
                float *C, int ldc) {
  kf_gemm_args g = kf_args(kf_variant_for(ki_isa_active()), pool, 0, M, N, K, A, lda, B, ldb,
                           NULL, C, ldc);
  kf_gemm_run(&g);
}

int kf_gemm_nt_isa(ki_isa isa, kt_pool *pool, int M, int N, int K,
                   const float *A, int lda, const float *B, int ldb,
                   const float *bias, float *C, int ldc) {
  if (!ki_isa_supported(isa)) return -1;
  kf_gemm_args g = kf_args(kf_variant_for(isa), pool, 1, M, N, K, A, lda, B, ldb, bias, C, ldc);
  kf_gemm_run(&g);
  return 0;
}

int kf_gemm_nn_isa(ki_isa isa, kt_pool *pool, int M, int N, int K,
                   const float *A, int lda, const float *B, int ldb,
                   float *C, int ldc) {
  if (!ki_isa_supported(isa)) return -1;
  kf_gemm_args g = kf_args(kf_variant_for(isa), pool, 0, M, N, K, A, lda, B, ldb, NULL, C, ldc);
  kf_gemm_run(&g);
  return 0;
}

void kf_gemm_nt_variant(const kf_variant *v, kt_pool *pool, int M, int N, int K,
                        const float *A, int lda, const float *B, int ldb, const float *bias,
                        float *C, int ldc) {
  kf_gemm_args g = kf_args(v, pool, 1, M, N, K, A, lda, B, ldb, bias, C, ldc);
  kf_gemm_run(&g);
}

void kf_gemm_nn_variant(const kf_variant *v, kt_pool *pool, int M, int N, int K,
                        const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
  kf_gemm_args g = kf_args(v, pool, 0, M, N, K, A, lda, B, ldb, NULL, C, ldc);
  kf_gemm_run(&g);
}

/* ------------------------------------------------------------------------ */
/* Operands packed in advance.                                                */

kf_packed *kf_pack_variant(const kf_variant *v, int lhs, int rows, int K, const float *W,
                           int ldw) {
  if (rows <= 0 || K <= 0 || ldw < K || !W) return NULL;
  kf_packed *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->v = v;
  p->lhs = lhs;
  p->rows = rows;
  p->K = K;
  p->rows_p = kf_round_up(rows, lhs ? KF_MR : p->v->nr);
  p->src = W;
  p->lds = ldw;
  p->data = kf_aligned_floats((size_t)p->rows_p * K);
  if (!p->data) {
    free(p);
    return NULL;
  }
  for (int pc = 0; pc < K; pc += KF_KC) {
    int kc = K - pc < KF_KC ? K - pc : KF_KC;
    float *d = p->data + (size_t)pc * p->rows_p;
    if (lhs)
      kf_pack_a(rows, kc, W + pc, ldw, d);
    else
      p->v->pack_b_nt(rows, kc, W + pc, ldw, d);
  }
  return p;
}

kf_packed *kf_pack_nt(int N, int K, const float *W, int ldw) {
  return kf_pack_variant(kf_variant_for(ki_isa_active()), 0, N, K, W, ldw);
}

kf_packed *kf_pack_lhs(int M, int K, const float *W, int ldw) {
  return kf_pack_variant(kf_variant_for(ki_isa_active()), 1, M, K, W, ldw);
}

void kf_packed_free(kf_packed *p) {
  if (!p) return;
  free(p->data);
  free(p);
}

const float *kf_packed_source(const kf_packed *p) { return p ? p->src : NULL; }

void kf_packed_detach(kf_packed *p) {
  if (p) p->src = NULL;
}

int kf_packed_current(const kf_packed *p) {
  return p && p->v == kf_variant_for(ki_isa_active());
}

size_t kf_packed_bytes(const kf_packed *p) {
  return p ? sizeof *p + (size_t)p->rows_p * p->K * sizeof(float) : 0;
}

/* The variant a product on packed weights runs: the active one, or, for
** detached weights (no source to fall back to), the one that packed them. */
static const kf_variant *kf_packed_variant(const kf_packed *p) {
  return p->src ? kf_variant_for(ki_isa_active()) : p->v;
}

void kf_gemm_nt_packed(kt_pool *pool, int M, const float *A, int lda, const kf_packed *W,
                       const float *bias, float *C, int ldc) {
  const kf_variant *v = kf_packed_variant(W);
  kf_gemm_args g = kf_args(v, pool, 1, M, W->rows, W->K, A, lda, W->src, W->lds, bias, C, ldc);
  /* Packed for another variant (the active ISA changed since): the same
  ** product from the source, as kf_gemm_nt gives it. */
  if (!W->lhs && W->v == v) g.pb = W;
  kf_gemm_run(&g);
}

void kf_gemm_nn_packed(kt_pool *pool, const kf_packed *A, int N, const float *B, int ldb,
                       float *C, int ldc) {
  const kf_variant *v = kf_packed_variant(A);
  kf_gemm_args g = kf_args(v, pool, 0, A->rows, N, A->K, A->src, A->lds, B, ldb, NULL, C, ldc);
  if (A->lhs && A->v == v) g.pa = A;
  kf_gemm_run(&g);
}

const char *kf_gemm_variant_name(ki_isa isa) {
  const kf_variant *v = kf_variant_for(isa);
  return v == &kf_scalar ? "scalar" : v->nr == KF_AVX512_NR ? "avx512" : "avx2";
}
