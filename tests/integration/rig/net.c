/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network measurements between the sides of a rig. See net.h.
 */
#include "tests/integration/rig/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define IO_TIMEOUT_MS 20000

double rn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool sockaddr_of(const rig *r, rig_side s, int port,
			struct sockaddr_in *sa)
{
	*sa = (struct sockaddr_in){ .sin_family = AF_INET,
				    .sin_port = htons(port) };
	return inet_pton(AF_INET, rig_addr(r, s), &sa->sin_addr) == 1;
}

static int sock(const rig *r, rig_side s, int type)
{
	qm_error err = QM_ERROR_INIT;
	int fd = rig_socket(r, s, AF_INET, type | SOCK_CLOEXEC, 0, &err);

	if (fd < 0)
		fprintf(stderr, "rig_socket: %s\n", err.msg);
	return fd;
}

int rn_listen(const rig *r, rig_side s, int port)
{
	struct sockaddr_in sa;
	int one = 1, fd = sock(r, s, SOCK_STREAM);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!sockaddr_of(r, s, port, &sa) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 8) < 0) {
		fprintf(stderr, "listen on %s:%d: %s\n", rig_addr(r, s), port,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int rn_connect(const rig *r, rig_side from, int port, int timeout_ms)
{
	struct sockaddr_in sa;
	struct pollfd p;
	socklen_t len = sizeof(int);
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	int fd = sock(r, from, SOCK_STREAM | SOCK_NONBLOCK), e = 0, flags;

	if (fd < 0)
		return -1;
	sockaddr_of(r, !from, port, &sa);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS) {
			e = errno;
			goto fail;
		}
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, timeout_ms) != 1) {
			e = ETIMEDOUT;
			goto fail;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
		if (e)
			goto fail;
	}
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	/* A test that stops reading fails instead of hanging. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
fail:
	close(fd);
	errno = e;
	return -1;
}

int rn_accept(int lfd, int timeout_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

uint8_t rn_pattern(uint64_t off)
{
	return off ^ (off >> 8) ^ (off >> 16) ^ (off >> 24) ^ 0x5a;
}

bool rn_write_pattern(int fd, uint64_t off, size_t len)
{
	static __thread uint8_t buf[CHUNK];

	while (len) {
		size_t n = len < CHUNK ? len : CHUNK;
		size_t done = 0;

		for (size_t i = 0; i < n; i++)
			buf[i] = rn_pattern(off + i);
		while (done < n) {
			ssize_t w = write(fd, buf + done, n - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fprintf(stderr, "write: %s\n", strerror(errno));
				return false;
			}
			done += w;
		}
		off += n;
		len -= n;
	}
	return true;
}

bool rn_read_pattern(int fd, uint64_t off, size_t len, int timeout_ms)
{
	static __thread uint8_t buf[CHUNK];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (len) {
		ssize_t n;

		if (poll(&p, 1, timeout_ms) != 1) {
			fprintf(stderr, "read: nothing for %d ms with %zu bytes "
				"to go\n", timeout_ms, len);
			return false;
		}
		n = read(fd, buf, len < CHUNK ? len : CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "read: %s\n", n ? strerror(errno) : "EOF");
			return false;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != rn_pattern(off + i)) {
				fprintf(stderr, "byte %llu is %#x, sent %#x\n",
					(unsigned long long)(off + i), buf[i],
					rn_pattern(off + i));
				return false;
			}
		off += n;
		len -= n;
	}
	return true;
}

/* ---- transfer ---- */

typedef struct sink {
	int lfd;
	size_t bytes;
	bool ok;
	double end_ms;
} sink;

static void *sink_main(void *arg)
{
	sink *s = arg;
	int fd = rn_accept(s->lfd, IO_TIMEOUT_MS);
	char c;

	if (fd < 0) {
		fprintf(stderr, "transfer: no connection\n");
		return NULL;
	}
	s->ok = rn_read_pattern(fd, 0, s->bytes, IO_TIMEOUT_MS) &&
		read(fd, &c, 1) == 0;
	s->end_ms = rn_now_ms();
	close(fd);
	return NULL;
}

double rn_transfer(const rig *r, rig_side from, int port, size_t bytes)
{
	sink s = { .lfd = rn_listen(r, !from, port), .bytes = bytes };
	pthread_t th;
	double t0;
	int fd;
	bool sent;

	if (s.lfd < 0 || pthread_create(&th, NULL, sink_main, &s)) {
		if (s.lfd >= 0)
			close(s.lfd);
		return -1;
	}
	t0 = rn_now_ms();
	fd = rn_connect(r, from, port, IO_TIMEOUT_MS);
	sent = fd >= 0 && rn_write_pattern(fd, 0, bytes);
	if (fd >= 0) {
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	pthread_join(th, NULL);
	close(s.lfd);
	if (!sent || !s.ok)
		return -1;
	return bytes * 8.0 / ((s.end_ms - t0) / 1e3) / 1e6;
}

/* ---- UDP ---- */

typedef struct udp_sink {
	int fd;
	int size;
	bool sender_done;
	int received;
} udp_sink;

static void *udp_main(void *arg)
{
	udp_sink *u = arg;
	struct pollfd p = { .fd = u->fd, .events = POLLIN };
	char *buf = malloc(u->size + 1);

	/* Until the sender is done and nothing came for a while (the
	 * last datagrams are still crossing the delay line). */
	while (buf) {
		int n = poll(&p, 1, 300);

		if (n == 1) {
			if (recv(u->fd, buf, u->size + 1, 0) == u->size)
				u->received++;
		} else if (__atomic_load_n(&u->sender_done, __ATOMIC_ACQUIRE)) {
			break;
		}
	}
	free(buf);
	return NULL;
}

bool rn_udp_burst(const rig *r, rig_side from, int port, int n, int size,
		  int *sent, int *received)
{
	udp_sink u = { .fd = sock(r, !from, SOCK_DGRAM), .size = size };
	struct sockaddr_in sa;
	int buf = 16 << 20, fd = -1, i;
	char *data = calloc(1, size);
	struct timespec pause = { 0, 1000000 };
	pthread_t th;

	*sent = *received = 0;
	if (u.fd < 0 || !data)
		goto fail;
	setsockopt(u.fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	sockaddr_of(r, !from, port, &sa);
	if (bind(u.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	fd = sock(r, from, SOCK_DGRAM);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    pthread_create(&th, NULL, udp_main, &u))
		goto fail;
	for (i = 0; i < n; i++) {
		ssize_t w;

		/* ENOBUFS: the shaper's queue is full; wait, send again. */
		while ((w = send(fd, data, size, 0)) < 0 &&
		       (errno == ENOBUFS || errno == EINTR))
			nanosleep(&pause, NULL);
		if (w < 0) {
			fprintf(stderr, "udp send: %s\n", strerror(errno));
			break;
		}
		(*sent)++;
	}
	__atomic_store_n(&u.sender_done, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	*received = u.received;
	close(fd);
	close(u.fd);
	free(data);
	return true;
fail:
	fprintf(stderr, "udp burst: %s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
	if (u.fd >= 0)
		close(u.fd);
	free(data);
	return false;
}
