/* parallel.c: the one mechanism every kernel runs on: lock the operands,
 * cut them into one part per worker, hand each worker its part's slices,
 * join on a countdown, take the slices back and release them. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_int.h"

/* One worker's task: the part and what the worker reports back. */
typedef struct part_task {
  bt__task task;
  struct part_group *group;
  bt__part part;
  int handed_back[BT__MAX_OPERANDS]; /* the worker gave slice k back */
  int rc;                            /* written by the worker before its
                                        decrement of group->pending, as */
  char msg[256];                     /* is the worker's bt_errmsg() */
} part_task;

/* One kernel call, on the caller's stack. */
typedef struct part_group {
  _Atomic uint32_t pending; /* parts not finished yet */
  int nops;
  bt__part_fn fn;
  void *ctx;
} part_group;

static void part_run(bt__task *t) {
  part_task *pt = (part_task *)((char *)t - offsetof(part_task, task));
  part_group *g = pt->group;
  _Atomic uint32_t *pending = &g->pending;
  int rc = BT_OK;
  for (int k = 0; k < g->nops; k++) bt_type_slice.on_recv(&pt->part.slice[k]);
  for (int k = 0; k < g->nops && rc == BT_OK; k++)
    rc = bt_slice_view(pt->part.slice[k], &pt->part.view[k]);
  if (rc == BT_OK) {
    /* A body that fails without a sentence must not pass on a stale one. */
    (void)bt__fail(BT_OK, "%s", "");
    int64_t t0 = bt__trace_begin();
    rc = g->fn(&pt->part, g->ctx);
    bt__trace_end(t0, "part", "part", bt_self(), 0);
  }
  bt__stat_part();
  for (int k = 0; k < g->nops; k++) {
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
  /* acq_rel: the release half publishes rc, handed_back and the slices'
   * hand-back to the caller; pairs with the acquire load in wait_parts().
   * After it the group and this task may be gone: only the address of
   * pending, computed before, is used (a futex wake on it is harmless). */
  if (atomic_fetch_sub_explicit(pending, 1, memory_order_acq_rel) == 1)
    bt__futex_wake(pending, 1);
}

/* Wait until every part is done. `busy`: the parts running. The caller
 * spins first only when a core is left for it: with a part on every core,
 * its spin would take time from a part, and sleeping at once costs nothing
 * a spin of a few microseconds would have saved. */
static void wait_parts(_Atomic uint32_t *pending, int busy) {
  if (busy < bt__ncpu()) {
    int spins = bt__spin_begin();
    /* acquire: pairs with the acq_rel decrement in part_run(). */
    for (int i = 0; i < spins; i++) {
      if (atomic_load_explicit(pending, memory_order_acquire) == 0) break;
      bt__cpu_relax();
    }
    bt__spin_end();
  }
  uint32_t left;
  bt__watch watch;
  bt__watch_arm(&watch);
  int64_t t0 = bt__trace_begin();
  /* acquire: pairs with the acq_rel decrement in part_run(). */
  while ((left = atomic_load_explicit(pending, memory_order_acquire)) != 0) {
    (void)bt__futex_wait(pending, left, bt__watch_deadline(&watch, -1));
    if (bt__watch_due(&watch))
      bt__watch_report(
          &watch, "a kernel's join: %u of %d parts not done",
          (unsigned)atomic_load_explicit(pending, memory_order_relaxed), busy);
  }
  bt__trace_end(t0, "wait", "join", 0, 0);
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

int bt__parallel(bt_runtime *rt, const bt__operand *ops, int nops,
                 bt__part_fn fn, void *ctx, int *nparts_out) {
  BT_ASSERT(rt && ops && fn && nops >= 1 && nops <= BT__MAX_OPERANDS);
  if (bt__self_runtime() == rt)
    return bt__fail(BT_ESTATE,
                    "kernels are called from a thread that is not one of "
                    "the runtime's workers (this is worker %d): its part "
                    "would wait for itself",
                    bt_self());
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

  int rc = BT_OK;
  part_task *tasks = NULL;
  if (nparts > 0 && !(tasks = calloc((size_t)nparts, sizeof *tasks)))
    return bt__fail(BT_ENOMEM, "cannot allocate %d kernel tasks", nparts);
  part_group group = {.nops = nops, .fn = fn, .ctx = ctx};
  for (int i = 0; i < nparts; i++) {
    tasks[i].part.index = i;
    tasks[i].part.start = bt__part_start(extent, nparts, i);
    tasks[i].part.stop = bt__part_start(extent, nparts, i + 1);
    tasks[i].group = &group;
    tasks[i].task.run = part_run;
  }

  int locked = 0;
  for (; locked < nops; locked++) {
    rc = lock_operand(&ops[locked], locked, tasks, nparts);
    if (rc != BT_OK) goto err_unlock;
  }

  /* relaxed: published to the workers by the queue lock in the post. */
  atomic_store_explicit(&group.pending, (uint32_t)nparts, memory_order_relaxed);
  int posted = 0;
  for (; posted < nparts; posted++) {
    part_task *pt = &tasks[posted];
    for (int k = 0; k < nops; k++) {
      int sent = bt_type_slice.on_send(&pt->part.slice[k], BT_UNCHECKED);
      BT_ASSERT(sent == BT_OK); /* the caller made and holds every slice */
    }
    rc = bt__worker_post(rt, posted, &pt->task);
    if (rc != BT_OK) {
      for (int k = 0; k < nops; k++) bt_type_slice.on_recv(&pt->part.slice[k]);
      break;
    }
  }
  if (posted < nparts) {
    /* The runtime is stopping: the parts not posted never run. Their
     * slices are ours again; let the posted ones finish. */
    for (int i = posted; i < nparts; i++)
      for (int k = 0; k < nops; k++) tasks[i].handed_back[k] = 1;
    /* relaxed: our own count of parts that will never decrement it. */
    atomic_fetch_sub_explicit(&group.pending, (uint32_t)(nparts - posted),
                              memory_order_relaxed);
  }
  wait_parts(&group.pending, posted);

  int first = BT_OK;
  for (int i = 0; i < nparts; i++) {
    for (int k = 0; k < nops; k++) {
      if (!tasks[i].handed_back[k]) continue;
      if (i < posted) bt_type_slice.on_recv(&tasks[i].part.slice[k]);
      (void)bt_slice_release(tasks[i].part.slice[k]);
    }
    if (first == BT_OK && i < posted && tasks[i].rc != BT_OK) {
      first = tasks[i].rc;
      if (tasks[i].msg[0])
        (void)bt__fail(first, "part %d, on worker %d: %s", i, i, tasks[i].msg);
      else
        (void)bt__fail(first, "part %d, on worker %d, failed: %s", i, i,
                       bt_status_name(first));
    }
  }
  if (rc == BT_OK) rc = first;
  if (rc == BT_OK && nparts_out) *nparts_out = nparts;
  free(tasks);
  return rc;

err_unlock:
  while (locked-- > 0) release_operand(tasks, nparts, locked);
  free(tasks);
  return rc;
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
  if (!rt) return bt__fail(BT_EINVAL, "%s: the runtime is NULL", kernel);
  if (bt__self_runtime() == rt)
    return bt__fail(BT_ESTATE,
                    "%s is called from a thread that is not one of the "
                    "runtime's workers (this is worker %d): its part would "
                    "wait for itself",
                    kernel, bt_self());
  return BT_OK;
}

int bt_parallel_slices(bt_runtime *rt, bt_array *a, int axis, int writable,
                       bt_slice_fn fn, void *ctx) {
  int rc = bt__check_caller("bt_parallel_slices", rt);
  if (rc != BT_OK) return rc;
  if (!a || !fn)
    return bt__fail(BT_EINVAL, "bt_parallel_slices: %s is NULL",
                    !a ? "the array" : "the body fn");
  int ndim = bt_array_ndim(a);
  if (axis < 0 || axis >= ndim)
    return bt__fail(BT_EINVAL,
                    "bt_parallel_slices: axis %d out of range for a %d-d "
                    "array",
                    axis, ndim);
  bt__operand op = {.array = a, .writable = writable != 0, .axis = axis};
  slices_ctx sc = {fn, ctx};
  return bt__parallel(rt, &op, 1, slices_part, &sc, NULL);
}

/* ---- argument checks ---------------------------------------------------- */

int bt__check_f64(const char *kernel, const char *role, const bt_array *a) {
  if (!a) return bt__fail(BT_EINVAL, "%s: %s is NULL", kernel, role);
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
