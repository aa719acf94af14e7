/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A restarted agent takes back what it had (docs/RELIABILITY.md,
 * "Recovery"), before it serves anything:
 *
 *   VMs            vms/<name>/vm.json whose QEMU is the same process as
 *                  recorded: re-attached; the others' records removed
 *   source, before COMMIT could be out (queued .. verify)
 *                  the VM's QEMU's own migration cancelled (compat
 *                  mode), SIGCONT (duty-cycling throttle), cgroup
 *                  throttle lifted, resumed if it ran when the migration
 *                  began: rolled-back, or failed if it never stopped
 *   source, COMMIT may be out (switchover, in-doubt)
 *                  QEMU gone: the VM moved, completed; QEMU there: in
 *                  doubt, the destination agent is asked (resolve.c)
 *   destination, no COMMIT
 *                  Qd killed (the recorded process only), its directory
 *                  removed: failed
 *   destination, COMMIT received
 *                  Qd resumed if needed and adopted as an attached VM:
 *                  completed; Qd gone: failed (and "ran" says whether
 *                  the VM had run here, which the source's question
 *                  needs)
 *
 * Every migration settled here ends with the error "interrupted: agent
 * restarted" and what was done; all of it is logged.
 */
#define LOG_PREFIX "recover"
#include "agent/mig-int.h"
#include "agent/records.h"
#include "agent/recover.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HISTORY_KEEP 128          /* final records kept (and loaded) */
#define KILL_WAIT_MS 5000
#define QMP_WAIT_MS 5000
#define INTERRUPTED "interrupted: agent restarted"

typedef struct loaded {
	json_object *o;
	mig_record r;
	qm_phase phase;
	char id[MIG_ID_LEN];
} loaded;

/* ---- reading the records ---- */

static int by_start(const void *x, const void *y)
{
	const loaded *a = x, *b = y;

	return (a->r.started_unix_ms > b->r.started_unix_ms) -
	       (a->r.started_unix_ms < b->r.started_unix_ms);
}

static bool add_loaded(agent *a, const char *file, loaded **v, size_t *n,
		       size_t *cap)
{
	qm_error err = QM_ERROR_INIT;
	char id[MIG_ID_LEN];
	loaded *l;
	json_object *o;

	if (strlen(file) != MIG_ID_LEN - 1 + 5 ||
	    strcmp(file + MIG_ID_LEN - 1, ".json"))
		return true;     /* .tmp leftovers and strangers */
	snprintf(id, sizeof(id), "%.*s", MIG_ID_LEN - 1, file);
	o = migrec_load(a, id, &err);
	if (!o) {
		pr_warn("migration record %s: %s", file, err.msg);
		return true;
	}
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		loaded *nv = realloc(*v, c * sizeof(**v));

		if (!nv) {
			json_object_put(o);
			return false;
		}
		*v = nv;
		*cap = c;
	}
	l = &(*v)[(*n)++];
	l->o = o;
	snprintf(l->id, sizeof(l->id), "%s", id);
	migrec_parse(o, &l->r, &l->phase);
	return true;
}

static size_t load_all(agent *a, loaded **out)
{
	char dir[512];
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	snprintf(dir, sizeof(dir), "%s/migrations", a->cfg.state_dir);
	d = opendir(dir);
	while (d && (de = readdir(d)))
		if (!add_loaded(a, de->d_name, out, &n, &cap))
			break;
	if (d)
		closedir(d);
	if (n)
		qsort(*out, n, sizeof(**out), by_start);
	return n;
}

/* Final records beyond the newest HISTORY_KEEP go: the state dir must
 * not grow with every migration for ever. */
static void prune(agent *a, loaded *v, size_t n)
{
	size_t final = 0;

	for (size_t i = 0; i < n; i++)
		final += qm_phase_is_final(v[i].phase);
	for (size_t i = 0; i < n && final > HISTORY_KEEP; i++) {
		char rel[64];

		if (!qm_phase_is_final(v[i].phase))
			continue;
		snprintf(rel, sizeof(rel), "migrations/%s.json", v[i].id);
		qm_state_remove(a->cfg.state_dir, rel, NULL);
		json_object_put(v[i].o);
		v[i].o = NULL;
		final--;
	}
}

