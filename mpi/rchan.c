/* SPDX-License-Identifier: BSD-3-Clause */
/* rchan.c: remote channels: the two local channels, the hooks core calls,
 * credits, close, and what travels for each kind of element.
 *
 * Capacity and credits. A remote channel of capacity C has a local queue
 * `out` of capacity C (bt_chan_cap reports C) and a credit window of
 * W = max(C, 1) messages: the transport takes an element from `out` only
 * with a credit, the receiver returns the credit when its user takes the
 * element (or when the element is discarded). So at most W messages are in
 * flight each way, and a sender whose peer stops receiving completes C + W
 * sends, then blocks (try: BT_EAGAIN) as on a full local channel. Capacity
 * 0 is a rendezvous with the transport: a send completes when the element
 * leaves for MPI, one message at a time in flight (W = 1).
 *
 * Close. bt_chan_close on either end closes the whole channel: that end's
 * `out` closes at once (later sends: BT_ECLOSED), what was already sent
 * still travels, then a CLOSE message; the peer delivers everything before
 * it, then closes its `in` (receivers drain, then BT_ECLOSED) and its `out`
 * (its own later sends: BT_ECLOSED; what it had sent still travels). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan_int.h" /* out's waiter count (bt__rchan_marked) */
#include "mpi_int.h"

static const char *kind_name(bt__rkind k) {
  switch (k) {
    case BT__RK_VALUE:
      return "value";
    case BT__RK_SLICE:
      return "slice";
    case BT__RK_BOX:
      return "box";
    case BT__RK_FROZEN:
      return "frozen";
    case BT__RK_WIRE:
      return "wire";
  }
  return "?";
}

static int kind_of(const bt_type *t, bt__rkind *k) {
  if (t->wire) {
    const bt_wire *w = t->wire;
    if (!w->packed_size || !w->pack || !w->unpack)
      return bt__fail(BT_EINVAL, "type %s: incomplete bt_wire", t->name);
    *k = BT__RK_WIRE;
  } else if (t == &bt_type_slice || (t->on_send == bt_type_slice.on_send &&
                                     t->size == sizeof(bt_slice))) {
    *k = BT__RK_SLICE;
  } else if (t == &bt_type_frozen || (t->on_send == bt_type_frozen.on_send &&
                                      t->size == sizeof(bt_box *))) {
    *k = BT__RK_FROZEN;
  } else if (t == &bt_type_box || (t->on_send == bt_type_box.on_send &&
                                   t->size == sizeof(bt_box *))) {
    *k = BT__RK_BOX;
  } else if (t->on_send == NULL && t->on_recv == NULL && t->on_drop == NULL) {
    *k = BT__RK_VALUE;
  } else {
    return bt__fail(BT_ENOTSUP,
                    "type %s is a handle with no bt_wire: it cannot cross "
                    "ranks",
                    t->name ? t->name : "?");
  }
  return BT_OK;
}

static uint64_t type_hash(const bt_type *t, bt__rkind k) {
  uint64_t h = 14695981039346656037ull;
  for (const char *p = t->name ? t->name : ""; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ (uint64_t)t->size) * 1099511628211ull;
  h = (h ^ (uint64_t)k) * 1099511628211ull;
  return h;
}

/* ---- small helpers (lock held) ----------------------------------------- */

static void close_out(bt__rchan *c) {
  if (c->out_closed) return;
  c->out_closed = true;
  (void)bt_chan_close(c->out);
}

void bt__rchan_dispose(bt__rchan *c, void *elem) {
  switch (c->kind) {
    case BT__RK_SLICE:
      bt__slice_drop(*(bt_slice *)elem);
      break;
    case BT__RK_BOX:
    case BT__RK_FROZEN:
      bt_box_release(*(bt_box **)elem);
      break;
    case BT__RK_WIRE:
      if (c->type->on_drop) c->type->on_drop(elem);
      break;
    case BT__RK_VALUE:
      break;
  }
}

/* A queue item with room for `elem_bytes` of element. */
static bt__rq_item *item_new_sized(bt__rchan *c, bt__rq_state state,
                                   size_t elem_bytes) {
  /* The element is left unset: a payload, the header's bytes or a slice
   * handle fills it before it is read (a 32 KiB value's zeroing cost as
   * much as a copy of it). */
  bt__rq_item *it = malloc(sizeof *it + elem_bytes);
  if (!it) return NULL;
  memset(it, 0, sizeof *it);
  it->state = state;
  if (c->rq_tail)
    c->rq_tail->next = it;
  else
    c->rq_head = it;
  c->rq_tail = it;
  return it;
}

static bt__rq_item *item_new(bt__rchan *c, bt__rq_state state) {
  return item_new_sized(c, state, c->type->size);
}

void bt__rchan_failv(bt__rchan *c, int code, const char *msg) {
  if (c->error != BT_OK) return;
  c->error = code;
  snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
  if (c->m->debug)
    fprintf(stderr, "baton mpi: rank %d: %s: %s\n", c->m->rank,
            bt_status_name(code), msg);
  close_out(c);
  bt__rchan_mark(c); /* its close goes when out is empty */
  bt__rq_item *it = item_new(c, BT__RQ_FAIL);
  if (!it) (void)bt_chan_close(c->in); /* no memory: close at once */
}

static void failf(bt__rchan *c, int code, const char *fmt, ...) BT_PRINTF(3, 4);
static void failf(bt__rchan *c, int code, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  bt__rchan_failv(c, code, msg);
}

static void fail_mpi(bt__rchan *c, int mpi_rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING + 128], where[96];
  snprintf(where, sizeof where, "%s (remote channel to rank %d, tag %d)", what,
           c->peer, c->tag);
  bt__mpi_errstr(mpi_rc, where, msg, sizeof msg);
  bt__rchan_failv(c, BT_EMPI, msg);
}

/* ---- sending ----------------------------------------------------------- */

static bool peer_dead(const bt__rchan *c);

static void pieces_put(bt__mpi_pieces *g) {
  if (--g->refs > 0) return;
  bt__slice_drop(g->slice); /* the region unlocks */
  free(g);
}

/* A send is over (done, or failed to start): free what it held. */
static void send_over(bt_mpi *m, bt__mpi_op *op) {
  free(op->buf);
  if (op->has_slice) bt__slice_drop(op->slice); /* the region unlocks */
  if (op->pieces) pieces_put(op->pieces);
  bt__mpi_op_put(m, op);
}

/* Post the send of op (from bt__mpi_op_get(), its buf and slice set: freed
 * and dropped when MPI is done). On failure they are freed at once. */
static int isend(bt__rchan *c, MPI_Comm comm, const void *buf, int count,
                 MPI_Datatype dt, bt__mpi_op *op) {
  op->chan = c;
  MPI_Request req;
  int rc = MPI_Isend(buf, count, dt, c->peer, c->tag, comm, &req);
  if (rc != MPI_SUCCESS) {
    fail_mpi(c, rc, "MPI_Isend");
    goto err_free;
  }
  /* An eager send (every header, small payloads) is usually complete at
   * once: Open MPI's ob1 copies it into the shared-memory fragment and
   * returns a finished request. Finished here, it never enters the request
   * table, so no poll tests it and no waiter that leaves wakes the progress
   * thread to finish it (bt__mpi_wait_end: nactive). */
  int done = 0;
  rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) {
    fail_mpi(c, rc, "MPI_Test (send)");
    goto err_free;
  }
  if (done) {
    send_over(c->m, op);
    return BT_OK;
  }
  if (bt__mpi_track(c->m, op, req) != BT_OK) {
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    failf(c, BT_ENOMEM, "remote channel: out of memory");
    goto err_free;
  }
  return BT_OK;

