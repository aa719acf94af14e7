/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Agents SIGKILLed in the middle of a migration and restarted on their
 * state dir (real agents, real QEMU under TCG, the self-checking guest).
 * Each test kills one agent at one point, restarts it and checks that the
 * VM runs in exactly one place, intact, and that the migration is
 * reported the way docs/RELIABILITY.md says:
 *  - source killed in pre-copy: the VM is attached again and runs on the
 *    source, the migration is "failed ... interrupted", the destination
 *    has killed its QEMU; a new migration succeeds;
 *  - source killed with the VM stopped (stop-copy; and after the device
 *    state, VM in postmigrate): resumed on the source, "rolled-back";
 *  - source killed after the switchover record, before COMMIT: in doubt
 *    at restart, the destination says it never ran the VM, the source
 *    resumes it;
 *  - destination killed in pre-copy: the source rolls back; the restarted
 *    destination kills the QEMU it had started and removes its files; a
 *    new migration succeeds;
 *  - destination killed just after it resumed the VM, before the ACK
 *    (and, second variant, with COMMIT received but the VM not resumed
 *    yet): the source is in doubt and keeps its QEMU paused; the
 *    restarted destination adopts the VM (resuming it in the second
 *    case); the source learns it and quits.
 */
#include "tests/integration/agent/pair.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEATH_MS 60000
#define SETTLE_MS 20000

static json_object *status_on(rpc_client *cl, const char *id)
{
	qm_error err = QM_ERROR_INIT;
	char p[128];
	json_object *st;

	snprintf(p, sizeof(p), "{\"id\": \"%s\"}", id);
	st = rpc_client_call(cl, "migration.status", json_tokener_parse(p), TMO,
			     &err);
	if (!st)
		fail_msg("migration.status %s: %s", id, err.msg);
	return st;
}

static rpc_client *connect_to(ql_agent *ag)
{
	qm_error err = QM_ERROR_INIT;
	rpc_client *c = rpc_client_connect(ag->rpc, TMO, &err);

	if (!c)
		fail_msg("connect %s: %s", ag->rpc, err.msg);
	return c;
}

/* Status of VM @name as @cl's agent lists it, "" if not listed. */
static const char *vm_status(rpc_client *cl, const char *name, char *buf,
			     size_t len)
{
	qm_error err = QM_ERROR_INIT;
	json_object *r = rpc_client_call(cl, "vm.list", NULL, TMO, &err), *l;

	if (!r)
		fail_msg("vm.list: %s", err.msg);
	buf[0] = '\0';
	l = get(r, "vms");
	for (size_t i = 0; i < json_object_array_length(l); i++) {
		json_object *v = json_object_array_get_idx(l, i);

		if (!strcmp(str(v, "name"), name))
			snprintf(buf, len, "%s", str(v, "status"));
	}
	json_object_put(r);
	return buf;
}

static void wait_qemus(const char *dir, int want, int ms)
{
	int64_t deadline = qm_now_ms() + ms;
	int n;

	while ((n = scan_qemus(dir, false)) != want) {
		if (qm_now_ms() > deadline)
			fail_msg("%d QEMU(s) of %s, expected %d", n, dir, want);
		usleep(50 * 1000);
	}
}

static void expect_interrupted(json_object *st, const char *phase)
{
	printf("# %s: %s\n", str(st, "phase"), str(st, "error"));
	assert_string_equal(str(st, "phase"), phase);
	assert_non_null(strstr(str(st, "error"), "interrupted: agent restarted"));
}

/* A second migration of the same VM, after the recovery, succeeds. */
static void migrate_again(fx *f)
{
	json_object *st;
	char *id = start(f, NULL);

	st = wait_final(f, id);
	printf("# again: %s %s\n", str(st, "phase"), str(st, "error"));
	assert_string_equal(str(st, "phase"), "completed");
	expect_on_dest(f);
	json_object_put(st);
	free(id);
}

static void test_source_killed_precopy(void **state)
{
	fx *f = *state;
	json_object *st;
	char buf[64], *id;

	attach(f);
	/* Held in pre-copy: the guest dirties 12 MB/s, the link 1 MB/s. */
	id = start(f, "\"bandwidth_mbps\": 8");
	usleep(1500 * 1000);
	st = status_on(f->cs, id);
	assert_string_equal(str(st, "phase"), "precopy");
	json_object_put(st);
	ql_agent_kill(&f->src);
	/* The destination sees its transport close and kills its QEMU. */
	wait_qemus(f->dst.dir, 0, SETTLE_MS);
	fx_restart(f, &f->src);
	assert_string_equal(vm_status(f->cs, "g1", buf, sizeof(buf)),
			    "running");
	st = status_on(f->cs, id);
	expect_interrupted(st, "failed");
	json_object_put(st);
	expect_on_source(f);
	migrate_again(f);
	free(id);
}

/* The source dies at a fault point with the VM stopped (stop-copy:
 * "paused"; verify: after the device state, "postmigrate"). */
