/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_collective.c: bt_mpi_allreduce, bt_mpi_barrier and bt_mpi_bcast
 * on the bridge: every op and dtype against a local computation, from the
 * main thread and from workers, under MPI_THREAD_MULTIPLE (both progress
 * modes) and MPI_THREAD_SERIALIZED, and the bad-argument table. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <string.h>

#include "mpitest.h"

/* Rank r contributes value(r, i) at index i. */
static int64_t value(int r, int i) {
  return (int64_t)((r * 7 + i * 3) % 11) - 5;
}

static void check_allreduce(bt_mpi *m) {
  int size = bt_mpi_size(m), rank = bt_mpi_rank(m);
  enum { N = 5 };
  static const bt_op ops[] = {BT_SUM, BT_MAX, BT_MIN};
  static const bt_dtype types[] = {BT_F64, BT_F32, BT_I64, BT_I32};
  for (int o = 0; o < 3; o++) {
    for (int k = 0; k < 4; k++) {
      int64_t want[N];
      for (int i = 0; i < N; i++) {
        want[i] = value(0, i);
        for (int r = 1; r < size; r++) {
          int64_t v = value(r, i);
          if (ops[o] == BT_SUM) want[i] += v;
          if (ops[o] == BT_MAX && v > want[i]) want[i] = v;
          if (ops[o] == BT_MIN && v < want[i]) want[i] = v;
        }
      }
      union {
        double f64[N];
        float f32[N];
        int64_t i64[N];
        int32_t i32[N];
      } in, out;
      for (int i = 0; i < N; i++) {
        int64_t v = value(rank, i);
        in.f64[i] = 0;
        switch (types[k]) {
          case BT_F64:
            in.f64[i] = (double)v;
            break;
          case BT_F32:
            in.f32[i] = (float)v;
            break;
          case BT_I64:
            in.i64[i] = v;
            break;
          default:
            in.i32[i] = (int32_t)v;
            break;
        }
      }
      /* Out of place, then in place. */
      for (int inplace = 0; inplace < 2; inplace++) {
        memset(&out, 0, sizeof out);
        if (inplace) out = in;
        BT_CHECK_OK(bt_mpi_allreduce(m, ops[o], types[k],
                                     inplace ? (void *)&out : (void *)&in, &out,
                                     N));
        for (int i = 0; i < N; i++) {
          int64_t got = types[k] == BT_F64   ? (int64_t)out.f64[i]
                        : types[k] == BT_F32 ? (int64_t)out.f32[i]
                        : types[k] == BT_I64 ? out.i64[i]
                                             : out.i32[i];
          BT_CHECK_EQ(got, want[i]);
        }
      }
    }
  }
}

static void check_bcast_barrier(bt_mpi *m) {
  int size = bt_mpi_size(m), rank = bt_mpi_rank(m);
  enum { BYTES = 100000 };
  unsigned char *buf = malloc(BYTES);
  for (int root = 0; root < size; root++) {
    for (int i = 0; i < BYTES; i++)
      buf[i] = rank == root ? (unsigned char)(i * 13 + root) : 0;
    BT_CHECK_OK(bt_mpi_bcast(m, root, buf, BYTES));
    for (int i = 0; i < BYTES; i++)
      BT_CHECK_EQ(buf[i], (unsigned char)(i * 13 + root));
    BT_CHECK_OK(bt_mpi_barrier(m));
  }
  BT_CHECK_OK(bt_mpi_bcast(m, 0, NULL, 0));
  BT_CHECK_OK(bt_mpi_allreduce(m, BT_SUM, BT_F64, NULL, NULL, 0));
  free(buf);
}

static void body(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  check_allreduce(m);
  check_bcast_barrier(m);
}

BT_TEST_MPI(ops_and_types, 3) {
  mt_both_modes(body);
}

