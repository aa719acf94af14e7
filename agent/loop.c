/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent loop: epoll set + sorted one-shot timers.
 *
 * Watchers live in an array indexed by fd. Each registration gets a
 * generation number, carried in the epoll event next to the fd, so an
 * event reported for an fd that a callback deleted (and maybe re-added)
 * earlier in the same batch is recognised as stale and skipped.
 */
#define LOG_PREFIX "loop"
#include "agent/loop.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Events taken from the kernel per epoll_wait(). */
#define LOOP_MAX_EVENTS	64

struct loop_watch {
	agent_loop_fd_fn fn;
	void *opaque;
	uint32_t gen;           /* 0 = slot unused */
};

struct agent_loop_timer {
	struct agent_loop_timer *next;
	int64_t due_ns;
	agent_loop_timer_fn fn;
	void *opaque;
};

struct agent_loop {
	int epfd;
	int wakefd;                     /* eventfd written by _stop() */
	struct loop_watch *w;           /* indexed by fd */
	size_t nw;
	uint32_t next_gen;
	agent_loop_timer *timers;       /* sorted by due_ns */
	agent_loop_timer *firing;       /* timer whose callback runs */
	int depth;                      /* > 0 while dispatching */
	bool stop;
};

static uint64_t ev_data(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

static void on_wake(agent_loop *loop, int fd, uint32_t events, void *opaque)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		loop->stop = true;
}

agent_loop *agent_loop_new(qm_error *err)
{
	agent_loop *loop = calloc(1, sizeof(*loop));

	if (!loop) {
		qm_error_set(err, QM_ERR_NOMEM, "loop: cannot allocate");
		return NULL;
	}
	loop->wakefd = -1;
	loop->next_gen = 1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		qm_error_errno(err, errno, "loop: epoll_create1");
		goto fail;
	}
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wakefd < 0) {
		qm_error_errno(err, errno, "loop: eventfd");
		goto fail;
	}
	if (!agent_loop_add_fd(loop, loop->wakefd, EPOLLIN, on_wake, NULL,
			       err))
		goto fail;
	return loop;
fail:
	agent_loop_free(loop);
	return NULL;
}

void agent_loop_free(agent_loop *loop)
{
	agent_loop_timer *t;

	if (!loop)
		return;
	while ((t = loop->timers)) {
		loop->timers = t->next;
		free(t);
	}
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->w);
	free(loop);
}

int agent_loop_fd(const agent_loop *loop)
{
	return loop->epfd;
}

static struct loop_watch *watch_of(const agent_loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->nw || !loop->w[fd].gen)
		return NULL;
	return &loop->w[fd];
}

static bool grow_watches(agent_loop *loop, int fd, qm_error *err)
{
	size_t n = QM_MAX(loop->nw * 2, (size_t)fd + 1);
	struct loop_watch *w;

	n = QM_MAX(n, (size_t)64);
	w = realloc(loop->w, n * sizeof(*w));
	if (!w)
		return qm_error_set(err, QM_ERR_NOMEM,
				    "loop: watcher table of %zu entries", n);
	memset(w + loop->nw, 0, (n - loop->nw) * sizeof(*w));
	loop->w = w;
	loop->nw = n;
	return true;
}

