/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the QMP connection against a fake server driven by hand
 * (tests/unit/qmp/fake.h): handshake, id matching, events, framing over a
 * real socket, failures and the callback contract.
 */
#include "tests/qmig_test.h"
#include "tests/unit/qmp/fake.h"
#include "qmp/qmp-int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CASE(name, fn) { name, fn, NULL, NULL, NULL }

/* ---- handshake ---- */

/* The greeting is parsed (version, package, capabilities), answered with
 * exactly one qmp_capabilities, and its reply makes the connection READY;
 * SO_PEERCRED on the socket gives the peer's PID. */
static void test_handshake(void **state)
{
	const qmp_greeting *g;
	fake f;

	fake_start(&f);
	assert_null(qmp_get_greeting(f.conn));
	assert_int_equal(qmp_peer_pid(f.conn), getpid());
	assert_true(fake_idle(&f)); /* nothing sent before the greeting */
	fake_handshake(&f);
	g = qmp_get_greeting(f.conn);
	assert_non_null(g);
	assert_int_equal(g->major, 7);
	assert_int_equal(g->minor, 2);
	assert_int_equal(g->micro, 22);
	assert_string_equal(g->package, "Debian 1:7.2+dfsg-7");
	assert_int_equal(g->ncaps, 1);
	assert_string_equal(g->caps[0], "oob");
	assert_true(fake_idle(&f));
	assert_int_equal(qmp_pending_count(f.conn), 0);
	fake_stop(&f);
}

/* Commands submitted before READY are held back until the
 * qmp_capabilities reply, then sent in submission order. */
static void test_queued_before_ready(void **state)
{
	rec r1 = { 0 }, r2 = { 0 };
	int64_t id1, id2, cid;
	fake f;

	fake_start(&f);
	id1 = qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r1, NULL);
	id2 = qmp_execute(f.conn, "query-migrate", NULL, 0, rec_cb, &r2, NULL);
	assert_true(id1 > 0 && id2 > id1);
	assert_true(fake_idle(&f));
	fake_send(&f, FAKE_GREETING);
	cid = fake_expect(&f, "qmp_capabilities");
	assert_true(fake_idle(&f)); /* still held back */
	fake_reply(&f, cid, "{}");
	assert_int_equal(fake_expect(&f, "query-status"), id1);
	assert_int_equal(fake_expect(&f, "query-migrate"), id2);
	fake_reply(&f, id2, "{}");
	fake_reply(&f, id1, "{\"running\": true, \"status\": \"running\"}");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r1.calls, 1);
	assert_string_equal(r1.result, "{\"running\":true,\"status\":\"running\"}");
	assert_int_equal(r2.calls, 1);
	fake_stop(&f);
}

/* A refused qmp_capabilities ends the connection, and the commands that
 * were waiting for READY get that reason. */
static void test_capabilities_refused(void **state)
{
	rec r = { 0 };
	int64_t cid;
	fake f;

	fake_start(&f);
	assert_true(qmp_execute(f.conn, "stop", NULL, 0, rec_cb, &r, NULL) > 0);
	fake_send(&f, FAKE_GREETING);
	cid = fake_expect(&f, "qmp_capabilities");
	dprintf(f.fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}, \"id\": %lld}\r\n",
		(long long)cid);
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_PROTO);
	assert_string_equal(f.err.msg,
			    "QMP: capabilities negotiation failed: qmp_capabilities: nope");
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err.code, QM_ERR_PROTO);
	assert_int_equal(qmp_get_state(f.conn), QMP_STATE_DEAD);
	fake_stop(&f);
}

/* No greeting within the default timeout: the connection dies with
 * QM_ERR_TIMEOUT, and qmp_next_timeout_ms() told the loop when to wake. */
static void test_greeting_timeout(void **state)
{
	struct pollfd pfd;
	fake f;
	int t;

	fake_start(&f);
	/* The deadline was set at connect time with the old default. */
	f.conn->greeting_deadline_ns = qm_now_ns() + 30 * 1000000LL;
	t = qmp_next_timeout_ms(f.conn);
	assert_true(t > 0 && t <= 30);
	assert_int_equal(fake_pump(&f), 0);
	pfd.fd = qmp_fd(f.conn);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, t), 0);
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_TIMEOUT);
	assert_non_null(strstr(f.err.msg, "no greeting from QEMU"));
	fake_stop(&f);
}

/* ---- commands and replies ---- */

/* Replies are matched by id, not by order: answering 3, 1, 2 completes
 * the callbacks in that order, each with its own result. */
