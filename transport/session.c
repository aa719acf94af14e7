/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What sender and receiver share: the session's lock, failure and ending,
 * the control queues in both directions, thread start/stop, statistics.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- message queues ---- */

void tp_msgq_init(tp_msgq *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->count = 0;
}

void tp_msgq_push(tp_msgq *q, tp_msg *m)
{
	m->next = NULL;
	*q->tail = m;
	q->tail = &m->next;
	q->count++;
}

tp_msg *tp_msgq_pop(tp_msgq *q)
{
	tp_msg *m = q->head;

	if (!m)
		return NULL;
	q->head = m->next;
	if (!q->head)
		q->tail = &q->head;
	q->count--;
	return m;
}

void tp_msgq_free(tp_msgq *q)
{
	tp_msg *m;

	while ((m = tp_msgq_pop(q)))
		free(m);
}

tp_msg *tp_msg_new(size_t len)
{
	tp_msg *m = calloc(1, sizeof(*m) + len);

	if (m)
		m->len = len;
	return m;
}

/* ---- life cycle ---- */

bool tp_session_init(tp_session *s, bool is_sender, int timeout_ms)
{
	pthread_condattr_t ca;

	memset(s, 0, sizeof(*s));
	s->is_sender = is_sender;
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : TP_DEFAULT_TIMEOUT_MS;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	tp_msgq_init(&s->inbox);
	s->min_rtt_ms = -1;
	return true;
}

