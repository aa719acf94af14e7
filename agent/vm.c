/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Attaching to a running QEMU. See vm.h.
 */
#define LOG_PREFIX "vm"
#include "agent/vm.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool agent_vm_name_valid(const char *name, qm_error *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > LD_MAX_NAME)
		return qm_error_set(err, QM_ERR_INVAL, "VM name must be 1 to %d "
				    "characters, got %zu", LD_MAX_NAME, n);
	if (name[0] == '.')
		return qm_error_set(err, QM_ERR_INVAL, "VM name '%s' must not "
				    "start with '.'", name);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return qm_error_set(err, QM_ERR_INVAL,
					    "VM name '%s': character '%c' is not "
					    "one of [A-Za-z0-9._-]", name,
					    name[i]);
	return true;
}

static bool read_vcpus(agent_vm *vm, qm_error *err)
{
	qmp_cpu_list cpus = { 0 };

	if (!qmp_query_cpus_fast(vm->q, &cpus, err))
		return false;
	vm->nvcpus = 0;
	for (size_t i = 0; i < cpus.count && i < AGENT_VM_MAX_VCPUS; i++)
		vm->vcpu_tids[vm->nvcpus++] = (pid_t)cpus.items[i].thread_id;
	qmp_cpu_list_free(&cpus);
	return true;
}

static bool check_running(agent_vm *vm, bool reattach, qm_error *err)
{
	qmp_status st;

	if (!qmp_query_status(vm->q, &st, err))
		return false;
	snprintf(vm->status, sizeof(vm->status), "%s", st.status);
	if (reattach && st.state == QMP_RUN_STATE_POSTMIGRATE)
		return true;
	if (st.state == QMP_RUN_STATE_INMIGRATE ||
	    st.state == QMP_RUN_STATE_POSTMIGRATE ||
	    st.state == QMP_RUN_STATE_SHUTDOWN ||
	    st.state == QMP_RUN_STATE_GUEST_PANICKED ||
	    st.state == QMP_RUN_STATE_INTERNAL_ERROR)
		return qm_error_set(err, QM_ERR_STATE, "VM %s is '%s': only a "
				    "running or paused VM can be attached",
				    vm->name, st.status);
	return true;
}

/* Map the RAM; a VM whose RAM cannot be mapped is attached as private,
 * described as QEMU reports it, with the reason kept for those who would
 * need to read it. Failing to talk to QEMU fails the attach. */
static bool read_ram(agent_vm *vm, qm_error *err)
{
	qm_error why = QM_ERROR_INIT;

	if (dl_discover(vm->q, vm->pid, &vm->ram, vm->info, &why)) {
		vm->shared = true;
		vm->ram_bytes = vm->ram.npages * DL_PAGE_SIZE;
		return true;
	}
	if (!dl_discover_failed_on_ram(&why)) {
		if (err)
			*err = why;
		return false;
	}
	vm->shared = false;
	snprintf(vm->private_why, sizeof(vm->private_why), "%s", why.msg);
	return dl_describe(vm->q, vm->memdevs, &vm->nmemdevs, &vm->ram_bytes,
			   err);
}

static bool attach_steps(agent_vm *vm, pid_t pid, int timeout_ms,
			 bool reattach, qm_error *err)
{
	/* QEMU is already running: a socket that is not there now will not
	 * appear, so do not wait the whole timeout for it. */
	vm->q = qmp_conn_new(err);
	if (!vm->q ||
	    !qmp_connect(vm->q, vm->qmp_addr, QM_MIN(timeout_ms, 1000), err) ||
	    !qmp_wait_ready(vm->q, timeout_ms, err))
		return false;
	vm->pid = pid > 0 ? pid : qmp_peer_pid(vm->q);
	if (vm->pid <= 0)
		return qm_error_set(err, QM_ERR_INVAL, "QEMU's pid is unknown "
				    "over %s: pass it", vm->qmp_addr);
	return qm_proc_id_of(vm->pid, &vm->proc, err) &&
	       check_running(vm, reattach, err) &&
	       read_ram(vm, err) &&
	       ld_desc_from_pid(&vm->desc, vm->pid, err) &&
	       ld_validate(&vm->desc, err) && read_vcpus(vm, err);
}

static bool attach(agent_vm *vm, const char *name, const char *qmp_addr,
		   pid_t pid, int timeout_ms, bool reattach, qm_error *err)
{
	memset(vm, 0, sizeof(*vm));
	dl_ram_init(&vm->ram);
	ld_desc_init(&vm->desc);
	if (!agent_vm_name_valid(name, err))
		return false;
	snprintf(vm->name, sizeof(vm->name), "%s", name);
	if (!qm_format(vm->qmp_addr, sizeof(vm->qmp_addr), "%s", qmp_addr))
		return qm_error_set(err, QM_ERR_TOO_BIG, "QMP address too long");
	if (!attach_steps(vm, pid, timeout_ms, reattach, err)) {
		qm_error_prepend(err, "attaching VM %s", name);
		agent_vm_detach(vm);
		return false;
	}
	pr_info("attached VM %s: QEMU pid %d, %d region(s), %llu MiB%s, "
		"%d vCPU(s)", vm->name, (int)vm->pid,
		vm->shared ? vm->ram.nregions : vm->nmemdevs,
		(unsigned long long)(vm->ram_bytes >> 20),
		vm->shared ? "" : " private (QEMU's own migration only)",
		vm->nvcpus);
	if (!vm->shared)
		pr_info("VM %s: %s", vm->name, vm->private_why);
	return true;
}

