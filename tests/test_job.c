/* SPDX-License-Identifier: BSD-3-Clause */
/* test_job.c: jobs and futures (baton/job.h). */
#include "test.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "box_int.h"
#include "core_int.h"

/* ---- helpers ----------------------------------------------------------- */

static bt_runtime *make_runtime(int workers, const char *topology) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = workers;
  o.bind = BT_BIND_NONE;
  o.topology = topology;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  BT_CHECK_EQ(bt_runtime_workers(rt), workers);
  return rt;
}

static bt_future *schedule(bt_runtime *rt, int worker, const bt_job *job) {
  bt_future *f = NULL;
  BT_CHECK_OK(bt_schedule(rt, worker, job, &f));
  BT_CHECK(f != NULL);
  return f;
}

/* A gate a job blocks on, to keep a worker busy. */
typedef struct gate {
  _Atomic uint32_t open;
  _Atomic int entered;
} gate;

static int gate_job(void *arg, void *result, void *ctx) {
  gate *g = ctx;
  /* release/acquire: pairs with the loads in wait_entered() and the store
   * in gate_open(). */
  atomic_fetch_add_explicit(&g->entered, 1, memory_order_release);
  while (!atomic_load_explicit(&g->open, memory_order_acquire))
    bt__futex_wait(&g->open, 0, -1);
  return BT_OK;
}

static void gate_open(gate *g) {
  atomic_store_explicit(&g->open, 1, memory_order_release);
  bt__futex_wake(&g->open, INT32_MAX);
}

static void wait_entered(gate *g, int n) {
  while (atomic_load_explicit(&g->entered, memory_order_acquire) < n)
    sched_yield();
}

static int where_job(void *arg, void *result, void *ctx) {
  *(int64_t *)result = bt_self();
  return BT_OK;
}

static int64_t run_where(bt_runtime *rt, int worker, const bt_type *arg_type,
                         const void *arg) {
  bt_job job = {sizeof(bt_job), where_job,   NULL, arg_type, arg,
                BT_CHECKED,     &bt_type_i64};
  bt_future *f = schedule(rt, worker, &job);
  int64_t w = -9;
  BT_CHECK_OK(bt_future_wait(f, -1, &w));
  BT_CHECK_OK(bt_future_release(f));
  return w;
}

/* ---- values ------------------------------------------------------------ */

static int twice_job(void *arg, void *result, void *ctx) {
  _Atomic int *ran_on = ctx;
  atomic_store(ran_on, bt_self());
  *(double *)result = 2.0 * *(double *)arg;
  return BT_OK;
}

