/* SPDX-License-Identifier: BSD-3-Clause */
/* stencil_apply.c: out[i] = sum_k w[k] in[i + off_k] over the points i whose
 * whole stencil lies inside in, for any ndim and any set of offsets.
 *
 * Worker p owns band p of out along axis 0 and borrows the rows of in that
 * its points read: its band and the stencil's reach along axis 0 each side.
 * Each output run along the last axis is computed whole: the generic path
 * adds the stencil points to it group by group (the pointer deltas of the
 * points computed once, four points a pass); the 3x3x3 box with a
 * unit-stride last axis (the 27-point operator of 3-D solvers) has a path
 * of its own, three taps of one input row a pass. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_int.h"
#include "simd.h"

enum { BOX27 = 27 };

typedef struct stencil_plan {
  int ndim, npoints;
  const int *offsets; /* npoints x ndim, the caller's */
  const double *weights;
  int64_t lo[BT_MAX_DIMS], hi[BT_MAX_DIMS]; /* the computed points */
  int box27;         /* the offsets are {-1,0,1}^3, in any order */
  double w27[BOX27]; /* box27: weight of (dz, dy, dx) at
                        (dz+1)*9 + (dy+1)*3 + dx+1 */
} stencil_plan;

/* The 27-point box's row loop is bt__simd()->box27_row. One worker, 64^3
 * cells, best of 200 calls: SSE2, one pass per input row (three taps)
 * 0.83 ms, against 1.08 ms for three passes of nine taps and 1.18 ms for
 * one pass of 27 (the weights spill), 0.91 ms for the generic groups of 4;
 * AVX2 0.53 ms (one pass per row); AVX-512 0.33 ms with one pass of 27
 * (32 registers), 0.57 ms one pass per row. A fused OpenMP loop built
 * -march=native: 0.44 ms. */

static void box27_part(const stencil_plan *sp, const bt_view *out,
                       const bt_view *in, int64_t lo0, int64_t hi0) {
  const int64_t os0 = out->strides[0], os1 = out->strides[1];
  const int64_t is0 = in->strides[0], is1 = in->strides[1];
  const int64_t j0 = sp->lo[2], n = sp->hi[2] - sp->lo[2];
  const bt__simd_ops *simd = bt__simd();
  double w[BOX27];
  memcpy(w, sp->w27, sizeof w);
  for (int64_t z = lo0; z < hi0; z++) {
    for (int64_t y = sp->lo[1]; y < sp->hi[1]; y++) {
      double *o = (double *)out->data + (z - out->origin[0]) * os0 +
                  (y - out->origin[1]) * os1 + j0 - out->origin[2];
      const double *c = (const double *)in->data + (z - in->origin[0]) * is0 +
                        (y - in->origin[1]) * is1 + j0 - in->origin[2];
      const double *r[9];
      for (int q = 0; q < 9; q++)
        r[q] = c + (q / 3 - 1) * is0 + (q % 3 - 1) * is1;
      simd->box27_row(o, r, w, n);
    }
  }
}

/* Generic path: for one output run of n points, the stencil points four
 * at a time, one pass over the run per group (bt__simd()->stencil_group
 * for dense runs). delta[k] is point k's offset in in's elements. Each sum
 * is formed left to right in the order the points were given, as a serial
 * loop over them would. */
static void generic_run(double *restrict o, int64_t os, const double *c,
                        int64_t is, const int64_t *delta, const double *weights,
                        int npoints, int64_t n) {
  if (os == 1 && is == 1) {
    const bt__simd_ops *simd = bt__simd();
    for (int k = 0; k < npoints; k += 4)
      simd->stencil_group(o, c, delta + k, weights + k,
                          npoints - k < 4 ? npoints - k : 4, k == 0, n);
    return;
  }
  const double w0 = weights[0];
  const double *restrict p0 = c + delta[0];
  for (int64_t j = 0; j < n; j++) o[j * os] = w0 * p0[j * is];
  for (int k = 1; k < npoints; k++) {
    const double wk = weights[k];
    const double *restrict pk = c + delta[k];
    for (int64_t j = 0; j < n; j++) o[j * os] += wk * pk[j * is];
  }
}

