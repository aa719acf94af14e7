/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for what a JSON-RPC client sends to qmigd: framing, JSON
 * parsing, request checks, batches, rpc.challenge / rpc.login /
 * rpc.subscribe, params
 * getters, deferred answers and notifications, through an in-memory
 * connection (rpc_conn_feed(); no socket).
 *
 * Input: byte 0 selects how the rest is cut into pieces (bits 0-5; 0 =
 * 4096 bytes), whether the connection is a TCP one that must log in
 * (bit 7), and whether a valid login + subscribe is put in front (bit 6,
 * so the fuzzer spends its time past the login); bytes 1.. are the
 * client's bytes.
 *
 * Checked for every input: the server's output is whole lines, each
 * strict JSON in valid UTF-8: an object or array of objects with
 * "jsonrpc": "2.0" and exactly one
 * of result, error (with an integer code and a data object) or method
 * (a notification); every deferred call can be completed, before and
 * after its connection is gone; nothing leaks (ASan).
 *
 * Build: -Dfuzz=true with clang (libFuzzer), or linked with replay.c to
 * replay a corpus directory (the meson test does that on every build).
 */
#include "agent/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN		"fuzz-token-0123456789"
#define MAX_HELD	64

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "fuzz_rpc: %s:%d: %s\n",        \
				__FILE__, __LINE__, #cond);             \
			abort();                                        \
		}                                                       \
	} while (0)

static const char challenge[] =
	"{\"jsonrpc\":\"2.0\",\"method\":\"rpc.challenge\",\"id\":0}\n";
static const char subscribe[] =
	"{\"jsonrpc\":\"2.0\",\"method\":\"rpc.subscribe\",\"params\":{\"topics\":[\"t\"]},\"id\":0}\n";
#define CLIENT_NONCE	"0123456789abcdef0123456789abcdef"

struct fz {
	agent_loop *loop;
	rpc_server *srv;
	rpc_call *held[MAX_HELD];
	size_t nheld;
};

/* ---- dummy methods ---- */

static json_object *m_echo(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return json_object_get(params);
}

static json_object *m_types(void *ctx, rpc_call *call, json_object *params,
			    qm_error *err)
{
	const char *s = "";
	int64_t i = 0;
	bool b = false;
	double d = 0;
	json_object *o = NULL, *a = NULL;

	if (!rpc_param_string(params, "s", false, &s, call) ||
	    !rpc_param_int64(params, "i", false, -5, 5, &i, call) ||
	    !rpc_param_bool(params, "b", false, &b, call) ||
	    !rpc_param_double(params, "d", false, &d, call) ||
	    !rpc_param_object(params, "o", false, &o, call) ||
	    !rpc_param_array(params, "a", false, &a, call))
		return NULL;
	return json_object_new_string(s);
}

static json_object *m_fail(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	int64_t code = QM_ERR_INVAL;

	if (!rpc_param_int64(params, "code", false, 0, QM_ERR__COUNT + 2,
			     &code, call))
		return NULL;
	qm_error_set(err, (qm_errcode)code, "failed with %lld",
		     (long long)code);
	return NULL;
}

static json_object *m_busy(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return rpc_error_set(call, RPC_ERR_VM_BUSY, "busy");
}

static json_object *m_null(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return NULL;
}

static json_object *m_defer(void *ctx, rpc_call *call, json_object *params,
			    qm_error *err)
{
	struct fz *f = ctx;
	bool now = false;

	if (!rpc_param_bool(params, "now", false, &now, call))
		return NULL;
	if (!now && f->nheld == MAX_HELD)
		return rpc_error_set(call, RPC_ERR_TOO_BIG, "held");
	if (!rpc_call_defer(call, err))
		return NULL;
	if (now)
		rpc_call_complete(call, json_object_new_int(1));
	else
		f->held[f->nheld++] = call;
	return NULL;
}

static json_object *m_notify(void *ctx, rpc_call *call, json_object *params,
			     qm_error *err)
{
	struct fz *f = ctx;
	const char *topic = "t";
	int64_t n = 1, i;

	if (!rpc_param_string(params, "topic", false, &topic, call) ||
	    !rpc_param_int64(params, "n", false, 0, 64, &n, call))
		return NULL;
	for (i = 0; i < n; i++)
		if (rpc_server_notify(f->srv, topic, "ev",
				      json_object_get(params), err) < 0)
			return NULL;
	return json_object_new_object();
}

static const char *const types_members[] = {
	"s", "i", "b", "d", "o", "a", NULL
};

static const rpc_method methods[] = {
	{ "echo", m_echo, NULL, 0 },
	{ "types", m_types, types_members, 0 },
	{ "fail", m_fail, NULL, 0 },
	{ "busy", m_busy, NULL, 0 },
	{ "null", m_null, NULL, RPC_METHOD_NOAUTH },
	{ "defer", m_defer, NULL, 0 },
	{ "notify", m_notify, NULL, 0 },
};

/* ---- output checks ---- */

static void check_msg(json_object *m, bool in_batch)
{
	json_object *v, *e;
	int kinds;

	CHECK(json_object_is_type(m, json_type_object));
	CHECK(json_object_object_get_ex(m, "jsonrpc", &v));
	CHECK(!strcmp(json_object_get_string(v), "2.0"));
	kinds = json_object_object_get_ex(m, "result", NULL) +
		json_object_object_get_ex(m, "error", &e) +
		json_object_object_get_ex(m, "method", NULL);
	CHECK(kinds == 1);
	if (json_object_object_get_ex(m, "method", NULL)) {
		CHECK(!in_batch);
		CHECK(!json_object_object_get_ex(m, "id", NULL));
		return;
	}
	CHECK(json_object_object_get_ex(m, "id", NULL));
	if (json_object_object_get_ex(m, "error", &e)) {
		CHECK(json_object_object_get_ex(e, "code", &v));
		CHECK(json_object_is_type(v, json_type_int));
		CHECK(json_object_object_get_ex(e, "data", &v));
		CHECK(json_object_object_get_ex(v, "code", NULL));
		CHECK(json_object_object_get_ex(v, "message", NULL));
	}
}

