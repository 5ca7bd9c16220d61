/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz_chan.c: sequences of non-blocking channel operations (try_send,
 * try_recv, close, select over two channels, len) against a model queue
 * per channel: FIFO, capacity, close semantics (buffered elements still
 * come out in order, then BT_ECLOSED; sends on a closed channel and a
 * second close answer BT_ECLOSED), select choosing only ready cases. One
 * thread: a rendezvous channel never has a partner, so its tries answer
 * BT_EAGAIN until it is closed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "baton.h"

#define CHECK(c)       \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

enum { MAXCAP = 8 };

typedef struct model {
  int64_t q[MAXCAP];
  size_t head, len, cap;
  int closed;
} model;

static int model_ready(const model *m, int op) {
  if (op == BT_OP_SEND) return m->closed || m->len < m->cap;
  return m->closed || m->len > 0;
}

/* Apply op to the model; return the status the channel must answer. */
static int model_apply(model *m, int op, int64_t v, int64_t *got) {
  if (op == BT_OP_SEND) {
    if (m->closed) return BT_ECLOSED;
    if (m->len == m->cap) return BT_EAGAIN;
    m->q[(m->head + m->len++) % MAXCAP] = v;
    return BT_OK;
  }
  if (m->len > 0) {
    *got = m->q[m->head];
    m->head = (m->head + 1) % MAXCAP;
    m->len--;
    return BT_OK;
  }
  return m->closed ? BT_ECLOSED : BT_EAGAIN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  model m[2] = {{.cap = data[0] % (MAXCAP + 1)},
                {.cap = data[1] % (MAXCAP + 1)}};
  bt_chan *ch[2];
  CHECK(bt_chan_create(&bt_type_i64, m[0].cap, &ch[0]) == BT_OK);
  CHECK(bt_chan_create(&bt_type_i64, m[1].cap, &ch[1]) == BT_OK);
  int64_t next = 1;
  for (size_t i = 2; i < size; i++) {
    int c = data[i] & 1, what = (data[i] >> 1) % 5;
    int64_t v = next, got = 0, want_got = 0;
    int rc, want;
    switch (what) {
      case 0: /* try_send */
        want = model_apply(&m[c], BT_OP_SEND, v, NULL);
        rc = bt_try_send(ch[c], &v);
        CHECK(rc == want);
        if (rc == BT_OK) next++;
        break;
      case 1: /* try_recv */
        want = model_apply(&m[c], BT_OP_RECV, 0, &want_got);
        rc = bt_try_recv(ch[c], &got);
        CHECK(rc == want);
        if (rc == BT_OK) CHECK(got == want_got);
        break;
      case 2: /* close */
        rc = bt_chan_close(ch[c]);
        CHECK(rc == (m[c].closed ? BT_ECLOSED : BT_OK));
        m[c].closed = 1;
        break;
      case 3: { /* select: a send on one channel, a receive on the other */
        int sop = (data[i] >> 4) & 1 ? BT_OP_SEND : BT_OP_RECV;
        int64_t sv = next, r = 0;
        bt_case cases[2] = {{ch[c], sop, sop == BT_OP_SEND ? &sv : &r},
                            {ch[1 - c], BT_OP_RECV, &got}};
        int ready0 = model_ready(&m[c], sop),
            ready1 = model_ready(&m[1 - c], BT_OP_RECV);
        int chosen = -1;
        rc = bt_select(cases, 2, 0, &chosen);
        if (!ready0 && !ready1) {
          CHECK(rc == BT_EAGAIN);
          break;
        }
        CHECK(chosen == 0 ? ready0 : chosen == 1 && ready1);
        int mc = chosen == 0 ? c : 1 - c, op = chosen == 0 ? sop : BT_OP_RECV;
        want = model_apply(&m[mc], op, sv, &want_got);
        CHECK(rc == want);
        if (rc == BT_OK && op == BT_OP_SEND) next++;
        if (rc == BT_OK && op == BT_OP_RECV)
          CHECK((chosen == 0 ? r : got) == want_got);
        break;
      }
      default: /* len and cap */
        CHECK(bt_chan_len(ch[c]) == m[c].len);
        CHECK(bt_chan_cap(ch[c]) == m[c].cap);
        break;
    }
  }
  CHECK(bt_chan_release(ch[0]) == BT_OK);
  CHECK(bt_chan_release(ch[1]) == BT_OK);
  return 0;
}
