/* SPDX-License-Identifier: BSD-3-Clause */
/* blas_threads.c: OpenBLAS kept at one thread per worker while a kernel
 * runs, and given back as the user had it. Only kernels/ talks to BLAS. */
#include <pthread.h>

#include "kernels_int.h"

#ifdef BATON_WITH_BLAS
#include <cblas.h>

/* OpenBLAS's pool size is process-wide, so the bracket is too: the first
 * enter saves the user's count and sets 1, the last leave restores it. */
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int blas_depth;        /* protected by blas_lock */
static int blas_user_threads; /* protected by blas_lock */

void bt__blas_threads_enter(void) {
  pthread_mutex_lock(&blas_lock);
  if (blas_depth++ == 0) {
    blas_user_threads = openblas_get_num_threads();
    if (blas_user_threads != 1) openblas_set_num_threads(1);
  }
  pthread_mutex_unlock(&blas_lock);
}

void bt__blas_threads_leave(void) {
  pthread_mutex_lock(&blas_lock);
  BT_ASSERT(blas_depth > 0);
  if (--blas_depth == 0 && blas_user_threads != 1)
    openblas_set_num_threads(blas_user_threads);
  pthread_mutex_unlock(&blas_lock);
}

int bt__blas_threads(void) {
  return openblas_get_num_threads();
}
int bt__have_blas(void) {
  return 1;
}
#else
void bt__blas_threads_enter(void) {}
void bt__blas_threads_leave(void) {}
int bt__blas_threads(void) {
  return 1;
}
int bt__have_blas(void) {
  return 0;
}
#endif
