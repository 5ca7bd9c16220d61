/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/kernels.h
 * @brief Parallel kernels over slices: each worker gets one part (the part
 *        it first touched when the array was placed with BT_PLACE_BLOCKS),
 *        the caller joins. f64 arrays.
 *
 * Every kernel returns BT_OK, BT_EINVAL (dtype or shape mismatch, a NULL
 * argument, or the written array passed again as a read one, itself or as
 * a sub-array sharing elements with it; the solver kernels below allow
 * BLAS's exact aliasing), BT_EBUSY (an
 * array is held by a slice; nothing is touched and the array is usable once
 * the holder lets go), BT_EFROZEN (the written array is frozen), or the
 * first error of a part (the lowest-numbered part that failed). Kernels may
 * be called from any thread, one of rt's workers included (a job or a part
 * body may call a kernel: nested). Arrays with no element are a no-op.
 * Part i of the cut along axis 0 is the block that BT_PLACE_BLOCKS had
 * worker i first touch, and runs on worker i when that worker is idle and
 * claims it first. The calling thread runs a part itself: its own when it
 * is a worker, the last when the runtime has fewer workers than the
 * process has cores or the process has a single core, or, when the
 * workers fill the cores, that of the worker bound to the PU it runs on
 * (whose core it holds); and, like an idle worker that finished its own
 * part, any part still unclaimed when its worker is parked or a few
 * microseconds late. A part runs exactly once;
 * docs/runtime.md, "Kernels: the team", has the rules.
 *
 * SIMD: the inner loops are compiled for several SIMD levels (SSE2,
 * AVX2+FMA, AVX-512 on x86-64) and the highest level the CPU supports is
 * chosen once per process; BATON_SIMD=auto|sse2|avx2|avx512 overrides it
 * (a level the CPU lacks, or an unknown value, falls back to the highest
 * supported one, with one line on stderr). Every level computes the same
 * bits: results never depend on the level.
 *
 * Thread-safety: several threads may run kernels on one runtime at once
 * (on different arrays, or on arrays they only read). Ownership: kernels
 * take no reference; the arrays must live until the call returns.
 */
#ifndef BATON_KERNELS_H
#define BATON_KERNELS_H

#include "baton/array.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Body run on each part; `worker` is the part's index (the worker it was
 *  placed for; see bt_parallel_slices). */
typedef int (*bt_slice_fn)(bt_slice part, int worker, void *ctx);

/**
 * @brief Split the whole array along axis into one part per worker (owned
 *        when writable, else borrowed), run fn on each part on its worker,
 *        join. fn must not release or send its part (BT_EMOVED).
 *
 * The parts are the balanced partition (the remainder to the first parts);
 * with fewer indices along axis than workers, only the first workers get a
 * part. `worker` is the part's index: the worker it was placed for, which
 * runs it unless the calling thread or another worker claims it first
 * (see above; bt_self() tells which thread runs it). The caller waits
 * (spins, then sleeps) until every part is done, then releases them.
 * @return BT_OK, BT_EBUSY (timeout 0: a region of a is held), BT_EFROZEN,
 *         BT_EINVAL, or the error fn returned for the lowest-numbered part
 *         that failed.
 */
BT_API BT_NODISCARD int bt_parallel_slices(bt_runtime *rt, bt_array *a,
                                           int axis, int writable,
                                           bt_slice_fn fn, void *ctx);
BT_API BT_NODISCARD int bt_fill(bt_runtime *rt, bt_array *a, double value);
/** a += b + scalar * c (PRK nstream) */
BT_API BT_NODISCARD int bt_nstream(bt_runtime *rt, bt_array *a, bt_array *b,
                                   bt_array *c, double scalar);
/** y += alpha * x */
BT_API BT_NODISCARD int bt_axpy(bt_runtime *rt, double alpha, bt_array *x,
                                bt_array *y);
/** Deterministic for a given worker count, the same at every SIMD level:
 *  each part sums in 16 interleaved lanes, combined in a fixed order. */
BT_API BT_NODISCARD int bt_dot(bt_runtime *rt, bt_array *x, bt_array *y,
                               double *out);
/** Scaled as BLAS dnrm2 (Blue's algorithm): no overflow or underflow for
 *  any finite input. Deterministic for a given worker count, the same at
 *  every SIMD level. */
BT_API BT_NODISCARD int bt_nrm2(bt_runtime *rt, bt_array *x, double *out);
BT_API BT_NODISCARD int bt_sum(bt_runtime *rt, bt_array *x, double *out);
/** b += a^T (2-D) */
BT_API BT_NODISCARD int bt_transpose(bt_runtime *rt, bt_array *a,
                                     bt_array *b);
/** out += star stencil of radius r of in, on the interior (PRK weights).
 *  BT_EINVAL when 2 r + 1 exceeds both extents (no axis holds the stencil);
 *  an empty interior otherwise leaves out as it is. */
BT_API BT_NODISCARD int bt_stencil(bt_runtime *rt, int radius, bt_array *in,
                                   bt_array *out);
