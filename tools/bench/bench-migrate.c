/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-migrate: qmig's live migration beside QEMU's own pre-copy, in one
 * run, same guest workload, same link (unshaped loopback).
 *
 *   bench-migrate [--ram 1G] [--append "ws=128M rate=12800 pattern=rand"]
 *                 [--reps 3] [--max-downtime 300] [--warmup 2000]
 *                 [--methods qmig,qemu,qemu-multifd,qemu-xbzrle]
 *                 [--timeout 120] [--verify full|tracked]
 *
 * Each repetition runs every method once, in turn, on a freshly booted
 * workload guest (tools/guest) that runs --warmup ms before migrating:
 *   qmig          two qmigd on loopback, vm.attach + migration.start
 *                 with max_downtime_ms and verify (the agent's default,
 *                 full), migration.status polled;
 *   qemu          QEMU's pre-copy over tcp:127.0.0.1, max-bandwidth
 *                 10 GiB/s (QEMU's default of 128 MiB/s would be unfair),
 *                 downtime-limit = --max-downtime;
 *   qemu-multifd  the same with multifd, 2 channels;
 *   qemu-xbzrle   the same with xbzrle (QEMU's default cache).
 * Every RAM is a file on tmpfs (the agents' state dirs too), so the native
 * destination (-incoming defer -S) can be checked before it runs: page
 * hashes of both RAM files once both sides report completed; the
 * destination is resumed only if they match, else the run is FAILED
 * (correctness) and counts for no time.
 *
 * Per run, one "run key=value ..." line:
 *   total_ms      wall clock from the start request until the destination
 *                 holds everything (qmig: phase completed, i.e. verified
 *                 and running; QEMU: query-migrate completed on the
 *                 paused destination);
 *   downtime_ms   as reported (migration.status downtime_ms; QEMU's
 *                 query-migrate downtime);
 *   gv_ms         guest-visible downtime: first heartbeat printed on the
 *                 destination minus last one on the source, host-stamped
 *                 as the serial logs grow; for QEMU it includes check_ms,
 *                 the bench's own page-hash compare and cont;
 *   bytes, lo_bytes  bytes the method reports (bytes_on_wire; QEMU's
 *                 ram.transferred), and the loopback interface's tx
 *                 counter over the run (counts anything else on lo);
 *   cpu_s         qmig: both qmigd processes; QEMU: the source's
 *                 migration threads (sampled, -name debug-threads=on)
 *                 plus the whole paused destination process;
 *   continuity, corrupt  heartbeat continuity verdict and the guest's
 *                 CORRUPT count on the destination after a full check
 *                 pass there; mismatches: pages that differ (QEMU) or
 *                 that qmig's verification found and resent;
 *   for a QEMU run that differs: where the pages are (mism_image: the
 *                 guest's code, stack and heartbeat counter; mism_table:
 *                 its generation table; mism_ws: its working set), the
 *                 first one's address, and what the guest's own check
 *                 would find on the destination, read from the host
 *                 (ram_bad pages, hb_ram_delta: destination's heartbeat
 *                 counter minus the source's, negative = lost beats).
 * Then a table (median [min-max] over correct runs; over completed runs
 * too when some were wrong) and the ratios qmig / the best correct QEMU
 * method (or, if none was correct, its completed runs, said so).
 *
 * Leaves out: a real NIC or a shaped link (tools/rig), postcopy,
 * auto-converge, KVM where it is real (the launcher's choice, QMIG_ACCEL),
 * QEMU's CPU for dirty tracking in the vCPU thread, the destination
 * QEMU's CPU in qmig runs (device state only).
 */
#include "agent/qemu_mig.h"
#include "agent/rpc.h"
#include "dirtylog/dirtylog.h"
#include "tools/guest/guestlog.h"
#include "tools/launch/launch.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMO 15000
#define POLL_MS 20
#define MAX_REPS 32
#define VM_NAME "bench"

enum { M_QMIG, M_QEMU, M_MULTIFD, M_XBZRLE, M__COUNT };
static const char *const mname[M__COUNT] = { "qmig", "qemu", "qemu-multifd",
					     "qemu-xbzrle" };

static uint64_t opt_ram = 1ull << 30;
static char opt_append[512] = "ws=128M rate=12800 pattern=rand";
static int opt_reps = 3, opt_warmup_ms = 2000, opt_timeout_s = 120;
static double opt_downtime = 300;
static char opt_verify[16] = "full";
static bool opt_method[M__COUNT] = { true, true, true, true };

typedef struct run {
	int rep;
	bool completed;		/* the migration itself finished */
	bool correct;		/* ... and the destination is right */
	char status[24];	/* ok, FAILED(correctness), FAILED(error) */
	char error[300];
	char parts[200];	/* qmig: downtime_parts_ms, "name:ms,..." */
	double total_ms, downtime_ms, gv_ms, check_ms, predicted_ms, cpu_s;
	uint64_t bytes, lo_bytes, dst_alloc;
	int64_t rounds, mismatches, ram_bad, hb_ram_delta, corrupt, breaks;
	int64_t where[4];	/* mismatches: image, table, working set, other */
	int64_t first_bad;	/* guest-physical address of the first, or -1 */
	uint64_t seqaddr, inflight; /* the guest's heartbeat and in-flight words */
	const char *continuity;
	bool gv_late;
	double load;
} run;

static run runs[M__COUNT][MAX_REPS];

/* ---- exit-on-error, and what to tear down on exit ---- */

static char g_dir[128], g_psk[200];
static volatile sig_atomic_t g_interrupted;
static struct {
	ql_vm src, dst;
	ql_agent sa, da;
	qmp_conn *qs, *qd;
	rpc_client *cl;
} cur;

static void watch_stop(void);

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench-migrate: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void check_intr(void)
{
	if (g_interrupted)
		die("interrupted");
}

static void on_signal(int sig)
{
	g_interrupted = 1;
}

static void sleep_ms(int ms)
{
	usleep(ms * 1000);
}

/* QEMUs the destination agent started run on after it exits: find them
 * by the agent's state dir on their command line. */
static void kill_dest_qemus(const char *state_dir)
{
	char path[64], cmd[4096];
	struct dirent *de;
	DIR *d = opendir("/proc");
	pid_t pids[8];
	int n = 0;

	while (d && (de = readdir(d))) {
		FILE *fp;
		size_t len;

		if (!qm_format(path, sizeof(path), "/proc/%s/cmdline", de->d_name))
			continue;
		fp = fopen(path, "r");
		if (!fp)
			continue;
		len = fread(cmd, 1, sizeof(cmd) - 1, fp);
		fclose(fp);
		for (size_t i = 0; i < len; i++)
			cmd[i] = cmd[i] ? cmd[i] : ' ';
		cmd[len] = '\0';
		if (strstr(cmd, "qemu-system") && strstr(cmd, state_dir) &&
		    n < 8 && kill(pids[n] = atoi(de->d_name), SIGKILL) == 0)
			n++;
	}
	if (d)
		closedir(d);
	/* Gone (or a zombie of the agent) before its RAM file is removed. */
	for (int i = 0; i < n; i++) {
		for (int t = 0; t < 200; t++) {
			char st[64] = "", *p;
			FILE *fp;

			snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
			fp = fopen(path, "r");
			if (!fp)
				break;
			if (!fgets(st, sizeof(st), fp))
				st[0] = '\0';
			fclose(fp);
			p = strrchr(st, ')');
			if (p && p[1] && p[2] == 'Z')
				break;
			sleep_ms(10);
		}
	}
}

static void teardown(void)
{
	char dir[QL_PATH_MAX];

	watch_stop();
	rpc_client_free(cur.cl);
	qmp_conn_free(cur.qs);
	qmp_conn_free(cur.qd);
	ql_vm_stop(&cur.src);
	ql_vm_stop(&cur.dst);
	ql_agent_stop(&cur.sa);
	snprintf(dir, sizeof(dir), "%s", cur.da.state_dir);
	if (cur.da.dir[0])
		kill_dest_qemus(dir);
	ql_agent_stop(&cur.da);
	memset(&cur, 0, sizeof(cur));
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	return remove(path);
}

static void at_exit(void)
{
	teardown();
	if (g_dir[0])
		nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- small measurements ---- */

static uint64_t lo_tx_bytes(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/sys/class/net/lo/statistics/tx_bytes", "r");

	if (!f || fscanf(f, "%llu", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

static double load1(void)
{
	double v = 0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (!f || fscanf(f, "%lf", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

/* utime + stime of a process or a thread (/proc/PID[/task/TID]/stat). */
static double stat_cpu(const char *path)
{
	char buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f = fopen(path, "r");
	bool ok = f && fgets(buf, sizeof(buf), f) &&
		  (p = strrchr(buf, ')')) &&
		  sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) == 2;

	if (f)
		fclose(f);
	return ok ? (double)(ut + st) / sysconf(_SC_CLK_TCK) : 0;
}

static double proc_cpu(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_cpu(path);
}

/* QEMU's migration threads exit when it ends: keep the last sample. */
static struct {
	int tid;
	double s;
} g_thr[32];
static int g_nthr;

static void sample_mig_threads(pid_t pid)
{
	char path[300], comm[32];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		int tid = atoi(de->d_name), i;
		FILE *f;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid,
			 tid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "live_migration", 14) &&
		    strncmp(comm, "multifdsend", 11))
			continue;
		for (i = 0; i < g_nthr && g_thr[i].tid != tid; i++)
			;
		if (i == g_nthr) {
			if (g_nthr == (int)QM_ARRAY_SIZE(g_thr))
				continue;
			g_nthr++;
		}
		g_thr[i].tid = tid;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
			 tid);
		g_thr[i].s = QM_MAX(g_thr[i].s, stat_cpu(path));
	}
	if (d)
		closedir(d);
}

static double mig_threads_cpu(void)
{
	double s = 0;

	for (int i = 0; i < g_nthr; i++)
		s += g_thr[i].s;
	return s;
}

/* Bytes allocated to the largest regular file in @dir (the RAM file). */
static uint64_t alloc_in_dir(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	uint64_t best = 0, size = 0;

	while (d && (de = readdir(d))) {
		char p[1024];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size > size) {
			size = st.st_size;
			best = (uint64_t)st.st_blocks * 512;
		}
	}
	if (d)
		closedir(d);
	return best;
}

static uint64_t alloc_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		die("picking a free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* ---- following both serial logs, stamped as they grow ---- */

static struct {
	pthread_mutex_t lock;
	pthread_t th;
	bool running, stop;
	gl_follow f[2];		/* 0: source, 1: destination */
	bool open[2];
	char path[2][QL_PATH_MAX + 96];
	bool late;		/* destination log had bytes when opened */
} w = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *watch_main(void *arg)
{
	for (;;) {
		struct pollfd p[2];
		int n = 0;

		pthread_mutex_lock(&w.lock);
		if (w.stop) {
			pthread_mutex_unlock(&w.lock);
			return NULL;
		}
		for (int i = 0; i < 2; i++) {
			qm_error err = QM_ERROR_INIT;

			if (!w.open[i] && w.path[i][0] &&
			    !access(w.path[i], R_OK)) {
				w.open[i] = gl_follow_open(&w.f[i], w.path[i],
						i ? GL_LOG_CONTINUES : 0, &err);
				if (w.open[i] && i)
					w.late = w.f[i].offset > 0;
			}
			if (!w.open[i])
				continue;
			gl_follow_process(&w.f[i], &err);
			p[n].fd = gl_follow_fd(&w.f[i]);
			p[n++].events = POLLIN;
		}
		pthread_mutex_unlock(&w.lock);
		poll(p, n, 2);
	}
}

static void watch_start(const char *src, const char *dst)
{
	pthread_mutex_lock(&w.lock);
	w.stop = false;
	w.late = false;
	snprintf(w.path[0], sizeof(w.path[0]), "%s", src);
	snprintf(w.path[1], sizeof(w.path[1]), "%s", dst ? dst : "");
	pthread_mutex_unlock(&w.lock);
	if (pthread_create(&w.th, NULL, watch_main, NULL))
		die("pthread_create");
	w.running = true;
}

static void watch_stop(void)
{
	if (!w.running)
		return;
	pthread_mutex_lock(&w.lock);
	w.stop = true;
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.th, NULL);
	w.running = false;
	for (int i = 0; i < 2; i++) {
		if (w.open[i])
			gl_follow_close(&w.f[i]);
		w.open[i] = false;
		w.path[i][0] = '\0';
	}
}

static gl_log snap(int i)
{
	gl_log l;

	pthread_mutex_lock(&w.lock);
	if (w.open[i])
		l = w.f[i].log;
	else
		gl_log_init(&l, 0);
	pthread_mutex_unlock(&w.lock);
	return l;
}

static bool wait_log(int i, gl_pred pred, const void *arg, int timeout_ms)
{
	int64_t end = qm_now_ms() + timeout_ms;

	for (;;) {
		gl_log l = snap(i);

		if (pred(&l, arg))
			return true;
		if (qm_now_ms() >= end)
			return false;
		check_intr();
		sleep_ms(5);
	}
}

static bool pred_passes(const gl_log *l, const void *arg)
{
	return l->stats && l->stat.passes >= *(const uint64_t *)arg;
}

/* ---- one run, shared parts ---- */

static ql_vm_opts vm_opts(const char *name)
{
	ql_vm_opts o = { .name = name, .ram_bytes = opt_ram,
			 .append = opt_append, .shm_dir = g_dir };

	return o;
}

/* Source guest booted and followed; it has run --warmup ms. */
static void boot_source(const ql_vm_opts *o, const char *dst_log)
{
	qm_error err = QM_ERROR_INIT;

	if (!ql_vm_start(&cur.src, o, &err))
		die("source VM: %s", err.msg);
	watch_start(cur.src.serial_path, dst_log);
	if (!wait_log(0, gl_pred_ready, NULL, 30000))
		die("the guest did not print READY within 30 s (%s)",
		    cur.src.serial_path);
	sleep_ms(opt_warmup_ms);
}

static qmp_conn *qmp_open(const ql_vm *vm)
{
	qm_error err = QM_ERROR_INIT;
	qmp_conn *q = qmp_conn_new(&err);

	if (!q || !qmp_connect(q, vm->qmp_path, 5000, &err) ||
	    !qmp_wait_ready(q, 5000, &err))
		die("QMP %s: %s", vm->qmp_path, err.msg);
	qmp_set_default_timeout(q, TMO);
	return q;
}

static void fail(run *r, bool correctness, const char *fmt, ...)
{
	va_list ap;

	snprintf(r->status, sizeof(r->status), "%s",
		 correctness ? "FAILED(correctness)" : "FAILED(error)");
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

/*
 * The destination runs: wait until the guest there finished a whole
 * check pass of its working set (so a lost update would have been
 * printed as CORRUPT), then judge heartbeat continuity.
 */
static void check_dest(run *r)
{
	uint64_t one = 1, passes;
	gl_continuity c;
	gl_log l;

	r->continuity = "UNKNOWN";
	if (!wait_log(1, gl_pred_hb_count, &one, 20000)) {
		fail(r, true, "no heartbeat on the destination within 20 s");
		return;
	}
	if (!wait_log(1, pred_passes, &one, 20000)) {
		fail(r, true, "no STAT line on the destination within 20 s");
		return;
	}
	l = snap(1);
	passes = l.stat.passes + 2;
	if (!wait_log(1, pred_passes, &passes, 60000))
		snprintf(r->error, sizeof(r->error), "no full check pass on "
			 "the destination within 60 s");
	pthread_mutex_lock(&w.lock);
	gl_continuity_check(&w.f[0].log, &w.f[1].log, &c);
	r->corrupt = w.f[1].log.corrupt_total;
	r->breaks = w.f[1].log.hb_seq_breaks;
	r->gv_late = w.late;
	pthread_mutex_unlock(&w.lock);
	r->continuity = gl_verdict_name(c.verdict);
	r->gv_ms = c.downtime_ns == GL_TS_NONE ? -1 : c.downtime_ns / 1e6;
	if (c.verdict != GL_VERDICT_OK || r->corrupt || r->breaks)
		fail(r, true, "continuity %s (source last HB %llu, destination "
		     "first %llu%s%s), %lld CORRUPT, %lld heartbeat breaks",
		     r->continuity, (unsigned long long)c.src_last.seq,
		     (unsigned long long)c.dst_first.seq, c.why[0] ? ": " : "",
		     c.why, (long long)r->corrupt, (long long)r->breaks);
	else
		r->correct = true;
}

/* ---- qmig ---- */

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, k, &v);
	return v;
}

static json_object *call(const char *method, const char *fmt, ...)
{
	qm_error err = QM_ERROR_INIT;
	char p[1024];
	json_object *r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	r = rpc_client_call(cur.cl, method, json_tokener_parse(p), TMO, &err);
	if (!r)
		die("%s", err.msg);
	return r;
}

static bool final_phase(const char *ph)
{
	return !strcmp(ph, "completed") || !strcmp(ph, "failed") ||
	       !strcmp(ph, "rolled-back") || !strcmp(ph, "cancelled") ||
	       !strcmp(ph, "in-doubt");
}

static void run_qmig(run *r)
{
	const char *sargs[] = { "--psk-file", g_psk, NULL };
	char dest[64], dlog[QL_PATH_MAX + 96], ddir[QL_PATH_MAX + 64], id[64];
	const char *dargs[] = { "--psk-file", g_psk, "--peer-listen", dest,
				NULL };
	ql_vm_opts o = vm_opts("qmig-src");
	qm_error err = QM_ERROR_INIT;
	json_object *st = NULL, *res;
	uint64_t lo0;
	int64_t t0, end;
	double cpu0;
	const char *ph;
	bool cancelled = false;

	snprintf(dest, sizeof(dest), "127.0.0.1:%d", free_port());
	if (!ql_agent_start(&cur.sa, "src", sargs, &err) ||
	    !ql_agent_start(&cur.da, "dst", dargs, &err))
		die("qmigd: %s", err.msg);
	snprintf(ddir, sizeof(ddir), "%s/vms/" VM_NAME, cur.da.state_dir);
	snprintf(dlog, sizeof(dlog), "%s/serial.log", ddir);
	boot_source(&o, dlog);
	cur.cl = rpc_client_connect(cur.sa.rpc, TMO, &err);
	if (!cur.cl)
		die("%s: %s", cur.sa.rpc, err.msg);
	json_object_put(call("vm.attach", "{\"name\": \"" VM_NAME "\", "
			     "\"qmp\": \"%s\"}", cur.src.qmp_path));

	lo0 = lo_tx_bytes();
	cpu0 = proc_cpu(cur.sa.pid) + proc_cpu(cur.da.pid);
	t0 = qm_now_ns();
	res = call("migration.start", "{\"vm\": \"" VM_NAME "\", \"dest\": "
		   "\"%s\", \"max_downtime_ms\": %g, \"verify\": \"%s\"}", dest,
		   opt_downtime, opt_verify);
	snprintf(id, sizeof(id), "%s", json_object_get_string(get(res, "id")));
	json_object_put(res);
	end = qm_now_ms() + opt_timeout_s * 1000LL;
	for (;;) {
		st = call("migration.status", "{\"id\": \"%s\"}", id);
		ph = json_object_get_string(get(st, "phase"));
		if (final_phase(ph))
			break;
		json_object_put(st);
		if (qm_now_ms() > end) {
			if (cancelled)
				die("migration %s still running 30 s after "
				    "migration.cancel", id);
			json_object_put(call("migration.cancel",
					     "{\"id\": \"%s\"}", id));
			cancelled = true;
			end += 30000;
		}
		check_intr();
		sleep_ms(POLL_MS);
	}
	r->total_ms = (qm_now_ns() - t0) / 1e6;
	r->lo_bytes = lo_tx_bytes() - lo0;
	r->cpu_s = proc_cpu(cur.sa.pid) + proc_cpu(cur.da.pid) - cpu0;
	r->downtime_ms = json_object_get_double(get(st, "downtime_ms"));
	r->predicted_ms = json_object_get_double(get(st,
						     "predicted_downtime_ms"));
	r->bytes = json_object_get_int64(get(st, "bytes_on_wire"));
	r->rounds = json_object_get_int64(get(st, "round"));
	r->mismatches = json_object_get_int64(get(get(st, "verify"),
						  "mismatches"));
	r->dst_alloc = alloc_in_dir(ddir);
	r->seqaddr = snap(0).boot.seqaddr;
	r->inflight = snap(0).boot.inflight;
	json_object_object_foreach(get(st, "downtime_parts_ms"), k, v) {
		size_t len = strlen(r->parts);

		snprintf(r->parts + len, sizeof(r->parts) - len, "%s%s:%.1f",
			 len ? "," : "", k, json_object_get_double(v));
	}
	if (strcmp(ph, "completed")) {
		fail(r, false, "phase %s: %s", ph,
		     json_object_get_string(get(st, "error")));
		json_object_put(st);
		return;
	}
	json_object_put(st);
	r->completed = true;
	check_dest(r);
}

/* ---- QEMU's own pre-copy ---- */

/* Pages that differ between the two RAM files, and where they are in
 * the guest's layout (tools/guest/README.md): its image, stack and
 * heartbeat counter below the generation table; the table; the working
 * set; anything else. */
static int64_t compare_ram(const char *a, const char *b, const gl_boot *bt,
			   int64_t where[4], int64_t *first)
{
	qm_error err = QM_ERROR_INIT;
	dl_ram ra, rb;
	dl_hasher h;
	dl_hash *ha, *hb;
	int64_t bad = 0;
	uint64_t n;

	dl_ram_init(&ra);
	dl_ram_init(&rb);
	if (!dl_hasher_init(&h, "bench-migrate", 13, &err) ||
	    !dl_ram_add_file(&ra, "ram0", a, opt_ram, 0, &err) ||
	    !dl_ram_add_file(&rb, "ram0", b, opt_ram, 0, &err))
		die("mapping RAM: %s", err.msg);
	n = ra.npages;
	ha = calloc(n, sizeof(*ha));
	hb = calloc(n, sizeof(*hb));
	if (!ha || !hb || !dl_ram_hash_pages(&ra, &h, 0, n, ha, &err) ||
	    !dl_ram_hash_pages(&rb, &h, 0, n, hb, &err))
		die("hashing RAM: %s", err.msg);
	for (uint64_t p = 0; p < n; p++) {
		uint64_t addr = p << DL_PAGE_SHIFT;

		if (dl_hash_eq(ha[p], hb[p]))
			continue;
		if (!bad++)
			*first = (int64_t)addr;
		if (addr < bt->table)
			where[0]++;
		else if (addr < bt->base)
			where[1]++;
		else if (addr < bt->base + bt->pages * DL_PAGE_SIZE)
			where[2]++;
		else
			where[3]++;
	}
	free(ha);
	free(hb);
	dl_ram_close(&ra);
	dl_ram_close(&rb);
	return bad;
}

/* What the guest would have found on the destination, from the host. */
static void diagnose_dest(run *r)
{
	gl_log l = snap(0);
	gl_ram_report rs, rd;
	qm_error err = QM_ERROR_INIT;

	if (!gl_ram_check_file(cur.src.mem_path, &l.boot, &rs, &err) ||
	    !gl_ram_check_file(cur.dst.mem_path, &l.boot, &rd, &err)) {
		snprintf(r->error + strlen(r->error),
			 sizeof(r->error) - strlen(r->error), "; %s", err.msg);
		return;
	}
	r->ram_bad = rd.bad;
	if (rs.hb_seq_valid && rd.hb_seq_valid)
		r->hb_ram_delta = (int64_t)rd.hb_seq - (int64_t)rs.hb_seq;
}

static void run_qemu(run *r, int m)
{
	const char *extra[] = { "-name", "debug-threads=on", NULL };
	ql_vm_opts so = vm_opts("qemu-src"), dopt;
	qm_native_opts o = { .max_bandwidth_bps = 10LL << 30,
			     .downtime_limit_ms = (int64_t)opt_downtime,
			     .multifd = m == M_MULTIFD, .multifd_channels = 2,
			     .xbzrle = m == M_XBZRLE };
	qm_error err = QM_ERROR_INIT;
	qmp_migrate_info mi, md;
	gl_boot boot;
	char uri[64];
	uint64_t lo0;
	int64_t t0, tc, end;
	double cpu0;

	so.extra_args = extra;
	dopt = so;
	dopt.name = "qemu-dst";
	dopt.paused = true;
	dopt.incoming = "defer";
	if (!ql_vm_start(&cur.dst, &dopt, &err))
		die("destination VM: %s", err.msg);
	boot_source(&so, cur.dst.serial_path);
	cur.qs = qmp_open(&cur.src);
	cur.qd = qmp_open(&cur.dst);
	snprintf(uri, sizeof(uri), "tcp:127.0.0.1:%d", free_port());
	if (!qm_native_incoming(cur.qd, &o, uri, &err) ||
	    !qm_native_setup(cur.qs, &o, &err))
		die("%s", err.msg);

	g_nthr = 0;
	lo0 = lo_tx_bytes();
	cpu0 = proc_cpu(cur.dst.pid);
	t0 = qm_now_ns();
	if (!qmp_migrate(cur.qs, uri, &err))
		die("migrate: %s", err.msg);
	end = qm_now_ms() + opt_timeout_s * 1000LL;
	for (;;) {
		if (!qmp_query_migrate(cur.qs, &mi, &err))
			die("query-migrate: %s", err.msg);
		sample_mig_threads(cur.src.pid);
		if (QM_MIG_DONE_MASK & QM_MIG_MASK(mi.status))
			break;
		if (qm_now_ms() > end) {
			qmp_migrate_cancel(cur.qs, &err);
			fail(r, false, "not converged after %d s (%s, %llu "
			     "bytes sent, %llu dirty syncs)", opt_timeout_s,
			     mi.status_str,
			     (unsigned long long)mi.ram.transferred,
			     (unsigned long long)mi.ram.dirty_sync_count);
			return;
		}
		check_intr();
		sleep_ms(POLL_MS);
	}
	if (mi.status != QMP_MIG_STATUS_COMPLETED) {
		fail(r, false, "source %s: %s", mi.status_str, mi.error_desc);
		return;
	}
	if (!qm_native_wait(cur.qd, QM_MIG_DONE_MASK, 2, 30000, &md, &err) ||
	    md.status != QMP_MIG_STATUS_COMPLETED) {
		fail(r, false, "destination: %s", err.msg);
		return;
	}
	r->total_ms = (qm_now_ns() - t0) / 1e6;
	r->lo_bytes = lo_tx_bytes() - lo0;
	r->cpu_s = mig_threads_cpu() + proc_cpu(cur.dst.pid) - cpu0;
	r->downtime_ms = mi.downtime_ms;
	r->bytes = mi.ram.transferred;
	r->rounds = mi.ram.dirty_sync_count;
	r->completed = true;

	/* Both sides stopped: the destination runs only if it is right. */
	tc = qm_now_ns();
	boot = snap(0).boot;
	r->seqaddr = boot.seqaddr;
	r->inflight = boot.inflight;
	r->mismatches = compare_ram(cur.src.mem_path, cur.dst.mem_path, &boot,
				    r->where, &r->first_bad);
	r->dst_alloc = alloc_of(cur.dst.mem_path);
	if (r->mismatches) {
		fail(r, true, "%lld page(s) of the destination's RAM differ "
		     "from the source's after completion",
		     (long long)r->mismatches);
		r->continuity = "-";
		diagnose_dest(r);
		return;
	}
	if (!qmp_cont(cur.qd, &err))
		die("cont: %s", err.msg);
	r->check_ms = (qm_now_ns() - tc) / 1e6;
	check_dest(r);
}

/* ---- results ---- */

static void print_run(int m, const run *r)
{
	char first[24] = "-";

	if (r->first_bad >= 0)
		snprintf(first, sizeof(first), "%#llx",
			 (unsigned long long)r->first_bad);
	printf("run method=%s rep=%d status=%s total_ms=%.0f downtime_ms=%.1f "
	       "gv_ms=%.1f check_ms=%.1f predicted_ms=%.1f bytes=%llu "
	       "lo_bytes=%llu cpu_s=%.2f rounds=%lld mismatches=%lld "
	       "continuity=%s corrupt=%lld hb_breaks=%lld ram_bad=%lld "
	       "hb_ram_delta=%lld mism_image=%lld mism_table=%lld mism_ws=%lld "
	       "mism_other=%lld mism_first=%s seqaddr=%#llx inflight=%#llx "
	       "dst_alloc_mb=%.0f gv_late=%d load=%.2f parts=%s "
	       "error=\"%s\"\n", mname[m], r->rep, r->status, r->total_ms,
	       r->downtime_ms, r->gv_ms, r->check_ms, r->predicted_ms,
	       (unsigned long long)r->bytes, (unsigned long long)r->lo_bytes,
	       r->cpu_s, (long long)r->rounds, (long long)r->mismatches,
	       r->continuity ? r->continuity : "-", (long long)r->corrupt,
	       (long long)r->breaks, (long long)r->ram_bad,
	       (long long)r->hb_ram_delta, (long long)r->where[0],
	       (long long)r->where[1], (long long)r->where[2],
	       (long long)r->where[3], first,
	       (unsigned long long)r->seqaddr,
	       (unsigned long long)r->inflight, r->dst_alloc / 1048576.0,
	       r->gv_late, r->load, r->parts[0] ? r->parts : "-", r->error);
	fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

typedef struct agg {
	double med, min, max;
	int n;
} agg;

static void cell(agg a, double scale, const char *fmt)
{
	char m[32], lo[32], hi[32];

	if (!a.n) {
		printf(" - |");
		return;
	}
	snprintf(m, sizeof(m), fmt, a.med / scale);
	snprintf(lo, sizeof(lo), fmt, a.min / scale);
	snprintf(hi, sizeof(hi), fmt, a.max / scale);
	printf(" %s [%s–%s] |", m, lo, hi);
}

/* The numbers of a run as doubles, for agg_v(); negative = unknown. */
typedef struct rowv {
	double total, down, gv, gvnet, lo, bytes, cpu;
} rowv;

static rowv vals[M__COUNT][MAX_REPS];

/* Median, min, max of the field at @off over method @m's correct runs
 * (all completed runs if @any). */
static agg agg_v(int m, size_t off, bool any)
{
	double v[MAX_REPS];
	agg a = { 0 };

	for (int i = 0; i < opt_reps; i++) {
		const run *r = &runs[m][i];
		double x = *(const double *)((const char *)&vals[m][i] + off);

		if ((any ? r->completed : r->correct) && x >= 0)
			v[a.n++] = x;
	}
	if (!a.n)
		return a;
	qsort(v, a.n, sizeof(v[0]), cmp_double);
	a.min = v[0];
	a.max = v[a.n - 1];
	a.med = a.n % 2 ? v[a.n / 2] : (v[a.n / 2 - 1] + v[a.n / 2]) / 2;
	return a;
}

static void table(bool any)
{
	printf("\n| method | %s | total s | downtime ms (reported) "
	       "| guest-visible ms | guest-visible ms without the bench's "
	       "check | loopback MB | reported MB | migration CPU s |\n",
	       any ? "completed / runs" : "correct / runs");
	printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
	for (int m = 0; m < M__COUNT; m++) {
		int ok = 0, done = 0;

		if (!opt_method[m])
			continue;
		for (int i = 0; i < opt_reps; i++) {
			ok += runs[m][i].correct;
			done += runs[m][i].completed;
		}
		if (any && ok == done)
			continue;
		printf("| %s | %d / %d |", mname[m], any ? done : ok, opt_reps);
		cell(agg_v(m, offsetof(rowv, total), any), 1000, "%.2f");
		cell(agg_v(m, offsetof(rowv, down), any), 1, "%.0f");
		cell(agg_v(m, offsetof(rowv, gv), any), 1, "%.0f");
		cell(agg_v(m, offsetof(rowv, gvnet), any), 1, "%.0f");
		cell(agg_v(m, offsetof(rowv, lo), any), 1e6, "%.0f");
		cell(agg_v(m, offsetof(rowv, bytes), any), 1e6, "%.0f");
		cell(agg_v(m, offsetof(rowv, cpu), any), 1, "%.2f");
		printf("\n");
	}
}

static void ratio(const char *what, size_t off, int best, bool any)
{
	agg q = agg_v(M_QMIG, off, false), b = agg_v(best, off, any);

	if (q.n && b.n && b.med > 0)
		printf("  %-34s %.2f\n", what, q.med / b.med);
	else
		printf("  %-34s n/a\n", what);
}

static void summary(void)
{
	int best = -1, incorrect = 0;
	bool any = false;

	for (int m = 0; m < M__COUNT; m++)
		for (int i = 0; i < opt_reps && opt_method[m]; i++) {
			const run *r = &runs[m][i];
			rowv *v = &vals[m][i];

			v->total = r->total_ms;
			v->down = r->downtime_ms;
			v->gv = r->gv_ms;
			v->gvnet = r->gv_ms >= 0 ? r->gv_ms - r->check_ms : -1;
			v->lo = (double)r->lo_bytes;
			v->bytes = (double)r->bytes;
			v->cpu = r->cpu_s;
			incorrect += r->completed && !r->correct;
		}
	printf("\nCorrect runs only, median [min-max]:\n");
	table(false);
	if (incorrect) {
		printf("\nEvery completed run, FAILED (correctness) included, "
		       "for scale only (those destinations were never "
		       "resumed, or resumed wrong):\n");
		table(true);
	}
	/* The best QEMU method: lowest median total time over correct
	 * runs; if none was ever correct, over completed runs. */
	for (int pass = 0; pass < 2 && best < 0; pass++) {
		double bt = 0;

		any = pass == 1;
		for (int m = M_QEMU; m < M__COUNT; m++) {
			agg a;

			if (!opt_method[m])
				continue;
			a = agg_v(m, offsetof(rowv, total), any);
			if (a.n && (best < 0 || a.med < bt)) {
				best = m;
				bt = a.med;
			}
		}
	}
	if (best < 0 || !opt_method[M_QMIG]) {
		printf("\nno ratio: needs qmig and a completed QEMU run\n");
		return;
	}
	printf("\nratios qmig / %s (%s; medians):\n", mname[best],
	       any ? "no QEMU run was correct: against its completed, "
		     "FAILED runs" : "the best correct QEMU method");
	ratio("total", offsetof(rowv, total), best, any);
	ratio("downtime reported", offsetof(rowv, down), best, any);
	ratio("guest-visible", offsetof(rowv, gv), best, any);
	ratio("guest-visible without the check", offsetof(rowv, gvnet), best,
	      any);
	ratio("loopback bytes", offsetof(rowv, lo), best, any);
	ratio("reported bytes", offsetof(rowv, bytes), best, any);
	ratio("CPU", offsetof(rowv, cpu), best, any);
}

/* ---- main ---- */

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			die("%s needs a value", k);
		if (!strcmp(k, "--ram")) {
			if (!qm_parse_size(v, &opt_ram, NULL))
				die("--ram %s", v);
		} else if (!strcmp(k, "--append")) {
			snprintf(opt_append, sizeof(opt_append), "%s", v);
		} else if (!strcmp(k, "--reps")) {
			opt_reps = atoi(v);
			if (opt_reps < 1 || opt_reps > MAX_REPS)
				die("--reps: 1 to %d", MAX_REPS);
		} else if (!strcmp(k, "--max-downtime")) {
			opt_downtime = atof(v);
			if (opt_downtime < 1)
				die("--max-downtime: at least 1 ms");
		} else if (!strcmp(k, "--verify")) {
			if (strcmp(v, "full") && strcmp(v, "tracked"))
				die("--verify: full or tracked");
			snprintf(opt_verify, sizeof(opt_verify), "%s", v);
		} else if (!strcmp(k, "--warmup")) {
			opt_warmup_ms = atoi(v);
		} else if (!strcmp(k, "--timeout")) {
			opt_timeout_s = atoi(v);
		} else if (!strcmp(k, "--methods")) {
			char buf[128], *save = NULL, *t;

			memset(opt_method, 0, sizeof(opt_method));
			snprintf(buf, sizeof(buf), "%s", v);
			for (t = strtok_r(buf, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				int m;

				for (m = 0; m < M__COUNT && strcmp(t, mname[m]);
				     m++)
					;
				if (m == M__COUNT)
					die("--methods: unknown '%s'", t);
				opt_method[m] = true;
			}
		} else {
			die("unknown option %s", k);
		}
	}
}

int main(int argc, char **argv)
{
	const char *kernel = ql_guest_kernel();
	struct sigaction sa = { .sa_handler = on_signal };
	FILE *f;

	parse_args(argc, argv);
	qm_log_set_level(QM_LOG_ERROR);
	if (!ql_qemu_binary())
		die("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		die("guest kernel not built (QMIG_GUEST=%s)", kernel);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Everything on tmpfs, in one dir: run dirs, RAM files, agents. */
	snprintf(g_dir, sizeof(g_dir), "/dev/shm/qmig-bench-XXXXXX");
	if (!mkdtemp(g_dir))
		die("mkdtemp %s: %s", g_dir, strerror(errno));
	atexit(at_exit);
	setenv("TMPDIR", g_dir, 1);
	snprintf(g_psk, sizeof(g_psk), "%s/psk", g_dir);
	f = fopen(g_psk, "w");
	if (!f || fputs("bench-migrate pre-shared key, 32 bytes\n", f) < 0 ||
	    fclose(f) || chmod(g_psk, 0600))
		die("%s: %s", g_psk, strerror(errno));

	printf("# bench-migrate ram=%lluM append=\"%s\" reps=%d "
	       "max_downtime_ms=%g warmup_ms=%d verify=%s\n",
	       (unsigned long long)(opt_ram >> 20), opt_append, opt_reps,
	       opt_downtime, opt_warmup_ms, opt_verify);
	for (int rep = 0; rep < opt_reps; rep++) {
		for (int m = 0; m < M__COUNT; m++) {
			run *r = &runs[m][rep];

			if (!opt_method[m])
				continue;
			memset(r, 0, sizeof(*r));
			r->rep = rep + 1;
			r->gv_ms = -1;
			r->first_bad = -1;
			r->load = load1();
			snprintf(r->status, sizeof(r->status), "ok");
			if (m == M_QMIG)
				run_qmig(r);
			else
				run_qemu(r, m);
			teardown();
			print_run(m, r);
		}
	}
	summary();
	return 0;
}
