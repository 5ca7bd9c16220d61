/* SPDX-License-Identifier: BSD-3-Clause */
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

#ifndef BATON_BENCH_COMMIT
#define BATON_BENCH_COMMIT "unknown"
#endif
#ifndef BATON_BENCH_BUILD_TYPE
#define BATON_BENCH_BUILD_TYPE "unknown"
#endif
#if defined(__clang__)
#define BENCH_COMPILER "clang-" __clang_version__
#elif defined(__GNUC__)
#define BENCH_COMPILER "gcc-" __VERSION__
#else
#define BENCH_COMPILER "unknown"
#endif

/* A value for a RESULT field: no spaces, commas or '='. */
static void field_copy(char *dst, size_t cap, const char *src) {
  size_t n = 0;
  int gap = 0;
  for (; src && *src && n + 1 < cap; src++) {
    unsigned char c = (unsigned char)*src;
    if (c <= ' ' || c == ',' || c == '=' || c >= 127) {
      gap = n > 0;
      continue;
    }
    if (gap && n + 2 < cap) dst[n++] = '_';
    gap = 0;
    dst[n++] = (char)c;
  }
  dst[n] = 0;
  if (n == 0 && cap > 7) strcpy(dst, "unknown");
}

/* "model name" of /proc/cpuinfo (x86), else "CPU part"/"Model" (Arm). */
static void cpu_model(char *dst, size_t cap) {
  char line[256];
  const char *value = NULL;
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0 ||
        strncmp(line, "cpu model", 9) == 0) {
      char *colon = strchr(line, ':');
      if (colon) {
        value = colon + 1;
        break;
      }
    }
  }
  field_copy(dst, cap, value);
  if (f) fclose(f);
}

/* --quick on the command line (any benchmark's spelling) or
 * BATON_BENCH_QUICK=1. */
static int quick_run(void) {
  const char *q = getenv("BATON_BENCH_QUICK");
  if (q && q[0] == '1') return 1;
  char args[4096];
  FILE *f = fopen("/proc/self/cmdline", "r");
  if (!f) return 0;
  size_t n = fread(args, 1, sizeof args - 1, f);
  fclose(f);
  args[n] = 0;
  for (size_t i = 0; i < n; i += strlen(args + i) + 1)
    if (strcmp(args + i, "--quick") == 0 ||
        strcmp(args + i, "--quick=1") == 0)
      return 1;
  return 0;
}

static char bench_meta[1024];
static char bench_baseline_name[128];

void bench_set_baseline(const char *name) {
  bench_baseline_name[0] = 0;
  if (name && name[0])
    field_copy(bench_baseline_name, sizeof bench_baseline_name, name);
}

static const char *result_meta(void) {
  if (!bench_meta[0]) {
    char commit[64], compiler[96], build[32], cpu[160], date[32];
    field_copy(commit, sizeof commit, BATON_BENCH_COMMIT);
    field_copy(compiler, sizeof compiler, BENCH_COMPILER);
    field_copy(build, sizeof build, BATON_BENCH_BUILD_TYPE);
    cpu_model(cpu, sizeof cpu);
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
    snprintf(bench_meta, sizeof bench_meta,
             "commit=%s compiler=%s build=%s cpu=%s date=%s quick=%d", commit,
             compiler, build, cpu, date, quick_run());
  }
  return bench_meta;
}

void bench_result(const char *bench, const char *variant, int workers,
                  int ranks, long long size, const char *metric,
                  double value, double baseline, int higher_is_better) {
  printf("RESULT bench=%s variant=%s workers=%d ranks=%d size=%lld "
         "metric=%s value=%.6g baseline=%.6g ratio=%.4g%s%s %s\n",
         bench, variant, workers, ranks, size, metric, value, baseline,
         ratio_of(value, baseline, higher_is_better),
         bench_baseline_name[0] ? " baseline_name=" : "",
         bench_baseline_name, result_meta());
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

const char *bench_opt_str(int argc, char **argv, const char *name,
                          const char *dflt) {
  size_t n = strlen(name);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--", 2) == 0 && strncmp(argv[i] + 2, name, n) == 0 &&
        argv[i][2 + n] == '=')
      return argv[i] + 3 + n;
  return dflt;
}

long bench_opt(int argc, char **argv, const char *name, long dflt) {
  const char *v = bench_opt_str(argc, argv, name, NULL);
  return v ? strtol(v, NULL, 0) : dflt;
}

int bench_quick(int argc, char **argv) {
  /* A bare --quick counts: read as an unknown option, it once ran a smoke
   * test at full size. */
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--quick") == 0) return 1;
  const char *q = getenv("BATON_BENCH_QUICK");
  return bench_opt(argc, argv, "quick", q && q[0] == '1') != 0;
}
