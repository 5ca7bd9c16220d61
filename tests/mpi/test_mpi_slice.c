/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_slice.c: slices and boxes across ranks: contiguous and strided
 * regions, 1-D to 4-D, 64 MiB, region unlock when MPI completes, mutable and
 * frozen box trees, a ring of slices through 4 ranks, a stress with
 * checksums, a ping-pong of slices beside a second thread's. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "mpitest.h"

/* The value of element `idx` of the sender's array: a function of its
 * coordinates, so the receiver can check any region. */
static double value_at(const int64_t *idx, int ndim, double seed) {
  double v = seed;
  for (int d = 0; d < ndim; d++) v = v * 131.0 + (double)idx[d];
  return v;
}

/* Call fn on every element of a view, with its index in the view. */
static void for_each(const bt_view *v,
                     void (*fn)(double *e, const int64_t *i, const bt_view *v,
                                void *ctx),
                     void *ctx) {
  int64_t idx[BT_MAX_DIMS] = {0};
  int64_t n = 1;
  for (int d = 0; d < v->ndim; d++) n *= v->shape[d];
  for (int64_t k = 0; k < n; k++) {
    int64_t off = 0;
    for (int d = 0; d < v->ndim; d++) off += idx[d] * v->strides[d];
    fn((double *)v->data + off, idx, v, ctx);
    for (int d = v->ndim - 1; d >= 0; d--) {
      if (++idx[d] < v->shape[d]) break;
      idx[d] = 0;
    }
  }
}

typedef struct check_ctx {
  const int64_t *origin; /* of the region in the sender's array */
  double seed;
  long bad;
} check_ctx;

static void fill_fn(double *e, const int64_t *i, const bt_view *v, void *ctx) {
  int64_t g[BT_MAX_DIMS];
  for (int d = 0; d < v->ndim; d++) g[d] = v->origin[d] + i[d];
  *e = value_at(g, v->ndim, *(double *)ctx);
}

static void check_fn(double *e, const int64_t *i, const bt_view *v, void *ctx) {
  check_ctx *c = ctx;
  int64_t g[BT_MAX_DIMS];
  for (int d = 0; d < v->ndim; d++) g[d] = c->origin[d] + i[d];
  if (*e != value_at(g, v->ndim, c->seed)) c->bad++;
}

/* A filled f64 array of the given shape. */
static bt_array *filled_array(bt_runtime *rt, int ndim, const int64_t *shape,
                              double seed) {
  bt_array *a;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, ndim, shape, BT_PLACE_LOCAL, &a));
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  for_each(&v, fill_fn, &seed);
  BT_CHECK_OK(bt_slice_release(s));
  return a;
}

/* Rank 0 sends region `reg` of an array of `shape`; rank 1 checks it. */
static void one_region(bt_runtime *rt, bt_chan *ch, int ndim,
                       const int64_t *shape, const bt_range *reg, double seed) {
  int64_t origin[BT_MAX_DIMS];
  for (int d = 0; d < ndim; d++) origin[d] = reg ? reg[d].start : 0;
  if (mt_rank() == 0) {
    bt_array *a = filled_array(rt, ndim, shape, seed);
    bt_slice s;
    BT_CHECK_OK(bt_array_own(a, reg, 0, &s));
    BT_CHECK_OK(bt_send(ch, &s));
    bt_view v;
    BT_CHECK_STATUS(bt_slice_view(s, &v), BT_EMOVED);
    /* The region unlocks when MPI completes the send. */
    bt_slice all;
    BT_CHECK_OK(bt_array_own(a, NULL, -1, &all));
    BT_CHECK_OK(bt_slice_release(all));
    BT_CHECK_OK(bt_array_release(a));
  } else {
    bt_slice s;
    BT_CHECK_OK(bt_recv(ch, &s));
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    BT_CHECK_EQ(v.ndim, ndim);
    BT_CHECK_EQ(v.dtype, BT_F64);
    BT_CHECK_EQ(v.writable, 1);
    for (int d = 0; d < ndim; d++) {
      BT_CHECK_EQ(v.shape[d], reg ? reg[d].stop - reg[d].start : shape[d]);
      BT_CHECK_EQ(v.origin[d], 0);
    }
    check_ctx c = {origin, seed, 0};
    for_each(&v, check_fn, &c);
    BT_CHECK_EQ(c.bad, 0);
    BT_CHECK_OK(bt_slice_release(s));
  }
}

