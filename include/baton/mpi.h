/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/mpi.h
 * @brief The MPI bridge: the channel API across ranks. Link baton::mpi.
 *
 * Both ranks call bt_mpi_chan_create() with each other as peer and the same
 * tag; the result is a bt_chan used with the very same bt_send, bt_recv,
 * bt_try_*, bt_*_timeout, bt_select, bt_chan_close and bt_chan_release.
 *
 * What travels: plain values as bytes (homogeneous clusters); a slice as a
 * header (dtype, shape) and its data, described by an MPI datatype built
 * from its strides and read where it lies (never packed); the sender's
 * handle is moved at bt_send and its region unlocks when MPI completes the
 * send; the receiver gets a writable slice of a new array (shape = the
 * slice's, origin 0). Box trees (bt_type_box, bt_type_frozen) are copied
 * node by node, frozen subtrees come back frozen; a type with a bt_wire
 * goes through its pack/unpack. A handle type with neither is refused at
 * creation (BT_ENOTSUP). When the two ends disagree on the type, the
 * receiver's operations fail with BT_ETYPE and a sentence naming both
 * types.
 *
 * Thread levels: with MPI_THREAD_MULTIPLE the thread that sends hands the
 * element to MPI itself, a thread that waits on a remote channel (send,
 * receive, select) polls the bridge itself before it sleeps, so a message
 * reaches it without a thread hop, and a progress thread does the rest
 * (requests nobody waits on, credits); with MPI_THREAD_SERIALIZED every
 * MPI call of the bridge is made by its progress thread (the application
 * then makes no MPI call while attached); FUNNELED and SINGLE are refused
 * (BT_ENOTSUP). BATON_MPI_PROGRESS=thread forces the progress-thread path
 * under MULTIPLE too (but a sender still hands its element to MPI
 * itself); BATON_MPI_SPIN_US (default 200) is how long a waiting
 * thread, or the idle progress thread, polls before it sleeps. While a
 * thread sleeps on one of its channels the progress thread polls MPI
 * without sleeping (a core, as MPI_Recv spends), so a late message reaches
 * it within tens of microseconds, for up to BATON_MPI_WAIT_POLL_MS
 * (default 100) after the last message, then every 20 us; with nobody
 * waiting it naps up to 1 ms. BATON_MPI_DEBUG=1 prints each channel
 * failure.
 *
 * Peer failure: where MPI reports an error on a request, the channel fails
 * with BT_EMPI naming the peer and tag. Open MPI 4.1 reports nothing when a
 * peer process dies, so BATON_MPI_PEER_TIMEOUT=seconds makes the bridge
 * send heartbeats (each quarter of the timeout, to every rank) and presume
 * dead a rank silent that long: every operation on its channels, blocked
 * or not, then answers BT_EMPI ("rank P sent nothing, not even a heartbeat,
 * for S s"). Every BATON_MPI_* variable is validated at attach (BT_EINVAL
 * naming variable and value): BATON_MPI_PROGRESS direct|thread,
 * BATON_MPI_SPIN_US 0..1000000, BATON_MPI_WAIT_POLL_MS 0..3600000
 * (default 100), BATON_MPI_DETACH_GRACE_MS 0..3600000
 * (default 500), BATON_MPI_PEER_TIMEOUT 0..86400 (0: off), BATON_MPI_DEBUG
 * 0|1.
 *
 * At attach the bridge also checks, with MPI_COMM_TYPE_SHARED, that the
 * runtime's share of the node (docs/runtime.md, ranks sharing a node)
 * agrees with MPI's view of the node, and reports ranks of one node whose
 * workers sit on the same PU.
 *
 * A received slice's array may reuse the memory of an earlier received
 * array of the same size that was freed since (no page faults); its
 * contents are all the sender's data either way.
 *
 * Thread-safety: bt_mpi_chan_create, rank and size are thread-safe; attach
 * and detach are collective over the communicator.
 */
#ifndef BATON_MPI_H
#define BATON_MPI_H

#include <mpi.h>

#include "baton/array.h"
#include "baton/chan.h"
#include "baton/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bt_mpi bt_mpi;

/** The MPI form of a bt_type (pack to bytes / unpack from bytes), for types
 *  that are not plain bytes (boxes). */
typedef struct bt_wire {
  /** Bytes needed to pack *elem. */
  size_t (*packed_size)(const void *elem);
  /** Pack *elem into buf (packed_size bytes); the element is consumed. */
  int (*pack)(void *elem, void *buf, size_t len);
  /** Rebuild an element from buf into *elem, held by the calling thread. */
  int (*unpack)(const void *buf, size_t len, void *elem);
} bt_wire;

/**
 * @brief Attach the runtime to a communicator (duplicated; MPI_ERRORS_RETURN
 *        set on the duplicate). MPI must be initialized.
 * @return BT_OK, BT_EMPI, BT_ENOMEM, BT_EINVAL (rt not a live runtime, NULL
 *         included; MPI_COMM_NULL; MPI not initialized), BT_ENOTSUP.
 */
BT_API BT_NODISCARD int bt_mpi_attach(bt_runtime *rt, MPI_Comm comm,
                                      bt_mpi **m);
/**
 * @brief bt_mpi_attach() from a Fortran communicator handle (the INTEGER
 *        of `use mpi`, or the MPI_VAL of an mpi_f08 type(MPI_Comm)),
 *        converted with MPI_Comm_f2c: the entry of the Fortran module
 *        baton_mpi. @return as bt_mpi_attach().
 */
BT_API BT_NODISCARD int bt_mpi_attach_f(bt_runtime *rt, MPI_Fint comm,
                                        bt_mpi **m);
/** @brief Stop the bridge, free the duplicates. NULL accepted. Collective
 *  over the communicator, and it never hangs on a channel: the ranks
 *  exchange their channels' tags, so a channel whose peer never opened its
 *  tag is known; every other channel keeps delivering into its receive
 *  queue, sends what its credits allow, and gives up what waits when the
 *  peer's receivers take nothing for BATON_MPI_DETACH_GRACE_MS (default
 *  500); then a barrier. Elements accepted by bt_send are delivered or
 *  reported, never dropped silently: BT_ECLOSED with "N elements accepted
 *  by bt_send were not delivered: N to rank P, tag T (why)". Elements
 *  buffered on this rank stay receivable, then BT_ECLOSED; later sends
 *  answer BT_ECLOSED. After a peer failure (BATON_MPI_PEER_TIMEOUT) detach
 *  skips the collectives and answers BT_EMPI; MPI_Finalize would then wait
 *  for the dead rank. The bridge is detached whatever the status.
 *  @return BT_OK, BT_ECLOSED (elements not delivered), BT_EMPI, BT_ESTATE
 *  (detached twice: a bridge's memory goes to a pool of bridges, never
 *  back to malloc, so this reads no freed memory), BT_EINVAL (not a
 *  bridge). */
BT_API int bt_mpi_detach(bt_mpi *m);
BT_API int bt_mpi_rank(const bt_mpi *m);
BT_API int bt_mpi_size(const bt_mpi *m);
/**
 * @brief A channel to peer. Both ranks call it with each other as peer and
 *        the same tag and type; capacity bounds the unreceived messages in
 *        flight each way.
 *
 * Capacity C: each end has a local send queue of C (bt_chan_cap says C) and
 * a credit window of W = max(C, 1) messages in flight; the receiver returns
 * a credit when its user takes an element. A sender whose peer stops
 * receiving completes C + W sends, then blocks (try: BT_EAGAIN). C = 0 is a
 * rendezvous with the transport: a send completes when its element leaves
 * for MPI, one message in flight. Order is FIFO per direction. A close on
 * either end closes both directions: later sends answer BT_ECLOSED, what
 * was sent before still arrives, then receivers see BT_ECLOSED. One
 * channel per (peer, tag) while attached; the tag is the user's MPI tag on
 * the bridge's own communicators. A released channel whose messages have
 * all arrived both ways (after its close, the peer's, and each end's last
 * word) leaves the bridge's polling, so making and releasing many
 * channels costs no polling work; its tag stays taken until detach.
 * @param t the element type: must stay valid until bt_mpi_detach (the
 *        bridge's end of the channel, and its tag, live until then).
 * @return BT_OK, BT_EINVAL, BT_ENOMEM, BT_EMPI.
 */
BT_API BT_NODISCARD int bt_mpi_chan_create(bt_mpi *m, int peer, int tag,
                                           const bt_type *t, size_t capacity,
                                           bt_chan **ch);

/* ---- collectives (mpi/collective.c) ------------------------------------ */

/** Reduction operators of bt_mpi_allreduce(). */
typedef enum { BT_SUM, BT_MAX, BT_MIN } bt_op;

/**
 * @brief Reduce count elements of dtype t over every rank of the bridge;
 *        every rank gets the result in out. Collective.
 *
 * Runs on the bridge's own duplicate of the communicator, so it never
 * matches the application's messages. Callable from any thread, a worker
 * included: with MPI_THREAD_MULTIPLE the calling thread calls MPI_Allreduce
 * itself; with less (MPI_THREAD_SERIALIZED) it posts MPI_Iallreduce and
 * completes it under the bridge's lock, so its MPI calls are serialized
 * with the progress thread's. As with MPI's own collectives, every rank
 * calls the collectives of one bridge in the same order, one at a time: a
 * second collective started on a rank while one runs answers BT_ESTATE.
 * The order in which MPI combines the ranks' values is MPI's (it may vary
 * with the algorithm); bt_darray_dot() and friends are bit-reproducible.
 * @param t BT_F64, BT_F32, BT_I64 or BT_I32.
 * @param in count elements; in == out reduces in place.
 * @param out count elements, written on success.
 * @return BT_OK, BT_EINVAL (bridge, op, dtype, count < 0, NULL buffer with
 *         count > 0), BT_ESTATE (another collective of this bridge is under
 *         way on this rank), BT_EMPI.
 */
BT_API BT_NODISCARD int bt_mpi_allreduce(bt_mpi *m, bt_op op, bt_dtype t,
                                         const void *in, void *out, int count);
/** @brief Wait until every rank of the bridge called it. Collective; from
 *  any thread, as bt_mpi_allreduce(). @return BT_OK, BT_EINVAL, BT_ESTATE,
 *  BT_EMPI. */
BT_API BT_NODISCARD int bt_mpi_barrier(bt_mpi *m);
/** @brief Copy bytes bytes of buf on rank root to buf on every rank.
 *  Collective; from any thread, as bt_mpi_allreduce(). Every rank passes
 *  the same bytes (any size_t: large counts go as a derived datatype).
 *  @return BT_OK, BT_EINVAL (root out of range, NULL buf with bytes > 0),
 *  BT_ESTATE, BT_EMPI. */
BT_API BT_NODISCARD int bt_mpi_bcast(bt_mpi *m, int root, void *buf,
                                     size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* BATON_MPI_H */
