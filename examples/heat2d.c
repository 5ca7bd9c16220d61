/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * heat2d: the explicit 2-D heat equation on one node, with pinned workers
 * working on owned slices of the grid (the numerics: heat2d.h). The version
 * across MPI ranks is mpi_heat2d.c.
 *
 *   heat2d [--n 2048] [--iterations 3500] [--workers 0] [--out heat2d.png]
 *          [--every K] [--check] [--quiet]
 *
 * Prints the residual as it goes, a summary (GF/s, GB/s), baton's median
 * step beside the median step of a plain C loop on one thread, a RESULT line
 * for benchmarks/run, and writes a PNG of the final field.
 */
#include "heat2d.h"

static int run(const heat_opts *o) {
  bt_options bo = BT_OPTIONS_DEFAULT;
  bo.workers = o->workers;
  bt_runtime *rt;
  int rc = bt_runtime_create(&bo, &rt);
  if (rc != BT_OK) {
    fprintf(stderr, "heat2d: runtime: %s (%s)\n", bt_strerror(rc), bt_errmsg());
    return 1;
  }
  static heat_grid g; /* the per-worker partial sums make it large */
  double *field = NULL, *residuals = NULL, *step_times = NULL;
  long nres = 0, n = o->n;
  int status = 1;
  rc = heat_grid_init(&g, rt, n, 0, n);
  if (rc != BT_OK) goto out;
  residuals =
      malloc((size_t)(o->iterations / o->every + 2) * sizeof *residuals);
  if (!residuals) goto out;
  if (!o->quiet)
    printf("heat2d: %ld x %ld grid, %ld steps, %d workers%s\n", n, n,
           o->iterations, g.workers,
           bt_runtime_oversubscribed(rt) ? " (oversubscribed)" : "");

  step_times = malloc((size_t)(o->iterations + 1) * sizeof *step_times);
  if (!step_times) goto out;
  double t0 = heat_now(), sumsq = 0.0;
  for (long k = 1; k <= o->iterations; k++) {
    double ts = heat_now();
    rc = heat_step(&g, &sumsq);
    step_times[k - 1] = heat_now() - ts;
    if (rc != BT_OK) goto out;
    if (k % o->every == 0 || k == o->iterations) {
      residuals[nres++] = sqrt(sumsq);
      if (!o->quiet)
        printf("  step %6ld  residual %.6e  %8.3f s\n", k, sqrt(sumsq),
               heat_now() - t0);
    }
  }
  double seconds = heat_now() - t0;

  /* Throughput over the whole run, then baton's median step beside the
   * median step of the same loop on one thread (the baseline). */
  double cells = (double)(n - 2) * (double)(n - 2);
  double step = heat_median(step_times, o->iterations);
  double base_step = heat_baseline(&g, o->iterations < 50 ? o->iterations : 50);
  double gflops = seconds > 0 ? HEAT_FLOPS_PER_POINT * cells *
                                    (double)o->iterations / seconds * 1e-9
                              : 0.0;
  double gbytes = gflops / HEAT_FLOPS_PER_POINT * HEAT_BYTES_PER_POINT;
  double step_gflops =
      step > 0 ? HEAT_FLOPS_PER_POINT * cells / step * 1e-9 : 0;
  double base_gflops =
      base_step > 0 ? HEAT_FLOPS_PER_POINT * cells / base_step * 1e-9 : 0.0;
  double ratio = base_gflops > 0 ? step_gflops / base_gflops : 0.0;
  printf(
      "heat2d: %ld steps in %.3f s: %.3f GF/s, %.3f GB/s, final residual "
      "%.6e\n",
      o->iterations, seconds, gflops, gbytes, nres ? residuals[nres - 1] : 0.0);
  printf(
      "median step: baton %.3f ms (%.3f GF/s), plain C loop on one thread "
      "%.3f ms (%.3f GF/s): baton/baseline %.2fx\n",
      step * 1e3, step_gflops, base_step * 1e3, base_gflops, ratio);
  printf(
      "RESULT bench=heat2d variant=plain-loop workers=%d ranks=1 size=%ld "
      "metric=GF/s value=%.6g baseline=%.6g ratio=%.4g\n",
      g.workers, n, step_gflops, base_gflops, ratio);
  fflush(stdout);

  int want_png = o->out[0] && strcmp(o->out, "none") != 0;
  if (want_png || o->check) {
    field = malloc((size_t)n * (size_t)n * sizeof *field);
    if (!field) goto out;
    rc = heat_copy_rows(&g, 1, n + 1, field);
    if (rc != BT_OK) goto out;
  }
  status = 0;
  if (want_png) {
    if (heat_field_png(o->out, field, n) == 0)
      printf("wrote %s\n", o->out);
    else {
      perror(o->out);
      status = 1;
    }
  }
  if (o->check && heat_check(field, n, o->iterations, residuals, nres) != 0)
    status = 1;
out:
  if (rc != BT_OK && bt_errmsg()[0])
    fprintf(stderr, "heat2d: %s: %s\n", bt_strerror(rc), bt_errmsg());
  free(field);
  free(step_times);
  free(residuals);
  heat_grid_destroy(&g);
  bt_runtime_destroy(rt);
  return status;
}

int main(int argc, char **argv) {
  heat_opts o = {
      .n = 2048, .iterations = 3500, .workers = 0, .out = "heat2d.png"};
  int p = heat_parse(argc, argv, &o);
  if (p != 0) {
    heat_usage(argv[0], &o);
    return p > 0 ? 0 : 2;
  }
  return run(&o);
}
