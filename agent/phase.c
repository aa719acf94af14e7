/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration state machine tables. See phase.h.
 */
#include "agent/phase.h"

/* Pseudo-target: a failure, resolved to failed or rolled-back by whether
 * the source is paused. */
#define FAILURE QM_PHASE__COUNT
#define NONE (-1)

static const char *const phase_names[QM_PHASE__COUNT] = {
	[QM_PHASE_SETUP] = "setup",
	[QM_PHASE_PRECOPY] = "precopy",
	[QM_PHASE_STOP_COPY] = "stop-copy",
	[QM_PHASE_VERIFY] = "verify",
	[QM_PHASE_SWITCHOVER] = "switchover",
	[QM_PHASE_COMPLETED] = "completed",
	[QM_PHASE_FAILED] = "failed",
	[QM_PHASE_CANCELLED] = "cancelled",
	[QM_PHASE_ROLLED_BACK] = "rolled-back",
	[QM_PHASE_IN_DOUBT] = "in-doubt",
	[QM_PHASE_QUEUED] = "queued",
};

static const char *const event_names[QM_EV__COUNT] = {
	[QM_EV_START_OK] = "start-ok",
	[QM_EV_ROUND_DONE] = "round-done",
	[QM_EV_GATE_STOP] = "gate-stop",
	[QM_EV_FINAL_SENT] = "final-sent",
	[QM_EV_VERIFIED] = "verified",
	[QM_EV_COMMITTED] = "committed",
	[QM_EV_FAIL] = "fail",
	[QM_EV_CANCEL] = "cancel",
	[QM_EV_PEER_LOST] = "peer-lost",
	[QM_EV_RESOLVED_OK] = "resolved-ok",
	[QM_EV_RESOLVED_BACK] = "resolved-back",
	[QM_EV_DEQUEUE] = "dequeue",
};

/*
 * Tables: [phase][event] = next phase, FAILURE, or NONE (refused). Each
 * row lists every event, in enum order:
 *   start-ok round-done gate-stop final-sent verified committed
 *   fail cancel peer-lost resolved-ok resolved-back dequeue
 */
#define ROW(so, rd, gs, fs, vf, cm, fl, cn, pl, rok, rbk, dq) \
	{ so, rd, gs, fs, vf, cm, fl, cn, pl, rok, rbk, dq }
#define N NONE
#define CAN QM_PHASE_CANCELLED
/* Before switchover: failures fail (or roll back), cancel cancels. */
#define ROW_BEFORE(so, rd, gs, fs, vf) \
	ROW(so, rd, gs, fs, vf, N, FAILURE, CAN, FAILURE, N, N, N)
#define ROW_FINAL ROW(N, N, N, N, N, N, N, N, N, N, N, N)

static const int source_table[QM_PHASE__COUNT][QM_EV__COUNT] = {
	/* Nothing touched the VM yet: a failure (VM lost, deadline passed
	 * while waiting) is "failed", never a rollback. */
	[QM_PHASE_QUEUED] = ROW(N, N, N, N, N, N, QM_PHASE_FAILED, CAN,
				N, N, N, QM_PHASE_SETUP),
	[QM_PHASE_SETUP] = ROW_BEFORE(QM_PHASE_PRECOPY, N, N, N, N),
	[QM_PHASE_PRECOPY] = ROW_BEFORE(N, QM_PHASE_PRECOPY,
					QM_PHASE_STOP_COPY, N, N),
	[QM_PHASE_STOP_COPY] = ROW_BEFORE(N, N, N, QM_PHASE_VERIFY, N),
	[QM_PHASE_VERIFY] = ROW_BEFORE(N, N, N, N, QM_PHASE_SWITCHOVER),
	/* COMMIT is out: a lost peer is in doubt, and a cancel is too late. */
	[QM_PHASE_SWITCHOVER] = ROW(N, N, N, N, N, QM_PHASE_COMPLETED,
				    QM_PHASE_IN_DOUBT, N, QM_PHASE_IN_DOUBT,
				    N, N, N),
	[QM_PHASE_IN_DOUBT] = ROW(N, N, N, N, N, N, N, N, N,
				  QM_PHASE_COMPLETED, QM_PHASE_ROLLED_BACK, N),
	[QM_PHASE_COMPLETED] = ROW_FINAL,
	[QM_PHASE_FAILED] = ROW_FINAL,
	[QM_PHASE_CANCELLED] = ROW_FINAL,
	[QM_PHASE_ROLLED_BACK] = ROW_FINAL,
};

