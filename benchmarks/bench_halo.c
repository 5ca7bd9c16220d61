/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_halo.c: the darray halo exchange and the bridge's allreduce beside
 * hand-written MPI, same run, same ranks.
 *
 *   mpirun -np 2 build/benchmarks/bench_halo [--quick] [--reps=N]
 *       [--only=1|2] [--serialized=1]
 *
 * --only=1 runs the allreduce alone, --only=2 the halo exchange alone.
 * --serialized=1 asks MPI for MPI_THREAD_SERIALIZED (the bridge's locked
 * path) and runs the allreduce alone: the application may then call no MPI
 * while attached, so its MPI_Allreduce rounds run with the bridge
 * detached, baton's with it attached (attach and detach between rounds).
 *
 * 1. Halo exchange of a 3-D f64 block of n x n x n cells per rank, ranks
 *    stacked along axis 1 (periodic, halo 1, faces only), so each face is n
 *    runs of n contiguous doubles (8 n^2 bytes): bt_darray_halo (persistent
 *    requests, subarray datatypes, no packing) vs the usual hand-written
 *    exchange on a plain array of the same shape (pack each face into a
 *    buffer, MPI_Irecv/MPI_Isend, MPI_Waitall, unpack into the ghosts).
 *    Metric: microseconds per exchange, and the face size in bytes.
 * 2. Allreduce of one double: bt_mpi_allreduce vs MPI_Allreduce on
 *    MPI_COMM_WORLD, microseconds per call: rounds of each in turn (A, B,
 *    A, B: a slow patch of a loaded machine hits both), the median round
 *    of each, the slowest rank's. */
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

/* Seconds per call over `reps` calls, the slowest rank's. */
static double allreduce_round(bt_mpi *m, long reps) {
  double x = rank + 1.0, y = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = bench_now();
  if (m)
    for (long i = 0; i < reps; i++)
      BENCH_OK(bt_mpi_allreduce(m, BT_SUM, BT_F64, &x, &y, 1));
  else
    for (long i = 0; i < reps; i++)
      MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  double t = (bench_now() - t0) / (double)reps, slow;
  if (y != nranks * (nranks + 1) / 2.0) {
    fprintf(stderr, "bench_halo: allreduce gave %g\n", y);
    exit(1);
  }
  MPI_Allreduce(&t, &slow, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slow;
}

/* serialized: the bridge is detached for MPI's rounds (*mp is NULL then). */
static void allreduce(bt_runtime *rt, bt_mpi **mp, long reps, int rounds,
                      int serialized) {
  double t_raw[64], t_bt[64];
  if (rounds > 64) rounds = 64;
  for (int i = 0; i < 2; i++) allreduce_round(*mp, 100);
  for (int r = 0; r < rounds; r++) {
    if (serialized) BENCH_OK(bt_mpi_detach(*mp));
    t_raw[r] = allreduce_round(NULL, reps);
    if (serialized) {
      BENCH_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, mp));
      allreduce_round(*mp, 100);
    }
    t_bt[r] = allreduce_round(*mp, reps);
  }
  double raw = bench_median(t_raw, rounds), bt = bench_median(t_bt, rounds);
  if (rank == 0) {
    bench_table_row(serialized ? "allreduce 1 double (serialized)"
                               : "allreduce 1 double",
                    "us", bt * 1e6, raw * 1e6, 0);
    bench_result("allreduce", serialized ? "baton_serialized" : "baton",
                 bt_runtime_workers(rt), nranks, 8, "us_per_call", bt * 1e6,
                 raw * 1e6, 0);
  }
}

int main(int argc, char **argv) {
  int provided;
  int serialized = bench_opt(argc, argv, "serialized", 0) != 0;
  MPI_Init_thread(&argc, &argv,
                  serialized ? MPI_THREAD_SERIALIZED : MPI_THREAD_MULTIPLE,
                  &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  int quick = bench_quick(argc, argv);
  long only = serialized ? 1 : bench_opt(argc, argv, "only", 3);
  long reps = bench_opt(argc, argv, "reps", quick ? 20 : 200);
  bt_runtime *rt;
  BENCH_OK(bt_runtime_create(NULL, &rt));
  bt_mpi *m;
  BENCH_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  if (rank == 0)
    bench_table_header(
        "halo exchange and allreduce: baton vs hand-written MPI");
  if (only & 1)
    allreduce(rt, &m, quick ? 200 : 2000, quick ? 3 : 31, serialized);
  static const int sizes[] = {16, 32, 64, 91, 128, 181};
  int nsizes = only & 2 ? quick ? 2 : 6 : 0;
  for (int i = 0; i < nsizes; i++)
    halo_size(rt, m, sizes[i], sizes[i] >= 128 ? reps / 4 + 1 : reps);
  BENCH_OK(bt_mpi_detach(m));
  BENCH_OK(bt_runtime_destroy(rt));
  MPI_Finalize();
  return 0;
}
