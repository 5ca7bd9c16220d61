/* SPDX-License-Identifier: BSD-3-Clause */
/* slice.c: slices, the capabilities that reach an array's data.
 *
 * A slice handle is an index into a process-wide table of records and the
 * record's generation: id = generation << 24 | index. The generation moves
 * on every release, split and reuse, so a stale copy of a handle never
 * matches again: a record whose 40-bit generation is used up is retired,
 * never reused, so generations never wrap. Records are never given back to
 * the OS, so even a stale handle reads valid memory. The table has no runtime
 * argument because the slice calls have none. */
#define BATON_ARRAY_MODULE 1
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "array_int.h"

enum {
  RECS_PER_CHUNK = 1024,
  MAX_CHUNKS = 16384, /* 16 Mi live slices: indexes of INDEX_BITS */
  INDEX_BITS = 24,
  NUMA_UNKNOWN = -2 /* not asked yet */
};

typedef struct slice_rec {
  /* atomic: moves when the handle goes stale; read by anyone holding any
   * copy of a handle, written by the holder (or by whoever drops it). */
  _Atomic uint64_t gen;
  /* atomic: bt__thread_id() of the holder; 0 while in flight or free. */
  _Atomic uint64_t holder;
  /* The rest: written by the thread that makes the slice, read by its
   * holders, who got it through a channel (which orders the accesses). */
  bt_array *array;
  bt__grant *grant;
  int ndim, owned;
  int64_t lo[BT_MAX_DIMS], hi[BT_MAX_DIMS];
  _Atomic int numa;   /* atomic: a cache of the first page's node */
  uint32_t next_free; /* protected by table.lock */
} slice_rec;

static struct {
  pthread_mutex_t lock;
  /* atomic: a chunk pointer is published once (release, under 'lock') and
   * never changes; readers load it with acquire. */
  _Atomic(slice_rec *) chunks[MAX_CHUNKS];
  uint32_t nchunks;   /* protected by 'lock' */
  uint32_t free_head; /* protected by 'lock'; UINT32_MAX: empty */
} table = {PTHREAD_MUTEX_INITIALIZER, {NULL}, 0, UINT32_MAX};

_Static_assert((uint64_t)RECS_PER_CHUNK *MAX_CHUNKS <=
                   (UINT64_C(1) << INDEX_BITS),
               "slice indexes must fit in INDEX_BITS");
#define INDEX_MASK ((UINT64_C(1) << INDEX_BITS) - 1)
#define GEN_LAST ((UINT64_C(1) << (64 - INDEX_BITS)) - 1)

static inline uint64_t make_id(uint64_t gen, uint32_t index) {
  return gen << INDEX_BITS | index;
}

/* The record an id names if its chunk exists, else NULL. */
static inline slice_rec *rec_at(uint32_t index) {
  uint32_t c = index / RECS_PER_CHUNK;
  if (c >= MAX_CHUNKS) return NULL;
  /* acquire: pairs with the release store in grow(). */
  slice_rec *chunk =
      atomic_load_explicit(&table.chunks[c], memory_order_acquire);
  return chunk ? &chunk[index % RECS_PER_CHUNK] : NULL;
}

/* Add a chunk of free records. Called with 'lock' held. */
static int grow(void) {
  if (table.nchunks == MAX_CHUNKS)
    return bt__fail(BT_ENOMEM, "more than %d live slices",
                    MAX_CHUNKS * RECS_PER_CHUNK);
  slice_rec *chunk = calloc(RECS_PER_CHUNK, sizeof *chunk);
  if (!chunk) return bt__fail(BT_ENOMEM, "cannot grow the slice table");
  uint32_t base = table.nchunks * RECS_PER_CHUNK;
  for (int i = RECS_PER_CHUNK - 1; i >= 0; i--) {
    atomic_init(&chunk[i].gen, 1);
    atomic_init(&chunk[i].holder, 0);
    chunk[i].next_free = table.free_head;
    table.free_head = base + (uint32_t)i;
  }
  /* release: pairs with the acquire load in rec_at(). */
  atomic_store_explicit(&table.chunks[table.nchunks], chunk,
                        memory_order_release);
  table.nchunks++;
  return BT_OK;
}

