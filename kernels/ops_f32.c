/*
** ops_f32: the element-wise, normalisation and spatial fp32 operators of the
** LAVT network, everything that is not a GEMM (see ops_f32.h for layouts).
**
** Precision: means, variances and softmax denominators are accumulated in
** double, so the result does not drift with the row length; the per-element
** arithmetic is float. Convolution lowers to kf_gemm_nn via im2col and so
** inherits its thread-count determinism.
*/
#include "kernels/ops_f32.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_f32.h"

/* ------------------------------------------------------------------------ */
/* Normalisation.                                                             */

/* Row- and element-wise ops split their rows (or chunks of KF_OP_CHUNK
** elements) over a pool's threads, each thread at least KT_MIN_ELEMS
** elements: every row or element is computed by the same code whatever the
** split, so the result does not depend on the thread count. */
#define KF_OP_CHUNK 4096

typedef struct {
  const float *x;
  float *y;
  int cols;
  const float *gamma, *beta;
  float eps;
} kf_ln_job;

/* Mean and 1/std of rows r .. r + nr - 1 (nr = 1 or 4).  Two passes (mean,
** then squared deviations): no cancellation.  Each row's sums are taken in
** column order, one double add after the other, whatever nr is; with 4 rows
** the four dependent chains overlap, which is where the time goes. */
static void kf_ln_stats(const kf_ln_job *j, int r, int nr, float *fmean, float *rstd) {
  const int cols = j->cols;
  const float *x0 = j->x + (size_t)r * cols;
  double mean[4], ss[4];
  if (nr == 4) {
    /* plain scalars, so that the sums stay in registers */
    const float *x1 = x0 + cols, *x2 = x1 + cols, *x3 = x2 + cols;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int c = 0; c < cols; c++) {
      s0 += x0[c];
      s1 += x1[c];
      s2 += x2[c];
      s3 += x3[c];
    }
    double m0 = s0 / cols, m1 = s1 / cols, m2 = s2 / cols, m3 = s3 / cols;
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    for (int c = 0; c < cols; c++) {
      double d0 = x0[c] - m0, d1 = x1[c] - m1, d2 = x2[c] - m2, d3 = x3[c] - m3;
      q0 += d0 * d0;
      q1 += d1 * d1;
      q2 += d2 * d2;
      q3 += d3 * d3;
    }
    mean[0] = m0, mean[1] = m1, mean[2] = m2, mean[3] = m3;
    ss[0] = q0, ss[1] = q1, ss[2] = q2, ss[3] = q3;
  } else {
    double s0 = 0, q0 = 0;
    for (int c = 0; c < cols; c++) s0 += x0[c];
    double m0 = s0 / cols;
    for (int c = 0; c < cols; c++) {
      double d0 = x0[c] - m0;
      q0 += d0 * d0;
    }
    mean[0] = m0;
    ss[0] = q0;
  }
  for (int k = 0; k < nr; k++) {
    rstd[k] = (float)(1.0 / sqrt(ss[k] / cols + (double)j->eps));
    fmean[k] = (float)mean[k];
  }
}

static void kf_layernorm_range(void *arg, int r0, int r1) {
  const kf_ln_job *j = (const kf_ln_job *)arg;
  const int cols = j->cols;
  for (int r = r0; r < r1;) {
    /* All statistics are read before the rows are overwritten, so x == y is
    ** fine. */
    int nr = r1 - r >= 4 ? 4 : 1;
    float fmean[4], rstd[4];
    kf_ln_stats(j, r, nr, fmean, rstd);
    for (int k = 0; k < nr; k++, r++) {
      const float *xr = j->x + (size_t)r * cols, *g = j->gamma, *b = j->beta;
      float *yr = j->y + (size_t)r * cols;
      const float m = fmean[k], s = rstd[k];
      /* ((x - mean) * rstd) * gamma + beta, one loop per case so that each
      ** vectorises */
      if (g && b)
        for (int c = 0; c < cols; c++) yr[c] = (xr[c] - m) * s * g[c] + b[c];
      else if (g)
        for (int c = 0; c < cols; c++) yr[c] = (xr[c] - m) * s * g[c];
      else if (b)
        for (int c = 0; c < cols; c++) yr[c] = (xr[c] - m) * s + b[c];
      else
        for (int c = 0; c < cols; c++) yr[c] = (xr[c] - m) * s;
    }
  }
}

