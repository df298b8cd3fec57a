/*
** quant: the fake-quantizers of risq (uniform, DRQ, PTQ4ViT twin-uniform,
** RORQ) and their calibration searches; quant.h states the value semantics,
** this file only implements them.
**
** Conventions kept throughout:
**   - q = rint(x / scale) in float (round to nearest, ties to even), clamped
**     in float before the conversion to an integer, so that huge values, and
**     NaN (which lands on the lowest code), never reach an undefined
**     float-to-int conversion.
**   - bits outside 2..16 are clamped to that range (the methods use 2..8).
**   - Every search walks its candidates in a fixed order, sums errors in
**     double in element order, and keeps the first of equal candidates; a
**     candidate's sum stops early once it is worse than the best so far,
**     which cannot change the winner.  Same input, same parameters, bit for
**     bit.
**   - Searches never allocate; only qz_percentile_range does (one copy).
*/
#include "kernels/quant.h"

#include "kernels/ops_f32.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The element-wise loops below (fake quantization, int8 codes) are on the
** hot path of every quantized forward.  On x86-64 GCC builds them twice, for
** the baseline (SSE2) and for AVX2, and picks one when the program loads;
** both do the same IEEE operations in the same order (AVX2 without FMA), so
** the results are the same bit for bit, only 8 lanes wide instead of 4. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define QZ_VECTOR __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef QZ_VECTOR
#define QZ_VECTOR
#endif

static int clamp_bits(int bits) {
  return bits < 2 ? 2 : bits > 16 ? 16 : bits;
}

/* rint(v) clamped to [lo, hi]; NaN gives lo.  lo and hi are floats that
** hold integers up to 2^17, so the result converts exactly.
**
** Clamping first and then rounding gives the same result (lo and hi are
** integers), and once |v| <= 2^17 adding and subtracting 1.5 * 2^23 rounds
** it to an integer in the current rounding mode -- round to nearest, ties to
** even, exactly as rintf -- with plain float adds that the compiler can
** vectorise (rintf is a libm call on baseline x86-64).  Needs IEEE single
** precision evaluation (FLT_EVAL_METHOD 0) and no -ffast-math, as the rest
** of this file. */
static inline float round_clamp(float v, float lo, float hi) {
  const float magic = 12582912.0f; /* 1.5 * 2^23 */
  float r = (v + magic) - magic;   /* selects, not branches: loops vectorise */
  r = v > hi ? hi : r;
  return v >= lo ? r : lo;
}

static int scale_ok(float s) {
  return s > 0.0f && s <= 3.4e38f; /* false for NaN, 0, negatives and inf */
}

/* ------------------------------------------------------------------------ */
/* Uniform (affine) quantization.                                             */

qz_affine qz_affine_range(float lo, float hi, int bits, int symmetric) {
  qz_affine a;
  double scale;

  bits = clamp_bits(bits);
  if (!(lo < 0.0f)) lo = 0.0f; /* widen to contain 0; NaN becomes 0 */
  if (!(hi > 0.0f)) hi = 0.0f;
  if (symmetric) {
    a.qmax = (1 << (bits - 1)) - 1;
    a.qmin = -a.qmax;
    double m = -(double)lo > (double)hi ? -(double)lo : (double)hi;
    scale = m / a.qmax;
  } else {
    a.qmin = 0;
    a.qmax = (1 << bits) - 1;
    scale = ((double)hi - (double)lo) / a.qmax;
  }
  a.scale = (float)scale;
  if (!scale_ok(a.scale)) a.scale = 1.0f; /* empty range, underflow, inf */
  a.zero = 0;
  if (!symmetric) a.zero = (int32_t)round_clamp(-lo / a.scale, 0.0f, (float)a.qmax);
  return a;
}

int32_t qz_affine_code(const qz_affine *a, float x) {
  float v = round_clamp(x / a->scale, (float)(a->qmin - a->zero), (float)(a->qmax - a->zero));
  return (int32_t)v + a->zero;
}

float qz_affine_value(const qz_affine *a, int32_t q) {
  return (float)(q - a->zero) * a->scale;
}

QZ_VECTOR void qz_affine_fake(const qz_affine *a, const float *x, float *y, size_t n) {
  const float s = a->scale;
  const float lo = (float)(a->qmin - a->zero), hi = (float)(a->qmax - a->zero);
  /* (q - zero) * scale with q = v + zero is v * scale: the zero point cancels
  ** exactly because both are integers. */
  for (size_t i = 0; i < n; i++) y[i] = round_clamp(x[i] / s, lo, hi) * s;
}

