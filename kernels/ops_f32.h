/*
** ops_f32: the element-wise, normalisation and spatial fp32 operators of the
** LAVT network (everything that is not a GEMM).
**
** Layouts: token matrices are row-major [rows][cols] (a Swin feature map of
** H x W pixels and C channels is [H*W][C]); images/feature maps for convs and
** resizes are planar CHW, as in PyTorch. All ops may run in place where the
** comment says so.
*/
#ifndef RISQ_KERNELS_OPS_F32_H
#define RISQ_KERNELS_OPS_F32_H

#include <math.h>
#include <stddef.h>
#include "kernels/gemm_f32.h"
#include "kernels/threadpool.h"

/* Row-wise and element-wise ops take a pool (NULL: the caller's thread
** only) and split their rows over its threads; the bits do not depend on
** the thread count. Called from inside one of the pool's tasks, they run on
** that task's thread. */

/* y[r][:] = (x[r][:] - mean) / sqrt(var + eps) * gamma + beta   (biased var,
** as torch.nn.LayerNorm). gamma/beta may be NULL (1 / 0). In place allowed. */
void kf_layernorm(kt_pool *pool, const float *x, int rows, int cols, const float *gamma,
                  const float *beta, float eps, float *y);

/* Normalise each column over the rows (torch.nn.InstanceNorm1d on a (C, L)
** input, affine=False, biased var). x is [rows=L][cols=C], in place. */
void kf_instnorm_cols(float *x, int rows, int cols, float eps);

/* Numerically stable softmax of each row, in place. */
void kf_softmax_rows(kt_pool *pool, float *x, int rows, int cols);

/* exact: 0.5 x (1 + erf(x / sqrt 2)), in place; kf_gelu1 is one element of
** it (the definition: the integer path's codes of GELU fall back on it) */
void kf_gelu(kt_pool *pool, float *x, size_t n);
static inline float kf_gelu1(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
}
void kf_relu(float *x, size_t n);
void kf_tanh(float *x, size_t n);

/* 2-D convolution, zero padding, groups = 1.
** x: [C][H][W]; w: [O][C][kh][kw] (PyTorch layout); bias: [O] or NULL;
** y: [O][Ho][Wo] with Ho = (H + 2 pad - kh) / stride + 1 (same for W).
** scratch: NULL (allocates internally) or at least kf_conv2d_scratch() floats. */
size_t kf_conv2d_scratch(int C, int H, int W, int kh, int kw, int stride, int pad);
void kf_conv2d(kt_pool *pool, const float *x, int C, int H, int W,
               const float *w, const float *bias, int O, int kh, int kw,
               int stride, int pad, float *y, float *scratch);
/* The same with w packed once by kf_pack_lhs(O, C * kh * kw, w, C * kh * kw)
** (kernels/gemm_f32.h): same bits, no packing of the weights per call. */
void kf_conv2d_packed(kt_pool *pool, const float *x, int C, int H, int W,
                      const kf_packed *wp, const float *bias, int O, int kh, int kw,
                      int stride, int pad, float *y, float *scratch);

/* Fold inference BatchNorm into the preceding conv: w[o][...] *= g[o]/sqrt(v[o]+eps),
** b[o] = (b[o] - m[o]) * g[o]/sqrt(v[o]+eps) + beta[o]. bias_inout must hold O
** floats (pass zeros when the conv had no bias). per_out = C*kh*kw. */
void kf_bn_fold(float *w, float *bias_inout, int O, int per_out,
                const float *gamma, const float *beta, const float *mean,
                const float *var, float eps);

/* Bilinear resize of [C][H][W] to [C][Ho][Wo], as F.interpolate(mode='bilinear')
** with the given align_corners. */
void kf_resize_bilinear(const float *x, int C, int H, int W, float *y,
                        int Ho, int Wo, int align_corners);

#endif
