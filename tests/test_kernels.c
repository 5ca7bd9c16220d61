/* SPDX-License-Identifier: BSD-3-Clause */
/* test_kernels.c: every kernel against a serial reference, on shapes that
 * do not divide among the workers, with more workers than cores (5) and with
 * one; reductions bit-identical run to run; every misuse code. */
#include <pthread.h>
#include <stdint.h>

#include "kernels_int.h"
#include "arrays.h"
#include "test.h"

/* ---- helpers --------------------------------------------------------------
 */

static const int worker_counts[] = {1, 2, 5};
enum { NCOUNTS = sizeof worker_counts / sizeof worker_counts[0] };

static bt_array *make_array(bt_runtime *rt, bt_dtype t, int ndim,
                            const int64_t *shape) {
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(rt, t, ndim, shape, BT_PLACE_BLOCKS, &a));
  return a;
}

static bt_array *make2(bt_runtime *rt, int64_t rows, int64_t cols) {
  int64_t shape[2] = {rows, cols};
  return make_array(rt, BT_F64, 2, shape);
}

/* An array of the shape filled with random values; its values in *vals. */
static bt_array *random_array(bt_runtime *rt, int ndim, const int64_t *shape,
                              double **vals) {
  bt_array *a = make_array(rt, BT_F64, ndim, shape);
  *vals = bt_test_random_values(bt_test_elements(a));
  bt_test_put(a, *vals);
  return a;
}

static void check_equal(const double *got, const double *want, int64_t n,
                        double rel_tol) {
  for (int64_t i = 0; i < n; i++) {
    double tol = rel_tol * (fabs(want[i]) + 1.0);
    if (!(fabs(got[i] - want[i]) <= tol))
      bt_test_fail(__FILE__, __LINE__,
                   "element %lld: got %.17g, want %.17g (tol %g)", (long long)i,
                   got[i], want[i], tol);
  }
}

/* The array's elements in row-major order against want. The copy starts
 * as NaNs, so an element bt_test_get() missed fails too. */
static void check_array(bt_array *a, const double *want, double rel_tol) {
  int64_t n = bt_test_elements(a);
  double *got = malloc(sizeof *got * (size_t)(n ? n : 1));
  BT_CHECK(got != NULL);
  for (int64_t i = 0; i < n; i++) got[i] = NAN;
  bt_test_get(a, got);
  check_equal(got, want, n, rel_tol);
  free(got);
}

static int same_bits(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- bt_parallel_slices ----------------------------------------------------
 */

typedef struct visit_ctx {
  int axis, writable;
  _Atomic int calls;
  int64_t origin[16], extent[16]; /* per worker */
  int self_ok[16];   /* run on a worker, or on the calling thread */
  int by_caller[16]; /* run on the calling thread (bt_self() == -1) */
  int ran_self[16];  /* bt_self() of the thread that ran it */
  pthread_t thread[16];
} visit_ctx;

static int visit(bt_slice part, int worker, void *ctx) {
  visit_ctx *vc = ctx;
  bt_view v;
  int rc = bt_slice_view(part, &v);
  if (rc != BT_OK) return rc;
  atomic_fetch_add(&vc->calls, 1);
  vc->origin[worker] = v.origin[vc->axis];
  vc->extent[worker] = v.shape[vc->axis];
  vc->by_caller[worker] = bt_self() == -1;
  vc->ran_self[worker] = bt_self();
  vc->thread[worker] = pthread_self();
  vc->self_ok[worker] =
      bt_self() >= -1 && bt_self() < 16 && v.writable == vc->writable;
  if (vc->writable) {
    int64_t total = 1;
    for (int d = 0; d < v.ndim; d++) total *= v.shape[d];
    double *marks = malloc(sizeof *marks * (size_t)(total ? total : 1));
    if (!marks) return BT_ENOMEM;
    bt_test_copy_view(&v, marks, 0);
    for (int64_t e = 0; e < total; e++) marks[e] += worker + 1;
    bt_test_copy_view(&v, marks, 1);
    free(marks);
  }
  return BT_OK;
}

BT_TEST(parallel_slices_partition) {
  for (int c = 0; c < NCOUNTS; c++) {
    int w = worker_counts[c];
    bt_runtime *rt = bt_test_runtime(w);
    for (int axis = 0; axis < 2; axis++) {
      bt_array *a = make2(rt, 37, 53);
      int64_t extent = axis == 0 ? 37 : 53;
      visit_ctx vc = {.axis = axis, .writable = 1};
      BT_CHECK_OK(bt_parallel_slices(rt, a, axis, 1, visit, &vc));
      BT_CHECK_EQ(atomic_load(&vc.calls), w);
      double *vals = malloc(sizeof *vals * 37 * 53);
      bt_test_get(a, vals);
      for (int i = 0; i < w; i++) {
        /* part i is the balanced block i, run once: on worker i, or on
         * whichever thread claimed it when worker i was late (another
         * worker or the calling thread) */
        BT_CHECK(vc.self_ok[i]);
        if (vc.by_caller[i])
          BT_CHECK(pthread_equal(vc.thread[i], pthread_self()));
        BT_CHECK_EQ(vc.origin[i], bt__part_start(extent, w, i));
        BT_CHECK_EQ(vc.extent[i], bt__part_start(extent, w, i + 1) -
                                      bt__part_start(extent, w, i));
        if (axis == 0) { /* the very block worker i first touched */
          bt__block blk;
          BT_CHECK_EQ(bt__array_blocks(a), w);
          BT_CHECK_OK(bt__array_block(a, i, &blk));
          BT_CHECK_EQ(blk.worker, i);
          BT_CHECK_EQ(blk.start, vc.origin[i]);
          BT_CHECK_EQ(blk.stop, vc.origin[i] + vc.extent[i]);
        }
      }
      for (int64_t r = 0; r < 37; r++)
        for (int64_t col = 0; col < 53; col++) {
          int64_t at = axis == 0 ? r : col;
          int owner = 0;
          while (bt__part_start(extent, w, owner + 1) <= at) owner++;
          BT_CHECK_EQ(vals[r * 53 + col], owner + 1); /* exactly once */
        }
      free(vals);
      /* borrowed: read-only views, the array still free afterwards */
      visit_ctx rd = {.axis = axis, .writable = 0};
      BT_CHECK_OK(bt_parallel_slices(rt, a, axis, 0, visit, &rd));
      for (int i = 0; i < w; i++) BT_CHECK(rd.self_ok[i]);
      BT_CHECK_OK(bt__regions_check(a));
      bt_array_release(a);
    }
    bt_runtime_destroy(rt);
  }
}

BT_TEST(parallel_slices_more_workers_than_rows) {
  bt_runtime *rt = bt_test_runtime(5);
  bt_array *a = make2(rt, 3, 4);
  visit_ctx vc = {.axis = 0, .writable = 1};
  BT_CHECK_OK(bt_parallel_slices(rt, a, 0, 1, visit, &vc));
  BT_CHECK_EQ(atomic_load(&vc.calls), 3);
  double vals[12];
  bt_test_get(a, vals);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) BT_CHECK_EQ(vals[r * 4 + c], r + 1);
  /* an extent of zero runs nothing and succeeds */
  bt_array *empty = make2(rt, 0, 4);
  visit_ctx ve = {.axis = 0, .writable = 1};
  BT_CHECK_OK(bt_parallel_slices(rt, empty, 0, 1, visit, &ve));
  BT_CHECK_EQ(atomic_load(&ve.calls), 0);
  bt_array_release(empty);
  bt_array_release(a);
  bt_runtime_destroy(rt);
}