QZ_VECTOR int qz_affine_codes_s8(const qz_affine *a, const float *x, size_t n, int8_t *out) {
  const float s = a->scale;
  const float lo = (float)(a->qmin - a->zero), hi = (float)(a->qmax - a->zero);
  const int32_t zo = a->zero - (a->qmin >= 0 ? 128 : 0);
  for (size_t i = 0; i < n; i++) out[i] = (int8_t)((int32_t)round_clamp(x[i] / s, lo, hi) + zo);
  return zo;
}

/* SSE of the affine fake quantization; stops once the sum exceeds limit. */
static double affine_sse_bounded(const qz_affine *a, const float *x, size_t n, double limit) {
  const float s = a->scale;
  const float lo = (float)(a->qmin - a->zero), hi = (float)(a->qmax - a->zero);
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)x[i] - (double)(round_clamp(x[i] / s, lo, hi) * s);
    sum += d * d;
    if ((i & 1023) == 1023 && sum > limit) return sum;
  }
  return sum;
}

double qz_affine_sse(const qz_affine *a, const float *x, size_t n) {
  return affine_sse_bounded(a, x, n, HUGE_VAL);
}

void qz_minmax(const float *x, size_t n, float *lo, float *hi) {
  float mn = HUGE_VALF, mx = -HUGE_VALF;
  for (size_t i = 0; i < n; i++) { /* NaN fails both tests and is skipped */
    if (x[i] < mn) mn = x[i];
    if (x[i] > mx) mx = x[i];
  }
  if (mn > mx) mn = mx = 0.0f; /* n == 0 or all NaN */
  *lo = mn;
  *hi = mx;
}

static int cmp_float(const void *pa, const void *pb) {
  float a = *(const float *)pa, b = *(const float *)pb;
  return (a > b) - (a < b);
}

/* Order statistic at fractional position pos in sorted v[0..m-1] (m >= 1),
** linear interpolation between neighbours (numpy's default). */
static float interp_sorted(const float *v, size_t m, double pos) {
  if (pos <= 0.0) return v[0];
  if (pos >= (double)(m - 1)) return v[m - 1];
  size_t k = (size_t)pos;
  double f = pos - (double)k;
  return (float)((double)v[k] + f * ((double)v[k + 1] - (double)v[k]));
}

