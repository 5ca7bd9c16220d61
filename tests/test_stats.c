/* SPDX-License-Identifier: BSD-3-Clause */
/* test_stats.c: diagnostics (baton/stats.h): counters, the report, held
 * slices at destroy, the affinity display, the environment's validation,
 * the watchdog, the trace, and BT_EDEADLK for a wait on oneself. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"

/* ---- capturing stderr ---------------------------------------------------- */

static int saved_stderr = -1;
static char capture_path[] = "/tmp/baton-test-stderr-XXXXXX";

static void capture_begin(void) {
  fflush(stderr);
  strcpy(capture_path, "/tmp/baton-test-stderr-XXXXXX");
  int fd = mkstemp(capture_path);
  BT_CHECK(fd >= 0);
  saved_stderr = dup(2);
  BT_CHECK(saved_stderr >= 0);
  BT_CHECK(dup2(fd, 2) == 2);
  close(fd);
}

/* What was written to stderr since capture_begin(); the caller frees. */
static char *captured(void) {
  fflush(stderr);
  int fd = open(capture_path, O_RDONLY);
  BT_CHECK(fd >= 0);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  BT_CHECK(buf != NULL);
  for (;;) {
    if (n + 1 == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      BT_CHECK(buf != NULL);
    }
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  close(fd);
  return buf;
}

static int captured_has(const char *needle) {
  char *s = captured();
  int has = strstr(s, needle) != NULL;
  free(s);
  return has;
}

/* Stop capturing; returns what was captured (the caller frees) and echoes
 * it to the real stderr, for the test log. */
static char *capture_end(void) {
  char *s = captured();
  fflush(stderr);
  BT_CHECK(dup2(saved_stderr, 2) == 2);
  close(saved_stderr);
  saved_stderr = -1;
  unlink(capture_path);
  fputs(s, stderr);
  return s;
}

/* Wait until stderr shows needle (the watchdog spoke), at most a minute. */
static void await_captured(const char *needle) {
  for (int i = 0; i < 6000 && !captured_has(needle); i++) bt_test_nap_ms(10);
  BT_CHECK(captured_has(needle));
}

static bt_runtime *runtime(int workers) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = workers;
  o.bind = BT_BIND_NONE;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  return rt;
}

static bt_array *array2d(bt_runtime *rt, int64_t rows, int64_t cols) {
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, (int64_t[]){rows, cols},
                              BT_PLACE_LOCAL, &a));
  return a;
}

/* ---- BT_EDEADLK ------------------------------------------------------------
 */

BT_TEST(edeadlk_own_twice) {
  bt_array *a = array2d(NULL, 8, 6);
  bt_slice s, t;
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{0, 4}, {0, 6}}, 0, &s));
  BT_CHECK_STATUS(bt_array_own(a, NULL, -1, &t), BT_EDEADLK);
  BT_CHECK(strstr(bt_errmsg(), "[0:8,0:6]") != NULL);
  BT_CHECK(strstr(bt_errmsg(), "[0:4,0:6]") != NULL);
  BT_CHECK(strstr(bt_errmsg(), "calling thread") != NULL);
  /* A borrow conflicts with an own too. */
  BT_CHECK_STATUS(bt_array_borrow(a, (bt_range[]){{3, 5}, {0, 6}}, -1, &t),
                  BT_EDEADLK);
  /* A region that does not overlap is granted as ever. */
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{4, 8}, {0, 6}}, -1, &t));
  BT_CHECK_OK(bt_slice_release(t));
  /* A bounded wait keeps its meaning: it times out, and says who holds. */
  BT_CHECK_STATUS(bt_array_own(a, NULL, 1000000, &t), BT_ETIMEDOUT);
  BT_CHECK(strstr(bt_errmsg(), "calling thread") != NULL);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_own(a, NULL, -1, &t));
  BT_CHECK_OK(bt_slice_release(t));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(edeadlk_borrow_then_own) {
  bt_array *a = array2d(NULL, 4, 4);
  bt_slice b1, b2, t;
  BT_CHECK_OK(bt_array_borrow(a, NULL, -1, &b1));
  BT_CHECK_OK(bt_array_borrow(a, NULL, -1, &b2)); /* borrows share */
  BT_CHECK_STATUS(bt_array_own(a, NULL, -1, &t), BT_EDEADLK);
  BT_CHECK(strstr(bt_errmsg(), "borrowed") != NULL);
  BT_CHECK_OK(bt_slice_release(b1));
  BT_CHECK_OK(bt_slice_release(b2));
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(edeadlk_after_split) {
  bt_array *a = array2d(NULL, 8, 2);
  bt_slice s, parts[4], t;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_split(s, 0, 4, parts));
  BT_CHECK_STATUS(bt_array_own(a, NULL, -1, &t), BT_EDEADLK);
  BT_CHECK(strstr(bt_errmsg(), "all 4 slices") != NULL);
  for (int i = 0; i < 4; i++) BT_CHECK_OK(bt_slice_release(parts[i]));
  BT_CHECK_OK(bt_array_release(a));
}