static void test_out_of_order(void **state)
{
	static const int reply_order[3] = { 2, 0, 1 };
	int order[3], norder = 0, i, j;
	rec r[3];
	int64_t id[3];
	char ret[64];
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	for (i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].order = order;
		r[i].norder = &norder;
		r[i].tag = i;
		id[i] = qmp_execute(f.conn, "query-status", NULL, 0, rec_cb,
				    &r[i], NULL);
		assert_int_equal(fake_expect(&f, "query-status"), id[i]);
	}
	assert_int_equal(qmp_pending_count(f.conn), 3);
	for (j = 0; j < 3; j++) {
		i = reply_order[j];
		snprintf(ret, sizeof(ret), "{\"n\": %d}", i);
		fake_reply(&f, id[i], ret);
	}
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 0);
	assert_int_equal(order[2], 1);
	for (i = 0; i < 3; i++) {
		snprintf(ret, sizeof(ret), "{\"n\":%d}", i);
		assert_int_equal(r[i].calls, 1);
		assert_string_equal(r[i].result, ret);
	}
	assert_int_equal(qmp_pending_count(f.conn), 0);
	fake_stop(&f);
}

/* A reply whose id matches no pending command (unknown number, wrong
 * type) is ignored; the connection lives and the real reply still works. */
static void test_unknown_id(void **state)
{
	rec r = { 0 };
	int64_t id;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	id = qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r, NULL);
	fake_expect(&f, "query-status");
	fake_reply(&f, 999, "{}");
	fake_send(&f, "{\"return\": {}, \"id\": \"abc\"}\r\n");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r.calls, 0);
	fake_reply(&f, id, "{\"ok\": 1}");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.result, "{\"ok\":1}");
	fake_stop(&f);
}

/* A reply without an id while a command is pending means QEMU could not
 * read a command: protocol error, the pending command gets it too. */
static void test_reply_without_id(void **state)
{
	rec r = { 0 };
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r, NULL);
	fake_expect(&f, "query-status");
	fake_send(&f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n");
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_PROTO);
	assert_non_null(strstr(f.err.msg,
			       "reply without an id while 1 command is pending (last: query-status)"));
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err.code, QM_ERR_PROTO);
	assert_string_equal(r.err.msg, f.err.msg);
	assert_int_equal(qmp_fd(f.conn), -1);
	fake_stop(&f);
}

/* A QMP error reply is QM_ERR_QMP with the class as subclass and
 * "<command>: <desc>" as message; unknown classes map to UNKNOWN; a
 * malformed error object is QM_ERR_PROTO for that command only. */
static void test_qmp_error(void **state)
{
	static const struct {
		const char *error;
		qm_errcode code;
		qmp_err_class cls;
		const char *msg;
	} cases[] = {
		{ "{\"class\": \"CommandNotFound\", \"desc\": \"The command query-foo has not been found\"}",
		  QM_ERR_QMP, QMP_ERR_CLASS_COMMAND_NOT_FOUND,
		  "query-foo: The command query-foo has not been found" },
		{ "{\"class\": \"GenericError\", \"desc\": \"bad\"}",
		  QM_ERR_QMP, QMP_ERR_CLASS_GENERIC, "query-foo: bad" },
		{ "{\"class\": \"DeviceNotFound\", \"desc\": \"d\"}",
		  QM_ERR_QMP, QMP_ERR_CLASS_DEVICE_NOT_FOUND, "query-foo: d" },
		{ "{\"class\": \"KVMMissingCap\", \"desc\": \"k\"}",
		  QM_ERR_QMP, QMP_ERR_CLASS_KVM_MISSING_CAP, "query-foo: k" },
		{ "{\"class\": \"DeviceNotActive\", \"desc\": \"a\"}",
		  QM_ERR_QMP, QMP_ERR_CLASS_DEVICE_NOT_ACTIVE, "query-foo: a" },
		{ "{\"class\": \"FancyNewError\", \"desc\": \"new\"}",
		  QM_ERR_QMP, QMP_ERR_CLASS_UNKNOWN, "query-foo: new" },
		{ "{\"class\": 7, \"desc\": \"x\"}", QM_ERR_PROTO, 0,
		  "query-foo: field 'error.class' is an integer, expected a string" },
		{ "{\"class\": \"GenericError\"}", QM_ERR_PROTO, 0,
		  "query-foo: field 'error.desc' is missing" },
		{ "\"oops\"", QM_ERR_PROTO, 0,
		  "query-foo: field 'error' is a string, expected an object" },
	};
	char buf[512];
	size_t i;
	rec r;
	int64_t id;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	for (i = 0; i < QM_ARRAY_SIZE(cases); i++) {
		memset(&r, 0, sizeof(r));
		id = qmp_execute(f.conn, "query-foo", NULL, 0, rec_cb, &r, NULL);
		fake_expect(&f, "query-foo");
		snprintf(buf, sizeof(buf), "{\"error\": %s, \"id\": %lld}\r\n",
			 cases[i].error, (long long)id);
		fake_send(&f, buf);
		assert_int_equal(fake_pump(&f), 0);
		assert_int_equal(r.calls, 1);
		assert_true(r.has_err);
		assert_int_equal(r.err.code, cases[i].code);
		if (cases[i].code == QM_ERR_QMP)
			assert_int_equal(r.err.subclass, cases[i].cls);
		assert_string_equal(r.err.msg, cases[i].msg);
	}
	fake_stop(&f);
}

