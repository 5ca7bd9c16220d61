/* SPDX-License-Identifier: BSD-3-Clause */
/* test_kernels_solver.c: the solver kernels (copy, scal, axpby, waxpby,
 * stencil_apply, csr/spmv) against serial references: 1-D, 2-D, 3-D and
 * odd shapes, 1, 2, 3 and 5 workers, plain and sub-array operands (whose
 * parents must stay untouched outside the region), aliasing, bad input. */
#include <pthread.h>
#include <stdint.h>

#include "kernels_int.h"
#include "simd.h"
#include "arrays.h"
#include "test.h"

static const int worker_counts[] = {1, 2, 3, 5};
enum { NCOUNTS = sizeof worker_counts / sizeof worker_counts[0] };

static int64_t count(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  return n;
}

static double *alloc_values(int64_t n) {
  double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
  BT_CHECK(v != NULL);
  return v;
}

static void check_equal(const double *got, const double *want, int64_t n,
                        double rel_tol, const char *what) {
  for (int64_t i = 0; i < n; i++) {
    double tol = rel_tol * (fabs(want[i]) + 1.0);
    if (!(fabs(got[i] - want[i]) <= tol))
      bt_test_fail(__FILE__, __LINE__,
                   "%s: element %lld: got %.17g, want %.17g (tol %g)", what,
                   (long long)i, got[i], want[i], tol);
  }
}

/* ---- operands: plain arrays, or sub-arrays of a larger parent -------------
 */

typedef struct operand {
  bt_array *a;      /* what the kernel gets */
  bt_array *parent; /* NULL for a plain array */
  int ndim;
  int64_t shape[BT_MAX_DIMS], pshape[BT_MAX_DIMS], off[BT_MAX_DIMS];
  double *vals;    /* a's contents, row-major */
  double *pbefore; /* the parent's contents at creation */
} operand;

/* A random f64 operand of the shape; sub: a sub-array of a parent one to
 * three wider on each axis, at an offset of one or two. */
static operand make_operand(bt_runtime *rt, int ndim, const int64_t *shape,
                            int sub) {
  operand o = {.ndim = ndim};
  memcpy(o.shape, shape, sizeof *shape * (size_t)ndim);
  if (!sub) {
    BT_CHECK_OK(
        bt_array_create(rt, BT_F64, ndim, shape, BT_PLACE_BLOCKS, &o.a));
  } else {
    bt_range region[BT_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
      o.off[d] = 1 + d % 2;
      o.pshape[d] = shape[d] + o.off[d] + 1 + d % 2;
      region[d] = (bt_range){o.off[d], o.off[d] + shape[d]};
    }
    BT_CHECK_OK(bt_array_create(rt, BT_F64, ndim, o.pshape, BT_PLACE_BLOCKS,
                                &o.parent));
    int64_t pn = count(ndim, o.pshape);
    o.pbefore = alloc_values(pn);
    for (int64_t i = 0; i < pn; i++) o.pbefore[i] = bt_test_uniform();
    bt_test_put(o.parent, o.pbefore);
    BT_CHECK_OK(bt_array_sub(o.parent, region, &o.a));
  }
  int64_t n = count(ndim, shape);
  o.vals = alloc_values(n);
  for (int64_t i = 0; i < n; i++) o.vals[i] = bt_test_uniform();
  bt_test_put(o.a, o.vals);
  return o;
}

/* The operand's contents against want; for a sub-array, the parent's
 * elements outside the region must still be what they were. */
static void check_operand(const operand *o, const double *want, double tol,
                          const char *what) {
  int64_t n = count(o->ndim, o->shape);
  double *got = alloc_values(n);
  for (int64_t i = 0; i < n; i++) got[i] = NAN;
  bt_test_get(o->a, got);
  check_equal(got, want, n, tol, what);
  free(got);
  if (!o->parent) return;
  int64_t pn = count(o->ndim, o->pshape);
  double *pgot = alloc_values(pn);
  bt_test_get(o->parent, pgot);
  int64_t idx[BT_MAX_DIMS] = {0};
  for (int64_t e = 0; e < pn; e++) {
    int inside = 1;
    for (int d = 0; d < o->ndim; d++)
      inside =
          inside && idx[d] >= o->off[d] && idx[d] < o->off[d] + o->shape[d];
    if (!inside && memcmp(&pgot[e], &o->pbefore[e], sizeof(double)) != 0)
      bt_test_fail(__FILE__, __LINE__,
                   "%s: parent element %lld outside the sub-array changed: "
                   "%.17g, was %.17g",
                   what, (long long)e, pgot[e], o->pbefore[e]);
    for (int d = o->ndim - 1; d >= 0; d--) {
      if (++idx[d] < o->pshape[d]) break;
      idx[d] = 0;
    }
  }
  free(pgot);
}

static void free_operand(operand *o) {
  BT_CHECK_OK(bt_array_release(o->a));
  BT_CHECK_OK(bt_array_release(o->parent));
  free(o->vals);
  free(o->pbefore);
}