typedef struct holder_arg {
  bt_chan *ch;
  _Atomic int took;
} holder_arg;

static void *take_and_release_later(void *p) {
  holder_arg *h = p;
  bt_slice s;
  BT_CHECK_OK(bt_recv(h->ch, &s));
  atomic_store(&h->took, 1);
  bt_test_nap_ms(50);
  BT_CHECK_OK(bt_slice_release(s));
  return NULL;
}

/* A part with another thread is not a deadlock: the join waits for it. */
BT_TEST(no_edeadlk_when_a_part_is_away) {
  bt_array *a = array2d(NULL, 8, 2);
  bt_chan *ch;
  BT_CHECK_OK(bt_chan_create(&bt_type_slice, 1, &ch));
  bt_slice s, parts[2], t;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_split(s, 0, 2, parts));
  BT_CHECK_OK(bt_send(ch, &parts[1])); /* in flight: not ours */
  BT_CHECK_OK(bt_slice_release(parts[0]));
  holder_arg h = {ch, 0};
  pthread_t th;
  bt_test_spawn(&th, take_and_release_later, &h);
  BT_CHECK_OK(bt_array_own(a, NULL, -1, &t)); /* waits for the part */
  bt_test_join(th);
  BT_CHECK_OK(bt_slice_release(t));

  /* Sent away and back: ours again, so a deadlock again. */
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_send(ch, &s));
  BT_CHECK_OK(bt_recv(ch, &s));
  BT_CHECK_STATUS(bt_array_own(a, NULL, -1, &t), BT_EDEADLK);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_array_release(a));
}

/* ---- counters
 * ---------------------------------------------------------------- */

typedef struct fill_ctx {
  bt_runtime *rt;
  bt_array *a;
} fill_ctx;

static int job_fill(void *arg, void *result, void *ctx) {
  (void)arg, (void)result;
  fill_ctx *fc = ctx;
  return bt_fill(fc->rt, fc->a, 1.0);
}

static int job_noop(void *arg, void *result, void *ctx) {
  (void)arg;
  (void)result;
  (void)ctx;
  return BT_OK;
}

/* Holds worker 0 until opened, so it cannot steal. */
typedef struct gate {
  _Atomic int started, open;
} gate;

static int job_gate(void *arg, void *result, void *ctx) {
  (void)arg, (void)result;
  gate *g = ctx;
  atomic_store(&g->started, 1);
  while (!atomic_load(&g->open)) bt_test_nap_ms(1);
  return BT_OK;
}

enum { SPAWNED = 8 };
typedef struct spawner {
  bt_runtime *rt;
  bt_future *f[SPAWNED];
  bt_worker_stats seen; /* its worker's stats after the spawns */
} spawner;

/* On a worker: jobs for any worker go to its own deque. */
static int job_spawn(void *arg, void *result, void *ctx) {
  (void)arg, (void)result;
  spawner *sp = ctx;
  bt_job job = {.struct_size = sizeof(bt_job), .fn = job_noop};
  for (int i = 0; i < SPAWNED; i++) {
    int rc = bt_schedule(sp->rt, BT_ANY_WORKER, &job, &sp->f[i]);
    if (rc != BT_OK) return rc;
  }
  return bt_worker_stats_get(sp->rt, bt_self(), &sp->seen);
}

