/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rig against the real kernel: two namespaces joined by a shaped link
 * carry traffic at the configured rate and delay, lose the configured
 * share of packets (one packet at a time, also inside GSO frames), cut and
 * restore, count, change shaping under a live connection, and leave
 * nothing behind: not on rig_down, not on SIGINT of the owner, and after
 * SIGKILL of the owner `qmig-rig down` (rig_down_prefix) finds the rest.
 *
 * The bounds are loose: this checks that shaping is applied, it is not a
 * benchmark (docs/RIG.md has the measurements).
 */
#include "tests/qmig_test.h"
#include "tests/integration/rig/net.h"
#include "tools/rig/rig.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BW_MBIT 100.0
#define RTT_MS 10.0
#define LOSS_PCT 5.0

static rig *g_rig;
static char g_prefix[RIG_PREFIX_MAX + 1];

static const rig_link shaped = { .bw_mbit = BW_MBIT, .rtt_ms = RTT_MS };

static int group_setup(void **state)
{
	qm_error err = QM_ERROR_INIT;

	snprintf(g_prefix, sizeof(g_prefix), "rt%u",
		 (unsigned)getpid() % 1000000);
	g_rig = rig_up(g_prefix, &shaped, &err);
	if (!g_rig) {
		fprintf(stderr, "rig_up: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	rig_down(g_rig);
	g_rig = NULL;
	return 0;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void ns_path(char *buf, size_t len, const char *prefix,
		    const char *side)
{
	snprintf(buf, len, "/run/netns/%s-%s", prefix, side);
}

/* Gone, or a zombie nobody reaped yet. */
static bool pid_gone(pid_t pid)
{
	char path[64], st[256];
	FILE *f;
	bool zombie = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(st, sizeof(st), f))
		zombie = strstr(st, ") Z") != NULL;
	fclose(f);
	return zombie;
}

static bool wait_gone(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (pid_gone(pid))
			return true;
		usleep(10000);
	}
	return pid_gone(pid);
}

/* Processes whose network namespace has inode @ino. */
static int procs_in_ns(uint64_t ino)
{
	char path[300];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir("/proc");
	int n = 0;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st) == 0 && st.st_ino == ino)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Nothing of rig @prefix: no namespace, no run dir. */
static void assert_no_rig(const char *prefix)
{
	static const char *const sides[] = { "src", "dst", "link" };
	char path[128];

	for (size_t i = 0; i < QM_ARRAY_SIZE(sides); i++) {
		ns_path(path, sizeof(path), prefix, sides[i]);
		assert_false(exists(path));
	}
	snprintf(path, sizeof(path), RIG_RUN_DIR "/%s", prefix);
	assert_false(exists(path));
}

/* ---- the shared rig ---- */

/* Both sides reach each other; names and addresses are as documented; a
 * second rig of the same prefix and a bad prefix are refused. */
