/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to tools/rig: the rig object and the helpers its files share. */
#ifndef QMIG_RIG_INT_H
#define QMIG_RIG_INT_H

#include "tools/rig/rig.h"

#include <stdbool.h>

enum { RIG_NS_SRC = RIG_SRC, RIG_NS_DST = RIG_DST, RIG_NS_LINK, RIG_NS_N };

typedef enum rig_fwd {
	RIG_FWD_KERNEL,  /* tc mirred between ls and ld */
	RIG_FWD_NETEM,   /* mirred, plus netem on ls and ld */
	RIG_FWD_LINKEM,  /* qmig-linkem reads ls and ld */
} rig_fwd;

#define RIG_PATH 96

struct rig {
	char prefix[RIG_PREFIX_MAX + 1];
	char ns[RIG_NS_N][RIG_PREFIX_MAX + 8];
	char ns_path[RIG_NS_N][RIG_PATH];
	char dir[RIG_PATH];
	char state_path[RIG_PATH];
	char conf_path[RIG_PATH];
	char stats_path[RIG_PATH];
	char log_path[RIG_PATH];

	rig_link link;
	rig_fwd fwd;
	bool cut;
	bool gso_limited;    /* s0/d0 gso_max_segs lowered for netem loss */
	pid_t linkem;        /* 0 when none runs */
	bool linkem_child;   /* a child of this process: reap it */
	int linkem_status;   /* its wait status once reaped, else -1 */
	uint64_t conf_gen;

	pid_t owner;         /* process rig_down_all() acts for; 0 = none */
	bool down;
	bool made_dir, made_ns[RIG_NS_N];
};

/* Interface names, the same in every rig (each lives in its own
 * namespace). */
#define RIG_IF_SRC "s0"
#define RIG_IF_DST "d0"
#define RIG_IF_LSRC "ls"    /* link side facing s0 */
#define RIG_IF_LDST "ld"    /* link side facing d0 */

/* cmd.c: run `ip`/`tc` (found in PATH or the sbin dirs) without a shell.
 * A non-zero exit is an error naming the command and quoting its stderr.
 * @out (may be NULL) gets stdout, NUL-terminated and cut at @out_len. */
bool rig__run(const char *const *argv, char *out, size_t out_len,
	      qm_error *err);
/* rig__cmd(err, "ip", "-n", ns, "link", ..., NULL) */
bool rig__cmd(qm_error *err, const char *tool, ...)
	__attribute__((sentinel));
const char *rig__tool(const char *name);
/* The pid of the ip/tc child running now, for the signal handler. */
extern volatile pid_t rig__tool_pid;

/* ns.c */
bool rig__setns_path(const char *path, qm_error *err);
/* Run @fn in the namespace at @path on this thread, then come back. */
bool rig__in_ns(const char *path, bool (*fn)(void *arg, qm_error *err),
		void *arg, qm_error *err);
/* Inode of a namespace file (/run/netns/X or /proc/PID/ns/net), 0 if
 * none. */
uint64_t rig__ns_inode(const char *path);

/* state.c */
bool rig__names(rig *r, const char *prefix, qm_error *err);
bool rig__state_save(const rig *r, qm_error *err);
bool rig__state_load(rig *r, qm_error *err);
/* Remove linkem, namespaces and the run dir; async-signal-safe. */
void rig__teardown(rig *r);

/* shape.c */
bool rig__shape(rig *r, const rig_link *l, qm_error *err);
/* The forwarder the shaping needs on this kernel. */
rig_fwd rig__fwd_for(const rig_link *l);
const char *rig__fwd_name(rig_fwd f);

/* linkem-ctl.c */
bool rig__linkem_start(rig *r, const rig_link *l, qm_error *err);
bool rig__linkem_reconf(rig *r, const rig_link *l, qm_error *err);
/* Is the rig's linkem still there? Forgets it (and reaps it) if not. */
bool rig__linkem_running(rig *r);
/* SIGTERM, wait, SIGKILL; async-signal-safe. */
void rig__linkem_stop(rig *r);
/* As rig__linkem_stop, and warn (with its log's tail) if linkem had
 * failed: crashed, or stopped by something else than us. */
void rig__linkem_stop_checked(rig *r);
/* true if @pid is a qmig-linkem in the namespace at @ns_path. */
bool rig__linkem_verify(pid_t pid, const char *ns_path);
const char *rig__linkem_binary(void);
/* The link counters of direction @dir (LINKEM_AB: from s0). */
bool rig__linkem_stats(const rig *r, int dir, rig_stats *st, qm_error *err);

/* probe.c: cached results of rig_available(). */
bool rig__probe(qm_error *err);
bool rig__netem_ok(void);

/* counters.c: parse `tc -s qdisc show dev X` for Sent and dropped. */
bool rig__parse_tc_stats(const char *text, uint64_t *pkts, uint64_t *dropped);

#endif /* QMIG_RIG_INT_H */
