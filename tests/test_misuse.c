/* SPDX-License-Identifier: BSD-3-Clause */
/* test_misuse.c: every public entry point given bad input, as tables of
 * entry point x bad argument (NULL, forged, released, released twice, out
 * of range) -> the documented answer, and bt_errmsg() naming the value.
 *
 * The checks live in every build type: CI runs this file in its
 * RelWithDebInfo build (-DNDEBUG), where assert()-style checks would be
 * gone. A released handle is made inside its row, right before the call,
 * so that no object of the same kind can reuse its memory in between (the
 * one case the contract leaves undefined). Under AddressSanitizer and
 * ThreadSanitizer the rows that read freed memory are skipped: both rightly
 * report them. */
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "core_int.h"    /* bt__fail, to clear the message between rows */
#include "runtime_int.h" /* bt__cpuset_parse, for the fuzzers' finds */
#include "misuse.h"
#include "test.h"

/* ---- the table machinery (tests/common/misuse.h) ------------------------ */

/* What a row's call may use, and what bt_errmsg() must name. */
struct fixture {
  bt_runtime *rt; /* live, synthetic topology, 2 workers, never binds */
  char expect[MISUSE_EXPECT_LEN];
};

static void run_table(const misuse *rows, size_t n) {
  fixture f = {0};
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = 2;
  o.topology = "pack:1 core:2 pu:1";
  BT_CHECK_OK(bt_runtime_create(&o, &f.rt));
  misuse_run(rows, n, &f, f.expect);
  BT_CHECK_OK(bt_runtime_destroy(f.rt));
}

/* A forged handle: memory that never held a baton object. */
static _Alignas(64) unsigned char forged_mem[4096];
#define FORGED(type) ((type *)(void *)forged_mem)

static void forge(void) {
  for (size_t i = 0; i < sizeof forged_mem; i++)
    forged_mem[i] = (unsigned char)(0x5a ^ i);
}

/* ---- released handles, made right before the call ---------------------- */

static bt_chan *dead_chan(void) {
  bt_chan *c;
  BT_CHECK_OK(bt_chan_create(&bt_type_i64, 4, &c));
  BT_CHECK_OK(bt_chan_release(c));
  return c;
}

static bt_box *dead_box(void) {
  bt_box *b;
  BT_CHECK_OK(bt_box_create(16, 1, &b));
  BT_CHECK_OK(bt_box_release(b));
  return b;
}

static bt_locked *dead_locked(void) {
  bt_locked *l;
  BT_CHECK_OK(bt_locked_create(16, &l));
  BT_CHECK_OK(bt_locked_release(l));
  return l;
}

static bt_slot *dead_slot(void) {
  bt_slot *s;
  BT_CHECK_OK(bt_slot_create(&s));
  BT_CHECK_OK(bt_slot_destroy(s));
  return s;
}

static bt_array *dead_array(void) {
  bt_array *a;
  int64_t shape[2] = {4, 4};
  BT_CHECK_OK(bt_array_create(NULL, BT_F64, 2, shape, BT_PLACE_LOCAL, &a));
  BT_CHECK_OK(bt_array_release(a));
  return a;
}

static int job_ok(void *arg, void *result, void *ctx) {
  (void)arg, (void)result, (void)ctx;
  return BT_OK;
}

/* A future whose job ran on a runtime destroyed since (so the worker let
 * go of it), released by its holder: freed by that release. */
static bt_future *dead_future(void) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = 1;
  o.topology = "pack:1 core:1 pu:1";
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  bt_job job = {.struct_size = sizeof(bt_job), .fn = job_ok};
  bt_future *fu;
  BT_CHECK_OK(bt_schedule(rt, 0, &job, &fu));
  BT_CHECK_OK(bt_future_wait(fu, -1, NULL));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  BT_CHECK_OK(bt_future_release(fu));
  return fu;
}

/* ---- runtime and jobs ---------------------------------------------------- */

ROW_FN(runtime_destroy_twice, bt_runtime *rt = misuse_dead_runtime();
       expect_ptr(f, rt); return bt_runtime_destroy(rt);)
ROW_FN(runtime_destroy_forged, expect_ptr(f, forged_mem);
       return bt_runtime_destroy(FORGED(bt_runtime));)
ROW_FN(runtime_workers_dead, return bt_runtime_workers(misuse_dead_runtime());)
ROW_FN(runtime_workers_null, return bt_runtime_workers(NULL);)
ROW_FN(runtime_numa_nodes_forged,
       return bt_runtime_numa_nodes(FORGED(bt_runtime));)
ROW_FN(worker_numa_dead, return bt_worker_numa(misuse_dead_runtime(), 0);)
ROW_FN(worker_cpu_null, return bt_worker_cpu(NULL, 0);)
ROW_FN(worker_cpu_out_of_range, return bt_worker_cpu(f->rt, 2);)
ROW_FN(worker_describe_dead, char buf[64];
       bt_runtime *rt = misuse_dead_runtime(); expect_ptr(f, rt);
       return bt_worker_describe(rt, 0, buf, sizeof buf);)
ROW_FN(worker_describe_out_of_range, char buf[64]; expect_str(f, "worker 7");
       return bt_worker_describe(f->rt, 7, buf, sizeof buf);)
ROW_FN(runtime_bound_forged, return bt_runtime_bound(FORGED(bt_runtime));)
ROW_FN(runtime_oversubscribed_dead,
       return bt_runtime_oversubscribed(misuse_dead_runtime());)
ROW_FN(runtime_create_workers_negative, bt_runtime *rt;
       bt_options o = BT_OPTIONS_DEFAULT; o.workers = -1; expect_str(f, "-1");
       return bt_runtime_create(&o, &rt);)
ROW_FN(runtime_create_workers_too_many, bt_runtime *rt;
       bt_options o = BT_OPTIONS_DEFAULT; o.workers = INT_MAX;
       expect_str(f, "2147483647"); return bt_runtime_create(&o, &rt);)
ROW_FN(runtime_create_bind_bad, bt_runtime *rt;
       bt_options o = BT_OPTIONS_DEFAULT; o.bind = (bt_bind)9;
       expect_str(f, "9"); return bt_runtime_create(&o, &rt);)
ROW_FN(runtime_create_bad_synthetic, bt_runtime *rt;
       bt_options o = BT_OPTIONS_DEFAULT; o.topology = "pack:2 [numa] core:x";
       expect_str(f, "core:x"); return bt_runtime_create(&o, &rt);)
ROW_FN(runtime_create_null_out, return bt_runtime_create(NULL, NULL);)
/* A file that exists but is no topology: hwloc cannot load it. */
ROW_FN(runtime_create_unloadable_xml, bt_runtime *rt;
       char path[] = "/tmp/baton_misuse_XXXXXX.xml"; int fd = mkstemps(path, 4);
       BT_CHECK(fd >= 0); BT_CHECK(write(fd, "<not a topology", 15) == 15);
       close(fd); bt_options o = BT_OPTIONS_DEFAULT; o.topology = path;
       expect_str(f, path); int rc = bt_runtime_create(&o, &rt); unlink(path);
       return rc;)
