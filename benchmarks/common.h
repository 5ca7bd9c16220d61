/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * common.h: what every benchmark shares: timing, statistics, and the two
 * output forms (machine-readable lines and a human table).
 *
 * A result line reads
 *   RESULT bench=<b> variant=<v> workers=<w> ranks=<r> size=<bytes|n>
 *          metric=<m> value=<x> baseline=<y> ratio=<x/y or y/x>
 * on one line, so benchmarks/run can turn it into a CSV row. The line goes
 * on with what a reader needs to trust the figure (values without spaces):
 *          baseline_name=<what the baseline is, when the benchmark said>
 *          commit=<git describe of the build> compiler=<gcc-12.2.0>
 *          build=<CMake build type> cpu=<model name> date=<UTC ISO 8601>
 *          quick=<0|1>
 */
#ifndef BATON_BENCH_COMMON_H
#define BATON_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "baton.h"

/* Monotonic time in seconds / nanoseconds. */
double bench_now(void);
int64_t bench_now_ns(void);

/* Median of n values (sorts them in place). */
double bench_median(double *v, int n);

/* Print one RESULT line. `higher_is_better` decides the ratio's direction
 * so that ratio > 1 always means baton is better than the baseline. */
void bench_result(const char *bench, const char *variant, int workers,
                  int ranks, long long size, const char *metric,
                  double value, double baseline, int higher_is_better);

/* Name the baseline of the RESULT lines printed after this call ("OpenMP
 * loop", "raw MPI"); NULL or "" to stop naming it. Not thread-safe: call it
 * from the thread that prints. */
void bench_set_baseline(const char *name);

/* A human table: bench_table_row prints an aligned row after a header. */
void bench_table_header(const char *title);
void bench_table_row(const char *what, const char *unit, double baton,
                     double baseline, int higher_is_better);

/* Abort with a message if a baton call fails: benchmarks do not go on
 * after an error. */
#define BENCH_OK(expr)                                                    \
  do {                                                                    \
    int bench_rc_ = (expr);                                               \
    if (bench_rc_ != BT_OK) bench_die(#expr, bench_rc_, __FILE__, __LINE__); \
  } while (0)
_Noreturn void bench_die(const char *expr, int rc, const char *file, int line);

/* Integer option from argv ("--name=value") or environment, else dflt. */
long bench_opt(int argc, char **argv, const char *name, long dflt);
/* The text of option "--name=value" in argv (the first), else dflt. */
const char *bench_opt_str(int argc, char **argv, const char *name,
                          const char *dflt);

/* 1 for a smoke run: --quick or --quick=1, or BATON_BENCH_QUICK=1 in the
 * environment (--quick=0 overrides the environment).
 * Every benchmark then uses sizes that finish in well under a few seconds
 * on a loaded machine; its figures are not meaningful. */
int bench_quick(int argc, char **argv);

#endif /* BATON_BENCH_COMMON_H */
