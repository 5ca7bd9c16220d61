/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_chan.c: channel latency and throughput, beside a plain pthread
 * mutex + condition variable bounded queue measured in the same run.
 *
 *   (a) ping-pong: two threads pinned to two CPUs bounce one value over a
 *       pair of channels (capacity 1); one-way latency = time / (2 * trips);
 *       then over capacity-0 channels against Go's unbuffered channels
 *       (chan_pingpong.go, run when the build found `go`); each also as
 *       the 10th percentile of 32-trip batches (the exchange itself when
 *       the scheduler lets both threads run: see PP_BATCH); and against
 *       the floor of any two-thread exchange on these two CPUs: the same
 *       ping-pong through two spinning atomic words, no library

 *   (b) SPSC: one producer, one consumer, capacity 1024, messages/s
 *   (c) MPMC: 4 producers, 4 consumers, capacity 1024, messages/s
 *
 * Options: --trips=N (ping-pong round trips), --msgs=N (per throughput
 * run), --reps=N (repetitions; the median is reported), --quick=1 (or
 * BATON_BENCH_QUICK=1: 2000 trips, 20000 messages, one repetition).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

/* ---- the baseline: a bounded queue under one mutex and two condvars ---- */

typedef struct mq {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  int64_t *buf;
  size_t cap, head, count;
} mq;

static mq *mq_create(size_t cap) {
  mq *q = calloc(1, sizeof *q);
  if (!q) abort();
  q->buf = malloc(cap * sizeof *q->buf);
  if (!q->buf) abort();
  q->cap = cap;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->not_empty, NULL);
  pthread_cond_init(&q->not_full, NULL);
  return q;
}

static void mq_destroy(mq *q) {
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->not_empty);
  pthread_cond_destroy(&q->not_full);
  free(q->buf);
  free(q);
}

/* Waits on cv with a 50 ms safety net: glibc 2.36's condition variable
 * can lose a wake-up (glibc bug 25847; seen here once, a 200 000-trip
 * ping-pong hung with an element in the queue and its receiver asleep).
 * Normal wake-ups come long before the net, so the baseline's cost is
 * unchanged. */
static void mq_wait(pthread_cond_t *cv, pthread_mutex_t *mu) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += 50 * 1000 * 1000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  (void)pthread_cond_timedwait(cv, mu, &ts);
}

static void mq_send(mq *q, int64_t v) {
  pthread_mutex_lock(&q->mu);
  while (q->count == q->cap) mq_wait(&q->not_full, &q->mu);
  q->buf[(q->head + q->count) % q->cap] = v;
  q->count++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
}

static int64_t mq_recv(mq *q) {
  pthread_mutex_lock(&q->mu);
  while (q->count == 0) mq_wait(&q->not_empty, &q->mu);
  int64_t v = q->buf[q->head];
  q->head = (q->head + 1) % q->cap;
  q->count--;
  pthread_cond_signal(&q->not_full);
  pthread_mutex_unlock(&q->mu);
  return v;
}

/* ---- one queue interface over both implementations ---- */

typedef struct queue {
  int baton;
  bt_chan *ch;
  mq *q;
} queue;

static queue queue_create(int baton, size_t cap) {
  queue q = {.baton = baton};
  if (baton)
    BENCH_OK(bt_chan_create(&bt_type_i64, cap, &q.ch));
  else
    q.q = mq_create(cap);
  return q;
}

static void queue_destroy(queue *q) {
  if (q->baton)
    BENCH_OK(bt_chan_release(q->ch));
  else
    mq_destroy(q->q);
}

static inline void queue_send(queue *q, int64_t v) {
  if (q->baton)
    BENCH_OK(bt_send(q->ch, &v));
  else
    mq_send(q->q, v);
}

static inline int64_t queue_recv(queue *q) {
  if (!q->baton) return mq_recv(q->q);
  int64_t v;
  BENCH_OK(bt_recv(q->ch, &v));
  return v;
}

static void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % CPU_SETSIZE, &set);
  /* Best effort: a cpuset without that CPU runs unpinned. */
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The process's CPUs, read once before any thread pins itself (a pinned
 * thread's own affinity would hide the others). */
static cpu_set_t process_cpus;

static void read_cpus(void) {
  if (sched_getaffinity(0, sizeof process_cpus, &process_cpus) != 0) {
    CPU_ZERO(&process_cpus);
    CPU_SET(0, &process_cpus);
  }
}

static int ncpus(void) {
  return CPU_COUNT(&process_cpus);
}

static int nth_cpu(int n) {
  int seen = 0;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &process_cpus) && seen++ == n) return c;
  return 0;
}

