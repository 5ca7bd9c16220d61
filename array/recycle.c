/* SPDX-License-Identifier: BSD-3-Clause */
/* recycle.c: the mappings of received arrays, kept for the next receive.
 *
 * The MPI receiver makes a new array for every slice message (the contract:
 * the receiver gets a writable slice of a new array), and a new array costs
 * its page faults: 1 ms for 2 MiB on the development machine, as much as the
 * transfer itself. An array made for a receive (bt__slice_recv_array) hands
 * its mapping back here when it is freed, that is when its last reference
 * is gone and nobody can see the memory any more; the next receive of the
 * same mapped size on the same NUMA node takes it, already faulted in. The
 * contents are stale, so only a caller that overwrites every byte takes
 * one. Bounded: RECYCLE_SLOTS mappings and RECYCLE_BYTES in all; a
 * mapping given when the cache is full evicts (unmaps) the oldest ones, so
 * sizes no longer received do not keep the slots from the current ones.
 * The most recently freed match is taken first (warmest in cache). */
#define BATON_ARRAY_MODULE 1
#include <pthread.h>
#include <sys/mman.h>

#include "array_int.h"

enum { RECYCLE_SLOTS = 8 };
static const size_t RECYCLE_BYTES = (size_t)512 << 20;

typedef struct kept {
  void *data;
  size_t map;
  int numa;
} kept;

/* All of it under the lock; slots[0] is the oldest. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static kept slots[RECYCLE_SLOTS];
static int nslots;
static size_t kept_bytes;

/* Lock held: remove slot i, keeping the others in age order. */
static kept remove_slot(int i) {
  kept k = slots[i];
  for (int j = i + 1; j < nslots; j++) slots[j - 1] = slots[j];
  nslots--;
  kept_bytes -= k.map;
  return k;
}

void *bt__recycle_take(size_t map, int numa) {
  void *data = NULL;
  pthread_mutex_lock(&lock);
  for (int i = nslots - 1; i >= 0; i--) {
    if (slots[i].map == map && slots[i].numa == numa) {
      data = remove_slot(i).data;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  return data;
}

int bt__recycle_give(void *data, size_t map, int numa) {
  if (map > RECYCLE_BYTES) return 0;
  kept evicted[RECYCLE_SLOTS];
  int nevicted = 0;
  pthread_mutex_lock(&lock);
  while (nslots == RECYCLE_SLOTS || map > RECYCLE_BYTES - kept_bytes)
    evicted[nevicted++] = remove_slot(0);
  slots[nslots++] = (kept){data, map, numa};
  kept_bytes += map;
  pthread_mutex_unlock(&lock);
  /* Unmapped outside the lock: munmap of a large mapping takes a while. */
  for (int i = 0; i < nevicted; i++) munmap(evicted[i].data, evicted[i].map);
  return 1;
}

int bt__recycle_drain(void) {
  pthread_mutex_lock(&lock);
  int n = nslots;
  for (int i = 0; i < nslots; i++) munmap(slots[i].data, slots[i].map);
  nslots = 0;
  kept_bytes = 0;
  pthread_mutex_unlock(&lock);
  return n;
}
