/* SPDX-License-Identifier: BSD-3-Clause */
/* bridge.c: attach and detach, the handle pool, the environment, the
 * request table, failure detection and the progress thread.
 *
 * Thread levels. With MPI_THREAD_MULTIPLE the bridge is in direct mode: the
 * thread that sends on a remote channel hands the element to MPI itself
 * (under the bridge's lock), and the progress thread polls requests, posts
 * receives and returns credits. With MPI_THREAD_SERIALIZED every MPI call of
 * the bridge is made by its progress thread (attach and detach make theirs
 * before it starts and after it stopped); the application must then not call
 * MPI while the bridge is attached. MPI_THREAD_FUNNELED and SINGLE are
 * refused (BT_ENOTSUP): the progress thread is not the main thread, which
 * FUNNELED does not allow. BATON_MPI_PROGRESS=thread forces the progress
 * thread path under MULTIPLE too (so CI runs both), except that a sender
 * still hands its element to MPI itself (hook_after_send() in rchan.c).
 *
 * Detach is collective and runs on the progress thread as a little state
 * machine (bt__detach_phase): the ranks exchange the tags of their
 * channels (so a channel whose peer never opened it is known: an orphan),
 * then every channel sends what it can and waits for the peer's close, a
 * channel stuck without credits gives up after the grace period, and a
 * barrier ends it. Nothing accepted by bt_send is dropped silently: what
 * could not be delivered is counted and reported by bt_mpi_detach. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "chan_int.h" /* the waiter counts of a remote channel's queues */
#include "mpi_int.h"

void bt__mpi_errstr(int mpi_rc, const char *what, char *buf, size_t len) {
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  if (MPI_Error_string(mpi_rc, text, &n) != MPI_SUCCESS)
    snprintf(text, sizeof text, "MPI error %d", mpi_rc);
  snprintf(buf, len, "%s: %s", what, text);
}

int bt__mpi_fail(int mpi_rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING + 128];
  bt__mpi_errstr(mpi_rc, what, msg, sizeof msg);
  return bt__fail(BT_EMPI, "%s", msg);
}

/* ---- the handle pool ---------------------------------------------------
 * A bridge's memory goes back to a process-wide pool, never to malloc, so a
 * detached handle stays readable: a second detach reads BT__MPI_DETACHED or
 * BT__MPI_DEAD and answers BT_ESTATE. The pool is a FIFO, so the memory of
 * the bridge detached longest ago is reused first (a handle used after its
 * memory went to a new bridge is the case DESIGN.md leaves undefined). */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static bt_mpi *pool_head, *pool_tail; /* protected by pool_lock */

static bt_mpi *mpi_alloc(void) {
  pthread_mutex_lock(&pool_lock);
  bt_mpi *m = pool_head;
  if (m) {
    pool_head = m->pool_next;
    if (!pool_head) pool_tail = NULL;
  }
  pthread_mutex_unlock(&pool_lock);
  if (!m) return calloc(1, sizeof *m);
  bt__mpi_op *abandoned = m->abandoned;
  memset(m, 0, sizeof *m);
  m->abandoned = abandoned;
  return m;
}

static void mpi_free(bt_mpi *m) {
  pthread_mutex_lock(&pool_lock);
  m->magic = BT__MPI_DEAD;
  m->pool_next = NULL;
  if (pool_tail)
    pool_tail->pool_next = m;
  else
    pool_head = m;
  pool_tail = m;
  pthread_mutex_unlock(&pool_lock);
}

static bt_mpi *mpi_get(const bt_mpi *m) {
  if (m == NULL || m->magic != BT__MPI_MAGIC) return NULL;
  return (bt_mpi *)m;
}

/* ---- the environment --------------------------------------------------- */

/* An unset or empty variable keeps the default. */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? v : NULL;
}

static int env_long(const char *name, long lo, long hi, long dflt, long *out) {
  const char *v = env(name);
  if (!v) {
    *out = dflt;
    return BT_OK;
  }
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
    return bt__fail(BT_EINVAL, "%s='%s' is not an integer in %ld..%ld", name, v,
                    lo, hi);
  *out = n;
  return BT_OK;
}

/* Seconds, a decimal number in 0..86400 (0: off). */
static int env_seconds(const char *name, int64_t *ns) {
  const char *v = env(name);
  *ns = 0;
  if (!v) return BT_OK;
  char *end;
  errno = 0;
  double s = strtod(v, &end);
  if (errno != 0 || end == v || *end != '\0' || !isfinite(s) || s < 0 ||
      s > 86400)
    return bt__fail(BT_EINVAL,
                    "%s='%s' is not a number of seconds in 0..86400 (0: off)",
                    name, v);
  *ns = (int64_t)(s * 1e9);
  if (s > 0 && *ns < 1000000) *ns = 1000000; /* 1 ms at least */
  return BT_OK;
}

/* Every BATON_MPI_* variable, validated before anything is allocated. */
typedef struct mpi_env {
  int thread; /* BATON_MPI_PROGRESS=thread */
  int64_t spin_ns, grace_ns, peer_timeout_ns, wait_poll_ns;
  bool debug;
} mpi_env;

static int env_read(mpi_env *e) {
  const char *mode = env("BATON_MPI_PROGRESS");
  e->thread = 0;
  if (mode) {
    if (strcmp(mode, "thread") == 0)
      e->thread = 1;
    else if (strcmp(mode, "direct") != 0)
      return bt__fail(BT_EINVAL,
                      "BATON_MPI_PROGRESS='%s' is not one of direct, thread",
                      mode);
  }
  long spin_us, grace_ms, debug, wait_poll_ms;
  int rc = env_long("BATON_MPI_SPIN_US", 0, 1000000, 200, &spin_us);
  if (rc == BT_OK)
    rc = env_long("BATON_MPI_DETACH_GRACE_MS", 0, 3600000, 500, &grace_ms);
  if (rc == BT_OK)
    rc = env_long("BATON_MPI_WAIT_POLL_MS", 0, 3600000, BT__MPI_WAIT_POLL_MS,
                  &wait_poll_ms);
  if (rc == BT_OK) rc = env_long("BATON_MPI_DEBUG", 0, 1, 0, &debug);
  if (rc == BT_OK)
    rc = env_seconds("BATON_MPI_PEER_TIMEOUT", &e->peer_timeout_ns);
  if (rc != BT_OK) return rc;
  e->spin_ns = (int64_t)spin_us * 1000;
  e->grace_ns = (int64_t)grace_ms * 1000000;
  e->wait_poll_ns = (int64_t)wait_poll_ms * 1000000;
  e->debug = debug != 0;
  return BT_OK;
}

/* ---- send records ------------------------------------------------------ */

bt__mpi_op *bt__mpi_op_get(bt_mpi *m) {
  bt__mpi_op *op = m->op_cache;
  if (op) {
    m->op_cache = op->free_next;
    m->op_cached--;
  } else {
    op = malloc(sizeof *op + BT__MPI_HDR_BUF);
    if (!op) return NULL;
  }
  unsigned char *hdr = (unsigned char *)(op + 1);
  *op = (bt__mpi_op){
      .kind = BT__OP_SEND, .cached = true, .index = -1, .hdr = hdr};
  return op;
}

