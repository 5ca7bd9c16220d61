/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_mpi.c: the MPI bridge beside raw MPI, same run, same two ranks.
 *
 *   mpirun -np 2 build/benchmarks/bench_mpi [--max=BYTES] [--reps=N]
 *                                            [--min=BYTES] (ping-pong from)
 *                                            [--quick=1]   (64 KiB, 50 reps)
 *                                            [--only=MASK] (parts: below)
 *
 * 1. Ping-pong, sizes 8 B .. 64 MiB: raw MPI_Send/MPI_Recv between
 *    preallocated buffers (the baseline) vs the same through a baton remote
 *    channel: plain values (bt_type_value, up to 64 KiB) and 1-D u8 slices
 *    (every size; the receiver gets a new array each time, as the contract
 *    says, whose memory may be that of an earlier received array freed
 *    since: array/recycle.c). One-way latency = round trip / 2; bandwidth =
 *    size / one-way. The three kinds take turns (pp_measure()): in blocks
 *    of 100 round trips in rounds of 500 below 4 KiB, in whole rounds above.
 * 2. One-way streaming of 2-D f64 slices: a contiguous region (whole rows)
 *    and a strided one (the left half of every row of an array twice as
 *    wide), baton vs raw MPI with the same datatype; and strided vs
 *    contiguous.
 * 3. Allreduce of one double: bt_mpi_allreduce vs MPI_Allreduce on the
 *    world communicator (DESIGN.md's collective budget: at most 1.5x).
 * 4. Late wake-up: rank 0 sends its CLOCK_MONOTONIC time 1, 5 and 20 ms
 *    after rank 1 began to wait (long after any spin), rank 1 measures how
 *    late the message reaches it: baton bt_recv vs raw MPI_Recv, the
 *    median of the samples. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baton/mpi.h"
#include "common.h"

enum {
  ONLY_RAW = 1,
  ONLY_VALUE = 2,
  ONLY_SLICE = 4,
  ONLY_STREAM = 8,
  ONLY_LATE = 16,
  ONLY_ALLREDUCE = 32,
  ONLY_ALL = 63
};

static int rank, other;
static bt_runtime *rt;
static bt_mpi *bridge;
static int next_tag = 1;

static int reps_for(size_t bytes, long reps) {
  /* Fewer round trips for big messages: about 256 MiB moved per size. */
  long n = (long)((256u << 20) / (bytes ? bytes : 1));
  if (n > reps) n = reps;
  if (n < 5) n = 5;
  return (int)n;
}

/* The ping-pong of one size: raw MPI between two preallocated buffers (the
 * baseline), plain values and 1-D u8 slices through a baton remote channel,
 * each measured in blocks of round trips that alternate with the other
 * kinds' blocks (pp_measure()). */
typedef struct pp {
  size_t bytes;
  char *raw_buf, *val_buf;
  bt_slice s; /* rank 0's slice, sent and received back */
  bool have_s;
} pp;

/* The ping-pong channels of the size being measured: made once per size
 * and kind, used by every block (as an application uses a channel for many
 * messages), released when the size changes. */
static bt_chan *value_ch, *slice_ch;

static void release_pingpong_chans(void) {
  BENCH_OK(bt_chan_release(value_ch));
  BENCH_OK(bt_chan_release(slice_ch));
  value_ch = slice_ch = NULL;
}

/* Raw MPI: seconds for n round trips. */
static double raw_block(pp *p, int n) {
  char *buf = p->raw_buf;
  int bytes = (int)p->bytes;
  double t0 = bench_now();
  for (int i = 0; i < n; i++) {
    if (rank == 0) {
      MPI_Send(buf, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
      MPI_Recv(buf, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(buf, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(buf, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
  }
  return bench_now() - t0;
}

/* baton, plain values of p->bytes bytes. */
static double value_block(pp *p, int n) {
  bt_chan *ch = value_ch;
  char *buf = p->val_buf;
  double t0 = bench_now();
  for (int i = 0; i < n; i++) {
    if (rank == 0) {
      BENCH_OK(bt_send(ch, buf));
      BENCH_OK(bt_recv(ch, buf));
    } else {
      BENCH_OK(bt_recv(ch, buf));
      BENCH_OK(bt_send(ch, buf));
    }
  }
  return bench_now() - t0;
}

/* baton, a 1-D u8 slice of p->bytes bytes sent back and forth: each
 * receive is a slice of a new array, or of the one the channel kept from
 * its last receive when the user released it (mpi/rchan.c). */
static double slice_block(pp *p, int n) {
  bt_chan *ch = slice_ch;
  double t0 = bench_now();
  for (int i = 0; i < n; i++) {
    if (rank == 0) {
      BENCH_OK(bt_send(ch, &p->s));
      BENCH_OK(bt_recv(ch, &p->s));
    } else {
      bt_slice s;
      BENCH_OK(bt_recv(ch, &s));
      BENCH_OK(bt_send(ch, &s));
    }
  }
  return bench_now() - t0;
}

static void pp_setup(pp *p, size_t bytes, long only) {
  *p = (pp){.bytes = bytes};
  p->raw_buf = malloc(bytes ? bytes : 1);
  memset(p->raw_buf, 1, bytes);
  if ((only & ONLY_VALUE) && bytes <= 65536) {
    /* A type stays valid until detach: one per channel, kept. */
    static bt_type types[64];
    static int ntypes;
    bt_type *t = &types[ntypes++ % 64];
    BENCH_OK(bt_type_value("bytes", bytes, t));
    BENCH_OK(bt_mpi_chan_create(bridge, other, next_tag++, t, 4, &value_ch));
    p->val_buf = malloc(bytes);
    memset(p->val_buf, 1, bytes);
  }
  if (only & ONLY_SLICE) {
    BENCH_OK(bt_mpi_chan_create(bridge, other, next_tag++, &bt_type_slice, 4,
                                &slice_ch));
    if (rank == 0) {
      int64_t len = (int64_t)bytes;
      bt_array *a;
      BENCH_OK(bt_array_create(rt, BT_U8, 1, &len, BT_PLACE_LOCAL, &a));
      BENCH_OK(bt_array_own(a, NULL, 0, &p->s));
      bt_array_release(a);
      p->have_s = true;
    }
  }
}

static void pp_teardown(pp *p) {
  if (p->have_s) bt_slice_release(p->s);
  release_pingpong_chans();
  free(p->raw_buf);
  free(p->val_buf);
}

/* Seconds per one-way trip of each kind (raw, value, slice; 0 where not
 * measured): rounds of n round trips a kind, the best round of each, the
 * kinds in turn. Below 4 KiB (latency) the rounds are of 500 round trips
 * (n / 500 times as many), each running the kinds in blocks of 100 round
 * trips in turn (raw, value, slice, raw, ...), so that
 * whatever slows the machine for a while (another process, a timer) hits
 * the three alike, whatever n is: with a whole round of one kind before the
 * next, raw MPI's 8 B read slower in the 4000-message rounds of a latency
 * run than in the 2000 of a sweep (0.55-0.59 against 0.47-0.51 us, quiet),
 * baton's the same in both, so the ratio depended on --reps. From 4 KiB
 * (bandwidth) a kind's whole round goes at once, as before: blocks of a
 * few 2 MiB round trips in turn slowed raw MPI and baton alike, 2-5x (not
 * what an application that streams does). One short block of
 * each kind first, untimed: the first messages of a channel or a size
 * (posting receives, the first arrays) are not what is measured. */
static void pp_measure(size_t bytes, int n, int rounds, long only,
                       double out[3]) {
  pp p;
  pp_setup(&p, bytes, only);
  double (*const fn[3])(pp *, int) = {raw_block, value_block, slice_block};
  const bool on[3] = {(only & ONLY_RAW) != 0, p.val_buf != NULL,
                      (only & ONLY_SLICE) != 0};
  int block = n;
  if (bytes < 4096 && n > 500) {
    /* Rounds of 500 round trips a kind, as many more rounds as that makes
     * n shorter: a round's length then does not depend on --reps. */
    rounds *= n / 500;
    n = 500;
  }
  if (bytes < 4096) block = n < 100 ? n : 100;
  MPI_Barrier(MPI_COMM_WORLD);
  for (int k = 0; k < 3; k++)
    if (on[k]) (void)fn[k](&p, block < 5 ? block : 5);
  for (int k = 0; k < 3; k++) out[k] = on[k] ? 1e30 : 0;
  for (int round = 0; round < rounds; round++) {
    double t[3] = {0, 0, 0};
    MPI_Barrier(MPI_COMM_WORLD);
    for (int done = 0; done < n; done += block) {
      int m = n - done < block ? n - done : block;
      for (int k = 0; k < 3; k++)
        if (on[k]) t[k] += fn[k](&p, m);
    }
    for (int k = 0; k < 3; k++)
      if (on[k] && t[k] / n / 2 < out[k]) out[k] = t[k] / n / 2;
  }
  pp_teardown(&p);
}

/* One-way stream of `n` regions rows x cols of f64 from arrays rows x
 * (cols * widen): widen 1 is contiguous, 2 strided. Seconds per message. */
static double raw_stream(int64_t rows, int64_t cols, int widen, int n) {
  size_t bytes = (size_t)(rows * cols) * 8;
  double *src = NULL, *dst = NULL;
  MPI_Datatype region;
  if (rank == 0) {
    src = calloc((size_t)(rows * cols * widen), 8);
    MPI_Type_vector((int)rows, (int)cols, (int)(cols * widen), MPI_DOUBLE,
                    &region);
    MPI_Type_commit(&region);
  } else {
    dst = malloc(bytes);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  double best = 1e30;
  for (int round = 0; round < 3; round++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now();
    for (int i = 0; i < n; i++) {
      if (rank == 0)
        MPI_Send(src, 1, region, 1, 1, MPI_COMM_WORLD);
      else
        MPI_Recv(dst, (int)(rows * cols), MPI_DOUBLE, 0, 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    }
    char ack = 0;
    if (rank == 1)
      MPI_Send(&ack, 1, MPI_CHAR, 0, 2, MPI_COMM_WORLD);
    else
      MPI_Recv(&ack, 1, MPI_CHAR, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    double t = (bench_now() - t0) / n;
    if (t < best) best = t;
  }
  if (rank == 0) {
    MPI_Type_free(&region);
    free(src);
  }
  free(dst);
  return best;
}

static double baton_stream(int64_t rows, int64_t cols, int widen, int n) {
  bt_chan *ch, *ack;
  BENCH_OK(
      bt_mpi_chan_create(bridge, other, next_tag++, &bt_type_slice, 4, &ch));
  BENCH_OK(
      bt_mpi_chan_create(bridge, other, next_tag++, &bt_type_i32, 1, &ack));
  bt_array *a = NULL;
  bt_range reg[2] = {{0, rows}, {0, cols}};
  if (rank == 0) {
    int64_t shape[2] = {rows, cols * widen};
    BENCH_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_LOCAL, &a));
  }
  double best = 1e30;
  for (int round = 0; round < 3; round++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = bench_now();
    int32_t done = 1;
    if (rank == 0) {
      for (int i = 0; i < n; i++) {
        bt_slice s;
        /* Waits until MPI finished the previous send of the region. */
        BENCH_OK(bt_array_own(a, reg, -1, &s));
        BENCH_OK(bt_send(ch, &s));
      }
      BENCH_OK(bt_recv(ack, &done));
    } else {
      for (int i = 0; i < n; i++) {
        bt_slice s;
        BENCH_OK(bt_recv(ch, &s));
        bt_slice_release(s);
      }
      BENCH_OK(bt_send(ack, &done));
    }
    double t = (bench_now() - t0) / n;
    if (t < best) best = t;
  }
  if (rank == 0) {
    bt_slice all;
    BENCH_OK(bt_array_own(a, NULL, -1, &all));
    bt_slice_release(all);
    bt_array_release(a);
  }
  BENCH_OK(bt_chan_release(ch));
  BENCH_OK(bt_chan_release(ack));
  return best;
}

/* Seconds per allreduce of one double (sum): MPI_Allreduce on the world
 * when bridged is 0, else bt_mpi_allreduce on the bridge. */
static double allreduce_time(int bridged, int n) {
  double x = rank + 1, sum = 0;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = bench_now();
  for (int i = 0; i < n; i++) {
    if (bridged)
      BENCH_OK(bt_mpi_allreduce(bridge, BT_SUM, BT_F64, &x, &sum, 1));
    else
      MPI_Allreduce(&x, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }
  double t = (bench_now() - t0) / n;
  if (sum != 3) {
    fprintf(stderr, "bench_mpi: allreduce gave %g, not 3\n", sum);
    exit(1);
  }
  return t;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Median lateness (seconds) on rank 1 of messages sent 1, 5, 20 ms after
 * it began to wait; ch NULL: raw MPI. */
static double late_wakeup(bt_chan *ch, int reps) {
  static const int delays[] = {1, 5, 20};
  double late[3 * 64];
  int n = 0;
  if (reps > 64) reps = 64;
  for (int d = 0; d < 3; d++) {
    for (int r = 0; r < reps; r++) {
      double t = 0;
      MPI_Barrier(MPI_COMM_WORLD);
      if (rank == 0) {
        sleep_ms(delays[d]);
        t = mono_now();
        if (ch)
          BENCH_OK(bt_send(ch, &t));
        else
          MPI_Send(&t, 1, MPI_DOUBLE, 1, 3, MPI_COMM_WORLD);
      } else {
        if (ch)
          BENCH_OK(bt_recv(ch, &t));
        else
          MPI_Recv(&t, 1, MPI_DOUBLE, 0, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        late[n++] = mono_now() - t;
      }
    }
  }
  if (rank == 0) return 0;
  qsort(late, (size_t)n, sizeof late[0], cmp_double);
  return late[n / 2];
}

static const char *human(size_t b, char *buf, size_t len) {
  if (b >= (1u << 20))
    snprintf(buf, len, "%zu MiB", b >> 20);
  else if (b >= 1024)
    snprintf(buf, len, "%zu KiB", b >> 10);
  else
    snprintf(buf, len, "%zu B", b);
  return buf;
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 2) {
    if (rank == 0) fprintf(stderr, "bench_mpi: run with mpirun -np 2\n");
    MPI_Finalize();
    return 1;
  }
  other = 1 - rank;
  int quick = bench_quick(argc, argv);
  long max = bench_opt(argc, argv, "max", quick ? 64L << 10 : 64L << 20);
  long reps = bench_opt(argc, argv, "reps", quick ? 50 : 2000);
  /* --min=BYTES: the ping-pong's sizes from there (8, 64, 512... up). */
  long min = bench_opt(argc, argv, "min", 8);
  /* --only=MASK runs a part (for profiling): 1 raw ping-pong, 2 value,
   * 4 slice, 8 streaming, 16 late wake-up, 32 allreduce; default all. */
  long only = bench_opt(argc, argv, "only", ONLY_ALL);
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 1;
  BENCH_OK(bt_runtime_create(&opt, &rt));
  BENCH_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &bridge));
  const char *mode = getenv("BATON_MPI_PROGRESS");
  const char *variant_mode =
      mode && strcmp(mode, "thread") == 0 ? "thread" : "direct";
  if (rank == 0)
    printf("bench_mpi: 2 ranks, MPI thread level %d, progress mode %s\n",
           provided, variant_mode);

  enum { MAXSIZES = 32 };
  size_t sizes[MAXSIZES];
  int nsizes = 0;
  for (size_t b = 8; b <= (size_t)max && nsizes < MAXSIZES; b *= 8)
    if (b >= (size_t)min) sizes[nsizes++] = b;
  if ((nsizes == 0 || sizes[nsizes - 1] != (size_t)max) && nsizes < MAXSIZES)
    sizes[nsizes++] = (size_t)max;
  /* 4 KiB is where the bandwidth target starts: measured exactly. */
  double lat_raw[MAXSIZES], lat_val[MAXSIZES], lat_slice[MAXSIZES];
  /* A ratio needs both sides: without the raw ping-pong in --only, or
   * with neither kind of baton's, the table is left out (it printed a
   * placeholder of 1 s against 1 s). */
  const bool table = (only & ONLY_RAW) && (only & (ONLY_VALUE | ONLY_SLICE));
  if (!(only & (ONLY_RAW | ONLY_VALUE | ONLY_SLICE))) nsizes = 0;
  for (int k = 0; k < nsizes; k++) {
    double t[3]; /* 0 for a kind not measured */
    pp_measure(sizes[k], reps_for(sizes[k], reps), quick ? 2 : 5, only, t);
    lat_raw[k] = t[0];
    lat_val[k] = t[1];
    lat_slice[k] = t[2];
  }
  if (rank == 0 && nsizes > 0 && !table)
    printf("ping-pong of one side only (--only=%ld: raw MPI is 1, baton's "
           "kinds 2 and 4): no table\n",
           only);
  if (rank == 0 && table) {
    char h[32], what[64];
    bench_table_header("Ping-pong, one-way (baton vs raw MPI_Send/Recv)");
    for (int k = 0; k < nsizes; k++) {
      size_t b = sizes[k];
      human(b, h, sizeof h);
      if (lat_val[k] > 0) {
        snprintf(what, sizeof what, "value %s latency", h);
        bench_table_row(what, "us", lat_val[k] * 1e6, lat_raw[k] * 1e6, 0);
        bench_result("mpi_pingpong", "value", 1, 2, (long long)b, "latency_us",
                     lat_val[k] * 1e6, lat_raw[k] * 1e6, 0);
      }
      if (only & ONLY_SLICE) {
        snprintf(what, sizeof what, "slice %s latency", h);
        bench_table_row(what, "us", lat_slice[k] * 1e6, lat_raw[k] * 1e6, 0);
        bench_result("mpi_pingpong", "slice", 1, 2, (long long)b, "latency_us",
                     lat_slice[k] * 1e6, lat_raw[k] * 1e6, 0);
      }
      if (b >= 4096) {
        double bw, raw = (double)b / lat_raw[k] / 1e6;
        if (only & ONLY_SLICE) {
          snprintf(what, sizeof what, "slice %s bandwidth", h);
          bw = (double)b / lat_slice[k] / 1e6;
          bench_table_row(what, "MB/s", bw, raw, 1);
          bench_result("mpi_pingpong", "slice", 1, 2, (long long)b,
                       "bandwidth_MBps", bw, raw, 1);
        }
        if (lat_val[k] > 0) {
          snprintf(what, sizeof what, "value %s bandwidth", h);
          bw = (double)b / lat_val[k] / 1e6;
          bench_table_row(what, "MB/s", bw, raw, 1);
          bench_result("mpi_pingpong", "value", 1, 2, (long long)b,
                       "bandwidth_MBps", bw, raw, 1);
        }
      }
    }
  }

  /* Streaming: regions of 1 MiB .. 16 MiB (capped by --max). */
  int64_t stream_bytes[] = {1 << 20, 4 << 20, 16 << 20};
  for (int k = 0; k < 3 && (only & ONLY_STREAM); k++) {
    if (stream_bytes[k] > max) break;
    int64_t cols = 512, rows = stream_bytes[k] / 8 / cols;
    int n = reps_for((size_t)stream_bytes[k], reps);
    double rc_ = raw_stream(rows, cols, 1, n);
    double rs = raw_stream(rows, cols, 2, n);
    double bc = baton_stream(rows, cols, 1, n);
    double bs = baton_stream(rows, cols, 2, n);
    if (rank == 0) {
      char h[32], what[80];
      human((size_t)stream_bytes[k], h, sizeof h);
      double mb = (double)stream_bytes[k] / 1e6;
      if (k == 0)
        bench_table_header("Streaming 2-D f64 regions, one way (MB/s)");
      snprintf(what, sizeof what, "contiguous %s", h);
      bench_table_row(what, "MB/s", mb / bc, mb / rc_, 1);
      bench_result("mpi_stream", "contiguous", 1, 2, stream_bytes[k],
                   "bandwidth_MBps", mb / bc, mb / rc_, 1);
      snprintf(what, sizeof what, "strided (half rows) %s", h);
      bench_table_row(what, "MB/s", mb / bs, mb / rs, 1);
      bench_result("mpi_stream", "strided", 1, 2, stream_bytes[k],
                   "bandwidth_MBps", mb / bs, mb / rs, 1);
      snprintf(what, sizeof what, "baton strided vs contiguous %s", h);
      bench_table_row(what, "MB/s", mb / bs, mb / bc, 1);
      bench_result("mpi_stream", "strided_vs_contiguous", 1, 2, stream_bytes[k],
                   "bandwidth_MBps", mb / bs, mb / bc, 1);
    }
  }

  /* Allreduce of one double: bt_mpi_allreduce vs MPI_Allreduce, rounds in
   * turn, the best of each (DESIGN.md: at most 1.5x). */
  if (only & ONLY_ALLREDUCE) {
    int n = quick ? 200 : 20000;
    double raw = 1e30, bt = 1e30;
    for (int round = 0; round < (quick ? 2 : 5); round++) {
      double t = allreduce_time(0, n);
      if (t < raw) raw = t;
      t = allreduce_time(1, n);
      if (t < bt) bt = t;
    }
    if (rank == 0) {
      bench_table_header("Allreduce of one double (sum), 2 ranks");
      bench_table_row("bt_mpi_allreduce vs MPI_Allreduce", "us", bt * 1e6,
                      raw * 1e6, 0);
      bench_result("mpi_allreduce", "f64_sum", 1, 2, 8, "time_us", bt * 1e6,
                   raw * 1e6, 0);
    }
  }

  /* Late wake-up: the median over the delays, reported by rank 1. */
  if (only & ONLY_LATE) {
    int n = quick ? 3 : 10;
    double raw = late_wakeup(NULL, n);
    bt_chan *ch;
    BENCH_OK(
        bt_mpi_chan_create(bridge, other, next_tag++, &bt_type_f64, 4, &ch));
    double bt = late_wakeup(ch, n);
    BENCH_OK(bt_chan_release(ch));
    if (rank == 1) {
      bench_table_header("Late wake-up: message sent 1/5/20 ms into a wait");
      bench_table_row("median lateness", "us", bt * 1e6, raw * 1e6, 0);
      bench_result("mpi_late_wakeup", variant_mode, 1, 2, 8, "lateness_us",
                   bt * 1e6, raw * 1e6, 0);
      fflush(stdout);
    }
  }

  BENCH_OK(bt_mpi_detach(bridge));
  BENCH_OK(bt_runtime_destroy(rt));
  MPI_Finalize();
  return 0;
}