/* ---- VMs ---- */

static void recover_vm(agent *a, const char *name)
{
	qm_error err = QM_ERROR_INIT;
	qm_proc_state s;
	agent_vm *vm;
	vm_record r;

	if (!vm_record_load(a, name, &r, &err)) {
		if (err.code != QM_ERR_NOTFOUND)
			pr_warn("VM %s: %s", name, err.msg);
		return;
	}
	s = qm_proc_check(&r.qemu);
	if (s != QM_PROC_SAME) {
		pr_info("VM %s: its QEMU (pid %d) is %s: record removed", name,
			(int)r.qemu.pid, qm_proc_state_name(s));
		vm_record_remove(a, name);
		return;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm || !agent_vm_reattach(vm, name, r.qmp, r.qemu.pid,
				      AGENT_ATTACH_TIMEOUT_MS, &err) ||
	    !agent_add_vm(a, vm, &err)) {
		pr_err("VM %s: QEMU pid %d runs but re-attaching failed (record "
		       "kept): %s", name, (int)r.qemu.pid,
		       vm ? err.msg : "out of memory");
		if (vm && vm->q)
			agent_vm_detach(vm);
		free(vm);
		return;
	}
	pr_info("VM %s re-attached: QEMU pid %d, %s", name, (int)vm->pid,
		vm->status);
}

static void recover_vms(agent *a)
{
	char dir[512];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/vms", a->cfg.state_dir);
	d = opendir(dir);
	while (d && (de = readdir(d)))
		if (agent_vm_name_valid(de->d_name, NULL))
			recover_vm(a, de->d_name);
	if (d)
		closedir(d);
}

/* ---- the source side ---- */

/* A cgroup throttle left by the dead agent (throttle.c's "qmig-<id>"
 * group): lift it, so the vCPUs run at full speed again. */
static void lift_throttle(const agent_vm *vm, const char *id)
{
	static const struct {
		const char *root, *file, *value;
	} kinds[] = {
		{ "/sys/fs/cgroup", "cpu.max", "max" },
		{ "/sys/fs/cgroup/unified", "cpu.max", "max" },
		{ "/sys/fs/cgroup/cpu", "cpu.cfs_quota_us", "-1" },
	};
	char suffix[64], path[768], line[512];
	FILE *f;

	snprintf(suffix, sizeof(suffix), "/qmig-%s", id);
	for (int i = 0; i < vm->nvcpus; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup",
			 (int)vm->pid, (int)vm->vcpu_tids[i]);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ':');

			if (!p)
				continue;
			p[strcspn(p, "\n")] = '\0';
			if (strlen(p + 1) < strlen(suffix) ||
			    strcmp(p + 1 + strlen(p + 1) - strlen(suffix),
				   suffix))
				continue;
			for (size_t k = 0; k < QM_ARRAY_SIZE(kinds); k++) {
				FILE *w;

				snprintf(path, sizeof(path), "%s%s/%s",
					 kinds[k].root, p + 1, kinds[k].file);
				w = fopen(path, "we");
				if (!w)
					continue;
				fputs(kinds[k].value, w);
				if (fclose(w) == 0)
					pr_info("VM %s: throttle lifted (%s)",
						vm->name, path);
			}
		}
		if (f)
			fclose(f);
	}
}

static bool qemu_migrating(qmp_mig_status s)
{
	return s == QMP_MIG_STATUS_SETUP || s == QMP_MIG_STATUS_ACTIVE ||
	       s == QMP_MIG_STATUS_PRE_SWITCHOVER ||
	       s == QMP_MIG_STATUS_DEVICE || s == QMP_MIG_STATUS_CANCELLING ||
	       s == QMP_MIG_STATUS_WAIT_UNPLUG;
}

/*
 * Get the VM going again on the source. True if it was found stopped
 * and has been resumed; *@note says what was done.
 */
