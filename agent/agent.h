/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent: qmigd, the per-host migration agent.
 *
 * So far: the host feature probe that qmigd reports at start-up and in
 * agent.info. The JSON-RPC server, VM registry and migration engine arrive
 * with their issue; they depend on qmp/, dirtylog/ and transport/, never
 * the reverse.
 */
#ifndef QMIG_AGENT_H
#define QMIG_AGENT_H

#include <stdbool.h>

#include "common/common.h"

#define QMIG_VERSION_STRING "0.1.0"

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

#endif
