/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hash-scan tracker against the real workload guest under TCG:
 *  - over one round (taken with the vCPU paused, so nothing moves while the
 *    tracker and the host read RAM), the working-set pages it reports are
 *    exactly the pages whose generation the guest bumped in its own table;
 *    with the sequential pattern they form one run;
 *  - the dirty rate it measures is within 15% of the rate the guest was
 *    told to write at, and of QEMU's own calc-dirty-rate over the same two
 *    seconds (page-sampling with the most samples QEMU allows: its
 *    dirty-bitmap mode kills QEMU 7.2 under TCG).
 */
#include "tests/qmig_test.h"
#include "dirtylog/dirtylog.h"
#include "qmp/qmp.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define RATE 5000          /* pages/s the guest writes */
#define WS_PAGES 16384     /* 64 MiB working set */

typedef struct fx {
	ql_vm vm;
	qmp_conn *q;
	gl_follow f;
	bool following;
	dl_ram ram;
	dl_backend_info info[DL_MAX_REGIONS];
	dl_hasher h;
	uint32_t *t0, *t1;
	uint32_t inflight[2];    /* page index + 1 being written, per snapshot */
} fx;

static void start_guest(fx *f, const char *pattern)
{
	char append[128];
	ql_vm_opts o = { .name = "drate", .ram_bytes = 256 << 20,
			 .append = append, .accel = QL_ACCEL_TCG };
	qm_error err = QM_ERROR_INIT;

	snprintf(append, sizeof(append), "ws=64M rate=%d pattern=%s", RATE,
		 pattern);
	if (!ql_vm_start(&f->vm, &o, &err) ||
	    !gl_follow_open(&f->f, f->vm.serial_path, 0, &err))
		fail_msg("%s", err.msg);
	f->following = true;
	if (!gl_follow_wait_hb(&f->f, 100, 30000, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(f->f.log.boot.pages, WS_PAGES);
	f->q = qmp_conn_new(&err);
	if (!f->q || !qmp_connect(f->q, f->vm.qmp_path, 5000, &err) ||
	    !qmp_wait_ready(f->q, 5000, &err) ||
	    !dl_discover(f->q, 0, &f->ram, f->info, &err))
		fail_msg("%s", err.msg);
	assert_true(dl_hasher_init(&f->h, "drate", 5, &err));
}

static int fx_setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	dl_ram_init(&f->ram);
	f->t0 = calloc(WS_PAGES, sizeof(uint32_t));
	f->t1 = calloc(WS_PAGES, sizeof(uint32_t));
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	fx *f = *state;

	dl_ram_close(&f->ram);
	qmp_conn_free(f->q);
	if (f->following)
		gl_follow_close(&f->f);
	ql_vm_stop(&f->vm);
	free(f->t0);
	free(f->t1);
	free(f);
	return 0;
}

/* Copy the guest's generation table out of its RAM, and the index of the
 * page it was writing when stopped (bumped in the table, not yet fully
 * written: that one page is excluded from the comparison). */
static void snapshot_table(fx *f, uint32_t *out, uint32_t *inflight)
{
	const uint8_t *base = f->ram.regions[0].base;

	memcpy(out, base + f->f.log.boot.table, WS_PAGES * sizeof(uint32_t));
	memcpy(inflight, base + f->f.log.boot.inflight, sizeof(*inflight));
}

/* A round and a table snapshot with the vCPU stopped (QMP stop freezes the
 * guest clock too, so its pacing does not try to catch up). */
static void paused_round(fx *f, dl_tracker *t, uint32_t *table,
			 uint32_t *inflight, dl_round_stats *st)
{
	qm_error err = QM_ERROR_INIT;

	if (!qmp_stop(f->q, &err))
		fail_msg("%s", err.msg);
	assert_true(dl_tracker_round(t, DL_ROUND_ADOPT, st, &err));
	snapshot_table(f, table, inflight);
	if (!qmp_cont(f->q, &err))
		fail_msg("%s", err.msg);
}

static bool ws_dirty(fx *f, const dl_tracker *t, uint64_t i)
{
	return dl_tracker_is_dirty(t, f->f.log.boot.base / DL_PAGE_SIZE + i);
}

/* Count pages where the tracker and the guest's table disagree, and the
 * number of runs of tracked working-set pages (wrap-around joined). */
static void compare_round(fx *f, const dl_tracker *t, uint64_t *diff,
			  uint64_t *bumped, unsigned *runs)
{
	bool prev = ws_dirty(f, t, WS_PAGES - 1);

	*diff = *bumped = *runs = 0;
	for (uint64_t i = 0; i < WS_PAGES; i++) {
		bool d = ws_dirty(f, t, i), b = f->t0[i] != f->t1[i];
		bool torn = i + 1 == f->inflight[0] || i + 1 == f->inflight[1];

		*bumped += b;
		*diff += d != b && !torn;
		*runs += d && !prev;
		prev = d;
	}
}

static void one_round(fx *f, const char *pattern, bool one_run)
{
	dl_tracker_opts o = { .kind = DL_TRACKER_HASH_SCAN, .threads = 1,
			      .assume_dest_zero = true };
	qm_error err = QM_ERROR_INIT;
	uint64_t diff, bumped;
	dl_round_stats st;
	dl_tracker *t;
	unsigned runs;

	start_guest(f, pattern);
	t = dl_tracker_new(&f->ram, &f->h, &o, &err);
	assert_non_null(t);
	paused_round(f, t, f->t0, &f->inflight[0], &st);
	usleep(1000 * 1000);
	paused_round(f, t, f->t1, &f->inflight[1], &st);
	compare_round(f, t, &diff, &bumped, &runs);
	printf("# %s: guest bumped %llu pages, tracker disagrees on %llu, "
	       "%u run(s), %.0f pages/s\n", pattern,
	       (unsigned long long)bumped, (unsigned long long)diff, runs,
	       st.dirty_pages_per_s);
	assert_true(bumped > RATE / 2);
	assert_int_equal(diff, 0);
	if (one_run)
		assert_true(runs == 1);
	dl_tracker_free(t);
}

/* Sequential writer: the tracked set is the guest's set, in one run. */
static void test_round_matches_guest_seq(void **state)
{
	one_round(*state, "seq", true);
}

/* Uniform random writer: the tracked set is still exactly the guest's. */
static void test_round_matches_guest_rand(void **state)
{
	one_round(*state, "rand", false);
}

typedef struct measure_job {
	const dl_ram *ram;
	dl_round_stats st;
	bool ok;
	qm_error err;
} measure_job;

static void *measure_thread(void *arg)
{
	measure_job *j = arg;
	dl_tracker_opts o = { .kind = DL_TRACKER_HASH_SCAN, .threads = 1 };

	j->ok = dl_measure_dirty_rate(j->ram, &o, 2000, &j->st, &j->err);
	return NULL;
}

/* QEMU's own measurement; false with *err on failure (no fail_msg here:
 * the caller must join its measuring thread first). */
static bool qemu_dirty_rate(fx *f, qmp_dirty_rate_info *info, qm_error *err)
{
	json_object *args = json_object_new_object();

	json_object_object_add(args, "calc-time", json_object_new_int(2));
	json_object_object_add(args, "sample-pages",
			       json_object_new_int(16384));
	if (!qmp_call_ok(f->q, "calc-dirty-rate", args, 5000, err))
		return false;
	for (int i = 0; i < 100; i++) {
		if (!qmp_query_dirty_rate(f->q, info, err))
			return false;
		if (info->has_dirty_rate)
			return true;
		usleep(100 * 1000);
	}
	return qm_error_set(err, QM_ERR_TIMEOUT, "calc-dirty-rate did not "
			    "finish: %s", info->status_str);
}

/* The measured rate matches the configured rate and QEMU's measurement of
 * the same two seconds, within 15%. */
static void test_rate_vs_config_and_qemu(void **state)
{
	fx *f = *state;
	measure_job j = { .err = QM_ERROR_INIT };
	qmp_dirty_rate_info qi;
	pthread_t tid;
	double ours, qemu;

	start_guest(f, "seq");
	j.ram = &f->ram;
	qm_error err = QM_ERROR_INIT;
	bool qemu_ok;

	assert_int_equal(pthread_create(&tid, NULL, measure_thread, &j), 0);
	qemu_ok = qemu_dirty_rate(f, &qi, &err);
	/* Joined before any failure: the thread reads the guest's RAM, which
	 * teardown unmaps. */
	pthread_join(tid, NULL);
	if (!qemu_ok)
		fail_msg("%s", err.msg);
	if (!j.ok)
		fail_msg("%s", j.err.msg);
	ours = j.st.dirty_pages_per_s;
	/* QEMU reports MiB/s, rounded down to an integer. */
	qemu = (qi.dirty_rate_mbps + 0.5) * (1 << 20) / DL_PAGE_SIZE;
	printf("# configured %d pages/s, measured %.0f, QEMU %.0f (%lld MB/s)\n",
	       RATE, ours, qemu, (long long)qi.dirty_rate_mbps);
	assert_true(fabs(ours - RATE) <= 0.15 * RATE);
	assert_true(fabs(ours - qemu) <= 0.15 * qemu);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_matches_guest_seq),
		T(test_round_matches_guest_rand),
		T(test_rate_vs_config_and_qemu),
	};
	const char *kernel = ql_guest_kernel();

	if (!ql_qemu_binary())
		QT_SKIP("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		QT_SKIP("guest kernel not built (QMIG_GUEST=%s)", kernel);
	return cmocka_run_group_tests_name("/dirtylog/guest", tests, NULL, NULL);
}
