/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent loop: the agent's event loop, an epoll set with a callback per
 * file descriptor and one-shot timers (libuv's shape, a fraction of its
 * size).
 *
 * qmigd owns one loop and runs it from its main thread. Everything that
 * must not block registers here: the JSON-RPC listeners and connections
 * (agent/rpc.h does that itself), each VM's QMP connection (the owner adds
 * qmp_fd() with a callback calling qmp_process() and sets EPOLLOUT while
 * qmp_want_write()), transport completions, and timers (QMP deadlines from
 * qmp_next_timeout_ms(), status ticks, retries).
 *
 *   agent_loop_run()
 *     loop: epoll_wait(timeout = earliest timer, or the caller's limit)
 *           -> fd callbacks, in the order epoll reports them
 *           -> timer callbacks whose time has come, earliest first
 *     until agent_loop_stop()
 *
 * Nesting in another loop: agent_loop_fd() is the epoll descriptor
 * itself, readable whenever a registered fd is ready; a foreign poll loop
 * can wait on it (plus agent_loop_next_timeout_ms()) and call
 * agent_loop_run_once(loop, 0).
 *
 * Level-triggered: a callback that leaves data unread is called again on
 * the next iteration, so callbacks may bound the work they do per call
 * (fairness) without losing wake-ups. Callbacks may add, modify and delete
 * any fd or timer, including their own; a deleted fd's pending event in
 * the same iteration is not delivered.
 *
 * Threads: one thread runs the loop and is the only one that may call any
 * function here except agent_loop_stop(), which any thread may call.
 */
#ifndef QMIG_AGENT_LOOP_H
#define QMIG_AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

typedef struct agent_loop agent_loop;
typedef struct agent_loop_timer agent_loop_timer;

/*
 * agent_loop_fd_fn: @fd is ready; @events are epoll events (EPOLLIN,
 * EPOLLOUT, EPOLLERR, EPOLLHUP, ...).
 */
typedef void (*agent_loop_fd_fn)(agent_loop *loop, int fd, uint32_t events,
				 void *opaque);
/* agent_loop_timer_fn: the timer's time came; it is freed after this. */
typedef void (*agent_loop_timer_fn)(agent_loop *loop, void *opaque);

/*
 * agent_loop_new - create a loop (an epoll set and an eventfd for
 * agent_loop_stop()).
 * Returns: the loop (free with agent_loop_free()), or NULL with
 * QM_ERR_IO or QM_ERR_NOMEM.
 */
agent_loop *agent_loop_new(qm_error *err);

/*
 * agent_loop_free - close the epoll set and free pending timers (their
 * callbacks are not called). Registered fds are not closed: they belong to
 * whoever added them. NULL is a no-op.
 */
void agent_loop_free(agent_loop *loop);

/* agent_loop_fd - the epoll descriptor, for nesting in another loop. */
int agent_loop_fd(const agent_loop *loop);

/*
 * agent_loop_add_fd - watch @fd for @events (EPOLLIN | EPOLLOUT ...,
 * level-triggered); @fn is called with @opaque when it is ready.
 * Returns: true, or false with QM_ERR_INVAL (negative fd, already watched)
 * or QM_ERR_IO (epoll_ctl failed, e.g. a regular file).
 */
bool agent_loop_add_fd(agent_loop *loop, int fd, uint32_t events,
		       agent_loop_fd_fn fn, void *opaque, qm_error *err);

/* agent_loop_mod_fd - change the events watched on @fd.
 * Returns: true, or false with QM_ERR_NOTFOUND or QM_ERR_IO. */
bool agent_loop_mod_fd(agent_loop *loop, int fd, uint32_t events,
		       qm_error *err);

/* agent_loop_del_fd - stop watching @fd (call it before closing @fd). Not
 * watched: no-op. */
void agent_loop_del_fd(agent_loop *loop, int fd);

/*
 * agent_loop_timer_add - call @fn once, @ms milliseconds from now (0: on
 * the next iteration, after the fd callbacks).
 * Returns: a handle valid until the callback has returned or
 * agent_loop_timer_del() was called; NULL with QM_ERR_NOMEM.
 */
agent_loop_timer *agent_loop_timer_add(agent_loop *loop, int64_t ms,
				       agent_loop_timer_fn fn, void *opaque,
				       qm_error *err);

/* agent_loop_timer_del - cancel a timer that has not fired; from its own
 * callback it is a no-op. NULL is a no-op. */
void agent_loop_timer_del(agent_loop *loop, agent_loop_timer *t);

/* agent_loop_next_timeout_ms - milliseconds until the earliest timer
 * (rounded up, 0 if due), or -1 when there is none. */
int agent_loop_next_timeout_ms(const agent_loop *loop);

/*
 * agent_loop_run_once - wait up to @timeout_ms (-1: until something
 * happens; timers shorten it) and dispatch what is ready.
 * Returns: the number of callbacks called (0 after a plain timeout or
 * EINTR), or -1 with QM_ERR_IO if epoll_wait failed, or QM_ERR_STATE when
 * called from a callback.
 */
int agent_loop_run_once(agent_loop *loop, int timeout_ms, qm_error *err);

/*
 * agent_loop_run - dispatch until agent_loop_stop() is called.
 * Returns: true after a stop (which is then consumed: the loop can run
 * again), false with the agent_loop_run_once() error.
 */
bool agent_loop_run(agent_loop *loop, qm_error *err);

/* agent_loop_stop - make agent_loop_run() return after the current
 * iteration. Any thread; async-signal-safe (one write(2) to an eventfd). */
void agent_loop_stop(agent_loop *loop);

#endif /* QMIG_AGENT_LOOP_H */
