/* tiles.c: the 2-D tile grid (a pure function) and the run of a kernel on
 * per-part regions. The run follows bt__parallel's protocol (parallel.c):
 * lock every part's regions up front, hand each part's slices to its
 * worker through bt_type_slice, one task per part, join on a countdown
 * (spin, then futex), take the slices back, release, first error wins. */
#include "tiles.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the grid ------------------------------------------------------------ */

static int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

int bt__tile_grid(int64_t m, int64_t n, int workers, const int *worker_node,
                  bt__tile *tiles, int *grid_cols) {
  BT_ASSERT(workers >= 1 && m >= 0 && n >= 0);
  /* The nodes' runs of workers, and the gcd of their sizes. */
  int g = 0;
  for (int w = 0; w < workers;) {
    int first = w;
    while (w < workers && worker_node[w] == worker_node[first]) w++;
    int count = w - first, a = g, b = count;
    while (b) {
      int t = a % b;
      a = b;
      b = t;
    }
    g = a;
  }
  /* pc: a divisor of every node's worker count. */
  int best_pc = 1;
  int64_t best_cost = -1;
  for (int pc = 1; pc <= g; pc++) {
    if (g % pc || (pc > 1 && pc > n)) continue;
    int64_t cost = 0;
    for (int w = 0; w < workers;) {
      int first = w;
      while (w < workers && worker_node[w] == worker_node[first]) w++;
      int pr = (w - first) / pc;
      int64_t rows =
          bt__part_start(m, workers, w) - bt__part_start(m, workers, first);
      cost = max64(cost, (rows + pr - 1) / pr + (n + pc - 1) / pc);
    }
    if (best_cost < 0 || cost < best_cost) best_cost = cost, best_pc = pc;
  }
  int nonempty = 0;
  for (int w = 0; w < workers;) {
    int first = w;
    while (w < workers && worker_node[w] == worker_node[first]) w++;
    int pr = (w - first) / best_pc;
    int64_t r0 = bt__part_start(m, workers, first);
    int64_t rows = bt__part_start(m, workers, w) - r0;
    for (int i = first; i < w; i++) {
      int band = (i - first) / best_pc, col = (i - first) % best_pc;
      bt__tile *t = &tiles[i];
      t->row0 = r0 + bt__part_start(rows, pr, band);
      t->row1 = r0 + bt__part_start(rows, pr, band + 1);
      t->col0 = bt__part_start(n, best_pc, col);
      t->col1 = bt__part_start(n, best_pc, col + 1);
      if (t->row1 > t->row0 && t->col1 > t->col0) nonempty++;
    }
  }
  if (grid_cols) *grid_cols = best_pc;
  return nonempty;
}

/* ---- the run ---------------------------------------------------------------
 */

typedef struct region_task {
  bt__task task;
  struct region_group *group;
  bt__part part;
  int handed_back[BT__MAX_OPERANDS]; /* the worker gave slice k back */
  int rc;                            /* written by the worker before its */
  char msg[256];                     /* decrement of group->pending */
} region_task;

typedef struct region_group {
  _Atomic uint32_t pending; /* parts not finished yet */
  int nops;
  bt__part_fn fn;
  void *ctx;
} region_group;

static void region_run(bt__task *t) {
  region_task *rt = (region_task *)((char *)t - offsetof(region_task, task));
  region_group *g = rt->group;
  _Atomic uint32_t *pending = &g->pending;
  int rc = BT_OK;
  for (int k = 0; k < g->nops; k++) bt_type_slice.on_recv(&rt->part.slice[k]);
  for (int k = 0; k < g->nops && rc == BT_OK; k++)
    rc = bt_slice_view(rt->part.slice[k], &rt->part.view[k]);
  if (rc == BT_OK) {
    (void)bt__fail(BT_OK, "%s", "");
    rc = g->fn(&rt->part, g->ctx);
  }
  for (int k = 0; k < g->nops; k++) {
    int sent = bt_type_slice.on_send(&rt->part.slice[k], BT_UNCHECKED);
    rt->handed_back[k] = sent == BT_OK;
    if (sent != BT_OK && rc == BT_OK)
      rc = bt__fail(sent, "the body released or sent its slice of operand %d",
                    k);
  }
  if (rc != BT_OK) snprintf(rt->msg, sizeof rt->msg, "%s", bt_errmsg());
  rt->rc = rc;
  /* acq_rel: the release half publishes rc, handed_back and the slices to
   * the caller; pairs with the acquire loads in join(). The group may be
   * gone after it: only `pending`'s address is used. */
  if (atomic_fetch_sub_explicit(pending, 1, memory_order_acq_rel) == 1)
    bt__futex_wake(pending, 1);
}