ROW_FN(schedule_null_runtime,
       bt_job job = {.struct_size = sizeof(bt_job), .fn = job_ok};
       bt_future * fu; expect_ptr(f, NULL);
       return bt_schedule(NULL, 0, &job, &fu);)
ROW_FN(schedule_dead_runtime,
       bt_job job = {.struct_size = sizeof(bt_job), .fn = job_ok};
       bt_future * fu; bt_runtime *rt = misuse_dead_runtime();
       expect_ptr(f, rt); return bt_schedule(rt, BT_ANY_WORKER, &job, &fu);)
ROW_FN(schedule_forged_runtime,
       bt_job job = {.struct_size = sizeof(bt_job), .fn = job_ok};
       bt_future * fu; expect_ptr(f, forged_mem);
       return bt_schedule(FORGED(bt_runtime), 0, &job, &fu);)
ROW_FN(schedule_worker_out_of_range,
       bt_job job = {.struct_size = sizeof(bt_job), .fn = job_ok};
       bt_future * fu; expect_str(f, "worker 99");
       return bt_schedule(f->rt, 99, &job, &fu);)
ROW_FN(schedule_bad_mode, bt_job job = {.struct_size = sizeof(bt_job),
                                        .fn = job_ok,
                                        .mode = (bt_transfer)7};
       bt_future * fu; expect_str(f, "7");
       return bt_schedule(f->rt, 0, &job, &fu);)
ROW_FN(schedule_huge_result_type, bt_type t = {.struct_size = sizeof(bt_type),
                                               .name = "huge",
                                               .size = SIZE_MAX};
       bt_job job = {.struct_size = sizeof(bt_job),
                     .fn = job_ok,
                     .result_type = &t};
       bt_future * fu; expect_str(f, "18446744073709551615");
       return bt_schedule(f->rt, 0, &job, &fu);)
ROW_FN(schedule_null_fn, bt_job job = BT_JOB_INIT; bt_future * fu;
       return bt_schedule(f->rt, 0, &job, &fu);)
ROW_FN(future_wait_null, expect_ptr(f, NULL);
       return bt_future_wait(NULL, 0, NULL);)
ROW_FN(future_wait_released, bt_future *fu = dead_future(); expect_ptr(f, fu);
       return bt_future_wait(fu, -1, NULL);)
ROW_FN(future_release_twice, bt_future *fu = dead_future(); expect_ptr(f, fu);
       return bt_future_release(fu);)
ROW_FN(future_done_released, return bt_future_done(dead_future());)
ROW_FN(future_wait_forged, expect_ptr(f, forged_mem);
       return bt_future_wait(FORGED(bt_future), 0, NULL);)
/* Released while its job still waits to run: the worker keeps the struct,
 * and a second release must not drop the worker's reference. */
ROW_FN(future_release_twice_before_run,
       bt_job job = {.struct_size = sizeof(bt_job), .fn = job_ok};
       bt_future * fu; BT_CHECK_OK(bt_schedule(f->rt, 0, &job, &fu));
       BT_CHECK_OK(bt_future_release(fu)); expect_ptr(f, fu);
       return bt_future_release(fu);)

static const misuse runtime_rows[] = {
    ROW(runtime_destroy_twice, BT_EINVAL, 1),
    ROW(runtime_destroy_forged, BT_EINVAL, 0),
    ROW(runtime_workers_dead, 0, 1),
    ROW(runtime_workers_null, 0, 0),
    ROW(runtime_numa_nodes_forged, 0, 0),
    ROW(worker_numa_dead, -1, 1),
    ROW(worker_cpu_null, -1, 0),
    ROW(worker_cpu_out_of_range, -1, 0),
    ROW(worker_describe_dead, BT_EINVAL, 1),
    ROW(worker_describe_out_of_range, BT_EINVAL, 0),
    ROW(runtime_bound_forged, 0, 0),
    ROW(runtime_oversubscribed_dead, 0, 1),
    ROW(runtime_create_workers_negative, BT_EINVAL, 0),
    ROW(runtime_create_workers_too_many, BT_EINVAL, 0),
    ROW(runtime_create_bind_bad, BT_EINVAL, 0),
    ROW(runtime_create_bad_synthetic, BT_EINVAL, 0),
    ROW(runtime_create_null_out, BT_EINVAL, 0),
    ROW(runtime_create_unloadable_xml, BT_ETOPO, 0),
    ROW(schedule_null_runtime, BT_EINVAL, 0),
    ROW(schedule_dead_runtime, BT_EINVAL, 1),
    ROW(schedule_forged_runtime, BT_EINVAL, 0),
    ROW(schedule_worker_out_of_range, BT_EINVAL, 0),
    ROW(schedule_bad_mode, BT_EINVAL, 0),
    ROW(schedule_huge_result_type, BT_EINVAL, 0),
    ROW(schedule_null_fn, BT_EINVAL, 0),
    ROW(future_wait_null, BT_EINVAL, 0),
    ROW(future_wait_released, BT_EINVAL, 1),
    ROW(future_release_twice, BT_EINVAL, 1),
    ROW(future_done_released, 0, 1),
    ROW(future_wait_forged, BT_EINVAL, 0),
    ROW(future_release_twice_before_run, BT_EINVAL, 1), /* may have run */
};

BT_TEST(runtime_and_jobs) {
  forge();
  run_table(runtime_rows, sizeof runtime_rows / sizeof runtime_rows[0]);
}

/* ---- struct_size of the structs a caller fills ------------------------- */

/* The end of a field: a struct_size an older header could have written. */
#define END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

static void expect_size(fixture *f, size_t size) {
  snprintf(f->expect, sizeof f->expect, "struct_size %zu", size);
}

static bt_options options_sized(size_t size) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = 1;
  o.topology = "pack:1 core:1 pu:1";
  o.struct_size = size;
  return o;
}

ROW_FN(options_size_zero, bt_runtime *rt; bt_options o = options_sized(0);
       expect_str(f, "bt_options.struct_size is 0");
       return bt_runtime_create(&o, &rt);)
ROW_FN(options_size_newer, bt_runtime *rt;
       bt_options o = options_sized(sizeof(bt_options) + 8);
       expect_size(f, sizeof(bt_options) + 8);
       return bt_runtime_create(&o, &rt);)
ROW_FN(options_size_max, bt_runtime *rt; bt_options o = options_sized(SIZE_MAX);
       expect_size(f, SIZE_MAX); return bt_runtime_create(&o, &rt);)
ROW_FN(options_size_not_a_field_end, bt_runtime *rt;
       bt_options o = options_sized(sizeof(size_t) + 1);
       expect_size(f, sizeof(size_t) + 1); return bt_runtime_create(&o, &rt);)
