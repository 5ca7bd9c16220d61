/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_misuse.c: the bridge's entry points given bad input, as a table:
 * NULL, forged and detached bridges, a NULL or destroyed runtime, out of
 * range peers, tags, sizes and capacities -> the documented code, with
 * bt_errmsg() naming the value. Runs in the release-type CI build. A
 * bridge's memory is never freed (its handle pool), so a detached one is
 * safe to read even under ASan: a second detach answers BT_ESTATE; a
 * destroyed runtime is freed, and its rows are skipped under ASan and
 * TSan. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>

#include "mpitest.h"

/* AddressSanitizer and ThreadSanitizer both report a read of freed memory,
 * rightly: the rows that make one are skipped under them. */
#define MISUSE_SKIP_FREED BT_TEST_SANITIZED

typedef struct fixture {
  bt_runtime *rt;
  bt_mpi *m;
  char expect[128];
} fixture;

typedef struct misuse {
  const char *what;
  int (*call)(fixture *f);
  int want;
  int freed;
} misuse;

static _Alignas(64) unsigned char forged_mem[1024];

static void expect_ptr(fixture *f, const void *p) {
  if (p == NULL)
    snprintf(f->expect, sizeof f->expect, "NULL");
  else
    snprintf(f->expect, sizeof f->expect, "%p", p);
}

static void expect_str(fixture *f, const char *s) {
  snprintf(f->expect, sizeof f->expect, "%s", s);
}

/* Collective: both ranks attach and detach. */
static bt_mpi *dead_bridge(fixture *f) {
  bt_mpi *m;
  BT_CHECK_OK(bt_mpi_attach(f->rt, MPI_COMM_WORLD, &m));
  BT_CHECK_OK(bt_mpi_detach(m));
  return m;
}

static bt_runtime *dead_runtime(void) {
  bt_options o = BT_OPTIONS_DEFAULT;
  o.workers = 1;
  o.topology = "pack:1 core:1 pu:1";
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(&o, &rt));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  return rt;
}

#define ROW_FN(name, ...)             \
  static int row_##name(fixture *f) { \
    (void)f;                          \
    __VA_ARGS__                       \
  }
