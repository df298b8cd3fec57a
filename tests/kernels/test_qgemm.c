/*
** test_qgemm: the integer GEMM (kernels/qgemm.h) and the ISA choice
** (kernels/isa.h).
**
**   - ki_isa_parse / ki_isa_set: canonical names and aliases, unknown names
**     rejected with a message listing the valid ones, "scalar" always
**     settable, unsupported variants refused with a reason.
**   - kq_pack_weights: bad bits, codes out of range (the message names the
**     row and column), K too large; kq_weight_at round trip and colsum for
**     8/6/4 bits; kq_repack_weights = kq_pack_weights, reusing its buffers.
**   - The scalar reference against a naive loop over the unpacked int8
**     matrix, then every variant ki_isa_supported() says runs here against
**     the reference, bit for bit, int32 and f32 epilogue: a sweep of shapes
**     around the 16-channel panel, the 4-deep k-block and the 4/8-row tiles,
**     leading dimensions wider than the matrices, extremes (A = -128 / 127,
**     W = +-qmax, za = -128 / 0 / 127, K = 65536), guard values around C
**     (and A allocated to its exact extent, so ASan sees over-reads), and
**     1 / 2 / 3 threads giving identical bytes.
**   - kq_sparse_s32 against a naive loop.
** Variants not compiled in or not supported by this CPU are printed as
** "skip". Where the build has it (x86-64 with SIMDe), the AVX-512 VNNI
** variant also runs all of the above compiled against SIMDe's portable
** AVX-512 (kq_avx512vnniemu_block), on any CPU with AVX2. Exits non-zero on
** any failure.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/isa.h"
#include "kernels/qgemm.h"
#include "kernels/qgemm_impl.h"
#include "kernels/threadpool.h"

static int g_fail, g_pass, g_skip;

static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (ok) g_pass++; else g_fail++;
}

static void skip(const char *what) {
  printf("skip %s\n", what);
  g_skip++;
}

/* splitmix64: small deterministic PRNG. */
static uint64_t g_rng = 0x9e11e5c0ffee17ULL;
static uint64_t rng_next(void) {
  uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static int rng_int(int lo, int hi) { /* [lo, hi] */
  return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
}
static float rng_float(void) { /* [-2, 2) */
  return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 4.0 - 2.0);
}

#define GUARD 23                 /* guard elements before and after C */
#define C_CANARY 0x7ba5c3e1u     /* int32 / float bit pattern nobody writes */

static int qmax_of(int bits) { return (1 << (bits - 1)) - 1; }

/* ------------------------------------------------------------------------ */
/* Problem instances.                                                         */

enum { FILL_RANDOM, FILL_MIN, FILL_MAX, FILL_ALT };

typedef struct {
  int M, N, K, bits, za, lda, ldc;
  int8_t *A;        /* exactly (M - 1) * lda + K bytes */
  int8_t *W;        /* [N][ldw], ldw = K + 3 */
  int ldw;
  kq_weights pw;
  float *scale, *bias;
  int32_t *expect;  /* naive acc [M][N] */
} problem;

