/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc call: one request from the handler's point of view: its answer
 * (now or deferred), error codes, and the typed params getters.
 *
 * Who owns a call: the server, from rpc__call_new() until it is answered.
 * A call answered while its handler runs is freed by rpc__call_finish();
 * a deferred one by rpc_call_complete() / rpc_call_fail(). Deferred calls
 * sit on their connection's list, so a connection that closes can detach
 * them (call->conn = NULL) and their answers are dropped.
 */
#define LOG_PREFIX "rpc"
#include "agent/rpc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- error codes ---- */

static const struct {
	int code;
	qm_errcode qm;           /* data.code when chosen explicitly */
	const char *message;
} rpc_codes[RPC_ERR__COUNT] = {
	{ RPC_ERR_PARSE, QM_ERR_PROTO, "Parse error" },
	{ RPC_ERR_INVALID_REQUEST, QM_ERR_PROTO, "Invalid Request" },
	{ RPC_ERR_METHOD_NOT_FOUND, QM_ERR_NOTFOUND, "Method not found" },
	{ RPC_ERR_INVALID_PARAMS, QM_ERR_INVAL, "Invalid params" },
	{ RPC_ERR_INTERNAL, QM_ERR_NOMEM, "Internal error" },
	{ RPC_ERR_VM_NOT_FOUND, QM_ERR_NOTFOUND, "VM not found" },
	{ RPC_ERR_VM_BUSY, QM_ERR_STATE, "VM busy" },
	{ RPC_ERR_MIGRATION_NOT_FOUND, QM_ERR_NOTFOUND, "Migration not found" },
	{ RPC_ERR_UNSUPPORTED, QM_ERR_UNSUPPORTED, "Unsupported" },
	{ RPC_ERR_NOT_ALLOWED, QM_ERR_STATE, "Not allowed in this state" },
	{ RPC_ERR_UNAUTHORIZED, QM_ERR_STATE, "Unauthorized" },
	{ RPC_ERR_RATE_LIMITED, QM_ERR_TOO_BIG, "Rate limited" },
	{ RPC_ERR_TOO_BIG, QM_ERR_TOO_BIG, "Too big" },
	{ RPC_ERR_TIMEOUT, QM_ERR_TIMEOUT, "Timed out" },
	{ RPC_ERR_PEER, QM_ERR_PROTO, "Peer or transport error" },
	{ RPC_ERR_QEMU, QM_ERR_QMP, "QEMU error" },
	{ RPC_ERR_CANCELLED, QM_ERR_CANCELLED, "Cancelled" },
	{ RPC_ERR_SYSTEM, QM_ERR_IO, "System error" },
};

static int code_index(int code)
{
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(rpc_codes); i++)
		if (rpc_codes[i].code == code)
			return (int)i;
	return -1;
}

const char *rpc_code_message(int code)
{
	int i = code_index(code);

	return i < 0 ? "Server error" : rpc_codes[i].message;
}

qm_errcode rpc_code_to_qm(int code)
{
	int i = code_index(code);

	return i < 0 ? QM_ERR_PROTO : rpc_codes[i].qm;
}

int rpc_code_from_qm(qm_errcode c)
{
	switch (c) {
	case QM_ERR_INVAL:
		return RPC_ERR_INVALID_PARAMS;
	case QM_ERR_NOTFOUND:
		return RPC_ERR_VM_NOT_FOUND;
	case QM_ERR_STATE:
		return RPC_ERR_NOT_ALLOWED;
	case QM_ERR_UNSUPPORTED:
		return RPC_ERR_UNSUPPORTED;
	case QM_ERR_TOO_BIG:
		return RPC_ERR_TOO_BIG;
	case QM_ERR_TIMEOUT:
		return RPC_ERR_TIMEOUT;
	case QM_ERR_CANCELLED:
		return RPC_ERR_CANCELLED;
	case QM_ERR_QMP:
		return RPC_ERR_QEMU;
	case QM_ERR_PROTO:
	case QM_ERR_CLOSED:
		return RPC_ERR_PEER;
	case QM_ERR_IO:
		return RPC_ERR_SYSTEM;
	default:
		return RPC_ERR_INTERNAL;
	}
}

