/*
** test_taskstat.c -- checks harness/taskstat.c: the run-time bookkeeping on
** made-up snapshots (a process whose idle threads come first in /proc, as
** with OpenBLAS's workers on a many-CPU machine), then on this process's
** own threads: 20 idle ones started first, then 3 that each run for 40 ms
** of CPU time (their own clock, so a loaded machine only makes it slower)
** and then wait, still alive, for the snapshot.
** One line per check; exit status 1 when any check fails.
*/
#include "harness/taskstat.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int nfail = 0, npass = 0;

#define CHECK(cond, desc) do {                                              \
        if (cond) { printf("ok   %s\n", desc); npass++; }                   \
        else { printf("FAIL %s  (%s:%d: %s)\n", desc, __FILE__, __LINE__, #cond); nfail++; } \
    } while (0)

/* ------------------------------------------------------- made-up data --- */

static void made_up(void)
{
    /* 20 idle threads (tids 1..20), then 2 workers (30, 31) and the caller
    ** (40) that ran 1 ms, 0.9 ms and 0.1 ms. */
    ts_task a[23], b[23], run[16];
    for (int i = 0; i < 20; i++) {
        a[i] = (ts_task){i + 1, 5000};
        b[i] = a[i];
    }
    a[20] = (ts_task){30, 0}, b[20] = (ts_task){30, 1000000};
    a[21] = (ts_task){31, 7}, b[21] = (ts_task){31, 900007};
    a[22] = (ts_task){40, 0}, b[22] = (ts_task){40, 100000};
    int n = ts_add_run(run, 0, 16, a, 23, b, 23);
    CHECK(n == 3, "only the 3 threads that ran get an entry, after 20 idle ones");
    CHECK(run[0].tid == 30 && run[0].ns == 1000000 && run[1].ns == 900000, "their run times");
    CHECK(ts_busy(run, n, 0.5) == 2, "busy: the 2 that ran at least half as long as the longest");
    CHECK(ts_busy(run, n, 0.05) == 3, "...3 at a twentieth");

    /* A second sample adds up; a thread that appears now starts at 0. */
    ts_task c[24];
    for (int i = 0; i < 23; i++) c[i] = b[i];
    c[20].ns += 1000000, c[22].ns += 1900000;
    c[23] = (ts_task){50, 300};
    n = ts_add_run(run, n, 16, b, 23, c, 24);
    CHECK(n == 4 && run[0].ns == 2000000 && run[1].ns == 900000 && run[2].ns == 2000000 &&
              run[3].tid == 50 && run[3].ns == 300,
          "a second sample adds to the same entries, a new thread from 0");
    CHECK(ts_busy(run, n, 0.5) == 2, "busy over both samples");

    /* Full table: threads past max are dropped, the rest still add up. */
    n = ts_add_run(run, 0, 1, a, 23, b, 23);
    CHECK(n == 1 && run[0].tid == 30, "a full table keeps what it has");
    CHECK(ts_busy(run, 0, 0.5) == 0, "nothing ran: 0 busy");
    CHECK(fabs(ts_others_ms(a, 23, b, 23, 40) - 1.9) < 1e-9, "others' run time leaves out the caller");
}

/* ------------------------------------------------- this process's threads --- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int done, worked;

/* Block until the test is over (no run time meanwhile). */
static void wait_done(void)
{
    pthread_mutex_lock(&mu);
    while (!done) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void *idle_thread(void *arg)
{
    (void)arg;
    wait_done();
    return NULL;
}

static double thread_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void *busy_thread(void *arg)
{
    (void)arg;
    volatile unsigned x = 0;
    double t0 = thread_cpu_ms();
    while (thread_cpu_ms() - t0 < 40)
        for (int i = 0; i < 10000; i++) x += (unsigned)i;
    pthread_mutex_lock(&mu);
    worked++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    wait_done();
    return NULL;
}

static void live(void)
{
    static ts_task a[TS_MAX_TASKS], b[TS_MAX_TASKS], run[TS_MAX_TASKS];
    pthread_t idle[20], busy[3];
    for (int i = 0; i < 20; i++) pthread_create(&idle[i], NULL, idle_thread, NULL);
    int na = ts_snapshot(a, TS_MAX_TASKS);
    if (na < 0) {
        printf("skip this kernel's /proc has no schedstat: live checks\n");
    } else {
        CHECK(na >= 21, "a snapshot lists the caller and its 20 idle threads");
        for (int i = 0; i < 3; i++) pthread_create(&busy[i], NULL, busy_thread, NULL);
        pthread_mutex_lock(&mu);
        while (worked < 3) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        int nb = ts_snapshot(b, TS_MAX_TASKS);
        CHECK(nb >= na + 3, "...then 3 more");
        int n = ts_add_run(run, 0, TS_MAX_TASKS, a, na, b, nb);
        CHECK(ts_busy(run, n, 0.5) == 3, "busy: the 3 that ran, though 21 threads come before them");
        CHECK(ts_others_ms(a, na, b, nb, (long)gettid()) >= 3 * 40, "they ran 40 ms each");
    }
    pthread_mutex_lock(&mu);
    done = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; na >= 0 && i < 3; i++) pthread_join(busy[i], NULL);
    for (int i = 0; i < 20; i++) pthread_join(idle[i], NULL);
}

int main(void)
{
    made_up();
    live();
    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
