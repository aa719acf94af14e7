/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON-RPC 2.0 conformance of the server over a real unix socket: single
 * calls, notifications, batches, ids, the spec's error codes, framing
 * (split lines, many lines per write, size and depth limits) and the
 * mapping of handler errors.
 */
#include "tests/unit/rpc/harness.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CASE(name, fn) { name, fn, setup, teardown, NULL }

/* One server and one client per test (cmocka setup/teardown). */
static th_server srv;
static rpc_client *cl;

static int setup(void **state)
{
	th_start(&srv, NULL, false);
	cl = th_connect(srv.unix_addr);
	return 0;
}

static int teardown(void **state)
{
	rpc_client_free(cl);
	th_stop(&srv);
	return 0;
}

static void assert_result(json_object *resp, const char *id_json,
			  const char *result_json)
{
	json_object *v;

	assert_true(json_object_object_get_ex(resp, "jsonrpc", &v));
	assert_string_equal(json_object_get_string(v), "2.0");
	assert_false(json_object_object_get_ex(resp, "error", NULL));
	assert_true(json_object_object_get_ex(resp, "id", &v));
	assert_string_equal(json_object_to_json_string_ext(v,
				JSON_C_TO_STRING_PLAIN), id_json);
	assert_true(json_object_object_get_ex(resp, "result", &v));
	assert_string_equal(json_object_to_json_string_ext(v,
				JSON_C_TO_STRING_PLAIN), result_json);
}

/* A valid call gets exactly one response with its id and result. */
static void test_valid_call(void **state)
{
	json_object *r = th_raw(cl,
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.add\", "
		"\"params\": {\"a\": 2, \"b\": 40}, \"id\": 1}");

	assert_result(r, "1", "{\"sum\":42}");
	json_object_put(r);
	/* The client library agrees. */
	r = th_call(cl, "test.add", "{\"a\": -1, \"b\": 1}");
	assert_int_equal(th_int(r, "sum"), 0);
	json_object_put(r);
	th_assert_silent(cl, 50);
}

/* A notification (no id) runs its method and is never answered, not
 * even when the method fails or does not exist. */
static void test_notification(void **state)
{
	static const char lines[] =
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.bump\"}\n"
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.bump\", \"params\": {}}\n"
		"{\"jsonrpc\": \"2.0\", \"method\": \"no.such\"}\n"
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.fail\"}\n"
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.add\", \"params\": {\"a\": \"x\"}}\n";
	qm_error err = QM_ERROR_INIT;
	json_object *r;

	assert_true(rpc_client_send_raw(cl, lines, strlen(lines), 1000, &err));
	th_assert_silent(cl, 100);
	r = th_call(cl, "test.count", NULL);
	assert_int_equal(th_int(r, "count"), 2);
	json_object_put(r);
}

/* A batch mixing calls, notifications and an invalid element answers
 * with one array holding a response per call and per invalid element, in
 * any order, and nothing for the notifications. */
