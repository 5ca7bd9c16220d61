/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_chan.c: the MPI bridge with plain values: attach/detach, both
 * directions, order, close, credits, select mixing local and remote
 * channels, type disagreement, all-to-all between 4 ranks. Every case runs
 * in both progress modes (direct and progress thread) unless noted. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "../../mpi/mpi_int.h" /* bt__mpi_abandoned_count */
#include "mpitest.h"

BT_TEST_MPI(attach_detach, 2) {
  bt_runtime *rt = mt_runtime();
  for (int i = 0; i < 2; i++) {
    bt_mpi *m = mt_attach(rt, i ? "thread" : "direct");
    BT_CHECK_EQ(bt_mpi_rank(m), mt_rank());
    BT_CHECK_EQ(bt_mpi_size(m), 2);
    /* Two bridges at once over the same communicator are independent. */
    bt_mpi *m2;
    BT_CHECK_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m2));
    BT_CHECK_EQ(bt_mpi_size(m2), 2);
    BT_CHECK_OK(bt_mpi_detach(m2));
    BT_CHECK_OK(bt_mpi_detach(m));
  }
  BT_CHECK_OK(bt_mpi_detach(NULL));
  bt_mpi *m;
  BT_CHECK_STATUS(bt_mpi_attach(rt, MPI_COMM_WORLD, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_mpi_attach(rt, MPI_COMM_NULL, &m), BT_EINVAL);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static int opaque_on_send(void *elem, bt_transfer mode) {
  (void)elem;
  (void)mode;
  return BT_OK;
}

static void bad_arguments(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  bt_chan *ch = NULL;
  BT_CHECK_STATUS(bt_mpi_chan_create(m, 2, 1, &bt_type_f64, 1, &ch), BT_EINVAL);
  BT_CHECK_STATUS(bt_mpi_chan_create(m, -1, 1, &bt_type_f64, 1, &ch),
                  BT_EINVAL);
  BT_CHECK_STATUS(
      bt_mpi_chan_create(m, 1 - mt_rank(), -3, &bt_type_f64, 1, &ch),
      BT_EINVAL);
  BT_CHECK_STATUS(bt_mpi_chan_create(m, 1 - mt_rank(), 1, NULL, 1, &ch),
                  BT_EINVAL);
  /* A handle type with no wire form cannot cross ranks. */
  bt_type opaque = {.struct_size = sizeof(bt_type),
                    .name = "opaque",
                    .size = 8,
                    .on_send = opaque_on_send};
  BT_CHECK_STATUS(bt_mpi_chan_create(m, 1 - mt_rank(), 5, &opaque, 1, &ch),
                  BT_ENOTSUP);
  BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 5, &bt_type_f64, 1, &ch));
  /* The same (peer, tag) twice is refused. */
  bt_chan *again;
  BT_CHECK_STATUS(
      bt_mpi_chan_create(m, 1 - mt_rank(), 5, &bt_type_f64, 1, &again),
      BT_EINVAL);
  BT_CHECK_EQ(bt_chan_cap(ch), 1);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(bad_arguments, 2) {
  mt_both_modes(bad_arguments);
}

enum { NVALUES = 2000 };

typedef struct sender_arg {
  bt_chan *ch;
  long n;
  double base;
} sender_arg;

static void *send_values(void *p) {
  sender_arg *a = p;
  for (long i = 0; i < a->n; i++) {
    double v = a->base + (double)i;
    BT_CHECK_OK(bt_send(a->ch, &v));
  }
  return NULL;
}

static void values_both_directions(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 7, &bt_type_f64, 8, &ch));
  BT_CHECK_EQ(bt_chan_cap(ch), 8);
  /* Both ranks send and receive at once: a thread sends, main receives. */
  sender_arg a = {ch, NVALUES, 1e6 * me};
  pthread_t th;
  BT_CHECK_EQ(pthread_create(&th, NULL, send_values, &a), 0);
  for (long i = 0; i < NVALUES; i++) {
    double v;
    BT_CHECK_OK(bt_recv(ch, &v));
    BT_CHECK_EQ((long long)v, (long long)(1e6 * peer + (double)i));
  }
  pthread_join(th, NULL);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(values_both_directions, 2) {
  mt_both_modes(values_both_directions);
}

/* Values larger than the inline limit travel as eager pieces up to 64 KiB,
 * as one payload message beyond. */