/* Each thread keeps a few free records of its own, so that own and release
 * touch the process-wide lock only once per CACHE_BATCH slices. LIFO: the
 * record just released is the next one used, still in cache. Records a
 * thread caches when it exits go back to the table. */
enum { CACHE_MAX = 64, CACHE_BATCH = 32 };

typedef struct rec_cache {
  int n;
  uint32_t idx[CACHE_MAX];
} rec_cache;

static _Thread_local rec_cache cache; /* this thread only */
static _Thread_local int cache_registered;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* Give n cached records back to the table. */
static void cache_spill(rec_cache *c, int n) {
  pthread_mutex_lock(&table.lock);
  while (n-- > 0 && c->n > 0) {
    uint32_t i = c->idx[--c->n];
    rec_at(i)->next_free = table.free_head;
    table.free_head = i;
  }
  pthread_mutex_unlock(&table.lock);
}

static void cache_flush_at_exit(void *p) {
  cache_spill(p, CACHE_MAX);
}

static void cache_key_create(void) {
  BT_ASSERT(pthread_key_create(&cache_key, cache_flush_at_exit) == 0);
}

static void cache_register(void) {
  pthread_once(&cache_once, cache_key_create);
  (void)pthread_setspecific(cache_key, &cache);
  cache_registered = 1;
}

/* Fill the cache with up to CACHE_BATCH records from the table. */
static int cache_refill(rec_cache *c) {
  int rc = BT_OK;
  pthread_mutex_lock(&table.lock);
  while (c->n < CACHE_BATCH) {
    if (table.free_head == UINT32_MAX && (rc = grow()) != BT_OK) break;
    uint32_t i = table.free_head;
    table.free_head = rec_at(i)->next_free;
    c->idx[c->n++] = i;
  }
  pthread_mutex_unlock(&table.lock);
  return c->n > 0 ? BT_OK : rc;
}

/* Make the record's handles stale and put it back with the free ones. */
static void rec_free(uint32_t index, slice_rec *r) {
  uint64_t g = atomic_load_explicit(&r->gen, memory_order_relaxed) + 1;
  /* release: pairs with the acquire loads in lookup(); a stale handle's
   * owner sees the new generation or the old holder, never a match. */
  atomic_store_explicit(&r->gen, g, memory_order_release);
  atomic_store_explicit(&r->holder, 0, memory_order_release);
  if (BT_UNLIKELY(g == GEN_LAST)) return; /* retired: ids never repeat */
  if (BT_UNLIKELY(!cache_registered)) cache_register();
  if (cache.n == CACHE_MAX) cache_spill(&cache, CACHE_BATCH);
  cache.idx[cache.n++] = index;
}

/* Take n free records, held by the calling thread; indexes into idx. */
static int recs_alloc(int n, uint32_t *idx) {
  uint64_t self = bt__thread_id();
  if (BT_UNLIKELY(!cache_registered)) cache_register();
  for (int got = 0; got < n; got++) {
    if (cache.n == 0) {
      int rc = cache_refill(&cache);
      if (rc != BT_OK) {
        while (got > 0) { /* give back what this call took */
          uint32_t i = idx[--got];
          if (cache.n == CACHE_MAX) cache_spill(&cache, CACHE_BATCH);
          cache.idx[cache.n++] = i;
        }
        return rc;
      }
    }
    idx[got] = cache.idx[--cache.n];
  }
  for (int k = 0; k < n; k++) {
    slice_rec *r = rec_at(idx[k]);
    BT_ASSERT(r != NULL); /* cached indexes are records of the table */
    atomic_store_explicit(&r->numa, NUMA_UNKNOWN, memory_order_relaxed);
    /* relaxed: a fresh record is reached by others only through a handle
     * that this thread publishes later (channel, lock). */
    atomic_store_explicit(&r->holder, self, memory_order_relaxed);
  }
  return BT_OK;
}

