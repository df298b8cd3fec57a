/*
** test_gemm_f32: every fp32 GEMM variant this binary and CPU can run (the
** portable C one, AVX2+FMA on x86-64 with AVX2, AVX-512F on CPUs with
** avx512vnni; kf_gemm_*_isa) against the *_ref triple loops over a sweep of
** shapes (tile edges of the 6x8, 6x16 and 6x32 tiles, K = 1, K around the
** KC = 256 slice, leading dimensions wider than the matrices), with guard
** values around and between the output rows, NaN in the unused input
** padding, and bit-identical results for 1, 2 and 3 threads; the AVX-512
** variant must also give the AVX2 variant's bits. Where the build has it
** (x86-64 with SIMDe), the AVX-512 tile runs the same checks on SIMDe's
** portable AVX-512, on any CPU with AVX2 (kernels/x86/gemm_f32_avx512.c).
** Also: kf_gemm_nt / kf_gemm_nn run the active ISA's variant,
** products on weights packed in advance (kf_pack_nt / kf_pack_lhs; also
** detached from their source) give
** the bits of the unpacked calls, also after the active ISA changed, and
** "nt" products of at most 6 columns (computed transposed) give the bits of
** the same columns of a wide product.
** Prints one line per check; exits non-zero on any failure.
*/
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_f32.h"
#include "kernels/gemm_f32_impl.h"
#include "kernels/isa.h"

static int g_fail, g_pass;
static ki_isa g_isa;            /* the variant under test: ISA g_isa's, */
static const kf_variant *g_var; /* or this one when set (kf_gemm_*_variant) */
static const char *g_name;      /* its name in messages */
static int g_twin = -1;         /* an ISA whose variant must give the same bits, or -1 */

static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (ok) g_pass++; else g_fail++;
}

/* splitmix64: small deterministic PRNG. */
static uint64_t g_rng = 0x5eed1234abcdULL;
static uint64_t rng_next(void) {
  uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static float rng_uniform(void) { /* [-1, 1) */
  return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#define GUARD 37 /* guard floats before and after every output buffer */

/* A canary bit pattern that no computation produces. */
static float canary(void) {
  uint32_t u = 0x7fa5c3e1u; /* a signalling-NaN payload */
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static int is_canary(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u == 0x7fa5c3e1u;
}

/* Output buffer: GUARD + M*ldc + GUARD floats, all canaries. */
static float *out_alloc(int M, int ldc) {
  size_t n = (size_t)GUARD * 2 + (size_t)M * ldc;
  float *p = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) p[i] = canary();
  return p;
}

/* Every float outside the M x N window is still a canary. */
static int guards_intact(const float *buf, int M, int N, int ldc) {
  size_t n = (size_t)GUARD * 2 + (size_t)M * ldc;
  for (size_t i = 0; i < n; i++) {
    long off = (long)i - GUARD;
    int inside = off >= 0 && off < (long)M * ldc && (off % ldc) < N;
    if (!inside && !is_canary(buf[i])) return 0;
  }
  return 1;
}

/* Matrix rows x cols with leading dimension ld; the padding holds NaN so a
** kernel that reads it produces NaN in its output. */
static float *mat_alloc(int rows, int cols, int ld) {
  float *p = malloc((size_t)rows * ld * sizeof(float));
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < ld; c++) p[(size_t)r * ld + c] = c < cols ? rng_uniform() : NAN;
  return p;
}

/* Compare C (M x N) with Cref elementwise: |c - ref| <= tol where tol scales
** with sum_k |a_ik||b_kj| (+ |bias_j|), the standard bound for a K-term sum. */
static int close_enough(int nt, int M, int N, int K, const float *A, int lda,
                        const float *B, int ldb, const float *bias,
                        const float *C, const float *Cref, int ldc, double *worst) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = bias ? fabs(bias[j]) : 0.0;
      for (int k = 0; k < K; k++) {
        double b = nt ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
        s += fabs(A[(size_t)i * lda + k] * b);
      }
      double tol = (2.0 * K + 4.0) * FLT_EPSILON * s + 1e-30;
      double d = fabs((double)C[(size_t)i * ldc + j] - Cref[(size_t)i * ldc + j]);
      if (!(d <= tol)) return 0; /* also catches NaN */
      if (d / tol > *worst) *worst = d / tol;
    }
  return 1;
}

