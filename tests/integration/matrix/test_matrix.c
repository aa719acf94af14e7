/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fault-injection matrix: for each point of a migration and each
 * fault, one cell. Two agents in the rig's two network namespaces (the
 * source's QEMU with its agent), the self-checking guest, a migration
 * that an agent holds at the point (QMIG_FAULT_HOLD=point@file: the agent
 * creates the file and waits until it is gone), the fault injected
 * while it waits, the hold released, and then:
 *
 *   - the migration ends and an agent says how (a final phase; an error
 *     unless it completed);
 *   - exactly one QEMU runs the VM (the other is gone), and the guest
 *     there reports no CORRUPT and its heartbeat continues;
 *   - a new migration of the same VM, from wherever it runs, succeeds.
 *
 * Points (where the agent holds):
 *   setup       source, transport connected, before round 0
 *   precopy-0   source, round 0 under way (after its first flush)
 *   precopy-n   source, at the start of a later round (2)
 *   stop-copy   source, VM stopped, before the final pass
 *   devstate    source, before the device state transfer
 *   verify      source, before verification
 *   pre-cont    destination, COMMIT received, before `cont`
 *   post-cont   destination, VM running, before the ACK
 * Faults:
 *   src-kill    source agent SIGKILLed, then restarted on its state dir
 *   dst-kill    destination agent SIGKILLed, then restarted
 *   dst-qemu    destination QEMU SIGKILLed
 *   link-cut    link down for LINK_CUT_MS, then up again
 *   loss-5      5% packet loss from then on
 *   disk-full   destination state dir (its own tmpfs) filled up
 *   clock-jump  wall clock set an hour ahead, and back once it is over
 *
 *   test-matrix [--points p,q] [--faults f,g] [--cells point/fault,...]
 *
 * Every cell is a cmocka test named "<point>/<fault>"; the run ends with
 * one line per cell: where the VM ended, how the migration ended, and
 * whether the follow-up migration succeeded (docs/RELIABILITY.md keeps
 * the table of the latest full run). SKIP (77) without root or the rig.
 */
#include "tests/integration/agent/pair.h"
#include "tools/rig/rig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define HOLD_WAIT_MS 60000
#define LINK_CUT_MS 12000
#define CLOCK_JUMP_S 3600
#define END_WAIT_MS 120000

typedef enum fault {
	F_SRC_KILL, F_DST_KILL, F_DST_QEMU, F_LINK_CUT, F_LOSS, F_DISK_FULL,
	F_CLOCK_JUMP, F__COUNT
} fault;

static const char *const fault_names[F__COUNT] = {
	"src-kill", "dst-kill", "dst-qemu", "link-cut", "loss-5",
	"disk-full", "clock-jump",
};

typedef struct point {
	const char *name;
	bool dest;          /* held by the destination agent */
	const char *agent;  /* the agent's name for it, if not @name */
} point;

static const point points[] = {
	{ "setup", false, NULL }, { "precopy-0", false, NULL },
	{ "precopy-n", false, NULL }, { "stop-copy", false, NULL },
	{ "devstate", false, NULL }, { "verify", false, NULL },
	{ "pre-cont", true, "dest-commit" },
	{ "post-cont", true, "dest-running" },
};

typedef struct cell {
	const point *pt;
	fault f;
	char name[48];
	char env[160];      /* QMIG_FAULT_HOLD=<point>@<hold file> */
	variant v;
	/* outcome, for the summary */
	char where[16], phase[24], error[160], again[24];
	bool ran;
} cell;

static cell cells[QM_ARRAY_SIZE(points) * F__COUNT];
static size_t ncells;

/* ---- injecting ---- */

/* The file the holding agent creates, and waits to see removed. */
static void hold_file(char *file, size_t len)
{
	snprintf(file, len, "/tmp/qmig-matrix-%d.hold", (int)getpid());
}