/* On allocation failure the outputs are the min-max range, so a caller that
** ignores the -1 still gets a usable (wider) range. */
int qz_percentile_range(const float *x, size_t n, double p, float *lo, float *hi) {
  if (!(p >= 50.0)) p = 50.0;
  if (p > 100.0) p = 100.0;
  float *v = malloc((n ? n : 1) * sizeof(float));
  if (!v) {
    qz_minmax(x, n, lo, hi);
    return -1;
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (x[i] == x[i]) v[m++] = x[i]; /* NaN would break qsort's ordering */
  if (m == 0) {
    *lo = *hi = 0.0f;
  } else {
    qsort(v, m, sizeof(float), cmp_float);
    *hi = interp_sorted(v, m, p / 100.0 * (double)(m - 1));
    *lo = interp_sorted(v, m, (100.0 - p) / 100.0 * (double)(m - 1));
  }
  free(v);
  return 0;
}

qz_affine qz_affine_search_mse(const float *x, size_t n, int bits, int symmetric,
                               int steps, float min_ratio) {
  float lo, hi;
  qz_minmax(x, n, &lo, &hi);
  qz_affine best = qz_affine_range(lo, hi, bits, symmetric);
  if (steps < 1 || n == 0) return best;
  if (!(min_ratio <= 1.0f)) min_ratio = 1.0f;
  double best_sse = affine_sse_bounded(&best, x, n, HUGE_VAL);

  /* Factors 1 - i/steps; the 1e-6 keeps 1 - 80/100 (0.19999...) when
  ** min_ratio is 0.2f (0.20000000298).  A factor of 0 is never tried. */
  for (int i = 1; i < steps; i++) {
    double f = 1.0 - (double)i / steps;
    if (f < (double)min_ratio - 1e-6) break;
    qz_affine c = qz_affine_range((float)(lo * f), (float)(hi * f), bits, symmetric);
    double e = affine_sse_bounded(&c, x, n, best_sse);
    if (e < best_sse) { /* strict: ties keep the wider range */
      best_sse = e;
      best = c;
    }
  }
  return best;
}

void qz_weight_per_channel(const float *w, int rows, int cols, int bits, int mode,
                           qz_affine *out) {
  for (int r = 0; r < rows; r++) {
    const float *wr = w + (size_t)r * (cols > 0 ? cols : 0);
    size_t nc = cols > 0 ? (size_t)cols : 0;
    float lo, hi;
    if (mode == QZ_RANGE_MSE) {
      out[r] = qz_affine_search_mse(wr, nc, bits, 1, 100, 0.2f);
      continue;
    }
    if (mode == QZ_RANGE_PERCENTILE)
      qz_percentile_range(wr, nc, 99.99, &lo, &hi); /* min-max on failure */
    else
      qz_minmax(wr, nc, &lo, &hi);
    out[r] = qz_affine_range(lo, hi, bits, 1);
  }
}

void qz_weight_fake(const qz_affine *q, const float *w, int rows, int cols, float *y) {
  if (cols <= 0) return;
  for (int r = 0; r < rows; r++)
    qz_affine_fake(&q[r], w + (size_t)r * cols, y + (size_t)r * cols, (size_t)cols);
}

/* ------------------------------------------------------------------------ */
/* DRQ, post-Softmax.                                                         */

typedef struct drq_sm_p {
  int k;
  uint32_t vmax;   /* V = 2^(k-1) - 1 */
  float s;         /* split 2^-shift */
  float d_lo, d_hi;
} drq_sm_p;

static int drq_sm_shift(const qz_drq_softmax *q) {
  return q->shift < 0 ? 0 : q->shift > 30 ? 30 : q->shift;
}

static drq_sm_p drq_sm_params(const qz_drq_softmax *q) {
  drq_sm_p p;
  int shift = drq_sm_shift(q);
  p.k = clamp_bits(q->bits);
  p.vmax = (1u << (p.k - 1)) - 1u;
  p.s = ldexpf(1.0f, -shift);
  p.d_hi = 1.0f / (float)p.vmax;
  p.d_lo = ldexpf(p.d_hi, -shift); /* exact: d_hi / d_lo = 2^shift */
  return p;
}

static uint32_t drq_sm_code(const drq_sm_p *p, float x) {
  const float v = (float)p->vmax;
  if (x < p->s) return (uint32_t)round_clamp(x / p->d_lo, 0.0f, v);
  return (1u << (p->k - 1)) | (uint32_t)round_clamp(x / p->d_hi, 0.0f, v);
}

static float drq_sm_decode(const drq_sm_p *p, uint32_t code) {
  float val = (float)(code & p->vmax);
  return val * ((code >> (p->k - 1)) & 1u ? p->d_hi : p->d_lo);
}

uint32_t qz_drq_softmax_code(const qz_drq_softmax *q, float x) {
  drq_sm_p p = drq_sm_params(q);
  return drq_sm_code(&p, x);
}

float qz_drq_softmax_decode(const qz_drq_softmax *q, uint32_t code) {
  drq_sm_p p = drq_sm_params(q);
  return drq_sm_decode(&p, code);
}

QZ_VECTOR void qz_drq_softmax_fake(const qz_drq_softmax *q, const float *x, float *y, size_t n) {
  drq_sm_p p = drq_sm_params(q);
  for (size_t i = 0; i < n; i++) y[i] = drq_sm_decode(&p, drq_sm_code(&p, x[i]));
}

/* Literal port of the upstream arithmetic (x clipped to [s, 1] for the high
** branch and to [0, s] for the low one, both branches added). */
float qz_drq_softmax_upstream(const qz_drq_softmax *q, float x) {
  drq_sm_p p = drq_sm_params(q);
  const float v = (float)p.vmax;
  float xh = x < p.s ? p.s : x;
  if (xh > 1.0f) xh = 1.0f;
  float xl = x > p.s ? p.s : x;
  if (xl < 0.0f) xl = 0.0f;
  return round_clamp(xh / p.d_hi, 0.0f, v) * p.d_hi + round_clamp(xl / p.d_lo, 0.0f, v) * p.d_lo;
}

static double drq_sm_sse_bounded(const drq_sm_p *p, const float *x, size_t n, double limit) {
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)x[i] - (double)drq_sm_decode(p, drq_sm_code(p, x[i]));
    sum += d * d;
    if ((i & 1023) == 1023 && sum > limit) return sum;
  }
  return sum;
}

QZ_VECTOR void qz_drq_softmax_split_s8(const qz_drq_softmax *q, const float *x, size_t n,
                                       int8_t *lo, int8_t *hi) {
  drq_sm_p p = drq_sm_params(q);
  const float v = (float)p.vmax;
  /* both regions' values, then a select: drq_sm_code without its branch
  ** (NaN: x < s is false, and the high value of NaN is 0, as there) */
  for (size_t i = 0; i < n; i++) {
    float vl = round_clamp(x[i] / p.d_lo, 0.0f, v), vh = round_clamp(x[i] / p.d_hi, 0.0f, v);
    int low = x[i] < p.s;
    lo[i] = (int8_t)(low ? vl : 0.0f);
    hi[i] = (int8_t)(low ? 0.0f : vh);
  }
}

