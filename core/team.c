/* SPDX-License-Identifier: BSD-3-Clause */
/* team.c: one fork-join offered to every worker at once.
 *
 * A kernel call posts nothing: the caller writes the call (fn, ctx, a
 * countdown) into the runtime's team, then one store of the offer word
 * (the call's number and part count) starts it; idle workers, which spin
 * on that word between calls, see it with one cache-line transfer each,
 * and sleeping ones are woken together. Each part is claimed by a CAS on
 * its own claim word, so a part runs exactly once, on the first thread to
 * claim it: its home worker, an idle worker that finished its own, or the
 * caller, who claims whatever is left, so a call never waits for a late
 * or parked worker to arrive. The join is one counter, decremented by each
 * finished part; the caller sleeps on it only after a bounded spin.
 *
 * Why a late worker can never run a part of a finished call: it claims
 * part p of call g only if claim[p] < g. Every part of g is claimed in g
 * before g can finish, and claim words only grow, so once g is finished
 * no CAS with g succeeds. A successful claim thus means g is running, and
 * fn and ctx (written before g's offer, which the claimer loaded with
 * acquire) are g's until the caller sees g's countdown reach zero, which
 * happens after the claimer's release decrement. */
#include <limits.h>
#include <sched.h>
#include <stdlib.h>

#include "runtime_int.h"

#define PART_MASK ((UINT64_C(1) << BT__TEAM_PART_BITS) - 1)

/* How long the caller leaves the parts of other workers to them before it
 * claims what is still unclaimed: a spinning worker sees an offer within a
 * few hundred ns; one that has not claimed its part after this is parked,
 * preempted or busy with a job. */
#define TEAM_GRACE_NS (3 * 1000)
/* How long the caller busy-waits (pause) on claimed parts before it
 * yields: long enough for small parts running on other cores. */
#define TEAM_PAUSE_NS (50 * 1000)

void bt__join_sleep(bt_runtime *rt, _Atomic uint32_t *pending, int nparts,
                    int self) {
  bt__watch watch;
  bt__watch_arm(&watch);
  for (int64_t nap = 20 * 1000;;) {
    /* acquire: pairs with the acq_rel decrements of the parts (claim_run()
     * here, part_run() in kernels/parallel.c). */
    uint32_t left = atomic_fetch_or_explicit(pending, BT__JOIN_WAITER,
                                             memory_order_acquire) |
                    BT__JOIN_WAITER;
    if (left == BT__JOIN_WAITER) return;
    if (bt__watch_due(&watch))
      bt__watch_report(&watch, "a kernel's join: %u of %d parts not done",
                       (unsigned)(left & ~BT__JOIN_WAITER), nparts);
    if (self < 0) {
      (void)bt__futex_wait(pending, left, bt__watch_deadline(&watch, -1));
      continue;
    }
    (void)bt__futex_wait(pending, left, bt__now_ns() + nap);
    while (bt__worker_run_one(rt, self)) nap = 20 * 1000;
    if (nap < 1000 * 1000) nap *= 2;
  }
}

int bt__team_init(bt_runtime *rt) {
  struct bt__team *team = &rt->team;
  int n = rt->nworkers;
  atomic_init(&team->busy, 0);
  atomic_init(&team->offer, 0);
  atomic_init(&team->pending, 0);
  atomic_init(&team->standin, -1);
  team->gen = 0;
  team->fn = NULL;
  team->ctx = NULL;
  team->mate = NULL;
  team->nmates = 0;
  size_t bytes = ((size_t)n * sizeof *team->claim + BT_CACHELINE - 1) /
                 BT_CACHELINE * BT_CACHELINE;
  team->claim = aligned_alloc(BT_CACHELINE, bytes);
  if (!team->claim)
    return bt__fail(BT_ENOMEM, "cannot allocate the team of %d workers", n);
  for (int i = 0; i < n; i++) atomic_init(&team->claim[i], 0);
  /* Which worker a caller running on PU x displaces: the one bound to x
   * (per-core or per-PU binding only; a NUMA-wide binding names none). */
  if (!rt->binds || (rt->bind != BT_BIND_CORE && rt->bind != BT_BIND_PU))
    return BT_OK;
  int top = -1;
  for (int i = 0; i < n; i++)
    if (rt->place.slot[i].pu_os > top) top = rt->place.slot[i].pu_os;
  if (top < 0) return BT_OK;
  team->mate = malloc(sizeof *team->mate * (size_t)(top + 1));
  if (!team->mate) return BT_OK; /* only a hint: go without */
  for (int c = 0; c <= top; c++) team->mate[c] = -1;
  for (int i = 0; i < n; i++) {
    int c = rt->place.slot[i].pu_os;
    if (c >= 0 && team->mate[c] < 0) team->mate[c] = i;
  }
  team->nmates = top + 1;
  return BT_OK;
}

