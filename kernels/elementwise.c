/* SPDX-License-Identifier: BSD-3-Clause */
/* elementwise.c: fill, nstream (PRK), axpy: element by element over parts
 * cut along axis 0, the axis BT_PLACE_BLOCKS placed. Dense runs go to the
 * SIMD level's loops (simd.h), strided ones to the loops here. */
#include "kernels_int.h"
#include "simd.h"

/* ---- fill --------------------------------------------------------------- */

static void fill_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  double value = *(const double *)ctx;
  double *restrict a = p[0];
  if (s[0] == 1) {
    bt__simd()->fill(a, value, n);
  } else {
    for (int64_t i = 0; i < n; i++) a[i * s[0]] = value;
  }
}

static int fill_part(const bt__part *part, void *ctx) {
  bt__walk(part->view, 1, fill_run, ctx);
  return BT_OK;
}

int bt_fill(bt_runtime *rt, bt_array *a, double value) {
  int rc;
  if ((rc = bt__check_caller("bt_fill", rt)) != BT_OK ||
      (rc = bt__check_f64("bt_fill", "a", a)) != BT_OK)
    return rc;
  bt__operand op = {.array = a, .writable = 1};
  return bt__parallel(rt, &op, 1, fill_part, &value, NULL);
}

/* ---- nstream: a += b + scalar * c ---------------------------------------- */

static void nstream_run(double *const *p, const int64_t *s, int64_t n,
                        void *ctx) {
  double scalar = *(const double *)ctx;
  double *restrict a = p[0];
  const double *restrict b = p[1], *restrict c = p[2];
  if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
    bt__simd()->nstream(a, b, c, scalar, n);
  } else {
    for (int64_t i = 0; i < n; i++)
      a[i * s[0]] += b[i * s[1]] + scalar * c[i * s[2]];
  }
}

static int nstream_part(const bt__part *part, void *ctx) {
  bt__walk(part->view, 3, nstream_run, ctx);
  return BT_OK;
}

static int check_not_alias(const char *kernel, const char *rw,
                           const bt_array *w, const char *rr,
                           const bt_array *r) {
  /* A sub-array sharing elements with the other operand counts too. */
  if (bt__array_alias(w, r) == BT__ALIAS_NONE) return BT_OK;
  return bt__fail(BT_EINVAL,
                  "%s: %s is also %s (or shares elements with it): the "
                  "written array cannot be read in the same call",
                  kernel, rw, rr);
}

int bt_nstream(bt_runtime *rt, bt_array *a, bt_array *b, bt_array *c,
               double scalar) {
  static const char k[] = "bt_nstream";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "a", a)) != BT_OK ||
      (rc = bt__check_f64(k, "b", b)) != BT_OK ||
      (rc = bt__check_f64(k, "c", c)) != BT_OK ||
      (rc = bt__check_same_shape(k, "a", a, "b", b)) != BT_OK ||
      (rc = bt__check_same_shape(k, "a", a, "c", c)) != BT_OK ||
      (rc = check_not_alias(k, "a", a, "b", b)) != BT_OK ||
      (rc = check_not_alias(k, "a", a, "c", c)) != BT_OK)
    return rc;
  bt__operand ops[3] = {
      {.array = a, .writable = 1}, {.array = b}, {.array = c}};
  return bt__parallel(rt, ops, 3, nstream_part, &scalar, NULL);
}

/* ---- axpy: y += alpha * x ------------------------------------------------ */

static void axpy_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  double alpha = *(const double *)ctx;
  double *restrict y = p[0];
  const double *restrict x = p[1];
  if (s[0] == 1 && s[1] == 1) {
    bt__simd()->axpy(y, x, alpha, n);
  } else {
    for (int64_t i = 0; i < n; i++) y[i * s[0]] += alpha * x[i * s[1]];
  }
}

static int axpy_part(const bt__part *part, void *ctx) {
  bt__walk(part->view, 2, axpy_run, ctx);
  return BT_OK;
}

int bt_axpy(bt_runtime *rt, double alpha, bt_array *x, bt_array *y) {
  static const char k[] = "bt_axpy";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "x", x)) != BT_OK ||
      (rc = bt__check_f64(k, "y", y)) != BT_OK ||
      (rc = bt__check_same_shape(k, "x", x, "y", y)) != BT_OK ||
      (rc = check_not_alias(k, "y", y, "x", x)) != BT_OK)
    return rc;
  bt__operand ops[2] = {{.array = y, .writable = 1}, {.array = x}};
  return bt__parallel(rt, ops, 2, axpy_part, &alpha, NULL);
}
