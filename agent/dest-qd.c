/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination QEMU (Qd) of an incoming migration, one of two kinds:
 *
 *  launched  the agent forks and execs the rewritten source argv in the
 *            VM's directory (docs/LAUNCH.md), once the transport has
 *            created its RAM files; on failure it is killed and those
 *            files removed.
 *  adopted   the caller started Qd and named its QMP socket (dest_qmp of
 *            migration.start). It must be waiting for its migration
 *            (-incoming defer) and paused (-S), or it would run the VM
 *            before the agents verified its memory; every memory backend
 *            shared, with the source's ids and sizes (in compat mode with
 *            verify "none", QEMU checks the RAM itself and nothing needs
 *            to be shared). In agent mode the receiver writes
 *            straight into Qd's own RAM files, emptied first (their old
 *            content would be taken for the source's). On failure Qd is
 *            killed as a launched one would be (a half-loaded incoming
 *            QEMU cannot be used again) and its RAM files are emptied,
 *            not removed: they are the caller's.
 *
 * Either way, once Qd runs the VM it outlives the agent.
 */
#define LOG_PREFIX "dest"
#include "agent/mig-int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define QD_QMP_TIMEOUT_MS 10000
/* An adopted Qd runs already: a socket that is not there now will not
 * appear, so do not wait long for it. */
#define QD_ADOPT_CONNECT_MS 1000
#define QD_KILL_WAIT_MS 5000

const char *qd_qmp_addr(const dest_state *d)
{
	const ld_path *q;

	if (d->adopted)
		return d->qd_qmp;
	q = ld_result_qmp(&d->lr);
	return q ? q->dst : NULL;
}

/* ---- launched ---- */

static bool launch(dest_state *d, qm_error *err)
{
	char log[600];
	int fd;

	snprintf(log, sizeof(log), "%s/qemu.log", d->lr.vm_dir);
	d->qd_pid = fork();
	if (d->qd_pid < 0)
		return qm_error_errno(err, errno, "fork");
	if (d->qd_pid == 0) {
		sigset_t none;

		/* The agent blocks SIGINT/SIGTERM (signalfd) and ignores
		 * SIGPIPE; both would be inherited across exec. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Not tied to the agent: the VM must outlive an agent
		 * restart once it runs here. */
		setsid();
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, STDIN_FILENO);
		if (chdir(d->lr.vm_dir) < 0)
			_exit(126);
		closefrom(3);
		execv(d->lr.argv[0], d->lr.argv);
		_exit(127);
	}
	return true;
}

bool qd_launch(dest_state *d, qm_error *err)
{
	return d->adopted || launch(d, err);
}

bool qd_connect(dest_state *d, qm_error *err)
{
	const char *q = qd_qmp_addr(d);

	if (d->adopted)
		return true;
	if (!q)
		return qm_error_set(err, QM_ERR_UNSUPPORTED, "the VM's command "
				    "line has no QMP socket the agent can use");
	d->qd = qmp_conn_new(err);
	if (!d->qd || !qmp_connect(d->qd, q, QD_QMP_TIMEOUT_MS, err) ||
	    !qmp_wait_ready(d->qd, QD_QMP_TIMEOUT_MS, err)) {
		qm_error_prepend(err, "destination QEMU");
		return false;
	}
	return true;
}

/* ---- adopted ---- */

static bool has_arg(const ld_desc *desc, const char *opt, const char *value)
{
	for (size_t i = 1; i < desc->argc; i++) {
		const char *a = desc->argv[i];

		/* QEMU takes -opt and --opt alike */
		if (a[0] == '-' && a[1] == '-')
			a++;
		if (strcmp(a, opt))
			continue;
		if (!value || (i + 1 < desc->argc &&
			       !strcmp(desc->argv[i + 1], value)))
			return true;
	}
	return false;
}