/* ---- (a) ping-pong ---- */

typedef struct pingpong {
  queue ab, ba;
  long trips;
  int cpu;
} pingpong;

static void *pong(void *p) {
  pingpong *pp = p;
  pin_self(pp->cpu);
  for (long i = 0; i < pp->trips; i++) queue_send(&pp->ba, queue_recv(&pp->ab));
  return NULL;
}

/* The ping-pong's channel capacity: 1, or 0 (rendezvous; baton only). */
static size_t pingpong_cap = 1;

/* The ping-pong's timed trips go in batches of PP_BATCH round trips, each
 * timed on its own: on a loaded machine most of a run's time is the
 * scheduler running other processes between the two threads' turns, and
 * the fast batches (10th percentile) show the exchange itself, the cost
 * when both threads hold their CPUs. Go's program does the same. */
enum { PP_BATCH = 32, PP_BATCHES_MAX = 1 << 16 };
static double pp_batch[PP_BATCHES_MAX];
static double last_p10; /* of the last run_pingpong(), ns one way */

/* The timing of a ping-pong's timed trips: the whole run, and each batch
 * of PP_BATCH round trips into pp_batch. */
typedef struct pp_clock {
  int64_t t0, tb;
  int nb;
} pp_clock;

static void pp_clock_start(pp_clock *c) {
  c->t0 = c->tb = bench_now_ns();
  c->nb = 0;
}

/* After `done` timed round trips. */
static void pp_clock_trip(pp_clock *c, long done) {
  if (done % PP_BATCH != 0 || c->nb >= PP_BATCHES_MAX) return;
  int64_t now = bench_now_ns();
  pp_batch[c->nb++] = (double)(now - c->tb) / (2.0 * PP_BATCH);
  c->tb = now;
}

/* One-way ns over the `trips` timed round trips; sets last_p10. */
static double pp_clock_stop(pp_clock *c, long trips) {
  int64_t t1 = bench_now_ns();
  if (c->nb > 0) {
    bench_median(pp_batch, c->nb); /* sorts */
    last_p10 = pp_batch[c->nb / 10];
  } else {
    last_p10 = 0;
  }
  return (double)(t1 - c->t0) / (2.0 * (double)trips);
}

/* One-way latency in ns (the whole timed run). */
static double run_pingpong(int baton, long trips) {
  pingpong pp = {queue_create(baton, pingpong_cap),
                 queue_create(baton, pingpong_cap), trips, nth_cpu(1)};
  pthread_t t;
  pin_self(nth_cpu(0));
  if (pthread_create(&t, NULL, pong, &pp) != 0) abort();
  /* Warm up both threads before the clock starts. */
  long warm = trips / 10;
  for (long i = 0; i < warm; i++) {
    queue_send(&pp.ab, i);
    (void)queue_recv(&pp.ba);
  }
  pp_clock c;
  pp_clock_start(&c);
  for (long i = warm; i < trips; i++) {
    queue_send(&pp.ab, i);
    if (queue_recv(&pp.ba) != i) abort();
    pp_clock_trip(&c, i - warm + 1);
  }
  double ns = pp_clock_stop(&c, trips - warm);
  pthread_join(t, NULL);
  queue_destroy(&pp.ab);
  queue_destroy(&pp.ba);
  return ns;
}

/* ---- the floor of a two-thread exchange ---- */

/* Two threads pinned to the ping-pong's CPUs bounce a counter through two
 * atomic words on their own cache lines, spinning, no library: the least a
 * hand-over between these CPUs costs (a store and a load that cross
 * cores), so no channel between two threads can beat it. Go's unbuffered
 * ping-pong is not bound by it: its two goroutines hand over on one OS
 * thread, with no cross-core traffic. */
typedef struct floor_pp {
  _Alignas(64) _Atomic long ab;
  _Alignas(64) _Atomic long ba;
  long trips;
  int cpu;
} floor_pp;

static void floor_await(_Atomic long *w, long v) {
  /* acquire: pairs with the partner's release store of v. */
  for (int i = 1; atomic_load_explicit(w, memory_order_acquire) != v; i++) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 1024 == 0) sched_yield(); /* one CPU: let the partner run */
  }
}

static void *floor_pong(void *p) {
  floor_pp *f = p;
  pin_self(f->cpu);
  for (long i = 1; i <= f->trips; i++) {
    floor_await(&f->ab, i);
    /* release: pairs with the acquire load in floor_await(). */
    atomic_store_explicit(&f->ba, i, memory_order_release);
  }
  return NULL;
}

