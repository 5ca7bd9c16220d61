/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/array.h
 * @brief N-d arrays whose data is reached only through owned or borrowed
 *        slices, with a region lock table.
 *
 * `own` takes a region exclusively (read-write); `borrow` takes it shared
 * and read-only. Borrows may overlap each other, never an own. A slice is a
 * capability held by one thread: the one that made it, or the last that
 * received it. Sending moves it; split and release consume it; every stale
 * copy of a handle answers BT_EMOVED (the handle carries a generation).
 *
 * Thread-safety: the array's lock table and refcount are thread-safe. A
 * slice is used by its holder only (others get BT_EMOVED).
 */
#ifndef BATON_ARRAY_H
#define BATON_ARRAY_H

#include "baton/runtime.h"
#include "baton/type.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { BT_F64, BT_F32, BT_I64, BT_I32, BT_U8 } bt_dtype;
#define BT_MAX_DIMS 8

/** A half-open range [start, stop) along one axis. */
typedef struct bt_range {
  int64_t start, stop;
} bt_range;

/** Where an array's pages live. */
typedef enum {
  BT_PLACE_LOCAL,      /**< the NUMA node of the calling thread */
  BT_PLACE_INTERLEAVE, /**< pages interleaved over the runtime's nodes */
  BT_PLACE_BLOCKS      /**< each block of the partition along axis 0 into
                            runtime-workers parts is first touched by its
                            worker */
} bt_place;

typedef struct bt_array bt_array;

/** @brief Bytes per element of a dtype (0 for an invalid one). */
BT_API size_t bt_dtype_size(bt_dtype t);
/** @brief "f64", "f32", "i64", "i32", "u8". */
BT_API const char *bt_dtype_name(bt_dtype t);

/**
 * @brief Allocate a zeroed, row-major, page-aligned array.
 * @param rt the runtime whose workers and NUMA nodes placement uses; may be
 *        NULL with BT_PLACE_LOCAL (views then report numa -1). The runtime
 *        must outlive the array and its slices.
 * @return BT_OK, BT_EINVAL (dtype, ndim outside 1..BT_MAX_DIMS, negative
 *         extent, size overflow, placement other than LOCAL without a
 *         runtime), BT_ENOMEM, BT_ETOPO.
 * An extent may be 0; such an array has no region to own or borrow.
 * Ownership: *a has one reference.
 */
BT_API BT_NODISCARD int bt_array_create(bt_runtime *rt, bt_dtype t, int ndim,
                                        const int64_t *shape, bt_place place,
                                        bt_array **a);
/**
 * @brief Wrap user memory without copying. strides (in elements) may be
 *        NULL for row-major. The user keeps the memory valid while the array
 *        lives and touches it only through slices meanwhile.
 * @return BT_OK, BT_EINVAL (bad dtype, ndim or shape; data NULL; strides
 *         under which two elements share memory (a zero stride, or an axis
 *         that lands inside a smaller one's reach), whose offsets overflow,
 *         or whose first or last element is not readable memory),
 *         BT_ENOMEM.
 */
BT_API BT_NODISCARD int bt_array_wrap(bt_runtime *rt, void *data, bt_dtype t,
                                      int ndim, const int64_t *shape,
                                      const int64_t *strides, bt_array **a);
/**
 * @brief Make a sub-array: a view of a region of a, with a's memory and
 *        lock table.
 *
 * The sub-array has its own shape (the region's extents) and origin, and
 * the parent's dtype, strides and runtime. Owning or borrowing a region of
 * the sub-array locks the matching region of the parent's table (of the
 * root array, for a sub-array of a sub-array), so slices of the sub-array
 * and of the parent conflict exactly where they overlap; a conflict's
 * bt_errmsg() names both regions in the root array's coordinates. Views of
 * its slices report `origin` in the sub-array's coordinates. Every kernel
 * and bt_parallel_slices accepts a sub-array; the BT_PLACE_BLOCKS blocks
 * of the parent do not carry over (kernels cut the sub-array's own extent).
 * bt_array_freeze on a sub-array answers BT_ENOTSUP: freeze the parent.
 *
 * @param a the parent: an array or a sub-array (NULL: BT_EINVAL).
 * @param region one range per axis of a, 0 <= start < stop <= extent (NULL:
 *        the whole of a). Empty or out-of-range regions are refused.
 * @param sub out: the sub-array, one reference (bt_array_release).
 * @return BT_OK, BT_EINVAL (NULL argument, empty or out-of-range region),
 *         BT_ENOMEM.
 * Thread-safety: as bt_array_retain on a. Ownership: the sub-array holds a
 * reference on a, so a may be released first; the memory goes when the
 * last array, sub-array and slice are gone.
 */
BT_API BT_NODISCARD int bt_array_sub(bt_array *a, const bt_range *region,
                                     bt_array **sub);
