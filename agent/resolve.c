/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A source in doubt learns the outcome from the destination agent.
 *
 * After COMMIT went out and no ACK came back (the link or the destination
 * agent died, or this agent restarted in between), the VM may run at the
 * destination or not. The source keeps its QEMU paused and asks the
 * destination agent, which answers from its registry or its records
 * (migration.outcome: the phase and whether its QEMU was ever told to
 * run). The source acts only on a definite answer:
 *
 *   destination completed (it runs the VM)     source QEMU quits
 *   destination final, never ran the VM        source resumes
 *   anything else (unreachable, unknown id,    stay paused, ask again
 *   still deciding, ran and then lost it)      (backing off to 10 s)
 *
 * so the VM never runs in two places, whatever dies when.
 */
#define LOG_PREFIX "resolve"
#include "agent/mig-int.h"
#include "agent/records.h"
#include "agent/recover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASK_CONNECT_MS 3000
#define ASK_CALL_MS 5000
#define ASK_FIRST_MS 500
#define ASK_MAX_MS 10000

typedef enum outcome {
	OUT_PENDING,
	OUT_DEST_RUNS,
	OUT_DEST_NEVER_RAN,
	OUT_STOPPED,             /* the agent stops: still in doubt */
} outcome;

typedef struct resolver {
	agent *a;
	migration *m;
	agent_vm *vm;
	outcome out;
	char note[QM_ERROR_MSG_MAX];
} resolver;

static void set_error(migration *m, const char *msg)
{
	pthread_mutex_lock(&m->lock);
	snprintf(m->st.error, sizeof(m->st.error), "%s", msg);
	pthread_mutex_unlock(&m->lock);
}

static outcome judge(resolver *r, json_object *res)
{
	json_object *ph = NULL, *ran = NULL, *fin = NULL;
	const char *phase;

	json_object_object_get_ex(res, "phase", &ph);
	json_object_object_get_ex(res, "ran", &ran);
	json_object_object_get_ex(res, "final", &fin);
	phase = json_object_is_type(ph, json_type_string)
		? json_object_get_string(ph) : "?";
	if (!strcmp(phase, "completed")) {
		qm_format(r->note, sizeof(r->note), "the destination runs the VM");
		return OUT_DEST_RUNS;
	}
	if (json_object_get_boolean(ran)) {
		qm_format(r->note, sizeof(r->note), "in doubt: the destination "
			  "ran the VM and is now '%s': the source stays paused",
			  phase);
		return OUT_PENDING;
	}
	if (json_object_get_boolean(fin)) {
		qm_format(r->note, sizeof(r->note), "rolled back after doubt: "
			  "the destination never ran the VM (it is '%s')", phase);
		return OUT_DEST_NEVER_RAN;
	}
	qm_format(r->note, sizeof(r->note), "in doubt: the destination is "
		  "still in '%s'", phase);
	return OUT_PENDING;
}

static outcome ask(resolver *r)
{
	qm_error err = QM_ERROR_INIT;
	json_object *p, *res;
	rpc_client *peer;
	outcome o;

	peer = peer_connect(&r->a->key, r->m->p.dest, ASK_CONNECT_MS, &err);
	if (!peer) {
		qm_format(r->note, sizeof(r->note), "in doubt: destination agent "
			  "%s: %s", r->m->p.dest, err.msg);
		return OUT_PENDING;
	}
	p = json_object_new_object();
	json_object_object_add(p, "id", json_object_new_string(r->m->id));
	res = rpc_client_call(peer, "migration.outcome", p, ASK_CALL_MS, &err);
	rpc_client_free(peer);
	if (!res) {
		qm_format(r->note, sizeof(r->note), "in doubt: destination agent "
			  "%s: %s", r->m->p.dest, err.msg);
		return OUT_PENDING;
	}
	o = judge(r, res);
	json_object_put(res);
	return o;
}

/* Sleep @ms unless the agent stops meanwhile. */
static bool nap(resolver *r, int ms)
{
	for (; ms > 0; ms -= 100) {
		if (atomic_load(&r->m->cancel))
			return false;
		usleep(100 * 1000);
	}
	return !atomic_load(&r->m->cancel);
}

