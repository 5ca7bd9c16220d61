/* SPDX-License-Identifier: BSD-3-Clause */
/* region.c: the region lock table of an array.
 *
 * A mutex and a dense vector of granted boxes, scanned linearly: tables hold
 * a few dozen live grants (one per part of a decomposition), and a scan that
 * rejects on axis 0 first beats an interval structure at that size. Waiters
 * sleep on a futex word that every unlock bumps, so a release wakes them and
 * nobody polls. */
#define BATON_ARRAY_MODULE 1
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array_int.h"

enum { GRANTS_PER_CHUNK = 64 };

int bt__regions_init(bt__regions *r) {
  memset(r, 0, sizeof *r);
  if (pthread_mutex_init(&r->lock, NULL) != 0)
    return bt__fail(BT_ENOMEM, "cannot initialise a region table lock");
  atomic_init(&r->epoch, 0);
  return BT_OK;
}

void bt__regions_fini(bt__regions *r) {
  for (int i = 0; i < r->nchunks; i++) free(r->chunks[i]);
  free(r->chunks);
  free(r->live);
  free(r->span0);
  pthread_mutex_destroy(&r->lock);
}

void bt__box_format(char *buf, size_t len, int ndim, const int64_t *lo,
                    const int64_t *hi) {
  size_t at = 0;
  int n = snprintf(buf, len, "[");
  at = n > 0 ? (size_t)n : 0;
  for (int d = 0; d < ndim && at < len; d++) {
    n = snprintf(buf + at, len - at, "%s%" PRId64 ":%" PRId64, d ? "," : "",
                 lo[d], hi[d]);
    at += n > 0 ? (size_t)n : 0;
  }
  if (at < len) snprintf(buf + at, len - at, "]");
}

static inline int boxes_overlap(int ndim, const int64_t *alo,
                                const int64_t *ahi, const bt__grant *g) {
  for (int d = 0; d < ndim; d++)
    if (!(alo[d] < g->hi[d] && g->lo[d] < ahi[d])) return 0;
  return 1;
}

/* The first grant that forbids [lo, hi) for this mode, or NULL.
 * Called with 'lock' held. */
static bt__grant *find_conflict(const bt__regions *r, int ndim,
                                const int64_t *lo, const int64_t *hi,
                                int owned) {
  const int64_t lo0 = lo[0], hi0 = hi[0];
  const int64_t *span0 = r->span0;
  for (int i = 0; i < r->nlive; i++) {
    if (!(lo0 < span0[2 * i + 1] && span0[2 * i] < hi0)) continue;
    bt__grant *g = r->live[i];
    if (!owned && !g->owned) continue;
    if (boxes_overlap(ndim, lo, hi, g)) return g;
  }
  return NULL;
}

/* A free grant struct, or NULL. Called with 'lock' held. */
static bt__grant *grant_alloc(bt__regions *r) {
  if (!r->free_grants) {
    void **chunks =
        realloc(r->chunks, sizeof *chunks * (size_t)(r->nchunks + 1));
    if (!chunks) return NULL;
    r->chunks = chunks;
    bt__grant *c = calloc(GRANTS_PER_CHUNK, sizeof *c);
    if (!c) return NULL;
    r->chunks[r->nchunks++] = c;
    for (int i = GRANTS_PER_CHUNK - 1; i >= 0; i--) {
      c[i].pos = -1;
      c[i].next_free = r->free_grants;
      r->free_grants = &c[i];
    }
  }
  bt__grant *g = r->free_grants;
  r->free_grants = g->next_free;
  return g;
}

/* Make room for one more live grant. Called with 'lock' held. */
static int live_reserve(bt__regions *r) {
  if (r->nlive < r->cap) return BT_OK;
  int cap = r->cap ? 2 * r->cap : 16;
  bt__grant **live = realloc(r->live, sizeof *live * (size_t)cap);
  if (!live) return BT_ENOMEM;
  r->live = live;
  int64_t *span0 = realloc(r->span0, sizeof *span0 * 2 * (size_t)cap);
  if (!span0) return BT_ENOMEM;
  r->span0 = span0;
  r->cap = cap;
  return BT_OK;
}

