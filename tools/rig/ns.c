/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: entering the namespaces, for a child (rig_enter) or for a moment on
 * the caller's thread (sockets, /proc/thread-self/net reads).
 *
 * setns(CLONE_NEWNET) moves only the calling thread and is allowed in a
 * multithreaded process, so a thread can visit a namespace and come back
 * while the others carry on.
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

bool rig__setns_path(const char *path, qm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return qm_error_errno(err, errno, "network namespace %s", path);
	if (setns(fd, CLONE_NEWNET) < 0) {
		qm_error_errno(err, errno, "setns %s", path);
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

uint64_t rig__ns_inode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

bool rig__in_ns(const char *path, bool (*fn)(void *arg, qm_error *err),
		void *arg, qm_error *err)
{
	int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	bool ok;

	if (home < 0)
		return qm_error_errno(err, errno, "own network namespace");
	if (!rig__setns_path(path, err)) {
		close(home);
		return false;
	}
	ok = fn(arg, err);
	/* A thread stranded in a rig namespace would make every later
	 * socket of the caller silently live there: better to stop. */
	if (setns(home, CLONE_NEWNET) < 0) {
		pr_err("cannot return to the original network namespace: %s",
		       strerror(errno));
		abort();
	}
	close(home);
	return ok;
}

static const char *side_path(const rig *r, rig_side s, qm_error *err)
{
	if (!r || (s != RIG_SRC && s != RIG_DST)) {
		qm_error_set(err, QM_ERR_INVAL, "rig side %d: expected RIG_SRC "
			     "or RIG_DST", (int)s);
		return NULL;
	}
	return r->ns_path[s];
}

bool rig_enter(const rig *r, rig_side s, qm_error *err)
{
	const char *path = side_path(r, s, err);

	return path && rig__setns_path(path, err);
}

typedef struct sock_args {
	int domain, type, protocol;
	int fd;
} sock_args;

static bool make_socket(void *arg, qm_error *err)
{
	sock_args *a = arg;

	a->fd = socket(a->domain, a->type, a->protocol);
	return a->fd >= 0 || qm_error_errno(err, errno, "socket");
}

int rig_socket(const rig *r, rig_side s, int domain, int type, int protocol,
	       qm_error *err)
{
	sock_args a = { domain, type, protocol, -1 };
	const char *path = side_path(r, s, err);

	if (!path || !rig__in_ns(path, make_socket, &a, err))
		return -1;
	return a.fd;
}
