/* SPDX-License-Identifier: BSD-3-Clause */
/* job.c: jobs run on workers, their outcomes returned through futures
 * (after Kotlin/Native's Worker.execute).
 *
 * One record per job serves as the worker's task and as the future; it is
 * refcounted between the two (the future's holder and the worker), so a
 * future released before its job ran is safe: the job still runs and its
 * result is dropped by whichever side lets go last.
 *
 * Completion is a state word: the worker publishes rc and the result, then
 * sets DONE with a release exchange and wakes the futex only if a waiter
 * announced itself (WAITERS). A waiter spins briefly (bt__spin_begin), then
 * sleeps on the word. A waiter that is itself a worker runs the tasks of its
 * own queue meanwhile, so jobs waiting on jobs never deadlock the pool; since
 * a post to its queue does not wake a futex it sleeps on, such a waiter
 * sleeps in short slices (20 us doubling to 1 ms) and looks at its queue
 * between them. */
#include <inttypes.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

#define BT__FUTURE_MAGIC 0x65727574u /* "ture" */

enum {
  STATE_DONE = 1u,    /* rc and result are published */
  STATE_WAITERS = 2u, /* someone sleeps on the word: wake on DONE */
};

enum {
  WORKER_NAP_MIN_NS = 20 * 1000,  /* first sleep of a waiting worker */
  WORKER_NAP_MAX_NS = 1000 * 1000 /* longest: bounds the delay to see a post */
};

struct bt_future {
  bt__task task; /* queued on the worker; owned by the queue while queued */
  uint32_t magic;
  /* STATE_* bits. Release exchange by the worker on completion, acquire
   * loads by waiters and bt_future_done(). */
  _Atomic uint32_t state;
  /* 2 at schedule: the future's holder and the worker. acq_rel fetch_sub;
   * the last one drops an unconsumed result and frees. */
  _Atomic uint32_t refs;
  int rc;        /* written by the worker before DONE */
  char *message; /* the job's bt_errmsg() when rc != BT_OK; worker, then
                    read-only after DONE */
  int consumed;  /* the future's holder only; read by the last unref */
  int rec_class; /* the record's size class (core/jobrec.c); immutable */
  /* Set by the holder's bt_future_release(), so that a second release or a
   * wait after it (the worker may still hold the struct) answers BT_EINVAL
   * instead of dropping the worker's reference. relaxed: only the holder
   * reads and writes it. */
  _Atomic int released;
  bt_job_fn fn;
  void *ctx;
  bt_runtime *rt; /* immutable: for the counters (core/stats.c) */
  const bt_type *arg_type, *result_type;
  unsigned char *arg;    /* arg_type->size bytes, or NULL */
  unsigned char *result; /* result_type->size bytes, or NULL */
};

/* The struct of a handle, NULL unless it is a live future (every build). */
static inline bt_future *future_get(const bt_future *f) {
  return f != NULL && f->magic == BT__FUTURE_MAGIC ? (bt_future *)f : NULL;
}

static uint32_t state_of(const bt_future *f) {
  /* acquire: pairs with the release exchange in job_run(), so a thread that
   * sees DONE sees rc, message and the result. */
  return atomic_load_explicit(&((bt_future *)f)->state, memory_order_acquire);
}

static void future_unref(bt_future *f) {
  /* acq_rel: the last side sees the other's writes (consumed, rc, result)
   * before it drops and frees. Pairs with itself. */
  if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1) return;
  if (!f->consumed) bt__stat_future_unwaited(f->rt);
  if (!f->consumed && f->rc == BT_OK && f->result_type != NULL &&
      f->result_type->on_drop != NULL)
    f->result_type->on_drop(f->result);
  free(f->message);
  bt__magic_kill(&f->magic);
  bt__jobrec_free(f, f->rec_class);
}

static void keep_message(bt_future *f) {
  const char *msg = bt_errmsg();
  size_t n = strlen(msg);
  f->message = malloc(n + 1);
  if (f->message != NULL) memcpy(f->message, msg, n + 1);
}