/* Every unlock (and the freeze) moves the epoch that waiters sleep on.
 * Called with 'lock' held: the epoch is written under it only, so a store of
 * the next value is an increment without a locked instruction. */
static void bump_epoch(bt__regions *r) {
  /* release: pairs with the acquire load in bt__regions_grant(); the waiter
   * re-reads the table under 'lock' anyway. */
  atomic_store_explicit(
      &r->epoch, atomic_load_explicit(&r->epoch, memory_order_relaxed) + 1,
      memory_order_release);
}

static int conflict_message(const bt_array *a, const int64_t *lo,
                            const int64_t *hi, const bt__grant *g, int code) {
  char want[256], have[256];
  bt__box_format(want, sizeof want, a->ndim, lo, hi);
  bt__box_format(have, sizeof have, a->ndim, g->lo, g->hi);
  int mine = g->granter == bt__thread_id() &&
             /* relaxed: see bt__grant.away (we are the granter). */
             atomic_load_explicit(&g->away, memory_order_relaxed) == 0;
  return bt__fail(code,
                  "region %s overlaps region %s %s by thread %" PRIu64 "%s%s",
                  want, have, g->owned ? "owned" : "borrowed", g->granter,
                  mine ? " (the calling thread, which holds it)" : "",
                  code == BT_ETIMEDOUT ? " (timed out)" : "");
}

/* With 'lock' held: the first grant that conflicts with [lo, hi) if every
 * conflicting grant is held whole by the calling thread (it locked it and
 * holds each of its slices), else NULL. Such a wait could end only by the
 * caller's own release. */
static bt__grant *self_conflict(const bt__regions *r, int ndim,
                                const int64_t *lo, const int64_t *hi,
                                int owned) {
  uint64_t self = bt__thread_id();
  bt__grant *first = NULL;
  for (int i = 0; i < r->nlive; i++) {
    bt__grant *g = r->live[i];
    if (!owned && !g->owned) continue;
    if (!boxes_overlap(ndim, lo, hi, g)) continue;
    /* relaxed: away drops to 0 only by this thread's own receives or under
     * 'lock', which we hold (see bt__grant.away). */
    if (g->granter != self ||
        atomic_load_explicit(&g->away, memory_order_relaxed) != 0)
      return NULL;
    if (!first) first = g;
  }
  return first;
}

static int deadlock_message(const bt_array *a, const int64_t *lo,
                            const int64_t *hi, int owned, const bt__grant *g) {
  char want[256], have[256];
  bt__box_format(want, sizeof want, a->ndim, lo, hi);
  bt__box_format(have, sizeof have, a->ndim, g->lo, g->hi);
  return bt__fail(BT_EDEADLK,
                  "%s of region %s would wait for ever: it overlaps region %s "
                  "%s by the calling thread (thread %" PRIu64
                  "), which holds all %" PRId64
                  " slice%s of it; release %s first",
                  owned ? "own" : "borrow", want, have,
                  g->owned ? "owned" : "borrowed", g->granter, g->live,
                  g->live == 1 ? "" : "s", g->live == 1 ? "it" : "them");
}