/* A positional initialiser from before struct_size: workers lands there. */
ROW_FN(options_positional_from_before, bt_runtime *rt;
       bt_options o = options_sized(2); expect_size(f, 2);
       return bt_runtime_create(&o, &rt);)
/* An older header's bt_options, without topology: whatever lies past its
 * size is not read, topology takes its default (this machine), and the
 * fields it has are honoured. */
ROW_FN(options_older_layout_defaulted, bt_runtime *rt;
       bt_options o = options_sized(END(bt_options, bind));
       o.bind = BT_BIND_NONE; o.topology = "not a topology: past struct_size";
       BT_CHECK_OK(bt_runtime_create(&o, &rt));
       BT_CHECK_EQ(bt_runtime_workers(rt), 1);
       BT_CHECK_EQ(bt_runtime_bound(rt), 0); /* BT_BIND_NONE was read */
       return bt_runtime_destroy(rt);)

static bt_job job_sized(size_t size) {
  bt_job job = BT_JOB_INIT;
  job.fn = job_ok;
  job.struct_size = size;
  return job;
}

ROW_FN(job_size_zero, bt_job job = job_sized(0); bt_future * fu;
       expect_str(f, "bt_job.struct_size is 0");
       return bt_schedule(f->rt, 0, &job, &fu);)
ROW_FN(job_size_newer, bt_job job = job_sized(sizeof(bt_job) + 16);
       bt_future * fu; expect_size(f, sizeof(bt_job) + 16);
       return bt_schedule(f->rt, 0, &job, &fu);)
ROW_FN(job_size_not_a_field_end, bt_job job = job_sized(sizeof(bt_job) - 1);
       bt_future * fu; expect_size(f, sizeof(bt_job) - 1);
       return bt_schedule(f->rt, 0, &job, &fu);)
/* A size that ends before fn, the one field without a default. */
ROW_FN(job_size_without_fn, bt_job job = job_sized(END(bt_job, struct_size));
       bt_future * fu; expect_size(f, END(bt_job, struct_size));
       return bt_schedule(f->rt, 0, &job, &fu);)
/* An older header's bt_job, without result_type: the forged pointer past
 * its size is never read, so the job has no result. */
ROW_FN(job_older_layout_defaulted, bt_job job = job_sized(END(bt_job, mode));
       job.result_type = FORGED(bt_type); bt_future * fu; int64_t out = 7;
       BT_CHECK_OK(bt_schedule(f->rt, 0, &job, &fu));
       BT_CHECK_OK(bt_future_wait(fu, -1, &out));
       BT_CHECK_EQ(out, 7); /* no result type: nothing written */
       return bt_future_release(fu);)

static atomic_int numa_of_calls;
static int counting_numa_of(const void *elem) {
  (void)elem;
  atomic_fetch_add(&numa_of_calls, 1);
  return 0;
}

static bt_type type_sized(size_t size) {
  bt_type t = BT_TYPE_INIT;
  t.name = "sized";
  t.size = sizeof(int64_t);
  t.numa_of = counting_numa_of;
  t.struct_size = size;
  return t;
}

ROW_FN(type_size_zero, bt_type t = type_sized(0); bt_chan * c;
       expect_str(f, "bt_type.struct_size is 0");
       return bt_chan_create(&t, 1, &c);)
ROW_FN(type_size_newer, bt_type t = type_sized(sizeof(bt_type) + 8);
       bt_chan * c; expect_size(f, sizeof(bt_type) + 8);
       return bt_chan_create(&t, 1, &c);)
ROW_FN(type_size_not_a_field_end, bt_type t = type_sized(sizeof(size_t) + 3);
       bt_chan * c; expect_size(f, sizeof(size_t) + 3);
       return bt_chan_create(&t, 1, &c);)
ROW_FN(type_size_in_job_argument, bt_type t = type_sized(0); int64_t x = 1;
       bt_job job = job_sized(sizeof(bt_job)); job.arg_type = &t; job.arg = &x;
       bt_future * fu; expect_str(f, "bt_type.struct_size is 0");
       return bt_schedule(f->rt, 0, &job, &fu);)
/* DESIGN.md's bt_type, without numa_of: channels take it, and a job with
 * such an argument never calls the numa_of that lies past its size. */
ROW_FN(type_older_layout_defaulted, bt_type t = type_sized(END(bt_type, wire));
       int64_t x = 5; bt_chan * c; atomic_store(&numa_of_calls, 0);
       BT_CHECK_OK(bt_chan_create(&t, 1, &c)); BT_CHECK_OK(bt_send(c, &x));
       BT_CHECK_OK(bt_chan_release(c)); bt_job job = job_sized(sizeof(bt_job));
       job.arg_type = &t; job.arg = &x; bt_future * fu;
       BT_CHECK_OK(bt_schedule(f->rt, BT_ANY_WORKER, &job, &fu));
       BT_CHECK_OK(bt_future_wait(fu, -1, NULL));
       BT_CHECK_OK(bt_future_release(fu));
       BT_CHECK_EQ(atomic_load(&numa_of_calls), 0);
       t.struct_size = sizeof(bt_type); /* the control: now it has numa_of */
       BT_CHECK_OK(bt_schedule(f->rt, BT_ANY_WORKER, &job, &fu));
       BT_CHECK_OK(bt_future_wait(fu, -1, NULL));
       BT_CHECK_EQ(atomic_load(&numa_of_calls), 1);
       return bt_future_release(fu);)
/* What bt_type_value writes is a current layout. */
ROW_FN(type_value_sets_struct_size, bt_type t = type_sized(0);
       BT_CHECK_OK(bt_type_value("v", 8, &t));
       BT_CHECK_EQ(t.struct_size, sizeof(bt_type)); bt_chan * c;
       BT_CHECK_OK(bt_chan_create(&t, 1, &c)); return bt_chan_release(c);)

static const misuse struct_size_rows[] = {
    ROW(options_size_zero, BT_EINVAL, 0),
    ROW(options_size_newer, BT_EINVAL, 0),
    ROW(options_size_max, BT_EINVAL, 0),
    ROW(options_size_not_a_field_end, BT_EINVAL, 0),
    ROW(options_positional_from_before, BT_EINVAL, 0),
    ROW(options_older_layout_defaulted, BT_OK, 0),
    ROW(job_size_zero, BT_EINVAL, 0),
    ROW(job_size_newer, BT_EINVAL, 0),
    ROW(job_size_not_a_field_end, BT_EINVAL, 0),
    ROW(job_size_without_fn, BT_EINVAL, 0),
    ROW(job_older_layout_defaulted, BT_OK, 0),
    ROW(type_size_zero, BT_EINVAL, 0),
    ROW(type_size_newer, BT_EINVAL, 0),
    ROW(type_size_not_a_field_end, BT_EINVAL, 0),
    ROW(type_size_in_job_argument, BT_EINVAL, 0),
    ROW(type_older_layout_defaulted, BT_OK, 0),
    ROW(type_value_sets_struct_size, BT_OK, 0),
};