bt__mpi_op *bt__mpi_op_get_hdr(bt_mpi *m, size_t bytes) {
  if (bytes <= BT__MPI_HDR_BUF) return bt__mpi_op_get(m);
  bt__mpi_op *op = malloc(sizeof *op + bytes);
  if (!op) return NULL;
  *op = (bt__mpi_op){
      .kind = BT__OP_SEND, .index = -1, .hdr = (unsigned char *)(op + 1)};
  return op;
}

void bt__mpi_op_put(bt_mpi *m, bt__mpi_op *op) {
  if (!op->cached) {
    free(op);
  } else if (m->op_cached < BT__MPI_OP_CACHE) {
    op->free_next = m->op_cache;
    m->op_cache = op;
    m->op_cached++;
  } else {
    free(op);
  }
}

static void op_cache_free(bt_mpi *m) {
  while (m->op_cache) {
    bt__mpi_op *op = m->op_cache;
    m->op_cache = op->free_next;
    free(op);
  }
  m->op_cached = 0;
}

/* ---- the request table ------------------------------------------------- */

int bt__mpi_track(bt_mpi *m, bt__mpi_op *op, MPI_Request req) {
  if (m->nops == m->capops) {
    int cap = m->capops ? 2 * m->capops : 64;
    MPI_Request *reqs = realloc(m->reqs, (size_t)cap * sizeof *reqs);
    if (!reqs) return BT_ENOMEM;
    m->reqs = reqs;
    bt__mpi_op **ops = realloc(m->ops, (size_t)cap * sizeof *ops);
    if (!ops) return BT_ENOMEM;
    m->ops = ops;
    m->capops = cap;
  }
  m->reqs[m->nops] = req;
  m->ops[m->nops] = op;
  op->index = m->nops++;
  if (op->kind == BT__OP_SEND) {
    m->nsends++;
    op->chan->nsends++;
  }
  if (op->kind == BT__OP_PAYLOAD_RECV) op->chan->npayloads++;
  if (op->kind == BT__OP_SEND || op->kind == BT__OP_PAYLOAD_RECV) m->nactive++;
  return BT_OK;
}

/* Lock held: take op out of the table (its request is done or abandoned). */
static void untrack(bt_mpi *m, bt__mpi_op *op) {
  int i = op->index, last = m->nops - 1;
  m->reqs[i] = m->reqs[last];
  m->ops[i] = m->ops[last];
  m->ops[i]->index = i;
  m->nops--;
  op->index = -1;
  if (op->kind == BT__OP_SEND) {
    m->nsends--;
    op->chan->nsends--;
  }
  if (op->kind == BT__OP_PAYLOAD_RECV) op->chan->npayloads--;
  if (op->kind == BT__OP_SEND || op->kind == BT__OP_PAYLOAD_RECV) m->nactive--;
}

void bt__mpi_kick(bt_mpi *m) {
  /* seq_cst, both: the bump is ordered before the read of `sleeping`,
   * pairing with the progress thread's store of `sleeping` before its read
   * of `wake` (a Dekker pair: one of the two sees the other). */
  atomic_fetch_add(&m->wake, 1);
  if (atomic_load(&m->sleeping)) bt__futex_wake(&m->wake, 1);
}

void bt__mpi_kick_lazy(bt_mpi *m) {
  /* seq_cst: ordered as the loads in bt__mpi_kick(); a stale 0 only costs a
   * wake-up, a stale 1 a delay the progress thread bounds (it naps for
   * pollers at most BT__MPI_DEFER_NS, then polls). */
  if (m->direct &&
      (atomic_load(&m->pollers) > 0 || atomic_load(&m->deferring) != 0))
    return;
  bt__mpi_kick(m);
}

void bt__mpi_unref(bt_mpi *m) {
  /* acq_rel: the last reference sees every holder's writes (pairs with the
   * other holders' fetch_sub). */
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
  pthread_mutex_destroy(&m->lock);
  free(m->reqs);
  free(m->ops);
  free(m->xcounts);
  free(m->xtags_out);
  free(m->xtags_in);
  free(m->strays);
  free(m->heard);
  free(m->hb_sent);
  free(m->failed);
  free(m->retired);
  op_cache_free(m);
  mpi_free(m);
}

/* ---- peer failure (BATON_MPI_PEER_TIMEOUT) -----------------------------
 * Open MPI 4.1 over shared memory or TCP reports nothing when a peer dies
 * (mpirun --mca orte_abort_on_non_zero_status 0): its receives stay
 * pending, large sends never complete. So with a timeout set, every
 * progress thread sends a 4-byte heartbeat to every other rank each
 * timeout / 4 on a communicator of its own, and a peer that sent nothing,
 * not even a heartbeat, for the timeout is presumed dead: its channels fail
 * with BT_EMPI, their requests are abandoned (their buffers kept: MPI may
 * still hold them), and detach skips the collectives it would hang in. */

void bt__mpi_heard(bt_mpi *m, int peer) {
  if (m->heard && !m->failed[peer]) m->heard[peer] = bt__now_ns();
}

/* Lock held: op's request was freed unfinished: keep op, and the memory
 * MPI may still use, on the abandoned list. A payload receive takes its
 * item's buffer (and slice) with it; the item is dropped. */
static void abandon_op(bt_mpi *m, bt__mpi_op *op) {
  if (op->kind == BT__OP_PAYLOAD_RECV) {
    bt__rq_item *it = op->item;
    op->buf = it->payload;
    if (it->holds && op->chan->kind == BT__RK_SLICE)
      memcpy(&op->slice, it->elem, sizeof op->slice);
    /* A value received into a slot of `in`: that ring is never freed
     * (this reference is never dropped). */
    if (it->lent) bt_chan_retain(op->chan->in);
    it->state = BT__RQ_READY;
    it->drop = true;
    it->holds = false;
    it->payload = NULL;
    op->item = NULL;
  }
  op->free_next = m->abandoned;
  m->abandoned = op;
}

int bt__mpi_abandoned_count(const bt_mpi *m) {
  pthread_mutex_lock(&pool_lock); /* the pool may be reusing m */
  int n = 0;
  for (const bt__mpi_op *op = m->abandoned; op; op = op->free_next) n++;
  pthread_mutex_unlock(&pool_lock);
  return n;
}

/* Lock held: abandon every request of channel c (its peer is dead). */
static void abandon_chan(bt_mpi *m, bt__rchan *c) {
  for (int i = m->nops - 1; i >= 0; i--) {
    bt__mpi_op *op = m->ops[i];
    if (op->chan != c) continue;
    MPI_Request req = m->reqs[i];
    untrack(m, op);
    if (op->kind == BT__OP_HDR_RECV) {
      /* Unmatched (the peer is silent): the cancel succeeds at once. */
      MPI_Cancel(&req);
      MPI_Wait(&req, MPI_STATUS_IGNORE);
      c->hdr_posted = true; /* never again */
    } else {
      MPI_Request_free(&req);
      abandon_op(m, op);
    }
  }
}