static void test_batch_mixed(void **state)
{
	json_object *r, *e, *id;
	size_t i;
	int seen = 0;

	r = th_raw(cl, "["
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.add\", \"params\": {\"a\": 1, \"b\": 2}, \"id\": \"x\"},"
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.bump\"},"
		"42,"
		"{\"jsonrpc\": \"2.0\", \"method\": \"no.such\", \"id\": 9},"
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.bump\"}"
		"]");
	assert_true(json_object_is_type(r, json_type_array));
	assert_int_equal(json_object_array_length(r), 3);
	for (i = 0; i < 3; i++) {
		e = json_object_array_get_idx(r, i);
		assert_true(json_object_object_get_ex(e, "id", &id));
		if (json_object_is_type(id, json_type_string)) {
			assert_result(e, "\"x\"", "{\"sum\":3}");
			seen |= 1;
		} else if (json_object_is_type(id, json_type_int)) {
			th_assert_error(e, RPC_ERR_METHOD_NOT_FOUND, "9",
					"method 'no.such' not found");
			seen |= 2;
		} else {
			th_assert_error(e, RPC_ERR_INVALID_REQUEST, "null",
					"request is an integer, expected an object");
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	json_object_put(r);
	r = th_call(cl, "test.count", NULL);
	assert_int_equal(th_int(r, "count"), 2);
	json_object_put(r);
	/* A batch of notifications only is not answered at all. */
	th_assert_silent(cl, 0);
	{
		static const char only[] =
			"[{\"jsonrpc\": \"2.0\", \"method\": \"test.bump\"},"
			"{\"jsonrpc\": \"2.0\", \"method\": \"test.bump\"}]\n";
		qm_error err = QM_ERROR_INIT;

		assert_true(rpc_client_send_raw(cl, only, strlen(only), 1000,
						&err));
		th_assert_silent(cl, 100);
	}
}

/* An empty batch is one Invalid Request with id null, not an array. */
static void test_empty_batch(void **state)
{
	json_object *r = th_raw(cl, "[]");

	th_assert_error(r, RPC_ERR_INVALID_REQUEST, "null", "empty batch");
	json_object_put(r);
	r = th_raw(cl, " [ ] ");
	th_assert_error(r, RPC_ERR_INVALID_REQUEST, "null", "empty batch");
	json_object_put(r);
}

/* A batch over the limit (64) is refused as a whole, with a message
 * giving its size and the limit; one at the limit is served. */
static char *batch_of(int n)
{
	char *line = malloc(n * 64 + 16), *p = line;
	int i;

	*p++ = '[';
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":%d}",
			     i ? "," : "", i);
	strcpy(p, "]");
	return line;
}

static void test_batch_over_limit(void **state)
{
	char *line = batch_of(65);
	json_object *r;

	r = th_raw(cl, line);
	th_assert_error(r, RPC_ERR_INVALID_REQUEST, "null",
			"batch of 65 requests exceeds the limit of 64");
	json_object_put(r);
	free(line);
	line = batch_of(64);
	r = th_raw(cl, line);
	assert_true(json_object_is_type(r, json_type_array));
	assert_int_equal(json_object_array_length(r), 64);
	json_object_put(r);
	free(line);
}

/* Malformed JSON is a Parse error with id null and the message says
 * where; the connection then serves the next line as usual. */
static void test_malformed_json(void **state)
{
	static const char *const bad[] = {
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.count\", \"id\": 1",
		"{\"jsonrpc\": \"2.0\",, \"id\": 1}",
		"{'jsonrpc': '2.0'}",
		"{\"a\": 1} trailing",
		"{\"a\": 1}{\"b\": 2}",
		"nul",
		"[1, 2,]",
		"{\"a\": \"\xff\xfe\"}",
		"{\"a\": NaN}",
	};
	json_object *r;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(bad); i++) {
		r = th_raw(cl, bad[i]);
		th_assert_error(r, RPC_ERR_PARSE, "null", NULL);
		json_object_put(r);
		r = th_call(cl, "test.count", NULL);
		json_object_put(r);
	}
	r = th_raw(cl, "{\"a\": 1} x");
	th_assert_error(r, RPC_ERR_PARSE, "null", "malformed JSON at byte 10");
	json_object_put(r);
	r = th_raw(cl, "{\"a\": [1,");
	th_assert_error(r, RPC_ERR_PARSE, "null", "the line ends at byte");
	json_object_put(r);
	/* A NUL byte ends the text for json-c: what follows is not lost. */
	{
		static const char nul[] = "{\"a\": 1}\0 {\"b\": 2}\n";
		qm_error err = QM_ERROR_INIT;

		assert_true(rpc_client_send_raw(cl, nul, sizeof(nul) - 1, 1000,
						&err));
		r = rpc_client_read(cl, TH_TIMEOUT_MS, &err);
		th_assert_error(r, RPC_ERR_PARSE, "null",
				"malformed JSON at byte 9: data after the value");
		json_object_put(r);
	}
}

/* Request shape errors are Invalid Request, naming the member and what
 * it is; the id is echoed when it is valid. */
