/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the engine's pure parts: the downtime predictor (parts,
 * learning), the pre-copy gate, and the phase tables.
 */
#include "tests/qmig_test.h"
#include "agent/phase.h"
#include "agent/predict.h"
#include "agent/throttle.h"

#include <math.h>
#include <string.h>

static int near(double a, double b)
{
	return fabs(a - b) < 1e-6 * (fabs(b) + 1);
}

#define NEAR(a, b) near((a), (b))

/* Each part of the prediction follows its formula; the total is their
 * sum. 1000 pages of 4112 wire bytes at 100 MB/s take 41.12 ms. */
static void test_predict_parts(void **state)
{
	qm_predictor p;
	qm_predict_input in = {
		.dirty_pages = 1000, .wire_bytes_per_page = 4112,
		.bandwidth_bps = 100e6, .rtt_ms = 2, .scan_ms = 40,
		.scan_speedup = 2, .devstate_bytes = 200e3,
		.devstate_fixed_ms = 10, .cont_ms = 1, .dest_hash_bps = 4096e3,
	};
	qm_downtime d;

	qm_predictor_init(&p);
	qm_predict(&p, &in, &d);
	assert_true(NEAR(d.part_ms[QM_PART_FINAL_SCAN], 20));
	assert_true(NEAR(d.part_ms[QM_PART_FINAL_SEND], 41.12));
	assert_true(NEAR(d.part_ms[QM_PART_DEVICE_STATE], 12));
	assert_true(NEAR(d.part_ms[QM_PART_VERIFY], 1000 + 6));
	assert_true(NEAR(d.part_ms[QM_PART_CONT], 1));
	assert_true(NEAR(d.total_ms, 20 + 41.12 + 12 + 1006 + 1));
	assert_string_equal(qm_part_names[QM_PART_DEVICE_STATE], "device_state");
}

/* Unset inputs take the documented defaults (206 KB device state, 12 ms,
 * 1 ms cont). */
static void test_predict_defaults(void **state)
{
	qm_predictor p;
	qm_predict_input in = { .bandwidth_bps = 206e3 };
	qm_downtime d;

	qm_predictor_init(&p);
	qm_predict(&p, &in, &d);
	assert_true(NEAR(d.part_ms[QM_PART_DEVICE_STATE], 12 + 1000));
	assert_true(NEAR(d.part_ms[QM_PART_CONT], 1));
	assert_true(NEAR(d.part_ms[QM_PART_FINAL_SEND], 0));
}

/* Learning moves each factor 0.3 of the way to actual/raw in log space,
 * per part, skips parts without data or under 1 ms on both sides, and
 * clamps. */
static void test_predict_learns(void **state)
{
	qm_predictor p;
	qm_downtime pred = { { 10, 20, 0, 5, 1 }, 36 };
	qm_downtime act = { { 20, 20, 7, 0, 1000 }, 0 };
	qm_downtime tiny_pred = { { 0.2, 0, 0, 0, 0 }, 0.2 };
	qm_downtime tiny_act = { { 0.9, 0, 0, 0, 0 }, 0.9 };

	qm_predictor_init(&p);
	qm_predictor_learn(&p, &pred, &act);
	assert_true(NEAR(p.factor[QM_PART_FINAL_SCAN], pow(2, 0.3)));
	assert_true(NEAR(p.factor[QM_PART_FINAL_SEND], 1.0));
	assert_true(NEAR(p.factor[QM_PART_DEVICE_STATE], 1.0));
	assert_true(NEAR(p.factor[QM_PART_VERIFY], 1.0));
	assert_true(NEAR(p.factor[QM_PART_CONT], pow(1000, 0.3)));
	assert_int_equal(p.samples, 1);
	/* The next prediction for final_scan carries the factor; learning
	 * again from a prediction that already has it converges on 2. */
	pred.part_ms[QM_PART_FINAL_SCAN] = 10 * pow(2, 0.3);
	qm_predictor_learn(&p, &pred, &act);
	assert_true(NEAR(p.factor[QM_PART_FINAL_SCAN], pow(2, 0.3 + 0.7 * 0.3)));
	/* One 10x miss, then a normal run: no swing past 1 the other way. */
	qm_predictor_init(&p);
	act.part_ms[QM_PART_FINAL_SEND] = 200;
	qm_predictor_learn(&p, &pred, &act);
	pred.part_ms[QM_PART_FINAL_SEND] = 20 * p.factor[QM_PART_FINAL_SEND];
	act.part_ms[QM_PART_FINAL_SEND] = 20;
	qm_predictor_learn(&p, &pred, &act);
	assert_true(p.factor[QM_PART_FINAL_SEND] > 1.0);
	assert_true(p.factor[QM_PART_FINAL_SEND] < 2.0);
	/* Noise: a 0.2 ms part measured 0.9 ms teaches nothing. */
	qm_predictor_init(&p);
	qm_predictor_learn(&p, &tiny_pred, &tiny_act);
	assert_true(NEAR(p.factor[QM_PART_FINAL_SCAN], 1.0));
	/* Clamped. */
	act.part_ms[QM_PART_CONT] = 1e9;
	pred.part_ms[QM_PART_CONT] = 1;
	for (int i = 0; i < 50; i++)
		qm_predictor_learn(&p, &pred, &act);
	assert_true(NEAR(p.factor[QM_PART_CONT], 10.0));
}

