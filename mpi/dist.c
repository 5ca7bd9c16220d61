/* SPDX-License-Identifier: BSD-3-Clause */
/* dist.c: distributed arrays: the layout (Cartesian grid, blocks, ghosts),
 * create, like, destroy, the accessors, and the global reductions. The
 * halo exchange is in halo.c. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baton/kernels.h"
#include "dist_int.h"

bt_darray *bt__darray_valid(const bt_darray *da) {
  if (da == NULL || da->magic != BT__DARRAY_MAGIC) return NULL;
  return (bt_darray *)da;
}

static void layout_unref(bt__layout *lay) {
  /* acq_rel: the last darray sees the others' writes (pairs with their
   * fetch_sub). */
  if (atomic_fetch_sub_explicit(&lay->refs, 1, memory_order_acq_rel) == 1)
    free(lay);
}

/* The caller's layout over the defaults of the fields its (older) header
 * lacks; -1 and a sentence in why for a struct_size that is no layout. */
#define END(field) BT__FIELD_END(bt_dist, field)
/* The last: sizeof, past corners by the tail padding. */
static const size_t dist_ends[] = {END(dtype),   END(ndim),      END(shape),
                                   END(procs),   END(halo),      END(periodic),
                                   END(corners), sizeof(bt_dist)};
static const bt__struct_layout dist_layout = {
    "bt_dist", "BT_DIST_INIT", END(shape),
    sizeof dist_ends / sizeof dist_ends[0], dist_ends};
#undef END

static int dist_adopt(const bt_dist *d, bt_dist *out, char *why, size_t len) {
  size_t size;
  memcpy(&size, d, sizeof size);
  if (bt__struct_size_why(&dist_layout, size, why, len) != 0) return -1;
  *out = (bt_dist)BT_DIST_INIT;
  memcpy((char *)out + sizeof size, (const char *)d + sizeof size,
         size - sizeof size);
  return 0;
}

/* Check d on its own (no communication); fill the grid into *out. A
 * sentence into why on failure. */
static int check_dist(bt_mpi *m, const bt_dist *d, bt_dist *out, char *why,
                      size_t len) {
  int size = m->size;
  if (d->dtype < BT_F64 || d->dtype > BT_U8)
    return snprintf(why, len, "dtype %d is not a bt_dtype", (int)d->dtype), -1;
  if (d->ndim < 1 || d->ndim > BT_MAX_DIMS)
    return snprintf(why, len, "ndim %d outside 1..%d", d->ndim, BT_MAX_DIMS),
           -1;
  if (d->corners != 0 && d->corners != 1)
    return snprintf(why, len, "corners %d is not 0 or 1", d->corners), -1;
  *out = *d;
  int64_t fixed = 1;
  int free_axes = 0;
  for (int a = 0; a < d->ndim; a++) {
    if (d->shape[a] < 1)
      return snprintf(why, len, "global extent %" PRId64 " of axis %d < 1",
                      d->shape[a], a),
             -1;
    if (d->procs[a] < 0)
      return snprintf(why, len, "procs %d of axis %d < 0", d->procs[a], a), -1;
    if (d->halo[a] < 0)
      return snprintf(why, len, "halo %d of axis %d < 0", d->halo[a], a), -1;
    if (d->periodic[a] != 0 && d->periodic[a] != 1)
      return snprintf(why, len, "periodic %d of axis %d is not 0 or 1",
                      d->periodic[a], a),
             -1;
    if (d->procs[a] == 0)
      free_axes++;
    else
      fixed *= d->procs[a];
    if (fixed > size) break;
  }
  if (free_axes == 0 ? fixed != size : size % fixed != 0) {
    char grid[160] = "";
    for (int a = 0, n = 0; a < d->ndim; a++)
      n += snprintf(grid + n, sizeof grid - (size_t)n, "%s%d", a ? "x" : "",
                    d->procs[a]);
    return snprintf(why, len,
                    "the grid %s (0: free) cannot hold the communicator's "
                    "%d ranks",
                    grid, size),
           -1;
  }
  if (free_axes) {
    int dims[BT_MAX_DIMS];
    for (int a = 0; a < d->ndim; a++) dims[a] = d->procs[a];
    if (!bt__mpi_free_calls(m)) pthread_mutex_lock(&m->lock);
    int rc = MPI_Dims_create(size, d->ndim, dims);
    if (!bt__mpi_free_calls(m)) pthread_mutex_unlock(&m->lock);
    if (rc != MPI_SUCCESS)
      return snprintf(why, len, "MPI_Dims_create refused %d ranks", size), -1;
    for (int a = 0; a < d->ndim; a++) out->procs[a] = dims[a];
  }
  for (int a = 0; a < d->ndim; a++) {
    int64_t block = d->shape[a] / out->procs[a];
    if (block < 1)
      return snprintf(why, len,
                      "axis %d: global extent %" PRId64
                      " over %d ranks "
                      "leaves a rank no cell",
                      a, d->shape[a], out->procs[a]),
             -1;
    if (block < d->halo[a])
      return snprintf(why, len,
                      "axis %d: halo %d is wider than the smallest block "
                      "(%" PRId64 " cells: extent %" PRId64 " over %d ranks)",
                      a, d->halo[a], block, d->shape[a], out->procs[a]),
             -1;
  }
  for (int a = d->ndim; a < BT_MAX_DIMS; a++) {
    out->shape[a] = 0;
    out->procs[a] = out->halo[a] = out->periodic[a] = 0;
  }
  return 0;
}

