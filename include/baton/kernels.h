/**
 * @file baton/kernels.h
 * @brief Parallel kernels over slices: each worker gets one part (the part
 *        it first touched when the array was placed with BT_PLACE_BLOCKS),
 *        the caller joins. f64 arrays.
 *
 * Every kernel returns BT_OK, BT_EINVAL (dtype or shape mismatch, a NULL
 * argument, or the written array passed again as a read one), BT_EBUSY (an
 * array is held by a slice; nothing is touched and the array is usable once
 * the holder lets go), BT_EFROZEN (the written array is frozen), or the
 * first error of a part (the lowest-numbered part that failed). Kernels are
 * called from a thread that is not one of rt's workers: from one of them
 * they answer BT_ESTATE (its own part would wait for itself). Arrays with no
 * element are a no-op. Part i of the cut along axis 0 is the block that
 * BT_PLACE_BLOCKS had worker i first touch, and runs on worker i.
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

/** Body run on each part; `worker` is the worker running it. */
typedef int (*bt_slice_fn)(bt_slice part, int worker, void *ctx);

/**
 * @brief Split the whole array along axis into one part per worker (owned
 *        when writable, else borrowed), run fn on each part on its worker,
 *        join. fn must not release or send its part (BT_EMOVED).
 *
 * The parts are the balanced partition (the remainder to the first parts);
 * with fewer indices along axis than workers, only the first workers get a
 * part. The caller waits (spins briefly, then sleeps) until every part is
 * done, then releases them.
 * @return BT_OK, BT_EBUSY (timeout 0: a region of a is held), BT_EFROZEN,
 *         BT_EINVAL, BT_ESTATE (called from one of rt's workers), or the
 *         error fn returned for the lowest-numbered part that failed.
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
/** out += star stencil of radius r of in, on the interior (PRK weights) */
BT_API BT_NODISCARD int bt_stencil(bt_runtime *rt, int radius, bt_array *in,
                                   bt_array *out);
/** c = alpha a b + beta c; BT_ENOTSUP in a build without BLAS.
 *  c is cut into a 2-D grid of tiles, one per worker (row bands when they
 *  are as good, e.g. 2 workers on a square; 4 x 4 tiles for 16), each tile
 *  inside the rows its worker's NUMA node first touched under
 *  BT_PLACE_BLOCKS; each worker calls single-threaded OpenBLAS on its tile.
 *  OpenBLAS's thread count is process-wide: the call sets it to 1 and
 *  restores the caller's count before it returns, so threaded BLAS called
 *  elsewhere keeps its threads; a thread that changes the count while a
 *  bt_gemm runs races with it. Operands need a unit stride along one axis
 *  (row- or column-major), else BT_EINVAL. */
BT_API BT_NODISCARD int bt_gemm(bt_runtime *rt, double alpha, bt_array *a,
                                bt_array *b, double beta, bt_array *c);

#ifdef __cplusplus
}
#endif

#endif /* BATON_KERNELS_H */