static void test_connectivity(void **state)
{
	qm_error err = QM_ERROR_INIT;
	rig_link l = { 0 };
	struct stat a, b;
	char path[128];

	snprintf(path, sizeof(path), "%s-src", g_prefix);
	assert_string_equal(rig_ns(g_rig, RIG_SRC), path);
	assert_string_equal(rig_addr(g_rig, RIG_SRC), "10.213.0.1");
	assert_string_equal(rig_addr(g_rig, RIG_DST), "10.213.0.2");
	assert_int_equal(stat(rig_ns_path(g_rig, RIG_DST), &a), 0);
	assert_int_equal(stat("/proc/self/ns/net", &b), 0);
	assert_true(a.st_ino != b.st_ino);
	/* netem where the kernel has it, else linkem. */
	if (strcmp(rig_forwarder(g_rig), "netem")) {
		assert_string_equal(rig_forwarder(g_rig), "linkem");
		assert_true(rig_linkem_pid(g_rig) > 0);
	}

	for (int from = RIG_SRC; from <= RIG_DST; from++) {
		int lfd = rn_listen(g_rig, !from, 5100);
		int cfd = rn_connect(g_rig, from, 5100, 5000);
		int afd = rn_accept(lfd, 5000);

		assert_true(lfd >= 0 && cfd >= 0 && afd >= 0);
		assert_true(rn_write_pattern(cfd, 0, 1000));
		assert_true(rn_read_pattern(afd, 0, 1000, 5000));
		close(afd);
		close(cfd);
		close(lfd);
	}

	assert_null(rig_up(g_prefix, &l, &err));
	assert_int_equal(err.code, QM_ERR_STATE);
	qm_error_clear(&err);
	assert_null(rig_up("Bad/x", &l, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
}

/* Each direction is shaped to the configured rate, and every byte
 * arrives as sent. */
static void test_bandwidth(void **state)
{
	double up = rn_transfer(g_rig, RIG_SRC, 5101, 6 << 20);
	double down = rn_transfer(g_rig, RIG_DST, 5102, 3 << 20);

	printf("# %.0f Mbit/s link: src->dst %.1f, dst->src %.1f Mbit/s\n",
	       BW_MBIT, up, down);
	assert_true(up > 0.3 * BW_MBIT && up < 1.3 * BW_MBIT);
	assert_true(down > 0.3 * BW_MBIT && down < 1.3 * BW_MBIT);
}

/* A round trip takes at least the configured RTT, and not much more. */
static void test_rtt(void **state)
{
	qm_error err = QM_ERROR_INIT;
	double min, med;

	assert_true(rig_ping(g_rig, RIG_SRC, 30, &min, &med, &err));
	printf("# %.0f ms link: TCP ping-pong min %.3f, median %.3f ms\n",
	       RTT_MS, min, med);
	assert_true(min >= RTT_MS);
	assert_true(med < RTT_MS + 20);
}

/* With loss set, the observed loss (UDP datagrams that arrived) and the
 * link's own count match it; a TCP transfer through the lossy link gets
 * every byte right, and the link splits GSO frames to lose single
 * packets: it counts as many lost packets as the rate predicts. */
static void test_loss(void **state)
{
	rig_link l = shaped;
	qm_error err = QM_ERROR_INIT;
	rig_stats a, b;
	int sent, got;
	double lost, counted, mbit;

	l.loss_pct = LOSS_PCT;
	assert_true(rig_shape(g_rig, &l, &err));
	assert_true(rig_counters(g_rig, RIG_SRC, &a, &err));
	assert_true(rn_udp_burst(g_rig, RIG_SRC, 5104, 4000, 1000, &sent,
				 &got));
	assert_true(rig_counters(g_rig, RIG_SRC, &b, &err));
	lost = 1.0 - (double)got / sent;
	counted = (double)(b.link_lost - a.link_lost) /
		  (b.link_pkts - a.link_pkts);
	printf("# %.1f%% loss: %d of %d datagrams arrived (%.2f%% lost), "
	       "link counted %.2f%%\n", LOSS_PCT, got, sent, 100 * lost,
	       100 * counted);
	assert_int_equal(sent, 4000);
	/* 4000 draws at 5%: sd 0.34 points; these bounds are > 3.5 sd. */
	assert_true(lost > 0.025 && lost < 0.08);
	assert_true(counted > 0.025 && counted < 0.08);

	a = b;
	mbit = rn_transfer(g_rig, RIG_SRC, 5105, 1 << 20);
	assert_true(rig_counters(g_rig, RIG_SRC, &b, &err));
	counted = (double)(b.link_lost - a.link_lost) /
		  (b.link_pkts - a.link_pkts);
	printf("# TCP through %.1f%% loss: %.1f Mbit/s, %llu of %llu packets "
	       "lost (%.2f%%), %llu GSO frames split\n", LOSS_PCT, mbit,
	       (unsigned long long)(b.link_lost - a.link_lost),
	       (unsigned long long)(b.link_pkts - a.link_pkts), 100 * counted,
	       (unsigned long long)(b.link_split - a.link_split));
	assert_true(mbit > 0);
	/* 1 MiB is over 700 packets, some 36 lost at 5%: the sender's GSO
	 * frames were split for it rather than lost whole. */
	assert_true(b.link_pkts - a.link_pkts >= (1 << 20) / 1500);
	assert_true(counted > 0.015 && counted < 0.12);
	if (!strcmp(rig_forwarder(g_rig), "linkem"))
		assert_true(b.link_split > a.link_split);

	assert_true(rig_shape(g_rig, &shaped, &err));
}

/* A cut link carries nothing, both ways: a connect times out and data on
 * an established connection waits; after the restore the data arrives
 * and new connections work. */
static void test_cut_restore(void **state)
{
	qm_error err = QM_ERROR_INIT;
	int lfd = rn_listen(g_rig, RIG_DST, 5106);
	int cfd = rn_connect(g_rig, RIG_SRC, 5106, 5000);
	int afd = rn_accept(lfd, 5000), fd;
	struct pollfd p = { .fd = afd, .events = POLLIN };

	assert_true(lfd >= 0 && cfd >= 0 && afd >= 0);
	assert_true(rig_link_set(g_rig, false, &err));
	assert_true(rig_is_cut(g_rig));

	fd = rn_connect(g_rig, RIG_SRC, 5106, 600);
	assert_int_equal(fd, -1);
	assert_true(rn_write_pattern(cfd, 0, 4000));
	assert_int_equal(poll(&p, 1, 400), 0);

	assert_true(rig_link_set(g_rig, true, &err));
	assert_false(rig_is_cut(g_rig));
	/* Arrives with the next retransmission (RTO backoff: seconds). */
	assert_true(rn_read_pattern(afd, 0, 4000, 10000));
	fd = rn_connect(g_rig, RIG_SRC, 5106, 5000);
	assert_true(fd >= 0);
	close(fd);
	close(afd);
	close(cfd);
	close(lfd);
}

/* The sides' interface counters and the link's grow with traffic. */
static void test_counters(void **state)
{
	qm_error err = QM_ERROR_INIT;
	rig_stats s0, d0, s1, d1;

	assert_true(rig_counters(g_rig, RIG_SRC, &s0, &err));
	assert_true(rig_counters(g_rig, RIG_DST, &d0, &err));
	assert_true(rn_transfer(g_rig, RIG_SRC, 5107, 1 << 20) > 0);
	assert_true(rig_counters(g_rig, RIG_SRC, &s1, &err));
	assert_true(rig_counters(g_rig, RIG_DST, &d1, &err));
	assert_true(s1.tx_bytes - s0.tx_bytes >= 1 << 20);
	assert_true(d1.rx_bytes - d0.rx_bytes >= 1 << 20);
	assert_true(s1.tx_packets > s0.tx_packets);
	assert_true(d1.tx_packets > d0.tx_packets); /* ACKs */
	assert_true(s1.link_pkts - s0.link_pkts >= (1 << 20) / 1500);
	assert_true(d1.link_pkts > d0.link_pkts);
	assert_int_equal(rig_counters(g_rig, 7, &s1, &err), false);
}

/* @len pattern bytes from @cfd to @afd, a chunk at a time (one thread
 * writes and reads: it must not fill both socket buffers). */
static bool exchange(int cfd, int afd, uint64_t *off, size_t len)
{
	for (size_t done = 0; done < len; done += 65536, *off += 65536)
		if (!rn_write_pattern(cfd, *off, 65536) ||
		    !rn_read_pattern(afd, *off, 65536, 5000))
			return false;
	return true;
}

static void *shape_thread(void *arg)
{
	qm_error err = QM_ERROR_INIT;

	return rig_shape(g_rig, arg, &err) ? arg : NULL;
}

/* Reshaping switches forwarders (linkem -> kernel -> linkem) under a
 * live connection, which carries on. The second switch is made by a
 * thread that then exits: the linkem it started lives on (it follows the
 * owning process, not the thread). */
static void test_reshape_live(void **state)
{
	static const rig_link plain = { 0 };
	qm_error err = QM_ERROR_INIT;
	int lfd = rn_listen(g_rig, RIG_DST, 5108);
	int cfd = rn_connect(g_rig, RIG_SRC, 5108, 5000);
	int afd = rn_accept(lfd, 5000);
	pid_t old = rig_linkem_pid(g_rig);
	uint64_t off = 0;
	pthread_t th;
	void *ret;

	assert_true(lfd >= 0 && cfd >= 0 && afd >= 0);
	assert_true(rig_shape(g_rig, &plain, &err));
	assert_string_equal(rig_forwarder(g_rig), "kernel");
	assert_int_equal(rig_linkem_pid(g_rig), 0);
	assert_true(!old || wait_gone(old, 2000));
	assert_true(exchange(cfd, afd, &off, 1 << 20));

	assert_int_equal(pthread_create(&th, NULL, shape_thread,
				       (void *)&shaped), 0);
	assert_int_equal(pthread_join(th, &ret), 0);
	assert_non_null(ret);
	usleep(100000);
	assert_string_not_equal(rig_forwarder(g_rig), "kernel");
	assert_true(rig_linkem_pid(g_rig) > 0 ||
		    !strcmp(rig_forwarder(g_rig), "netem"));
	assert_true(exchange(cfd, afd, &off, 1 << 18));
	assert_true(!rig_linkem_pid(g_rig) ||
		    !pid_gone(rig_linkem_pid(g_rig)));
	close(afd);
	close(cfd);
	close(lfd);
}

/* rig_down removes namespaces, run dir and linkem; nothing holds the
 * namespaces any more. */
static void test_down(void **state)
{
	pid_t linkem = rig_linkem_pid(g_rig);
	uint64_t ino[2];
	struct stat st;

	for (int s = 0; s < 2; s++) {
		assert_int_equal(stat(rig_ns_path(g_rig, s), &st), 0);
		ino[s] = st.st_ino;
	}
	rig_down(g_rig);
	g_rig = NULL;
	assert_no_rig(g_prefix);
	assert_true(!linkem || pid_gone(linkem));
	assert_int_equal(procs_in_ns(ino[0]), 0);
	assert_int_equal(procs_in_ns(ino[1]), 0);
	rig_down(NULL);
}

/* ---- owners that die ---- */

/* In a child: a rig with a linkem; report linkem's pid, then wait to be
 * killed. */
static pid_t owner_child(const char *prefix, bool cleanup, pid_t *linkem)
{
	int fds[2];
	pid_t pid;
	struct pollfd p;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rig_link l = { .rtt_ms = 2 };
		qm_error err = QM_ERROR_INIT;
		pid_t lp = -1;
		rig *r;

		close(fds[0]);
		if (cleanup)
			rig_install_cleanup();
		r = rig_up(prefix, &l, &err);
		if (r)
			lp = rig_linkem_pid(r);
		else
			fprintf(stderr, "child rig_up: %s\n", err.msg);
		if (write(fds[1], &lp, sizeof(lp)) != sizeof(lp) || !r)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 15000), 1);
	assert_int_equal(read(fds[0], linkem, sizeof(*linkem)),
			 sizeof(*linkem));
	close(fds[0]);
	assert_true(*linkem >= 0);
	return pid;
}

