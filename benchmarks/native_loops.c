/* SPDX-License-Identifier: BSD-3-Clause */
/* native_loops.c: the baselines of native_loops.h, built -march=native. */
#include "native_loops.h"

#include <stddef.h>
#include <stdint.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

const char *native_isa(void) {
#if defined(__AVX512F__)
  return "-march=native (AVX-512)";
#elif defined(__AVX2__)
  return "-march=native (AVX2)";
#elif defined(__SSE2__)
  return "-march=native (SSE2)";
#else
  return "-march=native";
#endif
}

void native_fill(double *restrict a, double value, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) a[i] = value;
}

void native_nstream(double *restrict a, const double *restrict b,
                    const double *restrict c, double scalar, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) a[i] += b[i] + scalar * c[i];
}

void native_axpy(double *restrict y, const double *restrict x, double alpha,
                 long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) y[i] += alpha * x[i];
}

double native_dot(const double *restrict x, const double *restrict y, long n) {
  double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
  for (long i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

double native_dot_unrolled(const double *restrict x, const double *restrict y,
                           long n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  long m = n - n % 8;
#pragma omp parallel for schedule(static) \
    reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
  for (long i = 0; i < m; i += 8) {
    s0 += x[i] * y[i];
    s1 += x[i + 1] * y[i + 1];
    s2 += x[i + 2] * y[i + 2];
    s3 += x[i + 3] * y[i + 3];
    s4 += x[i + 4] * y[i + 4];
    s5 += x[i + 5] * y[i + 5];
    s6 += x[i + 6] * y[i + 6];
    s7 += x[i + 7] * y[i + 7];
  }
  double s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  for (long i = m; i < n; i++) s += x[i] * y[i];
  return s;
}

void native_star1(double *restrict out, const double *restrict in, long n) {
  const double w = 1.0 / 2.0;
#pragma omp parallel for schedule(static)
  for (long i = 1; i < n - 1; i++)
    for (long j = 1; j < n - 1; j++)
      out[i * n + j] += w * (in[i * n + j + 1] - in[i * n + j - 1]) +
                        w * (in[(i + 1) * n + j] - in[(i - 1) * n + j]);
}

void native_stencil(double *restrict out, double *restrict in, long n, int r,
                    const double *w) {
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (long i = r; i < n - r; i++) {
      double *orow = out + i * n;
      const double *irow = in + i * n;
      for (long k = 1; k <= r; k++) {
        double wk = w[k];
        const double *up = irow - k * n, *dn = irow + k * n;
        for (long j = r; j < n - r; j++)
          orow[j] += wk * ((irow[j + k] - irow[j - k]) + (dn[j] - up[j]));
      }
    }
#pragma omp for schedule(static)
    for (long i = 0; i < n * n; i++) in[i] += 1.0;
  }
}

void native_transpose(double *restrict b, const double *restrict a, long n,
                      int tile) {
#pragma omp parallel for schedule(static)
  for (long ii = 0; ii < n; ii += tile)
    for (long jj = 0; jj < n; jj += tile) {
      long ie = ii + tile < n ? ii + tile : n,
           je = jj + tile < n ? jj + tile : n;
      for (long i = ii; i < ie; i++)
        for (long j = jj; j < je; j++) b[i * n + j] += a[j * n + i];
    }
}

/* ---- limits ----------------------------------------------------------------
 */

/* One thread's share [lo, hi) of the triad, streaming stores when asked:
 * a scalar head up to a 64-byte boundary of a, vector stores, a tail. */
static void triad_range(double *restrict a, const double *restrict b,
                        const double *restrict c, double scalar, long lo,
                        long hi, int stream) {
  long i = lo;
#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__)
  if (stream) {
    for (; i < hi && ((uintptr_t)(a + i) & 63) != 0; i++)
      a[i] = b[i] + scalar * c[i];
#if defined(__AVX512F__)
    __m512d s = _mm512_set1_pd(scalar);
    for (; i + 8 <= hi; i += 8)
      _mm512_stream_pd(a + i,
                       _mm512_add_pd(_mm512_loadu_pd(b + i),
                                     _mm512_mul_pd(s, _mm512_loadu_pd(c + i))));
#elif defined(__AVX__)
    __m256d s = _mm256_set1_pd(scalar);
    for (; i + 4 <= hi; i += 4)
      _mm256_stream_pd(a + i,
                       _mm256_add_pd(_mm256_loadu_pd(b + i),
                                     _mm256_mul_pd(s, _mm256_loadu_pd(c + i))));
#else
    __m128d s = _mm_set1_pd(scalar);
    for (; i + 2 <= hi; i += 2)
      _mm_stream_pd(a + i, _mm_add_pd(_mm_loadu_pd(b + i),
                                      _mm_mul_pd(s, _mm_loadu_pd(c + i))));
#endif
    _mm_sfence();
  }
#else
  (void)stream;
#endif
  for (; i < hi; i++) a[i] = b[i] + scalar * c[i];
}

void native_triad(double *a, const double *b, const double *c, double scalar,
                  long n, int threads, int stream) {
#pragma omp parallel num_threads(threads)
  {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    long lo = n / nt * t + (t < n % nt ? t : n % nt);
    long hi = lo + n / nt + (t < n % nt ? 1 : 0);
    triad_range(a, b, c, scalar, lo, hi, stream);
  }
}

double native_fma_peak(long rounds, int threads) {
  double flops = 0;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
  {
#if defined(__AVX512F__)
    enum { W = 8, CHAINS = 12 };
    __m512d acc[CHAINS], m = _mm512_set1_pd(1.0 + 0x1p-30),
                         d = _mm512_set1_pd(-0x1p-40);
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_set1_pd(1.0 + k);
    for (long r = 0; r < rounds; r++)
      for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_fmadd_pd(acc[k], m, d);
    __m512d t = acc[0];
    for (int k = 1; k < CHAINS; k++) t = _mm512_add_pd(t, acc[k]);
    double out[W];
    _mm512_storeu_pd(out, t);
#elif defined(__FMA__)
    enum { W = 4, CHAINS = 12 };
    __m256d acc[CHAINS], m = _mm256_set1_pd(1.0 + 0x1p-30),
                         d = _mm256_set1_pd(-0x1p-40);
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_set1_pd(1.0 + k);
    for (long r = 0; r < rounds; r++)
      for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_fmadd_pd(acc[k], m, d);
    __m256d t = acc[0];
    for (int k = 1; k < CHAINS; k++) t = _mm256_add_pd(t, acc[k]);
    double out[W];
    _mm256_storeu_pd(out, t);
#else
    enum { W = 1, CHAINS = 12 };
    double acc[CHAINS], out[W];
    for (int k = 0; k < CHAINS; k++) acc[k] = 1.0 + k;
    for (long r = 0; r < rounds; r++)
      for (int k = 0; k < CHAINS; k++)
        acc[k] = acc[k] * (1.0 + 0x1p-30) - 0x1p-40;
    out[0] = 0;
    for (int k = 0; k < CHAINS; k++) out[0] += acc[k];
#endif
    /* The result is used, so the loop is not removed. */
    if (out[0] == 12345.678) flops += 1;
    flops += 2.0 * W * CHAINS * (double)rounds;
  }
  return flops;
}
