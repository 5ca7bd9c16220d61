/* SPDX-License-Identifier: BSD-3-Clause */
/* version.c: the library's version and build features at run time. */
#include "core_int.h"

const char *bt_version(void) { return BT_VERSION_STRING; }

int bt_version_number(void) { return BT_VERSION; }

const char *bt_build_features(void) {
  return "hwloc " BATON_HWLOC_VERSION ", blas " BATON_BLAS_NAME
         ", mpi " BATON_MPI_NAME;
}
