/* SPDX-License-Identifier: BSD-3-Clause */
/* wait.c: thread ids, clocks, futexes and the adaptive spin policy. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core_int.h"

uint64_t bt__thread_id(void) {
  /* relaxed: only uniqueness matters, which fetch_add gives in any order. */
  static _Atomic uint64_t next_id = 1;
  static _Thread_local uint64_t self;
  if (BT_UNLIKELY(self == 0))
    self = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
  return self;
}

int64_t bt__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bt__deadline(int64_t timeout_ns) {
  if (timeout_ns <= 0) return timeout_ns < 0 ? -1 : 0;
  int64_t now = bt__now_ns();
  return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

int bt__futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                   int64_t deadline_ns) {
  struct timespec ts, *tsp = NULL;
  if (deadline_ns >= 0) {
    int64_t left = deadline_ns - bt__now_ns();
    if (left <= 0) return BT_ETIMEDOUT;
    ts.tv_sec = left / 1000000000;
    ts.tv_nsec = left % 1000000000;
    tsp = &ts;
  }
  long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected,
                   tsp, NULL, 0);
  if (r == -1 && errno == ETIMEDOUT) return BT_ETIMEDOUT;
  return BT_OK; /* woken, EAGAIN (value changed) or EINTR: caller rechecks */
}

void bt__futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* The CPUs the process may use: the affinity mask of its first thread as
 * the library is loaded (the launcher's binding: taskset, mpirun
 * --bind-to), cached by the constructor below. Not the mask of whichever
 * thread asks first: a code that pins its own threads (OMP_PROC_BIND, a
 * benchmark's pthread_setaffinity_np) before its first channel operation
 * made that thread's single CPU the process's count, and the spin policy
 * below then refused every spin for the life of the process: every wait
 * slept on a futex (a capacity-0 ping-pong between two pinned threads took
 * 9-130 us one way on the loaded VM instead of 0.3-1.1 us, 0 spins granted
 * of 366 411 asked; docs/performance.md, sixth session). */
static _Atomic int ncpu;

static int ncpu_read(void) {
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

__attribute__((constructor)) static void ncpu_at_load(void) {
  /* relaxed: runs before main() and before any thread of ours exists. */
  atomic_store_explicit(&ncpu, ncpu_read(), memory_order_relaxed);
}

int bt__ncpu(void) {
  /* relaxed: a cached pure value; a race computes it twice. Zero only if
   * the constructor did not run (a loader that skips them). */
  int n = atomic_load_explicit(&ncpu, memory_order_relaxed);
  if (n == 0) {
    n = ncpu_read();
    atomic_store_explicit(&ncpu, n, memory_order_relaxed);
  }
  return n;
}

/* Threads spinning now, process-wide. Not semantic state: it only tunes how
 * long a waiter burns its core before it sleeps. */
static _Atomic int spinners;

enum { SPIN_MAX = 4000 };

int bt__spin_begin(void) {
  /* relaxed: a heuristic count; nothing is published through it. */
  int n = atomic_fetch_add_explicit(&spinners, 1, memory_order_relaxed);
  /* A spinner is useful only if another core can run the thread it waits
   * for: with one spinner per core already, sleep at once. */
  int cores = bt__ncpu();
  if (cores == 1 || n >= cores - 1) return 0;
  return SPIN_MAX;
}

void bt__spin_end(void) {
  /* relaxed: pairs with the fetch_add in bt__spin_begin(), a count only. */
  atomic_fetch_sub_explicit(&spinners, 1, memory_order_relaxed);
}

void bt__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#else
  sched_yield();
#endif
}
