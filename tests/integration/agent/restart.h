/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * restart: start a qmigd again where one was SIGKILLed (ql_agent_kill()
 * keeps its files): same state dir, same RPC socket, so the new agent
 * has to recover from what the dead one left. Kept here rather than in
 * the launcher: only the recovery tests need it.
 */
#ifndef QMIG_TEST_RESTART_H
#define QMIG_TEST_RESTART_H

#include "tools/launch/launch.h"

/* Run qmigd on @a's state dir and RPC socket with @extra_args
 * (NULL-terminated, may be NULL), its output appended to
 * "qmigd-restart.log" beside the first log, and wait until its RPC
 * socket accepts. @a must not be running. PR_SET_PDEATHSIG as for the
 * first start. */
bool agent_restart(ql_agent *a, const char *const *extra_args,
		   qm_error *err);

#endif
