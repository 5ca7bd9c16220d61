/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_solver_kernels: the kernels of an iterative solver (bt_axpby,
 * bt_waxpby, bt_stencil_apply with the 27-point 3-D operator, bt_spmv)
 * against OpenMP loops, same thread count, same run: the same bodies for
 * the vector kernels and spmv; for the stencil, the fused 27-term loop an
 * OpenMP code writes (baton's own path makes one pass per input row, see
 * kernels/stencil_apply.c). The baselines are built with -march=native
 * (solver_loops.c); baton runs its run-time SIMD level.
 *
 *   bench_solver_kernels [--workers=N] [--iterations=200] [--block=10]
 *                [--vector=100000] [--grid=64] [--small=16] [--quick=1]
 *
 * vector: elements of the axpby/waxpby operands (the fork-join budget of
 * DESIGN.md is stated at 100 000). grid, small: cells per axis of the
 * interior of the 3-D stencil (the CG's 64^3 and 16^3 per rank; the arrays
 * have one ghost layer more each side). spmv: the 27-point operator of the
 * small-but-not-tiny grid (32^3 rows, or 12^3 with --quick) as a CSR
 * matrix. Every result is checked against the baseline's (to 1e-12). Metric: ms
 * per call, lower is better; ratio > 1: baton faster. */
#include "bench_kernels.h"
#include "solver_loops.h"

/* ---- axpby, waxpby ----------------------------------------------------------
 */

/* The pause after each block of one side, as bench_kernels_small's: long
 * enough for libgomp's idle thread to park before baton's block starts on
 * the same cores. Measured on the dev VM (loaded): after a parallel region
 * the process kept burning CPU for 10-12 ms of a 20 ms sleep (the spin of
 * libgomp's default wait policy); the 5 ms used before let it spin into
 * baton's next block. */
#define SETTLE_S 0.02

typedef struct vec_run {
  bt_runtime *rt;
  bt_array *x, *y, *w;
  double *px, *py, *pw;
  long n;
} vec_run;

static const double ALPHA = 0.5, BETA = 0.25;

static void baton_axpby(void *ctx) {
  vec_run *r = ctx;
  BENCH_OK(bt_axpby(r->rt, ALPHA, r->x, BETA, r->y));
}

static void omp_axpby(void *ctx) {
  vec_run *r = ctx;
  solver_axpby(ALPHA, r->px, BETA, r->py, r->n);
}

static void baton_waxpby(void *ctx) {
  vec_run *r = ctx;
  BENCH_OK(bt_waxpby(r->rt, ALPHA, r->x, BETA, r->y, r->w));
}

static void omp_waxpby(void *ctx) {
  vec_run *r = ctx;
  solver_waxpby(ALPHA, r->px, BETA, r->py, r->pw, r->n);
}

/* ---- the 27-point operator --------------------------------------------------
 */

typedef struct st_run {
  bt_runtime *rt;
  bt_array *in, *out;
  double *pin, *pout;
  long m; /* cells per axis with ghosts: interior + 2 */
  int offsets[27 * 3];
  double weights[27];
} st_run;

static void baton_stencil(void *ctx) {
  st_run *r = ctx;
  BENCH_OK(bt_stencil_apply(r->rt, 27, r->offsets, r->weights, r->in, r->out));
}

/* The loop an OpenMP code writes for the 27-point operator: planes over the
 * threads, the 27 terms in the innermost loop (solver_loops.c). */
static void omp_stencil(void *ctx) {
  st_run *r = ctx;
  solver_stencil27(r->pin, r->pout, r->m, r->weights);
}

static double cell_value(long i) {
  return (double)((i * 7919) % 1013) / 1013.0;
}

static int cells_part(bt_slice part, int worker, void *ctx) {
  (void)worker, (void)ctx;
  bt_view v;
  int rc = bt_slice_view(part, &v);
  if (rc != BT_OK) return rc;
  double *d = v.data;
  long m = (long)v.shape[1];
  for (int64_t z = 0; z < v.shape[0]; z++)
    for (int64_t y = 0; y < v.shape[1]; y++)
      for (int64_t x = 0; x < v.shape[2]; x++)
        d[z * v.strides[0] + y * v.strides[1] + x] =
            cell_value(((long)(v.origin[0] + z) * m + (long)y) * m + (long)x);
  return BT_OK;
}

