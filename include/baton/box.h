/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/box.h
 * @brief The exchange heap: boxes (trees of owned memory), freezing,
 *        detaching, slots and locked data.
 *
 * A box is a block of bytes plus child slots, linked into trees. A mutable
 * box is sendable iff its reference count and that of every mutable box
 * below it is one. Frozen subtrees are immutable and shared by atomic
 * refcount. Detach turns an unshared tree into an opaque pointer any C code
 * may store; attach adopts it once, in any thread.
 *
 * Thread-safety: retain/release/freeze-state queries are thread-safe; the
 * data of a mutable box is for its holder alone.
 */
#ifndef BATON_BOX_H
#define BATON_BOX_H

#include "baton/type.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bt_box bt_box;

/**
 * @brief Make a box of `bytes` zeroed bytes and `nchildren` empty child
 *        slots, held by the calling thread, reference count 1.
 * @return BT_OK, BT_EINVAL, BT_ENOMEM.
 */
BT_API BT_NODISCARD int bt_box_create(size_t bytes, size_t nchildren,
                                      bt_box **b);
/** @brief Writable data; NULL if frozen or not held by the calling thread
 *  (sent, detached, or part of a tree held by another thread). */
BT_API void *bt_box_data(bt_box *b);
/** @brief Read-only data: for the holder, and for anyone if frozen; NULL
 *  otherwise. */
BT_API const void *bt_box_cdata(const bt_box *b);
/** @brief Size in bytes, and number of child slots. */
BT_API size_t bt_box_size(const bt_box *b);
BT_API size_t bt_box_nchildren(const bt_box *b);
/**
 * @brief Put child in parent's slot, taking over the caller's reference to
 *        child. A child already in the slot is released.
 * @return BT_OK, BT_EINVAL (slot out of range), BT_ECYCLE (child already has
 *         a parent, or the link would close a loop), BT_EFROZEN (parent
 *         frozen), BT_EMOVED (caller does not hold parent or child).
 */
BT_API BT_NODISCARD int bt_box_link(bt_box *parent, size_t slot,
                                    bt_box *child);
/** @brief The child in a slot (borrowed, no reference taken), or NULL. */
BT_API bt_box *bt_box_child(const bt_box *b, size_t slot);
/** @brief Take one more reference. Thread-safe. */
BT_API void bt_box_retain(bt_box *b);
/** @brief Drop a reference; the subtree is freed at zero. NULL accepted.
 *  A child that outlives its freed parent (someone retained it) becomes a
 *  root held by the releasing thread. Thread-safe. @return BT_OK. */
BT_API int bt_box_release(bt_box *b);
/** @brief Freeze the whole subtree, for ever. @return BT_OK, BT_EMOVED. */
BT_API BT_NODISCARD int bt_box_freeze(bt_box *b);
/** @brief 1 if frozen. Thread-safe. */
BT_API int bt_box_is_frozen(const bt_box *b);
/**
 * @brief Turn an unshared tree into an opaque pointer (checked like a send).
 * @return BT_OK, BT_ESHARED, BT_EMOVED, BT_EFROZEN (use a frozen box as is).
 */
BT_API BT_NODISCARD int bt_box_detach(bt_box *b, bt_transfer mode,
                                      void **opaque);
/**
 * @brief Adopt a detached tree in the calling thread. Exactly once: a second
 *        attach of the same pointer answers BT_EMOVED.
 * The opaque pointer is a ticket (an index and a generation in a process-wide
 * table whose records are never freed), not the box's address: presenting it
 * again, even after the tree was freed, is always caught, never undefined
 * behaviour (until one ticket record is reused 2^32 times). A tree detached
 * and never attached is leaked, like unfreed memory.
 * @return BT_OK, BT_EMOVED, BT_EINVAL (NULL, or not a ticket).
 */
BT_API BT_NODISCARD int bt_box_attach(void *opaque, bt_box **b);

/** A versioned atomic cell holding a detached tree or a frozen box: the safe
 *  form of a shared global. Thread-safe. */
typedef struct bt_slot bt_slot;
BT_API BT_NODISCARD int bt_slot_create(bt_slot **s);
/** @brief Free the slot, releasing what it holds. NULL accepted. */
BT_API int bt_slot_destroy(bt_slot *s);
/**
 * @brief Read the slot: a frozen box gets one more reference (the caller
 *        releases it); a detached tree is not given out (load answers
 *        BT_ESTATE: take it with swap). Either out may be NULL.
 */
BT_API BT_NODISCARD int bt_slot_load(bt_slot *s, bt_box **frozen,
                                     uint64_t *version);
/**
 * @brief Put a new value in the slot and take out the old one. `value` is a
 *        frozen box (its reference moves in) or a held mutable tree (checked
 *        like a send, then detached into the slot); NULL empties the slot.
 *        *old receives the previous content, adopted by the caller (NULL
 *        allowed: then it is released).
 * @return BT_OK, BT_ESHARED, BT_EMOVED.
 */
BT_API BT_NODISCARD int bt_slot_swap(bt_slot *s, bt_box *value, bt_box **old,
                                     uint64_t *version);
/** @brief As swap, only if the slot's version is still `expected`;
 *  otherwise BT_EAGAIN and nothing moves. */
BT_API BT_NODISCARD int bt_slot_cas(bt_slot *s, uint64_t expected,
                                    bt_box *value, bt_box **old,
                                    uint64_t *version);

/** Mutable data behind a reader-writer lock, shared by refcount: the way to
 *  share mutable state between threads. Thread-safe. */
typedef struct bt_locked bt_locked;
/** @brief Make `bytes` zeroed bytes behind a lock, refcount 1. */
BT_API BT_NODISCARD int bt_locked_create(size_t bytes, bt_locked **l);
BT_API void bt_locked_retain(bt_locked *l);
BT_API int bt_locked_release(bt_locked *l);
/** @brief Lock for writing (exclusive) and get the data; timeout as
 *  elsewhere (0: BT_EAGAIN if locked). A thread holds at most one lock on a
 *  given bt_locked: locking it again before unlocking answers BT_ESTATE
 *  (instead of deadlocking). Writers are preferred over new readers.
 *  @return BT_OK, BT_ETIMEDOUT, BT_EAGAIN, BT_ESTATE, BT_EINVAL. */
BT_API BT_NODISCARD int bt_locked_write(bt_locked *l, int64_t timeout_ns,
                                        void **data);
/** @brief Lock for reading (shared) and get the data. Codes as
 *  bt_locked_write(). */
BT_API BT_NODISCARD int bt_locked_read(bt_locked *l, int64_t timeout_ns,
                                       const void **data);
/** @brief Unlock what this thread locked. @return BT_OK, BT_ESTATE. */
BT_API int bt_locked_unlock(bt_locked *l);

#ifdef __cplusplus
}
#endif

#endif /* BATON_BOX_H */
