/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc addr: "unix:PATH" / "tcp:HOST:PORT" addresses, listening sockets,
 * the client's connect, and peer descriptions for the logs.
 */
#define LOG_PREFIX "rpc"
#include "agent/rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG	64

/* ---- parsing ---- */

static bool parse_port(const char *s, const char *addr, uint16_t *port,
		       qm_error *err)
{
	unsigned long v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9' && p - s < 6; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (p == s || *p || v > 65535)
		return qm_error_set(err, QM_ERR_INVAL,
				    "address '%s': port '%s' is not a number in 0..65535",
				    addr, s);
	*port = (uint16_t)v;
	return true;
}

static bool parse_tcp(const char *hp, const char *addr, rpc_addr *out,
		      qm_error *err)
{
	const char *host = hp, *host_end, *port;

	if (*hp == '[') {
		host = hp + 1;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':')
			return qm_error_set(err, QM_ERR_INVAL,
					    "address '%s': expected tcp:[IPV6]:PORT",
					    addr);
		port = host_end + 2;
	} else {
		host_end = strrchr(hp, ':');
		if (!host_end || memchr(hp, ':', host_end - hp))
			return qm_error_set(err, QM_ERR_INVAL,
					    "address '%s': expected tcp:HOST:PORT (IPv6 hosts in brackets)",
					    addr);
		port = host_end + 1;
	}
	if (host_end == host || (size_t)(host_end - host) >= sizeof(out->host))
		return qm_error_set(err, QM_ERR_INVAL,
				    "address '%s': host is %zu bytes long, expected 1..%zu",
				    addr, (size_t)(host_end - host),
				    sizeof(out->host) - 1);
	memcpy(out->host, host, host_end - host);
	out->host[host_end - host] = '\0';
	out->kind = RPC_TRANSPORT_TCP;
	return parse_port(port, addr, &out->port, err);
}

bool rpc_addr_parse(const char *s, rpc_addr *out, qm_error *err)
{
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!s)
		return qm_error_set(err, QM_ERR_INVAL, "no address");
	if (!strncmp(s, "tcp:", 4))
		return parse_tcp(s + 4, s, out, err);
	if (strncmp(s, "unix:", 5))
		return qm_error_set(err, QM_ERR_INVAL,
				    "address '%s': expected unix:PATH or tcp:HOST:PORT",
				    s);
	n = strlen(s + 5);
	if (!n || n >= sizeof(out->path))
		return qm_error_set(err, QM_ERR_INVAL,
				    "address '%s': socket path is %zu bytes long, expected 1..%zu",
				    s, n, sizeof(out->path) - 1);
	memcpy(out->path, s + 5, n + 1);
	out->kind = RPC_TRANSPORT_UNIX;
	return true;
}

/* ---- listening ---- */

static void set_sun(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path) + 1);
}

/*
 * A socket file at @path: remove it if no server answers there (a stale
 * one from a server that died), refuse if one does or if it is something
 * else. ENOENT is fine.
 */
static bool clear_unix_path(const char *path, qm_error *err)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc, e;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? true :
		       qm_error_errno(err, errno, "rpc: lstat %s", path);
	if (!S_ISSOCK(st.st_mode))
		return qm_error_set(err, QM_ERR_STATE,
				    "rpc: '%s' exists and is not a socket (mode 0%o); refusing to replace it",
				    path, (unsigned)st.st_mode);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return qm_error_errno(err, errno, "rpc: socket");
	set_sun(&sa, path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN)
		return qm_error_set(err, QM_ERR_STATE,
				    "rpc: '%s' is in use by a running server",
				    path);
	if (e != ECONNREFUSED)
		return qm_error_errno(err, e, "rpc: probing socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return qm_error_errno(err, errno,
				      "rpc: removing stale socket %s", path);
	pr_info("removed stale socket %s", path);
	return true;
}

/* bind, set the mode while nobody can connect yet (not listening), then
 * listen. fchmodat(AT_SYMLINK_NOFOLLOW) refuses a path swapped for a
 * symlink in between. */
static bool bind_unix(int fd, const char *path, unsigned mode,
		      struct rpc_listener *l, qm_error *err)
{
	struct sockaddr_un sa;
	struct stat st;

	set_sun(&sa, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return qm_error_errno(err, errno, "rpc: bind %s", path);
	if (fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0 ||
	    lstat(path, &st) < 0) {
		qm_error_errno(err, errno, "rpc: setting mode 0%o on %s",
			       mode, path);
		unlink(path);
		return false;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		qm_error_errno(err, errno, "rpc: listen on %s", path);
		unlink(path);
		return false;
	}
	return true;
}

bool rpc__listen_unix(struct rpc_listener *l, const rpc_addr *a,
		      unsigned mode, qm_error *err)
{
	int fd;

	if (!clear_unix_path(a->path, err))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return qm_error_errno(err, errno, "rpc: socket");
	if (!bind_unix(fd, a->path, mode, l, err)) {
		close(fd);
		return false;
	}
	l->fd = fd;
	l->kind = RPC_TRANSPORT_UNIX;
	snprintf(l->path, sizeof(l->path), "%s", a->path);
	snprintf(l->addr, sizeof(l->addr), "unix:%s", a->path);
	return true;
}

/* "tcp:HOST:PORT" of a bound or connected address (numeric). */
static void format_inet(const struct sockaddr *sa, socklen_t len,
			const char *prefix, char *buf, size_t size)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(buf, size, "%s?", prefix);
		return;
	}
	snprintf(buf, size, sa->sa_family == AF_INET6 ? "%s[%s]:%s" :
		 "%s%s:%s", prefix, host, serv);
}

