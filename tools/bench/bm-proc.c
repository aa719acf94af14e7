/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exiting on errors and signals, and what the bench reads from /proc:
 * load, CPU time of processes and of QEMU's migration threads, the
 * QEMUs the agents started.
 */
#include "tools/bench/bm.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

void bm_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench-migrate: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

void bm_check_intr(void)
{
	if (interrupted)
		bm_die("interrupted");
}

/* Only a flag: the main thread notices it within a poll interval and
 * exits through atexit, which tears the rig and the VMs down. */
static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void bm_install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void bm_sleep_ms(int ms)
{
	usleep(ms * 1000);
}

double bm_load1(void)
{
	double v = 0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (!f || fscanf(f, "%lf", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v;
}

/* utime + stime of a process or a thread (/proc/PID[/task/TID]/stat). */
static double stat_cpu(const char *path)
{
	char buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f = fopen(path, "r");
	bool ok = f && fgets(buf, sizeof(buf), f) &&
		  (p = strrchr(buf, ')')) &&
		  sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) == 2;

	if (f)
		fclose(f);
	return ok ? (double)(ut + st) / sysconf(_SC_CLK_TCK) : 0;
}

double bm_proc_cpu(pid_t pid)
{
	char path[64];

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_cpu(path);
}

/* Calls @fn for every QEMU whose command line contains @dir. */
static int each_qemu(const char *dir, void (*fn)(pid_t, void *), void *arg)
{
	char path[64], cmd[8192];
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;

	while (d && (de = readdir(d))) {
		FILE *fp;
		size_t len;

		if (atoi(de->d_name) <= 0 ||
		    !qm_format(path, sizeof(path), "/proc/%s/cmdline",
			       de->d_name))
			continue;
		fp = fopen(path, "r");
		if (!fp)
			continue;
		len = fread(cmd, 1, sizeof(cmd) - 1, fp);
		fclose(fp);
		for (size_t i = 0; i < len; i++)
			cmd[i] = cmd[i] ? cmd[i] : ' ';
		cmd[len] = '\0';
		if (strstr(cmd, "qemu-system") && strstr(cmd, dir)) {
			fn(atoi(de->d_name), arg);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

static void take_pid(pid_t pid, void *arg)
{
	*(pid_t *)arg = pid;
}

pid_t bm_find_qemu(const char *dir)
{
	pid_t pid = 0;

	if (dir && *dir)
		each_qemu(dir, take_pid, &pid);
	return pid;
}

static bool gone_or_zombie(pid_t pid)
{
	char path[64], st[128] = "", *p;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	if (!fp)
		return true;
	if (!fgets(st, sizeof(st), fp))
		st[0] = '\0';
	fclose(fp);
	p = strrchr(st, ')');
	return p && p[1] && p[2] == 'Z';
}

typedef struct kill_list {
	pid_t pid[16];
	int n;
} kill_list;

static void kill_one(pid_t pid, void *arg)
{
	kill_list *k = arg;

	if (k->n < (int)QM_ARRAY_SIZE(k->pid) && kill(pid, SIGKILL) == 0)
		k->pid[k->n++] = pid;
}

/* QEMUs an agent started run on after it exits (by design): the bench
 * removes them itself, and waits until they are gone (or zombies of the
 * agent) before their RAM files are removed. */
void bm_kill_qemus(const char *dir)
{
	kill_list k = { .n = 0 };

	if (!dir || !*dir)
		return;
	each_qemu(dir, kill_one, &k);
	for (int i = 0; i < k.n; i++)
		for (int t = 0; t < 200 && !gone_or_zombie(k.pid[i]); t++)
			bm_sleep_ms(10);
}

static struct {
	int tid;
	double s;
} thr[32];
static int nthr;

void bm_mig_threads_reset(void)
{
	nthr = 0;
}

void bm_mig_threads_sample(pid_t pid)
{
	char path[300], comm[32];
	struct dirent *de;
	DIR *d;

	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		int tid = atoi(de->d_name), i;
		FILE *f;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid,
			 tid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "live_migration", 14) &&
		    strncmp(comm, "multifdsend", 11))
			continue;
		for (i = 0; i < nthr && thr[i].tid != tid; i++)
			;
		if (i == nthr) {
			if (nthr == (int)QM_ARRAY_SIZE(thr))
				continue;
			nthr++;
			thr[i].s = 0;
		}
		thr[i].tid = tid;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
			 tid);
		thr[i].s = QM_MAX(thr[i].s, stat_cpu(path));
	}
	if (d)
		closedir(d);
}

double bm_mig_threads_cpu(void)
{
	double s = 0;

	for (int i = 0; i < nthr; i++)
		s += thr[i].s;
	return s;
}

uint64_t bm_alloc_in_dir(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	uint64_t best = 0, size = 0;

	while (d && (de = readdir(d))) {
		char p[1024];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size > size) {
			size = st.st_size;
			best = (uint64_t)st.st_blocks * 512;
		}
	}
	if (d)
		closedir(d);
	return best;
}
