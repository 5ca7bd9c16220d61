/* SPDX-License-Identifier: BSD-3-Clause */
/* test_slice.c: slices as capabilities: views, stale handles, split,
 * scoped slices, the slice transfer type and channels, and a stress test of
 * the lock table. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "array_int.h"
#include "test.h"

static bt_array *make(int ndim, const int64_t *shape) {
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(NULL, BT_F64, ndim, shape, BT_PLACE_LOCAL, &a));
  return a;
}

static bt_array *make2d(int64_t rows, int64_t cols) {
  return make(2, (int64_t[]){rows, cols});
}

BT_TEST(view_fields) {
  bt_array *a = make(3, (int64_t[]){4, 5, 6});
  bt_slice whole, s;
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &whole));
  bt_view w;
  BT_CHECK_OK(bt_slice_view(whole, &w));
  BT_CHECK_OK(bt_slice_release(whole));
  const bt_range region[3] = {{1, 3}, {2, 5}, {0, 6}};
  BT_CHECK_OK(bt_array_own(a, region, 0, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  BT_CHECK_PTR_EQ(v.data, (double *)w.data + 1 * 30 + 2 * 6);
  BT_CHECK_EQ(v.dtype, BT_F64);
  BT_CHECK_EQ(v.ndim, 3);
  BT_CHECK_EQ(v.writable, 1);
  BT_CHECK(v.numa == -1); /* an array without a runtime has no node map */
  const int64_t shape[3] = {2, 3, 6}, strides[3] = {30, 6, 1},
                origin[3] = {1, 2, 0};
  for (int d = 0; d < 3; d++) {
    BT_CHECK_EQ(v.shape[d], shape[d]);
    BT_CHECK_EQ(v.strides[d], strides[d]);
    BT_CHECK_EQ(v.origin[d], origin[d]);
  }
  BT_CHECK_PTR_EQ(bt_slice_array(s), a);
  BT_CHECK_STATUS(bt_slice_view(s, NULL), BT_EINVAL);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(stale_after_release_and_split) {
  bt_array *a = make2d(8, 8);
  bt_slice s, copy, parts[2];
  bt_view v;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  copy = s;
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_STATUS(bt_slice_view(copy, &v), BT_EMOVED);
  BT_CHECK_STATUS(bt_slice_release(copy), BT_EMOVED);
  BT_CHECK_STATUS(bt_slice_split(copy, 0, 2, parts), BT_EMOVED);
  BT_CHECK_STATUS(bt_slice_migrate(copy, 0), BT_EMOVED);
  BT_CHECK(bt_slice_array(copy) == NULL);

  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_split(s, 0, 2, parts));
  BT_CHECK_STATUS(bt_slice_view(s, &v), BT_EMOVED);
  BT_CHECK(strstr(bt_errmsg(), "stale") != NULL);
  BT_CHECK_STATUS(bt_slice_release(s), BT_EMOVED);
  for (int i = 0; i < 2; i++) BT_CHECK_OK(bt_slice_release(parts[i]));
  /* Never made, zero, garbage: still a status, never a crash. */
  BT_CHECK_STATUS(bt_slice_view((bt_slice){0}, &v), BT_EMOVED);
  BT_CHECK_STATUS(bt_slice_release((bt_slice){UINT64_MAX}), BT_EMOVED);
  BT_CHECK_STATUS(bt_slice_view((bt_slice){0x123456789abcdefULL}, &v),
                  BT_EMOVED);
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_array_release(a));
}

/* A record is reused with a new generation: the old handle stays stale. */
BT_TEST(record_reuse_keeps_stale_handles_stale) {
  bt_array *a = make2d(4, 4);
  bt_slice old, fresh;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &old));
  BT_CHECK_OK(bt_slice_release(old));
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &fresh));
  /* The free list is LIFO: the same record (low 24 bits of the id, its
   * index) came back, with another generation. */
  BT_CHECK_EQ(fresh.id & 0xffffff, old.id & 0xffffff);
  BT_CHECK_NE(fresh.id, old.id);
  bt_view v;
  BT_CHECK_STATUS(bt_slice_view(old, &v), BT_EMOVED);
  BT_CHECK_STATUS(bt_slice_release(old), BT_EMOVED);
  BT_CHECK_OK(bt_slice_view(fresh, &v)); /* untouched by the stale calls */
  BT_CHECK_OK(bt_slice_release(fresh));
  BT_CHECK_OK(bt_array_release(a));
}

