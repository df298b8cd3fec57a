/*
** test_quant: the quantizers of kernels/quant.h against their stated
** semantics -- affine round-trip bounds, code ranges and ties-to-even,
** per-channel weights (with a zero row), percentile and MSE ranges, DRQ
** softmax against its formula and against the upstream double count, DRQ
** GELU, twin-uniform (PTQ4ViT) grids and searches, RORQ on outlier data,
** edge cases (n = 0, constant, all-zero input) and determinism.
** Prints one line per check; exits non-zero on any failure.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops_f32.h"
#include "kernels/quant.h"

static int g_fail, g_pass;

static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (ok) g_pass++; else g_fail++;
}

/* splitmix64: small deterministic PRNG. */
static uint64_t g_rng = 0x9a4e7c11ULL;
static uint64_t rng_next(void) {
  uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static double rng_u01(void) {
  return (double)(rng_next() >> 11) / 9007199254740992.0;
}
static float rng_uniform(float lo, float hi) {
  return (float)(lo + (hi - lo) * rng_u01());
}
static float rng_normal(void) { /* Box-Muller */
  double u1 = rng_u01(), u2 = rng_u01();
  if (u1 < 1e-300) u1 = 1e-300;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static int is_finite_pos(float s) {
  return s > 0.0f && s <= 3.4e38f;
}

static double sse(const float *x, const float *y, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
  return s;
}

/* Softmax-like rows: exp(N(0, sd)) normalised over `len` entries. */
static void softmax_rows(float *x, int rows, int len, double sd) {
  for (int r = 0; r < rows; r++) {
    double sum = 0.0;
    float *xr = x + (size_t)r * len;
    for (int c = 0; c < len; c++) {
      xr[c] = (float)exp(sd * rng_normal());
      sum += xr[c];
    }
    for (int c = 0; c < len; c++) xr[c] = (float)(xr[c] / sum);
  }
}

/* exact-erf GELU */
static float gelu(float x) {
  return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
}

/* ------------------------------------------------------------------------ */

static void test_affine(void) {
  char msg[160];
  enum { N = 2000 };
  float x[N], y[N];
  for (int sym = 0; sym <= 1; sym++) {
    for (int bits = 2; bits <= 8; bits++) {
      float lo = -1.7f, hi = 3.1f;
      for (int i = 0; i < N; i++) x[i] = rng_uniform(lo, hi);
      x[0] = lo;
      x[1] = hi;
      x[2] = 0.0f;
      qz_affine a = qz_affine_range(lo, hi, bits, sym);
      qz_affine_fake(&a, x, y, N);
      /* Symmetric covers [-3.1, 3.1], asymmetric [lo, hi]: inside, the
      ** error is at most half a step (+ float rounding). */
      double worst = 0.0;
      int codes_ok = 1, fake_eq = 1;
      for (int i = 0; i < N; i++) {
        double e = fabs((double)x[i] - y[i]);
        if (e > worst) worst = e;
        int32_t q = qz_affine_code(&a, x[i]);
        if (q < a.qmin || q > a.qmax) codes_ok = 0;
        if (qz_affine_value(&a, q) != y[i]) fake_eq = 0;
      }
      int exp_qmax = sym ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
      int params = a.qmax == exp_qmax && a.qmin == (sym ? -exp_qmax : 0) &&
                   (sym ? a.zero == 0 : a.zero >= 0 && a.zero <= a.qmax) && is_finite_pos(a.scale);
      snprintf(msg, sizeof msg, "affine %s %d-bit: params, |x-x'| <= scale/2 (worst %.3g, scale %.3g)",
               sym ? "sym " : "asym", bits, worst, a.scale);
      check(params && worst <= a.scale * 0.5 * (1 + 1e-5) + 1e-7, msg);
      snprintf(msg, sizeof msg, "affine %s %d-bit: codes in [qmin, qmax], fake == value(code)",
               sym ? "sym " : "asym", bits);
      check(codes_ok && fake_eq, msg);
      /* Far outside the range: clamped codes, no overflow. */
      check(qz_affine_code(&a, 1e30f) == a.qmax && qz_affine_code(&a, -1e30f) == a.qmin,
            sym ? "affine sym: +-1e30 clamp to qmax/qmin" : "affine asym: +-1e30 clamp to qmax/qmin");
    }
  }

  /* Zero, empty, one-sided ranges. */
  qz_affine z = qz_affine_range(0.0f, 0.0f, 8, 0), zs = qz_affine_range(0.0f, 0.0f, 8, 1);
  check(z.scale == 1.0f && zs.scale == 1.0f && z.zero == 0, "affine zero range gives scale 1");
  qz_affine pos = qz_affine_range(2.0f, 5.0f, 8, 0);
  check(pos.zero == 0 && fabsf(pos.scale - 5.0f / 255) < 1e-7f, "affine [2,5] widened to [0,5]");
  qz_affine neg = qz_affine_range(-4.0f, -1.0f, 8, 0);
  check(neg.zero == 255 && qz_affine_value(&neg, qz_affine_code(&neg, 0.0f)) == 0.0f,
        "affine [-4,-1] widened to [-4,0], 0 exact");
  qz_affine tiny = qz_affine_range(-1e-44f, 1e-44f, 8, 1);
  check(is_finite_pos(tiny.scale), "affine denormal range: scale > 0 and finite");
  qz_affine huge = qz_affine_range(-3e38f, 3e38f, 8, 0);
  check(is_finite_pos(huge.scale), "affine +-3e38 range: scale finite");
  check(qz_affine_range(-1, 1, 1, 1).qmax == 1 && qz_affine_range(-1, 1, 40, 0).qmax == 65535,
        "affine bits clamped to 2..16");
  qz_affine_fake(&z, x, y, 0);
  check(qz_affine_sse(&z, x, 0) == 0.0, "affine n = 0: sse 0, fake does nothing");

  /* Ties to even: scale 1 and scale 0.5, symmetric and with a zero point. */
  qz_affine u = {1.0f, 0, -127, 127};
  check(qz_affine_code(&u, 0.5f) == 0 && qz_affine_code(&u, 1.5f) == 2 && qz_affine_code(&u, 2.5f) == 2 &&
            qz_affine_code(&u, -0.5f) == 0 && qz_affine_code(&u, -1.5f) == -2 &&
            qz_affine_code(&u, -2.5f) == -2 && qz_affine_code(&u, 3.5f) == 4,
        "ties to even: 0.5->0 1.5->2 2.5->2 -0.5->0 -1.5->-2 -2.5->-2 3.5->4");
  qz_affine h = {0.5f, 10, 0, 255};
  check(qz_affine_code(&h, 0.25f) == 10 && qz_affine_code(&h, 0.75f) == 12 && qz_affine_code(&h, -1.25f) == 8,
        "ties to even before the zero point: 0.25/0.5 -> 0+10, 0.75 -> 2+10, -1.25 -> -2+10");
  /* In place. */
  float ip[4] = {0.26f, -0.74f, 1.0f, 300.0f}, ref[4];
  qz_affine_fake(&h, ip, ref, 4);
  qz_affine_fake(&h, ip, ip, 4);
  check(memcmp(ip, ref, sizeof ip) == 0, "affine fake in place (y == x)");
}

static void test_range_helpers(void) {
  float lo, hi;
  float v[101];
  for (int i = 0; i < 101; i++) v[(i * 37) % 101] = (float)i; /* a permutation of 0..100 */
  float keep[101];
  memcpy(keep, v, sizeof v);
  qz_minmax(v, 101, &lo, &hi);
  check(lo == 0.0f && hi == 100.0f, "minmax of 0..100");
  qz_minmax(v, 0, &lo, &hi);
  check(lo == 0.0f && hi == 0.0f, "minmax n = 0 gives 0, 0");

  int rc = qz_percentile_range(v, 101, 99.0, &lo, &hi);
  check(rc == 0 && lo == 1.0f && hi == 99.0f, "percentile 99 of 0..100 = [1, 99]");
  check(memcmp(v, keep, sizeof v) == 0, "percentile leaves the input unchanged");
  const float w[4] = {3, 0, 2, 1};
  rc = qz_percentile_range(w, 4, 90.0, &lo, &hi);
  check(rc == 0 && fabsf(lo - 0.3f) < 1e-6f && fabsf(hi - 2.7f) < 1e-6f,
        "percentile 90 of {0..3} interpolates: [0.3, 2.7]");
  rc = qz_percentile_range(w, 4, 100.0, &lo, &hi);
  check(rc == 0 && lo == 0.0f && hi == 3.0f, "percentile 100 = min-max");
  rc = qz_percentile_range(w, 0, 99.0, &lo, &hi);
  check(rc == 0 && lo == 0.0f && hi == 0.0f, "percentile n = 0 gives 0, 0");

  /* MSE search: N(0,1) with one outlier at 50.  Shrinking the range clips the
  ** outlier but halves the step for everything else. */
  enum { N = 4000 };
  static float x[N];
  for (int i = 0; i < N; i++) x[i] = rng_normal();
  x[17] = 50.0f;
  for (int sym = 0; sym <= 1; sym++) {
    qz_minmax(x, N, &lo, &hi);
    qz_affine mm = qz_affine_range(lo, hi, 4, sym);
    qz_affine ms = qz_affine_search_mse(x, N, 4, sym, 100, 0.2f);
    double e_mm = qz_affine_sse(&mm, x, N), e_ms = qz_affine_sse(&ms, x, N);
    char msg[160];
    snprintf(msg, sizeof msg, "MSE search %s 4-bit with outlier: sse %.1f < minmax %.1f, scale shrunk",
             sym ? "sym" : "asym", e_ms, e_mm);
    check(e_ms <= e_mm && e_ms < 0.9 * e_mm && ms.scale < mm.scale, msg);
    /* The winner is one of the candidates and no candidate beats it. */
    double best_other = HUGE_VAL;
    for (int i = 0; i < 100; i++) {
      double f = 1.0 - i / 100.0;
      if (f < 0.2 - 1e-9) break;
      qz_affine c = qz_affine_range((float)(lo * f), (float)(hi * f), 4, sym);
      double e = qz_affine_sse(&c, x, N);
      if (e < best_other) best_other = e;
    }
    check(e_ms == best_other, sym ? "MSE search sym: best of the 81 candidates"
                                  : "MSE search asym: best of the 81 candidates");
  }
  qz_affine cst;
  float c7[64];
  for (int i = 0; i < 64; i++) c7[i] = 7.0f;
  cst = qz_affine_search_mse(c7, 64, 8, 0, 100, 0.2f);
  float y7[64];
  qz_affine_fake(&cst, c7, y7, 64);
  check(is_finite_pos(cst.scale) && fabsf(y7[0] - 7.0f) <= cst.scale / 2, "MSE search on a constant input");
  float zeros[64] = {0};
  cst = qz_affine_search_mse(zeros, 64, 8, 1, 100, 0.2f);
  check(cst.scale == 1.0f, "MSE search on all zeros: scale 1");
  cst = qz_affine_search_mse(zeros, 0, 8, 1, 100, 0.2f);
  check(cst.scale == 1.0f, "MSE search n = 0: scale 1");
}

static void test_weights(void) {
  enum { R = 5, C = 96 };
  static float w[R * C], y[R * C];
  for (int i = 0; i < R * C; i++) w[i] = rng_normal() * 0.05f;
  for (int c = 0; c < C; c++) w[2 * C + c] = 0.0f; /* row 2: all zeros */
  w[4 * C + 3] = 1.0f;                             /* row 4: an outlier */
  const char *names[3] = {"minmax", "percentile", "mse"};
  for (int mode = 0; mode < 3; mode++) {
    qz_affine q[R];
    qz_weight_per_channel(w, R, C, 4, mode, q);
    qz_weight_fake(q, w, R, C, y);
    int ok = 1;
    for (int r = 0; r < R; r++) {
      if (!is_finite_pos(q[r].scale) || q[r].zero != 0 || q[r].qmax != 7 || q[r].qmin != -7) ok = 0;
      for (int c = 0; c < C; c++) {
        float e = fabsf(w[r * C + c] - y[r * C + c]);
        if (mode == QZ_RANGE_MINMAX && e > q[r].scale * 0.5f * (1 + 1e-5f)) ok = 0;
      }
    }
    int zero_row = q[2].scale == 1.0f;
    for (int c = 0; c < C; c++)
      if (y[2 * C + c] != 0.0f) zero_row = 0;
    char msg[160];
    snprintf(msg, sizeof msg, "per-channel %s 4-bit: symmetric, finite scales%s", names[mode],
             mode == QZ_RANGE_MINMAX ? ", error <= scale/2" : "");
    check(ok, msg);
    snprintf(msg, sizeof msg, "per-channel %s: zero row gets scale 1 and stays exactly 0", names[mode]);
    check(zero_row, msg);
    if (mode == QZ_RANGE_MINMAX) {
      float amax = 0.0f;
      for (int c = 0; c < C; c++) amax = fmaxf(amax, fabsf(w[c]));
      check(fabsf(q[0].scale - amax / 7.0f) <= 1e-7f * amax, "per-channel minmax: scale = absmax / 7");
    }
    if (mode == QZ_RANGE_MSE) {
      qz_affine mm[R];
      qz_weight_per_channel(w, R, C, 4, QZ_RANGE_MINMAX, mm);
      check(qz_affine_sse(&q[4], w + 4 * C, C) <= qz_affine_sse(&mm[4], w + 4 * C, C),
            "per-channel mse: outlier row sse <= minmax");
    }
  }
  /* In place. */
  qz_affine q[R];
  qz_weight_per_channel(w, R, C, 8, QZ_RANGE_MINMAX, q);
  qz_weight_fake(q, w, R, C, y);
  static float w2[R * C];
  memcpy(w2, w, sizeof w);
  qz_weight_fake(q, w2, R, C, w2);
  check(memcmp(w2, y, sizeof y) == 0, "per-channel fake in place (y == w)");
}

/* The intended DRQ softmax value, written out from the header's formula:
** Δ_hi = 1/V, Δ_lo = Δ_hi / 2^shift, value rint(x / Δ) in float. */
static float drq_sm_want(int bits, int shift, float x) {
  float v = (float)((1 << (bits - 1)) - 1), s = ldexpf(1.0f, -shift);
  float d = x < s ? ldexpf(1.0f / v, -shift) : 1.0f / v;
  float q = nearbyintf(x / d);
  if (q < 0) q = 0;
  if (q > v) q = v;
  return q * d;
}

static void test_drq_softmax(void) {
  static const int bitss[] = {2, 3, 4, 6, 8};
  static const int shifts[] = {0, 1, 3, 5, 8, 12, 19};
  char msg[200];
  enum { N = 20001 };
  static float x[N], y[N + 6];
  for (int i = 0; i < N; i++) x[i] = (float)i / (N - 1); /* [0, 1] */

  for (size_t bi = 0; bi < sizeof bitss / sizeof bitss[0]; bi++) {
    for (size_t si = 0; si < sizeof shifts / sizeof shifts[0]; si++) {
      int bits = bitss[bi], shift = shifts[si];
      qz_drq_softmax q = {bits, shift};
      uint32_t vmax = (1u << (bits - 1)) - 1;
      double s = ldexp(1.0, -shift), d_lo = s / vmax;
      /* Add values around the split and the low-region grid. */
      float xs[N + 6];
      memcpy(xs, x, sizeof x);
      xs[N] = (float)s;
      xs[N + 1] = nextafterf((float)s, 0.0f);
      xs[N + 2] = (float)(0.5 * d_lo);
      xs[N + 3] = (float)(1.5 * d_lo);
      xs[N + 4] = (float)(s * 0.37);
      xs[N + 5] = 1.0f;
      int val_ok = 1, code_ok = 1, rt_ok = 1, grid_ok = 1;
      double worst = 0.0; /* |x - x'| in steps of the element's region */
      for (int i = 0; i < N + 6; i++) {
        uint32_t c = qz_drq_softmax_code(&q, xs[i]);
        float v = qz_drq_softmax_decode(&q, c);
        if (v != drq_sm_want(bits, shift, xs[i])) val_ok = 0;
        double e = fabs((double)xs[i] - v) / (xs[i] < s ? d_lo : 1.0 / vmax);
        if (e > worst) worst = e;
        if (c >= (1u << bits)) code_ok = 0;
        /* Region bit = (x >= s). */
        if (((c >> (bits - 1)) & 1u) != (xs[i] >= (float)s)) code_ok = 0;
        /* One integer grid: a high code is (value << shift) steps of Δ_lo. */
        if ((c >> (bits - 1)) & 1u) {
          float on_lo = (float)((c & vmax) << shift) * ldexpf(1.0f / vmax, -shift);
          if (on_lo != v) grid_ok = 0;
        }
        /* Round trip: a decoded value re-encodes to itself, except the low
        ** region's top level V Δ_lo = s, which lies in the high region. */
        uint32_t c2 = qz_drq_softmax_code(&q, v);
        if (c == vmax ? !((c2 >> (bits - 1)) & 1u) : qz_drq_softmax_decode(&q, c2) != v) rt_ok = 0;
      }
      qz_drq_softmax_fake(&q, xs, y, N + 6);
      int fake_ok = 1;
      for (int i = 0; i < N + 6; i++)
        if (y[i] != qz_drq_softmax_decode(&q, qz_drq_softmax_code(&q, xs[i]))) fake_ok = 0;
      snprintf(msg, sizeof msg,
               "DRQ softmax k=%d shift=%2d: value = Q_lo if x < s else Q_hi, error <= step/2 (%.4f), "
               "codes < 2^k, region bit, grid, round trip, fake", bits, shift, worst);
      check(val_ok && worst <= 0.5 + 1e-5 && code_ok && grid_ok && rt_ok && fake_ok, msg);
    }
  }

  /* Every code's value is a fixed point of decode(code(.)), except the low
  ** region's top level s, which re-encodes in the high region (to Q_hi(s)).
  ** High codes whose value is below s come back as low codes of the same
  ** value (same grid). */
  for (int bits = 2; bits <= 8; bits += 2) {
    for (int shift = 0; shift <= 6; shift += 3) {
      qz_drq_softmax q = {bits, shift};
      uint32_t vmax = (1u << (bits - 1)) - 1, hbit = 1u << (bits - 1);
      int ok = 1;
      for (uint32_t c = 0; c < (1u << bits); c++) {
        float v = qz_drq_softmax_decode(&q, c);
        uint32_t c2 = qz_drq_softmax_code(&q, v);
        if (c == vmax) {
          if (!(c2 & hbit) || qz_drq_softmax_decode(&q, c2) != qz_drq_softmax_decode(&q, qz_drq_softmax_code(&q, ldexpf(1.0f, -shift))))
            ok = 0;
          continue;
        }
        if (qz_drq_softmax_decode(&q, c2) != v) ok = 0;
        if (c2 != c && !((c & hbit) && v < ldexpf(1.0f, -shift))) ok = 0;
      }
      snprintf(msg, sizeof msg,
               "DRQ softmax k=%d shift=%d: all 2^k codes round-trip (but the low top s, and high levels < s)",
               bits, shift);
      check(ok, msg);
    }
  }

  /* Upstream double count: +s in the high region; equal in the low region
  ** while Q_hi(s) = 0, i.e. s < Δ_hi / 2. */
  static const int up_cases[][2] = {{4, 4}, {4, 6}, {8, 8}, {8, 10}, {6, 7}};
  for (size_t t = 0; t < sizeof up_cases / sizeof up_cases[0]; t++) {
    int bits = up_cases[t][0], shift = up_cases[t][1];
    qz_drq_softmax q = {bits, shift};
    double s = ldexp(1.0, -shift);
    int low_eq = 1, high_plus_s = 1, nlow = 0, nhigh = 0;
    for (int i = 0; i < N; i++) {
      float xi = x[i];
      float mine = qz_drq_softmax_decode(&q, qz_drq_softmax_code(&q, xi));
      float up = qz_drq_softmax_upstream(&q, xi);
      if (xi < (float)s) {
        nlow++;
        if (up != mine) low_eq = 0;
      } else {
        nhigh++;
        if (fabs((double)up - mine - s) > 1e-6) high_plus_s = 0;
      }
    }
    snprintf(msg, sizeof msg,
             "DRQ upstream k=%d shift=%d: equal on %d low x, exactly +s=%.3g higher on %d high x", bits,
             shift, nlow, s, nhigh);
    check(low_eq && high_plus_s && nlow > 0 && nhigh > 0, msg);
  }
  /* A large split (s >= Δ_hi / 2): the low region is off by Q_hi(s) too. */
  qz_drq_softmax big = {4, 0};
  check(fabsf(qz_drq_softmax_upstream(&big, 0.1f) - (qz_drq_softmax_decode(&big, qz_drq_softmax_code(&big, 0.1f)) + 1.0f)) < 1e-6f,
        "DRQ upstream k=4 shift=0: low region off by Q_hi(s) = 1");

  /* Search: softmax over 197 tokens (most values ~1/197, a few large). */
  enum { ROWS = 64, LEN = 197 };
  static float sm[ROWS * LEN];
  softmax_rows(sm, ROWS, LEN, 1.5);
  for (int bits = 4; bits <= 8; bits += 2) {
    qz_drq_softmax best = qz_drq_softmax_search(sm, ROWS * LEN, bits);
    static float out[ROWS * LEN];
    double e_best = 0, e_all = HUGE_VAL;
    qz_drq_softmax_fake(&best, sm, out, ROWS * LEN);
    e_best = sse(sm, out, ROWS * LEN);
    for (int sh = 0; sh < 20; sh++) {
      qz_drq_softmax c = {bits, sh};
      qz_drq_softmax_fake(&c, sm, out, ROWS * LEN);
      double e = sse(sm, out, ROWS * LEN);
      if (e < e_all) e_all = e;
    }
    qz_drq_softmax s0 = {bits, 0};
    qz_drq_softmax_fake(&s0, sm, out, ROWS * LEN);
    double e_uniform = sse(sm, out, ROWS * LEN);
    snprintf(msg, sizeof msg,
             "DRQ softmax search k=%d on softmax rows: shift %d (s=1/%d) >= 3, best of 20, sse %.3g < shift-0 %.3g",
             bits, best.shift, 1 << best.shift, e_best, e_uniform);
    check(best.bits == bits && best.shift >= 3 && e_best == e_all && e_best < e_uniform, msg);
  }
  qz_drq_softmax e0 = qz_drq_softmax_search(sm, 0, 8);
  float zeros[32] = {0};
  qz_drq_softmax ez = qz_drq_softmax_search(zeros, 32, 8);
  check(e0.shift == 0 && ez.shift == 0, "DRQ softmax search n = 0 / all zeros: shift 0 (ties keep the smaller)");
}

static void test_drq_gelu(void) {
  char msg[200];
  enum { N = 6000 };
  static float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = gelu(rng_uniform(-5.0f, 4.0f));
  x[0] = -QZ_GELU_MIN;
  x[1] = 0.0f;
  x[2] = -0.0f;
  for (int bits = 2; bits <= 8; bits++) {
    qz_drq_gelu q = qz_drq_gelu_search(x, N, bits, 50);
    uint32_t vmax = (1u << (bits - 1)) - 1;
    float d_neg = ldexpf(QZ_GELU_MIN, -(bits - 1));
    float mx = 0;
    for (int i = 0; i < N; i++) mx = fmaxf(mx, x[i]);
    qz_drq_gelu_fake(&q, x, y, N);
    int ok = is_finite_pos(q.scale_pos) && q.scale_pos <= mx / vmax * (1 + 1e-6f) &&
             q.scale_pos >= 0.2f * mx / vmax * (1 - 1e-6f);
    int codes = 1, neg_ok = 1, pos_ok = 1;
    for (int i = 0; i < N; i++) {
      uint32_t c = qz_drq_gelu_code(&q, x[i]);
      if (c >= (1u << bits)) codes = 0;
      if ((((c >> (bits - 1)) & 1u) != 0) != (x[i] < 0.0f)) codes = 0;
      if (qz_drq_gelu_decode(&q, c) != y[i]) codes = 0;
      if (x[i] < 0.0f) {
        double e = fabs((double)x[i] - y[i]);
        /* inside [-V Δ, 0]: half a step; below: clamped, at most one step
        ** (GELU's true minimum, -0.1699712, is 1.2e-6 below QZ_GELU_MIN) */
        if (x[i] >= -(float)vmax * d_neg ? e > d_neg * 0.5 * (1 + 1e-5) : e > d_neg + 2e-6) neg_ok = 0;
        if (y[i] > 0.0f) neg_ok = 0;
      } else if (x[i] <= q.scale_pos * vmax) {
        if (fabs((double)x[i] - y[i]) > q.scale_pos * 0.5 * (1 + 1e-5)) pos_ok = 0;
      }
    }
    float ymin = qz_drq_gelu_decode(&q, (1u << (bits - 1)) | vmax);
    snprintf(msg, sizeof msg,
             "DRQ GELU k=%d: scale in [0.2,1] max/V, codes < 2^k, sign bit, errors <= step/2 (lowest level %.4f)",
             bits, ymin);
    check(ok && codes && neg_ok && pos_ok, msg);
    snprintf(msg, sizeof msg,
             "DRQ GELU k=%d: 2^(k-1) Δ_neg = 0.16997, -0.16997 lands on -V Δ_neg (within one step)", bits);
    check(ldexpf(d_neg, bits - 1) == QZ_GELU_MIN && y[0] == -(float)vmax * d_neg &&
              fabsf(y[0] + QZ_GELU_MIN) <= d_neg * (1 + 1e-6f) &&
              fabsf(y[0] + QZ_GELU_MIN) >= d_neg * (1 - 1e-4f),
          msg);
    check(y[1] == 0.0f && y[2] == 0.0f && qz_drq_gelu_code(&q, -0.0f) == 0, "DRQ GELU: 0 and -0 are code 0");
  }
  /* The search against its own candidate list. */
  qz_drq_gelu q = qz_drq_gelu_search(x, N, 4, 50);
  double best = HUGE_VAL;
  float mx = 0;
  for (int i = 0; i < N; i++) mx = fmaxf(mx, x[i]);
  for (int i = 0; i < 50; i++) {
    qz_drq_gelu c = {4, (float)((double)mx * (1.0 - 0.8 * i / 49) / 7)};
    qz_drq_gelu_fake(&c, x, y, N);
    double e = sse(x, y, N);
    if (e < best) best = e;
  }
  qz_drq_gelu_fake(&q, x, y, N);
  check(sse(x, y, N) == best, "DRQ GELU search k=4: the best of its 50 candidates");
  float neg[16];
  for (int i = 0; i < 16; i++) neg[i] = -0.01f * i;
  qz_drq_gelu qn = qz_drq_gelu_search(neg, 16, 8, 100);
  qz_drq_gelu q0 = qz_drq_gelu_search(neg, 0, 8, 100);
  check(is_finite_pos(qn.scale_pos) && is_finite_pos(q0.scale_pos),
        "DRQ GELU search with no positive value / n = 0: scale > 0, finite");
}

/* ------------------------------------------------------------------------ */
/* Codes of GELU from the pre-activation (qz_*_gelu_s8).                      */

static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* The float x in [a, b] where kf_gelu1 crosses t (kf_gelu1 monotone there,
** increasing when up, else decreasing): bisection down to adjacent floats. */
static float gelu_cross(float a, float b, float t) {
  for (int it = 0; it < 200 && nextafterf(a, b) != b; it++) {
    float m = a + (b - a) * 0.5f;
    if (m == a || m == b) break;
    if (kf_gelu1(m) < t) a = m; else b = m;
  }
  return a;
}

enum { GC_MAX = 12000 };
static float gc_x[GC_MAX], gc_g[GC_MAX];
static int8_t gc_want[2][GC_MAX], gc_got[2][GC_MAX];

/* Adds x and its 3 neighbours on each side (as many as fit). */
static void gc_add_around(int *n, float x) {
  for (int d = -3; d <= 3 && *n < GC_MAX; d++) {
    uint32_t u = f2u(x);
    if (d < 0 && (u & 0x7fffffffu) < (uint32_t)-d) continue;
    gc_x[(*n)++] = u2f(u + (uint32_t)d);
  }
}

/* Inputs: special values, Gaussian ones at several scales, and for every step
** boundary (k + 1/2) d of the positive (step dp) and negative (step dn, 0
** when none) sides that GELU reaches, the inputs whose exact GELU is nearest
** to it. */
static int gc_inputs(float dp, int kp, float dn, int kn) {
  const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 1e-38f,
                           -1e-38f, QZ_GELU_NEAR_MAX, -QZ_GELU_NEAR_MAX, 65536.01f, -65536.01f,
                           1e30f, -1e30f, -0.7517915f, 3.0e-4f, -13.0f, 9.5f, -5.5f};
  int n = 0;
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) gc_x[n++] = special[i];
  const float scales[] = {0.01f, 0.3f, 1.0f, 3.0f, 12.0f};
  for (int s = 0; s < 5; s++)
    for (int i = 0; i < 800; i++) gc_x[n++] = scales[s] * rng_normal();
  for (int k = 0; k < kp; k++) gc_add_around(&n, gelu_cross(0.0f, 40.0f, (k + 0.5f) * dp));
  for (int k = 0; k < kn; k++) /* GELU rises from its minimum at -0.7518 to 0 */
    gc_add_around(&n, gelu_cross(-0.7517915f, 0.0f, -(k + 0.5f) * dn));
  return n;
}

