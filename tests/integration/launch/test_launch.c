/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Integration tests of the VM launcher against real QEMU (TCG): it starts
 * what it says, reports start-up failures with QEMU's own words, and leaves
 * no process, run dir or RAM file behind.
 */
#include "tests/qmig_test.h"
#include "tools/launch/launch.h"

#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Each test's VM lives in the fixture, so a failed assertion still stops
 * QEMU and removes its files. */
static int vm_setup(void **state)
{
	*state = calloc(1, sizeof(ql_vm));
	return *state ? 0 : -1;
}

static int vm_teardown(void **state)
{
	ql_vm_stop(*state);
	free(*state);
	return 0;
}

/* A started VM has its QMP socket, serial log and a RAM file of the right
 * size; stop removes all of them and the process is gone. */
static void test_start_stop(void **state)
{
	ql_vm_opts o = { .name = "lt-basic", .ram_bytes = 64 << 20,
			 .kernel = "", .paused = true };
	qm_error err = QM_ERROR_INIT;
	char dir[QL_PATH_MAX], ram[QL_PATH_MAX];
	struct stat st;
	ql_vm *vm = *state;
	pid_t pid;

	assert_true(ql_vm_start(vm, &o, &err));
	assert_int_equal(err.code, QM_OK);
	pid = vm->pid;
	assert_true(pid > 0);
	assert_true(ql_vm_alive(vm));
	assert_int_equal(stat(vm->qmp_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(stat(vm->mem_path, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_int_equal(qt_shm_files("lt-basic"), 1);
	strcpy(dir, vm->dir);
	strcpy(ram, vm->mem_path);

	ql_vm_stop(vm);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_not_equal(access(dir, F_OK), 0);
	assert_int_not_equal(access(ram, F_OK), 0);
	assert_int_equal(qt_shm_files("lt-basic"), 0);
	ql_vm_stop(vm); /* twice is harmless */
}

/* A missing kernel is refused before QEMU starts, naming the path. */
static void test_missing_kernel(void **state)
{
	ql_vm_opts o = { .name = "lt-nokernel", .kernel = "/nonexistent/k.elf" };
	qm_error err = QM_ERROR_INIT;
	ql_vm vm;

	assert_false(ql_vm_start(&vm, &o, &err));
	assert_int_equal(err.code, QM_ERR_IO);
	assert_non_null(strstr(err.msg, "/nonexistent/k.elf"));
	assert_int_equal(qt_shm_files("lt-nokernel"), 0);
}

/* QEMU that dies during start-up: the error carries QEMU's message and
 * nothing is left behind. */
static void test_qemu_dies_at_start(void **state)
{
	static const char *const bad[] = { "-no-such-option", NULL };
	ql_vm_opts o = { .name = "lt-dies", .ram_bytes = 32 << 20,
			 .kernel = "", .extra_args = bad };
	qm_error err = QM_ERROR_INIT;
	ql_vm vm;

	assert_false(ql_vm_start(&vm, &o, &err));
	assert_non_null(strstr(err.msg, "QEMU exited during start-up"));
	assert_non_null(strstr(err.msg, "no-such-option"));
	assert_int_equal(qt_shm_files("lt-dies"), 0);
	assert_int_equal(vm.pid, 0);
}

/* A VM whose QEMU is killed is seen as dead and still cleaned up. */
static void test_killed_vm_reaped(void **state)
{
	ql_vm_opts o = { .name = "lt-killed", .ram_bytes = 32 << 20,
			 .kernel = "", .paused = true, .mem = QL_MEM_MEMFD };
	qm_error err = QM_ERROR_INIT;
	ql_vm *vm = *state;
	int status;

	assert_true(ql_vm_start(vm, &o, &err));
	assert_string_equal(vm->mem_path, "");
	kill(vm->pid, SIGKILL);
	for (int i = 0; i < 200 && ql_vm_alive(vm); i++)
		usleep(10000);
	assert_false(ql_vm_alive(vm));
	status = ql_vm_stop(vm);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* The KVM probe gives a reason whenever it says no. */
static void test_kvm_probe_explains(void **state)
{
	char why[256] = "";

	if (!ql_kvm_usable(why, sizeof(why)))
		assert_true(strlen(why) > 0);
	printf("# kvm usable: %s\n", why[0] ? why : "yes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_stop, vm_setup,
						vm_teardown),
		cmocka_unit_test(test_missing_kernel),
		cmocka_unit_test(test_qemu_dies_at_start),
		cmocka_unit_test_setup_teardown(test_killed_vm_reaped, vm_setup,
						vm_teardown),
		cmocka_unit_test(test_kvm_probe_explains),
	};

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found in PATH");
	return cmocka_run_group_tests_name("/launch", tests, NULL, NULL);
}
