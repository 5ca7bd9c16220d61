/* SPDX-License-Identifier: BSD-3-Clause */
/* test_box.c: the exchange heap (baton/box.h): boxes, trees, transfer
 * checks, freezing, detach/attach, slots and locked data. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "box_int.h"

/* ---- helpers ----------------------------------------------------------- */

static bt_box *make_box(size_t bytes, size_t nchildren) {
  bt_box *b = NULL;
  BT_CHECK_OK(bt_box_create(bytes, nchildren, &b));
  BT_CHECK(b != NULL);
  return b;
}

/* root -> [a, NULL], a -> [b], each holding one int64 tag. */
typedef struct tree3 {
  bt_box *root, *a, *b;
} tree3;

static tree3 make_tree3(void) {
  tree3 t;
  t.root = make_box(sizeof(int64_t), 2);
  t.a = make_box(sizeof(int64_t), 1);
  t.b = make_box(sizeof(int64_t), 0);
  *(int64_t *)bt_box_data(t.root) = 1;
  *(int64_t *)bt_box_data(t.a) = 2;
  *(int64_t *)bt_box_data(t.b) = 3;
  BT_CHECK_OK(bt_box_link(t.a, 0, t.b));
  BT_CHECK_OK(bt_box_link(t.root, 0, t.a));
  BT_CHECK_OK(bt__box_check(t.root));
  return t;
}

typedef void *(*thread_fn)(void *);

static void *run_in_thread(thread_fn fn, void *arg) {
  pthread_t t;
  void *ret = NULL;
  BT_CHECK_EQ(pthread_create(&t, NULL, fn, arg), 0);
  BT_CHECK_EQ(pthread_join(t, &ret), 0);
  return ret;
}

/* What another thread sees of a box: 1 bit per accessor that answered. */
static void *probe_access(void *arg) {
  bt_box *b = arg;
  uintptr_t seen = 0;
  if (bt_box_data(b) != NULL) seen |= 1;
  if (bt_box_cdata(b) != NULL) seen |= 2;
  if (bt_box_nchildren(b) > 0 && bt_box_child(b, 0) != NULL) seen |= 4;
  return (void *)seen;
}

/* ---- create and access ------------------------------------------------- */

BT_TEST(create_zeroed_and_held) {
  bt_box *b = make_box(100, 3);
  unsigned char *p = bt_box_data(b);
  BT_CHECK(p != NULL);
  for (int i = 0; i < 100; i++) BT_CHECK_EQ(p[i], 0);
  BT_CHECK_PTR_EQ(bt_box_cdata(b), p);
  BT_CHECK_EQ(bt_box_size(b), 100);
  BT_CHECK_EQ(bt_box_nchildren(b), 3);
  for (size_t i = 0; i < 3; i++) BT_CHECK(bt_box_child(b, i) == NULL);
  BT_CHECK(bt_box_child(b, 3) == NULL);
  BT_CHECK_EQ(bt_box_is_frozen(b), 0);
  BT_CHECK_EQ(bt__box_refs(b), 1);
  BT_CHECK_EQ((uintptr_t)p % _Alignof(max_align_t), 0);
  BT_CHECK_OK(bt_box_release(b));
}

BT_TEST(create_misuse) {
  bt_box *b = (bt_box *)0x1;
  BT_CHECK_STATUS(bt_box_create(8, 0, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_box_create(SIZE_MAX, 0, &b), BT_EINVAL);
  BT_CHECK_STATUS(bt_box_create(8, SIZE_MAX / 2, &b), BT_EINVAL);
  BT_CHECK_PTR_EQ(b, (bt_box *)0x1); /* outputs written only on success */
  BT_CHECK_OK(bt_box_release(NULL));
  BT_CHECK(bt_box_data(NULL) == NULL);
  BT_CHECK(bt_box_cdata(NULL) == NULL);
  BT_CHECK(bt_box_child(NULL, 0) == NULL);
  BT_CHECK_EQ(bt_box_is_frozen(NULL), 0);
  /* Zero bytes and zero children is a valid, empty box. */
  b = make_box(0, 0);
  BT_CHECK_OK(bt_box_release(b));
}

BT_TEST(other_thread_sees_nothing_of_a_held_tree) {
  tree3 t = make_tree3();
  BT_CHECK_EQ((uintptr_t)run_in_thread(probe_access, t.root), 0);
  BT_CHECK_EQ((uintptr_t)run_in_thread(probe_access, t.a), 0);
  BT_CHECK_EQ((uintptr_t)run_in_thread(probe_access, t.b), 0);
  /* The holder sees the whole tree. */
  BT_CHECK_EQ((uintptr_t)probe_access(t.root), 7);
  BT_CHECK_PTR_EQ(bt_box_child(t.root, 0), t.a);
  BT_CHECK_PTR_EQ(bt_box_child(t.a, 0), t.b);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(t.b), 3);
  BT_CHECK_OK(bt_box_release(t.root));
}

/* ---- link -------------------------------------------------------------- */

