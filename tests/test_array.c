/* SPDX-License-Identifier: BSD-3-Clause */
/* test_array.c: arrays, the region lock table, freezing and placement. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "array_int.h"
#include "test.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static bt_array *make2d(int64_t rows, int64_t cols) {
  int64_t shape[2] = {rows, cols};
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(NULL, BT_F64, 2, shape, BT_PLACE_LOCAL, &a));
  return a;
}

/* Give a slice to another thread the way a channel does. */
static void give(bt_slice *s) {
  BT_CHECK_OK(bt_type_slice.on_send(s, BT_CHECKED));
}
static void adopt(bt_slice *s) {
  bt_type_slice.on_recv(s);
}

BT_TEST(create_dtypes_and_shapes) {
  const bt_dtype types[] = {BT_F64, BT_F32, BT_I64, BT_I32, BT_U8};
  long page = sysconf(_SC_PAGESIZE);
  for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
    for (int ndim = 1; ndim <= BT_MAX_DIMS; ndim++) {
      int64_t shape[BT_MAX_DIMS];
      for (int d = 0; d < ndim; d++) shape[d] = d % 2 ? 2 : 3;
      bt_array *a = NULL;
      BT_CHECK_OK(
          bt_array_create(NULL, types[t], ndim, shape, BT_PLACE_LOCAL, &a));
      BT_CHECK_EQ(bt_array_ndim(a), ndim);
      BT_CHECK_EQ(bt_array_dtype(a), types[t]);
      int64_t got[BT_MAX_DIMS];
      bt_array_shape(a, got);
      for (int d = 0; d < ndim; d++) BT_CHECK_EQ(got[d], shape[d]);
      BT_CHECK(bt_array_runtime(a) == NULL);
      bt_slice s;
      BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
      bt_view v;
      BT_CHECK_OK(bt_slice_view(s, &v));
      BT_CHECK_EQ((uintptr_t)v.data % (uintptr_t)page, 0);
      BT_CHECK_EQ(v.ndim, ndim);
      BT_CHECK_EQ(v.dtype, types[t]);
      BT_CHECK_EQ(v.writable, 1);
      int64_t stride = 1, n = 1;
      for (int d = ndim - 1; d >= 0; d--) {
        BT_CHECK_EQ(v.strides[d], stride);
        BT_CHECK_EQ(v.shape[d], shape[d]);
        BT_CHECK_EQ(v.origin[d], 0);
        stride *= shape[d];
      }
      n = stride;
      const unsigned char *bytes = v.data;
      for (int64_t i = 0; i < n * (int64_t)bt_dtype_size(types[t]); i++)
        BT_CHECK_EQ(bytes[i], 0);
      BT_CHECK_OK(bt_slice_release(s));
      BT_CHECK_OK(bt_array_release(a));
    }
  }
}

/* The dtype helpers answer an out-of-range dtype with 0 and a name that
 * says so, never an out-of-bounds read. */
BT_TEST(dtype_helpers) {
  static const struct {
    bt_dtype t;
    size_t size;
    const char *name;
  } known[] = {{BT_F64, 8, "f64"}, {BT_F32, 4, "f32"}, {BT_I64, 8, "i64"},
               {BT_I32, 4, "i32"}, {BT_U8, 1, "u8"}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    BT_CHECK_EQ(bt_dtype_size(known[i].t), known[i].size);
    BT_CHECK_STR(bt_dtype_name(known[i].t), known[i].name);
  }
  BT_CHECK_EQ(bt_dtype_size((bt_dtype)42), 0);
  BT_CHECK_EQ(bt_dtype_size((bt_dtype)-1), 0);
  BT_CHECK_STR(bt_dtype_name((bt_dtype)42), "invalid dtype");
  BT_CHECK_STR(bt_dtype_name((bt_dtype)-1), "invalid dtype");
}

