/* SPDX-License-Identifier: BSD-3-Clause */
/* test_mpi_diag.c: the MPI bridge in the diagnostics: its section of
 * bt_runtime_report() (remote channels with their counts), the rank in the
 * report's header, and BATON_WATCHDOG naming the peer of a remote channel
 * a receive waits on. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "mpitest.h"

static char *report_of(bt_runtime *rt) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  BT_CHECK(f != NULL);
  BT_CHECK_OK(bt_runtime_report(rt, f));
  fclose(f);
  return text;
}

static void report_counts(bt_runtime *rt, bt_mpi *m) {
  bt_chan *ch;
  int peer = 1 - mt_rank();
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 3, &bt_type_f64, 4, &ch));
  for (int i = 0; i < 10; i++) {
    double x = i;
    if (mt_rank() == 0)
      BT_CHECK_OK(bt_send(ch, &x));
    else
      BT_CHECK_OK(bt_recv(ch, &x));
  }
  /* What rank 0 sent has all arrived at rank 1 once rank 1 answers. */
  double done = 1;
  if (mt_rank() == 1)
    BT_CHECK_OK(bt_send(ch, &done));
  else
    BT_CHECK_OK(bt_recv(ch, &done));
  char *text = report_of(rt);
  fputs(text, stderr);
  char want[128];
  snprintf(want, sizeof want, "baton report: host ");
  BT_CHECK(strstr(text, want) != NULL);
  snprintf(want, sizeof want, " rank %d pid ", mt_rank());
  BT_CHECK(strstr(text, want) != NULL);
  snprintf(want, sizeof want, "MPI bridge: rank %d of 2", mt_rank());
  BT_CHECK(strstr(text, want) != NULL);
  /* Rank 1's answer may still wait in its out for the progress thread:
   * only what the other side has seen arrive is certain. */
  snprintf(want, sizeof want,
           "remote channel to rank %d tag 3 (f64, capacity 4): %s", peer,
           mt_rank() == 0 ? "sent 10 (80 B), received 1 (8 B)" : "sent ");
  BT_CHECK(strstr(text, want) != NULL);
  snprintf(want, sizeof want, "received %d (%d B)", mt_rank() ? 10 : 1,
           mt_rank() ? 80 : 8);
  BT_CHECK(strstr(text, want) != NULL);
  free(text);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(report_remote_channels, 2) {
  mt_both_modes(report_counts);
}

/* The late wake-ups of the remote channel to `peer` with `tag` in the
 * report, or -1 if the line is missing. */
static long late_wakeups_in(const char *text, int peer, int tag) {
  char want[64];
  snprintf(want, sizeof want, "remote channel to rank %d tag %d ", peer, tag);
  const char *line = strstr(text, want);
  if (!line) return -1;
  const char *end = strchr(line, '\n');
  const char *at = strstr(line, " late wake-up");
  if (!at || (end && at > end)) return -1;
  while (at > line && at[-1] >= '0' && at[-1] <= '9') at--;
  return strtol(at, NULL, 10);
}

/* Rank 0 sends three values, each 30 ms after rank 1 blocked in bt_recv,
 * long after its polling stopped (BATON_MPI_SPIN_US, 200 us): each reaches
 * the receiver through the progress thread, a late wake-up. What rank 1
 * finds waiting when it asks (sent before a barrier it then passed) was
 * delivered with nobody blocked. */
static void count_late(bt_runtime *rt, bt_mpi *m) {
  bt_chan *ch;
  int peer = 1 - mt_rank();
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 4, &bt_type_f64, 4, &ch));
  double x = 1;
  for (int i = 0; i < 3; i++) {
    MPI_Barrier(MPI_COMM_WORLD);
    if (mt_rank() == 0) {
      mt_sleep_ms(30);
      BT_CHECK_OK(bt_send(ch, &x));
    } else {
      BT_CHECK_OK(bt_recv(ch, &x));
    }
  }
  char *text = report_of(rt);
  long late = late_wakeups_in(text, peer, 4);
  if (mt_rank() == 1) {
    fputs(text, stderr);
    BT_CHECK_CMP(late, >=, 1);
    BT_CHECK_CMP(late, <=, 3);
  } else {
    BT_CHECK_EQ(late, 0); /* rank 0 received nothing */
  }
  free(text);
  BT_CHECK_OK(bt_chan_release(ch));
}

BT_TEST_MPI(report_late_wakeups, 2) {
  mt_both_modes(count_late);
}

/* The remote channels the report lists, and the finished ones it says
 * left the poll list. */
static int listed_channels(const char *text) {
  int n = 0;
  for (const char *at = text; (at = strstr(at, "remote channel to rank"));
       at++)
    n++;
  return n;
}

static long left_channels(const char *text) {
  const char *at = strstr(text, " finished and left the poll list");
  if (!at) return 0;
  while (at > text && at[-1] != '\n') at--;
  return strtol(at, NULL, 10);
}

/* Wait (up to 20 s: a loaded machine) until the report lists `listed`
 * channels; the last report's text. */
static char *report_when_listed(bt_runtime *rt, int listed) {
  char *text = report_of(rt);
  for (int i = 0; i < 2000 && listed_channels(text) != listed; i++) {
    free(text);
    mt_sleep_ms(10);
    text = report_of(rt);
  }
  return text;
}

enum { CHURN = 200 };

/* A code that makes and releases many remote channels leaves no polling
 * work behind: a channel whose two ends were released and whose messages
 * all arrived leaves the bridge's list, whichever end released first and
 * whatever was still in flight (unreceived elements, credits owed). Its
 * tag stays taken until detach. A channel released on one side only
 * stays listed on the other, where its user still holds it. */
