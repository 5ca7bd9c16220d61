/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * array_int.h: array's private interface, for array, kernels and mpi.
 * Never installed.
 */
#ifndef BATON_ARRAY_INT_H
#define BATON_ARRAY_INT_H

#include <pthread.h>

#include "core_int.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* BT_OK if a is a live array, else BT_EINVAL naming op and the pointer
 * (bt__bad_handle): every entry point that takes an array calls it. */
int bt__array_check(const bt_array *a, const char *op);

/* Invariant checker of an array's region lock table: BT_OK or BT_ESTATE
 * with bt_errmsg() naming the broken rule. */
int bt__regions_check(const bt_array *a);

/* ---- for kernels and mpi ------------------------------------------------ */

/* A slice of a fresh, zeroed, row-major array (BT_PLACE_LOCAL: first touched
 * by the caller, so on its NUMA node), owned whole by the calling thread.
 * The slice holds the array's only reference: releasing the slice frees the
 * array. rt may be NULL. For the MPI receiver. Returns what bt_array_create
 * and bt_array_own return. */
int bt__slice_new_array(bt_runtime *rt, bt_dtype t, int ndim,
                        const int64_t *shape, bt_slice *s);

/* As bt__slice_new_array, but the array's contents are unspecified: it may
 * reuse the memory of an earlier such array of the same mapped size and
 * NUMA node, freed since (array/recycle.c), which saves the page faults of
 * a new mapping. Only for a caller that overwrites every byte before anyone
 * reads it: the MPI receiver. */
int bt__slice_recv_array(bt_runtime *rt, bt_dtype t, int ndim,
                         const int64_t *shape, bt_slice *s);

/* The MPI receiver's cache of the last array it received on a channel, of
 * which it keeps a reference: if that reference is a's only one (every
 * slice of a released, nobody else retained it), a is not frozen nor
 * migrated and its pages are on the caller's NUMA node, own it whole again
 * (as a new array from bt__slice_recv_array: contents unspecified, a new
 * slice generation) and return BT_OK; else BT_EBUSY (or bt_array_own's
 * code), and the caller makes a new array. */
int bt__slice_reuse_array(bt_array *a, bt_slice *s);

/* Unmap every mapping recycle.c keeps; returns how many there were. */
int bt__recycle_drain(void);

/* The view of a live slice whoever holds it, in flight included (generation
 * checked, holder not): the MPI sender reads the data of a slice that
 * bt_send() already moved. BT_OK or BT_EMOVED. */
int bt__slice_view_any(bt_slice s, bt_view *v);

/* Release a live slice whoever holds it, in flight included: what
 * bt_type_slice.on_drop does; the MPI bridge calls it when MPI completes
 * the send. A stale handle is ignored. */
void bt__slice_drop(bt_slice s);

/* 1 if the calling thread holds s now (generation current), else 0. */
int bt__slice_held(bt_slice s);

/* The placement of an array: BT_PLACE_BLOCKS arrays have one block per
 * worker of the runtime along axis 0 (the balanced split rule: remainder to
 * the first blocks); other placements have 0 blocks. */
typedef struct bt__block {
  int64_t start, stop; /* rows [start, stop) of axis 0 */
  int worker;          /* the worker that first touches it */
  int numa;            /* that worker's NUMA node (runtime's logical index) */
  int toucher;         /* bt_self() of the thread that did touch it, -1 if
                          not touched by a worker (synthetic topology with
                          no worker run, or an empty block) */
} bt__block;
bt_place bt__array_place(const bt_array *a);
int bt__array_blocks(const bt_array *a);
/* Block i of the plan (0 <= i < bt__array_blocks(a)); BT_OK or BT_EINVAL. */
int bt__array_block(const bt_array *a, int i, bt__block *out);

/* The balanced split rule shared by split, placement and kernels: part i of
 * `parts` over [0, extent) starts at the returned offset; the remainder goes
 * to the first parts. */
int64_t bt__part_start(int64_t extent, int parts, int i);

