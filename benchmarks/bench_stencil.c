/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_stencil: PRK stencil (star, radius r) with bt_stencil against an
 * OpenMP loop built -march=native (native_loops.c), same thread count,
 * same run.
 *
 *   bench_stencil [--workers=N] [--iterations=20] [--order=2000]
 *                 [--radius=2] [--block=5] [--quick=1]  (--n= is --order=)
 *
 * PRK conventions: IN(i,j) = i + j, OUT = 0; an iteration is OUT += stencil
 * of IN on the interior, then IN += 1 (baton: bt_parallel_slices with an
 * add-one body; the baseline: a second OpenMP loop). MFlop/s counts PRK's
 * (2 * (4r + 1) + 1) flops per interior point; MB/s PRK's 2 * 8 * n^2
 * bytes. Validation: the mean of OUT over the interior is
 * (iterations run) * 2, to 1e-8. */
#include "bench_kernels.h"

typedef struct stencil_run {
  bt_runtime *rt;
  bt_array *in, *out;
  double *pin, *pout, *weight;
  long order;
  int radius, steps;
} stencil_run;

static int add_one(bt_slice part, int worker, void *ctx) {
  (void)worker, (void)ctx;
  bt_view v;
  int rc = bt_slice_view(part, &v);
  if (rc != BT_OK) return rc;
  double *d = v.data;
  for (int64_t i = 0; i < v.shape[0]; i++) {
    double *row = d + i * v.strides[0];
    if (v.strides[1] == 1) { /* dense rows: the loop vectorizes */
      for (int64_t j = 0; j < v.shape[1]; j++) row[j] += 1.0;
    } else {
      for (int64_t j = 0; j < v.shape[1]; j++) row[j * v.strides[1]] += 1.0;
    }
  }
  return BT_OK;
}

/* IN(i,j) = i + j */
static double in_entry(long i, long j, const void *ctx) {
  (void)ctx;
  return (double)(i + j);
}

static void baton_step(void *ctx) {
  stencil_run *r = ctx;
  BENCH_OK(bt_stencil(r->rt, r->radius, r->in, r->out));
  BENCH_OK(bt_parallel_slices(r->rt, r->in, 0, 1, add_one, NULL));
  r->steps++;
}

/* PRK's loops (native_loops.c, -march=native): the stencil with the taps
 * outermost, as PRK writes it, then IN += 1. */
static void omp_step(void *ctx) {
  stencil_run *r = ctx;
  native_stencil(r->pout, r->pin, r->order, r->radius, r->weight);
  r->steps++;
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 20, 5);
  long order = kbench_size(argc, argv, "order", kb.quick ? 512 : 2000);
  int radius = (int)bench_opt(argc, argv, "radius", 2);
  if (radius < 1 || 2 * radius + 1 > order) {
    fprintf(stderr, "radius %d does not fit order %ld\n", radius, order);
    return 2;
  }
  size_t n2 = (size_t)order * (size_t)order;
  stencil_run r = {.rt = kb.rt, .order = order, .radius = radius};
  r.in = kbench_matrix(&kb, order, in_entry, NULL);
  r.out = kbench_matrix(&kb, order, NULL, NULL);
  r.weight = malloc(sizeof *r.weight * (size_t)(radius + 1));
  r.weight[0] = 0;
  for (int k = 1; k <= radius; k++) r.weight[k] = 1.0 / (2.0 * k * radius);
  r.pin = kbench_alloc(n2);
  r.pout = kbench_alloc(n2);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < order; i++)
    for (long j = 0; j < order; j++)
      r.pin[i * order + j] = in_entry(i, j, NULL), r.pout[i * order + j] = 0;
  stencil_run base = r;

  double tb, tl;
  kbench_compare(&kb, baton_step, &r, omp_step, &base, 0.02, &tb, &tl);

  double active = (double)(order - 2 * radius) * (double)(order - 2 * radius);
  double sum = 0, base_sum = 0;
  BENCH_OK(bt_sum(kb.rt, r.out, &sum));
  for (size_t i = 0; i < n2; i++) base_sum += fabs(base.pout[i]);
  kbench_check(fabs(sum / active - 2.0 * r.steps) <= 1e-8 * 2.0 * r.steps,
               "baton's OUT");
  kbench_check(
      fabs(base_sum / active - 2.0 * base.steps) <= 1e-8 * 2.0 * base.steps,
      "the baseline's OUT");

  double flops = (2.0 * (4 * radius + 1) + 1) * active;
  double bytes = 2.0 * sizeof(double) * (double)n2;
  printf("stencil: order %ld, radius %d (star), %d workers, validated\n", order,
         radius, kb.workers);
  bench_table_header(
      "stencil (PRK star): OUT += S(IN); IN += 1; "
      "baseline: OpenMP loops, -march=native");
  bench_table_row("rate", "MFlop/s", 1e-6 * flops / tb, 1e-6 * flops / tl, 1);
  bench_table_row("rate", "MB/s", 1e-6 * bytes / tb, 1e-6 * bytes / tl, 1);
  bench_table_row("time per iteration", "ms", 1e3 * tb, 1e3 * tl, 0);
  bench_result("stencil", "omp", kb.workers, 1, order, "MFlop/s",
               1e-6 * flops / tb, 1e-6 * flops / tl, 1);
  bench_result("stencil", "omp", kb.workers, 1, order, "ms", 1e3 * tb, 1e3 * tl,
               0);

  /* at least: IN read, OUT read and written (stencil); IN read, written */
  kbench_roofline("stencil", order, flops + (double)n2, 40.0 * (double)n2, tb,
                  tl);

  free(r.pin), free(r.pout), free(r.weight);
  bt_array_release(r.in), bt_array_release(r.out);
  bt_runtime_destroy(kb.rt);
  return 0;
}
