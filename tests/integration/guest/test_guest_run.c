/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workload guest booted under QEMU (TCG) and watched through
 * guestlog: it boots and beats without a break, a byte flipped by the host
 * is reported as CORRUPT with its page, and its memory checks clean from
 * the host once it is stopped. One VM for the whole group, 256 MiB, one
 * core, started by the shared launcher. Skips (exit 77) without QEMU or
 * without the built guest.
 */
#include "tests/qmig_test.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT_TIMEOUT_MS	30000
#define WAIT_MS		20000
#define FLIP_PAGE	3
#define FLIP_OFF	100

struct vm {
	ql_vm q;
	gl_follow f;
};

static int vm_start(void **state)
{
	static struct vm vm;
	static const ql_vm_opts o = {
		.name = "guest-run", .ram_bytes = 256 << 20,
		.append = "ws=16M rate=200 zero=10 dup=10",
		.accel = QL_ACCEL_TCG,
	};
	const char *kernel = ql_guest_kernel();
	qm_error err = QM_ERROR_INIT;

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	if (!ql_vm_start(&vm.q, &o, &err) ||
	    !gl_follow_open(&vm.f, vm.q.serial_path, 0, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		ql_vm_stop(&vm.q);
		return -1;
	}
	*state = &vm;
	return 0;
}

static int vm_stop(void **state)
{
	struct vm *vm = *state;

	if (!vm)
		return 0;
	gl_follow_close(&vm->f);
	ql_vm_stop(&vm->q);
	return 0;
}

/* The guest prints its boot line and READY, then heartbeats numbered from
 * 1 without a break, and nothing malformed. */
static void test_guest_boots(void **state)
{
	struct vm *vm = *state;
	qm_error err = QM_ERROR_INIT;
	const gl_log *l = &vm->f.log;

	if (!gl_follow_wait_ready(&vm->f, BOOT_TIMEOUT_MS, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(l->boots, 1);
	assert_int_equal(l->boot.version, 1);
	assert_int_equal(l->boot.pages, 4096);
	assert_int_equal(l->boot.ws, 16 << 20);
	assert_true(l->boot.base >= 1 << 20);
	assert_true(l->boot.table >= 1 << 20);
	assert_int_equal(l->boot.base % 4096, 0);
	assert_int_equal(l->boot.zero, 10);
	assert_int_equal(l->boot.dup, 10);
	assert_true(l->boot.tsc_khz > 0);
	assert_true(l->boot.seqaddr && l->boot.inflight);
	if (!gl_follow_wait_hb(&vm->f, 300, WAIT_MS, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(l->hb_first.seq, 1);
	assert_int_equal(l->hb_last.seq, l->hb_count);
	assert_int_equal(l->hb_seq_breaks, 0);
	assert_int_equal(l->malformed, 0);
	assert_int_equal(l->warnings, 0);
	assert_int_equal(l->corrupt_total, 0);
}

static void flip_byte(const char *ram, uint64_t off)
{
	uint8_t b;
	int fd = open(ram, O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* A byte changed behind the guest's back, in a page it has written, is
 * reported as CORRUPT for that page with the generation it expected. */
static void test_guest_flip_detected(void **state)
{
	struct vm *vm = *state;
	qm_error err = QM_ERROR_INIT;
	const gl_log *l = &vm->f.log;

	/* seq pattern at 200 pages/s over 4096 pages: page 3 was written at
	 * about 15 ms and is not rewritten for 20 s, so nothing but the
	 * check can touch it before the check sees the flip. */
	flip_byte(vm->q.mem_path, l->boot.base + FLIP_PAGE * 4096 + FLIP_OFF);
	if (!gl_follow_wait_corrupt(&vm->f, WAIT_MS, &err))
		fail_msg("%s", err.msg);
	/* The CORRUPT-COUNT line may come first; wait for the page line. */
	if (!gl_follow_wait_hb(&vm->f, l->hb_count + 50, WAIT_MS, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(l->corrupt_lines, 1);
	assert_int_equal(l->corrupt[0].page, FLIP_PAGE);
	assert_true(l->corrupt[0].gen >= 1);
}

/* Stopped, the guest's memory checks clean from the host (the flipped
 * page was repaired), and the heartbeat number in RAM is at least the
 * last one printed. */
static void test_guest_ram_clean_at_rest(void **state)
{
	struct vm *vm = *state;
	qm_error err = QM_ERROR_INIT;
	gl_ram_report r;
	bool ok;

	assert_int_equal(kill(vm->q.pid, SIGSTOP), 0);
	gl_follow_process(&vm->f, NULL);
	ok = gl_ram_check_file(vm->q.mem_path, &vm->f.log.boot, &r, &err);
	kill(vm->q.pid, SIGCONT);
	if (!ok)
		fail_msg("%s", err.msg);
	assert_int_equal(r.pages, 4096);
	assert_int_equal(r.bad, 0);
	assert_true(r.hb_seq_valid && r.inflight_valid);
	assert_true(r.hb_seq >= vm->f.log.hb_last.seq);
	assert_true(r.kinds[GP_KIND_ZERO] > 0);
	assert_true(r.kinds[GP_KIND_DUP0] + r.kinds[GP_KIND_DUP0 + 1] +
		    r.kinds[GP_KIND_DUP0 + 2] + r.kinds[GP_KIND_DUP0 + 3] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_boots),
		cmocka_unit_test(test_guest_flip_detected),
		cmocka_unit_test(test_guest_ram_clean_at_rest),
	};

	return cmocka_run_group_tests(tests, vm_start, vm_stop);
}
