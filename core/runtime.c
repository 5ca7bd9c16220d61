/* SPDX-License-Identifier: BSD-3-Clause */
/* runtime.c: options and environment, create and destroy, queries. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime_int.h"

static int env_workers(const char *v, int *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || n < 1 || n > BT__MAX_WORKERS)
    return bt__fail(BT_EINVAL,
                    "BATON_WORKERS='%s' is not a positive integer up to %d", v,
                    BT__MAX_WORKERS);
  *out = (int)n;
  return BT_OK;
}

static const struct {
  const char *name;
  bt_bind bind;
} bind_names[] = {{"core", BT_BIND_CORE},
                  {"pu", BT_BIND_PU},
                  {"numa", BT_BIND_NUMA},
                  {"none", BT_BIND_NONE}};

const char *bt__bind_name(bt_bind b) {
  for (size_t i = 0; i < sizeof bind_names / sizeof bind_names[0]; i++)
    if (bind_names[i].bind == b) return bind_names[i].name;
  return "?";
}

static int env_bind(const char *v, bt_bind *out) {
  for (size_t i = 0; i < sizeof bind_names / sizeof bind_names[0]; i++)
    if (strcasecmp(v, bind_names[i].name) == 0) {
      *out = bind_names[i].bind;
      return BT_OK;
    }
  return bt__fail(BT_EINVAL,
                  "BATON_BIND='%s' is not one of core, pu, numa, none", v);
}

/* An unset or empty variable leaves the option as it is. */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? v : NULL;
}

/* A switch read elsewhere (when a binding fails, at the first checked
 * operation) is validated here, at creation, where a status can be given. */
static int env_switch(const char *name) {
  const char *v = env(name);
  if (v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
    return bt__fail(BT_EINVAL, "%s='%s' is not 0 or 1", name, v);
  return BT_OK;
}

int bt__options_resolve(const bt_options *opt, bt_options *out) {
  bt_options o = BT_OPTIONS_DEFAULT;
  if (opt && bt__options_adopt(opt, &o, "bt_runtime_create") != BT_OK)
    return BT_EINVAL;
  if (o.workers < 0 || o.workers > BT__MAX_WORKERS)
    return bt__fail(BT_EINVAL,
                    "options.workers must be 0 (one per core) to %d, not %d",
                    BT__MAX_WORKERS, o.workers);
  if (o.bind < BT_BIND_CORE || o.bind > BT_BIND_NONE)
    return bt__fail(BT_EINVAL, "options.bind %d is not a bt_bind", (int)o.bind);
  if (o.topology && !o.topology[0])
    return bt__fail(BT_EINVAL,
                    "options.topology is an empty string (NULL "
                    "means this machine)");
  const char *v;
  int rc;
  if ((v = env("BATON_WORKERS")) && (rc = env_workers(v, &o.workers)) != BT_OK)
    return rc;
  if ((v = env("BATON_BIND")) && (rc = env_bind(v, &o.bind)) != BT_OK)
    return rc;
  if ((v = env("BATON_TOPOLOGY"))) o.topology = v;
  if ((rc = env_switch("BATON_BIND_STRICT")) != BT_OK ||
      (rc = env_switch("BATON_DEBUG_CHECK")) != BT_OK)
    return rc;
  *out = o;
  return BT_OK;
}

static void report_oversubscribed(const bt_runtime *rt) {
  /* relaxed: a once-per-process flag guarding a message only. */
  static _Atomic int reported;
  if (atomic_exchange_explicit(&reported, 1, memory_order_relaxed)) return;
  if (rt->share.applied) {
    char set[128];
    bt__cpuset_format(rt->allowed, set, sizeof set);
    if (rt->share.overlap)
      fprintf(stderr,
              "baton: node-local rank %d of %d: more ranks than PUs on the "
              "node: its share, PU %s, is another rank's too; %d workers "
              "there (reported once per process)\n",
              rt->share.rank, rt->share.size, set, rt->nworkers);
    else
      fprintf(stderr,
              "baton: node-local rank %d of %d: %d workers on its share of %d "
              "PUs (OS %s): oversubscribed, several workers share a PU "
              "(reported once per process)\n",
              rt->share.rank, rt->share.size, rt->nworkers, rt->place.pus, set);
    return;
  }
  fprintf(stderr,
          "baton: %d workers on %d PUs: oversubscribed, several workers share "
          "a PU (reported once per process)\n",
          rt->nworkers, rt->place.pus);
}

int bt_runtime_create(const bt_options *opt, bt_runtime **out) {
  bt_options o;
  int rc;
  if (!out) return bt__fail(BT_EINVAL, "bt_runtime_create: rt is NULL");
  if ((rc = bt__options_resolve(opt, &o)) != BT_OK) return rc;

  bt_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) return bt__fail(BT_ENOMEM, "cannot allocate a runtime");
  rt->magic = BT_RUNTIME_MAGIC;
  rt->bind = o.bind;
  if ((rc = bt__topology_load(o.topology, &rt->topo)) != BT_OK)
    goto err_free_rt;
  rt->this_machine =
      o.topology == NULL && bt__topology_is_this_system(rt->topo);
  if ((rc = bt__topology_allowed(rt->topo, rt->this_machine, &rt->allowed)) !=
      BT_OK)
    goto err_free_topo;
  if ((rc = bt__share_restrict(rt->topo, rt->allowed, &rt->share)) != BT_OK)
    goto err_free_allowed;
  if ((rc = bt__place(rt->topo, rt->allowed, o.workers, o.bind, &rt->place)) !=
      BT_OK)
    goto err_free_allowed;
  if (bt__debug_checks() && (rc = bt__placement_check(&rt->place)) != BT_OK)
    goto err_free_place;
  rt->nworkers = rt->place.workers;
  rt->binds = rt->this_machine && o.bind != BT_BIND_NONE;
  /* More ranks than PUs on the node: ranks pin on each other. */
  if (rt->place.oversubscribed || rt->share.overlap) report_oversubscribed(rt);
  if ((rc = bt__diag_create(rt)) != BT_OK) goto err_free_place;
  if ((rc = bt__workers_start(rt)) != BT_OK) goto err_free_diag;
  bt__diag_started(rt);
  *out = rt;
  return BT_OK;

err_free_diag:
  bt__diag_destroy(rt);
err_free_place:
  bt__placement_free(&rt->place);
err_free_allowed:
  bt__cpuset_free(rt->allowed);
err_free_topo:
  bt__topology_free(rt->topo);
err_free_rt:
  bt__magic_kill(&rt->magic);
  free(rt);
  return rc;
}

