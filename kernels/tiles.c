/* SPDX-License-Identifier: BSD-3-Clause */
/* tiles.c: the 2-D tile grid of a matrix, a pure function. */
#include "tiles.h"

#include <stdlib.h>
#include <string.h>

/* ---- the grid ------------------------------------------------------------ */

static int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

int bt__tile_grid(int64_t m, int64_t n, int workers, const int *worker_node,
                  bt__tile *tiles, int *grid_cols) {
  BT_ASSERT(workers >= 1 && m >= 0 && n >= 0);
  /* The nodes' runs of workers, and the gcd of their sizes. */
  int g = 0;
  for (int w = 0; w < workers;) {
    int first = w;
    while (w < workers && worker_node[w] == worker_node[first]) w++;
    int count = w - first, a = g, b = count;
    while (b) {
      int t = a % b;
      a = b;
      b = t;
    }
    g = a;
  }
  /* pc: a divisor of every node's worker count. */
  int best_pc = 1;
  int64_t best_cost = -1;
  for (int pc = 1; pc <= g; pc++) {
    if (g % pc || (pc > 1 && pc > n)) continue;
    int64_t cost = 0;
    for (int w = 0; w < workers;) {
      int first = w;
      while (w < workers && worker_node[w] == worker_node[first]) w++;
      int pr = (w - first) / pc;
      int64_t rows =
          bt__part_start(m, workers, w) - bt__part_start(m, workers, first);
      cost = max64(cost, (rows + pr - 1) / pr + (n + pc - 1) / pc);
    }
    if (best_cost < 0 || cost < best_cost) best_cost = cost, best_pc = pc;
  }
  int nonempty = 0;
  for (int w = 0; w < workers;) {
    int first = w;
    while (w < workers && worker_node[w] == worker_node[first]) w++;
    int pr = (w - first) / best_pc;
    int64_t r0 = bt__part_start(m, workers, first);
    int64_t rows = bt__part_start(m, workers, w) - r0;
    for (int i = first; i < w; i++) {
      int band = (i - first) / best_pc, col = (i - first) % best_pc;
      bt__tile *t = &tiles[i];
      t->row0 = r0 + bt__part_start(rows, pr, band);
      t->row1 = r0 + bt__part_start(rows, pr, band + 1);
      t->col0 = bt__part_start(n, best_pc, col);
      t->col1 = bt__part_start(n, best_pc, col + 1);
      if (t->row1 > t->row0 && t->col1 > t->col0) nonempty++;
    }
  }
  if (grid_cols) *grid_cols = best_pc;
  return nonempty;
}

/* ---- the plan: tiles of C, and of k when that moves less ------------------
 */

static _Thread_local int forced_ksplit;

void bt__gemm_force_ksplit(int ksplit) {
  forced_ksplit = ksplit > 0 ? ksplit : 0;
}

int bt__gemm_forced_ksplit(void) {
  return forced_ksplit;
}

/* The gcd of the sizes of the nodes' runs of workers. */
static int node_runs_gcd(int workers, const int *worker_node) {
  int g = 0;
  for (int w = 0; w < workers;) {
    int first = w;
    while (w < workers && worker_node[w] == worker_node[first]) w++;
    int a = g, b = w - first;
    while (b) {
      int t = a % b;
      a = b;
      b = t;
    }
    g = a;
  }
  return g;
}

static int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

int bt__gemm_plan(int64_t m, int64_t n, int64_t k, int workers,
                  const int *worker_node, int force, bt__tile *tiles,
                  int *ksplit) {
  BT_ASSERT(workers >= 1 && m >= 0 && n >= 0 && k >= 0);
  int *group_node = malloc(sizeof *group_node * (size_t)workers);
  bt__tile *trial = malloc(sizeof *trial * (size_t)workers);
  if (!group_node || !trial) {
    free(group_node), free(trial);
    return -1;
  }
  int g = node_runs_gcd(workers, worker_node);
  int best_s = 1, best_nonempty = 0;
  int64_t best_cost = -1;
  for (int s = 1; s <= g; s++) {
    if (g % s || (s > 1 && (s > k || (force && s != force)))) continue;
    int groups = workers / s;
    for (int i = 0; i < groups; i++) group_node[i] = worker_node[i * s];
    int nonempty = bt__tile_grid(m, n, groups, group_node, trial, NULL);
    /* A split of k must give every worker a tile of C and a range of k. */
    if (s > 1 && nonempty < groups) continue;
    int64_t kpart = ceil_div(k, s), cost = 0, rmax = 0, cmax = 0;
    if (s == 1 && nonempty < workers) {
      /* gemm's fallback: bands of rows, each reading all of b. */
      int64_t parts = m < workers ? (m > 0 ? m : 1) : workers;
      int64_t rows = ceil_div(m, parts);
      cost = (rows + n) * k + 2 * rows * n;
    }
    for (int i = 0; i < groups && !(s == 1 && nonempty < workers); i++) {
      int64_t rows = trial[i].row1 - trial[i].row0;
      int64_t cols = trial[i].col1 - trial[i].col0;
      rmax = max64(rmax, rows), cmax = max64(cmax, cols);
      /* a and b read; c read and written, or with a split of k: the
       * partial written, then every worker's share of the reduction (s
       * partials and c read, c written) */
      int64_t moved =
          (rows + cols) * kpart +
          (s == 1 ? 2 * rows * cols
                  : rows * cols + ceil_div(m * n, workers) * (s + 2));
      cost = max64(cost, moved);
    }
    if (s > 1) {
      if ((double)workers * (double)rmax * (double)cmax * 8.0 >
          (double)BT__GEMM_SCRATCH_MAX)
        continue;
      cost += BT__GEMM_KSPLIT_FIXED;
    }
    if (force && s == force) best_cost = -1; /* forced: take it */
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost, best_s = s, best_nonempty = nonempty;
      if (s > 1) memcpy(tiles, trial, sizeof *tiles * (size_t)groups);
    }
  }
  if (best_s == 1)
    best_nonempty = bt__tile_grid(m, n, workers, worker_node, tiles, NULL);
  free(group_node), free(trial);
  *ksplit = best_s;
  return best_nonempty;
}
