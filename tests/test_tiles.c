/* SPDX-License-Identifier: BSD-3-Clause */
/* test_tiles.c: gemm's 2-D tile grid (kernels/tiles.h) as a pure function
 * on synthetic shapes, worker counts and NUMA splits: the tiles cover the
 * matrix exactly once, each lies in the rows its worker's node first
 * touched (BT_PLACE_BLOCKS), the grid is as square as the nodes allow; and
 * bt_gemm on those grids, against a serial reference. */
#include <math.h>
#include <string.h>

#include "tiles.h"
#include "test.h"

enum { MAXW = 64 };

/* Every invariant of one grid. Returns the grid's column count. */
static int check_grid(int64_t m, int64_t n, int workers, const int *node) {
  bt__tile tiles[MAXW];
  int pc = 0;
  int nonempty = bt__tile_grid(m, n, workers, node, tiles, &pc);
  BT_CHECK(pc >= 1);
  int64_t area = 0;
  int count = 0;
  for (int w = 0; w < workers; w++) {
    const bt__tile *t = &tiles[w];
    BT_CHECK(t->row0 >= 0 && t->row0 <= t->row1 && t->row1 <= m);
    BT_CHECK(t->col0 >= 0 && t->col0 <= t->col1 && t->col1 <= n);
    int64_t a = (t->row1 - t->row0) * (t->col1 - t->col0);
    if (a == 0) continue;
    count++;
    area += a;
    /* NUMA home: inside the rows placed on this worker's node */
    int first = w, last = w;
    while (first > 0 && node[first - 1] == node[w]) first--;
    while (last + 1 < workers && node[last + 1] == node[w]) last++;
    BT_CHECK(t->row0 >= bt__part_start(m, workers, first));
    BT_CHECK(t->row1 <= bt__part_start(m, workers, last + 1));
    /* disjoint from every other tile */
    for (int v = 0; v < w; v++) {
      const bt__tile *u = &tiles[v];
      int rows = t->row0 < u->row1 && u->row0 < t->row1;
      int cols = t->col0 < u->col1 && u->col0 < t->col1;
      BT_CHECK(!(rows && cols));
    }
  }
  BT_CHECK_EQ(count, nonempty);
  BT_CHECK_EQ(area, m * n); /* disjoint and inside: covered exactly once */
  return pc;
}

static void one_node(int workers, int *node) {
  for (int w = 0; w < workers; w++) node[w] = 0;
}

static void split_nodes(int workers, int nodes, int *node) {
  for (int w = 0; w < workers; w++) node[w] = w * nodes / workers;
}

BT_TEST(grid_square_16_workers_is_4_by_4) {
  int node[MAXW];
  one_node(16, node);
  BT_CHECK_EQ(check_grid(2048, 2048, 16, node), 4);
  bt__tile tiles[16];
  BT_CHECK_EQ(bt__tile_grid(2048, 2048, 16, node, tiles, NULL), 16);
  for (int w = 0; w < 16; w++) {
    BT_CHECK_EQ(tiles[w].row1 - tiles[w].row0, 512);
    BT_CHECK_EQ(tiles[w].col1 - tiles[w].col0, 512);
  }
}

BT_TEST(grid_two_nodes_homes_tiles) {
  int node[MAXW];
  split_nodes(16, 2, node);
  BT_CHECK_EQ(check_grid(2048, 2048, 16, node), 4);
  bt__tile tiles[16];
  (void)bt__tile_grid(2048, 2048, 16, node, tiles, NULL);
  for (int w = 0; w < 8; w++) BT_CHECK(tiles[w].row1 <= 1024);
  for (int w = 8; w < 16; w++) BT_CHECK(tiles[w].row0 >= 1024);
  /* rows that do not divide: still homed (checked in check_grid) */
  check_grid(2047, 1999, 16, node);
  check_grid(1001, 3, 16, node);
}

BT_TEST(grid_two_workers_keeps_row_bands) {
  int node[MAXW];
  one_node(2, node);
  BT_CHECK_EQ(check_grid(2048, 2048, 2, node), 1);
  BT_CHECK_EQ(check_grid(100, 10000, 2, node), 2); /* wide: columns */
}

