/* SPDX-License-Identifier: BSD-3-Clause */
/* arrays.h: what the kernel tests share: a runtime of n workers, an
 * array's values to and from a row-major buffer (through own/borrow, so
 * sub-arrays and strided views work), and a seeded stream of random
 * doubles. */
#ifndef BATON_TEST_ARRAYS_H
#define BATON_TEST_ARRAYS_H

#include <stdint.h>

#include "test.h"

/* A runtime of exactly `workers` workers (checked). */
bt_runtime *bt_test_runtime(int workers);

/* The number of elements of the array (1 for ndim 0 never arises). */
int64_t bt_test_elements(const bt_array *a);

/* Visit the view's f64 elements in row-major order: copy from buf into the
 * view (to_view != 0) or from the view into buf. */
void bt_test_copy_view(const bt_view *v, double *buf, int to_view);

/* The whole array from / into a row-major buffer; an empty array (no
 * region to own) copies nothing. */
void bt_test_put(bt_array *a, const double *src);
void bt_test_get(bt_array *a, double *dst);

/* Uniform in [-1, 1), from one stream per test program: it starts at a
 * fixed state, bt_test_rng_seed() restarts it from the run's seed
 * (bt_test_seed(), printed on failure). */
double bt_test_uniform(void);
void bt_test_rng_seed(void);
/* n values of bt_test_uniform(), malloc'd (never NULL; n may be 0). */
double *bt_test_random_values(int64_t n);

#endif
