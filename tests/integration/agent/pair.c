/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Two real agents on loopback and the self-checking guest under TCG: the
 * fixture the end-to-end migration tests share (test_migrate.c for agent
 * mode, test_compat.c for QEMU's own migration).
 */
#include "tests/integration/agent/pair.h"
#include "tools/rig/rig.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool write_psk(char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "/tmp/qmig-test-psk-%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return false;
	fputs("test pre-shared key, 32 bytes!!\n", f);
	fclose(f);
	return chmod(path, 0600) == 0;
}



static bool start_agent(ql_agent *ag, const char *name,
			const char *const *args, const char *env,
			const char *netns, qm_error *err)
{
	char *e = env ? strdup(env) : NULL, *eq = e ? strchr(e, '=') : NULL;
	bool ok;

	if (eq) {
		*eq = '\0';
		setenv(e, eq + 1, 1);
	}
	ok = ql_agent_start_ns(ag, name, netns, args, err);
	if (eq)
		unsetenv(e);
	free(e);
	return ok;
}

/* The rig variant: namespaces and addresses instead of loopback, and the
 * destination's own small filesystem if asked for. */
static bool setup_rig(fx *f, const variant *v, qm_error *err)
{
	char prefix[16];

	snprintf(prefix, sizeof(prefix), "qx%d", (int)(getpid() % 100000));
	f->rig = rig_up(prefix, &(rig_link){ 0 }, err);
	if (!f->rig)
		return false;
	snprintf(f->dest, sizeof(f->dest), "%s:7302",
		 rig_addr(f->rig, RIG_DST));
	snprintf(f->back, sizeof(f->back), "%s:7301",
		 rig_addr(f->rig, RIG_SRC));
	if (!v->dst_tmpfs_mb)
		return true;
	snprintf(f->tmpfs, sizeof(f->tmpfs), "/tmp/qmig-fx-XXXXXX");
	if (!mkdtemp(f->tmpfs))
		return qm_error_errno(err, errno, "mkdtemp");
	{
		char opt[64];

		snprintf(opt, sizeof(opt), "size=%um,mode=0700",
			 v->dst_tmpfs_mb);
		if (mount("qmig-fx", f->tmpfs, "tmpfs", MS_NOSUID | MS_NODEV,
			  opt) < 0) {
			rmdir(f->tmpfs);
			f->tmpfs[0] = '\0';
			return qm_error_errno(err, errno, "mount tmpfs");
		}
	}
	return true;
}

int fx_setup(void **state)
{
	const variant *v = *state;
	ql_vm_opts o = { .name = v && v->name ? v->name : "mig",
			 .ram_bytes = v && v->ram_bytes ? v->ram_bytes
							: 256 << 20,
			 .append = v && v->append ? v->append : DEFAULT_APPEND,
			 .mem = v ? v->mem : QL_MEM_FILE,
			 .extra_args = v ? v->qemu_args : NULL,
			 .accel = QL_ACCEL_TCG };
	fx *f = calloc(1, sizeof(*f));
	qm_error err = QM_ERROR_INIT;
	const char *sargs[] = { "--psk-file", f->psk, "--peer-listen", f->back,
				NULL };
	const char *dargs[] = { "--psk-file", f->psk, "--peer-listen", f->dest,
				NULL };
	const char *sns = NULL, *dns = NULL, *tmpdir = getenv("TMPDIR");
	char *saved_tmp = tmpdir ? strdup(tmpdir) : NULL;
	uint64_t beats = 200;
	bool ok;

	*state = f;
	f->v = v;
	if (v && v->rig) {
		if (!setup_rig(f, v, &err)) {
			fprintf(stderr, "setup: %s\n", err.msg);
			free(saved_tmp);
			return -1;
		}
		sns = rig_ns(f->rig, RIG_SRC);
		dns = rig_ns(f->rig, RIG_DST);
		o.netns = sns;
	} else {
		snprintf(f->dest, sizeof(f->dest), "127.0.0.1:%d", free_port());
		snprintf(f->back, sizeof(f->back), "127.0.0.1:%d", free_port());
	}
	ok = write_psk(f->psk, sizeof(f->psk)) &&
	     start_agent(&f->src, "src", sargs, v ? v->src_env : NULL, sns,
			 &err);
	if (ok && f->tmpfs[0])
		setenv("TMPDIR", f->tmpfs, 1);
	ok = ok && start_agent(&f->dst, "dst", dargs, v ? v->dst_env : NULL,
			       dns, &err);
	if (f->tmpfs[0]) {
		if (saved_tmp)
			setenv("TMPDIR", saved_tmp, 1);
		else
			unsetenv("TMPDIR");
	}
	free(saved_tmp);
	if (!ok || !ql_vm_start(&f->vm, &o, &err) ||
	    !gl_follow_open(&f->f, f->vm.serial_path, 0, &err) ||
	    !gl_follow_wait(&f->f, gl_pred_hb_count, &beats, "heartbeats",
			    TMO, &err) ||
	    !(f->cs = rpc_client_connect(f->src.rpc, TMO, &err))) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	f->following = true;
	return 0;
}