void qz_drq_softmax_grid(const qz_drq_softmax *q, float *d_lo, int *shift) {
  drq_sm_p p = drq_sm_params(q);
  *d_lo = p.d_lo;
  *shift = drq_sm_shift(q);
}

qz_drq_softmax qz_drq_softmax_search(const float *x, size_t n, int bits) {
  qz_drq_softmax best = {clamp_bits(bits), 0};
  double best_sse = HUGE_VAL;
  for (int shift = 0; shift < 20; shift++) {
    qz_drq_softmax c = {best.bits, shift};
    drq_sm_p p = drq_sm_params(&c);
    double e = drq_sm_sse_bounded(&p, x, n, best_sse);
    if (e < best_sse) { /* strict: ties keep the smaller shift */
      best_sse = e;
      best = c;
    }
  }
  return best;
}

/* ------------------------------------------------------------------------ */
/* DRQ, post-GELU.                                                            */

typedef struct drq_gelu_p {
  int k;
  uint32_t vmax;
  float d_neg, d_pos;
} drq_gelu_p;

static drq_gelu_p drq_gelu_params(const qz_drq_gelu *q) {
  drq_gelu_p p;
  p.k = clamp_bits(q->bits);
  p.vmax = (1u << (p.k - 1)) - 1u;
  p.d_neg = ldexpf(QZ_GELU_MIN, -(p.k - 1));
  p.d_pos = scale_ok(q->scale_pos) ? q->scale_pos : p.d_neg;
  return p;
}

static uint32_t drq_gelu_code(const drq_gelu_p *p, float x) {
  const float v = (float)p->vmax;
  if (x < 0.0f) return (1u << (p->k - 1)) | (uint32_t)round_clamp(-x / p->d_neg, 0.0f, v);
  return (uint32_t)round_clamp(x / p->d_pos, 0.0f, v); /* NaN lands here, on 0 */
}

static float drq_gelu_decode(const drq_gelu_p *p, uint32_t code) {
  float val = (float)(code & p->vmax);
  return (code >> (p->k - 1)) & 1u ? -val * p->d_neg : val * p->d_pos;
}

uint32_t qz_drq_gelu_code(const qz_drq_gelu *q, float x) {
  drq_gelu_p p = drq_gelu_params(q);
  return drq_gelu_code(&p, x);
}

float qz_drq_gelu_decode(const qz_drq_gelu *q, uint32_t code) {
  drq_gelu_p p = drq_gelu_params(q);
  return drq_gelu_decode(&p, code);
}

QZ_VECTOR void qz_drq_gelu_split_s8(const qz_drq_gelu *q, const float *x, size_t n, int8_t *pos,
                          int8_t *neg) {
  drq_gelu_p p = drq_gelu_params(q);
  const float v = (float)p.vmax;
  /* both regions' values, then a select: drq_gelu_code's result without
  ** its branch, so that the loop vectorises (NaN: x < 0 is false, and the
  ** positive value of NaN is 0, as there) */
  for (size_t i = 0; i < n; i++) {
    float vn = round_clamp(-x[i] / p.d_neg, 0.0f, v), vp = round_clamp(x[i] / p.d_pos, 0.0f, v);
    int negative = x[i] < 0.0f;
    pos[i] = (int8_t)(negative ? 0.0f : vp);
    neg[i] = (int8_t)(negative ? -vn : 0.0f);
  }
}

void qz_drq_gelu_steps(const qz_drq_gelu *q, float *d_pos, float *d_neg) {
  drq_gelu_p p = drq_gelu_params(q);
  *d_pos = p.d_pos;
  *d_neg = p.d_neg;
}

/* ------------------------------------------------------------------------ */
/* Codes of GELU from the pre-activation (see quant.h for why it is exact).  */

/* e^-z for z >= 0 (above 87, and NaN, taken as 87: e^-87 ~ 1.6e-38).
** 2^n e^r with n = rint(-z log2 e) and r = -z - n ln 2 in two steps (ln 2 =
** 0.693359375 - 2.12194440e-4; the first part has 9 significant bits, so
** n times it is exact), e^r by its Taylor series to r^6 (|r| <= 0.35:
** truncation under 4e-7, relative), 2^n by writing the exponent bits. */
static inline float exp_neg(float z) {
  /* rint as in round_clamp, without its clamp (which cost 12-25 % of the
  ** loops below in a microbenchmark):
  ** z <= 87 already keeps n in [-126, 0] */
  const float magic = 12582912.0f;
  z = z < 87.0f ? z : 87.0f;
  float n = (z * -1.44269504f + magic) - magic;
  float r = (-z - n * 0.693359375f) - n * -2.12194440e-4f;
  float e = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 +
            r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  int32_t bits = ((int32_t)n + 127) * (1 << 23); /* n in [-126, 0] */
  float s;
  memcpy(&s, &bits, sizeof s);
  return e * s;
}

