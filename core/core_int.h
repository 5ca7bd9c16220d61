/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * core_int.h: core's private interface, for core, array, kernels and mpi.
 * Never installed. Only modules above core (array, kernels, mpi) see it.
 */
#ifndef BATON_CORE_INT_H
#define BATON_CORE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "baton.h"

#if defined(__GNUC__) || defined(__clang__)
#define BT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BT_LIKELY(x) __builtin_expect(!!(x), 1)
#define BT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define BT_PRINTF(f, a)
#define BT_LIKELY(x) (x)
#define BT_UNLIKELY(x) (x)
#endif

#define BT_CACHELINE 64
#define BT_ALIGNED_CL _Alignas(BT_CACHELINE)

/* Internal invariants only, never user input. Active in every build: an
 * invariant broken in production is better caught than silently spread. */
#define BT_ASSERT(cond)                                     \
  do {                                                      \
    if (BT_UNLIKELY(!(cond)))                               \
      bt__assert_fail(#cond, __FILE__, __LINE__, __func__); \
  } while (0)

/* bt__ functions have default visibility so that a shared libbaton can
 * export the few that libbaton_mpi calls, under the private version node
 * BATON_PRIVATE_<soversion> (cmake/BatonAbi.cmake); the rest stay local.
 * They are not API. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

_Noreturn void bt__assert_fail(const char *cond, const char *file, int line,
                               const char *func);

/* ---- job records (core/jobrec.c) -------------------------------------- */

/* Memory for one job record (task + future, core/job.c) of `bytes`, from
 * the calling thread's recycled records of its size class when it has one.
 * *cls gets the class to hand back to bt__jobrec_free() (-1: plain malloc,
 * too large to recycle). NULL when out of memory. Thread-safe (each thread
 * has its own cache; a shared depot under a mutex behind them). */
void *bt__jobrec_alloc(size_t bytes, int *cls);
/* Gives a record back (any thread, NULL ignored): kept for reuse by this
 * thread, or the depot, or freed. The caller has killed its magic word. */
void bt__jobrec_free(void *rec, int cls);
/* Frees the records the depot and the calling thread keep (called by
 * bt_runtime_destroy, so an ended runtime does not keep its peak). */
void bt__jobrec_trim(void);

/* ---- errors (core/status.c) ------------------------------------------- */

/* Record the calling thread's last failure as a sentence and return code,
 * so error paths read `return bt__fail(BT_EINVAL, "axis %d of %d", ...)`. */
int bt__fail(int code, const char *fmt, ...) BT_PRINTF(2, 3);

/* The failure of a call given a bad handle: BT_EINVAL with a sentence that
 * names the call, the kind of handle and the pointer ("bt_send: 0x5618...
 * is not a live channel (released, or never one)"). Every handle check
 * (bt__chan_get, bt__box_get, bt__runtime_check...) answers through it. */
int bt__bad_handle(const char *op, const char *kind, const void *handle);

/* What a freed object's magic word is overwritten with, so that a released
 * handle is told from a live one in every build type ("dead"). */
#define BT__MAGIC_DEAD 0x64656164u
/* Poison a magic word just before its object is freed. Volatile: a plain
 * store right before free() is a dead store the compiler removes. */
static inline void bt__magic_kill(uint32_t *magic) {
  *(volatile uint32_t *)magic = BT__MAGIC_DEAD;
}

/* The largest element a type may describe (channels, jobs, the bridge). */
#define BT__TYPE_MAX_SIZE ((size_t)1 << 30)

/* BT_OK if t is NULL (no element) or a type with a size in 1 ..
 * BT__TYPE_MAX_SIZE, else BT_EINVAL naming op, the type and its size.
 * Checked before any size arithmetic. */
int bt__type_check(const bt_type *t, const char *op);

/* ---- caller-filled structs across versions (core/abi.c) ----------------- */

/* A struct the caller fills, starting with size_t struct_size: its name,
 * the initialiser that sets the size, the smallest size accepted (the
 * fields without a default) and the ends of its fields, ascending, the last
 * being this library's sizeof. */
typedef struct bt__struct_layout {
  const char *name, *init;
  size_t min, nends;
  const size_t *ends;
} bt__struct_layout;
#define BT__FIELD_END(type, field) \
  (offsetof(type, field) + sizeof(((type *)0)->field))

/* 0 if size is one of l's layouts (a prefix of this library's that ends on
 * a field), else -1 and a sentence in why. Inline: mpi/ uses it too. */
static inline int bt__struct_size_why(const bt__struct_layout *l, size_t size,
                                      char *why, size_t len) {
  size_t max = l->ends[l->nends - 1];
  if (size == 0)
    return snprintf(why, len,
                    "%s.struct_size is 0: initialise it with %s (or "
                    ".struct_size = sizeof(%s))",
                    l->name, l->init, l->name),
           -1;
  if (size > max)
    return snprintf(why, len,
                    "%s.struct_size %zu is larger than this library's %zu: "
                    "the program was compiled against a newer baton than "
                    "this one (%s)",
                    l->name, size, max, BT_VERSION_STRING),
           -1;
  for (size_t i = 0; i < l->nends; i++)
    if (l->ends[i] == size && size >= l->min) return 0;
  return snprintf(why, len,
                  "%s.struct_size %zu is not the size of any %s layout "
                  "(%zu .. %zu): initialise it with %s",
                  l->name, size, l->name, l->min, max, l->init),
         -1;
}

/* Validate in->struct_size (BT_EINVAL naming op and the size when it is 0,
 * larger than this library's or not the end of a field) and write to out
 * the caller's fields over the defaults of the fields its header lacked. */
int bt__options_adopt(const bt_options *in, bt_options *out, const char *op);
int bt__job_adopt(const bt_job *in, bt_job *out, const char *op);
/* BT_OK if t->struct_size is the size of a bt_type layout (called by
 * bt__type_check). */
int bt__type_size_check(const bt_type *t, const char *op);
/* Whether type t has field (a field added after bt_type's first layout is
 * read only when this says so). */
#define BT__TYPE_HAS(t, field) \
  ((t)->struct_size >= offsetof(bt_type, field) + sizeof((t)->field))

/* Whether BATON_DEBUG_CHECK=1: invariant checkers then run on every
 * operation. Read once per process. */
bool bt__debug_checks(void);

/* ---- threads and time (core/wait.c) ------------------------------------ */

/* A process-unique, never reused, non-zero id of the calling thread: the
 * "holder" that handles (slices, boxes) record. */
uint64_t bt__thread_id(void);

/* Monotonic clock in nanoseconds. */
int64_t bt__now_ns(void);

/* Deadline of a timeout: -1 stays -1 (forever), 0 stays 0 (poll), else
 * now + ns. */
int64_t bt__deadline(int64_t timeout_ns);

/* Futex wait on a 32-bit atomic: sleeps while *addr == expected, until woken,
 * or until the absolute monotonic deadline (ns; -1 forever). Returns
 * BT_OK (woken or value changed, maybe spuriously) or BT_ETIMEDOUT. */
int bt__futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                   int64_t deadline_ns);
/* Wake up to n waiters (INT32_MAX: all) on addr. */
void bt__futex_wake(_Atomic uint32_t *addr, int n);

