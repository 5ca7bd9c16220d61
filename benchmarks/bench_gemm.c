/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_gemm: PRK dgemm (C += A B) with bt_gemm (one band of C per worker,
 * single-threaded OpenBLAS on each) against OpenBLAS's own threaded dgemm
 * with as many threads, same run.
 *
 *   bench_gemm [--workers=N] [--iterations=10] [--order=1000] [--block=5]
 *              [--quick=1]      (--n= is --order=)
 *
 * PRK conventions: A(i,j) = B(i,j) = j, C = 0; 2 * order^3 flops per
 * iteration, MFlop/s = 1e-6 flops / time. Validation: the sum of C is
 * (iterations run) * order^3 (order-1)^2 / 4, to 1e-8 relative.
 * The baseline sets openblas_set_num_threads(workers) before each of its
 * phases; bt_gemm sets one thread for its own calls and restores it. */
#include "bench_kernels.h"

#ifdef BATON_WITH_BLAS
#include <cblas.h>

typedef struct gemm_run {
  bt_runtime *rt;
  bt_array *a, *b, *c;
  double *pa, *pb, *pc;
  long order;
  int steps, threads;
} gemm_run;

static void baton_step(void *ctx) {
  gemm_run *r = ctx;
  BENCH_OK(bt_gemm(r->rt, 1.0, r->a, r->b, 1.0, r->c));
  r->steps++;
}

static void blas_step(void *ctx) {
  gemm_run *r = ctx;
  int n = (int)r->order;
  if (openblas_get_num_threads() != r->threads)
    openblas_set_num_threads(r->threads);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, r->pa, n,
              r->pb, n, 1.0, r->pc, n);
  r->steps++;
}

/* A(i,j) = B(i,j) = j */
static double column_index(long i, long j, const void *ctx) {
  (void)i, (void)ctx;
  return (double)j;
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 10, 3);
  long order = kbench_size(argc, argv, "order", kb.quick ? 256 : 1000);
  size_t n2 = (size_t)order * (size_t)order;
  gemm_run r = {.rt = kb.rt, .order = order, .threads = kb.workers};
  r.a = kbench_matrix(&kb, order, column_index, NULL);
  r.b = kbench_matrix(&kb, order, column_index, NULL);
  r.c = kbench_matrix(&kb, order, NULL, NULL);
  r.pa = kbench_alloc(n2);
  r.pb = kbench_alloc(n2);
  r.pc = kbench_alloc(n2);
  for (long i = 0; i < order; i++)
    for (long j = 0; j < order; j++)
      r.pa[i * order + j] = r.pb[i * order + j] = column_index(i, j, NULL),
                       r.pc[i * order + j] = 0;
  gemm_run base = r;

  /* OpenBLAS's idle threads spin for a while after a threaded call: settle
   * longer between phases. */
  double tb, tl;
  kbench_compare(&kb, baton_step, &r, blas_step, &base, 0.3, &tb, &tl);

  double o = (double)order;
  double want = 0.25 * o * o * o * (o - 1) * (o - 1);
  double sum = 0, base_sum = 0;
  BENCH_OK(bt_sum(kb.rt, r.c, &sum));
  for (size_t i = 0; i < n2; i++) base_sum += base.pc[i];
  kbench_check(fabs(sum - r.steps * want) <= 1e-8 * r.steps * want,
               "baton's C");
  kbench_check(fabs(base_sum - base.steps * want) <= 1e-8 * base.steps * want,
               "the baseline's C");

  double flops = 2.0 * o * o * o;
  printf("gemm: order %ld, %d workers, validated\n", order, kb.workers);
  bench_table_header(
      "gemm (PRK dgemm): C += A B; baseline: OpenBLAS "
      "threaded dgemm");
  bench_table_row("rate", "MFlop/s", 1e-6 * flops / tb, 1e-6 * flops / tl, 1);
  bench_table_row("time per iteration", "ms", 1e3 * tb, 1e3 * tl, 0);
  bench_result("gemm", "openblas", kb.workers, 1, order, "MFlop/s",
               1e-6 * flops / tb, 1e-6 * flops / tl, 1);
  bench_result("gemm", "openblas", kb.workers, 1, order, "ms", 1e3 * tb,
               1e3 * tl, 0);

  /* at least: A and B read, C read and written */
  kbench_roofline("gemm", order, flops, 32.0 * o * o, tb, tl);

  free(r.pa), free(r.pb), free(r.pc);
  bt_array_release(r.a), bt_array_release(r.b), bt_array_release(r.c);
  bt_runtime_destroy(kb.rt);
  return 0;
}
#else
int main(void) {
  printf(
      "gemm: this build has no BLAS (-DBATON_BLAS=OFF); nothing to "
      "measure\n");
  return 0;
}
#endif
