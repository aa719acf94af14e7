/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vCPU throttling through the cpu cgroup controller, on the real guest
 * under TCG: capping the vCPU threads at 10% cuts the guest's unthrottled
 * write rate to well under half, lifting the cap restores it, and freeing
 * the throttle puts the threads back and removes the cgroup. Skips with the
 * reason where no cpu controller is writable (the engine then uses
 * stop/cont duty cycling, unit-tested in /agent/engine-logic).
 */
#include "tests/qmig_test.h"
#include "agent/throttle.h"
#include "qmp/qmp.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 30000

typedef struct fx {
	ql_vm vm;
	qmp_conn *q;
	gl_follow f;
	bool following;
	pid_t tids[8];
	int ntids;
} fx;

static int fx_setup(void **state)
{
	static const ql_vm_opts o = { .name = "thr", .ram_bytes = 128 << 20,
				      .append = "ws=16M rate=0 pattern=rand",
				      .accel = QL_ACCEL_TCG };
	qm_error err = QM_ERROR_INIT;
	qmp_cpu_list cpus = { 0 };
	fx *f = calloc(1, sizeof(*f));

	*state = f;
	if (!ql_vm_start(&f->vm, &o, &err) ||
	    !gl_follow_open(&f->f, f->vm.serial_path, 0, &err))
		goto fail;
	f->following = true;
	f->q = qmp_conn_new(&err);
	if (!f->q || !qmp_connect(f->q, f->vm.qmp_path, 5000, &err) ||
	    !qmp_wait_ready(f->q, 5000, &err) ||
	    !qmp_query_cpus_fast(f->q, &cpus, &err))
		goto fail;
	for (size_t i = 0; i < cpus.count && i < 8; i++)
		f->tids[f->ntids++] = (pid_t)cpus.items[i].thread_id;
	qmp_cpu_list_free(&cpus);
	return 0;
fail:
	fprintf(stderr, "%s\n", err.msg);
	return -1;
}

static int fx_teardown(void **state)
{
	fx *f = *state;

	qmp_conn_free(f->q);
	if (f->following)
		gl_follow_close(&f->f);
	ql_vm_stop(&f->vm);
	free(f);
	return 0;
}

static bool stat_after(const gl_log *log, const void *arg)
{
	return log->stat.t >= *(const uint64_t *)arg;
}

/* Writes the guest made over its next two seconds of STAT lines. */
static double writes_per_s(fx *f)
{
	qm_error err = QM_ERROR_INIT;
	uint64_t t0, w0, until;

	until = f->f.log.stat.t + 1;
	if (!gl_follow_wait(&f->f, stat_after, &until, "STAT", WAIT_MS, &err))
		fail_msg("%s", err.msg);
	t0 = f->f.log.stat.t;
	w0 = f->f.log.stat.writes;
	until = t0 + 2;
	if (!gl_follow_wait(&f->f, stat_after, &until, "STAT", WAIT_MS, &err))
		fail_msg("%s", err.msg);
	return (double)(f->f.log.stat.writes - w0) / (f->f.log.stat.t - t0);
}

static void test_throttle_cuts_rate(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	double free_rate, capped, lifted;
	char dir[600];
	qm_throttle *t;

	if (!gl_follow_wait_ready(&f->f, WAIT_MS, &err))
		fail_msg("%s", err.msg);
	t = qm_throttle_new("test-throttle", f->tids, f->ntids, NULL, &err);
	if (!t) {
		printf("SKIP: %s\n", err.msg);
		skip();
	}
	free_rate = writes_per_s(f);
	assert_true(qm_throttle_set(t, 90, &err));
	capped = writes_per_s(f);
	assert_true(qm_throttle_set(t, 0, &err));
	lifted = writes_per_s(f);
	printf("# %s: %.0f writes/s free, %.0f at 90%% throttle, %.0f lifted\n",
	       qm_throttle_method(t), free_rate, capped, lifted);
	assert_true(capped < 0.5 * free_rate);
	assert_true(lifted > 0.7 * free_rate);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu/qmig-test-throttle");
	qm_throttle_free(t);
	assert_int_not_equal(access(dir, F_OK), 0);
}

/* The fallback, SIGSTOP duty cycling of the whole QEMU at 80%, cuts the
 * guest's write rate to well under half too, and resumes it at free. */
static void test_duty_cycle_cuts_rate(void **state)
{
	fx *f = *state;
	qm_error err = QM_ERROR_INIT;
	double free_rate, capped, lifted;
	qm_duty *d;

	if (!gl_follow_wait_ready(&f->f, WAIT_MS, &err))
		fail_msg("%s", err.msg);
	d = qm_duty_new(f->vm.pid, &err);
	assert_non_null(d);
	free_rate = writes_per_s(f);
	qm_duty_set(d, 80);
	capped = writes_per_s(f);
	qm_duty_set(d, 0);
	lifted = writes_per_s(f);
	printf("# duty cycle: %.0f writes/s free, %.0f at 80%%, %.0f lifted\n",
	       free_rate, capped, lifted);
	qm_duty_free(d);
	assert_true(capped < 0.5 * free_rate);
	assert_true(lifted > 0.7 * free_rate);
	assert_true(ql_vm_alive(&f->vm));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_throttle_cuts_rate,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_duty_cycle_cuts_rate,
						fx_setup, fx_teardown),
	};
	const char *kernel = ql_guest_kernel();
	qm_error err = QM_ERROR_INIT;
	pid_t self = getpid();
	qm_throttle *probe;

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	/* Without a writable cpu cgroup the cgroup test reports SKIP in
	 * its own line; the duty-cycle test covers the fallback anyway. */
	probe = qm_throttle_new("probe", &self, 1, NULL, &err);
	if (!probe)
		printf("# no cgroup throttle here: %s\n", err.msg);
	qm_throttle_free(probe);
	return cmocka_run_group_tests_name("/agent/throttle", tests, NULL, NULL);
}
