/* SPDX-License-Identifier: BSD-3-Clause */
/* chan.c: typed channels with Go's semantics (see chan_int.h for the
 * design): the lock, waiter queues, parking, the lock-free ring of buffered
 * channels, and remote channels. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "chan_int.h"

/* ---- spinning ------------------------------------------------------------ */

enum {
  PRELUDE = 16,
  GRACE = 64,
  REASK = 8,
  LOCK_SPIN = 256,
  RING_SPIN = 256,
  PARK_SPIN = 512
};

/* A bounded spin. The first PRELUDE polls (well under a microsecond) ask
 * nobody: most waits of a ping-pong end there, and asking wait.c's policy
 * costs two read-modify-writes of a process-wide counter. Then the policy
 * says whether to spin on, and we bound the spin near the cost of a futex
 * sleep and wake (a few microseconds; one pause is ~10-30 ns), not
 * wait.c's maximum, which suits longer waits. Refused, we still poll up to
 * GRACE times, asking again every REASK polls: the refusal is most often a
 * partner that has not yet left its own spin (ping-pong on two cores), and
 * sleeping then would make both sides sleep on every exchange from then
 * on. */
typedef struct spin {
  int left, most;
  bool asked;   /* the policy was asked once */
  bool counted; /* bt__spin_begin() granted us; bt__spin_end() owed */
} spin;

static void spin_start(spin *s, int most) {
  s->most = most;
  s->left = PRELUDE;
  s->asked = false;
  s->counted = false;
}

/* Asks the policy; true if granted (the spin then goes on to s->most). */
static bool spin_ask(spin *s) {
  int n = bt__spin_begin();
  if (n > 0) {
    s->counted = true;
    s->left = n < s->most ? n : s->most;
    return true;
  }
  bt__spin_end();
  return false;
}

/* One poll more? Pauses once if so. */
static bool spin_next(spin *s) {
  if (s->left <= 0) {
    if (s->asked) return false;
    s->asked = true;
    if (!spin_ask(s)) s->left = GRACE;
  } else if (s->asked && !s->counted && s->left % REASK == 0) {
    spin_ask(s);
  }
  s->left--;
  bt__cpu_relax();
  return true;
}

static void spin_stop(spin *s) {
  if (s->counted) bt__spin_end();
  s->counted = false;
}

/* ---- lock --------------------------------------------------------------- */

void bt__lock_slow(bt__lock *l) {
  spin sp;
  spin_start(&sp, LOCK_SPIN);
  while (spin_next(&sp)) {
    uint32_t free_ = 0;
    /* acquire: pairs with the release exchange in bt__lock_release(). */
    if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(
            &l->word, &free_, 1, memory_order_acquire, memory_order_relaxed)) {
      spin_stop(&sp);
      return;
    }
  }
  spin_stop(&sp);
  /* acquire: pairs with the release exchange in bt__lock_release(). Once we
   * have marked the word 2 we must keep it 2 when we take it, since other
   * sleepers may exist. */
  while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
    bt__futex_wait(&l->word, 2, -1);
}

/* ---- waiter queues (lock held) ----------------------------------------- */

void bt__waitq_push(bt_chan *ch, bt__waiter *w) {
  bt__waitq *q = w->op == BT_OP_SEND ? &ch->sendq : &ch->recvq;
  w->next = NULL;
  w->prev = q->tail;
  if (q->tail)
    q->tail->next = w;
  else
    q->head = w;
  q->tail = w;
  w->queued = true;
  if (ch->polled) {
    bt__parker *p = w->parker;
    bool listed = false;
    for (int i = 0; i < p->npolls && !listed; i++)
      listed = p->polls[i] == ch->polled;
    if (!listed && p->npolls < BT__POLL_MAX) p->polls[p->npolls++] = ch->polled;
  }
  /* seq_cst: on an unbuffered channel, pairs with the seq_cst entry into
   * the rendezvous cell in cell_op() (the caller then rechecks the cell
   * with bt__cell_meet()); on a buffered one, lock-free readers see it
   * through the acquire CAS on head/tail that pairs with
   * bt__chan_unlock(). */
  atomic_fetch_add_explicit(
      w->op == BT_OP_SEND ? &ch->send_waiting : &ch->recv_waiting, 1,
      memory_order_seq_cst);
}

void bt__waitq_remove(bt_chan *ch, bt__waiter *w) {
  if (!w->queued) return;
  bt__waitq *q = w->op == BT_OP_SEND ? &ch->sendq : &ch->recvq;
  if (w->prev)
    w->prev->next = w->next;
  else
    q->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    q->tail = w->prev;
  w->prev = w->next = NULL;
  w->queued = false;
  /* relaxed: as in bt__waitq_push(). */
  atomic_fetch_sub_explicit(
      w->op == BT_OP_SEND ? &ch->send_waiting : &ch->recv_waiting, 1,
      memory_order_relaxed);
}

/* Pop waiters until one whose parker we win; NULL if none. A waiter we
 * lose (its select was completed elsewhere, or it timed out) is unqueued
 * and skipped: its owner unqueues nothing more once it sees it unqueued. */