typedef struct peer_view {
  bt_slice s;
  int view_rc, release_rc, split_rc;
} peer_view;

static void *try_from_other_thread(void *p) {
  peer_view *pv = p;
  bt_view v;
  bt_slice parts[2];
  pv->view_rc = bt_slice_view(pv->s, &v);
  pv->split_rc = bt_slice_split(pv->s, 0, 2, parts);
  pv->release_rc = bt_slice_release(pv->s);
  return NULL;
}

BT_TEST(non_holder_thread_gets_moved) {
  bt_array *a = make2d(4, 4);
  peer_view pv;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &pv.s));
  pthread_t t;
  BT_CHECK_EQ(pthread_create(&t, NULL, try_from_other_thread, &pv), 0);
  pthread_join(t, NULL);
  BT_CHECK_STATUS(pv.view_rc, BT_EMOVED);
  BT_CHECK_STATUS(pv.split_rc, BT_EMOVED);
  BT_CHECK_STATUS(pv.release_rc, BT_EMOVED);
  bt_view v;
  BT_CHECK_OK(bt_slice_view(pv.s, &v)); /* still ours */
  BT_CHECK_OK(bt_slice_release(pv.s));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(send_moves_the_handle) {
  bt_array *a = make2d(4, 4);
  bt_slice s, sent;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  sent = s;
  BT_CHECK_OK(bt_type_slice.on_send(&sent, BT_CHECKED));
  bt_view v;
  BT_CHECK_STATUS(bt_slice_view(s, &v), BT_EMOVED);
  BT_CHECK(strstr(bt_errmsg(), "in flight") != NULL);
  BT_CHECK_STATUS(bt_type_slice.on_send(&s, BT_UNCHECKED), BT_EMOVED);
  BT_CHECK_EQ(bt_type_slice.numa_of(&sent), -1);
  BT_CHECK_OK(bt__slice_view_any(sent, &v)); /* what the MPI sender reads */
  /* A failed send gives it back: on_recv on the sender's thread. */
  bt_type_slice.on_recv(&sent);
  BT_CHECK_OK(bt_slice_view(s, &v));
  BT_CHECK_EQ(bt_type_slice.size, sizeof(bt_slice));
  /* Dropped in flight: the region unlocks. */
  BT_CHECK_OK(bt_type_slice.on_send(&s, BT_CHECKED));
  bt_type_slice.on_drop(&s);
  BT_CHECK_STATUS(bt_slice_view(s, &v), BT_EMOVED);
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(split_remainder_goes_first) {
  bt_array *a = make2d(10, 7);
  bt_slice s, parts[4];
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{0, 10}, {1, 7}}, 0, &s));
  bt_slice before[4];
  memcpy(before, parts, sizeof parts);
  BT_CHECK_STATUS(bt_slice_split(s, 2, 2, parts), BT_EINVAL);
  BT_CHECK_STATUS(bt_slice_split(s, -1, 2, parts), BT_EINVAL);
  BT_CHECK_STATUS(bt_slice_split(s, 0, 0, parts), BT_EINVAL);
  BT_CHECK_STATUS(bt_slice_split(s, 0, 11, parts), BT_EINVAL);
  BT_CHECK_STATUS(bt_slice_split(s, 1, 7, parts), BT_EINVAL); /* extent 6 */
  BT_CHECK(memcmp(before, parts, sizeof parts) == 0);
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v)); /* a refused split consumes nothing */
  BT_CHECK_OK(bt_slice_split(s, 0, 4, parts));
  const int64_t rows[4] = {3, 3, 2, 2}, origin[4] = {0, 3, 6, 8};
  for (int i = 0; i < 4; i++) {
    BT_CHECK_OK(bt_slice_view(parts[i], &v));
    BT_CHECK_EQ(v.shape[0], rows[i]);
    BT_CHECK_EQ(v.origin[0], origin[i]);
    BT_CHECK_EQ(v.shape[1], 6);
    BT_CHECK_EQ(v.origin[1], 1);
    BT_CHECK_EQ(v.writable, 1);
  }
  for (int i = 0; i < 4; i++) BT_CHECK_OK(bt_slice_release(parts[i]));
  /* parts == extent gives one row each. */
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{2, 5}, {0, 7}}, 0, &s));
  BT_CHECK_OK(bt_slice_split(s, 0, 3, parts));
  for (int i = 0; i < 3; i++) {
    BT_CHECK_OK(bt_slice_view(parts[i], &v));
    BT_CHECK_EQ(v.shape[0], 1);
    BT_CHECK_EQ(v.origin[0], 2 + i);
    BT_CHECK_OK(bt_slice_release(parts[i]));
  }
  BT_CHECK_OK(bt_array_release(a));
}