void fx_free_disk(fx *f)
{
	char path[QL_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/filler", f->dst.state_dir);
	unlink(path);
}

/* QEMUs an agent started run on after it exits (VMs outlive agents):
 * find them by the agent's dir on their command line; kill them, or only
 * count them. */
int scan_qemus(const char *state_dir, bool kill_them)
{
	int found = 0;

	char path[64], cmd[4096];
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		FILE *fp;
		size_t n;

		if (!qm_format(path, sizeof(path), "/proc/%s/cmdline", de->d_name))
			continue;
		fp = fopen(path, "r");
		if (!fp)
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, fp);
		fclose(fp);
		for (size_t i = 0; i < n; i++)
			cmd[i] = cmd[i] ? cmd[i] : ' ';
		cmd[n] = '\0';
		if (!strstr(cmd, "qemu-system") || !strstr(cmd, state_dir))
			continue;
		found++;
		if (kill_them)
			kill(atoi(de->d_name), SIGKILL);
	}
	if (d)
		closedir(d);
	return found;
}

int fx_teardown(void **state)
{
	fx *f = *state;
	char sdir[QL_PATH_MAX], ddir[QL_PATH_MAX];
	int left;

	snprintf(sdir, sizeof(sdir), "%s", f->src.dir);
	snprintf(ddir, sizeof(ddir), "%s", f->dst.dir);
	rpc_client_free(f->cs);
	if (f->following)
		gl_follow_close(&f->f);
	ql_vm_stop(&f->vm);
	ql_agent_stop(&f->src);
	ql_agent_stop(&f->dst);
	/* The agents' own cleanup must not be the only guard: VMs they
	 * started run on by design. Kill what is left, and fail if there
	 * was any that a test did not account for. */
	left = (sdir[0] ? scan_qemus(sdir, true) : 0) +
	       (ddir[0] ? scan_qemus(ddir, true) : 0);
	unlink(f->psk);
	rig_down(f->rig);
	if (f->tmpfs[0]) {
		umount2(f->tmpfs, MNT_DETACH);
		rmdir(f->tmpfs);
	}
	free(f);
	return left > MAX_LEFT_QEMUS ? -1 : 0;
}

json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, k, &v);
	return v;
}

void attach(fx *f)
{
	char p[512];
	qm_error err = QM_ERROR_INIT;
	json_object *r;

	snprintf(p, sizeof(p), "{\"name\": \"g1\", \"qmp\": \"%s\"}",
		 f->vm.qmp_path);
	r = rpc_client_call(f->cs, "vm.attach", json_tokener_parse(p), TMO,
			    &err);
	if (!r)
		fail_msg("attach: %s", err.msg);
	json_object_put(r);
}