BT_TEST(struct_sizes) {
  forge();
  run_table(struct_size_rows,
            sizeof struct_size_rows / sizeof struct_size_rows[0]);
}

/* ---- channels and types -------------------------------------------------- */

static bt_type hand_type(size_t size) {
  return (bt_type){
      .struct_size = sizeof(bt_type), .name = "hand-built", .size = size};
}

ROW_FN(chan_create_size_max_minus_7, bt_type t = hand_type(SIZE_MAX - 7);
       bt_chan * c; expect_str(f, "18446744073709551608");
       return bt_chan_create(&t, 4, &c);)
ROW_FN(chan_create_size_max, bt_type t = hand_type(SIZE_MAX); bt_chan * c;
       expect_str(f, "18446744073709551615"); return bt_chan_create(&t, 0, &c);)
ROW_FN(chan_create_size_zero, bt_type t = hand_type(0); bt_chan * c;
       expect_str(f, "size 0"); return bt_chan_create(&t, 1, &c);)
ROW_FN(chan_create_capacity_huge, bt_chan *c; expect_str(f, "capacity");
       return bt_chan_create(&bt_type_f64, SIZE_MAX / 2, &c);)
ROW_FN(chan_create_null_type, bt_chan *c; return bt_chan_create(NULL, 1, &c);)
ROW_FN(chan_retain_null, bt_chan_retain(NULL); return BT_OK;)
ROW_FN(chan_retain_released, bt_chan_retain(dead_chan()); return BT_OK;)
ROW_FN(chan_retain_forged, bt_chan_retain(FORGED(bt_chan)); return BT_OK;)
ROW_FN(chan_release_twice, bt_chan *c = dead_chan(); expect_ptr(f, c);
       return bt_chan_release(c);)
ROW_FN(chan_release_forged, expect_ptr(f, forged_mem);
       return bt_chan_release(FORGED(bt_chan));)
ROW_FN(send_released, int64_t v = 1; bt_chan *c = dead_chan(); expect_ptr(f, c);
       return bt_send(c, &v);)
ROW_FN(recv_released, int64_t v; bt_chan *c = dead_chan(); expect_ptr(f, c);
       return bt_recv(c, &v);)
ROW_FN(try_send_null, int64_t v = 1; expect_ptr(f, NULL);
       return bt_try_send(NULL, &v);)
ROW_FN(try_recv_forged, int64_t v; expect_ptr(f, forged_mem);
       return bt_try_recv(FORGED(bt_chan), &v);)
ROW_FN(send_timeout_released, int64_t v = 1; bt_chan *c = dead_chan();
       expect_ptr(f, c); return bt_send_timeout(c, &v, 1000);)
ROW_FN(recv_timeout_released, int64_t v; bt_chan *c = dead_chan();
       expect_ptr(f, c); return bt_recv_timeout(c, &v, -1);)
ROW_FN(send_null_elem, bt_chan *c;
       BT_CHECK_OK(bt_chan_create(&bt_type_i64, 1, &c)); expect_str(f, "NULL");
       int rc = bt_send(c, NULL); BT_CHECK_OK(bt_chan_release(c)); return rc;)
ROW_FN(close_released, bt_chan *c = dead_chan(); expect_ptr(f, c);
       return bt_chan_close(c);)
ROW_FN(close_null, expect_ptr(f, NULL); return bt_chan_close(NULL);)
ROW_FN(len_released, return (int)bt_chan_len(dead_chan());)
ROW_FN(cap_forged, return (int)bt_chan_cap(FORGED(bt_chan));)
ROW_FN(type_released, return bt_chan_type(dead_chan()) != NULL;)
ROW_FN(select_negative_n, int chosen; expect_str(f, "-1");
       return bt_select(NULL, -1, 0, &chosen);)
ROW_FN(select_released_case, int64_t v; int chosen; bt_chan *c = dead_chan();
       bt_case cs[1] = {{c, BT_OP_RECV, &v}}; expect_ptr(f, c);
       return bt_select(cs, 1, 0, &chosen);)
ROW_FN(select_bad_op, int64_t v; int chosen; bt_chan * c;
       BT_CHECK_OK(bt_chan_create(&bt_type_i64, 1, &c));
       bt_case cs[1] = {{c, 5, &v}}; expect_str(f, "op 5");
       int rc = bt_select(cs, 1, 0, &chosen); BT_CHECK_OK(bt_chan_release(c));
       return rc;)
ROW_FN(select_nothing_forever, int chosen;
       return bt_select(NULL, 0, -1, &chosen);)
ROW_FN(type_value_size_zero, bt_type t; expect_str(f, "size 0");
       return bt_type_value("z", 0, &t);)
ROW_FN(type_value_size_max, bt_type t; expect_str(f, "18446744073709551615");
       return bt_type_value("m", SIZE_MAX, &t);)
ROW_FN(type_value_null_name, bt_type t; return bt_type_value(NULL, 8, &t);)

static const misuse chan_rows[] = {
    ROW(chan_create_size_max_minus_7, BT_EINVAL, 0),
    ROW(chan_create_size_max, BT_EINVAL, 0),
    ROW(chan_create_size_zero, BT_EINVAL, 0),
    ROW(chan_create_capacity_huge, BT_EINVAL, 0),
    ROW(chan_create_null_type, BT_EINVAL, 0),
    ROW(chan_retain_null, BT_OK, 0),
    ROW(chan_retain_released, BT_OK, 1),
    ROW(chan_retain_forged, BT_OK, 0),
    ROW(chan_release_twice, BT_EINVAL, 1),
    ROW(chan_release_forged, BT_EINVAL, 0),
    ROW(send_released, BT_EINVAL, 1),
    ROW(recv_released, BT_EINVAL, 1),
    ROW(try_send_null, BT_EINVAL, 0),
    ROW(try_recv_forged, BT_EINVAL, 0),
    ROW(send_timeout_released, BT_EINVAL, 1),
    ROW(recv_timeout_released, BT_EINVAL, 1),
    ROW(send_null_elem, BT_EINVAL, 0),
    ROW(close_released, BT_EINVAL, 1),
    ROW(close_null, BT_EINVAL, 0),
    ROW(len_released, 0, 1),
    ROW(cap_forged, 0, 0),
    ROW(type_released, 0, 1),
    ROW(select_negative_n, BT_EINVAL, 0),
    ROW(select_released_case, BT_EINVAL, 1),
    ROW(select_bad_op, BT_EINVAL, 0),
    ROW(select_nothing_forever, BT_EINVAL, 0),
    ROW(type_value_size_zero, BT_EINVAL, 0),
    ROW(type_value_size_max, BT_EINVAL, 0),
    ROW(type_value_null_name, BT_EINVAL, 0),
};