static void join(_Atomic uint32_t *pending, int busy) {
  if (busy < bt__ncpu()) {
    int spins = bt__spin_begin();
    /* acquire: pairs with the acq_rel decrement in region_run(). */
    for (int i = 0; i < spins; i++) {
      if (atomic_load_explicit(pending, memory_order_acquire) == 0) break;
      bt__cpu_relax();
    }
    bt__spin_end();
  }
  uint32_t left;
  /* acquire: pairs with the acq_rel decrement in region_run(). */
  while ((left = atomic_load_explicit(pending, memory_order_acquire)) != 0)
    (void)bt__futex_wait(pending, left, -1);
}

int bt__parallel_regions(bt_runtime *rt, const bt__region_op *ops, int nops,
                         int nparts, const int *worker, const bt_range *regions,
                         bt__part_fn fn, void *ctx) {
  BT_ASSERT(rt && ops && fn && nops >= 1 && nops <= BT__MAX_OPERANDS);
  if (bt__self_runtime() == rt)
    return bt__fail(BT_ESTATE,
                    "kernels are called from a thread that is not one of "
                    "the runtime's workers (this is worker %d): its part "
                    "would wait for itself",
                    bt_self());
  if (nparts <= 0) return BT_OK;
  region_task *tasks = calloc((size_t)nparts, sizeof *tasks);
  if (!tasks)
    return bt__fail(BT_ENOMEM, "cannot allocate %d kernel tasks", nparts);
  region_group group = {.nops = nops, .fn = fn, .ctx = ctx};
  int rc = BT_OK, locked = 0; /* locked: parts x operands, in order */
  for (int p = 0; p < nparts; p++) {
    tasks[p].part.index = p;
    tasks[p].group = &group;
    tasks[p].task.run = region_run;
    for (int k = 0; k < nops; k++, locked++) {
      const bt_range *r =
          regions + ((size_t)p * (size_t)nops + (size_t)k) * BT_MAX_DIMS;
      rc = ops[k].writable
               ? bt_array_own(ops[k].array, r, 0, &tasks[p].part.slice[k])
               : bt_array_borrow(ops[k].array, r, 0, &tasks[p].part.slice[k]);
      if (rc != BT_OK) goto err_unlock;
    }
  }

  /* relaxed: published to the workers by the queue lock in the post. */
  atomic_store_explicit(&group.pending, (uint32_t)nparts, memory_order_relaxed);
  int posted = 0;
  for (; posted < nparts; posted++) {
    region_task *t = &tasks[posted];
    for (int k = 0; k < nops; k++) {
      int sent = bt_type_slice.on_send(&t->part.slice[k], BT_UNCHECKED);
      BT_ASSERT(sent == BT_OK); /* the caller made and holds every slice */
    }
    rc = bt__worker_post(rt, worker[posted], &t->task);
    if (rc != BT_OK) {
      for (int k = 0; k < nops; k++) bt_type_slice.on_recv(&t->part.slice[k]);
      break;
    }
  }
  if (posted < nparts) {
    for (int p = posted; p < nparts; p++)
      for (int k = 0; k < nops; k++) tasks[p].handed_back[k] = 1;
    /* relaxed: our own count of parts that will never decrement it. */
    atomic_fetch_sub_explicit(&group.pending, (uint32_t)(nparts - posted),
                              memory_order_relaxed);
  }
  join(&group.pending, posted);

  int first = BT_OK;
  for (int p = 0; p < nparts; p++) {
    for (int k = 0; k < nops; k++) {
      if (!tasks[p].handed_back[k]) continue;
      if (p < posted) bt_type_slice.on_recv(&tasks[p].part.slice[k]);
      (void)bt_slice_release(tasks[p].part.slice[k]);
    }
    if (first == BT_OK && p < posted && tasks[p].rc != BT_OK) {
      first = tasks[p].rc;
      if (tasks[p].msg[0])
        (void)bt__fail(first, "part %d, on worker %d: %s", p, worker[p],
                       tasks[p].msg);
      else
        (void)bt__fail(first, "part %d, on worker %d, failed: %s", p, worker[p],
                       bt_status_name(first));
    }
  }
  if (rc == BT_OK) rc = first;
  free(tasks);
  return rc;

err_unlock:
  for (int i = 0; i < locked; i++)
    (void)bt_slice_release(tasks[i / nops].part.slice[i % nops]);
  free(tasks);
  return rc;
}