static void value_sizes(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  static const size_t sizes[] = {1, 24, 256, 257, 4096, 32768, 65536, 65537,
                                 200000};
  enum { N = sizeof sizes / sizeof sizes[0] };
  /* Types stay valid until detach. */
  static bt_type types[N];
  for (int k = 0; k < N; k++) {
    bt_type *t = &types[k];
    if (sizes[k] <= 65536) {
      BT_CHECK_OK(bt_type_value("blob", sizes[k], t));
    } else {
      /* Past bt_type_value's limit: a plain-bytes type written out. */
      *t = (bt_type){.struct_size = sizeof(bt_type), .name = "blob",
                     .size = sizes[k]};
    }
    bt_chan *ch;
    BT_CHECK_OK(bt_mpi_chan_create(m, peer, 100 + k, t, 2, &ch));
    unsigned char *buf = malloc(sizes[k]);
    if (me == 0) {
      for (int rep = 0; rep < 5; rep++) {
        for (size_t i = 0; i < sizes[k]; i++)
          buf[i] = (unsigned char)(i * 7 + (size_t)rep + (size_t)k);
        BT_CHECK_OK(bt_send(ch, buf));
      }
    } else {
      for (int rep = 0; rep < 5; rep++) {
        BT_CHECK_OK(bt_recv(ch, buf));
        for (size_t i = 0; i < sizes[k]; i++)
          BT_CHECK_EQ(buf[i], (unsigned char)(i * 7 + (size_t)rep + (size_t)k));
      }
    }
    free(buf);
    BT_CHECK_OK(bt_chan_release(ch));
  }
}

BT_TEST_MPI(value_sizes, 2) {
  mt_both_modes(value_sizes);
}

/* 32 KiB values (eager pieces) from two threads of one rank at once: in
 * direct mode a send leaves from its caller's buffer when it can and
 * through the local queue when it cannot (the other thread holds the
 * bridge, no credit, an earlier element still queued), and a receive
 * lands in the slot of the receiving queue its receiver reads. The
 * receiver takes them by blocking, timed and try receives: each thread's
 * values arrive once, in its order, intact. */
enum { PIECES_BYTES = 32768, PIECES_N = 150, PIECES_THREADS = 2 };

typedef struct pieces_arg {
  bt_chan *ch;
  int id;
} pieces_arg;

static void pieces_fill(unsigned char *buf, int id, int seq) {
  int64_t tag = (int64_t)id << 32 | seq;
  memcpy(buf, &tag, sizeof tag);
  for (size_t i = sizeof tag; i < PIECES_BYTES; i++)
    buf[i] = (unsigned char)(i * 13 + (size_t)seq * 7 + (size_t)id);
}

static void *pieces_send(void *p) {
  pieces_arg *a = p;
  unsigned char *buf = malloc(PIECES_BYTES);
  for (int seq = 0; seq < PIECES_N; seq++) {
    pieces_fill(buf, a->id, seq);
    BT_CHECK_OK(bt_send(a->ch, buf));
    /* Bursts and pauses: after a pause credits are back and the queue
     * is empty (a send may skip it); in a burst it is not. */
    if (seq % 4 == 3) mt_sleep_ms(1);
  }
  free(buf);
  return NULL;
}

