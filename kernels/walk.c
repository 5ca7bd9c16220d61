/* SPDX-License-Identifier: BSD-3-Clause */
/* walk.c: visiting the elements of views of one shape, run by run. */
#include "kernels_int.h"

static int contiguous(const bt_view *v) {
  int64_t expect = 1;
  for (int d = v->ndim - 1; d >= 0; d--) {
    if (v->shape[d] != 1 && v->strides[d] != expect) return 0;
    expect *= v->shape[d];
  }
  return 1;
}

void bt__walk(const bt_view *views, int nviews, bt__run_fn run, void *ctx) {
  BT_ASSERT(nviews >= 1 && nviews <= BT__MAX_OPERANDS);
  const bt_view *v0 = &views[0];
  int ndim = v0->ndim;
  int64_t total = 1;
  for (int d = 0; d < ndim; d++) total *= v0->shape[d];
  if (total == 0) return;

  double *ptr[BT__MAX_OPERANDS];
  int64_t stride[BT__MAX_OPERANDS];
  int flat = 1;
  for (int k = 0; k < nviews; k++) {
    ptr[k] = views[k].data;
    flat = flat && contiguous(&views[k]);
  }
  if (flat) {
    for (int k = 0; k < nviews; k++) stride[k] = 1;
    run(ptr, stride, total, ctx);
    return;
  }

  /* One run per index of the outer axes, odometer order. */
  int inner = ndim - 1;
  int64_t n = v0->shape[inner];
  for (int k = 0; k < nviews; k++) stride[k] = views[k].strides[inner];
  int64_t index[BT_MAX_DIMS] = {0};
  for (int64_t left = total / n; left > 0; left--) {
    double *p[BT__MAX_OPERANDS];
    for (int k = 0; k < nviews; k++) {
      int64_t off = 0;
      for (int d = 0; d < inner; d++) off += index[d] * views[k].strides[d];
      p[k] = ptr[k] + off;
    }
    run(p, stride, n, ctx);
    for (int d = inner - 1; d >= 0; d--) {
      if (++index[d] < v0->shape[d]) break;
      index[d] = 0;
    }
  }
}