BT_TEST(counters_count_the_deque) {
  bt_runtime *rt = runtime(2);
  gate g = {0};
  bt_job hold = {.struct_size = sizeof(bt_job), .fn = job_gate, .ctx = &g};
  bt_future *fg, *fs;
  BT_CHECK_OK(bt_schedule(rt, 0, &hold, &fg));
  while (!atomic_load(&g.started)) bt_test_nap_ms(1);
  spawner sp = {.rt = rt};
  bt_job spawn = {.struct_size = sizeof(bt_job), .fn = job_spawn, .ctx = &sp};
  BT_CHECK_OK(bt_schedule(rt, 1, &spawn, &fs));
  BT_CHECK_OK(bt_future_wait(fs, -1, NULL));
  BT_CHECK_OK(bt_future_release(fs));
  /* worker 0 is held: nothing was stolen, all SPAWNED wait on the deque */
  BT_CHECK_EQ(sp.seen.queue_len, SPAWNED);
  BT_CHECK(sp.seen.queue_max >= SPAWNED);
  atomic_store(&g.open, 1);
  for (int i = 0; i < SPAWNED; i++) {
    BT_CHECK_OK(bt_future_wait(sp.f[i], -1, NULL));
    BT_CHECK_OK(bt_future_release(sp.f[i]));
  }
  BT_CHECK_OK(bt_future_wait(fg, -1, NULL));
  BT_CHECK_OK(bt_future_release(fg));
  bt_worker_stats s1;
  BT_CHECK_OK(bt_worker_stats_get(rt, 1, &s1));
  BT_CHECK_EQ(s1.queue_len, 0);
  BT_CHECK(s1.queue_max >= SPAWNED);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(counters_count_jobs_and_parts) {
  bt_runtime *rt = runtime(2);
  enum { JOBS = 20 };
  bt_future *f[JOBS];
  bt_job job = {.struct_size = sizeof(bt_job), .fn = job_noop};
  for (int i = 0; i < JOBS; i++) BT_CHECK_OK(bt_schedule(rt, 1, &job, &f[i]));
  for (int i = 0; i < JOBS; i++) {
    BT_CHECK_OK(bt_future_wait(f[i], -1, NULL));
    BT_CHECK_OK(bt_future_release(f[i]));
  }
  bt_worker_stats s0, s1;
  BT_CHECK_OK(bt_worker_stats_get(rt, 0, &s0));
  BT_CHECK_OK(bt_worker_stats_get(rt, 1, &s1));
  BT_CHECK_EQ(s0.jobs, 0);
  BT_CHECK_EQ(s1.jobs, JOBS);
  BT_CHECK(s1.queue_max >= 1 && s1.queue_max <= JOBS);
  BT_CHECK_EQ(s1.queue_len, 0);
  BT_CHECK(s1.busy_s >= 0 && s1.spin_s >= 0 && s1.sleep_s >= 0);

  /* A kernel called on worker 1 runs worker 1's part there (the calling
   * thread runs its own part): at least one part is counted on it. */
  bt_array *a = array2d(rt, 64, 8);
  bt_job filler = {.struct_size = sizeof(bt_job), .fn = job_fill, .ctx = &(fill_ctx){rt, a}};
  bt_future *ff;
  BT_CHECK_OK(bt_schedule(rt, 1, &filler, &ff));
  BT_CHECK_OK(bt_future_wait(ff, -1, NULL));
  BT_CHECK_OK(bt_future_release(ff));
  BT_CHECK_OK(bt_worker_stats_get(rt, 1, &s1));
  BT_CHECK(s1.parts >= 1);
  BT_CHECK_OK(bt_array_release(a));

  BT_CHECK_STATUS(bt_worker_stats_get(rt, 2, &s0), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "worker 2") != NULL);
  BT_CHECK_STATUS(bt_worker_stats_get(rt, -1, &s0), BT_EINVAL);
  BT_CHECK_STATUS(bt_worker_stats_get(NULL, 0, &s0), BT_EINVAL);
  BT_CHECK_STATUS(bt_worker_stats_get(rt, 0, NULL), BT_EINVAL);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static char *report_of(bt_runtime *rt) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  BT_CHECK(f != NULL);
  BT_CHECK_OK(bt_runtime_report(rt, f));
  fclose(f);
  return text;
}