/* Nested splits: the region unlocks with the last descendant. */
BT_TEST(split_nested_unlocks_with_last_part) {
  bt_array *a = make2d(8, 9);
  bt_slice s, halves[2], tiles[3], probe;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_split(s, 0, 2, halves));
  BT_CHECK_OK(bt_slice_split(halves[0], 1, 3, tiles));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(tiles[2], &v));
  BT_CHECK_EQ(v.origin[0], 0);
  BT_CHECK_EQ(v.origin[1], 6);
  BT_CHECK_EQ(v.shape[0], 4);
  BT_CHECK_EQ(v.shape[1], 3);
  BT_CHECK_STATUS(bt_slice_view(halves[0], &v), BT_EMOVED);
  BT_CHECK_OK(bt_slice_release(halves[1]));
  /* The released half is still locked: the grant covers the whole. */
  BT_CHECK_STATUS(bt_array_borrow(a, (bt_range[]){{6, 7}, {0, 1}}, 0, &probe),
                  BT_EBUSY);
  for (int i = 0; i < 3; i++) {
    BT_CHECK_STATUS(bt_array_own(a, NULL, 0, &probe), BT_EBUSY);
    BT_CHECK_OK(bt__regions_check(a));
    BT_CHECK_OK(bt_slice_release(tiles[i]));
  }
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &probe));
  BT_CHECK_OK(bt_slice_release(probe));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(split_borrowed) {
  bt_array *a = make2d(6, 6);
  bt_slice s, parts[3], other;
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_split(s, 1, 3, parts));
  for (int i = 0; i < 3; i++) {
    bt_view v;
    BT_CHECK_OK(bt_slice_view(parts[i], &v));
    BT_CHECK_EQ(v.writable, 0);
    BT_CHECK_EQ(v.shape[1], 2);
  }
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &other));
  BT_CHECK_OK(bt_slice_release(other));
  BT_CHECK_STATUS(bt_array_own(a, (bt_range[]){{5, 6}, {5, 6}}, 0, &other),
                  BT_EBUSY);
  for (int i = 0; i < 3; i++) BT_CHECK_OK(bt_slice_release(parts[i]));
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &other));
  BT_CHECK_OK(bt_slice_release(other));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(scoped_slice) {
  bt_array *a = make2d(4, 4);
  {
    BT_SCOPED_SLICE bt_slice s;
    BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  }
  bt_slice probe;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &probe)); /* released at scope end */
  {
    BT_SCOPED_SLICE bt_slice s = probe;
    BT_CHECK_OK(bt_slice_release(s)); /* stale at scope end: ignored */
    BT_CHECK_OK(bt_array_own(a, NULL, 0, &probe)); /* reuses the record */
  }
  bt_view v;
  BT_CHECK_OK(bt_slice_view(probe, &v)); /* the reuse was left alone */
  {
    BT_SCOPED_SLICE bt_slice s = probe;
    BT_CHECK_OK(bt_type_slice.on_send(&s, BT_CHECKED)); /* sent: left alone */
  }
  bt__slice_drop(probe);
  {
    BT_SCOPED_SLICE bt_slice s = {0}; /* never set: ignored */
    (void)s;
  }
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &probe));
  BT_CHECK_OK(bt_slice_release(probe));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(slice_of_new_array) {
  bt_slice s;
  BT_CHECK_OK(bt__slice_new_array(NULL, BT_I32, 2, (int64_t[]){3, 5}, &s));
  BT_CHECK(bt__slice_held(s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  BT_CHECK_EQ(v.shape[0], 3);
  BT_CHECK_EQ(v.shape[1], 5);
  BT_CHECK_EQ(v.writable, 1);
  BT_CHECK_EQ(((int32_t *)v.data)[14], 0);
  BT_CHECK_OK(bt_slice_release(s)); /* frees the array (ASan checks) */
  BT_CHECK(!bt__slice_held(s));
}

/* ---- receive arrays (array/recycle.c) ------------------------------------ */

static void *recv_data(bt_dtype t, int ndim, const int64_t *shape,
                       bt_slice *s) {
  BT_CHECK_OK(bt__slice_recv_array(NULL, t, ndim, shape, s));
  BT_CHECK(bt__slice_held(*s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(*s, &v));
  BT_CHECK_EQ(v.writable, 1);
  return v.data;
}

BT_TEST(recv_array_reuses_freed_memory) {
  (void)bt__recycle_drain();
  const int64_t big[2] = {64, 512}, small[1] = {100};
  bt_slice s1, s2, s3, s4, s5;
  double *p1 = recv_data(BT_F64, 2, big, &s1);
  for (int i = 0; i < 64 * 512; i++) p1[i] = i;
  BT_CHECK_OK(bt_slice_release(s1)); /* last reference: mapping kept */
  /* Same size: the same memory, faulted in, contents left as they were. */
  double *p2 = recv_data(BT_F64, 2, big, &s2);
  BT_CHECK(p2 == p1);
  BT_CHECK_EQ(p2[4095], 4095.0);
  /* Another size: a fresh (zeroed) mapping. */
  double *p3 = recv_data(BT_F64, 1, small, &s3);
  BT_CHECK(p3 != p1);
  BT_CHECK_EQ(p3[99], 0.0);
  BT_CHECK_OK(bt_slice_release(s3));
  /* An array someone still references is not recycled when its slice goes. */
  bt_array *a = bt_slice_array(s2);
  BT_CHECK(a != NULL);
  bt_array_retain(a);
  BT_CHECK_OK(bt_slice_release(s2));
  double *p4 = recv_data(BT_F64, 2, big, &s4);
  BT_CHECK(p4 != p1);
  BT_CHECK_EQ(p4[0], 0.0);
  BT_CHECK_OK(bt_array_release(a)); /* now it is */
  double *p5 = recv_data(BT_F64, 2, big, &s5);
  BT_CHECK(p5 == p1);
  BT_CHECK_OK(bt_slice_release(s4));
  BT_CHECK_OK(bt_slice_release(s5));
  /* Arrays from bt__slice_new_array (zeroed by contract) never go there. */
  BT_CHECK_EQ(bt__recycle_drain(), 3); /* s3's, s4's and s5's */
  bt_slice z;
  BT_CHECK_OK(bt__slice_new_array(NULL, BT_F64, 2, big, &z));
  BT_CHECK_OK(bt_slice_release(z));
  BT_CHECK_EQ(bt__recycle_drain(), 0);
}

BT_TEST(recv_array_recycling_is_bounded) {
  (void)bt__recycle_drain();
  enum { N = 20 };
  const int64_t one_page[1] = {64}, two_pages[1] = {1024};
  bt_slice s[N];
  for (int i = 0; i < N; i++) (void)recv_data(BT_F64, 1, one_page, &s[i]);
  for (int i = 0; i < N; i++) BT_CHECK_OK(bt_slice_release(s[i]));
  /* Full of one size: another size still gets in (the oldest goes), so a
   * size received earlier cannot keep the cache from the current one. */
  bt_slice big;
  double *p = recv_data(BT_F64, 1, two_pages, &big);
  p[1023] = 42.0;
  BT_CHECK_OK(bt_slice_release(big));
  /* The same memory, stamp and all (a fresh mapping, even at the same
   * address, would read 0). */
  double *q = recv_data(BT_F64, 1, two_pages, &big);
  BT_CHECK(q == p);
  BT_CHECK_EQ(q[1023], 42.0);
  BT_CHECK_OK(bt_slice_release(big));
  int kept = bt__recycle_drain();
  BT_CHECK_CMP(kept, >, 1);
  BT_CHECK_CMP(kept, <, N); /* the rest were unmapped (ASan: no leak) */
}

/* Threads take and free receive arrays of a few sizes at once: no two live
 * arrays ever share memory (each thread's stamp survives until it frees). */
typedef struct recv_racer {
  int id;
} recv_racer;

static void *recv_race(void *p) {
  const recv_racer *r = p;
  static const int64_t sizes[3] = {512, 1024, 4096};
  for (int round = 0; round < 300; round++) {
    int64_t shape[1] = {sizes[(round + r->id) % 3]};
    bt_slice s;
    int64_t *d = recv_data(BT_I64, 1, shape, &s);
    int64_t stamp = (int64_t)r->id << 32 | round;
    for (int64_t i = 0; i < shape[0]; i++) d[i] = stamp;
    sched_yield();
    for (int64_t i = 0; i < shape[0]; i++) BT_CHECK_EQ(d[i], stamp);
    BT_CHECK_OK(bt_slice_release(s));
  }
  return NULL;
}

BT_TEST(recv_arrays_never_shared_between_threads) {
  enum { THREADS = 6 };
  recv_racer racers[THREADS];
  for (int i = 0; i < THREADS; i++) racers[i].id = i;
  bt_test_threads(THREADS, recv_race, racers, sizeof racers[0]);
  (void)bt__recycle_drain();
}

/* ---- through channels ---------------------------------------------------- */

typedef struct chan_peer {
  bt_chan *in, *out;
  void *data_seen;
  int view_rc;
} chan_peer;

static void *echo_thread(void *p) {
  chan_peer *c = p;
  bt_slice s;
  BT_CHECK_OK(bt_recv(c->in, &s));
  bt_view v;
  c->view_rc = bt_slice_view(s, &v);
  c->data_seen = v.data;
  ((double *)v.data)[0] = 42;
  BT_CHECK_OK(bt_send(c->out, &s));
  return NULL;
}

BT_TEST(chan_zero_copy) {
  bt_array *a = make2d(1024, 1024);
  bt_slice s, sent;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  chan_peer c = {0};
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 1, &c.in));
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 1, &c.out));
  pthread_t t;
  BT_CHECK_EQ(pthread_create(&t, NULL, echo_thread, &c), 0);
  sent = s;
  BT_CHECK_OK(bt_send(c.in, &sent));
  BT_CHECK_STATUS(bt_slice_view(s, &v), BT_EMOVED);
  BT_CHECK_STATUS(bt_send(c.in, &s), BT_EMOVED); /* cannot send it twice */
  bt_slice back;
  BT_CHECK_OK(bt_recv(c.out, &back));
  pthread_join(t, NULL);
  BT_CHECK_OK(c.view_rc);
  BT_CHECK_EQ(back.id, s.id); /* the same capability came back */
  BT_CHECK_OK(bt_slice_view(back, &v));
  BT_CHECK_PTR_EQ(c.data_seen, v.data); /* the receiver saw the same memory */
  BT_CHECK_EQ(((double *)v.data)[0], 42);
  BT_CHECK_OK(bt_slice_release(back));
  BT_CHECK_OK(bt_chan_release(c.in));
  BT_CHECK_OK(bt_chan_release(c.out));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(chan_drop_unlocks_region) {
  bt_array *a = make2d(4, 4);
  bt_chan *ch;
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 2, &ch));
  bt_slice s, probe;
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{0, 2}, {0, 4}}, 0, &s));
  BT_CHECK_OK(bt_send(ch, &s));
  BT_CHECK_OK(bt_array_borrow(a, (bt_range[]){{2, 4}, {0, 4}}, 0, &s));
  BT_CHECK_OK(bt_send(ch, &s));
  BT_CHECK_STATUS(bt_array_own(a, NULL, 0, &probe), BT_EBUSY);
  BT_CHECK_OK(bt_chan_release(ch)); /* both left inside: on_drop */
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &probe));
  BT_CHECK_OK(bt_slice_release(probe));
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_array_release(a));
  /* The array lives while its slices wait in a channel. */
  a = make2d(4, 4);
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 1, &ch));
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_send(ch, &s));
  BT_CHECK_OK(bt_chan_release(ch)); /* frees the array */
}

