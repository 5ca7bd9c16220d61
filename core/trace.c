/* SPDX-License-Identifier: BSD-3-Clause */
/* trace.c: BATON_TRACE, a Chrome trace-event JSON file of what each thread
 * did: jobs, kernel parts, blocking waits, MPI messages.
 *
 * Each thread records complete events into a ring of its own (no lock, no
 * shared line on the way); a full ring overwrites its oldest events and
 * counts them as dropped, so memory stays bounded however long the run.
 * The runtime that opened the trace writes every ring at its destroy, when
 * its workers have stopped. One trace per process (a process is one rank):
 * runtimes created while it is open add their threads to it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_int.h"

typedef struct trace_event {
  int64_t ts, dur; /* ns, bt__now_ns() */
  const char *cat, *name;
  int64_t a, b;
} trace_event;

typedef struct trace_ring {
  struct trace_ring *next; /* protected by tracer.lock */
  int tid;                 /* the JSON tid: the worker id, or 1000 + k */
  char label[48];          /* "worker 3", "thread 12" */
  uint64_t written;        /* owner thread only; read after it stopped */
  trace_event *ev;         /* [tracer.cap] */
} trace_ring;

typedef struct tracer {
  pthread_mutex_t lock;
  trace_ring *rings; /* protected by lock */
  int others;        /* protected by lock: rings of non-worker threads */
  uint64_t gen;      /* immutable: tells this trace from earlier ones */
  size_t cap;        /* immutable: events per ring */
  char *path;        /* immutable: the pattern (%r, %p) */
  bt_runtime *owner; /* immutable: the runtime that writes it */
} tracer;

_Atomic int bt__tracing;
/* atomic: the open trace or NULL; published with release after it is
 * complete, read with acquire by threads that record. */
static _Atomic(tracer *) current;
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t generations; /* relaxed: unique ids */

static _Thread_local trace_ring *my_ring;
static _Thread_local uint64_t my_gen;

enum { DEFAULT_EVENTS = 1 << 15, MAX_EVENTS = 1 << 24 };

static int check_pattern(const char *path) {
  for (const char *p = path; *p; p++) {
    if (*p != '%') continue;
    p++;
    if (*p != 'r' && *p != 'p' && *p != '%')
      return bt__fail(BT_EINVAL,
                      "BATON_TRACE='%s': '%%%c' is not %%r (rank), %%p (pid) "
                      "or %%%%",
                      path, *p ? *p : ' ');
  }
  /* The directory must exist and be writable now: a trace that cannot be
   * written is better refused at creation than lost at the end. */
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + 1), path);
  if (access(dir, W_OK) != 0)
    return bt__fail(BT_EINVAL,
                    "BATON_TRACE='%s': directory '%s' is not writable: %s",
                    path, dir, strerror(errno));
  return BT_OK;
}

static void expand(const char *pattern, char *out, size_t len) {
  size_t at = 0;
  for (const char *p = pattern; *p && at + 1 < len; p++) {
    if (*p == '%' && (p[1] == 'r' || p[1] == 'p')) {
      long v = p[1] == 'r' ? bt__rank() : (long)getpid();
      if (p[1] == 'r' && v < 0) v = 0;
      int n = snprintf(out + at, len - at, "%ld", v);
      at += n > 0 ? (size_t)n : 0;
      p++;
    } else if (*p == '%' && p[1] == '%') {
      out[at++] = '%';
      p++;
    } else {
      out[at++] = *p;
    }
  }
  out[at < len ? at : len - 1] = '\0';
}

int bt__trace_open(bt_runtime *rt, const char *path) {
  int rc = check_pattern(path);
  if (rc != BT_OK) return rc;
  size_t cap = DEFAULT_EVENTS;
  const char *v = getenv("BATON_TRACE_EVENTS");
  if (v && v[0]) {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 16 || n > MAX_EVENTS)
      return bt__fail(BT_EINVAL,
                      "BATON_TRACE_EVENTS='%s' is not a number of events per "
                      "thread from 16 to %d",
                      v, MAX_EVENTS);
    cap = (size_t)n;
  }
  pthread_mutex_lock(&open_lock);
  /* relaxed: open_lock orders the writers. */
  if (atomic_load_explicit(&current, memory_order_relaxed)) {
    pthread_mutex_unlock(&open_lock);
    return BT_OK; /* this runtime's threads join the open trace */
  }
  tracer *t = calloc(1, sizeof *t);
  char *copy = t ? strdup(path) : NULL;
  if (!t || !copy || pthread_mutex_init(&t->lock, NULL) != 0) {
    free(copy);
    free(t);
    pthread_mutex_unlock(&open_lock);
    return bt__fail(BT_ENOMEM, "cannot allocate the trace");
  }
  t->path = copy;
  t->cap = cap;
  t->owner = rt;
  t->gen = atomic_fetch_add_explicit(&generations, 1, memory_order_relaxed) + 1;
  /* release: pairs with the acquire in ring_of(). */
  atomic_store_explicit(&current, t, memory_order_release);
  atomic_store_explicit(&bt__tracing, 1, memory_order_relaxed);
  pthread_mutex_unlock(&open_lock);
  return BT_OK;
}

/* The calling thread's ring of trace t, made on first use; NULL if out of
 * memory (its events are then lost, counted nowhere). */