/* Shapes: 1-D, 2-D, 3-D, odd, with fewer rows than workers. */
static const struct {
  int ndim;
  int64_t shape[3];
} shapes[] = {
    {1, {1}},     {1, {17}},      {1, {1000}},    {2, {7, 13}},     {2, {1, 5}},
    {2, {33, 4}}, {3, {5, 3, 9}}, {3, {2, 6, 1}}, {3, {11, 7, 16}},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* ---- copy, scal, axpby, waxpby ------------------------------------------ */

enum { K_COPY, K_SCAL, K_AXPBY, K_WAXPBY, NKERNELS };
static const char *const kernel_names[] = {"copy", "scal", "axpby", "waxpby"};

static void run_blas1(int kernel, int workers, int sub) {
  const double alpha = 1.25, beta = -0.75;
  bt_runtime *rt = bt_test_runtime(workers);
  for (int s = 0; s < NSHAPES; s++) {
    int nd = shapes[s].ndim;
    const int64_t *shape = shapes[s].shape;
    int64_t n = count(nd, shape);
    /* x plain and y, w sub-arrays when sub, so both kinds meet. */
    operand x = make_operand(rt, nd, shape, sub && s % 2);
    operand y = make_operand(rt, nd, shape, sub);
    operand w = make_operand(rt, nd, shape, sub);
    double *want = alloc_values(n);
    char what[96];
    snprintf(what, sizeof what, "%s, %d workers, shape %d of %d, sub %d",
             kernel_names[kernel], workers, s, NSHAPES, sub);
    switch (kernel) {
      case K_COPY:
        BT_CHECK_OK(bt_copy(rt, x.a, y.a));
        check_operand(&y, x.vals, 0, what);
        break;
      case K_SCAL:
        for (int64_t i = 0; i < n; i++) want[i] = alpha * x.vals[i];
        BT_CHECK_OK(bt_scal(rt, alpha, x.a));
        check_operand(&x, want, 0, what);
        break;
      case K_AXPBY:
        for (int64_t i = 0; i < n; i++)
          want[i] = alpha * x.vals[i] + beta * y.vals[i];
        BT_CHECK_OK(bt_axpby(rt, alpha, x.a, beta, y.a));
        check_operand(&y, want, 0, what);
        check_operand(&x, x.vals, 0, what); /* read only */
        break;
      case K_WAXPBY:
        for (int64_t i = 0; i < n; i++)
          want[i] = alpha * x.vals[i] + beta * y.vals[i];
        BT_CHECK_OK(bt_waxpby(rt, alpha, x.a, beta, y.a, w.a));
        check_operand(&w, want, 0, what);
        check_operand(&y, y.vals, 0, what);
        break;
    }
    free(want);
    free_operand(&x);
    free_operand(&y);
    free_operand(&w);
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(copy_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++)
    for (int sub = 0; sub < 2; sub++) run_blas1(K_COPY, worker_counts[c], sub);
}

BT_TEST(scal_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++)
    for (int sub = 0; sub < 2; sub++) run_blas1(K_SCAL, worker_counts[c], sub);
}

BT_TEST(axpby_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++)
    for (int sub = 0; sub < 2; sub++) run_blas1(K_AXPBY, worker_counts[c], sub);
}

BT_TEST(waxpby_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++)
    for (int sub = 0; sub < 2; sub++)
      run_blas1(K_WAXPBY, worker_counts[c], sub);
}

/* BLAS's aliasing: w may be x or y, as the same array or as a sub-array
 * over the same region; a partial overlap is refused and changes nothing. */
