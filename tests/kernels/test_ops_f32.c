/*
** test_ops_f32: every operator of kernels/ops_f32.h against naive
** double-precision versions written here, GELU at known points, bilinear
** resize against hand-computed PyTorch outputs, conv2d against a 7-loop conv
** (strides 1/2/4, pads 0/1, kernels 1/3/4), BatchNorm folding.
** Prints one line per check; exits non-zero on any failure.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops_f32.h"

static int g_fail, g_pass;

static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (ok) g_pass++; else g_fail++;
}

/* splitmix64: small deterministic PRNG. */
static uint64_t g_rng = 0x0b5e55edULL;
static uint64_t rng_next(void) {
  uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static float rng_uniform(float lo, float hi) {
  double u = (double)(rng_next() >> 11) / 9007199254740992.0;
  return (float)(lo + (hi - lo) * u);
}
static float *rand_buf(size_t n, float lo, float hi) {
  float *p = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) p[i] = rng_uniform(lo, hi);
  return p;
}

/* max |got - want| / (atol + rtol |want|) over n values; > 1 means failure. */
static double err_ratio(const float *got, const double *want, size_t n, double atol, double rtol) {
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    double r = fabs(got[i] - want[i]) / (atol + rtol * fabs(want[i]));
    if (!(r <= worst)) worst = r; /* NaN propagates as failure */
  }
  return worst;
}

/* ------------------------------------------------------------------------ */

static void test_layernorm(void) {
  static const int colss[] = {1, 3, 64, 97, 768};
  char msg[160];
  for (size_t t = 0; t < sizeof colss / sizeof colss[0]; t++) {
    int rows = 5, cols = colss[t];
    size_t n = (size_t)rows * cols;
    /* An offset of 100 makes a one-pass variance lose digits. */
    float *x = rand_buf(n, 99.0f, 101.0f);
    float *g = rand_buf((size_t)cols, 0.5f, 1.5f), *b = rand_buf((size_t)cols, -1.0f, 1.0f);
    float *y = malloc(n * sizeof(float)), *y0 = malloc(n * sizeof(float));
    double *want = malloc(n * sizeof(double)), *want0 = malloc(n * sizeof(double));
    const double eps = 1e-5;
    for (int r = 0; r < rows; r++) {
      double m = 0, v = 0;
      for (int c = 0; c < cols; c++) m += x[r * cols + c];
      m /= cols;
      for (int c = 0; c < cols; c++) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
      v /= cols;
      for (int c = 0; c < cols; c++) {
        double z = (x[r * cols + c] - m) / sqrt(v + eps);
        want0[r * cols + c] = z;
        want[r * cols + c] = z * g[c] + b[c];
      }
    }
    kf_layernorm(NULL, x, rows, cols, g, b, (float)eps, y);
    kf_layernorm(NULL, x, rows, cols, NULL, NULL, (float)eps, y0);
    double e1 = err_ratio(y, want, n, 1e-4, 1e-4), e2 = err_ratio(y0, want0, n, 1e-4, 1e-4);
    kf_layernorm(NULL, x, rows, cols, g, b, (float)eps, x); /* in place */
    int inplace = memcmp(x, y, n * sizeof(float)) == 0;
    snprintf(msg, sizeof msg, "layernorm cols=%d (affine err %.3f, plain err %.3f, in place same)",
             cols, e1, e2);
    check(e1 <= 1 && e2 <= 1 && inplace, msg);
    free(x); free(g); free(b); free(y); free(y0); free(want); free(want0);
  }

  /* Rows are normalised several at a time; every row must come out as the
  ** one-row algorithm (double sums in column order, then float) gives it,
  ** with its own statistics (magnitudes from 2^-40 to 2^40). */
  int same = 1, rows_max = 9;
  for (size_t t = 0; t < sizeof colss / sizeof colss[0]; t++) {
    int cols = colss[t];
    size_t n = (size_t)rows_max * cols;
    float *x = rand_buf(n, -1.0f, 1.0f), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = ldexpf(x[i], (int)rng_uniform(-40.0f, 40.0f));
    float *g = rand_buf((size_t)cols, 0.5f, 1.5f), *b = rand_buf((size_t)cols, -1.0f, 1.0f);
    for (int rows = 1; rows <= rows_max; rows++) {
      kf_layernorm(NULL, x, rows, cols, g, b, 1e-5f, y);
      for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        double sum = 0, ss = 0;
        for (int c = 0; c < cols; c++) sum += xr[c];
        double mean = sum / cols;
        for (int c = 0; c < cols; c++) {
          double d = xr[c] - mean;
          ss += d * d;
        }
        float rstd = (float)(1.0 / sqrt(ss / cols + (double)1e-5f)), fmean = (float)mean;
        for (int c = 0; c < cols; c++) {
          float v = (xr[c] - fmean) * rstd * g[c] + b[c];
          if (memcmp(&v, &y[(size_t)r * cols + c], sizeof v) != 0) same = 0;
        }
      }
    }
    free(x); free(y); free(g); free(b);
  }
  check(same, "layernorm, 1..9 rows: every row bit for bit as the one-row algorithm");
}

