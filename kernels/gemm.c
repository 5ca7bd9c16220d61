/* SPDX-License-Identifier: BSD-3-Clause */
/* gemm.c: c = alpha a b + beta c. c is cut into a 2-D grid of tiles, one
 * per worker, NUMA-homed (tiles.h); each worker owns its tile of c, borrows
 * the band of a's rows and the band of b's columns it reads, and calls
 * single-threaded OpenBLAS on its tile. When c is small and k large, groups
 * of workers share a tile and split k: partials in per-worker scratch,
 * then a reduction in a fixed order (tiles.h, "gemm's plan"). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_int.h"
#include "tiles.h"

#ifdef BATON_WITH_BLAS
#include <cblas.h>

typedef struct gemm_ctx {
  double alpha, beta;
} gemm_ctx;

/* The leading dimension of a view whose rows are contiguous (element (i,j)
 * at i*ld + j), or 0 if they are not; extents of 0 or 1 make their stride
 * irrelevant. */
static int64_t rows_ld(const bt_view *v) {
  int64_t rows = v->shape[0], cols = v->shape[1], need = cols > 1 ? cols : 1;
  if (cols > 1 && v->strides[1] != 1) return 0;
  int64_t ld = rows > 1 ? v->strides[0] : need;
  return ld >= need && ld <= INT_MAX ? ld : 0;
}

/* The same for contiguous columns (element (i,j) at i + j*ld). */
static int64_t cols_ld(const bt_view *v) {
  int64_t rows = v->shape[0], cols = v->shape[1], need = rows > 1 ? rows : 1;
  if (rows > 1 && v->strides[0] != 1) return 0;
  int64_t ld = cols > 1 ? v->strides[1] : need;
  return ld >= need && ld <= INT_MAX ? ld : 0;
}

/* How BLAS reads a view in a layout: NoTrans when it is stored in that
 * layout, Trans when in the other. 0 if neither (no unit stride). */
static int blas_form(const bt_view *v, int row_major, CBLAS_TRANSPOSE *trans,
                     int *ld) {
  int64_t same = row_major ? rows_ld(v) : cols_ld(v);
  int64_t other = row_major ? cols_ld(v) : rows_ld(v);
  if (same) {
    *trans = CblasNoTrans;
    *ld = (int)same;
    return 1;
  }
  if (other) {
    *trans = CblasTrans;
    *ld = (int)other;
    return 1;
  }
  return 0;
}

/* The layout of c: row-major when its rows are contiguous, else
 * column-major when its columns are; -1 for neither. */
static int c_layout(const bt_view *c) {
  return rows_ld(c) ? 1 : cols_ld(c) ? 0 : -1;
}

/* c *= beta; beta 0 writes zeros whatever c held (NaN included). */
static void scale_run(double *const *p, const int64_t *s, int64_t n,
                      void *ctx) {
  double beta = *(const double *)ctx;
  for (int64_t i = 0; i < n; i++)
    p[0][i * s[0]] = beta == 0 ? 0.0 : beta * p[0][i * s[0]];
}

static int scale_part(const bt__part *part, void *ctx) {
  bt__walk(part->view, 1, scale_run, ctx);
  return BT_OK;
}

/* One BLAS call: c = alpha a b + beta c on three 2-D views. */
static int gemm_views(const bt_view *c, const bt_view *a, const bt_view *b,
                      double alpha, double beta) {
  int64_t m = c->shape[0], n = c->shape[1], k = a->shape[1];
  if (m == 0 || n == 0) return BT_OK;
  int row_major = c_layout(c);
  CBLAS_TRANSPOSE ta, tb, tc;
  int lda, ldb, ldc;
  if (row_major < 0 || !blas_form(a, row_major, &ta, &lda) ||
      !blas_form(b, row_major, &tb, &ldb) ||
      !blas_form(c, row_major, &tc, &ldc))
    return bt__fail(BT_EINVAL,
                    "bt_gemm: an operand has no unit stride "
                    "along either axis; BLAS cannot read it");
  BT_ASSERT(tc == CblasNoTrans);
  cblas_dgemm(row_major ? CblasRowMajor : CblasColMajor, ta, tb, (int)m, (int)n,
              (int)k, alpha, a->data, lda, b->data, ldb, beta, c->data, ldc);
  return BT_OK;
}

static int gemm_part(const bt__part *part, void *ctx) {
  const gemm_ctx *g = ctx;
  return gemm_views(&part->view[0], &part->view[1], &part->view[2], g->alpha,
                    g->beta);
}

/* ---- a split of k ---------------------------------------------------------
 * The scratch p is a workers x rows x cols array (rows, cols: the largest
 * tile), placed in blocks along its first axis, so worker w first touches
 * its own partial p[w]. */

/* Phase 1: worker w's partial, p[w] = alpha a[tile rows, its k] b[its k,
 * tile cols]. */
