/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * heat2d.h: the numerics shared by examples/heat2d.c (one process) and
 * examples/mpi_heat2d.c (rows across MPI ranks): the explicit 2-D heat
 * equation on an n x n grid, its parallel step over owned slices, a serial
 * reference, the options, and a dependency-free PNG writer.
 *
 * The grid: u = 1 on the top edge, 0 on the other edges (fixed, Dirichlet),
 * three hot discs inside at t = 0. One explicit step is
 *
 *   u'[i][j] = u[i][j] + alpha (u[i-1][j] + u[i+1][j] + u[i][j-1]
 *                               + u[i][j+1] - 4 u[i][j]),   alpha = 0.2
 *
 * (stable for alpha <= 1/4). The residual of a step is the 2-norm of
 * u' - u; it never grows from one step to the next (the step is a symmetric
 * contraction on the interior), which --check verifies.
 *
 * Decomposition: a process (rank) holds global rows [g0, g0 + rows) in an
 * array of rows + 2 rows: local row 0 and row rows + 1 are ghost copies of
 * the neighbours' edge rows (unused where there is no neighbour). Each step
 * splits the output array into one owned slice per worker
 * (bt_parallel_slices); the worker borrows the rows of the input it needs,
 * its own plus one above and one below, which its neighbours read too:
 * borrows share, owns exclude.
 */
#ifndef BATON_EXAMPLE_HEAT2D_H
#define BATON_EXAMPLE_HEAT2D_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <baton.h>
#include <png.h>

#define HEAT_ALPHA 0.2
#define HEAT_FLOPS_PER_POINT 7.0  /* 4 adds, the -4u (mul, add), alpha, add */
#define HEAT_BYTES_PER_POINT 16.0 /* read u, write u' (neighbours cached) */
#define HEAT_MAX_WORKERS 1024

/* ---- options ------------------------------------------------------------ */

typedef struct heat_opts {
  long n;          /* grid side, boundary included */
  long iterations; /* explicit steps */
  int workers;     /* per process; 0: one per core of the cpuset */
  long every;      /* progress line every that many steps; 0: ~10 lines */
  const char *out; /* PNG of the final field; "" or "none": no image */
  int check;       /* compare with a serial run; exit 1 on mismatch */
  int quiet;       /* no progress lines, only the summary */
} heat_opts;

static inline void heat_usage(const char *prog, const heat_opts *d) {
  fprintf(
      stderr,
      "usage: %s [--n N] [--iterations K] [--workers W] [--out FILE.png]\n"
      "          [--every K] [--check] [--quiet]\n"
      "  --n          grid side, boundary included (default %ld)\n"
      "  --iterations explicit steps (default %ld)\n"
      "  --workers    workers per process, 0: one per core (default %d)\n"
      "  --out        PNG of the final field, 'none' for none (default %s)\n"
      "  --every      progress every K steps (default: ten lines)\n"
      "  --check      compare with a serial computation, exit 1 on mismatch\n"
      "  --quiet      print the summary only\n",
      prog, d->n, d->iterations, d->workers, d->out);
}

/* Parse "--name value" and "--name=value". Returns 0, 1 for --help, -1 on
 * a bad argument (after a message). */
static inline int heat_parse(int argc, char **argv, heat_opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
    int takes = 1;
#define HEAT_IS(name) (len == strlen(name) && strncmp(arg, name, len) == 0)
    if (HEAT_IS("--help") || HEAT_IS("-h")) return 1;
    if (HEAT_IS("--check")) {
      o->check = 1;
      takes = 0;
    } else if (HEAT_IS("--quiet")) {
      o->quiet = 1;
      takes = 0;
    } else if (!HEAT_IS("--out") && !HEAT_IS("--n") &&
               !HEAT_IS("--iterations") && !HEAT_IS("--workers") &&
               !HEAT_IS("--every")) {
      fprintf(stderr, "%s: unknown option %s\n", argv[0], arg);
      return -1;
    } else if (!val) {
      fprintf(stderr, "%s: %s wants a value\n", argv[0], arg);
      return -1;
    } else if (HEAT_IS("--out"))
      o->out = val;
    else {
      char *end;
      long v = strtol(val, &end, 10);
      if (*val == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "%s: bad value '%s' for %.*s\n", argv[0], val, (int)len,
                arg);
        return -1;
      }
      if (HEAT_IS("--n"))
        o->n = v;
      else if (HEAT_IS("--iterations"))
        o->iterations = v;
      else if (HEAT_IS("--workers"))
        o->workers = v > HEAT_MAX_WORKERS ? HEAT_MAX_WORKERS + 1 : (int)v;
      else
        o->every = v;
    }