static void test_instnorm(void) {
  static const int shapes[][2] = {{1, 5}, {7, 1}, {7, 63}, {100, 64}, {33, 65}, {50, 130}};
  char msg[160];
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    int rows = shapes[t][0], cols = shapes[t][1];
    size_t n = (size_t)rows * cols;
    float *x = rand_buf(n, -3.0f, 5.0f);
    double *want = malloc(n * sizeof(double));
    const double eps = 1e-5;
    for (int c = 0; c < cols; c++) {
      double m = 0, v = 0;
      for (int r = 0; r < rows; r++) m += x[r * cols + c];
      m /= rows;
      for (int r = 0; r < rows; r++) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
      v /= rows;
      for (int r = 0; r < rows; r++) want[r * cols + c] = (x[r * cols + c] - m) / sqrt(v + eps);
    }
    kf_instnorm_cols(x, rows, cols, (float)eps);
    double e = err_ratio(x, want, n, 1e-4, 1e-4);
    snprintf(msg, sizeof msg, "instnorm_cols rows=%d cols=%d (err %.3f)", rows, cols, e);
    check(e <= 1, msg);
    free(x); free(want);
  }
}

static void test_softmax(void) {
  static const int shapes[][2] = {{1, 1}, {3, 7}, {4, 64}, {2, 1000}};
  char msg[160];
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    int rows = shapes[t][0], cols = shapes[t][1];
    size_t n = (size_t)rows * cols;
    /* Large logits: a naive exp() would overflow. */
    float *x = rand_buf(n, -20.0f, 20.0f);
    for (size_t i = 0; i < n; i += 3) x[i] += 1000.0f;
    double *want = malloc(n * sizeof(double));
    for (int r = 0; r < rows; r++) {
      double mx = -INFINITY, s = 0;
      for (int c = 0; c < cols; c++) mx = fmax(mx, x[r * cols + c]);
      for (int c = 0; c < cols; c++) s += exp(x[r * cols + c] - mx);
      for (int c = 0; c < cols; c++) want[r * cols + c] = exp(x[r * cols + c] - mx) / s;
    }
    kf_softmax_rows(NULL, x, rows, cols);
    double e = err_ratio(x, want, n, 1e-7, 1e-5);
    snprintf(msg, sizeof msg, "softmax rows=%d cols=%d, logits near 1000 (err %.3f)", rows, cols, e);
    check(e <= 1, msg);
    free(x); free(want);
  }
}

