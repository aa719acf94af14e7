/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The queue of outgoing migrations: migration.start beyond
 * --max-migrations running ones waits in phase "queued" (its VM marked
 * busy, nothing else touched) and starts, oldest first, when a slot
 * frees; beyond --max-queued waiting ones, start is refused. Incoming
 * migrations do not queue: the source is waiting on migration.prepare, so
 * a destination over its limit refuses and the source fails cleanly.
 */
#define LOG_PREFIX "queue"
#include "agent/mig-int.h"
#include "agent/records.h"
#include "agent/recover.h"

#include <stdio.h>
#include <unistd.h>

#define PREPARE_BUSY_WAIT_MS 30000
#define PREPARE_RETRY_MS 200

int mig_count_running(const agent *a, qm_side side)
{
	int n = 0;

	for (int i = 0; i < a->nmigs; i++) {
		const migration *m = a->migs[i];

		n += m->side == side && !qm_phase_is_final(m->st.phase) &&
		     m->st.phase != QM_PHASE_IN_DOUBT &&
		     m->st.phase != QM_PHASE_QUEUED;
	}
	return n;
}

int mig_count_queued(const agent *a)
{
	return mig_queue_position(a, NULL) - 1;
}

/* With @m NULL: the queue's length + 1. */
int mig_queue_position(const agent *a, const migration *m)
{
	int pos = 1;

	for (int i = 0; i < a->nmigs; i++) {
		if (a->migs[i]->st.phase != QM_PHASE_QUEUED)
			continue;
		if (a->migs[i] == m)
			return pos;
		pos++;
	}
	return m ? 0 : pos;
}

void mig_end_unstarted(agent *a, migration *m, qm_event ev, const char *why)
{
	qm_error err = QM_ERROR_INIT;

	if (why) {
		qm_error_set(&err, ev == QM_EV_CANCEL ? QM_ERR_CANCELLED
						      : QM_ERR_STATE, "%s", why);
		mig_fail_msg(m, &err);
	}
	mig_step(m, ev, false);
	if (m->vm) {
		m->vm->busy = false;
		agent_watch_vm(a, m->vm);
	}
	m->finished = true;
	migrec_save(m, m->st.phase, NULL, MIGREC_ASYNC);
	rpc_server_notify(a->rpc, "migration", "migration.finished",
			  mig_status_json_brief(m), NULL);
}

bool mig_launch(agent *a, migration *m, qm_error *err)
{
	agent_vm *vm = m->vm;

	if (m->st.phase == QM_PHASE_QUEUED)
		mig_step(m, QM_EV_DEQUEUE, false);
	/* The worker records "setup" before it touches the VM. */
	agent_unwatch_vm(a, vm);
	if (!agent_spawn(m->p.compat ? mig_compat_source_thread
				     : mig_source_thread, m, err)) {
		mig_end_unstarted(a, m, QM_EV_FAIL, err->msg);
		return false;
	}
	pr_info("migration %s: %s to %s started", m->id, vm->name, m->p.dest);
	return true;
}

/* A queued migration that cannot start any more, and why; NULL if it
 * can. */
static const char *stale(const migration *m, char *buf, size_t len)
{
	int64_t deadline = m->st.started_ms + (int64_t)(m->p.deadline_s * 1000);

	if (m->vm->lost) {
		qm_format(buf, len, "VM lost while the migration was queued: "
			  "%s", m->vm->lost_why);
		return buf;
	}
	/* The deadline counts from migration.start, queueing included. */
	if (m->p.deadline_s > 0 && !m->p.on_deadline_force &&
	    qm_now_ms() >= deadline) {
		snprintf(buf, len, "deadline: %.1f s passed while the "
			 "migration was queued", m->p.deadline_s);
		return buf;
	}
	return NULL;
}

void mig_queue_kick(agent *a)
{
	char why[QM_ERROR_MSG_MAX];
	qm_error err = QM_ERROR_INIT;

	if (a->stopping)
		return;
	for (int i = 0; i < a->nmigs; i++) {
		migration *m = a->migs[i];

		if (m->st.phase != QM_PHASE_QUEUED)
			continue;
		if (mig_count_running(a, QM_SIDE_SOURCE) >=
		    a->cfg.max_migrations)
			return;
		if (stale(m, why, sizeof(why))) {
			mig_end_unstarted(a, m, QM_EV_FAIL, why);
			continue;
		}
		qm_error_clear(&err);
		mig_launch(a, m, &err);
	}
}

json_object *mig_prepare_call(rpc_client *peer, json_object *params,
			      int timeout_ms, atomic_bool *cancel,
			      qm_error *err)
{
	int64_t until = qm_now_ms() + PREPARE_BUSY_WAIT_MS;
	bool said = false;
	json_object *r;

	for (;;) {
		qm_error_clear(err);
		r = rpc_client_call(peer, "migration.prepare",
				    json_object_get(params), timeout_ms, err);
		if (r || err->subclass != RPC_ERR_TOO_BIG ||
		    qm_now_ms() >= until || atomic_load(cancel))
			break;
		if (!said)
			pr_info("destination at its limit, asking again: %s",
				err->msg);
		said = true;
		usleep(PREPARE_RETRY_MS * 1000);
	}
	json_object_put(params);
	return r;
}
