/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * chan_int.h: the channel struct and the pieces that chan.c and select.c
 * share. Private to core (not even core_int.h exposes it).
 *
 * The design is Go's runtime/chan.go: one lock per channel, a ring buffer,
 * and two queues of waiters ("sudogs"), one per blocked operation. A
 * blocked thread (a plain send/recv or a select, one waiter per case) owns
 * one parker: a futex word it spins on, then sleeps on. Whoever completes a
 * waiter first wins a CAS on that word (WAITING/SLEEPING -> CLAIMED), copies
 * the element directly to or from the waiter's buffer while holding the
 * channel's lock, then publishes DONE. A waiter that times out wins the CAS
 * WAITING/SLEEPING -> CANCELLED instead, so an element is handed to exactly
 * one operation and is never lost.
 *
 * An unbuffered channel adds a lock-free rendezvous "cell" beside the
 * queues (chan.c, "the rendezvous cell"): one futex word and one element
 * on a cache line of their own. A blocking send or receive that finds
 * both queues empty waits in the cell instead of queueing (it spins on the
 * word, then sleeps on it), and its partner completes it with one CAS and
 * a copy, no lock; whoever holds the lock treats a cell waiter as the head
 * of its queue. A party publishes itself in the cell and then reads the
 * opposite queue's count, and a queueing party counts itself and then
 * reads the cell (both sequentially consistent), so one of any two that
 * could meet sees the other.
 */
#ifndef BATON_CHAN_INT_H
#define BATON_CHAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core_int.h"

/* ---- the channel lock: a futex mutex (Drepper's "mutex3") ------------- */

/* word: 0 free, 1 held, 2 held and someone may sleep on it. */
typedef struct bt__lock {
  _Atomic uint32_t word; /* atomic */
} bt__lock;

void bt__lock_slow(bt__lock *l);

static inline void bt__lock_acquire(bt__lock *l) {
  uint32_t free_ = 0;
  /* acquire: pairs with the release exchange in bt__lock_release(). */
  if (BT_LIKELY(atomic_compare_exchange_strong_explicit(
          &l->word, &free_, 1, memory_order_acquire, memory_order_relaxed)))
    return;
  bt__lock_slow(l);
}

static inline void bt__lock_release(bt__lock *l) {
  /* release: pairs with the acquire CAS/exchange in bt__lock_acquire() and
   * bt__lock_slow(). */
  if (BT_UNLIKELY(atomic_exchange_explicit(&l->word, 0, memory_order_release) ==
                  2))
    bt__futex_wake(&l->word, 1);
}

/* ---- parkers and waiters ---------------------------------------------- */

enum {
  BT__PARK_WAITING = 0,  /* queued, the owner spins */
  BT__PARK_SLEEPING = 1, /* queued, the owner sleeps on the futex */
  BT__PARK_CLAIMED = 2,  /* a completer won; it is copying the element */
  BT__PARK_DONE = 3,     /* completed: status and chosen are valid */
  BT__PARK_CANCELLED = 4 /* the owner timed out first */
};

/* The most transports one wait polls (a select of more remote channels
 * polls those of its first cases). */
enum { BT__POLL_MAX = 8 };

/* The wait state of one blocked thread; lives on its stack. */
typedef struct bt__parker {
  _Atomic uint32_t state; /* atomic: see the enum */
  int chosen;             /* written by the completer before DONE */
  int status;             /* BT_OK or BT_ECLOSED, idem */
  /* Owner only: the remote channels whose transports poll on waiting
   * threads (bt__chan_remote's wait hooks) among those the owner queued
   * waiters on (bt__waitq_push() gathers them); bt__park() polls them
   * before it spins and sleeps. Zero-initialised. */
  int npolls;
  const bt__chan_remote *polls[BT__POLL_MAX];
  /* Owner only: when it began polling them before it queued (chan.c's
   * poll_recv()), so the park's polling continues that spin instead of
   * starting another; 0: at the park. */
  int64_t poll_since;
  /* Owner only: BATON_WATCHDOG's report of what the wait waits on, called
   * once when it has lasted that long (NULL: a select's generic line). */
  void (*watch)(void *ctx, const bt__watch *w);
  void *watch_ctx;
} bt__parker;

/* One blocked operation on one channel ("sudog"); lives on the stack of
 * the blocked thread (or in its select's array). */
typedef struct bt__waiter {
  struct bt__waiter *prev, *next; /* protected by chan->lock */
  bool queued;                    /* protected by chan->lock */
  int op;                         /* BT_OP_SEND / BT_OP_RECV; immutable */
  int index;                      /* the select case; immutable */
  void *elem;                     /* the waiter's element; immutable */
  bt__parker *parker;             /* immutable */
} bt__waiter;

typedef struct bt__waitq {
  bt__waiter *head, *tail; /* protected by chan->lock */
} bt__waitq;

#define BT__CHAN_MAGIC 0x6368616eu /* "chan" */

/* A buffered channel's ring is Vyukov's bounded MPMC queue: positions head
 * and tail count up for ever; slot pos % cap carries a sequence number
 * (2 pos: free for the sender of pos; 2 pos + 1: holds the element of pos;
 * its receiver then writes 2 (pos + cap), free for the next lap; doubling
 * keeps "full" and "free" apart even for capacity 1). Uncontended sends and
 * receives are lock-free. The top bits of head and tail are flags: LOCK,
 * set on both while the channel's lock is held, makes every lock-free
 * attempt fall back to the lock, so a lock holder (a blocking operation,
 * select, close) sees the ring frozen, except for operations that reserved
 * their position before: it waits for those to publish. CLOSED lives in
 * tail for ever after close. */