/* How many times to spin before sleeping: adapts to the number of threads
 * that are spinning now versus the cores of the process (a thread never
 * spins when waiters outnumber cores). Pair each bt__spin_begin() with a
 * bt__spin_end(). */
int bt__spin_begin(void);
void bt__spin_end(void);
/* One polite busy-wait step (pause instruction). */
void bt__cpu_relax(void);
/* Number of CPUs the process may use: its first thread's affinity when
 * the library was loaded (cached; see wait.c). */
int bt__ncpu(void);

/* ---- runtime and workers (core/runtime.c, core/worker.c) -------------- */

/* A unit of work queued on a worker. Intrusive: the owner embeds it in its
 * own struct and recovers it in run(). The queue never frees a task. */
typedef struct bt__task {
  void (*run)(struct bt__task *t);
  struct bt__task *next; /* owned by the queue while queued */
} bt__task;

/* Queue t on worker (0 .. workers-1) and wake it. Thread-safe. Returns
 * BT_OK, BT_EINVAL (worker out of range), BT_ESTATE (runtime stopping). */
int bt__worker_post(bt_runtime *rt, int worker, bt__task *t);
/* Take t back from worker's queue if it is still there (not yet popped):
 * 1 if it was removed (the caller owns it again and it will not run there),
 * 0 if the worker took it already or it was never posted. Thread-safe; O(the
 * queue's length). */
int bt__worker_unpost(bt_runtime *rt, int worker, bt__task *t);
/* The longest an idle worker spins looking for its next task before it
 * parks on its futex (a quarter of it when workers outnumber cores). */
#define BT__IDLE_SPIN_NS (100 * 1000)

