/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton/status.h
 * @brief Status codes, error messages and the portability macros every
 *        public header uses.
 *
 * Every fallible baton call returns `int`: BT_OK (0) or a negative code from
 * the table below. The calling thread's last failure is described, with the
 * values involved, by bt_errmsg().
 */
#ifndef BATON_STATUS_H
#define BATON_STATUS_H

#include <stddef.h>
#include <stdint.h>

#if defined(BATON_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define BT_API __attribute__((visibility("default")))
#elif defined(__GNUC__) || defined(__clang__)
#define BT_API __attribute__((visibility("default")))
#else
#define BT_API
#endif

/*
 * BT_NODISCARD marks the calls whose status must be looked at. Define
 * BATON_NO_NODISCARD before including baton (or -DBATON_NO_NODISCARD) to
 * switch it off. To drop one status on purpose (draining a channel with
 * bt_try_recv), write BT_IGNORE(call): a cast to void alone does not
 * silence GCC's warn_unused_result.
 */
#if defined(BATON_NO_NODISCARD)
#define BT_NODISCARD
#elif defined(__GNUC__) || defined(__clang__)
#define BT_NODISCARD __attribute__((warn_unused_result))
#else
#define BT_NODISCARD
#endif
#define BT_IGNORE(call) ((void)!(call))

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The status table: X(name, value, description). One list generates the
 * enum, bt_strerror() and the test that every code has a string.
 */
#define BT_STATUS_TABLE(X)                                                    \
  X(BT_OK, 0, "success")                                                      \
  X(BT_EINVAL, -1, "invalid argument")                                        \
  X(BT_ENOMEM, -2, "out of memory")                                           \
  X(BT_EBUSY, -3, "region overlaps a locked region")                          \
  X(BT_EMOVED, -4, "handle not held by the caller (sent, split or released)") \
  X(BT_ETYPE, -5, "element type does not match the channel's type")           \
  X(BT_ECLOSED, -6, "channel closed")                                         \
  X(BT_EAGAIN, -7, "operation would block")                                   \
  X(BT_ETIMEDOUT, -8, "timed out")                                            \
  X(BT_ESHARED, -9, "reference count above one in a checked transfer")        \
  X(BT_ECYCLE, -10, "link would make a cycle or a second parent")             \
  X(BT_EFROZEN, -11, "write access to frozen data")                           \
  X(BT_ETOPO, -12, "topology or binding failure")                             \
  X(BT_EMPI, -13, "MPI failure")                                              \
  X(BT_ENOTSUP, -14, "not supported by this build or platform")               \
  X(BT_ESTATE, -15, "not valid in the object's current state")                \
  X(BT_EDEADLK, -16, "the wait could only end by the caller's own release")

/** Status codes returned by every fallible call. */
typedef enum bt_status {
#define BT_STATUS_ENUM_(name, value, text) name = value,
  BT_STATUS_TABLE(BT_STATUS_ENUM_)
#undef BT_STATUS_ENUM_
} bt_status;

/** Number of status codes (BT_OK included). */
#define BT_STATUS_COUNT 17

/**
 * @brief The short description of a status code.
 * @param code a bt_status value (any int is accepted).
 * @return a static string; "unknown status" for codes not in the table.
 * Thread-safe. The string is owned by the library.
 */
BT_API const char *bt_strerror(int code);

/**
 * @brief The symbolic name of a status code ("BT_EBUSY").
 * @return a static string; "BT_UNKNOWN" for codes not in the table.
 */
BT_API const char *bt_status_name(int code);

/**
 * @brief The calling thread's last failure, as a sentence with the values
 *        involved ("region [0:4,2:8] overlaps region [0:8,0:4] owned by
 *        thread 3").
 * @return a thread-local string valid until the thread's next failing call;
 *         "" if no call has failed on this thread.
 * Thread-safe: each thread has its own message.
 */
BT_API const char *bt_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif /* BATON_STATUS_H */
