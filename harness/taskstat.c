/*
** taskstat.c -- run time of this process's threads from /proc/self/task
** (see taskstat.h).
*/
#include "harness/taskstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

int ts_snapshot(ts_task *t, int max)
{
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(dir)) && n < max) {
        if (de->d_name[0] == '.') continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* the thread has just exited */
        unsigned long long ns;
        if (fscanf(f, "%llu", &ns) == 1) {
            t[n].tid = atol(de->d_name);
            t[n].ns = ns;
            n++;
        }
        fclose(f);
    }
    closedir(dir);
    return n > 0 ? n : -1;
}

/* Run time of thread tid in snapshot t[n]; 0 when it is not there. */
static unsigned long long ts_ns_of(const ts_task *t, int n, long tid)
{
    for (int i = 0; i < n; i++)
        if (t[i].tid == tid) return t[i].ns;
    return 0;
}

int ts_add_run(ts_task *run, int nrun, int max, const ts_task *a, int na, const ts_task *b,
               int nb)
{
    for (int i = 0; i < nb; i++) {
        unsigned long long dt = b[i].ns - ts_ns_of(a, na, b[i].tid);
        if (dt == 0) continue;
        int j = 0;
        while (j < nrun && run[j].tid != b[i].tid) j++;
        if (j == nrun) {
            if (nrun == max) continue;
            run[nrun].tid = b[i].tid;
            run[nrun++].ns = 0;
        }
        run[j].ns += dt;
    }
    return nrun;
}

int ts_busy(const ts_task *run, int n, double frac)
{
    unsigned long long top = 0;
    for (int i = 0; i < n; i++)
        if (run[i].ns > top) top = run[i].ns;
    int busy = 0;
    for (int i = 0; i < n; i++)
        if (top > 0 && (double)run[i].ns >= frac * (double)top) busy++;
    return busy;
}

double ts_others_ms(const ts_task *a, int na, const ts_task *b, int nb, long except)
{
    double ms = 0;
    for (int i = 0; i < nb; i++)
        if (b[i].tid != except) ms += (double)(b[i].ns - ts_ns_of(a, na, b[i].tid)) * 1e-6;
    return ms;
}
