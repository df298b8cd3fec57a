/*
** taskstat.h -- run time of this process's threads, from /proc (prefix ts_).
**
** Owns reading /proc/self/task/<tid>/schedstat (the nanoseconds each thread
** has run on a CPU) and what `risq bench kernels` derives from two such
** snapshots: the run time each thread got in between, accumulated over the
** samples of a measurement, how many threads did the work (busy_threads),
** and whether the other threads of the process have gone quiet. Run time,
** not wall time: a thread that waits for a CPU on a loaded machine does not
** gain any, so the counts hold on a shared machine too.
*/
#ifndef RISQ_HARNESS_TASKSTAT_H
#define RISQ_HARNESS_TASKSTAT_H

#define TS_MAX_TASKS 512 /* threads of the process a snapshot lists, at most */

typedef struct ts_task {
    long tid;
    unsigned long long ns; /* run time (nanoseconds) */
} ts_task;

/* Snapshot: the run time so far of each thread of this process (at most max,
** in /proc's order) into t. Returns their number; -1 when /proc gives none
** (no /proc, or a kernel without schedstat). */
int ts_snapshot(ts_task *t, int max);

/* Add the run time each thread got between snapshots a (na) and b (nb) to
** run[0 .. nrun) (one entry per thread id; a thread not in a started at 0).
** Only threads that ran get an entry, so a process with many idle threads
** (a library's workers, started before the ones that work) does not fill
** run[] with them; entries past max are dropped. Returns the new nrun. */
int ts_add_run(ts_task *run, int nrun, int max, const ts_task *a, int na, const ts_task *b,
               int nb);

/* Entries of run[n] whose run time is at least frac of the longest one
** (relative, so that threads which shared the work on a loaded machine
** still count). 0 when none ran. */
int ts_busy(const ts_task *run, int n, double frac);

/* Run time (ms) that all threads but `except` got between a and b. */
double ts_others_ms(const ts_task *a, int na, const ts_task *b, int nb, long except);

#endif
