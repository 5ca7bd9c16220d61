/* SPDX-License-Identifier: BSD-3-Clause */
/* A downstream program built against the installed baton: a runtime, a
 * channel between a worker job and main, and a slice moved zero-copy. */
#include <baton.h>
#include <stdio.h>

static int produce(void *arg, void *result, void *ctx) {
  (void)arg;
  (void)result;
  bt_chan *ch = ctx;
  for (int64_t i = 1; i <= 100; i++)
    if (bt_send(ch, &i) != BT_OK) return BT_ESTATE;
  return bt_chan_close(ch);
}

int main(void) {
  bt_options opt = BT_OPTIONS_DEFAULT;
  opt.workers = 2;
  bt_runtime *rt;
  bt_chan *ch;
  bt_future *f;
  if (bt_runtime_create(&opt, &rt) != BT_OK) return 1;
  if (bt_chan_create(&bt_type_i64, 4, &ch) != BT_OK) return 2;
  bt_job job = {.struct_size = sizeof(bt_job), .fn = produce, .ctx = ch};
  if (bt_schedule(rt, 0, &job, &f) != BT_OK) return 3;
  int64_t v, sum = 0;
  while (bt_recv(ch, &v) == BT_OK) sum += v;
  if (bt_future_wait(f, -1, NULL) != BT_OK) return 4;
  bt_future_release(f);
  bt_chan_release(ch);

  bt_array *a;
  int64_t shape[2] = {8, 8};
  bt_slice s;
  bt_view view;
  if (bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_LOCAL, &a) != BT_OK) return 5;
  if (bt_array_own(a, NULL, 0, &s) != BT_OK) return 6;
  if (bt_slice_view(s, &view) != BT_OK || view.shape[1] != 8) return 7;
  bt_slice_release(s);
  bt_array_release(a);
  bt_runtime_destroy(rt);
  printf("baton %s: sum %lld\n", bt_version(), (long long)sum);
  return sum == 5050 ? 0 : 8;
}