static int partial_part(const bt__part *part, void *ctx) {
  const gemm_ctx *g = ctx;
  bt_view p = part->view[0]; /* 1 x rows x cols: drop the first axis */
  for (int d = 0; d < 2; d++)
    p.shape[d] = p.shape[d + 1], p.strides[d] = p.strides[d + 1];
  p.ndim = 2;
  return gemm_views(&p, &part->view[1], &part->view[2], g->alpha, 0.0);
}

typedef struct reduce_ctx {
  const bt__tile *tiles; /* group i's tile */
  int groups, ksplit;
  double beta;
} reduce_ctx;

/* Phase 2, on a band of c's rows (p borrowed whole): every element of the
 * band, c = ((beta c + p_0) + p_1) + ... from its group's partials, in
 * this order whatever the band. */
static int reduce_part(const bt__part *part, void *ctx) {
  const reduce_ctx *r = ctx;
  const bt_view *c = &part->view[0], *p = &part->view[1];
  double *cd = c->data;
  const double *pd = p->data;
  for (int gi = 0; gi < r->groups; gi++) {
    const bt__tile *t = &r->tiles[gi];
    int64_t lo = t->row0 > part->start ? t->row0 : part->start;
    int64_t hi = t->row1 < part->stop ? t->row1 : part->stop;
    for (int64_t i = lo; i < hi; i++) {
      double *crow =
          cd + (i - part->start) * c->strides[0] + t->col0 * c->strides[1];
      int64_t cols = t->col1 - t->col0, cs = c->strides[1];
      if (r->beta == 0) {
        for (int64_t j = 0; j < cols; j++) crow[j * cs] = 0.0;
      } else {
        for (int64_t j = 0; j < cols; j++) crow[j * cs] *= r->beta;
      }
      for (int q = 0; q < r->ksplit; q++) {
        const double *prow = pd +
                             (int64_t)(gi * r->ksplit + q) * p->strides[0] +
                             (i - t->row0) * p->strides[1];
        for (int64_t j = 0; j < cols; j++) crow[j * cs] += prow[j];
      }
    }
  }
  return BT_OK;
}

static int gemm_ksplit(bt_runtime *rt, const gemm_ctx *g, bt_array *a,
                       bt_array *b, bt_array *c, const bt__tile *tiles,
                       int workers, int ksplit, int64_t k, bt_range *regions) {
  int groups = workers / ksplit;
  int64_t rows = 0, cols = 0;
  for (int i = 0; i < groups; i++) {
    if (tiles[i].row1 - tiles[i].row0 > rows)
      rows = tiles[i].row1 - tiles[i].row0;
    if (tiles[i].col1 - tiles[i].col0 > cols)
      cols = tiles[i].col1 - tiles[i].col0;
  }
  int64_t shape[3] = {workers, rows, cols};
  bt_array *p = NULL;
  int rc = bt_array_create(rt, BT_F64, 3, shape, BT_PLACE_BLOCKS, &p);
  if (rc != BT_OK) return rc;
  for (int w = 0; w < workers; w++) {
    const bt__tile *t = &tiles[w / ksplit];
    int64_t k0 = bt__part_start(k, ksplit, w % ksplit),
            k1 = bt__part_start(k, ksplit, w % ksplit + 1);
    bt_range *r = regions + (size_t)w * 3 * BT_MAX_DIMS;
    r[0] = (bt_range){w, w + 1}; /* p: its partial */
    r[1] = (bt_range){0, t->row1 - t->row0};
    r[2] = (bt_range){0, t->col1 - t->col0};
    r += BT_MAX_DIMS;
    r[0] = (bt_range){t->row0, t->row1}; /* a: its rows, its k */
    r[1] = (bt_range){k0, k1};
    r += BT_MAX_DIMS;
    r[0] = (bt_range){k0, k1}; /* b: its k, its columns */
    r[1] = (bt_range){t->col0, t->col1};
  }
  bt__region_op ops[3] = {{p, 1}, {a, 0}, {b, 0}};
  rc = bt__parallel_regions(rt, ops, 3, regions, partial_part, (void *)g);
  if (rc == BT_OK) {
    reduce_ctx r = {tiles, groups, ksplit, g->beta};
    bt__operand rops[2] = {{.array = c, .writable = 1, .axis = 0},
                           {.array = p, .whole = 1}};
    rc = bt__parallel(rt, rops, 2, reduce_part, &r, NULL);
  }
  (void)bt_array_release(p);
  return rc;
}
#endif

