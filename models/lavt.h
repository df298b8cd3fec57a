/*
** lavt: the LAVT ("lavt_one") referring-segmentation network in fp32.
**
** Owns the model configuration (model.yaml), the weights (safetensors, named as
** the official LAVT state dict) and the forward pass: Swin encoder with a PWAM
** fusion block and gated residual per stage, BERT text encoder, SimpleDecoding
** decoder, bilinear upsample. models/README.md documents the exact semantics
** (it is the contract the PyTorch reference in tools/ also follows).
*/
#ifndef RISQ_MODELS_LAVT_H
#define RISQ_MODELS_LAVT_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/threadpool.h"
#include "models/tokenizer.h"

#define LAVT_MAX_STAGES 4

typedef struct lavt_config {
    char name[64];
    char arch[32];            /* "lavt_one" */
    int input_size;           /* square input, pixels */
    float mean[3], std[3];    /* on [0,1] RGB */
    /* Swin */
    int patch_size, embed_dim, nstages;
    int depths[LAVT_MAX_STAGES], num_heads[LAVT_MAX_STAGES];
    int window_size;
    float mlp_ratio;
    int fusion_heads[LAVT_MAX_STAGES];
    /* BERT */
    int vocab_size, hidden_size, num_layers, bert_heads, intermediate_size;
    int max_position, type_vocab_size;
    float bert_ln_eps;
    /* text */
    int max_tokens;
    int num_classes;
    char vocab_file[256], weights_file[256];
    /* weights: {random: {seed: N}} instead of a file name: every parameter is
    ** drawn at load time from a portable PRNG seeded with N (same bytes on
    ** every machine).  Such a model is speed-only: its accuracy means nothing.
    ** weights_file is then empty. */
    int weights_random;
    uint64_t weights_seed;
} lavt_config;

typedef struct lavt_model lavt_model;

/* Parse and validate a model.yaml into *cfg (no weights touched). Errors read
** "FILE:LINE:COL: message" (or "FILE: missing required key(s): ..."). A
** bert.vocab_size of 0 means "the size of the vocab file" and is resolved by
** lavt_load. */
int lavt_config_load(const char *yaml_path, lavt_config *cfg, char *err, size_t errlen);

/* Every parameter tensor lavt_one expects for cfg, in a fixed order, with its
** official state-dict name and shape (what lavt_load binds; for converters and
** tests). cfg->vocab_size must be resolved (> 0). Returns the count, -1 when
** out of memory. */
typedef void (*lavt_param_fn)(void *ctx, const char *name, int ndim, const int64_t *shape);
int lavt_for_each_param(const lavt_config *cfg, lavt_param_fn fn, void *ctx);

/* Load DIR/model.yaml, DIR/<weights>, DIR/<vocab>. Every missing or misshaped
** tensor is reported with its name. With random weights (weights_random) no
** weights file is read: each tensor is generated from the seed (matrices,
** convolutions, embeddings and relative-position tables ~ truncated normal-like
** with std 0.02, biases 0, norm weights 1, BatchNorm running mean 0 / var 1;
** models/README.md "Random weights"). */
int lavt_load(const char *dir, lavt_model **out, char *err, size_t errlen);
void lavt_free(lavt_model *m);

const lavt_config *lavt_get_config(const lavt_model *m);
/* 1 when the weights are random (model.yaml weights: {random: ...}): the
** model is for speed measurements only and has no meaningful accuracy. */
int lavt_speed_only(const lavt_model *m);
const tok_vocab *lavt_vocab(const lavt_model *m);
size_t lavt_weight_bytes(const lavt_model *m);  /* fp32 parameters held */
size_t lavt_arena_bytes(const lavt_model *m);   /* activation buffers held */

/* RGB8 image of w x h -> normalised CHW float at input_size x input_size
** (bilinear, align_corners=False when the size differs). */
void lavt_preprocess(const lavt_model *m, const uint8_t *rgb, int w, int h, float *out);

/* image: [3][S][S] normalised (S = input_size); ids/mask: [max_tokens];
** logits: [num_classes][S][S]. Not thread-safe per model (uses its arena);
** the pool parallelises inside ops. */
int lavt_forward(lavt_model *m, kt_pool *pool, const float *image,
                 const int32_t *ids, const int32_t *mask, float *logits,
                 char *err, size_t errlen);