/* The products on the variant under test; -1 when it refused to run. */
static int gemm_nt(kt_pool *pool, int M, int N, int K, const float *A, int lda, const float *B,
                   int ldb, const float *bias, float *C, int ldc) {
  if (!g_var) return kf_gemm_nt_isa(g_isa, pool, M, N, K, A, lda, B, ldb, bias, C, ldc);
  kf_gemm_nt_variant(g_var, pool, M, N, K, A, lda, B, ldb, bias, C, ldc);
  return 0;
}
static int gemm_nn(kt_pool *pool, int M, int N, int K, const float *A, int lda, const float *B,
                   int ldb, float *C, int ldc) {
  if (!g_var) return kf_gemm_nn_isa(g_isa, pool, M, N, K, A, lda, B, ldb, C, ldc);
  kf_gemm_nn_variant(g_var, pool, M, N, K, A, lda, B, ldb, C, ldc);
  return 0;
}

/* One shape: blocked vs ref, guards, thread counts, and the bits of the twin
** variant (g_twin) if there is one. Returns 1 when all good. */
static int run_case(int nt, int M, int N, int K, int lda, int ldb, int ldc,
                    int use_bias, kt_pool *pools[3], double *worst) {
  int brows = nt ? N : K, bcols = nt ? K : N;
  float *A = mat_alloc(M, K, lda);
  float *B = mat_alloc(brows, bcols, ldb);
  float *bias = NULL;
  if (use_bias) {
    bias = malloc((size_t)N * sizeof(float));
    for (int j = 0; j < N; j++) bias[j] = rng_uniform();
  }
  float *ref = out_alloc(M, ldc);
  float *out[4];
  int ok = 1;

  if (nt) kf_gemm_nt_ref(M, N, K, A, lda, B, ldb, bias, ref + GUARD, ldc);
  else kf_gemm_nn_ref(M, N, K, A, lda, B, ldb, ref + GUARD, ldc);

  /* out[0]: NULL pool; out[1..3]: pools of 1, 2, 3 threads. */
  for (int t = 0; t < 4; t++) {
    kt_pool *pool = t == 0 ? NULL : pools[t - 1];
    out[t] = out_alloc(M, ldc);
    int rc = nt ? gemm_nt(pool, M, N, K, A, lda, B, ldb, bias, out[t] + GUARD, ldc)
                : gemm_nn(pool, M, N, K, A, lda, B, ldb, out[t] + GUARD, ldc);
    if (rc != 0) {
      printf("     the %s variant refused to run\n", g_name);
      ok = 0;
    }
    if (!guards_intact(out[t], M, N, ldc)) {
      printf("     guard bytes overwritten (threads=%d)\n", t);
      ok = 0;
    }
    if (t > 0 && memcmp(out[t], out[0], ((size_t)GUARD * 2 + (size_t)M * ldc) * sizeof(float))) {
      printf("     threads=%d differs from serial\n", t);
      ok = 0;
    }
  }
  if (!close_enough(nt, M, N, K, A, lda, B, ldb, bias, out[0] + GUARD, ref + GUARD, ldc, worst)) {
    printf("     result differs from ref beyond tolerance\n");
    ok = 0;
  }
  if (g_twin >= 0) {
    float *tw = out_alloc(M, ldc);
    int rc = nt ? kf_gemm_nt_isa((ki_isa)g_twin, NULL, M, N, K, A, lda, B, ldb, bias, tw + GUARD, ldc)
                : kf_gemm_nn_isa((ki_isa)g_twin, NULL, M, N, K, A, lda, B, ldb, tw + GUARD, ldc);
    if (rc != 0 || memcmp(tw, out[0], ((size_t)GUARD * 2 + (size_t)M * ldc) * sizeof(float))) {
      printf("     differs from the %s variant's bits\n", kf_gemm_variant_name((ki_isa)g_twin));
      ok = 0;
    }
    free(tw);
  }

  for (int t = 0; t < 4; t++) free(out[t]);
  free(ref);
  free(bias);
  free(A);
  free(B);
  return ok;
}

