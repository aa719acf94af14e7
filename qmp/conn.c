/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp conn: the connection object, its buffers and qmp_process().
 *
 * Input is never buffered here: each recv() goes straight into the JSON
 * stream, which keeps the partial parse. Output is one growing buffer of
 * serialized commands, written whenever the socket takes it.
 */
#define LOG_PREFIX "qmp"
#include "qmp/qmp-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

qmp_conn *qmp_conn_new(qm_error *err)
{
	qmp_conn *conn = calloc(1, sizeof(*conn));

	if (!conn) {
		qm_error_set(err, QM_ERR_NOMEM, "QMP: cannot allocate a connection");
		return NULL;
	}
	conn->fd = -1;
	conn->cmds_tail = &conn->cmds;
	conn->next_id = 1;
	conn->default_timeout_ms = QMP_DEFAULT_TIMEOUT_MS;
	conn->rbuf = malloc(QMP_READ_CHUNK);
	if (!conn->rbuf) {
		qm_error_set(err, QM_ERR_NOMEM, "QMP: cannot allocate buffers");
		free(conn);
		return NULL;
	}
	if (!qmp_stream_init(&conn->stream, QMP_MAX_MSG_BYTES, err)) {
		free(conn->rbuf);
		free(conn);
		return NULL;
	}
	return conn;
}

void qmp_conn_free(qmp_conn *conn)
{
	qm_error why = QM_ERROR_INIT;

	if (!conn)
		return;
	if (conn->state != QMP_STATE_DEAD) {
		qm_error_set(&why, QM_ERR_CANCELLED,
			     "QMP: connection closed by its owner");
		qmp__fail(conn, &why);
	}
	qmp__events_clear(conn);
	qmp_stream_destroy(&conn->stream);
	free(conn->rbuf);
	free(conn->out);
	free(conn);
}

void qmp__attach(qmp_conn *conn, int fd, pid_t peer_pid)
{
	conn->fd = fd;
	conn->peer_pid = peer_pid;
	conn->state = QMP_STATE_GREETING;
	conn->greeting_deadline_ns =
		qm_now_ns() + (int64_t)conn->default_timeout_ms * 1000000;
}

static bool check_new(const qmp_conn *conn, qm_error *err)
{
	if (conn->state == QMP_STATE_NEW)
		return true;
	return qm_error_set(err, QM_ERR_STATE,
			    "QMP: connect on a connection that is not new (state %d)",
			    conn->state);
}

bool qmp_connect(qmp_conn *conn, const char *addr, int timeout_ms,
		 qm_error *err)
{
	pid_t pid;
	int fd;

	if (!addr)
		return qm_error_set(err, QM_ERR_INVAL, "QMP: no address");
	if (!check_new(conn, err))
		return false;
	fd = qmp__sock_connect(addr, timeout_ms, &pid, err);
	if (fd < 0)
		return false;
	qmp__attach(conn, fd, pid);
	return true;
}

bool qmp_connect_fd(qmp_conn *conn, int fd, qm_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int);
	int type = 0, rc;

	if (!check_new(conn, err))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return qm_error_errno(err, errno, "QMP: fd %d", fd);
	if (type != SOCK_STREAM)
		return qm_error_set(err, QM_ERR_INVAL,
				    "QMP: fd %d has socket type %d, expected %d (stream)",
				    fd, type, SOCK_STREAM);
	rc = qm_fd_set_nonblock(fd);
	if (rc < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return qm_error_errno(err, rc < 0 ? -rc : errno,
				      "QMP: fd %d flags", fd);
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family == AF_UNIX)
		qmp__attach(conn, fd, qmp__peer_pid(fd));
	else
		qmp__attach(conn, fd, 0);
	return true;
}

/* ---- dying ---- */

void qmp__fail(qmp_conn *conn, const qm_error *why)
{
	if (conn->state == QMP_STATE_DEAD)
		return;
	conn->state = QMP_STATE_DEAD;
	conn->dead_err = *why;
	if (!qm_error_is_set(&conn->dead_err))
		qm_error_set(&conn->dead_err, QM_ERR_PROTO,
			     "QMP: connection closed after an unexplained error");
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
	conn->out_off = conn->out_len = 0;
	pr_debug("%s", conn->dead_err.msg);
	qmp__complete_all(conn, &conn->dead_err);
}

static void copy_error(qm_error *dst, const qm_error *src)
{
	if (dst && !qm_error_is_set(dst))
		*dst = *src;
}

/* EOF or reset: say what was cut off, so the log tells which command
 * QEMU did not answer. */
static void die_closed(qmp_conn *conn, const char *how, int errnum)
{
	qm_error e = QM_ERROR_INIT;
	char mid[96] = "", pend[QMP_NAME_MAX + 64] = "";

	if (qmp_stream_mid_message(&conn->stream))
		snprintf(mid, sizeof(mid),
			 " in the middle of a message (%zu bytes received)",
			 conn->stream.msg_bytes);
	else if (conn->state == QMP_STATE_GREETING)
		snprintf(mid, sizeof(mid), " before its greeting");
	if (conn->ncmds)
		snprintf(pend, sizeof(pend),
			 " with %zu command%s pending (last: %s)", conn->ncmds,
			 conn->ncmds == 1 ? "" : "s", qmp__last_pending(conn));
	qm_error_set(&e, QM_ERR_CLOSED, "QMP: connection %s by QEMU%s%s", how,
		     mid, pend);
	e.sys_errno = errnum;
	qmp__fail(conn, &e);
}