/* fill: how A and W are chosen (extremes: A all -128 or 127, W all +-qmax). */
static int problem_make(problem *p, int M, int N, int K, int bits, int za, int fill,
                        int use_bias) {
  memset(p, 0, sizeof *p);
  p->M = M, p->N = N, p->K = K, p->bits = bits, p->za = za;
  p->lda = K + (int)(rng_next() % 3) * 5;
  p->ldc = N + (int)(rng_next() % 3) * 3;
  p->ldw = K + 3;
  size_t abytes = (size_t)(M - 1) * p->lda + K;
  p->A = malloc(abytes);
  p->W = malloc((size_t)N * p->ldw);
  p->scale = malloc((size_t)N * sizeof(float));
  p->bias = use_bias ? malloc((size_t)N * sizeof(float)) : NULL;
  p->expect = malloc((size_t)M * N * sizeof(int32_t));
  if (!p->A || !p->W || !p->scale || (use_bias && !p->bias) || !p->expect) return -1;
  int q = qmax_of(bits);
  for (size_t i = 0; i < abytes; i++) {
    int v = rng_int(-128, 127);
    if (fill == FILL_MIN) v = -128;
    else if (fill == FILL_MAX) v = 127;
    else if (fill == FILL_ALT) v = (i & 1) ? 127 : -128;
    p->A[i] = (int8_t)v;
  }
  for (int n = 0; n < N; n++)
    for (int k = 0; k < p->ldw; k++) {
      int v = rng_int(-q, q);
      if (fill == FILL_MIN) v = q;        /* with A = -128: the largest |acc| */
      else if (fill == FILL_MAX) v = -q;
      else if (fill == FILL_ALT) v = (k & 1) ? q : -q;
      /* Past K: a value out of the narrow range, which the packer must
      ** not look at (ldw > K). */
      p->W[(size_t)n * p->ldw + k] = (int8_t)(k < K ? v : -128);
    }
  for (int n = 0; n < N; n++) {
    p->scale[n] = rng_float() * 0.01f;
    if (p->bias) p->bias[n] = rng_float();
  }
  char err[256];
  if (kq_pack_weights(&p->pw, p->W, N, K, p->ldw, bits, err, sizeof err) != 0) {
    printf("pack failed: %s\n", err);
    return -1;
  }
  /* Naive acc in 64 bits, then checked to fit. */
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      long long s = 0;
      for (int k = 0; k < K; k++)
        s += (long long)(p->A[(size_t)m * p->lda + k] - za) * p->W[(size_t)n * p->ldw + k];
      if (s < INT32_MIN || s > INT32_MAX) return -1;
      p->expect[(size_t)m * N + n] = (int32_t)s;
    }
  return 0;
}

static void problem_free(problem *p) {
  free(p->A);
  free(p->W);
  free(p->scale);
  free(p->bias);
  free(p->expect);
  kq_weights_free(&p->pw);
}

/* C buffers with GUARD canary elements around the M x ldc window; the
** padding of each row (ldc > N) is canary too. */
static uint32_t *c_alloc(const problem *p) {
  size_t n = (size_t)GUARD * 2 + (size_t)p->M * p->ldc;
  uint32_t *c = malloc(n * sizeof(uint32_t));
  if (c) for (size_t i = 0; i < n; i++) c[i] = C_CANARY;
  return c;
}

static int c_guards_ok(const problem *p, const uint32_t *c) {
  size_t n = (size_t)GUARD * 2 + (size_t)p->M * p->ldc;
  for (size_t i = 0; i < n; i++) {
    long off = (long)i - GUARD;
    int inside = off >= 0 && off < (long)p->M * p->ldc && off % p->ldc < p->N;
    if (!inside && c[i] != C_CANARY) return 0;
  }
  return 1;
}

/* A variant under test: the one of ISA isa (kq_gemm_*_isa), or, when fn is
** set, that block function (kq_gemm_*_fn). */
typedef struct {
  const char *name;
  ki_isa isa;
  kq_block_fn fn;
} target;

static int gemm_s32(const target *t, kt_pool *pool, const problem *p, int32_t *C) {
  if (!t->fn) return kq_gemm_s32_isa(t->isa, pool, p->M, p->A, p->lda, p->za, &p->pw, C, p->ldc);
  kq_gemm_s32_fn(t->fn, pool, p->M, p->A, p->lda, p->za, &p->pw, C, p->ldc);
  return 0;
}
static int gemm_f32(const target *t, kt_pool *pool, const problem *p, float *C) {
  if (!t->fn)
    return kq_gemm_f32_isa(t->isa, pool, p->M, p->A, p->lda, p->za, &p->pw, p->scale, p->bias,
                           C, p->ldc);
  kq_gemm_f32_fn(t->fn, pool, p->M, p->A, p->lda, p->za, &p->pw, p->scale, p->bias, C, p->ldc);
  return 0;
}