BT_TEST(report_lists_workers_futures_and_held_slices) {
  bt_runtime *rt = runtime(2);
  bt_job job = {.struct_size = sizeof(bt_job), .fn = job_noop};
  bt_future *waited, *unwaited, *kept;
  BT_CHECK_OK(bt_schedule(rt, 0, &job, &waited));
  BT_CHECK_OK(bt_schedule(rt, 0, &job, &unwaited));
  BT_CHECK_OK(bt_schedule(rt, 1, &job, &kept));
  BT_CHECK_OK(bt_future_wait(waited, -1, NULL));
  BT_CHECK_OK(bt_future_release(waited));
  while (!bt_future_done(unwaited) || !bt_future_done(kept)) bt_test_nap_ms(1);
  BT_CHECK_OK(bt_future_release(unwaited));

  bt_array *a = array2d(rt, 8, 6);
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{2, 5}, {0, 6}}, 0, &s));
  char *text = report_of(rt);
  fputs(text, stderr);
  BT_CHECK(strstr(text, "baton report: host") != NULL);
  BT_CHECK(strstr(text, "2 workers") != NULL);
  BT_CHECK(strstr(text,
                  "3 jobs run, 1 waited, 1 released never waited, 1 "
                  "not waited yet") != NULL);
  BT_CHECK(strstr(text, "region [2:5,0:6] owned by thread") != NULL);
  BT_CHECK(strstr(text, "(this thread)") != NULL);
  free(text);

  BT_CHECK_OK(bt_slice_release(s));
  text = report_of(rt);
  BT_CHECK(strstr(text, "slices still held:\n    none") != NULL);
  free(text);
  BT_CHECK_OK(bt_future_release(kept));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_STATUS(bt_runtime_report(NULL, stderr), BT_EINVAL);
  BT_CHECK_STATUS(bt_runtime_report(rt, NULL), BT_EINVAL);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(destroy_reports_held_slices) {
  bt_runtime *rt = runtime(1);
  bt_array *a = array2d(rt, 8, 6), *b = array2d(rt, 4, 4);
  bt_slice s, t;
  BT_CHECK_OK(bt_array_own(a, (bt_range[]){{0, 3}, {1, 4}}, 0, &s));
  capture_begin();
  BT_CHECK_OK(bt_runtime_destroy(rt));
  char *err = capture_end();
  BT_CHECK(strstr(err, "destroyed while slices are held") != NULL);
  BT_CHECK(strstr(err, "region [0:3,1:4] owned by") != NULL);
  free(err);
  /* The arrays outlive the runtime harmlessly. */
  BT_CHECK_OK(bt_array_borrow(b, NULL, 0, &t));
  BT_CHECK_OK(bt_slice_release(t));
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_array_release(b));

  /* Nothing held: nothing said. */
  rt = runtime(1);
  a = array2d(rt, 2, 2);
  capture_begin();
  BT_CHECK_OK(bt_runtime_destroy(rt));
  err = capture_end();
  BT_CHECK(strstr(err, "slices are held") == NULL);
  free(err);
  BT_CHECK_OK(bt_array_release(a));
}

BT_TEST(stats_env_prints_report_at_destroy) {
  setenv("BATON_STATS", "1", 1);
  bt_runtime *rt = runtime(2);
  capture_begin();
  BT_CHECK_OK(bt_runtime_destroy(rt));
  char *err = capture_end();
  BT_CHECK(strstr(err, "baton report: host") != NULL);
  BT_CHECK(strstr(err, "worker  core") != NULL);
  free(err);
  unsetenv("BATON_STATS");
}

