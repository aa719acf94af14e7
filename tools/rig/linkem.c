/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmig-linkem: a userspace delay line between two network interfaces, for
 * kernels without netem (docs/RIG.md).
 *
 *   qmig-linkem [--delay-us N] [--loss PCT] [--seed N] [--limit SIZE]
 *               [--stats FILE] [--control FILE] [--owner PID] IF_A IF_B
 *
 * Runs in the namespace that holds IF_A and IF_B (the rig's <prefix>-link)
 * and forwards every frame read on one to the other after the one-way
 * delay, dropping each wire packet with probability PCT/100, independently
 * per direction. SIGHUP re-reads the control file, SIGTERM/SIGINT end it
 * (frames still in the delay line are dropped, as on a cut cable), and so
 * does the end of the --owner process (watched through a pidfd: unlike
 * PR_SET_PDEATHSIG, which fires when the forking *thread* exits, this
 * follows the process that owns the rig).
 *
 * Frames keep their virtio-net header (PACKET_VNET_HDR on both sockets), so
 * a 64 KiB TCP GSO frame with a partial checksum crosses as one frame, as
 * it would cross a veth: that is what makes 1 Gbit/s cheap. With loss set,
 * a GSO frame in which a packet is to be lost is split into its packets and
 * only that one is dropped (linkem-seg.c).
 */
#define LOG_PREFIX "linkem"
#include "tools/rig/linkem-run.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		lk_reload = 1;
	else
		lk_stop = 1;
}

static int open_iface(const char *name, qm_error *err)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	int one = 1, buf = SOCK_BUF;
	int fd;

	sll.sll_ifindex = if_nametoindex(name);
	if (!sll.sll_ifindex) {
		qm_error_errno(err, errno, "interface %s", name);
		return -1;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		qm_error_errno(err, errno, "AF_PACKET socket");
		return -1;
	}
	/* Without IGNORE_OUTGOING the socket would read back every frame
	 * linkem sends the other way. */
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		       sizeof(one))) {
		qm_error_errno(err, errno, "%s: PACKET_VNET_HDR or "
			       "PACKET_IGNORE_OUTGOING", name);
		close(fd);
		return -1;
	}
	/* Without timestamps the delay would start when linkem reads. */
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		qm_error_errno(err, errno, "binding to %s", name);
		close(fd);
		return -1;
	}
	return fd;
}

static linkem_stats *map_stats(const char *path, qm_error *err)
{
	linkem_stats *s;
	int fd;

	if (!path) {
		s = calloc(1, sizeof(*s));
		if (!s)
			qm_error_set(err, QM_ERR_NOMEM, "stats");
		return s;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, sizeof(*s)) < 0) {
		qm_error_errno(err, errno, "stats file %s", path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (s == MAP_FAILED) {
		qm_error_errno(err, errno, "mapping %s", path);
		return NULL;
	}
	return s;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: qmig-linkem [--delay-us N] [--loss PCT] [--seed N] "
		"[--limit SIZE]\n"
		"                   [--stats FILE] [--control FILE] [--owner PID] "
		"IF_A IF_B\n");
}

static bool bad_arg(const char *opt, const char *want, qm_error *err)
{
	return qm_error_set(err, QM_ERR_INVAL, "%s '%s' is not %s", opt,
			    optarg, want);
}