/* 0.5 x (1 + erf(x / sqrt 2)), with erfc(u) = t P(t) e^-u^2 for u = |x| / sqrt 2
** >= 0, t = 1 / (1 + p u) (Abramowitz and Stegun 7.1.26), so the negative
** side 0.5 x erfc(u) keeps its relative accuracy where 1 + erf cancels. */
static inline float gelu_near(float x) {
  float u = fabsf(x) * 0.70710678f;
  float t = 1.0f / (1.0f + 0.3275911f * u);
  float erfc_u = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f +
                 t * (-1.453152027f + t * 1.061405429f)))) * exp_neg(u * u);
  return 0.5f * x * (x < 0.0f ? erfc_u : 2.0f - erfc_u);
}

float qz_gelu_near(float x) {
  return gelu_near(x);
}

/* Elements per block of the loops below that keep a per-element int32 on
** the stack (vectorised loops over a block, then a pass over the block). */
#define ELT_BLOCK 256

/* The interval in which c * kf_gelu1(x) lies (c * GELU is one rounded
** product, monotone in GELU's value for a fixed c, so its ends are those
** of [g - tol, g + tol] times c), widened by 2^-20 of its magnitude: the
** ends are then multiplied by a step's reciprocal, which may differ from
** dividing by the step in the last bit (2^-23 relative at most), and the
** widening keeps the exact quotient between the ends' quotients.  Steps
** outside [2^-100, 2^100] (where those products could leave the normal
** range) take kf_gelu1 throughout. */
static inline void gelu_bracket(float x, float c, float *lo, float *hi) {
  float g = gelu_near(x), tol = fabsf(x) * QZ_GELU_NEAR_TOL + QZ_GELU_NEAR_ABS;
  float p0 = (g - tol) * c, p1 = (g + tol) * c;
  float a = p0 < p1 ? p0 : p1, b = p0 < p1 ? p1 : p0;
  float w = (fabsf(a) + fabsf(b)) * 0x1p-20f;
  *lo = a - w;
  *hi = b + w;
}

static int step_ok(float d) {
  return d >= 0x1p-100f && d <= 0x1p100f;
}

/* The first i in [from, m) with bad[i] set, else m, testing 8 flags at a
** time (few are set).  bad has ELT_BLOCK entries, all initialised. */
static inline size_t next_bad(const int32_t *bad, size_t from, size_t m) {
  for (size_t i8 = from & ~(size_t)7; i8 < m; i8 += 8) {
    int32_t any = 0;
    for (size_t k = 0; k < 8; k++) any |= bad[i8 + k];
    if (any)
      for (size_t i = i8 > from ? i8 : from; i < i8 + 8 && i < m; i++)
        if (bad[i]) return i;
  }
  return m;
}

/* Codes of GELU(x[i]), times mul[i] when has_mul; inlined into each entry
** point below with has_mul a constant, so that each loop vectorises (and
** the one without a multiplier has no multiply). */
static inline __attribute__((always_inline)) int
affine_codes_gelu(const qz_affine *a, const float *x, const float *mul, int has_mul, size_t n,
                  int8_t *out) {
  const float r = 1.0f / a->scale;
  const float lo = (float)(a->qmin - a->zero), hi = (float)(a->qmax - a->zero);
  const int32_t zo = a->zero - (a->qmin >= 0 ? 128 : 0);
  const int none = !step_ok(a->scale);
  int32_t bad[ELT_BLOCK] = {0};
  for (size_t i0 = 0; i0 < n; i0 += ELT_BLOCK) {
    size_t m = n - i0 < ELT_BLOCK ? n - i0 : ELT_BLOCK;
    const float *xb = x + i0, *mb = has_mul ? mul + i0 : NULL;
    int8_t *ob = out + i0;
    for (size_t i = 0; i < m; i++) {
      float c = has_mul ? mb[i] : 1.0f, plo, phi;
      gelu_bracket(xb[i], c, &plo, &phi);
      float clo = round_clamp(plo * r, lo, hi), chi = round_clamp(phi * r, lo, hi);
      bad[i] = (clo != chi) | !(fabsf(xb[i]) <= QZ_GELU_NEAR_MAX) | !(fabsf(c) <= 0x1p100f) | none;
      ob[i] = (int8_t)((int32_t)chi + zo);
    }
    for (size_t i = next_bad(bad, 0, m); i < m; i = next_bad(bad, i + 1, m)) {
      float v = has_mul ? kf_gelu1(xb[i]) * mb[i] : kf_gelu1(xb[i]);
      qz_affine_codes_s8(a, &v, 1, ob + i);
    }
  }
  return zo;
}

