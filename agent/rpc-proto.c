/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc proto: from one line to its answer. Parse (depth limit, strict
 * JSON), single request or batch, request checks in the order JSON-RPC
 * implies (shape, then rate, then method, then login, then params), and
 * the server's own methods rpc.login, rpc.subscribe and rpc.unsubscribe.
 *
 * Every answer to a request that has an id is exactly one response;
 * notifications are never answered once they are valid requests (even
 * when their method fails), but a request too malformed to tell is
 * answered with id null, as the spec's examples do.
 */
#define LOG_PREFIX "rpc"
#include "agent/rpc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the checks found out about one request. */
struct req_view {
	json_object *id;         /* NULL: JSON null or none */
	bool notification;       /* no "id" member */
	const char *method;
	bool method_nul;         /* contains a NUL byte: matches nothing */
	json_object *params;     /* NULL if absent */
};

/* Bytes of client text @s to quote in a message: at most @max, never
 * half a UTF-8 character (the answer must stay valid UTF-8). */
static int clip(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return (int)n;
	for (n = max; n && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
		;
	return (int)n;
}

/* ---- parsing ---- */

static bool blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

enum value_check { VALUE_OK, VALUE_NOT_FINITE, VALUE_TOO_DEEP };

/*
 * Walk a parsed value: json-c accepts NaN and Infinity, which are not JSON
 * (and could not be echoed back as JSON), and its depth limit counts a
 * scalar leaf as a level, so an empty innermost array or object gets one
 * level further than @max containers. The tokener's limit (max + 1)
 * bounds the recursion.
 */
static enum value_check check_value(json_object *v, int depth, int max)
{
	enum value_check c = VALUE_OK;
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_double:
		return isfinite(json_object_get_double(v)) ? VALUE_OK :
		       VALUE_NOT_FINITE;
	case json_type_array:
		if (depth > max)
			return VALUE_TOO_DEEP;
		n = json_object_array_length(v);
		for (i = 0; i < n && c == VALUE_OK; i++)
			c = check_value(json_object_array_get_idx(v, i),
					depth + 1, max);
		return c;
	case json_type_object:
		if (depth > max)
			return VALUE_TOO_DEEP;
		{
			json_object_object_foreach(v, key, val) {
				(void)key;
				c = check_value(val, depth + 1, max);
				if (c != VALUE_OK)
					return c;
			}
		}
		return c;
	default:
		return VALUE_OK;
	}
}

static json_object *line_error(rpc_conn *conn, int code, qm_errcode qc,
			       const char *msg)
{
	conn->srv->stats.errors++;
	pr_debug("conn #%llu: %s", (unsigned long long)conn->id, msg);
	return rpc__error_response(NULL, code, qc, msg);
}

