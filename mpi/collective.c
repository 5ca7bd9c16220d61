/* SPDX-License-Identifier: BSD-3-Clause */
/* collective.c: collectives on the bridge's communicator (bt_mpi_allreduce,
 * barrier, bcast) and the internal ones the distributed arrays use.
 *
 * They run on m->comm, the bridge's duplicate of the user's communicator,
 * which carries no point-to-point traffic of the channels (remote channels
 * use hdr_comm and data_comm), so they never match the application's
 * messages. With MPI_THREAD_MULTIPLE the caller makes the blocking MPI call
 * itself: no thread hop, the latency of MPI's own collective; in direct
 * mode, if the progress thread is awake, it counts among the bridge's
 * pollers meanwhile, so the progress thread naps (coll_hush) instead of
 * polling every request of the bridge against the collective for MPI's
 * locks and the core (one double's allreduce after 60 channels had been
 * made: 3.8-4.1 us against 0.9-1.5 for MPI_Allreduce, in 2 of 3 runs).
 * With MPI_THREAD_SERIALIZED every MPI call goes under the bridge's lock,
 * the lock every MPI call of the bridge is made under, so calls stay
 * serialized; the progress thread keeps serving the channels meanwhile. A
 * small allreduce is then recursive doubling over point-to-point messages
 * on m->comm (coll_small_allreduce), anything else the non-blocking
 * collective, tested under the lock until done (bt__coll_waitall). */
#define _POSIX_C_SOURCE 200809L
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "dist_int.h"

bt_mpi *bt__mpi_valid(const bt_mpi *m) {
  if (m == NULL || m->magic != BT__MPI_MAGIC) return NULL;
  return (bt_mpi *)m;
}

int bt__coll_enter(bt_mpi *m, const char *who) {
  int expected = 0;
  /* acquire: pairs with the release store in bt__coll_leave(), so the next
   * collective sees the previous one's MPI calls as done. */
  if (!atomic_compare_exchange_strong_explicit(&m->coll_busy, &expected, 1,
                                               memory_order_acquire,
                                               memory_order_relaxed))
    return bt__fail(BT_ESTATE,
                    "%s: another collective of this bridge runs on rank %d; "
                    "collectives of one bridge are called one at a time, in "
                    "the same order on every rank",
                    who, m->rank);
  return BT_OK;
}

void bt__coll_leave(bt_mpi *m) {
  /* release: pairs with the acquire in bt__coll_enter(). */
  atomic_store_explicit(&m->coll_busy, 0, memory_order_release);
}

/* MPICH defines MPI_STATUSES_IGNORE as the sentinel (MPI_Status *)1 and
 * gives MPI_Waitall/MPI_Testall access attributes, so GCC 12 reports a
 * write of n statuses into "a region of size 0": a false positive. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
int bt__mpi_waitall_ignore(int n, MPI_Request *reqs) {
  return MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE);
}

int bt__mpi_testall_ignore(int n, MPI_Request *reqs, int *done) {
  return MPI_Testall(n, reqs, done, MPI_STATUSES_IGNORE);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Complete n requests (MPI_Testall under the bridge's lock unless MPI is
 * MULTIPLE). A wait spins the first BT__MPI_YIELD_AFTER_NS, then, on a
 * shared core, yields every 4th poll so the other ranks can reach the
 * collective: a yield at once gives the core to whatever else runs (on the
 * loaded 2-core VM one double's MPI_Iallreduce took 3.8 us with a yield
 * every 4th poll from the start, 1.0 us with none). */
int bt__coll_waitall(bt_mpi *m, int n, MPI_Request *reqs, int64_t timeout_ns,
                     const char *what) {
  bool free_calls = bt__mpi_free_calls(m);
  if (free_calls && timeout_ns < 0) {
    int rc = bt__mpi_waitall_ignore(n, reqs);
    return rc == MPI_SUCCESS ? BT_OK : bt__mpi_fail(rc, what);
  }
  int64_t start = bt__now_ns();
  int64_t deadline = bt__deadline(timeout_ns);
  bool few_cpus = bt__ncpu() <= 2, spinning = true;
  for (unsigned polls = 0;; polls++) {
    int done = 0, rc;
    if (!free_calls) pthread_mutex_lock(&m->lock);
    rc = bt__mpi_testall_ignore(n, reqs, &done);
    if (!free_calls) pthread_mutex_unlock(&m->lock);
    if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, what);
    if (done) return BT_OK;
    if (deadline == 0)
      return bt__fail(BT_ETIMEDOUT, "%s: not complete within the timeout",
                      what);
    if (polls % 16 == 15 && (spinning || deadline > 0)) {
      int64_t now = bt__now_ns();
      if (deadline > 0 && now >= deadline)
        return bt__fail(BT_ETIMEDOUT, "%s: not complete within the timeout",
                        what);
      spinning = now - start < BT__MPI_YIELD_AFTER_NS;
    }
    /* On a shared core the other ranks need it to reach the collective. */
    if (few_cpus && !spinning && polls % 4 == 3)
      sched_yield();
    else
      bt__cpu_relax();
  }
}

