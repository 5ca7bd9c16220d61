/* SPDX-License-Identifier: BSD-3-Clause */
/* parallel.c: the one mechanism every kernel runs on: lock the operands,
 * cut them into one part per worker, run the parts through the runtime's
 * team (core/team.c) or, when it is busy, by posting one task per worker
 * and joining on a countdown, then release the operands.
 *
 * Two ways to give a part its operands. The library's own kernels get
 * views: the caller locks each operand once (one slice per operand, held
 * by the caller throughout), cuts its view into the parts' views, and the
 * parts read and write through those; no slice moves between threads.
 * bt_parallel_slices, whose body receives a bt_slice and may use it as
 * any held slice, gets slices: each operand is split into one slice per
 * part, handed to the thread that runs the part (bt_type_slice's
 * on_send/on_recv), viewed there, and handed back after the body.
 * Measured (2 workers on 2 cores, loaded): the hand-over cost a part
 * about 1 us on its runner (the slice records' cache lines come from the
 * caller's core and go back) and the caller 1-2 us more around the join;
 * see docs/performance.md, "tpose4, sixth session". */
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_int.h"

/* One part's task: the part and what its runner reports back. */
typedef struct part_task {
  bt__task task;
  struct part_group *group;
  bt__part part;
  int ran_on;                        /* the worker that ran it, -1: not one */
  int handed_back[BT__MAX_OPERANDS]; /* the runner gave slice k back
                                        (slices mode only) */
  int rc;                            /* written by the runner before its
                                        decrement of group->pending, as */
  char msg[256];                     /* is the runner's bt_errmsg() */
} part_task;

/* One kernel call, on the caller's stack. */
typedef struct part_group {
  _Atomic uint32_t pending; /* parts not finished yet | BT__JOIN_WAITER */
  int nops;
  int slices;               /* 1: the parts' slices are handed to their
                               runners (bt_parallel_slices); 0: the caller
                               holds them, the parts get views */
  bt__part_fn fn;
  void *ctx;
} part_group;

/* Runs one part on the calling thread and records the outcome in pt; in
 * slices mode it takes the part's slices first and hands them back after
 * the body. */
static void part_body(part_task *pt) {
  part_group *g = pt->group;
  int rc = BT_OK;
  pt->ran_on = bt_self();
  if (g->slices) {
    for (int k = 0; k < g->nops; k++)
      bt_type_slice.on_recv(&pt->part.slice[k]);
    for (int k = 0; k < g->nops && rc == BT_OK; k++)
      rc = bt_slice_view(pt->part.slice[k], &pt->part.view[k]);
  }
  if (rc == BT_OK) {
    /* A body that fails without a sentence must not pass on a stale one
     * (only when there is one: formatting costs more than a small part). */
    if (bt_errmsg()[0] != '\0') (void)bt__fail(BT_OK, "%s", "");
    int64_t t0 = bt__trace_begin();
    rc = g->fn(&pt->part, g->ctx);
    bt__trace_end(t0, "part", "part", bt_self(), 0);
  }
  bt__stat_part();
  for (int k = 0; k < g->nops && g->slices; k++) {
    int sent = bt_type_slice.on_send(&pt->part.slice[k], BT_UNCHECKED);
    pt->handed_back[k] = sent == BT_OK;
    if (sent != BT_OK && rc == BT_OK)
      rc = bt__fail(sent,
                    "the body released or sent its slice of operand "
                    "%d",
                    k);
  }
  if (rc != BT_OK) snprintf(pt->msg, sizeof pt->msg, "%s", bt_errmsg());
  pt->rc = rc;
}

/* A part posted to a worker's queue (the team was busy). */
static void part_run(bt__task *t) {
  part_task *pt = (part_task *)((char *)t - offsetof(part_task, task));
  _Atomic uint32_t *pending = &pt->group->pending;
  part_body(pt);
  /* acq_rel: the release half publishes rc, handed_back and the slices'
   * hand-back to the caller; pairs with the acquire loads in wait_parts().
   * After it the group and this task may be gone: only the address of
   * pending, computed before, is used (a futex wake on it is harmless). */
  uint32_t before = atomic_fetch_sub_explicit(pending, 1, memory_order_acq_rel);
  if (before == (BT__JOIN_WAITER | 1u)) bt__futex_wake(pending, 1);
}