static void test_invalid_requests(void **state)
{
	static const struct {
		const char *line, *id, *msg;
	} cases[] = {
		{ "{\"jsonrpc\": \"1.0\", \"method\": \"test.count\", \"id\": 1}",
		  "1", "member 'jsonrpc' is another string, expected \"2.0\"" },
		{ "{\"jsonrpc\": \"2\", \"method\": \"test.count\", \"id\": 1}",
		  "1", "member 'jsonrpc' is another string, expected \"2.0\"" },
		{ "{\"jsonrpc\": 2, \"method\": \"test.count\", \"id\": 2}",
		  "2", "member 'jsonrpc' is an integer, expected \"2.0\"" },
		{ "{\"method\": \"test.count\", \"id\": 3}",
		  "3", "member 'jsonrpc' is missing" },
		{ "{\"jsonrpc\": \"2.0\", \"id\": 4}",
		  "4", "member 'method' is missing" },
		{ "{\"jsonrpc\": \"2.0\", \"method\": 5, \"id\": 5}",
		  "5", "member 'method' is an integer, expected a string" },
		{ "{\"jsonrpc\": \"2.0\", \"method\": \"test.count\", \"params\": 1, \"id\": 6}",
		  "6", "member 'params' is an integer, expected an object or an array" },
		{ "{\"jsonrpc\": \"2.0\", \"method\": \"test.count\", \"id\": {}}",
		  "null", "member 'id' is an object, expected a string, a number or null" },
		{ "{\"jsonrpc\": \"2.0\", \"method\": \"test.count\", \"id\": [1]}",
		  "null", "member 'id' is an array" },
		{ "{\"jsonrpc\": \"2.0\", \"method\": \"test.count\", \"id\": true}",
		  "null", "member 'id' is a boolean" },
		{ "{\"jsonrpc\": \"2.0\", \"method\": \"test.count\", \"id\": 7, \"extra\": 1}",
		  "7", "unknown member 'extra' in the request" },
		{ "\"just a string\"", "null",
		  "request is a string, expected an object" },
		/* Without an id it cannot be told from a notification, but it
		 * is no valid one either: answered with id null. */
		{ "{\"jsonrpc\": \"2.0\", \"method\": 1}", "null",
		  "member 'method' is an integer" },
	};
	json_object *r;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(cases); i++) {
		r = th_raw(cl, cases[i].line);
		th_assert_error(r, RPC_ERR_INVALID_REQUEST, cases[i].id,
				cases[i].msg);
		json_object_put(r);
	}
}

/* Ids may be strings, integers, fractions or null, and come back
 * unchanged. */
static void test_id_types(void **state)
{
	static const char *const ids[] = {
		"\"abc\"", "\"\"", "0", "-17", "9007199254740993", "1.5",
		"null", "\"\\u00e9\\n\"",
	};
	char line[256];
	json_object *r;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(ids); i++) {
		snprintf(line, sizeof(line),
			 "{\"jsonrpc\": \"2.0\", \"method\": \"test.echo\", \"params\": {\"k\": 1}, \"id\": %s}",
			 ids[i]);
		r = th_raw(cl, line);
		if (!strcmp(ids[i], "\"\\u00e9\\n\""))
			assert_result(r, "\"\xc3\xa9\\n\"", "{\"k\":1}");
		else
			assert_result(r, ids[i], "{\"k\":1}");
		json_object_put(r);
	}
}

/* An unknown method is Method not found naming it; a method name that
 * only differs by case or an embedded NUL does not match either. */
static void test_unknown_method(void **state)
{
	json_object *r;

	th_call_err(cl, "vm.frobnicate", NULL, RPC_ERR_METHOD_NOT_FOUND,
		    "method 'vm.frobnicate' not found");
	th_call_err(cl, "TEST.COUNT", NULL, RPC_ERR_METHOD_NOT_FOUND, NULL);
	r = th_raw(cl, "{\"jsonrpc\": \"2.0\", \"method\": \"test.count\\u0000x\", \"id\": 1}");
	th_assert_error(r, RPC_ERR_METHOD_NOT_FOUND, "1", NULL);
	json_object_put(r);
	th_call_err(cl, "rpc.nothing", NULL, RPC_ERR_METHOD_NOT_FOUND, NULL);
}

/* Params of the wrong type are Invalid params naming the member and
 * both types; so are missing members, out-of-range integers, unknown
 * members and by-position params. */