static bool hold_reached(char *file, size_t len)
{
	struct stat st;

	hold_file(file, len);
	return stat(file, &st) == 0;
}

static void wait_hold(fx *f, const cell *c, char *file, size_t len)
{
	ql_agent *ag = c->pt->dest ? &f->dst : &f->src;
	int64_t deadline = qm_now_ms() + HOLD_WAIT_MS;

	while (!hold_reached(file, len)) {
		if (qm_now_ms() > deadline)
			fail_msg("the %s agent never reached '%s'",
				 c->pt->dest ? "destination" : "source",
				 c->pt->name);
		if (!ql_agent_alive(ag))
			fail_msg("the %s agent died before '%s'",
				 c->pt->dest ? "destination" : "source",
				 c->pt->name);
		usleep(10 * 1000);
	}
}

static void jump_clock(long s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		fail_msg("clock_settime: %s", strerror(errno));
}

/* Fill the destination's state filesystem (a tmpfs of its own) until it
 * says ENOSPC. In steps: the guest may be taking pages there too. */
static void fill_disk(fx *f)
{
	char path[QL_PATH_MAX + 16];
	off_t off = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/filler", f->dst.state_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	while (fallocate(fd, 0, off, 1 << 20) == 0)
		off += 1 << 20;
	if (errno != ENOSPC)
		fail_msg("filling the destination disk: %s", strerror(errno));
	while (fallocate(fd, 0, off, 4096) == 0)
		off += 4096;
	close(fd);
}

static void inject(fx *f, cell *c)
{
	qm_error err = QM_ERROR_INIT;
	rig_link l = { 0 };

	switch (c->f) {
	case F_SRC_KILL:
		ql_agent_kill(&f->src);
		break;
	case F_DST_KILL:
		ql_agent_kill(&f->dst);
		break;
	case F_DST_QEMU:
		assert_true(scan_qemus(f->dst.dir, true) >= 1);
		break;
	case F_LINK_CUT:
		if (!rig_link_set(f->rig, false, &err))
			fail_msg("cutting the link: %s", err.msg);
		break;
	case F_LOSS:
		l.loss_pct = 5;
		if (!rig_shape(f->rig, &l, &err))
			fail_msg("5%% loss: %s", err.msg);
		break;
	case F_DISK_FULL:
		fill_disk(f);
		break;
	case F_CLOCK_JUMP:
		jump_clock(CLOCK_JUMP_S);
		break;
	default:
		break;
	}
}

/* After the fault: release the hold if its agent lives, bring back what
 * was killed, undo what must not outlive the cell's migration. */
static void recover(fx *f, cell *c, const char *hold_file)
{
	qm_error err = QM_ERROR_INIT;

	unlink(hold_file);
	switch (c->f) {
	case F_SRC_KILL:
		fx_restart(f, &f->src);
		break;
	case F_DST_KILL:
		fx_restart(f, &f->dst);
		break;
	case F_LINK_CUT:
		usleep(LINK_CUT_MS * 1000);
		if (!rig_link_set(f->rig, true, &err))
			fail_msg("restoring the link: %s", err.msg);
		break;
	default:
		break;
	}
}

/* ---- judging ---- */

/* The migration's final status, from the source agent (after a restart
 * it knows it from its records). */
static json_object *final_status(fx *f, const char *id)
{
	return wait_final_on(f->cs, id);
}

/* A guest runs where its serial log grows (it prints a heartbeat every
 * millisecond). Asking QEMU would need its QMP socket, which the agent
 * holds for the VM's lifetime. */
static off_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void logs_grow(const char *a, const char *b, bool *ga, bool *gb)
{
	off_t a0 = size_of(a), b0 = size_of(b);

	usleep(500 * 1000);
	*ga = a0 >= 0 && size_of(a) > a0;
	*gb = b0 >= 0 && size_of(b) > b0;
}