static void declare_failed(bt_mpi *m, int peer, int64_t silent_ns) {
  m->failed[peer] = true;
  m->any_failed = true;
  char msg[256];
  snprintf(msg, sizeof msg,
           "rank %d sent nothing, not even a heartbeat, for %.1f s "
           "(BATON_MPI_PEER_TIMEOUT=%.1f): presumed dead",
           peer, (double)silent_ns / 1e9, (double)m->peer_timeout_ns / 1e9);
  for (bt__rchan *c = m->chans; c; c = c->next) {
    if (c->peer != peer) continue;
    char cmsg[320];
    snprintf(cmsg, sizeof cmsg, "remote channel to rank %d, tag %d: %s", peer,
             c->tag, msg);
    abandon_chan(m, c);
    bt__rchan_failv(c, BT_EMPI, cmsg);
    bt__rchan_deliver(c);
  }
}

static int hb_post(bt_mpi *m) {
  MPI_Request req;
  int rc = MPI_Irecv(&m->hb_buf, 1, MPI_INT32_T, MPI_ANY_SOURCE, 0, m->ctl_comm,
                     &req);
  if (rc != MPI_SUCCESS) return rc;
  m->hb_op = (bt__mpi_op){.kind = BT__OP_HB_RECV, .index = -1};
  if (bt__mpi_track(m, &m->hb_op, req) != BT_OK) {
    MPI_Cancel(&req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    return MPI_ERR_NO_MEM;
  }
  m->hb_posted = true;
  return MPI_SUCCESS;
}

/* Lock held: heartbeats out, silent peers failed. */
static int hb_poll(bt_mpi *m, int64_t now) {
  if (m->ctl_comm == MPI_COMM_NULL) return 0;
  int work = 0;
  if (!m->hb_posted && !m->detaching && hb_post(m) == MPI_SUCCESS) work = 1;
  int64_t every = m->peer_timeout_ns / 4;
  for (int p = 0; p < m->size; p++) {
    if (p == m->rank || m->failed[p]) continue;
    if (now - m->hb_sent[p] >= every) {
      m->hb_sent[p] = now;
      bt__mpi_op *op = bt__mpi_op_get(m);
      if (!op) continue;
      op->kind = BT__OP_HB_SEND;
      MPI_Request req;
      if (MPI_Isend(&m->hb_buf, 0, MPI_INT32_T, p, 0, m->ctl_comm, &req) !=
          MPI_SUCCESS) {
        bt__mpi_op_put(m, op);
        continue;
      }
      if (bt__mpi_track(m, op, req) != BT_OK) {
        MPI_Request_free(&req);
        bt__mpi_op_put(m, op);
      }
      work = 1;
    }
  }
  for (bt__rchan *c = m->chans; c; c = c->next) {
    int p = c->peer;
    if (!m->failed[p] && now - m->heard[p] > m->peer_timeout_ns) {
      declare_failed(m, p, now - m->heard[p]);
      work = 1;
    }
  }
  return work;
}

/* ---- polling ----------------------------------------------------------- */

/* Lock held: test every request; handle those complete. */
static int test_all(bt_mpi *m) {
  if (m->nops == 0) return 0;
  enum { BATCH = 64 };
  int idx[BATCH];
  MPI_Status st[BATCH];
  int n = m->nops < BATCH ? m->nops : BATCH, outcount = 0;
  int work = 0;
  /* Test the table in windows, starting where the last poll stopped, so a
   * long table is polled fairly. */
  int start = m->poll_next < m->nops ? m->poll_next : 0;
  for (int polled = 0, len = 0; polled < m->nops; polled += len) {
    int base = (start + polled) % m->nops;
    len = m->nops - base < n ? m->nops - base : n;
    if (len > m->nops - polled) len = m->nops - polled;
    m->poll_next = base + len;
    int rc = MPI_Testsome(len, m->reqs + base, &outcount, idx, st);
    if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) {
      char msg[MPI_MAX_ERROR_STRING + 64];
      bt__mpi_errstr(rc, "MPI_Testsome", msg, sizeof msg);
      for (bt__rchan *c = m->chans; c; c = c->next)
        bt__rchan_failv(c, BT_EMPI, msg);
      return 1;
    }
    if (outcount == MPI_UNDEFINED || outcount == 0) continue;
    bt__mpi_op *done[BATCH];
    int errs[BATCH];
    for (int k = 0; k < outcount; k++) {
      done[k] = m->ops[base + idx[k]];
      errs[k] = rc == MPI_ERR_IN_STATUS ? st[k].MPI_ERROR : MPI_SUCCESS;
    }
    /* Remove the completed ones (their requests are MPI_REQUEST_NULL now),
     * moving the last entries into their places. */
    for (int k = 0; k < outcount; k++) untrack(m, done[k]);
    for (int k = 0; k < outcount; k++) {
      bt__mpi_op *op = done[k];
      switch (op->kind) {
        case BT__OP_COLL:
          m->coll_done = true;
          if (errs[k] != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING + 64];
            bt__mpi_errstr(errs[k], "detach", msg, sizeof msg);
            fprintf(stderr, "baton: %s\n", msg);
          }
          break;
        case BT__OP_HB_RECV:
          m->hb_posted = false;
          if (errs[k] == MPI_SUCCESS && st[k].MPI_SOURCE >= 0 &&
              st[k].MPI_SOURCE < m->size)
            bt__mpi_heard(m, st[k].MPI_SOURCE);
          break;
        case BT__OP_HB_SEND:
          bt__mpi_op_put(m, op);
          break;
        default:
          bt__rchan_complete(op->chan, op, errs[k], &st[k]);
      }
    }
    work = 1;
    /* The table changed under the window: start the next poll afresh. */
    break;
  }
  return work;
}

/* Lock held: test the request of op (in the table) alone and handle it if
 * complete. Unlike MPI_Testsome, MPI_Test (Open MPI's) looks at the
 * request again after the progress it makes, so a message that MPI
 * matched during the call is seen by this call, not by the next poll: a
 * waiter's own header receive (bt__mpi_wait_poll()). */
static int test_one(bt_mpi *m, bt__mpi_op *op) {
  if (op->index < 0) return 0;
  int flag = 0;
  MPI_Status st;
  int rc = MPI_Test(&m->reqs[op->index], &flag, &st);
  if (rc == MPI_SUCCESS && !flag) return 0;
  untrack(m, op);
  bt__rchan_complete(op->chan, op, rc, &st);
  return 1;
}

int bt__mpi_test_op(bt_mpi *m, bt__mpi_op *op) {
  return test_one(m, op);
}

/* ---- detach ------------------------------------------------------------ */

static void coll_track(bt_mpi *m, int rc, MPI_Request req, const char *what) {
  m->coll_posted = true;
  m->coll_done = false;
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING + 64];
    bt__mpi_errstr(rc, what, msg, sizeof msg);
    fprintf(stderr, "baton: detach: %s\n", msg);
    m->coll_done = true;
    return;
  }
  m->coll_op = (bt__mpi_op){.kind = BT__OP_COLL, .index = -1};
  if (bt__mpi_track(m, &m->coll_op, req) != BT_OK) {
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    m->coll_done = true;
  }
}

