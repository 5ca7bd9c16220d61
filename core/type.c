/* SPDX-License-Identifier: BSD-3-Clause */
/* type.c: the plain value types, copied by value. (The handle types live
 * beside their handles: bt_type_box/bt_type_frozen in core/box.c,
 * bt_type_slice in array/slice.c.) */
#include "core_int.h"

const bt_type bt_type_f64 = {
    .struct_size = sizeof(bt_type), .name = "f64", .size = sizeof(double)};
const bt_type bt_type_i64 = {
    .struct_size = sizeof(bt_type), .name = "i64", .size = sizeof(int64_t)};
const bt_type bt_type_i32 = {
    .struct_size = sizeof(bt_type), .name = "i32", .size = sizeof(int32_t)};
const bt_type bt_type_ptr = {
    .struct_size = sizeof(bt_type), .name = "ptr", .size = sizeof(void *)};

enum { VALUE_MAX_SIZE = 65536 };

int bt_type_value(const char *name, size_t size, bt_type *out) {
  if (name == NULL || out == NULL)
    return bt__fail(BT_EINVAL, "bt_type_value: %s is NULL",
                    name == NULL ? "name" : "out");
  if (size < 1 || size > VALUE_MAX_SIZE)
    return bt__fail(BT_EINVAL,
                    "bt_type_value(\"%s\"): size %zu is outside 1 .. %d", name,
                    size, VALUE_MAX_SIZE);
  *out = (bt_type){.struct_size = sizeof(bt_type), .name = name, .size = size};
  return BT_OK;
}

int bt__type_check(const bt_type *t, const char *op) {
  if (t == NULL) return BT_OK;
  if (bt__type_size_check(t, op) != BT_OK) return BT_EINVAL;
  if (t->size < 1 || t->size > BT__TYPE_MAX_SIZE)
    return bt__fail(BT_EINVAL, "%s: type %s has size %zu, outside 1 .. %zu", op,
                    t->name ? t->name : "(unnamed)", t->size,
                    BT__TYPE_MAX_SIZE);
  return BT_OK;
}
