/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmigctl: command-line client of qmigd's JSON-RPC API (docs/API.md).
 *
 *   qmigctl [--rpc ADDR] [--token-file F] [--json] COMMAND ...
 *     info                      agent version and host capabilities
 *     attach NAME QMP [PID]     attach to a running QEMU
 *     list                      attached VMs
 *     detach NAME
 *     measure NAME [SECONDS]    dirty rate of a VM's memory
 *     migrate NAME DEST [--wait] [--max-downtime MS] [--deadline S]
 *             [--on-deadline abort|force] [--bandwidth MBPS]
 *             [--streams N] [--verify full|tracked|none]
 *             [--mode agent|qemu] [--dest-qmp unix:PATH]
 *             [--tls on|off]
 *                               start a migration to the agent at DEST
 *                               (HOST:PORT); --wait shows progress and
 *                               exits 0 only if it completed (it waits
 *                               through in-doubt, which the agent
 *                               settles)
 *     status ID | cancel ID | migrations
 *     call METHOD [JSON]        any method, raw
 *   qmigctl qmp SOCKET COMMAND [JSON-ARGS]
 *       one QMP command straight to a QEMU monitor (no agent)
 *
 * ADDR defaults to $QMIG_RPC, else unix:/run/qmig/qmigd.sock. --json
 * prints the result as JSON for scripts; errors go to stderr with exit
 * status 1 (2 for bad usage).
 */
#include "agent/rpc.h"
#include "qmp/qmp.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS 10000
#define DEFAULT_RPC "unix:/run/qmig/qmigd.sock"

typedef struct opts {
	const char *rpc;
	const char *token_file;
	bool json;
} opts;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: qmigctl [--rpc ADDR] [--token-file F] [--json] COMMAND\n"
		"  info | list | attach NAME QMP [PID] | detach NAME\n"
		"  measure NAME [SECONDS] | call METHOD [JSON]\n"
		"  migrate NAME DEST [--wait] [--max-downtime MS] [--deadline S]\n"
		"          [--on-deadline abort|force] [--bandwidth MBPS]\n"
		"          [--streams N] [--verify full|tracked|none]\n"
		"          [--mode agent|qemu] [--dest-qmp unix:PATH]\n"
		"          [--tls on|off]\n"
		"  status ID | cancel ID | migrations\n"
		"  qmp SOCKET COMMAND [JSON-ARGS]\n");
}

/* ---- direct QMP ---- */

static int cmd_qmp(const char *addr, const char *cmd, const char *args_json)
{
	qm_error err = QM_ERROR_INIT;
	json_object *args = NULL, *ret = NULL;
	qmp_conn *c = NULL;

	if (args_json) {
		args = json_tokener_parse(args_json);
		if (!args || !json_object_is_type(args, json_type_object)) {
			fprintf(stderr, "qmigctl: arguments must be a JSON "
				"object, got '%s'\n", args_json);
			json_object_put(args);
			return 2;
		}
	}
	c = qmp_conn_new(&err);
	if (c && qmp_connect(c, addr, TIMEOUT_MS, &err) &&
	    qmp_wait_ready(c, TIMEOUT_MS, &err))
		ret = qmp_call(c, cmd, args, TIMEOUT_MS, &err);
	else
		json_object_put(args);
	qmp_conn_free(c);
	if (!ret) {
		fprintf(stderr, "qmigctl: %s: %s\n", cmd, err.msg);
		return 1;
	}
	printf("%s\n", json_object_to_json_string_ext(ret,
						      JSON_C_TO_STRING_PRETTY));
	json_object_put(ret);
	return 0;
}

/* ---- agent calls ---- */

static rpc_client *connect_agent(const opts *o, qm_error *err)
{
	char token[RPC_TOKEN_MAX + 2] = "";
	rpc_client *cl = rpc_client_connect(o->rpc, TIMEOUT_MS, err);
	FILE *f;

	if (!cl || !o->token_file)
		return cl;
	f = fopen(o->token_file, "re");
	if (!f) {
		qm_error_errno(err, errno, "token file %s", o->token_file);
		rpc_client_free(cl);
		return NULL;
	}
	if (!fgets(token, sizeof(token), f))
		token[0] = '\0';
	fclose(f);
	token[strcspn(token, "\r\n")] = '\0';
	if (!rpc_client_login(cl, token, TIMEOUT_MS, err)) {
		rpc_client_free(cl);
		return NULL;
	}
	return cl;
}

