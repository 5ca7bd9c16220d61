/* common.c: timing, statistics and output of the benchmarks. */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void) { return (double)bench_now_ns() * 1e-9; }

int64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
  if (n <= 0) return 0.0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double ratio_of(double value, double baseline, int higher_is_better) {
  if (value <= 0 || baseline <= 0) return 0.0;
  return higher_is_better ? value / baseline : baseline / value;
}

void bench_result(const char *bench, const char *variant, int workers,
                  int ranks, long long size, const char *metric,
                  double value, double baseline, int higher_is_better) {
  printf("RESULT bench=%s variant=%s workers=%d ranks=%d size=%lld "
         "metric=%s value=%.6g baseline=%.6g ratio=%.4g\n",
         bench, variant, workers, ranks, size, metric, value, baseline,
         ratio_of(value, baseline, higher_is_better));
  fflush(stdout);
}

void bench_table_header(const char *title) {
  printf("\n%s\n%-36s %-8s %14s %14s %8s\n", title, "measurement", "unit",
         "baton", "baseline", "ratio");
}

void bench_table_row(const char *what, const char *unit, double baton,
                     double baseline, int higher_is_better) {
  printf("%-36s %-8s %14.4g %14.4g %7.2fx\n", what, unit, baton, baseline,
         ratio_of(baton, baseline, higher_is_better));
  fflush(stdout);
}

void bench_die(const char *expr, int rc, const char *file, int line) {
  fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", file, line, expr,
          bt_status_name(rc), bt_errmsg());
  exit(1);
}

long bench_opt(int argc, char **argv, const char *name, long dflt) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
        argv[i][2 + n] == '=')
      return strtol(argv[i] + 3 + n, NULL, 0);
  return dflt;
}

int bench_quick(int argc, char **argv) {
  const char *q = getenv("BATON_BENCH_QUICK");
  return bench_opt(argc, argv, "quick", q && q[0] == '1') != 0;
}
