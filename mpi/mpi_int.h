/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpi_int.h: the MPI bridge's private interface, shared by the files of
 * mpi/. Never installed.
 *
 * The shape of the bridge. A remote channel (core's bt__chan_create_remote)
 * is a pair of local channels: the user sends into `out` and receives from
 * `in`. A transport moves elements from `out` to MPI and from MPI into `in`.
 * All MPI calls are made under the bridge's lock `lock`: by the progress
 * thread, which polls every request, posts receives, returns credits and
 * drains `out`; and, in direct mode (MPI_THREAD_MULTIPLE), also by the user
 * thread that just sent, so a send reaches MPI without a thread hop, and by
 * user threads waiting on a remote channel, which poll the bridge
 * themselves (caller-driven progress), so a receive needs no thread hop
 * either.
 *
 * Messages. Between the two ends of a channel (peer, tag) travel, on the
 * header communicator with the user's tag, fixed-layout headers: DATA (one
 * element, its bytes inline when small), CREDIT (credits returned), CLOSE
 * (the last message of a direction); each end's very last message carries
 * BT__MSG_FINAL. Every header also piggybacks the credits its sender owes. An
 * element that does not fit inline (a slice's data, a box tree, a large value)
 * follows as one payload message on the payload communicator with the same tag;
 * payloads of one direction are matched in the order of their headers (MPI's
 * non-overtaking rule), so one pre-posted header receive per channel suffices.
 */
#ifndef BATON_MPI_INT_H
#define BATON_MPI_INT_H

#include <mpi.h>
#include <pthread.h>
#include <stdbool.h>

#include "array_int.h"
#include "baton/mpi.h"

#define BT__MPI_MAGIC 0x6d706962u     /* "mpib": attached */
#define BT__MPI_DETACHED 0x6d706964u  /* "mpid": detached, memory kept */
#define BT__MPI_DEAD BT__MAGIC_DEAD   /* "dead": in the handle pool */
#define BT__MPI_HDR_MAGIC 0x62746d31u /* "btm1" */

/* How a channel's elements travel. */
typedef enum {
  BT__RK_VALUE,  /* plain bytes */
  BT__RK_SLICE,  /* header + strided data straight from the array */
  BT__RK_BOX,    /* a mutable box tree, encoded (mpi/box_wire.c) */
  BT__RK_FROZEN, /* a frozen box tree, copied */
  BT__RK_WIRE    /* the type's own bt_wire pack/unpack */
} bt__rkind;

enum { BT__MSG_DATA = 1, BT__MSG_CREDIT = 2, BT__MSG_CLOSE = 3 };
/* Or'ed into a DATA header's kind: its payload follows as pieces of
 * BT__MPI_FRAG bytes (the last one shorter), each its own message. */
#define BT__MSG_FRAGS 0x100u
/* Or'ed into a CLOSE or CREDIT header: its sender's last message on the
 * channel (it sent its close and received ours): nothing more comes on
 * the tag, so the receiver may stop listening and, its user gone, take
 * the channel off the bridge's list (bt__rchan_finished()). */
#define BT__MSG_FINAL 0x200u
#define BT__MSG_KIND_MASK 0xffu

/* The header of every message on the header communicator. */
typedef struct bt__mpi_hdr {
  uint32_t magic;
  uint32_t kind;          /* BT__MSG_* */
  uint32_t credits;       /* credits returned to the receiver of this */
  uint32_t inline_bytes;  /* element bytes following the header */
  uint64_t type_hash;     /* of the sender's type: name, size, kind */
  uint64_t seq;           /* DATA: 0, 1, 2... per direction */
  uint64_t payload_bytes; /* DATA: bytes of the payload message, 0: none */
  int32_t dtype, ndim;    /* slices */
  int64_t shape[BT_MAX_DIMS];
  char type_name[32]; /* for the receiver's error message */
} bt__mpi_hdr;

/* The most element bytes a header may carry: the room of the header
 * receive buffer and of a send record. Senders inline less (BT__MPI_EAGER). */
#define BT__MPI_INLINE_MAX 4096
/* The largest message sent eagerly by every shared-memory transport we
 * know (Open MPI vader's eager limit is 4096 bytes, its match header
 * included; MPICH's is larger): element bytes ride inline only while the
 * header and they fit, so a message never takes a rendezvous for want of
 * a few bytes. */
#define BT__MPI_EAGER 4032
/* A payload up to BT__MPI_FRAG_TOTAL bytes of a value or a dense slice
 * travels as eager pieces of BT__MPI_FRAG bytes copied out of it: on this
 * VM (Open MPI 4.1, vader with CMA), 2 eager 4000-byte messages took
 * 3.0 us one way where one 4096-byte rendezvous took 6.5 us. A header and
 * the pieces, received after the header as the bridge does (raw MPI,
 * median one way): 32 KiB 6.2 us against 7.7-8.1 us for the header and
 * one rendezvous, 64 KiB 10.3-11.1 against 13.2 us, 128 KiB 20.8 against
 * 17.8 us: the pieces win up to 64 KiB. Larger payloads go as one message
 * (a rendezvous, MPI's single copy). The receiver refuses a header that
 * announces more in pieces (bt__mpi_frags_ok()). */
#define BT__MPI_FRAG BT__MPI_EAGER
#define BT__MPI_FRAG_TOTAL ((size_t)64 << 10)
/* A dense slice travels in pieces only up to this; above, as one message
 * from its region (MPI's single copy). With values' copies gone (sixth
 * session) the region's pieces lost at 64 KiB: bench_mpi --max=65536
 * --only=7, quiet VM, alternated, slice 64 KiB 0.75-0.77 of raw MPI
 * bandwidth in 16 pieces, 0.89-0.92 as one message (32 KiB unchanged,
 * 0.96-0.99). A value keeps its pieces to BT__MPI_FRAG_TOTAL: as one
 * message it is copied into a payload first (64 KiB 0.78-0.80 against
 * 0.85-0.91 in pieces). Within what a receiver accepts: no wire change. */
#define BT__MPI_FRAG_SLICE ((size_t)32 << 10)
/* The largest received array a slice channel keeps for the next slice of
 * the same shape (bt__rchan.recv_array): above it, the page recycling of
 * array/recycle.c already makes a new array cheap beside the transfer. */
#define BT__MPI_REUSE_MAX ((size_t)1 << 20)
/* Longest nap of the progress thread while a thread is blocked on one of
 * its channels: a message that arrives while nobody polls waits at most
 * this (plus the poll) before the progress thread delivers it. */
#define BT__MPI_WAITER_NAP_NS 20000
/* Default of BATON_MPI_WAIT_POLL_MS: how long the progress thread polls
 * MPI without sleeping while a thread sleeps on one of its channels and
 * nothing comes, before it falls back to naps of BT__MPI_WAITER_NAP_NS. */
#define BT__MPI_WAIT_POLL_MS 100
/* Longest nap of the progress thread when nobody waits on its channels. */
#define BT__MPI_IDLE_NAP_NS 1000000
/* Send records (op + header buffer) kept for reuse per bridge. */
#define BT__MPI_OP_CACHE 256
/* Longest nap of the progress thread while user threads poll for it. Each
 * of its wake-ups takes a core from a polling thread when every core
 * polls (a ping-pong of 2 ranks on 2 cores): every 200 us, that cost 8 B
 * ping-pongs 0.3-0.5 us per message on average (1.0-1.3 us one way,
 * against 0.75-0.85 us at 1 ms). */
#define BT__MPI_DEFER_NS 1000000
/* The longest a thread waiting on a remote channel polls (direct mode)
 * while transfers of the bridge go on: its BATON_MPI_SPIN_US spin counts
 * from the last poll that saw a rendezvous send or a payload receive
 * outstanding, if that is later than the wait's start, up to this in all
 * (bt__mpi_wait_poll()). A 2 MiB slice's round trip (0.5 ms on the
 * development VM) outlasted the 200 us spin: the waiter parked and was
 * woken for every reply, 7.3-7.7 against 7.9-8.2 GB/s polling on
 * (bench_mpi ping-pong, loaded, interleaved). BATON_MPI_SPIN_US=0 still
 * never polls. */
#define BT__MPI_XFER_SPIN_NS 2000000
/* A user thread polling on a shared core yields now and then after that. */
#define BT__MPI_YIELD_AFTER_NS 20000
/* A thread waiting on a remote channel polls that channel's own header
 * receive (MPI_Test on one request), and everything of the bridge only
 * once in this many polls (bt__mpi_wait_poll()). */
#define BT__MPI_WAIT_FULL_POLL 8
#define BT__MPI_HDR_BUF (sizeof(bt__mpi_hdr) + BT__MPI_INLINE_MAX)

typedef enum {
  BT__OP_HDR_RECV,     /* the channel's pre-posted header receive */
  BT__OP_PAYLOAD_RECV, /* the payload of queued item `item` */
  BT__OP_SEND,         /* a header or payload send; frees buf, drops slice */
  BT__OP_COLL,         /* detach's nonblocking collectives */
  BT__OP_HB_RECV,      /* the heartbeat receive (BATON_MPI_PEER_TIMEOUT) */
  BT__OP_HB_SEND       /* a heartbeat send */
} bt__op_kind;

struct bt__rchan;
struct bt__rq_item;

/* The pieces (BT__MSG_FRAGS) of one slice sent from its region where it
 * lies: the slice, and with it the region's lock, lives until MPI is done
 * with every piece (eager sends usually are at once: isend() in rchan.c).
 * Lock held for all of it. */
typedef struct bt__mpi_pieces {
  int refs;       /* pieces outstanding, plus the sender's while posting */
  bt_slice slice; /* dropped with the last reference */
} bt__mpi_pieces;

/* One outstanding MPI request and what to do when it completes. Send
 * records come from the bridge's cache (op_get() in rchan.c) with room for
 * a header and its inline bytes after them (`hdr`), so a message allocates
 * nothing once the cache is warm. */
typedef struct bt__mpi_op {
  bt__op_kind kind;
  struct bt__rchan *chan;
  void *buf;      /* freed at completion (raw payloads) */
  bt_slice slice; /* sends: dropped at completion */
  bool has_slice;
  bt__mpi_pieces *pieces; /* sends of a piece: released at completion */
  bool cached;                  /* from the cache: goes back to it */
  struct bt__rq_item *item;     /* payload receives */
  int index;                    /* position in the bridge's table, -1 if none */
  struct bt__mpi_op *free_next; /* the cache's list */
  unsigned char *hdr;           /* cached: BT__MPI_HDR_BUF bytes after the op */
} bt__mpi_op;

/* One received message of a channel, delivered to `in` in arrival order. */
typedef enum {
  BT__RQ_PENDING, /* payload still arriving */
  BT__RQ_READY,   /* elem holds the element */
  BT__RQ_DROP,    /* data to discard (failed channel, no receiver left) */
  BT__RQ_CLOSE,   /* the peer's close: close `in` */
  BT__RQ_FAIL     /* this channel failed: close `in` */
} bt__rq_state;

typedef struct bt__rq_item {
  struct bt__rq_item *next;
  bt__rq_state state;
  bool drop;     /* READY but to be discarded (credit returned) */
  int pending;   /* payload receives (pieces) still outstanding */
  bool holds;    /* elem holds a handle that must be disposed of */
  void *payload; /* raw payload (boxes, wire), freed after decode */
  size_t payload_bytes;
  /* A value's payload lands here instead of in elem: the slot of `in` its
   * receiver will read (bt__chan_lend()), published at delivery; elem has
   * no room then. NULL: elem holds the element. */
  void *lent;
  unsigned char elem[]; /* the channel type's size */
} bt__rq_item;

/* One end of a remote channel. Fields are protected by the bridge's lock
 * unless marked otherwise. */
typedef struct bt__rchan {
  struct bt_mpi *m;    /* immutable; the bridge lives while refs > 0 */
  int peer, tag;       /* immutable */
  const bt_type *type; /* immutable; valid until detach (mpi.h) */
  bt__rkind kind;      /* immutable */
  uint64_t type_hash;  /* immutable */
  size_t cap;          /* immutable: the user's capacity */
  uint32_t window;     /* immutable: credits at start, max(cap, 1) */
  bt_chan *out, *in;   /* immutable: our references */
  _Atomic int refs;    /* atomic: the user chan's destroy and the bridge */
  /* atomic: something for bt__rchan_pump() to do (an element put into
   * out, a credit to return, a close): set by the hooks before they kick,
   * taken by poll_once(), which pumps only marked channels (and those
   * with a sender waiting on out), so a poll costs little per idle
   * channel. */
  _Atomic int want_pump;
  struct bt__rchan *next; /* the bridge's list */

  bt__mpi_hdr hdr_template; /* immutable: magic, type hash and name */

  /* send direction */
  uint32_t credits; /* DATA messages we may still send */
  uint64_t send_seq;
  bool out_closed; /* `out` closed by us (user close, peer close,
                      failure, detach) */
  bool close_sent;
  bool final_sent;        /* our last message went (BT__MSG_FINAL) */
  unsigned char *scratch; /* one element taken from `out` */

  /* receive direction */
  bt__mpi_op hdr_op; /* the pre-posted header receive */
  bool hdr_posted;
  unsigned char *hdr_buf; /* hdr_cap bytes */
  size_t hdr_cap;         /* immutable: header + the most inline bytes */
  uint64_t recv_seq;
  bool rx_frags;             /* the DATA header at hand: payload in pieces */
  uint32_t to_return;        /* credits owed to the peer */
  _Atomic uint32_t returned; /* atomic: credits users returned, not yet
                                folded into to_return */
  bt__rq_item *rq_head, *rq_tail;
  /* Slices: the array of the last slice received (a reference of ours) and
   * its shape, owned again for the next slice of that shape once its user
   * released it (bt__slice_reuse_array): a received slice then costs an
   * own, not a new array. NULL when none is kept (larger than
   * BT__MPI_REUSE_MAX, or the user released the channel). */
  bt_array *recv_array;
  int32_t recv_dtype, recv_ndim;
  int64_t recv_shape[BT_MAX_DIMS];
  bool peer_closed;
  bool peer_final;  /* the peer's last message came (BT__MSG_FINAL) */
  bool discard;     /* deliver nothing more (no user left, detach) */
  bool user_closed; /* bt_chan_close called here */
  bool user_gone;   /* the user chan was released */
  int error;        /* BT_OK, or the failure receivers report */
  char errmsg[256];

  /* detach (bridge.c drives it; see bt__rchan_detach_step()) */
  bool orphan;       /* the peer has no channel with this tag */
  bool send_done;    /* nothing more leaves: close sent or given up */
  int nsends;        /* sends of this channel outstanding */
  int npayloads;     /* payload receives of this channel outstanding */
  int64_t credit_at; /* when credits last came (or detach's exchange) */
  bool stalled;      /* out waits for credits (counted once per stall) */

  /* Counters (plain, under the lock), for diagnostics and detach's report:
   * DATA messages and element bytes each way, the times a send found no
   * credit, elements accepted by bt_send but never delivered (detach:
   * orphan, no room at the peer, peer failure). */
  uint64_t msgs_sent, msgs_recv, bytes_sent, bytes_recv;
  uint64_t credit_stalls, undelivered;
  /* Late wake-ups: elements the progress thread handed to a receiver
   * already blocked on `in` while no user thread polled the bridge, that
   * is, received only because the progress thread woke and polled (a
   * waiter that stopped polling, or any waiter in thread mode): each is a
   * thread wake-up on the message's path, the case DESIGN.md bounds at
   * 50 us. */
  uint64_t late_wakeups;
} bt__rchan;

/* The bridge. */
/* Where a detach is (bridge.c). */
typedef enum {
  BT__DETACH_NONE,    /* attached */
  BT__DETACH_COUNTS,  /* MPI_Ialltoall of the channel counts per peer */
  BT__DETACH_TAGS,    /* MPI_Ialltoallv of the tags: orphans known */
  BT__DETACH_DRAIN,   /* every channel delivers, closes, gives up */
  BT__DETACH_BARRIER, /* MPI_Ibarrier: every rank drained */
  BT__DETACH_DONE
} bt__detach_phase;

struct bt_mpi {
  /* BT__MPI_MAGIC while attached, BT__MPI_DETACHED once bt_mpi_detach
   * returned, BT__MPI_DEAD in the handle pool. Written under the pool's
   * lock at attach and free, and by detach; a bridge's memory is never
   * returned to malloc (bridge.c: the handle pool), so a detached handle
   * is always readable. */
  uint32_t magic;
  struct bt_mpi *pool_next; /* protected by the pool's lock */
  bt_runtime *rt;
  MPI_Comm comm;      /* our duplicate: collectives */
  MPI_Comm hdr_comm;  /* headers */
  MPI_Comm data_comm; /* payloads */
  int rank, size, tag_ub;
  int thread_level; /* what MPI_Query_thread said */
  bool direct;      /* callers may call MPI themselves */
  _Atomic int refs; /* atomic: attach's, plus one per live channel */

  pthread_mutex_t lock; /* everything below, and every MPI call */
  bt__rchan *chans;
  MPI_Request *reqs; /* parallel to ops */
  bt__mpi_op **ops;
  int nops, capops;
  int poll_next;  /* where the next poll of the table starts */
  int nsends;     /* BT__OP_SEND ops outstanding */
  int nactive;    /* sends and payload receives outstanding: the
                     progress thread polls without napping then */
  bool detaching; /* detach began */
  /* A waiter polls its own channel (poll_for(), around test_one()): a data
   * header it completes leaves the next header receive to be posted after
   * the element is taken (bt__rchan_complete()). */
  bool defer_post;
  bt__detach_phase phase;
  bool coll_posted, coll_done; /* the phase's collective */
  bt__mpi_op coll_op;
  int *xcounts; /* detach: 4 x size ints: send/recv counts, displs */
  int *xtags_out, *xtags_in; /* detach: our tags per peer, theirs */
  /* detach: (peer, tag) pairs of the peers' channels we have no end of:
   * what they sent there is received and thrown away (drain_strays() in
   * bridge.c), so their sends complete and free their buffers. */
  int *strays, nstrays;
  int64_t detach_start;
  /* (peer, tag) keys of the channels that finished and left the list
   * (bt__rchan_finished()): an open-addressing set, so their tags stay
   * taken until detach as mpi.h says, at 8 bytes a channel and no poll. */
  uint64_t *retired;
  size_t nretired, capretired;
  bt__mpi_op *op_cache; /* free send records */
  /* Requests abandoned towards a dead peer or an orphan channel: MPI may
   * still read or write their buffers, so they are kept, linked here (by
   * free_next, with their buffers and slices), for the life of the
   * process: a bridge's memory is never freed, and this list survives its
   * reuse by the handle pool. */
  bt__mpi_op *abandoned;
  int op_cached;

  /* Configuration, read and validated at attach (bt__mpi_env). */
  int64_t grace_ns;        /* BATON_MPI_DETACH_GRACE_MS */
  int64_t wait_poll_ns;    /* BATON_MPI_WAIT_POLL_MS */
  int64_t peer_timeout_ns; /* BATON_MPI_PEER_TIMEOUT, 0: off */
  bool debug;              /* BATON_MPI_DEBUG */

  /* Peer failure (BATON_MPI_PEER_TIMEOUT): heartbeats on ctl_comm. */
  MPI_Comm ctl_comm; /* MPI_COMM_NULL when off */
  int64_t *heard;    /* per rank: when a message last came */
  int64_t *hb_sent;  /* per rank: when our heartbeat last left */
  bool *failed;      /* per rank: presumed dead */
  bool any_failed;
  bt__mpi_op hb_op;
  int32_t hb_buf;
  bool hb_posted;

  pthread_t progress;
  bool progress_started;
  _Atomic uint32_t wake; /* atomic: bumped to wake the progress thread */
  _Atomic int sleeping;  /* atomic: the progress thread may sleep on wake */
  _Atomic int stop;      /* atomic: the progress thread exits */
  int64_t spin_ns;       /* immutable: busy polling before sleeping */
  _Atomic int waiters;   /* atomic: progress-thread polls that saw a
                            thread blocked on a channel (a hint) */
  /* Caller-driven progress (direct mode): user threads waiting on a remote
   * channel poll the bridge themselves, and the progress thread, which
   * shares their core when a rank is bound to one, stays off it. */
  _Atomic int pollers;   /* atomic: user threads polling now */
  _Atomic int deferring; /* atomic: the progress thread naps for them */
  /* atomic: bumped when a caller-driven wait got what it waited for (a
   * hint): the progress thread that sees it move naps as it does for
   * pollers, since the thread will soon wait, and poll, again. A waiter
   * that parks unserved kicks instead (bt__mpi_wait_end()). */
  _Atomic uint32_t wait_ends;
  _Atomic unsigned rounds; /* atomic: poll_once() rounds made, by anyone */
  /* collective.c: a collective of this bridge runs on this rank (atomic;
   * zero from calloc, claimed by exchange, released by store). */
  _Atomic int coll_busy;
  bt__section section;   /* its part of bt_runtime_report() (report.c) */
};

/* Exported under the internal prefix (as core's bt__ functions) so the
 * tests can call them; not API. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

/* ---- bridge.c ---------------------------------------------------------- */

/* bt__fail(BT_EMPI) with MPI's own error string. */
int bt__mpi_fail(int mpi_rc, const char *what);
/* The same sentence into a buffer (for a channel's stored failure). */
void bt__mpi_errstr(int mpi_rc, const char *what, char *buf, size_t len);
/* Lock held: a send record from the cache (kind BT__OP_SEND, zeroed but
 * for the header storage), or NULL. */
bt__mpi_op *bt__mpi_op_get(struct bt_mpi *m);
/* Lock held: a send record with room for `bytes` of header: from the cache
 * when they fit BT__MPI_HDR_BUF, else allocated (freed at completion). */
bt__mpi_op *bt__mpi_op_get_hdr(struct bt_mpi *m, size_t bytes);
/* Lock held: give a completed op back (cached ones to the cache). */
void bt__mpi_op_put(struct bt_mpi *m, bt__mpi_op *op);
/* Lock held: a message came from rank `peer` (failure detection). */
void bt__mpi_heard(struct bt_mpi *m, int peer);
/* Lock held: one round of everything the progress thread does (for a
 * thread that must wait under the lock: rchan.c's borrowed pieces). */
int bt__mpi_poll_locked(struct bt_mpi *m);
/* Lock held: test op's request (if in the table) and handle its completion;
 * 1 if it completed. */
int bt__mpi_test_op(struct bt_mpi *m, bt__mpi_op *op);
/* MPI_Waitall / MPI_Testall with MPI_STATUSES_IGNORE, built where GCC's
 * false -Wstringop-overflow on MPICH's access attributes is silenced
 * (collective.c). */
int bt__mpi_waitall_ignore(int n, MPI_Request *reqs);
int bt__mpi_testall_ignore(int n, MPI_Request *reqs, int *done);
/* Lock held: add op with its request to the table. BT_OK or BT_ENOMEM. */
int bt__mpi_track(struct bt_mpi *m, bt__mpi_op *op, MPI_Request req);
/* For the tests: the requests this bridge's memory holds abandoned (their
 * buffers kept for the life of the process). Readable after detach: a
 * bridge's memory is never freed. */
int bt__mpi_abandoned_count(const struct bt_mpi *m);
/* 1 on the bridge's progress thread (of any bridge), else 0. */
int bt__mpi_on_progress_thread(void);
/* Wake the progress thread (after work was queued for it). */
void bt__mpi_kick(struct bt_mpi *m);
/* Lock held: 1 if (peer, tag) was a channel that finished and left the
 * list (its tag stays taken until detach). */
int bt__mpi_retired(const struct bt_mpi *m, int peer, int tag);
/* Drop a bridge reference; the last frees it. */
void bt__mpi_unref(struct bt_mpi *m);
/* Wake the progress thread unless a user thread polls, or it naps for one
 * and comes back within BT__MPI_DEFER_NS: for work that can wait that long
 * (credits), so a ping-pong pays no wake-up. */
void bt__mpi_kick_lazy(struct bt_mpi *m);
/* Caller-driven progress, direct mode only: a user thread waiting on a
 * remote channel of m (core's wait_begin / wait_poll / wait_end hooks).
 * begin counts it among the pollers; poll, if the lock is free, tests the
 * header receive of c (the channel waited on, NULL: none) and runs a round
 * of the progress thread's work now and then (poll_for()); it returns 0
 * once the thread has
 * polled spin_ns since since_ns (it then parks); end uncounts it and wakes
 * the progress thread when it must take over. */
int bt__mpi_wait_begin(struct bt_mpi *m);
int bt__mpi_wait_poll(struct bt_mpi *m, struct bt__rchan *c, int64_t since_ns);
void bt__mpi_wait_end(struct bt_mpi *m, int completed);

/* ---- rchan.c ----------------------------------------------------------- */

/* Lock held: move what can go from out to MPI; send owed credits and the
 * close when due. Returns nonzero if anything happened. */
int bt__rchan_pump(bt__rchan *c);
/* Lock held: an op of this channel completed with status st (MPI rc). */
void bt__rchan_complete(bt__rchan *c, bt__mpi_op *op, int mpi_rc,
                        const MPI_Status *st);
/* Lock held: the channel failed: remember code and message, close both
 * local channels, discard what comes. */
void bt__rchan_failv(bt__rchan *c, int code, const char *msg);
/* Mark c for the next poll_once() (any thread, no lock needed). */
void bt__rchan_mark(bt__rchan *c);
/* Lock held: take the mark; 1 if c must be pumped now. */
int bt__rchan_marked(bt__rchan *c);
/* Lock held: detach begins: close `out` (later sends: BT_ECLOSED); what
 * was accepted still goes, what comes is still delivered. */
void bt__rchan_detach_begin(bt__rchan *c);
/* Lock held, phase DRAIN: one step of the channel's detach at time now;
 * returns 1 once it is finished (sent all it could, received the peer's
 * close, or gave up: orphan, no room at the peer past the grace, peer
 * failed). */
int bt__rchan_detach_step(bt__rchan *c, int64_t now);
/* Lock held: post the header receive if not posted. */
int bt__rchan_post(bt__rchan *c);
/* Lock held: deliver what arrived complete (after a failure). */
void bt__rchan_deliver(bt__rchan *c);
/* Lock held: 1 once c may leave the bridge's list (its user released it
 * and its traffic is over both ways: nothing more will come on its tag). */
int bt__rchan_finished(const bt__rchan *c);
/* Lock not held, bridge gone: close `in`, drop the bridge's reference. */
void bt__rchan_detach_end(bt__rchan *c);
/* Drop a reference; the last frees the channel. */
void bt__rchan_unref(bt__rchan *c);
/* Dispose of a received element we hold (slice, box), by kind. */
void bt__rchan_dispose(bt__rchan *c, void *elem);

/* ---- report.c ----------------------------------------------------------- */

/* After a successful attach / before detach: the bridge's section of the
 * runtime's report, and the rank for diagnostics. No bridge lock held. */
void bt__mpi_report_attach(struct bt_mpi *m);
void bt__mpi_report_detach(struct bt_mpi *m);
/* bt__chan_remote.describe of a remote channel: peer, tag, credits. */
void bt__rchan_describe(void *ctx, char *buf, size_t len);
/* Lock held: send c->scratch with send(c), traced (BATON_TRACE). */
void bt__rchan_traced_send(bt__rchan *c, void (*send)(bt__rchan *c));
/* Lock held: a DATA header arrived (BATON_TRACE). */
void bt__rchan_traced_recv(bt__rchan *c, const bt__mpi_hdr *h);

/* ---- datatype.c -------------------------------------------------------- */

/* An MPI datatype of `bytes` contiguous bytes: MPI_BYTE with count bytes
 * when it fits an int, else a derived type with count 1. *owned says
 * whether the caller frees it. MPI rc. */
int bt__mpi_bytes_type(size_t bytes, MPI_Datatype *t, int *count, int *owned);
/* 1 if the view is dense row-major (one block of memory). */
int bt__mpi_view_dense(const bt_view *v);
/* The datatype of a slice's region as laid out in memory (count 1), built
 * from its strides; dense row-major regions take the bytes fast path.
 * BT_OK, BT_ENOTSUP (an extent above INT_MAX), BT_EMPI. */
int bt__mpi_region_type(const bt_view *v, MPI_Datatype *t, int *count,
                        int *owned);

/* ---- box_wire.c -------------------------------------------------------- */

/* The encoding of a box tree: pre-order, per box: u64 bytes, u64 children,
 * u64 frozen flag, the data padded to 8 bytes, then per child slot a u64
 * presence flag followed by the child's encoding. Frozen subtrees come back
 * frozen, mutable ones mutable. */
size_t bt__box_wire_size(const bt_box *b);
void bt__box_wire_pack(const bt_box *b, unsigned char *buf);
/* Rebuild a tree held by the calling thread. BT_OK, BT_ETYPE (malformed),
 * BT_ENOMEM. */
int bt__box_wire_unpack(const unsigned char *buf, size_t len, bt_box **b);

/* header.c: whether a DATA header of a slice channel describes a slice
 * the receiver can make: a dtype, 1..BT_MAX_DIMS non-negative extents
 * whose size in bytes (no overflow) is exactly what the message carries,
 * inline or as payload, not both. 1, or 0 with the reason in why. */
int bt__mpi_slice_header_ok(const bt__mpi_hdr *h, char *why, size_t len);
/* header.c: whether a DATA header's payload in pieces (BT__MSG_FRAGS) is
 * within BT__MPI_FRAG_TOTAL, so that a forged header cannot make the
 * receiver post a receive per BT__MPI_FRAG bytes of any size. 1, or 0
 * with the reason in why. */
int bt__mpi_frags_ok(const bt__mpi_hdr *h, char *why, size_t len);

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#endif /* BATON_MPI_INT_H */
