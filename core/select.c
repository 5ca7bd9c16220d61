/* SPDX-License-Identifier: BSD-3-Clause */
/* select.c: bt_select, as Go's runtime/select.go: lock every distinct
 * channel in address order, poll the cases in a random order (so the first
 * ready one is uniform among the ready ones at that instant), else queue
 * one waiter per case, all on one parker, and sleep; the first channel
 * operation to win the parker completes its case, and on waking we unqueue
 * the others. */
#include <stdlib.h>
#include <string.h>

#include "chan_int.h"

enum { SMALL_SELECT = 8 };

/* One case as select sees it. */
typedef struct sel_case {
  bt_chan *user;  /* the channel the caller named (maybe remote) */
  bt_chan *local; /* the one acted on (a remote channel's out or in) */
  bool moved;     /* on_send was called for this case's element */
} sel_case;

static uint64_t next_random(void) {
  static _Thread_local uint64_t x;
  if (BT_UNLIKELY(x == 0))
    x = (bt__thread_id() * 0x9E3779B97F4A7C15ull) ^ (uint64_t)bt__now_ns() ^
        0x2545F4914F6CDD1Dull;
  /* xorshift64* */
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for
 * any n a select can have). */
static int random_below(int n) {
  return (int)(((next_random() >> 32) * (uint64_t)n) >> 32);
}

static int cmp_chan(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (bt_chan *const *)a;
  uintptr_t y = (uintptr_t) * (bt_chan *const *)b;
  return x < y ? -1 : x > y;
}

static void lock_all(bt_chan **locks, int nlocks) {
  for (int i = 0; i < nlocks; i++) bt__chan_lock(locks[i]);
}

static void unlock_all(bt_chan **locks, int nlocks) {
  for (int i = nlocks - 1; i >= 0; i--) bt__chan_unlock(locks[i]);
}

/* Gives back to the caller every element on_send moved, except the one the
 * chosen send case delivered. */
static void give_back(bt_case *cases, sel_case *sc, int n, int delivered) {
  const void *kept = delivered >= 0 ? cases[delivered].elem : NULL;
  for (int i = 0; i < n; i++) {
    if (!sc[i].moved || cases[i].elem == kept) continue;
    const bt_type *t = sc[i].local->type;
    if (t->on_recv) t->on_recv(cases[i].elem);
  }
}

