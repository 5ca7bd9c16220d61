/* SPDX-License-Identifier: BSD-3-Clause */
/* box.c: the exchange heap: boxes, trees, freezing, detach/attach, and the
 * box transfer types (bt_type_box, bt_type_frozen). */
#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "box_int.h"

/* ---- trees ------------------------------------------------------------- */

static bt_box *parent_of(const bt_box *b) {
  /* acquire: pairs with the release CAS in bt_box_link(). A thread that is
   * not the holder may ask whether it holds a box (bt_box_data() after a
   * send) while the new holder links it under a box it just made: it must
   * see that box initialized before it follows the link. */
  return atomic_load_explicit(&((bt_box *)b)->parent, memory_order_acquire);
}

bt_box *bt__box_root(const bt_box *b) {
  bt_box *cur = (bt_box *)b, *up;
  while ((up = parent_of(cur)) != NULL) cur = up;
  return cur;
}

static uint64_t holder_of(const bt_box *root) {
  /* relaxed: the holder is compared with the calling thread's own id; the
   * hand-over that made it so (a channel, an attach) already synchronized. */
  return atomic_load_explicit(&((bt_box *)root)->holder, memory_order_relaxed);
}

int bt__box_held(const bt_box *b) {
  return !bt__box_frozen(b) && holder_of(bt__box_root(b)) == bt__thread_id();
}

uint64_t bt__box_refs(const bt_box *b) {
  /* acquire: pairs with the acq_rel fetch_sub in bt_box_release(). */
  return atomic_load_explicit(&((bt_box *)b)->refs, memory_order_acquire);
}

/* Pre-order walk over top and the mutable boxes below it, skipping frozen
 * subtrees, with no stack: it climbs back through the parent links. Stops at
 * the first box for which visit() returns nonzero and returns it. Only the
 * holder of the tree calls it. */
static bt_box *walk_mutable(bt_box *top, int (*visit)(bt_box *b, void *ctx),
                            void *ctx) {
  if (bt__box_frozen(top)) return NULL;
  if (visit(top, ctx)) return top;
  bt_box *cur = top;
  size_t i = 0;
  for (;;) {
    bt_box *next = NULL;
    for (; i < cur->nchildren; i++) {
      bt_box *c = cur->children[i];
      if (c != NULL && !bt__box_frozen(c)) {
        next = c;
        break;
      }
    }
    if (next != NULL) {
      if (visit(next, ctx)) return next;
      cur = next;
      i = 0;
      continue;
    }
    if (cur == top) return NULL;
    i = cur->slot_in_parent + 1;
    cur = parent_of(cur);
  }
}

/* Write the path from top down to b ("root[2][0]") into buf. */
static void path_of(const bt_box *top, const bt_box *b, char *buf, size_t len) {
  size_t slots[64];
  size_t depth = 0, total = 0;
  for (const bt_box *cur = b; cur != top; cur = parent_of(cur)) {
    if (depth < 64) slots[depth++] = cur->slot_in_parent;
    total++;
  }
  int n = snprintf(buf, len, "root");
  size_t at = n > 0 ? (size_t)n : 0;
  if (total > depth && at < len) {
    n = snprintf(buf + at, len - at, "...(%zu levels)", total - depth);
    at += n > 0 ? (size_t)n : 0;
  }
  while (depth > 0 && at < len) {
    n = snprintf(buf + at, len - at, "[%zu]", slots[--depth]);
    at += n > 0 ? (size_t)n : 0;
  }
}

static int visit_shared(bt_box *b, void *ctx) {
  (void)ctx;
  return bt__box_refs(b) != 1;
}

