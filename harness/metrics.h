/*
** metrics.h -- referring-image-segmentation accuracy metrics (prefix mt_).
**
** This module owns the RIS accuracy definitions, computed exactly the way
** LAVT's test.py evaluates a split:
**
**   per expression:  I = |pred AND gt|, U = |pred OR gt|,
**                    IoU = I / U, and IoU = 0 when U == 0
**   over a split:    miou     = mean of the per-expression IoU      x 100
**                    oiou     = (sum I) / (sum U)                   x 100
**                    prec@t   = % of expressions with IoU >= t,
**                               t in {0.5, 0.6, 0.7, 0.8, 0.9}
**
** Masks are byte arrays of npix pixels; 0 is background, any non-zero
** value is foreground.  An expression with U == 0 (both masks empty) still
** counts as one expression with IoU 0, as in LAVT.
**
** The accumulator is a plain struct: no allocation, copyable, and two
** accumulators can be merged (e.g. one per worker thread).
**
** Metric names are the ones used in the results DB, the CLI and reports
** (see shared DESIGN.md "Metrics"); mt_metrics[] lists them with units.
*/
#ifndef RISQ_HARNESS_METRICS_H
#define RISQ_HARNESS_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Number of precision thresholds (0.5, 0.6, 0.7, 0.8, 0.9). */
#define MT_NPREC 5

/* Accumulator over expressions.  Fields are public for inspection but
** should be changed only through mt_init/mt_add/mt_add_iu/mt_merge. */
typedef struct mt_acc {
  int64_t  n;                    /* expressions added */
  double   sum_iou;              /* sum of per-expression IoU (0..1) */
  uint64_t cum_i;                /* sum of intersections (pixels) */
  uint64_t cum_u;                /* sum of unions (pixels) */
  int64_t  prec_hits[MT_NPREC];  /* expressions with IoU >= 0.5 + 0.1*k */
} mt_acc;

/* Identifiers of the accuracy metrics, index into mt_metrics[]. */
enum {
  MT_MIOU = 0,
  MT_OIOU,
  MT_PREC50,
  MT_PREC60,
  MT_PREC70,
  MT_PREC80,
  MT_PREC90,
  MT_NMETRICS
};

/* (name, unit) of one metric as stored in the results DB. */
typedef struct mt_metric_name {
  const char *name;   /* "miou", "oiou", "prec@0.5", ... "prec@0.9" */
  const char *unit;   /* "%" for all of them */
} mt_metric_name;

/* Table of the MT_NMETRICS accuracy metrics, in enum order. */
extern const mt_metric_name mt_metrics[MT_NMETRICS];

/* The precision thresholds 0.5 .. 0.9, index 0..MT_NPREC-1. */
extern const double mt_prec_thresholds[MT_NPREC];

/* Intersection and union of two masks.  Either output pointer may be NULL.
** Returns I/U, or 0.0 when U == 0.  Also used for fp_agreement (IoU of a
** quantized model's mask against the FP32 model's mask). */
double mt_iou(const uint8_t *a, const uint8_t *b, size_t npix,
              uint64_t *inter, uint64_t *uni);

/* Reset an accumulator to zero expressions. */
void mt_init(mt_acc *acc);

/* Add one expression; returns its IoU (0..1). */
double mt_add(mt_acc *acc, const uint8_t *pred, const uint8_t *gt,
              size_t npix);

/* Add one expression from already-computed I and U (I <= U); returns its
** IoU.  Lets callers that count pixels themselves share the definitions. */
double mt_add_iu(mt_acc *acc, uint64_t inter, uint64_t uni);

/* dst += src (for per-thread accumulators). */
void mt_merge(mt_acc *dst, const mt_acc *src);

/* Number of expressions added. */
int64_t mt_count(const mt_acc *acc);

/* Results in percent (0..100).  With zero expressions they return NaN
** (nothing measured: store it as NULL); otherwise oiou is 0 when the
** cumulative union is 0. */
double mt_miou(const mt_acc *acc);
double mt_oiou(const mt_acc *acc);
/* k = 0..4 selects threshold 0.5..0.9; NaN for a k out of range. */
double mt_prec(const mt_acc *acc, int k);

/* Value of metric id (MT_MIOU .. MT_PREC90) in percent; NaN for an unknown
** id or an empty accumulator.  Pairs with mt_metrics[id]. */
double mt_value(const mt_acc *acc, int id);

#endif /* RISQ_HARNESS_METRICS_H */
