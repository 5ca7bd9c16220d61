/* SPDX-License-Identifier: BSD-3-Clause */
/* test_type.c: transfer types (baton/type.h): the plain value types and
 * bt_type_value(), and values of any size through a channel. */
#include "test.h"

BT_TEST(plain_types) {
  BT_CHECK_STR(bt_type_f64.name, "f64");
  BT_CHECK_EQ(bt_type_f64.size, sizeof(double));
  BT_CHECK_STR(bt_type_i64.name, "i64");
  BT_CHECK_EQ(bt_type_i64.size, sizeof(int64_t));
  BT_CHECK_STR(bt_type_i32.name, "i32");
  BT_CHECK_EQ(bt_type_i32.size, sizeof(int32_t));
  BT_CHECK_STR(bt_type_ptr.name, "ptr");
  BT_CHECK_EQ(bt_type_ptr.size, sizeof(void *));
  const bt_type *plain[] = {&bt_type_f64, &bt_type_i64, &bt_type_i32,
                            &bt_type_ptr};
  for (int i = 0; i < 4; i++) {
    /* Copied by value: no hooks, bytes on the wire. */
    BT_CHECK(plain[i]->on_send == NULL);
    BT_CHECK(plain[i]->on_recv == NULL);
    BT_CHECK(plain[i]->on_drop == NULL);
    BT_CHECK(plain[i]->wire == NULL);
    BT_CHECK(plain[i]->numa_of == NULL);
  }
}

BT_TEST(type_value_arguments) {
  bt_type t = {.struct_size = sizeof(bt_type), .name = "untouched"};
  BT_CHECK_STATUS(bt_type_value(NULL, 8, &t), BT_EINVAL);
  BT_CHECK_STATUS(bt_type_value("x", 8, NULL), BT_EINVAL);
  BT_CHECK_STATUS(bt_type_value("x", 0, &t), BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "size 0") != NULL);
  BT_CHECK_STATUS(bt_type_value("x", 65537, &t), BT_EINVAL);
  BT_CHECK_STR(t.name, "untouched"); /* outputs only on success */
  BT_CHECK_OK(bt_type_value("one", 1, &t));
  BT_CHECK_EQ(t.size, 1);
  BT_CHECK_OK(bt_type_value("big", 65536, &t));
  BT_CHECK_STR(t.name, "big");
  BT_CHECK_EQ(t.size, 65536);
  BT_CHECK(t.on_send == NULL && t.on_recv == NULL && t.on_drop == NULL);
}

typedef struct particle {
  double pos[3], vel[3];
  int32_t id;
  char tag[13];
} particle;

BT_TEST(values_of_any_size_through_a_channel) {
  bt_type pt;
  BT_CHECK_OK(bt_type_value("particle", sizeof(particle), &pt));
  size_t caps[] = {1, 3, 8};
  for (int k = 0; k < 3; k++) {
    bt_chan *ch = NULL;
    BT_CHECK_OK(bt_chan_create(&pt, caps[k], &ch));
    BT_CHECK_PTR_EQ(bt_chan_type(ch), &pt);
    for (int round = 0; round < 5; round++) {
      for (size_t i = 0; i < caps[k]; i++) {
        particle p;
        memset(&p, 0, sizeof p);
        p.id = (int32_t)(round * 100 + (int)i);
        for (int d = 0; d < 3; d++) p.pos[d] = p.id + d * 0.5;
        snprintf(p.tag, sizeof p.tag, "p%d", p.id);
        BT_CHECK_OK(bt_send(ch, &p));
      }
      for (size_t i = 0; i < caps[k]; i++) {
        particle q;
        BT_CHECK_OK(bt_recv(ch, &q));
        BT_CHECK_EQ(q.id, round * 100 + (int)i);
        BT_CHECK_NEAR(q.pos[2], q.id + 1.0, 0);
        char want[13];
        snprintf(want, sizeof want, "p%d", q.id);
        BT_CHECK_STR(q.tag, want);
      }
    }
    BT_CHECK_OK(bt_chan_release(ch));
  }
  /* One byte and the largest value. */
  bt_type byte, big;
  BT_CHECK_OK(bt_type_value("byte", 1, &byte));
  BT_CHECK_OK(bt_type_value("big", 65536, &big));
  bt_chan *cb = NULL, *cg = NULL;
  BT_CHECK_OK(bt_chan_create(&byte, 2, &cb));
  BT_CHECK_OK(bt_chan_create(&big, 2, &cg));
  unsigned char b = 0xA5, rb = 0;
  BT_CHECK_OK(bt_send(cb, &b));
  BT_CHECK_OK(bt_recv(cb, &rb));
  BT_CHECK_EQ(rb, 0xA5);
  unsigned char *in = malloc(65536), *out = malloc(65536);
  BT_CHECK(in && out);
  for (int i = 0; i < 65536; i++) in[i] = (unsigned char)(i * 7);
  BT_CHECK_OK(bt_send(cg, in));
  BT_CHECK_OK(bt_recv(cg, out));
  BT_CHECK(memcmp(in, out, 65536) == 0);
  free(in);
  free(out);
  BT_CHECK_OK(bt_chan_release(cb));
  BT_CHECK_OK(bt_chan_release(cg));
}

BT_TEST(f64_values_are_copied_exactly) {
  bt_chan *ch = NULL;
  BT_CHECK_OK(bt_chan_create(&bt_type_f64, 4, &ch));
  double vals[] = {0.1, -0.0, 1e308, 5e-324};
  for (int i = 0; i < 4; i++) BT_CHECK_OK(bt_send(ch, &vals[i]));
  for (int i = 0; i < 4; i++) {
    double v;
    BT_CHECK_OK(bt_recv(ch, &v));
    BT_CHECK(memcmp(&v, &vals[i], sizeof v) == 0);
  }
  BT_CHECK_OK(bt_chan_release(ch));
}