/* The live record of s, or NULL. */
static inline slice_rec *lookup(bt_slice s) {
  uint32_t index = (uint32_t)(s.id & INDEX_MASK);
  uint64_t gen = s.id >> INDEX_BITS;
  slice_rec *r = rec_at(index);
  /* acquire: pairs with the release store in rec_free(). */
  if (!r || gen == 0 ||
      atomic_load_explicit(&r->gen, memory_order_acquire) != gen)
    return NULL;
  return r;
}

/* The record of s if the calling thread holds it, else NULL (message set). */
static slice_rec *held(bt_slice s, const char *what) {
  slice_rec *r = lookup(s);
  if (BT_UNLIKELY(!r)) {
    bt__fail(BT_EMOVED,
             "%s: slice %#" PRIx64 " is stale (released, split or never made)",
             what, s.id);
    return NULL;
  }
  uint64_t h = atomic_load_explicit(&r->holder, memory_order_acquire);
  if (BT_UNLIKELY(h != bt__thread_id())) {
    if (h == 0)
      bt__fail(BT_EMOVED, "%s: slice %#" PRIx64 " was sent (in flight)", what,
               s.id);
    else
      bt__fail(BT_EMOVED,
               "%s: slice %#" PRIx64 " is held by thread %" PRIu64
               ", not by the caller (thread %" PRIu64 ")",
               what, s.id, h, bt__thread_id());
    return NULL;
  }
  /* The generation could have moved between the loads only through the
   * holder, which is us. */
  return r;
}

static void debug_check(const bt_array *a) {
  if (BT_UNLIKELY(bt__debug_checks())) {
    int c = bt__regions_check(a);
    BT_ASSERT(c == BT_OK);
  }
}

static int check_region(const bt_array *a, const bt_range *region, int64_t *lo,
                        int64_t *hi) {
  for (int d = 0; d < a->ndim; d++) {
    if (!region) {
      lo[d] = 0;
      hi[d] = a->shape[d];
    } else {
      lo[d] = region[d].start;
      hi[d] = region[d].stop;
    }
    if (lo[d] < 0 || hi[d] > a->shape[d] || lo[d] >= hi[d]) {
      char box[256];
      bt__box_format(box, sizeof box, d + 1, lo, hi);
      return bt__fail(BT_EINVAL,
                      "region %s: axis %d range [%" PRId64 ":%" PRId64
                      ") is empty or outside [0:%" PRId64 ")",
                      box, d, lo[d], hi[d], a->shape[d]);
    }
  }
  return BT_OK;
}

static int take(bt_array *a, const bt_range *region, int64_t timeout_ns,
                int owned, bt_slice *s) {
  const char *op = owned ? "bt_array_own" : "bt_array_borrow";
  bt_array *x = bt__array_get(a);
  if (!x) return bt__bad_handle(op, "array", a);
  if (!s) return bt__fail(BT_EINVAL, "%s: the output slice is NULL", op);
  int64_t lo[BT_MAX_DIMS], hi[BT_MAX_DIMS];
  int rc = check_region(x, region, lo, hi);
  if (rc != BT_OK) return rc;
  uint32_t index;
  rc = recs_alloc(1, &index);
  if (rc != BT_OK) return rc;
  slice_rec *r = rec_at(index);
  /* A sub-array locks its region in its root's table. */
  bt_array *root = x->root;
  int64_t rlo[BT_MAX_DIMS], rhi[BT_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) {
    rlo[d] = lo[d] + x->off[d];
    rhi[d] = hi[d] + x->off[d];
  }
  bt__grant *g;
  rc = bt__regions_grant(root, rlo, rhi, owned, timeout_ns, &g);
  if (rc != BT_OK) goto err_free_rec;
  if (root != x) {
    /* The grant keeps the sub-array alive for the slices that point to
     * it; put drops the reference. */
    bt_array_retain(x);
    g->via = x;
  }
  r->array = x;
  r->grant = g;
  r->ndim = x->ndim;
  r->owned = owned;
  memcpy(r->lo, lo, sizeof lo);
  memcpy(r->hi, hi, sizeof hi);
  debug_check(root);
  s->id = make_id(atomic_load_explicit(&r->gen, memory_order_relaxed), index);
  return BT_OK;
err_free_rec:
  rec_free(index, r);
  return rc;
}