/* "return": null and a reply with both return and error are errors for
 * that command only; the connection goes on. */
static void test_bad_reply_shapes(void **state)
{
	rec r1 = { 0 }, r2 = { 0 };
	int64_t id1, id2;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	id1 = qmp_execute(f.conn, "a", NULL, 0, rec_cb, &r1, NULL);
	id2 = qmp_execute(f.conn, "b", NULL, 0, rec_cb, &r2, NULL);
	fake_expect(&f, "a");
	fake_expect(&f, "b");
	fake_reply(&f, id1, "null");
	dprintf(f.fd, "{\"return\": {}, \"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}, \"id\": %lld}\n",
		(long long)id2);
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r1.err.code, QM_ERR_PROTO);
	assert_string_equal(r1.err.msg, "a: reply has 'return': null");
	assert_int_equal(r2.err.code, QM_ERR_PROTO);
	assert_string_equal(r2.err.msg, "b: reply has both 'return' and 'error'");
	assert_int_equal(qmp_get_state(f.conn), QMP_STATE_READY);
	fake_stop(&f);
}

/* Arguments go out as given, with "execute" and a numeric "id". */
static void test_arguments_on_wire(void **state)
{
	json_object *args = json_object_new_object(), *got, *v;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	json_object_object_add(args, "uri", json_object_new_string("unix:/x/y"));
	assert_true(qmp_execute(f.conn, "migrate", args, 0, NULL, NULL,
				NULL) > 0);
	got = fake_recv(&f);
	assert_non_null(got);
	assert_true(json_object_object_get_ex(got, "arguments", &v));
	assert_true(json_object_object_get_ex(v, "uri", &v));
	assert_string_equal(json_object_get_string(v), "unix:/x/y");
	json_object_put(got);
	fake_stop(&f);
}

/* ---- timeouts ---- */

static void wait_deadline(fake *f)
{
	int t = qmp_next_timeout_ms(f->conn);

	assert_true(t >= 0);
	usleep((useconds_t)t * 1000);
}

/* A command past its deadline completes once with QM_ERR_TIMEOUT naming
 * it; its late reply is dropped without a second callback, and the
 * connection keeps working. */
static void test_timeout_late_reply(void **state)
{
	rec r = { 0 }, r2 = { 0 };
	int64_t id, id2;
	fake f;
	int t;

	fake_start(&f);
	fake_handshake(&f);
	assert_int_equal(qmp_next_timeout_ms(f.conn), -1);
	id = qmp_execute(f.conn, "query-migrate", NULL, 30, rec_cb, &r, NULL);
	fake_expect(&f, "query-migrate");
	t = qmp_next_timeout_ms(f.conn);
	assert_true(t > 0 && t <= 30);
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r.calls, 0);
	wait_deadline(&f);
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err.code, QM_ERR_TIMEOUT);
	assert_string_equal(r.err.msg,
			    "query-migrate: no reply from QEMU within 30 ms");
	fake_reply(&f, id, "{}");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r.calls, 1);
	id2 = qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r2, NULL);
	fake_expect(&f, "query-status");
	fake_reply(&f, id2, "{}");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r2.calls, 1);
	assert_false(r2.has_err);
	fake_stop(&f);
}

/* A reply that is already readable when the deadline passes wins: input
 * is processed before deadlines. */
static void test_reply_beats_deadline(void **state)
{
	rec r = { 0 };
	int64_t id;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	id = qmp_execute(f.conn, "query-status", NULL, 20, rec_cb, &r, NULL);
	fake_expect(&f, "query-status");
	fake_reply(&f, id, "{}");
	wait_deadline(&f);
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r.calls, 1);
	assert_false(r.has_err);
	fake_stop(&f);
}

/* ---- events ---- */

/* Events between replies are queued in arrival order and recorded as
 * state (STOP/RESUME/SHUTDOWN counts, last MIGRATION status); the
 * replies around them still complete. */
