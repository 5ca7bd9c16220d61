/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_dot: a dot product (PRK-style conventions) with bt_dot against an
 * OpenMP reduction built -march=native (native_loops.c), same thread count,
 * same run.
 *
 *   bench_dot [--workers=N] [--iterations=40] [--length=10000000]
 *             [--block=5] [--quick=1]      (--n= is --length=)
 *
 * x = 1, y = 2; an iteration reads 2 * 8 * length bytes and does 2 * length
 * flops; MB/s = 1e-6 bytes / time, MFlop/s likewise. Validation: both
 * results are exactly 2 * length. */
#include "bench_kernels.h"

typedef struct dot_run {
  bt_runtime *rt;
  bt_array *x, *y;
  double *px, *py;
  long length;
  double result;
} dot_run;

static void baton_step(void *ctx) {
  dot_run *r = ctx;
  BENCH_OK(bt_dot(r->rt, r->x, r->y, &r->result));
}

static void omp_step(void *ctx) {
  dot_run *r = ctx;
  r->result = native_dot(r->px, r->py, r->length);
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 40, 10);
  long length =
      kbench_size(argc, argv, "length", kb.quick ? 1000000 : 10000000);
  dot_run r = {.rt = kb.rt, .length = length};
  r.x = kbench_vector(&kb, length, 1.0);
  r.y = kbench_vector(&kb, length, 2.0);
  r.px = kbench_alloc((size_t)length);
  r.py = kbench_alloc((size_t)length);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < length; i++) r.px[i] = 1, r.py[i] = 2;
  dot_run base = r;

  double tb, tl;
  kbench_compare(&kb, baton_step, &r, omp_step, &base, 0.02, &tb, &tl);
  kbench_check(r.result == 2.0 * (double)length, "baton's dot");
  kbench_check(base.result == 2.0 * (double)length, "the baseline's dot");

  double bytes = 2.0 * sizeof(double) * (double)length;
  double flops = 2.0 * (double)length;
  printf("dot: length %ld, %d workers, validated\n", length, kb.workers);
  bench_table_header("dot: x . y; baseline: OpenMP reduction, -march=native");
  bench_table_row("rate", "MB/s", 1e-6 * bytes / tb, 1e-6 * bytes / tl, 1);
  bench_table_row("rate", "MFlop/s", 1e-6 * flops / tb, 1e-6 * flops / tl, 1);
  bench_table_row("time per iteration", "ms", 1e3 * tb, 1e3 * tl, 0);
  bench_result("dot", "omp", kb.workers, 1, length, "MB/s", 1e-6 * bytes / tb,
               1e-6 * bytes / tl, 1);
  bench_result("dot", "omp", kb.workers, 1, length, "MFlop/s",
               1e-6 * flops / tb, 1e-6 * flops / tl, 1);

  kbench_roofline("dot", length, flops, bytes, tb, tl);

  free(r.px), free(r.py);
  bt_array_release(r.x), bt_array_release(r.y);
  bt_runtime_destroy(kb.rt);
  return 0;
}
