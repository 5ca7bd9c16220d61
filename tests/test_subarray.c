/* SPDX-License-Identifier: BSD-3-Clause */
/* test_subarray.c: sub-arrays (bt_array_sub): views of a region of a parent
 * with its memory and lock table; nested; through channels and kernels;
 * release order; misuse. */
#include <pthread.h>
#include <stdint.h>

#include "kernels_int.h"
#include "test.h"

static bt_array *make2d(bt_runtime *rt, int64_t rows, int64_t cols) {
  int64_t shape[2] = {rows, cols};
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_LOCAL, &a));
  return a;
}

/* a[i][j] = 100 i + j through a slice of the whole array. */
static void fill_index(bt_array *a) {
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  double *d = v.data;
  for (int64_t i = 0; i < v.shape[0]; i++)
    for (int64_t j = 0; j < v.shape[1]; j++)
      d[i * v.strides[0] + j * v.strides[1]] = (double)(100 * i + j);
  BT_CHECK_OK(bt_slice_release(s));
}

/* Element (i, j) of a read through a borrowed slice. */
static double at(bt_array *a, int64_t i, int64_t j) {
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_borrow(a, (bt_range[]){{i, i + 1}, {j, j + 1}}, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  double x = *(double *)v.data;
  BT_CHECK_OK(bt_slice_release(s));
  return x;
}

BT_TEST(shape_view_and_nesting) {
  bt_array *a = make2d(NULL, 8, 10);
  fill_index(a);
  bt_array *s = NULL, *ss = NULL;
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{2, 6}, {3, 9}}, &s));
  BT_CHECK_EQ(bt_array_ndim(s), 2);
  BT_CHECK_EQ(bt_array_dtype(s), BT_F64);
  int64_t shape[2];
  bt_array_shape(s, shape);
  BT_CHECK_EQ(shape[0], 4);
  BT_CHECK_EQ(shape[1], 6);
  BT_CHECK(bt_array_runtime(s) == NULL);

  bt_slice sl;
  bt_view v;
  BT_CHECK_OK(bt_array_own(s, (bt_range[]){{1, 3}, {2, 5}}, 0, &sl));
  BT_CHECK_PTR_EQ(bt_slice_array(sl), s);
  BT_CHECK_OK(bt_slice_view(sl, &v));
  BT_CHECK_EQ(v.origin[0], 1); /* in the sub-array's coordinates */
  BT_CHECK_EQ(v.origin[1], 2);
  BT_CHECK_EQ(v.shape[0], 2);
  BT_CHECK_EQ(v.shape[1], 3);
  BT_CHECK_EQ(v.strides[0], 10); /* the parent's strides */
  BT_CHECK_EQ(v.strides[1], 1);
  BT_CHECK_EQ(v.writable, 1);
  BT_CHECK_EQ(((double *)v.data)[0], 100 * 3 + 5);
  BT_CHECK_EQ(((double *)v.data)[v.strides[0] + 2], 100 * 4 + 7);
  BT_CHECK_OK(bt_slice_release(sl));

  /* A sub-array of the sub-array: offsets add up. */
  BT_CHECK_OK(bt_array_sub(s, (bt_range[]){{1, 4}, {2, 6}}, &ss));
  BT_CHECK_OK(bt_array_own(ss, NULL, 0, &sl));
  BT_CHECK_OK(bt_slice_view(sl, &v));
  BT_CHECK_EQ(v.origin[0], 0);
  BT_CHECK_EQ(v.shape[0], 3);
  BT_CHECK_EQ(v.shape[1], 4);
  BT_CHECK_EQ(((double *)v.data)[0], 100 * 3 + 5);
  double *last = (double *)v.data + 2 * v.strides[0] + 3;
  BT_CHECK_EQ(*last, 100 * 5 + 8);
  *last = -1; /* written through the nested sub-array */
  BT_CHECK_OK(bt__regions_check(ss));
  BT_CHECK_OK(bt_slice_release(sl));
  BT_CHECK_EQ(at(a, 5, 8), -1);
  BT_CHECK_EQ(at(s, 3, 5), -1);

  /* A NULL region is the whole parent; split works on sub-array slices. */
  bt_array *whole = NULL;
  BT_CHECK_OK(bt_array_sub(a, NULL, &whole));
  bt_array_shape(whole, shape);
  BT_CHECK_EQ(shape[0], 8);
  BT_CHECK_EQ(shape[1], 10);
  bt_slice parts[3];
  BT_CHECK_OK(bt_array_own(s, NULL, 0, &sl));
  BT_CHECK_OK(bt_slice_split(sl, 1, 3, parts));
  for (int i = 0; i < 3; i++) {
    BT_CHECK_OK(bt_slice_view(parts[i], &v));
    BT_CHECK_EQ(v.origin[1], 2 * i);
    BT_CHECK_EQ(((double *)v.data)[0], 100 * 2 + 3 + 2 * i);
    BT_CHECK_PTR_EQ(bt_slice_array(parts[i]), s);
  }
  for (int i = 0; i < 3; i++) BT_CHECK_OK(bt_slice_release(parts[i]));
  BT_CHECK_OK(bt_array_release(whole));
  BT_CHECK_OK(bt_array_release(ss));
  BT_CHECK_OK(bt_array_release(s));
  BT_CHECK_OK(bt_array_release(a));
}

