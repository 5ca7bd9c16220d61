/* SPDX-License-Identifier: BSD-3-Clause */
/* tiles.c: the 2-D tile grid of a matrix, a pure function. */
#include "tiles.h"

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