BT_TEST(create_rejects_bad_arguments) {
  int64_t shape[BT_MAX_DIMS + 1] = {4, 4, 4, 4, 4, 4, 4, 4, 4};
  bt_array *a = (bt_array *)0x1;
  BT_CHECK_STATUS(
      bt_array_create(NULL, (bt_dtype)42, 1, shape, BT_PLACE_LOCAL, &a),
      BT_EINVAL);
  BT_CHECK_STATUS(bt_array_create(NULL, BT_F64, 0, shape, BT_PLACE_LOCAL, &a),
                  BT_EINVAL);
  BT_CHECK_STATUS(
      bt_array_create(NULL, BT_F64, BT_MAX_DIMS + 1, shape, BT_PLACE_LOCAL, &a),
      BT_EINVAL);
  BT_CHECK_STATUS(bt_array_create(NULL, BT_F64, 1, NULL, BT_PLACE_LOCAL, &a),
                  BT_EINVAL);
  int64_t negative[2] = {4, -1};
  BT_CHECK_STATUS(
      bt_array_create(NULL, BT_F64, 2, negative, BT_PLACE_LOCAL, &a),
      BT_EINVAL);
  int64_t huge[3] = {INT64_MAX / 2, INT64_MAX / 2, 8};
  BT_CHECK_STATUS(bt_array_create(NULL, BT_F64, 3, huge, BT_PLACE_LOCAL, &a),
                  BT_EINVAL);
  BT_CHECK_STATUS(bt_array_create(NULL, BT_F64, 1, shape, BT_PLACE_BLOCKS, &a),
                  BT_EINVAL); /* placement needs a runtime */
  BT_CHECK_STATUS(bt_array_create(NULL, BT_F64, 1, shape, (bt_place)9, &a),
                  BT_EINVAL);
  BT_CHECK(a == (bt_array *)0x1); /* outputs written only on success */
  BT_CHECK_OK(bt_array_release(NULL));
  bt_array_retain(NULL);
}

