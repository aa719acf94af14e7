/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mailbox: how worker threads hand work back to the agent's loop thread.
 *
 * Handlers never block, so anything slow (attaching to a QEMU, measuring a
 * dirty rate, a whole migration) runs on a thread of its own; its results
 * (completing a deferred JSON-RPC call, a progress notification, releasing
 * a VM) must happen on the loop thread, which owns the RPC server and the
 * registry. A worker posts a function and its argument; the loop runs it
 * in order, from an eventfd callback.
 *
 *   worker thread                       loop thread
 *   ─────────────                       ───────────
 *   agent_mailbox_post(fn, arg) ──▶ queue ──eventfd──▶ fn(arg)
 */
#ifndef QMIG_AGENT_MAILBOX_H
#define QMIG_AGENT_MAILBOX_H

#include <stdbool.h>

#include "agent/loop.h"

typedef void (*agent_task_fn)(void *arg);
typedef struct agent_mailbox agent_mailbox;

agent_mailbox *agent_mailbox_new(agent_loop *loop, qm_error *err);
/* Run every task still queued, then free. Loop thread only. */
void agent_mailbox_free(agent_mailbox *mb);
/* Queue @fn(@arg) for the loop thread. Any thread. False only when out of
 * memory (then nothing is queued). */
bool agent_mailbox_post(agent_mailbox *mb, agent_task_fn fn, void *arg);

/* Start a detached thread running @fn(@arg). */
bool agent_spawn(void *(*fn)(void *), void *arg, qm_error *err);

#endif