/* How two arrays' elements relate: BT__ALIAS_NONE (different memory, as far
 * as the arrays know: two arrays wrapped on the same memory are not seen),
 * BT__ALIAS_SAME (the same elements: one array, or sub-arrays of one root
 * over the same region) or BT__ALIAS_PARTIAL (their regions of one root
 * overlap, but differ). For the kernels' aliasing rules. */
enum { BT__ALIAS_NONE, BT__ALIAS_SAME, BT__ALIAS_PARTIAL };
int bt__array_alias(const bt_array *a, const bt_array *b);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

/* ---- inside the array module only (the files of array/) ---------------
 * These structures are private to array/; kernels and mpi use the calls
 * above. */
#ifdef BATON_ARRAY_MODULE

#define BT__ARRAY_MAGIC 0x61727279u /* "arry" */

/* One granted region of the lock table: what own/borrow locked. Every slice
 * made from it (the first and the parts of its splits, nested) points to
 * it; it leaves the table when the last of them is released. */
typedef struct bt__grant {
  int64_t lo[BT_MAX_DIMS], hi[BT_MAX_DIMS]; /* the box [lo, hi) */
  int owned;                                /* 1 own, 0 borrow */
  int pos;          /* index in the table's live vector; -1 when free */
  int64_t live;     /* slices that point to it */
  uint64_t granter; /* bt__thread_id() of the thread that locked it */
  /* The sub-array whose own/borrow made the grant, holding a reference on
   * it (its slices point to it), or NULL for the root itself. Written by
   * the granter before it publishes the first slice; read by the last put,
   * under 'lock'. */
  struct bt_array *via;
  /* atomic: how many of its live slices the granter does not hold (held by
   * another thread or in flight). Raised by the granter's sends and by
   * splits on other threads, lowered by the granter's receives (relaxed:
   * the granter's own operations, ordered by its thread) and, under 'lock',
   * by releases on other threads and drops in flight, so that the granter
   * reading 0 under 'lock' knows it holds every slice: the BT_EDEADLK
   * check in bt__regions_grant(). */
  _Atomic int64_t away;
  struct bt__grant *next_free;
} bt__grant;

/* The region lock table of one array. */
typedef struct bt__regions {
  pthread_mutex_t lock;
  bt__grant **live;       /* protected by 'lock': the granted boxes, dense */
  int64_t *span0;         /* protected by 'lock': live[i]'s axis-0 range at
                             [2i], [2i+1], scanned without dereferencing */
  int nlive, cap;         /* protected by 'lock' */
  bt__grant *free_grants; /* protected by 'lock' */
  void **chunks;          /* protected by 'lock': grant storage, kept until
                             the array goes */
  int nchunks;
  int waiters; /* protected by 'lock': threads asleep on epoch */
  /* atomic: bumped under 'lock' at every unlock of a region; waiters sleep
   * on it with the futex. */
  _Atomic uint32_t epoch;
  int frozen; /* protected by 'lock' (also read atomically below) */
} bt__regions;

struct bt_array {
  uint32_t magic;
  bt_runtime *rt; /* may be NULL (no placement but LOCAL) */
  bt_dtype dtype;
  int ndim;
  size_t elem; /* bytes per element */
  int64_t shape[BT_MAX_DIMS];
  int64_t strides[BT_MAX_DIMS]; /* in elements */
  char *data;
  size_t map_bytes;     /* mmapped length; 0 for wrapped memory */
  _Atomic int64_t refs; /* atomic: references; the grants hold one
                           together while there is any */
  _Atomic int frozen;   /* atomic: set once by bt_array_freeze */
  bt_place place;
  _Atomic int recycle; /* atomic: made for a receive: free gives the
                          mapping to recycle.c; cleared by a migration
                          (slices of one array may migrate at once) */
  int numa;    /* with recycle: the node the mapping was touched on */
  int nblocks; /* BT_PLACE_BLOCKS plan, set at create */
  bt__block *blocks;
  /* A sub-array (bt_array_sub) is a view of a region of its parent: data
   * points to its element [0,...,0] inside the root's mapping, strides are
   * the root's, and it has no memory, placement or lock table of its own.
   * Set at creation, read-only after. */
  struct bt_array *parent; /* sub-array: holds one reference; else NULL */
  struct bt_array *root;   /* the array that owns memory and lock table:
                              itself, or the parent's root */
  int64_t off[BT_MAX_DIMS]; /* origin in the root's coordinates (0s for
                               the root) */
  bt__regions regions;      /* the root's only */
  /* The root's only: in its runtime's report of the slices still held. */
  bt__tracked tracked;
};

