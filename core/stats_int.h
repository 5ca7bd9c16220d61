/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stats_int.h: the diagnostics' private interface (core/stats.c,
 * core/trace.c, core/watchdog.c): the hooks that workers, jobs, kernels,
 * arrays and the MPI bridge call. Included by core_int.h. Never installed.
 *
 * Every hook is cheap when its feature is off: counters are always on
 * (owner-written, relaxed, on the worker's own cache lines), the tracer and
 * the watchdog cost one relaxed load when off.
 */
#ifndef BATON_STATS_INT_H
#define BATON_STATS_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "baton/stats.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* ---- counters (core/stats.c) ---------------------------------------------
 * Called on a worker of any runtime (bt_self() >= 0); on other threads they
 * do nothing. A build with -DBATON_COUNTERS=OFF (BATON_NO_COUNTERS) makes
 * them empty, to measure what they cost (docs/performance.md). */
/* For core/worker.c. bt__stat_attach() runs first on the worker's thread.
 * The counters read no clock of their own on the way to idle: the worker
 * reads it once when it runs out of work (the spin's bound needs it) and
 * passes it, never per task (a clock read costs 20-100 ns): idle_begin(now)
 * ends a busy period (all the time since the worker last came back counts
 * as busy); spun(t, now) counts the idle spin from t to now (the spin's
 * last clock read), which starts the next busy period; slept(t) reads the
 * clock after a futex sleep (a sleep costs far more), counts the sleep
 * since t and a wake-up, and returns the time, which starts the next busy
 * period. */
void bt__stat_attach(bt_runtime *rt, int id);
#ifdef BATON_NO_COUNTERS
static inline void bt__stat_job(void) {}
static inline void bt__stat_part(void) {}
static inline void bt__stat_steal(void) {}
static inline void bt__stat_idle_begin(int64_t now) {
  (void)now;
}
static inline void bt__stat_spun(int64_t t, int64_t now) {
  (void)t, (void)now;
}
static inline int64_t bt__stat_slept(int64_t t) {
  return t;
}
static inline void bt__stat_queued(bt_runtime *rt, int worker, int len) {
  (void)rt, (void)worker, (void)len;
}
static inline void bt__stat_future_waited(bt_runtime *rt) {
  (void)rt;
}
static inline void bt__stat_future_unwaited(bt_runtime *rt) {
  (void)rt;
}
#else
void bt__stat_job(void);   /* a job ran */
void bt__stat_part(void);  /* a kernel part ran */
void bt__stat_steal(void); /* a task was taken from another queue */
void bt__stat_idle_begin(int64_t now);
void bt__stat_spun(int64_t t, int64_t now);
int64_t bt__stat_slept(int64_t t);
/* Queue length (posted tasks and deque jobs) after a post to the worker
 * (any thread, under its queue lock) or a push on its deque (the worker):
 * raises the high-water mark. */
void bt__stat_queued(bt_runtime *rt, int worker, int len);
/* Futures: one waited successfully (any thread), one freed never waited. */
void bt__stat_future_waited(bt_runtime *rt);
void bt__stat_future_unwaited(bt_runtime *rt);
#endif

/* ---- report sections -----------------------------------------------------
 * A module above core adds a section to a runtime's report (the MPI bridge
 * its remote channels) without core knowing its types. The callback runs
 * under the runtime's section lock: it must not add or remove sections. */
typedef void (*bt__report_fn)(void *ctx, FILE *out);
typedef struct bt__section {
  struct bt__section *next; /* protected by the runtime's section lock */
  bt_runtime *rt; /* idem; NULL once removed or orphaned by the runtime's
                     destroy (a later remove then does nothing) */
  bt__report_fn report;
  void *ctx;
} bt__section;
void bt__report_add(bt_runtime *rt, bt__section *s); /* rt NULL: none */
void bt__report_remove(bt__section *s);

/* Objects of a runtime that report what they still hold (arrays: their
 * slices). report() prints one line per held thing (nothing when out is
 * NULL) and returns how many there are. A tracked object removes itself before
 * it is freed; destroying the runtime first prints what is still held on
 * stderr, then orphans every tracked object (rt becomes NULL, so a later remove
 * does nothing). */
typedef struct bt__tracked {
  struct bt__tracked *prev, *next; /* protected by the runtime's lock */
  bt_runtime *rt;                  /* idem; NULL once orphaned */
  int (*report)(struct bt__tracked *t, FILE *out);
} bt__tracked;
void bt__track(bt_runtime *rt, bt__tracked *t);
void bt__untrack(bt__tracked *t);

/* "worker 3 (thread 12)" or "thread 12" for a bt__thread_id(): names the
 * worker of rt (may be NULL) that runs on that thread, if one does. */
void bt__thread_name(const bt_runtime *rt, uint64_t tid, char *buf, size_t len);
/* The MPI rank from the bridge (set at attach) or from the launcher's
 * environment (OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK, SLURM_PROCID);
 * -1 when unknown. */
int bt__rank(void);
void bt__set_rank(int rank);

/* ---- the trace (core/trace.c) --------------------------------------------
 * With BATON_TRACE set, each thread records complete events ("X": a name, a
 * start, a duration, two integer arguments) in a ring of its own; the
 * runtime that opened the trace writes them at its destroy. name and cat
 * must be string literals (their pointers are kept). */
extern _Atomic int bt__tracing; /* atomic: 1 while a trace is open */
static inline int64_t bt__trace_begin(void) {
  /* relaxed: a switch; a thread that misses the first instant of a trace
   * loses one event. */
  return atomic_load_explicit(&bt__tracing, memory_order_relaxed) ? bt__now_ns()
                                                                  : 0;
}
/* Records [t0, now) if t0 came from bt__trace_begin() with tracing on. */
void bt__trace_end(int64_t t0, const char *cat, const char *name, int64_t a,
                   int64_t b);
/* The argument names of an event kind for the JSON ("args"): cat, name. */

/* ---- the watchdog (core/watchdog.c) --------------------------------------
 * A blocking wait arms a watch, sleeps until bt__watch_deadline() instead of
 * its own deadline, and after each sleep asks bt__watch_due(): once per
 * wait, when it has waited BATON_WATCHDOG seconds, that answers 1 and the
 * wait prints what it waits on with bt__watch_report(). */
typedef struct bt__watch {
  int64_t start; /* bt__now_ns() at arm; 0 when the watchdog is off */
  int64_t fire;  /* when to report; -1 once reported or off */
} bt__watch;
extern _Atomic int64_t bt__watchdog_ns; /* atomic: 0 off */
static inline void bt__watch_arm(bt__watch *w) {
  /* relaxed: a setting written once at runtime creation. */
  int64_t after = atomic_load_explicit(&bt__watchdog_ns, memory_order_relaxed);
  if (BT_LIKELY(after == 0)) {
    w->start = 0;
    w->fire = -1;
    return;
  }
  w->start = bt__now_ns();
  w->fire = w->start + after;
}
static inline int64_t bt__watch_deadline(const bt__watch *w, int64_t deadline) {
  if (w->fire < 0) return deadline;
  return deadline < 0 || w->fire < deadline ? w->fire : deadline;
}
int bt__watch_due(bt__watch *w);
/* Prints "baton watchdog: <who> has waited <s> s for <what>" on stderr. */
void bt__watch_report(const bt__watch *w, const char *fmt, ...) BT_PRINTF(2, 3);

/* ---- environment ---------------------------------------------------------
 * Reads and validates BATON_STATS, BATON_DISPLAY_AFFINITY, BATON_TRACE and
 * BATON_WATCHDOG for a runtime being created: BT_OK or BT_EINVAL with the
 * variable and its value in bt_errmsg(). */
int bt__diag_env(int *stats, int *affinity, const char **trace,
                 int64_t *watchdog_ns);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_STATS_INT_H */
