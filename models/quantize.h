/*
** quantize: recipes, calibration and simulated execution of a quantized LAVT.
**
** A recipe says which quantizer each site of the network gets (by site kind:
** weight, activation, post-Softmax, post-GELU, text) and how its parameters
** are chosen.  Calibration runs the fp32 model on N samples, collects every
** activation site, and searches the quantizer parameters site by site.
** Simulated execution ("quantize -> dequantize" at every site, float compute
** in between) is the reference semantics of a method: qm_apply installs it on
** the model (fake-quantized weight copies + an activation hook) and
** lavt_forward then computes the quantized network.  models/README.md
** ("Quantization") documents recipes, the search and the site list.
*/
#ifndef RISQ_MODELS_QUANTIZE_H
#define RISQ_MODELS_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/quant.h"
#include "models/lavt.h"

/* Quantizer of one site. */
typedef enum {
    QM_FLOAT = 0,      /* not quantized */
    QM_UNIFORM,        /* affine; per tensor for activations, per channel for weights */
    QM_DRQ_SOFTMAX,    /* PTQ4RIS dual-region, post-Softmax */
    QM_DRQ_GELU,       /* PTQ4RIS dual-region, post-GELU */
    QM_TWIN_SOFTMAX,   /* PTQ4ViT twin uniform, post-Softmax */
    QM_TWIN_GELU,      /* PTQ4ViT twin uniform, post-GELU */
    QM_RORQ            /* PTQ4RIS reorder-based outlier-retained */
} qm_qtype;

/* How uniform ranges (activations and weights) are chosen. */
typedef enum {
    QM_RANGE_MINMAX = 0,   /* observed min/max (weights: absmax per channel) */
    QM_RANGE_PERCENTILE,   /* 99.99th percentile (both ends) */
    QM_RANGE_MSE,          /* shrink the range to the smallest quantization MSE of the tensor */
    QM_RANGE_OUTPUT        /* smallest error of the consuming layer's output (see README) */
} qm_range;

typedef enum { QM_OBJ_MSE = 0, QM_OBJ_COSINE } qm_objective;

/* The first (patch embedding) and last (classifier) layers. */
typedef enum { QM_FL_8BIT = 0, QM_FL_FLOAT, QM_FL_SAME } qm_first_last;

/* Which part of the network a recipe quantizes.  QM_SCOPE_UPSTREAM is what
** PTQ4RIS quantizes (its net_wrap wraps the Swin backbone's Conv2d/Linear/
** MatMul and BERT's Linear/MatMul, and skips the PWAM fusion -- Conv1d and
** image_lang_att -- the language gates and the decoder): text.*, vision.*.
** QM_SCOPE_ALL adds fusion.* and decoder. */
typedef enum { QM_SCOPE_UPSTREAM = 0, QM_SCOPE_ALL } qm_scope;

/* How a quantized model runs.  QM_EXEC_SIM: simulated (fake quantization,
** float products) -- the reference semantics.  QM_EXEC_INT: every linear
** layer whose weights are uniform and whose input is uniform, DRQ-GELU or
** RORQ runs on integer codes through kernels/qgemm (packed 8/6/4-bit
** weights); everything else (convolutions, activation x activation
** products, float sites) stays simulated.  Same codes, so the same integer
** sums as the simulated path: results differ only by float rounding. */
typedef enum { QM_EXEC_SIM = 0, QM_EXEC_INT } qm_exec;

#define QM_MAX_KEEP 8

typedef struct qm_recipe {
    char name[48];
    qm_qtype weight;            /* QM_UNIFORM (per output channel, symmetric) or QM_FLOAT */
    qm_qtype act, softmax, gelu, text; /* activation quantizer per site kind */
    qm_range range;
    qm_objective objective;
    int rounds;                 /* alternating activation/weight search rounds */
    qm_first_last first_last;
    qm_scope scope;
    int nkeep;                  /* sites kept in float: fnmatch(3) patterns on site names */
    char keep_float[QM_MAX_KEEP][64];
    qm_exec exec;
    char only[48];              /* non-empty: quantize only the sites whose group starts with
                                ** this; "kind:K": the sites of kind K; "site:NAME":
                                ** that one site */
} qm_recipe;

/* Bit setting WxAy, 2 <= x, y <= 8. */
typedef struct qm_bits {
    int w, a;
} qm_bits;