/* The team (core/team.c): a fork-join of `nparts` parts (1 .. workers)
 * offered to every worker of rt at once. fn(ctx, p) runs part p, exactly
 * once, on whichever thread claims it first: worker p (its home part, so
 * NUMA-placed data is touched where it lives), an idle worker after its own
 * part, or the caller. The caller runs `own` first (-1: none; claimed
 * before the offer; its worker then parks at once and is not woken while
 * the caller stands in for it), then claims the parts of parked workers
 * at once and every part unclaimed 3 us after the offer, busy-waiting
 * meanwhile (for a thread that shares a core with a worker, use it on
 * small parts only: kernels/parallel.c). Then it waits until every part
 * is finished; it never waits for a part no thread runs, so a call ends
 * even if no worker comes. Returns 1 when the call ran (every part
 * finished), 0 when the team is busy with another call (another thread's,
 * or the caller's own, nested): nothing ran; post the parts with
 * bt__worker_post instead. fn must not fail (it records its own status)
 * and must not wait for other parts. */
typedef void (*bt__team_fn)(void *ctx, int part);
int bt__team_run(bt_runtime *rt, int nparts, int own, bt__team_fn fn,
                 void *ctx);
/* The worker bound to the PU the calling thread runs on now, whose core
 * the caller takes while it runs (-1: none, or workers not bound): the
 * part a caller that has no core of its own runs first. */
int bt__team_mate(const bt_runtime *rt);
/* "core", "pu", "numa" or "none", as BATON_BIND spells it ("?" for a
 * value outside the enum). */
const char *bt__bind_name(bt_bind b);
/* The sleeping end of a fork-join's join, after the caller's spin: sets
 * BT__JOIN_WAITER in *pending (a countdown of unfinished parts, whose last
 * decrement wakes the futex when it sees the bit) and sleeps until the
 * count is 0, the watchdog reporting a long wait. A caller that is worker
 * `self` of rt (else -1) naps instead (20 us doubling to 1 ms) and runs its
 * own queue's tasks between naps: a post to it does not wake this futex.
 * nparts only names the call's size in the report. */
#define BT__JOIN_WAITER 0x80000000u
void bt__join_sleep(bt_runtime *rt, _Atomic uint32_t *pending, int nparts,
                    int self);
/* Queue t where any worker of rt may run it: on the calling worker's own
 * deque when the caller is a worker of rt (it runs it next, LIFO, unless
 * an idle worker steals it first), else on the runtime's shared queue;
 * wakes a sleeping worker when none is spinning. Returns BT_OK or
 * BT_ESTATE (runtime stopping). */
int bt__worker_spawn(bt_runtime *rt, bt__task *t);
/* Tasks queued or running on worker now (a snapshot for least-loaded). */
int bt__worker_load(const bt_runtime *rt, int worker);
/* Called on worker `worker` of rt (bt_self() == worker): run one task it
 * may run if there is one: from its own queue, its own deque (newest
 * first), the shared queue, or stolen from another worker's deque (its
 * NUMA node's first). Returns 1 if one ran, 0 otherwise. Used by waits on
 * a worker so jobs that wait on jobs never deadlock; a run that finds the
 * stack low runs on a fresh stack segment (core/worker.c), so nested waits
 * never overflow it. */
int bt__worker_run_one(bt_runtime *rt, int worker);
/* The runtime the calling thread is a worker of, NULL on other threads. */
bt_runtime *bt__self_runtime(void);
/* BT_OK if rt is a live runtime, else bt__bad_handle(op, "runtime", rt):
 * every entry point that takes a runtime calls it first. */
int bt__runtime_check(const bt_runtime *rt, const char *op);
/* The least loaded worker, among those on NUMA node numa (-1: any). */
int bt__least_loaded(const bt_runtime *rt, int numa);

/* The runtime's hwloc topology (an hwloc_topology_t), for array placement.
 * The pointer is valid while rt lives. Only code allowed to include
 * hwloc.h uses it. */
void *bt__runtime_topology(const bt_runtime *rt);
/* The hwloc cpuset (hwloc_const_cpuset_t) of the runtime's NUMA node numa
 * (logical index among the runtime's nodes) and its hwloc nodeset. */
const void *bt__runtime_numa_cpuset(const bt_runtime *rt, int numa);
const void *bt__runtime_numa_nodeset(const bt_runtime *rt, int numa);
/* The OS index of the runtime's NUMA node numa, -1 if out of range. */
int bt__runtime_numa_os_index(const bt_runtime *rt, int numa);
/* The runtime's logical NUMA index of an OS node index, -1 if none. */
int bt__runtime_numa_from_os(const bt_runtime *rt, int os_index);
/* The node-local rank and size the runtime found in the launcher's
 * environment (core/share.c): 0 none, 1 found, 2 found and the runtime
 * took its share of the node's cores. */
int bt__runtime_local_rank(const bt_runtime *rt, int *rank, int *size);
/* 1 when the topology is this machine (not synthetic, not XML). */
int bt__runtime_is_this_machine(const bt_runtime *rt);