static void value_pieces_order(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  static bt_type t;
  BT_CHECK_OK(bt_type_value("pieces", PIECES_BYTES, &t));
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 30, &t, 2, &ch));
  if (me == 0) {
    pieces_arg a[PIECES_THREADS];
    pthread_t th[PIECES_THREADS];
    for (int i = 0; i < PIECES_THREADS; i++) {
      a[i] = (pieces_arg){ch, i};
      BT_CHECK_EQ(pthread_create(&th[i], NULL, pieces_send, &a[i]), 0);
    }
    for (int i = 0; i < PIECES_THREADS; i++) pthread_join(th[i], NULL);
  } else {
    unsigned char *buf = malloc(PIECES_BYTES), *want = malloc(PIECES_BYTES);
    int next[PIECES_THREADS] = {0};
    for (int k = 0; k < PIECES_THREADS * PIECES_N;) {
      int rc = k % 3 == 0   ? bt_recv(ch, buf)
               : k % 3 == 1 ? bt_recv_timeout(ch, buf, 20000)
                            : bt_try_recv(ch, buf);
      if (rc == BT_ETIMEDOUT || rc == BT_EAGAIN) continue;
      BT_CHECK_OK(rc);
      int64_t tag;
      memcpy(&tag, buf, sizeof tag);
      int id = (int)(tag >> 32), seq = (int)(tag & 0xffffffff);
      BT_CHECK(id >= 0 && id < PIECES_THREADS);
      BT_CHECK_EQ(seq, next[id]);
      next[id]++;
      pieces_fill(want, id, seq);
      BT_CHECK(memcmp(buf, want, PIECES_BYTES) == 0);
      k++;
    }
    BT_CHECK_STATUS(bt_try_recv(ch, buf), BT_EAGAIN);
    free(buf);
    free(want);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(value_pieces_order, 2) {
  mt_both_modes(value_pieces_order);
}

static void close_travels(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 9, &bt_type_i64, 4, &ch));
  if (me == 0) {
    for (int64_t i = 0; i < 10; i++) BT_CHECK_OK(bt_send(ch, &i));
    BT_CHECK_OK(bt_chan_close(ch));
    BT_CHECK_STATUS(bt_chan_close(ch), BT_ECLOSED);
    int64_t x = 1;
    BT_CHECK_STATUS(bt_send(ch, &x), BT_ECLOSED);
    /* What rank 1 sent before it saw the close still arrives, then the
     * close. */
    for (int64_t i = 0; i < 3; i++) {
      BT_CHECK_OK(bt_recv(ch, &x));
      BT_CHECK_EQ(x, 100 + i);
    }
    BT_CHECK_STATUS(bt_recv(ch, &x), BT_ECLOSED);
  } else {
    for (int64_t i = 0; i < 3; i++) {
      int64_t v = 100 + i;
      BT_CHECK_OK(bt_send(ch, &v));
    }
    int64_t x;
    for (int64_t i = 0; i < 10; i++) {
      BT_CHECK_OK(bt_recv(ch, &x));
      BT_CHECK_EQ(x, i);
    }
    BT_CHECK_STATUS(bt_recv(ch, &x), BT_ECLOSED);
    BT_CHECK_STATUS(bt_recv_timeout(ch, &x, 1000000), BT_ECLOSED);
    BT_CHECK_STATUS(bt_send(ch, &x), BT_ECLOSED);
    BT_CHECK_STATUS(bt_chan_close(ch), BT_ECLOSED);
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(close_travels, 2) {
  mt_both_modes(close_travels);
}

/* A receiver that does not receive: the sender completes cap + window
 * sends (its local queue and the credits), then blocks; try_send answers
 * BT_EAGAIN; nothing is lost or reordered once the receiver goes. */
static void credits_for(bt_mpi *m, size_t cap, int tag) {
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, tag, &bt_type_i64, cap, &ch));
  long window = cap ? (long)cap : 1;
  long expect = (long)cap + window;
  if (me == 0) {
    int64_t i = 0;
    int rc;
    while ((rc = bt_send_timeout(ch, &i, 300 * 1000000LL)) == BT_OK) i++;
    BT_CHECK_STATUS(rc, BT_ETIMEDOUT);
    BT_CHECK_EQ(i, expect);
    BT_CHECK_STATUS(bt_try_send(ch, &i), BT_EAGAIN);
    MPI_Barrier(MPI_COMM_WORLD);
    /* The receiver takes everything: the rest flows. */
    for (int64_t j = i; j < expect + 50; j++) BT_CHECK_OK(bt_send(ch, &j));
    MPI_Barrier(MPI_COMM_WORLD); /* release (which closes) after the check */
  } else {
    MPI_Barrier(MPI_COMM_WORLD);
    for (int64_t j = 0; j < expect + 50; j++) {
      int64_t x;
      BT_CHECK_OK(bt_recv(ch, &x));
      BT_CHECK_EQ(x, j);
    }
    int64_t x;
    BT_CHECK_STATUS(bt_try_recv(ch, &x), BT_EAGAIN);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

static void credits(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  credits_for(m, 3, 11);
  credits_for(m, 1, 12);
  credits_for(m, 0, 13);
}

BT_TEST_MPI(credits, 2) {
  mt_both_modes(credits);
}

typedef struct feeder {
  bt_chan *local;
  int n;
} feeder;

static void *feed_local(void *p) {
  feeder *f = p;
  for (int64_t i = 0; i < f->n; i++) BT_CHECK_OK(bt_send(f->local, &i));
  BT_CHECK_OK(bt_chan_close(f->local));
  return NULL;
}

/* One select over a local channel fed by a thread and a remote channel fed
 * by the peer, until both are closed. */
static void select_mixed(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  enum { N = 500 };
  bt_chan *remote, *local;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 21, &bt_type_i64, 4, &remote));
  if (me == 1) {
    for (int64_t i = 0; i < N; i++) {
      int64_t v = 1000000 + i;
      BT_CHECK_OK(bt_send(remote, &v));
    }
    BT_CHECK_OK(bt_chan_close(remote));
    BT_CHECK_OK(bt_chan_release(remote));
    return;
  }
  BT_CHECK_OK(bt_chan_create(&bt_type_i64, 2, &local));
  feeder f = {local, N};
  pthread_t th;
  BT_CHECK_EQ(pthread_create(&th, NULL, feed_local, &f), 0);
  int64_t next_local = 0, next_remote = 1000000, got;
  bt_case cases[2] = {{local, BT_OP_RECV, &got}, {remote, BT_OP_RECV, &got}};
  int open = 2;
  while (open > 0) {
    int chosen = -1;
    int rc = bt_select(cases, 2, -1, &chosen);
    BT_CHECK(chosen == 0 || chosen == 1);
    if (rc == BT_ECLOSED) {
      cases[chosen].chan = NULL;
      open--;
      continue;
    }
    BT_CHECK_OK(rc);
    if (chosen == 0)
      BT_CHECK_EQ(got, next_local++);
    else
      BT_CHECK_EQ(got, next_remote++);
  }
  BT_CHECK_EQ(next_local, N);
  BT_CHECK_EQ(next_remote, 1000000 + N);
  pthread_join(th, NULL);
  /* A select send case on a remote channel. */
  BT_CHECK_OK(bt_chan_release(local));
  BT_CHECK_OK(bt_chan_release(remote));
}