/* The full sweep and the larger shapes on variant g_isa. */
static void test_variant(kt_pool *pools[3]) {
  static const int sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 129};
  const int nsz = (int)(sizeof sizes / sizeof sizes[0]);
  const char *v = g_name;
  char msg[200];

  /* Full sweep: for every (M, N), all K; leading dimensions vary with the
  ** shape between exact and a few floats wider. One line per (form, M, N). */
  for (int nt = 1; nt >= 0; nt--) {
    for (int a = 0; a < nsz; a++)
      for (int b = 0; b < nsz; b++) {
        int M = sizes[a], N = sizes[b], ok = 1;
        double worst = 0.0;
        for (int c = 0; c < nsz; c++) {
          int K = sizes[c];
          int pad = (M * 7 + N * 3 + K) % 4 * 3; /* 0, 3, 6 or 9 */
          int lda = K + pad;
          int ldb = (nt ? K : N) + (pad + 3) % 10;
          int ldc = N + (pad + 6) % 10;
          int use_bias = nt && (M + N + K) % 2;
          if (!run_case(nt, M, N, K, lda, ldb, ldc, use_bias, pools, &worst)) {
            printf("     at M=%d N=%d K=%d lda=%d ldb=%d ldc=%d bias=%d\n",
                   M, N, K, lda, ldb, ldc, use_bias);
            ok = 0;
          }
        }
        snprintf(msg, sizeof msg, "%s gemm_%s M=%d N=%d, K in sweep (worst err/tol %.3f)",
                 v, nt ? "nt" : "nn", M, N, worst);
        check(ok, msg);
      }
  }

  /* Larger shapes where the pool really splits the work (above the serial
  ** threshold of either variant), K > the K block (several K slices, K
  ** tails of the 8-wide transposing packer), tall and wide, BERT-like
  ** M = 20. */
  static const int big[][3] = {
    {300, 257, 300}, {1000, 5, 70}, {5, 1000, 70}, {129, 129, 600}, {64, 2100, 33}, {200, 9, 1030},
    {20, 770, 261}, {131, 131, 131}, {400, 96, 250}, {33, 40, 256}, {7, 17, 257},
    {300, 2, 600},
  };
  for (int nt = 1; nt >= 0; nt--)
    for (size_t s = 0; s < sizeof big / sizeof big[0]; s++) {
      int M = big[s][0], N = big[s][1], K = big[s][2];
      double worst = 0.0;
      int ok = run_case(nt, M, N, K, K + 5, (nt ? K : N) + 1, N + 2, nt, pools, &worst);
      snprintf(msg, sizeof msg, "%s gemm_%s M=%d N=%d K=%d, threads 1/2/3 bit-identical (worst err/tol %.3f)",
               v, nt ? "nt" : "nn", M, N, K, worst);
      check(ok, msg);
    }
}

