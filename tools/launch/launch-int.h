/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to tools/launch: process helpers shared by QEMU and qmigd. */
#ifndef QMIG_LAUNCH_INT_H
#define QMIG_LAUNCH_INT_H

#include "tools/launch/launch.h"

#define STOP_GRACE_MS 5000

/* In the child: stdin from /dev/null, stdout+stderr to @log_path
 * (truncated, or appended to if @append), PR_SET_PDEATHSIG(SIGKILL),
 * setns into @netns_path (NULL = stay), exec @argv. Never returns. */
void ql__exec_logged(char *const *argv, const char *log_path, bool append,
		     const char *netns_path) __attribute__((noreturn));
/* "/run/netns/@netns" into @path, checked to exist; "" for NULL. */
bool ql__netns_path(const char *netns, char *path, size_t len,
		    qm_error *err);
/* The last lines of @path (at most @len - 1 bytes), for error messages. */
void ql__log_tail(const char *path, char *out, size_t len);
void ql__sleep_ms(int ms);
/* SIGTERM, wait STOP_GRACE_MS, SIGKILL; reap. Returns the wait status. */
int ql__stop_pid(pid_t pid);

#endif
