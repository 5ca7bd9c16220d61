/* SPDX-License-Identifier: BSD-3-Clause */
/* misuse.c: see misuse.h. */
#include "misuse.h"

#include <stdio.h>
#include <string.h>

#include "core_int.h" /* bt__fail, to clear the message between rows */

void misuse_expect_ptr(char *expect, const void *p) {
  if (p == NULL)
    snprintf(expect, MISUSE_EXPECT_LEN, "NULL");
  else
    snprintf(expect, MISUSE_EXPECT_LEN, "%p", p);
}

void misuse_expect_str(char *expect, const char *s) {
  snprintf(expect, MISUSE_EXPECT_LEN, "%s", s);
}

void misuse_run(const misuse *rows, size_t n, fixture *f, char *expect) {
  for (size_t i = 0; i < n; i++) {
    if (rows[i].freed && MISUSE_SKIP_FREED) continue;
    expect[0] = '\0';
    (void)bt__fail(BT_OK, "%s", ""); /* a row must set its own message */
    int got = rows[i].call(f);
    if (got != rows[i].want)
      bt_test_fail(__FILE__, __LINE__,
                   "%s: got %d (%s), want %d (%s); errmsg: %s", rows[i].what,
                   got, bt_status_name(got), rows[i].want,
                   bt_status_name(rows[i].want), bt_errmsg());
    if (expect[0] && !strstr(bt_errmsg(), expect))
      bt_test_fail(__FILE__, __LINE__, "%s: errmsg '%s' does not name '%s'",
                   rows[i].what, bt_errmsg(), expect);
  }
}

bt_runtime *misuse_dead_runtime(void) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = 1;
  o.topology = "pack:1 core:1 pu:1";
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  return rt;
}
