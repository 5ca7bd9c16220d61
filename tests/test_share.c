/* SPDX-License-Identifier: BSD-3-Clause */
/* test_share.c: ranks sharing a node (core/share.c): each node-local rank
 * found in the launcher's variables takes its own share of the cores of a
 * shared cpuset, NUMA node by NUMA node, on synthetic topologies. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "runtime_int.h"
#include "test.h"

#define TWO_NUMA "pack:2 [numa] core:4 pu:2"

static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK",
                                   "OMPI_COMM_WORLD_LOCAL_SIZE",
                                   "MPI_LOCALRANKID",
                                   "MPI_LOCALNRANKS",
                                   "PMI_LOCAL_RANK",
                                   "PMI_LOCAL_SIZE",
                                   "BATON_SHARE",
                                   "BATON_WORKERS",
                                   "BATON_BIND",
                                   "BATON_TOPOLOGY"};

static void clear_env(void) {
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

static void set_local(const char *rank_var, const char *size_var, int rank,
                      int size) {
  char r[16], n[16];
  snprintf(r, sizeof r, "%d", rank);
  snprintf(n, sizeof n, "%d", size);
  setenv(rank_var, r, 1);
  setenv(size_var, n, 1);
}

static bt_runtime *make(int workers, const char *topology) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = workers;
  o.topology = topology;
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  return rt;
}

/* The OS indexes of the PUs rt's workers sit on, as a bit mask (< 64). */
static unsigned long long worker_pus(const bt_runtime *rt) {
  unsigned long long mask = 0;
  for (int w = 0; w < bt_runtime_workers(rt); w++) {
    int cpu = bt_worker_cpu(rt, w);
    BT_CHECK(cpu >= 0 && cpu < 64);
    mask |= 1ull << cpu;
  }
  return mask;
}

/* Two ranks on two NUMA nodes of 4 cores: one node each, 4 workers each. */
BT_TEST_TOPO(two_ranks_one_numa_node_each) {
  clear_env();
  unsigned long long seen = 0;
  for (int r = 0; r < 2; r++) {
    set_local("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", r, 2);
    bt_runtime *rt = make(0, TWO_NUMA);
    BT_CHECK_EQ(bt_runtime_workers(rt), 4);
    BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 1);
    BT_CHECK_EQ(bt__runtime_numa_os_index(rt, 0), r);
    int lr = -1, ls = 0;
    BT_CHECK_EQ(bt__runtime_local_rank(rt, &lr, &ls), 2);
    BT_CHECK_EQ(lr, r);
    BT_CHECK_EQ(ls, 2);
    BT_CHECK_EQ(bt_runtime_oversubscribed(rt), 0);
    unsigned long long pus = worker_pus(rt);
    BT_CHECK_EQ(pus & seen, 0ull); /* disjoint from the other rank's */
    seen |= pus;
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
  clear_env();
}

/* Three ranks on 8 cores (MPICH's variables): runs of 2, 3 and 3 cores
 * (r * 8 / 3), disjoint, together every core; the middle rank straddles the
 * NUMA boundary. */
