/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * predict: the stop-and-copy downtime predictor and the pre-copy gate.
 * Internal to the agent; pure functions over plain structs, no I/O.
 *
 * Downtime is predicted, measured and reported in five parts (design card,
 * step 4), so that each part's error can be seen and learned separately:
 *
 *   final_scan    find what changed since the last round, vCPUs stopped
 *   final_send    send it (after dedup) at the measured bandwidth
 *   device_state  QEMU's device-state stream through the agents
 *   verify        destination hashes what the verification covers (all
 *                 of RAM that holds data, or the final pass's chunks);
 *                 chunks/pages compared over the link (round trips)
 *   cont          destination `cont`
 *
 * Learning: each part has a correction factor, the exponentially weighted
 * geometric mean of actual/predicted over finished migrations (log factor
 * = a * log new + (1 - a) * log factor, a = QM_PREDICT_ALPHA), applied to
 * the next prediction; parts under QM_PREDICT_NOISE_MS on both sides are
 * not learnt from.
 */
#ifndef QMIG_AGENT_PREDICT_H
#define QMIG_AGENT_PREDICT_H

#include <stdbool.h>
#include <stdint.h>

#define QM_PREDICT_ALPHA 0.3
#define QM_PREDICT_NOISE_MS 1.0
/* Defaults measured on QEMU 7.2 (design card section 9). */
#define QM_PREDICT_DEVSTATE_BYTES (206u * 1000)
#define QM_PREDICT_DEVSTATE_MS 12.0
#define QM_PREDICT_CONT_MS 1.0
#define QM_PREDICT_HASH_BPS (10e9)    /* destination hashing, bytes/s */
#define QM_PREDICT_VERIFY_RTTS 3.0    /* roots, chunks, pages */

enum {
	QM_PART_FINAL_SCAN,
	QM_PART_FINAL_SEND,
	QM_PART_DEVICE_STATE,
	QM_PART_VERIFY,
	QM_PART_CONT,
	QM_PART__COUNT
};

extern const char *const qm_part_names[QM_PART__COUNT];

typedef struct qm_downtime {
	double part_ms[QM_PART__COUNT];
	double total_ms;
} qm_downtime;

/* What the engine knows after a pre-copy round. */
typedef struct qm_predict_input {
	uint64_t dirty_pages;        /* changed pages expected in the final pass */
	double wire_bytes_per_page;  /* after dedup, from the last round sent
				      * (4096 + header if unknown) */
	double bandwidth_bps;        /* measured, bytes/s; > 0 */
	double rtt_ms;               /* measured link round trip */
	double scan_ms;              /* cost of the last find-changes pass */
	double scan_speedup;         /* >= 1: more threads once vCPUs stop */
	double devstate_bytes;       /* last measured, or the default */
	double devstate_fixed_ms;    /* QEMU save+load time apart from I/O */
	double cont_ms;
	double dest_hash_bps;        /* destination hashing speed */
	double verify_pages;         /* pages the final verification hashes
				      * (full: all that hold data; tracked:
				      * the final dirty set's chunks);
				      * 0 = dirty_pages */
} qm_predict_input;

/* Learned correction per part; all 1.0 for a fresh agent. */
typedef struct qm_predictor {
	double factor[QM_PART__COUNT];
	unsigned samples;
} qm_predictor;

void qm_predictor_init(qm_predictor *p);
/* Fill @in with the defaults above for the members left at 0. */
void qm_predict_defaults(qm_predict_input *in);
/* Predict the downtime from @in with @p's corrections. */
void qm_predict(const qm_predictor *p, const qm_predict_input *in,
		qm_downtime *out);
/* Learn from one finished migration: @predicted (as reported, corrections
 * included) against @actual. Parts with a non-positive value on either
 * side are skipped. Factors are clamped to [0.1, 10]. */
void qm_predictor_learn(qm_predictor *p, const qm_downtime *predicted,
			const qm_downtime *actual);

/* ---- the gate ---- */

typedef enum qm_gate_action {
	QM_GATE_CONTINUE,     /* another pre-copy round */
	QM_GATE_THROTTLE,     /* another round, vCPUs throttled harder */
	QM_GATE_STOP_COPY,    /* prediction fits: stop and copy now */
	QM_GATE_FORCE,        /* deadline reached, on_deadline = force */
	QM_GATE_ABORT,        /* deadline reached, on_deadline = abort */
} qm_gate_action;

typedef struct qm_gate_input {
	double predicted_ms;         /* qm_downtime.total_ms */
	double max_downtime_ms;
	int64_t start_ms;            /* when the migration started */
	int64_t now_ms, deadline_ms; /* deadline 0 = none */
	bool on_deadline_force;
	double dirty_bytes_per_s;    /* rate of new changes */
	double bandwidth_bps;
	unsigned round;              /* completed rounds */
	unsigned rounds_not_shrinking; /* rounds whose dirty set did not
					* shrink by 10% from the one before */
	unsigned throttle_pct;       /* current vCPU throttle, 0..99 */
} qm_gate_input;

typedef struct qm_gate_decision {
	qm_gate_action action;
	unsigned throttle_pct;       /* for THROTTLE: the new level */
	const char *why;             /* static string, for status/logs */
} qm_gate_decision;

/*
 * qm_gate_decide: the pure convergence check (Cloud Hypervisor's
 * is_precopy_converged, with QEMU's auto-converge steps):
 *  1. prediction within max_downtime_ms -> STOP_COPY;
 *  2. deadline passed or no time left for the predicted downtime ->
 *     FORCE or ABORT as the caller chose;
 *  3. dirty rate at or above 90% of bandwidth, or two rounds without
 *     shrinking -> THROTTLE (+20 points, +40 in the last quarter of the
 *     window between start and deadline, capped at 99);
 *  4. otherwise CONTINUE.
 */
void qm_gate_decide(const qm_gate_input *in, qm_gate_decision *out);
const char *qm_gate_action_name(qm_gate_action a);

#endif
