/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_kernels.h: what the PRK-style kernel benchmarks (bench_nstream,
 * bench_dot, bench_stencil, bench_transpose, bench_gemm) share: options, the
 * runtime, OpenMP threads pinned like the workers, the timing protocol, and
 * the set-up of baton's arrays (vectors and matrices placed in blocks).
 *
 * Protocol: each side runs `iterations` timed iterations (PRK's meaning),
 * in blocks of `block` back-to-back iterations, each block after one
 * untimed warm-up iteration; baton's blocks and the baseline's alternate
 * (ABBA order), so that a machine whose load changes over seconds weighs on
 * both alike. The figure of each side is the median of all its timed
 * iterations, which a loaded machine disturbs least; rates are PRK's (bytes
 * or flops of one iteration / that time).
 *
 * Baselines: the loops of native_loops.c, built with -march=native -O3 in
 * their own object (baton itself is built for the generic target and picks
 * its SIMD level at run time), OpenMP schedule(static).
 *
 * Fairness: the baseline uses as many threads as baton has workers. When
 * the runtime bound its workers, OpenMP thread i is pinned to worker i's PU
 * (libgomp reads OMP_PROC_BIND/OMP_PLACES before main(), so the program
 * pins its threads itself, in a first parallel region; the main thread is
 * pinned to worker 0's PU during the baseline only, and unpinned for baton,
 * whose caller only waits). Between phases the program sleeps briefly so
 * that OpenMP's or OpenBLAS's idle threads stop spinning before the other
 * side is timed.
 */
#ifndef BATON_BENCH_KERNELS_H
#define BATON_BENCH_KERNELS_H

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "native_loops.h"
#include "baton/stats.h"
#include "kernels_int.h"
#include "simd.h"
#include "common.h"

typedef struct kbench {
  bt_runtime *rt;
  int workers, iterations, block, quick, pinned;
  double warm_s;       /* each block's untimed warm-up: at least one step and
                          this long (0: one step), see kbench_block() */
  cpu_set_t main_mask; /* the main thread's affinity at start */
} kbench;

/* Options: --workers=N (else BATON_WORKERS, else one per core),
 * --iterations=, --block= (default 5), --quick=1 (or BATON_BENCH_QUICK=1). */
static inline void kbench_init(kbench *kb, int argc, char **argv,
                               int iterations, int quick_iterations) {
  memset(kb, 0, sizeof *kb);
  kb->quick = bench_quick(argc, argv);
  kb->iterations = (int)bench_opt(argc, argv, "iterations",
                                  kb->quick ? quick_iterations : iterations);
  kb->block = (int)bench_opt(argc, argv, "block", 5);
  if (kb->iterations < 1) kb->iterations = 1;
  if (kb->block < 1) kb->block = 1;
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = (int)bench_opt(argc, argv, "workers", 0);
  BENCH_OK(bt_runtime_create(&opt, &kb->rt));
  kb->workers = bt_runtime_workers(kb->rt);
  sched_getaffinity(0, sizeof kb->main_mask, &kb->main_mask);
#ifdef _OPENMP
  omp_set_dynamic(0);
  omp_set_num_threads(kb->workers);
  kb->pinned = bt_runtime_bound(kb->rt);
  if (kb->pinned) {
    bt_runtime *rt = kb->rt;
#pragma omp parallel num_threads(kb->workers)
    {
      int cpu = bt_worker_cpu(rt, omp_get_thread_num());
      if (cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        sched_setaffinity(0, sizeof one, &one);
      }
    }
    sched_setaffinity(0, sizeof kb->main_mask, &kb->main_mask);
  }
#endif
  printf(
      "workers %d, iterations %d in blocks of %d, baton workers %s, "
      "baseline threads %s\n",
      kb->workers, kb->iterations, kb->block,
      bt_runtime_bound(kb->rt) ? "bound" : "unbound",
      kb->pinned ? "pinned to the same PUs" : "unpinned");
  printf("baton SIMD level %s (%s); baseline built %s\n",
         bt__simd_level_name(bt__simd_level()), bt__simd_reason(),
         native_isa());
}

