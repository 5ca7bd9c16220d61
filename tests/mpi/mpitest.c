/* SPDX-License-Identifier: BSD-3-Clause */
/* mpitest.c: the MPI test binaries' hooks (MPI up before the cases, down
 * after) and the helpers of mpitest.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpitest.h"

/* Cases named serialized_* or funneled_* run under that thread level (the
 * case name is argv[1]); every other case under MPI_THREAD_MULTIPLE. */
void bt_test_init(int *argc, char ***argv) {
  int want = MPI_THREAD_MULTIPLE, provided = MPI_THREAD_SINGLE;
  const char *name = *argc > 1 ? (*argv)[1] : "";
  if (strncmp(name, "serialized_", 11) == 0) want = MPI_THREAD_SERIALIZED;
  if (strncmp(name, "funneled_", 9) == 0) want = MPI_THREAD_FUNNELED;
  if (MPI_Init_thread(argc, argv, want, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "MPI_Init_thread failed\n");
    exit(1);
  }
  if (provided < want) {
    fprintf(stderr, "MPI gives thread level %d, the case needs %d\n", provided,
            want);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

void bt_test_fini(void) {
  MPI_Finalize();
}

int mt_rank(void) {
  int r;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int mt_size(void) {
  int s;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

bt_runtime *mt_runtime(void) {
  bt_runtime *rt;
  BT_CHECK_OK(bt_runtime_create(NULL, &rt));
  return rt;
}

bt_mpi *mt_attach(bt_runtime *rt, const char *mode) {
  setenv("BATON_MPI_PROGRESS", mode, 1);
  bt_mpi *m;
  BT_CHECK_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  return m;
}

void mt_both_modes(void (*body)(bt_runtime *rt, bt_mpi *m)) {
  static const char *modes[] = {"direct", "thread"};
  bt_runtime *rt = mt_runtime();
  for (int i = 0; i < 2; i++) {
    if (mt_rank() == 0) fprintf(stderr, "  mode %s\n", modes[i]);
    bt_mpi *m = mt_attach(rt, modes[i]);
    body(rt, m);
    BT_CHECK_OK(bt_mpi_detach(m));
  }
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

void mt_once(void (*body)(bt_runtime *rt, bt_mpi *m)) {
  bt_runtime *rt = mt_runtime();
  bt_mpi *m;
  BT_CHECK_OK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  body(rt, m);
  BT_CHECK_OK(bt_mpi_detach(m));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

void mt_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

long mt_undelivered(int rc) {
  if (rc == BT_OK) return 0;
  long n = -1;
  const char *p = strstr(bt_errmsg(), "bt_mpi_detach: ");
  if (p == NULL || sscanf(p, "bt_mpi_detach: %ld elements", &n) != 1) {
    fprintf(stderr, "detach: %s: %s\n", bt_strerror(rc), bt_errmsg());
    return -1;
  }
  return n;
}

long long mt_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