int bt__box_give(bt_box *b, bt_transfer mode, const char *op) {
  if (bt__box_get(b) == NULL) return bt__bad_handle(op, "box", b);
  if (bt__box_frozen(b))
    return bt__fail(BT_EFROZEN, "%s of box %p: it is frozen", op, (void *)b);
  bt_box *root = bt__box_root(b);
  uint64_t self = bt__thread_id(), holder = holder_of(root);
  if (holder != self) {
    if (holder == 0)
      return bt__fail(BT_EMOVED,
                      "%s of box %p: it is in flight or detached, not held "
                      "by thread %" PRIu64,
                      op, (void *)b, self);
    return bt__fail(BT_EMOVED,
                    "%s of box %p: it is held by thread %" PRIu64
                    ", not by the calling thread %" PRIu64,
                    op, (void *)b, holder, self);
  }
  if (root != b)
    return bt__fail(BT_ESHARED,
                    "%s of box %p: it is linked under box %p (slot %zu), "
                    "which holds a reference to it",
                    op, (void *)b, (void *)parent_of(b), b->slot_in_parent);
  if (mode == BT_CHECKED) {
    if (BT_UNLIKELY(bt__debug_checks())) BT_ASSERT(bt__box_check(b) == BT_OK);
    bt_box *shared = walk_mutable(b, visit_shared, NULL);
    if (shared != NULL) {
      char path[256];
      path_of(b, shared, path, sizeof path);
      return bt__fail(BT_ESHARED,
                      "%s of box %p: box %p at %s is shared (reference "
                      "count %" PRIu64 ", a checked transfer needs 1)",
                      op, (void *)b, (void *)shared, path,
                      bt__box_refs(shared));
    }
  }
  /* relaxed: the element itself is published by the hand-over (channel,
   * job queue, ticket) that follows, with its own release. */
  atomic_store_explicit(&b->holder, 0, memory_order_relaxed);
  return BT_OK;
}

void bt__box_adopt(bt_box *b) {
  BT_ASSERT(parent_of(b) == NULL);
  /* relaxed: the hand-over that gave us b (channel, job, ticket CAS)
   * already acquired it. */
  atomic_store_explicit(&b->holder, bt__thread_id(), memory_order_relaxed);
}

/* The invariants of one box and the links to its direct children. */
static int check_local(const bt_box *b) {
  if (b->magic != BT__BOX_MAGIC)
    return bt__fail(BT_ESTATE, "box %p: bad magic %#x", (void *)b, b->magic);
  if (bt__box_refs(b) == 0)
    return bt__fail(BT_ESTATE, "box %p: reference count 0 in a live tree",
                    (void *)b);
  for (size_t i = 0; i < b->nchildren; i++) {
    const bt_box *c = b->children[i];
    if (c == NULL) continue;
    if (parent_of(c) != b || c->slot_in_parent != i)
      return bt__fail(
          BT_ESTATE, "box %p slot %zu: child %p links back to %p slot %zu",
          (void *)b, i, (void *)c, (void *)parent_of(c), c->slot_in_parent);
    if (bt__box_frozen(b) && !bt__box_frozen(c))
      return bt__fail(BT_ESTATE, "frozen box %p has a mutable child %p",
                      (void *)b, (void *)c);
  }
  return BT_OK;
}

int bt__box_check(const bt_box *top) {
  if (top == NULL) return BT_OK;
  /* A full walk over frozen and mutable boxes, with a heap stack: the
   * checker must not trust the links it checks. */
  size_t cap = 64, n = 0;
  const bt_box **stack = malloc(cap * sizeof *stack);
  if (stack == NULL) return bt__fail(BT_ENOMEM, "box check: no memory");
  int rc = BT_OK;
  stack[n++] = top;
  while (n > 0 && rc == BT_OK) {
    const bt_box *b = stack[--n];
    rc = check_local(b);
    for (size_t i = 0; i < b->nchildren && rc == BT_OK; i++) {
      const bt_box *c = b->children[i];
      if (c == NULL) continue;
      if (n == cap) {
        const bt_box **grown = realloc(stack, 2 * cap * sizeof *stack);
        if (grown == NULL) {
          rc = bt__fail(BT_ENOMEM, "box check: no memory");
          break;
        }
        stack = grown;
        cap *= 2;
      }
      stack[n++] = c;
    }
  }
  free(stack);
  return rc;
}

/* ---- create, link, release --------------------------------------------- */

/* The largest body (child links and data) kept in the header's block. */
enum { BODY_INLINE_MAX = 4096 };

static size_t box_head(void) {
  const size_t align = alignof(max_align_t);
  return (sizeof(bt_box) + align - 1) / align * align;
}

