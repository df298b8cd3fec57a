/*
** gelu_near_exhaustive: checks the bound kernels/quant.h states for
** qz_gelu_near on every float x with |x| <= QZ_GELU_NEAR_MAX (about 2.4e9
** values, a minute or two), where test_quant checks every 251st.  Built
** with the tests but not run by them:
**
**     build/tests/kernels/gelu_near_exhaustive
**
** Prints the worst error as a fraction of the tolerance; exits 1 if it
** exceeds 1/8 (the margin test_quant asks for).
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/ops_f32.h"
#include "kernels/quant.h"

int main(void) {
  float top = QZ_GELU_NEAR_MAX, wx = 0.0f;
  uint32_t last;
  memcpy(&last, &top, sizeof last);
  double worst = 0.0;
  long long n = 0;
  for (uint32_t b = 0; b <= last; b++)
    for (uint32_t sign = 0; sign < 2; sign++) {
      uint32_t u = b | sign << 31;
      float x;
      memcpy(&x, &u, sizeof x);
      double e = fabs((double)qz_gelu_near(x) - (double)kf_gelu1(x));
      double tol = (double)QZ_GELU_NEAR_TOL * fabs((double)x) + (double)QZ_GELU_NEAR_ABS;
      if (e / tol > worst) {
        worst = e / tol;
        wx = x;
      }
      n++;
    }
  printf("%lld floats with |x| <= %g: worst |qz_gelu_near - kf_gelu1| = %.4g of the tolerance "
         "(at x = %.9g)\n", n, (double)top, worst, (double)wx);
  return worst <= 0.125 ? 0 : 1;
}
