/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/job.h
 * @brief Jobs run on workers, their results come back through futures
 *        (after Kotlin/Native's Worker.execute).
 *
 * The argument moves exactly as a channel element does (a checked or
 * unchecked transfer for boxes, a move for slices, a copy for values). The
 * job's return code and its result come back through the future; whoever
 * waits on the future adopts the result.
 */
#ifndef BATON_JOB_H
#define BATON_JOB_H

#include "baton/runtime.h"
#include "baton/type.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A job body. arg: the adopted argument (NULL without arg_type), which the
 *  body now owns (it releases a box or slice argument it does not pass on);
 *  result: result_type->size zeroed bytes to fill (NULL without
 *  result_type); ctx: the job's ctx. Returns BT_OK or a status that
 *  bt_future_wait() reports. A result is delivered only when the body
 *  returns BT_OK: a failing body must leave nothing it owns in `result`. */
typedef int (*bt_job_fn)(void *arg, void *result, void *ctx);

/** A job description; copied by bt_schedule().
 *
 * The struct may gain fields in a later minor version. Initialise it with
 * BT_JOB_INIT (C and C++) or, in C, with designated initialisers that set
 * `.struct_size = sizeof(bt_job)`; a program built against an older baton
 * passes a smaller struct_size and gets the newer fields' defaults;
 * struct_size 0 or any value that is not the size of a bt_job layout is
 * refused with BT_EINVAL. */
typedef struct bt_job {
  size_t struct_size;         /**< sizeof(bt_job) as the caller was
                                   compiled; set by the initialisers */
  bt_job_fn fn;               /**< runs on the worker */
  void *ctx;                  /**< passed as is; the caller keeps it valid */
  const bt_type *arg_type;    /**< NULL: no argument */
  const void *arg;            /**< one element, transferred as by bt_send */
  bt_transfer mode;           /**< transfer mode of the argument */
  const bt_type *result_type; /**< NULL: no result */
} bt_job;

/** An empty job (no function yet, no argument, no result), in C and C++:
 *  `bt_job job = BT_JOB_INIT; job.fn = body;` */
#define BT_JOB_INIT {sizeof(bt_job), NULL, NULL, NULL, NULL, BT_CHECKED, NULL}

/** Any worker: the least loaded, on the NUMA node of a slice argument when
 *  there is one. */
#define BT_ANY_WORKER (-1)

/** A future: the outcome of one job. Opaque; one holder at a time. */
typedef struct bt_future bt_future;

/**
 * @brief Queue a job on a worker.
 * @param worker a worker id or BT_ANY_WORKER.
 * @param f out: the future, written only on success.
 * @return BT_OK, BT_EINVAL (also for a job->struct_size that is 0 or not the
 *         size of a bt_job layout), BT_ENOMEM, BT_ESTATE (runtime being
 *         destroyed),
 *         or the argument's on_send refusal (BT_EMOVED, BT_ESHARED,
 *         BT_ETYPE): then the argument stays with the caller.
 * Thread-safe. Ownership: takes the argument (moved), gives a future the
 * caller must wait on or release.
 */
BT_API BT_NODISCARD int bt_schedule(bt_runtime *rt, int worker,
                                    const bt_job *job, bt_future **f);

/**
 * @brief Wait for the job's outcome.
 * @param timeout_ns -1: forever; 0: poll; else at most that long.
 * @param result out: result_type->size bytes, written when the job returned
 *        BT_OK and had a result type (may be NULL to drop the result).
 * @return the job's own return code (bt_errmsg() then carries the job's
 *         message), the result type's on_send refusal on the worker (the
 *         result is sent BT_CHECKED: a shared box result answers BT_ESHARED
 *         and is dropped), or BT_ETIMEDOUT / BT_EAGAIN (not done yet),
 *         BT_ESTATE (the outcome was already taken: only the first wait that
 *         finds the job done gets its code and result), BT_EINVAL.
 * Called from a worker of the same runtime, the wait runs other queued jobs
 * of that worker meanwhile, so jobs waiting on jobs never deadlock the pool;
 * such a wait may then return later than its timeout by the length of a job
 * it ran. Ownership: the caller adopts the result (its type's on_recv runs
 * on the calling thread); with result NULL the result is dropped.
 */
BT_API BT_NODISCARD int bt_future_wait(bt_future *f, int64_t timeout_ns,
                                       void *result);

/** @brief Whether the job has finished (non-blocking): 1 or 0; 0 also for
 *  NULL or a released future. Thread-safe. */
BT_API int bt_future_done(const bt_future *f);

/** @brief Release the future; an unconsumed result is dropped (on_drop).
 *  The job still runs if it has not. NULL accepted. @return BT_OK. */
BT_API int bt_future_release(bt_future *f);

#ifdef __cplusplus
}
#endif

#endif /* BATON_JOB_H */