/* The struct of a handle, NULL unless a is a live array (magic checked in
 * every build; a freed array's magic is BT__MAGIC_DEAD). */
static inline bt_array *bt__array_get(const bt_array *a) {
  return a != NULL && a->magic == BT__ARRAY_MAGIC ? (bt_array *)a : NULL;
}

/* The array holding a's memory and lock table (a itself unless a is a
 * sub-array). */
static inline bt_array *bt__array_root(const bt_array *a) {
  return bt__array_get(a)->root;
}

/* region.c */
int bt__regions_init(bt__regions *r);
void bt__regions_fini(bt__regions *r);
/* Lock box [lo, hi) (already validated) for own or borrow, waiting up to
 * timeout_ns. a is a root array; lo and hi are in its coordinates. On
 * success *g is the grant (live = 1, via NULL) and the array has one more
 * reference. */
int bt__regions_grant(bt_array *a, const int64_t *lo, const int64_t *hi,
                      int owned, int64_t timeout_ns, bt__grant **g);
/* Add n slices to a grant (split); `away`: the splitting thread is not the
 * granter, so the n new slices count as away too. */
void bt__regions_add(bt_array *a, bt__grant *g, int64_t n, int away);
/* One slice of g is gone; the last one unlocks the region, wakes waiters
 * and drops the grant's array reference (which may free the array) and
 * its sub-array's (g->via). a is the root. `away`: the slice was not the
 * granter's (see bt__grant.away). */
void bt__regions_put(bt_array *a, bt__grant *g, int away);
/* BT_OK, or BT_EBUSY if a region is owned (then nothing changes). */
int bt__regions_freeze(bt_array *a);
/* The tracked object's report: one line per region locked (out NULL:
 * count only). */
int bt__regions_report(bt__tracked *t, FILE *out);
/* "[0:4,2:8]" into buf. */
void bt__box_format(char *buf, size_t len, int ndim, const int64_t *lo,
                    const int64_t *hi);

/* place.c */
/* Plan and first-touch a fresh mapping according to a->place. */
int bt__place_array(bt_array *a);
/* Home NUMA node of the page at addr (runtime's logical index), -1 unknown. */
int bt__place_numa_of(const bt_array *a, const void *addr);
/* Move [addr, addr+len) to node numa. BT_OK, BT_EINVAL, BT_ENOTSUP. */
int bt__place_migrate(const bt_array *a, const void *addr, size_t len,
                      int numa);
/* The NUMA node (runtime's logical index) of the CPU the caller runs on
 * now; -1 when rt is NULL or does not describe this machine. */
int bt__place_numa_here(const bt_runtime *rt);

/* recycle.c: keep the mapping of a freed receive array (1; the oldest kept
 * ones are unmapped if the cache is full), or refuse it (0: larger than the
 * whole cache; the caller unmaps it); take one of exactly `map` bytes
 * touched on node numa, or NULL. */
int bt__recycle_give(void *data, size_t map, int numa);
void *bt__recycle_take(size_t map, int numa);

/* array.c: an array for a receive (see bt__slice_recv_array). */
int bt__array_create_recv(bt_runtime *rt, bt_dtype t, int ndim,
                          const int64_t *shape, bt_array **out);

#endif /* BATON_ARRAY_MODULE */

#endif /* BATON_ARRAY_INT_H */
