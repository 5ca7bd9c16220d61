/* SPDX-License-Identifier: BSD-3-Clause */
/* baton_f.h: the C glue of the Fortran modules (fortran/baton_f.c). Not a
 * public header: Fortran code reaches these through module baton. */
#ifndef BATON_F_H
#define BATON_F_H

#include "baton/type.h"

/* 0 f64, 1 i64, 2 i32, 3 slice, 4 ptr (BT_TYPE_* of module baton); NULL
 * for another value. */
BT_API const bt_type *bt_f_type(int which);
/* A value type of size bytes named name (up to 63 characters kept), or a
 * status; free it with bt_f_type_free() when no channel uses it. */
BT_API int bt_f_type_value(const char *name, size_t size, const bt_type **out);
BT_API void bt_f_type_free(const bt_type *t);

#endif /* BATON_F_H */
