/*
 * mpi_heat2d: the explicit 2-D heat equation across MPI ranks and, inside
 * each rank, across pinned workers (the numerics: heat2d.h).
 *
 *   mpirun -np 2 --bind-to core --map-by core mpi_heat2d [--n 2048]
 *       [--iterations 3500] [--workers 0] [--out heat2d.png] [--every K]
 *       [--check] [--quiet]
 *
 * Runs with one rank without mpirun too. The grid is split by rows across
 * ranks; each rank's rows are split across its workers as owned slices.
 * Every step, a rank sends its first and last rows to its neighbours as
 * slices over remote channels (bt_mpi_chan_create with bt_type_slice: the
 * row moves, zero-copy, and its region unlocks when MPI has sent it) and
 * copies the rows it receives into its ghost rows. Residuals and timings
 * are reduced over f64 channels to rank 0, which gathers the final field as
 * slices, prints the summary and writes the PNG.
 */
#include <baton/mpi.h>

#include "heat2d.h"

enum { TAG_HALO = 11, TAG_REDUCE = 12, TAG_GATHER = 13 };

typedef struct heat_mpi {
  bt_mpi *m;
  int rank, size;
  bt_chan *up, *down; /* halo rows with rank - 1 and rank + 1 (slices) */
  bt_chan **reduce;   /* rank 0: one per other rank; else [0]: to rank 0 */
  bt_chan **gather;   /* the same, for the final field (slices) */
} heat_mpi;

