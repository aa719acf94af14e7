/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workload guest boots and runs its self-check in a 1 GiB and in a
 * 4 GiB VM under TCG (the 4 GiB pc machine splits RAM around the PCI hole;
 * the guest must use only the low part it can address).
 */
#include "tests/qmig_test.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#include <string.h>
#include <unistd.h>

#define WAIT_MS 30000

static void boot_and_beat(uint64_t ram)
{
	ql_vm_opts o = { .name = "guest-size", .ram_bytes = ram,
			 .append = "ws=64M rate=2000 pattern=rand",
			 .accel = QL_ACCEL_TCG };
	qm_error err = QM_ERROR_INIT;
	gl_follow f;
	ql_vm vm;
	bool ok;

	if (!ql_vm_start(&vm, &o, &err))
		fail_msg("%s", err.msg);
	ok = gl_follow_open(&f, vm.serial_path, 0, &err) &&
	     gl_follow_wait_ready(&f, WAIT_MS, &err) &&
	     gl_follow_wait_hb(&f, 200, WAIT_MS, &err);
	gl_follow_process(&f, NULL);
	ql_vm_stop(&vm);
	if (!ok) {
		gl_follow_close(&f);
		fail_msg("%s", err.msg);
	}
	assert_int_equal(f.log.boot.ws, 64 << 20);
	assert_true(f.log.boot.base + f.log.boot.ws <= ram);
	assert_int_equal(f.log.corrupt_total, 0);
	assert_int_equal(f.log.hb_seq_breaks, 0);
	assert_int_equal(f.log.malformed, 0);
	gl_follow_close(&f);
}

/* Boots and beats in a 1 GiB VM. */
static void test_1g(void **state)
{
	boot_and_beat(1ULL << 30);
}

/* Boots and beats in a 4 GiB VM. */
static void test_4g(void **state)
{
	boot_and_beat(4ULL << 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_1g),
		cmocka_unit_test(test_4g),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/guest/sizes", tests, NULL, NULL);
}