/* ------------------------------------------------------------------------ */
/* Quantization sites                                                       */
/* ------------------------------------------------------------------------ */

/* Every quantizable point of the network is a named site: the weight of each
** linear layer / convolution, and each activation that enters a matrix
** product (a linear layer, a convolution, or an activation x activation
** product such as q.k^T or softmax.V).  LayerNorm, the softmax input,
** residual adds and element-wise gates stay in floating point: they are not
** sites.  The list, its order and its names are fixed by the architecture
** (models/README.md, "Quantization sites"). */
typedef enum {
    LAVT_SITE_WEIGHT,  /* weight of a linear layer or convolution */
    LAVT_SITE_ACT,     /* any other activation entering a product */
    LAVT_SITE_SOFTMAX, /* post-Softmax attention probabilities (in [0, 1]) */
    LAVT_SITE_GELU,    /* post-GELU activation (>= -0.16997) */
    LAVT_SITE_TEXT     /* text-encoder activations but the softmax, and the text
                       ** features entering PWAM's key/value projections */
} lavt_site_kind;

#define LAVT_SITE_MAX_USERS 3

typedef struct lavt_site {
    char name[96];          /* e.g. vision.stage2.block1.attn.softmax */
    char group[32];         /* e.g. vision.stage2, text.layer1, fusion.stage0, decoder */
    lavt_site_kind kind;
    int conv;               /* 1: belongs to a convolution (im2col rows) */
    int rows, cols;         /* weights: [rows = output channels][cols]; activations: cols
                            ** = length of a row as the product reads it, rows = 0 */
    int input;              /* weights: the activation site feeding this layer */
    int nusers;             /* activations entering linear layers: the weight sites */
    int users[LAVT_SITE_MAX_USERS];
    int first_last;         /* the network's first (patch embedding) or last (classifier) layer */
    int next;               /* activation x activation operands whose channels pass through
                            ** the product into a linear layer (attention's v): that layer's
                            ** weight site; -1 otherwise */
    int pair;               /* the other operand of an attention product (q <-> k,
                            ** softmax <-> value); -1 otherwise */
    int out_norm;           /* weights: the layer's output is instance-normalised per channel
                            ** over positions (PWAM query and W), so what matters is its
                            ** error relative to each channel's spread */
} lavt_site;

int lavt_site_count(const lavt_model *m);
const lavt_site *lavt_site_get(const lavt_model *m, int i);
int lavt_site_find(const lavt_model *m, const char *name);   /* -1 when unknown */
const char *lavt_site_kind_name(lavt_site_kind k);          /* "weight", "act", ... */

/* Weight sites: the fp32 weights as loaded (BatchNorm already folded), and
** the weights the forward pass uses.  set_weight(NULL) restores fp32; w must
** stay valid while set (the model does not copy it). */
const float *lavt_site_weight_fp32(const lavt_model *m, int site);
void lavt_site_set_weight(lavt_model *m, int site, const float *w);

/* For a process whose weights will not change again (the harness's speed
** jobs and its fp32 accuracy job): free the loaded fp32 copy of a weight
** site, so that memory holds each layer once, as a deployment would.
**   - hooked: a hook computes the site's products from its own copy
**     (integer execution): nothing is packed;
**   - otherwise what the slot holds (the loaded weights, or a quantizer's
**     from lavt_site_set_weight) is packed for the fp32 GEMM of the active
**     ISA and detached (kf_packed_detach): the forward pass reads only the
**     packed copy from then on, on that variant even if the active ISA
**     changes, and the caller may free the weights it had set.
** The forward pass gives the same bits as before. Afterwards
** lavt_site_weight_fp32() returns NULL for the site and
** lavt_site_set_weight() ignores it, so no quantizer can be calibrated or
** applied on it again; a hooked site whose hook declines a product (it ran
** out of memory) gets NaN outputs, where it got the fp32 product before.
** lavt_weight_bytes() is unchanged. Returns 0 (also for a site already
** released or not a weight site), or -1 with a message when out of
** memory (the site is then unchanged). */
int lavt_release_site(lavt_model *m, int site, int hooked, char *err, size_t errlen);
/* lavt_release_site, not hooked, on every weight site not released yet;
** memory peaks at one layer more than before. */
int lavt_release_weights(lavt_model *m, char *err, size_t errlen);