static void stencil_setup(kbench *kb, st_run *r, long interior) {
  memset(r, 0, sizeof *r);
  r->rt = kb->rt;
  r->m = interior + 2;
  for (int k = 0; k < 27; k++) {
    r->offsets[3 * k] = k / 9 - 1;
    r->offsets[3 * k + 1] = k / 3 % 3 - 1;
    r->offsets[3 * k + 2] = k % 3 - 1;
    r->weights[k] = k == 13 ? 26.0 : -1.0;
  }
  int64_t shape[3] = {r->m, r->m, r->m};
  BENCH_OK(bt_array_create(kb->rt, BT_F64, 3, shape, BT_PLACE_BLOCKS, &r->in));
  BENCH_OK(bt_array_create(kb->rt, BT_F64, 3, shape, BT_PLACE_BLOCKS, &r->out));
  BENCH_OK(bt_parallel_slices(kb->rt, r->in, 0, 1, cells_part, NULL));
  size_t cells = (size_t)(r->m * r->m * r->m);
  r->pin = kbench_alloc(cells);
  r->pout = kbench_alloc(cells);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < (long)cells; i++)
    r->pin[i] = cell_value(i), r->pout[i] = 0;
}

static void stencil_check(st_run *r) {
  bt_slice s;
  bt_view v;
  BENCH_OK(bt_array_borrow(r->out, NULL, 0, &s));
  BENCH_OK(bt_slice_view(s, &v));
  const double *got = v.data;
  long cells = r->m * r->m * r->m;
  for (long i = 0; i < cells; i++)
    kbench_check(fabs(got[i] - r->pout[i]) <= 1e-12 * (1 + fabs(r->pout[i])),
                 "stencil_apply against the OpenMP loop");
  BENCH_OK(bt_slice_release(s));
}

/* ---- spmv: the same operator as a CSR matrix -------------------------------
 */

typedef struct sp_run {
  bt_runtime *rt;
  bt_csr *A;
  bt_array *x, *y;
  int64_t *rowptr, *colidx;
  double *values, *px, *py;
  long rows;
} sp_run;

static void baton_spmv(void *ctx) {
  sp_run *r = ctx;
  BENCH_OK(bt_spmv(r->rt, r->A, r->x, r->y));
}

static void omp_spmv(void *ctx) {
  sp_run *r = ctx;
  solver_spmv(r->rowptr, r->colidx, r->values, r->px, r->py, r->rows);
}

/* The 27-point operator on an n^3 grid (26 on the diagonal, -1 for each
 * neighbour inside), HPCCG's matrix. */
static void spmv_setup(kbench *kb, sp_run *r, long n) {
  memset(r, 0, sizeof *r);
  r->rt = kb->rt;
  r->rows = n * n * n;
  r->rowptr = malloc(sizeof *r->rowptr * (size_t)(r->rows + 1));
  r->colidx = malloc(sizeof *r->colidx * (size_t)r->rows * 27);
  r->values = malloc(sizeof *r->values * (size_t)r->rows * 27);
  if (!r->rowptr || !r->colidx || !r->values) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  int64_t q = 0;
  r->rowptr[0] = 0;
  for (long z = 0; z < n; z++)
    for (long y = 0; y < n; y++)
      for (long x = 0; x < n; x++) {
        for (int k = 0; k < 27; k++) {
          long zz = z + k / 9 - 1, yy = y + k / 3 % 3 - 1, xx = x + k % 3 - 1;
          if (zz < 0 || zz >= n || yy < 0 || yy >= n || xx < 0 || xx >= n)
            continue;
          r->colidx[q] = (zz * n + yy) * n + xx;
          r->values[q++] = k == 13 ? 26.0 : -1.0;
        }
        r->rowptr[(z * n + y) * n + x + 1] = q;
      }
  BENCH_OK(bt_csr_create(kb->rt, r->rows, r->rows, r->rowptr, r->colidx,
                         r->values, &r->A));
  r->x = kbench_vector(kb, r->rows, 1.0);
  r->y = kbench_vector(kb, r->rows, 0.0);
  r->px = kbench_alloc((size_t)r->rows);
  r->py = kbench_alloc((size_t)r->rows);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < r->rows; i++) r->px[i] = 1.0, r->py[i] = 0;
}

/* ---- driver -----------------------------------------------------------------
 */