static bool source_rollback(agent_vm *vm, const migration *m,
			    const mig_record *r, char *note, size_t len)
{
	qm_error err = QM_ERROR_INIT;
	qmp_migrate_info mi;
	qmp_status st;

	/* Duty cycling stops QEMU with SIGSTOP between periods; vm->proc
	 * was checked at re-attach, the pid is still the VM's. */
	kill(vm->pid, SIGCONT);
	lift_throttle(vm, m->id);
	if (qmp_query_migrate(vm->q, &mi, &err) && qemu_migrating(mi.status)) {
		pr_info("migration %s: cancelling QEMU's own migration (%s)",
			m->id, mi.status_str);
		if (!qmp_migrate_cancel(vm->q, &err) ||
		    !qm_native_wait(vm->q, QM_MIG_DONE_MASK, 5, QMP_WAIT_MS,
				    &mi, &err))
			pr_err("migration %s: cancelling: %s", m->id, err.msg);
	}
	qm_error_clear(&err);
	if (!qmp_query_status(vm->q, &st, &err)) {
		snprintf(note, len, "; the source QEMU does not answer: %s",
			 err.msg);
		return false;
	}
	if (st.running) {
		snprintf(note, len, "; the VM runs on the source");
		return false;
	}
	if (!r->was_running) {
		snprintf(note, len, "; the VM stays '%s' on the source: it was "
			 "not running when the migration began", st.status);
		return false;
	}
	if (!qmp_cont(vm->q, &err)) {
		pr_err("migration %s: RESUMING THE SOURCE FAILED: %s", m->id,
		       err.msg);
		snprintf(note, len, "; resuming the source (%s) failed: %s",
			 st.status, err.msg);
		return false;
	}
	snprintf(vm->status, sizeof(vm->status), "running");
	snprintf(note, len, "; the VM was '%s' on the source and has been "
		 "resumed", st.status);
	return true;
}