#undef HEAT_IS
    if (takes && !eq) i++;
  }
  if (o->n < 3 || o->n > 65536) {
    fprintf(stderr, "%s: --n must be in 3..65536\n", argv[0]);
    return -1;
  }
  if (o->workers > HEAT_MAX_WORKERS) {
    fprintf(stderr, "%s: at most %d workers\n", argv[0], HEAT_MAX_WORKERS);
    return -1;
  }
  if (o->every == 0) o->every = o->iterations >= 10 ? o->iterations / 10 : 1;
  return 0;
}

static inline double heat_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the numerics ---------------------------------------------------------
 */

/* Initial value at global cell (i, j) of an n x n grid. */
static inline double heat_initial(long n, long i, long j) {
  if (i == 0) return 1.0; /* hot top edge */
  if (i == n - 1 || j == 0 || j == n - 1) return 0.0;
  static const double disc[3][3] = {/* y, x, radius */
                                    {0.35, 0.30, 0.12},
                                    {0.60, 0.68, 0.16},
                                    {0.80, 0.25, 0.08}};
  double y = (double)i / (double)(n - 1), x = (double)j / (double)(n - 1);
  for (int d = 0; d < 3; d++) {
    double dy = y - disc[d][0], dx = x - disc[d][1];
    if (dy * dy + dx * dx <= disc[d][2] * disc[d][2]) return 1.0;
  }
  return 0.0;
}

/* One output row from three input rows. Boundary rows and columns keep
 * their values. Returns the sum of squared changes. The same code serves
 * the workers, the serial reference and the baseline loop. */
static inline double heat_row(const double *restrict up,
                              const double *restrict mid,
                              const double *restrict down, double *restrict out,
                              long n, int boundary) {
  if (boundary) {
    memcpy(out, mid, (size_t)n * sizeof *out);
    return 0.0;
  }
  double sumsq = 0.0;
  out[0] = mid[0];
  for (long j = 1; j < n - 1; j++) {
    double v = mid[j] + HEAT_ALPHA * (up[j] + down[j] + mid[j - 1] +
                                      mid[j + 1] - 4.0 * mid[j]);
    double d = v - mid[j];
    out[j] = v;
    sumsq += d * d;
  }
  out[n - 1] = mid[n - 1];
  return sumsq;
}

/* A process's part of the grid: global rows [g0, g0 + rows) of n, in two
 * arrays of (rows + 2) x n (ghost rows 0 and rows + 1). */
typedef struct heat_grid {
  bt_runtime *rt;
  bt_array *u, *next; /* this step's input and output; swapped each step */
  long n, rows, g0;
  int workers;
  struct {
    double sumsq;
    char pad[64 - sizeof(double)];
  } partial[HEAT_MAX_WORKERS]; /* one per part (bt_parallel_slices makes
                                   at most one per worker), written by the
                                   worker running that part */
} heat_grid;

/* Runs on a worker: its owned rows of grid->next from the borrowed rows of
 * grid->u around them. */