/* "nt" products with very few columns (computed transposed) give the bits
** of the same columns of a wide product: columns are independent. */
static void test_narrow(kt_pool *pools[3]) {
  static const int shapes[][2] = {{64, 1}, {100, 2}, {300, 2}, {129, 5}, {70, 6}, {1000, 3}};
  static const int ks[] = {1, 37, 256, 257, 600};
  const int wide = 40;
  char msg[200];
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (size_t q = 0; q < sizeof ks / sizeof ks[0]; q++) {
      int M = shapes[s][0], N = shapes[s][1], K = ks[q], ldc = N + 3;
      float *A = mat_alloc(M, K, K + 1), *B = mat_alloc(wide, K, K), *bias = mat_alloc(1, wide, wide);
      const float *b = q % 2 ? bias : NULL;
      float *cw = malloc(sizeof(float) * M * wide), *cn = out_alloc(M, ldc);
      int ok = gemm_nt(pools[1], M, wide, K, A, K + 1, B, K, b, cw, wide) == 0;
      for (int t = 0; ok && t < 4; t++) {
        ok = gemm_nt(t ? pools[t - 1] : NULL, M, N, K, A, K + 1, B, K, b, cn + GUARD, ldc) == 0 &&
             guards_intact(cn, M, N, ldc);
        for (int i = 0; ok && i < M; i++)
          ok = !memcmp(cn + GUARD + (size_t)i * ldc, cw + (size_t)i * wide, sizeof(float) * N);
      }
      snprintf(msg, sizeof msg, "%s narrow nt M=%d N=%d K=%d%s: bits of a wide product's columns, threads 1/2/3",
               g_name, M, N, K, b ? " +bias" : "");
      check(ok, msg);
      free(A); free(B); free(bias); free(cw); free(cn);
    }
}

/* kf_gemm_nt / kf_gemm_nn give the bits of the active ISA's variant. */
static void test_active(kt_pool *pool) {
  const int M = 37, N = 45, K = 300;
  float *A = mat_alloc(M, K, K), *B = mat_alloc(N, K, K), *bias = mat_alloc(1, N, N);
  float *c1 = malloc(sizeof(float) * M * N), *c2 = malloc(sizeof(float) * M * N);
  ki_isa act = ki_isa_active();
  kf_gemm_nt(pool, M, N, K, A, K, B, K, bias, c1, N);
  int rc = kf_gemm_nt_isa(act, pool, M, N, K, A, K, B, K, bias, c2, N);
  char msg[200];
  snprintf(msg, sizeof msg, "kf_gemm_nt = kf_gemm_nt_isa(active = %s, fp32 variant %s)",
           ki_isa_name(act), kf_gemm_variant_name(act));
  check(rc == 0 && !memcmp(c1, c2, sizeof(float) * M * N), msg);
  kf_gemm_nn(pool, M, N, M, A, K, B, K, c1, N); /* B read as [M][N] with ldb K >= N */
  rc = kf_gemm_nn_isa(act, pool, M, N, M, A, K, B, K, c2, N);
  check(rc == 0 && !memcmp(c1, c2, sizeof(float) * M * N), "kf_gemm_nn = kf_gemm_nn_isa(active)");
  free(A); free(B); free(bias); free(c1); free(c2);
}