/* Post the exchange of channel counts per peer. */
static void detach_counts(bt_mpi *m) {
  int n = m->size;
  int *x = calloc((size_t)4 * n, sizeof *x); /* out, in, sdispl, rdispl */
  int nchans = 0;
  for (bt__rchan *c = m->chans; c; c = c->next) nchans++;
  m->xtags_out = malloc((size_t)(nchans ? nchans : 1) * sizeof(int));
  if (!x || !m->xtags_out) {
    /* Without the exchange no channel is known an orphan: each waits for
     * its peer's close or the grace. */
    free(x);
    fprintf(stderr, "baton: detach: out of memory for the tag exchange\n");
    m->phase = BT__DETACH_DRAIN;
    return;
  }
  m->xcounts = x;
  for (bt__rchan *c = m->chans; c; c = c->next) x[c->peer]++;
  for (int p = 1; p < n; p++) x[2 * n + p] = x[2 * n + p - 1] + x[p - 1];
  int *fill = calloc((size_t)n, sizeof *fill);
  if (!fill) {
    m->phase = BT__DETACH_DRAIN;
    return;
  }
  for (bt__rchan *c = m->chans; c; c = c->next)
    m->xtags_out[x[2 * n + c->peer] + fill[c->peer]++] = c->tag;
  free(fill);
  MPI_Request req;
  int rc = MPI_Ialltoall(x, 1, MPI_INT, x + n, 1, MPI_INT, m->comm, &req);
  coll_track(m, rc, req, "MPI_Ialltoall");
}

static void detach_tags(bt_mpi *m) {
  int n = m->size, *x = m->xcounts, total = 0;
  for (int p = 0; p < n; p++) {
    x[3 * n + p] = total;
    total += x[n + p];
  }
  m->xtags_in = malloc((size_t)(total ? total : 1) * sizeof(int));
  if (!m->xtags_in) {
    m->phase = BT__DETACH_DRAIN;
    return;
  }
  MPI_Request req;
  int rc = MPI_Ialltoallv(m->xtags_out, x, x + 2 * n, MPI_INT, m->xtags_in,
                          x + n, x + 3 * n, MPI_INT, m->comm, &req);
  coll_track(m, rc, req, "MPI_Ialltoallv");
}

static void mark_orphans(bt_mpi *m) {
  int n = m->size, *x = m->xcounts;
  for (bt__rchan *c = m->chans; c; c = c->next) {
    const int *theirs = m->xtags_in + x[3 * n + c->peer];
    bool found = false;
    for (int k = 0; k < x[n + c->peer] && !found; k++)
      found = theirs[k] == c->tag;
    /* A channel whose peer closed had an end there: one that finished
     * and left the peer's list (bt__rchan_finished()) is no orphan. */
    c->orphan = !found && !c->peer_closed;
  }
  /* The other way round: their channels towards us that we never opened
   * (each is an orphan on their side). */
  int total = x[3 * n + n - 1] + x[n + n - 1];
  m->strays = malloc((size_t)(total ? total : 1) * 2 * sizeof(int));
  if (!m->strays) return; /* their sends are then abandoned at detach */
  for (int p = 0; p < n; p++) {
    const int *theirs = m->xtags_in + x[3 * n + p];
    for (int k = 0; k < x[n + p]; k++) {
      bool found = false;
      for (bt__rchan *c = m->chans; c && !found; c = c->next)
        found = c->peer == p && c->tag == theirs[k];
      if (found) continue;
      m->strays[2 * m->nstrays] = p;
      m->strays[2 * m->nstrays + 1] = theirs[k];
      m->nstrays++;
    }
  }
}

/* Lock held, detach: receive and throw away what the peers sent on
 * channels we never opened (headers and payloads), so that their sends
 * complete: a peer waits for them before it ends its detach
 * (bt__rchan_detach_step), and it frees their buffers then instead of
 * abandoning them for the life of the process. */