static void test_source_killed_stopped(void **state)
{
	fx *f = *state;
	json_object *st;
	char buf[64], *id;

	attach(f);
	id = start(f, NULL);
	wait_agent_dead(&f->src, DEATH_MS);
	fx_restart(f, &f->src);
	assert_string_equal(vm_status(f->cs, "g1", buf, sizeof(buf)),
			    "running");
	st = status_on(f->cs, id);
	expect_interrupted(st, "rolled-back");
	json_object_put(st);
	expect_on_source(f);
	wait_qemus(f->dst.dir, 0, SETTLE_MS);
	free(id);
}

/* Dead after the switchover record, before COMMIT went out: the restart
 * cannot know, asks the destination (which never ran the VM: it killed
 * its QEMU when the transport closed) and resumes the source. */
static void test_source_killed_switchover(void **state)
{
	fx *f = *state;
	json_object *st;
	char buf[64], *id;

	attach(f);
	id = start(f, NULL);
	wait_agent_dead(&f->src, DEATH_MS);
	wait_qemus(f->dst.dir, 0, SETTLE_MS);
	fx_restart(f, &f->src);
	st = wait_phase_on(f->cs, id, "rolled-back", SETTLE_MS);
	printf("# %s: %s\n", str(st, "phase"), str(st, "error"));
	assert_non_null(strstr(str(st, "error"), "never ran"));
	json_object_put(st);
	assert_string_equal(vm_status(f->cs, "g1", buf, sizeof(buf)),
			    "running");
	expect_on_source(f);
	free(id);
}

static void test_dest_killed_precopy(void **state)
{
	fx *f = *state;
	char dir[QL_PATH_MAX + 16];
	json_object *st;
	rpc_client *cd;
	struct stat sb;
	char *id;

	attach(f);
	id = start(f, "\"bandwidth_mbps\": 8");
	usleep(1500 * 1000);
	ql_agent_kill(&f->dst);
	st = wait_final(f, id);
	printf("# source: %s: %s\n", str(st, "phase"), str(st, "error"));
	assert_string_not_equal(str(st, "phase"), "completed");
	json_object_put(st);
	expect_on_source(f);
	/* QEMUs outlive their agent: the one it started waits, paused. */
	assert_int_equal(scan_qemus(f->dst.dir, false), 1);
	snprintf(dir, sizeof(dir), "%s/vms/g1", f->dst.state_dir);
	assert_int_equal(stat(dir, &sb), 0);
	fx_restart(f, &f->dst);
	cd = connect_to(&f->dst);
	/* Recovery runs before the first answer. */
	st = status_on(cd, id);
	expect_interrupted(st, "failed");
	json_object_put(st);
	assert_int_equal(scan_qemus(f->dst.dir, false), 0);
	assert_int_equal(stat(dir, &sb), -1);
	rpc_client_free(cd);
	migrate_again(f);
	free(id);
}

static void test_dest_killed_running(void **state)
{
	fx *f = *state;
	json_object *st;
	rpc_client *cd;
	char buf[64], *id;

	attach(f);
	id = start(f, NULL);
	wait_agent_dead(&f->dst, DEATH_MS);
	/* COMMIT went out, no ACK: the source may not resume, nor quit. */
	st = wait_phase_on(f->cs, id, "in-doubt", SETTLE_MS);
	json_object_put(st);
	assert_true(ql_vm_alive(&f->vm));
	assert_int_equal(scan_qemus(f->dst.dir, false), 1);
	fx_restart(f, &f->dst);
	cd = connect_to(&f->dst);
	st = status_on(cd, id);
	printf("# destination: %s %s\n", str(st, "phase"), str(st, "error"));
	assert_string_equal(str(st, "phase"), "completed");
	json_object_put(st);
	assert_string_equal(vm_status(cd, "g1", buf, sizeof(buf)), "running");
	rpc_client_free(cd);
	/* The source asks again, learns it and lets its QEMU go. */
	st = wait_phase_on(f->cs, id, "completed", SETTLE_MS);
	json_object_put(st);
	expect_on_dest(f);
	/* Exactly one QEMU runs the VM. */
	assert_false(ql_vm_alive(&f->vm));
	assert_int_equal(scan_qemus(f->dst.dir, false), 1);
	free(id);
}

static const variant die_stop_copy = {
	.src_env = "QMIG_FAULT_DIE_AT=stop-copy" };
static const variant die_verify = { .src_env = "QMIG_FAULT_DIE_AT=verify" };
static const variant die_switchover = {
	.src_env = "QMIG_FAULT_DIE_AT=switchover" };
static const variant die_dest_running = {
	.dst_env = "QMIG_FAULT_DIE_AT=dest-running" };
static const variant die_dest_commit = {
	.dst_env = "QMIG_FAULT_DIE_AT=dest-commit" };

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
#define TV(fn, v) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, \
	fx_teardown, (void *)&(v))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_source_killed_precopy),
		TV(test_source_killed_stopped, die_stop_copy),
		TV(test_source_killed_stopped, die_verify),
		TV(test_source_killed_switchover, die_switchover),
		T(test_dest_killed_precopy),
		TV(test_dest_killed_running, die_dest_running),
		TV(test_dest_killed_running, die_dest_commit),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/agent/recover", tests, NULL, NULL);
}