/* The caller's wait, after it ran its own part (if any): first it takes
 * back the parts no worker has started and runs them itself when it may
 * run parts (`may_run`: it is a worker, or a core is left for it), so a
 * parked or busy worker never delays the call by its wake-up; then it
 * spins for a bounded time (BT__IDLE_SPIN_NS: a pause loop when a core is
 * left for it, else yields, which hand the core to the worker sharing it);
 * then it sleeps on the countdown. A caller that is a worker runs tasks of
 * its own queue meanwhile, so work posted to it is never stuck behind its
 * wait (the same rule as waits on futures). */
static void wait_parts(bt_runtime *rt, part_task *tasks, int nparts,
                       _Atomic uint32_t *pending, int may_run) {
  int self = bt__self_runtime() == rt ? bt_self() : -1;
  if (may_run)
    for (int i = nparts; i-- > 0;) {
      /* acquire: pairs with the acq_rel decrement in part_run(). */
      if (atomic_load_explicit(pending, memory_order_acquire) == 0) return;
      if (i != self && bt__worker_unpost(rt, i, &tasks[i].task))
        part_run(&tasks[i].task);
    }
  int yield = !may_run;
  int64_t until = bt__now_ns() + BT__IDLE_SPIN_NS;
  for (int i = 1;; i++) {
    /* acquire: pairs with the acq_rel decrement in part_run(). */
    if (atomic_load_explicit(pending, memory_order_acquire) == 0) return;
    if (self >= 0 && bt__worker_run_one(rt, self)) continue;
    if (yield)
      sched_yield();
    else
      bt__cpu_relax();
    if (i % (yield ? 4 : 64) == 0 && bt__now_ns() >= until) break;
  }
  int64_t t0 = bt__trace_begin();
  bt__join_sleep(rt, pending, nparts, self);
  bt__trace_end(t0, "wait", "join", 0, 0);
}

/* A part run through the team (core/team.c): ctx is the call's tasks. */
static void team_part(void *ctx, int part) {
  part_body(&((part_task *)ctx)[part]);
}

/* Whether the caller runs a part itself: when it is a worker (self >= 0),
 * when the runtime leaves it a core, or when the process has a single core
 * (mpirun --bind-to core with one worker): there no part runs beside
 * another, and a part run by the caller saves the hand-off, two context
 * switches on that core, per call. */
static int caller_may_run(int self, int workers) {
  int ncpu = bt__ncpu();
  return self >= 0 || workers < ncpu || ncpu == 1;
}

static int64_t elements(const bt_array *a) {
  int64_t shape[BT_MAX_DIMS], n = 1;
  bt_array_shape(a, shape);
  for (int d = 0; d < bt_array_ndim(a); d++) n *= shape[d];
  return n;
}

/* The region of operand op for part [start, stop): NULL for the whole. */
static const bt_range *part_region(const bt__operand *op, int ndim,
                                   const int64_t *shape, int64_t start,
                                   int64_t stop, bt_range *region) {
  if (op->whole) return NULL;
  for (int d = 0; d < ndim; d++) region[d] = (bt_range){0, shape[d]};
  int64_t lo = start - op->halo, hi = stop + op->halo;
  region[op->axis].start = lo < 0 ? 0 : lo;
  region[op->axis].stop = hi > shape[op->axis] ? shape[op->axis] : hi;
  return region;
}

/* Lock operand k for every part: the whole array then split (one lock),
 * or, with a halo or whole, one borrow per part. On failure nothing of
 * operand k stays locked. */
