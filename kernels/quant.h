/*
** quant: the quantizers of risq and their calibration searches.
**
** Owns the value semantics of every quantizer the methods use -- uniform
** (affine), Dual-Region Quantization for post-Softmax and post-GELU values
** (PTQ4RIS), PTQ4ViT's twin-uniform quantizers (baseline), and
** Reorder-based Outlier-Retained Quantization (RORQ, PTQ4RIS) -- as
** fake-quantization: quantize to integer codes, then dequantize to float.
** That is the reference ("simulated") semantics; integer kernels must
** reproduce these codes exactly.
**
** Rounding convention, everywhere: q = rint(x / scale) in the default
** floating-point rounding mode (round to nearest, ties to even), computed in
** float; then + zero point; then clamped to [qmin, qmax].
**
** Knows nothing of models: callers pass flat float arrays.
*/
#ifndef RISQ_KERNELS_QUANT_H
#define RISQ_KERNELS_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define QZ_MAX_BANDS 10   /* RORQ: at most this many magnitude bands */

/* ------------------------------------------------------------------ */
/* Uniform (affine) quantization                                        */
/* ------------------------------------------------------------------ */

/* q = clamp(rint(x / scale) + zero, qmin, qmax); x' = (q - zero) * scale.
** Symmetric: zero = 0, qmin = -(2^(b-1) - 1), qmax = 2^(b-1) - 1 (narrow
** range, so -q is always representable).  Asymmetric: qmin = 0,
** qmax = 2^b - 1, zero in [0, qmax].  scale > 0 always. */
typedef struct qz_affine {
    float scale;
    int32_t zero;
    int32_t qmin, qmax;
} qz_affine;

/* Quantizer covering [lo, hi] (the range is first widened to contain 0;
** symmetric uses max(|lo|, |hi|)).  An empty or zero range gives scale 1. */
qz_affine qz_affine_range(float lo, float hi, int bits, int symmetric);

int32_t qz_affine_code(const qz_affine *a, float x);
float qz_affine_value(const qz_affine *a, int32_t q);

/* y[i] = dequant(quant(x[i])); y may equal x. */
void qz_affine_fake(const qz_affine *a, const float *x, float *y, size_t n);

/* Integer form, for the integer kernels (kernels/qgemm.h takes int8 codes
** with a zero point): out[i] = qz_affine_code(a, x[i]) - off, with off = 128
** for an asymmetric quantizer (qmin >= 0) and 0 for a symmetric one; returns
** the zero point in the same form (a->zero - off).  Codes of up to 8 bits
** fit.  Same codes as qz_affine_code, bit for bit. */
int qz_affine_codes_s8(const qz_affine *a, const float *x, size_t n, int8_t *out);

/* Sum of squared fake-quantization errors over x. */
double qz_affine_sse(const qz_affine *a, const float *x, size_t n);

/* Range helpers.  qz_minmax: smallest and largest value (0, 0 when n = 0).
** qz_percentile_range: lo = the (100 - p)-th and hi = the p-th percentile
** (p in (50, 100]; linear interpolation between order statistics; works on
** a sorted copy, NaNs left out).  Returns 0, or -1 when the copy cannot be
** allocated (lo and hi are then the qz_minmax range). */
void qz_minmax(const float *x, size_t n, float *lo, float *hi);
int qz_percentile_range(const float *x, size_t n, double p, float *lo, float *hi);

/* MSE range search: shrink the min-max range [lo, hi] by factors
** 1, 1 - 1/steps, ..., 1/steps... down to min_ratio (both ends scaled by the
** same factor) and return the quantizer with the smallest qz_affine_sse on
** x.  Deterministic; ties keep the wider range. */
qz_affine qz_affine_search_mse(const float *x, size_t n, int bits, int symmetric,
                               int steps, float min_ratio);

/* Per-output-channel weight quantization of w[rows][cols] (one row = one
** output channel).  mode: QZ_RANGE_MINMAX (absmax), QZ_RANGE_MSE (search as
** above, 100 steps down to 0.2), QZ_RANGE_PERCENTILE (p = 99.99).
** Symmetric always.  out[rows]. */
enum { QZ_RANGE_MINMAX = 0, QZ_RANGE_PERCENTILE = 1, QZ_RANGE_MSE = 2 };
void qz_weight_per_channel(const float *w, int rows, int cols, int bits, int mode,
                           qz_affine *out);