/* Where the VM runs once things have settled: "source", "dest", or the
 * test fails (none, or both). A paused QEMU left on the other side is
 * given time to be resolved (in-doubt) and then counts against. */
static const char *where_it_runs(fx *f)
{
	char dlog[QL_PATH_MAX + 32];
	int64_t deadline = qm_now_ms() + 30000;

	snprintf(dlog, sizeof(dlog), "%s/vms/g1/serial.log", f->dst.state_dir);
	for (;;) {
		bool src_alive = ql_vm_alive(&f->vm), src_run, dst_run;
		int dst_qemus = scan_qemus(f->dst.dir, false);

		logs_grow(f->vm.serial_path, dlog, &src_run, &dst_run);
		src_run = src_run && src_alive;
		dst_run = dst_run && dst_qemus;

		if (src_run && dst_run)
			fail_msg("the VM runs on both sides");
		if (src_run && !dst_qemus)
			return "source";
		if (dst_run && !src_alive && dst_qemus == 1)
			return "dest";
		if (qm_now_ms() > deadline)
			fail_msg("after 30 s: source QEMU %s%s, %d destination "
				 "QEMU(s)%s", src_alive ? "alive" : "gone",
				 src_run ? " and running" : "", dst_qemus,
				 dst_run ? ", running" : "");
		usleep(200 * 1000);
	}
}

/* ---- one cell ---- */

static void run_cell(void **state)
{
	fx *f = *state;
	cell *c = NULL;
	char hold[QL_PATH_MAX + 32];
	json_object *st;
	const char *w;
	char *id, *id2;

	for (size_t i = 0; i < ncells; i++)
		if (&cells[i].v == f->v)
			c = &cells[i];
	assert_non_null(c);
	c->ran = true;
	attach(f);
	/* A later round needs a gate that cannot stop after round 0: a
	 * downtime no prediction meets, and a deadline that forces the
	 * switchover where the fault lets the migration go on. */
	id = start(f, strcmp(c->pt->name, "precopy-n") ?
		   "\"max_downtime_ms\": 400" :
		   "\"max_downtime_ms\": 2, \"deadline\": 15, "
		   "\"on_deadline\": \"force\"");
	wait_hold(f, c, hold, sizeof(hold));
	inject(f, c);
	recover(f, c, hold);
	st = final_status(f, id);
	snprintf(c->phase, sizeof(c->phase), "%s", str(st, "phase"));
	snprintf(c->error, sizeof(c->error), "%s", str(st, "error"));
	printf("# %s: migration %s%s%s\n", c->name, c->phase,
	       c->error[0] ? ": " : "", c->error);
	if (strcmp(c->phase, "completed"))
		assert_true(c->error[0] != '\0');
	json_object_put(st);
	if (c->f == F_CLOCK_JUMP)
		jump_clock(-CLOCK_JUMP_S);
	if (c->f == F_LOSS) {
		rig_link none = { 0 };
		qm_error err = QM_ERROR_INIT;

		if (!rig_shape(f->rig, &none, &err))
			fail_msg("%s", err.msg);
	}
	w = where_it_runs(f);
	snprintf(c->where, sizeof(c->where), "%s", w);
	if (!strcmp(w, "source"))
		expect_on_source(f);
	else
		expect_on_dest(f);

	/* A new migration of the same VM, from where it runs. */
	if (c->f == F_DISK_FULL)
		fx_free_disk(f);
	if (!strcmp(w, "source")) {
		id2 = start(f, NULL);
		st = wait_final_on(f->cs, id2);
	} else {
		qm_error err = QM_ERROR_INIT;
		rpc_client *cd = rpc_client_connect(f->dst.rpc, TMO, &err);

		if (!cd)
			fail_msg("%s", err.msg);
		id2 = start_on(cd, f->back, NULL);
		st = wait_final_on(cd, id2);
		rpc_client_free(cd);
	}
	snprintf(c->again, sizeof(c->again), "%s", str(st, "phase"));
	printf("# %s: new migration %s %s\n", c->name, c->again,
	       str(st, "error"));
	assert_string_equal(c->again, "completed");
	json_object_put(st);
	free(id);
	free(id2);
}

