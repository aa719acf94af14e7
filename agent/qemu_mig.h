/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu_mig: drive QEMU's own migration over QMP, for the two uses the
 * agent has for it:
 *  - device state only (agent mode): RAM stays in the shared backends
 *    (capability x-ignore-shared on both QEMUs, set on the destination
 *    before migrate-incoming), QEMU moves the rest (about 200 KB);
 *  - native pre-copy (compat mode and the benchmark baseline), with
 *    downtime-limit, max-bandwidth and optionally multifd, xbzrle,
 *    auto-converge, pause-before-switchover (where the gate decides).
 * Blocking helpers on one QEMU's QMP connection; the agent runs them from
 * a migration's worker thread, never from the RPC loop.
 */
#ifndef QMIG_AGENT_QEMU_MIG_H
#define QMIG_AGENT_QEMU_MIG_H

#include <stdbool.h>
#include <stdint.h>

#include "qmp/qmp.h"

typedef struct qm_native_opts {
	bool ignore_shared;          /* x-ignore-shared: device state only */
	bool multifd;
	unsigned multifd_channels;   /* 0 = QEMU's default (2) */
	bool xbzrle;
	uint64_t xbzrle_cache_bytes; /* 0 = QEMU's default */
	bool auto_converge;
	bool pause_before_switchover;
	int64_t downtime_limit_ms;   /* 0 = leave QEMU's (300 ms) */
	int64_t max_bandwidth_bps;   /* 0 = leave QEMU's (128 MiB/s!) */
} qm_native_opts;

/* Set @o's capabilities and parameters on one QEMU (both sides need the
 * same capabilities). */
bool qm_native_setup(qmp_conn *q, const qm_native_opts *o, qm_error *err);
/* Destination: setup, then migrate-incoming @uri (QEMU started with
 * -incoming defer). */
bool qm_native_incoming(qmp_conn *qd, const qm_native_opts *o,
			const char *uri, qm_error *err);
/* Source: setup, then migrate to @uri. */
bool qm_native_outgoing(qmp_conn *qs, const qm_native_opts *o,
			const char *uri, qm_error *err);

#define QM_MIG_MASK(s) (1u << (s))
/* Migration ended, one way or another. */
#define QM_MIG_DONE_MASK (QM_MIG_MASK(QMP_MIG_STATUS_COMPLETED) | \
			  QM_MIG_MASK(QMP_MIG_STATUS_FAILED) |    \
			  QM_MIG_MASK(QMP_MIG_STATUS_CANCELLED))

/*
 * qm_native_wait: poll query-migrate every @poll_ms until its status is in
 * @mask (QM_MIG_MASK bits) or @timeout_ms passes; *out gets the last
 * answer. A FAILED status not in @mask is an error carrying QEMU's
 * error-desc.
 */
bool qm_native_wait(qmp_conn *q, unsigned mask, int poll_ms, int timeout_ms,
		    qmp_migrate_info *out, qm_error *err);

#endif