BT_TEST(waxpby_aliasing) {
  bt_test_rng_seed();
  const double alpha = 0.5, beta = 3.0;
  for (int c = 0; c < NCOUNTS; c++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[c]);
    int64_t shape[2] = {9, 6}, n = 54;
    operand x = make_operand(rt, 2, shape, 1);
    operand y = make_operand(rt, 2, shape, 0);
    double *want = alloc_values(n);
    /* An alias of x over the same region of its parent. */
    bt_array *xs = NULL;
    BT_CHECK_OK(bt_array_sub(x.parent, (bt_range[]){{1, 10}, {2, 8}}, &xs));

    /* w is x (the same handle). */
    for (int64_t i = 0; i < n; i++)
      want[i] = alpha * x.vals[i] + beta * y.vals[i];
    BT_CHECK_OK(bt_waxpby(rt, alpha, x.a, beta, y.a, x.a));
    check_operand(&x, want, 0, "w is x");
    memcpy(x.vals, want, sizeof *want * (size_t)n);
    /* w is x through another sub-array of the same region. */
    for (int64_t i = 0; i < n; i++)
      want[i] = alpha * x.vals[i] + beta * y.vals[i];
    BT_CHECK_OK(bt_waxpby(rt, alpha, x.a, beta, y.a, xs));
    check_operand(&x, want, 0, "w is x, another handle");
    memcpy(x.vals, want, sizeof *want * (size_t)n);
    /* w is y. */
    for (int64_t i = 0; i < n; i++)
      want[i] = alpha * x.vals[i] + beta * y.vals[i];
    BT_CHECK_OK(bt_waxpby(rt, alpha, x.a, beta, y.a, y.a));
    check_operand(&y, want, 0, "w is y");
    memcpy(y.vals, want, sizeof *want * (size_t)n);
    /* w is x and y. */
    for (int64_t i = 0; i < n; i++)
      want[i] = alpha * y.vals[i] + beta * y.vals[i];
    BT_CHECK_OK(bt_waxpby(rt, alpha, y.a, beta, y.a, y.a));
    check_operand(&y, want, 0, "w is x and y");
    memcpy(y.vals, want, sizeof *want * (size_t)n);
    /* x is y, w apart. */
    for (int64_t i = 0; i < n; i++)
      want[i] = alpha * x.vals[i] + beta * x.vals[i];
    BT_CHECK_OK(bt_waxpby(rt, alpha, xs, beta, x.a, y.a));
    check_operand(&y, want, 0, "x is y");
    memcpy(y.vals, want, sizeof *want * (size_t)n);
    /* axpby with x the same elements as y. */
    for (int64_t i = 0; i < n; i++)
      want[i] = alpha * x.vals[i] + beta * x.vals[i];
    BT_CHECK_OK(bt_axpby(rt, alpha, xs, beta, x.a));
    check_operand(&x, want, 0, "axpby, x is y");
    memcpy(x.vals, want, sizeof *want * (size_t)n);
    /* copy onto itself is a no-op. */
    BT_CHECK_OK(bt_copy(rt, xs, x.a));
    check_operand(&x, x.vals, 0, "copy onto itself");

    /* Partial overlaps: refused, nothing written. */
    bt_array *shifted = NULL;
    BT_CHECK_OK(
        bt_array_sub(x.parent, (bt_range[]){{2, 11}, {2, 8}}, &shifted));
    BT_CHECK_STATUS(bt_waxpby(rt, alpha, x.a, beta, y.a, shifted), BT_EINVAL);
    BT_CHECK(strstr(bt_errmsg(), "overlap in part") != NULL);
    BT_CHECK_STATUS(bt_waxpby(rt, alpha, y.a, beta, shifted, x.a), BT_EINVAL);
    BT_CHECK_STATUS(bt_axpby(rt, alpha, shifted, beta, x.a), BT_EINVAL);
    BT_CHECK_STATUS(bt_copy(rt, shifted, x.a), BT_EINVAL);
    check_operand(&x, x.vals, 0, "after refused calls");
    /* x and y may overlap in part: both are only read. */
    for (int64_t i = 0; i < n; i++) want[i] = y.vals[i];
    double *sh = alloc_values(n);
    bt_test_get(shifted, sh);
    for (int64_t i = 0; i < n; i++) want[i] = alpha * x.vals[i] + beta * sh[i];
    BT_CHECK_OK(bt_waxpby(rt, alpha, x.a, beta, shifted, y.a));
    check_operand(&y, want, 0, "x and y overlap in part");
    free(sh);
    BT_CHECK_OK(bt_array_release(shifted));
    BT_CHECK_OK(bt_array_release(xs));
    free(want);
    free_operand(&x);
    free_operand(&y);
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
}