static qm_gate_decision gate(qm_gate_input in)
{
	qm_gate_decision d;

	qm_gate_decide(&in, &d);
	return d;
}

/* The gate's four outcomes, in order of precedence. */
static void test_gate(void **state)
{
	qm_gate_input base = { .predicted_ms = 500, .max_downtime_ms = 300,
			       .start_ms = 0, .now_ms = 1000,
			       .dirty_bytes_per_s = 10e6,
			       .bandwidth_bps = 100e6, .round = 1 };
	qm_gate_input in;
	qm_gate_decision d;

	d = gate(base);
	assert_int_equal(d.action, QM_GATE_CONTINUE);
	in = base;
	in.predicted_ms = 300;
	assert_int_equal(gate(in).action, QM_GATE_STOP_COPY);
	/* Round 0 fits but measured no write rate: one more round, unless
	 * the deadline is close. */
	in.round = 0;
	assert_int_equal(gate(in).action, QM_GATE_CONTINUE);
	in.deadline_ms = 1500;
	assert_int_equal(gate(in).action, QM_GATE_STOP_COPY);
	/* Deadline: no time left for the predicted downtime. */
	in = base;
	in.deadline_ms = 1400;
	assert_int_equal(gate(in).action, QM_GATE_ABORT);
	in.on_deadline_force = true;
	assert_int_equal(gate(in).action, QM_GATE_FORCE);
	/* Outrun: throttle by 20, by 40 in the last quarter, capped. */
	in = base;
	in.dirty_bytes_per_s = 95e6;
	d = gate(in);
	assert_int_equal(d.action, QM_GATE_THROTTLE);
	assert_int_equal(d.throttle_pct, 20);
	in.deadline_ms = 5000;
	in.now_ms = 4000;
	in.throttle_pct = 20;
	assert_int_equal(gate(in).throttle_pct, 60);
	in.throttle_pct = 80;
	assert_int_equal(gate(in).throttle_pct, 99);
	in.throttle_pct = 99;
	assert_int_equal(gate(in).action, QM_GATE_CONTINUE);
	/* Not shrinking for two rounds also throttles. */
	in = base;
	in.rounds_not_shrinking = 2;
	assert_int_equal(gate(in).action, QM_GATE_THROTTLE);
	assert_string_equal(qm_gate_action_name(QM_GATE_STOP_COPY), "stop-copy");
}

static qm_phase walk(qm_side side, const qm_event *evs, size_t n,
		     bool paused)
{
	qm_phase p = QM_PHASE_SETUP;

	for (size_t i = 0; i < n; i++)
		assert_true(qm_phase_step(side, p, evs[i], paused, &p, NULL));
	return p;
}

/* The happy path on both sides ends in completed. */
static void test_phase_happy_path(void **state)
{
	static const qm_event evs[] = {
		QM_EV_START_OK, QM_EV_ROUND_DONE, QM_EV_ROUND_DONE,
		QM_EV_GATE_STOP, QM_EV_FINAL_SENT, QM_EV_VERIFIED,
		QM_EV_COMMITTED,
	};

	assert_int_equal(walk(QM_SIDE_SOURCE, evs, 7, false),
			 QM_PHASE_COMPLETED);
	assert_int_equal(walk(QM_SIDE_DEST, evs, 7, false), QM_PHASE_COMPLETED);
}

/* Failures: before the source pauses -> failed; after -> rolled-back;
 * cancel likewise; after COMMIT the source is in doubt, never rolled
 * back, until the outcome is known. */
static void test_phase_failures(void **state)
{
	qm_phase n;

	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_PRECOPY, QM_EV_FAIL,
				  false, &n, NULL));
	assert_int_equal(n, QM_PHASE_FAILED);
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_VERIFY, QM_EV_FAIL,
				  true, &n, NULL));
	assert_int_equal(n, QM_PHASE_ROLLED_BACK);
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_PRECOPY,
				  QM_EV_CANCEL, false, &n, NULL));
	assert_int_equal(n, QM_PHASE_CANCELLED);
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_STOP_COPY,
				  QM_EV_CANCEL, true, &n, NULL));
	assert_int_equal(n, QM_PHASE_ROLLED_BACK);
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_SWITCHOVER,
				  QM_EV_PEER_LOST, true, &n, NULL));
	assert_int_equal(n, QM_PHASE_IN_DOUBT);
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_IN_DOUBT,
				  QM_EV_RESOLVED_BACK, true, &n, NULL));
	assert_int_equal(n, QM_PHASE_ROLLED_BACK);
	assert_true(qm_phase_step(QM_SIDE_DEST, QM_PHASE_SWITCHOVER,
				  QM_EV_PEER_LOST, false, &n, NULL));
	assert_int_equal(n, QM_PHASE_FAILED);
}