/* Run variant t on p (int32 and f32). Returns 0 when both match the naive
** result bit for bit (f32: kq_epilogue's formula, written out here) and no
** guard changed; fills *why. */
static int run_case(const target *t, kt_pool *pool, const problem *p, char *why, size_t whylen) {
  uint32_t *c32 = c_alloc(p), *cf = c_alloc(p);
  int bad = 0;
  if (!c32 || !cf) {
    snprintf(why, whylen, "out of memory");
    bad = 1;
    goto done;
  }
  if (gemm_s32(t, pool, p, (int32_t *)(c32 + GUARD)) != 0 ||
      gemm_f32(t, pool, p, (float *)(cf + GUARD)) != 0) {
    snprintf(why, whylen, "variant refused to run");
    bad = 1;
    goto done;
  }
  for (int m = 0; m < p->M && !bad; m++)
    for (int n = 0; n < p->N && !bad; n++) {
      int32_t e = p->expect[(size_t)m * p->N + n];
      int32_t got;
      memcpy(&got, c32 + GUARD + (size_t)m * p->ldc + n, 4);
      if (got != e) {
        snprintf(why, whylen, "int32 C[%d][%d] = %d, expected %d", m, n, got, e);
        bad = 1;
        break;
      }
      float fe = (float)e * p->scale[n];
      if (p->bias) fe = fe + p->bias[n];
      uint32_t ue, ug = cf[GUARD + (size_t)m * p->ldc + n];
      memcpy(&ue, &fe, 4);
      if (ue != ug) {
        float fg;
        memcpy(&fg, &ug, 4);
        snprintf(why, whylen, "f32 C[%d][%d] = %.9g, expected %.9g", m, n, fg, fe);
        bad = 1;
      }
    }
  if (!bad && (!c_guards_ok(p, c32) || !c_guards_ok(p, cf))) {
    snprintf(why, whylen, "wrote outside C (guard or row padding changed)");
    bad = 1;
  }
done:
  free(c32);
  free(cf);
  return bad ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* isa                                                                         */

static void test_isa(void) {
  char err[256];
  ki_isa isa;
  int ok = 1;
  const char *names[] = {"scalar", "avx2", "avx512vnni", "neon", "neon-dotprod"};
  for (int i = 0; i < KI_COUNT; i++) {
    ok &= strcmp(ki_isa_name((ki_isa)i), names[i]) == 0;
    ok &= ki_isa_parse(names[i], &isa, err, sizeof err) == 0 && isa == (ki_isa)i;
  }
  check(ok, "isa: canonical names parse and print back");
  check(ki_isa_parse("ref", &isa, err, sizeof err) == 0 && isa == KI_REF,
        "isa: 'ref' is an alias of scalar");
  check(ki_isa_parse("auto", &isa, err, sizeof err) == 0 && isa == ki_isa_best(),
        "isa: 'auto' is the best supported variant");
  err[0] = '\0';
  int rc = ki_isa_parse("avx3", &isa, err, sizeof err);
  check(rc == -1 && strstr(err, "avx3") && strstr(err, "scalar") && strstr(err, "avx2") &&
            strstr(err, "neon-dotprod") && strstr(err, "auto"),
        "isa: unknown name rejected, message lists the valid names");
  printf("     (message: %s)\n", err);
  check(ki_isa_supported(KI_REF) && ki_isa_compiled(KI_REF), "isa: scalar always supported");
  check(ki_isa_supported(ki_isa_best()), "isa: best is supported");
  printf("     cpu features: %s; best: %s; active: %s\n", ki_cpu_features(),
         ki_isa_name(ki_isa_best()), ki_isa_name(ki_isa_active()));
  if (ki_isa_env_error()) printf("     (%s)\n", ki_isa_env_error());

  ki_isa before = ki_isa_active();
  check(ki_isa_set(KI_REF, err, sizeof err) == 0 && ki_isa_active() == KI_REF,
        "isa: scalar always settable");
  int refused_ok = 1;
  for (int i = 0; i < KI_COUNT; i++) {
    if (ki_isa_supported((ki_isa)i)) {
      refused_ok &= ki_isa_set((ki_isa)i, err, sizeof err) == 0 && ki_isa_active() == (ki_isa)i;
    } else {
      err[0] = '\0';
      refused_ok &= ki_isa_set((ki_isa)i, err, sizeof err) == -1 &&
                    ki_isa_active() != (ki_isa)i && strstr(err, names[i]) != NULL;
      printf("     (set %s: %s)\n", names[i], err);
    }
  }
  check(refused_ok, "isa: supported variants settable, others refused with a reason");
  check(ki_isa_set((ki_isa)99, err, sizeof err) == -1, "isa: out-of-range value refused");
  ki_isa_set(before, err, sizeof err);
}

/* ------------------------------------------------------------------------ */
/* Packing                                                                     */

static void test_pack_errors(void) {
  char err[256];
  kq_weights w;
  int8_t W[4 * 8];
  for (int i = 0; i < 32; i++) W[i] = (int8_t)(i % 7 - 3);

  err[0] = '\0';
  check(kq_pack_weights(&w, W, 4, 8, 8, 5, err, sizeof err) == -1 && strstr(err, "bits") &&
            strstr(err, "5") && w.data == NULL,
        "pack: bits 5 rejected");
  printf("     (message: %s)\n", err);

  W[2 * 8 + 3] = 8; /* out of the 4-bit range [-7, 7] */
  err[0] = '\0';
  check(kq_pack_weights(&w, W, 4, 8, 8, 4, err, sizeof err) == -1 && strstr(err, "W[2][3]") &&
            strstr(err, "[-7, 7]"),
        "pack: 4-bit code 8 rejected, message names W[2][3] and the range");
  printf("     (message: %s)\n", err);
  W[2 * 8 + 3] = -32; /* out of the 6-bit range */
  err[0] = '\0';
  check(kq_pack_weights(&w, W, 4, 8, 8, 6, err, sizeof err) == -1 && strstr(err, "W[2][3]"),
        "pack: 6-bit code -32 rejected");
  W[2 * 8 + 3] = -128; /* out of the 8-bit narrow range */
  err[0] = '\0';
  check(kq_pack_weights(&w, W, 4, 8, 8, 8, err, sizeof err) == -1 && strstr(err, "-128"),
        "pack: 8-bit code -128 rejected (narrow range)");
  W[2 * 8 + 3] = 1;
  err[0] = '\0';
  check(kq_pack_weights(&w, W, 1, KQ_K_MAX + 1, KQ_K_MAX + 1, 8, err, sizeof err) == -1 &&
            strstr(err, "65537"),
        "pack: K > KQ_K_MAX rejected");
  check(kq_pack_weights(&w, W, 4, 8, 7, 8, err, sizeof err) == -1, "pack: ldw < K rejected");
  check(kq_pack_weights(&w, W, 4, 8, 8, 8, err, sizeof err) == 0, "pack: valid input accepted");
  kq_weights_free(&w);
}

static void test_pack_roundtrip(void) {
  static const int shapes[][2] = {{1, 1}, {3, 5}, {16, 4}, {17, 7}, {33, 64}, {50, 131}};
  int bits_list[] = {8, 6, 4};
  for (int b = 0; b < 3; b++) {
    int bits = bits_list[b], q = qmax_of(bits), ok = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      int N = shapes[s][0], K = shapes[s][1];
      int8_t *W = malloc((size_t)N * K);
      for (int i = 0; i < N * K; i++) W[i] = (int8_t)(i % 3 == 0 ? (i % 2 ? q : -q) : rng_int(-q, q));
      kq_weights w;
      char err[256];
      if (kq_pack_weights(&w, W, N, K, K, bits, err, sizeof err) != 0) {
        printf("     %s\n", err);
        ok = 0;
        free(W);
        continue;
      }
      ok &= w.N == N && w.K == K && w.Kp % 4 == 0 && w.Np % 16 == 0 && w.bits == bits;
      ok &= w.data_bytes == (size_t)(w.Np / 16) * (w.Kp / 4) * 8 * bits;
      ok &= kq_weights_bytes(&w) == w.data_bytes + (size_t)w.Np * 4;
      ok &= ((uintptr_t)w.data % 64) == 0;
      for (int n = 0; n < w.Np; n++) {
        int32_t cs = 0;
        for (int k = 0; k < w.Kp; k++) {
          int want = n < N && k < K ? W[(size_t)n * K + k] : 0;
          ok &= kq_weight_at(&w, n, k) == want;
          cs += want;
        }
        ok &= w.colsum[n] == cs;
      }
      kq_weights_free(&w);
      free(W);
    }
    char what[96];
    snprintf(what, sizeof what, "pack: %d-bit kq_weight_at round trip, zero padding, colsum", bits);
    check(ok, what);
  }
}

