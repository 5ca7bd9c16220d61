/* report.c: the MPI bridge in the runtime's diagnostics: its section of
 * bt_runtime_report() (every remote channel with its message and byte
 * counts and credit stalls), the far end of a remote channel for
 * BATON_WATCHDOG, the rank for reports, affinity lines and trace names,
 * and the MPI messages of BATON_TRACE.
 *
 * The counters live in each channel (bt__rchan.stats) under the bridge's
 * lock, which the transport holds wherever it counts. */
#include <inttypes.h>

#include "mpi_int.h"

static const char *state_of(const bt__rchan *c) {
  if (c->error != BT_OK) return "failed";
  if (c->out_closed && c->peer_closed) return "closed";
  if (c->out_closed) return "closed here";
  if (c->peer_closed) return "closed by the peer";
  return "open";
}

/* The section: called under the runtime's section lock. */
static void report(void *ctx, FILE *out) {
  bt_mpi *m = ctx;
  pthread_mutex_lock(&m->lock);
  fprintf(out, "  MPI bridge: rank %d of %d, %s mode, %d operations posted\n",
          m->rank, m->size, m->direct ? "direct" : "funnelled", m->nops);
  int n = 0;
  for (bt__rchan *c = m->chans; c; c = c->next, n++) {
    const bt__rchan_stats *s = &c->stats;
    fprintf(
        out,
        "    remote channel to rank %d tag %d (%s, capacity %zu): sent %" PRIu64
        " (%" PRIu64 " B), received %" PRIu64 " (%" PRIu64
        " B), credits %" PRIu32 " of %" PRIu32 ", %" PRIu64
        " credit stall%s, %zu queued out, %zu in; %s\n",
        c->peer, c->tag, c->type->name ? c->type->name : "?", c->cap, s->sent,
        s->sent_bytes, s->received, s->received_bytes, c->credits, c->window,
        s->credit_stalls, s->credit_stalls == 1 ? "" : "s", bt_chan_len(c->out),
        bt_chan_len(c->in), state_of(c));
  }
  if (n == 0) fprintf(out, "    no remote channels\n");
  pthread_mutex_unlock(&m->lock);
}

void bt__mpi_report_attach(bt_mpi *m) {
  bt__set_rank(m->rank);
  m->section.report = report;
  m->section.ctx = m;
  bt__report_add(m->rt, &m->section);
}

void bt__mpi_report_detach(bt_mpi *m) {
  bt__report_remove(&m->section);
}

void bt__rchan_describe(void *ctx, char *buf, size_t len) {
  bt__rchan *c = ctx;
  pthread_mutex_lock(&c->m->lock);
  snprintf(buf, len,
           "peer rank %d tag %d, %" PRIu32 " of %" PRIu32
           " credits left, %" PRIu64 " sent, %" PRIu64 " received, %s",
           c->peer, c->tag, c->credits, c->window, c->stats.sent,
           c->stats.received, state_of(c));
  pthread_mutex_unlock(&c->m->lock);
}

/* The bytes an element carries: the value, the slice's data, the box's
 * encoding. */
static uint64_t elem_bytes(const bt__rchan *c) {
  switch (c->kind) {
    case BT__RK_SLICE: {
      bt_view v;
      if (bt__slice_view_any(*(const bt_slice *)c->scratch, &v) != BT_OK)
        return 0;
      uint64_t n = bt_dtype_size(v.dtype);
      for (int d = 0; d < v.ndim; d++) n *= (uint64_t)v.shape[d];
      return n;
    }
    case BT__RK_BOX:
    case BT__RK_FROZEN: {
      const bt_box *b = *(bt_box *const *)c->scratch;
      return b ? bt__box_wire_size(b) : 0;
    }
    case BT__RK_WIRE:
      return c->type->wire->packed_size(c->scratch);
    default:
      return c->type->size;
  }
}

void bt__rchan_counted_send(bt__rchan *c, void (*send)(bt__rchan *c)) {
  uint64_t bytes = elem_bytes(c);
  int64_t t0 = bt__trace_begin();
  send(c);
  bt__trace_end(t0, "mpi", "send", c->peer, (int64_t)bytes);
  c->stats.sent++;
  c->stats.sent_bytes += bytes;
}

void bt__rchan_counted_recv(bt__rchan *c, const bt__mpi_hdr *h) {
  uint64_t bytes = h->inline_bytes + h->payload_bytes;
  c->stats.received++;
  c->stats.received_bytes += bytes;
  bt__trace_end(bt__trace_begin(), "mpi", "recv", c->peer, (int64_t)bytes);
}

void bt__rchan_counted_credits(bt__rchan *c) {
  /* A rendezvous channel has one credit: it always waits for it. */
  if (c->credits == 0 && c->cap > 0 && bt_chan_len(c->out) > 0) {
    if (!c->stats.stalled) c->stats.credit_stalls++;
    c->stats.stalled = true;
  } else if (c->credits > 0) {
    c->stats.stalled = false;
  }
}
