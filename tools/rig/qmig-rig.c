/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmig-rig: the rig from the command line, for scripts and for people
 * reproducing benchmarks (docs/RIG.md).
 *
 *   qmig-rig up PREFIX [--bw MBIT] [--rtt MS] [--loss PCT]
 *   qmig-rig shape PREFIX [--bw MBIT] [--rtt MS] [--loss PCT]
 *   qmig-rig cut PREFIX          qmig-rig restore PREFIX
 *   qmig-rig counters PREFIX     qmig-rig down PREFIX
 *   qmig-rig ping PREFIX [--count N]
 *   qmig-rig list                qmig-rig check
 *   qmig-rig exec PREFIX src|dst PROGRAM [ARG...]
 *
 * A rig made by `up` outlives this command; `down` removes it (also what a
 * killed test left behind).
 */
#define LOG_PREFIX "qmig-rig"
#include "tools/rig/rig.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: qmig-rig up PREFIX [--bw MBIT] [--rtt MS] [--loss PCT]\n"
		"       qmig-rig shape PREFIX [--bw MBIT] [--rtt MS] [--loss PCT]\n"
		"       qmig-rig cut|restore|counters|down PREFIX\n"
		"       qmig-rig exec PREFIX src|dst PROGRAM [ARG...]\n"
		"       qmig-rig ping PREFIX [--count N]\n"
		"       qmig-rig list | check\n"
		"PREFIX: 1 to %d characters of [a-z0-9]. The sides are the network\n"
		"namespaces PREFIX-src (10.213.0.1) and PREFIX-dst (10.213.0.2).\n",
		RIG_PREFIX_MAX);
}

static bool parse_num(const char *opt, const char *s, double *out,
		      qm_error *err)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (!*s || *end || errno)
		return qm_error_set(err, QM_ERR_INVAL, "%s '%s' is not a number",
				    opt, s);
	return true;
}

