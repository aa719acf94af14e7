/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The switchover mechanics the agent builds on, with real QEMUs (TCG) and
 * the self-checking guest, the RAM copy done by the test in place of the
 * transport:
 *  - device state only: source stopped, RAM copied between the two shared
 *    backends, QEMU's device-state migration with x-ignore-shared, every
 *    page hash compared, destination resumed: the guest continues from the
 *    source's last heartbeat with no CORRUPT;
 *  - a page corrupted in the destination's RAM after the copy is found by
 *    the hash compare, resent, and the guest still continues intact;
 *  - rollback: after the device state went over, the destination is killed
 *    and the source resumed from postmigrate: the guest goes on there;
 *  - native pre-copy between shared backends: the hash compare either
 *    finds both RAMs identical, or finds mismatches, and then the source
 *    resumes intact instead (QEMU 7.2 under TCG loses guest writes, see
 *    the design card): never a destination that runs corrupted.
 */
#include "tests/qmig_test.h"
#include "agent/qemu_mig.h"
#include "dirtylog/dirtylog.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#define APPEND "ws=64M rate=3000 pattern=rand"
#define RAM_BYTES (256ULL << 20)
#define WAIT_MS 30000

typedef struct side {
	ql_vm vm;
	qmp_conn *q;
	gl_follow f;
	bool following;
	dl_ram ram;
} side;

typedef struct fx {
	side s, d;
	char uri[300];
	dl_hasher h;
} fx;

static void qmp_open(side *x)
{
	qm_error err = QM_ERROR_INIT;

	x->q = qmp_conn_new(&err);
	if (!x->q || !qmp_connect(x->q, x->vm.qmp_path, 5000, &err) ||
	    !qmp_wait_ready(x->q, 5000, &err))
		fail_msg("%s", err.msg);
}

static void follow(side *x, unsigned flags)
{
	qm_error err = QM_ERROR_INIT;

	if (!gl_follow_open(&x->f, x->vm.serial_path, flags, &err))
		fail_msg("%s", err.msg);
	x->following = true;
}

static void map_ram(side *x, unsigned flags)
{
	qm_error err = QM_ERROR_INIT;

	if (!dl_ram_add_file(&x->ram, "ram0", x->vm.mem_path, RAM_BYTES, flags,
			     &err))
		fail_msg("%s", err.msg);
}

static int fx_setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	dl_ram_init(&f->s.ram);
	dl_ram_init(&f->d.ram);
	dl_hasher_init(&f->h, "switchover", 10, NULL);
	*state = f;
	return 0;
}

static void side_close(side *x)
{
	dl_ram_close(&x->ram);
	qmp_conn_free(x->q);
	if (x->following)
		gl_follow_close(&x->f);
	ql_vm_stop(&x->vm);
}

static int fx_teardown(void **state)
{
	fx *f = *state;

	side_close(&f->s);
	side_close(&f->d);
	free(f);
	return 0;
}

/* Source running the guest, destination paused and waiting for incoming
 * migration, same machine and guest command line. */
static void start_pair(fx *f)
{
	ql_vm_opts so = { .name = "swo-src", .ram_bytes = RAM_BYTES,
			  .append = APPEND, .accel = QL_ACCEL_TCG };
	ql_vm_opts dopt = so;
	qm_error err = QM_ERROR_INIT;
	uint64_t beats = 300;

	dopt.name = "swo-dst";
	dopt.paused = true;
	dopt.incoming = "defer";
	if (!ql_vm_start(&f->s.vm, &so, &err) ||
	    !ql_vm_start(&f->d.vm, &dopt, &err))
		fail_msg("%s", err.msg);
	follow(&f->s, 0);
	/* Stamped from the start, so its first heartbeat's time is real. */
	follow(&f->d, GL_LOG_CONTINUES);
	if (!gl_follow_wait(&f->s.f, gl_pred_hb_count, &beats, "heartbeats",
			    WAIT_MS, &err))
		fail_msg("%s", err.msg);
	qmp_open(&f->s);
	qmp_open(&f->d);
	snprintf(f->uri, sizeof(f->uri), "unix:%s/mig.sock", f->d.vm.dir);
	map_ram(&f->s, 0);
	map_ram(&f->d, DL_MAP_WRITE);
}