int bt_select(bt_case *cases, int n, int64_t timeout_ns, int *chosen) {
  if (n < 0 || (n > 0 && cases == NULL) || chosen == NULL)
    return bt__fail(BT_EINVAL, "bt_select: %d cases at %p, chosen %p", n,
                    (void *)cases, (void *)chosen);
  int active = 0;
  for (int i = 0; i < n; i++) {
    if (cases[i].chan == NULL) continue;
    if (bt__chan_get(cases[i].chan) == NULL)
      return bt__fail(BT_EINVAL,
                      "bt_select: case %d: %p is not a live channel "
                      "(released, or never one)",
                      i, (void *)cases[i].chan);
    if (cases[i].op != BT_OP_SEND && cases[i].op != BT_OP_RECV)
      return bt__fail(BT_EINVAL, "bt_select: case %d has op %d", i,
                      cases[i].op);
    if (cases[i].elem == NULL)
      return bt__fail(BT_EINVAL, "bt_select: case %d has no element", i);
    active++;
  }
  if (active == 0 && timeout_ns < 0)
    return bt__fail(BT_EINVAL, "bt_select: no case, would block forever");
  int64_t deadline = bt__deadline(timeout_ns < 0 ? -1 : timeout_ns);

  sel_case sc_small[SMALL_SELECT];
  int order_small[SMALL_SELECT];
  bt_chan *locks_small[SMALL_SELECT];
  bt__waiter waiters_small[SMALL_SELECT];
  sel_case *sc = sc_small;
  int *order = order_small;
  bt_chan **locks = locks_small;
  bt__waiter *waiters = waiters_small;
  void *heap = NULL;
  if (n > SMALL_SELECT) {
    heap = malloc((size_t)n * (sizeof *sc + sizeof *order + sizeof *locks +
                               sizeof *waiters));
    if (!heap)
      return bt__fail(BT_ENOMEM, "bt_select: %d cases: out of memory", n);
    waiters = heap;
    sc = (sel_case *)(waiters + n);
    locks = (bt_chan **)(sc + n);
    order = (int *)(locks + n);
  }

  /* Handles move before anything commits; a refusal is the answer of that
   * case. The same element named by two send cases moves once. */
  int rc = BT_OK, sel = -1;
  int nlocks = 0, norder = 0;
  for (int i = 0; i < n; i++) {
    sc[i].moved = false;
    if (cases[i].chan == NULL) continue;
    sc[i].user = cases[i].chan;
    sc[i].local = bt__chan_local(cases[i].chan, cases[i].op);
    const bt_type *t = sc[i].local->type;
    if (cases[i].op != BT_OP_SEND || t->on_send == NULL) continue;
    bool shared = false;
    for (int j = 0; j < i && !shared; j++)
      shared = sc[j].moved && cases[j].elem == cases[i].elem;
    if (shared) continue;
    rc = t->on_send(cases[i].elem, BT_CHECKED);
    if (rc != BT_OK) {
      give_back(cases, sc, i, -1);
      *chosen = i;
      goto out;
    }
    sc[i].moved = true;
  }

  /* A random poll order: Fisher-Yates, built inside out. */
  for (int i = 0; i < n; i++) {
    if (cases[i].chan == NULL) continue;
    int j = random_below(norder + 1);
    order[norder] = order[j];
    order[j] = i;
    norder++;
    locks[nlocks++] = sc[i].local;
  }
  qsort(locks, (size_t)nlocks, sizeof *locks, cmp_chan);
  int distinct = 0;
  for (int i = 0; i < nlocks; i++)
    if (distinct == 0 || locks[distinct - 1] != locks[i])
      locks[distinct++] = locks[i];
  nlocks = distinct;
  if (BT_UNLIKELY(bt__debug_checks()))
    for (int i = 0; i < nlocks; i++) BT_ASSERT(bt__chan_check(locks[i]) == 0);

  lock_all(locks, nlocks);
  for (int k = 0; k < norder; k++) {
    int i = order[k];
    rc = cases[i].op == BT_OP_SEND
             ? bt__chan_send_locked(sc[i].local, cases[i].elem)
             : bt__chan_recv_locked(sc[i].local, cases[i].elem);
    if (rc != BT_EAGAIN) {
      sel = i;
      break;
    }
  }
  if (sel < 0 && deadline != 0) {
    bt__parker p = {.chosen = -1, .status = BT_OK};
    atomic_init(&p.state, BT__PARK_WAITING);
    for (int i = 0; i < n; i++) {
      if (cases[i].chan == NULL) continue;
      waiters[i] = (bt__waiter){
          .op = cases[i].op, .index = i, .elem = cases[i].elem, .parker = &p};
      bt__waitq_push(sc[i].local, &waiters[i]);
    }
    /* A partner that entered an unbuffered channel's rendezvous cell after
     * the poll, before it could see our waiters (see chan_int.h). Our
     * waiters are ours alone while we hold the locks. */
    for (int k = 0; k < norder && sel < 0; k++) {
      int i = order[k];
      if (sc[i].local->cap == 0 &&
          bt__cell_meet(sc[i].local, cases[i].op, cases[i].elem)) {
        sel = i;
        rc = BT_OK;
      }
    }
    if (sel < 0) {
      unlock_all(locks, nlocks);
      rc = bt__park(&p, deadline);
      lock_all(locks, nlocks);
    }
    for (int i = 0; i < n; i++)
      if (cases[i].chan != NULL) bt__waitq_remove(sc[i].local, &waiters[i]);
    if (sel < 0 && rc != BT_ETIMEDOUT) sel = p.chosen;
  }
  unlock_all(locks, nlocks);

  give_back(cases, sc, n,
            sel >= 0 && rc == BT_OK && cases[sel].op == BT_OP_SEND ? sel : -1);
  if (sel >= 0) {
    *chosen = sel;
    if (rc == BT_OK) {
      if (cases[sel].op == BT_OP_RECV && sc[sel].local->type->on_recv)
        sc[sel].local->type->on_recv(cases[sel].elem);
      bt__chan_after(sc[sel].user, cases[sel].op);
    } else if (sc[sel].user->remote && sc[sel].user->remote->closed_status) {
      rc = bt__chan_closed_status(sc[sel].user, cases[sel].op);
    } else {
      rc = bt__fail(rc, "select case %d: %s on a closed channel", sel,
                    cases[sel].op == BT_OP_SEND ? "send" : "receive");
    }
  } else if (rc == BT_ETIMEDOUT) {
    rc = bt__fail(BT_ETIMEDOUT, "select of %d cases timed out after %lld ns", n,
                  (long long)timeout_ns);
  } else {
    rc = BT_EAGAIN;
  }
out:
  free(heap);
  return rc;
}
