/* SPDX-License-Identifier: BSD-3-Clause */
/* topology.c: loading hwloc topologies, the allowed cpuset, binding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hwloc.h>

#include "runtime_int.h"

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int looks_like_path(const char *desc) {
  size_t n = strlen(desc);
  return strchr(desc, '/') != NULL ||
         (n >= 4 && strcmp(desc + n - 4, ".xml") == 0);
}

int bt__topology_load(const char *desc, hwloc_topology_t *out) {
  hwloc_topology_t topo;
  int rc;
  if (hwloc_topology_init(&topo) != 0)
    return bt__fail(BT_ENOMEM, "hwloc_topology_init failed: %s",
                    strerror(errno));
  if (desc) {
    if (is_file(desc)) {
      if (hwloc_topology_set_xml(topo, desc) != 0) {
        rc = bt__fail(BT_ETOPO, "topology '%s' cannot be read as hwloc XML: %s",
                      desc, strerror(errno));
        goto err_destroy;
      }
    } else if (looks_like_path(desc)) {
      rc = bt__fail(
          BT_EINVAL,
          "topology file '%s' does not exist or is not a regular file", desc);
      goto err_destroy;
    } else if (hwloc_topology_set_synthetic(topo, desc) != 0) {
      rc = bt__fail(BT_EINVAL,
                    "topology '%s' is neither a file nor a valid hwloc "
                    "synthetic description (like 'pack:2 [numa] core:4 pu:2')",
                    desc);
      goto err_destroy;
    }
  }
  if (hwloc_topology_load(topo) != 0) {
    if (desc)
      rc = bt__fail(BT_ETOPO, "topology '%s' cannot be loaded by hwloc: %s",
                    desc, strerror(errno));
    else
      rc = bt__fail(BT_ETOPO, "hwloc cannot read this machine's topology: %s",
                    strerror(errno));
    goto err_destroy;
  }
  *out = topo;
  return BT_OK;

err_destroy:
  hwloc_topology_destroy(topo);
  return rc;
}

int bt__topology_is_this_system(hwloc_topology_t topo) {
  return topo && hwloc_topology_is_thissystem(topo);
}

void bt__topology_free(hwloc_topology_t topo) {
  if (topo) hwloc_topology_destroy(topo);
}

int bt__topology_allowed(hwloc_topology_t topo, int this_machine,
                         hwloc_bitmap_t *allowed) {
  hwloc_bitmap_t set =
      hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
  if (!set) return bt__fail(BT_ENOMEM, "cannot allocate a cpuset");
  if (this_machine) {
    hwloc_bitmap_t bound = hwloc_bitmap_alloc();
    if (!bound) {
      hwloc_bitmap_free(set);
      return bt__fail(BT_ENOMEM, "cannot allocate a cpuset");
    }
    /* The process's binding is the union of its threads' (hwloc reads each
     * one): what taskset or mpirun --bind-to gave it, even when the calling
     * thread was bound narrower since. */
    if (hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_PROCESS) == 0 ||
        hwloc_get_cpubind(topo, bound, HWLOC_CPUBIND_THREAD) == 0) {
      hwloc_bitmap_and(bound, bound, set);
      if (!hwloc_bitmap_iszero(bound)) hwloc_bitmap_copy(set, bound);
    }
    hwloc_bitmap_free(bound);
  }
  *allowed = set;
  return BT_OK;
}

int bt__topology_bind_thread(hwloc_topology_t topo, hwloc_const_bitmap_t set) {
  if (!set) return BT_OK;
  if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0) {
    int e = errno;
    char list[256];
    hwloc_bitmap_list_snprintf(list, sizeof list, set);
    return bt__fail(BT_ETOPO,
                    "cannot bind %s %d to cpuset %s with hwloc: %s (errno %d)",
                    bt_self() >= 0 ? "worker" : "thread",
                    bt_self() >= 0 ? bt_self() : (int)bt__thread_id(), list,
                    strerror(e), e);
  }
  return BT_OK;
}

int bt__topology_thread_binding(hwloc_topology_t topo, char *buf, size_t len) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (!set) return bt__fail(BT_ENOMEM, "cannot allocate a cpuset");
  if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_THREAD) != 0) {
    int e = errno;
    hwloc_bitmap_free(set);
    return bt__fail(BT_ETOPO, "cannot read the thread's binding: %s",
                    strerror(e));
  }
  hwloc_bitmap_list_snprintf(buf, len, set);
  hwloc_bitmap_free(set);
  return BT_OK;
}

static void print_pus(hwloc_topology_t topo, hwloc_const_cpuset_t cpuset,
                      FILE *out) {
  char list[512];
  hwloc_bitmap_list_snprintf(list, sizeof list, cpuset);
  int n = hwloc_get_nbobjs_inside_cpuset_by_type(topo, cpuset, HWLOC_OBJ_PU);
  fprintf(out, "%d PUs (OS %s)", n, list);
}

