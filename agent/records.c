/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM and migration records in the state dir. See records.h.
 */
#define LOG_PREFIX "records"
#include "agent/records.h"
#include "agent/state-writer.h"
#include "agent/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define RECORD_VERSION 1

static int64_t unix_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) &&
	       json_object_is_type(v, json_type_string)
	       ? json_object_get_string(v) : "";
}

static double jnum(json_object *o, const char *k, double dflt)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !(json_object_is_type(v, json_type_int) ||
	      json_object_is_type(v, json_type_double)))
		return dflt;
	return json_object_get_double(v);
}

static bool jbool(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) &&
	       json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

static json_object *jobj(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) &&
	       json_object_is_type(v, json_type_object) ? v : NULL;
}

/* ---- VM records ---- */

static void vm_rel(char *out, size_t len, const char *name)
{
	snprintf(out, len, "vms/%s/vm.json", name);
}

void vm_record_save(agent *a, const agent_vm *vm)
{
	json_object *o = json_object_new_object();
	char rel[128];

	json_object_object_add(o, "version", json_object_new_int(RECORD_VERSION));
	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "qmp", json_object_new_string(vm->qmp_addr));
	json_object_object_add(o, "qemu", qm_proc_id_to_json(&vm->proc));
	json_object_object_add(o, "attached_unix_ms",
			       json_object_new_int64(unix_ms()));
	vm_rel(rel, sizeof(rel), vm->name);
	state_writer_put(a->sw, rel, o, true, false);
}

void vm_record_remove(agent *a, const char *name)
{
	char rel[128];

	vm_rel(rel, sizeof(rel), name);
	/* A source VM's directory holds only its record; a destination's
	 * also the RAM files and logs of its QEMU, which stay. */
	state_writer_put(a->sw, rel, NULL, false, true);
}

bool vm_record_load(agent *a, const char *name, vm_record *r, qm_error *err)
{
	char rel[128];
	json_object *o;

	memset(r, 0, sizeof(*r));
	vm_rel(rel, sizeof(rel), name);
	o = qm_state_read_json(a->cfg.state_dir, rel, err);
	if (!o)
		return false;
	snprintf(r->name, sizeof(r->name), "%s", jstr(o, "name"));
	snprintf(r->qmp, sizeof(r->qmp), "%s", jstr(o, "qmp"));
	qm_proc_id_from_json(jobj(o, "qemu"), &r->qemu);
	json_object_put(o);
	if (strcmp(r->name, name) || !r->qmp[0] || !r->qemu.pid)
		return qm_error_set(err, QM_ERR_PROTO, "%s: name, qmp or qemu "
				    "missing or wrong", rel);
	return true;
}

/* ---- migration records ---- */

static void mig_rel(char *out, size_t len, const char *id)
{
	snprintf(out, len, "migrations/%s.json", id);
}

static json_object *record_json(const migration *m, const mig_record *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "version", json_object_new_int(RECORD_VERSION));
	json_object_object_add(o, "started_unix_ms",
			       json_object_new_int64(r->started_unix_ms));
	json_object_object_add(o, "saved_unix_ms",
			       json_object_new_int64(unix_ms()));
	if (m->side == QM_SIDE_SOURCE) {
		json_object_object_add(o, "dest",
				       json_object_new_string(m->p.dest));
		json_object_object_add(o, "was_running",
				       json_object_new_boolean(r->was_running));
	} else {
		json_object_object_add(o, "vm_dir",
				       json_object_new_string(r->vm_dir));
		json_object_object_add(o, "qmp", json_object_new_string(r->qmp));
		json_object_object_add(o, "ran", json_object_new_boolean(r->ran));
	}
	json_object_object_add(o, "qemu", qm_proc_id_to_json(&r->qemu));
	return o;
}

void migrec_save(migration *m, qm_phase phase, const mig_record *r,
		 unsigned flags)
{
	qm_error err = QM_ERROR_INIT;
	mig_record own = { .was_running = false };
	json_object *o;
	char rel[64];
	bool ok;

	if (r) {
		own = *r;
	} else if (m->side == QM_SIDE_SOURCE && m->vm) {
		/* The VM's status is the one seen at attach or at its last
		 * refresh: a VM paused by its owner is not resumed by a
		 * rollback after a restart. */
		own.was_running = !strcmp(m->vm->status, "running");
		own.qemu = m->vm->proc;
	}
	if (!own.started_unix_ms)
		own.started_unix_ms = unix_ms() - (qm_now_ms() - m->st.started_ms);
	o = mig_status_json_brief(m);
	json_object_object_add(o, "phase",
			       json_object_new_string(qm_phase_name(phase)));
	json_object_object_add(o, "record", record_json(m, &own));
	mig_rel(rel, sizeof(rel), m->id);
	if (flags & MIGREC_ASYNC) {
		state_writer_put(m->a->sw, rel, o, !(flags & MIGREC_NOSYNC),
				 false);
		return;
	}
	ok = flags & MIGREC_NOSYNC
		? qm_state_write_json_nosync(m->a->cfg.state_dir, rel, o, &err)
		: qm_state_write_json(m->a->cfg.state_dir, rel, o, &err);
	if (!ok)
		pr_warn("recording migration %s (%s): %s", m->id,
			qm_phase_name(phase), err.msg);
	json_object_put(o);
}

