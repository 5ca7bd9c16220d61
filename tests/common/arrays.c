/* SPDX-License-Identifier: BSD-3-Clause */
/* arrays.c: see arrays.h. */
#include "arrays.h"

#include <stdlib.h>

bt_runtime *bt_test_runtime(int workers) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = workers;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  BT_CHECK_EQ(bt_runtime_workers(rt), workers);
  return rt;
}

int64_t bt_test_elements(const bt_array *a) {
  int64_t shape[BT_MAX_DIMS], n = 1;
  bt_array_shape(a, shape);
  for (int d = 0; d < bt_array_ndim(a); d++) n *= shape[d];
  return n;
}

void bt_test_copy_view(const bt_view *v, double *buf, int to_view) {
  int64_t index[BT_MAX_DIMS] = {0}, total = 1;
  for (int d = 0; d < v->ndim; d++) total *= v->shape[d];
  double *base = v->data;
  for (int64_t e = 0; e < total; e++) {
    int64_t off = 0;
    for (int d = 0; d < v->ndim; d++) off += index[d] * v->strides[d];
    if (to_view)
      base[off] = buf[e];
    else
      buf[e] = base[off];
    for (int d = v->ndim - 1; d >= 0; d--) {
      if (++index[d] < v->shape[d]) break;
      index[d] = 0;
    }
  }
}

void bt_test_put(bt_array *a, const double *src) {
  if (bt_test_elements(a) == 0) return;
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  bt_test_copy_view(&v, (double *)src, 1);
  BT_CHECK_OK(bt_slice_release(s));
}

void bt_test_get(bt_array *a, double *dst) {
  if (bt_test_elements(a) == 0) return;
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  bt_test_copy_view(&v, dst, 0);
  BT_CHECK_OK(bt_slice_release(s));
}

static uint64_t rng_state = 12345;

double bt_test_uniform(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) * 0x1p-52 - 1.0;
}

void bt_test_rng_seed(void) {
  rng_state = bt_test_seed() * 2654435761ull + 1;
}

double *bt_test_random_values(int64_t n) {
  double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
  BT_CHECK(v != NULL);
  for (int64_t i = 0; i < n; i++) v[i] = bt_test_uniform();
  return v;
}
