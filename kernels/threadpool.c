/*
** threadpool: a fixed pool of persistent worker threads that runs the
** kernels' parallel loops (see threadpool.h for the contract).
**
** How a loop runs: the caller publishes the job (function, argument, range
** and number of chunks) under the pool mutex, bumps a generation counter and
** wakes the workers. Chunk 0 runs in the caller; worker i (1 <= i < nthreads)
** runs chunk i if there is one. The caller then sleeps until the count of
** outstanding chunks drops to zero. Between loops a worker first spins for
** a short while (KT_SPIN), then sleeps on a condition variable, so an idle
** pool costs nothing; the caller likewise spins before it sleeps waiting for
** the workers. The spinning is there because a forward pass starts a loop
** every few microseconds, and waking a sleeping thread costs tens of
** microseconds, on a VM up to milliseconds when its virtual CPU was idle:
** with static chunks the whole loop then waits for the late thread.
**
** Chunk boundaries depend only on (n, number of chunks), and each index is
** handled by exactly one call of fn, so a kernel that computes each output
** element independently of the range it was handed gives bit-identical
** results for every thread count.
**
** Re-entrancy: a loop started from inside a worker (nested parallelism) or
** while another thread is already driving the same pool runs serially in the
** calling thread instead of deadlocking or interleaving jobs.
*/
#include "kernels/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Polls of the generation (worker) or pending count (caller) before
** sleeping, about 0.1 ms in all when the thread has its CPU to itself.
** Between polls a pause instruction, and every KT_YIELD-th time a
** sched_yield(): the scheduler sometimes puts a worker on the caller's
** CPU, and a pure pause loop then takes the CPU from the thread it waits
** for (and on a VM may get the virtual CPU descheduled): a 3-MFLOP
** product on 2 threads was measured 4-8x slower that way. */
#define KT_SPIN 2048
#define KT_YIELD 16

