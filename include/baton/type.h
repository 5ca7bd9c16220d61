/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/type.h
 * @brief Transfer types: how an element moves through a channel, a job or
 *        the MPI bridge.
 *
 * Plain values are copied. Handles (boxes, frozen boxes, slices) move:
 * on_send checks that the calling thread holds the handle and marks it in
 * flight, so every later use by the sender answers BT_EMOVED; on_recv makes
 * the receiving thread its holder; on_drop disposes of an element that was
 * sent but never delivered (left in a channel at its last release, in a
 * future released unconsumed). The same interface serves channels, jobs and
 * the MPI bridge.
 */
#ifndef BATON_TYPE_H
#define BATON_TYPE_H

#include "baton/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How much a transfer checks. */
typedef enum {
  BT_CHECKED,  /**< verify the sender may give the element away (O(n) walk
                    for box trees) */
  BT_UNCHECKED /**< trust the caller */
} bt_transfer;

/** The MPI form of a type; defined by baton/mpi.h. NULL means "bytes". */
struct bt_wire;

/** A transfer type. Instances are immutable and must outlive every channel,
 *  job and future that uses them.
 *
 *  The struct may gain fields in a later minor version. A type the program
 *  defines itself starts from BT_TYPE_INIT (C and C++) or, in C, from
 *  designated initialisers that set `.struct_size = sizeof(bt_type)`. The
 *  library keeps a pointer to the type and reads a field added after the
 *  first layout only when struct_size covers it: a type compiled against an
 *  older header gets the newer fields' defaults. struct_size 0 or any value
 *  that is not the size of a bt_type layout is refused with BT_EINVAL by
 *  every call that takes a type. */
typedef struct bt_type {
  size_t struct_size;                            /**< sizeof(bt_type) as the
                                                      caller was compiled */
  const char *name;                              /**< for messages */
  size_t size;                                   /**< bytes per element */
  int (*on_send)(void *elem, bt_transfer mode);  /**< check + move; NULL:
                                                      plain copy */
  void (*on_recv)(void *elem);                   /**< the receiver adopts it */
  void (*on_drop)(void *elem);                   /**< never delivered */
  const struct bt_wire *wire;                    /**< MPI form; NULL: bytes */
  int (*numa_of)(const void *elem);              /**< home NUMA node of the
                                                      element's data (logical
                                                      index in its runtime),
                                                      -1 unknown; NULL: none.
                                                      BT_ANY_WORKER uses it.
                                                      Optional: absent from
                                                      the first layout. */
} bt_type;

/** A type with no name, size 0 and no hooks, to fill in, in C and C++:
 *  `bt_type t = BT_TYPE_INIT; t.name = "pair"; t.size = 16;` */
#define BT_TYPE_INIT {sizeof(bt_type), NULL, 0, NULL, NULL, NULL, NULL, NULL}

/** Plain values, copied: double, int64_t, int32_t, void *. */
BT_API extern const bt_type bt_type_f64, bt_type_i64, bt_type_i32,
    bt_type_ptr;
/** Handles, moved: bt_box * (mutable tree), bt_box * (frozen), bt_slice. */
BT_API extern const bt_type bt_type_box, bt_type_frozen, bt_type_slice;

/**
 * @brief Describe any plain-old-data type, copied by value.
 * @param name a static string naming the type (kept by pointer).
 * @param size bytes per element, 1 .. 65536.
 * @param out out: the type (a value the caller keeps alive while in use),
 *        struct_size set to this library's sizeof(bt_type).
 * @return BT_OK or BT_EINVAL.
 */
BT_API BT_NODISCARD int bt_type_value(const char *name, size_t size,
                                      bt_type *out);

#ifdef __cplusplus
}
#endif

#endif /* BATON_TYPE_H */
