/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * runtime_int.h: the runtime's private parts, for core/runtime.c,
 * core/worker.c, core/topology.c, core/placement.c, tools/baton-info.c and
 * tests/test_runtime.c. Never installed.
 *
 * hwloc types appear here only as forward-declared structs, so that a file
 * including this header does not include hwloc.h (only core/topology.c and
 * core/placement.c do).
 */
#ifndef BATON_RUNTIME_INT_H
#define BATON_RUNTIME_INT_H

#include <pthread.h>
#include <stdio.h>

#include "chan_int.h" /* bt__lock */
#include "core_int.h"

struct hwloc_topology; /* hwloc_topology_t is a struct hwloc_topology * */
struct hwloc_bitmap_s; /* hwloc_bitmap_t is a struct hwloc_bitmap_s * */

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* ---- placement (core/placement.c): a pure function ------------------- */

/* The most workers a runtime accepts. */
#define BT__MAX_WORKERS 65536

/* Where one worker goes. */
typedef struct bt__slot {
  int numa;  /* logical index among the placement's NUMA nodes */
  int core;  /* hwloc logical index of its core (of its PU when the
                topology has no cores) */
  int pu;    /* hwloc logical index of its PU */
  int pu_os; /* OS index of its PU */
  struct hwloc_bitmap_s *bind_set; /* what it binds to; NULL: BT_BIND_NONE */
} bt__slot;

/* A NUMA node that holds at least one worker. */
typedef struct bt__numa {
  int os_index;     /* hwloc OS index of the node */
  int logical;      /* hwloc logical index of the node */
  int first_worker; /* its workers are first_worker .. +workers-1 */
  int workers;
  struct hwloc_bitmap_s *cpuset;  /* node's cpuset within the allowed set */
  struct hwloc_bitmap_s *nodeset; /* the node alone */
} bt__numa;

typedef struct bt__placement {
  int workers;        /* slots */
  int numa_nodes;     /* nodes holding workers */
  int cores, pus;     /* cores and PUs of the allowed cpuset */
  int oversubscribed; /* workers > pus: several workers share a PU */
  bt__slot *slot;     /* [workers], ids are indexes */
  bt__numa *numa;     /* [numa_nodes] */
} bt__placement;

/* Place `workers` workers (0: one per core of the allowed set, at most
 * BT__MAX_WORKERS) on topo, in time linear in the PUs,
 * within allowed (NULL: the topology's allowed cpuset; it is intersected
 * with it anyway), binding as `bind` says. A pure function of its inputs:
 * workers fill the NUMA nodes node by node (contiguous ids per node), each
 * node getting a share proportional to its cores (to its PUs beyond one
 * worker per core), spread over cores first, then over the second PUs of
 * the cores, and so on, then wrapping around (oversubscribed). Returns
 * BT_OK, BT_EINVAL (workers < 0, bad bind), BT_ETOPO (no PU of the topology
 * in allowed), BT_ENOMEM. *out written only on success; free it with
 * bt__placement_free(). */
int bt__place(struct hwloc_topology *topo, const struct hwloc_bitmap_s *allowed,
              int workers, bt_bind bind, bt__placement *out);
void bt__placement_free(bt__placement *p);
/* Invariant checker: ids contiguous per node, every worker on its node's
 * allowed PUs, its bind set holding its PU and within its node. BT_OK or
 * BT_ESTATE with bt_errmsg(). Runs at create when BATON_DEBUG_CHECK=1. */
int bt__placement_check(const bt__placement *p);

/* ---- topology (core/topology.c) ---------------------------------------- */

/* Load a topology: desc NULL is this machine; else the path of an existing
 * XML file, or an hwloc synthetic description. Returns BT_OK, BT_EINVAL
 * (desc names no regular file and is not a valid synthetic description: a
 * bad option value), BT_ETOPO (the XML file does not parse, hwloc cannot
 * load the description, or this machine cannot be read). */
