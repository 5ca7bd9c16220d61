/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_cg.c: CG on the HPCCG problem (examples/cg.c) on baton's
 * distributed arrays beside the same CG written as plain MPI + OpenMP, same
 * run, same ranks, same operator and sizes.
 *
 *   BATON_WORKERS=W OMP_NUM_THREADS=W mpirun -np R bench_cg [--quick=1]
 *       [--iters=K]
 *
 * N^3 cells per rank (N = 64 and 16; --quick: 16 and 8), ranks stacked
 * along z, K iterations (default 50) of unpreconditioned CG, x0 = 0, b = A
 * * ones. baton: bt_stencil_apply on the local block after
 * bt_darray_halo, bt_waxpby/bt_axpby on the interiors, bt_darray_dot. The
 * baseline: one (N+2)^3 array per vector with ghost planes, `omp parallel
 * for` loops over z planes (the 27-point sum, the vector updates, the dots
 * with reduction(+)), MPI_Allreduce for the dots, and the halo planes
 * (contiguous: ranks along z) sent with MPI_Isend/MPI_Irecv straight into
 * the ghost planes. Metric: milliseconds per iteration (best of 3 runs of
 * K iterations each, alternating); ratio = baseline / baton (throughput).
 * benchmarks/run runs it at 1 rank x 2 workers and 2 ranks x 1 worker. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "baton/dist.h"
#include "baton/kernels.h"
#include "common.h"

static int rank, nranks;
static int only; /* --only=b or p: one variant (diagnostics) */
static int offsets[27 * 3];
static double weights[27];

/* ---- baton ----------------------------------------------------------------
 */

typedef struct bcg {
  bt_runtime *rt;
  bt_darray *x, *r, *p, *Ap;
} bcg;

static void bcg_apply(bcg *c, bt_darray *in, bt_darray *out) {
  BENCH_OK(bt_darray_halo(in, -1));
  BENCH_OK(bt_stencil_apply(c->rt, 27, offsets, weights, bt_darray_local(in),
                            bt_darray_local(out)));
}

/* K iterations from x0 = 0; returns seconds, the final residual in *res,
 * the first in *res0. */
static double bcg_run(bcg *c, int iters, double *res, double *res0) {
  bt_runtime *rt = c->rt;
  BENCH_OK(bt_fill(rt, bt_darray_interior(c->x), 0.0));
  BENCH_OK(bt_fill(rt, bt_darray_interior(c->p), 1.0));
  bcg_apply(c, c->p, c->r);
  double rtrans, oldrtrans = 1, pAp;
  BENCH_OK(bt_darray_dot(c->r, c->r, &rtrans));
  *res0 = sqrt(rtrans);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = bench_now();
  for (int k = 1; k <= iters; k++) {
    BENCH_OK(bt_waxpby(rt, 1.0, bt_darray_interior(c->r),
                       k == 1 ? 0.0 : rtrans / oldrtrans,
                       bt_darray_interior(c->p), bt_darray_interior(c->p)));
    bcg_apply(c, c->p, c->Ap);
    BENCH_OK(bt_darray_dot(c->p, c->Ap, &pAp));
    double alpha = rtrans / pAp;
    BENCH_OK(bt_axpby(rt, alpha, bt_darray_interior(c->p), 1.0,
                      bt_darray_interior(c->x)));
    BENCH_OK(bt_axpby(rt, -alpha, bt_darray_interior(c->Ap), 1.0,
                      bt_darray_interior(c->r)));
    oldrtrans = rtrans;
    BENCH_OK(bt_darray_dot(c->r, c->r, &rtrans));
  }
  double t = bench_now() - t0;
  *res = sqrt(rtrans);
  return t;
}

/* ---- plain MPI + OpenMP -----------------------------------------------------
 */

typedef struct pcg {
  long n, plane; /* plane = (n+2)^2 */
  double *x, *r, *p, *Ap;
} pcg;

#define IDX(c, z, y, x) \
  (((size_t)(z) * ((c)->n + 2) + (size_t)(y)) * ((c)->n + 2) + (size_t)(x))

static void pcg_halo(pcg *c, double *v) {
  MPI_Request req[4];
  int nreq = 0, cnt = (int)c->plane;
  if (rank > 0) {
    MPI_Irecv(v + IDX(c, 0, 0, 0), cnt, MPI_DOUBLE, rank - 1, 1, MPI_COMM_WORLD,
              &req[nreq++]);
    MPI_Isend(v + IDX(c, 1, 0, 0), cnt, MPI_DOUBLE, rank - 1, 0, MPI_COMM_WORLD,
              &req[nreq++]);
  }
  if (rank < nranks - 1) {
    MPI_Irecv(v + IDX(c, c->n + 1, 0, 0), cnt, MPI_DOUBLE, rank + 1, 0,
              MPI_COMM_WORLD, &req[nreq++]);
    MPI_Isend(v + IDX(c, c->n, 0, 0), cnt, MPI_DOUBLE, rank + 1, 1,
              MPI_COMM_WORLD, &req[nreq++]);
  }
  MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE);
}

