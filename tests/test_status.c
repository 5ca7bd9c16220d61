/* SPDX-License-Identifier: BSD-3-Clause */
/* test_status.c: status codes, messages, version (baton/status.h,
 * baton/version.h). */
#include "test.h"
#include <pthread.h>

#include "core_int.h"

BT_TEST(every_code_has_a_string) {
  int seen = 0;
#define CHECK_CODE_(name, value, text)                          \
  BT_CHECK_STR(bt_strerror(name), text);                        \
  BT_CHECK_STR(bt_status_name(name), #name);                    \
  BT_CHECK(strcmp(bt_strerror(name), "unknown status") != 0);   \
  seen++;
  BT_STATUS_TABLE(CHECK_CODE_)
#undef CHECK_CODE_
  BT_CHECK_EQ(seen, BT_STATUS_COUNT);
}

BT_TEST(codes_are_distinct_and_negative) {
  int codes[] = {
#define LIST_CODE_(name, value, text) name,
      BT_STATUS_TABLE(LIST_CODE_)
#undef LIST_CODE_
  };
  int n = (int)(sizeof codes / sizeof codes[0]);
  BT_CHECK_EQ(codes[0], BT_OK);
  BT_CHECK_EQ(BT_OK, 0);
  for (int i = 1; i < n; i++) {
    BT_CHECK_CMP(codes[i], <, 0);
    for (int j = 0; j < i; j++) BT_CHECK_NE(codes[i], codes[j]);
  }
}

BT_TEST(unknown_code) {
  BT_CHECK_STR(bt_strerror(12345), "unknown status");
  BT_CHECK_STR(bt_status_name(-999), "BT_UNKNOWN");
}

static void *other_thread(void *arg) {
  (void)arg;
  BT_CHECK_STR(bt_errmsg(), "");
  BT_CHECK_EQ(bt__fail(BT_EBUSY, "other %d", 2), BT_EBUSY);
  BT_CHECK_STR(bt_errmsg(), "other 2");
  return NULL;
}

BT_TEST(errmsg_is_per_thread) {
  BT_CHECK_EQ(bt__fail(BT_EINVAL, "axis %d of %d", 3, 2), BT_EINVAL);
  BT_CHECK_STR(bt_errmsg(), "axis 3 of 2");
  pthread_t t;
  BT_CHECK_EQ(pthread_create(&t, NULL, other_thread, NULL), 0);
  pthread_join(t, NULL);
  BT_CHECK_STR(bt_errmsg(), "axis 3 of 2");
}

BT_TEST(version) {
  BT_CHECK_STR(bt_version(), BT_VERSION_STRING);
  BT_CHECK_EQ(bt_version_number(), BT_VERSION);
  BT_CHECK(strstr(bt_build_features(), "hwloc") != NULL);
}
