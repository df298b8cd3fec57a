/*
** evaluate: running one model over one dataset split.
**
** Owns model lookup (suite entry -> zoo folder), prediction of one
** expression's mask, the accuracy pass (RIS metrics of harness/metrics.h,
** plus agreement with an fp32 reference when one is given), and the
** calibration samples a quantization recipe is calibrated on.  Used by
** `risq run` (harness/runner.c) and `risq model` / `risq sensitivity`
** (harness/modelcmd.c).
*/
#ifndef RISQ_HARNESS_EVALUATE_H
#define RISQ_HARNESS_EVALUATE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "datasets/dataset.h"
#include "harness/metrics.h"
#include "kernels/threadpool.h"
#include "models/lavt.h"
#include "models/quantize.h"

/* Synthetic datasets calibrate on the generator's output for seed + this:
** same distribution, no image shared with the evaluation split. */
#define EV_CALIB_SEED_OFFSET 1000000u

typedef struct ev_ctx {
    lavt_model *model;
    const lavt_config *cfg;
    kt_pool *pool;
    float *image, *logits, *up; /* input, S x S logits, logits at dataset size */
    uint8_t *pred;              /* predicted mask at the image's size */
    size_t up_cap, pred_cap;
} ev_ctx;

int ev_init(ev_ctx *e, lavt_model *m, int threads);
void ev_free(ev_ctx *e);

/* Predict the mask of one expression at the image's own resolution into
** e->pred (e->logits keeps the S x S logits).  image_ready: e->image already
** holds this image. */
int ev_predict(ev_ctx *e, const ds_image *im, const char *sentence, int image_ready, char *err,
               size_t errlen);

/* Agreement of a (quantized) pass with the fp32 reference, over expressions:
** fp_agreement = mean IoU of the two predicted masks at the model's
** resolution x 100 (1 when both are empty); logit_sqnr_db =
** 10 log10(sum ref^2 / sum (out - ref)^2) over every logit. */
typedef struct ev_agree {
    int64_t n;
    double iou_sum, signal, noise;
    int64_t pix_same, pix_total;   /* pixels where the two masks agree, of all */
} ev_agree;

double ev_fp_agreement(const ev_agree *a);
double ev_logit_sqnr_db(const ev_agree *a);   /* +inf when identical */
double ev_pixel_agreement(const ev_agree *a); /* % of pixels with the same class */
/* Agreement of n expressions' logits out[] with ref[] (ev_ref_floats() per
** expression, both in the same order), added into *ag. */
void ev_agree_logits(ev_agree *ag, const lavt_config *c, const float *out, const float *ref,
                     size_t n);

/* Floats of reference logits per expression. */
size_t ev_ref_floats(const lavt_config *c);

/* Expressions of a split, in the order ev_accuracy evaluates them. */
int64_t ev_expressions(const ds_dataset *d);

/* Accuracy over every expression of the split.  ref_out: when non-NULL, the
** S x S logits of every expression are appended to it (the fp32 reference).
** ref_in: when non-NULL, that reference (ev_ref_floats() per expression, in
** the same order) is compared with into *ag.  iou: when non-NULL, each
** expression's IoU (0..1) in order, ev_expressions(d) of them.  stop:
** checked between expressions. */
int ev_accuracy(ev_ctx *e, const ds_dataset *d, mt_acc *acc, FILE *ref_out, const float *ref_in,
                ev_agree *ag, double *iou, const volatile sig_atomic_t *stop, char *err,
                size_t errlen);

/* Calibration samples: the first n expressions of d (each sample's first
** sentence, then second sentences if there are fewer samples than n),
** preprocessed for m. */
typedef struct ev_calib {
    int n;
    qm_sample *s;
    float *images;
    int32_t *tokens;
} ev_calib;

int ev_calib_build(const lavt_model *m, const ds_dataset *d, int n, ev_calib *out, char *err,
                   size_t errlen);
void ev_calib_free(ev_calib *c);

/* Resolve a model entry to a folder: a path if it contains '/', else NAME
** under --zoo (zoo), $RISQ_ZOO, ./models/zoo or <suite dir>/../models/zoo.
** suite_file may be NULL. */
int ev_resolve_model(const char *entry, const char *zoo, const char *suite_file, char *out,
                     size_t outlen);

#endif
