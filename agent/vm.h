/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm: a running QEMU the agent is attached to.
 *
 * Attaching connects to its QMP socket (and keeps that connection for the
 * VM's lifetime: QEMU's QMP socket serves one client at a time, so
 * operators who want their own monitor add a second -qmp), learns its pid
 * (SO_PEERCRED), maps its RAM read-only (dl_discover), reads its command
 * line and working directory (the launch description the destination will
 * need) and checks that they can be rewritten, and lists its vCPU threads.
 *
 * A VM whose RAM the agent cannot map (plain -m, a share=off backend, a
 * backend kind it cannot read) is attached too, as private (shared
 * false, with the reason and the backends as QEMU reports them): QEMU's
 * own migration (mode "qemu", verify "none") can still move it, and
 * everything that needs to read its RAM refuses it with that reason.
 *
 * Ownership: while idle, the VM's QMP connection is driven by the agent's
 * loop; a migration takes the VM (agent_vm.busy) and with it the QMP
 * connection, and hands it back when it ends. Other lifecycle calls on a
 * busy VM get "VM is migrating".
 */
#ifndef QMIG_AGENT_VM_H
#define QMIG_AGENT_VM_H

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent/launchdesc.h"
#include "agent/procid.h"
#include "dirtylog/dirtylog.h"
#include "qmp/qmp.h"

#define AGENT_VM_MAX_VCPUS 256

typedef struct agent_vm {
	char name[LD_MAX_NAME + 1];
	char qmp_addr[256];
	qmp_conn *q;
	pid_t pid;
	qm_proc_id proc;                 /* pid, start time, boot: recorded */
	bool shared;                     /* @ram mapped: the agent reads it */
	dl_ram ram;                      /* empty when !shared */
	dl_backend_info info[DL_MAX_REGIONS];
	/* !shared: why the RAM cannot be mapped, and the backends as QEMU
	 * reports them */
	char private_why[QM_ERROR_MSG_MAX];
	dl_memdev memdevs[DL_MAX_REGIONS];
	int nmemdevs;
	uint64_t ram_bytes;              /* guest RAM, either way */
	ld_desc desc;
	pid_t vcpu_tids[AGENT_VM_MAX_VCPUS];
	int nvcpus;
	char status[QMP_ENUM_STR_MAX];   /* run state at attach / last seen */
	bool busy;                       /* a migration owns it */
	bool watched;                    /* its QMP fd is on the agent loop */
	struct agent *owner;
	bool lost;                       /* QMP connection gone (QEMU died?) */
	char lost_why[QM_ERROR_MSG_MAX];
} agent_vm;

/* A VM name: one file-name component of [A-Za-z0-9._-], not starting with
 * '.', 1..LD_MAX_NAME bytes. */
bool agent_vm_name_valid(const char *name, qm_error *err);

/*
 * agent_vm_attach: attach to the QEMU behind @qmp_addr (unix path,
 * unix:PATH or tcp:HOST:PORT; tcp needs @pid since SO_PEERCRED does not
 * work there). @vm is filled; on failure nothing stays open and *err says
 * what was wrong (not running, RAM not shared, argv not migratable, ...).
 */
bool agent_vm_attach(agent_vm *vm, const char *name, const char *qmp_addr,
		     pid_t pid, int timeout_ms, qm_error *err);
/* The same for a restarted agent taking back a VM it had: a source QEMU
 * left in postmigrate by an interrupted switchover is accepted too (the
 * recovery decides whether it resumes or quits). */
bool agent_vm_reattach(agent_vm *vm, const char *name, const char *qmp_addr,
		       pid_t pid, int timeout_ms, qm_error *err);
void agent_vm_detach(agent_vm *vm);
/* Refresh the run state over QMP (idle VMs only). */
bool agent_vm_refresh(agent_vm *vm, qm_error *err);
/* For what needs to read the VM's RAM: true if it can, else false with
 * QM_ERR_UNSUPPORTED "VM NAME: @what reads the VM's RAM, which is not on
 * a shared backend (why)" and the ways out. */
bool agent_vm_need_shared(const agent_vm *vm, const char *what,
			  qm_error *err);
/* The description returned by vm.attach and vm.list. Caller owns it. */
json_object *agent_vm_to_json(const agent_vm *vm, const char *tracker,
			      const char *tracker_why);

#endif
