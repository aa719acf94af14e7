/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON-RPC methods about the host and its VMs: agent.info, vm.attach,
 * vm.list, vm.detach, dirtyrate.measure. Slow work (QMP round trips,
 * reading /proc, measuring for seconds) runs on a worker thread and
 * answers a deferred call from the loop thread.
 */
#define LOG_PREFIX "qmigd"
#include "agent/agent-int.h"
#include "agent/recover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Defer @call and run @fn(@job) on a worker thread, which answers it
 * through the mailbox. Returns false if that could not start: @job is
 * freed and the call answered with the reason. */
static bool start_deferred(rpc_call *call, void *(*fn)(void *), void *job,
			   qm_error *err)
{
	qm_error serr = QM_ERROR_INIT;

	if (!rpc_call_defer(call, err)) {
		free(job);
		return false;
	}
	if (!agent_spawn(fn, job, &serr)) {
		free(job);
		rpc_call_fail(call, 0, &serr);
		return false;
	}
	return true;
}

/* ---- agent.info ---- */

static json_object *m_agent_info(void *ctx, rpc_call *call, json_object *p,
				 qm_error *err)
{
	agent *a = ctx;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version",
			       json_object_new_string(QMIG_VERSION_STRING));
	json_object_object_add(o, "state_dir",
			       json_object_new_string(a->cfg.state_dir));
	json_object_object_add(o, "capabilities",
			       agent_features_to_json(&a->features));
	json_object_object_add(o, "vms", json_object_new_int(a->nvms));
	json_object_object_add(o, "max_migrations",
			       json_object_new_int(a->cfg.max_migrations));
	json_object_object_add(o, "max_queued",
			       json_object_new_int(a->cfg.max_queued));
	json_object_object_add(o, "migrations_running", json_object_new_int(
			mig_count_running(a, QM_SIDE_SOURCE)));
	json_object_object_add(o, "migrations_incoming", json_object_new_int(
			mig_count_running(a, QM_SIDE_DEST)));
	json_object_object_add(o, "migrations_queued",
			       json_object_new_int(mig_count_queued(a)));
	return o;
}

/* ---- vm.attach ---- */

typedef struct attach_job {
	agent *a;
	rpc_call *call;
	char name[LD_MAX_NAME + 1];
	char qmp[256];
	int64_t pid;
	agent_vm *vm;
	bool ok;
	qm_error err;
} attach_job;

static void attach_done(void *arg)
{
	attach_job *j = arg;
	const char *why;

	if (j->ok && !agent_add_vm(j->a, j->vm, &j->err)) {
		agent_vm_detach(j->vm);
		j->ok = false;
	}
	if (!j->ok) {
		free(j->vm);
		rpc_call_fail(j->call, 0, &j->err);
	} else {
		const char *t = agent_tracker_for(j->a, j->vm, &why);

		rpc_call_complete(j->call, agent_vm_to_json(j->vm, t, why));
	}
	free(j);
}

static void *attach_thread(void *arg)
{
	attach_job *j = arg;

	j->vm = calloc(1, sizeof(*j->vm));
	if (!j->vm)
		qm_error_set(&j->err, QM_ERR_NOMEM, "VM");
	else
		j->ok = agent_vm_attach(j->vm, j->name, j->qmp, (pid_t)j->pid,
					AGENT_ATTACH_TIMEOUT_MS, &j->err);
	agent_mailbox_post(j->a->mb, attach_done, j);
	return NULL;
}

static json_object *m_vm_attach(void *ctx, rpc_call *call, json_object *p,
				qm_error *err)
{
	agent *a = ctx;
	const char *name, *qmp;
	int64_t pid = 0;
	attach_job *j;

	if (!rpc_param_string(p, "name", true, &name, call) ||
	    !rpc_param_string(p, "qmp", true, &qmp, call) ||
	    !rpc_param_int64(p, "pid", false, 1, INT32_MAX, &pid, call) ||
	    !agent_vm_name_valid(name, err))
		return NULL;
	if (agent_find_vm(a, name))
		return rpc_error_set(call, RPC_ERR_NOT_ALLOWED, "a VM named '%s' "
				     "is already attached", name);
	j = calloc(1, sizeof(*j));
	if (!j)
		return rpc_error_set(call, RPC_ERR_INTERNAL, "out of memory");
	*j = (attach_job){ .a = a, .call = call, .pid = pid,
			   .err = QM_ERROR_INIT };
	snprintf(j->name, sizeof(j->name), "%s", name);
	if (!qm_format(j->qmp, sizeof(j->qmp), "%s", qmp)) {
		free(j);
		return rpc_error_set(call, RPC_ERR_TOO_BIG, "qmp address "
				     "longer than %zu", sizeof(j->qmp) - 1);
	}
	start_deferred(call, attach_thread, j, err);
	return NULL;
}

