/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * phase: the migration state machine, as data.
 *
 * One enum of phases, one of events, and a transition table per side
 * (source, destination); qm_phase_step() applies it and refuses anything
 * the table does not list ("event X not allowed in phase Y"), so legal
 * transitions live in one place instead of being spread over callers
 * (Cloud Hypervisor's receive step function; QEMU's migrate_set_state
 * without the scattered predicates).
 *
 *            start_ok          gate_stop/force        final_sent
 *   setup ───────────▶ precopy ───────────────▶ stop-copy ─────────▶ verify
 *     │                  │  ▲ round_done           │                   │ verified
 *     │                  └──┘                      │                   ▼
 *     │                                            │              switchover
 *     │ fail/cancel (any phase before switchover)  │                   │ committed
 *     ▼                                            ▼                   ▼
 *   failed | cancelled | rolled-back ◀─────────────┘               completed
 *
 * A source migration started while --max-migrations others run waits in
 * "queued" first: dequeue takes it to setup, cancel or fail end it there
 * (the VM was never touched).
 *
 * Before the destination runs, every failure ends in rolled-back when the
 * source had been paused (it is resumed) and in failed/cancelled when it
 * never was. In switchover (COMMIT sent, no ACK yet) a lost peer is
 * "in-doubt": the source stays paused until it learns the outcome; it
 * never resumes while the destination may be running.
 */
#ifndef QMIG_AGENT_PHASE_H
#define QMIG_AGENT_PHASE_H

#include <stdbool.h>

#include "common/common.h"

typedef enum qm_phase {
	QM_PHASE_SETUP,
	QM_PHASE_PRECOPY,
	QM_PHASE_STOP_COPY,
	QM_PHASE_VERIFY,
	QM_PHASE_SWITCHOVER,
	QM_PHASE_COMPLETED,
	QM_PHASE_FAILED,
	QM_PHASE_CANCELLED,
	QM_PHASE_ROLLED_BACK,
	QM_PHASE_IN_DOUBT,
	QM_PHASE_QUEUED,      /* source: waiting for a slot (--max-migrations) */
	QM_PHASE__COUNT
} qm_phase;

typedef enum qm_event {
	QM_EV_START_OK,       /* connected, HELLO/HAVE done, Qd launched */
	QM_EV_ROUND_DONE,     /* a pre-copy round finished, go on */
	QM_EV_GATE_STOP,      /* gate: prediction fits, or force */
	QM_EV_FINAL_SENT,     /* final pass + device state delivered */
	QM_EV_VERIFIED,       /* every page matches */
	QM_EV_COMMITTED,      /* COMMIT acknowledged, Qd running */
	QM_EV_FAIL,           /* any error */
	QM_EV_CANCEL,         /* migration.cancel */
	QM_EV_PEER_LOST,      /* link or peer agent gone */
	QM_EV_RESOLVED_OK,    /* in-doubt resolved: destination runs */
	QM_EV_RESOLVED_BACK,  /* in-doubt resolved: destination never ran */
	QM_EV_DEQUEUE,        /* queued: a slot is free, the worker starts */
	QM_EV__COUNT
} qm_event;

typedef enum qm_side {
	QM_SIDE_SOURCE,
	QM_SIDE_DEST,
} qm_side;

/* Stable names as they appear in migration.status ("stop-copy", ...). */
const char *qm_phase_name(qm_phase p);
const char *qm_event_name(qm_event e);
bool qm_phase_is_final(qm_phase p);

/*
 * qm_phase_step: the phase after @ev in @cur on @side.
 * @source_paused: whether the source VM is paused now (failures then end
 * in rolled-back, after the caller resumed it).
 * Returns true and *next, or false with *err (QM_ERR_STATE) "event X not
 * allowed in phase Y".
 */
bool qm_phase_step(qm_side side, qm_phase cur, qm_event ev,
		   bool source_paused, qm_phase *next, qm_error *err);

#endif
