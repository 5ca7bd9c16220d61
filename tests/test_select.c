/* SPDX-License-Identifier: BSD-3-Clause */
/* test_select.c: bt_select (baton/chan.h), after the select scenarios of
 * Go's runtime/chan_test.go and select tests. */
#include "test.h"
#include "token.h"
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "core_int.h"

#define SLOW_BUILD BT_TEST_SANITIZED /* 5-20x slower: scale loops down */
#define SCALED(n) (SLOW_BUILD ? ((n) / 10 > 0 ? (n) / 10 : 1) : (n))

static bt_chan *mk(size_t cap) {
  bt_chan *ch = NULL;
  BT_CHECK_OK(bt_chan_create(&bt_type_i64, cap, &ch));
  return ch;
}

/* ---- basics ----------------------------------------------------------------
 */

BT_TEST(arguments) {
  int chosen = -5;
  int64_t v;
  bt_chan *ch = mk(1);
  bt_case bad_op[] = {{ch, 7, &v}};
  bt_case no_elem[] = {{ch, BT_OP_RECV, NULL}};
  BT_CHECK_STATUS(bt_select(bad_op, 1, 0, &chosen), BT_EINVAL);
  BT_CHECK_STATUS(bt_select(no_elem, 1, 0, &chosen), BT_EINVAL);
  BT_CHECK_STATUS(bt_select(NULL, 1, 0, &chosen), BT_EINVAL);
  BT_CHECK_STATUS(bt_select(bad_op, -1, 0, &chosen), BT_EINVAL);
  BT_CHECK_STATUS(bt_select(no_elem, 1, 0, NULL), BT_EINVAL);
  BT_CHECK_EQ(chosen, -5);
  /* No case at all: a poll would block, a wait times out, forever is
   * refused (Go's empty select blocks for ever). */
  BT_CHECK_STATUS(bt_select(NULL, 0, 0, &chosen), BT_EAGAIN);
  BT_CHECK_STATUS(bt_select(NULL, 0, 1000000, &chosen), BT_ETIMEDOUT);
  BT_CHECK_STATUS(bt_select(NULL, 0, -1, &chosen), BT_EINVAL);
  BT_CHECK_EQ(chosen, -5);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST(ready_case_is_taken) {
  bt_chan *a = mk(1), *b = mk(1), *c = mk(0);
  int64_t x = 11, ra = 0, rb = 0, rc = 0;
  BT_CHECK_OK(bt_send(b, &x));
  bt_case cases[] = {{a, BT_OP_RECV, &ra},
                     {NULL, BT_OP_RECV, &rc},
                     {b, BT_OP_RECV, &rb},
                     {c, BT_OP_RECV, &rc}};
  int chosen = -1;
  BT_CHECK_OK(bt_select(cases, 4, 0, &chosen));
  BT_CHECK_EQ(chosen, 2);
  BT_CHECK_EQ(rb, 11);
  chosen = -1;
  BT_CHECK_STATUS(bt_select(cases, 4, 0, &chosen), BT_EAGAIN);
  BT_CHECK_EQ(chosen, -1);
  int64_t t0 = bt__now_ns();
  BT_CHECK_STATUS(bt_select(cases, 4, 2000000, &chosen), BT_ETIMEDOUT);
  BT_CHECK_CMP(bt__now_ns() - t0, >=, 2000000);
  BT_CHECK_EQ(chosen, -1);
  /* A send case that fits. */
  int64_t y = 22;
  bt_case send[] = {{c, BT_OP_SEND, &y}, {a, BT_OP_SEND, &y}};
  BT_CHECK_OK(bt_select(send, 2, -1, &chosen));
  BT_CHECK_EQ(chosen, 1);
  BT_CHECK_OK(bt_recv(a, &ra));
  BT_CHECK_EQ(ra, 22);
  for (int i = 0; i < 3; i++)
    BT_CHECK_OK(bt__chan_check((bt_chan *[]){a, b, c}[i]));
  BT_CHECK_OK(bt_chan_release(a));
  BT_CHECK_OK(bt_chan_release(b));
  BT_CHECK_OK(bt_chan_release(c));
}

BT_TEST(closed_channel_cases) {
  bt_chan *open_ = mk(0), *closed = mk(2);
  int64_t x = 5, v = -1;
  BT_CHECK_OK(bt_send(closed, &x));
  BT_CHECK_OK(bt_chan_close(closed));
  bt_case cases[] = {{open_, BT_OP_RECV, &v}, {closed, BT_OP_RECV, &v}};
  int chosen = -1;
  /* Buffered elements first, then closed. */
  BT_CHECK_OK(bt_select(cases, 2, -1, &chosen));
  BT_CHECK_EQ(chosen, 1);
  BT_CHECK_EQ(v, 5);
  chosen = -1;
  v = -1;
  BT_CHECK_STATUS(bt_select(cases, 2, -1, &chosen), BT_ECLOSED);
  BT_CHECK_EQ(chosen, 1);
  BT_CHECK_EQ(v, -1);
  /* A send case on a closed channel is ready too, and fails. */
  bt_case send[] = {{open_, BT_OP_SEND, &x}, {closed, BT_OP_SEND, &x}};
  chosen = -1;
  BT_CHECK_STATUS(bt_select(send, 2, 0, &chosen), BT_ECLOSED);
  BT_CHECK_EQ(chosen, 1);
  BT_CHECK_OK(bt_chan_release(open_));
  BT_CHECK_OK(bt_chan_release(closed));
}

typedef struct closer {
  bt_chan *ch;
  int ms;
} closer;

static void *close_later(void *p) {
  closer *c = p;
  bt_test_nap_ms(c->ms);
  BT_CHECK_OK(bt_chan_close(c->ch));
  return NULL;
}

BT_TEST(close_wakes_blocked_select) {
  bt_chan *a = mk(0), *b = mk(3);
  int64_t v = -1, x = 1;
  for (int i = 0; i < 3; i++) BT_CHECK_OK(bt_send(b, &x));
  closer c = {a, 5};
  pthread_t t;
  bt_test_spawn(&t, close_later, &c);
  /* b is full, a is empty: nothing ready until a closes. */
  bt_case cases[] = {{b, BT_OP_SEND, &x}, {a, BT_OP_RECV, &v}};
  int chosen = -1;
  BT_CHECK_STATUS(bt_select(cases, 2, -1, &chosen), BT_ECLOSED);
  BT_CHECK_EQ(chosen, 1);
  bt_test_join(t);
  BT_CHECK_OK(bt__chan_check(a));
  BT_CHECK_OK(bt__chan_check(b));
  BT_CHECK_EQ(bt_chan_len(b), 3);
  BT_CHECK_OK(bt_chan_release(a));
  BT_CHECK_OK(bt_chan_release(b));
}

/* ---- fairness --------------------------------------------------------------
 * Each count is binomial(T, p). We fail when one is more than 6 standard
 * deviations from T*p: a correct select fails such a check with probability
 * below 2e-9 per count (normal tail; T is large enough for the
 * approximation), so the false-failure budget of a whole run is below 1e-8.
 */
static void check_binomial(long count, long trials, double p) {
  double mean = trials * p, sd = sqrt(trials * p * (1 - p));
  if (fabs(count - mean) > 6 * sd)
    bt_test_fail(__FILE__, __LINE__,
                 "unfair: %ld of %ld trials, expected %.1f +- 6*%.1f", count,
                 trials, mean, sd);
}

/* Go: TestSelectFairness. Two buffered channels always ready, two
 * unbuffered never ready. */
BT_TEST(select_fairness) {
  const long trials = 10000;
  bt_chan *c1 = mk((size_t)trials + 1), *c2 = mk((size_t)trials + 1);
  bt_chan *c3 = mk(0), *c4 = mk(0);
  int64_t one = 1, two = 2;
  for (long i = 0; i < trials + 1; i++) {
    BT_CHECK_OK(bt_send(c1, &one));
    BT_CHECK_OK(bt_send(c2, &two));
  }
  int64_t b;
  bt_case cases[] = {{c3, BT_OP_RECV, &b},
                     {c4, BT_OP_RECV, &b},
                     {c1, BT_OP_RECV, &b},
                     {c2, BT_OP_RECV, &b}};
  long cnt1 = 0, cnt2 = 0;
  for (long i = 0; i < trials; i++) {
    int chosen;
    BT_CHECK_OK(bt_select(cases, 4, -1, &chosen));
    if (b == 1)
      cnt1++;
    else if (b == 2)
      cnt2++;
    else
      BT_CHECK(!"unexpected value");
  }
  check_binomial(cnt1, trials, 0.5);
  check_binomial(cnt2, trials, 0.5);
  bt_chan *all[] = {c1, c2, c3, c4};
  for (int i = 0; i < 4; i++) BT_CHECK_OK(bt_chan_release(all[i]));
}

/* Uniform among k ready cases, k = 2..6, the same channel named twice
 * included (each of its cases counts on its own). */
BT_TEST(uniform_among_ready_cases) {
  const long trials = SCALED(12000);
  for (int k = 2; k <= 6; k++) {
    bt_chan *ch[6];
    bt_case cases[7];
    int64_t v;
    for (int i = 0; i < k; i++) {
      ch[i] = mk(1);
      cases[i] = (bt_case){ch[i], BT_OP_RECV, &v};
    }
    cases[k] = (bt_case){ch[0], BT_OP_RECV, &v}; /* duplicate of case 0 */
    long counts[7] = {0};
    int64_t x = 3;
    for (int i = 0; i < k; i++) BT_CHECK_OK(bt_send(ch[i], &x));
    for (long t = 0; t < trials; t++) {
      int chosen;
      BT_CHECK_OK(bt_select(cases, k + 1, 0, &chosen));
      counts[chosen]++;
      BT_CHECK_OK(bt_send(cases[chosen].chan, &x));
    }
    for (int i = 0; i <= k; i++)
      check_binomial(counts[i], trials, 1.0 / (k + 1));
    for (int i = 0; i < k; i++) BT_CHECK_OK(bt_chan_release(ch[i]));
  }
}

/* Go: TestPseudoRandomSend: a select of two sends on one channel picks
 * both. The bound (each more than n/10 of n = 100) fails a fair select
 * with probability about 3e-17. */
typedef struct collector {
  bt_chan *ch;
  int n;
  int64_t got[100];
} collector;

static void *collect(void *p) {
  collector *c = p;
  for (int i = 0; i < c->n; i++) BT_CHECK_OK(bt_recv(c->ch, &c->got[i]));
  return NULL;
}

BT_TEST(pseudo_random_send) {
  enum { N = 100 };
  size_t caps[] = {0, N};
  for (int k = 0; k < 2; k++) {
    collector c = {.ch = mk(caps[k]), .n = N};
    pthread_t t;
    bt_test_spawn(&t, collect, &c);
    int64_t zero = 0, one = 1;
    bt_case cases[] = {{c.ch, BT_OP_SEND, &zero}, {c.ch, BT_OP_SEND, &one}};
    for (int i = 0; i < N; i++) {
      int chosen;
      BT_CHECK_OK(bt_select(cases, 2, -1, &chosen));
    }
    bt_test_join(t);
    int n0 = 0, n1 = 0;
    for (int i = 0; i < N; i++) {
      n0 += c.got[i] == 0;
      n1 += c.got[i] == 1;
    }
    BT_CHECK_EQ(n0 + n1, N);
    BT_CHECK_CMP(n0, >, N / 10);
    BT_CHECK_CMP(n1, >, N / 10);
    BT_CHECK_OK(bt_chan_release(c.ch));
  }
}

/* ---- Go: TestSelfSelect: send and receive on one channel in one select,
 * from two threads: no crash, no deadlock, and on an unbuffered channel a
 * thread never receives its own value. ------------------------------------ */

typedef struct self_arg {
  bt_chan *ch;
  int64_t p;
  int unbuffered;
  _Atomic int *self_receives;
} self_arg;

static void *self_select(void *q) {
  self_arg *a = q;
  for (int i = 0; i < 1000; i++) {
    int64_t v = -1;
    bt_case cases[2] = {{a->ch, BT_OP_SEND, &a->p}, {a->ch, BT_OP_RECV, &v}};
    if (!(a->p == 0 || i % 2 == 0)) {
      bt_case t = cases[0];
      cases[0] = cases[1];
      cases[1] = t;
    }
    int chosen;
    BT_CHECK_OK(bt_select(cases, 2, -1, &chosen));
    if (cases[chosen].op == BT_OP_RECV && a->unbuffered && v == a->p)
      atomic_fetch_add(a->self_receives, 1);
  }
  return NULL;
}

BT_TEST(self_select) {
  size_t caps[] = {0, 10};
  for (int k = 0; k < 2; k++) {
    _Atomic int self_receives = 0;
    bt_chan *ch = mk(caps[k]);
    self_arg a[2];
    pthread_t t[2];
    for (int p = 0; p < 2; p++) {
      a[p] = (self_arg){ch, p, caps[k] == 0, &self_receives};
      bt_test_spawn(&t[p], self_select, &a[p]);
    }
    for (int p = 0; p < 2; p++) bt_test_join(t[p]);
    BT_CHECK_EQ(atomic_load(&self_receives), 0);
    BT_CHECK_OK(bt__chan_check(ch));
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

/* ---- Go: TestSelectDuplicateChannel: a select waiting twice on c must
 * leave c's queue intact when another channel completes it. ------------ */

typedef struct dup_arg {
  bt_chan *c, *d, *e;
  _Atomic int queued;
} dup_arg;

static void *dup_select(void *p) {
  dup_arg *a = p;
  int64_t v;
  bt_case cases[] = {
      {a->c, BT_OP_RECV, &v}, {a->c, BT_OP_RECV, &v}, {a->d, BT_OP_RECV, &v}};
  int chosen;
  atomic_store(&a->queued, 1);
  BT_CHECK_OK(bt_select(cases, 3, -1, &chosen));
  BT_CHECK_EQ(chosen, 2);
  BT_CHECK_EQ(v, 7);
  int64_t nine = 9;
  BT_CHECK_OK(bt_send(a->e, &nine));
  return NULL;
}

static void *dup_plain(void *p) {
  dup_arg *a = p;
  int64_t v;
  atomic_store(&a->queued, 2);
  BT_CHECK_OK(bt_recv(a->c, &v));
  BT_CHECK_EQ(v, 8);
  return NULL;
}

BT_TEST(duplicate_channel) {
  dup_arg a = {.c = mk(0), .d = mk(0), .e = mk(0)};
  pthread_t ta, tb;
  bt_test_spawn(&ta, dup_select, &a);
  while (atomic_load(&a.queued) != 1) bt_test_nap_ms(1);
  bt_test_nap_ms(2); /* let A queue on c first */
  bt_test_spawn(&tb, dup_plain, &a);
  while (atomic_load(&a.queued) != 2) bt_test_nap_ms(1);
  bt_test_nap_ms(2); /* let B queue on c */
  int64_t seven = 7, eight = 8, v;
  BT_CHECK_OK(bt_send(a.d, &seven)); /* wakes A, which unqueues from c */
  BT_CHECK_OK(bt_recv(a.e, &v));
  BT_CHECK_EQ(v, 9);
  BT_CHECK_OK(bt__chan_check(a.c));
  BT_CHECK_OK(bt_send(a.c, &eight)); /* must reach B */
  bt_test_join(ta);
  bt_test_join(tb);
  BT_CHECK_OK(bt_chan_release(a.c));
  BT_CHECK_OK(bt_chan_release(a.d));
  BT_CHECK_OK(bt_chan_release(a.e));
}

/* ---- Go: TestNonblockSelectRace(2): a nonblocking select must see a case
 * that became ready before a blocking select on the same channels ran.
 * A persistent helper replaces the goroutine per iteration. -------------- */

typedef struct nbs_arg {
  bt_chan *_Atomic c1, *_Atomic c2;
  _Atomic int go, done, failures;
  int rounds;
} nbs_arg;

static void *nbs_helper(void *p) {
  nbs_arg *a = p;
  for (int r = 1; r <= a->rounds; r++) {
    while (atomic_load(&a->go) != r) sched_yield();
    int64_t v;
    bt_case cases[] = {{atomic_load(&a->c1), BT_OP_RECV, &v},
                       {atomic_load(&a->c2), BT_OP_RECV, &v}};
    int chosen;
    int rc = bt_select(cases, 2, 0, &chosen);
    if (rc == BT_EAGAIN) atomic_fetch_add(&a->failures, 1);
    atomic_store(&a->done, r);
  }
  return NULL;
}

static void nonblock_select_race(int close_c2) {
  nbs_arg a = {.rounds = SCALED(5000)};
  pthread_t t;
  bt_test_spawn(&t, nbs_helper, &a);
  for (int r = 1; r <= a.rounds; r++) {
    bt_chan *c1 = mk(1), *c2 = mk(1);
    int64_t one = 1, v;
    BT_CHECK_OK(bt_send(c1, &one));
    atomic_store(&a.c1, c1);
    atomic_store(&a.c2, c2);
    atomic_store(&a.go, r);
    if (close_c2)
      BT_CHECK_OK(bt_chan_close(c2));
    else
      BT_CHECK_OK(bt_send(c2, &one));
    bt_case cases[] = {{c1, BT_OP_RECV, &v}, {c2, BT_OP_RECV, &v}};
    int chosen;
    int rc = bt_select(cases, 2, -1, &chosen);
    BT_CHECK(rc == BT_OK || rc == BT_ECLOSED);
    while (atomic_load(&a.done) != r) sched_yield();
    BT_CHECK_OK(bt_chan_release(c1));
    BT_CHECK_OK(bt_chan_release(c2));
  }
  bt_test_join(t);
  BT_CHECK_EQ(atomic_load(&a.failures), 0);
}

BT_TEST(nonblock_select_race) {
  nonblock_select_race(0);
}
BT_TEST(nonblock_select_race_close) {
  nonblock_select_race(1);
}

/* ---- Go: TestSelectStress: plain senders and receivers on four channels
 * meet a select sender and a select receiver that drop each channel's case
 * (NULL) once its quota is done. ----------------------------------------- */

enum { SS_CH = 4 };

typedef struct ss_arg {
  bt_chan *c[SS_CH];
  int n, k;
  int64_t sum_recv; /* per receiving thread */
} ss_arg;

typedef struct ss_thread {
  ss_arg *a;
  int k;
  int64_t sum;
} ss_thread;

static void *ss_plain_send(void *p) {
  ss_thread *t = p;
  for (int64_t i = 0; i < t->a->n; i++) BT_CHECK_OK(bt_send(t->a->c[t->k], &i));
  return NULL;
}

static void *ss_plain_recv(void *p) {
  ss_thread *t = p;
  for (int i = 0; i < t->a->n; i++) {
    int64_t v;
    BT_CHECK_OK(bt_recv(t->a->c[t->k], &v));
    t->sum += v;
  }
  return NULL;
}

static void *ss_select_send(void *p) {
  ss_thread *t = p;
  int64_t next[SS_CH] = {0};
  bt_case cases[SS_CH];
  for (int k = 0; k < SS_CH; k++)
    cases[k] = (bt_case){t->a->c[k], BT_OP_SEND, &next[k]};
  for (int left = SS_CH * t->a->n; left > 0; left--) {
    int chosen;
    BT_CHECK_OK(bt_select(cases, SS_CH, -1, &chosen));
    if (++next[chosen] == t->a->n) cases[chosen].chan = NULL;
  }
  return NULL;
}

static void *ss_select_recv(void *p) {
  ss_thread *t = p;
  int got[SS_CH] = {0};
  int64_t v;
  bt_case cases[SS_CH];
  for (int k = 0; k < SS_CH; k++)
    cases[k] = (bt_case){t->a->c[k], BT_OP_RECV, &v};
  for (int left = SS_CH * t->a->n; left > 0; left--) {
    int chosen;
    BT_CHECK_OK(bt_select(cases, SS_CH, -1, &chosen));
    t->sum += v;
    if (++got[chosen] == t->a->n) cases[chosen].chan = NULL;
  }
  return NULL;
}

BT_TEST(select_stress) {
  ss_arg a = {.n = SCALED(10000)};
  size_t caps[SS_CH] = {0, 0, 2, 3};
  for (int k = 0; k < SS_CH; k++) a.c[k] = mk(caps[k]);
  ss_thread ts[2 * SS_CH + 2];
  pthread_t th[2 * SS_CH + 2];
  for (int k = 0; k < SS_CH; k++) {
    ts[k] = (ss_thread){&a, k, 0};
    bt_test_spawn(&th[k], ss_plain_send, &ts[k]);
    ts[SS_CH + k] = (ss_thread){&a, k, 0};
    bt_test_spawn(&th[SS_CH + k], ss_plain_recv, &ts[SS_CH + k]);
  }
  ts[2 * SS_CH] = (ss_thread){&a, 0, 0};
  bt_test_spawn(&th[2 * SS_CH], ss_select_send, &ts[2 * SS_CH]);
  ts[2 * SS_CH + 1] = (ss_thread){&a, 0, 0};
  bt_test_spawn(&th[2 * SS_CH + 1], ss_select_recv, &ts[2 * SS_CH + 1]);
  int64_t sum = 0;
  for (int i = 0; i < 2 * SS_CH + 2; i++) {
    bt_test_join(th[i]);
    sum += ts[i].sum;
  }
  /* 8 senders' worth (4 plain + the select's 4) of 0..n-1 were received. */
  BT_CHECK_EQ(sum, 2LL * SS_CH * ((int64_t)a.n * (a.n - 1) / 2));
  for (int k = 0; k < SS_CH; k++) {
    BT_CHECK_EQ(bt_chan_len(a.c[k]), 0);
    BT_CHECK_OK(bt__chan_check(a.c[k]));
    BT_CHECK_OK(bt_chan_release(a.c[k]));
  }
}

/* Select timeouts racing completions: every element is delivered once. */
typedef struct str_arg {
  bt_chan *c[2];
  int n;
  _Atomic int64_t got, sum;
} str_arg;

static void *str_recv(void *p) {
  str_arg *a = p;
  int64_t v;
  bt_case cases[] = {{a->c[0], BT_OP_RECV, &v}, {a->c[1], BT_OP_RECV, &v}};
  for (;;) {
    int chosen;
    int rc = bt_select(cases, 2, 15000, &chosen);
    if (rc == BT_ETIMEDOUT) continue;
    if (rc == BT_ECLOSED) {
      cases[chosen].chan = NULL;
      if (!cases[0].chan && !cases[1].chan) return NULL;
      continue;
    }
    BT_CHECK_OK(rc);
    atomic_fetch_add(&a->got, 1);
    atomic_fetch_add(&a->sum, v);
  }
}

static void *str_send(void *p) {
  str_arg *a = p;
  for (int64_t i = 1; i <= a->n;) {
    bt_case cases[] = {{a->c[0], BT_OP_SEND, &i}, {a->c[1], BT_OP_SEND, &i}};
    int chosen;
    int rc = bt_select(cases, 2, 15000, &chosen);
    if (rc == BT_ETIMEDOUT) continue;
    BT_CHECK_OK(rc);
    i++;
  }
  return NULL;
}

BT_TEST(timeouts_race_completions) {
  str_arg a = {.c = {mk(0), mk(1)}, .n = SCALED(20000)};
  pthread_t r[2], s[2];
  for (int i = 0; i < 2; i++) bt_test_spawn(&r[i], str_recv, &a);
  for (int i = 0; i < 2; i++) bt_test_spawn(&s[i], str_send, &a);
  for (int i = 0; i < 2; i++) bt_test_join(s[i]);
  BT_CHECK_OK(bt_chan_close(a.c[0]));
  BT_CHECK_OK(bt_chan_close(a.c[1]));
  for (int i = 0; i < 2; i++) bt_test_join(r[i]);
  BT_CHECK_EQ(atomic_load(&a.got), 2LL * a.n);
  BT_CHECK_EQ(atomic_load(&a.sum), (long long)a.n * (a.n + 1));
  BT_CHECK_OK(bt_chan_release(a.c[0]));
  BT_CHECK_OK(bt_chan_release(a.c[1]));
}

/* An unbuffered and a buffered channel, each with plain senders and
 * receivers (which meet in the unbuffered channel's lock-free rendezvous
 * cell) and selects over both, some with timeouts that race those
 * meetings: every value arrives exactly once. */
typedef struct mix_arg {
  bt_chan *u, *b; /* capacity 0 and 3 */
  int64_t n;
  _Atomic unsigned char *seen; /* 3 n values */
  _Atomic int64_t got;
} mix_arg;

typedef struct mix_thread {
  mix_arg *a;
  int role;
} mix_thread;

static void mix_take(mix_arg *a, int64_t v) {
  BT_CHECK(v >= 0 && v < 3 * a->n);
  atomic_fetch_add(&a->seen[v], 1);
  atomic_fetch_add(&a->got, 1);
}

static void *mix_run(void *p) {
  mix_thread *t = p;
  mix_arg *a = t->a;
  int64_t v;
  int chosen, rc;
  switch (t->role) {
    case 0: /* plain sends on u: 0 .. n-1 */
      for (v = 0; v < a->n; v++) BT_CHECK_OK(bt_send(a->u, &v));
      break;
    case 1: /* selects sending n .. 2n-1 on u or b, half with a timeout */
      for (v = a->n; v < 2 * a->n;) {
        bt_case c[] = {{a->u, BT_OP_SEND, &v}, {a->b, BT_OP_SEND, &v}};
        rc = bt_select(c, 2, v % 2 ? 3000 : -1, &chosen);
        if (rc == BT_ETIMEDOUT) continue;
        BT_CHECK_OK(rc);
        v++;
      }
      break;
    case 2: /* plain sends on b: 2n .. 3n-1 */
      for (v = 2 * a->n; v < 3 * a->n; v++) BT_CHECK_OK(bt_send(a->b, &v));
      break;
    case 3: /* plain receives on u */
    case 4: /* plain receives on b */
      while ((rc = bt_recv(t->role == 3 ? a->u : a->b, &v)) == BT_OK)
        mix_take(a, v);
      BT_CHECK_STATUS(rc, BT_ECLOSED);
      break;
    default: { /* selects receiving from both, half with a timeout */
      bt_case c[] = {{a->u, BT_OP_RECV, &v}, {a->b, BT_OP_RECV, &v}};
      for (int i = 0; c[0].chan || c[1].chan; i++) {
        rc = bt_select(c, 2, i % 2 ? 2000 : -1, &chosen);
        if (rc == BT_ETIMEDOUT) continue;
        if (rc == BT_ECLOSED) {
          c[chosen].chan = NULL;
          continue;
        }
        BT_CHECK_OK(rc);
        mix_take(a, v);
      }
    }
  }
  return NULL;
}

BT_TEST(rendezvous_and_buffered_mixed) {
  mix_arg a = {.u = mk(0), .b = mk(3), .n = SCALED(6000)};
  a.seen = calloc((size_t)(3 * a.n), 1);
  BT_CHECK(a.seen != NULL);
  enum { NT = 7 }; /* roles 0-2 send, 3-6 receive (two selects) */
  mix_thread ts[NT];
  pthread_t th[NT];
  for (int i = NT - 1; i >= 0; i--) {
    ts[i] = (mix_thread){&a, i < 6 ? i : 5};
    bt_test_spawn(&th[i], mix_run, &ts[i]);
  }
  for (int i = 0; i < 3; i++) bt_test_join(th[i]);
  BT_CHECK_OK(bt_chan_close(a.u));
  BT_CHECK_OK(bt_chan_close(a.b));
  for (int i = 3; i < NT; i++) bt_test_join(th[i]);
  BT_CHECK_EQ(atomic_load(&a.got), 3 * a.n);
  for (int64_t v = 0; v < 3 * a.n; v++) BT_CHECK_EQ(a.seen[v], 1);
  BT_CHECK_OK(bt__chan_check(a.u));
  BT_CHECK_OK(bt__chan_check(a.b));
  BT_CHECK_OK(bt_chan_release(a.u));
  BT_CHECK_OK(bt_chan_release(a.b));
  free((void *)a.seen);
}

/* ---- handles through select ---------------------------------------------- */

/* The handle type: tests/common/token.h. */

BT_TEST(select_moves_handles) {
  bt_test_tokens_reset();
  bt_chan *full = NULL, *room = NULL, *closed = NULL;
  BT_CHECK_OK(bt_chan_create(&bt_test_token_type, 1, &full));
  BT_CHECK_OK(bt_chan_create(&bt_test_token_type, 1, &room));
  BT_CHECK_OK(bt_chan_create(&bt_test_token_type, 1, &closed));
  uint32_t t0 = 0, t1 = 1, t2 = 2, t3 = 3;
  BT_CHECK_OK(bt_send(full, &t0));
  BT_CHECK_OK(bt_chan_close(closed));
  /* Only `room` can take its element: the other moved elements come back. */
  bt_case cases[] = {{full, BT_OP_SEND, &t1}, {room, BT_OP_SEND, &t2}};
  int chosen = -1;
  BT_CHECK_OK(bt_select(cases, 2, -1, &chosen));
  BT_CHECK_EQ(chosen, 1);
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[1]), bt__thread_id());
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[2]), 0);
  /* Nothing ready: everything comes back. */
  bt_case none[] = {{full, BT_OP_SEND, &t1}, {room, BT_OP_SEND, &t3}};
  BT_CHECK_STATUS(bt_select(none, 2, 0, &chosen), BT_EAGAIN);
  BT_CHECK_STATUS(bt_select(none, 1, 1000000, &chosen), BT_ETIMEDOUT);
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[1]), bt__thread_id());
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[3]), bt__thread_id());
  /* A closed send case: the element stays with the sender. */
  bt_case cl[] = {{closed, BT_OP_SEND, &t3}};
  BT_CHECK_STATUS(bt_select(cl, 1, -1, &chosen), BT_ECLOSED);
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[3]), bt__thread_id());
  /* A refused element is the select's answer; nothing moves. */
  bt_case refused[] = {{room, BT_OP_RECV, &t0}, {full, BT_OP_SEND, &t2}};
  chosen = -1;
  BT_CHECK_STATUS(bt_select(refused, 2, -1, &chosen), BT_EMOVED);
  BT_CHECK_EQ(chosen, 1);
  BT_CHECK_EQ(bt_chan_len(room), 1);
  /* The same element in two send cases moves once. */
  BT_CHECK_OK(bt_recv(full, &t0));
  bt_case twice[] = {{full, BT_OP_SEND, &t1}, {full, BT_OP_SEND, &t1}};
  BT_CHECK_OK(bt_select(twice, 2, -1, &chosen));
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[1]), 0);
  uint32_t got = 99;
  bt_case rc[] = {{room, BT_OP_RECV, &got}};
  BT_CHECK_OK(bt_select(rc, 1, -1, &chosen));
  BT_CHECK_EQ(got, 2);
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[2]), bt__thread_id());
  BT_CHECK_EQ(atomic_load(&bt_test_token_sends) - atomic_load(&bt_test_token_recvs), 1);
  BT_CHECK_OK(bt_chan_release(full));
  BT_CHECK_OK(bt_chan_release(room));
  BT_CHECK_OK(bt_chan_release(closed));
}