BT_TEST(display_affinity_one_line_per_worker) {
  setenv("BATON_DISPLAY_AFFINITY", "1", 1);
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  capture_begin();
  bt_runtime *rt = runtime(3);
  char *err = capture_end();
  int lines = 0;
  for (const char *p = err; (p = strstr(p, "baton affinity: host ")); p++)
    lines++;
  BT_CHECK_EQ(lines, 3);
  BT_CHECK(strstr(err, "rank 3 worker 2 core") != NULL);
  BT_CHECK(strstr(err, " cpuset ") != NULL);
  free(err);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  unsetenv("BATON_DISPLAY_AFFINITY");
  unsetenv("OMPI_COMM_WORLD_RANK");
}

BT_TEST(env_garbage_refused) {
  static const struct {
    const char *name, *value, *says;
  } cases[] = {
      {"BATON_STATS", "yes", "BATON_STATS='yes'"},
      {"BATON_DISPLAY_AFFINITY", "2", "BATON_DISPLAY_AFFINITY='2'"},
      {"BATON_WATCHDOG", "soon", "BATON_WATCHDOG='soon'"},
      {"BATON_WATCHDOG", "-1", "BATON_WATCHDOG='-1'"},
      {"BATON_WATCHDOG", "1e99", "BATON_WATCHDOG='1e99'"},
      {"BATON_TRACE", "/nonexistent-dir/t.json", "not writable"},
      {"BATON_TRACE", "t-%q.json", "'%q'"},
      {"BATON_TRACE_EVENTS", "3", "BATON_TRACE_EVENTS='3'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (strcmp(cases[i].name, "BATON_TRACE_EVENTS") == 0)
      setenv("BATON_TRACE", "/tmp/baton-test-unused-%p.json", 1);
    setenv(cases[i].name, cases[i].value, 1);
    bt_options o = BT_OPTIONS_DEFAULT;
    o.workers = 1;
    bt_runtime *rt = NULL;
    BT_CHECK_STATUS(bt_runtime_create(&o, &rt), BT_EINVAL);
    BT_CHECK(rt == NULL);
    if (!strstr(bt_errmsg(), cases[i].says))
      bt_test_fail(__FILE__, __LINE__, "%s=%s: message '%s' lacks '%s'",
                   cases[i].name, cases[i].value, bt_errmsg(), cases[i].says);
    unsetenv(cases[i].name);
    unsetenv("BATON_TRACE");
  }
}

/* ---- watchdog
 * ------------------------------------------------------------------ */

typedef struct watch_arg {
  bt_array *a;
  bt_chan *ch;
  const char *needle;
  _Atomic int ready;
  bt_slice s;
} watch_arg;

static void *own_until_watchdog(void *p) {
  watch_arg *w = p;
  BT_CHECK_OK(bt_array_own(w->a, (bt_range[]){{0, 2}, {0, 6}}, 0, &w->s));
  atomic_store(&w->ready, 1);
  await_captured(w->needle);
  BT_CHECK_OK(bt_slice_release(w->s));
  return NULL;
}

BT_TEST(watchdog_region) {
  setenv("BATON_WATCHDOG", "0.05", 1);
  bt_runtime *rt = runtime(1); /* reads BATON_WATCHDOG */
  bt_array *a = array2d(rt, 8, 6);
  watch_arg w = {.a = a, .needle = "it overlaps region [0:2,0:6] owned by"};
  capture_begin();
  pthread_t th;
  bt_test_spawn(&th, own_until_watchdog, &w);
  while (!atomic_load(&w.ready)) bt_test_nap_ms(1);
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, NULL, -1, &s)); /* until the watchdog spoke */
  bt_test_join(th);
  char *err = capture_end();
  BT_CHECK(strstr(err, "baton watchdog: ") != NULL);
  BT_CHECK(strstr(err, "own of region [0:8,0:6]") != NULL);
  /* once per wait */
  BT_CHECK(strstr(strstr(err, "baton watchdog: ") + 1, "baton watchdog: ") ==
           NULL);
  free(err);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  unsetenv("BATON_WATCHDOG");
}

static void *send_after_watchdog(void *p) {
  watch_arg *w = p;
  await_captured(w->needle);
  double x = 1.0;
  BT_CHECK_OK(bt_send(w->ch, &x));
  return NULL;
}

