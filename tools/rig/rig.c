/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: bringing rigs up and down, and the per-process list that
 * rig_down_all() walks from atexit and signal handlers. See rig.h.
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RIG_MAX 16

static const char *const side_addr[2] = { "10.213.0.1", "10.213.0.2" };
static const char *const side_if[2] = { RIG_IF_SRC, RIG_IF_DST };

/* Read by signal handlers without the lock: slots are single pointers. */
static rig *volatile g_rigs[RIG_MAX];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static bool reg_add(rig *r, qm_error *err)
{
	bool ok = false;

	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < RIG_MAX && !ok; i++)
		if (!g_rigs[i]) {
			g_rigs[i] = r;
			ok = true;
		}
	pthread_mutex_unlock(&g_lock);
	return ok || qm_error_set(err, QM_ERR_TOO_BIG, "more than %d rigs in "
				  "one process", RIG_MAX);
}

static void reg_del(rig *r)
{
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < RIG_MAX; i++)
		if (g_rigs[i] == r)
			g_rigs[i] = NULL;
	pthread_mutex_unlock(&g_lock);
}

void rig_down_all(void)
{
	pid_t self = getpid();
	pid_t tool = rig__tool_pid;

	/* An `ip netns add` still running could make a namespace after
	 * the teardown below. */
	if (tool > 0) {
		kill(tool, SIGKILL);
		waitpid(tool, NULL, 0);
	}
	for (int i = 0; i < RIG_MAX; i++) {
		rig *r = g_rigs[i];

		/* Rigs of the process, not of a forked child calling exit. */
		if (r && !r->down && r->owner == self)
			rig__teardown(r);
	}
}

static void on_fatal_signal(int sig)
{
	rig_down_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void rig_install_cleanup(void)
{
	/* The signals that end a process by default; a crash too (the
	 * teardown is a few system calls on paths computed in advance). */
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE,
				    SIGABRT, SIGSEGV, SIGBUS };
	static int done;
	struct sigaction sa = { .sa_handler = on_fatal_signal }, old;

	if (__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST))
		return;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < QM_ARRAY_SIZE(sigs); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	/* A signal the caller ignores or handles stays as it is (a server
	 * ignoring SIGPIPE must not start dying of it). */
	for (size_t i = 0; i < QM_ARRAY_SIZE(sigs); i++)
		if (sigaction(sigs[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO))
			sigaction(sigs[i], &sa, NULL);
	atexit(rig_down_all);
}

/* ---- building ---- */

static bool iface_up(rig *r, int ns, const char *dev, qm_error *err)
{
	/* No IPv6 link-local address: no router solicitations or DAD
	 * frames in the counters, and none for linkem to carry. */
	return rig__cmd(err, "ip", "-n", r->ns[ns], "link", "set", "dev", dev,
			"addrgenmode", "none", NULL) &&
	       rig__cmd(err, "ip", "-n", r->ns[ns], "link", "set", "dev", dev,
			"up", NULL);
}