/* One-way ns of the whole timed run; last_p10 as run_pingpong() sets it. */
static double run_floor(long trips) {
  static floor_pp f;
  atomic_store(&f.ab, 0);
  atomic_store(&f.ba, 0);
  f.trips = trips;
  f.cpu = nth_cpu(1);
  pthread_t t;
  pin_self(nth_cpu(0));
  if (pthread_create(&t, NULL, floor_pong, &f) != 0) abort();
  long warm = trips / 10;
  pp_clock c = {0, 0, 0};
  for (long i = 1; i <= trips; i++) {
    if (i == warm + 1) pp_clock_start(&c);
    /* release: pairs with the acquire load in floor_await(). */
    atomic_store_explicit(&f.ab, i, memory_order_release);
    floor_await(&f.ba, i);
    if (i > warm) pp_clock_trip(&c, i - warm);
  }
  double ns = pp_clock_stop(&c, trips - warm);
  pthread_join(t, NULL);
  return ns;
}

/* ---- (b), (c) throughput ---- */

typedef struct flow {
  queue q;
  long per_thread;
  int cpu;
  int64_t sum;
  pthread_barrier_t *start;
} flow;

static void *producer(void *p) {
  flow *f = p;
  if (f->cpu >= 0) pin_self(f->cpu);
  pthread_barrier_wait(f->start);
  for (long i = 0; i < f->per_thread; i++) queue_send(&f->q, i);
  return NULL;
}

static void *consumer(void *p) {
  flow *f = p;
  if (f->cpu >= 0) pin_self(f->cpu);
  pthread_barrier_wait(f->start);
  int64_t s = 0;
  for (long i = 0; i < f->per_thread; i++) s += queue_recv(&f->q);
  f->sum = s;
  return NULL;
}

/* Messages per second through one queue of capacity cap, np producers and
 * nc consumers (np == nc), pinned round-robin over the CPUs. */
static double run_flow(int baton, int np, long msgs, size_t cap) {
  queue q = queue_create(baton, cap);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)(2 * np + 1));
  flow f[16];
  pthread_t t[16];
  int n = ncpus();
  for (int i = 0; i < 2 * np; i++) {
    f[i] = (flow){q, msgs / np, n > 1 ? nth_cpu(i % n) : -1, 0, &start};
    if (pthread_create(&t[i], NULL, i % 2 ? consumer : producer, &f[i]) != 0)
      abort();
  }
  pthread_barrier_wait(&start);
  int64_t t0 = bench_now_ns();
  int64_t sum = 0;
  for (int i = 0; i < 2 * np; i++) {
    pthread_join(t[i], NULL);
    sum += f[i].sum;
  }
  int64_t t1 = bench_now_ns();
  long per = msgs / np;
  if (sum != (int64_t)np * per * (per - 1) / 2) {
    fprintf(stderr, "bench_chan: checksum mismatch\n");
    exit(1);
  }
  pthread_barrier_destroy(&start);
  queue_destroy(&q);
  return (double)(per * np) / ((double)(t1 - t0) * 1e-9);
}

/* The median of reps runs; *best gets the best of them (the lowest
 * latency), which on a shared machine approaches the unloaded figure. */
static double median_of(int reps, double (*fn)(int, long), int baton, long n,
                        double *best) {
  double v[32];
  if (reps > 32) reps = 32;
  if (reps < 1) reps = 1;
  for (int r = 0; r < reps; r++) v[r] = fn(baton, n);
  double m = bench_median(v, reps); /* sorts v */
  if (best) *best = v[0];
  return m;
}

static int flow_np;
static size_t flow_cap;
static double flow_fn(int baton, long msgs) {
  return run_flow(baton, flow_np, msgs, flow_cap);
}

