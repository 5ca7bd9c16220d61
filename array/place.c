/* SPDX-License-Identifier: BSD-3-Clause */
/* place.c: where an array's pages live. The only file of array/ that
 * includes hwloc.h; it uses the runtime's topology and nodesets.
 *
 * Placement is decided by first touch: anonymous pages land on the NUMA
 * node of the thread that writes them first (or on the nodes of an
 * interleave policy set before that). A runtime on a synthetic or XML
 * topology describes another machine: the plan is computed and recorded,
 * but no memory policy is applied to this one. */
#define BATON_ARRAY_MODULE 1
#include <errno.h>
#include <hwloc.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array_int.h"

static size_t page_size(void) {
  return (size_t)sysconf(_SC_PAGESIZE);
}

/* Write one zero into each page of [first, last) pages of a's mapping: the
 * write faults the page in on the writer's node. */
static void touch_pages(bt_array *a, size_t first, size_t last) {
  size_t page = page_size();
  for (size_t p = first; p < last; p++) a->data[p * page] = 0;
}

/* The pages whose first touch belongs to rows [start, stop) of axis 0: from
 * the page of the block's first byte up to the page of the next block's
 * first byte, so that every block holds its first element's page and each
 * page has exactly one toucher. */
static void block_pages(const bt_array *a, int64_t start, int64_t stop,
                        int last_block, size_t *first, size_t *last) {
  size_t page = page_size();
  size_t row = (size_t)a->strides[0] * a->elem;
  *first = (size_t)start * row / page;
  *last = last_block ? a->map_bytes / page : (size_t)stop * row / page;
  if (*last < *first) *last = *first;
}

typedef struct touch_job {
  bt__task task; /* first: run() recovers the job from it */
  bt_array *array;
  int block;
  size_t first, last;
  _Atomic uint32_t *pending;
} touch_job;

static void touch_run(bt__task *t) {
  touch_job *j = (touch_job *)t;
  touch_pages(j->array, j->first, j->last);
  j->array->blocks[j->block].toucher = bt_self();
  /* The job may be freed as soon as the count reaches zero: keep what the
   * wake needs. A wake that lands after the waiter left is harmless (futex
   * waiters recheck their word). */
  _Atomic uint32_t *pending = j->pending;
  /* acq_rel: the release publishes this worker's page writes and toucher to
   * the creator's acquire load in wait_touches(). */
  if (atomic_fetch_sub_explicit(pending, 1, memory_order_acq_rel) == 1)
    bt__futex_wake(pending, INT32_MAX);
}

static void wait_touches(bt_runtime *rt, _Atomic uint32_t *pending) {
  int self = bt_self();
  int on_worker = self >= 0 && bt__self_runtime() == rt;
  for (;;) {
    /* acquire: pairs with the acq_rel decrement in touch_run(). */
    uint32_t left = atomic_load_explicit(pending, memory_order_acquire);
    if (left == 0) return;
    /* A worker creating a placed array runs its own block meanwhile. */
    if (on_worker && bt__worker_run_one(rt, self)) continue;
    (void)bt__futex_wait(pending, left, -1);
  }
}

static int place_blocks(bt_array *a) {
  bt_runtime *rt = a->rt;
  int workers = bt_runtime_workers(rt);
  if (workers < 1) return bt__fail(BT_ETOPO, "the runtime has no workers");
  a->blocks = calloc((size_t)workers, sizeof *a->blocks);
  touch_job *jobs = calloc((size_t)workers, sizeof *jobs);
  if (!a->blocks || !jobs) {
    free(jobs);
    return bt__fail(BT_ENOMEM, "cannot plan %d blocks", workers);
  }
  a->nblocks = workers;
  int64_t rows = a->shape[0];
  _Atomic uint32_t pending;
  atomic_init(&pending, (uint32_t)workers);
  for (int i = 0; i < workers; i++) {
    bt__block *b = &a->blocks[i];
    b->start = bt__part_start(rows, workers, i);
    b->stop = bt__part_start(rows, workers, i + 1);
    b->worker = i;
    b->numa = bt_worker_numa(rt, i);
    b->toucher = -1;
    touch_job *j = &jobs[i];
    j->task.run = touch_run;
    j->array = a;
    j->block = i;
    j->pending = &pending;
    block_pages(a, b->start, b->stop, i == workers - 1, &j->first, &j->last);
    if (i == 0) j->first = 0;
  }
  for (int i = 0; i < workers; i++)
    if (bt__worker_post(rt, i, &jobs[i].task) != BT_OK)
      touch_run(&jobs[i].task); /* a stopping runtime: touch it here */
  wait_touches(rt, &pending);
  free(jobs);
  return BT_OK;
}