/* FNV-1a over the layout's fields, to see that every rank passed the
 * same one. */
static uint64_t dist_hash(const bt_dist *d) {
  uint64_t h = 1469598103934665603ull;
  int64_t words[4 + 4 * BT_MAX_DIMS];
  int n = 0;
  words[n++] = d->dtype;
  words[n++] = d->ndim;
  words[n++] = d->corners;
  for (int a = 0; a < BT_MAX_DIMS; a++) {
    words[n++] = d->shape[a];
    words[n++] = d->procs[a];
    words[n++] = d->halo[a];
    words[n++] = d->periodic[a];
  }
  const unsigned char *p = (const unsigned char *)words;
  for (size_t i = 0; i < (size_t)n * sizeof words[0]; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static bt__layout *layout_new(bt_mpi *m, const bt_dist *d) {
  bt__layout *lay = calloc(1, sizeof *lay);
  if (!lay) return NULL;
  atomic_init(&lay->refs, 1);
  lay->m = m;
  lay->dist = *d;
  lay->rank = m->rank;
  lay->size = m->size;
  /* Row-major (MPI Cartesian) coordinates of this rank. */
  int r = m->rank;
  for (int a = d->ndim - 1; a >= 0; a--) {
    lay->coords[a] = r % d->procs[a];
    r /= d->procs[a];
  }
  for (int a = 0; a < d->ndim; a++) {
    int64_t base = d->shape[a] / d->procs[a], extra = d->shape[a] % d->procs[a];
    int c = lay->coords[a];
    lay->n[a] = base + (c < extra);
    lay->lo[a] = c * base + (c < extra ? c : extra);
    lay->local[a] = lay->n[a] + 2 * d->halo[a];
  }
  return lay;
}

/* Collective: every rank says whether its layout was fine and which it
 * was; all refuse together. */
static int agree(bt_mpi *m, int ok, uint64_t hash, const char *who,
                 const char *why) {
  struct {
    int64_t ok;
    uint64_t hash;
  } mine = {ok, hash}, *all = malloc((size_t)m->size * sizeof mine);
  if (!all) return bt__fail(BT_ENOMEM, "%s: out of memory", who);
  int st = bt__coll_allgather(m, &mine, all, (int)sizeof mine);
  if (st != BT_OK) {
    free(all);
    return st;
  }
  int bad = -1, other = -1;
  for (int r = 0; r < m->size && bad < 0; r++)
    if (!all[r].ok) bad = r;
  for (int r = 1; r < m->size && other < 0 && bad < 0; r++)
    if (all[r].hash != all[0].hash) other = r;
  free(all);
  if (!ok) return bt__fail(BT_EINVAL, "%s: %s", who, why);
  if (bad >= 0)
    return bt__fail(BT_EINVAL,
                    "%s: rank %d refused its layout (its "
                    "bt_errmsg says why)",
                    who, bad);
  if (other >= 0)
    return bt__fail(BT_EINVAL,
                    "%s: ranks 0 and %d passed different "
                    "layouts",
                    who, other);
  return BT_OK;
}

/* Arrays, communicator and messages of a darray of layout lay, which it
 * shares (one more reference on success). Collective (the dup). */
static int darray_build(bt__layout *lay, const char *who, bt_darray **out) {
  bt_mpi *m = lay->m;
  bt_darray *da = calloc(1, sizeof *da);
  if (!da) return bt__fail(BT_ENOMEM, "%s: out of memory", who);
  da->comm = MPI_COMM_NULL;
  atomic_init(&da->exchanging, 0);
  int st = bt__coll_enter(m, who);
  if (st != BT_OK) goto err_free;
  st = bt__coll_dup(m, &da->comm);
  bt__coll_leave(m);
  if (st != BT_OK) goto err_free;
  const bt_dist *d = &lay->dist;
  st = bt_array_create(m->rt, d->dtype, d->ndim, lay->local,
                       m->rt ? BT_PLACE_BLOCKS : BT_PLACE_LOCAL, &da->local);
  if (st != BT_OK) goto err_comm;
  bt_range inner[BT_MAX_DIMS];
  for (int a = 0; a < d->ndim; a++)
    inner[a] = (bt_range){d->halo[a], d->halo[a] + lay->n[a]};
  st = bt_array_sub(da->local, inner, &da->interior);
  if (st != BT_OK) goto err_local;
  da->lay = lay;
  st = bt__halo_init(da);
  if (st != BT_OK) goto err_interior;
  atomic_fetch_add_explicit(&lay->refs, 1, memory_order_relaxed);
  da->magic = BT__DARRAY_MAGIC;
  *out = da;
  return BT_OK;

err_interior:
  bt_array_release(da->interior);
err_local:
  bt_array_release(da->local);
err_comm:
  if (!bt__mpi_free_calls(m)) pthread_mutex_lock(&m->lock);
  MPI_Comm_free(&da->comm);
  if (!bt__mpi_free_calls(m)) pthread_mutex_unlock(&m->lock);
err_free:
  free(da);
  return st;
}

int bt_darray_create(bt_mpi *mpi, const bt_dist *d, bt_darray **out) {
  static const char who[] = "bt_darray_create";
  bt_mpi *m = bt__mpi_valid(mpi);
  if (!m) return bt__fail(BT_EINVAL, "%s: not a bridge", who);
  char why[256] = "";
  bt_dist given, full;
  memset(&full, 0, sizeof full);
  int ok = 1;
  if (d == NULL) {
    snprintf(why, sizeof why, "the layout is NULL");
    ok = 0;
  } else if (out == NULL) {
    snprintf(why, sizeof why, "the out-parameter is NULL");
    ok = 0;
  } else if (dist_adopt(d, &given, why, sizeof why) != 0 ||
             check_dist(m, &given, &full, why, sizeof why) != 0) {
    ok = 0;
  }
  /* Every rank takes part in the agreement, a refusing one too, so a bad
   * layout on any rank is an error on all, never a hang. */
  int st = bt__coll_enter(m, who);
  if (st != BT_OK) return st;
  st = agree(m, ok, ok ? dist_hash(&full) : 0, who, why);
  bt__coll_leave(m);
  if (st != BT_OK) return st;
  bt__layout *lay = layout_new(m, &full);
  if (!lay) return bt__fail(BT_ENOMEM, "%s: out of memory", who);
  st = darray_build(lay, who, out);
  layout_unref(lay);
  return st;
}

int bt_darray_like(const bt_darray *dain, bt_darray **twin) {
  static const char who[] = "bt_darray_like";
  bt_darray *da = bt__darray_valid(dain);
  if (!da) return bt__fail(BT_EINVAL, "%s: not a live darray", who);
  if (!twin) return bt__fail(BT_EINVAL, "%s: NULL out-parameter", who);
  return darray_build(da->lay, who, twin);
}

int bt_darray_destroy(bt_darray *dain) {
  if (dain == NULL) return BT_OK;
  bt_darray *da = bt__darray_valid(dain);
  if (!da) return bt__fail(BT_EINVAL, "bt_darray_destroy: not a live darray");
  /* relaxed: the darray is used by one thread at a time (dist.h). */
  if (atomic_load_explicit(&da->exchanging, memory_order_relaxed))
    return bt__fail(BT_ESTATE,
                    "bt_darray_destroy: a halo exchange is under "
                    "way; end it first");
  bt_mpi *m = da->lay->m;
  da->magic = 0;
  bt__halo_fini(da);
  if (!bt__mpi_free_calls(m)) pthread_mutex_lock(&m->lock);
  MPI_Comm_free(&da->comm);
  if (!bt__mpi_free_calls(m)) pthread_mutex_unlock(&m->lock);
  bt_array_release(da->interior);
  bt_array_release(da->local);
  layout_unref(da->lay);
  free(da);
  return BT_OK;
}

bt_array *bt_darray_local(bt_darray *dain) {
  bt_darray *da = bt__darray_valid(dain);
  if (!da) {
    bt__fail(BT_EINVAL, "bt_darray_local: not a live darray");
    return NULL;
  }
  return da->local;
}

bt_array *bt_darray_interior(bt_darray *dain) {
  bt_darray *da = bt__darray_valid(dain);
  if (!da) {
    bt__fail(BT_EINVAL, "bt_darray_interior: not a live darray");
    return NULL;
  }
  return da->interior;
}

int bt_darray_owned(const bt_darray *dain, bt_range *global) {
  const bt_darray *da = bt__darray_valid(dain);
  if (!da) return bt__fail(BT_EINVAL, "bt_darray_owned: not a live darray");
  if (!global) return bt__fail(BT_EINVAL, "bt_darray_owned: NULL output");
  for (int a = 0; a < da->lay->dist.ndim; a++)
    global[a] = (bt_range){da->lay->lo[a], da->lay->lo[a] + da->lay->n[a]};
  return BT_OK;
}

int bt_darray_coords(const bt_darray *dain, int *coords) {
  const bt_darray *da = bt__darray_valid(dain);
  if (!da) return bt__fail(BT_EINVAL, "bt_darray_coords: not a live darray");
  if (!coords) return bt__fail(BT_EINVAL, "bt_darray_coords: NULL output");
  memcpy(coords, da->lay->coords, (size_t)da->lay->dist.ndim * sizeof *coords);
  return BT_OK;
}

int bt_darray_dist(const bt_darray *dain, bt_dist *d) {
  const bt_darray *da = bt__darray_valid(dain);
  if (!da) return bt__fail(BT_EINVAL, "bt_darray_dist: not a live darray");
  if (!d) return bt__fail(BT_EINVAL, "bt_darray_dist: NULL output");
  *d = da->lay->dist;
  return BT_OK;
}

/* ---- global reductions -------------------------------------------------- */

/* Gather every rank's partial in rank order and combine them in that order
 * on every rank: bit-identical wherever and whenever it runs. kind 0: sum,
 * 1: 2-norm (the partials are norms; scaled by their largest). */
static int combine(bt_mpi *m, const char *who, double mine, int kind,
                   double *out) {
  double *all = malloc((size_t)m->size * sizeof *all);
  if (!all) return bt__fail(BT_ENOMEM, "%s: out of memory", who);
  int st = bt__coll_enter(m, who);
  if (st == BT_OK) {
    st = bt__coll_allgather(m, &mine, all, (int)sizeof mine);
    bt__coll_leave(m);
  }
  if (st != BT_OK) {
    free(all);
    return st;
  }
  double r = 0;
  if (kind == 0) {
    for (int i = 0; i < m->size; i++) r += all[i];
  } else {
    double big = 0;
    for (int i = 0; i < m->size; i++)
      if (fabs(all[i]) > big) big = fabs(all[i]);
    if (big > 0 && isfinite(big)) {
      double s = 0;
      for (int i = 0; i < m->size; i++) s += (all[i] / big) * (all[i] / big);
      r = big * sqrt(s);
    } else {
      r = big;
      for (int i = 0; i < m->size; i++)
        if (isnan(all[i])) r = all[i];
    }
  }
  free(all);
  *out = r;
  return BT_OK;
}

static void describe(const bt_darray *da, char *buf, size_t len) {
  const bt_dist *d = &da->lay->dist;
  int n = snprintf(buf, len, "%p (%s, global ", (const void *)da,
                   bt_dtype_name(d->dtype));
  for (int a = 0; a < d->ndim && n < (int)len; a++)
    n += snprintf(buf + n, len - (size_t)n, "%s%" PRId64, a ? "x" : "",
                  d->shape[a]);
  for (int a = 0; a < d->ndim && n < (int)len; a++)
    n += snprintf(buf + n, len - (size_t)n, "%s%d", a ? "x" : ", grid ",
                  d->procs[a]);
  for (int a = 0; a < d->ndim && n < (int)len; a++)
    n += snprintf(buf + n, len - (size_t)n, "%s%d", a ? "," : ", halo ",
                  d->halo[a]);
  if (n < (int)len) snprintf(buf + n, len - (size_t)n, ")");
}

/* Same bridge and same layout (twins, or created alike). */
static int same_layout(const char *who, const bt_darray *x,
                       const bt_darray *y) {
  if (x->lay == y->lay ||
      (x->lay->m == y->lay->m &&
       dist_hash(&x->lay->dist) == dist_hash(&y->lay->dist)))
    return BT_OK;
  char a[200], b[200];
  describe(x, a, sizeof a);
  describe(y, b, sizeof b);
  return bt__fail(BT_EINVAL, "%s: darrays %s and %s have different layouts",
                  who, a, b);
}

int bt_darray_dot(bt_darray *xin, bt_darray *yin, double *out) {
  static const char who[] = "bt_darray_dot";
  bt_darray *x = bt__darray_valid(xin), *y = bt__darray_valid(yin);
  if (!x || !y)
    return bt__fail(BT_EINVAL, "%s: %s is not a live darray", who,
                    !x ? "x" : "y");
  if (!out) return bt__fail(BT_EINVAL, "%s: NULL output", who);
  int st = same_layout(who, x, y);
  if (st != BT_OK) return st;
  double mine = 0;
  st = bt_dot(x->lay->m->rt, x->interior, y->interior, &mine);
  if (st != BT_OK) return st;
  return combine(x->lay->m, who, mine, 0, out);
}

int bt_darray_nrm2(bt_darray *xin, double *out) {
  static const char who[] = "bt_darray_nrm2";
  bt_darray *x = bt__darray_valid(xin);
  if (!x) return bt__fail(BT_EINVAL, "%s: not a live darray", who);
  if (!out) return bt__fail(BT_EINVAL, "%s: NULL output", who);
  double mine = 0;
  int st = bt_nrm2(x->lay->m->rt, x->interior, &mine);
  if (st != BT_OK) return st;
  return combine(x->lay->m, who, mine, 1, out);
}

int bt_darray_sum(bt_darray *xin, double *out) {
  static const char who[] = "bt_darray_sum";
  bt_darray *x = bt__darray_valid(xin);
  if (!x) return bt__fail(BT_EINVAL, "%s: not a live darray", who);
  if (!out) return bt__fail(BT_EINVAL, "%s: NULL output", who);
  double mine = 0;
  int st = bt_sum(x->lay->m->rt, x->interior, &mine);
  if (st != BT_OK) return st;
  return combine(x->lay->m, who, mine, 0, out);
}