/* y[rows][cols] = per-row fake quantization of w (y may equal w). */
void qz_weight_fake(const qz_affine *q, const float *w, int rows, int cols, float *y);

/* ------------------------------------------------------------------ */
/* Dual-Region Quantization (PTQ4RIS)                                   */
/* ------------------------------------------------------------------ */

/* Post-Softmax DRQ, k = bits.  Code = region bit << (k-1) | value, value a
** (k-1)-bit unsigned integer, V = 2^(k-1) - 1 its largest value.
** s = 2^-shift (shift in 0..19) splits [0, 1]:
**   low  region, x <  s: Δ_lo = s / V,  value = clamp(rint(x / Δ_lo), 0, V)
**   high region, x >= s: Δ_hi = 1 / V,  value = clamp(rint(x / Δ_hi), 0, V)
** Δ_hi / Δ_lo = 2^shift, so both regions lie on one integer grid of step
** Δ_lo (high codes are shifted left by `shift`).  The value is exactly
** Q_lo(x) for x < s and Q_hi(x) otherwise -- never their sum (the upstream
** code adds both branches; see qz_drq_softmax_upstream). */
typedef struct qz_drq_softmax {
    int bits;
    int shift;
} qz_drq_softmax;

uint32_t qz_drq_softmax_code(const qz_drq_softmax *q, float x);
float qz_drq_softmax_decode(const qz_drq_softmax *q, uint32_t code);
void qz_drq_softmax_fake(const qz_drq_softmax *q, const float *x, float *y, size_t n);
/* What the upstream implementation computes: Q_hi(min(max(x, s), 1)) +
** Q_lo(max(min(x, s), 0)), both branches added.  Off by +s in the high
** region (Q_lo(s) = V Δ_lo = s); in the low region it adds Q_hi(s), which is
** 0 only while s < Δ_hi / 2 (2^shift > 2V), else about s.  For tests and
** docs only. */
float qz_drq_softmax_upstream(const qz_drq_softmax *q, float x);
/* The shift in 0..19 with the smallest fake-quantization SSE on x (values
** in [0, 1]); ties keep the smaller shift. */
qz_drq_softmax qz_drq_softmax_search(const float *x, size_t n, int bits);
/* Integer form, split by region: lo[i] = value and hi[i] = 0 for x < s,
** lo[i] = 0 and hi[i] = value otherwise (values in 0..V, so they are also
** valid narrow-range k-bit codes).  On the one grid of step Δ_lo the
** simulated value is (lo[i] + (hi[i] << shift)) * Δ_lo exactly; *d_lo and
** *shift (qz_drq_softmax_grid) give that grid. */
void qz_drq_softmax_split_s8(const qz_drq_softmax *q, const float *x, size_t n, int8_t *lo,
                             int8_t *hi);
void qz_drq_softmax_grid(const qz_drq_softmax *q, float *d_lo, int *shift);

/* Post-GELU DRQ.  Sign selects the region; value a (k-1)-bit unsigned
** integer, V = 2^(k-1) - 1.
**   negative region, x < 0: Δ_neg = 0.16997 / 2^(k-1) (GELU's minimum is
**     -0.16997 = -2^(k-1) Δ_neg), value = clamp(rint(-x / Δ_neg), 0, V),
**     x' = -value * Δ_neg.  The lowest level is -V Δ_neg, one step above
**     GELU's minimum (values below -(V + 1/2) Δ_neg clamp there, error at
**     most Δ_neg); upstream clamps to -2^(k-1) instead, a level a (k-1)-bit
**     value cannot hold (qz_twin_gelu_fake has it).
**   positive region, x >= 0: Δ_pos searched, value = clamp(rint(x / Δ_pos), 0, V)
** Code = region bit << (k-1) | value (region bit 1 = negative). */
#define QZ_GELU_MIN 0.16997f
typedef struct qz_drq_gelu {
    int bits;
    float scale_pos;
} qz_drq_gelu;

