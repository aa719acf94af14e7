/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Integration tests of the QMP client against real QEMU (TCG, no guest
 * kernel, paused with -S): the commands the agent relies on, the events
 * they cause, and what the client reports when QEMU goes away. Each test
 * starts its own QEMU through the launcher and leaves no process or
 * /dev/shm file behind.
 */
#include "tests/qmig_test.h"
#include "tools/launch/launch.h"
#include "qmp/qmp.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each VM test gets a fresh QEMU from setup; teardown stops it even when
 * the test failed half-way, so nothing outlives a failure. */
#define VM_CASE(name, fn) { name, fn, vm_setup, vm_teardown, NULL }
#define CASE(name, fn) { name, fn, NULL, NULL, NULL }
#define VM_NAME "qmp-it"
#define WAIT_MS 10000

struct vm {
	ql_vm vm;
	qmp_conn *conn;
};

static int vm_setup(void **state)
{
	ql_vm_opts o = { .name = VM_NAME, .ram_bytes = 64 << 20,
			 .mem = QL_MEM_FILE, .kernel = "", .paused = true,
			 .accel = QL_ACCEL_TCG };
	qm_error err = QM_ERROR_INIT;
	struct vm *v = calloc(1, sizeof(*v));

	if (!v)
		return -1;
	*state = v;
	if (!ql_vm_start(&v->vm, &o, &err)) {
		print_error("starting QEMU: %s\n", err.msg);
		return -1;
	}
	v->conn = qmp_conn_new(&err);
	if (!v->conn || !qmp_connect(v->conn, v->vm.qmp_path, WAIT_MS, &err) ||
	    !qmp_wait_ready(v->conn, WAIT_MS, &err)) {
		print_error("QMP: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int vm_teardown(void **state)
{
	struct vm *v = *state;

	if (v) {
		qmp_conn_free(v->conn);
		ql_vm_stop(&v->vm);
		free(v);
	}
	return 0;
}

static void check(bool ok, const qm_error *err)
{
	if (!ok)
		fail_msg("%s (%s)", err->msg, qm_errcode_name(err->code));
}

/* Connecting gives the greeting's version, QEMU's PID by SO_PEERCRED,
 * and query-status reports the -S VM as not running (prelaunch). */
static void test_connect_status(void **state)
{
	qm_error err = QM_ERROR_INIT;
	const qmp_greeting *g;
	qmp_status st;
	struct vm *v = *state;

	g = qmp_get_greeting(v->conn);
	assert_non_null(g);
	assert_true(g->major >= 7);
	assert_int_equal(qmp_peer_pid(v->conn), v->vm.pid);
	check(qmp_query_status(v->conn, &st, &err), &err);
	assert_false(st.running);
	assert_int_equal(st.state, QMP_RUN_STATE_PRELAUNCH);
}

/* cont starts the VM and QEMU sends RESUME; stop pauses it and QEMU
 * sends STOP; the events are recorded by the time the calls return. */
static void test_cont_stop_events(void **state)
{
	qm_error err = QM_ERROR_INIT;
	const qmp_event_state *es;
	qmp_status st;
	struct vm *v = *state;

	es = qmp_event_state_get(v->conn);
	check(qmp_cont(v->conn, &err), &err);
	check(qmp_query_status(v->conn, &st, &err), &err);
	assert_true(st.running);
	assert_int_equal(st.state, QMP_RUN_STATE_RUNNING);
	assert_int_equal(es->resume_seen, 1);
	check(qmp_stop(v->conn, &err), &err);
	assert_int_equal(es->stop_seen, 1);
	check(qmp_query_status(v->conn, &st, &err), &err);
	assert_false(st.running);
	assert_int_equal(st.state, QMP_RUN_STATE_PAUSED);
	assert_int_equal(qmp_event_count(v->conn), 2);
}

/* The RAM backend is found the way the agent finds it: query-memdev lists
 * a 64 MiB shared backend, qom-list /objects shows it as a
 * memory-backend-file child, and its mem-path is the launcher's file. */
static void test_memdev_and_qom(void **state)
{
	qm_error err = QM_ERROR_INIT;
	qmp_memdev_list md;
	qmp_qom_prop_list ql;
	const qmp_memdev *m = NULL;
	char path[QMP_NAME_MAX + 16];
	json_object *v_path;
	bool listed = false;
	struct vm *v = *state;
	size_t i;

	check(qmp_query_memdev(v->conn, &md, &err), &err);
	for (i = 0; i < md.count; i++)
		if (md.items[i].size == 64ULL << 20)
			m = &md.items[i];
	assert_non_null(m);
	assert_true(m->share);
	assert_true(m->id[0]);
	check(qmp_qom_list(v->conn, "/objects", &ql, &err), &err);
	for (i = 0; i < ql.count; i++)
		listed |= !strcmp(ql.items[i].name, m->id) &&
			  !strcmp(ql.items[i].type,
				  "child<memory-backend-file>");
	assert_true(listed);
	snprintf(path, sizeof(path), "/objects/%s", m->id);
	v_path = qmp_qom_get(v->conn, path, "mem-path", &err);
	check(v_path != NULL, &err);
	assert_string_equal(json_object_get_string(v_path), v->vm.mem_path);
	json_object_put(v_path);
	qmp_qom_prop_list_free(&ql);
	qmp_memdev_list_free(&md);
}

/* query-cpus-fast gives each vCPU's host thread id, a live thread of the
 * QEMU process (what a CPU throttle would put in a cgroup). */
static void test_cpus_fast(void **state)
{
	qm_error err = QM_ERROR_INIT;
	char task[64];
	qmp_cpu_list cl;
	struct vm *v = *state;

	check(qmp_query_cpus_fast(v->conn, &cl, &err), &err);
	assert_true(cl.count >= 1);
	assert_int_equal(cl.items[0].cpu_index, 0);
	assert_true(cl.items[0].thread_id > 0);
	snprintf(task, sizeof(task), "/proc/%d/task/%lld", (int)v->vm.pid,
		 (long long)cl.items[0].thread_id);
	assert_int_equal(access(task, F_OK), 0);
	qmp_cpu_list_free(&cl);
}

/* The migration set-up the agent does is accepted: capabilities (read
 * back through query-migrate-capabilities), parameters, and query-migrate
 * says no migration has run yet. The commands are probed first. */
static void test_migration_setup(void **state)
{
	static const qmp_mig_cap caps[] = {
		{ "x-ignore-shared", true }, { "events", true },
	};
	qm_error err = QM_ERROR_INIT;
	qmp_mig_cap_list mc;
	qmp_migrate_info mi;
	qmp_name_list cmds;
	json_object *params;
	struct vm *v = *state;

	check(qmp_query_commands(v->conn, &cmds, &err), &err);
	assert_true(qmp_name_list_has(&cmds, "migrate-set-capabilities"));
	assert_true(qmp_name_list_has(&cmds, "query-dirty-rate"));
	assert_false(qmp_name_list_has(&cmds, "no-such-command"));
	qmp_name_list_free(&cmds);
	check(qmp_migrate_set_capabilities(v->conn, caps, 2, &err), &err);
	check(qmp_query_migrate_capabilities(v->conn, &mc, &err), &err);
	assert_int_equal(qmp_mig_cap_list_find(&mc, "x-ignore-shared"), 1);
	assert_int_equal(qmp_mig_cap_list_find(&mc, "events"), 1);
	assert_int_equal(qmp_mig_cap_list_find(&mc, "postcopy-ram"), 0);
	qmp_mig_cap_list_free(&mc);
	params = json_object_new_object();
	json_object_object_add(params, "max-bandwidth",
			       json_object_new_int64(1LL << 30));
	json_object_object_add(params, "downtime-limit",
			       json_object_new_int64(300));
	check(qmp_migrate_set_parameters(v->conn, params, &err), &err);
	check(qmp_query_migrate(v->conn, &mi, &err), &err);
	assert_int_equal(mi.status, QMP_MIG_STATUS_NONE);
	assert_false(mi.has_ram);
	check(qmp_announce_self(v->conn, NULL, &err), &err);
}

/* calc-dirty-rate runs its one-second measurement and query-dirty-rate
 * reports it as measured, with a rate. */
static void test_dirty_rate(void **state)
{
	qm_error err = QM_ERROR_INIT;
	qmp_dirty_rate_info d;
	int64_t until;
	struct vm *v = *state;

	check(qmp_cont(v->conn, &err), &err);
	check(qmp_calc_dirty_rate(v->conn, 1, &err), &err);
	until = qm_now_ms() + WAIT_MS;
	do {
		usleep(100 * 1000);
		check(qmp_query_dirty_rate(v->conn, &d, &err), &err);
	} while (d.status != QMP_DIRTY_RATE_MEASURED && qm_now_ms() < until);
	assert_int_equal(d.status, QMP_DIRTY_RATE_MEASURED);
	assert_int_equal(d.calc_time_s, 1);
	assert_true(d.has_dirty_rate);
	assert_true(d.dirty_rate_mbps >= 0);
}

/* Unknown commands, missing objects and bad arguments come back as
 * QM_ERR_QMP with QEMU's error class, and the connection stays usable. */
static void test_error_classes(void **state)
{
	qm_error err = QM_ERROR_INIT;
	qmp_status st;
	struct vm *v = *state;

	assert_null(qmp_call(v->conn, "no-such-command", NULL, 0, &err));
	assert_int_equal(err.code, QM_ERR_QMP);
	assert_int_equal(err.subclass, QMP_ERR_CLASS_COMMAND_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no-such-command: "));
	qm_error_clear(&err);
	assert_null(qmp_qom_get(v->conn, "/objects/ram0", "no-such-prop",
				&err));
	assert_int_equal(err.code, QM_ERR_QMP);
	assert_int_equal(err.subclass, QMP_ERR_CLASS_GENERIC);
	qm_error_clear(&err);
	assert_null(qmp_qom_get(v->conn, "/objects/no-such-object", "size",
				&err));
	assert_int_equal(err.subclass, QMP_ERR_CLASS_DEVICE_NOT_FOUND);
	qm_error_clear(&err);
	assert_false(qmp_migrate_continue(v->conn, "not-a-state", &err));
	assert_int_equal(err.subclass, QMP_ERR_CLASS_GENERIC);
	qm_error_clear(&err);
	check(qmp_query_status(v->conn, &st, &err), &err);
}

static bool called(qmp_conn *conn, void *opaque)
{
	return *(int *)opaque > 0;
}

struct outcome {
	int calls;
	qm_error err;
};

static void outcome_cb(qmp_conn *conn, json_object *result,
		       const qm_error *err, void *opaque)
{
	struct outcome *o = opaque;

	o->calls++;
	if (err)
		o->err = *err;
}

/* QEMU killed while a command is in flight: the command completes with
 * QM_ERR_CLOSED and the connection is dead. QEMU is frozen (SIGSTOP)
 * first, so the command is certainly unanswered when SIGKILL lands. */
static void test_killed_mid_command(void **state)
{
	qm_error err = QM_ERROR_INIT;
	struct outcome o = { 0 };
	struct vm *v = *state;
	int status;

	assert_int_equal(kill(v->vm.pid, SIGSTOP), 0);
	assert_true(qmp_execute(v->conn, "query-status", NULL, WAIT_MS,
				outcome_cb, &o, &err) > 0);
	assert_int_equal(qmp_process(v->conn, POLLOUT, &err), 0);
	assert_false(qmp_want_write(v->conn)); /* it is in QEMU's socket */
	assert_int_equal(kill(v->vm.pid, SIGKILL), 0);
	check(qmp_wait_until(v->conn, called, &o.calls, WAIT_MS, &err), &err);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.err.code, QM_ERR_CLOSED);
	assert_non_null(strstr(o.err.msg,
			       "1 command pending (last: query-status)"));
	assert_int_equal(qmp_get_state(v->conn), QMP_STATE_DEAD);
	qmp_conn_free(v->conn);
	v->conn = NULL;
	status = ql_vm_stop(&v->vm);
	assert_true(WIFSIGNALED(status));
}

static bool shutdown_seen(qmp_conn *conn, void *opaque)
{
	return qmp_event_state_get(conn)->shutdown_seen > 0;
}

static bool never(qmp_conn *conn, void *opaque)
{
	return false;
}

/* quit: QEMU answers, sends SHUTDOWN (reason host-qmp-quit), closes the
 * connection and exits with status 0. */
static void test_quit(void **state)
{
	qm_error err = QM_ERROR_INIT;
	struct vm *v = *state;
	int status;

	check(qmp_quit(v->conn, &err), &err);
	check(qmp_wait_until(v->conn, shutdown_seen, NULL, WAIT_MS, &err),
	      &err);
	assert_string_equal(qmp_event_state_get(v->conn)->shutdown_reason,
			    "host-qmp-quit");
	assert_false(qmp_wait_until(v->conn, never, NULL, WAIT_MS, &err));
	assert_int_equal(err.code, QM_ERR_CLOSED);
	qmp_conn_free(v->conn);
	v->conn = NULL;
	status = ql_vm_stop(&v->vm);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Nothing is left behind: no /dev/shm file, no child process. */
static void test_nothing_left(void **state)
{
	assert_int_equal(qt_shm_files(VM_NAME), 0);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		VM_CASE("/qmp/qemu/connect-status", test_connect_status),
		VM_CASE("/qmp/qemu/cont-stop-events", test_cont_stop_events),
		VM_CASE("/qmp/qemu/memdev-and-qom", test_memdev_and_qom),
		VM_CASE("/qmp/qemu/cpus-fast", test_cpus_fast),
		VM_CASE("/qmp/qemu/migration-setup", test_migration_setup),
		VM_CASE("/qmp/qemu/dirty-rate", test_dirty_rate),
		VM_CASE("/qmp/qemu/error-classes", test_error_classes),
		VM_CASE("/qmp/qemu/killed-mid-command", test_killed_mid_command),
		VM_CASE("/qmp/qemu/quit", test_quit),
		CASE("/qmp/qemu/nothing-left", test_nothing_left),
	};

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found in PATH (QMIG_QEMU unset)");
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("qmp-qemu", tests, NULL, NULL);
}
