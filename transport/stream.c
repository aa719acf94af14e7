/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One stream: a TCP connection driven by its own io_uring from its own
 * thread (the liburing examples' shape). At most one read and one send are
 * in flight on the socket, so bytes leave and arrive in order; everything
 * the thread has to do in one wake-up (the eventfd read, the next read,
 * the next send) goes to the kernel in one io_uring_enter().
 *
 * Short reads and sends are advanced and resubmitted; -EAGAIN and -EINTR
 * are resubmitted; with SEND_ZC a buffer is busy until its F_NOTIF
 * completion (the send CQE sets F_MORE when one will follow), and a
 * kernel that refuses SEND_ZC at run time gets plain sends from then on.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { UD_WAKE = 1, UD_READ, UD_SEND };
#define UD(kind, idx) ((uint64_t)(kind) << 32 | (uint32_t)(idx))
#define MSG_IDX 0xffffu

static bool setup_ring(tp_stream *st, qm_error *err)
{
	struct iovec iov[1] = { { st->rxbuf, TP_RXBUF_SIZE } };
	int rc;

	rc = io_uring_queue_init(64, &st->ring, IORING_SETUP_COOP_TASKRUN);
	if (rc == -EINVAL)
		rc = io_uring_queue_init(64, &st->ring, 0);
	if (rc < 0)
		return qm_error_errno(err, -rc, "stream %d: io_uring_queue_init",
				      st->idx);
	st->ring_ok = true;
	/* The receive buffer is read into with READ_FIXED. Frames are sent
	 * with SENDMSG from iovecs (their pages stay in guest RAM), which
	 * registered buffers cannot describe. */
	rc = io_uring_register_buffers(&st->ring, iov, 1);
	if (rc < 0)
		return qm_error_errno(err, -rc, "stream %d: registering the "
				      "receive buffer", st->idx);
	return true;
}

tp_stream *tp_stream_new(tp_session *s, int idx, int fd,
			 const tp_stream_ops *ops, bool zc, qm_error *err)
{
	tp_stream *st = calloc(1, sizeof(*st));

	if (!st) {
		qm_error_set(err, QM_ERR_NOMEM, "stream %d", idx);
		return NULL;
	}
	st->sess = s;
	st->ops = ops;
	st->idx = idx;
	st->fd = fd;
	st->zc = zc;
	tp_msgq_init(&st->ctrl);
	st->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* aligned_alloc wants a size that is a multiple of the alignment. */
	st->rxbuf = aligned_alloc(4096, (TP_RXBUF_SIZE + 4095) & ~4095ul);
	if (s->is_sender) {
		st->txmem = mmap(NULL, (size_t)TP_TXBUFS * TP_TXBUF_SIZE,
				 PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (st->txmem == MAP_FAILED)
			st->txmem = NULL;
		for (int i = 0; st->txmem && i < TP_TXBUFS; i++)
			st->tx[i].base = st->txmem + (size_t)i * TP_TXBUF_SIZE;
	}
	if (!s->is_sender)
		st->defer = calloc(TP_DEFER_MAX, sizeof(*st->defer));
	if (st->efd < 0 || !st->rxbuf || (s->is_sender && !st->txmem) ||
	    (!s->is_sender && !st->defer)) {
		qm_error_errno(err, errno ? errno : ENOMEM, "stream %d: "
			       "buffers", idx);
		st->fd = -1;	/* still the caller's */
		tp_stream_free(st);
		return NULL;
	}
	if (!setup_ring(st, err)) {
		st->fd = -1;
		tp_stream_free(st);
		return NULL;
	}
	tp_stream_next_frame(st);
	return st;
}

void tp_stream_free(tp_stream *st)
{
	if (!st)
		return;
	/* Tear the ring down first: the kernel drops its references to the
	 * buffers (and the pages of SEND_ZC sends) before we free them. */
	if (st->ring_ok)
		io_uring_queue_exit(&st->ring);
	if (st->fd >= 0)
		close(st->fd);
	tp_tls_close(st->tls);	/* after fd: its pump sees the end */
	if (st->efd >= 0)
		close(st->efd);
	if (st->txmem)
		munmap(st->txmem, (size_t)TP_TXBUFS * TP_TXBUF_SIZE);
	free(st->rxbuf);
	free(st->send_msg);
	tp_msgq_free(&st->ctrl);
	free(st->work);
	free(st->defer);
	free(st);
}

void tp_stream_wake(tp_stream *st)
{
	uint64_t one = 1;

	if (st && st->efd >= 0 && write(st->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, a wake-up is pending. */
	}
}

void tp_stream_read(tp_stream *st, int state, size_t off, size_t len)
{
	st->rx_state = state;
	st->rx_off = off;
	st->rx_want = off + len;
	st->rx_msg.msg_iovlen = 0;
}

void tp_stream_next_frame(tp_stream *st)
{
	tp_stream_read(st, TP_RX_HDR, 0, TP_RX_FIRST);
}

void tp_stream_readv(tp_stream *st, int state, unsigned niov)
{
	size_t total = 0;

	for (unsigned i = 0; i < niov; i++)
		total += st->rx_iov[i].iov_len;
	memset(&st->rx_msg, 0, sizeof(st->rx_msg));
	st->rx_msg.msg_iov = st->rx_iov;
	st->rx_msg.msg_iovlen = niov;
	st->rx_state = state;
	st->rx_off = 0;
	st->rx_want = total;
}

void tp_stream_queue_buf(tp_stream *st, int b)
{
	st->tx[b].state = TP_TXB_READY;
	st->fifo[(st->fifo_head + st->fifo_count++) % TP_TXBUFS] = b;
}

int tp_stream_free_buf(tp_stream *st)
{
	for (int i = 0; i < TP_TXBUFS; i++)
		if (st->tx[i].state == TP_TXB_FREE)
			return i;
	return -1;
}

void tp_stream_send_msg(tp_stream *st, tp_msg *m)
{
	pthread_mutex_lock(&st->sess->lock);
	tp_msgq_push(&st->ctrl, m);
	pthread_mutex_unlock(&st->sess->lock);
}

void tp_stream_account_rx(tp_stream *st, unsigned type, uint64_t bytes)
{
	TP_ADD(st->cnt.frames_rx, 1);
	if (type < TP_FRAME__COUNT)
		TP_ADD(st->cnt.rx_by_type[type], bytes);
}

static bool conn_error(tp_stream *st, int errnum, const char *op,
		       qm_error *err)
{
	/* A kTLS socket refuses a record that fails authentication
	 * (EBADMSG) and one that is not application data, an alert (EIO). */
	if (tp_tls_is_ktls(st->tls) && (errnum == EBADMSG || errnum == EIO))
		return qm_error_set(err, QM_ERR_PROTO, "stream %d: TLS: the "
				    "kernel refused a record (%s: %s): changed "
				    "on the path, or an alert from the peer",
				    st->idx, op, strerror(errnum));
	if (errnum == EPIPE || errnum == ECONNRESET)
		return qm_error_set(err, QM_ERR_CLOSED, "stream %d: connection "
				    "lost (%s: %s)", st->idx, op,
				    strerror(errnum));
	return qm_error_errno(err, errnum, "stream %d: %s", st->idx, op);
}

/* ---- sending ---- */

/* Move @m's iovecs past @n bytes a short read or send took. */
static void advance_iov(struct msghdr *m, size_t n)
{
	while (n && m->msg_iovlen) {
		struct iovec *v = m->msg_iov;
		size_t k = QM_MIN(n, v->iov_len);

		v->iov_base = (uint8_t *)v->iov_base + k;
		v->iov_len -= k;
		n -= k;
		if (!v->iov_len) {
			m->msg_iov++;
			m->msg_iovlen--;
		}
	}
}


static struct io_uring_sqe *sqe_get(tp_stream *st)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);

	if (!sqe) {
		io_uring_submit(&st->ring);
		sqe = io_uring_get_sqe(&st->ring);
	}
	return sqe;
}

static void post_send_sqe(tp_stream *st)
{
	struct io_uring_sqe *sqe = sqe_get(st);
	const uint8_t *p = st->send_ptr + st->send_off;
	size_t len = st->send_len - st->send_off;
	int flags = MSG_WAITALL | MSG_NOSIGNAL;
	struct msghdr *m;

	if (st->send_buf >= 0) {
		m = &st->tx[st->send_buf].msg;
		if (st->zc)
			io_uring_prep_sendmsg_zc(sqe, st->fd, m, flags);
		else
			io_uring_prep_sendmsg(sqe, st->fd, m, flags);
	} else {
		io_uring_prep_send(sqe, st->fd, p, len, flags);
	}
	sqe->user_data = UD(UD_SEND, st->send_buf >= 0 ?
			    (unsigned)st->send_buf : MSG_IDX);
	st->send_busy = true;
}

/* Start the next send: control frames first, then built frames in order
 * (those pay the rate limit). */
static void start_send(tp_stream *st)
{
	tp_session *s = st->sess;
	tp_msg *m;
	int b;

	if (st->send_busy || st->tx_dead_ns)
		return;
	pthread_mutex_lock(&s->lock);
	m = tp_msgq_pop(&st->ctrl);
	if (m)
		pthread_cond_broadcast(&s->cond);	/* queue space */
	pthread_mutex_unlock(&s->lock);
	if (m) {
		st->send_msg = m;
		st->send_buf = -1;
		st->send_ptr = m->data;
		st->send_len = m->len;
	} else if (st->fifo_count && !tp_failed(s)) {
		int64_t now = qm_now_ns(), wait;

		b = st->fifo[st->fifo_head];
		if (now < st->rate_wait_until)
			return;
		wait = tp_bucket_take(&s->bucket, st->tx[b].len, now);
		if (wait) {
			st->rate_wait_until = now + wait;
			return;
		}
		st->fifo_head = (st->fifo_head + 1) % TP_TXBUFS;
		st->fifo_count--;
		st->tx[b].state = TP_TXB_SENDING;
		memset(&st->tx[b].msg, 0, sizeof(st->tx[b].msg));
		st->tx[b].msg.msg_iov = st->tx[b].iov;
		st->tx[b].msg.msg_iovlen = st->tx[b].niov;
		st->send_buf = b;
		st->send_ptr = st->tx[b].frame;
		st->send_len = st->tx[b].len;
	} else {
		return;
	}
	st->send_off = 0;
	post_send_sqe(st);
}

static void send_done(tp_stream *st)
{
	tp_session *s = st->sess;
	unsigned type = tp_get16(st->send_ptr);

	st->send_busy = false;
	TP_ADD(st->cnt.frames_tx, 1);
	if (type < TP_FRAME__COUNT)
		TP_ADD(st->cnt.tx_by_type[type], st->send_len);
	if (st->send_buf < 0) {
		if (type == TP_FRAME_ABORT) {
			pthread_mutex_lock(&s->lock);
			s->abort_pending = false;
			pthread_mutex_unlock(&s->lock);
		}
		free(st->send_msg);
		st->send_msg = NULL;
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->cond);	/* "sent" waiters */
		pthread_mutex_unlock(&s->lock);
		return;
	}
	st->tx[st->send_buf].state = st->tx[st->send_buf].notifs ?
				     TP_TXB_NOTIF : TP_TXB_FREE;
}

