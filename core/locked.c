/* SPDX-License-Identifier: BSD-3-Clause */
/* locked.c: bt_locked, mutable bytes behind a reader-writer lock, shared by
 * refcount.
 *
 * Each thread keeps the set of bt_locked it holds, so that an unlock by a
 * thread that holds nothing answers BT_ESTATE instead of the undefined
 * behaviour of pthread_rwlock_unlock, and so that a second lock by the same
 * thread (which would deadlock) answers BT_ESTATE too. */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include "core_int.h"

#define BT__LOCKED_MAGIC 0x6b636f6cu /* "lock" */

struct bt_locked {
  uint32_t magic;
  _Atomic uint64_t refs; /* atomic; acq_rel fetch_sub frees at zero */
  pthread_rwlock_t lock;
  size_t size;
  unsigned char *data; /* protected by lock */
};

/* The struct of a handle, NULL unless it is a live bt_locked (every
 * build; a freed one's magic is BT__MAGIC_DEAD). */
static inline bt_locked *locked_get(const bt_locked *l) {
  return l != NULL && l->magic == BT__LOCKED_MAGIC ? (bt_locked *)l : NULL;
}

/* The calling thread's held locks. Freed when it becomes empty, so a thread
 * that exits holding nothing leaks nothing. */
typedef struct held {
  const bt_locked *locked;
  int writing;
} held;
static _Thread_local held *held_set;
static _Thread_local size_t held_count, held_cap;

static held *held_find(const bt_locked *l) {
  for (size_t i = 0; i < held_count; i++)
    if (held_set[i].locked == l) return &held_set[i];
  return NULL;
}

/* Make room for one more entry before locking, so a lock once taken is
 * always recorded. */
static int held_reserve(void) {
  if (held_count < held_cap) return BT_OK;
  size_t cap = held_cap ? 2 * held_cap : 4;
  held *grown = realloc(held_set, cap * sizeof *grown);
  if (grown == NULL) return bt__fail(BT_ENOMEM, "bt_locked: no memory");
  held_set = grown;
  held_cap = cap;
  return BT_OK;
}

static void held_trim(void) {
  if (held_count == 0) {
    free(held_set);
    held_set = NULL;
    held_cap = 0;
  }
}

static void held_remove(held *h) {
  *h = held_set[--held_count];
  held_trim();
}

/* The largest data kept in the header's block. */
enum { DATA_INLINE_MAX = 4096 };

static size_t locked_head(void) {
  const size_t align = alignof(max_align_t);
  return (sizeof(bt_locked) + align - 1) / align * align;
}