static int fail_some(bt_slice part, int worker, void *ctx) {
  (void)part, (void)ctx;
  if (worker == 1) return bt__fail(BT_EINVAL, "part 1 fails");
  if (worker == 3) return bt__fail(BT_ENOMEM, "part 3 fails");
  return BT_OK;
}

static int fail_bare(bt_slice part, int worker, void *ctx) {
  (void)part, (void)ctx;
  if (worker == 0) (void)bt__fail(BT_ENOMEM, "stale");
  return worker == 2 ? BT_ETIMEDOUT : BT_OK;
}

BT_TEST(parallel_slices_first_error) {
  bt_runtime *rt = bt_test_runtime(5);
  bt_array *a = make2(rt, 37, 53);
  for (int rep = 0; rep < 10; rep++) {
    BT_CHECK_STATUS(bt_parallel_slices(rt, a, 0, 1, fail_some, NULL),
                    BT_EINVAL);
    /* the sentence comes from the worker that failed */
    BT_CHECK(strstr(bt_errmsg(), "part 1 fails") != NULL);
  }
  /* a body that returns a bare code gets a sentence naming the part */
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, 0, 1, fail_bare, NULL),
                  BT_ETIMEDOUT);
  BT_CHECK(strstr(bt_errmsg(), "part 2") != NULL);
  /* every part was released: the whole array can be owned again */
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt__regions_check(a));
  bt_array_release(a);
  bt_runtime_destroy(rt);
}

static int release_part(bt_slice part, int worker, void *ctx) {
  (void)worker, (void)ctx;
  return bt_slice_release(part); /* misuse: the body must not release */
}

BT_TEST(parallel_slices_body_releases_its_part) {
  bt_runtime *rt = bt_test_runtime(2);
  bt_array *a = make2(rt, 8, 8);
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, 0, 1, release_part, NULL),
                  BT_EMOVED);
  BT_CHECK(strstr(bt_errmsg(), "released or sent") != NULL);
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_release(s));
  bt_array_release(a);
  bt_runtime_destroy(rt);
}

BT_TEST(parallel_slices_busy) {
  bt_runtime *rt = bt_test_runtime(2);
  bt_array *a = make2(rt, 37, 53);
  bt_range rows[2] = {{3, 4}, {0, 53}};
  bt_slice held;
  visit_ctx vc = {.axis = 0, .writable = 1};
  BT_CHECK_OK(bt_array_own(a, rows, 0, &held));
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, 0, 1, visit, &vc), BT_EBUSY);
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, 0, 0, visit, &vc), BT_EBUSY);
  BT_CHECK_EQ(atomic_load(&vc.calls), 0);
  BT_CHECK_OK(bt_slice_release(held));
  /* a borrow coexists with borrowed parts, not with owned ones */
  BT_CHECK_OK(bt_array_borrow(a, rows, 0, &held));
  visit_ctx rd = {.axis = 0, .writable = 0};
  BT_CHECK_OK(bt_parallel_slices(rt, a, 0, 0, visit, &rd));
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, 0, 1, visit, &vc), BT_EBUSY);
  BT_CHECK_OK(bt_slice_release(held));
  BT_CHECK_OK(bt_parallel_slices(rt, a, 0, 1, visit, &vc));
  BT_CHECK_OK(bt__regions_check(a));
  bt_array_release(a);
  bt_runtime_destroy(rt);
}

typedef struct nested_ctx {
  bt_runtime *rt;
  bt_array *other[16]; /* one per outer part */
  int rc[16], kernel_rc[16], sum_rc[16], self[16];
  double sum[16];
  visit_ctx vc[16];
} nested_ctx;

/* Runs on a worker (or the caller): kernels called from there run their
 * own part there and the rest on the other workers. */