qm_errcode rpc_qm_code_from_name(const char *name)
{
	int c;

	for (c = 0; c < QM_ERR__COUNT; c++)
		if (name && !strcmp(qm_errcode_name(c), name))
			return c;
	return QM_ERR__COUNT;
}

const char *rpc__type_name(json_type t)
{
	static const char *const phrase[] = {
		[json_type_null] = "null",
		[json_type_boolean] = "a boolean",
		[json_type_double] = "a number",
		[json_type_int] = "an integer",
		[json_type_object] = "an object",
		[json_type_array] = "an array",
		[json_type_string] = "a string",
	};

	return (unsigned)t < QM_ARRAY_SIZE(phrase) && phrase[t] ? phrase[t] :
	       "of an unknown type";
}

/* ---- responses ---- */

/* Length of @s without a UTF-8 character cut off at its end (messages are
 * cut at QM_ERROR_MSG_MAX bytes wherever that falls). */
static size_t whole_utf8(const char *s)
{
	size_t len = strlen(s), i = len, cont = 0;
	unsigned char c;

	while (i && cont < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80) {
		i--;
		cont++;
	}
	if (!i)
		return len;
	c = (unsigned char)s[i - 1];
	if (c >= 0xc0 && cont + 1 < (size_t)(c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2))
		return i - 1;
	return len;
}

static json_object *response(void)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "jsonrpc", json_object_new_string("2.0"));
	return r;
}

static void add_id(json_object *r, json_object *id)
{
	json_object_object_add(r, "id", id ? json_object_get(id) : NULL);
}

json_object *rpc__error_response(json_object *id, int code, qm_errcode qc,
				 const char *msg)
{
	json_object *r = response(), *e = json_object_new_object();
	json_object *data = json_object_new_object();

	json_object_object_add(data, "code",
			       json_object_new_string(qm_errcode_name(qc)));
	json_object_object_add(data, "message",
			       json_object_new_string_len(msg, whole_utf8(msg)));
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message",
			       json_object_new_string(rpc_code_message(code)));
	json_object_object_add(e, "data", data);
	json_object_object_add(r, "error", e);
	add_id(r, id);
	return r;
}

static json_object *result_response(json_object *id, json_object *result)
{
	json_object *r = response();

	json_object_object_add(r, "result", result);
	add_id(r, id);
	return r;
}

static json_object *call_error_response(rpc_call *call)
{
	int code = call->code ? call->code : rpc_code_from_qm(call->err.code);

	if (call->conn)
		call->conn->srv->stats.errors++;
	pr_debug("conn #%llu: %s failed (%d): %s",
		 (unsigned long long)rpc_call_conn_id(call), call->method, code,
		 call->err.msg);
	return rpc__error_response(call->id, code, call->err.code,
				   call->err.msg);
}

/* ---- call life ---- */

rpc_call *rpc__call_new(rpc_conn *conn, struct rpc_batch *batch,
			json_object *req, json_object *id, bool notification,
			const char *method, json_object *params)
{
	rpc_call *call = calloc(1, sizeof(*call));

	if (!call) {
		json_object_put(params);
		return NULL;
	}
	call->conn = conn;
	call->batch = batch;
	call->req = json_object_get(req);
	call->id = id;
	call->notification = notification;
	call->method = method;
	call->params = params;
	call->start_ns = qm_now_ns();
	return call;
}

static void call_free(rpc_call *call)
{
	json_object_put(call->params);
	json_object_put(call->result);
	json_object_put(call->req);
	free(call);
}

/* The response for a finished call, or NULL for a notification. */
static json_object *call_answer(rpc_call *call, json_object *result)
{
	if (qm_error_is_set(&call->err)) {
		json_object_put(result);
		return call->notification ? NULL : call_error_response(call);
	}
	if (call->notification) {
		json_object_put(result);
		return NULL;
	}
	return result_response(call->id, result);
}