BT_TEST(grid_uneven_nodes_fall_back_to_bands) {
  int node[MAXW] = {0, 0, 0, 1};
  BT_CHECK_EQ(check_grid(1000, 1000, 4, node), 1);
}

BT_TEST(grid_few_rows_uses_every_worker) {
  int node[MAXW];
  one_node(4, node);
  bt__tile tiles[4];
  BT_CHECK_EQ(bt__tile_grid(3, 1000, 4, node, tiles, NULL), 4);
  check_grid(3, 1000, 4, node);
  check_grid(1, 1, 4, node);
  check_grid(0, 5, 4, node);
}

/* Every shape, worker count and node split of a small range. */
BT_TEST(grid_invariants_on_many_shapes) {
  static const int64_t sizes[] = {1, 2, 3, 7, 16, 33, 100, 257};
  int node[MAXW];
  for (int workers = 1; workers <= 24; workers++)
    for (int nodes = 1; nodes <= 4; nodes++) {
      if (nodes > workers) continue;
      split_nodes(workers, nodes, node);
      for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++)
          check_grid(sizes[i], sizes[j], workers, node);
    }
}

/* ---- bt_gemm on these grids ------------------------------------------------
 */

static uint64_t rng = 99;
static double uniform(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1p-52 - 1.0;
}

static bt_array *matrix(bt_runtime *rt, int64_t m, int64_t n, double *vals) {
  int64_t shape[2] = {m, n};
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &a));
  for (int64_t i = 0; i < m * n; i++) vals[i] = uniform();
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  memcpy(v.data, vals, sizeof *vals * (size_t)(m * n));
  BT_CHECK_OK(bt_slice_release(s));
  return a;
}

static void gemm_on(const char *topology, int workers, int64_t m, int64_t n,
                    int64_t k) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = workers;
  opt.topology = topology;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  double *va = malloc(sizeof *va * (size_t)(m * k)),
         *vb = malloc(sizeof *vb * (size_t)(k * n)),
         *vc = malloc(sizeof *vc * (size_t)(m * n)),
         *got = malloc(sizeof *got * (size_t)(m * n));
  bt_array *a = matrix(rt, m, k, va), *b = matrix(rt, k, n, vb),
           *c = matrix(rt, m, n, vc);
  int rc = bt_gemm(rt, 1.5, a, b, -0.5, c);
  if (!bt__have_blas()) {
    BT_CHECK_STATUS(rc, BT_ENOTSUP);
  } else {
    BT_CHECK_OK(rc);
    bt_slice s;
    bt_view v;
    BT_CHECK_OK(bt_array_borrow(c, NULL, 0, &s));
    BT_CHECK_OK(bt_slice_view(s, &v));
    memcpy(got, v.data, sizeof *got * (size_t)(m * n));
    BT_CHECK_OK(bt_slice_release(s));
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t l = 0; l < k; l++) acc += va[i * k + l] * vb[l * n + j];
        BT_CHECK_NEAR(got[i * n + j], 1.5 * acc - 0.5 * vc[i * n + j],
                      1e-13 * (double)k);
      }
  }
  free(va), free(vb), free(vc), free(got);
  bt_array_release(a), bt_array_release(b), bt_array_release(c);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(gemm_on_a_2d_grid) {
  gemm_on(NULL, 4, 64, 64, 33); /* 2 x 2 tiles */
  gemm_on(NULL, 6, 37, 91, 20); /* wide: column tiles */
  gemm_on(NULL, 4, 1, 3, 5);    /* too small for a tile each: bands */
}

BT_TEST_TOPO(gemm_on_two_numa_nodes) {
  /* 8 workers, 4 per node: 2 x 2 tiles on each node's rows */
  gemm_on("pack:2 [numa] core:4 pu:1", 8, 80, 72, 17);
  gemm_on("pack:2 [numa] core:4 pu:1", 8, 5, 300, 9);
}

/* From a worker (a nested kernel): the worker runs its own tile; with
 * force 4, the split of k (scratch array placed and reduced from a
 * worker). */
typedef struct nested_gemm {
  bt_runtime *rt;
  bt_array *a, *b, *c;
  int rc, force;
} nested_gemm;