static int lock_operand(const bt__operand *op, int k, part_task *tasks,
                        int nparts) {
  int ndim = bt_array_ndim(op->array);
  int64_t shape[BT_MAX_DIMS];
  bt_array_shape(op->array, shape);
  if (op->halo > 0 || op->whole) {
    for (int i = 0; i < nparts; i++) {
      bt_range region[BT_MAX_DIMS];
      const bt_range *r = part_region(op, ndim, shape, tasks[i].part.start,
                                      tasks[i].part.stop, region);
      int rc = bt_array_borrow(op->array, r, 0, &tasks[i].part.slice[k]);
      if (rc != BT_OK) {
        while (i-- > 0) (void)bt_slice_release(tasks[i].part.slice[k]);
        return rc;
      }
    }
    return BT_OK;
  }
  bt_slice whole;
  int rc = op->writable ? bt_array_own(op->array, NULL, 0, &whole)
                        : bt_array_borrow(op->array, NULL, 0, &whole);
  if (rc != BT_OK) return rc;
  bt_slice parts_buf[16];
  bt_slice *parts = parts_buf;
  if (nparts > 16 && !(parts = malloc(sizeof *parts * (size_t)nparts))) {
    (void)bt_slice_release(whole);
    return bt__fail(BT_ENOMEM, "cannot allocate %d part handles", nparts);
  }
  rc = bt_slice_split(whole, op->axis, nparts, parts);
  if (rc != BT_OK) {
    (void)bt_slice_release(whole);
  } else {
    for (int i = 0; i < nparts; i++) tasks[i].part.slice[k] = parts[i];
  }
  if (parts != parts_buf) free(parts);
  return rc;
}

static void release_operand(part_task *tasks, int nparts, int k) {
  for (int i = 0; i < nparts; i++)
    (void)bt_slice_release(tasks[i].part.slice[k]);
}

/* Views mode: lock operand k once, whole (owned or borrowed; the union of
 * the parts' regions, halos clipped, is the whole array), into *held, and
 * cut its view into the parts' views: part [start, stop) widened by the
 * halo and clipped, or the whole view for a whole operand. The parts'
 * slice handles stay 0 (stale): their bodies use the views only. */
static int lock_views(const bt__operand *op, int k, part_task *tasks,
                      int nparts, bt_slice *held) {
  int rc = op->writable ? bt_array_own(op->array, NULL, 0, held)
                        : bt_array_borrow(op->array, NULL, 0, held);
  if (rc != BT_OK) return rc;
  bt_view whole;
  rc = bt_slice_view(*held, &whole);
  BT_ASSERT(rc == BT_OK); /* the caller made and holds it */
  /* Only the first page's node is known, not each part's. */
  whole.numa = -1;
  size_t elem = bt_dtype_size(whole.dtype);
  int axis = op->axis;
  for (int i = 0; i < nparts; i++) {
    bt_view *v = &tasks[i].part.view[k];
    *v = whole;
    tasks[i].part.slice[k] = (bt_slice){0};
    if (op->whole) continue;
    int64_t lo = tasks[i].part.start - op->halo,
            hi = tasks[i].part.stop + op->halo;
    if (lo < 0) lo = 0;
    if (hi > whole.shape[axis]) hi = whole.shape[axis];
    v->shape[axis] = hi - lo;
    v->origin[axis] = whole.origin[axis] + lo;
    v->data = (char *)whole.data +
              (ptrdiff_t)(lo * whole.strides[axis]) * (ptrdiff_t)elem;
  }
  return BT_OK;
}

/* Part tasks of a call live on the caller's stack up to this many parts
 * (about 1 KiB each); a runtime with more workers allocates them. */
enum { STACK_PARTS = 16 };

/* Run the parts through the team or post them (all but `mine`, which the
 * caller runs) and join. In slices mode the parts' slices are handed to
 * the runners first, taken back after the join and released; in views
 * mode the caller releases its slices itself afterwards. Returns the error
 * of the post that failed (the runtime is stopping), else that of the
 * lowest-numbered failing part (bt_errmsg() names it and where it ran),
 * else BT_OK. */