static bool on_send_cqe(tp_stream *st, unsigned idx, int res, unsigned flags,
			qm_error *err)
{
	if (flags & IORING_CQE_F_NOTIF) {
		if (idx < TP_TXBUFS && !--st->tx[idx].notifs &&
		    st->tx[idx].state == TP_TXB_NOTIF)
			st->tx[idx].state = TP_TXB_FREE;
		st->zc_pending--;
		return true;
	}
	if ((flags & IORING_CQE_F_MORE) && idx < TP_TXBUFS) {
		st->tx[idx].notifs++;
		st->zc_pending++;
	}
	if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS) {
		post_send_sqe(st);
		return true;
	}
	if (res < 0 && st->zc && idx < TP_TXBUFS &&
	    (res == -EOPNOTSUPP || res == -EINVAL)) {
		pr_warn("stream %d: SEND_ZC refused (%s), using plain send",
			st->idx, strerror(-res));
		st->zc = false;
		post_send_sqe(st);
		return true;
	}
	if (res < 0) {
		/* Whatever it was (our ABORT too), it cannot go out. */
		pthread_mutex_lock(&st->sess->lock);
		if (st->idx == 0)
			st->sess->abort_pending = false;
		pthread_mutex_unlock(&st->sess->lock);
		st->send_busy = false;
		if (res != -EPIPE && res != -ECONNRESET)
			return conn_error(st, -res, "send", err);
		/* The peer reset the link, maybe right after an ABORT that
		 * is still unread here: read on before failing. */
		conn_error(st, -res, "send", &st->tx_err);
		st->tx_dead_ns = qm_now_ns();
		return true;
	}
	st->send_off += res;
	if (idx < TP_TXBUFS)
		advance_iov(&st->tx[idx].msg, res);
	TP_ADD(st->cnt.bytes_tx, res);
	st->last_progress_ns = qm_now_ns();
	if (st->send_off < st->send_len)
		post_send_sqe(st);
	else
		send_done(st);
	return true;
}

