/* SPDX-License-Identifier: BSD-3-Clause */
/* datatype.c: MPI datatypes for raw bytes and for a slice's region, built
 * from its strides so that baton never packs a strided region: MPI reads
 * (or writes) the array memory where it lies. */
#include <limits.h>

#include "mpi_int.h"

enum { CHUNK = 1 << 30 };

int bt__mpi_bytes_type(size_t bytes, MPI_Datatype *t, int *count, int *owned) {
  if (bytes <= INT_MAX) {
    *t = MPI_BYTE;
    *count = (int)bytes;
    *owned = 0;
    return MPI_SUCCESS;
  }
  /* Beyond an int's count: whole chunks of 1 GiB, then the rest. */
  size_t q = bytes / CHUNK, r = bytes % CHUNK;
  if (q > INT_MAX) return MPI_ERR_COUNT;
  MPI_Datatype chunk, whole;
  int rc = MPI_Type_contiguous(CHUNK, MPI_BYTE, &chunk);
  if (rc != MPI_SUCCESS) return rc;
  if (r == 0) {
    rc = MPI_Type_contiguous((int)q, chunk, &whole);
  } else {
    int lens[2] = {(int)q, (int)r};
    MPI_Aint disps[2] = {0, (MPI_Aint)(q * (size_t)CHUNK)};
    MPI_Datatype types[2] = {chunk, MPI_BYTE};
    rc = MPI_Type_create_struct(2, lens, disps, types, &whole);
  }
  MPI_Type_free(&chunk);
  if (rc != MPI_SUCCESS) return rc;
  rc = MPI_Type_commit(&whole);
  if (rc != MPI_SUCCESS) {
    MPI_Type_free(&whole);
    return rc;
  }
  *t = whole;
  *count = 1;
  *owned = 1;
  return MPI_SUCCESS;
}

/* Dense row-major: each axis's stride is the product of the extents after
 * it (axes of extent 1 do not matter). */
int bt__mpi_view_dense(const bt_view *v) {
  int64_t expect = 1;
  for (int d = v->ndim - 1; d >= 0; d--) {
    if (v->shape[d] != 1 && v->strides[d] != expect) return 0;
    expect *= v->shape[d];
  }
  return 1;
}

int bt__mpi_region_type(const bt_view *v, MPI_Datatype *t, int *count,
                        int *owned) {
  size_t esize = bt_dtype_size(v->dtype);
  size_t n = esize;
  for (int d = 0; d < v->ndim; d++) n *= (size_t)v->shape[d];
  int rc;
  if (n == 0 || bt__mpi_view_dense(v)) {
    rc = bt__mpi_bytes_type(n, t, count, owned);
    return rc == MPI_SUCCESS ? BT_OK
                             : bt__mpi_fail(rc, "slice datatype (bytes)");
  }
  for (int d = 0; d < v->ndim; d++)
    if (v->shape[d] > INT_MAX)
      return bt__fail(BT_ENOTSUP,
                      "strided slice: extent %lld of axis %d exceeds an MPI "
                      "count",
                      (long long)v->shape[d], d);
  /* Innermost axis: one block when unit-stride, else a vector of elements;
   * then one hvector per outer axis, innermost first. */
  MPI_Datatype cur, next;
  int last = v->ndim - 1;
  if (v->strides[last] == 1 &&
      (size_t)v->shape[last] * esize <= (size_t)INT_MAX) {
    rc = MPI_Type_contiguous((int)((size_t)v->shape[last] * esize), MPI_BYTE,
                             &cur);
  } else {
    rc = MPI_Type_create_hvector((int)v->shape[last], (int)esize,
                                 (MPI_Aint)(v->strides[last] * (int64_t)esize),
                                 MPI_BYTE, &cur);
  }
  if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "slice datatype");
  for (int d = last - 1; d >= 0; d--) {
    rc = MPI_Type_create_hvector((int)v->shape[d], 1,
                                 (MPI_Aint)(v->strides[d] * (int64_t)esize),
                                 cur, &next);
    MPI_Type_free(&cur);
    if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "slice datatype");
    cur = next;
  }
  rc = MPI_Type_commit(&cur);
  if (rc != MPI_SUCCESS) {
    MPI_Type_free(&cur);
    return bt__mpi_fail(rc, "slice datatype commit");
  }
  *t = cur;
  *count = 1;
  *owned = 1;
  return BT_OK;
}