static void settle(migration *m, qm_phase phase, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Set the outcome of a recovered migration, log it, write its record. */
static void settle(migration *m, qm_phase phase, const char *fmt, ...)
{
	va_list ap;

	m->st.phase = phase;
	if (qm_phase_is_final(phase))
		m->st.ended_ms = qm_now_ms();
	va_start(ap, fmt);
	vsnprintf(m->st.error, sizeof(m->st.error), fmt, ap);
	va_end(ap);
	pr_info("migration %s (%s, %s): %s%s%s", m->id, m->p.vm,
		m->side == QM_SIDE_SOURCE ? "source" : "destination",
		qm_phase_name(phase), m->st.error[0] ? ": " : "", m->st.error);
}

static void recover_in_doubt(agent *a, migration *m, agent_vm *vm,
			     const mig_record *r)
{
	qm_proc_state s = qm_proc_check(&r->qemu);

	if (!vm && s != QM_PROC_SAME) {
		/* It quits once the destination acknowledged COMMIT. */
		settle(m, QM_PHASE_COMPLETED, "%s", "");
		pr_info("migration %s: the source QEMU (pid %d) is %s after "
			"COMMIT: the VM moved", m->id, (int)r->qemu.pid,
			qm_proc_state_name(s));
		migrec_save(m, m->st.phase, r, 0);
		return;
	}
	if (!vm) {
		settle(m, QM_PHASE_IN_DOUBT, INTERRUPTED " after COMMIT may "
		       "have been sent; the source QEMU (pid %d) runs but could "
		       "not be re-attached: do not resume it before checking "
		       "the destination", (int)r->qemu.pid);
		migrec_save(m, m->st.phase, r, 0);
		return;
	}
	settle(m, QM_PHASE_IN_DOUBT, INTERRUPTED " after COMMIT may have been "
	       "sent: asking the destination");
	vm->busy = true;
	agent_unwatch_vm(a, vm);
	m->vm = vm;
	migrec_save(m, m->st.phase, NULL, 0);
	mig_resolve_start(a, m);
}

static void recover_source(agent *a, migration *m, const mig_record *r)
{
	agent_vm *vm = agent_find_vm(a, m->p.vm);
	char note[QM_ERROR_MSG_MAX / 2] = "";
	bool resumed;

	/* The VM of that name must be the QEMU the migration was about. */
	if (vm && r->qemu.pid && (vm->proc.pid != r->qemu.pid ||
				  vm->proc.start != r->qemu.start))
		vm = NULL;
	switch (m->st.phase) {
	case QM_PHASE_SWITCHOVER:
	case QM_PHASE_IN_DOUBT:
		recover_in_doubt(a, m, vm, r);
		return;
	case QM_PHASE_QUEUED:
		settle(m, QM_PHASE_FAILED, INTERRUPTED " while the migration was "
		       "queued; the VM was not touched");
		break;
	default:
		if (!vm) {
			settle(m, QM_PHASE_FAILED, INTERRUPTED "; the source "
			       "QEMU (pid %d) is %s", (int)r->qemu.pid,
			       qm_proc_state_name(qm_proc_check(&r->qemu)));
			break;
		}
		resumed = source_rollback(vm, m, r, note, sizeof(note));
		settle(m, resumed ? QM_PHASE_ROLLED_BACK : QM_PHASE_FAILED,
		       INTERRUPTED " in phase %s%s", qm_phase_name(m->st.phase),
		       note);
	}
	migrec_save(m, m->st.phase, r, 0);
}

/* ---- the destination side ---- */

/* Qd as recorded; or, if the agent died between its fork and the
 * record, the QEMU working in its directory (the launch chdir()s there). */
static qm_proc_state find_qd(const mig_record *r, qm_proc_id *id)
{
	*id = r->qemu;
	if (!id->pid && r->vm_dir[0]) {
		pid_t pid = qm_proc_find_by_cwd(r->vm_dir);

		if (pid && !qm_proc_id_of(pid, id, NULL))
			id->pid = 0;
	}
	return qm_proc_check(id);
}

/* Remove Qd's directory (RAM files, sockets, logs), unless a VM of that
 * name is attached here and lives in it. */
static void remove_vm_dir(agent *a, const migration *m, const mig_record *r)
{
	qm_error err = QM_ERROR_INIT;
	char rel[128], want[600];

	snprintf(rel, sizeof(rel), "vms/%s", m->p.vm);
	if (!qm_format(want, sizeof(want), "%s/%s", a->cfg.state_dir, rel) ||
	    strcmp(want, r->vm_dir) || agent_find_vm(a, m->p.vm))
		return;
	if (!qm_state_remove_tree(a->cfg.state_dir, rel, &err))
		pr_warn("migration %s: %s", m->id, err.msg);
	else
		pr_info("migration %s: removed %s", m->id, r->vm_dir);
}

/* Qd is told to run (if it is not yet) and attached as a VM of ours. */
static bool adopt(agent *a, migration *m, const mig_record *r,
		  const qm_proc_id *id, qm_error *err)
{
	agent_vm *vm = agent_find_vm(a, m->p.vm);
	qmp_migrate_info mi;
	qmp_status st;
	qmp_conn *q;
	bool ok;

	if (vm && vm->pid == id->pid)
		return true;     /* its vm.json was written: re-attached */
	if (vm)
		return qm_error_set(err, QM_ERR_STATE, "another VM named '%s' "
				    "is attached", m->p.vm);
	q = qmp_conn_new(err);
	ok = q && qmp_connect(q, r->qmp, QMP_WAIT_MS, err) &&
	     qmp_wait_ready(q, QMP_WAIT_MS, err) &&
	     qmp_query_status(q, &st, err);
	if (ok && !st.running) {
		/* COMMIT came, the source verified: it runs here. Its
		 * incoming migration must have completed first. */
		ok = qm_native_wait(q, QM_MIG_DONE_MASK, 5, QMP_WAIT_MS, &mi,
				    err);
		if (ok && mi.status != QMP_MIG_STATUS_COMPLETED)
			ok = qm_error_set(err, QM_ERR_QMP, "its incoming "
					  "migration is '%s'", mi.status_str);
		if (ok)
			ok = qmp_cont(q, err);
		if (ok)
			pr_info("migration %s: destination QEMU resumed (it was "
				"'%s')", m->id, st.status);
	}
	qmp_conn_free(q);
	if (!ok)
		return false;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return qm_error_set(err, QM_ERR_NOMEM, "VM");
	if (!agent_vm_attach(vm, m->p.vm, r->qmp, id->pid,
			     AGENT_ATTACH_TIMEOUT_MS, err) ||
	    !agent_add_vm(a, vm, err)) {
		if (vm->q)
			agent_vm_detach(vm);
		free(vm);
		return false;
	}
	staged_drop(a, m->p.vm);
	return true;
}

static void recover_dest(agent *a, migration *m, mig_record *r)
{
	qm_error err = QM_ERROR_INIT;
	qm_proc_id id;
	qm_proc_state s = find_qd(r, &id);
	bool committed = m->st.phase == QM_PHASE_SWITCHOVER;

	if (!committed) {
		if (s == QM_PROC_SAME && !qm_proc_kill(&id, KILL_WAIT_MS, &err)) {
			settle(m, QM_PHASE_FAILED, INTERRUPTED " before COMMIT; "
			       "killing the destination QEMU (pid %d) failed: %s",
			       (int)id.pid, err.msg);
		} else {
			remove_vm_dir(a, m, r);
			settle(m, QM_PHASE_FAILED, INTERRUPTED " before COMMIT; "
			       "the destination QEMU (pid %d) %s", (int)id.pid,
			       s == QM_PROC_SAME ? "was killed"
						 : "had gone already");
		}
	} else if (s == QM_PROC_SAME && adopt(a, m, r, &id, &err)) {
		r->ran = true;
		settle(m, QM_PHASE_COMPLETED, "%s", "");
		pr_info("migration %s: VM %s runs here (QEMU pid %d), adopted",
			m->id, m->p.vm, (int)id.pid);
	} else if (s == QM_PROC_SAME) {
		/* Never leave a QEMU that may run the VM un-managed: if it
		 * cannot be adopted, it must not run at all. */
		bool had_run = r->ran;

		if (!qm_proc_kill(&id, KILL_WAIT_MS, NULL))
			pr_err("migration %s: destination QEMU pid %d could not "
			       "be killed", m->id, (int)id.pid);
		settle(m, QM_PHASE_FAILED, INTERRUPTED " after COMMIT; adopting "
		       "the destination QEMU failed (%s), it was killed%s",
		       err.msg, had_run ? " after it had run the VM" : "");
	} else {
		settle(m, QM_PHASE_FAILED, INTERRUPTED " after COMMIT; the "
		       "destination QEMU (pid %d) is %s%s", (int)id.pid,
		       qm_proc_state_name(s), r->ran ? " after it had run the "
		       "VM" : "");
	}
	migrec_save(m, m->st.phase, r, 0);
}

/* ---- all of it ---- */

static void recover_one(agent *a, loaded *l)
{
	qm_error err = QM_ERROR_INIT;
	migration *m = migrec_restore(a, l->o, &err);

	if (!m) {
		pr_warn("migration record %s: %s", l->id, err.msg);
		return;
	}
	if (qm_phase_is_final(m->st.phase))
		return;
	pr_info("migration %s (%s, %s) was in phase %s", m->id, m->p.vm,
		m->side == QM_SIDE_SOURCE ? "source" : "destination",
		qm_phase_name(m->st.phase));
	if (m->side == QM_SIDE_SOURCE)
		recover_source(a, m, &l->r);
	else
		recover_dest(a, m, &l->r);
}

void agent_recover(agent *a)
{
	loaded *v;
	size_t n = load_all(a, &v), unsettled = 0;

	prune(a, v, n);
	recover_vms(a);
	for (size_t i = 0; i < n; i++) {
		if (!v[i].o)
			continue;
		unsettled += !qm_phase_is_final(v[i].phase);
		recover_one(a, &v[i]);
		json_object_put(v[i].o);
	}
	free(v);
	if (n)
		pr_info("%zu migration record(s) read, %zu interrupted", n,
			unsettled);
}
