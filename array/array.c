/* SPDX-License-Identifier: BSD-3-Clause */
/* array.c: arrays: creation, wrapping, sub-arrays, references, freezing. */
#define BATON_ARRAY_MODULE 1
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "array_int.h"

/* Transparent huge pages pay off from a couple of them up. */
enum { HUGE_FROM = 4 << 20 };

#ifdef MADV_HUGEPAGE
/* Whether to ask for transparent huge pages. A huge page is first touched
 * as a whole: with blocks smaller than a few of them, the block boundaries
 * would land on the wrong nodes. */
static int huge_pages_pay(const bt_runtime *rt, bt_place place, size_t map) {
  size_t block = map;
  if (place == BT_PLACE_BLOCKS && bt_runtime_workers(rt) > 1)
    block = map / (size_t)bt_runtime_workers(rt);
  return block >= HUGE_FROM;
}
#endif

/* The row-major strides multiply the extents, zero extents counted as 1:
 * that product too must fit (in bytes, in int64), whatever the element
 * count, which a zero extent makes 0. */
static int check_shape(bt_dtype t, int ndim, const int64_t *shape,
                       size_t *elems) {
  if (bt_dtype_size(t) == 0)
    return bt__fail(BT_EINVAL, "invalid dtype %d", (int)t);
  if (ndim < 1 || ndim > BT_MAX_DIMS)
    return bt__fail(BT_EINVAL, "ndim %d outside 1..%d", ndim, BT_MAX_DIMS);
  if (!shape) return bt__fail(BT_EINVAL, "shape is NULL");
  const int64_t limit = INT64_MAX / (int64_t)bt_dtype_size(t);
  int64_t n = 1, span = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return bt__fail(BT_EINVAL, "extent %" PRId64 " of axis %d is negative",
                      shape[d], d);
    int64_t e = shape[d] > 0 ? shape[d] : 1;
    if (span > limit / e)
      return bt__fail(BT_EINVAL,
                      "array size overflows on axis %d (extent %" PRId64 ")", d,
                      shape[d]);
    span *= e;
    n *= shape[d];
  }
  *elems = (size_t)n;
  return BT_OK;
}

/* Whether the bytes first and last can be read: process_vm_readv on our
 * own pid answers EFAULT for an inaccessible address, without a signal; where
 * it is not permitted, whether their pages are mapped at all (mincore
 * answers ENOMEM). A stride that lands far outside the caller's memory is
 * caught at wrap, not by a kernel's segfault. */
static int readable(uintptr_t addr) {
  char byte;
  struct iovec local = {&byte, 1}, remote = {(void *)addr, 1};
  if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1) return 1;
  if (errno == EFAULT) return 0;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  unsigned char vec[1];
  return !(mincore((void *)(addr / page * page), 1, vec) != 0 &&
           errno == ENOMEM);
}

static int mapped(uintptr_t first, uintptr_t last) {
  return readable(first) && readable(last);
}

/* A wrapped layout must stay inside memory the caller has, and give each
 * element its own bytes: a writable array whose owned regions shared memory
 * would defeat the region lock. Sufficient rule: sorted by |stride|, each
 * axis steps past everything the smaller axes reach. */
