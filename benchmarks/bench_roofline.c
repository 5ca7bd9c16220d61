/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_roofline: the machine's limits for benchmarks/run --roofline:
 * STREAM triad (a = b + 3 c) bandwidth with ordinary and with non-temporal
 * stores, on one thread and on one thread per worker, and the peak
 * double-precision rate of an FMA loop at the widest vector width, one
 * thread and all. The loops are in native_loops.c (-march=native -O3);
 * OpenMP threads are pinned like the workers (bench_kernels.h).
 *
 *   bench_roofline [--workers=N] [--length=20000000] [--iterations=10]
 *                  [--limits=1] [--fraction-length=10000000] [--rounds=21]
 *                  [--quick=1]      (--limits=0: the fractions only)
 *
 * Prints LIMIT lines: name, value, unit, and what the bytes count. Triad
 * counts STREAM's 24 bytes per element for the non-temporal stores, and
 * the 32 bytes that move with ordinary stores (the line of a is read before
 * it is written); the bandwidth roof is the best of them. Each figure is
 * the best of `iterations` runs (STREAM's rule), the median beside it.
 *
 * Then the fraction of the triad that baton's streaming kernels reach
 * (DESIGN target: >= 0.9 at 10^7 elements): --fraction-length= elements
 * (default 10^7; 10^6 with --quick), --rounds= rounds (default 21). Each
 * round times, once each and in an order that rotates from round to round,
 * the triad with ordinary and with non-temporal stores on one OpenMP thread
 * per worker pinned to the workers' PUs, then bt_nstream, bt_axpy and
 * bt_dot on the workers, on arrays placed in blocks (the triad's arrays
 * first touched by the same threads, schedule(static)), so that load that
 * drifts over seconds weighs on the triad and the kernels alike. Each
 * kernel's rate (bytes that move: nstream 32, axpy 24, dot 16 per element)
 * over the triad's (the better of its two stores' medians) is a line
 *   RESULT bench=<kernel> variant=triad_fraction ... metric=MB/s
 *          value=<kernel median> baseline=<triad median> ratio=<fraction>
 * and the table gives also the median of the rounds' own ratios. The same
 * three loops written as OpenMP loops built -march=native (the kernel
 * benchmarks' baselines) run in the same rounds on the triad's arrays
 * (variant=omp_triad_fraction): what the access pattern itself reaches on
 * this machine, so that a kernel below 0.9 can be told from a pattern
 * below 0.9 (nstream reads three arrays and writes one of them). A last
 * OpenMP loop, the dot with eight partial sums (native_dot_unrolled), is
 * the read-only roof: the triad counts write-allocate traffic that a
 * read-only stream cannot use, and on some machines no dot reaches 0.9 of
 * the triad; bt_dot against that roof is
 *   RESULT bench=dot variant=read_roof_fraction ... ratio=<fraction> */
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

/* ---- the kernels' fraction of the triad ---------------------------------- */

enum {
  TRIAD_PLAIN,
  TRIAD_NT,
  K_NSTREAM,
  K_AXPY,
  K_DOT,
  O_NSTREAM, /* the same loops, OpenMP -march=native (native_loops.c) */
  O_AXPY,
  O_DOT,
  O_READ, /* the read-only roof: native_dot_unrolled() */
  NPHASES
};

typedef struct fraction_run {
  kbench *kb;
  long n;
  double *ta, *tb, *tc; /* the triad's arrays */
  bt_array *x, *y, *z;  /* baton's: nstream x += y + 3 z, axpy x += z/2,
                           dot y . z */
  double dot, omp_dot, read_dot;
} fraction_run;

static const struct {
  const char *name;
  double bytes; /* per element */
} phases[NPHASES] = {
    {"triad_plain", 32}, {"triad_nt", 24}, {"nstream", 32}, {"axpy", 24},
    {"dot", 16},         {"nstream", 32},  {"axpy", 24},    {"dot", 16},
    {"dot_8sums", 16},
};

static double run_phase(fraction_run *f, int phase) {
  kbench *kb = f->kb;
  double t0 = 0, t;
  switch (phase) {
    case TRIAD_PLAIN:
    case TRIAD_NT:
    case O_NSTREAM:
    case O_AXPY:
    case O_DOT:
    case O_READ:
      kbench_baseline_enter(kb);
      t0 = bench_now();
      if (phase == O_NSTREAM)
        native_nstream(f->ta, f->tb, f->tc, 3.0, f->n);
      else if (phase == O_AXPY)
        native_axpy(f->ta, f->tc, 0.5, f->n);
      else if (phase == O_DOT)
        f->omp_dot = native_dot(f->tb, f->tc, f->n);
      else if (phase == O_READ)
        f->read_dot = native_dot_unrolled(f->tb, f->tc, f->n);
      else
        native_triad(f->ta, f->tb, f->tc, 3.0, f->n, kb->workers,
                     phase == TRIAD_NT);
      t = bench_now() - t0;
      kbench_baseline_leave(kb);
      kbench_settle(0.02); /* OpenMP's idle threads stop spinning */
      return t;
    case K_NSTREAM:
      t0 = bench_now();
      BENCH_OK(bt_nstream(kb->rt, f->x, f->y, f->z, 3.0));
      break;
    case K_AXPY:
      t0 = bench_now();
      BENCH_OK(bt_axpy(kb->rt, 0.5, f->z, f->x));
      break;
    default:
      t0 = bench_now();
      BENCH_OK(bt_dot(kb->rt, f->y, f->z, &f->dot));
      break;
  }
  t = bench_now() - t0;
  kbench_settle(0.005);
  return t;
}

static void triad_fractions(kbench *kb, long n, int rounds) {
  fraction_run f = {.kb = kb, .n = n};
  f.ta = kbench_alloc((size_t)n);
  f.tb = kbench_alloc((size_t)n);
  f.tc = kbench_alloc((size_t)n);
  int workers = kb->workers;
  kbench_baseline_enter(kb);
#pragma omp parallel for schedule(static) num_threads(workers)
  for (long i = 0; i < n; i++) f.ta[i] = 0, f.tb[i] = 1, f.tc[i] = 2;
  kbench_baseline_leave(kb);
  f.x = kbench_vector(kb, n, 0.0);
  f.y = kbench_vector(kb, n, 1.0);
  f.z = kbench_vector(kb, n, 2.0);
  double *rate[NPHASES], *ratio[NPHASES];
  for (int p = 0; p < NPHASES; p++) {
    rate[p] = malloc(sizeof *rate[p] * (size_t)rounds);
    ratio[p] = malloc(sizeof *ratio[p] * (size_t)rounds);
    if (!rate[p] || !ratio[p]) exit(1);
    (void)run_phase(&f, p); /* warm-up */
  }
  for (int r = 0; r < rounds; r++) {
    for (int q = 0; q < NPHASES; q++) {
      int p = (q + r) % NPHASES;
      rate[p][r] = 1e-6 * phases[p].bytes * (double)n / run_phase(&f, p);
    }
  }
  kbench_check(f.dot == 2.0 * (double)n, "baton's dot");
  kbench_check(f.omp_dot == 2.0 * (double)n, "the OpenMP dot");
  kbench_check(f.read_dot == 2.0 * (double)n, "the OpenMP 8-sum dot");
  double med[NPHASES];
  for (int p = 0; p < NPHASES; p++) med[p] = bench_median(rate[p], rounds);
  int nt = med[TRIAD_NT] > med[TRIAD_PLAIN];
  double roof = med[nt ? TRIAD_NT : TRIAD_PLAIN];
  /* each round's kernels over that round's triad (the stores chosen above) */
  for (int r = 0; r < rounds; r++)
    for (int p = K_NSTREAM; p < NPHASES; p++)
      ratio[p][r] = rate[p][r] / rate[nt ? TRIAD_NT : TRIAD_PLAIN][r];
  printf(
      "fraction of the triad: length %ld, %d workers, %d rounds, medians; "
      "triad %.0f MB/s with %s stores (plain %.0f, non-temporal %.0f)\n",
      n, workers, rounds, roof, nt ? "non-temporal" : "ordinary",
      med[TRIAD_PLAIN], med[TRIAD_NT]);
  printf("  %-8s %-7s %12s %12s %14s\n", "kernel", "by", "MB/s", "/ triad",
         "median ratio");
  bench_set_baseline(nt ? "STREAM triad (non-temporal stores), same run"
                        : "STREAM triad (ordinary stores), same run");
  for (int p = K_NSTREAM; p < NPHASES; p++) {
    int omp = p >= O_NSTREAM;
    printf("  %-8s %-7s %12.0f %12.3f %14.3f\n", phases[p].name,
           omp ? "OpenMP" : "baton", med[p], med[p] / roof,
           bench_median(ratio[p], rounds));
    bench_result(phases[p].name, omp ? "omp_triad_fraction" : "triad_fraction",
                 workers, 1, n, "MB/s", med[p], roof, 1);
  }
  /* A read-only kernel against the read-only roof: the triad counts its
   * write-allocate traffic, which a read-only stream cannot use, so on
   * some machines no dot reaches 0.9 of it. */
  printf("  dot (baton) / the read-only roof (OpenMP dot, 8 sums): %.3f\n",
         med[K_DOT] / med[O_READ]);
  bench_set_baseline("OpenMP dot with 8 partial sums (read-only roof), same run");
  bench_result("dot", "read_roof_fraction", workers, 1, n, "MB/s", med[K_DOT],
               med[O_READ], 1);
  bench_set_baseline(NULL);
  for (int p = 0; p < NPHASES; p++) free(rate[p]), free(ratio[p]);
  free(f.ta), free(f.tb), free(f.tc);
  bt_array_release(f.x), bt_array_release(f.y), bt_array_release(f.z);
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
  int limits = (int)bench_opt(argc, argv, "limits", 1);
  for (int all = 0; all < 2 && limits; all++) {
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
  if (limits && a[length / 2] != 1.0 + 3.0 * 2.0) {
    fprintf(stderr, "validation failed: triad's a\n");
    return 1;
  }
  free(t), free(a), free(b), free(c);
  long flen =
      bench_opt(argc, argv, "fraction-length", kb.quick ? 1000000 : 10000000);
  int rounds = (int)bench_opt(argc, argv, "rounds", kb.quick ? 3 : 21);
  if (flen > 0 && rounds > 0) triad_fractions(&kb, flen, rounds);
  bt_runtime_destroy(kb.rt);
  return 0;
}
