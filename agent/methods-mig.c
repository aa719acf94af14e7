/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON-RPC methods about migrations: migration.start/status/list/cancel
 * (operators, on --rpc) and migration.prepare (the source agent, on
 * --peer-listen). Each migration runs on its own worker thread; these
 * handlers only start, read and flag them.
 */
#define LOG_PREFIX "qmigd"
#include "agent/mig-int.h"
#include "agent/records.h"
#include "agent/recover.h"
#include "agent/state-writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- registry ---- */

static json_object *get_member(json_object *o, const char *k)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, k, &v);
	return v;
}

migration *mig_find(agent *a, const char *id)
{
	for (int i = 0; i < a->nmigs; i++)
		if (!strcmp(a->migs[i]->id, id))
			return a->migs[i];
	return NULL;
}

/* Drop the oldest finished migration when the history is full. */
static void make_room(agent *a)
{
	for (int i = 0; a->nmigs >= AGENT_MAX_MIGRATIONS && i < a->nmigs; i++) {
		migration *m = a->migs[i];

		if (!m->finished)
			continue;
		pthread_mutex_destroy(&m->lock);
		free(m->side_state);
		free(m);
		memmove(&a->migs[i], &a->migs[i + 1],
			(a->nmigs - i - 1) * sizeof(a->migs[0]));
		a->nmigs--;
		return;
	}
}

migration *mig_new(agent *a, qm_side side, const mig_params *p,
		   qm_error *err)
{
	migration *m;

	/* Outgoing ones queue (m_start); an incoming one cannot wait, its
	 * source is waiting on migration.prepare. */
	if (side == QM_SIDE_DEST &&
	    mig_count_running(a, side) >= a->cfg.max_migrations) {
		qm_error_set(err, QM_ERR_TOO_BIG, "%d incoming migrations "
			     "running, the limit (--max-migrations)",
			     a->cfg.max_migrations);
		return NULL;
	}
	make_room(a);
	if (a->nmigs >= AGENT_MAX_MIGRATIONS) {
		qm_error_set(err, QM_ERR_TOO_BIG, "migration history full");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		qm_error_set(err, QM_ERR_NOMEM, "migration");
		return NULL;
	}
	m->a = a;
	m->side = side;
	m->p = *p;
	pthread_mutex_init(&m->lock, NULL);
	m->st.phase = QM_PHASE_SETUP;
	m->st.downtime_ms = -1;
	m->st.deadline_slack_ms = -1;
	m->st.started_ms = qm_now_ms();
	a->migs[a->nmigs++] = m;
	return m;
}

/* ---- migration.start ---- */

static bool start_params(rpc_call *call, json_object *j, mig_params *p)
{
	const char *vm, *dest, *on_deadline = "abort", *verify = "full";
	const char *mode = "agent", *dest_qmp = "";
	double downtime = 300, deadline = 0, mbps = 0;
	int64_t streams = 0;
	bool tls = p->tls;

	if (!rpc_param_string(j, "vm", true, &vm, call) ||
	    !rpc_param_string(j, "dest", true, &dest, call) ||
	    !rpc_param_double(j, "max_downtime_ms", false, &downtime, call) ||
	    !rpc_param_double(j, "deadline", false, &deadline, call) ||
	    !rpc_param_string(j, "on_deadline", false, &on_deadline, call) ||
	    !rpc_param_double(j, "bandwidth_mbps", false, &mbps, call) ||
	    !rpc_param_int64(j, "streams", false, 0, TP_MAX_STREAMS, &streams,
			     call) ||
	    !rpc_param_string(j, "verify", false, &verify, call) ||
	    !rpc_param_string(j, "mode", false, &mode, call) ||
	    !rpc_param_bool(j, "tls", false, &tls, call) ||
	    !rpc_param_string(j, "dest_qmp", false, &dest_qmp, call))
		return false;
	p->tls = tls;
	if (downtime <= 0 || deadline < 0 || mbps < 0) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: "
			      "max_downtime_ms must be > 0, deadline and "
			      "bandwidth_mbps >= 0");
		return false;
	}
	if ((strcmp(on_deadline, "abort") && strcmp(on_deadline, "force")) ||
	    (strcmp(verify, "full") && strcmp(verify, "tracked") &&
	     strcmp(verify, "none"))) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: on_deadline "
			      "is abort|force, verify is full|tracked|none");
		return false;
	}
	/* mode "qemu": compat mode, QEMU's own migration (mig-compat.c) */
	if (strcmp(mode, "agent") && strcmp(mode, "qemu")) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: mode '%s': "
			      "expected agent|qemu", mode);
		return false;
	}
	p->compat = !strcmp(mode, "qemu");
	if (!p->compat && !strcmp(verify, "none")) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: verify "
			      "\"none\" is for mode \"qemu\" (the agent engine "
			      "always verifies what it moved)");
		return false;
	}
	if (p->compat && p->tls) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: tls is "
			      "for mode agent (QEMU's own migration does not "
			      "go through the agents' transport)");
		return false;
	}
	if (!mig_compat_params(j, p, call))
		return false;
	if (!qm_format(p->dest_qmp, sizeof(p->dest_qmp), "%s", dest_qmp)) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "dest_qmp too long");
		return false;
	}
	snprintf(p->vm, sizeof(p->vm), "%s", vm);
	if (!qm_format(p->dest, sizeof(p->dest), "%s", dest)) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "dest too long");
		return false;
	}
	p->max_downtime_ms = downtime;
	p->deadline_s = deadline;
	p->on_deadline_force = !strcmp(on_deadline, "force");
	p->bandwidth_bps = (uint64_t)(mbps * 1e6 / 8);
	p->streams = (int)streams;
	p->verify = strcmp(verify, "full") ? MIG_VERIFY_TRACKED
					   : MIG_VERIFY_FULL;
	if (!strcmp(verify, "none"))
		p->verify = MIG_VERIFY_NONE;
	p->max_rounds = 30;
	return true;
}

