/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kernels_int.h: kernels' private interface. Never installed.
 *
 * Every kernel runs on one mechanism (kernels/parallel.c): the operands are
 * locked with timeout 0 (own for the written one, borrow for the read ones),
 * once each, by the caller, who keeps the slices; their views are cut into
 * one part per worker along an axis with the balanced split rule
 * (bt__part_start, the rule BT_PLACE_BLOCKS used for first touch, so part i
 * is worker i's home part), and the parts run through the runtime's team
 * (bt__team_run, core/team.c: one offer to every worker, each part claimed
 * once by whoever comes first, its home worker first; the caller runs its
 * own part and the parts of late workers). When the team is busy (a kernel
 * called from a part, or from another thread meanwhile) one task per
 * worker is posted with bt__worker_post instead, and the caller takes back
 * the parts no worker started when it may run parts, then waits on a
 * countdown (bounded spin, then futex). Then the caller releases the
 * slices and returns the first part's error. Part tasks live on the
 * caller's stack (no allocation per call up to 16 workers).
 * bt_parallel_slices alone splits its operand into one slice per part and
 * hands each to the thread that runs the part (its body gets a bt_slice).
 */
#ifndef BATON_KERNELS_INT_H
#define BATON_KERNELS_INT_H

#include "array_int.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* ---- BLAS threads (kernels/blas_threads.c) ---------------------------- */

/* OpenBLAS's thread count is process-wide. Kernels that call BLAS from
 * every worker bracket the whole parallel run with enter/leave: enter sets
 * OpenBLAS to one thread (BLAS threads would fight the pinned workers),
 * leave restores what the user had, so a user who calls threaded BLAS
 * elsewhere keeps it. Nested and concurrent brackets (several runtimes) are
 * counted under a lock: the count is restored when the last one leaves.
 * A user who changes the count from another thread while a kernel runs
 * races with it (documented in kernels.h). No-ops without BLAS. */
void bt__blas_threads_enter(void);
void bt__blas_threads_leave(void);
/* OpenBLAS's thread count now (1 in a build without BLAS). For tests. */
int bt__blas_threads(void);
/* 1 when this build calls BLAS (bt_gemm works), 0 when it was built
 * without (bt_gemm answers BT_ENOTSUP). */
int bt__have_blas(void);

/* ---- the parallel mechanism (kernels/parallel.c) ---------------------- */

#define BT__MAX_OPERANDS 3

/* How one array takes part in a kernel. */
typedef struct bt__operand {
  bt_array *array;
  int writable; /* 1: owned (exclusive, read-write); 0: borrowed */
  int axis;     /* the axis cut into the workers' parts; its extent must be
                   the same for every operand (the kernel checks) */
  int64_t halo; /* borrowed only: each part also borrows this many more
                   indices each side along axis, clipped (stencil halos) */
  int whole;    /* borrowed only: every part borrows the whole array (gemm's
                   B); axis is then ignored */
} bt__operand;

/* What one worker receives: its index, its range of the cut extent, and
 * per operand its view (made by the caller, who holds the slices; view.numa
 * is -1) and, for bt_parallel_slices only, the slice handed to the runner
 * (for the library's kernels slice[k] is 0, a stale handle). */
typedef struct bt__part {
  int index;           /* part i: worker i's home part (it may run
                          elsewhere: the caller or a helping worker) */
  int64_t start, stop; /* [start, stop) of the cut extent */
  bt_slice slice[BT__MAX_OPERANDS];
  bt_view view[BT__MAX_OPERANDS];
} bt__part;

/* Runs on whichever thread claimed the part (worker part->index, another
 * worker, or the caller). Returns BT_OK or a status (first wins). */
typedef int (*bt__part_fn)(const bt__part *part, void *ctx);

/* The mechanism. Called from any thread, a worker of rt included (nested
 * kernels: the worker runs its own part and any part not yet started).
 * Parts: min(workers, extent of the cut axis), each
 * at least one index wide. An operand with no element makes the call a
 * no-op (BT_OK, nothing locked: an empty region cannot be locked). *nparts
 * (may be NULL) gets the number of parts that ran, for reductions that
 * combine per-part partials.
 * Returns BT_OK, BT_EBUSY/BT_EFROZEN/... from locking, BT_ENOMEM, or the
 * error of the lowest-numbered failing part. */
int bt__parallel(bt_runtime *rt, const bt__operand *ops, int nops,
                 bt__part_fn fn, void *ctx, int *nparts);

/* How an array takes part in bt__parallel_regions. */
typedef struct bt__region_op {
  bt_array *array;
  int writable; /* 1: owned; 0: borrowed */
} bt__region_op;

/* bt__parallel with one part per worker, each part's regions chosen by the
 * kernel (2-D tiles: kernels/tiles.h): part i runs on worker i (or on the
 * caller, by bt__parallel's rules) with operand k's region
 * regions + (i * nops + k) * BT_MAX_DIMS (one range per dimension, none
 * empty) locked for it with timeout 0. Same returns as bt__parallel. */
int bt__parallel_regions(bt_runtime *rt, const bt__region_op *ops, int nops,
                         const bt_range *regions, bt__part_fn fn, void *ctx);

/* ---- argument checks shared by the kernels (kernels/parallel.c) ------- */

/* BT_OK if a is a non-NULL f64 array, else BT_EINVAL naming kernel and
 * role ("bt_axpy: y is i32, want f64"). */
int bt__check_f64(const char *kernel, const char *role, const bt_array *a);
/* BT_OK if a and b have the same ndim and shape, else BT_EINVAL. */
int bt__check_same_shape(const char *kernel, const char *ra, const bt_array *a,
                         const char *rb, const bt_array *b);
/* BT_OK if a has ndim dimensions, else BT_EINVAL. */
int bt__check_ndim(const char *kernel, const char *role, const bt_array *a,
                   int ndim);
/* The common entry check of every kernel: rt non-NULL. (Workers of rt may
 * call kernels: bt__parallel runs their part on them.) */
int bt__check_caller(const char *kernel, const bt_runtime *rt);

/* ---- element walks (kernels/walk.c) ----------------------------------- */

/* Call run(ptr, stride, n, ctx) on every run of the innermost axis of n
 * views of one shape, in row-major order (one call for the whole view when
 * every view is contiguous). ptr[k] and stride[k] are view k's. The order
 * is fixed by the shapes and strides, so reductions over it are
 * deterministic. */
typedef void (*bt__run_fn)(double *const *ptr, const int64_t *stride, int64_t n,
                           void *ctx);
void bt__walk(const bt_view *views, int nviews, bt__run_fn run, void *ctx);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_KERNELS_INT_H */