int bt_array_own(bt_array *a, const bt_range *region, int64_t timeout_ns,
                 bt_slice *s) {
  return take(a, region, timeout_ns, 1, s);
}

int bt_array_borrow(bt_array *a, const bt_range *region, int64_t timeout_ns,
                    bt_slice *s) {
  return take(a, region, timeout_ns, 0, s);
}

/* Drop record r of handle s: its handles go stale, its grant loses a slice. */
static void drop(bt_slice s, slice_rec *r) {
  bt_array *a = r->array->root;
  bt__grant *g = r->grant;
  /* acquire: pairs with the release stores of holder in the transfer hooks.
   * In flight (0) or another thread's: the slice counted as away. */
  int away =
      atomic_load_explicit(&r->holder, memory_order_acquire) != g->granter;
  debug_check(a); /* before: the put may free the array */
  rec_free((uint32_t)(s.id & INDEX_MASK), r);
  bt__regions_put(a, g, away);
}

int bt_slice_release(bt_slice s) {
  slice_rec *r = held(s, "release");
  if (!r) return BT_EMOVED;
  drop(s, r);
  return BT_OK;
}

void bt__slice_drop(bt_slice s) {
  slice_rec *r = lookup(s);
  if (r) drop(s, r);
}

int bt__slice_held(bt_slice s) {
  slice_rec *r = lookup(s);
  return r && atomic_load_explicit(&r->holder, memory_order_acquire) ==
                  bt__thread_id();
}

void bt_slice_cleanup(bt_slice *s) {
  if (s && bt__slice_held(*s)) {
    slice_rec *r = lookup(*s);
    drop(*s, r);
  }
}

enum { SPLIT_ON_STACK = 64 };

int bt_slice_split(bt_slice s, int axis, int parts, bt_slice *out) {
  slice_rec *r = held(s, "split");
  if (!r) return BT_EMOVED;
  if (axis < 0 || axis >= r->ndim)
    return bt__fail(BT_EINVAL, "split: axis %d of a %d-d slice", axis, r->ndim);
  int64_t extent = r->hi[axis] - r->lo[axis];
  if (parts < 1 || parts > extent)
    return bt__fail(BT_EINVAL,
                    "split: %d parts of extent %" PRId64 " on axis %d", parts,
                    extent, axis);
  if (!out) return bt__fail(BT_EINVAL, "split: output array is NULL");
  uint32_t stack_idx[SPLIT_ON_STACK], *idx = stack_idx;
  if (parts > SPLIT_ON_STACK) {
    idx = malloc(sizeof *idx * (size_t)parts);
    if (!idx) return bt__fail(BT_ENOMEM, "split: %d parts", parts);
  }
  int rc = recs_alloc(parts, idx);
  if (rc != BT_OK) goto out;
  bt__regions_add(r->array->root, r->grant, parts - 1,
                  r->grant->granter != bt__thread_id());
  int64_t base = r->lo[axis];
  for (int i = 0; i < parts; i++) {
    slice_rec *c = rec_at(idx[i]);
    c->array = r->array;
    c->grant = r->grant;
    c->ndim = r->ndim;
    c->owned = r->owned;
    memcpy(c->lo, r->lo, sizeof c->lo);
    memcpy(c->hi, r->hi, sizeof c->hi);
    c->lo[axis] = base + bt__part_start(extent, parts, i);
    c->hi[axis] = base + bt__part_start(extent, parts, i + 1);
  }
  /* The parent goes: the grant keeps the region locked through its parts. */
  bt_array *a = r->array->root;
  rec_free((uint32_t)(s.id & INDEX_MASK), r);
  debug_check(a);
  for (int i = 0; i < parts; i++) {
    slice_rec *c = rec_at(idx[i]);
    out[i].id =
        make_id(atomic_load_explicit(&c->gen, memory_order_relaxed), idx[i]);
  }
out:
  if (idx != stack_idx) free(idx);
  return rc;
}