/*
 * A VM whose RAM the agents cannot read moves only by QEMU's own
 * migration, and only unverified: the caller must say so (verify
 * "none"), since QEMU 7.2 under TCG loses guest writes and nothing would
 * catch it.
 */
static bool private_ram_ok(const agent_vm *vm, const mig_params *p,
			   rpc_call *call)
{
	qm_error err = QM_ERROR_INIT;

	if (vm->shared)
		return true;
	if (!p->compat) {
		agent_vm_need_shared(vm, "mode \"agent\"", &err);
		rpc_error_set(call, RPC_ERR_UNSUPPORTED, "%s", err.msg);
		return false;
	}
	if (p->verify != MIG_VERIFY_NONE) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: VM '%s' has "
			      "private RAM (%s): the agents cannot read it, so "
			      "they cannot verify QEMU's migration; verify "
			      "\"none\" accepts an unverified move (QEMU 7.2 "
			      "under TCG loses guest writes), or start QEMU "
			      "with its RAM on a share=on memory-backend-file "
			      "or memory-backend-memfd", vm->name,
			      vm->private_why);
		return false;
	}
	return true;
}

static json_object *m_start(void *ctx, rpc_call *call, json_object *j,
			    qm_error *err)
{
	agent *a = ctx;
	mig_params p = { 0 };
	agent_vm *vm;
	migration *m;
	char host[128];
	uint16_t port;
	json_object *r;
	bool queue;

	p.tls = a->cfg.tls;	/* the agent's default; the call may change it */
	if (!start_params(call, j, &p) ||
	    !peer_split_hostport(p.dest, host, sizeof(host), &port, err))
		return NULL;
	vm = agent_find_vm(a, p.vm);
	if (!vm)
		return rpc_error_set(call, RPC_ERR_VM_NOT_FOUND, "no VM named "
				     "'%s' is attached", p.vm);
	if (vm->busy || vm->lost)
		return rpc_error_set(call, vm->busy ? RPC_ERR_VM_BUSY
					: RPC_ERR_NOT_ALLOWED, "VM '%s' is %s",
				     p.vm, vm->busy ? "busy" : "lost");
	if (!private_ram_ok(vm, &p, call))
		return NULL;
	if (!a->key.len)
		return rpc_error_set(call, RPC_ERR_UNSUPPORTED, "no --psk-file: "
				     "this agent cannot talk to a peer");
	queue = mig_count_running(a, QM_SIDE_SOURCE) >= a->cfg.max_migrations;
	if (queue && mig_count_queued(a) >= a->cfg.max_queued)
		return rpc_error_set(call, RPC_ERR_TOO_BIG, "%d migrations "
				     "running (--max-migrations) and %d queued: "
				     "the queue is full (--max-queued)",
				     a->cfg.max_migrations, mig_count_queued(a));
	m = mig_new(a, QM_SIDE_SOURCE, &p, err);
	if (!m)
		return NULL;
	if (!mig_new_id(m->id, m->raw_id, err)) {
		m->st.phase = QM_PHASE_FAILED;
		m->finished = true;
		return NULL;
	}
	m->vm = vm;
	/* Queued, the VM is reserved (no second start, no detach) but
	 * untouched: the loop keeps watching it. */
	vm->busy = true;
	if (queue)
		m->st.phase = QM_PHASE_QUEUED;
	/* Known to a restart from now on (the worker waits for it). */
	migrec_save(m, m->st.phase, NULL, MIGREC_ASYNC);
	if (queue)
		pr_info("migration %s: %s to %s queued (position %d)", m->id,
			vm->name, p.dest, mig_queue_position(a, m));
	else if (!mig_launch(a, m, err))
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "id", json_object_new_string(m->id));
	return r;
}

