/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Both serial logs followed by one thread, each line stamped by the host
 * as the file grows: the guest's clock stops with the VM, so downtime is
 * measured from these stamps, not from the guest's heartbeat numbers.
 */
#include "tools/bench/bm.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct {
	pthread_mutex_t lock;
	pthread_t th;
	bool running, stop;
	gl_follow f[2];		/* 0: source, 1: destination */
	bool open[2];
	unsigned flags[2];
	char path[2][QL_PATH_MAX + 96];
} w = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *watch_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2];
		int n = 0;

		pthread_mutex_lock(&w.lock);
		if (w.stop) {
			pthread_mutex_unlock(&w.lock);
			return NULL;
		}
		for (int i = 0; i < 2; i++) {
			qm_error err = QM_ERROR_INIT;

			/* The destination's log appears only once its QEMU
			 * is launched by the destination agent. */
			if (!w.open[i] && w.path[i][0] &&
			    !access(w.path[i], R_OK))
				w.open[i] = gl_follow_open(&w.f[i], w.path[i],
							   w.flags[i], &err);
			if (!w.open[i])
				continue;
			gl_follow_process(&w.f[i], &err);
			p[n].fd = gl_follow_fd(&w.f[i]);
			p[n++].events = POLLIN;
		}
		pthread_mutex_unlock(&w.lock);
		poll(p, n, 2);
	}
}

void bm_watch_start(const char *src, const char *dst)
{
	pthread_mutex_lock(&w.lock);
	w.stop = false;
	snprintf(w.path[0], sizeof(w.path[0]), "%s", src);
	snprintf(w.path[1], sizeof(w.path[1]), "%s", dst ? dst : "");
	w.flags[0] = 0;
	w.flags[1] = GL_LOG_CONTINUES;
	pthread_mutex_unlock(&w.lock);
	if (pthread_create(&w.th, NULL, watch_main, NULL))
		bm_die("pthread_create");
	w.running = true;
}

void bm_watch_shift(const char *dst)
{
	pthread_mutex_lock(&w.lock);
	if (w.open[0])
		gl_follow_close(&w.f[0]);
	w.f[0] = w.f[1];
	w.open[0] = w.open[1];
	w.flags[0] = w.flags[1];
	memcpy(w.path[0], w.path[1], sizeof(w.path[0]));
	w.open[1] = false;
	snprintf(w.path[1], sizeof(w.path[1]), "%s", dst);
	pthread_mutex_unlock(&w.lock);
}

void bm_watch_stop(void)
{
	if (!w.running)
		return;
	pthread_mutex_lock(&w.lock);
	w.stop = true;
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.th, NULL);
	w.running = false;
	for (int i = 0; i < 2; i++) {
		if (w.open[i])
			gl_follow_close(&w.f[i]);
		w.open[i] = false;
		w.path[i][0] = '\0';
	}
}

gl_log bm_watch_snap(int i)
{
	gl_log l;

	pthread_mutex_lock(&w.lock);
	if (w.open[i])
		l = w.f[i].log;
	else
		gl_log_init(&l, 0);
	pthread_mutex_unlock(&w.lock);
	return l;
}

bool bm_watch_wait(int i, gl_pred pred, const void *arg, int timeout_ms)
{
	int64_t end = qm_now_ms() + timeout_ms;

	for (;;) {
		gl_log l = bm_watch_snap(i);

		if (pred(&l, arg))
			return true;
		if (qm_now_ms() >= end)
			return false;
		bm_check_intr();
		bm_sleep_ms(5);
	}
}
