/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "tests/unit/rpc/harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- test methods (loop thread) ---- */

static json_object *m_echo(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return json_object_get(params);
}

static json_object *m_add(void *ctx, rpc_call *call, json_object *params,
			  qm_error *err)
{
	int64_t a = 0, b = 0;
	json_object *r;

	if (!rpc_param_int64(params, "a", true, -1000000, 1000000, &a, call) ||
	    !rpc_param_int64(params, "b", true, -1000000, 1000000, &b, call))
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "sum", json_object_new_int64(a + b));
	return r;
}

static json_object *m_types(void *ctx, rpc_call *call, json_object *params,
			    qm_error *err)
{
	const char *s = NULL;
	int64_t i = 0;
	bool b = false;
	double d = 0;
	json_object *o = NULL, *a = NULL, *r;

	if (!rpc_param_string(params, "s", true, &s, call) ||
	    !rpc_param_int64(params, "i", true, 0, 100, &i, call) ||
	    !rpc_param_bool(params, "b", true, &b, call) ||
	    !rpc_param_double(params, "d", true, &d, call) ||
	    !rpc_param_object(params, "o", true, &o, call) ||
	    !rpc_param_array(params, "a", true, &a, call))
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "s", json_object_new_string(s));
	json_object_object_add(r, "i", json_object_new_int64(i));
	json_object_object_add(r, "b", json_object_new_boolean(b));
	json_object_object_add(r, "d", json_object_new_double(d));
	json_object_object_add(r, "o", json_object_get(o));
	json_object_object_add(r, "a", json_object_get(a));
	return r;
}

static json_object *m_bump(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	struct th_ctx *c = ctx;

	c->bumps++;
	return json_object_new_object();
}

static json_object *m_count(void *ctx, rpc_call *call, json_object *params,
			    qm_error *err)
{
	struct th_ctx *c = ctx;
	json_object *r = json_object_new_object();

	json_object_object_add(r, "count", json_object_new_int(c->bumps));
	return r;
}

static json_object *m_fail(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	qm_error_set(err, QM_ERR_NOTFOUND, "vm 'ghost' not found");
	return NULL;
}

static json_object *m_busy(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return rpc_error_set(call, RPC_ERR_VM_BUSY, "vm '%s' is migrating",
			     "vm1");
}

static json_object *m_null(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return NULL;
}

static json_object *m_notify(void *ctx, rpc_call *call, json_object *params,
			     qm_error *err)
{
	struct th_ctx *c = ctx;
	const char *topic = NULL;
	int64_t count = 1, size = 0, i;
	json_object *p, *r;
	char *pad;
	int n = 0;

	if (!rpc_param_string(params, "topic", true, &topic, call) ||
	    !rpc_param_int64(params, "count", false, 0, 100000, &count, call) ||
	    !rpc_param_int64(params, "size", false, 0, 1 << 20, &size, call))
		return NULL;
	pad = calloc(1, size + 1);
	memset(pad, 'x', size);
	for (i = 0; i < count; i++) {
		p = json_object_new_object();
		json_object_object_add(p, "seq", json_object_new_int64(i));
		json_object_object_add(p, "pad", json_object_new_string(pad));
		n = rpc_server_notify(c->srv, topic, "test.event", p, err);
		if (n < 0)
			break;
	}
	free(pad);
	if (n < 0)
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "reached", json_object_new_int(n));
	return r;
}

static void answer(struct th_defer *d)
{
	qm_error e = QM_ERROR_INIT;
	json_object *r;
	rpc_call *call = d->call;

	d->call = NULL;
	d->timer = NULL;
	if (d->fail) {
		qm_error_set(&e, QM_ERR_TIMEOUT, "deferred work timed out");
		rpc_call_fail(call, 0, &e);
		return;
	}
	r = json_object_new_object();
	json_object_object_add(r, "deferred", json_object_new_boolean(1));
	rpc_call_complete(call, r);
}

static void on_defer_timer(agent_loop *loop, void *opaque)
{
	answer(opaque);
}

static struct th_defer *defer_slot(struct th_ctx *c)
{
	int i;

	for (i = 0; i < TH_MAX_DEFER; i++)
		if (!c->defer[i].call)
			return &c->defer[i];
	return NULL;
}

static json_object *m_defer(void *ctx, rpc_call *call, json_object *params,
			    qm_error *err)
{
	struct th_ctx *c = ctx;
	struct th_defer *d = defer_slot(c);
	int64_t ms = 0;
	bool fail = false;

	if (!rpc_param_int64(params, "ms", true, -1, 60000, &ms, call) ||
	    !rpc_param_bool(params, "fail", false, &fail, call))
		return NULL;
	if (!d)
		return rpc_error_set(call, RPC_ERR_TOO_BIG, "harness full");
	if (!rpc_call_defer(call, err))
		return NULL;
	d->call = call;
	d->fail = fail;
	d->ctx = c;
	if (ms >= 0)
		d->timer = agent_loop_timer_add(c->loop, ms, on_defer_timer, d,
						NULL);
	return NULL;
}

