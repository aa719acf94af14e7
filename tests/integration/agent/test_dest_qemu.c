/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A destination QEMU the caller started (migration.start "dest_qmp"):
 *  - one waiting as it should (-incoming defer -S, its RAM on a shared
 *    file, the same backend as the source): the destination agent adopts
 *    it, writes the RAM into its file, and the guest runs on in it,
 *    verified, from the source's last heartbeat;
 *  - one started without -S, one with a different RAM size: refused
 *    before anything moves, with an error saying why; the VM runs on at
 *    the source and the caller's QEMU is left alone;
 *  - a migration to an adopted QEMU that fails (deadline): the VM runs on
 *    at the source, the adopted QEMU is gone and its RAM file emptied;
 *  - compat mode (QEMU's own migration) into an adopted QEMU, verified.
 */
#include "tests/integration/agent/pair.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A destination QEMU as a caller would start one: the source's machine,
 * waiting for its migration. */
static void start_qd(ql_vm *qd, uint64_t ram_bytes, bool paused)
{
	ql_vm_opts o = { .name = "qd", .ram_bytes = ram_bytes,
			 .append = DEFAULT_APPEND, .accel = QL_ACCEL_TCG,
			 .paused = paused, .incoming = "defer" };
	qm_error err = QM_ERROR_INIT;

	if (!ql_vm_start(qd, &o, &err))
		fail_msg("starting the destination QEMU: %s", err.msg);
}

static char *start_to(fx *f, const ql_vm *qd, const char *extra)
{
	char params[QL_PATH_MAX + 256];

	snprintf(params, sizeof(params), "\"dest_qmp\": \"unix:%s\"%s%s",
		 qd->qmp_path, extra ? ", " : "", extra ? extra : "");
	return start(f, params);
}

/* Into an adopted QEMU, with @extra start members: completed, verified,
 * the guest runs on in it. */
static void migrate_into(fx *f, const char *extra)
{
	json_object *st;
	ql_vm qd;
	char *id;

	start_qd(&qd, 256 << 20, true);
	attach(f);
	id = start_to(f, &qd, extra);
	st = wait_final(f, id);
	printf("# %s\n", json_object_to_json_string(st));
	assert_string_equal(str(st, "phase"), "completed");
	assert_true(json_object_get_boolean(get(get(st, "verify"), "passed")));
	expect_on_dest_serial(f, qd.serial_path);
	assert_true(ql_vm_alive(&qd));
	json_object_put(st);
	free(id);
	ql_vm_stop(&qd);
}

static void test_adopted(void **state)
{
	migrate_into(*state, "\"max_downtime_ms\": 300");
}

/* Refused at migration.prepare: the error names the reason. */
static void expect_refused(fx *f, const ql_vm *qd, const char *why)
{
	json_object *st;
	char *id = start_to(f, qd, NULL);

	st = wait_final(f, id);
	printf("# refused: %s: %s\n", str(st, "phase"), str(st, "error"));
	assert_string_equal(str(st, "phase"), "failed");
	assert_non_null(strstr(str(st, "error"), why));
	json_object_put(st);
	free(id);
}

static void test_refused(void **state)
{
	fx *f = *state;
	ql_vm qd;

	attach(f);
	start_qd(&qd, 256 << 20, false);
	expect_refused(f, &qd, "without -S");
	/* Not ours: nothing was done to it. */
	assert_true(ql_vm_alive(&qd));
	ql_vm_stop(&qd);

	start_qd(&qd, 128 << 20, true);
	expect_refused(f, &qd, "bytes, the source's");
	assert_true(ql_vm_alive(&qd));
	ql_vm_stop(&qd);
	expect_on_source(f);
}

/* Rolled back after the adoption: the adopted QEMU is killed (a
 * half-loaded incoming QEMU cannot be used again), its RAM file stays
 * (the caller's) but holds nothing any more. */
static void test_adopted_rollback(void **state)
{
	fx *f = *state;
	json_object *st;
	struct stat sb;
	ql_vm qd;
	char *id;

	start_qd(&qd, 256 << 20, true);
	attach(f);
	id = start_to(f, &qd, "\"max_downtime_ms\": 0.001, \"deadline\": 2, "
		      "\"on_deadline\": \"abort\"");
	st = wait_final(f, id);
	printf("# %s: %s\n", str(st, "phase"), str(st, "error"));
	assert_string_equal(str(st, "phase"), "failed");
	assert_non_null(strstr(str(st, "error"), "deadline"));
	expect_on_source(f);
	for (int i = 0; i < 100 && ql_vm_alive(&qd); i++)
		usleep(20 * 1000);
	assert_false(ql_vm_alive(&qd));
	assert_int_equal(stat(qd.mem_path, &sb), 0);
	printf("# its RAM file: %lld bytes, %lld allocated\n",
	       (long long)sb.st_size, (long long)sb.st_blocks * 512);
	assert_int_equal(sb.st_size, 256 << 20);
	assert_int_equal(sb.st_blocks, 0);
	json_object_put(st);
	free(id);
	ql_vm_stop(&qd);
}

/* Compat mode into an adopted QEMU: QEMU's own migration, then the
 * agents' page comparison, then it runs there. The guest barely writes:
 * QEMU 7.2's own pre-copy loses writes under TCG (a busy guest would be
 * rolled back, as /agent/compat shows). */
static void test_adopted_compat(void **state)
{
	migrate_into(*state, "\"mode\": \"qemu\"");
}

static const variant quiet = { .append = "ws=4M rate=1 pattern=seq" };

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_adopted),
		T(test_refused),
		T(test_adopted_rollback),
		cmocka_unit_test_prestate_setup_teardown(test_adopted_compat,
			fx_setup, fx_teardown, (void *)&quiet),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/agent/dest-qemu", tests, NULL,
					   NULL);
}