static void test_params(void **state)
{
	static const struct {
		const char *params, *msg;
	} cases[] = {
		{ "{\"s\": 1, \"i\": 1, \"b\": true, \"d\": 1, \"o\": {}, \"a\": []}",
		  "params: member 's' is an integer, expected a string" },
		{ "{\"s\": \"x\", \"i\": \"1\", \"b\": true, \"d\": 1, \"o\": {}, \"a\": []}",
		  "params: member 'i' is a string, expected an integer" },
		{ "{\"s\": \"x\", \"i\": 1.5, \"b\": true, \"d\": 1, \"o\": {}, \"a\": []}",
		  "params: member 'i' is a number, expected an integer" },
		{ "{\"s\": \"x\", \"i\": 101, \"b\": true, \"d\": 1, \"o\": {}, \"a\": []}",
		  "params: member 'i' is 101, expected 0..100" },
		{ "{\"s\": \"x\", \"i\": 18446744073709551615, \"b\": true, \"d\": 1, \"o\": {}, \"a\": []}",
		  "params: member 'i' is 18446744073709551615, expected 0..100" },
		{ "{\"s\": \"x\", \"i\": 1, \"b\": 1, \"d\": 1, \"o\": {}, \"a\": []}",
		  "params: member 'b' is an integer, expected a boolean" },
		{ "{\"s\": \"x\", \"i\": 1, \"b\": true, \"d\": \"1\", \"o\": {}, \"a\": []}",
		  "params: member 'd' is a string, expected a number" },
		{ "{\"s\": \"x\", \"i\": 1, \"b\": true, \"d\": 1, \"o\": [], \"a\": []}",
		  "params: member 'o' is an array, expected an object" },
		{ "{\"s\": \"x\", \"i\": 1, \"b\": true, \"d\": 1, \"o\": {}, \"a\": null}",
		  "params: member 'a' is null, expected an array" },
		{ "{\"s\": \"x\", \"i\": 1, \"b\": true, \"d\": 1, \"o\": {}}",
		  "params: member 'a' is required (an array)" },
		{ "{\"s\": \"a\\u0000b\", \"i\": 1, \"b\": true, \"d\": 1, \"o\": {}, \"a\": []}",
		  "params: member 's' contains a NUL character at byte 1" },
		{ "{\"s\": \"x\", \"i\": 1, \"b\": true, \"d\": 1, \"o\": {}, \"a\": [], \"wait\": true}",
		  "params: unknown member 'wait' (method 'test.types' takes s, i, b, d, o, a)" },
		{ "[1, 2]",
		  "params: method 'test.types' takes named params (an object), not an array" },
	};
	json_object *r;
	size_t i;

	for (i = 0; i < QM_ARRAY_SIZE(cases); i++)
		th_call_err(cl, "test.types", cases[i].params,
			    RPC_ERR_INVALID_PARAMS, cases[i].msg);
	r = th_call(cl, "test.types",
		    "{\"s\": \"x\", \"i\": 100, \"b\": false, \"d\": 7, \"o\": {\"k\": 1}, \"a\": [1]}");
	assert_string_equal(json_object_to_json_string_ext(r,
				JSON_C_TO_STRING_PLAIN),
			    "{\"s\":\"x\",\"i\":100,\"b\":false,\"d\":7.0,\"o\":{\"k\":1},\"a\":[1]}");
	json_object_put(r);
	th_call_err(cl, "test.count", "{\"x\": 1}", RPC_ERR_INVALID_PARAMS,
		    "params: unknown member 'x' (method 'test.count' takes no members)");
}

/* Handler errors map to codes by their qm_errcode, or by the code the
 * handler chose, and data.code names the qm_errcode; a handler that
 * returns nothing is an Internal error. */