static void slices_contiguous(bt_runtime *rt, bt_mpi *m) {
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 1, &bt_type_slice, 2, &ch));
  int64_t s1[] = {1000}, s2[] = {30, 40}, s3[] = {6, 7, 8}, s4[] = {3, 4, 5, 6};
  one_region(rt, ch, 1, s1, NULL, 1);
  one_region(rt, ch, 2, s2, NULL, 2);
  one_region(rt, ch, 3, s3, NULL, 3);
  one_region(rt, ch, 4, s4, NULL, 4);
  /* Whole rows of a 2-D array are contiguous too. */
  bt_range rows[] = {{5, 9}, {0, 40}};
  one_region(rt, ch, 2, s2, rows, 5);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(slices_contiguous, 2) {
  mt_both_modes(slices_contiguous);
}

/* A stream of slices sent back to back (several in flight), whose sizes
 * go from the eager pieces a payload of up to 64 KiB travels in to one
 * message and back, the same shape repeated and then another: every one
 * arrives whole, in order, with its contents. */
static void slice_piece_stream(bt_runtime *rt, bt_mpi *m) {
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 3, &bt_type_slice, 4, &ch));
  /* f64 counts: 64 KiB (pieces) three times, 64 KiB + 8 B (one message),
   * 32 KiB and 4032 B (pieces), 1 MiB (one message), 64 KiB again. */
  static const int64_t counts[] = {8192, 8192, 8192, 8193,
                                   4096, 504,  131072, 8192};
  enum { N = sizeof counts / sizeof counts[0] };
  int64_t origin[1] = {0};
  for (int k = 0; k < N; k++) {
    if (mt_rank() == 0) {
      bt_array *a = filled_array(rt, 1, &counts[k], 10 + k);
      bt_slice s;
      BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
      BT_CHECK_OK(bt_send(ch, &s));
      BT_CHECK_OK(bt_array_release(a)); /* the slice in flight keeps it */
    } else {
      bt_slice s;
      BT_CHECK_OK(bt_recv(ch, &s));
      bt_view v;
      BT_CHECK_OK(bt_slice_view(s, &v));
      BT_CHECK_EQ(v.ndim, 1);
      BT_CHECK_EQ(v.shape[0], counts[k]);
      check_ctx c = {origin, 10 + k, 0};
      for_each(&v, check_fn, &c);
      BT_CHECK_EQ(c.bad, 0);
      BT_CHECK_OK(bt_slice_release(s));
    }
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(slice_piece_stream, 2) {
  mt_both_modes(slice_piece_stream);
}

static void slices_strided(bt_runtime *rt, bt_mpi *m) {
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 2, &bt_type_slice, 1, &ch));
  int64_t s1[] = {1000}, s2[] = {64, 80}, s3[] = {10, 12, 14},
          s4[] = {5, 6, 7, 8};
  bt_range r1[] = {{100, 900}};
  bt_range r2[] = {{8, 40}, {10, 70}};
  bt_range col[] = {{0, 64}, {33, 34}}; /* one column: stride 80 */
  bt_range r3[] = {{2, 9}, {1, 11}, {3, 4}};
  bt_range r4[] = {{1, 4}, {2, 5}, {0, 7}, {1, 7}};
  one_region(rt, ch, 1, s1, r1, 11);
  one_region(rt, ch, 2, s2, r2, 12);
  one_region(rt, ch, 2, s2, col, 13);
  one_region(rt, ch, 3, s3, r3, 14);
  one_region(rt, ch, 4, s4, r4, 15);
  /* Parts of a split along the last axis are strided. */
  if (mt_rank() == 0) {
    bt_array *a = filled_array(rt, 2, s2, 16);
    bt_slice whole, parts[4];
    BT_CHECK_OK(bt_array_own(a, NULL, 0, &whole));
    BT_CHECK_OK(bt_slice_split(whole, 1, 4, parts));
    for (int i = 0; i < 4; i++) BT_CHECK_OK(bt_send(ch, &parts[i]));
    bt_slice all;
    BT_CHECK_OK(bt_array_own(a, NULL, -1, &all));
    BT_CHECK_OK(bt_slice_release(all));
    BT_CHECK_OK(bt_array_release(a));
  } else {
    for (int i = 0; i < 4; i++) {
      bt_slice s;
      BT_CHECK_OK(bt_recv(ch, &s));
      bt_view v;
      BT_CHECK_OK(bt_slice_view(s, &v));
      BT_CHECK_EQ(v.shape[0], 64);
      BT_CHECK_EQ(v.shape[1], 20);
      int64_t origin[] = {0, 20 * i};
      check_ctx c = {origin, 16, 0};
      for_each(&v, check_fn, &c);
      BT_CHECK_EQ(c.bad, 0);
      BT_CHECK_OK(bt_slice_release(s));
    }
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(slices_strided, 2) {
  mt_both_modes(slices_strided);
}

/* 64 MiB in one slice, both directions at once, checksummed. */
static double checksum(const bt_view *v) {
  double sum = 0;
  int64_t n = v->shape[0];
  for (int64_t i = 0; i < n; i++)
    sum += ((double *)v->data)[i * v->strides[0]] * (double)(i % 7 + 1);
  return sum;
}

BT_TEST_MPI(slice_64mib, 2) {
  bt_runtime *rt = mt_runtime();
  bt_mpi *m = mt_attach(rt, "direct");
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 3, &bt_type_slice, 1, &ch));
  int64_t n = (64 << 20) / 8;
  bt_array *a;
  BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &n, BT_PLACE_LOCAL, &a));
  bt_slice s;
  BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
  bt_view v;
  BT_CHECK_OK(bt_slice_view(s, &v));
  for (int64_t i = 0; i < n; i++)
    ((double *)v.data)[i] = (double)((i * 2654435761u + mt_rank()) % 1000003);
  double mine = checksum(&v);
  BT_CHECK_OK(bt_send(ch, &s));
  bt_slice got;
  BT_CHECK_OK(bt_recv(ch, &got));
  BT_CHECK_OK(bt_slice_view(got, &v));
  BT_CHECK_EQ(v.shape[0], n);
  double theirs = checksum(&v);
  double expect;
  MPI_Sendrecv(&mine, 1, MPI_DOUBLE, 1 - mt_rank(), 0, &expect, 1, MPI_DOUBLE,
               1 - mt_rank(), 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  BT_CHECK_NEAR(theirs, expect, 0);
  BT_CHECK_OK(bt_slice_release(got));
  BT_CHECK_OK(bt_array_release(a));
  BT_CHECK_OK(bt_chan_release(ch));
  BT_CHECK_OK(bt_mpi_detach(m));
  BT_CHECK_OK(bt_runtime_destroy(rt));
}