static trace_ring *ring_of(tracer *t, int worker) {
  if (my_gen == t->gen) return my_ring;
  trace_ring *r = calloc(1, sizeof *r);
  if (r) r->ev = malloc(sizeof *r->ev * t->cap);
  if (!r || !r->ev) {
    free(r);
    return NULL;
  }
  pthread_mutex_lock(&t->lock);
  if (worker >= 0) {
    r->tid = worker;
    snprintf(r->label, sizeof r->label, "worker %d", worker);
  } else {
    r->tid = 1000 + t->others++;
    snprintf(r->label, sizeof r->label, "thread %" PRIu64, bt__thread_id());
  }
  r->next = t->rings;
  t->rings = r;
  pthread_mutex_unlock(&t->lock);
  my_ring = r;
  my_gen = t->gen;
  return r;
}

void bt__trace_attach(bt_runtime *rt, int id) {
  /* acquire: pairs with the release in bt__trace_open(). */
  tracer *t = atomic_load_explicit(&current, memory_order_acquire);
  /* Only the owner's workers are named by their id: another runtime's
   * worker 0 would collide with it. */
  if (t) (void)ring_of(t, rt == t->owner ? id : -1);
}

void bt__trace_end(int64_t t0, const char *cat, const char *name, int64_t a,
                   int64_t b) {
  if (t0 == 0) return;
  /* acquire: pairs with the release in bt__trace_open(). */
  tracer *t = atomic_load_explicit(&current, memory_order_acquire);
  if (!t) return;
  trace_ring *r = ring_of(t, -1);
  if (!r) return;
  trace_event *e = &r->ev[r->written % t->cap];
  e->ts = t0;
  e->dur = bt__now_ns() - t0;
  e->cat = cat;
  e->name = name;
  e->a = a;
  e->b = b;
  r->written++;
}

/* The names of an event's two arguments, by category; NULL: none. */
static void arg_names(const char *cat, const char **a, const char **b) {
  *a = *b = NULL;
  if (strcmp(cat, "job") == 0 || strcmp(cat, "part") == 0) {
    *a = "worker";
  } else if (strcmp(cat, "mpi") == 0) {
    *a = "peer";
    *b = "bytes";
  }
}

static void write_json(tracer *t, FILE *f, int64_t base, uint64_t *events,
                       uint64_t *dropped) {
  int pid = bt__rank();
  if (pid < 0) pid = 0;
  char host[256];
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
  host[sizeof host - 1] = '\0';
  fprintf(f, "{\"traceEvents\":[\n");
  fprintf(f,
          "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
          "\"args\":{\"name\":\"rank %d on %s\"}}",
          pid, pid, host);
  for (trace_ring *r = t->rings; r; r = r->next) {
    fprintf(f,
            ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
            "\"args\":{\"name\":\"%s\"}}",
            pid, r->tid, r->label);
    uint64_t n = r->written < t->cap ? r->written : t->cap;
    uint64_t first = r->written - n;
    *dropped += first;
    *events += n;
    for (uint64_t i = first; i < r->written; i++) {
      const trace_event *e = &r->ev[i % t->cap];
      const char *an, *bn;
      arg_names(e->cat, &an, &bn);
      fprintf(f,
              ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,"
              "\"dur\":%.3f,\"pid\":%d,\"tid\":%d,\"args\":{",
              e->name, e->cat, (double)(e->ts - base) * 1e-3,
              (double)e->dur * 1e-3, pid, r->tid);
      if (an) fprintf(f, "\"%s\":%" PRId64, an, e->a);
      if (bn) fprintf(f, ",\"%s\":%" PRId64, bn, e->b);
      fprintf(f, "}}");
    }
  }
  fprintf(f,
          "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"rank\":%d,"
          "\"host\":\"%s\",\"dropped\":%" PRIu64
          ",\"events_per_thread\":%zu}}"
          "\n",
          pid, host, *dropped, t->cap);
}

void bt__trace_close(bt_runtime *rt) {
  pthread_mutex_lock(&open_lock);
  /* relaxed: open_lock orders the writers. */
  tracer *t = atomic_load_explicit(&current, memory_order_relaxed);
  if (!t || t->owner != rt) {
    pthread_mutex_unlock(&open_lock);
    return;
  }
  atomic_store_explicit(&bt__tracing, 0, memory_order_relaxed);
  atomic_store_explicit(&current, NULL, memory_order_relaxed);
  pthread_mutex_unlock(&open_lock);

  /* The earliest event is time 0. */
  int64_t base = INT64_MAX;
  for (trace_ring *r = t->rings; r; r = r->next) {
    uint64_t n = r->written < t->cap ? r->written : t->cap;
    for (uint64_t i = r->written - n; i < r->written; i++)
      if (r->ev[i % t->cap].ts < base) base = r->ev[i % t->cap].ts;
  }
  if (base == INT64_MAX) base = 0;
  char path[4096];
  expand(t->path, path, sizeof path);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "baton: cannot write the trace to %s: %s\n", path,
            strerror(errno));
  } else {
    uint64_t events = 0, dropped = 0;
    write_json(t, f, base, &events, &dropped);
    if (fclose(f) != 0)
      fprintf(stderr, "baton: cannot write the trace to %s: %s\n", path,
              strerror(errno));
    else if (dropped > 0)
      fprintf(stderr,
              "baton: trace %s: %" PRIu64 " events, %" PRIu64
              " oldest dropped (BATON_TRACE_EVENTS=%zu per thread)\n",
              path, events, dropped, t->cap);
  }
  for (trace_ring *r = t->rings, *next; r; r = next) {
    next = r->next;
    free(r->ev);
    free(r);
  }
  pthread_mutex_destroy(&t->lock);
  free(t->path);
  free(t);
}