static void test_events_between_replies(void **state)
{
	static const char *const names[] = {
		"STOP", "RESUME", "MIGRATION", "MIGRATION", "SHUTDOWN",
	};
	const qmp_event_state *es;
	rec r1 = { 0 }, r2 = { 0 };
	json_object *ev, *v;
	int64_t id1, id2;
	size_t i;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	id1 = qmp_execute(f.conn, "stop", NULL, 0, rec_cb, &r1, NULL);
	id2 = qmp_execute(f.conn, "cont", NULL, 0, rec_cb, &r2, NULL);
	fake_send(&f, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n");
	fake_reply(&f, id1, "{}");
	fake_send(&f, "{\"event\": \"RESUME\"}\r\n{\"event\": \"MIGRATION\", \"data\": {\"status\": \"setup\"}}\r\n");
	fake_reply(&f, id2, "{}");
	fake_send(&f, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}\r\n");
	fake_send(&f, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}\r\n");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
	es = qmp_event_state_get(f.conn);
	assert_int_equal(es->stop_seen, 1);
	assert_int_equal(es->resume_seen, 1);
	assert_int_equal(es->shutdown_seen, 1);
	assert_false(es->shutdown_guest);
	assert_string_equal(es->shutdown_reason, "host-qmp-quit");
	assert_int_equal(es->migration_seen, 2);
	assert_int_equal(es->migration, QMP_MIG_STATUS_COMPLETED);
	assert_string_equal(es->migration_str, "completed");
	assert_int_equal(es->received, 5);
	assert_int_equal(qmp_event_count(f.conn), 5);
	for (i = 0; i < QM_ARRAY_SIZE(names); i++) {
		ev = qmp_event_pop(f.conn);
		assert_non_null(ev);
		assert_true(json_object_object_get_ex(ev, "event", &v));
		assert_string_equal(json_object_get_string(v), names[i]);
		json_object_put(ev);
	}
	assert_null(qmp_event_pop(f.conn));
	qmp_event_state_reset(f.conn);
	assert_int_equal(es->stop_seen, 0);
	assert_string_equal(es->migration_str, "");
	fake_stop(&f);
}

/* When full, the queue drops its oldest event and counts the drop. */
static void test_event_queue_bound(void **state)
{
	json_object *ev, *v;
	char buf[128];
	int i;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	for (i = 0; i < QMP_EVENT_QUEUE_MAX + 5; i++) {
		snprintf(buf, sizeof(buf),
			 "{\"event\": \"X\", \"data\": {\"n\": %d}}\n", i);
		fake_send(&f, buf);
	}
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(qmp_event_count(f.conn), QMP_EVENT_QUEUE_MAX);
	assert_int_equal(qmp_event_state_get(f.conn)->dropped, 5);
	assert_int_equal(qmp_event_state_get(f.conn)->received,
			 QMP_EVENT_QUEUE_MAX + 5);
	ev = qmp_event_pop(f.conn);
	assert_true(json_object_object_get_ex(ev, "data", &v));
	assert_true(json_object_object_get_ex(v, "n", &v));
	assert_int_equal(json_object_get_int(v), 5);
	json_object_put(ev);
	fake_stop(&f); /* frees the rest: ASan checks */
}

struct evlog {
	int n;
	char names[4][32];
};

static void ev_cb(qmp_conn *conn, const char *name, json_object *event,
		  void *opaque)
{
	struct evlog *l = opaque;

	snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", name);
}

/* With an event callback set, events go to it (state still recorded)
 * instead of the queue. */
static void test_event_callback(void **state)
{
	struct evlog l = { 0 };
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	qmp_set_event_cb(f.conn, ev_cb, &l);
	fake_send(&f, "{\"event\": \"STOP\"}\n{\"event\": \"RESUME\"}\n");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.names[0], "STOP");
	assert_string_equal(l.names[1], "RESUME");
	assert_int_equal(qmp_event_count(f.conn), 0);
	assert_int_equal(qmp_event_state_get(f.conn)->stop_seen, 1);
	fake_stop(&f);
}

/* An event whose recorded field has the wrong type is a protocol error
 * naming the event and field; the state is not updated from it. */
