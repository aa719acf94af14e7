/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * launch: start and stop qmigd for tests, the demo and the benchmarks.
 * See launch.h.
 */
#define LOG_PREFIX "launch"
#include "tools/launch/launch-int.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef QMIG_QMIGD_DEFAULT
#define QMIG_QMIGD_DEFAULT ""
#endif

#define AGENT_ARGS_MAX 48
#define AGENT_START_MS 10000
/* A restarted agent recovers before it serves. */
#define AGENT_RESTART_MS 20000

const char *ql_qmigd_binary(void)
{
	const char *env = getenv("QMIG_QMIGD");

	return env && *env ? env : QMIG_QMIGD_DEFAULT;
}

static bool socket_accepts(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = qm_format(sa.sun_path, sizeof(sa.sun_path), "%s", path) &&
	     connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static bool make_dir(ql_agent *a, const char *name, qm_error *err)
{
	const char *tmp = getenv("TMPDIR");

	if (!qm_format(a->dir, sizeof(a->dir), "%s/qmigd-%s-XXXXXX",
		       tmp && *tmp ? tmp : "/tmp", name) || !mkdtemp(a->dir)) {
		a->dir[0] = '\0';
		return qm_error_errno(err, errno, "creating agent dir");
	}
	if (!qm_format(a->state_dir, sizeof(a->state_dir), "%s/state",
		       a->dir) ||
	    !qm_format(a->rpc, sizeof(a->rpc), "unix:%s/rpc.sock", a->dir) ||
	    !qm_format(a->log_path, sizeof(a->log_path), "%s/qmigd.log",
		       a->dir))
		return qm_error_set(err, QM_ERR_TOO_BIG, "agent dir too long");
	return true;
}

/* Until @a's RPC socket accepts, for @ms; @log says why it died. */
static bool wait_rpc(ql_agent *a, const char *log, int ms, qm_error *err)
{
	int64_t deadline = qm_now_ms() + ms;
	char tail[1024];

	while (qm_now_ms() < deadline) {
		if (!ql_agent_alive(a)) {
			ql__log_tail(log, tail, sizeof(tail));
			return qm_error_set(err, QM_ERR_IO, "qmigd exited during "
					    "start-up: %s", tail);
		}
		if (socket_accepts(a->rpc + 5))
			return true;
		ql__sleep_ms(5);
	}
	return qm_error_set(err, QM_ERR_TIMEOUT, "qmigd's %s not ready after "
			    "%d ms", a->rpc, ms);
}

/* Run qmigd on @a's state dir and RPC socket, in @a's namespace, with
 * @extra_args, its output into @log; wait up to @ms for its socket. */
static bool spawn(ql_agent *a, const char *const *extra_args,
		  const char *log, bool append, int ms, qm_error *err)
{
	const char *bin = ql_qmigd_binary();
	char *argv[AGENT_ARGS_MAX + 1];
	char netns_path[QL_PATH_MAX];
	int n = 0;

	if (!*bin || access(bin, X_OK) < 0)
		return qm_error_set(err, QM_ERR_NOTFOUND, "qmigd binary '%s' "
				    "not found (set QMIG_QMIGD)", bin);
	if (!ql__netns_path(*a->netns ? a->netns : NULL, netns_path,
			    sizeof(netns_path), err))
		return false;
	argv[n++] = (char *)bin;
	argv[n++] = "--state-dir";
	argv[n++] = a->state_dir;
	argv[n++] = "--rpc";
	argv[n++] = a->rpc;
	for (const char *const *e = extra_args; e && *e; e++) {
		if (n >= AGENT_ARGS_MAX)
			return qm_error_set(err, QM_ERR_INVAL, "too many qmigd "
					    "args");
		argv[n++] = (char *)*e;
	}
	argv[n] = NULL;
	a->exited = false;
	a->pid = fork();
	if (a->pid < 0) {
		a->pid = 0;
		return qm_error_errno(err, errno, "fork");
	}
	if (a->pid == 0)
		ql__exec_logged(argv, log, append, netns_path);
	return wait_rpc(a, log, ms, err);
}

bool ql_agent_start(ql_agent *a, const char *name,
		    const char *const *extra_args, qm_error *err)
{
	return ql_agent_start_ns(a, name, NULL, extra_args, err);
}

bool ql_agent_start_ns(ql_agent *a, const char *name, const char *netns,
		       const char *const *extra_args, qm_error *err)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->netns, sizeof(a->netns), "%s", netns ? netns : "");
	if (make_dir(a, name, err) &&
	    spawn(a, extra_args, a->log_path, false, AGENT_START_MS, err))
		return true;
	ql_agent_stop(a);
	return false;
}

bool ql_agent_restart(ql_agent *a, const char *const *extra_args,
		      qm_error *err)
{
	char log[QL_PATH_MAX + 32];

	if (a->pid > 0)
		return qm_error_set(err, QM_ERR_STATE, "agent %d still runs",
				    (int)a->pid);
	if (!a->dir[0])
		return qm_error_set(err, QM_ERR_INVAL, "agent was never started");
	if (!qm_format(log, sizeof(log), "%s/qmigd-restart.log", a->dir))
		return qm_error_set(err, QM_ERR_TOO_BIG, "agent dir too long");
	return spawn(a, extra_args, log, true, AGENT_RESTART_MS, err);
}

bool ql_agent_alive(ql_agent *a)
{
	int status;

	if (a->pid <= 0)
		return false;
	if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
		a->exited = true;
		a->wait_status = status;
		a->pid = 0;
		return false;
	}
	return true;
}

void ql_agent_kill(ql_agent *a)
{
	if (a->pid <= 0)
		return;
	kill(a->pid, SIGKILL);
	waitpid(a->pid, &a->wait_status, 0);
	a->exited = true;
	a->pid = 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	return remove(path);
}

int ql_agent_stop(ql_agent *a)
{
	const char *keep = getenv("QMIG_KEEP");
	int status = a->exited ? a->wait_status : -1;

	if (a->pid > 0)
		status = ql__stop_pid(a->pid);
	a->pid = 0;
	if (!a->dir[0])
		return status;
	if (keep && *keep && strcmp(keep, "0")) {
		pr_info("keeping agent dir %s (QMIG_KEEP)", a->dir);
	} else if (nftw(a->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0) {
		/* The state dir holds subdirectories the agent made. */
		pr_warn("removing %s: %s", a->dir, strerror(errno));
	}
	a->dir[0] = '\0';
	return status;
}