/* Owning through a sub-array locks the matching region of the parent, and
 * the other way round, exactly where they overlap. */
BT_TEST(own_conflicts_with_parent) {
  bt_array *a = make2d(NULL, 8, 8);
  bt_array *s = NULL, *t = NULL, *u = NULL;
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{2, 6}, {2, 6}}, &s));
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{5, 8}, {0, 8}}, &t)); /* sibling */
  BT_CHECK_OK(bt_array_sub(s, (bt_range[]){{0, 2}, {0, 4}}, &u)); /* nested */
  bt_slice ps, ss, probe;

  /* Sub-array first: the parent's overlapping own and borrow are refused;
   * disjoint regions are free. */
  BT_CHECK_OK(
      bt_array_own(s, (bt_range[]){{0, 1}, {0, 1}}, 0, &ss)); /* (2,2) */
  BT_CHECK_STATUS(bt_array_own(a, (bt_range[]){{2, 3}, {2, 3}}, 0, &probe),
                  BT_EBUSY);
  BT_CHECK_STATUS(bt_array_borrow(a, NULL, 0, &probe), BT_EBUSY);
  BT_CHECK_STATUS(bt_array_own(u, (bt_range[]){{0, 1}, {0, 1}}, 0, &probe),
                  BT_EBUSY);
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{2, 3}, {3, 8}}, 0, &ps));
  BT_CHECK_OK(bt_slice_release(ps));
  BT_CHECK_OK(bt_array_own(u, (bt_range[]){{0, 2}, {1, 4}}, 0, &probe));
  BT_CHECK_OK(bt_slice_release(probe));
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_slice_release(ss));

  /* Parent first: the sub-arrays' overlapping owns and borrows wait. */
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{5, 6}, {5, 6}}, 0, &ps));
  BT_CHECK_STATUS(bt_array_own(s, (bt_range[]){{3, 4}, {3, 4}}, 0, &probe),
                  BT_EBUSY);
  BT_CHECK_STATUS(bt_array_borrow(s, NULL, 0, &probe), BT_EBUSY);
  BT_CHECK_STATUS(bt_array_borrow(t, (bt_range[]){{0, 1}, {4, 6}}, 0, &probe),
                  BT_EBUSY);
  BT_CHECK_STATUS(
      bt_array_own(t, (bt_range[]){{0, 1}, {5, 6}}, 1000000, &probe),
      BT_ETIMEDOUT);
  BT_CHECK_OK(bt_array_own(s, (bt_range[]){{0, 3}, {0, 4}}, 0, &ss));
  BT_CHECK_OK(bt_slice_release(ss));
  BT_CHECK_OK(bt_array_own(t, (bt_range[]){{1, 3}, {0, 8}}, 0, &ss));
  BT_CHECK_OK(bt_slice_release(ss));
  BT_CHECK_OK(bt_slice_release(ps));

  /* Borrows through parent and sub-arrays share; siblings conflict where
   * they overlap (row 5). */
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &ps));
  BT_CHECK_OK(bt_array_borrow(s, NULL, 0, &ss));
  BT_CHECK_OK(bt_slice_release(ss));
  BT_CHECK_OK(bt_slice_release(ps));
  BT_CHECK_OK(
      bt_array_own(s, (bt_range[]){{3, 4}, {0, 4}}, 0, &ss)); /* row 5 */
  BT_CHECK_STATUS(bt_array_own(t, (bt_range[]){{0, 1}, {2, 3}}, 0, &probe),
                  BT_EBUSY);
  BT_CHECK_OK(bt_array_own(t, (bt_range[]){{0, 1}, {6, 8}}, 0, &probe));
  BT_CHECK_OK(bt__regions_check(t));
  BT_CHECK_OK(bt_slice_release(probe));
  BT_CHECK_OK(bt_slice_release(ss));

  /* The whole parent is free again once the nested sub-array's slice goes. */
  BT_CHECK_OK(bt_array_own(u, NULL, 0, &ss));
  BT_CHECK_STATUS(bt_array_own(a, NULL, 0, &ps), BT_EBUSY);
  BT_CHECK_OK(bt_slice_release(ss));
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &ps));
  BT_CHECK_OK(bt_slice_release(ps));

  BT_CHECK_OK(bt_array_release(u));
  BT_CHECK_OK(bt_array_release(t));
  BT_CHECK_OK(bt_array_release(s));
  BT_CHECK_OK(bt_array_release(a));
}