/* BATON_WATCHDOG: what a long own or borrow waits for. With 'lock' held. */
static void watch_message(const bt_array *a, const int64_t *lo,
                          const int64_t *hi, int owned, const bt__watch *w) {
  const bt__regions *r = &a->regions;
  char want[256], have[256], who[96];
  bt__box_format(want, sizeof want, a->ndim, lo, hi);
  const bt__grant *c = find_conflict(r, a->ndim, lo, hi, owned);
  if (!c) {
    bt__watch_report(w, "%s of region %s of array %p (now free)",
                     owned ? "own" : "borrow", want, (const void *)a);
    return;
  }
  bt__box_format(have, sizeof have, a->ndim, c->lo, c->hi);
  bt__thread_name(a->rt, c->granter, who, sizeof who);
  /* relaxed: a report (see bt__grant.away). */
  int64_t away = atomic_load_explicit(&c->away, memory_order_relaxed);
  bt__watch_report(w,
                   "%s of region %s of array %p: it overlaps region %s %s by "
                   "%s, %" PRId64 " slice%s of it live, %" PRId64
                   " with other threads or in flight",
                   owned ? "own" : "borrow", want, (const void *)a, have,
                   c->owned ? "owned" : "borrowed", who, c->live,
                   c->live == 1 ? "" : "s", away);
}

int bt__regions_grant(bt_array *a, const int64_t *lo, const int64_t *hi,
                      int owned, int64_t timeout_ns, bt__grant **out) {
  bt__regions *r = &a->regions;
  int64_t deadline = bt__deadline(timeout_ns);
  int64_t waited = 0; /* bt__trace_begin() of the wait, if one began */
  bt__watch watch = {0, -1};
  int rc, armed = 0;
  pthread_mutex_lock(&r->lock);
  for (;;) {
    if (owned && r->frozen) {
      rc = bt__fail(BT_EFROZEN,
                    "the array is frozen: own refused, borrow "
                    "instead");
      goto out_unlock;
    }
    bt__grant *c = find_conflict(r, a->ndim, lo, hi, owned);
    if (!c) break;
    if (deadline == 0) {
      rc = conflict_message(a, lo, hi, c, BT_EBUSY);
      goto out_unlock;
    }
    /* Forever only: a bounded wait keeps its meaning (and its timeout
     * says who holds the region). */
    if (deadline < 0) {
      bt__grant *mine = self_conflict(r, a->ndim, lo, hi, owned);
      if (mine) {
        rc = deadlock_message(a, lo, hi, owned, mine);
        goto out_unlock;
      }
    }
    /* acquire: pairs with the release increment in unlock_grant(); read
     * under 'lock', so an unlock after we let go changes it and the futex
     * wait returns at once. */
    uint32_t seen = atomic_load_explicit(&r->epoch, memory_order_acquire);
    if (!armed) {
      armed = 1;
      bt__watch_arm(&watch);
      waited = bt__trace_begin();
    }
    r->waiters++;
    pthread_mutex_unlock(&r->lock);
    int w =
        bt__futex_wait(&r->epoch, seen, bt__watch_deadline(&watch, deadline));
    pthread_mutex_lock(&r->lock);
    r->waiters--;
    if (bt__watch_due(&watch)) watch_message(a, lo, hi, owned, &watch);
    if (w == BT_ETIMEDOUT && deadline >= 0 && bt__now_ns() >= deadline) {
      c = find_conflict(r, a->ndim, lo, hi, owned);
      if (c) {
        rc = conflict_message(a, lo, hi, c, BT_ETIMEDOUT);
        goto out_unlock;
      }
      if (owned && r->frozen) continue; /* reports BT_EFROZEN */
      break;
    }
  }
  if (live_reserve(r) != BT_OK) {
    rc = bt__fail(BT_ENOMEM, "cannot grow the region table");
    goto out_unlock;
  }
  bt__grant *g = grant_alloc(r);
  if (!g) {
    rc = bt__fail(BT_ENOMEM, "cannot grow the region table");
    goto out_unlock;
  }
  for (int d = 0; d < a->ndim; d++) {
    g->lo[d] = lo[d];
    g->hi[d] = hi[d];
  }
  g->owned = owned;
  g->live = 1;
  g->granter = bt__thread_id();
  g->via = NULL;
  atomic_store_explicit(&g->away, 0, memory_order_relaxed);
  /* The grants hold one array reference together, taken by the first. */
  if (r->nlive == 0) bt_array_retain(a);
  g->pos = r->nlive;
  r->span0[2 * g->pos] = lo[0];
  r->span0[2 * g->pos + 1] = hi[0];
  r->live[r->nlive++] = g;
  pthread_mutex_unlock(&r->lock);
  bt__trace_end(waited, "wait", owned ? "own" : "borrow", 0, 0);
  *out = g;
  return BT_OK;
out_unlock:
  pthread_mutex_unlock(&r->lock);
  bt__trace_end(waited, "wait", owned ? "own" : "borrow", 0, 0);
  return rc;
}