BT_TEST_MPI(select_mixed, 2) {
  mt_both_modes(select_mixed);
}

/* Rank 0 sends with select send cases, rank 1 receives with timeouts. */
static void select_send(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 22, &bt_type_i64, 2, &ch));
  if (me == 0) {
    for (int64_t i = 0; i < 200; i++) {
      bt_case c = {ch, BT_OP_SEND, &i};
      int chosen;
      BT_CHECK_OK(bt_select(&c, 1, -1, &chosen));
      BT_CHECK_EQ(chosen, 0);
    }
  } else {
    for (int64_t i = 0; i < 200; i++) {
      int64_t x;
      BT_CHECK_OK(bt_recv_timeout(ch, &x, 10LL * 1000000000LL));
      BT_CHECK_EQ(x, i);
    }
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(select_send, 2) {
  mt_both_modes(select_send);
}

/* Many channels between many pairs: every rank sends to every other on its
 * own channel (a thread per peer) and receives them all with one select. */
static void all_to_all(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), n = mt_size();
  enum { PER = 300, LANES = 2 };
  int nch = (n - 1) * LANES;
  bt_chan **ch = calloc((size_t)nch, sizeof *ch);
  sender_arg *args = calloc((size_t)nch, sizeof *args);
  pthread_t *th = calloc((size_t)nch, sizeof *th);
  int64_t *next = calloc((size_t)nch, sizeof *next);
  int k = 0;
  for (int p = 0; p < n; p++) {
    if (p == me) continue;
    for (int lane = 0; lane < LANES; lane++, k++) {
      BT_CHECK_OK(bt_mpi_chan_create(m, p, 40 + lane, &bt_type_f64,
                                     (size_t)(1 + lane * 3), &ch[k]));
      args[k] = (sender_arg){ch[k], PER, 1e6 * me + 1e5 * lane};
      next[k] = (int64_t)(1e6 * p + 1e5 * lane);
    }
  }
  for (k = 0; k < nch; k++)
    BT_CHECK_EQ(pthread_create(&th[k], NULL, send_values, &args[k]), 0);
  bt_case *cases = calloc((size_t)nch, sizeof *cases);
  double got;
  for (k = 0; k < nch; k++) cases[k] = (bt_case){ch[k], BT_OP_RECV, &got};
  for (long left = (long)nch * PER; left > 0; left--) {
    int chosen;
    BT_CHECK_OK(bt_select(cases, nch, -1, &chosen));
    BT_CHECK_EQ((int64_t)got, next[chosen]);
    next[chosen]++;
    /* A peer that is done releases its end, which closes the channel: a
     * closed channel is always ready, so leave it out once complete. */
    if (next[chosen] % 100000 == PER) cases[chosen].chan = NULL;
  }
  for (k = 0; k < nch; k++) {
    pthread_join(th[k], NULL);
    BT_CHECK_OK(bt_chan_release(ch[k]));
  }
  free(cases);
  free(next);
  free(th);
  free(args);
  free(ch);
}

BT_TEST_MPI(all_to_all, 4) {
  mt_both_modes(all_to_all);
}

/* Channels left open (and elements left unreceived) at detach: detach
 * closes them; what was buffered stays receivable, then BT_ECLOSED. */
BT_TEST_MPI(detach_closes, 2) {
  bt_runtime *rt = mt_runtime();
  bt_mpi *m = mt_attach(rt, "direct");
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 50, &bt_type_i64, 4, &ch));
  int64_t v = 5;
  BT_CHECK_OK(bt_send(ch, &v));
  int64_t x;
  BT_CHECK_OK(bt_recv(ch, &x));
  BT_CHECK_EQ(x, 5);
  for (int i = 0; i < 6; i++) BT_CHECK_OK(bt_send(ch, &v));
  /* Nobody receives during the detach: the peer's `in` holds the window
   * (4), the rest is reported, not dropped silently. */
  int rc = bt_mpi_detach(m);
  if (rc != BT_OK) BT_CHECK_STATUS(rc, BT_ECLOSED);
  long lost = mt_undelivered(rc);
  BT_CHECK_STATUS(bt_send(ch, &v), BT_ECLOSED);
  long n = 0;
  while ((rc = bt_recv(ch, &x)) == BT_OK) n++;
  BT_CHECK_STATUS(rc, BT_ECLOSED);
  BT_CHECK_CMP(n, <=, 4);
  /* What this rank lost is what the peer did not receive, and back. */
  long lost_by_peer = -1;
  MPI_Sendrecv(&lost, 1, MPI_LONG, peer, 9, &lost_by_peer, 1, MPI_LONG, peer, 9,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  BT_CHECK_EQ(n + lost_by_peer, 6);
  BT_CHECK_STATUS(bt_chan_close(ch), BT_ECLOSED);
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* Under MPI_THREAD_SERIALIZED every MPI call of the bridge goes through its
 * progress thread, whatever BATON_MPI_PROGRESS says; the application makes
 * no MPI call while attached. Values both ways, close, credits. */
BT_TEST_MPI(serialized_values, 2) {
  int level;
  MPI_Query_thread(&level);
  BT_CHECK_EQ(level, MPI_THREAD_SERIALIZED);
  bt_runtime *rt = mt_runtime();
  int me = mt_rank(), peer = 1 - me;
  bt_mpi *m = mt_attach(rt, "direct");
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 80, &bt_type_f64, 2, &ch));
  sender_arg a = {ch, NVALUES, 1e6 * me};
  pthread_t th;
  BT_CHECK_EQ(pthread_create(&th, NULL, send_values, &a), 0);
  for (long i = 0; i < NVALUES; i++) {
    double v;
    BT_CHECK_OK(bt_recv(ch, &v));
    BT_CHECK_EQ((long long)v, (long long)(1e6 * peer + (double)i));
  }
  pthread_join(th, NULL);
  if (me == 0) BT_CHECK_OK(bt_chan_close(ch));
  double v;
  BT_CHECK_STATUS(bt_recv(ch, &v), BT_ECLOSED);
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_mpi_detach(m));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* MPI_THREAD_FUNNELED is refused: the progress thread is not the main
 * thread. */