BT_TEST(blas1_bad_input) {
  bt_runtime *rt = bt_test_runtime(2);
  int64_t s4[1] = {4}, s5[1] = {5}, s22[2] = {2, 2};
  bt_array *a = NULL, *b = NULL, *c = NULL, *d = NULL, *i32 = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, s4, BT_PLACE_LOCAL, &a));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, s4, BT_PLACE_LOCAL, &b));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, s5, BT_PLACE_LOCAL, &c));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, s22, BT_PLACE_LOCAL, &d));
  BT_CHECK_OK(bt_array_create(rt, BT_I32, 1, s4, BT_PLACE_LOCAL, &i32));
  struct {
    int rc, want;
    const char *what;
  } cases[] = {
      {bt_copy(NULL, a, b), BT_EINVAL, "copy: rt NULL"},
      {bt_copy(rt, NULL, b), BT_EINVAL, "copy: x NULL"},
      {bt_copy(rt, a, NULL), BT_EINVAL, "copy: y NULL"},
      {bt_copy(rt, a, c), BT_EINVAL, "copy: lengths"},
      {bt_copy(rt, a, d), BT_EINVAL, "copy: 4 vs 2x2"},
      {bt_copy(rt, i32, a), BT_EINVAL, "copy: i32"},
      {bt_scal(NULL, 2, a), BT_EINVAL, "scal: rt NULL"},
      {bt_scal(rt, 2, NULL), BT_EINVAL, "scal: x NULL"},
      {bt_scal(rt, 2, i32), BT_EINVAL, "scal: i32"},
      {bt_axpby(rt, 1, NULL, 1, b), BT_EINVAL, "axpby: x NULL"},
      {bt_axpby(rt, 1, a, 1, NULL), BT_EINVAL, "axpby: y NULL"},
      {bt_axpby(rt, 1, a, 1, c), BT_EINVAL, "axpby: lengths"},
      {bt_axpby(rt, 1, a, 1, i32), BT_EINVAL, "axpby: i32"},
      {bt_waxpby(rt, 1, a, 1, b, NULL), BT_EINVAL, "waxpby: w NULL"},
      {bt_waxpby(rt, 1, NULL, 1, b, a), BT_EINVAL, "waxpby: x NULL"},
      {bt_waxpby(rt, 1, a, 1, NULL, b), BT_EINVAL, "waxpby: y NULL"},
      {bt_waxpby(rt, 1, a, 1, b, c), BT_EINVAL, "waxpby: w length"},
      {bt_waxpby(rt, 1, a, 1, c, b), BT_EINVAL, "waxpby: y length"},
      {bt_waxpby(rt, 1, a, 1, b, i32), BT_EINVAL, "waxpby: w i32"},
      {bt_waxpby(NULL, 1, a, 1, b, c), BT_EINVAL, "waxpby: rt NULL"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (cases[i].rc != cases[i].want)
      bt_test_fail(__FILE__, __LINE__, "%s: got %s, want %s", cases[i].what,
                   bt_status_name(cases[i].rc), bt_status_name(cases[i].want));
  /* A written operand held elsewhere: BT_EBUSY, then usable. */
  bt_slice held;
  BT_CHECK_OK(bt_array_borrow(b, NULL, 0, &held));
  BT_CHECK_STATUS(bt_waxpby(rt, 1, a, 1, a, b), BT_EBUSY);
  BT_CHECK_OK(bt_waxpby(rt, 1, b, 1, b, a)); /* reading it is fine */
  BT_CHECK_OK(bt_slice_release(held));
  BT_CHECK_OK(bt_waxpby(rt, 1, a, 1, a, b));
  bt_array *arrays[] = {a, b, c, d, i32};
  for (int i = 0; i < 5; i++) BT_CHECK_OK(bt_array_release(arrays[i]));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- stencil_apply ---------------------------------------------------------
 */

/* out[i] = sum_k w[k] in[i + off_k] where the whole stencil is inside;
 * other points keep out's values. Row-major buffers of one shape. */
static void stencil_reference(int nd, const int64_t *shape, int npoints,
                              const int *offsets, const double *weights,
                              const double *in, double *out) {
  int64_t n = count(nd, shape), idx[BT_MAX_DIMS] = {0};
  for (int64_t e = 0; e < n; e++) {
    int inside = 1;
    for (int k = 0; k < npoints && inside; k++)
      for (int d = 0; d < nd; d++) {
        int64_t j = idx[d] + offsets[k * nd + d];
        if (j < 0 || j >= shape[d]) inside = 0;
      }
    if (inside) {
      double s = 0;
      for (int k = 0; k < npoints; k++) {
        int64_t lin = 0;
        for (int d = 0; d < nd; d++)
          lin = lin * shape[d] + idx[d] + offsets[k * nd + d];
        s += weights[k] * in[lin];
      }
      out[e] = s;
    }
    for (int d = nd - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

typedef struct stencil_case {
  const char *name;
  int ndim, npoints;
  int offsets[64 * 3];
} stencil_case;

/* Stars and boxes of radius r in nd dimensions (box: (2r+1)^nd points). */
static stencil_case make_star(int nd, int r) {
  stencil_case c = {.name = "star", .ndim = nd};
  int k = 0;
  memset(c.offsets, 0, sizeof c.offsets);
  k++; /* the centre */
  for (int d = 0; d < nd; d++)
    for (int o = -r; o <= r; o++)
      if (o != 0) c.offsets[k++ * nd + d] = o;
  c.npoints = k;
  return c;
}

static stencil_case make_box(int nd, int r) {
  stencil_case c = {.name = "box", .ndim = nd};
  int side = 2 * r + 1, n = 1;
  for (int d = 0; d < nd; d++) n *= side;
  for (int k = 0; k < n; k++) {
    int q = k;
    for (int d = nd - 1; d >= 0; d--) {
      c.offsets[k * nd + d] = q % side - r;
      q /= side;
    }
  }
  c.npoints = n;
  return c;
}

/* The 27-point box listed in a scrambled order (same fast path). */
static stencil_case make_box27_scrambled(void) {
  stencil_case c = make_box(3, 1);
  c.name = "box27 scrambled";
  for (int k = 0; k < 27; k++) {
    int j = (k * 10) % 27; /* 10 is prime to 27: a permutation */
    if (j > k)
      for (int d = 0; d < 3; d++) {
        int t = c.offsets[k * 3 + d];
        c.offsets[k * 3 + d] = c.offsets[j * 3 + d];
        c.offsets[j * 3 + d] = t;
      }
  }
  return c;
}

static stencil_case make_lopsided(void) {
  /* Reaches +2 along axis 0 only and -1 along axis 1: asymmetric halos. */
  stencil_case c = {.name = "lopsided",
                    .ndim = 2,
                    .npoints = 3,
                    .offsets = {0, 0, 2, 0, 1, -1}};
  return c;
}

static void run_stencil(bt_runtime *rt, const stencil_case *sc,
                        const int64_t *shape, int sub, const char *label) {
  int nd = sc->ndim;
  int64_t n = count(nd, shape);
  double weights[64];
  for (int k = 0; k < sc->npoints; k++) weights[k] = bt_test_uniform();
  operand in = make_operand(rt, nd, shape, sub);
  operand out = make_operand(rt, nd, shape, sub);
  double *want = alloc_values(n);
  memcpy(want, out.vals, sizeof *want * (size_t)n);
  stencil_reference(nd, shape, sc->npoints, sc->offsets, weights, in.vals,
                    want);
  BT_CHECK_OK(
      bt_stencil_apply(rt, sc->npoints, sc->offsets, weights, in.a, out.a));
  char what[128];
  snprintf(what, sizeof what, "%s %s, %d-d, %d workers, sub %d", label,
           sc->name, nd, bt_runtime_workers(rt), sub);
  check_operand(&out, want, 1e-13, what);
  check_operand(&in, in.vals, 0, what);
  free(want);
  free_operand(&in);
  free_operand(&out);
}

BT_TEST(stencil_apply_matches_reference) {
  bt_test_rng_seed();
  for (int c = 0; c < NCOUNTS; c++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[c]);
    for (int sub = 0; sub < 2; sub++) {
      stencil_case s1 = make_star(1, 1), b1 = make_box(1, 2);
      run_stencil(rt, &s1, (int64_t[]){13}, sub, "1-d");
      run_stencil(rt, &b1, (int64_t[]){6}, sub, "1-d");
      stencil_case s2 = make_star(2, 1), s22 = make_star(2, 2),
                   b2 = make_box(2, 1), l2 = make_lopsided();
      run_stencil(rt, &s2, (int64_t[]){9, 11}, sub, "2-d");
      run_stencil(rt, &s22, (int64_t[]){7, 5}, sub, "2-d");
      run_stencil(rt, &b2, (int64_t[]){4, 17}, sub, "2-d");
      run_stencil(rt, &l2, (int64_t[]){6, 3}, sub, "2-d");
      stencil_case s3 = make_star(3, 1), b3 = make_box(3, 1),
                   b3s = make_box27_scrambled();
      run_stencil(rt, &s3, (int64_t[]){6, 5, 7}, sub, "3-d");
      run_stencil(rt, &b3, (int64_t[]){7, 4, 9}, sub, "3-d");
      run_stencil(rt, &b3, (int64_t[]){3, 3, 3}, sub, "3-d");
      run_stencil(rt, &b3s, (int64_t[]){8, 6, 5}, sub, "3-d");
      stencil_case s4 = make_star(4, 1);
      run_stencil(rt, &s4, (int64_t[]){4, 3, 5, 4}, sub, "4-d");
    }
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
}

/* The 27-point box on arrays whose last axis is not unit-stride (wrapped
 * memory): the generic path, same answer. */
BT_TEST(stencil_apply_strided_box) {
  bt_test_rng_seed();
  bt_runtime *rt = bt_test_runtime(3);
  int64_t shape[3] = {5, 4, 6}, strides[3] = {4 * 6 * 2, 6 * 2, 2};
  int64_t n = 120;
  double *inmem = alloc_values(2 * n), *outmem = alloc_values(2 * n);
  for (int64_t i = 0; i < 2 * n; i++)
    inmem[i] = bt_test_uniform(), outmem[i] = 7;
  bt_array *in = NULL, *out = NULL;
  BT_CHECK_OK(bt_array_wrap(rt, inmem, BT_F64, 3, shape, strides, &in));
  BT_CHECK_OK(bt_array_wrap(rt, outmem, BT_F64, 3, shape, strides, &out));
  double *inv = alloc_values(n), *want = alloc_values(n),
         *got = alloc_values(n);
  bt_test_get(in, inv);
  for (int64_t i = 0; i < n; i++) want[i] = 7;
  stencil_case b = make_box(3, 1);
  double weights[27];
  for (int k = 0; k < 27; k++) weights[k] = bt_test_uniform();
  stencil_reference(3, shape, 27, b.offsets, weights, inv, want);
  BT_CHECK_OK(bt_stencil_apply(rt, 27, b.offsets, weights, in, out));
  bt_test_get(out, got);
  check_equal(got, want, n, 1e-13, "strided box27");
  for (int64_t i = 1; i < 2 * n; i += 2) BT_CHECK_EQ(outmem[i], 7); /* gaps */
  BT_CHECK_OK(bt_array_release(in));
  BT_CHECK_OK(bt_array_release(out));
  free(inmem), free(outmem), free(inv), free(want), free(got);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(stencil_apply_bad_input) {
  bt_runtime *rt = bt_test_runtime(2);
  int64_t s2[2] = {6, 6}, s3[2] = {6, 5};
  bt_array *a = NULL, *b = NULL, *c = NULL, *i32 = NULL, *sa = NULL, *sb = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, s2, BT_PLACE_LOCAL, &a));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, s2, BT_PLACE_LOCAL, &b));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, s3, BT_PLACE_LOCAL, &c));
  BT_CHECK_OK(bt_array_create(rt, BT_I32, 2, s2, BT_PLACE_LOCAL, &i32));
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{0, 4}, {0, 4}}, &sa));
  BT_CHECK_OK(bt_array_sub(a, (bt_range[]){{2, 6}, {2, 6}}, &sb));
  const int star[] = {0, 0, -1, 0, 1, 0, 0, -1, 0, 1};
  const double w[] = {4, -1, -1, -1, -1};
  const int far[] = {0, 6}, farneg[] = {-6, 0}, huge[] = {0, -2147483647 - 1};
  struct {
    int rc, want;
    const char *what;
  } cases[] = {
      {bt_stencil_apply(NULL, 5, star, w, a, b), BT_EINVAL, "rt NULL"},
      {bt_stencil_apply(rt, 5, star, w, NULL, b), BT_EINVAL, "in NULL"},
      {bt_stencil_apply(rt, 5, star, w, a, NULL), BT_EINVAL, "out NULL"},
      {bt_stencil_apply(rt, 5, NULL, w, a, b), BT_EINVAL, "offsets NULL"},
      {bt_stencil_apply(rt, 5, star, NULL, a, b), BT_EINVAL, "weights NULL"},
      {bt_stencil_apply(rt, 0, star, w, a, b), BT_EINVAL, "no point"},
      {bt_stencil_apply(rt, -3, star, w, a, b), BT_EINVAL, "negative count"},
      {bt_stencil_apply(rt, 5, star, w, a, c), BT_EINVAL, "shapes"},
      {bt_stencil_apply(rt, 5, star, w, i32, b), BT_EINVAL, "dtype"},
      {bt_stencil_apply(rt, 5, star, w, a, a), BT_EINVAL, "in is out"},
      {bt_stencil_apply(rt, 5, star, w, sa, sb), BT_EINVAL, "overlap"},
      {bt_stencil_apply(rt, 1, far, w, a, b), BT_EINVAL, "offset = extent"},
      {bt_stencil_apply(rt, 1, farneg, w, a, b), BT_EINVAL, "offset -extent"},
      {bt_stencil_apply(rt, 1, huge, w, a, b), BT_EINVAL, "offset INT_MIN"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (cases[i].rc != cases[i].want)
      bt_test_fail(__FILE__, __LINE__, "%s: got %s, want %s", cases[i].what,
                   bt_status_name(cases[i].rc), bt_status_name(cases[i].want));
  BT_CHECK_STATUS(bt_stencil_apply(rt, 1, far, w, a, b), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "offset 6") != NULL);
  /* A reach of extent - 1 is valid: one point has its whole stencil. */
  const int reach[] = {5, 5};
  BT_CHECK_OK(bt_stencil_apply(rt, 1, reach, w, a, b));
  bt_array *arrays[] = {sa, sb, a, b, c, i32};
  for (int i = 0; i < 6; i++) BT_CHECK_OK(bt_array_release(arrays[i]));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- csr and spmv ----------------------------------------------------------
 */

typedef struct csr_data {
  int64_t rows, cols;
  int64_t *rowptr, *colidx;
  double *values;
} csr_data;

/* A random sparse matrix with empty rows, up to 6 entries a row. */
static csr_data random_csr(int64_t rows, int64_t cols) {
  csr_data m = {rows, cols, NULL, NULL, NULL};
  m.rowptr = malloc(sizeof *m.rowptr * (size_t)(rows + 1));
  m.colidx = malloc(sizeof *m.colidx * (size_t)(rows * 6 + 1));
  m.values = alloc_values(rows * 6 + 1);
  BT_CHECK(m.rowptr && m.colidx);
  m.rowptr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    int64_t k = cols ? (int64_t)((bt_test_uniform() + 1) * 3.5) : 0; /* 0..6 */
    if (r % 5 == 3) k = 0;
    int64_t q = m.rowptr[r];
    for (int64_t j = 0; j < k; j++, q++) {
      m.colidx[q] =
          (int64_t)((bt_test_uniform() + 1) * 0.5 * (double)cols) % cols;
      m.values[q] = bt_test_uniform();
    }
    m.rowptr[r + 1] = q;
  }
  return m;
}