static int nested(bt_slice part, int worker, void *ctx) {
  (void)part;
  nested_ctx *nc = ctx;
  nc->self[worker] = bt_self();
  nc->vc[worker] = (visit_ctx){.axis = 0, .writable = 1};
  nc->rc[worker] = bt_parallel_slices(nc->rt, nc->other[worker], 0, 1, visit,
                                      &nc->vc[worker]);
  nc->kernel_rc[worker] = bt_fill(nc->rt, nc->other[worker], 1.5);
  nc->sum_rc[worker] = bt_sum(nc->rt, nc->other[worker], &nc->sum[worker]);
  return BT_OK;
}

BT_TEST(parallel_slices_from_a_worker) {
  for (int c = 0; c < NCOUNTS; c++) {
    int w = worker_counts[c];
    bt_runtime *rt = bt_test_runtime(w);
    bt_array *a = make2(rt, w, 4);
    nested_ctx nc = {.rt = rt};
    for (int i = 0; i < w; i++) nc.other[i] = make2(rt, 7, 3);
    for (int rep = 0; rep < 20; rep++) {
      BT_CHECK_OK(bt_parallel_slices(rt, a, 0, 1, nested, &nc));
      for (int i = 0; i < w; i++) {
        BT_CHECK_OK(nc.rc[i]);
        BT_CHECK_OK(nc.kernel_rc[i]);
        BT_CHECK_OK(nc.sum_rc[i]);
        BT_CHECK_EQ(nc.sum[i], 1.5 * 7 * 3);
        /* every inner part ran once, on its worker or on the worker that
         * called the inner kernel (or the outer caller) */
        BT_CHECK_EQ(atomic_load(&nc.vc[i].calls), w);
        for (int j = 0; j < w; j++)
          BT_CHECK(nc.vc[i].ran_self[j] == j ||
                   nc.vc[i].ran_self[j] == nc.self[i]);
        /* the worker that called ran its own inner part itself */
        if (nc.self[i] >= 0)
          BT_CHECK_EQ(nc.vc[i].ran_self[nc.self[i]], nc.self[i]);
      }
    }
    /* nothing stays locked */
    for (int i = 0; i < w; i++) {
      BT_CHECK_OK(bt__regions_check(nc.other[i]));
      BT_CHECK_OK(bt_fill(rt, nc.other[i], 2.0));
      bt_array_release(nc.other[i]);
    }
    bt_array_release(a);
    bt_runtime_destroy(rt);
  }
}

BT_TEST(parallel_slices_bad_arguments) {
  bt_runtime *rt = bt_test_runtime(2);
  bt_array *a = make2(rt, 4, 4);
  visit_ctx vc = {.axis = 0, .writable = 1};
  BT_CHECK_STATUS(bt_parallel_slices(NULL, a, 0, 1, visit, &vc), BT_EINVAL);
  BT_CHECK_STATUS(bt_parallel_slices(rt, NULL, 0, 1, visit, &vc), BT_EINVAL);
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, 0, 1, NULL, &vc), BT_EINVAL);
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, -1, 1, visit, &vc), BT_EINVAL);
  BT_CHECK_STATUS(bt_parallel_slices(rt, a, 2, 1, visit, &vc), BT_EINVAL);
  BT_CHECK_EQ(atomic_load(&vc.calls), 0);
  bt_array_release(a);
  bt_runtime_destroy(rt);
}

/* ---- element-wise kernels
 * ---------------------------------------------------- */

/* Shapes that do not divide among 2 or 5 workers, and one with fewer rows
 * than workers. */
static const int64_t shapes[][3] = {
    {37, 53, 0}, {1001, 0, 0}, {7, 5, 3}, {3, 11, 0}};
static const int shape_ndims[] = {2, 1, 3, 2};
enum { NSHAPES = 4 };

/* One case on one runtime and one of the shapes above. */
typedef void (*shape_case)(bt_runtime *rt, int ndim, const int64_t *shape);

/* The case on every worker count (a fresh runtime each) and every shape. */
static void on_every_shape(shape_case body) {
  for (int c = 0; c < NCOUNTS; c++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[c]);
    for (int s = 0; s < NSHAPES; s++) body(rt, shape_ndims[s], shapes[s]);
    bt_runtime_destroy(rt);
  }
}

static void fill_case(bt_runtime *rt, int ndim, const int64_t *shape) {
  bt_array *a = make_array(rt, BT_F64, ndim, shape);
  int64_t n = bt_test_elements(a);
  BT_CHECK_OK(bt_fill(rt, a, 2.5));
  double *got = bt_test_random_values(n);
  bt_test_get(a, got);
  for (int64_t i = 0; i < n; i++) BT_CHECK(got[i] == 2.5);
  free(got);
  bt_array_release(a);
}

BT_TEST(fill_matches_reference) {
  on_every_shape(fill_case);
}

static void nstream_case(bt_runtime *rt, int ndim, const int64_t *shape) {
  double *va, *vb, *vc;
  bt_array *a = random_array(rt, ndim, shape, &va);
  bt_array *b = random_array(rt, ndim, shape, &vb);
  bt_array *cc = random_array(rt, ndim, shape, &vc);
  int64_t n = bt_test_elements(a);
  for (int it = 0; it < 3; it++) {
    BT_CHECK_OK(bt_nstream(rt, a, b, cc, 3.0));
    for (int64_t i = 0; i < n; i++) va[i] += vb[i] + 3.0 * vc[i];
  }
  check_array(a, va, 0); /* same operations, same order: exact */
  free(va), free(vb), free(vc);
  bt_array_release(a), bt_array_release(b), bt_array_release(cc);
}

BT_TEST(nstream_matches_reference) {
  bt_test_rng_seed();
  on_every_shape(nstream_case);
}