static void print_vm(json_object *v)
{
	json_object *x;

	printf("%-16s %-10s pid %-7s %6lld MiB  tracker %s%s\n",
	       json_object_get_string(json_object_object_get(v, "name")),
	       json_object_get_string(json_object_object_get(v, "status")),
	       json_object_get_string(json_object_object_get(v, "pid")),
	       (long long)(json_object_get_int64(
			json_object_object_get(v, "ram_bytes")) >> 20),
	       json_object_get_string(json_object_object_get(v, "tracker")),
	       json_object_get_boolean(json_object_object_get(v, "migrating"))
	       ? "  (migrating)" : "");
	if (json_object_object_get_ex(v, "private_reason", &x))
		printf("  private RAM (mode qemu, verify none only): %s\n",
		       json_object_get_string(x));
	if (json_object_object_get_ex(v, "error", &x))
		printf("  error: %s\n", json_object_get_string(x));
}

static void print_human(const char *cmd, json_object *r)
{
	json_object *v;

	if (!strcmp(cmd, "list")) {
		json_object_object_get_ex(r, "vms", &v);
		for (size_t i = 0; i < json_object_array_length(v); i++)
			print_vm(json_object_array_get_idx(v, i));
		if (!json_object_array_length(v))
			printf("no VMs attached\n");
	} else if (!strcmp(cmd, "attach")) {
		print_vm(r);
	} else if (!strcmp(cmd, "measure")) {
		printf("%s: %.0f pages/s dirtied (%.1f MB/s)\n",
		       json_object_get_string(json_object_object_get(r, "vm")),
		       json_object_get_double(json_object_object_get(
				r, "dirty_pages_per_s")),
		       json_object_get_double(json_object_object_get(
				r, "dirty_bytes_per_s")) / 1e6);
	} else if (!strcmp(cmd, "detach")) {
		printf("detached\n");
	} else {
		printf("%s\n", json_object_to_json_string_ext(r,
						JSON_C_TO_STRING_PRETTY));
	}
}

/* Build the method and params of @cmd from its arguments. */
static bool build_call(const char *cmd, int argc, char **argv,
		       const char **method, json_object **params)
{
	json_object *p = json_object_new_object();

	*params = p;
	if (!strcmp(cmd, "info") && argc == 0) {
		*method = "agent.info";
	} else if (!strcmp(cmd, "list") && argc == 0) {
		*method = "vm.list";
	} else if (!strcmp(cmd, "attach") && (argc == 2 || argc == 3)) {
		*method = "vm.attach";
		json_object_object_add(p, "name", json_object_new_string(argv[0]));
		json_object_object_add(p, "qmp", json_object_new_string(argv[1]));
		if (argc == 3)
			json_object_object_add(p, "pid",
					       json_object_new_int(atoi(argv[2])));
	} else if (!strcmp(cmd, "detach") && argc == 1) {
		*method = "vm.detach";
		json_object_object_add(p, "vm", json_object_new_string(argv[0]));
	} else if (!strcmp(cmd, "measure") && (argc == 1 || argc == 2)) {
		*method = "dirtyrate.measure";
		json_object_object_add(p, "vm", json_object_new_string(argv[0]));
		if (argc == 2)
			json_object_object_add(p, "seconds",
					       json_object_new_int(atoi(argv[1])));
	} else if (!strcmp(cmd, "status") && argc == 1) {
		*method = "migration.status";
		json_object_object_add(p, "id", json_object_new_string(argv[0]));
	} else if (!strcmp(cmd, "cancel") && argc == 1) {
		*method = "migration.cancel";
		json_object_object_add(p, "id", json_object_new_string(argv[0]));
	} else if (!strcmp(cmd, "migrations") && argc == 0) {
		*method = "migration.list";
	} else if (!strcmp(cmd, "call") && (argc == 1 || argc == 2)) {
		*method = argv[0];
		json_object_put(p);
		*params = argc == 2 ? json_tokener_parse(argv[1])
				    : json_object_new_object();
		return *params != NULL;
	} else {
		json_object_put(p);
		*params = NULL;
		return false;
	}
	return true;
}

