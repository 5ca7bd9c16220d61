/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/stats.h
 * @brief Diagnostics: per-worker counters and a report of what a runtime is
 *        doing and what it still holds.
 *
 * Counters are always on: each worker writes its own, on its own cache
 * lines, with plain (relaxed) stores; reading them costs the reader only.
 * Their cost is measured in docs/performance.md ("Diagnostics").
 *
 * Environment (read at bt_runtime_create(), garbage refused with BT_EINVAL):
 * - `BATON_STATS=1` prints bt_runtime_report() on stderr at
 *   bt_runtime_destroy().
 * - `BATON_DISPLAY_AFFINITY=1` prints one line per worker at creation: host,
 *   MPI rank (when the launcher says), worker, core, PU, NUMA node, the
 *   cpuset it is bound to and the cpuset the process was given.
 * - `BATON_TRACE=path` writes a Chrome trace-event JSON file at
 *   bt_runtime_destroy() (`%r` in path becomes the MPI rank, `%p` the pid).
 * - `BATON_WATCHDOG=seconds` prints, once per wait, what a wait longer than
 *   that waits on and who holds it.
 *
 * Whatever the environment, destroying a runtime while slices of its arrays
 * are still held prints them on stderr.
 */
#ifndef BATON_STATS_H
#define BATON_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "baton/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One worker's counters since its runtime was created. */
typedef struct bt_worker_stats {
  uint64_t jobs;      /**< jobs (bt_schedule) run on this worker */
  uint64_t parts;     /**< kernel parts run on this worker */
  uint64_t steals;    /**< tasks taken from another worker's queue */
  uint64_t wakeups;   /**< times the idle worker woke from sleep */
  double busy_s;      /**< seconds running tasks */
  double spin_s;      /**< seconds spinning idle before sleeping */
  double sleep_s;     /**< seconds asleep, idle */
  uint64_t queue_len; /**< tasks waiting now: posted to the worker and
                           on its work-stealing deque */
  uint64_t queue_max; /**< most tasks ever waiting at once (same count) */
} bt_worker_stats;

/**
 * @brief A snapshot of one worker's counters.
 * @param rt the runtime.
 * @param worker 0 .. bt_runtime_workers(rt) - 1.
 * @param s out: the counters, written only on success. Each field is exact
 *        for the instant it was read; fields are read one after another.
 * @return BT_OK, BT_EINVAL (rt or s NULL, worker out of range).
 * Thread-safe. Ownership: nothing is taken.
 */
BT_API BT_NODISCARD int bt_worker_stats_get(const bt_runtime *rt, int worker,
                                            bt_worker_stats *s);

/**
 * @brief Print a readable report of the runtime: host, MPI rank and pid in
 *        the header; each worker with its binding and counters; futures
 *        never waited; slices still held (array, region, holder); and the
 *        sections attached modules add (the MPI bridge: its remote channels
 *        with their message and byte counts, credit stalls and late
 *        wake-ups).
 * @param rt the runtime.
 * @param out where to print (stderr, stdout, a file).
 * @return BT_OK, BT_EINVAL (rt or out NULL).
 * Thread-safe; what other threads change meanwhile may show half-way.
 */
BT_API BT_NODISCARD int bt_runtime_report(bt_runtime *rt, FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* BATON_STATS_H */
