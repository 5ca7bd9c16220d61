/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cg: conjugate gradients on the HPCCG problem, on distributed arrays.
 *
 *   mpirun -np R cg [--size N] [--iterations K] [--tol T] [--check]
 *
 * The grid has N x N x N cells per rank, the ranks stacked along z (axis
 * 0). The operator is HPCCG's 27-point one: 27 on the diagonal and -1 for
 * each of the (up to 26) neighbours that exist, applied matrix-free with
 * bt_stencil_apply on the local block, whose ghost cells the halo exchange
 * fills (ghosts past the global boundary stay 0: missing neighbours add
 * nothing). b = A * ones, so the solution is all ones; x0 = 0; CG without
 * preconditioner. --iterations K runs exactly K iterations; else it stops
 * when ||r|| / ||r0|| < --tol (1e-10), at most 1000 iterations. --check
 * runs the same CG serially (one thread, plain loops over the global grid)
 * on rank 0 and compares the residual histories. Runs without mpirun too.
 *
 * Each step is one call: a kernel over the interiors (bt_waxpby), a global
 * reduction (bt_darray_dot: bit-reproducible), or the halo exchange and
 * the stencil. MFLOP/s count as HPCCG does: 2 per stencil point, 2 per
 * element of each dot and each waxpby: 64 per cell and iteration.
 *
 * The diagonal is 27, as in HPCCG and DESIGN.md (the issue that asked for
 * this example said 26; with 27 the matrix is strictly diagonally dominant
 * on the boundary rows and the problem well posed either way).
 */
#include <baton.h>
#include <baton/dist.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITERS 1000

static int rank = 0;

