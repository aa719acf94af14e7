/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vCPU throttling through the cpu cgroup controller. See throttle.h.
 */
#define LOG_PREFIX "throttle"
#include "agent/throttle.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define V2_ROOT "/sys/fs/cgroup"
#define V2_UNIFIED "/sys/fs/cgroup/unified"
#define V1_CPU "/sys/fs/cgroup/cpu"

typedef enum cg_kind { CG_V1, CG_V2 } cg_kind;

struct qm_throttle {
	cg_kind kind;
	char mount[256];                   /* the controller's mount */
	char dir[512];                     /* the throttle cgroup */
	int n;
	pid_t tids[QM_THROTTLE_MAX_THREADS];
	char home[QM_THROTTLE_MAX_THREADS][256]; /* where each came from */
	unsigned pct;
};

static int write_file(const char *dir, const char *file, const char *val)
{
	char path[640];
	int fd, rc = 0;
	size_t len = strlen(val);

	if (!qm_format(path, sizeof(path), "%s/%s", dir, file))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		rc = -errno;
	close(fd);
	return rc;
}

static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* Whether the word "cpu" is in a list separated by @sep. */
static bool has_cpu(const char *list, const char *sep)
{
	char buf[256], *save = NULL;

	if (!qm_format(buf, sizeof(buf), "%s", list))
		return false;
	for (char *c = strtok_r(buf, sep, &save); c;
	     c = strtok_r(NULL, sep, &save))
		if (!strcmp(c, "cpu"))
			return true;
	return false;
}

/* The cgroup path of @tid for v2 ("0::/x") or for the v1 cpu controller
 * ("N:cpu,cpuacct:/x" or "N:cpu:/x"). */
static bool thread_cgroup(pid_t tid, cg_kind kind, char *out, size_t len)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *p;

		if (!ctl || !(p = strchr(ctl + 1, ':')))
			continue;
		*p++ = '\0';
		ctl++;
		p[strcspn(p, "\n")] = '\0';
		if (kind == CG_V2 ? !strcmp(line, "0") && !*ctl
				  : has_cpu(ctl, ","))
			found = qm_format(out, len, "%s", p);
	}
	fclose(f);
	return found;
}

static bool v2_has_cpu(const char *root)
{
	char path[256], line[256];

	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	return read_line(path, line, sizeof(line)) && has_cpu(line, " ");
}

/* Pick the controller: v2 with cpu, else v1 cpu. */
static bool probe(const char *root, cg_kind *kind, char *base, size_t len,
		  qm_error *err)
{
	char cfs[300];

	if (root) {
		snprintf(cfs, sizeof(cfs), "%s/cpu.cfs_quota_us", root);
		*kind = access(cfs, F_OK) == 0 ? CG_V1 : CG_V2;
		return qm_format(base, len, "%s", root);
	}
	if (v2_has_cpu(V2_ROOT) || v2_has_cpu(V2_UNIFIED)) {
		*kind = CG_V2;
		return qm_format(base, len, "%s",
				 v2_has_cpu(V2_ROOT) ? V2_ROOT : V2_UNIFIED);
	}
	if (access(V1_CPU "/cpu.cfs_quota_us", W_OK) == 0) {
		*kind = CG_V1;
		return qm_format(base, len, "%s", V1_CPU);
	}
	return qm_error_set(err, QM_ERR_UNSUPPORTED,
			    "no writable cpu cgroup controller (v2 %s or v1 %s)",
			    V2_ROOT, V1_CPU);
}

static const char *threads_file(cg_kind k)
{
	return k == CG_V2 ? "cgroup.threads" : "tasks";
}

static bool move_threads(qm_throttle *t, qm_error *err)
{
	char tid[32];
	int rc;

	for (int i = 0; i < t->n; i++) {
		snprintf(tid, sizeof(tid), "%d", (int)t->tids[i]);
		rc = write_file(t->dir, threads_file(t->kind), tid);
		if (rc < 0)
			return qm_error_errno(err, -rc, "moving vCPU thread %d "
					      "into %s", (int)t->tids[i],
					      t->dir);
	}
	return true;
}

static bool make_group(qm_throttle *t, const char *name, qm_error *err)
{
	char parent[256] = "";

	/* v2 threads may only move within their process's threaded
	 * subtree: the group goes under the process's own cgroup. */
	if (t->kind == CG_V2 && !thread_cgroup(t->tids[0], CG_V2, parent,
					       sizeof(parent)))
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "thread %d: no cgroup v2 membership",
				    (int)t->tids[0]);
	if (!qm_format(t->dir, sizeof(t->dir), "%s%s/qmig-%s", t->mount,
		       strcmp(parent, "/") ? parent : "", name))
		return qm_error_set(err, QM_ERR_TOO_BIG, "cgroup path too long");
	if (mkdir(t->dir, 0755) < 0 && errno != EEXIST)
		return qm_error_errno(err, errno, "creating cgroup %s", t->dir);
	if (t->kind == CG_V2) {
		int rc = write_file(t->dir, "cgroup.type", "threaded");

		if (rc < 0)
			return qm_error_errno(err, -rc, "%s: making it threaded",
					      t->dir);
	}
	return true;
}

