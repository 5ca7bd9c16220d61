/* SPDX-License-Identifier: BSD-3-Clause */
/* test_chan.c: channels (baton/chan.h), after the scenarios of Go's
 * runtime/chan_test.go, plus transfer-type hooks and remote channels. */
#include "test.h"
#include "token.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "chan_int.h" /* recv_waiting: a receiver queued */
#include "core_int.h"

#define SLOW_BUILD BT_TEST_SANITIZED /* 5-20x slower: scale loops down */
#define SCALED(n) (SLOW_BUILD ? ((n) / 10 > 0 ? (n) / 10 : 1) : (n))

static const size_t caps[] = {0, 1, 2, 3, 7, 64, 199};
enum { NCAPS = sizeof caps / sizeof caps[0] };

static bt_chan *mk(const bt_type *t, size_t cap) {
  bt_chan *ch = NULL;
  BT_CHECK_OK(bt_chan_create(t, cap, &ch));
  BT_CHECK(ch != NULL);
  return ch;
}

static void check_chan(bt_chan *ch) {
  BT_CHECK_OK(bt__chan_check(ch));
}

/* ---- creation, arguments ------------------------------------------------ */

BT_TEST(create_and_arguments) {
  bt_chan *ch = (bt_chan *)0x1;
  BT_CHECK_STATUS(bt_chan_create(NULL, 1, &ch), BT_EINVAL);
  BT_CHECK_STATUS(bt_chan_create(&bt_type_i64, 1, NULL), BT_EINVAL);
  BT_CHECK_PTR_EQ(ch, (bt_chan *)0x1); /* outputs only on success */
  ch = mk(&bt_type_i64, 5);
  BT_CHECK_EQ(bt_chan_cap(ch), 5);
  BT_CHECK_EQ(bt_chan_len(ch), 0);
  BT_CHECK_PTR_EQ(bt_chan_type(ch), &bt_type_i64);
  int64_t v = 1;
  BT_CHECK_STATUS(bt_send(NULL, &v), BT_EINVAL);
  BT_CHECK_STATUS(bt_send(ch, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_recv(ch, NULL), BT_EINVAL);
  BT_CHECK_OK(bt_send(ch, &v));
  BT_CHECK_EQ(bt_chan_len(ch), 1);
  check_chan(ch);
  bt_chan_retain(ch);
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_EQ(bt_chan_len(ch), 1);
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_chan_release(NULL));
}

/* ---- nonblocking operations (Go: TestChan, "nonblocking") --------------- */