static int check_strides(const void *data, size_t elem, int ndim,
                         const int64_t *shape, const int64_t *strides) {
  int64_t lo = 0, hi = 0; /* lowest and highest offsets, in elements */
  int order[BT_MAX_DIMS], n = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 0) return BT_OK; /* no element at all */
    if (shape[d] == 1) continue;
    if (strides[d] == INT64_MIN || strides[d] == 0 ||
        (strides[d] < 0 ? -strides[d] : strides[d]) >
            INT64_MAX / (shape[d] - 1))
      return bt__fail(BT_EINVAL,
                      "bt_array_wrap: stride %" PRId64
                      " of axis %d (extent %" PRId64 ") %s",
                      strides[d], d, shape[d],
                      strides[d] == 0 ? "makes its elements share memory"
                                      : "overflows the offsets");
    int64_t reach =
        (strides[d] < 0 ? -strides[d] : strides[d]) * (shape[d] - 1);
    if (strides[d] > 0 ? hi > INT64_MAX - reach : lo < -INT64_MAX + reach)
      return bt__fail(BT_EINVAL,
                      "bt_array_wrap: stride %" PRId64
                      " of axis %d overflows the offsets",
                      strides[d], d);
    if (strides[d] > 0)
      hi += reach;
    else
      lo -= reach;
    int k = n++;
    int64_t mine = strides[d] < 0 ? -strides[d] : strides[d];
    while (k > 0 &&
           (strides[order[k - 1]] < 0 ? -strides[order[k - 1]]
                                      : strides[order[k - 1]]) > mine) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = d;
  }
  int64_t reached = 0; /* what the axes so far reach, in elements */
  for (int k = 0; k < n; k++) {
    int d = order[k];
    int64_t step = strides[d] < 0 ? -strides[d] : strides[d];
    if (step <= reached)
      return bt__fail(
          BT_EINVAL,
          "bt_array_wrap: stride %" PRId64 " of axis %d (extent %" PRId64
          ") lands on elements the smaller axes already reach (%" PRId64
          "): elements would share memory",
          strides[d], d, shape[d], reached);
    reached += step * (shape[d] - 1);
  }
  uint64_t span = (uint64_t)hi + (uint64_t)(-lo); /* < 2^64, elements */
  uintptr_t base = (uintptr_t)data;
  if (span >= UINTPTR_MAX / elem || (uint64_t)(-lo) * elem > base ||
      span * elem + elem - 1 > UINTPTR_MAX - (base - (uint64_t)(-lo) * elem))
    return bt__fail(BT_EINVAL,
                    "bt_array_wrap: the elements span %" PRIu64
                    " elements around %p: outside the address space",
                    span + 1, data);
  uintptr_t first = base - (uintptr_t)(-lo) * elem;
  uintptr_t last = base + (uintptr_t)hi * elem + elem - 1;
  if (!mapped(first, last))
    return bt__fail(BT_EINVAL,
                    "bt_array_wrap: the elements reach bytes %#" PRIxPTR
                    " .. %#" PRIxPTR " from %p, not all readable memory",
                    first, last, data);
  return BT_OK;
}

static int array_alloc(bt_runtime *rt, bt_dtype t, int ndim,
                       const int64_t *shape, bt_array **out) {
  bt_array *a = calloc(1, sizeof *a);
  if (!a) return bt__fail(BT_ENOMEM, "cannot allocate an array header");
  int rc = bt__regions_init(&a->regions);
  if (rc != BT_OK) {
    free(a);
    return rc;
  }
  a->magic = BT__ARRAY_MAGIC;
  a->rt = rt;
  a->dtype = t;
  a->ndim = ndim;
  a->elem = bt_dtype_size(t);
  memcpy(a->shape, shape, sizeof *shape * (size_t)ndim);
  int64_t stride = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    a->strides[d] = stride;
    stride *= shape[d] > 0 ? shape[d] : 1;
  }
  atomic_init(&a->refs, 1);
  atomic_init(&a->frozen, 0);
  a->place = BT_PLACE_LOCAL;
  a->root = a;
  a->tracked.report = bt__regions_report;
  bt__track(rt, &a->tracked);
  *out = a;
  return BT_OK;
}

static void array_free(bt_array *a) {
  if (a->parent) { /* a sub-array: its parent keeps memory and table */
    bt_array *parent = a->parent;
    a->magic = BT__MAGIC_DEAD;
    free(a);
    bt_array_release(parent);
    return;
  }
  if (a->map_bytes &&
      /* relaxed: see bt_slice_migrate(); the last reference drop (acq_rel)
       * ordered every store before this free. */
      !(atomic_load_explicit(&a->recycle, memory_order_relaxed) &&
        bt__recycle_give(a->data, a->map_bytes, a->numa)))
    munmap(a->data, a->map_bytes);
  bt__untrack(&a->tracked);
  free(a->blocks);
  bt__regions_fini(&a->regions);
  bt__magic_kill(&a->magic);
  free(a);
}

/* The mapped length of an array of elems elements of t: whole pages, one
 * at least. */
static int map_size(bt_dtype t, size_t elems, size_t *map) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t bytes = elems * bt_dtype_size(t);
  if (bytes > SIZE_MAX - page) return bt__fail(BT_EINVAL, "array too large");
  *map = bytes ? (bytes + page - 1) / page * page : page;
  return BT_OK;
}

