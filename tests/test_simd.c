/* SPDX-License-Identifier: BSD-3-Clause */
/* test_simd.c: every SIMD variant of the kernels' loops (kernels/simd.h)
 * that this CPU runs, against serial references written here: elementwise
 * kernels and transpose exactly, reductions bit for bit against the
 * documented lane order (and closely against a long-double sum), the
 * stencil exactly against its tap order. A level this build lacks or this
 * CPU cannot run is skipped (exit 77, CTest's SKIP_RETURN_CODE) with the
 * reason. Also: every level gives the same bits, and the BATON_SIMD rule. */
#include <stdint.h>
#include <string.h>

#include "kernels_int.h"
#include "simd.h"
#include "arrays.h"
#include "test.h"

enum { SKIP = 77, LANES = BT__SIMD_LANES };

static bt_array *vector(bt_runtime *rt, int64_t n, const double *vals) {
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &n, BT_PLACE_BLOCKS, &a));
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  memcpy(v.data, vals, sizeof *vals * (size_t)n);
  BT_CHECK_OK(bt_slice_release(s));
  return a;
}

static bt_array *matrix(bt_runtime *rt, int64_t m, int64_t n,
                        const double *vals) {
  int64_t shape[2] = {m, n};
  bt_array *a = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &a));
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  memcpy(v.data, vals, sizeof *vals * (size_t)(m * n));
  BT_CHECK_OK(bt_slice_release(s));
  return a;
}

/* The array's values (dense, row-major) into out. */
static void values(bt_array *a, double *out, int64_t count) {
  bt_slice s;
  bt_view v;
  BT_CHECK_OK(bt_array_borrow(a, NULL, 0, &s));
  BT_CHECK_OK(bt_slice_view(s, &v));
  memcpy(out, v.data, sizeof *out * (size_t)count);
  BT_CHECK_OK(bt_slice_release(s));
}

static int same_bits(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

static void check_same(const double *got, const double *want, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!same_bits(got[i], want[i]))
      bt_test_fail(__FILE__, __LINE__, "element %lld: got %.17g, want %.17g",
                   (long long)i, got[i], want[i]);
}

/* ---- reference reductions, in the documented order ----------------------
 * Part p of w covers [part_start(p), part_start(p+1)); element i of a part
 * goes to lane (i - start) % LANES; lanes summed as a balanced tree; parts
 * added in order. */

static double tree(const double *lane) {
  double t[LANES];
  memcpy(t, lane, sizeof t);
  for (int w = LANES / 2; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) t[j] = t[2 * j] + t[2 * j + 1];
  return t[0];
}

static double ref_reduce(const double *x, const double *y, int64_t n,
                         int workers) {
  int parts = n < workers ? (int)n : workers;
  double total = 0;
  for (int p = 0; p < parts; p++) {
    double lane[LANES] = {0};
    int64_t lo = bt__part_start(n, parts, p),
            hi = bt__part_start(n, parts, p + 1);
    for (int64_t i = lo; i < hi; i++)
      lane[(i - lo) % LANES] += y ? x[i] * y[i] : x[i];
    total += tree(lane);
  }
  return total;
}

static double ref_loose_dot(const double *x, const double *y, int64_t n) {
  long double s = 0;
  for (int64_t i = 0; i < n; i++) s += (long double)x[i] * (y ? y[i] : 1.0);
  return (double)s;
}

/* ---- one level, every kernel --------------------------------------------- */

static const int64_t lengths[] = {1, 15, 16, 17, 33, 1000, 4099};
enum { NLENGTHS = sizeof lengths / sizeof lengths[0] };
static const int worker_counts[] = {1, 3};