qm_throttle *qm_throttle_new(const char *name, const pid_t *tids, int n,
			     const char *root, qm_error *err)
{
	qm_throttle *t;

	if (n <= 0 || n > QM_THROTTLE_MAX_THREADS) {
		qm_error_set(err, QM_ERR_INVAL, "throttle: %d vCPU threads "
			     "(1..%d)", n, QM_THROTTLE_MAX_THREADS);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		qm_error_set(err, QM_ERR_NOMEM, "throttle");
		return NULL;
	}
	t->n = n;
	memcpy(t->tids, tids, n * sizeof(*tids));
	if (!probe(root, &t->kind, t->mount, sizeof(t->mount), err))
		goto fail;
	for (int i = 0; i < n; i++) {
		if (!thread_cgroup(tids[i], t->kind, t->home[i],
				   sizeof(t->home[i])))
			snprintf(t->home[i], sizeof(t->home[i]), "/");
	}
	if (!make_group(t, name, err) || !move_threads(t, err)) {
		qm_throttle_free(t);
		return NULL;
	}
	pr_info("vCPU throttle for %s: %s (%s)", name,
		qm_throttle_method(t), t->dir);
	return t;
fail:
	free(t);
	return NULL;
}

bool qm_throttle_set(qm_throttle *t, unsigned pct, qm_error *err)
{
	long long period = QM_THROTTLE_PERIOD_US;
	long long quota = period * t->n * (100 - (pct > 99 ? 99 : pct)) / 100;
	char v[64];
	int rc;

	if (t->kind == CG_V2) {
		if (pct)
			snprintf(v, sizeof(v), "%lld %lld", quota, period);
		else
			snprintf(v, sizeof(v), "max %lld", period);
		rc = write_file(t->dir, "cpu.max", v);
	} else {
		snprintf(v, sizeof(v), "%lld", period);
		rc = write_file(t->dir, "cpu.cfs_period_us", v);
		snprintf(v, sizeof(v), "%lld", pct ? quota : -1LL);
		if (!rc)
			rc = write_file(t->dir, "cpu.cfs_quota_us", v);
	}
	if (rc < 0)
		return qm_error_errno(err, -rc, "%s: setting throttle to %u%%",
				      t->dir, pct);
	t->pct = pct;
	return true;
}

unsigned qm_throttle_get(const qm_throttle *t)
{
	return t->pct;
}

const char *qm_throttle_method(const qm_throttle *t)
{
	return t->kind == CG_V2 ? "cgroup-v2" : "cgroup-v1";
}

void qm_throttle_free(qm_throttle *t)
{
	char home[640], tid[32];

	if (!t)
		return;
	qm_throttle_set(t, 0, NULL);
	for (int i = 0; i < t->n; i++) {
		const char *h = t->home[i];

		snprintf(home, sizeof(home), "%s%s", t->mount,
			 strcmp(h, "/") ? h : "");
		snprintf(tid, sizeof(tid), "%d", (int)t->tids[i]);
		/* The thread may have exited with its QEMU: not an error. */
		write_file(home, threads_file(t->kind), tid);
	}
	if (rmdir(t->dir) < 0 && errno != ENOENT)
		pr_warn("removing cgroup %s: %s", t->dir, strerror(errno));
	free(t);
}

unsigned qm_duty_cycle_next(unsigned pct, bool stopped, unsigned period_ms)
{
	unsigned stop_ms;

	if (pct > 99)
		pct = 99;
	stop_ms = period_ms * pct / 100;
	if (stopped)
		return stop_ms;
	return period_ms - stop_ms;
}

/* ---- duty cycling ---- */

struct qm_duty {
	pid_t pid;
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pct;
	bool quit;
};

/* Wait @ms or until told to quit; true if quitting. On the monotonic
 * clock: with the wall clock, setting it back an hour while the VM is in
 * the stopped part of a cycle would keep it stopped for that hour. */
static bool duty_wait(qm_duty *d, unsigned ms)
{
	struct timespec ts;
	bool quit;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&d->lock);
	while (!d->quit &&
	       pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
		;
	quit = d->quit;
	pthread_mutex_unlock(&d->lock);
	return quit;
}

static void *duty_thread(void *arg)
{
	qm_duty *d = arg;

	for (;;) {
		unsigned pct, stop_ms;

		pthread_mutex_lock(&d->lock);
		pct = d->pct;
		pthread_mutex_unlock(&d->lock);
		stop_ms = qm_duty_cycle_next(pct, true, QM_DUTY_PERIOD_MS);
		if (stop_ms) {
			kill(d->pid, SIGSTOP);
			if (duty_wait(d, stop_ms))
				break;
			kill(d->pid, SIGCONT);
		}
		if (duty_wait(d, qm_duty_cycle_next(pct, false,
						    QM_DUTY_PERIOD_MS)))
			break;
	}
	kill(d->pid, SIGCONT);
	return NULL;
}

qm_duty *qm_duty_new(pid_t pid, qm_error *err)
{
	qm_duty *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	int rc;

	if (!d) {
		qm_error_set(err, QM_ERR_NOMEM, "duty cycle");
		return NULL;
	}
	d->pid = pid;
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&d->tid, NULL, duty_thread, d);
	if (rc) {
		qm_error_errno(err, rc, "duty-cycle thread");
		pthread_mutex_destroy(&d->lock);
		pthread_cond_destroy(&d->cond);
		free(d);
		return NULL;
	}
	pr_info("vCPU throttle for pid %d: SIGSTOP duty cycling", (int)pid);
	return d;
}

void qm_duty_set(qm_duty *d, unsigned pct)
{
	pthread_mutex_lock(&d->lock);
	d->pct = pct > 99 ? 99 : pct;
	pthread_mutex_unlock(&d->lock);
}

void qm_duty_free(qm_duty *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->quit = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->tid, NULL);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}