/* Packed in advance vs packed per call: the same bits for every thread
** count, guards intact. v NULL: kf_pack_nt / kf_pack_lhs on the active ISA's
** variant; else packed for v (the emulated AVX-512 one) and detached, so the
** products run on v. Shapes cover partial panels, several K slices (KC =
** 256), more rows than one row block (MC = 192) and more columns than one
** column block (NC = 2048). */
static void test_packed(const kf_variant *v, kt_pool *pools[3]) {
  static const int shapes[][3] = {
    {1, 1, 1}, {5, 17, 9}, {20, 770, 261}, {300, 257, 300}, {7, 2100, 40}, {200, 9, 1030},
    {64, 96, 512}, {13, 6, 257}, {200, 2, 600},
  };
  const kf_variant *u = v ? v : kf_gemm_variant(ki_isa_active());
  char msg[200];
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ok = 1;
    int lda = K + 3, ldw = K + 1, ldc = N + 2;
    float *A = mat_alloc(M, K, lda), *Wn = mat_alloc(N, K, ldw), *Wm = mat_alloc(M, K, ldw);
    float *Bn = mat_alloc(K, N, ldc), *bias = mat_alloc(1, N, N);
    kf_packed *pn, *pm;
    if (v) {
      pn = kf_pack_variant(v, 0, N, K, Wn, ldw);
      pm = kf_pack_variant(v, 1, M, K, Wm, ldw);
      kf_packed_detach(pn);
      kf_packed_detach(pm);
      ok = pn && pm;
    } else {
      pn = kf_pack_nt(N, K, Wn, ldw);
      pm = kf_pack_lhs(M, K, Wm, ldw);
      ok = pn && pm && kf_packed_source(pn) == Wn && kf_packed_bytes(pm) >= sizeof(float) * M * K;
    }
    float *want = out_alloc(M, ldc), *got = out_alloc(M, ldc);
    for (int form = 0; ok && form < 2; form++) {
      if (form == 0)
        kf_gemm_nt_variant(u, pools[1], M, N, K, A, lda, Wn, ldw, bias, want + GUARD, ldc);
      else
        kf_gemm_nn_variant(u, pools[1], M, N, K, Wm, ldw, Bn, ldc, want + GUARD, ldc);
      for (int t = 0; t < 4; t++) {
        kt_pool *pool = t == 0 ? NULL : pools[t - 1];
        for (size_t i = 0; i < (size_t)GUARD * 2 + (size_t)M * ldc; i++) got[i] = canary();
        if (form == 0)
          kf_gemm_nt_packed(pool, M, A, lda, pn, bias, got + GUARD, ldc);
        else
          kf_gemm_nn_packed(pool, pm, N, Bn, ldc, got + GUARD, ldc);
        if (!guards_intact(got, M, N, ldc) ||
            memcmp(got, want, ((size_t)GUARD * 2 + (size_t)M * ldc) * sizeof(float))) {
          printf("     %s packed differs from unpacked (threads=%d)\n", form ? "nn" : "nt", t);
          ok = 0;
        }
      }
    }
    snprintf(msg, sizeof msg, "%s %spacked weights M=%d N=%d K=%d: nt and nn bits = unpacked, threads 1/2/3",
             v ? g_name : kf_gemm_variant_name(ki_isa_active()), v ? "detached " : "", M, N, K);
    check(ok, msg);
    kf_packed_free(pn);
    kf_packed_free(pm);
    free(A); free(Wn); free(Wm); free(Bn); free(bias); free(want); free(got);
  }
  check(!kf_pack_nt(0, 4, NULL, 4) && !kf_pack_lhs(3, 4, (const float[12]){0}, 2),
        "packing refuses empty sizes, a NULL matrix and a row stride below K");
  kf_packed_free(NULL);
}

/* Weights packed for one variant, the product run after the active ISA
** switched to another: it falls back to the unpacked product of the new
** variant. */
static void test_packed_switch(ki_isa from, ki_isa to) {
  const int M = 11, N = 37, K = 300;
  float *A = mat_alloc(M, K, K), *W = mat_alloc(N, K, K), *Wm = mat_alloc(M, K, K);
  float *c1 = malloc(sizeof(float) * M * N), *c2 = malloc(sizeof(float) * M * N);
  char err[200], msg[200];
  int ok = !ki_isa_set(from, err, sizeof err);
  kf_packed *pn = kf_pack_nt(N, K, W, K), *pm = kf_pack_lhs(M, K, Wm, K);
  ok = ok && pn && pm && kf_packed_current(pn) && !ki_isa_set(to, err, sizeof err) &&
       !kf_packed_current(pn) && !kf_packed_current(pm);
  if (ok) {
    kf_gemm_nt_packed(NULL, M, A, K, pn, NULL, c1, N);
    kf_gemm_nt(NULL, M, N, K, A, K, W, K, NULL, c2, N);
    ok = !memcmp(c1, c2, sizeof(float) * M * N);
    kf_gemm_nn_packed(NULL, pm, N, W, N, c1, N);
    kf_gemm_nn(NULL, M, N, K, Wm, K, W, N, c2, N);
    ok = ok && !memcmp(c1, c2, sizeof(float) * M * N);
  }
  snprintf(msg, sizeof msg, "packed for %s, run on %s: no longer current, the bits of the %s variant unpacked",
           kf_gemm_variant_name(from), kf_gemm_variant_name(to), kf_gemm_variant_name(to));
  check(ok, msg);
  kf_packed_free(pn);
  kf_packed_free(pm);
  free(A); free(W); free(Wm); free(c1); free(c2);
}

