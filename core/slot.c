/* SPDX-License-Identifier: BSD-3-Clause */
/* slot.c: bt_slot, a versioned atomic cell holding a detached tree or a
 * frozen box: the safe form of a shared global.
 *
 * The cell is a short critical section under a mutex: a load must take its
 * reference before a concurrent swap can drop the slot's, and a mutex does
 * that with no hazard scheme. Version and content change together, so every
 * successful swap or CAS gets a version strictly greater than the last. */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include "box_int.h"

#define BT__SLOT_MAGIC 0x746f6c73u /* "slot" */

struct bt_slot {
  uint32_t magic; /* BT__SLOT_MAGIC while alive, BT__MAGIC_DEAD after */
  pthread_mutex_t lock;
  bt_box *content;  /* protected by lock: NULL, frozen, or a detached tree */
  uint64_t version; /* protected by lock: +1 at every swap */
};

/* The struct of a handle, NULL unless it is a live slot (every build). */
static inline bt_slot *slot_get(bt_slot *s) {
  return s != NULL && s->magic == BT__SLOT_MAGIC ? s : NULL;
}

int bt_slot_create(bt_slot **s) {
  if (s == NULL) return bt__fail(BT_EINVAL, "bt_slot_create: NULL output");
  bt_slot *slot = calloc(1, sizeof *slot);
  if (slot == NULL) return bt__fail(BT_ENOMEM, "bt_slot_create: no memory");
  if (pthread_mutex_init(&slot->lock, NULL) != 0) {
    free(slot);
    return bt__fail(BT_ENOMEM, "bt_slot_create: pthread_mutex_init failed");
  }
  slot->magic = BT__SLOT_MAGIC;
  *s = slot;
  return BT_OK;
}

int bt_slot_destroy(bt_slot *s) {
  if (s == NULL) return BT_OK;
  if (slot_get(s) == NULL) return bt__bad_handle("bt_slot_destroy", "slot", s);
  (void)bt_box_release(s->content);
  pthread_mutex_destroy(&s->lock);
  bt__magic_kill(&s->magic);
  free(s);
  return BT_OK;
}

int bt_slot_load(bt_slot *s, bt_box **frozen, uint64_t *version) {
  if (slot_get(s) == NULL) return bt__bad_handle("bt_slot_load", "slot", s);
  pthread_mutex_lock(&s->lock);
  bt_box *b = s->content;
  uint64_t v = s->version;
  if (b != NULL && !bt__box_frozen(b)) {
    pthread_mutex_unlock(&s->lock);
    return bt__fail(BT_ESTATE,
                    "bt_slot_load: the slot holds a detached tree (box %p, "
                    "version %" PRIu64 "): take it with bt_slot_swap",
                    (void *)b, v);
  }
  if (b != NULL && frozen != NULL) bt_box_retain(b);
  pthread_mutex_unlock(&s->lock);
  if (frozen != NULL) *frozen = b;
  if (version != NULL) *version = v;
  return BT_OK;
}

static int exchange(bt_slot *s, const uint64_t *expected, bt_box *value,
                    bt_box **old, uint64_t *version, const char *op) {
  if (slot_get(s) == NULL) return bt__bad_handle(op, "slot", s);
  if (value != NULL && bt__box_get(value) == NULL)
    return bt__bad_handle(op, "box", value);
  /* A mutable tree is checked and given away before the lock (the walk is
   * O(n)); if the version then does not match, the caller adopts it back,
   * which no other thread can tell apart from nothing having moved. */
  int mutable_value = value != NULL && !bt__box_frozen(value);
  if (mutable_value) {
    int rc = bt__box_give(value, BT_CHECKED, op);
    if (rc != BT_OK) return rc;
  }
  pthread_mutex_lock(&s->lock);
  if (expected != NULL && *expected != s->version) {
    uint64_t now = s->version;
    pthread_mutex_unlock(&s->lock);
    if (mutable_value) bt__box_adopt(value);
    return bt__fail(BT_EAGAIN,
                    "%s: the slot is at version %" PRIu64 ", not %" PRIu64, op,
                    now, *expected);
  }
  bt_box *previous = s->content;
  s->content = value;
  uint64_t v = ++s->version;
  pthread_mutex_unlock(&s->lock);
  /* The mutex's unlock/lock pair published the tree to us, its next taker. */
  if (previous != NULL && !bt__box_frozen(previous)) bt__box_adopt(previous);
  if (old != NULL)
    *old = previous;
  else
    (void)bt_box_release(previous);
  if (version != NULL) *version = v;
  return BT_OK;
}

int bt_slot_swap(bt_slot *s, bt_box *value, bt_box **old, uint64_t *version) {
  return exchange(s, NULL, value, old, version, "bt_slot_swap");
}

int bt_slot_cas(bt_slot *s, uint64_t expected, bt_box *value, bt_box **old,
                uint64_t *version) {
  return exchange(s, &expected, value, old, version, "bt_slot_cas");
}