BT_API void bt_array_retain(bt_array *a);
/** @brief Drop a reference; the memory goes when the last reference and the
 *  last slice are gone. NULL accepted. @return BT_OK. */
BT_API int bt_array_release(bt_array *a);
/** @brief Make the array read-only for ever: later owns answer BT_EFROZEN,
 *  borrows succeed. @return BT_OK, BT_EBUSY (a region is owned). */
BT_API BT_NODISCARD int bt_array_freeze(bt_array *a);
/** @brief Number of axes; 0 when a is not a live array (NULL, released). */
BT_API int bt_array_ndim(const bt_array *a);
/** @brief Element type; (bt_dtype)-1 when a is not a live array. */
BT_API bt_dtype bt_array_dtype(const bt_array *a);
/** @brief Copy the shape into shape[0..ndim-1]; nothing when a is not a
 *  live array or shape is NULL. */
BT_API void bt_array_shape(const bt_array *a, int64_t *shape);
/** @brief The runtime given at creation; NULL when none or a is not a live
 *  array. */
BT_API bt_runtime *bt_array_runtime(const bt_array *a);

/** A slice handle: a value, copied freely; only the holder may use it. */
typedef struct bt_slice {
  uint64_t id;
} bt_slice;

/**
 * @brief Take a region exclusively (NULL: the whole array).
 * @param region one range per axis with 0 <= start < stop <= extent: empty
 *        regions are refused (BT_EINVAL), so every slice has an element.
 * @param timeout_ns 0: BT_EBUSY at once on conflict; -1: wait until free;
 *        else BT_ETIMEDOUT after that long.
 * @return BT_OK, BT_EINVAL (bad region), BT_EBUSY, BT_ETIMEDOUT,
 *         BT_EFROZEN, BT_ENOMEM, BT_EDEADLK (timeout -1 and every
 *         conflicting region was locked by the calling thread, which still
 *         holds all its slices: the wait could never end; bt_errmsg() names
 *         both regions. A positive timeout waits and times out instead.)
 */
BT_API BT_NODISCARD int bt_array_own(bt_array *a, const bt_range *region,
                                     int64_t timeout_ns, bt_slice *s);
/** @brief Take a region shared and read-only. Same codes as own, but
 *  BT_EFROZEN never. */
BT_API BT_NODISCARD int bt_array_borrow(bt_array *a, const bt_range *region,
                                        int64_t timeout_ns, bt_slice *s);
/**
 * @brief Consume a held slice and make `parts` slices along `axis`, the
 *        remainder spread over the first parts. The region unlocks when the
 *        last part is released.
 * @param out out: parts handles.
 * @return BT_OK, BT_EMOVED, BT_EINVAL (axis, parts < 1 or > extent).
 */
BT_API BT_NODISCARD int bt_slice_split(bt_slice s, int axis, int parts,
                                       bt_slice *out);
/** @brief Release a held slice. @return BT_OK, BT_EMOVED. */
BT_API int bt_slice_release(bt_slice s);

/** What a slice shows its holder. */
typedef struct bt_view {
  void *data; /**< element [0,...,0] of the slice */
  bt_dtype dtype;
  int ndim, writable, numa; /**< numa: home node of the first page, -1 if
                                 unknown */
  int64_t shape[BT_MAX_DIMS], strides[BT_MAX_DIMS] /**< in elements */,
      origin[BT_MAX_DIMS] /**< in the array the slice was taken from
                               (a sub-array's own coordinates) */;
} bt_view;

/** @brief The view of a held slice. O(1) check. @return BT_OK, BT_EMOVED. */
BT_API BT_NODISCARD int bt_slice_view(bt_slice s, bt_view *v);
/** @brief Move the slice's pages to a NUMA node (runtime's logical index).
 *  Pages are whole: a page shared with a neighbouring region moves too.
 *  @return BT_OK, BT_EMOVED, BT_EINVAL (no such node), BT_ENOTSUP (the
 *  runtime's topology is not this machine, wrapped memory, or the kernel
 *  refused). */
BT_API BT_NODISCARD int bt_slice_migrate(bt_slice s, int numa);
/** @brief The array a held slice belongs to (no reference taken), or NULL. */
BT_API bt_array *bt_slice_array(bt_slice s);

/** Cleanup hook used by BT_SCOPED_SLICE. */
BT_API void bt_slice_cleanup(bt_slice *s);
#if defined(__GNUC__) || defined(__clang__)
/** Declare a slice released at the end of its scope:
 *  `BT_SCOPED_SLICE bt_slice s;` A slice sent, split or released before the
 *  end of scope is left alone (its handle is stale then). */
#define BT_SCOPED_SLICE __attribute__((cleanup(bt_slice_cleanup)))
#endif

#ifdef __cplusplus
}
#endif

#endif /* BATON_ARRAY_H */
