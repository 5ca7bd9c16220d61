/* SPDX-License-Identifier: BSD-3-Clause */
/* worker.c: worker threads, their task queues, and the idle sleep.
 *
 * Each worker owns a FIFO of intrusive tasks behind a lock (the spinning
 * futex lock channels use: a post rarely holds it for long); any thread
 * posts, only the worker pops. An idle worker spins briefly (as the
 * adaptive spin policy allows), then announces that it sleeps and sleeps on
 * a futex word. A post touches that word and makes the wake system call
 * only when it sees the announcement: the `sleeping` flag and the `queued`
 * count form a Dekker handshake (both seq_cst), so either the post sees the
 * sleeper or the sleeper sees the task. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "runtime_int.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BT__ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define BT__TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(BT__ASAN)
#define BT__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(BT__TSAN)
#define BT__TSAN 1
#endif
#ifdef BT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef BT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* The bell (rt->bell): every worker parks on one futex word with its own
 * bit, so that a post wakes its worker alone and a team offer wakes every
 * parked worker with one system call. Workers whose ids are equal modulo
 * 32 share a bit: a wake for one may wake the other, which finds nothing
 * and parks again. */
static uint32_t bell_bit(int id) {
  return UINT32_C(1) << (id % 32);
}

static void bell_wait(bt_runtime *rt, uint32_t seen, int id) {
  syscall(SYS_futex, (uint32_t *)&rt->bell, FUTEX_WAIT_BITSET_PRIVATE, seen,
          NULL, NULL, bell_bit(id));
}

/* Rings for the workers of `bits`: all that sleep on them wake. */
static void bell_ring(bt_runtime *rt, uint32_t bits) {
  /* release: pairs with the acquire load of bell in sleep_idle(): a
   * sleeper that read the bell before this bump does not sleep through. */
  atomic_fetch_add_explicit(&rt->bell, 1, memory_order_release);
  syscall(SYS_futex, (uint32_t *)&rt->bell, FUTEX_WAKE_BITSET_PRIVATE,
          INT32_MAX, NULL, NULL, bits);
}

static _Thread_local int self_id = -1;
static _Thread_local bt_runtime *self_rt;

int bt_self(void) {
  return self_id;
}

bt_runtime *bt__self_runtime(void) {
  return self_rt;
}

static bt__task *pop(bt__worker *w, int *closed) {
  /* Nothing queued: answer without the lock (two loads instead of two
   * read-modify-writes on each turn of the worker's loop). closed first,
   * acquire: pairs with the seq_cst store in close_queue(), made under the
   * lock after every post it let through, so queued read after it counts
   * each of them. A post racing with this read is seen on the next turn
   * or by the idle handshake (has_work()). */
  int shut = atomic_load_explicit(&w->closed, memory_order_acquire);
  if (atomic_load_explicit(&w->queued, memory_order_acquire) == 0) {
    *closed = shut;
    return NULL;
  }
  bt__lock_acquire(&w->lock);
  bt__task *t = w->head;
  if (t) {
    w->head = t->next;
    if (!w->head) w->tail = NULL;
    t->next = NULL;
    /* The task counts as running before it stops counting as queued, so
     * bt__worker_load() never reads an idle worker in between.
     * relaxed: running has one writer, this worker (nested through
     * bt__worker_run_one); the release below publishes it. */
    atomic_store_explicit(
        &w->running, atomic_load_explicit(&w->running, memory_order_relaxed) + 1,
        memory_order_relaxed);
    /* release: pairs with the acquire load of queued in bt__worker_load(),
     * which reads queued first: a reader that sees the decrement sees the
     * raised running count. No RMW is needed (queued changes only under
     * lock); only the increment in bt__worker_post() matters for the idle
     * handshake. */
    atomic_store_explicit(
        &w->queued, atomic_load_explicit(&w->queued, memory_order_relaxed) - 1,
        memory_order_release);
  }
  /* relaxed: written under lock, which we hold. */
  *closed = atomic_load_explicit(&w->closed, memory_order_relaxed);
  bt__lock_release(&w->lock);
  return t;
}

/* Runs a task pop() or find_more() returned (already counted as running). */
static void run(bt__worker *w, bt__task *t) {
  t->run(t); /* t may be gone now: its owner recovers and frees it */
  /* release: pairs with the acquire in bt__worker_load(), so a scheduler
   * that sees the lower load also sees the task's effects. relaxed load:
   * this worker is running's only writer. */
  atomic_store_explicit(
      &w->running, atomic_load_explicit(&w->running, memory_order_relaxed) - 1,
      memory_order_release);
}