static inline int heat_part(bt_slice part, int worker, void *ctx) {
  heat_grid *g = ctx;
  bt_view out, in;
  int rc = bt_slice_view(part, &out);
  if (rc != BT_OK) return rc;
  int64_t first = out.origin[0], stop = first + out.shape[0];
  bt_range need[2] = {
      {first > 0 ? first - 1 : 0, stop < g->rows + 2 ? stop + 1 : g->rows + 2},
      {0, g->n}};
  bt_slice borrowed;
  rc = bt_array_borrow(g->u, need, -1, &borrowed);
  if (rc != BT_OK) return rc;
  rc = bt_slice_view(borrowed, &in);
  if (rc != BT_OK) {
    bt_slice_release(borrowed);
    return rc;
  }
  double sumsq = 0.0;
  for (int64_t i = first; i < stop; i++) {
    if (i == 0 || i == g->rows + 1) continue; /* ghost rows: not ours */
    const double *mid =
        (const double *)in.data + (i - in.origin[0]) * in.strides[0];
    long gi = g->g0 + (long)i - 1;
    sumsq += heat_row(mid - in.strides[0], mid, mid + in.strides[0],
                      (double *)out.data + (i - first) * out.strides[0], g->n,
                      gi == 0 || gi == g->n - 1);
  }
  g->partial[worker].sumsq += sumsq;
  return bt_slice_release(borrowed);
}

/* Fill both arrays with the initial field (each worker touches its rows
 * first, so their pages sit on its NUMA node). */
static inline int heat_init_part(bt_slice part, int worker, void *ctx) {
  const heat_grid *g = ctx;
  (void)worker;
  bt_view v;
  int rc = bt_slice_view(part, &v);
  if (rc != BT_OK) return rc;
  for (int64_t r = 0; r < v.shape[0]; r++) {
    long gi = g->g0 + (long)(v.origin[0] + r) - 1;
    double *row = (double *)v.data + r * v.strides[0];
    for (long j = 0; j < g->n; j++)
      row[j] = (gi >= 0 && gi < g->n) ? heat_initial(g->n, gi, j) : 0.0;
  }
  return BT_OK;
}

/* Make the two arrays of a part of rows [g0, g0 + rows) and initialize
 * them. */
static inline int heat_grid_init(heat_grid *g, bt_runtime *rt, long n, long g0,
                                 long rows) {
  memset(g, 0, sizeof *g);
  g->rt = rt;
  g->n = n;
  g->g0 = g0;
  g->rows = rows;
  g->workers = bt_runtime_workers(rt);
  if (g->workers > HEAT_MAX_WORKERS) {
    fprintf(stderr, "heat2d: at most %d workers, not %d\n", HEAT_MAX_WORKERS,
            g->workers);
    return BT_EINVAL;
  }
  int64_t shape[2] = {rows + 2, n};
  int rc = bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &g->u);
  if (rc != BT_OK) return rc;
  rc = bt_array_create(rt, BT_F64, 2, shape, BT_PLACE_BLOCKS, &g->next);
  if (rc == BT_OK) rc = bt_parallel_slices(rt, g->u, 0, 1, heat_init_part, g);
  if (rc == BT_OK)
    rc = bt_parallel_slices(rt, g->next, 0, 1, heat_init_part, g);
  return rc;
}

static inline void heat_grid_destroy(heat_grid *g) {
  bt_array_release(g->u);
  bt_array_release(g->next);
  g->u = g->next = NULL;
}

/* One step: next = step(u), then swap. *sumsq: this process's sum of
 * squared changes. */
static inline int heat_step(heat_grid *g, double *sumsq) {
  /* Rows of the output array may still be on their way to another rank
   * (sent as slices the step before): owning the whole array waits until
   * every such region has been released. */
  bt_slice all;
  int rc = bt_array_own(g->next, NULL, -1, &all);
  if (rc != BT_OK) return rc;
  rc = bt_slice_release(all);
  if (rc != BT_OK) return rc;
  for (int w = 0; w < g->workers; w++) g->partial[w].sumsq = 0.0;
  rc = bt_parallel_slices(g->rt, g->next, 0, 1, heat_part, g);
  if (rc != BT_OK) return rc;
  double s = 0.0;
  for (int w = 0; w < g->workers; w++) s += g->partial[w].sumsq;
  bt_array *t = g->u;
  g->u = g->next;
  g->next = t;
  *sumsq = s;
  return BT_OK;
}

/* Copy a row range [first, stop) of local rows of u into dst (row-major,
 * n per row), through a borrowed slice. */