static void check_vectors(bt_runtime *rt, int workers) {
  for (int l = 0; l < NLENGTHS; l++) {
    int64_t n = lengths[l];
    double *va = bt_test_random_values(n), *vb = bt_test_random_values(n),
           *vc = bt_test_random_values(n), *got = bt_test_random_values(n);
    bt_array *a = vector(rt, n, va), *b = vector(rt, n, vb),
             *c = vector(rt, n, vc);
    /* elementwise: the same operations as the serial loops, exactly */
    BT_CHECK_OK(bt_nstream(rt, a, b, c, 3.0));
    for (int64_t i = 0; i < n; i++) va[i] += vb[i] + 3.0 * vc[i];
    values(a, got, n);
    check_same(got, va, n);
    BT_CHECK_OK(bt_axpy(rt, -0.75, b, a));
    for (int64_t i = 0; i < n; i++) va[i] += -0.75 * vb[i];
    values(a, got, n);
    check_same(got, va, n);
    /* reductions: the documented order, bit for bit */
    double dot, sum, nrm;
    BT_CHECK_OK(bt_dot(rt, a, b, &dot));
    BT_CHECK(same_bits(dot, ref_reduce(va, vb, n, workers)));
    BT_CHECK_NEAR(dot, ref_loose_dot(va, vb, n), 1e-13 * (double)n);
    BT_CHECK_OK(bt_sum(rt, a, &sum));
    BT_CHECK(same_bits(sum, ref_reduce(va, NULL, n, workers)));
    BT_CHECK_NEAR(sum, ref_loose_dot(va, NULL, n), 1e-13 * (double)n);
    BT_CHECK_OK(bt_nrm2(rt, a, &nrm));
    BT_CHECK(same_bits(nrm, sqrt(ref_reduce(va, va, n, workers))));
    /* a huge value in the middle sends its block down the element path */
    double kept = va[n / 2];
    va[n / 2] = 1e300;
    bt_array *h = vector(rt, n, va);
    va[n / 2] = kept;
    BT_CHECK_OK(bt_nrm2(rt, h, &nrm));
    BT_CHECK_NEAR(nrm / 1e300, 1.0, 1e-15); /* the rest is below 1e-290 */
    bt_array_release(h);
    /* the solver updates (blas1.c), plain and aliased */
    BT_CHECK_OK(bt_waxpby(rt, 1.25, a, -0.5, b, c));
    for (int64_t i = 0; i < n; i++) vc[i] = 1.25 * va[i] + -0.5 * vb[i];
    values(c, got, n);
    check_same(got, vc, n);
    BT_CHECK_OK(bt_axpby(rt, 0.75, a, 2.0, c)); /* c = 0.75 a + 2 c */
    for (int64_t i = 0; i < n; i++) vc[i] = 0.75 * va[i] + 2.0 * vc[i];
    values(c, got, n);
    check_same(got, vc, n);
    BT_CHECK_OK(bt_waxpby(rt, 3.0, c, 0.5, b, c)); /* c = 3 c + 0.5 b */
    for (int64_t i = 0; i < n; i++) vc[i] = 3.0 * vc[i] + 0.5 * vb[i];
    values(c, got, n);
    check_same(got, vc, n);
    BT_CHECK_OK(bt_scal(rt, -1.5, c));
    for (int64_t i = 0; i < n; i++) vc[i] *= -1.5;
    values(c, got, n);
    check_same(got, vc, n);
    BT_CHECK_OK(bt_copy(rt, c, b));
    values(b, got, n);
    check_same(got, vc, n);
    BT_CHECK_OK(bt_fill(rt, c, -2.5));
    values(c, got, n);
    for (int64_t i = 0; i < n; i++) BT_CHECK(got[i] == -2.5);
    free(va), free(vb), free(vc), free(got);
    bt_array_release(a), bt_array_release(b), bt_array_release(c);
  }
}

/* The stencil's taps in order k = 1..r, one rounding each. */
static void ref_stencil(int r, const double *in, double *out, int64_t m,
                        int64_t n) {
  for (int64_t i = r; i < m - r; i++)
    for (int64_t j = r; j < n - r; j++)
      for (int k = 1; k <= r; k++) {
        double w = 1.0 / (2.0 * k * r);
        out[i * n + j] += w * ((in[i * n + j + k] - in[i * n + j - k]) +
                               (in[(i + k) * n + j] - in[(i - k) * n + j]));
      }
}