/* The destination runs it: keep the last image, let the source go. */
static void source_quits(resolver *r)
{
	qm_error err = QM_ERROR_INIT;

	if (!staged_save(r->a, r->vm, &err))
		pr_warn("migration %s: no staged copy: %s", r->m->id, err.msg);
	if (!qmp_quit(r->vm->q, NULL))
		pr_warn("migration %s: quitting the source QEMU failed",
			r->m->id);
}

static void source_resumes(resolver *r)
{
	qm_error err = QM_ERROR_INIT;
	qmp_status st;

	if (qmp_query_status(r->vm->q, &st, &err) && st.running)
		return;
	if (!err.code && qmp_cont(r->vm->q, &err)) {
		/* The thread owns the VM until resolved() releases it. */
		snprintf(r->vm->status, sizeof(r->vm->status), "running");
		pr_info("migration %s: VM %s resumed on the source", r->m->id,
			r->vm->name);
		return;
	}
	pr_err("migration %s: RESUMING THE SOURCE FAILED: %s", r->m->id,
	       err.msg);
	snprintf(r->note + strlen(r->note), sizeof(r->note) - strlen(r->note),
		 "; resuming the source failed: %s", err.msg);
}

static void resolved(void *arg)
{
	resolver *r = arg;
	migration *m = r->m;
	agent *a = r->a;

	switch (r->out) {
	case OUT_DEST_RUNS:
		set_error(m, "");
		mig_step(m, QM_EV_RESOLVED_OK, true);
		migrec_save(m, m->st.phase, NULL, MIGREC_ASYNC);
		agent_remove_vm(a, r->vm);
		agent_vm_detach(r->vm);
		free(r->vm);
		m->vm = NULL;
		break;
	case OUT_DEST_NEVER_RAN:
		set_error(m, r->note);
		mig_step(m, QM_EV_RESOLVED_BACK, true);
		migrec_save(m, m->st.phase, NULL, MIGREC_ASYNC);
		r->vm->busy = false;
		agent_watch_vm(a, r->vm);
		break;
	default:
		/* Still in doubt; the record says so for the next start. */
		migrec_save(m, m->st.phase, NULL, MIGREC_ASYNC);
		break;
	}
	m->finished = true;
	if (r->out != OUT_STOPPED)
		rpc_server_notify(a->rpc, "migration", "migration.finished",
				  mig_status_json_brief(m), NULL);
	free(r);
}

static void *resolve_thread(void *arg)
{
	resolver *r = arg;
	int wait = ASK_FIRST_MS;

	for (;;) {
		if (!nap(r, wait)) {
			r->out = OUT_STOPPED;
			break;
		}
		r->out = ask(r);
		if (r->out != OUT_PENDING)
			break;
		set_error(r->m, r->note);
		wait = QM_MIN(wait * 2, ASK_MAX_MS);
	}
	if (r->out == OUT_DEST_RUNS)
		source_quits(r);
	else if (r->out == OUT_DEST_NEVER_RAN)
		source_resumes(r);
	if (r->out != OUT_STOPPED)
		pr_info("migration %s: %s", r->m->id, r->note);
	agent_mailbox_post(r->a->mb, resolved, r);
	return NULL;
}

void mig_resolve_start(agent *a, migration *m)
{
	qm_error err = QM_ERROR_INIT;
	resolver *r = calloc(1, sizeof(*r));

	m->finished = false;
	if (r) {
		*r = (resolver){ .a = a, .m = m, .vm = m->vm };
		if (agent_spawn(resolve_thread, r, &err)) {
			pr_info("migration %s: in doubt, asking the destination "
				"agent %s", m->id, m->p.dest);
			return;
		}
		free(r);
	} else {
		qm_error_set(&err, QM_ERR_NOMEM, "resolver");
	}
	/* Nothing will ask: stay in doubt, for an operator or a restart. */
	pr_err("migration %s: in doubt and cannot ask the destination: %s",
	       m->id, err.msg);
	m->finished = true;
}
