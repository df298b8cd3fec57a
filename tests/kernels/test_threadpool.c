/*
** test_threadpool: kt_parallel_for covers [0, n) exactly once in at most
** kt_pool_threads() contiguous chunks of at least `grain`, for NULL and real
** pools, repeatedly, and nested loops do not deadlock.
** Prints one line per check; exits non-zero on any failure.
*/
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/threadpool.h"

static int g_fail, g_pass;

static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (ok) g_pass++; else g_fail++;
}

#define MAX_N 5000
#define MAX_CHUNKS 64

/* Records which chunk touched each index and the chunk bounds. */
typedef struct {
  atomic_int hits[MAX_N];
  atomic_int nchunks;
  int begin[MAX_CHUNKS], end[MAX_CHUNKS];
} coverage;

static void record(void *arg, int begin, int end) {
  coverage *cv = (coverage *)arg;
  int slot = atomic_fetch_add(&cv->nchunks, 1);
  if (slot < MAX_CHUNKS) {
    cv->begin[slot] = begin;
    cv->end[slot] = end;
  }
  for (int i = begin; i < end; i++) atomic_fetch_add(&cv->hits[i], 1);
}

/* Run one loop and verify coverage, chunk count and chunk lengths. */
static int run_cover(kt_pool *pool, int n, int grain, coverage *cv) {
  for (int i = 0; i < MAX_N; i++) atomic_store(&cv->hits[i], 0);
  atomic_store(&cv->nchunks, 0);
  kt_parallel_for(pool, n, grain, record, cv);

  int nch = atomic_load(&cv->nchunks);
  if (n <= 0) return nch == 0;
  if (nch < 1 || nch > kt_pool_threads(pool) || nch > MAX_CHUNKS) return 0;
  for (int i = 0; i < n; i++)
    if (atomic_load(&cv->hits[i]) != 1) return 0;
  int g = grain <= 0 ? 1 : grain;
  for (int c = 0; c < nch; c++) {
    int len = cv->end[c] - cv->begin[c];
    if (len <= 0) return 0;
    if (nch > 1 && len < g) return 0;
  }
  return 1;
}

/* Nested loop: each outer chunk runs an inner loop on the same pool. */
typedef struct {
  kt_pool *pool;
  atomic_int inner_total;
} nested_arg;

static void inner_fn(void *arg, int begin, int end) {
  nested_arg *na = (nested_arg *)arg;
  atomic_fetch_add(&na->inner_total, end - begin);
}

static void outer_fn(void *arg, int begin, int end) {
  nested_arg *na = (nested_arg *)arg;
  for (int i = begin; i < end; i++) kt_parallel_for(na->pool, 100, 1, inner_fn, na);
}

/* Sum of squares over a range, to show a reduction per element is the same
** for every thread count. */
static void square_fn(void *arg, int begin, int end) {
  double *out = (double *)arg;
  for (int i = begin; i < end; i++) out[i] = (double)i * i * 0.5;
}

int main(void) {
  static coverage cv;
  char msg[160];

  check(kt_pool_threads(NULL) == 1, "kt_pool_threads(NULL) == 1");

  /* NULL pool and pools of 1..4 threads over assorted n and grains. */
  const int ns[] = {0, 1, 2, 3, 7, 64, 1000, 4999};
  const int grains[] = {0, 1, 3, 100, 10000};
  for (int t = 0; t <= 4; t++) {
    kt_pool *pool = t == 0 ? NULL : kt_pool_create(t);
    if (t > 0) {
      snprintf(msg, sizeof msg, "kt_pool_create(%d) succeeds, threads == %d", t, t);
      check(pool != NULL && kt_pool_threads(pool) == t, msg);
      if (!pool) continue;
    }
    int ok = 1;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
      for (size_t b = 0; b < sizeof grains / sizeof grains[0]; b++)
        if (!run_cover(pool, ns[a], grains[b], &cv)) {
          printf("     n=%d grain=%d failed\n", ns[a], grains[b]);
          ok = 0;
        }
    snprintf(msg, sizeof msg, "threads=%d: every index once, <= threads chunks, each >= grain", t);
    check(ok, msg);

    /* With a big n and grain 1 every thread gets a chunk. */
    if (t > 0) {
      run_cover(pool, 4000, 1, &cv);
      snprintf(msg, sizeof msg, "threads=%d: n=4000 grain=1 uses %d chunks", t, t);
      check(atomic_load(&cv.nchunks) == t, msg);
    }
    kt_pool_destroy(pool);
  }

  /* Many loops in a row on one pool (wake-up / completion races). */
  {
    kt_pool *pool = kt_pool_create(3);
    int ok = pool != NULL;
    for (int rep = 0; ok && rep < 2000; rep++)
      ok = run_cover(pool, 1 + rep % 97, 1, &cv);
    check(ok, "threads=3: 2000 consecutive loops all correct");
    kt_pool_destroy(pool);
  }

  /* Same per-element output for every thread count. */
  {
    static double ref[MAX_N], out[MAX_N];
    square_fn(ref, 0, MAX_N);
    int ok = 1;
    for (int t = 1; t <= 4; t++) {
      kt_pool *pool = kt_pool_create(t);
      memset(out, 0, sizeof out);
      kt_parallel_for(pool, MAX_N, 7, square_fn, out);
      if (memcmp(out, ref, sizeof ref) != 0) ok = 0;
      kt_pool_destroy(pool);
    }
    check(ok, "threads 1..4: identical outputs");
  }

  /* Nested parallel_for on the same pool runs serially, no deadlock. */
  {
    nested_arg na;
    na.pool = kt_pool_create(2);
    atomic_store(&na.inner_total, 0);
    kt_parallel_for(na.pool, 10, 1, outer_fn, &na);
    check(atomic_load(&na.inner_total) == 1000, "nested loops complete (10 x 100)");
    kt_pool_destroy(na.pool);
  }

  /* Create/destroy churn (thread start/stop, no leaks under ASan). */
  {
    int ok = 1;
    for (int rep = 0; rep < 50; rep++) {
      kt_pool *pool = kt_pool_create(1 + rep % 4);
      if (!pool) { ok = 0; break; }
      if (rep % 2) ok &= run_cover(pool, 50, 1, &cv);
      kt_pool_destroy(pool);
    }
    kt_pool_destroy(NULL);
    check(ok, "50 create/destroy cycles, destroy(NULL) is a no-op");
  }

  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