char *start_on(rpc_client *cl, const char *dest, const char *extra)
{
	char p[512];
	qm_error err = QM_ERROR_INIT;
	json_object *r;
	char *id;

	snprintf(p, sizeof(p), "{\"vm\": \"g1\", \"dest\": \"%s\"%s%s}",
		 dest, extra ? ", " : "", extra ? extra : "");
	r = rpc_client_call(cl, "migration.start", json_tokener_parse(p),
			    TMO, &err);
	if (!r)
		fail_msg("migration.start: %s", err.msg);
	id = strdup(json_object_get_string(get(r, "id")));
	json_object_put(r);
	return id;
}

char *start(fx *f, const char *extra)
{
	return start_on(f->cs, f->dest, extra);
}

/* A phase nothing follows (in-doubt is settled later by the agent). */
static bool ended(const char *ph)
{
	return !strcmp(ph, "completed") || !strcmp(ph, "failed") ||
	       !strcmp(ph, "rolled-back") || !strcmp(ph, "cancelled");
}

/* Poll migration.status until a final phase; returns the last status. */
/* migration.status of @id on @cl (fails the test if the call fails). */
static json_object *status_of(rpc_client *cl, const char *id)
{
	qm_error err = QM_ERROR_INIT;
	char p[128];
	json_object *st;

	snprintf(p, sizeof(p), "{\"id\": \"%s\"}", id);
	st = rpc_client_call(cl, "migration.status", json_tokener_parse(p), TMO,
			     &err);
	if (!st)
		fail_msg("status: %s", err.msg);
	return st;
}

json_object *wait_final_on(rpc_client *cl, const char *id)
{
	int64_t deadline = qm_now_ms() + MIG_WAIT_MS;

	while (qm_now_ms() < deadline) {
		json_object *st = status_of(cl, id);
		const char *ph = json_object_get_string(get(st, "phase"));

		if (ended(ph) || !strcmp(ph, "in-doubt"))
			return st;
		json_object_put(st);
		usleep(100 * 1000);
	}
	fail_msg("migration %s did not end within %d ms", id, MIG_WAIT_MS);
	return NULL;
}

json_object *wait_final(fx *f, const char *id)
{
	return wait_final_on(f->cs, id);
}

/* The guest is still running on the source and nothing is corrupt. */
void expect_on_source(fx *f)
{
	qm_error err = QM_ERROR_INIT;
	uint64_t beats;

	assert_true(ql_vm_alive(&f->vm));
	gl_follow_process(&f->f, NULL);
	beats = f->f.log.hb_count + 200;
	if (!gl_follow_wait(&f->f, gl_pred_hb_count, &beats, "heartbeats",
			    TMO, &err))
		fail_msg("guest stopped on the source: %s", err.msg);
	assert_int_equal(f->f.log.corrupt_total, 0);
	assert_int_equal(f->f.log.hb_seq_breaks, 0);
}

const char *str(json_object *o, const char *k)
{
	const char *s = json_object_get_string(get(o, k));

	return s ? s : "";
}

/* The VM runs on the destination: continuity, no CORRUPT, listed there. */
void expect_on_dest(fx *f)
{
	char dpath[QL_PATH_MAX + 32];

	snprintf(dpath, sizeof(dpath), "%s/vms/g1/serial.log", f->dst.state_dir);
	expect_on_dest_serial(f, dpath);
}