static int place_interleave(bt_array *a) {
  bt_runtime *rt = a->rt;
  if (!bt__runtime_is_this_machine(rt)) return BT_OK;
  int nodes = bt_runtime_numa_nodes(rt);
  if (nodes <= 1) return BT_OK; /* one node: interleaved already */
  hwloc_topology_t topo = bt__runtime_topology(rt);
  hwloc_nodeset_t set = hwloc_bitmap_alloc();
  if (!set) return bt__fail(BT_ENOMEM, "cannot allocate a nodeset");
  for (int i = 0; i < nodes; i++)
    hwloc_bitmap_or(set, set, bt__runtime_numa_nodeset(rt, i));
  int r =
      hwloc_set_area_membind(topo, a->data, a->map_bytes, set,
                             HWLOC_MEMBIND_INTERLEAVE, HWLOC_MEMBIND_BYNODESET);
  int err = errno;
  hwloc_bitmap_free(set);
  if (r != 0)
    return bt__fail(BT_ETOPO, "cannot interleave %zu bytes over %d nodes: %s",
                    a->map_bytes, nodes, strerror(err));
  return BT_OK;
}

int bt__place_array(bt_array *a) {
  size_t pages = a->map_bytes / page_size();
  switch (a->place) {
    case BT_PLACE_LOCAL:
      touch_pages(a, 0, pages);
      return BT_OK;
    case BT_PLACE_INTERLEAVE: {
      int rc = place_interleave(a);
      if (rc != BT_OK) return rc;
      touch_pages(a, 0, pages);
      return BT_OK;
    }
    case BT_PLACE_BLOCKS:
      return place_blocks(a);
  }
  return bt__fail(BT_EINVAL, "invalid placement %d", (int)a->place);
}

/* The logical index of the machine's one NUMA node (-1 if hwloc has none). */
static int only_node(const bt_runtime *rt, hwloc_topology_t topo) {
  hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, 0);
  return node ? bt__runtime_numa_from_os(rt, (int)node->os_index) : -1;
}

int bt__place_numa_of(const bt_array *a, const void *addr) {
  if (!a->rt || !bt__runtime_is_this_machine(a->rt)) return -1;
  hwloc_topology_t topo = bt__runtime_topology(a->rt);
  /* One node in the machine: every page baton mapped and touched is there,
   * no need to ask the kernel (a syscall per view). */
  if (a->map_bytes > 0 &&
      hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) == 1)
    return only_node(a->rt, topo);
  size_t page = page_size();
  const void *start = (const void *)((uintptr_t)addr / page * page);
  hwloc_nodeset_t set = hwloc_bitmap_alloc();
  if (!set) return -1;
  int numa = -1;
  if (hwloc_get_area_memlocation(topo, start, 1, set,
                                 HWLOC_MEMBIND_BYNODESET) == 0) {
    int os = hwloc_bitmap_first(set);
    if (os >= 0) numa = bt__runtime_numa_from_os(a->rt, os);
  }
  hwloc_bitmap_free(set);
  return numa;
}

int bt__place_numa_here(const bt_runtime *rt) {
  if (!rt || !bt__runtime_is_this_machine(rt)) return -1;
  hwloc_topology_t topo = bt__runtime_topology(rt);
  if (hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) == 1)
    return only_node(rt, topo);
  int cpu = sched_getcpu();
  hwloc_obj_t pu =
      cpu >= 0 ? hwloc_get_pu_obj_by_os_index(topo, (unsigned)cpu) : NULL;
  if (!pu || !pu->nodeset) return -1;
  int os = hwloc_bitmap_first(pu->nodeset);
  return os >= 0 ? bt__runtime_numa_from_os(rt, os) : -1;
}

int bt__place_migrate(const bt_array *a, const void *addr, size_t len,
                      int numa) {
  if (!a->rt) return bt__fail(BT_ENOTSUP, "migrate: the array has no runtime");
  int nodes = bt_runtime_numa_nodes(a->rt);
  if (numa < 0 || numa >= nodes)
    return bt__fail(BT_EINVAL, "migrate: NUMA node %d of %d", numa, nodes);
  if (!bt__runtime_is_this_machine(a->rt))
    return bt__fail(BT_ENOTSUP,
                    "migrate: the runtime's topology is not this machine");
  if (a->map_bytes == 0)
    return bt__fail(BT_ENOTSUP, "migrate: wrapped memory is the user's");
  size_t page = page_size();
  uintptr_t lo = (uintptr_t)addr / page * page;
  uintptr_t hi = ((uintptr_t)addr + len + page - 1) / page * page;
  hwloc_topology_t topo = bt__runtime_topology(a->rt);
  int r = hwloc_set_area_membind(
      topo, (const void *)lo, hi - lo, bt__runtime_numa_nodeset(a->rt, numa),
      HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_MIGRATE | HWLOC_MEMBIND_BYNODESET);
  if (r != 0)
    return bt__fail(BT_ENOTSUP,
                    "migrate: the kernel refused to move %zu "
                    "bytes to node %d: %s",
                    (size_t)(hi - lo), numa, strerror(errno));
  return BT_OK;
}
