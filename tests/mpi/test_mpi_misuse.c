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

#include "misuse.h"
#include "mpitest.h"

struct fixture {
  bt_runtime *rt;
  bt_mpi *m;
  char expect[MISUSE_EXPECT_LEN];
};

static _Alignas(64) unsigned char forged_mem[1024];

/* Collective: both ranks attach and detach. */
static bt_mpi *dead_bridge(fixture *f) {
  bt_mpi *m;
  BT_CHECK_OK(bt_mpi_attach(f->rt, MPI_COMM_WORLD, &m));
  BT_CHECK_OK(bt_mpi_detach(m));
  return m;
}

ROW_FN(attach_null_runtime, bt_mpi *m; expect_ptr(f, NULL);
       return bt_mpi_attach(NULL, MPI_COMM_WORLD, &m);)
ROW_FN(attach_dead_runtime, bt_mpi *m; bt_runtime *rt = misuse_dead_runtime();
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
  misuse_run(rows, sizeof rows / sizeof rows[0], &f, f.expect);
  BT_CHECK_OK(bt_mpi_detach(f.m));
  BT_CHECK_OK(bt_runtime_destroy(f.rt));
}
