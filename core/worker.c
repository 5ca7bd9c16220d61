/* worker.c: worker threads, their task queues, and the idle sleep.
 *
 * Each worker owns a FIFO of intrusive tasks behind a lock (the spinning
 * futex lock channels use: a post rarely holds it for long); any thread
 * posts, only the worker pops. An idle worker spins briefly (as the
 * adaptive spin policy allows), then announces that it sleeps and sleeps on
 * a futex word. A post touches that word and makes the wake system call
 * only when it sees the announcement: the `sleeping` flag and the `queued`
 * count form a Dekker handshake (both seq_cst), so either the post sees the
 * sleeper or the sleeper sees the task. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_int.h"

static _Thread_local int self_id = -1;
static _Thread_local bt_runtime *self_rt;

int bt_self(void) {
  return self_id;
}

bt_runtime *bt__self_runtime(void) {
  return self_rt;
}

static bt__task *pop(bt__worker *w, int *closed) {
  bt__lock_acquire(&w->lock);
  bt__task *t = w->head;
  if (t) {
    w->head = t->next;
    if (!w->head) w->tail = NULL;
    t->next = NULL;
    /* The task counts as running before it stops counting as queued, so
     * bt__worker_load() never reads an idle worker in between.
     * relaxed: running has one writer, this worker (nested through
     * bt__worker_run_one); the release below publishes it. */
    atomic_store_explicit(
        &w->running, atomic_load_explicit(&w->running, memory_order_relaxed) + 1,
        memory_order_relaxed);
    /* release: pairs with the acquire load of queued in bt__worker_load(),
     * which reads queued first: a reader that sees the decrement sees the
     * raised running count. No RMW is needed (queued changes only under
     * lock); only the increment in bt__worker_post() matters for the idle
     * handshake. */
    atomic_store_explicit(
        &w->queued, atomic_load_explicit(&w->queued, memory_order_relaxed) - 1,
        memory_order_release);
  }
  /* relaxed: written under lock, which we hold. */
  *closed = atomic_load_explicit(&w->closed, memory_order_relaxed);
  bt__lock_release(&w->lock);
  return t;
}

/* Runs a task pop() returned (pop() already counted it as running). */
static void run(bt__worker *w, bt__task *t) {
  t->run(t); /* t may be gone now: its owner recovers and frees it */
  /* release: pairs with the acquire in bt__worker_load(), so a scheduler
   * that sees the lower load also sees the task's effects. relaxed load:
   * this worker is running's only writer. */
  atomic_store_explicit(
      &w->running, atomic_load_explicit(&w->running, memory_order_relaxed) - 1,
      memory_order_release);
}

/* Pauses per yield in an idle spin (a yield is a system call). */
enum { YIELD_SHARE = 16 };

/* Spin briefly before sleeping, as long as the spin policy says another
 * core could post meanwhile: a task that follows soon then costs no futex
 * wake on either side. Returns 1 if work or a close arrived. */
static int spin_idle(bt__worker *w) {
  int spins = bt__spin_begin(), found = 0;
  /* When the workers fill every core, the thread that posts the next task
   * or waits for this one's result shares a core with a worker: a pause
   * loop would keep it off that core until the spin ends (100+ us after
   * every kernel call), a yield hands the core over at once and still
   * catches a task that follows soon. A yield costs a system call, so
   * fewer of them. */
  int yield = w->rt->nworkers >= bt__ncpu();
  if (yield) spins /= YIELD_SHARE;
  for (int i = 0; i < spins; i++) {
    /* relaxed: a hint only; pop() takes the lock, which synchronizes. */
    if (atomic_load_explicit(&w->queued, memory_order_relaxed) > 0 ||
        atomic_load_explicit(&w->closed, memory_order_relaxed)) {
      found = 1;
      break;
    }
    if (yield)
      sched_yield();
    else
      bt__cpu_relax();
  }
  bt__spin_end();
  return found;
}

