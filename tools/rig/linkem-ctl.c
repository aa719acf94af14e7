/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: starting, reconfiguring and stopping qmig-linkem in a rig's link
 * namespace, and reading its stats file (protocol in linkem.h).
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"
#include "tools/rig/linkem.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef QMIG_LINKEM_DEFAULT
#define QMIG_LINKEM_DEFAULT ""
#endif

#define LINKEM_READY_MS 3000
#define LINKEM_STOP_MS 2000

const char *rig__linkem_binary(void)
{
	static char path[512];
	const char *env = getenv("QMIG_LINKEM");
	char self[400];
	ssize_t n;

	if (env && *env)
		return env;
	/* Installed: next to the program using the rig (qmig-rig). */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if (qm_format(path, sizeof(path), "%s/qmig-linkem",
			      dirname(self)) && access(path, X_OK) == 0)
			return path;
	}
	if (*QMIG_LINKEM_DEFAULT && access(QMIG_LINKEM_DEFAULT, X_OK) == 0)
		return QMIG_LINKEM_DEFAULT;
	return rig__tool("qmig-linkem");
}

/* "/proc/<pid>/<what>" without snprintf (signal handlers). */
static void proc_path(char *buf, pid_t pid, const char *what)
{
	char digits[16];
	int n = 0;

	do {
		digits[n++] = '0' + pid % 10;
		pid /= 10;
	} while (pid && n < (int)sizeof(digits));
	memcpy(buf, "/proc/", 6);
	buf += 6;
	while (n)
		*buf++ = digits[--n];
	*buf++ = '/';
	strcpy(buf, what);
}

bool rig__linkem_verify(pid_t pid, const char *ns_path)
{
	char path[64], comm[32];
	uint64_t want = rig__ns_inode(ns_path);
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	proc_path(path, pid, "comm");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	if (strcmp(comm, "qmig-linkem\n"))
		return false;
	/* A recycled pid running some other rig's linkem is not ours. */
	proc_path(path, pid, "ns/net");
	return !want || rig__ns_inode(path) == want;
}

static bool gone(rig *r, pid_t pid)
{
	char path[64], st[64];
	ssize_t n;
	int fd;

	if (r->linkem_child) {
		pid_t w = waitpid(pid, &r->linkem_status, WNOHANG);

		return w == pid || (w < 0 && errno == ECHILD);
	}
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	/* Not our child: a zombie waits for its own parent, but is gone. */
	proc_path(path, pid, "stat");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, st, sizeof(st) - 1);
	close(fd);
	if (n <= 0)
		return true;
	st[n] = '\0';
	return strstr(st, ") Z") != NULL;
}

static bool wait_gone(rig *r, pid_t pid, int ms)
{
	struct timespec ts = { 0, 5 * 1000000L };

	for (int i = 0; i < ms / 5; i++) {
		if (gone(r, pid))
			return true;
		nanosleep(&ts, NULL);
	}
	return gone(r, pid);
}

void rig__linkem_stop(rig *r)
{
	pid_t pid = r->linkem;

	if (pid <= 0)
		return;
	r->linkem = 0;
	r->linkem_status = -1;
	if (!r->linkem_child &&
	    !rig__linkem_verify(pid, r->ns_path[RIG_NS_LINK]))
		return;
	if (r->linkem_child && gone(r, pid))
		return; /* it had ended already: linkem_status says how */
	kill(pid, SIGTERM);
	if (!wait_gone(r, pid, LINKEM_STOP_MS)) {
		kill(pid, SIGKILL);
		wait_gone(r, pid, LINKEM_STOP_MS);
	}
	r->linkem_child = false;
}

static void log_tail(const char *path, char *out, size_t len);

void rig__linkem_stop_checked(rig *r)
{
	char tail[400];
	int st;

	if (r->linkem <= 0 || !r->linkem_child) {
		rig__linkem_stop(r);
		return;
	}
	rig__linkem_stop(r);
	st = r->linkem_status;
	/* Exit 0 after our SIGTERM is the normal end. */
	if (st == -1 || (WIFEXITED(st) && WEXITSTATUS(st) == 0))
		return;
	log_tail(r->log_path, tail, sizeof(tail));
	if (WIFSIGNALED(st))
		pr_warn("rig %s: qmig-linkem was killed by signal %d: %s",
			r->prefix, WTERMSIG(st), tail);
	else
		pr_warn("rig %s: qmig-linkem exited with status %d: %s",
			r->prefix, WEXITSTATUS(st), tail);
}

static bool write_conf(rig *r, const rig_link *l, qm_error *err)
{
	char tmp[RIG_PATH + 8];
	unsigned long long delay_us = l->rtt_ms * 1000.0 / 2 + 0.5;
	unsigned long long loss_ppm = l->loss_pct * 10000.0 + 0.5;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", r->conf_path);
	f = fopen(tmp, "we");
	if (!f)
		return qm_error_errno(err, errno, "writing %s", tmp);
	fprintf(f, "gen %llu\ndelay_us %llu\nloss_ppm %llu\n",
		(unsigned long long)r->conf_gen + 1, delay_us, loss_ppm);
	if (fclose(f) != 0 || rename(tmp, r->conf_path) < 0) {
		qm_error_errno(err, errno, "writing %s", r->conf_path);
		unlink(tmp);
		return false;
	}
	r->conf_gen++;
	return true;
}

static bool read_stats(const char *path, linkem_stats *s)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, s, sizeof(*s), 0);
	close(fd);
	return n == (ssize_t)sizeof(*s) && s->magic == LINKEM_STATS_MAGIC;
}

