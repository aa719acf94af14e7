/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state dir's writer thread. See state-writer.h.
 */
#define LOG_PREFIX "state"
#include "agent/state-writer.h"
#include "agent/statedir.h"

#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct item {
	struct item *next;
	char rel[128];
	json_object *obj;        /* NULL: remove */
	bool sync, rmdir_parent;
} item;

struct state_writer {
	char dir[256];
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* work queued, or stop */
	pthread_cond_t done;     /* @written moved on */
	item *head, *tail;
	uint64_t queued, written;
	bool stop;
};

static void apply(const char *dir, item *it)
{
	qm_error err = QM_ERROR_INIT;
	bool ok;

	if (it->obj) {
		ok = it->sync ? qm_state_write_json(dir, it->rel, it->obj, &err)
			      : qm_state_write_json_nosync(dir, it->rel,
							   it->obj, &err);
	} else {
		ok = qm_state_remove(dir, it->rel, &err);
		if (ok && it->rmdir_parent) {
			char path[512];

			/* Only if empty: rmdir refuses otherwise. */
			if (qm_format(path, sizeof(path), "%s/%s", dir, it->rel))
				rmdir(dirname(path));
		}
	}
	if (!ok)
		pr_warn("%s: %s", it->rel, err.msg);
}

static void *writer_thread(void *arg)
{
	state_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		item *it;

		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->head)
			break;
		it = w->head;
		w->head = it->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);
		apply(w->dir, it);
		json_object_put(it->obj);
		free(it);
		pthread_mutex_lock(&w->lock);
		w->written++;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

state_writer *state_writer_new(const char *state_dir, qm_error *err)
{
	state_writer *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int rc;

	if (!w) {
		qm_error_set(err, QM_ERR_NOMEM, "state writer");
		return NULL;
	}
	if (!qm_format(w->dir, sizeof(w->dir), "%s", state_dir)) {
		free(w);
		qm_error_set(err, QM_ERR_TOO_BIG, "state dir too long");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->done, NULL);
	/* The thread inherits the mask: the agent takes SIGTERM and SIGINT
	 * through a signalfd, which only works if no thread lets them
	 * through (this one may start before the agent blocks them). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->tid, NULL, writer_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		pthread_cond_destroy(&w->done);
		free(w);
		qm_error_errno(err, rc, "starting the state writer");
		return NULL;
	}
	return w;
}

void state_writer_free(state_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->tid, NULL);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->done);
	free(w);
}

void state_writer_put(state_writer *w, const char *rel, json_object *obj,
		      bool sync, bool rmdir_parent)
{
	item *it = calloc(1, sizeof(*it));

	if (!it || !qm_format(it->rel, sizeof(it->rel), "%s", rel)) {
		pr_warn("%s: not written (%s)", rel, it ? "name too long"
							: "out of memory");
		json_object_put(obj);
		free(it);
		return;
	}
	it->obj = obj;
	it->sync = sync;
	it->rmdir_parent = rmdir_parent;
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = it;
	else
		w->head = it;
	w->tail = it;
	w->queued++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void state_writer_barrier(state_writer *w)
{
	uint64_t upto;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	upto = w->queued;
	while (w->written < upto)
		pthread_cond_wait(&w->done, &w->lock);
	pthread_mutex_unlock(&w->lock);
}
