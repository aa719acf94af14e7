/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: can this process build rigs here? Asked of the kernel itself, in a
 * scratch namespace, once per process: tools present, namespaces allowed,
 * veth, tbf, clsact + u32 + mirred; then netem, or else AF_PACKET and a
 * qmig-linkem binary for delay and loss.
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_state;             /* 0 not probed, 1 usable, -1 not */
static bool g_netem;
static char g_why[QM_ERROR_MSG_MAX];

static bool probe_ns(const char *ns, qm_error *err)
{
	const char *bin;

	if (!rig__cmd(err, "ip", "-n", ns, "link", "add", "pa", "type", "veth",
		      "peer", "name", "pb", NULL)) {
		qm_error_prepend(err, "veth");
		return false;
	}
	if (!rig__cmd(err, "tc", "-n", ns, "qdisc", "add", "dev", "pa", "root",
		      "tbf", "rate", "100mbit", "burst", "16384", "latency",
		      "50ms", NULL)) {
		qm_error_prepend(err, "tc qdisc tbf");
		return false;
	}
	if (!rig__cmd(err, "tc", "-n", ns, "qdisc", "add", "dev", "pb",
		      "clsact", NULL) ||
	    !rig__cmd(err, "tc", "-n", ns, "filter", "add", "dev", "pb",
		      "ingress", "protocol", "all", "prio", "1", "u32", "match",
		      "u32", "0", "0", "action", "mirred", "egress", "redirect",
		      "dev", "pa", NULL)) {
		qm_error_prepend(err, "tc clsact, u32 and mirred");
		return false;
	}
	g_netem = rig__cmd(NULL, "tc", "-n", ns, "qdisc", "add", "dev", "pb",
			   "root", "netem", "delay", "1ms", NULL);
	if (!g_netem) {
		int fd = socket(AF_PACKET, SOCK_RAW, 0);

		if (fd < 0)
			return qm_error_errno(err, errno, "no netem in this "
					      "kernel, and no AF_PACKET socket "
					      "for qmig-linkem");
		close(fd);
		bin = rig__linkem_binary();
		if (!bin || access(bin, X_OK) < 0)
			return qm_error_set(err, QM_ERR_UNSUPPORTED, "no netem "
					    "in this kernel, and no qmig-linkem "
					    "to run (%s; set QMIG_LINKEM)",
					    bin ? bin : "not found");
	}
	return true;
}

static bool probe(qm_error *err)
{
	char ns[32], path[64];
	bool ok;

	if (!rig__tool("ip") || !rig__tool("tc"))
		return qm_error_set(err, QM_ERR_UNSUPPORTED, "iproute2's ip "
				    "and tc are needed, not found in PATH or "
				    "the sbin directories");
	snprintf(ns, sizeof(ns), "qmigprobe%d", (int)getpid());
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if (!rig__cmd(err, "ip", "netns", "add", ns, NULL)) {
		qm_error_prepend(err, "cannot make a network namespace (needs "
				 "root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)");
		return false;
	}
	ok = probe_ns(ns, err);
	umount2(path, MNT_DETACH);
	unlink(path);
	return ok;
}

bool rig__probe(qm_error *err)
{
	qm_error e = QM_ERROR_INIT;

	pthread_mutex_lock(&g_lock);
	if (!g_state) {
		g_state = probe(&e) ? 1 : -1;
		snprintf(g_why, sizeof(g_why), "%s", e.msg);
		if (g_state > 0)
			pr_debug("rig: delay and loss by %s",
				 g_netem ? "netem" : "qmig-linkem");
	}
	pthread_mutex_unlock(&g_lock);
	if (g_state < 0)
		return qm_error_set(err, QM_ERR_UNSUPPORTED, "%s", g_why);
	return true;
}

bool rig__netem_ok(void)
{
	return rig__probe(NULL) && g_netem;
}

bool rig_available(char *why, size_t why_len)
{
	qm_error e = QM_ERROR_INIT;
	bool ok = rig__probe(&e);

	if (!ok && why && why_len)
		snprintf(why, why_len, "%s", e.msg);
	return ok;
}
