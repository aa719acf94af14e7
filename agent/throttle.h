/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * throttle: slow a VM's vCPUs down so pre-copy can catch up with a guest
 * that dirties memory faster than the link carries it.
 *
 * The vCPU threads (host TIDs from QMP query-cpus-fast) are moved into a
 * cgroup of their own whose CPU bandwidth is capped: cgroup v2 `cpu.max`
 * in a threaded cgroup, or cgroup v1 `cpu.cfs_quota_us` where only v1 has
 * the cpu controller. Only vCPU threads are capped: QEMU's I/O and
 * migration threads keep running at full speed.
 *
 * Where neither can be used (no controller, no permission), the engine
 * falls back to stop/cont duty cycling over QMP (qm_duty_cycle_*), which
 * needs nothing from the kernel but pauses the whole VM in slices.
 *
 * On free the threads go back to the cgroups they came from and the
 * throttle cgroup is removed, whatever happened meanwhile.
 */
#ifndef QMIG_AGENT_THROTTLE_H
#define QMIG_AGENT_THROTTLE_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/common.h"

#define QM_THROTTLE_PERIOD_US 100000  /* 100 ms CFS period */
#define QM_THROTTLE_MAX_THREADS 256

typedef struct qm_throttle qm_throttle;

/*
 * qm_throttle_new: create the cgroup "qmig-<name>" under the cpu
 * controller and move @tids into it (not yet capped).
 * @root: the cgroup mount to use, or NULL to probe (v2 unified with cpu in
 * cgroup.controllers, then v1 "cpu").
 * Returns NULL with *err (QM_ERR_UNSUPPORTED: no usable controller, with
 * the reason) so the caller can fall back to duty cycling.
 */
qm_throttle *qm_throttle_new(const char *name, const pid_t *tids, int n,
			     const char *root, qm_error *err);
/* Cap the vCPUs to (100 - pct)% of their CPU each; pct in 0..99 (0 lifts
 * the cap). */
bool qm_throttle_set(qm_throttle *t, unsigned pct, qm_error *err);
unsigned qm_throttle_get(const qm_throttle *t);
const char *qm_throttle_method(const qm_throttle *t); /* "cgroup-v2" ... */
/* Lift the cap, put the threads back, remove the cgroup. */
void qm_throttle_free(qm_throttle *t);

/*
 * Duty cycling, the fallback: a thread stops the whole QEMU process with
 * SIGSTOP for pct% of every QM_DUTY_PERIOD_MS and lets it run for the
 * rest. During pre-copy qmig needs nothing from QEMU (it reads RAM
 * itself), so stopping QEMU's other threads too costs nothing; the guest
 * clock keeps running (SIGSTOP is not QMP stop), which is what throttling
 * wants. Free resumes QEMU. QMIG_THROTTLE=duty in the environment makes
 * the engine skip the cgroup (for tests).
 */
#define QM_DUTY_PERIOD_MS 100

typedef struct qm_duty qm_duty;

qm_duty *qm_duty_new(pid_t pid, qm_error *err);
void qm_duty_set(qm_duty *d, unsigned pct);
void qm_duty_free(qm_duty *d);

/*
 * Duty cycling: the share of each period the VM is kept stopped.
 * qm_duty_cycle_next: given the throttle level and whether the VM is
 * stopped now, how long to stay in the current state (ms) before the next
 * switch. Pure; the engine drives stop/cont from its timer.
 */
unsigned qm_duty_cycle_next(unsigned pct, bool stopped, unsigned period_ms);

#endif