BT_TEST(value_argument_and_result) {
  bt_runtime *rt = make_runtime(2, NULL);
  for (int w = 0; w < 2; w++) {
    _Atomic int ran_on = -2;
    double x = 1.25 + w;
    bt_job job = {sizeof(bt_job), twice_job,   &ran_on, &bt_type_f64, &x,
                  BT_CHECKED,     &bt_type_f64};
    bt_future *f = schedule(rt, w, &job);
    x = 100; /* the argument was copied at schedule */
    double y = 0;
    BT_CHECK_OK(bt_future_wait(f, -1, &y));
    BT_CHECK_NEAR(y, 2.0 * (1.25 + w), 0);
    BT_CHECK_EQ(atomic_load(&ran_on), w);
    BT_CHECK(bt_future_done(f));
    BT_CHECK_OK(bt_future_release(f));
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static int no_arg_job(void *arg, void *result, void *ctx) {
  BT_CHECK(arg == NULL);
  BT_CHECK(result == NULL);
  atomic_fetch_add((_Atomic int *)ctx, 1);
  return BT_OK;
}

BT_TEST(schedule_misuse) {
  bt_runtime *rt = make_runtime(2, NULL);
  _Atomic int count = 0;
  bt_job job = {sizeof(bt_job), no_arg_job, &count, NULL,
                NULL,           BT_CHECKED, NULL};
  bt_future *f = (bt_future *)0x1;
  BT_CHECK_STATUS(bt_schedule(NULL, 0, &job, &f), BT_EINVAL);
  BT_CHECK_STATUS(bt_schedule(rt, 0, NULL, &f), BT_EINVAL);
  BT_CHECK_STATUS(bt_schedule(rt, 0, &job, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_schedule(rt, 2, &job, &f), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "worker 2") != NULL);
  BT_CHECK_STATUS(bt_schedule(rt, -2, &job, &f), BT_EINVAL);
  bt_job bad = job;
  bad.fn = NULL;
  BT_CHECK_STATUS(bt_schedule(rt, 0, &bad, &f), BT_EINVAL);
  bad = job;
  bad.arg_type = &bt_type_f64; /* with a NULL arg */
  BT_CHECK_STATUS(bt_schedule(rt, 0, &bad, &f), BT_EINVAL);
  bad = job;
  bad.mode = (bt_transfer)7;
  BT_CHECK_STATUS(bt_schedule(rt, 0, &bad, &f), BT_EINVAL);
  BT_CHECK_PTR_EQ(f, (bt_future *)0x1);
  BT_CHECK_STATUS(bt_future_wait(NULL, 0, NULL), BT_EINVAL);
  BT_CHECK_EQ(bt_future_done(NULL), 0);
  BT_CHECK_OK(bt_future_release(NULL));
  /* no argument, no result */
  f = schedule(rt, BT_ANY_WORKER, &job);
  BT_CHECK_OK(bt_future_wait(f, -1, NULL));
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_EQ(atomic_load(&count), 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(wait_timeouts_and_second_wait) {
  bt_runtime *rt = make_runtime(1, NULL);
  gate g = {0, 0};
  bt_job job = {sizeof(bt_job), gate_job, &g, NULL, NULL, BT_CHECKED, NULL};
  bt_future *f = schedule(rt, 0, &job);
  wait_entered(&g, 1);
  BT_CHECK_STATUS(bt_future_wait(f, 0, NULL), BT_EAGAIN);
  BT_CHECK_STATUS(bt_future_wait(f, 2 * 1000 * 1000, NULL), BT_ETIMEDOUT);
  BT_CHECK(strstr(bt_errmsg(), "2000000 ns") != NULL);
  BT_CHECK_EQ(bt_future_done(f), 0);
  gate_open(&g);
  BT_CHECK_OK(bt_future_wait(f, -1, NULL));
  BT_CHECK_EQ(bt_future_done(f), 1);
  /* the outcome was taken: a second wait is a state error */
  BT_CHECK_STATUS(bt_future_wait(f, -1, NULL), BT_ESTATE);
  BT_CHECK_STATUS(bt_future_wait(f, 0, NULL), BT_ESTATE);
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static int failing_job(void *arg, void *result, void *ctx) {
  *(int64_t *)result = 55; /* a failing job's result is never delivered */
  return bt__fail(BT_EBUSY, "the job is busy with %d things", 7);
}

static int silent_failing_job(void *arg, void *result, void *ctx) {
  return BT_ENOTSUP;
}

BT_TEST(job_return_code_comes_back) {
  bt_runtime *rt = make_runtime(2, NULL);
  bt_job job = {sizeof(bt_job), failing_job, NULL,        NULL,
                NULL,           BT_CHECKED,  &bt_type_i64};
  bt_future *f = schedule(rt, 1, &job);
  int64_t r = -1;
  BT_CHECK_STATUS(bt_future_wait(f, -1, &r), BT_EBUSY);
  BT_CHECK_EQ(r, -1);
  BT_CHECK(strstr(bt_errmsg(), "busy with 7 things") != NULL);
  BT_CHECK_OK(bt_future_release(f));
  /* a body that fails without a message does not inherit an old one */
  job.fn = silent_failing_job;
  f = schedule(rt, 1, &job);
  BT_CHECK_STATUS(bt_future_wait(f, -1, &r), BT_ENOTSUP);
  BT_CHECK(strstr(bt_errmsg(), "busy") == NULL);
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- boxes ------------------------------------------------------------- */

/* Sums a box tree's int64 tags (root + its children), writes the sum into
 * each box, and returns a new box holding the sum. */
static int sum_tree_job(void *arg, void *result, void *ctx) {
  bt_box *tree = *(bt_box **)arg;
  int64_t *p = bt_box_data(tree);
  BT_CHECK(p != NULL); /* the worker adopted the tree */
  int64_t sum = *p;
  for (size_t i = 0; i < bt_box_nchildren(tree); i++) {
    bt_box *c = bt_box_child(tree, i);
    if (c) sum += *(const int64_t *)bt_box_cdata(c);
  }
  *p = sum;
  bt_box *out;
  BT_CHECK_OK(bt_box_create(sizeof(int64_t), 1, &out));
  *(int64_t *)bt_box_data(out) = sum;
  BT_CHECK_OK(bt_box_link(out, 0, tree)); /* the argument goes back inside */
  *(bt_box **)result = out;
  return BT_OK;
}

static bt_box *tagged_tree(int64_t root_tag, int64_t a, int64_t b) {
  bt_box *root, *ca, *cb;
  BT_CHECK_OK(bt_box_create(sizeof(int64_t), 2, &root));
  BT_CHECK_OK(bt_box_create(sizeof(int64_t), 0, &ca));
  BT_CHECK_OK(bt_box_create(sizeof(int64_t), 0, &cb));
  *(int64_t *)bt_box_data(root) = root_tag;
  *(int64_t *)bt_box_data(ca) = a;
  *(int64_t *)bt_box_data(cb) = b;
  BT_CHECK_OK(bt_box_link(root, 0, ca));
  BT_CHECK_OK(bt_box_link(root, 1, cb));
  return root;
}

BT_TEST(box_argument_moves_and_box_result_comes_back) {
  bt_runtime *rt = make_runtime(2, NULL);
  bt_box *tree = tagged_tree(1, 2, 3);
  bt_job job = {sizeof(bt_job), sum_tree_job, NULL,        &bt_type_box,
                &tree,          BT_CHECKED,   &bt_type_box};
  /* a shared subtree is refused, nothing moves */
  bt_box_retain(bt_box_child(tree, 1));
  bt_future *f = (bt_future *)0x1;
  BT_CHECK_STATUS(bt_schedule(rt, BT_ANY_WORKER, &job, &f), BT_ESHARED);
  BT_CHECK(strstr(bt_errmsg(), "root[1]") != NULL);
  BT_CHECK_PTR_EQ(f, (bt_future *)0x1);
  BT_CHECK(bt_box_data(tree) != NULL);
  BT_CHECK_OK(bt_box_release(bt_box_child(tree, 1)));
  /* moved: the scheduler's accessors answer NULL, rescheduling BT_EMOVED */
  f = schedule(rt, BT_ANY_WORKER, &job);
  BT_CHECK(bt_box_data(tree) == NULL);
  bt_future *again = (bt_future *)0x1;
  BT_CHECK_STATUS(bt_schedule(rt, 0, &job, &again), BT_EMOVED);
  BT_CHECK_PTR_EQ(again, (bt_future *)0x1);
  bt_box *out = NULL;
  BT_CHECK_OK(bt_future_wait(f, -1, &out));
  BT_CHECK_OK(bt_future_release(f));
  /* the waiter adopted the result, and the argument inside it */
  BT_CHECK(out != NULL);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(out), 6);
  BT_CHECK_PTR_EQ(bt_box_child(out, 0), tree);
  BT_CHECK_EQ(*(int64_t *)bt_box_data(tree), 6);
  BT_CHECK_OK(bt__box_check(out));
  BT_CHECK_OK(bt_box_release(out));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static int sum_and_release_job(void *arg, void *result, void *ctx) {
  bt_box *tree = *(bt_box **)arg;
  int64_t sum = *(const int64_t *)bt_box_cdata(tree);
  for (size_t i = 0; i < bt_box_nchildren(tree); i++)
    sum += *(const int64_t *)bt_box_cdata(bt_box_child(tree, i));
  BT_CHECK_OK(bt_box_release(tree));
  *(int64_t *)result = sum;
  return BT_OK;
}

static int keep_shared_job(void *arg, void *result, void *ctx) {
  bt_box *tree = *(bt_box **)arg;
  bt_box_retain(tree); /* the job keeps one: the result is now shared */
  *(bt_box **)ctx = tree;
  *(bt_box **)result = tree;
  return BT_OK;
}

static int read_frozen_job(void *arg, void *result, void *ctx) {
  bt_box *b = *(bt_box **)arg;
  BT_CHECK(bt_box_data(b) == NULL);
  *(int64_t *)result = *(const int64_t *)bt_box_cdata(b);
  BT_CHECK_OK(bt_box_release(b));
  return BT_OK;
}

BT_TEST(box_transfer_modes_and_frozen_arguments) {
  bt_runtime *rt = make_runtime(2, NULL);
  /* unchecked trusts the caller: a shared subtree goes */
  bt_box *tree = tagged_tree(10, 20, 30);
  bt_box *kept = bt_box_child(tree, 0);
  bt_box_retain(kept);
  bt_job job = {sizeof(bt_job), sum_and_release_job, NULL,        &bt_type_box,
                &tree,          BT_UNCHECKED,        &bt_type_i64};
  bt_future *f = schedule(rt, 0, &job);
  int64_t sum = 0;
  BT_CHECK_OK(bt_future_wait(f, -1, &sum));
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_EQ(sum, 60);
  /* the tree is gone; our reference to its child outlived it, a root now
   * held by the worker thread that released its parent */
  BT_CHECK_EQ(bt__box_refs(kept), 1);
  BT_CHECK(bt_box_cdata(kept) == NULL);
  BT_CHECK_OK(bt_box_release(kept));
  bt_box *out;
  /* a shared result is refused on the worker: the waiter gets BT_ESHARED
   * and the worker drops the result's reference */
  bt_box *b;
  BT_CHECK_OK(bt_box_create(8, 0, &b));
  bt_box *job_kept = NULL;
  bt_job shared = {sizeof(bt_job), keep_shared_job, &job_kept, &bt_type_box, &b,
                   BT_CHECKED,     &bt_type_box};
  f = schedule(rt, 1, &shared);
  BT_CHECK_STATUS(bt_future_wait(f, -1, &out), BT_ESHARED);
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_EQ(bt__box_refs(job_kept), 1);
  /* the job's own reference is all that is left */
  BT_CHECK_OK(bt_box_release(job_kept));
  /* frozen: one reference moves per job, the caller keeps its own */
  bt_box *fz;
  BT_CHECK_OK(bt_box_create(sizeof(int64_t), 0, &fz));
  *(int64_t *)bt_box_data(fz) = 77;
  bt_job wrong = {sizeof(bt_job), read_frozen_job, NULL, &bt_type_frozen, &fz,
                  BT_CHECKED,     &bt_type_i64};
  BT_CHECK_STATUS(bt_schedule(rt, 0, &wrong, &f), BT_ETYPE);
  BT_CHECK_OK(bt_box_freeze(fz));
  bt_future *fs[4];
  for (int i = 0; i < 4; i++) {
    bt_box_retain(fz);
    fs[i] = schedule(rt, i % 2, &wrong);
  }
  for (int i = 0; i < 4; i++) {
    int64_t v = 0;
    BT_CHECK_OK(bt_future_wait(fs[i], -1, &v));
    BT_CHECK_EQ(v, 77);
    BT_CHECK_OK(bt_future_release(fs[i]));
  }
  BT_CHECK_EQ(bt__box_refs(fz), 1);
  BT_CHECK_OK(bt_box_release(fz));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static void *wait_elsewhere(void *arg) {
  bt_future *f = arg;
  bt_box *out = NULL;
  BT_CHECK_OK(bt_future_wait(f, -1, &out));
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK(bt_box_data(out) != NULL); /* this thread adopted it */
  BT_CHECK_EQ(*(int64_t *)bt_box_data(out), 15);
  return out;
}

BT_TEST(future_handed_to_another_thread) {
  bt_runtime *rt = make_runtime(2, NULL);
  bt_box *tree = tagged_tree(4, 5, 6);
  bt_job job = {sizeof(bt_job), sum_tree_job, NULL,        &bt_type_box,
                &tree,          BT_CHECKED,   &bt_type_box};
  bt_future *f = schedule(rt, BT_ANY_WORKER, &job);
  pthread_t t;
  BT_CHECK_EQ(pthread_create(&t, NULL, wait_elsewhere, f), 0);
  void *ret;
  BT_CHECK_EQ(pthread_join(t, &ret), 0);
  bt_box *out = ret;
  /* held by the thread that waited, not by the one that scheduled */
  BT_CHECK(bt_box_data(out) == NULL);
  BT_CHECK(bt_box_cdata(out) == NULL);
  BT_CHECK_OK(bt_box_release(out));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- dropping unconsumed results -------------------------------------- */

/* A type that counts its hooks. */
static _Atomic int counted_sends, counted_recvs, counted_drops;

static int counted_on_send(void *elem, bt_transfer mode) {
  atomic_fetch_add(&counted_sends, 1);
  return BT_OK;
}
static void counted_on_recv(void *elem) {
  atomic_fetch_add(&counted_recvs, 1);
}
static void counted_on_drop(void *elem) {
  BT_CHECK_EQ(*(int64_t *)elem, 42);
  atomic_fetch_add(&counted_drops, 1);
}

static const bt_type counted_type = {
    .struct_size = sizeof(bt_type),
    .name = "counted",
    .size = sizeof(int64_t),
    .on_send = counted_on_send,
    .on_recv = counted_on_recv,
    .on_drop = counted_on_drop,
};

static int forty_two_job(void *arg, void *result, void *ctx) {
  *(int64_t *)result = 42;
  return BT_OK;
}

static void counts_are(int sends, int recvs, int drops) {
  BT_CHECK_EQ(atomic_load(&counted_sends), sends);
  BT_CHECK_EQ(atomic_load(&counted_recvs), recvs);
  BT_CHECK_EQ(atomic_load(&counted_drops), drops);
}

/* Wait until every job queued on worker w so far has run (FIFO queue). */
static void drain_worker(bt_runtime *rt, int w) {
  bt_job job = {sizeof(bt_job), where_job,  NULL,        NULL,
                NULL,           BT_CHECKED, &bt_type_i64};
  bt_future *f = schedule(rt, w, &job);
  BT_CHECK_OK(bt_future_wait(f, -1, NULL));
  BT_CHECK_OK(bt_future_release(f));
}

BT_TEST(release_unconsumed_result_drops_it) {
  bt_runtime *rt = make_runtime(2, NULL);
  bt_job job = {sizeof(bt_job), forty_two_job, NULL,         NULL,
                NULL,           BT_CHECKED,    &counted_type};
  /* consumed: sent on the worker, adopted by the waiter, never dropped */
  bt_future *f = schedule(rt, 0, &job);
  int64_t v = 0;
  BT_CHECK_OK(bt_future_wait(f, -1, &v));
  BT_CHECK_EQ(v, 42);
  BT_CHECK_OK(bt_future_release(f));
  counts_are(1, 1, 0);
  /* waited with a NULL result: dropped */
  f = schedule(rt, 0, &job);
  BT_CHECK_OK(bt_future_wait(f, -1, NULL));
  counts_are(2, 1, 1);
  BT_CHECK_OK(bt_future_release(f));
  counts_are(2, 1, 1);
  /* released after the job finished, never waited: dropped at release */
  f = schedule(rt, 0, &job);
  drain_worker(rt, 0);
  BT_CHECK(bt_future_done(f));
  counts_are(3, 1, 1);
  BT_CHECK_OK(bt_future_release(f));
  counts_are(3, 1, 2);
  /* released before the job ran: it still runs, its result is dropped */
  gate g = {0, 0};
  bt_job hold = {sizeof(bt_job), gate_job, &g, NULL, NULL, BT_CHECKED, NULL};
  bt_future *blocker = schedule(rt, 1, &hold);
  f = schedule(rt, 1, &job);
  BT_CHECK_OK(bt_future_release(f));
  counts_are(3, 1, 2);
  gate_open(&g);
  drain_worker(rt, 1);
  counts_are(4, 1, 3);
  BT_CHECK_OK(bt_future_wait(blocker, -1, NULL));
  BT_CHECK_OK(bt_future_release(blocker));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static int count_job(void *arg, void *result, void *ctx) {
  atomic_fetch_add((_Atomic long *)ctx, *(int64_t *)arg);
  return BT_OK;
}

BT_TEST(destroy_runs_every_queued_job) {
  bt_runtime *rt = make_runtime(3, NULL);
  _Atomic long sum = 0;
  long n = bt_test_scaled(2000);
  for (long i = 1; i <= n; i++) {
    int64_t x = i;
    bt_job job = {sizeof(bt_job), count_job, &sum, &bt_type_i64, &x,
                  BT_CHECKED,     NULL};
    BT_CHECK_OK(bt_future_release(schedule(rt, BT_ANY_WORKER, &job)));
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
  BT_CHECK_EQ(atomic_load(&sum), n * (n + 1) / 2);
}

/* A job that, once let through its gate, schedules a box job on its own
 * runtime while that runtime is being destroyed. */
typedef struct late {
  bt_runtime *rt;
  gate g;
  int rc, held_after;
} late;

static int late_schedule_job(void *arg, void *result, void *ctx) {
  late *l = ctx;
  (void)gate_job(NULL, NULL, &l->g);
  bt_box *b;
  BT_CHECK_OK(bt_box_create(8, 0, &b));
  bt_job job = {sizeof(bt_job), no_arg_job, NULL, &bt_type_box, &b,
                BT_CHECKED,     NULL};
  bt_future *f = (bt_future *)0x1;
  l->rc = bt_schedule(l->rt, 0, &job, &f);
  BT_CHECK_PTR_EQ(f, (bt_future *)0x1);
  l->held_after = bt_box_data(b) != NULL; /* the argument came back */
  BT_CHECK_OK(bt_box_release(b));
  return BT_OK;
}

static void *open_when_closed(void *arg) {
  late *l = arg;
  /* static: probes queued behind the gate run after this thread is gone */
  static _Atomic int probes_ran;
  bt_job probe = {sizeof(bt_job), no_arg_job, &probes_ran, NULL,
                  NULL,           BT_CHECKED, NULL};
  for (;;) {
    bt_future *f;
    int rc = bt_schedule(l->rt, 0, &probe, &f);
    if (rc == BT_ESTATE) break; /* the queues are closed: destroy began */
    BT_CHECK_OK(rc);
    BT_CHECK_OK(bt_future_release(f));
    struct timespec nap = {0, 200 * 1000};
    nanosleep(&nap, NULL);
  }
  gate_open(&l->g);
  return NULL;
}

BT_TEST(schedule_during_destroy_keeps_the_argument) {
  late l;
  memset(&l, 0, sizeof l);
  l.rt = make_runtime(1, NULL);
  bt_job job = {sizeof(bt_job), late_schedule_job, &l,  NULL,
                NULL,           BT_CHECKED,        NULL};
  BT_CHECK_OK(bt_future_release(schedule(l.rt, 0, &job)));
  wait_entered(&l.g, 1);
  pthread_t helper;
  BT_CHECK_EQ(pthread_create(&helper, NULL, open_when_closed, &l), 0);
  BT_CHECK_OK(bt_runtime_destroy(l.rt)); /* returns once the job finished */
  BT_CHECK_EQ(pthread_join(helper, NULL), 0);
  BT_CHECK_EQ(l.rc, BT_ESTATE);
  BT_CHECK_EQ(l.held_after, 1);
}

/* ---- placement --------------------------------------------------------- */

BT_TEST(any_worker_is_the_least_loaded) {
  bt_runtime *rt = make_runtime(2, NULL);
  gate g = {0, 0};
  bt_job hold = {sizeof(bt_job), gate_job, &g, NULL, NULL, BT_CHECKED, NULL};
  /* worker 0 runs one blocked job and has one queued: load 2 */
  bt_future *b1 = schedule(rt, 0, &hold);
  bt_future *b2 = schedule(rt, 0, &hold);
  wait_entered(&g, 1);
  for (int i = 0; i < 20; i++)
    BT_CHECK_EQ(run_where(rt, BT_ANY_WORKER, NULL, NULL), 1);
  gate_open(&g);
  BT_CHECK_OK(bt_future_wait(b1, -1, NULL));
  BT_CHECK_OK(bt_future_wait(b2, -1, NULL));
  BT_CHECK_OK(bt_future_release(b1));
  BT_CHECK_OK(bt_future_release(b2));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* An argument type that names its NUMA node: the int itself. */
static int int_numa_of(const void *elem) {
  return (int)*(const int64_t *)elem;
}

BT_TEST(any_worker_follows_the_argument_numa_node) {
  /* A synthetic machine: never bound, but placed on two NUMA nodes. */
  bt_runtime *rt = make_runtime(4, "pack:2 [numa] core:2 pu:1");
  BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 2);
  bt_type placed = bt_type_i64;
  placed.name = "placed";
  placed.numa_of = int_numa_of;
  for (int64_t numa = 0; numa < 2; numa++)
    for (int i = 0; i < 10; i++) {
      int64_t w = run_where(rt, BT_ANY_WORKER, &placed, &numa);
      BT_CHECK_EQ(bt_worker_numa(rt, (int)w), numa);
    }
  /* unknown (-1) or out of range: any worker */
  for (int64_t numa = -1; numa <= 7; numa += 8) {
    int64_t w = run_where(rt, BT_ANY_WORKER, &placed, &numa);
    BT_CHECK(w >= 0 && w < 4);
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- jobs waiting on jobs ---------------------------------------------- */

enum { FIB_MAX_WORKERS = 8 };
typedef struct fib_ctx {
  bt_runtime *rt;
  _Atomic int waiting_now; /* jobs in bt_future_wait now */
  _Atomic int waiting_max;
  _Atomic int waited[FIB_MAX_WORKERS]; /* per worker: ever waited */
  _Atomic long jobs;
} fib_ctx;

static int fib_job(void *arg, void *result, void *ctx) {
  fib_ctx *c = ctx;
  int64_t n = *(int64_t *)arg;
  atomic_fetch_add(&c->jobs, 1);
  if (n < 2) {
    *(int64_t *)result = n;
    return BT_OK;
  }
  bt_future *f[2];
  for (int i = 0; i < 2; i++) {
    int64_t m = n - 1 - i;
    bt_job job = {sizeof(bt_job), fib_job,     c, &bt_type_i64, &m,
                  BT_CHECKED,     &bt_type_i64};
    int rc = bt_schedule(c->rt, BT_ANY_WORKER, &job, &f[i]);
    if (rc != BT_OK) return rc;
  }
  int self = bt_self();
  BT_CHECK(self >= 0 && self < FIB_MAX_WORKERS);
  atomic_store(&c->waited[self], 1);
  int now = atomic_fetch_add(&c->waiting_now, 1) + 1;
  int max = atomic_load(&c->waiting_max);
  while (now > max && !atomic_compare_exchange_weak(&c->waiting_max, &max, now))
    ;
  int64_t a = 0, b = 0;
  int rc = bt_future_wait(f[0], -1, &a);
  if (rc == BT_OK) rc = bt_future_wait(f[1], -1, &b);
  atomic_fetch_sub(&c->waiting_now, 1);
  (void)bt_future_release(f[0]);
  (void)bt_future_release(f[1]);
  *(int64_t *)result = a + b;
  return rc;
}

static int64_t fib_serial(int64_t n) {
  return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

BT_TEST(jobs_waiting_on_jobs_never_deadlock) {
  enum { WORKERS = 2 };
  fib_ctx c;
  memset(&c, 0, sizeof c);
  c.rt = make_runtime(WORKERS, NULL);
  int64_t n = 16;
  bt_job job = {sizeof(bt_job), fib_job,     &c, &bt_type_i64, &n,
                BT_CHECKED,     &bt_type_i64};
  bt_future *f = schedule(c.rt, BT_ANY_WORKER, &job);
  int64_t r = 0;
  BT_CHECK_OK(bt_future_wait(f, -1, &r));
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_EQ(r, fib_serial(n));
  /* fib(16) makes 2 fib(17) - 1 jobs */
  BT_CHECK_EQ(atomic_load(&c.jobs), 2 * fib_serial(n + 1) - 1);
  /* Jobs spawned by a worker go to its deque and are stolen by an idle
   * worker only if it gets a core in time (the run takes milliseconds on a
   * loaded machine): at least one worker waited, nested. */
  int waited = 0;
  for (int w = 0; w < WORKERS; w++) waited += atomic_load(&c.waited[w]);
  BT_CHECK_CMP(waited, >=, 1);
  fprintf(stderr, "  at most %d jobs waiting at once on %d workers\n",
          atomic_load(&c.waiting_max), WORKERS);
  BT_CHECK_CMP(atomic_load(&c.waiting_max), >=, WORKERS);
  BT_CHECK_OK(bt_runtime_destroy(c.rt));
}

/* fib(n) as jobs that wait on their two children: about 2.7 million jobs
 * for fib(30), nested as deep as the waiting workers run queued jobs
 * inline. The stack never overflows (runs nest onto stack segments). */
static int fib_lean_job(void *arg, void *result, void *ctx) {
  bt_runtime *rt = ctx;
  int64_t n = *(int64_t *)arg;
  if (n < 2) {
    *(int64_t *)result = n;
    return BT_OK;
  }
  bt_future *f[2];
  int64_t r[2] = {0, 0};
  int rc = BT_OK, made = 0;
  for (; made < 2 && rc == BT_OK; made++) {
    int64_t m = n - 1 - made;
    bt_job job = {sizeof(bt_job), fib_lean_job, rt, &bt_type_i64, &m,
                  BT_CHECKED,     &bt_type_i64};
    rc = bt_schedule(rt, BT_ANY_WORKER, &job, &f[made]);
    if (rc != BT_OK) break;
  }
  for (int i = 0; i < made; i++) {
    int w = bt_future_wait(f[i], -1, &r[i]);
    if (rc == BT_OK) rc = w;
    (void)bt_future_release(f[i]);
  }
  *(int64_t *)result = r[0] + r[1];
  return rc;
}

/* Under a sanitizer fib(30) takes 45 s and 0.5 GB (ASan's quarantine
 * holds the freed futures): those builds run fib(25), 1/11 of the jobs,
 * nested as deep in kind. */
#define FIB_N (BT_TEST_SANITIZED ? 25 : 30)

BT_TEST(fib_30_as_jobs) {
  for (int workers = 1; workers <= 2; workers++) {
    bt_runtime *rt = make_runtime(workers, NULL);
    int64_t n = FIB_N, r = 0;
    bt_job job = {sizeof(bt_job), fib_lean_job, rt, &bt_type_i64, &n,
                  BT_CHECKED,     &bt_type_i64};
    bt_future *f = schedule(rt, BT_ANY_WORKER, &job);
    BT_CHECK_OK(bt_future_wait(f, -1, &r));
    BT_CHECK_OK(bt_future_release(f));
    BT_CHECK_EQ(r, fib_serial(n));
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
}

/* Job k schedules job k+1 and waits on it: a chain of nested waits as deep
 * as the chain is long. */
typedef struct chain_ctx {
  bt_runtime *rt;
  int64_t length;
  _Atomic int64_t deepest;
} chain_ctx;

static int chain_job(void *arg, void *result, void *ctx) {
  chain_ctx *c = ctx;
  int64_t k = *(int64_t *)arg;
  int64_t deepest = atomic_load_explicit(&c->deepest, memory_order_relaxed);
  while (k > deepest &&
         !atomic_compare_exchange_weak(&c->deepest, &deepest, k))
    ;
  if (k == c->length) {
    *(int64_t *)result = k;
    return BT_OK;
  }
  int64_t next = k + 1;
  bt_job job = {sizeof(bt_job), chain_job,  c,           &bt_type_i64,
                &next,          BT_CHECKED, &bt_type_i64};
  bt_future *f;
  int rc = bt_schedule(c->rt, BT_ANY_WORKER, &job, &f);
  if (rc != BT_OK) return rc;
  rc = bt_future_wait(f, -1, result);
  (void)bt_future_release(f);
  return rc;
}

/* ThreadSanitizer records call stacks as deep as the nesting with every
 * event (time and memory grow with the square of the chain: 4 000 waits
 * take 24 s and 0.8 GB) and aborts past 65 536 frames: under TSan the chain
 * is 1 000 long. ASan and the other builds run the full 100 000. */
#if defined(__SANITIZE_THREAD__)
#define CHAIN_LEN 1000
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHAIN_LEN 1000
#endif
#endif
#ifndef CHAIN_LEN
#define CHAIN_LEN 100000
#endif

BT_TEST(chain_of_100000_nested_waits) {
  for (int workers = 1; workers <= 2; workers++) {
    chain_ctx c = {.rt = make_runtime(workers, NULL), .length = CHAIN_LEN};
    int64_t first = 0, r = 0;
    bt_job job = {sizeof(bt_job), chain_job,  &c,          &bt_type_i64,
                  &first,         BT_CHECKED, &bt_type_i64};
    bt_future *f = schedule(c.rt, 0, &job);
    BT_CHECK_OK(bt_future_wait(f, -1, &r));
    BT_CHECK_OK(bt_future_release(f));
    BT_CHECK_EQ(r, c.length);
    BT_CHECK_EQ(atomic_load(&c.deepest), c.length);
    BT_CHECK_OK(bt_runtime_destroy(c.rt));
  }
}

static int wait_with_timeout_job(void *arg, void *result, void *ctx) {
  /* On a worker, a timed wait on a job that cannot finish yet times out. */
  gate *g = ctx;
  bt_job hold = {sizeof(bt_job), gate_job, g, NULL, NULL, BT_CHECKED, NULL};
  bt_future *f;
  int rc = bt_schedule(bt__self_runtime(), 1, &hold, &f);
  if (rc != BT_OK) return rc;
  wait_entered(g, 1);
  int first = bt_future_wait(f, 3 * 1000 * 1000, NULL);
  int poll = bt_future_wait(f, 0, NULL);
  gate_open(g);
  int last = bt_future_wait(f, -1, NULL);
  (void)bt_future_release(f);
  *(int64_t *)result =
      (first == BT_ETIMEDOUT) + 2 * (poll == BT_EAGAIN) + 4 * (last == BT_OK);
  return BT_OK;
}

BT_TEST(timed_wait_on_a_worker) {
  bt_runtime *rt = make_runtime(2, NULL);
  gate g = {0, 0};
  bt_job job = {sizeof(bt_job), wait_with_timeout_job, &g, NULL, NULL,
                BT_CHECKED,     &bt_type_i64};
  bt_future *f = schedule(rt, 0, &job);
  int64_t r = 0;
  BT_CHECK_OK(bt_future_wait(f, -1, &r));
  BT_CHECK_EQ(r, 7);
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- stress ------------------------------------------------------------ */

typedef struct flood {
  bt_runtime *rt;
  long jobs;
  int id;
} flood;

static int add_one_job(void *arg, void *result, void *ctx) {
  *(int64_t *)result = *(int64_t *)arg + 1;
  return BT_OK;
}

static void *flood_thread(void *arg) {
  flood *fl = arg;
  enum { WINDOW = 64 };
  bt_future *window[WINDOW];
  int64_t expect[WINDOW];
  long checksum = 0;
  for (long i = 0; i < fl->jobs; i++) {
    int k = (int)(i % WINDOW);
    if (i >= WINDOW) {
      int64_t r;
      BT_CHECK_OK(bt_future_wait(window[k], -1, &r));
      BT_CHECK_EQ(r, expect[k]);
      checksum += r;
      BT_CHECK_OK(bt_future_release(window[k]));
    }
    int64_t x = (int64_t)fl->id * 1000000 + i;
    bt_job job = {sizeof(bt_job), add_one_job, NULL, &bt_type_i64, &x,
                  BT_CHECKED,     &bt_type_i64};
    BT_CHECK_OK(bt_schedule(fl->rt, (i % 3 == 0) ? (int)(i % 2) : BT_ANY_WORKER,
                            &job, &window[k]));
    expect[k] = x + 1;
    if (i % 7 == 0) { /* some futures are let go unwaited */
      BT_CHECK_OK(bt_future_release(window[k]));
      bt_job again = job;
      BT_CHECK_OK(bt_schedule(fl->rt, BT_ANY_WORKER, &again, &window[k]));
    }
  }
  long left = fl->jobs < WINDOW ? fl->jobs : WINDOW;
  for (long j = 0; j < left; j++) {
    int64_t r;
    BT_CHECK_OK(bt_future_wait(window[j], -1, &r));
    BT_CHECK_EQ(r, expect[j]);
    checksum += r;
    BT_CHECK_OK(bt_future_release(window[j]));
  }
  (void)checksum;
  return NULL;
}

BT_TEST_STRESS(many_jobs_from_many_threads) {
  enum { THREADS = 4 };
  bt_runtime *rt = make_runtime(3, NULL);
  flood fl[THREADS];
  for (int i = 0; i < THREADS; i++)
    fl[i] = (flood){rt, bt_test_scaled(5000), i};
  bt_test_threads(THREADS, flood_thread, fl, sizeof fl[0]);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* Trees go to a worker and come back as results, from several threads at
 * once; each tree carries a frozen table that its thread also keeps a
 * reference to (shared, but frozen: the checked transfer skips it). */
typedef struct tree_trip {
  bt_runtime *rt;
  long rounds;
  int id;
} tree_trip;

static int bump_tree_job(void *arg, void *result, void *ctx) {
  bt_box *t = *(bt_box **)arg;
  int64_t *p = bt_box_data(t);
  if (p == NULL) return bt__fail(BT_EMOVED, "tree not adopted");
  const int64_t *table = bt_box_cdata(bt_box_child(t, 0));
  p[0] += table[p[0] % 8];
  p[1]++;
  *(bt_box **)result = t;
  return BT_OK;
}

static void *tree_trip_thread(void *arg) {
  tree_trip *tt = arg;
  bt_box *t, *table;
  BT_CHECK_OK(bt_box_create(8 * sizeof(int64_t), 0, &table));
  for (int i = 0; i < 8; i++) ((int64_t *)bt_box_data(table))[i] = 3 * i + 1;
  BT_CHECK_OK(bt_box_freeze(table));
  BT_CHECK_OK(bt_box_create(2 * sizeof(int64_t), 1, &t));
  bt_box_retain(table);
  BT_CHECK_OK(bt_box_link(t, 0, table));
  int64_t expect = tt->id;
  ((int64_t *)bt_box_data(t))[0] = expect;
  for (long i = 0; i < tt->rounds; i++) {
    bt_job job = {sizeof(bt_job), bump_tree_job, NULL, &bt_type_box, &t,
                  BT_CHECKED,     &bt_type_box};
    bt_future *f = schedule(tt->rt, BT_ANY_WORKER, &job);
    BT_CHECK(bt_box_data(t) == NULL);
    BT_CHECK_OK(bt_future_wait(f, -1, &t));
    BT_CHECK_OK(bt_future_release(f));
    expect += expect % 8 * 3 + 1;
    BT_CHECK_EQ(((int64_t *)bt_box_data(t))[0], expect);
    BT_CHECK_EQ(((int64_t *)bt_box_data(t))[1], i + 1);
  }
  BT_CHECK_OK(bt_box_release(t));
  BT_CHECK_EQ(bt__box_refs(table), 1);
  BT_CHECK_OK(bt_box_release(table));
  return NULL;
}

BT_TEST_STRESS(box_trees_round_trip_through_workers) {
  enum { THREADS = 4 };
  bt_runtime *rt = make_runtime(2, NULL);
  tree_trip tt[THREADS];
  for (int i = 0; i < THREADS; i++)
    tt[i] = (tree_trip){rt, bt_test_scaled(1000), i};
  bt_test_threads(THREADS, tree_trip_thread, tt, sizeof tt[0]);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- recycled records (core/jobrec.c) ---------------------------------
 *
 * A finished future's memory serves later jobs. These cases would catch a
 * record recycled while its holder still has it, or one that carries an
 * earlier job's result, return code or message into a later future. */

enum { BIG_RESULT = 300 }; /* with the header, a record of the 512 class */

static const bt_type block_type[3] = {
    {.struct_size = sizeof(bt_type), .name = "block8", .size = 8},
    {.struct_size = sizeof(bt_type), .name = "block64", .size = 64},
    {.struct_size = sizeof(bt_type), .name = "block300", .size = BIG_RESULT},
};

static int fill_job(void *arg, void *result, void *ctx) {
  memset(result, 0xab, ((const bt_type *)ctx)->size);
  return BT_OK;
}

/* Fails (BT_ESTATE) unless the result it is given is all zero. */
static int expect_zero_job(void *arg, void *result, void *ctx) {
  const unsigned char *p = result;
  for (size_t i = 0; i < ((const bt_type *)ctx)->size; i++)
    if (p[i] != 0)
      return bt__fail(BT_ESTATE, "byte %zu of a fresh result is %u", i, p[i]);
  return BT_OK;
}

static int busy_job(void *arg, void *result, void *ctx) {
  return bt__fail(BT_EBUSY, "the job is busy with %d things", 9);
}

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0) return 0;
  return 1;
}

BT_TEST(recycled_future_starts_clean) {
  bt_runtime *rt = make_runtime(2, NULL);
  unsigned char out[BIG_RESULT];
  for (int round = 0; round < 200; round++) {
    const bt_type *t = &block_type[round % 3];
    int w = round % 2;
    bt_job job = {sizeof(bt_job), fill_job, (void *)t, NULL,
                  NULL,           BT_CHECKED, t};
    bt_future *f = schedule(rt, w, &job);
    BT_CHECK_OK(bt_future_wait(f, -1, out));
    BT_CHECK_EQ(out[t->size - 1], 0xab);
    BT_CHECK_OK(bt_future_release(f));
    /* a failure with a message, then one without: no message carried */
    job.fn = busy_job;
    f = schedule(rt, w, &job);
    BT_CHECK_STATUS(bt_future_wait(f, -1, out), BT_EBUSY);
    BT_CHECK(strstr(bt_errmsg(), "busy with 9 things") != NULL);
    BT_CHECK_OK(bt_future_release(f));
    job.fn = silent_failing_job;
    f = schedule(rt, w, &job);
    BT_CHECK_STATUS(bt_future_wait(f, -1, out), BT_ENOTSUP);
    BT_CHECK(strstr(bt_errmsg(), "busy") == NULL);
    BT_CHECK_OK(bt_future_release(f));
    /* the next job's result starts zeroed, whatever the record held */
    job.fn = expect_zero_job;
    memset(out, 0x5a, sizeof out);
    f = schedule(rt, w == 0 ? BT_ANY_WORKER : w, &job);
    BT_CHECK_OK(bt_future_wait(f, -1, out));
    BT_CHECK(all_zero(out, t->size));
    BT_CHECK(bt_future_done(f));
    BT_CHECK_OK(bt_future_release(f));
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(released_future_is_refused) {
  bt_runtime *rt = make_runtime(1, NULL);
  bt_job job = {sizeof(bt_job), forty_two_job, NULL,        NULL,
                NULL,           BT_CHECKED,    &bt_type_i64};
  /* released after its wait: the record waits for reuse, the handle is
   * refused until then (nothing is scheduled in between) */
  bt_future *f = schedule(rt, 0, &job);
  int64_t v = 0;
  BT_CHECK_OK(bt_future_wait(f, -1, &v));
  BT_CHECK_EQ(v, 42);
  BT_CHECK_STATUS(bt_future_wait(f, -1, &v), BT_ESTATE);
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_STATUS(bt_future_wait(f, -1, &v), BT_EINVAL);
  BT_CHECK_STATUS(bt_future_wait(f, 0, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_future_release(f), BT_EINVAL);
  BT_CHECK_EQ(bt_future_done(f), 0);
  /* released before its job ran: the worker's reference keeps the record
   * until the job ends (then the worker recycles it); the holder's handle
   * is refused at once */
  gate g = {0, 0};
  bt_job hold = {sizeof(bt_job), gate_job, &g, NULL, NULL, BT_CHECKED, NULL};
  bt_future *blocker = schedule(rt, 0, &hold);
  wait_entered(&g, 1);
  f = schedule(rt, 0, &job);
  BT_CHECK_OK(bt_future_release(f));
  BT_CHECK_STATUS(bt_future_wait(f, 0, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_future_release(f), BT_EINVAL);
  gate_open(&g);
  BT_CHECK_OK(bt_future_wait(blocker, -1, NULL));
  BT_CHECK_OK(bt_future_release(blocker));
  drain_worker(rt, 0);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* Producers schedule, consumers on other threads wait and release (so
 * records end on another thread than the one that took them, and move
 * through the shared depot); every fifth future is released before its
 * job may have run (the worker frees those). Each result must be its own
 * job's. */
enum { HANDOFF_SLOTS = 256 };

typedef struct handoff {
  pthread_mutex_t mu;
  pthread_cond_t changed;
  bt_future *f[HANDOFF_SLOTS];
  int64_t expect[HANDOFF_SLOTS];
  int kind[HANDOFF_SLOTS];
  long head, tail; /* protected by mu */
  int producers_left;
  bt_runtime *rt;
  long per_producer;
  _Atomic long consumed;
} handoff;

typedef struct handoff_arg {
  handoff *h;
  int id;
} handoff_arg;

static int stamp_job(void *arg, void *result, void *ctx) {
  int64_t x = *(int64_t *)arg;
  const bt_type *t = ctx;
  for (size_t i = 0; i + sizeof x <= t->size; i += sizeof x)
    memcpy((unsigned char *)result + i, &x, sizeof x);
  return BT_OK;
}

static void *handoff_producer(void *arg) {
  handoff_arg *a = arg;
  handoff *h = a->h;
  for (long i = 0; i < h->per_producer; i++) {
    int64_t x = (int64_t)a->id << 40 | i;
    int kind = (int)(i % 3);
    bt_job job = {sizeof(bt_job), stamp_job,  (void *)&block_type[kind],
                  &bt_type_i64,   &x,         BT_CHECKED,
                  &block_type[kind]};
    bt_future *f = schedule(h->rt, i % 4 == 1 ? (int)(i % 2) : BT_ANY_WORKER,
                            &job);
    if (i % 5 == 0) {
      BT_CHECK_OK(bt_future_release(f));
      continue;
    }
    pthread_mutex_lock(&h->mu);
    while (h->tail - h->head == HANDOFF_SLOTS)
      pthread_cond_wait(&h->changed, &h->mu);
    long k = h->tail++ % HANDOFF_SLOTS;
    h->f[k] = f;
    h->expect[k] = x;
    h->kind[k] = kind;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->mu);
  }
  pthread_mutex_lock(&h->mu);
  h->producers_left--;
  pthread_cond_broadcast(&h->changed);
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

static void *handoff_consumer(void *arg) {
  handoff *h = ((handoff_arg *)arg)->h;
  unsigned char out[BIG_RESULT];
  for (;;) {
    pthread_mutex_lock(&h->mu);
    while (h->tail == h->head && h->producers_left > 0)
      pthread_cond_wait(&h->changed, &h->mu);
    if (h->tail == h->head) {
      pthread_mutex_unlock(&h->mu);
      return NULL;
    }
    long k = h->head++ % HANDOFF_SLOTS;
    bt_future *f = h->f[k];
    int64_t x = h->expect[k];
    const bt_type *t = &block_type[h->kind[k]];
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->mu);
    BT_CHECK_OK(bt_future_wait(f, -1, out));
    for (size_t i = 0; i + sizeof x <= t->size; i += sizeof x) {
      int64_t got;
      memcpy(&got, out + i, sizeof got);
      BT_CHECK_EQ(got, x);
    }
    BT_CHECK_STATUS(bt_future_wait(f, 0, NULL), BT_ESTATE);
    BT_CHECK_OK(bt_future_release(f));
    atomic_fetch_add(&h->consumed, 1);
  }
}

static void *handoff_thread(void *arg) {
  handoff_arg *a = arg;
  return a->id < 2 ? handoff_producer(arg) : handoff_consumer(arg);
}

BT_TEST_STRESS(futures_recycled_across_threads) {
  handoff h = {.producers_left = 2};
  pthread_mutex_init(&h.mu, NULL);
  pthread_cond_init(&h.changed, NULL);
  h.rt = make_runtime(2, NULL);
  h.per_producer = bt_test_scaled(20000);
  handoff_arg args[4];
  for (int i = 0; i < 4; i++) args[i] = (handoff_arg){&h, i};
  bt_test_threads(4, handoff_thread, args, sizeof args[0]);
  long released_early = (h.per_producer + 4) / 5;
  BT_CHECK_EQ(atomic_load(&h.consumed), 2 * (h.per_producer - released_early));
  BT_CHECK_OK(bt_runtime_destroy(h.rt));
  pthread_mutex_destroy(&h.mu);
  pthread_cond_destroy(&h.changed);
}
