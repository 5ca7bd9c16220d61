/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpi_heat2d: the explicit 2-D heat equation across MPI ranks and, inside
 * each rank, across pinned workers (the numerics: heat2d.h), on a
 * distributed array.
 *
 *   mpirun -np 2 --bind-to core --map-by core mpi_heat2d [--n 2048]
 *       [--iterations 3500] [--workers 0] [--out heat2d.png] [--every K]
 *       [--check] [--quiet]
 *
 * Runs with one rank without mpirun too. The (n-2) x (n-2) cells inside
 * the fixed boundary are a 2-D darray split by rows across ranks; its
 * ghost cells on the global boundary hold the boundary values (the halo
 * exchange never writes them), the others the neighbours' edge rows. The
 * local block is laid out as heat2d.h's grid (rows + 2 rows of n), so a
 * step is one halo exchange and heat2d.h's heat_step: bt_parallel_slices
 * running the same row loop as the serial reference on every worker. The
 * residual is reduced with bt_mpi_allreduce; the final field goes to rank
 * 0 with MPI_Reduce (I/O stays MPI).
 */
#include <baton/dist.h>

#include "heat2d.h"

static int rank;

static _Noreturn void die(const char *what, int rc) {
  fprintf(stderr, "mpi_heat2d: rank %d: %s: %s (%s)\n", rank, what,
          bt_strerror(rc), bt_errmsg());
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}
#define CHECK(expr)                    \
  do {                                 \
    int rc_ = (expr);                  \
    if (rc_ != BT_OK) die(#expr, rc_); \
  } while (0)

/* The local block of da against the full n x n grid (its row i is grid row
 * owned[0].start + i, its column j grid column j): set every cell, ghosts
 * included, to the initial field; or copy the owned cells into field. */
static void for_local(bt_darray *da, long n, double *field, int to_field) {
  bt_range owned[2];
  CHECK(bt_darray_owned(da, owned));
  bt_slice s;
  bt_view v;
  CHECK(to_field ? bt_array_borrow(bt_darray_local(da), NULL, -1, &s)
                 : bt_array_own(bt_darray_local(da), NULL, -1, &s));
  CHECK(bt_slice_view(s, &v));
  for (long i = 0; i < v.shape[0]; i++)
    for (long j = 0; j < v.shape[1]; j++) {
      double *cell = (double *)v.data + i * v.strides[0] + j * v.strides[1];
      long gi = owned[0].start + i;
      if (!to_field)
        *cell = heat_initial(n, gi, j);
      else if (i > 0 && i < v.shape[0] - 1 && j > 0 && j < n - 1)
        field[gi * n + j] = *cell;
    }
  CHECK(bt_slice_release(s));
}

int main(int argc, char **argv) {
  int provided, size;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  heat_opts o = {
      .n = 2048, .iterations = 3500, .workers = 0, .out = "heat2d.png"};
  int p = heat_parse(argc, argv, &o);
  if (p != 0) {
    if (rank == 0) heat_usage(argv[0], &o);
    MPI_Finalize();
    return p > 0 ? 0 : 2;
  }
  bt_options bo = BT_OPTIONS_DEFAULT;
  bo.workers = o.workers;
  bt_runtime *rt;
  bt_mpi *m;
  CHECK(bt_runtime_create(&bo, &rt));
  CHECK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  long n = o.n;
  bt_dist d = {.struct_size = sizeof(bt_dist),
               .dtype = BT_F64,
               .ndim = 2,
               .shape = {n - 2, n - 2},
               .procs = {size, 1},
               .halo = {1, 1}};
  bt_darray *u, *next;
  CHECK(bt_darray_create(m, &d, &u));
  CHECK(bt_darray_like(u, &next));
  for_local(u, n, NULL, 0);
  for_local(next, n, NULL, 0);
  /* heat2d.h's grid over the two local blocks (it swaps them each step,
   * as the loop below swaps the darrays). */
  static heat_grid g; /* the per-worker partial sums make it large */
  bt_range owned[2];
  CHECK(bt_darray_owned(u, owned));
  g.rt = rt;
  g.u = bt_darray_local(u);
  g.next = bt_darray_local(next);
  g.n = n;
  g.rows = owned[0].stop - owned[0].start;
  g.g0 = owned[0].start + 1;
  g.workers = bt_runtime_workers(rt);
  if (g.workers > HEAT_MAX_WORKERS) die("too many workers", BT_EINVAL);

  double *residuals = malloc((size_t)(o.iterations / o.every + 2) * 8);
  double *step_times = malloc((size_t)(o.iterations + 1) * 8);
  if (!residuals || !step_times) die("malloc", BT_ENOMEM);
  long nres = 0;
  if (rank == 0 && !o.quiet)
    printf("mpi_heat2d: %ld x %ld grid, %ld steps, %d ranks x %d workers\n", n,
           n, o.iterations, size, g.workers);
  double t0 = heat_now();
  for (long k = 1; k <= o.iterations; k++) {
    double sumsq, ts = heat_now();
    CHECK(bt_darray_halo(u, -1));
    CHECK(heat_step(&g, &sumsq));
    bt_darray *t = u;
    u = next;
    next = t;
    step_times[k - 1] = heat_now() - ts;
    if (k % o.every == 0 || k == o.iterations) {
      CHECK(bt_mpi_allreduce(m, BT_SUM, BT_F64, &sumsq, &sumsq, 1));
      residuals[nres] = sqrt(sumsq);
      if (rank == 0 && !o.quiet)
        printf("  step %6ld  residual %.6e  %8.3f s\n", k, residuals[nres],
               heat_now() - t0);
      nres++;
    }
  }
  double seconds = heat_now() - t0;

  /* The baseline, on every rank at once: the same rows stepped by a plain
   * loop on one thread (heat2d.h), on a copy of the local block. A step
   * lasts as long as its slowest rank's. */
  double stats[3] = {seconds, heat_median(step_times, o.iterations),
                     heat_baseline(&g, o.iterations < 50 ? o.iterations : 50)};
  CHECK(bt_mpi_allreduce(m, BT_MAX, BT_F64, stats, stats, 3));

  double *field = calloc((size_t)(n * n), sizeof *field);
  if (!field) die("calloc", BT_ENOMEM);
  if (rank == 0) /* the boundary */
    for (long i = 0; i < n; i++)
      for (long j = 0; j < n; j++)
        if (i == 0 || i == n - 1 || j == 0 || j == n - 1)
          field[i * n + j] = heat_initial(n, i, j);
  for_local(u, n, field, 1);
  /* Each cell is set on one rank and 0 on the others: the sum is exact. */
  for (long at = 0, chunk = 1 << 26; at < n * n; at += chunk) {
    int len = (int)(n * n - at < chunk ? n * n - at : chunk);
    MPI_Reduce(rank == 0 ? MPI_IN_PLACE : field + at, field + at, len,
               MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  }
  int status = 0;
  if (rank == 0) {
    double cells = (double)(n - 2) * (double)(n - 2);
    double gflops =
        HEAT_FLOPS_PER_POINT * cells * (double)o.iterations / stats[0] * 1e-9;
    double step_gflops = HEAT_FLOPS_PER_POINT * cells / stats[1] * 1e-9;
    double base_gflops = HEAT_FLOPS_PER_POINT * cells / stats[2] * 1e-9;
    printf(
        "mpi_heat2d: %ld steps in %.3f s: %.3f GF/s, %.3f GB/s, final "
        "residual %.6e\n",
        o.iterations, stats[0], gflops,
        gflops / HEAT_FLOPS_PER_POINT * HEAT_BYTES_PER_POINT,
        nres ? residuals[nres - 1] : 0.0);
    printf(
        "median step: baton %.3f ms (%.3f GF/s), plain C loop on one "
        "thread per rank without halo %.3f ms (%.3f GF/s): baton/baseline "
        "%.2fx\n",
        stats[1] * 1e3, step_gflops, stats[2] * 1e3, base_gflops,
        step_gflops / base_gflops);
    printf(
        "RESULT bench=heat2d variant=plain-loop workers=%d ranks=%d "
        "size=%ld metric=GF/s value=%.6g baseline=%.6g ratio=%.4g\n",
        bt_runtime_workers(rt), size, n, step_gflops, base_gflops,
        step_gflops / base_gflops);
    if (o.out[0] && strcmp(o.out, "none") != 0) {
      if (heat_field_png(o.out, field, n) == 0)
        printf("wrote %s\n", o.out);
      else {
        perror(o.out);
        status = 1;
      }
    }
    if (o.check && heat_check(field, n, o.iterations, residuals, nres) != 0)
      status = 1;
    fflush(stdout);
  }
  free(field);
  free(step_times);
  free(residuals);
  CHECK(bt_darray_destroy(next));
  CHECK(bt_darray_destroy(u));
  CHECK(bt_mpi_detach(m));
  CHECK(bt_runtime_destroy(rt));
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return status;
}