/* ---- vm.list / vm.detach ---- */

static json_object *m_vm_list(void *ctx, rpc_call *call, json_object *p,
			      qm_error *err)
{
	agent *a = ctx;
	json_object *o = json_object_new_object(), *l = json_object_new_array();
	const char *why;

	for (int i = 0; i < a->nvms; i++) {
		const char *t = agent_tracker_for(a, a->vms[i], &why);

		json_object_array_add(l, agent_vm_to_json(a->vms[i], t, why));
	}
	json_object_object_add(o, "vms", l);
	return o;
}

static agent_vm *vm_param(agent *a, json_object *p, rpc_call *call)
{
	const char *name;
	agent_vm *vm;

	if (!rpc_param_string(p, "vm", true, &name, call))
		return NULL;
	vm = agent_find_vm(a, name);
	if (!vm)
		rpc_error_set(call, RPC_ERR_VM_NOT_FOUND, "no VM named '%s' is "
			      "attached", name);
	return vm;
}

static json_object *m_vm_detach(void *ctx, rpc_call *call, json_object *p,
				qm_error *err)
{
	agent *a = ctx;
	agent_vm *vm = vm_param(a, p, call);

	if (!vm)
		return NULL;
	if (vm->busy)
		return rpc_error_set(call, RPC_ERR_VM_BUSY, "VM '%s' is "
				     "migrating", vm->name);
	agent_remove_vm(a, vm);
	agent_vm_detach(vm);
	pr_info("detached VM %s", vm->name);
	free(vm);
	return json_object_new_object();
}

/* ---- dirtyrate.measure ---- */

/*
 * Two ways to measure: the agent hashes a shared RAM twice (content that
 * changed); a private RAM it cannot read is measured by QEMU itself
 * (calc-dirty-rate: QEMU hashes sampled pages, which needs no dirty log;
 * an estimate in whole MiB/s), over the VM's QMP connection, which the
 * worker owns meanwhile.
 */
#define QEMU_MEASURE_SLACK_MS 5000
#define QEMU_MEASURE_POLL_MS 100

typedef struct measure_job {
	agent *a;
	agent_vm *vm;
	rpc_call *call;
	int64_t seconds;
	dl_round_stats st;           /* hash-scan */
	qmp_dirty_rate_info qemu;    /* private RAM: QEMU's estimate */
	bool ok;
	qm_error err;
} measure_job;

static json_object *measured_json(const measure_job *j)
{
	json_object *o = json_object_new_object();
	double bps = (double)j->qemu.dirty_rate_mbps * (1 << 20);

	json_object_object_add(o, "vm", json_object_new_string(j->vm->name));
	json_object_object_add(o, "seconds", json_object_new_int64(j->seconds));
	json_object_object_add(o, "method", json_object_new_string(
				       j->vm->shared ? "hash-scan" : "qemu"));
	if (!j->vm->shared) {
		json_object_object_add(o, "dirty_pages_per_s",
				       json_object_new_double(bps / DL_PAGE_SIZE));
		json_object_object_add(o, "dirty_bytes_per_s",
				       json_object_new_double(bps));
		json_object_object_add(o, "sample_pages", json_object_new_int64(
					       (int64_t)j->qemu.sample_pages));
		return o;
	}
	json_object_object_add(o, "dirty_pages_per_s",
			       json_object_new_double(j->st.dirty_pages_per_s));
	json_object_object_add(o, "dirty_bytes_per_s",
			       json_object_new_double(j->st.dirty_bytes_per_s));
	json_object_object_add(o, "pages_dirty",
			       json_object_new_int64(j->st.pages_dirty));
	json_object_object_add(o, "pages_scanned",
			       json_object_new_int64(j->st.pages_scanned));
	json_object_object_add(o, "scan_ms",
			       json_object_new_double(j->st.find_ns / 1e6));
	return o;
}

