/* SPDX-License-Identifier: BSD-3-Clause */
/* token.c: the test handle type of token.h. */
#include "token.h"

#include "core_int.h"
#include "test.h"

/* seq_cst everywhere below: test bookkeeping, read by the checks of other
 * threads after the channel operation that synchronizes them. */
_Atomic uint64_t bt_test_token_holder[BT_TEST_NTOKENS];
_Atomic int bt_test_token_drops[BT_TEST_NTOKENS];
_Atomic int bt_test_token_sends, bt_test_token_recvs;

static int token_on_send(void *elem, bt_transfer mode) {
  (void)mode;
  uint32_t id = *(uint32_t *)elem;
  if (id >= BT_TEST_NTOKENS)
    return bt__fail(BT_ETYPE, "token %u is no token", id);
  uint64_t me = bt__thread_id();
  if (!atomic_compare_exchange_strong(&bt_test_token_holder[id], &me, 0))
    return bt__fail(BT_EMOVED, "token %u is not held by this thread", id);
  atomic_fetch_add(&bt_test_token_sends, 1);
  return BT_OK;
}

static void token_on_recv(void *elem) {
  uint32_t id = *(uint32_t *)elem;
  BT_CHECK_EQ(atomic_exchange(&bt_test_token_holder[id], bt__thread_id()), 0);
  atomic_fetch_add(&bt_test_token_recvs, 1);
}

static void token_on_drop(void *elem) {
  uint32_t id = *(uint32_t *)elem;
  BT_CHECK_EQ(atomic_load(&bt_test_token_holder[id]), 0);
  atomic_fetch_add(&bt_test_token_drops[id], 1);
}

const bt_type bt_test_token_type = {.struct_size = sizeof(bt_type),
                                    .name = "token",
                                    .size = sizeof(uint32_t),
                                    .on_send = token_on_send,
                                    .on_recv = token_on_recv,
                                    .on_drop = token_on_drop};

void bt_test_tokens_reset(void) {
  for (int i = 0; i < BT_TEST_NTOKENS; i++) {
    atomic_store(&bt_test_token_holder[i], bt__thread_id());
    atomic_store(&bt_test_token_drops[i], 0);
  }
  atomic_store(&bt_test_token_sends, 0);
  atomic_store(&bt_test_token_recvs, 0);
}