void migrec_worker_start(migration *m)
{
	state_writer_barrier(m->a->sw);
	migrec_save(m, QM_PHASE_SETUP, NULL, 0);
}

json_object *migrec_load(const agent *a, const char *id, qm_error *err)
{
	char rel[64];

	if (strlen(id) != MIG_ID_LEN - 1 ||
	    strspn(id, "0123456789abcdef") != MIG_ID_LEN - 1) {
		qm_error_set(err, QM_ERR_NOTFOUND, "no migration '%s'", id);
		return NULL;
	}
	mig_rel(rel, sizeof(rel), id);
	return qm_state_read_json(a->cfg.state_dir, rel, err);
}

static bool phase_of(const char *name, qm_phase *out)
{
	for (int p = 0; p < QM_PHASE__COUNT; p++)
		if (!strcmp(qm_phase_name((qm_phase)p), name)) {
			*out = (qm_phase)p;
			return true;
		}
	return false;
}

void migrec_parse(json_object *o, mig_record *r, qm_phase *phase)
{
	json_object *rec = jobj(o, "record");

	memset(r, 0, sizeof(*r));
	if (phase && !phase_of(jstr(o, "phase"), phase))
		*phase = QM_PHASE__COUNT;
	if (!rec)
		return;
	snprintf(r->dest, sizeof(r->dest), "%s", jstr(rec, "dest"));
	r->was_running = jbool(rec, "was_running");
	qm_proc_id_from_json(jobj(rec, "qemu"), &r->qemu);
	snprintf(r->vm_dir, sizeof(r->vm_dir), "%s", jstr(rec, "vm_dir"));
	snprintf(r->qmp, sizeof(r->qmp), "%s", jstr(rec, "qmp"));
	r->ran = jbool(rec, "ran");
	r->started_unix_ms = (int64_t)jnum(rec, "started_unix_ms", 0);
}

static void parts_from(json_object *o, qm_downtime *d)
{
	for (int i = 0; i < QM_PART__COUNT; i++)
		d->part_ms[i] = jnum(o, qm_part_names[i], 0);
}

/* Status members as mig_status_json_brief() writes them. */
/* verify.mode as migration.status writes it ("" in older records). */
static mig_verify_mode verify_mode(const char *s)
{
	if (!strcmp(s, "tracked"))
		return MIG_VERIFY_TRACKED;
	return strcmp(s, "none") ? MIG_VERIFY_FULL : MIG_VERIFY_NONE;
}

static void status_from(json_object *o, mig_status *st, int64_t started_ms,
			int64_t ended_ms)
{
	json_object *pg = jobj(o, "pages"), *v = jobj(o, "verify");

	st->round = (unsigned)jnum(o, "round", 0);
	st->bytes_on_wire = (uint64_t)jnum(o, "bytes_on_wire", 0);
	st->dirty_rate_bps = jnum(o, "dirty_rate_bps", 0);
	st->bandwidth_bps = jnum(o, "bandwidth_bps", 0);
	st->predicted_downtime_ms = jnum(o, "predicted_downtime_ms", 0);
	st->downtime_ms = jnum(o, "downtime_ms", -1);
	st->deadline_slack_ms = jnum(o, "deadline_slack_ms", -1);
	st->throttle_pct = (unsigned)jnum(o, "throttle_pct", 0);
	snprintf(st->tracker, sizeof(st->tracker), "%s", jstr(o, "tracker"));
	snprintf(st->gate, sizeof(st->gate), "%s", jstr(o, "gate"));
	snprintf(st->error, sizeof(st->error), "%s", jstr(o, "error"));
	if (pg) {
		st->pages_full = (uint64_t)jnum(pg, "full", 0);
		st->pages_zero = (uint64_t)jnum(pg, "zero", 0);
		st->pages_dup = (uint64_t)jnum(pg, "dup", 0);
		st->pages_have = (uint64_t)jnum(pg, "have", 0);
		st->pages_resent = (uint64_t)jnum(pg, "resent", 0);
	}
	if (v) {
		st->verify_checked = (uint64_t)jnum(v, "pages_checked", 0);
		st->verify_mismatches = (uint64_t)jnum(v, "mismatches", 0);
		st->verify_resent = (uint64_t)jnum(v, "resent", 0);
		st->verify_precopy_checked =
			(uint64_t)jnum(v, "precopy_pages_checked", 0);
		st->verify_precopy_mismatches =
			(uint64_t)jnum(v, "precopy_mismatches", 0);
		st->verify_done = jbool(v, "done");
		st->verify_passed = jbool(v, "passed");
		snprintf(st->verify_skipped, sizeof(st->verify_skipped), "%s",
			 jstr(v, "skipped"));
	}
	parts_from(jobj(o, "downtime_parts_ms"), &st->actual);
	st->actual.total_ms = st->downtime_ms > 0 ? st->downtime_ms : 0;
	parts_from(jobj(o, "predicted_parts_ms"), &st->predicted);
	st->predicted.total_ms = st->predicted_downtime_ms;
	st->started_ms = started_ms;
	st->ended_ms = ended_ms;
}

