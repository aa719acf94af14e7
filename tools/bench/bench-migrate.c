/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-migrate: qmig's live migration beside QEMU's own pre-copy, in one
 * run, same guest workload, same link.
 *
 *   bench-migrate [--scenario FILE] [--out DIR]
 *                 [--ram 1G] [--append "ws=128M rate=12800 pattern=rand"]
 *                 [--reps 3] [--max-downtime 300] [--deadline S]
 *                 [--warmup 2000] [--timeout 180] [--verify full|tracked]
 *                 [--link MBIT[,RTT_MS[,LOSS_PCT]]] [--loopback 1]
 *                 [--methods qmig,qemu,qemu-multifd,qemu-xbzrle,
 *                            qemu-autoconverge]
 *
 * A scenario file (tools/bench/scenarios/, format in docs/BENCHMARKS.md)
 * names the guest, the link, the limits, the methods and the targets; the
 * options override it. For each repetition, every method migrates a
 * freshly booted workload guest (tools/guest) over the same link: the
 * source QEMU and source qmigd in the rig's source namespace, the
 * destination qmigd (which launches the destination QEMU) in the other,
 * migration traffic over the rig's addresses. Without network namespaces
 * (not root) it runs on loopback, unshaped, and says so.
 *
 * All methods go through the agents' API (bm-run.c): qmig is
 * migration.start mode "agent"; qemu, qemu-multifd (2 channels),
 * qemu-xbzrle and qemu-autoconverge are mode "qemu", QEMU's own pre-copy
 * orchestrated by the agents, which compare both RAMs before the
 * destination runs.
 *
 * Output: a "run" line per migration, then markdown tables (median
 * [min-max] over correct runs), ratios qmig / the best correct QEMU
 * method (or its completed runs when none was correct, said so) and the
 * scenario's targets, met or not. With --out DIR also NAME.md (the same
 * tables), NAME.runs.tsv, NAME.rounds.tsv (qmig's pre-copy rounds from
 * migration.status) and NAME.gp (gnuplot: NAME-rounds.svg).
 * tools/bench/run-scenarios runs every scenario and draws the plots.
 *
 * QMIG_KEEP=1 keeps the agents' logs and state dirs (the launcher's rule)
 * and the bench's dir on /dev/shm, for a post-mortem.
 *
 * Leaves out: postcopy; KVM where it is real (the launcher's choice,
 * QMIG_ACCEL); the source QEMU's vCPU time spent on dirty tracking.
 */
#include "tools/bench/bm.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[128];
static bm_run runs[M__COUNT][BM_MAX_REPS];

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void at_exit(void)
{
	bm_run_teardown();
	bm_link_down();
	if (g_dir[0] && !getenv("QMIG_KEEP"))
		nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else if (g_dir[0])
		fprintf(stderr, "bench-migrate: QMIG_KEEP: kept %s\n", g_dir);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-migrate [--scenario FILE] [--out DIR] "
		"[--ram SIZE] [--append STR] [--reps N]\n"
		"  [--max-downtime MS] [--deadline S] [--warmup MS] "
		"[--timeout S] [--verify full|tracked]\n"
		"  [--link MBIT[,RTT_MS[,LOSS_PCT]]] [--loopback 1] "
		"[--methods M,...]\n");
	exit(2);
}

static const char *parse_args(int argc, char **argv, bm_scenario *s)
{
	const char *outdir = NULL;
	qm_error err = QM_ERROR_INIT;

	/* The scenario first, whatever the order: options override it. */
	for (int i = 1; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--scenario") &&
		    !bm_scenario_load(s, argv[i + 1], &err))
			bm_die("%s", err.msg);
	for (int i = 1; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(k, "-h") || !strcmp(k, "--help") || !v)
			usage();
		if (!strcmp(k, "--scenario"))
			continue;
		if (!strcmp(k, "--out"))
			outdir = v;
		else if (!bm_scenario_option(s, k, v, &err))
			bm_die("%s", err.msg);
	}
	return outdir;
}

/* Run dirs, RAM files and the agents' state all in one dir on tmpfs, so
 * RAM is a shared file backend and one removal cleans up. */
static void make_dir(void)
{
	char psk[200];
	FILE *f;

	snprintf(g_dir, sizeof(g_dir), "/dev/shm/qmig-bench-XXXXXX");
	if (!mkdtemp(g_dir))
		bm_die("mkdtemp %s: %s", g_dir, strerror(errno));
	setenv("TMPDIR", g_dir, 1);
	snprintf(psk, sizeof(psk), "%s/psk", g_dir);
	f = fopen(psk, "w");
	if (!f || fputs("bench-migrate pre-shared key, 32 bytes\n", f) < 0 ||
	    fclose(f) || chmod(psk, 0600))
		bm_die("%s: %s", psk, strerror(errno));
	bm_run_init(g_dir, psk);
}

int main(int argc, char **argv)
{
	const char *kernel = ql_guest_kernel(), *outdir;
	char note[300];
	bm_scenario s;

	bm_scenario_defaults(&s);
	outdir = parse_args(argc, argv, &s);
	qm_log_set_level(QM_LOG_ERROR);
	if (!ql_qemu_binary())
		bm_die("qemu-system-x86_64 not found (set QMIG_QEMU)");
	if (!*kernel || access(kernel, R_OK))
		bm_die("guest kernel not built (QMIG_GUEST=%s)", kernel);
	if (outdir && access(outdir, W_OK))
		bm_die("--out %s: %s", outdir, strerror(errno));
	bm_install_signals();
	atexit(at_exit);
	make_dir();
	bm_link_up(&s, note, sizeof(note));
	bm_report_header(&s, note);
	/* What a caller needs to check that nothing was left behind; on
	 * stderr, so the report on stdout names no path of this machine. */
	fprintf(stderr, "# rig prefix=%s dir=%s\n", *bm_link_prefix() ?
		bm_link_prefix() : "-", g_dir);

	for (int rep = 0; rep < s.reps; rep++) {
		for (int m = 0; m < M__COUNT; m++) {
			bm_run *r = &runs[m][rep];

			if (!s.methods[m])
				continue;
			memset(r, 0, sizeof(*r));
			r->rep = rep + 1;
			r->gv_ms = -1;
			r->downtime_ms = -1;
			bm_run_one(&s, m, r);
			bm_run_teardown();
			bm_report_run(&s, m, r);
		}
	}
	bm_report_summary(&s, runs, note, outdir);
	return 0;
}
