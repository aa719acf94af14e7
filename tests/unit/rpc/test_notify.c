/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the server sends on its own and when: notifications to subscribed
 * connections, slow readers dropped without stalling anyone, the request
 * rate limit, and deferred (asynchronous) answers.
 */
#include "tests/unit/rpc/harness.h"

#include <string.h>
#include <unistd.h>

#define CASE(name, fn) { name, fn, NULL, NULL, NULL }

static void assert_event(json_object *m, int64_t seq)
{
	json_object *p;

	assert_non_null(m);
	assert_string_equal(json_object_get_string(
		json_object_object_get(m, "method")), "test.event");
	assert_false(json_object_object_get_ex(m, "id", NULL));
	assert_true(json_object_object_get_ex(m, "params", &p));
	assert_int_equal(th_int(p, "seq"), seq);
	json_object_put(m);
}

static void subscribe(rpc_client *cl, const char *topic)
{
	qm_error err = QM_ERROR_INIT;

	if (!rpc_client_subscribe(cl, &topic, 1, TH_TIMEOUT_MS, &err))
		fail_msg("%s", err.msg);
}

/* Notifications reach exactly the connections subscribed to their
 * topic, in order; rpc.unsubscribe stops them. */
static void test_subscribed_only(void **state)
{
	qm_error err = QM_ERROR_INIT;
	rpc_client *a, *b, *c, *d;
	th_server t;
	json_object *r;
	int i;

	th_start(&t, NULL, true);
	a = th_connect(t.unix_addr);
	b = th_connect(t.unix_addr);
	c = th_connect(t.tcp_addr);
	d = th_connect(t.unix_addr);
	subscribe(a, "migration");
	subscribe(b, "vm");
	/* Not logged in: cannot subscribe, gets nothing. */
	th_call_err(c, "rpc.subscribe", "{\"topics\": [\"migration\"]}",
		    RPC_ERR_UNAUTHORIZED, NULL);
	r = th_call(d, "test.notify", "{\"topic\": \"migration\", \"count\": 3}");
	assert_int_equal(th_int(r, "reached"), 1);
	json_object_put(r);
	for (i = 0; i < 3; i++)
		assert_event(rpc_client_next_notification(a, TH_TIMEOUT_MS,
							  &err), i);
	th_assert_silent(b, 50);
	th_assert_silent(c, 0);
	th_assert_silent(d, 0);
	r = th_call(a, "rpc.unsubscribe", "{\"topics\": [\"migration\", \"other\"]}");
	assert_string_equal(json_object_to_json_string_ext(r,
				JSON_C_TO_STRING_PLAIN), "{\"topics\":[]}");
	json_object_put(r);
	r = th_call(d, "test.notify", "{\"topic\": \"migration\"}");
	assert_int_equal(th_int(r, "reached"), 0);
	json_object_put(r);
	r = th_call(b, "rpc.subscribe", "{\"topics\": [\"vm\", \"migration\"]}");
	assert_string_equal(json_object_to_json_string_ext(r,
				JSON_C_TO_STRING_PLAIN),
			    "{\"topics\":[\"vm\",\"migration\"]}");
	json_object_put(r);
	rpc_client_free(a);
	rpc_client_free(b);
	rpc_client_free(c);
	rpc_client_free(d);
	th_stop(&t);
}

/* Notifications that arrive while the client waits for a response are
 * kept for rpc_client_next_notification(), not lost. */
static void test_client_queues_notifications(void **state)
{
	qm_error err = QM_ERROR_INIT;
	th_server t;
	rpc_client *a;
	json_object *r;

	th_start(&t, NULL, false);
	a = th_connect(t.unix_addr);
	subscribe(a, "migration");
	r = th_call(a, "test.notify", "{\"topic\": \"migration\", \"count\": 2}");
	json_object_put(r);
	assert_event(rpc_client_next_notification(a, 0, &err), 0);
	assert_event(rpc_client_next_notification(a, 0, &err), 1);
	assert_null(rpc_client_next_notification(a, 0, &err));
	assert_int_equal(err.code, QM_ERR_TIMEOUT);
	rpc_client_free(a);
	th_stop(&t);
}

/* Topic names are checked: the type and name of each element, the
 * server's list of topics, the number per connection. */