/* --bw/--rtt/--loss after PREFIX; what is not given stays as in @l. */
static bool parse_link(int argc, char **argv, rig_link *l, qm_error *err)
{
	static const struct option opts[] = {
		{ "bw", required_argument, NULL, 'b' },
		{ "rtt", required_argument, NULL, 'r' },
		{ "loss", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok;

		switch (c) {
		case 'b':
			ok = parse_num("--bw", optarg, &l->bw_mbit, err);
			break;
		case 'r':
			ok = parse_num("--rtt", optarg, &l->rtt_ms, err);
			break;
		case 'l':
			ok = parse_num("--loss", optarg, &l->loss_pct, err);
			break;
		default:
			return qm_error_set(err, QM_ERR_INVAL, "unknown option");
		}
		if (!ok)
			return false;
	}
	if (optind != argc)
		return qm_error_set(err, QM_ERR_INVAL, "unexpected argument '%s'",
				    argv[optind]);
	return true;
}

static void print_rig(const rig *r)
{
	rig_link l;

	rig_get_link(r, &l);
	printf("%s: %s, %s; bw %g Mbit/s, rtt %g ms, loss %g%%; forwarder %s",
	       rig_prefix(r), rig_ns(r, RIG_SRC), rig_ns(r, RIG_DST),
	       l.bw_mbit, l.rtt_ms, l.loss_pct, rig_forwarder(r));
	if (rig_linkem_pid(r))
		printf(" (pid %d)", (int)rig_linkem_pid(r));
	printf("%s\n", rig_is_cut(r) ? "; CUT" : "");
}

static bool cmd_counters(const rig *r, qm_error *err)
{
	for (int s = RIG_SRC; s <= RIG_DST; s++) {
		rig_stats st;

		if (!rig_counters(r, s, &st, err))
			return false;
		printf("%s tx_bytes=%llu tx_packets=%llu rx_bytes=%llu "
		       "rx_packets=%llu link_pkts=%llu link_lost=%llu "
		       "link_dropped=%llu link_split=%llu\n",
		       s == RIG_SRC ? "src" : "dst",
		       (unsigned long long)st.tx_bytes,
		       (unsigned long long)st.tx_packets,
		       (unsigned long long)st.rx_bytes,
		       (unsigned long long)st.rx_packets,
		       (unsigned long long)st.link_pkts,
		       (unsigned long long)st.link_lost,
		       (unsigned long long)st.link_dropped,
		       (unsigned long long)st.link_split);
	}
	return true;
}

static bool cmd_list(qm_error *err)
{
	DIR *d = opendir(RIG_RUN_DIR);
	struct dirent *de;

	if (!d)
		return errno == ENOENT ||
		       qm_error_errno(err, errno, "%s", RIG_RUN_DIR);
	while ((de = readdir(d))) {
		qm_error e = QM_ERROR_INIT;
		rig *r;

		if (de->d_name[0] == '.')
			continue;
		r = rig_open(de->d_name, &e);
		if (!r) {
			printf("%s: %s\n", de->d_name, e.msg);
			continue;
		}
		print_rig(r);
		rig_close(r);
	}
	closedir(d);
	return true;
}

/* TCP ping-pong from src: the RTT the link really gives. */
static bool cmd_ping(const rig *r, int argc, char **argv, qm_error *err)
{
	double min, med, count = 20;

	if (argc == 3 && !strcmp(argv[1], "--count")) {
		if (!parse_num("--count", argv[2], &count, err))
			return false;
	} else if (argc != 1) {
		return qm_error_set(err, QM_ERR_INVAL, "usage: qmig-rig ping "
				    "PREFIX [--count N]");
	}
	if (!rig_ping(r, RIG_SRC, (int)count, &min, &med, err))
		return false;
	printf("rtt min %.3f ms, median %.3f ms (%d TCP round trips)\n", min,
	       med, (int)count);
	return true;
}

static int cmd_exec(const char *prefix, int argc, char **argv,
		    qm_error *err)
{
	rig_side side;
	rig *r;

	if (argc < 2 || (strcmp(argv[0], "src") && strcmp(argv[0], "dst"))) {
		usage(stderr);
		return 2;
	}
	side = strcmp(argv[0], "src") ? RIG_DST : RIG_SRC;
	r = rig_open(prefix, err);
	if (!r || !rig_enter(r, side, err))
		return 1;
	rig_close(r);
	execvp(argv[1], argv + 1);
	qm_error_errno(err, errno, "exec %s", argv[1]);
	return 127;
}

static int run(const char *verb, const char *prefix, int argc, char **argv,
	       qm_error *err)
{
	rig_link l = { 0 };
	rig *r;
	bool ok;

	if (!strcmp(verb, "down"))
		return rig_down_prefix(prefix, err) ? 0 : 1;
	if (!strcmp(verb, "up")) {
		if (!parse_link(argc, argv, &l, err) ||
		    !(r = rig_up_detached(prefix, &l, err)))
			return 1;
		print_rig(r);
		rig_close(r);
		return 0;
	}
	if (!strcmp(verb, "exec"))
		return cmd_exec(prefix, argc - 1, argv + 1, err);
	r = rig_open(prefix, err);
	if (!r)
		return 1;
	if (!strcmp(verb, "shape")) {
		rig_get_link(r, &l);
		ok = parse_link(argc, argv, &l, err) && rig_shape(r, &l, err);
		if (ok)
			print_rig(r);
	} else if (!strcmp(verb, "cut") || !strcmp(verb, "restore")) {
		ok = rig_link_set(r, !strcmp(verb, "restore"), err);
	} else if (!strcmp(verb, "counters")) {
		ok = cmd_counters(r, err);
	} else if (!strcmp(verb, "ping")) {
		ok = cmd_ping(r, argc, argv, err);
	} else {
		rig_close(r);
		usage(stderr);
		return 2;
	}
	rig_close(r);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	qm_error err = QM_ERROR_INIT;
	char why[QM_ERROR_MSG_MAX];
	int rc;

	if (argc >= 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "check")) {
		if (rig_available(why, sizeof(why))) {
			printf("rig: usable\n");
			return 0;
		}
		printf("rig: not usable: %s\n", why);
		return 1;
	}
	if (argc == 2 && !strcmp(argv[1], "list"))
		rc = cmd_list(&err) ? 0 : 1;
	else if (argc >= 3)
		/* Options follow the prefix: getopt sees argv from there. */
		rc = run(argv[1], argv[2], argc - 2, argv + 2, &err);
	else
		rc = (usage(stderr), 2);
	if (rc && rc != 2)
		fprintf(stderr, "qmig-rig: %s\n", err.msg);
	return rc;
}
