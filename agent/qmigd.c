/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmigd: the per-host migration agent.
 *
 *   qmigd --version
 *   qmigd --probe      print what this host supports and exit
 *
 * The JSON-RPC service (--state-dir, --rpc, --peer-listen, --psk-file)
 * arrives with the migration engine.
 */
#include "agent/agent.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	agent_features f;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("qmigd %s\n", QMIG_VERSION_STRING);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--probe")) {
		agent_probe_features(&f);
		agent_features_print(&f, STDOUT_FILENO);
		return 0;
	}
	fprintf(stderr, "usage: qmigd --version | --probe\n");
	return 2;
}