static void test_topics_checked(void **state)
{
	static const char *const topics[] = { "migration", "vm", NULL };
	rpc_config cfg;
	th_server t;
	rpc_client *a;

	th_config(&cfg);
	cfg.topics = topics;
	th_start(&t, &cfg, false);
	a = th_connect(t.unix_addr);
	th_call_err(a, "rpc.subscribe", "{\"topics\": [\"vm\", \"bogus\"]}",
		    RPC_ERR_INVALID_PARAMS,
		    "params: topics[1] 'bogus' is not a topic of this server");
	th_call_err(a, "rpc.subscribe", "{\"topics\": [\"Bad Name\"]}",
		    RPC_ERR_INVALID_PARAMS,
		    "params: topics[0] 'Bad Name' is not a topic name");
	th_call_err(a, "rpc.subscribe", "{\"topics\": [1]}",
		    RPC_ERR_INVALID_PARAMS,
		    "params: topics[0] is an integer, expected a string");
	th_call_err(a, "rpc.subscribe", "{\"topics\": \"vm\"}",
		    RPC_ERR_INVALID_PARAMS,
		    "params: member 'topics' is a string, expected an array");
	th_call_err(a, "rpc.subscribe", NULL, RPC_ERR_INVALID_PARAMS,
		    "params: member 'topics' is required (an array)");
	/* Nothing was subscribed by the failed calls. */
	th_call_err(a, "rpc.unsubscribe", "{\"topics\": [2]}",
		    RPC_ERR_INVALID_PARAMS, NULL);
	rpc_client_free(a);
	th_stop(&t);

	th_start(&t, NULL, false);
	a = th_connect(t.unix_addr);
	th_call_err(a, "rpc.subscribe",
		    "{\"topics\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
		    "\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
		    RPC_ERR_TOO_BIG,
		    "rpc.subscribe: 17 topics exceed the limit of 16 per connection");
	rpc_client_free(a);
	th_stop(&t);
}

/* A subscribed client that never reads is dropped once its unsent output
 * passes max_output_bytes; the notifying call returns promptly and the
 * other clients are served as before. */
static void test_slow_client_dropped(void **state)
{
	rpc_client *slow, *other, *fast;
	int64_t t0;
	rpc_config cfg;
	th_server t;
	json_object *r;
	qm_error err = QM_ERROR_INIT;
	int got = 0;

	th_config(&cfg);
	cfg.max_request_bytes = 16 << 10;
	cfg.max_output_bytes = 64 << 10;
	th_start(&t, &cfg, false);
	slow = th_connect(t.unix_addr);
	fast = th_connect(t.unix_addr);
	other = th_connect(t.unix_addr);
	subscribe(slow, "migration");
	subscribe(fast, "vm");
	t0 = qm_now_ms();
	/* 4 MiB of notifications, far beyond socket buffers + 64 KiB. */
	r = th_call(other, "test.notify",
		    "{\"topic\": \"migration\", \"count\": 1024, \"size\": 4096}");
	assert_true(qm_now_ms() - t0 < 2000);
	assert_int_equal(th_int(r, "reached"), 0);
	json_object_put(r);
	assert_int_equal(th_stat(other, "dropped"), 1);
	assert_int_equal(th_stat(other, "conns"), 2);
	r = th_call(other, "test.notify", "{\"topic\": \"vm\", \"count\": 2}");
	assert_int_equal(th_int(r, "reached"), 1);
	json_object_put(r);
	assert_event(rpc_client_next_notification(fast, TH_TIMEOUT_MS, &err), 0);
	assert_event(rpc_client_next_notification(fast, TH_TIMEOUT_MS, &err), 1);
	/* The slow one gets what was already in flight, then EOF. */
	while ((r = rpc_client_next_notification(slow, TH_TIMEOUT_MS, &err))) {
		assert_event(r, got);
		got++;
	}
	assert_int_equal(err.code, QM_ERR_CLOSED);
	assert_true(got > 0 && got < 1024);
	rpc_client_free(slow);
	rpc_client_free(fast);
	rpc_client_free(other);
	th_stop(&t);
}

/* Output much larger than the socket buffers goes out over many partial
 * writes and arrives whole and in order. */