static int cmd_agent(const opts *o, const char *cmd, int argc, char **argv)
{
	qm_error err = QM_ERROR_INIT;
	const char *method = NULL;
	json_object *params, *r;
	rpc_client *cl;

	if (!build_call(cmd, argc, argv, &method, &params)) {
		usage(stderr);
		return 2;
	}
	cl = connect_agent(o, &err);
	if (!cl) {
		json_object_put(params);
		fprintf(stderr, "qmigctl: %s: %s\n", o->rpc, err.msg);
		return 1;
	}
	/* measure takes its seconds; allow for them. */
	r = rpc_client_call(cl, method, params, TIMEOUT_MS + 60000, &err);
	rpc_client_free(cl);
	if (!r) {
		fprintf(stderr, "qmigctl: %s\n", err.msg);
		return 1;
	}
	if (o->json)
		printf("%s\n", json_object_to_json_string_ext(r,
						JSON_C_TO_STRING_PRETTY));
	else
		print_human(cmd, r);
	json_object_put(r);
	return 0;
}

/* ---- migrate ---- */

static double dget(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v)
						    : 0;
}

static const char *sget(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ?
	       json_object_get_string(v) : "";
}

static void print_summary(json_object *st)
{
	json_object *pages = json_object_object_get(st, "pages");
	json_object *ver = json_object_object_get(st, "verify");

	printf("migration %s: %s after %.0f ms, %d round(s)\n",
	       sget(st, "id"), sget(st, "phase"), dget(st, "elapsed_ms"),
	       (int)dget(st, "round"));
	printf("  bytes on the wire: %.1f MB\n", dget(st, "bytes_on_wire") / 1e6);
	printf("  pages: %.0f full, %.0f zero, %.0f dup, %.0f have "
	       "(deduped: %.0f)\n", dget(pages, "full"), dget(pages, "zero"),
	       dget(pages, "dup"), dget(pages, "have"),
	       dget(pages, "zero") + dget(pages, "dup") + dget(pages, "have"));
	printf("  downtime: predicted %.1f ms, actual %.1f ms\n",
	       dget(st, "predicted_downtime_ms"), dget(st, "downtime_ms"));
	if (*sget(ver, "skipped"))
		printf("  verification: not done (%s)\n", sget(ver, "skipped"));
	else
		printf("  verification (%s): %s (%.0f pages checked, %.0f "
		       "mismatches%s)\n", sget(ver, "mode"),
		       json_object_get_boolean(json_object_object_get(ver,
		       "passed")) ? "passed" : "not passed",
		       dget(ver, "pages_checked"), dget(ver, "mismatches"),
		       !strcmp(sget(ver, "mode"), "tracked") ?
		       ", the rest checked during pre-copy" : "");
	if (*sget(st, "error"))
		printf("  error: %s\n", sget(st, "error"));
}

static int wait_migration(rpc_client *cl, const char *id, bool json)
{
	qm_error err = QM_ERROR_INIT;
	json_object *st = NULL;
	const char *phase = "";
	char last[32] = "";
	bool tty = isatty(STDERR_FILENO);
	int rc;

	for (;;) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "id", json_object_new_string(id));
		json_object_put(st);
		st = rpc_client_call(cl, "migration.status", p, TIMEOUT_MS, &err);
		if (!st) {
			fprintf(stderr, "qmigctl: %s\n", err.msg);
			return 1;
		}
		phase = sget(st, "phase");
		/* On a terminal one line redrawn; in a log one per phase. */
		if (!json && (tty || strcmp(last, phase)))
			fprintf(stderr, "%s%-10s round %-3d %8.1f MB sent  dirty "
				"%7.1f MB/s  link %7.1f MB/s  predicted %6.1f ms%s",
				tty ? "\r" : "", phase, (int)dget(st, "round"),
				dget(st, "bytes_on_wire") / 1e6,
				dget(st, "dirty_rate_bps") / 1e6,
				dget(st, "bandwidth_bps") / 1e6,
				dget(st, "predicted_downtime_ms"), tty ? " " : "\n");
		/* In doubt is not an end: the agent asks the destination
		 * until it knows where the VM runs, then completes or rolls
		 * back (docs/RELIABILITY.md); keep waiting, and say why. */
		if (!strcmp(phase, "in-doubt") && strcmp(last, phase))
			fprintf(stderr, "%sin doubt: %s; the agent is asking the "
				"destination whether the VM runs there\n",
				tty ? "\n" : "", sget(st, "error"));
		snprintf(last, sizeof(last), "%s", phase);
		if (!strcmp(phase, "completed") || !strcmp(phase, "failed") ||
		    !strcmp(phase, "cancelled") || !strcmp(phase, "rolled-back"))
			break;
		usleep(200 * 1000);
	}
	if (!json && tty)
		fprintf(stderr, "\n");
	if (json)
		printf("%s\n", json_object_to_json_string_ext(st,
						JSON_C_TO_STRING_PRETTY));
	else
		print_summary(st);
	rc = strcmp(phase, "completed") ? 1 : 0;
	json_object_put(st);
	return rc;
}

