/* SPDX-License-Identifier: BSD-3-Clause */
/* share.c: ranks sharing a node. When several MPI ranks of one node run
 * with the same cpuset (mpirun --bind-to none), each takes its own share
 * of the cores, NUMA node by NUMA node, before placement: the allowed
 * cpuset is cut to the share, and placement (placement.c) works within it
 * as usual.
 *
 * The runtime is created before MPI is attached (often before MPI_Init),
 * so the node-local rank comes from the launcher's environment: Open MPI's
 * OMPI_COMM_WORLD_LOCAL_RANK / _LOCAL_SIZE, MPICH Hydra's MPI_LOCALRANKID /
 * MPI_LOCALNRANKS, or PMI_LOCAL_RANK / PMI_LOCAL_SIZE. The bridge checks
 * it against MPI_COMM_TYPE_SHARED at attach (mpi/bridge.c) and reports
 * ranks whose workers overlap. A rank the launcher bound narrower than the
 * machine (--bind-to core, socket, numa) keeps its cpuset: the launcher
 * already chose. BATON_SHARE=0 turns the share off. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>

#include "runtime_int.h"

static const struct {
  const char *rank, *size;
} sources[] = {
    {"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
    {"PMI_LOCAL_RANK", "PMI_LOCAL_SIZE"},
};

static int env_int(const char *name, long lo, long hi, long *out) {
  const char *v = getenv(name);
  if (!v || !v[0]) return 0;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
    return bt__fail(BT_EINVAL, "%s='%s' is not an integer in %ld..%ld", name, v,
                    lo, hi);
  *out = n;
  return 1;
}

int bt__local_ranks(int *rank, int *size, const char **source) {
  for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
    long r = -1, n = 0;
    int has_r = env_int(sources[i].rank, 0, BT__MAX_WORKERS, &r);
    if (has_r < 0) return has_r;
    int has_n = env_int(sources[i].size, 1, BT__MAX_WORKERS, &n);
    if (has_n < 0) return has_n;
    if (!has_r || !has_n) continue;
    if (r >= n)
      return bt__fail(BT_EINVAL, "%s=%ld is not below %s=%ld", sources[i].rank,
                      r, sources[i].size, n);
    *rank = (int)r;
    *size = (int)n;
    *source = sources[i].rank;
    return 1;
  }
  return 0;
}

/* The units shares are made of: the cores of allowed (PUs on a topology
 * without cores, or when there are fewer cores than ranks), NUMA node by
 * NUMA node, in logical order within a node. Returns their count and
 * fills units (caller frees) or -1 without memory. */
static int units_of(hwloc_topology_t topo, hwloc_const_bitmap_t allowed,
                    int ranks, hwloc_obj_t **out) {
  hwloc_obj_type_t type = HWLOC_OBJ_CORE;
  int n = hwloc_get_nbobjs_inside_cpuset_by_type(topo, allowed, type);
  if (n < ranks) {
    type = HWLOC_OBJ_PU;
    n = hwloc_get_nbobjs_inside_cpuset_by_type(topo, allowed, type);
  }
  if (n <= 0) return 0;
  hwloc_obj_t *units = calloc((size_t)n, sizeof *units);
  hwloc_bitmap_t seen = hwloc_bitmap_alloc();
  if (!units || !seen) {
    free(units);
    hwloc_bitmap_free(seen);
    return -1;
  }
  int k = 0;
  int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  /* One more round with the whole set picks up units outside every
   * node's cpuset (there should be none). */
  for (int i = 0; i <= nodes && k < n; i++) {
    hwloc_const_bitmap_t within = allowed;
    hwloc_bitmap_t both = NULL;
    if (i < nodes) {
      hwloc_obj_t node =
          hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
      both = hwloc_bitmap_alloc();
      if (!both) break;
      hwloc_bitmap_and(both, node->cpuset, allowed);
      within = both;
    }
    hwloc_obj_t o = NULL;
    while (k < n && (o = hwloc_get_next_obj_inside_cpuset_by_type(
                         topo, within, type, o)) != NULL) {
      if (hwloc_bitmap_isincluded(o->cpuset, seen)) continue;
      hwloc_bitmap_or(seen, seen, o->cpuset);
      units[k++] = o;
    }
    hwloc_bitmap_free(both);
  }
  hwloc_bitmap_free(seen);
  *out = units;
  return k;
}

int bt__share_restrict(hwloc_topology_t topo, hwloc_bitmap_t allowed,
                       bt__share *out) {
  bt__share s = {.rank = -1};
  long on = 1;
  int rc = env_int("BATON_SHARE", 0, 1, &on);
  if (rc < 0) return rc;
  rc = bt__local_ranks(&s.rank, &s.size, &s.source);
  if (rc < 0) return rc;
  if (rc == 0 || s.size <= 1 || !on) {
    *out = s;
    return BT_OK;
  }
  /* A rank bound narrower than the machine keeps what the launcher gave. */
  if (!hwloc_bitmap_isequal(allowed, hwloc_topology_get_allowed_cpuset(topo))) {
    s.launcher_bound = 1;
    *out = s;
    return BT_OK;
  }
  hwloc_obj_t *units = NULL;
  int n = units_of(topo, allowed, s.size, &units);
  if (n < 0) return bt__fail(BT_ENOMEM, "cannot allocate the share");
  if (n == 0) {
    *out = s;
    return BT_OK;
  }
  hwloc_bitmap_t share = hwloc_bitmap_alloc();
  if (!share) {
    free(units);
    return bt__fail(BT_ENOMEM, "cannot allocate the share");
  }
  int first, last; /* units first .. last - 1 */
  if (n >= s.size) {
    first = (int)((long)s.rank * n / s.size);
    last = (int)((long)(s.rank + 1) * n / s.size);
  } else {
    /* More ranks than PUs: one each, round robin; some share one. */
    first = s.rank % n;
    last = first + 1;
    s.overlap = s.rank >= n || s.rank + n < s.size;
  }
  for (int k = first; k < last; k++)
    hwloc_bitmap_or(share, share, units[k]->cpuset);
  hwloc_bitmap_and(share, share, allowed);
  free(units);
  hwloc_bitmap_copy(allowed, share);
  hwloc_bitmap_free(share);
  s.applied = 1;
  *out = s;
  return BT_OK;
}
