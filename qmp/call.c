/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp call: blocking wrappers. Each is a poll(2) loop around the same
 * qmp_process() the event loop uses, so events and other replies that
 * arrive meanwhile are handled exactly as they would be there.
 */
#define LOG_PREFIX "qmp"
#include "qmp/qmp-int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>

struct call_wait {
	bool done;
	json_object *result;
	qm_error err;
};

static void call_done(qmp_conn *conn, json_object *result, const qm_error *e,
		      void *opaque)
{
	struct call_wait *w = opaque;

	w->done = true;
	if (e)
		w->err = *e;
	else
		w->result = json_object_get(result);
}

static bool not_in_callback(const qmp_conn *conn, const char *what,
			    qm_error *err)
{
	if (!conn->in_callback)
		return true;
	/* qmp_process() would recurse into the dispatch that called us. */
	return qm_error_set(err, QM_ERR_STATE,
			    "QMP: %s from inside a QMP callback", what);
}

/* Wait for the socket (or a deadline) once, then process. @until_ns
 * bounds the wait further (0 = no bound of its own). */
static void run_once(qmp_conn *conn, int64_t until_ns)
{
	struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
	int timeout = qmp_next_timeout_ms(conn);
	qm_error e = QM_ERROR_INIT;
	int64_t left;
	int n;

	if (until_ns) {
		left = (until_ns - qm_now_ns() + 999999) / 1000000;
		left = QM_MAX(left, 0);
		if (timeout < 0 || left < timeout)
			timeout = left > INT_MAX ? INT_MAX : (int)left;
	}
	if (qmp_want_write(conn))
		pfd.events |= POLLOUT;
	n = poll(&pfd, 1, timeout);
	if (n < 0 && errno != EINTR) {
		/* Pending callbacks point into our callers' frames: end the
		 * connection rather than leave them waiting forever. */
		qm_error_errno(&e, errno, "QMP: poll");
		qmp__fail(conn, &e);
		return;
	}
	qmp_process(conn, n > 0 ? pfd.revents : 0, NULL);
}

json_object *qmp_call(qmp_conn *conn, const char *cmd, json_object *args,
		      int timeout_ms, qm_error *err)
{
	struct call_wait w = { .err = QM_ERROR_INIT };

	if (!not_in_callback(conn, cmd ? cmd : "qmp_call", err)) {
		json_object_put(args);
		return NULL;
	}
	if (qmp_execute(conn, cmd, args, timeout_ms, call_done, &w, err) < 0)
		return NULL;
	/* Ends: the reply, the command's deadline or the connection's death
	 * each complete the command. */
	while (!w.done)
		run_once(conn, 0);
	if (qm_error_is_set(&w.err)) {
		if (err && !qm_error_is_set(err))
			*err = w.err;
		return NULL;
	}
	return w.result;
}

bool qmp_call_ok(qmp_conn *conn, const char *cmd, json_object *args,
		 int timeout_ms, qm_error *err)
{
	json_object *ret = qmp_call(conn, cmd, args, timeout_ms, err);

	if (!ret)
		return false;
	json_object_put(ret);
	return true;
}

static bool wait_until(qmp_conn *conn, qmp_cond_fn cond, void *opaque,
		       int timeout_ms, const char *what, qm_error *err)
{
	int64_t until = 0;

	if (!not_in_callback(conn, what, err))
		return false;
	if (timeout_ms != QMP_TIMEOUT_NONE)
		until = qm_now_ns() + (int64_t)QM_MAX(timeout_ms, 0) * 1000000;
	for (;;) {
		if (cond(conn, opaque))
			return true;
		if (conn->state == QMP_STATE_DEAD) {
			if (err && !qm_error_is_set(err))
				*err = conn->dead_err;
			return false;
		}
		if (conn->state == QMP_STATE_NEW)
			return qm_error_set(err, QM_ERR_STATE,
					    "QMP: %s: not connected", what);
		if (until && qm_now_ns() >= until)
			return qm_error_set(err, QM_ERR_TIMEOUT,
					    "QMP: %s: not done within %d ms",
					    what, timeout_ms);
		run_once(conn, until);
	}
}

bool qmp_wait_until(qmp_conn *conn, qmp_cond_fn cond, void *opaque,
		    int timeout_ms, qm_error *err)
{
	return wait_until(conn, cond, opaque, timeout_ms, "wait", err);
}

static bool is_ready(qmp_conn *conn, void *opaque)
{
	return conn->state == QMP_STATE_READY;
}

bool qmp_wait_ready(qmp_conn *conn, int timeout_ms, qm_error *err)
{
	return wait_until(conn, is_ready, NULL, timeout_ms, "handshake", err);
}