err_free:
  send_over(c->m, op);
  return BT_EMPI;
}

/* A send record for a payload: owned buffer and/or slice. */
static bt__mpi_op *payload_op(bt__rchan *c, void *owned, const bt_slice *s) {
  bt__mpi_op *op = bt__mpi_op_get(c->m);
  if (!op) {
    free(owned);
    if (s) bt__slice_drop(*s);
    failf(c, BT_ENOMEM, "remote channel: out of memory");
    return NULL;
  }
  op->buf = owned;
  if (s) {
    op->slice = *s;
    op->has_slice = true;
  }
  return op;
}

/* Lock held: count the credits users returned without the lock. */
static void fold_returned(bt__rchan *c) {
  /* relaxed: a look before the exchange, which every poll of every
   * channel would otherwise make; a credit returned after it is folded by
   * the next poll (hook_after_recv() kicks or a poller comes). */
  if (atomic_load_explicit(&c->returned, memory_order_relaxed) == 0) return;
  /* acquire: pairs with the release fetch_add in hook_after_recv(). */
  c->to_return +=
      atomic_exchange_explicit(&c->returned, 0, memory_order_acquire);
}

/* A send record whose header (in op->hdr) is filled from the template,
 * with the credits owed. */
static bt__mpi_op *hdr_new(bt__rchan *c, uint32_t kind, size_t inline_bytes) {
  bt__mpi_op *op = bt__mpi_op_get_hdr(c->m, sizeof(bt__mpi_hdr) + inline_bytes);
  if (!op) return NULL;
  bt__mpi_hdr *h = (bt__mpi_hdr *)op->hdr;
  memcpy(h, &c->hdr_template, sizeof *h);
  h->kind = kind;
  fold_returned(c);
  h->credits = c->to_return;
  c->to_return = 0;
  h->inline_bytes = (uint32_t)inline_bytes;
  return op;
}

static void send_ctrl(bt__rchan *c, uint32_t kind) {
  bt__mpi_op *op = hdr_new(c, kind, 0);
  if (!op) {
    failf(c, BT_ENOMEM, "remote channel: out of memory");
    return;
  }
  (void)isend(c, c->m->hdr_comm, op->hdr, (int)sizeof(bt__mpi_hdr), MPI_BYTE,
              op);
}

/* The pieces of a value sent from its sender's own buffer (hook_send_direct):
 * MPI is done with every one before this returns, as MPI_Send would be.
 * Eager sends are done at once (isend()); one that is not (the transport
 * out of buffers, the peer slow to take them) is waited for while the
 * bridge is polled, so that the peer's messages keep coming and a peer
 * that dies meanwhile is found (BATON_MPI_PEER_TIMEOUT): then what is
 * left is freed unfinished (MPI may still read the buffer, never write
 * it) and the channel has failed. */
static void send_pieces_borrowed(bt__rchan *c, const void *src, size_t bytes) {
  enum { MAXP = BT__MPI_FRAG_TOTAL / BT__MPI_FRAG + 1 };
  MPI_Request reqs[MAXP];
  int n = 0;
  for (size_t off = 0; off < bytes && n < MAXP; off += BT__MPI_FRAG) {
    size_t len = bytes - off < BT__MPI_FRAG ? bytes - off : BT__MPI_FRAG;
    int rc = MPI_Isend((const char *)src + off, (int)len, MPI_BYTE, c->peer,
                       c->tag, c->m->data_comm, &reqs[n]);
    if (rc != MPI_SUCCESS) {
      fail_mpi(c, rc, "MPI_Isend (piece)");
      break;
    }
    n++;
  }
  int64_t t0 = 0;
  for (int spins = 0;; spins++) {
    int done = 0;
    int rc = bt__mpi_testall_ignore(n, reqs, &done);
    if (rc != MPI_SUCCESS) {
      fail_mpi(c, rc, "MPI_Testall (pieces)");
      done = 0;
    }
    if (done) return;
    if (rc != MPI_SUCCESS || peer_dead(c)) break;
    if (spins == 0) t0 = bt__now_ns();
    (void)bt__mpi_poll_locked(c->m);
    if (bt__ncpu() <= 2 && bt__now_ns() - t0 > BT__MPI_YIELD_AFTER_NS)
      sched_yield();
  }
  for (int i = 0; i < n; i++)
    if (reqs[i] != MPI_REQUEST_NULL) MPI_Request_free(&reqs[i]);
}

/* Send elem: c->scratch (taken from out, held by this thread), or, when
 * `borrowed`, a value in its sender's buffer (hook_send_direct()), which
 * is the sender's again when this returns. The element is consumed
 * whatever happens. */
