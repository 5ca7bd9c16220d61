/* SPDX-License-Identifier: BSD-3-Clause */
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

static void copy(double *restrict y, const double *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i];
}

static void scal(double *restrict x, double alpha, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= alpha;
}

/* x and y may be one array (only read): not restrict. */
static void waxpby(double *restrict w, const double *x, const double *y,
                   double alpha, double beta, int64_t n) {
  for (int64_t i = 0; i < n; i++) w[i] = alpha * x[i] + beta * y[i];
}

static void axpby_in(double *restrict w, const double *restrict y, double alpha,
                     double beta, int64_t n) {
  for (int64_t i = 0; i < n; i++) w[i] = alpha * w[i] + beta * y[i];
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

/* ---- stencil_apply.c's row loops ------------------------------------------
 */

/* With 16 vector registers (SSE2, AVX2) one input row a pass, three taps,
 * so that the weights stay in registers; with AVX-512's 32 one pass with
 * all 27. Both add the terms in the same order: the same bits. Figures in
 * kernels/stencil_apply.c. */
static void box27_row(double *restrict o, const double *const *r,
                      const double *restrict w, int64_t n) {
#if defined(__AVX512F__)
  /* 32 vector registers hold the 27 weights: one pass, the same order. */
  const double *restrict a0 = r[0], *restrict a1 = r[1], *restrict a2 = r[2],
                         *restrict a3 = r[3], *restrict a4 = r[4],
                         *restrict a5 = r[5], *restrict a6 = r[6],
                         *restrict a7 = r[7], *restrict a8 = r[8];
  for (int64_t j = 0; j < n; j++) {
    double s = w[0] * a0[j - 1] + w[1] * a0[j] + w[2] * a0[j + 1];
    s = s + w[3] * a1[j - 1] + w[4] * a1[j] + w[5] * a1[j + 1];
    s = s + w[6] * a2[j - 1] + w[7] * a2[j] + w[8] * a2[j + 1];
    s = s + w[9] * a3[j - 1] + w[10] * a3[j] + w[11] * a3[j + 1];
    s = s + w[12] * a4[j - 1] + w[13] * a4[j] + w[14] * a4[j + 1];
    s = s + w[15] * a5[j - 1] + w[16] * a5[j] + w[17] * a5[j + 1];
    s = s + w[18] * a6[j - 1] + w[19] * a6[j] + w[20] * a6[j + 1];
    s = s + w[21] * a7[j - 1] + w[22] * a7[j] + w[23] * a7[j + 1];
    s = s + w[24] * a8[j - 1] + w[25] * a8[j] + w[26] * a8[j + 1];
    o[j] = s;
  }
#else
  for (int q = 0; q < 9; q++) {
    const double *restrict a = r[q];
    const double v0 = w[3 * q], v1 = w[3 * q + 1], v2 = w[3 * q + 2];
    if (q == 0) {
      for (int64_t j = 0; j < n; j++)
        o[j] = v0 * a[j - 1] + v1 * a[j] + v2 * a[j + 1];
    } else {
      for (int64_t j = 0; j < n; j++)
        o[j] = o[j] + v0 * a[j - 1] + v1 * a[j] + v2 * a[j + 1];
    }
  }
#endif
}

/* Generic path: for one output run of n points, the stencil points four
 * at a time (one pass over the run per group). delta[k] is point k's
 * offset in in's elements. Each sum is formed left to right in the order
 * the points were given, as a serial loop over them would. */
static void stencil_group(double *restrict o, const double *c,
                          const int64_t *delta, const double *w, int cnt,
                          int first, int64_t n) {
  const double *restrict p0 = c + delta[0];
  const double w0 = w[0];
  if (cnt == 4) {
    const double *restrict p1 = c + delta[1], *restrict p2 = c + delta[2],
                           *restrict p3 = c + delta[3];
    const double w1 = w[1], w2 = w[2], w3 = w[3];
    if (first)
      for (int64_t j = 0; j < n; j++)
        o[j] = w0 * p0[j] + w1 * p1[j] + w2 * p2[j] + w3 * p3[j];
    else
      for (int64_t j = 0; j < n; j++)
        o[j] = o[j] + w0 * p0[j] + w1 * p1[j] + w2 * p2[j] + w3 * p3[j];
  } else if (cnt == 3) {
    const double *restrict p1 = c + delta[1], *restrict p2 = c + delta[2];
    const double w1 = w[1], w2 = w[2];
    if (first)
      for (int64_t j = 0; j < n; j++)
        o[j] = w0 * p0[j] + w1 * p1[j] + w2 * p2[j];
    else
      for (int64_t j = 0; j < n; j++)
        o[j] = o[j] + w0 * p0[j] + w1 * p1[j] + w2 * p2[j];
  } else if (cnt == 2) {
    const double *restrict p1 = c + delta[1];
    const double w1 = w[1];
    if (first)
      for (int64_t j = 0; j < n; j++) o[j] = w0 * p0[j] + w1 * p1[j];
    else
      for (int64_t j = 0; j < n; j++) o[j] = o[j] + w0 * p0[j] + w1 * p1[j];
  } else {
    if (first)
      for (int64_t j = 0; j < n; j++) o[j] = w0 * p0[j];
    else
      for (int64_t j = 0; j < n; j++) o[j] = o[j] + w0 * p0[j];
  }
}

/* ---- transpose ------------------------------------------------------------
 * A tile of at most TILE x TILE, b[i][j] += a[j][i]: one addition per
 * element, so every way of doing it gives the same bits.
 *
 * With AVX (the avx2 and avx512 levels) 4 x 4 blocks go through registers:
 * four rows of a loaded whole (contiguous), transposed with two unpacks and
 * a lane permute per pair, added to four rows of b; the edges of a tile
 * whose sides are not multiples of 4 take the plain loop. Measured (one
 * thread, the 2-core EPYC VM, n=316, loaded): 23.9 us per transpose against
 * 31.1 us for the plain loop the compiler vectorized (2-wide strided loads,
 * what the avx512 level ran before) and 28.0 us for the same loop built
 * -O3 -march=native (4-wide); n=1000: 338 against 651 and 578 us. The
 * 4 x 4 blocks written in plain C, which the compiler was left to turn into
 * shuffles, lost to the plain loop at avx512 (0.78x of OpenMP against
 * 0.97-0.99x, fifth session).
 * Without AVX (sse2): full tiles in 4 x 4 blocks of plain C, edge tiles the
 * plain loop. */

#if defined(__AVX__)
#include <immintrin.h>

BT_SIMD_INLINE void transpose_block4(double *restrict b, int64_t bs0,
                                     const double *restrict a, int64_t as0) {
  __m256d r0 = _mm256_loadu_pd(a), r1 = _mm256_loadu_pd(a + as0),
          r2 = _mm256_loadu_pd(a + 2 * as0), r3 = _mm256_loadu_pd(a + 3 * as0);
  /* t0 = a00 a10 a02 a12, t1 = a01 a11 a03 a13, t2, t3 the same of rows 2, 3 */
  __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1),
          t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  /* column k of the block: a0k a1k a2k a3k, row k of b's block */
  __m256d c0 = _mm256_permute2f128_pd(t0, t2, 0x20),
          c1 = _mm256_permute2f128_pd(t1, t3, 0x20),
          c2 = _mm256_permute2f128_pd(t0, t2, 0x31),
          c3 = _mm256_permute2f128_pd(t1, t3, 0x31);
  _mm256_storeu_pd(b, _mm256_add_pd(_mm256_loadu_pd(b), c0));
  _mm256_storeu_pd(b + bs0, _mm256_add_pd(_mm256_loadu_pd(b + bs0), c1));
  _mm256_storeu_pd(b + 2 * bs0,
                   _mm256_add_pd(_mm256_loadu_pd(b + 2 * bs0), c2));
  _mm256_storeu_pd(b + 3 * bs0,
                   _mm256_add_pd(_mm256_loadu_pd(b + 3 * bs0), c3));
}

