/* bridge.c: attach and detach, the request table and the progress thread.
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
 * thread path under MULTIPLE too (so CI runs both). */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bt_mpi *mpi_get(const bt_mpi *m) {
  if (m == NULL || m->magic != BT__MPI_MAGIC) return NULL;
  return (bt_mpi *)m;
}

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
  if (op->kind == BT__OP_SEND) m->nsends++;
  if (op->kind == BT__OP_SEND || op->kind == BT__OP_PAYLOAD_RECV) m->nactive++;
  return BT_OK;
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
  m->magic = 0;
  free(m);
}

/* Lock held: every channel drained its out and sent its close, and every
 * send completed: the barrier may start. */
static int drained(const bt_mpi *m) {
  if (m->nsends) return 0;
  for (const bt__rchan *c = m->chans; c; c = c->next)
    if (!c->close_sent) return 0;
  return 1;
}

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
    for (int k = 0; k < outcount; k++) {
      bt__mpi_op *op = done[k];
      int i = op->index, last = m->nops - 1;
      m->reqs[i] = m->reqs[last];
      m->ops[i] = m->ops[last];
      m->ops[i]->index = i;
      m->nops--;
      op->index = -1;
      if (op->kind == BT__OP_SEND) m->nsends--;
      if (op->kind == BT__OP_SEND || op->kind == BT__OP_PAYLOAD_RECV)
        m->nactive--;
    }
    for (int k = 0; k < outcount; k++) {
      bt__mpi_op *op = done[k];
      if (op->kind == BT__OP_BARRIER) {
        m->barrier_done = true;
      } else {
        bt__rchan_complete(op->chan, op, errs[k], &st[k]);
      }
    }
    work = 1;
    /* The table changed under the window: start the next poll afresh. */
    break;
  }
  return work;
}

/* Lock held: one round of everything the progress thread does. */
static int poll_once(bt_mpi *m) {
  int work = 0;
  for (bt__rchan *c = m->chans; c; c = c->next) work |= bt__rchan_pump(c);
  if (m->detaching && !m->barrier_posted && drained(m)) {
    MPI_Request req;
    int rc = MPI_Ibarrier(m->comm, &req);
    if (rc != MPI_SUCCESS) {
      char msg[MPI_MAX_ERROR_STRING + 64];
      bt__mpi_errstr(rc, "detach: MPI_Ibarrier", msg, sizeof msg);
      fprintf(stderr, "baton: %s\n", msg);
      m->barrier_done = true;
    } else {
      m->barrier_op = (bt__mpi_op){.kind = BT__OP_BARRIER, .index = -1};
      if (bt__mpi_track(m, &m->barrier_op, req) != BT_OK) {
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        m->barrier_done = true;
      }
    }
    m->barrier_posted = true;
    work = 1;
  }
  work |= test_all(m);
  return work;
}

/* ---- caller-driven progress (direct mode) ------------------------------ */

/* The calling thread's current wait: polls in a row that found nothing,
 * and whether the wait is long (the clock is read every 16 polls: it is
 * not free). */
static _Thread_local unsigned wait_idle;
static _Thread_local bool wait_long;

int bt__mpi_wait_begin(bt_mpi *m) {
  if (!m->direct) return 0;
  wait_idle = 0;
  wait_long = false;
  /* seq_cst: ordered before the progress thread's later load of pollers,
   * so it naps instead of competing for the core. */
  atomic_fetch_add(&m->pollers, 1);
  return 1;
}

