/*
** stats.c -- summary statistics, Mann-Whitney U, change points (stats.h).
**
** The Mann-Whitney test follows the textbook definition: U of the first
** group counts the pairs it wins (ties count one half). For small groups
** without ties the exact null distribution of U is the coefficient list of
** the Gaussian binomial [m+n choose m](q); it is built by multiplying in
** (1 - q^(n+i)) and dividing by (1 - q^i) for i = 1..m. Otherwise the
** normal approximation uses the tie-corrected variance
**   var = m n / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1)))
** and a 0.5 continuity correction.
*/
#include "harness/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *sorted_copy(const double *v, int n)
{
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return NULL;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_dbl);
    return c;
}

static double quantile_sorted(const double *s, int n, double q)
{
    if (q <= 0) return s[0];
    if (q >= 1) return s[n - 1];
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return s[n - 1];
    return s[i] + (pos - i) * (s[i + 1] - s[i]);
}

double stats_quantile(const double *v, int n, double q)
{
    if (n <= 0) return NAN;
    double *s = sorted_copy(v, n);
    if (!s) return NAN;
    double r = quantile_sorted(s, n, q);
    free(s);
    return r;
}

double stats_median(const double *v, int n) { return stats_quantile(v, n, 0.5); }
double stats_p90(const double *v, int n) { return stats_quantile(v, n, 0.9); }

double stats_mad(const double *v, int n)
{
    if (n <= 0) return NAN;
    double med = stats_median(v, n);
    double *d = malloc((size_t)n * sizeof *d);
    if (!d) return NAN;
    for (int i = 0; i < n; i++) d[i] = fabs(v[i] - med);
    double r = stats_median(d, n);
    free(d);
    return r;
}

/* ------------------------------------------------------ Mann-Whitney --- */

typedef struct tagged { double v; int group; } tagged;

static int cmp_tagged(const void *a, const void *b)
{
    double x = ((const tagged *)a)->v, y = ((const tagged *)b)->v;
    return (x > y) - (x < y);
}

/* Number of arrangements with U = u for u = 0..m*n into c[0..m*n]; c must
** hold m*n + m + 1 values (the degree peaks at i*n + i before dividing). */
static void exact_counts(int m, int n, double *c)
{
    int deg = 0;
    memset(c, 0, (size_t)(m * n + m + 1) * sizeof *c);
    c[0] = 1;
    for (int i = 1; i <= m; i++) {
        int s = n + i;
        for (int k = deg + s; k >= s; k--) c[k] -= c[k - s];   /* x (1 - q^s) */
        deg += s;
        for (int k = i; k <= deg; k++) c[k] += c[k - i];       /* / (1 - q^i) */
        deg -= i;
    }
}

int stats_mann_whitney(const double *a, int na, const double *b, int nb, stats_mw *out)
{
    memset(out, 0, sizeof *out);
    if (na <= 0 || nb <= 0) return -1;
    int N = na + nb;
    tagged *t = malloc((size_t)N * sizeof *t);
    if (!t) return -1;
    for (int i = 0; i < na; i++) t[i] = (tagged){a[i], 0};
    for (int j = 0; j < nb; j++) t[na + j] = (tagged){b[j], 1};
    qsort(t, (size_t)N, sizeof *t, cmp_tagged);

    /* Mid-ranks; rank sum of a; tie term sum(t^3 - t). */
    double ra = 0, ties = 0;
    for (int i = 0; i < N;) {
        int j = i;
        while (j + 1 < N && t[j + 1].v == t[i].v) j++;
        double rank = (i + j) / 2.0 + 1;   /* 1-based mid-rank */
        for (int k = i; k <= j; k++)
            if (t[k].group == 0) ra += rank;
        double len = j - i + 1;
        ties += len * len * len - len;
        i = j + 1;
    }
    free(t);
    double m = na, n = nb;
    out->u = ra - m * (m + 1) / 2;

    if (ties == 0 && na <= STATS_MW_EXACT_MAX && nb <= STATS_MW_EXACT_MAX) {
        int top = na * nb;
        double *c = malloc((size_t)(top + na + 1) * sizeof *c);
        if (!c) return -1;
        exact_counts(na, nb, c);
        double total = 0, le = 0, ge = 0;
        int u = (int)lround(out->u);
        for (int k = 0; k <= top; k++) {
            total += c[k];
            if (k <= u) le += c[k];
            if (k >= u) ge += c[k];
        }
        free(c);
        double p = 2 * (le < ge ? le : ge) / total;
        out->p = p > 1 ? 1 : p;
        out->exact = 1;
        return 0;
    }

    double mu = m * n / 2;
    double var = m * n / 12 * ((N + 1) - ties / ((double)N * (N - 1)));
    if (var <= 0) {   /* every value equal */
        out->p = 1;
        return 0;
    }
    double dev = fabs(out->u - mu) - 0.5;
    if (dev < 0) dev = 0;
    out->z = (out->u >= mu ? dev : -dev) / sqrt(var);
    double p = erfc(fabs(out->z) / sqrt(2.0));
    out->p = p > 1 ? 1 : p;
    return 0;
}

