/*
 * simd_body.h: the kernels' inner loops, written once in plain C and
 * compiled once per SIMD level: included by simd_generic.c, simd_avx2.c and
 * simd_avx512.c, each of which defines BT_SIMD_SUFFIX (the variant's name
 * in C identifiers) and is built with its level's flags (see simd.h). The
 * loops are written so that the compiler vectorizes them at every width
 * without changing an operation's order: elementwise loops, reductions
 * in BT__SIMD_LANES interleaved lanes, the stencil's taps summed in tap
 * order. Only dense runs come here; strided ones stay in the kernels' files.
 */
#ifndef BT_SIMD_SUFFIX
#error "define BT_SIMD_SUFFIX before including simd_body.h"
#endif

#include <stdint.h>

#include "simd.h"

#define BT_SIMD_CAT2_(a, b) a##b
#define BT_SIMD_CAT_(a, b) BT_SIMD_CAT2_(a, b)
/* The table's name in this variant: bt__simd_ops_<suffix>. */
#define BT_SIMD_TABLE BT_SIMD_CAT_(bt__simd_ops_, BT_SIMD_SUFFIX)

#if defined(__GNUC__) || defined(__clang__)
#define BT_SIMD_INLINE static inline __attribute__((always_inline))
#else
#define BT_SIMD_INLINE static inline
#endif

enum { LANES = BT__SIMD_LANES, TILE = BT__TRANSPOSE_TILE };

/* ---- elementwise -------------------------------------------------------- */

static void fill(double *restrict a, double value, int64_t n) {
  for (int64_t i = 0; i < n; i++) a[i] = value;
}

static void nstream(double *restrict a, const double *restrict b,
                    const double *restrict c, double scalar, int64_t n) {
  for (int64_t i = 0; i < n; i++) a[i] += b[i] + scalar * c[i];
}

static void axpy(double *restrict y, const double *restrict x, double alpha,
                 int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

/* ---- reductions: element i into lane i % LANES --------------------------- */

static void dot(const double *restrict x, const double *restrict y, int64_t n,
                double *restrict lane) {
  double acc[LANES];
  for (int j = 0; j < LANES; j++) acc[j] = lane[j];
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += x[i + j] * y[i + j];
  for (int j = 0; i + j < n; j++) acc[j] += x[i + j] * y[i + j];
  for (int j = 0; j < LANES; j++) lane[j] = acc[j];
}

static void sum(const double *restrict x, int64_t n, double *restrict lane) {
  double acc[LANES];
  for (int j = 0; j < LANES; j++) acc[j] = lane[j];
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += x[i + j];
  for (int j = 0; i + j < n; j++) acc[j] += x[i + j];
  for (int j = 0; j < LANES; j++) lane[j] = acc[j];
}

static int64_t nrm2_mid(const double *restrict x, int64_t n,
                        double *restrict lane) {
  double acc[LANES];
  for (int j = 0; j < LANES; j++) acc[j] = lane[j];
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    double sq[LANES];
    int mid = 1;
    for (int j = 0; j < LANES; j++) {
      double ax = __builtin_fabs(x[i + j]);
      /* NaN fails both tests: the caller's element path sees it. */
      mid &= (ax <= BT__NRM2_TBIG) & ((ax >= BT__NRM2_TSML) | (ax == 0.0));
      sq[j] = ax * ax;
    }
    if (!mid) break;
    for (int j = 0; j < LANES; j++) acc[j] += sq[j];
  }
  for (int j = 0; j < LANES; j++) lane[j] = acc[j];
  return i;
}

/* ---- stencil --------------------------------------------------------------
 * Each output element takes its taps in the order k = 1..r, one rounding
 * per tap, as the k-outer loop of the reference does; with r known at
 * compile time (1..4, the common radii) the taps are unrolled in the j loop
 * so the output row is read and written once instead of r times. */

BT_SIMD_INLINE void stencil_fixed(double *restrict orow,
                                  const double *restrict irow, int64_t is0,
                                  int64_t cols, const double *restrict w,
                                  const int64_t r) {
  for (int64_t j = r; j < cols - r; j++) {
    double o = orow[j];
    for (int64_t k = 1; k <= r; k++)
      o += w[k] * ((irow[j + k] - irow[j - k]) +
                   (irow[j + k * is0] - irow[j - k * is0]));
    orow[j] = o;
  }
}

static void stencil_row(double *restrict orow, const double *restrict irow,
                        int64_t is0, int64_t radius, int64_t cols,
                        const double *restrict w) {
  switch (radius) {
    case 1:
      stencil_fixed(orow, irow, is0, cols, w, 1);
      return;
    case 2:
      stencil_fixed(orow, irow, is0, cols, w, 2);
      return;
    case 3:
      stencil_fixed(orow, irow, is0, cols, w, 3);
      return;
    case 4:
      stencil_fixed(orow, irow, is0, cols, w, 4);
      return;
    default:
      break;
  }
  for (int64_t k = 1; k <= radius; k++) {
    double wk = w[k];
    const double *restrict up = irow - k * is0, *restrict dn = irow + k * is0;
    for (int64_t j = radius; j < cols - radius; j++)
      orow[j] += wk * ((irow[j + k] - irow[j - k]) + (dn[j] - up[j]));
  }
}

/* ---- transpose ------------------------------------------------------------
 * 4 x 4 blocks: four contiguous rows of a give four columns of b, which
 * the compiler turns into register shuffles instead of strided loads. */

static void transpose_tile(double *restrict b, int64_t bs0,
                           const double *restrict a, int64_t as0) {
  for (int64_t i0 = 0; i0 < TILE; i0 += 4)
    for (int64_t j0 = 0; j0 < TILE; j0 += 4)
      for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 4; j++)
          b[(i0 + i) * bs0 + j0 + j] += a[(j0 + j) * as0 + i0 + i];
}

/* ---- the table ------------------------------------------------------------
 */

const bt__simd_ops BT_SIMD_TABLE = {
    .fill = fill,
    .nstream = nstream,
    .axpy = axpy,
    .dot = dot,
    .sum = sum,
    .nrm2_mid = nrm2_mid,
    .stencil_row = stencil_row,
    .transpose_tile = transpose_tile,
};
