/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_job.c: jobs and futures, beside two baselines measured in the same
 * run:
 *   - pthread_create + pthread_join per job (a thread per task);
 *   - a thread pool written here: one FIFO under a mutex + condition
 *     variable, the same number of threads as the runtime has workers, each
 *     task with its own completion flag that the submitter waits on under
 *     the pool's mutex and a condition variable (a future, in effect).
 *
 *   (a) latency: schedule one empty job on a 1-worker runtime and wait for
 *       it, one at a time (round trip, ns);
 *   (b) throughput, 1 worker and all workers: submit a batch of empty jobs
 *       (many in flight), then wait for each of them (jobs/s).
 *
 * Options: --trips=N (latency round trips), --jobs=N (per throughput batch),
 * --reps=N (repetitions; the median is reported), --workers=N (0: one per
 * core, the runtime's default), --quick=1 (or BATON_BENCH_QUICK=1: 500
 * trips, 2000 jobs, one repetition).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ---- the job ----------------------------------------------------------- */

static int empty_job(void *arg, void *result, void *ctx) {
  (void)arg;
  (void)result;
  (void)ctx;
  return BT_OK;
}

static void empty_task(void) {}

/* ---- baseline 1: a thread per job -------------------------------------- */

static void *empty_thread(void *arg) {
  (void)arg;
  empty_task();
  return NULL;
}

/* ---- baseline 2: a mutex + condvar pool with per-task completion ------- */

typedef struct pool_task {
  void (*fn)(void);
  int done; /* protected by pool.mu */
  struct pool_task *next;
} pool_task;

typedef struct pool {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  pool_task *head, *tail;
  int stopping, waiters;
  int nthreads;
  pthread_t *threads;
} pool;

static void *pool_main(void *arg) {
  pool *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->head == NULL && !p->stopping) pthread_cond_wait(&p->work, &p->mu);
    if (p->head == NULL) break;
    pool_task *t = p->head;
    p->head = t->next;
    if (p->head == NULL) p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    t->fn();
    pthread_mutex_lock(&p->mu);
    t->done = 1;
    if (p->waiters) pthread_cond_broadcast(&p->done);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static pool *pool_create(int nthreads) {
  pool *p = calloc(1, sizeof *p);
  if (!p) abort();
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  p->nthreads = nthreads;
  p->threads = calloc((size_t)nthreads, sizeof *p->threads);
  if (!p->threads) abort();
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) abort();
  return p;
}

static void pool_destroy(pool *p) {
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  free(p->threads);
  free(p);
}

/* Like bt_schedule: a fresh record per task, freed after the wait. */
static pool_task *pool_submit(pool *p, void (*fn)(void)) {
  pool_task *t = malloc(sizeof *t);
  if (!t) abort();
  t->fn = fn;
  t->done = 0;
  t->next = NULL;
  pthread_mutex_lock(&p->mu);
  if (p->tail)
    p->tail->next = t;
  else
    p->head = t;
  p->tail = t;
  pthread_cond_signal(&p->work);
  pthread_mutex_unlock(&p->mu);
  return t;
}

static void pool_wait(pool *p, pool_task *t) {
  pthread_mutex_lock(&p->mu);
  while (!t->done) {
    p->waiters++;
    pthread_cond_wait(&p->done, &p->mu);
    p->waiters--;
  }
  pthread_mutex_unlock(&p->mu);
  free(t);
}

/* ---- measurements ------------------------------------------------------ */

static const bt_job empty = {sizeof(bt_job), empty_job,  NULL, NULL,
                             NULL,           BT_CHECKED, NULL};

static double baton_latency_ns(bt_runtime *rt, long trips) {
  int64_t t0 = bench_now_ns();
  for (long i = 0; i < trips; i++) {
    bt_future *f;
    BENCH_OK(bt_schedule(rt, 0, &empty, &f));
    BENCH_OK(bt_future_wait(f, -1, NULL));
    BENCH_OK(bt_future_release(f));
  }
  return (double)(bench_now_ns() - t0) / (double)trips;
}

static double pthread_latency_ns(long trips) {
  int64_t t0 = bench_now_ns();
  for (long i = 0; i < trips; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, empty_thread, NULL) != 0) abort();
    pthread_join(t, NULL);
  }
  return (double)(bench_now_ns() - t0) / (double)trips;
}

static double pool_latency_ns(pool *p, long trips) {
  int64_t t0 = bench_now_ns();
  for (long i = 0; i < trips; i++) pool_wait(p, pool_submit(p, empty_task));
  return (double)(bench_now_ns() - t0) / (double)trips;
}

static double baton_throughput(bt_runtime *rt, bt_future **fs, long jobs) {
  int64_t t0 = bench_now_ns();
  for (long i = 0; i < jobs; i++)
    BENCH_OK(bt_schedule(rt, BT_ANY_WORKER, &empty, &fs[i]));
  for (long i = 0; i < jobs; i++) {
    BENCH_OK(bt_future_wait(fs[i], -1, NULL));
    BENCH_OK(bt_future_release(fs[i]));
  }
  return (double)jobs / ((double)(bench_now_ns() - t0) * 1e-9);
}

static double pool_throughput(pool *p, pool_task **ts, long jobs) {
  int64_t t0 = bench_now_ns();
  for (long i = 0; i < jobs; i++) ts[i] = pool_submit(p, empty_task);
  for (long i = 0; i < jobs; i++) pool_wait(p, ts[i]);
  return (double)jobs / ((double)(bench_now_ns() - t0) * 1e-9);
}

