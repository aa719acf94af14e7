/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What keeps migrations going across limits, doubt and restarts: the
 * queue of outgoing migrations (mig-queue.c), the resolution of a source
 * in doubt after COMMIT (resolve.c), and the recovery a restarted agent
 * runs before it serves anything (recover.c). Private to agent/; loop
 * thread unless said otherwise.
 */
#ifndef QMIG_AGENT_RECOVER_H
#define QMIG_AGENT_RECOVER_H

#include <stdatomic.h>

#include "agent/agent-int.h"
#include "agent/migration.h"

/* ---- queue (mig-queue.c) ---- */

/* Migrations of @side holding a slot: started, not final, not in doubt
 * (an in-doubt source only waits for an answer). */
int mig_count_running(const agent *a, qm_side side);
int mig_count_queued(const agent *a);
/* 1 for the next to start; 0 if @m is not queued. */
int mig_queue_position(const agent *a, const migration *m);
/* Start the worker of source migration @m (queued or fresh) now. On
 * failure @m has ended (failed, VM released) and *err says why. */
bool mig_launch(agent *a, migration *m, qm_error *err);
/* Start queued migrations, oldest first, while slots are free. */
void mig_queue_kick(agent *a);
/* End a source migration that has no worker (queued, or never started)
 * with @ev (QM_EV_FAIL or QM_EV_CANCEL) and @why: the VM is released,
 * the record written, subscribers told. */
void mig_end_unstarted(agent *a, migration *m, qm_event ev, const char *why);

/*
 * migration.prepare on @peer (@params taken). A destination at its own
 * limit answers -32008; a migration that just ended there may still be
 * winding down (killing its QEMU) when the source's next queued one asks,
 * so that answer is retried every 200 ms for up to 30 s, unless @cancel
 * is set. Worker thread.
 */
json_object *mig_prepare_call(rpc_client *peer, json_object *params,
			      int timeout_ms, atomic_bool *cancel,
			      qm_error *err);

/* ---- in doubt (resolve.c) ---- */

/*
 * @m is a source migration in doubt (COMMIT may have reached the
 * destination, no answer came): its VM (m->vm) stays busy and paused
 * while a thread asks the destination agent (migration.outcome) until it
 * can tell. Destination runs the VM: the source QEMU quits, completed.
 * Destination never ran it and never will: the source resumes,
 * rolled-back. Anything else: ask again later. @m is unfinished until
 * then (a stopping agent ends the asking; the record stays in doubt).
 */
void mig_resolve_start(agent *a, migration *m);

/* ---- restart (recover.c) ---- */

/*
 * Before the agent serves RPC: re-attach the VMs recorded in
 * vms/<name>/vm.json whose QEMU still runs (the same process), drop the
 * others' records; settle every migration record not in a final phase
 * (docs/RELIABILITY.md, "Recovery"); load the recent records into the
 * history so migration.list and migration.status report them. Logs all
 * it does; problems are logged, never fatal.
 */
void agent_recover(agent *a);

#endif