/* ---- the work-stealing deque (Chase-Lev, Le et al. 2013) ---------------
 *
 * seq_cst on top and bottom throughout (the paper's fences folded into the
 * accesses, which ThreadSanitizer understands): the owner's pop stores
 * bottom then loads top, a thief loads top then bottom and CASes top, so
 * the two never both take the last job. A slot is written (relaxed) before
 * the seq_cst store of bottom that publishes it (a release), and read by a
 * thief after its seq_cst (acquire) load of bottom, so the task's contents
 * are visible to whoever takes it. */
#define DEQUE_MASK ((int64_t)BT__DEQUE_CAP - 1)

static int deque_push(bt__worker *w, bt__task *t) {
  /* relaxed: bottom has one writer, this worker. */
  int64_t b = atomic_load_explicit(&w->bottom, memory_order_relaxed);
  int64_t top = atomic_load_explicit(&w->top, memory_order_seq_cst);
  if (b - top >= BT__DEQUE_CAP) return 0;
  atomic_store_explicit(&w->deque[b & DEQUE_MASK], t, memory_order_relaxed);
  atomic_store_explicit(&w->bottom, b + 1, memory_order_seq_cst);
  return 1;
}

static bt__task *deque_pop(bt__worker *w) {
  /* relaxed: bottom has one writer, this worker. */
  int64_t b = atomic_load_explicit(&w->bottom, memory_order_relaxed) - 1;
  /* Empty (top only grows, and only this worker pushes): skip the seq_cst
   * stores of the race for the last job. relaxed: a stale top is lower,
   * and then the full protocol below decides. */
  if (atomic_load_explicit(&w->top, memory_order_relaxed) > b) return NULL;
  atomic_store_explicit(&w->bottom, b, memory_order_seq_cst);
  int64_t top = atomic_load_explicit(&w->top, memory_order_seq_cst);
  if (top > b) { /* empty */
    atomic_store_explicit(&w->bottom, b + 1, memory_order_seq_cst);
    return NULL;
  }
  bt__task *t =
      atomic_load_explicit(&w->deque[b & DEQUE_MASK], memory_order_relaxed);
  if (top == b) { /* the last one: race the thieves for it */
    if (!atomic_compare_exchange_strong_explicit(&w->top, &top, top + 1,
                                                 memory_order_seq_cst,
                                                 memory_order_seq_cst))
      t = NULL;
    atomic_store_explicit(&w->bottom, b + 1, memory_order_seq_cst);
  }
  return t;
}

static bt__task *deque_steal(bt__worker *v) {
  int64_t top = atomic_load_explicit(&v->top, memory_order_seq_cst);
  int64_t b = atomic_load_explicit(&v->bottom, memory_order_seq_cst);
  if (top >= b) return NULL;
  /* relaxed: ordered after the acquire (seq_cst) load of bottom above. */
  bt__task *t =
      atomic_load_explicit(&v->deque[top & DEQUE_MASK], memory_order_relaxed);
  if (!atomic_compare_exchange_strong_explicit(&v->top, &top, top + 1,
                                               memory_order_seq_cst,
                                               memory_order_seq_cst))
    return NULL; /* another thief or the owner took it */
  return t;
}

static int64_t deque_size(const bt__worker *w) {
  /* seq_cst: the sleeper's side of the handshake in sleep_idle(). */
  int64_t b = atomic_load_explicit(&((bt__worker *)w)->bottom,
                                   memory_order_seq_cst);
  int64_t top =
      atomic_load_explicit(&((bt__worker *)w)->top, memory_order_seq_cst);
  return b > top ? b - top : 0;
}

int64_t bt__worker_queue_len(const bt__worker *w) {
  /* relaxed: a snapshot for the counters. */
  return atomic_load_explicit(&((bt__worker *)w)->queued,
                              memory_order_relaxed) +
         deque_size(w);
}

/* ---- the shared queue (jobs for any worker from other threads) -------- */

static bt__task *inject_take(bt_runtime *rt) {
  /* relaxed: a hint; the lock below synchronizes. */
  if (atomic_load_explicit(&rt->injected, memory_order_relaxed) == 0)
    return NULL;
  bt__lock_acquire(&rt->inject_lock);
  bt__task *t = rt->inject_head;
  if (t) {
    rt->inject_head = t->next;
    if (!rt->inject_head) rt->inject_tail = NULL;
    t->next = NULL;
    /* relaxed: changed under the lock we hold; only the increment in
     * bt__worker_spawn() matters to the idle handshake. */
    atomic_store_explicit(
        &rt->injected,
        atomic_load_explicit(&rt->injected, memory_order_relaxed) - 1,
        memory_order_relaxed);
  }
  bt__lock_release(&rt->inject_lock);
  return t;
}