/* Threads per job, `width` at a time (the same parallelism as the pool). */
static double pthread_throughput(int width, long jobs) {
  pthread_t th[64];
  if (width > 64) width = 64;
  int64_t t0 = bench_now_ns();
  for (long i = 0; i < jobs; i += width) {
    int n = (int)(jobs - i < width ? jobs - i : width);
    for (int k = 0; k < n; k++)
      if (pthread_create(&th[k], NULL, empty_thread, NULL) != 0) abort();
    for (int k = 0; k < n; k++) pthread_join(th[k], NULL);
  }
  return (double)jobs / ((double)(bench_now_ns() - t0) * 1e-9);
}

static bt_runtime *runtime_of(int workers) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = workers;
  bt_runtime *rt;
  BENCH_OK(bt_runtime_create(&o, &rt));
  return rt;
}

int main(int argc, char **argv) {
  int quick = bench_quick(argc, argv);
  long trips = bench_opt(argc, argv, "trips", quick ? 500 : 20000);
  long jobs = bench_opt(argc, argv, "jobs", quick ? 2000 : 100000);
  int reps = (int)bench_opt(argc, argv, "reps", quick ? 1 : 5);
  int want = (int)bench_opt(argc, argv, "workers", 0);
  if (trips < 1 || jobs < 1 || reps < 1 || reps > 100) {
    fprintf(stderr, "bench_job: bad options\n");
    return 2;
  }

  bt_runtime *one = runtime_of(1);
  bt_runtime *all = runtime_of(want);
  int nall = bt_runtime_workers(all);
  bt_future **fs = malloc((size_t)jobs * sizeof *fs);
  pool_task **ts = malloc((size_t)jobs * sizeof *ts);
  if (!fs || !ts) abort();
  pool *p1 = pool_create(1), *pall = pool_create(nall);

  double lat[100], lat_thread[100], lat_pool[100];
  double tp1[100], tp1_pool[100], tp1_thread[100];
  double tpn[100], tpn_pool[100], tpn_thread[100];
  /* Warm-up: first-touch of allocator arenas and thread start-up. */
  (void)baton_latency_ns(one, trips / 10 + 1);
  (void)pool_latency_ns(p1, trips / 10 + 1);
  for (int r = 0; r < reps; r++) {
    lat[r] = baton_latency_ns(one, trips);
    lat_pool[r] = pool_latency_ns(p1, trips);
    lat_thread[r] = pthread_latency_ns(trips / 4 + 1);
    tp1[r] = baton_throughput(one, fs, jobs);
    tp1_pool[r] = pool_throughput(p1, ts, jobs);
    tp1_thread[r] = pthread_throughput(1, jobs / 20 + 1);
    tpn[r] = baton_throughput(all, fs, jobs);
    tpn_pool[r] = pool_throughput(pall, ts, jobs);
    tpn_thread[r] = pthread_throughput(nall, jobs / 20 + 1);
  }
  double l = bench_median(lat, reps), lp = bench_median(lat_pool, reps),
         lt = bench_median(lat_thread, reps);
  double t1 = bench_median(tp1, reps), t1p = bench_median(tp1_pool, reps),
         t1t = bench_median(tp1_thread, reps);
  double tn = bench_median(tpn, reps), tnp = bench_median(tpn_pool, reps),
         tnt = bench_median(tpn_thread, reps);

  bench_result("job_latency", "vs_pool", 1, 1, 0, "ns_round_trip", l, lp, 0);
  bench_result("job_latency", "vs_pthread", 1, 1, 0, "ns_round_trip", l, lt, 0);
  bench_result("job_throughput", "vs_pool", 1, 1, jobs, "jobs_per_s", t1, t1p,
               1);
  bench_result("job_throughput", "vs_pthread", 1, 1, jobs, "jobs_per_s", t1,
               t1t, 1);
  bench_result("job_throughput", "vs_pool", nall, 1, jobs, "jobs_per_s", tn,
               tnp, 1);
  bench_result("job_throughput", "vs_pthread", nall, 1, jobs, "jobs_per_s", tn,
               tnt, 1);

  bench_table_header("jobs: baton vs mutex+condvar pool (same threads)");
  bench_table_row("empty job round trip, 1 worker", "us", l * 1e-3, lp * 1e-3,
                  0);
  bench_table_row("throughput, 1 worker", "Mjobs/s", t1 * 1e-6, t1p * 1e-6, 1);
  char what[64];
  snprintf(what, sizeof what, "throughput, %d workers", nall);
  bench_table_row(what, "Mjobs/s", tn * 1e-6, tnp * 1e-6, 1);
  bench_table_header("jobs: baton vs pthread_create + join per job");
  bench_table_row("empty job round trip, 1 worker", "us", l * 1e-3, lt * 1e-3,
                  0);
  bench_table_row("throughput, 1 worker", "Mjobs/s", t1 * 1e-6, t1t * 1e-6, 1);
  bench_table_row(what, "Mjobs/s", tn * 1e-6, tnt * 1e-6, 1);

  pool_destroy(p1);
  pool_destroy(pall);
  free(fs);
  free(ts);
  BENCH_OK(bt_runtime_destroy(one));
  BENCH_OK(bt_runtime_destroy(all));
  return 0;
}