static void churn(bt_runtime *rt, bt_mpi *m) {
  int peer = 1 - mt_rank();
  for (int i = 0; i < CHURN; i++) {
    bt_chan *ch;
    BT_CHECK_OK(bt_mpi_chan_create(m, peer, 1000 + i, &bt_type_i64, 2, &ch));
    int64_t x = i;
    switch (i % 3) {
      case 0: /* a round trip, then both release */
        if (mt_rank() == 0) {
          BT_CHECK_OK(bt_send(ch, &x));
          BT_CHECK_OK(bt_recv(ch, &x));
          BT_CHECK_EQ(x, i + 1);
        } else {
          BT_CHECK_OK(bt_recv(ch, &x));
          x++;
          BT_CHECK_OK(bt_send(ch, &x));
        }
        break;
      case 1: /* the receiver releases with elements unreceived */
        if (mt_rank() == 0) {
          BT_CHECK_OK(bt_send(ch, &x));
          BT_CHECK_OK(bt_send(ch, &x));
        }
        break;
      case 2: /* the sender closes first, then both release */
        if (mt_rank() == 0) {
          BT_CHECK_OK(bt_send(ch, &x));
          BT_CHECK_OK(bt_chan_close(ch));
        } else {
          BT_CHECK_OK(bt_recv(ch, &x));
          BT_CHECK_EQ(x, i);
          BT_CHECK_STATUS(bt_recv(ch, &x), BT_ECLOSED);
        }
        break;
    }
    BT_CHECK_OK(bt_chan_release(ch));
  }
  /* One more, released by rank 1 only: rank 0's end stays. */
  bt_chan *kept;
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 999, &bt_type_i64, 2, &kept));
  if (mt_rank() == 1) BT_CHECK_OK(bt_chan_release(kept));
  char *text = report_when_listed(rt, mt_rank() == 0 ? 1 : 0);
  BT_CHECK_EQ(listed_channels(text), mt_rank() == 0 ? 1 : 0);
  /* Rank 1's end of it is finished too: rank 0 closed in answer to its
   * close, and sends nothing more. */
  BT_CHECK_EQ(left_channels(text), mt_rank() == 0 ? CHURN : CHURN + 1);
  free(text);
  /* A finished channel's tag is still taken. */
  bt_chan *again = NULL;
  BT_CHECK_STATUS(bt_mpi_chan_create(m, peer, 1000, &bt_type_i64, 2, &again),
                  BT_EINVAL);
  BT_CHECK(strstr(bt_errmsg(), "stays taken until detach") != NULL);
  MPI_Barrier(MPI_COMM_WORLD);
  if (mt_rank() == 0) BT_CHECK_OK(bt_chan_release(kept));
  text = report_when_listed(rt, 0);
  BT_CHECK_EQ(listed_channels(text), 0);
  BT_CHECK_EQ(left_channels(text), CHURN + 1);
  free(text);
}

BT_TEST_MPI(released_channels_leave, 2) {
  mt_both_modes(churn);
}

/* ---- watchdog ------------------------------------------------------------ */

static char capture_path[] = "/tmp/baton-mpitest-stderr-XXXXXX";
static int saved_stderr = -1;

static int captured_has(const char *needle) {
  fflush(stderr);
  int fd = open(capture_path, O_RDONLY);
  BT_CHECK(fd >= 0);
  static char buf[1 << 16];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = '\0';
  return strstr(buf, needle) != NULL;
}

typedef struct go_arg {
  bt_chan *go;
} go_arg;

/* Rank 1: once the watchdog spoke about the blocked receive, tell rank 0
 * to send. */
static void *signal_after_watchdog(void *p) {
  go_arg *g = p;
  for (int i = 0; i < 6000 && !captured_has("peer rank 0 tag 1"); i++)
    mt_sleep_ms(10);
  BT_CHECK(captured_has("peer rank 0 tag 1"));
  double one = 1;
  BT_CHECK_OK(bt_send(g->go, &one));
  return NULL;
}

BT_TEST_MPI(watchdog_remote_receive, 2) {
  setenv("BATON_WATCHDOG", "0.05", 1);
  bt_runtime *rt = mt_runtime();
  bt_mpi *m = mt_attach(rt, "direct");
  bt_chan *data, *go;
  int peer = 1 - mt_rank();
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 1, &bt_type_f64, 1, &data));
  BT_CHECK_OK(bt_mpi_chan_create(m, peer, 2, &bt_type_f64, 1, &go));
  double x = 42;
  if (mt_rank() == 0) {
    double sign;
    BT_CHECK_OK(bt_recv(go, &sign));
    BT_CHECK_OK(bt_send(data, &x));
  } else {
    fflush(stderr);
    int fd = mkstemp(capture_path);
    BT_CHECK(fd >= 0);
    saved_stderr = dup(2);
    BT_CHECK(dup2(fd, 2) == 2);
    close(fd);
    go_arg g = {go};
    pthread_t th;
    bt_test_spawn(&th, signal_after_watchdog, &g);
    BT_CHECK_OK(bt_recv(data, &x));
    bt_test_join(th);
    BT_CHECK(x == 42);
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    BT_CHECK(captured_has("baton watchdog: rank 1 "));
    BT_CHECK(captured_has("receive on remote channel"));
    BT_CHECK(captured_has("remote: peer rank 0 tag 1"));
    unlink(capture_path);
  }
  BT_CHECK_OK(bt_chan_release(data));
  BT_CHECK_OK(bt_chan_release(go));
  BT_CHECK_OK(bt_mpi_detach(m));
  BT_CHECK_OK(bt_runtime_destroy(rt));
  unsetenv("BATON_WATCHDOG");
}
