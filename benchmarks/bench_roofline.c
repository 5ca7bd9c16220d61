/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_roofline: the machine's limits for benchmarks/run --roofline:
 * STREAM triad (a = b + 3 c) bandwidth with ordinary and with non-temporal
 * stores, on one thread and on one thread per worker, and the peak
 * double-precision rate of an FMA loop at the widest vector width, one
 * thread and all. The loops are in native_loops.c (-march=native -O3);
 * OpenMP threads are pinned like the workers (bench_kernels.h).
 *
 *   bench_roofline [--workers=N] [--length=20000000] [--iterations=10]
 *                  [--quick=1]
 *
 * Prints LIMIT lines: name, value, unit, and what the bytes count. Triad
 * counts STREAM's 24 bytes per element for the non-temporal stores, and
 * the 32 bytes that move with ordinary stores (the line of a is read before
 * it is written); the bandwidth roof is the best of them. Each figure is
 * the best of `iterations` runs (STREAM's rule), the median beside it. */
#include "bench_kernels.h"

static void limit(const char *name, double best, double median,
                  const char *unit, const char *note) {
  printf("LIMIT name=%s value=%.6g median=%.6g unit=%s note=%s\n", name, best,
         median, unit, note);
}

static double best_of(double *t, int n) {
  double b = t[0];
  for (int i = 1; i < n; i++)
    if (t[i] < b) b = t[i];
  return b;
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 10, 3);
  long length =
      kbench_size(argc, argv, "length", kb.quick ? 2000000 : 20000000);
  int iters = kb.iterations;
  double *a = kbench_alloc((size_t)length), *b = kbench_alloc((size_t)length),
         *c = kbench_alloc((size_t)length);
  native_fill(a, 0.0, length);
  native_fill(b, 1.0, length);
  native_fill(c, 2.0, length);
  double *t = malloc(sizeof *t * (size_t)iters);
  if (!t) return 1;

  printf("roofline limits: length %ld (%.0f MB per array), %d threads\n",
         length, 8e-6 * (double)length, kb.workers);
  for (int all = 0; all < 2; all++) {
    int threads = all ? kb.workers : 1;
    for (int stream = 0; stream < 2; stream++) {
      kbench_baseline_enter(&kb);
      native_triad(a, b, c, 3.0, length, threads, stream); /* warm-up */
      for (int i = 0; i < iters; i++) {
        double t0 = bench_now();
        native_triad(a, b, c, 3.0, length, threads, stream);
        t[i] = bench_now() - t0;
      }
      kbench_baseline_leave(&kb);
      double bytes = (stream ? 24.0 : 32.0) * (double)length;
      double best = best_of(t, iters), med = bench_median(t, iters);
      char name[64];
      snprintf(name, sizeof name, "triad_%s_%s", all ? "all" : "one",
               stream ? "nt" : "plain");
      limit(name, 1e-6 * bytes / best, 1e-6 * bytes / med, "MB/s",
            stream ? "24B/element,non-temporal" : "32B/element,write-allocate");
      kbench_settle(0.05);
    }
    long rounds = kb.quick ? 2000000 : 20000000;
    kbench_baseline_enter(&kb);
    (void)native_fma_peak(rounds / 10, threads);
    double flops = 0;
    for (int i = 0; i < iters; i++) {
      double t0 = bench_now();
      flops = native_fma_peak(rounds, threads);
      t[i] = bench_now() - t0;
    }
    kbench_baseline_leave(&kb);
    limit(all ? "fma_all" : "fma_one", 1e-6 * flops / best_of(t, iters),
          1e-6 * flops / bench_median(t, iters), "MFlop/s", native_isa());
    kbench_settle(0.05);
  }
  if (a[length / 2] != 1.0 + 3.0 * 2.0) {
    fprintf(stderr, "validation failed: triad's a\n");
    return 1;
  }
  free(t), free(a), free(b), free(c);
  bt_runtime_destroy(kb.rt);
  return 0;
}