#define BT__POS_MASK ((UINT64_C(1) << 62) - 1)
#define BT__POS_LOCK (UINT64_C(1) << 62)
#define BT__POS_CLOSED (UINT64_C(1) << 63)

struct bt_chan {
  uint32_t magic;          /* immutable; 0 once freed */
  const bt_type *type;     /* immutable */
  size_t size;             /* bytes per element; immutable */
  size_t cap;              /* immutable */
  size_t stride;           /* bytes per ring slot; immutable */
  uint64_t cap_mask;       /* cap - 1 if cap is a power of two, else 0 */
  bt__chan_remote *remote; /* immutable; NULL for a local channel */
  /* The remote channel this one is the out or in of, when its transport
   * has wait hooks, else NULL: set by bt__chan_create_remote() before the
   * remote channel is published, cleared at its last release; read by
   * threads queueing a waiter here (always through the remote channel). */
  const bt__chan_remote *polled;
  /* The ring (cap > 0), or the rendezvous cell (cap 0: its futex word,
   * then one element). */
  unsigned char *slots;
  _Atomic int refs;                    /* atomic */
  BT_ALIGNED_CL _Atomic uint64_t tail; /* atomic: senders' position+flags */
  BT_ALIGNED_CL _Atomic uint64_t head; /* atomic: receivers' position+flags */
  /* Waiters queued (written under lock; read by lock-free operations after
   * their acquire CAS on head/tail, which pairs with the release in
   * bt__chan_unlock(): a waiter queued before the unlock is seen; on an
   * unbuffered channel, after their seq_cst entry into the rendezvous
   * cell, which pairs with the seq_cst increment in bt__waitq_push()). */
  BT_ALIGNED_CL _Atomic uint32_t send_waiting, recv_waiting;
  BT_ALIGNED_CL bt__lock lock;
  bool closed;            /* protected by lock */
  bt__waitq sendq, recvq; /* protected by lock */
};

/* Take / drop a channel's lock (and, for a buffered channel, freeze its
 * ring against lock-free operations). */
void bt__chan_lock(bt_chan *ch);
void bt__chan_unlock(bt_chan *ch);

/* The struct of a handle, checking its magic. NULL if not a channel. */
static inline bt_chan *bt__chan_get(const bt_chan *ch) {
  if (BT_UNLIKELY(ch == NULL || ch->magic != BT__CHAN_MAGIC)) return NULL;
  return (bt_chan *)ch;
}

/* Lock held: do a send / receive now if it can proceed without blocking.
 * Returns BT_OK (done: element delivered or taken, maybe handed to/from a
 * waiter which is completed), BT_ECLOSED, or BT_EAGAIN (nothing changed).
 * on_send/on_recv are the caller's business. */
int bt__chan_send_locked(bt_chan *ch, const void *elem);
int bt__chan_recv_locked(bt_chan *ch, void *elem);

/* Capacity 0, lock held or not: complete the partner waiting in the
 * rendezvous cell, if there is one (a receiver for BT_OP_SEND: elem is
 * copied to it; a sender for BT_OP_RECV: its element is copied to elem).
 * True if done; false changes nothing. Sequentially consistent, so that a
 * caller that has just queued a waiter (bt__waitq_push()) and finds no one
 * here is seen by any party entering the cell later. */
bool bt__cell_meet(bt_chan *ch, int op, void *elem);

/* Lock held: queue / unqueue a waiter (unqueue of one not queued is a
 * no-op). */
void bt__waitq_push(bt_chan *ch, bt__waiter *w);
void bt__waitq_remove(bt_chan *ch, bt__waiter *w);

/* Block until the parker is completed (returns the completer's status) or
 * the absolute deadline passes (-1: never; returns BT_ETIMEDOUT, and the
 * parker is then CANCELLED so no completer will touch its waiters). First,
 * the transports in p->polls may complete it on this thread (see
 * bt__chan_remote's wait_begin). No channel lock may be held. */
int bt__park(bt__parker *p, int64_t deadline_ns);

/* The local channel a case acts on: a remote channel's out (send) or in
 * (receive), a local channel itself. */
static inline bt_chan *bt__chan_local(bt_chan *ch, int op) {
  if (ch->remote) return op == BT_OP_SEND ? ch->remote->out : ch->remote->in;
  return ch;
}

/* The status an operation that found its channel closed returns: BT_ECLOSED,
 * or for a remote channel with a closed_status hook the transport's own
 * (which sets bt_errmsg()). */
static inline int bt__chan_closed_status(bt_chan *user, int op) {
  if (user->remote && user->remote->closed_status)
    return user->remote->closed_status(user->remote->ctx, op);
  return BT_ECLOSED;
}

/* After a successful operation on a remote channel: its hook. */
static inline void bt__chan_after(bt_chan *ch, int op) {
  if (!ch->remote) return;
  if (op == BT_OP_SEND) {
    if (ch->remote->after_send) ch->remote->after_send(ch->remote->ctx);
  } else if (ch->remote->after_recv) {
    ch->remote->after_recv(ch->remote->ctx);
  }
}

#endif /* BATON_CHAN_INT_H */
