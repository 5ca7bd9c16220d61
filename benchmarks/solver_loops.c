/* SPDX-License-Identifier: BSD-3-Clause */
/* solver_loops.c: bench_solver_kernels' OpenMP baselines (solver_loops.h),
 * built with -march=native -O3. */
#include "solver_loops.h"

void solver_axpby(double alpha, const double *restrict x, double beta,
                  double *restrict y, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) y[i] = alpha * x[i] + beta * y[i];
}

void solver_waxpby(double alpha, const double *restrict x, double beta,
                   const double *restrict y, double *restrict w, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) w[i] = alpha * x[i] + beta * y[i];
}

void solver_stencil27(const double *restrict in, double *restrict out, long m,
                      const double *w) {
  const long plane = m * m;
#pragma omp parallel for schedule(static)
  for (long z = 1; z < m - 1; z++)
    for (long y = 1; y < m - 1; y++) {
      const double *c = in + z * plane + y * m;
      double *restrict o = out + z * plane + y * m;
      const double *restrict r0 = c - plane - m, *restrict r1 = c - plane,
                             *restrict r2 = c - plane + m, *restrict r3 = c - m,
                             *restrict r4 = c, *restrict r5 = c + m,
                             *restrict r6 = c + plane - m,
                             *restrict r7 = c + plane,
                             *restrict r8 = c + plane + m;
      for (long x = 1; x < m - 1; x++) {
        double s0 = w[0] * r0[x - 1] + w[1] * r0[x] + w[2] * r0[x + 1];
        double s1 = w[3] * r1[x - 1] + w[4] * r1[x] + w[5] * r1[x + 1];
        double s2 = w[6] * r2[x - 1] + w[7] * r2[x] + w[8] * r2[x + 1];
        s0 += w[9] * r3[x - 1] + w[10] * r3[x] + w[11] * r3[x + 1];
        s1 += w[12] * r4[x - 1] + w[13] * r4[x] + w[14] * r4[x + 1];
        s2 += w[15] * r5[x - 1] + w[16] * r5[x] + w[17] * r5[x + 1];
        s0 += w[18] * r6[x - 1] + w[19] * r6[x] + w[20] * r6[x + 1];
        s1 += w[21] * r7[x - 1] + w[22] * r7[x] + w[23] * r7[x + 1];
        s2 += w[24] * r8[x - 1] + w[25] * r8[x] + w[26] * r8[x + 1];
        o[x] = s0 + s1 + s2;
      }
    }
}

void solver_spmv(const int64_t *restrict rowptr, const int64_t *restrict colidx,
                 const double *restrict values, const double *restrict x,
                 double *restrict y, long rows) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < rows; i++) {
    double s = 0;
    for (int64_t q = rowptr[i]; q < rowptr[i + 1]; q++)
      s += values[q] * x[colidx[q]];
    y[i] = s;
  }
}
