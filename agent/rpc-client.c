/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc client: a blocking JSON-RPC client for qmigctl and the tests.
 *
 * One request at a time, answered in order of arrival: every wait is a
 * poll(2) loop with a deadline. Lines read from the socket are parsed into
 * a queue (one recv may bring several); calls take their response from it
 * and set notifications aside for rpc_client_next_notification().
 */
#define LOG_PREFIX "rpc-client"
#include "agent/rpc.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A FIFO of JSON values; @max = 0: unbounded. */
struct msgq {
	json_object **v;
	size_t head, len, cap, max;
};

struct rpc_client {
	int fd;
	char addr[RPC_ADDR_MAX];
	rpc_lines in;
	struct json_tokener *tok;
	char *rbuf;
	int64_t next_id;
	struct msgq lines;       /* parsed lines not yet looked at */
	struct msgq notes;       /* notifications set aside */
	uint64_t dropped;
	qm_error dead;           /* sticky: EOF, I/O or protocol error */
};

/* ---- queues ---- */

static bool msgq_push(struct msgq *q, json_object *v, uint64_t *dropped)
{
	json_object **nv;
	size_t cap, i;

	if (q->max && q->len == q->max) {
		json_object_put(q->v[q->head]);
		q->head = (q->head + 1) % q->cap;
		q->len--;
		(*dropped)++;
	}
	if (q->len == q->cap) {
		cap = QM_MAX(q->cap * 2, (size_t)16);
		nv = malloc(cap * sizeof(*nv));
		if (!nv)
			return false;
		for (i = 0; i < q->len; i++)
			nv[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = nv;
		q->head = 0;
		q->cap = cap;
	}
	q->v[(q->head + q->len++) % q->cap] = v;
	return true;
}

static json_object *msgq_pop(struct msgq *q)
{
	json_object *v;

	if (!q->len)
		return NULL;
	v = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return v;
}

static void msgq_free(struct msgq *q)
{
	json_object *v;

	while ((v = msgq_pop(q)))
		json_object_put(v);
	free(q->v);
}

/* ---- life ---- */

rpc_client *rpc_client_connect(const char *addr, int timeout_ms,
			       qm_error *err)
{
	rpc_client *cl;
	rpc_addr a;
	int fd;

	if (!rpc_addr_parse(addr, &a, err))
		return NULL;
	cl = calloc(1, sizeof(*cl));
	if (cl) {
		cl->tok = json_tokener_new_ex(RPC_CLIENT_MAX_DEPTH);
		cl->rbuf = malloc(RPC_READ_CHUNK);
	}
	if (!cl || !cl->tok || !cl->rbuf) {
		qm_error_set(err, QM_ERR_NOMEM, "rpc client: %s", addr);
		goto fail;
	}
	cl->fd = -1;
	cl->next_id = 1;
	cl->notes.max = RPC_CLIENT_QUEUE_MAX;
	rpc_lines_init(&cl->in, RPC_CLIENT_MAX_LINE);
	snprintf(cl->addr, sizeof(cl->addr), "%s", addr);
	fd = rpc__connect(&a, addr, timeout_ms, err);
	if (fd < 0)
		goto fail;
	cl->fd = fd;
	return cl;
fail:
	rpc_client_free(cl);
	return NULL;
}

void rpc_client_free(rpc_client *cl)
{
	if (!cl)
		return;
	if (cl->fd >= 0)
		close(cl->fd);
	msgq_free(&cl->lines);
	msgq_free(&cl->notes);
	rpc_lines_destroy(&cl->in);
	if (cl->tok)
		json_tokener_free(cl->tok);
	free(cl->rbuf);
	free(cl);
}

int rpc_client_fd(const rpc_client *cl)
{
	return cl->fd;
}

uint64_t rpc_client_dropped(const rpc_client *cl)
{
	return cl->dropped;
}

/* ---- I/O ---- */

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : qm_now_ns() + (int64_t)timeout_ms * 1000000;
}

static int ms_until(int64_t deadline_ns)
{
	int64_t ns;

	if (deadline_ns < 0)
		return -1;
	ns = deadline_ns - qm_now_ns();
	return ns <= 0 ? 0 : (int)QM_MIN((ns + 999999) / 1000000, 1 << 30);
}

/* Wait for @events; false with QM_ERR_TIMEOUT or QM_ERR_IO. */
static bool wait_fd(rpc_client *cl, short events, int64_t deadline_ns,
		    qm_error *err)
{
	struct pollfd p = { .fd = cl->fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, ms_until(deadline_ns));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return qm_error_errno(err, errno, "rpc client: poll");
	if (!n)
		return qm_error_set(err, QM_ERR_TIMEOUT,
				    "rpc client: no answer from %s in time",
				    cl->addr);
	return true;
}

static bool die(rpc_client *cl, qm_error *err)
{
	if (err && !qm_error_is_set(err))
		*err = cl->dead;
	return false;
}