static void report(kbench *kb, const char *bench, long size, double flops,
                   double tb, double tl) {
  char what[64];
  snprintf(what, sizeof what, "%s, %ld", bench, size);
  bench_table_row(what, "ms", 1e3 * tb, 1e3 * tl, 0);
  bench_result(bench, "omp", kb->workers, 1, size, "ms", 1e3 * tb, 1e3 * tl, 0);
  if (flops > 0)
    bench_result(bench, "omp", kb->workers, 1, size, "MFlop/s",
                 1e-6 * flops / tb, 1e-6 * flops / tl, 1);
}

static void bench_vectors(kbench *kb, long n) {
  vec_run r = {.rt = kb->rt, .n = n};
  r.x = kbench_vector(kb, n, 1.0);
  r.y = kbench_vector(kb, n, 2.0);
  r.w = kbench_vector(kb, n, 0.0);
  r.px = kbench_alloc((size_t)n);
  r.py = kbench_alloc((size_t)n);
  r.pw = kbench_alloc((size_t)n);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) r.px[i] = 1.0, r.py[i] = 2.0, r.pw[i] = 0;
  double tb, tl;
  kbench_compare(kb, baton_axpby, &r, omp_axpby, &r, SETTLE_S, &tb, &tl);
  report(kb, "axpby", n, 3.0 * (double)n, tb, tl);
  kbench_compare(kb, baton_waxpby, &r, omp_waxpby, &r, SETTLE_S, &tb, &tl);
  report(kb, "waxpby", n, 3.0 * (double)n, tb, tl);
  /* Both sides ran the same updates the same number of times... */
  double sb = 0, sl = 0;
  BENCH_OK(bt_sum(kb->rt, r.w, &sb));
  for (long i = 0; i < n; i++) sl += r.pw[i];
  kbench_check(fabs(sb - sl) <= 1e-9 * (fabs(sl) + 1), "waxpby's w");
  free(r.px), free(r.py), free(r.pw);
  bt_array_release(r.x), bt_array_release(r.y), bt_array_release(r.w);
}

static void bench_stencil27(kbench *kb, long interior) {
  st_run r;
  stencil_setup(kb, &r, interior);
  double tb, tl;
  kbench_compare(kb, baton_stencil, &r, omp_stencil, &r, SETTLE_S, &tb, &tl);
  stencil_check(&r);
  double points = (double)interior * (double)interior * (double)interior;
  report(kb, "stencil27", interior, 53.0 * points, tb, tl);
  free(r.pin), free(r.pout);
  bt_array_release(r.in), bt_array_release(r.out);
}

static void bench_spmv(kbench *kb, long n) {
  sp_run r;
  spmv_setup(kb, &r, n);
  double tb, tl;
  kbench_compare(kb, baton_spmv, &r, omp_spmv, &r, SETTLE_S, &tb, &tl);
  bt_slice s;
  bt_view v;
  BENCH_OK(bt_array_borrow(r.y, NULL, 0, &s));
  BENCH_OK(bt_slice_view(s, &v));
  for (long i = 0; i < r.rows; i++)
    kbench_check(((double *)v.data)[i] == r.py[i], "spmv's y");
  BENCH_OK(bt_slice_release(s));
  report(kb, "spmv", r.rows, 2.0 * (double)r.rowptr[r.rows], tb, tl);
  BENCH_OK(bt_csr_destroy(r.A));
  bt_array_release(r.x), bt_array_release(r.y);
  free(r.rowptr), free(r.colidx), free(r.values), free(r.px), free(r.py);
}

int main(int argc, char **argv) {
  kbench kb;
  kbench_init(&kb, argc, argv, 200, 10);
  kb.warm_s = 1e-6 * (double)bench_opt(argc, argv, "warm-us", 1000);
  long vector = bench_opt(argc, argv, "vector", kb.quick ? 20000 : 100000);
  long grid = bench_opt(argc, argv, "grid", kb.quick ? 24 : 64);
  long small = bench_opt(argc, argv, "small", kb.quick ? 8 : 16);
  long spn = kb.quick ? 12 : 32;
  if (vector < 1 || grid < 1 || small < 1) {
    fprintf(stderr, "sizes must be positive\n");
    return 2;
  }
  bench_table_header(
      "solver kernels: baton against OpenMP loops (-march=native)");
  bench_vectors(&kb, vector);
  bench_stencil27(&kb, grid);
  bench_stencil27(&kb, small);
  bench_spmv(&kb, spn);
  bt_runtime_destroy(kb.rt);
  return 0;
}
