/* SPDX-License-Identifier: BSD-3-Clause */
// A C++ consumer of the installed headers, built with -pedantic-errors:
// BT_OPTIONS_DEFAULT, the extern "C" declarations, BT_IGNORE.
#include <baton.h>

#include <cstdio>

int main() {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 2;
  bt_runtime *rt = nullptr;
  if (bt_runtime_create(&opt, &rt) != BT_OK) return 1;
  bt_chan *ch = nullptr;
  if (bt_chan_create(&bt_type_i64, 4, &ch) != BT_OK) return 2;
  for (int64_t i = 1; i <= 3; i++)
    if (bt_try_send(ch, &i) != BT_OK) return 3;
  int64_t first = 0;
  if (bt_recv(ch, &first) != BT_OK || first != 1) return 4;
  int64_t rest;
  while (bt_try_recv(ch, &rest) == BT_OK) {
  }
  BT_IGNORE(bt_try_recv(ch, &rest));  // drained: BT_EAGAIN, dropped on purpose
  bt_chan_release(ch);
  bt_runtime_destroy(rt);
  std::printf("baton %s from C++: %d workers asked\n", bt_version(),
              opt.workers);
  return 0;
}