/* kq_repack_weights into one kq_weights, large then small then large again:
** the same bytes as a fresh kq_pack_weights every time (padding cleared of
** the previous, larger packing), the buffers reused when they suffice, and
** freed on error. */
static void test_repack(void) {
  static const int cs[][3] = {{50, 131, 8}, {3, 5, 4}, {33, 64, 6}, {17, 7, 8}, {60, 200, 8}};
  kq_weights r;
  memset(&r, 0, sizeof r);
  char err[256];
  int ok = 1, reused = 1;
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    int N = cs[i][0], K = cs[i][1], bits = cs[i][2], q = qmax_of(bits);
    int8_t *W = malloc((size_t)N * K);
    for (int j = 0; j < N * K; j++) W[j] = (int8_t)rng_int(-q, q);
    kq_weights f;
    const uint8_t *before = r.data;
    size_t cap = r.data_cap;
    if (kq_pack_weights(&f, W, N, K, K, bits, err, sizeof err) ||
        kq_repack_weights(&r, W, N, K, K, bits, err, sizeof err)) {
      printf("     %s\n", err);
      ok = 0;
    } else {
      ok &= r.N == f.N && r.K == f.K && r.Kp == f.Kp && r.Np == f.Np && r.bits == f.bits &&
            r.data_bytes == f.data_bytes && r.data_cap >= r.data_bytes && r.colsum_cap >= r.Np;
      ok &= memcmp(r.data, f.data, f.data_bytes) == 0;
      ok &= memcmp(r.colsum, f.colsum, (size_t)f.Np * sizeof(int32_t)) == 0;
      ok &= ((uintptr_t)r.data % 64) == 0;
      if (before && r.data_bytes <= cap) reused &= r.data == before;
    }
    kq_weights_free(&f);
    free(W);
  }
  check(ok, "repack: same bytes as a fresh packing, large / small / large");
  check(reused, "repack: buffers reused when large enough");
  int8_t W[8] = {0};
  check(kq_repack_weights(&r, W, 2, 4, 4, 5, err, sizeof err) == -1 && r.data == NULL &&
            r.colsum == NULL && r.data_cap == 0 && strstr(err, "bits"),
        "repack: error frees the buffers, with a message");
  kq_weights_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Variants against the reference                                              */

