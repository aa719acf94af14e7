/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * records: what the agent writes to --state-dir so that a restarted agent
 * finds its VMs and its interrupted migrations again (docs/RELIABILITY.md
 * has the formats and the recovery rules).
 *
 *   vms/<name>/vm.json      written when a VM is attached (vm.attach, or a
 *                           migration that ran it here), removed when it
 *                           is detached or has migrated away
 *   migrations/<id>.json    the status (migration.list's form) plus a
 *                           "record" object with what recovery needs,
 *                           rewritten at each phase that changes what a
 *                           restart must do
 *
 * A migration record is written *before* the step it announces when the
 * step cannot be undone blindly: "stop-copy" before the source VM is
 * stopped, "switchover" before COMMIT is sent. So a restart that reads
 * "precopy" knows the VM was never stopped for the switchover, and one
 * that reads anything before "switchover" knows the destination never
 * got a COMMIT from us.
 */
#ifndef QMIG_AGENT_RECORDS_H
#define QMIG_AGENT_RECORDS_H

#include "agent/agent-int.h"
#include "agent/migration.h"
#include "agent/procid.h"

/* ---- vms/<name>/vm.json ---- */

typedef struct vm_record {
	char name[LD_MAX_NAME + 1];
	char qmp[256];
	qm_proc_id qemu;
} vm_record;

/* Loop thread; through the state writer. Failures are logged: the VM
 * stays attached, it only will not be re-attached by a restarted
 * agent. */
void vm_record_save(agent *a, const agent_vm *vm);
/* Also removes the VM's directory if nothing else is in it. */
void vm_record_remove(agent *a, const char *name);
bool vm_record_load(agent *a, const char *name, vm_record *r, qm_error *err);

/* ---- migrations/<id>.json ---- */

/* What a restart needs beyond the status. */
typedef struct mig_record {
	char dest[160];          /* source: the peer agent */
	bool was_running;        /* source: the VM ran when the migration began */
	qm_proc_id qemu;         /* source: the VM's QEMU; destination: Qd
				  * (pid 0 until it is launched) */
	char vm_dir[512];        /* destination: Qd's directory */
	char qmp[640];           /* destination: Qd's QMP socket */
	bool ran;                /* destination: Qd was told to run (cont) */
	int64_t started_unix_ms;
} mig_record;

/*
 * Without fsync (qm_state_write_json_nosync): for the records written in
 * the downtime, where every millisecond counts. Still atomic against a
 * crash of the agent, which is what the records are for: they describe
 * QEMU processes, which a crash of the host takes with it (a record of a
 * process from another boot is ignored, procid.h).
 */
#define MIGREC_NOSYNC 1u
/* Handed to the state writer (state-writer.h): the loop thread's way,
 * it must not wait for the disk. */
#define MIGREC_ASYNC 2u

/*
 * Write @m's record as being in @phase (which may be ahead of m->st.phase:
 * write-ahead), with @r (NULL: on the source, the facts are taken from
 * m->vm; on the destination, none). Any thread; failures are logged.
 */
void migrec_save(migration *m, qm_phase phase, const mig_record *r,
		 unsigned flags);
/* First thing a source worker does: wait for the records the loop thread
 * queued for it (state_writer_barrier), then write "setup". */
void migrec_worker_start(migration *m);
/* Read migrations/@id.json; NULL with QM_ERR_NOTFOUND if there is none. */
json_object *migrec_load(const agent *a, const char *id, qm_error *err);
/* The record object of a loaded file, and its phase. */
void migrec_parse(json_object *o, mig_record *r, qm_phase *phase);
/*
 * A migration object for the history, rebuilt from a loaded record: its
 * status as recorded (phase, error, counters, times), no worker. Appended
 * to a->migs; NULL if the record is not one (no id, unknown phase) or the
 * history is full.
 */
migration *migrec_restore(agent *a, json_object *o, qm_error *err);

/* The destination's record from its own state (mig-dest.c; also used by
 * compat mode). Worker thread. */
struct dest_state;
void mig_dest_record(struct dest_state *d, qm_phase phase, bool ran,
		     unsigned flags);

/*
 * Fault injection, for tests only: with QMIG_FAULT_DIE_AT=@point in the
 * agent's environment, the agent SIGKILLs itself when it reaches @point
 * (docs/RELIABILITY.md lists the points), as a crash there would. With
 * QMIG_FAULT_HOLD=@point@FILE it creates FILE there and waits until it is
 * removed (tests/integration/matrix injects faults in that window).
 */
void mig_fault_point(const char *point);

#endif