/* Steal one job from another worker's deque: the workers of w's NUMA node
 * first (from the one after w, round), then the others. */
static bt__task *steal_any(bt__worker *w) {
  bt_runtime *rt = w->rt;
  int n = rt->nworkers;
  if (n < 2) return NULL;
  const bt__numa *node = &rt->place.numa[rt->place.slot[w->id].numa];
  int first = node->first_worker, count = node->workers;
  for (int i = 1; i < count; i++) {
    int v = first + (w->id - first + i) % count;
    bt__task *t = deque_steal(&rt->workers[v]);
    if (t) return t;
  }
  if (count == n) return NULL;
  for (int i = 1; i < n; i++) {
    int v = (w->id + i) % n;
    if (v >= first && v < first + count) continue;
    bt__task *t = deque_steal(&rt->workers[v]);
    if (t) return t;
  }
  return NULL;
}

/* A task for w beyond its own queue: its deque (newest first), the shared
 * queue, a steal. Counted as running, like pop()'s. */
static bt__task *find_more(bt__worker *w) {
  bt__task *t = deque_pop(w);
  if (!t) {
    if ((t = inject_take(w->rt)) == NULL && (t = steal_any(w)) == NULL)
      return NULL;
    bt__stat_steal();
  }
  /* relaxed: running as in pop(). */
  atomic_store_explicit(
      &w->running, atomic_load_explicit(&w->running, memory_order_relaxed) + 1,
      memory_order_relaxed);
  return t;
}

/* Whether w has anything to do (seq_cst: the sleeper's side of the
 * handshakes with bt__worker_post() and bt__worker_spawn()). `others`: look
 * at the other workers' deques too. */
static int has_work(const bt__worker *w, int others) {
  const bt_runtime *rt = w->rt;
  if (atomic_load_explicit(&((bt__worker *)w)->queued, memory_order_seq_cst) >
          0 ||
      atomic_load_explicit(&((bt__worker *)w)->closed, memory_order_seq_cst) ||
      atomic_load_explicit(&((bt_runtime *)rt)->injected,
                           memory_order_seq_cst) > 0 ||
      deque_size(w) > 0 || bt__team_offered(w))
    return 1;
  if (others)
    for (int i = 0; i < rt->nworkers; i++)
      if (i != w->id && deque_size(&rt->workers[i]) > 0) return 1;
  return 0;
}

/* Wake one sleeping worker of rt (any), if there is one. */
static void wake_one(bt_runtime *rt) {
  int n = rt->nworkers;
  /* relaxed: a rotating hint, so wakes spread over the workers. */
  uint32_t start =
      atomic_fetch_add_explicit(&rt->wake_next, 1, memory_order_relaxed);
  for (int i = 0; i < n; i++) {
    bt__worker *v = &rt->workers[(start + (uint32_t)i) % (uint32_t)n];
    int one = 1;
    /* seq_cst: the poster's side of the handshake in sleep_idle(); the
     * CAS claims the wake, so two posters do not both wake one sleeper. */
    if (atomic_load_explicit(&v->sleeping, memory_order_seq_cst) &&
        atomic_compare_exchange_strong_explicit(&v->sleeping, &one, 0,
                                                memory_order_seq_cst,
                                                memory_order_relaxed)) {
      bell_ring(rt, bell_bit(v->id));
      return;
    }
  }
}

void bt__workers_wake_all(bt_runtime *rt, int except) {
  /* seq_cst: the waker's side of the handshake in sleep_idle() (the offer
   * was stored seq_cst before): a worker that counted itself a sleeper
   * before the offer is seen here; one that counts itself after sees the
   * offer in its last look. The sleepers' own flags stay set (each clears
   * its own on waking): a post that reads one meanwhile rings once more. */
  if (rt->nworkers > 32) { /* bits are shared: ring for all */
    if (atomic_load_explicit(&rt->sleepers, memory_order_seq_cst) > 0)
      bell_ring(rt, UINT32_MAX);
    return;
  }
  /* The bits of the sleepers, but the one the caller stands in for. */
  uint32_t bits = atomic_load_explicit(&rt->sleeper_bits, memory_order_seq_cst);
  if (except >= 0) bits &= ~bell_bit(except);
  if (bits) bell_ring(rt, bits);
}

/* After stealable work was published (seq_cst): wake a sleeper unless a
 * worker is spinning, which will find it (see sleep_idle()). */
static void notify(bt_runtime *rt) {
  if (atomic_load_explicit(&rt->spinning, memory_order_seq_cst) > 0) return;
  wake_one(rt);
}