int bt__coll_wait(bt_mpi *m, MPI_Request *req, int64_t timeout_ns,
                  const char *what) {
  return bt__coll_waitall(m, 1, req, timeout_ns, what);
}

/* Direct mode, before a blocking collective: count among the bridge's
 * pollers, so the progress thread naps instead of polling every request of
 * the bridge against the collective, but only while it is awake (it polls
 * after work, spin_ns). Asleep, it stays on its idle naps: a count would
 * shorten them to BT__MPI_DEFER_NS and restart their growth after the call,
 * and on a shared core each wake-up preempts a rank (loaded 2-core VM, one
 * double's allreduce in a loop: 0.49 us counted always, 0.45 counted only
 * awake, 0.44 MPI_Allreduce beside the same bridge). 1: call
 * bt__mpi_wait_end() after. */
static int coll_hush(bt_mpi *m) {
  /* seq_cst: as the progress thread's store before its nap. A hint: a
   * stale 1 (it is just waking) costs one poll of the bridge beside the
   * collective, or its spin if that poll finds work it must serve anyway; a
   * stale 0 a count. */
  if (!m->direct || atomic_load(&m->sleeping)) return 0;
  return bt__mpi_wait_begin(m);
}

/* The small allreduce's and allgather's messages on m->comm, which carries no
 * other point-to-point traffic (collectives match in their own context). One
 * tag serves every call: collectives of a bridge run one at a time, in the
 * same order on every rank, and a pair of ranks exchanges at most one
 * message each way per call (in an allgather exactly one), so MPI's ordering
 * matches call to call. */
#define COLL_TAG 1
/* Largest vector (bytes) the point-to-point allreduce takes. */
#define COLL_SMALL 1024

MPI_Datatype bt__mpi_dtype(bt_dtype t) {
  switch (t) {
    case BT_F64:
      return MPI_DOUBLE;
    case BT_F32:
      return MPI_FLOAT;
    case BT_I64:
      return MPI_INT64_T;
    case BT_I32:
      return MPI_INT32_T;
    case BT_U8:
      return MPI_UINT8_T;
  }
  return MPI_DATATYPE_NULL;
}

/* Largest number of ranks, and of bytes gathered, for which the
 * serialized allgather goes point to point. */
#define COLL_GATHER_RANKS 64
#define COLL_GATHER_BYTES (64 << 10)

int bt__coll_allgather(bt_mpi *m, const void *in, void *all, int bytes) {
  const char *what = "MPI_Allgather";
  if (bt__mpi_free_calls(m)) {
    int quiet = coll_hush(m);
    int rc = MPI_Allgather(in, bytes, MPI_BYTE, all, bytes, MPI_BYTE, m->comm);
    if (quiet) bt__mpi_wait_end(m, 1);
    return rc == MPI_SUCCESS ? BT_OK : bt__mpi_fail(rc, what);
  }
  char *mine = (char *)all + (size_t)m->rank * (size_t)bytes;
  if (bytes > 0) memmove(mine, in, (size_t)bytes);
  if (m->size <= COLL_GATHER_RANKS &&
      (int64_t)bytes * m->size <= COLL_GATHER_BYTES) {
    /* Serialized, small: every rank sends its block to every other one in
     * one round (MPI_Iallgather polled under the lock cost about twice
     * MPI_Allgather, as MPI_Iallreduce did). */
    MPI_Request reqs[2 * COLL_GATHER_RANKS];
    int n = 0, rc = MPI_SUCCESS;
    pthread_mutex_lock(&m->lock);
    for (int r = 0; r < m->size && rc == MPI_SUCCESS; r++)
      if (r != m->rank)
        rc = MPI_Irecv((char *)all + (size_t)r * (size_t)bytes, bytes, MPI_BYTE,
                       r, COLL_TAG, m->comm, &reqs[n++]);
    for (int r = 0; r < m->size && rc == MPI_SUCCESS; r++)
      if (r != m->rank)
        rc = MPI_Isend(mine, bytes, MPI_BYTE, r, COLL_TAG, m->comm, &reqs[n++]);
    if (rc != MPI_SUCCESS) {
      /* The failed call left no request; cancel what was posted. */
      for (int i = 0; i < n - 1; i++) {
        MPI_Cancel(&reqs[i]);
        MPI_Request_free(&reqs[i]);
      }
    }
    pthread_mutex_unlock(&m->lock);
    if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "MPI_Isend/MPI_Irecv");
    return bt__coll_waitall(m, n, reqs, -1, what);
  }
  MPI_Request req;
  pthread_mutex_lock(&m->lock);
  int rc = MPI_Iallgather(MPI_IN_PLACE, bytes, MPI_BYTE, all, bytes, MPI_BYTE,
                          m->comm, &req);
  pthread_mutex_unlock(&m->lock);
  if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "MPI_Iallgather");
  return bt__coll_wait(m, &req, -1, what);
}