static int call_gemm(bt_slice part, int worker, void *ctx) {
  (void)part;
  nested_gemm *ng = ctx;
  if (worker != 1) return BT_OK;
  bt__gemm_force_ksplit(ng->force); /* this worker's own setting */
  ng->rc = bt_gemm(ng->rt, 1.0, ng->a, ng->b, 0.0, ng->c);
  bt__gemm_force_ksplit(0);
  return BT_OK;
}

BT_TEST(gemm_from_a_worker) {
  if (!bt__have_blas()) return;
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 4;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  int64_t m = 40, n = 36, k = 7;
  double *va = malloc(sizeof *va * (size_t)(m * k)),
         *vb = malloc(sizeof *vb * (size_t)(k * n)),
         *vc = malloc(sizeof *vc * (size_t)(m * n));
  nested_gemm ng = {
      rt, matrix(rt, m, k, va), matrix(rt, k, n, vb), matrix(rt, m, n, vc), -1,
      0};
  bt_array *dummy = matrix(rt, 4, 4, vc);
  for (ng.force = 0; ng.force <= 4; ng.force += 4) {
    ng.rc = -1;
    BT_CHECK_OK(bt_fill(rt, ng.c, 1e300)); /* beta 0: overwritten */
    BT_CHECK_OK(bt_parallel_slices(rt, dummy, 0, 1, call_gemm, &ng));
    BT_CHECK_OK(ng.rc);
    bt_slice s;
    bt_view v;
    BT_CHECK_OK(bt_array_borrow(ng.c, NULL, 0, &s));
    BT_CHECK_OK(bt_slice_view(s, &v));
    const double *got = v.data;
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t l = 0; l < k; l++) acc += va[i * k + l] * vb[l * n + j];
        BT_CHECK_NEAR(got[i * n + j], acc, 1e-13 * (double)k);
      }
    BT_CHECK_OK(bt_slice_release(s));
  }
  free(va), free(vb), free(vc);
  bt_array_release(ng.a), bt_array_release(ng.b), bt_array_release(ng.c);
  bt_array_release(dummy);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- a split of k (tiles.h, "gemm's plan") --------------------------------
 */

BT_TEST(plan_splits_k_for_small_c_large_k) {
  int node[MAXW];
  bt__tile tiles[MAXW];
  int s = 0;
  one_node(2, node);
  /* C 64 x 64, k = 100 000: a grid of C gives two 32 x 64 tiles, each
   * reading all of B; split k, one 64 x 64 tile shared */
  BT_CHECK_EQ(bt__gemm_plan(64, 64, 100000, 2, node, 0, tiles, &s), 1);
  BT_CHECK_EQ(s, 2);
  BT_CHECK(tiles[0].row0 == 0 && tiles[0].row1 == 64);
  BT_CHECK(tiles[0].col0 == 0 && tiles[0].col1 == 64);
  /* square: tiles of C only */
  BT_CHECK_EQ(bt__gemm_plan(2048, 2048, 2048, 2, node, 0, tiles, &s), 2);
  BT_CHECK_EQ(s, 1);
  BT_CHECK_EQ(bt__gemm_plan(64, 64, 100, 2, node, 0, tiles, &s), 2);
  BT_CHECK_EQ(s, 1);
  /* too few rows and columns for a tile each: k feeds every worker */
  one_node(4, node);
  BT_CHECK_EQ(bt__gemm_plan(1, 3, 1000000, 4, node, 0, tiles, &s), 1);
  BT_CHECK_EQ(s, 4);
  /* forced: taken when valid, else the plan without split */
  BT_CHECK_EQ(bt__gemm_plan(40, 30, 500, 4, node, 2, tiles, &s), 2);
  BT_CHECK_EQ(s, 2);
  (void)bt__gemm_plan(40, 30, 500, 4, node, 3, tiles, &s); /* 3 of 4 */
  BT_CHECK_EQ(s, 1);
  (void)bt__gemm_plan(40, 30, 3, 4, node, 4, tiles, &s); /* k < 4 */
  BT_CHECK_EQ(s, 1);
  (void)bt__gemm_plan(40, 30, 3, 4, node, 1, tiles, &s);
  BT_CHECK_EQ(s, 1);
}