int bt__mpi_wait_poll(bt_mpi *m, int64_t since_ns) {
  if (wait_idle % 16 == 0) {
    int64_t waited = bt__now_ns() - since_ns;
    if (waited > m->spin_ns) return 0;
    wait_long = waited > BT__MPI_YIELD_AFTER_NS;
  }
  int work = 0;
  if (pthread_mutex_trylock(&m->lock) == 0) {
    int detaching = m->detaching;
    if (!detaching) work = poll_once(m);
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
  if (atomic_fetch_sub(&m->pollers, 1) != 1) return; /* others still poll */
  /* The waiter parks: the progress thread takes over now. Or it got what it
   * waited for, but transfers are still under way: they need MPI polled. */
  int wake = !completed;
  if (!wake && pthread_mutex_trylock(&m->lock) == 0) {
    wake = m->nactive > 0;
    pthread_mutex_unlock(&m->lock);
  }
  if (wake) bt__mpi_kick(m);
}

static void *progress_main(void *arg) {
  bt_mpi *m = arg;
  int64_t idle_since = bt__now_ns(), nap_ns = 0;
  int few_cpus = bt__ncpu() <= 2;
  uint32_t polled_at = 0; /* the wake count when we last polled */
  bool polled = false;
  /* User threads polled lately, and nobody kicked us since: idle, we nap
   * at once instead of spinning, since a spin (sched_yield on few CPUs)
   * would preempt them between their waits on a shared core. */
  bool quiet = false;
  for (;;) {
    /* acquire: pairs with the seq_cst bump in bt__mpi_kick(). */
    uint32_t seen = atomic_load_explicit(&m->wake, memory_order_acquire);
    /* seq_cst: pairs with the fetch_add in bt__mpi_wait_begin(). A user
     * thread polls for us: nap, unless kicked since our last poll. Kicks
     * still wake us (sleeping), the last poller leaving does too. */
    if (m->direct && polled && seen == polled_at &&
        atomic_load(&m->pollers) > 0) {
      atomic_store(&m->deferring, 1); /* seq_cst: see bt__mpi_kick_lazy() */
      atomic_store(&m->sleeping, 1);  /* seq_cst: see bt__mpi_kick() */
      if (atomic_load(&m->wake) == seen && atomic_load(&m->pollers) > 0)
        (void)bt__futex_wait(&m->wake, seen, bt__now_ns() + BT__MPI_DEFER_NS);
      atomic_store(&m->sleeping, 0);
      atomic_store(&m->deferring, 0);
      /* relaxed: as below. */
      if (atomic_load_explicit(&m->stop, memory_order_relaxed)) break;
      quiet = true;
      nap_ns = 0;
      continue;
    }
    if (seen != polled_at) quiet = false;
    polled_at = seen;
    polled = true;
    pthread_mutex_lock(&m->lock);
    /* A transfer in progress needs MPI polled on both sides (rendezvous
     * protocols): no nap while one is outstanding. */
    int work = poll_once(m) || m->nactive > 0;
    int done = m->detaching && m->barrier_done;
    pthread_mutex_unlock(&m->lock);
    /* relaxed: stop only asks for an exit; the lock orders the rest. */
    if (done || atomic_load_explicit(&m->stop, memory_order_relaxed)) break;
    int64_t now = bt__now_ns();
    if (work) {
      idle_since = now;
      nap_ns = 0;
      continue;
    }
    if (!quiet && now - idle_since < m->spin_ns) {
      if (few_cpus)
        sched_yield();
      else
        bt__cpu_relax();
      continue;
    }
    /* Idle: nap on the wake word, a little longer each time, up to 1 ms:
     * kicks end the nap at once; MPI arrivals wait for the next poll. */
    nap_ns = nap_ns ? (nap_ns * 2 > 1000000 ? 1000000 : nap_ns * 2) : 20000;
    atomic_store(&m->sleeping, 1); /* seq_cst: see bt__mpi_kick() */
    if (atomic_load(&m->wake) == seen)
      (void)bt__futex_wait(&m->wake, seen, now + nap_ns);
    atomic_store(&m->sleeping, 0);
  }
  return NULL;
}

int bt_mpi_attach(bt_runtime *rt, MPI_Comm comm, bt_mpi **out) {
  if (out == NULL || comm == MPI_COMM_NULL)
    return bt__fail(BT_EINVAL, "bt_mpi_attach: %s",
                    out == NULL ? "NULL out-parameter" : "MPI_COMM_NULL");
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (!inited || finalized)
    return bt__fail(BT_EINVAL, "bt_mpi_attach: MPI is %s",
                    finalized ? "finalized" : "not initialized");
  int level = MPI_THREAD_SINGLE;
  int rc = MPI_Query_thread(&level);
  if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "MPI_Query_thread");
  if (level < MPI_THREAD_SERIALIZED)
    return bt__fail(BT_ENOTSUP,
                    "bt_mpi_attach: MPI gives thread level %s; the bridge "
                    "needs MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE",
                    level == MPI_THREAD_FUNNELED ? "MPI_THREAD_FUNNELED"
                                                 : "MPI_THREAD_SINGLE");
  bt_mpi *m = calloc(1, sizeof *m);
  if (!m) return bt__fail(BT_ENOMEM, "bt_mpi_attach: out of memory");
  m->magic = BT__MPI_MAGIC;
  m->rt = rt;
  m->thread_level = level;
  const char *mode = getenv("BATON_MPI_PROGRESS");
  m->direct =
      level == MPI_THREAD_MULTIPLE && !(mode && strcmp(mode, "thread") == 0);
  const char *spin = getenv("BATON_MPI_SPIN_US");
  m->spin_ns = (spin ? atol(spin) : 200) * 1000;
  atomic_init(&m->refs, 1);
  atomic_init(&m->wake, 0);
  atomic_init(&m->sleeping, 0);
  atomic_init(&m->stop, 0);
  atomic_init(&m->pollers, 0);
  atomic_init(&m->deferring, 0);
  m->comm = m->hdr_comm = m->data_comm = MPI_COMM_NULL;
  if (pthread_mutex_init(&m->lock, NULL) != 0) {
    free(m);
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

  if (pthread_create(&m->progress, NULL, progress_main, m) != 0) {
    rc = bt__fail(BT_ENOMEM,
                  "bt_mpi_attach: cannot start the progress "
                  "thread");
    goto err_free;
  }
  m->progress_started = true;
  bt__mpi_report_attach(m);
  *out = m;
  return BT_OK;

err_mpi:
  rc = bt__mpi_fail(rc, what);
err_free:
  if (m->data_comm != MPI_COMM_NULL) MPI_Comm_free(&m->data_comm);
  if (m->hdr_comm != MPI_COMM_NULL) MPI_Comm_free(&m->hdr_comm);
  if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
  pthread_mutex_destroy(&m->lock);
  free(m);
  return rc;
}

int bt_mpi_detach(bt_mpi *mpi) {
  if (mpi == NULL) return BT_OK;
  bt_mpi *m = mpi_get(mpi);
  if (!m) return bt__fail(BT_EINVAL, "bt_mpi_detach: not a bridge");
  pthread_mutex_lock(&m->lock);
  if (m->detaching) {
    pthread_mutex_unlock(&m->lock);
    return bt__fail(BT_ESTATE, "bt_mpi_detach: detached twice");
  }
  m->detaching = true;
  for (bt__rchan *c = m->chans; c; c = c->next) bt__rchan_detach_begin(c);
  pthread_mutex_unlock(&m->lock);
  bt__mpi_report_detach(m);
  bt__mpi_kick(m);
  /* The progress thread drains every channel, closes it, waits for its
   * sends, then for the barrier (every rank drained), and exits. */
  pthread_join(m->progress, NULL);
  m->progress_started = false;

  /* Only this thread calls MPI for the bridge now. What is still posted are
   * receives nobody will match: cancel them. */
  pthread_mutex_lock(&m->lock);
  int status = BT_OK;
  while (m->nops > 0) {
    bt__mpi_op *op = m->ops[m->nops - 1];
    MPI_Request *req = &m->reqs[m->nops - 1];
    if (op->kind != BT__OP_SEND) MPI_Cancel(req);
    MPI_Wait(req, MPI_STATUS_IGNORE);
    m->nops--;
    op->index = -1;
    if (op->kind == BT__OP_HDR_RECV) {
      op->chan->hdr_posted = false;
    } else if (op->kind != BT__OP_BARRIER) {
      free(op->buf);
      if (op->has_slice) bt__slice_drop(op->slice);
      free(op);
    }
  }
  m->nsends = 0;
  m->nactive = 0;
  bt__rchan *list = m->chans;
  m->chans = NULL;
  int rc = MPI_Comm_free(&m->data_comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_free(&m->hdr_comm);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_free(&m->comm);
  if (rc != MPI_SUCCESS) status = bt__mpi_fail(rc, "bt_mpi_detach");
  pthread_mutex_unlock(&m->lock);
  while (list) {
    bt__rchan *next = list->next;
    bt__rchan_detach_end(list);
    list = next;
  }
  bt__mpi_unref(m);
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