static void test_gelu_codes(void) {
  char msg[240];
  /* the bound quant.h states, with a factor 8 to spare */
  double worst = 0.0;
  long count = 0;
  for (uint32_t b = 0; b <= f2u(QZ_GELU_NEAR_MAX); b += 251)
    for (int neg = 0; neg < 2; neg++) {
      float x = u2f(b | (neg ? 0x80000000u : 0u));
      double e = fabs((double)qz_gelu_near(x) - (double)kf_gelu1(x));
      double tol = (double)QZ_GELU_NEAR_TOL * fabs((double)x) + (double)QZ_GELU_NEAR_ABS;
      if (e / tol > worst) worst = e / tol;
      count++;
    }
  snprintf(msg, sizeof msg,
           "qz_gelu_near within 1/8 of its stated tolerance on every 251st float of |x| <= 2^16 "
           "(%ld values; worst %.3g of it)", count, worst);
  check(worst <= 0.125, msg);

  /* DRQ: the split codes of kf_gelu1(x) */
  const struct { int bits; float scale_pos; } drq[] = {{8, 0.04f}, {8, 0.0031f}, {6, 0.11f}, {4, 0.5f}};
  for (size_t c = 0; c < sizeof drq / sizeof drq[0]; c++) {
    qz_drq_gelu q = {drq[c].bits, drq[c].scale_pos};
    float dp, dn;
    qz_drq_gelu_steps(&q, &dp, &dn);
    int vmax = (1 << (drq[c].bits - 1)) - 1;
    int n = gc_inputs(dp, vmax, dn, vmax);
    for (int i = 0; i < n; i++) gc_g[i] = kf_gelu1(gc_x[i]);
    qz_drq_gelu_split_s8(&q, gc_g, (size_t)n, gc_want[0], gc_want[1]);
    memset(gc_got, 0x5a, sizeof gc_got);
    qz_drq_gelu_split_gelu_s8(&q, gc_x, (size_t)n, gc_got[0], gc_got[1]);
    int bad = 0, first = -1;
    for (int i = 0; i < n; i++)
      if (gc_got[0][i] != gc_want[0][i] || gc_got[1][i] != gc_want[1][i]) {
        bad++;
        if (first < 0) first = i;
      }
    snprintf(msg, sizeof msg,
             "DRQ GELU k=%d d_pos=%g: codes from the pre-activation = codes of kf_gelu1, %d inputs "
             "(step boundaries, specials, Gaussian); %d differ (first at x = %.9g)",
             drq[c].bits, drq[c].scale_pos, n, bad, bad ? gc_x[first] : 0.0);
    check(bad == 0 && gc_got[0][n - 1] != 0x5a, msg);
  }

  /* uniform, symmetric and asymmetric */
  const struct { float lo, hi; int bits, sym; } uni[] = {
    {-0.17f, 6.0f, 8, 0}, {-0.17f, 6.0f, 8, 1}, {-0.17f, 0.9f, 4, 0}, {-0.05f, 30.0f, 6, 1}};
  for (size_t c = 0; c < sizeof uni / sizeof uni[0]; c++) {
    qz_affine a = qz_affine_range(uni[c].lo, uni[c].hi, uni[c].bits, uni[c].sym);
    int kp = a.qmax - a.zero, kn = a.zero - a.qmin;
    if (kn * a.scale > 0.16f) kn = (int)(0.16f / a.scale); /* GELU stays above -0.17 */
    int n = gc_inputs(a.scale, kp, a.scale, kn);
    for (int i = 0; i < n; i++) gc_g[i] = kf_gelu1(gc_x[i]);
    int zw = qz_affine_codes_s8(&a, gc_g, (size_t)n, gc_want[0]);
    memset(gc_got, 0x5a, sizeof gc_got);
    int zg = qz_affine_codes_gelu_s8(&a, gc_x, (size_t)n, gc_got[0]);
    int bad = 0, first = -1;
    for (int i = 0; i < n; i++)
      if (gc_got[0][i] != gc_want[0][i]) {
        bad++;
        if (first < 0) first = i;
      }
    snprintf(msg, sizeof msg,
             "uniform %d-bit %s [%g, %g]: codes from the pre-activation = codes of kf_gelu1, "
             "%d inputs; %d differ (first at x = %.9g)",
             uni[c].bits, uni[c].sym ? "symmetric" : "asymmetric", uni[c].lo, uni[c].hi, n, bad,
             bad ? gc_x[first] : 0.0);
    check(bad == 0 && zw == zg, msg);
  }

  /* uniform, of GELU(x) * mul: multipliers of both signs, 0, -0, tiny, huge,
  ** NaN and inf; inputs at the step boundaries of step / |mul| on GELU's
  ** side, so that the products land next to the quantizer's boundaries */
  qz_affine a = qz_affine_range(-0.6f, 2.5f, 8, 0);
  static float gc_m[GC_MAX];
  const float muls[] = {1.0f, -1.0f, 0.37f, -2.9f, 0.0f, -0.0f, 1e-30f, 3e30f, NAN, INFINITY};
  int bad = 0, total = 0;
  for (size_t c = 0; c < sizeof muls / sizeof muls[0]; c++) {
    float mu = muls[c], am = fabsf(mu), step = a.scale / (am > 1e-6f && am < 1e6f ? am : 1.0f);
    int n = gc_inputs(step, 80, step, 20);
    for (int i = 0; i < n; i++) {
      gc_m[i] = (i % 7 == 3) ? rng_uniform(-3.0f, 3.0f) : mu; /* some mixed */
      gc_g[i] = kf_gelu1(gc_x[i]) * gc_m[i];
    }
    int zw = qz_affine_codes_s8(&a, gc_g, (size_t)n, gc_want[0]);
    memset(gc_got, 0x5a, sizeof gc_got);
    int zg = qz_affine_codes_gelu_mul_s8(&a, gc_x, gc_m, (size_t)n, gc_got[0]);
    for (int i = 0; i < n; i++) bad += gc_got[0][i] != gc_want[0][i];
    bad += zw != zg;
    total += n;
  }
  snprintf(msg, sizeof msg,
           "uniform 8-bit of GELU(x) * mul: codes from the pre-activation = codes of kf_gelu1(x) * mul, "
           "%d inputs over 10 multipliers; %d differ", total, bad);
  check(bad == 0, msg);
}

