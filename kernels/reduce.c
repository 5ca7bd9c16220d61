/* SPDX-License-Identifier: BSD-3-Clause */
/* reduce.c: dot, sum, nrm2. Deterministic for a given worker count, and
 * the same bits at every SIMD level: the partition is fixed, each worker
 * reduces each run of its part into BT__SIMD_LANES interleaved lanes
 * (element i of a run into lane i % LANES, simd.h), the lanes are summed
 * pairwise at the end, and the caller combines the parts' partials in part
 * order. */
#include <math.h>
#include <stdlib.h>

#include "kernels_int.h"
#include "simd.h"

enum { LANES = BT__SIMD_LANES };

/* One part's partial, cache lines of its own (written by one worker). */
typedef struct partial {
  BT_ALIGNED_CL double lane[LANES]; /* nrm2: the sum of mid-sized squares */
  double big, small;                /* nrm2's other two sums (Blue's) */
} partial;

/* lane[0] + ... + lane[LANES-1], as a balanced tree in index order. */
static double lanes_sum(const double *lane) {
  double t[LANES];
  for (int j = 0; j < LANES; j++) t[j] = lane[j];
  for (int w = LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) t[j] = t[2 * j] + t[2 * j + 1];
  return t[0];
}

/* ---- dot and sum ----------------------------------------------------------
 */

static void dot_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  partial *acc = ctx;
  const double *restrict x = p[0], *restrict y = p[1];
  if (s[0] == 1 && s[1] == 1) {
    bt__simd()->dot(x, y, n, acc->lane);
  } else {
    for (int64_t i = 0; i < n; i++)
      acc->lane[i % LANES] += x[i * s[0]] * y[i * s[1]];
  }
}

static void sum_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  partial *acc = ctx;
  const double *restrict x = p[0];
  if (s[0] == 1) {
    bt__simd()->sum(x, n, acc->lane);
  } else {
    for (int64_t i = 0; i < n; i++) acc->lane[i % LANES] += x[i * s[0]];
  }
}

/* ---- nrm2: Blue's scaled sum of squares, as the reference BLAS dnrm2 of
 * LAPACK 3.10: squares of mid-sized values are summed as they are, those of
 * huge values scaled down by 2^-538 and those of tiny ones scaled up by
 * 2^537, so no square overflows or underflows. Blocks of mid-sized values
 * (and zeros) go to the SIMD loop; a block with another value is taken
 * element by element, into the same lanes. */

#define TSML BT__NRM2_TSML /* below: tiny, scaled up */
#define TBIG BT__NRM2_TBIG /* above: huge, scaled down */
#define SSML 0x1p+537
#define SBIG 0x1p-538

/* Elements [i, stop) of a run, element by element. */
static void nrm2_elements(const double *x, int64_t stride, int64_t i,
                          int64_t stop, partial *acc) {
  for (; i < stop; i++) {
    double ax = fabs(x[i * stride]);
    if (ax > TBIG) {
      acc->big += (ax * SBIG) * (ax * SBIG);
    } else if (ax < TSML) {
      if (acc->big == 0) acc->small += (ax * SSML) * (ax * SSML);
    } else {
      acc->lane[i % LANES] += ax * ax;
    }
  }
}

static void nrm2_run(double *const *p, const int64_t *s, int64_t n, void *ctx) {
  partial *acc = ctx;
  const double *x = p[0];
  if (s[0] != 1) {
    nrm2_elements(x, s[0], 0, n, acc);
    return;
  }
  const bt__simd_ops *ops = bt__simd();
  int64_t i = 0;
  while (i < n) {
    i += ops->nrm2_mid(x + i, n - i, acc->lane);
    int64_t stop = i + LANES < n ? i + LANES : n;
    nrm2_elements(x, 1, i, stop, acc);
    i = stop;
  }
}