/* Anything the table does not list is refused with a message naming the
 * event and the phase; final phases accept nothing. */
static void test_phase_refusals(void **state)
{
	qm_error err = QM_ERROR_INIT;
	qm_phase n = QM_PHASE_SETUP;

	assert_false(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_PRECOPY,
				   QM_EV_VERIFIED, false, &n, &err));
	assert_int_equal(err.code, QM_ERR_STATE);
	assert_string_equal(err.msg,
			    "event verified not allowed in phase precopy");
	assert_false(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_SWITCHOVER,
				   QM_EV_CANCEL, true, &n, NULL));
	for (int p = 0; p < QM_PHASE__COUNT; p++) {
		if (!qm_phase_is_final(p))
			continue;
		for (int e = 0; e < QM_EV__COUNT; e++) {
			assert_false(qm_phase_step(QM_SIDE_SOURCE, p, e, false,
						   &n, NULL));
			assert_false(qm_phase_step(QM_SIDE_DEST, p, e, false,
						   &n, NULL));
		}
	}
	assert_false(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE__COUNT,
				   QM_EV_FAIL, false, &n, NULL));
}

/* Guard: adding a phase or an event must come with names and a look at
 * these tests. */
static void test_phase_enum_guard(void **state)
{
	assert_int_equal(QM_PHASE__COUNT, 11);
	assert_int_equal(QM_EV__COUNT, 12);
	for (int p = 0; p < QM_PHASE__COUNT; p++)
		assert_string_not_equal(qm_phase_name(p), "unknown");
	for (int e = 0; e < QM_EV__COUNT; e++)
		assert_string_not_equal(qm_event_name(e), "unknown");
	assert_string_equal(qm_phase_name(QM_PHASE_STOP_COPY), "stop-copy");
	assert_string_equal(qm_phase_name(QM_PHASE_ROLLED_BACK), "rolled-back");
	assert_string_equal(qm_phase_name(QM_PHASE_QUEUED), "queued");
	assert_string_equal(qm_event_name(QM_EV_DEQUEUE), "dequeue");
}

/* A queued source migration starts with dequeue, and ends cancelled or
 * failed (never rolled back: nothing touched the VM); it accepts no
 * engine event; destinations never queue. */
static void test_phase_queued(void **state)
{
	qm_phase n;

	assert_false(qm_phase_is_final(QM_PHASE_QUEUED));
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_QUEUED,
				  QM_EV_DEQUEUE, false, &n, NULL));
	assert_int_equal(n, QM_PHASE_SETUP);
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_QUEUED,
				  QM_EV_CANCEL, false, &n, NULL));
	assert_int_equal(n, QM_PHASE_CANCELLED);
	assert_true(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_QUEUED, QM_EV_FAIL,
				  true, &n, NULL));
	assert_int_equal(n, QM_PHASE_FAILED);
	assert_false(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_QUEUED,
				   QM_EV_START_OK, false, &n, NULL));
	assert_false(qm_phase_step(QM_SIDE_SOURCE, QM_PHASE_SETUP,
				   QM_EV_DEQUEUE, false, &n, NULL));
	for (int e = 0; e < QM_EV__COUNT; e++)
		assert_false(qm_phase_step(QM_SIDE_DEST, QM_PHASE_QUEUED, e,
					   false, &n, NULL));
}

/* Duty cycling keeps the VM stopped for pct% of each period, running for
 * the rest, and never stops it for a whole period. */
static void test_duty_cycle(void **state)
{
	assert_int_equal(qm_duty_cycle_next(30, true, 100), 30);
	assert_int_equal(qm_duty_cycle_next(30, false, 100), 70);
	assert_int_equal(qm_duty_cycle_next(0, true, 100), 0);
	assert_int_equal(qm_duty_cycle_next(0, false, 100), 100);
	assert_int_equal(qm_duty_cycle_next(150, true, 100), 99);
	assert_int_equal(qm_duty_cycle_next(150, false, 100), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_predict_parts),
		cmocka_unit_test(test_predict_defaults),
		cmocka_unit_test(test_predict_learns),
		cmocka_unit_test(test_gate),
		cmocka_unit_test(test_phase_happy_path),
		cmocka_unit_test(test_phase_failures),
		cmocka_unit_test(test_phase_refusals),
		cmocka_unit_test(test_phase_enum_guard),
		cmocka_unit_test(test_phase_queued),
		cmocka_unit_test(test_duty_cycle),
	};
	return cmocka_run_group_tests_name("/agent/engine-logic", tests, NULL,
					   NULL);
}
