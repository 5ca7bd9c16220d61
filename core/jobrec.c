/* SPDX-License-Identifier: BSD-3-Clause */
/* jobrec.c: the memory of job records (a job's task and future in one
 * block, core/job.c), recycled instead of freed.
 *
 * Why: a batch of jobs in flight mallocs and frees one record each. When
 * the batch is large (10^5 records, 11 MB), glibc gives the top of the heap
 * back to the kernel after the frees, and the next batch faults every page
 * in again; on the development VM a fault costs microseconds and, with the
 * worker running on the other CPU, turned a 1-worker batch from 4 Mjobs/s
 * into 0.3-0.5 (docs/performance.md, "jobs4, sixth session").
 *
 * How: size classes of 128, 256 and 512 bytes (a record without argument or
 * result takes 112). Each thread keeps, per class, two magazines (Bonwick's
 * scheme): `loaded`, from which records are taken and to which they are
 * given back, and `spare`, a full one or none. A full `loaded` swaps with
 * an empty spare or sends the full spare to the depot; an empty one swaps
 * with a full spare or takes a magazine from the depot, else mallocs. The
 * thread's magazines are its own (no atomics); the depot is a list of
 * magazines under a mutex, taken once per MAG records, so no lock-free list
 * and no ABA. A record freed on another thread than the one that took it
 * simply changes thread: the mutex carries it between caches, and the
 * record's last reference (an acq_rel fetch_sub in job.c) orders the job's
 * last writes before the free.
 *
 * Bounds: a thread holds at most 2 * MAG records per class; the depot at
 * most DEPOT_BYTES per class (beyond, records go back to malloc), and
 * bt__jobrec_trim() (bt_runtime_destroy) frees the depot. A thread's
 * magazines go to the depot when it exits (a pthread key's destructor),
 * full ones kept, the records of a partial one freed. */
#include <pthread.h>
#include <stdlib.h>

#include "core_int.h"

enum {
  CLASSES = 3,
  MAG = 64,                   /* records in a full magazine */
  DEPOT_BYTES = 32 << 20,     /* most kept per class in the depot */
};

static const size_t class_size[CLASSES] = {128, 256, 512};

/* A free record: its first two words (the future's task, which a free
 * record no longer needs) link it into a magazine, and a magazine's first
 * record links the magazines of the depot. The future's magic word (at a
 * larger offset) stays dead, as bt__magic_kill() left it, so a released
 * handle still answers BT_EINVAL until the record is taken again. */
typedef struct free_rec {
  struct free_rec *next;     /* the next record of its magazine */
  struct free_rec *next_mag; /* the depot's next magazine (first record) */
} free_rec;

typedef struct magazine {
  free_rec *head;
  int count;
} magazine;

typedef struct thread_cache {
  magazine loaded[CLASSES], spare[CLASSES];
  int registered; /* the exit destructor knows this thread */
} thread_cache;

static _Thread_local thread_cache cache; /* this thread's only */

static struct {
  pthread_mutex_t lock;
  free_rec *mags[CLASSES]; /* protected by lock */
  size_t bytes[CLASSES];   /* protected by lock */
} depot = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_ok;

static void free_chain(free_rec *r) {
  while (r) {
    free_rec *next = r->next;
    free(r);
    r = next;
  }
}

/* Gives m to the depot when it is full and the depot has room, else its
 * records to malloc (the depot holds full magazines only); m is empty
 * after. */
static void depot_put(int c, magazine *m) {
  if (m->count == 0) return;
  size_t bytes = (size_t)MAG * class_size[c];
  int full = m->count == MAG;
  free_rec *head = m->head;
  m->head = NULL;
  m->count = 0;
  pthread_mutex_lock(&depot.lock);
  if (full && depot.bytes[c] + bytes <= DEPOT_BYTES) {
    head->next_mag = depot.mags[c];
    depot.mags[c] = head;
    depot.bytes[c] += bytes;
    head = NULL;
  }
  pthread_mutex_unlock(&depot.lock);
  free_chain(head);
}

/* Fills the empty m with a full magazine of the depot; 0 when it has
 * none. */
static int depot_get(int c, magazine *m) {
  pthread_mutex_lock(&depot.lock);
  free_rec *head = depot.mags[c];
  if (head) {
    depot.mags[c] = head->next_mag;
    depot.bytes[c] -= (size_t)MAG * class_size[c];
  }
  pthread_mutex_unlock(&depot.lock);
  if (!head) return 0;
  m->head = head;
  m->count = MAG;
  return 1;
}

static void cache_flush(thread_cache *tc) {
  for (int c = 0; c < CLASSES; c++) {
    depot_put(c, &tc->loaded[c]);
    depot_put(c, &tc->spare[c]);
  }
}

static void on_thread_exit(void *arg) {
  thread_cache *tc = arg;
  tc->registered = 0; /* a record freed by a later destructor registers
                         again (POSIX runs destructors up to 4 rounds) */
  cache_flush(tc);
}

static void make_key(void) {
  key_ok = pthread_key_create(&key, on_thread_exit) == 0;
}

/* The class of a record of `bytes`, -1: too large to recycle. */
static int class_of(size_t bytes) {
  for (int c = 0; c < CLASSES; c++)
    if (bytes <= class_size[c]) return c;
  return -1;
}

/* Makes sure this thread's magazines go to the depot when it exits; 0 if
 * they would be lost then (no key): the caller keeps none. */
static int cache_register(void) {
  if (cache.registered) return 1;
  pthread_once(&key_once, make_key);
  if (!key_ok || pthread_setspecific(key, &cache) != 0) return 0;
  cache.registered = 1;
  return 1;
}

void *bt__jobrec_alloc(size_t bytes, int *cls) {
  int c = class_of(bytes);
  *cls = c;
  if (c < 0) return malloc(bytes);
  magazine *m = &cache.loaded[c];
  if (m->count == 0) {
    magazine *s = &cache.spare[c];
    if (s->count > 0) {
      magazine t = *m;
      *m = *s;
      *s = t;
    } else if (!cache_register() || !depot_get(c, m)) {
      return malloc(class_size[c]);
    }
  }
  free_rec *r = m->head;
  m->head = r->next;
  m->count--;
  return r;
}

void bt__jobrec_free(void *rec, int cls) {
  if (rec == NULL) return;
  if (cls < 0) {
    free(rec);
    return;
  }
  if (!cache_register()) {
    free(rec);
    return;
  }
  magazine *m = &cache.loaded[cls];
  if (m->count == MAG) {
    magazine *s = &cache.spare[cls];
    if (s->count > 0) depot_put(cls, s); /* full: to the depot */
    *s = *m;
    m->head = NULL;
    m->count = 0;
  }
  free_rec *r = rec;
  r->next = m->head;
  m->head = r;
  m->count++;
}

void bt__jobrec_trim(void) {
  cache_flush(&cache);
  free_rec *mags[CLASSES];
  pthread_mutex_lock(&depot.lock);
  for (int c = 0; c < CLASSES; c++) {
    mags[c] = depot.mags[c];
    depot.mags[c] = NULL;
    depot.bytes[c] = 0;
  }
  pthread_mutex_unlock(&depot.lock);
  for (int c = 0; c < CLASSES; c++)
    for (free_rec *m = mags[c]; m;) {
      free_rec *next = m->next_mag;
      free_chain(m);
      m = next;
    }
}