/* One variant (or the reference itself, compared with the naive loop) over
** the shape sweep, for one weight width. */
static void sweep(const target *t, int bits) {
  static const int Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 17, 32, 37};
  static const int Ns[] = {1, 5, 15, 16, 17, 31, 32, 33, 47, 48, 49};
  static const int Ks[] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 63, 64, 65};
  static const int zas[] = {-128, 0, 127, 5};
  int cases = 0, fails = 0;
  char why[160] = "";
  for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++)
    for (size_t j = 0; j < sizeof Ns / sizeof Ns[0]; j++)
      for (size_t k = 0; k < sizeof Ks / sizeof Ks[0]; k++) {
        problem p;
        int za = zas[(i + j + k) % 4];
        if (problem_make(&p, Ms[i], Ns[j], Ks[k], bits, za, FILL_RANDOM, (int)(j + k) % 2) != 0) {
          fails++;
          snprintf(why, sizeof why, "setup failed M=%d N=%d K=%d", Ms[i], Ns[j], Ks[k]);
          problem_free(&p);
          continue;
        }
        char w[128];
        if (run_case(t, NULL, &p, w, sizeof w) != 0) {
          if (!fails) snprintf(why, sizeof why, "M=%d N=%d K=%d za=%d: %s", p.M, p.N, p.K, za, w);
          fails++;
        }
        cases++;
        problem_free(&p);
      }
  char what[256];
  snprintf(what, sizeof what, "%s %d-bit: shape sweep, %d cases (M 1..37, N 1..49, K 1..65)%s%s",
           t->name, bits, cases, fails ? ": " : "", fails ? why : "");
  check(fails == 0, what);
}

