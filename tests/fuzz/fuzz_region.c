/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_region.c: own / borrow / split / release / view / freeze sequences on
 * a small 2-D array, checked against a brute-force model of the region
 * lock table: a list of grants (box, own or borrow, live slices), each
 * cell's state recomputed from it. An own succeeds iff no granted box
 * covers a cell of its region, a borrow iff no owned one does (timeout 0:
 * BT_EBUSY otherwise); a split's parts are the balanced partition and
 * keep the grant until the last is released; a stale handle answers
 * BT_EMOVED; every view shows the model's box; bt__regions_check() holds
 * after every step. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "array_int.h"

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

enum { N0 = 6, N1 = 5, MAXS = 24, MAXG = 24 };

typedef struct grant {
  int lo[2], hi[2], owned, live;
} grant;
typedef struct mslice {
  bt_slice s;
  int g, lo[2], hi[2];
} mslice;

static grant grants[MAXG];
static int ngrants;
static mslice live[MAXS];
static int nlive;
static bt_slice stale[MAXS];
static int nstale;

static int covered(int i, int j, int owned_only) {
  for (int g = 0; g < ngrants; g++)
    if (grants[g].live > 0 && (!owned_only || grants[g].owned) &&
        i >= grants[g].lo[0] && i < grants[g].hi[0] && j >= grants[g].lo[1] &&
        j < grants[g].hi[1])
      return 1;
  return 0;
}

static void forget(bt_slice s) {
  if (nstale < MAXS) stale[nstale++] = s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bt_array *a;
  int64_t shape[2] = {N0, N1};
  CHECK(bt_array_create(NULL, BT_F64, 2, shape, BT_PLACE_LOCAL, &a) == BT_OK);
  ngrants = nlive = nstale = 0;
  int frozen = 0;
  for (size_t i = 0; i + 3 < size; i += 4) {
    const uint8_t *op = data + i;
    int kind = op[0] % 6;
    if (kind <= 1) { /* own (0) or borrow (1) */
      int lo0 = op[1] % (N0 + 1), hi0 = (op[1] / 8) % (N0 + 1);
      int lo1 = op[2] % (N1 + 1), hi1 = (op[2] / 8) % (N1 + 1);
      bt_range r[2] = {{lo0, hi0}, {lo1, hi1}};
      bt_slice s;
      int rc =
          kind == 0 ? bt_array_own(a, r, 0, &s) : bt_array_borrow(a, r, 0, &s);
      int want = BT_OK;
      if (lo0 >= hi0 || lo1 >= hi1) {
        want = BT_EINVAL;
      } else if (kind == 0 && frozen) {
        want = BT_EFROZEN;
      } else {
        for (int x = lo0; x < hi0 && want == BT_OK; x++)
          for (int y = lo1; y < hi1 && want == BT_OK; y++)
            if (covered(x, y, kind == 1)) want = BT_EBUSY;
      }
      if (want == BT_OK && (nlive == MAXS || ngrants == MAXG)) {
        if (rc == BT_OK) CHECK(bt_slice_release(s) == BT_OK);
        continue; /* the model is full: undo */
      }
      CHECK(rc == want);
      if (rc != BT_OK) continue;
      grants[ngrants] = (grant){{lo0, lo1}, {hi0, hi1}, kind == 0, 1};
      live[nlive++] = (mslice){s, ngrants, {lo0, lo1}, {hi0, hi1}};
      ngrants++;
    } else if (kind == 2 && nlive > 0) { /* split */
      int k = op[1] % nlive, axis = op[2] & 1, parts = 1 + op[3] % 4;
      mslice m = live[k];
      int extent = m.hi[axis] - m.lo[axis];
      bt_slice out[4];
      int rc = bt_slice_split(m.s, axis, parts, out);
      if (parts > extent) {
        CHECK(rc == BT_EINVAL);
        continue;
      }
      CHECK(rc == BT_OK);
      forget(m.s);
      grants[m.g].live += parts - 1;
      live[k] = live[--nlive];
      for (int p = 0; p < parts; p++) {
        mslice c = m;
        c.s = out[p];
        c.lo[axis] = m.lo[axis] + (int)bt__part_start(extent, parts, p);
        c.hi[axis] = m.lo[axis] + (int)bt__part_start(extent, parts, p + 1);
        if (nlive < MAXS)
          live[nlive++] = c;
        else { /* the model is full: release the extra part at once */
          CHECK(bt_slice_release(c.s) == BT_OK);
          grants[m.g].live--;
        }
      }
    } else if (kind == 3 && nlive > 0) { /* release */
      int k = op[1] % nlive;
      CHECK(bt_slice_release(live[k].s) == BT_OK);
      forget(live[k].s);
      grants[live[k].g].live--;
      live[k] = live[--nlive];
    } else if (kind == 4) { /* view a live slice, or use a stale one */
      if (nstale > 0 && (op[1] & 1)) {
        bt_view v;
        bt_slice s = stale[op[2] % nstale];
        CHECK(bt_slice_view(s, &v) == BT_EMOVED);
        CHECK(bt_slice_release(s) == BT_EMOVED);
      } else if (nlive > 0) {
        mslice *m = &live[op[2] % nlive];
        bt_view v;
        CHECK(bt_slice_view(m->s, &v) == BT_OK);
        CHECK(v.ndim == 2 && v.writable == grants[m->g].owned);
        for (int d = 0; d < 2; d++) {
          CHECK(v.origin[d] == m->lo[d]);
          CHECK(v.shape[d] == m->hi[d] - m->lo[d]);
        }
      }
    } else if (kind == 5 && (op[1] & 7) == 0) { /* freeze, now and then */
      int any_owned = 0;
      for (int g = 0; g < ngrants; g++)
        any_owned |= grants[g].live > 0 && grants[g].owned;
      int rc = bt_array_freeze(a);
      CHECK(rc == (any_owned ? BT_EBUSY : BT_OK));
      if (rc == BT_OK) frozen = 1;
    }
    CHECK(bt__regions_check(a) == BT_OK);
  }
  for (int k = 0; k < nlive; k++) CHECK(bt_slice_release(live[k].s) == BT_OK);
  /* Every region is free again: the whole array can be owned (unless
   * frozen), then everything goes. */
  bt_slice all;
  CHECK(bt_array_own(a, NULL, 0, &all) == (frozen ? BT_EFROZEN : BT_OK));
  if (!frozen) CHECK(bt_slice_release(all) == BT_OK);
  CHECK(bt_array_release(a) == BT_OK);
  return 0;
}
