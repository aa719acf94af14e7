/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * End-to-end migrations between two real agents on loopback, with the
 * self-checking guest under TCG:
 *  - agent mode: the guest, writing all the time, runs on the destination
 *    afterwards, continues from the source's last heartbeat, prints no
 *    CORRUPT; verification passed with 0 mismatches; the source QEMU quit;
 *    the destination agent lists the VM;
 *  - a deadline that cannot be met with on_deadline "abort": the VM keeps
 *    running on the source, intact, and the status says why;
 *  - the destination agent killed mid-migration: the VM keeps running on
 *    the source, intact;
 *  - migrating back to the first host: pages it still holds from its
 *    staged copy travel as HAVE references, and the bytes on the wire
 *    are a fraction of the first migration's;
 *  - bad migration.start requests get the documented errors.
 */
#include "tests/integration/agent/pair.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Agent mode, end to end. */
static void test_agent_mode(void **state)
{
	fx *f = *state;
	json_object *st, *ver;
	char *id;

	attach(f);
	id = start(f, "\"max_downtime_ms\": 300");
	st = wait_final(f, id);
	printf("# %s\n", json_object_to_json_string(st));
	assert_string_equal(json_object_get_string(get(st, "phase")),
			    "completed");
	ver = get(st, "verify");
	assert_true(json_object_get_boolean(get(ver, "passed")));
	assert_int_equal(json_object_get_int64(get(ver, "mismatches")), 0);
	assert_true(json_object_get_double(get(st, "downtime_ms")) > 0);
	expect_on_dest(f);
	json_object_put(st);
	free(id);
}

/* Agent mode with TLS 1.3 on the streams (migration.start "tls": true):
 * the same end result, and the status says the streams were encrypted.
 * A plaintext start to a destination that requires TLS is the transport
 * tests' business (tests/unit/transport/test_tls.c). */
static void test_agent_mode_tls(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start(f, "\"max_downtime_ms\": 300, \"tls\": true");
	st = wait_final(f, id);
	printf("# tls: phase %s, %s bytes, error '%s'\n", str(st, "phase"),
	       str(st, "bytes_on_wire"), str(st, "error"));
	assert_string_equal(str(st, "phase"), "completed");
	assert_true(json_object_get_boolean(get(st, "tls")));
	assert_true(json_object_get_boolean(get(get(st, "verify"), "passed")));
	expect_on_dest(f);
	json_object_put(st);
	free(id);
}

/* verify "tracked": the whole RAM is compared during pre-copy (round 0
 * confirms every chunk), and with the VM stopped only what was sent
 * since: fewer pages than the RAM has. Same end result. */
static void test_agent_mode_tracked(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	json_object *st, *ver;
	rpc_client *cd;
	int64_t npages = (256 << 20) / 4096;
	char *id;

	attach(f);
	id = start(f, "\"max_downtime_ms\": 300, \"verify\": \"tracked\"");
	st = wait_final(f, id);
	ver = get(st, "verify");
	printf("# tracked: %s, verify %s, parts %s\n", str(st, "phase"),
	       json_object_to_json_string(ver),
	       json_object_to_json_string(get(st, "downtime_parts_ms")));
	assert_string_equal(str(st, "phase"), "completed");
	assert_string_equal(str(ver, "mode"), "tracked");
	assert_true(json_object_get_boolean(get(ver, "passed")));
	assert_true(json_object_get_int64(get(ver, "precopy_pages_checked")) >=
		    npages);
	assert_true(json_object_get_int64(get(ver, "pages_checked")) < npages);
	expect_on_dest(f);
	json_object_put(st);
	/* The destination reports the same policy. */
	cd = rpc_client_connect(f->dst.rpc, TMO, &err);
	if (!cd)
		fail_msg("destination agent: %s", err.msg);
	st = wait_final_on(cd, id);
	assert_string_equal(str(get(st, "verify"), "mode"), "tracked");
	json_object_put(st);
	rpc_client_free(cd);
	free(id);
}

/* An impossible downtime with a short deadline and on_deadline "abort":
 * the VM stays on the source, intact. */
static void test_deadline_abort(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start(f, "\"max_downtime_ms\": 0.001, \"deadline\": 2, "
		      "\"on_deadline\": \"abort\"");
	st = wait_final(f, id);
	printf("# %s: %s\n", json_object_get_string(get(st, "phase")),
	       json_object_get_string(get(st, "error")));
	assert_string_not_equal(json_object_get_string(get(st, "phase")),
				"completed");
	assert_non_null(strstr(json_object_get_string(get(st, "error")),
			       "deadline"));
	expect_on_source(f);
	json_object_put(st);
	free(id);
}

