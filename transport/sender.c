/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sender: configuration, connection set-up (handshake, SETUP, HAVE),
 * the bounded per-stream queues, flush with resends, commit and abort.
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool check_config(const dl_ram *ram, const tp_sender_config *c,
			 qm_error *err)
{
	if (!ram || !ram->npages || ram->npages > TP_MAX_RAM_PAGES)
		return qm_error_set(err, QM_ERR_INVAL, "sender: RAM has %llu "
				    "pages, expected 1..%llu",
				    ram ? (unsigned long long)ram->npages : 0,
				    (unsigned long long)TP_MAX_RAM_PAGES);
	if (c->streams < 0 || c->streams > TP_MAX_STREAMS)
		return qm_error_set(err, QM_ERR_INVAL, "sender: streams %d "
				    "outside 1..%d", c->streams,
				    TP_MAX_STREAMS);
	if (!c->psk || c->psk_len < TP_PSK_MIN || c->psk_len > TP_PSK_MAX)
		return qm_error_set(err, QM_ERR_INVAL, "sender: pre-shared key "
				    "of %zu bytes, expected %d..%d",
				    c->psk ? c->psk_len : 0, TP_PSK_MIN,
				    TP_PSK_MAX);
	if (c->vm_name && strlen(c->vm_name) >= TP_NAME_MAX)
		return qm_error_set(err, QM_ERR_INVAL, "sender: VM name of %zu "
				    "bytes, limit %d", strlen(c->vm_name),
				    TP_NAME_MAX - 1);
	return true;
}

tp_sender *tp_sender_new(const dl_ram *ram, const dl_hasher *h,
			 const tp_sender_config *cfg, qm_error *err)
{
	tp_sender *t;

	if (!check_config(ram, cfg, err))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t) {
		qm_error_set(err, QM_ERR_NOMEM, "sender");
		return NULL;
	}
	tp_session_init(&t->s, true, cfg->timeout_ms);
	t->s.ram = ram;
	t->s.h = *h;
	t->s.lim.npages = ram->npages;
	t->s.ping_ms = cfg->ping_interval_ms > 0 ? cfg->ping_interval_ms :
		       TP_DEFAULT_PING_MS;
	t->s.on_sent = cfg->on_sent;
	t->s.on_sent_opaque = cfg->on_sent_opaque;
	tp_bucket_init(&t->s.bucket, cfg->rate_bps);
	memcpy(t->psk, cfg->psk, cfg->psk_len);
	t->psk_len = cfg->psk_len;
	memcpy(t->migration_id, cfg->migration_id, TP_MIGRATION_ID_SIZE);
	snprintf(t->vm_name, sizeof(t->vm_name), "%s",
		 cfg->vm_name ? cfg->vm_name : "");
	t->streams = cfg->streams ? cfg->streams : TP_DEFAULT_STREAMS;
	t->queue_runs = cfg->queue_runs > 0 ? cfg->queue_runs : 1024;
	t->send_mode = cfg->send_mode;
	t->s.dedup = tp_dedup_new(ram->npages);
	t->s.resend_bm = calloc((ram->npages + 63) / 64, 8);
	if (!t->s.dedup || !t->s.resend_bm) {
		qm_error_set(err, QM_ERR_NOMEM, "sender: dedup index");
		tp_sender_free(t);
		return NULL;
	}
	if (cfg->tls) {
		t->tls = tp_tls_ctx_new(false, cfg->psk, cfg->psk_len, err);
		if (!t->tls) {
			tp_sender_free(t);
			return NULL;
		}
	}
	return t;
}