/* ---- status, list, cancel ---- */

static migration *mig_param(agent *a, json_object *j, rpc_call *call)
{
	const char *id;
	migration *m;

	if (!rpc_param_string(j, "id", true, &id, call))
		return NULL;
	m = mig_find(a, id);
	if (!m)
		rpc_error_set(call, RPC_ERR_MIGRATION_NOT_FOUND, "no migration "
			      "'%s'", id);
	return m;
}

/* A queued migration also says where it stands in the queue. */
static json_object *with_queue(agent *a, migration *m, json_object *o)
{
	int pos = mig_queue_position(a, m);

	if (pos)
		json_object_object_add(o, "queue_position",
				       json_object_new_int(pos));
	return o;
}

static json_object *m_status(void *ctx, rpc_call *call, json_object *j,
			     qm_error *err)
{
	migration *m = mig_param(ctx, j, call);

	return m ? with_queue(ctx, m, mig_status_json(m)) : NULL;
}

static json_object *m_list(void *ctx, rpc_call *call, json_object *j,
			   qm_error *err)
{
	agent *a = ctx;
	json_object *o = json_object_new_object(), *l = json_object_new_array();

	for (int i = 0; i < a->nmigs; i++)
		json_object_array_add(l, with_queue(a, a->migs[i],
					mig_status_json_brief(a->migs[i])));
	json_object_object_add(o, "migrations", l);
	return o;
}

static json_object *m_cancel(void *ctx, rpc_call *call, json_object *j,
			     qm_error *err)
{
	migration *m = mig_param(ctx, j, call);

	if (!m)
		return NULL;
	if (m->st.phase == QM_PHASE_QUEUED) {
		mig_end_unstarted(ctx, m, QM_EV_CANCEL,
				  "cancelled while queued");
		return json_object_new_object();
	}
	if (qm_phase_is_final(m->st.phase) ||
	    m->st.phase == QM_PHASE_SWITCHOVER ||
	    m->st.phase == QM_PHASE_IN_DOUBT)
		return rpc_error_set(call, RPC_ERR_NOT_ALLOWED, "migration %s "
				     "is in phase %s: too late to cancel",
				     m->id, qm_phase_name(m->st.phase));
	mig_cancel(m);
	return json_object_new_object();
}

/* ---- end of a migration (loop thread) ---- */

/* The record of an ended migration (in doubt: not ended, but all a
 * restart needs is that COMMIT may be out). */
static void record(agent *a, migration *m)
{
	mig_record r = { .ran = m->st.phase == QM_PHASE_COMPLETED };

	migrec_save(m, m->st.phase, m->side == QM_SIDE_DEST ? &r : NULL,
		    MIGREC_ASYNC);
}

static void learn(agent *a, migration *m)
{
	json_object *o;

	qm_predictor_learn(&a->predictor, &m->st.predicted, &m->st.actual);
	o = qm_predictor_to_json(&a->predictor);
	state_writer_put(a->sw, "predictor.json", o, true, false);
}

void mig_source_finished(void *arg)
{
	migration *m = arg;
	agent *a = m->a;
	agent_vm *vm = m->vm;

	m->finished = true;
	record(a, m);
	if (m->st.phase == QM_PHASE_COMPLETED) {
		learn(a, m);
		/* The VM runs on the destination now; its QEMU here quit. */
		agent_remove_vm(a, vm);
		agent_vm_detach(vm);
		free(vm);
		m->vm = NULL;
	} else if (m->st.phase == QM_PHASE_IN_DOUBT) {
		/* The VM stays busy and paused until the destination says. */
		mig_resolve_start(a, m);
	} else {
		vm->busy = false;
		agent_watch_vm(a, vm);
	}
	rpc_server_notify(a->rpc, "migration", "migration.finished",
			  mig_status_json(m), NULL);
	mig_queue_kick(a);
}