static inline int heat_copy_rows(const heat_grid *g, long first, long stop,
                                 double *dst) {
  bt_range region[2] = {{first, stop}, {0, g->n}};
  bt_slice s;
  bt_view v;
  int rc = bt_array_borrow(g->u, region, -1, &s);
  if (rc != BT_OK) return rc;
  rc = bt_slice_view(s, &v);
  for (long r = 0; rc == BT_OK && r < stop - first; r++)
    memcpy(dst + r * g->n, (const double *)v.data + r * v.strides[0],
           (size_t)g->n * sizeof *dst);
  bt_slice_release(s);
  return rc;
}

/* Write a row of n values into local row `row` of u (a ghost row). */
static inline int heat_set_row(heat_grid *g, long row, const double *src) {
  bt_range region[2] = {{row, row + 1}, {0, g->n}};
  bt_slice s;
  bt_view v;
  int rc = bt_array_own(g->u, region, -1, &s);
  if (rc != BT_OK) return rc;
  rc = bt_slice_view(s, &v);
  if (rc == BT_OK) memcpy(v.data, src, (size_t)g->n * sizeof *src);
  bt_slice_release(s);
  return rc;
}

static inline int heat_cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* The median of n values (sorts them). Step times on a shared machine have
 * a long tail; their median is what the code does when left alone. */