static int run_parts(bt_runtime *rt, part_task *tasks, int nparts, int nops,
                     int mine, int may_run, part_group *group) {
  int rc = BT_OK;
  int hand = group->slices ? nops : 0; /* operands whose slices travel */
  for (int i = 0; i < nparts; i++)
    for (int k = 0; k < hand; k++) {
      int sent = bt_type_slice.on_send(&tasks[i].part.slice[k], BT_UNCHECKED);
      BT_ASSERT(sent == BT_OK); /* the caller made and holds every slice */
    }
  /* The team first: one offer to every worker, the caller runs `mine` and
   * whatever no worker claimed. When the team is busy (another thread's
   * call, or a kernel called from a part), post one task per worker. */
  int posted = nparts, lost = 0; /* lost: parts the stopping runtime refused */
  /* A caller with no core of its own runs the part of the worker whose
   * core it holds now (that worker parks while the caller stands in for
   * it), as OpenMP's master thread runs thread 0's share, whatever the
   * size. Measured, 10^5-element axpby, 2 workers on 2 cores, interleaved
   * in one process (loaded): 11.3-13.9 us per call so, against 18-22 us
   * when such calls were posted to both workers while the caller yielded;
   * OpenMP 11.9-15.1 us. */
  int own = mine;
  if (!may_run) {
    own = bt__team_mate(rt);
    if (own >= nparts) own = -1;
  }
  if (bt__team_run(rt, nparts, own, team_part, tasks)) goto joined;
  /* relaxed: published to the workers by the queue lock in the post. */
  atomic_store_explicit(&group->pending, (uint32_t)nparts,
                        memory_order_relaxed);
  for (posted = 0; posted < nparts; posted++) {
    part_task *pt = &tasks[posted];
    if (posted == mine) continue; /* run below, by the caller */
    rc = bt__worker_post(rt, posted, &pt->task);
    if (rc != BT_OK) break;
  }
  if (posted < nparts) {
    /* The runtime is stopping: the parts not posted never run. Their
     * slices are ours again; let the posted ones (and ours) finish. */
    lost = nparts - posted;
    for (int i = posted; i < nparts; i++)
      for (int k = 0; k < hand; k++) {
        bt_type_slice.on_recv(&tasks[i].part.slice[k]);
        tasks[i].handed_back[k] = 1;
      }
    if (mine >= posted) mine = -1;
    /* relaxed: our own count of parts that will never decrement it. */
    atomic_fetch_sub_explicit(&group->pending, (uint32_t)lost,
                              memory_order_relaxed);
  }
  if (mine >= 0) part_run(&tasks[mine].task);
  wait_parts(rt, tasks, posted, &group->pending, may_run && !lost);

joined:;
  int first = BT_OK;
  for (int i = 0; i < nparts; i++) {
    for (int k = 0; k < hand; k++) {
      if (!tasks[i].handed_back[k]) continue;
      if (i < posted) bt_type_slice.on_recv(&tasks[i].part.slice[k]);
      (void)bt_slice_release(tasks[i].part.slice[k]);
    }
    if (first == BT_OK && i < posted && tasks[i].rc != BT_OK) {
      first = tasks[i].rc;
      char where[48];
      if (tasks[i].ran_on >= 0)
        snprintf(where, sizeof where, "on worker %d", tasks[i].ran_on);
      else
        snprintf(where, sizeof where, "on the calling thread");
      if (tasks[i].msg[0])
        (void)bt__fail(first, "part %d, %s: %s", i, where, tasks[i].msg);
      else
        (void)bt__fail(first, "part %d, %s, failed: %s", i, where,
                       bt_status_name(first));
    }
  }
  return rc == BT_OK ? first : rc;
}

/* bt__parallel in views mode (slices 0) or slices mode (1): see the top
 * of this file. */