static bool on_line(void *opaque, const char *line, size_t len)
{
	rpc_client *cl = opaque;
	json_object *v;

	json_tokener_reset(cl->tok);
	v = json_tokener_parse_ex(cl->tok, line, (int)len);
	if (json_tokener_get_error(cl->tok) != json_tokener_success) {
		json_object_put(v);
		qm_error_set(&cl->dead, QM_ERR_PROTO,
			     "rpc client: %s sent a line that is not JSON (%zu bytes)",
			     cl->addr, len);
		return false;
	}
	if (!msgq_push(&cl->lines, v, &cl->dropped)) {
		json_object_put(v);
		qm_error_set(&cl->dead, QM_ERR_NOMEM, "rpc client: queue");
		return false;
	}
	return true;
}

/* Read once (waiting until the deadline) into the line queue. */
static bool fill(rpc_client *cl, int64_t deadline_ns, qm_error *err)
{
	ssize_t n;

	if (qm_error_is_set(&cl->dead))
		return die(cl, err);
	if (!wait_fd(cl, POLLIN, deadline_ns, err))
		return false;
	n = recv(cl->fd, cl->rbuf, RPC_READ_CHUNK, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n < 0) {
		qm_error_errno(&cl->dead, errno, "rpc client: reading from %s",
			       cl->addr);
		return die(cl, err);
	}
	if (n == 0) {
		qm_error_set(&cl->dead, QM_ERR_CLOSED,
			     "rpc client: %s closed the connection%s", cl->addr,
			     cl->in.len ? " in the middle of a line" : "");
		return die(cl, err);
	}
	if (!rpc_lines_feed(&cl->in, cl->rbuf, n, on_line, cl, &cl->dead))
		return die(cl, err);
	return true;
}

/* The next line's value, in order of arrival. */
static json_object *next_msg(rpc_client *cl, int64_t deadline_ns,
			     qm_error *err)
{
	while (!cl->lines.len)
		if (!fill(cl, deadline_ns, err))
			return NULL;
	return msgq_pop(&cl->lines);
}

json_object *rpc_client_read(rpc_client *cl, int timeout_ms, qm_error *err)
{
	json_object *v = msgq_pop(&cl->notes);

	return v ? v : next_msg(cl, deadline_of(timeout_ms), err);
}

static bool send_all(rpc_client *cl, const char *buf, size_t len,
		     int64_t deadline_ns, qm_error *err)
{
	ssize_t n;

	while (len) {
		n = send(cl->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= n;
		} else if (n < 0 && errno == EAGAIN) {
			if (!wait_fd(cl, POLLOUT, deadline_ns, err))
				return false;
		} else if (n < 0 && errno != EINTR) {
			return qm_error_errno(err, errno,
					      "rpc client: writing to %s",
					      cl->addr);
		}
	}
	return true;
}

bool rpc_client_send_raw(rpc_client *cl, const void *buf, size_t len,
			 int timeout_ms, qm_error *err)
{
	return send_all(cl, buf, len, deadline_of(timeout_ms), err);
}

/* Send @msg as one line (ownership taken). */
static bool send_msg(rpc_client *cl, json_object *msg, int64_t deadline_ns,
		     qm_error *err)
{
	const char *s;
	size_t len;
	bool ok;

	s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN,
					      &len);
	ok = s && send_all(cl, s, len, deadline_ns, err) &&
	     send_all(cl, "\n", 1, deadline_ns, err);
	if (!s)
		qm_error_set(err, QM_ERR_NOMEM, "rpc client: serialize");
	json_object_put(msg);
	return ok;
}

static json_object *request(const char *method, json_object *params,
			    int64_t id)
{
	json_object *req = json_object_new_object();

	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(req, "params", params);
	if (id > 0)
		json_object_object_add(req, "id", json_object_new_int64(id));
	return req;
}

bool rpc_client_notify(rpc_client *cl, const char *method,
		       json_object *params, qm_error *err)
{
	return send_msg(cl, request(method, params, 0), -1, err);
}

/* ---- calls ---- */

static bool is_notification(json_object *m)
{
	return json_object_is_type(m, json_type_object) &&
	       json_object_object_get_ex(m, "method", NULL) &&
	       !json_object_object_get_ex(m, "id", NULL);
}

static bool is_response_to(json_object *m, int64_t id)
{
	json_object *v;

	return json_object_is_type(m, json_type_object) &&
	       json_object_object_get_ex(m, "id", &v) &&
	       json_object_is_type(v, json_type_int) &&
	       json_object_get_int64(v) == id;
}

/* An error response into *err: subclass = JSON-RPC code. */
static bool take_error(json_object *e, const char *method, qm_error *err)
{
	json_object *code = NULL, *msg = NULL, *data = NULL, *dc = NULL;
	json_object *dm = NULL;
	qm_errcode qc;

	json_object_object_get_ex(e, "code", &code);
	json_object_object_get_ex(e, "message", &msg);
	if (json_object_object_get_ex(e, "data", &data) &&
	    json_object_is_type(data, json_type_object)) {
		json_object_object_get_ex(data, "code", &dc);
		json_object_object_get_ex(data, "message", &dm);
	}
	qc = rpc_qm_code_from_name(json_object_get_string(dc));
	if (qc == QM_OK || qc == QM_ERR__COUNT)
		qc = QM_ERR_PROTO;
	if (qm_error_is_set(err))
		return false;
	qm_error_set(err, qc, "%s: %s", method,
		     json_object_get_string(dm ? dm : msg ? msg : e));
	if (err)
		err->subclass = json_object_get_int(code);
	return false;
}