static int drain_strays(bt_mpi *m) {
  int work = 0;
  for (int i = 0; i < m->nstrays; i++) {
    int peer = m->strays[2 * i], tag = m->strays[2 * i + 1];
    if (m->failed && m->failed[peer]) continue;
    MPI_Comm comms[2] = {m->hdr_comm, m->data_comm};
    for (int k = 0; k < 2; k++) {
      for (;;) {
        int flag = 0, bytes = 0;
        MPI_Message msg;
        MPI_Status st;
        if (MPI_Improbe(peer, tag, comms[k], &flag, &msg, &st) !=
                MPI_SUCCESS ||
            !flag)
          break;
        MPI_Get_count(&st, MPI_BYTE, &bytes);
        void *sink = malloc(bytes > 0 ? (size_t)bytes : 1);
        if (!sink) {
          /* Received anyway: into a byte that MPI truncates to. */
          char one;
          MPI_Mrecv(&one, 1, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
        } else {
          /* The data is on its way (the peer polls its sends): a short
           * wait. */
          MPI_Mrecv(sink, bytes, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
          free(sink);
        }
        work = 1;
      }
    }
  }
  return work;
}

/* Lock held: advance the detach one step. */
static int detach_poll(bt_mpi *m) {
  int64_t now = bt__now_ns();
  if (m->any_failed) {
    /* A dead peer never joins a collective: no exchange, no barrier.
     * Every channel gives up what it cannot send now. */
    for (bt__rchan *c = m->chans; c; c = c->next) {
      c->credit_at = now - m->grace_ns - 1;
      (void)bt__rchan_detach_step(c, now);
    }
    m->phase = BT__DETACH_DONE;
    return 1;
  }
  switch (m->phase) {
    case BT__DETACH_NONE:
    case BT__DETACH_DONE:
      return 0;
    case BT__DETACH_COUNTS:
      if (!m->coll_posted) {
        detach_counts(m);
        return 1;
      }
      if (!m->coll_done) return 0;
      m->coll_posted = false;
      m->phase = BT__DETACH_TAGS;
      detach_tags(m);
      return 1;
    case BT__DETACH_TAGS:
      if (!m->coll_done) return 0;
      m->coll_posted = false;
      mark_orphans(m);
      for (bt__rchan *c = m->chans; c; c = c->next) c->credit_at = now;
      m->phase = BT__DETACH_DRAIN;
      return 1;
    case BT__DETACH_DRAIN: {
      (void)drain_strays(m);
      int all = 1;
      for (bt__rchan *c = m->chans; c; c = c->next)
        all &= bt__rchan_detach_step(c, now);
      if (!all) return 0;
      MPI_Request req;
      int rc = MPI_Ibarrier(m->comm, &req);
      coll_track(m, rc, req, "MPI_Ibarrier");
      m->phase = BT__DETACH_BARRIER;
      return 1;
    }
    case BT__DETACH_BARRIER:
      /* A peer may still wait for us to take its strays. */
      if (!m->coll_done) return drain_strays(m);
      m->phase = BT__DETACH_DONE;
      return 1;
  }
  return 0;
}

/* Lock held: whether a thread is blocked on one of the bridge's channels
 * (a receiver on `in`, a sender on a full `out`). relaxed: a hint that only
 * shortens the progress thread's naps; a waiter queued after the look was
 * preceded by its own polling or a kick (bt__mpi_wait_end()). */
static int anyone_waits(const bt_mpi *m) {
  for (const bt__rchan *c = m->chans; c; c = c->next)
    if (atomic_load_explicit(&c->in->recv_waiting, memory_order_relaxed) ||
        atomic_load_explicit(&c->out->send_waiting, memory_order_relaxed))
      return 1;
  return 0;
}

/* ---- channels that finished ------------------------------------------- */

static uint64_t retired_key(int peer, int tag) {
  /* +1: 0 marks an empty slot. */
  return ((uint64_t)(uint32_t)peer << 32 | (uint32_t)tag) + 1;
}

static size_t retired_slot(uint64_t key, size_t cap) {
  return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

int bt__mpi_retired(const bt_mpi *m, int peer, int tag) {
  if (m->nretired == 0) return 0;
  uint64_t key = retired_key(peer, tag);
  for (size_t i = retired_slot(key, m->capretired);;
       i = (i + 1) & (m->capretired - 1)) {
    if (m->retired[i] == key) return 1;
    if (m->retired[i] == 0) return 0;
  }
}

/* Lock held: remember (peer, tag); BT_ENOMEM leaves the set as it was. */
static int retired_add(bt_mpi *m, int peer, int tag) {
  if (2 * (m->nretired + 1) > m->capretired) {
    size_t cap = m->capretired ? 2 * m->capretired : 64;
    uint64_t *keys = calloc(cap, sizeof *keys);
    if (!keys) return BT_ENOMEM;
    for (size_t i = 0; i < m->capretired; i++) {
      uint64_t k = m->retired[i];
      if (k == 0) continue;
      size_t j = retired_slot(k, cap);
      while (keys[j]) j = (j + 1) & (cap - 1);
      keys[j] = k;
    }
    free(m->retired);
    m->retired = keys;
    m->capretired = cap;
  }
  uint64_t key = retired_key(peer, tag);
  size_t j = retired_slot(key, m->capretired);
  while (m->retired[j]) j = (j + 1) & (m->capretired - 1);
  m->retired[j] = key;
  m->nretired++;
  return BT_OK;
}

/* Lock held, attached: take the channel at *link off the list and drop the
 * bridge's reference (the user's is gone: the channel is freed). Its tag
 * stays taken. 1 if it left. */
static int retire(bt_mpi *m, bt__rchan **link) {
  bt__rchan *c = *link;
  if (retired_add(m, c->peer, c->tag) != BT_OK) return 0; /* stays listed */
  *link = c->next;
  bt__rchan_unref(c);
  return 1;
}

/* Lock held: one round of everything the progress thread does. */
static int poll_once(bt_mpi *m) {
  /* relaxed: a count the progress thread compares across its nap
   * (progress_main(): owed); the lock orders what the round did. */
  atomic_store_explicit(
      &m->rounds, atomic_load_explicit(&m->rounds, memory_order_relaxed) + 1,
      memory_order_relaxed);
  int work = 0;
  for (bt__rchan **link = &m->chans; *link;) {
    bt__rchan *c = *link;
    if (bt__rchan_marked(c)) work |= bt__rchan_pump(c);
    /* user_gone first: a plain flag, so a live channel costs one load. */
    if (c->user_gone && !m->detaching && bt__rchan_finished(c) &&
        retire(m, link))
      continue;
    link = &c->next;
  }
  if (m->ctl_comm != MPI_COMM_NULL) work |= hb_poll(m, bt__now_ns());
  if (m->detaching) work |= detach_poll(m);
  work |= test_all(m);
  return work;
}

int bt__mpi_poll_locked(bt_mpi *m) {
  return poll_once(m);
}

/* ---- caller-driven progress (direct mode) ------------------------------ */

/* The calling thread's current wait: polls in a row that found nothing,
 * and whether the wait is long (the clock is read every 16 polls: it is
 * not free). */
static _Thread_local unsigned wait_idle;
static _Thread_local bool wait_long;
static _Thread_local unsigned wait_polls; /* this wait's polls: poll_for() */
/* A transfer was under way at this wait's last poll (bt__mpi_wait_poll()). */
static _Thread_local bool wait_xfer;
static _Thread_local int64_t wait_xfer_at; /* when it last was; 0: never */

int bt__mpi_wait_begin(bt_mpi *m) {
  if (!m->direct) return 0;
  wait_idle = 0;
  wait_polls = 0;
  wait_xfer = false;
  wait_xfer_at = 0;
  wait_long = false;
  /* seq_cst: ordered before the progress thread's later load of pollers,
   * so it naps instead of competing for the core. */
  atomic_fetch_add(&m->pollers, 1);
  return 1;
}

/* Lock held: one poll of a thread waiting on channel c (NULL: on the
 * bridge): c's own work (its mark, its header receive tested alone), and
 * at the first poll of a wait, then one time in BT__MPI_WAIT_FULL_POLL, or
 * whenever c has no header receive posted or payload receives under way
 * (their requests are in the table), a round of everything (other
 * channels' requests and marks, heartbeats), so they advance while a
 * thread waits on c. The progress thread polls too meanwhile, once per
 * nap for the pollers (progress_main()). */
static int poll_for(bt_mpi *m, bt__rchan *c) {
  wait_xfer = m->nactive > 0;
  if (c == NULL || c->hdr_op.index < 0 || c->npayloads > 0 ||
      wait_polls++ % BT__MPI_WAIT_FULL_POLL == 0)
    return poll_once(m);
  int work = bt__rchan_marked(c) ? bt__rchan_pump(c) : 0;
  return test_one(m, &c->hdr_op) | work;
}

int bt__mpi_wait_poll(bt_mpi *m, bt__rchan *c, int64_t since_ns) {
  if (wait_idle % 16 == 0) {
    int64_t now = bt__now_ns(), waited = now - since_ns;
    /* The spin counts from the wait's start or, if later, from the last
     * poll that saw a transfer of the bridge under way (a rendezvous send
     * or a payload receive outstanding), for up to BT__MPI_XFER_SPIN_NS in
     * all: the reply to a large message comes a round trip after it left,
     * longer than the spin, and the peer's answer follows the end of the
     * transfer closely. */
    if (wait_xfer) wait_xfer_at = now;
    if (waited > m->spin_ns &&
        (m->spin_ns == 0 || waited >= BT__MPI_XFER_SPIN_NS ||
         now - wait_xfer_at > m->spin_ns))
      return 0;
    wait_long = waited > BT__MPI_YIELD_AFTER_NS;
  }
  int work = 0;
  if (pthread_mutex_trylock(&m->lock) == 0) {
    int detaching = m->detaching;
    if (!detaching) work = poll_for(m, c);
    pthread_mutex_unlock(&m->lock);
    if (detaching) return 0; /* detach drains with the progress thread */
  }
  /* A long wait on a shared core lets other threads (other ranks when
   * oversubscribed) run now and then; a short one (a ping-pong) never
   * yields: the switch would cost more than the wait. */
  if (work) {
    wait_idle = 0;
  } else if (++wait_idle % 16 == 0 && wait_long && bt__ncpu() <= 2) {
    sched_yield();
  } else {
    bt__cpu_relax();
  }
  return 1;
}

void bt__mpi_wait_end(bt_mpi *m, int completed) {
  /* seq_cst: pairs with the progress thread's load of pollers before its
   * nap (with the bump of wake in bt__mpi_kick(), a Dekker pair). */
  if (completed) {
    /* relaxed, both: a hint for the progress thread (bt_mpi.wait_ends); a
     * lost bump between two threads only costs it a poll. */
    atomic_store_explicit(
        &m->wait_ends,
        atomic_load_explicit(&m->wait_ends, memory_order_relaxed) + 1,
        memory_order_relaxed);
  }
  if (atomic_fetch_sub(&m->pollers, 1) != 1) return; /* others still poll */
  /* The waiter parks: the progress thread takes over now. A waiter served
   * is not followed by a kick even when transfers are still under way
   * (a rendezvous send waits for the peer's answer): it soon polls again,
   * and a kick put the progress thread, spinning while nactive > 0, on
   * the core of a rank bound to one, beside it (bench_mpi ping-pong,
   * 256 KiB slices: 0.63-0.70 of raw MPI with the kick, 0.77-0.79
   * without). If it does not come back, the progress thread polls them
   * after at most two of its naps for pollers (2 x BT__MPI_DEFER_NS). */
  if (!completed) bt__mpi_kick(m);
}

static _Thread_local bool on_progress_thread;

int bt__mpi_on_progress_thread(void) {
  return on_progress_thread;
}

static void *progress_main(void *arg) {
  bt_mpi *m = arg;
  on_progress_thread = true;
#if defined(__linux__) && defined(PR_SET_TIMERSLACK)
  /* The naps below are tens of microseconds: the default timer slack of a
   * thread (50 us) would more than double them. */
  (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
  int64_t idle_since = bt__now_ns(), nap_ns = 0;
  /* When we first saw a thread asleep on one of our channels with nothing
   * coming since (-1: none now). */
  int64_t waiting_since = -1;
  int few_cpus = bt__ncpu() <= 2;
  uint32_t polled_at = 0; /* the wake count when we last polled */
  bool polled = false;
  /* User threads polled lately, and nobody kicked us since: idle, we nap
   * at once instead of spinning, since a spin (sched_yield on few CPUs)
   * would preempt them between their waits on a shared core. */
  bool quiet = false;
  uint32_t ends_seen = 0; /* m->wait_ends when we last looked */
  /* A poll of ours is due after a nap for pollers in which none of them
   * made a round of everything (poll_once()): a poller may not do all we
   * do (a collective's waiter polls nothing, a channel's waiter mostly its
   * own channel: poll_for()), and what only a round does, such as sending
   * an element that waits in out for credits already received, must not
   * wait for as long as threads keep polling. */
  bool owed = false;
  for (;;) {
    /* acquire: pairs with the seq_cst bump in bt__mpi_kick(). */
    uint32_t seen = atomic_load_explicit(&m->wake, memory_order_acquire);
    /* relaxed: a hint (see bt_mpi.wait_ends); kicks decide the rest. */
    uint32_t ends = atomic_load_explicit(&m->wait_ends, memory_order_relaxed);
    bool recent = ends != ends_seen;
    ends_seen = ends;
    /* seq_cst: pairs with the fetch_add in bt__mpi_wait_begin(). A user
     * thread polls for us, or got what it waited for since we last looked
     * (it is between two waits of a ping-pong, and comes back to poll):
     * nap, unless kicked since our last poll or a poll of ours is owed.
     * Polling then would take its core (a rank bound to one core shares it
     * with us) and its messages (bench_mpi ping-pong: value 8 B 1.16-1.30
     * us with those polls, 1.00-1.03 without; 4 KiB 1.35-1.50x raw MPI's
     * bandwidth, 1.68-1.83x without). Kicks still wake us (sleeping), the
     * last poller leaving unserved does too. */
    if (m->direct && polled && seen == polled_at && !owed &&
        (recent || atomic_load(&m->pollers) > 0)) {
      /* relaxed: see poll_once(). */
      unsigned rounds = atomic_load_explicit(&m->rounds, memory_order_relaxed);
      atomic_store(&m->deferring, 1); /* seq_cst: see bt__mpi_kick_lazy() */
      atomic_store(&m->sleeping, 1);  /* seq_cst: see bt__mpi_kick() */
      if (atomic_load(&m->wake) == seen &&
          (recent || atomic_load(&m->pollers) > 0))
        (void)bt__futex_wait(&m->wake, seen, bt__now_ns() + BT__MPI_DEFER_NS);
      atomic_store(&m->sleeping, 0);
      atomic_store(&m->deferring, 0);
      /* relaxed: as below. */
      if (atomic_load_explicit(&m->stop, memory_order_relaxed)) break;
      quiet = true;
      nap_ns = 0;
      /* relaxed: see poll_once(). */
      owed = atomic_load_explicit(&m->rounds, memory_order_relaxed) == rounds;
      continue;
    }
    if (seen != polled_at) quiet = false;
    polled_at = seen;
    polled = true;
    /* The owed poll while threads poll: only if the lock is free (a thread
     * that holds it is polling or sending), so that they never wait for
     * us nor pay a futex wake-up for us at their unlock. */
    /* seq_cst: as the load above. */
    if (owed && atomic_load(&m->pollers) > 0) {
      owed = false;
      if (pthread_mutex_trylock(&m->lock) != 0) continue;
    } else {
      owed = false;
      pthread_mutex_lock(&m->lock);
    }
    /* A transfer in progress needs MPI polled on both sides (rendezvous
     * protocols): no nap while one is outstanding. */
    int work = poll_once(m) || m->nactive > 0;
    int done = m->phase == BT__DETACH_DONE;
    int waiting = !work && anyone_waits(m);
    pthread_mutex_unlock(&m->lock);
    /* relaxed: stop only asks for an exit; the lock orders the rest. */
    if (done || atomic_load_explicit(&m->stop, memory_order_relaxed)) break;
    int64_t now = bt__now_ns();
    if (work) {
      idle_since = now;
      waiting_since = -1;
      nap_ns = 0;
      continue;
    }
    if (!waiting)
      waiting_since = -1;
    else if (waiting_since < 0)
      waiting_since = now;
    /* A thread sleeps on one of our channels (it stopped polling, or never
     * polls: thread mode): poll MPI without sleeping, as MPI_Recv would
     * for it, so that a message is handed over within a poll and the
     * waiter's wake-up instead of a timed nap's overshoot (about 45 us on
     * a VM even with 1 us of timer slack). A core for that long at most,
     * after the last message (BATON_MPI_WAIT_POLL_MS); then naps. */
    if (waiting && now - waiting_since < m->wait_poll_ns) {
      if (few_cpus)
        sched_yield();
      else
        bt__cpu_relax();
      continue;
    }
    if (!quiet && now - idle_since < m->spin_ns) {
      if (few_cpus)
        sched_yield();
      else
        bt__cpu_relax();
      continue;
    }
    /* Idle: nap on the wake word; kicks end the nap at once, MPI arrivals
     * wait for the next poll. While a thread is blocked on one of our
     * channels past BATON_MPI_WAIT_POLL_MS the nap stays
     * BT__MPI_WAITER_NAP_NS, so a message that arrives for it is
     * delivered within about that; else it grows to BT__MPI_IDLE_NAP_NS. */
    if (waiting) {
      nap_ns = BT__MPI_WAITER_NAP_NS;
    } else {
      nap_ns = nap_ns ? nap_ns * 2 : BT__MPI_WAITER_NAP_NS;
      if (nap_ns > BT__MPI_IDLE_NAP_NS) nap_ns = BT__MPI_IDLE_NAP_NS;
    }
    atomic_store(&m->sleeping, 1); /* seq_cst: see bt__mpi_kick() */
    if (atomic_load(&m->wake) == seen)
      (void)bt__futex_wait(&m->wake, seen, now + nap_ns);
    atomic_store(&m->sleeping, 0);
  }
  return NULL;
}

/* ---- ranks sharing a node ----------------------------------------------
 * The runtime took its share of the node from the launcher's local-rank
 * variables (core/share.c), before MPI. At attach, MPI_COMM_TYPE_SHARED
 * says which ranks really share the node: a launcher rank that disagrees
 * is reported, and so are ranks of the node whose bound workers sit on the
 * same PUs (the lowest rank of the node reports, once per bridge). */

static void check_share(bt_mpi *m) {
  MPI_Comm node;
  if (m->rt == NULL || MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, 0,
                                           MPI_INFO_NULL, &node) != MPI_SUCCESS)
    return;
  int nr = 0, ns = 1, same = MPI_UNEQUAL;
  MPI_Comm_rank(node, &nr);
  MPI_Comm_size(node, &ns);
  MPI_Comm_compare(m->comm, MPI_COMM_WORLD, &same);
  int lr = -1, ls = 0;
  if (bt__runtime_local_rank(m->rt, &lr, &ls) && ls > 1 &&
      (same == MPI_IDENT || same == MPI_CONGRUENT) && (lr != nr || ls != ns))
    fprintf(stderr,
            "baton: rank %d: the launcher's node-local rank %d of %d differs "
            "from MPI_COMM_TYPE_SHARED's %d of %d: the runtime's share of the "
            "node may overlap another rank's\n",
            m->rank, lr, ls, nr, ns);
  /* Each rank: its bound workers' PUs (none when it does not bind). */
  int nw = bt_runtime_bound(m->rt) ? bt_runtime_workers(m->rt) : 0;
  int *counts = calloc((size_t)ns * 2, sizeof *counts);
  int *mine = malloc((size_t)(nw ? nw : 1) * sizeof *mine);
  int *all = NULL;
  /* Every rank takes part in the same collectives, whatever its memory. */
  int ok = counts && mine, all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, node);
  if (!all_ok) goto out;
  for (int w = 0; w < nw; w++) mine[w] = bt_worker_cpu(m->rt, w);
  if (MPI_Allgather(&nw, 1, MPI_INT, counts, 1, MPI_INT, node) != MPI_SUCCESS)
    goto out;
  int total = 0;
  for (int r = 0; r < ns; r++) {
    counts[ns + r] = total;
    total += counts[r];
  }
  all = malloc((size_t)(total ? total : 1) * sizeof *all);
  ok = all != NULL;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, node);
  if (!all_ok ||
      MPI_Allgatherv(mine, nw, MPI_INT, all, counts, counts + ns, MPI_INT,
                     node) != MPI_SUCCESS ||
      nr != 0)
    goto out;
  int reported = 0;
  for (int a = 0; a < ns && reported < 4; a++)
    for (int b = a + 1; b < ns && reported < 4; b++)
      for (int i = 0; i < counts[a]; i++) {
        int cpu = all[counts[ns + a] + i], hit = 0;
        for (int j = 0; j < counts[b] && !hit; j++)
          hit = all[counts[ns + b] + j] == cpu;
        if (!hit) continue;
        fprintf(stderr,
                "baton: node-local ranks %d and %d of %d pin workers on the "
                "same PU %d: ranks take shares of a node's cores when "
                "launched unbound (--bind-to none) and the node has a PU "
                "per rank\n",
                a, b, ns, cpu);
        reported++;
        break;
      }
out:
  free(all);
  free(mine);
  free(counts);
  MPI_Comm_free(&node);
}

/* ---- attach and detach ------------------------------------------------- */

static int attach_peer_timeout(bt_mpi *m) {
  int n = m->size;
  m->heard = malloc((size_t)n * sizeof *m->heard);
  m->hb_sent = calloc((size_t)n, sizeof *m->hb_sent);
  m->failed = calloc((size_t)n, sizeof *m->failed);
  if (!m->heard || !m->hb_sent || !m->failed)
    return bt__fail(BT_ENOMEM, "bt_mpi_attach: out of memory");
  int64_t now = bt__now_ns();
  for (int p = 0; p < n; p++) m->heard[p] = now;
  int rc = MPI_Comm_dup(m->comm, &m->ctl_comm);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_set_errhandler(m->ctl_comm, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "bt_mpi_attach: MPI_Comm_dup");
  return BT_OK;
}

int bt_mpi_attach(bt_runtime *rt, MPI_Comm comm, bt_mpi **out) {
  if (bt__runtime_check(rt, "bt_mpi_attach") != BT_OK) return BT_EINVAL;
  if (out == NULL || comm == MPI_COMM_NULL)
    return bt__fail(BT_EINVAL, "bt_mpi_attach: %s",
                    out == NULL ? "NULL out-parameter" : "MPI_COMM_NULL");
  mpi_env e = {0};
  int rc = env_read(&e);
  if (rc != BT_OK) return rc;
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (!inited || finalized)
    return bt__fail(BT_EINVAL, "bt_mpi_attach: MPI is %s",
                    finalized ? "finalized" : "not initialized");
  int level = MPI_THREAD_SINGLE;
  rc = MPI_Query_thread(&level);
  if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "MPI_Query_thread");
  if (level < MPI_THREAD_SERIALIZED)
    return bt__fail(BT_ENOTSUP,
                    "bt_mpi_attach: MPI gives thread level %s; the bridge "
                    "needs MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE",
                    level == MPI_THREAD_FUNNELED ? "MPI_THREAD_FUNNELED"
                                                 : "MPI_THREAD_SINGLE");
  bt_mpi *m = mpi_alloc();
  if (!m) return bt__fail(BT_ENOMEM, "bt_mpi_attach: out of memory");
  m->rt = rt;
  m->thread_level = level;
  m->direct = level == MPI_THREAD_MULTIPLE && !e.thread;
  m->spin_ns = e.spin_ns;
  m->grace_ns = e.grace_ns;
  m->wait_poll_ns = e.wait_poll_ns;
  m->peer_timeout_ns = e.peer_timeout_ns;
  m->debug = e.debug;
  atomic_init(&m->refs, 1);
  atomic_init(&m->wake, 0);
  atomic_init(&m->sleeping, 0);
  atomic_init(&m->stop, 0);
  atomic_init(&m->pollers, 0);
  atomic_init(&m->deferring, 0);
  atomic_init(&m->wait_ends, 0);
  atomic_init(&m->rounds, 0);
  atomic_init(&m->waiters, 0);
  m->comm = m->hdr_comm = m->data_comm = m->ctl_comm = MPI_COMM_NULL;
  if (pthread_mutex_init(&m->lock, NULL) != 0) {
    mpi_free(m);
    return bt__fail(BT_ENOMEM, "bt_mpi_attach: mutex");
  }

  const char *what = "MPI_Comm_dup";
  rc = MPI_Comm_dup(comm, &m->comm);
  if (rc != MPI_SUCCESS) goto err_mpi;
  what = "MPI_Comm_set_errhandler";
  rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) goto err_mpi;
  what = "MPI_Comm_dup";
  rc = MPI_Comm_dup(m->comm, &m->hdr_comm);
  if (rc != MPI_SUCCESS) goto err_mpi;
  rc = MPI_Comm_dup(m->comm, &m->data_comm);
  if (rc != MPI_SUCCESS) goto err_mpi;
  what = "MPI_Comm_set_errhandler";
  rc = MPI_Comm_set_errhandler(m->hdr_comm, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS)
    rc = MPI_Comm_set_errhandler(m->data_comm, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) goto err_mpi;
  what = "MPI_Comm_rank";
  rc = MPI_Comm_rank(m->comm, &m->rank);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_size(m->comm, &m->size);
  if (rc != MPI_SUCCESS) goto err_mpi;
  int *ub = NULL, flag = 0;
  rc = MPI_Comm_get_attr(m->comm, MPI_TAG_UB, &ub, &flag);
  m->tag_ub = rc == MPI_SUCCESS && flag && ub ? *ub : 32767;
  if (m->peer_timeout_ns > 0 && (rc = attach_peer_timeout(m)) != BT_OK)
    goto err_free;
  check_share(m);

  if (pthread_create(&m->progress, NULL, progress_main, m) != 0) {
    rc = bt__fail(BT_ENOMEM,
                  "bt_mpi_attach: cannot start the progress "
                  "thread");
    goto err_free;
  }
  m->progress_started = true;
  pthread_mutex_lock(&pool_lock); /* orders the magic with mpi_free()'s */
  m->magic = BT__MPI_MAGIC;
  pthread_mutex_unlock(&pool_lock);
  bt__mpi_report_attach(m);
  *out = m;
  return BT_OK;