static void sleep_idle(bt__worker *w) {
  int64_t t0 = bt__stat_clock();
  int found = spin_idle(w);
  int64_t t1 = bt__stat_clock();
  bt__stat_spin(t1 - t0);
  if (found) return;
  /* acquire: pairs with the release increments in bt__worker_post() and
   * close_queue(); read before announcing sleep, so a post that sees the
   * announcement changes the word and futex_wait returns at once. */
  uint32_t seen = atomic_load_explicit(&w->signal, memory_order_acquire);
  /* seq_cst store then seq_cst loads: pairs with the seq_cst increment of
   * `queued` and load of `sleeping` in bt__worker_post(); one of the two
   * sides sees the other, so a task is never left with its worker asleep. */
  atomic_store_explicit(&w->sleeping, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&w->queued, memory_order_seq_cst) == 0 &&
      !atomic_load_explicit(&w->closed, memory_order_seq_cst)) {
    bt__futex_wait(&w->signal, seen, -1);
    bt__stat_sleep(bt__stat_clock() - t1);
  }
  /* relaxed: only a hint to posters; a stale 1 costs one wake call. */
  atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

static void *worker_main(void *arg) {
  bt__worker *w = arg;
  bt_runtime *rt = w->rt;
  self_id = w->id;
  self_rt = rt;
  bt__stat_attach(rt, w->id);
  bt__trace_attach(rt, w->id);
  w->bind_status = BT_OK;
  if (rt->binds) {
    w->bind_status =
        bt__topology_bind_thread(rt->topo, rt->place.slot[w->id].bind_set);
    if (w->bind_status != BT_OK)
      snprintf(w->bind_msg, sizeof w->bind_msg, "%s", bt_errmsg());
  }
  /* release: publishes bind_status and bind_msg; pairs with the acquire in
   * wait_started(). */
  atomic_fetch_add_explicit(&rt->started, 1, memory_order_release);
  bt__futex_wake(&rt->started, INT32_MAX);

  for (;;) {
    int closed;
    bt__task *t = pop(w, &closed);
    if (t) {
      int64_t t0 = bt__stat_clock();
      run(w, t);
      bt__stat_busy(bt__stat_clock() - t0);
      continue;
    }
    if (closed) break;
    sleep_idle(w);
  }
  self_id = -1;
  self_rt = NULL;
  return NULL;
}

static void wait_started(bt_runtime *rt, uint32_t n) {
  for (;;) {
    /* acquire: pairs with the release increment in worker_main(). */
    uint32_t v = atomic_load_explicit(&rt->started, memory_order_acquire);
    if (v >= n) return;
    bt__futex_wait(&rt->started, v, -1);
  }
}

static void close_queue(bt__worker *w) {
  bt__lock_acquire(&w->lock);
  /* seq_cst: read by the idle check in sleep_idle(), which also sees the
   * release increment of signal below through its acquire load. */
  atomic_store_explicit(&w->closed, 1, memory_order_seq_cst);
  bt__lock_release(&w->lock);
  /* release: pairs with the acquire in sleep_idle(). */
  atomic_fetch_add_explicit(&w->signal, 1, memory_order_release);
  bt__futex_wake(&w->signal, 1);
}

static void stop_started(bt_runtime *rt) {
  for (int i = 0; i < rt->nworkers; i++)
    if (rt->workers[i].started) close_queue(&rt->workers[i]);
  for (int i = 0; i < rt->nworkers; i++)
    if (rt->workers[i].started) {
      pthread_join(rt->workers[i].thread, NULL);
      rt->workers[i].started = 0;
    }
}

int bt__workers_start(bt_runtime *rt) {
  int n = rt->nworkers, rc = BT_OK;
  size_t bytes = sizeof(bt__worker) * (size_t)n;
  rt->workers = aligned_alloc(BT_CACHELINE, bytes);
  if (!rt->workers) return bt__fail(BT_ENOMEM, "cannot allocate %d workers", n);
  memset(rt->workers, 0, bytes);
  for (int i = 0; i < n; i++) {
    bt__worker *w = &rt->workers[i];
    w->id = i;
    w->rt = rt;
    atomic_init(&w->lock.word, 0);
  }

  uint32_t launched = 0;
  for (int i = 0; i < n; i++) {
    int e = pthread_create(&rt->workers[i].thread, NULL, worker_main,
                           &rt->workers[i]);
    if (e != 0) {
      rc = bt__fail(BT_ENOMEM, "cannot start the thread of worker %d of %d: %s",
                    i, n, strerror(e));
      wait_started(rt, launched);
      goto err_stop;
    }
    rt->workers[i].started = 1;
    launched++;
  }
  wait_started(rt, launched);

  rt->bound = rt->binds;
  for (int i = 0; i < n; i++) {
    bt__worker *w = &rt->workers[i];
    if (w->bind_status == BT_OK) continue;
    const char *strict = getenv("BATON_BIND_STRICT");
    if (strict && strict[0] && strcmp(strict, "0") != 0) {
      rc = bt__fail(w->bind_status, "%s", w->bind_msg);
      goto err_stop;
    }
    if (rt->bound)
      fprintf(stderr,
              "baton: %s; workers run unbound "
              "(BATON_BIND_STRICT=1 makes this an error)\n",
              w->bind_msg);
    rt->bound = 0;
  }
  return BT_OK;

err_stop:
  stop_started(rt);
  free(rt->workers);
  rt->workers = NULL;
  return rc;
}