static void job_run(bt__task *task) {
  bt_future *f =
      (bt_future *)((unsigned char *)task - offsetof(bt_future, task));
  void *arg = NULL;
  if (f->arg_type != NULL) {
    if (f->arg_type->on_recv != NULL) f->arg_type->on_recv(f->arg);
    arg = f->arg;
  }
  /* The body owns the adopted argument from here on. Clear the worker's
   * last error so a failing body that sets none reports none (only when
   * there is one: formatting costs more than the rest of a job's upkeep). */
  if (bt_errmsg()[0] != '\0') (void)bt__fail(BT_OK, "%s", "");
  int64_t t0 = bt__trace_begin();
  int rc = f->fn(arg, f->result, f->ctx);
  bt__trace_end(t0, "job", "job", bt_self(), 0);
  bt__stat_job();
  if (rc == BT_OK && f->result_type != NULL &&
      f->result_type->on_send != NULL) {
    rc = f->result_type->on_send(f->result, BT_CHECKED);
    /* A shared result is still the worker's to let go of; any other refusal
     * (not held, wrong kind) means the element is not the worker's to drop. */
    if (rc == BT_ESHARED && f->result_type->on_drop != NULL)
      f->result_type->on_drop(f->result);
  }
  if (rc != BT_OK) keep_message(f);
  f->rc = rc;
  /* release: pairs with the acquire in state_of(): publishes rc, message and
   * the result to the waiter. */
  uint32_t before =
      atomic_exchange_explicit(&f->state, STATE_DONE, memory_order_acq_rel);
  /* Our reference keeps f alive through the wake. */
  if (before & STATE_WAITERS) bt__futex_wake(&f->state, INT32_MAX);
  future_unref(f);
}

static size_t round_up(size_t n, size_t align) {
  return (n + align - 1) / align * align;
}