/* One row of the 27-point operator: out = 27 c - (the 26 neighbours), the
 * nine input rows summed in three interleaved groups, as a careful
 * hand-written loop would (and as baton's box path does). */
static void pcg_row(double *restrict o, const double *restrict c,
                    const double *const *r, long n) {
  const double *restrict r0 = r[0], *restrict r1 = r[1], *restrict r2 = r[2],
                         *restrict r3 = r[3], *restrict r4 = r[4],
                         *restrict r5 = r[5], *restrict r6 = r[6],
                         *restrict r7 = r[7], *restrict r8 = r[8];
  for (long x = 1; x <= n; x++) {
    double s0 = r0[x - 1] + r0[x] + r0[x + 1];
    double s1 = r1[x - 1] + r1[x] + r1[x + 1];
    double s2 = r2[x - 1] + r2[x] + r2[x + 1];
    s0 += r3[x - 1] + r3[x] + r3[x + 1];
    s1 += r4[x - 1] + r4[x] + r4[x + 1];
    s2 += r5[x - 1] + r5[x] + r5[x + 1];
    s0 += r6[x - 1] + r6[x] + r6[x + 1];
    s1 += r7[x - 1] + r7[x] + r7[x + 1];
    s2 += r8[x - 1] + r8[x] + r8[x + 1];
    o[x] = 28.0 * c[x] - (s0 + s1 + s2);
  }
}

static void pcg_apply(pcg *c, double *in, double *out) {
  pcg_halo(c, in);
  long n = c->n;
#pragma omp parallel for schedule(static)
  for (long z = 1; z <= n; z++)
    for (long y = 1; y <= n; y++) {
      const double *r[9];
      for (int q = 0; q < 9; q++)
        r[q] = in + IDX(c, z + q / 3 - 1, y + q % 3 - 1, 0);
      pcg_row(out + IDX(c, z, y, 0), in + IDX(c, z, y, 0), r, n);
    }
}