json_object *rpc__call_finish(rpc_call *call, json_object *result)
{
	json_object *resp;

	if (call->state == RPC_CALL_DEFERRED) {
		/* The answer comes later; a result now is a handler bug. */
		json_object_put(result);
		return NULL;
	}
	if (call->state == RPC_CALL_DONE) {
		json_object_put(result);
		result = call->result;
		call->result = NULL;
	} else if (!result && !qm_error_is_set(&call->err)) {
		rpc_error_set(call, RPC_ERR_INTERNAL,
			      "method '%s' returned neither a result nor an error",
			      call->method);
	}
	resp = call_answer(call, result);
	call_free(call);
	return resp;
}

static void deferred_unlink(rpc_call *call)
{
	rpc_conn *conn = call->conn;

	if (!conn)
		return;
	if (call->prev)
		call->prev->next = call->next;
	else
		conn->deferred = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
	conn->ndeferred--;
}

bool rpc_call_defer(rpc_call *call, qm_error *err)
{
	rpc_conn *conn = call->conn;

	if (call->state != RPC_CALL_RUNNING)
		return qm_error_set(err, QM_ERR_STATE,
				    "%s: call deferred twice or after its answer",
				    call->method);
	if (conn && conn->ndeferred >= conn->srv->cfg.max_deferred)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "%s: %u calls already in progress on this connection (limit %u)",
				    call->method, conn->ndeferred,
				    conn->srv->cfg.max_deferred);
	call->state = RPC_CALL_DEFERRED;
	if (conn) {
		call->next = conn->deferred;
		if (conn->deferred)
			conn->deferred->prev = call;
		conn->deferred = call;
		conn->ndeferred++;
	}
	return true;
}

/* Deliver the answer of a deferred call and free it. */
static void deferred_done(rpc_call *call, json_object *result)
{
	rpc_conn *conn = call->conn;
	struct rpc_batch *b = call->batch;
	json_object *resp;

	deferred_unlink(call);
	resp = call_answer(call, result);
	pr_debug("%s answered after %lld ms", call->method,
		 (long long)((qm_now_ns() - call->start_ns) / 1000000));
	call_free(call);
	if (b) {
		if (resp)
			json_object_array_add(b->resps, resp);
		rpc__batch_release(b);
		return;
	}
	if (!resp)
		return;
	if (!conn) {
		json_object_put(resp);
		return;
	}
	rpc__conn_get(conn);
	rpc__conn_send(conn, resp);
	rpc__conn_flush(conn);
	rpc__conn_put(conn);
}

static bool answering(rpc_call *call, const char *how)
{
	if (call->state == RPC_CALL_DEFERRED)
		return true;
	pr_err("%s: %s on a call that is not deferred (ignored)",
	       call->method, how);
	return false;
}

/* Answered from inside its own handler: rpc__call_finish() answers. */
static bool answer_in_handler(rpc_call *call, json_object *result)
{
	if (!call->in_handler)
		return false;
	deferred_unlink(call);
	call->state = RPC_CALL_DONE;
	call->result = result;
	return true;
}

void rpc_call_complete(rpc_call *call, json_object *result)
{
	if (!answering(call, "rpc_call_complete")) {
		json_object_put(result);
		return;
	}
	if (!answer_in_handler(call, result))
		deferred_done(call, result);
}

void rpc_call_fail(rpc_call *call, int code, const qm_error *err)
{
	if (!answering(call, "rpc_call_fail"))
		return;
	call->code = code;
	if (err && qm_error_is_set(err))
		call->err = *err;
	else
		qm_error_set(&call->err, QM_ERR_PROTO,
			     "%s failed without a reason", call->method);
	if (!call->code)
		call->code = rpc_code_from_qm(call->err.code);
	if (!answer_in_handler(call, NULL))
		deferred_done(call, NULL);
}

void rpc__conn_detach_calls(rpc_conn *conn)
{
	rpc_call *call;

	while ((call = conn->deferred)) {
		deferred_unlink(call);
		call->conn = NULL;
		if (call->batch)
			call->batch->conn = NULL;
	}
}

bool rpc_call_abandoned(const rpc_call *call)
{
	return !call->conn || call->conn->closed;
}

const char *rpc_call_method(const rpc_call *call)
{
	return call->method;
}

bool rpc_call_is_notification(const rpc_call *call)
{
	return call->notification;
}