static void *recv_after_watchdog(void *p) {
  watch_arg *w = p;
  await_captured(w->needle);
  double x;
  BT_CHECK_OK(bt_recv(w->ch, &x));
  return NULL;
}

BT_TEST(watchdog_channel_empty_and_full) {
  setenv("BATON_WATCHDOG", "0.05", 1);
  bt_runtime *rt = runtime(1);
  bt_chan *ch;
  BT_CHECK_OK(bt_chan_create(&bt_type_f64, 1, &ch));
  watch_arg w = {.ch = ch, .needle = "receive on channel"};
  capture_begin();
  pthread_t th;
  bt_test_spawn(&th, send_after_watchdog, &w);
  double x;
  BT_CHECK_OK(bt_recv(ch, &x));
  bt_test_join(th);
  x = 2.0;
  BT_CHECK_OK(bt_send(ch, &x)); /* fills it */
  w.needle = "send on channel";
  bt_test_spawn(&th, recv_after_watchdog, &w);
  BT_CHECK_OK(bt_send(ch, &x));
  bt_test_join(th);
  char *err = capture_end();
  BT_CHECK(strstr(err,
                  "of f64 (capacity 1): empty, 0 senders and 1 receiver "
                  "waiting") != NULL);
  BT_CHECK(strstr(err,
                  "of f64 (capacity 1): full, 1 sender and 0 receivers "
                  "waiting") != NULL);
  free(err);
  BT_CHECK_OK(bt_recv(ch, &x));
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  unsetenv("BATON_WATCHDOG");
}

static int job_until_watchdog(void *arg, void *result, void *ctx) {
  (void)arg;
  (void)result;
  await_captured(ctx);
  return BT_OK;
}

BT_TEST(watchdog_future) {
  setenv("BATON_WATCHDOG", "0.05", 1);
  bt_runtime *rt = runtime(1);
  capture_begin();
  bt_job job = {.struct_size = sizeof(bt_job),
                .fn = job_until_watchdog,
                .ctx = "its job has not finished"};
  bt_future *f;
  BT_CHECK_OK(bt_schedule(rt, 0, &job, &f));
  BT_CHECK_OK(bt_future_wait(f, -1, NULL));
  BT_CHECK_OK(bt_future_release(f));
  char *err = capture_end();
  BT_CHECK(strstr(err, "baton watchdog: ") != NULL);
  BT_CHECK(strstr(err, "future ") != NULL);
  free(err);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  unsetenv("BATON_WATCHDOG");
}

/* A kernel's join: a part on a worker outlives the watchdog, so the caller
 * waiting for it is reported. A part the caller runs itself (the part of
 * the worker whose core it holds, or of a parked worker) sleeps 20 ms and
 * returns, which gives the workers the offer's wake-up time to claim their
 * own parts first (the caller claims a part only after its own); the call
 * is repeated until a part ran on a worker, so a loaded machine that keeps
 * a worker off its core for a whole call only costs one more call. */
static _Atomic int parts_on_workers;

static int part_until_watchdog(bt_slice part, int worker, void *ctx) {
  (void)part;
  (void)worker;
  if (bt_self() < 0) { /* the caller's own part */
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return BT_OK;
  }
  atomic_fetch_add(&parts_on_workers, 1);
  await_captured(ctx);
  return BT_OK;
}

BT_TEST(watchdog_kernel_join) {
  setenv("BATON_WATCHDOG", "0.05", 1);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int workers = cpus < 2 ? 2 : cpus > 64 ? 64 : (int)cpus;
  bt_runtime *rt = runtime(workers);
  bt_array *a = array2d(rt, workers, 20000);
  atomic_store(&parts_on_workers, 0);
  capture_begin();
  int calls = 0;
  while (calls < 100 && atomic_load(&parts_on_workers) == 0) {
    BT_CHECK_OK(bt_parallel_slices(rt, a, 0, 1, part_until_watchdog,
                                   (void *)"for a kernel's join: "));
    calls++;
  }
  char *err = capture_end();
  BT_CHECK(atomic_load(&parts_on_workers) > 0);
  /* "baton watchdog: thread 1 has waited 0.1 s for a kernel's join: 1 of 2
   * parts not done", said by the caller (not a worker) */
  const char *line = strstr(err, "baton watchdog: thread ");
  BT_CHECK(line != NULL);
  BT_CHECK(strstr(line, "for a kernel's join: ") != NULL);
  char parts[64];
  snprintf(parts, sizeof parts, " of %d parts not done\n", workers);
  BT_CHECK(strstr(line, parts) != NULL);
  free(err);
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  unsetenv("BATON_WATCHDOG");
}