/* Parse one line (with its newline). NULL with *resp = the error answer. */
static json_object *parse_line(rpc_conn *conn, const char *line, size_t len,
			       json_object **resp)
{
	struct json_tokener *tok = conn->srv->tok;
	enum json_tokener_error je;
	enum value_check c = VALUE_OK;
	json_object *v;
	char msg[160];
	size_t end;

	json_tokener_reset(tok);
	v = json_tokener_parse_ex(tok, line, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (je == json_tokener_success && end == len) {
		c = check_value(v, 1, conn->srv->cfg.max_depth);
		if (c == VALUE_OK)
			return v;
	}
	json_object_put(v);
	if (je == json_tokener_error_depth || c == VALUE_TOO_DEEP) {
		snprintf(msg, sizeof(msg),
			 "request nests deeper than the limit of %d levels",
			 conn->srv->cfg.max_depth);
		*resp = line_error(conn, RPC_ERR_INVALID_REQUEST,
				   QM_ERR_TOO_BIG, msg);
		return NULL;
	}
	if (c == VALUE_NOT_FINITE)
		snprintf(msg, sizeof(msg), "NaN and Infinity are not JSON");
	else if (je == json_tokener_success)   /* json-c stops at a NUL */
		snprintf(msg, sizeof(msg),
			 "malformed JSON at byte %zu: data after the value",
			 end + 1);
	else if (je == json_tokener_continue)
		snprintf(msg, sizeof(msg),
			 "malformed JSON: the line ends at byte %zu inside a value",
			 len);
	else
		snprintf(msg, sizeof(msg), "malformed JSON at byte %zu: %s",
			 end + 1, json_tokener_error_desc(je));
	*resp = line_error(conn, RPC_ERR_PARSE, QM_ERR_PROTO, msg);
	return NULL;
}

json_object *rpc__framing_error(rpc_conn *conn, const qm_error *err)
{
	if (err->code == QM_ERR_TOO_BIG)
		return line_error(conn, RPC_ERR_INVALID_REQUEST, QM_ERR_TOO_BIG,
				  err->msg);
	return line_error(conn, RPC_ERR_INTERNAL, err->code, err->msg);
}

/* ---- request checks ---- */

static const char *const request_members[] = {
	"jsonrpc", "method", "params", "id", NULL
};

static bool in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

static bool check_id(json_object *req, struct req_view *r, char *msg,
		     size_t len)
{
	json_object *id;
	json_type t;

	r->notification = !json_object_object_get_ex(req, "id", &id);
	if (r->notification)
		return true;
	t = json_object_get_type(id);
	if (t == json_type_null || t == json_type_string ||
	    t == json_type_int || t == json_type_double) {
		r->id = id;
		return true;
	}
	snprintf(msg, len,
		 "member 'id' is %s, expected a string, a number or null",
		 rpc__type_name(t));
	return false;
}

/* The request's shape; false with @msg for an Invalid Request. */
static bool check_request(json_object *req, struct req_view *r, char *msg,
			  size_t len)
{
	json_object *v;

	if (!check_id(req, r, msg, len))
		return false;
	{
		json_object_object_foreach(req, key, val) {
			(void)val;
			if (!in_list(request_members, key)) {
				snprintf(msg, len,
					 "unknown member '%.*s' in the request",
					 clip(key, 64), key);
				return false;
			}
		}
	}
	if (!json_object_object_get_ex(req, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0")) {
		snprintf(msg, len, "member 'jsonrpc' is %s, expected \"2.0\"",
			 v ? json_object_is_type(v, json_type_string) ?
			 "another string" : rpc__type_name(
				json_object_get_type(v)) : "missing");
		return false;
	}
	if (!json_object_object_get_ex(req, "method", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(msg, len, "member 'method' is %s, expected a string",
			 v ? rpc__type_name(json_object_get_type(v)) :
			 "missing");
		return false;
	}
	r->method = json_object_get_string(v);
	r->method_nul = strlen(r->method) !=
			(size_t)json_object_get_string_len(v);
	if (json_object_object_get_ex(req, "params", &r->params) &&
	    !json_object_is_type(r->params, json_type_object) &&
	    !json_object_is_type(r->params, json_type_array)) {
		snprintf(msg, len,
			 "member 'params' is %s, expected an object or an array",
			 rpc__type_name(json_object_get_type(r->params)));
		return false;
	}
	return true;
}

/* An error before any handler ran: answered unless a notification. */
static json_object *early_error(rpc_conn *conn, const struct req_view *r,
				int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static json_object *early_error(rpc_conn *conn, const struct req_view *r,
				int code, const char *fmt, ...)
{
	char msg[QM_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_debug("conn #%llu: %s", (unsigned long long)conn->id, msg);
	if (r->notification)
		return NULL;
	conn->srv->stats.errors++;
	return rpc__error_response(r->id, code, rpc_code_to_qm(code), msg);
}

/* ---- the server's own methods (ctx is the connection) ---- */

static const char *const login_members[] = { "client_nonce", "proof", NULL };
static const char *const topics_members[] = { "topics", NULL };
static const char *const no_members[] = { NULL };

static json_object *authed_result(const char *server_proof)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "authenticated", json_object_new_boolean(1));
	if (server_proof)
		json_object_object_add(r, "server_proof",
				       json_object_new_string(server_proof));
	return r;
}

/* A fresh nonce for this connection's next rpc.login; asking again
 * replaces it. Not rate limited: a nonce gives nothing away, and logins
 * are. */
static json_object *rpc_challenge(void *ctx, rpc_call *call,
				  json_object *params, qm_error *err)
{
	rpc_conn *conn = ctx;
	json_object *r;

	if (!rpc_auth_nonce(conn->challenge, err))
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "nonce",
			       json_object_new_string(conn->challenge));
	return r;
}

static json_object *rpc_login(void *ctx, rpc_call *call, json_object *params,
			      qm_error *err)
{
	rpc_conn *conn = ctx;
	rpc_server *srv = conn->srv;
	char want[RPC_AUTH_HEX + 1], server_proof[RPC_AUTH_HEX + 1];
	const char *cnonce, *proof;
	bool ok;

	if (!rpc_param_string(params, "client_nonce", true, &cnonce, call) ||
	    !rpc_param_string(params, "proof", true, &proof, call))
		return NULL;
	if (conn->authed && !srv->token_len)
		return authed_result(NULL);
	if (!rpc_auth_nonce_ok(cnonce))
		return rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
				     "params: client_nonce must be %d to %d "
				     "lowercase hex digits",
				     RPC_AUTH_NONCE_MIN_HEX,
				     RPC_AUTH_NONCE_MAX_HEX);
	if (!conn->challenge[0])
		return rpc_error_set(call, RPC_ERR_NOT_ALLOWED,
				     "rpc.login: call rpc.challenge first "
				     "(each challenge serves one attempt)");
	if (!rpc_bucket_take(&conn->login, qm_now_ns())) {
		srv->stats.rate_limited++;
		return rpc_error_set(call, RPC_ERR_RATE_LIMITED,
				     "rpc.login: too many attempts (%u failed); retry later",
				     conn->login_failures);
	}
	ok = srv->token_len &&
	     rpc_auth_proof(srv->token, false, conn->challenge, cnonce, want,
			    err) &&
	     rpc_auth_proof(srv->token, true, cnonce, conn->challenge,
			    server_proof, err) &&
	     rpc_auth_equal(want, proof);
	/* One attempt per challenge, right or wrong: a proof seen on the
	 * wire is worthless afterwards. */
	memset(conn->challenge, 0, sizeof(conn->challenge));
	if (!ok) {
		conn->login_failures++;
		srv->stats.login_failures++;
		pr_warn("conn #%llu (%s): rpc.login with a wrong proof (%u failed)",
			(unsigned long long)conn->id, conn->peer,
			conn->login_failures);
		return rpc_error_set(call, RPC_ERR_UNAUTHORIZED,
				     "rpc.login: wrong token");
	}
	if (!conn->authed) {
		conn->authed = true;
		rpc__conn_authed(conn);
		pr_info("conn #%llu (%s) logged in",
			(unsigned long long)conn->id, conn->peer);
	}
	return authed_result(server_proof);
}

static bool topic_ok(const rpc_server *srv, const char *t, size_t i,
		     rpc_call *call)
{
	size_t len = strlen(t);

	if (!len || len >= RPC_TOPIC_MAX || strspn(t,
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != len) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: topics[%zu] '%.*s' is not a topic name (1..%d of a-z 0-9 . _ -)",
			      i, clip(t, 40), t, RPC_TOPIC_MAX - 1);
		return false;
	}
	if (srv->cfg.topics && !in_list(srv->cfg.topics, t)) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: topics[%zu] '%s' is not a topic of this server",
			      i, t);
		return false;
	}
	return true;
}