/* Larger and extreme cases. */
static void extremes(const target *t, int bits) {
  struct { int M, N, K, za, fill; } cs[] = {
    {5, 33, 1536, 0, FILL_RANDOM},   {4, 16, 1537, -128, FILL_RANDOM},
    {9, 20, 770, 127, FILL_RANDOM},  {70, 40, 96, 3, FILL_RANDOM},
    {7, 17, 301, 127, FILL_MIN},     {7, 17, 301, -128, FILL_MAX},
    {6, 18, 259, 0, FILL_ALT},       {3, 31, 255, -128, FILL_MIN},
    {3, 31, 255, 127, FILL_MAX},     {2, 16, 65536, 127, FILL_MIN},
    {1, 17, 65533, -128, FILL_MAX},
    /* >= 256 rows (KA_COPY_MIN_ROWS) and K over several slices: the AVX2
    ** sign-copy path; K = 16384 also takes several m-blocks. */
    {256, 33, 1537, -128, FILL_MIN}, {260, 17, 301, 127, FILL_MAX},
    {300, 49, 257, 0, FILL_RANDOM},  {257, 20, 513, 9, FILL_ALT},
    {256, 16, 16384, 127, FILL_MIN},
    /* At most 6 channels (the AVX2 narrow path): K % 32 tails, long K. */
    {40, 2, 1537, -128, FILL_MIN},   {300, 3, 301, 127, FILL_MAX},
    {70, 6, 100, 0, FILL_RANDOM},    {2, 1, 65536, 127, FILL_MAX},
    {9, 5, 64, -128, FILL_ALT},
  };
  int fails = 0;
  char why[200] = "";
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    problem p;
    if (problem_make(&p, cs[i].M, cs[i].N, cs[i].K, bits, cs[i].za, cs[i].fill, (int)i % 2) != 0) {
      if (!fails) snprintf(why, sizeof why, "setup failed (case %zu)", i);
      fails++;
      problem_free(&p);
      continue;
    }
    char w[128];
    if (run_case(t, NULL, &p, w, sizeof w) != 0) {
      if (!fails)
        snprintf(why, sizeof why, "M=%d N=%d K=%d za=%d fill=%d: %s", p.M, p.N, p.K, p.za,
                 cs[i].fill, w);
      fails++;
    }
    problem_free(&p);
  }
  char what[300];
  snprintf(what, sizeof what,
           "%s %d-bit: K up to 65536, A = -128/127, W = +-%d, za = -128/0/127%s%s",
           t->name, bits, qmax_of(bits), fails ? ": " : "", fails ? why : "");
  check(fails == 0, what);
}

