/* SPDX-License-Identifier: BSD-3-Clause */
/* halo.c: the halo exchange of a distributed array.
 *
 * Each neighbour message is one persistent request on the darray's own
 * communicator, its buffer the local block itself and its datatype an MPI
 * subarray type of the block's shape: a send reads the edge of the
 * interior where it lies, a receive writes the ghost region where it lies;
 * nothing is packed by baton, nothing is allocated per exchange. Corners
 * go to and come from the diagonal neighbours (all 3^ndim - 1 directions,
 * sent at once), so one round fills everything; without corners only the 2
 * ndim faces travel. A message's tag is its direction as the sender sees
 * it, so two messages between the same pair of ranks (periodic axes with
 * one or two ranks) never mix. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"

/* The direction e (entries -1, 0, 1) as a tag: its base-3 digits. */
static int dir_tag(int ndim, const int *e) {
  int tag = 0;
  for (int a = ndim - 1; a >= 0; a--) tag = tag * 3 + e[a] + 1;
  return tag;
}

/* The rank at coords + e, or -1 past a non-periodic boundary. */
static int neighbour(const bt__layout *lay, const int *e) {
  const bt_dist *d = &lay->dist;
  int rank = 0;
  for (int a = 0; a < d->ndim; a++) {
    int c = lay->coords[a] + e[a];
    if (c < 0 || c >= d->procs[a]) {
      if (!d->periodic[a]) return -1;
      c = (c + d->procs[a]) % d->procs[a];
    }
    rank = rank * d->procs[a] + c;
  }
  return rank;
}

/* The subarray type of the region start[a] + [0, sub[a]) of the block. */
static int region_type(const bt__layout *lay, const int *sub, const int *start,
                       MPI_Datatype *t) {
  const bt_dist *d = &lay->dist;
  int sizes[BT_MAX_DIMS];
  for (int a = 0; a < d->ndim; a++) sizes[a] = (int)lay->local[a];
  int rc = MPI_Type_create_subarray(d->ndim, sizes, sub, start, MPI_ORDER_C,
                                    bt__mpi_dtype(d->dtype), t);
  if (rc == MPI_SUCCESS) rc = MPI_Type_commit(t);
  return rc;
}

/* The exchange's boxes: per axis and side with a face neighbour, the ghost
 * slab (axes before it over the interior, axes after it whole: the slabs
 * tile the ghost shell) to own, and the interior's edge slab to borrow. */
static void plan_boxes(bt_darray *da) {
  const bt__layout *lay = da->lay;
  const bt_dist *d = &lay->dist;
  da->nbox = 0;
  for (int a = 0; a < d->ndim; a++) {
    int64_t h = d->halo[a], n = lay->n[a];
    if (h == 0) continue;
    for (int side = -1; side <= 1; side += 2) {
      int e[BT_MAX_DIMS] = {0};
      e[a] = side;
      if (neighbour(lay, e) < 0) continue;
      bt__halo_box *ghost = &da->boxes[da->nbox++];
      bt__halo_box *edge = &da->boxes[da->nbox++];
      ghost->owned = 1;
      edge->owned = 0;
      for (int b = 0; b < d->ndim; b++) {
        int64_t hb = d->halo[b], nb = lay->n[b];
        edge->region[b] = (bt_range){hb, hb + nb};
        ghost->region[b] =
            b < a ? (bt_range){hb, hb + nb} : (bt_range){0, nb + 2 * hb};
      }
      ghost->region[a] =
          side < 0 ? (bt_range){0, h} : (bt_range){h + n, n + 2 * h};
      edge->region[a] = side < 0 ? (bt_range){h, 2 * h} : (bt_range){n, n + h};
    }
  }
}