static void test_bad_event(void **state)
{
	static const struct {
		const char *in;
		const char *msg;
	} cases[] = {
		{ "{\"event\": \"MIGRATION\", \"data\": {\"status\": 3}}",
		  "QMP event MIGRATION: field 'data.status' is an integer, expected a string" },
		{ "{\"event\": \"MIGRATION\"}",
		  "QMP event MIGRATION: field 'data' is missing" },
		{ "{\"event\": 12}",
		  "QMP event: field 'event' is an integer, expected a string" },
		{ "{\"event\": \"STOP\", \"data\": []}",
		  "QMP event: field 'data' is an array, expected an object" },
	};
	size_t i;
	fake f;

	for (i = 0; i < QM_ARRAY_SIZE(cases); i++) {
		fake_start(&f);
		fake_handshake(&f);
		fake_send(&f, cases[i].in);
		assert_int_equal(fake_pump(&f), -1);
		assert_int_equal(f.err.code, QM_ERR_PROTO);
		assert_string_equal(f.err.msg, cases[i].msg);
		assert_int_equal(qmp_event_state_get(f.conn)->migration_seen,
				 0);
		assert_int_equal(qmp_event_count(f.conn), 0);
		fake_stop(&f);
	}
}

/* ---- framing over the socket ---- */

/* A reply split at every byte position across two socket writes: no
 * callback after the first part, exactly one with the full result after
 * the second. */
static void test_split_reply_every_byte(void **state)
{
	char msg[256], want[256];
	size_t len, k;
	rec r;
	int64_t id;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	for (k = 1;; k++) {
		memset(&r, 0, sizeof(r));
		id = qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r,
				 NULL);
		fake_expect(&f, "query-status");
		len = snprintf(msg, sizeof(msg),
			       "{\"return\": {\"status\": \"r\xc3\xa9\", \"n\": [12345, 6.5]}, \"id\": %lld}\r\n",
			       (long long)id);
		if (k >= len)
			break;
		fake_send_n(&f, msg, k);
		assert_int_equal(fake_pump(&f), 0);
		/* The object is complete only once its '}' has arrived. */
		assert_int_equal(r.calls, k >= len - 2 ? 1 : 0);
		fake_send_n(&f, msg + k, len - k);
		assert_int_equal(fake_pump(&f), 0);
		assert_int_equal(r.calls, 1);
		snprintf(want, sizeof(want), "{\"status\":\"r\xc3\xa9\",\"n\":[12345,6.5]}");
		assert_string_equal(r.result, want);
	}
	assert_true(k > 40); /* the loop ran over the whole reply */
	fake_stop(&f);
}

/* Several messages in one read, with CR/LF and blanks around them, are
 * all dispatched by one qmp_process() in order. */
static void test_several_in_one_read(void **state)
{
	char buf[512];
	int order[2], norder = 0;
	rec r1 = { 0 }, r2 = { 0 };
	int64_t id1, id2;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	r1.order = r2.order = order;
	r1.norder = r2.norder = &norder;
	r1.tag = 1;
	r2.tag = 2;
	id1 = qmp_execute(f.conn, "a", NULL, 0, rec_cb, &r1, NULL);
	id2 = qmp_execute(f.conn, "b", NULL, 0, rec_cb, &r2, NULL);
	snprintf(buf, sizeof(buf),
		 "\r\n{\"event\":\"STOP\"}{\"return\":{},\"id\":%lld}\r\n\r\n"
		 "  \t{\"return\":[],\"id\":%lld}\n{\"event\":\"RESUME\"}\r\n",
		 (long long)id1, (long long)id2);
	fake_send(&f, buf);
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(norder, 2);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_string_equal(r2.result, "[]");
	assert_int_equal(qmp_event_count(f.conn), 2);
	fake_stop(&f);
}

/* Garbage on the wire ends the connection with QM_ERR_PROTO; pending
 * commands get the same error; the socket is closed; later submissions
 * fail with QM_ERR_CLOSED and never call back. */
static void test_malformed_json(void **state)
{
	qm_error err = QM_ERROR_INIT;
	rec r = { 0 }, r2 = { 0 };
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r, NULL);
	fake_send(&f, "{\"return\": {}, \"id\": 2 oops}\r\n");
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_PROTO);
	assert_string_equal(f.err.msg,
			    "QMP: message 3: malformed JSON at byte 23 ('o'): object value separator ',' expected");
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.err.msg, f.err.msg);
	assert_int_equal(qmp_fd(f.conn), -1);
	assert_false(qmp_want_write(f.conn));
	assert_int_equal(qmp_next_timeout_ms(f.conn), -1);
	assert_non_null(qmp_conn_error(f.conn));
	assert_int_equal(qmp_execute(f.conn, "stop", NULL, 0, rec_cb, &r2,
				     &err), -1);
	assert_int_equal(err.code, QM_ERR_CLOSED);
	assert_int_equal(fake_pump(&f), -1); /* stays dead */
	assert_int_equal(f.err.code, QM_ERR_PROTO);
	fake_stop(&f);
	assert_int_equal(r2.calls, 0);
}

