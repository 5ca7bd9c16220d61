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
 * phases; bt_gemm sets one thread for its own calls and restores it.
 *
 * Then a small C with a long k, where tiles of C alone leave workers
 * starved and bt_gemm splits k (kernels/tiles.h): C (m x n) += A (m x k)
 * B (k x n) with --small-m=64 --small-n=64 --small-k=100000 (k 10000 with
 * --quick; --small-k=0 skips it), A = 1, B = 0.5, against the same
 * threaded OpenBLAS; once with bt_gemm's own plan (bench=gemm_smallc
 * variant=openblas) and once with the split of k turned off
 * (variant=nosplit_vs_openblas), and, when the plan splits k, the plan
 * against the split turned off directly (variant=split_vs_nosplit), all in
 * the same run. */
#include "bench_kernels.h"
#include "tiles.h"

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

/* ---- a small C, a long k ---------------------------------------------- */

typedef struct small_run {
  bt_runtime *rt;
  bt_array *a, *b, *c;
  double *pa, *pb, *pc;
  int m, n, k, steps, threads, force;
} small_run;

static void small_baton(void *ctx) {
  small_run *r = ctx;
  bt__gemm_force_ksplit(r->force);
  BENCH_OK(bt_gemm(r->rt, 1.0, r->a, r->b, 1.0, r->c));
  bt__gemm_force_ksplit(0);
  r->steps++;
}

static void small_blas(void *ctx) {
  small_run *r = ctx;
  if (openblas_get_num_threads() != r->threads)
    openblas_set_num_threads(r->threads);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r->m, r->n, r->k, 1.0,
              r->pa, r->k, r->pb, r->n, 1.0, r->pc, r->n);
  r->steps++;
}

static bt_array *placed(kbench *kb, long rows, long cols, double value) {
  int64_t shape[2] = {rows, cols};
  bt_array *x;
  BENCH_OK(bt_array_create(kb->rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &x));
  BENCH_OK(bt_fill(kb->rt, x, value));
  return x;
}

static void small_c(kbench *kb, int m, int n, int k) {
  small_run r = {.rt = kb->rt, .m = m, .n = n, .k = k, .threads = kb->workers};
  r.a = placed(kb, m, k, 1.0);
  r.b = placed(kb, k, n, 0.5);
  r.c = placed(kb, m, n, 0.0);
  r.pa = kbench_alloc((size_t)m * (size_t)k);
  r.pb = kbench_alloc((size_t)k * (size_t)n);
  r.pc = kbench_alloc((size_t)m * (size_t)n);
  for (size_t i = 0; i < (size_t)m * (size_t)k; i++) r.pa[i] = 1.0;
  for (size_t i = 0; i < (size_t)k * (size_t)n; i++) r.pb[i] = 0.5;
  for (size_t i = 0; i < (size_t)m * (size_t)n; i++) r.pc[i] = 0.0;
  int *node = malloc(sizeof *node * (size_t)kb->workers);
  bt__tile *tiles = malloc(sizeof *tiles * (size_t)kb->workers);
  if (!node || !tiles) exit(1);
  for (int w = 0; w < kb->workers; w++) node[w] = bt_worker_numa(kb->rt, w);
  int ksplit = 1;
  (void)bt__gemm_plan(m, n, k, kb->workers, node, 0, tiles, &ksplit);
  free(node), free(tiles);

  double flops = 2.0 * m * n * (double)k;
  bench_set_baseline("threaded OpenBLAS dgemm");
  small_run base = r; /* the same sizes; the baseline's count */
  for (int off = 0; off < 2; off++) {
    r.force = off ? 1 : 0;
    double tb, tl;
    kbench_compare(kb, small_baton, &r, small_blas, &base, 0.3, &tb, &tl);
    /* C accumulates over both phases: every element 0.5 k per step */
    double want = 0.5 * k * m * n, sum = 0, base_sum = 0;
    BENCH_OK(bt_sum(kb->rt, r.c, &sum));
    for (size_t i = 0; i < (size_t)m * (size_t)n; i++) base_sum += base.pc[i];
    kbench_check(sum == r.steps * want, "baton's small C");
    kbench_check(base_sum == base.steps * want, "the baseline's C");
    printf("gemm, small C: %d x %d, k %d, %d workers, %s, validated\n", m, n, k,
           kb->workers,
           off          ? "split of k off"
           : ksplit > 1 ? "k split"
                        : "k not split");
    if (!off) printf("  plan: k split %d ways\n", ksplit);
    bench_table_header(off ? "gemm, small C, long k, no split of k; baseline: "
                             "OpenBLAS threaded dgemm"
                           : "gemm, small C, long k, bt_gemm's plan; "
                             "baseline: OpenBLAS threaded dgemm");
    bench_table_row("rate", "MFlop/s", 1e-6 * flops / tb, 1e-6 * flops / tl, 1);
    bench_result("gemm_smallc", off ? "nosplit_vs_openblas" : "openblas",
                 kb->workers, 1, k, "MFlop/s", 1e-6 * flops / tb,
                 1e-6 * flops / tl, 1);
  }
  /* The split itself: the plan against the split turned off, ABBA. */
  if (ksplit > 1) {
    small_run nosplit = r; /* the same C: the steps of both add up */
    nosplit.force = 1;
    nosplit.steps = 0;
    r.force = 0;
    double tp, tn;
    kbench_compare(kb, small_baton, &r, small_baton, &nosplit, 0.05, &tp, &tn);
    double sum = 0;
    BENCH_OK(bt_sum(kb->rt, r.c, &sum));
    kbench_check(sum == (r.steps + nosplit.steps) * 0.5 * k * m * n,
                 "baton's small C");
    bench_set_baseline("bt_gemm without the split of k");
    printf("gemm, small C: k split %d ways against no split, same run\n",
           ksplit);
    bench_table_header(
        "gemm, small C, long k: split of k; baseline: the same "
        "bt_gemm, split off");
    bench_table_row("rate", "MFlop/s", 1e-6 * flops / tp, 1e-6 * flops / tn, 1);
    bench_result("gemm_smallc", "split_vs_nosplit", kb->workers, 1, k,
                 "MFlop/s", 1e-6 * flops / tp, 1e-6 * flops / tn, 1);
  }
  bench_set_baseline(NULL);
  free(r.pa), free(r.pb), free(r.pc);
  bt_array_release(r.a), bt_array_release(r.b), bt_array_release(r.c);
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

  long sk = bench_opt(argc, argv, "small-k", kb.quick ? 10000 : 100000);
  if (sk > 0)
    small_c(&kb, (int)bench_opt(argc, argv, "small-m", 64),
            (int)bench_opt(argc, argv, "small-n", 64), (int)sk);
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