BT_TEST(zero_extent_array_has_no_region) {
  int64_t shape[2] = {0, 5};
  bt_array *a;
  BT_CHECK_OK(bt_array_create(NULL, BT_I32, 2, shape, BT_PLACE_LOCAL, &a));
  bt_slice s = {0};
  BT_CHECK_STATUS(bt_array_own(a, NULL, 0, &s), BT_EINVAL);
  BT_CHECK_STATUS(bt_array_borrow(a, NULL, 0, &s), BT_EINVAL);
  BT_CHECK_EQ(s.id, 0);
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(regions_invalid) {
  bt_array *a = make2d(8, 8);
  bt_slice s = {0};
  const bt_range bad[][2] = {
      {{-1, 4}, {0, 8}}, /* start < 0 */
      {{0, 9}, {0, 8}},  /* stop > extent */
      {{3, 3}, {0, 8}},  /* empty */
      {{5, 2}, {0, 8}},  /* start > stop */
      {{0, 8}, {0, 0}},  /* empty on axis 1 */
      {{0, 8}, {8, 9}},  /* outside on axis 1 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    BT_CHECK_STATUS(bt_array_own(a, bad[i], 0, &s), BT_EINVAL);
    BT_CHECK_STATUS(bt_array_borrow(a, bad[i], -1, &s), BT_EINVAL);
  }
  BT_CHECK(strstr(bt_errmsg(), "axis 1") != NULL);
  BT_CHECK_EQ(s.id, 0);
  BT_CHECK_STATUS(bt_array_own(NULL, NULL, 0, &s), BT_EINVAL);
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s)); /* nothing was left locked */
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
}

/* own/borrow against own/borrow, overlapping, disjoint and touching. */
BT_TEST(own_borrow_matrix) {
  bt_array *a = make2d(8, 8);
  const bt_range first[2] = {{0, 8}, {0, 4}};
  const bt_range overlap[2] = {{0, 4}, {2, 8}};
  const bt_range touching[2] = {{0, 8}, {4, 8}};
  for (int held_own = 0; held_own < 2; held_own++) {
    for (int want_own = 0; want_own < 2; want_own++) {
      bt_slice h, s;
      BT_CHECK_OK(held_own ? bt_array_own(a, first, 0, &h)
                           : bt_array_borrow(a, first, 0, &h));
      int rc = want_own ? bt_array_own(a, overlap, 0, &s)
                        : bt_array_borrow(a, overlap, 0, &s);
      if (held_own || want_own) {
        BT_CHECK_STATUS(rc, BT_EBUSY);
        char want[160];
        snprintf(want, sizeof want,
                 "region [0:4,2:8] overlaps region [0:8,0:4] %s by thread ",
                 held_own ? "owned" : "borrowed");
        BT_CHECK(strncmp(bt_errmsg(), want, strlen(want)) == 0);
      } else {
        BT_CHECK_OK(rc);
        bt_view v;
        BT_CHECK_OK(bt_slice_view(s, &v));
        BT_CHECK_EQ(v.writable, 0);
        BT_CHECK_OK(bt_slice_release(s));
      }
      /* Adjacent boxes share no element. */
      BT_CHECK_OK(want_own ? bt_array_own(a, touching, 0, &s)
                           : bt_array_borrow(a, touching, 0, &s));
      BT_CHECK_OK(bt__regions_check(a));
      BT_CHECK_OK(bt_slice_release(s));
      BT_CHECK_OK(bt_slice_release(h));
    }
  }
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_array_release(a));
}

typedef struct waiter {
  bt_array *a;
  bt_range region[2];
  int64_t timeout;
  int own;
  int rc;
  int64_t waited_ns;
  _Atomic int started, granted;
  bt_slice s;
} waiter;

static void *wait_thread(void *p) {
  waiter *w = p;
  atomic_store(&w->started, 1);
  int64_t t0 = now_ns();
  w->rc = w->own ? bt_array_own(w->a, w->region, w->timeout, &w->s)
                 : bt_array_borrow(w->a, w->region, w->timeout, &w->s);
  w->waited_ns = now_ns() - t0;
  atomic_store(&w->granted, 1);
  if (w->rc == BT_OK) give(&w->s); /* hand it back to the main thread */
  return NULL;
}

BT_TEST(timeout_finite) {
  bt_array *a = make2d(4, 4);
  bt_slice h;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &h));
  waiter w = {
      .a = a, .region = {{1, 2}, {1, 2}}, .timeout = 20000000, .own = 0};
  pthread_t t;
  BT_CHECK_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
  pthread_join(t, NULL);
  BT_CHECK_STATUS(w.rc, BT_ETIMEDOUT);
  BT_CHECK_CMP(w.waited_ns, >=, 20000000);
  BT_CHECK_OK(bt_slice_release(h));
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(timeout_forever_wakes_on_release) {
  bt_array *a = make2d(4, 4);
  for (int own = 0; own < 2; own++) {
    bt_slice h;
    BT_CHECK_OK(bt_array_own(a, NULL, 0, &h));
    waiter w = {.a = a, .region = {{0, 4}, {2, 3}}, .timeout = -1, .own = own};
    pthread_t t;
    BT_CHECK_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
    while (!atomic_load(&w.started)) sleep_ms(1);
    sleep_ms(20);
    BT_CHECK_EQ(atomic_load(&w.granted), 0);
    BT_CHECK_OK(bt_slice_release(h));
    pthread_join(t, NULL);
    BT_CHECK_OK(w.rc);
    adopt(&w.s);
    BT_CHECK_OK(bt_slice_release(w.s));
  }
  BT_CHECK_OK(bt_array_release(a));
}

typedef struct part_job {
  bt_slice s;
  double value;
  int delay_ms;
} part_job;

static void *work_part(void *p) {
  part_job *j = p;
  adopt(&j->s);
  sleep_ms(j->delay_ms);
  bt_view v;
  BT_CHECK_OK(bt_slice_view(j->s, &v));
  double *x = v.data;
  for (int64_t i = 0; i < v.shape[0]; i++)
    for (int64_t k = 0; k < v.shape[1]; k++) x[i * v.strides[0] + k] = j->value;
  BT_CHECK_OK(bt_slice_release(j->s));
  return NULL;
}