static void send_elem(bt__rchan *c, void *elem, bool borrowed) {
  const bt_type *t = c->type;
  size_t inline_bytes = 0;
  const size_t room = BT__MPI_EAGER - sizeof(bt__mpi_hdr);
  if (c->kind == BT__RK_VALUE && t->size <= room) inline_bytes = t->size;
  /* Dense bytes of a value or slice sent as eager pieces (BT__MSG_FRAGS). */
  const void *frag_src = NULL;
  bt_view v;
  size_t slice_bytes = 0;
  if (c->kind == BT__RK_SLICE) {
    int rc = bt__slice_view_any(*(bt_slice *)elem, &v);
    if (rc != BT_OK) {
      failf(c, rc, "send of a stale slice: %s", bt_errmsg());
      return;
    }
    slice_bytes = bt_dtype_size(v.dtype);
    for (int d = 0; d < v.ndim; d++) slice_bytes *= (size_t)v.shape[d];
    /* A small dense region rides in the header: one message, not two (a
     * copy of one block; strided regions are never packed). */
    if (slice_bytes <= room && bt__mpi_view_dense(&v))
      inline_bytes = slice_bytes;
    else if (slice_bytes <= BT__MPI_FRAG_SLICE && bt__mpi_view_dense(&v))
      frag_src = v.data;
  }
  bt__mpi_op *hop = hdr_new(c, BT__MSG_DATA, inline_bytes);
  if (!hop) {
    bt__rchan_dispose(c, elem);
    failf(c, BT_ENOMEM, "remote channel: out of memory");
    return;
  }
  bt__mpi_hdr *h = (bt__mpi_hdr *)hop->hdr;
  h->seq = c->send_seq++;
  void *payload = NULL; /* owned payload buffer */
  size_t payload_bytes = 0;
  switch (c->kind) {
    case BT__RK_VALUE:
      if (inline_bytes) {
        memcpy(h + 1, elem, t->size);
      } else if (t->size <= BT__MPI_FRAG_TOTAL) {
        frag_src = elem;
        payload_bytes = t->size;
      } else {
        payload = malloc(t->size);
        if (!payload) goto err_nomem;
        memcpy(payload, elem, t->size);
        payload_bytes = t->size;
      }
      break;
    case BT__RK_SLICE:
      h->dtype = (int32_t)v.dtype;
      h->ndim = v.ndim;
      for (int d = 0; d < v.ndim; d++) h->shape[d] = v.shape[d];
      if (inline_bytes)
        memcpy(h + 1, v.data, inline_bytes);
      else
        payload_bytes = slice_bytes;
      break;
    case BT__RK_BOX:
    case BT__RK_FROZEN: {
      bt_box *b = *(bt_box **)elem;
      payload_bytes = bt__box_wire_size(b);
      payload = malloc(payload_bytes);
      if (!payload) goto err_nomem;
      bt__box_wire_pack(b, payload);
      bt_box_release(b);
      break;
    }
    case BT__RK_WIRE: {
      payload_bytes = t->wire->packed_size(elem);
      payload = malloc(payload_bytes ? payload_bytes : 1);
      if (!payload) goto err_nomem;
      int rc = t->wire->pack(elem, payload, payload_bytes);
      if (rc != BT_OK) {
        free(payload);
        bt__mpi_op_put(c->m, hop);
        failf(c, rc, "type %s: wire pack failed: %s", t->name, bt_errmsg());
        return;
      }
      break;
    }
  }
  h->payload_bytes = payload_bytes;
  if (frag_src) h->kind |= BT__MSG_FRAGS;
  c->msgs_sent++;
  c->bytes_sent += c->kind == BT__RK_SLICE ? slice_bytes
                   : payload_bytes         ? payload_bytes
                                           : inline_bytes;
  if (isend(c, c->m->hdr_comm, h, (int)(sizeof *h + inline_bytes), MPI_BYTE,
            hop) != BT_OK) {
    free(payload);
    if (c->kind == BT__RK_SLICE) bt__slice_drop(*(bt_slice *)elem);
    return;
  }
  if (frag_src && borrowed) {
    send_pieces_borrowed(c, frag_src, payload_bytes);
    return;
  }
  if (frag_src) {
    /* A slice's pieces go from its region where it lies, the slice held
     * until MPI is done with all of them (usually at once: eager sends);
     * a value's are copied into their send records, since `scratch`
     * takes the next element. */
    bt__mpi_pieces *g = NULL;
    if (c->kind == BT__RK_SLICE) {
      g = malloc(sizeof *g);
      if (!g) {
        bt__slice_drop(*(bt_slice *)elem);
        failf(c, BT_ENOMEM, "remote channel: out of memory");
        return;
      }
      *g = (bt__mpi_pieces){.refs = 1, .slice = *(bt_slice *)elem};
    }
    for (size_t off = 0; off < payload_bytes; off += BT__MPI_FRAG) {
      size_t len = payload_bytes - off < BT__MPI_FRAG ? payload_bytes - off
                                                      : BT__MPI_FRAG;
      bt__mpi_op *op = payload_op(c, NULL, NULL);
      if (!op) break;
      const void *src = (const char *)frag_src + off;
      if (g) {
        op->pieces = g;
        g->refs++;
      } else {
        memcpy(op->hdr, src, len);
        src = op->hdr;
      }
      if (isend(c, c->m->data_comm, src, (int)len, MPI_BYTE, op) != BT_OK)
        break;
    }
    if (g) pieces_put(g);
    return;
  }
  if (c->kind == BT__RK_SLICE) {
    bt_slice s = *(bt_slice *)elem;
    if (payload_bytes == 0) {
      bt__slice_drop(s);
      return;
    }
    MPI_Datatype dt;
    int count, owned;
    int rc = bt__mpi_region_type(&v, &dt, &count, &owned);
    if (rc != BT_OK) {
      bt__slice_drop(s);
      failf(c, rc, "%s", bt_errmsg());
      return;
    }
    /* MPI reads the region where it lies; the slice (and the region's
     * lock) lives until the send completes. */
    bt__mpi_op *op = payload_op(c, NULL, &s);
    if (op) (void)isend(c, c->m->data_comm, v.data, count, dt, op);
    if (owned) MPI_Type_free(&dt);
    return;
  }
  if (payload_bytes) {
    MPI_Datatype dt;
    int count, owned;
    int rc = bt__mpi_bytes_type(payload_bytes, &dt, &count, &owned);
    if (rc != MPI_SUCCESS) {
      free(payload);
      fail_mpi(c, rc, "payload datatype");
      return;
    }
    bt__mpi_op *op = payload_op(c, payload, NULL);
    if (op) (void)isend(c, c->m->data_comm, payload, count, dt, op);
    if (owned) MPI_Type_free(&dt);
  } else {
    free(payload);
  }
  return;

err_nomem:
  bt__mpi_op_put(c->m, hop);
  bt__rchan_dispose(c, elem);
  failf(c, BT_ENOMEM, "remote channel: out of memory");
}

static void send_data(bt__rchan *c) {
  send_elem(c, c->scratch, false);
}

/* Owed credits go back alone when the user caught up (nothing buffered),
 * when half the window is owed, or when nobody receives any more. */
static int credit_due(bt__rchan *c) {
  fold_returned(c);
  if (c->to_return == 0) return 0;
  return c->discard || c->to_return * 2 >= c->window || bt_chan_len(c->in) == 0;
}