typedef struct waiter {
  bt_array *a;
  int rc;
} waiter;

static void *own_parent_forever(void *p) {
  waiter *w = p;
  bt_slice s;
  w->rc = bt_array_own(w->a, NULL, -1, &s);
  if (w->rc == BT_OK) w->rc = bt_slice_release(s);
  return NULL;
}

/* A thread waiting for the whole parent wakes when the last slice of a
 * sub-array is released: the join works through sub-arrays. */
BT_TEST(parent_wait_wakes_on_sub_release) {
  bt_array *a = make2d(NULL, 6, 6);
  bt_array *s = NULL;
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{1, 5}, {1, 5}}, &s));
  bt_slice held;
  BT_CHECK_OK(bt_array_borrow(s, NULL, 0, &held));
  waiter w = {a, -100};
  pthread_t t;
  bt_test_spawn(&t, own_parent_forever, &w);
  BT_CHECK_OK(bt_slice_release(held));
  bt_test_join(t);
  BT_CHECK_OK(w.rc);
  BT_CHECK_OK(bt_array_release(s));
  BT_CHECK_OK(bt_array_release(a));
}

static int mark_part(bt_slice part, int worker, void *ctx) {
  (void)worker;
  (void)ctx;
  bt_view v;
  int rc = bt_slice_view(part, &v);
  if (rc != BT_OK) return rc;
  double *d = v.data;
  for (int64_t i = 0; i < v.shape[0]; i++)
    for (int64_t j = 0; j < v.shape[1]; j++)
      d[i * v.strides[0] + j * v.strides[1]] =
          (double)(1000 + 100 * (v.origin[0] + i) + v.origin[1] + j);
  return BT_OK;
}

/* A kernel on a sub-array touches only that region; bt_parallel_slices
 * gives parts with origins in the sub-array's coordinates. */
BT_TEST(kernel_touches_only_region) {
  for (int workers = 1; workers <= 3; workers++) {
    bt_options opt = BT_OPTIONS_DEFAULT;
    opt.workers = workers;
    bt_runtime *rt = NULL;
    BT_CHECK_OK(bt_runtime_create(&opt, &rt));
    int64_t shape[2] = {9, 7};
    bt_array *a = NULL, *s = NULL;
    BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &a));
    BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{2, 7}, {1, 4}}, &s));
    BT_CHECK_OK(bt_fill(rt, s, 3.5));
    for (int64_t i = 0; i < 9; i++)
      for (int64_t j = 0; j < 7; j++) {
        int in = i >= 2 && i < 7 && j >= 1 && j < 4;
        BT_CHECK_EQ(at(a, i, j), in ? 3.5 : 0);
      }
    double sum = 0;
    BT_CHECK_OK(bt_sum(rt, s, &sum));
    BT_CHECK_EQ(sum, 3.5 * 15);
    for (int axis = 0; axis < 2; axis++) {
      BT_CHECK_OK(bt_parallel_slices(rt, s, axis, 1, mark_part, NULL));
      for (int64_t i = 0; i < 5; i++)
        for (int64_t j = 0; j < 3; j++)
          BT_CHECK_EQ(at(a, 2 + i, 1 + j), 1000 + 100 * i + j);
      BT_CHECK_EQ(at(a, 1, 1), 0);
      BT_CHECK_EQ(at(a, 2, 4), 0);
    }
    /* The parent, busy in part, refuses a kernel on the sub-array. */
    bt_slice held;
    BT_CHECK_OK(bt_array_borrow(a, (bt_range[]){{6, 7}, {3, 4}}, 0, &held));
    BT_CHECK_STATUS(bt_fill(rt, s, 1), BT_EBUSY);
    BT_CHECK_OK(bt_sum(rt, s, &sum)); /* reading is fine */
    BT_CHECK_OK(bt_slice_release(held));
    BT_CHECK_OK(bt_array_release(s));
    BT_CHECK_OK(bt_array_release(a));
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
}