/* Around the baseline's timed phase: the main thread is OpenMP thread 0. */
static inline void kbench_baseline_enter(kbench *kb) {
  if (!kb->pinned) return;
  int cpu = bt_worker_cpu(kb->rt, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  sched_setaffinity(0, sizeof one, &one);
}

static inline void kbench_baseline_leave(kbench *kb) {
  if (kb->pinned) sched_setaffinity(0, sizeof kb->main_mask, &kb->main_mask);
}

static inline void kbench_settle(double seconds) {
  struct timespec ts = {(time_t)seconds,
                        (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&ts, NULL);
}

/* One side of the comparison: step(ctx) runs one iteration. */
typedef void (*kbench_step)(void *ctx);

/* How many of rt's workers have run kernel parts, counted since creation:
 * parts[w] gets each worker's count. */
static inline void kbench_parts(bt_runtime *rt, uint64_t *parts) {
  for (int w = 0; w < bt_runtime_workers(rt); w++) {
    bt_worker_stats s;
    parts[w] = bt_worker_stats_get(rt, w, &s) == BT_OK ? s.parts : 0;
  }
}

/* Time `count` steps after the warm-up, appending each time (s).
 * The warm-up: at least one step and warm_s; for baton's side (rt given),
 * then more steps until all of its workers but one have run a part in this
 * warm-up (at most 0.1 s more). Why: both sides then start their timed
 * steps with every thread awake. OpenMP's first parallel region after the
 * pause waits for each parked thread to wake; a baton call does not wait
 * for a parked worker (the caller runs its part), so on a loaded machine a
 * worker woken by the first call could still be waiting for its core when
 * the timed calls began, which then ran serially on the caller (measured:
 * 22-25 us per 10^5-element axpby for a block so begun, 10-11 us once the
 * worker had come; OpenMP 11-13 us). "All but one": the caller stands in
 * for one worker when the workers fill the cores (that one stays parked). */
static inline void kbench_block(kbench_step step, void *ctx, int count,
                                double warm_s, bt_runtime *rt, double *times,
                                int *ntimes) {
  uint64_t p0[256], p1[256];
  int nw = rt ? bt_runtime_workers(rt) : 0;
  if (nw > 256) nw = 256;
  if (rt) kbench_parts(rt, p0);
  double w0 = bench_now();
  do step(ctx);
  while (bench_now() - w0 < warm_s);
  for (double w1 = bench_now(); rt && nw > 1 && bench_now() - w1 < 0.1;
       step(ctx)) {
    kbench_parts(rt, p1);
    int woke = 0;
    uint64_t any = 0; /* 0: a build without counters (BATON_NO_COUNTERS) */
    for (int w = 0; w < nw; w++) woke += p1[w] > p0[w], any += p1[w];
    if (woke >= nw - 1 || any == 0) break;
  }
  for (int i = 0; i < count; i++) {
    double t0 = bench_now();
    step(ctx);
    times[(*ntimes)++] = bench_now() - t0;
  }
}

/* The whole protocol; median seconds per iteration of each side.
 * settle_s: the pause after each block, so that the side just measured
 * has gone idle before the other starts. */
static inline void kbench_compare(kbench *kb, kbench_step baton,
                                  void *baton_ctx, kbench_step baseline,
                                  void *baseline_ctx, double settle_s,
                                  double *baton_s, double *baseline_s) {
  size_t n = (size_t)kb->iterations;
  double *tb = malloc(sizeof *tb * n), *tl = malloc(sizeof *tl * n);
  if (!tb || !tl) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  int nb = 0, nl = 0;
  for (int r = 0; nb < kb->iterations || nl < kb->iterations; r++) {
    for (int side = 0; side < 2; side++) {
      int is_baton = (side == 0) == (r % 2 == 0); /* ABBA... */
      int *done = is_baton ? &nb : &nl;
      int count = kb->iterations - *done;
      if (count <= 0) continue;
      if (count > kb->block) count = kb->block;
      if (is_baton) {
        kbench_block(baton, baton_ctx, count, kb->warm_s, kb->rt, tb, &nb);
      } else {
        kbench_baseline_enter(kb);
        kbench_block(baseline, baseline_ctx, count, kb->warm_s, NULL, tl, &nl);
        kbench_baseline_leave(kb);
      }
      kbench_settle(settle_s);
    }
  }
  *baton_s = bench_median(tb, nb);
  *baseline_s = bench_median(tl, nl);
  free(tb);
  free(tl);
}

/* Page-aligned memory for the baselines' plain arrays; from 4 MiB, on
 * transparent huge pages, as baton's arrays of that size are (array.c), so
 * that the baseline and baton stand on the same pages: on the dev VM,
 * arrays of 4 KiB pages ran the triad 1.1-3x slower and far more erratic
 * after a pause than the same arrays on huge pages. */
static inline double *kbench_alloc(size_t count) {
  size_t page = count * sizeof(double) >= (4u << 20) ? 2u << 20 : 4096;
  size_t bytes = (count * sizeof(double) + page - 1) / page * page;
  double *p = aligned_alloc(page, bytes ? bytes : page);
  if (!p) {
    fprintf(stderr, "cannot allocate %zu bytes\n", bytes);
    exit(1);
  }
#ifdef MADV_HUGEPAGE
  if (page > 4096) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

/* The problem size: --<name>= (--n= is an alias), else dflt. */
static inline long kbench_size(int argc, char **argv, const char *name,
                               long dflt) {
  return bench_opt(argc, argv, name, bench_opt(argc, argv, "n", dflt));
}

/* A 1-D f64 array of `length` elements, worker i's block first touched by
 * worker i (BT_PLACE_BLOCKS), every element `value`. */
static inline bt_array *kbench_vector(kbench *kb, long length, double value) {
  int64_t shape[1] = {length};
  bt_array *v;
  BENCH_OK(bt_array_create(kb->rt, BT_F64, 1, shape, BT_PLACE_BLOCKS, &v));
  BENCH_OK(bt_fill(kb->rt, v, value));
  return v;
}

/* A matrix's element (i, j), for kbench_matrix. */
typedef double (*kbench_entry)(long i, long j, const void *ctx);

typedef struct kbench_fill_ctx {
  kbench_entry entry;
  const void *ctx;
} kbench_fill_ctx;

static inline int kbench_fill_part(bt_slice part, int worker, void *ctx) {
  const kbench_fill_ctx *fc = ctx;
  bt_view v;
  int rc = bt_slice_view(part, &v);
  if (rc != BT_OK) return rc;
  double *d = v.data;
  for (int64_t i = 0; i < v.shape[0]; i++)
    for (int64_t j = 0; j < v.shape[1]; j++)
      d[i * v.strides[0] + j * v.strides[1]] =
          fc->entry((long)(v.origin[0] + i), (long)(v.origin[1] + j), fc->ctx);
  (void)worker;
  return BT_OK;
}

/* An order x order f64 array placed like kbench_vector's; each worker
 * writes its own block with entry(i, j, ctx), or leaves the zeros of a new
 * array where entry is NULL. */
static inline bt_array *kbench_matrix(kbench *kb, long order,
                                      kbench_entry entry, const void *ctx) {
  int64_t shape[2] = {order, order};
  bt_array *m;
  BENCH_OK(bt_array_create(kb->rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &m));
  if (entry) {
    kbench_fill_ctx fc = {entry, ctx};
    BENCH_OK(bt_parallel_slices(kb->rt, m, 0, 1, kbench_fill_part, &fc));
  }
  return m;
}

/* One line for benchmarks/run --roofline: an iteration's flops and the
 * bytes it must move at least (each operand read once, each written one
 * written once), and the seconds per iteration of baton and its baseline. */
static inline void kbench_roofline(const char *kernel, long size, double flops,
                                   double bytes, double baton_s,
                                   double baseline_s) {
  printf(
      "ROOFLINE kernel=%s size=%ld flops=%.6g bytes=%.6g baton_s=%.6g "
      "baseline_s=%.6g\n",
      kernel, size, flops, bytes, baton_s, baseline_s);
}

static inline void kbench_check(int ok, const char *what) {
  if (ok) return;
  fprintf(stderr, "validation failed: %s\n", what);
  exit(1);
}

#endif /* BATON_BENCH_KERNELS_H */
