/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: names, the state file in RIG_RUN_DIR/<prefix>/, and the teardown
 * that removes everything a rig made.
 *
 * The state file is what lets another process (qmig-rig shape/cut/down)
 * act on a rig: the shaping in force, the forwarder, linkem's pid. It is
 * rewritten (temp file + rename) after every change.
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static const char *const ns_suffix[RIG_NS_N] = { "src", "dst", "link" };

bool rig__names(rig *r, const char *prefix, qm_error *err)
{
	size_t len = prefix ? strlen(prefix) : 0;

	if (!len || len > RIG_PREFIX_MAX ||
	    strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789") != len)
		return qm_error_set(err, QM_ERR_INVAL, "rig prefix '%s': "
				    "expected 1 to %d characters of [a-z0-9]",
				    prefix ? prefix : "", RIG_PREFIX_MAX);
	strcpy(r->prefix, prefix);
	for (int i = 0; i < RIG_NS_N; i++) {
		snprintf(r->ns[i], sizeof(r->ns[i]), "%s-%s", prefix,
			 ns_suffix[i]);
		snprintf(r->ns_path[i], sizeof(r->ns_path[i]),
			 "/run/netns/%s", r->ns[i]);
	}
	/* Built from the prefix (bounded), not from dir, so the compiler
	 * can see every path fits. */
	snprintf(r->dir, sizeof(r->dir), RIG_RUN_DIR "/%s", r->prefix);
	snprintf(r->state_path, sizeof(r->state_path), RIG_RUN_DIR "/%s/state",
		 r->prefix);
	snprintf(r->conf_path, sizeof(r->conf_path),
		 RIG_RUN_DIR "/%s/linkem.conf", r->prefix);
	snprintf(r->stats_path, sizeof(r->stats_path),
		 RIG_RUN_DIR "/%s/linkem.stats", r->prefix);
	snprintf(r->log_path, sizeof(r->log_path),
		 RIG_RUN_DIR "/%s/linkem.log", r->prefix);
	return true;
}

bool rig__state_save(const rig *r, qm_error *err)
{
	char tmp[RIG_PATH + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", r->state_path);
	f = fopen(tmp, "we");
	if (!f)
		return qm_error_errno(err, errno, "writing %s", tmp);
	fprintf(f, "owner %d\nforwarder %s\nbw_mbit %.17g\nrtt_ms %.17g\n"
		"loss_pct %.17g\ncut %d\ngso_limited %d\nlinkem %d\ngen %llu\n",
		(int)r->owner, rig__fwd_name(r->fwd), r->link.bw_mbit,
		r->link.rtt_ms, r->link.loss_pct, r->cut, r->gso_limited,
		(int)r->linkem, (unsigned long long)r->conf_gen);
	if (fclose(f) != 0 || rename(tmp, r->state_path) < 0) {
		qm_error_errno(err, errno, "writing %s", r->state_path);
		unlink(tmp);
		return false;
	}
	return true;
}

bool rig__state_load(rig *r, qm_error *err)
{
	char line[128], word[32], val[64];
	FILE *f = fopen(r->state_path, "re");

	if (!f) {
		if (errno == ENOENT)
			return qm_error_set(err, QM_ERR_NOTFOUND, "no rig '%s' "
					    "(%s missing)", r->prefix,
					    r->state_path);
		return qm_error_errno(err, errno, "reading %s", r->state_path);
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31s %63s", word, val) != 2)
			continue;
		if (!strcmp(word, "owner"))
			r->owner = atoi(val);
		else if (!strcmp(word, "forwarder"))
			r->fwd = !strcmp(val, "linkem") ? RIG_FWD_LINKEM :
				 !strcmp(val, "netem") ? RIG_FWD_NETEM :
				 RIG_FWD_KERNEL;
		else if (!strcmp(word, "bw_mbit"))
			r->link.bw_mbit = strtod(val, NULL);
		else if (!strcmp(word, "rtt_ms"))
			r->link.rtt_ms = strtod(val, NULL);
		else if (!strcmp(word, "loss_pct"))
			r->link.loss_pct = strtod(val, NULL);
		else if (!strcmp(word, "cut"))
			r->cut = atoi(val);
		else if (!strcmp(word, "gso_limited"))
			r->gso_limited = atoi(val);
		else if (!strcmp(word, "linkem"))
			r->linkem = atoi(val);
		else if (!strcmp(word, "gen"))
			r->conf_gen = strtoull(val, NULL, 10);
	}
	fclose(f);
	return true;
}

void rig__teardown(rig *r)
{
	static const char *const files[] = { "state", "state.tmp",
		"linkem.conf", "linkem.conf.tmp", "linkem.stats",
		"linkem.log" };
	char path[RIG_PATH + 24];
	size_t dlen = strlen(r->dir);

	/* linkem first: it is what keeps the link namespace alive. */
	rig__linkem_stop(r);
	/* What `ip netns del` does; deleting the last reference to a
	 * namespace destroys its veths, and with them their peers. */
	for (int i = 0; i < RIG_NS_N; i++) {
		if (!r->made_ns[i])
			continue;
		umount2(r->ns_path[i], MNT_DETACH);
		unlink(r->ns_path[i]);
	}
	r->down = true;
	if (!r->made_dir)
		return;
	/* No snprintf here: this runs in signal handlers. */
	memcpy(path, r->dir, dlen);
	path[dlen] = '/';
	for (size_t i = 0; i < QM_ARRAY_SIZE(files); i++) {
		size_t flen = strlen(files[i]);

		memcpy(path + dlen + 1, files[i], flen + 1);
		unlink(path);
	}
	rmdir(r->dir);
	rmdir(RIG_RUN_DIR);  /* only if no other rig uses it */
}