void mig_dest_finished(void *arg)
{
	dest_state *d = arg;
	migration *m = d->m;
	qm_error err = QM_ERROR_INIT;

	m->finished = true;
	/* The VM's record before the final one: a restart in between finds
	 * the VM by either. */
	if (d->vm && !agent_add_vm(m->a, d->vm, &err)) {
		pr_warn("migration %s: %s", m->id, err.msg);
		agent_vm_detach(d->vm);
		free(d->vm);
	}
	d->vm = NULL;
	record(m->a, m);
	tp_receiver_free(d->rx);
	d->rx = NULL;
	ld_result_free(&d->lr);
	ld_desc_free(&d->desc);
	rpc_server_notify(m->a->rpc, "migration", "migration.finished",
			  mig_status_json(m), NULL);
}

/* ---- migration.prepare (peer) ---- */

static json_object *m_prepare(void *ctx, rpc_call *call, json_object *j,
			      qm_error *err)
{
	agent *a = ctx;
	const char *id, *vm, *mode = "agent", *dest_qmp = "", *verify = "full";
	json_object *launch, *r;
	mig_params p = { 0 };
	bool tls = false;
	dest_state *d;
	migration *m;
	int port = 0;

	if (!rpc_param_string(j, "id", true, &id, call) ||
	    !rpc_param_string(j, "vm", true, &vm, call) ||
	    !rpc_param_object(j, "launch", true, &launch, call) ||
	    !rpc_param_string(j, "mode", false, &mode, call) ||
	    !rpc_param_bool(j, "tls", false, &tls, call) ||
	    !rpc_param_string(j, "dest_qmp", false, &dest_qmp, call) ||
	    !agent_vm_name_valid(vm, err))
		return NULL;
	if (strlen(dest_qmp) >= sizeof(((dest_state *)0)->qd_qmp))
		return rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: "
				     "dest_qmp too long");
	if (strlen(id) != MIG_ID_LEN - 1 || strspn(id, "0123456789abcdef") !=
	    MIG_ID_LEN - 1)
		return rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: id "
				     "must be %d hex digits", MIG_ID_LEN - 1);
	if (agent_find_vm(a, vm) || mig_find(a, id))
		return rpc_error_set(call, RPC_ERR_NOT_ALLOWED, "VM '%s' or "
				     "migration %s already exists here", vm, id);
	/* compat mode: QEMU's own migration (mig-compat.c) */
	if (!strcmp(mode, "qemu"))
		return mig_compat_prepare(a, call, j, id, vm, launch, err);
	if (strcmp(mode, "agent"))
		return rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: mode "
				     "'%s': expected agent|qemu", mode);
	if (!mig_compat_params(j, &p, call))
		return NULL;
	/* The source's policy, for this side's status; the source drives
	 * the verification either way. */
	if (!rpc_param_string(j, "verify", false, &verify, call))
		return NULL;
	if (strcmp(verify, "full") && strcmp(verify, "tracked"))
		return rpc_error_set(call, RPC_ERR_INVALID_PARAMS, "params: "
				     "verify '%s': mode agent verifies, full "
				     "or tracked", verify);
	p.verify = strcmp(verify, "tracked") ? MIG_VERIFY_FULL
					     : MIG_VERIFY_TRACKED;
	snprintf(p.vm, sizeof(p.vm), "%s", vm);
	/* A destination with --tls on requires it whatever the source asks:
	 * a plaintext sender then fails at the handshake, loudly. */
	p.tls = tls || a->cfg.tls;
	m = mig_new(a, QM_SIDE_DEST, &p, err);
	if (!m)
		return NULL;
	snprintf(m->id, sizeof(m->id), "%s", id);
	d = calloc(1, sizeof(*d));
	m->side_state = d;
	if (!d) {
		m->st.phase = QM_PHASE_FAILED;
		m->finished = true;
		return rpc_error_set(call, RPC_ERR_INTERNAL, "out of memory");
	}
	*d = (dest_state){ .m = m, .devstate_fd = -1, .adopted = *dest_qmp };
	snprintf(d->qd_qmp, sizeof(d->qd_qmp), "%s", dest_qmp);
	ld_desc_init(&d->desc);
	/* The port is read before the worker runs: it frees the receiver
	 * when it ends, possibly before this returns. A caller's Qd is
	 * checked by the worker, which answers then (dest-qd.c). */
	if (mig_dest_prepare(d, launch, err))
		port = tp_receiver_port(d->rx);
	if (port && d->adopted && !rpc_call_defer(call, err))
		port = 0;
	if (port && d->adopted)
		d->prepare = call;
	if (!port || !agent_spawn(mig_dest_thread, d, err)) {
		mig_fail_msg(m, err);
		m->st.phase = QM_PHASE_FAILED;
		m->finished = true;
		tp_receiver_free(d->rx);
		d->rx = NULL;
		if (d->prepare) {
			rpc_call_fail(call, 0, err);
			d->prepare = NULL;
		}
		return NULL;
	}
	if (d->adopted)
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "port", json_object_new_int(port));
	return r;
}