/* ------------------------------------------------------ change points --- */

typedef struct seg_ctx {
    const double *y;
    double *tmp;          /* scratch, n values */
    int min_seg;
    double min_rel;
    int *cp, max_cp, ncp;
} seg_ctx;

/* Median of y[lo..hi) (via the scratch buffer). */
static double seg_median(seg_ctx *c, int lo, int hi)
{
    int n = hi - lo;
    memcpy(c->tmp, c->y + lo, (size_t)n * sizeof *c->tmp);
    qsort(c->tmp, (size_t)n, sizeof *c->tmp, cmp_dbl);
    return quantile_sorted(c->tmp, n, 0.5);
}

static double seg_cost(seg_ctx *c, int lo, int hi, double med)
{
    double s = 0;
    for (int i = lo; i < hi; i++) s += fabs(c->y[i] - med);
    return s;
}

static void segment(seg_ctx *c, int lo, int hi)
{
    if (hi - lo < 2 * c->min_seg || c->ncp >= c->max_cp) return;
    int best = -1;
    double best_cost = INFINITY;
    for (int k = lo + c->min_seg; k <= hi - c->min_seg; k++) {
        double cost = seg_cost(c, lo, k, seg_median(c, lo, k)) + seg_cost(c, k, hi, seg_median(c, k, hi));
        if (cost < best_cost) {
            best_cost = cost;
            best = k;
        }
    }
    if (best < 0) return;
    double ml = seg_median(c, lo, best), mr = seg_median(c, best, hi);
    double step = fabs(mr - ml);
    double scale = fmax(fabs(ml), fabs(mr));
    /* Robust noise from first differences (1.4826 x MAD / sqrt 2): a few
    ** level changes elsewhere in the segment do not inflate it. */
    int nd = hi - lo - 1;
    for (int i = 0; i < nd; i++) c->tmp[i] = fabs(c->y[lo + i + 1] - c->y[lo + i]);
    qsort(c->tmp, (size_t)nd, sizeof *c->tmp, cmp_dbl);
    double sigma = 1.4826 * quantile_sorted(c->tmp, nd, 0.5) / sqrt(2.0);
    if (step <= 0 || step < c->min_rel * scale || step <= 3 * sigma) return;
    /* Keep cp[] sorted. */
    int pos = c->ncp;
    while (pos > 0 && c->cp[pos - 1] > best) {
        c->cp[pos] = c->cp[pos - 1];
        pos--;
    }
    c->cp[pos] = best;
    c->ncp++;
    segment(c, lo, best);
    segment(c, best, hi);
}

int stats_changepoints(const double *y, int n, int min_seg, double min_rel, int *cp, int max_cp)
{
    if (min_seg < 1) min_seg = 1;
    if (n < 2 * min_seg || max_cp <= 0) return 0;
    seg_ctx c = {y, malloc((size_t)n * sizeof(double)), min_seg, min_rel, cp, max_cp, 0};
    if (!c.tmp) return -1;
    segment(&c, 0, n);
    free(c.tmp);
    return c.ncp;
}

int stats_paired_diff(const double *a, const double *b, int n, stats_paired *out)
{
    memset(out, 0, sizeof *out);
    out->mean = out->lo = out->hi = NAN;
    if (n < 1) return -1;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        sum += a[i] - b[i];
        out->above += a[i] > b[i];
        out->below += a[i] < b[i];
    }
    out->n = n;
    out->mean = sum / n;
    if (n < 2) return 0;
    double ss = 0;   /* two passes: the differences are tiny next to a and b */
    for (int i = 0; i < n; i++) {
        double d = a[i] - b[i] - out->mean;
        ss += d * d;
    }
    double half = 1.959963984540054 * sqrt(ss / (n - 1) / n);
    out->lo = out->mean - half;
    out->hi = out->mean + half;
    return 0;
}
