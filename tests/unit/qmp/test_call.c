/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the blocking wrappers and typed helpers, against a
 * scripted fake QMP server running in a thread (tests/unit/qmp/fake.h).
 */
#include "tests/qmig_test.h"
#include "tests/unit/qmp/fake.h"

#include <string.h>
#include <unistd.h>

#define CASE(name, fn) { name, fn, NULL, NULL, NULL }

static qmp_conn *client(fake_script *s, const fake_step *steps)
{
	qmp_conn *conn = qmp_conn_new(NULL);

	assert_non_null(conn);
	assert_true(qmp_connect_fd(conn, fake_script_start(s, steps), NULL));
	return conn;
}

static void finish(fake_script *s, qmp_conn *conn)
{
	qmp_conn_free(conn);
	fake_script_join(s);
	if (s->failure[0])
		fail_msg("fake server: %s", s->failure);
}

/* Arguments as the server received them: got[step] has "arguments". */
static void assert_args(const fake_script *s, int step, const char *want)
{
	json_object *o = json_tokener_parse(s->got[step]), *a;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "arguments", &a));
	assert_string_equal(json_object_to_json_string_ext(a,
				JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE), want);
	json_object_put(o);
}

static const fake_step no_steps[] = { { .expect = NULL } };

static const fake_step query_steps[] = {
	{ .expect = "query-status", .ret = "{\"status\": \"paused\", \"running\": false}" },
	{ .expect = "query-memdev", .ret = "[{\"prealloc\": false, \"share\": true, "
	  "\"host-nodes\": [], \"size\": 67108864, \"merge\": true, \"dump\": true, "
	  "\"policy\": \"default\", \"id\": \"ram0\", \"reserve\": true}]" },
	{ .expect = "qom-get", .ret = "\"/dev/shm/vm.ram\"" },
	{ .expect = "qom-list", .ret = "[{\"name\": \"ram0\", \"type\": \"child<memory-backend-file>\"}]" },
	{ .expect = "query-cpus-fast", .ret = "[{\"thread-id\": 77, \"qom-path\": \"/m/c0\", \"cpu-index\": 0}]" },
	{ .expect = "query-migrate-capabilities", .ret = "[{\"capability\": \"x-ignore-shared\", \"state\": true}]" },
	{ .expect = "query-migrate", .ret = "{\"status\": \"completed\", \"downtime\": 12, \"total-time\": 40}" },
	{ .expect = "query-dirty-rate", .ret = "{\"status\": \"measured\", \"dirty-rate\": 3, \"start-time\": 5, \"calc-time\": 1}" },
	{ .expect = "query-commands", .ret = "[{\"name\": \"migrate\"}, {\"name\": \"quit\"}]" },
	{ .expect = NULL },
};

/* The query helpers send their command with the right arguments and
 * hand back QEMU's reply parsed. */
static void test_typed_queries(void **state)
{
	qm_error err = QM_ERROR_INIT;
	qmp_status st;
	qmp_memdev_list md;
	qmp_qom_prop_list ql;
	qmp_cpu_list cl;
	qmp_mig_cap_list mc;
	qmp_migrate_info mi;
	qmp_dirty_rate_info dr;
	qmp_name_list nl;
	json_object *v;
	fake_script s;
	qmp_conn *conn = client(&s, query_steps);

	assert_true(qmp_query_status(conn, &st, &err));
	assert_int_equal(st.state, QMP_RUN_STATE_PAUSED);
	assert_false(st.running);
	assert_true(qmp_query_memdev(conn, &md, &err));
	assert_int_equal(md.count, 1);
	assert_true(md.items[0].share);
	qmp_memdev_list_free(&md);
	v = qmp_qom_get(conn, "/objects/ram0", "mem-path", &err);
	assert_string_equal(json_object_get_string(v), "/dev/shm/vm.ram");
	json_object_put(v);
	assert_args(&s, 2, "{\"path\":\"/objects/ram0\",\"property\":\"mem-path\"}");
	assert_true(qmp_qom_list(conn, "/objects", &ql, &err));
	assert_string_equal(ql.items[0].name, "ram0");
	qmp_qom_prop_list_free(&ql);
	assert_args(&s, 3, "{\"path\":\"/objects\"}");
	assert_true(qmp_query_cpus_fast(conn, &cl, &err));
	assert_int_equal(cl.items[0].thread_id, 77);
	qmp_cpu_list_free(&cl);
	assert_true(qmp_query_migrate_capabilities(conn, &mc, &err));
	assert_int_equal(qmp_mig_cap_list_find(&mc, "x-ignore-shared"), 1);
	qmp_mig_cap_list_free(&mc);
	assert_true(qmp_query_migrate(conn, &mi, &err));
	assert_int_equal(mi.status, QMP_MIG_STATUS_COMPLETED);
	assert_int_equal(mi.downtime_ms, 12);
	assert_true(qmp_query_dirty_rate(conn, &dr, &err));
	assert_int_equal(dr.dirty_rate_mbps, 3);
	assert_true(qmp_query_commands(conn, &nl, &err));
	assert_true(qmp_name_list_has(&nl, "quit"));
	qmp_name_list_free(&nl);
	assert_int_equal(err.code, QM_OK);
	finish(&s, conn);
}

