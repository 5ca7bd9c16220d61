/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * solver_loops.h: bench_solver_kernels' baselines, OpenMP loops compiled in
 * their own object with -march=native -O3 (in baton_bench_native, as
 * native_loops.h), as a user who builds for the machine writes them, while
 * baton is built for the generic target and dispatches at run time. Each
 * is a parallel for with schedule(static) over the caller's thread count.
 */
#ifndef BATON_SOLVER_LOOPS_H
#define BATON_SOLVER_LOOPS_H

#include <stdint.h>

/* y = alpha x + beta y */
void solver_axpby(double alpha, const double *x, double beta, double *y,
                  long n);
/* w = alpha x + beta y */
void solver_waxpby(double alpha, const double *x, double beta, const double *y,
                   double *w, long n);
/* The 27-point operator on an m^3 array (one ghost layer): out = sum of
 * w[(dz+1)*9 + (dy+1)*3 + dx+1] in[z+dz][y+dy][x+dx] on the interior, the
 * fused 27-term loop. */
void solver_stencil27(const double *in, double *out, long m, const double *w);
/* y = A x, CSR, rows over the threads. */
void solver_spmv(const int64_t *rowptr, const int64_t *colidx,
                 const double *values, const double *x, double *y, long rows);

#endif /* BATON_SOLVER_LOOPS_H */