static void axpy_case(bt_runtime *rt, int ndim, const int64_t *shape) {
  double *vx, *vy;
  bt_array *x = random_array(rt, ndim, shape, &vx);
  bt_array *y = random_array(rt, ndim, shape, &vy);
  int64_t n = bt_test_elements(x);
  BT_CHECK_OK(bt_axpy(rt, -0.75, x, y));
  for (int64_t i = 0; i < n; i++) vy[i] += -0.75 * vx[i];
  check_array(y, vy, 0);
  free(vx), free(vy);
  bt_array_release(x), bt_array_release(y);
}

BT_TEST(axpy_matches_reference) {
  bt_test_rng_seed();
  on_every_shape(axpy_case);
}

/* A strided operand: y wraps a buffer as the transpose of a row-major
 * matrix, so parts are not contiguous and the walk goes run by run. */
BT_TEST(elementwise_strided_operands) {
  bt_test_rng_seed();
  bt_runtime *rt = bt_test_runtime(5);
  int64_t shape[2] = {37, 53}, strides[2] = {1, 37};
  double *buf = bt_test_random_values(37 * 53), *vx;
  double *want = malloc(sizeof *want * 37 * 53);
  bt_array *y;
  BT_CHECK_OK(bt_array_wrap(rt, buf, BT_F64, 2, shape, strides, &y));
  bt_array *x = random_array(rt, 2, shape, &vx);
  for (int64_t i = 0; i < 37; i++)
    for (int64_t j = 0; j < 53; j++)
      want[i * 53 + j] = buf[i + j * 37] + 2.0 * vx[i * 53 + j];
  BT_CHECK_OK(bt_axpy(rt, 2.0, x, y));
  check_array(y, want, 0);
  double total = 0, sum = 0;
  BT_CHECK_OK(bt_sum(rt, y, &total));
  for (int64_t i = 0; i < 37 * 53; i++) sum += want[i];
  BT_CHECK_NEAR(total, sum, 1e-12 * 37 * 53);
  bt_array_release(x);
  bt_array_release(y);
  free(want), free(vx), free(buf);
  bt_runtime_destroy(rt);
}

/* ---- reductions
 * --------------------------------------------------------------- */

static double ref_dot(const double *x, const double *y, int64_t n) {
  long double s = 0;
  for (int64_t i = 0; i < n; i++) s += (long double)x[i] * y[i];
  return (double)s;
}

static void reductions_case(bt_runtime *rt, int ndim, const int64_t *shape) {
  double *vx, *vy;
  bt_array *x = random_array(rt, ndim, shape, &vx);
  bt_array *y = random_array(rt, ndim, shape, &vy);
  int64_t n = bt_test_elements(x);
  double ones_sum = 0, abs_sum = 0;
  for (int64_t i = 0; i < n; i++) {
    ones_sum += vx[i];
    abs_sum += fabs(vx[i] * vy[i]) + fabs(vx[i]);
  }
  double dot, sum, nrm;
  BT_CHECK_OK(bt_dot(rt, x, y, &dot));
  BT_CHECK_NEAR(dot, ref_dot(vx, vy, n), 1e-15 * n * abs_sum);
  BT_CHECK_OK(bt_sum(rt, x, &sum));
  BT_CHECK_NEAR(sum, ones_sum, 1e-15 * n * abs_sum);
  BT_CHECK_OK(bt_nrm2(rt, x, &nrm));
  double ref = sqrt(ref_dot(vx, vx, n));
  BT_CHECK_NEAR(nrm, ref, 1e-14 * ref);
  /* the same worker count gives the same bits, run after run */
  for (int rep = 0; rep < 20; rep++) {
    double d2, s2, n2;
    BT_CHECK_OK(bt_dot(rt, x, y, &d2));
    BT_CHECK_OK(bt_sum(rt, x, &s2));
    BT_CHECK_OK(bt_nrm2(rt, x, &n2));
    BT_CHECK(same_bits(d2, dot) && same_bits(s2, sum) && same_bits(n2, nrm));
  }
  free(vx), free(vy);
  bt_array_release(x), bt_array_release(y);
}

BT_TEST(reductions_match_reference) {
  bt_test_rng_seed();
  on_every_shape(reductions_case);
}

static double nrm2_of(bt_runtime *rt, const double *vals, int64_t n) {
  int64_t shape[1] = {n};
  bt_array *x = make_array(rt, BT_F64, 1, shape);
  bt_test_put(x, vals);
  double out = -1;
  BT_CHECK_OK(bt_nrm2(rt, x, &out));
  bt_array_release(x);
  return out;
}

BT_TEST(nrm2_huge_and_tiny) {
  bt_runtime *rt = bt_test_runtime(5);
  enum { N = 1000 };
  double v[N];
  for (int i = 0; i < N; i++) v[i] = 1e300;
  double want = 1e300 * sqrt((double)N);
  BT_CHECK_NEAR(nrm2_of(rt, v, N), want, 1e-14 * want);
  for (int i = 0; i < N; i++) v[i] = -1e-300;
  want = 1e-300 * sqrt((double)N);
  BT_CHECK_NEAR(nrm2_of(rt, v, N) / want, 1.0, 1e-14);
  for (int i = 0; i < N; i++) v[i] = 3e-320; /* subnormal */
  want = 3e-320 * sqrt((double)N);
  BT_CHECK_NEAR(nrm2_of(rt, v, N) / want, 1.0, 1e-3);
  /* mixed magnitudes: the huge ones dominate, nothing overflows */
  for (int i = 0; i < N; i++)
    v[i] = i % 3 == 0 ? 1e300 : i % 3 == 1 ? 1.0 : 1e-300;
  want = 1e300 * sqrt((double)((N + 2) / 3));
  BT_CHECK_NEAR(nrm2_of(rt, v, N), want, 1e-14 * want);
  /* tiny with mid-sized: 3-4-5 at two scales */
  double mix[2] = {3e-200, 4e-200};
  BT_CHECK_NEAR(nrm2_of(rt, mix, 2) / 5e-200, 1.0, 1e-15);
  double mid[3] = {3.0, 1e-300, 4.0};
  BT_CHECK_NEAR(nrm2_of(rt, mid, 3), 5.0, 1e-15);
  for (int i = 0; i < N; i++) v[i] = 0;
  BT_CHECK(nrm2_of(rt, v, N) == 0.0);
  v[7] = INFINITY;
  BT_CHECK(isinf(nrm2_of(rt, v, N)));
  v[7] = NAN;
  BT_CHECK(isnan(nrm2_of(rt, v, N)));
  bt_runtime_destroy(rt);
}

