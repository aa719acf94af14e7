/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp sock: parse a QMP address and connect to it within a timeout.
 *
 * This is the only place the library blocks on its own: the caller asked
 * to wait up to timeout_ms for QEMU to accept.
 */
#define LOG_PREFIX "qmp"
#include "qmp/qmp-int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Pause between attempts while QEMU has not created its socket yet. */
#define CONNECT_RETRY_MS	10
#define HOST_MAX		256

pid_t qmp__peer_pid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    len != sizeof(cr))
		return 0;
	return cr.pid;
}

/* Errors worth another try: the server is not listening yet, or its
 * backlog is full. */
static bool retryable(int e)
{
	return e == ENOENT || e == ECONNREFUSED || e == EAGAIN;
}

static int ms_left(int64_t deadline_ns)
{
	int64_t left = deadline_ns - qm_now_ns();

	return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int connect_unix(const char *path, const char *addr,
			int64_t deadline_ns, qm_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned attempts = 0;
	int fd, e;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		qm_error_set(err, QM_ERR_INVAL,
			     "QMP address '%s': socket path is %zu bytes long, expected 1..%zu",
			     addr, strlen(path), sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (;;) {
		attempts++;
		/* Non-blocking, so a full backlog is EAGAIN, not a wait. */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    0);
		if (fd < 0) {
			qm_error_errno(err, errno, "QMP: socket");
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		e = errno;
		close(fd);
		if (!retryable(e) || !ms_left(deadline_ns))
			break;
		pause_ms(QM_MIN(CONNECT_RETRY_MS, ms_left(deadline_ns)));
	}
	qm_error_errno(err, e, "QMP: connect to %s (%u attempt%s)", addr,
		       attempts, attempts == 1 ? "" : "s");
	return -1;
}

/* One non-blocking connect, waiting for completion until the deadline.
 * Returns the fd, or -1 with *e = errno (ETIMEDOUT when out of time). */
static int tcp_try(const struct addrinfo *ai, int64_t deadline_ns, int *e)
{
	struct pollfd pfd;
	socklen_t len = sizeof(*e);
	int fd;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		*e = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	*e = errno;
	if (*e == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		while (poll(&pfd, 1, ms_left(deadline_ns)) < 0 &&
		       errno == EINTR)
			;
		if (!(pfd.revents & (POLLOUT | POLLERR | POLLHUP)))
			*e = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, e, &len) < 0)
			*e = errno;
		if (*e == 0)
			return fd;
	}
	close(fd);
	return -1;
}

static int connect_tcp(const char *host, const char *port, const char *addr,
		       int64_t deadline_ns, qm_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	unsigned attempts = 0;
	int fd = -1, e = 0, rc;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		qm_error_set(err, QM_ERR_NOTFOUND, "QMP: resolve %s: %s", addr,
			     gai_strerror(rc));
		return -1;
	}
	for (;;) {
		attempts++;
		for (ai = res; ai && fd < 0; ai = ai->ai_next)
			fd = tcp_try(ai, deadline_ns, &e);
		if (fd >= 0 || !retryable(e) || !ms_left(deadline_ns))
			break;
		pause_ms(QM_MIN(CONNECT_RETRY_MS, ms_left(deadline_ns)));
	}
	freeaddrinfo(res);
	if (fd < 0 && e == ETIMEDOUT)
		qm_error_set(err, QM_ERR_TIMEOUT,
			     "QMP: connect to %s: no answer in time", addr);
	else if (fd < 0)
		qm_error_errno(err, e, "QMP: connect to %s (%u attempt%s)",
			       addr, attempts, attempts == 1 ? "" : "s");
	return fd;
}

/* Split "HOST:PORT" or "[V6]:PORT". */
static bool split_host_port(const char *hp, const char *addr, char *host,
			    const char **port, qm_error *err)
{
	const char *colon, *start = hp, *end;

	if (*hp == '[') {
		start = hp + 1;
		end = strchr(start, ']');
		colon = end && end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(hp, ':');
		end = colon;
	}
	if (!colon || end == start || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return qm_error_set(err, QM_ERR_INVAL,
				    "QMP address '%s': expected tcp:HOST:PORT",
				    addr);
	if ((size_t)(end - start) >= HOST_MAX)
		return qm_error_set(err, QM_ERR_INVAL,
				    "QMP address '%s': host is %zu bytes long, limit %d",
				    addr, (size_t)(end - start), HOST_MAX - 1);
	memcpy(host, start, end - start);
	host[end - start] = '\0';
	*port = colon + 1;
	return true;
}

int qmp__sock_connect(const char *addr, int timeout_ms, pid_t *peer_pid,
		      qm_error *err)
{
	int64_t deadline_ns = qm_now_ns() +
			      (int64_t)QM_MAX(timeout_ms, 0) * 1000000;
	char host[HOST_MAX];
	const char *port = NULL;
	int fd;

	*peer_pid = 0;
	if (!strncmp(addr, "tcp:", 4)) {
		if (!split_host_port(addr + 4, addr, host, &port, err))
			return -1;
		return connect_tcp(host, port, addr, deadline_ns, err);
	}
	fd = connect_unix(strncmp(addr, "unix:", 5) ? addr : addr + 5, addr,
			  deadline_ns, err);
	if (fd >= 0)
		*peer_pid = qmp__peer_pid(fd);
	return fd;
}
