/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sockets for the set-up phase: listen, connect and accept with deadlines,
 * and whole-frame reads and writes with poll(), used by the handshake
 * before the stream threads and their rings take the sockets over. Every
 * socket is non-blocking, close-on-exec, with TCP_NODELAY (ACK and PING
 * must not wait behind Nagle).
 */
#define LOG_PREFIX "transport"
#include "transport/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int ms_left(int64_t deadline_ns)
{
	int64_t left = deadline_ns - qm_now_ns();

	if (left <= 0)
		return 0;
	return (int)QM_MIN((left + 999999) / 1000000, 60000);
}

int tp_sock_wait(int fd, short events, int64_t deadline_ns)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, ms_left(deadline_ns));
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static struct addrinfo *resolve(const char *host, uint16_t port, bool passive,
				qm_error *err)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = passive ? AI_PASSIVE | AI_NUMERICHOST : 0,
	}, *ai = NULL;
	char service[8];
	int rc;

	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &ai);
	if (rc) {
		qm_error_set(err, QM_ERR_INVAL, "address %s port %u: %s",
			     host ? host : "(null)", port, gai_strerror(rc));
		return NULL;
	}
	return ai;
}

int tp_sock_listen(const char *host, uint16_t port, uint16_t *bound,
		   qm_error *err)
{
	struct addrinfo *ai = resolve(host, port, true, err);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1;

	if (!ai)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, TP_MAX_STREAMS * 2) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		qm_error_errno(err, errno, "listening on %s port %u", host,
			       port);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	*bound = ntohs(ss.ss_family == AF_INET6 ?
		       ((struct sockaddr_in6 *)&ss)->sin6_port :
		       ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static int connect_one(const struct addrinfo *a, int64_t deadline_ns,
		       qm_error *err)
{
	int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0), rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0)
		return -1;
	if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			soerr = errno;
			goto fail;
		}
		rc = tp_sock_wait(fd, POLLOUT, deadline_ns);
		if (rc <= 0) {
			soerr = rc ? -rc : ETIMEDOUT;
			goto fail;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr)
			goto fail;
	}
	tune(fd);
	return fd;
fail:
	close(fd);
	errno = soerr;
	return -1;
}

int tp_sock_connect(const char *host, uint16_t port, int64_t deadline_ns,
		    qm_error *err)
{
	struct addrinfo *ai = resolve(host, port, false, err), *a;
	int fd = -1, last = ECONNREFUSED;

	if (!ai)
		return -1;
	for (a = ai; a && fd < 0; a = a->ai_next) {
		fd = connect_one(a, deadline_ns, err);
		if (fd < 0)
			last = errno;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		if (last == ETIMEDOUT)
			qm_error_set(err, QM_ERR_TIMEOUT, "connecting to %s "
				     "port %u: timed out", host, port);
		else
			qm_error_errno(err, last, "connecting to %s port %u",
				       host, port);
	}
	return fd;
}

int tp_sock_accept(int lfd, int64_t deadline_ns, qm_error *err)
{
	int fd, rc;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			tune(fd);
			return fd;
		}
		if (errno != EAGAIN && errno != EINTR)
			return qm_error_errno(err, errno, "accept"), -1;
		rc = tp_sock_wait(lfd, POLLIN, deadline_ns);
		if (rc == 0)
			return qm_error_set(err, QM_ERR_TIMEOUT,
					    "no connection within the "
					    "timeout"), -1;
		if (rc < 0)
			return qm_error_errno(err, -rc, "poll"), -1;
	}
}

static void count(tp_counters *c, bool tx, const uint8_t *frame, size_t len)
{
	unsigned type = tp_get16(frame);

	if (!c)
		return;
	/* Set-up runs on one thread; readers load these atomically. */
	if (tx) {
		TP_ADD(c->bytes_tx, len);
		TP_ADD(c->frames_tx, 1);
		if (type < TP_FRAME__COUNT)
			TP_ADD(c->tx_by_type[type], len);
	} else {
		TP_ADD(c->bytes_rx, len);
		TP_ADD(c->frames_rx, 1);
		if (type < TP_FRAME__COUNT)
			TP_ADD(c->rx_by_type[type], len);
	}
}

bool tp_sock_write(int fd, const void *buf, size_t len, int64_t deadline_ns,
		   tp_counters *c, qm_error *err)
{
	size_t off = 0;

	if (len >= TP_FRAME_HDR_SIZE)
		count(c, true, buf, len);
	while (off < len) {
		ssize_t n = send(fd, (const uint8_t *)buf + off, len - off,
				 MSG_NOSIGNAL);
		int rc;

		if (n > 0) {
			off += n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return qm_error_errno(err, errno, "send");
		rc = tp_sock_wait(fd, POLLOUT, deadline_ns);
		if (rc == 0)
			return qm_error_set(err, QM_ERR_TIMEOUT,
					    "send: timed out");
		if (rc < 0)
			return qm_error_errno(err, -rc, "poll");
	}
	return true;
}

static bool read_exact(int fd, uint8_t *buf, size_t len, int64_t deadline_ns,
		       qm_error *err)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(fd, buf + off, len - off, 0);
		int rc;

		if (n > 0) {
			off += n;
			continue;
		}
		if (n == 0)
			return qm_error_set(err, QM_ERR_CLOSED,
					    "peer closed the connection%s",
					    off ? " mid-frame" : "");
		if (errno != EAGAIN && errno != EINTR)
			return qm_error_errno(err, errno, "recv");
		rc = tp_sock_wait(fd, POLLIN, deadline_ns);
		if (rc == 0)
			return qm_error_set(err, QM_ERR_TIMEOUT,
					    "no frame from the peer within "
					    "the timeout");
		if (rc < 0)
			return qm_error_errno(err, -rc, "poll");
	}
	return true;
}

bool tp_sock_read_frame(int fd, uint8_t *buf, size_t cap,
			const tp_limits *lim, int64_t deadline_ns,
			tp_counters *c, tp_frame *f, qm_error *err)
{
	if (!read_exact(fd, buf, TP_FRAME_HDR_SIZE, deadline_ns, err) ||
	    !tp_frame_check_header(buf, TP_FRAME_HDR_SIZE, f, err))
		return false;
	/* PAGES never come during set-up; refuse before reading 1 MiB. */
	if (TP_FRAME_HDR_SIZE + (size_t)f->len > cap)
		return qm_error_set(err, QM_ERR_PROTO,
				    "frame %s not allowed during set-up",
				    tp_frame_name(f->type));
	if (!read_exact(fd, buf + TP_FRAME_HDR_SIZE, f->len, deadline_ns, err))
		return false;
	count(c, false, buf, TP_FRAME_HDR_SIZE + f->len);
	return tp_frame_decode_body(f, buf + TP_FRAME_HDR_SIZE, lim, err);
}

void tp_sock_send_abort(int fd, uint32_t code, const char *msg)
{
	uint8_t buf[TP_FRAME_HDR_SIZE + TP_ABORT_FIXED_LEN + TP_MAX_ABORT_MSG];
	size_t n = tp_encode_abort(buf, sizeof(buf), code, msg);

	if (fd >= 0 && n)
		tp_sock_write(fd, buf, n, qm_now_ns() + 200 * 1000000LL, NULL,
			      NULL);
}
