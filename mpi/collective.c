/* SPDX-License-Identifier: BSD-3-Clause */
/* collective.c: collectives on the bridge's communicator (bt_mpi_allreduce,
 * barrier, bcast) and the internal ones the distributed arrays use.
 *
 * They run on m->comm, the bridge's duplicate of the user's communicator,
 * which carries no point-to-point traffic (remote channels use hdr_comm and
 * data_comm), so they never match the application's messages. With
 * MPI_THREAD_MULTIPLE the caller makes the blocking MPI call itself: no
 * thread hop, the latency of MPI's own collective; in direct mode it counts
 * among the bridge's pollers meanwhile, so the progress thread naps
 * (bt__mpi_wait_begin) instead of polling every request of the bridge
 * against the collective for MPI's locks and the core (one double's
 * allreduce after 60 channels had been made: 3.8-4.1 us against 0.9-1.5
 * for MPI_Allreduce, in 2 of 3 runs). With
 * MPI_THREAD_SERIALIZED the caller posts the non-blocking form and tests it
 * under the bridge's lock, the lock every MPI call of the bridge is made
 * under, so calls stay serialized; the progress thread keeps serving the
 * channels meanwhile. */
#define _POSIX_C_SOURCE 200809L
#include <sched.h>
#include <stdio.h>

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

int bt__coll_wait(bt_mpi *m, MPI_Request *req, int64_t timeout_ns,
                  const char *what) {
  bool free_calls = bt__mpi_free_calls(m);
  if (free_calls && timeout_ns < 0) {
    int rc = MPI_Wait(req, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? BT_OK : bt__mpi_fail(rc, what);
  }
  int64_t deadline = bt__deadline(timeout_ns);
  bool few_cpus = bt__ncpu() <= 2;
  for (unsigned polls = 0;; polls++) {
    int done = 0, rc;
    if (free_calls) {
      rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    } else {
      pthread_mutex_lock(&m->lock);
      rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
      pthread_mutex_unlock(&m->lock);
    }
    if (rc != MPI_SUCCESS) return bt__mpi_fail(rc, what);
    if (done) return BT_OK;
    if (deadline == 0 || (deadline > 0 && bt__now_ns() >= deadline))
      return bt__fail(BT_ETIMEDOUT, "%s: not complete within the timeout",
                      what);
    /* On a shared core the other ranks need it to reach the collective. */
    if (few_cpus && polls % 4 == 3)
      sched_yield();
    else
      bt__cpu_relax();
  }
}

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

int bt__coll_allgather(bt_mpi *m, const void *in, void *all, int bytes) {
  const char *what = "MPI_Allgather";
  if (bt__mpi_free_calls(m)) {
    int rc = MPI_Allgather(in, bytes, MPI_BYTE, all, bytes, MPI_BYTE, m->comm);
    return rc == MPI_SUCCESS ? BT_OK : bt__mpi_fail(rc, what);
  }
  MPI_Request req;
  pthread_mutex_lock(&m->lock);
  int rc =
      MPI_Iallgather(in, bytes, MPI_BYTE, all, bytes, MPI_BYTE, m->comm, &req);
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
    int quiet = bt__mpi_wait_begin(m);
    rc = MPI_Allreduce(send, recv, count, dt, mop, m->comm);
    if (quiet) bt__mpi_wait_end(m, 1);
    st = rc == MPI_SUCCESS
             ? BT_OK
             : bt__mpi_fail(rc, "bt_mpi_allreduce: MPI_Allreduce");
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
    int quiet = bt__mpi_wait_begin(m);
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
      int quiet = bt__mpi_wait_begin(m);
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
