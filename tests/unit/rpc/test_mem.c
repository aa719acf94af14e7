/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parts that need no socket: line framing, token buckets, address
 * parsing, the error code tables, and the protocol driven through an
 * in-memory connection (rpc_conn_feed), where every split of the input
 * can be tried deterministically.
 */
#include "tests/qmig_test.h"
#include "agent/rpc.h"

#include <string.h>

#define CASE(name, fn) { name, fn, NULL, NULL, NULL }
#define MEM_TOKEN "0123456789abcdef"

/* ---- line framing ---- */

struct sink {
	int n;
	char lines[8][128];
	int stop_after;          /* 0: never stop */
};

static bool sink_fn(void *opaque, const char *line, size_t len)
{
	struct sink *k = opaque;

	assert_true(len >= 1 && line[len - 1] == '\n');
	assert_true(k->n < 8 && len < sizeof(k->lines[0]));
	memcpy(k->lines[k->n], line, len);
	k->lines[k->n++][len] = '\0';
	return !k->stop_after || k->n < k->stop_after;
}

/* Lines come out whole, with their newline, whatever the pieces; a line
 * of exactly max bytes is fine; one byte more fails as soon as it is
 * seen, without waiting for its newline. */
static void test_lines(void **state)
{
	static const char in[] = "ab\n\ncdef\nlast-1234\n";
	qm_error err = QM_ERROR_INIT;
	struct sink k;
	rpc_lines lb;
	size_t i, j;

	for (i = 0; i <= strlen(in); i++) {
		for (j = i; j <= strlen(in); j++) {
			memset(&k, 0, sizeof(k));
			rpc_lines_init(&lb, 9);
			assert_true(rpc_lines_feed(&lb, in, i, sink_fn, &k, &err));
			assert_true(rpc_lines_feed(&lb, in + i, j - i, sink_fn,
						   &k, &err));
			assert_true(rpc_lines_feed(&lb, in + j, strlen(in) - j,
						   sink_fn, &k, &err));
			assert_int_equal(k.n, 4);
			assert_string_equal(k.lines[0], "ab\n");
			assert_string_equal(k.lines[1], "\n");
			assert_string_equal(k.lines[2], "cdef\n");
			assert_string_equal(k.lines[3], "last-1234\n");
			assert_int_equal(lb.len, 0);
			rpc_lines_destroy(&lb);
		}
	}
	memset(&k, 0, sizeof(k));
	rpc_lines_init(&lb, 9);
	assert_true(rpc_lines_feed(&lb, "123456789", 9, sink_fn, &k, &err));
	assert_false(rpc_lines_feed(&lb, "0", 1, sink_fn, &k, &err));
	assert_int_equal(err.code, QM_ERR_TOO_BIG);
	assert_string_equal(err.msg,
			    "request of at least 10 bytes exceeds the limit of 9 bytes");
	assert_int_equal(k.n, 0);
	rpc_lines_destroy(&lb);
	/* The callback can stop the feed. */
	memset(&k, 0, sizeof(k));
	k.stop_after = 1;
	rpc_lines_init(&lb, 9);
	qm_error_clear(&err);
	assert_false(rpc_lines_feed(&lb, "a\nb\n", 4, sink_fn, &k, &err));
	assert_false(qm_error_is_set(&err));
	assert_int_equal(k.n, 1);
	rpc_lines_destroy(&lb);
}

/* A bucket gives its burst at once, then one token per 1/rate seconds,
 * never more than the burst; rate 0 never limits. */
static void test_bucket(void **state)
{
	const int64_t s = 1000000000;
	rpc_bucket b;
	int i;

	rpc_bucket_init(&b, 10, 3, 0);
	for (i = 0; i < 3; i++)
		assert_true(rpc_bucket_take(&b, 0));
	assert_false(rpc_bucket_take(&b, 0));
	assert_false(rpc_bucket_take(&b, s / 20));
	assert_true(rpc_bucket_take(&b, s / 10));
	assert_false(rpc_bucket_take(&b, s / 10));
	/* A long pause refills only up to the burst. */
	for (i = 0; i < 3; i++)
		assert_true(rpc_bucket_take(&b, 100 * s));
	assert_false(rpc_bucket_take(&b, 100 * s));
	/* The clock going backwards does not mint tokens. */
	assert_false(rpc_bucket_take(&b, 50 * s));
	rpc_bucket_init(&b, 0, 0, 0);
	for (i = 0; i < 1000; i++)
		assert_true(rpc_bucket_take(&b, 0));
}

/* Addresses parse into their parts; bad ones are refused with a message
 * naming what is wrong. */
