/* SPDX-License-Identifier: BSD-3-Clause */
/* test_runtime.c: the runtime, its workers and queues, the placement on
 * synthetic topologies, the environment, and binding on this machine. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime_int.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------ */

/* Environment variables a case sets are cleared on entry, so that a value
 * from the caller's shell cannot change what a case checks. */
static void clear_env(void) {
  unsetenv("BATON_WORKERS");
  unsetenv("BATON_BIND");
  unsetenv("BATON_TOPOLOGY");
  unsetenv("BATON_BIND_STRICT");
}

static bt_runtime *make(int workers, bt_bind bind, const char *topology) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = workers;
  o.bind = bind;
  o.topology = topology;
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  BT_CHECK(rt != NULL);
  return rt;
}

/* A task that records where it ran and in which order. */
typedef struct probe {
  bt__task task;
  int seq;
  _Atomic int ran_on; /* bt_self() when it ran, -2 before */
  bt_runtime *ran_in; /* written before ran_on (release) */
  _Atomic int *order; /* shared sequence counter, optional */
  int position;       /* value of *order when it ran */
  _Atomic int *done;  /* incremented when finished */
} probe;

static void probe_run(bt__task *t) {
  probe *p = (probe *)t;
  _Atomic int *done = p->done; /* p may be reused once ran_on is set */
  p->ran_in = bt__self_runtime();
  if (p->order)
    p->position = atomic_fetch_add_explicit(p->order, 1, memory_order_relaxed);
  /* release: pairs with the acquire loads of ran_on in the checks. */
  atomic_store_explicit(&p->ran_on, bt_self(), memory_order_release);
  /* release: pairs with the acquire in wait_count(). */
  if (done) atomic_fetch_add_explicit(done, 1, memory_order_release);
}

static void probe_init(probe *p, _Atomic int *order, _Atomic int *done) {
  memset(p, 0, sizeof *p);
  p->task.run = probe_run;
  atomic_init(&p->ran_on, -2);
  p->order = order;
  p->done = done;
}

static void wait_count(_Atomic int *count, int want) {
  /* acquire: pairs with the release increment in probe_run(). */
  while (atomic_load_explicit(count, memory_order_acquire) < want)
    sched_yield();
}

/* ---- workers and queues ------------------------------------------------- */