static void measure_done(void *arg)
{
	measure_job *j = arg;

	j->vm->busy = false;
	/* The loop drives the QMP connection again. */
	if (!j->vm->shared)
		agent_watch_vm(j->a, j->vm);
	if (j->ok)
		rpc_call_complete(j->call, measured_json(j));
	else
		rpc_call_fail(j->call, 0, &j->err);
	free(j);
}

static bool measure_by_qemu(measure_job *j)
{
	int64_t until = qm_now_ms() + j->seconds * 1000 + QEMU_MEASURE_SLACK_MS;
	qmp_conn *q = j->vm->q;

	if (!qmp_calc_dirty_rate(q, j->seconds, &j->err)) {
		qm_error_prepend(&j->err, "QEMU's dirty-rate measurement");
		return false;
	}
	usleep((useconds_t)j->seconds * 1000000);
	for (;;) {
		if (!qmp_query_dirty_rate(q, &j->qemu, &j->err))
			return false;
		if (j->qemu.status == QMP_DIRTY_RATE_MEASURED &&
		    j->qemu.has_dirty_rate)
			return true;
		if (qm_now_ms() > until)
			return qm_error_set(&j->err, QM_ERR_TIMEOUT, "QEMU's "
					    "dirty-rate measurement is still "
					    "'%s' after %lld s", j->qemu.status_str,
					    (long long)(j->seconds +
					    QEMU_MEASURE_SLACK_MS / 1000));
		usleep(QEMU_MEASURE_POLL_MS * 1000);
	}
}

static void *measure_thread(void *arg)
{
	measure_job *j = arg;
	dl_tracker_opts o = { .kind = DL_TRACKER_HASH_SCAN };

	if (j->vm->shared)
		j->ok = dl_measure_dirty_rate(&j->vm->ram, &o,
					      (int)j->seconds * 1000, &j->st,
					      &j->err);
	else
		j->ok = measure_by_qemu(j);
	agent_mailbox_post(j->a->mb, measure_done, j);
	return NULL;
}

static json_object *m_dirtyrate_measure(void *ctx, rpc_call *call,
					json_object *p, qm_error *err)
{
	agent *a = ctx;
	agent_vm *vm = vm_param(a, p, call);
	int64_t seconds = 1;
	measure_job *j;

	if (!vm || !rpc_param_int64(p, "seconds", false, 1,
				    AGENT_MEASURE_MAX_S, &seconds, call))
		return NULL;
	if (vm->busy)
		return rpc_error_set(call, RPC_ERR_VM_BUSY, "VM '%s' is busy "
				     "(migrating or measuring)", vm->name);
	j = calloc(1, sizeof(*j));
	if (!j)
		return rpc_error_set(call, RPC_ERR_INTERNAL, "out of memory");
	*j = (measure_job){ .a = a, .vm = vm, .call = call,
			    .seconds = seconds, .err = QM_ERROR_INIT };
	/* Busy keeps detach away from the RAM (or the QMP connection) the
	 * thread uses. */
	vm->busy = true;
	if (!vm->shared)
		agent_unwatch_vm(a, vm);
	if (!start_deferred(call, measure_thread, j, err)) {
		vm->busy = false;
		if (!vm->shared)
			agent_watch_vm(a, vm);
	}
	return NULL;
}

static const char *const p_attach[] = { "name", "qmp", "pid", NULL };
static const char *const p_vm[] = { "vm", NULL };
static const char *const p_measure[] = { "vm", "seconds", NULL };
static const char *const p_none[] = { NULL };

const rpc_method agent_vm_methods[] = {
	{ "agent.info", m_agent_info, p_none, 0 },
	{ "vm.attach", m_vm_attach, p_attach, 0 },
	{ "vm.list", m_vm_list, p_none, 0 },
	{ "vm.detach", m_vm_detach, p_vm, 0 },
	{ "dirtyrate.measure", m_dirtyrate_measure, p_measure, 0 },
};
const size_t agent_vm_methods_count = QM_ARRAY_SIZE(agent_vm_methods);