static void fill_view(const slice_rec *r, bt_view *v, int numa) {
  const bt_array *a = r->array;
  int64_t offset = 0;
  memset(v, 0, sizeof *v);
  for (int d = 0; d < r->ndim; d++) {
    offset += r->lo[d] * a->strides[d];
    v->shape[d] = r->hi[d] - r->lo[d];
    v->strides[d] = a->strides[d];
    v->origin[d] = r->lo[d];
  }
  v->data = a->data + offset * (int64_t)a->elem;
  v->dtype = a->dtype;
  v->ndim = r->ndim;
  v->writable = r->owned;
  v->numa = numa;
}

static int rec_numa(slice_rec *r) {
  /* relaxed: a cache; two threads computing it store the same answer. */
  int numa = atomic_load_explicit(&r->numa, memory_order_relaxed);
  if (numa == NUMA_UNKNOWN) {
    int64_t offset = 0;
    for (int d = 0; d < r->ndim; d++) offset += r->lo[d] * r->array->strides[d];
    numa = bt__place_numa_of(r->array->root,
                             r->array->data + offset * (int64_t)r->array->elem);
    atomic_store_explicit(&r->numa, numa, memory_order_relaxed);
  }
  return numa;
}

int bt_slice_view(bt_slice s, bt_view *v) {
  slice_rec *r = held(s, "view");
  if (!r) return BT_EMOVED;
  if (!v) return bt__fail(BT_EINVAL, "view: output is NULL");
  fill_view(r, v, rec_numa(r));
  return BT_OK;
}

int bt__slice_view_any(bt_slice s, bt_view *v) {
  slice_rec *r = lookup(s);
  if (!r) return bt__fail(BT_EMOVED, "slice %#" PRIx64 " is stale", s.id);
  fill_view(r, v, rec_numa(r));
  return BT_OK;
}

bt_array *bt_slice_array(bt_slice s) {
  slice_rec *r = held(s, "array");
  return r ? r->array : NULL;
}

int bt_slice_migrate(bt_slice s, int numa) {
  slice_rec *r = held(s, "migrate");
  if (!r) return BT_EMOVED;
  bt_view v;
  fill_view(r, &v, -1);
  /* The pages from the first element to the last one, holes included. */
  int64_t last = 0;
  for (int d = 0; d < v.ndim; d++)
    last +=
        (v.shape[d] - 1) * (v.strides[d] < 0 ? -v.strides[d] : v.strides[d]);
  int64_t lo_off = 0;
  for (int d = 0; d < v.ndim; d++)
    if (v.strides[d] < 0) lo_off += (v.shape[d] - 1) * v.strides[d];
  const char *start = (const char *)v.data + lo_off * (int64_t)r->array->elem;
  size_t len = (size_t)(last + 1) * r->array->elem;
  int rc = bt__place_migrate(r->array->root, start, len, numa);
  if (rc == BT_OK) {
    atomic_store_explicit(&r->numa, NUMA_UNKNOWN, memory_order_relaxed);
    /* Its pages are no longer where a receive array's were touched.
     * relaxed: array_free() reads it after the last release, which the
     * acq_rel reference drops order after this store. */
    atomic_store_explicit(&r->array->root->recycle, 0, memory_order_relaxed);
  }
  return rc;
}

