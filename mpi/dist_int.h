/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dist_int.h: the distribution layer's private interface (collectives,
 * distributed arrays, halo exchange), shared by mpi/collective.c,
 * mpi/dist.c and mpi/halo.c. The transport (bridge, remote channels) does
 * not include it. Never installed.
 */
#ifndef BATON_DIST_INT_H
#define BATON_DIST_INT_H

#include "baton/dist.h"
#include "mpi_int.h"

#define BT__DARRAY_MAGIC 0x64617272u /* "darr" */

/* ---- collective.c ------------------------------------------------------ */

/* The bridge if m is a live one, else NULL. */
bt_mpi *bt__mpi_valid(const bt_mpi *m);
/* Claim the bridge's collective slot for `who` (BT_ESTATE, with a sentence,
 * if another collective runs on this rank); leave releases it. */
int bt__coll_enter(bt_mpi *m, const char *who);
void bt__coll_leave(bt_mpi *m);
/* Whether the calling thread may make MPI calls without the bridge's lock
 * (MPI_THREAD_MULTIPLE). Else every MPI call goes under m->lock. */
static inline bool bt__mpi_free_calls(const bt_mpi *m) {
  return m->thread_level == MPI_THREAD_MULTIPLE;
}
/* Complete the n requests, polling under the bridge's lock when the MPI is
 * not MULTIPLE. timeout_ns: -1 forever, 0 one test, else a bound. BT_OK,
 * BT_ETIMEDOUT (the requests still live), BT_EMPI (bt_errmsg names
 * `what`). bt__coll_wait: one request. */
int bt__coll_waitall(bt_mpi *m, int n, MPI_Request *reqs, int64_t timeout_ns,
                     const char *what);
int bt__coll_wait(bt_mpi *m, MPI_Request *req, int64_t timeout_ns,
                  const char *what);
/* Gather `bytes` bytes of every rank, in rank order, into all (size *
 * bytes), on the bridge's collective communicator. Called inside
 * bt__coll_enter/leave. */
int bt__coll_allgather(bt_mpi *m, const void *in, void *all, int bytes);
/* A duplicate of the bridge's communicator (collective; inside enter/leave),
 * MPI_ERRORS_RETURN set on it. */
int bt__coll_dup(bt_mpi *m, MPI_Comm *out);
/* The MPI datatype of a baton dtype. */
MPI_Datatype bt__mpi_dtype(bt_dtype t);

/* ---- dist.c ------------------------------------------------------------ */

/* The layout every twin of a darray shares (refcounted). */
typedef struct bt__layout {
  _Atomic int refs; /* atomic: one per darray */
  bt_mpi *m;
  bt_dist dist; /* procs filled in */
  int rank, size;
  int coords[BT_MAX_DIMS];
  int64_t lo[BT_MAX_DIMS], n[BT_MAX_DIMS]; /* owned: [lo, lo + n) */
  int64_t local[BT_MAX_DIMS];              /* n + 2 halo */
} bt__layout;

/* One neighbour message of the exchange: the region of the local block
 * sent to or received from one neighbour. */
typedef struct bt__halo_msg {
  int peer;
  int tag;
  MPI_Datatype type;
} bt__halo_msg;

/* A box of the local block that the exchange owns (ghosts) or borrows
 * (edges of the interior) between begin and end. */
typedef struct bt__halo_box {
  bt_range region[BT_MAX_DIMS];
  int owned;
} bt__halo_box;

struct bt_darray {
  uint32_t magic;
  bt__layout *lay;
  bt_array *local, *interior;
  MPI_Comm comm; /* this darray's own duplicate: its halo messages */
  /* halo.c: the persistent requests, receives first */
  int nmsg;
  bt__halo_msg *sends, *recvs;
  MPI_Request *reqs; /* 2 * nmsg: receives, then sends */
  int nbox;
  bt__halo_box boxes[4 * BT_MAX_DIMS];
  bt_slice held[4 * BT_MAX_DIMS];
  _Atomic int exchanging; /* atomic: begin done, end not yet */
};

/* The darray if da is a live one, else NULL. */
bt_darray *bt__darray_valid(const bt_darray *da);

/* ---- halo.c ------------------------------------------------------------ */

/* Build the darray's messages and persistent requests (at create). */
int bt__halo_init(bt_darray *da);
/* Free them (at destroy; no exchange under way). */
void bt__halo_fini(bt_darray *da);

#endif /* BATON_DIST_INT_H */