static double pcg_dot(pcg *c, const double *a, const double *b) {
  long n = c->n;
  double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
  for (long z = 1; z <= n; z++)
    for (long y = 1; y <= n; y++)
      for (long x = 1; x <= n; x++)
        s += a[IDX(c, z, y, x)] * b[IDX(c, z, y, x)];
  double g;
  MPI_Allreduce(&s, &g, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  return g;
}

/* w = alpha x + beta y over the interior */
static void pcg_waxpby(pcg *c, double alpha, const double *x, double beta,
                       const double *y, double *w) {
  long n = c->n;
#pragma omp parallel for schedule(static)
  for (long z = 1; z <= n; z++)
    for (long yy = 1; yy <= n; yy++)
      for (long xx = 1; xx <= n; xx++) {
        size_t i = IDX(c, z, yy, xx);
        w[i] = alpha * x[i] + beta * y[i];
      }
}

static double pcg_run(pcg *c, int iters, double *res, double *res0) {
  size_t len = (size_t)(c->n + 2) * c->plane;
  memset(c->x, 0, len * 8);
  memset(c->p, 0, len * 8);
  long n = c->n;
#pragma omp parallel for schedule(static)
  for (long z = 1; z <= n; z++)
    for (long y = 1; y <= n; y++)
      for (long x = 1; x <= n; x++) c->p[IDX(c, z, y, x)] = 1.0;
  pcg_apply(c, c->p, c->r);
  double rtrans = pcg_dot(c, c->r, c->r), oldrtrans = 1;
  *res0 = sqrt(rtrans);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = bench_now();
  for (int k = 1; k <= iters; k++) {
    pcg_waxpby(c, 1.0, c->r, k == 1 ? 0.0 : rtrans / oldrtrans, c->p, c->p);
    pcg_apply(c, c->p, c->Ap);
    double alpha = rtrans / pcg_dot(c, c->p, c->Ap);
    pcg_waxpby(c, alpha, c->p, 1.0, c->x, c->x);
    pcg_waxpby(c, -alpha, c->Ap, 1.0, c->r, c->r);
    oldrtrans = rtrans;
    rtrans = pcg_dot(c, c->r, c->r);
  }
  double t = bench_now() - t0;
  *res = sqrt(rtrans);
  return t;
}

/* ---- driver
 * ------------------------------------------------------------------ */

static void run_size(bt_runtime *rt, bt_mpi *m, long n, int iters) {
  bcg b = {.rt = rt};
  bt_dist d = {.struct_size = sizeof(bt_dist),
               .dtype = BT_F64,
               .ndim = 3,
               .shape = {n * nranks, n, n},
               .procs = {nranks, 1, 1},
               .halo = {1, 1, 1},
               .corners = 1};
  BENCH_OK(bt_darray_create(m, &d, &b.x));
  BENCH_OK(bt_darray_like(b.x, &b.r));
  BENCH_OK(bt_darray_like(b.x, &b.p));
  BENCH_OK(bt_darray_like(b.x, &b.Ap));
  pcg c = {.n = n, .plane = (n + 2) * (n + 2)};
  size_t len = (size_t)(n + 2) * c.plane;
  c.x = calloc(len, 8);
  c.r = calloc(len, 8);
  c.p = calloc(len, 8);
  c.Ap = calloc(len, 8);
  double best_b = 1e30, best_p = 1e30, res_b = 0, res_p = 0, res0 = 0;
  for (int round = 0; round < 3; round++) {
    double t;
    if (only != 'p' && (t = bcg_run(&b, iters, &res_b, &res0)) < best_b)
      best_b = t;
    if (only != 'b' && (t = pcg_run(&c, iters, &res_p, &res0)) < best_p)
      best_p = t;
  }
  /* Slowest rank's time. */
  double tb, tp;
  MPI_Allreduce(&best_b, &tb, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&best_p, &tp, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && only) {
    /* One variant (--only): its time alone, no ratio against a baseline
     * that did not run. */
    printf("cg %ld^3/rank, %d iterations, %s only: %.4g ms/iter\n", n, iters,
           only == 'b' ? "baton" : "baseline",
           (only == 'b' ? tb : tp) / iters * 1e3);
  } else if (rank == 0) {
    /* The two sum in different orders, so once CG has converged far
     * (1e-13 to 1e-21 of the first residual here) the last digits of the
     * two residuals differ; a wrong result differs at the first residual's
     * scale. */
    if (fabs(res_b - res_p) > 1e-9 * res0 + 1e-300)
      fprintf(stderr,
              "bench_cg: residuals differ: baton %.17g, baseline %.17g\n",
              res_b, res_p);
    char what[64];
    snprintf(what, sizeof what, "cg %ld^3/rank, %d iterations", n, iters);
    bench_table_row(what, "ms/iter", tb / iters * 1e3, tp / iters * 1e3, 0);
    bench_result("cg", "baton", bt_runtime_workers(rt), nranks, n,
                 "ms_per_iter", tb / iters * 1e3, tp / iters * 1e3, 0);
  }
  free(c.x), free(c.r), free(c.p), free(c.Ap);
  BENCH_OK(bt_darray_destroy(b.Ap));
  BENCH_OK(bt_darray_destroy(b.p));
  BENCH_OK(bt_darray_destroy(b.r));
  BENCH_OK(bt_darray_destroy(b.x));
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  int quick = bench_quick(argc, argv);
  int iters = (int)bench_opt(argc, argv, "iters", quick ? 5 : 50);
  const char *only_opt = bench_opt_str(argc, argv, "only", NULL);
  if (only_opt) only = only_opt[0];
  for (int k = 0, dz = -1; dz <= 1; dz++)
    for (int dy = -1; dy <= 1; dy++)
      for (int dx = -1; dx <= 1; dx++, k++) {
        offsets[3 * k] = dz;
        offsets[3 * k + 1] = dy;
        offsets[3 * k + 2] = dx;
        weights[k] = dz == 0 && dy == 0 && dx == 0 ? 27.0 : -1.0;
      }
  bt_runtime *rt;
  BENCH_OK(bt_runtime_create(NULL, &rt));
  bt_mpi *m;
  BENCH_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  if (rank == 0) {
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    char title[160];
    snprintf(title, sizeof title,
             "CG (27-point, HPCCG): baton darrays vs MPI+OpenMP, %d ranks x "
             "%d workers (baseline: %d OpenMP threads)",
             nranks, bt_runtime_workers(rt), threads);
    bench_table_header(title);
  }
  static const long sizes[] = {64, 16}, quick_sizes[] = {16, 8};
  for (int i = 0; i < 2; i++)
    run_size(rt, m, quick ? quick_sizes[i] : sizes[i], iters);
  BENCH_OK(bt_mpi_detach(m));
  BENCH_OK(bt_runtime_destroy(rt));
  MPI_Finalize();
  return 0;
}