static void test_large_output_intact(void **state)
{
	qm_error err = QM_ERROR_INIT;
	th_server t;
	rpc_client *a, *b;
	json_object *r, *p, *pad;
	int i;

	th_start(&t, NULL, false);
	a = th_connect(t.unix_addr);
	b = th_connect(t.unix_addr);
	subscribe(a, "migration");
	/* 200 x 8 KiB: 1.6 MB, under the 4 MiB output limit. */
	r = th_call(b, "test.notify",
		    "{\"topic\": \"migration\", \"count\": 200, \"size\": 8191}");
	assert_int_equal(th_int(r, "reached"), 1);
	json_object_put(r);
	for (i = 0; i < 200; i++) {
		r = rpc_client_next_notification(a, TH_TIMEOUT_MS, &err);
		assert_non_null(r);
		assert_true(json_object_object_get_ex(r, "params", &p));
		assert_true(json_object_object_get_ex(p, "pad", &pad));
		assert_int_equal(json_object_get_string_len(pad), 8191);
		assert_int_equal(strspn(json_object_get_string(pad), "x"), 8191);
		assert_event(r, i);
	}
	assert_int_equal(th_stat(b, "dropped"), 0);
	rpc_client_free(a);
	rpc_client_free(b);
	th_stop(&t);
}

/* Over the request rate a call gets Rate limited, a notification is
 * dropped unanswered, the connection stays open, other connections have
 * their own budget, and tokens come back with time. */
static void test_rate_limit(void **state)
{
	static const char bump[] = "{\"jsonrpc\":\"2.0\",\"method\":\"test.bump\"}\n";
	qm_error err = QM_ERROR_INIT;
	rpc_client *a, *b;
	rpc_config cfg;
	th_server t;
	json_object *r;
	int i;

	th_config(&cfg);
	cfg.rate_per_s = 0.001;
	cfg.rate_burst = 5;
	th_start(&t, &cfg, false);
	a = th_connect(t.unix_addr);
	b = th_connect(t.unix_addr);
	for (i = 0; i < 6; i++)
		assert_true(rpc_client_send_raw(a, bump, strlen(bump), 1000,
						&err));
	th_call_err(a, "test.count", NULL, RPC_ERR_RATE_LIMITED,
		    "more than 0.001 requests/s (burst 5) on this connection");
	th_call_err(a, "test.count", NULL, RPC_ERR_RATE_LIMITED, NULL);
	r = th_call(b, "test.count", NULL);
	assert_int_equal(th_int(r, "count"), 5);
	json_object_put(r);
	assert_int_equal(th_stat(b, "rate_limited"), 3);
	rpc_client_free(a);
	rpc_client_free(b);
	th_stop(&t);

	th_config(&cfg);
	cfg.rate_per_s = 20;
	cfg.rate_burst = 1;
	th_start(&t, &cfg, false);
	a = th_connect(t.unix_addr);
	r = th_call(a, "test.count", NULL);
	json_object_put(r);
	th_call_err(a, "test.count", NULL, RPC_ERR_RATE_LIMITED, NULL);
	usleep(100 * 1000);
	r = th_call(a, "test.count", NULL);
	json_object_put(r);
	rpc_client_free(a);
	th_stop(&t);
}

/* A deferred call is answered when its work completes, and calls sent
 * after it on the same connection are answered meanwhile. */
