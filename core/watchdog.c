/* SPDX-License-Identifier: BSD-3-Clause */
/* watchdog.c: BATON_WATCHDOG, a report of waits that last too long.
 *
 * No thread of its own: a blocking wait arms a watch and sleeps at most
 * until the watch fires, then reports what it waits on, once, and goes
 * back to sleep until its own deadline. The wait knows what it waits on
 * and who holds it better than any outside observer could. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>

#include "core_int.h"

/* atomic: nanoseconds, 0 off; set by bt_runtime_create() from
 * BATON_WATCHDOG. Process-wide: the waits of channels belong to no
 * runtime. */
_Atomic int64_t bt__watchdog_ns;

int bt__watch_due(bt__watch *w) {
  if (w->fire < 0 || bt__now_ns() < w->fire) return 0;
  w->fire = -1; /* once per wait */
  return 1;
}

void bt__watch_report(const bt__watch *w, const char *fmt, ...) {
  char what[768], who[96];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (bt_self() >= 0)
    snprintf(who, sizeof who, "worker %d (thread %" PRIu64 ")", bt_self(),
             bt__thread_id());
  else
    snprintf(who, sizeof who, "thread %" PRIu64, bt__thread_id());
  int rank = bt__rank();
  char rank_s[24] = "";
  if (rank >= 0) snprintf(rank_s, sizeof rank_s, "rank %d ", rank);
  /* One fprintf: lines of several waiters do not interleave. */
  fprintf(stderr, "baton watchdog: %s%s has waited %.1f s for %s\n", rank_s,
          who, (double)(bt__now_ns() - w->start) * 1e-9, what);
}