int bt__topology_load(const char *desc, struct hwloc_topology **topo);
void bt__topology_free(struct hwloc_topology *topo);
/* Whether hwloc says topo describes the running system (false for a
 * synthetic or XML topology, including one that hwloc's own HWLOC_XMLFILE
 * or HWLOC_SYNTHETIC environment variables substituted). */
int bt__topology_is_this_system(struct hwloc_topology *topo);

/* The cpuset the process may use on topo: on this machine the union of the
 * bindings of the process's threads (what taskset or mpirun --bind-to gave
 * it) within the topology's allowed cpuset; on another topology, the
 * topology's allowed cpuset. Returns BT_OK or BT_ENOMEM. */
int bt__topology_allowed(struct hwloc_topology *topo, int this_machine,
                         struct hwloc_bitmap_s **allowed);

/* Bind the calling thread to set. BT_OK, or BT_ETOPO with hwloc's errno in
 * bt_errmsg(). */
int bt__topology_bind_thread(struct hwloc_topology *topo,
                             const struct hwloc_bitmap_s *set);

/* The calling thread's current binding as an hwloc list string ("0-3,8")
 * written into buf; BT_OK or BT_ETOPO. */
int bt__topology_thread_binding(struct hwloc_topology *topo, char *buf,
                                size_t len);

/* Print the topology: packages, NUMA nodes with their PUs, cores, PUs. */
void bt__topology_print(struct hwloc_topology *topo,
                        const struct hwloc_bitmap_s *allowed, FILE *out);

/* Cpusets as hwloc list strings ("0-3,8"), so that tests and tools need no
 * hwloc.h. parse: BT_OK, BT_EINVAL, BT_ENOMEM. */
int bt__cpuset_parse(const char *list, struct hwloc_bitmap_s **set);
void bt__cpuset_free(struct hwloc_bitmap_s *set);
/* Whether the OS index `cpu` is in set (0 for a NULL set). */
int bt__cpuset_isset(const struct hwloc_bitmap_s *set, int cpu);
/* Writes the list string of set into buf (NULL set: "none"). */
void bt__cpuset_format(const struct hwloc_bitmap_s *set, char *buf, size_t len);

/* ---- ranks sharing a node (core/share.c) ------------------------------- */

typedef struct bt__share {
  int rank, size;      /* node-local rank and ranks on the node; -1, 0: none */
  const char *source;  /* the launcher variable they came from */
  int applied;         /* the allowed cpuset was cut to this rank's share */
  int overlap;         /* more ranks than PUs: some ranks share a PU */
  int launcher_bound;  /* bound narrower by the launcher: cpuset kept */
} bt__share;

/* The node-local rank and size from the launcher's environment (Open MPI,
 * MPICH Hydra, PMI): 1 found, 0 none, BT_EINVAL (a value that is no
 * integer, or rank >= size) naming the variable and value. */
int bt__local_ranks(int *rank, int *size, const char **source);

/* Cut `allowed` to this rank's share of the node when several ranks share
 * it (see share.c): its cores split in equal contiguous runs in the order
 * NUMA node by NUMA node, rank r taking run r (PUs when cores are fewer
 * than ranks, one PU each round robin when PUs are too). A pure function
 * of topology, allowed and environment (BATON_SHARE, the launcher's local
 * rank variables). BT_OK, BT_EINVAL, BT_ENOMEM; *out written on success. */
int bt__share_restrict(struct hwloc_topology *topo,
                       struct hwloc_bitmap_s *allowed, bt__share *out);

/* ---- the runtime (core/runtime.c, core/worker.c) ---------------------- */

/* One worker: its queue, its thread. Padded to cache lines so that posts to
 * one worker do not slow down another. */
