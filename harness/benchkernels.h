/*
** benchkernels.h -- `risq bench kernels` (prefix bk_).
**
** This module owns the kernel benchmark: the GEMM shapes of a LAVT model's
** linear and 1x1 layers (derived from its model.yaml, or LAVT-B's published
** sizes), timing the project's own kernels (fp32 kf_gemm_nt, integer
** kq_gemm_s32 over 8- and 4-bit packed weights) side by side with OpenBLAS
** cblas_sgemm and oneDNN dnnl_gemm_u8s8s32 when the build has them
** (RISQ_HAVE_OPENBLAS, RISQ_HAVE_DNNL), the correctness checks that run
** before any timing, the table of GOP/s and ratios, and storing every
** measurement in the results history as a configuration (model "gemm",
** dataset "MxNxK", method = implementation).
*/
#ifndef RISQ_HARNESS_BENCHKERNELS_H
#define RISQ_HARNESS_BENCHKERNELS_H

#include <stddef.h>

struct lavt_config;

/* One distinct GEMM shape: C[M][N] = A[M][K] * W[N][K]^T. */
typedef struct bk_shape {
    int M, N, K;
    int calls[2];        /* calls per forward pass: [0] lavt-tiny, [1] LAVT-B */
    char layers[256];    /* the layers it stands for, e.g. "B:swin.s2.fc1 x18" */
} bk_shape;

typedef struct bk_shapes {
    bk_shape *v;
    int n, cap;
} bk_shapes;

/* Append the distinct linear / 1x1 GEMM shapes of the model cfg describes
** (Swin qkv/proj on the window-padded tokens, MLP, patch merging; PWAM's
** 1x1 projections and word key/value; BERT; the decoder's 1x1 classifier)
** to *s, merging equal (M, N, K) shapes. set: 0 lavt-tiny, 1 LAVT-B (which
** calls[] entry counts the calls and the layer-name prefix). Returns 0,
** -1 when out of memory. */
int bk_shapes_from_config(const struct lavt_config *cfg, int set, bk_shapes *s);

/* LAVT-B's configuration (Swin-B 480 / window 12, BERT-base, 20 tokens). */
void bk_lavt_b_config(struct lavt_config *cfg);

void bk_shapes_free(bk_shapes *s);

/* `risq bench ...` (argv[0] = "bench"): returns the exit status
** (0 ok, 1 a correctness check failed, 2 usage or database error). */
int bk_main(int argc, char **argv);

#endif /* RISQ_HARNESS_BENCHKERNELS_H */