/* Split, send the parts out, own the whole with -1: that is the join. */
BT_TEST(join_by_owning_whole) {
  enum { PARTS = 4 };
  bt_array *a = make2d(10, 3);
  bt_slice whole, parts[PARTS];
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &whole));
  BT_CHECK_OK(bt_slice_split(whole, 0, PARTS, parts));
  pthread_t t[PARTS];
  part_job jobs[PARTS];
  for (int i = 0; i < PARTS; i++) {
    jobs[i] = (part_job){parts[i], (double)(i + 1), 5 * i};
    give(&jobs[i].s);
    BT_CHECK_EQ(pthread_create(&t[i], NULL, work_part, &jobs[i]), 0);
  }
  BT_CHECK_STATUS(bt_array_own(a, NULL, 0, &whole), BT_EBUSY);
  BT_CHECK_OK(bt_array_own(a, NULL, -1, &whole));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(whole, &v));
  const double *x = v.data;
  const int rows[PARTS] = {3, 3, 2, 2};
  int64_t r = 0;
  for (int i = 0; i < PARTS; i++)
    for (int k = 0; k < rows[i]; k++, r++)
      for (int c = 0; c < 3; c++) BT_CHECK_EQ(x[r * 3 + c], i + 1);
  for (int i = 0; i < PARTS; i++) pthread_join(t[i], NULL);
  BT_CHECK_OK(bt_slice_release(whole));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(wrap_with_strides) {
  /* A 3x4 column-major matrix inside a larger buffer, leading dimension 5. */
  double buf[5 * 4 + 1];
  for (int i = 0; i < 21; i++) buf[i] = -1;
  int64_t shape[2] = {3, 4}, strides[2] = {1, 5};
  bt_array *a;
  BT_CHECK_OK(bt_array_wrap(NULL, buf, BT_F64, 2, shape, strides, &a));
  bt_range region[2] = {{1, 3}, {2, 4}};
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, region, 0, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  BT_CHECK_PTR_EQ(v.data, &buf[1 + 2 * 5]);
  BT_CHECK_EQ(v.strides[0], 1);
  BT_CHECK_EQ(v.strides[1], 5);
  BT_CHECK_EQ(v.shape[0], 2);
  BT_CHECK_EQ(v.shape[1], 2);
  double *x = v.data;
  for (int i = 0; i < 2; i++)
    for (int k = 0; k < 2; k++)
      x[i * v.strides[0] + k * v.strides[1]] = 10 * i + k;
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a)); /* never frees the user's memory */
  BT_CHECK_EQ(buf[11], 0);
  BT_CHECK_EQ(buf[12], 10);
  BT_CHECK_EQ(buf[16], 1);
  BT_CHECK_EQ(buf[17], 11);
  BT_CHECK_EQ(buf[0], -1);
  /* Row-major without strides. */
  int32_t small[6] = {0, 1, 2, 3, 4, 5};
  int64_t shape2[2] = {2, 3};
  BT_CHECK_OK(bt_array_wrap(NULL, small, BT_I32, 2, shape2, NULL, &a));
  BT_CHECK_OK(bt_array_borrow(a, (bt_range[]){{1, 2}, {1, 3}}, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  BT_CHECK_PTR_EQ(v.data, &small[4]);
  BT_CHECK_EQ(v.strides[0], 3);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_STATUS(bt_array_wrap(NULL, NULL, BT_I32, 2, shape2, NULL, &a),
                  BT_EINVAL);
}

BT_TEST(freeze) {
  bt_array *a = make2d(4, 4);
  bt_slice s, b;
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{0, 1}, {0, 1}}, 0, &s));
  BT_CHECK_STATUS(bt_array_freeze(a), BT_EBUSY);
  BT_CHECK(strstr(bt_errmsg(), "[0:1,0:1]") != NULL);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &b)); /* borrows do not block it */
  BT_CHECK_OK(bt_array_freeze(a));
  BT_CHECK_STATUS(bt_array_own(a, (bt_range[]){{2, 3}, {0, 1}}, 0, &s),
                  BT_EFROZEN);
  BT_CHECK_STATUS(bt_array_own(a, NULL, -1, &s), BT_EFROZEN);
  bt_slice b2;
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &b2));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(b2, &v));
  BT_CHECK_EQ(v.writable, 0);
  BT_CHECK_OK(bt_slice_release(b2));
  BT_CHECK_OK(bt_slice_release(b));
  BT_CHECK_OK(bt_array_freeze(a)); /* again: still frozen, fine */
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_array_release(a));
}