BT_TEST_MPI(funneled_refused, 2) {
  int level;
  MPI_Query_thread(&level);
  bt_runtime *rt = mt_runtime();
  BT_CHECK_EQ(level, MPI_THREAD_FUNNELED);
  bt_mpi *m = NULL;
  BT_CHECK_STATUS(bt_mpi_attach(rt, MPI_COMM_WORLD, &m), BT_ENOTSUP);
  BT_CHECK(strstr(bt_errmsg(), "FUNNELED") != NULL);
  BT_CHECK(m == NULL);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* A channel whose peer never opened that tag (an orphan), beside one both
 * opened: detach does not hang; what was sent on the orphan is reported
 * undelivered (a small value and a 64 KiB one, whose send MPI can never
 * complete), what was sent on the shared one arrives. */
static void detach_orphan(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  static bt_type big;
  BT_CHECK_OK(bt_type_value("big", 65536, &big));
  bt_chan *orphan, *orphan_big, *shared;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 60 + me, &bt_type_i64, 4, &orphan));
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 62 + me, &big, 4, &orphan_big));
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 70, &bt_type_i64, 4, &shared));
  int64_t v = 7;
  for (int i = 0; i < 3; i++) BT_CHECK_OK(bt_send(orphan, &v));
  char *blob = calloc(1, 65536);
  BT_CHECK_OK(bt_send(orphan_big, blob));
  free(blob);
  for (int i = 0; i < 2; i++) BT_CHECK_OK(bt_send(shared, &v));
  /* Both ranks' sends are accepted before either detaches: a peer's detach
   * closes the shared channel, and a send after it rightly answers
   * BT_ECLOSED. */
  MPI_Barrier(MPI_COMM_WORLD);
  int rc = bt_mpi_detach(m);
  BT_CHECK_STATUS(rc, BT_ECLOSED);
  BT_CHECK(strstr(bt_errmsg(), "never opened") != NULL);
  BT_CHECK_EQ(mt_undelivered(rc), 4);
  /* The peer received and threw away what went to its missing ends, so
   * every send completed: no request, and no buffer (the 64 KiB payload
   * was one), is kept abandoned for the life of the process. */
  BT_CHECK_EQ(bt__mpi_abandoned_count(m), 0);
  int64_t x;
  for (int i = 0; i < 2; i++) {
    BT_CHECK_OK(bt_recv(shared, &x));
    BT_CHECK_EQ(x, 7);
  }
  BT_CHECK_STATUS(bt_recv(shared, &x), BT_ECLOSED);
  BT_CHECK_OK(bt_chan_release(orphan));
  BT_CHECK_OK(bt_chan_release(orphan_big));
  BT_CHECK_OK(bt_chan_release(shared));
}