/* ---- receiving ---- */

static void post_read(tp_stream *st)
{
	struct io_uring_sqe *sqe;
	size_t len = st->rx_want - st->rx_off;

	if (st->read_busy || st->rx_stalled || st->eof || !len)
		return;
	sqe = sqe_get(st);
	if (st->rx_msg.msg_iovlen)
		io_uring_prep_recvmsg(sqe, st->fd, &st->rx_msg, MSG_WAITALL);
	else
		io_uring_prep_read_fixed(sqe, st->fd, st->rxbuf + st->rx_off,
					 len, 0, 0);
	sqe->user_data = UD(UD_READ, 0);
	st->read_busy = true;
}

#define B(t) (1u << TP_FRAME_##t)
/*
 * Frames each side accepts once its streams run (PROTOCOL.md "States"):
 * [sender?][stream 0 or not]. The set-up frames (HELLO, AUTH, SETUP, HAVE)
 * belong to the handshake and are refused here. After COMMIT the receiver
 * takes only PING and ABORT.
 */
static const uint32_t accepted[2][2] = {
	{ B(PAGES) | B(ROUND_END) | B(DEVSTATE) | B(VERIFY) | B(MISMATCH) |
	  B(COMMIT) | B(ABORT) | B(PING),
	  B(PAGES) | B(ROUND_END) },
	{ B(ACK) | B(MISMATCH) | B(VERIFY) | B(ABORT),
	  0 },
};