static json_object *m_release(void *ctx, rpc_call *call, json_object *params,
			      qm_error *err)
{
	struct th_ctx *c = ctx;
	json_object *r;
	int i, n = 0;

	for (i = 0; i < TH_MAX_DEFER; i++) {
		if (!c->defer[i].call || c->defer[i].timer)
			continue;
		answer(&c->defer[i]);
		n++;
	}
	r = json_object_new_object();
	json_object_object_add(r, "released", json_object_new_int(n));
	return r;
}

static json_object *m_defer_now(void *ctx, rpc_call *call,
				json_object *params, qm_error *err)
{
	json_object *r;

	if (!rpc_call_defer(call, err))
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "now", json_object_new_boolean(1));
	rpc_call_complete(call, r);
	return NULL;
}

static json_object *m_stats(void *ctx, rpc_call *call, json_object *params,
			    qm_error *err)
{
	struct th_ctx *c = ctx;
	rpc_server_stats st;
	json_object *r = json_object_new_object();

	rpc_server_get_stats(c->srv, &st);
#define S(f) json_object_object_add(r, #f, json_object_new_int64(st.f))
	S(accepted);
	S(refused);
	S(dropped);
	S(requests);
	S(errors);
	S(rate_limited);
	S(login_failures);
	S(notifications);
	S(conns);
#undef S
	return r;
}

static json_object *m_peer(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "peer",
			       json_object_new_string(rpc_call_peer(call)));
	json_object_object_add(r, "uid",
			       json_object_new_int64((int)rpc_call_peer_uid(call)));
	json_object_object_add(r, "conn",
			       json_object_new_int64(rpc_call_conn_id(call)));
	return r;
}

static json_object *m_public(void *ctx, rpc_call *call, json_object *params,
			     qm_error *err)
{
	return json_object_new_object();
}

static const char *const add_members[] = { "a", "b", NULL };
static const char *const types_members[] = {
	"s", "i", "b", "d", "o", "a", NULL
};
static const char *const notify_members[] = {
	"topic", "count", "size", NULL
};
static const char *const defer_members[] = { "ms", "fail", NULL };
static const char *const no_members[] = { NULL };

static const rpc_method th_methods[] = {
	{ "test.echo", m_echo, NULL, 0 },
	{ "test.add", m_add, add_members, 0 },
	{ "test.types", m_types, types_members, 0 },
	{ "test.bump", m_bump, NULL, 0 },
	{ "test.count", m_count, no_members, 0 },
	{ "test.fail", m_fail, NULL, 0 },
	{ "test.busy", m_busy, NULL, 0 },
	{ "test.null", m_null, NULL, 0 },
	{ "test.notify", m_notify, notify_members, 0 },
	{ "test.defer", m_defer, defer_members, 0 },
	{ "test.release", m_release, no_members, 0 },
	{ "test.defer_now", m_defer_now, no_members, 0 },
	{ "test.stats", m_stats, no_members, 0 },
	{ "test.public", m_public, no_members, RPC_METHOD_NOAUTH },
	{ "test.peer", m_peer, no_members, 0 },
};

/* ---- server ---- */

void th_config(rpc_config *cfg)
{
	rpc_config_init(cfg);
	cfg->token = TH_TOKEN;
}

static void *loop_thread(void *opaque)
{
	th_server *t = opaque;
	qm_error err = QM_ERROR_INIT;

	if (!agent_loop_run(t->loop, &err)) {
		fprintf(stderr, "loop: %s\n", err.msg);
		abort();
	}
	return NULL;
}

void th_start(th_server *t, const rpc_config *cfg, bool tcp)
{
	qm_error err = QM_ERROR_INIT;
	const char *tmp = getenv("TMPDIR");
	rpc_config def;

	memset(t, 0, sizeof(*t));
	if (!cfg) {
		th_config(&def);
		cfg = &def;
	}
	snprintf(t->dir, sizeof(t->dir), "%s/qmig-rpc-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->unix_addr, sizeof(t->unix_addr), "unix:%s/rpc.sock",
		 t->dir);
	t->loop = agent_loop_new(&err);
	assert_non_null(t->loop);
	t->srv = rpc_server_new(t->loop, th_methods,
				QM_ARRAY_SIZE(th_methods), &t->ctx, cfg, &err);
	if (!t->srv)
		fail_msg("rpc_server_new: %s", err.msg);
	t->ctx.srv = t->srv;
	t->ctx.loop = t->loop;
	if (!rpc_server_listen(t->srv, t->unix_addr, &err))
		fail_msg("listen %s: %s", t->unix_addr, err.msg);
	if (tcp) {
		if (!rpc_server_listen(t->srv, "tcp:127.0.0.1:0", &err))
			fail_msg("listen tcp: %s", err.msg);
		assert_true(rpc_server_listen_addr(t->srv, 1, t->tcp_addr,
						   sizeof(t->tcp_addr)));
	}
	assert_int_equal(pthread_create(&t->thread, NULL, loop_thread, t), 0);
}

