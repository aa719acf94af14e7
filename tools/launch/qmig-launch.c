/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmig-launch: run the test guest in QEMU the way the tests do, for the demo
 * and for manual experiments. Prints where everything is as KEY=VALUE lines
 * (shell-friendly), then waits until QEMU exits or it gets SIGINT/SIGTERM,
 * and tears everything down (QEMU, run dir, RAM file).
 *
 *   qmig-launch [--name N] [--ram SIZE] [--mem file|memfd|private]
 *               [--kernel PATH] [--append "ws=64M rate=2000"] [--paused]
 *               [--accel auto|tcg|kvm] [--netns NAME]
 *               [-- EXTRA QEMU ARGS...]
 *
 * --netns runs QEMU in the network namespace /run/netns/NAME (e.g. a side
 * of a rig made by qmig-rig).
 */
#include "tools/launch/launch.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	stop_requested = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: qmig-launch [--name N] [--ram SIZE] "
		"[--mem file|memfd|private] [--kernel PATH] [--append ARGS] "
		"[--paused] [--accel auto|tcg|kvm] [--netns NAME] "
		"[-- QEMU ARGS...]\n");
}

static int parse_args(int argc, char **argv, ql_vm_opts *o)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "ram", required_argument, NULL, 'r' },
		{ "mem", required_argument, NULL, 'M' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "append", required_argument, NULL, 'a' },
		{ "paused", no_argument, NULL, 'S' },
		{ "accel", required_argument, NULL, 'A' },
		{ "netns", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	qm_error err = QM_ERROR_INIT;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->name = optarg; break;
		case 'k': o->kernel = optarg; break;
		case 'a': o->append = optarg; break;
		case 'N': o->netns = optarg; break;
		case 'S': o->paused = true; break;
		case 'r':
			if (!qm_parse_size(optarg, &o->ram_bytes, &err)) {
				fprintf(stderr, "qmig-launch: --ram: %s\n", err.msg);
				return -1;
			}
			break;
		case 'M':
			if (!strcmp(optarg, "file")) o->mem = QL_MEM_FILE;
			else if (!strcmp(optarg, "memfd")) o->mem = QL_MEM_MEMFD;
			else if (!strcmp(optarg, "private")) o->mem = QL_MEM_PRIVATE;
			else {
				fprintf(stderr, "qmig-launch: --mem %s: expected "
					"file, memfd or private\n", optarg);
				return -1;
			}
			break;
		case 'A':
			if (!strcmp(optarg, "tcg")) o->accel = QL_ACCEL_TCG;
			else if (!strcmp(optarg, "kvm")) o->accel = QL_ACCEL_KVM;
			else if (!strcmp(optarg, "auto")) o->accel = QL_ACCEL_AUTO;
			else {
				fprintf(stderr, "qmig-launch: --accel %s: expected "
					"auto, tcg or kvm\n", optarg);
				return -1;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	o->extra_args = (const char *const *)&argv[optind];
	return 0;
}

int main(int argc, char **argv)
{
	ql_vm_opts o = { .ram_bytes = 1ULL << 30 };
	qm_error err = QM_ERROR_INIT;
	struct sigaction sa = { .sa_handler = on_signal };
	ql_vm vm;
	int status;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (!ql_vm_start(&vm, &o, &err)) {
		fprintf(stderr, "qmig-launch: %s\n", err.msg);
		return 1;
	}
	printf("PID=%d\nQMP=%s\nSERIAL=%s\nQEMU_LOG=%s\nRAM_FILE=%s\n"
	       "RAM_BYTES=%llu\nACCEL=%s\n", (int)vm.pid, vm.qmp_path,
	       vm.serial_path, vm.log_path, vm.mem_path,
	       (unsigned long long)vm.ram_bytes, vm.kvm ? "kvm" : "tcg");
	fflush(stdout);
	while (!stop_requested && ql_vm_alive(&vm))
		usleep(20000);
	status = ql_vm_stop(&vm);
	if (stop_requested)
		return 0;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "qmig-launch: QEMU killed by signal %d (%s)\n",
			WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 1;
	}
	fprintf(stderr, "qmig-launch: QEMU exited with status %d\n",
		WEXITSTATUS(status));
	return WEXITSTATUS(status);
}