/* Collectives mixed with remote-channel traffic: they never match it. */
static void mixed_body(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int rank = bt_mpi_rank(m), size = bt_mpi_size(m);
  int right = (rank + 1) % size, left = (rank + size - 1) % size;
  bt_chan *to, *from;
  BT_CHECK_OK(bt_mpi_chan_create(m, right, 7, &bt_type_f64, 4, &to));
  BT_CHECK_OK(bt_mpi_chan_create(m, left, 7, &bt_type_f64, 4, &from));
  for (int it = 0; it < 20; it++) {
    double v = rank * 100 + it, got, sum;
    BT_CHECK_OK(bt_send(to, &v));
    BT_CHECK_OK(bt_mpi_allreduce(m, BT_SUM, BT_F64, &v, &sum, 1));
    double want = 0;
    for (int r = 0; r < size; r++) want += r * 100 + it;
    BT_CHECK_EQ((long long)sum, (long long)want);
    BT_CHECK_OK(bt_recv(from, &got));
    BT_CHECK_EQ((long long)got, left * 100 + it);
  }
  BT_CHECK_OK(bt_chan_release(to));
  BT_CHECK_OK(bt_chan_release(from));
}

BT_TEST_MPI(with_channels, 3) {
  mt_both_modes(mixed_body);
}

/* A worker reduces: the job calls the collective on the worker's thread. */
static int job_reduce(void *arg, void *result, void *ctx) {
  (void)arg;
  bt_mpi *m = ctx;
  double one = bt_self() + 1.0, sum = 0;
  int st = bt_mpi_allreduce(m, BT_SUM, BT_F64, &one, &sum, 1);
  if (st == BT_OK) st = bt_mpi_barrier(m);
  *(double *)result = sum;
  return st;
}

static void worker_body(bt_runtime *rt, bt_mpi *m) {
  for (int rep = 0; rep < 3; rep++) {
    int worker = rep % bt_runtime_workers(rt);
    bt_job job = {.struct_size = sizeof(bt_job),
                  .fn = job_reduce,
                  .ctx = m,
                  .result_type = &bt_type_f64};
    bt_future *f;
    BT_CHECK_OK(bt_schedule(rt, worker, &job, &f));
    double sum = -1;
    BT_CHECK_OK(bt_future_wait(f, -1, &sum));
    BT_CHECK_OK(bt_future_release(f));
    BT_CHECK_EQ((long long)sum, (long long)(worker + 1) * bt_mpi_size(m));
  }
}

BT_TEST_MPI(from_worker, 2) {
  mt_both_modes(worker_body);
}

/* MPI_THREAD_SERIALIZED: the application calls no MPI while attached; the
 * collectives go through the bridge's serialization, from workers too. */
static void all_bodies(bt_runtime *rt, bt_mpi *m) {
  body(rt, m);
  mixed_body(rt, m);
  worker_body(rt, m);
}

BT_TEST_MPI(serialized_collectives, 3) {
  mt_once(all_bodies);
}