typedef struct bt__worker {
  BT_ALIGNED_CL bt__lock lock;
  bt__task *head, *tail;   /* protected by lock */
  _Atomic int closed;      /* written under lock; read by the idle check */
  _Atomic int queued;      /* tasks in the list; changed under lock */
  _Atomic int running;     /* tasks running (nested: run_one); written by
                              the worker only, read as a load snapshot */
  _Atomic int sleeping;    /* the worker may be in futex_wait on the
                              runtime's bell; a waker may clear it (claims
                              the wake) */
  /* Work-stealing deque (Chase-Lev) of the jobs this worker spawned with
   * BT_ANY_WORKER: the worker pushes and pops at bottom (LIFO), idle or
   * waiting workers steal at top (FIFO). Fixed capacity; a full deque
   * overflows to the worker's own queue. seq_cst on top and bottom (the
   * owner's pop and a thief's steal race for the last job: Dekker). */
  BT_ALIGNED_CL _Atomic int64_t top;
  BT_ALIGNED_CL _Atomic int64_t bottom;
  _Atomic(bt__task *) *deque; /* [BT__DEQUE_CAP], immutable pointer */
  /* Its counters (steals, wake-ups, times) are in rt->diag (stats.c). */
  uint64_t team_seen;       /* owner only: the last team call it looked at */
  int stand_down;           /* owner only: the caller stood in for it in
                               that call: park without spinning */
  int caller_elsewhere;     /* owner only: in the last team call it looked
                               at, the caller ran another worker's part
                               (so it holds another core): spin with pause */
  pthread_t thread;         /* creator and destroyer only */
  int id;                   /* immutable */
  int started;             /* creator only: the thread exists */
  int bind_status;         /* written by the worker before it counts
                              itself started; read after the barrier */
  char bind_msg[256];      /* same */
  struct bt_runtime *rt;   /* immutable */
} bt__worker;

struct bt_runtime {
  uint32_t magic; /* BT_RUNTIME_MAGIC while alive */
  int nworkers;   /* immutable, as every field below */
  bt_bind bind;
  int this_machine; /* topology is this machine */
  int binds;        /* workers try to bind */
  int bound;        /* every worker bound */
  struct hwloc_topology *topo;
  struct hwloc_bitmap_s *allowed;
  bt__placement place;
  bt__worker *workers;      /* [nworkers] */
  _Atomic uint32_t started; /* start barrier: workers counted */
  /* The shared queue: jobs for any worker scheduled from threads that are
   * not workers (FIFO, any worker takes from it). */
  BT_ALIGNED_CL bt__lock inject_lock;
  bt__task *inject_head, *inject_tail; /* protected by inject_lock */
  _Atomic int injected;      /* tasks in it; changed under inject_lock */
  _Atomic int inject_closed; /* written under inject_lock by destroy */
  /* Workers spinning in search of work (seq_cst: a poster of stealable
   * work wakes a sleeper only when no worker is spinning). */
  BT_ALIGNED_CL _Atomic int spinning;
  _Atomic uint32_t wake_next; /* where the next wake's scan starts (hint) */
  /* The futex word every parked worker sleeps on, each with its own bit
   * (FUTEX_WAIT_BITSET, bit id % 32): a waker bumps it (release) and wakes
   * one worker's bit, or every bit with one call (a team offer). */
  BT_ALIGNED_CL _Atomic uint32_t bell;
  _Atomic int sleepers; /* workers announced asleep (seq_cst: the team's
                           side of the handshake in sleep_idle()) */
  _Atomic uint32_t sleeper_bits; /* their bell bits (exact up to 32
                                    workers; same handshake) */
  /* The team (core/team.c): the kernel call on offer to every worker. */
  struct bt__team {
    /* 1 while a call holds the team (CAS 0 -> 1, acquire; release store
     * of 0 at its end): one call at a time, others post their parts. */
    BT_ALIGNED_CL _Atomic int busy;
    uint64_t gen; /* the holder's: the number of its call */
    /* The call on offer: gen << BT__TEAM_PART_BITS | nparts, 0 before the
     * first. Stored (seq_cst, a release) by the holder after fn, ctx and
     * pending; loaded by every idle worker. */
    BT_ALIGNED_CL _Atomic uint64_t offer;
    bt__team_fn fn; /* written by the holder before the offer */
    /* The part the caller runs itself in the call on offer (its own as a
     * worker, the last one on a spare core, or that of the worker whose
     * core it holds), -1: none. Stored (relaxed) before the offer; a hint
     * for the workers' idle spin (worker.c). */
    _Atomic int standin;
    void *ctx;      /* same */
    /* Parts not finished | BT__JOIN_WAITER (the caller sleeps on it). */
    BT_ALIGNED_CL _Atomic uint32_t pending;
    /* [nworkers]: claim[p] is the gen of the last call in which part p was
     * claimed; a thread that saw call g claims p by a CAS from a value
     * below g to g. Values only grow. */
    _Atomic uint64_t *claim;
    /* [nmates]: the worker bound to the PU of that OS index, -1: none
     * (immutable; used only when the workers are bound). */
    int *mate;
    int nmates;
  } team;
  bt__share share;          /* this rank's share of its node */
  struct bt__diag *diag;    /* counters, report, trace (core/stats.c) */
};