static void test_addr_parse(void **state)
{
	static const struct {
		const char *s, *msg;
	} bad[] = {
		{ "/run/x.sock", "expected unix:PATH or tcp:HOST:PORT" },
		{ "unix:", "socket path is 0 bytes long" },
		{ "tcp:127.0.0.1", "expected tcp:HOST:PORT" },
		{ "tcp::7000", "host is 0 bytes long" },
		{ "tcp:1.2.3.4:", "port '' is not a number" },
		{ "tcp:1.2.3.4:65536", "port '65536' is not a number in 0..65535" },
		{ "tcp:1.2.3.4:12x", "port '12x'" },
		{ "tcp:::1:7000", "IPv6 hosts in brackets" },
		{ "tcp:[::1]7000", "expected tcp:[IPV6]:PORT" },
	};
	qm_error err = QM_ERROR_INIT;
	char longpath[200];
	rpc_addr a;
	size_t i;

	assert_true(rpc_addr_parse("unix:/run/qmig/qmigd.sock", &a, &err));
	assert_int_equal(a.kind, RPC_TRANSPORT_UNIX);
	assert_string_equal(a.path, "/run/qmig/qmigd.sock");
	assert_true(rpc_addr_parse("tcp:127.0.0.1:7000", &a, &err));
	assert_int_equal(a.kind, RPC_TRANSPORT_TCP);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 7000);
	assert_true(rpc_addr_parse("tcp:[::1]:0", &a, &err));
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 0);
	assert_true(rpc_addr_parse("tcp:localhost:65535", &a, &err));
	for (i = 0; i < QM_ARRAY_SIZE(bad); i++) {
		qm_error_clear(&err);
		assert_false(rpc_addr_parse(bad[i].s, &a, &err));
		assert_int_equal(err.code, QM_ERR_INVAL);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s': '%s' lacks '%s'", bad[i].s, err.msg,
				 bad[i].msg);
	}
	memset(longpath, 'p', sizeof(longpath));
	memcpy(longpath, "unix:", 5);
	longpath[sizeof(longpath) - 1] = '\0';
	qm_error_clear(&err);
	assert_false(rpc_addr_parse(longpath, &a, &err));
	assert_non_null(strstr(err.msg, "expected 1..107"));
}

/* Guard: the number of error codes is known, each has its own message,
 * every qm_errcode maps to one of them, and data.code names round-trip.
 * Adding a code fails here until the tables and docs/API.md follow. */
static void test_code_tables(void **state)
{
	static const int codes[] = {
		-32700, -32600, -32601, -32602, -32603, -32001, -32002, -32003,
		-32004, -32005, -32006, -32007, -32008, -32009, -32010, -32011,
		-32012, -32013,
	};
	size_t i, j;
	int c, k;

	assert_int_equal(QM_ARRAY_SIZE(codes), RPC_ERR__COUNT);
	assert_int_equal(QM_ERR__COUNT, 13);
	for (i = 0; i < QM_ARRAY_SIZE(codes); i++) {
		assert_string_not_equal(rpc_code_message(codes[i]),
					"Server error");
		assert_true(rpc_code_to_qm(codes[i]) != QM_OK);
		for (j = 0; j < i; j++)
			assert_string_not_equal(rpc_code_message(codes[i]),
						rpc_code_message(codes[j]));
	}
	assert_string_equal(rpc_code_message(-32050), "Server error");
	for (c = QM_ERR_INVAL; c < QM_ERR__COUNT; c++) {
		k = rpc_code_from_qm(c);
		for (i = 0; i < QM_ARRAY_SIZE(codes) && codes[i] != k; i++)
			;
		assert_true(i < QM_ARRAY_SIZE(codes));
		assert_int_equal(rpc_qm_code_from_name(qm_errcode_name(c)), c);
	}
	assert_int_equal(rpc_code_from_qm(QM_ERR_NOTFOUND), RPC_ERR_VM_NOT_FOUND);
	assert_int_equal(rpc_code_from_qm(QM_ERR_QMP), RPC_ERR_QEMU);
	assert_int_equal(rpc_code_from_qm(QM_ERR_IO), RPC_ERR_SYSTEM);
	assert_int_equal(rpc_code_from_qm(QM_ERR_CLOSED), RPC_ERR_PEER);
	assert_int_equal(rpc_code_from_qm(QM_ERR_NOMEM), RPC_ERR_INTERNAL);
	assert_int_equal(rpc_qm_code_from_name("no-such-code"), QM_ERR__COUNT);
	assert_int_equal(rpc_qm_code_from_name(NULL), QM_ERR__COUNT);
}

/* ---- the protocol over a memory connection ---- */

static json_object *m_echo(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return json_object_get(params);
}