/* Started to wait for us, paused, and nothing incoming yet. */
static bool check_waiting(dest_state *d, qm_error *err)
{
	qmp_migrate_info mi;
	qmp_status st;
	ld_desc desc;
	bool ok;

	if (!qmp_query_status(d->qd, &st, err))
		return false;
	if (st.state != QMP_RUN_STATE_INMIGRATE)
		return qm_error_set(err, QM_ERR_STATE, "it is '%s', not waiting "
				    "for a migration (start it with -incoming "
				    "defer -S)", st.status);
	ld_desc_init(&desc);
	ok = ld_desc_from_pid(&desc, d->qd_pid, err);
	if (ok && !has_arg(&desc, "-S", NULL))
		ok = qm_error_set(err, QM_ERR_UNSUPPORTED, "it was started "
				  "without -S: it would run the VM as soon as "
				  "QEMU's migration ends, before the agents "
				  "verified its memory");
	if (ok && !has_arg(&desc, "-incoming", "defer"))
		ok = qm_error_set(err, QM_ERR_UNSUPPORTED, "it was not started "
				  "with -incoming defer: the agent feeds it "
				  "the device state on a socket of its own");
	ld_desc_free(&desc);
	if (!ok || !qmp_query_migrate(d->qd, &mi, err))
		return false;
	if (mi.status != QMP_MIG_STATUS_NONE)
		return qm_error_set(err, QM_ERR_STATE, "its migration is '%s' "
				    "already", mi.status_str);
	return true;
}

static const ld_backend *source_backend(const dest_state *d, const char *id)
{
	for (size_t i = 0; i < d->lr.nbackends; i++)
		if (!strcmp(d->lr.backends[i].id, id))
			return &d->lr.backends[i];
	return NULL;
}

/*
 * Qd's RAM, as the transport will write it: one shared file per memory
 * backend, the same backends as the source's (by id and size; the page
 * numbering follows the ids). Mapped here only to find the files.
 */
static bool take_ram(dest_state *d, qm_error *err)
{
	dl_backend_info info[DL_MAX_REGIONS];
	dl_ram ram;
	bool ok;

	dl_ram_init(&ram);
	if (!dl_discover(d->qd, d->qd_pid, &ram, info, err))
		return false;
	ok = (size_t)ram.nregions == d->lr.nbackends ||
	     qm_error_set(err, QM_ERR_INVAL, "it has %d memory backend(s), the "
			  "source %zu", ram.nregions, d->lr.nbackends);
	for (int i = 0; ok && i < ram.nregions; i++) {
		const dl_region *rg = &ram.regions[i];
		const ld_backend *b = source_backend(d, rg->id);

		if (!b)
			ok = qm_error_set(err, QM_ERR_INVAL, "its memory backend "
					  "'%s' is not the source's", rg->id);
		else if (b->has_size && b->size != rg->size)
			ok = qm_error_set(err, QM_ERR_INVAL, "memory backend "
					  "'%s' has %llu bytes, the source's "
					  "%llu", rg->id,
					  (unsigned long long)rg->size,
					  (unsigned long long)b->size);
		snprintf(d->qd_ram[i].id, sizeof(d->qd_ram[i].id), "%s",
			 rg->id);
		snprintf(d->qd_ram[i].path, sizeof(d->qd_ram[i].path), "%s",
			 info[i].path);
		d->qd_ram[i].size = rg->size;
	}
	d->qd_nram = ok ? ram.nregions : 0;
	dl_ram_close(&ram);
	return ok;
}