/* The slice holding the only reference of a: owned whole, or a is freed. */
static int own_only(bt_array *a, bt_slice *s) {
  bt_slice tmp;
  int rc = bt_array_own(a, NULL, 0, &tmp);
  bt_array_release(a); /* the slice's grant keeps it alive */
  if (rc != BT_OK) return rc;
  *s = tmp;
  return BT_OK;
}

int bt__slice_new_array(bt_runtime *rt, bt_dtype t, int ndim,
                        const int64_t *shape, bt_slice *s) {
  bt_array *a;
  int rc = bt_array_create(rt, t, ndim, shape, BT_PLACE_LOCAL, &a);
  return rc != BT_OK ? rc : own_only(a, s);
}

int bt__slice_recv_array(bt_runtime *rt, bt_dtype t, int ndim,
                         const int64_t *shape, bt_slice *s) {
  bt_array *a;
  int rc = bt__array_create_recv(rt, t, ndim, shape, &a);
  return rc != BT_OK ? rc : own_only(a, s);
}

int bt__slice_reuse_array(bt_array *a, bt_slice *s) {
  /* acquire: pairs with the acq_rel fetch_sub of the last slice's release
   * (the grants' reference), so the data it wrote is ours to overwrite. A
   * count of one is the caller's: no slice of a is alive and nobody else
   * can reach a (bt_slice_array needs a held slice), so it cannot grow
   * behind this look. */
  if (atomic_load_explicit(&a->refs, memory_order_acquire) != 1 ||
      /* relaxed: written before a was published, or by a migration under a
       * slice that is gone now (the acquire above ordered it). */
      !atomic_load_explicit(&a->recycle, memory_order_relaxed) ||
      atomic_load_explicit(&a->frozen, memory_order_relaxed) ||
      a->numa != bt__place_numa_here(a->rt))
    return BT_EBUSY;
  bt_slice tmp;
  int rc = bt_array_own(a, NULL, 0, &tmp);
  if (rc != BT_OK) return rc;
  *s = tmp;
  return BT_OK;
}

/* ---- the transfer type ------------------------------------------------- */

static int slice_on_send(void *elem, bt_transfer mode) {
  (void)mode; /* one check only, O(1): the same in both modes */
  bt_slice *s = elem;
  slice_rec *r = held(*s, "send");
  if (!r) return BT_EMOVED;
  /* relaxed: the granter's own count (see bt__grant.away). */
  if (r->grant->granter == bt__thread_id())
    atomic_fetch_add_explicit(&r->grant->away, 1, memory_order_relaxed);
  /* release: pairs with the acquire in held() of the next holder. */
  atomic_store_explicit(&r->holder, 0, memory_order_release);
  return BT_OK;
}

static void slice_on_recv(void *elem) {
  bt_slice *s = elem;
  slice_rec *r = lookup(*s);
  BT_ASSERT(r != NULL);
  uint64_t self = bt__thread_id();
  /* relaxed: the granter's own count (see bt__grant.away). */
  if (r->grant->granter == self)
    atomic_fetch_sub_explicit(&r->grant->away, 1, memory_order_relaxed);
  /* release: pairs with the acquire in held(); the data arrived through the
   * channel, which ordered the sender's writes before this. */
  atomic_store_explicit(&r->holder, self, memory_order_release);
}

static void slice_on_drop(void *elem) {
  bt__slice_drop(*(bt_slice *)elem);
}

static int slice_numa_of(const void *elem) {
  slice_rec *r = lookup(*(const bt_slice *)elem);
  return r ? rec_numa(r) : -1;
}

const bt_type bt_type_slice = {
    .name = "slice",
    .size = sizeof(bt_slice),
    .on_send = slice_on_send,
    .on_recv = slice_on_recv,
    .on_drop = slice_on_drop,
    .wire = NULL,
    .numa_of = slice_numa_of,
};