BT_TEST(chan_and_types) {
  forge();
  run_table(chan_rows, sizeof chan_rows / sizeof chan_rows[0]);
}

/* ---- boxes, slots, locked data ------------------------------------------ */

ROW_FN(box_create_huge, bt_box *b; expect_str(f, "too large");
       return bt_box_create(SIZE_MAX, 0, &b);)
ROW_FN(box_create_null_out, return bt_box_create(8, 0, NULL);)
ROW_FN(box_release_twice, bt_box *b = dead_box(); expect_ptr(f, b);
       return bt_box_release(b);)
ROW_FN(box_release_forged, expect_ptr(f, forged_mem);
       return bt_box_release(FORGED(bt_box));)
ROW_FN(box_retain_released, bt_box_retain(dead_box()); return BT_OK;)
ROW_FN(box_retain_null, bt_box_retain(NULL); return BT_OK;)
ROW_FN(box_data_released, return bt_box_data(dead_box()) != NULL;)
ROW_FN(box_cdata_forged, return bt_box_cdata(FORGED(bt_box)) != NULL;)
ROW_FN(box_size_released, return (int)bt_box_size(dead_box());)
ROW_FN(box_nchildren_forged, return (int)bt_box_nchildren(FORGED(bt_box));)
ROW_FN(box_child_released, return bt_box_child(dead_box(), 0) != NULL;)
ROW_FN(box_is_frozen_released, return bt_box_is_frozen(dead_box());)
ROW_FN(box_freeze_released, bt_box *b = dead_box(); expect_ptr(f, b);
       return bt_box_freeze(b);)
ROW_FN(box_link_released_parent, bt_box *c;
       BT_CHECK_OK(bt_box_create(8, 0, &c)); bt_box *p = dead_box();
       expect_ptr(f, p); int rc = bt_box_link(p, 0, c);
       BT_CHECK_OK(bt_box_release(c)); return rc;)
ROW_FN(box_link_slot_out_of_range, bt_box *p, *c;
       BT_CHECK_OK(bt_box_create(8, 1, &p));
       BT_CHECK_OK(bt_box_create(8, 0, &c)); expect_str(f, "slot 5");
       int rc = bt_box_link(p, 5, c); BT_CHECK_OK(bt_box_release(c));
       BT_CHECK_OK(bt_box_release(p)); return rc;)
/* The parent holds the child's only reference: the caller has none. */
ROW_FN(box_release_linked_child, bt_box *p, *c;
       BT_CHECK_OK(bt_box_create(8, 1, &p));
       BT_CHECK_OK(bt_box_create(8, 0, &c)); BT_CHECK_OK(bt_box_link(p, 0, c));
       expect_ptr(f, c); int rc = bt_box_release(c);
       BT_CHECK_OK(bt_box_release(p)); return rc;)
ROW_FN(box_detach_bad_mode, bt_box *b; void *t;
       BT_CHECK_OK(bt_box_create(8, 0, &b)); expect_str(f, "mode 7");
       int rc = bt_box_detach(b, (bt_transfer)7, &t);
       BT_CHECK_OK(bt_box_release(b)); return rc;)
ROW_FN(box_detach_released, void *t; bt_box *b = dead_box(); expect_ptr(f, b);
       return bt_box_detach(b, BT_CHECKED, &t);)
ROW_FN(box_attach_forged_ticket, bt_box *b; expect_str(f, "0x10");
       return bt_box_attach((void *)(uintptr_t)0x10, &b);)
ROW_FN(box_attach_twice, bt_box *b, *got; void *t;
       BT_CHECK_OK(bt_box_create(8, 0, &b));
       BT_CHECK_OK(bt_box_detach(b, BT_CHECKED, &t));
       BT_CHECK_OK(bt_box_attach(t, &got)); BT_CHECK_PTR_EQ(got, b);
       int rc = bt_box_attach(t, &got); BT_CHECK_OK(bt_box_release(b));
       return rc;)
ROW_FN(slot_destroy_twice, bt_slot *s = dead_slot(); expect_ptr(f, s);
       return bt_slot_destroy(s);)
ROW_FN(slot_load_released, bt_slot *s = dead_slot(); expect_ptr(f, s);
       return bt_slot_load(s, NULL, NULL);)
ROW_FN(slot_swap_forged, expect_ptr(f, forged_mem);
       return bt_slot_swap(FORGED(bt_slot), NULL, NULL, NULL);)
ROW_FN(slot_cas_null, expect_ptr(f, NULL);
       return bt_slot_cas(NULL, 0, NULL, NULL, NULL);)
ROW_FN(slot_swap_released_box, bt_slot *s; BT_CHECK_OK(bt_slot_create(&s));
       bt_box *b = dead_box(); expect_ptr(f, b);
       int rc = bt_slot_swap(s, b, NULL, NULL); BT_CHECK_OK(bt_slot_destroy(s));
       return rc;)
ROW_FN(locked_create_huge, bt_locked *l; expect_str(f, "too large");
       return bt_locked_create(SIZE_MAX, &l);)
ROW_FN(locked_release_twice, bt_locked *l = dead_locked(); expect_ptr(f, l);
       return bt_locked_release(l);)
ROW_FN(locked_retain_released, bt_locked_retain(dead_locked()); return BT_OK;)
ROW_FN(locked_write_released, void *d; bt_locked *l = dead_locked();
       expect_ptr(f, l); return bt_locked_write(l, 0, &d);)
ROW_FN(locked_read_forged, const void *d; expect_ptr(f, forged_mem);
       return bt_locked_read(FORGED(bt_locked), 0, &d);)
ROW_FN(locked_unlock_null, expect_ptr(f, NULL); return bt_locked_unlock(NULL);)

static const misuse box_rows[] = {
    ROW(box_create_huge, BT_EINVAL, 0),
    ROW(box_create_null_out, BT_EINVAL, 0),
    ROW(box_release_twice, BT_EINVAL, 1),
    ROW(box_release_forged, BT_EINVAL, 0),
    ROW(box_retain_released, BT_OK, 1),
    ROW(box_retain_null, BT_OK, 0),
    ROW(box_data_released, 0, 1),
    ROW(box_cdata_forged, 0, 0),
    ROW(box_size_released, 0, 1),
    ROW(box_nchildren_forged, 0, 0),
    ROW(box_child_released, 0, 1),
    ROW(box_is_frozen_released, 0, 1),
    ROW(box_freeze_released, BT_EINVAL, 1),
    ROW(box_link_released_parent, BT_EINVAL, 1),
    ROW(box_link_slot_out_of_range, BT_EINVAL, 0),
    ROW(box_release_linked_child, BT_ESTATE, 0),
    ROW(box_detach_bad_mode, BT_EINVAL, 0),
    ROW(box_detach_released, BT_EINVAL, 1),
    ROW(box_attach_forged_ticket, BT_EINVAL, 0),
    ROW(box_attach_twice, BT_EMOVED, 0),
    ROW(slot_destroy_twice, BT_EINVAL, 1),
    ROW(slot_load_released, BT_EINVAL, 1),
    ROW(slot_swap_forged, BT_EINVAL, 0),
    ROW(slot_cas_null, BT_EINVAL, 0),
    ROW(slot_swap_released_box, BT_EINVAL, 1),
    ROW(locked_create_huge, BT_EINVAL, 0),
    ROW(locked_release_twice, BT_EINVAL, 1),
    ROW(locked_retain_released, BT_OK, 1),
    ROW(locked_write_released, BT_EINVAL, 1),
    ROW(locked_read_forged, BT_EINVAL, 0),
    ROW(locked_unlock_null, BT_EINVAL, 0),
};

