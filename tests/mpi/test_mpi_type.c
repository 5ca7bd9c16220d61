/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_type.c: the two ends of a remote channel disagree on the type:
 * receivers get BT_ETYPE with a sentence naming both types, nothing hangs,
 * detach completes. Needs core's closed_status remote-channel hook. */
#define _POSIX_C_SOURCE 200809L
#include "mpitest.h"

/* The two ends disagree on the type: each receiver gets BT_ETYPE with a
 * sentence naming both types; nothing hangs, detach completes. */
static void type_mismatch(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  const bt_type *t = me == 0 ? &bt_type_f64 : &bt_type_i64;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 31, t, 2, &ch));
  int64_t v = 42;
  /* The side whose progress sees the peer's header before its own send
   * already knows of the mismatch: its send answers BT_ETYPE and nothing
   * travels from it. At least one header travels, and whoever gets one
   * answers BT_ETYPE from then on. */
  int sent = bt_send(ch, &v);
  BT_CHECK(sent == BT_OK || sent == BT_ETYPE);
  int peer_sent = BT_OK;
  MPI_Sendrecv(&sent, 1, MPI_INT, peer, 99, &peer_sent, 1, MPI_INT, peer, 99,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  BT_CHECK(sent == BT_OK || peer_sent == BT_OK);
  if (peer_sent == BT_OK) {
    int64_t x;
    BT_CHECK_STATUS(bt_recv(ch, &x), BT_ETYPE);
    BT_CHECK(strstr(bt_errmsg(), "f64") != NULL);
    BT_CHECK(strstr(bt_errmsg(), "i64") != NULL);
    BT_CHECK_STATUS(bt_recv(ch, &x), BT_ETYPE);
    BT_CHECK_STATUS(bt_send(ch, &v), BT_ETYPE);
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(type_mismatch, 2) {
  mt_both_modes(type_mismatch);
}

/* A slice channel on one end, a value channel of the same size on the
 * other: caught from the header too. */
static void slice_vs_value(bt_runtime *rt, bt_mpi *m) {
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  const bt_type *t = me == 0 ? &bt_type_slice : &bt_type_i64;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 32, t, 1, &ch));
  if (me == 0) {
    int64_t n = 1000;
    bt_array *a;
    BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &n, BT_PLACE_LOCAL, &a));
    bt_slice s;
    BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
    BT_CHECK_OK(bt_send(ch, &s));
    /* The peer discards it; the region still unlocks. */
    bt_slice all;
    BT_CHECK_OK(bt_array_own(a, NULL, -1, &all));
    BT_CHECK_OK(bt_slice_release(all));
    BT_CHECK_OK(bt_array_release(a));
  } else {
    int64_t x;
    BT_CHECK_STATUS(bt_recv(ch, &x), BT_ETYPE);
    BT_CHECK(strstr(bt_errmsg(), "slice") != NULL);
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(slice_vs_value, 2) {
  mt_both_modes(slice_vs_value);
}

/* A receive blocked before the bad message arrives is woken with BT_ETYPE
 * (through select too). */
static void blocked_receiver(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  bt_chan *ch;
  bt_type odd;
  static bt_type kept; /* valid until detach */
  BT_CHECK_OK(bt_type_value(me == 0 ? "pair" : "quad", 8, &odd));
  kept = odd;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 33, &kept, 1, &ch));
  int64_t v = 7;
  if (me == 0) {
    mt_sleep_ms(50);
    BT_CHECK_OK(bt_send(ch, &v));
  } else {
    bt_case c = {ch, BT_OP_RECV, &v};
    int chosen = -1;
    BT_CHECK_STATUS(bt_select(&c, 1, -1, &chosen), BT_ETYPE);
    BT_CHECK_EQ(chosen, 0);
    BT_CHECK(strstr(bt_errmsg(), "pair") != NULL);
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(blocked_receiver, 2) {
  mt_both_modes(blocked_receiver);
}
