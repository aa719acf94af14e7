/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent object shared by qmigd's modules (daemon.c, methods-*.c,
 * migration code). Private to agent/.
 *
 * Threads: everything here belongs to the loop thread, except what a
 * migration worker owns while it runs (its VM, marked busy) and the
 * fields documented as locked.
 */
#ifndef QMIG_AGENT_INT_H
#define QMIG_AGENT_INT_H

#include "agent/agent.h"
#include "agent/loop.h"
#include "agent/mailbox.h"
#include "agent/peer.h"
#include "agent/predict.h"
#include "agent/rpc.h"
#include "agent/vm.h"

#define AGENT_MAX_VMS 256
#define AGENT_MAX_MIGRATIONS 256
#define AGENT_STOP_WAIT_MS 30000     /* migrations winding down at exit */
#define AGENT_ATTACH_TIMEOUT_MS 10000
#define AGENT_MEASURE_MAX_S 60

struct agent {
	agent_config cfg;
	agent_loop *loop;
	rpc_server *rpc;
	rpc_method *methods;     /* every module's table, borrowed by rpc */
	size_t nmethods;
	agent_mailbox *mb;
	agent_features features;
	qm_predictor predictor;
	int sigfd;
	agent_vm *vms[AGENT_MAX_VMS];
	int nvms;
	struct migration *migs[AGENT_MAX_MIGRATIONS];   /* oldest first */
	int nmigs;
	peer_key key;            /* from --psk-file; len 0 without */
	rpc_server *peer_rpc;    /* --peer-listen */
	char peer_host[128];     /* its address, where receivers listen */
	char run_dir[300];       /* STATE_DIR/run: sockets */
	char qemu_binary[256];   /* absolute: the destination's QEMU */
	struct state_writer *sw; /* the loop thread's state files */
	bool stopping;
};

/* Registry (loop thread). */
agent_vm *agent_find_vm(agent *a, const char *name);
bool agent_add_vm(agent *a, agent_vm *vm, qm_error *err);
void agent_remove_vm(agent *a, agent_vm *vm);
/* The tracker the engine would use for @vm, and why (for vm.attach):
 * "none" for a VM whose RAM is private. */
const char *agent_tracker_for(const agent *a, const agent_vm *vm,
			      const char **why);
/* Watch an idle VM's QMP connection from the loop (events, QEMU exit). */
void agent_watch_vm(agent *a, agent_vm *vm);
void agent_unwatch_vm(agent *a, agent_vm *vm);

/* Method tables of each module, gathered by daemon.c. */
extern const rpc_method agent_vm_methods[];
extern const size_t agent_vm_methods_count;
extern const rpc_method agent_mig_methods[];
extern const size_t agent_mig_methods_count;
extern const rpc_method agent_peer_methods[];
extern const size_t agent_peer_methods_count;

#endif