bool agent_vm_attach(agent_vm *vm, const char *name, const char *qmp_addr,
		     pid_t pid, int timeout_ms, qm_error *err)
{
	return attach(vm, name, qmp_addr, pid, timeout_ms, false, err);
}

bool agent_vm_reattach(agent_vm *vm, const char *name, const char *qmp_addr,
		       pid_t pid, int timeout_ms, qm_error *err)
{
	return attach(vm, name, qmp_addr, pid, timeout_ms, true, err);
}

void agent_vm_detach(agent_vm *vm)
{
	qmp_conn_free(vm->q);
	vm->q = NULL;
	dl_ram_close(&vm->ram);
	ld_desc_free(&vm->desc);
}

bool agent_vm_refresh(agent_vm *vm, qm_error *err)
{
	qmp_status st;

	if (vm->lost)
		return qm_error_set(err, QM_ERR_CLOSED, "VM %s: %s", vm->name,
				    vm->lost_why);
	if (!qmp_query_status(vm->q, &st, err))
		return false;
	snprintf(vm->status, sizeof(vm->status), "%s", st.status);
	return true;
}

bool agent_vm_need_shared(const agent_vm *vm, const char *what,
			  qm_error *err)
{
	if (vm->shared)
		return true;
	return qm_error_set(err, QM_ERR_UNSUPPORTED, "VM %s: %s reads the "
			    "VM's RAM, which is not on a shared backend (%s); "
			    "use mode \"qemu\" with verify \"none\" (QEMU's "
			    "own migration, unverified), or start QEMU with "
			    "its RAM on a memory-backend-file or "
			    "memory-backend-memfd with share=on "
			    "(-machine memory-backend=ID)", vm->name, what,
			    vm->private_why);
}

static json_object *region_json(const char *id, uint64_t size,
				 dl_backend_kind kind, bool share,
				 const char *path)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(o, "backend", json_object_new_string(
				       dl_backend_kind_name(kind)));
	json_object_object_add(o, "share", json_object_new_boolean(share));
	if (path)
		json_object_object_add(o, "path", json_object_new_string(path));
	return o;
}

/* Mapped regions, or for a private VM the backends as QEMU reports them
 * (no path: the agent opened nothing). */
static json_object *regions_json(const agent_vm *vm)
{
	json_object *a = json_object_new_array();

	for (int i = 0; vm->shared && i < vm->ram.nregions; i++)
		json_object_array_add(a, region_json(vm->ram.regions[i].id,
				vm->ram.regions[i].size, vm->info[i].kind,
				true, vm->info[i].path));
	for (int i = 0; !vm->shared && i < vm->nmemdevs; i++)
		json_object_array_add(a, region_json(vm->memdevs[i].id,
				vm->memdevs[i].size, vm->memdevs[i].kind,
				vm->memdevs[i].share, NULL));
	return a;
}

static const char *backend_name(const agent_vm *vm)
{
	if (!vm->shared)
		return "private";
	return vm->ram.nregions ? dl_backend_kind_name(vm->info[0].kind)
				: "none";
}

json_object *agent_vm_to_json(const agent_vm *vm, const char *tracker,
			      const char *tracker_why)
{
	json_object *o = json_object_new_object(), *t = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(vm->name));
	json_object_object_add(o, "qmp", json_object_new_string(vm->qmp_addr));
	json_object_object_add(o, "pid", json_object_new_int(vm->pid));
	json_object_object_add(o, "status", json_object_new_string(
				       vm->lost ? "lost" : vm->status));
	json_object_object_add(o, "migrating", json_object_new_boolean(vm->busy));
	json_object_object_add(o, "ram_bytes", json_object_new_int64(
				       (int64_t)vm->ram_bytes));
	json_object_object_add(o, "regions", regions_json(vm));
	json_object_object_add(o, "backend",
			       json_object_new_string(backend_name(vm)));
	json_object_object_add(o, "shared", json_object_new_boolean(vm->shared));
	if (!vm->shared)
		json_object_object_add(o, "private_reason",
				       json_object_new_string(vm->private_why));
	json_object_object_add(o, "tracker", json_object_new_string(tracker));
	if (tracker_why && *tracker_why)
		json_object_object_add(o, "tracker_reason",
				       json_object_new_string(tracker_why));
	for (int i = 0; i < vm->nvcpus; i++)
		json_object_array_add(t, json_object_new_int(vm->vcpu_tids[i]));
	json_object_object_add(o, "vcpu_threads", t);
	if (vm->lost)
		json_object_object_add(o, "error",
				       json_object_new_string(vm->lost_why));
	return o;
}