/* Names of the built-in recipes, NULL-terminated: fp32, minmax, percentile,
** omse, ptq4vit, ptq4ris, ptq4ris-no-drq, ptq4ris-no-rorq.  Each also exists
** as "int:NAME" (the same recipe with exec = QM_EXEC_INT; not for fp32). */
extern const char *const qm_recipe_names[];
int qm_recipe_builtin(const char *name, qm_recipe *out);      /* 0, or -1 if unknown */
const char *qm_exec_name(qm_exec e);                           /* "sim", "int" */
int qm_exec_parse(const char *s, qm_exec *out);
const char *qm_qtype_name(qm_qtype t);                         /* "uniform", "drq-softmax", ... */
int qm_qtype_parse(const char *s, qm_qtype *out);
const char *qm_range_name(qm_range r);
int qm_range_parse(const char *s, qm_range *out);
const char *qm_scope_name(qm_scope s);
int qm_scope_parse(const char *s, qm_scope *out);
const char *qm_first_last_name(qm_first_last f);
int qm_first_last_parse(const char *s, qm_first_last *out);
int qm_bits_parse(const char *s, qm_bits *out);                /* "W8A8" -> {8, 8} */

/* One calibration sample: a preprocessed image and its tokens. */
typedef struct qm_sample {
    const float *image;
    const int32_t *ids, *mask;
} qm_sample;

typedef struct qm_state qm_state;

/* Calibrate model m (fp32 weights, no hook set) for recipe r at bits b on n
** samples.  Deterministic and single-threaded (the collection passes run
** lavt_forward with a NULL pool), so its time is a one-core figure. */
int qm_calibrate(lavt_model *m, const qm_recipe *r, qm_bits b, const qm_sample *samples, int n,
                 qm_state **out, char *err, size_t errlen);

/* Install / remove the quantized execution on m (simulated, or integer when
** the recipe says exec int: then the weights are packed here).  The state
** must outlive the installation; qm_apply replaces any earlier
** installation.  Integer execution keeps scratch buffers in q: one forward
** pass at a time per state. */
int qm_apply(lavt_model *m, qm_state *q, char *err, size_t errlen);
/* Switch how q runs at the next qm_apply (the quantizers stay). */
void qm_set_exec(qm_state *q, qm_exec e);
/* Integer execution: a message when a layer could not get its scratch
** memory during a forward pass since qm_apply (it then ran in float with
** fp32 weights, so the results are not the method's); NULL when all ran. */
const char *qm_exec_error(const qm_state *q);
/* Linear layers qm_apply set up for integer execution (0 when simulated),
** and whether weight site i is one of them. */
int qm_int_layers(const qm_state *q);
/* Attention products it set up for integer execution: scores q k^T with
** both operands uniform, and context P V with DRQ-softmax probabilities and
** uniform values (models/README.md, "Integer execution"). */
int qm_int_products(const qm_state *q);
int qm_site_int(const qm_state *q, int site);
void qm_detach(lavt_model *m);
void qm_free(qm_state *q);
/* qm_apply for a process that will run m as installed and nothing else (a
** speed pass): each weight site's loaded copy is freed as soon as the site
** is set up (lavt_release_site: the layers the integer hooks compute keep
** only their packed codes, the others one packed fp32 copy), so memory
** peaks at one layer more than the quantized model instead of holding the
** fp32 model beside it. Same outputs as qm_apply. q NULL: the fp32 model,
** lavt_release_weights. Afterwards neither q nor another state can be
** applied on m; q must outlive the model's use. Returns 0, or -1 with a
** message. */
int qm_apply_final(lavt_model *m, qm_state *q, char *err, size_t errlen);

/* Bytes the weights of the quantized model take when packed: quantized
** weights at their bit width (rows * cols * bits / 8, rounded up per tensor)
** plus one fp32 scale per output channel; everything else (biases, norms,
** embeddings, float sites) at 4 bytes per value. */
size_t qm_weight_bytes(const lavt_model *m, const qm_state *q);

/* Quantizer parameters as JSON text (malloc'd; the caller frees), and back.
** from_json checks every site name against m. */
char *qm_state_to_json(const lavt_model *m, const qm_state *q);
int qm_state_from_json(const lavt_model *m, const char *json, qm_state **out, char *err,
                       size_t errlen);

/* Describe site i's quantizer in q ("uniform 8b", "drq-softmax 4b s=2^-6",
** "float"...), for `risq model sites --recipe`. */
void qm_describe_site(const qm_state *q, int site, char *buf, size_t n);

#endif
