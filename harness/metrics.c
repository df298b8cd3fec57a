/*
** metrics.c -- RIS accuracy metrics (see metrics.h for the definitions).
**
** Everything is counted in integers; the only floating-point operations
** are the final divisions, so results do not depend on the order in which
** expressions (or per-thread accumulators) are added, except for the
** rounding of sum_iou.
*/
#include "harness/metrics.h"

#include <math.h>

const mt_metric_name mt_metrics[MT_NMETRICS] = {
  { "miou",     "%" },
  { "oiou",     "%" },
  { "prec@0.5", "%" },
  { "prec@0.6", "%" },
  { "prec@0.7", "%" },
  { "prec@0.8", "%" },
  { "prec@0.9", "%" },
};

const double mt_prec_thresholds[MT_NPREC] = { 0.5, 0.6, 0.7, 0.8, 0.9 };

double mt_iou(const uint8_t *a, const uint8_t *b, size_t npix,
              uint64_t *inter, uint64_t *uni){
  uint64_t i = 0, u = 0;
  size_t p;
  for(p = 0; p < npix; p++){
    int x = a[p] != 0, y = b[p] != 0;
    i += (uint64_t)(x & y);
    u += (uint64_t)(x | y);
  }
  if( inter ) *inter = i;
  if( uni ) *uni = u;
  return u ? (double)i / (double)u : 0.0;
}

void mt_init(mt_acc *acc){
  int k;
  acc->n = 0;
  acc->sum_iou = 0.0;
  acc->cum_i = 0;
  acc->cum_u = 0;
  for(k = 0; k < MT_NPREC; k++) acc->prec_hits[k] = 0;
}

double mt_add_iu(mt_acc *acc, uint64_t inter, uint64_t uni){
  double iou = uni ? (double)inter / (double)uni : 0.0;
  int k;
  acc->n++;
  acc->sum_iou += iou;
  acc->cum_i += inter;
  acc->cum_u += uni;
  /* LAVT counts IoU >= t.  The test is done exactly in integers:
  ** I/U >= (5+k)/10  <=>  10*I >= (5+k)*U.  For masks below 2^32 pixels
  ** this agrees with comparing the correctly rounded double I/U against
  ** the double constant, as LAVT does, and avoids any doubt at e.g. 3/5.
  ** U == 0 means IoU 0, which passes no threshold. */
  if( uni ){
    for(k = 0; k < MT_NPREC; k++){
      if( 10u*inter >= (uint64_t)(5 + k)*uni ) acc->prec_hits[k]++;
    }
  }
  return iou;
}

double mt_add(mt_acc *acc, const uint8_t *pred, const uint8_t *gt,
              size_t npix){
  uint64_t i, u;
  mt_iou(pred, gt, npix, &i, &u);
  return mt_add_iu(acc, i, u);
}

void mt_merge(mt_acc *dst, const mt_acc *src){
  int k;
  dst->n += src->n;
  dst->sum_iou += src->sum_iou;
  dst->cum_i += src->cum_i;
  dst->cum_u += src->cum_u;
  for(k = 0; k < MT_NPREC; k++) dst->prec_hits[k] += src->prec_hits[k];
}

int64_t mt_count(const mt_acc *acc){
  return acc->n;
}

double mt_miou(const mt_acc *acc){
  if( acc->n <= 0 ) return NAN;
  return 100.0 * acc->sum_iou / (double)acc->n;
}

double mt_oiou(const mt_acc *acc){
  if( acc->n <= 0 ) return NAN;
  if( acc->cum_u == 0 ) return 0.0;
  return 100.0 * (double)acc->cum_i / (double)acc->cum_u;
}

double mt_prec(const mt_acc *acc, int k){
  if( k < 0 || k >= MT_NPREC || acc->n <= 0 ) return NAN;
  return 100.0 * (double)acc->prec_hits[k] / (double)acc->n;
}

double mt_value(const mt_acc *acc, int id){
  switch( id ){
    case MT_MIOU: return mt_miou(acc);
    case MT_OIOU: return mt_oiou(acc);
    default:
      if( id >= MT_PREC50 && id <= MT_PREC90 ) return mt_prec(acc, id - MT_PREC50);
      return NAN;
  }
}