static bool parse_args(int argc, char **argv, linkem *lk, uint64_t *limit,
		       const char **stats, pid_t *owner, const char **ifs,
		       qm_error *err)
{
	static const struct option opts[] = {
		{ "delay-us", required_argument, NULL, 'd' },
		{ "loss", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'L' },
		{ "stats", required_argument, NULL, 'S' },
		{ "control", required_argument, NULL, 'c' },
		{ "owner", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double loss = 0;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			lk->delay_ns = strtoll(optarg, &end, 10) * 1000;
			if (*end || lk->delay_ns < 0)
				return bad_arg("--delay-us", "a count", err);
			break;
		case 'l':
			loss = strtod(optarg, &end);
			if (*end || loss < 0 || loss > 100)
				return bad_arg("--loss", "in 0..100", err);
			lk->loss_ppm = loss * 10000 + 0.5;
			break;
		case 's':
			lk->rng = strtoull(optarg, NULL, 0);
			break;
		case 'L':
			if (!qm_parse_size(optarg, limit, err))
				return false;
			break;
		case 'S':
			*stats = optarg;
			break;
		case 'c':
			lk->control = optarg;
			break;
		case 'o':
			*owner = strtol(optarg, &end, 10);
			if (*end || *owner <= 1)
				return bad_arg("--owner", "a pid", err);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		exit(2);
	}
	ifs[0] = argv[optind];
	ifs[1] = argv[optind + 1];
	return true;
}

/* The owner's pidfd. Checked against getppid() afterwards: an owner that
 * died before pidfd_open could have had its pid reused. */
static bool watch_owner(linkem *lk, pid_t owner, qm_error *err)
{
	lk->owner_fd = -1;
	if (!owner)
		return true;
	lk->owner_fd = syscall(SYS_pidfd_open, owner, 0);
	if (lk->owner_fd < 0)
		return qm_error_errno(err, errno, "pidfd_open(owner %d)",
				      (int)owner);
	if (getppid() != owner)
		return qm_error_set(err, QM_ERR_STATE, "owner %d is gone",
				    (int)owner);
	return true;
}

static bool setup(linkem *lk, const char *const *ifs, uint64_t limit,
		  const char *stats, pid_t owner, qm_error *err)
{
	int fd[2];
	int d;

	if (!watch_owner(lk, owner, err))
		return false;

	for (d = 0; d < 2; d++)
		if ((fd[d] = open_iface(ifs[d], err)) < 0)
			return false;
	lk->stats = map_stats(stats, err);
	lk->rxbuf = malloc((size_t)RX_BATCH * RX_SLOT);
	if (!lk->stats || !lk->rxbuf)
		return qm_error_set(err, QM_ERR_NOMEM, "buffers");
	for (d = 0; d < 2; d++) {
		lane *ln = &lk->ln[d];

		ln->in_name = ifs[d];
		ln->in = fd[d];
		ln->out = fd[!d];
		ln->st = &lk->stats->dir[d];
		if (!lk_ring_init(&ln->q, limit))
			return qm_error_set(err, QM_ERR_NOMEM, "delay line of "
					    "%llu bytes",
					    (unsigned long long)limit);
	}
	lk_apply(lk, lk->delay_ns / 1000, lk->loss_ppm);
	if (lk->control && !lk_load_control(lk, err))
		return false;
	st_set(&lk->stats->pid, getpid());
	st_set(&lk->stats->magic, LINKEM_STATS_MAGIC);
	return true;
}

int main(int argc, char **argv)
{
	static linkem lk;
	struct sigaction sa = { .sa_handler = on_signal };
	qm_error err = QM_ERROR_INIT;
	const char *ifs[2], *stats = NULL;
	uint64_t limit = DEFAULT_LIMIT;
	pid_t owner = 0;
	sigset_t block, waitmask;
	int rc;

	lk.rng = qm_now_ns() ^ ((uint64_t)getpid() << 32);
	if (!parse_args(argc, argv, &lk, &limit, &stats, &owner, ifs, &err)) {
		fprintf(stderr, "qmig-linkem: %s\n", err.msg);
		return 2;
	}
	/* Signals only interrupt ppoll, never a half-queued frame. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGHUP);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A 500 us one-way delay needs wake-ups to the microsecond, not the
	 * default 50 us timer slack. */
	prctl(PR_SET_TIMERSLACK, 1UL);

	if (!setup(&lk, ifs, limit, stats, owner, &err)) {
		fprintf(stderr, "qmig-linkem: %s\n", err.msg);
		return 1;
	}
	pr_info("forwarding %s <-> %s", ifs[0], ifs[1]);
	rc = lk_run(&lk, &waitmask);
	for (int d = 0; d < 2; d++) {
		linkem_dir_stats *s = lk.ln[d].st;

		pr_info("%s: in %llu, out %llu, lost %llu, overflow %llu, "
			"send errors %llu, socket drops %llu, split %llu",
			ifs[d], (unsigned long long)s->pkts_in,
			(unsigned long long)s->pkts_out,
			(unsigned long long)s->lost,
			(unsigned long long)s->overflow,
			(unsigned long long)s->send_err,
			(unsigned long long)s->sock_drops,
			(unsigned long long)s->split);
	}
	return rc;
}