BT_TEST(link_rules) {
  tree3 t = make_tree3();
  bt_box *x = make_box(8, 1);
  /* bad arguments */
  BT_CHECK_STATUS(bt_box_link(NULL, 0, x), BT_EINVAL);
  BT_CHECK_STATUS(bt_box_link(t.root, 0, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_box_link(t.root, 2, x), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "slot 2") != NULL);
  /* a child that already has a parent: trees only */
  BT_CHECK_STATUS(bt_box_link(x, 0, t.b), BT_ECYCLE);
  BT_CHECK_STATUS(bt_box_link(t.root, 1, t.a), BT_ECYCLE);
  /* an ancestor under its descendant, and a box under itself */
  BT_CHECK_STATUS(bt_box_link(t.b, 0, t.root), BT_EINVAL); /* b has 0 slots */
  BT_CHECK_STATUS(bt_box_link(t.a, 0, t.root), BT_ECYCLE);
  BT_CHECK(strstr(bt_errmsg(), "loop") != NULL);
  BT_CHECK_STATUS(bt_box_link(x, 0, x), BT_ECYCLE);
  BT_CHECK_OK(bt__box_check(t.root));
  /* nothing moved */
  BT_CHECK_EQ(bt__box_refs(x), 1);
  BT_CHECK(bt_box_data(x) != NULL);
  /* a good link; the child now answers through the root's holder */
  BT_CHECK_OK(bt_box_link(t.root, 1, x));
  BT_CHECK_PTR_EQ(bt_box_child(t.root, 1), x);
  BT_CHECK_PTR_EQ(bt__box_root(x), t.root);
  BT_CHECK(bt_box_data(x) != NULL);
  BT_CHECK_OK(bt__box_check(t.root));
  BT_CHECK_OK(bt_box_release(t.root));
}

BT_TEST(link_replaces_and_releases_old_child) {
  bt_box *p = make_box(0, 1);
  bt_box *old = make_box(8, 0);
  bt_box *young = make_box(8, 0);
  bt_box_retain(old); /* keep it to watch it */
  BT_CHECK_OK(bt_box_link(p, 0, old));
  BT_CHECK_EQ(bt__box_refs(old), 2);
  BT_CHECK_OK(bt_box_link(p, 0, young));
  BT_CHECK_PTR_EQ(bt_box_child(p, 0), young);
  BT_CHECK_EQ(bt__box_refs(old), 1);
  /* the old child is a root again, held by this thread, linkable again */
  BT_CHECK_PTR_EQ(bt__box_root(old), old);
  BT_CHECK(bt_box_data(old) != NULL);
  bt_box *q = make_box(0, 1);
  BT_CHECK_OK(bt_box_link(q, 0, old));
  BT_CHECK_OK(bt__box_check(q));
  BT_CHECK_OK(bt_box_release(q));
  BT_CHECK_OK(bt_box_release(p));
}

static void *link_from_other_thread(void *arg) {
  bt_box **pair = arg;
  uintptr_t r = (uintptr_t)(intptr_t)bt_box_link(pair[0], 0, pair[1]);
  return (void *)r;
}

BT_TEST(link_needs_both_held) {
  bt_box *mine = make_box(0, 1);
  bt_box *child = make_box(0, 0);
  /* another thread holds neither */
  bt_box *pair[2] = {mine, child};
  BT_CHECK_EQ((intptr_t)run_in_thread(link_from_other_thread, pair), BT_EMOVED);
  /* a child held elsewhere: detach makes it nobody's */
  void *ticket;
  BT_CHECK_OK(bt_box_detach(child, BT_CHECKED, &ticket));
  BT_CHECK_STATUS(bt_box_link(mine, 0, child), BT_EMOVED);
  BT_CHECK_OK(bt_box_attach(ticket, &child));
  BT_CHECK_OK(bt_box_link(mine, 0, child));
  /* a frozen parent */
  BT_CHECK_OK(bt_box_freeze(mine));
  bt_box *other = make_box(0, 0);
  BT_CHECK_STATUS(bt_box_link(mine, 0, other), BT_EFROZEN);
  BT_CHECK_OK(bt_box_release(other));
  BT_CHECK_OK(bt_box_release(mine));
}

BT_TEST(release_keeps_retained_child_alive) {
  tree3 t = make_tree3();
  bt_box_retain(t.a);
  BT_CHECK_OK(bt_box_release(t.root));
  /* a survived with its own subtree and is a root held by this thread */
  BT_CHECK_EQ(bt__box_refs(t.a), 1);
  BT_CHECK_PTR_EQ(bt__box_root(t.a), t.a);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(t.a), 2);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(bt_box_child(t.a, 0)), 3);
  BT_CHECK_OK(bt__box_check(t.a));
  BT_CHECK_OK(bt_box_release(t.a));
}

BT_TEST(deep_tree_release_is_iterative) {
  /* A chain deeper than any stack would allow recursion over. */
  long n = bt_test_scaled(200000);
  /* Built bottom-up, so each link is O(1). */
  bt_box *tail = make_box(8, 1), *root = tail;
  *(long *)bt_box_data(tail) = n - 1;
  for (long i = n - 2; i >= 0; i--) {
    bt_box *up = make_box(8, 1);
    *(long *)bt_box_data(up) = i;
    BT_CHECK_OK(bt_box_link(up, 0, root));
    root = up;
  }
  BT_CHECK(bt_box_data(tail) != NULL); /* O(depth) holder check */
  void *ticket;
  BT_CHECK_OK(bt_box_detach(root, BT_CHECKED, &ticket)); /* O(n) walk */
  BT_CHECK(bt_box_data(tail) == NULL);
  BT_CHECK_OK(bt_box_attach(ticket, &root));
  BT_CHECK_OK(bt_box_freeze(root));
  BT_CHECK(bt_box_is_frozen(tail));
  BT_CHECK_EQ(*(const long *)bt_box_cdata(tail), n - 1);
  BT_CHECK_OK(bt_box_release(root));
}

/* ---- checked transfer -------------------------------------------------- */