/* The team's offer word: the part count in its low bits (BT__MAX_WORKERS
 * fits), the call's number above. */
#define BT__TEAM_PART_BITS 20

/* The team's worker side (core/team.c). offered: whether a call w has not
 * looked at is on offer (seq_cst: the sleeper's side of the handshake with
 * bt__team_run()). help: claim and run parts of it (home part first, then
 * its node's, then any); returns the number of parts it ran, and sets
 * w->stand_down when the caller took w's part as its own. */
int bt__team_init(bt_runtime *rt); /* BT_OK or BT_ENOMEM */
void bt__team_fini(bt_runtime *rt);
int bt__team_offered(const bt__worker *w);
int bt__team_help(bt__worker *w);
/* Tasks waiting for w: posted to its queue and on its deque (a snapshot,
 * any thread; core/worker.c). */
int64_t bt__worker_queue_len(const bt__worker *w);
/* Wake every sleeping worker of rt but `except` (-1: none) with one
 * system call, if any sleeps (core/worker.c). */
void bt__workers_wake_all(bt_runtime *rt, int except);

/* Capacity of a worker's deque (a power of two). */
#define BT__DEQUE_CAP 4096

enum { BT_RUNTIME_MAGIC = 0x62747274u /* "btrt" */ };

/* Start the thread of every worker of rt (rt->place set), wait until each
 * has bound itself. BT_OK or BT_ENOMEM / BT_ETOPO; on failure every started
 * thread is stopped and joined. */
int bt__workers_start(bt_runtime *rt);
/* Close every queue (posts answer BT_ESTATE), let each worker run what is
 * queued, join them. */
void bt__workers_stop(bt_runtime *rt);

/* Diagnostics (core/stats.c, core/trace.c): create reads and validates the
 * BATON_STATS, BATON_DISPLAY_AFFINITY, BATON_TRACE and BATON_WATCHDOG
 * variables and sets up the counters (BT_OK, BT_EINVAL, BT_ENOMEM; after
 * placement, before the workers start); started prints the affinity lines;
 * destroy (after the workers stopped) prints the report and the slices
 * still held, writes the trace and frees. */
typedef struct bt__diag bt__diag;
int bt__diag_create(bt_runtime *rt);
void bt__diag_started(bt_runtime *rt);
void bt__diag_destroy(bt_runtime *rt);
int bt__trace_open(bt_runtime *rt, const char *path);
void bt__trace_close(bt_runtime *rt);
/* The trace ring of worker `id` of rt, for its thread (trace.c). */
void bt__trace_attach(bt_runtime *rt, int id);

/* Resolve options and environment (BATON_WORKERS, BATON_BIND,
 * BATON_TOPOLOGY): BT_OK or BT_EINVAL with a sentence. */
int bt__options_resolve(const bt_options *opt, bt_options *out);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_RUNTIME_INT_H */