/* ---- channels: the remote extension (core/chan.c) --------------------- */

/* A remote channel is a bt_chan whose sends go to a local channel `out`
 * that a transport drains, and whose receives come from a local channel
 * `in` that the transport fills. bt_send/bt_recv/bt_try_*, the timeouts and
 * bt_select act on out/in respectively and call the hooks after success, so
 * select mixes local and remote channels with no special case. */
typedef struct bt__chan_remote {
  bt_chan *out;                  /* reference taken by the remote chan */
  bt_chan *in;                   /* reference taken by the remote chan */
  void (*after_send)(void *ctx); /* an element was put into out */
  void (*after_recv)(void *ctx); /* an element was taken from in */
  int (*close)(void *ctx);       /* bt_chan_close on the remote chan */
  void (*destroy)(void *ctx);    /* last release of the remote chan */
  void *ctx;
  /* Optional (NULL: BT_ECLOSED). When an operation on the remote chan finds
   * out (op BT_OP_SEND) or in (BT_OP_RECV) closed, the status it returns
   * instead of BT_ECLOSED: the transport's failure (BT_ETYPE when the two
   * ends disagree, BT_EMPI), with bt_errmsg() set by the hook in the
   * calling thread. Receives (bt_recv, try, timeout, a select's chosen
   * case) and sends alike. */
  int (*closed_status)(void *ctx, int op);
  /* Optional, all three or none (NULL: none): caller-driven progress. A
   * thread about to park in an operation on the remote chan (a bt_send,
   * bt_recv or timed operation that must wait, or a bt_select with a case
   * on it) first calls wait_begin(ctx); if that returns nonzero, it calls
   * wait_poll(ctx, since_ns) again and again, since_ns being when the wait
   * began, while its operation is not complete and its deadline has not
   * passed, until wait_poll returns 0; then wait_end(ctx, completed) once,
   * and parks if the operation is still not complete. The calls are made
   * with no channel lock held and the caller's waiter queued on out (send)
   * or in (receive), so the transport may complete the operation itself
   * (take from out, deliver into in) instead of leaving it to its own
   * thread. A receive first makes the same calls with no waiter queued,
   * taking from in's ring between polls (chan.c's poll_recv()), and only
   * then queues and parks, passing the since_ns of that first round. */
  int (*wait_begin)(void *ctx);
  int (*wait_poll)(void *ctx, int64_t since_ns);
  void (*wait_end)(void *ctx, int completed);
  /* Optional (NULL: none): the far end in words ("peer rank 1, tag 7, 2
   * credits left"), for BATON_WATCHDOG's report of a long wait. Called
   * with no channel lock held. */
  void (*describe)(void *ctx, char *buf, size_t len);
  /* Optional (NULL: none): a send that may skip out. A send on the remote
   * chan first calls send_direct(ctx, elem); if it returns BT_OK the
   * transport has sent the element from the caller's buffer, is done with
   * that buffer, and the send is complete (after_send is not called);
   * anything else (nothing changed) and the send goes through out as
   * usual. For a type with on_send it is called after on_send(BT_CHECKED),
   * as the element would enter out (BT_OK: the transport took it, as its
   * pump takes an element from out; anything else: it goes into out as
   * any send, on_send already done). The transport must keep the
   * channel's order: skip out only when nothing this thread put there
   * earlier is still waiting in it. */
  int (*send_direct)(void *ctx, const void *elem);
} bt__chan_remote;
int bt__chan_create_remote(const bt_type *t, const bt__chan_remote *r,
                           bt_chan **ch);

/* A lent slot, for a buffered channel with one sender only (a transport's
 * `in`, fed under the transport's lock) and a type without on_drop or
 * on_recv (plain values): the producer may receive an
 * element straight into the ring instead of copying it in. lend returns
 * the slot the next send fills when it is free now (NULL: capacity 0,
 * closed, full, or its last reader still copying out); nothing changes
 * and no reader sees it. The producer writes the element there, over any
 * time, sends nothing else meanwhile, and then either publishes it (as a
 * send of it would: to a waiting receiver or the ring; BT_OK, or
 * BT_ECLOSED if the channel was closed meanwhile: dropped) or simply
 * never does (the slot stays free). */
void *bt__chan_lend(bt_chan *ch);
int bt__chan_publish(bt_chan *ch);

/* Invariant checker of a channel: BT_OK or BT_ESTATE with bt_errmsg(). */
int bt__chan_check(const bt_chan *ch);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#include "stats_int.h" /* diagnostics hooks */

#endif /* BATON_CORE_INT_H */