/* What the transport will do: copy the allocated pages across. */
static void copy_ram(fx *f)
{
	const dl_region *s = &f->s.ram.regions[0];
	uint64_t p = 0, a, b;

	while (dl_region_next_data(s, p, &a, &b) > 0) {
		memcpy(f->d.ram.regions[0].base + (a << DL_PAGE_SHIFT),
		       s->base + (a << DL_PAGE_SHIFT),
		       (b - a) << DL_PAGE_SHIFT);
		p = b;
	}
}

/* Compare every page's hash; resend (copy again) what differs when
 * @resend. Returns the number of mismatches found. */
static uint64_t verify(fx *f, bool resend)
{
	uint64_t n = f->s.ram.npages, bad = 0;
	dl_hash *hs = calloc(n, sizeof(*hs)), *hd = calloc(n, sizeof(*hd));
	qm_error err = QM_ERROR_INIT;

	assert_true(dl_ram_hash_pages(&f->s.ram, &f->h, 0, n, hs, &err));
	assert_true(dl_ram_hash_pages(&f->d.ram, &f->h, 0, n, hd, &err));
	for (uint64_t p = 0; p < n; p++) {
		if (dl_hash_eq(hs[p], hd[p]))
			continue;
		bad++;
		if (resend)
			memcpy(dl_ram_page(&f->d.ram, p),
			       dl_ram_page(&f->s.ram, p), DL_PAGE_SIZE);
	}
	free(hs);
	free(hd);
	return bad;
}