void bt__topology_print(hwloc_topology_t topo, hwloc_const_bitmap_t allowed,
                        FILE *out) {
  hwloc_const_cpuset_t all = hwloc_topology_get_complete_cpuset(topo);
  char list[512];
  fprintf(out, "Packages: %d\n",
          hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE));
  int nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  fprintf(out, "NUMA nodes: %d\n", nodes);
  for (int i = 0; i < nodes; i++) {
    hwloc_obj_t node =
        hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    fprintf(out, "  node %d (OS %u): ", i, node->os_index);
    print_pus(topo, node->cpuset, out);
    if (node->attr && node->attr->numanode.local_memory)
      fprintf(out, ", %llu MiB",
              (unsigned long long)(node->attr->numanode.local_memory >> 20));
    fputc('\n', out);
  }
  fprintf(out, "Cores: %d\n", hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE));
  fprintf(out, "PUs: ");
  print_pus(topo, all, out);
  fputc('\n', out);
  if (allowed) {
    hwloc_bitmap_list_snprintf(list, sizeof list, allowed);
    fprintf(
        out, "Allowed cpuset: %s (%d cores, %d PUs)\n", list,
        hwloc_get_nbobjs_inside_cpuset_by_type(topo, allowed, HWLOC_OBJ_CORE),
        hwloc_get_nbobjs_inside_cpuset_by_type(topo, allowed, HWLOC_OBJ_PU));
  }
}

/* The largest CPU index a cpuset list may name. */
enum { CPUSET_MAX_INDEX = 1 << 22 };

int bt__cpuset_parse(const char *list, hwloc_bitmap_t *out) {
  if (!list) return bt__fail(BT_EINVAL, "cpuset list is NULL");
  /* Checked before hwloc sees it: only "N", "N-M" and "N-" items
   * separated by commas, every index up to CPUSET_MAX_INDEX. hwloc reads a
   * leading '-' as a negative number turned into a huge index ("-3,88"
   * spun for seconds: fuzz_env), and allocates a bitmap up to the largest
   * index ("0-4000000000" would take half a gigabyte). */
  unsigned long long first = 0; /* of a range "N-M": N */
  int in_range = 0;
  for (const char *c = list; *c;) {
    if (*c < '0' || *c > '9')
      return bt__fail(BT_EINVAL, "'%s' is not a cpuset list like '0-3,8'",
                      list);
    /* hwloc reads numbers in C's bases: "08" is an octal 0 followed by
     * an '8' it never consumes, and it spins ("08-44": fuzz_env). */
    if (c[0] == '0' && c[1] >= '0' && c[1] <= '9')
      return bt__fail(BT_EINVAL, "'%s': a CPU index with a leading zero", list);
    unsigned long long n = 0;
    for (; *c >= '0' && *c <= '9'; c++)
      if ((n = n * 10 + (unsigned)(*c - '0')) > CPUSET_MAX_INDEX)
        return bt__fail(BT_EINVAL, "'%s' names a CPU beyond index %d", list,
                        CPUSET_MAX_INDEX);
    /* hwloc spins on a range that runs backwards ("9-4": fuzz_env). */
    if (in_range && n < first)
      return bt__fail(BT_EINVAL, "'%s': the range %llu-%llu runs backwards",
                      list, first, n);
    in_range = 0;
    if (*c == '-' && (c[1] == '\0' || c[1] == ',')) c++; /* "N-": onwards */
    if (*c == '-' && c[1] >= '0' && c[1] <= '9') {       /* "N-M" */
      c++;
      first = n;
      in_range = 1;
    } else if (*c == ',' && c[1] != '\0') {
      c++;
    } else if (*c != '\0')
      return bt__fail(BT_EINVAL, "'%s' is not a cpuset list like '0-3,8'",
                      list);
  }
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (!set) return bt__fail(BT_ENOMEM, "cannot allocate a cpuset");
  if (hwloc_bitmap_list_sscanf(set, list) != 0) {
    hwloc_bitmap_free(set);
    return bt__fail(BT_EINVAL, "'%s' is not a cpuset list like '0-3,8'", list);
  }
  *out = set;
  return BT_OK;
}

void bt__cpuset_free(hwloc_bitmap_t set) {
  if (set) hwloc_bitmap_free(set);
}

int bt__cpuset_isset(hwloc_const_bitmap_t set, int cpu) {
  return set && cpu >= 0 && hwloc_bitmap_isset(set, (unsigned)cpu);
}

void bt__cpuset_format(hwloc_const_bitmap_t set, char *buf, size_t len) {
  if (!set)
    snprintf(buf, len, "none");
  else
    hwloc_bitmap_list_snprintf(buf, len, set);
}