/* The idle spin: how long a worker that ran out of tasks keeps looking
 * for the next one before it parks on its futex (BT__IDLE_SPIN_NS, see
 * core_int.h and docs/runtime.md). Back-to-back kernel calls and job
 * batches then find their workers awake and pay no futex wake on either
 * side; a worker left idle parks after the bound, so an idle runtime costs
 * at most that much CPU per worker after each burst of work. */
enum {
  CLOCK_EVERY = 64,      /* pause steps between reads of the clock */
  CLOCK_EVERY_YIELD = 4, /* yields between reads (a yield is a syscall) */
};

/* Returns 1 if work or a close arrived within the bound. `start` is the
 * time the spin began; *last gets the time of its last read of the clock
 * (the counters take it as the spin's end: they read no clock of their
 * own, and it is late by at most `every` steps). */
static int spin_idle(bt__worker *w, int64_t start, int64_t *last) {
  /* When the workers fill every core, the thread that posts the next task
   * or waits for this one's result shares a core with a worker: a pause
   * loop would keep it off that core until the spin ends, a yield hands
   * the core over at once and still catches a task that follows soon.
   * But when the last kernel call's caller ran another worker's part, it
   * holds that worker's core, not this one: then a pause loop, which sees
   * the next offer within a few hundred ns and keeps its core (a yield on
   * a loaded machine hands it to another process for a whole time slice;
   * and it is a system call: with PTI and no PCID, as on the dev VM, one
   * that flushes the TLB). Should the caller move to this core meanwhile,
   * the spin's bound still holds. Measured, 10^5-element axpby, 2 workers
   * on 2 cores, interleaved in one process: 11.1-14.0 us per call with the
   * pause loop, 14.0-15.4 with yields, OpenMP 12.1-15.1 (loaded).
   * Oversubscribed (more workers than cores), each spinner takes a core
   * slice from a worker with work: spin a quarter as long. */
  int ncpu = bt__ncpu(), n = w->rt->nworkers;
  int own_core = n == ncpu && w->caller_elsewhere;
  int yield = n >= ncpu && !own_core;
  int64_t bound = n > ncpu ? BT__IDLE_SPIN_NS / 4 : BT__IDLE_SPIN_NS;
  int every = yield ? CLOCK_EVERY_YIELD : CLOCK_EVERY;
  int64_t until = start + bound;
  *last = start;
  for (int i = 1;; i++) {
    if (has_work(w, 1)) return 1;
    if (yield)
      sched_yield();
    else
      bt__cpu_relax();
    if (i % every == 0 && (*last = bt__now_ns()) >= until) return 0;
  }
}

/* The handshake with posters. A worker counts itself spinning while it
 * spins; before it sleeps it reads its futex word, stops counting, then
 * announces sleep and looks for work once more (all seq_cst). A poster
 * publishes work (seq_cst), then: bt__worker_post() wakes its worker if it
 * sees the announcement; bt__worker_spawn() wakes some sleeper only if it
 * sees no spinner. Either the last look finds the work, or the poster sees
 * the spinner (which then finds it) or the announcement (and wakes). */
