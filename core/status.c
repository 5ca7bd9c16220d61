/* SPDX-License-Identifier: BSD-3-Clause */
/* status.c: status strings and the thread's last error message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core_int.h"

static _Thread_local char last_error[512];

const char *bt_strerror(int code) {
  switch (code) {
#define BT_STATUS_TEXT_(name, value, text) \
  case value:                              \
    return text;
    BT_STATUS_TABLE(BT_STATUS_TEXT_)
#undef BT_STATUS_TEXT_
  }
  return "unknown status";
}

const char *bt_status_name(int code) {
  switch (code) {
#define BT_STATUS_NAME_(name, value, text) \
  case value:                              \
    return #name;
    BT_STATUS_TABLE(BT_STATUS_NAME_)
#undef BT_STATUS_NAME_
  }
  return "BT_UNKNOWN";
}

const char *bt_errmsg(void) { return last_error; }

int bt__fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return code;
}

int bt__bad_handle(const char *op, const char *kind, const void *handle) {
  if (handle == NULL)
    return bt__fail(BT_EINVAL, "%s: the %s is NULL", op, kind);
  return bt__fail(BT_EINVAL,
                  "%s: %p is not a live %s (released, destroyed, or never "
                  "one)",
                  op, handle, kind);
}

bool bt__debug_checks(void) {
  /* Benign race on first use: every thread computes the same value.
   * relaxed: the value depends on nothing else in memory. */
  static _Atomic int cached = -1;
  int v = atomic_load_explicit(&cached, memory_order_relaxed);
  if (v < 0) {
    const char *e = getenv("BATON_DEBUG_CHECK");
    v = (e && e[0] == '1') ? 1 : 0;
    atomic_store_explicit(&cached, v, memory_order_relaxed);
  }
  return v == 1;
}

void bt__assert_fail(const char *cond, const char *file, int line,
                     const char *func) {
  fprintf(stderr, "baton: internal invariant broken: %s (%s:%d, %s)\n", cond,
          file, line, func);
  abort();
}
