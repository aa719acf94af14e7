/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent: qmigd, the per-host migration agent.
 *
 * One agent per host. It serves JSON-RPC (docs/API.md) on a unix socket
 * or TCP, keeps a registry of the VMs it is attached to, and runs
 * migrations (source and destination) on worker threads while its loop
 * thread keeps answering. It depends on qmp/, dirtylog/ and transport/,
 * never the reverse.
 */
#ifndef QMIG_AGENT_H
#define QMIG_AGENT_H

#include <stdbool.h>

#include <json-c/json.h>

#include "common/common.h"

#define QMIG_VERSION_STRING "0.1.0"

/* qmigd's configuration: command line, or a config file of the same keys
 * ("key = value" lines, '#' comments), the command line winning. */
typedef struct agent_config {
	char state_dir[256];     /* --state-dir (required) */
	char rpc[160];           /* --rpc unix:PATH | tcp:HOST:PORT */
	char peer_listen[160];   /* --peer-listen HOST:PORT ("" = none) */
	char psk_file[256];      /* --psk-file: agent-to-agent key (0600) */
	char token_file[256];    /* --token-file: for a TCP --rpc */
	char qemu_binary[256];   /* --qemu: destination QEMU binary */
	int max_migrations;      /* --max-migrations, default 4: outgoing
				  * migrations running at once (more are
				  * queued), and incoming ones (more are
				  * refused) */
	int max_queued;          /* --max-queued, default 64: outgoing
				  * migrations waiting for a slot */
	bool tls;                /* --tls on|off: migration streams in TLS
				  * 1.3 (transport.h), as source and as
				  * destination; default off */
	uint64_t staged_max_bytes; /* --staged-max-bytes, default 4G; 0 = keep
				    * no staged copies */
} agent_config;

/* Parse argv (and --config FILE) into @c. */
bool agent_config_parse(agent_config *c, int argc, char **argv,
			qm_error *err);

typedef struct agent agent;

/* Create the agent: state dir, loop, RPC listener, feature probe. */
agent *agent_new(const agent_config *c, qm_error *err);
/* Serve until SIGINT/SIGTERM or agent_request_stop(). */
bool agent_run(agent *a, qm_error *err);
void agent_request_stop(agent *a);
void agent_free(agent *a);

/* What this host can do, probed once at start-up (CRIU kerndat style). */
typedef struct agent_features {
	bool kvm;                 /* real hardware virtualisation */
	char kvm_why[256];
	bool soft_dirty;
	char soft_dirty_why[256];
	bool io_uring;            /* io_uring_setup works */
	bool send_zc;             /* IORING_OP_SEND_ZC supported */
	char io_uring_why[256];
	int numa_nodes;           /* configured nodes; 1 without NUMA */
} agent_features;

void agent_probe_features(agent_features *f);
/* One line per feature, for logs and `qmigd --probe`. */
void agent_features_print(const agent_features *f, int fd);
json_object *agent_features_to_json(const agent_features *f);

#endif
