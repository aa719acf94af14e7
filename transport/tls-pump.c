/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TLS pump: where the kernel does not do the records (no kTLS), one
 * thread per stream moves bytes between the stream's end of a socketpair
 * ("app") and SSL_write/SSL_read on the TCP socket. The stream's io_uring
 * code, the set-up frames before it and every deadline they keep are
 * unchanged: they see a socket that behaves like the TCP one.
 *
 *   stream --send--> app ==> pump: read, SSL_write (encrypt) --> TCP
 *   stream <--recv-- app <== pump: SSL_read (decrypt), write  <-- TCP
 *
 * The price is two more copies of every byte (through the socketpair) and
 * the AES-GCM pass, on a thread of its own (BENCHMARKS.md "TLS 1.3").
 *
 * Endings mirror a TCP socket's, so the stream's own end-of-session rules
 * decide as they do without TLS:
 *  - the stream shuts its write side (or closes): what it wrote is sent,
 *    then the TCP write side is shut (a FIN, no close_notify: PROTOCOL.md
 *    section 8);
 *  - the peer's FIN (or a reset) reaches the stream as EOF once every
 *    byte before it is delivered;
 *  - the TCP send side fails: the stream's sends fail with EPIPE, and it
 *    still reads what the peer sent last (maybe its ABORT);
 *  - a record that fails authentication, or any other TLS error, is a
 *    protocol failure: the session hears it first (tp_tls_report), then
 *    the stream loses both directions;
 *  - tp_tls_close() (the stream closed its end) gives the pump
 *    TP_TLS_LINGER_MS to send what is left.
 */
#define LOG_PREFIX "transport"
#include "transport/tls-int.h"

#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct pump {
	tp_tls *t;
	uint8_t *up, *down;		/* app -> TCP, TCP -> app */
	size_t up_off, up_len, down_off, down_len;
	bool app_eof;		/* the stream will write no more */
	bool up_shut;		/* all sent, TCP write shut (or dead) */
	bool net_eof;		/* the peer will send no more */
	bool down_shut;		/* the stream was given its EOF */
	bool app_gone;		/* the stream reads no more */
	bool failed;
	bool flush_wait;	/* gathered records wait for the socket */
	/* What SSL_write and SSL_read wait for. */
	bool w_in, w_out, r_in, r_out;
} pump;

static void fail(pump *p, SSL *ssl, int rc)
{
	qm_error e = QM_ERROR_INIT;

	tp_tls_fail(ssl, rc, "TLS", &e);
	/* The session first, so that its error is this one and not the EOF
	 * the stream is about to see. */
	tp_tls_report(p->t, &e);
	p->failed = true;
}

static bool app_read(pump *p)
{
	ssize_t n;

	if (p->app_eof || p->up_len)
		return false;
	n = read(p->t->app, p->up, TP_TLS_BUF);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0)
		p->app_eof = true;
	else
		p->up_len = (size_t)n;
	return true;
}

/* The TCP send side is gone: behave like a socket whose peer reset. */
static void up_dead(pump *p)
{
	p->up_off = p->up_len = 0;
	p->app_eof = p->up_shut = true;
	shutdown(p->t->app, SHUT_RD);	/* the stream's sends: EPIPE */
}

static bool ssl_write(pump *p)
{
	SSL *ssl = p->t->ssl;
	bool moved = false;

	p->w_in = p->w_out = false;
	while (p->up_off < p->up_len) {
		int rc, e;

		ERR_clear_error();
		/* Not partial: a 256 KiB write is 16 records, one call. */
		rc = SSL_write(ssl, p->up + p->up_off,
			       (int)(p->up_len - p->up_off));
		if (rc > 0) {
			p->up_off += (size_t)rc;
			moved = true;
			continue;
		}
		e = SSL_get_error(ssl, rc);
		if (e == SSL_ERROR_WANT_WRITE) {
			p->w_out = true;
		} else if (e == SSL_ERROR_WANT_READ) {
			p->w_in = true;
		} else if (e == SSL_ERROR_SYSCALL) {
			ERR_clear_error();
			up_dead(p);
			moved = true;
		} else {
			fail(p, ssl, rc);
		}
		break;
	}
	if (p->up_off == p->up_len)
		p->up_off = p->up_len = 0;
	/* What SSL_write (or SSL_read: an alert) gathered. */
	if (!p->up_shut) {
		size_t before = p->t->wlen - p->t->woff;
		int rc = tp_tls_flush(p->t);

		if (rc < 0) {
			up_dead(p);
		} else if (!rc) {
			p->w_out = true;
			p->flush_wait = true;
		} else {
			p->flush_wait = false;
		}
		moved |= before != p->t->wlen - p->t->woff;
	}
	if (p->app_eof && !p->up_len && !p->flush_wait && !p->up_shut) {
		shutdown(p->t->fd, SHUT_WR);
		p->up_shut = moved = true;
	}
	return moved;
}