static void test_handler_errors(void **state)
{
	json_object *r;

	r = th_raw(cl, "{\"jsonrpc\": \"2.0\", \"method\": \"test.fail\", \"id\": 1}");
	th_assert_error(r, RPC_ERR_VM_NOT_FOUND, "1", "vm 'ghost' not found");
	assert_string_equal(json_object_to_json_string_ext(r,
				JSON_C_TO_STRING_PLAIN),
			    "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32001,\"message\":\"VM not found\","
			    "\"data\":{\"code\":\"not-found\",\"message\":\"vm 'ghost' not found\"}},\"id\":1}");
	json_object_put(r);
	r = th_raw(cl, "{\"jsonrpc\": \"2.0\", \"method\": \"test.busy\", \"id\": 2}");
	th_assert_error(r, RPC_ERR_VM_BUSY, "2", "vm 'vm1' is migrating");
	json_object_put(r);
	r = th_raw(cl, "{\"jsonrpc\": \"2.0\", \"method\": \"test.null\", \"id\": 3}");
	th_assert_error(r, RPC_ERR_INTERNAL, "3",
			"method 'test.null' returned neither a result nor an error");
	json_object_put(r);
	/* The client maps them back. */
	{
		qm_error err = QM_ERROR_INIT;

		assert_null(rpc_client_call(cl, "test.fail", NULL, 1000, &err));
		assert_int_equal(err.code, QM_ERR_NOTFOUND);
		assert_int_equal(err.subclass, RPC_ERR_VM_NOT_FOUND);
		assert_string_equal(err.msg, "test.fail: vm 'ghost' not found");
	}
}

/* A line over the size limit is answered with Invalid Request (too-big)
 * and the connection is closed; the error comes first, and the server
 * does not wait for the newline to decide. */
static void test_oversized(void **state)
{
	size_t big = RPC_DEFAULT_MAX_REQUEST + 100;
	char *line = malloc(big);
	qm_error err = QM_ERROR_INIT;
	json_object *r, *e, *d, *v;

	memset(line, ' ', big);
	memcpy(line, "{\"jsonrpc\": \"2.0\", \"method\": \"test.echo\", \"params\": {\"p\": \"", 60);
	/* No newline at all: the limit alone must trigger. */
	assert_true(rpc_client_send_raw(cl, line, big, TH_TIMEOUT_MS, &err));
	r = rpc_client_read(cl, TH_TIMEOUT_MS, &err);
	if (!r)
		fail_msg("%s", err.msg);
	th_assert_error(r, RPC_ERR_INVALID_REQUEST, "null",
			"exceeds the limit of 1048576 bytes");
	assert_true(json_object_object_get_ex(r, "error", &e));
	assert_true(json_object_object_get_ex(e, "data", &d));
	assert_true(json_object_object_get_ex(d, "code", &v));
	assert_string_equal(json_object_get_string(v), "too-big");
	json_object_put(r);
	th_assert_closed(cl);
	free(line);
	rpc_client_free(cl);
	/* The server goes on; the old connection goes once it sees EOF. */
	cl = th_connect(srv.unix_addr);
	while (th_stat(cl, "conns") != 1)
		usleep(1000);
}