/* The destination agent dies during pre-copy (held there: the guest
 * dirties 12 MB/s, the link is capped at 1 MB/s): the VM stays on the
 * source, intact. */
static void test_dest_agent_killed(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start(f, "\"bandwidth_mbps\": 8");
	usleep(1500 * 1000);
	ql_agent_kill(&f->dst);
	st = wait_final(f, id);
	printf("# %s: %s\n", json_object_get_string(get(st, "phase")),
	       json_object_get_string(get(st, "error")));
	assert_string_not_equal(json_object_get_string(get(st, "phase")),
				"completed");
	expect_on_source(f);
	json_object_put(st);
	free(id);
}

static double num(json_object *o, const char *k)
{
	return json_object_get_double(get(o, k));
}

/* There and back: the way back sends the pages the first host still
 * holds as HAVE references. The guest fills its 8 MiB working set in two
 * seconds, then rewrites it slowly, so most pages are unchanged between
 * the two migrations. */
static void test_migrate_back(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	rpc_client *cd;
	json_object *st1, *st2;
	char *id1, *id2;

	usleep(2500 * 1000);
	attach(f);
	id1 = start(f, NULL);
	st1 = wait_final(f, id1);
	assert_string_equal(json_object_get_string(get(st1, "phase")),
			    "completed");
	cd = rpc_client_connect(f->dst.rpc, TMO, &err);
	if (!cd)
		fail_msg("%s", err.msg);
	/* The destination attaches the VM right after it starts it. */
	for (int i = 0; i < 100; i++) {
		json_object *l = rpc_client_call(cd, "vm.list",
						 json_object_new_object(), TMO,
						 &err);
		size_t n = l ? json_object_array_length(get(l, "vms")) : 0;

		json_object_put(l);
		if (n)
			break;
		usleep(20 * 1000);
	}
	id2 = start_on(cd, f->back, NULL);
	st2 = wait_final_on(cd, id2);
	printf("# there: %.0f bytes, %s\n# back:  %.0f bytes, %s\n",
	       num(st1, "bytes_on_wire"),
	       json_object_to_json_string(get(st1, "pages")),
	       num(st2, "bytes_on_wire"),
	       json_object_to_json_string(get(st2, "pages")));
	assert_string_equal(json_object_get_string(get(st2, "phase")),
			    "completed");
	assert_true(num(get(st2, "pages"), "have") > 0);
	assert_true(num(st2, "bytes_on_wire") * 3 < num(st1, "bytes_on_wire"));
	assert_true(json_object_get_boolean(get(get(st2, "verify"), "passed")));
	rpc_client_free(cd);
	json_object_put(st1);
	json_object_put(st2);
	free(id1);
	free(id2);
}

static const variant back_variant = { .append = "ws=8M rate=1000 "
						       "pattern=seq" };
static const variant corrupt_variant = {
	.dst_env = "QMIG_FAULT_CORRUPT_PAGE=300" };
/* Unthrottled, the guest dirties hundreds of MB/s under TCG. */
static const variant fast_variant = { .append = "ws=32M rate=0 pattern=rand" };
static const variant fast_duty_variant = {
	.append = "ws=32M rate=0 pattern=rand", .src_env = "QMIG_THROTTLE=duty" };

/* A page flipped in the destination's RAM after it arrived is found by
 * the verification, resent, and the migration completes with the guest
 * intact on the destination. */
static void test_verify_resends(void **state)
{
	fx *f = *state;
	json_object *st, *ver;
	char *id;

	attach(f);
	id = start(f, NULL);
	st = wait_final(f, id);
	ver = get(st, "verify");
	printf("# verify: %s\n", json_object_to_json_string(ver));
	assert_string_equal(json_object_get_string(get(st, "phase")),
			    "completed");
	assert_int_equal(json_object_get_int64(get(ver, "mismatches")), 1);
	assert_true(json_object_get_int64(get(ver, "resent")) >= 1);
	assert_true(json_object_get_boolean(get(ver, "passed")));
	expect_on_dest(f);
	json_object_put(st);
	free(id);
}

/* The same corruption with verify "tracked": found by the pre-copy check
 * that follows round 0, resent with the next round, confirmed then; the
 * destination runs the right content. */
static void test_tracked_resends(void **state)
{
	fx *f = *state;
	json_object *st, *ver;
	char *id;

	attach(f);
	id = start(f, "\"verify\": \"tracked\"");
	st = wait_final(f, id);
	ver = get(st, "verify");
	printf("# verify: %s\n", json_object_to_json_string(ver));
	assert_string_equal(str(st, "phase"), "completed");
	assert_int_equal(json_object_get_int64(get(ver, "precopy_mismatches")),
			 1);
	assert_true(json_object_get_boolean(get(ver, "passed")));
	expect_on_dest(f);
	json_object_put(st);
	free(id);
}