BT_TEST(plan_split_groups_stay_on_their_node) {
  int node[MAXW];
  bt__tile tiles[MAXW];
  split_nodes(8, 2, node);
  int s = 0;
  int nonempty = bt__gemm_plan(64, 64, 100000, 8, node, 0, tiles, &s);
  BT_CHECK(s > 1 && 4 % s == 0); /* divides each node's 4 workers */
  BT_CHECK_EQ(nonempty, 8 / s);
  for (int w = 0; w < 8; w++) BT_CHECK_EQ(node[w], node[(w / s) * s]);
  int gnode[MAXW];
  for (int g = 0; g < 8 / s; g++) gnode[g] = node[g * s];
  check_grid(64, 64, 8 / s, gnode); /* the groups' grid: homed, exact */
  /* uneven nodes (3 + 1 workers): no group can straddle, no split */
  int uneven[4] = {0, 0, 0, 1};
  (void)bt__gemm_plan(64, 64, 100000, 4, uneven, 0, tiles, &s);
  BT_CHECK_EQ(s, 1);
}

/* c = alpha a b + beta c on `rt` with the split `force` (0: the plan's),
 * a, b and c sub-arrays of larger arrays when `sub`; checked against a
 * serial reference, and run twice for the same bits. */
static void gemm_case(bt_runtime *rt, int64_t m, int64_t n, int64_t k,
                      double alpha, double beta, int force, int sub) {
  int64_t pad = sub ? 3 : 0;
  double *va = malloc(sizeof *va * (size_t)((m + pad) * (k + pad))),
         *vb = malloc(sizeof *vb * (size_t)((k + pad) * (n + pad))),
         *vc = malloc(sizeof *vc * (size_t)((m + pad) * (n + pad))),
         *first = malloc(sizeof *first * (size_t)(m * n));
  bt_array *pa = matrix(rt, m + pad, k + pad, va),
           *pb = matrix(rt, k + pad, n + pad, vb),
           *pc = matrix(rt, m + pad, n + pad, vc);
  bt_array *a = pa, *b = pb, *c = pc;
  if (sub) {
    bt_range ra[2] = {{1, 1 + m}, {2, 2 + k}}, rb[2] = {{2, 2 + k}, {1, 1 + n}},
             rc[2] = {{2, 2 + m}, {3, 3 + n}};
    BT_CHECK_OK(bt_array_sub(pa, ra, &a));
    BT_CHECK_OK(bt_array_sub(pb, rb, &b));
    BT_CHECK_OK(bt_array_sub(pc, rc, &c));
  }
  int64_t a0 = sub ? k + pad + 2 : 0, b0 = sub ? 2 * (n + pad) + 1 : 0,
          c0 = sub ? 2 * (n + pad) + 3 : 0; /* element [0,0] in v* */
  int64_t lda = k + pad, ldb = n + pad, ldc = n + pad;
  if (beta == 0) /* beta 0 writes zeros, NaN or not */
    for (int64_t i = 0; i < m; i++) vc[c0 + i * ldc] = NAN;
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_own(c, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++)
      ((double *)v.data)[i * v.strides[0] + j * v.strides[1]] =
          vc[c0 + i * ldc + j];
  BT_CHECK_OK(bt_slice_release(s));
  bt__gemm_force_ksplit(force);
  for (int round = 0; round < 2; round++) {
    if (round) { /* the same inputs again */
      BT_CHECK_OK(bt_array_own(c, NULL, 0, &s));
      BT_CHECK_OK(bt_slice_view(s, &v));
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
          ((double *)v.data)[i * v.strides[0] + j * v.strides[1]] =
              vc[c0 + i * ldc + j];
      BT_CHECK_OK(bt_slice_release(s));
    }
    BT_CHECK_OK(bt_gemm(rt, alpha, a, b, beta, c));
    BT_CHECK_OK(bt_array_borrow(c, NULL, 0, &s));
    BT_CHECK_OK(bt_slice_view(s, &v));
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double got =
            ((const double *)v.data)[i * v.strides[0] + j * v.strides[1]];
        if (round) {
          BT_CHECK(memcmp(&got, &first[i * n + j], sizeof got) == 0);
          continue;
        }
        first[i * n + j] = got;
        double acc = 0, mag = 0;
        for (int64_t l = 0; l < k; l++) {
          double t = va[a0 + i * lda + l] * vb[b0 + l * ldb + j];
          acc += t, mag += fabs(t);
        }
        double want =
            alpha * acc + (beta == 0 ? 0 : beta * vc[c0 + i * ldc + j]);
        BT_CHECK_NEAR(got, want, 1e-14 * (fabs(alpha) * mag + 1) * 8);
      }
    BT_CHECK_OK(bt_slice_release(s));
  }
  bt__gemm_force_ksplit(0);
  if (sub) bt_array_release(a), bt_array_release(b), bt_array_release(c);
  bt_array_release(pa), bt_array_release(pb), bt_array_release(pc);
  free(va), free(vb), free(vc), free(first);
}

