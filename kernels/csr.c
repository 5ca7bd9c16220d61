/* SPDX-License-Identifier: BSD-3-Clause */
/* csr.c: sparse matrices in compressed sparse rows, and y = A x.
 *
 * The matrix is cut into row blocks by the rule that cuts y in bt_spmv
 * (bt__part_start over min(workers, rows) parts), so part i of y and block
 * i of the matrix are the same rows, and worker i both runs that part and
 * copied the block at creation: its pages were first touched there, on
 * the worker's NUMA node, as BT_PLACE_BLOCKS does for arrays. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_int.h"

#define CSR_MAGIC 0x63737221u /* "csr!" */

typedef struct csr_block {
  int64_t row0, row1; /* rows [row0, row1) */
  int64_t *rowptr;    /* row1 - row0 + 1 entries, from 0 */
  int64_t *colidx;
  double *values;
} csr_block;

struct bt_csr {
  uint32_t magic;
  bt_runtime *rt;
  int64_t rows, cols, nnz;
  int nblocks;
  csr_block *blocks; /* written by the workers at creation, read-only
                        after */
};

/* ---- creation: each worker copies its block ------------------------------ */

typedef struct copy_task {
  bt__task task; /* first: run() recovers the task from it */
  csr_block *block;
  const int64_t *rowptr, *colidx;
  const double *values;
  int rc; /* written before the decrement of pending, read after it */
  _Atomic uint32_t *pending;
} copy_task;

static void copy_block(bt__task *t) {
  copy_task *ct = (copy_task *)t;
  csr_block *b = ct->block;
  int64_t n = b->row1 - b->row0;
  int64_t first = ct->rowptr[b->row0], nnz = ct->rowptr[b->row1] - first;
  size_t bytes =
      sizeof(int64_t) * (size_t)(n + 1 + nnz) + sizeof(double) * (size_t)nnz;
  /* One allocation per block, made and filled here: the pages are first
   * touched by this worker. */
  char *mem = malloc(bytes);
  ct->rc = BT_OK;
  if (!mem) {
    ct->rc = BT_ENOMEM;
  } else {
    b->rowptr = (int64_t *)mem;
    b->colidx = b->rowptr + n + 1;
    b->values = (double *)(b->colidx + nnz);
    for (int64_t r = 0; r <= n; r++)
      b->rowptr[r] = ct->rowptr[b->row0 + r] - first;
    if (nnz > 0) {
      memcpy(b->colidx, ct->colidx + first, sizeof(int64_t) * (size_t)nnz);
      memcpy(b->values, ct->values + first, sizeof(double) * (size_t)nnz);
    }
  }
  _Atomic uint32_t *pending = ct->pending;
  /* acq_rel: the release publishes the block and rc to the creator's
   * acquire load in bt_csr_create(). The task may be gone after it. */
  if (atomic_fetch_sub_explicit(pending, 1, memory_order_acq_rel) == 1)
    bt__futex_wake(pending, 1);
}

static int check_pattern(int64_t rows, int64_t cols, const int64_t *rowptr,
                         const int64_t *colidx, const double *values) {
  static const char k[] = "bt_csr_create";
  if (rows < 0 || cols < 0)
    return bt__fail(BT_EINVAL, "%s: %" PRId64 " x %" PRId64 " is negative", k,
                    rows, cols);
  if (!rowptr) return bt__fail(BT_EINVAL, "%s: rowptr is NULL", k);
  if (rowptr[0] != 0)
    return bt__fail(BT_EINVAL, "%s: rowptr[0] is %" PRId64 ", want 0", k,
                    rowptr[0]);
  for (int64_t r = 0; r < rows; r++)
    if (rowptr[r + 1] < rowptr[r])
      return bt__fail(BT_EINVAL,
                      "%s: rowptr decreases at row %" PRId64 " (%" PRId64
                      " then %" PRId64 ")",
                      k, r, rowptr[r], rowptr[r + 1]);
  int64_t nnz = rowptr[rows];
  if (nnz > 0 && (!colidx || !values))
    return bt__fail(BT_EINVAL, "%s: %s is NULL with %" PRId64 " entries", k,
                    !colidx ? "colidx" : "values", nnz);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t q = rowptr[r]; q < rowptr[r + 1]; q++)
      if (colidx[q] < 0 || colidx[q] >= cols)
        return bt__fail(BT_EINVAL,
                        "%s: column %" PRId64 " of entry %" PRId64
                        " (row %" PRId64 ") is outside [0:%" PRId64 ")",
                        k, colidx[q], q, r, cols);
  return BT_OK;
}