int bt_locked_create(size_t bytes, bt_locked **l) {
  if (l == NULL) return bt__fail(BT_EINVAL, "bt_locked_create: NULL output");
  const size_t align = alignof(max_align_t);
  size_t head = (sizeof(bt_locked) + align - 1) / align * align;
  if (bytes > SIZE_MAX / 2)
    return bt__fail(BT_EINVAL, "bt_locked_create: %zu bytes is too large",
                    bytes);
  /* Large data gets its own block, so that the header stays in the
   * allocator's small blocks, which stay mapped once freed: a released
   * handle then reads a poisoned magic, never an unmapped page. */
  int apart = bytes > DATA_INLINE_MAX;
  bt_locked *locked = calloc(1, apart ? head : head + bytes);
  unsigned char *data = NULL;
  if (locked != NULL)
    data =
        apart ? calloc(1, bytes ? bytes : 1) : (unsigned char *)locked + head;
  if (data == NULL) {
    free(locked);
    return bt__fail(BT_ENOMEM, "bt_locked_create: %zu bytes", bytes);
  }
  pthread_rwlockattr_t attr;
  int err = pthread_rwlockattr_init(&attr);
  if (err != 0) goto err_free;
  /* Writers first, so a stream of readers cannot starve them; safe because
   * a thread never takes the same lock twice (held_find refuses it). */
  pthread_rwlockattr_setkind_np(&attr,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  err = pthread_rwlock_init(&locked->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (err != 0) goto err_free;
  locked->magic = BT__LOCKED_MAGIC;
  locked->size = bytes;
  locked->data = data;
  atomic_init(&locked->refs, 1);
  *l = locked;
  return BT_OK;

err_free:
  if (apart) free(data);
  free(locked);
  return bt__fail(BT_ENOMEM, "bt_locked_create: rwlock init failed (%d)", err);
}

void bt_locked_retain(bt_locked *l) {
  if (locked_get(l) == NULL) return; /* NULL or not a live bt_locked */
  /* relaxed: the caller holds a reference, so the count stays above zero. */
  uint64_t before =
      atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
  BT_ASSERT(before > 0);
}

int bt_locked_release(bt_locked *l) {
  if (l == NULL) return BT_OK;
  if (locked_get(l) == NULL)
    return bt__bad_handle("bt_locked_release", "bt_locked", l);
  /* acq_rel: pairs with itself in every other release, so the last one sees
   * all the others' writes before it frees. */
  uint64_t before =
      atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel);
  BT_ASSERT(before > 0);
  if (before == 1) {
    /* Releasing the last reference while holding the lock is a misuse; the
     * entry must not outlive the object (its address may be reused). */
    held *h = held_find(l);
    if (h != NULL) {
      pthread_rwlock_unlock(&l->lock);
      held_remove(h);
    }
    pthread_rwlock_destroy(&l->lock);
    bt__magic_kill(&l->magic);
    if (l->data != (unsigned char *)l + locked_head()) free(l->data);
    free(l);
  }
  return BT_OK;
}

static int lock(bt_locked *l, int writing, int64_t timeout_ns, void **data) {
  const char *op = writing ? "bt_locked_write" : "bt_locked_read";
  if (locked_get(l) == NULL) return bt__bad_handle(op, "bt_locked", l);
  if (data == NULL) return bt__fail(BT_EINVAL, "%s: NULL output", op);
  held *h = held_find(l);
  if (h != NULL)
    return bt__fail(BT_ESTATE, "%s: the calling thread already holds %p for %s",
                    op, (void *)l, h->writing ? "writing" : "reading");
  int rc = held_reserve();
  if (rc != BT_OK) return rc;
  int err;
  if (timeout_ns == 0) {
    err = writing ? pthread_rwlock_trywrlock(&l->lock)
                  : pthread_rwlock_tryrdlock(&l->lock);
  } else if (timeout_ns < 0) {
    err = writing ? pthread_rwlock_wrlock(&l->lock)
                  : pthread_rwlock_rdlock(&l->lock);
  } else {
    int64_t deadline = bt__deadline(timeout_ns);
    struct timespec at = {(time_t)(deadline / 1000000000),
                          (long)(deadline % 1000000000)};
    err = writing ? pthread_rwlock_clockwrlock(&l->lock, CLOCK_MONOTONIC, &at)
                  : pthread_rwlock_clockrdlock(&l->lock, CLOCK_MONOTONIC, &at);
  }
  if (err != 0) held_trim();
  switch (err) {
    case 0:
      break;
    case EBUSY:
      return bt__fail(BT_EAGAIN, "%s: %p is locked", op, (void *)l);
    case ETIMEDOUT:
      return bt__fail(BT_ETIMEDOUT, "%s: %p still locked after %lld ns", op,
                      (void *)l, (long long)timeout_ns);
    case EAGAIN:
      return bt__fail(BT_EAGAIN, "%s: too many readers of %p", op, (void *)l);
    default:
      return bt__fail(BT_ESTATE, "%s: %p: pthread error %d", op, (void *)l,
                      err);
  }
  held_set[held_count].locked = l;
  held_set[held_count].writing = writing;
  held_count++;
  *data = l->data;
  return BT_OK;
}

int bt_locked_write(bt_locked *l, int64_t timeout_ns, void **data) {
  return lock(l, 1, timeout_ns, data);
}

int bt_locked_read(bt_locked *l, int64_t timeout_ns, const void **data) {
  void *p = NULL; /* set by lock() on success; NULL keeps -O3 quiet */
  if (data == NULL) return bt__fail(BT_EINVAL, "bt_locked_read: NULL output");
  int rc = lock(l, 0, timeout_ns, &p);
  if (rc == BT_OK) *data = p;
  return rc;
}

int bt_locked_unlock(bt_locked *l) {
  if (locked_get(l) == NULL)
    return bt__bad_handle("bt_locked_unlock", "bt_locked", l);
  held *h = held_find(l);
  if (h == NULL)
    return bt__fail(BT_ESTATE,
                    "bt_locked_unlock: the calling thread does not hold %p",
                    (void *)l);
  pthread_rwlock_unlock(&l->lock);
  held_remove(h);
  return BT_OK;
}
