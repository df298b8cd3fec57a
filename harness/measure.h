/*
** measure.h -- per-repetition counters in tiers (prefix measure_).
**
** This module owns what the speed pass counts around one inference and
** where the numbers come from.  Three tiers, best first:
**
**   hardware  PAPI preset events PAPI_TOT_CYC and PAPI_TOT_INS (required),
**             PAPI_L1_DCM or else PAPI_L2_TCM (cache misses, optional),
**             plus the software events below when they can be added;
**   software  perf software events through PAPI's perf_event component:
**             perf::TASK-CLOCK (required), perf::PAGE-FAULTS and
**             perf::CONTEXT-SWITCHES (optional);
**   timer     CLOCK_MONOTONIC only (also when risq is built without PAPI,
**             meson option -Dpapi=disabled, or when perf_event_open is
**             forbidden, e.g. kernel.perf_event_paranoid = 3).
**
** Every reading carries the wall time; a counter the tier does not give is
** NaN (stored as NULL, never 0).  PAPI counts the calling thread only
** (Debian's PAPI has no PAPI_INHERIT), i.e. the thread that runs
** lavt_forward, not the thread pool's workers.
**
** PAPI is initialised only inside measure_open(), which the runner calls in
** the forked child of a configuration; measure_probe() forks a short-lived
** child of its own, so the calling process never initialises PAPI.
**
** Functions returning int give 0 on success, -1 on failure with a message
** in err (errlen bytes, NUL-terminated; err may be NULL).
*/
#ifndef RISQ_HARNESS_MEASURE_H
#define RISQ_HARNESS_MEASURE_H

#include <stddef.h>

/* Tiers, ordered: a larger value is a better tier. */
typedef enum measure_tier {
  MEASURE_TIMER = 0,
  MEASURE_SOFTWARE = 1,
  MEASURE_HARDWARE = 2
} measure_tier;

#define MEASURE_AUTO (-1)   /* "pick the best available tier" */

/* Counters a reading may hold, by index; the names are the metric and
** sample names stored in the results history. */
enum {
  MEASURE_CYCLES = 0,        /* "cycles"            count */
  MEASURE_INSTRUCTIONS,      /* "instructions"      count */
  MEASURE_CACHE_MISSES,      /* "cache_misses"      count (L1 data or L2 total) */
  MEASURE_TASK_CLOCK_MS,     /* "task_clock_ms"     ms of CPU time */
  MEASURE_PAGE_FAULTS,       /* "page_faults"       count */
  MEASURE_CONTEXT_SWITCHES,  /* "context_switches"  count */
  MEASURE_NCOUNTERS
};

typedef struct measure_reading {
  double elapsed_ms;                 /* CLOCK_MONOTONIC, always set */
  double counter[MEASURE_NCOUNTERS]; /* NaN = not counted by this tier */
} measure_reading;

typedef struct measure measure;      /* opaque */

/* "hardware", "software", "timer". */
const char *measure_tier_name(measure_tier t);

/* Counter metric name ("cycles", ...) and unit ("count", "ms"). */
const char *measure_counter_name(int i);
const char *measure_counter_unit(int i);

/* Parse "auto" (MEASURE_AUTO), "hardware", "software" or "timer" into
** *tier.  Returns -1 with a message for anything else. */
int measure_parse_tier(const char *s, int *tier, char *err, size_t errlen);

/* The best tier this process could use, found by opening the counters in a
** forked child.  why (may be NULL) receives one line saying why the better
** tiers are unavailable ("" when hardware works). Never fails. */
measure_tier measure_probe(char *why, size_t whylen);

/* Open counters of tier `want` (or the best one for MEASURE_AUTO) for the
** calling thread and start them.  Fails with a message naming the tier that
** is available when `want` cannot be had. */
int measure_open(int want, measure **out, char *err, size_t errlen);

/* The tier actually in use. */
measure_tier measure_get_tier(const measure *m);

/* Around one repetition: measure_begin() snapshots, measure_end() fills r
** with the differences since the snapshot. */
int measure_begin(measure *m, char *err, size_t errlen);
int measure_end(measure *m, measure_reading *r, char *err, size_t errlen);

/* Stop the counters and free (NULL is fine). */
void measure_close(measure *m);

#endif /* RISQ_HARNESS_MEASURE_H */