int bt__coll_dup(bt_mpi *m, MPI_Comm *out) {
  MPI_Comm c = MPI_COMM_NULL;
  int rc;
  if (bt__mpi_free_calls(m)) {
    rc = MPI_Comm_dup(m->comm, &c);
    if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "MPI_Comm_dup");
  } else {
    MPI_Request req;
    pthread_mutex_lock(&m->lock);
    rc = MPI_Comm_idup(m->comm, &c, &req);
    pthread_mutex_unlock(&m->lock);
    if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "MPI_Comm_idup");
    int st = bt__coll_wait(m, &req, -1, "MPI_Comm_idup");
    if (st != BT_OK) return st;
  }
  if (!bt__mpi_free_calls(m)) pthread_mutex_lock(&m->lock);
  rc = MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  if (!bt__mpi_free_calls(m)) pthread_mutex_unlock(&m->lock);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&c);
    return bt__mpi_fail(rc, "MPI_Comm_set_errhandler");
  }
  *out = c;
  return BT_OK;
}

/* Element size of the allreduce dtypes. */
static size_t coll_elem(bt_dtype t) {
  return t == BT_F64 || t == BT_I64 ? 8 : 4;
}

/* acc[i] = op(lo[i], hi[i]) for i < count; acc may be lo or hi. The lower
 * ranks' operand always comes first, so both ranks of a pair compute the
 * same expression and get the same bits. */
#define COLL_COMBINE(T)                        \
  do {                                         \
    const T *l = lo, *h = hi;                  \
    T *o = acc;                                \
    for (int i = 0; i < count; i++) {          \
      T x = l[i], y = h[i];                    \
      o[i] = op == BT_SUM   ? x + y            \
             : op == BT_MAX ? (y > x ? y : x)  \
                            : (y < x ? y : x); \
    }                                          \
  } while (0)

static void coll_combine(bt_op op, bt_dtype t, const void *lo, const void *hi,
                         void *acc, int count) {
  switch (t) {
    case BT_F64:
      COLL_COMBINE(double);
      break;
    case BT_F32:
      COLL_COMBINE(float);
      break;
    case BT_I64:
      COLL_COMBINE(int64_t);
      break;
    default:
      COLL_COMBINE(int32_t);
      break;
  }
}
#undef COLL_COMBINE

/* One step: send `send` to `to` (-1: none), receive into `recv` from
 * `from` (-1: none), then wait for both. */