BT_TEST_TOPO(three_ranks_mpich_variables) {
  clear_env();
  static const int cores[] = {2, 3, 3};
  unsigned long long seen = 0;
  for (int r = 0; r < 3; r++) {
    set_local("MPI_LOCALRANKID", "MPI_LOCALNRANKS", r, 3);
    bt_runtime *rt = make(0, TWO_NUMA);
    BT_CHECK_EQ(bt_runtime_workers(rt), cores[r]);
    BT_CHECK_EQ(bt_runtime_numa_nodes(rt), r == 1 ? 2 : 1);
    unsigned long long pus = worker_pus(rt);
    BT_CHECK_EQ(pus & seen, 0ull);
    seen |= pus;
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
  /* One worker on the first PU of each of the 8 cores. */
  BT_CHECK_EQ(seen, 0x5555ull);
  clear_env();
}

/* BATON_WORKERS beyond the share stays in the share (its PUs first, then
 * oversubscribed and reported), never on another rank's. */
BT_TEST_TOPO(workers_beyond_the_share) {
  clear_env();
  set_local("PMI_LOCAL_RANK", "PMI_LOCAL_SIZE", 1, 4); /* cores 2-3 */
  bt_runtime *rt = make(4, TWO_NUMA);
  BT_CHECK_EQ(worker_pus(rt), 0xf0ull); /* PUs 4-7: both PUs of 2 cores */
  BT_CHECK_EQ(bt_runtime_oversubscribed(rt), 0);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  rt = make(6, TWO_NUMA);
  BT_CHECK_EQ(worker_pus(rt), 0xf0ull);
  BT_CHECK_EQ(bt_runtime_oversubscribed(rt), 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  clear_env();
}

/* More ranks than cores: shares of PUs; more ranks than PUs: one PU each,
 * round robin, reported as overlapping. */
BT_TEST_TOPO(more_ranks_than_cores) {
  clear_env();
  unsigned long long seen = 0;
  for (int r = 0; r < 4; r++) {
    set_local("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", r, 4);
    bt_runtime *rt = make(0, "core:2 pu:2");
    unsigned long long pus = worker_pus(rt);
    BT_CHECK_EQ(pus & seen, 0ull);
    seen |= pus;
    BT_CHECK_EQ(bt_runtime_workers(rt), 1);
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
  BT_CHECK_EQ(seen, 0xfull);
  set_local("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", 5, 6);
  bt_runtime *rt = make(0, "core:2 pu:2");
  BT_CHECK_EQ(worker_pus(rt), 1ull << 1); /* PU 5 % 4 */
  BT_CHECK_EQ(rt->share.overlap, 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  clear_env();
}

/* No launcher variables, one rank on the node, or BATON_SHARE=0: the whole
 * cpuset. */
BT_TEST_TOPO(no_share) {
  clear_env();
  bt_runtime *rt = make(0, TWO_NUMA);
  BT_CHECK_EQ(bt_runtime_workers(rt), 8);
  int lr, ls;
  BT_CHECK_EQ(bt__runtime_local_rank(rt, &lr, &ls), 0);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  set_local("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", 0, 1);
  rt = make(0, TWO_NUMA);
  BT_CHECK_EQ(bt_runtime_workers(rt), 8);
  BT_CHECK_EQ(bt__runtime_local_rank(rt, &lr, &ls), 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  set_local("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", 1, 2);
  setenv("BATON_SHARE", "0", 1);
  rt = make(0, TWO_NUMA);
  BT_CHECK_EQ(bt_runtime_workers(rt), 8);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  clear_env();
}

/* Garbage in the launcher's variables or BATON_SHARE: BT_EINVAL naming the
 * variable and its value. */
BT_TEST_TOPO(bad_local_rank_variables) {
  static const struct {
    const char *rank_var, *rank, *size_var, *size, *want;
  } bad[] = {
      {"OMPI_COMM_WORLD_LOCAL_RANK", "abc", "OMPI_COMM_WORLD_LOCAL_SIZE", "2",
       "OMPI_COMM_WORLD_LOCAL_RANK='abc'"},
      {"MPI_LOCALRANKID", "0", "MPI_LOCALNRANKS", "0", "MPI_LOCALNRANKS='0'"},
      {"PMI_LOCAL_RANK", "3", "PMI_LOCAL_SIZE", "2",
       "PMI_LOCAL_RANK=3 is not below PMI_LOCAL_SIZE=2"},
      {"BATON_SHARE", "yes", "OMPI_COMM_WORLD_LOCAL_SIZE", "2",
       "BATON_SHARE='yes'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clear_env();
    setenv(bad[i].rank_var, bad[i].rank, 1);
    setenv(bad[i].size_var, bad[i].size, 1);
    bt_options o = BT_OPTIONS_DEFAULT;
    o.topology = TWO_NUMA;
    bt_runtime *rt = NULL;
    BT_CHECK_STATUS(bt_runtime_create(&o, &rt), BT_EINVAL);
    BT_CHECK(rt == NULL);
    BT_CHECK(strstr(bt_errmsg(), bad[i].want) != NULL);
  }
  clear_env();
}