QZ_VECTOR int qz_affine_codes_gelu_s8(const qz_affine *a, const float *x, size_t n, int8_t *out) {
  return affine_codes_gelu(a, x, NULL, 0, n, out);
}

QZ_VECTOR int qz_affine_codes_gelu_mul_s8(const qz_affine *a, const float *x, const float *mul,
                                          size_t n, int8_t *out) {
  return affine_codes_gelu(a, x, mul, 1, n, out);
}

QZ_VECTOR void qz_drq_gelu_split_gelu_s8(const qz_drq_gelu *q, const float *x, size_t n,
                                         int8_t *pos, int8_t *neg) {
  drq_gelu_p p = drq_gelu_params(q);
  const float v = (float)p.vmax, rp = 1.0f / p.d_pos, rn = 1.0f / p.d_neg;
  const int none = !step_ok(p.d_pos) | !step_ok(p.d_neg);
  int32_t bad[ELT_BLOCK] = {0};
  for (size_t i0 = 0; i0 < n; i0 += ELT_BLOCK) {
    size_t m = n - i0 < ELT_BLOCK ? n - i0 : ELT_BLOCK;
    const float *xb = x + i0;
    int8_t *pb = pos + i0, *nb = neg + i0;
    for (size_t i = 0; i < m; i++) {
      /* The region is x's sign (GELU keeps it; -0 has code 0 in both), so
      ** only that region's step is used, on the magnitude |GELU| (a bracket
      ** end below 0 is clamped to code 0, as the exact value would be). */
      int negative = xb[i] < 0.0f;
      float r = negative ? rn : rp, ulo, uhi;
      gelu_bracket(xb[i], negative ? -1.0f : 1.0f, &ulo, &uhi);
      float clo = round_clamp(ulo * r, 0.0f, v), chi = round_clamp(uhi * r, 0.0f, v);
      bad[i] = (clo != chi) | !(fabsf(xb[i]) <= QZ_GELU_NEAR_MAX) | none;
      pb[i] = (int8_t)(negative ? 0.0f : chi);
      nb[i] = (int8_t)(negative ? -chi : 0.0f);
    }
    for (size_t i = next_bad(bad, 0, m); i < m; i = next_bad(bad, i + 1, m)) {
      float g = kf_gelu1(xb[i]);
      qz_drq_gelu_split_s8(q, &g, 1, pb + i, nb + i);
    }
  }
}

QZ_VECTOR void qz_drq_gelu_fake(const qz_drq_gelu *q, const float *x, float *y, size_t n) {
  drq_gelu_p p = drq_gelu_params(q);
  for (size_t i = 0; i < n; i++) y[i] = drq_gelu_decode(&p, drq_gelu_code(&p, x[i]));
}

/* SSE of the positive side alone: the negative side does not depend on the
** searched scale, so it cannot change which candidate wins. */
static double pos_sse_bounded(const float *x, size_t n, float d, float vmax, double limit) {
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    if (!(x[i] >= 0.0f)) continue;
    double e = (double)x[i] - (double)(round_clamp(x[i] / d, 0.0f, vmax) * d);
    sum += e * e;
    if ((i & 1023) == 1023 && sum > limit) return sum;
  }
  return sum;
}

static float max_positive(const float *x, size_t n) {
  float mx = 0.0f;
  for (size_t i = 0; i < n; i++)
    if (x[i] > mx) mx = x[i];
  return mx;
}

qz_drq_gelu qz_drq_gelu_search(const float *x, size_t n, int bits, int steps) {
  qz_drq_gelu best = {clamp_bits(bits), 0.0f};
  drq_gelu_p p = drq_gelu_params(&best);
  float mx = max_positive(x, n);
  best.scale_pos = p.d_neg; /* no positive values: any valid scale will do */
  if (!(mx > 0.0f) || !scale_ok(mx / (float)p.vmax)) return best;

  double best_sse = HUGE_VAL;
  if (steps < 1) steps = 1;
  for (int i = 0; i < steps; i++) {
    double r = steps > 1 ? 1.0 - 0.8 * (double)i / (steps - 1) : 1.0;
    float d = (float)((double)mx * r / p.vmax);
    if (!scale_ok(d)) continue;
    double e = pos_sse_bounded(x, n, d, (float)p.vmax, best_sse);
    if (e < best_sse) { /* strict: ties keep the wider range */
      best_sse = e;
      best.scale_pos = d;
    }
  }
  return best;
}

