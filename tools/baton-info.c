/* SPDX-License-Identifier: BSD-3-Clause */
/* baton-info: the topology, and the placement the runtime makes with the
 * current options and environment. */
#define _POSIX_C_SOURCE 200809L /* gethostname */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_int.h"
#include "simd.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: baton-info [--workers N] [--bind core|pu|numa|none]\n"
          "                  [--topology SYNTHETIC|FILE.xml] [--help]\n"
          "\n"
          "Prints the topology (packages, NUMA nodes with their PUs, cores,\n"
          "PUs), the cpuset the process may use, and where a runtime created\n"
          "with these options puts each worker. Options override the\n"
          "environment variables BATON_WORKERS, BATON_BIND, BATON_TOPOLOGY.\n"
          "The SIMD line names the kernels' level (BATON_SIMD: auto, sse2,\n"
          "avx2, avx512).\n"
          "Example: baton-info --topology 'pack:2 [numa] core:4 pu:2'\n");
}

/* Under mpirun: the host, the rank the launcher gave, and the node-local
 * rank the runtime took its share of the node with (core/share.c). */
static void print_rank(const bt_runtime *rt) {
  char host[256] = "?";
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
  host[sizeof host - 1] = 0;
  static const char *const rank_vars[][2] = {
      {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
      {"PMI_RANK", "PMI_SIZE"},
      {"PMIX_RANK", NULL}};
  const char *rank = NULL, *size = NULL;
  for (size_t i = 0; i < sizeof rank_vars / sizeof rank_vars[0] && !rank; i++) {
    rank = getenv(rank_vars[i][0]);
    size = rank_vars[i][1] ? getenv(rank_vars[i][1]) : NULL;
  }
  printf("Host: %s", host);
  if (rank)
    printf(", MPI rank %s%s%s", rank, size ? " of " : "", size ? size : "");
  putchar('\n');
  const bt__share *s = &rt->share;
  if (s->size <= 0) return;
  printf("Node-local rank: %d of %d (%s): ", s->rank, s->size, s->source);
  if (s->applied)
    printf("this rank's share of the node%s\n",
           s->overlap ? ", PUs shared with other ranks (more ranks than PUs)"
                      : "");
  else if (s->launcher_bound)
    printf("the launcher bound it: its cpuset kept\n");
  else if (s->size > 1)
    printf("no share taken (BATON_SHARE=0)\n");
  else
    printf("alone on the node\n");
}

int main(int argc, char **argv) {
  /* Command-line options go through the environment variables, so that
   * they win over an inherited environment and are checked the same way. */
  for (int i = 1; i < argc; i++) {
    const char *var = NULL;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--workers") == 0) {
      var = "BATON_WORKERS";
    } else if (strcmp(argv[i], "--bind") == 0) {
      var = "BATON_BIND";
    } else if (strcmp(argv[i], "--topology") == 0) {
      var = "BATON_TOPOLOGY";
    } else {
      fprintf(stderr, "baton-info: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
    if (i + 1 >= argc || argv[i + 1][0] == '\0') {
      fprintf(stderr, "baton-info: %s needs a value\n", argv[i]);
      return 2;
    }
    setenv(var, argv[++i], 1);
  }

  printf("baton %s (%s)\n", bt_version(), bt_build_features());
  printf("SIMD: %s (%s; this CPU runs:", bt__simd_level_name(bt__simd_level()),
         bt__simd_reason());
  for (int l = 0; l < bt__simd_levels(); l++)
    if (bt__simd_level_supported(l, NULL))
      printf(" %s", bt__simd_level_name(l));
  printf(")\n");
  bt_runtime *rt = NULL;
  int rc = bt_runtime_create(NULL, &rt);
  if (rc != BT_OK) {
    fprintf(stderr, "baton-info: %s: %s\n", bt_status_name(rc), bt_errmsg());
    return 1;
  }
  const char *topology = getenv("BATON_TOPOLOGY");
  if (bt__runtime_is_this_machine(rt))
    printf("Topology: this machine\n");
  else if (topology && topology[0])
    printf("Topology: '%s'\n", topology);
  else
    printf(
        "Topology: not this machine (hwloc's HWLOC_XMLFILE or "
        "HWLOC_SYNTHETIC replaced it)\n");
  print_rank(rt);
  bt__topology_print(rt->topo, rt->allowed, stdout);

  printf("Placement: %d workers on %d NUMA nodes, bind %s\n",
         bt_runtime_workers(rt), bt_runtime_numa_nodes(rt),
         bt__bind_name(rt->bind));
  for (int n = 0; n < rt->place.numa_nodes; n++) {
    const bt__numa *numa = &rt->place.numa[n];
    printf("  numa %d (OS node %d): workers %d-%d\n", n, numa->os_index,
           numa->first_worker, numa->first_worker + numa->workers - 1);
  }
  for (int w = 0; w < bt_runtime_workers(rt); w++) {
    char line[256];
    if (bt_worker_describe(rt, w, line, sizeof line) == BT_OK)
      printf("  %s\n", line);
  }
  if (bt_runtime_bound(rt))
    printf("Binds: yes\n");
  else if (!bt__runtime_is_this_machine(rt))
    printf("Binds: no (the topology is not this machine's)\n");
  else if (rt->bind == BT_BIND_NONE)
    printf("Binds: no (bind none)\n");
  else
    printf("Binds: no (binding failed)\n");
  printf("Oversubscribed: %s\n", bt_runtime_oversubscribed(rt)
                                     ? "yes (several workers share a PU)"
                                     : "no");
  rc = bt_runtime_destroy(rt);
  return rc == BT_OK ? 0 : 1;
}
