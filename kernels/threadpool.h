/*
** threadpool: a fixed pool of worker threads for the kernels' parallel loops.
**
** Work is split into contiguous index ranges so that every thread count gives
** the same result (each output element is computed by exactly one thread with
** the same instruction sequence). A NULL pool means "run serially in the
** caller": every kernel accepts NULL.
*/
#ifndef RISQ_KERNELS_THREADPOOL_H
#define RISQ_KERNELS_THREADPOOL_H

typedef struct kt_pool kt_pool;

/* Called once per chunk with the half-open range [begin, end). */
typedef void (*kt_range_fn)(void *arg, int begin, int end);

/* Create a pool that runs loops on nthreads threads (the caller counts as one).
** nthreads <= 1 returns a pool that runs everything in the caller. Returns
** NULL only when out of memory or when threads cannot be created. */
kt_pool *kt_pool_create(int nthreads);
void kt_pool_destroy(kt_pool *pool);
int kt_pool_threads(const kt_pool *pool); /* 1 for NULL */

/* Run fn over [0, n) split into at most kt_pool_threads() contiguous chunks,
** each at least `grain` long (grain <= 0 means 1). Returns when all are done. */
void kt_parallel_for(kt_pool *pool, int n, int grain, kt_range_fn fn, void *arg);

/* Row- and element-wise loops give each thread at least this many elements
** (a worker that has gone to sleep costs tens of microseconds to wake; one
** still polling, as in a forward pass, a few: kernels/qgemm.c,
** KQ_PARALLEL_MIN_WORK, has the measurement). */
#define KT_MIN_ELEMS 8192

/* The grain, in rows, of such a loop over rows of `cols` elements. */
static inline int kt_rows_grain(int cols) {
  return cols >= KT_MIN_ELEMS ? 1 : KT_MIN_ELEMS / (cols > 0 ? cols : 1);
}

#endif