static json_object *m_notify(void *ctx, rpc_call *call, json_object *params,
			     qm_error *err)
{
	json_object *p = json_object_new_object();

	json_object_object_add(p, "n", json_object_new_int(1));
	if (rpc_server_notify(ctx, "t", "ev", p, err) < 0)
		return NULL;
	return json_object_new_object();
}

/* An error message longer than QM_ERROR_MSG_MAX, cut inside a 2-byte
 * character. */
static json_object *m_longerr(void *ctx, rpc_call *call, json_object *params,
			      qm_error *err)
{
	char s[QM_ERROR_MSG_MAX + 8];

	memset(s, 'a', sizeof(s));
	memcpy(s + QM_ERROR_MSG_MAX - 2, "\xc3\xa9", 2);
	s[sizeof(s) - 1] = '\0';
	return rpc_error_set(call, RPC_ERR_QEMU, "%s", s);
}

static const rpc_method methods[] = {
	{ "echo", m_echo, NULL, 0 },
	{ "notify", m_notify, NULL, 0 },
	{ "longerr", m_longerr, NULL, 0 },
};

struct mem {
	agent_loop *loop;
	rpc_server *srv;
	rpc_conn *conn;
};

static void mem_start(struct mem *m, rpc_transport kind, size_t max_req)
{
	qm_error err = QM_ERROR_INIT;
	rpc_config cfg;

	rpc_config_init(&cfg);
	cfg.token = MEM_TOKEN;
	cfg.rate_per_s = 0;     /* the split test sends ~1000 requests */
	if (max_req)
		cfg.max_request_bytes = max_req;
	m->loop = agent_loop_new(&err);
	assert_non_null(m->loop);
	m->srv = rpc_server_new(m->loop, methods, QM_ARRAY_SIZE(methods),
				NULL, &cfg, &err);
	assert_non_null(m->srv);
	/* The notify method needs the server as its context. */
	m->srv->ctx = m->srv;
	m->conn = rpc_conn_new_memory(m->srv, kind, &err);
	assert_non_null(m->conn);
}

static void mem_stop(struct mem *m)
{
	rpc_conn_free(m->conn);
	rpc_server_free(m->srv);
	agent_loop_free(m->loop);
}