int bt_csr_create(bt_runtime *rt, int64_t rows, int64_t cols,
                  const int64_t *rowptr, const int64_t *colidx,
                  const double *values, bt_csr **out) {
  static const char k[] = "bt_csr_create";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK) return rc;
  if (!out) return bt__fail(BT_EINVAL, "%s: output pointer is NULL", k);
  if ((rc = check_pattern(rows, cols, rowptr, colidx, values)) != BT_OK)
    return rc;
  int workers = bt_runtime_workers(rt);
  int nblocks = rows < workers ? (int)rows : workers;
  bt_csr *A = calloc(1, sizeof *A);
  csr_block *blocks = calloc(nblocks > 0 ? (size_t)nblocks : 1, sizeof *blocks);
  copy_task *tasks = calloc(nblocks > 0 ? (size_t)nblocks : 1, sizeof *tasks);
  if (!A || !blocks || !tasks) {
    rc = bt__fail(BT_ENOMEM, "%s: cannot allocate %d row blocks", k, nblocks);
    goto err_free;
  }
  A->magic = CSR_MAGIC;
  A->rt = rt;
  A->rows = rows;
  A->cols = cols;
  A->nnz = rowptr[rows];
  A->nblocks = nblocks;
  A->blocks = blocks;
  _Atomic uint32_t pending;
  atomic_init(&pending, (uint32_t)nblocks);
  for (int i = 0; i < nblocks; i++) {
    blocks[i].row0 = bt__part_start(rows, nblocks, i);
    blocks[i].row1 = bt__part_start(rows, nblocks, i + 1);
    tasks[i] = (copy_task){.task.run = copy_block,
                           .block = &blocks[i],
                           .rowptr = rowptr,
                           .colidx = colidx,
                           .values = values,
                           .pending = &pending};
  }
  for (int i = 0; i < nblocks; i++)
    if (bt__worker_post(rt, i, &tasks[i].task) != BT_OK)
      copy_block(&tasks[i].task); /* a stopping runtime: copy it here */
  uint32_t left;
  /* acquire: pairs with the acq_rel decrement in copy_block(). */
  while ((left = atomic_load_explicit(&pending, memory_order_acquire)) != 0)
    (void)bt__futex_wait(&pending, left, -1);
  for (int i = 0; i < nblocks; i++)
    if (tasks[i].rc != BT_OK) {
      rc = bt__fail(BT_ENOMEM, "%s: cannot allocate row block %d", k, i);
      goto err_free;
    }
  free(tasks);
  *out = A;
  return BT_OK;
err_free:
  for (int i = 0; blocks && i < nblocks; i++) free(blocks[i].rowptr);
  free(tasks);
  free(blocks);
  free(A);
  return rc;
}

int bt_csr_destroy(bt_csr *A) {
  if (!A) return BT_OK;
  if (A->magic != CSR_MAGIC)
    return bt__bad_handle("bt_csr_destroy", "bt_csr", A);
  for (int i = 0; i < A->nblocks; i++) free(A->blocks[i].rowptr);
  free(A->blocks);
  bt__magic_kill(&A->magic);
  free(A);
  return BT_OK;
}

/* ---- y = A x ----------------------------------------------------------------
 */

/* Rows [r0, r1) of block b (inside it) into y, which starts at row y0. */
static void spmv_rows(const csr_block *b, int64_t r0, int64_t r1,
                      const bt_view *xv, const bt_view *yv, int64_t y0) {
  const int64_t *restrict rowptr = b->rowptr - b->row0; /* by global row */
  const int64_t *restrict colidx = b->colidx;
  const double *restrict values = b->values;
  const double *restrict x = xv->data;
  double *restrict y = (double *)yv->data - y0 * yv->strides[0];
  const int64_t xs = xv->strides[0], ys = yv->strides[0];
  if (xs == 1) {
    for (int64_t r = r0; r < r1; r++) {
      double s = 0;
      for (int64_t q = rowptr[r]; q < rowptr[r + 1]; q++)
        s += values[q] * x[colidx[q]];
      y[r * ys] = s;
    }
  } else {
    for (int64_t r = r0; r < r1; r++) {
      double s = 0;
      for (int64_t q = rowptr[r]; q < rowptr[r + 1]; q++)
        s += values[q] * x[colidx[q] * xs];
      y[r * ys] = s;
    }
  }
}

static int spmv_part(const bt__part *part, void *ctx) {
  const bt_csr *A = ctx;
  const bt_view *yv = &part->view[0], *xv = &part->view[1];
  /* Part i is block i; should the cut ever differ, the blocks that meet
   * the part's rows are used. */
  int i = part->index < A->nblocks ? part->index : A->nblocks - 1;
  while (i > 0 && A->blocks[i].row0 > part->start) i--;
  for (; i < A->nblocks && A->blocks[i].row0 < part->stop; i++) {
    const csr_block *b = &A->blocks[i];
    int64_t r0 = b->row0 > part->start ? b->row0 : part->start;
    int64_t r1 = b->row1 < part->stop ? b->row1 : part->stop;
    if (r0 < r1) spmv_rows(b, r0, r1, xv, yv, yv->origin[0]);
  }
  return BT_OK;
}

int bt_spmv(bt_runtime *rt, const bt_csr *A, bt_array *x, bt_array *y) {
  static const char k[] = "bt_spmv";
  int rc;
  if ((rc = bt__check_caller(k, rt)) != BT_OK) return rc;
  if (!A || A->magic != CSR_MAGIC) return bt__bad_handle(k, "bt_csr", A);
  if (A->rt != rt)
    return bt__fail(BT_EINVAL,
                    "%s: the matrix was made for another runtime (its row "
                    "blocks follow that runtime's workers)",
                    k);
  if ((rc = bt__check_f64(k, "x", x)) != BT_OK ||
      (rc = bt__check_f64(k, "y", y)) != BT_OK ||
      (rc = bt__check_ndim(k, "x", x, 1)) != BT_OK ||
      (rc = bt__check_ndim(k, "y", y, 1)) != BT_OK)
    return rc;
  int64_t nx, ny;
  bt_array_shape(x, &nx);
  bt_array_shape(y, &ny);
  if (nx != A->cols || ny != A->rows)
    return bt__fail(BT_EINVAL,
                    "%s: A is %" PRId64 " x %" PRId64 " but x has %" PRId64
                    " elements and y %" PRId64,
                    k, A->rows, A->cols, nx, ny);
  if (bt__array_alias(x, y) != BT__ALIAS_NONE)
    return bt__fail(BT_EINVAL, "%s: x and y share elements", k);
  if (A->cols == 0) return bt_fill(rt, y, 0); /* A x is 0 */
  bt__operand ops[2] = {{.array = y, .writable = 1, .axis = 0},
                        {.array = x, .whole = 1}};
  return bt__parallel(rt, ops, 2, spmv_part, (void *)A, NULL);
}