/* Detached packed weights (kf_packed_detach, source freed): the bits of the
** packed product before detaching, on the variant that packed them even
** after the active ISA switched (to may equal from), 2 threads; N = 2 with
** many rows is the shape the narrow kernel would take from the source. */
static void test_packed_detached(kt_pool *pool, ki_isa from, ki_isa to) {
  static const int shapes[][3] = {{11, 37, 300}, {200, 2, 600}, {70, 5, 40}};
  char err[200], msg[240];
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    float *A = mat_alloc(M, K, K), *W = mat_alloc(N, K, K), *Wm = mat_alloc(M, K, K);
    float *B = mat_alloc(K, N, N), *bias = mat_alloc(1, N, N);
    float *want_nt = malloc(sizeof(float) * M * N), *want_nn = malloc(sizeof(float) * M * N);
    float *got = malloc(sizeof(float) * M * N);
    int ok = !ki_isa_set(from, err, sizeof err);
    kf_packed *pn = kf_pack_nt(N, K, W, K), *pm = kf_pack_lhs(M, K, Wm, K);
    ok = ok && pn && pm;
    if (ok) {
      kf_gemm_nt_packed(pool, M, A, K, pn, bias, want_nt, N);
      kf_gemm_nn_packed(pool, pm, N, B, N, want_nn, N);
      kf_packed_detach(pn);
      kf_packed_detach(pm);
      free(W);   /* ASan would see any read of the sources */
      free(Wm);
      W = Wm = NULL;
      ok = !kf_packed_source(pn) && !kf_packed_source(pm) && !ki_isa_set(to, err, sizeof err);
      kf_gemm_nt_packed(pool, M, A, K, pn, bias, got, N);
      ok = ok && !memcmp(got, want_nt, sizeof(float) * M * N);
      kf_gemm_nn_packed(pool, pm, N, B, N, got, N);
      ok = ok && !memcmp(got, want_nn, sizeof(float) * M * N);
    }
    snprintf(msg, sizeof msg, "detached weights M=%d N=%d K=%d packed on %s, run on %s: the packed bits",
             M, N, K, kf_gemm_variant_name(from), kf_gemm_variant_name(to));
    check(ok, msg);
    ki_isa_set(from, err, sizeof err);
    kf_packed_free(pn);
    kf_packed_free(pm);
    free(A); free(W); free(Wm); free(B); free(bias); free(want_nt); free(want_nn); free(got);
  }
}