static int coll_step(bt_mpi *m, int to, const void *send, int from, void *recv,
                     int bytes) {
  MPI_Request reqs[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int rc = MPI_SUCCESS;
  pthread_mutex_lock(&m->lock);
  if (from >= 0)
    rc = MPI_Irecv(recv, bytes, MPI_BYTE, from, COLL_TAG, m->comm, &reqs[0]);
  if (rc == MPI_SUCCESS && to >= 0)
    rc = MPI_Isend(send, bytes, MPI_BYTE, to, COLL_TAG, m->comm, &reqs[1]);
  if (rc != MPI_SUCCESS && reqs[0] != MPI_REQUEST_NULL) {
    MPI_Cancel(&reqs[0]);
    MPI_Request_free(&reqs[0]);
  }
  pthread_mutex_unlock(&m->lock);
  if (rc != MPI_SUCCESS)
    return bt__mpi_fail(rc, "bt_mpi_allreduce: MPI_Isend/MPI_Irecv");
  return bt__coll_waitall(m, 2, reqs, -1,
                          "bt_mpi_allreduce: MPI_Isend/MPI_Irecv");
}

/* Allreduce of a small vector by recursive doubling over point-to-point
 * messages, for MPI_THREAD_SERIALIZED: MPI_Iallreduce costs far more than
 * the blocking call (one double, 2 ranks, loaded 2-core VM: 1.0 us polled,
 * against 0.35 us for this and 0.44 us for MPI_Allreduce), and the blocking
 * call cannot be made under the bridge's lock (the progress thread would
 * wait for it, and with it any send a peer waits for before it joins). A
 * rank count that is not a power of two folds the first 2 * rem ranks in
 * pairs first. Every rank ends with the same bits (see coll_combine). out
 * holds the rank's contribution on entry. */
static int coll_small_allreduce(bt_mpi *m, bt_op op, bt_dtype t, void *out,
                                int count) {
  int bytes = count * (int)coll_elem(t);
  union {
    double f64[COLL_SMALL / 8];
    float f32[COLL_SMALL / 4];
    int64_t i64[COLL_SMALL / 8];
    int32_t i32[COLL_SMALL / 4];
  } tmp;
  int r = m->rank, p2 = 1;
  while (p2 * 2 <= m->size) p2 *= 2;
  int rem = m->size - p2, me, st = BT_OK;
  if (r < 2 * rem) {
    if (r % 2 == 0) {
      st = coll_step(m, r + 1, out, -1, NULL, bytes);
      me = -1;
    } else {
      st = coll_step(m, -1, NULL, r - 1, &tmp, bytes);
      if (st == BT_OK) coll_combine(op, t, &tmp, out, out, count);
      me = r / 2;
    }
  } else {
    me = r - rem;
  }
  for (int mask = 1; st == BT_OK && me >= 0 && mask < p2; mask <<= 1) {
    int pn = me ^ mask, peer = pn < rem ? pn * 2 + 1 : pn + rem;
    st = coll_step(m, peer, out, peer, &tmp, bytes);
    if (st != BT_OK) break;
    if (pn < me)
      coll_combine(op, t, &tmp, out, out, count);
    else
      coll_combine(op, t, out, &tmp, out, count);
  }
  if (st == BT_OK && r < 2 * rem)
    st = r % 2 ? coll_step(m, r - 1, out, -1, NULL, bytes)
               : coll_step(m, -1, NULL, r + 1, out, bytes);
  return st;
}

int bt_mpi_allreduce(bt_mpi *mpi, bt_op op, bt_dtype t, const void *in,
                     void *out, int count) {
  static const char who[] = "bt_mpi_allreduce";
  bt_mpi *m = bt__mpi_valid(mpi);
  if (!m) return bt__fail(BT_EINVAL, "%s: not a bridge", who);
  if (op != BT_SUM && op != BT_MAX && op != BT_MIN)
    return bt__fail(BT_EINVAL,
                    "%s: operator %d is not BT_SUM, BT_MAX or "
                    "BT_MIN",
                    who, (int)op);
  if (t != BT_F64 && t != BT_F32 && t != BT_I64 && t != BT_I32)
    return bt__fail(BT_EINVAL, "%s: dtype %d is not f64, f32, i64 or i32", who,
                    (int)t);
  if (count < 0) return bt__fail(BT_EINVAL, "%s: count %d < 0", who, count);
  if (count > 0 && (in == NULL || out == NULL))
    return bt__fail(BT_EINVAL, "%s: %s buffer is NULL with count %d", who,
                    in == NULL ? "the in" : "the out", count);
  int st = bt__coll_enter(m, who);
  if (st != BT_OK) return st;
  MPI_Op mop = op == BT_SUM ? MPI_SUM : op == BT_MAX ? MPI_MAX : MPI_MIN;
  MPI_Datatype dt = bt__mpi_dtype(t);
  const void *send = in == out ? MPI_IN_PLACE : in;
  /* count 0 still takes part, so no rank is left waiting for another. */
  void *recv = out;
  double dummy;
  if (count == 0) {
    send = &dummy;
    recv = &dummy;
  }
  int rc;
  if (bt__mpi_free_calls(m)) {
    int quiet = coll_hush(m);
    rc = MPI_Allreduce(send, recv, count, dt, mop, m->comm);
    if (quiet) bt__mpi_wait_end(m, 1);
    st = rc == MPI_SUCCESS
             ? BT_OK
             : bt__mpi_fail(rc, "bt_mpi_allreduce: MPI_Allreduce");
  } else if ((size_t)count * coll_elem(t) <= COLL_SMALL) {
    if (count > 0 && in != out) memcpy(out, in, (size_t)count * coll_elem(t));
    st = coll_small_allreduce(m, op, t, recv, count);
  } else {
    MPI_Request req;
    pthread_mutex_lock(&m->lock);
    rc = MPI_Iallreduce(send, recv, count, dt, mop, m->comm, &req);
    pthread_mutex_unlock(&m->lock);
    st = rc == MPI_SUCCESS
             ? bt__coll_wait(m, &req, -1, "bt_mpi_allreduce: MPI_Iallreduce")
             : bt__mpi_fail(rc, "bt_mpi_allreduce: MPI_Iallreduce");
  }
  bt__coll_leave(m);
  return st;
}

int bt_mpi_barrier(bt_mpi *mpi) {
  static const char who[] = "bt_mpi_barrier";
  bt_mpi *m = bt__mpi_valid(mpi);
  if (!m) return bt__fail(BT_EINVAL, "%s: not a bridge", who);
  int st = bt__coll_enter(m, who);
  if (st != BT_OK) return st;
  if (bt__mpi_free_calls(m)) {
    int quiet = coll_hush(m);
    int rc = MPI_Barrier(m->comm);
    if (quiet) bt__mpi_wait_end(m, 1);
    st = rc == MPI_SUCCESS ? BT_OK
                           : bt__mpi_fail(rc, "bt_mpi_barrier: MPI_Barrier");
  } else {
    MPI_Request req;
    pthread_mutex_lock(&m->lock);
    int rc = MPI_Ibarrier(m->comm, &req);
    pthread_mutex_unlock(&m->lock);
    st = rc == MPI_SUCCESS
             ? bt__coll_wait(m, &req, -1, "bt_mpi_barrier: MPI_Ibarrier")
             : bt__mpi_fail(rc, "bt_mpi_barrier: MPI_Ibarrier");
  }
  bt__coll_leave(m);
  return st;
}

int bt_mpi_bcast(bt_mpi *mpi, int root, void *buf, size_t bytes) {
  static const char who[] = "bt_mpi_bcast";
  bt_mpi *m = bt__mpi_valid(mpi);
  if (!m) return bt__fail(BT_EINVAL, "%s: not a bridge", who);
  if (root < 0 || root >= m->size)
    return bt__fail(BT_EINVAL, "%s: root %d outside [0, %d)", who, root,
                    m->size);
  if (buf == NULL && bytes > 0)
    return bt__fail(BT_EINVAL, "%s: NULL buffer with %zu bytes", who, bytes);
  MPI_Datatype dt;
  int count, owned;
  if (!bt__mpi_free_calls(m)) pthread_mutex_lock(&m->lock);
  int rc = bt__mpi_bytes_type(bytes, &dt, &count, &owned);
  if (!bt__mpi_free_calls(m)) pthread_mutex_unlock(&m->lock);
  if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, "bt_mpi_bcast: datatype");
  int st = bt__coll_enter(m, who);
  if (st == BT_OK) {
    char dummy;
    void *p = bytes ? buf : &dummy;
    if (bt__mpi_free_calls(m)) {
      int quiet = coll_hush(m);
      rc = MPI_Bcast(p, count, dt, root, m->comm);
      if (quiet) bt__mpi_wait_end(m, 1);
      st = rc == MPI_SUCCESS ? BT_OK
                             : bt__mpi_fail(rc, "bt_mpi_bcast: MPI_Bcast");
    } else {
      MPI_Request req;
      pthread_mutex_lock(&m->lock);
      rc = MPI_Ibcast(p, count, dt, root, m->comm, &req);
      pthread_mutex_unlock(&m->lock);
      st = rc == MPI_SUCCESS
               ? bt__coll_wait(m, &req, -1, "bt_mpi_bcast: MPI_Ibcast")
               : bt__mpi_fail(rc, "bt_mpi_bcast: MPI_Ibcast");
    }
    bt__coll_leave(m);
  }
  if (owned) {
    if (!bt__mpi_free_calls(m)) pthread_mutex_lock(&m->lock);
    MPI_Type_free(&dt);
    if (!bt__mpi_free_calls(m)) pthread_mutex_unlock(&m->lock);
  }
  return st;
}