/* Check every element of "topics"; NULL if absent (and optional). */
static bool get_topics(rpc_conn *conn, json_object *params, bool required,
		       json_object **topics, rpc_call *call)
{
	json_object *v;
	size_t i, n;

	*topics = NULL;
	if (!rpc_param_array(params, "topics", required, topics, call) ||
	    !*topics)
		return !qm_error_is_set(&call->err);
	n = json_object_array_length(*topics);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(*topics, i);
		if (!json_object_is_type(v, json_type_string)) {
			rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
				      "params: topics[%zu] is %s, expected a string",
				      i, rpc__type_name(json_object_get_type(v)));
			return false;
		}
		if (!topic_ok(conn->srv, json_object_get_string(v), i, call))
			return false;
	}
	return true;
}

static int topic_index(const rpc_conn *conn, const char *t)
{
	unsigned i;

	for (i = 0; i < conn->ntopics; i++)
		if (!strcmp(conn->topics[i], t))
			return (int)i;
	return -1;
}

static json_object *topics_result(const rpc_conn *conn)
{
	json_object *r = json_object_new_object(), *a = json_object_new_array();
	unsigned i;

	for (i = 0; i < conn->ntopics; i++)
		json_object_array_add(a, json_object_new_string(conn->topics[i]));
	json_object_object_add(r, "topics", a);
	return r;
}

