/* SPDX-License-Identifier: BSD-3-Clause */
/* box_wire.c: a box tree as bytes, for the MPI bridge (see mpi_int.h for
 * the encoding). Frozen boxes are copied; a frozen subtree of a mutable tree
 * comes back frozen. */
#include <string.h>

#include "mpi_int.h"

static size_t pad8(size_t n) {
  return (n + 7) & ~(size_t)7;
}

size_t bt__box_wire_size(const bt_box *b) {
  size_t n = 3 * sizeof(uint64_t) + pad8(bt_box_size(b));
  size_t kids = bt_box_nchildren(b);
  for (size_t i = 0; i < kids; i++) {
    const bt_box *c = bt_box_child(b, i);
    n += sizeof(uint64_t) + (c ? bt__box_wire_size(c) : 0);
  }
  return n;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v) {
  memcpy(p, &v, sizeof v);
  return p + sizeof v;
}

static unsigned char *pack(const bt_box *b, unsigned char *p) {
  size_t bytes = bt_box_size(b), kids = bt_box_nchildren(b);
  p = put_u64(p, bytes);
  p = put_u64(p, kids);
  p = put_u64(p, (uint64_t)bt_box_is_frozen(b));
  const void *data = bt_box_cdata(b);
  BT_ASSERT(data != NULL || bytes == 0);
  if (bytes) memcpy(p, data, bytes);
  memset(p + bytes, 0, pad8(bytes) - bytes);
  p += pad8(bytes);
  for (size_t i = 0; i < kids; i++) {
    const bt_box *c = bt_box_child(b, i);
    p = put_u64(p, c != NULL);
    if (c) p = pack(c, p);
  }
  return p;
}

void bt__box_wire_pack(const bt_box *b, unsigned char *buf) {
  pack(b, buf);
}

typedef struct reader {
  const unsigned char *p, *end;
} reader;

static int get_u64(reader *r, uint64_t *v) {
  if ((size_t)(r->end - r->p) < sizeof *v) return 0;
  memcpy(v, r->p, sizeof *v);
  r->p += sizeof *v;
  return 1;
}

static int unpack(reader *r, int parent_frozen, int depth, bt_box **out) {
  uint64_t bytes, kids, frozen;
  if (depth > 10000 || !get_u64(r, &bytes) || !get_u64(r, &kids) ||
      !get_u64(r, &frozen) || frozen > 1 || bytes > (uint64_t)(r->end - r->p) ||
      pad8(bytes) > (size_t)(r->end - r->p) ||
      kids > (uint64_t)(r->end - r->p) / sizeof(uint64_t))
    return bt__fail(BT_ETYPE, "malformed box tree in an MPI message");
  bt_box *b;
  int rc = bt_box_create((size_t)bytes, (size_t)kids, &b);
  if (rc != BT_OK) return rc;
  if (bytes) memcpy(bt_box_data(b), r->p, (size_t)bytes);
  r->p += pad8((size_t)bytes);
  for (uint64_t i = 0; i < kids; i++) {
    uint64_t present;
    if (!get_u64(r, &present) || present > 1) {
      rc = bt__fail(BT_ETYPE, "malformed box tree in an MPI message");
      goto err_release;
    }
    if (!present) continue;
    bt_box *c;
    rc = unpack(r, parent_frozen || frozen, depth + 1, &c);
    if (rc != BT_OK) goto err_release;
    rc = bt_box_link(b, (size_t)i, c);
    if (rc != BT_OK) {
      bt_box_release(c);
      goto err_release;
    }
  }
  /* Freeze at the top of a frozen subtree: that freezes all below. */
  if (frozen && !parent_frozen) {
    rc = bt_box_freeze(b);
    if (rc != BT_OK) goto err_release;
  }
  *out = b;
  return BT_OK;

err_release:
  bt_box_release(b);
  return rc;
}

int bt__box_wire_unpack(const unsigned char *buf, size_t len, bt_box **b) {
  reader r = {buf, buf + len};
  bt_box *root = NULL; /* set by unpack() on success */
  int rc = unpack(&r, 0, 0, &root);
  if (rc != BT_OK) return rc;
  if (r.p != r.end) {
    bt_box_release(root);
    return bt__fail(BT_ETYPE, "box tree message has %zu trailing bytes",
                    (size_t)(r.end - r.p));
  }
  *b = root;
  return BT_OK;
}
