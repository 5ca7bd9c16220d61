/* SPDX-License-Identifier: BSD-3-Clause */
/* stencil.c: out += star stencil of radius r of in (PRK stencil), on the
 * interior [r, rows-r) x [r, cols-r). Worker i owns band i of the rows of
 * out and borrows the rows of in it reads: its band and r halo rows each
 * side. PRK weights: 1/(2kr) at offset +k and -1/(2kr) at -k on each axis;
 * the centre weighs 0. */
#include <stdlib.h>

#include "kernels_int.h"
#include "simd.h"

typedef struct stencil_ctx {
  int64_t rows, cols, radius;
  const double *weight; /* weight[k], k = 1..radius */
} stencil_ctx;

/* One output row: orow[j] += sum_k w_k (in(i, j+k) - in(i, j-k) +
 * in(i+k, j) - in(i-k, j)) for j in [r, cols-r). */
static void stencil_row(double *restrict orow, int64_t os1,
                        const double *restrict irow, int64_t is0, int64_t is1,
                        const stencil_ctx *sc) {
  int64_t r = sc->radius, jend = sc->cols - r;
  if (os1 == 1 && is1 == 1) {
    bt__simd()->stencil_row(orow, irow, is0, r, sc->cols, sc->weight);
    return;
  }
  for (int64_t k = 1; k <= r; k++) {
    double w = sc->weight[k];
    const double *restrict up = irow - k * is0, *restrict dn = irow + k * is0;
    for (int64_t j = r; j < jend; j++)
      orow[j * os1] += w * ((irow[(j + k) * is1] - irow[(j - k) * is1]) +
                            (dn[j * is1] - up[j * is1]));
  }
}

static int stencil_part(const bt__part *part, void *ctx) {
  const stencil_ctx *sc = ctx;
  const bt_view *out = &part->view[0], *in = &part->view[1];
  int64_t r = sc->radius;
  int64_t lo = part->start > r ? part->start : r;
  int64_t hi = part->stop < sc->rows - r ? part->stop : sc->rows - r;
  double *odata = out->data;
  const double *idata = in->data;
  for (int64_t i = lo; i < hi; i++)
    stencil_row(odata + (i - out->origin[0]) * out->strides[0], out->strides[1],
                idata + (i - in->origin[0]) * in->strides[0], in->strides[0],
                in->strides[1], sc);
  return BT_OK;
}

int bt_stencil(bt_runtime *rt, int radius, bt_array *in, bt_array *out) {
  static const char k[] = "bt_stencil";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "in", in)) != BT_OK ||
      (rc = bt__check_f64(k, "out", out)) != BT_OK ||
      (rc = bt__check_ndim(k, "in", in, 2)) != BT_OK ||
      (rc = bt__check_same_shape(k, "in", in, "out", out)) != BT_OK)
    return rc;
  if (radius < 1)
    return bt__fail(BT_EINVAL, "bt_stencil: radius %d, want 1 or more", radius);
  if (bt__array_alias(in, out) != BT__ALIAS_NONE)
    return bt__fail(BT_EINVAL,
                    "bt_stencil: in is also out (or shares elements with "
                    "it): the written array cannot be read in the same "
                    "call");
  int64_t shape[2];
  bt_array_shape(in, shape);
  /* Checked before the weights are allocated: a stencil wider than both
   * axes is a mistake (radius INT_MAX allocated 16 GiB); one that leaves no
   * interior point on one axis only changes nothing. */
  int64_t widest = shape[0] > shape[1] ? shape[0] : shape[1];
  if ((int64_t)radius > (widest - 1) / 2)
    return bt__fail(BT_EINVAL,
                    "bt_stencil: radius %d is wider than the %lld x %lld "
                    "array (at most %lld)",
                    radius, (long long)shape[0], (long long)shape[1],
                    (long long)(widest - 1) / 2);
  double *weight = malloc(sizeof *weight * ((size_t)radius + 1));
  if (!weight)
    return bt__fail(BT_ENOMEM, "bt_stencil: cannot allocate %d weights",
                    radius);
  weight[0] = 0;
  for (int j = 1; j <= radius; j++) weight[j] = 1.0 / (2.0 * j * radius);
  stencil_ctx sc = {shape[0], shape[1], radius, weight};
  bt__operand ops[2] = {{.array = out, .writable = 1, .axis = 0},
                        {.array = in, .axis = 0, .halo = radius}};
  rc = bt__parallel(rt, ops, 2, stencil_part, &sc, NULL);
  free(weight);
  return rc;
}
