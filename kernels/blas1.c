/* SPDX-License-Identifier: BSD-3-Clause */
/* blas1.c: the vector updates of an iterative solver: copy, scal, axpby,
 * waxpby, element by element over parts cut along axis 0.
 *
 * Aliasing follows BLAS: the written array may be one of the read ones
 * when it is the very same elements (the same array, or sub-arrays of one
 * root over the same region); the kernel then locks it once, owned, and
 * reads it through the written view. Operands that overlap in part would
 * read elements another part has already written: refused. Dense runs go
 * to the SIMD level's loops (simd.h). */
#include "kernels_int.h"
#include "simd.h"

typedef struct coef {
  double alpha, beta;
} coef;

/* BT_OK unless w and r overlap in part (BT_EINVAL); *same is 1 when they are
 * the same elements. */
static int alias_rule(const char *kernel, const char *rw, const bt_array *w,
                      const char *rr, const bt_array *r, int *same) {
  int how = bt__array_alias(w, r);
  *same = how == BT__ALIAS_SAME;
  if (how != BT__ALIAS_PARTIAL) return BT_OK;
  return bt__fail(BT_EINVAL,
                  "%s: %s and %s overlap in part (sub-arrays of one array "
                  "over different regions): the written elements would be "
                  "read by other parts",
                  kernel, rw, rr);
}

/* ---- copy: y = x ----------------------------------------------------------
 */

static void copy_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  (void)ctx;
  double *restrict y = p[0];
  const double *restrict x = p[1];
  if (s[0] == 1 && s[1] == 1) {
    bt__simd()->copy(y, x, n);
  } else {
    for (int64_t i = 0; i < n; i++) y[i * s[0]] = x[i * s[1]];
  }
}

static int copy_part(const bt__part *part, void *ctx) {
  bt__walk(part->view, 2, copy_run, ctx);
  return BT_OK;
}

int bt_copy(bt_runtime *rt, bt_array *x, bt_array *y) {
  static const char k[] = "bt_copy";
  int rc, same;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "x", x)) != BT_OK ||
      (rc = bt__check_f64(k, "y", y)) != BT_OK ||
      (rc = bt__check_same_shape(k, "x", x, "y", y)) != BT_OK ||
      (rc = alias_rule(k, "y", y, "x", x, &same)) != BT_OK)
    return rc;
  if (same) return BT_OK; /* y is x already */
  bt__operand ops[2] = {{.array = y, .writable = 1}, {.array = x}};
  return bt__parallel(rt, ops, 2, copy_part, NULL, NULL);
}

/* ---- scal: x = alpha x ----------------------------------------------------
 */

static void scal_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  const double alpha = ((const coef *)ctx)->alpha;
  double *restrict x = p[0];
  if (s[0] == 1) {
    bt__simd()->scal(x, alpha, n);
  } else {
    for (int64_t i = 0; i < n; i++) x[i * s[0]] *= alpha;
  }
}

static int scal_part(const bt__part *part, void *ctx) {
  bt__walk(part->view, 1, scal_run, ctx);
  return BT_OK;
}

int bt_scal(bt_runtime *rt, double alpha, bt_array *x) {
  static const char k[] = "bt_scal";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "x", x)) != BT_OK)
    return rc;
  coef c = {alpha, 0};
  bt__operand op = {.array = x, .writable = 1};
  return bt__parallel(rt, &op, 1, scal_part, &c, NULL);
}

/* ---- w = alpha x + beta y, and its aliased forms ---------------------------
 * Each form has its own loop so that every pointer in it can be restrict. */

/* w distinct from x and y (x may be y: both only read). */
static void wxy_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  const coef c = *(const coef *)ctx;
  double *restrict w = p[0];
  const double *x = p[1], *y = p[2]; /* may be one array: not restrict */
  if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
    bt__simd()->waxpby(w, x, y, c.alpha, c.beta, n);
  } else {
    for (int64_t i = 0; i < n; i++)
      w[i * s[0]] = c.alpha * x[i * s[1]] + c.beta * y[i * s[2]];
  }
}

