/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * native_loops.h: the kernel benchmarks' baselines, compiled in their own
 * object (native_loops.c) with -march=native -O3, as a user who builds for
 * the machine would write them, while baton itself is built for the generic
 * target and dispatches at run time. Each is an OpenMP loop with
 * schedule(static) over as many threads as the caller set.
 */
#ifndef BATON_NATIVE_LOOPS_H
#define BATON_NATIVE_LOOPS_H

/* The -march / ISA this object was built for, for the benchmarks' output. */
const char *native_isa(void);

void native_fill(double *a, double value, long n);
/* a[i] += b[i] + scalar * c[i] */
void native_nstream(double *a, const double *b, const double *c, double scalar,
                    long n);
/* y[i] += alpha * x[i] */
void native_axpy(double *y, const double *x, double alpha, long n);
double native_dot(const double *x, const double *y, long n);
/* The same dot with eight independent partial sums per thread: the most a
 * read-only stream of two arrays reaches here (no chain of dependent adds),
 * the roof of a read-only kernel. */
double native_dot_unrolled(const double *x, const double *y, long n);
/* out += S(in) for PRK's radius-1 star (weights +-1/2) on the interior,
 * no update of in: bench_kernels_small's stencil step. */
void native_star1(double *out, const double *in, long n);
/* PRK star stencil of radius r on the interior, out += S(in), then
 * in += 1 everywhere (the loops of PRK's stencil). w[k], k = 1..r. */
void native_stencil(double *out, double *in, long n, int r, const double *w);
/* b += a^T, n x n, tiles of `tile`. */
void native_transpose(double *b, const double *a, long n, int tile);

/* ---- the machine's limits (the roofline) ---------------------------------
 * STREAM triad a[i] = b[i] + scalar * c[i] on `threads` threads (1 or the
 * caller's count); stream: non-temporal stores (no read of a's lines before
 * they are written). */
void native_triad(double *a, const double *b, const double *c, double scalar,
                  long n, int threads, int stream);
/* Double-precision FMAs at the widest width, `rounds` rounds of
 * independent chains on each of `threads` threads; returns the flops done
 * (2 per FMA lane). */
double native_fma_peak(long rounds, int threads);

#endif /* BATON_NATIVE_LOOPS_H */