BT_TEST(reductions_of_empty_arrays) {
  bt_runtime *rt = bt_test_runtime(2);
  int64_t shape[2] = {0, 5};
  bt_array *x = make_array(rt, BT_F64, 2, shape);
  double out = -1;
  BT_CHECK_OK(bt_sum(rt, x, &out));
  BT_CHECK(out == 0.0);
  out = -1;
  BT_CHECK_OK(bt_nrm2(rt, x, &out));
  BT_CHECK(out == 0.0);
  out = -1;
  BT_CHECK_OK(bt_dot(rt, x, x, &out));
  BT_CHECK(out == 0.0);
  BT_CHECK_OK(bt_fill(rt, x, 1.0));
  bt_array_release(x);
  bt_runtime_destroy(rt);
}

/* ---- transpose
 * --------------------------------------------------------------- */

BT_TEST(transpose_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[c]);
    /* 100 x 67: full 32 x 32 tiles (the unrolled path) in every band up
     * to 2 workers, beside partial ones. */
    static const int64_t dims[][2] = {
        {37, 53}, {53, 37}, {70, 3}, {1, 9}, {100, 67}};
    for (int s = 0; s < 5; s++) {
      int64_t m = dims[s][0], n = dims[s][1];
      int64_t sa[2] = {m, n}, sb[2] = {n, m};
      double *va, *vb;
      bt_array *a = random_array(rt, 2, sa, &va);
      bt_array *b = random_array(rt, 2, sb, &vb);
      for (int it = 0; it < 2; it++) {
        BT_CHECK_OK(bt_transpose(rt, a, b));
        for (int64_t i = 0; i < n; i++)
          for (int64_t j = 0; j < m; j++) vb[i * m + j] += va[j * n + i];
      }
      check_array(b, vb, 0);
      free(va), free(vb);
      bt_array_release(a), bt_array_release(b);
    }
    bt_runtime_destroy(rt);
  }
}

/* ---- stencil ----------------------------------------------------------------
 */

/* The PRK serial star stencil, point by point. */
static void ref_stencil(int r, const double *in, double *out, int64_t m,
                        int64_t n) {
  for (int64_t i = r; i < m - r; i++)
    for (int64_t j = r; j < n - r; j++) {
      double acc = 0;
      for (int k = 1; k <= r; k++) {
        double w = 1.0 / (2.0 * k * r);
        acc += w * in[i * n + j + k] - w * in[i * n + j - k];
        acc += w * in[(i + k) * n + j] - w * in[(i - k) * n + j];
      }
      out[i * n + j] += acc;
    }
}

BT_TEST(stencil_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[c]);
    static const int64_t dims[][2] = {{37, 53}, {53, 37}, {9, 9}, {5, 40}};
    for (int s = 0; s < 4; s++)
      for (int r = 1; r <= 3; r++) {
        int64_t m = dims[s][0], n = dims[s][1], shape[2] = {m, n};
        double *vin, *vout;
        bt_array *in = random_array(rt, 2, shape, &vin);
        bt_array *out = random_array(rt, 2, shape, &vout);
        BT_CHECK_OK(bt_stencil(rt, r, in, out));
        ref_stencil(r, vin, vout, m, n);
        check_array(out, vout, 1e-14);
        free(vin), free(vout);
        bt_array_release(in), bt_array_release(out);
      }
    bt_runtime_destroy(rt);
  }
}

/* A linear field: the stencil of in(i, j) = i + 2j is 1 + 2 everywhere in
 * the interior (PRK's validation), whatever the radius. */
BT_TEST(stencil_of_a_linear_field) {
  bt_runtime *rt = bt_test_runtime(5);
  int64_t m = 41, n = 29, shape[2] = {m, n};
  double *vin = malloc(sizeof *vin * (size_t)(m * n));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) vin[i * n + j] = (double)i + 2.0 * j;
  bt_array *in = make_array(rt, BT_F64, 2, shape);
  bt_test_put(in, vin);
  for (int r = 1; r <= 3; r++) {
    bt_array *out = make_array(rt, BT_F64, 2, shape);
    BT_CHECK_OK(bt_stencil(rt, r, in, out));
    double *got = malloc(sizeof *got * (size_t)(m * n));
    bt_test_get(out, got);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        int inside = i >= r && i < m - r && j >= r && j < n - r;
        BT_CHECK_NEAR(got[i * n + j], inside ? 3.0 : 0.0, 1e-12);
      }
    free(got);
    bt_array_release(out);
  }
  free(vin);
  bt_array_release(in);
  bt_runtime_destroy(rt);
}

/* ---- gemm -------------------------------------------------------------------
 */

static void ref_gemm(double alpha, const double *a, const double *b,
                     double beta, double *c, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double acc = 0;
      for (int64_t l = 0; l < k; l++) acc += a[i * k + l] * b[l * n + j];
      c[i * n + j] = alpha * acc + beta * c[i * n + j];
    }
}