#define ROW(name, want, freed) \
  { #name, row_##name, want, freed }

ROW_FN(attach_null_runtime, bt_mpi *m; expect_ptr(f, NULL);
       return bt_mpi_attach(NULL, MPI_COMM_WORLD, &m);)
ROW_FN(attach_dead_runtime, bt_mpi *m; bt_runtime *rt = dead_runtime();
       expect_ptr(f, rt); return bt_mpi_attach(rt, MPI_COMM_WORLD, &m);)
ROW_FN(attach_forged_runtime, bt_mpi *m; expect_ptr(f, forged_mem);
       return bt_mpi_attach((bt_runtime *)(void *)forged_mem, MPI_COMM_WORLD,
                            &m);)
ROW_FN(attach_comm_null, bt_mpi *m; expect_str(f, "MPI_COMM_NULL");
       return bt_mpi_attach(f->rt, MPI_COMM_NULL, &m);)
ROW_FN(attach_null_out, return bt_mpi_attach(f->rt, MPI_COMM_WORLD, NULL);)
ROW_FN(attach_f_comm_null, bt_mpi *m; expect_str(f, "MPI_COMM_NULL");
       return bt_mpi_attach_f(f->rt, MPI_Comm_c2f(MPI_COMM_NULL), &m);)
ROW_FN(attach_f_null_runtime, bt_mpi *m; expect_ptr(f, NULL);
       return bt_mpi_attach_f(NULL, MPI_Comm_c2f(MPI_COMM_WORLD), &m);)
ROW_FN(detach_twice, bt_mpi *m = dead_bridge(f); expect_ptr(f, m);
       return bt_mpi_detach(m);)
ROW_FN(detach_forged, expect_ptr(f, forged_mem);
       return bt_mpi_detach((bt_mpi *)(void *)forged_mem);)
ROW_FN(rank_detached, return bt_mpi_rank(dead_bridge(f));)
ROW_FN(size_forged, return bt_mpi_size((bt_mpi *)(void *)forged_mem);)
ROW_FN(rank_null, return bt_mpi_rank(NULL);)
ROW_FN(chan_create_detached, bt_chan *ch; bt_mpi *m = dead_bridge(f);
       expect_ptr(f, m);
       return bt_mpi_chan_create(m, 1 - mt_rank(), 7, &bt_type_f64, 1, &ch);)
ROW_FN(chan_create_null_bridge, bt_chan *ch; expect_ptr(f, NULL);
       return bt_mpi_chan_create(NULL, 0, 7, &bt_type_f64, 1, &ch);)
ROW_FN(chan_create_peer_out_of_range, bt_chan *ch; expect_str(f, "peer 9");
       return bt_mpi_chan_create(f->m, 9, 7, &bt_type_f64, 1, &ch);)
ROW_FN(chan_create_tag_negative, bt_chan *ch; expect_str(f, "tag -3");
       return bt_mpi_chan_create(f->m, 1 - mt_rank(), -3, &bt_type_f64, 1,
                                 &ch);)
ROW_FN(chan_create_size_max, bt_chan *ch;
       bt_type t = {.struct_size = sizeof(bt_type),
                    .name = "huge",
                    .size = SIZE_MAX};
       expect_str(f, "18446744073709551615");
       return bt_mpi_chan_create(f->m, 1 - mt_rank(), 7, &t, 1, &ch);)
ROW_FN(chan_create_capacity_huge, bt_chan *ch; expect_str(f, "capacity");
       return bt_mpi_chan_create(f->m, 1 - mt_rank(), 7, &bt_type_f64,
                                 SIZE_MAX / 2, &ch);)
ROW_FN(chan_create_null_out, expect_str(f, "NULL");
       return bt_mpi_chan_create(f->m, 1 - mt_rank(), 7, &bt_type_f64, 1,
                                 NULL);)

static const misuse rows[] = {
    ROW(attach_null_runtime, BT_EINVAL, 0),
    ROW(attach_dead_runtime, BT_EINVAL, 1),
    ROW(attach_forged_runtime, BT_EINVAL, 0),
    ROW(attach_comm_null, BT_EINVAL, 0),
    ROW(attach_null_out, BT_EINVAL, 0),
    ROW(attach_f_comm_null, BT_EINVAL, 0),
    ROW(attach_f_null_runtime, BT_EINVAL, 0),
    /* A detached bridge's memory goes to the bridge pool, never back to
     * malloc (mpi/bridge.c): these rows read no freed memory, even under
     * ASan; a second detach is a state error. */
    ROW(detach_twice, BT_ESTATE, 0),
    ROW(detach_forged, BT_EINVAL, 0),
    ROW(rank_detached, -1, 0),
    ROW(size_forged, -1, 0),
    ROW(rank_null, -1, 0),
    ROW(chan_create_detached, BT_EINVAL, 0),
    ROW(chan_create_null_bridge, BT_EINVAL, 0),
    ROW(chan_create_peer_out_of_range, BT_EINVAL, 0),
    ROW(chan_create_tag_negative, BT_EINVAL, 0),
    ROW(chan_create_size_max, BT_EINVAL, 0),
    ROW(chan_create_capacity_huge, BT_EINVAL, 0),
    ROW(chan_create_null_out, BT_EINVAL, 0),
};

/* Every rank runs every row, in the same order: the rows that attach and
 * detach are collective. */
BT_TEST_MPI(bridge_table, 2) {
  for (size_t i = 0; i < sizeof forged_mem; i++)
    forged_mem[i] = (unsigned char)(0x5a ^ i);
  fixture f = {0};
  f.rt = mt_runtime();
  BT_CHECK_OK(bt_mpi_attach(f.rt, MPI_COMM_WORLD, &f.m));
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    if (rows[i].freed && MISUSE_SKIP_FREED) continue;
    f.expect[0] = '\0';
    int got = rows[i].call(&f);
    if (got != rows[i].want)
      bt_test_fail(__FILE__, __LINE__,
                   "%s: got %d (%s), want %d (%s); errmsg: %s", rows[i].what,
                   got, bt_status_name(got), rows[i].want,
                   bt_status_name(rows[i].want), bt_errmsg());
    if (f.expect[0] && !strstr(bt_errmsg(), f.expect))
      bt_test_fail(__FILE__, __LINE__, "%s: errmsg '%s' does not name '%s'",
                   rows[i].what, bt_errmsg(), f.expect);
  }
  BT_CHECK_OK(bt_mpi_detach(f.m));
  BT_CHECK_OK(bt_runtime_destroy(f.rt));
}
