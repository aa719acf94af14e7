/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: run `ip` and `tc` without a shell, and say what they said when
 * they fail.
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGS_MAX 48
/* Where iproute2 lives when PATH (e.g. a non-login shell's) lacks sbin. */
#define SBIN_PATH "/usr/sbin:/sbin:/usr/bin:/bin"

volatile pid_t rig__tool_pid;

/* An executable regular file: access(X_OK) alone also accepts a
 * directory of that name (a library directory early in PATH may hold a
 * directory called "tc"). */
static bool is_program(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

static bool find_in(const char *dirs, const char *name, char *buf,
		    size_t len)
{
	const char *p, *colon;

	for (p = dirs; p && *p; p = colon + 1) {
		colon = strchrnul(p, ':');
		if (colon > p &&
		    qm_format(buf, len, "%.*s/%s", (int)(colon - p), p, name) &&
		    is_program(buf))
			return true;
		if (!*colon)
			break;
	}
	return false;
}

const char *rig__tool(const char *name)
{
	/* A handful of names; results are cached for the process. */
	static struct { char name[16]; char path[RIG_PATH]; } cache[4];
	unsigned i;

	for (i = 0; i < QM_ARRAY_SIZE(cache) && cache[i].name[0]; i++)
		if (!strcmp(cache[i].name, name))
			return cache[i].path;
	if (i == QM_ARRAY_SIZE(cache) || strlen(name) >= sizeof(cache[i].name))
		return NULL;
	if (!find_in(getenv("PATH"), name, cache[i].path,
		     sizeof(cache[i].path)) &&
	    !find_in(SBIN_PATH, name, cache[i].path, sizeof(cache[i].path)))
		return NULL;
	strcpy(cache[i].name, name);
	return cache[i].path;
}

/* Read both pipes to their end; keep what fits. */
static void drain(int fo, char *out, size_t out_len, int fe, char *eout,
		  size_t eout_len)
{
	struct pollfd p[2] = { { .fd = fo, .events = POLLIN },
			       { .fd = fe, .events = POLLIN } };
	size_t have[2] = { 0, 0 }, cap[2] = { out_len, eout_len };
	char *buf[2] = { out, eout }, sink[512];
	int open_fds = 2;

	while (open_fds) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;
			bool keep;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			keep = buf[i] && have[i] + 1 < cap[i];
			n = read(p[i].fd, keep ? buf[i] + have[i] : sink,
				 keep ? cap[i] - have[i] - 1 : sizeof(sink));
			if (n > 0) {
				if (keep)
					have[i] += n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			p[i].fd = -1;
			open_fds--;
		}
	}
	if (out && out_len)
		out[have[0]] = '\0';
	eout[have[1]] = '\0';
}

static void join_argv(const char *const *argv, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *argv && n + 1 < len; argv++) {
		int w = snprintf(buf + n, len - n, "%s%s", n ? " " : "",
				 *argv);

		if (w < 0)
			break;
		n += w;
	}
}

bool rig__run(const char *const *argv, char *out, size_t out_len,
	      qm_error *err)
{
	const char *path = rig__tool(argv[0]);
	char ebuf[768], cmd[256];
	int po[2], pe[2], status, null;
	pid_t pid;

	if (!path)
		return qm_error_set(err, QM_ERR_NOTFOUND, "'%s' not found in "
				    "PATH or %s", argv[0], SBIN_PATH);
	if (pipe2(po, O_CLOEXEC) < 0)
		return qm_error_errno(err, errno, "pipe");
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return qm_error_errno(err, errno, "pipe");
	}
	pid = fork();
	if (pid == 0) {
		/* A tool left running after a crash could still make a
		 * namespace nobody removes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		execv(path, (char *const *)argv);
		dprintf(STDERR_FILENO, "exec %s: %s", path, strerror(errno));
		_exit(127);
	}
	rig__tool_pid = pid > 0 ? pid : 0;
	close(po[1]);
	close(pe[1]);
	if (pid < 0) {
		close(po[0]);
		close(pe[0]);
		return qm_error_errno(err, errno, "fork");
	}
	drain(po[0], out, out_len, pe[0], ebuf, sizeof(ebuf));
	close(po[0]);
	close(pe[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rig__tool_pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	join_argv(argv, cmd, sizeof(cmd));
	for (size_t n = strlen(ebuf); n && (ebuf[n - 1] == '\n'); n--)
		ebuf[n - 1] = '\0';
	if (WIFEXITED(status))
		return qm_error_set(err, QM_ERR_IO, "`%s` failed (exit %d): %s",
				    cmd, WEXITSTATUS(status),
				    ebuf[0] ? ebuf : "(no output)");
	return qm_error_set(err, QM_ERR_IO, "`%s` killed by signal %d", cmd,
			    WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

bool rig__cmd(qm_error *err, const char *tool, ...)
{
	const char *argv[ARGS_MAX + 1];
	const char *a;
	va_list ap;
	int n = 0;

	argv[n++] = tool;
	va_start(ap, tool);
	while ((a = va_arg(ap, const char *)) && n < ARGS_MAX)
		argv[n++] = a;
	va_end(ap);
	if (a)
		return qm_error_set(err, QM_ERR_TOO_BIG, "%s: more than %d "
				    "arguments", tool, ARGS_MAX);
	argv[n] = NULL;
	return rig__run(argv, NULL, 0, err);
}