BT_TEST(boxes_slots_locked) {
  forge();
  run_table(box_rows, sizeof box_rows / sizeof box_rows[0]);
}

/* ---- arrays and slices --------------------------------------------------- */

ROW_FN(array_ndim_null, return bt_array_ndim(NULL);)
ROW_FN(array_dtype_null, return (int)bt_array_dtype(NULL);)
ROW_FN(array_shape_null, int64_t s[2] = {7, 7}; bt_array_shape(NULL, s);
       return (int)(s[0] + s[1]);)
ROW_FN(array_runtime_null, return bt_array_runtime(NULL) != NULL;)
ROW_FN(array_ndim_released, return bt_array_ndim(dead_array());)
ROW_FN(array_dtype_forged, return (int)bt_array_dtype(FORGED(bt_array));)
ROW_FN(array_runtime_released, return bt_array_runtime(dead_array()) != NULL;)
ROW_FN(array_own_released, bt_slice s; bt_array *a = dead_array();
       expect_ptr(f, a); return bt_array_own(a, NULL, 0, &s);)
ROW_FN(array_own_forged, bt_slice s; expect_ptr(f, forged_mem);
       return bt_array_own(FORGED(bt_array), NULL, 0, &s);)
ROW_FN(array_borrow_null, bt_slice s; expect_ptr(f, NULL);
       return bt_array_borrow(NULL, NULL, 0, &s);)
ROW_FN(array_release_twice, bt_array *a = dead_array(); expect_ptr(f, a);
       return bt_array_release(a);)
ROW_FN(array_retain_released, bt_array_retain(dead_array()); return BT_OK;)
ROW_FN(array_freeze_released, bt_array *a = dead_array(); expect_ptr(f, a);
       return bt_array_freeze(a);)
ROW_FN(array_create_dead_runtime, bt_array *a; int64_t n = 4;
       bt_runtime *rt = misuse_dead_runtime(); expect_ptr(f, rt);
       return bt_array_create(rt, BT_F64, 1, &n, BT_PLACE_BLOCKS, &a);)
ROW_FN(array_create_negative_extent, bt_array *a; int64_t shape[2] = {4, -3};
       expect_str(f, "-3");
       return bt_array_create(NULL, BT_F64, 2, shape, BT_PLACE_LOCAL, &a);)
/* Zero elements, but the row-major strides would overflow int64 (UBSan). */
ROW_FN(array_create_zero_extent_overflow, bt_array *a;
       int64_t shape[3] = {0, INT64_MAX / 4, 8}; expect_str(f, "axis");
       return bt_array_create(NULL, BT_F64, 3, shape, BT_PLACE_LOCAL, &a);)
ROW_FN(array_create_bad_dtype, bt_array *a; int64_t n = 4; expect_str(f, "42");
       return bt_array_create(NULL, (bt_dtype)42, 1, &n, BT_PLACE_LOCAL, &a);)
ROW_FN(array_create_ndim_9, bt_array *a;
       int64_t shape[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}; expect_str(f, "ndim 9");
       return bt_array_create(NULL, BT_F64, 9, shape, BT_PLACE_LOCAL, &a);)
ROW_FN(array_create_bad_place, bt_array *a; int64_t n = 4; expect_str(f, "5");
       return bt_array_create(f->rt, BT_F64, 1, &n, (bt_place)5, &a);)
/* Two disjoint owned rows would share memory. */
ROW_FN(array_wrap_zero_stride, static double buf[4]; bt_array * a;
       int64_t shape[2] = {2, 2}, strides[2] = {0, 1};
       expect_str(f, "stride 0");
       return bt_array_wrap(NULL, buf, BT_F64, 2, shape, strides, &a);)
ROW_FN(array_wrap_overlapping_strides, static double buf[8]; bt_array * a;
       int64_t shape[2] = {3, 3}, strides[2] = {2, 1};
       expect_str(f, "stride 2");
       return bt_array_wrap(NULL, buf, BT_F64, 2, shape, strides, &a);)
ROW_FN(array_wrap_huge_stride, static double buf[4]; bt_array * a;
       int64_t shape[2] = {2, 2}, strides[2] = {INT64_C(1) << 40, 1};
       return bt_array_wrap(NULL, buf, BT_F64, 2, shape, strides, &a);)
ROW_FN(array_wrap_overflowing_stride, static double buf[4]; bt_array * a;
       int64_t shape[2] = {3, 2}, strides[2] = {INT64_MAX / 2, 1};
       expect_str(f, "9223372036854775808 elements");
       return bt_array_wrap(NULL, buf, BT_F64, 2, shape, strides, &a);)
ROW_FN(array_wrap_stride_past_int64, static double buf[4]; bt_array * a;
       int64_t shape[2] = {3, 2}, strides[2] = {INT64_MAX, 1};
       expect_str(f, "overflows the offsets");
       return bt_array_wrap(NULL, buf, BT_F64, 2, shape, strides, &a);)
ROW_FN(array_wrap_min_stride, static double buf[4]; bt_array * a;
       int64_t shape[2] = {2, 2}, strides[2] = {INT64_MIN, 1};
       return bt_array_wrap(NULL, buf, BT_F64, 2, shape, strides, &a);)
ROW_FN(array_wrap_dead_runtime, static double buf[4]; bt_array * a;
       int64_t n = 4; bt_runtime *rt = misuse_dead_runtime(); expect_ptr(f, rt);
       return bt_array_wrap(rt, buf, BT_F64, 1, &n, NULL, &a);)
ROW_FN(own_region_out_of_range, bt_array *a; bt_slice s; int64_t n = 4;
       BT_CHECK_OK(bt_array_create(NULL, BT_F64, 1, &n, BT_PLACE_LOCAL, &a));
       bt_range r = {2, 9}; expect_str(f, "[2:9)");
       int rc = bt_array_own(a, &r, 0, &s); BT_CHECK_OK(bt_array_release(a));
       return rc;)