static int generic_part(const stencil_plan *sp, const bt_view *out,
                        const bt_view *in, int64_t lo0, int64_t hi0) {
  int nd = sp->ndim, last = nd - 1;
  int64_t stack_delta[BOX27], *delta = stack_delta;
  if (sp->npoints > BOX27 &&
      !(delta = malloc(sizeof *delta * (size_t)sp->npoints)))
    return bt__fail(BT_ENOMEM, "bt_stencil_apply: cannot allocate %d deltas",
                    sp->npoints);
  for (int k = 0; k < sp->npoints; k++) {
    int64_t d = 0;
    for (int a = 0; a < nd; a++)
      d += (int64_t)sp->offsets[k * nd + a] * in->strides[a];
    delta[k] = d;
  }
  int64_t lo[BT_MAX_DIMS], hi[BT_MAX_DIMS];
  memcpy(lo, sp->lo, sizeof lo);
  memcpy(hi, sp->hi, sizeof hi);
  lo[0] = lo0;
  hi[0] = hi0;
  int64_t n = hi[last] - lo[last];
  /* Odometer over the axes before the last (none for 1-D: one run). */
  int64_t idx[BT_MAX_DIMS];
  memcpy(idx, lo, sizeof idx);
  for (;;) {
    int64_t ooff = 0, ioff = 0;
    for (int a = 0; a < nd; a++) {
      int64_t pos = a < last ? idx[a] : lo[last];
      ooff += (pos - out->origin[a]) * out->strides[a];
      ioff += (pos - in->origin[a]) * in->strides[a];
    }
    generic_run((double *)out->data + ooff, out->strides[last],
                (const double *)in->data + ioff, in->strides[last], delta,
                sp->weights, sp->npoints, n);
    int a = last - 1;
    for (; a >= 0; a--) {
      if (++idx[a] < hi[a]) break;
      idx[a] = lo[a];
    }
    if (a < 0) break;
  }
  if (delta != stack_delta) free(delta);
  return BT_OK;
}

static int stencil_apply_part(const bt__part *part, void *ctx) {
  const stencil_plan *sp = ctx;
  const bt_view *out = &part->view[0], *in = &part->view[1];
  int64_t lo0 = part->start > sp->lo[0] ? part->start : sp->lo[0];
  int64_t hi0 = part->stop < sp->hi[0] ? part->stop : sp->hi[0];
  if (lo0 >= hi0) return BT_OK;
  if (sp->box27 && out->strides[2] == 1 && in->strides[2] == 1) {
    box27_part(sp, out, in, lo0, hi0);
    return BT_OK;
  }
  return generic_part(sp, out, in, lo0, hi0);
}

/* Whether offsets are exactly the 27 points of {-1,0,1}^3; if so, their
 * weights go to w27. */
static int detect_box27(int npoints, const int *offsets, const double *weights,
                        double *w27) {
  if (npoints != BOX27) return 0;
  int seen[BOX27] = {0};
  for (int k = 0; k < npoints; k++) {
    const int *o = &offsets[3 * k];
    for (int a = 0; a < 3; a++)
      if (o[a] < -1 || o[a] > 1) return 0;
    int q = (o[0] + 1) * 9 + (o[1] + 1) * 3 + o[2] + 1;
    if (seen[q]++) return 0;
    w27[q] = weights[k];
  }
  return 1;
}

int bt_stencil_apply(bt_runtime *rt, int npoints, const int *offsets,
                     const double *weights, bt_array *in, bt_array *out) {
  static const char k[] = "bt_stencil_apply";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "in", in)) != BT_OK ||
      (rc = bt__check_f64(k, "out", out)) != BT_OK ||
      (rc = bt__check_same_shape(k, "in", in, "out", out)) != BT_OK)
    return rc;
  if (npoints < 1)
    return bt__fail(BT_EINVAL, "%s: %d stencil points, want 1 or more", k,
                    npoints);
  if (!offsets || !weights)
    return bt__fail(BT_EINVAL, "%s: %s is NULL", k,
                    !offsets ? "offsets" : "weights");
  if (bt__array_alias(in, out) != BT__ALIAS_NONE)
    return bt__fail(BT_EINVAL,
                    "%s: in and out share elements: the stencil cannot be "
                    "applied in place",
                    k);
  stencil_plan sp = {.ndim = bt_array_ndim(in),
                     .npoints = npoints,
                     .offsets = offsets,
                     .weights = weights};
  int64_t shape[BT_MAX_DIMS];
  bt_array_shape(in, shape);
  for (int a = 0; a < sp.ndim; a++)
    if (shape[a] == 0) return BT_OK; /* no element */
  /* The reach of the stencil along each axis, each side; an offset that
   * reaches past the whole extent is an error, not an empty result. */
  int64_t below[BT_MAX_DIMS] = {0}, above[BT_MAX_DIMS] = {0};
  for (int p = 0; p < npoints; p++)
    for (int a = 0; a < sp.ndim; a++) {
      int64_t o = offsets[p * sp.ndim + a];
      if (o <= -shape[a] || o >= shape[a])
        return bt__fail(BT_EINVAL,
                        "%s: offset %" PRId64
                        " of point %d on axis %d "
                        "reaches outside an extent of %" PRId64,
                        k, o, p, a, shape[a]);
      if (-o > below[a]) below[a] = -o;
      if (o > above[a]) above[a] = o;
    }
  for (int a = 0; a < sp.ndim; a++) {
    sp.lo[a] = below[a];
    sp.hi[a] = shape[a] - above[a];
    if (sp.lo[a] >= sp.hi[a]) return BT_OK; /* no point has its stencil */
  }
  sp.box27 = sp.ndim == 3 && detect_box27(npoints, offsets, weights, sp.w27);
  int64_t halo = below[0] > above[0] ? below[0] : above[0];
  bt__operand ops[2] = {{.array = out, .writable = 1, .axis = 0},
                        {.array = in, .axis = 0, .halo = halo}};
  return bt__parallel(rt, ops, 2, stencil_apply_part, &sp, NULL);
}
