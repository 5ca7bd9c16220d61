/* SPDX-License-Identifier: BSD-3-Clause */
/* placement.c: where each worker goes, a pure function of the topology, the
 * allowed cpuset and the options. Only the binding (worker.c, through
 * topology.c) touches the machine. */
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>

#include "runtime_int.h"

/* A core of the allowed cpuset (or a PU, on a topology without cores). */
typedef struct core_ref {
  hwloc_obj_t core;
  int node; /* index into the node table */
  int npus; /* its allowed PUs */
  hwloc_obj_t *pus;
} core_ref;

/* A PU slot of a node's spreading order: core c of the node, its PU
 * number `round` among the core's allowed PUs. */
typedef struct pu_slot {
  int core, round;
} pu_slot;

typedef struct node_ref {
  hwloc_obj_t obj;
  int cores, pus; /* allowed ones */
  int first_core; /* its cores are contiguous in the sorted core table */
  int workers;
} node_ref;

/* Split `extra` over n parts in proportion to weight (largest remainder,
 * ties to the lower index), adding to share[]; rem[] is scratch space. */
static void share_out(long extra, int n, const int *weight, int *share,
                      long *rem) {
  long total = 0;
  for (int i = 0; i < n; i++) total += weight[i];
  if (extra <= 0 || total <= 0) return;
  long given = 0;
  for (int i = 0; i < n; i++) {
    long q = extra * weight[i] / total;
    share[i] += (int)q;
    given += q;
    rem[i] = extra * weight[i] % total;
  }
  /* Fewer parts are left than positive remainders, so each goes to a
   * distinct part with a positive remainder. */
  while (given < extra) {
    int best = 0;
    for (int i = 1; i < n; i++)
      if (rem[i] > rem[best]) best = i;
    BT_ASSERT(rem[best] > 0);
    share[best]++;
    rem[best] = -1;
    given++;
  }
}

/* The leftmost PU below o (o itself if it is one), NULL if none. */
static hwloc_obj_t first_pu_below(hwloc_obj_t o) {
  while (o->type != HWLOC_OBJ_PU && o->first_child) o = o->first_child;
  return o->type == HWLOC_OBJ_PU ? o : NULL;
}

void bt__placement_free(bt__placement *p) {
  if (!p) return;
  if (p->slot)
    for (int i = 0; i < p->workers; i++) hwloc_bitmap_free(p->slot[i].bind_set);
  if (p->numa)
    for (int i = 0; i < p->numa_nodes; i++) {
      hwloc_bitmap_free(p->numa[i].cpuset);
      hwloc_bitmap_free(p->numa[i].nodeset);
    }
  free(p->slot);
  free(p->numa);
  memset(p, 0, sizeof *p);
}

int bt__placement_check(const bt__placement *p) {
  if (!p || p->workers <= 0 || p->numa_nodes <= 0 || !p->slot || !p->numa)
    return bt__fail(BT_ESTATE, "placement: empty or unallocated");
  if (p->oversubscribed != (p->workers > p->pus))
    return bt__fail(BT_ESTATE,
                    "placement: oversubscribed=%d with %d workers "
                    "on %d PUs",
                    p->oversubscribed, p->workers, p->pus);
  int id = 0;
  for (int n = 0; n < p->numa_nodes; n++) {
    const bt__numa *numa = &p->numa[n];
    if (numa->first_worker != id || numa->workers <= 0)
      return bt__fail(BT_ESTATE,
                      "placement: node %d holds workers %d..%d, expected to "
                      "start at %d",
                      n, numa->first_worker,
                      numa->first_worker + numa->workers - 1, id);
    for (int i = 0; i < numa->workers; i++, id++) {
      const bt__slot *s = &p->slot[id];
      if (s->numa != n || !hwloc_bitmap_isset(numa->cpuset, (unsigned)s->pu_os))
        return bt__fail(BT_ESTATE,
                        "placement: worker %d (node %d, PU %d) is not on "
                        "node %d's PUs",
                        id, s->numa, s->pu_os, n);
      if (s->bind_set &&
          (!hwloc_bitmap_isset(s->bind_set, (unsigned)s->pu_os) ||
           !hwloc_bitmap_isincluded(s->bind_set, numa->cpuset)))
        return bt__fail(BT_ESTATE,
                        "placement: worker %d binds outside its node or "
                        "without its PU %d",
                        id, s->pu_os);
    }
  }
  if (id != p->workers)
    return bt__fail(BT_ESTATE, "placement: nodes hold %d workers, not %d", id,
                    p->workers);
  return BT_OK;
}