/* Activation sites: when a hook is set, lavt_forward calls it on every
** activation site right before the product reads it, with the values as a
** rows x cols matrix of leading dimension ld (a strided view for q/k/v).  The
** hook may rewrite the values in place (fake quantization) or only look at
** them (calibration).  Values the network still needs in float afterwards
** (residual streams) are copied first, so in-place rewriting is always safe.
** The hook runs on pool threads for window attention: it must be thread-safe,
** or the forward pass must be given a NULL pool.  With a hook set,
** fusion.stageI.attn.out.in is computed centred (models/README.md): exact in
** arithmetic, but the logits may differ from the hook-less pass in the last
** bits. */
typedef void (*lavt_act_hook)(void *ctx, int site, float *x, int rows, int cols, int ld);
void lavt_set_act_hook(lavt_model *m, lavt_act_hook fn, void *ctx);

/* Linear layers (the non-convolution weight sites): when a hook is set,
** lavt_forward offers it every such product y[M][N] = x[M][K] W^T + bias
** (bias may be NULL; N and K are the weight site's rows and cols; x has row
** stride ldx, y ldy) after the activation hook has seen x.  The hook returns
** 1 when it wrote y (integer execution), 0 to let the fp32 GEMM run with
** the weights the site holds.  Same threading rule as the activation hook;
** pool is the forward pass's pool, for the hook's own kernels.
** gelu = 1 (the second layer of BERT's and Swin's MLPs, and PWAM's
** project_mm): x holds the pre-activation; the layer's input is GELU(x) as
** kf_gelu computes it -- times mul element by element (one rounded float
** product; mul has x's layout) when mul is not NULL --, and the activation
** hook has not seen it.  If the hook returns 0, the forward pass computes
** that input in x, hands it to the activation hook and offers the product
** again with gelu = 0 (mul is NULL whenever gelu is 0). */
typedef int (*lavt_linear_hook)(void *ctx, kt_pool *pool, int wsite, const float *x, int M,
                                int ldx, int gelu, const float *mul, const float *bias, float *y,
                                int ldy);
void lavt_set_linear_hook(lavt_model *m, lavt_linear_hook fn, void *ctx);

/* Convolutions (patch embedding, decoder, classifier), likewise: the hook
** gets x [C][H][W] and the geometry, and writes y [O][Ho][Wo] (O = the
** weight site's rows; kf_conv2d's semantics: zero padding, groups 1), or
** returns 0 to let the fp32 convolution run. */
typedef struct lavt_conv_geom {
    int C, H, W, kh, kw, stride, pad;
} lavt_conv_geom;
typedef int (*lavt_conv_hook)(void *ctx, kt_pool *pool, int wsite, const float *x,
                              const lavt_conv_geom *g, const float *bias, float *y);
void lavt_set_conv_hook(lavt_model *m, lavt_conv_hook fn, void *ctx);

/* Attention's activation x activation products (Swin windows, BERT, PWAM):
**   bt = 1, scores:  out[M][N] = A[M][K] B[N][K]^T, A the q site's values
**   bt = 0, context: out[M][N] = A[M][K] B[K][N],   A the softmax site's
** and B those of its pair (lavt_site.pair: the k site, the value site),
** rows of stride lda, ldb, ldo, after the activation hook has seen both.
** The hook gets A's site and returns 1 when it wrote out, 0 to let the fp32
** product run on A and B as they are then.  Window attention calls it from
** pool threads, several at once: `slot` (0 <= slot < LAVT_MM_SLOTS) differs
** between concurrent calls, for the hook's scratch; pool is then NULL. */
#define LAVT_MM_SLOTS 64
typedef int (*lavt_mm_hook)(void *ctx, kt_pool *pool, int slot, int site, int bt, float *a, int lda,
                            int M, int K, float *b, int ldb, int N, float *out, int ldo);
void lavt_set_mm_hook(lavt_model *m, lavt_mm_hook fn, void *ctx);

#endif