/*
 * Destination: the same phases, driven by what the source sends. Its VM
 * starts only on COMMIT (switchover -> completed); before that any failure
 * kills Qd, and "rolled-back" is the source's word, not the destination's
 * (the caller passes source_paused = false, so FAILURE means failed). A
 * destination that loses the source after COMMIT arrived has run the VM:
 * it completes. Before COMMIT it fails.
 */
static const int dest_table[QM_PHASE__COUNT][QM_EV__COUNT] = {
	[QM_PHASE_SETUP] = ROW_BEFORE(QM_PHASE_PRECOPY, N, N, N, N),
	[QM_PHASE_PRECOPY] = ROW_BEFORE(N, QM_PHASE_PRECOPY,
					QM_PHASE_STOP_COPY, N, N),
	[QM_PHASE_STOP_COPY] = ROW_BEFORE(N, N, N, QM_PHASE_VERIFY, N),
	[QM_PHASE_VERIFY] = ROW_BEFORE(N, N, N, N, QM_PHASE_SWITCHOVER),
	[QM_PHASE_SWITCHOVER] = ROW(N, N, N, N, N, QM_PHASE_COMPLETED,
				    QM_PHASE_FAILED, N, QM_PHASE_FAILED, N, N,
				    N),
	[QM_PHASE_IN_DOUBT] = ROW_FINAL,
	/* Destinations never queue: a prepare over the limit is refused. */
	[QM_PHASE_QUEUED] = ROW_FINAL,
	[QM_PHASE_COMPLETED] = ROW_FINAL,
	[QM_PHASE_FAILED] = ROW_FINAL,
	[QM_PHASE_CANCELLED] = ROW_FINAL,
	[QM_PHASE_ROLLED_BACK] = ROW_FINAL,
};

const char *qm_phase_name(qm_phase p)
{
	return (unsigned)p < QM_PHASE__COUNT ? phase_names[p] : "unknown";
}

const char *qm_event_name(qm_event e)
{
	return (unsigned)e < QM_EV__COUNT ? event_names[e] : "unknown";
}

bool qm_phase_is_final(qm_phase p)
{
	return p == QM_PHASE_COMPLETED || p == QM_PHASE_FAILED ||
	       p == QM_PHASE_CANCELLED || p == QM_PHASE_ROLLED_BACK;
}

bool qm_phase_step(qm_side side, qm_phase cur, qm_event ev,
		   bool source_paused, qm_phase *next, qm_error *err)
{
	const int (*table)[QM_EV__COUNT] =
		side == QM_SIDE_SOURCE ? source_table : dest_table;
	int to;

	if ((unsigned)cur >= QM_PHASE__COUNT || (unsigned)ev >= QM_EV__COUNT)
		return qm_error_set(err, QM_ERR_INVAL, "phase %d / event %d "
				    "out of range", (int)cur, (int)ev);
	to = table[cur][ev];
	if (to == NONE)
		return qm_error_set(err, QM_ERR_STATE,
				    "event %s not allowed in phase %s",
				    qm_event_name(ev), qm_phase_name(cur));
	/* Rolling back is the source's business. */
	if (side == QM_SIDE_DEST)
		source_paused = false;
	if (to == FAILURE)
		to = source_paused ? QM_PHASE_ROLLED_BACK : QM_PHASE_FAILED;
	/* A cancel after the source was paused also rolls it back. */
	if (to == QM_PHASE_CANCELLED && source_paused)
		to = QM_PHASE_ROLLED_BACK;
	*next = (qm_phase)to;
	return true;
}
