/* SPDX-License-Identifier: BSD-3-Clause */
/* transpose.c: b += a^T (PRK transpose), tiled. Worker i owns band i of
 * the rows of b and borrows the matching band of the columns of a. */
#include "kernels_int.h"
#include "simd.h"

enum { TILE = BT__TRANSPOSE_TILE };

/* b (rows x cols) += a^T where a is (cols x rows), any strides. */
static void transpose_band(double *restrict b, int64_t bs0, int64_t bs1,
                           const double *restrict a, int64_t as0, int64_t as1,
                           int64_t rows, int64_t cols) {
  int dense = bs1 == 1 && as1 == 1;
  const bt__simd_ops *ops = bt__simd();
  for (int64_t ii = 0; ii < rows; ii += TILE) {
    int64_t ie = ii + TILE < rows ? ii + TILE : rows;
    for (int64_t jj = 0; jj < cols; jj += TILE) {
      int64_t je = jj + TILE < cols ? jj + TILE : cols;
      if (dense) {
        ops->transpose_tile(b + ii * bs0 + jj, bs0, a + jj * as0 + ii, as0,
                            ie - ii, je - jj);
        continue;
      }
      for (int64_t i = ii; i < ie; i++) {
        double *restrict brow = b + i * bs0;
        const double *restrict acol = a + i * as1;
        if (bs1 == 1) {
          for (int64_t j = jj; j < je; j++) brow[j] += acol[j * as0];
        } else {
          for (int64_t j = jj; j < je; j++) brow[j * bs1] += acol[j * as0];
        }
      }
    }
  }
}

static int transpose_part(const bt__part *part, void *ctx) {
  const bt_view *b = &part->view[0], *a = &part->view[1];
  BT_ASSERT(b->shape[0] == a->shape[1] && b->shape[1] == a->shape[0]);
  transpose_band(b->data, b->strides[0], b->strides[1], a->data, a->strides[0],
                 a->strides[1], b->shape[0], b->shape[1]);
  return BT_OK;
}

int bt_transpose(bt_runtime *rt, bt_array *a, bt_array *b) {
  static const char k[] = "bt_transpose";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK ||
      (rc = bt__check_f64(k, "a", a)) != BT_OK ||
      (rc = bt__check_f64(k, "b", b)) != BT_OK ||
      (rc = bt__check_ndim(k, "a", a, 2)) != BT_OK ||
      (rc = bt__check_ndim(k, "b", b, 2)) != BT_OK)
    return rc;
  int64_t sa[2], sb[2];
  bt_array_shape(a, sa);
  bt_array_shape(b, sb);
  if (sb[0] != sa[1] || sb[1] != sa[0])
    return bt__fail(BT_EINVAL,
                    "bt_transpose: a is %lld x %lld, so b must be %lld x "
                    "%lld, not %lld x %lld",
                    (long long)sa[0], (long long)sa[1], (long long)sa[1],
                    (long long)sa[0], (long long)sb[0], (long long)sb[1]);
  if (bt__array_alias(a, b) != BT__ALIAS_NONE)
    return bt__fail(BT_EINVAL,
                    "bt_transpose: a is also b (or shares elements with "
                    "it): the written array cannot be read in the same "
                    "call");
  bt__operand ops[2] = {{.array = b, .writable = 1, .axis = 0},
                        {.array = a, .axis = 1}};
  return bt__parallel(rt, ops, 2, transpose_part, NULL, NULL);
}
