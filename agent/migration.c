/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration context: status snapshots, phase steps, notifications.
 */
#define LOG_PREFIX "migration"
#include "agent/agent-int.h"
#include "agent/mig-int.h"

#include <errno.h>
#include <xxhash.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

bool mig_new_id(char id[MIG_ID_LEN], uint8_t raw[16], qm_error *err)
{
	if (getrandom(raw, 16, 0) != 16)
		return qm_error_errno(err, errno, "getrandom");
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	return true;
}

static json_object *num(double v)
{
	return json_object_new_double(v);
}

static json_object *parts_json(const qm_downtime *d)
{
	json_object *o = json_object_new_object();

	for (int i = 0; i < QM_PART__COUNT; i++)
		json_object_object_add(o, qm_part_names[i], num(d->part_ms[i]));
	return o;
}

static json_object *pages_json(const mig_status *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "full", json_object_new_int64(s->pages_full));
	json_object_object_add(o, "zero", json_object_new_int64(s->pages_zero));
	json_object_object_add(o, "dup", json_object_new_int64(s->pages_dup));
	json_object_object_add(o, "have", json_object_new_int64(s->pages_have));
	json_object_object_add(o, "resent",
			       json_object_new_int64(s->pages_resent));
	return o;
}

static json_object *verify_json(const migration *m, const mig_status *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "mode", json_object_new_string(
			m->p.verify == MIG_VERIFY_TRACKED ? "tracked" :
			m->p.verify == MIG_VERIFY_NONE ? "none" : "full"));
	json_object_object_add(o, "pages_checked",
			       json_object_new_int64(s->verify_checked));
	json_object_object_add(o, "mismatches",
			       json_object_new_int64(s->verify_mismatches));
	json_object_object_add(o, "resent",
			       json_object_new_int64(s->verify_resent));
	json_object_object_add(o, "precopy_pages_checked",
			       json_object_new_int64(s->verify_precopy_checked));
	json_object_object_add(o, "precopy_mismatches",
			       json_object_new_int64(
				       s->verify_precopy_mismatches));
	json_object_object_add(o, "done", json_object_new_boolean(s->verify_done));
	json_object_object_add(o, "passed",
			       json_object_new_boolean(s->verify_passed));
	if (s->verify_skipped[0])
		json_object_object_add(o, "skipped", json_object_new_string(
					       s->verify_skipped));
	return o;
}

static void add_flat(json_object *o, const migration *m, const mig_status *s)
{
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "vm", json_object_new_string(m->p.vm));
	json_object_object_add(o, "side", json_object_new_string(
			m->side == QM_SIDE_SOURCE ? "source" : "destination"));
	json_object_object_add(o, "mode", json_object_new_string(
			m->p.compat ? "qemu" : "agent"));
	json_object_object_add(o, "tls", json_object_new_boolean(m->p.tls));
	json_object_object_add(o, "phase",
			       json_object_new_string(qm_phase_name(s->phase)));
	json_object_object_add(o, "round", json_object_new_int(s->round));
	json_object_object_add(o, "bytes_on_wire",
			       json_object_new_int64(s->bytes_on_wire));
	json_object_object_add(o, "dirty_rate_bps", num(s->dirty_rate_bps));
	json_object_object_add(o, "bandwidth_bps", num(s->bandwidth_bps));
	json_object_object_add(o, "predicted_downtime_ms",
			       num(s->predicted_downtime_ms));
	json_object_object_add(o, "downtime_ms", s->downtime_ms >= 0 ?
			       num(s->downtime_ms) : NULL);
	json_object_object_add(o, "deadline_slack_ms", s->deadline_slack_ms >= 0
			       ? num(s->deadline_slack_ms) : NULL);
	json_object_object_add(o, "throttle_pct",
			       json_object_new_int(s->throttle_pct));
	json_object_object_add(o, "tracker", json_object_new_string(s->tracker));
	json_object_object_add(o, "gate", json_object_new_string(s->gate));
	json_object_object_add(o, "error", s->error[0] ?
			       json_object_new_string(s->error) : NULL);
	json_object_object_add(o, "elapsed_ms", json_object_new_int64(
			(s->ended_ms ? s->ended_ms : qm_now_ms()) -
			s->started_ms));
}

static json_object *round_json(const mig_round *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "round", json_object_new_int64(r->round));
	json_object_object_add(o, "pages_sent",
			       json_object_new_int64(r->pages_sent));
	json_object_object_add(o, "bytes", json_object_new_int64(r->bytes));
	json_object_object_add(o, "dirty_pages",
			       json_object_new_int64(r->dirty_pages));
	json_object_object_add(o, "duration_ms", num(r->duration_ms));
	json_object_object_add(o, "predicted_downtime_ms",
			       num(r->predicted_downtime_ms));
	return o;
}