uint32_t qz_drq_gelu_code(const qz_drq_gelu *q, float x);
float qz_drq_gelu_decode(const qz_drq_gelu *q, uint32_t code);
void qz_drq_gelu_fake(const qz_drq_gelu *q, const float *x, float *y, size_t n);
/* scale_pos = max(x) * r / V for r over `steps` ratios from 1 down to 0.2
** (evenly spaced, both ends included), smallest SSE on x wins; ties keep the
** larger ratio.  No positive value: scale_pos = Δ_neg. */
qz_drq_gelu qz_drq_gelu_search(const float *x, size_t n, int bits, int steps);
/* Integer form, split by region: pos[i] = value and neg[i] = 0 for x >= 0,
** pos[i] = 0 and neg[i] = -value for x < 0, so that the simulated value is
** pos[i] * d_pos + neg[i] * d_neg exactly (the steps qz_drq_gelu_steps
** gives).  The regions' steps are not in a power-of-two ratio, so integer
** execution runs one GEMM per region. */
void qz_drq_gelu_split_s8(const qz_drq_gelu *q, const float *x, size_t n, int8_t *pos,
                          int8_t *neg);
void qz_drq_gelu_steps(const qz_drq_gelu *q, float *d_pos, float *d_neg);

/* Codes of GELU(x) straight from the pre-activation x: the same codes, bit
** for bit, as kf_gelu1 (kernels/ops_f32.h) followed by qz_affine_codes_s8 /
** qz_drq_gelu_split_s8 (whose return value and layout they share), without
** computing erff for most elements.
**
** How: qz_gelu_near(x) is a branch-free approximation (Abramowitz and Stegun
** 7.1.26 for erfc, |error| <= 1.5e-7, times our own exp) that stays within
** QZ_GELU_NEAR_TOL * |x| + QZ_GELU_NEAR_ABS of kf_gelu1(x) for every float
** with |x| <= QZ_GELU_NEAR_MAX (tests/kernels/gelu_near_exhaustive checks
** every one of them; test_quant every 251st, with a factor 8 to spare).  A
** code is a monotone function of the value, so when both ends of that
** interval round to the same code it is the code of kf_gelu1(x); an element
** whose interval straddles a step boundary (about 2 * tol / step of them,
** well under 1 %), or that is out of range or NaN, is computed with
** kf_gelu1, and so is every element when a step is outside
** [2^-100, 2^100]. */
#define QZ_GELU_NEAR_TOL 1.52587890625e-05f /* 2^-16 */
#define QZ_GELU_NEAR_ABS 1e-37f
#define QZ_GELU_NEAR_MAX 65536.0f
float qz_gelu_near(float x);
int qz_affine_codes_gelu_s8(const qz_affine *a, const float *x, size_t n, int8_t *out);
/* The same for the values kf_gelu1(x[i]) * mul[i] (one rounded float
** product, as PWAM's vis * lang computes it): for a fixed multiplier the
** product is a monotone function of GELU's value, so the bracket carries
** over; a multiplier that is NaN or beyond 2^100 takes the exact path. */
int qz_affine_codes_gelu_mul_s8(const qz_affine *a, const float *x, const float *mul, size_t n,
                                int8_t *out);
void qz_drq_gelu_split_gelu_s8(const qz_drq_gelu *q, const float *x, size_t n, int8_t *pos,
                               int8_t *neg);

/* ------------------------------------------------------------------ */
/* PTQ4ViT twin-uniform quantizers (baseline)                          */
/* ------------------------------------------------------------------ */