typedef struct peer {
  bt_chan *in, *out;
  int rc;
  int64_t origin0;
} peer;

static void *scale_thread(void *p) {
  peer *c = p;
  bt_slice s;
  c->rc = bt_recv(c->in, &s);
  if (c->rc != BT_OK) return NULL;
  bt_view v;
  c->rc = bt_slice_view(s, &v);
  if (c->rc == BT_OK) {
    c->origin0 = v.origin[0];
    double *d = v.data;
    for (int64_t i = 0; i < v.shape[0]; i++)
      for (int64_t j = 0; j < v.shape[1]; j++) d[i * v.strides[0] + j] *= 2;
  }
  BT_CHECK_OK(bt_send(c->out, &s));
  return NULL;
}

BT_TEST(slice_through_channel) {
  bt_array *a = make2d(NULL, 6, 5);
  fill_index(a);
  bt_array *s = NULL;
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{1, 5}, {1, 3}}, &s));
  bt_slice sl, back, probe;
  BT_CHECK_OK(bt_array_own(s, (bt_range[]){{2, 4}, {0, 2}}, 0, &sl));
  peer c = {0};
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 1, &c.in));
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 1, &c.out));
  pthread_t t;
  bt_test_spawn(&t, scale_thread, &c);
  BT_CHECK_OK(bt_send(c.in, &sl));
  bt_view v;
  BT_CHECK_STATUS(bt_slice_view(sl, &v), BT_EMOVED);
  BT_CHECK_OK(bt_recv(c.out, &back));
  bt_test_join(t);
  BT_CHECK_OK(c.rc);
  BT_CHECK_EQ(c.origin0, 2);
  /* Still locked in the parent while held. */
  BT_CHECK_STATUS(bt_array_borrow(a, (bt_range[]){{3, 4}, {1, 2}}, 0, &probe),
                  BT_EBUSY);
  BT_CHECK_OK(bt_slice_release(back));
  for (int64_t i = 0; i < 6; i++)
    for (int64_t j = 0; j < 5; j++) {
      int in = i >= 3 && i < 5 && j >= 1 && j < 3;
      BT_CHECK_EQ(at(a, i, j), (double)(100 * i + j) * (in ? 2 : 1));
    }
  /* A slice of a sub-array left in a channel is dropped with it, and keeps
   * sub-array and parent alive until then. */
  BT_CHECK_OK(bt_array_own(s, NULL, 0, &sl));
  BT_CHECK_OK(bt_send(c.in, &sl));
  BT_CHECK_OK(bt_array_release(s));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_chan_release(c.in)); /* frees sub-array and parent */
  BT_CHECK_OK(bt_chan_release(c.out));
}

/* Parent released before the sub-array, sub-array before its slices: the
 * memory lives until the last of them (ASan checks the frees). */
