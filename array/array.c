/* array.c: arrays: creation, wrapping, references, freezing. */
#define BATON_ARRAY_MODULE 1
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static int check_shape(bt_dtype t, int ndim, const int64_t *shape,
                       size_t *elems) {
  if (bt_dtype_size(t) == 0)
    return bt__fail(BT_EINVAL, "invalid dtype %d", (int)t);
  if (ndim < 1 || ndim > BT_MAX_DIMS)
    return bt__fail(BT_EINVAL, "ndim %d outside 1..%d", ndim, BT_MAX_DIMS);
  if (!shape) return bt__fail(BT_EINVAL, "shape is NULL");
  size_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return bt__fail(BT_EINVAL, "extent %" PRId64 " of axis %d is negative",
                      shape[d], d);
    if (shape[d] > 0 && n > SIZE_MAX / bt_dtype_size(t) / (size_t)shape[d])
      return bt__fail(BT_EINVAL, "array size overflows on axis %d", d);
    n *= (size_t)shape[d];
  }
  *elems = n;
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
  a->tracked.report = bt__regions_report;
  bt__track(rt, &a->tracked);
  *out = a;
  return BT_OK;
}

static void array_free(bt_array *a) {
  if (a->map_bytes &&
      /* relaxed: see bt_slice_migrate(); the last reference drop (acq_rel)
       * ordered every store before this free. */
      !(atomic_load_explicit(&a->recycle, memory_order_relaxed) &&
        bt__recycle_give(a->data, a->map_bytes, a->numa)))
    munmap(a->data, a->map_bytes);
  bt__untrack(&a->tracked);
  free(a->blocks);
  bt__regions_fini(&a->regions);
  a->magic = 0;
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
  int rc = check_shape(t, ndim, shape, &elems);
  if (rc != BT_OK) return rc;
  if (!out) return bt__fail(BT_EINVAL, "output pointer is NULL");
  if (!data && elems > 0) return bt__fail(BT_EINVAL, "data is NULL");
  bt_array *a;
  rc = array_alloc(rt, t, ndim, shape, &a);
  if (rc != BT_OK) return rc;
  if (strides) memcpy(a->strides, strides, sizeof *strides * (size_t)ndim);
  a->data = data;
  *out = a;
  return BT_OK;
}

void bt_array_retain(bt_array *a) {
  if (!a) return;
  /* relaxed: a new reference is made from one the caller already holds. */
  atomic_fetch_add_explicit(&bt__array_get(a)->refs, 1, memory_order_relaxed);
}

int bt_array_release(bt_array *a) {
  if (!a) return BT_OK;
  /* acq_rel: the release publishes this thread's writes to whoever frees;
   * the acquire on the last one sees every other thread's. */
  if (atomic_fetch_sub_explicit(&bt__array_get(a)->refs, 1,
                                memory_order_acq_rel) == 1)
    array_free(a);
  return BT_OK;
}

int bt_array_freeze(bt_array *a) {
  if (!a) return bt__fail(BT_EINVAL, "array is NULL");
  return bt__regions_freeze(bt__array_get(a));
}

int bt_array_ndim(const bt_array *a) {
  return bt__array_get(a)->ndim;
}

bt_dtype bt_array_dtype(const bt_array *a) {
  return bt__array_get(a)->dtype;
}

void bt_array_shape(const bt_array *a, int64_t *shape) {
  const bt_array *x = bt__array_get(a);
  memcpy(shape, x->shape, sizeof *shape * (size_t)x->ndim);
}

bt_runtime *bt_array_runtime(const bt_array *a) {
  return bt__array_get(a)->rt;
}

bt_place bt__array_place(const bt_array *a) {
  return bt__array_get(a)->place;
}

int bt__array_blocks(const bt_array *a) {
  return bt__array_get(a)->nblocks;
}

int bt__array_block(const bt_array *a, int i, bt__block *out) {
  const bt_array *x = bt__array_get(a);
  if (i < 0 || i >= x->nblocks)
    return bt__fail(BT_EINVAL, "block %d of %d", i, x->nblocks);
  *out = x->blocks[i];
  return BT_OK;
}

int64_t bt__part_start(int64_t extent, int parts, int i) {
  int64_t base = extent / parts, rem = extent % parts;
  return (int64_t)i * base + (i < rem ? i : rem);
}