BT_TEST(tasks_run_on_their_worker) {
  clear_env();
  bt_runtime *rt = make(4, BT_BIND_NONE, NULL);
  BT_CHECK_EQ(bt_runtime_workers(rt), 4);
  enum { PER = 50 };
  static probe probes[4 * PER];
  _Atomic int done = 0;
  for (int i = 0; i < 4 * PER; i++) {
    probe_init(&probes[i], NULL, &done);
    BT_CHECK_OK(bt__worker_post(rt, i % 4, &probes[i].task));
  }
  wait_count(&done, 4 * PER);
  for (int i = 0; i < 4 * PER; i++) {
    BT_CHECK_EQ(atomic_load_explicit(&probes[i].ran_on, memory_order_acquire),
                i % 4);
    BT_CHECK_PTR_EQ(probes[i].ran_in, rt);
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(fifo_per_worker) {
  clear_env();
  bt_runtime *rt = make(2, BT_BIND_NONE, NULL);
  enum { N = 500 };
  static probe probes[2][N];
  static _Atomic int order[2];
  _Atomic int done = 0;
  for (int w = 0; w < 2; w++) atomic_init(&order[w], 0);
  for (int i = 0; i < N; i++)
    for (int w = 0; w < 2; w++) {
      probe_init(&probes[w][i], &order[w], &done);
      BT_CHECK_OK(bt__worker_post(rt, w, &probes[w][i].task));
    }
  wait_count(&done, 2 * N);
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < N; i++) BT_CHECK_EQ(probes[w][i].position, i);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* A task that blocks its worker until released, so that tasks pile up. */
typedef struct gate {
  bt__task task;
  _Atomic int entered, open;
} gate;

static void gate_run(bt__task *t) {
  gate *g = (gate *)t;
  /* release/acquire: pairs with the test thread's loads and store. */
  atomic_store_explicit(&g->entered, 1, memory_order_release);
  while (!atomic_load_explicit(&g->open, memory_order_acquire)) sched_yield();
}

typedef struct destroyer {
  bt_runtime *rt;
} destroyer;

static void *destroy_thread(void *arg) {
  destroyer *d = arg;
  BT_CHECK_OK(bt_runtime_destroy(d->rt));
  return NULL;
}

BT_TEST(destroy_drains_queues) {
  clear_env();
  bt_runtime *rt = make(2, BT_BIND_NONE, NULL);
  gate g = {.task.run = gate_run};
  BT_CHECK_OK(bt__worker_post(rt, 0, &g.task));
  while (!atomic_load_explicit(&g.entered, memory_order_acquire)) sched_yield();
  enum { N = 100 };
  static probe probes[N];
  _Atomic int done = 0;
  for (int i = 0; i < N; i++) {
    probe_init(&probes[i], NULL, &done);
    BT_CHECK_OK(bt__worker_post(rt, i % 2, &probes[i].task));
  }
  BT_CHECK_CMP(bt__worker_load(rt, 0), >=, N / 2 + 1);
  /* Destroy from another thread while worker 0 is still blocked: it must
   * refuse new posts, then run everything queued before joining. */
  destroyer d = {rt};
  pthread_t th;
  BT_CHECK_EQ(pthread_create(&th, NULL, destroy_thread, &d), 0);
  probe late;
  probe_init(&late, NULL, NULL);
  for (;;) {
    int rc = bt__worker_post(rt, 1, &late.task);
    if (rc == BT_ESTATE) break;
    /* Accepted before destroy closed the queue: it must run too. Wait for
     * it so the probe can be posted again. */
    BT_CHECK_OK(rc);
    while (atomic_load_explicit(&late.ran_on, memory_order_acquire) == -2)
      sched_yield();
    probe_init(&late, NULL, NULL);
  }
  atomic_store_explicit(&g.open, 1, memory_order_release);
  BT_CHECK_EQ(pthread_join(th, NULL), 0);
  /* acquire: the join synchronizes too; the load keeps TSan informed. */
  BT_CHECK_EQ(atomic_load_explicit(&done, memory_order_acquire), N);
  for (int i = 0; i < N; i++)
    BT_CHECK_EQ(atomic_load_explicit(&probes[i].ran_on, memory_order_acquire),
                i % 2);
}

BT_TEST(post_rejects_bad_worker) {
  clear_env();
  bt_runtime *rt = make(2, BT_BIND_NONE, NULL);
  probe p;
  probe_init(&p, NULL, NULL);
  BT_CHECK_STATUS(bt__worker_post(rt, 2, &p.task), BT_EINVAL);
  BT_CHECK_STATUS(bt__worker_post(rt, -1, &p.task), BT_EINVAL);
  BT_CHECK_EQ(bt__worker_load(rt, 5), 0);
  BT_CHECK_EQ(bt__worker_run_one(rt, 0), 0); /* not on worker 0 */
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST(self_is_minus_one_off_workers) {
  clear_env();
  BT_CHECK_EQ(bt_self(), -1);
  BT_CHECK(bt__self_runtime() == NULL);
  bt_runtime *rt = make(2, BT_BIND_NONE, NULL);
  BT_CHECK_EQ(bt_self(), -1);
  BT_CHECK(bt__self_runtime() == NULL);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  BT_CHECK_OK(bt_runtime_destroy(NULL));
}

BT_TEST(two_runtimes_at_once) {
  clear_env();
  bt_runtime *a = make(2, BT_BIND_NONE, NULL);
  bt_runtime *b = make(3, BT_BIND_NONE, NULL);
  enum { N = 30 };
  static probe pa[N], pb[N];
  _Atomic int done = 0;
  for (int i = 0; i < N; i++) {
    probe_init(&pa[i], NULL, &done);
    probe_init(&pb[i], NULL, &done);
    BT_CHECK_OK(bt__worker_post(a, i % 2, &pa[i].task));
    BT_CHECK_OK(bt__worker_post(b, i % 3, &pb[i].task));
  }
  wait_count(&done, 2 * N);
  for (int i = 0; i < N; i++) {
    BT_CHECK_PTR_EQ(pa[i].ran_in, a);
    BT_CHECK_PTR_EQ(pb[i].ran_in, b);
    BT_CHECK_EQ(atomic_load_explicit(&pa[i].ran_on, memory_order_acquire),
                i % 2);
    BT_CHECK_EQ(atomic_load_explicit(&pb[i].ran_on, memory_order_acquire),
                i % 3);
  }
  BT_CHECK_OK(bt_runtime_destroy(a));
  BT_CHECK_OK(bt_runtime_destroy(b));
}

/* A task that tries to destroy its own runtime, and one that destroys
 * another runtime from a worker (allowed). */
typedef struct self_destroy {
  bt__task task;
  bt_runtime *own, *other;
  int own_rc, other_rc;
  _Atomic int done;
} self_destroy;

static void self_destroy_run(bt__task *t) {
  self_destroy *s = (self_destroy *)t;
  s->own_rc = bt_runtime_destroy(s->own);
  s->other_rc = bt_runtime_destroy(s->other);
  /* release: pairs with the acquire in the test. */
  atomic_store_explicit(&s->done, 1, memory_order_release);
}

BT_TEST(destroy_from_worker_is_refused) {
  clear_env();
  bt_runtime *rt = make(1, BT_BIND_NONE, NULL);
  bt_runtime *other = make(1, BT_BIND_NONE, NULL);
  self_destroy s = {.task.run = self_destroy_run, .own = rt, .other = other};
  BT_CHECK_OK(bt__worker_post(rt, 0, &s.task));
  while (!atomic_load_explicit(&s.done, memory_order_acquire)) sched_yield();
  BT_CHECK_STATUS(s.own_rc, BT_ESTATE);
  BT_CHECK_STATUS(s.other_rc, BT_OK);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* run_one: a task on a worker runs the tasks queued behind it. */
typedef struct nested {
  bt__task task;
  probe *behind;
  int ran;
} nested;

static void nested_run(bt__task *t) {
  nested *n = (nested *)t;
  while (atomic_load_explicit(&n->behind->ran_on, memory_order_acquire) == -2)
    n->ran += bt__worker_run_one(bt__self_runtime(), bt_self());
}

BT_TEST(run_one_runs_queued_task) {
  clear_env();
  bt_runtime *rt = make(1, BT_BIND_NONE, NULL);
  gate g = {.task.run = gate_run};
  BT_CHECK_OK(bt__worker_post(rt, 0, &g.task));
  while (!atomic_load_explicit(&g.entered, memory_order_acquire)) sched_yield();
  probe behind;
  _Atomic int done = 0;
  probe_init(&behind, NULL, &done);
  nested n = {.task.run = nested_run, .behind = &behind};
  BT_CHECK_OK(bt__worker_post(rt, 0, &n.task));
  BT_CHECK_OK(bt__worker_post(rt, 0, &behind.task));
  BT_CHECK_EQ(bt__worker_load(rt, 0), 3);
  atomic_store_explicit(&g.open, 1, memory_order_release);
  wait_count(&done, 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  BT_CHECK_EQ(n.ran, 1);
  BT_CHECK_EQ(atomic_load_explicit(&behind.ran_on, memory_order_acquire), 0);
}

BT_TEST(least_loaded_prefers_idle) {
  clear_env();
  bt_runtime *rt = make(3, BT_BIND_NONE, NULL);
  gate g = {.task.run = gate_run};
  BT_CHECK_OK(bt__worker_post(rt, 0, &g.task));
  BT_CHECK_EQ(bt__least_loaded(rt, -1), 1);
  gate h = {.task.run = gate_run};
  BT_CHECK_OK(bt__worker_post(rt, 1, &h.task));
  BT_CHECK_EQ(bt__least_loaded(rt, -1), 2);
  atomic_store_explicit(&g.open, 1, memory_order_release);
  atomic_store_explicit(&h.open, 1, memory_order_release);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* A task moving from the queue to running never makes its worker look
 * idle: the load read by least-loaded stays >= 1 from the post until the
 * task is let go (the gap once failed least_loaded_prefers_idle in CI). */
BT_TEST(load_has_no_idle_gap_between_queue_and_run) {
  clear_env();
  bt_runtime *rt = make(1, BT_BIND_NONE, NULL);
  for (int round = 0; round < 200; round++) {
    gate g = {.task.run = gate_run};
    BT_CHECK_OK(bt__worker_post(rt, 0, &g.task));
    int seen_entered = 0;
    for (long i = 0; seen_entered < 50; i++) {
      BT_CHECK_CMP(bt__worker_load(rt, 0), >=, 1);
      if (atomic_load_explicit(&g.entered, memory_order_acquire))
        seen_entered++;
      if (i % 64 == 63) sched_yield(); /* let the worker in when oversubscribed */
    }
    atomic_store_explicit(&g.open, 1, memory_order_release);
    while (bt__worker_load(rt, 0) != 0) sched_yield();
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* Stress: many posters, many tasks, every task runs exactly once. */
typedef struct counted {
  bt__task task;
  _Atomic int runs;
  _Atomic int *done;
} counted;

static void counted_run(bt__task *t) {
  counted *c = (counted *)t;
  atomic_fetch_add_explicit(&c->runs, 1, memory_order_relaxed);
  /* release: pairs with the acquire in wait_count(). */
  atomic_fetch_add_explicit(c->done, 1, memory_order_release);
}

typedef struct poster {
  bt_runtime *rt;
  counted *tasks;
  int n, first;
} poster;

static void *poster_main(void *arg) {
  poster *p = arg;
  for (int i = 0; i < p->n; i++)
    BT_CHECK_OK(bt__worker_post(
        p->rt, (p->first + i) % bt_runtime_workers(p->rt), &p->tasks[i].task));
  return NULL;
}

BT_TEST_STRESS(many_posters) {
  clear_env();
  bt_runtime *rt = make(4, BT_BIND_NONE, NULL);
  enum { POSTERS = 4 };
  int per = (int)bt_test_scaled(20000);
  counted *tasks = calloc((size_t)(POSTERS * per), sizeof *tasks);
  BT_CHECK(tasks != NULL);
  _Atomic int done = 0;
  for (int i = 0; i < POSTERS * per; i++) {
    tasks[i].task.run = counted_run;
    tasks[i].done = &done;
  }
  pthread_t th[POSTERS];
  poster ps[POSTERS];
  for (int i = 0; i < POSTERS; i++) {
    ps[i] = (poster){rt, tasks + (size_t)i * per, per, i};
    BT_CHECK_EQ(pthread_create(&th[i], NULL, poster_main, &ps[i]), 0);
  }
  for (int i = 0; i < POSTERS; i++) BT_CHECK_EQ(pthread_join(th[i], NULL), 0);
  wait_count(&done, POSTERS * per);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  for (int i = 0; i < POSTERS * per; i++)
    BT_CHECK_EQ(atomic_load_explicit(&tasks[i].runs, memory_order_relaxed), 1);
  free(tasks);
}

/* ---- placement on synthetic and XML topologies ------------------------- */

#define TWO_NUMA "pack:2 [numa] core:4 pu:2"
/* Same shape, PUs numbered as many BIOSes do: the second PU of core k is
 * k + 8, so logical and OS indexes differ. */
#define TWO_NUMA_SHUFFLED \
  "pack:2 [numa] core:4 pu:2(indexes=0,8,1,9,2,10,3,11,4,12,5,13,6,14,7,15)"
#define SHUFFLED_XML BATON_TEST_DATA_DIR "/two_numa_shuffled.xml"

static struct hwloc_topology *load(const char *desc) {
  struct hwloc_topology *topo = NULL;
  BT_CHECK_OK(bt__topology_load(desc, &topo));
  BT_CHECK(topo != NULL);
  return topo;
}

static bt__placement place(struct hwloc_topology *topo, const char *allowed,
                           int workers, bt_bind bind) {
  struct hwloc_bitmap_s *set = NULL;
  if (allowed) BT_CHECK_OK(bt__cpuset_parse(allowed, &set));
  bt__placement p;
  BT_CHECK_OK(bt__place(topo, set, workers, bind, &p));
  bt__cpuset_free(set);
  return p;
}

static void check_set(const struct hwloc_bitmap_s *set, const char *want) {
  char got[256];
  bt__cpuset_format(set, got, sizeof got);
  BT_CHECK_STR(got, want);
}

/* Ids are contiguous per node and the node table agrees with the slots. */
static void check_contiguous(const bt__placement *p) {
  int id = 0;
  for (int n = 0; n < p->numa_nodes; n++) {
    BT_CHECK_EQ(p->numa[n].first_worker, id);
    BT_CHECK_CMP(p->numa[n].workers, >, 0);
    for (int i = 0; i < p->numa[n].workers; i++, id++) {
      BT_CHECK_EQ(p->slot[id].numa, n);
      BT_CHECK(bt__cpuset_isset(p->numa[n].cpuset, p->slot[id].pu_os));
    }
  }
  BT_CHECK_EQ(id, p->workers);
  BT_CHECK_OK(bt__placement_check(p));
}

BT_TEST_TOPO(two_numa_one_worker_per_core) {
  clear_env();
  bt_runtime *rt = make(0, BT_BIND_CORE, TWO_NUMA);
  BT_CHECK_EQ(bt_runtime_workers(rt), 8);
  BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 2);
  BT_CHECK_EQ(bt__runtime_is_this_machine(rt), 0);
  BT_CHECK_EQ(bt_runtime_bound(rt), 0); /* never binds a foreign topology */
  BT_CHECK_EQ(bt_runtime_oversubscribed(rt), 0);
  for (int w = 0; w < 8; w++) {
    BT_CHECK_EQ(bt_worker_numa(rt, w), w / 4);
    BT_CHECK_EQ(bt_worker_cpu(rt, w), 2 * w); /* the first PU of core w */
    BT_CHECK_EQ(rt->place.slot[w].core, w);
    char want[16];
    snprintf(want, sizeof want, "%d-%d", 2 * w, 2 * w + 1);
    check_set(rt->place.slot[w].bind_set, want);
  }
  check_contiguous(&rt->place);
  check_set(bt__runtime_numa_cpuset(rt, 0), "0-7");
  check_set(bt__runtime_numa_cpuset(rt, 1), "8-15");
  check_set(bt__runtime_numa_nodeset(rt, 1), "1");
  BT_CHECK_EQ(bt__runtime_numa_os_index(rt, 1), 1);
  BT_CHECK_EQ(bt__runtime_numa_from_os(rt, 1), 1);
  BT_CHECK_EQ(bt__runtime_numa_from_os(rt, 7), -1);
  BT_CHECK_EQ(bt_worker_numa(rt, 8), -1);
  BT_CHECK_EQ(bt_worker_cpu(rt, -1), -1);
  BT_CHECK(bt__least_loaded(rt, 1) >= 4);
  char line[128];
  BT_CHECK_OK(bt_worker_describe(rt, 5, line, sizeof line));
  BT_CHECK_STR(line,
               "worker 5: numa 1, core 5, pu 10 (os 10), would bind to 10-11");
  BT_CHECK_STATUS(bt_worker_describe(rt, 8, line, sizeof line), BT_EINVAL);

  /* The workers run even though nothing binds them. */
  probe p;
  _Atomic int done = 0;
  probe_init(&p, NULL, &done);
  BT_CHECK_OK(bt__worker_post(rt, 7, &p.task));
  wait_count(&done, 1);
  BT_CHECK_EQ(atomic_load_explicit(&p.ran_on, memory_order_acquire), 7);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST_TOPO(os_indexes_out_of_order) {
  clear_env();
  struct hwloc_topology *topo = load(TWO_NUMA_SHUFFLED);
  bt__placement p = place(topo, NULL, 0, BT_BIND_CORE);
  BT_CHECK_EQ(p.workers, 8);
  for (int w = 0; w < 8; w++) {
    BT_CHECK_EQ(p.slot[w].numa, w / 4);
    BT_CHECK_EQ(p.slot[w].pu, 2 * w);
    BT_CHECK_EQ(p.slot[w].pu_os, w);
    char want[16];
    snprintf(want, sizeof want, "%d,%d", w, w + 8);
    check_set(p.slot[w].bind_set, want);
  }
  bt__placement_free(&p);
  /* 16 workers: the second PUs (OS k + 8) come after every first PU. */
  p = place(topo, NULL, 16, BT_BIND_PU);
  for (int w = 0; w < 16; w++) {
    int node = w / 8, k = w % 8;
    int want = node * 4 + (k % 4) + (k >= 4 ? 8 : 0);
    BT_CHECK_EQ(p.slot[w].pu_os, want);
    char s[8];
    snprintf(s, sizeof s, "%d", want);
    check_set(p.slot[w].bind_set, s);
  }
  check_contiguous(&p);
  bt__placement_free(&p);
  bt__topology_free(topo);
}

BT_TEST_TOPO(xml_with_shuffled_numa_and_pus) {
  clear_env();
  bt_runtime *rt = make(0, BT_BIND_CORE, SHUFFLED_XML);
  BT_CHECK_EQ(bt__runtime_is_this_machine(rt), 0);
  BT_CHECK_EQ(bt_runtime_bound(rt), 0);
  BT_CHECK_EQ(bt_runtime_workers(rt), 4);
  BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 2);
  /* Node L#0 is OS node 1 and holds the even PUs. */
  BT_CHECK_EQ(bt__runtime_numa_os_index(rt, 0), 1);
  BT_CHECK_EQ(bt__runtime_numa_os_index(rt, 1), 0);
  BT_CHECK_EQ(bt__runtime_numa_from_os(rt, 0), 1);
  static const int cpu[4] = {0, 2, 1, 3};
  for (int w = 0; w < 4; w++) {
    BT_CHECK_EQ(bt_worker_numa(rt, w), w / 2);
    BT_CHECK_EQ(bt_worker_cpu(rt, w), cpu[w]);
  }
  check_set(rt->place.slot[0].bind_set, "0,4");
  check_set(bt__runtime_numa_cpuset(rt, 1), "1,3,5,7");
  BT_CHECK_OK(bt_runtime_destroy(rt));

  struct hwloc_topology *topo = load(SHUFFLED_XML);
  bt__placement p = place(topo, NULL, 8, BT_BIND_NUMA);
  static const int all[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (int w = 0; w < 8; w++) {
    BT_CHECK_EQ(p.slot[w].pu_os, all[w]);
    check_set(p.slot[w].bind_set, w < 4 ? "0,2,4,6" : "1,3,5,7");
  }
  bt__placement_free(&p);
  bt__topology_free(topo);
}

BT_TEST_TOPO(restricted_cpuset) {
  clear_env();
  struct hwloc_topology *topo = load(TWO_NUMA);
  /* Cores 2 and 3 whole, and the second PU of core 4 (node 1). */
  bt__placement p = place(topo, "4-7,9", 0, BT_BIND_CORE);
  BT_CHECK_EQ(p.cores, 3);
  BT_CHECK_EQ(p.pus, 5);
  BT_CHECK_EQ(p.workers, 3);
  BT_CHECK_EQ(p.numa_nodes, 2);
  BT_CHECK_EQ(p.slot[0].pu_os, 4);
  BT_CHECK_EQ(p.slot[1].pu_os, 6);
  BT_CHECK_EQ(p.slot[2].pu_os, 9);
  BT_CHECK_EQ(p.slot[2].numa, 1);
  check_set(p.slot[0].bind_set, "4-5");
  check_set(p.slot[2].bind_set, "9"); /* never outside the allowed set */
  check_set(p.numa[1].cpuset, "9");
  check_contiguous(&p);
  bt__placement_free(&p);

  /* Many workers: all of them stay within the allowed PUs. */
  p = place(topo, "4-7,9", 23, BT_BIND_NUMA);
  BT_CHECK_EQ(p.oversubscribed, 1);
  for (int w = 0; w < p.workers; w++) {
    int cpu = p.slot[w].pu_os;
    BT_CHECK(cpu == 4 || cpu == 5 || cpu == 6 || cpu == 7 || cpu == 9);
    check_set(p.slot[w].bind_set, p.slot[w].numa == 0 ? "4-7" : "9");
  }
  check_contiguous(&p);
  bt__placement_free(&p);

  /* Only node 1: the runtime has one NUMA node, OS index 1. */
  p = place(topo, "8-15", 0, BT_BIND_CORE);
  BT_CHECK_EQ(p.workers, 4);
  BT_CHECK_EQ(p.numa_nodes, 1);
  BT_CHECK_EQ(p.numa[0].os_index, 1);
  BT_CHECK_EQ(p.slot[0].pu_os, 8);
  bt__placement_free(&p);

  /* A cpuset with no PU of the topology. */
  struct hwloc_bitmap_s *none = NULL;
  BT_CHECK_OK(bt__cpuset_parse("40-47", &none));
  BT_CHECK_STATUS(bt__place(topo, none, 0, BT_BIND_CORE, &p), BT_ETOPO);
  bt__cpuset_free(none);
  BT_CHECK_STATUS(bt__cpuset_parse("zero", &none), BT_EINVAL);
  bt__topology_free(topo);
}

BT_TEST_TOPO(more_workers_than_pus_wraps) {
  clear_env();
  struct hwloc_topology *topo = load(TWO_NUMA);
  bt__placement p = place(topo, NULL, 20, BT_BIND_CORE);
  BT_CHECK_EQ(p.workers, 20);
  BT_CHECK_EQ(p.oversubscribed, 1);
  BT_CHECK_EQ(p.numa_nodes, 2);
  BT_CHECK_EQ(p.numa[0].workers, 10);
  /* Node 0: first PUs of cores 0-3, second PUs, then around again. */
  static const int node0[10] = {0, 2, 4, 6, 1, 3, 5, 7, 0, 2};
  for (int w = 0; w < 10; w++) {
    BT_CHECK_EQ(p.slot[w].pu_os, node0[w]);
    BT_CHECK_EQ(p.slot[w + 10].pu_os, node0[w] + 8);
  }
  check_contiguous(&p);
  bt__placement_free(&p);

  /* Between cores and PUs: one per core, then SMT siblings, no wrap. */
  p = place(topo, NULL, 12, BT_BIND_CORE);
  BT_CHECK_EQ(p.oversubscribed, 0);
  static const int twelve[12] = {0, 2, 4, 6, 1, 3, 8, 10, 12, 14, 9, 11};
  for (int w = 0; w < 12; w++) BT_CHECK_EQ(p.slot[w].pu_os, twelve[w]);
  bt__placement_free(&p);

  /* Fewer workers than cores: spread over both nodes, contiguous ids. */
  p = place(topo, NULL, 3, BT_BIND_CORE);
  BT_CHECK_EQ(p.numa_nodes, 2);
  BT_CHECK_EQ(p.slot[0].pu_os, 0);
  BT_CHECK_EQ(p.slot[1].pu_os, 2);
  BT_CHECK_EQ(p.slot[2].pu_os, 8);
  bt__placement_free(&p);
  p = place(topo, NULL, 1, BT_BIND_CORE);
  BT_CHECK_EQ(p.numa_nodes, 1);
  bt__placement_free(&p);
  bt__topology_free(topo);

  /* A runtime says so. */
  bt_runtime *rt = make(40, BT_BIND_CORE, "core:2 pu:2");
  BT_CHECK_EQ(bt_runtime_oversubscribed(rt), 1);
  BT_CHECK_EQ(bt_runtime_workers(rt), 40);
  BT_CHECK_EQ(bt_worker_cpu(rt, 4), 0);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST_TOPO(bind_kinds_differ) {
  clear_env();
  struct hwloc_topology *topo = load(TWO_NUMA);
  bt__placement core = place(topo, NULL, 0, BT_BIND_CORE);
  bt__placement pu = place(topo, NULL, 0, BT_BIND_PU);
  bt__placement numa = place(topo, NULL, 0, BT_BIND_NUMA);
  bt__placement none = place(topo, NULL, 0, BT_BIND_NONE);
  for (int w = 0; w < 8; w++) {
    /* The same slots whatever the binding... */
    BT_CHECK_EQ(pu.slot[w].pu_os, core.slot[w].pu_os);
    BT_CHECK_EQ(numa.slot[w].pu_os, core.slot[w].pu_os);
    BT_CHECK_EQ(none.slot[w].pu_os, core.slot[w].pu_os);
    BT_CHECK_EQ(none.slot[w].numa, core.slot[w].numa);
    /* ...but different sets to bind to. */
    char s[16];
    snprintf(s, sizeof s, "%d-%d", 2 * w, 2 * w + 1);
    check_set(core.slot[w].bind_set, s);
    snprintf(s, sizeof s, "%d", 2 * w);
    check_set(pu.slot[w].bind_set, s);
    check_set(numa.slot[w].bind_set, w < 4 ? "0-7" : "8-15");
    BT_CHECK(none.slot[w].bind_set == NULL);
  }
  /* The checker catches a worker moved to the wrong node or PU. */
  core.slot[3].numa = 1;
  BT_CHECK_STATUS(bt__placement_check(&core), BT_ESTATE);
  core.slot[3].numa = 0;
  core.slot[3].pu_os = 9;
  BT_CHECK_STATUS(bt__placement_check(&core), BT_ESTATE);
  core.slot[3].pu_os = 6;
  BT_CHECK_OK(bt__placement_check(&core));
  bt__placement_free(&core);
  bt__placement_free(&pu);
  bt__placement_free(&numa);
  bt__placement_free(&none);
  BT_CHECK_STATUS(bt__place(topo, NULL, 0, (bt_bind)9, &core), BT_EINVAL);
  BT_CHECK_STATUS(bt__place(topo, NULL, -2, BT_BIND_CORE, &core), BT_EINVAL);
  bt__topology_free(topo);

  /* On this machine, NONE runs unbound. */
  bt_runtime *rt = make(2, BT_BIND_NONE, NULL);
  BT_CHECK_EQ(bt__runtime_is_this_machine(rt), 1);
  BT_CHECK_EQ(bt_runtime_bound(rt), 0);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* ---- options and environment ------------------------------------------- */

BT_TEST_TOPO(env_overrides_options) {
  clear_env();
  setenv("BATON_TOPOLOGY", TWO_NUMA, 1);
  setenv("BATON_WORKERS", "6", 1);
  setenv("BATON_BIND", "numa", 1);
  bt_runtime *rt = make(2, BT_BIND_CORE, NULL);
  BT_CHECK_EQ(bt_runtime_workers(rt), 6);
  BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 2);
  BT_CHECK_EQ(bt__runtime_is_this_machine(rt), 0);
  BT_CHECK_EQ(rt->bind, BT_BIND_NUMA);
  check_set(rt->place.slot[0].bind_set, "0-7");
  BT_CHECK_EQ(bt_worker_numa(rt, 2), 0);
  BT_CHECK_EQ(bt_worker_numa(rt, 3), 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));

  /* An XML path through the environment; PU in any case. */
  setenv("BATON_TOPOLOGY", SHUFFLED_XML, 1);
  setenv("BATON_BIND", "PU", 1);
  unsetenv("BATON_WORKERS");
  BT_CHECK_OK(bt_runtime_create(NULL, &rt));
  BT_CHECK_EQ(bt_runtime_workers(rt), 4);
  BT_CHECK_EQ(rt->bind, BT_BIND_PU);
  BT_CHECK_EQ(bt__runtime_numa_os_index(rt, 0), 1);
  BT_CHECK_OK(bt_runtime_destroy(rt));

  /* Empty values leave the options alone. */
  setenv("BATON_TOPOLOGY", "", 1);
  setenv("BATON_WORKERS", "", 1);
  setenv("BATON_BIND", "", 1);
  bt_options o;
  bt_options in = {sizeof(bt_options), 3, BT_BIND_PU, TWO_NUMA};
  BT_CHECK_OK(bt__options_resolve(&in, &o));
  BT_CHECK_EQ(o.workers, 3);
  BT_CHECK_EQ(o.bind, BT_BIND_PU);
  BT_CHECK_STR(o.topology, TWO_NUMA);
  clear_env();
}

static void check_bad_env(const char *name, const char *value) {
  clear_env();
  setenv("BATON_TOPOLOGY", TWO_NUMA, 1); /* never this machine */
  setenv(name, value, 1);
  bt_runtime *rt = (bt_runtime *)&rt; /* must stay untouched */
  bt_runtime *before = rt;
  BT_CHECK_STATUS(bt_runtime_create(NULL, &rt), BT_EINVAL);
  BT_CHECK_PTR_EQ(rt, before);
  if (!strstr(bt_errmsg(), strcmp(name, "BATON_TOPOLOGY") ? name : value))
    bt_test_fail(__FILE__, __LINE__, "%s='%s': errmsg '%s' does not name it",
                 name, value, bt_errmsg());
  clear_env();
}

BT_TEST_TOPO(bad_env_is_einval) {
  check_bad_env("BATON_WORKERS", "0");
  check_bad_env("BATON_WORKERS", "-3");
  check_bad_env("BATON_WORKERS", "four");
  check_bad_env("BATON_WORKERS", "4x");
  check_bad_env("BATON_WORKERS", "99999999999");
  check_bad_env("BATON_BIND", "socket");
  check_bad_env("BATON_BIND", "cores");
  check_bad_env("BATON_TOPOLOGY", "pack:2 [numa] core:x");
  check_bad_env("BATON_TOPOLOGY", "/nonexistent/topology.xml");
  check_bad_env("BATON_TOPOLOGY", "missing.xml");
  check_bad_env("BATON_TOPOLOGY", BATON_TEST_DATA_DIR); /* a directory */
  check_bad_env("BATON_BIND_STRICT", "yes");
  {
    /* read once per process elsewhere: keep the caller's value */
    const char *was = getenv("BATON_DEBUG_CHECK");
    char *keep = was ? strdup(was) : NULL;
    check_bad_env("BATON_DEBUG_CHECK", "on");
    if (keep) setenv("BATON_DEBUG_CHECK", keep, 1);
    else unsetenv("BATON_DEBUG_CHECK");
    free(keep);
  }

  bt_runtime *rt = NULL;
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = -1;
  BT_CHECK_STATUS(bt_runtime_create(&o, &rt), BT_EINVAL);
  o = BT_OPTIONS_DEFAULT;
  o.bind = (bt_bind)17;
  BT_CHECK_STATUS(bt_runtime_create(&o, &rt), BT_EINVAL);
  o = BT_OPTIONS_DEFAULT;
  o.topology = "";
  BT_CHECK_STATUS(bt_runtime_create(&o, &rt), BT_EINVAL);
  BT_CHECK_STATUS(bt_runtime_create(NULL, NULL), BT_EINVAL);
  BT_CHECK(rt == NULL);
}

/* ---- binding on this machine ------------------------------------------- */

typedef struct bind_probe {
  bt__task task;
  char binding[256];
  int rc, cpu, ncpu;
  _Atomic int done;
} bind_probe;

static void bind_probe_run(bt__task *t) {
  bind_probe *b = (bind_probe *)t;
  b->rc = bt__topology_thread_binding(bt__runtime_topology(bt__self_runtime()),
                                      b->binding, sizeof b->binding);
  b->cpu = sched_getcpu();
  b->ncpu = bt__ncpu();
  /* release: pairs with the acquire in the test. */
  atomic_store_explicit(&b->done, 1, memory_order_release);
}

BT_TEST(binds_workers_to_cores) {
  clear_env();
  setenv("BATON_BIND_STRICT", "1", 1); /* a failed bind fails the case */
  bt_runtime *rt = make(2, BT_BIND_CORE, NULL);
  BT_CHECK_EQ(bt__runtime_is_this_machine(rt), 1);
  BT_CHECK_EQ(bt_runtime_bound(rt), 1);
  bind_probe b[2] = {{.task.run = bind_probe_run},
                     {.task.run = bind_probe_run}};
  for (int w = 0; w < 2; w++) BT_CHECK_OK(bt__worker_post(rt, w, &b[w].task));
  for (int w = 0; w < 2; w++) {
    while (!atomic_load_explicit(&b[w].done, memory_order_acquire))
      sched_yield();
    BT_CHECK_OK(b[w].rc);
    char want[256];
    bt__cpuset_format(rt->place.slot[w].bind_set, want, sizeof want);
    BT_CHECK_STR(b[w].binding, want);
    BT_CHECK(bt__cpuset_isset(rt->place.slot[w].bind_set, b[w].cpu));
    BT_CHECK(
        bt__cpuset_isset(rt->place.slot[w].bind_set, bt_worker_cpu(rt, w)));
    BT_CHECK(bt__cpuset_isset(rt->allowed, bt_worker_cpu(rt, w)));
    /* The spin policy counts the process's CPUs, not the worker's one. */
    cpu_set_t mine;
    BT_CHECK_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
    BT_CHECK_EQ(b[w].ncpu, CPU_COUNT(&mine));
  }
  /* The creating thread is left as it was. */
  char mine[256];
  BT_CHECK_OK(bt__topology_thread_binding(rt->topo, mine, sizeof mine));
  char allowed[256];
  bt__cpuset_format(rt->allowed, allowed, sizeof allowed);
  BT_CHECK_STR(mine, allowed);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  clear_env();
}

static int set_process_affinity(const cpu_set_t *set) {
  DIR *dir = opendir("/proc/self/task");
  if (!dir) return -1;
  int rc = 0;
  for (struct dirent *e; (e = readdir(dir));) {
    if (e->d_name[0] == '.') continue;
    pid_t tid = (pid_t)atoi(e->d_name);
    if (sched_setaffinity(tid, sizeof *set, set) != 0) rc = -1;
  }
  closedir(dir);
  return rc;
}

BT_TEST(respects_process_binding) {
  clear_env();
  cpu_set_t old, one;
  BT_CHECK_EQ(sched_getaffinity(0, sizeof old, &old), 0);
  if (CPU_COUNT(&old) < 2) {
    fprintf(stderr, "one CPU allowed: nothing to restrict\n");
    return;
  }
  int last = -1;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &old)) last = c;
  CPU_ZERO(&one);
  CPU_SET(last, &one);
  /* Like taskset -c <last>: every thread of the process (a sanitizer may
   * run its own) is restricted to that CPU. */
  BT_CHECK_EQ(set_process_affinity(&one), 0);
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(NULL, &rt));
  BT_CHECK_EQ(bt_runtime_workers(rt), 1);
  BT_CHECK_EQ(bt_worker_cpu(rt, 0), last);
  char allowed[32], want[32];
  bt__cpuset_format(rt->allowed, allowed, sizeof allowed);
  snprintf(want, sizeof want, "%d", last);
  BT_CHECK_STR(allowed, want);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  /* More workers than the one PU: oversubscribed, still only there. */
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = 3;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  BT_CHECK_EQ(bt_runtime_oversubscribed(rt), 1);
  for (int w = 0; w < 3; w++) BT_CHECK_EQ(bt_worker_cpu(rt, w), last);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  BT_CHECK_EQ(set_process_affinity(&old), 0);
}

typedef struct bad_bind {
  struct hwloc_topology *topo;
  struct hwloc_bitmap_s *set;
  int rc;
  char msg[512];
} bad_bind;

static void *bad_bind_main(void *arg) {
  bad_bind *b = arg;
  b->rc = bt__topology_bind_thread(b->topo, b->set);
  snprintf(b->msg, sizeof b->msg, "%s", bt_errmsg());
  return NULL;
}

BT_TEST(bind_failure_is_etopo_with_errno) {
  clear_env();
  bad_bind b = {.topo = load(NULL)};
  BT_CHECK_OK(bt__cpuset_parse("4000-4001", &b.set)); /* no such PUs */
  pthread_t th;
  BT_CHECK_EQ(pthread_create(&th, NULL, bad_bind_main, &b), 0);
  BT_CHECK_EQ(pthread_join(th, NULL), 0);
  BT_CHECK_STATUS(b.rc, BT_ETOPO);
  if (!strstr(b.msg, "4000-4001") || !strstr(b.msg, "errno"))
    bt_test_fail(__FILE__, __LINE__, "message '%s' lacks the set or errno",
                 b.msg);
  bt__cpuset_free(b.set);
  bt__topology_free(b.topo);
}

/* Stress for the idle handshake: a task hops from worker to worker, and
 * the main thread posts one task at a time with pauses that let workers
 * fall asleep. A lost wake-up hangs the case (CTest's timeout). */
typedef struct hop {
  bt__task task;
  bt_runtime *rt;
  _Atomic long left;
} hop;

static void hop_run(bt__task *t) {
  hop *h = (hop *)t;
  /* acq_rel: the last hop's decrement pairs with the test's acquire. */
  if (atomic_fetch_sub_explicit(&h->left, 1, memory_order_acq_rel) > 1)
    BT_CHECK_OK(
        bt__worker_post(h->rt, (bt_self() + 1) % bt_runtime_workers(h->rt), t));
}

BT_TEST_STRESS(sleep_wake_handshake) {
  clear_env();
  bt_runtime *rt = make(3, BT_BIND_NONE, NULL);
  long hops = bt_test_scaled(10000);
  hop h = {.task.run = hop_run, .rt = rt};
  atomic_init(&h.left, hops);
  BT_CHECK_OK(bt__worker_post(rt, 0, &h.task));
  while (atomic_load_explicit(&h.left, memory_order_acquire) > 0) sched_yield();

  long rounds = bt_test_scaled(1000);
  for (long i = 0; i < rounds; i++) {
    probe p;
    _Atomic int done = 0;
    probe_init(&p, NULL, &done);
    BT_CHECK_OK(bt__worker_post(rt, (int)(i % 3), &p.task));
    wait_count(&done, 1);
    if (i % 16 == 0) usleep(200); /* long enough for the workers to sleep */
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST_TOPO(topology_without_cores) {
  clear_env();
  /* Some platforms report no cores: each PU then counts as one. */
  struct hwloc_topology *topo = load("pack:2 [numa] pu:4");
  bt__placement p = place(topo, "1-6", 0, BT_BIND_CORE);
  BT_CHECK_EQ(p.cores, 6);
  BT_CHECK_EQ(p.workers, 6);
  BT_CHECK_EQ(p.numa_nodes, 2);
  for (int w = 0; w < 6; w++) {
    BT_CHECK_EQ(p.slot[w].pu_os, w + 1);
    BT_CHECK_EQ(p.slot[w].numa, w < 3 ? 0 : 1);
    char s[8];
    snprintf(s, sizeof s, "%d", w + 1);
    check_set(p.slot[w].bind_set, s);
  }
  check_contiguous(&p);
  bt__placement_free(&p);
  bt__topology_free(topo);
}

BT_TEST_TOPO(hwloc_env_substitute_never_binds) {
  clear_env();
  /* hwloc itself may replace this machine by a synthetic topology. */
  setenv("HWLOC_SYNTHETIC", TWO_NUMA, 1);
  bt_runtime *rt = NULL;
  BT_CHECK_OK(bt_runtime_create(NULL, &rt));
  BT_CHECK_EQ(bt__runtime_is_this_machine(rt), 0);
  BT_CHECK_EQ(bt_runtime_bound(rt), 0);
  BT_CHECK_EQ(bt_runtime_workers(rt), 8);
  BT_CHECK_EQ(bt_runtime_numa_nodes(rt), 2);
  BT_CHECK_OK(bt_runtime_destroy(rt));
  unsetenv("HWLOC_SYNTHETIC");
}

/* Properties of the placement over many shapes, worker counts and random
 * allowed cpusets: never outside the set, no sharing before it is needed,
 * every core used before SMT siblings, the checker's invariants. */
BT_TEST_TOPO(placement_properties) {
  clear_env();
  static const struct {
    const char *desc;
    int pus;
  } shapes[] = {
      {TWO_NUMA, 16},
      {TWO_NUMA_SHUFFLED, 16},
      {"pack:4 [numa] core:3 pu:2", 24},
      {"pack:2 l3:2 [numa] core:2 pu:4", 32},
      {"core:5 pu:1", 5},
  };
  unsigned seed = bt_test_seed();
  for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
    struct hwloc_topology *topo = load(shapes[t].desc);
    int npus = shapes[t].pus;
    for (int trial = 0; trial < 40; trial++) {
      char allowed[512] = "";
      int chosen[64] = {0}, nchosen = 0;
      for (int pu = 0; pu < npus; pu++) {
        seed = seed * 1103515245u + 12345u;
        if (trial == 0 || (seed >> 16) % 3 != 0) {
          chosen[pu] = 1;
          nchosen++;
          size_t n = strlen(allowed);
          snprintf(allowed + n, sizeof allowed - n, "%s%d", n ? "," : "", pu);
        }
      }
      if (nchosen == 0) continue;
      seed = seed * 1103515245u + 12345u;
      int workers = (int)((seed >> 16) % (unsigned)(2 * nchosen + 3));
      bt__placement p = place(topo, allowed, workers, BT_BIND_CORE);
      BT_CHECK_OK(bt__placement_check(&p));
      BT_CHECK_EQ(p.pus, nchosen);
      BT_CHECK_EQ(p.workers, workers ? workers : p.cores);
      BT_CHECK_EQ(p.oversubscribed, p.workers > p.pus);
      int per_pu[64] = {0}, per_core[64] = {0};
      for (int w = 0; w < p.workers; w++) {
        BT_CHECK(chosen[p.slot[w].pu_os]);
        BT_CHECK(bt__cpuset_isset(p.slot[w].bind_set, p.slot[w].pu_os));
        per_pu[p.slot[w].pu_os]++;
        per_core[p.slot[w].core]++;
      }
      int cores_used = 0;
      for (int i = 0; i < 64; i++) {
        if (per_core[i]) cores_used++;
        if (p.workers <= p.cores) BT_CHECK_CMP(per_core[i], <=, 1);
        if (p.workers <= p.pus) BT_CHECK_CMP(per_pu[i], <=, 1);
        /* Wrapping spreads evenly over the PUs. */
        BT_CHECK_CMP(per_pu[i], <=, (p.workers + p.pus - 1) / p.pus);
      }
      BT_CHECK_EQ(cores_used, p.workers < p.cores ? p.workers : p.cores);
      bt__placement_free(&p);
    }
    bt__topology_free(topo);
  }
}
