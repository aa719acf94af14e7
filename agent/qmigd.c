/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmigd: the per-host migration agent.
 *
 *   qmigd --state-dir DIR --rpc unix:PATH|tcp:HOST:PORT
 *         [--peer-listen HOST:PORT] [--psk-file FILE] [--token-file FILE]
 *         [--qemu PATH] [--max-migrations N] [--config FILE]
 *   qmigd --version
 *   qmigd --probe      print what this host supports and exit
 */
#include "agent/agent.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	qm_error err = QM_ERROR_INIT;
	agent_features f;
	agent_config c;
	agent *a;
	bool ok;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("qmigd %s\n", QMIG_VERSION_STRING);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--probe")) {
		agent_probe_features(&f);
		agent_features_print(&f, STDOUT_FILENO);
		return 0;
	}
	if (!agent_config_parse(&c, argc, argv, &err)) {
		fprintf(stderr, "qmigd: %s\n", err.msg);
		return 2;
	}
	a = agent_new(&c, &err);
	if (!a) {
		fprintf(stderr, "qmigd: %s\n", err.msg);
		return 1;
	}
	ok = agent_run(a, &err);
	agent_free(a);
	if (!ok) {
		fprintf(stderr, "qmigd: %s\n", err.msg);
		return 1;
	}
	return 0;
}