int bt_box_create(size_t bytes, size_t nchildren, bt_box **b) {
  if (b == NULL) return bt__fail(BT_EINVAL, "bt_box_create: NULL output");
  const size_t align = alignof(max_align_t);
  size_t head = (sizeof(bt_box) + align - 1) / align * align;
  if (nchildren > (SIZE_MAX / 4) / sizeof(bt_box *) || bytes > SIZE_MAX / 4)
    return bt__fail(BT_EINVAL,
                    "bt_box_create: %zu bytes and %zu children "
                    "is too large",
                    bytes, nchildren);
  size_t links = (nchildren * sizeof(bt_box *) + align - 1) / align * align;
  /* A large body gets its own block, so that the header stays in the
   * allocator's small blocks, which stay mapped once freed: a released
   * handle then reads a poisoned magic, never an unmapped page. */
  int apart = links + bytes > BODY_INLINE_MAX;
  bt_box *box = calloc(1, apart ? head : head + links + bytes);
  unsigned char *body = NULL;
  if (box != NULL)
    body = apart ? calloc(1, links + bytes) : (unsigned char *)box + head;
  if (body == NULL) {
    free(box);
    return bt__fail(BT_ENOMEM, "bt_box_create: %zu bytes",
                    head + links + bytes);
  }
  box->magic = BT__BOX_MAGIC;
  box->size = bytes;
  box->nchildren = nchildren;
  box->children = (bt_box **)body;
  box->data = body + links;
  atomic_init(&box->frozen, 0);
  atomic_init(&box->refs, 1);
  atomic_init(&box->holder, bt__thread_id());
  atomic_init(&box->parent, NULL);
  *b = box;
  return BT_OK;
}

/* Free every box of a tree whose reference count reached zero, iteratively
 * (trees may be deeper than the stack): a dead box's parent field is reused
 * as the link of the list of boxes still to free. A child that survives
 * becomes a root held by the calling thread. */
static void free_tree(bt_box *dead) {
  uint64_t self = bt__thread_id();
  atomic_store_explicit(&dead->parent, NULL, memory_order_relaxed);
  bt_box *todo = dead;
  while (todo != NULL) {
    bt_box *b = todo;
    todo = parent_of(b);
    for (size_t i = 0; i < b->nchildren; i++) {
      bt_box *c = b->children[i];
      if (c == NULL) continue;
      /* Unlink before dropping our reference: once dropped, another
       * holder of c may free it at any moment. relaxed: whoever reads these
       * fields next synchronizes with our release through the fetch_sub. */
      atomic_store_explicit(&c->parent, NULL, memory_order_relaxed);
      if (!bt__box_frozen(c))
        atomic_store_explicit(&c->holder, self, memory_order_relaxed);
      /* acq_rel: release our writes to c to its last owner; acquire theirs
       * if we are the last. Pairs with the same fetch_sub in
       * bt_box_release(). */
      if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        atomic_store_explicit(&c->parent, todo, memory_order_relaxed);
        todo = c;
      }
    }
    bt__magic_kill(&b->magic);
    if ((unsigned char *)b->children != (unsigned char *)b + box_head())
      free(b->children);
    free(b);
  }
}

void bt_box_retain(bt_box *b) {
  if (bt__box_get(b) == NULL) return; /* NULL or not a live box */
  /* relaxed: the caller holds a reference, so the count cannot reach zero
   * meanwhile; nothing is published by taking one more. */
  uint64_t before =
      atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  BT_ASSERT(before > 0);
}

int bt_box_release(bt_box *b) {
  if (b == NULL) return BT_OK;
  if (bt__box_get(b) == NULL) return bt__bad_handle("bt_box_release", "box", b);
  if (parent_of(b) != NULL && bt__box_refs(b) == 1)
    return bt__fail(BT_ESTATE,
                    "bt_box_release: box %p is linked under box %p, which "
                    "holds its only reference",
                    (void *)b, (void *)parent_of(b));
  /* acq_rel: pairs with itself in every other release (and in free_tree),
   * so the last releaser sees every write made under the other
   * references before it frees. */
  uint64_t before =
      atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel);
  BT_ASSERT(before > 0);
  if (before == 1) {
    BT_ASSERT(parent_of(b) == NULL);
    free_tree(b);
  }
  return BT_OK;
}