void bt__workers_stop(bt_runtime *rt) {
  if (!rt->workers) return;
  stop_started(rt);
  for (int i = 0; i < rt->nworkers; i++)
    BT_ASSERT(rt->workers[i].head == NULL &&
              atomic_load_explicit(&rt->workers[i].queued,
                                   memory_order_relaxed) == 0);
  free(rt->workers);
  rt->workers = NULL;
}

int bt__worker_post(bt_runtime *rt, int worker, bt__task *t) {
  if (!rt || !t || !t->run)
    return bt__fail(BT_EINVAL, "bt__worker_post: %s is NULL",
                    !rt  ? "the runtime"
                    : !t ? "the task"
                         : "the task's run");
  if (worker < 0 || worker >= rt->nworkers)
    return bt__fail(BT_EINVAL, "worker %d out of range: the runtime has %d",
                    worker, rt->nworkers);
  bt__worker *w = &rt->workers[worker];
  t->next = NULL;
  bt__lock_acquire(&w->lock);
  /* relaxed: written under lock, which we hold. */
  if (atomic_load_explicit(&w->closed, memory_order_relaxed)) {
    bt__lock_release(&w->lock);
    return bt__fail(BT_ESTATE,
                    "worker %d does not accept tasks: its runtime is being "
                    "destroyed",
                    worker);
  }
  if (w->tail)
    w->tail->next = t;
  else
    w->head = t;
  w->tail = t;
  /* seq_cst: pairs with the seq_cst load in sleep_idle() (see there). */
  int len = atomic_fetch_add_explicit(&w->queued, 1, memory_order_seq_cst) + 1;
  bt__stat_queued(rt, worker, len);
  bt__lock_release(&w->lock);
  /* seq_cst: pairs with the seq_cst store in sleep_idle(). A worker that
   * has not announced sleep will see queued > 0 before it sleeps, so the
   * futex word changes only for a sleeper: it read the word before its
   * announcement, hence before this bump. */
  if (atomic_load_explicit(&w->sleeping, memory_order_seq_cst)) {
    /* release: pairs with the acquire in sleep_idle(). */
    atomic_fetch_add_explicit(&w->signal, 1, memory_order_release);
    bt__futex_wake(&w->signal, 1);
  }
  return BT_OK;
}

int bt__worker_load(const bt_runtime *rt, int worker) {
  if (!rt || worker < 0 || worker >= rt->nworkers) return 0;
  const bt__worker *w = &rt->workers[worker];
  /* queued first, acquire: pairs with the release decrement in pop(), so a
   * task leaving the queue is already counted in running (no idle-looking
   * gap). running, acquire: pairs with the release store in run(). The sum
   * is a snapshot; the tasks themselves are published by the lock. */
  int queued = atomic_load_explicit(&w->queued, memory_order_acquire);
  return queued + atomic_load_explicit(&w->running, memory_order_acquire);
}

int bt__worker_run_one(bt_runtime *rt, int worker) {
  if (!rt || self_rt != rt || self_id != worker) return 0;
  bt__worker *w = &rt->workers[worker];
  int closed;
  bt__task *t = pop(w, &closed);
  if (!t) return 0;
  run(w, t);
  return 1;
}

int bt__least_loaded(const bt_runtime *rt, int numa) {
  if (!rt) return -1;
  int first = 0, n = rt->nworkers;
  if (numa >= 0 && numa < rt->place.numa_nodes) {
    first = rt->place.numa[numa].first_worker;
    n = rt->place.numa[numa].workers;
  }
  int best = first, best_load = INT_MAX;
  for (int i = first; i < first + n; i++) {
    int load = bt__worker_load(rt, i);
    if (load < best_load) {
      best = i;
      best_load = load;
      if (load == 0) break;
    }
  }
  return best;
}