BT_TEST(checked_transfer_refuses_shared_subtree) {
  tree3 t = make_tree3();
  bt_box_retain(t.b); /* b is now shared: its count is 2 */
  void *ticket = (void *)0x1;
  BT_CHECK_STATUS(bt_box_detach(t.root, BT_CHECKED, &ticket), BT_ESHARED);
  char want[64];
  snprintf(want, sizeof want, "%p", (void *)t.b);
  BT_CHECK(strstr(bt_errmsg(), want) != NULL);
  BT_CHECK(strstr(bt_errmsg(), "root[0][0]") != NULL);
  BT_CHECK(strstr(bt_errmsg(), "reference count 2") != NULL);
  /* nothing moved */
  BT_CHECK_PTR_EQ(ticket, (void *)0x1);
  BT_CHECK(bt_box_data(t.root) != NULL);
  BT_CHECK(bt_box_data(t.b) != NULL);
  /* the root itself shared */
  BT_CHECK_OK(bt_box_release(t.b));
  bt_box_retain(t.root);
  BT_CHECK_STATUS(bt_box_detach(t.root, BT_CHECKED, &ticket), BT_ESHARED);
  BT_CHECK(strstr(bt_errmsg(), "at root ") != NULL);
  BT_CHECK_OK(bt_box_release(t.root));
  /* unchecked trusts the caller */
  bt_box_retain(t.b);
  BT_CHECK_OK(bt_box_detach(t.root, BT_UNCHECKED, &ticket));
  bt_box *back;
  BT_CHECK_OK(bt_box_attach(ticket, &back));
  BT_CHECK_PTR_EQ(back, t.root);
  BT_CHECK_OK(bt_box_release(t.b));
  BT_CHECK_OK(bt_box_release(back));
}

BT_TEST(checked_transfer_skips_frozen_subtrees) {
  tree3 t = make_tree3();
  BT_CHECK_OK(bt_box_freeze(t.a)); /* a and b frozen, root mutable */
  BT_CHECK(bt_box_is_frozen(t.b));
  BT_CHECK(!bt_box_is_frozen(t.root));
  bt_box_retain(t.a); /* shared, but frozen: allowed */
  bt_box_retain(t.b);
  void *ticket;
  BT_CHECK_OK(bt_box_detach(t.root, BT_CHECKED, &ticket));
  bt_box *back;
  BT_CHECK_OK(bt_box_attach(ticket, &back));
  BT_CHECK_OK(bt__box_check(back));
  BT_CHECK_OK(bt_box_release(back));
  /* a and b survive: the references we kept */
  BT_CHECK_EQ(*(const int64_t *)bt_box_cdata(t.b), 3);
  BT_CHECK_OK(bt_box_release(t.a));
  BT_CHECK_OK(bt_box_release(t.b));
}

BT_TEST(linked_child_cannot_move_alone) {
  tree3 t = make_tree3();
  void *ticket;
  BT_CHECK_STATUS(bt_box_detach(t.a, BT_UNCHECKED, &ticket), BT_ESHARED);
  BT_CHECK(strstr(bt_errmsg(), "linked under") != NULL);
  bt_box *elem = t.a;
  BT_CHECK_STATUS(bt_type_box.on_send(&elem, BT_UNCHECKED), BT_ESHARED);
  BT_CHECK(bt_box_data(t.a) != NULL);
  BT_CHECK_OK(bt_box_release(t.root));
}

/* ---- transfer types ---------------------------------------------------- */

static void *recv_box_elem(void *arg) {
  bt_box **elem = arg;
  bt_type_box.on_recv(elem);
  int64_t *p = bt_box_data(*elem);
  BT_CHECK(p != NULL);
  *p += 100;
  /* give it back the same way */
  BT_CHECK_OK(bt_type_box.on_send(elem, BT_CHECKED));
  return NULL;
}

BT_TEST(type_box_moves_and_refuses) {
  BT_CHECK_EQ(bt_type_box.size, sizeof(bt_box *));
  BT_CHECK_EQ(bt_type_frozen.size, sizeof(bt_box *));
  tree3 t = make_tree3();
  bt_box *elem = t.root;
  /* shared -> BT_ESHARED, nothing moves */
  bt_box_retain(t.a);
  BT_CHECK_STATUS(bt_type_box.on_send(&elem, BT_CHECKED), BT_ESHARED);
  BT_CHECK(bt_box_data(t.root) != NULL);
  BT_CHECK_OK(bt_box_release(t.a));
  /* moved: the sender's accessors answer NULL, a second send BT_EMOVED */
  BT_CHECK_OK(bt_type_box.on_send(&elem, BT_CHECKED));
  BT_CHECK(bt_box_data(t.root) == NULL);
  BT_CHECK(bt_box_data(t.b) == NULL);
  BT_CHECK(bt_box_cdata(t.root) == NULL);
  BT_CHECK_STATUS(bt_type_box.on_send(&elem, BT_CHECKED), BT_EMOVED);
  BT_CHECK_STATUS(bt_box_freeze(t.root), BT_EMOVED);
  /* another thread adopts, writes, sends back */
  run_in_thread(recv_box_elem, &elem);
  bt_type_box.on_recv(&elem);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(t.root), 101);
  /* a frozen box is refused by the box type, a mutable one by the frozen
   * type */
  BT_CHECK_STATUS(bt_type_frozen.on_send(&elem, BT_CHECKED), BT_ETYPE);
  BT_CHECK_OK(bt_box_freeze(t.root));
  BT_CHECK_STATUS(bt_type_box.on_send(&elem, BT_CHECKED), BT_ETYPE);
  BT_CHECK(strstr(bt_errmsg(), "bt_type_frozen") != NULL);
  bt_box_retain(elem);
  BT_CHECK_OK(bt_type_frozen.on_send(&elem, BT_CHECKED));
  bt_type_frozen.on_drop(&elem); /* drops the moved reference */
  BT_CHECK_EQ(bt__box_refs(t.root), 1);
  bt_box *null_box = NULL;
  BT_CHECK_STATUS(bt_type_box.on_send(&null_box, BT_CHECKED), BT_EINVAL);
  BT_CHECK_STATUS(bt_type_frozen.on_send(&null_box, BT_CHECKED), BT_EINVAL);
  BT_CHECK_OK(bt_box_release(t.root));
}

