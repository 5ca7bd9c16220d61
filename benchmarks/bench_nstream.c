/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_nstream: PRK nstream (A += B + scalar * C) with bt_nstream, then
 * axpy (Y += alpha X) with bt_axpy, each against an OpenMP loop built
 * -march=native (native_loops.c), same thread count, same run.
 *
 *   bench_nstream [--workers=N] [--iterations=40] [--length=10000000]
 *                 [--block=5] [--quick=1]      (--n= is --length=)
 *
 * PRK conventions: A = 0, B = 2, C = 2, scalar = 3; an iteration moves
 * 4 * 8 * length bytes (read A, B, C, write A); MB/s = 1e-6 bytes / time.
 * Validation: every A[i] = (iterations run) * (B + scalar * C).
 * axpy: Y = A (as validated), X = C, alpha = 0.5; 3 * 8 * length bytes and
 * 2 * length flops per iteration; validation: Y grows by 1 per iteration. */
#include "bench_kernels.h"

typedef struct nstream_run {
  bt_runtime *rt;
  bt_array *a, *b, *c;
  double *pa, *pb, *pc;
  long length;
  int steps;
} nstream_run;

static const double scalar = 3.0;

static void baton_step(void *ctx) {
  nstream_run *r = ctx;
  BENCH_OK(bt_nstream(r->rt, r->a, r->b, r->c, scalar));
  r->steps++;
}

static void omp_step(void *ctx) {
  nstream_run *r = ctx;
  native_nstream(r->pa, r->pb, r->pc, scalar, r->length);
  r->steps++;
}

static void baton_axpy(void *ctx) {
  nstream_run *r = ctx;
  BENCH_OK(bt_axpy(r->rt, 0.5, r->c, r->a));
  r->steps++;
}

static void native_axpy_step(void *ctx) {
  nstream_run *r = ctx;
  native_axpy(r->pa, r->pc, 0.5, r->length);
  r->steps++;
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 40, 10);
  long length =
      kbench_size(argc, argv, "length", kb.quick ? 1000000 : 10000000);
  nstream_run r = {.rt = kb.rt, .length = length};
  r.a = kbench_vector(&kb, length, 0.0);
  r.b = kbench_vector(&kb, length, 2.0);
  r.c = kbench_vector(&kb, length, 2.0);
  r.pa = kbench_alloc((size_t)length);
  r.pb = kbench_alloc((size_t)length);
  r.pc = kbench_alloc((size_t)length);
  /* first touch by the threads that use each block */
#pragma omp parallel for schedule(static)
  for (long i = 0; i < length; i++) r.pa[i] = 0, r.pb[i] = 2, r.pc[i] = 2;

  nstream_run base = r; /* the same sizes; the baseline's counters */
  base.steps = 0;
  double tb, tl;
  kbench_compare(&kb, baton_step, &r, omp_step, &base, 0.02, &tb, &tl);

  double want = (2.0 + scalar * 2.0), sum = 0;
  BENCH_OK(bt_sum(kb.rt, r.a, &sum));
  kbench_check(fabs(sum - want * r.steps * (double)length) <=
                   1e-9 * want * r.steps * (double)length,
               "baton's A");
  int base_ok = 1;
  for (long i = 0; i < length; i++) base_ok &= base.pa[i] == want * base.steps;
  kbench_check(base_ok, "the baseline's A");

  double bytes = 4.0 * sizeof(double) * (double)length;
  double flops = 3.0 * (double)length;
  printf("nstream: length %ld, %d workers, validated\n", length, kb.workers);
  bench_table_header(
      "nstream (PRK): A += B + 3 C; baseline: OpenMP loop, -march=native");
  bench_table_row("rate", "MB/s", 1e-6 * bytes / tb, 1e-6 * bytes / tl, 1);
  bench_table_row("time per iteration", "ms", 1e3 * tb, 1e3 * tl, 0);
  bench_result("nstream", "omp", kb.workers, 1, length, "MB/s",
               1e-6 * bytes / tb, 1e-6 * bytes / tl, 1);
  bench_result("nstream", "omp", kb.workers, 1, length, "ms", 1e3 * tb,
               1e3 * tl, 0);
  bench_result("nstream", "omp", kb.workers, 1, length, "MFlop/s",
               1e-6 * flops / tb, 1e-6 * flops / tl, 1);
  kbench_roofline("nstream", length, flops, bytes, tb, tl);

  /* axpy on the validated A: Y = A, X = C = 2, alpha 0.5: Y += 1 */
  double y0 = want * r.steps, by0 = want * base.steps;
  r.steps = base.steps = 0;
  kbench_compare(&kb, baton_axpy, &r, native_axpy_step, &base, 0.02, &tb, &tl);
  BENCH_OK(bt_sum(kb.rt, r.a, &sum));
  kbench_check(fabs(sum - (y0 + r.steps) * (double)length) <=
                   1e-9 * (y0 + r.steps) * (double)length,
               "baton's Y");
  base_ok = 1;
  for (long i = 0; i < length; i++) base_ok &= base.pa[i] == by0 + base.steps;
  kbench_check(base_ok, "the baseline's Y");
  bytes = 3.0 * sizeof(double) * (double)length;
  flops = 2.0 * (double)length;
  printf("axpy: length %ld, %d workers, validated\n", length, kb.workers);
  bench_table_header("axpy: Y += 0.5 X; baseline: OpenMP loop, -march=native");
  bench_table_row("rate", "MB/s", 1e-6 * bytes / tb, 1e-6 * bytes / tl, 1);
  bench_table_row("time per iteration", "ms", 1e3 * tb, 1e3 * tl, 0);
  bench_result("axpy", "omp", kb.workers, 1, length, "MB/s", 1e-6 * bytes / tb,
               1e-6 * bytes / tl, 1);
  bench_result("axpy", "omp", kb.workers, 1, length, "MFlop/s",
               1e-6 * flops / tb, 1e-6 * flops / tl, 1);
  kbench_roofline("axpy", length, flops, bytes, tb, tl);

  free(r.pa), free(r.pb), free(r.pc);
  bt_array_release(r.a), bt_array_release(r.b), bt_array_release(r.c);
  bt_runtime_destroy(kb.rt);
  return 0;
}
