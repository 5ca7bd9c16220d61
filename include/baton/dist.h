/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/dist.h
 * @brief Distributed arrays: one global N-d array, block-distributed over a
 *        Cartesian grid of ranks, each rank's block with ghost cells. Link
 *        baton::mpi.
 *
 * Inside each rank the block is an ordinary bt_array (bt_darray_local: the
 * block and its ghosts) that kernels split over the pinned workers;
 * bt_darray_interior is the sub-array of the owned cells.
 *
 * Layout. Rank r of the bridge sits at the coordinates of r in row-major
 * (MPI's Cartesian) order of the grid procs[0] x ... x procs[ndim-1]; along
 * each axis a global extent that does not divide spreads its remainder
 * over the first ranks. Every axis carries halo[d] ghost cells each side.
 *
 * Halo exchange. Each rank sends the edges of its interior straight from
 * the local block and receives its neighbours' edges straight into its
 * ghost regions: MPI subarray datatypes built from the block's strides,
 * persistent requests, no packing, no new array, no copy. With corners the
 * diagonal neighbours send their corner and edge blocks too (3^ndim - 1
 * neighbours), else only the 2 ndim faces travel. Ghost cells on a
 * non-periodic global boundary are never written (the user sets boundary
 * values there); on a periodic axis with one rank the ghosts wrap onto the
 * rank's own block. Between bt_darray_halo_begin and bt_darray_halo_end the
 * exchange owns the ghost regions and borrows the edges of the interior, so
 * a conflicting own or borrow answers BT_EBUSY; the rest of the interior is
 * free: compute there meanwhile. The messages travel on the darray's own
 * duplicate of the bridge's communicator.
 *
 * Reductions. bt_darray_dot, nrm2 and sum combine the workers' partials
 * in a fixed order (the in-node kernels), then gather the ranks' partials
 * in rank order (MPI_Allgather) and add them in that order on every rank:
 * the same inputs on the same grid and worker count give bit-identical
 * results, run after run, on every rank (MPI_Allreduce's order may vary
 * with its algorithm, so it is not used for them).
 *
 * Thread-safety: a darray is used by one thread at a time; create, like,
 * destroy, the reductions and the exchange are collective: every rank of
 * the bridge calls them in the same order (they are collectives of the
 * bridge, see bt_mpi_allreduce). Ownership: the darray owns its arrays;
 * local and interior are valid until destroy.
 */
#ifndef BATON_DIST_H
#define BATON_DIST_H

#include "baton/mpi.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The layout of a distributed array.
 *
 * The struct may gain fields in a later minor version. Initialise it with
 * BT_DIST_INIT (C and C++) or, in C, with designated initialisers that set
 * `.struct_size = sizeof(bt_dist)`; a program built against an older baton
 * passes a smaller struct_size and gets the newer fields' defaults;
 * struct_size 0 or any value that is not the size of a bt_dist layout is
 * refused with BT_EINVAL (dtype, ndim and shape are required). */
typedef struct bt_dist {
  size_t struct_size; /**< sizeof(bt_dist) as the caller was compiled; set
                           by the initialisers */
  bt_dtype dtype;
  int ndim;
  int64_t shape[BT_MAX_DIMS]; /**< global extents */
  int procs[BT_MAX_DIMS];     /**< ranks along each axis; 0: chosen as by
                                   MPI_Dims_create */
  int halo[BT_MAX_DIMS];      /**< ghost width, each side of each axis */
  int periodic[BT_MAX_DIMS];
  int corners; /**< 1: halo exchange fills edges and corners too (box
                    stencils); 0: faces only */
} bt_dist;

/** An empty layout (f64, no axis yet, procs chosen, no halo, not periodic,
 *  faces only), in C and C++: `bt_dist d = BT_DIST_INIT; d.ndim = 2;` */
#define BT_DIST_INIT \
  { sizeof(bt_dist), BT_F64, 0, {0}, {0}, {0}, {0}, 0 }

typedef struct bt_darray bt_darray;

/**
 * @brief Create a distributed array over every rank of the bridge.
 *        Collective. Its local block is zeroed, ghosts included.
 * @return BT_OK; BT_EINVAL with a sentence for a bad layout: a
 *         struct_size that is 0 or not the size of a bt_dist layout, dtype, ndim
 *         outside 1..BT_MAX_DIMS, an extent < 1, a negative procs or halo,
 *         periodic or corners not 0 or 1, a grid whose size is not the
 *         communicator's, a block narrower than its halo (or empty);
 *         BT_ENOMEM, BT_EMPI, BT_ESTATE (a collective of the bridge runs).
 *         Every rank gets the same answer for a bad layout (no hang).
 */
BT_API BT_NODISCARD int bt_darray_create(bt_mpi *m, const bt_dist *d,
                                         bt_darray **da);
/** @brief Free a darray (collective). NULL accepted. @return BT_OK,
 *  BT_EINVAL (not a live darray), BT_ESTATE (an exchange under way). */
BT_API int bt_darray_destroy(bt_darray *da);
/** @brief A new zeroed darray of the same layout (collective, as create).
 *  @return as bt_darray_create. */
BT_API BT_NODISCARD int bt_darray_like(const bt_darray *da, bt_darray **twin);
/** @brief The local block with its ghosts (extents n[d] + 2 halo[d]);
 *  NULL for a bad handle. Borrowed: the darray keeps the reference. */
BT_API bt_array *bt_darray_local(bt_darray *da);
/** @brief The owned cells: the sub-array [halo, halo + n) of the local
 *  block along every axis; NULL for a bad handle. Borrowed. */
BT_API bt_array *bt_darray_interior(bt_darray *da);
/** @brief The owned cells' global ranges, global[0..ndim-1]. @return BT_OK,
 *  BT_EINVAL. */
BT_API BT_NODISCARD int bt_darray_owned(const bt_darray *da, bt_range *global);
/** @brief This rank's coordinates in the grid, coords[0..ndim-1]; the grid
 *  itself via bt_darray_dist. @return BT_OK, BT_EINVAL. */
BT_API BT_NODISCARD int bt_darray_coords(const bt_darray *da, int *coords);
/** @brief The layout, procs filled in. @return BT_OK, BT_EINVAL. */
BT_API BT_NODISCARD int bt_darray_dist(const bt_darray *da, bt_dist *d);
/** @brief Exchange the halos: begin then end. Collective among
 *  neighbours. @return as begin and end. */
BT_API BT_NODISCARD int bt_darray_halo(bt_darray *da, int64_t timeout_ns);
/** @brief Start the exchange: own the ghost regions, borrow the edges of
 *  the interior, start the messages.
 *  @return BT_OK, BT_EINVAL, BT_ESTATE (an exchange already under way),
 *  BT_EBUSY (a ghost region or an edge is held: nothing started), BT_EMPI. */
BT_API BT_NODISCARD int bt_darray_halo_begin(bt_darray *da);
/** @brief Wait for the exchange begun on this darray, then release its
 *  regions. timeout_ns: -1 forever, 0 a poll.
 *  @return BT_OK, BT_EINVAL, BT_ESTATE (no exchange under way),
 *  BT_ETIMEDOUT (still under way: call again), BT_EMPI. */
BT_API BT_NODISCARD int bt_darray_halo_end(bt_darray *da, int64_t timeout_ns);
/**
 * @brief Global dot product of the owned cells of x and y (f64), on every
 *        rank. Collective. Bit-reproducible (see the file comment).
 * @return BT_OK, BT_EINVAL (a bad handle, or x and y of different layouts:
 *         the sentence names both), BT_EBUSY, BT_ESTATE, BT_EMPI.
 */
BT_API BT_NODISCARD int bt_darray_dot(bt_darray *x, bt_darray *y, double *out);
/** @brief Global 2-norm of the owned cells (scaled: no overflow), as dot. */
BT_API BT_NODISCARD int bt_darray_nrm2(bt_darray *x, double *out);
/** @brief Global sum of the owned cells, as dot. */
BT_API BT_NODISCARD int bt_darray_sum(bt_darray *x, double *out);

#ifdef __cplusplus
}
#endif

#endif /* BATON_DIST_H */