ROW_FN(split_zero_parts, bt_array *a; bt_slice s, out[1]; int64_t n = 4;
       BT_CHECK_OK(bt_array_create(NULL, BT_F64, 1, &n, BT_PLACE_LOCAL, &a));
       BT_CHECK_OK(bt_array_own(a, NULL, 0, &s)); expect_str(f, "0 parts");
       int rc = bt_slice_split(s, 0, 0, out); BT_CHECK_OK(bt_slice_release(s));
       BT_CHECK_OK(bt_array_release(a)); return rc;)
ROW_FN(split_bad_axis, bt_array *a; bt_slice s, out[2]; int64_t n = 4;
       BT_CHECK_OK(bt_array_create(NULL, BT_F64, 1, &n, BT_PLACE_LOCAL, &a));
       BT_CHECK_OK(bt_array_own(a, NULL, 0, &s)); expect_str(f, "axis 3");
       int rc = bt_slice_split(s, 3, 2, out); BT_CHECK_OK(bt_slice_release(s));
       BT_CHECK_OK(bt_array_release(a)); return rc;)
ROW_FN(slice_release_twice, bt_array *a; bt_slice s; int64_t n = 4;
       BT_CHECK_OK(bt_array_create(NULL, BT_F64, 1, &n, BT_PLACE_LOCAL, &a));
       BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
       BT_CHECK_OK(bt_slice_release(s)); BT_CHECK_OK(bt_array_release(a));
       return bt_slice_release(s);)
ROW_FN(slice_view_forged, bt_view v; bt_slice s = {UINT64_C(0x123456789abcdef)};
       return bt_slice_view(s, &v);)
ROW_FN(slice_migrate_bad_node, bt_array *a; bt_slice s; int64_t n = 4;
       BT_CHECK_OK(bt_array_create(f->rt, BT_F64, 1, &n, BT_PLACE_LOCAL, &a));
       BT_CHECK_OK(bt_array_own(a, NULL, 0, &s)); expect_str(f, "77");
       int rc = bt_slice_migrate(s, 77); BT_CHECK_OK(bt_slice_release(s));
       BT_CHECK_OK(bt_array_release(a)); return rc;)

static const misuse array_rows[] = {
    ROW(array_ndim_null, 0, 0),
    ROW(array_dtype_null, -1, 0),
    ROW(array_shape_null, 14, 0),
    ROW(array_runtime_null, 0, 0),
    ROW(array_ndim_released, 0, 1),
    ROW(array_dtype_forged, -1, 0),
    ROW(array_runtime_released, 0, 1),
    ROW(array_own_released, BT_EINVAL, 1),
    ROW(array_own_forged, BT_EINVAL, 0),
    ROW(array_borrow_null, BT_EINVAL, 0),
    ROW(array_release_twice, BT_EINVAL, 1),
    ROW(array_retain_released, BT_OK, 1),
    ROW(array_freeze_released, BT_EINVAL, 1),
    ROW(array_create_dead_runtime, BT_EINVAL, 1),
    ROW(array_create_negative_extent, BT_EINVAL, 0),
    ROW(array_create_zero_extent_overflow, BT_EINVAL, 0),
    ROW(array_create_bad_dtype, BT_EINVAL, 0),
    ROW(array_create_ndim_9, BT_EINVAL, 0),
    ROW(array_create_bad_place, BT_EINVAL, 0),
    ROW(array_wrap_zero_stride, BT_EINVAL, 0),
    ROW(array_wrap_overlapping_strides, BT_EINVAL, 0),
    ROW(array_wrap_huge_stride, BT_EINVAL, 0),
    ROW(array_wrap_overflowing_stride, BT_EINVAL, 0),
    ROW(array_wrap_stride_past_int64, BT_EINVAL, 0),
    ROW(array_wrap_min_stride, BT_EINVAL, 0),
    ROW(array_wrap_dead_runtime, BT_EINVAL, 1),
    ROW(own_region_out_of_range, BT_EINVAL, 0),
    ROW(split_zero_parts, BT_EINVAL, 0),
    ROW(split_bad_axis, BT_EINVAL, 0),
    ROW(slice_release_twice, BT_EMOVED, 0),
    ROW(slice_view_forged, BT_EMOVED, 0),
    ROW(slice_migrate_bad_node, BT_EINVAL, 0),
};

BT_TEST(arrays_and_slices) {
  forge();
  run_table(array_rows, sizeof array_rows / sizeof array_rows[0]);
}

/* Wrapped layouts that are fine stay accepted: column-major with a leading
 * dimension, negative strides, a broadcast-free 3-D layout. */
BT_TEST(wrap_accepts_good_strides) {
  static double buf[64];
  bt_array *a;
  int64_t shape[2] = {3, 4}, colmajor[2] = {1, 5};
  BT_CHECK_OK(bt_array_wrap(NULL, buf, BT_F64, 2, shape, colmajor, &a));
  BT_CHECK_OK(bt_array_release(a));
  int64_t reversed[2] = {-4, -1};
  BT_CHECK_OK(bt_array_wrap(NULL, &buf[11], BT_F64, 2, shape, reversed, &a));
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  BT_CHECK_PTR_EQ(v.data, &buf[11]);
  BT_CHECK_OK(bt_slice_release(s));
  BT_CHECK_OK(bt_array_release(a));
  int64_t shape3[3] = {2, 3, 4}, strides3[3] = {1, 2, 6};
  BT_CHECK_OK(bt_array_wrap(NULL, buf, BT_F64, 3, shape3, strides3, &a));
  BT_CHECK_OK(bt_array_release(a));
  int64_t one[2] = {1, 4}, any[2] = {0, 1}; /* extent 1: its stride is moot */
  BT_CHECK_OK(bt_array_wrap(NULL, buf, BT_F64, 2, one, any, &a));
  BT_CHECK_OK(bt_array_release(a));
}

/* ---- kernels --------------------------------------------------------------
 */

static bt_array *square(fixture *f, int64_t n) {
  bt_array *a;
  int64_t shape[2] = {n, n};
  BT_CHECK_OK(bt_array_create(f->rt, BT_F64, 2, shape, BT_PLACE_LOCAL, &a));
  return a;
}

static int slice_noop(bt_slice part, int worker, void *ctx) {
  (void)part, (void)worker, (void)ctx;
  return BT_OK;
}

ROW_FN(stencil_radius_int_max, bt_array *in = square(f, 10),
       *out = square(f, 10);
       expect_str(f, "2147483647");
       int rc = bt_stencil(f->rt, INT_MAX, in, out); bt_array_release(in);
       bt_array_release(out); return rc;)
ROW_FN(stencil_radius_2e8, bt_array *in = square(f, 10), *out = square(f, 10);
       expect_str(f, "200000000");
       int rc = bt_stencil(f->rt, 200000000, in, out); bt_array_release(in);
       bt_array_release(out); return rc;)
ROW_FN(stencil_radius_zero, bt_array *in = square(f, 10), *out = square(f, 10);
       expect_str(f, "radius 0"); int rc = bt_stencil(f->rt, 0, in, out);
       bt_array_release(in); bt_array_release(out); return rc;)
