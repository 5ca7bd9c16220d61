/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * simd.h: kernels' inner loops compiled once per SIMD level, and the level
 * this process runs, chosen once at run time from the CPU's features (as
 * glibc's and OpenBLAS's dispatch do). Private to kernels/; never installed.
 *
 * A loop body is written once, in plain C, in simd_body.h. That header is
 * compiled once per level by a file of its own: simd_generic.c with the
 * build's flags (x86-64's baseline, SSE2, in a distribution's generic
 * build), simd_avx2.c with -mavx2 -mfma, simd_avx512.c with AVX-512F/VL/DQ
 * (kernels/CMakeLists.txt sets the flags; the compiler vectorizes the same
 * source for each). Each file defines one bt__simd_ops table; kernels call
 * through bt__simd()->name(...). With -DBATON_NATIVE=ON every file is built
 * with -march=native and the one variant is named "native".
 *
 * Every variant gives the same bits: the bodies are compiled with
 * -ffp-contract=off (no fused multiply-add the source does not write), and
 * reductions accumulate element i of a run in lane i % BT__SIMD_LANES, the
 * lanes combined in a fixed order, whatever the vector width. So a result
 * does not depend on the level (tests/test_simd.c checks it bit for bit).
 *
 * To add a kernel body: a member here, its loop in simd_body.h (named
 * without suffix; the header adds it), its entry in the table at the end of
 * simd_body.h.
 */
#ifndef BATON_KERNELS_SIMD_H
#define BATON_KERNELS_SIMD_H

#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* Reductions' interleaved accumulators: 16 doubles, enough independent
 * chains to hide the add latency at every width (8 SSE2 registers, 4 AVX2,
 * 2 AVX-512). */
#define BT__SIMD_LANES 16

/* The largest |x| whose square nrm2 sums as it is, and the smallest
 * (Blue's thresholds, as LAPACK 3.10's dnrm2). */
#define BT__NRM2_TSML 0x1p-511
#define BT__NRM2_TBIG 0x1p+486

/* The side of transpose's square tile. */
#define BT__TRANSPOSE_TILE 32

typedef struct bt__simd_ops {
  /* a[0..n) = value */
  void (*fill)(double *a, double value, int64_t n);
  /* a[i] += b[i] + scalar * c[i] */
  void (*nstream)(double *a, const double *b, const double *c, double scalar,
                  int64_t n);
  /* y[i] += alpha * x[i] */
  void (*axpy)(double *y, const double *x, double alpha, int64_t n);
  /* y[i] = x[i] (blas1.c) */
  void (*copy)(double *y, const double *x, int64_t n);
  /* x[i] *= alpha (blas1.c) */
  void (*scal)(double *x, double alpha, int64_t n);
  /* w[i] = alpha * x[i] + beta * y[i], w distinct from x and y, x may be
   * y (blas1.c) */
  void (*waxpby)(double *w, const double *x, const double *y, double alpha,
                 double beta, int64_t n);
  /* w[i] = alpha * w[i] + beta * y[i] (blas1.c; its w = alpha x + beta w
   * is this with the coefficients swapped: the same bits, as IEEE addition
   * and multiplication commute) */
  void (*axpby_in)(double *w, const double *y, double alpha, double beta,
                   int64_t n);
  /* lane[i % LANES] += x[i] * y[i], in increasing i per lane */
  void (*dot)(const double *x, const double *y, int64_t n, double *lane);
  /* lane[i % LANES] += x[i] */
  void (*sum)(const double *x, int64_t n, double *lane);
  /* lane[i % LANES] += x[i]^2 for i in [0, k), where k is the largest
   * multiple of LANES such that every |x[i]|, i < k, is 0 or in
   * [TSML, TBIG]; returns k (the caller takes the block at k, not all
   * mid-sized, element by element, and calls again after it). */
  int64_t (*nrm2_mid)(const double *x, int64_t n, double *lane);
  /* One row of the star stencil, dense rows: orow[j] += sum over
   * k = 1..radius of w[k] ((irow[j+k] - irow[j-k]) + (dn_k[j] - up_k[j]))
   * for j in [radius, cols - radius), where up_k / dn_k are the rows k
   * above / below (irow -/+ k * is0). */
  void (*stencil_row)(double *orow, const double *irow, int64_t is0,
                      int64_t radius, int64_t cols, const double *w);
  /* stencil_apply.c, the 27-point box: o[j] = sum over the 9 input rows
   * r[q] of w[3q] r[q][j-1] + w[3q+1] r[q][j] + w[3q+2] r[q][j+1], one
   * row at a time, for j in [0, n) */
  void (*box27_row)(double *o, const double *const *r, const double *w,
                    int64_t n);
  /* stencil_apply.c, the generic path: o[j] (= 0 when first) + the sum of
   * w[k] c[delta[k] + j], k < cnt (1 to 4), left to right */
  void (*stencil_group)(double *o, const double *c, const int64_t *delta,
                        const double *w, int cnt, int first, int64_t n);
  /* A tile of at most TILE x TILE: b[i][j] += a[j][i], i < rows, j < cols,
   * dense rows. */
  void (*transpose_tile)(double *b, int64_t bs0, const double *a, int64_t as0,
                         int64_t rows, int64_t cols);
} bt__simd_ops;

/* The ops of the level this process runs (chosen on first call: see
 * bt__simd_level). Cheap: one atomic load. */
const bt__simd_ops *bt__simd(void);

/* ---- levels -------------------------------------------------------------
 * The variants this build has, index 0 the baseline, in increasing order.
 * The choice: BATON_SIMD unset, empty or "auto": the highest the CPU
 * supports. A level's name: that level if the CPU supports it; if it does
 * not (or this build lacks it), the highest below it that it supports, with
 * one line on stderr. Anything else: auto, with one line on stderr. */
int bt__simd_levels(void);
const char *bt__simd_level_name(int level);
/* 1 if this CPU runs level's code; otherwise 0 and, if why is non-NULL,
 * what it lacks ("AVX-512F, AVX-512VL or AVX-512DQ"). */
int bt__simd_level_supported(int level, const char **why);
/* The level in use (resolving BATON_SIMD on first call). */
int bt__simd_level(void);
/* How the level in use was chosen, one sentence ("auto: the highest this
 * CPU supports", "BATON_SIMD=avx512 asks for a level this CPU lacks
 * (AVX-512F...): using avx2"). */
const char *bt__simd_reason(void);

/* The pure rule behind the choice: the level for BATON_SIMD value `value`
 * (NULL: unset) on a CPU that supports levels [0, supported]. Writes a
 * sentence into why (len bytes) when the answer differs from what was
 * asked. Returns the level; *valid (may be NULL) is 0 for a value that is
 * not auto nor a level's name. */
int bt__simd_parse(const char *value, int supported, int *valid, char *why,
                   unsigned len);

/* Tests: run `level` from now on, whatever BATON_SIMD says. BT_OK, or
 * BT_EINVAL for a level out of range, BT_ENOTSUP for one this CPU lacks.
 * Not for use while kernels run. */
int bt__simd_force(int level);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_KERNELS_SIMD_H */