/* ---- remote channels in select ------------------------------------------- */

typedef struct loop {
  bt_chan *from, *to;
  _Atomic int sends, recvs;
} loop;

static void *loop_run(void *p) {
  loop *l = p;
  int64_t v;
  while (bt_recv(l->from, &v) == BT_OK) BT_CHECK_OK(bt_send(l->to, &v));
  return NULL;
}
static void after_send(void *ctx) {
  atomic_fetch_add(&((loop *)ctx)->sends, 1);
}
static void after_recv(void *ctx) {
  atomic_fetch_add(&((loop *)ctx)->recvs, 1);
}
static int loop_close(void *ctx) {
  return bt_chan_close(((loop *)ctx)->from);
}

BT_TEST(select_on_remote_channel) {
  loop l = {.from = mk(2), .to = mk(2)};
  bt__chan_remote r = {.out = l.from,
                       .in = l.to,
                       .after_send = after_send,
                       .after_recv = after_recv,
                       .close = loop_close,
                       .ctx = &l};
  bt_chan *rc = NULL, *local = mk(0);
  BT_CHECK_OK(bt__chan_create_remote(&bt_type_i64, &r, &rc));
  pthread_t t;
  bt_test_spawn(&t, loop_run, &l);
  for (int64_t i = 0; i < 50; i++) {
    int64_t v = -1;
    int chosen;
    bt_case send[] = {{local, BT_OP_SEND, &i}, {rc, BT_OP_SEND, &i}};
    BT_CHECK_OK(bt_select(send, 2, -1, &chosen));
    BT_CHECK_EQ(chosen, 1);
    bt_case recv[] = {{local, BT_OP_RECV, &v}, {rc, BT_OP_RECV, &v}};
    BT_CHECK_OK(bt_select(recv, 2, -1, &chosen));
    BT_CHECK_EQ(chosen, 1);
    BT_CHECK_EQ(v, i);
  }
  BT_CHECK_EQ(atomic_load(&l.sends), 50);
  BT_CHECK_EQ(atomic_load(&l.recvs), 50);
  BT_CHECK_OK(bt_chan_close(rc));
  bt_test_join(t);
  BT_CHECK_OK(bt_chan_release(rc));
  BT_CHECK_OK(bt_chan_release(local));
  BT_CHECK_OK(bt_chan_release(l.from));
  BT_CHECK_OK(bt_chan_release(l.to));
}
