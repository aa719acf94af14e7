/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rig: measure the round trip the link gives, with what the agents use
 * (TCP), not ICMP: one byte each way with TCP_NODELAY, an echo thread in
 * the other side's namespace.
 */
#define LOG_PREFIX "rig"
#include "tools/rig/rig-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PING_TIMEOUT_MS 10000

typedef struct echo {
	int lfd;
} echo;

static void nodelay_timeout(int fd)
{
	struct timeval tv = { .tv_sec = PING_TIMEOUT_MS / 1000 };
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void *echo_main(void *arg)
{
	echo *e = arg;
	struct pollfd p = { .fd = e->lfd, .events = POLLIN };
	char c;
	int fd;

	if (poll(&p, 1, PING_TIMEOUT_MS) != 1)
		return NULL;
	fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	nodelay_timeout(fd);
	while (read(fd, &c, 1) == 1 && write(fd, &c, 1) == 1)
		;
	close(fd);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* A listener on @s's address, any port; its port in *@sa. */
static int listen_side(const rig *r, rig_side s, struct sockaddr_in *sa,
		       qm_error *err)
{
	socklen_t len = sizeof(*sa);
	int fd = rig_socket(r, s, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, err);

	if (fd < 0)
		return -1;
	*sa = (struct sockaddr_in){ .sin_family = AF_INET };
	inet_pton(AF_INET, rig_addr(r, s), &sa->sin_addr);
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0) {
		qm_error_errno(err, errno, "listening on %s", rig_addr(r, s));
		close(fd);
		return -1;
	}
	return fd;
}

static bool trips(int fd, int n, int64_t *rtt, qm_error *err)
{
	char c = 'p';

	/* One warm-up trip: the first pays for ARP. */
	for (int i = -1; i < n; i++) {
		int64_t t0 = qm_now_ns();

		if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
			return qm_error_errno(err, errno, "ping-pong, trip %d",
					      i + 1);
		if (i >= 0)
			rtt[i] = qm_now_ns() - t0;
	}
	return true;
}

bool rig_ping(const rig *r, rig_side from, int n, double *min_ms,
	      double *med_ms, qm_error *err)
{
	struct sockaddr_in sa;
	echo e = { .lfd = -1 };
	int64_t *rtt = NULL;
	pthread_t th;
	bool ok = false, started = false;
	int fd = -1;

	if (!r || (from != RIG_SRC && from != RIG_DST) || n < 1)
		return qm_error_set(err, QM_ERR_INVAL, "rig_ping: side %d, "
				    "count %d", (int)from, n);
	rtt = calloc(n, sizeof(*rtt));
	if (!rtt)
		return qm_error_set(err, QM_ERR_NOMEM, "rig_ping");
	e.lfd = listen_side(r, !from, &sa, err);
	if (e.lfd < 0)
		goto out;
	if (pthread_create(&th, NULL, echo_main, &e)) {
		qm_error_set(err, QM_ERR_NOMEM, "echo thread");
		goto out;
	}
	started = true;
	fd = rig_socket(r, from, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, err);
	if (fd < 0)
		goto out;
	nodelay_timeout(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		qm_error_errno(err, errno, "connecting to %s:%d",
			       rig_addr(r, !from), ntohs(sa.sin_port));
		goto out;
	}
	if (!trips(fd, n, rtt, err))
		goto out;
	qsort(rtt, n, sizeof(*rtt), cmp_i64);
	*min_ms = rtt[0] / 1e6;
	*med_ms = rtt[n / 2] / 1e6;
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (started) {
		/* Unblocks the echo thread if it still waits to accept. */
		shutdown(e.lfd, SHUT_RDWR);
		pthread_join(th, NULL);
	}
	if (e.lfd >= 0)
		close(e.lfd);
	free(rtt);
	return ok;
}