int bt_gemm(bt_runtime *rt, double alpha, bt_array *a, bt_array *b, double beta,
            bt_array *c) {
  static const char kn[] = "bt_gemm";
  int rc;
  if ((rc = bt__check_caller(kn, rt)) != BT_OK ||
      (rc = bt__check_f64(kn, "a", a)) != BT_OK ||
      (rc = bt__check_f64(kn, "b", b)) != BT_OK ||
      (rc = bt__check_f64(kn, "c", c)) != BT_OK ||
      (rc = bt__check_ndim(kn, "a", a, 2)) != BT_OK ||
      (rc = bt__check_ndim(kn, "b", b, 2)) != BT_OK ||
      (rc = bt__check_ndim(kn, "c", c, 2)) != BT_OK)
    return rc;
  int64_t sa[2], sb[2], sc[2];
  bt_array_shape(a, sa);
  bt_array_shape(b, sb);
  bt_array_shape(c, sc);
  if (sa[1] != sb[0] || sc[0] != sa[0] || sc[1] != sb[1])
    return bt__fail(BT_EINVAL,
                    "bt_gemm: a is %lld x %lld, b %lld x %lld, c %lld x "
                    "%lld; want a m x k, b k x n, c m x n",
                    (long long)sa[0], (long long)sa[1], (long long)sb[0],
                    (long long)sb[1], (long long)sc[0], (long long)sc[1]);
  if (sa[0] > INT_MAX || sa[1] > INT_MAX || sb[1] > INT_MAX)
    return bt__fail(BT_EINVAL,
                    "bt_gemm: %lld x %lld x %lld exceeds BLAS's "
                    "int dimensions",
                    (long long)sa[0], (long long)sb[1], (long long)sa[1]);
  int ca = bt__array_alias(c, a) != BT__ALIAS_NONE;
  if (ca || bt__array_alias(c, b) != BT__ALIAS_NONE)
    return bt__fail(BT_EINVAL,
                    "bt_gemm: c is also %s (or shares elements with it): "
                    "the written array cannot be read in the same call",
                    ca ? "a" : "b");
#ifdef BATON_WITH_BLAS
  if (sa[1] == 0) { /* a and b are empty: c = beta c, as BLAS does */
    bt__operand op = {.array = c, .writable = 1, .axis = 0};
    return bt__parallel(rt, &op, 1, scale_part, &beta, NULL);
  }
  gemm_ctx g = {alpha, beta};
  int workers = bt_runtime_workers(rt);
  bt__tile *tiles = malloc(sizeof *tiles * (size_t)workers);
  int *node = malloc(sizeof *node * (size_t)workers);
  bt_range *regions =
      malloc(sizeof *regions * (size_t)workers * 3 * BT_MAX_DIMS);
  if (!tiles || !node || !regions) {
    rc = bt__fail(BT_ENOMEM, "bt_gemm: cannot allocate %d tiles", workers);
    goto out;
  }
  for (int w = 0; w < workers; w++) node[w] = bt_worker_numa(rt, w);
  int ksplit = 1;
  int nonempty = bt__gemm_plan(sc[0], sc[1], sa[1], workers, node,
                               bt__gemm_forced_ksplit(), tiles, &ksplit);
  if (nonempty < 0) {
    rc = bt__fail(BT_ENOMEM, "bt_gemm: cannot plan %d tiles", workers);
    goto out;
  }
  bt__blas_threads_enter();
  if (ksplit > 1) {
    rc = gemm_ksplit(rt, &g, a, b, c, tiles, workers, ksplit, sa[1], regions);
  } else if (nonempty < workers) {
    /* Fewer rows and columns than a tile each: bands of rows, as many as
     * there are rows. */
    bt__operand ops[3] = {{.array = c, .writable = 1, .axis = 0},
                          {.array = a, .axis = 0},
                          {.array = b, .whole = 1}};
    rc = bt__parallel(rt, ops, 3, gemm_part, &g, NULL);
  } else {
    for (int w = 0; w < workers; w++) {
      const bt__tile *t = &tiles[w];
      bt_range *r = regions + (size_t)w * 3 * BT_MAX_DIMS;
      r[0] = (bt_range){t->row0, t->row1}; /* c: the tile */
      r[1] = (bt_range){t->col0, t->col1};
      r += BT_MAX_DIMS;
      r[0] = (bt_range){t->row0, t->row1}; /* a: its rows */
      r[1] = (bt_range){0, sa[1]};
      r += BT_MAX_DIMS;
      r[0] = (bt_range){0, sb[0]}; /* b: its columns */
      r[1] = (bt_range){t->col0, t->col1};
    }
    bt__region_op ops[3] = {{c, 1}, {a, 0}, {b, 0}};
    rc = bt__parallel_regions(rt, ops, 3, regions, gemm_part, &g);
  }
  bt__blas_threads_leave();
out:
  free(tiles), free(node), free(regions);
  return rc;
#else
  (void)alpha, (void)beta;
  return bt__fail(BT_ENOTSUP,
                  "bt_gemm: this baton was built without BLAS "
                  "(-DBATON_BLAS=OFF)");
#endif
}
