/*
** stats.h -- small statistics for comparing benchmark results (prefix stats_).
**
** Owns the summary statistics of raw samples (median, quantiles, MAD), the
** Mann-Whitney U test used to decide whether two latency sample sets differ,
** the paired difference of two measurements of the same items (two methods'
** IoU on each expression), and a change-point detector for a history
** series.  Plain functions over double arrays; inputs are never modified
** (sorting works on copies).
** NaN inputs are not supported: callers drop unavailable values first.
*/
#ifndef RISQ_HARNESS_STATS_H
#define RISQ_HARNESS_STATS_H

/* Quantile q in [0,1] of v[n] with linear interpolation between order
** statistics (numpy's default, as the runner uses). NaN when n <= 0 or
** out of memory. */
double stats_quantile(const double *v, int n, double q);
double stats_median(const double *v, int n);
double stats_p90(const double *v, int n);

/* Median absolute deviation from the median (unscaled). */
double stats_mad(const double *v, int n);

/* Result of a two-sided Mann-Whitney U test of a[] against b[]. */
typedef struct stats_mw {
    double u;       /* U of a: pairs (a_i, b_j) with a_i > b_j, ties count 1/2 */
    double z;       /* normal approximation z (0 when exact) */
    double p;       /* two-sided p-value */
    int exact;      /* 1 when p comes from the exact distribution */
} stats_mw;

/* Largest group size for which the exact distribution is used (no ties). */
#define STATS_MW_EXACT_MAX 25

/* Two-sided Mann-Whitney U test. Exact distribution of U when there are
** no ties and both groups have at most STATS_MW_EXACT_MAX values; otherwise
** the normal approximation with tie correction and continuity correction.
** Returns 0, or -1 when a group is empty or memory runs out. */
int stats_mann_whitney(const double *a, int na, const double *b, int nb, stats_mw *out);

/* Paired comparison of a[i] with b[i], the same n items measured twice
** (each expression's IoU under two methods): the mean of a - b and its 95%
** confidence interval mean +- 1.96 s / sqrt(n), s the standard deviation of
** the differences (normal approximation: sound when many items differ; when
** only a handful do, above and below say so). */
typedef struct stats_paired {
    int n;
    double mean, lo, hi;   /* lo = hi = NaN when n < 2 */
    int above, below;      /* items with a > b, a < b */
} stats_paired;

/* Returns 0, or -1 when n < 1. */
int stats_paired_diff(const double *a, const double *b, int n, stats_paired *out);

/* Change points of series y[n] by binary segmentation on medians: a
** segment is split at the point that minimises the summed absolute
** deviations from the two halves' medians, and the split is kept when
** both halves have at least min_seg points, the step between the medians
** is at least min_rel of the larger median (e.g. 0.05) and larger than
** 3 robust sigmas of the segment's noise (1.4826 x the median absolute
** first difference / sqrt 2, which a few steps do not inflate). cp[] receives the
** indices where a new level starts, ascending, at most max_cp of them.
** Returns the number found, or -1 when out of memory. */
int stats_changepoints(const double *y, int n, int min_seg, double min_rel, int *cp, int max_cp);

#endif
