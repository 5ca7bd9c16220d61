/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_halo.c: the darray halo exchange and the bridge's allreduce beside
 * hand-written MPI, same run, same ranks.
 *
 *   mpirun -np 2 build/benchmarks/bench_halo [--quick=1] [--reps=N]
 *
 * 1. Halo exchange of a 3-D f64 block of n x n x n cells per rank, ranks
 *    stacked along axis 1 (periodic, halo 1, faces only), so each face is n
 *    runs of n contiguous doubles (8 n^2 bytes): bt_darray_halo (persistent
 *    requests, subarray datatypes, no packing) vs the usual hand-written
 *    exchange on a plain array of the same shape (pack each face into a
 *    buffer, MPI_Irecv/MPI_Isend, MPI_Waitall, unpack into the ghosts).
 *    Metric: microseconds per exchange, and the face size in bytes.
 * 2. Allreduce of one double: bt_mpi_allreduce vs MPI_Allreduce on
 *    MPI_COMM_WORLD, microseconds per call. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "baton/dist.h"
#include "common.h"

static int rank, nranks;

/* The baseline: one plain n x (n+2) x n block, ghost rows 0 and n+1 of
 * axis 1, neighbours along axis 1 (periodic). */
typedef struct plain {
  int n;
  double *a, *sbuf[2], *rbuf[2];
  int left, right;
} plain;

static double *at(plain *p, int i, int j, int k) {
  return p->a + ((size_t)i * (p->n + 2) + (size_t)j) * p->n + (size_t)k;
}

static void pack(plain *p, int j, double *buf) {
  for (int i = 0; i < p->n; i++)
    memcpy(buf + (size_t)i * p->n, at(p, i, j, 0), (size_t)p->n * 8);
}

static void unpack(plain *p, int j, const double *buf) {
  for (int i = 0; i < p->n; i++)
    memcpy(at(p, i, j, 0), buf + (size_t)i * p->n, (size_t)p->n * 8);
}

static void plain_exchange(plain *p) {
  int n2 = p->n * p->n;
  MPI_Request r[4];
  MPI_Irecv(p->rbuf[0], n2, MPI_DOUBLE, p->left, 1, MPI_COMM_WORLD, &r[0]);
  MPI_Irecv(p->rbuf[1], n2, MPI_DOUBLE, p->right, 0, MPI_COMM_WORLD, &r[1]);
  pack(p, 1, p->sbuf[0]);
  pack(p, p->n, p->sbuf[1]);
  MPI_Isend(p->sbuf[0], n2, MPI_DOUBLE, p->left, 0, MPI_COMM_WORLD, &r[2]);
  MPI_Isend(p->sbuf[1], n2, MPI_DOUBLE, p->right, 1, MPI_COMM_WORLD, &r[3]);
  MPI_Waitall(4, r, MPI_STATUSES_IGNORE);
  unpack(p, 0, p->rbuf[0]);
  unpack(p, p->n + 1, p->rbuf[1]);
}

/* Median over rounds of the mean time of `reps` calls, seconds. */
#define TIME_IT(out, reps, body)                                        \
  do {                                                                  \
    double t_[7];                                                       \
    for (int r_ = 0; r_ < 7; r_++) {                                    \
      MPI_Barrier(MPI_COMM_WORLD);                                      \
      double t0_ = bench_now();                                         \
      for (long i_ = 0; i_ < (reps); i_++) {                            \
        body;                                                           \
      }                                                                 \
      t_[r_] = (bench_now() - t0_) / (double)(reps);                    \
    }                                                                   \
    /* every rank reports the slowest rank's median */                  \
    double m_ = bench_median(t_, 7);                                    \
    MPI_Allreduce(&m_, &(out), 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD); \
  } while (0)

static void halo_size(bt_runtime *rt, bt_mpi *m, int n, long reps) {
  bt_dist d = {.struct_size = sizeof(bt_dist),
               .dtype = BT_F64,
               .ndim = 3,
               .shape = {n, (int64_t)n * nranks, n},
               .procs = {1, nranks, 1},
               .halo = {0, 1, 0},
               .periodic = {0, 1, 0}};
  bt_darray *da;
  BENCH_OK(bt_darray_create(m, &d, &da));
  BENCH_OK(bt_fill(rt, bt_darray_interior(da), 1.0));
  plain p = {.n = n,
             .left = (rank + nranks - 1) % nranks,
             .right = (rank + 1) % nranks};
  p.a = calloc((size_t)n * (n + 2) * n, sizeof(double));
  for (int s = 0; s < 2; s++) {
    p.sbuf[s] = malloc((size_t)n * n * sizeof(double));
    p.rbuf[s] = malloc((size_t)n * n * sizeof(double));
  }
  for (size_t i = 0; i < (size_t)n * (n + 2) * n; i++) p.a[i] = 1.0;
  double t_bt, t_raw;
  for (int warm = 0; warm < 3; warm++) {
    BENCH_OK(bt_darray_halo(da, -1));
    plain_exchange(&p);
  }
  TIME_IT(t_raw, reps, plain_exchange(&p));
  TIME_IT(t_bt, reps, BENCH_OK(bt_darray_halo(da, -1)));
  long long face = (long long)n * n * 8;
  if (rank == 0) {
    char what[64];
    snprintf(what, sizeof what, "halo n=%d face %lld B", n, face);
    bench_table_row(what, "us", t_bt * 1e6, t_raw * 1e6, 0);
    bench_result("halo", "baton", bt_runtime_workers(rt), nranks, face,
                 "us_per_exchange", t_bt * 1e6, t_raw * 1e6, 0);
  }
  for (int s = 0; s < 2; s++) {
    free(p.sbuf[s]);
    free(p.rbuf[s]);
  }
  free(p.a);
  BENCH_OK(bt_darray_destroy(da));
}

static void allreduce(bt_runtime *rt, bt_mpi *m, long reps) {
  double x = rank + 1.0, y = 0;
  double t_bt, t_raw;
  for (int i = 0; i < 100; i++) {
    MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    BENCH_OK(bt_mpi_allreduce(m, BT_SUM, BT_F64, &x, &y, 1));
  }
  TIME_IT(t_raw, reps,
          MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  TIME_IT(t_bt, reps, BENCH_OK(bt_mpi_allreduce(m, BT_SUM, BT_F64, &x, &y, 1)));
  if (rank == 0) {
    bench_table_row("allreduce 1 double", "us", t_bt * 1e6, t_raw * 1e6, 0);
    bench_result("allreduce", "baton", bt_runtime_workers(rt), nranks, 8,
                 "us_per_call", t_bt * 1e6, t_raw * 1e6, 0);
  }
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  int quick = bench_quick(argc, argv);
  long reps = bench_opt(argc, argv, "reps", quick ? 20 : 200);
  bt_runtime *rt;
  BENCH_OK(bt_runtime_create(NULL, &rt));
  bt_mpi *m;
  BENCH_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  if (rank == 0)
    bench_table_header(
        "halo exchange and allreduce: baton vs hand-written MPI");
  allreduce(rt, m, quick ? 200 : 5000);
  static const int sizes[] = {16, 32, 64, 91, 128, 181};
  int nsizes = quick ? 2 : 6;
  for (int i = 0; i < nsizes; i++)
    halo_size(rt, m, sizes[i], sizes[i] >= 128 ? reps / 4 + 1 : reps);
  BENCH_OK(bt_mpi_detach(m));
  BENCH_OK(bt_runtime_destroy(rt));
  MPI_Finalize();
  return 0;
}
