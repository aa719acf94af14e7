/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * procid: which process a recorded pid really is.
 *
 * A pid alone names a process only while it lives: after it exits the
 * number is reused. A restarted agent must not attach to, resume or kill
 * a stranger that inherited the pid of a QEMU it recorded, so records
 * keep the pid with the process's start time (clock ticks since boot,
 * /proc/PID/stat field 22) and the kernel's boot id: the three together
 * name one process for ever.
 */
#ifndef QMIG_AGENT_PROCID_H
#define QMIG_AGENT_PROCID_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "common/common.h"

#define QM_BOOT_ID_LEN 36

typedef struct qm_proc_id {
	pid_t pid;               /* 0: none recorded */
	uint64_t start;          /* start time, clock ticks since boot */
	char boot[QM_BOOT_ID_LEN + 1];
} qm_proc_id;

typedef enum qm_proc_state {
	QM_PROC_SAME,            /* the recorded process runs */
	QM_PROC_GONE,            /* exited (a zombie counts as gone) */
	QM_PROC_OTHER,           /* the pid now belongs to another process,
				  * or the host rebooted since */
} qm_proc_state;

/* This boot's id (cached; "" if the kernel does not say). */
const char *qm_boot_id(void);
/* The identity of the running process @pid. */
bool qm_proc_id_of(pid_t pid, qm_proc_id *out, qm_error *err);
qm_proc_state qm_proc_check(const qm_proc_id *id);
const char *qm_proc_state_name(qm_proc_state s);
/*
 * SIGKILL the process @id names, and wait up to @timeout_ms for it to
 * exit. Goes through a pidfd opened before the identity check, so the
 * signal cannot reach a process that took the pid in between. True if it
 * is gone (also when it already was).
 */
bool qm_proc_kill(const qm_proc_id *id, int timeout_ms, qm_error *err);
/* The first qemu-system process whose working directory is @dir (the
 * destination starts its QEMUs there), 0 if none. */
pid_t qm_proc_find_by_cwd(const char *dir);

/* {"pid": N, "start": N, "boot": "..."} and back; a missing or malformed
 * object gives pid 0. */
json_object *qm_proc_id_to_json(const qm_proc_id *id);
void qm_proc_id_from_json(json_object *o, qm_proc_id *id);

#endif
