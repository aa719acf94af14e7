/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compat mode (migration.start with mode "qemu": QEMU's own pre-copy,
 * driven by two real agents on loopback), with the self-checking guest
 * under TCG. QEMU 7.2's pre-copy under TCG loses guest writes, so a run
 * may legitimately end either way; what must never happen is a
 * destination that runs on memory that differs from the source's:
 *  - completed: verified with 0 mismatches, the guest continues on the
 *    destination from the source's last heartbeat, no CORRUPT, the
 *    destination agent lists the VM;
 *  - rolled-back: the error says how many pages differed, the guest goes
 *    on running on the source intact, no QEMU is left on the destination
 *    and it never printed a heartbeat there.
 * Plus verify "none" (QEMU trusted, status says the check was skipped),
 * a deadline that cannot be met (abort, force), a cancel, and refused
 * parameters.
 */
#include "tests/integration/agent/pair.h"

#include <string.h>
#include <unistd.h>

static char *start_qemu(fx *f, const char *extra)
{
	char e[512];

	snprintf(e, sizeof(e), "\"mode\": \"qemu\"%s%s", extra ? ", " : "",
		 extra ? extra : "");
	return start(f, e);
}

/* Nothing of the VM runs on the destination, and it never ran there. */
static void expect_nothing_on_dest(fx *f)
{
	char path[QL_PATH_MAX + 32];
	gl_log dl;
	int n = 0;

	/* The abort is confirmed before the source reports its phase. */
	for (int i = 0; i < 50 && (n = scan_qemus(f->dst.state_dir, false));
	     i++)
		usleep(100 * 1000);
	assert_int_equal(n, 0);
	snprintf(path, sizeof(path), "%s/vms/g1/serial.log", f->dst.state_dir);
	gl_log_init(&dl, 0);
	if (gl_log_read_file(&dl, path, GL_TS_NONE, NULL))
		assert_int_equal(dl.hb_count, 0);
	snprintf(path, sizeof(path), "%s/vms/g1/%s", f->dst.state_dir,
		 strrchr(f->vm.mem_path, '/') + 1);
	assert_int_not_equal(access(path, F_OK), 0);
}

/* Either outcome, judged in full; never anything else. */
static void expect_verified_or_rolled_back(fx *f, json_object *st)
{
	json_object *ver = get(st, "verify");
	const char *ph = str(st, "phase");
	char want[64];

	printf("# %s\n", json_object_to_json_string(st));
	assert_string_equal(str(st, "mode"), "qemu");
	assert_true(json_object_get_boolean(get(ver, "done")));
	assert_int_equal(json_object_get_int64(get(ver, "pages_checked")),
			 f->vm.ram_bytes / 4096);
	if (!strcmp(ph, "completed")) {
		printf("# OUTCOME: completed, verified with 0 mismatches, "
		       "QEMU downtime + verify + cont %.1f ms\n",
		       json_object_get_double(get(st, "downtime_ms")));
		assert_true(json_object_get_boolean(get(ver, "passed")));
		assert_int_equal(json_object_get_int64(get(ver, "mismatches")), 0);
		assert_true(json_object_get_double(get(st, "downtime_ms")) > 0);
		expect_on_dest(f);
		return;
	}
	printf("# OUTCOME: %s: %s\n", ph, str(st, "error"));
	assert_string_equal(ph, "rolled-back");
	assert_false(json_object_get_boolean(get(ver, "passed")));
	assert_true(json_object_get_int64(get(ver, "mismatches")) > 0);
	snprintf(want, sizeof(want), "verification: %lld page",
		 (long long)json_object_get_int64(get(ver, "mismatches")));
	assert_non_null(strstr(str(st, "error"), want));
	assert_non_null(strstr(str(st, "error"), "differed after QEMU's "
			       "migration"));
	expect_on_source(f);
	expect_nothing_on_dest(f);
}

/* QEMU's pre-copy of a guest that writes all the time: completed and
 * verified with the guest intact on the destination, or caught by the
 * verification and rolled back with the guest intact on the source. */
static void test_busy_guest(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start_qemu(f, "\"max_downtime_ms\": 300");
	st = wait_final(f, id);
	expect_verified_or_rolled_back(f, st);
	json_object_put(st);
	free(id);
}

/* The same with multifd (2 channels) and xbzrle: the capabilities reach
 * both QEMUs (a mismatch fails QEMU's migration outright). */
static void test_busy_guest_multifd(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start_qemu(f, "\"multifd\": true, \"multifd_channels\": 2, "
		      "\"xbzrle\": true");
	st = wait_final(f, id);
	expect_verified_or_rolled_back(f, st);
	json_object_put(st);
	free(id);
}

/* A nearly idle guest (one page written per second): the same judgement;
 * with so few writes for QEMU to miss, it is the likelier one to verify. */
static void test_idle_guest(void **state)
{
	test_busy_guest(state);
}

/* verify "none" on a VM the agents could verify: QEMU's migration is
 * trusted, no page compared, and status says so. The nearly idle guest
 * keeps what QEMU 7.2 under TCG could lose small, so the guest must
 * come out whole on the destination. */