static bt__waiter *claim_first(bt_chan *ch, bt__waitq *q, uint32_t *was) {
  bt__waiter *w;
  while ((w = q->head) != NULL) {
    bt__waitq_remove(ch, w);
    bt__parker *p = w->parker;
    /* acquire: pairs with the release CAS in bt__park() (WAITING ->
     * SLEEPING), so we know whether the owner may be asleep. */
    uint32_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    while (s == BT__PARK_WAITING || s == BT__PARK_SLEEPING) {
      /* acq_rel: wins the waiter against the owner's cancel CAS and other
       * completers' CAS in claim_first() on other channels. */
      if (atomic_compare_exchange_weak_explicit(&p->state, &s, BT__PARK_CLAIMED,
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
        *was = s;
        return w;
      }
    }
  }
  return NULL;
}

/* Publish the completion of a claimed waiter. After the store the owner may
 * return and its stack vanish: only the futex address is used after it
 * (a wake on a stale address is harmless: futex waiters recheck). */
static void complete(bt__waiter *w, uint32_t was, int status) {
  bt__parker *p = w->parker;
  p->chosen = w->index;
  p->status = status;
  /* release: publishes the element copied into/out of w->elem, chosen and
   * status; pairs with the acquire loads in bt__park(). */
  atomic_store_explicit(&p->state, BT__PARK_DONE, memory_order_release);
  if (was == BT__PARK_SLEEPING) bt__futex_wake(&p->state, 1);
}

/* ---- the ring of a buffered channel -------------------------------------- */

static inline unsigned char *slot_at(const bt_chan *c, uint64_t pos) {
  uint64_t k = c->cap_mask ? (pos & c->cap_mask) : pos % c->cap;
  return c->slots + k * c->stride;
}

static inline _Atomic uint64_t *slot_seq(const bt_chan *c, uint64_t pos) {
  return (_Atomic uint64_t *)slot_at(c, pos);
}

static inline void *slot_data(const bt_chan *c, uint64_t pos) {
  return slot_at(c, pos) + sizeof(uint64_t);
}

/* Wait for another thread's lock-free operation that reserved its position
 * before we froze the ring: it is between its CAS and its publication. */
static void wait_seq(_Atomic uint64_t *seq, uint64_t want) {
  /* acquire: pairs with the release stores of sequence numbers in
   * fast_send()/fast_recv(). */
  for (int i = 0; atomic_load_explicit(seq, memory_order_acquire) != want;
       i++) {
    if (i < 64)
      bt__cpu_relax();
    else
      sched_yield();
  }
}

enum { SLOW = 1 }; /* a lock-free attempt defers to the locked path */

static void pump(bt_chan *c);

static void pump_locked(bt_chan *c) {
  bt__chan_lock(c);
  pump(c);
  bt__chan_unlock(c);
}

/* Lock-free send: BT_OK, BT_EAGAIN (full at one instant), or SLOW (the ring
 * is locked or closed, or an element leaves the slot we need). */
static int fast_send(bt_chan *c, const void *elem) {
  /* relaxed: the CAS below decides; a stale value only fails it. */
  uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
  for (;;) {
    if (t & (BT__POS_LOCK | BT__POS_CLOSED)) return SLOW;
    _Atomic uint64_t *seq = slot_seq(c, t);
    /* acquire: pairs with the release store of t (slot freed) by the
     * receiver of t - cap, so its copy out is done before we write. */
    uint64_t s = atomic_load_explicit(seq, memory_order_acquire);
    int64_t d = (int64_t)(s - 2 * t);
    if (d == 0) {
      /* acquire: pairs with the release fetch_and in bt__chan_unlock(), so
       * the waiters queued before it are visible below. */
      if (atomic_compare_exchange_weak_explicit(&c->tail, &t, t + 1,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
        memcpy(slot_data(c, t), elem, c->size);
        /* release: publishes the element; pairs with the acquire loads of
         * the sequence in fast_recv() and ring_pop(). */
        atomic_store_explicit(seq, 2 * t + 1, memory_order_release);
        /* relaxed: see the acquire CAS above. */
        if (atomic_load_explicit(&c->recv_waiting, memory_order_relaxed))
          pump_locked(c);
        return BT_OK;
      }
    } else if (d < 0) {
      /* acquire: a head that shows the ring full proves it full now. */
      uint64_t h = atomic_load_explicit(&c->head, memory_order_acquire);
      if ((h & BT__POS_MASK) + c->cap <= t) return BT_EAGAIN;
      return SLOW;
    } else {
      t = atomic_load_explicit(&c->tail, memory_order_relaxed);
    }
  }
}

/* Lock-free receive: BT_OK, BT_EAGAIN (empty and open at one instant), or
 * SLOW (locked, closed, or an element still being written). */
static int fast_recv(bt_chan *c, void *elem) {
  /* relaxed: the CAS below decides. */
  uint64_t h = atomic_load_explicit(&c->head, memory_order_relaxed);
  for (;;) {
    if (h & BT__POS_LOCK) return SLOW;
    _Atomic uint64_t *seq = slot_seq(c, h);
    /* acquire: pairs with the release store of h + 1 by the sender. */
    uint64_t s = atomic_load_explicit(seq, memory_order_acquire);
    int64_t d = (int64_t)(s - (2 * h + 1));
    if (d == 0) {
      /* acquire: pairs with the release in bt__chan_unlock(). */
      if (atomic_compare_exchange_weak_explicit(&c->head, &h, h + 1,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
        memcpy(elem, slot_data(c, h), c->size);
        /* release: frees the slot for the sender of h + cap; pairs with the
         * acquire load of the sequence in fast_send() and ring_push(). */
        atomic_store_explicit(seq, 2 * (h + c->cap), memory_order_release);
        /* relaxed: see the acquire CAS above. */
        if (atomic_load_explicit(&c->send_waiting, memory_order_relaxed))
          pump_locked(c);
        return BT_OK;
      }
    } else if (d < 0) {
      /* acquire: a tail equal to h proves the ring empty now. */
      uint64_t t = atomic_load_explicit(&c->tail, memory_order_acquire);
      if (t == h) return BT_EAGAIN; /* no flag set: open and unlocked */
      return SLOW;
    } else {
      h = atomic_load_explicit(&c->head, memory_order_relaxed);
    }
  }
}

/* Positions under the lock (the LOCK bits are ours). */
static inline uint64_t tail_pos(const bt_chan *c) {
  /* relaxed: we hold the lock; the fetch_or in bt__chan_lock() acquired. */
  return atomic_load_explicit(&c->tail, memory_order_relaxed) & BT__POS_MASK;
}
static inline uint64_t head_pos(const bt_chan *c) {
  return atomic_load_explicit(&c->head, memory_order_relaxed) & BT__POS_MASK;
}

/* Lock held: push elem if there is room (elem NULL: the element is in its
 * slot already, lent by bt__chan_lend()). */
static bool ring_push(bt_chan *c, const void *elem) {
  uint64_t t = tail_pos(c);
  if (t - head_pos(c) >= c->cap) return false;
  _Atomic uint64_t *seq = slot_seq(c, t);
  wait_seq(seq, 2 * t); /* a lock-free receiver may still be copying out */
  if (elem) memcpy(slot_data(c, t), elem, c->size);
  /* release: publishes the element (pairs as in fast_send()). */
  atomic_store_explicit(seq, 2 * t + 1, memory_order_release);
  /* relaxed: the ring is frozen; bt__chan_unlock() releases it. */
  atomic_store_explicit(
      &c->tail,
      (t + 1) | (atomic_load_explicit(&c->tail, memory_order_relaxed) &
                 ~BT__POS_MASK),
      memory_order_relaxed);
  return true;
}

/* Lock held: pop the first element into elem if there is one. */
static bool ring_pop(bt_chan *c, void *elem) {
  uint64_t h = head_pos(c);
  if (tail_pos(c) == h) return false;
  _Atomic uint64_t *seq = slot_seq(c, h);
  wait_seq(seq, 2 * h + 1); /* a lock-free sender may still be copying in */
  memcpy(elem, slot_data(c, h), c->size);
  /* release: frees the slot (pairs as in fast_recv()). */
  atomic_store_explicit(seq, 2 * (h + c->cap), memory_order_release);
  atomic_store_explicit(&c->head, (h + 1) | BT__POS_LOCK, memory_order_relaxed);
  return true;
}

static inline size_t ring_len(const bt_chan *c) {
  /* relaxed: a snapshot; the two loads may straddle operations. */
  uint64_t h = atomic_load_explicit(&c->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
  int64_t n = (int64_t)((t & BT__POS_MASK) - (h & BT__POS_MASK));
  return n < 0 ? 0 : (size_t)n > c->cap ? c->cap : (size_t)n;
}

/* Lock held: move elements between the ring and waiters queued on it while
 * both sides can: lock-free operations leave this to whoever next holds
 * the lock (they take it themselves when they see waiters). */
static void pump(bt_chan *c) {
  uint32_t was;
  for (;;) {
    bool moved = false;
    if (c->recvq.head && tail_pos(c) != head_pos(c)) {
      bt__waiter *w = claim_first(c, &c->recvq, &was);
      if (w) {
        bool popped = ring_pop(c, w->elem);
        BT_ASSERT(popped);
        complete(w, was, BT_OK);
        moved = true;
      }
    }
    if (c->sendq.head && tail_pos(c) - head_pos(c) < c->cap) {
      bt__waiter *w = claim_first(c, &c->sendq, &was);
      if (w) {
        bool pushed = ring_push(c, w->elem);
        BT_ASSERT(pushed);
        complete(w, was, BT_OK);
        moved = true;
      }
    }
    if (!moved) return;
  }
}

void bt__chan_lock(bt_chan *c) {
  bt__lock_acquire(&c->lock);
  if (c->cap == 0) return;
  /* acq_rel: acquire sees every reservation CAS before the flag; the
   * flag then fails every later lock-free CAS. */
  atomic_fetch_or_explicit(&c->tail, BT__POS_LOCK, memory_order_acq_rel);
  atomic_fetch_or_explicit(&c->head, BT__POS_LOCK, memory_order_acq_rel);
}

void bt__chan_unlock(bt_chan *c) {
  if (c->cap > 0) {
    /* release: pairs with the acquire CAS in fast_send()/fast_recv(), which
     * then see our queued waiters and ring updates. */
    atomic_fetch_and_explicit(&c->head, ~BT__POS_LOCK, memory_order_release);
    atomic_fetch_and_explicit(&c->tail, ~BT__POS_LOCK, memory_order_release);
  }
  bt__lock_release(&c->lock);
}

/* ---- the rendezvous cell of an unbuffered channel ----------------------- */

/* The cell's word: a kind, and two flags. Who moves it:
 *   FREE  -> RWAIT  a receiver enters (lock-free path only);
 *   RWAIT -> FILL   a sender claims it, copies its element into the cell,
 *   FILL  -> FULL   and publishes it;
 *   FULL  -> FREE   the receiver copied the element out;
 *   FREE  -> PUT    a sender enters (lock-free path only), copies its
 *   PUT   -> SWAIT  element in, and waits;
 *   SWAIT -> TAKE   a receiver claims it, copies the element out,
 *   TAKE  -> TAKEN  and says so;
 *   TAKEN -> FREE   the sender saw it taken.
 *   RWAIT/SWAIT -> FREE  the waiter withdraws (timeout, close, or a queued
 *                  partner it must meet through the lock instead).
 * SLEEP: set by the waiter (RWAIT or SWAIT) before it sleeps on the futex;
 * whoever moves the word out of the waiting kind wakes it. CLOSED: set
 * under the lock by bt_chan_close() and never cleared: no one enters or
 * claims a closed cell, a waiter in it withdraws, and an element already
 * handed over (FILL, FULL, TAKE, TAKEN) still completes. Only the party
 * that entered the cell frees it, so a word never means two rendezvous.
 * The steps that keep the other bits (publish, free) add or subtract the
 * kind, so a CLOSED set meanwhile stays. Every modification is a
 * read-modify-write, so each acquire below synchronises with the last
 * release before it through the release sequence. */
enum {
  CELL_FREE = 0,
  CELL_RWAIT = 1,
  CELL_SWAIT = 2,
  CELL_FILL = 3,
  CELL_FULL = 4,
  CELL_PUT = 5,
  CELL_TAKE = 6,
  CELL_TAKEN = 7,
  CELL_KIND = 7,
  CELL_SLEEP = 8,
  CELL_CLOSED = 16
};

static inline _Atomic uint32_t *cell_word(const bt_chan *c) {
  return (_Atomic uint32_t *)c->slots;
}

static inline void *cell_data(const bt_chan *c) {
  return c->slots + sizeof(uint64_t);
}

/* Claims the waiter of kind `from` (RWAIT or SWAIT, asleep or not) for a
 * completion of kind `to` (FILL or TAKE); false if none waits there (or
 * the channel is closed). *was gets the claimed word (its SLEEP flag). */
static bool cell_claim(_Atomic uint32_t *w, uint32_t from, uint32_t to,
                       uint32_t *was) {
  uint32_t s = from;
  for (;;) {
    /* seq_cst: the recheck after bt__waitq_push() (see chan_int.h); also
     * acquire: pairs with the release that made the cell FREE, so the
     * cell's previous element is no longer read or written by anyone. */
    if (atomic_compare_exchange_weak_explicit(w, &s, to, memory_order_seq_cst,
                                              memory_order_seq_cst)) {
      *was = s;
      return true;
    }
    if ((s & ~(uint32_t)CELL_SLEEP) != from) return false;
  }
}

bool bt__cell_meet(bt_chan *c, int op, void *elem) {
  _Atomic uint32_t *w = cell_word(c);
  uint32_t was;
  if (op == BT_OP_SEND) {
    if (!cell_claim(w, CELL_RWAIT, CELL_FILL, &was)) return false;
    memcpy(cell_data(c), elem, c->size);
    /* release: publishes the element; pairs with the acquire load in
     * cell_wait(). */
    atomic_fetch_add_explicit(w, CELL_FULL - CELL_FILL, memory_order_release);
  } else {
    if (!cell_claim(w, CELL_SWAIT, CELL_TAKE, &was)) return false;
    memcpy(elem, cell_data(c), c->size);
    /* release: the element is out; pairs with the acquire load in
     * cell_wait(), after which the sender frees the cell. */
    atomic_fetch_add_explicit(w, CELL_TAKEN - CELL_TAKE, memory_order_release);
  }
  /* The waiter may have returned by now; a wake on its cell is harmless. */
  if (was & CELL_SLEEP) bt__futex_wake(w, 1);
  return true;
}

/* ---- the locked operations --------------------------------------------- */

int bt__chan_send_locked(bt_chan *ch, const void *elem) {
  if (ch->closed) return BT_ECLOSED;
  if (ch->cap > 0) {
    /* Elements first go to waiting receivers, in order, then ours. */
    pump(ch);
    if (!ring_push(ch, elem)) return BT_EAGAIN;
    pump(ch);
    return BT_OK;
  }
  /* A receiver in the cell came before any queued one. */
  if (bt__cell_meet(ch, BT_OP_SEND, (void *)elem)) return BT_OK;
  uint32_t was;
  bt__waiter *w = claim_first(ch, &ch->recvq, &was);
  if (!w) return BT_EAGAIN;
  memcpy(w->elem, elem, ch->size);
  complete(w, was, BT_OK);
  return BT_OK;
}

int bt__chan_recv_locked(bt_chan *ch, void *elem) {
  if (ch->cap > 0) {
    pump(ch);
    if (ring_pop(ch, elem)) {
      pump(ch); /* a blocked sender takes the freed slot */
      return BT_OK;
    }
    return ch->closed ? BT_ECLOSED : BT_EAGAIN;
  }
  if (bt__cell_meet(ch, BT_OP_RECV, elem)) return BT_OK;
  uint32_t was;
  bt__waiter *w = claim_first(ch, &ch->sendq, &was);
  if (w) {
    memcpy(elem, w->elem, ch->size);
    complete(w, was, BT_OK);
    return BT_OK;
  }
  return ch->closed ? BT_ECLOSED : BT_EAGAIN;
}

/* ---- a lent slot (one producer) ---------------------------------------- */

void *bt__chan_lend(bt_chan *c) {
  if (c->cap == 0) return NULL;
  /* relaxed: only the caller moves the tail's position (the one producer);
   * a flag set meanwhile is bt__chan_publish()'s business. */
  uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
  if (t & BT__POS_CLOSED) return NULL;
  t &= BT__POS_MASK;
  /* acquire: pairs with the release store of 2 t by the receiver of
   * t - cap (fast_recv(), ring_pop()), so its copy out of the slot is done
   * before the producer writes into it. */
  if (atomic_load_explicit(slot_seq(c, t), memory_order_acquire) != 2 * t)
    return NULL;
  return slot_data(c, t);
}

int bt__chan_publish(bt_chan *c) {
  /* relaxed: the CAS below decides. */
  uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
  while (!(t & (BT__POS_LOCK | BT__POS_CLOSED))) {
    /* acquire: pairs with the release fetch_and in bt__chan_unlock(), so
     * the waiters queued before it are visible below (as in fast_send()).
     * Only a flag set meanwhile fails it: nobody else moves the tail. */
    if (atomic_compare_exchange_strong_explicit(&c->tail, &t, t + 1,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
      /* release: publishes the element the producer wrote into the slot;
       * pairs with the acquire loads of the sequence in fast_recv() and
       * ring_pop(). */
      atomic_store_explicit(slot_seq(c, t), 2 * t + 1, memory_order_release);
      /* relaxed: see the acquire CAS above. */
      if (atomic_load_explicit(&c->recv_waiting, memory_order_relaxed))
        pump_locked(c);
      return BT_OK;
    }
  }
  bt__chan_lock(c);
  int rc = BT_ECLOSED;
  if (!c->closed) {
    pump(c); /* (nothing: ring elements before ours went to waiters) */
    bool pushed = ring_push(c, NULL);
    BT_ASSERT(pushed); /* the lent slot was free, and nobody else sends */
    pump(c);           /* to a waiting receiver */
    rc = BT_OK;
  }
  bt__chan_unlock(c);
  return rc;
}

/* ---- parking ------------------------------------------------------------ */

/* Caller-driven progress: poll the transports of p->polls while p waits,
 * until every one stops, p is completed (by one of them, maybe) or the
 * deadline passes. */
static void park_poll(bt__parker *p, int64_t deadline_ns) {
  const bt__chan_remote *const *r = p->polls;
  int n = p->npolls, left = 0;
  bool began[BT__POLL_MAX], polling[BT__POLL_MAX];
  for (int i = 0; i < n; i++) {
    began[i] = polling[i] = r[i]->wait_begin(r[i]->ctx) != 0;
    left += polling[i];
  }
  if (left == 0) return;
  int64_t since = p->poll_since ? p->poll_since : bt__now_ns();
  /* relaxed: a hint; bt__park() decides with an acquire load. */
  while (left > 0 && atomic_load_explicit(&p->state, memory_order_relaxed) ==
                         BT__PARK_WAITING) {
    for (int i = 0; i < n; i++) {
      if (polling[i] && !r[i]->wait_poll(r[i]->ctx, since)) {
        polling[i] = false;
        left--;
      }
    }
    if (deadline_ns >= 0 && bt__now_ns() >= deadline_ns) break;
  }
  /* relaxed: a hint for the transport (whether it must take over). */
  int completed =
      atomic_load_explicit(&p->state, memory_order_relaxed) != BT__PARK_WAITING;
  for (int i = 0; i < n; i++)
    if (began[i]) r[i]->wait_end(r[i]->ctx, completed);
}

int bt__park(bt__parker *p, int64_t deadline_ns) {
  bt__watch watch;
  bt__watch_arm(&watch);
  if (p->npolls > 0) park_poll(p, bt__watch_deadline(&watch, deadline_ns));
  spin sp;
  spin_start(&sp, PARK_SPIN);
  /* relaxed: a hint; the acquire load below decides. */
  while (atomic_load_explicit(&p->state, memory_order_relaxed) !=
             BT__PARK_DONE &&
         spin_next(&sp))
    ;
  spin_stop(&sp);
  for (;;) {
    /* acquire: pairs with the release store of DONE in complete(). */
    uint32_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    switch (s) {
      case BT__PARK_DONE:
        return p->status;
      case BT__PARK_CLAIMED:
        /* The completer holds a channel lock and is copying: it is about
         * to publish DONE, and does not wake us (we were not asleep). */
        sched_yield();
        break;
      case BT__PARK_WAITING:
      case BT__PARK_SLEEPING:
        if (deadline_ns >= 0 && bt__now_ns() >= deadline_ns) {
          /* acq_rel: races the completers' CAS in claim_first(). */
          if (atomic_compare_exchange_strong_explicit(
                  &p->state, &s, BT__PARK_CANCELLED, memory_order_acq_rel,
                  memory_order_acquire))
            return BT_ETIMEDOUT;
          break;
        }
        if (s == BT__PARK_WAITING) {
          /* release: pairs with the acquire load in claim_first(), which
           * then knows to wake us. */
          atomic_compare_exchange_strong_explicit(
              &p->state, &s, BT__PARK_SLEEPING, memory_order_acq_rel,
              memory_order_acquire);
          break;
        }
        bt__futex_wait(&p->state, BT__PARK_SLEEPING,
                       bt__watch_deadline(&watch, deadline_ns));
        if (bt__watch_due(&watch)) {
          if (p->watch)
            p->watch(p->watch_ctx, &watch);
          else
            bt__watch_report(&watch, "a select over channels, none ready");
          /* A transport that polls on waiting threads polls again. */
          if (p->npolls > 0) park_poll(p, deadline_ns);
        }
        break;
      default:
        BT_ASSERT(!"parker in an impossible state");
    }
  }
}

/* ---- create, release ---------------------------------------------------- */

static int chan_alloc(const bt_type *t, size_t capacity, bt_chan **ch) {
  bt_chan *c = aligned_alloc(BT_CACHELINE, (sizeof *c + BT_CACHELINE - 1) /
                                               BT_CACHELINE * BT_CACHELINE);
  if (!c) return bt__fail(BT_ENOMEM, "channel of %s: out of memory", t->name);
  memset(c, 0, sizeof *c);
  c->stride = (sizeof(uint64_t) + t->size + 7) / 8 * 8;
  if (capacity > 0) {
    c->slots =
        aligned_alloc(BT_CACHELINE, (capacity * c->stride + BT_CACHELINE - 1) /
                                        BT_CACHELINE * BT_CACHELINE);
    if (!c->slots) goto err_free_chan;
    for (size_t i = 0; i < capacity; i++)
      atomic_init((_Atomic uint64_t *)(c->slots + i * c->stride), 2 * i);
  } else {
    c->slots = aligned_alloc(BT_CACHELINE, (c->stride + BT_CACHELINE - 1) /
                                               BT_CACHELINE * BT_CACHELINE);
    if (!c->slots) goto err_free_chan;
    atomic_init(cell_word(c), CELL_FREE);
  }
  c->magic = BT__CHAN_MAGIC;
  c->type = t;
  c->size = t->size;
  c->cap = capacity;
  c->cap_mask = capacity && !(capacity & (capacity - 1)) ? capacity - 1 : 0;
  atomic_init(&c->refs, 1);
  atomic_init(&c->lock.word, 0);
  atomic_init(&c->head, 0);
  atomic_init(&c->tail, 0);
  atomic_init(&c->send_waiting, 0);
  atomic_init(&c->recv_waiting, 0);
  *ch = c;
  return BT_OK;

err_free_chan:
  free(c);
  return bt__fail(BT_ENOMEM, "channel of %zu %s: out of memory", capacity,
                  t->name);
}

int bt_chan_create(const bt_type *t, size_t capacity, bt_chan **ch) {
  if (t == NULL || ch == NULL)
    return bt__fail(BT_EINVAL, "bt_chan_create: %s is NULL",
                    t == NULL ? "type" : "ch");
  if (bt__type_check(t, "bt_chan_create") != BT_OK) return BT_EINVAL;
  if (capacity > ((size_t)1 << 40) / (t->size + 8))
    return bt__fail(BT_EINVAL, "bt_chan_create: capacity %zu too large",
                    capacity);
  return chan_alloc(t, capacity, ch);
}

int bt__chan_create_remote(const bt_type *t, const bt__chan_remote *r,
                           bt_chan **ch) {
  if (t == NULL || r == NULL || ch == NULL)
    return bt__fail(BT_EINVAL, "bt__chan_create_remote: NULL argument");
  bt_chan *out = bt__chan_get(r->out), *in = bt__chan_get(r->in);
  if (!out || !in || out->remote || in->remote)
    return bt__fail(BT_EINVAL,
                    "bt__chan_create_remote: out and in must be local "
                    "channels");
  if (out->size != t->size || in->size != t->size)
    return bt__fail(BT_ETYPE,
                    "bt__chan_create_remote: type %s (%zu bytes) but out "
                    "carries %zu and in %zu bytes",
                    t->name, t->size, out->size, in->size);
  bt__chan_remote *copy = malloc(sizeof *copy);
  if (!copy) return bt__fail(BT_ENOMEM, "remote channel: out of memory");
  bt_chan *c = NULL; /* set by chan_alloc() on success */
  int rc = chan_alloc(t, 0, &c);
  if (rc != BT_OK) goto err_free_copy;
  *copy = *r;
  bt_chan_retain(out);
  bt_chan_retain(in);
  c->remote = copy;
  if (copy->wait_begin && copy->wait_poll && copy->wait_end)
    out->polled = in->polled = copy;
  *ch = c;
  return BT_OK;

err_free_copy:
  free(copy);
  return rc;
}

void bt_chan_retain(bt_chan *ch) {
  bt_chan *c = bt__chan_get(ch);
  if (c == NULL) return; /* NULL or not a live channel: nothing to retain */
  /* relaxed: the caller already holds a reference (as for any refcount). */
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

int bt_chan_release(bt_chan *ch) {
  if (ch == NULL) return BT_OK;
  bt_chan *c = bt__chan_get(ch);
  if (!c) return bt__bad_handle("bt_chan_release", "channel", ch);
  /* acq_rel: the last release sees every write other holders made before
   * theirs (pairs with the other holders' fetch_sub). */
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
    return BT_OK;
  if (c->remote) {
    bt__chan_remote *r = c->remote;
    r->out->polled = r->in->polled = NULL;
    if (r->destroy) r->destroy(r->ctx);
    bt_chan_release(r->out);
    bt_chan_release(r->in);
    free(r);
  } else {
    BT_ASSERT(c->sendq.head == NULL && c->recvq.head == NULL);
    /* relaxed: the last reference; no operation is in flight. */
    BT_ASSERT(c->cap > 0 ||
              (atomic_load_explicit(cell_word(c), memory_order_relaxed) &
               CELL_KIND) == CELL_FREE);
    if (c->cap > 0 && c->type->on_drop) {
      uint64_t t = tail_pos(c);
      for (uint64_t p = head_pos(c); p != t; p++)
        c->type->on_drop(slot_data(c, p));
    }
  }
  free(c->slots);
  bt__magic_kill(&c->magic);
  free(c);
  return BT_OK;
}

/* ---- operations ---------------------------------------------------------- */

/* What a blocked send or receive waits on, for the watchdog. */
typedef struct chan_watch {
  bt_chan *user, *local;
  int op;
} chan_watch;

static int queue_length(const bt__waitq *q) {
  int n = 0;
  for (const bt__waiter *w = q->head; w; w = w->next) n++;
  return n;
}

static void chan_watch_report(void *ctx, const bt__watch *w) {
  const chan_watch *cw = ctx;
  bt_chan *c = cw->local;
  char far[160] = "";
  if (cw->user->remote && cw->user->remote->describe) {
    size_t n = (size_t)snprintf(far, sizeof far, ", remote: ");
    cw->user->remote->describe(cw->user->remote->ctx, far + n, sizeof far - n);
  }
  bt__chan_lock(c);
  size_t len = ring_len(c);
  int senders = queue_length(&c->sendq), receivers = queue_length(&c->recvq);
  bool closed = c->closed;
  if (c->cap == 0) {
    /* relaxed: a snapshot for the report. */
    uint32_t k =
        atomic_load_explicit(cell_word(c), memory_order_relaxed) & CELL_KIND;
    senders += k == CELL_SWAIT;
    receivers += k == CELL_RWAIT;
  }
  bt__chan_unlock(c);
  bt__watch_report(w,
                   "%s on %schannel %p of %s (capacity %zu): %s%s, %d "
                   "sender%s and %d receiver%s waiting%s",
                   cw->op == BT_OP_SEND ? "send" : "receive",
                   cw->user->remote ? "remote " : "", (void *)cw->user,
                   c->type->name ? c->type->name : "?", c->cap,
                   c->cap == 0     ? "unbuffered"
                   : len == 0      ? "empty"
                   : len >= c->cap ? "full"
                                   : "neither empty nor full",
                   closed ? ", closed" : "", senders, senders == 1 ? "" : "s",
                   receivers, receivers == 1 ? "" : "s", far);
}

/* The party in the cell (a receiver in RWAIT, a sender in SWAIT) waits
 * for its partner: it spins on the word, then sleeps on it. BT_OK (the
 * element is handed over), BT_ECLOSED or BT_ETIMEDOUT (it withdrew:
 * nothing moved). */
static int cell_wait(bt_chan *user, bt_chan *c, int op, void *elem,
                     int64_t deadline) {
  _Atomic uint32_t *w = cell_word(c);
  uint32_t mine = op == BT_OP_SEND ? CELL_SWAIT : CELL_RWAIT;
  uint32_t done = op == BT_OP_SEND ? CELL_TAKEN : CELL_FULL;
  int64_t t0 = bt__trace_begin();
  spin sp;
  spin_start(&sp, PARK_SPIN);
  /* relaxed: a hint; the acquire load below decides. */
  while (atomic_load_explicit(w, memory_order_relaxed) == mine &&
         spin_next(&sp))
    ;
  spin_stop(&sp);
  chan_watch cw = {user, c, op};
  bt__watch watch;
  bt__watch_arm(&watch);
  int rc, busy = 0;
  for (;;) {
    /* acquire: pairs with the release publication in bt__cell_meet(). */
    uint32_t s = atomic_load_explicit(w, memory_order_acquire);
    uint32_t kind = s & CELL_KIND;
    if (kind == done) {
      if (op == BT_OP_RECV) memcpy(elem, cell_data(c), c->size);
      /* release: our copy (or the partner's) is over before the next
       * party enters; pairs with the acquire of its entry or claim. */
      atomic_fetch_sub_explicit(w, done, memory_order_release);
      rc = BT_OK;
      break;
    }
    if (kind != mine) {
      /* Claimed (FILL or TAKE): the partner is copying, a moment away. */
      if (++busy < 64)
        bt__cpu_relax();
      else
        sched_yield();
      continue;
    }
    bool closed = s & CELL_CLOSED;
    if (closed || (deadline >= 0 && bt__now_ns() >= deadline)) {
      /* acq_rel: races the partners' claim in cell_claim(). */
      if (atomic_compare_exchange_strong_explicit(
              w, &s, CELL_FREE | (s & CELL_CLOSED), memory_order_acq_rel,
              memory_order_acquire)) {
        rc = closed ? BT_ECLOSED : BT_ETIMEDOUT;
        break;
      }
      continue;
    }
    if (!(s & CELL_SLEEP)) {
      /* acq_rel: a claimer that sees SLEEP in the word it replaces wakes
       * us; pairs with its CAS in cell_claim(). */
      atomic_compare_exchange_strong_explicit(
          w, &s, s | CELL_SLEEP, memory_order_acq_rel, memory_order_acquire);
      continue;
    }
    bt__futex_wait(w, s, bt__watch_deadline(&watch, deadline));
    if (bt__watch_due(&watch)) chan_watch_report(&cw, &watch);
  }
  bt__trace_end(t0, "wait", op == BT_OP_SEND ? "send" : "recv", 0, 0);
  return rc;
}

enum { CELL_BUSY_SPIN = 64 };

/* The lock-free path of a send or receive on an unbuffered channel: meet
 * a partner waiting in the cell, or (blocking, both queues empty) wait
 * there. SLOW when the locked path must decide: queued waiters to serve,
 * a closed channel, a cell busy with another rendezvous. */
static int cell_op(bt_chan *user, bt_chan *c, int op, void *elem,
                   int64_t deadline) {
  _Atomic uint32_t *w = cell_word(c);
  uint32_t enter = op == BT_OP_SEND ? CELL_PUT : CELL_RWAIT;
  _Atomic uint32_t *mine_q =
      op == BT_OP_SEND ? &c->send_waiting : &c->recv_waiting;
  _Atomic uint32_t *their_q =
      op == BT_OP_SEND ? &c->recv_waiting : &c->send_waiting;
  for (int tries = 0;; tries++) {
    if (bt__cell_meet(c, op, elem)) return BT_OK;
    if (deadline == 0) return SLOW;
    /* relaxed: a hint (queued waiters are served through the lock, in
     * order); the seq_cst recheck below decides. */
    if (atomic_load_explicit(mine_q, memory_order_relaxed) ||
        atomic_load_explicit(their_q, memory_order_relaxed))
      return SLOW;
    uint32_t s = CELL_FREE;
    /* seq_cst: pairs with the seq_cst increment in bt__waitq_push() (a
     * partner queueing now will find us with bt__cell_meet(), or we find
     * it counted below); also acquire: pairs with the release that freed
     * the cell. */
    if (atomic_compare_exchange_strong_explicit(
            w, &s, enter, memory_order_seq_cst, memory_order_seq_cst))
      break;
    if (s & CELL_CLOSED) return SLOW;
    uint32_t kind = s & CELL_KIND;
    /* Someone like us waits there: queue behind it. */
    if (kind == (op == BT_OP_SEND ? CELL_SWAIT : CELL_RWAIT)) return SLOW;
    /* A partner waits (meet it) or another rendezvous is finishing. */
    if (kind != CELL_RWAIT && kind != CELL_SWAIT && tries >= CELL_BUSY_SPIN)
      return SLOW;
    bt__cpu_relax();
  }
  if (op == BT_OP_SEND) {
    memcpy(cell_data(c), elem, c->size);
    /* seq_cst: the entry proper (see above); release: publishes the
     * element to the receiver's claim in cell_claim(). */
    atomic_fetch_add_explicit(w, CELL_SWAIT - CELL_PUT, memory_order_seq_cst);
  }
  /* seq_cst: pairs with the seq_cst increment in bt__waitq_push(). */
  if (atomic_load_explicit(their_q, memory_order_seq_cst) != 0) {
    /* A partner queued before it could see us: withdraw and meet it
     * through the lock, unless someone already completed us. */
    uint32_t s = op == BT_OP_SEND ? CELL_SWAIT : CELL_RWAIT;
    /* acq_rel: races the partners' claim in cell_claim(). */
    if (atomic_compare_exchange_strong_explicit(
            w, &s, CELL_FREE, memory_order_acq_rel, memory_order_acquire))
      return SLOW;
  }
  return cell_wait(user, c, op, elem, deadline);
}

/* Caller-driven progress before queueing, for a receive on the `in` of a
 * remote channel whose transport polls on waiting threads: poll the
 * transport and take the element from the ring as soon as it lands there.
 * No waiter is queued and nobody parks, so the transport's delivery is a
 * plain ring push, not the completion of a queued waiter under the lock
 * (the common case of a ping-pong). BT_OK, SLOW, or BT_EAGAIN once the
 * transport stops polling (its spin budget, counted from *since, which the
 * park's own polling then continues) or the deadline passed. */
static int poll_recv(bt_chan *c, void *elem, int64_t deadline, int64_t *since) {
  const bt__chan_remote *r = c->polled;
  if (!r->wait_begin(r->ctx)) return BT_EAGAIN;
  *since = bt__now_ns();
  int rc = BT_EAGAIN;
  while (rc == BT_EAGAIN && r->wait_poll(r->ctx, *since)) {
    rc = fast_recv(c, elem);
    if (rc == BT_EAGAIN && deadline >= 0 && bt__now_ns() >= deadline) break;
  }
  r->wait_end(r->ctx, rc != BT_EAGAIN);
  return rc;
}

/* Blocks in the locked path: queue a waiter and park. poll_since: when
 * poll_recv() began polling the transport (0: it did not). */
static int chan_wait(bt_chan *user, bt_chan *c, int op, void *elem,
                     int64_t deadline, int64_t poll_since) {
  chan_watch cw = {user, c, op};
  bt__parker p = {.chosen = 0,
                  .status = BT_OK,
                  .poll_since = poll_since,
                  .watch = chan_watch_report,
                  .watch_ctx = &cw};
  atomic_init(&p.state, BT__PARK_WAITING);
  bt__waiter w = {.op = op, .index = 0, .elem = elem, .parker = &p};
  bt__waitq_push(c, &w);
  if (c->cap == 0 && bt__cell_meet(c, op, elem)) {
    /* A partner entered the cell before it could see us queued. */
    bt__waitq_remove(c, &w);
    bt__chan_unlock(c);
    return BT_OK;
  }
  bt__chan_unlock(c);
  int64_t t0 = bt__trace_begin();
  int rc = bt__park(&p, deadline);
  bt__trace_end(t0, "wait", op == BT_OP_SEND ? "send" : "recv", 0, 0);
  if (rc == BT_ETIMEDOUT) {
    bt__chan_lock(c);
    bt__waitq_remove(c, &w);
    bt__chan_unlock(c);
  }
  return rc;
}

static int chan_op(bt_chan *ch, int op, void *elem, int64_t timeout_ns) {
  bt_chan *user = bt__chan_get(ch);
  if (BT_UNLIKELY(user == NULL))
    return bt__bad_handle(op == BT_OP_SEND ? "send" : "recv", "channel", ch);
  if (BT_UNLIKELY(elem == NULL))
    return bt__fail(BT_EINVAL, "%s on channel %p: the element pointer is NULL",
                    op == BT_OP_SEND ? "send" : "recv", (void *)ch);
  bt_chan *c = bt__chan_local(user, op);
  const bt_type *t = c->type;
  int rc;
  if (op == BT_OP_SEND && t->on_send) {
    rc = t->on_send(elem, BT_CHECKED);
    if (rc != BT_OK) return rc;
  }
  if (BT_UNLIKELY(bt__debug_checks())) BT_ASSERT(bt__chan_check(c) == BT_OK);
  /* A transport that sends from the caller's buffer: no copy into out. */
  if (op == BT_OP_SEND && user->remote && user->remote->send_direct &&
      !t->on_send &&
      user->remote->send_direct(user->remote->ctx, elem) == BT_OK)
    return BT_OK;

  int64_t deadline = bt__deadline(timeout_ns), poll_since = 0;
  rc = SLOW;
  if (c->cap == 0) {
    /* Not for a transport that polls on this thread (see below). */
    if (!c->polled) rc = cell_op(user, c, op, elem, deadline);
  } else {
    rc = op == BT_OP_SEND ? fast_send(c, elem) : fast_recv(c, elem);
    if (rc == BT_EAGAIN && timeout_ns != 0) {
      /* Spin on the ring before queueing: the other side is often a
       * moment away. Not for a transport that polls on this thread: what
       * the spin would wait for is that polling. */
      if (!c->polled) {
        spin sp;
        spin_start(&sp, RING_SPIN);
        while (rc == BT_EAGAIN && spin_next(&sp))
          rc = op == BT_OP_SEND ? fast_send(c, elem) : fast_recv(c, elem);
        spin_stop(&sp);
      } else if (op == BT_OP_RECV) {
        rc = poll_recv(c, elem, deadline, &poll_since);
      }
      if (rc == BT_EAGAIN) rc = SLOW;
    }
  }
  if (rc == SLOW) {
    bt__chan_lock(c);
    rc = op == BT_OP_SEND ? bt__chan_send_locked(c, elem)
                          : bt__chan_recv_locked(c, elem);
    if (rc == BT_EAGAIN && timeout_ns != 0)
      rc = chan_wait(user, c, op, elem, deadline, poll_since); /* unlocks */
    else
      bt__chan_unlock(c);
  }

  if (rc == BT_OK) {
    if (op == BT_OP_RECV && t->on_recv) t->on_recv(elem);
    bt__chan_after(user, op);
    return BT_OK;
  }
  if (op == BT_OP_SEND && t->on_send && t->on_recv) t->on_recv(elem);
  switch (rc) {
    case BT_ECLOSED:
      if (user->remote && user->remote->closed_status)
        return bt__chan_closed_status(user, op);
      return bt__fail(BT_ECLOSED, "%s on a closed channel of %s",
                      op == BT_OP_SEND ? "send" : "receive", t->name);
    case BT_ETIMEDOUT:
      return bt__fail(BT_ETIMEDOUT, "%s timed out after %lld ns",
                      op == BT_OP_SEND ? "send" : "receive",
                      (long long)timeout_ns);
    default:
      return rc;
  }
}

int bt_send(bt_chan *ch, const void *elem) {
  return chan_op(ch, BT_OP_SEND, (void *)elem, -1);
}
int bt_recv(bt_chan *ch, void *elem) {
  return chan_op(ch, BT_OP_RECV, elem, -1);
}
int bt_try_send(bt_chan *ch, const void *elem) {
  return chan_op(ch, BT_OP_SEND, (void *)elem, 0);
}
int bt_try_recv(bt_chan *ch, void *elem) {
  return chan_op(ch, BT_OP_RECV, elem, 0);
}
int bt_send_timeout(bt_chan *ch, const void *elem, int64_t ns) {
  return chan_op(ch, BT_OP_SEND, (void *)elem, ns < 0 ? -1 : ns);
}
int bt_recv_timeout(bt_chan *ch, void *elem, int64_t ns) {
  return chan_op(ch, BT_OP_RECV, elem, ns < 0 ? -1 : ns);
}

int bt_chan_close(bt_chan *ch) {
  bt_chan *c = bt__chan_get(ch);
  if (!c) return bt__bad_handle("bt_chan_close", "channel", ch);
  if (c->remote)
    return c->remote->close ? c->remote->close(c->remote->ctx) : BT_OK;
  bt__chan_lock(c);
  if (c->closed) {
    bt__chan_unlock(c);
    return bt__fail(BT_ECLOSED, "channel of %s closed twice", c->type->name);
  }
  c->closed = true;
  if (c->cap > 0) {
    /* relaxed: the flag is ours until bt__chan_unlock() releases it. */
    atomic_fetch_or_explicit(&c->tail, BT__POS_CLOSED, memory_order_relaxed);
    pump(c); /* what the ring holds still goes to waiting receivers */
  } else {
    /* release: pairs with the acquire load in cell_wait(); a waiter in the
     * cell withdraws, an element already handed over still arrives. */
    uint32_t cell = atomic_fetch_or_explicit(cell_word(c), CELL_CLOSED,
                                             memory_order_release);
    if (cell & CELL_SLEEP) bt__futex_wake(cell_word(c), 1);
  }
  /* The receivers still blocked find nothing; the senders never will. */
  uint32_t was;
  bt__waiter *w;
  while ((w = claim_first(c, &c->recvq, &was)) != NULL)
    complete(w, was, BT_ECLOSED);
  while ((w = claim_first(c, &c->sendq, &was)) != NULL)
    complete(w, was, BT_ECLOSED);
  bt__chan_unlock(c);
  return BT_OK;
}

/* A remote channel reports the elements waiting to be received (its `in`)
 * and the capacity of its send side (its `out`), which is the capacity
 * its transport was created with. */
size_t bt_chan_len(const bt_chan *ch) {
  bt_chan *c = bt__chan_get(ch);
  if (!c) return 0;
  if (c->remote) return bt_chan_len(c->remote->in);
  return c->cap > 0 ? ring_len(c) : 0;
}

size_t bt_chan_cap(const bt_chan *ch) {
  bt_chan *c = bt__chan_get(ch);
  if (!c) return 0;
  if (c->remote) return bt_chan_cap(c->remote->out);
  return c->cap;
}

const bt_type *bt_chan_type(const bt_chan *ch) {
  bt_chan *c = bt__chan_get(ch);
  return c ? c->type : NULL;
}

/* ---- invariants ---------------------------------------------------------- */

static bool parker_live(const bt__parker *p) {
  /* acquire: pairs with the CAS in claim_first()/bt__park(); only a queued
   * waiter is checked, and those only leave the live states by a CAS. */
  uint32_t s =
      atomic_load_explicit(&((bt__parker *)p)->state, memory_order_acquire);
  return s == BT__PARK_WAITING || s == BT__PARK_SLEEPING;
}

/* Walks a queue, counting the waiters that still wait; *one is the parker
 * of the first of them, and *mixed is set when another parker also waits. */
static int check_queue(const bt_chan *c, const bt__waitq *q, int op,
                       const bt__parker **one, bool *mixed, size_t *live,
                       size_t *queued) {
  const bt__waiter *prev = NULL;
  size_t n = 0;
  for (const bt__waiter *w = q->head; w; prev = w, w = w->next) {
    if (w->prev != prev || !w->queued || w->op != op)
      return bt__fail(BT_ESTATE, "channel of %s: %s queue broken at waiter %zu",
                      c->type->name, op == BT_OP_SEND ? "send" : "receive", n);
    if (parker_live(w->parker)) {
      (*live)++;
      if (*one == NULL)
        *one = w->parker;
      else if (*one != w->parker)
        *mixed = true;
    }
    if (++n > (size_t)1 << 30)
      return bt__fail(BT_ESTATE, "channel of %s: waiter queue loops",
                      c->type->name);
  }
  if (q->tail != prev)
    return bt__fail(BT_ESTATE, "channel of %s: %s queue tail is wrong",
                    c->type->name, op == BT_OP_SEND ? "send" : "receive");
  *queued = n;
  return BT_OK;
}

/* Lock held: the ring's positions and sequence numbers. A slot may lag by
 * one step where a lock-free operation reserved it before the lock. */
static int check_ring(const bt_chan *c) {
  uint64_t h = head_pos(c), t = tail_pos(c);
  if (t - h > c->cap)
    return bt__fail(BT_ESTATE, "channel of %s: %llu elements, capacity %zu",
                    c->type->name, (unsigned long long)(t - h), c->cap);
  for (uint64_t p = h; p != h + c->cap; p++) {
    /* acquire: pairs with the release stores of sequence numbers. */
    uint64_t s = atomic_load_explicit(slot_seq(c, p), memory_order_acquire);
    bool ok = p < t ? (s == 2 * p + 1 || s == 2 * p)             /* full slot */
                    : (s == 2 * p || s == 2 * (p - c->cap) + 1); /* free */
    if (!ok)
      return bt__fail(BT_ESTATE,
                      "channel of %s: slot of position %llu has sequence "
                      "%llu (head %llu, tail %llu)",
                      c->type->name, (unsigned long long)p,
                      (unsigned long long)s, (unsigned long long)h,
                      (unsigned long long)t);
  }
  return BT_OK;
}

int bt__chan_check(const bt_chan *ch) {
  bt_chan *c = bt__chan_get(ch);
  if (!c) return bt__fail(BT_ESTATE, "not a channel (bad magic)");
  if (c->remote) return BT_OK;
  bt__chan_lock(c);
  int rc = BT_OK;
  size_t live_s = 0, live_r = 0, nsend = 0, nrecv = 0;
  const bt__parker *one = NULL;
  bool mixed = false;
  if (c->cap > 0 && (rc = check_ring(c)) != BT_OK) goto out;
  rc = check_queue(c, &c->sendq, BT_OP_SEND, &one, &mixed, &live_s, &nsend);
  if (rc == BT_OK)
    rc = check_queue(c, &c->recvq, BT_OP_RECV, &one, &mixed, &live_r, &nrecv);
  if (rc != BT_OK) goto out;
  /* relaxed: written under the lock we hold. */
  if (atomic_load_explicit(&c->send_waiting, memory_order_relaxed) != nsend ||
      atomic_load_explicit(&c->recv_waiting, memory_order_relaxed) != nrecv) {
    rc = bt__fail(BT_ESTATE, "channel of %s: waiter counts are wrong",
                  c->type->name);
  } else if (live_s > 0 && live_r > 0 && mixed) {
    /* Only one select, with send and receive cases on this very channel,
     * may wait on both sides at once: any other pair would have met. */
    rc = bt__fail(BT_ESTATE,
                  "channel of %s: %zu senders and %zu receivers wait at once",
                  c->type->name, live_s, live_r);
  } else if (c->closed && (live_s > 0 || live_r > 0)) {
    rc = bt__fail(BT_ESTATE, "channel of %s: closed with %zu waiters",
                  c->type->name, live_s + live_r);
  } else if (c->cap == 0) {
    /* relaxed: CLOSED is written under the lock we hold. */
    uint32_t cell = atomic_load_explicit(cell_word(c), memory_order_relaxed);
    if (((cell & CELL_CLOSED) != 0) != c->closed)
      rc = bt__fail(BT_ESTATE,
                    "channel of %s: %s, but its rendezvous cell says %s",
                    c->type->name, c->closed ? "closed" : "open",
                    cell & CELL_CLOSED ? "closed" : "open");
  }
out:
  bt__chan_unlock(c);
  return rc;
}