migration *migrec_restore(agent *a, json_object *o, qm_error *err)
{
	const char *id = jstr(o, "id"), *vm = jstr(o, "vm");
	int64_t now = qm_now_ms(), wall = unix_ms(), elapsed;
	mig_record r;
	qm_phase ph;
	migration *m;

	migrec_parse(o, &r, &ph);
	if (strlen(id) != MIG_ID_LEN - 1 || !*vm || ph == QM_PHASE__COUNT) {
		qm_error_set(err, QM_ERR_PROTO, "not a migration record (id "
			     "'%s', vm '%s', phase '%s')", id, vm,
			     jstr(o, "phase"));
		return NULL;
	}
	if (a->nmigs >= AGENT_MAX_MIGRATIONS) {
		qm_error_set(err, QM_ERR_TOO_BIG, "migration history full");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		qm_error_set(err, QM_ERR_NOMEM, "migration");
		return NULL;
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
	for (int i = 0; i < 16; i++)
		sscanf(id + 2 * i, "%2hhx", &m->raw_id[i]);
	m->a = a;
	m->side = strcmp(jstr(o, "side"), "destination") ? QM_SIDE_SOURCE
							  : QM_SIDE_DEST;
	snprintf(m->p.vm, sizeof(m->p.vm), "%s", vm);
	snprintf(m->p.dest, sizeof(m->p.dest), "%s", r.dest);
	m->p.compat = !strcmp(jstr(o, "mode"), "qemu");
	m->p.verify = verify_mode(jstr(jobj(o, "verify"), "mode"));
	pthread_mutex_init(&m->lock, NULL);
	/* Times on this agent's monotonic clock, from the wall-clock start
	 * (the monotonic clock of the agent that wrote it is gone). */
	elapsed = r.started_unix_ms ? wall - r.started_unix_ms
				    : (int64_t)jnum(o, "elapsed_ms", 0);
	status_from(o, &m->st, now - elapsed, qm_phase_is_final(ph) ?
		    now - elapsed + (int64_t)jnum(o, "elapsed_ms", 0) : 0);
	m->st.phase = ph;
	m->finished = true;
	a->migs[a->nmigs++] = m;
	return m;
}

/* QMIG_FAULT_HOLD=<point>@<file>: the first time @point is reached, create
 * <file> and wait
 * (the calling thread only) until someone removes it, at most
 * FAULT_HOLD_MAX_MS: the fault-injection matrix injects its fault while
 * the migration sits exactly there. */
#define FAULT_HOLD_MAX_MS 120000

static void fault_hold(const char *point)
{
	static atomic_bool held;
	const char *env = getenv("QMIG_FAULT_HOLD"), *at;
	int64_t deadline;
	char file[512];
	int fd;

	at = env ? strchr(env, '@') : NULL;
	if (!at || (size_t)(at - env) != strlen(point) ||
	    strncmp(env, point, strlen(point)) ||
	    !qm_format(file, sizeof(file), "%s", at + 1) ||
	    atomic_exchange(&held, true))
		return;		/* once per process: the next migration runs */
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		pr_warn("fault injection: %s: %s", file, strerror(errno));
		return;
	}
	close(fd);
	pr_warn("fault injection: holding at '%s' until %s is removed",
		point, file);
	deadline = qm_now_ms() + FAULT_HOLD_MAX_MS;
	while (access(file, F_OK) == 0 && qm_now_ms() < deadline)
		usleep(10 * 1000);
	pr_warn("fault injection: '%s' released", point);
}

void mig_fault_point(const char *point)
{
	const char *env = getenv("QMIG_FAULT_DIE_AT");

	fault_hold(point);
	if (!env || strcmp(env, point))
		return;
	pr_warn("fault injection: dying at '%s' (QMIG_FAULT_DIE_AT)", point);
	fflush(NULL);
	raise(SIGKILL);
}