int bt_box_link(bt_box *parent, size_t slot, bt_box *child) {
  if (bt__box_get(parent) == NULL)
    return bt__bad_handle("bt_box_link", "parent box", parent);
  if (bt__box_get(child) == NULL)
    return bt__bad_handle("bt_box_link", "child box", child);
  if (slot >= parent->nchildren)
    return bt__fail(BT_EINVAL, "bt_box_link: slot %zu of box %p, which has %zu",
                    slot, (void *)parent, parent->nchildren);
  if (bt__box_frozen(parent))
    return bt__fail(BT_EFROZEN, "bt_box_link: parent box %p is frozen",
                    (void *)parent);
  if (!bt__box_held(parent))
    return bt__fail(BT_EMOVED,
                    "bt_box_link: parent box %p is not held by the calling "
                    "thread",
                    (void *)parent);
  int child_frozen = bt__box_frozen(child);
  if (parent_of(child) != NULL)
    return bt__fail(BT_ECYCLE,
                    "bt_box_link: box %p already has a parent (box %p): "
                    "trees only",
                    (void *)child, (void *)parent_of(child));
  if (!child_frozen && !bt__box_held(child))
    return bt__fail(BT_EMOVED,
                    "bt_box_link: child box %p is not held by the calling "
                    "thread",
                    (void *)child);
  for (bt_box *up = parent; up != NULL; up = parent_of(up))
    if (up == child)
      return bt__fail(BT_ECYCLE,
                      "bt_box_link: box %p is an ancestor of box %p: the "
                      "link would close a loop",
                      (void *)child, (void *)parent);
  /* A frozen child may be linked by several threads at once (it is shared):
   * only one wins its parent link. release: pairs with the acquire in
   * parent_of(), publishing the parent's initialization to whoever follows
   * the link. */
  bt_box *none = NULL;
  if (!atomic_compare_exchange_strong_explicit(&child->parent, &none, parent,
                                               memory_order_release,
                                               memory_order_relaxed))
    return bt__fail(BT_ECYCLE,
                    "bt_box_link: box %p was linked under box %p meanwhile",
                    (void *)child, (void *)none);
  child->slot_in_parent = slot;
  bt_box *old = parent->children[slot];
  parent->children[slot] = child;
  if (old != NULL) {
    atomic_store_explicit(&old->parent, NULL, memory_order_relaxed);
    if (!bt__box_frozen(old))
      atomic_store_explicit(&old->holder, bt__thread_id(),
                            memory_order_relaxed);
    (void)bt_box_release(old);
  }
  /* Local only: a full check per link would make building a tree
   * quadratic. The full one runs with each checked transfer, already O(n). */
  if (BT_UNLIKELY(bt__debug_checks())) {
    BT_ASSERT(check_local(parent) == BT_OK);
    BT_ASSERT(check_local(child) == BT_OK);
  }
  return BT_OK;
}

bt_box *bt_box_child(const bt_box *b, size_t slot) {
  if (bt__box_get(b) == NULL || slot >= b->nchildren) return NULL;
  if (!bt__box_frozen(b) && !bt__box_held(b)) return NULL;
  return b->children[slot];
}

void *bt_box_data(bt_box *b) {
  if (bt__box_get(b) == NULL) return NULL;
  return bt__box_held(b) ? b->data : NULL;
}

const void *bt_box_cdata(const bt_box *b) {
  if (bt__box_get(b) == NULL) return NULL;
  if (bt__box_frozen(b) || bt__box_held(b)) return b->data;
  return NULL;
}

size_t bt_box_size(const bt_box *b) {
  return bt__box_get(b) ? b->size : 0;
}

size_t bt_box_nchildren(const bt_box *b) {
  return bt__box_get(b) ? b->nchildren : 0;
}

/* ---- freezing ---------------------------------------------------------- */

static int visit_freeze(bt_box *b, void *ctx) {
  (void)ctx;
  /* release: pairs with the acquire in bt__box_frozen(), so a thread that
   * sees the flag sees the data as it was frozen. */
  atomic_store_explicit(&b->frozen, 1, memory_order_release);
  return 0;
}

int bt_box_freeze(bt_box *b) {
  if (bt__box_get(b) == NULL) return bt__bad_handle("bt_box_freeze", "box", b);
  if (bt__box_frozen(b)) return BT_OK;
  if (!bt__box_held(b))
    return bt__fail(BT_EMOVED,
                    "bt_box_freeze: box %p is not held by the calling thread",
                    (void *)b);
  /* The walk skips subtrees already frozen and marks in pre-order; it only
   * looks at a box's children after marking it, which is safe since no
   * other thread may touch a mutable tree meanwhile. */
  (void)walk_mutable(b, visit_freeze, NULL);
  return BT_OK;
}

