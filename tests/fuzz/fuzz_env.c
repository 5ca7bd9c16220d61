/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_env.c: the environment parsers (BATON_WORKERS, BATON_BIND) and the
 * cpuset list parser, against their documented ranges: an accepted value
 * is in range and reads back as given; a refused one answers BT_EINVAL
 * with a message naming it, and leaves the output untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_int.h"

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 64) return 0;
  char value[65];
  memcpy(value, data + 1, size - 1);
  value[size - 1] = '\0';
  if (strlen(value) != size - 1) return 0; /* an embedded NUL */
  static const char *vars[] = {"BATON_WORKERS", "BATON_BIND"};
  const char *var = vars[data[0] & 1];
  unsetenv("BATON_WORKERS");
  unsetenv("BATON_BIND");
  unsetenv("BATON_TOPOLOGY");
  setenv(var, value, 1);
  bt_options in = BT_OPTIONS_DEFAULT,
             out = {sizeof(bt_options), -7, (bt_bind)-7, "untouched"};
  int rc = bt__options_resolve(&in, &out);
  if (value[0] == '\0') {
    CHECK(rc == BT_OK && out.workers == 0 && out.bind == BT_BIND_CORE);
  } else if (rc == BT_OK) {
    if (var == vars[0]) {
      CHECK(out.workers >= 1 && out.workers <= BT__MAX_WORKERS);
      CHECK(out.workers == strtol(value, NULL, 10));
    } else {
      CHECK(out.bind >= BT_BIND_CORE && out.bind <= BT_BIND_NONE);
    }
  } else {
    CHECK(rc == BT_EINVAL);
    CHECK(out.workers == -7 && out.topology &&
          !strcmp(out.topology, "untouched"));
    CHECK(strstr(bt_errmsg(), var) != NULL);
  }
  unsetenv(var);

  struct hwloc_bitmap_s *set = NULL;
  rc = bt__cpuset_parse(value, &set);
  if (rc == BT_OK) {
    /* What it formats to parses to the same set. */
    char list[256];
    bt__cpuset_format(set, list, sizeof list);
    struct hwloc_bitmap_s *again = NULL;
    if (strlen(list) + 1 < sizeof list &&
        bt__cpuset_parse(list, &again) == BT_OK) {
      for (int cpu = 0; cpu < 4096; cpu++)
        CHECK(bt__cpuset_isset(set, cpu) == bt__cpuset_isset(again, cpu));
      bt__cpuset_free(again);
    }
    bt__cpuset_free(set);
  } else {
    CHECK(rc == BT_EINVAL || rc == BT_ENOMEM);
  }
  return 0;
}