typedef struct chan_pass {
  bt_chan *in, *out;
  long rounds;
} chan_pass;

static void *box_echo(void *arg) {
  chan_pass *cp = arg;
  for (long i = 0; i < cp->rounds; i++) {
    bt_box *b;
    BT_CHECK_OK(bt_recv(cp->in, &b));
    int64_t *p = bt_box_data(b);
    BT_CHECK(p != NULL);
    BT_CHECK_EQ(*p, 2 * i);
    bt_box *child = bt_box_child(b, 0);
    BT_CHECK(child != NULL);
    int64_t *q = bt_box_data(child);
    BT_CHECK(q != NULL);
    BT_CHECK_EQ(*q, -2 * i);
    *p += 1;
    *q -= 1;
    BT_CHECK_OK(bt_send(cp->out, &b));
    BT_CHECK(bt_box_data(b) == NULL);
  }
  return NULL;
}

BT_TEST(box_through_channel_between_threads) {
  chan_pass cp = {NULL, NULL, bt_test_scaled(2000)};
  BT_CHECK_OK(bt_chan_create(&bt_type_box, 1, &cp.in));
  BT_CHECK_OK(bt_chan_create(&bt_type_box, 0, &cp.out));
  pthread_t echo;
  BT_CHECK_EQ(pthread_create(&echo, NULL, box_echo, &cp), 0);
  bt_box *b = make_box(sizeof(int64_t), 1);
  BT_CHECK_OK(bt_box_link(b, 0, make_box(sizeof(int64_t), 0)));
  for (long i = 0; i < cp.rounds; i++) {
    *(int64_t *)bt_box_data(b) = 2 * i;
    *(int64_t *)bt_box_data(bt_box_child(b, 0)) = -2 * i;
    BT_CHECK_OK(bt_send(cp.in, &b));
    BT_CHECK(bt_box_data(b) == NULL);
    BT_CHECK_STATUS(bt_send(cp.in, &b), BT_EMOVED);
    bt_box *back;
    BT_CHECK_OK(bt_recv(cp.out, &back));
    BT_CHECK_PTR_EQ(back, b);
    BT_CHECK_EQ(*(int64_t *)bt_box_data(b), 2 * i + 1);
    BT_CHECK_EQ(*(int64_t *)bt_box_data(bt_box_child(b, 0)), -2 * i - 1);
  }
  BT_CHECK_EQ(pthread_join(echo, NULL), 0);
  /* a shared tree is refused by the channel, and stays with the sender */
  bt_box_retain(bt_box_child(b, 0));
  BT_CHECK_STATUS(bt_send(cp.in, &b), BT_ESHARED);
  BT_CHECK(bt_box_data(b) != NULL);
  BT_CHECK_OK(bt_box_release(bt_box_child(b, 0)));
  /* boxes left in a channel at its last release are dropped (ASan checks
   * nothing leaks) */
  BT_CHECK_OK(bt_send(cp.in, &b));
  BT_CHECK_OK(bt_chan_release(cp.in));
  BT_CHECK_OK(bt_chan_release(cp.out));
}

typedef struct frozen_readers {
  bt_chan *ch;
  long sum;
} frozen_readers;

static void *read_frozen(void *arg) {
  frozen_readers *fr = arg;
  bt_box *b;
  long sum = 0;
  while (bt_recv(fr->ch, &b) == BT_OK) {
    BT_CHECK(bt_box_data(b) == NULL);
    const int64_t *p = bt_box_cdata(b);
    BT_CHECK(p != NULL);
    sum += *p + *(const int64_t *)bt_box_cdata(bt_box_child(b, 0));
    BT_CHECK_OK(bt_box_release(b));
  }
  fr->sum = sum;
  return NULL;
}

BT_TEST(frozen_through_channel_shared_by_readers) {
  enum { READERS = 4 };
  bt_chan *ch;
  BT_CHECK_OK(bt_chan_create(&bt_type_frozen, 4, &ch));
  bt_box *b = make_box(sizeof(int64_t), 1);
  *(int64_t *)bt_box_data(b) = 40;
  bt_box *c = make_box(sizeof(int64_t), 0);
  *(int64_t *)bt_box_data(c) = 2;
  BT_CHECK_OK(bt_box_link(b, 0, c));
  /* the mutable box is refused by the frozen channel */
  BT_CHECK_STATUS(bt_send(ch, &b), BT_ETYPE);
  BT_CHECK_OK(bt_box_freeze(b));
  BT_CHECK(bt_box_data(b) == NULL);
  BT_CHECK(bt_box_cdata(b) != NULL);
  frozen_readers fr[READERS];
  pthread_t th[READERS];
  for (int i = 0; i < READERS; i++) {
    fr[i].ch = ch;
    fr[i].sum = 0;
    BT_CHECK_EQ(pthread_create(&th[i], NULL, read_frozen, &fr[i]), 0);
  }
  long sends = bt_test_scaled(1000);
  for (long i = 0; i < sends; i++) {
    bt_box_retain(b); /* a send moves one reference */
    BT_CHECK_OK(bt_send(ch, &b));
  }
  BT_CHECK_OK(bt_chan_close(ch));
  long total = 0;
  for (int i = 0; i < READERS; i++) {
    BT_CHECK_EQ(pthread_join(th[i], NULL), 0);
    total += fr[i].sum;
  }
  BT_CHECK_EQ(total, 42 * sends);
  BT_CHECK_EQ(bt__box_refs(b), 1);
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_box_release(b));
}