static void test_activations(void) {
  char msg[160];
  float p[] = {1.0f, -1.0f, 0.0f, 10.0f, -10.0f};
  kf_gelu(NULL, p, 5);
  snprintf(msg, sizeof msg, "gelu(1)=%.9g gelu(-1)=%.9g gelu(0)=%g gelu(10)=%g gelu(-10)=%g",
           p[0], p[1], p[2], p[3], p[4]);
  check(fabs(p[0] - 0.8413447460685429) < 1e-6 && fabs(p[1] + 0.15865525393145707) < 1e-6 &&
            p[2] == 0.0f && p[3] == 10.0f && fabs(p[4]) < 1e-6, msg);

  size_t n = 2001;
  float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
  double *want = malloc(n * sizeof(double));
  for (size_t i = 0; i < n; i++) x[i] = -8.0f + 16.0f * (float)i / (float)(n - 1);

  memcpy(y, x, n * sizeof(float));
  kf_gelu(NULL, y, n);
  for (size_t i = 0; i < n; i++) want[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
  double e = err_ratio(y, want, n, 1e-6, 1e-5);
  snprintf(msg, sizeof msg, "gelu on [-8, 8] vs double erf (err %.3f)", e);
  check(e <= 1, msg);

  memcpy(y, x, n * sizeof(float));
  kf_tanh(y, n);
  for (size_t i = 0; i < n; i++) want[i] = tanh(x[i]);
  e = err_ratio(y, want, n, 1e-6, 1e-5);
  snprintf(msg, sizeof msg, "tanh on [-8, 8] vs double (err %.3f)", e);
  check(e <= 1, msg);

  memcpy(y, x, n * sizeof(float));
  kf_relu(y, n);
  int ok = 1;
  for (size_t i = 0; i < n; i++) ok &= y[i] == (x[i] > 0 ? x[i] : 0.0f);
  check(ok, "relu on [-8, 8] exact");
  free(x); free(y); free(want);
}

/* ------------------------------------------------------------------------ */

/* The specification: 7 loops, double accumulation. */
static void conv_naive(const float *x, int C, int H, int W, const float *w, const float *bias,
                       int O, int kh, int kw, int stride, int pad, double *y) {
  int Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
  for (int o = 0; o < O; o++)
    for (int oh = 0; oh < Ho; oh++)
      for (int ow = 0; ow < Wo; ow++) {
        double s = bias ? bias[o] : 0.0;
        for (int c = 0; c < C; c++)
          for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
              int ih = oh * stride - pad + ky, iw = ow * stride - pad + kx;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              s += (double)w[((o * C + c) * kh + ky) * kw + kx] * x[(c * H + ih) * W + iw];
            }
        y[(o * Ho + oh) * Wo + ow] = s;
      }
}

/* Error bound for the conv: relative to sum |w||x| per output. */
static double conv_err(const float *y, const double *want, size_t n, int kdim) {
  return err_ratio(y, want, n, 1e-5 * kdim, 1e-5);
}

static int run_conv(kt_pool *pool2, int C, int H, int W, int O, int k, int stride, int pad,
                    int with_bias, double *err_out) {
  int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
  size_t ny = (size_t)O * Ho * Wo;
  float *x = rand_buf((size_t)C * H * W, -1, 1), *w = rand_buf((size_t)O * C * k * k, -1, 1);
  float *b = with_bias ? rand_buf((size_t)O, -1, 1) : NULL;
  double *want = malloc(ny * sizeof(double));
  conv_naive(x, C, H, W, w, b, O, k, k, stride, pad, want);

  /* Caller scratch with a guard after it, NULL scratch, and a 2-thread pool. */
  size_t ns = kf_conv2d_scratch(C, H, W, k, k, stride, pad);
  float *scratch = malloc((ns + 16) * sizeof(float));
  for (size_t i = 0; i < 16; i++) scratch[ns + i] = -12345.0f;
  float *y1 = malloc((ny + 1) * sizeof(float)), *y2 = malloc((ny + 1) * sizeof(float));
  float *y3 = malloc((ny + 1) * sizeof(float));
  y1[ny] = y2[ny] = y3[ny] = -777.0f;
  kf_conv2d(NULL, x, C, H, W, w, b, O, k, k, stride, pad, y1, scratch);
  kf_conv2d(NULL, x, C, H, W, w, b, O, k, k, stride, pad, y2, NULL);
  kf_conv2d(pool2, x, C, H, W, w, b, O, k, k, stride, pad, y3, NULL);

  int ok = 1;
  for (size_t i = 0; i < 16; i++) ok &= scratch[ns + i] == -12345.0f;
  ok &= y1[ny] == -777.0f && y2[ny] == -777.0f && y3[ny] == -777.0f;
  ok &= memcmp(y1, y2, ny * sizeof(float)) == 0 && memcmp(y1, y3, ny * sizeof(float)) == 0;
  *err_out = conv_err(y1, want, ny, C * k * k);
  ok &= *err_out <= 1;
  free(x); free(w); free(b); free(want); free(scratch); free(y1); free(y2); free(y3);
  return ok;
}