#define HAVE_BLAS bt__have_blas()

BT_TEST(gemm_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[c]);
    static const int64_t dims[][3] = {
        {37, 53, 29}, {3, 40, 7}, {64, 1, 5}, {11, 13, 0}};
    for (int s = 0; s < 4; s++) {
      int64_t m = dims[s][0], n = dims[s][1], k = dims[s][2];
      int64_t sa[2] = {m, k}, sb[2] = {k, n}, sc[2] = {m, n};
      double *va, *vb, *vc;
      bt_array *a = random_array(rt, 2, sa, &va);
      bt_array *b = random_array(rt, 2, sb, &vb);
      bt_array *cc = random_array(rt, 2, sc, &vc);
      int rc = bt_gemm(rt, 1.5, a, b, -0.5, cc);
      if (!HAVE_BLAS) {
        BT_CHECK_STATUS(rc, BT_ENOTSUP);
      } else {
        BT_CHECK_OK(rc);
        ref_gemm(1.5, va, vb, -0.5, vc, m, n, k);
        check_array(cc, vc, 1e-13 * (double)k);
      }
      free(va), free(vb), free(vc);
      bt_array_release(a), bt_array_release(b), bt_array_release(cc);
    }
    bt_runtime_destroy(rt);
  }
}

/* Column-major operands (wrapped with strides {1, rows}): BLAS reads them
 * transposed, c column-major is computed in BLAS's column-major layout. */
BT_TEST(gemm_column_major_operands) {
  if (!HAVE_BLAS) return;
  bt_test_rng_seed();
  bt_runtime *rt = bt_test_runtime(5);
  int64_t m = 37, n = 23, k = 19;
  double *ca = bt_test_random_values(m * k), *cb = bt_test_random_values(k * n),
         *ccm = bt_test_random_values(m * n);
  double *ra = malloc(sizeof *ra * (size_t)(m * k)),
         *rb = malloc(sizeof *rb * (size_t)(k * n)),
         *rc_ = malloc(sizeof *rc_ * (size_t)(m * n));
  for (int64_t i = 0; i < m; i++)
    for (int64_t l = 0; l < k; l++) ra[i * k + l] = ca[i + l * m];
  for (int64_t l = 0; l < k; l++)
    for (int64_t j = 0; j < n; j++) rb[l * n + j] = cb[l + j * k];
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) rc_[i * n + j] = ccm[i + j * m];
  int64_t sa[2] = {m, k}, sb[2] = {k, n}, sc[2] = {m, n};
  int64_t ta[2] = {1, m}, tb[2] = {1, k}, tc[2] = {1, m};
  bt_array *a, *b, *c;
  BT_CHECK_OK(bt_array_wrap(rt, ca, BT_F64, 2, sa, ta, &a));
  BT_CHECK_OK(bt_array_wrap(rt, cb, BT_F64, 2, sb, tb, &b));
  BT_CHECK_OK(bt_array_wrap(rt, ccm, BT_F64, 2, sc, tc, &c));
  BT_CHECK_OK(bt_gemm(rt, 2.0, a, b, 1.0, c));
  ref_gemm(2.0, ra, rb, 1.0, rc_, m, n, k);
  check_array(c, rc_, 1e-13 * (double)k);
  /* a row-major a with a column-major b into a row-major c */
  bt_array *ar = make_array(rt, BT_F64, 2, sa),
           *cr = make_array(rt, BT_F64, 2, sc);
  bt_test_put(ar, ra);
  BT_CHECK_OK(bt_gemm(rt, 1.0, ar, b, 0.0, cr));
  for (int64_t i = 0; i < m * n; i++) rc_[i] = 0;
  ref_gemm(1.0, ra, rb, 0.0, rc_, m, n, k);
  check_array(cr, rc_, 1e-13 * (double)k);
  bt_array_release(ar), bt_array_release(cr);
  bt_array_release(a), bt_array_release(b), bt_array_release(c);
  free(ca), free(cb), free(ccm), free(ra), free(rb), free(rc_);
  bt_runtime_destroy(rt);
}

/* The kernel runs OpenBLAS at one thread and gives the user's count back. */
BT_TEST(gemm_restores_blas_threads) {
  if (!HAVE_BLAS) return;
  bt_runtime *rt = bt_test_runtime(2);
  int before = bt__blas_threads();
  bt_array *a = make2(rt, 64, 64), *b = make2(rt, 64, 64),
           *c = make2(rt, 64, 64);
  BT_CHECK_OK(bt_fill(rt, a, 1.0));
  BT_CHECK_OK(bt_fill(rt, b, 2.0));
  BT_CHECK_OK(bt_gemm(rt, 1.0, a, b, 0.0, c));
  BT_CHECK_EQ(bt__blas_threads(), before);
  double got[64 * 64];
  bt_test_get(c, got);
  for (int i = 0; i < 64 * 64; i++) BT_CHECK(got[i] == 128.0);
  bt_array_release(a), bt_array_release(b), bt_array_release(c);
  bt_runtime_destroy(rt);
}

/* ---- misuse ----------------------------------------------------------------
 */

