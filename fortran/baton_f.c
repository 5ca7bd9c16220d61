/* SPDX-License-Identifier: BSD-3-Clause */
/* The C side of the Fortran module baton: transfer types as handles, so
 * that Fortran never depends on the layout of bt_type. */
#include <stdlib.h>
#include <string.h>

#include "baton.h"
#include "baton_f.h"

const bt_type *bt_f_type(int which) {
  switch (which) {
    case 0:
      return &bt_type_f64;
    case 1:
      return &bt_type_i64;
    case 2:
      return &bt_type_i32;
    case 3:
      return &bt_type_slice;
    case 4:
      return &bt_type_ptr;
    default:
      return NULL;
  }
}

int bt_f_type_value(const char *name, size_t size, const bt_type **out) {
  if (!name || !out) return BT_EINVAL;
  struct bt_f_value {
    bt_type type;
    char name[64];
  } *v = calloc(1, sizeof *v);
  if (!v) return BT_ENOMEM;
  strncpy(v->name, name, sizeof v->name - 1);
  int rc = bt_type_value(v->name, size, &v->type);
  if (rc != BT_OK) {
    free(v);
    return rc;
  }
  *out = &v->type;
  return BT_OK;
}

void bt_f_type_free(const bt_type *t) { free((void *)t); }
