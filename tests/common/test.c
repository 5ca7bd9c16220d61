/* SPDX-License-Identifier: BSD-3-Clause */
/* test.c: the harness's registry and main(). */
#include <stdarg.h>
#include <time.h>

#include "test.h"

enum { MAX_CASES = 256 };
static struct {
  const char *name;
  bt_test_fn fn;
} cases[MAX_CASES];
static int ncases;
static const char *current = "";

void bt_test_register(const char *name, bt_test_fn fn) {
  if (ncases == MAX_CASES) {
    fprintf(stderr, "test.c: more than %d cases\n", MAX_CASES);
    abort();
  }
  cases[ncases].name = name;
  cases[ncases].fn = fn;
  ncases++;
}

double bt_test_scale(void) {
  const char *e = getenv("BATON_TEST_SCALE");
  double s = e ? atof(e) : 1.0;
  return s > 0 ? s : 1.0;
}

long bt_test_scaled(long count) {
  long n = (long)((double)count * bt_test_scale());
  return n < 1 ? 1 : n;
}

unsigned bt_test_seed(void) {
  const char *e = getenv("BATON_TEST_SEED");
  if (e) return (unsigned)strtoul(e, NULL, 0);
  unsigned h = 2166136261u;
  for (const char *p = current; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return h;
}

void bt_test_spawn(pthread_t *t, void *(*fn)(void *), void *arg) {
  BT_CHECK_EQ(pthread_create(t, NULL, fn, arg), 0);
}

void bt_test_join(pthread_t t) { BT_CHECK_EQ(pthread_join(t, NULL), 0); }

typedef struct test_thread {
  void *(*fn)(void *);
  void *arg;
  pthread_barrier_t *start;
} test_thread;

static void *test_thread_main(void *p) {
  const test_thread *t = p;
  pthread_barrier_wait(t->start);
  return t->fn(t->arg);
}

void bt_test_threads(int n, void *(*fn)(void *), void *args, size_t stride) {
  BT_CHECK_CMP(n, >, 0);
  pthread_t *th = malloc(sizeof *th * (size_t)n);
  test_thread *tt = malloc(sizeof *tt * (size_t)n);
  BT_CHECK(th != NULL && tt != NULL);
  pthread_barrier_t start;
  BT_CHECK_EQ(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
  for (int i = 0; i < n; i++) {
    void *arg = stride ? (char *)args + (size_t)i * stride : args;
    tt[i] = (test_thread){fn, arg, &start};
    bt_test_spawn(&th[i], test_thread_main, &tt[i]);
  }
  for (int i = 0; i < n; i++) bt_test_join(th[i]);
  pthread_barrier_destroy(&start);
  free(tt);
  free(th);
}

void bt_test_nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

void bt_test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL %s (%s:%d): ", current, file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  abort();
}

static void run_case(int i) {
  current = cases[i].name;
  fprintf(stderr, "case %s\n", current);
  cases[i].fn();
  fprintf(stderr, "ok   %s\n", current);
}

/* Hooks around the run; tests/mpi/mpitest.c overrides them to start and stop
 * MPI. */
__attribute__((weak)) void bt_test_init(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
}
__attribute__((weak)) void bt_test_fini(void) {}

static int run(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (int i = 0; i < ncases; i++) printf("%s\n", cases[i].name);
    return 0;
  }
  if (argc > 1) {
    for (int i = 0; i < ncases; i++)
      if (strcmp(cases[i].name, argv[1]) == 0) {
        run_case(i);
        return 0;
      }
    fprintf(stderr, "no case named %s\n", argv[1]);
    return 2;
  }
  for (int i = 0; i < ncases; i++) run_case(i);
  return 0;
}

int main(int argc, char **argv) {
  bt_test_init(&argc, &argv);
  int rc = run(argc, argv);
  bt_test_fini();
  return rc;
}