/* ------------------------------------------------------------------------ */
/* PTQ4ViT twin-uniform (baseline).                                          */

QZ_VECTOR void qz_twin_softmax_fake(const qz_twin *q, const float *x, float *y, size_t n) {
  int k = clamp_bits(q->bits);
  int m = q->m < 0 ? 0 : q->m > 30 ? 30 : q->m;
  float v = (float)((1 << (k - 1)) - 1);
  float d2 = scale_ok(q->scale_r2) ? q->scale_r2 : 1.0f / v;
  float d1 = ldexpf(d2, -m);
  float split = ldexpf(v * d2, -m); /* top of R1's grid: 2^-m when d2 = 1/V */
  for (size_t i = 0; i < n; i++) {
    float xi = x[i];
    y[i] = xi < split ? round_clamp(xi / d1, 0.0f, v) * d1 : round_clamp(xi / d2, 0.0f, v) * d2;
  }
}

qz_twin qz_twin_softmax_search(const float *x, size_t n, int bits) {
  int k = clamp_bits(bits);
  qz_twin best = {k, 0, 1.0f / (float)((1 << (k - 1)) - 1)};
  double best_sse = HUGE_VAL;
  float buf[256];
  for (int m = 0; m < 20; m++) {
    qz_twin c = best;
    c.m = m;
    /* The fake quantizer runs on blocks of a stack buffer: no allocation. */
    double e = 0.0;
    for (size_t i0 = 0; i0 < n && e <= best_sse; i0 += 256) {
      size_t nb = n - i0 < 256 ? n - i0 : 256;
      qz_twin_softmax_fake(&c, x + i0, buf, nb);
      for (size_t i = 0; i < nb; i++) {
        double d = (double)x[i0 + i] - (double)buf[i];
        e += d * d;
      }
    }
    if (e < best_sse) { /* strict: ties keep the smaller m (upstream's argmax) */
      best_sse = e;
      best = c;
    }
  }
  return best;
}

QZ_VECTOR void qz_twin_gelu_fake(const qz_twin *q, const float *x, float *y, size_t n) {
  int k = clamp_bits(q->bits);
  float p = (float)(1 << (k - 1)), v = p - 1.0f;
  float d1 = ldexpf(QZ_GELU_MIN, -(k - 1));
  float d2 = scale_ok(q->scale_r2) ? q->scale_r2 : d1;
  for (size_t i = 0; i < n; i++) {
    float xi = x[i];
    y[i] = xi < 0.0f ? -round_clamp(-xi / d1, 0.0f, p) * d1 : round_clamp(xi / d2, 0.0f, v) * d2;
  }
}

qz_twin qz_twin_gelu_search(const float *x, size_t n, int bits, int steps) {
  int k = clamp_bits(bits);
  float p = (float)(1 << (k - 1));
  qz_twin best = {k, 0, ldexpf(QZ_GELU_MIN, -(k - 1))};
  float mx = max_positive(x, n);
  if (!(mx > 0.0f)) return best;
  if (steps < 1) steps = 100;

  /* Upstream's candidates: interval = max(x) / (2^(k-1) - 0.5) times
  ** eq_alpha + i (eq_beta - eq_alpha) / eq_n, eq_alpha = 0.01, eq_beta = 1.2,
  ** i = 0 .. eq_n - 1. */
  double base = (double)mx / ((double)p - 0.5);
  double best_sse = HUGE_VAL;
  for (int i = 0; i < steps; i++) {
    float d = (float)(base * (0.01 + 1.19 * (double)i / steps));
    if (!scale_ok(d)) continue;
    double e = pos_sse_bounded(x, n, d, p - 1.0f, best_sse);
    if (e < best_sse) { /* strict: ties keep the first, the smaller scale */
      best_sse = e;
      best.scale_r2 = d;
    }
  }
  return best;
}

/* ------------------------------------------------------------------------ */
/* RORQ.                                                                      */

int qz_rorq_band(const qz_rorq *q, float x) {
  if (q->nbands <= 0) return -1;
  float a = fabsf(x);
  int last = q->nbands < QZ_MAX_BANDS ? q->nbands - 1 : QZ_MAX_BANDS - 1;
  for (int r = 0; r < last; r++)
    if (a <= q->bound[r]) return r;
  return last; /* beyond every bound (or NaN) */
}