bool agent_loop_add_fd(agent_loop *loop, int fd, uint32_t events,
		       agent_loop_fd_fn fn, void *opaque, qm_error *err)
{
	struct epoll_event ev = { .events = events };
	struct loop_watch *w;

	if (fd < 0 || !fn)
		return qm_error_set(err, QM_ERR_INVAL,
				    "loop: add fd %d: %s", fd,
				    fd < 0 ? "negative fd" : "no callback");
	if (watch_of(loop, fd))
		return qm_error_set(err, QM_ERR_INVAL,
				    "loop: fd %d is already watched", fd);
	if ((size_t)fd >= loop->nw && !grow_watches(loop, fd, err))
		return false;
	w = &loop->w[fd];
	if (!++loop->next_gen)
		loop->next_gen = 1;
	ev.data.u64 = ev_data(fd, loop->next_gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return qm_error_errno(err, errno, "loop: epoll_ctl add fd %d",
				      fd);
	w->fn = fn;
	w->opaque = opaque;
	w->gen = loop->next_gen;
	return true;
}

bool agent_loop_mod_fd(agent_loop *loop, int fd, uint32_t events,
		       qm_error *err)
{
	struct loop_watch *w = watch_of(loop, fd);
	struct epoll_event ev = { .events = events };

	if (!w)
		return qm_error_set(err, QM_ERR_NOTFOUND,
				    "loop: fd %d is not watched", fd);
	ev.data.u64 = ev_data(fd, w->gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return qm_error_errno(err, errno, "loop: epoll_ctl mod fd %d",
				      fd);
	return true;
}

void agent_loop_del_fd(agent_loop *loop, int fd)
{
	struct loop_watch *w = watch_of(loop, fd);

	if (!w)
		return;
	/* Fails only if fd was closed first, which removed it anyway. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	memset(w, 0, sizeof(*w));
}

/* ---- timers ---- */

agent_loop_timer *agent_loop_timer_add(agent_loop *loop, int64_t ms,
				       agent_loop_timer_fn fn, void *opaque,
				       qm_error *err)
{
	agent_loop_timer *t = calloc(1, sizeof(*t)), **pp;

	if (!t) {
		qm_error_set(err, QM_ERR_NOMEM, "loop: cannot allocate a timer");
		return NULL;
	}
	t->due_ns = qm_now_ns() + QM_MAX(ms, (int64_t)0) * 1000000;
	t->fn = fn;
	t->opaque = opaque;
	/* Equal times fire in the order they were added. */
	for (pp = &loop->timers; *pp && (*pp)->due_ns <= t->due_ns;
	     pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return t;
}

void agent_loop_timer_del(agent_loop *loop, agent_loop_timer *t)
{
	agent_loop_timer **pp;

	if (!t || t == loop->firing)
		return;
	for (pp = &loop->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			free(t);
			return;
		}
	}
}

int agent_loop_next_timeout_ms(const agent_loop *loop)
{
	int64_t left;

	if (!loop->timers)
		return -1;
	left = loop->timers->due_ns - qm_now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Fire every timer due by now, one at a time: callbacks may add or
 * delete timers, so the list head is looked at again after each. */
static int fire_timers(agent_loop *loop)
{
	int64_t now = qm_now_ns();
	agent_loop_timer *t;
	int n = 0;

	while ((t = loop->timers) && t->due_ns <= now) {
		loop->timers = t->next;
		loop->firing = t;
		t->fn(loop, t->opaque);
		loop->firing = NULL;
		free(t);
		n++;
	}
	return n;
}

static int wait_ms(const agent_loop *loop, int timeout_ms)
{
	int t = agent_loop_next_timeout_ms(loop);

	if (t < 0)
		return timeout_ms;
	if (timeout_ms < 0)
		return t;
	return QM_MIN(t, timeout_ms);
}

static int dispatch(agent_loop *loop, const struct epoll_event *evs, int n)
{
	struct loop_watch *w;
	int i, fd, calls = 0;

	for (i = 0; i < n; i++) {
		fd = (int)(uint32_t)evs[i].data.u64;
		w = watch_of(loop, fd);
		if (!w || w->gen != (uint32_t)(evs[i].data.u64 >> 32))
			continue;       /* deleted by an earlier callback */
		w->fn(loop, fd, evs[i].events, w->opaque);
		calls++;
	}
	return calls;
}

int agent_loop_run_once(agent_loop *loop, int timeout_ms, qm_error *err)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, calls;

	if (loop->depth) {
		qm_error_set(err, QM_ERR_STATE,
			     "loop: run from inside a loop callback");
		return -1;
	}
	n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS,
		       wait_ms(loop, timeout_ms));
	if (n < 0 && errno != EINTR) {
		qm_error_errno(err, errno, "loop: epoll_wait");
		return -1;
	}
	loop->depth++;
	calls = n > 0 ? dispatch(loop, evs, n) : 0;
	calls += fire_timers(loop);
	loop->depth--;
	return calls;
}

bool agent_loop_run(agent_loop *loop, qm_error *err)
{
	while (!loop->stop) {
		if (agent_loop_run_once(loop, -1, err) < 0)
			return false;
	}
	loop->stop = false;
	return true;
}

void agent_loop_stop(agent_loop *loop)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow: a stop is pending. */
	if (write(loop->wakefd, &one, sizeof(one)) < 0)
		return;
}