static void test_verify_none(void **state)
{
	fx *f = *state;
	json_object *st, *ver;
	char *id;

	attach(f);
	id = start_qemu(f, "\"verify\": \"none\"");
	st = wait_final(f, id);
	ver = get(st, "verify");
	printf("# %s\n", json_object_to_json_string(st));
	assert_string_equal(str(st, "phase"), "completed");
	assert_false(json_object_get_boolean(get(ver, "done")));
	assert_int_equal(json_object_get_int64(get(ver, "pages_checked")), 0);
	assert_non_null(strstr(str(ver, "skipped"), "verify \"none\": QEMU's "
			       "migration trusted, no page compared"));
	assert_true(json_object_get_double(get(st, "downtime_ms")) > 0);
	expect_on_dest(f);
	json_object_put(st);
	free(id);
}

/* A link capped at 8 Mbit/s cannot move the 32 MB working set within a
 * 2 s deadline; on_deadline "abort" cancels QEMU's migration: failed, the
 * guest runs on the source intact, no QEMU left on the destination. */
static void test_deadline_abort(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start_qemu(f, "\"bandwidth_mbps\": 8, \"deadline\": 2, "
		      "\"on_deadline\": \"abort\"");
	st = wait_final(f, id);
	printf("# %s: %s\n", str(st, "phase"), str(st, "error"));
	assert_string_equal(str(st, "phase"), "failed");
	assert_non_null(strstr(str(st, "error"), "deadline"));
	expect_on_source(f);
	expect_nothing_on_dest(f);
	json_object_put(st);
	free(id);
}

/* The guest dirties about 12 MB/s, the link is capped at 40 Mbit/s: QEMU
 * cannot converge. At the deadline, on_deadline "force" lifts QEMU's
 * downtime limit and QEMU switches over; the verification still decides
 * whether the destination may run. */
static void test_deadline_force(void **state)
{
	fx *f = *state;
	json_object *st;
	char *id;

	attach(f);
	id = start_qemu(f, "\"bandwidth_mbps\": 40, \"deadline\": 3, "
		      "\"on_deadline\": \"force\"");
	st = wait_final(f, id);
	printf("# gate: %s\n", str(st, "gate"));
	assert_non_null(strstr(str(st, "gate"), "force: deadline passed"));
	expect_verified_or_rolled_back(f, st);
	json_object_put(st);
	free(id);
}

/* migration.cancel while QEMU copies (held there by an 8 Mbit/s cap):
 * cancelled, the guest runs on the source intact, and the destination
 * agent was told to kill its QEMU. */
static void test_cancel(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	json_object *st;
	char p[128];
	char *id;

	attach(f);
	id = start_qemu(f, "\"bandwidth_mbps\": 8");
	usleep(1000 * 1000);
	snprintf(p, sizeof(p), "{\"id\": \"%s\"}", id);
	if (!rpc_client_call_ok(f->cs, "migration.cancel", json_tokener_parse(p),
				TMO, &err))
		fail_msg("migration.cancel: %s", err.msg);
	st = wait_final(f, id);
	printf("# %s: %s\n", str(st, "phase"), str(st, "error"));
	assert_string_equal(str(st, "phase"), "cancelled");
	expect_on_source(f);
	expect_nothing_on_dest(f);
	json_object_put(st);
	free(id);
}

static void expect_error(fx *f, const char *params, int code)
{
	expect_start_refused(f, params, code, NULL, 0);
}

/* Refused parameters of mode "qemu", before anything starts. */
static void test_bad_params(void **state)
{
	fx *f = *state;

	attach(f);
	expect_error(f, "\"mode\": \"qemu\", \"multifd\": true, "
		     "\"multifd_channels\": 0", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"qemu\", \"multifd\": true, "
		     "\"multifd_channels\": 256", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"qemu\", \"multifd_channels\": 4",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"qemu\", \"multifd\": \"yes\"",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"qemu\", \"streams\": 4",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"agent\", \"xbzrle\": true",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"auto_converge\": true", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"QEMU\"", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"qemu\", \"max_downtime_ms\": 0",
		     RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"qemu\", \"multifd\": true, "
		     "\"multifd_chanels\": 2", RPC_ERR_INVALID_PARAMS);
	/* The agent engine always verifies. */
	expect_error(f, "\"verify\": \"none\"", RPC_ERR_INVALID_PARAMS);
	expect_error(f, "\"mode\": \"qemu\", \"verify\": \"skip\"",
		     RPC_ERR_INVALID_PARAMS);
	/* Nothing was started: the VM is free and still runs here. */
	assert_int_equal(scan_qemus(f->dst.state_dir, false), 0);
	expect_on_source(f);
}

static const variant busy = { .name = "compat" };
static const variant idle = { .name = "compat",
			      .append = "ws=32M rate=1 pattern=rand" };

#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, \
		fx_teardown, (void *)&busy)
#define T_IDLE(fn) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, \
		fx_teardown, (void *)&idle)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_busy_guest),
		T(test_busy_guest_multifd),
		T_IDLE(test_idle_guest),
		T_IDLE(test_verify_none),
		T(test_deadline_abort),
		T(test_deadline_force),
		T(test_cancel),
		T(test_bad_params),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/agent/compat", tests, NULL, NULL);
}
