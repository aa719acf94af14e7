/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent loop (agent/loop.c): fd callbacks, timers, stop, nesting. */
#include "tests/qmig_test.h"
#include "agent/loop.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CASE(name, fn) { name, fn, NULL, NULL, NULL }

struct hits {
	int n;
	int fd[8];
	uint32_t ev[8];
	int del_fd;              /* fd the callback deletes, -1: none */
	struct hits *readd;      /* then adds it back with these hits */
};

static void on_fd(agent_loop *loop, int fd, uint32_t events, void *opaque)
{
	struct hits *h = opaque;
	char c;

	if (h->n < 8) {
		h->fd[h->n] = fd;
		h->ev[h->n] = events;
	}
	h->n++;
	if (read(fd, &c, 1) < 0)
		return;
	if (h->del_fd >= 0)
		agent_loop_del_fd(loop, h->del_fd);
	if (h->readd)
		assert_true(agent_loop_add_fd(loop, h->del_fd, EPOLLIN, on_fd,
					      h->readd, NULL));
}

/* A ready fd calls its callback with its events, once per iteration
 * while it stays ready (level-triggered), and never after del. */
static void test_fd_callback(void **state)
{
	qm_error err = QM_ERROR_INIT;
	agent_loop *loop = agent_loop_new(&err);
	struct hits h = { .del_fd = -1 };
	int p[2];

	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_true(agent_loop_add_fd(loop, p[0], EPOLLIN, on_fd, &h, &err));
	assert_int_equal(agent_loop_run_once(loop, 0, &err), 0);
	assert_int_equal(write(p[1], "ab", 2), 2);
	assert_int_equal(agent_loop_run_once(loop, 1000, &err), 1);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.fd[0], p[0]);
	assert_true(h.ev[0] & EPOLLIN);
	/* One byte is left: ready again. */
	assert_int_equal(agent_loop_run_once(loop, 0, &err), 1);
	assert_int_equal(h.n, 2);
	assert_int_equal(write(p[1], "c", 1), 1);
	agent_loop_del_fd(loop, p[0]);
	assert_int_equal(agent_loop_run_once(loop, 10, &err), 0);
	assert_int_equal(h.n, 2);
	/* Errors: twice, unknown, not pollable. */
	assert_true(agent_loop_add_fd(loop, p[0], EPOLLIN, on_fd, &h, &err));
	assert_false(agent_loop_add_fd(loop, p[0], EPOLLIN, on_fd, &h, &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	qm_error_clear(&err);
	assert_false(agent_loop_mod_fd(loop, p[1], EPOLLOUT, &err));
	assert_int_equal(err.code, QM_ERR_NOTFOUND);
	close(p[0]);
	close(p[1]);
	agent_loop_free(loop);
}

/* A callback deleting another fd that is ready in the same iteration
 * keeps that fd's callback from running, also when it adds the fd back
 * with another callback (the event belongs to the old registration). */
static void test_del_in_callback(void **state)
{
	qm_error err = QM_ERROR_INIT;
	agent_loop *loop = agent_loop_new(&err);
	struct hits h1 = { 0 }, h2 = { 0 }, h3 = { .del_fd = -1 };
	int a[2], b[2];

	assert_int_equal(pipe2(a, O_NONBLOCK), 0);
	assert_int_equal(pipe2(b, O_NONBLOCK), 0);
	h1.del_fd = b[0];
	h2.del_fd = a[0];
	assert_true(agent_loop_add_fd(loop, a[0], EPOLLIN, on_fd, &h1, &err));
	assert_true(agent_loop_add_fd(loop, b[0], EPOLLIN, on_fd, &h2, &err));
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	assert_int_equal(agent_loop_run_once(loop, 1000, &err), 1);
	assert_int_equal(h1.n + h2.n, 1);
	agent_loop_del_fd(loop, a[0]);
	agent_loop_del_fd(loop, b[0]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	assert_int_equal(pipe2(a, O_NONBLOCK), 0);
	assert_int_equal(pipe2(b, O_NONBLOCK), 0);

	/* a (ready first) deletes b and adds it back with h3. */
	memset(&h1, 0, sizeof(h1));
	memset(&h2, 0, sizeof(h2));
	h1.del_fd = b[0];
	h1.readd = &h3;
	h2.del_fd = -1;
	assert_true(agent_loop_add_fd(loop, a[0], EPOLLIN, on_fd, &h1, &err));
	assert_true(agent_loop_add_fd(loop, b[0], EPOLLIN, on_fd, &h2, &err));
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "y", 1), 1);
	assert_true(agent_loop_run_once(loop, 1000, &err) >= 1);
	assert_int_equal(h1.n, 1);
	assert_int_equal(h3.n, 0);
	/* The new registration works from the next iteration on. */
	assert_int_equal(agent_loop_run_once(loop, 1000, &err), 1);
	assert_int_equal(h2.n + h3.n, 1);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	agent_loop_free(loop);
}

