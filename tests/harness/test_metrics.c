/*
** test_metrics.c -- checks harness/metrics.c against hand-computed values.
** One line per check; exit status 1 when any check fails.
*/
#include "harness/metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int nfail = 0;

#define CHECK(cond, desc) do{                                              \
    if( cond ) printf("ok   %s\n", desc);                                  \
    else{ printf("FAIL %s  (%s:%d: %s)\n", desc, __FILE__, __LINE__, #cond); \
          nfail++; }                                                       \
  }while(0)

static int near(double a, double b){ return fabs(a - b) <= 1e-12; }

int main(void){
  /* Small masks, I and U counted by hand. */
  static const uint8_t perfect_p[] = {1, 0, 1, 1, 0};
  static const uint8_t perfect_g[] = {1, 0, 1, 1, 0};      /* I=3 U=3 */
  static const uint8_t emptyp_p[]  = {0, 0, 0, 0, 0};
  static const uint8_t emptyp_g[]  = {1, 1, 0, 0, 0};      /* I=0 U=2 */
  static const uint8_t empty2_p[]  = {0, 0, 0, 0, 0};
  static const uint8_t empty2_g[]  = {0, 0, 0, 0, 0};      /* I=0 U=0 */
  static const uint8_t part_p[]    = {1, 1, 1, 0, 0};
  static const uint8_t part_g[]    = {0, 1, 1, 1, 0};      /* I=2 U=4 */
  static const uint8_t nz_p[]      = {255, 7, 0, 0};
  static const uint8_t nz_g[]      = {1, 1, 1, 0};         /* I=2 U=3 */
  uint64_t i, u;
  mt_acc acc, a1, a2, th;
  double v;

  /* --- per-expression IoU --- */
  v = mt_iou(perfect_p, perfect_g, 5, &i, &u);
  CHECK(i == 3 && u == 3 && v == 1.0, "perfect mask: I=3 U=3 IoU=1");
  v = mt_iou(emptyp_p, emptyp_g, 5, &i, &u);
  CHECK(i == 0 && u == 2 && v == 0.0, "empty prediction: I=0 U=2 IoU=0");
  v = mt_iou(empty2_p, empty2_g, 5, &i, &u);
  CHECK(i == 0 && u == 0 && v == 0.0, "both empty: U=0 gives IoU=0");
  v = mt_iou(part_p, part_g, 5, &i, &u);
  CHECK(i == 2 && u == 4 && v == 0.5, "partial overlap: I=2 U=4 IoU=0.5");
  v = mt_iou(nz_p, nz_g, 4, &i, &u);
  CHECK(i == 2 && u == 3 && near(v, 2.0/3.0), "any non-zero byte is foreground");
  v = mt_iou(part_p, part_g, 5, NULL, NULL);
  CHECK(v == 0.5, "mt_iou accepts NULL outputs");
  v = mt_iou(part_p, part_g, 0, &i, &u);
  CHECK(i == 0 && u == 0 && v == 0.0, "zero pixels: IoU 0");

  /* --- empty accumulator --- */
  mt_init(&acc);
  CHECK(mt_count(&acc) == 0, "fresh accumulator has 0 expressions");
  CHECK(isnan(mt_miou(&acc)) && isnan(mt_oiou(&acc)) && isnan(mt_prec(&acc, 0)),
        "empty accumulator gives NaN (stored as NULL)");

  /* --- four expressions: IoU 1, 0, 0 (U=0), 0.5 --- */
  CHECK(mt_add(&acc, perfect_p, perfect_g, 5) == 1.0, "mt_add returns IoU 1");
  CHECK(mt_add(&acc, emptyp_p, emptyp_g, 5) == 0.0, "mt_add returns IoU 0");
  CHECK(mt_add(&acc, empty2_p, empty2_g, 5) == 0.0, "mt_add returns 0 for U=0");
  CHECK(mt_add(&acc, part_p, part_g, 5) == 0.5, "mt_add returns IoU 0.5");
  CHECK(mt_count(&acc) == 4, "both-empty expression is counted (4 total)");
  CHECK(acc.cum_i == 5 && acc.cum_u == 9, "cumulative I=5 U=9");
  CHECK(mt_miou(&acc) == 37.5, "miou = (1+0+0+0.5)/4*100 = 37.5");
  CHECK(near(mt_oiou(&acc), 500.0 / 9.0), "oiou = 5/9*100 = 55.555...");
  CHECK(mt_prec(&acc, 0) == 50.0, "prec@0.5 = 2/4 = 50%");
  CHECK(mt_prec(&acc, 1) == 25.0 && mt_prec(&acc, 2) == 25.0
        && mt_prec(&acc, 3) == 25.0 && mt_prec(&acc, 4) == 25.0,
        "prec@0.6..0.9 = 1/4 = 25%");
  CHECK(isnan(mt_prec(&acc, -1)) && isnan(mt_prec(&acc, 5)),
        "prec index out of range gives NaN");

  /* --- the >= rule: IoU exactly at each threshold counts --- */
  mt_init(&th);
  mt_add_iu(&th, 1, 2);      /* 0.5 */
  mt_add_iu(&th, 3, 5);      /* 0.6 */
  mt_add_iu(&th, 7, 10);     /* 0.7 */
  mt_add_iu(&th, 4, 5);      /* 0.8 */
  mt_add_iu(&th, 9, 10);     /* 0.9 */
  CHECK(th.prec_hits[0] == 5 && th.prec_hits[1] == 4 && th.prec_hits[2] == 3
        && th.prec_hits[3] == 2 && th.prec_hits[4] == 1,
        "IoU equal to the threshold passes it (>=)");
  CHECK((3.0/5.0 >= 0.6) && (7.0/10.0 >= 0.7) && (9.0/10.0 >= 0.9),
        "double I/U >= t agrees with the integer test at the boundaries");
  mt_init(&th);
  mt_add_iu(&th, 4999, 10000);
  mt_add_iu(&th, 8999999, 10000000);
  /* 0.4999 passes nothing; 0.8999999 passes 0.5..0.8 but not 0.9 */
  CHECK(th.prec_hits[0] == 1 && th.prec_hits[3] == 1 && th.prec_hits[4] == 0,
        "IoU just below a threshold does not pass it");
  mt_add_iu(&th, 0, 0);
  CHECK(th.prec_hits[0] == 1 && mt_count(&th) == 3,
        "U=0 passes no threshold but counts");

  /* --- merge equals one accumulator over everything --- */
  mt_init(&a1);
  mt_init(&a2);
  mt_add(&a1, perfect_p, perfect_g, 5);
  mt_add(&a1, emptyp_p, emptyp_g, 5);
  mt_add(&a2, empty2_p, empty2_g, 5);
  mt_add(&a2, part_p, part_g, 5);
  mt_merge(&a1, &a2);
  CHECK(memcmp(&a1, &acc, sizeof acc) == 0, "merged accumulators equal the whole");

  /* --- names table and mt_value --- */
  CHECK(strcmp(mt_metrics[MT_MIOU].name, "miou") == 0
        && strcmp(mt_metrics[MT_OIOU].name, "oiou") == 0
        && strcmp(mt_metrics[MT_PREC50].name, "prec@0.5") == 0
        && strcmp(mt_metrics[MT_PREC70].name, "prec@0.7") == 0
        && strcmp(mt_metrics[MT_PREC90].name, "prec@0.9") == 0,
        "metric names match DESIGN.md");
  {
    int all_pct = 1;
    for(int k = 0; k < MT_NMETRICS; k++){
      if( strcmp(mt_metrics[k].unit, "%") != 0 ) all_pct = 0;
    }
    CHECK(all_pct, "all accuracy metrics are in %");
  }
  CHECK(mt_value(&acc, MT_MIOU) == 37.5 && mt_value(&acc, MT_PREC50) == 50.0
        && mt_value(&acc, MT_PREC90) == 25.0 && isnan(mt_value(&acc, 99)),
        "mt_value follows the table");
  CHECK(mt_prec_thresholds[0] == 0.5 && mt_prec_thresholds[4] == 0.9,
        "threshold table 0.5..0.9");

  /* --- a big mask: against a naive count --- */
  {
    enum { N = 480 * 480 };
    static uint8_t p[N], g[N];
    uint64_t ni = 0, nu = 0, x = 12345;
    for(int k = 0; k < N; k++){
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      p[k] = (uint8_t)((x >> 33) & 3 ? 0 : (x >> 40));
      g[k] = (uint8_t)((x >> 50) & 1);
      ni += (p[k] && g[k]);
      nu += (p[k] || g[k]);
    }
    v = mt_iou(p, g, N, &i, &u);
    CHECK(i == ni && u == nu && v == (double)ni / (double)nu,
          "480x480 mask matches a naive count");
  }

  printf("%s: %d failure(s)\n", nfail ? "FAILED" : "PASSED", nfail);
  return nfail ? 1 : 0;
}