int bt__halo_init(bt_darray *da) {
  const bt__layout *lay = da->lay;
  const bt_dist *d = &lay->dist;
  bt_mpi *m = lay->m;
  for (int a = 0; a < d->ndim; a++)
    if (lay->local[a] > INT_MAX)
      return bt__fail(BT_ENOTSUP,
                      "bt_darray: local extent %" PRId64
                      " of axis %d is beyond MPI's int",
                      lay->local[a], a);
  /* The block's base address, through a view (the block is dense
   * row-major: bt_array_create). */
  bt_slice s;
  int st = bt_array_borrow(da->local, NULL, 0, &s);
  if (st != BT_OK) return st;
  bt_view v;
  st = bt_slice_view(s, &v);
  (void)bt_slice_release(s);
  if (st != BT_OK) return st;
  void *base = v.data;

  int ndir = 1;
  for (int a = 0; a < d->ndim; a++) ndir *= 3;
  da->sends = calloc((size_t)ndir, sizeof *da->sends);
  da->recvs = calloc((size_t)ndir, sizeof *da->recvs);
  da->reqs = calloc(2 * (size_t)ndir, sizeof *da->reqs);
  if (!da->sends || !da->recvs || !da->reqs) {
    st = bt__fail(BT_ENOMEM, "bt_darray: out of memory");
    goto err;
  }
  bool lock = !bt__mpi_free_calls(m);
  if (lock) pthread_mutex_lock(&m->lock);
  int rc = MPI_SUCCESS;
  const char *what = "";
  for (int code = 0; code < ndir && rc == MPI_SUCCESS; code++) {
    int e[BT_MAX_DIMS], nonzero = 0, empty = 0;
    for (int a = 0, c = code; a < d->ndim; a++, c /= 3) {
      e[a] = c % 3 - 1;
      if (e[a] != 0) {
        nonzero++;
        if (d->halo[a] == 0) empty = 1;
      }
    }
    if (nonzero == 0 || empty || (!d->corners && nonzero > 1)) continue;
    int peer = neighbour(lay, e);
    if (peer < 0) continue;
    int sub[BT_MAX_DIMS], sstart[BT_MAX_DIMS], rstart[BT_MAX_DIMS];
    for (int a = 0; a < d->ndim; a++) {
      int h = d->halo[a], n = (int)lay->n[a];
      sub[a] = e[a] == 0 ? n : h;
      sstart[a] = e[a] < 0 ? h : e[a] > 0 ? n : h;
      rstart[a] = e[a] < 0 ? 0 : e[a] > 0 ? h + n : h;
    }
    int neg[BT_MAX_DIMS];
    for (int a = 0; a < d->ndim; a++) neg[a] = -e[a];
    int k = da->nmsg;
    bt__halo_msg *snd = &da->sends[k], *rcv = &da->recvs[k];
    snd->peer = rcv->peer = peer;
    snd->tag = dir_tag(d->ndim, e);
    rcv->tag = dir_tag(d->ndim, neg); /* the sender sees us at -e */
    snd->type = rcv->type = MPI_DATATYPE_NULL;
    what = "MPI_Type_create_subarray";
    rc = region_type(lay, sub, sstart, &snd->type);
    if (rc == MPI_SUCCESS) rc = region_type(lay, sub, rstart, &rcv->type);
    if (rc != MPI_SUCCESS) {
      if (snd->type != MPI_DATATYPE_NULL) MPI_Type_free(&snd->type);
      break;
    }
    da->nmsg++;
    da->reqs[k] = da->reqs[ndir + k] = MPI_REQUEST_NULL;
  }
  /* Receives first, then sends, contiguous for Startall. */
  for (int k = 0; k < da->nmsg && rc == MPI_SUCCESS; k++) {
    what = "MPI_Recv_init";
    rc = MPI_Recv_init(base, 1, da->recvs[k].type, da->recvs[k].peer,
                       da->recvs[k].tag, da->comm, &da->reqs[k]);
    if (rc != MPI_SUCCESS) break;
    what = "MPI_Send_init";
    rc = MPI_Send_init(base, 1, da->sends[k].type, da->sends[k].peer,
                       da->sends[k].tag, da->comm, &da->reqs[da->nmsg + k]);
  }
  if (lock) pthread_mutex_unlock(&m->lock);
  if (rc != MPI_SUCCESS) {
    st = bt__mpi_fail(rc, what);
    goto err;
  }
  plan_boxes(da);
  return BT_OK;

err:
  bt__halo_fini(da);
  return st;
}