/* ---- freezing ---------------------------------------------------------- */

BT_TEST(freeze_is_deep_and_read_only_for_everyone) {
  tree3 t = make_tree3();
  BT_CHECK_STATUS(bt_box_freeze(NULL), BT_EINVAL);
  BT_CHECK_OK(bt_box_freeze(t.root));
  BT_CHECK_OK(bt_box_freeze(t.root)); /* idempotent */
  BT_CHECK(bt_box_is_frozen(t.root) && bt_box_is_frozen(t.a) &&
           bt_box_is_frozen(t.b));
  BT_CHECK(bt_box_data(t.root) == NULL);
  BT_CHECK(bt_box_data(t.b) == NULL);
  BT_CHECK_EQ(*(const int64_t *)bt_box_cdata(t.b), 3);
  /* another thread reads it all, writes none */
  BT_CHECK_EQ((uintptr_t)run_in_thread(probe_access, t.root), 2 | 4);
  BT_CHECK_EQ((uintptr_t)run_in_thread(probe_access, t.b), 2);
  void *ticket;
  BT_CHECK_STATUS(bt_box_detach(t.root, BT_CHECKED, &ticket), BT_EFROZEN);
  BT_CHECK_OK(bt__box_check(t.root));
  BT_CHECK_OK(bt_box_release(t.root));
}

static void *freeze_from_other_thread(void *arg) {
  return (void *)(intptr_t)bt_box_freeze(arg);
}

BT_TEST(freeze_needs_the_holder) {
  bt_box *b = make_box(8, 0);
  BT_CHECK_EQ((intptr_t)run_in_thread(freeze_from_other_thread, b), BT_EMOVED);
  BT_CHECK(!bt_box_is_frozen(b));
  BT_CHECK_OK(bt_box_release(b));
}

typedef struct churn {
  bt_box *root;
  long rounds;
} churn;

static void *retain_release_churn(void *arg) {
  churn *c = arg;
  for (long i = 0; i < c->rounds; i++) {
    bt_box *mine = c->root;
    bt_box_retain(mine);
    bt_box *kid = bt_box_child(mine, (size_t)i % 2);
    bt_box_retain(kid);
    BT_CHECK_EQ(*(const int64_t *)bt_box_cdata(kid), (int64_t)(i % 2) + 10);
    BT_CHECK_OK(bt_box_release(mine));
    BT_CHECK_OK(bt_box_release(kid));
  }
  return NULL;
}

BT_TEST_STRESS(frozen_refcount_races) {
  enum { THREADS = 8 };
  bt_box *root = make_box(0, 2);
  for (size_t i = 0; i < 2; i++) {
    bt_box *k = make_box(sizeof(int64_t), 0);
    *(int64_t *)bt_box_data(k) = (int64_t)i + 10;
    BT_CHECK_OK(bt_box_link(root, i, k));
  }
  BT_CHECK_OK(bt_box_freeze(root));
  churn c = {root, bt_test_scaled(100000)};
  bt_test_threads(THREADS, retain_release_churn, &c, 0);
  BT_CHECK_EQ(bt__box_refs(root), 1);
  BT_CHECK_EQ(bt__box_refs(bt_box_child(root, 0)), 1);
  BT_CHECK_OK(bt__box_check(root));
  BT_CHECK_OK(bt_box_release(root));
}

static void *release_after_barrier(void *arg) {
  BT_CHECK_OK(bt_box_release(arg));
  return NULL;
}

BT_TEST_STRESS(frozen_last_release_races) {
  /* Many threads drop the last references of frozen trees at once: exactly
   * one frees each tree (ASan/TSan watch). */
  enum { THREADS = 6 };
  long rounds = bt_test_scaled(300);
  for (long r = 0; r < rounds; r++) {
    bt_box *root = make_box(16, 1);
    BT_CHECK_OK(bt_box_link(root, 0, make_box(16, 0)));
    BT_CHECK_OK(bt_box_freeze(root));
    for (int i = 1; i < THREADS; i++) bt_box_retain(root);
    bt_test_threads(THREADS, release_after_barrier, root, 0);
  }
}

/* ---- detach and attach ------------------------------------------------- */

static void *attach_in_thread(void *arg) {
  bt_box *b = NULL;
  int rc = bt_box_attach(arg, &b);
  if (rc != BT_OK) return (void *)(intptr_t)rc;
  int64_t *p = bt_box_data(b);
  BT_CHECK(p != NULL);
  BT_CHECK_EQ(*p, 1);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(bt_box_child(bt_box_child(b, 0), 0)), 3);
  BT_CHECK_OK(bt_box_release(b));
  return (void *)(intptr_t)BT_OK;
}