void bt__regions_add(bt_array *a, bt__grant *g, int64_t n, int away) {
  bt__regions *r = &a->regions;
  pthread_mutex_lock(&r->lock);
  BT_ASSERT(g->pos >= 0 && g->live > 0);
  g->live += n;
  /* relaxed: see bt__grant.away; the splitter holds one already-away slice,
   * so this never moves away from 0. */
  if (away) atomic_fetch_add_explicit(&g->away, n, memory_order_relaxed);
  pthread_mutex_unlock(&r->lock);
}

void bt__regions_put(bt_array *a, bt__grant *g, int away) {
  bt__regions *r = &a->regions;
  int last = 0, wake = 0;
  bt_array *via = NULL;
  pthread_mutex_lock(&r->lock);
  BT_ASSERT(g->pos >= 0 && g->live > 0);
  /* relaxed, under 'lock': see bt__grant.away. */
  if (away) atomic_fetch_sub_explicit(&g->away, 1, memory_order_relaxed);
  if (--g->live == 0) {
    via = g->via;
    int end = --r->nlive;
    bt__grant *moved = r->live[end];
    r->live[g->pos] = moved;
    r->span0[2 * g->pos] = r->span0[2 * end];
    r->span0[2 * g->pos + 1] = r->span0[2 * end + 1];
    moved->pos = g->pos;
    g->pos = -1;
    g->next_free = r->free_grants;
    r->free_grants = g;
    bump_epoch(r);
    wake = r->waiters > 0;
    last = r->nlive == 0;
  }
  pthread_mutex_unlock(&r->lock);
  if (wake) bt__futex_wake(&r->epoch, INT32_MAX);
  if (last) bt_array_release(a); /* the grants' reference; may free a */
  bt_array_release(via);          /* a sub-array's, if the grant had one;
                                     its chain of parents keeps a alive
                                     until here */
}

int bt__regions_freeze(bt_array *a) {
  bt__regions *r = &a->regions;
  int rc = BT_OK;
  pthread_mutex_lock(&r->lock);
  for (int i = 0; i < r->nlive; i++) {
    bt__grant *g = r->live[i];
    if (g->owned) {
      char have[256];
      bt__box_format(have, sizeof have, a->ndim, g->lo, g->hi);
      rc = bt__fail(BT_EBUSY,
                    "cannot freeze: region %s is owned by thread %" PRIu64,
                    have, g->granter);
      goto out;
    }
  }
  r->frozen = 1;
  /* relaxed: readers that matter (own) read r->frozen under 'lock'; this
   * copy only feeds views, whose slices are borrows by then. */
  atomic_store_explicit(&a->frozen, 1, memory_order_relaxed);
  bump_epoch(r);
  if (r->waiters > 0) {
    pthread_mutex_unlock(&r->lock);
    /* Owners waiting must learn at once that they will never get it. */
    bt__futex_wake(&r->epoch, INT32_MAX);
    return rc;
  }
out:
  pthread_mutex_unlock(&r->lock);
  return rc;
}