BT_TEST(release_order) {
  bt_array *a = make2d(NULL, 4, 4);
  fill_index(a);
  bt_array *s = NULL, *ss = NULL;
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{1, 4}, {1, 4}}, &s));
  BT_CHECK_OK(bt_array_sub(s, (bt_range[]){{1, 3}, {0, 2}}, &ss));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_array_release(s));
  BT_CHECK_EQ(at(ss, 0, 0), 201);
  bt_slice sl;
  BT_CHECK_OK(bt_array_own(ss, NULL, 0, &sl));
  BT_CHECK_OK(bt_array_release(ss)); /* the slice keeps all three */
  bt_view v;
  BT_CHECK_OK(bt_slice_view(sl, &v));
  BT_CHECK_EQ(((double *)v.data)[v.strides[0] + 1], 302);
  BT_CHECK_OK(bt_slice_release(sl)); /* frees ss, s, a */

  /* The other order: sub-array first, the parent still works. */
  a = make2d(NULL, 4, 4);
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{0, 2}, {0, 4}}, &s));
  BT_CHECK_OK(bt_array_own(s, NULL, 0, &sl));
  BT_CHECK_OK(bt_array_release(s));
  BT_CHECK_OK(bt_slice_release(sl));
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &sl));
  BT_CHECK_OK(bt_slice_release(sl));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(bad_input) {
  bt_array *a = make2d(NULL, 4, 6);
  bt_array *s = (bt_array *)&s, *keep = s;
  struct {
    bt_range region[2];
    const char *what;
  } bad[] = {
      {{{-1, 2}, {0, 6}}, "negative start"},
      {{{0, 5}, {0, 6}}, "stop past the extent"},
      {{{2, 2}, {0, 6}}, "empty on axis 0"},
      {{{0, 4}, {3, 2}}, "reversed on axis 1"},
      {{{0, 4}, {0, 7}}, "stop past the extent of axis 1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    BT_CHECK_STATUS(bt_array_sub(a, bad[i].region, &s), BT_EINVAL);
    BT_CHECK(strstr(bt_errmsg(), "bt_array_sub") != NULL);
    BT_CHECK_PTR_EQ(s, keep); /* output untouched */
  }
  BT_CHECK_STATUS(bt_array_sub(NULL, NULL, &s), BT_EINVAL);
  /* Not an array (the magic is checked in every build). */
  static _Alignas(64) unsigned char forged[4096];
  BT_CHECK_STATUS(bt_array_sub((bt_array *)forged, NULL, &s), BT_EINVAL);
  BT_CHECK_STATUS(bt_array_sub(a, NULL, NULL), BT_EINVAL);
  BT_CHECK_PTR_EQ(s, keep);

  /* A sub-array of a sub-array is checked against its own extents. */
  bt_array *sub = NULL;
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{1, 3}, {1, 5}}, &sub));
  BT_CHECK_STATUS(bt_array_sub(sub, (bt_range[]){{0, 3}, {0, 4}}, &s),
                  BT_EINVAL);
  bt_slice sl;
  BT_CHECK_STATUS(bt_array_own(sub, (bt_range[]){{0, 2}, {0, 5}}, 0, &sl),
                  BT_EINVAL);
  /* Freezing goes through the parent, whose table the sub-array shares. */
  BT_CHECK_STATUS(bt_array_freeze(sub), BT_ENOTSUP);
  BT_CHECK_OK(bt_array_freeze(a));
  BT_CHECK_STATUS(bt_array_own(sub, NULL, 0, &sl), BT_EFROZEN);
  BT_CHECK_OK(bt_array_borrow(sub, NULL, 0, &sl));
  BT_CHECK_OK(bt_slice_release(sl));
  BT_CHECK_OK(bt_array_release(sub));

  /* An array with an empty axis has no sub-array. */
  int64_t shape[2] = {0, 3};
  bt_array *empty = NULL;
  BT_CHECK_OK(bt_array_create(NULL, BT_F64, 2, shape, BT_PLACE_LOCAL, &empty));
  BT_CHECK_STATUS(bt_array_sub(empty, NULL, &s), BT_EINVAL);
  BT_CHECK_OK(bt_array_release(empty));
  BT_CHECK_OK(bt_array_release(a));
}

/* The kernels that refuse a written array passed again as a read one refuse
 * a sub-array sharing elements with it too (BT_EINVAL, not a lock
 * conflict), and accept disjoint sub-arrays of one parent. */
BT_TEST(kernels_refuse_overlapping_subarrays) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 2;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  int64_t shape[2] = {8, 8};
  bt_array *a = NULL, *top = NULL, *mid = NULL, *bottom = NULL, *top2 = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_LOCAL, &a));
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{0, 4}, {0, 4}}, &top));
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{2, 6}, {2, 6}}, &mid));
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{4, 8}, {4, 8}}, &bottom));
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{0, 4}, {0, 4}}, &top2));
  BT_CHECK_STATUS(bt_axpy(rt, 1, top, mid), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "shares elements") != NULL);
  BT_CHECK_STATUS(bt_axpy(rt, 1, top, top2), BT_EINVAL);
  BT_CHECK_STATUS(bt_nstream(rt, mid, bottom, top, 1), BT_EINVAL);
  BT_CHECK_STATUS(bt_stencil(rt, 1, mid, bottom), BT_EINVAL);
  BT_CHECK_STATUS(bt_transpose(rt, top, mid), BT_EINVAL);
  if (bt__have_blas())
    BT_CHECK_STATUS(bt_gemm(rt, 1, top, bottom, 0, mid), BT_EINVAL);
  /* Disjoint regions of one parent are independent operands. */
  BT_CHECK_OK(bt_fill(rt, top, 2));
  BT_CHECK_OK(bt_axpy(rt, 3, top, bottom));
  BT_CHECK_OK(bt_transpose(rt, top, bottom));
  double sum = 0;
  BT_CHECK_OK(bt_sum(rt, bottom, &sum));
  BT_CHECK_EQ(sum, 16 * (3 * 2 + 2));
  BT_CHECK_OK(bt_sum(rt, a, &sum));
  BT_CHECK_EQ(sum, 16 * 2 + 16 * 8);
  bt_array *arrays[] = {top, mid, bottom, top2, a};
  for (int i = 0; i < 5; i++) BT_CHECK_OK(bt_array_release(arrays[i]));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}
