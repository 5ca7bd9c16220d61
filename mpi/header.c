/* SPDX-License-Identifier: BSD-3-Clause */
/* header.c: checks of a received message header, a pure function of its
 * bytes (no MPI call), so that the fuzz target tests/fuzz/fuzz_mpi_header.c
 * drives it without MPI. */
#include <stdint.h>
#include <stdio.h>

#include "mpi_int.h"

int bt__mpi_frags_ok(const bt__mpi_hdr *h, char *why, size_t len) {
  if ((h->kind & BT__MSG_FRAGS) && h->payload_bytes > BT__MPI_FRAG_TOTAL) {
    snprintf(why, len, "%llu bytes in pieces, more than the %zu allowed",
             (unsigned long long)h->payload_bytes, BT__MPI_FRAG_TOTAL);
    return 0;
  }
  return 1;
}

int bt__mpi_slice_header_ok(const bt__mpi_hdr *h, char *why, size_t len) {
  if (!bt__mpi_frags_ok(h, why, len)) return 0;
  size_t es = h->dtype >= 0 && h->dtype <= BT_U8
                  ? bt_dtype_size((bt_dtype)h->dtype)
                  : 0;
  if (es == 0) {
    snprintf(why, len, "dtype %d is not a dtype", (int)h->dtype);
    return 0;
  }
  if (h->ndim < 1 || h->ndim > BT_MAX_DIMS) {
    snprintf(why, len, "ndim %d outside 1..%d", (int)h->ndim, BT_MAX_DIMS);
    return 0;
  }
  size_t n = es, carried = (size_t)h->payload_bytes + h->inline_bytes;
  if (h->payload_bytes && h->inline_bytes) {
    snprintf(why, len, "data both inline and as payload");
    return 0;
  }
  for (int d = 0; d < h->ndim; d++) {
    if (h->shape[d] < 0) {
      snprintf(why, len, "extent %lld of axis %d is negative",
               (long long)h->shape[d], d);
      return 0;
    }
    if (h->shape[d] > 0 && n > SIZE_MAX / (size_t)h->shape[d]) {
      snprintf(why, len, "extent %lld of axis %d overflows the size",
               (long long)h->shape[d], d);
      return 0;
    }
    n *= (size_t)h->shape[d];
  }
  if (n != carried) {
    snprintf(why, len, "shape gives %zu bytes, the message %zu", n, carried);
    return 0;
  }
  return 1;
}