int bt_box_is_frozen(const bt_box *b) {
  return bt__box_get(b) != NULL && bt__box_frozen(b);
}

/* ---- detach and attach ------------------------------------------------- */

/* A detached tree is represented by a ticket: the opaque pointer encodes a
 * ticket index (plus one, in the low half of the word) and its generation
 * (the high half). Ticket records live in segments that are never freed and
 * are recycled with a new generation, so presenting a ticket twice, or after
 * its tree was attached and freed, is always caught (BT_EMOVED), never
 * undefined behaviour. The table is process-wide, like an allocator; it
 * holds no runtime state. */
typedef struct ticket {
  /* generation << 1 | 1 while it holds a tree. Release store by detach,
   * acquire CAS by attach, which moves it to (generation + 1) << 1. */
  _Atomic uint64_t state;
  bt_box *box;      /* written by detach before its release store */
  size_t next_free; /* protected by tickets.lock */
} ticket;

enum { TICKET_SEG0 = 256, TICKET_SEGS = 24 };
#define TICKET_BITS (sizeof(uintptr_t) * 4)
#define TICKET_LOW_MASK ((((uintptr_t)1) << TICKET_BITS) - 1)
#define TICKET_NONE SIZE_MAX

static struct {
  pthread_mutex_t lock;
  size_t used;      /* protected by lock: indexes handed out so far */
  size_t free_head; /* protected by lock */
  /* release store when a segment is made, acquire load in attach. */
  _Atomic(ticket *) segs[TICKET_SEGS];
} tickets = {PTHREAD_MUTEX_INITIALIZER, 0, TICKET_NONE, {NULL}};

/* Segment k holds TICKET_SEG0 << k tickets, from index SEG0 * (2^k - 1). */
static ticket *ticket_at(size_t index, int make) {
  size_t q = index / TICKET_SEG0 + 1;
  int k = 0;
  while ((q >> (k + 1)) != 0) k++;
  if (k >= TICKET_SEGS) return NULL;
  size_t first = (size_t)TICKET_SEG0 * (((size_t)1 << k) - 1);
  ticket *seg = atomic_load_explicit(&tickets.segs[k], memory_order_acquire);
  if (seg == NULL && make) {
    seg = calloc((size_t)TICKET_SEG0 << k, sizeof *seg);
    if (seg == NULL) return NULL;
    /* release: pairs with the acquire load above in attach. */
    atomic_store_explicit(&tickets.segs[k], seg, memory_order_release);
  }
  return seg == NULL ? NULL : &seg[index - first];
}

static int ticket_take(size_t *index) {
  int rc = BT_OK;
  pthread_mutex_lock(&tickets.lock);
  if (tickets.free_head != TICKET_NONE) {
    *index = tickets.free_head;
    tickets.free_head = ticket_at(*index, 0)->next_free;
  } else if (tickets.used >= (size_t)TICKET_LOW_MASK - 1 ||
             ticket_at(tickets.used, 1) == NULL) {
    rc = bt__fail(BT_ENOMEM, "bt_box_detach: no room for ticket %zu",
                  tickets.used);
  } else {
    *index = tickets.used++;
  }
  pthread_mutex_unlock(&tickets.lock);
  return rc;
}

static void ticket_put(size_t index) {
  pthread_mutex_lock(&tickets.lock);
  ticket_at(index, 0)->next_free = tickets.free_head;
  tickets.free_head = index;
  pthread_mutex_unlock(&tickets.lock);
}

