/* SPDX-License-Identifier: BSD-3-Clause */
/* mpitest.h: what the MPI test files share (tests/mpi/mpitest.c). */
#ifndef BATON_MPITEST_H
#define BATON_MPITEST_H

#include <mpi.h>

#include "baton.h"
#include "baton/mpi.h"
#include "test.h"

/* The world's rank and size. */
int mt_rank(void);
int mt_size(void);
/* A runtime for the case (BATON_WORKERS from the environment). */
bt_runtime *mt_runtime(void);
/* Attach in a progress mode: "direct" (MPI_THREAD_MULTIPLE: callers call
 * MPI) or "thread" (everything through the progress thread). */
bt_mpi *mt_attach(bt_runtime *rt, const char *mode);
/* Run body once per progress mode, each with a fresh bridge. */
void mt_both_modes(void (*body)(bt_runtime *rt, bt_mpi *m));
/* Run body once with a bridge attached in the default mode (the one the
 * case's thread level gives: serialized_* cases get the progress thread). */
void mt_once(void (*body)(bt_runtime *rt, bt_mpi *m));
/* What a bt_mpi_detach that returned rc lost: 0 for BT_OK, else the count
 * its bt_errmsg() names (BT_ECLOSED: "N elements accepted by bt_send were
 * not delivered"). */
long mt_undelivered(int rc);
/* CLOCK_MONOTONIC in nanoseconds (one clock for the ranks of a node). */
long long mt_now_ns(void);
/* Sleep for ms milliseconds. */
void mt_sleep_ms(int ms);

#endif /* BATON_MPITEST_H */