static _Noreturn void die(const heat_mpi *hm, const char *what, int rc) {
  fprintf(stderr, "mpi_heat2d: rank %d: %s: %s (%s)\n", hm ? hm->rank : -1,
          what, bt_strerror(rc), bt_errmsg());
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}
#define CHECK(hm, expr)                    \
  do {                                     \
    int rc_ = (expr);                      \
    if (rc_ != BT_OK) die(hm, #expr, rc_); \
  } while (0)

/* The rows of rank r: [first, first + count) of n. */
static long rows_of(long n, int size, int r, long *first) {
  long base = n / size, extra = n % size;
  *first = r * base + (r < extra ? r : extra);
  return base + (r < extra ? 1 : 0);
}

/* Channels in an order that never deadlocks, whether or not creation waits
 * for the peer: up (to rank - 1) before down, rank 0's to each other rank
 * in rank order. */
static void channels_create(heat_mpi *hm) {
  int others = hm->rank == 0 ? hm->size - 1 : 1;
  hm->reduce = calloc((size_t)(others > 0 ? others : 1), sizeof *hm->reduce);
  hm->gather = calloc((size_t)(others > 0 ? others : 1), sizeof *hm->gather);
  if (!hm->reduce || !hm->gather) die(hm, "calloc", BT_ENOMEM);
  if (hm->rank > 0)
    CHECK(hm, bt_mpi_chan_create(hm->m, hm->rank - 1, TAG_HALO, &bt_type_slice,
                                 2, &hm->up));
  if (hm->rank < hm->size - 1)
    CHECK(hm, bt_mpi_chan_create(hm->m, hm->rank + 1, TAG_HALO, &bt_type_slice,
                                 2, &hm->down));
  if (hm->rank == 0) {
    for (int r = 1; r < hm->size; r++) {
      CHECK(hm, bt_mpi_chan_create(hm->m, r, TAG_REDUCE, &bt_type_f64, 4,
                                   &hm->reduce[r - 1]));
      CHECK(hm, bt_mpi_chan_create(hm->m, r, TAG_GATHER, &bt_type_slice, 1,
                                   &hm->gather[r - 1]));
    }
  } else if (hm->size > 1) {
    CHECK(hm, bt_mpi_chan_create(hm->m, 0, TAG_REDUCE, &bt_type_f64, 4,
                                 &hm->reduce[0]));
    CHECK(hm, bt_mpi_chan_create(hm->m, 0, TAG_GATHER, &bt_type_slice, 1,
                                 &hm->gather[0]));
  }
}

static void channels_release(heat_mpi *hm) {
  int others = hm->rank == 0 ? hm->size - 1 : (hm->size > 1 ? 1 : 0);
  bt_chan_release(hm->up);
  bt_chan_release(hm->down);
  for (int i = 0; i < others; i++) {
    bt_chan_release(hm->reduce[i]);
    bt_chan_release(hm->gather[i]);
  }
  free(hm->reduce);
  free(hm->gather);
}

/* vals[0..nv) combined over all ranks, the result on every rank: ops[i] is
 * 's' (sum) or 'm' (max). Through rank 0 over f64 channels. */
static void allreduce(heat_mpi *hm, double *vals, int nv, const char *ops) {
  if (hm->size == 1) return;
  if (hm->rank != 0) {
    for (int i = 0; i < nv; i++) CHECK(hm, bt_send(hm->reduce[0], &vals[i]));
    for (int i = 0; i < nv; i++) CHECK(hm, bt_recv(hm->reduce[0], &vals[i]));
    return;
  }
  for (int r = 1; r < hm->size; r++)
    for (int i = 0; i < nv; i++) {
      double v;
      CHECK(hm, bt_recv(hm->reduce[r - 1], &v));
      vals[i] = ops[i] == 'm' ? (v > vals[i] ? v : vals[i]) : vals[i] + v;
    }
  for (int r = 1; r < hm->size; r++)
    for (int i = 0; i < nv; i++)
      CHECK(hm, bt_send(hm->reduce[r - 1], &vals[i]));
}

/* Receive one halo row as a slice and copy it into ghost row `row`. */
static void halo_recv(heat_mpi *hm, heat_grid *g, bt_chan *ch, long row) {
  bt_slice s;
  bt_view v;
  CHECK(hm, bt_recv(ch, &s));
  CHECK(hm, bt_slice_view(s, &v));
  if (v.ndim != 2 || v.shape[0] != 1 || v.shape[1] != g->n) {
    fprintf(stderr,
            "mpi_heat2d: rank %d: halo row of shape %lld x %lld, "
            "want 1 x %ld\n",
            hm->rank, (long long)v.shape[0],
            (long long)(v.ndim > 1 ? v.shape[1] : 0), g->n);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  CHECK(hm, heat_set_row(g, row, v.data));
  CHECK(hm, bt_slice_release(s));
}

/* Send our edge rows to the neighbours (the slices move; each region
 * unlocks when MPI has sent it), then fill our ghost rows from theirs. */
static void halo_exchange(heat_mpi *hm, heat_grid *g) {
  bt_slice s;
  if (hm->up) {
    bt_range first[2] = {{1, 2}, {0, g->n}};
    CHECK(hm, bt_array_own(g->u, first, -1, &s));
    CHECK(hm, bt_send(hm->up, &s));
  }
  if (hm->down) {
    bt_range last[2] = {{g->rows, g->rows + 1}, {0, g->n}};
    CHECK(hm, bt_array_own(g->u, last, -1, &s));
    CHECK(hm, bt_send(hm->down, &s));
  }
  if (hm->up) halo_recv(hm, g, hm->up, 0);
  if (hm->down) halo_recv(hm, g, hm->down, g->rows + 1);
}

/* Rank 0 gets the whole field: its own rows, then every other rank's,
 * which arrive as slices. Returns the field on rank 0, NULL elsewhere. */
static double *gather_field(heat_mpi *hm, heat_grid *g) {
  if (hm->rank != 0) {
    bt_range mine[2] = {{1, g->rows + 1}, {0, g->n}};
    bt_slice s;
    CHECK(hm, bt_array_own(g->u, mine, -1, &s));
    CHECK(hm, bt_send(hm->gather[0], &s));
    return NULL;
  }
  long n = g->n;
  double *field = malloc((size_t)n * (size_t)n * sizeof *field);
  if (!field) die(hm, "malloc", BT_ENOMEM);
  CHECK(hm, heat_copy_rows(g, 1, g->rows + 1, field));
  for (int r = 1; r < hm->size; r++) {
    long first, rows = rows_of(n, hm->size, r, &first);
    bt_slice s;
    bt_view v;
    CHECK(hm, bt_recv(hm->gather[r - 1], &s));
    CHECK(hm, bt_slice_view(s, &v));
    if (v.ndim != 2 || v.shape[0] != rows || v.shape[1] != n) {
      fprintf(stderr,
              "mpi_heat2d: rows of rank %d: %lld x %lld, want %ld x "
              "%ld\n",
              r, (long long)v.shape[0], (long long)v.shape[1], rows, n);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (long i = 0; i < rows; i++)
      memcpy(field + (first + i) * n, (const double *)v.data + i * v.strides[0],
             (size_t)n * sizeof *field);
    CHECK(hm, bt_slice_release(s));
  }
  return field;
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int world_rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);

  heat_opts o = {
      .n = 2048, .iterations = 3500, .workers = 0, .out = "heat2d.png"};
  int p = heat_parse(argc, argv, &o);
  if (p != 0) {
    if (world_rank == 0) heat_usage(argv[0], &o);
    MPI_Finalize();
    return p > 0 ? 0 : 2;
  }

  heat_mpi hm = {0};
  bt_options bo = BT_OPTIONS_DEFAULT;
  bo.workers = o.workers;
  bt_runtime *rt;
  hm.rank = world_rank;
  CHECK(&hm, bt_runtime_create(&bo, &rt));
  CHECK(&hm, bt_mpi_attach(rt, MPI_COMM_WORLD, &hm.m));
  hm.rank = bt_mpi_rank(hm.m);
  hm.size = bt_mpi_size(hm.m);
  long n = o.n, g0, rows = rows_of(n, hm.size, hm.rank, &g0);
  if (n / hm.size < 2) { /* every rank needs two rows of its own */
    if (hm.rank == 0)
      fprintf(stderr, "mpi_heat2d: --n %ld gives ranks fewer than 2 rows\n", n);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  channels_create(&hm);

  static heat_grid g; /* the per-worker partial sums make it large */
  CHECK(&hm, heat_grid_init(&g, rt, n, g0 + 0, rows));
  double *residuals =
      malloc((size_t)(o.iterations / o.every + 2) * sizeof *residuals);
  if (!residuals) die(&hm, "malloc", BT_ENOMEM);
  long nres = 0;
  if (hm.rank == 0 && !o.quiet) {
    char where[128];
    CHECK(&hm, bt_worker_describe(rt, 0, where, sizeof where));
    printf(
        "mpi_heat2d: %ld x %ld grid, %ld steps, %d ranks x %d workers "
        "(rank 0 %s%s)\n",
        n, n, o.iterations, hm.size, g.workers, where,
        bt_runtime_oversubscribed(rt) ? ", oversubscribed" : "");
  }

  double *step_times = malloc((size_t)(o.iterations + 1) * sizeof *step_times);
  if (!step_times) die(&hm, "malloc", BT_ENOMEM);
  double t0 = heat_now();
  for (long k = 1; k <= o.iterations; k++) {
    double sumsq, ts = heat_now();
    halo_exchange(&hm, &g);
    CHECK(&hm, heat_step(&g, &sumsq));
    step_times[k - 1] = heat_now() - ts;
    if (k % o.every == 0 || k == o.iterations) {
      allreduce(&hm, &sumsq, 1, "s");
      residuals[nres++] = sqrt(sumsq);
      if (hm.rank == 0 && !o.quiet)
        printf("  step %6ld  residual %.6e  %8.3f s\n", k, sqrt(sumsq),
               heat_now() - t0);
    }
  }
  double seconds = heat_now() - t0;

  /* The baseline, on every rank at once: the same rows stepped by a plain
   * loop on one thread, as a flat MPI code would without its halo traffic.
   * A step of the job lasts as long as its slowest rank's: the maximum
   * over ranks of the median step, for baton and for the baseline. */
  double stats[3] = {seconds, heat_median(step_times, o.iterations),
                     heat_baseline(&g, o.iterations < 50 ? o.iterations : 50)};
  allreduce(&hm, stats, 3, "mmm");
  double *field = gather_field(&hm, &g);

  int status = 0;
  if (hm.rank == 0) {
    double cells = (double)(n - 2) * (double)(n - 2);
    double gflops = stats[0] > 0 ? HEAT_FLOPS_PER_POINT * cells *
                                       (double)o.iterations / stats[0] * 1e-9
                                 : 0.0;
    double gbytes = gflops / HEAT_FLOPS_PER_POINT * HEAT_BYTES_PER_POINT;
    double step_gflops =
        stats[1] > 0 ? HEAT_FLOPS_PER_POINT * cells / stats[1] * 1e-9 : 0.0;
    double base_gflops =
        stats[2] > 0 ? HEAT_FLOPS_PER_POINT * cells / stats[2] * 1e-9 : 0.0;
    double ratio = base_gflops > 0 ? step_gflops / base_gflops : 0.0;
    printf(
        "mpi_heat2d: %ld steps in %.3f s: %.3f GF/s, %.3f GB/s, final "
        "residual %.6e\n",
        o.iterations, stats[0], gflops, gbytes,
        nres ? residuals[nres - 1] : 0.0);
    printf(
        "median step: baton %.3f ms (%.3f GF/s), plain C loop on one "
        "thread per rank without halo %.3f ms (%.3f GF/s): baton/baseline "
        "%.2fx\n",
        stats[1] * 1e3, step_gflops, stats[2] * 1e3, base_gflops, ratio);
    printf(
        "RESULT bench=heat2d variant=plain-loop workers=%d ranks=%d "
        "size=%ld metric=GF/s value=%.6g baseline=%.6g ratio=%.4g\n",
        g.workers, hm.size, n, step_gflops, base_gflops, ratio);
    if (o.out[0] && strcmp(o.out, "none") != 0) {
      if (heat_field_png(o.out, field, n) == 0)
        printf("wrote %s\n", o.out);
      else {
        perror(o.out);
        status = 1;
      }
    }
    if (o.check && heat_check(field, n, o.iterations, residuals, nres) != 0)
      status = 1;
    fflush(stdout);
  }
  free(field);
  free(step_times);
  free(residuals);
  heat_grid_destroy(&g);
  channels_release(&hm);
  bt_mpi_detach(hm.m);
  bt_runtime_destroy(rt);
  MPI_Finalize();
  return status;
}