BT_TEST(nonblocking_empty_and_full) {
  for (int k = 0; k < NCAPS; k++) {
    size_t cap = caps[k];
    bt_chan *ch = mk(&bt_type_i64, cap);
    int64_t v = -1;
    BT_CHECK_STATUS(bt_try_recv(ch, &v), BT_EAGAIN);
    BT_CHECK_EQ(v, -1);
    BT_CHECK_STATUS(bt_recv_timeout(ch, &v, 0), BT_EAGAIN);
    for (size_t i = 0; i < cap; i++) {
      int64_t x = (int64_t)i;
      BT_CHECK_OK(bt_try_send(ch, &x));
    }
    BT_CHECK_EQ(bt_chan_len(ch), cap);
    int64_t x = 12345;
    BT_CHECK_STATUS(bt_try_send(ch, &x), BT_EAGAIN);
    BT_CHECK_STATUS(bt_send_timeout(ch, &x, 0), BT_EAGAIN);
    check_chan(ch);
    for (size_t i = 0; i < cap; i++) {
      BT_CHECK_OK(bt_try_recv(ch, &v));
      BT_CHECK_EQ(v, (int64_t)i);
    }
    BT_CHECK_STATUS(bt_try_recv(ch, &v), BT_EAGAIN);
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

/* ---- FIFO (Go: TestChan, "FIFO") ---------------------------------------- */

typedef struct fifo_arg {
  bt_chan *ch;
  int n;
} fifo_arg;

static void *fifo_sender(void *p) {
  fifo_arg *a = p;
  for (int64_t i = 0; i < a->n; i++) BT_CHECK_OK(bt_send(a->ch, &i));
  return NULL;
}

BT_TEST(fifo) {
  for (int k = 0; k < NCAPS; k++) {
    bt_chan *ch = mk(&bt_type_i64, caps[k]);
    fifo_arg a = {ch, 100};
    pthread_t t;
    bt_test_spawn(&t, fifo_sender, &a);
    for (int64_t i = 0; i < 100; i++) {
      int64_t v;
      BT_CHECK_OK(bt_recv(ch, &v));
      BT_CHECK_EQ(v, i);
    }
    bt_test_join(t);
    check_chan(ch);
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

/* ---- close -------------------------------------------------------------- */

BT_TEST(close_drains_then_closed) {
  for (int k = 0; k < NCAPS; k++) {
    size_t cap = caps[k];
    bt_chan *ch = mk(&bt_type_i64, cap);
    for (int64_t i = 0; i < (int64_t)cap; i++) BT_CHECK_OK(bt_send(ch, &i));
    BT_CHECK_OK(bt_chan_close(ch));
    BT_CHECK_STATUS(bt_chan_close(ch), BT_ECLOSED);
    int64_t x = 99;
    BT_CHECK_STATUS(bt_send(ch, &x), BT_ECLOSED);
    BT_CHECK_STATUS(bt_try_send(ch, &x), BT_ECLOSED);
    BT_CHECK_EQ(bt_chan_len(ch), cap);
    for (int64_t i = 0; i < (int64_t)cap; i++) {
      int64_t v;
      BT_CHECK_OK(bt_recv(ch, &v));
      BT_CHECK_EQ(v, i);
    }
    int64_t v = -7;
    BT_CHECK_STATUS(bt_recv(ch, &v), BT_ECLOSED);
    BT_CHECK_STATUS(bt_try_recv(ch, &v), BT_ECLOSED);
    BT_CHECK_STATUS(bt_recv_timeout(ch, &v, 1000000), BT_ECLOSED);
    BT_CHECK_EQ(v, -7); /* untouched */
    check_chan(ch);
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

typedef struct closer_arg {
  bt_chan *ch;
  int op;
  _Atomic int started, finished;
} closer_arg;

static void *blocked_op(void *p) {
  closer_arg *a = p;
  int64_t v = 5;
  atomic_fetch_add(&a->started, 1);
  int rc = a->op == BT_OP_SEND ? bt_send(a->ch, &v) : bt_recv(a->ch, &v);
  BT_CHECK_STATUS(rc, BT_ECLOSED);
  atomic_fetch_add(&a->finished, 1);
  return NULL;
}

static void close_wakes(int op) {
  enum { N = 4 };
  for (int k = 0; k < NCAPS; k++) {
    size_t cap = caps[k];
    closer_arg a = {.ch = mk(&bt_type_i64, cap), .op = op};
    if (op == BT_OP_SEND)
      for (int64_t i = 0; i < (int64_t)cap; i++) BT_CHECK_OK(bt_send(a.ch, &i));
    pthread_t t[N];
    for (int i = 0; i < N; i++) bt_test_spawn(&t[i], blocked_op, &a);
    while (atomic_load(&a.started) < N) bt_test_nap_ms(1);
    bt_test_nap_ms(5);
    BT_CHECK_EQ(atomic_load(&a.finished), 0);
    check_chan(a.ch);
    BT_CHECK_OK(bt_chan_close(a.ch));
    for (int i = 0; i < N; i++) bt_test_join(t[i]);
    BT_CHECK_EQ(atomic_load(&a.finished), N);
    BT_CHECK_EQ(bt_chan_len(a.ch), op == BT_OP_SEND ? cap : 0);
    check_chan(a.ch);
    BT_CHECK_OK(bt_chan_release(a.ch));
  }
}

BT_TEST(close_wakes_receivers) {
  close_wakes(BT_OP_RECV);
}
BT_TEST(close_wakes_senders) {
  close_wakes(BT_OP_SEND);
}

/* ---- many senders, many receivers (Go: TestChan, "Send 1000 integers in 4
 * goroutines, ensure that we receive what we send") ---------------------- */

enum { MP_N = 1000, MP_P = 4 };

typedef struct mpmc_arg {
  bt_chan *ch;
  int counts[MP_N]; /* per receiver */
} mpmc_arg;

static void *mp_sender(void *p) {
  bt_chan *ch = p;
  for (int64_t i = 0; i < MP_N; i++) BT_CHECK_OK(bt_send(ch, &i));
  return NULL;
}

static void *mp_receiver(void *p) {
  mpmc_arg *a = p;
  int64_t v;
  int rc;
  while ((rc = bt_recv(a->ch, &v)) == BT_OK) {
    BT_CHECK(v >= 0 && v < MP_N);
    a->counts[v]++;
  }
  BT_CHECK_STATUS(rc, BT_ECLOSED);
  return NULL;
}

BT_TEST(four_senders_four_receivers) {
  for (int k = 0; k < NCAPS; k++) {
    bt_chan *ch = mk(&bt_type_i64, caps[k]);
    static mpmc_arg r[MP_P];
    pthread_t ts[MP_P], tr[MP_P];
    for (int i = 0; i < MP_P; i++) {
      memset(&r[i], 0, sizeof r[i]);
      r[i].ch = ch;
      bt_test_spawn(&tr[i], mp_receiver, &r[i]);
    }
    for (int i = 0; i < MP_P; i++) bt_test_spawn(&ts[i], mp_sender, ch);
    for (int i = 0; i < MP_P; i++) bt_test_join(ts[i]);
    BT_CHECK_OK(bt_chan_close(ch));
    for (int i = 0; i < MP_P; i++) bt_test_join(tr[i]);
    for (int v = 0; v < MP_N; v++) {
      int total = 0;
      for (int i = 0; i < MP_P; i++) total += r[i].counts[v];
      BT_CHECK_EQ(total, MP_P);
    }
    check_chan(ch);
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

/* ---- Go: TestMultiConsumer: 23 workers, 271828 items, count and sum ----- */

typedef struct mc_arg {
  bt_chan *q, *r;
} mc_arg;

static void *mc_worker(void *p) {
  mc_arg *a = p;
  int64_t v;
  while (bt_recv(a->q, &v) == BT_OK) {
    /* Go's test multiplies the work by sleeping; a yield does the same. */
    if (v % 1024 == 0) sched_yield();
    BT_CHECK_OK(bt_send(a->r, &v));
  }
  return NULL;
}

BT_TEST(multi_consumer) {
  enum { NWORK = 23 };
  const int64_t niter = SCALED(271828);
  mc_arg a = {mk(&bt_type_i64, NWORK * 3), mk(&bt_type_i64, NWORK * 3)};
  pthread_t t[NWORK];
  for (int i = 0; i < NWORK; i++) bt_test_spawn(&t[i], mc_worker, &a);
  int64_t expect = 0, n = 0, s = 0;
  pthread_t feeder;
  /* The feeder sends 0..niter-1 while this thread collects. */
  fifo_arg fa = {a.q, (int)niter};
  bt_test_spawn(&feeder, fifo_sender, &fa);
  for (int64_t i = 0; i < niter; i++) expect += i;
  for (int64_t i = 0; i < niter; i++) {
    int64_t v;
    BT_CHECK_OK(bt_recv(a.r, &v));
    n++;
    s += v;
  }
  bt_test_join(feeder);
  BT_CHECK_OK(bt_chan_close(a.q));
  for (int i = 0; i < NWORK; i++) bt_test_join(t[i]);
  BT_CHECK_EQ(n, niter);
  BT_CHECK_EQ(s, expect);
  BT_CHECK_EQ(bt_chan_len(a.r), 0);
  BT_CHECK_OK(bt_chan_release(a.q));
  BT_CHECK_OK(bt_chan_release(a.r));
}

/* ---- Go: TestNonblockRecvRace: a closed channel holding a value is always
 * ready for a nonblocking receive. A persistent helper thread replaces the
 * goroutine per iteration. ------------------------------------------------ */

typedef struct race_arg {
  bt_chan *_Atomic ch;
  _Atomic int go, done, failures;
  int rounds;
} race_arg;

static void *race_receiver(void *p) {
  race_arg *a = p;
  for (int r = 1; r <= a->rounds; r++) {
    while (atomic_load(&a->go) != r) sched_yield();
    int64_t v;
    int rc = bt_try_recv(atomic_load(&a->ch), &v);
    if (rc != BT_OK && rc != BT_ECLOSED) atomic_fetch_add(&a->failures, 1);
    atomic_store(&a->done, r);
  }
  return NULL;
}

BT_TEST(nonblock_recv_race) {
  race_arg a = {.rounds = SCALED(4000)};
  pthread_t t;
  bt_test_spawn(&t, race_receiver, &a);
  for (int r = 1; r <= a.rounds; r++) {
    bt_chan *ch = mk(&bt_type_i64, 1);
    int64_t one = 1;
    BT_CHECK_OK(bt_send(ch, &one));
    atomic_store(&a.ch, ch);
    atomic_store(&a.go, r);
    BT_CHECK_OK(bt_chan_close(ch));
    int64_t v;
    int rc = bt_recv(ch, &v); /* value or closed, depending on the race */
    BT_CHECK(rc == BT_OK || rc == BT_ECLOSED);
    while (atomic_load(&a.done) != r) sched_yield();
    BT_CHECK_OK(bt_chan_release(ch));
  }
  bt_test_join(t);
  BT_CHECK_EQ(atomic_load(&a.failures), 0);
}

/* ---- close racing senders and receivers: a send either succeeds and its
 * element is received, or fails with BT_ECLOSED; nothing else. ----------- */

typedef struct cr_arg {
  bt_chan *ch;
  _Atomic int64_t sent, sent_sum, received, received_sum;
} cr_arg;

static void *cr_sender(void *p) {
  cr_arg *a = p;
  for (int64_t i = 1;; i++) {
    int rc = bt_send(a->ch, &i);
    if (rc == BT_ECLOSED) return NULL;
    BT_CHECK_OK(rc);
    atomic_fetch_add(&a->sent, 1);
    atomic_fetch_add(&a->sent_sum, i);
  }
}

static void *cr_receiver(void *p) {
  cr_arg *a = p;
  int64_t v;
  int rc;
  while ((rc = bt_recv(a->ch, &v)) == BT_OK) {
    atomic_fetch_add(&a->received, 1);
    atomic_fetch_add(&a->received_sum, v);
  }
  BT_CHECK_STATUS(rc, BT_ECLOSED);
  return NULL;
}

BT_TEST(close_races_senders_and_receivers) {
  int rounds = SCALED(15);
  for (int k = 0; k < NCAPS; k++) {
    for (int r = 0; r < rounds; r++) {
      cr_arg a = {.ch = mk(&bt_type_i64, caps[k])};
      pthread_t s[3], rv[2];
      for (int i = 0; i < 2; i++) bt_test_spawn(&rv[i], cr_receiver, &a);
      for (int i = 0; i < 3; i++) bt_test_spawn(&s[i], cr_sender, &a);
      while (atomic_load(&a.sent) < 50 + r * 7) sched_yield();
      BT_CHECK_OK(bt_chan_close(a.ch));
      for (int i = 0; i < 3; i++) bt_test_join(s[i]);
      for (int i = 0; i < 2; i++) bt_test_join(rv[i]);
      BT_CHECK_EQ(atomic_load(&a.received), atomic_load(&a.sent));
      BT_CHECK_EQ(atomic_load(&a.received_sum), atomic_load(&a.sent_sum));
      BT_CHECK_EQ(bt_chan_len(a.ch), 0);
      check_chan(a.ch);
      BT_CHECK_OK(bt_chan_release(a.ch));
    }
  }
}

/* ---- Go test/chan/daisy-chain.go: 100 unbuffered channels in a chain ---- */

typedef struct link_arg {
  bt_chan *left, *right;
} link_arg;

static void *whisper(void *p) {
  link_arg *a = p;
  int64_t v;
  BT_CHECK_OK(bt_recv(a->right, &v));
  v++;
  BT_CHECK_OK(bt_send(a->left, &v));
  return NULL;
}

BT_TEST(daisy_chain) {
  enum { N = 100 };
  bt_chan *ch[N + 1];
  link_arg links[N];
  pthread_t t[N];
  for (int i = 0; i <= N; i++) ch[i] = mk(&bt_type_i64, 0);
  for (int i = 0; i < N; i++) {
    links[i] = (link_arg){ch[i], ch[i + 1]};
    bt_test_spawn(&t[i], whisper, &links[i]);
  }
  int64_t one = 1, v = 0;
  BT_CHECK_OK(bt_send(ch[N], &one));
  BT_CHECK_OK(bt_recv(ch[0], &v));
  BT_CHECK_EQ(v, N + 1);
  for (int i = 0; i < N; i++) bt_test_join(t[i]);
  for (int i = 0; i <= N; i++) BT_CHECK_OK(bt_chan_release(ch[i]));
}

/* ---- timeouts ----------------------------------------------------------- */

BT_TEST(timeouts) {
  for (int k = 0; k < NCAPS; k++) {
    size_t cap = caps[k];
    bt_chan *ch = mk(&bt_type_i64, cap);
    int64_t v = -1;
    int64_t t0 = bt__now_ns();
    BT_CHECK_STATUS(bt_recv_timeout(ch, &v, 2000000), BT_ETIMEDOUT);
    BT_CHECK_CMP(bt__now_ns() - t0, >=, 2000000);
    BT_CHECK_EQ(v, -1);
    for (int64_t i = 0; i < (int64_t)cap; i++) BT_CHECK_OK(bt_send(ch, &i));
    int64_t x = 42;
    t0 = bt__now_ns();
    BT_CHECK_STATUS(bt_send_timeout(ch, &x, 2000000), BT_ETIMEDOUT);
    BT_CHECK_CMP(bt__now_ns() - t0, >=, 2000000);
    BT_CHECK_EQ(bt_chan_len(ch), cap);
    check_chan(ch); /* the timed-out waiters left the queues */
    for (int64_t i = 0; i < (int64_t)cap; i++) {
      BT_CHECK_OK(bt_recv_timeout(ch, &v, -1));
      BT_CHECK_EQ(v, i);
    }
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

static void *late_sender(void *p) {
  bt_test_nap_ms(5);
  int64_t v = 77;
  BT_CHECK_OK(bt_send(p, &v));
  return NULL;
}

BT_TEST(timeout_satisfied_before_deadline) {
  bt_chan *ch = mk(&bt_type_i64, 0);
  pthread_t t;
  bt_test_spawn(&t, late_sender, ch);
  int64_t v = 0;
  BT_CHECK_OK(bt_recv_timeout(ch, &v, 10LL * 1000000000));
  BT_CHECK_EQ(v, 77);
  bt_test_join(t);
  BT_CHECK_OK(bt_chan_release(ch));
}

/* Timeouts racing completions: each element is delivered exactly once,
 * whether the receiver gives up or not. */
typedef struct tr_arg {
  bt_chan *ch;
  int n;
  _Atomic int64_t received, sum;
} tr_arg;

static void *impatient_receiver(void *p) {
  tr_arg *a = p;
  for (;;) {
    int64_t v;
    int rc = bt_recv_timeout(a->ch, &v, 20000);
    if (rc == BT_ECLOSED) return NULL;
    if (rc == BT_ETIMEDOUT) continue;
    BT_CHECK_OK(rc);
    atomic_fetch_add(&a->received, 1);
    atomic_fetch_add(&a->sum, v);
  }
}

static void *impatient_sender(void *p) {
  tr_arg *a = p;
  for (int64_t i = 1; i <= a->n;) {
    int rc = bt_send_timeout(a->ch, &i, 20000);
    if (rc == BT_ETIMEDOUT) continue;
    BT_CHECK_OK(rc);
    i++;
  }
  return NULL;
}

BT_TEST(timeouts_race_completions) {
  for (int k = 0; k < 3; k++) {
    tr_arg a = {.ch = mk(&bt_type_i64, caps[k]), .n = SCALED(20000)};
    pthread_t s[2], r[2];
    for (int i = 0; i < 2; i++) bt_test_spawn(&r[i], impatient_receiver, &a);
    for (int i = 0; i < 2; i++) bt_test_spawn(&s[i], impatient_sender, &a);
    for (int i = 0; i < 2; i++) bt_test_join(s[i]);
    BT_CHECK_OK(bt_chan_close(a.ch));
    for (int i = 0; i < 2; i++) bt_test_join(r[i]);
    BT_CHECK_EQ(atomic_load(&a.received), 2LL * a.n);
    BT_CHECK_EQ(atomic_load(&a.sum), (long long)a.n * (a.n + 1));
    check_chan(a.ch);
    BT_CHECK_OK(bt_chan_release(a.ch));
  }
}

/* ---- capacity 0: the lock-free rendezvous cell and the queues ----------- */

/* A send on an unbuffered channel completes only once a receiver took the
 * element: with no receiver at all, the sender must still be blocked (in
 * the cell, spinning or asleep) however long we look. */
typedef struct lonely_arg {
  bt_chan *ch;
  _Atomic int returned;
} lonely_arg;

static void *lonely_sender(void *p) {
  lonely_arg *a = p;
  int64_t v = 42;
  BT_CHECK_OK(bt_send(a->ch, &v));
  atomic_store(&a->returned, 1);
  return NULL;
}

static void *lonely_receiver(void *p) {
  lonely_arg *a = p;
  int64_t v = 0;
  BT_CHECK_OK(bt_recv(a->ch, &v));
  BT_CHECK_EQ(v, 43);
  atomic_store(&a->returned, 1);
  return NULL;
}

BT_TEST(rendezvous_waits_for_partner) {
  for (int naps = 0; naps < 3; naps++) { /* spinning, then asleep */
    bt_chan *ch = mk(&bt_type_i64, 0);
    lonely_arg a = {.ch = ch};
    pthread_t t;
    bt_test_spawn(&t, lonely_sender, &a);
    bt_test_nap_ms(naps * 3);
    BT_CHECK_EQ(atomic_load(&a.returned), 0);
    int64_t v = 0;
    BT_CHECK_OK(bt_recv(ch, &v));
    BT_CHECK_EQ(v, 42);
    bt_test_join(t);
    BT_CHECK_EQ(atomic_load(&a.returned), 1);
    /* Nothing else was left behind: a try finds no partner either way. */
    BT_CHECK_STATUS(bt_try_recv(ch, &v), BT_EAGAIN);
    BT_CHECK_STATUS(bt_try_send(ch, &v), BT_EAGAIN);

    a.returned = 0;
    bt_test_spawn(&t, lonely_receiver, &a);
    bt_test_nap_ms(naps * 3);
    BT_CHECK_EQ(atomic_load(&a.returned), 0);
    v = 43;
    BT_CHECK_OK(bt_send(ch, &v));
    bt_test_join(t);
    BT_CHECK_EQ(atomic_load(&a.returned), 1);
    check_chan(ch);
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

/* Two threads bounce values over two unbuffered channels, blocking only,
 * mixing plain operations (lock-free, through the cell) with selects and
 * timed ones (which queue under the lock): a partner that enters the cell
 * while the other queues must still be met, or both wait for ever (the
 * case then times out). */
typedef struct pp_arg {
  bt_chan *ab, *ba;
  long trips;
} pp_arg;

static int pp_op(bt_chan *ch, int op, int64_t *v, long i) {
  int chosen;
  bt_case c = {ch, op, v};
  switch (i % 4) {
    case 0:
    case 1:
      return op == BT_OP_SEND ? bt_send(ch, v) : bt_recv(ch, v);
    case 2:
      return bt_select(&c, 1, -1, &chosen);
    default:
      return op == BT_OP_SEND ? bt_send_timeout(ch, v, INT64_MAX / 2)
                              : bt_recv_timeout(ch, v, INT64_MAX / 2);
  }
}

static void *pp_pong(void *p) {
  pp_arg *a = p;
  for (long i = 0; i < a->trips; i++) {
    int64_t v = -1;
    BT_CHECK_OK(pp_op(a->ab, BT_OP_RECV, &v, i / 2));
    BT_CHECK_EQ(v, i);
    v = -v;
    BT_CHECK_OK(pp_op(a->ba, BT_OP_SEND, &v, i / 3));
  }
  return NULL;
}

BT_TEST(rendezvous_ping_pong) {
  pp_arg a = {mk(&bt_type_i64, 0), mk(&bt_type_i64, 0), SCALED(20000)};
  pthread_t t;
  bt_test_spawn(&t, pp_pong, &a);
  for (long i = 0; i < a.trips; i++) {
    int64_t v = i;
    BT_CHECK_OK(pp_op(a.ab, BT_OP_SEND, &v, i / 5));
    BT_CHECK_OK(pp_op(a.ba, BT_OP_RECV, &v, i / 7));
    BT_CHECK_EQ(v, -i);
  }
  bt_test_join(t);
  check_chan(a.ab);
  check_chan(a.ba);
  BT_CHECK_OK(bt_chan_release(a.ab));
  BT_CHECK_OK(bt_chan_release(a.ba));
}

/* Unequal numbers of senders and receivers, each mixing blocking, timed
 * (timeouts short enough to race the cell's completions) and try
 * operations: every value arrives exactly once, and a timed-out or
 * refused send keeps its value for the next attempt. */
enum { RZ_S = 5, RZ_R = 3 };

typedef struct rz_arg {
  bt_chan *ch;
  int id;
  int64_t per; /* values per sender */
  _Atomic unsigned char *seen;
  _Atomic int64_t *received;
} rz_arg;

static int rz_op(bt_chan *ch, int op, int64_t *v, int64_t i) {
  switch (i % 4) {
    case 0:
      return op == BT_OP_SEND ? bt_send(ch, v) : bt_recv(ch, v);
    case 1:
      return op == BT_OP_SEND ? bt_try_send(ch, v) : bt_try_recv(ch, v);
    default: /* 1, 2 .. 20 us: around the cell's spin */
      return op == BT_OP_SEND ? bt_send_timeout(ch, v, 1000 * (i % 20 + 1))
                              : bt_recv_timeout(ch, v, 1000 * (i % 20 + 1));
  }
}

static void *rz_sender(void *p) {
  rz_arg *a = p;
  for (int64_t s = 0, i = a->id; s < a->per; i++) {
    int64_t v = a->id * a->per + s;
    int rc = rz_op(a->ch, BT_OP_SEND, &v, i);
    if (rc == BT_EAGAIN || rc == BT_ETIMEDOUT) {
      BT_CHECK_EQ(v, a->id * a->per + s); /* still ours */
      continue;
    }
    BT_CHECK_OK(rc);
    s++;
  }
  return NULL;
}

static void *rz_receiver(void *p) {
  rz_arg *a = p;
  for (int64_t i = a->id;; i++) {
    int64_t v = -1;
    int rc = rz_op(a->ch, BT_OP_RECV, &v, i);
    if (rc == BT_EAGAIN || rc == BT_ETIMEDOUT) continue;
    if (rc == BT_ECLOSED) return NULL;
    BT_CHECK_OK(rc);
    BT_CHECK(v >= 0 && v < RZ_S * a->per);
    atomic_fetch_add(&a->seen[v], 1);
    atomic_fetch_add(a->received, 1);
  }
}

/* The spin policy counts the CPUs of the process, not those of the first
 * thread that waits: a code that pins its threads before its first channel
 * operation still spins. (It did not: the pinned thread's one CPU became
 * the process's count, every spin was refused and every wait slept on a
 * futex; a pinned capacity-0 ping-pong ran 20-100x slower.) Nothing in this
 * process asked for the count before the case pins itself. */
BT_TEST(spin_policy_ignores_pinned_caller) {
  cpu_set_t all, one;
  BT_CHECK_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  int n = CPU_COUNT(&all), first = 0;
  while (!CPU_ISSET(first, &all)) first++;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  BT_CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  BT_CHECK_EQ(bt__ncpu(), n);
  int spins = bt__spin_begin();
  bt__spin_end();
  if (n >= 2)
    BT_CHECK(spins > 0); /* nobody else spins: granted */
  else
    BT_CHECK_EQ(spins, 0); /* one CPU: spinning only delays the partner */
  BT_CHECK_EQ(sched_setaffinity(0, sizeof all, &all), 0);
}

BT_TEST(rendezvous_many_to_many) {
  int64_t per = SCALED(4000);
  _Atomic unsigned char *seen = calloc((size_t)(RZ_S * per), 1);
  BT_CHECK(seen != NULL);
  _Atomic int64_t received = 0;
  bt_chan *ch = mk(&bt_type_i64, 0);
  rz_arg sa[RZ_S], ra[RZ_R];
  pthread_t ts[RZ_S], tr[RZ_R];
  for (int i = 0; i < RZ_R; i++) {
    ra[i] = (rz_arg){ch, i, per, seen, &received};
    bt_test_spawn(&tr[i], rz_receiver, &ra[i]);
  }
  for (int i = 0; i < RZ_S; i++) {
    sa[i] = (rz_arg){ch, i, per, seen, &received};
    bt_test_spawn(&ts[i], rz_sender, &sa[i]);
  }
  for (int i = 0; i < RZ_S; i++) bt_test_join(ts[i]);
  BT_CHECK_OK(bt_chan_close(ch));
  for (int i = 0; i < RZ_R; i++) bt_test_join(tr[i]);
  BT_CHECK_EQ(atomic_load(&received), RZ_S * per);
  for (int64_t v = 0; v < RZ_S * per; v++) BT_CHECK_EQ(seen[v], 1);
  check_chan(ch);
  BT_CHECK_OK(bt_chan_release(ch));
  free((void *)seen);
}

/* Close while a receiver and a sender wait, each alone on its channel (so
 * in the cell), at delays that catch them spinning and asleep: both see
 * BT_ECLOSED, the sender keeps its handle, the channel is left sound. */
typedef struct cw_arg {
  bt_chan *ch;
  uint32_t id; /* token */
  _Atomic int started;
} cw_arg;

static void *cw_receiver(void *p) {
  cw_arg *a = p;
  uint32_t got = BT_TEST_NTOKENS;
  atomic_store(&a->started, 1);
  BT_CHECK_STATUS(bt_recv(a->ch, &got), BT_ECLOSED);
  BT_CHECK_EQ(got, BT_TEST_NTOKENS); /* untouched */
  return NULL;
}

static void *cw_sender(void *p) {
  cw_arg *a = p;
  atomic_store(&bt_test_token_holder[a->id], bt__thread_id());
  atomic_store(&a->started, 1);
  BT_CHECK_STATUS(bt_send(a->ch, &a->id), BT_ECLOSED);
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[a->id]), bt__thread_id());
  return NULL;
}

BT_TEST(rendezvous_close_while_waiting) {
  bt_test_tokens_reset();
  int rounds = SCALED(60);
  for (int r = 0; r < rounds; r++) {
    cw_arg ra = {.ch = mk(&bt_test_token_type, 0)};
    cw_arg sa = {.ch = mk(&bt_test_token_type, 0), .id = (uint32_t)(r % 8)};
    pthread_t tr, ts;
    bt_test_spawn(&tr, cw_receiver, &ra);
    bt_test_spawn(&ts, cw_sender, &sa);
    while (!atomic_load(&ra.started) || !atomic_load(&sa.started))
      sched_yield();
    /* 0 to ~60 us of polling, or a few ms (asleep by then). */
    if (r % 4 == 3)
      bt_test_nap_ms(r % 8 == 7 ? 3 : 1);
    else
      for (int i = 0; i < (r % 4) * 2000; i++) bt__cpu_relax();
    BT_CHECK_OK(bt_chan_close(ra.ch));
    BT_CHECK_OK(bt_chan_close(sa.ch));
    bt_test_join(tr);
    bt_test_join(ts);
    uint32_t id = BT_TEST_NTOKENS - 1; /* a token this thread holds */
    BT_CHECK_STATUS(bt_send(sa.ch, &id), BT_ECLOSED);
    BT_CHECK_STATUS(bt_recv(ra.ch, &id), BT_ECLOSED);
    check_chan(ra.ch);
    check_chan(sa.ch);
    BT_CHECK_OK(bt_chan_release(ra.ch));
    BT_CHECK_OK(bt_chan_release(sa.ch));
    BT_CHECK_EQ(atomic_load(&bt_test_token_drops[sa.id]), 0);
  }
}

/* ---- transfer-type hooks ------------------------------------------------- */

/* The handle type: tests/common/token.h. */

BT_TEST(refused_send_moves_nothing) {
  bt_test_tokens_reset();
  bt_chan *ch = mk(&bt_test_token_type, 4);
  uint32_t bad = BT_TEST_NTOKENS + 3;
  BT_CHECK_STATUS(bt_send(ch, &bad), BT_ETYPE);
  uint32_t id = 5;
  atomic_store(&bt_test_token_holder[id], 999999); /* someone else holds it */
  BT_CHECK_STATUS(bt_send(ch, &id), BT_EMOVED);
  BT_CHECK_STATUS(bt_try_send(ch, &id), BT_EMOVED);
  BT_CHECK_EQ(bt_chan_len(ch), 0);
  BT_CHECK_EQ(atomic_load(&bt_test_token_sends), 0);
  BT_CHECK_EQ(atomic_load(&bt_test_token_recvs), 0);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST(send_and_receive_move_the_handle) {
  bt_test_tokens_reset();
  bt_chan *ch = mk(&bt_test_token_type, 2);
  uint32_t id = 7, got = 0;
  BT_CHECK_OK(bt_send(ch, &id));
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[7]), 0); /* in flight */
  BT_CHECK_STATUS(bt_send(ch, &id), BT_EMOVED);  /* the sender lost it */
  BT_CHECK_OK(bt_recv(ch, &got));
  BT_CHECK_EQ(got, 7);
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[7]), bt__thread_id());
  BT_CHECK_EQ(atomic_load(&bt_test_token_sends), 1);
  BT_CHECK_EQ(atomic_load(&bt_test_token_recvs), 1);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST(failed_send_returns_ownership) {
  bt_test_tokens_reset();
  bt_chan *full = mk(&bt_test_token_type, 1), *rv = mk(&bt_test_token_type, 0);
  uint32_t a = 1, b = 2, c = 3, d = 4;
  BT_CHECK_OK(bt_send(full, &a));
  BT_CHECK_STATUS(bt_try_send(full, &b), BT_EAGAIN);
  BT_CHECK_STATUS(bt_send_timeout(full, &b, 1000000), BT_ETIMEDOUT);
  BT_CHECK_STATUS(bt_try_send(rv, &c), BT_EAGAIN);
  BT_CHECK_STATUS(bt_send_timeout(rv, &c, 1000000), BT_ETIMEDOUT);
  BT_CHECK_OK(bt_chan_close(rv));
  BT_CHECK_STATUS(bt_send(rv, &d), BT_ECLOSED);
  /* Every failed send was given back on this thread. */
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[2]), bt__thread_id());
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[3]), bt__thread_id());
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[4]), bt__thread_id());
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[1]), 0);
  BT_CHECK_EQ(atomic_load(&bt_test_token_sends), 6);
  BT_CHECK_EQ(atomic_load(&bt_test_token_recvs), 5);
  BT_CHECK_OK(bt_chan_release(full));
  BT_CHECK_OK(bt_chan_release(rv));
  BT_CHECK_EQ(atomic_load(&bt_test_token_drops[1]), 1);
}

