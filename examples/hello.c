/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hello: the README's tour of baton in one program. Two workers each get
 * half of an array as an owned slice (moved, zero-copy, to a job), fill it
 * and release it; the main thread joins by owning the whole array back.
 *
 *   build/examples/hello        prints a[999] = 1998
 */
#include <baton.h>
#include <stdio.h>

static int scale(void *arg, void *result, void *ctx) {  /* runs on a worker */
  bt_slice part = *(bt_slice *)arg;   /* the job adopted the moved slice */
  bt_view v;
  int rc = bt_slice_view(part, &v);
  for (int64_t i = 0; rc == BT_OK && i < v.shape[0]; i++)
    ((double *)v.data)[i * v.strides[0]] = 2.0 * (double)(v.origin[0] + i);
  return rc == BT_OK ? bt_slice_release(part) : rc;   /* region unlocks */
}

int main(void) {
  bt_runtime *rt;  bt_array *a;  bt_slice whole, parts[2];  bt_future *f[2];
  int64_t n = 1000;
  if (bt_runtime_create(NULL, &rt) != BT_OK) return 1;
  if (bt_array_create(rt, BT_F64, 1, &n, BT_PLACE_BLOCKS, &a) != BT_OK) return 1;
  if (bt_array_own(a, NULL, 0, &whole) != BT_OK) return 1;
  if (bt_slice_split(whole, 0, 2, parts) != BT_OK) return 1;
  for (int w = 0; w < 2; w++) {                        /* move each half */
    bt_job job = BT_JOB_INIT;
    job.fn = scale;
    job.arg_type = &bt_type_slice;
    job.arg = &parts[w];
    if (bt_schedule(rt, BT_ANY_WORKER, &job, &f[w]) != BT_OK) return 1;
  }
  for (int w = 0; w < 2; w++) {                        /* job results */
    if (bt_future_wait(f[w], -1, NULL) != BT_OK) return 1;
    bt_future_release(f[w]);
  }
  if (bt_array_own(a, NULL, -1, &whole) != BT_OK) return 1;  /* joined */
  bt_view v;
  if (bt_slice_view(whole, &v) != BT_OK) return 1;
  printf("a[999] = %g\n", ((double *)v.data)[999]);
  bt_slice_release(whole);  bt_array_release(a);  bt_runtime_destroy(rt);
  return 0;
}