static void log_tail(const char *path, char *out, size_t len)
{
	char buf[512];
	ssize_t n = 0;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0)
		n = pread(fd, buf, sizeof(buf) - 1,
			  size > (off_t)sizeof(buf) - 1 ?
			  size - (off_t)sizeof(buf) + 1 : 0);
	close(fd);
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n < 0)
		n = 0;
	/* Keep the end: the last lines say why it stopped. */
	if ((size_t)n >= len) {
		memmove(buf, buf + n - (len - 1), len - 1);
		n = len - 1;
	}
	memcpy(out, buf, n);
	out[n] = '\0';
}

/* Until linkem runs with the settings of generation @gen. */
static bool wait_applied(rig *r, uint64_t gen, qm_error *err)
{
	int64_t deadline = qm_now_ms() + LINKEM_READY_MS;
	struct timespec ts = { 0, 2 * 1000000L };
	char tail[400];
	linkem_stats s;

	while (qm_now_ms() < deadline) {
		if (read_stats(r->stats_path, &s) &&
		    s.pid == (uint64_t)r->linkem && s.conf_gen == gen)
			return true;
		if (gone(r, r->linkem)) {
			r->linkem = 0;
			log_tail(r->log_path, tail, sizeof(tail));
			return qm_error_set(err, QM_ERR_IO, "qmig-linkem exited: "
					    "%s", tail[0] ? tail : "(no output)");
		}
		nanosleep(&ts, NULL);
	}
	return qm_error_set(err, QM_ERR_TIMEOUT, "qmig-linkem (pid %d) did not "
			    "apply settings generation %llu within %d ms",
			    (int)r->linkem, (unsigned long long)gen,
			    LINKEM_READY_MS);
}

bool rig__linkem_start(rig *r, const rig_link *l, qm_error *err)
{
	const char *bin = rig__linkem_binary();
	bool owned = r->owner == getpid();
	pid_t parent = getpid();
	char owner[16];
	const char *argv[12];
	bool main_thread = gettid() == parent;
	int nsfd, log, null, n = 0;
	pid_t pid;

	if (!bin)
		return qm_error_set(err, QM_ERR_NOTFOUND, "qmig-linkem not "
				    "found (build it, or set QMIG_LINKEM)");
	argv[n++] = bin;
	if (owned) {
		/* linkem ends with this process (not with this thread). */
		snprintf(owner, sizeof(owner), "%d", (int)parent);
		argv[n++] = "--owner";
		argv[n++] = owner;
	}
	argv[n++] = "--control";
	argv[n++] = r->conf_path;
	argv[n++] = "--stats";
	argv[n++] = r->stats_path;
	argv[n++] = RIG_IF_LSRC;
	argv[n++] = RIG_IF_LDST;
	argv[n] = NULL;
	if (!write_conf(r, l, err))
		return false;
	unlink(r->stats_path);
	nsfd = open(r->ns_path[RIG_NS_LINK], O_RDONLY | O_CLOEXEC);
	log = open(r->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		   0644);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || log < 0 || null < 0) {
		qm_error_errno(err, errno, "opening %s or %s",
			       r->ns_path[RIG_NS_LINK], r->log_path);
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		qm_error_errno(err, errno, "fork");
		goto fail;
	}
	if (pid == 0) {
		if (owned) {
			/* --owner covers every way the process ends; forked
			 * from the main thread, PDEATHSIG says the same, one
			 * step earlier (before linkem runs). */
			if (main_thread)
				prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(0);
		} else {
			setsid();
		}
		dup2(null, STDIN_FILENO);
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		if (setns(nsfd, CLONE_NEWNET) < 0) {
			dprintf(STDERR_FILENO, "setns %s: %s\n",
				r->ns_path[RIG_NS_LINK], strerror(errno));
			_exit(126);
		}
		closefrom(3);
		execv(bin, (char *const *)argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(nsfd);
	close(log);
	close(null);
	r->linkem = pid;
	r->linkem_child = true;
	r->linkem_status = -1;
	if (wait_applied(r, r->conf_gen, err))
		return true;
	rig__linkem_stop(r);
	return false;
fail:
	if (nsfd >= 0)
		close(nsfd);
	if (log >= 0)
		close(log);
	if (null >= 0)
		close(null);
	return false;
}

bool rig__linkem_running(rig *r)
{
	if (r->linkem <= 0)
		return false;
	if (r->linkem_child ? gone(r, r->linkem) :
	    !rig__linkem_verify(r->linkem, r->ns_path[RIG_NS_LINK])) {
		r->linkem = 0;
		r->linkem_child = false;
		return false;
	}
	return true;
}

bool rig__linkem_reconf(rig *r, const rig_link *l, qm_error *err)
{
	if (!r->linkem_child &&
	    !rig__linkem_verify(r->linkem, r->ns_path[RIG_NS_LINK]))
		return qm_error_set(err, QM_ERR_STATE, "rig '%s': its qmig-linkem "
				    "(pid %d) is not running", r->prefix,
				    (int)r->linkem);
	if (!write_conf(r, l, err))
		return false;
	if (kill(r->linkem, SIGHUP) < 0)
		return qm_error_errno(err, errno, "signalling qmig-linkem %d",
				      (int)r->linkem);
	return wait_applied(r, r->conf_gen, err);
}

bool rig__linkem_stats(const rig *r, int dir, rig_stats *st, qm_error *err)
{
	linkem_stats s;
	const linkem_dir_stats *d;

	if (!read_stats(r->stats_path, &s))
		return qm_error_set(err, QM_ERR_IO, "no qmig-linkem stats in %s",
				    r->stats_path);
	d = &s.dir[dir];
	st->link_pkts = d->pkts_in;
	st->link_lost = d->lost;
	st->link_dropped = d->overflow + d->send_err + d->sock_drops;
	st->link_split = d->split;
	return true;
}