int bt__rchan_post(bt__rchan *c) {
  /* After the peer's last message nothing comes: no receive is left
   * posted on a tag that is done with. */
  if (c->hdr_posted || c->peer_final) return 0;
  MPI_Request req;
  int rc = MPI_Irecv(c->hdr_buf, (int)c->hdr_cap, MPI_BYTE, c->peer, c->tag,
                     c->m->hdr_comm, &req);
  if (rc != MPI_SUCCESS) {
    fail_mpi(c, rc, "MPI_Irecv");
    c->hdr_posted = true; /* do not retry for ever */
    return 1;
  }
  c->hdr_op = (bt__mpi_op){.kind = BT__OP_HDR_RECV, .chan = c, .index = -1};
  if (bt__mpi_track(c->m, &c->hdr_op, req) != BT_OK) {
    MPI_Cancel(&req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    failf(c, BT_ENOMEM, "remote channel: out of memory");
  }
  c->hdr_posted = true;
  return 1;
}

/* Take what waits in `out` and count it undelivered (failed channel,
 * orphan, dead peer, detach's grace past). */
static int drop_out(bt__rchan *c) {
  int work = 0;
  while (bt_try_recv(c->out, c->scratch) == BT_OK) {
    if (c->kind == BT__RK_SLICE)
      (void)c->type->on_send(c->scratch, BT_UNCHECKED);
    bt__rchan_dispose(c, c->scratch);
    c->undelivered++;
    work = 1;
  }
  return work;
}

static bool peer_dead(const bt__rchan *c) {
  return c->m->failed && c->m->failed[c->peer];
}

int bt__rchan_pump(bt__rchan *c) {
  if (c->orphan || peer_dead(c)) return drop_out(c);
  int work = 0;
  if (c->error != BT_OK) work |= drop_out(c);
  /* A buffered out that looks empty is: an element put after the look is
   * followed by its sender's hook_after_send(), which pumps or kicks. */
  bool empty = c->cap > 0 && bt_chan_len(c->out) == 0;
  while (!empty && c->credits > 0 && !c->close_sent) {
    if (bt_try_recv(c->out, c->scratch) != BT_OK) break;
    /* Taking it made this thread the holder (in direct mode, the very
     * sender): a slice in flight is held by nobody until MPI is done. */
    if (c->kind == BT__RK_SLICE)
      (void)c->type->on_send(c->scratch, BT_UNCHECKED);
    c->credits--;
    c->stalled = false;
    bt__rchan_traced_send(c, send_data);
    work = 1;
  }
  if (!empty && c->credits == 0 && !c->stalled && bt_chan_len(c->out) > 0) {
    c->stalled = true;
    c->credit_stalls++;
  }
  if (c->out_closed && !c->close_sent && bt_chan_len(c->out) == 0) {
    /* Nothing can enter a closed out: its last element has left. After
     * the peer's close we send nothing more: this is our last message. */
    send_ctrl(c, BT__MSG_CLOSE | (c->peer_closed ? BT__MSG_FINAL : 0));
    c->close_sent = true;
    c->final_sent = c->peer_closed;
    work = 1;
  }
  /* Our close went before the peer's came: until now we returned credits
   * for what it still sent; say that nothing more comes. */
  if (c->close_sent && c->peer_closed && !c->final_sent) {
    send_ctrl(c, BT__MSG_CREDIT | BT__MSG_FINAL);
    c->final_sent = true;
    work = 1;
  }
  /* After the peer's close it sends nothing more: it needs no credits. */
  if (!c->peer_closed && credit_due(c)) {
    send_ctrl(c, BT__MSG_CREDIT);
    work = 1;
  }
  /* The header receive last: after the sends, which a sender that pumps
   * right after its bt_send (hook_after_send()) waits for, while the
   * peer's answer is a round trip away. */
  work |= bt__rchan_post(c);
  return work;
}

/* ---- receiving --------------------------------------------------------- */

/* Hand one received element to `in` (to a waiting receiver, maybe); elem
 * NULL: the value is in the slot of `in` lent for it (bt__chan_lend()). */
static void hand_over(bt__rchan *c, void *elem, bool holds) {
  /* The thread that made the element (decoded the header, unpacked the
   * payload) may not be this one: in direct mode any thread that waits
   * polls. Adopt it, so that the send's check passes. */
  if (holds && c->type->on_recv) c->type->on_recv(elem);
  /* relaxed, both: a counter's hint. A receiver queued on `in` that nobody
   * polls for gets this element only because the progress thread polled:
   * a late wake-up (bt__rchan.late_wakeups). */
  bool late =
      atomic_load_explicit(&c->in->recv_waiting, memory_order_relaxed) > 0 &&
      atomic_load_explicit(&c->m->pollers, memory_order_relaxed) == 0 &&
      bt__mpi_on_progress_thread();
  /* `in` has room: the peer sends only with our credits. */
  int rc = elem ? bt_try_send(c->in, elem) : bt__chan_publish(c->in);
  if (rc == BT_OK && late) c->late_wakeups++;
  if (rc != BT_OK) {
    if (holds) bt__rchan_dispose(c, elem);
    c->to_return++;
    if (rc == BT_EAGAIN)
      failf(c, BT_EMPI,
            "remote channel to rank %d, tag %d: the peer overran the "
            "credit window of %" PRIu32,
            c->peer, c->tag, c->window);
  }
}

/* Deliver, in order, what arrived complete. */
static void deliver(bt__rchan *c) {
  bt__rq_item *it;
  while ((it = c->rq_head) != NULL && it->state != BT__RQ_PENDING) {
    if (it->state == BT__RQ_READY) {
      if (it->drop || c->discard) {
        if (it->holds) bt__rchan_dispose(c, it->elem);
        c->to_return++;
      } else {
        hand_over(c, it->lent ? NULL : it->elem, it->holds);
      }
    } else {
      (void)bt_chan_close(c->in); /* CLOSE or FAIL */
    }
    c->rq_head = it->next;
    if (!c->rq_head) c->rq_tail = NULL;
    free(it->payload);
    free(it);
  }
}

/* Post the receive of an item's payload into buf (count/dt). */
static int irecv_payload(bt__rchan *c, bt__rq_item *it, void *buf,
                         size_t bytes) {
  /* The sender's pieces (BT__MSG_FRAGS) are received as they were sent,
   * each into its place; else one message. */
  size_t piece = c->rx_frags ? BT__MPI_FRAG : bytes;
  for (size_t off = 0; off < bytes || off == 0; off += piece) {
    size_t len = bytes - off < piece ? bytes - off : piece;
    MPI_Datatype dt;
    int count, owned;
    int rc = bt__mpi_bytes_type(len, &dt, &count, &owned);
    if (rc != MPI_SUCCESS) {
      fail_mpi(c, rc, "payload datatype");
      return BT_EMPI;
    }
    bt__mpi_op *op = bt__mpi_op_get(c->m);
    if (!op) {
      if (owned) MPI_Type_free(&dt);
      failf(c, BT_ENOMEM, "remote channel: out of memory");
      return BT_ENOMEM;
    }
    op->kind = BT__OP_PAYLOAD_RECV;
    op->chan = c;
    op->item = it;
    MPI_Request req;
    rc = MPI_Irecv((char *)buf + off, count, dt, c->peer, c->tag,
                   c->m->data_comm, &req);
    if (owned) MPI_Type_free(&dt);
    if (rc != MPI_SUCCESS) {
      bt__mpi_op_put(c->m, op);
      fail_mpi(c, rc, "MPI_Irecv (payload)");
      return BT_EMPI;
    }
    if (bt__mpi_track(c->m, op, req) != BT_OK) {
      MPI_Wait(&req, MPI_STATUS_IGNORE);
      bt__mpi_op_put(c->m, op);
      failf(c, BT_ENOMEM, "remote channel: out of memory");
      return BT_ENOMEM;
    }
    it->pending++;
    it->state = BT__RQ_PENDING;
    if (bytes == 0) break;
  }
  return BT_OK;
}

/* Receive a payload only to throw it away. */
static void discard_payload(bt__rchan *c, bt__rq_item *it, size_t bytes) {
  it->drop = true;
  it->state = BT__RQ_READY;
  if (bytes == 0) return;
  it->payload = malloc(bytes);
  if (!it->payload) {
    failf(c, BT_ENOMEM, "remote channel: out of memory");
    return;
  }
  it->payload_bytes = bytes;
  (void)irecv_payload(c, it, it->payload, bytes);
  if (it->state != BT__RQ_PENDING) it->state = BT__RQ_READY;
}

/* A slice of a new array of the header's shape for a received slice, or of
 * the channel's kept array when the shape repeats and its user released
 * it. Every byte is written by the caller (inline or payload), so a
 * recycled mapping or the kept array's stale data will do. */
static int recv_slice(bt__rchan *c, const bt__mpi_hdr *h, size_t bytes,
                      bt_slice *s) {
  if (c->recv_array) {
    if (c->recv_dtype == h->dtype && c->recv_ndim == h->ndim &&
        memcmp(c->recv_shape, h->shape,
               sizeof *h->shape * (size_t)h->ndim) == 0 &&
        bt__slice_reuse_array(c->recv_array, s) == BT_OK)
      return BT_OK;
    (void)bt_array_release(c->recv_array);
    c->recv_array = NULL;
  }
  int rc = bt__slice_recv_array(c->m->rt, (bt_dtype)h->dtype, h->ndim,
                                h->shape, s);
  if (rc != BT_OK || bytes > BT__MPI_REUSE_MAX || c->user_gone) return rc;
  bt_array *a = bt_slice_array(*s);
  if (a) {
    bt_array_retain(a);
    c->recv_array = a;
    c->recv_dtype = h->dtype;
    c->recv_ndim = h->ndim;
    memcpy(c->recv_shape, h->shape, sizeof *h->shape * (size_t)h->ndim);
  }
  return BT_OK;
}

static void on_data(bt__rchan *c, const bt__mpi_hdr *h, size_t got) {
  const bt_type *t = c->type;
  c->msgs_recv++;
  c->bytes_recv += h->payload_bytes + h->inline_bytes;
  bt__rchan_traced_recv(c, h);
  if (h->seq != c->recv_seq)
    failf(c, BT_EMPI,
          "remote channel to rank %d, tag %d: message %llu arrived where %llu "
          "was due",
          c->peer, c->tag, (unsigned long long)h->seq,
          (unsigned long long)c->recv_seq);
  c->recv_seq = h->seq + 1;
  c->rx_frags = (h->kind & BT__MSG_FRAGS) != 0;
  size_t payload = (size_t)h->payload_bytes;
  char why[128];
  if (!bt__mpi_frags_ok(h, why, sizeof why)) {
    /* Not worth a receive per piece: one message of the rest. */
    c->rx_frags = false;
    failf(c, BT_EMPI, "remote channel to rank %d, tag %d: malformed header: %s",
          c->peer, c->tag, why);
  }
  /* The common small value, complete in its header, with nothing queued
   * before it: straight to `in`, no queue item. */
  if (c->kind == BT__RK_VALUE && c->rq_head == NULL && c->error == BT_OK &&
      !c->discard && h->type_hash == c->type_hash && payload == 0 &&
      h->inline_bytes == t->size && got == sizeof *h + t->size) {
    hand_over(c, (void *)(h + 1), false);
    return;
  }
  /* A value with a payload, nothing queued before it: the payload lands
   * in the slot of `in` its receiver will read, not in a queue item copied
   * into `in` at delivery (nothing else enters `in` meanwhile: deliveries
   * go in order, and this one is first). */
  if (c->kind == BT__RK_VALUE && c->rq_head == NULL && c->error == BT_OK &&
      !c->discard && h->type_hash == c->type_hash && h->inline_bytes == 0 &&
      payload == t->size) {
    void *slot = bt__chan_lend(c->in);
    if (slot) {
      bt__rq_item *it = item_new_sized(c, BT__RQ_READY, 0);
      if (!it) {
        failf(c, BT_ENOMEM, "remote channel: out of memory");
        return;
      }
      it->lent = slot;
      (void)irecv_payload(c, it, slot, payload);
      return;
    }
  }
  bt__rq_item *it = item_new(c, BT__RQ_READY);
  if (!it) {
    failf(c, BT_ENOMEM, "remote channel: out of memory");
    return;
  }
  if (h->type_hash != c->type_hash && c->error == BT_OK) {
    char name[sizeof h->type_name + 1];
    memcpy(name, h->type_name, sizeof h->type_name);
    name[sizeof h->type_name] = 0;
    failf(c, BT_ETYPE,
          "remote channel to rank %d, tag %d: this end carries %s (%zu "
          "bytes, %s) but rank %d sends %s",
          c->peer, c->tag, t->name ? t->name : "?", t->size, kind_name(c->kind),
          c->peer, name);
  }
  if (c->error != BT_OK || c->discard) {
    discard_payload(c, it, payload);
    return;
  }
  switch (c->kind) {
    case BT__RK_VALUE:
      if (h->inline_bytes == t->size && payload == 0 &&
          got == sizeof *h + t->size) {
        memcpy(it->elem, h + 1, t->size);
      } else if (h->inline_bytes == 0 && payload == t->size) {
        (void)irecv_payload(c, it, it->elem, payload);
      } else {
        failf(c, BT_ETYPE,
              "remote channel to rank %d, tag %d: a %zu-byte %s element "
              "came as %u + %zu bytes",
              c->peer, c->tag, t->size, t->name, (unsigned)h->inline_bytes,
              payload);
        discard_payload(c, it, payload);
      }
      return;
    case BT__RK_SLICE: {
      if (!bt__mpi_slice_header_ok(h, why, sizeof why)) {
        failf(c, BT_ETYPE,
              "remote channel to rank %d, tag %d: slice header disagrees: %s",
              c->peer, c->tag, why);
        discard_payload(c, it, payload);
        return;
      }
      bt_slice s;
      /* Every byte is written below (inline or payload: the header check
       * made them the array's size). */
      int rc = recv_slice(c, h, (size_t)h->inline_bytes + payload, &s);
      if (rc != BT_OK) {
        failf(c, rc, "receiving a slice from rank %d: %s", c->peer,
              bt_errmsg());
        discard_payload(c, it, payload);
        return;
      }
      memcpy(it->elem, &s, sizeof s);
      it->holds = true;
      if (h->inline_bytes) {
        bt_view v;
        rc = bt__slice_view_any(s, &v);
        BT_ASSERT(rc == BT_OK);
        memcpy(v.data, h + 1, h->inline_bytes);
      } else if (payload) {
        bt_view v;
        rc = bt__slice_view_any(s, &v);
        BT_ASSERT(rc == BT_OK);
        /* The new array is dense: its region is `payload` bytes. */
        (void)irecv_payload(c, it, v.data, payload);
      }
      return;
    }
    case BT__RK_BOX:
    case BT__RK_FROZEN:
    case BT__RK_WIRE:
      if (payload == 0) {
        failf(c, BT_ETYPE, "remote channel to rank %d, tag %d: empty %s",
              c->peer, c->tag, kind_name(c->kind));
        it->drop = true;
        return;
      }
      it->payload = malloc(payload);
      if (!it->payload) {
        failf(c, BT_ENOMEM, "remote channel: out of memory");
        discard_payload(c, it, payload);
        return;
      }
      it->payload_bytes = payload;
      (void)irecv_payload(c, it, it->payload, payload);
      return;
  }
}

static void on_payload(bt__rchan *c, bt__rq_item *it) {
  it->state = BT__RQ_READY;
  if (it->drop || it->holds || c->kind == BT__RK_VALUE) return;
  int rc;
  if (c->kind == BT__RK_WIRE) {
    rc = c->type->wire->unpack(it->payload, it->payload_bytes, it->elem);
    if (rc != BT_OK) {
      failf(c, rc, "type %s: wire unpack failed: %s", c->type->name,
            bt_errmsg());
      it->drop = true;
      return;
    }
  } else {
    bt_box *b;
    rc = bt__box_wire_unpack(it->payload, it->payload_bytes, &b);
    if (rc == BT_OK && (c->kind == BT__RK_FROZEN) != !!bt_box_is_frozen(b)) {
      int frozen = bt_box_is_frozen(b);
      bt_box_release(b);
      rc = bt__fail(BT_ETYPE, "a %s box came on a %s channel",
                    frozen ? "frozen" : "mutable", kind_name(c->kind));
    }
    if (rc != BT_OK) {
      failf(c, rc, "remote channel to rank %d, tag %d: %s", c->peer, c->tag,
            bt_errmsg());
      it->drop = true;
      return;
    }
    memcpy(it->elem, &b, sizeof b);
  }
  it->holds = true;
  free(it->payload);
  it->payload = NULL;
}

void bt__rchan_complete(bt__rchan *c, bt__mpi_op *op, int mpi_rc,
                        const MPI_Status *st) {
  switch (op->kind) {
    case BT__OP_SEND:
      if (mpi_rc != MPI_SUCCESS) fail_mpi(c, mpi_rc, "MPI_Isend");
      send_over(c->m, op);
      return;
    case BT__OP_PAYLOAD_RECV: {
      bt__rq_item *it = op->item;
      bt__mpi_op_put(c->m, op);
      if (mpi_rc != MPI_SUCCESS) {
        fail_mpi(c, mpi_rc, "payload receive");
        it->drop = true;
      }
      if (--it->pending > 0) return; /* more pieces to come */
      if (it->drop)
        it->state = BT__RQ_READY;
      else
        on_payload(c, it);
      deliver(c);
      return;
    }
    case BT__OP_HDR_RECV: {
      c->hdr_posted = false;
      if (mpi_rc != MPI_SUCCESS) {
        fail_mpi(c, mpi_rc, "header receive");
        c->hdr_posted = true; /* do not post again */
        deliver(c);
        return;
      }
      int got = 0;
      MPI_Get_count(st, MPI_BYTE, &got);
      bt__mpi_hdr h;
      if (got < (int)sizeof h) {
        failf(c, BT_EMPI,
              "remote channel to rank %d, tag %d: a %d-byte "
              "message is no header",
              c->peer, c->tag, got);
        deliver(c);
        return;
      }
      memcpy(&h, c->hdr_buf, sizeof h);
      bt__mpi_heard(c->m, c->peer);
      if (h.magic != BT__MPI_HDR_MAGIC ||
          (size_t)got != sizeof h + h.inline_bytes) {
        failf(c, BT_EMPI,
              "remote channel to rank %d, tag %d: malformed "
              "header (is the tag used by other MPI code?)",
              c->peer, c->tag);
        deliver(c);
        return;
      }
      c->credits += h.credits;
      if (h.credits && c->m->detaching) c->credit_at = bt__now_ns();
      if (h.kind & BT__MSG_FINAL) c->peer_final = true;
      switch (h.kind & BT__MSG_KIND_MASK) {
        case BT__MSG_CREDIT:
          break;
        case BT__MSG_CLOSE:
          c->peer_closed = true;
          close_out(c);
          if (!item_new(c, BT__RQ_CLOSE)) (void)bt_chan_close(c->in);
          break;
        case BT__MSG_DATA:
          on_data(c, (const bt__mpi_hdr *)c->hdr_buf, (size_t)got);
          break;
        default:
          failf(c, BT_EMPI, "remote channel: unknown message kind %u",
                (unsigned)h.kind);
      }
      /* A waiter that polls for this channel got a data element it is
       * about to take: the next header receive is posted after it took it
       * (at its next send on the channel, hook_send_direct(), or the next
       * poll, which pumps the marked channel), not on the way of the
       * element to it (an MPI_Irecv, ~30 ns of an 8 B value's one-way
       * time). Only when the pump has nothing else to do now: nothing
       * waits in out (these credits would send it) and no close is due.
       * Until it is posted the peer's next message waits in MPI. */
      if (c->m->defer_post &&
          (h.kind & BT__MSG_KIND_MASK) == BT__MSG_DATA &&
          c->error == BT_OK && !c->out_closed && bt_chan_len(c->out) == 0 &&
          /* relaxed: as in direct_ok(). */
          atomic_load_explicit(&c->out->send_waiting, memory_order_relaxed) ==
              0) {
        bt__rchan_mark(c);
        deliver(c);
        return;
      }
      (void)bt__rchan_post(c);
      deliver(c);
      (void)bt__rchan_pump(c); /* credits may have come */
      return;
    }
    default:
      return;
  }
}

/* ---- hooks core calls -------------------------------------------------- */

void bt__rchan_mark(bt__rchan *c) {
  /* release: pairs with the acquire exchange in bt__rchan_marked(), so the
   * pump sees what the marking thread did before (its element in out, its
   * credit in `returned`). */
  atomic_store_explicit(&c->want_pump, 1, memory_order_release);
}

int bt__rchan_marked(bt__rchan *c) {
  /* relaxed: a look before the exchange; a mark set after it is seen by
   * the next poll, which the marking thread's kick guarantees. */
  if (atomic_load_explicit(&c->want_pump, memory_order_relaxed) &&
      atomic_exchange_explicit(&c->want_pump, 0, memory_order_acquire))
    return 1;
  /* relaxed: a sender blocked on out (a rendezvous channel's, or a full
   * out's) is served by every poll, as before marks existed. */
  return atomic_load_explicit(&c->out->send_waiting, memory_order_relaxed) != 0;
}

static void hook_after_send(void *ctx) {
  bt__rchan *c = ctx;
  bt_mpi *m = c->m;
  /* Where MPI allows it (MPI_THREAD_MULTIPLE: direct mode, and thread mode
   * forced by BATON_MPI_PROGRESS=thread), hand the element to MPI now,
   * unless the progress thread is busy under the lock; then it will. In
   * thread mode this spares the send a wake-up of the progress thread: a
   * woken thread waits for a core, and while the sending thread spins in an
   * MPI call of its own (Open MPI busy-polls in MPI_Barrier) on a loaded
   * machine that wait was milliseconds (late_wakeup in tests/mpi: median
   * 2.4-11.8 ms late, 0.16 ms with this). Under MPI_THREAD_SERIALIZED only
   * the progress thread calls MPI, and the application may not. */
  if ((m->direct || m->thread_level == MPI_THREAD_MULTIPLE) &&
      pthread_mutex_trylock(&m->lock) == 0) {
    if (!m->detaching) (void)bt__rchan_pump(c);
    pthread_mutex_unlock(&m->lock);
    if (m->direct) return;
    /* Thread mode: the progress thread still polls the request (and pumps
     * what credits held back); the mark and kick below ask it to. */
  }
  bt__rchan_mark(c);
  bt__mpi_kick(m);
}

/* Lock held: whether a send may skip out now (a credit aside). */
static bool direct_ok(bt__rchan *c) {
  /* relaxed: out's waiting senders are counted under out's lock; one that
   * queues after the look is an overtaking the channel allows (two
   * threads' sends at once are not ordered). */
  return !c->m->detaching && !c->out_closed && c->error == BT_OK &&
         !c->orphan && !peer_dead(c) && !c->close_sent &&
         bt_chan_len(c->out) == 0 &&
         atomic_load_explicit(&c->out->send_waiting, memory_order_relaxed) ==
             0;
}

/* Lock held: post the header receive bt__rchan_complete() left for later,
 * where the pump would (not on an orphan or a dead peer's channel; during
 * detach the pump does it). */
static void post_deferred(bt__rchan *c) {
  if (!c->hdr_posted && !c->m->detaching && !c->orphan && !peer_dead(c))
    (void)bt__rchan_post(c);
}

/* A value or slice sent straight from the caller's buffer (direct mode):
 * no copy into out, none out of it into scratch, and for a value none
 * into the pieces' send records (a 32 KiB value paid those three beside
 * MPI's own). Only when the lock is free and the element may leave now: a
 * credit in hand, nothing in out before it (this thread's earlier sends
 * left: the pump that took them held the lock we now hold), the channel
 * open; else it goes through out as any send. */
static int hook_send_direct(void *ctx, const void *elem) {
  bt__rchan *c = ctx;
  bt_mpi *m = c->m;
  /* Values with an on_send hook go through out (their pump adopts them). */
  if (c->kind == BT__RK_VALUE && c->type->on_send) return BT_EAGAIN;
  /* A value larger than a header's room waits for the lock: three copies
   * of it through the queue cost more than the wait (the lock is held for
   * a poll, not for a transfer). A small one takes the queue instead. */
  if (c->type->size > BT__MPI_EAGER - sizeof(bt__mpi_hdr)) {
    pthread_mutex_lock(&m->lock);
  } else if (pthread_mutex_trylock(&m->lock) != 0) {
    return BT_EAGAIN;
  }
  int rc = BT_EAGAIN;
  /* The header receive its last data left unposted (bt__rchan_complete()):
   * posted before the look below, or after the send (off the way of this
   * element: the peer's answer is a round trip away). */
  if (c->credits == 0) post_deferred(c);
  /* No credit in hand: the peer may have returned some that nobody has
   * read yet (its receiver took what we sent while nobody polled here):
   * a look at the channel's own header receive, a few messages at most,
   * costs less than the queue. */
  for (int i = 0; i < 4 && c->credits == 0 && c->hdr_posted && direct_ok(c) &&
                  bt__mpi_test_op(m, &c->hdr_op);
       i++) {
  }
  if (c->credits > 0 && direct_ok(c)) {
    c->credits--;
    c->stalled = false;
    uint64_t before = c->bytes_sent;
    int64_t t0 = bt__trace_begin();
    /* A slice (on_send made it nobody's, as in out) is consumed as the
     * pump's would be: its pieces hold it until MPI is done. */
    send_elem(c, (void *)elem, c->kind == BT__RK_VALUE);
    bt__trace_end(t0, "mpi", "send", c->peer,
                  (int64_t)(c->bytes_sent - before));
    rc = BT_OK;
  }
  post_deferred(c);
  pthread_mutex_unlock(&m->lock);
  return rc;
}

static void hook_after_recv(void *ctx) {
  bt__rchan *c = ctx;
  /* No lock on the receive path: the progress thread folds these in.
   * release: pairs with the acquire exchange in fold_returned(). */
  uint32_t owed =
      atomic_fetch_add_explicit(&c->returned, 1, memory_order_release) + 1;
  /* Half the window owed: the sender may be about to stall, wake the
   * progress thread (lazily: a thread that polls carries it as well).
   * Less owed but nothing buffered: the credit goes back at the next poll,
   * or rides on this rank's next message (a ping-pong's reply), with no
   * wake-up: the sender still holds half its window. */
  if (owed * 2 >= c->window) {
    bt__rchan_mark(c);
    bt__mpi_kick_lazy(c->m);
  } else if (bt_chan_len(c->in) == 0) {
    bt__rchan_mark(c);
  }
}

/* Caller-driven progress (direct mode): see bt__mpi_wait_begin(). */
static int hook_wait_begin(void *ctx) {
  return bt__mpi_wait_begin(((bt__rchan *)ctx)->m);
}

static int hook_wait_poll(void *ctx, int64_t since_ns) {
  bt__rchan *c = ctx;
  return bt__mpi_wait_poll(c->m, c, since_ns);
}

static void hook_wait_end(void *ctx, int completed) {
  bt__mpi_wait_end(((bt__rchan *)ctx)->m, completed);
}

static int hook_close(void *ctx) {
  bt__rchan *c = ctx;
  bt_mpi *m = c->m;
  pthread_mutex_lock(&m->lock);
  int rc;
  if (c->out_closed) {
    rc = bt__fail(
        BT_ECLOSED, "remote channel to rank %d, tag %d: already closed%s",
        c->peer, c->tag,
        c->user_closed
            ? ""
            : (c->peer_closed ? " by the peer" : " (the bridge detached)"));
  } else {
    c->user_closed = true;
    close_out(c);
    if (m->direct && !m->detaching) (void)bt__rchan_pump(c);
    rc = BT_OK;
  }
  pthread_mutex_unlock(&m->lock);
  bt__rchan_mark(c);
  bt__mpi_kick(m);
  return rc;
}

static int hook_closed_status(void *ctx, int op) {
  bt__rchan *c = ctx;
  pthread_mutex_lock(&c->m->lock);
  int code = c->error;
  char msg[sizeof c->errmsg];
  memcpy(msg, c->errmsg, sizeof msg);
  int by_peer = c->peer_closed, detaching = c->m->detaching && !c->user_closed;
  pthread_mutex_unlock(&c->m->lock);
  if (code != BT_OK) return bt__fail(code, "%s", msg);
  return bt__fail(BT_ECLOSED,
                  "%s on the remote channel to rank %d, tag %d: "
                  "closed%s",
                  op == BT_OP_SEND ? "send" : "receive", c->peer, c->tag,
                  by_peer     ? " by the peer"
                  : detaching ? " (the bridge detached)"
                              : "");
}

static void hook_destroy(void *ctx) {
  bt__rchan *c = ctx;
  bt_mpi *m = c->m;
  pthread_mutex_lock(&m->lock);
  c->user_gone = true;
  c->discard = true;
  close_out(c);
  /* Nobody will receive what is buffered: drop it and give the credits
   * back so the peer's sends still flow. */
  while (bt_try_recv(c->in, c->scratch) == BT_OK) {
    bt__rchan_dispose(c, c->scratch);
    c->to_return++;
  }
  (void)bt_array_release(c->recv_array);
  c->recv_array = NULL;
  pthread_mutex_unlock(&m->lock);
  bt__rchan_mark(c);
  bt__mpi_kick(m);
  bt__rchan_unref(c);
}

/* ---- lifecycle --------------------------------------------------------- */

void bt__rchan_unref(bt__rchan *c) {
  /* acq_rel: the last reference sees the other holder's writes. */
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
  while (c->rq_head) {
    bt__rq_item *it = c->rq_head;
    c->rq_head = it->next;
    if (it->holds) bt__rchan_dispose(c, it->elem);
    free(it->payload);
    free(it);
  }
  (void)bt_array_release(c->recv_array);
  bt_chan_release(c->out);
  bt_chan_release(c->in);
  free(c->scratch);
  free(c->hdr_buf);
  bt_mpi *m = c->m;
  free(c);
  bt__mpi_unref(m);
}

/* Nothing more can happen on a channel whose user released it once each
 * end's last message (BT__MSG_FINAL) went and came, every send of ours
 * completed and everything received was delivered (or dropped). */
int bt__rchan_finished(const bt__rchan *c) {
  return c->user_gone && c->final_sent && c->peer_final && !c->hdr_posted &&
         c->nsends == 0 && c->npayloads == 0 && c->rq_head == NULL &&
         c->error == BT_OK && !c->orphan && !peer_dead(c);
}

void bt__rchan_detach_begin(bt__rchan *c) {
  close_out(c);
}

int bt__rchan_detach_step(bt__rchan *c, int64_t now) {
  if (c->orphan || peer_dead(c)) {
    if (!c->send_done) {
      /* An orphan's messages went to a tag nobody receives. */
      if (c->orphan) c->undelivered += c->send_seq;
      (void)drop_out(c);
      c->send_done = true;
    }
    /* The peer throws away what went to an orphan (drain_strays() in
     * bridge.c): its sends complete and their buffers are freed. Past the
     * grace they are abandoned instead (detach_requests()). */
    return peer_dead(c) || c->nsends == 0 ||
           now - c->credit_at > c->m->grace_ns;
  }
  if (!c->close_sent) {
    /* No credit for the grace since the exchange or the last credit: the
     * peer's receivers took no more; what waits is given up. */
    if (c->credits == 0 && now - c->credit_at > c->m->grace_ns)
      (void)drop_out(c);
    (void)bt__rchan_pump(c);
    if (!c->close_sent) return 0;
  }
  c->send_done = true;
  if (c->nsends > 0 || c->npayloads > 0) return 0;
  /* A channel that failed may never see the peer's close. */
  return c->peer_closed || c->error != BT_OK;
}

void bt__rchan_deliver(bt__rchan *c) {
  deliver(c);
}

void bt__rchan_detach_end(bt__rchan *c) {
  pthread_mutex_lock(&c->m->lock);
  /* Payload receives were cancelled: what is queued will not complete. */
  while (c->rq_head) {
    bt__rq_item *it = c->rq_head;
    c->rq_head = it->next;
    if (it->holds) bt__rchan_dispose(c, it->elem);
    free(it->payload);
    free(it);
  }
  c->rq_tail = NULL;
  (void)bt_chan_close(c->in); /* buffered elements stay receivable */
  pthread_mutex_unlock(&c->m->lock);
  bt__rchan_unref(c);
}

int bt_mpi_chan_create(bt_mpi *m, int peer, int tag, const bt_type *t,
                       size_t capacity, bt_chan **ch) {
  if (m == NULL || m->magic != BT__MPI_MAGIC)
    return bt__bad_handle("bt_mpi_chan_create", "MPI bridge", m);
  if (t == NULL || ch == NULL)
    return bt__fail(BT_EINVAL, "bt_mpi_chan_create: NULL %s",
                    t == NULL ? "type" : "output");
  if (peer < 0 || peer >= m->size)
    return bt__fail(BT_EINVAL, "bt_mpi_chan_create: peer %d outside 0..%d",
                    peer, m->size - 1);
  if (tag < 0 || tag > m->tag_ub)
    return bt__fail(BT_EINVAL, "bt_mpi_chan_create: tag %d outside 0..%d", tag,
                    m->tag_ub);
  if (bt__type_check(t, "bt_mpi_chan_create") != BT_OK) return BT_EINVAL;
  if (capacity > UINT32_MAX / 4)
    return bt__fail(BT_EINVAL, "bt_mpi_chan_create: capacity %zu too large",
                    capacity);
  bt__rkind kind = BT__RK_VALUE; /* set by kind_of() */
  int rc = kind_of(t, &kind);
  if (rc != BT_OK) return rc;

  bt__rchan *c = calloc(1, sizeof *c);
  if (!c) return bt__fail(BT_ENOMEM, "bt_mpi_chan_create: out of memory");
  c->m = m;
  c->peer = peer;
  c->tag = tag;
  c->kind = kind;
  c->type_hash = type_hash(t, kind);
  c->cap = capacity;
  c->window = capacity ? (uint32_t)capacity : 1;
  c->credits = c->window;
  c->hdr_op.index = -1; /* not in the table until posted */
  c->hdr_template.magic = BT__MPI_HDR_MAGIC;
  c->hdr_template.type_hash = c->type_hash;
  snprintf(c->hdr_template.type_name, sizeof c->hdr_template.type_name, "%s",
           t->name ? t->name : "?");
  c->scratch = malloc(t->size);
  c->hdr_cap = BT__MPI_HDR_BUF;
  c->hdr_buf = malloc(c->hdr_cap);
  rc = BT_ENOMEM;
  if (!c->scratch || !c->hdr_buf) {
    rc = bt__fail(BT_ENOMEM, "bt_mpi_chan_create: out of memory");
    goto err_free;
  }
  /* The bridge's end outlives the user's channel, until detach: so must
   * the type (mpi.h says so). */
  c->type = t;
  rc = bt_chan_create(c->type, capacity, &c->out);
  if (rc != BT_OK) goto err_free;
  rc = bt_chan_create(c->type, c->window, &c->in);
  if (rc != BT_OK) goto err_release_out;
  atomic_init(&c->refs, 2);      /* the user channel's and the bridge's */
  atomic_init(&c->want_pump, 1); /* post the header receive */
  atomic_init(&c->returned, 0);

  pthread_mutex_lock(&m->lock);
  int retired = bt__mpi_retired(m, peer, tag);
  int taken = m->detaching || retired;
  for (bt__rchan *o = m->chans; o && !taken; o = o->next)
    taken = o->peer == peer && o->tag == tag;
  if (taken) {
    int detaching = m->detaching;
    pthread_mutex_unlock(&m->lock);
    rc = detaching
             ? bt__fail(BT_ESTATE,
                        "bt_mpi_chan_create: the bridge is "
                        "detaching")
             : bt__fail(BT_EINVAL,
                        "bt_mpi_chan_create: tag %d with rank %d is already "
                        "a channel%s",
                        tag, peer,
                        retired ? " (released, but its tag stays taken until "
                                  "detach)"
                                : "");
    goto err_release_in;
  }
  bt__chan_remote r = {.out = c->out,
                       .in = c->in,
                       .after_send = hook_after_send,
                       .after_recv = hook_after_recv,
                       .close = hook_close,
                       .destroy = hook_destroy,
                       .ctx = c,
                       .closed_status = hook_closed_status,
                       .describe = bt__rchan_describe};
  if (m->direct) {
    r.wait_begin = hook_wait_begin;
    r.wait_poll = hook_wait_poll;
    r.wait_end = hook_wait_end;
    /* Buffered values and slices only: a capacity-0 send meets the
     * transport in out (one at a time, in the order of the senders'
     * arrival). */
    if ((kind == BT__RK_VALUE || kind == BT__RK_SLICE) && capacity > 0)
      r.send_direct = hook_send_direct;
  }
  bt_chan *user;
  rc = bt__chan_create_remote(t, &r, &user);
  if (rc != BT_OK) {
    pthread_mutex_unlock(&m->lock);
    goto err_release_in;
  }
  /* relaxed: the caller holds attach's reference, so the count is > 0. */
  atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
  c->next = m->chans;
  m->chans = c;
  pthread_mutex_unlock(&m->lock);
  bt__mpi_kick(m);
  *ch = user;
  return BT_OK;

err_release_in:
  bt_chan_release(c->in);
err_release_out:
  bt_chan_release(c->out);
err_free:
  free(c->hdr_buf);
  free(c->scratch);
  free(c);
  return rc;
}