/* The response's result (*out, a new reference; NULL for JSON null). */
static bool take_response(json_object *m, const char *method,
			  json_object **out, qm_error *err)
{
	json_object *v;

	if (json_object_object_get_ex(m, "error", &v))
		return take_error(v, method, err);
	if (!json_object_object_get_ex(m, "result", &v))
		return qm_error_set(err, QM_ERR_PROTO,
				    "%s: response has neither result nor error",
				    method);
	*out = json_object_get(v);
	return true;
}

static bool call_raw(rpc_client *cl, const char *method, json_object *params,
		     int timeout_ms, json_object **out, qm_error *err)
{
	int64_t deadline = deadline_of(timeout_ms), id = cl->next_id++;
	json_object *m;
	bool ok;

	*out = NULL;
	if (!send_msg(cl, request(method, params, id), deadline, err))
		return false;
	for (;;) {
		m = next_msg(cl, deadline, err);
		if (!m) {
			qm_error_prepend(err, "%s: ", method);
			return false;
		}
		if (is_response_to(m, id))
			break;
		if (is_notification(m) &&
		    msgq_push(&cl->notes, m, &cl->dropped))
			continue;
		pr_debug("dropping a message that is not the answer to id %lld",
			 (long long)id);
		json_object_put(m);
	}
	ok = take_response(m, method, out, err);
	json_object_put(m);
	return ok;
}

json_object *rpc_client_call(rpc_client *cl, const char *method,
			     json_object *params, int timeout_ms,
			     qm_error *err)
{
	json_object *res;

	if (!call_raw(cl, method, params, timeout_ms, &res, err))
		return NULL;
	if (!res)
		qm_error_set(err, QM_ERR_PROTO, "%s: result is null", method);
	return res;
}

bool rpc_client_call_ok(rpc_client *cl, const char *method,
			json_object *params, int timeout_ms, qm_error *err)
{
	json_object *res;

	if (!call_raw(cl, method, params, timeout_ms, &res, err))
		return false;
	json_object_put(res);
	return true;
}

static const char *member_str(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool rpc_client_login(rpc_client *cl, const char *token, int timeout_ms,
		      qm_error *err)
{
	char cnonce[RPC_AUTH_HEX + 1], proof[RPC_AUTH_HEX + 1];
	char server_proof[RPC_AUTH_HEX + 1], snonce[RPC_AUTH_HEX + 1];
	json_object *res, *p;
	const char *s;
	bool ok;

	if (!call_raw(cl, "rpc.challenge", NULL, timeout_ms, &res, err))
		return false;
	s = member_str(res, "nonce");
	ok = s && strlen(s) == RPC_AUTH_HEX;
	if (ok)
		memcpy(snonce, s, sizeof(snonce));
	json_object_put(res);
	if (!ok)
		return qm_error_set(err, QM_ERR_PROTO, "rpc.challenge: no "
				    "nonce of %d hex digits in the answer",
				    RPC_AUTH_HEX);
	if (!rpc_auth_nonce(cnonce, err) ||
	    !rpc_auth_proof(token, false, snonce, cnonce, proof, err) ||
	    !rpc_auth_proof(token, true, cnonce, snonce, server_proof, err))
		return false;
	p = json_object_new_object();
	json_object_object_add(p, "client_nonce", json_object_new_string(cnonce));
	json_object_object_add(p, "proof", json_object_new_string(proof));
	if (!call_raw(cl, "rpc.login", p, timeout_ms, &res, err))
		return false;
	s = member_str(res, "server_proof");
	ok = s && rpc_auth_equal(s, server_proof);
	json_object_put(res);
	if (!ok)
		return qm_error_set(err, QM_ERR_PROTO, "rpc.login: the server "
				    "did not prove it holds the token (not the "
				    "agent expected, or a different key)");
	return true;
}

bool rpc_client_subscribe(rpc_client *cl, const char *const *topics,
			  size_t n, int timeout_ms, qm_error *err)
{
	json_object *p = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(topics[i]));
	json_object_object_add(p, "topics", a);
	return rpc_client_call_ok(cl, "rpc.subscribe", p, timeout_ms, err);
}

json_object *rpc_client_next_notification(rpc_client *cl, int timeout_ms,
					  qm_error *err)
{
	int64_t deadline = deadline_of(timeout_ms);
	json_object *m = msgq_pop(&cl->notes);

	while (!m) {
		m = next_msg(cl, deadline, err);
		if (!m)
			return NULL;
		if (!is_notification(m)) {
			json_object_put(m);
			m = NULL;
		}
	}
	return m;
}