static void device_state(fx *f)
{
	qm_native_opts o = { .ignore_shared = true };
	qm_error err = QM_ERROR_INIT;
	qmp_migrate_info mi;

	if (!qm_native_incoming(f->d.q, &o, f->uri, &err) ||
	    !qm_native_outgoing(f->s.q, &o, f->uri, &err) ||
	    !qm_native_wait(f->s.q, QM_MIG_DONE_MASK, 5, WAIT_MS, &mi, &err) ||
	    !qm_native_wait(f->d.q, QM_MIG_DONE_MASK, 5, WAIT_MS, &mi, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(mi.status, QMP_MIG_STATUS_COMPLETED);
}

/* The guest must go on wherever it was resumed: heartbeats continue from
 * the last one it printed, and nothing is reported corrupt. */
static void expect_continues(side *old, side *now, bool same_log)
{
	qm_error err = QM_ERROR_INIT;
	gl_continuity c;
	uint64_t beats;

	gl_follow_process(&old->f, NULL);
	beats = now->f.log.hb_count + 300;
	if (!gl_follow_wait(&now->f, gl_pred_hb_count, &beats, "heartbeats",
			    WAIT_MS, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(now->f.log.corrupt_total, 0);
	if (same_log) {
		assert_int_equal(now->f.log.hb_seq_breaks, 0);
		return;
	}
	gl_continuity_check(&old->f.log, &now->f.log, &c);
	printf("# continuity %s: source last HB %llu, destination first %llu, "
	       "guest-visible downtime %.1f ms\n", gl_verdict_name(c.verdict),
	       (unsigned long long)c.src_last.seq,
	       (unsigned long long)c.dst_first.seq,
	       c.downtime_ns / 1e6);
	assert_int_equal(c.verdict, GL_VERDICT_OK);
}

/* Stop the source and stamp its last lines as soon as they can exist. */
static void stop_source(fx *f)
{
	qm_error err = QM_ERROR_INIT;

	if (!qmp_stop(f->s.q, &err))
		fail_msg("%s", err.msg);
	gl_follow_process(&f->s.f, NULL);
}

static void switch_to_dest(fx *f)
{
	qm_error err = QM_ERROR_INIT;
	uint64_t one = 1;

	if (!qmp_cont(f->d.q, &err) ||
	    !gl_follow_wait(&f->d.f, gl_pred_hb_count, &one, "first heartbeat",
			    WAIT_MS, &err))
		fail_msg("%s", err.msg);
	expect_continues(&f->s, &f->d, false);
	assert_true(qmp_quit(f->s.q, &err));
}

/* Device state only, RAM copied while stopped, verified, switched. */
static void test_device_state_switchover(void **state)
{
	fx *f = *state;
	int64_t t0;

	start_pair(f);
	t0 = qm_now_ns();
	stop_source(f);
	copy_ram(f);
	device_state(f);
	assert_int_equal(verify(f, false), 0);
	printf("# stop to verified: %.1f ms\n", (qm_now_ns() - t0) / 1e6);
	switch_to_dest(f);
}

/* A page corrupted on the destination after the copy is found and
 * resent; the guest never sees it. */
static void test_verify_finds_and_resends(void **state)
{
	fx *f = *state;
	uint64_t page;

	start_pair(f);
	stop_source(f);
	copy_ram(f);
	device_state(f);
	page = f->s.f.log.boot.base / DL_PAGE_SIZE + 7;
	dl_ram_page(&f->d.ram, page)[100] ^= 0x5a;
	assert_int_equal(verify(f, true), 1);
	assert_int_equal(verify(f, false), 0);
	switch_to_dest(f);
}

/* After the device state went over, the destination dies: the source
 * resumes from postmigrate and the guest goes on there. */
static void test_rollback_from_postmigrate(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	qmp_status st;

	start_pair(f);
	if (!qmp_stop(f->s.q, &err))
		fail_msg("%s", err.msg);
	copy_ram(f);
	device_state(f);
	assert_true(qmp_query_status(f->s.q, &st, &err));
	assert_string_equal(st.status, "postmigrate");
	kill(f->d.vm.pid, SIGKILL);
	if (!qmp_cont(f->s.q, &err))
		fail_msg("%s", err.msg);
	expect_continues(&f->s, &f->s, true);
}

/* Native pre-copy between shared backends: identical, or caught. */
static void test_native_verified_or_rolled_back(void **state)
{
	fx *f = *state;
	qm_native_opts o = { .max_bandwidth_bps = 1LL << 30,
			     .downtime_limit_ms = 300 };
	qm_error err = QM_ERROR_INIT;
	qmp_migrate_info mi;
	uint64_t bad;

	start_pair(f);
	if (!qm_native_incoming(f->d.q, &o, f->uri, &err) ||
	    !qm_native_outgoing(f->s.q, &o, f->uri, &err) ||
	    !qm_native_wait(f->s.q, QM_MIG_DONE_MASK, 20, WAIT_MS, &mi, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(mi.status, QMP_MIG_STATUS_COMPLETED);
	if (!qm_native_wait(f->d.q, QM_MIG_DONE_MASK, 5, WAIT_MS, &mi, &err))
		fail_msg("%s", err.msg);
	bad = verify(f, false);
	printf("# native pre-copy: %llu page(s) differ after completion\n",
	       (unsigned long long)bad);
	if (bad == 0) {
		switch_to_dest(f);
		return;
	}
	/* Caught: the destination never runs; the source resumes intact. */
	kill(f->d.vm.pid, SIGKILL);
	if (!qmp_cont(f->s.q, &err))
		fail_msg("%s", err.msg);
	expect_continues(&f->s, &f->s, true);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_device_state_switchover),
		T(test_verify_finds_and_resends),
		T(test_rollback_from_postmigrate),
		T(test_native_verified_or_rolled_back),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/agent/switchover", tests, NULL,
					   NULL);
}