static void check_matrices(bt_runtime *rt) {
  static const int64_t dims[][2] = {{37, 53}, {70, 41}, {11, 12}};
  for (int s = 0; s < 3; s++) {
    int64_t m = dims[s][0], n = dims[s][1];
    for (int r = 1; r <= 5; r++) { /* 1-4 unrolled, 5 the general loop */
      if (2 * r + 1 > m || 2 * r + 1 > n) continue;
      double *vin = bt_test_random_values(m * n),
             *vout = bt_test_random_values(m * n),
             *got = bt_test_random_values(m * n);
      bt_array *in = matrix(rt, m, n, vin), *out = matrix(rt, m, n, vout);
      BT_CHECK_OK(bt_stencil(rt, r, in, out));
      ref_stencil(r, vin, vout, m, n);
      values(out, got, m * n);
      check_same(got, vout, m * n);
      free(vin), free(vout), free(got);
      bt_array_release(in), bt_array_release(out);
    }
  }
  /* transpose: full tiles (the SIMD tile) beside partial ones */
  static const int64_t tdims[][2] = {{100, 67}, {64, 96}, {5, 130}};
  for (int s = 0; s < 3; s++) {
    int64_t m = tdims[s][0], n = tdims[s][1];
    double *va = bt_test_random_values(m * n),
           *vb = bt_test_random_values(m * n),
           *got = bt_test_random_values(m * n);
    bt_array *a = matrix(rt, m, n, va), *b = matrix(rt, n, m, vb);
    BT_CHECK_OK(bt_transpose(rt, a, b));
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < m; j++) vb[i * m + j] += va[j * n + i];
    values(b, got, m * n);
    check_same(got, vb, m * n);
    free(va), free(vb), free(got);
    bt_array_release(a), bt_array_release(b);
  }
}

/* bt_stencil_apply's two dense paths: a 2-D star of 5 points (groups of
 * four, then one) and the 3-D 27-point box; each sum left to right in the
 * documented order, so exact. */
static void check_stencil_apply(bt_runtime *rt) {
  int64_t m = 37, n = 53;
  static const int star[5][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}};
  static const double sw[5] = {-4.0, 1.5, 0.75, 1.25, 0.5};
  double *vin = bt_test_random_values(m * n),
         *vout = bt_test_random_values(m * n),
         *got = bt_test_random_values(m * n);
  bt_array *in = matrix(rt, m, n, vin), *out = matrix(rt, m, n, vout);
  BT_CHECK_OK(bt_stencil_apply(rt, 5, &star[0][0], sw, in, out));
  for (int64_t i = 1; i < m - 1; i++)
    for (int64_t j = 1; j < n - 1; j++) {
      double acc = 0;
      for (int k = 0; k < 5; k++) {
        double t = sw[k] * vin[(i + star[k][0]) * n + j + star[k][1]];
        acc = k == 0 ? t : acc + t;
      }
      vout[i * n + j] = acc;
    }
  values(out, got, m * n);
  check_same(got, vout, m * n);
  free(vin), free(vout), free(got);
  bt_array_release(in), bt_array_release(out);

  int64_t shape[3] = {9, 10, 11}, cells = 9 * 10 * 11;
  int box[27][3];
  double bw[27];
  for (int q = 0; q < 27; q++) {
    box[q][0] = q / 9 - 1, box[q][1] = q / 3 % 3 - 1, box[q][2] = q % 3 - 1;
    bw[q] = bt_test_uniform();
  }
  vin = bt_test_random_values(cells), vout = bt_test_random_values(cells);
  got = bt_test_random_values(cells);
  bt_array *in3 = NULL, *out3 = NULL;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 3, shape, BT_PLACE_BLOCKS, &in3));
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 3, shape, BT_PLACE_BLOCKS, &out3));
  bt_slice sl;
  bt_view v;
  BT_CHECK_OK(bt_array_own(in3, NULL, 0, &sl));
  BT_CHECK_OK(bt_slice_view(sl, &v));
  memcpy(v.data, vin, sizeof *vin * (size_t)cells);
  BT_CHECK_OK(bt_slice_release(sl));
  BT_CHECK_OK(bt_array_own(out3, NULL, 0, &sl));
  BT_CHECK_OK(bt_slice_view(sl, &v));
  memcpy(v.data, vout, sizeof *vout * (size_t)cells);
  BT_CHECK_OK(bt_slice_release(sl));
  BT_CHECK_OK(bt_stencil_apply(rt, 27, &box[0][0], bw, in3, out3));
  for (int64_t z = 1; z < 8; z++)
    for (int64_t y = 1; y < 9; y++)
      for (int64_t x = 1; x < 10; x++) {
        double acc = 0;
        for (int q = 0; q < 27; q++) {
          double t =
              bw[q] *
              vin[((z + box[q][0]) * 10 + y + box[q][1]) * 11 + x + box[q][2]];
          acc = q == 0 ? t : acc + t;
        }
        vout[(z * 10 + y) * 11 + x] = acc;
      }
  values(out3, got, cells);
  check_same(got, vout, cells);
  free(vin), free(vout), free(got);
  bt_array_release(in3), bt_array_release(out3);
}

