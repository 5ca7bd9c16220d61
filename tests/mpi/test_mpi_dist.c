/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_dist.c: distributed arrays (baton/dist.h): layouts over 1, 2, 3
 * and 4 ranks in 1-D, 2-D and 3-D, uneven extents, periodic or not, halo
 * widths 1 and 2, corners or faces only. After an exchange every ghost
 * cell holds the neighbour's value of a known global function, or, past a
 * non-periodic boundary (and in corners without corners), the value it had
 * before. Reductions against a serial sum of the same function, and
 * bit-identical from call to call. Bad input answers a code and a
 * sentence. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>

#include "baton/dist.h"
#include "baton/kernels.h"
#include "mpitest.h"

#define SENTINEL (-7.0)

/* The global function: unique per cell. */
static double gfun(const bt_dist *d, const int64_t *g) {
  double v = 0;
  for (int a = 0; a < d->ndim; a++)
    v = v * (double)(d->shape[a] + 3) + (double)(g[a] + 1);
  return v;
}

/* Walk every element of a view: cb(index in the view, pointer). */
typedef void (*cell_fn)(const int64_t *idx, double *p, void *ctx);
static void walk(const bt_view *v, cell_fn fn, void *ctx) {
  int64_t idx[BT_MAX_DIMS] = {0}, n = 1;
  for (int a = 0; a < v->ndim; a++) n *= v->shape[a];
  for (int64_t k = 0; k < n; k++) {
    int64_t off = 0;
    for (int a = 0; a < v->ndim; a++) off += idx[a] * v->strides[a];
    fn(idx, (double *)v->data + off, ctx);
    for (int a = v->ndim - 1; a >= 0; a--) {
      if (++idx[a] < v->shape[a]) break;
      idx[a] = 0;
    }
  }
}

typedef struct fill_ctx {
  bt_dist d;
  bt_range owned[BT_MAX_DIMS];
  int checked, untouched;
} fill_ctx;

/* Local index -> global index (may lie outside [0, shape)). */
static void to_global(const fill_ctx *c, const int64_t *idx, int64_t *g) {
  for (int a = 0; a < c->d.ndim; a++)
    g[a] = c->owned[a].start + idx[a] - c->d.halo[a];
}

static void fill_cell(const int64_t *idx, double *p, void *ctx) {
  fill_ctx *c = ctx;
  int64_t g[BT_MAX_DIMS];
  to_global(c, idx, g);
  int inside = 1;
  for (int a = 0; a < c->d.ndim; a++)
    if (g[a] < c->owned[a].start || g[a] >= c->owned[a].stop) inside = 0;
  *p = inside ? gfun(&c->d, g) : SENTINEL;
}

static void check_cell(const int64_t *idx, double *p, void *ctx) {
  fill_ctx *c = ctx;
  int64_t g[BT_MAX_DIMS];
  to_global(c, idx, g);
  int ghost_axes = 0, boundary = 0;
  for (int a = 0; a < c->d.ndim; a++) {
    if (g[a] < c->owned[a].start || g[a] >= c->owned[a].stop) ghost_axes++;
    if (g[a] < 0 || g[a] >= c->d.shape[a]) {
      if (c->d.periodic[a])
        g[a] = (g[a] + c->d.shape[a]) % c->d.shape[a];
      else
        boundary = 1;
    }
  }
  double want = gfun(&c->d, g);
  if (boundary || (ghost_axes > 1 && !c->d.corners)) {
    want = SENTINEL;
    c->untouched++;
  } else {
    c->checked++;
  }
  if (*p != want) {
    char at[128];
    int n = 0;
    for (int a = 0; a < c->d.ndim; a++)
      n += snprintf(at + n, sizeof at - (size_t)n, "%s%lld", a ? "," : "",
                    (long long)idx[a]);
    bt_test_fail(__FILE__, __LINE__,
                 "rank %d: local cell [%s] (ndim %d, halo %d, corners %d, "
                 "periodic %d): %g, want %g",
                 mt_rank(), at, c->d.ndim, c->d.halo[0], c->d.corners,
                 c->d.periodic[0], *p, want);
  }
}

