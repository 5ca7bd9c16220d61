/* SPDX-License-Identifier: BSD-3-Clause */
/* A downstream MPI program built against the installed baton::mpi. */
#include <baton.h>
#include <baton/mpi.h>
#include <stdio.h>

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 1;
  bt_runtime *rt;
  bt_mpi *m;
  int rc = bt_runtime_create(&opt, &rt);
  if (rc == BT_OK) rc = bt_mpi_attach(rt, MPI_COMM_WORLD, &m);
  if (rc == BT_OK) {
    printf("rank %d of %d\n", bt_mpi_rank(m), bt_mpi_size(m));
    bt_mpi_detach(m);
  }
  bt_runtime_destroy(rt);
  MPI_Finalize();
  return rc == BT_OK ? 0 : 1;
}
