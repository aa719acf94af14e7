/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Downtime predictor and pre-copy gate. See predict.h.
 */
#include "agent/predict.h"

#include <math.h>

#include <string.h>

#define PAGE_BYTES 4096.0
#define PAGE_WIRE_DEFAULT (PAGE_BYTES + 16.0)
#define FACTOR_MIN 0.1
#define FACTOR_MAX 10.0
#define THROTTLE_STEP 20u
#define THROTTLE_STEP_LATE 40u
#define THROTTLE_MAX 99u

const char *const qm_part_names[QM_PART__COUNT] = {
	[QM_PART_FINAL_SCAN] = "final_scan",
	[QM_PART_FINAL_SEND] = "final_send",
	[QM_PART_DEVICE_STATE] = "device_state",
	[QM_PART_VERIFY] = "verify",
	[QM_PART_CONT] = "cont",
};

void qm_predictor_init(qm_predictor *p)
{
	for (int i = 0; i < QM_PART__COUNT; i++)
		p->factor[i] = 1.0;
	p->samples = 0;
}

void qm_predict_defaults(qm_predict_input *in)
{
	if (in->wire_bytes_per_page <= 0)
		in->wire_bytes_per_page = PAGE_WIRE_DEFAULT;
	if (in->scan_speedup < 1)
		in->scan_speedup = 1;
	if (in->devstate_bytes <= 0)
		in->devstate_bytes = QM_PREDICT_DEVSTATE_BYTES;
	if (in->devstate_fixed_ms <= 0)
		in->devstate_fixed_ms = QM_PREDICT_DEVSTATE_MS;
	if (in->cont_ms <= 0)
		in->cont_ms = QM_PREDICT_CONT_MS;
	if (in->dest_hash_bps <= 0)
		in->dest_hash_bps = QM_PREDICT_HASH_BPS;
}

static double ms_for_bytes(double bytes, double bps)
{
	return bps > 0 ? bytes / bps * 1e3 : 0;
}

void qm_predict(const qm_predictor *p, const qm_predict_input *in,
		qm_downtime *out)
{
	qm_predict_input d = *in;
	double raw[QM_PART__COUNT];

	qm_predict_defaults(&d);
	raw[QM_PART_FINAL_SCAN] = d.scan_ms / d.scan_speedup;
	raw[QM_PART_FINAL_SEND] = ms_for_bytes(d.dirty_pages *
					       d.wire_bytes_per_page,
					       d.bandwidth_bps);
	/* The device state crosses the same link, in parallel with the final
	 * RAM pass but sharing its bandwidth: count its bytes. */
	raw[QM_PART_DEVICE_STATE] = d.devstate_fixed_ms +
				    ms_for_bytes(d.devstate_bytes,
						 d.bandwidth_bps);
	raw[QM_PART_VERIFY] = ms_for_bytes((d.verify_pages > 0 ? d.verify_pages
					    : d.dirty_pages) * PAGE_BYTES,
					   d.dest_hash_bps) +
			      QM_PREDICT_VERIFY_RTTS * d.rtt_ms;
	raw[QM_PART_CONT] = d.cont_ms;
	out->total_ms = 0;
	for (int i = 0; i < QM_PART__COUNT; i++) {
		out->part_ms[i] = raw[i] * p->factor[i];
		out->total_ms += out->part_ms[i];
	}
}

/*
 * The factor moves toward actual/raw in log space (a geometric mean):
 * a part that was 10x under-predicted once and normal the next time
 * should not swing into a 5x over-prediction, as an arithmetic mean
 * does. Parts under QM_PREDICT_NOISE_MS on both sides are timer and
 * scheduler noise, not a trend, and teach nothing.
 */
void qm_predictor_learn(qm_predictor *p, const qm_downtime *predicted,
			const qm_downtime *actual)
{
	for (int i = 0; i < QM_PART__COUNT; i++) {
		double pred = predicted->part_ms[i], act = actual->part_ms[i];
		double raw_pred, ratio, f;

		if (pred <= 0 || act <= 0)
			continue;
		/* @predicted already carries the old factor: learn the
		 * factor that would have been right, from the raw value. */
		raw_pred = pred / p->factor[i];
		if (raw_pred < QM_PREDICT_NOISE_MS && act < QM_PREDICT_NOISE_MS)
			continue;
		ratio = act / raw_pred;
		f = exp(QM_PREDICT_ALPHA * log(ratio) +
			(1 - QM_PREDICT_ALPHA) * log(p->factor[i]));
		p->factor[i] = f < FACTOR_MIN ? FACTOR_MIN :
			       f > FACTOR_MAX ? FACTOR_MAX : f;
	}
	p->samples++;
}

/* ---- gate ---- */

const char *qm_gate_action_name(qm_gate_action a)
{
	switch (a) {
	case QM_GATE_CONTINUE: return "continue";
	case QM_GATE_THROTTLE: return "throttle";
	case QM_GATE_STOP_COPY: return "stop-copy";
	case QM_GATE_FORCE: return "force";
	case QM_GATE_ABORT: return "abort";
	}
	return "unknown";
}

static unsigned next_throttle(const qm_gate_input *in)
{
	unsigned step = THROTTLE_STEP;
	unsigned next;

	/* Harder as the deadline nears: the last quarter of the window. */
	if (in->deadline_ms > in->start_ms &&
	    4 * (in->deadline_ms - in->now_ms) < in->deadline_ms - in->start_ms)
		step = THROTTLE_STEP_LATE;
	next = in->throttle_pct + step;
	return next > THROTTLE_MAX ? THROTTLE_MAX : next;
}

void qm_gate_decide(const qm_gate_input *in, qm_gate_decision *out)
{
	bool outrun = in->bandwidth_bps > 0 &&
		      in->dirty_bytes_per_s >= 0.9 * in->bandwidth_bps;

	memset(out, 0, sizeof(*out));
	out->throttle_pct = in->throttle_pct;
	/* Round 0 sends everything and cannot tell how fast the guest
	 * writes (it takes two scans): its prediction is the whole RAM's
	 * send. One more round measures the rate and sends what changed
	 * meanwhile, unless the deadline is that close. */
	if (in->predicted_ms <= in->max_downtime_ms && in->round == 0 &&
	    !(in->deadline_ms > 0 &&
	      in->now_ms + 2 * (int64_t)in->predicted_ms >= in->deadline_ms)) {
		out->action = QM_GATE_CONTINUE;
		out->why = "round 0 measured no write rate: one more round";
		return;
	}
	if (in->predicted_ms <= in->max_downtime_ms) {
		out->action = QM_GATE_STOP_COPY;
		out->why = "predicted downtime within max_downtime_ms";
		return;
	}
	if (in->deadline_ms > 0 &&
	    in->now_ms + (int64_t)in->predicted_ms >= in->deadline_ms) {
		out->action = in->on_deadline_force ? QM_GATE_FORCE
						    : QM_GATE_ABORT;
		out->why = "deadline reached before the downtime target";
		return;
	}
	if (outrun || in->rounds_not_shrinking >= 2) {
		if (in->throttle_pct < THROTTLE_MAX) {
			out->action = QM_GATE_THROTTLE;
			out->throttle_pct = next_throttle(in);
			out->why = outrun ? "dirty rate outruns the link"
					  : "dirty set not shrinking";
			return;
		}
		out->why = "not converging at maximum throttle";
	} else {
		out->why = "converging";
	}
	out->action = QM_GATE_CONTINUE;
}
