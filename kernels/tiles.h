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

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_KERNELS_TILES_H */