/** c = alpha a b + beta c; BT_ENOTSUP in a build without BLAS.
 *  c is cut into a 2-D grid of tiles, one per worker (row bands when they
 *  are as good, e.g. 2 workers on a square; 4 x 4 tiles for 16), each tile
 *  inside the rows its worker's NUMA node first touched under
 *  BT_PLACE_BLOCKS; each worker calls single-threaded OpenBLAS on its tile.
 *  When c is small and k long (c 64 x 64, k 100 000), groups of workers of
 *  one node share a tile and split k: each computes a partial in scratch
 *  memory of its own, then the partials are added to beta c in a fixed
 *  order, so the result is the same bits from run to run (for a given
 *  shape and worker count). OpenBLAS's thread count is process-wide: the call sets it to 1 and
 *  restores the caller's count before it returns, so threaded BLAS called
 *  elsewhere keeps its threads; a thread that changes the count while a
 *  bt_gemm runs races with it. Operands need a unit stride along one axis
 *  (row- or column-major), else BT_EINVAL. */
BT_API BT_NODISCARD int bt_gemm(bt_runtime *rt, double alpha, bt_array *a,
                                bt_array *b, double beta, bt_array *c);

/* ---- the kernels of an iterative solver ---------------------------------
 * Sub-arrays (bt_array_sub) are accepted wherever an array is. Aliasing
 * follows BLAS: the written array may also be passed as a read one when it
 * is the same elements (the same array, or sub-arrays of one array over the
 * same region); operands that overlap only in part are refused with
 * BT_EINVAL. */

/** @brief y = x (f64, same shape). x and y the same elements: a no-op.
 *  @return the codes above. */
BT_API BT_NODISCARD int bt_copy(bt_runtime *rt, bt_array *x, bt_array *y);
/** @brief x = alpha x. @return the codes above. */
BT_API BT_NODISCARD int bt_scal(bt_runtime *rt, double alpha, bt_array *x);
/** @brief y = alpha x + beta y (x may be y). @return the codes above. */
BT_API BT_NODISCARD int bt_axpby(bt_runtime *rt, double alpha, bt_array *x,
                                 double beta, bt_array *y);
/** @brief w = alpha x + beta y; w may be x or y (or both), x may be y.
 *  @return the codes above. */
BT_API BT_NODISCARD int bt_waxpby(bt_runtime *rt, double alpha, bt_array *x,
                                  double beta, bt_array *y, bt_array *w);

/**
 * @brief Apply a stencil with user weights, any ndim, star or box:
 *        out[i] = sum_k weights[k] * in[i + offsets[k*ndim .. k*ndim+ndim-1]]
 *        for every point i whose whole stencil lies inside in.
 *
 * Points of out whose stencil reaches outside in are left untouched (the
 * boundary: a ghost layer, or values the caller sets). The sum runs over
 * the points in the order given, except for the 3x3x3 box (27 points, any
 * order, unit stride along the last axis), whose faster path sums it in
 * (dz, dy, dx) order. Parts are cut along axis 0; each borrows the rows of
 * in it reads.
 * @param npoints number of stencil points, 1 or more.
 * @param offsets npoints x ndim offsets, row-major; each offset's magnitude
 *        must be below the extent of its axis.
 * @param weights npoints weights.
 * @param in,out f64 arrays (or sub-arrays) of the same shape that share no
 *        element.
 * @return BT_OK, BT_EINVAL (NULL, dtype, shape, npoints < 1, an offset out
 *         of range, in and out overlapping), BT_EBUSY, BT_EFROZEN,
 *         BT_ENOMEM, BT_ESTATE (called from a worker).
 */
BT_API BT_NODISCARD int bt_stencil_apply(bt_runtime *rt, int npoints,
                                         const int *offsets,
                                         const double *weights, bt_array *in,
                                         bt_array *out);

/** A sparse matrix in compressed sparse rows, split in row blocks over a
 *  runtime's workers. Not thread-safe to destroy while a bt_spmv uses it;
 *  several bt_spmv may read it at once. */
typedef struct bt_csr bt_csr;
/**
 * @brief Copy a CSR matrix (rowptr of rows + 1 entries from 0, never
 *        decreasing; colidx and values of rowptr[rows] entries) into row
 *        blocks, one per worker of rt, the balanced partition of the rows
 *        that bt_spmv cuts y into; worker i copies block i, so its pages are
 *        on worker i's NUMA node.
 * @return BT_OK, BT_EINVAL (NULL, negative size, rowptr not starting at 0
 *         or decreasing, a column outside [0, cols)), BT_ENOMEM, BT_ESTATE
 *         (called from a worker).
 * Ownership: the caller's arrays are copied; *A is destroyed with
 * bt_csr_destroy before rt is.
 */
BT_API BT_NODISCARD int bt_csr_create(bt_runtime *rt, int64_t rows,
                                      int64_t cols, const int64_t *rowptr,
                                      const int64_t *colidx,
                                      const double *values, bt_csr **A);
/** @brief Free a matrix; NULL accepted. @return BT_OK. */
BT_API int bt_csr_destroy(bt_csr *A);
/**
 * @brief y = A x: worker i computes the rows of its block into its part of
 *        y, reading the whole of x (borrowed).
 * @param x 1-D f64 of cols elements. @param y 1-D f64 of rows elements,
 *        sharing no element with x.
 * @return BT_OK, BT_EINVAL (NULL, dtype, ndim, sizes, x and y overlapping,
 *         a matrix made for another runtime), BT_EBUSY, BT_EFROZEN,
 *         BT_ESTATE.
 */
BT_API BT_NODISCARD int bt_spmv(bt_runtime *rt, const bt_csr *A, bt_array *x,
                                bt_array *y);

#ifdef __cplusplus
}
#endif

#endif /* BATON_KERNELS_H */