static char *mem_take(struct mem *m)
{
	size_t len;
	char *s = rpc_conn_take_output(m->conn, &len);

	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

/* Three requests (a call, a notification, a batch) give the same output
 * whether fed at once, split in two at any byte, or byte by byte. */
static void test_mem_split_every_byte(void **state)
{
	static const char in[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"s\":\"\xc3\xa9\\\"\\n\"},\"id\":1}\r\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}\n"
		"[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":-1.25e3},\"id\":\"b\"},5]\n";
	size_t len = strlen(in), k;
	struct mem m;
	char *want, *got;

	mem_start(&m, RPC_TRANSPORT_UNIX, 0);
	assert_true(rpc_conn_feed(m.conn, in, len));
	want = mem_take(&m);
	assert_non_null(strstr(want, "\"id\":1}\n[{"));
	for (k = 1; k < len; k++) {
		assert_true(rpc_conn_feed(m.conn, in, k));
		assert_true(rpc_conn_feed(m.conn, in + k, len - k));
		got = mem_take(&m);
		assert_string_equal(got, want);
		free(got);
	}
	for (k = 0; k < len; k++)
		assert_true(rpc_conn_feed(m.conn, in + k, 1));
	got = mem_take(&m);
	assert_string_equal(got, want);
	free(got);
	free(want);
	mem_stop(&m);
}

/* Over a memory connection too, an oversized line gets its error and
 * then the connection is closed: later input is ignored. */
static void test_mem_oversized(void **state)
{
	char line[200];
	struct mem m;
	char *out;

	mem_start(&m, RPC_TRANSPORT_UNIX, 100);
	memset(line, 'x', sizeof(line));
	assert_false(rpc_conn_feed(m.conn, line, sizeof(line)));
	assert_false(rpc_conn_is_open(m.conn));
	assert_false(rpc_conn_feed(m.conn, "{}\n", 3));
	out = mem_take(&m);
	assert_string_equal(out,
		"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"Invalid Request\","
		"\"data\":{\"code\":\"too-big\",\"message\":\"request of at least 200 bytes exceeds the limit of 100 bytes\"}},"
		"\"id\":null}\n");
	free(out);
	mem_stop(&m);
}

/* A memory connection of kind TCP must log in like a real one (answer
 * the challenge with the token's proof), and gets notifications once
 * subscribed, like a real one. */
static void test_mem_tcp_login(void **state)
{
	static const char before[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"rpc.challenge\",\"id\":2}\n";
	static const char after[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"rpc.subscribe\",\"params\":{\"topics\":[\"t\"]},\"id\":4}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"notify\",\"id\":5}\n";
	static const char cnonce[] = "00112233445566778899aabbccddeeff";
	char nonce[RPC_AUTH_HEX + 1], proof[RPC_AUTH_HEX + 1];
	char sproof[RPC_AUTH_HEX + 1], login[512], want[512];
	qm_error err = QM_ERROR_INIT;
	const char *p;
	struct mem m;
	char *out;

	mem_start(&m, RPC_TRANSPORT_TCP, 0);
	assert_true(rpc_conn_feed(m.conn, before, strlen(before)));
	out = mem_take(&m);
	p = strstr(out, "\"nonce\":\"");
	assert_non_null(p);
	memcpy(nonce, p + 9, RPC_AUTH_HEX);
	nonce[RPC_AUTH_HEX] = '\0';
	snprintf(want, sizeof(want),
		"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32006,\"message\":\"Unauthorized\","
		"\"data\":{\"code\":\"state\",\"message\":\"method 'echo' needs rpc.login first\"}},\"id\":1}\n"
		"{\"jsonrpc\":\"2.0\",\"result\":{\"nonce\":\"%s\"},\"id\":2}\n", nonce);
	assert_string_equal(out, want);
	free(out);

	assert_true(rpc_auth_proof(MEM_TOKEN, false, nonce, cnonce, proof, &err));
	assert_true(rpc_auth_proof(MEM_TOKEN, true, cnonce, nonce, sproof, &err));
	snprintf(login, sizeof(login),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.login\",\"params\":"
		 "{\"client_nonce\":\"%s\",\"proof\":\"%s\"},\"id\":3}\n",
		 cnonce, proof);
	assert_true(rpc_conn_feed(m.conn, login, strlen(login)));
	assert_true(rpc_conn_feed(m.conn, after, strlen(after)));
	out = mem_take(&m);
	snprintf(want, sizeof(want),
		"{\"jsonrpc\":\"2.0\",\"result\":{\"authenticated\":true,\"server_proof\":\"%s\"},\"id\":3}\n"
		"{\"jsonrpc\":\"2.0\",\"result\":{\"topics\":[\"t\"]},\"id\":4}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"ev\",\"params\":{\"n\":1}}\n"
		"{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":5}\n", sproof);
	assert_string_equal(out, want);
	free(out);
	mem_stop(&m);
}

/* Messages quoting client text, or cut at their maximum length, never
 * end in half a UTF-8 character: answers stay valid UTF-8. */
static void test_mem_utf8_messages(void **state)
{
	static const char in[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\xc3\xa9x\",\"id\":1}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"longerr\",\"id\":2}\n";
	struct json_tokener *tok = json_tokener_new();
	json_object *v, *e, *d, *m;
	const char *out, *nl;
	struct mem mm;
	size_t len;
	char *all;
	int n = 0;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	mem_start(&mm, RPC_TRANSPORT_UNIX, 0);
	assert_true(rpc_conn_feed(mm.conn, in, strlen(in)));
	all = rpc_conn_take_output(mm.conn, &len);
	out = all;
	while ((nl = memchr(out, '\n', len))) {
		json_tokener_reset(tok);
		v = json_tokener_parse_ex(tok, out, nl + 1 - out);
		if (!v)
			fail_msg("not valid: %.*s", (int)(nl - out), out);
		assert_true(json_object_object_get_ex(v, "error", &e));
		assert_true(json_object_object_get_ex(e, "data", &d));
		assert_true(json_object_object_get_ex(d, "message", &m));
		if (n++ == 0)
			assert_string_equal(json_object_get_string(m),
				"method 'mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm' not found");
		else
			assert_int_equal(json_object_get_string_len(m),
					 QM_ERROR_MSG_MAX - 2);
		json_object_put(v);
		len -= nl + 1 - out;
		out = nl + 1;
	}
	assert_int_equal(n, 2);
	free(all);
	json_tokener_free(tok);
	mem_stop(&mm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/rpc/lines/pieces-and-limit", test_lines),
		CASE("/rpc/bucket", test_bucket),
		CASE("/rpc/addr/parse", test_addr_parse),
		CASE("/rpc/codes/tables", test_code_tables),
		CASE("/rpc/mem/split-every-byte", test_mem_split_every_byte),
		CASE("/rpc/mem/oversized", test_mem_oversized),
		CASE("/rpc/mem/tcp-login", test_mem_tcp_login),
		CASE("/rpc/mem/utf8-messages", test_mem_utf8_messages),
	};

	qm_log_set_level(QM_LOG_ERROR);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("rpc-mem", tests, NULL, NULL);
}