int main(int argc, char **argv) {
  int quick = bench_quick(argc, argv);
  long trips = bench_opt(argc, argv, "trips", quick ? 2000 : 200000);
  long msgs = bench_opt(argc, argv, "msgs", quick ? 20000 : 4000000);
  int reps = (int)bench_opt(argc, argv, "reps", quick ? 1 : 5);
  read_cpus();
  int cpus = ncpus();
  printf(
      "bench_chan: %d CPUs, %ld ping-pong trips, %ld messages per "
      "throughput run, median of %d\n",
      cpus, trips, msgs, reps);

  double lat_best, lat_base_best;
  double lat = median_of(reps, run_pingpong, 1, trips, &lat_best);
  double lat_base = median_of(reps, run_pingpong, 0, trips, &lat_base_best);
  bench_result("chan_pingpong", "cap1", 2, 1, 8, "ns_one_way", lat, lat_base,
               0);
  bench_result("chan_pingpong", "cap1_best", 2, 1, 8, "ns_one_way", lat_best,
               lat_base_best, 0);

  /* Capacity 0 against Go's unbuffered channel (benchmarks/
   * chan_pingpong.go, built when go is installed), same trips, same run. */
  pingpong_cap = 0;
  long trips0 = trips / 2 > 10 ? trips / 2 : 10; /* half: the run's length */
  double lat0_best, p10s[32], p10_0;
  int reps0 = reps < 1 ? 1 : reps > 32 ? 32 : reps;
  double lat0_runs[32];
  for (int r = 0; r < reps0; r++) {
    lat0_runs[r] = run_pingpong(1, trips0);
    p10s[r] = last_p10;
  }
  double lat0 = bench_median(lat0_runs, reps0);
  lat0_best = lat0_runs[0];
  p10_0 = bench_median(p10s, reps0);
  pingpong_cap = 1;
  double fl_runs[32], fl_p10s[32];
  for (int r = 0; r < reps0; r++) {
    fl_runs[r] = run_floor(trips0);
    fl_p10s[r] = last_p10;
  }
  double fl = bench_median(fl_runs, reps0), fl_p10 = bench_median(fl_p10s, reps0);
  bench_result("chan_pingpong", "cap0_vs_floor", 2, 1, 8, "ns_one_way", lat0,
               fl, 0);
  bench_result("chan_pingpong", "cap0_vs_floor_p10_batch", 2, 1, 8,
               "ns_one_way", p10_0, fl_p10, 0);
  double go_lat = 0, go_best = 0, go_p10 = 0;
#ifdef BATON_GO_PINGPONG
  {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %ld %d", BATON_GO_PINGPONG, trips0, reps);
    FILE *p = popen(cmd, "r");
    if (p) {
      if (fscanf(p, "go_unbuffered_ns %lf %lf %lf", &go_lat, &go_best,
                 &go_p10) != 3)
        go_lat = go_best = go_p10 = 0;
      pclose(p);
    }
  }
#endif
  if (go_lat > 0) {
    bench_result("chan_pingpong", "cap0_vs_go", 2, 1, 8, "ns_one_way", lat0,
                 go_lat, 0);
    bench_result("chan_pingpong", "cap0_vs_go_best", 2, 1, 8, "ns_one_way",
                 lat0_best, go_best, 0);
    bench_result("chan_pingpong", "cap0_vs_go_p10_batch", 2, 1, 8, "ns_one_way",
                 p10_0, go_p10, 0);
  } else {
    printf(
        "capacity 0 ping-pong: %.1f ns one way (best %.1f, fast batches "
        "%.1f); no Go baseline in this build\n",
        lat0, lat0_best, p10_0);
  }

  flow_np = 1;
  flow_cap = 1024;
  double spsc = median_of(reps, flow_fn, 1, msgs, NULL);
  double spsc_base = median_of(reps, flow_fn, 0, msgs, NULL);
  bench_result("chan_spsc", "cap1024", 2, 1, 8, "msgs_per_s", spsc, spsc_base,
               1);

  flow_np = 4;
  double mpmc = median_of(reps, flow_fn, 1, msgs, NULL);
  double mpmc_base = median_of(reps, flow_fn, 0, msgs, NULL);
  bench_result("chan_mpmc", "4x4_cap1024", 8, 1, 8, "msgs_per_s", mpmc,
               mpmc_base, 1);

  bench_table_header(
      "channels vs pthread mutex+condvar bounded queue (baseline)");
  bench_table_row("ping-pong one-way latency (cap 1)", "ns", lat, lat_base, 0);
  bench_table_row("  best of the runs", "ns", lat_best, lat_base_best, 0);
  if (go_lat > 0) {
    bench_table_row("ping-pong cap 0 vs Go unbuffered", "ns", lat0, go_lat, 0);
    bench_table_row("  best of the runs", "ns", lat0_best, go_best, 0);
    bench_table_row("  fast batches (10th pct)", "ns", p10_0, go_p10, 0);
  }
  bench_table_row("ping-pong cap 0 vs spinning atomics", "ns", lat0, fl, 0);
  bench_table_row("  fast batches (10th pct)", "ns", p10_0, fl_p10, 0);
  bench_table_row("SPSC throughput (cap 1024)", "Mmsg/s", spsc * 1e-6,
                  spsc_base * 1e-6, 1);
  bench_table_row("MPMC 4x4 throughput (cap 1024)", "Mmsg/s", mpmc * 1e-6,
                  mpmc_base * 1e-6, 1);
  return 0;
}
