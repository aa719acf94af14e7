/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Process identity across agent restarts. See procid.h.
 */
#define LOG_PREFIX "procid"
#include "agent/procid.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char boot_id[QM_BOOT_ID_LEN + 1];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void read_boot_id(void)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (f) {
		if (!fgets(boot_id, sizeof(boot_id), f))
			boot_id[0] = '\0';
		fclose(f);
	}
	boot_id[strcspn(boot_id, "\n")] = '\0';
}

const char *qm_boot_id(void)
{
	pthread_once(&boot_once, read_boot_id);
	return boot_id;
}

/* The start of /proc/@pid/@name, NUL-terminated, into @buf. */
static bool read_proc(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return true;
}

/* Field 22 of /proc/PID/stat and the state letter (field 3). The command
 * name (field 2) may hold spaces and parentheses: parse after the last
 * ')'. */
static bool read_stat(pid_t pid, uint64_t *start, char *state)
{
	char buf[1024], *p;
	unsigned long long v;

	if (!read_proc(pid, "stat", buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%*u %*u %*d %*d %*d %*d %*d %*d %llu", state,
			 &v) != 2)
		return false;
	*start = v;
	return true;
}

bool qm_proc_id_of(pid_t pid, qm_proc_id *out, qm_error *err)
{
	char state;

	memset(out, 0, sizeof(*out));
	if (pid <= 0 || !read_stat(pid, &out->start, &state) || state == 'Z')
		return qm_error_set(err, QM_ERR_NOTFOUND, "process %d is gone",
				    (int)pid);
	out->pid = pid;
	snprintf(out->boot, sizeof(out->boot), "%s", qm_boot_id());
	return true;
}

qm_proc_state qm_proc_check(const qm_proc_id *id)
{
	uint64_t start;
	char state;

	if (id->pid <= 0 || strcmp(id->boot, qm_boot_id()))
		return id->pid > 0 ? QM_PROC_OTHER : QM_PROC_GONE;
	if (!read_stat(id->pid, &start, &state) || state == 'Z')
		return QM_PROC_GONE;
	return start == id->start ? QM_PROC_SAME : QM_PROC_OTHER;
}

const char *qm_proc_state_name(qm_proc_state s)
{
	switch (s) {
	case QM_PROC_SAME:
		return "running";
	case QM_PROC_GONE:
		return "gone";
	default:
		return "replaced by another process";
	}
}

bool qm_proc_kill(const qm_proc_id *id, int timeout_ms, qm_error *err)
{
	struct pollfd p = { .events = POLLIN };
	qm_proc_state s;
	int rc;

	/* The pidfd pins the process that has the pid now; checked after
	 * it is open, the identity cannot change under us. */
	p.fd = (int)syscall(SYS_pidfd_open, id->pid, 0);
	if (p.fd < 0)
		return errno == ESRCH ? true : qm_error_errno(err, errno,
						"pidfd_open %d", (int)id->pid);
	s = qm_proc_check(id);
	if (s != QM_PROC_SAME) {
		close(p.fd);
		if (s == QM_PROC_GONE)
			return true;
		return qm_error_set(err, QM_ERR_STATE, "pid %d is %s: not "
				    "killed", (int)id->pid,
				    qm_proc_state_name(s));
	}
	if (syscall(SYS_pidfd_send_signal, p.fd, SIGKILL, NULL, 0) < 0 &&
	    errno != ESRCH) {
		qm_error_errno(err, errno, "killing %d", (int)id->pid);
		close(p.fd);
		return false;
	}
	/* Readable once the process has exited, whoever reaps it. */
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	close(p.fd);
	if (rc <= 0)
		return qm_error_set(err, QM_ERR_TIMEOUT, "process %d still runs "
				    "%d ms after SIGKILL", (int)id->pid,
				    timeout_ms);
	return true;
}

static bool is_qemu(pid_t pid)
{
	char buf[256];

	/* argv[0] is first: the NUL after it ends the string. */
	return read_proc(pid, "cmdline", buf, sizeof(buf)) &&
	       strstr(buf, "qemu-system") != NULL;
}

pid_t qm_proc_find_by_cwd(const char *dir)
{
	char want[PATH_MAX];
	struct dirent *de;
	pid_t found = 0;
	DIR *d;

	/* /proc/PID/cwd is canonical: compare like with like. */
	if (!realpath(dir, want))
		return 0;
	d = opendir("/proc");
	while (d && !found && (de = readdir(d))) {
		char path[64], cwd[4096];
		pid_t pid = (pid_t)atoi(de->d_name);
		ssize_t n;

		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
		n = readlink(path, cwd, sizeof(cwd) - 1);
		if (n <= 0)
			continue;
		cwd[n] = '\0';
		if (!strcmp(cwd, want) && is_qemu(pid))
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

json_object *qm_proc_id_to_json(const qm_proc_id *id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "pid", json_object_new_int(id->pid));
	json_object_object_add(o, "start",
			       json_object_new_int64((int64_t)id->start));
	json_object_object_add(o, "boot", json_object_new_string(id->boot));
	return o;
}

void qm_proc_id_from_json(json_object *o, qm_proc_id *id)
{
	json_object *pid, *start, *boot;

	memset(id, 0, sizeof(*id));
	if (!json_object_object_get_ex(o, "pid", &pid) ||
	    !json_object_object_get_ex(o, "start", &start) ||
	    !json_object_object_get_ex(o, "boot", &boot) ||
	    !json_object_is_type(pid, json_type_int) ||
	    !json_object_is_type(start, json_type_int) ||
	    !json_object_is_type(boot, json_type_string) ||
	    json_object_get_int(pid) <= 0)
		return;
	id->pid = (pid_t)json_object_get_int(pid);
	id->start = (uint64_t)json_object_get_int64(start);
	snprintf(id->boot, sizeof(id->boot), "%s", json_object_get_string(boot));
}
