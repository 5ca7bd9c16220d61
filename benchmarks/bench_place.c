/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_place.c: the worker placement on large synthetic topologies, beside
 * hwloc loading the same topology (the baseline: what lstopo must do before
 * it prints anything). The placement must stay linear in the PUs: a
 * 16K-PU machine placed in well under a second.
 *
 *   build/benchmarks/bench_place [--max-pus=N] [--quick=1]
 *
 * For each size: one worker per core (capped at BT__MAX_WORKERS) bound to
 * cores, and 64 workers. Times are the thread's CPU time (best of three
 * for the placement), so that a loaded machine does not skew them. --quick=1 (or BATON_BENCH_QUICK=1) stops at 4K
 * PUs. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"
#include "runtime_int.h"

static double seconds(int64_t ns) {
  return (double)ns / 1e9;
}

/* CPU time of the calling thread: the machine may be loaded (CI, shared
 * hosts), and both sides are single-threaded. */
static int64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  int quick = bench_quick(argc, argv);
  long max_pus = bench_opt(argc, argv, "max-pus", quick ? 4096 : 1 << 20);
  /* pack:P [numa] core:C pu:2, 4 packages up to 16K PUs, then more. */
  static const struct {
    int packs, cores;
  } sizes[] = {{4, 512}, {16, 512}, {64, 512}, {256, 2048}};
  printf("bench_place: bt__place on synthetic topologies, baseline: hwloc "
         "loading the same description\n");
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    long pus = 2L * sizes[i].packs * sizes[i].cores;
    if (pus > max_pus) break;
    char desc[128];
    snprintf(desc, sizeof desc, "pack:%d [numa] core:%d pu:2", sizes[i].packs,
             sizes[i].cores);
    struct hwloc_topology *topo;
    int64_t t0 = cpu_ns();
    BENCH_OK(bt__topology_load(desc, &topo));
    int64_t t1 = cpu_ns();
    const int counts[2] = {0, 64};
    for (int k = 0; k < 2; k++) {
      /* The best of three: the machine may be loaded. */
      bt__placement p;
      int64_t t2 = 0, t3 = INT64_MAX;
      for (int rep = 0; rep < 3; rep++) {
        int64_t a = cpu_ns();
        BENCH_OK(bt__place(topo, NULL, counts[k], BT_BIND_CORE, &p));
        int64_t b = cpu_ns();
        if (b - a < t3 - t2) t2 = a, t3 = b;
        if (rep < 2) bt__placement_free(&p);
      }
      printf("  %-32s %7ld PUs, %6d workers on %4d nodes: place %.3f s, "
             "hwloc load %.3f s\n",
             desc, pus, p.workers, p.numa_nodes, seconds(t3 - t2),
             seconds(t1 - t0));
      bench_result("place", "baton", p.workers, 1, pus, "s",
                   seconds(t3 - t2), seconds(t1 - t0), 0);
      bt__placement_free(&p);
    }
    bt__topology_free(topo);
  }
  return 0;
}