static void test_defer_later(void **state)
{
	static const char lines[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\",\"params\":{\"ms\":80},\"id\":1}\n"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":2}\n";
	qm_error err = QM_ERROR_INIT;
	int64_t t0 = qm_now_ms();
	th_server t;
	rpc_client *a;
	json_object *r;

	th_start(&t, NULL, false);
	a = th_connect(t.unix_addr);
	assert_true(rpc_client_send_raw(a, lines, strlen(lines), 1000, &err));
	r = rpc_client_read(a, TH_TIMEOUT_MS, &err);
	assert_int_equal(th_int(r, "id"), 2);
	json_object_put(r);
	r = rpc_client_read(a, TH_TIMEOUT_MS, &err);
	assert_int_equal(th_int(r, "id"), 1);
	assert_true(qm_now_ms() - t0 >= 70);
	assert_string_equal(json_object_to_json_string_ext(
		json_object_object_get(r, "result"), JSON_C_TO_STRING_PLAIN),
		"{\"deferred\":true}");
	json_object_put(r);
	/* Failing later maps the error as usual. */
	th_call_err(a, "test.defer", "{\"ms\": 5, \"fail\": true}",
		    RPC_ERR_TIMEOUT, "deferred work timed out");
	/* Completed from inside its own handler. */
	r = th_call(a, "test.defer_now", NULL);
	assert_string_equal(json_object_to_json_string_ext(r,
				JSON_C_TO_STRING_PLAIN), "{\"now\":true}");
	json_object_put(r);
	rpc_client_free(a);
	th_stop(&t);
}

/* A batch with a deferred call is answered once, as one array, when the
 * deferred call completes. */
static void test_defer_batch(void **state)
{
	th_server t;
	rpc_client *a;
	json_object *r;
	int64_t t0;

	th_start(&t, NULL, false);
	a = th_connect(t.unix_addr);
	t0 = qm_now_ms();
	r = th_raw(a, "["
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\",\"params\":{\"ms\":50},\"id\":1},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\",\"params\":{\"ms\":10}},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.count\",\"id\":2}]");
	assert_true(qm_now_ms() - t0 >= 40);
	assert_true(json_object_is_type(r, json_type_array));
	assert_int_equal(json_object_array_length(r), 2);
	json_object_put(r);
	th_assert_silent(a, 50);
	rpc_client_free(a);
	th_stop(&t);
}

/* A deferred call whose connection went away can still be completed
 * (the answer is dropped); so can one still held when the server is
 * freed (th_stop does that). The per-connection limit on deferred calls
 * is enforced. */
static void test_defer_abandoned_and_limit(void **state)
{
	static const char hold[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.defer\",\"params\":{\"ms\":-1},\"id\":1}\n";
	qm_error err = QM_ERROR_INIT;
	rpc_config cfg;
	th_server t;
	rpc_client *a, *b;
	json_object *r;

	th_config(&cfg);
	cfg.max_deferred = 2;
	th_start(&t, &cfg, false);
	a = th_connect(t.unix_addr);
	assert_true(rpc_client_send_raw(a, hold, strlen(hold), 1000, &err));
	b = th_connect(t.unix_addr);
	while (th_stat(b, "requests") < 2)   /* the hold + this call */
		usleep(1000);
	rpc_client_free(a);
	while (th_stat(b, "conns") != 1)
		usleep(1000);
	r = th_call(b, "test.release", NULL);
	assert_int_equal(th_int(r, "released"), 1);
	json_object_put(r);
	assert_true(rpc_client_send_raw(b, hold, strlen(hold), 1000, &err));
	assert_true(rpc_client_send_raw(b, hold, strlen(hold), 1000, &err));
	th_call_err(b, "test.defer", "{\"ms\": -1}", RPC_ERR_TOO_BIG,
		    "test.defer: 2 calls already in progress on this connection (limit 2)");
	rpc_client_free(b);
	th_stop(&t);
}

/* A call that times out on the client returns QM_ERR_TIMEOUT; its late
 * answer is skipped and the next call gets its own. */
static void test_client_timeout(void **state)
{
	qm_error err = QM_ERROR_INIT;
	th_server t;
	rpc_client *a;
	json_object *r;

	th_start(&t, NULL, false);
	a = th_connect(t.unix_addr);
	r = rpc_client_call(a, "test.defer",
			    json_tokener_parse("{\"ms\": 200}"), 20, &err);
	assert_null(r);
	assert_int_equal(err.code, QM_ERR_TIMEOUT);
	assert_non_null(strstr(err.msg, "test.defer: "));
	usleep(250 * 1000);
	r = th_call(a, "test.add", "{\"a\": 1, \"b\": 2}");
	assert_int_equal(th_int(r, "sum"), 3);
	json_object_put(r);
	rpc_client_free(a);
	th_stop(&t);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/rpc/notify/subscribed-only", test_subscribed_only),
		CASE("/rpc/notify/client-queue",
		     test_client_queues_notifications),
		CASE("/rpc/notify/topics-checked", test_topics_checked),
		CASE("/rpc/notify/slow-client-dropped",
		     test_slow_client_dropped),
		CASE("/rpc/notify/large-output-intact",
		     test_large_output_intact),
		CASE("/rpc/rate/limit", test_rate_limit),
		CASE("/rpc/defer/later", test_defer_later),
		CASE("/rpc/defer/batch", test_defer_batch),
		CASE("/rpc/defer/abandoned-and-limit",
		     test_defer_abandoned_and_limit),
		CASE("/rpc/client/timeout", test_client_timeout),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("rpc-notify", tests, NULL, NULL);
}