void expect_on_dest_serial(fx *f, const char *dpath)
{
	qm_error err = QM_ERROR_INIT;
	uint64_t beats = 300;
	gl_continuity c;
	gl_follow df;
	rpc_client *cd;
	json_object *r;

	for (int i = 0; i < 100 && ql_vm_alive(&f->vm); i++)
		usleep(20 * 1000);
	assert_false(ql_vm_alive(&f->vm));
	if (!gl_follow_open(&df, dpath, GL_LOG_CONTINUES, &err) ||
	    !gl_follow_wait(&df, gl_pred_hb_count, &beats, "heartbeats", TMO,
			    &err))
		fail_msg("destination guest: %s", err.msg);
	gl_follow_process(&f->f, NULL);
	gl_continuity_check(&f->f.log, &df.log, &c);
	printf("# continuity %s: source last HB %llu, destination first %llu\n",
	       gl_verdict_name(c.verdict), (unsigned long long)c.src_last.seq,
	       (unsigned long long)c.dst_first.seq);
	assert_int_equal(c.verdict, GL_VERDICT_OK);
	assert_int_equal(df.log.corrupt_total, 0);
	gl_follow_close(&df);

	cd = rpc_client_connect(f->dst.rpc, TMO, &err);
	r = cd ? rpc_client_call(cd, "vm.list", NULL, TMO, &err) : NULL;
	if (!r)
		fail_msg("vm.list on the destination: %s", err.msg);
	assert_int_equal(json_object_array_length(get(r, "vms")), 1);
	assert_string_equal(str(json_object_array_get_idx(get(r, "vms"), 0),
				"name"), "g1");
	json_object_put(r);
	rpc_client_free(cd);
}

void fx_restart(fx *f, ql_agent *ag)
{
	const char *sargs[] = { "--psk-file", f->psk, "--peer-listen", f->back,
				NULL };
	const char *dargs[] = { "--psk-file", f->psk, "--peer-listen", f->dest,
				NULL };
	qm_error err = QM_ERROR_INIT;
	bool src = ag == &f->src;

	if (!ql_agent_restart(ag, src ? sargs : dargs, &err))
		fail_msg("restarting the %s agent: %s", src ? "source" :
			 "destination", err.msg);
	if (!src)
		return;
	rpc_client_free(f->cs);
	f->cs = rpc_client_connect(f->src.rpc, TMO, &err);
	if (!f->cs)
		fail_msg("connecting to the restarted source agent: %s",
			 err.msg);
}

json_object *wait_phase_on(rpc_client *cl, const char *id, const char *phase,
			   int ms)
{
	int64_t deadline = qm_now_ms() + ms;
	char last[32] = "";

	while (qm_now_ms() < deadline) {
		json_object *st = status_of(cl, id);
		const char *ph = str(st, "phase");

		if (!strcmp(ph, phase))
			return st;
		if (ended(ph))
			fail_msg("migration %s ended %s (error: %s), expected %s",
				 id, ph, str(st, "error"), phase);
		if (strcmp(last, ph)) {
			printf("# %.8s: %s (%s)\n", id, ph, str(st, "error"));
			snprintf(last, sizeof(last), "%s", ph);
		}
		json_object_put(st);
		usleep(50 * 1000);
	}
	fail_msg("migration %s not %s within %d ms", id, phase, ms);
	return NULL;
}

void wait_agent_dead(ql_agent *ag, int ms)
{
	int64_t deadline = qm_now_ms() + ms;

	while (ql_agent_alive(ag)) {
		if (qm_now_ms() > deadline)
			fail_msg("agent %d still alive after %d ms", (int)ag->pid,
				 ms);
		usleep(20 * 1000);
	}
}

void expect_start_refused(fx *f, const char *members, int code, char *msg,
			  size_t len)
{
	qm_error err = QM_ERROR_INIT;
	char p[512];
	json_object *r;

	snprintf(p, sizeof(p), "{\"vm\": \"g1\", \"dest\": \"%s\", %s}",
		 f->dest, members);
	r = rpc_client_call(f->cs, "migration.start", json_tokener_parse(p),
			    TMO, &err);
	if (r)
		fail_msg("%s: expected error %d, got %s", members, code,
			 json_object_to_json_string(r));
	printf("# %s -> %d %s\n", members, err.subclass, err.msg);
	assert_int_equal(err.subclass, code);
	if (msg)
		snprintf(msg, len, "%s", err.msg);
}