/* w is x: w = alpha w + beta y. */
static void wwy_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  const coef c = *(const coef *)ctx;
  double *restrict w = p[0];
  const double *restrict y = p[1];
  if (s[0] == 1 && s[1] == 1) {
    bt__simd()->axpby_in(w, y, c.alpha, c.beta, n);
  } else {
    for (int64_t i = 0; i < n; i++)
      w[i * s[0]] = c.alpha * w[i * s[0]] + c.beta * y[i * s[1]];
  }
}

/* w is y: w = alpha x + beta w. */
static void wxw_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  const coef c = *(const coef *)ctx;
  double *restrict w = p[0];
  const double *restrict x = p[1];
  if (s[0] == 1 && s[1] == 1) {
    bt__simd()->axpby_in(w, x, c.beta, c.alpha, n); /* commuted: same bits */
  } else {
    for (int64_t i = 0; i < n; i++)
      w[i * s[0]] = c.alpha * x[i * s[1]] + c.beta * w[i * s[0]];
  }
}

/* w is x and y: w = alpha w + beta w. */
static void www_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  const coef c = *(const coef *)ctx;
  double *restrict w = p[0];
  if (s[0] == 1) {
    for (int64_t i = 0; i < n; i++) w[i] = c.alpha * w[i] + c.beta * w[i];
  } else {
    for (int64_t i = 0; i < n; i++)
      w[i * s[0]] = c.alpha * w[i * s[0]] + c.beta * w[i * s[0]];
  }
}

typedef struct update_ctx {
  coef c;
  bt__run_fn run;
  int nviews;
} update_ctx;

static int update_part(const bt__part *part, void *ctx) {
  const update_ctx *u = ctx;
  bt__walk(part->view, u->nviews, u->run, (void *)&u->c);
  return BT_OK;
}

/* w = alpha x + beta y with the aliasing rule; shapes and dtypes checked. */
static int update(const char *k, bt_runtime *rt, double alpha, bt_array *x,
                  double beta, bt_array *y, bt_array *w, const char *rw) {
  int rc, wx, wy;
  if ((rc = alias_rule(k, rw, w, "x", x, &wx)) != BT_OK ||
      (w != y && (rc = alias_rule(k, rw, w, "y", y, &wy)) != BT_OK))
    return rc;
  if (w == y) wy = 1;
  update_ctx u = {{alpha, beta}, NULL, 0};
  bt__operand ops[3] = {{.array = w, .writable = 1}};
  if (wx && wy) {
    u.run = www_run;
    u.nviews = 1;
  } else if (wx) {
    u.run = wwy_run;
    u.nviews = 2;
    ops[1].array = y;
  } else if (wy) {
    u.run = wxw_run;
    u.nviews = 2;
    ops[1].array = x;
  } else {
    u.run = wxy_run;
    u.nviews = 3;
    ops[1].array = x;
    ops[2].array = y;
  }
  return bt__parallel(rt, ops, u.nviews, update_part, &u, NULL);
}

int bt_axpby(bt_runtime *rt, double alpha, bt_array *x, double beta,
             bt_array *y) {
  static const char k[] = "bt_axpby";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "x", x)) != BT_OK ||
      (rc = bt__check_f64(k, "y", y)) != BT_OK ||
      (rc = bt__check_same_shape(k, "x", x, "y", y)) != BT_OK)
    return rc;
  return update(k, rt, alpha, x, beta, y, y, "y");
}

int bt_waxpby(bt_runtime *rt, double alpha, bt_array *x, double beta,
              bt_array *y, bt_array *w) {
  static const char k[] = "bt_waxpby";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "x", x)) != BT_OK ||
      (rc = bt__check_f64(k, "y", y)) != BT_OK ||
      (rc = bt__check_f64(k, "w", w)) != BT_OK ||
      (rc = bt__check_same_shape(k, "x", x, "y", y)) != BT_OK ||
      (rc = bt__check_same_shape(k, "x", x, "w", w)) != BT_OK)
    return rc;
  return update(k, rt, alpha, x, beta, y, w, "w");
}