int bt__place(hwloc_topology_t topo, hwloc_const_bitmap_t allowed_in,
              int workers, bt_bind bind, bt__placement *out) {
  int rc = BT_OK;
  hwloc_bitmap_t allowed = NULL;
  hwloc_obj_t *nodes = NULL;
  core_ref *cores = NULL, *sorted = NULL;
  node_ref *nref = NULL;
  hwloc_obj_t *pu_store = NULL;
  int *weight = NULL, *wshare = NULL;
  long *rem = NULL;
  int *node_of_os = NULL;
  pu_slot *spread = NULL;
  bt__placement p = {0};

  if (!topo) return bt__fail(BT_EINVAL, "placement: no topology");
  if (workers < 0 || workers > BT__MAX_WORKERS)
    return bt__fail(BT_EINVAL, "workers must be 0 (one per core) to %d, not %d",
                    BT__MAX_WORKERS, workers);
  if (bind < BT_BIND_CORE || bind > BT_BIND_NONE)
    return bt__fail(BT_EINVAL, "bind %d is not a bt_bind", (int)bind);

  allowed = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
  if (!allowed) return bt__fail(BT_ENOMEM, "cannot allocate a cpuset");
  if (allowed_in) hwloc_bitmap_and(allowed, allowed, allowed_in);

  /* Linear in the PUs throughout: every membership test is one bit
   * (hwloc_bitmap_isset); no cpuset walk restarts per core, no inclusion
   * test scans a whole bitmap per object (16K-PU topologies took 16 s). */
  int nnodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  hwloc_obj_type_t core_type =
      hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE
                                                         : HWLOC_OBJ_PU;
  int ncores_all = hwloc_get_nbobjs_by_type(topo, core_type);
  int npus_topo = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  int npus_all = 0, max_os = -1;
  for (hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, 0); pu;
       pu = pu->next_cousin) {
    if ((int)pu->os_index > max_os) max_os = (int)pu->os_index;
    if (hwloc_bitmap_isset(allowed, pu->os_index)) npus_all++;
  }
  if (npus_all <= 0) {
    char list[256] = "";
    if (allowed_in) hwloc_bitmap_list_snprintf(list, sizeof list, allowed_in);
    rc = bt__fail(BT_ETOPO,
                  "the allowed cpuset '%s' holds no PU of the topology", list);
    goto out_free;
  }
  if (nnodes <= 0) {
    rc = bt__fail(BT_ETOPO, "the topology has no NUMA node");
    goto out_free;
  }
  nodes = calloc((size_t)nnodes, sizeof *nodes);
  nref = calloc((size_t)nnodes, sizeof *nref);
  node_of_os = malloc(((size_t)max_os + 1) * sizeof *node_of_os);
  if (!nodes || !nref || !node_of_os) goto out_nomem;
  /* A PU outside every node's cpuset goes to the first node; a PU in
   * several (overlapping nodes) to the first that holds it. */
  for (int os = 0; os <= max_os; os++) node_of_os[os] = -1;
  for (int i = 0; i < nnodes; i++) {
    nodes[i] = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
    nref[i].obj = nodes[i];
    int os;
    hwloc_bitmap_foreach_begin(os, nodes[i]->cpuset) {
      if (os > max_os) break;
      if (node_of_os[os] < 0) node_of_os[os] = i;
    }
    hwloc_bitmap_foreach_end();
  }

  cores = calloc((size_t)ncores_all, sizeof *cores);
  sorted = calloc((size_t)ncores_all, sizeof *sorted);
  pu_store = calloc((size_t)npus_topo, sizeof *pu_store);
  if (!cores || !sorted || !pu_store) goto out_nomem;

  /* The allowed cores in logical order, each with its allowed PUs (a
   * core's PUs are consecutive cousins) and the NUMA node of its first
   * allowed PU. */
  int ncores = 0, stored = 0;
  for (hwloc_obj_t c = hwloc_get_obj_by_type(topo, core_type, 0); c;
       c = c->next_cousin) {
    core_ref *cr = &cores[ncores];
    cr->core = c;
    cr->pus = &pu_store[stored];
    cr->npus = 0;
    for (hwloc_obj_t pu = first_pu_below(c);
         pu && hwloc_bitmap_isset(c->cpuset, pu->os_index);
         pu = pu->next_cousin) {
      if (!hwloc_bitmap_isset(allowed, pu->os_index)) continue;
      BT_ASSERT(stored < npus_all);
      pu_store[stored++] = pu;
      cr->npus++;
    }
    if (cr->npus == 0) continue;
    int node = node_of_os[cr->pus[0]->os_index];
    cr->node = node < 0 ? 0 : node;
    nref[cr->node].cores++;
    nref[cr->node].pus += cr->npus;
    ncores++;
  }
  BT_ASSERT(ncores > 0 && stored == npus_all);

  /* Group cores by node, stable (logical order within a node): a counting
   * sort. */
  int at = 0;
  for (int n = 0; n < nnodes; n++) {
    nref[n].first_core = at;
    at += nref[n].cores;
    nref[n].workers = 0; /* reused below as the fill position */
  }
  for (int i = 0; i < ncores; i++) {
    node_ref *nr = &nref[cores[i].node];
    sorted[nr->first_core + nr->workers++] = cores[i];
  }

  /* How many workers each node gets: one per core first, then one per
   * further PU, then wrapping around; each stage split in proportion. */
  int want = workers > 0 ? workers : ncores;
  if (want > BT__MAX_WORKERS) want = BT__MAX_WORKERS;
  weight = calloc((size_t)nnodes, sizeof *weight);
  wshare = calloc((size_t)nnodes, sizeof *wshare);
  rem = calloc((size_t)nnodes, sizeof *rem);
  if (!weight || !wshare || !rem) goto out_nomem;
  if (want <= ncores) {
    for (int n = 0; n < nnodes; n++) weight[n] = nref[n].cores;
    share_out(want, nnodes, weight, wshare, rem);
  } else if (want <= npus_all) {
    for (int n = 0; n < nnodes; n++) {
      wshare[n] = nref[n].cores;
      weight[n] = nref[n].pus - nref[n].cores;
    }
    share_out(want - ncores, nnodes, weight, wshare, rem);
  } else {
    for (int n = 0; n < nnodes; n++) wshare[n] = weight[n] = nref[n].pus;
    share_out(want - npus_all, nnodes, weight, wshare, rem);
  }

  p.workers = want;
  p.cores = ncores;
  p.pus = npus_all;
  p.oversubscribed = want > npus_all;
  for (int n = 0; n < nnodes; n++)
    if (wshare[n] > 0) p.numa_nodes++;
  p.slot = calloc((size_t)want, sizeof *p.slot);
  p.numa = calloc((size_t)p.numa_nodes, sizeof *p.numa);
  spread = calloc((size_t)npus_all, sizeof *spread);
  if (!p.slot || !p.numa || !spread) goto out_nomem;

  int id = 0, k = 0;
  for (int n = 0; n < nnodes; n++) {
    node_ref *nr = &nref[n];
    if (wshare[n] == 0) continue;
    bt__numa *numa = &p.numa[k];
    numa->os_index = (int)nr->obj->os_index;
    numa->logical = (int)nr->obj->logical_index;
    numa->first_worker = id;
    numa->workers = wshare[n];
    numa->cpuset = hwloc_bitmap_dup(nr->obj->cpuset);
    numa->nodeset = hwloc_bitmap_dup(nr->obj->nodeset);
    if (!numa->cpuset || !numa->nodeset) goto out_nomem;
    hwloc_bitmap_and(numa->cpuset, numa->cpuset, allowed);
    /* The node's PU slots in spreading order, as far as its workers need:
     * the first PU of each core, then the second PU of each core that has
     * one, and so on; workers beyond the node's PUs wrap around. */
    core_ref *nc = &sorted[nr->first_core];
    int need = wshare[n] < nr->pus ? wshare[n] : nr->pus, have = 0;
    for (int round = 0; have < need; round++)
      for (int c = 0; c < nr->cores && have < need; c++)
        if (round < nc[c].npus) spread[have++] = (pu_slot){c, round};
    for (int j = 0; j < wshare[n]; j++) {
      int c = spread[j % nr->pus].core, round = spread[j % nr->pus].round;
      hwloc_obj_t pu = nc[c].pus[round];
      bt__slot *s = &p.slot[id];
      s->numa = k;
      s->core = (int)nc[c].core->logical_index;
      s->pu = (int)pu->logical_index;
      s->pu_os = (int)pu->os_index;
      hwloc_const_bitmap_t bs = NULL;
      if (bind == BT_BIND_CORE)
        bs = nc[c].core->cpuset;
      else if (bind == BT_BIND_PU)
        bs = pu->cpuset;
      else if (bind == BT_BIND_NUMA)
        bs = numa->cpuset;
      if (bs) {
        s->bind_set = hwloc_bitmap_dup(bs);
        if (!s->bind_set) goto out_nomem;
        if (bind != BT_BIND_NUMA)
          hwloc_bitmap_and(s->bind_set, s->bind_set, allowed);
      }
      id++;
    }
    k++;
  }
  BT_ASSERT(id == want && k == p.numa_nodes);
  *out = p;
  goto out_free;

out_nomem:
  rc = bt__fail(BT_ENOMEM, "cannot allocate the placement");
  bt__placement_free(&p);
out_free:
  free(spread);
  free(node_of_os);
  free(rem);
  free(wshare);
  free(weight);
  free(pu_store);
  free(sorted);
  free(cores);
  free(nref);
  free(nodes);
  hwloc_bitmap_free(allowed);
  return rc;
}