static const fake_step control_steps[] = {
	{ .expect = "stop", .before = "{\"event\": \"STOP\"}\r\n", .ret = "{}" },
	{ .expect = "cont", .before = "{\"event\": \"RESUME\"}\r\n", .ret = "{}" },
	{ .expect = "migrate-set-capabilities", .ret = "{}" },
	{ .expect = "migrate-set-parameters", .ret = "{}" },
	{ .expect = "migrate", .ret = "{}" },
	{ .expect = "migrate-incoming", .ret = "{}" },
	{ .expect = "migrate_cancel", .ret = "{}" },
	{ .expect = "migrate-continue", .ret = "{}" },
	{ .expect = "calc-dirty-rate", .ret = "{}" },
	{ .expect = "announce-self", .ret = "{}" },
	{ .expect = "quit", .ret = "{}",
	  .after = "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}\r\n",
	  .close_after = true },
	{ .expect = NULL },
};

static bool never(qmp_conn *conn, void *opaque)
{
	return false;
}

static bool shutdown_seen(qmp_conn *conn, void *opaque)
{
	return qmp_event_state_get(conn)->shutdown_seen > 0;
}

/* The control helpers send the right arguments; events that arrive
 * during a call are recorded by the time it returns; quit is followed by
 * SHUTDOWN and EOF. */
static void test_typed_control(void **state)
{
	static const qmp_mig_cap caps[] = {
		{ "x-ignore-shared", true }, { "events", false },
	};
	qm_error err = QM_ERROR_INIT;
	json_object *params;
	fake_script s;
	qmp_conn *conn = client(&s, control_steps);

	assert_true(qmp_wait_ready(conn, 5000, &err));
	assert_int_equal(qmp_get_greeting(conn)->major, 7);
	assert_true(qmp_stop(conn, &err));
	assert_int_equal(qmp_event_state_get(conn)->stop_seen, 1);
	assert_true(qmp_cont(conn, &err));
	assert_int_equal(qmp_event_state_get(conn)->resume_seen, 1);
	assert_true(qmp_migrate_set_capabilities(conn, caps, 2, &err));
	assert_args(&s, 2, "{\"capabilities\":[{\"capability\":\"x-ignore-shared\",\"state\":true},"
		    "{\"capability\":\"events\",\"state\":false}]}");
	params = json_object_new_object();
	json_object_object_add(params, "downtime-limit", json_object_new_int(300));
	assert_true(qmp_migrate_set_parameters(conn, params, &err));
	assert_args(&s, 3, "{\"downtime-limit\":300}");
	assert_true(qmp_migrate(conn, "unix:/tmp/m.sock", &err));
	assert_args(&s, 4, "{\"uri\":\"unix:/tmp/m.sock\"}");
	assert_true(qmp_migrate_incoming(conn, "unix:/tmp/i.sock", &err));
	assert_args(&s, 5, "{\"uri\":\"unix:/tmp/i.sock\"}");
	assert_true(qmp_migrate_cancel(conn, &err));
	assert_true(qmp_migrate_continue(conn, "pre-switchover", &err));
	assert_args(&s, 7, "{\"state\":\"pre-switchover\"}");
	assert_true(qmp_calc_dirty_rate(conn, 1, &err));
	assert_args(&s, 8, "{\"calc-time\":1}");
	assert_true(qmp_announce_self(conn, NULL, &err));
	assert_args(&s, 9, "{\"initial\":50,\"max\":550,\"rounds\":5,\"step\":100}");
	assert_true(qmp_quit(conn, &err));
	assert_true(qmp_wait_until(conn, shutdown_seen, NULL, 5000, &err));
	assert_string_equal(qmp_event_state_get(conn)->shutdown_reason,
			    "host-qmp-quit");
	assert_int_equal(err.code, QM_OK);
	/* Then EOF: waiting on, the connection dies with QM_ERR_CLOSED. */
	assert_false(qmp_wait_until(conn, never, NULL, 5000, &err));
	assert_int_equal(err.code, QM_ERR_CLOSED);
	finish(&s, conn);
}

