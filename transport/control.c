/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sender control: flush (ROUND_END on every stream, wait for the ACK,
 * resend what the receiver could not materialise), control frames to the
 * receiver, COMMIT and ABORT.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t wire_bytes(tp_session *s)
{
	uint64_t b = 0;

	for (int i = 0; i < s->nstreams; i++)
		b += TP_LOAD(s->st[i]->cnt.bytes_tx) +
		     TP_LOAD(s->st[i]->cnt.bytes_rx);
	return b;
}

/*
 * Under s->lock: wait until @pred holds, failing on session failure or
 * when nothing moves on the wire for the timeout (so a long transfer may
 * take as long as it needs, a dead peer may not).
 */
static bool wait_progress(tp_session *s, bool (*pred)(tp_session *),
			  int timeout_ms, const char *what, qm_error *err)
{
	int64_t last = qm_now_ns(), limit = timeout_ms * 1000000LL;
	uint64_t bytes = wire_bytes(s);
	int rc;

	for (;;) {
		rc = tp_session_wait(s, pred, qm_now_ns() + 100000000LL);
		if (rc > 0)
			return true;
		if (rc < 0)
			return tp_session_failed_locked(s, err), false;
		if (wire_bytes(s) != bytes) {
			bytes = wire_bytes(s);
			last = qm_now_ns();
		} else if (qm_now_ns() - last > limit) {
			return qm_error_set(err, QM_ERR_TIMEOUT, "%s: nothing "
					    "moved for %d ms", what, timeout_ms);
		}
	}
}

static bool epoch_acked(tp_session *s)
{
	return s->epoch_acked >= s->epoch_sent;
}

/* Under s.lock: queue every page the receiver asked for again. */
static bool requeue_resends(tp_sender *t, uint64_t *count, qm_error *err)
{
	tp_session *s = &t->s;
	uint32_t woken = 0;
	uint64_t w, start = 0, n = 0;

	for (w = 0; w < (s->lim.npages + 63) / 64 && s->resend_count; w++) {
		while (s->resend_bm[w]) {
			uint64_t p = w * 64 + __builtin_ctzll(s->resend_bm[w]);

			s->resend_bm[w] &= s->resend_bm[w] - 1;
			s->resend_count--;
			(*count)++;
			if (n && p == start + n) {
				n++;
				continue;
			}
			if (n && !tp_sender_queue_locked(t, start, n,
							 TP_WORK_FORCE_FULL,
							 &woken, err))
				return false;
			start = p;
			n = 1;
		}
	}
	return !n || tp_sender_queue_locked(t, start, n, TP_WORK_FORCE_FULL,
					    &woken, err);
}

/* One pass: ROUND_END on every stream, then wait for the ACK. Returns the
 * number of pages to resend in *@resend. */