static bool ssl_read(pump *p)
{
	SSL *ssl = p->t->ssl;
	bool moved = false;

	p->r_in = p->r_out = false;
	/* Keep room for a whole record. */
	if (p->down_off && TP_TLS_BUF - p->down_len < (16u << 10)) {
		memmove(p->down, p->down + p->down_off,
			p->down_len - p->down_off);
		p->down_len -= p->down_off;
		p->down_off = 0;
	}
	while (!p->net_eof && p->down_len < TP_TLS_BUF) {
		int rc, e;

		ERR_clear_error();
		rc = SSL_read(ssl, p->down + p->down_len,
			      (int)(TP_TLS_BUF - p->down_len));
		if (rc > 0) {
			p->down_len += (size_t)rc;
			if (p->app_gone)
				p->down_off = p->down_len = 0;
			moved = true;
			continue;
		}
		e = SSL_get_error(ssl, rc);
		if (e == SSL_ERROR_WANT_READ) {
			p->r_in = true;
		} else if (e == SSL_ERROR_WANT_WRITE) {
			p->r_out = true;
		} else if (e == SSL_ERROR_ZERO_RETURN ||
			   e == SSL_ERROR_SYSCALL) {
			/* FIN or reset: the stream's EOF rules decide. */
			ERR_clear_error();
			p->net_eof = moved = true;
		} else {
			fail(p, ssl, rc);
		}
		break;
	}
	return moved;
}

static bool app_write(pump *p)
{
	bool moved = false;

	if (p->down_off < p->down_len && !p->app_gone) {
		ssize_t n = send(p->t->app, p->down + p->down_off,
				 p->down_len - p->down_off, MSG_NOSIGNAL);

		if (n > 0) {
			p->down_off += (size_t)n;
			moved = true;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			p->app_gone = moved = true;
			p->down_off = p->down_len;
		}
		if (p->down_off == p->down_len)
			p->down_off = p->down_len = 0;
	}
	if (p->net_eof && p->down_off == p->down_len && !p->down_shut) {
		shutdown(p->t->app, SHUT_WR);
		p->down_shut = moved = true;
	}
	return moved;
}

/* Wait for whatever the directions wait for; false when told to stop and
 * the linger is over. */
static bool wait_io(pump *p)
{
	tp_tls *t = p->t;
	struct pollfd pf[3] = {
		{ .fd = -1 }, { .fd = -1 }, { .fd = t->efd, .events = POLLIN },
	};
	short app = 0, net = 0;
	int64_t stop_ns;
	int ms = -1;

	if (!p->app_eof && !p->up_len)
		app |= POLLIN;
	if (p->down_off < p->down_len && !p->app_gone)
		app |= POLLOUT;
	if (((p->r_in && p->down_len < TP_TLS_BUF) || p->w_in) && !p->net_eof)
		net |= POLLIN;
	if (p->w_out || p->r_out ||
	    (!p->up_shut && t->wlen > t->woff))
		net |= POLLOUT;
	/* An fd with nothing wanted is left out: its POLLHUP would spin. */
	if (app)
		pf[0] = (struct pollfd){ .fd = t->app, .events = app };
	if (net)
		pf[1] = (struct pollfd){ .fd = t->fd, .events = net };
	pthread_mutex_lock(&t->lock);
	stop_ns = t->stop_ns;
	pthread_mutex_unlock(&t->lock);
	if (stop_ns) {
		int64_t left = stop_ns + TP_TLS_LINGER_MS * 1000000LL -
			       qm_now_ns();

		if (left <= 0)
			return false;
		if (!p->app_gone) {
			/* The stream closed its end: nobody reads any more,
			 * only what it wrote still has to go. */
			p->app_gone = true;
			p->down_off = p->down_len = 0;
			return true;
		}
		ms = (int)(left / 1000000) + 1;
		pf[2].fd = -1;	/* already told */
	}
	if (poll(pf, 3, ms) < 0 && errno != EINTR)
		return false;
	if (pf[2].revents) {
		uint64_t v;

		if (read(t->efd, &v, sizeof(v)) < 0) {
			/* nothing to clear */
		}
	}
	return true;
}

void *tp_tls_pump_main(void *arg)
{
	pump p = { .t = arg, .r_in = true };

	p.up = malloc(TP_TLS_BUF);
	p.down = malloc(TP_TLS_BUF);
	if (!p.up || !p.down) {
		qm_error e = QM_ERROR_INIT;

		qm_error_set(&e, QM_ERR_NOMEM, "TLS: pump buffers");
		tp_tls_report(p.t, &e);
		p.failed = true;
	}
	while (!p.failed) {
		bool moved;

		do {
			moved = app_read(&p);
			moved |= ssl_write(&p);
			moved |= !p.failed && ssl_read(&p);
			moved |= !p.failed && app_write(&p);
		} while (moved && !p.failed);
		if (p.failed || (p.up_shut && (p.down_shut || p.app_gone)) ||
		    !wait_io(&p))
			break;
	}
	if (p.failed) {
		/* The alert OpenSSL wrote, if the socket takes it; the
		 * stream sees EOF and EPIPE, the session already knows why. */
		tp_tls_flush(p.t);
		shutdown(p.t->app, SHUT_RDWR);
		shutdown(p.t->fd, SHUT_RDWR);
	}
	free(p.up);
	free(p.down);
	/* Thread-local OpenSSL state (error queue) goes with the thread. */
	OPENSSL_thread_stop();
	return NULL;
}
