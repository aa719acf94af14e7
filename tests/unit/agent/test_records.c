/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a restarted agent relies on, without QEMU:
 *  - process identity: this process is "running", a pid with another
 *    start time or boot is "replaced", an exited child is "gone"; a kill
 *    goes to the recorded process only;
 *  - records: a migration record and a VM record round-trip through the
 *    state dir (status, phase written ahead, recovery facts), also
 *    through the state writer, whose barrier orders them;
 *  - the queue's counting, and --max-queued / --max-migrations parsing;
 *  - the whole directory of a destination VM can be removed, nothing
 *    outside it.
 */
#include "tests/qmig_test.h"
#include "agent/agent.h"
#include "agent/mig-int.h"
#include "agent/procid.h"
#include "agent/records.h"
#include "agent/recover.h"
#include "agent/state-writer.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct tfx {
	char dir[64];
	agent a;
} tfx;

static int setup(void **state)
{
	tfx *f = calloc(1, sizeof(*f));
	qm_error err = QM_ERROR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/qmig-records-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->a.cfg.state_dir, sizeof(f->a.cfg.state_dir), "%s", f->dir);
	f->a.cfg.max_migrations = 2;
	f->a.sw = state_writer_new(f->dir, &err);
	*state = f;
	return f->a.sw ? 0 : -1;
}