static bool build(rig *r, qm_error *err)
{
	const char *link = r->ns[RIG_NS_LINK];
	char addr[32];

	for (int i = 0; i < RIG_NS_N; i++) {
		if (!rig__cmd(err, "ip", "netns", "add", r->ns[i], NULL))
			return false;
		r->made_ns[i] = true;
	}
	if (!rig__cmd(err, "ip", "link", "add", RIG_IF_SRC, "netns",
		      r->ns[RIG_NS_SRC], "type", "veth", "peer", "name",
		      RIG_IF_LSRC, "netns", link, NULL) ||
	    !rig__cmd(err, "ip", "link", "add", RIG_IF_DST, "netns",
		      r->ns[RIG_NS_DST], "type", "veth", "peer", "name",
		      RIG_IF_LDST, "netns", link, NULL))
		return false;
	if (!iface_up(r, RIG_NS_LINK, RIG_IF_LSRC, err) ||
	    !iface_up(r, RIG_NS_LINK, RIG_IF_LDST, err))
		return false;
	for (int s = 0; s < 2; s++) {
		snprintf(addr, sizeof(addr), "%s/24", side_addr[s]);
		if (!iface_up(r, s, side_if[s], err) ||
		    !rig__cmd(err, "ip", "-n", r->ns[s], "addr", "add", addr,
			      "dev", side_if[s], NULL) ||
		    !rig__cmd(err, "ip", "-n", r->ns[s], "link", "set", "dev",
			      "lo", "up", NULL))
			return false;
	}
	/* The kernel forwarder until the shaping asks for another. */
	return rig__cmd(err, "tc", "-n", link, "qdisc", "add", "dev",
			RIG_IF_LSRC, "clsact", NULL) &&
	       rig__cmd(err, "tc", "-n", link, "qdisc", "add", "dev",
			RIG_IF_LDST, "clsact", NULL) &&
	       rig__cmd(err, "tc", "-n", link, "filter", "add", "dev",
			RIG_IF_LSRC, "ingress", "protocol", "all", "prio", "1",
			"u32", "match", "u32", "0", "0", "action", "mirred",
			"egress", "redirect", "dev", RIG_IF_LDST, NULL) &&
	       rig__cmd(err, "tc", "-n", link, "filter", "add", "dev",
			RIG_IF_LDST, "ingress", "protocol", "all", "prio", "1",
			"u32", "match", "u32", "0", "0", "action", "mirred",
			"egress", "redirect", "dev", RIG_IF_LSRC, NULL);
}

static rig *rig_new(const char *prefix, qm_error *err)
{
	rig *r = calloc(1, sizeof(*r));

	if (!r) {
		qm_error_set(err, QM_ERR_NOMEM, "rig");
		return NULL;
	}
	if (!rig__names(r, prefix, err)) {
		free(r);
		return NULL;
	}
	r->linkem_status = -1;
	return r;
}

static rig *up(const char *prefix, const rig_link *l, bool owned,
	       qm_error *err)
{
	rig *r;

	if (!l) {
		qm_error_set(err, QM_ERR_INVAL, "rig '%s': no link settings",
			     prefix ? prefix : "");
		return NULL;
	}
	r = rig_new(prefix, err);
	if (!r)
		return NULL;
	if (!rig__probe(err)) {
		free(r);
		return NULL;
	}
	r->owner = owned ? getpid() : 0;
	if (owned && !reg_add(r, err)) {
		free(r);
		return NULL;
	}
	if (mkdir(RIG_RUN_DIR, 0755) < 0 && errno != EEXIST) {
		qm_error_errno(err, errno, "creating %s", RIG_RUN_DIR);
		goto fail;
	}
	/* The run dir is the lock: two processes cannot both make it. */
	if (mkdir(r->dir, 0755) < 0) {
		if (errno == EEXIST)
			qm_error_set(err, QM_ERR_STATE, "exists (%s); `qmig-rig "
				     "down %s` removes it", r->dir, prefix);
		else
			qm_error_errno(err, errno, "creating %s", r->dir);
		goto fail;
	}
	r->made_dir = true;
	for (int i = 0; i < RIG_NS_N; i++)
		if (access(r->ns_path[i], F_OK) == 0) {
			qm_error_set(err, QM_ERR_STATE, "network namespace %s "
				     "exists already", r->ns[i]);
			goto fail;
		}
	if (!build(r, err) || !rig__shape(r, l, err))
		goto fail;
	pr_debug("rig %s up: %g Mbit/s, %g ms, %g%% loss, forwarder %s",
		 prefix, l->bw_mbit, l->rtt_ms, l->loss_pct,
		 rig__fwd_name(r->fwd));
	return r;
fail:
	qm_error_prepend(err, "rig '%s'", prefix);
	rig__teardown(r);
	reg_del(r);
	free(r);
	return NULL;
}

rig *rig_up(const char *prefix, const rig_link *l, qm_error *err)
{
	return up(prefix, l, true, err);
}

rig *rig_up_detached(const char *prefix, const rig_link *l, qm_error *err)
{
	return up(prefix, l, false, err);
}

/* ---- existing rigs ---- */