static int parallel(bt_runtime *rt, const bt__operand *ops, int nops,
                    bt__part_fn fn, void *ctx, int *nparts_out, int slices) {
  BT_ASSERT(rt && ops && fn && nops >= 1 && nops <= BT__MAX_OPERANDS);
  /* An empty array has no region to lock (and no element to visit): a
   * kernel with an empty operand has nothing to do. */
  for (int k = 0; k < nops; k++)
    if (elements(ops[k].array) == 0) {
      if (nparts_out) *nparts_out = 0;
      return BT_OK;
    }
  int64_t shape[BT_MAX_DIMS];
  bt_array_shape(ops[0].array, shape);
  int64_t extent = shape[ops[0].axis];
  int workers = bt_runtime_workers(rt);
  int nparts = extent < workers ? (int)extent : workers;

  /* The caller runs a part itself when it is one of rt's workers (its own
   * part: part i is worker i's) or when the runtime leaves it a core (the
   * last part); DESIGN.md, "Sub-arrays and more kernels". */
  int self = bt__self_runtime() == rt ? bt_self() : -1;
  int may_run = caller_may_run(self, workers);
  int mine = self >= 0 ? (self < nparts ? self : -1)
             : may_run ? nparts - 1
                       : -1;

  int rc = BT_OK;
  part_task stack_tasks[STACK_PARTS];
  part_task *tasks = stack_tasks;
  if (nparts > STACK_PARTS && !(tasks = malloc(sizeof *tasks * (size_t)nparts)))
    return bt__fail(BT_ENOMEM, "cannot allocate %d kernel tasks", nparts);
  part_group group = {.nops = nops, .slices = slices, .fn = fn, .ctx = ctx};
  for (int i = 0; i < nparts; i++) {
    part_task *pt = &tasks[i];
    pt->part.index = i;
    pt->part.start = bt__part_start(extent, nparts, i);
    pt->part.stop = bt__part_start(extent, nparts, i + 1);
    pt->group = &group;
    pt->task.run = part_run;
    pt->task.next = NULL;
    pt->ran_on = -1;
    pt->rc = BT_OK;
    pt->msg[0] = '\0';
    for (int k = 0; k < BT__MAX_OPERANDS; k++) pt->handed_back[k] = 0;
  }

  int locked = 0;
  bt_slice held[BT__MAX_OPERANDS]; /* views mode: the caller's slices */
  for (; locked < nops; locked++) {
    rc = slices ? lock_operand(&ops[locked], locked, tasks, nparts)
                : lock_views(&ops[locked], locked, tasks, nparts,
                             &held[locked]);
    if (rc != BT_OK) goto err_unlock;
  }

  rc = run_parts(rt, tasks, nparts, nops, mine, may_run, &group);
  if (!slices)
    for (int k = 0; k < nops; k++) (void)bt_slice_release(held[k]);
  if (rc == BT_OK && nparts_out) *nparts_out = nparts;
  if (tasks != stack_tasks) free(tasks);
  return rc;

err_unlock:
  while (locked-- > 0) {
    if (slices)
      release_operand(tasks, nparts, locked);
    else
      (void)bt_slice_release(held[locked]);
  }
  if (tasks != stack_tasks) free(tasks);
  return rc;
}

int bt__parallel(bt_runtime *rt, const bt__operand *ops, int nops,
                 bt__part_fn fn, void *ctx, int *nparts_out) {
  return parallel(rt, ops, nops, fn, ctx, nparts_out, 0);
}

/* ---- the public entry: one array, the user's body ---------------------- */

typedef struct slices_ctx {
  bt_slice_fn fn;
  void *ctx;
} slices_ctx;

static int slices_part(const bt__part *part, void *ctx) {
  const slices_ctx *sc = ctx;
  return sc->fn(part->slice[0], part->index, sc->ctx);
}

int bt__check_caller(const char *kernel, const bt_runtime *rt) {
  /* A worker of rt may call a kernel: it runs a part itself (nested). */
  return bt__runtime_check(rt, kernel);
}

int bt_parallel_slices(bt_runtime *rt, bt_array *a, int axis, int writable,
                       bt_slice_fn fn, void *ctx) {
  int rc = bt__check_caller("bt_parallel_slices", rt);
  if (rc != BT_OK) return rc;
  if ((rc = bt__array_check(a, "bt_parallel_slices")) != BT_OK) return rc;
  if (!fn)
    return bt__fail(BT_EINVAL, "bt_parallel_slices: the body fn is NULL");
  int ndim = bt_array_ndim(a);
  if (axis < 0 || axis >= ndim)
    return bt__fail(BT_EINVAL,
                    "bt_parallel_slices: axis %d out of range for a %d-d "
                    "array",
                    axis, ndim);
  bt__operand op = {.array = a, .writable = writable != 0, .axis = axis};
  slices_ctx sc = {fn, ctx};
  return parallel(rt, &op, 1, slices_part, &sc, NULL, 1);
}

/* ---- argument checks ---------------------------------------------------- */

int bt__check_f64(const char *kernel, const char *role, const bt_array *a) {
  if (!a) return bt__fail(BT_EINVAL, "%s: %s is NULL", kernel, role);
  if (bt__array_check(a, kernel) != BT_OK)
    return bt__fail(BT_EINVAL, "%s: %s (%p) is not a live array", kernel, role,
                    (const void *)a);
  bt_dtype t = bt_array_dtype(a);
  if (t != BT_F64)
    return bt__fail(BT_EINVAL, "%s: %s is %s, want f64", kernel, role,
                    bt_dtype_name(t));
  return BT_OK;
}

