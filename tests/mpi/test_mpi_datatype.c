/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_datatype.c: the bridge's MPI datatypes: byte counts beyond an
 * int (no memory needed to check their size), and a slice's region from
 * its strides (size, and MPI's own unpacking against a direct walk). */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>

#include "../../mpi/mpi_int.h"
#include "mpitest.h"

BT_TEST_MPI(bytes_beyond_int, 2) {
  static const size_t sizes[] = {0,
                                 1,
                                 (size_t)INT_MAX,
                                 (size_t)INT_MAX + 1,
                                 (size_t)3 << 30,
                                 ((size_t)5 << 30) + 12345};
  for (int k = 0; k < 6; k++) {
    MPI_Datatype t;
    int count, owned;
    BT_CHECK_EQ(bt__mpi_bytes_type(sizes[k], &t, &count, &owned), MPI_SUCCESS);
    MPI_Count size;
    MPI_Type_size_x(t, &size);
    BT_CHECK_EQ((long long)size * count, (long long)sizes[k]);
    BT_CHECK_EQ(owned, sizes[k] > (size_t)INT_MAX);
    if (owned) MPI_Type_free(&t);
  }
}

/* MPI packs the region described by the datatype; compare with a walk. */
static void check_region(int ndim, const int64_t *shape,
                         const int64_t *strides) {
  int64_t span = 1, n = 1;
  for (int d = 0; d < ndim; d++) {
    span += (shape[d] - 1) * strides[d];
    n *= shape[d];
  }
  double *mem = malloc((size_t)span * sizeof *mem);
  for (int64_t i = 0; i < span; i++) mem[i] = (double)i;
  bt_view v = {.data = mem, .dtype = BT_F64, .ndim = ndim};
  for (int d = 0; d < ndim; d++) {
    v.shape[d] = shape[d];
    v.strides[d] = strides[d];
  }
  MPI_Datatype t;
  int count, owned;
  BT_CHECK_OK(bt__mpi_region_type(&v, &t, &count, &owned));
  MPI_Count size;
  MPI_Type_size_x(t, &size);
  BT_CHECK_EQ((long long)size * count, n * 8);
  double *packed = malloc((size_t)n * sizeof *packed);
  int pos = 0;
  BT_CHECK_EQ(
      MPI_Pack(mem, count, t, packed, (int)(n * 8), &pos, MPI_COMM_WORLD),
      MPI_SUCCESS);
  BT_CHECK_EQ(pos, n * 8);
  int64_t idx[BT_MAX_DIMS] = {0};
  for (int64_t e = 0; e < n; e++) {
    int64_t off = 0;
    for (int d = 0; d < ndim; d++) off += idx[d] * strides[d];
    BT_CHECK_EQ((long long)packed[e], (long long)mem[off]);
    for (int d = ndim - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  if (owned) MPI_Type_free(&t);
  free(packed);
  free(mem);
}

BT_TEST_MPI(region_types, 2) {
  int64_t s1[] = {10}, st1[] = {1};             /* dense */
  int64_t s2[] = {4, 5}, st2[] = {9, 1};        /* rows of a wider array */
  int64_t s3[] = {6}, st3[] = {3};              /* a column */
  int64_t s4[] = {3, 4, 2}, st4[] = {40, 5, 2}; /* strided everywhere */
  int64_t s5[] = {2, 1, 3}, st5[] = {3, 99, 1}; /* dense, extent-1 axis */
  int64_t s6[] = {2, 3, 2, 2}, st6[] = {100, 20, 6, 1};
  check_region(1, s1, st1);
  check_region(2, s2, st2);
  check_region(1, s3, st3);
  check_region(3, s4, st4);
  check_region(3, s5, st5);
  check_region(4, s6, st6);
}
