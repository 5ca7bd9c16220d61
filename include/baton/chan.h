/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/chan.h
 * @brief Typed channels with Go's semantics, and select.
 *
 * A channel carries elements of one bt_type. FIFO; many senders and many
 * receivers; capacity 0 is a rendezvous (a send completes only when a
 * receiver takes the element). Close wakes every waiter; buffered elements
 * are still received in order after close, then BT_ECLOSED. A failed send
 * never consumes the element: it stays with the sender.
 *
 * Thread-safety: every function here is thread-safe. Ownership: a channel
 * is refcounted (create gives one reference); elements left in it at the
 * last release are dropped with the type's on_drop.
 */
#ifndef BATON_CHAN_H
#define BATON_CHAN_H

#include "baton/type.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A channel. Opaque, refcounted. */
typedef struct bt_chan bt_chan;

/**
 * @brief Make a channel of elements of type t.
 * @param t the element type; must outlive the channel.
 * @param capacity buffered elements; 0 for a rendezvous channel.
 * @param ch out: the channel with one reference.
 * @return BT_OK, BT_EINVAL, BT_ENOMEM.
 */
BT_API BT_NODISCARD int bt_chan_create(const bt_type *t, size_t capacity,
                                       bt_chan **ch);
/** @brief Take one more reference. */
BT_API void bt_chan_retain(bt_chan *ch);
/** @brief Drop a reference; at the last, drop buffered elements and free.
 *  NULL is accepted. @return BT_OK. */
BT_API int bt_chan_release(bt_chan *ch);

/**
 * @brief Send one element, blocking while the channel is full (or, for
 *        capacity 0, until a receiver takes it).
 * @param elem points at t->size bytes; a handle type moves it.
 * @return BT_OK, BT_ECLOSED (element stays with the sender), BT_EMOVED or
 *         BT_ETYPE (on_send refused the element), BT_EINVAL.
 */
BT_API BT_NODISCARD int bt_send(bt_chan *ch, const void *elem);
/** @brief Receive one element into elem, blocking while empty.
 *  @return BT_OK, BT_ECLOSED (closed and drained), BT_EINVAL. */
BT_API BT_NODISCARD int bt_recv(bt_chan *ch, void *elem);
/** @brief Send without blocking. @return as bt_send, or BT_EAGAIN. */
BT_API BT_NODISCARD int bt_try_send(bt_chan *ch, const void *elem);
/** @brief Receive without blocking. @return as bt_recv, or BT_EAGAIN. */
BT_API BT_NODISCARD int bt_try_recv(bt_chan *ch, void *elem);
/** @brief Send, waiting at most ns nanoseconds (-1: forever, 0: poll).
 *  @return as bt_send, or BT_ETIMEDOUT (BT_EAGAIN when ns is 0). */
BT_API BT_NODISCARD int bt_send_timeout(bt_chan *ch, const void *elem,
                                        int64_t ns);
/** @brief Receive, waiting at most ns nanoseconds (-1: forever, 0: poll).
 *  @return as bt_recv, or BT_ETIMEDOUT (BT_EAGAIN when ns is 0). */
BT_API BT_NODISCARD int bt_recv_timeout(bt_chan *ch, void *elem, int64_t ns);
/** @brief Close: wakes every waiter. @return BT_OK, BT_ECLOSED if already
 *  closed. */
BT_API int bt_chan_close(bt_chan *ch);
/** @brief Elements buffered now (a snapshot). */
BT_API size_t bt_chan_len(const bt_chan *ch);
/** @brief Capacity given at creation. */
BT_API size_t bt_chan_cap(const bt_chan *ch);
/** @brief The element type. */
BT_API const bt_type *bt_chan_type(const bt_chan *ch);

enum { BT_OP_SEND = 1, BT_OP_RECV = 2 };

/** One case of a select: send *elem on chan, or receive into *elem. A case
 *  with chan NULL is ignored (as a nil channel in Go). */
typedef struct bt_case {
  bt_chan *chan;
  int op;
  void *elem;
} bt_case;

/**
 * @brief Wait until one case can proceed, and do it. Picks uniformly at
 *        random among the cases ready at one instant.
 * @param timeout_ns -1: forever; 0: poll (BT_EAGAIN only if no case was
 *        ready); else at most that long (BT_ETIMEDOUT).
 * @param chosen out: the index of the case that proceeded, also written when
 *        that case's channel was closed (return BT_ECLOSED).
 * @return BT_OK, BT_ECLOSED, BT_EAGAIN, BT_ETIMEDOUT, BT_EINVAL, or an
 *         on_send refusal of the chosen send case. BT_EINVAL also when
 *         every case is ignored (no case, or all channels NULL) and
 *         timeout_ns is -1: unlike Go's empty select, which blocks forever,
 *         that is reported as a mistake. With a timeout such a select just
 *         waits it out (BT_ETIMEDOUT; BT_EAGAIN when timeout_ns is 0).
 */
BT_API BT_NODISCARD int bt_select(bt_case *cases, int n, int64_t timeout_ns,
                                  int *chosen);

#ifdef __cplusplus
}
#endif

#endif /* BATON_CHAN_H */
