/*
** test_measure.c -- checks harness/measure.c: tier names and parsing, the
** probe, and each of the three tiers forced in turn.  A tier the probe says
** is available must open and count; a better one must be refused with a
** message naming the available tier.  So the test passes on machines with
** and without hardware counters (and in builds without PAPI), while always
** asserting on what the probe reports.
*/
#include "harness/measure.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int nfail = 0;

#define CHECK(cond, desc) do{                                              \
    if( cond ) printf("ok   %s\n", desc);                                  \
    else{ printf("FAIL %s  (%s:%d: %s)\n", desc, __FILE__, __LINE__, #cond); \
          nfail++; }                                                       \
  }while(0)

static volatile double sink;

/* Some work worth counting: arithmetic and fresh pages. */
static void work(void){
  static char pages[1 << 22];
  double x = 0;
  for(int i = 0; i < 3000000; i++) x += (double)i * 1e-9;
  for(size_t k = 0; k < sizeof pages; k += 4096) pages[k] = (char)k;
  sink = x + pages[4096];
}

static void check_tier(int t, measure_tier best){
  measure *m = NULL;
  measure_reading r;
  char err[1024] = "", desc[256];
  const char *name = measure_tier_name((measure_tier)t);
  int rc = measure_open(t, &m, err, sizeof err);
  if( t > (int)best ){
    snprintf(desc, sizeof desc, "forced tier '%s' (better than the probe's) is refused", name);
    CHECK(rc != 0 && m == NULL, desc);
    printf("     -> %s\n", err);
    char want[64];
    snprintf(want, sizeof want, "best available tier is '%s'", measure_tier_name(best));
    snprintf(desc, sizeof desc, "refusal of '%s' names the available tier '%s'", name,
             measure_tier_name(best));
    CHECK(strstr(err, want) != NULL && strstr(err, "not available") != NULL, desc);
    return;
  }
  snprintf(desc, sizeof desc, "forced tier '%s' opens", name);
  CHECK(rc == 0 && m != NULL, desc);
  if( m == NULL ){ printf("     -> %s\n", err); return; }
  snprintf(desc, sizeof desc, "tier '%s' reports itself", name);
  CHECK(measure_get_tier(m) == (measure_tier)t, desc);
  for(int rep = 0; rep < 3; rep++){
    CHECK(measure_begin(m, err, sizeof err) == 0, "measure_begin");
    work();
    CHECK(measure_end(m, &r, err, sizeof err) == 0, "measure_end");
  }
  printf("     %s: elapsed %.3f ms", name, r.elapsed_ms);
  for(int k = 0; k < MEASURE_NCOUNTERS; k++)
    printf(", %s %g", measure_counter_name(k), r.counter[k]);
  printf("\n");
  snprintf(desc, sizeof desc, "%s: wall time measured", name);
  CHECK(r.elapsed_ms > 0 && !isnan(r.elapsed_ms), desc);
  if( t == MEASURE_TIMER ){
    int all_nan = 1;
    for(int k = 0; k < MEASURE_NCOUNTERS; k++) all_nan &= isnan(r.counter[k]) != 0;
    CHECK(all_nan, "timer: every counter unavailable (NaN, stored as NULL)");
  }else if( t == MEASURE_SOFTWARE ){
    CHECK(r.counter[MEASURE_TASK_CLOCK_MS] > 0, "software: task_clock_ms counted");
    CHECK(r.counter[MEASURE_TASK_CLOCK_MS] < r.elapsed_ms * 1.5 + 1,
          "software: task_clock_ms in ms (not ns)");
    CHECK(isnan(r.counter[MEASURE_CYCLES]) && isnan(r.counter[MEASURE_INSTRUCTIONS]),
          "software: no hardware counters (NaN)");
    CHECK(isnan(r.counter[MEASURE_PAGE_FAULTS]) || r.counter[MEASURE_PAGE_FAULTS] >= 0,
          "software: page faults counted or NaN");
  }else{
    CHECK(r.counter[MEASURE_CYCLES] > 0 && r.counter[MEASURE_INSTRUCTIONS] > 0,
          "hardware: cycles and instructions counted");
  }
  measure_close(m);
}

int main(void){
  int t = 99;
  char err[512], why[1024];

  CHECK(strcmp(measure_tier_name(MEASURE_HARDWARE), "hardware") == 0
        && strcmp(measure_tier_name(MEASURE_SOFTWARE), "software") == 0
        && strcmp(measure_tier_name(MEASURE_TIMER), "timer") == 0, "tier names");
  CHECK(measure_parse_tier("auto", &t, err, sizeof err) == 0 && t == MEASURE_AUTO, "parse auto");
  CHECK(measure_parse_tier("software", &t, err, sizeof err) == 0 && t == MEASURE_SOFTWARE,
        "parse software");
  CHECK(measure_parse_tier("cycles", &t, err, sizeof err) != 0
        && strstr(err, "auto, hardware, software, timer") != NULL, "bad tier name refused");
  CHECK(strcmp(measure_counter_name(MEASURE_TASK_CLOCK_MS), "task_clock_ms") == 0
        && strcmp(measure_counter_unit(MEASURE_TASK_CLOCK_MS), "ms") == 0, "counter names");

  measure_tier best = measure_probe(why, sizeof why);
  printf("     probe: best tier '%s'%s%s\n", measure_tier_name(best), why[0] ? ": " : "", why);
  CHECK(measure_probe(NULL, 0) == best, "probe is stable");
  CHECK(best == MEASURE_HARDWARE || why[0] != 0, "probe says why a better tier is missing");

  check_tier(MEASURE_TIMER, best);
  check_tier(MEASURE_SOFTWARE, best);
  check_tier(MEASURE_HARDWARE, best);

  {
    measure *m = NULL;
    CHECK(measure_open(MEASURE_AUTO, &m, err, sizeof err) == 0 && measure_get_tier(m) == best,
          "auto opens the probe's tier");
    measure_close(m);
  }
  measure_close(NULL);
  printf("%s: %d failure(s)\n", nfail ? "FAILED" : "PASSED", nfail);
  return nfail ? 1 : 0;
}