static json_object *rpc_subscribe(void *ctx, rpc_call *call,
				  json_object *params, qm_error *err)
{
	rpc_conn *conn = ctx;
	json_object *topics;
	size_t i, n, add = 0;
	const char *t;

	if (!get_topics(conn, params, true, &topics, call))
		return NULL;
	n = json_object_array_length(topics);
	for (i = 0; i < n; i++)
		add += topic_index(conn,
			json_object_get_string(json_object_array_get_idx(topics, i))) < 0;
	if (conn->ntopics + add > RPC_MAX_TOPICS)
		return rpc_error_set(call, RPC_ERR_TOO_BIG,
				     "rpc.subscribe: %zu topics exceed the limit of %d per connection",
				     conn->ntopics + add, RPC_MAX_TOPICS);
	for (i = 0; i < n; i++) {
		t = json_object_get_string(json_object_array_get_idx(topics, i));
		if (topic_index(conn, t) < 0)
			memcpy(conn->topics[conn->ntopics++], t, strlen(t) + 1);
	}
	return topics_result(conn);
}

static json_object *rpc_unsubscribe(void *ctx, rpc_call *call,
				    json_object *params, qm_error *err)
{
	rpc_conn *conn = ctx;
	json_object *topics;
	size_t i, n;
	int k;

	if (!get_topics(conn, params, false, &topics, call))
		return NULL;
	if (!topics) {
		conn->ntopics = 0;
		return topics_result(conn);
	}
	n = json_object_array_length(topics);
	for (i = 0; i < n; i++) {
		k = topic_index(conn, json_object_get_string(
				json_object_array_get_idx(topics, i)));
		if (k < 0)
			continue;
		memmove(conn->topics[k], conn->topics[k + 1],
			(conn->ntopics - k - 1) * sizeof(conn->topics[0]));
		conn->ntopics--;
	}
	return topics_result(conn);
}

static const rpc_method builtins[] = {
	{ "rpc.challenge", rpc_challenge, no_members, RPC_METHOD_NOAUTH },
	{ "rpc.login", rpc_login, login_members, RPC_METHOD_NOAUTH },
	{ "rpc.subscribe", rpc_subscribe, topics_members, 0 },
	{ "rpc.unsubscribe", rpc_unsubscribe, topics_members, 0 },
};

/* ---- dispatch ---- */

static const rpc_method *find_method(rpc_conn *conn, const char *name,
				     void **ctx)
{
	const rpc_server *srv = conn->srv;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(builtins); i++) {
		if (!strcmp(builtins[i].name, name)) {
			*ctx = conn;
			return &builtins[i];
		}
	}
	for (i = 0; i < srv->nmethods; i++) {
		if (!strcmp(srv->methods[i].name, name)) {
			*ctx = srv->ctx;
			return &srv->methods[i];
		}
	}
	return NULL;
}

static void join_names(const char *const *names, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (; *names && off < len; names++)
		off += snprintf(buf + off, len - off, "%s%s",
				off ? ", " : "", *names);
	if (!buf[0])
		snprintf(buf, len, "no members");
}

static bool check_params(const rpc_method *m, json_object *params,
			 rpc_call *call)
{
	char names[200];

	if (json_object_is_type(params, json_type_array)) {
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: method '%s' takes named params (an object), not an array",
			      m->name);
		return false;
	}
	if (!m->params)
		return true;
	json_object_object_foreach(params, key, val) {
		(void)val;
		if (in_list(m->params, key))
			continue;
		join_names(m->params, names, sizeof(names));
		rpc_error_set(call, RPC_ERR_INVALID_PARAMS,
			      "params: unknown member '%.*s' (method '%s' takes %s)",
			      clip(key, 64), key, m->name, names);
		return false;
	}
	return true;
}

