/* SPDX-License-Identifier: BSD-3-Clause */
/* abi.c: the structs a caller fills (bt_options, bt_job, bt_type), read
 * whatever baton version the caller was compiled against.
 *
 * Each starts with size_t struct_size, which the public initialisers set to
 * the caller's sizeof. A layout of an older header is a prefix of this
 * library's: it is accepted, and the fields past it take their defaults. A
 * size past this library's comes from a newer header and is refused, as is
 * anything that is not the end of a field (0: a struct never initialised;
 * a stray value: a positional initialiser written before struct_size). */
#include <string.h>

#include "core_int.h"

#define END(type, field) BT__FIELD_END(type, field)

static const size_t options_ends[] = {
    END(bt_options, struct_size), END(bt_options, workers),
    END(bt_options, bind), END(bt_options, topology)};
static const bt__struct_layout options_layout = {
    "bt_options", "BT_OPTIONS_INIT", END(bt_options, struct_size),
    sizeof options_ends / sizeof options_ends[0], options_ends};

static const size_t job_ends[] = {
    END(bt_job, fn),  END(bt_job, ctx),  END(bt_job, arg_type),
    END(bt_job, arg), END(bt_job, mode), END(bt_job, result_type)};
static const bt__struct_layout job_layout = {
    "bt_job", "BT_JOB_INIT", END(bt_job, fn),
    sizeof job_ends / sizeof job_ends[0], job_ends};

/* The library holds on to a type, so its fields are never copied: the
 * first layout (DESIGN.md's, up to wire) is required, and a field added
 * after it is read only where BT__TYPE_HAS() says the type has it. */
static const size_t type_ends[] = {END(bt_type, wire), END(bt_type, numa_of)};
static const bt__struct_layout type_layout = {
    "bt_type", "BT_TYPE_INIT", END(bt_type, wire),
    sizeof type_ends / sizeof type_ends[0], type_ends};

/* A field added to a struct must be added to its table above too. */
_Static_assert(END(bt_options, topology) == sizeof(bt_options),
               "options_ends misses a field of bt_options");
_Static_assert(END(bt_job, result_type) == sizeof(bt_job),
               "job_ends misses a field of bt_job");
_Static_assert(END(bt_type, numa_of) == sizeof(bt_type),
               "type_ends misses a field of bt_type");

static int size_check(const bt__struct_layout *l, size_t size, const char *op) {
  char why[256];
  if (bt__struct_size_why(l, size, why, sizeof why) != 0)
    return bt__fail(BT_EINVAL, "%s: %s", op, why);
  return BT_OK;
}

/* Copy the caller's prefix over the defaults already in out. */
static int adopt(const bt__struct_layout *l, const void *in, void *out,
                 const char *op) {
  size_t size;
  memcpy(&size, in, sizeof size);
  if (size_check(l, size, op) != BT_OK) return BT_EINVAL;
  memcpy((char *)out + sizeof size, (const char *)in + sizeof size,
         size - sizeof size);
  return BT_OK;
}

int bt__options_adopt(const bt_options *in, bt_options *out, const char *op) {
  bt_options o = BT_OPTIONS_DEFAULT;
  if (adopt(&options_layout, in, &o, op) != BT_OK) return BT_EINVAL;
  *out = o;
  return BT_OK;
}

int bt__job_adopt(const bt_job *in, bt_job *out, const char *op) {
  bt_job j = BT_JOB_INIT;
  if (adopt(&job_layout, in, &j, op) != BT_OK) return BT_EINVAL;
  *out = j;
  return BT_OK;
}

int bt__type_size_check(const bt_type *t, const char *op) {
  return size_check(&type_layout, t->struct_size, op);
}