err_mpi:
  rc = bt__mpi_fail(rc, what);
err_free:
  if (m->ctl_comm != MPI_COMM_NULL) MPI_Comm_free(&m->ctl_comm);
  if (m->data_comm != MPI_COMM_NULL) MPI_Comm_free(&m->data_comm);
  if (m->hdr_comm != MPI_COMM_NULL) MPI_Comm_free(&m->hdr_comm);
  if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
  pthread_mutex_destroy(&m->lock);
  free(m->heard);
  free(m->hb_sent);
  free(m->failed);
  mpi_free(m);
  return rc;
}

/* Lock held, the progress thread gone: end every request still in the
 * table. Receives nobody will match are cancelled; requests towards a dead
 * peer or an orphan's are abandoned (MPI may still use their buffers, so
 * those are leaked). */
static void detach_requests(bt_mpi *m) {
  while (m->nops > 0) {
    bt__mpi_op *op = m->ops[m->nops - 1];
    MPI_Request req = m->reqs[m->nops - 1];
    untrack(m, op);
    bool dead = op->chan && m->failed && m->failed[op->chan->peer];
    switch (op->kind) {
      case BT__OP_HDR_RECV:
      case BT__OP_HB_RECV:
        MPI_Cancel(&req);
        if (dead || m->any_failed)
          MPI_Request_free(&req);
        else
          MPI_Wait(&req, MPI_STATUS_IGNORE);
        if (op->kind == BT__OP_HDR_RECV) op->chan->hdr_posted = false;
        break;
      case BT__OP_PAYLOAD_RECV:
        /* A drained channel has none: the peer's close came after them. */
        MPI_Cancel(&req);
        MPI_Request_free(&req);
        abandon_op(m, op);
        break;
      case BT__OP_SEND:
        /* An orphan's or a dead peer's (a drained channel has none). */
        MPI_Request_free(&req);
        abandon_op(m, op);
        break;
      case BT__OP_HB_SEND:
        MPI_Request_free(&req); /* reads m->hb_buf: m is never freed */
        bt__mpi_op_put(m, op);
        break;
      case BT__OP_COLL:
        /* Left running (a dead peer never joins); freeing it is erroneous. */
        break;
    }
  }
  m->nsends = 0;
  m->nactive = 0;
}

