/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_slice.c: what moving an owned slice costs.
 *
 * 1. One-way handoff of an owned slice between two pinned threads through a
 *    bt_chan of capacity 1 (ping-pong, half the round trip; the receiver
 *    takes a view, the O(1) capability check), for sizes 8 B .. --max
 *    bytes, beside memcpy of the same size: the copy that a message-passing
 *    design without ownership would make. The handoff should not depend on
 *    the size.
 * 2. own + release of a region while 64 other slices live in the array's
 *    lock table, beside a pthread_mutex lock + unlock.
 *
 * The same slice over MPI (MPI_Send/Recv of the data) is measured by the MPI
 * bridge's benchmark.
 *
 * Options: --max=BYTES (default 256 MiB), --quick=1 (up to 8 MiB, fewer
 * repetitions), --reps=N (handoffs per size, default 20000).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

typedef struct pingpong {
  bt_chan *to_peer, *back;
  long reps;
  int cpu;
  int slices; /* 1: bt_slice elements (viewed); 0: plain pointers */
} pingpong;

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* Receives the element, looks at it, sends it back; reps times. */
static void *peer(void *p) {
  pingpong *pp = p;
  pin(pp->cpu);
  for (long i = 0; i < pp->reps; i++) {
    if (pp->slices) {
      bt_slice s;
      bt_view v;
      BENCH_OK(bt_recv(pp->to_peer, &s));
      BENCH_OK(bt_slice_view(s, &v));
      BENCH_OK(bt_send(pp->back, &s));
    } else {
      void *ptr;
      BENCH_OK(bt_recv(pp->to_peer, &ptr));
      BENCH_OK(bt_send(pp->back, &ptr));
    }
  }
  return NULL;
}

/* Median one-way time in ns of reps ping-pongs of *elem through two
 * channels of capacity 1 of type t. */
static double pingpong_ns(const bt_type *t, void *elem, long reps, int cpu_b) {
  enum { ROUNDS = 5 };
  double per[ROUNDS];
  for (int round = 0; round < ROUNDS; round++) {
    pingpong pp = {NULL, NULL, reps, cpu_b, t == &bt_type_slice};
    BENCH_OK(bt_chan_create(t, 1, &pp.to_peer));
    BENCH_OK(bt_chan_create(t, 1, &pp.back));
    pthread_t th;
    if (pthread_create(&th, NULL, peer, &pp) != 0) abort();
    /* One warm-up exchange, then the timed ones. */
    BENCH_OK(bt_send(pp.to_peer, elem));
    BENCH_OK(bt_recv(pp.back, elem));
    int64_t t0 = bench_now_ns();
    for (long i = 1; i < reps; i++) {
      BENCH_OK(bt_send(pp.to_peer, elem));
      BENCH_OK(bt_recv(pp.back, elem));
    }
    int64_t t1 = bench_now_ns();
    pthread_join(th, NULL);
    per[round] = (double)(t1 - t0) / (double)(reps - 1) / 2.0;
    BENCH_OK(bt_chan_release(pp.to_peer));
    BENCH_OK(bt_chan_release(pp.back));
  }
  return bench_median(per, ROUNDS);
}

/* Median one-way handoff time in ns of an owned slice of `bytes` bytes. */
static double handoff_ns(size_t bytes, long reps, int cpu_b) {
  int64_t shape[1] = {(int64_t)bytes};
  bt_array *a;
  BENCH_OK(bt_array_create(NULL, BT_U8, 1, shape, BT_PLACE_LOCAL, &a));
  bt_slice s;
  BENCH_OK(bt_array_own(a, NULL, 0, &s));
  double ns = pingpong_ns(&bt_type_slice, &s, reps, cpu_b);
  bt_view v;
  BENCH_OK(bt_slice_view(s, &v)); /* still ours, zero-copy all along */
  BENCH_OK(bt_slice_release(s));
  BENCH_OK(bt_array_release(a));
  return ns;
}

/* Median time in ns of one memcpy of `bytes` bytes. */
static double memcpy_ns(size_t bytes, int quick) {
  char *src = malloc(bytes), *dst = malloc(bytes);
  if (!src || !dst) {
    fprintf(stderr, "bench_slice: cannot allocate 2 x %zu bytes\n", bytes);
    exit(1);
  }
  memset(src, 1, bytes);
  memset(dst, 2, bytes);
  /* Enough copies to last about 20 ms per round (5 ms quick). */
  double budget = quick ? 5e6 : 2e7;
  int64_t t0 = bench_now_ns();
  memcpy(dst, src, bytes);
  double one = (double)(bench_now_ns() - t0);
  long copies = one > 0 ? (long)(budget / one) : 1000000;
  if (copies < 1) copies = 1;
  if (copies > 1000000) copies = 1000000;
  enum { ROUNDS = 5 };
  double per[ROUNDS];
  for (int round = 0; round < ROUNDS; round++) {
    t0 = bench_now_ns();
    for (long i = 0; i < copies; i++) {
      memcpy(dst, src, bytes);
      /* Keep the compiler from dropping or merging the copies. */
      __asm__ __volatile__("" : : "r"(dst) : "memory");
    }
    per[round] = (double)(bench_now_ns() - t0) / (double)copies;
  }
  free(src);
  free(dst);
  return bench_median(per, ROUNDS);
}

