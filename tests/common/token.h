/* SPDX-License-Identifier: BSD-3-Clause */
/* token.h: a test handle type for the channel and select suites.
 *
 * A token is a uint32_t index into a table of holders (a thread id, 0 while
 * in flight). on_send refuses an index out of range (BT_ETYPE) and a token
 * the calling thread does not hold (BT_EMOVED), as a real handle type must;
 * on_recv makes the receiver the holder; on_drop counts drops of tokens in
 * flight. Tests read the table and the counters to see what moved. */
#ifndef BATON_TEST_TOKEN_H
#define BATON_TEST_TOKEN_H

#include <stdatomic.h>
#include <stdint.h>

#include "baton.h"

enum { BT_TEST_NTOKENS = 64 };

extern _Atomic uint64_t bt_test_token_holder[BT_TEST_NTOKENS];
extern _Atomic int bt_test_token_drops[BT_TEST_NTOKENS];
extern _Atomic int bt_test_token_sends, bt_test_token_recvs;
extern const bt_type bt_test_token_type;

/* Every token held by the calling thread, every counter zero. */
void bt_test_tokens_reset(void);

#endif