static bool is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const struct in6_addr *a6;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
			24) == 127;
	a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a6) ||
	       (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* Probe, environment, mode, peer: see tp_send_mode. */
static bool use_zc(const tp_sender *t, int fd)
{
	const tp_features *f = tp_features_get();

	/* TLS encrypts into new buffers (kernel or pump): nothing to gain
	 * from sending guest pages by reference. */
	if (!f->send_zc || f->send_zc_forced_off ||
	    t->send_mode == TP_SEND_COPY || t->tls)
		return false;
	if (f->send_zc_forced_on || t->send_mode == TP_SEND_ZC)
		return true;
	return !is_loopback(fd);
}

static bool send_setup(tp_sender *t, int fd, tp_hs *hs, qm_error *err)
{
	const dl_ram *ram = t->s.ram;
	tp_block bl[TP_MAX_BLOCKS];
	size_t n;
	tp_frame f;

	for (int i = 0; i < ram->nregions; i++) {
		snprintf(bl[i].id, sizeof(bl[i].id), "%s",
			 ram->regions[i].id[0] ? ram->regions[i].id : "ram");
		bl[i].size = ram->regions[i].size;
	}
	n = tp_encode_setup(hs->buf, TP_RXBUF_SIZE, t->vm_name,
			    t->s.h.secret, bl, ram->nregions);
	if (!n)
		return qm_error_set(err, QM_ERR_INVAL, "SETUP: cannot encode");
	if (!tp_sock_write(fd, hs->buf, n, hs->deadline_ns, hs->cnt, err) ||
	    !tp_sock_read_frame(fd, hs->buf, TP_RXBUF_SIZE, &t->s.lim,
				hs->deadline_ns, hs->cnt, &f, err))
		return false;
	if (f.type == TP_FRAME_ABORT)
		return tp_peer_abort_error(&f, "receiver", err);
	if (f.type != TP_FRAME_ACK || f.u.ack.type != TP_FRAME_SETUP)
		return qm_error_set(err, QM_ERR_PROTO, "SETUP answered with "
				    "%s, expected ACK", tp_frame_name(f.type));
	return true;
}

/* Read HAVE frames until LAST; every hash goes into the dedup index. */
static bool read_have(tp_sender *t, int fd, tp_hs *hs, qm_error *err)
{
	tp_frame f;

	do {
		if (!tp_sock_read_frame(fd, hs->buf, TP_RXBUF_SIZE, &t->s.lim,
					hs->deadline_ns, hs->cnt, &f, err))
			return false;
		if (f.type == TP_FRAME_ABORT)
			return tp_peer_abort_error(&f, "receiver", err);
		if (f.type != TP_FRAME_HAVE)
			return qm_error_set(err, QM_ERR_PROTO, "frame %s, "
					    "expected HAVE",
					    tp_frame_name(f.type));
		if (f.u.have.count > t->s.lim.npages - t->s.have_total)
			return qm_error_set(err, QM_ERR_TOO_BIG, "frame HAVE: "
					    "%llu hashes in all exceed the "
					    "RAM's %llu pages",
					    (unsigned long long)(t->s.have_total
					    + f.u.have.count),
					    (unsigned long long)t->s.lim.npages);
		t->s.have_total += f.u.have.count;
		for (uint32_t i = 0; i < f.u.have.count; i++)
			tp_dedup_put(t->s.dedup,
				     tp_get_hash(f.u.have.hashes + 16 * i),
				     TP_DEDUP_HAVE, true);
	} while (!(f.flags & TP_FLAG_LAST));
	return true;
}

static bool open_stream(tp_sender *t, int i, const char *host, uint16_t port,
			uint8_t *buf, qm_error *err)
{
	tp_hs hs = { .cnt = &t->s.setup, .psk = t->psk,
		     .psk_len = t->psk_len, .buf = buf,
		     .stream = (uint16_t)i, .nstreams = (uint16_t)t->streams };
	tp_tls *tls = NULL;
	char name[16];
	int fd, tcp;

	hs.deadline_ns = qm_now_ns() + t->s.timeout_ms * 1000000LL;
	memcpy(hs.migration_id, t->migration_id, TP_MIGRATION_ID_SIZE);
	fd = tcp = tp_sock_connect(host, port, hs.deadline_ns, err);
	if (fd < 0)
		return false;
	/* TLS first, within the same deadline; the qmig handshake, SETUP
	 * and HAVE then run inside it, on the byte stream it gives. */
	snprintf(name, sizeof(name), "tp-tx%d-tls", i % TP_MAX_STREAMS);
	if (t->tls) {
		tls = tp_tls_open(t->tls, tcp, name, hs.deadline_ns, &fd, err);
		if (!tls) {
			close(tcp);
			qm_error_prepend(err, "stream %d", i);
			return false;
		}
	}
	if (!tp_hs_client(fd, &hs, err) ||
	    (i == 0 && (!send_setup(t, fd, &hs, err) ||
			!read_have(t, fd, &hs, err)))) {
		tp_tls_explain(tls, err);
		close(fd);
		tp_tls_close(tls);
		qm_error_prepend(err, "stream %d", i);
		return false;
	}
	t->s.st[i] = tp_stream_new(&t->s, i, fd, &tp_tx_ops, use_zc(t, fd),
				   err);
	if (!t->s.st[i]) {
		close(fd);
		tp_tls_close(tls);
		return false;
	}
	t->s.st[i]->tls = tls;
	t->s.nstreams = i + 1;
	t->s.st[i]->work = calloc(t->queue_runs, sizeof(tp_work));
	t->s.st[i]->work_cap = t->queue_runs;
	return t->s.st[i]->work ||
	       qm_error_set(err, QM_ERR_NOMEM, "stream %d queue", i);
}

bool tp_sender_connect(tp_sender *t, const char *host, uint16_t port,
		       qm_error *err)
{
	uint8_t *buf;
	bool ok = true;

	if (t->connected || t->s.nstreams)
		return qm_error_set(err, QM_ERR_STATE, "sender: already "
				    "connected");
	buf = malloc(TP_RXBUF_SIZE);
	if (!buf)
		return qm_error_set(err, QM_ERR_NOMEM, "sender: buffer");
	for (int i = 0; ok && i < t->streams; i++)
		ok = open_stream(t, i, host, port, buf, err);
	free(buf);
	if (ok)
		ok = tp_session_start(&t->s, err);
	if (!ok) {
		/* Tell the receiver, if stream 0 is up (best effort). */
		if (t->s.nstreams)
			tp_sock_send_abort(t->s.st[0]->fd, TP_ABORT_SETUP,
					   err ? err->msg : "set-up failed");
		tp_session_stop(&t->s);
		for (int i = 0; i < t->s.nstreams; i++) {
			tp_stream_free(t->s.st[i]);
			t->s.st[i] = NULL;
		}
		t->s.nstreams = 0;
		return false;
	}
	t->connected = true;
	t->last_flush_ns = qm_now_ns();
	tp_session_stats(&t->s, &t->last);
	pr_info("sender: %d streams to %s port %u, %s, %s, %llu HAVE hashes",
		t->streams, host, port, t->s.st[0]->zc ? "SEND_ZC" : "send",
		!t->tls ? "no TLS" : tp_tls_is_ktls(t->s.st[0]->tls) ?
		"TLS 1.3 (kTLS)" : "TLS 1.3 (user-space pump)",
		(unsigned long long)t->s.have_total);
	return true;
}

/* ---- queueing ---- */

bool tp_sender_usable(tp_sender *t, qm_error *err)
{
	if (!t->connected)
		return qm_error_set(err, QM_ERR_STATE, "sender: not connected");
	if (tp_session_failed_locked(&t->s, err))
		return false;
	if (t->s.end != TP_END_OPEN)
		return qm_error_set(err, QM_ERR_STATE, "sender: session ended");
	return true;
}

bool tp_sender_push_locked(tp_sender *t, int i, const tp_work *w,
			   qm_error *err)
{
	tp_stream *st = t->s.st[i];
	int64_t dl = qm_now_ns() + t->s.timeout_ms * 1000000LL;
	tp_work *last;

	/* One stream: runs stay whole, so merge a contiguous one. */
	last = st->work_count ? &st->work[(st->work_head + st->work_count - 1) %
					  st->work_cap] : NULL;
	if (last && !w->flags && !last->flags &&
	    last->first + last->n == w->first) {
		last->n += w->n;
		return true;
	}
	while (st->work_count == st->work_cap) {
		struct timespec ts = { dl / 1000000000, dl % 1000000000 };

		if (!tp_sender_usable(t, err))
			return false;
		if (qm_now_ns() >= dl)
			return qm_error_set(err, QM_ERR_TIMEOUT, "sender: queue "
					    "of stream %d full for %d ms", i,
					    t->s.timeout_ms);
		pthread_cond_timedwait(&t->s.cond, &t->s.lock, &ts);
	}
	st->work[(st->work_head + st->work_count++) % st->work_cap] = *w;
	return true;
}

bool tp_sender_queue_locked(tp_sender *t, uint64_t first, uint64_t n,
			    uint32_t flags, uint32_t *woken, qm_error *err)
{
	bool ok = tp_sender_usable(t, err);

	while (ok && n) {
		uint64_t end = (first / TP_SHARD_PAGES + 1) * TP_SHARD_PAGES;
		tp_work w = { .first = first, .n = QM_MIN(n, end - first),
			      .flags = flags };
		int i = tp_stream_of(first, t->s.nstreams);

		ok = tp_sender_push_locked(t, i, &w, err);
		if (!(*woken >> i & 1)) {
			tp_stream_wake(t->s.st[i]);
			*woken |= 1u << i;
		}
		first += w.n;
		n -= w.n;
	}
	return ok;
}

bool tp_sender_queue(tp_sender *t, uint64_t first, uint64_t n, qm_error *err)
{
	uint32_t woken = 0;
	bool ok;

	if (first > t->s.lim.npages || n > t->s.lim.npages - first)
		return qm_error_set(err, QM_ERR_INVAL, "sender: pages "
				    "%llu+%llu outside RAM of %llu pages",
				    (unsigned long long)first,
				    (unsigned long long)n,
				    (unsigned long long)t->s.lim.npages);
	pthread_mutex_lock(&t->s.lock);
	ok = tp_sender_queue_locked(t, first, n, 0, &woken, err);
	pthread_mutex_unlock(&t->s.lock);
	return ok;
}

void tp_sender_set_rate(tp_sender *t, uint64_t bps)
{
	tp_bucket_set_rate(&t->s.bucket, bps);
	for (int i = 0; i < t->s.nstreams; i++)
		tp_stream_wake(t->s.st[i]);
}

void tp_sender_get_stats(tp_sender *t, tp_stats *st)
{
	tp_session_stats(&t->s, st);
}

void tp_sender_free(tp_sender *t)
{
	if (!t)
		return;
	if (t->connected)
		tp_session_abort(&t->s, TP_ABORT_CANCELLED, "sender closed");
	tp_session_destroy(&t->s);
	tp_tls_ctx_free(t->tls);
	free(t);
}