/* ---- migration.outcome (peer): a source in doubt asks ---- */

/*
 * What became of a migration that arrived here: its phase, whether it is
 * final, and whether its QEMU was ever told to run (a destination that
 * ran the VM and lost it must not let the source resume). From memory,
 * and from the record, which outlives restarts and the history's
 * limit.
 */
static json_object *m_outcome(void *ctx, rpc_call *call, json_object *j,
			      qm_error *err)
{
	agent *a = ctx;
	qm_error lerr = QM_ERROR_INIT;
	qm_phase ph = QM_PHASE__COUNT;
	json_object *rec, *o;
	mig_record r = { .ran = false };
	const char *id;
	migration *m;

	if (!rpc_param_string(j, "id", true, &id, call))
		return NULL;
	m = mig_find(a, id);
	if (m && m->side != QM_SIDE_DEST)
		m = NULL;
	if (!m || m->finished) {
		rec = migrec_load(a, id, &lerr);
		if (rec) {
			const char *side = json_object_get_string(
						get_member(rec, "side"));

			migrec_parse(rec, &r, &ph);
			if (!side || strcmp(side, "destination"))
				ph = QM_PHASE__COUNT;
			json_object_put(rec);
		}
	}
	/* In memory, the phase is current (the record of an ended one may
	 * still wait in the state writer); "ran" comes from the record. */
	if (m)
		ph = m->st.phase;
	if (ph == QM_PHASE__COUNT)
		return rpc_error_set(call, RPC_ERR_MIGRATION_NOT_FOUND, "no "
				     "migration '%s' arrived here", id);
	o = json_object_new_object();
	json_object_object_add(o, "phase",
			       json_object_new_string(qm_phase_name(ph)));
	json_object_object_add(o, "final",
			       json_object_new_boolean(qm_phase_is_final(ph)));
	json_object_object_add(o, "ran", json_object_new_boolean(
			ph == QM_PHASE_COMPLETED || r.ran));
	return o;
}

static const char *const p_start[] = { "vm", "dest", "max_downtime_ms",
				       "deadline", "on_deadline",
				       "bandwidth_mbps", "streams", "verify",
				       "mode", "multifd", "multifd_channels",
				       "xbzrle", "auto_converge", "tls",
				       "dest_qmp", NULL };
static const char *const p_id[] = { "id", NULL };
static const char *const p_none[] = { NULL };
static const char *const p_prepare[] = { "id", "vm", "launch", "mode", "tls",
					 "dest_qmp",
					 /* mode "qemu" only: */
					 "multifd", "multifd_channels",
					 "xbzrle", "auto_converge", "verify",
					 NULL };
static const char *const p_verify[] = { "id", "seed", "chunk_pages", "first",
					"count", "pages", NULL };
static const char *const p_abort[] = { "id", "reason", NULL };

const rpc_method agent_mig_methods[] = {
	{ "migration.start", m_start, p_start, 0 },
	{ "migration.status", m_status, p_id, 0 },
	{ "migration.list", m_list, p_none, 0 },
	{ "migration.cancel", m_cancel, p_id, 0 },
};
const size_t agent_mig_methods_count = QM_ARRAY_SIZE(agent_mig_methods);

const rpc_method agent_peer_methods[] = {
	{ "migration.prepare", m_prepare, p_prepare, 0 },
	/* compat mode (mig-compat.c) */
	{ "migration.verify", mig_compat_verify, p_verify, 0 },
	{ "migration.commit", mig_compat_commit, p_id, 0 },
	{ "migration.abort", mig_compat_abort, p_abort, 0 },
	{ "migration.outcome", m_outcome, p_id, 0 },
};
const size_t agent_peer_methods_count = QM_ARRAY_SIZE(agent_peer_methods);