static bool check_allowed(tp_stream *st, unsigned type, qm_error *err)
{
	tp_session *s = st->sess;
	uint32_t mask = accepted[s->is_sender][st->idx != 0];

	/* commit_seen is written by stream 0's own thread. */
	if (!s->is_sender && st->idx == 0 && s->commit_seen)
		mask &= B(PING) | B(ABORT);
	if (!(mask >> type & 1))
		return qm_error_set(err, QM_ERR_PROTO, "frame %s not allowed "
				    "on stream %d of the %s %s",
				    tp_frame_name(type), st->idx,
				    s->is_sender ? "sender" : "receiver",
				    (!st->idx && s->commit_seen) ?
				    "after COMMIT" :
				    "once running");
	return true;
}

static bool header_done(tp_stream *st, qm_error *err)
{
	tp_frame *f = &st->rx_frame;

	if (!tp_frame_check_header(st->rxbuf, TP_FRAME_HDR_SIZE, f, err) ||
	    !check_allowed(st, f->type, err))
		return false;
	if (st->ops->on_header && st->ops->on_header(st, err))
		return !qm_error_is_set(err);
	if (qm_error_is_set(err))
		return false;
	tp_stream_read(st, TP_RX_BODY, TP_RX_FIRST, f->len - 8);
	return true;
}

