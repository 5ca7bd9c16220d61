/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tiles.h: 2-D tiles of a matrix for kernels that cut both axes (gemm);
 * bt__parallel_regions (parallel.c) runs a kernel on them. Private to
 * kernels/.
 *
 * bt__parallel (parallel.c) cuts one axis; a square gemm on 16 workers
 * would get 16 thin row bands, each reading all of B. Here C is cut into a
 * grid, each tile read from a band of A's rows and a band of B's columns,
 * so each worker reads (m/pr + n/pc) x k instead of (m/16 + n) x k. The
 * grid respects the NUMA placement of BT_PLACE_BLOCKS: a tile's rows lie in
 * the rows first touched by workers of its own worker's node.
 */
#ifndef BATON_KERNELS_TILES_H
#define BATON_KERNELS_TILES_H

#include "kernels_int.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* One worker's tile: rows [row0, row1) x columns [col0, col1). */
typedef struct bt__tile {
  int64_t row0, row1, col0, col1;
} bt__tile;

/* The grid for an m x n matrix placed with BT_PLACE_BLOCKS over `workers`
 * workers, worker w on NUMA node worker_node[w] (the workers of a node
 * consecutive, as the runtime numbers them). Pure: no runtime involved.
 *
 * Each node's workers split the rows its workers first touched
 * (bt__part_start(m, workers, w) for each of them) into pr bands and all
 * columns into pc bands, pc the same on every node and dividing every
 * node's worker count; worker first + r * pc + c of a node gets band r x
 * column band c. pc is chosen to minimize the largest tile's rows +
 * columns (what its worker reads of A and B per k), the smaller pc on a
 * tie (row bands when they are as good: C's rows stay contiguous).
 * tiles[w] is worker w's tile (possibly empty, when a node has fewer rows
 * than bands); *grid_cols (may be NULL) gets pc. Returns the number of
 * non-empty tiles. */
int bt__tile_grid(int64_t m, int64_t n, int workers, const int *worker_node,
                  bt__tile *tiles, int *grid_cols);

/* ---- gemm's plan: a split of k as well -----------------------------------
 * A grid of C alone leaves workers idle or starved when C is small and k
 * large (C 64 x 64, k = 100 000 on 2 workers: two 32 x 64 tiles each read
 * all of B). Then groups of s consecutive workers (s dividing every node's
 * worker count, so a group never straddles nodes) share one tile of C, each
 * computing alpha a b over its range of k (bt__part_start(k, s, j) for the
 * group's j-th worker) into its own partial (per-worker scratch, first
 * touched by its worker); a second run reduces each element of C as
 * ((beta c + p_0) + p_1) + ... + p_{s-1}, always in that order, so the
 * result is the same bits from run to run.
 *
 * The choice is a cost model in elements moved by the busiest worker: a
 * and b read, ((rows + cols) x k / s), c read and written (s = 1), or the
 * partial written and the worker's share of the reduction, (s + 2) m n /
 * workers (s > 1), plus BT__GEMM_KSPLIT_FIXED for the scratch array and
 * the second run; the cheapest s wins, the smaller on a tie. */

/* Elements' worth of cost charged to a split of k for its scratch array
 * (mapped, first touched by the workers, unmapped) and its second parallel
 * run: 8 MiB of traffic, about 1 ms. Measured on the loaded 2-core VM, a
 * split cost about 3 ms more than it saved on C 64 x 64, k = 5000 (0.15x
 * to 0.22x) and lost on 256 x 256, k = 4096 (0.68x to 0.91x) at 2^16;
 * at k = 100 000 it gains (1.12x). */
#define BT__GEMM_KSPLIT_FIXED ((int64_t)1 << 20)
/* The largest scratch (all workers' partials) a split may allocate. */
#define BT__GEMM_SCRATCH_MAX ((int64_t)256 << 20)

/* The plan for c (m x n) += a (m x k) b (k x n) on `workers` workers, worker
 * w on node worker_node[w]. force > 0 asks for that split (taken when it
 * divides every node's worker count, is at most k and gives every group a
 * tile; else the plan is made as for 0); 0: the cost model decides. Writes
 * *ksplit (s) and tiles[0 .. workers / s): group i's tile of C, as
 * bt__tile_grid over the groups (s = 1: over the workers). Returns the
 * number of non-empty tiles, -1 when out of memory. Pure. */
int bt__gemm_plan(int64_t m, int64_t n, int64_t k, int workers,
                  const int *worker_node, int force, bt__tile *tiles,
                  int *ksplit);

/* Tests: the split of k that bt_gemm calls from this thread ask for (as
 * bt__gemm_plan's force); 0 (the default) lets the cost model choose. */
void bt__gemm_force_ksplit(int ksplit);
int bt__gemm_forced_ksplit(void);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_KERNELS_TILES_H */