static _Noreturn void die(const char *what, int rc) {
  fprintf(stderr, "cg: rank %d: %s: %s (%s)\n", rank, what, bt_strerror(rc),
          bt_errmsg());
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}
#define CHECK(expr)                    \
  do {                                 \
    int rc_ = (expr);                  \
    if (rc_ != BT_OK) die(#expr, rc_); \
  } while (0)

/* The 27-point operator: offsets and weights. */
static int offsets[27 * 3];
static double weights[27];

static void operator_init(void) {
  int k = 0;
  for (int dz = -1; dz <= 1; dz++)
    for (int dy = -1; dy <= 1; dy++)
      for (int dx = -1; dx <= 1; dx++, k++) {
        offsets[3 * k] = dz;
        offsets[3 * k + 1] = dy;
        offsets[3 * k + 2] = dx;
        weights[k] = dz == 0 && dy == 0 && dx == 0 ? 27.0 : -1.0;
      }
}

/* Ap = A p: exchange p's halo, apply the stencil to its local block. */
static void apply(bt_runtime *rt, bt_darray *p, bt_darray *Ap) {
  CHECK(bt_darray_halo(p, -1));
  CHECK(bt_stencil_apply(rt, 27, offsets, weights, bt_darray_local(p),
                         bt_darray_local(Ap)));
}

/* The serial reference: plain loops over the whole grid (nz x n x n). */
static void serial_apply(long nz, long n, const double *in, double *out) {
  for (long z = 0; z < nz; z++)
    for (long y = 0; y < n; y++)
      for (long x = 0; x < n; x++) {
        double s = 0;
        for (int k = 0; k < 27; k++) {
          long zz = z + offsets[3 * k], yy = y + offsets[3 * k + 1],
               xx = x + offsets[3 * k + 2];
          if (zz >= 0 && zz < nz && yy >= 0 && yy < n && xx >= 0 && xx < n)
            s += weights[k] * in[(zz * n + yy) * n + xx];
        }
        out[(z * n + y) * n + x] = s;
      }
}

static double serial_dot(long len, const double *a, const double *b) {
  double s = 0;
  for (long i = 0; i < len; i++) s += a[i] * b[i];
  return s;
}

/* Serial CG; the relative residual of iteration k into hist[k - 1]. */
static int serial_cg(long nz, long n, int iters, double tol, double *hist) {
  long len = nz * n * n;
  double *x = calloc((size_t)len, 8), *r = malloc((size_t)len * 8),
         *p = malloc((size_t)len * 8), *Ap = malloc((size_t)len * 8);
  if (!x || !r || !p || !Ap) die("serial: malloc", BT_ENOMEM);
  for (long i = 0; i < len; i++) p[i] = 1.0;
  serial_apply(nz, n, p, r); /* r0 = b = A * ones */
  double rtrans = serial_dot(len, r, r), oldrtrans = 0;
  double normr0 = sqrt(rtrans);
  int k;
  for (k = 1; k <= iters; k++) {
    double beta = k == 1 ? 0.0 : rtrans / oldrtrans;
    for (long i = 0; i < len; i++) p[i] = r[i] + beta * p[i];
    serial_apply(nz, n, p, Ap);
    double alpha = rtrans / serial_dot(len, p, Ap);
    for (long i = 0; i < len; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * Ap[i];
    }
    oldrtrans = rtrans;
    rtrans = serial_dot(len, r, r);
    hist[k - 1] = sqrt(rtrans) / normr0;
    if (hist[k - 1] < tol) break;
  }
  free(x), free(r), free(p), free(Ap);
  return k > iters ? iters : k;
}

int main(int argc, char **argv) {
  long n = 32;
  int iters = 0, check = 0;
  double tol = 1e-10;
  static const struct option longopts[] = {
      {"size", required_argument, NULL, 's'},
      {"iterations", required_argument, NULL, 'i'},
      {"tol", required_argument, NULL, 't'},
      {"check", no_argument, NULL, 'c'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  for (int c;
       (c = getopt_long(argc, argv, "s:i:t:ch", longopts, NULL)) != -1;) {
    switch (c) {
      case 's':
        n = atol(optarg);
        break;
      case 'i':
        iters = atoi(optarg);
        break;
      case 't':
        tol = atof(optarg);
        break;
      case 'c':
        check = 1;
        break;
      default:
        printf(
            "usage: cg [--size N] [--iterations K] [--tol T] [--check]\n"
            "CG on the HPCCG problem: N^3 cells per rank, ranks along z, "
            "27-point operator\n(27 on the diagonal, -1 per existing "
            "neighbour), b = A*ones, x0 = 0.\n");
        return c == 'h' ? 0 : 2;
    }
  }
  if (n < 2 || iters < 0 || iters > MAX_ITERS || !(tol > 0)) {
    fprintf(stderr,
            "cg: need --size >= 2, 0 <= --iterations <= %d, --tol > 0\n",
            MAX_ITERS);
    return 2;
  }
  int provided, size;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  operator_init();

  bt_runtime *rt;
  bt_mpi *m;
  CHECK(bt_runtime_create(NULL, &rt));
  CHECK(bt_mpi_attach(rt, MPI_COMM_WORLD, &m));
  bt_dist d = {.struct_size = sizeof(bt_dist),
               .dtype = BT_F64,
               .ndim = 3,
               .shape = {n * size, n, n},
               .procs = {size, 1, 1},
               .halo = {1, 1, 1},
               .corners = 1};
  bt_darray *x, *r, *p, *Ap;
  CHECK(bt_darray_create(m, &d, &x));
  CHECK(bt_darray_like(x, &r));
  CHECK(bt_darray_like(x, &p));
  CHECK(bt_darray_like(x, &Ap));

  /* b = A * ones, kept in r (x0 = 0, so r0 = b). */
  CHECK(bt_fill(rt, bt_darray_interior(p), 1.0));
  apply(rt, p, r);
  int max_iters = iters ? iters : MAX_ITERS;
  double *hist = calloc(MAX_ITERS, sizeof *hist);
  double rtrans, oldrtrans = 0, pAp, normr0;
  CHECK(bt_darray_dot(r, r, &rtrans));
  normr0 = sqrt(rtrans);

  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  int k;
  for (k = 1; k <= max_iters; k++) {
    if (k == 1)
      CHECK(bt_copy(rt, bt_darray_interior(r), bt_darray_interior(p)));
    else /* p = r + beta p */
      CHECK(bt_waxpby(rt, 1.0, bt_darray_interior(r), rtrans / oldrtrans,
                      bt_darray_interior(p), bt_darray_interior(p)));
    apply(rt, p, Ap);
    CHECK(bt_darray_dot(p, Ap, &pAp));
    double alpha = rtrans / pAp;
    CHECK(
        bt_axpby(rt, alpha, bt_darray_interior(p), 1.0, bt_darray_interior(x)));
    CHECK(bt_axpby(rt, -alpha, bt_darray_interior(Ap), 1.0,
                   bt_darray_interior(r)));
    oldrtrans = rtrans;
    CHECK(bt_darray_dot(r, r, &rtrans));
    hist[k - 1] = sqrt(rtrans) / normr0;
    if (!iters && hist[k - 1] < tol) break;
  }
  if (k > max_iters) k = max_iters;
  double secs = MPI_Wtime() - t0;
  double err; /* ||x - ones||_inf, through a max-reduction */
  {
    CHECK(bt_fill(rt, bt_darray_interior(p), 1.0));
    CHECK(
        bt_axpby(rt, 1.0, bt_darray_interior(x), -1.0, bt_darray_interior(p)));
    CHECK(bt_darray_nrm2(p, &err));
  }
  double cells = (double)n * n * n * size;
  int status = 0;
  if (rank == 0) {
    printf("cg: %d ranks x %d workers, %ld^3 cells per rank (%.0f in all)\n",
           size, bt_runtime_workers(rt), n, cells);
    printf("iterations %d, relative residual %.6e, ||x - 1|| %.3e\n", k,
           hist[k - 1], err);
    printf("time %.4f s, %.3f ms/iteration, %.1f MFLOP/s\n", secs,
           secs / k * 1e3, 64.0 * cells * k / secs / 1e6);
  }
  if (check && rank == 0) {
    double *ref = calloc(MAX_ITERS, sizeof *ref);
    int kref = serial_cg(n * size, n, max_iters, iters ? 0.0 : tol, ref);
    /* Below 1e-12 the residual is rounding noise: compare above it. */
    double worst = 0;
    for (int i = 0; i < k && i < kref && ref[i] > 1e-12; i++) {
      double diff = fabs(hist[i] - ref[i]) / (ref[i] > 1e-300 ? ref[i] : 1);
      if (diff > worst) worst = diff;
    }
    int same_k = iters ? kref == k : abs(kref - k) <= 1;
    status = worst < 1e-6 && same_k ? 0 : 1;
    printf(
        "check: %d iterations serially, %d here; residual histories "
        "differ by %.3e relative at most: %s\n",
        kref, k, worst, status ? "FAILED" : "ok");
    free(ref);
  }
  if (rank == 0)
    printf(
        "RESULT bench=cg variant=baton workers=%d ranks=%d size=%ld "
        "metric=ms_per_iter value=%.6g baseline= ratio=\n",
        bt_runtime_workers(rt), size, n, secs / k * 1e3);
  free(hist);
  CHECK(bt_darray_destroy(Ap));
  CHECK(bt_darray_destroy(p));
  CHECK(bt_darray_destroy(r));
  CHECK(bt_darray_destroy(x));
  CHECK(bt_mpi_detach(m));
  CHECK(bt_runtime_destroy(rt));
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  return status;
}