static bool body_done(tp_stream *st, qm_error *err)
{
	tp_frame *f = &st->rx_frame;

	if (!tp_frame_decode_body(f, st->rxbuf + TP_FRAME_HDR_SIZE,
				  &st->sess->lim, err))
		return false;
	tp_stream_account_rx(st, f->type, TP_FRAME_HDR_SIZE + f->len);
	tp_stream_next_frame(st);
	return st->ops->on_frame(st, f, err);
}

static bool read_complete(tp_stream *st, qm_error *err)
{
	bool ok;

	switch (st->rx_state) {
	case TP_RX_HDR:
		ok = header_done(st, err);
		if (ok && st->rx_state == TP_RX_BODY && st->rx_frame.len == 8)
			ok = body_done(st, err);
		break;
	case TP_RX_BODY:
		ok = body_done(st, err);
		break;
	default:
		ok = st->ops->on_read(st, err);
	}
	if (!ok)
		qm_error_prepend(err, "stream %d", st->idx);
	return ok;
}

static bool on_eof(tp_stream *st, qm_error *err)
{
	tp_session *s = st->sess;
	bool ended;

	if (st->rx_state != TP_RX_HDR || st->rx_off)
		return qm_error_set(err, QM_ERR_CLOSED, "stream %d: peer closed "
				    "the connection mid-frame (%s)", st->idx,
				    tp_frame_name(st->rx_frame.type));
	st->eof = true;
	pthread_mutex_lock(&s->lock);
	ended = s->end != TP_END_OPEN;
	pthread_mutex_unlock(&s->lock);
	/* Stream 0 carries COMMIT/ABORT: its EOF decides. Another stream may
	 * see its EOF first when the peer closes after a clean end. */
	if (ended || st->idx)
		return true;
	return qm_error_set(err, QM_ERR_CLOSED, "stream 0: peer closed the "
			    "connection without COMMIT or ABORT");
}

static bool on_read_cqe(tp_stream *st, int res, qm_error *err)
{
	st->read_busy = false;
	if (res == -EAGAIN || res == -EINTR || res == -ENOBUFS)
		return true;
	if (res < 0)
		return conn_error(st, -res, "recv", err);
	if (res == 0)
		return on_eof(st, err);
	TP_ADD(st->cnt.bytes_rx, res);
	st->last_rx_ns = st->last_progress_ns = qm_now_ns();
	if (st->rx_msg.msg_iovlen)
		advance_iov(&st->rx_msg, res);
	st->rx_off += res;
	if (st->rx_off < st->rx_want)
		return true;
	return read_complete(st, err);
}

/* ---- the loop ---- */

static void post_wake(tp_stream *st)
{
	struct io_uring_sqe *sqe;

	if (st->wake_posted)
		return;
	sqe = sqe_get(st);
	io_uring_prep_read(sqe, st->efd, &st->wake_val, sizeof(st->wake_val),
			   0);
	sqe->user_data = UD(UD_WAKE, 0);
	st->wake_posted = true;
}

static bool on_cqe(tp_stream *st, const struct io_uring_cqe *c,
		   qm_error *err)
{
	switch (c->user_data >> 32) {
	case UD_WAKE:
		st->wake_posted = false;
		return true;
	case UD_READ:
		return on_read_cqe(st, c->res, err);
	case UD_SEND:
		return on_send_cqe(st, (uint32_t)c->user_data, c->res,
				   c->flags, err);
	}
	return true;
}