static void die_errno(qmp_conn *conn, int errnum, const char *what)
{
	qm_error e = QM_ERROR_INIT;

	if (errnum == ECONNRESET) {
		die_closed(conn, "reset", errnum);
		return;
	}
	if (errnum == EPIPE) {
		die_closed(conn, "closed", errnum);
		return;
	}
	qm_error_errno(&e, errnum, "QMP: %s", what);
	qmp__fail(conn, &e);
}

/* ---- I/O ---- */

bool qmp__out_append(qmp_conn *conn, const char *buf, size_t len,
		     qm_error *err)
{
	size_t pending = conn->out_len - conn->out_off;
	size_t cap;
	char *p;

	if (conn->out_off && conn->out_len + len > conn->out_cap) {
		memmove(conn->out, conn->out + conn->out_off, pending);
		conn->out_off = 0;
		conn->out_len = pending;
	}
	if (conn->out_len + len > conn->out_cap) {
		cap = QM_MAX(QM_MAX(conn->out_cap * 2, conn->out_len + len),
			     (size_t)4096);
		p = realloc(conn->out, cap);
		if (!p)
			return qm_error_set(err, QM_ERR_NOMEM,
					    "QMP: output buffer of %zu bytes",
					    cap);
		conn->out = p;
		conn->out_cap = cap;
	}
	memcpy(conn->out + conn->out_len, buf, len);
	conn->out_len += len;
	return true;
}

static void conn_read(qmp_conn *conn)
{
	qm_error e = QM_ERROR_INIT;
	ssize_t n;

	while (conn->state != QMP_STATE_DEAD) {
		n = recv(conn->fd, conn->rbuf, QMP_READ_CHUNK, MSG_DONTWAIT);
		if (n > 0) {
			if (!qmp_stream_feed(&conn->stream, conn->rbuf, n,
					     qmp__on_message, conn, &e))
				qmp__fail(conn, &e);
			continue;
		}
		if (n == 0) {
			die_closed(conn, "closed", 0);
		} else if (errno != EINTR && errno != EAGAIN &&
			   errno != EWOULDBLOCK) {
			die_errno(conn, errno, "reading from QEMU");
		} else if (errno != EINTR) {
			return;
		}
	}
}

static void conn_write(qmp_conn *conn)
{
	ssize_t n;

	while (conn->state != QMP_STATE_DEAD && conn->out_off < conn->out_len) {
		n = send(conn->fd, conn->out + conn->out_off,
			 conn->out_len - conn->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			conn->out_off += n;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno != EINTR) {
			die_errno(conn, errno, "writing to QEMU");
			return;
		}
	}
	conn->out_off = conn->out_len = 0;
}

int qmp_process(qmp_conn *conn, short revents, qm_error *err)
{
	(void)revents; /* non-blocking I/O is tried either way */
	if (conn->state == QMP_STATE_NEW) {
		qm_error_set(err, QM_ERR_STATE, "QMP: not connected");
		return -1;
	}
	if (conn->in_callback) {
		qm_error_set(err, QM_ERR_STATE,
			     "QMP: qmp_process called from a QMP callback");
		return -1;
	}
	/* Read before expiring, so a reply already received beats its
	 * deadline; write after reading, so replies to what the last write
	 * sent are dispatched before a write error ends the connection. */
	conn_read(conn);
	conn_write(conn);
	if (conn->state != QMP_STATE_DEAD)
		qmp__expire(conn, qm_now_ns());
	if (conn->state == QMP_STATE_DEAD) {
		copy_error(err, &conn->dead_err);
		return -1;
	}
	return 0;
}

/* ---- accessors ---- */

int qmp_fd(const qmp_conn *conn)
{
	return conn->fd;
}

bool qmp_want_write(const qmp_conn *conn)
{
	return conn->state != QMP_STATE_DEAD && conn->out_off < conn->out_len;
}

int qmp_next_timeout_ms(const qmp_conn *conn)
{
	int64_t dl = qmp__next_deadline(conn), now, ms;

	if (!dl || conn->state == QMP_STATE_DEAD)
		return -1;
	now = qm_now_ns();
	if (dl <= now)
		return 0;
	/* Round up: waking a little early would just spin. */
	ms = (dl - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

qmp_state qmp_get_state(const qmp_conn *conn)
{
	return conn->state;
}

const qmp_greeting *qmp_get_greeting(const qmp_conn *conn)
{
	return conn->has_greeting ? &conn->greeting : NULL;
}

pid_t qmp_peer_pid(const qmp_conn *conn)
{
	return conn->peer_pid;
}

const qm_error *qmp_conn_error(const qmp_conn *conn)
{
	return conn->state == QMP_STATE_DEAD ? &conn->dead_err : NULL;
}

size_t qmp_pending_count(const qmp_conn *conn)
{
	return conn->ncmds;
}

void qmp_set_default_timeout(qmp_conn *conn, int ms)
{
	if (ms > 0)
		conn->default_timeout_ms = ms;
}