bool qd_adopt(dest_state *d, qm_error *err)
{
	bool ok;

	d->qd = qmp_conn_new(err);
	ok = d->qd && qmp_connect(d->qd, d->qd_qmp, QD_ADOPT_CONNECT_MS, err) &&
	     qmp_wait_ready(d->qd, QD_QMP_TIMEOUT_MS, err);
	if (ok) {
		d->qd_pid = qmp_peer_pid(d->qd);
		ok = d->qd_pid > 0 ||
		     qm_error_set(err, QM_ERR_UNSUPPORTED, "its pid is unknown "
				  "(give a unix socket)");
	}
	/* Compat mode unverified: QEMU checks its RAM blocks against the
	 * source's itself, and they need not be shared. */
	ok = ok && qm_proc_id_of(d->qd_pid, &d->qd_id, err) &&
	     check_waiting(d, err) &&
	     ((d->m->p.compat && d->m->p.verify == MIG_VERIFY_NONE) ||
	      take_ram(d, err));
	if (!ok) {
		qm_error_prepend(err, "destination QEMU at %s", d->qd_qmp);
		qmp_conn_free(d->qd);
		d->qd = NULL;
		/* Not ours to kill: nothing was done to it yet. */
		d->qd_pid = 0;
		return false;
	}
	pr_info("migration %s: adopted the destination QEMU at %s (pid %d)",
		d->m->id, d->qd_qmp, (int)d->qd_pid);
	return true;
}

/* ---- both ---- */

bool qd_block_path(dest_state *d, const char *id, uint64_t size, char *path,
		   size_t len)
{
	if (d->adopted) {
		for (int i = 0; i < d->qd_nram; i++)
			if (!strcmp(d->qd_ram[i].id, id) &&
			    d->qd_ram[i].size == size)
				return qm_format(path, len, "%s",
						 d->qd_ram[i].path);
		return false;
	}
	for (size_t i = 0; i < d->lr.nbackends; i++) {
		const ld_backend *b = &d->lr.backends[i];

		if (strcmp(b->id, id) || b->path < 0 ||
		    (b->has_size && b->size != size))
			continue;
		/* A leftover of an earlier migration would be trusted as
		 * zero pages: start from an empty file. */
		unlink(d->lr.paths[b->path].dst);
		return qm_format(path, len, "%s", d->lr.paths[b->path].dst);
	}
	return false;
}

bool qd_alive(dest_state *d, qm_error *err)
{
	int status;

	if (d->qd_pid <= 0)
		return true;
	if (d->adopted) {
		if (qm_proc_check(&d->qd_id) == QM_PROC_SAME)
			return true;
		d->qd_pid = 0;
		return qm_error_set(err, QM_ERR_IO, "destination QEMU exited");
	}
	if (waitpid(d->qd_pid, &status, WNOHANG) != d->qd_pid)
		return true;
	d->qd_pid = 0;
	if (WIFSIGNALED(status))
		return qm_error_set(err, QM_ERR_IO, "destination QEMU killed by "
				    "signal %d", WTERMSIG(status));
	return qm_error_set(err, QM_ERR_IO, "destination QEMU exited with "
			    "status %d", WEXITSTATUS(status));
}

void qd_kill(dest_state *d)
{
	qm_error err = QM_ERROR_INIT;

	if (d->qd_pid <= 0)
		return;
	if (d->adopted) {
		if (!qm_proc_kill(&d->qd_id, QD_KILL_WAIT_MS, &err))
			pr_err("migration %s: the destination QEMU (pid %d) "
			       "could not be killed: %s", d->m->id,
			       (int)d->qd_pid, err.msg);
	} else {
		kill(d->qd_pid, SIGKILL);
		waitpid(d->qd_pid, NULL, 0);
	}
	d->qd_pid = 0;
}

/* Qd's RAM after a failure: ours removed; the caller's emptied, so no
 * half-copied guest memory stays allocated or readable there. */
void qd_release_ram(dest_state *d)
{
	if (!d->adopted) {
		for (size_t i = 0; i < d->lr.npaths; i++)
			if (d->lr.paths[i].kind == LD_PATH_MEMORY)
				unlink(d->lr.paths[i].dst);
		return;
	}
	for (int i = 0; i < d->qd_nram; i++) {
		int fd = open(d->qd_ram[i].path, O_WRONLY | O_CLOEXEC);

		/* A memfd went with its QEMU: ENOENT is fine. */
		if (fd < 0)
			continue;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			      (off_t)d->qd_ram[i].size) < 0)
			pr_warn("migration %s: emptying %s: %s", d->m->id,
				d->qd_ram[i].path, strerror(errno));
		close(fd);
	}
}