static json_object *dispatch(rpc_conn *conn, struct rpc_batch *b,
			     json_object *req, const struct req_view *r)
{
	const rpc_method *m;
	json_object *params, *result = NULL;
	rpc_call *call;
	void *ctx;

	m = r->method_nul ? NULL : find_method(conn, r->method, &ctx);
	if (!m)
		return early_error(conn, r, RPC_ERR_METHOD_NOT_FOUND,
				   "method '%.*s' not found",
				   clip(r->method, 64), r->method);
	if (!conn->authed && !(m->flags & RPC_METHOD_NOAUTH))
		return early_error(conn, r, RPC_ERR_UNAUTHORIZED,
				   "method '%s' needs rpc.login first", m->name);
	params = r->params ? json_object_get(r->params) :
		 json_object_new_object();
	call = rpc__call_new(conn, b, req, r->id, r->notification, m->name,
			     params);
	if (!call)
		return early_error(conn, r, RPC_ERR_INTERNAL,
				   "no memory for a call of '%s'", m->name);
	if (check_params(m, params, call)) {
		call->in_handler = true;
		result = m->handler(ctx, call, params, &call->err);
		call->in_handler = false;
	}
	if (call->state == RPC_CALL_DEFERRED && b)
		b->pending++;
	return rpc__call_finish(call, result);
}

/* One request (alone or in a batch): its response, or NULL. */
static json_object *handle_one(rpc_conn *conn, struct rpc_batch *b,
			       json_object *req)
{
	struct req_view r = { NULL, false, NULL, false, NULL };
	char msg[160];

	conn->srv->stats.requests++;
	if (!json_object_is_type(req, json_type_object)) {
		snprintf(msg, sizeof(msg), "request is %s, expected an object",
			 rpc__type_name(json_object_get_type(req)));
		return line_error(conn, RPC_ERR_INVALID_REQUEST, QM_ERR_PROTO,
				  msg);
	}
	if (!check_request(req, &r, msg, sizeof(msg))) {
		r.notification = false;   /* answered, with whatever id */
		return early_error(conn, &r, RPC_ERR_INVALID_REQUEST, "%s",
				   msg);
	}
	if (!rpc_bucket_take(&conn->rate, qm_now_ns())) {
		conn->srv->stats.rate_limited++;
		return early_error(conn, &r, RPC_ERR_RATE_LIMITED,
				   "more than %g requests/s (burst %g) on this connection",
				   conn->srv->cfg.rate_per_s,
				   conn->srv->cfg.rate_burst);
	}
	return dispatch(conn, b, req, &r);
}

void rpc__batch_release(struct rpc_batch *b)
{
	rpc_conn *conn = b->conn;

	if (--b->pending)
		return;
	if (conn && json_object_array_length(b->resps)) {
		rpc__conn_get(conn);
		rpc__conn_send(conn, b->resps);
		rpc__conn_flush(conn);
		rpc__conn_put(conn);
	} else {
		json_object_put(b->resps);
	}
	free(b);
}

static json_object *handle_batch(rpc_conn *conn, json_object *arr)
{
	size_t n = json_object_array_length(arr), i;
	struct rpc_batch *b;
	json_object *resp;
	char msg[128];

	if (!n) {
		conn->srv->stats.requests++;
		return line_error(conn, RPC_ERR_INVALID_REQUEST, QM_ERR_PROTO,
				  "empty batch");
	}
	if (n > conn->srv->cfg.max_batch) {
		conn->srv->stats.requests++;
		snprintf(msg, sizeof(msg),
			 "batch of %zu requests exceeds the limit of %zu", n,
			 conn->srv->cfg.max_batch);
		return line_error(conn, RPC_ERR_INVALID_REQUEST, QM_ERR_TOO_BIG,
				  msg);
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->resps = json_object_new_array())) {
		free(b);
		return line_error(conn, RPC_ERR_INTERNAL, QM_ERR_NOMEM,
				  "no memory for a batch");
	}
	b->conn = conn;
	b->pending = 1;         /* held until every element ran */
	for (i = 0; i < n && rpc_conn_is_open(conn); i++) {
		resp = handle_one(conn, b, json_object_array_get_idx(arr, i));
		if (resp)
			json_object_array_add(b->resps, resp);
	}
	rpc__batch_release(b);
	return NULL;
}

bool rpc__conn_line(void *opaque, const char *line, size_t len)
{
	rpc_conn *conn = opaque;
	json_object *v, *resp = NULL;

	if (!rpc_conn_is_open(conn))
		return false;
	if (blank(line, len))
		return true;
	v = parse_line(conn, line, len, &resp);
	if (v) {
		resp = json_object_is_type(v, json_type_array) ?
		       handle_batch(conn, v) : handle_one(conn, NULL, v);
		json_object_put(v);
	}
	if (resp)
		rpc__conn_send(conn, resp);
	return rpc_conn_is_open(conn);
}