/* Ctrl-C of the owner: its handler takes the rig down, then it dies of
 * the signal. */
static void test_sigint_owner(void **state)
{
	char prefix[RIG_PREFIX_MAX + 1], path[128];
	pid_t linkem, child;
	int status;

	snprintf(prefix, sizeof(prefix), "ri%u", (unsigned)getpid() % 1000000);
	child = owner_child(prefix, true, &linkem);
	ns_path(path, sizeof(path), prefix, "link");
	assert_true(exists(path));
	kill(child, SIGINT);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
	assert_no_rig(prefix);
	assert_true(!linkem || wait_gone(linkem, 2000));
}

/* SIGKILL of the owner: linkem dies with it (PDEATHSIG); the namespaces
 * stay until rig_down_prefix (qmig-rig down) removes them. */
static void test_sigkill_owner(void **state)
{
	char prefix[RIG_PREFIX_MAX + 1], path[128];
	qm_error err = QM_ERROR_INIT;
	pid_t linkem, child;
	int status;

	snprintf(prefix, sizeof(prefix), "rk%u", (unsigned)getpid() % 1000000);
	child = owner_child(prefix, false, &linkem);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(!linkem || wait_gone(linkem, 3000));
	ns_path(path, sizeof(path), prefix, "src");
	assert_true(exists(path));

	assert_true(rig_down_prefix(prefix, &err));
	assert_no_rig(prefix);
	assert_false(rig_down_prefix(prefix, &err));
	assert_int_equal(err.code, QM_ERR_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest shared[] = {
		cmocka_unit_test(test_connectivity),
		cmocka_unit_test(test_bandwidth),
		cmocka_unit_test(test_rtt),
		cmocka_unit_test(test_loss),
		cmocka_unit_test(test_cut_restore),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_reshape_live),
		cmocka_unit_test(test_down),
	};
	const struct CMUnitTest owners[] = {
		cmocka_unit_test(test_sigint_owner),
		cmocka_unit_test(test_sigkill_owner),
	};
	char why[QM_ERROR_MSG_MAX];
	int rc;

	if (!rig_available(why, sizeof(why)))
		QT_SKIP("rig not usable here: %s", why);
	rig_install_cleanup();
	rc = cmocka_run_group_tests_name("rig", shared, group_setup,
					 group_teardown);
	return rc | cmocka_run_group_tests_name("rig owners", owners, NULL,
						 NULL);
}