/* own + release of one region with `live` other slices in the table. */
static double own_release_ns(int live, long reps) {
  int64_t shape[2] = {live + 1, 64};
  bt_array *a;
  BENCH_OK(bt_array_create(NULL, BT_F64, 2, shape, BT_PLACE_LOCAL, &a));
  bt_slice *held = malloc(sizeof *held * (size_t)(live + 1));
  for (int i = 0; i < live; i++) {
    bt_range r[2] = {{i, i + 1}, {0, 64}};
    BENCH_OK(bt_array_own(a, r, 0, &held[i]));
  }
  /* The last row: after every live box in the scan, the worst case. */
  bt_range mine[2] = {{live, live + 1}, {0, 64}};
  enum { ROUNDS = 5 };
  double per[ROUNDS];
  for (int round = 0; round < ROUNDS; round++) {
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < reps; i++) {
      bt_slice s;
      BENCH_OK(bt_array_own(a, mine, 0, &s));
      BENCH_OK(bt_slice_release(s));
    }
    per[round] = (double)(bench_now_ns() - t0) / (double)reps;
  }
  for (int i = 0; i < live; i++) BENCH_OK(bt_slice_release(held[i]));
  free(held);
  BENCH_OK(bt_array_release(a));
  return bench_median(per, ROUNDS);
}

static double mutex_ns(long reps) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  enum { ROUNDS = 5 };
  double per[ROUNDS];
  for (int round = 0; round < ROUNDS; round++) {
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < reps; i++) {
      pthread_mutex_lock(&m);
      __asm__ __volatile__("" : : : "memory");
      pthread_mutex_unlock(&m);
    }
    per[round] = (double)(bench_now_ns() - t0) / (double)reps;
  }
  return bench_median(per, ROUNDS);
}

int main(int argc, char **argv) {
  int quick = bench_quick(argc, argv);
  long max = bench_opt(argc, argv, "max", quick ? 8L << 20 : 256L << 20);
  long reps = bench_opt(argc, argv, "reps", quick ? 2000 : 20000);
  if (reps < 2) reps = 2;

  cpu_set_t allowed;
  int cpus[2] = {0, 0}, n = 0;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
      if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
  if (n < 2) cpus[1] = cpus[0];
  pin(cpus[0]);

  printf(
      "bench_slice: handoff between CPUs %d and %d, sizes up to %ld "
      "bytes, %ld handoffs per round\n",
      cpus[0], cpus[1], max, reps);
  bench_table_header("slice handoff through bt_chan (cap 1) vs memcpy");
  for (long bytes = 8; bytes <= max;) {
    double h = handoff_ns((size_t)bytes, reps, cpus[1]);
    double c = memcpy_ns((size_t)bytes, quick);
    bench_result("slice", "handoff", 2, 1, bytes, "ns", h, c, 0);
    char what[64];
    snprintf(what, sizeof what, "handoff %ld B (memcpy)", bytes);
    bench_table_row(what, "ns", h, c, 0);
    /* 8, 64, 512, ... with 8 MiB always in the list. */
    long next = bytes * 8;
    if (bytes < (8L << 20) && next > (8L << 20))
      next = 8L << 20;
    else if (bytes == (8L << 20))
      next = 64L << 20;
    if (next > max && bytes < max) next = max;
    bytes = next;
  }

  /* What the slice adds to the channel: the same ping-pong with a plain
   * pointer (no holder check, no view). */
  bench_table_header("slice handoff vs a plain pointer, same channels");
  {
    double h = handoff_ns(4096, reps, cpus[1]);
    char dummy;
    void *ptr = &dummy;
    double p = pingpong_ns(&bt_type_ptr, &ptr, reps, cpus[1]);
    bench_result("slice", "handoff_vs_ptr", 2, 1, 4096, "ns", h, p, 0);
    bench_table_row("slice 4096 B (bt_type_ptr)", "ns", h, p, 0);
  }

  /* The slice's own part of a handoff, without the channel's wake-up:
   * on_send (holder check, mark in flight) + on_recv + view, one thread,
   * beside memcpy of 8 MiB. */
  bench_table_header("slice transfer hooks + view, no channel (memcpy 8 MiB)");
  {
    int64_t shape[1] = {8L << 20};
    bt_array *a;
    BENCH_OK(bt_array_create(NULL, BT_U8, 1, shape, BT_PLACE_LOCAL, &a));
    bt_slice s;
    BENCH_OK(bt_array_own(a, NULL, 0, &s));
    long hreps = quick ? 200000 : 2000000;
    enum { ROUNDS = 5 };
    double per[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
      int64_t t0 = bench_now_ns();
      for (long i = 0; i < hreps; i++) {
        bt_view v;
        BENCH_OK(bt_type_slice.on_send(&s, BT_CHECKED));
        bt_type_slice.on_recv(&s);
        BENCH_OK(bt_slice_view(s, &v));
        __asm__ __volatile__("" : : "r"(v.data) : "memory");
      }
      per[round] = (double)(bench_now_ns() - t0) / (double)hreps;
    }
    double h = bench_median(per, ROUNDS);
    double c = memcpy_ns(8L << 20, quick);
    bench_result("slice", "transfer_hooks", 1, 1, 8L << 20, "ns", h, c, 0);
    bench_table_row("send+recv hooks+view 8 MiB (memcpy)", "ns", h, c, 0);
    BENCH_OK(bt_slice_release(s));
    BENCH_OK(bt_array_release(a));
  }

  bench_table_header("own + release, 64 live slices (pthread_mutex)");
  long lreps = quick ? 200000 : 2000000;
  double m = mutex_ns(lreps);
  const int lives[3] = {0, 8, 64};
  for (int i = 0; i < 3; i++) {
    double o = own_release_ns(lives[i], lreps);
    char variant[32], what[64];
    snprintf(variant, sizeof variant, "own_release_live%d", lives[i]);
    snprintf(what, sizeof what, "own+release, %d live (mutex)", lives[i]);
    bench_result("slice", variant, 1, 1, lives[i], "ns", o, m, 0);
    bench_table_row(what, "ns", o, m, 0);
  }
  return 0;
}