/* A tree: root (16 bytes, 3 slots) -> [0] leaf "a", [1] empty, [2] a frozen
 * subtree with one child. */
static bt_box *make_tree(int seed) {
  bt_box *root, *leaf, *fz, *fzkid;
  BT_CHECK_OK(bt_box_create(16, 3, &root));
  BT_CHECK_OK(bt_box_create(5, 0, &leaf));
  BT_CHECK_OK(bt_box_create(8, 1, &fz));
  BT_CHECK_OK(bt_box_create(3, 0, &fzkid));
  ((int64_t *)bt_box_data(root))[0] = seed;
  ((int64_t *)bt_box_data(root))[1] = -seed;
  memcpy(bt_box_data(leaf), "leaf", 5);
  *(int64_t *)bt_box_data(fz) = 77 + seed;
  memcpy(bt_box_data(fzkid), "fk", 3);
  BT_CHECK_OK(bt_box_link(fz, 0, fzkid));
  BT_CHECK_OK(bt_box_freeze(fz));
  BT_CHECK_OK(bt_box_link(root, 0, leaf));
  BT_CHECK_OK(bt_box_link(root, 2, fz));
  return root;
}

static void check_tree(bt_box *root, int seed) {
  BT_CHECK(!bt_box_is_frozen(root));
  BT_CHECK_EQ(bt_box_size(root), 16);
  BT_CHECK_EQ(bt_box_nchildren(root), 3);
  int64_t *d = bt_box_data(root);
  BT_CHECK(d != NULL);
  BT_CHECK_EQ(d[0], seed);
  BT_CHECK_EQ(d[1], -seed);
  bt_box *leaf = bt_box_child(root, 0), *fz = bt_box_child(root, 2);
  BT_CHECK(leaf != NULL && bt_box_child(root, 1) == NULL && fz != NULL);
  BT_CHECK_STR((const char *)bt_box_cdata(leaf), "leaf");
  BT_CHECK(bt_box_is_frozen(fz));
  BT_CHECK_EQ(*(const int64_t *)bt_box_cdata(fz), 77 + seed);
  BT_CHECK_STR((const char *)bt_box_cdata(bt_box_child(fz, 0)), "fk");
}