void th_stop(th_server *t)
{
	int i;

	agent_loop_stop(t->loop);
	assert_int_equal(pthread_join(t->thread, NULL), 0);
	rpc_server_free(t->srv);
	/* Calls still held outlive the server; answering them must be
	 * safe (the answers are dropped). */
	for (i = 0; i < TH_MAX_DEFER; i++)
		if (t->ctx.defer[i].call)
			answer(&t->ctx.defer[i]);
	agent_loop_free(t->loop);
	/* The socket file went with the server. */
	assert_int_equal(access(t->unix_addr + 5, F_OK), -1);
	assert_int_equal(rmdir(t->dir), 0);
}

/* ---- clients ---- */

rpc_client *th_connect(const char *addr)
{
	qm_error err = QM_ERROR_INIT;
	rpc_client *cl = rpc_client_connect(addr, TH_TIMEOUT_MS, &err);

	if (!cl)
		fail_msg("connect %s: %s", addr, err.msg);
	return cl;
}

static json_object *parse(const char *text)
{
	json_object *o;

	if (!text)
		return NULL;
	o = json_tokener_parse(text);
	if (!o)
		fail_msg("bad JSON in the test: %s", text);
	return o;
}

json_object *th_call(rpc_client *cl, const char *method, const char *params)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r;

	r = rpc_client_call(cl, method, parse(params), TH_TIMEOUT_MS, &err);
	if (!r)
		fail_msg("%s", err.msg);
	return r;
}

void th_call_err(rpc_client *cl, const char *method, const char *params,
		 int code, const char *substr)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r;

	r = rpc_client_call(cl, method, parse(params), TH_TIMEOUT_MS, &err);
	if (r)
		fail_msg("%s succeeded: %s", method,
			 json_object_to_json_string(r));
	if (err.subclass != code)
		fail_msg("%s: code %d, expected %d (%s)", method, err.subclass,
			 code, err.msg);
	if (substr && !strstr(err.msg, substr))
		fail_msg("%s: message '%s' lacks '%s'", method, err.msg,
			 substr);
}

json_object *th_raw(rpc_client *cl, const char *line)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r;

	assert_true(rpc_client_send_raw(cl, line, strlen(line), TH_TIMEOUT_MS,
					&err));
	assert_true(rpc_client_send_raw(cl, "\n", 1, TH_TIMEOUT_MS, &err));
	r = rpc_client_read(cl, TH_TIMEOUT_MS, &err);
	if (!r)
		fail_msg("no answer to %.200s: %s", line, err.msg);
	return r;
}

static const char *str_at(json_object *o, const char *k1, const char *k2)
{
	json_object *v = o;

	if (!json_object_object_get_ex(v, k1, &v))
		return NULL;
	if (k2 && !json_object_object_get_ex(v, k2, &v))
		return NULL;
	return json_object_get_string(v);
}

void th_assert_error(json_object *resp, int code, const char *id_json,
		     const char *substr)
{
	json_object *e, *id, *v;
	const char *msg;

	if (!json_object_object_get_ex(resp, "error", &e))
		fail_msg("not an error: %s", json_object_to_json_string(resp));
	assert_false(json_object_object_get_ex(resp, "result", NULL));
	assert_string_equal(str_at(resp, "jsonrpc", NULL), "2.0");
	assert_true(json_object_object_get_ex(e, "code", &v));
	if (json_object_get_int(v) != code)
		fail_msg("code %d, expected %d: %s", json_object_get_int(v),
			 code, json_object_to_json_string(resp));
	assert_string_equal(str_at(e, "message", NULL), rpc_code_message(code));
	assert_true(json_object_object_get_ex(resp, "id", &id));
	assert_string_equal(json_object_to_json_string_ext(id,
				JSON_C_TO_STRING_PLAIN), id_json);
	msg = str_at(e, "data", "message");
	assert_non_null(msg);
	assert_non_null(str_at(e, "data", "code"));
	if (substr && !strstr(msg, substr))
		fail_msg("message '%s' lacks '%s'", msg, substr);
}

void th_assert_silent(rpc_client *cl, int ms)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r = rpc_client_read(cl, ms, &err);

	if (r)
		fail_msg("unexpected: %s", json_object_to_json_string(r));
	assert_int_equal(err.code, QM_ERR_TIMEOUT);
}

void th_assert_closed(rpc_client *cl)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r;
	int64_t end = qm_now_ms() + TH_TIMEOUT_MS;

	while ((r = rpc_client_read(cl, TH_TIMEOUT_MS, &err))) {
		json_object_put(r);
		assert_true(qm_now_ms() < end);
	}
	if (err.code != QM_ERR_CLOSED && err.sys_errno != ECONNRESET)
		fail_msg("expected EOF: %s", err.msg);
}

int64_t th_int(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		fail_msg("no integer '%s' in %s", key,
			 json_object_to_json_string(o));
	return json_object_get_int64(v);
}

int64_t th_stat(rpc_client *cl, const char *name)
{
	json_object *r = th_call(cl, "test.stats", NULL);
	int64_t v = th_int(r, name);

	json_object_put(r);
	return v;
}