int bt_schedule(bt_runtime *rt, int worker, const bt_job *job, bt_future **f) {
  if (bt__runtime_check(rt, "bt_schedule") != BT_OK) return BT_EINVAL;
  if (job == NULL || f == NULL)
    return bt__fail(BT_EINVAL, "bt_schedule: NULL %s",
                    job == NULL ? "job" : "output");
  bt_job adopted; /* fields the caller's (older) header lacks: defaults */
  if (bt__job_adopt(job, &adopted, "bt_schedule") != BT_OK) return BT_EINVAL;
  job = &adopted;
  if (job->fn == NULL)
    return bt__fail(BT_EINVAL, "bt_schedule: NULL job function");
  if (bt__type_check(job->arg_type, "bt_schedule: argument") != BT_OK ||
      bt__type_check(job->result_type, "bt_schedule: result") != BT_OK)
    return BT_EINVAL;
  if (job->arg_type != NULL && job->arg == NULL)
    return bt__fail(BT_EINVAL, "bt_schedule: argument of type %s is NULL",
                    job->arg_type->name ? job->arg_type->name : "?");
  if (job->mode != BT_CHECKED && job->mode != BT_UNCHECKED)
    return bt__fail(BT_EINVAL, "bt_schedule: bad transfer mode %d",
                    (int)job->mode);
  int workers = bt_runtime_workers(rt);
  if (worker != BT_ANY_WORKER && (worker < 0 || worker >= workers))
    return bt__fail(BT_EINVAL,
                    "bt_schedule: worker %d out of range: the runtime has %d",
                    worker, workers);

  const size_t align = alignof(max_align_t);
  size_t arg_size = job->arg_type ? job->arg_type->size : 0;
  size_t result_size = job->result_type ? job->result_type->size : 0;
  size_t head = round_up(sizeof(bt_future), align);
  size_t arg_room = round_up(arg_size, align);
  if (arg_size > SIZE_MAX / 4 || result_size > SIZE_MAX / 4)
    return bt__fail(BT_EINVAL, "bt_schedule: element sizes too large");
  /* A recycled record (core/jobrec.c) or malloc's, not calloc's: every
   * header field is set below, the argument is copied in, and only the
   * result is zeroed for the body. */
  int rec_class;
  bt_future *fut = bt__jobrec_alloc(head + arg_room + result_size, &rec_class);
  if (fut == NULL)
    return bt__fail(BT_ENOMEM, "bt_schedule: %zu bytes",
                    head + arg_room + result_size);
  fut->magic = BT__FUTURE_MAGIC;
  fut->task.run = job_run;
  fut->task.next = NULL;
  fut->rc = BT_OK;
  fut->message = NULL;
  fut->consumed = 0;
  fut->rec_class = rec_class;
  atomic_init(&fut->released, 0);
  fut->fn = job->fn;
  fut->ctx = job->ctx;
  fut->rt = rt;
  fut->arg_type = job->arg_type;
  fut->result_type = job->result_type;
  fut->arg = job->arg_type ? (unsigned char *)fut + head : NULL;
  fut->result =
      job->result_type ? (unsigned char *)fut + head + arg_room : NULL;
  if (result_size > 0) memset(fut->result, 0, result_size);
  atomic_init(&fut->state, 0);
  atomic_init(&fut->refs, 2);

  int spawn = 0; /* any worker may run it: stealable */
  if (worker == BT_ANY_WORKER) {
    int numa = -1;
    /* Asked while the caller still holds the argument. */
    if (job->arg_type != NULL && BT__TYPE_HAS(job->arg_type, numa_of) &&
        job->arg_type->numa_of != NULL) {
      numa = job->arg_type->numa_of(job->arg);
      if (numa >= bt_runtime_numa_nodes(rt)) numa = -1;
    }
    /* An argument with a NUMA home goes to the least loaded worker of that
     * node (and stays there); any other job to the caller's deque when it
     * is a worker, else to the shared queue, where any worker takes it. */
    if (numa >= 0)
      worker = bt__least_loaded(rt, numa);
    else
      spawn = 1;
  }

  int rc;
  if (job->arg_type != NULL) {
    memcpy(fut->arg, job->arg, arg_size);
    if (job->arg_type->on_send != NULL) {
      rc = job->arg_type->on_send(fut->arg, job->mode);
      if (rc != BT_OK) goto err_free; /* refused: nothing moved */
    }
  }
  rc = spawn ? bt__worker_spawn(rt, &fut->task)
             : bt__worker_post(rt, worker, &fut->task);
  if (rc != BT_OK) goto err_take_back;
  *f = fut;
  return BT_OK;

err_take_back:
  /* The argument was marked in flight: the caller adopts it back. */
  if (job->arg_type != NULL && job->arg_type->on_recv != NULL)
    job->arg_type->on_recv(fut->arg);
err_free:
  bt__magic_kill(&fut->magic);
  bt__jobrec_free(fut, rec_class);
  return rc;
}

int bt_future_done(const bt_future *f) {
  /* relaxed: as in bt_future_wait(); a released future is no longer the
   * caller's, even while its worker still holds the record. */
  return future_get(f) != NULL &&
         !atomic_load_explicit(&((bt_future *)f)->released,
                               memory_order_relaxed) &&
         (state_of(f) & STATE_DONE) != 0;
}

static void watch_message(const bt_future *f, const bt__watch *w) {
  bt__watch_report(w,
                   "future %p: its job has not finished (%d worker%s, queued "
                   "or running there: the job itself may be stuck)",
                   (const void *)f, bt_runtime_workers(f->rt),
                   bt_runtime_workers(f->rt) == 1 ? "" : "s");
}

/* Sleep on the state word until DONE or the deadline (absolute, -1:
 * forever), reporting to the watchdog w once. BT_OK when done, else
 * BT_ETIMEDOUT. */