static inline double heat_median(double *v, long n) {
  if (n <= 0) return 0.0;
  qsort(v, (size_t)n, sizeof *v, heat_cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The baseline: the same steps on the same rows as a plain loop on one
 * thread, on private copies (one untimed step first touches them). Returns
 * the median seconds per step. */
static inline double heat_baseline(const heat_grid *g, long steps) {
  size_t cells = (size_t)(g->rows + 2) * (size_t)g->n;
  double *a = malloc(cells * sizeof *a), *b = malloc(cells * sizeof *b);
  double *times = malloc((size_t)(steps + 1) * sizeof *times);
  double median = 0.0;
  if (!a || !b || !times || heat_copy_rows(g, 0, g->rows + 2, a) != BT_OK)
    goto out;
  memcpy(b, a, cells * sizeof *a);
  double sink = 0.0;
  for (long k = -1; k < steps; k++) {
    double t0 = heat_now();
    for (long i = 1; i <= g->rows; i++) {
      long gi = g->g0 + i - 1;
      sink += heat_row(a + (i - 1) * g->n, a + i * g->n, a + (i + 1) * g->n,
                       b + i * g->n, g->n, gi == 0 || gi == g->n - 1);
    }
    if (k >= 0) times[k] = heat_now() - t0;
    double *t = a;
    a = b;
    b = t;
  }
  if (sink >= 0.0) median = heat_median(times, steps);
out:
  free(a);
  free(b);
  free(times);
  return median;
}

/* The serial reference: `steps` steps on the whole n x n grid. Returns a
 * malloc'ed field, and the residual of every step in res (steps values). */
static inline double *heat_serial(long n, long steps, double *res) {
  size_t cells = (size_t)n * (size_t)n;
  double *a = malloc(cells * sizeof *a), *b = malloc(cells * sizeof *b);
  if (!a || !b) {
    free(a);
    free(b);
    return NULL;
  }
  for (long i = 0; i < n; i++)
    for (long j = 0; j < n; j++) a[i * n + j] = heat_initial(n, i, j);
  memcpy(b, a, cells * sizeof *a);
  for (long k = 0; k < steps; k++) {
    double s = 0.0;
    for (long i = 0; i < n; i++) {
      int boundary = i == 0 || i == n - 1;
      s += heat_row(boundary ? NULL : a + (i - 1) * n, a + i * n,
                    boundary ? NULL : a + (i + 1) * n, b + i * n, n, boundary);
    }
    res[k] = sqrt(s);
    double *t = a;
    a = b;
    b = t;
  }
  free(b);
  return a;
}

/* ---- output: a PNG (libpng) with a colour bar, and a VTK file ----------- */

/* A colour map for values in [0, 1]: black, purple, red, orange, yellow,
 * white (after "inferno"). */
static inline void heat_colour(double v, unsigned char *rgb) {
  static const double stop[6][3] = {{0, 0, 4},      {87, 16, 110},
                                    {188, 55, 84},  {249, 142, 9},
                                    {245, 219, 76}, {252, 255, 164}};
  if (!(v > 0.0)) v = 0.0;
  if (v > 1.0) v = 1.0;
  double x = v * 5.0;
  int k = x >= 5.0 ? 4 : (int)x;
  double t = x - k;
  for (int c = 0; c < 3; c++)
    rgb[c] =
        (unsigned char)(stop[k][c] + t * (stop[k + 1][c] - stop[k][c]) + 0.5);
}

/* The labels of the colour bar ("1.0", "0.5", "0.0") in a 3x5 pixel font:
 * one row of bits per line, the high bit of 3 on the left. */
static inline void heat_glyph(unsigned char *rgb, long stride, long x0,
                              long y0, char ch, int zoom) {
  static const char *chars = "0158.";
  static const unsigned char rows[5][5] = {{7, 5, 5, 5, 7},
                                           {2, 6, 2, 2, 7},
                                           {7, 4, 7, 1, 7},
                                           {7, 5, 7, 5, 7},
                                           {0, 0, 0, 0, 2}};
  const char *at = strchr(chars, ch);
  if (!at || !ch) return;
  const unsigned char *g = rows[at - chars];
  for (int r = 0; r < 5 * zoom; r++)
    for (int c = 0; c < 3 * zoom; c++)
      if (g[r / zoom] & (4 >> (c / zoom)))
        memset(rgb + 3 * ((y0 + r) * stride + x0 + c), 255, 3);
}

/* The n x n field (values in [0, 1]) as a PNG of at most 1024 pixels a
 * side (box-averaged), written with libpng, with a colour bar on the right
 * labelled 0.0, 0.5 and 1.0 (the temperature scale, hot edge 1). Beside it,
 * the full field as a legacy VTK file (path with ".png" replaced by ".vtk",
 * or ".vtk" appended), which ParaView and VisIt open. Returns 0 or -1
 * (errno set). */
static inline int heat_field_vtk(const char *path, const double *field,
                                 long n);
static inline int heat_field_png(const char *path, const double *field,
                                 long n) {
  long scale = (n + 1023) / 1024, side = n / scale;
  int zoom = side >= 256 ? 3 : 1;
  long bar = 16 * zoom, gap = 6 * zoom, text = 14 * zoom;
  long margin = 4 * zoom + 3 * zoom;  /* half a glyph above and below */
  long w = side + gap + bar + 2 * zoom + text, h = side + 2 * margin;
  unsigned char *rgb = calloc((size_t)w * (size_t)h, 3);
  png_bytep *rows = malloc((size_t)h * sizeof *rows);
  if (!rgb || !rows) {
    free(rgb);
    free(rows);
    return -1;
  }
  memset(rgb, 32, (size_t)w * (size_t)h * 3); /* dark grey background */
  for (long y = 0; y < side; y++)
    for (long x = 0; x < side; x++) {
      double s = 0.0;
      for (long dy = 0; dy < scale; dy++)
        for (long dx = 0; dx < scale; dx++)
          s += field[(y * scale + dy) * n + x * scale + dx];
      heat_colour(s / (double)(scale * scale),
                  rgb + 3 * ((y + margin) * w + x));
    }
  long bx = side + gap;
  for (long y = 0; y < side; y++) {  /* the bar: 1 at the top, 0 below */
    unsigned char c[3];
    heat_colour(1.0 - (double)y / (double)(side > 1 ? side - 1 : 1), c);
    for (long x = bx; x < bx + bar; x++)
      memcpy(rgb + 3 * ((y + margin) * w + x), c, 3);
  }
  static const char *labels[3] = {"1.0", "0.5", "0.0"};
  for (int k = 0; k < 3; k++) {
    long y = margin + k * (side - 1) / 2;
    for (long x = bx + bar; x < bx + bar + 2 * zoom; x++) /* tick */
      memset(rgb + 3 * (y * w + x), 255, 3);
    for (int c = 0; labels[k][c]; c++)
      heat_glyph(rgb, w, bx + bar + 2 * zoom + 1 + c * 4 * zoom,
                 y - 2 * zoom, labels[k][c], zoom);
  }
  for (long y = 0; y < h; y++) rows[y] = rgb + (size_t)y * (size_t)w * 3;

  volatile int rc = -1; /* set after the last libpng call that may jump */
  FILE *f = fopen(path, "wb");
  png_structp png =
      f ? png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL)
        : NULL;
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (info && !setjmp(png_jmpbuf(png))) {
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text note[2] = {
        {.compression = PNG_TEXT_COMPRESSION_NONE,
         .key = (png_charp) "Title",
         .text = (png_charp) "baton heat2d: temperature"},
        {.compression = PNG_TEXT_COMPRESSION_NONE,
         .key = (png_charp) "Comment",
         .text = (png_charp) "inferno colour map, 0 (black) to 1 (white); "
                             "top edge held at 1"}};
    png_set_text(png, info, note, 2);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    rc = 0;
  }
  png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
  if (f && fclose(f) != 0) rc = -1;
  free(rows);
  free(rgb);
  return rc == 0 ? heat_field_vtk(path, field, n) : rc;
}

/* The field as a legacy VTK structured-points file, binary (big-endian
 * float32), one cell value per grid point; see heat_field_png(). */
static inline int heat_field_vtk(const char *path, const double *field,
                                 long n) {
  size_t len = strlen(path);
  char *vtk = malloc(len + 5);
  if (!vtk) return -1;
  memcpy(vtk, path, len + 1);
  if (len >= 4 && strcmp(vtk + len - 4, ".png") == 0)
    memcpy(vtk + len - 4, ".vtk", 5);
  else
    memcpy(vtk + len, ".vtk", 5);
  FILE *f = fopen(vtk, "wb");
  free(vtk);
  if (!f) return -1;
  int ok = fprintf(f,
                   "# vtk DataFile Version 3.0\n"
                   "baton heat2d temperature, %ld x %ld\n"
                   "BINARY\nDATASET STRUCTURED_POINTS\n"
                   "DIMENSIONS %ld %ld 1\nORIGIN 0 0 0\nSPACING 1 1 1\n"
                   "POINT_DATA %ld\nSCALARS temperature float 1\n"
                   "LOOKUP_TABLE default\n",
                   n, n, n, n, n * n) > 0;
  unsigned char buf[4 * 1024];
  size_t fill = 0;
  for (long i = 0; ok && i < n * n; i++) {
    /* VTK's x runs fastest: row i / n of the field is its y. */
    float v = (float)field[i];
    uint32_t bits;
    memcpy(&bits, &v, 4);
    buf[fill++] = (unsigned char)(bits >> 24);
    buf[fill++] = (unsigned char)(bits >> 16);
    buf[fill++] = (unsigned char)(bits >> 8);
    buf[fill++] = (unsigned char)bits;
    if (fill == sizeof buf || i == n * n - 1) {
      ok = fwrite(buf, 1, fill, f) == fill;
      fill = 0;
    }
  }
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : -1;
}

/* Compare a field with the serial reference; prints the verdict. Returns
 * 0 when they agree to 1e-12 and every residual was at most the one
 * before. */
static inline int heat_check(const double *field, long n, long steps,
                             const double *residuals, long nres) {
  double *res = malloc((size_t)(steps > 0 ? steps : 1) * sizeof *res);
  double *ref = res ? heat_serial(n, steps, res) : NULL;
  if (!ref) {
    free(res);
    fprintf(stderr, "check: out of memory\n");
    return -1;
  }
  double maxdiff = 0.0;
  for (long i = 0; i < n * n; i++) {
    double d = fabs(field[i] - ref[i]);
    if (!(d <= maxdiff)) maxdiff = d;
  }
  int monotone = 1;
  for (long k = 1; k < nres; k++)
    if (residuals[k] > residuals[k - 1] * (1.0 + 1e-12)) monotone = 0;
  int ok = maxdiff <= 1e-12 && monotone;
  printf(
      "check: max |baton - serial| = %.3g over %ld x %ld after %ld steps; "
      "residual %s; %s\n",
      maxdiff, n, n, steps, monotone ? "never grew" : "GREW",
      ok ? "PASSED" : "FAILED");
  free(ref);
  free(res);
  return ok ? 0 : -1;
}

#endif /* BATON_EXAMPLE_HEAT2D_H */