/* A strided operand: the walk's element loops beside the SIMD runs. */
static void check_strided(bt_runtime *rt) {
  int64_t shape[2] = {37, 53}, strides[2] = {1, 37};
  double *buf = bt_test_random_values(37 * 53),
         *vx = bt_test_random_values(37 * 53);
  double *want = malloc(sizeof *want * 37 * 53),
         *got = bt_test_random_values(37 * 53);
  bt_array *y, *x = matrix(rt, 37, 53, vx);
  BT_CHECK_OK(bt_array_wrap(rt, buf, BT_F64, 2, shape, strides, &y));
  for (int64_t i = 0; i < 37; i++)
    for (int64_t j = 0; j < 53; j++)
      want[i * 53 + j] = buf[i + j * 37] + 2.0 * vx[i * 53 + j];
  BT_CHECK_OK(bt_axpy(rt, 2.0, x, y));
  for (int64_t i = 0; i < 37; i++)
    for (int64_t j = 0; j < 53; j++) got[i * 53 + j] = buf[i + j * 37];
  check_same(got, want, 37 * 53);
  double total;
  BT_CHECK_OK(bt_sum(rt, y, &total));
  BT_CHECK_NEAR(total, ref_loose_dot(want, NULL, 37 * 53), 1e-12 * 37 * 53);
  bt_array_release(x), bt_array_release(y);
  free(buf), free(vx), free(want), free(got);
}

/* The level called `name` in this build, or -1. */
static int level_named(const char *name) {
  for (int l = 0; l < bt__simd_levels(); l++)
    if (strcmp(bt__simd_level_name(l), name) == 0) return l;
  return -1;
}

static void run_level(int level, const char *name) {
  const char *why = NULL;
  if (level < 0) {
    printf("SKIP: this build has no %s level (it has %s..%s)\n", name,
           bt__simd_level_name(0), bt__simd_level_name(bt__simd_levels() - 1));
    fflush(stdout);
    exit(SKIP);
  }
  if (!bt__simd_level_supported(level, &why)) {
    printf("SKIP: this CPU cannot run the %s level: it lacks %s\n", name, why);
    fflush(stdout);
    exit(SKIP);
  }
  BT_CHECK_OK(bt__simd_force(level));
  BT_CHECK_EQ(bt__simd_level(), level);
  for (size_t w = 0; w < sizeof worker_counts / sizeof worker_counts[0]; w++) {
    bt_runtime *rt = bt_test_runtime(worker_counts[w]);
    check_vectors(rt, worker_counts[w]);
    check_matrices(rt);
    check_stencil_apply(rt);
    check_strided(rt);
    BT_CHECK_OK(bt_runtime_destroy(rt));
  }
}