/* ---- stress -------------------------------------------------------------- */

enum { ROWS = 24, COLS = 24, THREADS = 6 };

typedef struct shadow {
  pthread_mutex_t lock;
  int owners[ROWS][COLS];    /* protected by 'lock' */
  int borrowers[ROWS][COLS]; /* protected by 'lock' */
} shadow;

typedef struct stress {
  bt_array *a;
  shadow sh;
  bt_chan *mail; /* slices handed between threads */
  _Atomic long grants;
  long iters;
} stress;

typedef struct piece {
  int64_t lo[2], hi[2];
  int owned;
} piece;

/* Right after a grant: no one else may hold what we got. */
static void shadow_add(stress *st, const bt_view *v) {
  pthread_mutex_lock(&st->sh.lock);
  for (int64_t r = v->origin[0]; r < v->origin[0] + v->shape[0]; r++)
    for (int64_t c = v->origin[1]; c < v->origin[1] + v->shape[1]; c++) {
      if (v->writable) {
        if (st->sh.owners[r][c] || st->sh.borrowers[r][c])
          bt_test_fail(__FILE__, __LINE__, "own of (%lld,%lld) overlaps",
                       (long long)r, (long long)c);
        st->sh.owners[r][c] = 1;
      } else {
        if (st->sh.owners[r][c])
          bt_test_fail(__FILE__, __LINE__, "borrow of (%lld,%lld) overlaps",
                       (long long)r, (long long)c);
        st->sh.borrowers[r][c]++;
      }
    }
  pthread_mutex_unlock(&st->sh.lock);
}