int bt_box_detach(bt_box *b, bt_transfer mode, void **opaque) {
  if (opaque == NULL) return bt__fail(BT_EINVAL, "bt_box_detach: NULL output");
  if (bt__box_get(b) == NULL) return bt__bad_handle("bt_box_detach", "box", b);
  if (mode != BT_CHECKED && mode != BT_UNCHECKED)
    return bt__fail(BT_EINVAL,
                    "bt_box_detach: transfer mode %d is neither BT_CHECKED "
                    "nor BT_UNCHECKED",
                    (int)mode);
  if (bt__box_frozen(b))
    return bt__fail(BT_EFROZEN,
                    "bt_box_detach: box %p is frozen: share it as is",
                    (void *)b);
  size_t index = 0;
  int rc = ticket_take(&index);
  if (rc != BT_OK) return rc;
  rc = bt__box_give(b, mode, "bt_box_detach");
  if (rc != BT_OK) goto err_put_ticket;
  ticket *t = ticket_at(index, 0);
  /* relaxed: the ticket is free, so its state is ours to read. */
  uint64_t state = atomic_load_explicit(&t->state, memory_order_relaxed);
  BT_ASSERT((state & 1) == 0);
  t->box = b;
  /* release: pairs with the acquire CAS in bt_box_attach(), publishing the
   * tree to whichever thread attaches it. */
  atomic_store_explicit(&t->state, state | 1, memory_order_release);
  uintptr_t generation = (uintptr_t)(state >> 1) & TICKET_LOW_MASK;
  *opaque = (void *)((generation << TICKET_BITS) | (uintptr_t)(index + 1));
  return BT_OK;

err_put_ticket:
  ticket_put(index);
  return rc;
}

int bt_box_attach(void *opaque, bt_box **b) {
  if (b == NULL) return bt__fail(BT_EINVAL, "bt_box_attach: NULL output");
  uintptr_t word = (uintptr_t)opaque;
  uintptr_t low = word & TICKET_LOW_MASK;
  if (low == 0)
    return bt__fail(BT_EINVAL, "bt_box_attach: %p is not a detach ticket",
                    opaque);
  size_t index = (size_t)(low - 1);
  uintptr_t generation = word >> TICKET_BITS;
  ticket *t = ticket_at(index, 0);
  if (t == NULL)
    return bt__fail(BT_EINVAL, "bt_box_attach: %p is not a detach ticket",
                    opaque);
  /* relaxed: only a guess for the CAS below, which decides. */
  uint64_t state = atomic_load_explicit(&t->state, memory_order_relaxed);
  for (;;) {
    if ((state & 1) == 0 ||
        ((uintptr_t)(state >> 1) & TICKET_LOW_MASK) != generation)
      return bt__fail(BT_EMOVED,
                      "bt_box_attach: ticket %p was already attached", opaque);
    /* acquire: pairs with the release store in bt_box_detach(). */
    if (atomic_compare_exchange_weak_explicit(&t->state, &state, state + 1,
                                              memory_order_acquire,
                                              memory_order_relaxed))
      break;
  }
  bt_box *box = t->box;
  t->box = NULL;
  ticket_put(index);
  bt__box_adopt(box);
  *b = box;
  return BT_OK;
}

/* ---- transfer types ---------------------------------------------------- */

static int box_on_send(void *elem, bt_transfer mode) {
  bt_box *b = *(bt_box **)elem;
  if (bt__box_get(b) == NULL) return bt__bad_handle("send", "box", b);
  if (bt__box_frozen(b))
    return bt__fail(BT_ETYPE, "box %p is frozen: send it with bt_type_frozen",
                    (void *)b);
  return bt__box_give(b, mode, "send");
}

static void box_on_recv(void *elem) {
  bt__box_adopt(*(bt_box **)elem);
}

static void box_on_drop(void *elem) {
  (void)bt_box_release(*(bt_box **)elem);
}

static int frozen_on_send(void *elem, bt_transfer mode) {
  (void)mode;
  bt_box *b = *(bt_box **)elem;
  if (bt__box_get(b) == NULL) return bt__bad_handle("send", "frozen box", b);
  if (!bt__box_frozen(b))
    return bt__fail(BT_ETYPE,
                    "box %p is mutable: freeze it or send it with bt_type_box",
                    (void *)b);
  return BT_OK; /* the sender's reference moves */
}

static void frozen_on_recv(void *elem) {
  (void)elem;
}

const bt_type bt_type_box = {
    .struct_size = sizeof(bt_type),
    .name = "box",
    .size = sizeof(bt_box *),
    .on_send = box_on_send,
    .on_recv = box_on_recv,
    .on_drop = box_on_drop,
    .wire = NULL,
    .numa_of = NULL,
};

const bt_type bt_type_frozen = {
    .struct_size = sizeof(bt_type),
    .name = "frozen",
    .size = sizeof(bt_box *),
    .on_send = frozen_on_send,
    .on_recv = frozen_on_recv,
    .on_drop = box_on_drop,
    .wire = NULL,
    .numa_of = NULL,
};