BT_TEST(detach_then_attach_once_in_another_thread) {
  tree3 t = make_tree3();
  void *ticket = NULL;
  BT_CHECK_STATUS(bt_box_detach(t.root, BT_CHECKED, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_box_detach(NULL, BT_CHECKED, &ticket), BT_EINVAL);
  BT_CHECK_OK(bt_box_detach(t.root, BT_CHECKED, &ticket));
  BT_CHECK(ticket != NULL);
  BT_CHECK(ticket != (void *)t.root);
  BT_CHECK(bt_box_data(t.root) == NULL);
  BT_CHECK(bt_box_data(t.b) == NULL);
  BT_CHECK_STATUS(bt_box_detach(t.root, BT_CHECKED, &ticket), BT_EMOVED);
  BT_CHECK(strstr(bt_errmsg(), "detached") != NULL);
  BT_CHECK_EQ((intptr_t)run_in_thread(attach_in_thread, ticket), BT_OK);
  /* the tree is freed now; the ticket stays safe to present */
  bt_box *b = (bt_box *)0x1;
  BT_CHECK_STATUS(bt_box_attach(ticket, &b), BT_EMOVED);
  BT_CHECK_EQ((intptr_t)run_in_thread(attach_in_thread, ticket), BT_EMOVED);
  BT_CHECK_PTR_EQ(b, (bt_box *)0x1);
  /* the ticket record is reused by the next detach, with a new generation:
   * the stale ticket still answers BT_EMOVED */
  bt_box *fresh = make_box(8, 0);
  void *ticket2;
  BT_CHECK_OK(bt_box_detach(fresh, BT_CHECKED, &ticket2));
  BT_CHECK(ticket2 != ticket);
  BT_CHECK_STATUS(bt_box_attach(ticket, &b), BT_EMOVED);
  BT_CHECK_OK(bt_box_attach(ticket2, &b));
  BT_CHECK_PTR_EQ(b, fresh);
  BT_CHECK_OK(bt_box_release(b));
  /* not tickets */
  BT_CHECK_STATUS(bt_box_attach(NULL, &b), BT_EINVAL);
  BT_CHECK_STATUS(bt_box_attach(ticket, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_box_attach((void *)(~(uintptr_t)0), &b), BT_EINVAL);
}

typedef struct attach_race {
  void *ticket;
  _Atomic int wins;
} attach_race;

static void *attach_racer(void *arg) {
  attach_race *ar = arg;
  bt_box *b;
  int rc = bt_box_attach(ar->ticket, &b);
  if (rc == BT_OK) {
    atomic_fetch_add(&ar->wins, 1);
    BT_CHECK(bt_box_data(b) != NULL);
    BT_CHECK_OK(bt_box_release(b));
  } else {
    BT_CHECK_EQ(rc, BT_EMOVED);
  }
  return NULL;
}

BT_TEST_STRESS(attach_race_has_one_winner) {
  enum { THREADS = 6 };
  long rounds = bt_test_scaled(300);
  for (long r = 0; r < rounds; r++) {
    bt_box *b = make_box(8, 0);
    attach_race ar;
    BT_CHECK_OK(bt_box_detach(b, BT_CHECKED, &ar.ticket));
    atomic_init(&ar.wins, 0);
    bt_test_threads(THREADS, attach_racer, &ar, 0);
    BT_CHECK_EQ(atomic_load(&ar.wins), 1);
  }
}

BT_TEST(many_tickets_outstanding) {
  /* More tickets than the first segments hold, attached in reverse. */
  enum { N = 5000 };
  static void *tickets[N];
  for (int i = 0; i < N; i++) {
    bt_box *b = make_box(sizeof(int), 0);
    *(int *)bt_box_data(b) = i;
    BT_CHECK_OK(bt_box_detach(b, BT_CHECKED, &tickets[i]));
  }
  for (int i = N - 1; i >= 0; i--) {
    bt_box *b;
    BT_CHECK_OK(bt_box_attach(tickets[i], &b));
    BT_CHECK_EQ(*(int *)bt_box_data(b), i);
    BT_CHECK_OK(bt_box_release(b));
    BT_CHECK_STATUS(bt_box_attach(tickets[i], &b), BT_EMOVED);
  }
}

/* ---- slots ------------------------------------------------------------- */

static bt_box *frozen_int(int64_t v) {
  bt_box *b = make_box(sizeof v, 0);
  *(int64_t *)bt_box_data(b) = v;
  BT_CHECK_OK(bt_box_freeze(b));
  return b;
}

BT_TEST(slot_holds_frozen_boxes) {
  bt_slot *s;
  BT_CHECK_STATUS(bt_slot_create(NULL), BT_EINVAL);
  BT_CHECK_OK(bt_slot_create(&s));
  bt_box *got = (bt_box *)0x1;
  uint64_t v = 99;
  BT_CHECK_OK(bt_slot_load(s, &got, &v));
  BT_CHECK(got == NULL);
  BT_CHECK_EQ(v, 0);
  bt_box *f = frozen_int(7);
  bt_box_retain(f); /* keep one to watch the count */
  bt_box *old = (bt_box *)0x1;
  BT_CHECK_OK(bt_slot_swap(s, f, &old, &v));
  BT_CHECK(old == NULL);
  BT_CHECK_EQ(v, 1);
  BT_CHECK_EQ(bt__box_refs(f), 2);
  BT_CHECK_OK(bt_slot_load(s, &got, &v));
  BT_CHECK_PTR_EQ(got, f);
  BT_CHECK_EQ(bt__box_refs(f), 3); /* load takes one more reference */
  BT_CHECK_EQ(v, 1);
  BT_CHECK_OK(bt_box_release(got));
  BT_CHECK_OK(bt_slot_load(s, NULL, NULL));
  BT_CHECK_OK(bt_slot_load(s, NULL, &v));
  BT_CHECK_EQ(bt__box_refs(f), 2);
  /* cas with a stale version: nothing moves */
  bt_box *g = frozen_int(8);
  BT_CHECK_STATUS(bt_slot_cas(s, 0, g, &old, &v), BT_EAGAIN);
  BT_CHECK(strstr(bt_errmsg(), "version 1") != NULL);
  BT_CHECK_EQ(bt__box_refs(g), 1);
  BT_CHECK_OK(bt_slot_cas(s, 1, g, &old, &v));
  BT_CHECK_PTR_EQ(old, f);
  BT_CHECK_EQ(v, 2);
  BT_CHECK_OK(bt_box_release(old));
  /* swap with old == NULL releases the previous content */
  BT_CHECK_OK(bt_slot_swap(s, NULL, NULL, &v));
  BT_CHECK_EQ(v, 3);
  BT_CHECK_EQ(bt__box_refs(f), 1);
  BT_CHECK_OK(bt_box_release(f));
  /* destroy releases what the slot holds */
  BT_CHECK_OK(bt_slot_swap(s, frozen_int(9), NULL, NULL));
  BT_CHECK_STATUS(bt_slot_load(NULL, &got, &v), BT_EINVAL);
  BT_CHECK_STATUS(bt_slot_swap(NULL, NULL, NULL, NULL), BT_EINVAL);
  BT_CHECK_OK(bt_slot_destroy(s));
  BT_CHECK_OK(bt_slot_destroy(NULL));
}

static void *take_tree_from_slot(void *arg) {
  bt_slot *s = arg;
  bt_box *tree = NULL;
  BT_CHECK_OK(bt_slot_swap(s, NULL, &tree, NULL));
  BT_CHECK(tree != NULL);
  int64_t *p = bt_box_data(tree);
  BT_CHECK(p != NULL);
  *p *= 10;
  BT_CHECK_OK(bt_slot_swap(s, tree, NULL, NULL));
  BT_CHECK(bt_box_data(tree) == NULL);
  return NULL;
}

BT_TEST(slot_holds_detached_trees) {
  bt_slot *s;
  BT_CHECK_OK(bt_slot_create(&s));
  tree3 t = make_tree3();
  /* shared trees and trees not held are refused */
  bt_box_retain(t.b);
  BT_CHECK_STATUS(bt_slot_swap(s, t.root, NULL, NULL), BT_ESHARED);
  BT_CHECK_OK(bt_box_release(t.b));
  BT_CHECK_STATUS(bt_slot_swap(s, t.a, NULL, NULL), BT_ESHARED);
  uint64_t v;
  BT_CHECK_OK(bt_slot_load(s, NULL, &v));
  BT_CHECK_EQ(v, 0);
  BT_CHECK_OK(bt_slot_swap(s, t.root, NULL, &v));
  BT_CHECK_EQ(v, 1);
  BT_CHECK(bt_box_data(t.root) == NULL);
  BT_CHECK_STATUS(bt_slot_swap(s, t.root, NULL, NULL), BT_EMOVED);
  /* a detached tree is not given out by load */
  bt_box *got = (bt_box *)0x1;
  BT_CHECK_STATUS(bt_slot_load(s, &got, &v), BT_ESTATE);
  BT_CHECK_PTR_EQ(got, (bt_box *)0x1);
  /* a cas with a wrong version leaves the new tree with its holder */
  bt_box *other = make_box(sizeof(int64_t), 0);
  BT_CHECK_STATUS(bt_slot_cas(s, 0, other, &got, &v), BT_EAGAIN);
  BT_CHECK(bt_box_data(other) != NULL);
  BT_CHECK_OK(bt_box_release(other));
  run_in_thread(take_tree_from_slot, s);
  BT_CHECK_OK(bt_slot_swap(s, NULL, &got, &v));
  BT_CHECK_PTR_EQ(got, t.root);
  BT_CHECK_EQ(v, 4);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(t.root), 10);
  BT_CHECK_OK(bt_box_release(got));
  /* a tree left in the slot is freed with it */
  BT_CHECK_OK(bt_slot_swap(s, make_box(8, 0), NULL, NULL));
  BT_CHECK_OK(bt_slot_destroy(s));
}

typedef struct slot_counter {
  bt_slot *slot;
  long increments;
  _Atomic long failures;
} slot_counter;

static void *slot_incrementer(void *arg) {
  slot_counter *sc = arg;
  uint64_t last_seen = 0;
  for (long i = 0; i < sc->increments; i++) {
    for (;;) {
      bt_box *cur;
      uint64_t v;
      BT_CHECK_OK(bt_slot_load(sc->slot, &cur, &v));
      BT_CHECK_CMP(v, >=, last_seen); /* versions never go back */
      last_seen = v;
      int64_t next = *(const int64_t *)bt_box_cdata(cur) + 1;
      BT_CHECK_OK(bt_box_release(cur));
      bt_box *nb = frozen_int(next);
      uint64_t nv;
      bt_box *old;
      int rc = bt_slot_cas(sc->slot, v, nb, &old, &nv);
      if (rc == BT_OK) {
        BT_CHECK_EQ(nv, v + 1);
        BT_CHECK_EQ(*(const int64_t *)bt_box_cdata(old), next - 1);
        BT_CHECK_OK(bt_box_release(old));
        last_seen = nv;
        break;
      }
      BT_CHECK_EQ(rc, BT_EAGAIN);
      atomic_fetch_add_explicit(&sc->failures, 1, memory_order_relaxed);
      BT_CHECK_OK(bt_box_release(nb));
    }
  }
  return NULL;
}

BT_TEST_STRESS(slot_cas_contention_loses_no_update) {
  enum { THREADS = 6 };
  slot_counter sc;
  BT_CHECK_OK(bt_slot_create(&sc.slot));
  BT_CHECK_OK(bt_slot_swap(sc.slot, frozen_int(0), NULL, NULL));
  sc.increments = bt_test_scaled(3000);
  atomic_init(&sc.failures, 0);
  bt_test_threads(THREADS, slot_incrementer, &sc, 0);
  bt_box *final;
  uint64_t v;
  BT_CHECK_OK(bt_slot_load(sc.slot, &final, &v));
  BT_CHECK_EQ(*(const int64_t *)bt_box_cdata(final), THREADS * sc.increments);
  BT_CHECK_EQ(v, 1 + THREADS * sc.increments); /* +1: the first swap */
  fprintf(stderr, "  %ld cas retries under contention\n",
          atomic_load(&sc.failures));
  BT_CHECK_OK(bt_box_release(final));
  BT_CHECK_OK(bt_slot_destroy(sc.slot));
}

/* ---- locked data ------------------------------------------------------- */

static void *try_locks_elsewhere(void *arg) {
  bt_locked *l = arg;
  void *w;
  const void *r;
  uintptr_t out = 0;
  if (bt_locked_write(l, 0, &w) == BT_EAGAIN) out |= 1;
  if (bt_locked_write(l, 20 * 1000 * 1000, &w) == BT_ETIMEDOUT) out |= 2;
  int rc = bt_locked_read(l, 0, &r);
  if (rc == BT_OK) {
    out |= 4;
    BT_CHECK_OK(bt_locked_unlock(l));
  } else if (rc == BT_EAGAIN) {
    out |= 8;
  }
  rc = bt_locked_read(l, 20 * 1000 * 1000, &r);
  if (rc == BT_ETIMEDOUT) {
    out |= 16;
  } else if (rc == BT_OK) {
    out |= 64;
    BT_CHECK_OK(bt_locked_unlock(l));
  }
  if (bt_locked_unlock(l) == BT_ESTATE) out |= 32;
  return (void *)out;
}

BT_TEST(locked_rules) {
  bt_locked *l;
  BT_CHECK_STATUS(bt_locked_create(8, NULL), BT_EINVAL);
  BT_CHECK_OK(bt_locked_create(sizeof(int64_t), &l));
  void *w;
  const void *r;
  BT_CHECK_STATUS(bt_locked_unlock(l), BT_ESTATE);
  BT_CHECK_STATUS(bt_locked_write(NULL, 0, &w), BT_EINVAL);
  BT_CHECK_STATUS(bt_locked_write(l, 0, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_locked_unlock(NULL), BT_EINVAL);
  /* write-locked here: others get EAGAIN, ETIMEDOUT, no read */
  BT_CHECK_OK(bt_locked_write(l, -1, &w));
  BT_CHECK_EQ(*(int64_t *)w, 0);
  *(int64_t *)w = 5;
  BT_CHECK_STATUS(bt_locked_write(l, 0, &w), BT_ESTATE); /* no self-deadlock */
  BT_CHECK_STATUS(bt_locked_read(l, -1, &r), BT_ESTATE);
  BT_CHECK_EQ((uintptr_t)run_in_thread(try_locks_elsewhere, l),
              1 | 2 | 8 | 16 | 32);
  BT_CHECK_OK(bt_locked_unlock(l));
  BT_CHECK_STATUS(bt_locked_unlock(l), BT_ESTATE);
  /* read-locked here: others read, do not write */
  BT_CHECK_OK(bt_locked_read(l, 1000000, &r));
  BT_CHECK_EQ(*(const int64_t *)r, 5);
  BT_CHECK_EQ((uintptr_t)run_in_thread(try_locks_elsewhere, l),
              1 | 2 | 4 | 32 | 64);
  BT_CHECK_OK(bt_locked_unlock(l));
  /* refcount */
  bt_locked_retain(l);
  BT_CHECK_OK(bt_locked_release(l));
  BT_CHECK_OK(bt_locked_write(l, 0, &w));
  BT_CHECK_EQ(*(int64_t *)w, 5);
  BT_CHECK_OK(bt_locked_unlock(l));
  BT_CHECK_OK(bt_locked_release(l));
  BT_CHECK_OK(bt_locked_release(NULL));
}

typedef struct locked_work {
  bt_locked *l;
  long rounds;
} locked_work;

static void *locked_incrementer(void *arg) {
  locked_work *lw = arg;
  for (long i = 0; i < lw->rounds; i++) {
    if (i % 4 == 3) {
      const void *r;
      BT_CHECK_OK(bt_locked_read(lw->l, -1, &r));
      const int64_t *p = r;
      BT_CHECK_EQ(p[0], p[1]); /* a writer never leaves them apart */
      BT_CHECK_OK(bt_locked_unlock(lw->l));
    } else {
      void *w;
      BT_CHECK_OK(bt_locked_write(lw->l, -1, &w));
      int64_t *p = w;
      p[0]++;
      p[1]++;
      BT_CHECK_OK(bt_locked_unlock(lw->l));
    }
  }
  BT_CHECK_OK(bt_locked_release(lw->l));
  return NULL;
}

BT_TEST(locked_shared_by_threads_loses_no_update) {
  enum { THREADS = 4 };
  bt_locked *l;
  BT_CHECK_OK(bt_locked_create(2 * sizeof(int64_t), &l));
  locked_work lw = {l, bt_test_scaled(4000)};
  for (int i = 0; i < THREADS; i++)
    bt_locked_retain(l); /* each thread releases its own */
  bt_test_threads(THREADS, locked_incrementer, &lw, 0);
  const void *r;
  BT_CHECK_OK(bt_locked_read(l, 0, &r));
  long writes = lw.rounds - (lw.rounds + 1) / 4;
  BT_CHECK_EQ(((const int64_t *)r)[0], THREADS * writes);
  BT_CHECK_OK(bt_locked_unlock(l));
  BT_CHECK_OK(bt_locked_release(l));
}