int main(void) {
  kt_pool *pools[3] = {kt_pool_create(1), kt_pool_create(2), kt_pool_create(3)};
  char msg[200];

  check(pools[0] && pools[1] && pools[2], "thread pools of 1, 2, 3 threads created");

  /* Every supported ISA, but each fp32 variant once (avx512vnni runs the
  ** avx2 one). An unsupported ISA must be refused without touching C. */
  const char *tested[KI_COUNT];
  int ntested = 0;
  for (int i = 0; i < KI_COUNT; i++) {
    g_isa = (ki_isa)i;
    if (!ki_isa_supported(g_isa)) {
      float c = 42.0f, a = 1.0f;
      int rc = kf_gemm_nt_isa(g_isa, NULL, 1, 1, 1, &a, 1, &a, 1, NULL, &c, 1);
      snprintf(msg, sizeof msg, "%s: not supported here, refused (-1, C untouched)", ki_isa_name(g_isa));
      check(rc == -1 && c == 42.0f, msg);
      continue;
    }
    const char *vn = kf_gemm_variant_name(g_isa);
    int seen = 0;
    for (int t = 0; t < ntested; t++) seen |= !strcmp(tested[t], vn);
    if (seen) {
      printf("skip %s: runs the fp32 variant '%s', tested above\n", ki_isa_name(g_isa), vn);
      continue;
    }
    tested[ntested++] = vn;
    printf("---- fp32 variant '%s' (isa %s)\n", vn, ki_isa_name(g_isa));
    g_name = ki_isa_name(g_isa);
    g_twin = !strcmp(vn, "avx512") && ki_isa_supported(KI_AVX2) ? KI_AVX2 : -1;
    test_variant(pools);
    test_narrow(pools);
  }
  g_twin = -1;

#ifdef RISQ_TEST_AVX512_EMU
  /* The AVX-512 variant with its tile compiled against SIMDe: the real
  ** variant's packers and narrow kernel (AVX2 code), the emulated tile. */
  {
    kf_variant emu = *kf_gemm_variant(KI_AVX512VNNI);
    if (emu.nr == KF_AVX512_NR && ki_isa_supported(KI_AVX2)) {
      emu.tile = kf_avx512emu_tile_6x32;
      printf("---- fp32 variant 'avx512', tile on SIMDe's portable AVX-512\n");
      g_var = &emu;
      g_name = "avx512 (SIMDe)";
      g_twin = KI_AVX2;
      test_variant(pools);
      test_narrow(pools);
      test_packed(&emu, pools);
      g_var = NULL;
      g_twin = -1;
    } else {
      printf("skip avx512 on SIMDe: %s\n", emu.nr != KF_AVX512_NR ? "no AVX-512 variant in this build"
                                                                  : "the CPU has no AVX2");
    }
  }
#elif defined(__x86_64__)
  printf("skip avx512 on SIMDe: not in this build (no simde/x86/avx512.h when it was configured)\n");
#endif
  test_active(pools[1]);
  g_isa = ki_isa_active();

  /* Packed weights on every fp32 variant, then a switch between two. */
  {
    char err[200];
    ki_isa start = ki_isa_active(), other = start;
    for (int i = 0; i < KI_COUNT; i++)
      if (ki_isa_supported((ki_isa)i) &&
          strcmp(kf_gemm_variant_name((ki_isa)i), kf_gemm_variant_name(start)))
        other = (ki_isa)i;
    test_packed(NULL, pools);
    test_packed_detached(pools[1], start, start);
    if (other != start) {
      test_packed_detached(pools[1], start, other);
      test_packed_detached(pools[1], other, start);
      check(!ki_isa_set(other, err, sizeof err), "switch the active ISA");
      test_packed(NULL, pools);
      test_packed_switch(start, other);
      test_packed_switch(other, start);
    } else {
      printf("skip packed weights across variants: one fp32 variant here\n");
    }
    check(!ki_isa_set(start, err, sizeof err), "restore the active ISA");
  }

  /* Exact small case by hand: [1 2; 3 4] * [5 6; 7 8]^T + [1, -1]. */
  {
    const float A[] = {1, 2, 3, 4}, B[] = {5, 6, 7, 8}, bias[] = {1, -1};
    float C[4];
    kf_gemm_nt(NULL, 2, 2, 2, A, 2, B, 2, bias, C, 2);
    check(C[0] == 18 && C[1] == 22 && C[2] == 40 && C[3] == 52, "gemm_nt 2x2 by hand");
    kf_gemm_nn(NULL, 2, 2, 2, A, 2, B, 2, C, 2);
    check(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50, "gemm_nn 2x2 by hand");
  }

  for (int t = 0; t < 3; t++) kt_pool_destroy(pools[t]);
  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