void kf_layernorm(kt_pool *pool, const float *x, int rows, int cols, const float *gamma,
                  const float *beta, float eps, float *y) {
  if (cols <= 0 || rows <= 0) return;
  kf_ln_job j = {x, y, cols, gamma, beta, eps};
  kt_parallel_for(pool, rows, kt_rows_grain(cols), kf_layernorm_range, &j);
}

/* Columns are processed in blocks of this many so that the per-column sums
** fit on the stack and the sweeps over rows stay row-major. */
#define KF_INSTNORM_BLOCK 64

void kf_instnorm_cols(float *x, int rows, int cols, float eps) {
  if (rows <= 0) return;
  double mean[KF_INSTNORM_BLOCK], acc[KF_INSTNORM_BLOCK];
  float fmean[KF_INSTNORM_BLOCK], rstd[KF_INSTNORM_BLOCK];

  for (int c0 = 0; c0 < cols; c0 += KF_INSTNORM_BLOCK) {
    int nb = cols - c0 < KF_INSTNORM_BLOCK ? cols - c0 : KF_INSTNORM_BLOCK;

    for (int c = 0; c < nb; c++) acc[c] = 0.0;
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * cols + c0;
      for (int c = 0; c < nb; c++) acc[c] += xr[c];
    }
    for (int c = 0; c < nb; c++) {
      mean[c] = acc[c] / rows;
      acc[c] = 0.0;
    }
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * cols + c0;
      for (int c = 0; c < nb; c++) {
        double d = xr[c] - mean[c];
        acc[c] += d * d;
      }
    }
    for (int c = 0; c < nb; c++) {
      fmean[c] = (float)mean[c];
      rstd[c] = (float)(1.0 / sqrt(acc[c] / rows + (double)eps));
    }
    for (int r = 0; r < rows; r++) {
      float *xr = x + (size_t)r * cols + c0;
      for (int c = 0; c < nb; c++) xr[c] = (xr[c] - fmean[c]) * rstd[c];
    }
  }
}

typedef struct {
  float *x;
  int cols;
} kf_rows_job;

static void kf_softmax_range(void *arg, int r0, int r1) {
  const kf_rows_job *j = (const kf_rows_job *)arg;
  const int cols = j->cols;
  for (int r = r0; r < r1; r++) {
    float *xr = j->x + (size_t)r * cols;
    float mx = xr[0];
    for (int c = 1; c < cols; c++)
      if (xr[c] > mx) mx = xr[c];
    /* exp(x - max) <= 1, so nothing overflows; the sum is kept in double.
    ** A row of all -inf gives NaN, as in PyTorch. */
    double sum = 0.0;
    for (int c = 0; c < cols; c++) {
      float e = expf(xr[c] - mx);
      xr[c] = e;
      sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int c = 0; c < cols; c++) xr[c] *= inv;
  }
}

void kf_softmax_rows(kt_pool *pool, float *x, int rows, int cols) {
  if (cols <= 0 || rows <= 0) return;
  kf_rows_job j = {x, cols};
  kt_parallel_for(pool, rows, kt_rows_grain(cols), kf_softmax_range, &j);
}

/* ------------------------------------------------------------------------ */
/* Element-wise activations.                                                  */

typedef struct {
  float *x;
  size_t n, chunk;
} kf_elt_job;

static void kf_gelu_range(void *arg, int c0, int c1) {
  const kf_elt_job *j = (const kf_elt_job *)arg;
  size_t end = (size_t)c1 * j->chunk < j->n ? (size_t)c1 * j->chunk : j->n;
  float *x = j->x;
  for (size_t i = (size_t)c0 * j->chunk; i < end; i++) x[i] = kf_gelu1(x[i]);
}

void kf_gelu(kt_pool *pool, float *x, size_t n) {
  if (n == 0) return;
  /* (beyond INT_MAX chunks, one chunk: one thread) */
  size_t chunks = (n + KF_OP_CHUNK - 1) / KF_OP_CHUNK;
  kf_elt_job j = {x, n, chunks > INT_MAX ? n : KF_OP_CHUNK};
  kt_parallel_for(pool, chunks > INT_MAX ? 1 : (int)chunks, KT_MIN_ELEMS / KF_OP_CHUNK,
                  kf_gelu_range, &j);
}