BT_TEST(baseline_matches_reference) {
  run_level(0, bt__simd_level_name(0));
}
BT_TEST(sse2_matches_reference) {
  run_level(level_named("sse2"), "sse2");
}
BT_TEST(avx2_matches_reference) {
  run_level(level_named("avx2"), "avx2");
}
BT_TEST(avx512_matches_reference) {
  run_level(level_named("avx512"), "avx512");
}

/* Every level this CPU runs gives the bits of level 0. */
BT_TEST(levels_agree_bitwise) {
  bt_runtime *rt = bt_test_runtime(3);
  int64_t n = 10007, m = 61, k = 45;
  double *vx = bt_test_random_values(n), *vy = bt_test_random_values(n);
  double *vin = bt_test_random_values(m * k);
  bt_array *x = vector(rt, n, vx), *y = vector(rt, n, vy);
  bt_array *in = matrix(rt, m, k, vin);
  double first[3] = {0}, *out0 = bt_test_random_values(m * k),
         *out = bt_test_random_values(m * k);
  int ran = 0;
  for (int l = 0; l < bt__simd_levels(); l++) {
    if (!bt__simd_level_supported(l, NULL)) continue;
    BT_CHECK_OK(bt__simd_force(l));
    double r[3];
    BT_CHECK_OK(bt_dot(rt, x, y, &r[0]));
    BT_CHECK_OK(bt_sum(rt, x, &r[1]));
    BT_CHECK_OK(bt_nrm2(rt, y, &r[2]));
    bt_array *o = matrix(rt, m, k, vin);
    BT_CHECK_OK(bt_stencil(rt, 3, in, o));
    values(o, l == 0 ? out0 : out, m * k);
    bt_array_release(o);
    if (l == 0) {
      memcpy(first, r, sizeof r);
    } else {
      for (int i = 0; i < 3; i++) BT_CHECK(same_bits(r[i], first[i]));
      check_same(out, out0, m * k);
    }
    ran++;
  }
  printf("%d level(s) compared\n", ran);
  BT_CHECK(ran >= 1);
  free(vx), free(vy), free(vin), free(out0), free(out);
  bt_array_release(x), bt_array_release(y), bt_array_release(in);
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* The BATON_SIMD rule on every kind of value, for a CPU that supports
 * levels up to `supported`. */
BT_TEST(simd_env_rule) {
  int top = bt__simd_levels() - 1;
  char why[256];
  int valid;
  static const char *const autos[] = {NULL, "", "auto", "AUTO"};
  for (int i = 0; i < 4; i++) {
    BT_CHECK_EQ(bt__simd_parse(autos[i], top, &valid, why, sizeof why), top);
    BT_CHECK_EQ(valid, 1);
  }
  for (int l = 0; l <= top; l++) {
    const char *name = bt__simd_level_name(l);
    /* supported: that level */
    BT_CHECK_EQ(bt__simd_parse(name, top, &valid, why, sizeof why), l);
    BT_CHECK_EQ(valid, 1);
    /* not supported: the highest supported, said so */
    if (l > 0) {
      BT_CHECK_EQ(bt__simd_parse(name, l - 1, &valid, why, sizeof why), l - 1);
      BT_CHECK_EQ(valid, 1);
      BT_CHECK(strstr(why, "lacks") != NULL);
    }
  }
  static const char *const garbage[] = {"avx1024", "fast", "2", " avx2"};
  for (int i = 0; i < 4; i++) {
    BT_CHECK_EQ(bt__simd_parse(garbage[i], top, &valid, why, sizeof why), top);
    BT_CHECK_EQ(valid, 0);
    BT_CHECK(strstr(why, "is not auto, sse2, avx2 or avx512") != NULL);
  }
  /* names of levels this build may lack are valid, not garbage */
  BT_CHECK_EQ(bt__simd_parse("avx512", 0, &valid, why, sizeof why), 0);
  BT_CHECK_EQ(valid, 1);
  BT_CHECK_STATUS(bt__simd_force(-1), BT_EINVAL);
  BT_CHECK_STATUS(bt__simd_force(top + 1), BT_EINVAL);
}