static void test_twin(void) {
  char msg[200];
  enum { ROWS = 64, LEN = 197, NS = ROWS * LEN };
  static float sm[NS], y[NS], y2[NS];
  softmax_rows(sm, ROWS, LEN, 1.5);

  for (int bits = 3; bits <= 8; bits++) {
    qz_twin t = qz_twin_softmax_search(sm, NS, bits);
    float v = (float)((1 << (bits - 1)) - 1);
    qz_twin_softmax_fake(&t, sm, y, NS);
    qz_drq_softmax d = {bits, t.m};
    qz_drq_softmax_fake(&d, sm, y2, NS);
    /* Every output on R1's or R2's grid with a (k-1)-bit value. */
    float d2 = t.scale_r2, d1 = ldexpf(d2, -t.m);
    int grid = 1;
    for (int i = 0; i < NS; i++) {
      double j1 = y[i] / d1, j2 = y[i] / d2;
      int on1 = fabs(j1 - nearbyint(j1)) < 1e-3 && nearbyint(j1) <= v;
      int on2 = fabs(j2 - nearbyint(j2)) < 1e-3 && nearbyint(j2) <= v;
      if (!(on1 || on2) || y[i] < 0.0f) grid = 0;
    }
    qz_drq_softmax db = qz_drq_softmax_search(sm, NS, bits);
    snprintf(msg, sizeof msg,
             "twin softmax k=%d: Δ_R2 = 1/V, m = %d same as DRQ search, (k-1)-bit grids, equals DRQ value", bits, t.m);
    check(t.scale_r2 == 1.0f / v && t.m == db.shift && grid && memcmp(y, y2, sizeof y) == 0, msg);
  }
  /* Sweep [0, 1] for several m: equal to DRQ bit for bit. */
  int eq = 1;
  for (int bits = 2; bits <= 8; bits++)
    for (int m = 0; m < 20; m++) {
      qz_twin t = {bits, m, 1.0f / (float)((1 << (bits - 1)) - 1)};
      qz_drq_softmax d = {bits, m};
      for (int i = 0; i <= 4096; i++) {
        float xi = (float)i / 4096, a, b;
        qz_twin_softmax_fake(&t, &xi, &a, 1);
        qz_drq_softmax_fake(&d, &xi, &b, 1);
        if (a != b) eq = 0;
      }
      float s = ldexpf(1.0f, -m), xs[2] = {s, nextafterf(s, 0.0f)}, a2[2], b2[2];
      qz_twin_softmax_fake(&t, xs, a2, 2);
      qz_drq_softmax_fake(&d, xs, b2, 2);
      if (memcmp(a2, b2, sizeof a2) != 0) eq = 0;
    }
  check(eq, "twin softmax == DRQ softmax for k = 2..8, m = 0..19, x on a [0,1] sweep and at the split");

  /* GELU: negatives on a fixed grid reaching -0.16997, positives searched. */
  enum { N = 6000 };
  static float x[N], g[N];
  for (int i = 0; i < N; i++) x[i] = gelu(rng_uniform(-5.0f, 4.0f));
  x[0] = -QZ_GELU_MIN;
  float mx = 0;
  for (int i = 0; i < N; i++) mx = fmaxf(mx, x[i]);
  for (int bits = 3; bits <= 8; bits++) {
    qz_twin t = qz_twin_gelu_search(x, N, bits, 100);
    float p = (float)(1 << (bits - 1)), v = p - 1, d1 = ldexpf(QZ_GELU_MIN, -(bits - 1));
    qz_twin_gelu_fake(&t, x, g, N);
    int ok = t.m == 0 && is_finite_pos(t.scale_r2) && t.scale_r2 <= mx / (p - 0.5f) * 1.2f &&
             g[0] == -QZ_GELU_MIN;
    int grid = 1;
    for (int i = 0; i < N; i++) {
      if (x[i] < 0.0f) {
        double j = -g[i] / d1;
        if (fabs(j - nearbyint(j)) > 1e-3 || j > p || fabs((double)x[i] - g[i]) > d1 * 0.5 * (1 + 1e-5)) grid = 0;
      } else {
        double j = g[i] / t.scale_r2;
        if (fabs(j - nearbyint(j)) > 1e-3 || j > v || g[i] < 0.0f) grid = 0;
      }
    }
    /* The search against its own candidates. */
    double best = HUGE_VAL;
    for (int i = 0; i < 100; i++) {
      qz_twin c = {bits, 0, (float)((double)mx / (p - 0.5) * (0.01 + 1.19 * i / 100))};
      qz_twin_gelu_fake(&c, x, g, N);
      double e = sse(x, g, N);
      if (e < best) best = e;
    }
    qz_twin_gelu_fake(&t, x, g, N);
    snprintf(msg, sizeof msg,
             "twin GELU k=%d: fixed Δ_R1 = 0.16997/2^(k-1) covers -0.16997 exactly, k-bit grid, best of 100 (Δ_R2 %.4g)",
             bits, t.scale_r2);
    check(ok && grid && sse(x, g, N) == best, msg);
  }
  float neg[8] = {-0.1f, -0.05f, 0, -0.16f, -0.2f, -0.01f, -0.02f, -0.03f};
  qz_twin tn = qz_twin_gelu_search(neg, 8, 8, 100), t0 = qz_twin_gelu_search(neg, 0, 8, 0);
  float gn[8];
  qz_twin_gelu_fake(&tn, neg, gn, 8);
  check(is_finite_pos(tn.scale_r2) && is_finite_pos(t0.scale_r2) && gn[4] == -QZ_GELU_MIN,
        "twin GELU with no positive value / n = 0: scale > 0; -0.2 clamps to -0.16997");
  qz_twin ts0 = qz_twin_softmax_search(sm, 0, 8);
  check(ts0.m == 0 && is_finite_pos(ts0.scale_r2), "twin softmax search n = 0: m 0");
}