static void free_csr(csr_data *m) {
  free(m->rowptr), free(m->colidx), free(m->values);
}

BT_TEST(spmv_matches_reference) {
  bt_test_rng_seed();
  const int64_t sizes[][2] = {{1, 1}, {3, 7}, {17, 5}, {200, 150}, {4, 0}};
  for (int c = 0; c < NCOUNTS; c++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[c]);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
      for (int sub = 0; sub < 2; sub++) {
        int64_t rows = sizes[s][0], cols = sizes[s][1];
        csr_data m = random_csr(rows, cols);
        bt_csr *A = NULL;
        BT_CHECK_OK(
            bt_csr_create(rt, rows, cols, m.rowptr, m.colidx, m.values, &A));
        /* The caller's arrays are copied: scribbling on them changes
         * nothing. */
        double *vals = alloc_values(m.rowptr[rows]);
        memcpy(vals, m.values, sizeof *vals * (size_t)m.rowptr[rows]);
        for (int64_t q = 0; q < m.rowptr[rows]; q++) m.values[q] = NAN;
        operand y = make_operand(rt, 1, &rows, sub);
        double *want = alloc_values(rows);
        if (cols > 0) {
          operand x = make_operand(rt, 1, &cols, sub);
          for (int64_t r = 0; r < rows; r++) {
            double acc = 0;
            for (int64_t q = m.rowptr[r]; q < m.rowptr[r + 1]; q++)
              acc += vals[q] * x.vals[m.colidx[q]];
            want[r] = acc;
          }
          BT_CHECK_OK(bt_spmv(rt, A, x.a, y.a));
          check_operand(&x, x.vals, 0, "spmv x");
          free_operand(&x);
        } else {
          bt_array *x = NULL;
          int64_t zero = 0;
          BT_CHECK_OK(
              bt_array_create(rt, BT_F64, 1, &zero, BT_PLACE_LOCAL, &x));
          for (int64_t r = 0; r < rows; r++) want[r] = 0;
          BT_CHECK_OK(bt_spmv(rt, A, x, y.a));
          BT_CHECK_OK(bt_array_release(x));
        }
        check_operand(&y, want, 1e-14, "spmv y");
        free(want);
        free(vals);
        free_operand(&y);
        BT_CHECK_OK(bt_csr_destroy(A));
        free_csr(&m);
      }
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
}