int bt_mpi_detach(bt_mpi *mpi) {
  if (mpi == NULL) return BT_OK;
  /* A bridge's memory is never freed (the handle pool): reading the magic
   * of a detached one is safe. */
  uint32_t magic = mpi->magic;
  if (magic == BT__MPI_DETACHED || magic == BT__MPI_DEAD)
    return bt__fail(BT_ESTATE, "bt_mpi_detach: %p is already detached",
                    (const void *)mpi);
  bt_mpi *m = mpi_get(mpi);
  if (!m) return bt__bad_handle("bt_mpi_detach", "MPI bridge", mpi);
  pthread_mutex_lock(&m->lock);
  if (m->detaching) {
    pthread_mutex_unlock(&m->lock);
    return bt__fail(BT_ESTATE, "bt_mpi_detach: detached twice");
  }
  m->detaching = true;
  m->detach_start = bt__now_ns();
  m->phase = BT__DETACH_COUNTS;
  for (bt__rchan *c = m->chans; c; c = c->next) bt__rchan_detach_begin(c);
  pthread_mutex_unlock(&m->lock);
  bt__mpi_report_detach(m);
  bt__mpi_kick(m);
  /* The progress thread runs the detach (detach_poll()) and exits. */
  pthread_join(m->progress, NULL);
  m->progress_started = false;

  /* Only this thread calls MPI for the bridge now. */
  pthread_mutex_lock(&m->lock);
  int status = BT_OK;
  detach_requests(m);
  char lost[512] = "";
  size_t used = 0;
  uint64_t nlost = 0;
  for (bt__rchan *c = m->chans; c; c = c->next) {
    if (c->undelivered == 0) continue;
    nlost += c->undelivered;
    const char *why = m->failed && m->failed[c->peer] ? "the peer failed"
                      : c->orphan ? "the peer never opened the channel"
                                  : "the peer took no more in time "
                                    "(BATON_MPI_DETACH_GRACE_MS)";
    if (used < sizeof lost - 1)
      used += (size_t)snprintf(lost + used, sizeof lost - used,
                               "%s%" PRIu64 " to rank %d, tag %d (%s)",
                               used ? "; " : "", c->undelivered, c->peer,
                               c->tag, why);
    if (used > sizeof lost - 1) used = sizeof lost - 1;
  }
  bt__rchan *list = m->chans;
  m->chans = NULL;
  int rc = MPI_SUCCESS;
  if (m->ctl_comm != MPI_COMM_NULL) rc = MPI_Comm_free(&m->ctl_comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_free(&m->data_comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_free(&m->hdr_comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_free(&m->comm);
  if (rc != MPI_SUCCESS) status = bt__mpi_fail(rc, "bt_mpi_detach");
  bool failed = m->any_failed;
  m->magic = BT__MPI_DETACHED;
  pthread_mutex_unlock(&m->lock);
  while (list) {
    bt__rchan *next = list->next;
    bt__rchan_detach_end(list);
    list = next;
  }
  bt__mpi_unref(m);
  if (status == BT_OK && nlost > 0)
    status = bt__fail(failed ? BT_EMPI : BT_ECLOSED,
                      "bt_mpi_detach: %" PRIu64
                      " elements accepted by bt_send were not delivered: %s",
                      nlost, lost);
  else if (status == BT_OK && failed)
    status = bt__fail(BT_EMPI,
                      "bt_mpi_detach: a peer failed (BATON_MPI_PEER_TIMEOUT); "
                      "MPI_Finalize may hang: end the process without it");
  return status;
}

int bt_mpi_rank(const bt_mpi *mpi) {
  const bt_mpi *m = mpi_get(mpi);
  return m ? m->rank : -1;
}

int bt_mpi_size(const bt_mpi *mpi) {
  const bt_mpi *m = mpi_get(mpi);
  return m ? m->size : -1;
}
