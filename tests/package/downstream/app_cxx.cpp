/* SPDX-License-Identifier: BSD-3-Clause */
// A C++ consumer of the installed headers, built with -pedantic-errors:
// BT_OPTIONS_DEFAULT, BT_OPTIONS_INIT, BT_JOB_INIT and BT_TYPE_INIT (the
// initialisers that set struct_size), the extern "C" declarations,
// BT_IGNORE.
#include <baton.h>

#include <cstdio>

static int square(void *arg, void *result, void *) {
  const int64_t x = *static_cast<int64_t *>(arg);
  *static_cast<int64_t *>(result) = x * x;
  return BT_OK;
}

int main() {
  bt_options init = BT_OPTIONS_INIT;
  if (init.struct_size != sizeof(bt_options)) return 10;
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

  bt_type pair = BT_TYPE_INIT;  // a type of the program's own
  pair.name = "pair";
  pair.size = 2 * sizeof(int64_t);
  if (bt_chan_create(&pair, 1, &ch) != BT_OK) return 5;
  bt_chan_release(ch);
  bt_job job = BT_JOB_INIT;
  int64_t seven = 7, squared = 0;
  job.fn = square;
  job.arg_type = &bt_type_i64;
  job.arg = &seven;
  job.result_type = &bt_type_i64;
  bt_future *f = nullptr;
  if (bt_schedule(rt, BT_ANY_WORKER, &job, &f) != BT_OK) return 6;
  if (bt_future_wait(f, -1, &squared) != BT_OK || squared != 49) return 7;
  bt_future_release(f);
  bt_runtime_destroy(rt);
  std::printf("baton %s from C++: %d workers asked\n", bt_version(),
              opt.workers);
  return 0;
}
