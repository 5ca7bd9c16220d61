/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_share.c: ranks sharing a node under mpiexec --bind-to none
 * (registered by hand in tests/CMakeLists.txt, -np 2 and -np 3): each rank
 * takes its own share of the node's cores, so the ranks' workers sit on
 * disjoint PUs; where the node has fewer PUs than ranks the sharing is
 * reported (bt_runtime_oversubscribed). The PUs are gathered with MPI. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "mpitest.h"

BT_TEST_DEFINE_(disjoint_workers) {
  unsetenv("BATON_WORKERS"); /* one worker per core of the share */
  bt_runtime *rt = mt_runtime();
  int me = mt_rank(), n = mt_size();
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                      &node);
  int nr, ns;
  MPI_Comm_rank(node, &nr);
  MPI_Comm_size(node, &ns);
  BT_CHECK_EQ(ns, n); /* one node */
  long pus = sysconf(_SC_NPROCESSORS_ONLN);
  enum { MAXW = 64 };
  int mine[MAXW] = {0}, nw = bt_runtime_workers(rt);
  BT_CHECK(nw >= 1 && nw <= MAXW);
  for (int w = 0; w < nw; w++) mine[w] = bt_worker_cpu(rt, w);
  int *all = calloc((size_t)n * MAXW, sizeof *all);
  int *counts = calloc((size_t)n, sizeof *counts);
  MPI_Allgather(mine, MAXW, MPI_INT, all, MAXW, MPI_INT, node);
  MPI_Allgather(&nw, 1, MPI_INT, counts, 1, MPI_INT, node);
  int shared = 0, mine_shared = 0;
  for (int a = 0; a < n; a++)
    for (int b = a + 1; b < n; b++)
      for (int i = 0; i < counts[a]; i++)
        for (int j = 0; j < counts[b]; j++)
          if (all[a * MAXW + i] == all[b * MAXW + j]) {
            shared++;
            mine_shared |= a == nr || b == nr;
          }
  if (me == 0)
    fprintf(stderr, "  %d ranks, %ld PUs: %d PUs pinned by two ranks\n", n, pus,
            shared);
  if (pus >= n) {
    BT_CHECK_EQ(shared, 0);
  } else {
    /* Fewer PUs than ranks: sharing cannot be avoided; the ranks that
     * share a PU report it, the others have one to themselves. */
    BT_CHECK_CMP(shared, >, 0);
    BT_CHECK_EQ(bt_runtime_oversubscribed(rt), mine_shared);
  }
  /* The bridge agrees: MPI_COMM_TYPE_SHARED gives the launcher's ranks. */
  bt_mpi *m = mt_attach(rt, "direct");
  BT_CHECK_OK(bt_mpi_detach(m));
  free(all);
  free(counts);
  MPI_Comm_free(&node);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}