static void transpose_tile(double *restrict b, int64_t bs0,
                           const double *restrict a, int64_t as0, int64_t rows,
                           int64_t cols) {
  int64_t r4 = rows & ~(int64_t)3, c4 = cols & ~(int64_t)3;
  for (int64_t i0 = 0; i0 < r4; i0 += 4)
    for (int64_t j0 = 0; j0 < c4; j0 += 4)
      transpose_block4(b + i0 * bs0 + j0, bs0, a + j0 * as0 + i0, as0);
  /* the edges: columns from c4 in the rows of the blocks, then every
   * column of the rows from r4 */
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = i < r4 ? c4 : 0; j < cols; j++)
      b[i * bs0 + j] += a[j * as0 + i];
}

#else

static void transpose_tile(double *restrict b, int64_t bs0,
                           const double *restrict a, int64_t as0, int64_t rows,
                           int64_t cols) {
  if (rows == TILE && cols == TILE) {
    for (int64_t i0 = 0; i0 < TILE; i0 += 4)
      for (int64_t j0 = 0; j0 < TILE; j0 += 4)
        for (int64_t i = 0; i < 4; i++)
          for (int64_t j = 0; j < 4; j++)
            b[(i0 + i) * bs0 + j0 + j] += a[(j0 + j) * as0 + i0 + i];
    return;
  }
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) b[i * bs0 + j] += a[j * as0 + i];
}

#endif

/* ---- the table ------------------------------------------------------------
 */

const bt__simd_ops BT_SIMD_TABLE = {
    .fill = fill,
    .nstream = nstream,
    .axpy = axpy,
    .copy = copy,
    .scal = scal,
    .waxpby = waxpby,
    .axpby_in = axpby_in,
    .dot = dot,
    .sum = sum,
    .nrm2_mid = nrm2_mid,
    .stencil_row = stencil_row,
    .box27_row = box27_row,
    .stencil_group = stencil_group,
    .transpose_tile = transpose_tile,
};