/* ---- the table ---- */

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && !strncmp(p, name, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return !list;
}

static void build(const char *pts, const char *fls, const char *cl)
{
	for (size_t i = 0; i < QM_ARRAY_SIZE(points); i++) {
		if (!in_list(pts, points[i].name))
			continue;
		for (int k = 0; k < F__COUNT; k++) {
			cell *c = &cells[ncells];

			if (!in_list(fls, fault_names[k]))
				continue;
			snprintf(c->name, sizeof(c->name), "%s/%s",
				 points[i].name, fault_names[k]);
			if (!in_list(cl, c->name))
				continue;
			/* Once the VM has run on the destination, a full
			 * RAM filesystem there stalls it, and its QEMU
			 * killed there is the VM crashing, as on any host.
			 * Resuming the source's older copy would rewind a
			 * guest whose writes (disk, network) are already
			 * out: the agents must not, so these cells have no
			 * passing outcome (docs/RELIABILITY.md). */
			if (!strcmp(points[i].name, "post-cont") &&
			    (k == F_DISK_FULL || k == F_DST_QEMU)) {
				printf("# not run: %s (RELIABILITY.md)\n",
				       c->name);
				continue;
			}
			c->pt = &points[i];
			c->f = (fault)k;
			{
				char hf[96];

				hold_file(hf, sizeof(hf));
				snprintf(c->env, sizeof(c->env),
					 "QMIG_FAULT_HOLD=%s@%s",
					 points[i].agent ? points[i].agent
							 : points[i].name, hf);
			}
			c->v.rig = true;
			c->v.append = "ws=16M rate=2000 pattern=rand "
				      "zero=20 dup=20";
			c->v.ram_bytes = 128 << 20;
			if (points[i].dest)
				c->v.dst_env = c->env;
			else
				c->v.src_env = c->env;
			if (k == F_DISK_FULL)
				c->v.dst_tmpfs_mb = 192;
			/* A later round needs a guest that outruns round 0. */
			if (!strcmp(points[i].name, "precopy-n"))
				c->v.append = "ws=16M rate=0 pattern=rand";
			ncells++;
		}
	}
}

static void summary(void)
{
	printf("\n| point | fault | migration | VM runs on | new migration |\n"
	       "| --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; i < ncells; i++) {
		const cell *c = &cells[i];

		printf("| %s | %s | %s%s%.80s | %s | %s |\n", c->pt->name,
		       fault_names[c->f], c->ran ? c->phase : "not run",
		       c->error[0] ? ": " : "", c->error,
		       c->where[0] ? c->where : "?",
		       c->again[0] ? c->again : "?");
	}
}

int main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	const char *pts = NULL, *fls = NULL, *cl = NULL;
	char why[256];
	int rc;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--points"))
			pts = argv[i + 1];
		else if (!strcmp(argv[i], "--faults"))
			fls = argv[i + 1];
		else if (!strcmp(argv[i], "--cells"))
			cl = argv[i + 1];
	}
	if (!rig_available(why, sizeof(why)))
		QT_SKIP("the rig cannot run here: %s", why);
	build(pts, fls, cl);
	if (!ncells)
		QT_SKIP("no cell matches --points/--faults");
	tests = calloc(ncells, sizeof(*tests));
	for (size_t i = 0; i < ncells; i++)
		tests[i] = (struct CMUnitTest){
			.name = cells[i].name, .test_func = run_cell,
			.setup_func = fx_setup, .teardown_func = fx_teardown,
			.initial_state = &cells[i].v,
		};
	rig_install_cleanup();
	rc = _cmocka_run_group_tests("matrix", tests, ncells, NULL, NULL);
	summary();
	free(tests);
	return rc;
}