BT_TEST(csr_bad_input) {
  bt_runtime *rt = bt_test_runtime(2), *other = bt_test_runtime(1);
  const int64_t rowptr[] = {0, 2, 3, 3}, colidx[] = {0, 2, 1};
  const double values[] = {1, 2, 3};
  const int64_t down[] = {0, 2, 1, 3}, late[] = {1, 2, 3, 3};
  const int64_t badcol[] = {0, 3, 1}, negcol[] = {0, -1, 1};
  bt_csr *A = (bt_csr *)&A, *keep = A;
  struct {
    int rc, want;
    const char *what;
  } cases[] = {
      {bt_csr_create(NULL, 3, 3, rowptr, colidx, values, &A), BT_EINVAL, "rt"},
      {bt_csr_create(rt, -1, 3, rowptr, colidx, values, &A), BT_EINVAL, "rows"},
      {bt_csr_create(rt, 3, -2, rowptr, colidx, values, &A), BT_EINVAL, "cols"},
      {bt_csr_create(rt, 3, 3, NULL, colidx, values, &A), BT_EINVAL, "rowptr"},
      {bt_csr_create(rt, 3, 3, rowptr, NULL, values, &A), BT_EINVAL, "colidx"},
      {bt_csr_create(rt, 3, 3, rowptr, colidx, NULL, &A), BT_EINVAL, "values"},
      {bt_csr_create(rt, 3, 3, rowptr, colidx, values, NULL), BT_EINVAL, "out"},
      {bt_csr_create(rt, 3, 3, down, colidx, values, &A), BT_EINVAL, "down"},
      {bt_csr_create(rt, 3, 3, late, colidx, values, &A), BT_EINVAL, "start"},
      {bt_csr_create(rt, 3, 3, rowptr, badcol, values, &A), BT_EINVAL, "col 3"},
      {bt_csr_create(rt, 3, 3, rowptr, negcol, values, &A), BT_EINVAL,
       "col -1"},
      {bt_csr_create(rt, 3, 2, rowptr, colidx, values, &A), BT_EINVAL,
       "narrow"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (cases[i].rc != cases[i].want)
      bt_test_fail(__FILE__, __LINE__, "%s: got %s, want %s", cases[i].what,
                   bt_status_name(cases[i].rc), bt_status_name(cases[i].want));
  BT_CHECK_PTR_EQ(A, keep);
  BT_CHECK_STATUS(bt_csr_create(rt, 3, 3, down, colidx, values, &A), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "row 1") != NULL);

  BT_CHECK_OK(bt_csr_create(rt, 3, 3, rowptr, colidx, values, &A));
  int64_t s3 = 3, s4 = 4, s6 = 6, s33[2] = {3, 3};
  bt_array *x = NULL, *y = NULL, *y4 = NULL, *m = NULL, *i32 = NULL,
           *big = NULL, *lo = NULL, *hi = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &s3, BT_PLACE_LOCAL, &x));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &s3, BT_PLACE_LOCAL, &y));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &s4, BT_PLACE_LOCAL, &y4));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, s33, BT_PLACE_LOCAL, &m));
  BT_CHECK_OK(bt_array_create(rt, BT_I32, 1, &s3, BT_PLACE_LOCAL, &i32));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &s6, BT_PLACE_LOCAL, &big));
  BT_CHECK_OK(bt_array_sub(big, (bt_range[]){{0, 3}}, &lo));
  BT_CHECK_OK(bt_array_sub(big, (bt_range[]){{2, 5}}, &hi));
  struct {
    int rc, want;
    const char *what;
  } spmv[] = {
      {bt_spmv(NULL, A, x, y), BT_EINVAL, "rt"},
      {bt_spmv(rt, NULL, x, y), BT_EINVAL, "A"},
      {bt_spmv(rt, A, NULL, y), BT_EINVAL, "x"},
      {bt_spmv(rt, A, x, NULL), BT_EINVAL, "y"},
      {bt_spmv(rt, A, x, y4), BT_EINVAL, "y length"},
      {bt_spmv(rt, A, y4, y), BT_EINVAL, "x length"},
      {bt_spmv(rt, A, x, m), BT_EINVAL, "y 2-d"},
      {bt_spmv(rt, A, i32, y), BT_EINVAL, "x i32"},
      {bt_spmv(rt, A, x, x), BT_EINVAL, "x is y"},
      {bt_spmv(rt, A, lo, hi), BT_EINVAL, "x overlaps y"},
      {bt_spmv(other, A, x, y), BT_EINVAL, "other runtime"},
  };
  for (size_t i = 0; i < sizeof spmv / sizeof *spmv; i++)
    if (spmv[i].rc != spmv[i].want)
      bt_test_fail(__FILE__, __LINE__, "spmv %s: got %s, want %s", spmv[i].what,
                   bt_status_name(spmv[i].rc), bt_status_name(spmv[i].want));
  /* y held: BT_EBUSY, then usable. */
  bt_slice held;
  BT_CHECK_OK(bt_array_borrow(y, NULL, 0, &held));
  BT_CHECK_STATUS(bt_spmv(rt, A, x, y), BT_EBUSY);
  BT_CHECK_OK(bt_slice_release(held));
  BT_CHECK_OK(bt_spmv(rt, A, x, y));
  BT_CHECK_OK(bt_csr_destroy(A));
  BT_CHECK_OK(bt_csr_destroy(NULL));
  bt_array *arrays[] = {lo, hi, x, y, y4, m, i32, big};
  for (int i = 0; i < 8; i++) BT_CHECK_OK(bt_array_release(arrays[i]));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  BT_CHECK_OK(bt_runtime_destroy(other));
}