void bt__team_fini(bt_runtime *rt) {
  free(rt->team.claim);
  rt->team.claim = NULL;
  free(rt->team.mate);
  rt->team.mate = NULL;
  rt->team.nmates = 0;
}

int bt__team_mate(const bt_runtime *rt) {
  if (!rt->bound || rt->team.nmates == 0) return -1;
  int c = sched_getcpu();
  return c >= 0 && c < rt->team.nmates ? rt->team.mate[c] : -1;
}

/* Runs part p, claimed by the calling thread, and counts it done. */
static void run_part(struct bt__team *team, int p) {
  team->fn(team->ctx, p);
  /* acq_rel: the release half publishes the part's effects to the caller
   * (pairs with the acquire loads of pending in bt__team_run()). After it
   * the call may be over: only the runtime's own words are touched. */
  uint32_t before =
      atomic_fetch_sub_explicit(&team->pending, 1, memory_order_acq_rel);
  if (before == (BT__JOIN_WAITER | 1u)) bt__futex_wake(&team->pending, 1);
}

/* Claim part p of call g and run it; 1 if this thread ran it. A claim
 * word holds g << 1 | stand_in, where stand_in marks the part the caller
 * claimed as its own, in place of its worker (see bt__team_help()); here
 * it is 0. */
static int claim_run(bt_runtime *rt, uint64_t g, int p) {
  struct bt__team *team = &rt->team;
  _Atomic uint64_t *c = &team->claim[p];
  /* relaxed: a first look; the CAS below decides. */
  uint64_t seen = atomic_load_explicit(c, memory_order_relaxed);
  if (seen >> 1 >= g) return 0;
  /* acq_rel: the acquire half orders the reads of fn and ctx after the
   * claim (the holder's release store of the offer, which the claimer
   * loaded with acquire, published them); the release half is not needed. */
  if (!atomic_compare_exchange_strong_explicit(
          c, &seen, g << 1, memory_order_acq_rel, memory_order_relaxed))
    return 0;
  run_part(team, p);
  return 1;
}

int bt__team_offered(const bt__worker *w) {
  /* seq_cst: the sleeper's side of the handshake with bt__team_run() (see
   * sleep_idle() in worker.c). */
  uint64_t offer = atomic_load_explicit(&((bt__worker *)w)->rt->team.offer,
                                        memory_order_seq_cst);
  return (offer >> BT__TEAM_PART_BITS) != w->team_seen;
}

int bt__team_help(bt__worker *w) {
  bt_runtime *rt = w->rt;
  /* acquire: pairs with the release (seq_cst) store in bt__team_run(). */
  uint64_t offer = atomic_load_explicit(&rt->team.offer, memory_order_acquire);
  uint64_t g = offer >> BT__TEAM_PART_BITS;
  if (g == w->team_seen) return 0;
  w->team_seen = g;
  int n = (int)(offer & PART_MASK), ran = 0;
  /* relaxed: written before the offer, which we loaded with acquire; a
   * later call may overwrite it meanwhile, and then it is only a stale hint
   * for the idle spin (see spin_idle() in worker.c). */
  int standin = atomic_load_explicit(&rt->team.standin, memory_order_relaxed);
  w->caller_elsewhere = standin >= 0 && standin != w->id;
  /* Its home part first, then its NUMA node's parts, then the others. */
  if (w->id < n) {
    ran += claim_run(rt, g, w->id);
    /* relaxed: the claim word only says who took the part. When the caller
     * stands in for this worker (it runs on this worker's core, or the
     * part is the caller's own), the worker parks at once rather than spin
     * on the core the caller needs; the caller does not ring for it while
     * it stands in. */
    if (!ran && atomic_load_explicit(&rt->team.claim[w->id],
                                     memory_order_relaxed) == (g << 1 | 1)) {
      /* Nor does it claim other parts: it shares its core with the
       * caller, and a part run here would run time-sliced with the
       * caller's while the other workers' cores wait (measured: a
       * 10^5-element axpby through the team 0.56x the OpenMP loop with
       * it, 0.76-0.90x without, the same window). */
      w->stand_down = 1;
      return 0;
    }
  }
  const bt__numa *node = &rt->place.numa[rt->place.slot[w->id].numa];
  int first = node->first_worker, count = node->workers;
  for (int i = 1; i < count; i++) {
    int p = first + (w->id - first + i) % count;
    if (p < n) ran += claim_run(rt, g, p);
  }
  for (int p = 0; p < n; p++)
    if (p < first || p >= first + count) ran += claim_run(rt, g, p);
  if (ran) w->stand_down = 0;
  return ran;
}

