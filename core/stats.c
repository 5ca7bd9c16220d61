/* SPDX-License-Identifier: BSD-3-Clause */
/* stats.c: per-worker counters, the runtime report, report sections and
 * tracked objects, the affinity display, the diagnostics' environment.
 *
 * Counters live in one block per worker, on cache lines of their own, and
 * are written only by their worker with relaxed load-and-store (no locked
 * instruction): a reader on another thread sees each counter whole, maybe a
 * moment old. The queue high-water mark is the exception: posters (under
 * the worker's queue lock) and the worker (pushing on its deque) raise it
 * with a CAS, on a line of its own. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_int.h"

typedef struct bt__wstats {
  /* atomic, written by the worker only (relaxed load and store). */
  BT_ALIGNED_CL _Atomic uint64_t jobs, parts, steals, wakeups;
  _Atomic uint64_t busy_ns, spin_ns, sleep_ns, waited;
  int64_t back; /* worker only: when it last came back from idle */
  /* atomic: raised under the worker's queue lock by posters. */
  BT_ALIGNED_CL _Atomic uint64_t queue_max;
  /* atomic: the worker's bt__thread_id(), set once when it starts. */
  _Atomic uint64_t tid;
} bt__wstats;

struct bt__diag {
  bt__wstats *w; /* [nworkers]; immutable pointer */
  pthread_mutex_t lock;
  /* Sections have a lock of their own, taken before theirs (the MPI
   * bridge's), while tracked objects are added under the bridge's lock:
   * one lock for both would invert. */
  pthread_mutex_t section_lock;
  bt__section *sections; /* protected by section_lock */
  bt__tracked tracked;   /* list head; protected by lock */
  /* atomic: futures waited on threads that are not this runtime's workers,
   * and futures freed never waited. Relaxed counts. */
  _Atomic uint64_t waited_elsewhere, unwaited;
  int64_t created_ns; /* immutable */
  int stats;          /* immutable: BATON_STATS */
};

static _Thread_local bt__wstats *mine; /* the calling worker's block */

static inline void bump(_Atomic uint64_t *c, uint64_t by) {
  /* relaxed load and store: one writer (see the file comment). */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                        memory_order_relaxed);
}

void bt__stat_attach(bt_runtime *rt, int id) {
  mine = &rt->diag->w[id];
  mine->back = bt__now_ns();
  /* relaxed: read by reports, ordered by the start barrier for the
   * creator; a report elsewhere may see 0 for a moment. */
  atomic_store_explicit(&mine->tid, bt__thread_id(), memory_order_relaxed);
}

#ifndef BATON_NO_COUNTERS
void bt__stat_job(void) {
  if (mine) bump(&mine->jobs, 1);
}
void bt__stat_part(void) {
  if (mine) bump(&mine->parts, 1);
}
void bt__stat_steal(void) {
  if (mine) bump(&mine->steals, 1);
}
void bt__stat_idle_begin(int64_t now) {
  if (mine) bump(&mine->busy_ns, (uint64_t)(now - mine->back));
}
void bt__stat_spun(int64_t t, int64_t now) {
  if (mine) {
    bump(&mine->spin_ns, (uint64_t)(now - t));
    mine->back = now;
  }
}
int64_t bt__stat_slept(int64_t t) {
  int64_t now = bt__now_ns();
  if (mine) {
    bump(&mine->sleep_ns, (uint64_t)(now - t));
    bump(&mine->wakeups, 1);
    mine->back = now;
  }
  return now;
}