void tp_session_destroy(tp_session *s)
{
	tp_session_stop(s);
	for (int i = 0; i < s->nstreams; i++) {
		tp_stream_free(s->st[i]);
		s->st[i] = NULL;
	}
	tp_msgq_free(&s->inbox);
	tp_dedup_free(s->dedup);
	tp_image_index_free(&s->image_ix);
	free(s->resend_bm);
	free(s->unres_bm);
	free(s->written_bm);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

void tp_session_wake_all(tp_session *s)
{
	for (int i = 0; i < s->nstreams; i++)
		tp_stream_wake(s->st[i]);
	pthread_cond_broadcast(&s->cond);
}

void tp_session_fail(tp_session *s, const qm_error *e)
{
	pthread_mutex_lock(&s->lock);
	if (!s->failed) {
		s->err = *e;
		__atomic_store_n(&s->failed, 1, __ATOMIC_RELEASE);
		pr_debug("session failed: %s", e->msg);
	}
	tp_session_wake_all(s);
	pthread_mutex_unlock(&s->lock);
}

/* A failure found here: tell the peer with an ABORT when the link still
 * works and the cause is not the peer's own ABORT or the link's death. */
void tp_session_fail_local(tp_session *s, const qm_error *e)
{
	uint32_t code;

	switch (e->code) {
	case QM_ERR_CLOSED:
	case QM_ERR_CANCELLED:
		tp_session_fail(s, e);
		return;
	case QM_ERR_PROTO:
	case QM_ERR_TOO_BIG:
		code = TP_ABORT_PROTOCOL;
		break;
	case QM_ERR_IO:
		code = TP_ABORT_IO;
		break;
	default:
		code = TP_ABORT_CANCELLED;
	}
	tp_session_abort_err(s, code, e->msg, e);
}

void tp_session_failf(tp_session *s, qm_errcode code, const char *fmt, ...)
{
	qm_error e = QM_ERROR_INIT;
	va_list ap;

	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	tp_session_fail(s, &e);
}

bool tp_session_failed_locked(tp_session *s, qm_error *err)
{
	if (!s->failed)
		return false;
	if (err && !qm_error_is_set(err))
		*err = s->err;
	return true;
}

bool tp_peer_abort_error(const tp_frame *f, const char *who, qm_error *err)
{
	char msg[TP_MAX_ABORT_MSG + 1];
	unsigned i;

	/* The peer's text is shown, not trusted: non-printables become '?'. */
	for (i = 0; i < f->u.abort.msg_len; i++) {
		uint8_t c = f->u.abort.msg[i];

		msg[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	msg[i] = '\0';
	qm_error_set(err, QM_ERR_CANCELLED, "%s aborted the migration "
		     "(code %u %s): %s", who, f->u.abort.code,
		     tp_abort_name(f->u.abort.code), msg);
	if (err && err->code == QM_ERR_CANCELLED && !err->subclass)
		err->subclass = (int)f->u.abort.code;
	return false;
}

/* An ABORT from the peer during the session: it has ended, not failed. */
bool tp_session_peer_abort(tp_session *s, const tp_frame *f, const char *who,
			   qm_error *err)
{
	pthread_mutex_lock(&s->lock);
	s->end = TP_END_ABORTED;
	pthread_mutex_unlock(&s->lock);
	return tp_peer_abort_error(f, who, err);
}

void tp_session_abort(tp_session *s, uint32_t code, const char *msg)
{
	qm_error e = QM_ERROR_INIT;

	qm_error_set(&e, QM_ERR_CANCELLED, "migration aborted here (code %u "
		     "%s): %s", code, tp_abort_name(code), msg ? msg : "");
	e.subclass = (int)code;
	tp_session_abort_err(s, code, msg, &e);
}

void tp_session_abort_err(tp_session *s, uint32_t code, const char *msg,
			  const qm_error *why)
{
	uint8_t buf[TP_FRAME_HDR_SIZE + TP_ABORT_FIXED_LEN + TP_MAX_ABORT_MSG];
	size_t n = tp_encode_abort(buf, sizeof(buf), code, msg);
	tp_msg *m = n ? tp_msg_new(n) : NULL;

	pthread_mutex_lock(&s->lock);
	if (s->failed || s->end != TP_END_OPEN || !s->nstreams || !m) {
		pthread_mutex_unlock(&s->lock);
		free(m);
		tp_session_fail(s, why);
		return;
	}
	memcpy(m->data, buf, n);
	tp_msgq_push(&s->st[0]->ctrl, m);
	s->abort_pending = true;
	s->end = TP_END_ABORTED;
	pthread_mutex_unlock(&s->lock);
	tp_session_fail(s, why);
}

/* ---- waiting ---- */

int tp_session_wait(tp_session *s, bool (*pred)(tp_session *), int64_t dl_ns)
{
	struct timespec ts;

	while (!pred(s)) {
		if (s->failed)
			return -1;
		if (qm_now_ns() >= dl_ns)
			return 0;
		ts.tv_sec = dl_ns / 1000000000;
		ts.tv_nsec = dl_ns % 1000000000;
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	return 1;
}

static bool ctrl_has_room(tp_session *s)
{
	return s->st[0]->ctrl.count < TP_CTRLQ_MAX;
}

bool tp_session_send(tp_session *s, int i, tp_msg *m, qm_error *err)
{
	int64_t dl = qm_now_ns() + s->timeout_ms * 1000000LL;
	int rc;

	pthread_mutex_lock(&s->lock);
	if (s->end != TP_END_OPEN && !s->failed) {
		pthread_mutex_unlock(&s->lock);
		free(m);
		return qm_error_set(err, QM_ERR_STATE, "the session has ended");
	}
	rc = i == 0 ? tp_session_wait(s, ctrl_has_room, dl) : 1;
	if (rc > 0)
		tp_msgq_push(&s->st[i]->ctrl, m);
	else if (rc == 0)
		qm_error_set(err, QM_ERR_TIMEOUT, "control queue full for %d "
			     "ms", s->timeout_ms);
	tp_session_failed_locked(s, err);
	pthread_mutex_unlock(&s->lock);
	if (rc <= 0) {
		free(m);
		return false;
	}
	tp_stream_wake(s->st[i]);
	return true;
}

static bool inbox_ready(tp_session *s)
{
	return s->inbox.count > 0;
}

int tp_session_recv_ctrl(tp_session *s, tp_ctrl *c, int timeout_ms,
			 qm_error *err)
{
	int64_t dl = qm_now_ns() + (int64_t)QM_MAX(timeout_ms, 0) * 1000000LL;
	tp_msg *m = NULL;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = tp_session_wait(s, inbox_ready, dl);
	if (rc > 0 || (rc < 0 && inbox_ready(s))) {
		/* Frames that arrived before a failure are still delivered. */
		m = tp_msgq_pop(&s->inbox);
		rc = 1;
	} else if (rc < 0) {
		tp_session_failed_locked(s, err);
	} else if (s->end != TP_END_OPEN) {
		rc = -1;
		qm_error_set(err, QM_ERR_STATE, "the session has ended");
	}
	pthread_mutex_unlock(&s->lock);
	if (m) {
		*c = m->ctrl;
		c->storage = m;
		if (s->nstreams)
			tp_stream_wake(s->st[0]);	/* may resume reading */
	}
	return rc;
}

/* Copy a control body into the inbox; the tp_ctrl view points into it. */
void tp_session_deliver(tp_session *s, const tp_frame *f, const uint8_t *body)
{
	tp_msg *m = tp_msg_new(f->len);
	tp_ctrl *c;

	if (!m) {
		tp_session_failf(s, QM_ERR_NOMEM, "inbox: %u bytes", f->len);
		return;
	}
	memcpy(m->data, body, f->len);
	c = &m->ctrl;
	c->type = f->type;
	c->flags = f->flags;
	switch (f->type) {
	case TP_FRAME_DEVSTATE:
		c->u.devstate.offset = f->u.devstate.offset;
		c->u.devstate.len = f->u.devstate.len;
		c->u.devstate.data = m->data + TP_DEVSTATE_FIXED_LEN;
		c->u.devstate.last = f->flags & TP_FLAG_LAST;
		break;
	case TP_FRAME_VERIFY:
		c->u.verify.level = f->u.verify.level;
		c->u.verify.count = f->u.verify.count;
		c->u.verify.first = f->u.verify.first;
		c->u.verify.span = f->u.verify.span;
		c->u.verify.hashes = m->data + TP_VERIFY_FIXED_LEN;
		break;
	case TP_FRAME_MISMATCH:
		c->u.mismatch.reason = f->u.mismatch.reason;
		c->u.mismatch.count = f->u.mismatch.count;
		c->u.mismatch.round = f->u.mismatch.round;
		c->u.mismatch.pages = m->data + TP_MISMATCH_FIXED_LEN;
		break;
	case TP_FRAME_COMMIT:
		c->u.commit.round = f->u.commit.round;
		break;
	}
	pthread_mutex_lock(&s->lock);
	tp_msgq_push(&s->inbox, m);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

dl_hash tp_ctrl_hash(const tp_ctrl *c, uint32_t i)
{
	if (c->type != TP_FRAME_VERIFY || i >= c->u.verify.count)
		return (dl_hash){ 0, 0 };
	return tp_get_hash(c->u.verify.hashes + 16 * (size_t)i);
}

uint64_t tp_ctrl_page(const tp_ctrl *c, uint32_t i)
{
	if (c->type != TP_FRAME_MISMATCH || i >= c->u.mismatch.count)
		return UINT64_MAX;
	return tp_get64(c->u.mismatch.pages + 8 * (size_t)i);
}

void tp_ctrl_release(tp_ctrl *c)
{
	if (c) {
		free(c->storage);
		c->storage = NULL;
	}
}

/* ---- threads ---- */

bool tp_session_start(tp_session *s, qm_error *err)
{
	/* A TLS failure from now on is the session's (before, the set-up
	 * code asks tp_tls_explain()). */
	for (int i = 0; i < s->nstreams; i++)
		tp_tls_attach(s->st[i]->tls, s, i);
	for (int i = 0; i < s->nstreams; i++) {
		int rc = pthread_create(&s->st[i]->thread, NULL,
					tp_stream_main, s->st[i]);

		char name[16];

		if (rc) {
			qm_error_errno(err, rc, "starting stream thread %d", i);
			tp_session_fail(s, err);
			return false;
		}
		s->st[i]->started = true;
		/* "tp-tx0", "tp-rx1": names for ps, top and the benchmark. */
		snprintf(name, sizeof(name), "tp-%s%d", s->is_sender ? "tx" :
			 "rx", i);
		pthread_setname_np(s->st[i]->thread, name);
	}
	return true;
}

void tp_session_stop(tp_session *s)
{
	for (int i = 0; i < s->nstreams; i++) {
		tp_stream *st = s->st[i];

		if (!st || !st->started)
			continue;
		pthread_join(st->thread, NULL);
		st->started = false;
	}
	/* The session has ended or is about to go: no TLS pump may report
	 * into it any more (tp_tls_attach waits for a report under way). */
	for (int i = 0; i < s->nstreams; i++)
		if (s->st[i])
			tp_tls_attach(s->st[i]->tls, NULL, i);
}

/* ---- statistics ---- */

static void add_counters(tp_stats *t, tp_counters *c)
{
	t->bytes_tx += TP_LOAD(c->bytes_tx);
	t->bytes_rx += TP_LOAD(c->bytes_rx);
	t->frames_tx += TP_LOAD(c->frames_tx);
	t->frames_rx += TP_LOAD(c->frames_rx);
	for (int k = 0; k < TP_FRAME__COUNT; k++) {
		t->bytes_tx_by_type[k] += TP_LOAD(c->tx_by_type[k]);
		t->bytes_rx_by_type[k] += TP_LOAD(c->rx_by_type[k]);
	}
}

static void add_stream(tp_stats *t, tp_stream *st)
{
	t->pages_full += TP_LOAD(st->cnt.pages[TP_PAGE_FULL]);
	t->pages_zero += TP_LOAD(st->cnt.pages[TP_PAGE_ZERO]);
	t->pages_dup += TP_LOAD(st->cnt.pages[TP_PAGE_DUP]);
	t->pages_have += TP_LOAD(st->cnt.pages[TP_PAGE_HAVE]);
	t->pages_resent += TP_LOAD(st->cnt.resent);
	t->refs_deferred += TP_LOAD(st->cnt.deferred);
	t->pages_changed += TP_LOAD(st->cnt.full_changed);
	t->bytes_saved += TP_LOAD(st->cnt.saved);
	add_counters(t, &st->cnt);
}

void tp_session_stats(tp_session *s, tp_stats *t)
{
	int64_t now = qm_now_ns();
	double dt;

	memset(t, 0, sizeof(*t));
	t->streams = s->nstreams;
	add_counters(t, &s->setup);
	for (int i = 0; i < s->nstreams; i++) {
		add_stream(t, s->st[i]);
		t->send_zc |= s->st[i]->zc;
		t->tls |= s->st[i]->tls != NULL;
		t->ktls = (i == 0 || t->ktls) && tp_tls_is_ktls(s->st[i]->tls);
	}
	pthread_mutex_lock(&s->lock);
	/* Throughput: a new sample every >= 100 ms, smoothed by half. */
	dt = (double)(now - s->tput_t0) / 1e9;
	if (s->tput_t0 && dt >= 0.1) {
		double r = (double)(t->bytes_tx - s->tput_b0) / dt;

		s->tput_bps = s->tput_bps ? (s->tput_bps + r) / 2 : r;
	}
	if (!s->tput_t0 || dt >= 0.1) {
		s->tput_t0 = now;
		s->tput_b0 = t->bytes_tx;
	}
	t->throughput_bps = s->tput_bps;
	t->srtt_ms = s->srtt_ms;
	t->min_rtt_ms = s->min_rtt_ms < 0 ? 0 : s->min_rtt_ms;
	t->rounds = s->rounds;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->bucket.lock);
	t->rate_limit_bps = s->bucket.rate;
	pthread_mutex_unlock(&s->bucket.lock);
}
