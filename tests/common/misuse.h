/* SPDX-License-Identifier: BSD-3-Clause */
/* misuse.h: the table machinery shared by the misuse tests
 * (tests/test_misuse.c, tests/mpi/test_mpi_misuse.c): a row is an entry
 * point called with one bad argument, the status it must answer and the
 * text bt_errmsg() must name. Each test file completes `struct fixture`
 * with what its rows use; its first member is not assumed, the text to
 * name is passed apart (its `expect` member). */
#ifndef BATON_TEST_MISUSE_H
#define BATON_TEST_MISUSE_H

#include <stddef.h>

#include "test.h"

/* AddressSanitizer and ThreadSanitizer both report a read of freed memory,
 * rightly: the rows that make one are skipped under them. */
#define MISUSE_SKIP_FREED BT_TEST_SANITIZED

enum { MISUSE_EXPECT_LEN = 128 };

typedef struct fixture fixture; /* completed by each test file */

typedef struct misuse {
  const char *what;
  int (*call)(fixture *f);
  int want;  /* the status, or the value a query answers */
  int freed; /* the row reads a released object's memory */
} misuse;

#define ROW_FN(name, ...)             \
  static int row_##name(fixture *f) { \
    (void)f;                          \
    __VA_ARGS__                       \
  }
#define ROW(name, want, freed) \
  { #name, row_##name, want, freed }

/* The message must name this pointer ("%p"), or say NULL. */
void misuse_expect_ptr(char *expect, const void *p);
/* The message must contain this text. */
void misuse_expect_str(char *expect, const char *s);
#define expect_ptr(f, p) misuse_expect_ptr((f)->expect, (p))
#define expect_str(f, s) misuse_expect_str((f)->expect, (s))

/* Runs rows[0..n) with `f` (whose expect text is `expect`), skipping the
 * rows that read freed memory under a sanitizer; each row starts with an
 * empty message, and a wrong status or a message that does not name the
 * expected text fails the test. */
void misuse_run(const misuse *rows, size_t n, fixture *f, char *expect);

/* A runtime created and destroyed (its handle now dangles). */
bt_runtime *misuse_dead_runtime(void);

#endif