static void with_local(bt_darray *da, int writable, cell_fn fn, fill_ctx *c) {
  bt_slice s;
  bt_array *local = bt_darray_local(da);
  BT_CHECK(local != NULL);
  if (writable)
    BT_CHECK_OK(bt_array_own(local, NULL, -1, &s));
  else
    BT_CHECK_OK(bt_array_borrow(local, NULL, -1, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  walk(&v, fn, c);
  BT_CHECK_OK(bt_slice_release(s));
}

/* Create, fill, exchange (split phase, with the interior's core owned in
 * between; ended by a blocking wait, then by polls with timeout 0), check
 * every cell of the local block. */
static void exchange_case(bt_mpi *m, const bt_dist *d) {
  bt_darray *da;
  BT_CHECK_OK(bt_darray_create(m, d, &da));
  fill_ctx c = {.checked = 0};
  BT_CHECK_OK(bt_darray_dist(da, &c.d));
  BT_CHECK_OK(bt_darray_owned(da, c.owned));
  int64_t prod = 1;
  for (int a = 0; a < d->ndim; a++) {
    BT_CHECK(c.d.procs[a] >= 1);
    prod *= c.d.procs[a];
  }
  BT_CHECK_EQ(prod, bt_mpi_size(m));
  with_local(da, 1, fill_cell, &c);
  for (int rep = 0; rep < 2; rep++) {
    BT_CHECK_OK(bt_darray_halo_begin(da));
    /* The ghosts are the exchange's now; the interior is free to read. */
    int any = 0; /* a ghost region that some neighbour writes */
    for (int a = 0; a < d->ndim; a++)
      any |= c.d.halo[a] > 0 && (c.d.procs[a] > 1 || c.d.periodic[a]);
    bt_slice s;
    BT_CHECK_STATUS(bt_array_own(bt_darray_local(da), NULL, 0, &s),
                    any ? BT_EBUSY : BT_OK);
    if (!any) BT_CHECK_OK(bt_slice_release(s));
    BT_CHECK_OK(bt_array_borrow(bt_darray_interior(da), NULL, 0, &s));
    BT_CHECK_OK(bt_slice_release(s));
    if (rep == 0) {
      BT_CHECK_OK(bt_darray_halo_end(da, -1));
    } else {
      /* Polled with timeout 0: "still under way" until it is done. */
      int st;
      while ((st = bt_darray_halo_end(da, 0)) == BT_ETIMEDOUT)
        BT_CHECK(strstr(bt_errmsg(), "call again") != NULL);
      BT_CHECK_OK(st);
      BT_CHECK_STATUS(bt_darray_halo_end(da, 0), BT_ESTATE);
    }
    c.checked = c.untouched = 0;
    with_local(da, 0, check_cell, &c);
  }
  BT_CHECK_OK(bt_darray_destroy(da));
}

static bt_dist dist(int ndim, const int64_t *shape, int halo, int per_mask,
                    int corners) {
  bt_dist d = {.struct_size = sizeof(bt_dist),
               .dtype = BT_F64,
               .ndim = ndim,
               .corners = corners};
  for (int a = 0; a < ndim; a++) {
    d.shape[a] = shape[a];
    d.halo[a] = halo;
    d.periodic[a] = (per_mask >> a) & 1;
  }
  return d;
}

static void all_layouts(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  static const int64_t s1[] = {13}, s2[] = {7, 9}, s3[] = {7, 6, 8};
  int n = 0;
  for (int halo = 1; halo <= 2; halo++) {
    for (int per = 0; per < 2; per++) {
      bt_dist d = dist(1, s1, halo, per, 0);
      exchange_case(m, &d);
      n++;
    }
    for (int per = 0; per < 4; per++) {
      for (int corners = 0; corners < 2; corners++) {
        bt_dist d = dist(2, s2, halo, per, corners);
        exchange_case(m, &d);
        /* Ranks along the second axis only. */
        d.procs[0] = 1;
        exchange_case(m, &d);
        n += 2;
      }
    }
    for (int per = 0; per < 8; per += 3) {
      for (int corners = 0; corners < 2; corners++) {
        bt_dist d = dist(3, s3, halo, per, corners);
        exchange_case(m, &d);
        n++;
      }
    }
  }
  /* Different halo widths per axis, one of them 0. */
  bt_dist d = dist(2, s2, 1, 3, 1);
  d.halo[1] = 0;
  exchange_case(m, &d);
  d.halo[0] = 0;
  d.halo[1] = 2;
  exchange_case(m, &d);
  BT_CHECK(n > 0);
}

BT_TEST_MPI(halo_1rank, 1) {
  mt_both_modes(all_layouts);
}
BT_TEST_MPI(halo_2ranks, 2) {
  mt_both_modes(all_layouts);
}
BT_TEST_MPI(halo_3ranks, 3) {
  mt_both_modes(all_layouts);
}
BT_TEST_MPI(halo_4ranks, 4) {
  mt_both_modes(all_layouts);
}

BT_TEST_MPI(serialized_halo, 3) {
  mt_once(all_layouts);
}

/* ---- reductions ---------------------------------------------------------- */

static void fill_interior(bt_darray *da, double (*f)(const int64_t *g)) {
  bt_range owned[BT_MAX_DIMS];
  BT_CHECK_OK(bt_darray_owned(da, owned));
  bt_slice s;
  BT_CHECK_OK(bt_array_own(bt_darray_interior(da), NULL, -1, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  int64_t idx[BT_MAX_DIMS] = {0}, n = 1;
  for (int a = 0; a < v.ndim; a++) n *= v.shape[a];
  for (int64_t k = 0; k < n; k++) {
    int64_t off = 0, g[BT_MAX_DIMS];
    for (int a = 0; a < v.ndim; a++) {
      off += idx[a] * v.strides[a];
      g[a] = owned[a].start + idx[a];
    }
    ((double *)v.data)[off] = f(g);
    for (int a = v.ndim - 1; a >= 0; a--) {
      if (++idx[a] < v.shape[a]) break;
      idx[a] = 0;
    }
  }
  BT_CHECK_OK(bt_slice_release(s));
}

static const int64_t red_shape[3] = {11, 10, 9};
static double fx(const int64_t *g) {
  return 1.0 / (double)(1 + g[0] + 3 * g[1] + 7 * g[2]);
}
static double fy(const int64_t *g) {
  return (double)((g[0] * 5 + g[1] * 3 + g[2]) % 17) - 8.25;
}

static void reductions(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  bt_dist d = dist(3, red_shape, 1, 0, 0);
  bt_darray *x, *y, *z;
  BT_CHECK_OK(bt_darray_create(m, &d, &x));
  BT_CHECK_OK(bt_darray_like(x, &y));
  BT_CHECK_OK(bt_darray_create(m, &d, &z)); /* same layout, made apart */
  fill_interior(x, fx);
  fill_interior(y, fy);
  fill_interior(z, fy);
  double dot_s = 0, sum_s = 0, sq_s = 0;
  int64_t g[3];
  for (g[0] = 0; g[0] < red_shape[0]; g[0]++)
    for (g[1] = 0; g[1] < red_shape[1]; g[1]++)
      for (g[2] = 0; g[2] < red_shape[2]; g[2]++) {
        dot_s += fx(g) * fy(g);
        sum_s += fy(g);
        sq_s += fy(g) * fy(g);
      }
  double dot, sum, nrm, dot2, sum2, nrm2, dotz;
  BT_CHECK_OK(bt_darray_dot(x, y, &dot));
  BT_CHECK_OK(bt_darray_sum(y, &sum));
  BT_CHECK_OK(bt_darray_nrm2(y, &nrm));
  BT_CHECK_NEAR(dot, dot_s, 1e-12 * fabs(dot_s) + 1e-12);
  BT_CHECK_NEAR(sum, sum_s, 1e-12 * fabs(sum_s) + 1e-12);
  BT_CHECK_NEAR(nrm, sqrt(sq_s), 1e-12 * sqrt(sq_s));
  for (int rep = 0; rep < 5; rep++) {
    BT_CHECK_OK(bt_darray_dot(x, y, &dot2));
    BT_CHECK_OK(bt_darray_sum(y, &sum2));
    BT_CHECK_OK(bt_darray_nrm2(y, &nrm2));
    BT_CHECK_OK(bt_darray_dot(x, z, &dotz));
    BT_CHECK(memcmp(&dot, &dot2, sizeof dot) == 0);
    BT_CHECK(memcmp(&dot, &dotz, sizeof dot) == 0);
    BT_CHECK(memcmp(&sum, &sum2, sizeof sum) == 0);
    BT_CHECK(memcmp(&nrm, &nrm2, sizeof nrm) == 0);
  }
  /* Every rank got the very same bits. */
  double mine[3] = {dot, sum, nrm}, lo[3], hi[3];
  BT_CHECK_OK(bt_mpi_allreduce(m, BT_MIN, BT_F64, mine, lo, 3));
  BT_CHECK_OK(bt_mpi_allreduce(m, BT_MAX, BT_F64, mine, hi, 3));
  BT_CHECK(memcmp(lo, hi, sizeof lo) == 0);
  BT_CHECK_OK(bt_darray_destroy(z));
  BT_CHECK_OK(bt_darray_destroy(y));
  BT_CHECK_OK(bt_darray_destroy(x));
}

BT_TEST_MPI(reductions_1rank, 1) {
  mt_both_modes(reductions);
}
BT_TEST_MPI(reductions_3ranks, 3) {
  mt_both_modes(reductions);
}
BT_TEST_MPI(reductions_4ranks, 4) {
  mt_both_modes(reductions);
}
/* MPI_THREAD_SERIALIZED: the ranks' partials are gathered point to point
 * under the bridge's lock. */
BT_TEST_MPI(serialized_reductions, 3) {
  mt_once(reductions);
}

/* ---- bad input ----------------------------------------------------------- */

BT_TEST_MPI(bad_input, 2) {
  bt_runtime *rt = mt_runtime();
  bt_mpi *m = mt_attach(rt, "direct");
  static const int64_t s2[] = {8, 6};
  bt_dist good = dist(2, s2, 1, 0, 0);
  bt_darray *da = NULL, *other = NULL, *out = NULL;
  BT_CHECK_OK(bt_darray_create(m, &good, &da));
  bt_dist wider = good;
  wider.shape[1] = 7;
  BT_CHECK_OK(bt_darray_create(m, &wider, &other));

  bt_dist grid = good, halo = good, neg = good, ndim = good, per = good,
          corners = good, dtype = good, empty = good;
  grid.procs[0] = 3; /* 3 x ? cannot hold 2 ranks */
  halo.halo[0] = 5;  /* wider than 8 / 2 */
  neg.shape[1] = 0;
  ndim.ndim = 0;
  per.periodic[1] = 2;
  corners.corners = 3;
  dtype.dtype = (bt_dtype)9;
  empty.procs[0] = 2;
  empty.procs[1] = 1;
  empty.shape[0] = 1; /* one rank gets no cell */
  static uint64_t zeros[32];
  bt_darray *forged = (bt_darray *)zeros;
  double r;
  int coords[2];
  bt_range owned[2];
  bt_dist layout;
  struct {
    const char *what;
    int got, want;
  } table[] = {
      {"create NULL bridge", bt_darray_create(NULL, &good, &out), BT_EINVAL},
      {"create grid of 3 over 2 ranks", bt_darray_create(m, &grid, &out),
       BT_EINVAL},
      {"create halo wider than a block", bt_darray_create(m, &halo, &out),
       BT_EINVAL},
      {"create empty extent", bt_darray_create(m, &neg, &out), BT_EINVAL},
      {"create ndim 0", bt_darray_create(m, &ndim, &out), BT_EINVAL},
      {"create periodic 2", bt_darray_create(m, &per, &out), BT_EINVAL},
      {"create corners 3", bt_darray_create(m, &corners, &out), BT_EINVAL},
      {"create bad dtype", bt_darray_create(m, &dtype, &out), BT_EINVAL},
      {"create empty block", bt_darray_create(m, &empty, &out), BT_EINVAL},
      {"create NULL layout", bt_darray_create(m, NULL, &out), BT_EINVAL},
      {"create NULL out", bt_darray_create(m, &good, NULL), BT_EINVAL},
      {"like forged", bt_darray_like(forged, &out), BT_EINVAL},
      {"like NULL out", bt_darray_like(da, NULL), BT_EINVAL},
      {"destroy forged", bt_darray_destroy(forged), BT_EINVAL},
      {"owned forged", bt_darray_owned(forged, owned), BT_EINVAL},
      {"owned NULL", bt_darray_owned(da, NULL), BT_EINVAL},
      {"coords NULL", bt_darray_coords(da, NULL), BT_EINVAL},
      {"coords forged", bt_darray_coords(forged, coords), BT_EINVAL},
      {"halo forged", bt_darray_halo(forged, -1), BT_EINVAL},
      {"halo NULL", bt_darray_halo(NULL, -1), BT_EINVAL},
      {"halo_end before begin", bt_darray_halo_end(da, -1), BT_ESTATE},
      {"dot different layouts", bt_darray_dot(da, other, &r), BT_EINVAL},
      {"dot forged", bt_darray_dot(da, forged, &r), BT_EINVAL},
      {"dot NULL out", bt_darray_dot(da, da, NULL), BT_EINVAL},
      {"nrm2 forged", bt_darray_nrm2(forged, &r), BT_EINVAL},
      {"sum NULL", bt_darray_sum(NULL, &r), BT_EINVAL},
      {"dist forged", bt_darray_dist(forged, &layout), BT_EINVAL},
      {"dist NULL out", bt_darray_dist(da, NULL), BT_EINVAL},
      {"halo_begin forged", bt_darray_halo_begin(forged), BT_EINVAL},
      {"halo_begin NULL", bt_darray_halo_begin(NULL), BT_EINVAL},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].got != table[i].want)
      bt_test_fail(__FILE__, __LINE__, "%s: got %s, want %s", table[i].what,
                   bt_status_name(table[i].got), bt_status_name(table[i].want));
  BT_CHECK(out == NULL);
  BT_CHECK(bt_darray_local(forged) == NULL);
  BT_CHECK(bt_darray_interior(NULL) == NULL);
  /* The mismatch names both darrays. */
  BT_CHECK_STATUS(bt_darray_dot(da, other, &r), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "8x6") && strstr(bt_errmsg(), "8x7"));
  BT_CHECK_STATUS(bt_darray_create(m, &halo, &out), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "halo 5") != NULL);
  /* One rank passes a layout the others do not: all refuse, none hangs. */
  bt_dist mine = good;
  if (mt_rank() == 1) mine.halo[1] = 2;
  BT_CHECK_STATUS(bt_darray_create(m, &mine, &out), BT_EINVAL);
  if (mt_rank() == 1) mine.halo[1] = 9;
  BT_CHECK_STATUS(bt_darray_create(m, &mine, &out), BT_EINVAL);
  /* struct_size: 0, a newer header's, no field's end are refused on every
   * rank; an older header's layout (without corners) gets its default. */
  size_t bad_sizes[] = {0, sizeof(bt_dist) + 8, sizeof(bt_dist) - 1};
  for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
    bt_dist sized = good;
    sized.struct_size = bad_sizes[i];
    BT_CHECK_STATUS(bt_darray_create(m, &sized, &out), BT_EINVAL);
    BT_CHECK(strstr(bt_errmsg(), "struct_size") != NULL);
  }
  bt_dist older = good;
  older.struct_size = offsetof(bt_dist, periodic) + sizeof older.periodic;
  older.corners = 7; /* past its size: never read */
  BT_CHECK_OK(bt_darray_create(m, &older, &out));
  bt_dist back;
  BT_CHECK_OK(bt_darray_dist(out, &back));
  BT_CHECK_EQ(back.corners, 0);
  BT_CHECK_EQ(back.struct_size, sizeof(bt_dist));
  BT_CHECK_OK(bt_darray_destroy(out));
  out = NULL;
  /* Exchange state. */
  BT_CHECK_OK(bt_darray_halo_begin(da));
  BT_CHECK_STATUS(bt_darray_halo_begin(da), BT_ESTATE);
  BT_CHECK_STATUS(bt_darray_destroy(da), BT_ESTATE);
  BT_CHECK_OK(bt_darray_halo_end(da, -1));
  /* A ghost region held by the user: begin refuses and starts nothing. */
  bt_slice s;
  BT_CHECK_OK(bt_array_own(bt_darray_local(da), NULL, -1, &s));
  BT_CHECK_STATUS(bt_darray_halo_begin(da), BT_EBUSY);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_darray_halo(da, -1));
  BT_CHECK_OK(bt_darray_destroy(other));
  BT_CHECK_OK(bt_darray_destroy(da));
  BT_CHECK_OK(bt_darray_destroy(NULL));
#ifndef __SANITIZE_ADDRESS__
  /* A destroyed darray: its magic word was cleared before its memory went
   * back (reading it is what ASan would flag, so not under ASan). */
  BT_CHECK_STATUS(bt_darray_halo(da, -1), BT_EINVAL);
  BT_CHECK_STATUS(bt_darray_destroy(da), BT_EINVAL);
  BT_CHECK_STATUS(bt_darray_sum(da, &r), BT_EINVAL);
#endif
  BT_CHECK_OK(bt_mpi_detach(m));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}