QZ_VECTOR void qz_rorq_codes_s8(const qz_rorq *q, const float *x, size_t n, int off,
                                int8_t *codes, uint8_t *band) {
  if (q->nbands <= 0) return; /* not calibrated: no integer form (never asked for) */
  int last = q->nbands < QZ_MAX_BANDS ? q->nbands - 1 : QZ_MAX_BANDS - 1;
  /* The band as the number of bounds |x| is not within (NaN: all of them)
  ** equals qz_rorq_band's first bound that holds it only when the bounds
  ** increase, as qz_rorq_calibrate makes them; a state read from elsewhere
  ** may not, and then takes the plain loop. */
  int sorted = 1;
  for (int r = 1; r < last; r++) sorted &= q->bound[r - 1] <= q->bound[r];
  const qz_affine *b0 = &q->band[0];
  if (!sorted) {
    for (size_t i = 0; i < n; i++) {
      int b = qz_rorq_band(q, x[i]);
      band[i] = (uint8_t)b;
      codes[i] = (int8_t)((b == 0 ? qz_affine_code(b0, x[i]) : b0->zero) - off);
    }
    return;
  }
  const float s = b0->scale;
  const float lo = (float)(b0->qmin - b0->zero), hi = (float)(b0->qmax - b0->zero);
  int32_t bk[ELT_BLOCK];
  for (size_t i0 = 0; i0 < n; i0 += ELT_BLOCK) {
    size_t m = n - i0 < ELT_BLOCK ? n - i0 : ELT_BLOCK;
    const float *xb = x + i0;
    for (size_t i = 0; i < m; i++) bk[i] = 0;
    for (int r = 0; r < last; r++) {
      const float t = q->bound[r];
      for (size_t i = 0; i < m; i++) bk[i] += !(fabsf(xb[i]) <= t);
    }
    for (size_t i = 0; i < m; i++) {
      int32_t c = (int32_t)round_clamp(xb[i] / s, lo, hi) + b0->zero;
      codes[i0 + i] = (int8_t)((bk[i] == 0 ? c : b0->zero) - off);
      band[i0 + i] = (uint8_t)bk[i];
    }
  }
}

void qz_rorq_fake(const qz_rorq *q, const float *x, float *y, size_t n) {
  if (q->nbands <= 0) { /* not calibrated: pass values through */
    if (y != x) memmove(y, x, n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const qz_affine *a = &q->band[qz_rorq_band(q, x[i])];
    y[i] = qz_affine_value(a, qz_affine_code(a, x[i]));
  }
}

/* Round r sees the values with |v| > prev (prev = 0 first: the non-zero
** values); because every threshold exceeds the mean of what it was computed
** on, which exceeds prev, the remaining set is exactly {|v| > t_(r-1)} and no
** copy of the data is needed.  Three passes per round: count/sum/max of |v|,
** squared deviations, then the signed range of the band. */
qz_rorq qz_rorq_calibrate(const float *x, size_t n, int bits) {
  qz_rorq q;
  memset(&q, 0, sizeof q);
  q.bits = clamp_bits(bits);
  float prev = 0.0f;

  for (int r = 0; r < QZ_MAX_BANDS; r++) {
    size_t cnt = 0;
    double sum = 0.0;
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
      float a = fabsf(x[i]);
      if (a > prev) { /* NaN fails */
        cnt++;
        sum += a;
        if (a > amax) amax = a;
      }
    }
    if (cnt == 0) break;
    double mean = sum / (double)cnt, ss = 0.0;
    for (size_t i = 0; i < n; i++) {
      float a = fabsf(x[i]);
      if (a > prev) ss += ((double)a - mean) * ((double)a - mean);
    }
    /* Unbiased, as upstream's torch .var(); a single value has std 0. */
    double sd = cnt > 1 ? sqrt(ss / (double)(cnt - 1)) : 0.0;
    float t = (float)(mean + 3.0 * sd);
    int last = r == QZ_MAX_BANDS - 1 || !(t < amax);
    if (last) t = t > amax ? t : amax;

    float lo = HUGE_VALF, hi = -HUGE_VALF;
    size_t in = 0;
    for (size_t i = 0; i < n; i++) {
      float a = fabsf(x[i]);
      if (a > prev && a <= t) {
        in++;
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
      }
    }
    if (in == 0) { /* rounding put t below every value: take them all */
      t = amax;
      last = 1;
      for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (a > prev) {
          if (x[i] < lo) lo = x[i];
          if (x[i] > hi) hi = x[i];
        }
      }
    }
    q.bound[r] = t;
    q.band[r] = qz_affine_range(lo, hi, q.bits, 0);
    q.nbands = r + 1;
    if (last) break;
    prev = t;
  }

  if (q.nbands == 0) { /* no non-zero value: one band that keeps 0 exact */
    q.nbands = 1;
    q.bound[0] = 0.0f;
    q.band[0] = qz_affine_range(0.0f, 0.0f, q.bits, 0);
  }
  return q;
}