BT_TEST_MPI(bad_arguments, 2) {
  bt_runtime *rt = mt_runtime();
  bt_mpi *m = mt_attach(rt, "direct");
  double x = 1, y = 0;
  char buf[4];
  /* Zeroed memory of a bridge's size: no magic. */
  static uint64_t zeros[64];
  bt_mpi *forged = (bt_mpi *)zeros;
  struct {
    const char *what;
    int got, want;
  } table[] = {
      {"allreduce NULL bridge",
       bt_mpi_allreduce(NULL, BT_SUM, BT_F64, &x, &y, 1), BT_EINVAL},
      {"allreduce forged bridge",
       bt_mpi_allreduce(forged, BT_SUM, BT_F64, &x, &y, 1), BT_EINVAL},
      {"allreduce bad op", bt_mpi_allreduce(m, (bt_op)7, BT_F64, &x, &y, 1),
       BT_EINVAL},
      {"allreduce bad dtype",
       bt_mpi_allreduce(m, BT_SUM, (bt_dtype)42, &x, &y, 1), BT_EINVAL},
      {"allreduce u8", bt_mpi_allreduce(m, BT_SUM, BT_U8, &x, &y, 1),
       BT_EINVAL},
      {"allreduce count < 0", bt_mpi_allreduce(m, BT_SUM, BT_F64, &x, &y, -1),
       BT_EINVAL},
      {"allreduce NULL in", bt_mpi_allreduce(m, BT_SUM, BT_F64, NULL, &y, 1),
       BT_EINVAL},
      {"allreduce NULL out", bt_mpi_allreduce(m, BT_MAX, BT_F64, &x, NULL, 1),
       BT_EINVAL},
      {"barrier NULL", bt_mpi_barrier(NULL), BT_EINVAL},
      {"barrier forged", bt_mpi_barrier(forged), BT_EINVAL},
      {"bcast NULL bridge", bt_mpi_bcast(NULL, 0, buf, 4), BT_EINVAL},
      {"bcast root < 0", bt_mpi_bcast(m, -1, buf, 4), BT_EINVAL},
      {"bcast root >= size", bt_mpi_bcast(m, mt_size(), buf, 4), BT_EINVAL},
      {"bcast NULL buf", bt_mpi_bcast(m, 0, NULL, 4), BT_EINVAL},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (table[i].got != table[i].want)
      bt_test_fail(__FILE__, __LINE__, "%s: got %s, want %s", table[i].what,
                   bt_status_name(table[i].got), bt_status_name(table[i].want));
  }
  BT_CHECK_OK(bt_mpi_allreduce(m, BT_SUM, BT_F64, &x, &y, 1));
  BT_CHECK_EQ((long long)y, mt_size());
  BT_CHECK_OK(bt_mpi_detach(m));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* Under MPI_THREAD_SERIALIZED a small allreduce goes point to point
 * (recursive doubling, the ranks beyond a power of two folded in pairs),
 * a larger one through MPI_Iallreduce. Both: the serial result, and the
 * same bits on every rank, also for sums that round and for signed zeros
 * under max and min. 4 ranks: doubling only; 3: the fold too. */
static void check_paths(bt_mpi *m) {
  int size = bt_mpi_size(m), rank = bt_mpi_rank(m);
  enum { N = 200 };
  double in[N], out[N], root[N];
  /* counts below, at and above the point-to-point bound (128 doubles) */
  static const int counts[] = {1, 3, 128, 129, N};
  for (int c = 0; c < 5; c++) {
    int n = counts[c];
    for (int i = 0; i < n; i++) in[i] = 1.0 / (rank + 3 + i) + rank * 1e-3;
    BT_CHECK_OK(bt_mpi_allreduce(m, BT_SUM, BT_F64, in, out, n));
    for (int i = 0; i < n; i++) {
      double want = 0;
      for (int r = 0; r < size; r++) want += 1.0 / (r + 3 + i) + r * 1e-3;
      BT_CHECK(fabs(out[i] - want) <= 1e-14 * fabs(want));
    }
    memcpy(root, out, (size_t)n * sizeof *out);
    BT_CHECK_OK(bt_mpi_bcast(m, 0, root, (size_t)n * sizeof *root));
    BT_CHECK(memcmp(root, out, (size_t)n * sizeof *out) == 0);
    /* exact integers, in place */
    for (int i = 0; i < n; i++) out[i] = rank * 1000 + i;
    BT_CHECK_OK(bt_mpi_allreduce(m, BT_MAX, BT_F64, out, out, n));
    for (int i = 0; i < n; i++)
      BT_CHECK_EQ((long long)out[i], (size - 1) * 1000LL + i);
  }
  static const bt_op ops[] = {BT_MAX, BT_MIN};
  for (int o = 0; o < 2; o++) {
    double z = rank % 2 ? -0.0 : 0.0, got, first;
    BT_CHECK_OK(bt_mpi_allreduce(m, ops[o], BT_F64, &z, &got, 1));
    BT_CHECK_EQ(got, 0.0);
    first = got;
    BT_CHECK_OK(bt_mpi_bcast(m, 0, &first, sizeof first));
    BT_CHECK_EQ(signbit(first), signbit(got));
  }
}

static void paths_body(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  check_paths(m);
  check_allreduce(m);
}

BT_TEST_MPI(serialized_allreduce_np3, 3) {
  mt_once(paths_body);
}

BT_TEST_MPI(serialized_allreduce_np4, 4) {
  mt_once(paths_body);
}