/* A line exactly at the limit is served. */
static void test_at_limit(void **state)
{
	size_t max = RPC_DEFAULT_MAX_REQUEST;
	static const char head[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":5}";
	char *line = malloc(max + 1);
	json_object *r;

	memset(line, ' ', max);
	memcpy(line, head, strlen(head));
	line[max] = '\0';
	r = th_raw(cl, line);
	assert_result(r, "5", "{\"count\":0}");
	json_object_put(r);
	free(line);
}

/* Nesting deeper than 32 levels (the request object counting as one) is
 * refused as too-big and the connection goes on; 32 levels are fine. */
static void test_too_deep(void **state)
{
	char line[512], *p;
	json_object *r;
	int depth, i, leaf;

	/* With and without a scalar in the innermost array: json-c counts
	 * the scalar as a level, the limit does not. */
	for (depth = 32; depth <= 33; depth++) {
		for (leaf = 0; leaf < 2; leaf++) {
			/* request (1) + params (2) + depth - 2 arrays */
			p = line + sprintf(line, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"id\":1,\"params\":{\"x\":");
			for (i = 0; i < depth - 2; i++)
				*p++ = '[';
			if (leaf)
				*p++ = '7';
			for (i = 0; i < depth - 2; i++)
				*p++ = ']';
			strcpy(p, "}}");
			r = th_raw(cl, line);
			if (depth == 32)
				assert_false(json_object_object_get_ex(r, "error",
								       NULL));
			else
				th_assert_error(r, RPC_ERR_INVALID_REQUEST, "null",
						"request nests deeper than the limit of 32 levels");
			json_object_put(r);
		}
	}
	r = th_call(cl, "test.count", NULL);
	json_object_put(r);
}

/* Partial lines across reads work wherever the cut is: a request sent in
 * two writes, split at every byte, with a pause between them. */
static void test_split_every_byte(void **state)
{
	static const char line[] =
		"{\"jsonrpc\": \"2.0\", \"method\": \"test.echo\", "
		"\"params\": {\"t\": \"caf\xc3\xa9\", \"n\": [1.5, -2, null]}, "
		"\"id\": \"s\"}\n";
	size_t len = strlen(line), k;
	qm_error err = QM_ERROR_INIT;
	json_object *r;

	for (k = 1; k < len; k++) {
		assert_true(rpc_client_send_raw(cl, line, k, 1000, &err));
		usleep(200);
		assert_true(rpc_client_send_raw(cl, line + k, len - k, 1000,
						&err));
		r = rpc_client_read(cl, TH_TIMEOUT_MS, &err);
		assert_non_null(r);
		assert_result(r, "\"s\"",
			      "{\"t\":\"caf\xc3\xa9\",\"n\":[1.5,-2,null]}");
		json_object_put(r);
	}
}

/* Many requests in one write are all answered, in order; blank lines and
 * CRLF endings are accepted. */
static void test_many_in_one_write(void **state)
{
	enum { N = 300 };
	char *buf = malloc(N * 96), *p = buf;
	qm_error err = QM_ERROR_INIT;
	json_object *r, *id;
	int i;

	for (i = 0; i < N; i++)
		p += sprintf(p, "{\"jsonrpc\":\"2.0\",\"method\":\"test.add\",\"params\":{\"a\":%d,\"b\":1},\"id\":%d}%s",
			     i, i, i % 3 ? "\n" : "\r\n\n  \n");
	assert_true(rpc_client_send_raw(cl, buf, p - buf, TH_TIMEOUT_MS, &err));
	for (i = 0; i < N; i++) {
		r = rpc_client_read(cl, TH_TIMEOUT_MS, &err);
		assert_non_null(r);
		assert_true(json_object_object_get_ex(r, "id", &id));
		assert_int_equal(json_object_get_int(id), i);
		assert_int_equal(th_int(json_object_object_get(r, "result"),
					"sum"), i + 1);
		json_object_put(r);
	}
	free(buf);
}

/* A client that sends its requests and shuts down its write side still
 * gets every answer before the server closes. */
static void test_half_close(void **state)
{
	static const char lines[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":1}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\",\"params\":{\"ms\":50},\"id\":2}\n";
	qm_error err = QM_ERROR_INIT;
	json_object *r;

	assert_true(rpc_client_send_raw(cl, lines, strlen(lines), 1000, &err));
	assert_int_equal(shutdown(rpc_client_fd(cl), SHUT_WR), 0);
	r = rpc_client_read(cl, TH_TIMEOUT_MS, &err);
	assert_result(r, "1", "{\"count\":0}");
	json_object_put(r);
	r = rpc_client_read(cl, TH_TIMEOUT_MS, &err);
	assert_result(r, "2", "{\"deferred\":true}");
	json_object_put(r);
	th_assert_closed(cl);
	rpc_client_free(cl);
	cl = th_connect(srv.unix_addr);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/rpc/proto/valid-call", test_valid_call),
		CASE("/rpc/proto/notification", test_notification),
		CASE("/rpc/proto/batch-mixed", test_batch_mixed),
		CASE("/rpc/proto/empty-batch", test_empty_batch),
		CASE("/rpc/proto/batch-over-limit", test_batch_over_limit),
		CASE("/rpc/proto/malformed-json", test_malformed_json),
		CASE("/rpc/proto/invalid-requests", test_invalid_requests),
		CASE("/rpc/proto/id-types", test_id_types),
		CASE("/rpc/proto/unknown-method", test_unknown_method),
		CASE("/rpc/proto/params", test_params),
		CASE("/rpc/proto/handler-errors", test_handler_errors),
		CASE("/rpc/frame/oversized", test_oversized),
		CASE("/rpc/frame/at-limit", test_at_limit),
		CASE("/rpc/frame/too-deep", test_too_deep),
		CASE("/rpc/frame/split-every-byte", test_split_every_byte),
		CASE("/rpc/frame/many-in-one-write", test_many_in_one_write),
		CASE("/rpc/frame/half-close", test_half_close),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("rpc-proto", tests, NULL, NULL);
}