/* Right before a release. */
static void shadow_remove(stress *st, const bt_view *v) {
  pthread_mutex_lock(&st->sh.lock);
  for (int64_t r = v->origin[0]; r < v->origin[0] + v->shape[0]; r++)
    for (int64_t c = v->origin[1]; c < v->origin[1] + v->shape[1]; c++) {
      if (v->writable) {
        BT_CHECK_EQ(st->sh.owners[r][c], 1);
        st->sh.owners[r][c] = 0;
      } else {
        BT_CHECK(st->sh.borrowers[r][c] > 0);
        st->sh.borrowers[r][c]--;
      }
    }
  pthread_mutex_unlock(&st->sh.lock);
}

/* Write (own) or check (borrow) every element of a held slice: owned
 * elements hold the owner's stamp until release. */
static void use(const bt_view *v, double stamp) {
  double *x = v->data;
  for (int64_t r = 0; r < v->shape[0]; r++)
    for (int64_t c = 0; c < v->shape[1]; c++) {
      double *e = &x[r * v->strides[0] + c];
      if (v->writable)
        *e = stamp;
      else
        (void)*(volatile double *)e;
    }
  if (v->writable)
    for (int64_t r = 0; r < v->shape[0]; r++)
      for (int64_t c = 0; c < v->shape[1]; c++)
        BT_CHECK_EQ(x[r * v->strides[0] + c], stamp);
}