static inline void kt_relax(int i) {
  if (i % KT_YIELD == KT_YIELD - 1) {
    sched_yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

struct kt_pool {
  int nthreads;              /* threads that run chunks, caller included */
  pthread_t *workers;        /* nthreads - 1 worker threads */

  pthread_mutex_t mu;        /* guards everything below */
  pthread_cond_t work_cv;    /* signalled when a new generation is published */
  pthread_cond_t done_cv;    /* signalled when pending drops to zero */
  /* bumped once per published loop; atomic so that spinning threads can
  ** read it without the mutex (it is written with the mutex held) */
  _Atomic unsigned long generation;
  int stop;                  /* set by kt_pool_destroy */

  /* The current job. */
  kt_range_fn fn;
  void *arg;
  int n;
  int nchunks;
  _Atomic int pending;       /* worker chunks not finished yet (same rule) */

  pthread_mutex_t call_mu;   /* held by the thread driving a loop */
};

/* Per-thread marker: the pool whose worker this thread is (NULL for threads
** the pool did not create). Used to detect nested loops. */
static _Thread_local kt_pool *kt_current_worker_pool;

/* Worker argument: the pool and the worker's chunk index. Allocated in one
** block with the pool's worker array (see kt_pool_create). */
typedef struct {
  kt_pool *pool;
  int index;
} kt_worker_arg;

/* Bounds of chunk i of nchunks over [0, n). Computed in 64 bits so that
** n * i cannot overflow. */
static void kt_chunk_bounds(int n, int nchunks, int i, int *begin, int *end) {
  *begin = (int)((long long)n * i / nchunks);
  *end = (int)((long long)n * (i + 1) / nchunks);
}

static void *kt_worker_main(void *p) {
  kt_worker_arg *wa = (kt_worker_arg *)p;
  kt_pool *pool = wa->pool;
  const int index = wa->index;
  unsigned long seen = 0;

  kt_current_worker_pool = pool;
  for (;;) {
    for (int i = 0; i < KT_SPIN && atomic_load(&pool->generation) == seen; i++) kt_relax(i);
    pthread_mutex_lock(&pool->mu);
    while (!pool->stop && pool->generation == seen)
      pthread_cond_wait(&pool->work_cv, &pool->mu);
    if (pool->stop) break;
    seen = pool->generation;
    if (index >= pool->nchunks) { /* nothing for us this time */
      pthread_mutex_unlock(&pool->mu);
      continue;
    }
    kt_range_fn fn = pool->fn;
    void *arg = pool->arg;
    int begin, end;
    kt_chunk_bounds(pool->n, pool->nchunks, index, &begin, &end);
    pthread_mutex_unlock(&pool->mu);

    fn(arg, begin, end);

    pthread_mutex_lock(&pool->mu);
    if (--pool->pending == 0) pthread_cond_signal(&pool->done_cv);
    pthread_mutex_unlock(&pool->mu);
  }
  pthread_mutex_unlock(&pool->mu);
  return NULL;
}

kt_pool *kt_pool_create(int nthreads) {
  if (nthreads < 1) nthreads = 1;
  kt_pool *pool = calloc(1, sizeof(*pool));
  if (!pool) return NULL;
  pool->nthreads = 1;
  if (pthread_mutex_init(&pool->mu, NULL) != 0) goto fail_pool;
  if (pthread_mutex_init(&pool->call_mu, NULL) != 0) goto fail_mu;
  if (pthread_cond_init(&pool->work_cv, NULL) != 0) goto fail_call_mu;
  if (pthread_cond_init(&pool->done_cv, NULL) != 0) goto fail_work_cv;
  if (nthreads == 1) return pool;

  /* One allocation holds the thread handles followed by the worker args. */
  int nworkers = nthreads - 1;
  void *block = malloc((size_t)nworkers * (sizeof(pthread_t) + sizeof(kt_worker_arg)));
  if (!block) goto fail_done_cv;
  pool->workers = (pthread_t *)block;
  kt_worker_arg *args = (kt_worker_arg *)(pool->workers + nworkers);

  for (int i = 0; i < nworkers; i++) {
    args[i].pool = pool;
    args[i].index = i + 1;
    if (pthread_create(&pool->workers[i], NULL, kt_worker_main, &args[i]) != 0) {
      /* Shut down the ones already started, then give up. */
      pool->nthreads = 1 + i;
      kt_pool_destroy(pool);
      return NULL;
    }
  }
  pool->nthreads = nthreads;
  return pool;

fail_done_cv:
  pthread_cond_destroy(&pool->done_cv);
fail_work_cv:
  pthread_cond_destroy(&pool->work_cv);
fail_call_mu:
  pthread_mutex_destroy(&pool->call_mu);
fail_mu:
  pthread_mutex_destroy(&pool->mu);
fail_pool:
  free(pool);
  return NULL;
}

void kt_pool_destroy(kt_pool *pool) {
  if (!pool) return;
  int nworkers = pool->nthreads - 1;
  if (nworkers > 0) {
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < nworkers; i++) pthread_join(pool->workers[i], NULL);
  }
  free(pool->workers);
  pthread_cond_destroy(&pool->done_cv);
  pthread_cond_destroy(&pool->work_cv);
  pthread_mutex_destroy(&pool->call_mu);
  pthread_mutex_destroy(&pool->mu);
  free(pool);
}

int kt_pool_threads(const kt_pool *pool) {
  return pool ? pool->nthreads : 1;
}

void kt_parallel_for(kt_pool *pool, int n, int grain, kt_range_fn fn, void *arg) {
  if (n <= 0) return;
  if (grain <= 0) grain = 1;

  /* As many chunks as threads, but none shorter than grain. */
  int nchunks = kt_pool_threads(pool);
  if (n / grain < nchunks) nchunks = n / grain;
  if (nchunks <= 1) {
    fn(arg, 0, n);
    return;
  }
  /* Nested loop, or another thread is driving this pool: run serially. The
  ** result is the same; only the speed differs. */
  if (kt_current_worker_pool == pool || pthread_mutex_trylock(&pool->call_mu) != 0) {
    fn(arg, 0, n);
    return;
  }

  pthread_mutex_lock(&pool->mu);
  pool->fn = fn;
  pool->arg = arg;
  pool->n = n;
  pool->nchunks = nchunks;
  pool->pending = nchunks - 1;
  pool->generation++;
  pthread_cond_broadcast(&pool->work_cv);
  pthread_mutex_unlock(&pool->mu);

  int begin, end;
  kt_chunk_bounds(n, nchunks, 0, &begin, &end);
  fn(arg, begin, end);

  /* (pending reaches 0 by an atomic decrement after the worker's writes,
  ** so seeing 0 here also makes those writes visible) */
  for (int i = 0; i < KT_SPIN && atomic_load(&pool->pending) > 0; i++) kt_relax(i);
  pthread_mutex_lock(&pool->mu);
  while (pool->pending > 0) pthread_cond_wait(&pool->done_cv, &pool->mu);
  pthread_mutex_unlock(&pool->mu);
  pthread_mutex_unlock(&pool->call_mu);
}
