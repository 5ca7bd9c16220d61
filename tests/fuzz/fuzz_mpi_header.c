/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_mpi_header.c: the bridge's check of a received slice header
 * (mpi/header.c) on arbitrary bytes. Whatever it accepts, the receiver can
 * make: a real dtype, 1..BT_MAX_DIMS non-negative extents, a payload in
 * pieces no larger than BT__MPI_FRAG_TOTAL, and exactly as
 * many bytes carried (inline or payload, not both) as the shape needs,
 * computed here without overflow; and bt__slice_new_array() then makes
 * such an array (or refuses it with BT_EINVAL / BT_ENOMEM, never a crash)
 * when it is small. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "array_int.h"
#include "mpi_int.h"

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bt__mpi_hdr h;
  if (size < sizeof h) return 0;
  memcpy(&h, data, sizeof h);
  char why[128];
  if (!bt__mpi_slice_header_ok(&h, why, sizeof why)) {
    CHECK(why[0] != '\0');
    return 0;
  }
  CHECK(h.dtype >= 0 && h.dtype <= BT_U8);
  CHECK(h.ndim >= 1 && h.ndim <= BT_MAX_DIMS);
  CHECK(!(h.inline_bytes && h.payload_bytes));
  CHECK(!(h.kind & BT__MSG_FRAGS) || h.payload_bytes <= BT__MPI_FRAG_TOTAL);
  unsigned __int128 bytes = bt_dtype_size((bt_dtype)h.dtype);
  for (int d = 0; d < h.ndim; d++) {
    CHECK(h.shape[d] >= 0);
    bytes *= (unsigned __int128)h.shape[d];
    if (bytes > ((unsigned __int128)1 << 64))
      bytes = (unsigned __int128)1 << 64;
  }
  CHECK(bytes == (unsigned __int128)h.payload_bytes + h.inline_bytes);
  if (bytes <= (1u << 20)) {
    bt_slice s;
    int rc = bt__slice_new_array(NULL, (bt_dtype)h.dtype, h.ndim, h.shape, &s);
    if (rc == BT_OK) {
      bt_view v;
      CHECK(bt_slice_view(s, &v) == BT_OK);
      CHECK(bt_slice_release(s) == BT_OK);
    } else {
      CHECK(rc == BT_EINVAL || rc == BT_ENOMEM);
    }
  }
  return 0;
}