static void sleep_idle(bt__worker *w) {
  bt_runtime *rt = w->rt;
  atomic_fetch_add_explicit(&rt->spinning, 1, memory_order_seq_cst);
  /* One clock read per idle period serves the spin's bound and the
   * counters (measured: two more reads per period cost the job benchmark
   * 5-36% when workers go idle after each job). */
  int64_t t0 = bt__now_ns(), t1 = t0;
  bt__stat_idle_begin(t0);
  int found = w->stand_down ? has_work(w, 1) : spin_idle(w, t0, &t1);
  w->stand_down = 0;
  bt__stat_spun(t0, t1);
  /* acquire: pairs with the release bumps in bell_ring(); read before
   * announcing sleep, so a waker that sees the announcement changes the
   * word and the futex wait returns at once. */
  uint32_t seen = atomic_load_explicit(&rt->bell, memory_order_acquire);
  atomic_fetch_sub_explicit(&rt->spinning, 1, memory_order_seq_cst);
  if (found) return;
  atomic_store_explicit(&w->sleeping, 1, memory_order_seq_cst);
  /* seq_cst: pairs with the loads in bt__workers_wake_all(). */
  atomic_fetch_add_explicit(&rt->sleepers, 1, memory_order_seq_cst);
  atomic_fetch_or_explicit(&rt->sleeper_bits, bell_bit(w->id),
                           memory_order_seq_cst);
  if (!has_work(w, 1)) {
    bell_wait(rt, seen, w->id);
    (void)bt__stat_slept(t1);
  }
  /* relaxed: hints for the team's wake; a stale one costs a wake call
   * (with up to 32 workers each bit is one worker's alone). */
  atomic_fetch_and_explicit(&rt->sleeper_bits, ~bell_bit(w->id),
                            memory_order_relaxed);
  atomic_fetch_sub_explicit(&rt->sleepers, 1, memory_order_relaxed);
  /* relaxed: only a hint to posters; a stale 1 costs one wake call. */
  atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

/* ---- stack segments for nested runs -------------------------------------
 *
 * A worker that waits (on a future, on a kernel's parts) runs queued tasks
 * inline, and such a task may wait in turn: fork-join recursion nests as
 * deep as the program's waits do (fib(30) as jobs, or a chain of 100 000
 * jobs each waiting on the next). Each nested run costs stack; so when less
 * than STACK_RESERVE of the current stack is left, bt__worker_run_one()
 * runs the task on a fresh segment (mmap'd, a guard page below, switched to
 * with swapcontext) and comes back to the waiter's stack when the task
 * returns. The nesting is then bounded by memory, not by the stack:
 * a stack never overflows through waits, whatever their depth. Segments are
 * cached per worker (SEG_CACHE of them) and unmapped at exit.
 * Under AddressSanitizer and ThreadSanitizer the switches are announced to
 * the sanitizer (fiber interfaces), as they require. */
#ifdef BT__ASAN
enum { STACK_RESERVE = 1 << 20, SEG_SIZE = 8 << 20 }; /* bigger frames */
#else
enum { STACK_RESERVE = 256 << 10, SEG_SIZE = 2 << 20 };
#endif
enum { SEG_GUARD = 64 << 10, SEG_CACHE = 4 };

static _Thread_local uintptr_t stack_lo; /* lowest usable address of the
                                            current stack; 0: unknown */
static _Thread_local void *seg_free;     /* cached segments, linked
                                            through their first word */
static _Thread_local int seg_cached;

typedef struct seg_call {
  bt__worker *w;
  bt__task *t;
  char *base;         /* the segment's mapping */
  uintptr_t saved_lo; /* the waiter's stack_lo */
  int failed;         /* getcontext failed: nothing ran */
  ucontext_t back, seg;
#ifdef BT__ASAN
  void *fake;
  const void *from_bottom;
  size_t from_size;
#endif
#ifdef BT__TSAN
  void *from_fiber, *fiber;
#endif
} seg_call;

static _Thread_local seg_call *seg_arg;

static void run(bt__worker *w, bt__task *t);

static char *seg_get(void) {
  if (seg_free) {
    void **link = seg_free;
    seg_free = *link;
    seg_cached--;
    return (char *)link - SEG_GUARD;
  }
  char *m = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1,
                 0);
  if (m == (char *)MAP_FAILED) return NULL;
  if (mprotect(m, SEG_GUARD, PROT_NONE) != 0) {
    munmap(m, SEG_SIZE);
    return NULL;
  }
  return m;
}

static void seg_put(char *m) {
  if (seg_cached >= SEG_CACHE) {
    munmap(m, SEG_SIZE);
    return;
  }
  /* the first word above the guard links the cache */
  void **link = (void **)((char *)m + SEG_GUARD);
  *link = seg_free;
  seg_free = link;
  seg_cached++;
}

static void seg_drain(void) {
  while (seg_free) {
    void **link = seg_free;
    seg_free = *link;
    munmap((char *)link - SEG_GUARD, SEG_SIZE);
  }
  seg_cached = 0;
}

static void seg_main(void) {
  seg_call *c = seg_arg;
#ifdef BT__ASAN
  __sanitizer_finish_switch_fiber(NULL, &c->from_bottom, &c->from_size);
#endif
  run(c->w, c->t);
#ifdef BT__ASAN
  /* NULL: this segment's frames die here */
  __sanitizer_start_switch_fiber(NULL, c->from_bottom, c->from_size);
#endif
#ifdef BT__TSAN
  __tsan_switch_to_fiber(c->from_fiber, 0);
#endif
  (void)swapcontext(&c->seg, &c->back); /* never comes back here */
  abort();
}

/* Runs c->t on the segment c->base (getcontext returns twice: everything
 * it needs after the switch lives in *c, in memory). */
static __attribute__((noinline)) void run_on_segment(seg_call *c) {
  if (getcontext(&c->seg) != 0) {
    c->failed = 1;
    return;
  }
  c->seg.uc_stack.ss_sp = c->base + SEG_GUARD;
  c->seg.uc_stack.ss_size = SEG_SIZE - SEG_GUARD;
  c->seg.uc_link = NULL;
  makecontext(&c->seg, seg_main, 0);
  c->saved_lo = stack_lo;
  stack_lo = (uintptr_t)c->base + SEG_GUARD;
  seg_arg = c;
#ifdef BT__TSAN
  c->from_fiber = __tsan_get_current_fiber();
  c->fiber = __tsan_create_fiber(0);
  __tsan_switch_to_fiber(c->fiber, 0);
#endif
#ifdef BT__ASAN
  __sanitizer_start_switch_fiber(&c->fake, c->base + SEG_GUARD,
                                 SEG_SIZE - SEG_GUARD);
#endif
  (void)swapcontext(&c->back, &c->seg);
#ifdef BT__ASAN
  __sanitizer_finish_switch_fiber(c->fake, NULL, NULL);
#endif
#ifdef BT__TSAN
  __tsan_destroy_fiber(c->fiber);
#endif
  stack_lo = c->saved_lo;
}