struct order {
	int seen[8];
	int n;
	agent_loop_timer *victim;
	agent_loop *loop;
};

struct tmark {
	struct order *o;
	int tag;
};

static void on_timer(agent_loop *loop, void *opaque)
{
	struct tmark *m = opaque;

	m->o->seen[m->o->n++] = m->tag;
	if (m->tag == 10)
		agent_loop_timer_del(loop, m->o->victim);
}

/* Timers fire in time order, earliest first, equal times in the order
 * added; a deleted timer never fires, also when deleted by an earlier
 * timer's callback; the loop's timeout follows the earliest timer. */
static void test_timers(void **state)
{
	qm_error err = QM_ERROR_INIT;
	agent_loop *loop = agent_loop_new(&err);
	struct order o = { { 0 }, 0, NULL, loop };
	struct tmark m[6] = {
		{ &o, 30 }, { &o, 10 }, { &o, 20 }, { &o, 0 }, { &o, 25 },
		{ &o, 99 },
	};
	agent_loop_timer *gone;
	int64_t t0 = qm_now_ms();
	int i;

	assert_int_equal(agent_loop_next_timeout_ms(loop), -1);
	for (i = 0; i < 4; i++)
		assert_non_null(agent_loop_timer_add(loop, m[i].tag, on_timer,
						     &m[i], &err));
	o.victim = agent_loop_timer_add(loop, 25, on_timer, &m[4], &err);
	gone = agent_loop_timer_add(loop, 5, on_timer, &m[5], &err);
	agent_loop_timer_del(loop, gone);
	assert_true(agent_loop_next_timeout_ms(loop) <= 1);
	while (o.n < 4)
		assert_true(agent_loop_run_once(loop, -1, &err) >= 0);
	assert_true(qm_now_ms() - t0 >= 30);
	assert_int_equal(o.seen[0], 0);
	assert_int_equal(o.seen[1], 10);
	assert_int_equal(o.seen[2], 20);
	assert_int_equal(o.seen[3], 30);
	assert_int_equal(agent_loop_next_timeout_ms(loop), -1);
	agent_loop_free(loop);
}

struct runner {
	agent_loop *loop;
	volatile int returned;
};

static void *run_thread(void *opaque)
{
	struct runner *r = opaque;
	qm_error err = QM_ERROR_INIT;
	bool ok = agent_loop_run(r->loop, &err);

	__atomic_store_n(&r->returned, 1, __ATOMIC_SEQ_CST);
	return ok ? r : NULL;
}

/* agent_loop_stop() from another thread ends agent_loop_run(), which
 * runs (and waits) again afterwards: the stop is consumed. */
static void test_stop_from_thread(void **state)
{
	struct runner r = { agent_loop_new(NULL), 0 };
	pthread_t th;
	void *ret;
	int i;

	for (i = 0; i < 2; i++) {
		r.returned = 0;
		assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
		usleep(20000);
		assert_int_equal(__atomic_load_n(&r.returned, __ATOMIC_SEQ_CST),
				 0);
		agent_loop_stop(r.loop);
		assert_int_equal(pthread_join(th, &ret), 0);
		assert_ptr_equal(ret, &r);
	}
	agent_loop_free(r.loop);
}

/* The loop's own fd is readable when a watched fd is ready, so it can be
 * nested in a foreign poll loop. */
static void test_nested(void **state)
{
	qm_error err = QM_ERROR_INIT;
	agent_loop *loop = agent_loop_new(&err);
	struct hits h = { .del_fd = -1 };
	struct pollfd pfd = { .events = POLLIN };
	int p[2];

	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_true(agent_loop_add_fd(loop, p[0], EPOLLIN, on_fd, &h, &err));
	pfd.fd = agent_loop_fd(loop);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	assert_int_equal(agent_loop_run_once(loop, 0, &err), 1);
	assert_int_equal(h.n, 1);
	close(p[0]);
	close(p[1]);
	agent_loop_free(loop);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/rpc/loop/fd-callback", test_fd_callback),
		CASE("/rpc/loop/del-in-callback", test_del_in_callback),
		CASE("/rpc/loop/timers", test_timers),
		CASE("/rpc/loop/stop-from-thread", test_stop_from_thread),
		CASE("/rpc/loop/nested", test_nested),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("rpc-loop", tests, NULL, NULL);
}