BT_TEST(kernels_reject_wrong_dtype) {
  bt_runtime *rt = bt_test_runtime(2);
  bt_array *f = make2(rt, 4, 4), *f2 = make2(rt, 4, 4), *f3 = make2(rt, 4, 4);
  int64_t shape[2] = {4, 4};
  bt_array *i32 = make_array(rt, BT_I32, 2, shape);
  double out = 7;
  BT_CHECK_STATUS(bt_fill(rt, i32, 1.0), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "i32") != NULL);
  BT_CHECK_STATUS(bt_nstream(rt, f, i32, f2, 1.0), BT_EINVAL);
  BT_CHECK_STATUS(bt_nstream(rt, i32, f, f2, 1.0), BT_EINVAL);
  BT_CHECK_STATUS(bt_axpy(rt, 1.0, i32, f), BT_EINVAL);
  BT_CHECK_STATUS(bt_dot(rt, f, i32, &out), BT_EINVAL);
  BT_CHECK_STATUS(bt_nrm2(rt, i32, &out), BT_EINVAL);
  BT_CHECK_STATUS(bt_sum(rt, i32, &out), BT_EINVAL);
  BT_CHECK_STATUS(bt_transpose(rt, i32, f), BT_EINVAL);
  BT_CHECK_STATUS(bt_stencil(rt, 1, f, i32), BT_EINVAL);
  BT_CHECK_STATUS(bt_gemm(rt, 1.0, f, i32, 0.0, f3), BT_EINVAL);
  BT_CHECK(out == 7); /* outputs untouched on failure */
  bt_array_release(i32);
  bt_array_release(f), bt_array_release(f2), bt_array_release(f3);
  bt_runtime_destroy(rt);
}