static int tcp_bind_one(const struct addrinfo *ai, int *e)
{
	int fd, one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		*e = errno;
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		*e = errno;
		close(fd);
		return -1;
	}
	return fd;
}

bool rpc__listen_tcp(struct rpc_listener *l, const rpc_addr *a,
		     qm_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char port[8];
	int fd = -1, e = 0, rc;

	snprintf(port, sizeof(port), "%u", a->port);
	rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc)
		return qm_error_set(err, QM_ERR_NOTFOUND,
				    "rpc: resolve '%s': %s", a->host,
				    gai_strerror(rc));
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = tcp_bind_one(ai, &e);
	freeaddrinfo(res);
	if (fd < 0)
		return qm_error_errno(err, e, "rpc: listen on tcp:%s:%u",
				      a->host, a->port);
	l->fd = fd;
	l->kind = RPC_TRANSPORT_TCP;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		format_inet((struct sockaddr *)&ss, len, "tcp:", l->addr,
			    sizeof(l->addr));
	return true;
}

void rpc__describe_peer(rpc_conn *conn)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct ucred cr;

	conn->uid = (uid_t)-1;
	if (conn->kind == RPC_TRANSPORT_UNIX) {
		len = sizeof(cr);
		if (getsockopt(conn->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
		    len != sizeof(cr)) {
			snprintf(conn->peer, sizeof(conn->peer), "unix");
			return;
		}
		conn->uid = cr.uid;
		snprintf(conn->peer, sizeof(conn->peer), "unix uid %u pid %d",
			 (unsigned)cr.uid, (int)cr.pid);
		return;
	}
	if (getpeername(conn->fd, (struct sockaddr *)&ss, &len) < 0)
		snprintf(conn->peer, sizeof(conn->peer), "tcp ?");
	else
		format_inet((struct sockaddr *)&ss, len, "tcp ", conn->peer,
			    sizeof(conn->peer));
}

/* ---- connecting (the client) ---- */

static int left_ms(int64_t deadline_ns)
{
	int64_t ns;

	if (deadline_ns < 0)
		return -1;
	ns = deadline_ns - qm_now_ns();
	return ns <= 0 ? 0 : (int)QM_MIN((ns + 999999) / 1000000, 1 << 30);
}

/*
 * Connect @fd (non-blocking) to @sa, waiting for an in-progress TCP
 * handshake until @deadline_ns. A unix listener with a full backlog says
 * EAGAIN: try again every few ms until the deadline.
 * Returns 0 or an errno value (ETIMEDOUT when out of time).
 */
static int connect_wait(int fd, const struct sockaddr *sa, socklen_t salen,
			int64_t deadline_ns)
{
	struct timespec pause = { 0, 5 * 1000000 };
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int e = 0;

	while (connect(fd, sa, salen) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && left_ms(deadline_ns) != 0) {
			nanosleep(&pause, NULL);
			continue;
		}
		if (errno != EINPROGRESS)
			return errno == EAGAIN ? ETIMEDOUT : errno;
		if (poll(&p, 1, left_ms(deadline_ns)) <= 0)
			return ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			return errno;
		return e;
	}
	return 0;
}

static int connect_unix_sock(const rpc_addr *a, int64_t deadline_ns, int *e)
{
	struct sockaddr_un sa;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*e = errno;
		return -1;
	}
	set_sun(&sa, a->path);
	*e = connect_wait(fd, (struct sockaddr *)&sa, sizeof(sa), deadline_ns);
	if (*e) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_tcp_sock(const rpc_addr *a, int64_t deadline_ns, int *e,
			    qm_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char port[8];
	int fd = -1, one = 1, rc;

	snprintf(port, sizeof(port), "%u", a->port);
	rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc) {
		qm_error_set(err, QM_ERR_NOTFOUND, "rpc: resolve '%s': %s",
			     a->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			*e = errno;
			continue;
		}
		*e = connect_wait(fd, ai->ai_addr, ai->ai_addrlen,
				  deadline_ns);
		if (*e) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int rpc__connect(const rpc_addr *a, const char *addr, int timeout_ms,
		 qm_error *err)
{
	int64_t deadline_ns = timeout_ms < 0 ? -1 :
			      qm_now_ns() + (int64_t)timeout_ms * 1000000;
	int fd, e = 0;

	if (a->kind == RPC_TRANSPORT_UNIX)
		fd = connect_unix_sock(a, deadline_ns, &e);
	else
		fd = connect_tcp_sock(a, deadline_ns, &e, err);
	if (fd >= 0 || qm_error_is_set(err))
		return fd;
	if (e == ETIMEDOUT)
		qm_error_set(err, QM_ERR_TIMEOUT,
			     "rpc: connect to %s: no answer within %d ms", addr,
			     timeout_ms);
	else
		qm_error_errno(err, e, "rpc: connect to %s", addr);
	return -1;
}