/* 1, 2 and 3 threads: same bytes (and correct). Shapes large enough to be
** split, both over rows (M >= N) and over panels. */
static void threads(const target *t, kt_pool *p2, kt_pool *p3) {
  struct { int M, N, K; } cs[] = {{200, 40, 96}, {20, 300, 100}, {33, 70, 257}, {130, 130, 64},
                                  {3, 500, 300}, {500, 3, 300},
                                  {600, 40, 300}};   /* 8-bit, sign copies per thread */
  int bits_list[] = {8, 6, 4};
  int fails = 0;
  char why[200] = "";
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    problem p;
    int bits = bits_list[i % 3];
    if (problem_make(&p, cs[i].M, cs[i].N, cs[i].K, bits, 17, FILL_RANDOM, 1) != 0) {
      fails++;
      problem_free(&p);
      continue;
    }
    size_t n = (size_t)p.M * p.ldc;
    int32_t *c1 = calloc(n, 4), *c2 = calloc(n, 4), *c3 = calloc(n, 4);
    float *f1 = calloc(n, 4), *f2 = calloc(n, 4), *f3 = calloc(n, 4);
    char w[128];
    int bad = run_case(t, p3, &p, w, sizeof w) != 0;
    if (bad && !fails) snprintf(why, sizeof why, "M=%d N=%d K=%d 3 threads: %s", p.M, p.N, p.K, w);
    kt_pool *pools[3] = {NULL, p2, p3};
    int32_t *cs32[3] = {c1, c2, c3};
    float *csf[3] = {f1, f2, f3};
    for (int q = 0; q < 3; q++) {
      gemm_s32(t, pools[q], &p, cs32[q]);
      gemm_f32(t, pools[q], &p, csf[q]);
    }
    if (memcmp(c1, c2, n * 4) || memcmp(c1, c3, n * 4) || memcmp(f1, f2, n * 4) ||
        memcmp(f1, f3, n * 4)) {
      if (!fails && !bad) snprintf(why, sizeof why, "M=%d N=%d K=%d: thread counts differ", p.M, p.N, p.K);
      bad = 1;
    }
    fails += bad;
    free(c1), free(c2), free(c3), free(f1), free(f2), free(f3);
    problem_free(&p);
  }
  char what[300];
  snprintf(what, sizeof what, "%s: 1/2/3 threads identical and correct (row and panel splits)%s%s",
           t->name, fails ? ": " : "", fails ? why : "");
  check(fails == 0, what);
}

/* kq_gemm_s32 / kq_gemm_f32 follow ki_isa_set. */
static void test_active(void) {
  problem p;
  char err[256];
  int ok = problem_make(&p, 9, 40, 70, 6, -3, FILL_RANDOM, 1) == 0;
  ki_isa before = ki_isa_active();
  for (int i = 0; i < KI_COUNT && ok; i++) {
    if (!ki_isa_supported((ki_isa)i)) continue;
    ki_isa_set((ki_isa)i, err, sizeof err);
    int32_t *c = malloc((size_t)p.M * p.ldc * 4);
    float *f = malloc((size_t)p.M * p.ldc * 4);
    kq_gemm_s32(NULL, p.M, p.A, p.lda, p.za, &p.pw, c, p.ldc);
    kq_gemm_f32(NULL, p.M, p.A, p.lda, p.za, &p.pw, p.scale, p.bias, f, p.ldc);
    for (int m = 0; m < p.M; m++)
      for (int n = 0; n < p.N; n++) {
        float fe = (float)p.expect[m * p.N + n] * p.scale[n] + p.bias[n];
        ok &= c[(size_t)m * p.ldc + n] == p.expect[m * p.N + n];
        ok &= memcmp(&f[(size_t)m * p.ldc + n], &fe, 4) == 0;
      }
    free(c);
    free(f);
  }
  ki_isa_set(before, err, sizeof err);
  problem_free(&p);
  check(ok, "kq_gemm_s32 / kq_gemm_f32 run the active variant (each supported one set in turn)");
}

/* ------------------------------------------------------------------------ */
/* Sparse correction                                                           */