/* A top-level JSON value that is not an object is a protocol error. */
static void test_non_object(void **state)
{
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	fake_send(&f, "[1, 2]\r\n");
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_PROTO);
	assert_string_equal(f.err.msg,
			    "QMP: message 3 is a JSON array, expected an object");
	fake_stop(&f);
}

/* An object that is none of greeting/reply/event is a protocol error. */
static void test_unknown_message(void **state)
{
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	fake_send(&f, "{\"hello\": 1}\r\n");
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_PROTO);
	assert_string_equal(f.err.msg,
			    "QMP: message 3 is neither a greeting, a reply nor an event: {\"hello\":1}");
	fake_stop(&f);
}

/* A message larger than QMP_MAX_MSG_BYTES ends the connection with
 * QM_ERR_TOO_BIG before it is complete; the pending command gets it. */
static void test_oversized(void **state)
{
	static const char head[] = "{\"return\": \"";
	size_t chunk = 1 << 16, sent = 0;
	rec r = { 0 };
	char *buf;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	qmp_execute(f.conn, "query-qmp-schema", NULL, 0, rec_cb, &r, NULL);
	buf = malloc(chunk);
	memset(buf, 'a', chunk);
	fake_send(&f, head);
	sent = strlen(head);
	while (qmp_get_state(f.conn) != QMP_STATE_DEAD &&
	       sent <= QMP_MAX_MSG_BYTES + chunk) {
		fake_send_n(&f, buf, chunk);
		sent += chunk;
		fake_pump(&f);
	}
	free(buf);
	assert_int_equal(qmp_get_state(f.conn), QMP_STATE_DEAD);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err.code, QM_ERR_TOO_BIG);
	assert_string_equal(r.err.msg,
			    "QMP: message 3 exceeds the limit of 16777216 bytes (16777216 bytes read, still incomplete)");
	fake_stop(&f);
}

/* ---- EOF ---- */

/* EOF in the middle of a reply: QM_ERR_CLOSED saying so, with how much of
 * the message had arrived and which command was waiting. */
static void test_eof_mid_message(void **state)
{
	rec r = { 0 };
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r, NULL);
	fake_expect(&f, "query-status");
	fake_send(&f, "{\"return\": {\"runn");
	assert_int_equal(fake_pump(&f), 0);
	fake_close_server(&f);
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_CLOSED);
	assert_string_equal(f.err.msg,
			    "QMP: connection closed by QEMU in the middle of a message (17 bytes received) with 1 command pending (last: query-status)");
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.err.code, QM_ERR_CLOSED);
	fake_stop(&f);
}

/* EOF with several commands pending: every one completes with
 * QM_ERR_CLOSED and a message naming the count and the last command. */
static void test_eof_pending(void **state)
{
	rec r1 = { 0 }, r2 = { 0 };
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	qmp_execute(f.conn, "query-status", NULL, 0, rec_cb, &r1, NULL);
	qmp_execute(f.conn, "query-migrate", NULL, 0, rec_cb, &r2, NULL);
	fake_expect(&f, "query-status");
	fake_expect(&f, "query-migrate");
	fake_close_server(&f);
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r1.err.code, QM_ERR_CLOSED);
	assert_int_equal(r2.err.code, QM_ERR_CLOSED);
	assert_string_equal(r2.err.msg,
			    "QMP: connection closed by QEMU with 2 commands pending (last: query-migrate)");
	assert_int_equal(qmp_pending_count(f.conn), 0);
	fake_stop(&f);
}

/* EOF before the greeting says so. */
static void test_eof_before_greeting(void **state)
{
	fake f;

	fake_start(&f);
	fake_close_server(&f);
	assert_int_equal(fake_pump(&f), -1);
	assert_int_equal(f.err.code, QM_ERR_CLOSED);
	assert_string_equal(f.err.msg,
			    "QMP: connection closed by QEMU before its greeting");
	fake_stop(&f);
}

/* ---- the callback contract ---- */

/* Whenever qmp_execute() returns -1 the callback is never called: not
 * connected, bad names, non-object arguments, bad timeout, dead
 * connection. Arguments are consumed in every case (ASan checks). */