/* Helpers check their own arguments before anything is sent. */
static void test_helper_args(void **state)
{
	qm_error err = QM_ERROR_INIT;
	fake_script s;
	qmp_conn *conn = client(&s, no_steps);

	assert_false(qmp_migrate(conn, NULL, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	qm_error_clear(&err);
	assert_null(qmp_qom_get(conn, "/objects", NULL, &err));
	assert_string_equal(err.msg, "qom-get: argument 'property' is NULL");
	qm_error_clear(&err);
	assert_false(qmp_calc_dirty_rate(conn, 0, &err));
	assert_string_equal(err.msg,
			    "calc-dirty-rate: calc-time 0 s, expected > 0");
	qm_error_clear(&err);
	assert_false(qmp_migrate_set_parameters(conn, json_object_new_array(),
						&err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	qm_error_clear(&err);
	assert_false(qmp_migrate_set_capabilities(conn, NULL, 1, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	assert_int_equal(qmp_pending_count(conn), 0);
	finish(&s, conn);
}

static const fake_step error_steps[] = {
	{ .expect = "query-foo", .error_class = "CommandNotFound" },
	{ .expect = "query-status", .ret = "{\"status\": \"running\", \"running\": 1}" },
	{ .expect = "query-status", .ret = "{\"status\": \"running\", \"running\": true}" },
	{ .expect = "query-status" }, /* never answered */
	{ .expect = NULL },
};

/* qmp_call turns a QMP error into QM_ERR_QMP with the class; a typed
 * helper given a wrong-typed reply fails with QM_ERR_PROTO naming the
 * field while the connection goes on; a silent QEMU is QM_ERR_TIMEOUT
 * after the given time. */
static void test_errors(void **state)
{
	qm_error err = QM_ERROR_INIT;
	qmp_status st;
	fake_script s;
	qmp_conn *conn = client(&s, error_steps);
	int64_t t0;

	assert_null(qmp_call(conn, "query-foo", NULL, 0, &err));
	assert_int_equal(err.code, QM_ERR_QMP);
	assert_int_equal(err.subclass, QMP_ERR_CLASS_COMMAND_NOT_FOUND);
	assert_string_equal(err.msg, "query-foo: scripted");
	qm_error_clear(&err);
	assert_false(qmp_query_status(conn, &st, &err));
	assert_int_equal(err.code, QM_ERR_PROTO);
	assert_string_equal(err.msg,
			    "query-status: field 'running' is an integer, expected a boolean");
	qm_error_clear(&err);
	assert_true(qmp_query_status(conn, &st, &err));
	assert_true(st.running);
	t0 = qm_now_ms();
	assert_false(qmp_call_ok(conn, "query-status", NULL, 50, &err));
	assert_int_equal(err.code, QM_ERR_TIMEOUT);
	assert_true(qm_now_ms() - t0 >= 50);
	assert_true(qm_now_ms() - t0 < 5000);
	assert_int_equal(qmp_get_state(conn), QMP_STATE_READY);
	finish(&s, conn);
}

static const fake_step close_steps[] = {
	{ .expect = "query-migrate", .close_after = true },
	{ .expect = NULL },
};

/* QEMU closing the socket during a blocking call ends it with
 * QM_ERR_CLOSED naming the command; later calls fail the same way. */
static void test_closed_mid_call(void **state)
{
	qm_error err = QM_ERROR_INIT;
	fake_script s;
	qmp_conn *conn = client(&s, close_steps);

	assert_null(qmp_call(conn, "query-migrate", NULL, 0, &err));
	assert_int_equal(err.code, QM_ERR_CLOSED);
	assert_string_equal(err.msg,
			    "QMP: connection closed by QEMU with 1 command pending (last: query-migrate)");
	qm_error_clear(&err);
	assert_false(qmp_stop(conn, &err));
	assert_int_equal(err.code, QM_ERR_CLOSED);
	/* quit on an already dead connection is not a success */
	qm_error_clear(&err);
	assert_false(qmp_quit(conn, &err));
	finish(&s, conn);
}

static const fake_step quit_steps[] = {
	{ .expect = "quit", .close_after = true },
	{ .expect = NULL },
};

/* quit succeeds when QEMU exits without replying. */
static void test_quit_without_reply(void **state)
{
	qm_error err = QM_ERROR_INIT;
	fake_script s;
	qmp_conn *conn = client(&s, quit_steps);

	assert_true(qmp_quit(conn, &err));
	assert_int_equal(qmp_get_state(conn), QMP_STATE_DEAD);
	finish(&s, conn);
}

/* qmp_wait_until gives up with QM_ERR_TIMEOUT; wrappers refuse to run
 * on a connection that was never connected. */
static void test_wait_timeout(void **state)
{
	qm_error err = QM_ERROR_INIT;
	fake_script s;
	qmp_conn *conn = client(&s, no_steps), *idle;

	assert_true(qmp_wait_ready(conn, 5000, &err));
	assert_false(qmp_wait_until(conn, never, NULL, 30, &err));
	assert_int_equal(err.code, QM_ERR_TIMEOUT);
	finish(&s, conn);
	idle = qmp_conn_new(NULL);
	qm_error_clear(&err);
	assert_false(qmp_wait_ready(idle, 10, &err));
	assert_int_equal(err.code, QM_ERR_STATE);
	qm_error_clear(&err);
	assert_null(qmp_call(idle, "stop", NULL, 0, &err));
	assert_int_equal(err.code, QM_ERR_STATE);
	qmp_conn_free(idle);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/qmp/call/typed-queries", test_typed_queries),
		CASE("/qmp/call/typed-control", test_typed_control),
		CASE("/qmp/call/helper-args", test_helper_args),
		CASE("/qmp/call/errors", test_errors),
		CASE("/qmp/call/closed-mid-call", test_closed_mid_call),
		CASE("/qmp/call/quit-without-reply", test_quit_without_reply),
		CASE("/qmp/call/wait-timeout", test_wait_timeout),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("qmp-call", tests, NULL, NULL);
}