static void test_sparse(void) {
  int bits_list[] = {8, 6, 4};
  int ok = 1;
  for (int b = 0; b < 3; b++) {
    const int M = 7, N = 37, K = 29, ldc = 41;
    problem p;
    if (problem_make(&p, 1, N, K, bits_list[b], 0, FILL_RANDOM, 0) != 0) {
      ok = 0;
      problem_free(&p);
      continue;
    }
    int rowptr[8], kidx[64];
    int32_t val[64];
    int e = 0;
    for (int m = 0; m < M; m++) {
      rowptr[m] = e;
      int cnt = m == 3 ? 0 : rng_int(1, 6); /* row 3 has no outliers */
      for (int c = 0; c < cnt; c++, e++) {
        kidx[e] = rng_int(0, K - 1);
        val[e] = rng_int(-3000, 3000);
      }
    }
    rowptr[M] = e;
    int32_t *C = malloc((size_t)M * ldc * 4), *R = malloc((size_t)M * ldc * 4);
    for (int i = 0; i < M * ldc; i++) C[i] = R[i] = rng_int(-1000, 1000);
    kq_sparse_s32(M, rowptr, kidx, val, &p.pw, C, ldc);
    for (int m = 0; m < M; m++)
      for (int x = rowptr[m]; x < rowptr[m + 1]; x++)
        for (int n = 0; n < N; n++) R[m * ldc + n] += val[x] * p.W[(size_t)n * p.ldw + kidx[x]];
    ok &= memcmp(C, R, (size_t)M * ldc * 4) == 0;
    free(C);
    free(R);
    problem_free(&p);
  }
  check(ok, "kq_sparse_s32 matches a naive loop (8/6/4-bit, empty row, ldc > N)");
}

/* RISQ_ISA naming nothing valid: reported, and the best variant is used.
** Runs first, before anything reads the variable; skipped when the caller
** set RISQ_ISA on purpose. */
static void test_env(void) {
  if (getenv("RISQ_ISA")) {
    skip("RISQ_ISA: set by the caller, override not tested");
    return;
  }
  setenv("RISQ_ISA", "avx3", 1);
  const char *e = ki_isa_env_error();
  check(e && strstr(e, "avx3") && strstr(e, "valid") && ki_isa_active() == ki_isa_best(),
        "RISQ_ISA=avx3: reported, best variant used");
  if (e) printf("     (%s)\n", e);
  unsetenv("RISQ_ISA");
}

/* Every check above on one variant. */
static void test_variant(const target *t, kt_pool *p2, kt_pool *p3) {
  for (int bits = 8; bits >= 4; bits -= 2) {
    sweep(t, bits);
    extremes(t, bits);
  }
  threads(t, p2, p3);
}

int main(void) {
  test_env();
  test_isa();
  test_pack_errors();
  test_pack_roundtrip();
  test_repack();

  kt_pool *p2 = kt_pool_create(2), *p3 = kt_pool_create(3);
  for (int i = 0; i < KI_COUNT; i++) {
    ki_isa isa = (ki_isa)i;
    if (!ki_isa_supported(isa)) {
      char what[160];
      snprintf(what, sizeof what, "%s: %s (cpu features: %s)", ki_isa_name(isa),
               ki_isa_compiled(isa) ? "compiled in but this CPU cannot run it"
                                    : "not compiled into this binary",
               ki_cpu_features());
      skip(what);
      continue;
    }
    test_variant(&(target){ki_isa_name(isa), isa, NULL}, p2, p3);
  }
#ifdef RISQ_TEST_AVX512_EMU
  if (ki_isa_supported(KI_AVX2))
    test_variant(&(target){"avx512vnni (SIMDe)", KI_AVX512VNNI, kq_avx512vnniemu_block}, p2, p3);
  else
    skip("avx512vnni on SIMDe: the CPU has no AVX2");
#elif defined(__x86_64__)
  skip("avx512vnni on SIMDe: not in this build (no simde/x86/avx512.h when it was configured)");
#endif
  kt_pool_destroy(p2);
  kt_pool_destroy(p3);
  test_active();
  test_sparse();

  printf("%d passed, %d failed, %d skipped\n", g_pass, g_fail, g_skip);
  return g_fail ? 1 : 0;
}