/* RORQ test data: the massive (token, channel) cells. */
#define MASSIVE(t, c) (((t) == 0 || (t) == 19) && ((c) == 5 || (c) == 11 || (c) == 20))

static void test_rorq(void) {
  char msg[200];
  /* 40 tokens x 25 channels = 1000 N(0,1) values; in 2 of the tokens 3
  ** channels are massive (~60, one of them negative), like BERT's [SEP]. */
  enum { T = 40, C = 25, N = T * C };
  static float x[N], y[N], ya[N];
  for (int t = 0; t < T; t++)
    for (int c = 0; c < C; c++) {
      float v = rng_normal();
      if (MASSIVE(t, c)) v = (c == 11 ? -1.0f : 1.0f) * (60.0f + rng_uniform(-2.0f, 2.0f));
      x[t * C + c] = v;
    }
  for (int bits = 4; bits <= 8; bits += 4) {
    qz_rorq q = qz_rorq_calibrate(x, N, bits);
    qz_rorq_fake(&q, x, y, N);
    float lo, hi;
    qz_minmax(x, N, &lo, &hi);
    qz_affine one = qz_affine_range(lo, hi, bits, 0);
    qz_affine_fake(&one, x, ya, N);
    double e_rorq = sse(x, y, N), e_one = sse(x, ya, N);
    /* Inliers: band 0, whose range is about [-4, 4]. */
    double e_in = 0;
    int inliers_band0 = 1;
    for (int i = 0; i < N; i++) {
      int massive = MASSIVE(i / C, i % C);
      int b = qz_rorq_band(&q, x[i]);
      if (massive == (b == 0)) inliers_band0 = 0;
      if (!massive) e_in += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    int bounds_up = 1;
    for (int r = 1; r < q.nbands; r++)
      if (!(q.bound[r] > q.bound[r - 1])) bounds_up = 0;
    snprintf(msg, sizeof msg,
             "RORQ %d-bit: %d bands (bounds %.2f, %.2f), inlier scale %.3g < 10/2^b, inliers in band 0",
             bits, q.nbands, q.bound[0], q.nbands > 1 ? q.bound[1] : 0.0f, q.band[0].scale);
    check(q.nbands >= 2 && q.bits == bits && bounds_up && q.band[0].scale < 10.0f / (1 << bits) &&
              q.band[0].scale > 0.0f && inliers_band0,
          msg);
    snprintf(msg, sizeof msg, "RORQ %d-bit: sse %.1f (inliers %.1f) < 1/5 of one per-tensor affine %.1f", bits,
             e_rorq, e_in, e_one);
    check(e_rorq < 0.2 * e_one, msg);
    /* All calibration values are covered by a bound; codes fit. */
    int covered = 1;
    for (int i = 0; i < N; i++) {
      int b = qz_rorq_band(&q, x[i]);
      if (b < 0 || b >= q.nbands || fabsf(x[i]) > q.bound[b]) covered = 0;
      int32_t c = qz_affine_code(&q.band[b], x[i]);
      if (c < 0 || c >= (1 << bits)) covered = 0;
    }
    check(covered, bits == 4 ? "RORQ 4-bit: every value within its band's bound, codes in [0, 15]"
                             : "RORQ 8-bit: every value within its band's bound, codes in [0, 255]");
    /* Beyond every bound: the last band. */
    check(qz_rorq_band(&q, 1e6f) == q.nbands - 1 && qz_rorq_band(&q, 0.0f) == 0,
          "RORQ: |x| beyond all bounds -> last band; 0 -> band 0");
  }

  /* Edge cases. */
  float zeros[50] = {0}, yz[50];
  qz_rorq z = qz_rorq_calibrate(zeros, 50, 8);
  qz_rorq_fake(&z, zeros, yz, 50);
  check(z.nbands == 1 && z.band[0].scale == 1.0f && yz[0] == 0.0f && yz[49] == 0.0f,
        "RORQ all zeros: one band, scale 1, zeros stay zero");
  qz_rorq e = qz_rorq_calibrate(zeros, 0, 8);
  check(e.nbands == 1 && is_finite_pos(e.band[0].scale), "RORQ n = 0: one band, scale > 0");
  float cst[50], yc[50];
  for (int i = 0; i < 50; i++) cst[i] = 0.3f;
  qz_rorq c = qz_rorq_calibrate(cst, 50, 4);
  qz_rorq_fake(&c, cst, yc, 50);
  check(c.nbands == 1 && fabsf(yc[7] - 0.3f) <= c.band[0].scale / 2, "RORQ constant input: one band, error <= step/2");
  qz_rorq none;
  memset(&none, 0, sizeof none);
  float in3[3] = {1, 2, 3}, out3[3];
  qz_rorq_fake(&none, in3, out3, 3);
  check(qz_rorq_band(&none, 1.0f) == -1 && memcmp(in3, out3, sizeof in3) == 0,
        "RORQ uncalibrated (nbands 0): band -1, fake copies");
  /* Heavy tail: many rounds, never more than QZ_MAX_BANDS. */
  static float ht[5000];
  for (int i = 0; i < 5000; i++) ht[i] = (float)(rng_normal() * exp(3.0 * rng_u01() * rng_u01() * 4));
  qz_rorq h = qz_rorq_calibrate(ht, 5000, 8);
  snprintf(msg, sizeof msg, "RORQ heavy tail: %d bands (<= %d), last bound >= max |x|", h.nbands, QZ_MAX_BANDS);
  float hlo, hhi;
  qz_minmax(ht, 5000, &hlo, &hhi);
  check(h.nbands >= 3 && h.nbands <= QZ_MAX_BANDS && h.bound[h.nbands - 1] >= fmaxf(-hlo, hhi), msg);

  /* qz_rorq_codes_s8 = qz_rorq_band + qz_affine_code, element by element:
  ** the heavy tail (many bands), with every bound itself, its neighbours,
  ** specials and a tail shorter than a block; then with bounds out of order
  ** (a state not made by qz_rorq_calibrate) and an asymmetric band 0. */
  enum { NR = 5000 + 4 * QZ_MAX_BANDS + 7 };
  static float xr[NR];
  static int8_t cg[NR];
  static uint8_t bg[NR];
  for (int pass = 0; pass < 3; pass++) {
    qz_rorq r = h;
    if (pass == 1) { /* bounds not increasing */
      float t = r.bound[0];
      r.bound[0] = r.bound[1];
      r.bound[1] = t;
    }
    if (pass == 2) r.band[0] = qz_affine_range(-1.5f, 2.5f, 8, 0);
    int off = r.band[0].qmin >= 0 ? 128 : 0, n = 0;
    for (int i = 0; i < 5000; i++) xr[n++] = ht[i];
    for (int b = 0; b < r.nbands; b++) {
      xr[n++] = r.bound[b];
      xr[n++] = -r.bound[b];
      xr[n++] = nextafterf(r.bound[b], INFINITY);
      xr[n++] = nextafterf(-r.bound[b], -INFINITY);
    }
    const float sp[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY, 1e-40f, -3e38f};
    for (int i = 0; i < 7; i++) xr[n++] = sp[i];
    memset(cg, 0x5a, sizeof cg);
    memset(bg, 0xa5, sizeof bg);
    qz_rorq_codes_s8(&r, xr, (size_t)n, off, cg, bg);
    int bad = 0;
    for (int i = 0; i < n; i++) {
      int b = qz_rorq_band(&r, xr[i]);
      int want = (b == 0 ? qz_affine_code(&r.band[0], xr[i]) : r.band[0].zero) - off;
      if (bg[i] != b || cg[i] != want) bad++;
    }
    snprintf(msg, sizeof msg,
             "RORQ integer codes (%s): band and band-0 code of %d values as qz_rorq_band and "
             "qz_affine_code give them; %d differ",
             pass == 0 ? "calibrated" : pass == 1 ? "bounds out of order" : "asymmetric band 0", n,
             bad);
    check(bad == 0, msg);
  }
}

static void test_determinism(void) {
  enum { N = 30000 };
  static float x[N], sm[N], g[N], y1[N], y2[N];
  for (int i = 0; i < N; i++) {
    x[i] = rng_normal() * (i % 97 == 0 ? 30.0f : 1.0f);
    g[i] = gelu(rng_uniform(-4, 4));
  }
  softmax_rows(sm, N / 150, 150, 2.0);
  int ok = 1;

  qz_affine a1 = qz_affine_search_mse(x, N, 4, 0, 100, 0.2f), a2 = qz_affine_search_mse(x, N, 4, 0, 100, 0.2f);
  ok &= memcmp(&a1, &a2, sizeof a1) == 0;
  qz_affine_fake(&a1, x, y1, N);
  qz_affine_fake(&a2, x, y2, N);
  ok &= memcmp(y1, y2, sizeof y1) == 0;

  qz_drq_softmax d1 = qz_drq_softmax_search(sm, N, 4), d2 = qz_drq_softmax_search(sm, N, 4);
  ok &= memcmp(&d1, &d2, sizeof d1) == 0;
  qz_drq_softmax_fake(&d1, sm, y1, N);
  qz_drq_softmax_fake(&d2, sm, y2, N);
  ok &= memcmp(y1, y2, sizeof y1) == 0;

  qz_drq_gelu e1 = qz_drq_gelu_search(g, N, 4, 100), e2 = qz_drq_gelu_search(g, N, 4, 100);
  ok &= memcmp(&e1, &e2, sizeof e1) == 0;
  qz_drq_gelu_fake(&e1, g, y1, N);
  qz_drq_gelu_fake(&e2, g, y2, N);
  ok &= memcmp(y1, y2, sizeof y1) == 0;

  qz_twin t1 = qz_twin_gelu_search(g, N, 4, 100), t2 = qz_twin_gelu_search(g, N, 4, 100);
  ok &= memcmp(&t1, &t2, sizeof t1) == 0;
  qz_twin u1 = qz_twin_softmax_search(sm, N, 4), u2 = qz_twin_softmax_search(sm, N, 4);
  ok &= memcmp(&u1, &u2, sizeof u1) == 0;

  qz_rorq r1 = qz_rorq_calibrate(x, N, 4), r2 = qz_rorq_calibrate(x, N, 4);
  ok &= memcmp(&r1, &r2, sizeof r1) == 0;
  qz_rorq_fake(&r1, x, y1, N);
  qz_rorq_fake(&r2, x, y2, N);
  ok &= memcmp(y1, y2, sizeof y1) == 0;

  /* Results do not depend on where the data sits in memory: a copy at
  ** another address gives the same parameters. */
  float *xc = malloc(N * sizeof(float) + 64);
  memcpy(xc + 3, x, N * sizeof(float));
  qz_rorq r3 = qz_rorq_calibrate(xc + 3, N, 4);
  qz_affine a3 = qz_affine_search_mse(xc + 3, N, 4, 0, 100, 0.2f);
  ok &= memcmp(&r1, &r3, sizeof r1) == 0 && memcmp(&a1, &a3, sizeof a1) == 0;
  free(xc);
  check(ok, "determinism: every search twice (and on a copy) -> identical params, bit-identical fake output");
}

/* The codes follow rint (ties to even) exactly, clamped -- checked against
** libm's rintf on ties, near-ties, out-of-range values, NaN and random
** values; and qz_affine_codes_s8 gives the same codes in int8 form. */
static void test_rounding(void) {
  qz_affine sym = qz_affine_range(-127.0f, 127.0f, 8, 1);   /* scale 1, [-127, 127] */
  qz_affine asy = qz_affine_range(-3.0f, 252.0f, 8, 0);     /* scale 1, zero 3 */
  int bad = 0, badc = 0, n = 0;
  float xs[4096];
  int nx = 0;
  for (int k = -140; k <= 140; k++) {
    xs[nx++] = (float)k + 0.5f;
    xs[nx++] = nextafterf((float)k + 0.5f, 1e9f);
    xs[nx++] = nextafterf((float)k + 0.5f, -1e9f);
    xs[nx++] = (float)k;
  }
  while (nx < 4000) xs[nx++] = (float)(300.0 * (rng_u01() - 0.5));
  xs[nx++] = NAN;
  xs[nx++] = INFINITY;
  xs[nx++] = -INFINITY;
  xs[nx++] = 1e30f;
  const qz_affine *qs[2] = {&sym, &asy};
  for (int qi = 0; qi < 2; qi++) {
    const qz_affine *q = qs[qi];
    int8_t codes[4096];
    int zo = qz_affine_codes_s8(q, xs, (size_t)nx, codes);
    int off = q->qmin >= 0 ? 128 : 0;
    for (int i = 0; i < nx; i++, n++) {
      float v = rintf(xs[i] / q->scale);
      float lo = (float)(q->qmin - q->zero), hi = (float)(q->qmax - q->zero);
      if (!(v >= lo)) v = lo;   /* NaN included */
      if (v > hi) v = hi;
      int32_t want = (int32_t)v + q->zero;
      bad += qz_affine_code(q, xs[i]) != want;
      badc += codes[i] != (int8_t)(want - off) || zo != q->zero - off;
    }
  }
  char msg[160];
  snprintf(msg, sizeof msg, "affine codes = clamp(rintf(x/s)) + z on %d values (ties, NaN, inf): %d differ", n, bad);
  check(bad == 0 && sym.scale == 1.0f && asy.scale == 1.0f && asy.zero == 3, msg);
  snprintf(msg, sizeof msg, "qz_affine_codes_s8 = code - 128 (asymmetric) / code (symmetric): %d differ", badc);
  check(badc == 0, msg);

  /* DRQ-GELU split form: pos * d_pos + neg * d_neg is the fake-quantized value */
  int bads = 0, ns = 0;
  for (int bits = 3; bits <= 8; bits++) {
    qz_drq_gelu g = {bits, 0.37f / (float)((1 << (bits - 1)) - 1)};
    float dp, dn, fk[4096];
    int8_t pos[4096], neg[4096];
    qz_drq_gelu_steps(&g, &dp, &dn);
    for (int i = 0; i < nx; i++) xs[i] = (i < nx - 4) ? (float)(0.6 * (rng_u01() - 0.3)) : xs[i];
    xs[0] = -0.16997f, xs[1] = 0.0f, xs[2] = -0.0f;
    qz_drq_gelu_split_s8(&g, xs, (size_t)nx, pos, neg);
    qz_drq_gelu_fake(&g, xs, fk, (size_t)nx);
    for (int i = 0; i < nx; i++, ns++) {
      float v = (float)pos[i] * dp + (float)neg[i] * dn;
      bads += v != fk[i] || (pos[i] && neg[i]) || pos[i] < 0 || neg[i] > 0;
    }
  }
  snprintf(msg, sizeof msg, "qz_drq_gelu_split_s8: pos*d_pos + neg*d_neg = fake value, one region each (%d of %d differ)",
           bads, ns);
  check(bads == 0, msg);

  /* DRQ-softmax split form: on the grid of step d_lo, lo + (hi << shift) is
  ** the fake-quantized value; one region per element; values in 0..V */
  int badm = 0, nm = 0;
  for (int bits = 3; bits <= 8; bits++)
    for (int shift = 0; shift < 20; shift += 3) {
      qz_drq_softmax q = {bits, shift};
      float dlo, fk[4096];
      int sh;
      int8_t lo[4096], hi[4096];
      int vmax = (1 << (bits - 1)) - 1;
      qz_drq_softmax_grid(&q, &dlo, &sh);
      for (int i = 0; i < nx; i++) {
        double u = rng_u01();
        xs[i] = (float)(i % 3 ? u * u * u : u);   /* many small probabilities */
      }
      xs[0] = 0.0f, xs[1] = 1.0f, xs[2] = ldexpf(1.0f, -shift);   /* the split point: high */
      xs[3] = nextafterf(xs[2], 0.0f), xs[4] = NAN;
      qz_drq_softmax_split_s8(&q, xs, (size_t)nx, lo, hi);
      qz_drq_softmax_fake(&q, xs, fk, (size_t)nx);
      for (int i = 0; i < nx; i++, nm++) {
        float v = (float)((double)((int64_t)lo[i] + ((int64_t)hi[i] << sh)) * dlo);
        badm += v != fk[i] || (lo[i] && hi[i]) || lo[i] < 0 || hi[i] < 0 || lo[i] > vmax ||
                hi[i] > vmax || sh != shift;
      }
      badm += lo[2] != 0 || lo[3] != vmax;   /* s itself is high; just below s, the top low value */
    }
  snprintf(msg, sizeof msg, "qz_drq_softmax_split_s8: (lo + (hi << shift)) * d_lo = fake value, one region each (%d of %d differ)",
           badm, nm);
  check(badm == 0, msg);
}

int main(void) {
  test_rounding();
  test_affine();
  test_range_helpers();
  test_weights();
  test_drq_softmax();
  test_drq_gelu();
  test_gelu_codes();
  test_twin();
  test_rorq();
  test_determinism();
  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