static void shape_str(const bt_array *a, char *buf, size_t len) {
  int64_t shape[BT_MAX_DIMS];
  int ndim = bt_array_ndim(a);
  bt_array_shape(a, shape);
  size_t used = 0;
  buf[0] = '\0';
  for (int d = 0; d < ndim && used < len; d++) {
    int n = snprintf(buf + used, len - used, "%s%lld", d ? " x " : "",
                     (long long)shape[d]);
    if (n < 0) break;
    used += (size_t)n;
  }
}

int bt__check_same_shape(const char *kernel, const char *ra, const bt_array *a,
                         const char *rb, const bt_array *b) {
  int64_t sa[BT_MAX_DIMS], sb[BT_MAX_DIMS];
  int na = bt_array_ndim(a), nb = bt_array_ndim(b);
  bt_array_shape(a, sa);
  bt_array_shape(b, sb);
  int same = na == nb;
  for (int d = 0; same && d < na; d++) same = sa[d] == sb[d];
  if (same) return BT_OK;
  char fa[128], fb[128];
  shape_str(a, fa, sizeof fa);
  shape_str(b, fb, sizeof fb);
  return bt__fail(BT_EINVAL, "%s: %s is %s but %s is %s, want the same shape",
                  kernel, ra, fa, rb, fb);
}

int bt__check_ndim(const char *kernel, const char *role, const bt_array *a,
                   int ndim) {
  int n = bt_array_ndim(a);
  if (n == ndim) return BT_OK;
  return bt__fail(BT_EINVAL, "%s: %s has %d dimensions, want %d", kernel, role,
                  n, ndim);
}

/* ---- per-part regions (2-D tiles: kernels/tiles.h) ----------------------
 * bt__parallel with one part per worker whose regions the kernel chooses:
 * the caller locks regions + (i * nops + k) * BT_MAX_DIMS of operand k for
 * part i (worker i's), owned or borrowed, and keeps the slices (views
 * mode); then the same caller-runs, join and error rules as bt__parallel. */

int bt__parallel_regions(bt_runtime *rt, const bt__region_op *ops, int nops,
                         const bt_range *regions, bt__part_fn fn, void *ctx) {
  BT_ASSERT(rt && ops && regions && fn && nops >= 1 &&
            nops <= BT__MAX_OPERANDS);
  int nparts = bt_runtime_workers(rt);
  int self = bt__self_runtime() == rt ? bt_self() : -1;
  int may_run = caller_may_run(self, nparts);
  int mine = self >= 0 ? self : may_run ? nparts - 1 : -1;

  part_task stack_tasks[STACK_PARTS];
  part_task *tasks = stack_tasks;
  if (nparts > STACK_PARTS && !(tasks = malloc(sizeof *tasks * (size_t)nparts)))
    return bt__fail(BT_ENOMEM, "cannot allocate %d kernel tasks", nparts);
  part_group group = {.nops = nops, .fn = fn, .ctx = ctx};
  int rc = BT_OK, locked = 0; /* locked: slices taken, part-major order */
  for (int i = 0; i < nparts; i++) {
    part_task *pt = &tasks[i];
    *pt = (part_task){.group = &group, .ran_on = -1, .rc = BT_OK};
    pt->part.index = i;
    pt->task.run = part_run;
    for (int k = 0; k < nops; k++, locked++) {
      const bt_range *r =
          regions + ((size_t)i * (size_t)nops + (size_t)k) * BT_MAX_DIMS;
      rc = ops[k].writable
               ? bt_array_own(ops[k].array, r, 0, &pt->part.slice[k])
               : bt_array_borrow(ops[k].array, r, 0, &pt->part.slice[k]);
      if (rc != BT_OK) goto err_unlock;
      /* Views mode: the caller keeps the slice, the part gets its view. */
      rc = bt_slice_view(pt->part.slice[k], &pt->part.view[k]);
      BT_ASSERT(rc == BT_OK); /* the caller made and holds it */
    }
  }

  rc = run_parts(rt, tasks, nparts, nops, mine, may_run, &group);
  for (int i = 0; i < locked; i++)
    (void)bt_slice_release(tasks[i / nops].part.slice[i % nops]);
  if (tasks != stack_tasks) free(tasks);
  return rc;

err_unlock:
  for (int i = 0; i < locked; i++)
    (void)bt_slice_release(tasks[i / nops].part.slice[i % nops]);
  if (tasks != stack_tasks) free(tasks);
  return rc;
}
