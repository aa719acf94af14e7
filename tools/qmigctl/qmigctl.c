/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmigctl: command-line client of qmig.
 *
 *   qmigctl qmp SOCKET COMMAND ['{"json": "arguments"}']
 *       Run one QMP command against a QEMU monitor socket (unix path,
 *       unix:PATH or tcp:HOST:PORT) and print its result as JSON.
 *   qmigctl status SOCKET
 *       Print the VM's run state (query-status) in one line.
 *
 * The JSON-RPC commands for the agent (attach, migrate, status, cancel,
 * measure, info) arrive with qmigd's API.
 */
#include "qmp/qmp.h"

#include <stdio.h>
#include <string.h>

#define TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f, "usage: qmigctl qmp SOCKET COMMAND [JSON-ARGS]\n"
		   "       qmigctl status SOCKET\n");
}

static qmp_conn *open_qmp(const char *addr)
{
	qm_error err = QM_ERROR_INIT;
	qmp_conn *c = qmp_conn_new(&err);

	if (!c || !qmp_connect(c, addr, TIMEOUT_MS, &err) ||
	    !qmp_wait_ready(c, TIMEOUT_MS, &err)) {
		fprintf(stderr, "qmigctl: %s: %s\n", addr, err.msg);
		qmp_conn_free(c);
		return NULL;
	}
	return c;
}

static int cmd_qmp(const char *addr, const char *cmd, const char *args_json)
{
	qm_error err = QM_ERROR_INIT;
	json_object *args = NULL, *ret;
	qmp_conn *c;

	if (args_json) {
		args = json_tokener_parse(args_json);
		if (!args || !json_object_is_type(args, json_type_object)) {
			fprintf(stderr, "qmigctl: arguments must be a JSON "
				"object, got '%s'\n", args_json);
			json_object_put(args);
			return 2;
		}
	}
	c = open_qmp(addr);
	if (!c) {
		json_object_put(args);
		return 1;
	}
	ret = qmp_call(c, cmd, args, TIMEOUT_MS, &err);
	if (!ret) {
		fprintf(stderr, "qmigctl: %s: %s\n", cmd, err.msg);
		qmp_conn_free(c);
		return 1;
	}
	printf("%s\n", json_object_to_json_string_ext(ret,
						      JSON_C_TO_STRING_PRETTY));
	json_object_put(ret);
	qmp_conn_free(c);
	return 0;
}

static int cmd_status(const char *addr)
{
	qm_error err = QM_ERROR_INIT;
	qmp_status st;
	qmp_conn *c = open_qmp(addr);

	if (!c)
		return 1;
	if (!qmp_query_status(c, &st, &err)) {
		fprintf(stderr, "qmigctl: query-status: %s\n", err.msg);
		qmp_conn_free(c);
		return 1;
	}
	printf("status: %s (running: %s)\n", st.status,
	       st.running ? "yes" : "no");
	qmp_conn_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "qmp"))
		return cmd_qmp(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
	if (argc == 3 && !strcmp(argv[1], "status"))
		return cmd_status(argv[2]);
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