static void test_conv2d(kt_pool *pool2) {
  static const int strides[] = {1, 2, 4}, pads[] = {0, 1}, ks[] = {1, 3, 4};
  char msg[200];
  for (int a = 0; a < 3; a++)
    for (int p = 0; p < 2; p++)
      for (int c = 0; c < 3; c++) {
        int s = strides[a], pad = pads[p], k = ks[c];
        /* Odd, non-square sizes; channel counts off the tile sizes. */
        int C = 3 + a + c, H = 13 + p, W = 11 + 2 * c, O = 5 + 2 * a;
        double e;
        int ok = run_conv(pool2, C, H, W, O, k, s, pad, (a + p + c) % 2, &e);
        snprintf(msg, sizeof msg,
                 "conv2d C=%d %dx%d O=%d k=%d stride=%d pad=%d (err %.3f; scratch/NULL/2 threads identical, guards kept)",
                 C, H, W, O, k, s, pad, e);
        check(ok, msg);
      }
  /* Large enough to be split into several im2col blocks and threads. */
  double e;
  int ok = run_conv(pool2, 64, 50, 50, 9, 3, 1, 1, 1, &e);
  snprintf(msg, sizeof msg, "conv2d C=64 50x50 O=9 k=3 (several im2col blocks) (err %.3f)", e);
  check(ok, msg);
  ok = run_conv(pool2, 40, 30, 30, 17, 1, 1, 0, 1, &e);
  snprintf(msg, sizeof msg, "conv2d 1x1 pointwise C=40 30x30 O=17 (err %.3f)", e);
  check(ok, msg);
}

static void test_bn_fold(void) {
  int C = 6, H = 9, W = 8, O = 7, k = 3;
  int per_out = C * k * k, Ho = H, Wo = W;
  size_t ny = (size_t)O * Ho * Wo;
  float *x = rand_buf((size_t)C * H * W, -1, 1), *w = rand_buf((size_t)O * per_out, -1, 1);
  float *b = rand_buf((size_t)O, -1, 1);
  float *g = rand_buf((size_t)O, 0.5f, 2), *beta = rand_buf((size_t)O, -1, 1);
  float *mean = rand_buf((size_t)O, -1, 1), *var = rand_buf((size_t)O, 0.1f, 3);
  const float eps = 1e-5f;
  float *y = malloc(ny * sizeof(float));
  double *want = malloc(ny * sizeof(double));

  /* conv then BatchNorm, in double. */
  conv_naive(x, C, H, W, w, b, O, k, k, 1, 1, want);
  for (int o = 0; o < O; o++)
    for (int i = 0; i < Ho * Wo; i++) {
      double *v = &want[(size_t)o * Ho * Wo + i];
      *v = (*v - mean[o]) / sqrt((double)var[o] + eps) * g[o] + beta[o];
    }
  kf_bn_fold(w, b, O, per_out, g, beta, mean, var, eps);
  kf_conv2d(NULL, x, C, H, W, w, b, O, k, k, 1, 1, y, NULL);
  double e = conv_err(y, want, ny, per_out * 4);
  char msg[160];
  snprintf(msg, sizeof msg, "bn_fold: folded conv == conv + BatchNorm (err %.3f)", e);
  check(e <= 1, msg);
  free(x); free(w); free(b); free(g); free(beta); free(mean); free(var); free(y); free(want);
}

/* ------------------------------------------------------------------------ */

static int resize_case(const float *x, int C, int H, int W, int Ho, int Wo, int ac,
                       const double *want) {
  size_t n = (size_t)C * Ho * Wo;
  float *y = malloc((n + 1) * sizeof(float));
  y[n] = 4242.0f;
  kf_resize_bilinear(x, C, H, W, y, Ho, Wo, ac);
  int ok = err_ratio(y, want, n, 1e-6, 1e-6) <= 1 && y[n] == 4242.0f;
  if (!ok)
    for (size_t i = 0; i < n; i++) printf("     [%zu] got %.7g want %.7g\n", i, y[i], want[i]);
  free(y);
  return ok;
}