static void boxes(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  int me = mt_rank(), peer = 1 - me;
  bt_chan *trees, *frozen;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 4, &bt_type_box, 2, &trees));
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 5, &bt_type_frozen, 2, &frozen));
  for (int i = 0; i < 3; i++) {
    bt_box *t = make_tree(10 * me + i);
    /* Moved: the tree is the bridge's now (and maybe freed already). */
    BT_CHECK_OK(bt_send(trees, &t));
  }
  bt_box *f;
  BT_CHECK_OK(bt_box_create(4, 0, &f));
  memcpy(bt_box_data(f), "frz", 4);
  BT_CHECK_OK(bt_box_freeze(f));
  bt_box_retain(f); /* keep one: the send moves one reference */
  BT_CHECK_OK(bt_send(frozen, &f));
  BT_CHECK_STR((const char *)bt_box_cdata(f), "frz");
  BT_CHECK_OK(bt_box_release(f));
  for (int i = 0; i < 3; i++) {
    bt_box *t;
    BT_CHECK_OK(bt_recv(trees, &t));
    check_tree(t, 10 * peer + i);
    BT_CHECK_OK(bt_box_release(t));
  }
  bt_box *g;
  BT_CHECK_OK(bt_recv(frozen, &g));
  BT_CHECK(bt_box_is_frozen(g));
  BT_CHECK_STR((const char *)bt_box_cdata(g), "frz");
  BT_CHECK_OK(bt_box_release(g));
  BT_CHECK_OK(bt_chan_release(trees));
  BT_CHECK_OK(bt_chan_release(frozen));
}

BT_TEST_MPI(boxes, 2) {
  mt_both_modes(boxes);
}

/* A type with its own wire form: a box holding a length-prefixed string,
 * packed to the string's bytes. */
static size_t str_size(const void *elem) {
  return strlen((const char *)bt_box_cdata(*(bt_box *const *)elem)) + 1;
}
static int str_pack(void *elem, void *buf, size_t len) {
  bt_box *b = *(bt_box **)elem;
  memcpy(buf, bt_box_cdata(b), len);
  return bt_box_release(b);
}
static int str_unpack(const void *buf, size_t len, void *elem) {
  bt_box *b;
  int rc = bt_box_create(len, 0, &b);
  if (rc != BT_OK) return rc;
  memcpy(bt_box_data(b), buf, len);
  *(bt_box **)elem = b;
  return BT_OK;
}
static const bt_wire str_wire = {str_size, str_pack, str_unpack};