/* The switch itself, out of line: its context records (2 KiB) must not
 * weigh on every nested run's frame. */
static __attribute__((noinline)) void run_segmented(bt__worker *w,
                                                    bt__task *t, char *base) {
  seg_call c = {.w = w, .t = t, .base = base};
  run_on_segment(&c);
  seg_put(base);
  if (c.failed) run(w, t);
}

/* Runs t as run() does, on a fresh segment when the stack runs low. */
static void run_nested(bt__worker *w, bt__task *t) {
  char here;
  uintptr_t sp = (uintptr_t)&here;
  char *base;
  if (stack_lo == 0 || sp - stack_lo >= STACK_RESERVE ||
      (base = seg_get()) == NULL) {
    run(w, t); /* no segment to be had: the stack it is */
    return;
  }
  run_segmented(w, t, base);
}

static void stack_bounds(void) {
  pthread_attr_t attr;
  void *addr;
  size_t size;
  stack_lo = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0)
    stack_lo = (uintptr_t)addr;
  pthread_attr_destroy(&attr);
}

static void *worker_main(void *arg) {
  bt__worker *w = arg;
  bt_runtime *rt = w->rt;
  self_id = w->id;
  self_rt = rt;
  stack_bounds();
  bt__stat_attach(rt, w->id);
  bt__trace_attach(rt, w->id);
  w->bind_status = BT_OK;
  if (rt->binds) {
    w->bind_status =
        bt__topology_bind_thread(rt->topo, rt->place.slot[w->id].bind_set);
    if (w->bind_status != BT_OK)
      snprintf(w->bind_msg, sizeof w->bind_msg, "%s", bt_errmsg());
  }
  /* release: publishes bind_status and bind_msg; pairs with the acquire in
   * wait_started(). */
  atomic_fetch_add_explicit(&rt->started, 1, memory_order_release);
  bt__futex_wake(&rt->started, INT32_MAX);

  for (;;) {
    if (bt__team_help(w)) continue;
    int closed;
    bt__task *t = pop(w, &closed);
    if (!t) t = find_more(w);
    if (t) {
      w->caller_elsewhere = 0; /* tasks: the poster may share this core */
      run(w, t);
      continue;
    }
    if (closed) break;
    sleep_idle(w);
  }
  self_id = -1;
  self_rt = NULL;
  seg_drain();
  return NULL;
}

static void wait_started(bt_runtime *rt, uint32_t n) {
  for (;;) {
    /* acquire: pairs with the release increment in worker_main(). */
    uint32_t v = atomic_load_explicit(&rt->started, memory_order_acquire);
    if (v >= n) return;
    bt__futex_wait(&rt->started, v, -1);
  }
}

static void close_queue(bt__worker *w) {
  bt__lock_acquire(&w->lock);
  /* seq_cst: read by the idle check in sleep_idle(), which also sees the
   * release bump of the bell below through its acquire load. */
  atomic_store_explicit(&w->closed, 1, memory_order_seq_cst);
  bt__lock_release(&w->lock);
  bell_ring(w->rt, bell_bit(w->id));
}

static void stop_started(bt_runtime *rt) {
  for (int i = 0; i < rt->nworkers; i++)
    if (rt->workers[i].started) close_queue(&rt->workers[i]);
  for (int i = 0; i < rt->nworkers; i++)
    if (rt->workers[i].started) {
      pthread_join(rt->workers[i].thread, NULL);
      rt->workers[i].started = 0;
    }
}