BT_TEST_MPI(detach_orphan, 2) {
  /* The orphans' sends wait for the peer to take them, at most the grace:
   * generous, for a loaded machine. */
  setenv("BATON_MPI_DETACH_GRACE_MS", "10000", 1);
  bt_runtime *rt = mt_runtime();
  for (int i = 0; i < 2; i++) {
    bt_mpi *m = mt_attach(rt, i ? "thread" : "direct");
    detach_orphan(rt, m); /* detaches */
  }
  unsetenv("BATON_MPI_DETACH_GRACE_MS");
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

typedef struct counter_arg {
  bt_chan *ch;
  long count; /* sends accepted, or elements received in order */
  int last;   /* the status that ended the loop */
} counter_arg;

static void *produce(void *p) {
  counter_arg *a = p;
  int64_t i = 0;
  while ((a->last = bt_send(a->ch, &i)) == BT_OK) i++;
  a->count = (long)i;
  return NULL;
}

static void *consume(void *p) {
  counter_arg *a = p;
  int64_t x, want = 0;
  while ((a->last = bt_recv(a->ch, &x)) == BT_OK) {
    BT_CHECK_EQ(x, want);
    want++;
  }
  a->count = (long)want;
  return NULL;
}

/* Rank 0 detaches while its producer thread still sends, rank 1 while its
 * consumer thread still receives: every element bt_send accepted is
 * received or reported by detach, none dropped silently. */
static void detach_while_sending(int consumer_keeps_up) {
  bt_runtime *rt = mt_runtime();
  for (int mode = 0; mode < 2; mode++) {
    bt_mpi *m = mt_attach(rt, mode ? "thread" : "direct");
    int me = mt_rank();
    bt_chan *ch;
    BT_CHECK_OK(bt_mpi_chan_create(m, 1 - me, 90, &bt_type_i64, 64, &ch));
    counter_arg a = {ch, 0, 0};
    pthread_t th;
    if (me == 0 || consumer_keeps_up)
      BT_CHECK_EQ(pthread_create(&th, NULL, me == 0 ? produce : consume, &a),
                  0);
    mt_sleep_ms(20 + 10 * me);
    int rc = bt_mpi_detach(m);
    long lost = mt_undelivered(rc);
    BT_CHECK_CMP(lost, >=, 0);
    if (me == 0 || consumer_keeps_up) {
      pthread_join(th, NULL);
    }
    if (me == 1) {
      /* What is left in `in` is still ours to receive. */
      if (!consumer_keeps_up) consume(&a);
      BT_CHECK_STATUS(a.last, BT_ECLOSED);
      MPI_Send(&a.count, 1, MPI_LONG, 0, 11, MPI_COMM_WORLD);
    } else {
      BT_CHECK_STATUS(a.last, BT_ECLOSED);
      long received;
      MPI_Recv(&received, 1, MPI_LONG, 1, 11, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      fprintf(stderr, "  accepted %ld, received %ld, reported lost %ld\n",
              a.count, received, lost);
      BT_CHECK_EQ(a.count, received + lost);
    }
    BT_CHECK_OK(bt_chan_release(ch));
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

BT_TEST_MPI(detach_while_sending, 2) {
  detach_while_sending(1);
}

/* The same with nobody receiving on rank 1 during its detach: rank 0's
 * detach gives up after the grace and says how many it kept. */
BT_TEST_MPI(detach_unreceived, 2) {
  setenv("BATON_MPI_DETACH_GRACE_MS", "50", 1);
  detach_while_sending(0);
  unsetenv("BATON_MPI_DETACH_GRACE_MS");
}

/* A second detach answers BT_ESTATE, with a channel still holding the
 * bridge's memory and without; a detached bridge answers rank -1. */
BT_TEST_MPI(detach_twice, 2) {
  bt_runtime *rt = mt_runtime();
  bt_mpi *m = mt_attach(rt, "direct");
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 3, &bt_type_i64, 1, &ch));
  BT_CHECK_OK(bt_mpi_detach(m));
  BT_CHECK_STATUS(bt_mpi_detach(m), BT_ESTATE);
  BT_CHECK_EQ(bt_mpi_rank(m), -1);
  BT_CHECK_STATUS(bt_mpi_chan_create(m, 1 - mt_rank(), 4, &bt_type_i64, 1, &ch),
                  BT_EINVAL);
  BT_CHECK_OK(bt_chan_release(ch)); /* the bridge's last reference */
  BT_CHECK_STATUS(bt_mpi_detach(m), BT_ESTATE);
  BT_CHECK(strstr(bt_errmsg(), "already detached") != NULL);
  bt_mpi *m2 = mt_attach(rt, "thread");
  BT_CHECK_OK(bt_mpi_detach(m2));
  BT_CHECK_STATUS(bt_mpi_detach(m2), BT_ESTATE);
  /* A forged handle. */
  uint32_t forged[64] = {0};
  BT_CHECK_STATUS(bt_mpi_detach((bt_mpi *)forged), BT_EINVAL);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* Every BATON_MPI_* variable is validated at attach: a clear BT_EINVAL
 * naming the variable and the value, before any MPI call. */
BT_TEST_MPI(bad_environment, 2) {
  static const struct {
    const char *name, *value;
  } bad[] = {
      {"BATON_MPI_SPIN_US", "abc"},
      {"BATON_MPI_SPIN_US", "-5"},
      {"BATON_MPI_SPIN_US", "10x"},
      {"BATON_MPI_SPIN_US", "99999999999"},
      {"BATON_MPI_PROGRESS", "fast"},
      {"BATON_MPI_DEBUG", "yes"},
      {"BATON_MPI_DEBUG", "2"},
      {"BATON_MPI_PEER_TIMEOUT", "-1"},
      {"BATON_MPI_PEER_TIMEOUT", "1s"},
      {"BATON_MPI_PEER_TIMEOUT", "nan"},
      {"BATON_MPI_DETACH_GRACE_MS", "0.5"},
      {"BATON_MPI_WAIT_POLL_MS", "-1"},
      {"BATON_MPI_WAIT_POLL_MS", "3600001"},
      {"BATON_MPI_WAIT_POLL_MS", "fast"},
  };
  bt_runtime *rt = mt_runtime();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv(bad[i].name, bad[i].value, 1);
    bt_mpi *m = NULL;
    BT_CHECK_STATUS(bt_mpi_attach(rt, MPI_COMM_WORLD, &m), BT_EINVAL);
    BT_CHECK(m == NULL);
    char want[96];
    snprintf(want, sizeof want, "%s='%s'", bad[i].name, bad[i].value);
    BT_CHECK(strstr(bt_errmsg(), want) != NULL);
    unsetenv(bad[i].name);
  }
  /* Good values pass. */
  setenv("BATON_MPI_SPIN_US", "0", 1);
  setenv("BATON_MPI_WAIT_POLL_MS", "0", 1);
  setenv("BATON_MPI_PEER_TIMEOUT", "30", 1);
  setenv("BATON_MPI_DEBUG", "1", 1);
  bt_mpi *m;
  BT_CHECK_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  BT_CHECK_OK(bt_mpi_detach(m));
  unsetenv("BATON_MPI_SPIN_US");
  unsetenv("BATON_MPI_WAIT_POLL_MS");
  unsetenv("BATON_MPI_PEER_TIMEOUT");
  unsetenv("BATON_MPI_DEBUG");
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

enum { LATE_REPS = 5 };

/* Lateness of messages sent 1, 5 and 20 ms after the receiver began to
 * wait (long after it stopped spinning): the medians, in ns, through the
 * bridge (*bt) and through MPI itself (*raw: MPI_Recv), for comparison.
 * The two alternate message by message, so that a burst of load on a
 * shared machine hits both. Rank 0 sends its clock; rank 1 (same node,
 * same CLOCK_MONOTONIC) measures. */
static void lateness(bt_chan *ch, long long *bt, long long *raw) {
  static const int delays[] = {1, 5, 20};
  long long late[2][3 * LATE_REPS];
  int n = 0;
  for (int d = 0; d < 3; d++) {
    for (int r = 0; r < LATE_REPS; r++, n++) {
      for (int via_mpi = 0; via_mpi < 2; via_mpi++) {
        long long t = 0;
        MPI_Barrier(MPI_COMM_WORLD);
        if (mt_rank() == 0) {
          mt_sleep_ms(delays[d]);
          t = mt_now_ns();
          if (via_mpi)
            MPI_Send(&t, 1, MPI_LONG_LONG, 1, 5, MPI_COMM_WORLD);
          else
            BT_CHECK_OK(bt_send(ch, &t));
        } else {
          int64_t got;
          if (via_mpi)
            MPI_Recv(&t, 1, MPI_LONG_LONG, 0, 5, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
          else {
            BT_CHECK_OK(bt_recv(ch, &got));
            t = got;
          }
          late[via_mpi][n] = mt_now_ns() - t;
        }
      }
    }
  }
  *bt = *raw = 0;
  if (mt_rank() == 0) return;
  qsort(late[0], (size_t)n, sizeof late[0][0], cmp_ll);
  qsort(late[1], (size_t)n, sizeof late[1][0], cmp_ll);
  *bt = late[0][n / 2];
  *raw = late[1][n / 2];
}

/* The machine's own wake-up lateness, for comparison: a thread asleep on a
 * condition variable woken 1, 5 and 20 ms later by another (the median, in
 * ns). MPI_Recv polls and is never asleep; a blocked bt_recv in thread mode
 * is, and so is the progress thread: on a loaded machine each of those
 * wake-ups waits for a core. */
typedef struct wake_probe {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  long long sent; /* 0: not yet; protected by lock */
  long long late[3 * LATE_REPS];
  int n;
} wake_probe;

static void *wake_sleeper(void *arg) {
  wake_probe *w = arg;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (w->sent == 0) pthread_cond_wait(&w->cond, &w->lock);
    if (w->sent < 0) break;
    w->late[w->n++] = mt_now_ns() - w->sent;
    w->sent = 0;
    pthread_cond_signal(&w->cond);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

static long long wake_lateness(void) {
  static const int delays[] = {1, 5, 20};
  wake_probe w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0,
                  {0}, 0};
  pthread_t t;
  BT_CHECK_EQ(pthread_create(&t, NULL, wake_sleeper, &w), 0);
  for (int i = 0; i < 3 * LATE_REPS; i++) {
    mt_sleep_ms(delays[i / LATE_REPS]);
    pthread_mutex_lock(&w.lock);
    w.sent = mt_now_ns();
    pthread_cond_signal(&w.cond);
    while (w.sent != 0) pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
  }
  pthread_mutex_lock(&w.lock);
  w.sent = -1;
  pthread_cond_signal(&w.cond);
  pthread_mutex_unlock(&w.lock);
  BT_CHECK_EQ(pthread_join(t, NULL), 0);
  qsort(w.late, (size_t)w.n, sizeof w.late[0], cmp_ll);
  return w.late[w.n / 2];
}

/* A message that arrives after the receiver stopped spinning (200 us) is
 * delivered by the progress thread, which polls MPI without sleeping
 * while a thread sleeps on one of its channels, within a poll and a
 * wake-up: on an idle machine the median is tens of microseconds
 * (DESIGN.md's budget: 50 us). The bound asserted is the lenient
 * 200 us plus twice what raw MPI_Recv showed in the same pattern just
 * before, plus twice the machine's own wake-up lateness (two sleeping
 * threads wake on the way in thread mode): generous for a loaded,
 * oversubscribed CI machine (2 ranks and their progress threads on 2
 * shared cores, where a woken thread can wait milliseconds for a core) yet
 * it fails a progress thread that naps (20 us naps: 100-150 us late on an
 * idle VM; 1 ms naps: 2-3 ms) wherever the machine is prompt. The load of a
 * shared machine changes from second to second: raw and bridge messages
 * alternate (a thread that polls is off the CPU for milliseconds now and
 * then under load, MPI_Recv's as much as the progress thread: under MPICH
 * on a loaded VM both were 1-4 ms late in the same attempts), and a mode
 * that misses the bound is measured again, up to five times. The same
 * bound holds for Open MPI and MPICH. */
BT_TEST_MPI(late_wakeup, 2) {
  bt_runtime *rt = mt_runtime();
  for (int mode = 0; mode < 2; mode++) {
    bt_mpi *m = mt_attach(rt, mode ? "thread" : "direct");
    bt_chan *ch;
    BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 5, &bt_type_i64, 4, &ch));
    int ok = 0;
    long long med = 0, raw = 0, bound = 0;
    for (int attempt = 0; attempt < 5 && !ok; attempt++) {
      lateness(ch, &med, &raw);
      if (mt_rank() == 1) {
        long long wake = wake_lateness();
        fprintf(stderr,
                "  %s: median lateness %lld us (raw MPI_Recv %lld us, a "
                "woken thread %lld us)\n",
                mode ? "thread" : "direct", med / 1000, raw / 1000,
                wake / 1000);
        bound = 200000LL + 2 * raw + 2 * wake;
        ok = med < bound;
      }
      /* Both ranks take part in every measurement: rank 1 decides. */
      MPI_Bcast(&ok, 1, MPI_INT, 1, MPI_COMM_WORLD);
    }
    if (mt_rank() == 1) BT_CHECK_CMP(med, <, bound);
    BT_CHECK_OK(bt_chan_release(ch));
    BT_CHECK_OK(bt_mpi_detach(m));
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* One rank of two dies (SIGKILL) with BATON_MPI_PEER_TIMEOUT=2: the
 * survivor's blocked receive, its sends and its detach answer BT_EMPI naming
 * the dead rank, within about the timeout. Open MPI reports nothing itself
 * (its receives just stay pending), so the heartbeats decide. Registered by
 * hand in tests/CMakeLists.txt (mpirun must be told not to kill the
 * survivor); the survivor prints the line CTest looks for and ends without
 * MPI_Finalize, which would wait for the dead rank. */
BT_TEST_DEFINE_(peer_killed) {
  setenv("BATON_MPI_PEER_TIMEOUT", "2", 1);
  bt_runtime *rt = mt_runtime();
  bt_mpi *m = mt_attach(rt, "direct");
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 7, &bt_type_i64, 4, &ch));
  int64_t x = me;
  BT_CHECK_OK(bt_send(ch, &x));
  BT_CHECK_OK(bt_recv(ch, &x));
  BT_CHECK_EQ(x, peer);
  MPI_Barrier(MPI_COMM_WORLD);
  if (me == 1) raise(SIGKILL);
  long long t0 = mt_now_ns();
  BT_CHECK_STATUS(bt_recv(ch, &x), BT_EMPI);
  double waited = (double)(mt_now_ns() - t0) / 1e9;
  BT_CHECK(strstr(bt_errmsg(), "rank 1") != NULL);
  fprintf(stderr, "  bt_recv: after %.2f s: %s\n", waited, bt_errmsg());
  BT_CHECK_STATUS(bt_send(ch, &x), BT_EMPI);
  BT_CHECK_STATUS(bt_mpi_detach(m), BT_EMPI);
  fprintf(stderr, "  bt_mpi_detach: %s\n", bt_errmsg());
  double total = (double)(mt_now_ns() - t0) / 1e9;
  BT_CHECK_CMP(total, <, 30.0); /* the CTest timeout is the real bound */
  printf("survivor ended in %.2f s\n", total);
  fflush(stdout);
  fflush(stderr);
  _exit(0);
}
