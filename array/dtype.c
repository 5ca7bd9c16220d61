/* SPDX-License-Identifier: BSD-3-Clause */
/* dtype.c: element types of arrays. */
#include "array_int.h"

size_t bt_dtype_size(bt_dtype t) {
  switch (t) {
    case BT_F64:
    case BT_I64:
      return 8;
    case BT_F32:
    case BT_I32:
      return 4;
    case BT_U8:
      return 1;
  }
  return 0;
}

const char *bt_dtype_name(bt_dtype t) {
  switch (t) {
    case BT_F64:
      return "f64";
    case BT_F32:
      return "f32";
    case BT_I64:
      return "i64";
    case BT_I32:
      return "i32";
    case BT_U8:
      return "u8";
  }
  return "invalid dtype";
}