BT_TEST(kernels_reject_wrong_shape) {
  bt_runtime *rt = bt_test_runtime(2);
  bt_array *a = make2(rt, 4, 5), *b = make2(rt, 5, 4), *c = make2(rt, 4, 5),
           *sq = make2(rt, 4, 4);
  int64_t flat[1] = {20};
  bt_array *v = make_array(rt, BT_F64, 1, flat);
  double out = 7;
  BT_CHECK_STATUS(bt_nstream(rt, a, b, c, 1.0), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "4 x 5") != NULL);
  BT_CHECK_STATUS(bt_nstream(rt, a, c, v, 1.0), BT_EINVAL);
  BT_CHECK_STATUS(bt_axpy(rt, 1.0, a, b), BT_EINVAL);
  BT_CHECK_STATUS(bt_dot(rt, a, v, &out), BT_EINVAL);
  BT_CHECK_STATUS(bt_transpose(rt, a, c), BT_EINVAL); /* b must be 5 x 4 */
  BT_CHECK_STATUS(bt_transpose(rt, v, a), BT_EINVAL); /* 1-D */
  BT_CHECK_STATUS(bt_stencil(rt, 1, a, b), BT_EINVAL);
  BT_CHECK_STATUS(bt_stencil(rt, 1, v, v), BT_EINVAL);
  BT_CHECK_STATUS(bt_stencil(rt, 0, a, c), BT_EINVAL); /* radius */
  BT_CHECK_STATUS(bt_stencil(rt, -2, a, c), BT_EINVAL);
  BT_CHECK_STATUS(bt_gemm(rt, 1.0, a, a, 0.0, sq), BT_EINVAL); /* 4x5 * 4x5 */
  BT_CHECK_STATUS(bt_gemm(rt, 1.0, a, b, 0.0, c), BT_EINVAL);  /* c 4x4 */
  BT_CHECK_STATUS(bt_gemm(rt, 1.0, v, b, 0.0, sq), BT_EINVAL);
  /* aliasing of the written array with a read one */
  BT_CHECK_STATUS(bt_nstream(rt, a, a, c, 1.0), BT_EINVAL);
  BT_CHECK_STATUS(bt_axpy(rt, 1.0, sq, sq), BT_EINVAL);
  BT_CHECK_STATUS(bt_transpose(rt, sq, sq), BT_EINVAL);
  BT_CHECK_STATUS(bt_stencil(rt, 1, sq, sq), BT_EINVAL);
  BT_CHECK_STATUS(bt_gemm(rt, 1.0, sq, sq, 0.0, sq), BT_EINVAL);
  /* NULLs */
  BT_CHECK_STATUS(bt_fill(NULL, a, 1.0), BT_EINVAL);
  BT_CHECK_STATUS(bt_fill(rt, NULL, 1.0), BT_EINVAL);
  BT_CHECK_STATUS(bt_dot(rt, a, c, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_dot(rt, a, NULL, &out), BT_EINVAL);
  BT_CHECK_STATUS(bt_sum(rt, a, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_nrm2(rt, NULL, &out), BT_EINVAL);
  BT_CHECK(out == 7);
  bt_array_release(a), bt_array_release(b), bt_array_release(c);
  bt_array_release(sq), bt_array_release(v);
  bt_runtime_destroy(rt);
}

/* Every kernel answers BT_EBUSY while an operand is held, touches nothing,
 * and works on the same arrays once the holder lets go. */
BT_TEST(kernels_busy_then_usable) {
  bt_runtime *rt = bt_test_runtime(5);
  bt_array *x = make2(rt, 37, 53), *y = make2(rt, 37, 53),
           *z = make2(rt, 37, 53), *t = make2(rt, 53, 37),
           *sq = make2(rt, 37, 37);
  BT_CHECK_OK(bt_fill(rt, x, 1.0));
  BT_CHECK_OK(bt_fill(rt, y, 2.0));
  BT_CHECK_OK(bt_fill(rt, z, 3.0));
  bt_range corner[2] = {{36, 37}, {52, 53}};
  double out = 7;
  for (int which = 0; which < 2; which++) {
    /* which 0: x owned elsewhere (blocks readers and writers);
     * which 1: x borrowed elsewhere (blocks only writers of x) */
    bt_slice held;
    if (which == 0)
      BT_CHECK_OK(bt_array_own(x, corner, 0, &held));
    else
      BT_CHECK_OK(bt_array_borrow(x, corner, 0, &held));
    BT_CHECK_STATUS(bt_fill(rt, x, 9.0), BT_EBUSY);
    BT_CHECK_STATUS(bt_nstream(rt, x, y, z, 1.0), BT_EBUSY);
    BT_CHECK_STATUS(bt_axpy(rt, 1.0, y, x), BT_EBUSY);
    BT_CHECK_STATUS(bt_transpose(rt, t, x), BT_EBUSY);
    BT_CHECK_STATUS(bt_stencil(rt, 2, y, x), BT_EBUSY);
    if (HAVE_BLAS) BT_CHECK_STATUS(bt_gemm(rt, 1.0, sq, y, 0.0, x), BT_EBUSY);
    int want = which == 0 ? BT_EBUSY : BT_OK;
    BT_CHECK_STATUS(bt_nstream(rt, y, x, z, 0.0), want);
    BT_CHECK_STATUS(bt_axpy(rt, 0.0, x, y), want);
    BT_CHECK_STATUS(bt_dot(rt, x, y, &out), want);
    BT_CHECK_STATUS(bt_sum(rt, x, &out), want);
    BT_CHECK_STATUS(bt_nrm2(rt, x, &out), want);
    BT_CHECK_STATUS(bt_stencil(rt, 3, x, y), want);
    if (HAVE_BLAS) BT_CHECK_STATUS(bt_gemm(rt, 0.0, x, t, 1.0, sq), want);
    if (which == 0) BT_CHECK(out == 7);
    BT_CHECK_OK(bt__regions_check(x));
    BT_CHECK_OK(bt_slice_release(held));
  }
  /* usable again, and untouched by the refused calls */
  BT_CHECK_OK(bt_sum(rt, x, &out));
  BT_CHECK_NEAR(out, 37 * 53, 0);
  BT_CHECK_OK(bt_nstream(rt, x, y, z, 1.0));
  BT_CHECK_OK(bt_sum(rt, x, &out));
  BT_CHECK_NEAR(out, 37 * 53 * 7.0, 1e-9); /* 1 + y (3 after which 1) + 3 */
  BT_CHECK_OK(bt__regions_check(x));
  bt_array_release(x), bt_array_release(y), bt_array_release(z);
  bt_array_release(t), bt_array_release(sq);
  bt_runtime_destroy(rt);
}

/* A frozen array is read by every kernel and written by none. */
BT_TEST(kernels_frozen_operands) {
  bt_runtime *rt = bt_test_runtime(2);
  bt_array *x = make2(rt, 9, 7), *y = make2(rt, 9, 7);
  BT_CHECK_OK(bt_fill(rt, x, 2.0));
  BT_CHECK_OK(bt_array_freeze(x));
  double out = 0;
  BT_CHECK_STATUS(bt_fill(rt, x, 1.0), BT_EFROZEN);
  BT_CHECK_STATUS(bt_axpy(rt, 1.0, y, x), BT_EFROZEN);
  BT_CHECK_OK(bt_axpy(rt, 1.5, x, y));
  BT_CHECK_OK(bt_dot(rt, x, y, &out));
  BT_CHECK_NEAR(out, 9 * 7 * 6.0, 1e-12);
  BT_CHECK_OK(bt_stencil(rt, 1, x, y));
  BT_CHECK_OK(bt_sum(rt, x, &out));
  BT_CHECK_NEAR(out, 9 * 7 * 2.0, 0);
  bt_array_release(x), bt_array_release(y);
  bt_runtime_destroy(rt);
}

/* ---- several callers at once ------------------------------------------------
 */

typedef struct caller_ctx {
  bt_runtime *rt;
  bt_array *shared; /* read by every caller */
  long rounds;
  int index, failures;
} caller_ctx;

static void *caller_main(void *arg) {
  caller_ctx *cc = arg;
  bt_runtime *rt = cc->rt;
  bt_array *a = make2(rt, 37, 53), *sq = make2(rt, 53, 53),
           *c = make2(rt, 37, 53);
  int ok = bt_fill(rt, sq, 0.5) == BT_OK;
  for (long r = 0; r < cc->rounds && ok; r++) {
    double dot = 0, want = 37 * 53 * 1.0 * (r + 1) * (cc->index + 1);
    ok = bt_axpy(rt, cc->index + 1.0, cc->shared, a) == BT_OK &&
         bt_dot(rt, cc->shared, a, &dot) == BT_OK && dot == want;
    if (ok && bt__have_blas()) {
      /* c = a sq: every element 53 * 0.5 * a's value */
      double sum = 0;
      ok = bt_gemm(rt, 1.0, a, sq, 0.0, c) == BT_OK &&
           bt_sum(rt, c, &sum) == BT_OK && sum == want * 53 * 0.5;
    }
  }
  cc->failures = !ok;
  bt_array_release(a), bt_array_release(sq), bt_array_release(c);
  return NULL;
}

/* Three threads run kernels on one runtime at once, on their own arrays and
 * on one they all read; gemm's BLAS bracket is shared. */
BT_TEST_STRESS(kernels_concurrent_callers) {
  bt_runtime *rt = bt_test_runtime(3);
  bt_array *shared = make2(rt, 37, 53);
  BT_CHECK_OK(bt_fill(rt, shared, 1.0));
  int before = bt__blas_threads();
  enum { CALLERS = 3 };
  caller_ctx cc[CALLERS];
  for (int i = 0; i < CALLERS; i++)
    cc[i] = (caller_ctx){rt, shared, bt_test_scaled(200), i, 0};
  bt_test_threads(CALLERS, caller_main, cc, sizeof cc[0]);
  for (int i = 0; i < CALLERS; i++) BT_CHECK_EQ(cc[i].failures, 0);
  BT_CHECK_EQ(bt__blas_threads(), before);
  BT_CHECK_OK(bt__regions_check(shared));
  bt_array_release(shared);
  bt_runtime_destroy(rt);
}
