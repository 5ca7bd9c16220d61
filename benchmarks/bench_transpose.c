/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_transpose: PRK transpose (B += A^T) with bt_transpose against an
 * OpenMP tiled loop built -march=native (native_loops.c), same thread
 * count, same tile, same run.
 *
 *   bench_transpose [--workers=N] [--iterations=20] [--order=2000]
 *                   [--block=5] [--quick=1]      (--n= is --order=)
 *
 * PRK conventions: A(i,j) = order * i + j, B = 0; an iteration moves
 * 2 * 8 * order^2 bytes (PRK's count); MB/s = 1e-6 bytes / time. Unlike PRK,
 * A is not incremented in the loop (bt_transpose is B += A^T only), in
 * both versions. Validation: B(i,j) = (iterations run) * A(j,i), exactly. */
#include "bench_kernels.h"

enum { TILE = 32 }; /* the baseline's; baton's is BT__TRANSPOSE_TILE */

typedef struct transpose_run {
  bt_runtime *rt;
  bt_array *a, *b;
  double *pa, *pb;
  long order;
  int steps;
} transpose_run;

static void baton_step(void *ctx) {
  transpose_run *r = ctx;
  BENCH_OK(bt_transpose(r->rt, r->a, r->b));
  r->steps++;
}

static void omp_step(void *ctx) {
  transpose_run *r = ctx;
  native_transpose(r->pb, r->pa, r->order, TILE);
  r->steps++;
}

/* A(i,j) = order * i + j; ctx: the order */
static double a_entry(long i, long j, const void *ctx) {
  const long *order = ctx;
  return (double)(*order * i + j);
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 20, 5);
  long order = kbench_size(argc, argv, "order", kb.quick ? 512 : 2000);
  transpose_run r = {.rt = kb.rt, .order = order};
  r.a = kbench_matrix(&kb, order, a_entry, &order);
  r.b = kbench_matrix(&kb, order, NULL, NULL);
  size_t n2 = (size_t)order * (size_t)order;
  r.pa = kbench_alloc(n2);
  r.pb = kbench_alloc(n2);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < order; i++)
    for (long j = 0; j < order; j++)
      r.pa[i * order + j] = a_entry(i, j, &order), r.pb[i * order + j] = 0;
  transpose_run base = r;
  base.steps = 0;

  double tb, tl;
  kbench_compare(&kb, baton_step, &r, omp_step, &base, 0.02, &tb, &tl);

  double *got = kbench_alloc(n2);
  bt_slice s;
  bt_view v;
  BENCH_OK(bt_array_borrow(r.b, NULL, 0, &s));
  BENCH_OK(bt_slice_view(s, &v));
  memcpy(got, v.data, n2 * sizeof(double));
  BENCH_OK(bt_slice_release(s));
  int ok = 1, base_ok = 1;
  for (long i = 0; i < order; i++)
    for (long j = 0; j < order; j++) {
      double aji = a_entry(j, i, &order);
      ok &= got[i * order + j] == r.steps * aji;
      base_ok &= base.pb[i * order + j] == base.steps * aji;
    }
  kbench_check(ok, "baton's B");
  kbench_check(base_ok, "the baseline's B");
  free(got);

  double bytes = 2.0 * sizeof(double) * (double)order * (double)order;
  printf("transpose: order %ld, tile %d, %d workers, validated\n", order, TILE,
         kb.workers);
  bench_table_header(
      "transpose (PRK): B += A^T; baseline: OpenMP tiled loop, -march=native");
  bench_table_row("rate", "MB/s", 1e-6 * bytes / tb, 1e-6 * bytes / tl, 1);
  bench_table_row("time per iteration", "ms", 1e3 * tb, 1e3 * tl, 0);
  bench_result("transpose", "omp", kb.workers, 1, order, "MB/s",
               1e-6 * bytes / tb, 1e-6 * bytes / tl, 1);
  bench_result("transpose", "omp", kb.workers, 1, order, "ms", 1e3 * tb,
               1e3 * tl, 0);

  double o2 = (double)order * (double)order;
  bench_result("transpose", "omp", kb.workers, 1, order, "MFlop/s",
               1e-6 * o2 / tb, 1e-6 * o2 / tl, 1);
  /* at least: A read, B read and written */
  kbench_roofline("transpose", order, o2, 24.0 * o2, tb, tl);

  free(r.pa), free(r.pb);
  bt_array_release(r.a), bt_array_release(r.b);
  bt_runtime_destroy(kb.rt);
  return 0;
}
