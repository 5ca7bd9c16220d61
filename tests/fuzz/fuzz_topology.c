/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_topology.c: the topology parser and the placement. Any string is
 * either refused (BT_EINVAL / BT_ETOPO, never a crash) or loads; a loaded
 * topology placed with any worker count, bind mode and allowed cpuset
 * passes the placement's own invariant checker (contiguous ids per node,
 * every worker on its node's allowed PUs, bind sets within the node) and
 * agrees with the counts it reports. Descriptions with large counts are
 * skipped: hwloc's own load time, not baton's, would dominate. */
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
  if (size < 3 || size > 80) return 0;
  int workers = data[0] % 70; /* 0: one per core; beyond the PUs too */
  bt_bind bind = (bt_bind)(data[1] % 4);
  unsigned allowed_mask = data[2];
  char desc[80];
  memcpy(desc, data + 3, size - 3);
  desc[size - 3] = '\0';
  if (strlen(desc) != size - 3 || desc[0] == '\0') return 0;
  /* No file names: the fuzzer reads no files of the machine. */
  if (strchr(desc, '/') || strstr(desc, ".xml")) return 0;
  long product = 1;
  for (const char *c = desc; *c;) {
    if (*c < '0' || *c > '9') {
      c++;
      continue;
    }
    long n = strtol(c, (char **)&c, 10);
    if (n > 64) return 0;
    if (n > 1 && (product *= n) > 4096) return 0;
  }
  struct hwloc_topology *topo = NULL;
  int rc = bt__topology_load(desc, &topo);
  if (rc != BT_OK) {
    CHECK(rc == BT_EINVAL || rc == BT_ETOPO);
    CHECK(bt_errmsg()[0] != '\0');
    return 0;
  }
  /* An allowed cpuset of the PUs whose index bit is set in the mask
   * (indexes modulo 8), or the whole topology when the mask is 0. */
  struct hwloc_bitmap_s *allowed = NULL;
  if (allowed_mask) {
    char list[4096] = "";
    size_t at = 0;
    for (int cpu = 0; cpu < 512 && at + 8 < sizeof list; cpu++)
      if (allowed_mask & (1u << (cpu % 8)))
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%d",
                               at ? "," : "", cpu);
    CHECK(bt__cpuset_parse(list, &allowed) == BT_OK);
  }
  bt__placement p;
  rc = bt__place(topo, allowed, workers, bind, &p);
  if (rc == BT_OK) {
    CHECK(bt__placement_check(&p) == BT_OK);
    CHECK(workers == 0 ? p.workers == p.cores : p.workers == workers);
    CHECK(p.oversubscribed == (p.workers > p.pus));
    for (int w = 0; w < p.workers; w++) {
      CHECK(allowed == NULL || bt__cpuset_isset(allowed, p.slot[w].pu_os));
      CHECK((p.slot[w].bind_set == NULL) == (bind == BT_BIND_NONE));
    }
    bt__placement_free(&p);
  } else {
    CHECK(rc == BT_ETOPO); /* no PU allowed, or no NUMA node */
  }
  bt__cpuset_free(allowed);
  bt__topology_free(topo);
  return 0;
}