static bool flush_pass(tp_sender *t, uint64_t round, uint64_t *resend,
		       qm_error *err)
{
	tp_session *s = &t->s;
	bool ok;

	pthread_mutex_lock(&s->lock);
	ok = tp_sender_usable(t, err);
	if (ok) {
		tp_work mark = { .round = round, .flags = TP_WORK_MARK,
				 .epoch = ++s->epoch_sent };

		for (int i = 0; ok && i < s->nstreams; i++) {
			ok = tp_sender_push_locked(t, i, &mark, err);
			tp_stream_wake(s->st[i]);
		}
	}
	if (ok)
		ok = wait_progress(s, epoch_acked, s->timeout_ms, "flush",
				   err);
	if (ok && s->resend_count)
		ok = requeue_resends(t, resend, err);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void round_stats(tp_sender *t, uint64_t round, int passes,
			uint64_t resent, tp_round_stats *rs)
{
	tp_stats now;

	tp_session_stats(&t->s, &now);
	if (rs) {
		rs->round = round;
		rs->pages_full = now.pages_full - t->last.pages_full;
		rs->pages_zero = now.pages_zero - t->last.pages_zero;
		rs->pages_dup = now.pages_dup - t->last.pages_dup;
		rs->pages_have = now.pages_have - t->last.pages_have;
		rs->pages_resent = resent;
		rs->bytes_tx = now.bytes_tx - t->last.bytes_tx;
		rs->bytes_rx = now.bytes_rx - t->last.bytes_rx;
		rs->passes = passes;
		rs->elapsed_ns = qm_now_ns() - t->last_flush_ns;
	}
	t->last = now;
	t->last_flush_ns = qm_now_ns();
}

bool tp_sender_flush(tp_sender *t, uint64_t round, tp_round_stats *rs,
		     qm_error *err)
{
	uint64_t resent = 0, before;
	int passes = 0;

	do {
		if (passes++ == TP_RESEND_PASSES)
			return qm_error_set(err, QM_ERR_PROTO, "flush of round "
					    "%llu: pages still unresolved after "
					    "%d passes",
					    (unsigned long long)round,
					    TP_RESEND_PASSES);
		before = resent;
		if (!flush_pass(t, round, &resent, err))
			return false;
	} while (resent != before);
	TP_ADD(t->s.st[0]->cnt.resent, resent);
	round_stats(t, round, passes, resent, rs);
	return true;
}

/* ---- control frames ---- */

static bool send_ctrl(tp_sender *t, tp_msg *m, size_t len, qm_error *err)
{
	bool ok;

	if (!len) {
		free(m);
		return qm_error_set(err, QM_ERR_INVAL, "control frame over its "
				    "limit");
	}
	m->len = len;
	pthread_mutex_lock(&t->s.lock);
	ok = tp_sender_usable(t, err);
	pthread_mutex_unlock(&t->s.lock);
	if (!ok) {
		free(m);
		return false;
	}
	return tp_session_send(&t->s, 0, m, err);
}

#define NEW_MSG(m, body)						\
	do {								\
		(m) = tp_msg_new(TP_FRAME_HDR_SIZE + (body));		\
		if (!(m))						\
			return qm_error_set(err, QM_ERR_NOMEM,		\
					    "control frame");		\
	} while (0)

bool tp_sender_send_devstate(tp_sender *t, uint64_t offset, const void *data,
			     size_t len, bool last, qm_error *err)
{
	tp_msg *m;

	if (len > TP_MAX_DEVSTATE_CHUNK)
		return qm_error_set(err, QM_ERR_INVAL, "DEVSTATE: %zu bytes "
				    "exceed limit %u", len,
				    TP_MAX_DEVSTATE_CHUNK);
	NEW_MSG(m, TP_DEVSTATE_FIXED_LEN + len);
	return send_ctrl(t, m, tp_encode_devstate(m->data, m->len, offset,
			 data, (uint32_t)len, last), err);
}

bool tp_sender_send_verify(tp_sender *t, tp_verify_level level,
			   uint64_t first, uint64_t span, const dl_hash *hashes,
			   size_t n, qm_error *err)
{
	tp_msg *m;

	if (n > TP_MAX_VERIFY_HASHES)
		return qm_error_set(err, QM_ERR_INVAL, "VERIFY: %zu hashes "
				    "exceed limit %d", n, TP_MAX_VERIFY_HASHES);
	NEW_MSG(m, TP_VERIFY_FIXED_LEN + 16 * n);
	return send_ctrl(t, m, tp_encode_verify(m->data, m->len, level, first,
			 span, hashes, (uint32_t)n), err);
}

bool tp_sender_send_mismatch(tp_sender *t, tp_mismatch_reason reason,
			     uint64_t round, const uint64_t *pages, size_t n,
			     qm_error *err)
{
	tp_msg *m;

	if (n > TP_MAX_MISMATCH_PAGES)
		return qm_error_set(err, QM_ERR_INVAL, "MISMATCH: %zu pages "
				    "exceed limit %d", n, TP_MAX_MISMATCH_PAGES);
	NEW_MSG(m, TP_MISMATCH_FIXED_LEN + 8 * n);
	return send_ctrl(t, m, tp_encode_mismatch(m->data, m->len, reason,
			 round, pages, (uint32_t)n), err);
}

int tp_sender_recv_ctrl(tp_sender *t, tp_ctrl *c, int timeout_ms,
			qm_error *err)
{
	if (!t->connected)
		return qm_error_set(err, QM_ERR_STATE, "sender: not "
				    "connected"), -1;
	return tp_session_recv_ctrl(&t->s, c, timeout_ms, err);
}

static bool commit_acked(tp_session *s)
{
	return s->commit_acked;
}

bool tp_sender_commit(tp_sender *t, uint64_t final_round, int timeout_ms,
		      qm_error *err)
{
	tp_msg *m;
	bool ok;

	NEW_MSG(m, TP_COMMIT_LEN);
	if (!send_ctrl(t, m, tp_encode_commit(m->data, m->len, final_round),
		       err))
		return false;
	pthread_mutex_lock(&t->s.lock);
	ok = wait_progress(&t->s, commit_acked, timeout_ms > 0 ? timeout_ms :
			   t->s.timeout_ms, "COMMIT", err);
	pthread_mutex_unlock(&t->s.lock);
	if (!ok)
		qm_error_prepend(err, "COMMIT in doubt");
	else
		tp_session_wake_all(&t->s);	/* threads see the end */
	return ok;
}

void tp_sender_interrupt(tp_sender *t, tp_abort_code code, const char *msg)
{
	/* Only the session's lock-protected part: the streams are stopped
	 * and joined by the owner. */
	tp_session_abort(&t->s, code, msg);
}

void tp_sender_abort(tp_sender *t, tp_abort_code code, const char *msg)
{
	tp_session_abort(&t->s, code, msg);
	tp_session_stop(&t->s);
}