/* A guest that dirties far faster than the link (capped at 100 Mbit/s)
 * converges within its deadline because the engine throttles its vCPUs
 * (cgroup, or SIGSTOP duty cycling). */
static void test_throttle_converges(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start(f, "\"bandwidth_mbps\": 100, \"deadline\": 60, "
		      "\"max_downtime_ms\": 500");
	st = wait_final(f, id);
	printf("# %s after %.0f ms, %d rounds, gate: %s, error: %s\n",
	       json_object_get_string(get(st, "phase")), num(st, "elapsed_ms"),
	       (int)num(st, "round"), json_object_get_string(get(st, "gate")),
	       json_object_get_string(get(st, "error")));
	assert_string_equal(json_object_get_string(get(st, "phase")),
			    "completed");
	assert_true(num(st, "round") >= 2);
	json_object_put(st);
	free(id);
}

/* The destination QEMU dies during pre-copy: the migration fails and the
 * VM stays on the source, intact. */
static void test_dest_qemu_killed(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start(f, "\"bandwidth_mbps\": 8");
	usleep(1500 * 1000);
	assert_true(scan_qemus(f->dst.dir, true) == 1);
	st = wait_final(f, id);
	printf("# %s: %s\n", json_object_get_string(get(st, "phase")),
	       json_object_get_string(get(st, "error")));
	assert_string_not_equal(json_object_get_string(get(st, "phase")),
				"completed");
	expect_on_source(f);
	json_object_put(st);
	free(id);
}

/* The source agent is stopped (SIGTERM) during pre-copy: it cancels the
 * migration and exits cleanly, the VM keeps running on the source intact,
 * and the destination kills the QEMU it had started. */
static void test_source_agent_stops(void **state)
{
	fx *f = *state;
	int status, left = 1;
	char *id;

	attach(f);
	id = start(f, "\"bandwidth_mbps\": 8");
	usleep(1500 * 1000);
	status = ql_agent_stop(&f->src);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect_on_source(f);
	for (int i = 0; i < 100 && (left = scan_qemus(f->dst.dir, false)); i++)
		usleep(100 * 1000);
	assert_int_equal(left, 0);
	free(id);
}

static void expect_error(fx *f, const char *params, int code)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r = rpc_client_call(f->cs, "migration.start",
					 json_tokener_parse(params), TMO, &err);

	if (r)
		fail_msg("%s: expected error %d", params, code);
	printf("# %s -> %d %s\n", params, err.subclass, err.msg);
	assert_int_equal(err.subclass, code);
}

/* Refusals of migration.start. */
static void test_bad_start(void **state)
{
	fx *f = *state;

	attach(f);
	expect_error(f, "{\"vm\": \"nope\", \"dest\": \"127.0.0.1:1\"}",
		     RPC_ERR_VM_NOT_FOUND);
	expect_error(f, "{\"vm\": \"g1\", \"dest\": \"nohostport\"}",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "{\"vm\": \"g1\", \"dest\": \"127.0.0.1:1\", "
		     "\"on_deadline\": \"maybe\"}", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "{\"vm\": \"g1\", \"dest\": \"127.0.0.1:1\", "
		     "\"mode\": \"bogus\"}", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "{\"vm\": \"g1\", \"dest\": \"127.0.0.1:1\", "
		     "\"max_downtime_ms\": -5}", RPC_ERR_INVALID_PARAMS);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_agent_mode),
		T(test_agent_mode_tls),
		T(test_agent_mode_tracked),
		T(test_deadline_abort),
		T(test_dest_agent_killed),
		cmocka_unit_test_prestate_setup_teardown(test_migrate_back,
			fx_setup, fx_teardown, (void *)&back_variant),
		cmocka_unit_test_prestate_setup_teardown(test_verify_resends,
			fx_setup, fx_teardown, (void *)&corrupt_variant),
		cmocka_unit_test_prestate_setup_teardown(test_tracked_resends,
			fx_setup, fx_teardown, (void *)&corrupt_variant),
		cmocka_unit_test_prestate_setup_teardown(test_throttle_converges,
			fx_setup, fx_teardown, (void *)&fast_variant),
		cmocka_unit_test_prestate_setup_teardown(test_throttle_converges,
			fx_setup, fx_teardown, (void *)&fast_duty_variant),
		T(test_dest_qemu_killed),
		T(test_source_agent_stops),
		T(test_bad_start),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/agent/migrate", tests, NULL, NULL);
}