static void test_resize(void) {
  /* Expected values worked out by hand from PyTorch's formulas (and equal to
  ** what F.interpolate prints for these inputs). */
  const float x22[] = {1, 2, 3, 4};
  const double up_f[] = {1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5,
                         2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0};
  check(resize_case(x22, 1, 2, 2, 4, 4, 0, up_f), "resize 2x2->4x4 align_corners=False");

  const double up_t[] = {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4};
  check(resize_case(x22, 1, 2, 2, 3, 3, 1, up_t), "resize 2x2->3x3 align_corners=True");

  /* Two channels (second negated) to catch channel offsets. */
  float x44[32];
  for (int i = 0; i < 16; i++) { x44[i] = (float)i; x44[16 + i] = -(float)i; }
  const double down_f[] = {2.5, 4.5, 10.5, 12.5, -2.5, -4.5, -10.5, -12.5};
  check(resize_case(x44, 2, 4, 4, 2, 2, 0, down_f), "resize 2ch 4x4->2x2 align_corners=False");
  const double down_t[] = {0, 3, 12, 15, 0, -3, -12, -15};
  check(resize_case(x44, 2, 4, 4, 2, 2, 1, down_t), "resize 2ch 4x4->2x2 align_corners=True");

  const float x13[] = {0, 10, 20};
  const double w5_f[] = {0, 4, 10, 16, 20};
  check(resize_case(x13, 1, 1, 3, 1, 5, 0, w5_f), "resize 1x3->1x5 align_corners=False (edge clamp)");
  const double w5_t[] = {0, 5, 10, 15, 20};
  check(resize_case(x13, 1, 1, 3, 1, 5, 1, w5_t), "resize 1x3->1x5 align_corners=True");

  /* Output size 1: align_corners=True takes the first pixel; False the centre. */
  const float x23[] = {1, 2, 3, 4, 5, 6};
  const double one_t[] = {1}, one_f[] = {3.5};
  check(resize_case(x23, 1, 2, 3, 1, 1, 1, one_t), "resize 2x3->1x1 align_corners=True");
  check(resize_case(x23, 1, 2, 3, 1, 1, 0, one_f), "resize 2x3->1x1 align_corners=False");

  /* Same size is a copy in both modes. */
  const double same[] = {1, 2, 3, 4, 5, 6};
  check(resize_case(x23, 1, 2, 3, 2, 3, 0, same) && resize_case(x23, 1, 2, 3, 2, 3, 1, same),
        "resize same size is identity");

  /* A 1-pixel input broadcasts. */
  const float x11[] = {7};
  const double b7[] = {7, 7, 7, 7, 7, 7};
  check(resize_case(x11, 1, 1, 1, 2, 3, 0, b7) && resize_case(x11, 1, 1, 1, 2, 3, 1, b7),
        "resize 1x1->2x3 broadcasts");
}

/* Layernorm, softmax and GELU on 2 and 3 threads: the bits of one thread,
** on shapes large enough to be split (rows that are not a multiple of the
** split, GELU's last chunk partial), guards after the output intact. */
static void test_threads(kt_pool *pools[2]) {
  const int rows = 301, cols = 257, G = 16;
  const size_t n = (size_t)rows * cols;
  float *x = rand_buf(n, -6.0f, 6.0f), *g = rand_buf((size_t)cols, 0.5f, 1.5f);
  float *b = rand_buf((size_t)cols, -1.0f, 1.0f);
  float *one = malloc((n + G) * sizeof(float)), *many = malloc((n + G) * sizeof(float));
  for (int op = 0; op < 3; op++) {
    static const char *const names[] = {"layernorm", "softmax_rows", "gelu"};
    int same = 1;
    for (int t = -1; t < 2; t++) {
      kt_pool *pool = t < 0 ? NULL : pools[t];
      float *y = t < 0 ? one : many;
      for (int i = 0; i < G; i++) y[n + i] = -1234.5f;
      if (op == 0) {
        kf_layernorm(pool, x, rows, cols, g, b, 1e-5f, y);
      } else {
        memcpy(y, x, n * sizeof(float));
        if (op == 1) kf_softmax_rows(pool, y, rows, cols);
        else kf_gelu(pool, y, n);
      }
      for (int i = 0; i < G; i++) same &= y[n + i] == -1234.5f;
      if (t >= 0) same &= memcmp(one, many, n * sizeof(float)) == 0;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s %dx%d: 2 and 3 threads give the bits of one, guards intact",
             names[op], rows, cols);
    check(same, msg);
  }
  free(x); free(g); free(b); free(one); free(many);
}

int main(void) {
  kt_pool *pool2 = kt_pool_create(2), *pool3 = kt_pool_create(3);
  check(pool2 != NULL && pool3 != NULL, "2- and 3-thread pools created");
  test_layernorm();
  test_instnorm();
  test_softmax();
  test_activations();
  test_threads((kt_pool *[2]){pool2, pool3});
  test_conv2d(pool2);
  test_bn_fold();
  test_resize();
  kt_pool_destroy(pool2);
  kt_pool_destroy(pool3);
  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