static int teardown(void **state)
{
	tfx *f = *state;
	char cmd[128];

	state_writer_free(f->a.sw);
	for (int i = 0; i < f->a.nmigs; i++) {
		pthread_mutex_destroy(&f->a.migs[i]->lock);
		free(f->a.migs[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static migration *new_mig(tfx *f, qm_side side, qm_phase phase, int n)
{
	migration *m = calloc(1, sizeof(*m));

	snprintf(m->id, sizeof(m->id), "%032x", n);
	m->a = &f->a;
	m->side = side;
	snprintf(m->p.vm, sizeof(m->p.vm), "vm%d", n);
	snprintf(m->p.dest, sizeof(m->p.dest), "127.0.0.1:%d", 7000 + n);
	pthread_mutex_init(&m->lock, NULL);
	m->st.phase = phase;
	m->st.downtime_ms = -1;
	m->st.deadline_slack_ms = -1;
	m->st.started_ms = qm_now_ms() - 1500;
	f->a.migs[f->a.nmigs++] = m;
	return m;
}

/* ---- process identity ---- */

static void test_proc_identity(void **state)
{
	qm_proc_id me, other;
	pid_t child;
	int status;

	assert_true(qm_proc_id_of(getpid(), &me, NULL));
	assert_int_equal(qm_proc_check(&me), QM_PROC_SAME);
	assert_int_equal(strlen(me.boot), QM_BOOT_ID_LEN);
	other = me;
	other.start++;
	assert_int_equal(qm_proc_check(&other), QM_PROC_OTHER);
	other = me;
	other.boot[0] = other.boot[0] == 'a' ? 'b' : 'a';
	assert_int_equal(qm_proc_check(&other), QM_PROC_OTHER);
	/* A pid taken by someone else is never killed. */
	other = me;
	other.start--;
	assert_false(qm_proc_kill(&other, 100, NULL));
	assert_int_equal(qm_proc_check(&me), QM_PROC_SAME);

	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_true(qm_proc_id_of(child, &other, NULL));
	assert_int_equal(qm_proc_check(&other), QM_PROC_SAME);
	assert_true(qm_proc_kill(&other, 5000, NULL));
	/* Exited, not reaped yet: a zombie counts as gone. */
	assert_int_equal(qm_proc_check(&other), QM_PROC_GONE);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(qm_proc_check(&other), QM_PROC_GONE);
	assert_true(qm_proc_kill(&other, 100, NULL));
	/* Through JSON and back. */
	{
		json_object *o = qm_proc_id_to_json(&me);
		qm_proc_id back;

		qm_proc_id_from_json(o, &back);
		assert_memory_equal(&me, &back, sizeof(me));
		json_object_put(o);
		qm_proc_id_from_json(NULL, &back);
		assert_int_equal(back.pid, 0);
	}
}

/* ---- records ---- */

static void test_migration_record(void **state)
{
	tfx *f = *state;
	migration *m = new_mig(f, QM_SIDE_DEST, QM_PHASE_VERIFY, 7), *back;
	mig_record r = { .ran = true }, rb;
	qm_error err = QM_ERROR_INIT;
	json_object *o;
	qm_phase ph;

	m->st.round = 12;
	m->st.bytes_on_wire = 123456789;
	snprintf(m->st.error, sizeof(m->st.error), "some error");
	snprintf(r.vm_dir, sizeof(r.vm_dir), "%s/vms/vm7", f->dir);
	snprintf(r.qmp, sizeof(r.qmp), "%s/vms/vm7/qmp.sock", f->dir);
	assert_true(qm_proc_id_of(getpid(), &r.qemu, NULL));
	/* Written ahead: the file says switchover while memory says verify. */
	migrec_save(m, QM_PHASE_SWITCHOVER, &r, MIGREC_NOSYNC);
	o = migrec_load(&f->a, m->id, &err);
	assert_non_null(o);
	migrec_parse(o, &rb, &ph);
	assert_int_equal(ph, QM_PHASE_SWITCHOVER);
	assert_true(rb.ran);
	assert_string_equal(rb.vm_dir, r.vm_dir);
	assert_string_equal(rb.qmp, r.qmp);
	assert_memory_equal(&rb.qemu, &r.qemu, sizeof(r.qemu));
	assert_true(rb.started_unix_ms > 0);
	back = migrec_restore(&f->a, o, &err);
	json_object_put(o);
	assert_non_null(back);
	assert_string_equal(back->id, m->id);
	assert_int_equal(back->side, QM_SIDE_DEST);
	assert_int_equal(back->st.phase, QM_PHASE_SWITCHOVER);
	assert_int_equal(back->st.round, 12);
	assert_int_equal(back->st.bytes_on_wire, 123456789);
	assert_string_equal(back->st.error, "some error");
	assert_string_equal(back->p.vm, "vm7");
	assert_true(back->finished);
	/* Elapsed time carries over (1.5 s), within scheduling noise. */
	assert_in_range(qm_now_ms() - back->st.started_ms, 1400, 3000);
	/* Unknown ids and garbage are refused. */
	assert_null(migrec_load(&f->a, "../../etc/passwd", &err));
	assert_int_equal(err.code, QM_ERR_NOTFOUND);
	o = json_object_new_object();
	assert_null(migrec_restore(&f->a, o, &err));
	json_object_put(o);
}

/* Through the writer: queued writes land in order, and the barrier
 * returns only once they are on disk. */
static void test_writer_order(void **state)
{
	tfx *f = *state;
	migration *m = new_mig(f, QM_SIDE_SOURCE, QM_PHASE_QUEUED, 9);
	qm_error err = QM_ERROR_INIT;
	json_object *o;
	mig_record r;
	qm_phase ph;

	for (int i = 0; i < 50; i++)
		migrec_save(m, QM_PHASE_QUEUED, NULL, MIGREC_ASYNC);
	migrec_save(m, QM_PHASE_SETUP, NULL, MIGREC_ASYNC);
	state_writer_barrier(f->a.sw);
	o = migrec_load(&f->a, m->id, &err);
	assert_non_null(o);
	migrec_parse(o, &r, &ph);
	assert_int_equal(ph, QM_PHASE_SETUP);
	assert_string_equal(r.dest, "127.0.0.1:7009");
	json_object_put(o);
	/* A worker's own write after the barrier is never overwritten by
	 * the loop's earlier ones. */
	migrec_save(m, QM_PHASE_SETUP, NULL, MIGREC_ASYNC);
	m->st.phase = QM_PHASE_PRECOPY;
	migrec_worker_start(m);
	migrec_save(m, QM_PHASE_STOP_COPY, NULL, 0);
	state_writer_barrier(f->a.sw);
	o = migrec_load(&f->a, m->id, &err);
	migrec_parse(o, &r, &ph);
	assert_int_equal(ph, QM_PHASE_STOP_COPY);
	json_object_put(o);
}

static void test_vm_record(void **state)
{
	tfx *f = *state;
	qm_error err = QM_ERROR_INIT;
	agent_vm vm = { .name = "web1", .qmp_addr = "/run/x/qmp.sock" };
	vm_record r;
	char path[128];
	struct stat st;

	assert_true(qm_proc_id_of(getpid(), &vm.proc, NULL));
	vm_record_save(&f->a, &vm);
	state_writer_barrier(f->a.sw);
	assert_true(vm_record_load(&f->a, "web1", &r, &err));
	assert_string_equal(r.qmp, "/run/x/qmp.sock");
	assert_memory_equal(&r.qemu, &vm.proc, sizeof(vm.proc));
	vm_record_remove(&f->a, "web1");
	state_writer_barrier(f->a.sw);
	assert_false(vm_record_load(&f->a, "web1", &r, &err));
	assert_int_equal(err.code, QM_ERR_NOTFOUND);
	/* Its directory went with it: nothing else was in it. */
	snprintf(path, sizeof(path), "%s/vms/web1", f->dir);
	assert_int_not_equal(stat(path, &st), 0);
}

/* A destination VM's directory goes whole; a sibling stays. */
static void test_remove_tree(void **state)
{
	tfx *f = *state;
	qm_error err = QM_ERROR_INIT;
	char path[256];
	struct stat st;
	json_object *o = json_object_new_object();

	assert_true(qm_state_write_json(f->dir, "vms/a/sub/x.json", o, &err));
	assert_true(qm_state_write_json(f->dir, "vms/b/vm.json", o, &err));
	snprintf(path, sizeof(path), "%s/vms/a/link", f->dir);
	assert_int_equal(symlink(f->dir, path), 0);
	assert_true(qm_state_remove_tree(f->dir, "vms/a", &err));
	snprintf(path, sizeof(path), "%s/vms/a", f->dir);
	assert_int_not_equal(lstat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/vms/b/vm.json", f->dir);
	assert_int_equal(stat(path, &st), 0);
	/* The link was removed, not followed: the state dir is intact. */
	assert_int_equal(stat(f->dir, &st), 0);
	assert_true(qm_state_remove_tree(f->dir, "vms/a", &err));
	assert_false(qm_state_remove_tree(f->dir, "../x", &err));
	assert_false(qm_state_remove_tree(f->dir, "vms/b/vm.json", &err));
	json_object_put(o);
}

/* ---- queue counting ---- */

static void test_queue_counts(void **state)
{
	tfx *f = *state;
	migration *q1, *q2;

	new_mig(f, QM_SIDE_SOURCE, QM_PHASE_PRECOPY, 1);
	new_mig(f, QM_SIDE_SOURCE, QM_PHASE_COMPLETED, 2);
	new_mig(f, QM_SIDE_SOURCE, QM_PHASE_IN_DOUBT, 3);
	q1 = new_mig(f, QM_SIDE_SOURCE, QM_PHASE_QUEUED, 4);
	new_mig(f, QM_SIDE_DEST, QM_PHASE_VERIFY, 5);
	q2 = new_mig(f, QM_SIDE_SOURCE, QM_PHASE_QUEUED, 6);
	new_mig(f, QM_SIDE_DEST, QM_PHASE_FAILED, 7);
	assert_int_equal(mig_count_running(&f->a, QM_SIDE_SOURCE), 1);
	assert_int_equal(mig_count_running(&f->a, QM_SIDE_DEST), 1);
	assert_int_equal(mig_count_queued(&f->a), 2);
	assert_int_equal(mig_queue_position(&f->a, q1), 1);
	assert_int_equal(mig_queue_position(&f->a, q2), 2);
	assert_int_equal(mig_queue_position(&f->a, f->a.migs[0]), 0);
}

static bool parse(agent_config *c, const char *k, const char *v,
		  qm_error *err)
{
	char *argv[] = { "qmigd", "--state-dir", "/tmp/x", "--rpc",
			 "unix:/tmp/x.sock", (char *)k, (char *)v, NULL };

	return agent_config_parse(c, 7, argv, err);
}

static void test_config_limits(void **state)
{
	qm_error err = QM_ERROR_INIT;
	agent_config c;

	assert_true(parse(&c, "--max-migrations", "3", &err));
	assert_int_equal(c.max_migrations, 3);
	assert_int_equal(c.max_queued, 64);
	assert_true(parse(&c, "--max-queued", "0", &err));
	assert_int_equal(c.max_queued, 0);
	assert_int_equal(c.max_migrations, 4);
	assert_false(parse(&c, "--max-queued", "129", &err));
	assert_non_null(strstr(err.msg, "0 to 128"));
	assert_false(parse(&c, "--max-migrations", "0", &err));
	assert_false(parse(&c, "--max-queued", "", &err));
	assert_false(parse(&c, "--max-queued", "5x", &err));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_identity),
		T(test_migration_record),
		T(test_writer_order),
		T(test_vm_record),
		T(test_remove_tree),
		T(test_queue_counts),
		cmocka_unit_test(test_config_limits),
	};

	return cmocka_run_group_tests_name("/agent/records", tests, NULL, NULL);
}