ROW_FN(fill_dead_runtime, bt_array *a = square(f, 4);
       bt_runtime *rt = misuse_dead_runtime(); expect_ptr(f, rt);
       int rc = bt_fill(rt, a, 1.0); bt_array_release(a); return rc;)
ROW_FN(fill_released_array, bt_array *a = dead_array(); expect_ptr(f, a);
       return bt_fill(f->rt, a, 1.0);)
ROW_FN(fill_forged_array, expect_ptr(f, forged_mem);
       return bt_fill(f->rt, FORGED(bt_array), 1.0);)
ROW_FN(dot_released_array, double d; bt_array *x = square(f, 4);
       bt_array *y = dead_array(); expect_ptr(f, y);
       int rc = bt_dot(f->rt, x, y, &d); bt_array_release(x); return rc;)
ROW_FN(parallel_slices_released, bt_array *a = dead_array(); expect_ptr(f, a);
       return bt_parallel_slices(f->rt, a, 0, 1, slice_noop, NULL);)
ROW_FN(parallel_slices_bad_axis, bt_array *a = square(f, 4);
       expect_str(f, "axis 2");
       int rc = bt_parallel_slices(f->rt, a, 2, 1, slice_noop, NULL);
       bt_array_release(a); return rc;)
ROW_FN(nstream_null_runtime, bt_array *a = square(f, 4); expect_ptr(f, NULL);
       int rc = bt_nstream(NULL, a, a, a, 1.0); bt_array_release(a); return rc;)

ROW_FN(array_sub_released, bt_array *sub; bt_array *a = dead_array();
       expect_ptr(f, a); return bt_array_sub(a, NULL, &sub);)
ROW_FN(array_sub_region_out_of_range, bt_array *a = square(f, 4), *sub;
       bt_range r[2] = {{0, 2}, {3, 7}}; expect_str(f, "[3:7)");
       int rc = bt_array_sub(a, r, &sub); bt_array_release(a); return rc;)
/* 1x1 identity, for the matrix rows. */
static bt_csr *dead_csr(fixture *f) {
  static const int64_t rowptr[2] = {0, 1}, colidx[1] = {0};
  static const double values[1] = {1.0};
  bt_csr *A;
  BT_CHECK_OK(bt_csr_create(f->rt, 1, 1, rowptr, colidx, values, &A));
  BT_CHECK_OK(bt_csr_destroy(A));
  return A;
}
ROW_FN(csr_destroy_twice, bt_csr *A = dead_csr(f); expect_ptr(f, A);
       return bt_csr_destroy(A);)
ROW_FN(spmv_destroyed_matrix, int64_t n = 1; bt_array * x, *y;
       BT_CHECK_OK(bt_array_create(f->rt, BT_F64, 1, &n, BT_PLACE_LOCAL, &x));
       BT_CHECK_OK(bt_array_create(f->rt, BT_F64, 1, &n, BT_PLACE_LOCAL, &y));
       bt_csr *A = dead_csr(f); expect_ptr(f, A);
       int rc = bt_spmv(f->rt, A, x, y); bt_array_release(x);
       bt_array_release(y); return rc;)
ROW_FN(spmv_forged_matrix, int64_t n = 1; bt_array * x;
       BT_CHECK_OK(bt_array_create(f->rt, BT_F64, 1, &n, BT_PLACE_LOCAL, &x));
       expect_ptr(f, forged_mem); int rc = bt_spmv(f->rt, FORGED(bt_csr), x, x);
       bt_array_release(x); return rc;)
ROW_FN(stencil_apply_offset_past_extent, bt_array *in = square(f, 4),
       *out = square(f, 4);
       int offsets[2] = {0, 9}; double w[1] = {1}; expect_str(f, "offset 9");
       int rc = bt_stencil_apply(f->rt, 1, offsets, w, in, out);
       bt_array_release(in); bt_array_release(out); return rc;)
ROW_FN(stencil_apply_no_points, bt_array *in = square(f, 4),
       *out = square(f, 4);
       int offsets[2] = {0, 0}; double w[1] = {1}; expect_str(f, "-2");
       int rc = bt_stencil_apply(f->rt, -2, offsets, w, in, out);
       bt_array_release(in); bt_array_release(out); return rc;)

static const misuse kernel_rows[] = {
    ROW(stencil_radius_int_max, BT_EINVAL, 0),
    ROW(stencil_radius_2e8, BT_EINVAL, 0),
    ROW(stencil_radius_zero, BT_EINVAL, 0),
    ROW(fill_dead_runtime, BT_EINVAL, 1),
    ROW(fill_released_array, BT_EINVAL, 1),
    ROW(fill_forged_array, BT_EINVAL, 0),
    ROW(dot_released_array, BT_EINVAL, 1),
    ROW(parallel_slices_released, BT_EINVAL, 1),
    ROW(parallel_slices_bad_axis, BT_EINVAL, 0),
    ROW(nstream_null_runtime, BT_EINVAL, 0),
    ROW(array_sub_released, BT_EINVAL, 1),
    ROW(array_sub_region_out_of_range, BT_EINVAL, 0),
    ROW(csr_destroy_twice, BT_EINVAL, 1),
    ROW(spmv_destroyed_matrix, BT_EINVAL, 1),
    ROW(spmv_forged_matrix, BT_EINVAL, 0),
    ROW(stencil_apply_offset_past_extent, BT_EINVAL, 0),
    ROW(stencil_apply_no_points, BT_EINVAL, 0),
};

BT_TEST(kernels) {
  forge();
  run_table(kernel_rows, sizeof kernel_rows / sizeof kernel_rows[0]);
}

/* ---- what the fuzzers found (tests/fuzz) ----------------------------------
 */

/* fuzz_env: hwloc read "-3,88" as a huge index and spun for seconds, and
 * spun on the backward range "9-4" and on "08" (an octal 0, then an '8' it
 * never consumes); lists beyond the index limit allocated a bitmap that
 * large. */
BT_TEST(cpuset_lists_found_by_fuzzing) {
  static const char *bad[] = {"-3,88",
                              "0--2",
                              ",1",
                              "1,",
                              "4-x",
                              "0-4000000000",
                              "99999999999999999999",
                              " 1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct hwloc_bitmap_s *set = NULL;
    BT_CHECK_STATUS(bt__cpuset_parse(bad[i], &set), BT_EINVAL);
    BT_CHECK(set == NULL);
    BT_CHECK(strstr(bt_errmsg(), bad[i]) != NULL);
  }
  static const char *good[] = {"0-3,8", "5", "2-", "0,2,4-6"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    struct hwloc_bitmap_s *set = NULL;
    BT_CHECK_OK(bt__cpuset_parse(good[i], &set));
    BT_CHECK(bt__cpuset_isset(set, good[i][0] - '0'));
    bt__cpuset_free(set);
  }
}