int bt__regions_report(bt__tracked *t, FILE *out) {
  bt_array *a = (bt_array *)((char *)t - offsetof(bt_array, tracked));
  bt__regions *r = &a->regions;
  pthread_mutex_lock(&r->lock);
  int n = r->nlive;
  for (int i = 0; out && i < r->nlive; i++) {
    const bt__grant *g = r->live[i];
    char box[256], shape[256], who[96];
    bt__box_format(box, sizeof box, a->ndim, g->lo, g->hi);
    size_t at = 0;
    for (int d = 0; d < a->ndim && at < sizeof shape; d++) {
      int k = snprintf(shape + at, sizeof shape - at, "%s%" PRId64,
                       d ? "x" : "", a->shape[d]);
      at += k > 0 ? (size_t)k : 0;
    }
    bt__thread_name(a->rt, g->granter, who, sizeof who);
    /* relaxed: a report (see bt__grant.away). */
    int64_t away = atomic_load_explicit(&g->away, memory_order_relaxed);
    fprintf(out, "    array %p %s %s: region %s %s by %s, %" PRId64 " slice%s",
            (void *)a, bt_dtype_name(a->dtype), shape, box,
            g->owned ? "owned" : "borrowed", who, g->live,
            g->live == 1 ? "" : "s");
    if (away > 0)
      fprintf(out, " (%" PRId64 " with other threads or in flight)", away);
    fputc('\n', out);
  }
  pthread_mutex_unlock(&r->lock);
  return n;
}

int bt__regions_check(const bt_array *ca) {
  if (bt__array_get(ca) == NULL)
    return bt__fail(BT_ESTATE, "%p is not a live array", (const void *)ca);
  bt_array *a = bt__array_root(ca); /* a sub-array's table is its root's */
  bt__regions *r = &a->regions;
  int rc = BT_OK;
  pthread_mutex_lock(&r->lock);
  if (r->nlive < 0 || r->nlive > r->cap) {
    rc = bt__fail(BT_ESTATE, "region table: %d live grants, capacity %d",
                  r->nlive, r->cap);
    goto out;
  }
  if (r->nlive > 0 &&
      atomic_load_explicit(&a->refs, memory_order_relaxed) < 1) {
    rc = bt__fail(BT_ESTATE, "region table: %d grants but no array reference",
                  r->nlive);
    goto out;
  }
  for (int i = 0; i < r->nlive; i++) {
    const bt__grant *g = r->live[i];
    char box[256];
    bt__box_format(box, sizeof box, a->ndim, g->lo, g->hi);
    if (r->span0[2 * i] != g->lo[0] || r->span0[2 * i + 1] != g->hi[0]) {
      rc = bt__fail(BT_ESTATE, "region table: axis-0 span of %s is stale", box);
      goto out;
    }
    if (g->pos != i) {
      rc = bt__fail(BT_ESTATE, "region table: grant %s at %d says %d", box, i,
                    g->pos);
      goto out;
    }
    if (g->live <= 0) {
      rc = bt__fail(BT_ESTATE,
                    "region table: grant %s has %" PRId64 " live slices", box,
                    g->live);
      goto out;
    }
    if (g->owned && r->frozen) {
      rc = bt__fail(BT_ESTATE, "region table: %s owned in a frozen array", box);
      goto out;
    }
    for (int d = 0; d < a->ndim; d++)
      if (g->lo[d] < 0 || g->lo[d] >= g->hi[d] || g->hi[d] > a->shape[d]) {
        rc = bt__fail(BT_ESTATE,
                      "region table: grant %s outside the array "
                      "or empty on axis %d",
                      box, d);
        goto out;
      }
    for (int j = 0; j < i; j++) {
      const bt__grant *h = r->live[j];
      if ((g->owned || h->owned) && boxes_overlap(a->ndim, g->lo, g->hi, h)) {
        char other[256];
        bt__box_format(other, sizeof other, a->ndim, h->lo, h->hi);
        rc = bt__fail(BT_ESTATE, "region table: %s %s overlaps %s %s", box,
                      g->owned ? "owned" : "borrowed", other,
                      h->owned ? "owned" : "borrowed");
        goto out;
      }
    }
  }
out:
  pthread_mutex_unlock(&r->lock);
  return rc;
}