/* A kernel called from one of the runtime's workers runs nested: the
 * calling worker runs a part itself, so it never waits for itself. */
typedef struct from_worker {
  bt_runtime *rt;
  bt_array *a, *b;
  int rc[4];
} from_worker;

static void *call_kernels(void *p) {
  from_worker *f = p;
  f->rc[0] = bt_copy(f->rt, f->a, f->b);
  f->rc[1] = bt_scal(f->rt, 2, f->a);
  f->rc[2] = bt_waxpby(f->rt, 1, f->a, 1, f->a, f->b);
  const int centre[] = {0};
  const double one[] = {1};
  f->rc[3] = bt_stencil_apply(f->rt, 1, centre, one, f->a, f->b);
  return NULL;
}

static int on_worker(bt_slice part, int worker, void *ctx) {
  (void)part;
  (void)worker;
  call_kernels(ctx);
  return BT_OK;
}

BT_TEST(solver_kernels_from_a_worker) {
  bt_runtime *rt = bt_test_runtime(1);
  int64_t s = 4;
  from_worker f = {rt, NULL, NULL, {0}};
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &s, BT_PLACE_LOCAL, &f.a));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &s, BT_PLACE_LOCAL, &f.b));
  bt_array *c = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &s, BT_PLACE_LOCAL, &c));
  BT_CHECK_OK(bt_fill(rt, f.a, 3.0));
  BT_CHECK_OK(bt_parallel_slices(rt, c, 0, 1, on_worker, &f));
  for (int i = 0; i < 4; i++) BT_CHECK_STATUS(f.rc[i], BT_OK);
  /* copy: b = 3; scal: a = 6; waxpby: b = a + a = 12; stencil: b = a. */
  double va[4], vb[4];
  bt_test_get(f.a, va);
  bt_test_get(f.b, vb);
  for (int i = 0; i < 4; i++) {
    BT_CHECK_NEAR(va[i], 6.0, 0.0);
    BT_CHECK_NEAR(vb[i], 6.0, 0.0);
  }
  BT_CHECK_OK(bt_array_release(c));
  BT_CHECK_OK(bt_array_release(f.a));
  BT_CHECK_OK(bt_array_release(f.b));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* The solver kernels' dense loops (waxpby, the 27-point row, the generic
 * groups) give the same bits at every SIMD level this CPU runs. */