rig *rig_open(const char *prefix, qm_error *err)
{
	rig *r = rig_new(prefix, err);

	if (!r)
		return NULL;
	if (!rig__state_load(r, err)) {
		free(r);
		return NULL;
	}
	r->made_dir = true;
	for (int i = 0; i < RIG_NS_N; i++)
		r->made_ns[i] = true;
	return r;
}

void rig_close(rig *r)
{
	if (!r)
		return;
	reg_del(r);
	free(r);
}

/* Processes still inside a namespace keep it (and its veth) alive after
 * its name is gone: say so, they are the caller's to stop. */
static void warn_leftovers(const rig *r)
{
	uint64_t ino[2] = { rig__ns_inode(r->ns_path[0]),
			    rig__ns_inode(r->ns_path[1]) };
	char path[64];
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		uint64_t i;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/ns/net", de->d_name);
		i = rig__ns_inode(path);
		for (int s = 0; s < 2; s++)
			if (i && i == ino[s])
				pr_warn("process %s still runs in %s",
					de->d_name, r->ns[s]);
	}
	if (d)
		closedir(d);
}

/* A linkem the state file does not know (state lost): any qmig-linkem in
 * the link namespace. */
static void find_linkem(rig *r)
{
	struct dirent *de;
	DIR *d;

	if (r->linkem > 0 || !rig__ns_inode(r->ns_path[RIG_NS_LINK]))
		return;
	d = opendir("/proc");
	while (d && (de = readdir(d))) {
		pid_t pid = atoi(de->d_name);

		if (pid > 0 && rig__linkem_verify(pid,
						  r->ns_path[RIG_NS_LINK])) {
			r->linkem = pid;
			break;
		}
	}
	if (d)
		closedir(d);
}

void rig_down(rig *r)
{
	if (!r)
		return;
	if (!r->down) {
		warn_leftovers(r);
		/* Before the teardown deletes its log. */
		rig__linkem_stop_checked(r);
		rig__teardown(r);
	}
	reg_del(r);
	free(r);
}

bool rig_down_prefix(const char *prefix, qm_error *err)
{
	rig *r = rig_new(prefix, err);
	bool found;

	if (!r)
		return false;
	found = access(r->dir, F_OK) == 0;
	for (int i = 0; i < RIG_NS_N; i++)
		found |= access(r->ns_path[i], F_OK) == 0;
	if (!found) {
		qm_error_set(err, QM_ERR_NOTFOUND, "no rig '%s' (no %s, no "
			     "namespaces %s-*)", prefix, r->dir, prefix);
		free(r);
		return false;
	}
	rig__state_load(r, NULL);
	/* Even a stale pid is checked before it is signalled. */
	if (r->linkem > 0 &&
	    !rig__linkem_verify(r->linkem, r->ns_path[RIG_NS_LINK]))
		r->linkem = 0;
	find_linkem(r);
	r->made_dir = true;
	for (int i = 0; i < RIG_NS_N; i++)
		r->made_ns[i] = true;
	rig_down(r);
	return true;
}

/* ---- accessors ---- */

static bool side_ok(const rig *r, rig_side s)
{
	return r && (s == RIG_SRC || s == RIG_DST);
}

const char *rig_ns(const rig *r, rig_side s)
{
	return side_ok(r, s) ? r->ns[s] : NULL;
}

const char *rig_ns_path(const rig *r, rig_side s)
{
	return side_ok(r, s) ? r->ns_path[s] : NULL;
}

const char *rig_addr(const rig *r, rig_side s)
{
	return side_ok(r, s) ? side_addr[s] : NULL;
}

const char *rig_ifname(const rig *r, rig_side s)
{
	return side_ok(r, s) ? side_if[s] : NULL;
}

const char *rig_prefix(const rig *r)
{
	return r->prefix;
}

void rig_get_link(const rig *r, rig_link *l)
{
	*l = r->link;
}

const char *rig_forwarder(const rig *r)
{
	return rig__fwd_name(r->fwd);
}

pid_t rig_linkem_pid(const rig *r)
{
	return r->linkem;
}

bool rig_is_cut(const rig *r)
{
	return r->cut;
}