static void test_execute_fails_no_callback(void **state)
{
	static const char *const bad_names[] = {
		"", "has space", "semi;colon", "new\nline",
	};
	char long_name[QMP_NAME_MAX + 8];
	qm_error err = QM_ERROR_INIT;
	qmp_conn *conn;
	rec r = { 0 };
	size_t i;
	fake f;

	conn = qmp_conn_new(NULL);
	assert_int_equal(qmp_execute(conn, "stop", json_object_new_object(),
				     0, rec_cb, &r, &err), -1);
	assert_int_equal(err.code, QM_ERR_STATE);
	qmp_conn_free(conn);

	fake_start(&f);
	fake_handshake(&f);
	for (i = 0; i < QM_ARRAY_SIZE(bad_names); i++) {
		qm_error_clear(&err);
		assert_int_equal(qmp_execute(f.conn, bad_names[i], NULL, 0,
					     rec_cb, &r, &err), -1);
		assert_int_equal(err.code, QM_ERR_INVAL);
	}
	assert_int_equal(qmp_execute(f.conn, NULL, NULL, 0, rec_cb, &r, NULL),
			 -1);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(qmp_execute(f.conn, long_name, NULL, 0, rec_cb, &r,
				     NULL), -1);
	qm_error_clear(&err);
	assert_int_equal(qmp_execute(f.conn, "migrate",
				     json_object_new_array(), 0, rec_cb, &r,
				     &err), -1);
	assert_string_equal(err.msg,
			    "migrate: arguments are a JSON array, expected an object");
	assert_int_equal(qmp_execute(f.conn, "stop", NULL, -5, rec_cb, &r,
				     NULL), -1);
	assert_true(fake_idle(&f)); /* nothing was sent */
	fake_close_server(&f);
	assert_int_equal(fake_pump(&f), -1);
	qm_error_clear(&err);
	assert_int_equal(qmp_execute(f.conn, "stop", json_object_new_object(),
				     0, rec_cb, &r, &err), -1);
	assert_int_equal(err.code, QM_ERR_CLOSED);
	fake_stop(&f);
	assert_int_equal(r.calls, 0);
}

/* qmp_conn_free() completes pending commands with QM_ERR_CANCELLED. */
static void test_free_cancels(void **state)
{
	rec r1 = { 0 }, r2 = { 0 };
	fake f;

	fake_start(&f);
	qmp_execute(f.conn, "queued", NULL, 0, rec_cb, &r1, NULL);
	fake_handshake(&f);
	qmp_execute(f.conn, "sent", NULL, 0, rec_cb, &r2, NULL);
	fake_stop(&f);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.err.code, QM_ERR_CANCELLED);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.err.code, QM_ERR_CANCELLED);
}

struct reenter {
	int calls;
	int process_rc;
	qm_error process_err;
	qm_error call_err;
	int64_t next_id;
	rec next;
};

static void reenter_cb(qmp_conn *conn, json_object *result,
		       const qm_error *err, void *opaque)
{
	struct reenter *re = opaque;

	re->calls++;
	re->process_rc = qmp_process(conn, 0, &re->process_err);
	assert_null(qmp_call(conn, "x", NULL, 0, &re->call_err));
	re->next_id = qmp_execute(conn, "follow-up", NULL, 0, rec_cb,
				  &re->next, NULL);
}

/* From a callback, qmp_process() and the blocking wrappers refuse with
 * QM_ERR_STATE (they would recurse), while qmp_execute() works. */
static void test_callback_reentry(void **state)
{
	struct reenter re = { 0 };
	int64_t id;
	fake f;

	fake_start(&f);
	fake_handshake(&f);
	id = qmp_execute(f.conn, "first", NULL, 0, reenter_cb, &re, NULL);
	fake_expect(&f, "first");
	fake_reply(&f, id, "{}");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(re.calls, 1);
	assert_int_equal(re.process_rc, -1);
	assert_int_equal(re.process_err.code, QM_ERR_STATE);
	assert_int_equal(re.call_err.code, QM_ERR_STATE);
	assert_true(re.next_id > id);
	assert_int_equal(fake_expect(&f, "follow-up"), re.next_id);
	fake_reply(&f, re.next_id, "{}");
	assert_int_equal(fake_pump(&f), 0);
	assert_int_equal(re.next.calls, 1);
	fake_stop(&f);
}

/* ---- connecting ---- */

/* qmp_connect reaches a listening unix socket by "unix:PATH" and by plain
 * path, records the peer PID, and reports a missing socket (after its
 * retries) and malformed addresses clearly. */
