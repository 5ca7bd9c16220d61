/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * box_int.h: the exchange heap's private interface (core/box.c), shared by
 * the slot (core/slot.c), the box transfer types and the tests.
 *
 * A box tree's holder is stored on its root only; a child finds it through
 * its parent links, so moving a tree is O(1) and a holder check O(depth).
 * Frozen boxes have no holder: they are immutable and shared by refcount.
 */
#ifndef BATON_BOX_INT_H
#define BATON_BOX_INT_H

#include "core_int.h"

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

#define BT__BOX_MAGIC 0x786f6274u /* "tbox" */

struct bt_box {
  uint32_t magic;
  /* 0 until frozen, then 1 for ever. Release store in freeze; acquire
   * loads wherever a non-holder may read the data. */
  _Atomic uint32_t frozen;
  _Atomic uint64_t refs; /* atomic; acq_rel fetch_sub frees at zero */
  /* Roots only: the bt__thread_id() of the thread holding the tree, 0 while
   * it is in flight or detached. Written by the holder (send, detach) and by
   * the adopter (recv, attach) after a synchronizing hand-over. */
  _Atomic uint64_t holder;
  /* The box this one is linked under, NULL for a root. Written by the tree's
   * holder (link, release of the parent); atomic because frozen boxes are
   * read by any thread. Linking CASes it from NULL. */
  _Atomic(struct bt_box *) parent;
  size_t slot_in_parent; /* written by the linker once it owns the link */
  size_t size, nchildren;
  /* Mutable box: written by the holder only. Frozen: immutable. */
  struct bt_box **children;
  unsigned char *data;
};

/* The handle's struct, NULL unless b is a live box (magic checked in every
 * build; a freed box's magic is BT__MAGIC_DEAD). */
static inline bt_box *bt__box_get(const bt_box *b) {
  return b != NULL && b->magic == BT__BOX_MAGIC ? (bt_box *)b : NULL;
}

/* 1 if b is frozen (acquire: pairs with the release store in freeze). */
static inline int bt__box_frozen(const bt_box *b) {
  return atomic_load_explicit(&b->frozen, memory_order_acquire) != 0;
}

/* The root of b's tree (b itself for a root). O(depth). */
bt_box *bt__box_root(const bt_box *b);

/* 1 if the calling thread holds the mutable box b (through its root). */
int bt__box_held(const bt_box *b);

/* Give away the mutable, held, unlinked tree b as a send does: checks
 * (BT_EINVAL for NULL, BT_EMOVED if not held, BT_ESHARED if linked under a
 * parent or, with BT_CHECKED, if b or a mutable box below it has a
 * reference count above one; BT_EFROZEN if frozen) and, on success only,
 * marks it in flight (holder 0). `op` names the operation in messages. */
int bt__box_give(bt_box *b, bt_transfer mode, const char *op);

/* The calling thread adopts a tree given away by bt__box_give(). */
void bt__box_adopt(bt_box *b);

/* Invariant checker of b's subtree: parent links and slots agree, every
 * reference count is at least one, frozen boxes have only frozen children.
 * BT_OK or BT_ESTATE with bt_errmsg(). */
int bt__box_check(const bt_box *b);

/* The reference count now (a snapshot, for tests). */
uint64_t bt__box_refs(const bt_box *b);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_BOX_INT_H */
