/* SPDX-License-Identifier: BSD-3-Clause */
/* report.c: the MPI bridge in the runtime's diagnostics: its section of
 * bt_runtime_report() (every remote channel with its message and byte
 * counts, credit stalls and late wake-ups), the far end of a remote channel for
 * BATON_WATCHDOG, the rank for reports, affinity lines and trace names,
 * and the MPI messages of BATON_TRACE.
 *
 * The counters are the channel's own plain fields (rchan.c counts them
 * under the bridge's lock). */
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
    fprintf(
        out,
        "    remote channel to rank %d tag %d (%s, capacity %zu): sent %" PRIu64
        " (%" PRIu64 " B), received %" PRIu64 " (%" PRIu64
        " B), credits %" PRIu32 " of %" PRIu32 ", %" PRIu64
        " credit stall%s, %" PRIu64
        " late wake-up%s, %zu queued out, %zu in; %s\n",
        c->peer, c->tag, c->type->name ? c->type->name : "?", c->cap,
        c->msgs_sent, c->bytes_sent, c->msgs_recv, c->bytes_recv, c->credits,
        c->window, c->credit_stalls, c->credit_stalls == 1 ? "" : "s",
        c->late_wakeups, c->late_wakeups == 1 ? "" : "s", bt_chan_len(c->out),
        bt_chan_len(c->in), state_of(c));
    if (c->undelivered > 0)
      fprintf(out, "      %" PRIu64 " elements never delivered\n",
              c->undelivered);
  }
  if (n == 0) fprintf(out, "    no remote channels\n");
  if (m->nretired > 0)
    fprintf(out, "    %zu remote channel%s finished and left the poll list\n",
            m->nretired, m->nretired == 1 ? "" : "s");
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
           c->peer, c->tag, c->credits, c->window, c->msgs_sent,
           c->msgs_recv, state_of(c));
  pthread_mutex_unlock(&c->m->lock);
}

void bt__rchan_traced_send(bt__rchan *c, void (*send)(bt__rchan *c)) {
  uint64_t before = c->bytes_sent;
  int64_t t0 = bt__trace_begin();
  send(c);
  bt__trace_end(t0, "mpi", "send", c->peer, (int64_t)(c->bytes_sent - before));
}

void bt__rchan_traced_recv(bt__rchan *c, const bt__mpi_hdr *h) {
  bt__trace_end(bt__trace_begin(), "mpi", "recv", c->peer,
                (int64_t)(h->inline_bytes + h->payload_bytes));
}