/* An array of a checked shape on a fresh mapping of `map` bytes, placed. */
static int array_map(bt_runtime *rt, bt_dtype t, int ndim,
                     const int64_t *shape, size_t map, bt_place place,
                     bt_array **out) {
  bt_array *a;
  int rc = array_alloc(rt, t, ndim, shape, &a);
  if (rc != BT_OK) return rc;
  /* Anonymous pages are zero and page-aligned; nothing is resident until
   * placement touches it, which decides each page's NUMA node. */
  void *data = mmap(NULL, map, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (data == MAP_FAILED) {
    rc = bt__fail(BT_ENOMEM, "cannot map %zu bytes for a %s array", map,
                  bt_dtype_name(t));
    goto err_free_array;
  }
  a->data = data;
  a->map_bytes = map;
#ifdef MADV_HUGEPAGE
  if (huge_pages_pay(rt, place, map)) (void)madvise(data, map, MADV_HUGEPAGE);
#endif
  a->place = place;
  rc = bt__place_array(a);
  if (rc != BT_OK) goto err_free_array;
  *out = a;
  return BT_OK;
err_free_array:
  array_free(a);
  return rc;
}

int bt_array_create(bt_runtime *rt, bt_dtype t, int ndim, const int64_t *shape,
                    bt_place place, bt_array **out) {
  size_t elems;
  if (rt && bt__runtime_check(rt, "bt_array_create") != BT_OK) return BT_EINVAL;
  int rc = check_shape(t, ndim, shape, &elems);
  if (rc != BT_OK) return rc;
  if (!out) return bt__fail(BT_EINVAL, "output pointer is NULL");
  if (place != BT_PLACE_LOCAL && place != BT_PLACE_INTERLEAVE &&
      place != BT_PLACE_BLOCKS)
    return bt__fail(BT_EINVAL, "invalid placement %d", (int)place);
  if (!rt && place != BT_PLACE_LOCAL)
    return bt__fail(BT_EINVAL, "placement %s needs a runtime",
                    place == BT_PLACE_BLOCKS ? "BLOCKS" : "INTERLEAVE");
  size_t map = 0;
  if ((rc = map_size(t, elems, &map)) != BT_OK) return rc;
  return array_map(rt, t, ndim, shape, map, place, out);
}

int bt__array_create_recv(bt_runtime *rt, bt_dtype t, int ndim,
                          const int64_t *shape, bt_array **out) {
  size_t elems, map = 0;
  int rc = check_shape(t, ndim, shape, &elems);
  if (rc != BT_OK || (rc = map_size(t, elems, &map)) != BT_OK) return rc;
  int numa = bt__place_numa_here(rt);
  void *data = bt__recycle_take(map, numa);
  bt_array *a;
  if (data == NULL) {
    rc = array_map(rt, t, ndim, shape, map, BT_PLACE_LOCAL, &a);
    if (rc != BT_OK) return rc;
  } else {
    rc = array_alloc(rt, t, ndim, shape, &a);
    if (rc != BT_OK) {
      munmap(data, map);
      return rc;
    }
    a->data = data;
    a->map_bytes = map;
  }
  /* relaxed: a is not published yet. */
  atomic_store_explicit(&a->recycle, 1, memory_order_relaxed);
  a->numa = numa;
  *out = a;
  return BT_OK;
}

int bt_array_wrap(bt_runtime *rt, void *data, bt_dtype t, int ndim,
                  const int64_t *shape, const int64_t *strides,
                  bt_array **out) {
  size_t elems;
  if (rt && bt__runtime_check(rt, "bt_array_wrap") != BT_OK) return BT_EINVAL;
  int rc = check_shape(t, ndim, shape, &elems);
  if (rc != BT_OK) return rc;
  if (!out) return bt__fail(BT_EINVAL, "output pointer is NULL");
  if (!data && elems > 0) return bt__fail(BT_EINVAL, "data is NULL");
  if (strides && (rc = check_strides(data, bt_dtype_size(t), ndim, shape,
                                     strides)) != BT_OK)
    return rc;
  bt_array *a;
  rc = array_alloc(rt, t, ndim, shape, &a);
  if (rc != BT_OK) return rc;
  if (strides) memcpy(a->strides, strides, sizeof *strides * (size_t)ndim);
  a->data = data;
  *out = a;
  return BT_OK;
}

int bt_array_sub(bt_array *a, const bt_range *region, bt_array **sub) {
  bt_array *p = bt__array_get(a);
  if (!p) return bt__bad_handle("bt_array_sub", "parent array", a);
  if (!sub) return bt__fail(BT_EINVAL, "bt_array_sub: output pointer is NULL");
  int64_t lo[BT_MAX_DIMS], hi[BT_MAX_DIMS];
  for (int d = 0; d < p->ndim; d++) {
    lo[d] = region ? region[d].start : 0;
    hi[d] = region ? region[d].stop : p->shape[d];
    if (lo[d] < 0 || hi[d] > p->shape[d] || lo[d] >= hi[d]) {
      char box[256];
      bt__box_format(box, sizeof box, d + 1, lo, hi);
      return bt__fail(BT_EINVAL,
                      "bt_array_sub: region %s: axis %d range [%" PRId64
                      ":%" PRId64 ") is empty or outside [0:%" PRId64 ")",
                      box, d, lo[d], hi[d], p->shape[d]);
    }
  }
  bt_array *s = calloc(1, sizeof *s);
  if (!s) return bt__fail(BT_ENOMEM, "cannot allocate a sub-array header");
  s->magic = BT__ARRAY_MAGIC;
  s->rt = p->rt;
  s->dtype = p->dtype;
  s->ndim = p->ndim;
  s->elem = p->elem;
  int64_t offset = 0;
  for (int d = 0; d < p->ndim; d++) {
    s->shape[d] = hi[d] - lo[d];
    s->strides[d] = p->strides[d];
    s->off[d] = p->off[d] + lo[d];
    offset += lo[d] * p->strides[d];
  }
  s->data = p->data + offset * (int64_t)p->elem;
  atomic_init(&s->refs, 1);
  atomic_init(&s->frozen, 0);
  atomic_init(&s->recycle, 0);
  s->place = p->root->place;
  s->root = p->root;
  bt_array_retain(p);
  s->parent = p;
  *sub = s;
  return BT_OK;
}

int bt__array_alias(const bt_array *a, const bt_array *b) {
  const bt_array *x = bt__array_get(a), *y = bt__array_get(b);
  if (!x || !y) return BT__ALIAS_NONE; /* the callers report bad handles */
  if (x == y) return BT__ALIAS_SAME;
  if (x->root != y->root) return BT__ALIAS_NONE;
  int same = x->ndim == y->ndim;
  for (int d = 0; d < x->ndim; d++) {
    int64_t xlo = x->off[d], xhi = xlo + x->shape[d];
    int64_t ylo = y->off[d], yhi = ylo + y->shape[d];
    if (!(xlo < yhi && ylo < xhi)) return BT__ALIAS_NONE;
    same = same && xlo == ylo && xhi == yhi;
  }
  return same ? BT__ALIAS_SAME : BT__ALIAS_PARTIAL;
}

void bt_array_retain(bt_array *a) {
  if (!bt__array_get(a)) return; /* NULL or not a live array */
  /* relaxed: a new reference is made from one the caller already holds. */
  atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

int bt_array_release(bt_array *a) {
  if (!a) return BT_OK;
  if (!bt__array_get(a)) return bt__bad_handle("bt_array_release", "array", a);
  /* acq_rel: the release publishes this thread's writes to whoever frees;
   * the acquire on the last one sees every other thread's. */
  if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
    array_free(a);
  return BT_OK;
}

int bt_array_freeze(bt_array *a) {
  bt_array *p = bt__array_get(a);
  if (!p) return bt__bad_handle("bt_array_freeze", "array", a);
  if (p->parent)
    return bt__fail(BT_ENOTSUP,
                    "bt_array_freeze: a sub-array shares its parent's lock "
                    "table; freeze the parent");
  return bt__regions_freeze(p);
}

int bt__array_check(const bt_array *a, const char *op) {
  return bt__array_get(a) ? BT_OK : bt__bad_handle(op, "array", a);
}

int bt_array_ndim(const bt_array *a) {
  return bt__array_get(a) ? a->ndim : 0;
}

bt_dtype bt_array_dtype(const bt_array *a) {
  return bt__array_get(a) ? a->dtype : (bt_dtype)-1;
}

void bt_array_shape(const bt_array *a, int64_t *shape) {
  if (!bt__array_get(a) || !shape) return;
  memcpy(shape, a->shape, sizeof *shape * (size_t)a->ndim);
}

bt_runtime *bt_array_runtime(const bt_array *a) {
  return bt__array_get(a) ? a->rt : NULL;
}

bt_place bt__array_place(const bt_array *a) {
  return bt__array_get(a) ? a->place : BT_PLACE_LOCAL;
}

int bt__array_blocks(const bt_array *a) {
  return bt__array_get(a) ? a->nblocks : 0;
}

int bt__array_block(const bt_array *a, int i, bt__block *out) {
  const bt_array *x = bt__array_get(a);
  if (!x) return bt__bad_handle("bt__array_block", "array", a);
  if (i < 0 || i >= x->nblocks)
    return bt__fail(BT_EINVAL, "block %d of %d", i, x->nblocks);
  *out = x->blocks[i];
  return BT_OK;
}

int64_t bt__part_start(int64_t extent, int parts, int i) {
  int64_t base = extent / parts, rem = extent % parts;
  return (int64_t)i * base + (i < rem ? i : rem);
}