/* An owner waiting with -1 learns at once when the array is frozen. */
BT_TEST(freeze_wakes_waiting_owner) {
  bt_array *a = make2d(4, 4);
  bt_slice b;
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &b));
  waiter w = {.a = a, .region = {{0, 4}, {0, 4}}, .timeout = -1, .own = 1};
  pthread_t t;
  BT_CHECK_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
  while (!atomic_load(&w.started)) sleep_ms(1);
  sleep_ms(10);
  BT_CHECK_OK(bt_array_freeze(a));
  pthread_join(t, NULL);
  BT_CHECK_STATUS(w.rc, BT_EFROZEN);
  BT_CHECK_OK(bt_slice_release(b));
  BT_CHECK_OK(bt_array_release(a));
}

/* The array lives until its last slice is released. ASan checks the rest. */
BT_TEST(array_lives_until_last_slice) {
  bt_array *a = make2d(16, 16);
  bt_slice s, parts[3];
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_array_release(a)); /* the caller's reference is gone */
  BT_CHECK_OK(bt_slice_split(s, 1, 3, parts));
  BT_CHECK_PTR_EQ(bt_slice_array(parts[0]), a);
  for (int i = 0; i < 3; i++) {
    bt_view v;
    BT_CHECK_OK(bt_slice_view(parts[i], &v));
    double *x = v.data;
    for (int64_t r = 0; r < v.shape[0]; r++)
      for (int64_t c = 0; c < v.shape[1]; c++) x[r * v.strides[0] + c] = 1;
    BT_CHECK_OK(bt__regions_check(a));
    BT_CHECK_OK(bt_slice_release(parts[i])); /* the last one frees it */
  }
}

BT_TEST(debug_checks_keep_table_consistent) {
  setenv("BATON_DEBUG_CHECK", "1", 1);
  bt_array *a = make2d(32, 32);
  bt_slice s[64];
  int n = 0;
  for (int i = 0; i < 32; i += 4)
    for (int k = 0; k < 32; k += 4)
      BT_CHECK_OK(
          bt_array_own(a, (bt_range[]){{i, i + 4}, {k, k + 4}}, 0, &s[n++]));
  BT_CHECK_EQ(n, 64);
  BT_CHECK_OK(bt__regions_check(a));
  for (int i = 0; i < n; i += 2) BT_CHECK_OK(bt_slice_release(s[i]));
  BT_CHECK_OK(bt__regions_check(a));
  for (int i = 1; i < n; i += 2) BT_CHECK_OK(bt_slice_release(s[i]));
  BT_CHECK_OK(bt__regions_check(a));
  BT_CHECK_OK(bt_array_release(a));
}

/* ---- placement ---------------------------------------------------------- */

