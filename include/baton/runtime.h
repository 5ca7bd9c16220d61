/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/runtime.h
 * @brief The runtime: a set of worker threads pinned with hwloc.
 *
 * Workers fill the NUMA nodes of the process's allowed cpuset (what
 * `mpirun --bind-to` gave the rank) node by node, so the workers of one node
 * have contiguous ids. The placement is a pure function of the topology and
 * the options; only the binding call touches the machine.
 *
 * Global rule: an object is not thread-safe unless its documentation says
 * so. Runtime queries are thread-safe; create and destroy are not (one
 * thread creates, the same or another destroys once everything using the
 * runtime has finished).
 */
#ifndef BATON_RUNTIME_H
#define BATON_RUNTIME_H

#include "baton/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A runtime: workers, their queues, the topology. Opaque. */
typedef struct bt_runtime bt_runtime;

/** What each worker is bound to. */
typedef enum {
  BT_BIND_CORE, /**< one core per worker (its first PU), the default */
  BT_BIND_PU,   /**< one hardware thread per worker */
  BT_BIND_NUMA, /**< the whole NUMA node of the worker's slot */
  BT_BIND_NONE  /**< no binding; placement still decides the NUMA node */
} bt_bind;

/** Options of bt_runtime_create(). Environment variables override them.
 *
 * The struct may gain fields in a later minor version. Initialise it with
 * BT_OPTIONS_INIT or BT_OPTIONS_DEFAULT (which record the size the caller
 * was compiled with in struct_size), then set the fields you want: a
 * program built against an older baton then passes a smaller struct_size
 * and gets the newer fields' defaults; struct_size 0 (a struct never
 * initialised) or any value that is not the size of a bt_options layout is
 * refused with BT_EINVAL. */
typedef struct bt_options {
  size_t struct_size;   /**< sizeof(bt_options) as the caller was compiled;
                             set by the initialisers, never by hand */
  int workers;          /**< 0: one per core of the allowed cpuset
                             (BATON_WORKERS) */
  bt_bind bind;         /**< default BT_BIND_CORE (BATON_BIND: core, pu,
                             numa, none) */
  const char *topology; /**< NULL: this machine; else an hwloc synthetic
                             description or the path of an XML file
                             (BATON_TOPOLOGY). A runtime on a topology that
                             is not this machine's never binds. */
} bt_options;

/** The defaults as an initialiser, in C and C++:
 *  `bt_options opt = BT_OPTIONS_INIT; opt.workers = 4;` */
#define BT_OPTIONS_INIT {sizeof(bt_options), 0, BT_BIND_CORE, NULL}

/** The defaults as an expression: one worker per core, bound to cores, this
 * machine. A compound literal in C, a braced temporary in C++ (C++11 and
 * later). */
#ifdef __cplusplus
#define BT_OPTIONS_DEFAULT (bt_options BT_OPTIONS_INIT)
#else
#define BT_OPTIONS_DEFAULT ((bt_options)BT_OPTIONS_INIT)
#endif

/**
 * @brief Start a runtime: load the topology, place and start the workers.
 * @param opt options, or NULL for BT_OPTIONS_DEFAULT; BATON_WORKERS,
 *        BATON_BIND and BATON_TOPOLOGY override its fields.
 * @param rt out: the runtime, written only on success.
 * @return BT_OK, BT_EINVAL (bad option or environment value, a
 *         struct_size that is 0 or not the size of a bt_options layout, a
 *         topology that names no regular file and is not a synthetic
 *         description included), BT_ETOPO (an XML file or synthetic description hwloc
 *         cannot load, no PU in the allowed cpuset, or a worker cannot be
 *         bound), BT_ENOMEM.
 * Thread-safe: several runtimes may live in one process. Ownership: the
 * caller owns *rt and destroys it with bt_runtime_destroy().
 */
BT_API BT_NODISCARD int bt_runtime_create(const bt_options *opt,
                                          bt_runtime **rt);

/**
 * @brief Drain every queue, run what was queued, join the workers, free.
 * @param rt the runtime, or NULL (no-op).
 * @return BT_OK, BT_ESTATE when called from one of rt's own workers,
 *         BT_EINVAL when rt is not a live runtime (destroyed already).
 */
BT_API int bt_runtime_destroy(bt_runtime *rt);

/** @brief Number of workers. Thread-safe. */
BT_API int bt_runtime_workers(const bt_runtime *rt);

/** @brief Number of NUMA nodes holding at least one worker. Thread-safe. */
BT_API int bt_runtime_numa_nodes(const bt_runtime *rt);

/**
 * @brief The NUMA node (logical index among the runtime's nodes, 0-based) of
 *        a worker; -1 if worker is out of range.
 */
BT_API int bt_worker_numa(const bt_runtime *rt, int worker);

/**
 * @brief The OS index of the PU the worker is placed on; -1 if worker is out
 *        of range.
 */
BT_API int bt_worker_cpu(const bt_runtime *rt, int worker);

/**
 * @brief The calling thread's worker id in its runtime, -1 on any thread that
 *        is not a worker. Thread-safe (thread-local).
 */
BT_API int bt_self(void);

/**
 * @brief A one-line description of a worker's placement
 *        ("worker 3: numa 1, core 5, pu 11 (os 23)"), written into buf.
 * @return BT_OK or BT_EINVAL.
 */
BT_API BT_NODISCARD int bt_worker_describe(const bt_runtime *rt, int worker,
                                           char *buf, size_t len);

/**
 * @brief Whether the workers were actually bound (0 when BT_BIND_NONE, when
 *        the topology is synthetic or foreign, or when binding failed and
 *        BATON_BIND_STRICT is unset), and whether the runtime is
 *        oversubscribed (more workers than PUs in the cpuset, or more
 *        ranks on the node than PUs, so that ranks share PUs: see
 *        docs/runtime.md, ranks sharing a node).
 */
BT_API int bt_runtime_bound(const bt_runtime *rt);
BT_API int bt_runtime_oversubscribed(const bt_runtime *rt);

#ifdef __cplusplus
}
#endif

#endif /* BATON_RUNTIME_H */