void kf_relu(float *x, size_t n) {
  /* Written as a comparison (not fmaxf) so that NaN stays NaN, as in torch. */
  for (size_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void kf_tanh(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

/* ------------------------------------------------------------------------ */
/* Convolution.                                                               */

/* The im2col matrix col[C*kh*kw][cols] is built for a block of `cols` output
** pixels at a time, so that its size stays around 4 MiB instead of growing
** with the image (a 3x3 conv over 512 channels at 120x120 would need 265 MB
** at once). Blocking output pixels does not change any sum. */
#define KF_CONV_BLOCK_FLOATS (1 << 20)
#define KF_CONV_BLOCK_MIN 256

static int kf_conv_out(int in, int k, int stride, int pad) {
  if (stride <= 0) return 0;
  int span = in + 2 * pad - k;
  return span < 0 ? 0 : span / stride + 1;
}

/* A 1x1, stride-1, unpadded conv is a plain product: no im2col. */
static int kf_conv_is_pointwise(int kh, int kw, int stride, int pad) {
  return kh == 1 && kw == 1 && stride == 1 && pad == 0;
}

/* Output pixels per im2col block. */
static int kf_conv_block_cols(int C, int kh, int kw, int npix) {
  size_t kdim = (size_t)C * kh * kw;
  size_t nb = KF_CONV_BLOCK_FLOATS / (kdim ? kdim : 1);
  nb = (nb + 7) / 8 * 8;
  if (nb < KF_CONV_BLOCK_MIN) nb = KF_CONV_BLOCK_MIN;
  if (nb > (size_t)npix) nb = (size_t)npix;
  return (int)nb;
}

size_t kf_conv2d_scratch(int C, int H, int W, int kh, int kw, int stride, int pad) {
  int Ho = kf_conv_out(H, kh, stride, pad), Wo = kf_conv_out(W, kw, stride, pad);
  if (Ho == 0 || Wo == 0 || kf_conv_is_pointwise(kh, kw, stride, pad)) return 0;
  return (size_t)C * kh * kw * kf_conv_block_cols(C, kh, kw, Ho * Wo);
}

typedef struct {
  const float *x;
  int C, H, W, kh, kw, stride, pad, Wo;
  int p0, np;     /* output pixels [p0, p0 + np) of this block */
  float *col;     /* [C*kh*kw][np] */
} kf_im2col_args;

/* Fill rows [begin, end) of the im2col block; row r = (c, ky, kx). The
** block's pixels are walked one output row at a time (no division per
** pixel); with stride 1 a row's in-bounds part is one contiguous copy. */
static void kf_im2col_rows(void *arg, int begin, int end) {
  const kf_im2col_args *a = (const kf_im2col_args *)arg;
  for (int r = begin; r < end; r++) {
    int kx = r % a->kw, ky = (r / a->kw) % a->kh, c = r / (a->kw * a->kh);
    const float *xc = a->x + (size_t)c * a->H * a->W;
    float *dst = a->col + (size_t)r * a->np;
    int oh = a->p0 / a->Wo, ow = a->p0 % a->Wo;
    for (int p = 0; p < a->np; oh++, ow = 0) {
      int n = a->Wo - ow < a->np - p ? a->Wo - ow : a->np - p;  /* pixels of this output row */
      int ih = oh * a->stride - a->pad + ky;
      float *d = dst + p;
      p += n;
      if (ih < 0 || ih >= a->H) {
        memset(d, 0, (size_t)n * sizeof(float));
        continue;
      }
      const float *xr = xc + (size_t)ih * a->W;
      int iw0 = ow * a->stride - a->pad + kx;   /* input column of d[0] */
      if (a->stride == 1) {
        /* d[i] reads xr[iw0 + i]: zeros before column 0 and from column W */
        int lo = iw0 < 0 ? -iw0 : 0, hi = a->W - iw0;
        if (lo > n) lo = n;
        if (hi > n) hi = n;
        if (hi < lo) hi = lo;
        memset(d, 0, (size_t)lo * sizeof(float));
        memcpy(d + lo, xr + iw0 + lo, (size_t)(hi - lo) * sizeof(float));
        memset(d + hi, 0, (size_t)(n - hi) * sizeof(float));
      } else {
        for (int i = 0; i < n; i++) {
          int iw = iw0 + i * a->stride;
          d[i] = (iw >= 0 && iw < a->W) ? xr[iw] : 0.0f;
        }
      }
    }
  }
}

/* Last resort when no scratch can be had: direct loops, no extra memory.
** Sums run in (c, ky, kx) order without K blocking, so the last bits can
** differ from the im2col path; only reached when out of memory. */
static void kf_conv2d_direct(const float *x, int C, int H, int W, const float *w,
                             int O, int kh, int kw, int stride, int pad,
                             float *y, int Ho, int Wo) {
  for (int o = 0; o < O; o++)
    for (int oh = 0; oh < Ho; oh++)
      for (int ow = 0; ow < Wo; ow++) {
        float s = 0.0f;
        for (int c = 0; c < C; c++)
          for (int ky = 0; ky < kh; ky++) {
            int ih = oh * stride - pad + ky;
            if (ih < 0 || ih >= H) continue;
            for (int kx = 0; kx < kw; kx++) {
              int iw = ow * stride - pad + kx;
              if (iw < 0 || iw >= W) continue;
              s += w[(((size_t)o * C + c) * kh + ky) * kw + kx] *
                   x[((size_t)c * H + ih) * W + iw];
            }
          }
        y[((size_t)o * Ho + oh) * Wo + ow] = s;
      }
}

/* y[O][cols] = w[O][kdim] * b[kdim][cols] (row stride ldb of b, ldc of y),
** on the weights packed in advance when wp is not NULL. */
static void kf_conv_gemm(kt_pool *pool, const float *w, const kf_packed *wp, int O, int cols,
                         int kdim, const float *b, int ldb, float *y, int ldc) {
  if (wp)
    kf_gemm_nn_packed(pool, wp, cols, b, ldb, y, ldc);
  else
    kf_gemm_nn(pool, O, cols, kdim, w, kdim, b, ldb, y, ldc);
}

static void kf_conv2d_any(kt_pool *pool, const float *x, int C, int H, int W, const float *w,
                          const kf_packed *wp, const float *bias, int O, int kh, int kw,
                          int stride, int pad, float *y, float *scratch) {
  int Ho = kf_conv_out(H, kh, stride, pad), Wo = kf_conv_out(W, kw, stride, pad);
  if (Ho == 0 || Wo == 0 || O <= 0) return;
  int npix = Ho * Wo;
  int kdim = C * kh * kw;

  if (kf_conv_is_pointwise(kh, kw, stride, pad)) {
    /* y[O][HW] = w[O][C] * x[C][HW] */
    kf_conv_gemm(pool, w, wp, O, npix, C, x, npix, y, npix);
  } else {
    float *col = scratch;
    if (!col) col = malloc(kf_conv2d_scratch(C, H, W, kh, kw, stride, pad) * sizeof(float));
    if (!col && !w) {
      /* Out of memory with detached packed weights (kf_packed_detach): no
      ** source for the direct loop either. The model always passes its
      ** scratch, so this is for other callers: NaN, not a crash. */
      for (size_t i = 0; i < (size_t)O * npix; i++) y[i] = NAN;
      return;
    }
    if (!col) {
      kf_conv2d_direct(x, C, H, W, w, O, kh, kw, stride, pad, y, Ho, Wo);
    } else {
      int nb = kf_conv_block_cols(C, kh, kw, npix);
      kf_im2col_args a = {x, C, H, W, kh, kw, stride, pad, Wo, 0, 0, col};
      for (int p0 = 0; p0 < npix; p0 += nb) {
        a.p0 = p0;
        a.np = npix - p0 < nb ? npix - p0 : nb;
        /* Copying is cheap: split only when a chunk has ~16K elements. */
        kt_parallel_for(pool, kdim, 16384 / a.np + 1, kf_im2col_rows, &a);
        /* y[:, p0:p0+np] = w[O][kdim] * col[kdim][np] */
        kf_conv_gemm(pool, w, wp, O, a.np, kdim, col, a.np, y + p0, npix);
      }
      if (col != scratch) free(col);
    }
  }

  if (bias) {
    for (int o = 0; o < O; o++) {
      float *yo = y + (size_t)o * npix;
      for (int p = 0; p < npix; p++) yo[p] += bias[o];
    }
  }
}

void kf_conv2d(kt_pool *pool, const float *x, int C, int H, int W,
               const float *w, const float *bias, int O, int kh, int kw,
               int stride, int pad, float *y, float *scratch) {
  kf_conv2d_any(pool, x, C, H, W, w, NULL, bias, O, kh, kw, stride, pad, y, scratch);
}

void kf_conv2d_packed(kt_pool *pool, const float *x, int C, int H, int W,
                      const kf_packed *wp, const float *bias, int O, int kh, int kw,
                      int stride, int pad, float *y, float *scratch) {
  kf_conv2d_any(pool, x, C, H, W, kf_packed_source(wp), wp, bias, O, kh, kw, stride, pad, y,
                scratch);
}

void kf_bn_fold(float *w, float *bias_inout, int O, int per_out,
                const float *gamma, const float *beta, const float *mean,
                const float *var, float eps) {
  for (int o = 0; o < O; o++) {
    double s = (double)gamma[o] / sqrt((double)var[o] + (double)eps);
    float fs = (float)s;
    float *wo = w + (size_t)o * per_out;
    for (int i = 0; i < per_out; i++) wo[i] *= fs;
    bias_inout[o] = (float)(((double)bias_inout[o] - mean[o]) * s + beta[o]);
  }
}

/* ------------------------------------------------------------------------ */
/* Bilinear resize.                                                           */

/* Source taps of one output index along one axis, computed exactly as
** PyTorch's CPU upsample_bilinear2d does (float arithmetic, same clamps):
**   align_corners=1: src = dst * (in-1)/(out-1)   (0 when out == 1)
**   align_corners=0: src = max((dst + 0.5) * in/out - 0.5, 0)
** then i0 = min(floor(src), in-1), i1 = i0 + (i0 < in-1), l1 = src - i0
** clamped to [0, 1], l0 = 1 - l1. Equal sizes copy straight through. */
static void kf_bilinear_taps(int in, int out, int align_corners, int dst,
                             int *i0, int *i1, float *l0, float *l1) {
  if (in == out) {
    *i0 = *i1 = dst;
    *l0 = 1.0f;
    *l1 = 0.0f;
    return;
  }
  float src;
  if (align_corners) {
    float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    src = scale * (float)dst;
  } else {
    float scale = (float)in / (float)out;
    src = scale * ((float)dst + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
  }
  int i = (int)floorf(src);
  if (i > in - 1) i = in - 1;
  float l = src - (float)i;
  if (l < 0.0f) l = 0.0f;
  if (l > 1.0f) l = 1.0f;
  *i0 = i;
  *i1 = i + (i < in - 1 ? 1 : 0);
  *l1 = l;
  *l0 = 1.0f - l;
}

void kf_resize_bilinear(const float *x, int C, int H, int W, float *y,
                        int Ho, int Wo, int align_corners) {
  if (C <= 0 || H <= 0 || W <= 0 || Ho <= 0 || Wo <= 0) return;
  /* The column taps are the same for every row and channel: computed once
  ** per chunk of output columns (on the stack, no allocation), then used by
  ** all of them. Same arithmetic per pixel as computing them in place. */
  enum { CHUNK = 256 };
  int w0[CHUNK], w1[CHUNK];
  float lw0[CHUNK], lw1[CHUNK];
  for (int ow0 = 0; ow0 < Wo; ow0 += CHUNK) {
    int nw = Wo - ow0 < CHUNK ? Wo - ow0 : CHUNK;
    for (int j = 0; j < nw; j++)
      kf_bilinear_taps(W, Wo, align_corners, ow0 + j, &w0[j], &w1[j], &lw0[j], &lw1[j]);
    for (int c = 0; c < C; c++) {
      const float *xc = x + (size_t)c * H * W;
      float *yc = y + (size_t)c * Ho * Wo + ow0;
      for (int oh = 0; oh < Ho; oh++) {
        int h0, h1;
        float lh0, lh1;
        kf_bilinear_taps(H, Ho, align_corners, oh, &h0, &h1, &lh0, &lh1);
        const float *r0 = xc + (size_t)h0 * W, *r1 = xc + (size_t)h1 * W;
        float *yr = yc + (size_t)oh * Wo;
        for (int j = 0; j < nw; j++)
          yr[j] = lh0 * (lw0[j] * r0[w0[j]] + lw1[j] * r0[w1[j]]) +
                  lh1 * (lw0[j] * r1[w0[j]] + lw1[j] * r1[w1[j]]);
      }
    }
  }
}
