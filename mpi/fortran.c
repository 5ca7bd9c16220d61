/* SPDX-License-Identifier: BSD-3-Clause */
/* The C side of the Fortran module baton_mpi: attach from a Fortran
 * communicator handle. */
#include "baton/mpi.h"

#include "core_int.h"

int bt_mpi_attach_f(bt_runtime *rt, MPI_Fint comm, bt_mpi **m) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized)
    return bt__fail(BT_EMPI,
                    "bt_mpi_attach_f: MPI is not initialized (call "
                    "MPI_Init_thread first)");
  MPI_Comm c = MPI_Comm_f2c(comm);
  if (c == MPI_COMM_NULL)
    return bt__fail(BT_EINVAL,
                    "bt_mpi_attach_f: Fortran handle %d is MPI_COMM_NULL",
                    (int)comm);
  return bt_mpi_attach(rt, c, m);
}