static int sleep_until_done(bt_future *f, int64_t deadline, bt__watch *w) {
  uint32_t s = state_of(f);
  while (!(s & STATE_DONE)) {
    if (!(s & STATE_WAITERS)) {
      /* acquire (on failure, and so on success too, which C11 requires):
       * the value read may be DONE, which ends the loop, so it pairs with
       * the release exchange in job_run() like state_of(). */
      if (!atomic_compare_exchange_weak_explicit(
              &f->state, &s, s | STATE_WAITERS, memory_order_acquire,
              memory_order_acquire))
        continue;
      s |= STATE_WAITERS;
    }
    int slept = bt__futex_wait(&f->state, s, bt__watch_deadline(w, deadline));
    if (bt__watch_due(w))
      watch_message(f, w);
    else if (slept == BT_ETIMEDOUT)
      return (state_of(f) & STATE_DONE) ? BT_OK : BT_ETIMEDOUT;
    s = state_of(f);
  }
  return BT_OK;
}

static int wait_done(bt_future *f, int64_t deadline, bt__watch *w) {
  bt_runtime *rt = bt__self_runtime();
  if (rt != NULL) {
    int self = bt_self();
    int64_t nap = WORKER_NAP_MIN_NS;
    while (!(state_of(f) & STATE_DONE)) {
      if (bt__worker_run_one(rt, self)) {
        nap = WORKER_NAP_MIN_NS;
        continue;
      }
      int64_t now = bt__now_ns();
      if (deadline >= 0 && now >= deadline) return BT_ETIMEDOUT;
      int64_t until = now + nap;
      if (deadline >= 0 && deadline < until) until = deadline;
      if (sleep_until_done(f, until, w) == BT_OK) return BT_OK;
      if (nap < WORKER_NAP_MAX_NS) nap *= 2;
    }
    return BT_OK;
  }
  int spins = bt__spin_begin();
  for (int i = 0; i < spins; i++) {
    if (state_of(f) & STATE_DONE) break;
    bt__cpu_relax();
  }
  bt__spin_end();
  return sleep_until_done(f, deadline, w);
}

int bt_future_wait(bt_future *f, int64_t timeout_ns, void *result) {
  if (future_get(f) == NULL ||
      atomic_load_explicit(&f->released, memory_order_relaxed))
    return bt__bad_handle("bt_future_wait", "future", f);
  if (f->consumed)
    return bt__fail(BT_ESTATE,
                    "bt_future_wait: the outcome of future %p was already "
                    "taken by an earlier wait",
                    (void *)f);
  if (!(state_of(f) & STATE_DONE)) {
    if (timeout_ns == 0)
      return bt__fail(BT_EAGAIN, "bt_future_wait: future %p is not done",
                      (void *)f);
    bt__watch w;
    bt__watch_arm(&w);
    int64_t t0 = bt__trace_begin();
    int done = wait_done(f, bt__deadline(timeout_ns), &w);
    bt__trace_end(t0, "wait", "future", 0, 0);
    if (done != BT_OK)
      return bt__fail(BT_ETIMEDOUT,
                      "bt_future_wait: future %p not done after %" PRId64 " ns",
                      (void *)f, timeout_ns);
  }
  f->consumed = 1;
  bt__stat_future_waited(f->rt);
  int rc = f->rc;
  if (rc != BT_OK)
    return bt__fail(rc, "job of future %p returned %s: %s", (void *)f,
                    bt_status_name(rc), f->message ? f->message : "");
  if (f->result_type != NULL) {
    if (result != NULL) {
      if (f->result_type->on_recv != NULL) f->result_type->on_recv(f->result);
      memcpy(result, f->result, f->result_type->size);
    } else if (f->result_type->on_drop != NULL) {
      f->result_type->on_drop(f->result);
    }
  }
  return BT_OK;
}

int bt_future_release(bt_future *f) {
  if (f == NULL) return BT_OK;
  if (future_get(f) == NULL ||
      atomic_exchange_explicit(&f->released, 1, memory_order_relaxed))
    return bt__bad_handle("bt_future_release", "future", f);
  future_unref(f);
  return BT_OK;
}