/* The runtime of a handle, NULL unless it is a live one. */
static inline const bt_runtime *runtime_get(const bt_runtime *rt) {
  return rt != NULL && rt->magic == BT_RUNTIME_MAGIC ? rt : NULL;
}

int bt__runtime_check(const bt_runtime *rt, const char *op) {
  return runtime_get(rt) ? BT_OK : bt__bad_handle(op, "runtime", rt);
}

int bt_runtime_destroy(bt_runtime *rt) {
  if (!rt) return BT_OK;
  if (!runtime_get(rt))
    return bt__bad_handle("bt_runtime_destroy", "runtime", rt);
  if (bt__self_runtime() == rt)
    return bt__fail(BT_ESTATE,
                    "worker %d cannot destroy its own runtime: it would wait "
                    "for itself",
                    bt_self());
  bt__workers_stop(rt);
  bt__jobrec_trim(); /* the workers gave their records back as they ended */
  bt__diag_destroy(rt);
  bt__placement_free(&rt->place);
  bt__cpuset_free(rt->allowed);
  bt__topology_free(rt->topo);
  bt__magic_kill(&rt->magic);
  free(rt);
  return BT_OK;
}

int bt_runtime_workers(const bt_runtime *rt) {
  return runtime_get(rt) ? rt->nworkers : 0;
}

int bt_runtime_numa_nodes(const bt_runtime *rt) {
  return runtime_get(rt) ? rt->place.numa_nodes : 0;
}

int bt_worker_numa(const bt_runtime *rt, int worker) {
  if (!runtime_get(rt) || worker < 0 || worker >= rt->nworkers) return -1;
  return rt->place.slot[worker].numa;
}

int bt_worker_cpu(const bt_runtime *rt, int worker) {
  if (!runtime_get(rt) || worker < 0 || worker >= rt->nworkers) return -1;
  return rt->place.slot[worker].pu_os;
}

int bt_worker_describe(const bt_runtime *rt, int worker, char *buf,
                       size_t len) {
  if (!runtime_get(rt))
    return bt__bad_handle("bt_worker_describe", "runtime", rt);
  if (!buf || len == 0)
    return bt__fail(BT_EINVAL, "bt_worker_describe: no buffer (%p, %zu bytes)",
                    (void *)buf, len);
  if (worker < 0 || worker >= rt->nworkers)
    return bt__fail(BT_EINVAL, "worker %d out of range: the runtime has %d",
                    worker, rt->nworkers);
  const bt__slot *s = &rt->place.slot[worker];
  char set[128];
  bt__cpuset_format(s->bind_set, set, sizeof set);
  int n = snprintf(buf, len, "worker %d: numa %d, core %d, pu %d (os %d)",
                   worker, s->numa, s->core, s->pu, s->pu_os);
  if (s->bind_set && n >= 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, ", %s %s",
             rt->bound ? "bound to" : "would bind to", set);
  return BT_OK;
}

int bt_runtime_bound(const bt_runtime *rt) {
  return runtime_get(rt) ? rt->bound : 0;
}

int bt_runtime_oversubscribed(const bt_runtime *rt) {
  return runtime_get(rt) ? rt->place.oversubscribed || rt->share.overlap : 0;
}

void *bt__runtime_topology(const bt_runtime *rt) {
  return rt ? rt->topo : NULL;
}

const void *bt__runtime_numa_cpuset(const bt_runtime *rt, int numa) {
  if (!rt || numa < 0 || numa >= rt->place.numa_nodes) return NULL;
  return rt->place.numa[numa].cpuset;
}

const void *bt__runtime_numa_nodeset(const bt_runtime *rt, int numa) {
  if (!rt || numa < 0 || numa >= rt->place.numa_nodes) return NULL;
  return rt->place.numa[numa].nodeset;
}

int bt__runtime_numa_os_index(const bt_runtime *rt, int numa) {
  if (!rt || numa < 0 || numa >= rt->place.numa_nodes) return -1;
  return rt->place.numa[numa].os_index;
}

int bt__runtime_numa_from_os(const bt_runtime *rt, int os_index) {
  if (!rt) return -1;
  for (int i = 0; i < rt->place.numa_nodes; i++)
    if (rt->place.numa[i].os_index == os_index) return i;
  return -1;
}

int bt__runtime_local_rank(const bt_runtime *rt, int *rank, int *size) {
  if (!rt || rt->share.size <= 0) return 0;
  *rank = rt->share.rank;
  *size = rt->share.size;
  return 1 + rt->share.applied;
}

int bt__runtime_is_this_machine(const bt_runtime *rt) {
  return rt ? rt->this_machine : 0;
}
