/*
** test_stats.c -- checks harness/stats.c against hand-computed values:
** quantiles, MAD, the Mann-Whitney U test (exact distribution and the
** tie-corrected normal approximation) and change-point detection.
** One line per check; exit status 1 when any check fails.
*/
#include "harness/stats.h"

#include <math.h>
#include <stdio.h>

static int nfail = 0, npass = 0;

#define CHECK(cond, desc) do {                                              \
        if (cond) { printf("ok   %s\n", desc); npass++; }                   \
        else { printf("FAIL %s  (%s:%d: %s)\n", desc, __FILE__, __LINE__, #cond); nfail++; } \
    } while (0)

#define NEAR(a, b, tol) (fabs((a) - (b)) <= (tol))

int main(void)
{
    /* Quantiles: numpy linear interpolation. */
    double odd[] = {3, 1, 2}, even[] = {4, 1, 3, 2};
    double ten[] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    CHECK(stats_median(odd, 3) == 2, "median of 3 values");
    CHECK(stats_median(even, 4) == 2.5, "median of 4 values interpolates");
    CHECK(NEAR(stats_p90(ten, 10), 9.1, 1e-12), "p90 of 1..10 is 9.1");
    CHECK(stats_quantile(ten, 10, 0) == 1 && stats_quantile(ten, 10, 1) == 10, "quantile 0 and 1 are min and max");
    CHECK(isnan(stats_median(ten, 0)), "median of nothing is NaN");
    CHECK(ten[0] == 10 && ten[9] == 1, "input is not reordered");
    double mad[] = {1, 1, 2, 2, 4, 6, 9};
    CHECK(stats_mad(mad, 7) == 1, "MAD of {1,1,2,2,4,6,9} is 1");

    /* Mann-Whitney, exact: complete separation of 5 vs 5: U = 0,
    ** P = 2 / C(10,5) = 2/252. */
    stats_mw mw;
    double a5[] = {1, 2, 3, 4, 5}, b5[] = {6, 7, 8, 9, 10};
    CHECK(stats_mann_whitney(a5, 5, b5, 5, &mw) == 0 && mw.exact, "5 vs 5 without ties uses the exact test");
    CHECK(mw.u == 0 && NEAR(mw.p, 2.0 / 252, 1e-12), "5 vs 5 separated: U 0, p 2/252");
    CHECK(stats_mann_whitney(b5, 5, a5, 5, &mw) == 0 && mw.u == 25 && NEAR(mw.p, 2.0 / 252, 1e-12),
          "reversed: U 25, same p");
    /* {1,3,5} vs {2,4,6}: U = 3; counts of U for 3 vs 3 are
    ** 1,1,2,3,3,3,3,2,1,1 (of 20), so P(U <= 3) = 7/20 and p = 0.7. */
    double a3[] = {1, 3, 5}, b3[] = {2, 4, 6};
    CHECK(stats_mann_whitney(a3, 3, b3, 3, &mw) == 0 && mw.u == 3 && NEAR(mw.p, 0.7, 1e-12),
          "3 vs 3 interleaved: U 3, p 0.7");
    double c3[] = {1, 2, 3};
    CHECK(stats_mann_whitney(c3, 3, c3, 3, &mw) == 0 && !mw.exact && mw.p == 1, "identical groups: p 1");
    double same[] = {4, 4, 4};
    CHECK(stats_mann_whitney(same, 3, same, 3, &mw) == 0 && mw.p == 1, "all values equal: p 1");

    /* Normal approximation with ties: {1,2,3,4,5,5} vs {5,6,...,10}:
    ** mid-rank of the three 5s is 6, R_a = 22, U = 1, mu = 18,
    ** var = 36/12 (13 - 24/132) = 38.4545..., z = -16.5/sqrt(var)
    ** = -2.66079, p = erfc(2.66079/sqrt 2) = 0.0077958. */
    double at[] = {1, 2, 3, 4, 5, 5}, bt[] = {5, 6, 7, 8, 9, 10};
    CHECK(stats_mann_whitney(at, 6, bt, 6, &mw) == 0 && !mw.exact, "ties use the normal approximation");
    CHECK(mw.u == 1 && NEAR(mw.z, -2.660787, 1e-5) && NEAR(mw.p, 0.0077958, 1e-6),
          "tie-corrected z -2.6608 and p 0.0077958");
    /* Large groups without ties: a = 0..29, b = a + 10.5: U = 190,
    ** z = (450 - 190 - 0.5) / sqrt(900 * 61 / 12) = 3.83656,
    ** p = 1.2477e-4. */
    double al[30], bl[30];
    for (int i = 0; i < 30; i++) {
        al[i] = i;
        bl[i] = i + 10.5;
    }
    CHECK(stats_mann_whitney(al, 30, bl, 30, &mw) == 0 && !mw.exact && mw.u == 190, "30 vs 30: U 190");
    CHECK(NEAR(mw.p, 1.2477054e-4, 1e-8), "30 vs 30: p 1.2477e-4");
    /* At the exact limit: 25 vs 25, b = a + 5.5: U = 190; the exact p from
    ** the recursion f(m,n,u) = f(m-1,n,u-n) + f(m,n-1,u) is 0.0169822163535. */
    double ae[25], be[25];
    for (int i = 0; i < 25; i++) {
        ae[i] = i;
        be[i] = i + 5.5;
    }
    stats_mw ex;
    CHECK(stats_mann_whitney(ae, 25, be, 25, &ex) == 0 && ex.exact && ex.u == 190 &&
              NEAR(ex.p, 0.016982216353507558, 1e-12),
          "25 vs 25 exact: U 190, p 0.0169822");
    CHECK(stats_mann_whitney(ae, 0, be, 25, &mw) == -1, "an empty group is an error");

    /* Change points. */
    int cp[8];
    double step[] = {10, 10.1, 9.9, 10, 10.05, 12, 12.1, 11.9, 12, 12.05};
    int n = stats_changepoints(step, 10, 2, 0.05, cp, 8);
    CHECK(n == 1 && cp[0] == 5, "one 20% step found at index 5");
    double noise[] = {10, 10.2, 9.9, 10.1, 9.8, 10, 10.1, 9.9, 10.2, 10};
    CHECK(stats_changepoints(noise, 10, 2, 0.05, cp, 8) == 0, "2% noise has no change point");
    double two[] = {1, 1, 1, 1, 5, 5, 5, 5, 2, 2, 2, 2};
    n = stats_changepoints(two, 12, 2, 0.05, cp, 8);
    CHECK(n == 2 && cp[0] == 4 && cp[1] == 8, "two steps found at 4 and 8, ascending");
    double acc[] = {50, 50, 50, 48, 48};
    n = stats_changepoints(acc, 5, 1, 1e-9, cp, 8);
    CHECK(n == 1 && cp[0] == 3, "deterministic series: single-run level change at 3");
    double spike[] = {10, 10, 10, 10, 30, 10, 10, 10, 10};
    CHECK(stats_changepoints(spike, 9, 2, 0.05, cp, 8) == 0, "one outlier is not a level change (min_seg 2)");
    CHECK(stats_changepoints(step, 3, 2, 0.05, cp, 8) == 0, "too short a series has none");

    /* paired differences: by hand, d = {0, .1, .2, -.2}: mean .025, s^2 =
    ** .0875 / 3, half width 1.959964 * sqrt(s^2 / 4) = .167364 */
    stats_paired pd;
    double pa[] = {0.5, 0.7, 0.9, 0.4}, pb[] = {0.5, 0.6, 0.7, 0.6};
    CHECK(stats_paired_diff(pa, pb, 4, &pd) == 0 && pd.n == 4 && NEAR(pd.mean, 0.025, 1e-12),
          "paired: mean of the differences");
    CHECK(NEAR(pd.lo, 0.025 - 0.167364, 1e-6) && NEAR(pd.hi, 0.025 + 0.167364, 1e-6),
          "paired: 95%% interval by hand");
    CHECK(pd.above == 2 && pd.below == 1, "paired: 2 items above, 1 below, 1 equal");
    CHECK(stats_paired_diff(pb, pa, 4, &pd) == 0 && NEAR(pd.mean, -0.025, 1e-12) && pd.above == 1 &&
          pd.below == 2 && NEAR(pd.hi, -0.025 + 0.167364, 1e-6), "paired: swapping the sides negates");
    CHECK(stats_paired_diff(pa, pa, 4, &pd) == 0 && pd.mean == 0 && pd.lo == 0 && pd.hi == 0 &&
          pd.above == 0 && pd.below == 0, "paired: identical measurements, a zero-width interval at 0");
    double pc[10], pe[10];
    for (int i = 0; i < 10; i++) {
        pe[i] = 0.5;
        pc[i] = 0.5 + (i == 3 ? 0.02 : 0.01);
    }
    CHECK(stats_paired_diff(pc, pe, 10, &pd) == 0 && pd.lo > 0 && pd.above == 10,
          "paired: a consistent gain has an interval above 0");
    CHECK(stats_paired_diff(pa, pb, 1, &pd) == 0 && isnan(pd.lo) && isnan(pd.hi) && pd.mean == 0,
          "paired: one item has no interval");
    CHECK(stats_paired_diff(pa, pb, 0, &pd) == -1 && isnan(pd.mean), "paired: no items is an error");

    printf("%d passed, %d failed\n", npass, nfail);
    return nfail ? 1 : 0;
}