static void wire_type(bt_runtime *rt, bt_mpi *m) {
  (void)rt;
  static bt_type t; /* valid until detach */
  t = bt_type_box;
  t.name = "string";
  t.wire = &str_wire;
  bt_chan *ch;
  BT_CHECK_OK(bt_mpi_chan_create(m, 1 - mt_rank(), 6, &t, 1, &ch));
  if (mt_rank() == 0) {
    for (int i = 0; i < 20; i++) {
      char text[32];
      snprintf(text, sizeof text, "message %d", i);
      bt_box *b;
      BT_CHECK_OK(bt_box_create(strlen(text) + 1, 0, &b));
      memcpy(bt_box_data(b), text, strlen(text) + 1);
      BT_CHECK_OK(bt_send(ch, &b));
    }
  } else {
    for (int i = 0; i < 20; i++) {
      char text[32];
      snprintf(text, sizeof text, "message %d", i);
      bt_box *b;
      BT_CHECK_OK(bt_recv(ch, &b));
      BT_CHECK(bt_box_data(b) != NULL);
      BT_CHECK_STR((const char *)bt_box_cdata(b), text);
      BT_CHECK_OK(bt_box_release(b));
    }
  }
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(wire_type, 2) {
  mt_both_modes(wire_type);
}

/* A slice goes round a ring of 4 ranks several times; each rank adds its
 * rank + 1 to every element on the way. */
static void ring(bt_runtime *rt, bt_mpi *m) {
  int me = mt_rank(), n = mt_size();
  enum { LAPS = 5 };
  bt_chan *next, *prev;
  /* Tag 60: the channel between r and r+1 (the same tag on both ends). */
  BT_CHECK_OK(
      bt_mpi_chan_create(m, (me + 1) % n, 60 + me, &bt_type_slice, 1, &next));
  BT_CHECK_OK(bt_mpi_chan_create(m, (me + n - 1) % n, 60 + (me + n - 1) % n,
                                 &bt_type_slice, 1, &prev));
  int64_t shape[] = {50, 60};
  bt_range reg[] = {{5, 45}, {7, 53}};
  if (me == 0) {
    bt_array *a = filled_array(rt, 2, shape, 0);
    bt_slice s;
    BT_CHECK_OK(bt_array_own(a, reg, 0, &s));
    BT_CHECK_OK(bt_send(next, &s));
    BT_CHECK_OK(bt_array_release(a));
  }
  for (int lap = 0; lap < LAPS; lap++) {
    if (me == 0 && lap == LAPS - 1) break;
    bt_slice s;
    BT_CHECK_OK(bt_recv(prev, &s));
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    for (int64_t i = 0; i < v.shape[0]; i++)
      for (int64_t j = 0; j < v.shape[1]; j++)
        ((double *)v.data)[i * v.strides[0] + j * v.strides[1]] += me + 1;
    BT_CHECK_OK(bt_send(next, &s));
  }
  if (me == 0) {
    bt_slice s;
    BT_CHECK_OK(bt_recv(prev, &s));
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    /* Ranks 1..n-1 added on every lap, rank 0 on all but the last. */
    double add = (double)LAPS * (n * (n + 1) / 2 - 1) + (LAPS - 1) * 1.0;
    long bad = 0;
    for (int64_t i = 0; i < v.shape[0]; i++)
      for (int64_t j = 0; j < v.shape[1]; j++) {
        int64_t g[2] = {reg[0].start + i, reg[1].start + j};
        double want = value_at(g, 2, 0) + add;
        if (((double *)v.data)[i * v.strides[0] + j * v.strides[1]] != want)
          bad++;
      }
    BT_CHECK_EQ(bad, 0);
    BT_CHECK_OK(bt_slice_release(s));
  }
  BT_CHECK_OK(bt_chan_release(next));
  BT_CHECK_OK(bt_chan_release(prev));
}

BT_TEST_MPI(ring_of_slices, 4) {
  mt_both_modes(ring);
}

/* Random shapes and regions, f64 slices one way and their checksums on a
 * value channel the other way... and both at once in both directions. */
static void stress(bt_runtime *rt, bt_mpi *m) {
  int me = mt_rank(), peer = 1 - me;
  long count = bt_test_scaled(150);
  bt_chan *data, *sums;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 70, &bt_type_slice, 3, &data));
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 71, &bt_type_f64, 5, &sums));
  unsigned seed = bt_test_seed() + (unsigned)me;
  for (long k = 0; k < count; k++) {
    int ndim = 1 + (int)(rand_r(&seed) % 3);
    int64_t shape[3];
    bt_range reg[3];
    for (int d = 0; d < ndim; d++) {
      shape[d] = 1 + rand_r(&seed) % (ndim == 1 ? 5000 : 40);
      int64_t a = rand_r(&seed) % shape[d], b = rand_r(&seed) % shape[d];
      reg[d].start = a < b ? a : b;
      reg[d].stop = (a < b ? b : a) + 1;
    }
    bt_array *arr = filled_array(rt, ndim, shape, (double)k);
    bt_slice s;
    BT_CHECK_OK(bt_array_own(arr, reg, 0, &s));
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    double sum = 0;
    int64_t idx[3] = {0}, n = 1;
    for (int d = 0; d < ndim; d++) n *= v.shape[d];
    for (int64_t e = 0; e < n; e++) {
      int64_t off = 0;
      for (int d = 0; d < ndim; d++) off += idx[d] * v.strides[d];
      sum += ((double *)v.data)[off] * (double)(e % 13 + 1);
      for (int d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < v.shape[d]) break;
        idx[d] = 0;
      }
    }
    BT_CHECK_OK(bt_send(data, &s));
    BT_CHECK_OK(bt_send(sums, &sum));
    BT_CHECK_OK(bt_array_release(arr));
    /* Receive the peer's k-th. */
    bt_slice r;
    double want;
    BT_CHECK_OK(bt_recv(data, &r));
    BT_CHECK_OK(bt_recv(sums, &want));
    BT_CHECK_OK(bt_slice_view(r, &v));
    sum = 0;
    n = 1;
    for (int d = 0; d < v.ndim; d++) n *= v.shape[d];
    for (int64_t e = 0; e < n; e++)
      sum += ((double *)v.data)[e] * (double)(e % 13 + 1);
    BT_CHECK_NEAR(sum, want, 0);
    BT_CHECK_OK(bt_slice_release(r));
  }
  BT_CHECK_OK(bt_chan_release(data));
  BT_CHECK_OK(bt_chan_release(sums));
}