/* As upstream hahnyuan/PTQ4ViT does it (quant_layers/matmul.py
** SoSPTQSLBatchingQuantMatMul, quant_layers/linear.py
** PostGeluPTQSLBatchingQuantLinear, configs/PTQ4ViT.py); V = 2^(k-1) - 1.
**
** Post-Softmax (k-1 bits per region, no sign bit):
**   R2 = [0, 1] with Δ_R2 = scale_r2 = 1 / V (upstream; the paper's
**     1 / 2^(k-1) would stop at 1 - 2^-(k-1)),
**   R1 = [0, V Δ_R1] = [0, 2^-m] with Δ_R1 = Δ_R2 / 2^m, m searched in
**     0..19 (upstream's split candidates 2^-i),
**   x < V Δ_R1 uses R1's grid, otherwise R2's, each value
**   clamp(rint(x / Δ), 0, V).  That is the paper's rule; the upstream code
**   adds both branches (the bug of qz_drq_softmax_upstream; PTQ4RIS's DRQ is
**   this same code), which is not reproduced: in value this quantizer equals
**   qz_drq_softmax with shift = m.
** Post-GELU (k bits, the sign selects the region):
**   R1 = negatives, Δ_R1 = QZ_GELU_MIN / 2^(k-1) fixed (neither searched nor
**     tied to Δ_R2), value clamp(rint(-x / Δ_R1), 0, 2^(k-1)), so -QZ_GELU_MIN
**     is a level,
**   R2 = non-negatives, Δ_R2 = scale_r2 searched, value clamp(rint(x / Δ_R2),
**     0, V); m is unused (0).  Candidates (upstream): max(x) / (2^(k-1) - 0.5)
**     times 0.01 + 1.19 i / steps, i = 0..steps-1 (eq_alpha 0.01, eq_beta
**     1.2, eq_n 100); steps < 1 means 100.  No positive value: Δ_R2 = Δ_R1.
** Both searches minimise the SSE on x and keep the first of equal candidates
** (upstream's argmax: the smaller m, the smaller Δ_R2).  Upstream instead
** maximises a Hessian-weighted similarity of the layer output, alternating
** with the weight search for 3 rounds; callers that have the layer can run
** that around the fake quantizers. */
typedef struct qz_twin {
    int bits;
    int m;            /* softmax: Δ_R1 = Δ_R2 / 2^m; GELU: unused (0) */
    float scale_r2;   /* Δ_R2 */
} qz_twin;

void qz_twin_softmax_fake(const qz_twin *q, const float *x, float *y, size_t n);
qz_twin qz_twin_softmax_search(const float *x, size_t n, int bits);
void qz_twin_gelu_fake(const qz_twin *q, const float *x, float *y, size_t n);
qz_twin qz_twin_gelu_search(const float *x, size_t n, int bits, int steps);

/* ------------------------------------------------------------------ */
/* RORQ: Reorder-based Outlier-Retained Quantization (PTQ4RIS)          */
/* ------------------------------------------------------------------ */

/* Bands by magnitude, computed on calibration data: round r takes the
** remaining non-zero values, t_r = mean(|v|) + 3 std(|v|) (unbiased std, as
** upstream's torch .var()); values with |v| <= t_r form band r, with its own
** asymmetric b-bit quantizer qz_affine_range(min, max, b, 0) over their
** values (so the range contains 0, as upstream's does from round 1 on, where
** the removed values count as zeros); the rest go to the next round; at most
** QZ_MAX_BANDS rounds.  The last band takes everything left, with bound =
** max(t_r, max |v|).  No non-zero value: one band, bound 0, scale 1.  At
** use, an element belongs to the first band whose magnitude bound covers |x|
** (the last band otherwise; upstream sends those to band 0) and is
** fake-quantized with that band's quantizer.  nbands <= 0 (not calibrated):
** qz_rorq_band returns -1 and qz_rorq_fake copies x. */
typedef struct qz_rorq {
    int bits;
    int nbands;
    float bound[QZ_MAX_BANDS];       /* band r holds |x| <= bound[r] */
    qz_affine band[QZ_MAX_BANDS];
} qz_rorq;

int qz_rorq_band(const qz_rorq *q, float x);
/* Integer form for the integer kernels (RORQ as a dense inlier GEMM plus
** sparse corrections): band[i] = qz_rorq_band(q, x[i]), and codes[i] =
** qz_affine_code(&q->band[0], x[i]) - off for band 0, band 0's zero point
** - off for the others.  Bit for bit the same as those calls, vectorised. */
void qz_rorq_codes_s8(const qz_rorq *q, const float *x, size_t n, int off, int8_t *codes,
                      uint8_t *band);
void qz_rorq_fake(const qz_rorq *q, const float *x, float *y, size_t n);
qz_rorq qz_rorq_calibrate(const float *x, size_t n, int bits);

#endif