static void test_connect_unix(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/qmp-test-XXXXXX", addr[200], longp[300];
	qm_error err = QM_ERROR_INIT;
	qmp_conn *conn;
	int lfd, i;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/qmp.sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	for (i = 0; i < 2; i++) {
		snprintf(addr, sizeof(addr), "%s%s", i ? "" : "unix:",
			 sa.sun_path);
		conn = qmp_conn_new(NULL);
		assert_true(qmp_connect(conn, addr, 1000, &err));
		assert_int_equal(qmp_peer_pid(conn), getpid());
		assert_int_equal(qmp_get_state(conn), QMP_STATE_GREETING);
		assert_false(qmp_connect(conn, addr, 0, &err));
		assert_int_equal(err.code, QM_ERR_STATE);
		qm_error_clear(&err);
		qmp_conn_free(conn);
	}
	close(lfd);
	unlink(sa.sun_path);
	conn = qmp_conn_new(NULL);
	assert_false(qmp_connect(conn, sa.sun_path, 30, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_non_null(strstr(err.msg, sa.sun_path));
	assert_non_null(strstr(err.msg, "attempts)")); /* it retried */
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	qm_error_clear(&err);
	assert_false(qmp_connect(conn, longp, 0, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	assert_int_equal(qmp_get_state(conn), QMP_STATE_NEW);
	qmp_conn_free(conn);
	rmdir(dir);
}

/* "tcp:HOST:PORT" connects (no peer PID over TCP); a malformed tcp
 * address is QM_ERR_INVAL and a closed port is an I/O error. */
static void test_connect_tcp(void **state)
{
	static const char *const bad[] = {
		"tcp:", "tcp:host", "tcp::1", "tcp:host:", "tcp:h:12x",
		"tcp:[::1]", "tcp:[::1]x1",
	};
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	qm_error err = QM_ERROR_INIT;
	qmp_conn *conn;
	char addr[64];
	size_t i;
	int lfd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, sizeof(addr), "tcp:127.0.0.1:%d", ntohs(sa.sin_port));
	conn = qmp_conn_new(NULL);
	assert_true(qmp_connect(conn, addr, 1000, &err));
	assert_int_equal(qmp_peer_pid(conn), 0);
	assert_true(qmp_fd(conn) >= 0);
	qmp_conn_free(conn);
	close(lfd); /* the port is now closed */
	conn = qmp_conn_new(NULL);
	assert_false(qmp_connect(conn, addr, 0, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_non_null(strstr(err.msg, "Connection refused"));
	for (i = 0; i < QM_ARRAY_SIZE(bad); i++) {
		qm_error_clear(&err);
		assert_false(qmp_connect(conn, bad[i], 0, &err));
		if (err.code != QM_ERR_INVAL)
			fail_msg("'%s': %s", bad[i], err.msg);
	}
	qmp_conn_free(conn);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/qmp/conn/handshake", test_handshake),
		CASE("/qmp/conn/queued-before-ready", test_queued_before_ready),
		CASE("/qmp/conn/capabilities-refused", test_capabilities_refused),
		CASE("/qmp/conn/greeting-timeout", test_greeting_timeout),
		CASE("/qmp/cmd/out-of-order", test_out_of_order),
		CASE("/qmp/cmd/unknown-id", test_unknown_id),
		CASE("/qmp/cmd/reply-without-id", test_reply_without_id),
		CASE("/qmp/cmd/qmp-error-class", test_qmp_error),
		CASE("/qmp/cmd/bad-reply-shapes", test_bad_reply_shapes),
		CASE("/qmp/cmd/arguments-on-wire", test_arguments_on_wire),
		CASE("/qmp/cmd/timeout-late-reply", test_timeout_late_reply),
		CASE("/qmp/cmd/reply-beats-deadline", test_reply_beats_deadline),
		CASE("/qmp/event/between-replies", test_events_between_replies),
		CASE("/qmp/event/queue-bound", test_event_queue_bound),
		CASE("/qmp/event/callback", test_event_callback),
		CASE("/qmp/event/bad-event", test_bad_event),
		CASE("/qmp/stream/split-reply-every-byte",
		     test_split_reply_every_byte),
		CASE("/qmp/stream/several-in-one-read", test_several_in_one_read),
		CASE("/qmp/stream/malformed-json", test_malformed_json),
		CASE("/qmp/stream/non-object", test_non_object),
		CASE("/qmp/stream/unknown-message", test_unknown_message),
		CASE("/qmp/stream/oversized", test_oversized),
		CASE("/qmp/eof/mid-message", test_eof_mid_message),
		CASE("/qmp/eof/commands-pending", test_eof_pending),
		CASE("/qmp/eof/before-greeting", test_eof_before_greeting),
		CASE("/qmp/contract/execute-fails-no-callback",
		     test_execute_fails_no_callback),
		CASE("/qmp/contract/free-cancels", test_free_cancels),
		CASE("/qmp/contract/callback-reentry", test_callback_reentry),
		CASE("/qmp/connect/unix", test_connect_unix),
		CASE("/qmp/connect/tcp", test_connect_tcp),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("qmp-conn", tests, NULL, NULL);
}
