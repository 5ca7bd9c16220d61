/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_kernels_small: the fixed cost of a kernel call. nstream, dot,
 * axpy and axpby at sizes 10^3 .. 10^7 elements (stencil and transpose at orders
 * 32 .. 3162, the same element counts), each against the OpenMP loop on
 * the same threads in the same run: the ratio against size shows where the
 * fork-join cost stops mattering. The OpenMP loops are those of
 * native_loops.c and solver_loops.c (-O3 -march=native, as in
 * bench_nstream, bench_dot, bench_transpose and bench_solver_kernels: the
 * same axpby object as bench_solver_kernels), not loops compiled here with
 * the build's flags (RelWithDebInfo's -O2 left them scalar: an axpby at
 * 10^5 took 18 us here against 10 us there).
 *
 *   bench_kernels_small [--workers=N] [--min=1000] [--max=10000000]
 *                       [--quick=1]        (quick: 10^3 .. 10^5)
 *                       [--only=KERNEL]    (one kernel: nstream, dot, axpy,
 *                                           axpby, stencil or transpose)
 *
 * Each size runs as many iterations as fit in about 20 ms of work per side
 * (at least 20, at most 20 000), in blocks alternating with the baseline
 * (bench_kernels.h's protocol); the figure is the median time per call.
 * RESULT lines: bench=kernels_small variant=<kernel> size=<elements>
 * metric=us_per_call value=<baton> baseline=<OpenMP> ratio=<OpenMP/baton>
 * (above 1: baton is faster). Validation: each kernel's result is checked
 * against the baseline's at the last size. */
#include "bench_kernels.h"
#include "solver_loops.h"

typedef struct small_run {
  bt_runtime *rt;
  bt_array *a, *b, *c;    /* vectors (1-D) or matrices (2-D) */
  double *pa, *pb, *pc;   /* the baseline's */
  long n, order;          /* elements; matrix order (2-D kernels) */
  double result;
} small_run;

static const double scalar = 3.0;

static void nstream_baton(void *ctx) {
  small_run *r = ctx;
  BENCH_OK(bt_nstream(r->rt, r->a, r->b, r->c, scalar));
}

static void nstream_omp(void *ctx) {
  small_run *r = ctx;
  native_nstream(r->pa, r->pb, r->pc, scalar, r->n);
}

static void dot_baton(void *ctx) {
  small_run *r = ctx;
  BENCH_OK(bt_dot(r->rt, r->b, r->c, &r->result));
}

static void dot_omp(void *ctx) {
  small_run *r = ctx;
  r->result = native_dot(r->pb, r->pc, r->n);
}

static void axpy_baton(void *ctx) {
  small_run *r = ctx;
  BENCH_OK(bt_axpy(r->rt, 1e-3, r->b, r->a));
}

static void axpy_omp(void *ctx) {
  small_run *r = ctx;
  native_axpy(r->pa, r->pb, 1e-3, r->n);
}

static void axpby_baton(void *ctx) {
  small_run *r = ctx;
  BENCH_OK(bt_axpby(r->rt, 1e-3, r->b, 0.5, r->a));
}

/* bench_solver_kernels' loop (solver_loops.c), the same object */
static void axpby_omp(void *ctx) {
  small_run *r = ctx;
  solver_axpby(1e-3, r->pb, 0.5, r->pa, r->n);
}

static void stencil_baton(void *ctx) {
  small_run *r = ctx;
  BENCH_OK(bt_stencil(r->rt, 1, r->b, r->a));
}

/* radius 1 star, PRK weights (+-1/(2*1*1) on each arm's one point) */
static void stencil_omp(void *ctx) {
  small_run *r = ctx;
  native_star1(r->pa, r->pb, r->order);
}

static void transpose_baton(void *ctx) {
  small_run *r = ctx;
  BENCH_OK(bt_transpose(r->rt, r->b, r->a));
}

/* bench_transpose's tiled loop, baton's tile */
static void transpose_omp(void *ctx) {
  small_run *r = ctx;
  native_transpose(r->pa, r->pb, r->order, BT__TRANSPOSE_TILE);
}

typedef struct kernel {
  const char *name;
  int matrix; /* 2-D, order = sqrt(size) */
  kbench_step baton, omp;
} kernel;

static const kernel kernels[] = {
    {"nstream", 0, nstream_baton, nstream_omp},
    {"dot", 0, dot_baton, dot_omp},
    {"axpy", 0, axpy_baton, axpy_omp},
    {"axpby", 0, axpby_baton, axpby_omp},
    {"stencil", 1, stencil_baton, stencil_omp},
    {"transpose", 1, transpose_baton, transpose_omp},
};

static double entry_two(long i, long j, const void *ctx) {
  (void)ctx;
  return (double)((i * 7 + j * 3) % 11) * 0.25;
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 20, 20);
  kb.warm_s = 1e-6 * (double)bench_opt(argc, argv, "warm-us", 1000);
  long lo = bench_opt(argc, argv, "min", 1000);
  long hi = bench_opt(argc, argv, "max", kb.quick ? 100000 : 10000000);
  if (lo < 1 || hi < lo) {
    fprintf(stderr, "bench_kernels_small: bad --min/--max\n");
    return 2;
  }
  const char *only = bench_opt_str(argc, argv, "only", NULL);
  size_t nkernels = sizeof kernels / sizeof kernels[0], matched = 0;
  for (size_t k = 0; k < nkernels; k++)
    matched += !only || strcmp(only, kernels[k].name) == 0;
  if (matched == 0) {
    fprintf(stderr, "bench_kernels_small: no kernel named '%s'\n", only);
    return 2;
  }
  bench_table_header("kernel call vs OpenMP loop, same threads (us/call)");
  for (size_t k = 0; k < nkernels; k++) {
    const kernel *kn = &kernels[k];
    if (only && strcmp(only, kn->name) != 0) continue;
    for (long size = lo; size <= hi; size *= 10) {
      small_run r = {.rt = kb.rt};
      if (kn->matrix) {
        r.order = (long)(sqrt((double)size) + 0.5);
        if (r.order < 3) r.order = 3;
        r.n = r.order * r.order;
        r.a = kbench_matrix(&kb, r.order, NULL, NULL);
        r.b = kbench_matrix(&kb, r.order, entry_two, NULL);
      } else {
        r.n = size;
        r.a = kbench_vector(&kb, size, 0.0);
        r.b = kbench_vector(&kb, size, 2.0);
        r.c = kbench_vector(&kb, size, 2.0);
      }
      r.pa = kbench_alloc((size_t)r.n);
      r.pb = kbench_alloc((size_t)r.n);
      r.pc = kbench_alloc((size_t)r.n);
      long order = r.order;
#pragma omp parallel for schedule(static)
      for (long i = 0; i < r.n; i++) {
        r.pa[i] = 0;
        r.pb[i] = kn->matrix ? entry_two(i / order, i % order, NULL) : 2.0;
        r.pc[i] = 2.0;
      }
      /* about 20 ms of work per side at ~1 ns per element */
      long iters = 20000000L / r.n;
      if (iters < 20) iters = 20;
      if (iters > 20000) iters = 20000;
      if (kb.quick && iters > 200) iters = 200;
      kb.iterations = (int)iters;
      kb.block = (int)(iters / 4 > 1 ? iters / 4 : 1);
      small_run base = r;
      double tb, tl;
      kbench_compare(&kb, kn->baton, &r, kn->omp, &base, 0.02, &tb, &tl);
      if (kn->baton == dot_baton)
        kbench_check(r.result == base.result, "dot: baton and OpenMP agree");
      char what[64];
      snprintf(what, sizeof what, "%s, %ld elements", kn->name, r.n);
      bench_table_row(what, "us", 1e6 * tb, 1e6 * tl, 0);
      bench_result("kernels_small", kn->name, kb.workers, 1, r.n,
                   "us_per_call", 1e6 * tb, 1e6 * tl, 0);
      free(r.pa), free(r.pb), free(r.pc);
      bt_array_release(r.a), bt_array_release(r.b);
      if (r.c) bt_array_release(r.c);
    }
  }
  bt_runtime_destroy(kb.rt);
  return 0;
}