static bool migrate_opt(json_object *p, const char *opt, const char *val)
{
	static const struct { const char *opt, *key; bool num; } map[] = {
		{ "--max-downtime", "max_downtime_ms", true },
		{ "--deadline", "deadline", true },
		{ "--on-deadline", "on_deadline", false },
		{ "--bandwidth", "bandwidth_mbps", true },
		{ "--streams", "streams", true },
		{ "--verify", "verify", false },
		{ "--mode", "mode", false },
		{ "--dest-qmp", "dest_qmp", false },
	};

	if (!strcmp(opt, "--tls")) {
		if (strcmp(val, "on") && strcmp(val, "off"))
			return false;
		json_object_object_add(p, "tls", json_object_new_boolean(
						 !strcmp(val, "on")));
		return true;
	}
	for (size_t i = 0; i < QM_ARRAY_SIZE(map); i++) {
		if (strcmp(opt, map[i].opt))
			continue;
		if (!map[i].num)
			json_object_object_add(p, map[i].key,
					       json_object_new_string(val));
		else if (!strcmp(map[i].key, "streams"))
			json_object_object_add(p, map[i].key,
					       json_object_new_int(atoi(val)));
		else
			json_object_object_add(p, map[i].key,
					       json_object_new_double(atof(val)));
		return true;
	}
	return false;
}

static int cmd_migrate(const opts *o, int argc, char **argv)
{
	qm_error err = QM_ERROR_INIT;
	json_object *p, *r;
	bool wait = false;
	rpc_client *cl;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	p = json_object_new_object();
	json_object_object_add(p, "vm", json_object_new_string(argv[0]));
	json_object_object_add(p, "dest", json_object_new_string(argv[1]));
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--wait")) {
			wait = true;
		} else if (i + 1 >= argc || !migrate_opt(p, argv[i], argv[i + 1])) {
			fprintf(stderr, "qmigctl: migrate: bad option '%s'\n",
				argv[i]);
			json_object_put(p);
			return 2;
		} else {
			i++;
		}
	}
	cl = connect_agent(o, &err);
	r = cl ? rpc_client_call(cl, "migration.start", p, TIMEOUT_MS, &err)
	       : (json_object_put(p), NULL);
	if (!r) {
		fprintf(stderr, "qmigctl: %s\n", err.msg);
		rpc_client_free(cl);
		return 1;
	}
	if (!wait) {
		printf("%s\n", o->json ? json_object_to_json_string(r)
				       : sget(r, "id"));
		rc = 0;
	} else {
		rc = wait_migration(cl, sget(r, "id"), o->json);
	}
	json_object_put(r);
	rpc_client_free(cl);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rpc", required_argument, NULL, 'r' },
		{ "token-file", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	opts o = { .rpc = getenv("QMIG_RPC") };
	int c;

	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o.rpc = optarg; break;
		case 't': o.token_file = optarg; break;
		case 'j': o.json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.rpc)
		o.rpc = DEFAULT_RPC;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "qmp")) {
		if (argc - optind < 3) {
			usage(stderr);
			return 2;
		}
		return cmd_qmp(argv[optind + 1], argv[optind + 2],
			       argc - optind > 3 ? argv[optind + 3] : NULL);
	}
	if (!strcmp(argv[optind], "migrate"))
		return cmd_migrate(&o, argc - optind - 1, argv + optind + 1);
	return cmd_agent(&o, argv[optind], argc - optind - 1,
			 argv + optind + 1);
}