int bt__team_run(bt_runtime *rt, int nparts, int own, bt__team_fn fn,
                 void *ctx) {
  struct bt__team *team = &rt->team;
  BT_ASSERT(nparts >= 1 && nparts <= rt->nworkers && own < nparts);
  int idle = 0;
  /* acquire: pairs with the release store of 0 at the end of the previous
   * call, so its words are ours now. */
  if (!atomic_compare_exchange_strong_explicit(
          &team->busy, &idle, 1, memory_order_acquire, memory_order_relaxed))
    return 0;
  uint64_t g = ++team->gen;
  team->fn = fn;
  team->ctx = ctx;
  /* relaxed: published by the offer's store below (a hint only). */
  atomic_store_explicit(&team->standin, own, memory_order_relaxed);
  /* relaxed: published by the offer's store below. */
  atomic_store_explicit(&team->pending, (uint32_t)nparts, memory_order_relaxed);
  /* The caller's own part is claimed before the offer, so no worker takes
   * it first. relaxed: published by the offer's store; a plain store is
   * enough, as no claim with g can precede the offer and a late claim
   * with an older call's number fails on every part of that call. */
  if (own >= 0)
    atomic_store_explicit(&team->claim[own], g << 1 | 1, memory_order_relaxed);
  /* seq_cst (a release): publishes fn, ctx and pending to the workers
   * (pairs with the acquire load in bt__team_help()) and is the poster's
   * side of the handshake with sleepers: a worker that announced sleep
   * before this store is seen by the wake below, one that announces after
   * sees the offer in its last look (bt__team_offered()). */
  atomic_store_explicit(&team->offer,
                        g << BT__TEAM_PART_BITS | (uint64_t)nparts,
                        memory_order_seq_cst);
  bt__workers_wake_all(rt, own);

  int64_t start = bt__now_ns();
  if (own >= 0) run_part(team, own);

  /* Wait for the other parts: a pause loop that claims the parts of
   * parked workers at once and, after TEAM_GRACE_NS, every part still
   * unclaimed; then yields; then sleep on the countdown. A caller that is
   * a worker runs its own queue's tasks meanwhile (a part may have posted
   * work to it: nested kernels). */
  int self = bt__self_runtime() == rt ? bt_self() : -1;
  int helped = 0;
  int64_t until = 0;
  for (int i = 1;; i++) {
    /* acquire: pairs with the acq_rel decrements in claim_run(). */
    if (atomic_load_explicit(&team->pending, memory_order_acquire) == 0)
      goto done;
    if (self >= 0 && bt__worker_run_one(rt, self)) continue;
    if (until == 0) {
      bt__cpu_relax();
      if (i % 16) continue;
    } else {
      sched_yield();
    }
    int64_t now = bt__now_ns();
    if (!helped) {
      helped = now - start >= TEAM_GRACE_NS;
      for (int p = nparts; p-- > 0;)
        /* relaxed: both are hints; the CAS in claim_run() decides. */
        if (atomic_load_explicit(&team->claim[p], memory_order_relaxed) >> 1 <
                g &&
            (helped || (atomic_load_explicit(&rt->workers[p].sleeping,
                                             memory_order_relaxed))))
          (void)claim_run(rt, g, p);
      continue;
    }
    if (until == 0) {
      if (now - start >= TEAM_PAUSE_NS) until = now + BT__IDLE_SPIN_NS;
    } else if (now >= until) {
      break;
    }
  }
  bt__join_sleep(rt, &team->pending, nparts, self);
  /* relaxed: clears the waiter bit of a finished count; the next call
   * stores pending again before its offer. */
  atomic_store_explicit(&team->pending, 0, memory_order_relaxed);
done:
  /* release: pairs with the acquire CAS that takes the team next. */
  atomic_store_explicit(&team->busy, 0, memory_order_release);
  return 1;
}