const char *rpc_call_peer(const rpc_call *call)
{
	return call->conn ? call->conn->peer : "gone";
}

uint64_t rpc_call_conn_id(const rpc_call *call)
{
	return call->conn ? call->conn->id : 0;
}

uid_t rpc_call_peer_uid(const rpc_call *call)
{
	return call->conn ? call->conn->uid : (uid_t)-1;
}

json_object *rpc_error_set(rpc_call *call, int code, const char *fmt, ...)
{
	va_list ap;

	if (qm_error_is_set(&call->err))
		return NULL;
	call->code = code;
	call->err.code = rpc_code_to_qm(code);
	va_start(ap, fmt);
	vsnprintf(call->err.msg, sizeof(call->err.msg), fmt, ap);
	va_end(ap);
	return NULL;
}

/* ---- params getters ---- */

/* Look @name up; false (call failed) if absent and required or of the
 * wrong type. *v = NULL when absent. */
static bool param_get(json_object *params, const char *name, bool required,
		      json_type want, const char *want_name, json_object **v,
		      rpc_call *call)
{
	json_type t;

	*v = NULL;
	if (!params || !json_object_object_get_ex(params, name, v)) {
		if (!required)
			return true;
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: member '%s' is required (%s)", name,
			      want_name);
		return false;
	}
	t = json_object_get_type(*v);
	if (t == want || (want == json_type_double && t == json_type_int))
		return true;
	rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
		      "params: member '%s' is %s, expected %s", name,
		      rpc__type_name(t), want_name);
	return false;
}

bool rpc_param_string(json_object *params, const char *name, bool required,
		      const char **out, rpc_call *call)
{
	json_object *v;
	const char *s;

	if (!param_get(params, name, required, json_type_string, "a string",
		       &v, call))
		return false;
	if (!v)
		return true;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v)) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: member '%s' contains a NUL character at byte %zu",
			      name, strlen(s));
		return false;
	}
	*out = s;
	return true;
}

bool rpc_param_int64(json_object *params, const char *name, bool required,
		     int64_t min, int64_t max, int64_t *out, rpc_call *call)
{
	json_object *v;
	int64_t x;

	if (!param_get(params, name, required, json_type_int, "an integer",
		       &v, call))
		return false;
	if (!v)
		return true;
	x = json_object_get_int64(v);
	/* json-c keeps 2^63..2^64-1 as unsigned; get_int64 clamps them. */
	if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: member '%s' is %llu, expected %lld..%lld",
			      name,
			      (unsigned long long)json_object_get_uint64(v),
			      (long long)min, (long long)max);
		return false;
	}
	if (x < min || x > max) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: member '%s' is %lld, expected %lld..%lld",
			      name, (long long)x, (long long)min,
			      (long long)max);
		return false;
	}
	*out = x;
	return true;
}

bool rpc_param_bool(json_object *params, const char *name, bool required,
		    bool *out, rpc_call *call)
{
	json_object *v;

	if (!param_get(params, name, required, json_type_boolean,
		       "a boolean", &v, call))
		return false;
	if (v)
		*out = json_object_get_boolean(v);
	return true;
}

bool rpc_param_double(json_object *params, const char *name, bool required,
		      double *out, rpc_call *call)
{
	json_object *v;
	double d;

	if (!param_get(params, name, required, json_type_double, "a number",
		       &v, call))
		return false;
	if (!v)
		return true;
	d = json_object_get_double(v);
	if (!isfinite(d)) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: member '%s' is %g, expected a finite number",
			      name, d);
		return false;
	}
	*out = d;
	return true;
}

bool rpc_param_object(json_object *params, const char *name, bool required,
		      json_object **out, rpc_call *call)
{
	json_object *v;

	if (!param_get(params, name, required, json_type_object, "an object",
		       &v, call))
		return false;
	if (v)
		*out = v;
	return true;
}

bool rpc_param_array(json_object *params, const char *name, bool required,
		     json_object **out, rpc_call *call)
{
	json_object *v;

	if (!param_get(params, name, required, json_type_array, "an array",
		       &v, call))
		return false;
	if (v)
		*out = v;
	return true;
}