static double nrm2_finish(double big, double med, double small) {
  if (big > 0) {
    if (med > 0 || isnan(med)) big += (med * SBIG) * SBIG;
    return sqrt(big) / SBIG;
  }
  if (small > 0) {
    if (med > 0 || isnan(med)) {
      double ymed = sqrt(med), ysml = sqrt(small) / SSML;
      double ymin = ysml > ymed ? ymed : ysml, ymax = ysml > ymed ? ysml : ymed;
      return ymax * sqrt(1 + (ymin / ymax) * (ymin / ymax));
    }
    return sqrt(small) / SSML;
  }
  return sqrt(med);
}

/* ---- the common driver -------------------------------------------------- */

typedef struct reduce_ctx {
  bt__run_fn run;
  int nviews;
  partial *partials; /* one per part, indexed by part */
} reduce_ctx;

static int reduce_part(const bt__part *part, void *ctx) {
  reduce_ctx *rc = ctx;
  bt__walk(part->view, rc->nviews, rc->run, &rc->partials[part->index]);
  return BT_OK;
}

/* Run `run` over x (and y) and leave the per-part partials, in part order,
 * in *partials (freed by the caller) and their number in *nparts. */
static int reduce(const char *kernel, bt_runtime *rt, bt_array *x, bt_array *y,
                  bt__run_fn run, partial **partials, int *nparts) {
  int rc;
  if ((rc = bt__check_caller(kernel, rt)) != BT_OK ||
      (rc = bt__check_f64(kernel, "x", x)) != BT_OK ||
      (y && (rc = bt__check_f64(kernel, "y", y)) != BT_OK) ||
      (y && (rc = bt__check_same_shape(kernel, "x", x, "y", y)) != BT_OK))
    return rc;
  int workers = bt_runtime_workers(rt);
  partial *acc = aligned_alloc(BT_CACHELINE, sizeof *acc * (size_t)workers);
  if (!acc)
    return bt__fail(BT_ENOMEM, "%s: cannot allocate %d partials", kernel,
                    workers);
  for (int i = 0; i < workers; i++) acc[i] = (partial){{0}, 0, 0};
  bt__operand ops[2] = {{.array = x}, {.array = y}};
  reduce_ctx ctx = {run, y ? 2 : 1, acc};
  int n = 0;
  rc = bt__parallel(rt, ops, y ? 2 : 1, reduce_part, &ctx, &n);
  if (rc != BT_OK) {
    free(acc);
    return rc;
  }
  *partials = acc;
  *nparts = n;
  return BT_OK;
}

int bt_dot(bt_runtime *rt, bt_array *x, bt_array *y, double *out) {
  if (!out) return bt__fail(BT_EINVAL, "bt_dot: out is NULL");
  if (!y) return bt__fail(BT_EINVAL, "bt_dot: y is NULL");
  partial *acc;
  int n, rc = reduce("bt_dot", rt, x, y, dot_run, &acc, &n);
  if (rc != BT_OK) return rc;
  double total = 0;
  for (int i = 0; i < n; i++) total += lanes_sum(acc[i].lane);
  free(acc);
  *out = total;
  return BT_OK;
}

int bt_sum(bt_runtime *rt, bt_array *x, double *out) {
  if (!out) return bt__fail(BT_EINVAL, "bt_sum: out is NULL");
  partial *acc;
  int n, rc = reduce("bt_sum", rt, x, NULL, sum_run, &acc, &n);
  if (rc != BT_OK) return rc;
  double total = 0;
  for (int i = 0; i < n; i++) total += lanes_sum(acc[i].lane);
  free(acc);
  *out = total;
  return BT_OK;
}

int bt_nrm2(bt_runtime *rt, bt_array *x, double *out) {
  if (!out) return bt__fail(BT_EINVAL, "bt_nrm2: out is NULL");
  partial *acc;
  int n, rc = reduce("bt_nrm2", rt, x, NULL, nrm2_run, &acc, &n);
  if (rc != BT_OK) return rc;
  double big = 0, med = 0, small = 0;
  for (int i = 0; i < n; i++) {
    big += acc[i].big;
    med += lanes_sum(acc[i].lane);
    small += acc[i].small;
  }
  free(acc);
  *out = nrm2_finish(big, med, small);
  return BT_OK;
}
