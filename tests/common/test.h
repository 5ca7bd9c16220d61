/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test.h: baton's tiny test harness.
 *
 *   BT_TEST(name)         a unit case          (CTest: <file>.<name>, label unit)
 *   BT_TEST_STRESS(name)  a stress case        (label stress, longer timeout)
 *   BT_TEST_TOPO(name)    a topology case      (label topology)
 *
 * Each case is registered with CTest on its own by tests/CMakeLists.txt,
 * which reads these macros from the source: they must start a line. The
 * test binary runs the case named in argv[1], or every case without one.
 * Checks print both operands and, for statuses, bt_errmsg().
 */
#ifndef BATON_TEST_H
#define BATON_TEST_H

#include <inttypes.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baton.h"

/* 1 in a build under AddressSanitizer or ThreadSanitizer (GCC's and
 * clang's spellings): tests scale their loops down there, and skip what
 * reads freed memory on purpose. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BT_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BT_TEST_SANITIZED 1
#endif
#endif
#ifndef BT_TEST_SANITIZED
#define BT_TEST_SANITIZED 0
#endif

typedef void (*bt_test_fn)(void);
void bt_test_register(const char *name, bt_test_fn fn);
/* BATON_TEST_SCALE (default 1): multiply stress counts by it. */
double bt_test_scale(void);
/* count scaled by BATON_TEST_SCALE, at least 1. */
long bt_test_scaled(long count);
/* A fresh, reproducible seed per case (BATON_TEST_SEED overrides). */
unsigned bt_test_seed(void);
/* Threads for concurrency cases: start (checked), join (checked), and a
 * short sleep so that another thread gets to block first. */
void bt_test_spawn(pthread_t *t, void *(*fn)(void *), void *arg);
void bt_test_join(pthread_t t);
/* Run fn on n threads at once and join them all (checked). Thread i gets
 * (char *)args + i * stride as its argument (stride 0: all get args). The
 * threads wait at a start barrier until all n have started, so that they
 * race from the same moment. */
void bt_test_threads(int n, void *(*fn)(void *), void *args, size_t stride);
void bt_test_nap_ms(int ms);
/* Called by main() before and after the cases (weak; MPI tests override). */
void bt_test_init(int *argc, char ***argv);
void bt_test_fini(void);
_Noreturn void bt_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define BT_TEST_DEFINE_(name)                                        \
  static void bt_test_##name(void);                                  \
  __attribute__((constructor)) static void bt_test_reg_##name(void) { \
    bt_test_register(#name, bt_test_##name);                         \
  }                                                                  \
  static void bt_test_##name(void)

#define BT_TEST(name) BT_TEST_DEFINE_(name)
#define BT_TEST_STRESS(name) BT_TEST_DEFINE_(name)
#define BT_TEST_TOPO(name) BT_TEST_DEFINE_(name)
/* An MPI case run under mpiexec -np np (tests/mpi/). */
#define BT_TEST_MPI(name, np) BT_TEST_DEFINE_(name)

#define BT_CHECK(cond)                                              \
  do {                                                              \
    if (!(cond)) bt_test_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
  } while (0)

#define BT_CHECK_EQ(a, b)                                                   \
  do {                                                                      \
    long long bt_a_ = (long long)(a), bt_b_ = (long long)(b);               \
    if (bt_a_ != bt_b_)                                                     \
      bt_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b,   \
                   bt_a_, bt_b_);                                           \
  } while (0)

#define BT_CHECK_NE(a, b)                                                   \
  do {                                                                      \
    long long bt_a_ = (long long)(a), bt_b_ = (long long)(b);               \
    if (bt_a_ == bt_b_)                                                     \
      bt_test_fail(__FILE__, __LINE__, "%s != %s: both %lld", #a, #b,      \
                   bt_a_);                                                  \
  } while (0)

#define BT_CHECK_CMP(a, op, b)                                              \
  do {                                                                      \
    long long bt_a_ = (long long)(a), bt_b_ = (long long)(b);               \
    if (!(bt_a_ op bt_b_))                                                  \
      bt_test_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op,  \
                   #b, bt_a_, bt_b_);                                       \
  } while (0)

#define BT_CHECK_PTR_EQ(a, b)                                               \
  do {                                                                      \
    const void *bt_a_ = (const void *)(a), *bt_b_ = (const void *)(b);      \
    if (bt_a_ != bt_b_)                                                     \
      bt_test_fail(__FILE__, __LINE__, "%s == %s: %p != %p", #a, #b, bt_a_, \
                   bt_b_);                                                  \
  } while (0)

#define BT_CHECK_NEAR(a, b, tol)                                            \
  do {                                                                      \
    double bt_a_ = (double)(a), bt_b_ = (double)(b);                        \
    if (!(fabs(bt_a_ - bt_b_) <= (tol)))                                    \
      bt_test_fail(__FILE__, __LINE__, "%s ~ %s: %.17g vs %.17g (tol %g)", \
                   #a, #b, bt_a_, bt_b_, (double)(tol));                    \
  } while (0)

#define BT_CHECK_STR(a, b)                                                  \
  do {                                                                      \
    const char *bt_a_ = (a), *bt_b_ = (b);                                  \
    if (!bt_a_ || !bt_b_ || strcmp(bt_a_, bt_b_) != 0)                      \
      bt_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a,   \
                   #b, bt_a_ ? bt_a_ : "(null)", bt_b_ ? bt_b_ : "(null)"); \
  } while (0)

/* A call that must return the status `want` (BT_OK, BT_EBUSY...). */
#define BT_CHECK_STATUS(expr, want)                                         \
  do {                                                                      \
    int bt_got_ = (expr), bt_want_ = (want);                                \
    if (bt_got_ != bt_want_)                                                \
      bt_test_fail(__FILE__, __LINE__, "%s: got %s (%d), want %s (%d); errmsg: %s", \
                   #expr, bt_status_name(bt_got_), bt_got_,                 \
                   bt_status_name(bt_want_), bt_want_, bt_errmsg());        \
  } while (0)

#define BT_CHECK_OK(expr) BT_CHECK_STATUS(expr, BT_OK)

#endif /* BATON_TEST_H */