/* Oldest first. Copied out under the lock, so the JSON is built without
 * holding up the worker. */
static json_object *rounds_json(migration *m)
{
	json_object *a = json_object_new_array();
	mig_round *copy = malloc(sizeof(m->rounds));
	uint64_t n, first;

	if (!copy)
		return a;
	pthread_mutex_lock(&m->lock);
	n = m->nrounds;
	memcpy(copy, m->rounds, sizeof(m->rounds));
	pthread_mutex_unlock(&m->lock);
	first = n > MIG_ROUNDS_MAX ? n - MIG_ROUNDS_MAX : 0;
	for (uint64_t i = first; i < n; i++)
		json_object_array_add(a, round_json(&copy[i % MIG_ROUNDS_MAX]));
	free(copy);
	return a;
}

void mig_round_record(migration *m, const mig_round *r)
{
	pthread_mutex_lock(&m->lock);
	m->rounds[m->nrounds++ % MIG_ROUNDS_MAX] = *r;
	pthread_mutex_unlock(&m->lock);
}

json_object *mig_status_json_brief(migration *m)
{
	json_object *o = json_object_new_object();
	mig_status s;

	pthread_mutex_lock(&m->lock);
	s = m->st;
	pthread_mutex_unlock(&m->lock);
	add_flat(o, m, &s);
	json_object_object_add(o, "pages", pages_json(&s));
	json_object_object_add(o, "downtime_parts_ms", parts_json(&s.actual));
	json_object_object_add(o, "predicted_parts_ms",
			       parts_json(&s.predicted));
	json_object_object_add(o, "verify", verify_json(m, &s));
	return o;
}

json_object *mig_status_json(migration *m)
{
	json_object *o = mig_status_json_brief(m);

	json_object_object_add(o, "rounds", rounds_json(m));
	return o;
}

/* Loop thread: push the current status to subscribers. */
static void notify_task(void *arg)
{
	migration *m = arg;

	rpc_server_notify(m->a->rpc, "migration", "migration.progress",
			  mig_status_json_brief(m), NULL);
}

void mig_step(migration *m, qm_event ev, bool source_paused)
{
	qm_error err = QM_ERROR_INIT;
	qm_phase next;

	pthread_mutex_lock(&m->lock);
	if (!qm_phase_step(m->side, m->st.phase, ev, source_paused, &next,
			   &err)) {
		pthread_mutex_unlock(&m->lock);
		pr_err("migration %s: %s", m->id, err.msg);
		return;
	}
	m->st.phase = next;
	if (qm_phase_is_final(next))
		m->st.ended_ms = qm_now_ms();
	pthread_mutex_unlock(&m->lock);
	pr_info("migration %s (%s): %s -> %s", m->id, m->p.vm,
		qm_event_name(ev), qm_phase_name(next));
	agent_mailbox_post(m->a->mb, notify_task, m);
}

void mig_cancel(migration *m)
{
	atomic_store(&m->cancel, true);
	pthread_mutex_lock(&m->lock);
	if (m->tx)
		tp_sender_interrupt(m->tx, TP_ABORT_CANCELLED, "cancelled");
	pthread_mutex_unlock(&m->lock);
}

void mig_fail_msg(migration *m, const qm_error *err)
{
	pthread_mutex_lock(&m->lock);
	if (!m->st.error[0])
		snprintf(m->st.error, sizeof(m->st.error), "%s", err->msg);
	pthread_mutex_unlock(&m->lock);
}

dl_hash mig_chunk_hash(const dl_hasher *h, const dl_hash *pages, uint64_t n)
{
	/* The chunk hash is keyed too: the page hashes of the chunk, hashed
	 * with the migration's secret. */
	XXH128_hash_t x = XXH3_128bits_withSecret(pages, n * sizeof(*pages),
						  h->secret, sizeof(h->secret));

	return (dl_hash){ .lo = x.low64, .hi = x.high64 };
}

bool mig_hash_range(const dl_ram_view *v, const dl_hasher *h, uint64_t first,
		    uint64_t n, dl_hash *pages, dl_hash *chunk, qm_error *err)
{
	if (!dl_ram_view_hash(v, h, first, n, pages, err))
		return false;
	*chunk = mig_chunk_hash(h, pages, n);
	return true;
}