void bt__stat_queued(bt_runtime *rt, int worker, int len) {
  _Atomic uint64_t *m = &rt->diag->w[worker].queue_max;
  /* relaxed: a maximum; posters (under the queue lock) and the worker
   * (pushing on its deque, without it) raise it, so a CAS keeps the
   * higher of two racing values. */
  uint64_t seen = atomic_load_explicit(m, memory_order_relaxed);
  while ((uint64_t)len > seen &&
         !atomic_compare_exchange_weak_explicit(m, &seen, (uint64_t)len,
                                                memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

void bt__stat_future_waited(bt_runtime *rt) {
  if (!rt) return;
  if (mine && bt__self_runtime() == rt) {
    bump(&mine->waited, 1);
    return;
  }
  /* relaxed: a count. */
  atomic_fetch_add_explicit(&rt->diag->waited_elsewhere, 1,
                            memory_order_relaxed);
}

void bt__stat_future_unwaited(bt_runtime *rt) {
  /* relaxed: a count. */
  if (rt)
    atomic_fetch_add_explicit(&rt->diag->unwaited, 1, memory_order_relaxed);
}

#endif /* BATON_NO_COUNTERS */

int bt_worker_stats_get(const bt_runtime *rt, int worker, bt_worker_stats *s) {
  if (!rt || !s)
    return bt__fail(BT_EINVAL, "bt_worker_stats_get: %s is NULL",
                    !rt ? "the runtime" : "the output");
  if (rt->magic != BT_RUNTIME_MAGIC)
    return bt__fail(BT_EINVAL, "bt_worker_stats_get: %p is not a live runtime",
                    (const void *)rt);
  if (worker < 0 || worker >= rt->nworkers)
    return bt__fail(BT_EINVAL,
                    "bt_worker_stats_get: worker %d out of range: the runtime "
                    "has %d",
                    worker, rt->nworkers);
  const bt__wstats *w = &rt->diag->w[worker];
  /* relaxed: counters (see the file comment). */
#define LOAD(f) \
  atomic_load_explicit(&((bt__wstats *)w)->f, memory_order_relaxed)
  bt_worker_stats o = {
      .jobs = LOAD(jobs),
      .parts = LOAD(parts),
      .steals = LOAD(steals),
      .wakeups = LOAD(wakeups),
      .busy_s = (double)LOAD(busy_ns) * 1e-9,
      .spin_s = (double)LOAD(spin_ns) * 1e-9,
      .sleep_s = (double)LOAD(sleep_ns) * 1e-9,
      .queue_max = LOAD(queue_max),
  };
#undef LOAD
  /* A snapshot of the queue length (none once stopped): the tasks posted
   * to it and the jobs on its work-stealing deque. */
  int64_t q = rt->workers ? bt__worker_queue_len(&rt->workers[worker]) : 0;
  o.queue_len = q > 0 ? (uint64_t)q : 0;
  *s = o;
  return BT_OK;
}

/* ---- names, rank, host -------------------------------------------------- */

void bt__thread_name(const bt_runtime *rt, uint64_t tid, char *buf,
                     size_t len) {
  if (rt && rt->diag)
    for (int i = 0; i < rt->nworkers; i++) /* relaxed: see bt__stat_attach(). */
      if (atomic_load_explicit(&rt->diag->w[i].tid, memory_order_relaxed) ==
          tid) {
        snprintf(buf, len, "worker %d (thread %" PRIu64 ")", i, tid);
        return;
      }
  snprintf(buf, len, "thread %" PRIu64 "%s", tid,
           tid == bt__thread_id() ? " (this thread)" : "");
}

/* atomic: the MPI bridge's rank, -2 until one attaches. Process-wide: a
 * process has one rank whatever its runtimes. */
static _Atomic int bridge_rank = -2;

void bt__set_rank(int rank) {
  /* relaxed: a setting. */
  atomic_store_explicit(&bridge_rank, rank, memory_order_relaxed);
}

int bt__rank(void) {
  /* relaxed: see bt__set_rank(). */
  int r = atomic_load_explicit(&bridge_rank, memory_order_relaxed);
  if (r >= 0) return r;
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                     "PMIX_RANK", "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (!v || !v[0]) continue;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno == 0 && *end == '\0' && n >= 0 && n <= INT_MAX) return (int)n;
  }
  return -1;
}

static void host_name(char *buf, size_t len) {
  if (gethostname(buf, len) != 0) snprintf(buf, len, "?");
  buf[len - 1] = '\0';
}

/* ---- sections and tracked objects --------------------------------------- */

void bt__report_add(bt_runtime *rt, bt__section *s) {
  s->rt = rt;
  if (!rt) return;
  pthread_mutex_lock(&rt->diag->section_lock);
  s->next = rt->diag->sections;
  rt->diag->sections = s;
  pthread_mutex_unlock(&rt->diag->section_lock);
}

void bt__report_remove(bt__section *s) {
  bt_runtime *rt = s->rt;
  if (!rt) return;
  pthread_mutex_lock(&rt->diag->section_lock);
  for (bt__section **p = &rt->diag->sections; *p; p = &(*p)->next)
    if (*p == s) {
      *p = s->next;
      break;
    }
  s->rt = NULL;
  pthread_mutex_unlock(&rt->diag->section_lock);
}

void bt__track(bt_runtime *rt, bt__tracked *t) {
  t->rt = rt;
  if (!rt) return;
  bt__tracked *head = &rt->diag->tracked;
  pthread_mutex_lock(&rt->diag->lock);
  t->prev = head;
  t->next = head->next;
  head->next->prev = t;
  head->next = t;
  pthread_mutex_unlock(&rt->diag->lock);
}

void bt__untrack(bt__tracked *t) {
  bt_runtime *rt = t->rt;
  if (!rt) return; /* never tracked, or orphaned by bt_runtime_destroy() */
  pthread_mutex_lock(&rt->diag->lock);
  t->prev->next = t->next;
  t->next->prev = t->prev;
  t->prev = t->next = NULL;
  t->rt = NULL;
  pthread_mutex_unlock(&rt->diag->lock);
}

/* Called with diag->lock held. out NULL: count only. */
static int report_held(bt__diag *d, FILE *out) {
  int n = 0;
  for (bt__tracked *t = d->tracked.next; t != &d->tracked; t = t->next)
    n += t->report(t, out);
  return n;
}

/* ---- the report ---------------------------------------------------------- */

static void header(const bt_runtime *rt, FILE *out, const char *what) {
  char host[256];
  host_name(host, sizeof host);
  int rank = bt__rank();
  char rank_s[32] = "";
  if (rank >= 0) snprintf(rank_s, sizeof rank_s, " rank %d", rank);
  fprintf(out,
          "baton %s: host %s%s pid %ld, %d workers (bind %s%s), up %.3f s\n",
          what, host, rank_s, (long)getpid(), rt->nworkers,
          bt__bind_name(rt->bind), rt->bound ? "" : ", not bound",
          (double)(bt__now_ns() - rt->diag->created_ns) * 1e-9);
}

int bt_runtime_report(bt_runtime *rt, FILE *out) {
  if (!rt || !out)
    return bt__fail(BT_EINVAL, "bt_runtime_report: %s is NULL",
                    !rt ? "the runtime" : "the output");
  if (rt->magic != BT_RUNTIME_MAGIC)
    return bt__fail(BT_EINVAL, "bt_runtime_report: %p is not a live runtime",
                    (void *)rt);
  bt__diag *d = rt->diag;
  header(rt, out, "report");
  fprintf(out,
          "  worker  core    pu  numa  bound to      jobs     parts  steals "
          "wakeups    busy s    spin s   sleep s  queue  max\n");
  uint64_t jobs = 0, waited = 0;
  for (int i = 0; i < rt->nworkers; i++) {
    bt_worker_stats s;
    if (bt_worker_stats_get(rt, i, &s) != BT_OK) continue;
    const bt__slot *sl = &rt->place.slot[i];
    char set[64];
    bt__cpuset_format(sl->bind_set, set, sizeof set);
    fprintf(out,
            "  %6d %5d %5d %5d  %-10s %7" PRIu64 " %9" PRIu64 " %7" PRIu64
            " %7" PRIu64 " %9.3f %9.3f %9.3f %6" PRIu64 " %4" PRIu64 "\n",
            i, sl->core, sl->pu_os, bt__runtime_numa_os_index(rt, sl->numa),
            rt->bound ? set : "-", s.jobs, s.parts, s.steals, s.wakeups,
            s.busy_s, s.spin_s, s.sleep_s, s.queue_len, s.queue_max);
    jobs += s.jobs;
    /* relaxed: a count (see bump()). */
    waited += atomic_load_explicit(&d->w[i].waited, memory_order_relaxed);
  }
  /* relaxed: counts. */
  waited += atomic_load_explicit(&d->waited_elsewhere, memory_order_relaxed);
  uint64_t unwaited = atomic_load_explicit(&d->unwaited, memory_order_relaxed);
  uint64_t pending = jobs > waited + unwaited ? jobs - waited - unwaited : 0;
  fprintf(out,
          "  futures: %" PRIu64 " jobs run, %" PRIu64 " waited, %" PRIu64
          " released never waited, %" PRIu64 " not waited yet\n",
          jobs, waited, unwaited, pending);
  pthread_mutex_lock(&d->lock);
  fprintf(out, "  slices still held:\n");
  if (report_held(d, out) == 0) fprintf(out, "    none\n");
  pthread_mutex_unlock(&d->lock);
  pthread_mutex_lock(&d->section_lock);
  for (bt__section *s = d->sections; s; s = s->next) s->report(s->ctx, out);
  pthread_mutex_unlock(&d->section_lock);
  fflush(out);
  return BT_OK;
}

/* ---- affinity display ---------------------------------------------------- */

static void display_affinity(const bt_runtime *rt) {
  char host[256], allowed[256];
  host_name(host, sizeof host);
  bt__cpuset_format(rt->allowed, allowed, sizeof allowed);
  int rank = bt__rank();
  char rank_s[32];
  if (rank >= 0)
    snprintf(rank_s, sizeof rank_s, "%d", rank);
  else
    snprintf(rank_s, sizeof rank_s, "-");
  for (int i = 0; i < rt->nworkers; i++) {
    const bt__slot *sl = &rt->place.slot[i];
    char set[128];
    bt__cpuset_format(sl->bind_set, set, sizeof set);
    fprintf(stderr,
            "baton affinity: host %s rank %s worker %d core %d pu %d numa %d "
            "bound %s cpuset %s\n",
            host, rank_s, i, sl->core, sl->pu_os,
            bt__runtime_numa_os_index(rt, sl->numa), rt->bound ? set : "none",
            allowed);
  }
}

/* ---- lifecycle (core/runtime.c) ------------------------------------------ */

static int env_flag(const char *name, int *out) {
  const char *v = getenv(name);
  *out = 0;
  if (!v || !v[0]) return BT_OK;
  if (strcmp(v, "0") == 0) return BT_OK;
  if (strcmp(v, "1") == 0) {
    *out = 1;
    return BT_OK;
  }
  return bt__fail(BT_EINVAL, "%s='%s' is not 0 or 1", name, v);
}

int bt__diag_env(int *stats, int *affinity, const char **trace,
                 int64_t *watchdog_ns) {
  int rc;
  if ((rc = env_flag("BATON_STATS", stats)) != BT_OK) return rc;
  if ((rc = env_flag("BATON_DISPLAY_AFFINITY", affinity)) != BT_OK) return rc;
  const char *t = getenv("BATON_TRACE");
  *trace = t && t[0] ? t : NULL;
  *watchdog_ns = 0;
  const char *w = getenv("BATON_WATCHDOG");
  if (w && w[0]) {
    char *end;
    errno = 0;
    double s = strtod(w, &end);
    /* Up to a year: anything longer is a typo, and ns must fit int64. */
    if (errno != 0 || end == w || *end != '\0' || !(s >= 0) || s > 3.2e7)
      return bt__fail(BT_EINVAL,
                      "BATON_WATCHDOG='%s' is not a number of seconds from 0 "
                      "(off) to 32000000",
                      w);
    *watchdog_ns = (int64_t)(s * 1e9);
    if (s > 0 && *watchdog_ns == 0) *watchdog_ns = 1;
  }
  return BT_OK;
}

int bt__diag_create(bt_runtime *rt) {
  int stats, affinity;
  const char *trace;
  int64_t watchdog_ns;
  int rc = bt__diag_env(&stats, &affinity, &trace, &watchdog_ns);
  if (rc != BT_OK) return rc;
  bt__diag *d = calloc(1, sizeof *d);
  if (!d) return bt__fail(BT_ENOMEM, "cannot allocate the runtime's counters");
  size_t bytes = sizeof(bt__wstats) * (size_t)rt->nworkers;
  d->w = aligned_alloc(BT_CACHELINE, bytes);
  if (!d->w) {
    free(d);
    return bt__fail(BT_ENOMEM, "cannot allocate the counters of %d workers",
                    rt->nworkers);
  }
  memset(d->w, 0, bytes);
  if (pthread_mutex_init(&d->lock, NULL) != 0) {
    free(d->w);
    free(d);
    return bt__fail(BT_ENOMEM, "cannot initialise the report lock");
  }
  if (pthread_mutex_init(&d->section_lock, NULL) != 0) {
    pthread_mutex_destroy(&d->lock);
    free(d->w);
    free(d);
    return bt__fail(BT_ENOMEM, "cannot initialise the report lock");
  }
  d->tracked.next = d->tracked.prev = &d->tracked;
  d->created_ns = bt__now_ns();
  d->stats = stats;
  rt->diag = d;
  if (watchdog_ns > 0)
    /* relaxed: a setting (see bt__watch_arm()); process-wide: the last
     * runtime created says. */
    atomic_store_explicit(&bt__watchdog_ns, watchdog_ns, memory_order_relaxed);
  if (trace && (rc = bt__trace_open(rt, trace)) != BT_OK) {
    rt->diag = NULL;
    pthread_mutex_destroy(&d->section_lock);
    pthread_mutex_destroy(&d->lock);
    free(d->w);
    free(d);
    return rc;
  }
  return BT_OK;
}

void bt__diag_started(bt_runtime *rt) {
  int stats, affinity;
  const char *trace;
  int64_t watchdog_ns;
  if (bt__diag_env(&stats, &affinity, &trace, &watchdog_ns) == BT_OK &&
      affinity)
    display_affinity(rt);
}

void bt__diag_destroy(bt_runtime *rt) {
  bt__diag *d = rt->diag;
  if (!d) return;
  if (d->stats && bt_runtime_report(rt, stderr) != BT_OK)
    fprintf(stderr, "baton: %s\n", bt_errmsg());
  pthread_mutex_lock(&d->lock);
  if (report_held(d, NULL) > 0) {
    /* Slices held now will never be joined by this runtime's workers: a
     * leak or a missing release, said whatever BATON_STATS says. */
    fprintf(stderr, "baton: runtime %p destroyed while slices are held:\n",
            (void *)rt);
    (void)report_held(d, stderr);
  }
  for (bt__tracked *t = d->tracked.next, *next; t != &d->tracked; t = next) {
    next = t->next;
    t->prev = t->next = NULL;
    t->rt = NULL;
  }
  pthread_mutex_unlock(&d->lock);
  pthread_mutex_lock(&d->section_lock);
  for (bt__section *s = d->sections; s; s = s->next) s->rt = NULL;
  d->sections = NULL;
  pthread_mutex_unlock(&d->section_lock);
  bt__trace_close(rt);
  pthread_mutex_destroy(&d->section_lock);
  pthread_mutex_destroy(&d->lock);
  free(d->w);
  free(d);
  rt->diag = NULL;
}
