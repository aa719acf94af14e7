/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Restarting a killed qmigd on its old state. See restart.h.
 */
#include "tests/integration/agent/restart.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTART_ARGS_MAX 32
/* The new agent recovers before it serves; its socket accepts at once. */
#define RESTART_READY_MS 20000

static bool accepts(const char *path)
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

static void __attribute__((noreturn)) child(char **argv, const char *log,
					    const char *netns)
{
	int null = open("/dev/null", O_RDONLY);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	char ns_path[128];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (null < 0 || fd < 0)
		_exit(127);
	/* Back into the namespace the first start used (a rig side). */
	if (*netns) {
		int ns;

		snprintf(ns_path, sizeof(ns_path), "/run/netns/%s", netns);
		ns = open(ns_path, O_RDONLY | O_CLOEXEC);
		if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
			_exit(126);
		close(ns);
	}
	dup2(null, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	closefrom(3);
	execv(argv[0], argv);
	_exit(127);
}

bool agent_restart(ql_agent *a, const char *const *extra_args,
		   qm_error *err)
{
	char *argv[RESTART_ARGS_MAX + 1], log[QL_PATH_MAX + 32];
	int64_t deadline;
	int n = 0, status;
	pid_t pid;

	if (a->pid > 0)
		return qm_error_set(err, QM_ERR_STATE, "agent %d still runs",
				    (int)a->pid);
	if (!a->dir[0] || strncmp(a->rpc, "unix:", 5))
		return qm_error_set(err, QM_ERR_INVAL, "agent was never started");
	snprintf(log, sizeof(log), "%s/qmigd-restart.log", a->dir);
	argv[n++] = (char *)ql_qmigd_binary();
	argv[n++] = "--state-dir";
	argv[n++] = a->state_dir;
	argv[n++] = "--rpc";
	argv[n++] = a->rpc;
	for (const char *const *e = extra_args; e && *e; e++) {
		if (n >= RESTART_ARGS_MAX)
			return qm_error_set(err, QM_ERR_INVAL, "too many args");
		argv[n++] = (char *)*e;
	}
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return qm_error_errno(err, errno, "fork");
	if (pid == 0)
		child(argv, log, a->netns);
	a->pid = pid;
	a->exited = false;
	deadline = qm_now_ms() + RESTART_READY_MS;
	while (qm_now_ms() < deadline) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			a->pid = 0;
			a->exited = true;
			a->wait_status = status;
			return qm_error_set(err, QM_ERR_IO, "restarted qmigd "
					    "exited (status 0x%x), see %s",
					    status, log);
		}
		if (accepts(a->rpc + 5))
			return true;
		usleep(5 * 1000);
	}
	return qm_error_set(err, QM_ERR_TIMEOUT, "restarted qmigd not ready "
			    "after %d ms", RESTART_READY_MS);
}