/* ---- trace
 * ------------------------------------------------------------------- */

static int job_nested(void *arg, void *result, void *ctx) {
  (void)arg;
  (void)result;
  bt_runtime *rt = ctx;
  bt_job inner = {.struct_size = sizeof(bt_job), .fn = job_noop};
  bt_future *f;
  int rc = bt_schedule(rt, bt_self(), &inner, &f);
  if (rc != BT_OK) return rc;
  rc = bt_future_wait(f, -1, NULL);
  (void)bt_future_release(f);
  return rc;
}

/* The workload the trace checks run: jobs (nested), kernels, a blocking
 * channel wait. BATON_TRACE comes from the environment (CTest's
 * stats.trace_json runs this case, then checks the file with python3). */
BT_TEST(trace_workload) {
  bt_runtime *rt = runtime(2);
  bt_job job = {.struct_size = sizeof(bt_job), .fn = job_nested, .ctx = rt};
  bt_future *f[8];
  for (int i = 0; i < 8; i++) BT_CHECK_OK(bt_schedule(rt, i % 2, &job, &f[i]));
  for (int i = 0; i < 8; i++) {
    BT_CHECK_OK(bt_future_wait(f[i], -1, NULL));
    BT_CHECK_OK(bt_future_release(f[i]));
  }
  bt_array *a = array2d(rt, 256, 64);
  for (int i = 0; i < 4; i++) BT_CHECK_OK(bt_fill(rt, a, (double)i));
  BT_CHECK_OK(bt_array_release(a));
  bt_chan *ch;
  BT_CHECK_OK(bt_chan_create(&bt_type_f64, 1, &ch));
  double x;
  BT_CHECK_STATUS(bt_recv_timeout(ch, &x, 1000000), BT_ETIMEDOUT);
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(trace_ring_drops_oldest) {
  char path[] = "/tmp/baton-test-trace-XXXXXX";
  int fd = mkstemp(path);
  BT_CHECK(fd >= 0);
  close(fd);
  setenv("BATON_TRACE", path, 1);
  setenv("BATON_TRACE_EVENTS", "16", 1);
  bt_runtime *rt = runtime(1);
  bt_job job = {.struct_size = sizeof(bt_job), .fn = job_noop};
  for (int i = 0; i < 100; i++) {
    bt_future *f;
    BT_CHECK_OK(bt_schedule(rt, 0, &job, &f));
    BT_CHECK_OK(bt_future_wait(f, -1, NULL));
    BT_CHECK_OK(bt_future_release(f));
  }
  capture_begin();
  BT_CHECK_OK(bt_runtime_destroy(rt));
  char *err = capture_end();
  BT_CHECK(strstr(err, "oldest dropped") != NULL);
  free(err);
  FILE *t = fopen(path, "r");
  BT_CHECK(t != NULL);
  char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, t);
  buf[n] = '\0';
  fclose(t);
  unlink(path);
  /* The worker's ring kept its 16 newest jobs, and says what it dropped. */
  int jobs = 0;
  for (const char *p = buf; (p = strstr(p, "\"cat\":\"job\"")); p++) jobs++;
  BT_CHECK_EQ(jobs, 16);
  const char *d = strstr(buf, "\"dropped\":");
  BT_CHECK(d != NULL);
  BT_CHECK(atol(d + 10) >= 84);
  unsetenv("BATON_TRACE");
  unsetenv("BATON_TRACE_EVENTS");
}