static void release_checked(stress *st, bt_slice s) {
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  shadow_remove(st, &v);
  BT_CHECK_OK(bt_slice_release(s));
}

static void *stress_thread(void *p) {
  stress *st = p;
  static _Atomic unsigned seq;
  unsigned seed = bt_test_seed() ^ (atomic_fetch_add(&seq, 1) * 0x9e3779b9u);
  for (long i = 0; i < st->iters; i++) {
    /* Adopt whatever others sent us: it is held here now. */
    bt_slice got;
    while (bt_try_recv(st->mail, &got) == BT_OK) {
      bt_view v;
      BT_CHECK_OK(bt_slice_view(got, &v));
      use(&v, (double)i);
      release_checked(st, got);
    }
    int64_t r0 = rand_r(&seed) % ROWS, c0 = rand_r(&seed) % COLS;
    int64_t r1 = r0 + 1 + rand_r(&seed) % (ROWS - r0);
    int64_t c1 = c0 + 1 + rand_r(&seed) % (COLS - c0);
    bt_range region[2] = {{r0, r1}, {c0, c1}};
    int owned = rand_r(&seed) % 3 != 0;
    int64_t timeout = (rand_r(&seed) % 4 == 0) ? 0 : 200000; /* 0 or 200 us */
    bt_slice s;
    int rc = owned ? bt_array_own(st->a, region, timeout, &s)
                   : bt_array_borrow(st->a, region, timeout, &s);
    if (rc == BT_EBUSY || rc == BT_ETIMEDOUT) continue;
    BT_CHECK_OK(rc);
    atomic_fetch_add(&st->grants, 1);
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    shadow_add(st, &v);
    use(&v, (double)i);
    int action = rand_r(&seed) % 4;
    if (action == 0 && v.shape[0] >= 2) {
      /* Split: release some parts here, send the others away. */
      int parts =
          2 + (int)(rand_r(&seed) % (v.shape[0] - 1 < 3 ? v.shape[0] - 1 : 3));
      bt_slice out[4];
      BT_CHECK_OK(bt_slice_split(s, 0, parts, out));
      BT_CHECK_STATUS(bt_slice_view(s, &v), BT_EMOVED);
      /* The shadow follows the parts: drop the whole, add the parts. */
      bt_view pv[4];
      for (int k = 0; k < parts; k++)
        BT_CHECK_OK(bt_slice_view(out[k], &pv[k]));
      bt_view whole = pv[0];
      whole.shape[0] =
          pv[parts - 1].origin[0] + pv[parts - 1].shape[0] - pv[0].origin[0];
      shadow_remove(st, &whole);
      for (int k = 0; k < parts; k++) shadow_add(st, &pv[k]);
      for (int k = 0; k < parts; k++) {
        if (k % 2 == 0 && bt_try_send(st->mail, &out[k]) == BT_OK) {
          BT_CHECK_STATUS(bt_slice_view(out[k], &v), BT_EMOVED);
          continue;
        }
        release_checked(st, out[k]);
      }
    } else if (action == 1) {
      if (bt_try_send(st->mail, &s) != BT_OK) release_checked(st, s);
    } else {
      release_checked(st, s);
    }
  }
  return NULL;
}

BT_TEST_STRESS(random_regions_many_threads) {
  stress st;
  memset(&st, 0, sizeof st);
  pthread_mutex_init(&st.sh.lock, NULL);
  st.a = make2d(ROWS, COLS);
  st.iters = bt_test_scaled(20000);
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 64, &st.mail));
  bt_test_threads(THREADS, stress_thread, &st, 0);
  /* Slices still in the mailbox: received and released here. */
  bt_slice got;
  while (bt_try_recv(st.mail, &got) == BT_OK) release_checked(&st, got);
  BT_CHECK_OK(bt__regions_check(st.a));
  BT_CHECK_CMP(atomic_load(&st.grants), >, st.iters);
  for (int r = 0; r < ROWS; r++)
    for (int c = 0; c < COLS; c++) {
      BT_CHECK_EQ(st.sh.owners[r][c], 0);
      BT_CHECK_EQ(st.sh.borrowers[r][c], 0);
    }
  bt_slice s;
  BT_CHECK_OK(bt_array_own(st.a, NULL, 0, &s)); /* everything came back */
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_chan_release(st.mail));
  BT_CHECK_OK(bt_array_release(st.a));
  pthread_mutex_destroy(&st.sh.lock);
}