/* Strict JSON and valid UTF-8, as a picky client would insist on. */
static json_object *parse_strict(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *v;

	CHECK(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	v = json_tokener_parse_ex(tok, s, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		fprintf(stderr, "fuzz_rpc: bad output line: %.*s\n", (int)len,
			s);
		abort();
	}
	json_tokener_free(tok);
	return v;
}

static void check_output(rpc_conn *conn)
{
	const char *out, *nl;
	json_object *v;
	size_t len, i;
	char *all;

	all = rpc_conn_take_output(conn, &len);
	CHECK(all);
	out = all;
	/* Lines are queued whole. */
	CHECK(!len || out[len - 1] == '\n');
	while (len) {
		nl = memchr(out, '\n', len);
		/* With the newline, which ends a trailing number. */
		v = parse_strict(out, nl + 1 - out);
		if (json_object_is_type(v, json_type_array)) {
			CHECK(json_object_array_length(v) > 0);
			for (i = 0; i < json_object_array_length(v); i++)
				check_msg(json_object_array_get_idx(v, i), true);
		} else {
			check_msg(v, false);
		}
		json_object_put(v);
		len -= nl + 1 - out;
		out = nl + 1;
	}
	free(all);
}

/* The real handshake (the nonce is random), then a subscription. */
static void log_in(rpc_conn *conn)
{
	char nonce[RPC_AUTH_HEX + 1], proof[RPC_AUTH_HEX + 1], line[512];
	const char *p;
	size_t len;
	char *out;

	CHECK(rpc_conn_feed(conn, challenge, strlen(challenge)));
	out = rpc_conn_take_output(conn, &len);
	CHECK(out);
	p = strstr(out, "\"nonce\":\"");
	CHECK(p && strlen(p + 9) > RPC_AUTH_HEX);
	memcpy(nonce, p + 9, RPC_AUTH_HEX);
	nonce[RPC_AUTH_HEX] = '\0';
	free(out);
	CHECK(rpc_auth_proof(TOKEN, false, nonce, CLIENT_NONCE, proof, NULL));
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"method\":"
		 "\"rpc.login\",\"params\":{\"client_nonce\":\"" CLIENT_NONCE
		 "\",\"proof\":\"%s\"},\"id\":0}\n", proof);
	CHECK(rpc_conn_feed(conn, line, strlen(line)));
	out = rpc_conn_take_output(conn, &len);
	CHECK(out && strstr(out, "\"authenticated\":true"));
	free(out);
	CHECK(rpc_conn_feed(conn, subscribe, strlen(subscribe)));
	check_output(conn);
}

/* ---- setup, once per process ---- */

static struct fz *fz_get(void)
{
	static struct fz f;
	rpc_config cfg;

	if (f.srv)
		return &f;
	qm_log_set_level(QM_LOG_ERROR);
	rpc_config_init(&cfg);
	/* Small limits, so that inputs the fuzzer can produce reach them. */
	cfg.max_request_bytes = 4096;
	cfg.max_depth = 8;
	cfg.max_batch = 8;
	cfg.max_output_bytes = 64 << 10;
	cfg.rate_per_s = 1e-6;
	cfg.rate_burst = 48;
	cfg.login_burst = 2;
	cfg.max_deferred = 8;
	cfg.token = TOKEN;
	f.loop = agent_loop_new(NULL);
	CHECK(f.loop);
	f.srv = rpc_server_new(f.loop, methods, QM_ARRAY_SIZE(methods), &f,
			       &cfg, NULL);
	CHECK(f.srv);
	return &f;
}

/* Answer held calls: with a result, an error, or a mapped error. */
static void release(struct fz *f, size_t keep)
{
	qm_error e = QM_ERROR_INIT;

	qm_error_set(&e, QM_ERR_TIMEOUT, "late");
	while (f->nheld > keep) {
		f->nheld--;
		if (f->nheld % 3 == 0)
			rpc_call_complete(f->held[f->nheld], NULL);
		else
			rpc_call_fail(f->held[f->nheld],
				      f->nheld % 3 == 1 ? 0 : RPC_ERR_PEER, &e);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *f = fz_get();
	rpc_server_stats st;
	size_t piece, off;
	rpc_conn *conn;

	if (size < 1 || size > (1 << 20))
		return 0;
	piece = (data[0] & 0x3f) ? (data[0] & 0x3f) : 4096;
	conn = rpc_conn_new_memory(f->srv, data[0] & 0x80 ? RPC_TRANSPORT_TCP :
				   RPC_TRANSPORT_UNIX, NULL);
	CHECK(conn);
	if (data[0] & 0x40)
		log_in(conn);
	for (off = 1; off < size; off += piece) {
		if (!rpc_conn_feed(conn, data + off,
				   QM_MIN(piece, size - off))) {
			check_output(conn);
			break;
		}
		check_output(conn);
		/* Some answers arrive while the connection lives. */
		release(f, f->nheld / 2);
		check_output(conn);
	}
	rpc_conn_free(conn);
	/* The rest after it is gone. */
	release(f, 0);
	rpc_server_get_stats(f->srv, &st);
	CHECK(st.conns == 0);
	return 0;
}