BT_TEST(solver_kernels_same_bits_at_every_simd_level) {
  bt_test_rng_seed();
  bt_runtime *rt = bt_test_runtime(2);
  int64_t shape[3] = {6, 7, 37}, n = 6 * 7 * 37;
  operand x = make_operand(rt, 3, shape, 0), y = make_operand(rt, 3, shape, 0);
  stencil_case box = make_box(3, 1), star = make_star(3, 2);
  double wbox[27], wstar[13];
  for (int k = 0; k < 27; k++) wbox[k] = bt_test_uniform();
  for (int k = 0; k < 13; k++) wstar[k] = bt_test_uniform();
  double *first[3], *got = alloc_values(n);
  bt_array *out = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 3, shape, BT_PLACE_LOCAL, &out));
  int ran = 0, chosen = bt__simd_level();
  for (int level = 0; level < bt__simd_levels(); level++) {
    if (!bt__simd_level_supported(level, NULL)) continue;
    BT_CHECK_OK(bt__simd_force(level));
    for (int which = 0; which < 3; which++) {
      if (which == 0)
        BT_CHECK_OK(bt_waxpby(rt, 0.3, x.a, -1.7, y.a, out));
      else if (which == 1)
        BT_CHECK_OK(bt_stencil_apply(rt, 27, box.offsets, wbox, x.a, out));
      else
        BT_CHECK_OK(
            bt_stencil_apply(rt, star.npoints, star.offsets, wstar, x.a, out));
      bt_test_get(out, got);
      if (!ran) {
        first[which] = alloc_values(n);
        memcpy(first[which], got, sizeof *got * (size_t)n);
      } else if (memcmp(first[which], got, sizeof *got * (size_t)n) != 0) {
        bt_test_fail(__FILE__, __LINE__, "kernel %d differs at level %s", which,
                     bt__simd_level_name(level));
      }
    }
    ran++;
  }
  BT_CHECK(ran >= 1);
  BT_CHECK_OK(bt__simd_force(chosen)); /* back to what the process chose */
  for (int which = 0; which < 3; which++) free(first[which]);
  free(got);
  BT_CHECK_OK(bt_array_release(out));
  free_operand(&x);
  free_operand(&y);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}