typedef struct closing_arg {
  bt_chan *ch;
  uint32_t id;
} closing_arg;

static void *blocked_token_sender(void *p) {
  closing_arg *a = p;
  atomic_store(&bt_test_token_holder[a->id], bt__thread_id());
  BT_CHECK_STATUS(bt_send(a->ch, &a->id), BT_ECLOSED);
  /* The blocked sender gets its handle back from a close. */
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[a->id]), bt__thread_id());
  return NULL;
}

BT_TEST(close_returns_ownership_to_blocked_sender) {
  bt_test_tokens_reset();
  bt_chan *ch = mk(&bt_test_token_type, 0);
  closing_arg a = {ch, 9};
  pthread_t t;
  bt_test_spawn(&t, blocked_token_sender, &a);
  while (atomic_load(&bt_test_token_sends) == 0) bt_test_nap_ms(1);
  bt_test_nap_ms(2);
  BT_CHECK_OK(bt_chan_close(ch));
  bt_test_join(t);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST(on_drop_at_last_release) {
  bt_test_tokens_reset();
  bt_chan *ch = mk(&bt_test_token_type, 8);
  for (uint32_t i = 0; i < 8; i++) BT_CHECK_OK(bt_send(ch, &i));
  uint32_t got;
  BT_CHECK_OK(bt_recv(ch, &got)); /* 0 is delivered, 1..7 stay */
  BT_CHECK_OK(bt_recv(ch, &got));
  uint32_t again = 0;
  BT_CHECK_OK(bt_send(ch, &again)); /* wraps around the ring */
  bt_chan_retain(ch);
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_EQ(atomic_load(&bt_test_token_drops[2]), 0);
  BT_CHECK_OK(bt_chan_close(ch));
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_EQ(atomic_load(&bt_test_token_drops[0]), 1);
  BT_CHECK_EQ(atomic_load(&bt_test_token_drops[1]), 0);
  for (int i = 2; i < 8; i++) BT_CHECK_EQ(atomic_load(&bt_test_token_drops[i]), 1);
}

/* Handles through many threads: each token has exactly one holder. */
typedef struct relay_arg {
  bt_chan *in, *out;
  int n;
} relay_arg;

static void *token_relay(void *p) {
  relay_arg *a = p;
  for (int i = 0; i < a->n; i++) {
    uint32_t id;
    BT_CHECK_OK(bt_recv(a->in, &id));
    BT_CHECK_EQ(atomic_load(&bt_test_token_holder[id]), bt__thread_id());
    BT_CHECK_OK(bt_send(a->out, &id));
  }
  return NULL;
}

BT_TEST(handles_relay) {
  bt_test_tokens_reset();
  enum { R = 3, TOK = 16 };
  int n = SCALED(2000);
  bt_chan *a = mk(&bt_test_token_type, TOK), *b = mk(&bt_test_token_type, 0);
  relay_arg ra = {a, b, n * TOK / R};
  pthread_t t[R];
  int per = (n * TOK) / R;
  ra.n = per;
  for (int i = 0; i < R; i++) bt_test_spawn(&t[i], token_relay, &ra);
  /* Keep TOK tokens circulating until R*per hops are done. */
  int sent = 0, got = 0;
  for (uint32_t id = 0; id < TOK; id++, sent++) BT_CHECK_OK(bt_send(a, &id));
  while (got < R * per) {
    uint32_t id;
    BT_CHECK_OK(bt_recv(b, &id));
    got++;
    BT_CHECK_EQ(atomic_load(&bt_test_token_holder[id]), bt__thread_id());
    if (sent < R * per) {
      BT_CHECK_OK(bt_send(a, &id));
      sent++;
    }
  }
  for (int i = 0; i < R; i++) bt_test_join(t[i]);
  BT_CHECK_EQ(atomic_load(&bt_test_token_sends), atomic_load(&bt_test_token_recvs));
  BT_CHECK_OK(bt_chan_release(a));
  BT_CHECK_OK(bt_chan_release(b));
}

/* ---- remote channels: two local channels and a transport thread --------- */

typedef struct transport {
  bt_chan *from, *to; /* moves from -> to until from closes */
  _Atomic int after_send, after_recv, closes, destroys;
} transport;

static void *transport_run(void *p) {
  transport *tr = p;
  int64_t v;
  while (bt_recv(tr->from, &v) == BT_OK) BT_CHECK_OK(bt_send(tr->to, &v));
  BT_CHECK_OK(bt_chan_close(tr->to));
  return NULL;
}

static void tr_after_send(void *ctx) {
  atomic_fetch_add(&((transport *)ctx)->after_send, 1);
}
static void tr_after_recv(void *ctx) {
  atomic_fetch_add(&((transport *)ctx)->after_recv, 1);
}
static int tr_close(void *ctx) {
  transport *tr = ctx;
  atomic_fetch_add(&tr->closes, 1);
  return bt_chan_close(tr->from);
}
static void tr_destroy(void *ctx) {
  atomic_fetch_add(&((transport *)ctx)->destroys, 1);
}

BT_TEST(remote_hook) {
  /* A loop: what the remote channel sends comes back to its own receive
   * side through the transport thread. */
  transport tr = {.from = mk(&bt_type_i64, 4), .to = mk(&bt_type_i64, 4)};
  bt__chan_remote r = {.out = tr.from,
                       .in = tr.to,
                       .after_send = tr_after_send,
                       .after_recv = tr_after_recv,
                       .close = tr_close,
                       .destroy = tr_destroy,
                       .ctx = &tr};
  bt_chan *rc = NULL;
  BT_CHECK_STATUS(bt__chan_create_remote(&bt_type_i32, &r, &rc), BT_ETYPE);
  BT_CHECK_OK(bt__chan_create_remote(&bt_type_i64, &r, &rc));
  BT_CHECK_EQ(bt_chan_cap(rc), 4);
  BT_CHECK_PTR_EQ(bt_chan_type(rc), &bt_type_i64);
  pthread_t t;
  bt_test_spawn(&t, transport_run, &tr);
  for (int64_t i = 0; i < 100; i++) {
    BT_CHECK_OK(bt_send(rc, &i));
    int64_t v;
    if (i % 2) {
      BT_CHECK_OK(bt_recv(rc, &v));
    } else {
      BT_CHECK_OK(bt_recv_timeout(rc, &v, 10LL * 1000000000));
    }
    BT_CHECK_EQ(v, i);
  }
  int64_t v = 0;
  BT_CHECK_STATUS(bt_try_recv(rc, &v), BT_EAGAIN);
  BT_CHECK_OK(bt_try_send(rc, &v));
  BT_CHECK_OK(bt_recv(rc, &v));
  BT_CHECK_EQ(atomic_load(&tr.after_send), 101);
  BT_CHECK_EQ(atomic_load(&tr.after_recv), 101);
  BT_CHECK_OK(bt_chan_close(rc));
  BT_CHECK_EQ(atomic_load(&tr.closes), 1);
  bt_test_join(t);
  BT_CHECK_STATUS(bt_recv(rc, &v), BT_ECLOSED);
  BT_CHECK_STATUS(bt_send(rc, &v), BT_ECLOSED);
  BT_CHECK_EQ(atomic_load(&tr.after_recv), 101);
  BT_CHECK_OK(bt_chan_release(tr.from)); /* rc keeps its own references */
  BT_CHECK_OK(bt_chan_release(tr.to));
  BT_CHECK_OK(bt_chan_release(rc));
  BT_CHECK_EQ(atomic_load(&tr.destroys), 1);
}

/* Caller-driven progress: a transport with wait hooks that moves an
 * element from out to in on the waiting thread, at its `deliver_at`-th
 * poll of a wait, and ends its polling (spin budget spent) after
 * `budget` polls. */
typedef struct polled {
  bt_chan *from, *to;
  int deliver_at, budget, polls;
  int begins, ends, ends_completed;
  int64_t first_since, other_since; /* since_ns of the first call, and a
                                       different one if any came */
} polled;

static int pl_begin(void *ctx) {
  polled *pl = ctx;
  pl->begins++;
  pl->polls = 0;
  return 1;
}
static int pl_poll(void *ctx, int64_t since_ns) {
  polled *pl = ctx;
  if (pl->first_since == 0)
    pl->first_since = since_ns;
  else if (since_ns != pl->first_since)
    pl->other_since = since_ns;
  if (++pl->polls == pl->deliver_at) {
    int64_t v;
    BT_CHECK_OK(bt_try_recv(pl->from, &v));
    BT_CHECK_OK(bt_try_send(pl->to, &v));
  }
  return pl->polls < pl->budget;
}
static void pl_end(void *ctx, int completed) {
  polled *pl = ctx;
  pl->ends++;
  pl->ends_completed += completed != 0;
}

static void *late_send(void *p) {
  polled *pl = p;
  int64_t v = 7;
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  BT_CHECK_OK(bt_send(pl->to, &v));
  return NULL;
}

BT_TEST(remote_wait_poll) {
  polled pl = {.from = mk(&bt_type_i64, 4),
               .to = mk(&bt_type_i64, 4),
               .deliver_at = 5,
               .budget = 1000};
  bt__chan_remote r = {.out = pl.from,
                       .in = pl.to,
                       .wait_begin = pl_begin,
                       .wait_poll = pl_poll,
                       .wait_end = pl_end,
                       .ctx = &pl};
  bt_chan *rc = NULL;
  BT_CHECK_OK(bt__chan_create_remote(&bt_type_i64, &r, &rc));
  /* A receive polls the transport before it queues: the element the 5th
   * poll puts into in is taken there, one wait, completed. */
  int64_t v = 42, got = 0;
  BT_CHECK_OK(bt_send(rc, &v));
  BT_CHECK_OK(bt_recv(rc, &got));
  BT_CHECK_EQ(got, 42);
  BT_CHECK_EQ(pl.polls, 5);
  BT_CHECK_EQ(pl.begins, 1);
  BT_CHECK_EQ(pl.ends, 1);
  BT_CHECK_EQ(pl.ends_completed, 1);
  /* Nothing comes within the transport's budget: the receive queues and
   * parks; the park's polling continues the same wait (same since_ns,
   * so the budget is not granted twice), and the element that another
   * thread sends into in later completes it. */
  pl.deliver_at = -1;
  pl.budget = 3;
  pl.first_since = pl.other_since = 0;
  pthread_t t;
  bt_test_spawn(&t, late_send, &pl);
  BT_CHECK_OK(bt_recv(rc, &got));
  bt_test_join(t);
  BT_CHECK_EQ(got, 7);
  BT_CHECK(pl.first_since != 0);
  BT_CHECK_EQ(pl.other_since, 0);
  BT_CHECK_EQ(pl.begins, 3);
  BT_CHECK_EQ(pl.ends, 3);
  BT_CHECK_EQ(pl.ends_completed, 1);
  /* A try never polls. */
  BT_CHECK_STATUS(bt_try_recv(rc, &got), BT_EAGAIN);
  BT_CHECK_EQ(pl.begins, 3);
  BT_CHECK_OK(bt_chan_release(rc));
  BT_CHECK_OK(bt_chan_release(pl.from));
  BT_CHECK_OK(bt_chan_release(pl.to));
}

/* A transport failure reaches the caller instead of a bare BT_ECLOSED. */
static int tr_failed(void *ctx, int op) {
  (void)ctx;
  return bt__fail(op == BT_OP_SEND ? BT_EMPI : BT_ETYPE,
                  "transport failed on %s", op == BT_OP_SEND ? "send" : "recv");
}

BT_TEST(remote_closed_status) {
  transport tr = {.from = mk(&bt_type_i64, 2), .to = mk(&bt_type_i64, 2)};
  bt__chan_remote r = {.out = tr.from,
                       .in = tr.to,
                       .close = tr_close,
                       .closed_status = tr_failed,
                       .ctx = &tr};
  bt_chan *rc = NULL;
  BT_CHECK_OK(bt__chan_create_remote(&bt_type_i64, &r, &rc));
  int64_t v = 3;
  BT_CHECK_OK(bt_send(tr.to, &v)); /* delivered before the failure */
  BT_CHECK_OK(bt_chan_close(tr.to));
  BT_CHECK_OK(bt_chan_close(rc)); /* closes out */
  BT_CHECK_STATUS(bt_send(rc, &v), BT_EMPI);
  BT_CHECK(strstr(bt_errmsg(), "transport failed on send") != NULL);
  BT_CHECK_OK(bt_recv(rc, &v));
  BT_CHECK_EQ(v, 3);
  BT_CHECK_STATUS(bt_recv(rc, &v), BT_ETYPE);
  BT_CHECK_STATUS(bt_try_recv(rc, &v), BT_ETYPE);
  BT_CHECK_STATUS(bt_recv_timeout(rc, &v, 1000), BT_ETYPE);
  int chosen = -1;
  bt_case cases[] = {{rc, BT_OP_RECV, &v}};
  BT_CHECK_STATUS(bt_select(cases, 1, -1, &chosen), BT_ETYPE);
  BT_CHECK_EQ(chosen, 0);
  /* Local channels keep the plain status. */
  BT_CHECK_STATUS(bt_recv(tr.to, &v), BT_ECLOSED);
  BT_CHECK_OK(bt_chan_release(rc));
  BT_CHECK_OK(bt_chan_release(tr.from));
  BT_CHECK_OK(bt_chan_release(tr.to));
}

/* ---- a lent slot: the one producer writes into the ring ------------------ */

static void *recv_one(void *p) {
  bt_chan *ch = p;
  int64_t v = 0;
  BT_CHECK_OK(bt_recv(ch, &v));
  BT_CHECK_EQ(v, 31);
  return NULL;
}

BT_TEST(lent_slot) {
  bt_chan *zero = mk(&bt_type_i64, 0);
  BT_CHECK(bt__chan_lend(zero) == NULL); /* no ring */
  BT_CHECK_OK(bt_chan_release(zero));

  bt_chan *ch = mk(&bt_type_i64, 2);
  int64_t v = 0;
  /* Lent and written but not published: nobody sees it, and the next lend
   * is the same slot. */
  int64_t *slot = bt__chan_lend(ch);
  BT_CHECK(slot != NULL);
  *slot = 99;
  BT_CHECK_STATUS(bt_try_recv(ch, &v), BT_EAGAIN);
  BT_CHECK_EQ(bt_chan_len(ch), 0);
  BT_CHECK(bt__chan_lend(ch) == slot);
  /* Published: received in order with plain sends around it. */
  *slot = 1;
  BT_CHECK_OK(bt__chan_publish(ch));
  check_chan(ch);
  v = 2;
  BT_CHECK_OK(bt_send(ch, &v));
  BT_CHECK(bt__chan_lend(ch) == NULL); /* full */
  BT_CHECK_OK(bt_recv(ch, &v));
  BT_CHECK_EQ(v, 1);
  slot = bt__chan_lend(ch); /* the slot 1 left, a lap later */
  BT_CHECK(slot != NULL);
  *slot = 3;
  BT_CHECK_OK(bt__chan_publish(ch));
  for (int64_t want = 2; want <= 3; want++) {
    BT_CHECK_OK(bt_recv(ch, &v));
    BT_CHECK_EQ(v, want);
  }
  /* A receiver already queued (locked path) gets the published element. */
  pthread_t t;
  bt_test_spawn(&t, recv_one, ch);
  while (atomic_load(&ch->recv_waiting) == 0) sched_yield();
  slot = bt__chan_lend(ch);
  BT_CHECK(slot != NULL);
  *slot = 31;
  BT_CHECK_OK(bt__chan_publish(ch));
  bt_test_join(t);
  check_chan(ch);
  /* Closed while lent: the element is dropped; a closed channel lends
   * nothing. */
  slot = bt__chan_lend(ch);
  BT_CHECK(slot != NULL);
  *slot = 4;
  BT_CHECK_OK(bt_chan_close(ch));
  BT_CHECK_STATUS(bt__chan_publish(ch), BT_ECLOSED);
  BT_CHECK(bt__chan_lend(ch) == NULL);
  BT_CHECK_STATUS(bt_recv(ch, &v), BT_ECLOSED);
  check_chan(ch);
  BT_CHECK_OK(bt_chan_release(ch));
}

/* One producer publishing lent slots against consumers that receive
 * lock-free, blocked (queued: the producer's publish then takes the lock)
 * and with short timeouts: every value arrives once, each consumer sees
 * them rising. */
enum { LENT_CONSUMERS = 3 };

typedef struct lent_arg {
  bt_chan *ch;
  int id;
  int64_t count, sum;
} lent_arg;

static void *lent_consumer(void *p) {
  lent_arg *a = p;
  int64_t v, last = -1;
  for (long i = 0;; i++) {
    int rc = a->id == 0   ? bt_recv(a->ch, &v)
             : a->id == 1 ? bt_recv_timeout(a->ch, &v, 2000)
                          : bt_try_recv(a->ch, &v);
    if (rc == BT_ECLOSED) break;
    if (rc == BT_ETIMEDOUT || rc == BT_EAGAIN) {
      if (i % 64 == 0) sched_yield();
      continue;
    }
    BT_CHECK_OK(rc);
    BT_CHECK_CMP(v, >, last);
    last = v;
    a->count++;
    a->sum += v;
  }
  return NULL;
}

BT_TEST(lent_slot_race) {
  const int64_t n = SCALED(40000);
  for (size_t cap = 1; cap <= 4; cap *= 4) {
    bt_chan *ch = mk(&bt_type_i64, cap);
    lent_arg a[LENT_CONSUMERS];
    pthread_t t[LENT_CONSUMERS];
    for (int i = 0; i < LENT_CONSUMERS; i++) {
      a[i] = (lent_arg){.ch = ch, .id = i};
      bt_test_spawn(&t[i], lent_consumer, &a[i]);
    }
    for (int64_t i = 0; i < n; i++) {
      int64_t *slot;
      for (int k = 0; (slot = bt__chan_lend(ch)) == NULL; k++)
        if (k % 16 == 15) sched_yield();
      *slot = i;
      BT_CHECK_OK(bt__chan_publish(ch));
    }
    BT_CHECK_OK(bt_chan_close(ch));
    int64_t count = 0, sum = 0;
    for (int i = 0; i < LENT_CONSUMERS; i++) {
      bt_test_join(t[i]);
      count += a[i].count;
      sum += a[i].sum;
    }
    BT_CHECK_EQ(count, n);
    BT_CHECK_EQ(sum, n * (n - 1) / 2);
    check_chan(ch);
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

/* ---- stress: producers x consumers, sequence numbers and checksums ------ */

enum { ST_P = 4, ST_C = 4 };

typedef struct st_arg {
  bt_chan *ch;
  int64_t per_producer;
  int id;
  int64_t last_seq[ST_P]; /* per consumer: last sequence seen per producer */
  int64_t count, sum;
  _Atomic unsigned char *seen; /* [producer * per + seq]: deliveries */
} st_arg;

static void *st_producer(void *p) {
  st_arg *a = p;
  for (int64_t s = 0; s < a->per_producer; s++) {
    int64_t v = ((int64_t)a->id << 40) | s;
    BT_CHECK_OK(bt_send(a->ch, &v));
  }
  return NULL;
}

static void *st_consumer(void *p) {
  st_arg *a = p;
  for (int i = 0; i < ST_P; i++) a->last_seq[i] = -1;
  int64_t v;
  while (bt_recv(a->ch, &v) == BT_OK) {
    int prod = (int)(v >> 40);
    int64_t seq = v & ((1LL << 40) - 1);
    BT_CHECK(prod >= 0 && prod < ST_P);
    /* FIFO per channel: a consumer sees each producer's sequence rise. */
    BT_CHECK_CMP(seq, >, a->last_seq[prod]);
    a->last_seq[prod] = seq;
    BT_CHECK_CMP(seq, <, a->per_producer);
    atomic_fetch_add(&a->seen[prod * a->per_producer + seq], 1);
    a->count++;
    a->sum += seq;
  }
  return NULL;
}

BT_TEST_STRESS(producers_consumers) {
  int64_t per = bt_test_scaled(SCALED(50000));
  _Atomic unsigned char *seen = calloc((size_t)(ST_P * per), 1);
  BT_CHECK(seen != NULL);
  for (int k = 0; k < NCAPS; k++) {
    bt_chan *ch = mk(&bt_type_i64, caps[k]);
    for (int64_t i = 0; i < ST_P * per; i++) atomic_store(&seen[i], 0);
    st_arg pa[ST_P], ca[ST_C];
    pthread_t tp[ST_P], tc[ST_C];
    for (int i = 0; i < ST_C; i++) {
      ca[i] = (st_arg){.ch = ch, .per_producer = per, .seen = seen};
      bt_test_spawn(&tc[i], st_consumer, &ca[i]);
    }
    for (int i = 0; i < ST_P; i++) {
      pa[i] = (st_arg){.ch = ch, .per_producer = per, .id = i};
      bt_test_spawn(&tp[i], st_producer, &pa[i]);
    }
    for (int i = 0; i < ST_P; i++) bt_test_join(tp[i]);
    BT_CHECK_OK(bt_chan_close(ch));
    int64_t count = 0, sum = 0;
    for (int i = 0; i < ST_C; i++) {
      bt_test_join(tc[i]);
      count += ca[i].count;
      sum += ca[i].sum;
    }
    BT_CHECK_EQ(count, ST_P * per);
    BT_CHECK_EQ(sum, ST_P * (per * (per - 1) / 2));
    /* Nothing lost, nothing duplicated. */
    for (int64_t i = 0; i < ST_P * per; i++) BT_CHECK_EQ(seen[i], 1);
    check_chan(ch);
    BT_CHECK_OK(bt_chan_release(ch));
  }
  free((void *)seen);
}