int bt__workers_start(bt_runtime *rt) {
  int n = rt->nworkers, rc = BT_OK;
  size_t bytes = sizeof(bt__worker) * (size_t)n;
  rt->workers = aligned_alloc(BT_CACHELINE, bytes);
  if (!rt->workers) return bt__fail(BT_ENOMEM, "cannot allocate %d workers", n);
  memset(rt->workers, 0, bytes);
  atomic_init(&rt->inject_lock.word, 0);
  rt->inject_head = rt->inject_tail = NULL;
  atomic_init(&rt->injected, 0);
  atomic_init(&rt->inject_closed, 0);
  atomic_init(&rt->spinning, 0);
  atomic_init(&rt->wake_next, 0);
  atomic_init(&rt->bell, 0);
  atomic_init(&rt->sleepers, 0);
  atomic_init(&rt->sleeper_bits, 0);
  if ((rc = bt__team_init(rt)) != BT_OK) {
    free(rt->workers);
    rt->workers = NULL;
    return rc;
  }
  for (int i = 0; i < n; i++) {
    bt__worker *w = &rt->workers[i];
    w->id = i;
    w->rt = rt;
    atomic_init(&w->lock.word, 0);
    w->deque = aligned_alloc(BT_CACHELINE, sizeof *w->deque * BT__DEQUE_CAP);
    if (!w->deque) {
      while (i-- > 0) free(rt->workers[i].deque);
      bt__team_fini(rt);
      free(rt->workers);
      rt->workers = NULL;
      return bt__fail(BT_ENOMEM, "cannot allocate the deques of %d workers",
                      n);
    }
    for (int k = 0; k < BT__DEQUE_CAP; k++) atomic_init(&w->deque[k], NULL);
  }

  uint32_t launched = 0;
  for (int i = 0; i < n; i++) {
    int e = pthread_create(&rt->workers[i].thread, NULL, worker_main,
                           &rt->workers[i]);
    if (e != 0) {
      rc = bt__fail(BT_ENOMEM, "cannot start the thread of worker %d of %d: %s",
                    i, n, strerror(e));
      wait_started(rt, launched);
      goto err_stop;
    }
    rt->workers[i].started = 1;
    launched++;
  }
  wait_started(rt, launched);

  rt->bound = rt->binds;
  for (int i = 0; i < n; i++) {
    bt__worker *w = &rt->workers[i];
    if (w->bind_status == BT_OK) continue;
    const char *strict = getenv("BATON_BIND_STRICT");
    if (strict && strict[0] && strcmp(strict, "0") != 0) {
      rc = bt__fail(w->bind_status, "%s", w->bind_msg);
      goto err_stop;
    }
    if (rt->bound)
      fprintf(stderr,
              "baton: %s; workers run unbound "
              "(BATON_BIND_STRICT=1 makes this an error)\n",
              w->bind_msg);
    rt->bound = 0;
  }
  return BT_OK;

err_stop:
  stop_started(rt);
  for (int i = 0; i < n; i++) free(rt->workers[i].deque);
  bt__team_fini(rt);
  free(rt->workers);
  rt->workers = NULL;
  return rc;
}

void bt__workers_stop(bt_runtime *rt) {
  if (!rt->workers) return;
  bt__lock_acquire(&rt->inject_lock);
  /* relaxed: read by spawners under the same lock. */
  atomic_store_explicit(&rt->inject_closed, 1, memory_order_relaxed);
  bt__lock_release(&rt->inject_lock);
  stop_started(rt);
  BT_ASSERT(rt->inject_head == NULL);
  for (int i = 0; i < rt->nworkers; i++) {
    BT_ASSERT(rt->workers[i].head == NULL &&
              atomic_load_explicit(&rt->workers[i].queued,
                                   memory_order_relaxed) == 0 &&
              deque_size(&rt->workers[i]) == 0);
    free(rt->workers[i].deque);
  }
  bt__team_fini(rt);
  free(rt->workers);
  rt->workers = NULL;
}

int bt__worker_post(bt_runtime *rt, int worker, bt__task *t) {
  if (!rt || !t || !t->run)
    return bt__fail(BT_EINVAL, "bt__worker_post: %s is NULL",
                    !rt  ? "the runtime"
                    : !t ? "the task"
                         : "the task's run");
  if (worker < 0 || worker >= rt->nworkers)
    return bt__fail(BT_EINVAL, "worker %d out of range: the runtime has %d",
                    worker, rt->nworkers);
  bt__worker *w = &rt->workers[worker];
  t->next = NULL;
  bt__lock_acquire(&w->lock);
  /* relaxed: written under lock, which we hold. */
  if (atomic_load_explicit(&w->closed, memory_order_relaxed)) {
    bt__lock_release(&w->lock);
    return bt__fail(BT_ESTATE,
                    "worker %d does not accept tasks: its runtime is being "
                    "destroyed",
                    worker);
  }
  if (w->tail)
    w->tail->next = t;
  else
    w->head = t;
  w->tail = t;
  /* seq_cst: pairs with the seq_cst load in sleep_idle() (see there). */
  int len = atomic_fetch_add_explicit(&w->queued, 1, memory_order_seq_cst) + 1;
  bt__stat_queued(rt, worker, len + (int)deque_size(w));
  bt__lock_release(&w->lock);
  /* seq_cst: pairs with the seq_cst store in sleep_idle(). A worker that
   * has not announced sleep will see queued > 0 before it sleeps, so the
   * futex word changes only for a sleeper: it read the word before its
   * announcement, hence before this bump. */
  if (atomic_load_explicit(&w->sleeping, memory_order_seq_cst))
    bell_ring(rt, bell_bit(worker));
  return BT_OK;
}