BT_TEST_MPI(stress_checksums, 2) {
  mt_both_modes(stress);
}

/* Ping-pong of a 64 KiB slice (header, then a payload message) while a
 * second thread of each rank ping-pongs values on another channel of the
 * same bridge: in direct mode both threads poll the bridge while they wait,
 * so an element is often decoded by one thread and delivered by another.
 * Each rank adds one to every element before it sends the slice back. */
typedef struct pong_values {
  bt_chan *ch;
  long count;
  long bad;
} pong_values;

static void *pong_values_main(void *arg) {
  pong_values *pv = arg;
  int me = mt_rank();
  for (long k = 0; k < pv->count; k++) {
    int64_t v = me == 0 ? 2 * k : -1;
    if (me == 0) {
      if (bt_send(pv->ch, &v) != BT_OK || bt_recv(pv->ch, &v) != BT_OK ||
          v != 2 * k + 1)
        pv->bad++;
    } else {
      if (bt_recv(pv->ch, &v) != BT_OK || v != 2 * k) pv->bad++;
      v++;
      if (bt_send(pv->ch, &v) != BT_OK) pv->bad++;
    }
  }
  return NULL;
}

static void pingpong_threads(bt_runtime *rt, bt_mpi *m) {
  int me = mt_rank(), peer = 1 - me;
  long count = bt_test_scaled(200);
  enum { N = 8192 }; /* f64: 64 KiB, well past the inline limit */
  bt_chan *data;
  pong_values pv = {.count = count, .bad = 0};
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 80, &bt_type_slice, 2, &data));
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 81, &bt_type_i64, 1, &pv.ch));
  pthread_t th;
  BT_CHECK_EQ(pthread_create(&th, NULL, pong_values_main, &pv), 0);
  bt_slice s = {0};
  if (me == 0) {
    int64_t len = N;
    bt_array *a;
    BT_CHECK_OK(bt_array_create(rt, BT_F64, 1, &len, BT_PLACE_LOCAL, &a));
    BT_CHECK_OK(bt_array_own(a, NULL, 0, &s));
    BT_CHECK_OK(bt_array_release(a));
    bt_view v;
    BT_CHECK_OK(bt_slice_view(s, &v));
    for (int64_t i = 0; i < N; i++) ((double *)v.data)[i] = (double)i;
  }
  for (long k = 0; k < 2 * count; k++) {
    /* Turn k is rank k % 2's: it sends, the other receives. */
    if (k % 2 == me) {
      bt_view v;
      BT_CHECK_OK(bt_slice_view(s, &v));
      for (int64_t i = 0; i < N; i++) ((double *)v.data)[i] += 1;
      BT_CHECK_OK(bt_send(data, &s));
    } else {
      BT_CHECK_OK(bt_recv(data, &s));
      bt_view v;
      BT_CHECK_OK(bt_slice_view(s, &v));
      BT_CHECK_EQ(v.shape[0], (int64_t)N);
      long bad = 0;
      for (int64_t i = 0; i < N; i++)
        bad += ((double *)v.data)[i] != (double)(i + k + 1);
      BT_CHECK_EQ(bad, 0);
    }
  }
  /* Rank 1 sent last: rank 0 holds the slice, rank 1's handle moved. */
  if (me == 0)
    BT_CHECK_OK(bt_slice_release(s));
  else
    BT_CHECK_STATUS(bt_slice_release(s), BT_EMOVED);
  pthread_join(th, NULL);
  BT_CHECK_EQ(pv.bad, 0);
  BT_CHECK_OK(bt_chan_release(data));
  BT_CHECK_OK(bt_chan_release(pv.ch));
}

BT_TEST_MPI(pingpong_threads, 2) {
  mt_both_modes(pingpong_threads);
}