static int64_t wait_ns(tp_stream *st, int64_t now)
{
	int64_t t = now + 100 * 1000000LL, o;	/* stall checks */

	if (st->fifo_count && st->rate_wait_until > now)
		t = QM_MIN(t, st->rate_wait_until);
	o = st->ops->next_timer_ns ? st->ops->next_timer_ns(st) : 0;
	if (o)
		t = QM_MIN(t, o);
	return QM_MAX(t - now, 10000);
}

static bool wait_and_dispatch(tp_stream *st, qm_error *err)
{
	int64_t ns = wait_ns(st, qm_now_ns());
	struct __kernel_timespec ts = { ns / 1000000000, ns % 1000000000 };
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	bool ok = true;
	int rc;

	rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY)
		return qm_error_errno(err, -rc, "stream %d: io_uring wait",
				      st->idx);
	/* Every completion is handled even after an error, so buffer and
	 * in-flight state stay exact for the ABORT that may still go out. */
	io_uring_for_each_cqe(&st->ring, head, cqe) {
		n++;
		ok &= on_cqe(st, cqe, err);
	}
	io_uring_cq_advance(&st->ring, n);
	return ok;
}

static bool check_stall(tp_stream *st, qm_error *err)
{
	tp_session *s = st->sess;
	int64_t now = qm_now_ns(), limit = s->timeout_ms * 1000000LL;
	bool sending = st->send_busy || st->fifo_count;

	/* A dead link whose last words (ABORT, EOF) have been read, or did
	 * not come within half a second. */
	if (st->tx_dead_ns && (st->eof || now - st->tx_dead_ns > 500000000LL)) {
		*err = st->tx_err;
		return false;
	}
	if (sending && st->rate_wait_until <= now &&
	    now - st->last_progress_ns > limit)
		return qm_error_set(err, QM_ERR_TIMEOUT, "stream %d: no "
				    "progress sending for %d ms", st->idx,
				    s->timeout_ms);
	if (!s->is_sender && st->idx == 0 && !st->rx_stalled && !st->eof &&
	    now - st->last_rx_ns > limit)
		return qm_error_set(err, QM_ERR_TIMEOUT, "stream 0: nothing "
				    "from the sender for %d ms", s->timeout_ms);
	if (!sending)
		st->last_progress_ns = now;
	return true;
}

static bool should_exit(tp_stream *st)
{
	tp_session *s = st->sess;
	bool out;

	pthread_mutex_lock(&s->lock);
	if (s->err.code && st->idx == 0 && s->abort_pending)
		out = false;	/* our ABORT still has to go out */
	else if (s->err.code)
		out = true;
	else
		out = s->end != TP_END_OPEN && !st->send_busy &&
		      !st->ctrl.count;
	pthread_mutex_unlock(&s->lock);
	return out;
}

void *tp_stream_main(void *arg)
{
	tp_stream *st = arg;
	qm_error e = QM_ERROR_INIT;
	int64_t abort_deadline = 0;

	st->last_progress_ns = st->last_rx_ns = qm_now_ns();
	while (!should_exit(st)) {
		if (tp_failed(st->sess) && !abort_deadline)
			abort_deadline = qm_now_ns() + 1000000000LL;
		if (abort_deadline && qm_now_ns() > abort_deadline)
			break;	/* the ABORT could not be sent: give up */
		if (st->ops->pump && !tp_failed(st->sess))
			st->ops->pump(st);
		post_wake(st);
		start_send(st);
		if (!tp_failed(st->sess))
			post_read(st);
		if (!wait_and_dispatch(st, &e) || !check_stall(st, &e)) {
			tp_session_fail_local(st->sess, &e);
			qm_error_clear(&e);
		}
	}
	/* FIN after what was sent; the peer's EOF handling decides. */
	shutdown(st->fd, tp_failed(st->sess) ? SHUT_RDWR : SHUT_WR);
	return NULL;
}
