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
 * first error of a part (the lowest-numbered part that failed). Kernels may
 * be called from any thread, one of rt's workers included (a job or a part
 * body may call a kernel: nested). Arrays with no element are a no-op.
 * Part i of the cut along axis 0 is the block that BT_PLACE_BLOCKS had
 * worker i first touch, and runs on worker i, except that the calling
 * thread runs a part itself when it is a worker (its own part, and any part
 * whose worker has not started it) or when the runtime has fewer workers
 * than the process has cores (the last part, and any not started).
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
 * runs it unless the calling thread does (see above; bt_self() then tells
 * which). The caller waits (spins up to 100 us, then sleeps) until every
 * part is done, then releases them.
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
/** Deterministic for a given worker count. */
BT_API BT_NODISCARD int bt_dot(bt_runtime *rt, bt_array *x, bt_array *y,
                               double *out);
/** Scaled as BLAS dnrm2 (Blue's algorithm): no overflow or underflow for
 *  any finite input. Deterministic for a given worker count. */
BT_API BT_NODISCARD int bt_nrm2(bt_runtime *rt, bt_array *x, double *out);
BT_API BT_NODISCARD int bt_sum(bt_runtime *rt, bt_array *x, double *out);
/** b += a^T (2-D) */
BT_API BT_NODISCARD int bt_transpose(bt_runtime *rt, bt_array *a,
                                     bt_array *b);
/** out += star stencil of radius r of in, on the interior (PRK weights) */
BT_API BT_NODISCARD int bt_stencil(bt_runtime *rt, int radius, bt_array *in,
                                   bt_array *out);
/** c = alpha a b + beta c; BT_ENOTSUP in a build without BLAS.
 *  Each worker calls single-threaded OpenBLAS on its band of rows of c.
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