int bt__worker_spawn(bt_runtime *rt, bt__task *t) {
  if (!rt || !t || !t->run)
    return bt__fail(BT_EINVAL, "bt__worker_spawn: %s is NULL",
                    !rt  ? "the runtime"
                    : !t ? "the task"
                         : "the task's run");
  t->next = NULL;
  if (self_rt == rt) {
    bt__worker *w = &rt->workers[self_id];
    /* relaxed: our own queue's flag; a close after this check still lets
     * us run what our deque holds before we exit. */
    if (atomic_load_explicit(&w->closed, memory_order_relaxed))
      return bt__fail(BT_ESTATE,
                      "worker %d does not accept tasks: its runtime is "
                      "being destroyed",
                      self_id);
    if (!deque_push(w, t)) return bt__worker_post(rt, self_id, t); /* full */
    bt__stat_queued(rt, self_id, (int)bt__worker_queue_len(w));
    notify(rt);
    return BT_OK;
  }
  bt__lock_acquire(&rt->inject_lock);
  /* relaxed: written under the lock we hold. */
  if (atomic_load_explicit(&rt->inject_closed, memory_order_relaxed)) {
    bt__lock_release(&rt->inject_lock);
    return bt__fail(BT_ESTATE,
                    "the runtime does not accept tasks: it is being "
                    "destroyed");
  }
  if (rt->inject_tail)
    rt->inject_tail->next = t;
  else
    rt->inject_head = t;
  rt->inject_tail = t;
  /* seq_cst: the poster's side of the handshake in sleep_idle(). */
  atomic_fetch_add_explicit(&rt->injected, 1, memory_order_seq_cst);
  bt__lock_release(&rt->inject_lock);
  notify(rt);
  return BT_OK;
}

int bt__worker_load(const bt_runtime *rt, int worker) {
  if (!rt || worker < 0 || worker >= rt->nworkers) return 0;
  const bt__worker *w = &rt->workers[worker];
  /* queued first, acquire: pairs with the release decrement in pop(), so a
   * task leaving the queue is already counted in running (no idle-looking
   * gap). running, acquire: pairs with the release store in run(). The sum
   * is a snapshot; the tasks themselves are published by the lock. */
  int queued = atomic_load_explicit(&w->queued, memory_order_acquire);
  return queued + (int)deque_size(w) +
         atomic_load_explicit(&w->running, memory_order_acquire);
}

int bt__worker_unpost(bt_runtime *rt, int worker, bt__task *t) {
  if (!rt || !t || worker < 0 || worker >= rt->nworkers) return 0;
  bt__worker *w = &rt->workers[worker];
  int found = 0;
  bt__lock_acquire(&w->lock);
  bt__task *prev = NULL;
  for (bt__task *q = w->head; q; prev = q, q = q->next) {
    if (q != t) continue;
    if (prev)
      prev->next = q->next;
    else
      w->head = q->next;
    if (w->tail == q) w->tail = prev;
    q->next = NULL;
    /* release: as in pop(), pairs with the acquire in bt__worker_load().
     * relaxed load: queued changes only under lock, which we hold. */
    atomic_store_explicit(
        &w->queued, atomic_load_explicit(&w->queued, memory_order_relaxed) - 1,
        memory_order_release);
    found = 1;
    break;
  }
  bt__lock_release(&w->lock);
  return found;
}

int bt__worker_run_one(bt_runtime *rt, int worker) {
  if (!rt || self_rt != rt || self_id != worker) return 0;
  bt__worker *w = &rt->workers[worker];
  int closed;
  bt__task *t = pop(w, &closed);
  if (!t) t = find_more(w);
  if (!t) return 0;
  run_nested(w, t);
  return 1;
}

int bt__least_loaded(const bt_runtime *rt, int numa) {
  if (!rt) return -1;
  int first = 0, n = rt->nworkers;
  if (numa >= 0 && numa < rt->place.numa_nodes) {
    first = rt->place.numa[numa].first_worker;
    n = rt->place.numa[numa].workers;
  }
  int best = first, best_load = INT_MAX;
  for (int i = first; i < first + n; i++) {
    int load = bt__worker_load(rt, i);
    if (load < best_load) {
      best = i;
      best_load = load;
      if (load == 0) break;
    }
  }
  return best;
}