static const struct {
  int64_t m, n, k;
  double alpha, beta;
} ksplit_cases[] = {
    {13, 7, 301, 1.5, -0.5}, {1, 1, 1000, 1.0, 0.0},   {5, 64, 97, -1.0, 1.0},
    {3, 2, 7, 2.0, 0.0},     {48, 40, 2000, 0.5, 2.0},
};

BT_TEST(gemm_ksplit_matches_reference) {
  if (!bt__have_blas()) return;
  for (int workers = 1; workers <= 4; workers++) {
    bt_options opt = BT_OPTIONS_DEFAULT;
    opt.workers = workers;
    bt_runtime *rt = NULL;
    BT_CHECK_OK(bt_runtime_create(&opt, &rt));
    for (size_t i = 0; i < sizeof ksplit_cases / sizeof ksplit_cases[0]; i++)
      for (int force = 0; force <= 4; force++)
        for (int sub = 0; sub < 2; sub++)
          gemm_case(rt, ksplit_cases[i].m, ksplit_cases[i].n, ksplit_cases[i].k,
                    ksplit_cases[i].alpha, ksplit_cases[i].beta, force, sub);
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
}

/* The plan's own choice on the shape that asks for it (no force). */
BT_TEST(gemm_ksplit_chosen_by_the_plan) {
  if (!bt__have_blas()) return;
  int node[2] = {0, 0}, s = 0;
  bt__tile tiles[2];
  (void)bt__gemm_plan(8, 8, 400000, 2, node, 0, tiles, &s);
  BT_CHECK_EQ(s, 2);
  (void)bt__gemm_plan(64, 64, 5000, 2, node, 0, tiles, &s);
  BT_CHECK_EQ(s, 1); /* too small to pay for the scratch and second run */
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 2;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  gemm_case(rt, 8, 8, 400000, 1.0, 0.0, 0, 0);
  gemm_case(rt, 8, 8, 400000, -2.0, 0.5, 0, 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* The synthetic 2-node machine of DESIGN.md: each worker's tile lies in
 * the rows its node first touched, with and without a split of k. */
static void numa_home_on(bt_bind bind, int want_workers) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.topology = "pack:2 [numa] core:4 pu:2";
  opt.bind = bind;
  opt.workers = want_workers; /* 16: one per PU */
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&opt, &rt));
  int workers = bt_runtime_workers(rt);
  BT_CHECK_EQ(workers, want_workers);
  BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 2);
  int node[MAXW];
  for (int w = 0; w < workers; w++) node[w] = bt_worker_numa(rt, w);
  BT_CHECK(node[0] != node[workers - 1]);
  BT_CHECK_EQ(check_grid(2048, 2048, workers, node), workers == 8 ? 2 : 4);
  check_grid(999, 1001, workers, node);
  bt__tile tiles[MAXW];
  int s = 0;
  BT_CHECK_EQ(bt__gemm_plan(2048, 2048, 2048, workers, node, 0, tiles, &s),
              workers);
  BT_CHECK_EQ(s, 1);
  for (int w = 0; w < workers; w++) /* node 0's workers: the first half */
    BT_CHECK(node[w] == node[0] ? tiles[w].row1 <= 1024
                                : tiles[w].row0 >= 1024);
  if (bt__have_blas()) {
    gemm_case(rt, 37, 45, 61, 1.5, -0.5, 0, 0);
    gemm_case(rt, 37, 45, 61, 1.5, -0.5, 2, 1);
    gemm_case(rt, 9, 5, 3000, 1.0, 0.0, 4, 0);
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST_TOPO(gemm_tiles_numa_homed_on_pack2_numa_core4_pu2) {
  numa_home_on(BT_BIND_CORE, 8);
  numa_home_on(BT_BIND_PU, 16);
}
