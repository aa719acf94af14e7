/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker-to-loop task queue. See mailbox.h.
 */
#include "agent/mailbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct task {
	agent_task_fn fn;
	void *arg;
	struct task *next;
} task;

struct agent_mailbox {
	agent_loop *loop;
	int efd;
	pthread_mutex_t lock;
	task *head, *tail;
};

/* Take the whole queue under the lock, run it outside. */
static void drain(agent_mailbox *mb)
{
	task *t, *next;

	pthread_mutex_lock(&mb->lock);
	t = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->lock);
	for (; t; t = next) {
		next = t->next;
		t->fn(t->arg);
		free(t);
	}
}

static void on_event(agent_loop *loop, int fd, uint32_t events, void *opaque)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	drain(opaque);
}

agent_mailbox *agent_mailbox_new(agent_loop *loop, qm_error *err)
{
	agent_mailbox *mb = calloc(1, sizeof(*mb));

	if (!mb) {
		qm_error_set(err, QM_ERR_NOMEM, "mailbox");
		return NULL;
	}
	mb->loop = loop;
	mb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mb->efd < 0) {
		qm_error_errno(err, errno, "eventfd");
		free(mb);
		return NULL;
	}
	pthread_mutex_init(&mb->lock, NULL);
	if (!agent_loop_add_fd(loop, mb->efd, EPOLLIN, on_event, mb, err)) {
		close(mb->efd);
		pthread_mutex_destroy(&mb->lock);
		free(mb);
		return NULL;
	}
	return mb;
}

void agent_mailbox_free(agent_mailbox *mb)
{
	if (!mb)
		return;
	drain(mb);
	agent_loop_del_fd(mb->loop, mb->efd);
	close(mb->efd);
	pthread_mutex_destroy(&mb->lock);
	free(mb);
}

bool agent_mailbox_post(agent_mailbox *mb, agent_task_fn fn, void *arg)
{
	task *t = malloc(sizeof(*t));
	uint64_t one = 1;

	if (!t)
		return false;
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	pthread_mutex_lock(&mb->lock);
	if (mb->tail)
		mb->tail->next = t;
	else
		mb->head = t;
	mb->tail = t;
	pthread_mutex_unlock(&mb->lock);
	/* A full counter still wakes the loop: the write can only fail with
	 * EAGAIN when a wakeup is already pending. */
	if (write(mb->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return true;
	return true;
}

bool agent_spawn(void *(*fn)(void *), void *arg, qm_error *err)
{
	pthread_attr_t a;
	pthread_t tid;
	int rc;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &a, fn, arg);
	pthread_attr_destroy(&a);
	if (rc)
		return qm_error_errno(err, rc, "starting a worker thread");
	return true;
}