void bt__halo_fini(bt_darray *da) {
  bt_mpi *m = da->lay->m;
  bool lock = !bt__mpi_free_calls(m);
  if (lock) pthread_mutex_lock(&m->lock);
  for (int k = 0; k < 2 * da->nmsg && da->reqs; k++)
    if (da->reqs[k] != MPI_REQUEST_NULL) MPI_Request_free(&da->reqs[k]);
  for (int k = 0; k < da->nmsg; k++) {
    if (da->sends[k].type != MPI_DATATYPE_NULL)
      MPI_Type_free(&da->sends[k].type);
    if (da->recvs[k].type != MPI_DATATYPE_NULL)
      MPI_Type_free(&da->recvs[k].type);
  }
  if (lock) pthread_mutex_unlock(&m->lock);
  free(da->sends);
  free(da->recvs);
  free(da->reqs);
  da->sends = da->recvs = NULL;
  da->reqs = NULL;
  da->nmsg = 0;
}

static void drop_held(bt_darray *da, int n) {
  /* bt__slice_drop: end may run on another thread than begin did. */
  for (int i = 0; i < n; i++) bt__slice_drop(da->held[i]);
}

int bt_darray_halo_begin(bt_darray *dain) {
  static const char who[] = "bt_darray_halo_begin";
  bt_darray *da = bt__darray_valid(dain);
  if (!da) return bt__fail(BT_EINVAL, "%s: not a live darray", who);
  /* relaxed: a darray is used by one thread at a time (dist.h). */
  if (atomic_load_explicit(&da->exchanging, memory_order_relaxed))
    return bt__fail(BT_ESTATE,
                    "%s: an exchange is already under way on "
                    "this darray (call bt_darray_halo_end)",
                    who);
  for (int i = 0; i < da->nbox; i++) {
    bt__halo_box *b = &da->boxes[i];
    int st = b->owned ? bt_array_own(da->local, b->region, 0, &da->held[i])
                      : bt_array_borrow(da->local, b->region, 0, &da->held[i]);
    if (st != BT_OK) {
      drop_held(da, i);
      return bt__fail(st, "%s: the %s it %s is held elsewhere: %s", who,
                      b->owned ? "ghost region" : "interior edge",
                      b->owned ? "writes" : "sends", bt_strerror(st));
    }
  }
  if (da->nmsg > 0) {
    bt_mpi *m = da->lay->m;
    bool lock = !bt__mpi_free_calls(m);
    if (lock) pthread_mutex_lock(&m->lock);
    int rc = MPI_Startall(2 * da->nmsg, da->reqs);
    if (lock) pthread_mutex_unlock(&m->lock);
    if (rc != MPI_SUCCESS) {
      drop_held(da, da->nbox);
      return bt__mpi_fail(rc, "bt_darray_halo_begin: MPI_Startall");
    }
  }
  atomic_store_explicit(&da->exchanging, 1, memory_order_relaxed);
  return BT_OK;
}

int bt_darray_halo_end(bt_darray *dain, int64_t timeout_ns) {
  static const char who[] = "bt_darray_halo_end";
  bt_darray *da = bt__darray_valid(dain);
  if (!da) return bt__fail(BT_EINVAL, "%s: not a live darray", who);
  if (!atomic_load_explicit(&da->exchanging, memory_order_relaxed))
    return bt__fail(BT_ESTATE,
                    "%s: no exchange under way on this darray "
                    "(call bt_darray_halo_begin)",
                    who);
  bt_mpi *m = da->lay->m;
  int n = 2 * da->nmsg, st = BT_OK;
  if (n > 0) st = bt__coll_waitall(m, n, da->reqs, timeout_ns, who);
  if (st == BT_ETIMEDOUT)
    return bt__fail(BT_ETIMEDOUT,
                    "%s: the exchange is still under way after the timeout "
                    "(call again)",
                    who);
  drop_held(da, da->nbox);
  atomic_store_explicit(&da->exchanging, 0, memory_order_relaxed);
  return st;
}

int bt_darray_halo(bt_darray *da, int64_t timeout_ns) {
  int st = bt_darray_halo_begin(da);
  if (st != BT_OK) return st;
  return bt_darray_halo_end(da, timeout_ns);
}