BT_TEST_TOPO(blocks_plan_on_synthetic_topology) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.topology = "pack:2 numa:2 core:2 pu:1";
  opt.bind = BT_BIND_CORE;
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  int workers = bt_runtime_workers(rt);
  BT_CHECK_EQ(workers, 8);
  BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 4);
  int64_t shape[2] = {19, 5};
  bt_array *a;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &a));
  BT_CHECK_EQ(bt__array_place(a), BT_PLACE_BLOCKS);
  BT_CHECK_EQ(bt__array_blocks(a), workers);
  const int64_t starts[9] = {0, 3, 6, 9, 11, 13, 15, 17, 19};
  for (int i = 0; i < workers; i++) {
    bt__block b;
    BT_CHECK_OK(bt__array_block(a, i, &b));
    BT_CHECK_EQ(b.start, starts[i]);
    BT_CHECK_EQ(b.stop, starts[i + 1]);
    BT_CHECK_EQ(b.worker, i);
    BT_CHECK_EQ(b.numa, bt_worker_numa(rt, i));
    BT_CHECK_EQ(b.numa, i / 2); /* workers fill nodes in order */
  }
  bt__block b;
  BT_CHECK_STATUS(bt__array_block(a, workers, &b), BT_EINVAL);
  /* Another machine: no page location known, no page moved. */
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  BT_CHECK_EQ(v.numa, -1);
  BT_CHECK_STATUS(bt_slice_migrate(s, 1), BT_ENOTSUP);
  BT_CHECK_STATUS(bt_slice_migrate(s, 4), BT_EINVAL);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
  /* Interleave on another machine: planned, never bound here. */
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_INTERLEAVE, &a));
  BT_CHECK_EQ(bt__array_blocks(a), 0);
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(blocks_first_touched_by_their_workers) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 4; /* more than the cores of CI: oversubscribed is fine */
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  long page = sysconf(_SC_PAGESIZE);
  int64_t shape[2] = {4 * 8, page / 8 * 2}; /* 2 pages a row, 8 rows a block */
  bt_array *a;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &a));
  BT_CHECK_EQ(bt__array_blocks(a), 4);
  bt_slice s, parts[4];
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_split(s, 0, 4, parts));
  for (int i = 0; i < 4; i++) {
    bt__block b;
    BT_CHECK_OK(bt__array_block(a, i, &b));
    BT_CHECK_EQ(b.toucher, i); /* its own worker wrote its pages first */
    BT_CHECK_EQ(b.start, 8 * i);
    bt_view v;
    BT_CHECK_OK(bt_slice_view(parts[i], &v));
    BT_CHECK_EQ(v.origin[0], b.start);
    /* -1 where the kernel does not say (no NUMA support); else the node of
     * the worker that touched it. */
    BT_CHECK(v.numa == -1 || v.numa == bt_worker_numa(rt, i));
    const double *x = v.data;
    for (int64_t r = 0; r < v.shape[0]; r++)
      for (int64_t c = 0; c < v.shape[1]; c++)
        BT_CHECK_EQ(x[r * v.strides[0] + c], 0);
    int rc = bt_slice_migrate(parts[i], 0);
    BT_CHECK(rc == BT_OK || rc == BT_ENOTSUP);
    BT_CHECK_OK(bt_slice_release(parts[i]));
  }
  BT_CHECK_OK(bt_array_release(a));
  /* Wrapped memory: the node comes from the kernel (move_pages query). */
  {
    double *mem = malloc(sizeof *mem * 4096);
    BT_CHECK(mem != NULL);
    for (int i = 0; i < 4096; i++) mem[i] = i;
    int64_t wshape[1] = {4096};
    BT_CHECK_OK(bt_array_wrap(rt, mem, BT_F64, 1, wshape, NULL, &a));
    BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &s));
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    BT_CHECK(v.numa == -1 ||
             (v.numa >= 0 && v.numa < bt_runtime_numa_nodes(rt)));
    if (bt_runtime_numa_nodes(rt) == 1) BT_CHECK(v.numa == -1 || v.numa == 0);
    BT_CHECK_STATUS(bt_slice_migrate(s, 0), BT_ENOTSUP); /* the user's */
    BT_CHECK_OK(bt_slice_release(s));
    BT_CHECK_OK(bt_array_release(a));
    free(mem);
  }
  /* Interleave and local on this machine. */
  const bt_place places[2] = {BT_PLACE_INTERLEAVE, BT_PLACE_LOCAL};
  for (int p = 0; p < 2; p++) {
    BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, places[p], &a));
    BT_CHECK_EQ(bt__array_blocks(a), 0);
    BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    BT_CHECK(v.numa >= -1 && v.numa < bt_runtime_numa_nodes(rt));
    BT_CHECK_EQ(((double *)v.data)[v.shape[0] * v.shape[1] - 1], 0);
    BT_CHECK_OK(bt_slice_release(s));
    BT_CHECK_OK(bt_array_release(a));
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* More rows than workers is the common case; fewer gives empty blocks. */
BT_TEST(blocks_with_fewer_rows_than_workers) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 3;
  opt.bind = BT_BIND_NONE;
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  int64_t shape[1] = {2};
  bt_array *a;
  BT_CHECK_OK(bt_array_create(rt, BT_I64, 1, shape, BT_PLACE_BLOCKS, &a));
  bt__block b;
  BT_CHECK_OK(bt__array_block(a, 2, &b));
  BT_CHECK_EQ(b.start, 2);
  BT_CHECK_EQ(b.stop, 2);
  BT_CHECK_OK(bt__array_block(a, 0, &b));
  BT_CHECK_EQ(b.toucher, 0);
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}
