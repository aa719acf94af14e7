/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc: the server object, its listeners and connections, their I/O on the
 * agent loop, and notifications.
 *
 * Connection life:
 *
 *   accept ──▶ open ──(fatal framing error)──▶ closing ──▶ closed
 *               │       error line queued,      output flushed, FIN sent,
 *               │       input no longer parsed  input drained until EOF
 *               │                               or RPC_LINGER_MS
 *               └──(EOF, I/O error, output over the limit, login
 *                   timeout, server freed)────────────────▶ closed
 *
 * "closed" means: fd closed, out of the loop and the server's list,
 * deferred calls detached. The struct itself is reference counted (one
 * reference for being open, one per stack frame working on it, one for
 * the owner of a memory connection), so code up the stack that is still
 * looking at a connection dropped underneath it (e.g. by a notification
 * sent from its own handler) finds it closed, not freed.
 */
#define LOG_PREFIX "rpc"
#include "agent/rpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Pause accepting this long when out of file descriptors (level-triggered
 * epoll would otherwise report the listener ready forever). */
#define ACCEPT_PAUSE_MS	100
/* Connections accepted per wake-up of a listener. */
#define ACCEPTS_PER_WAKE 16

void rpc_config_init(rpc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_request_bytes = RPC_DEFAULT_MAX_REQUEST;
	cfg->max_depth = RPC_DEFAULT_MAX_DEPTH;
	cfg->max_batch = RPC_DEFAULT_MAX_BATCH;
	cfg->max_output_bytes = RPC_DEFAULT_MAX_OUTPUT;
	cfg->rate_per_s = RPC_DEFAULT_RATE;
	cfg->rate_burst = RPC_DEFAULT_BURST;
	cfg->login_rate_per_s = RPC_DEFAULT_LOGIN_RATE;
	cfg->login_burst = RPC_DEFAULT_LOGIN_BURST;
	cfg->max_conns = RPC_DEFAULT_MAX_CONNS;
	cfg->max_deferred = RPC_DEFAULT_MAX_DEFERRED;
	cfg->login_timeout_ms = RPC_DEFAULT_LOGIN_TIMEOUT_MS;
	cfg->unix_mode = RPC_DEFAULT_UNIX_MODE;
}

/* ---- creation ---- */

static bool check_limits(const rpc_config *c, qm_error *err)
{
	if (c->max_request_bytes < 64 || c->max_request_bytes > (256u << 20))
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc config: max_request_bytes %zu, expected 64..%u",
				    c->max_request_bytes, 256u << 20);
	if (c->max_depth < 2 || c->max_depth > 1000)
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc config: max_depth %d, expected 2..1000",
				    c->max_depth);
	if (c->max_batch < 1 || c->max_output_bytes < c->max_request_bytes)
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc config: max_batch %zu (expected >= 1), max_output_bytes %zu (expected >= max_request_bytes %zu)",
				    c->max_batch, c->max_output_bytes,
				    c->max_request_bytes);
	if (c->rate_per_s < 0 || (c->rate_per_s > 0 && c->rate_burst < 1) ||
	    c->login_rate_per_s < 0 ||
	    (c->login_rate_per_s > 0 && c->login_burst < 1))
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc config: rates %g/%g and bursts %g/%g, expected rates >= 0 and bursts >= 1",
				    c->rate_per_s, c->login_rate_per_s,
				    c->rate_burst, c->login_burst);
	if (!c->max_conns || c->login_timeout_ms < 0)
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc config: max_conns %u (expected >= 1), login_timeout_ms %d (expected >= 0)",
				    c->max_conns, c->login_timeout_ms);
	if (c->unix_mode != 0600 && c->unix_mode != 0660)
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc config: unix_mode 0%o, expected 0600 or 0660",
				    c->unix_mode);
	return true;
}

static bool check_methods(const rpc_method *m, size_t n, qm_error *err)
{
	size_t i, j, len;

	for (i = 0; i < n; i++) {
		len = m[i].name ? strlen(m[i].name) : 0;
		if (!len || len >= RPC_METHOD_NAME_MAX || !m[i].handler)
			return qm_error_set(err, QM_ERR_INVAL,
					    "rpc methods[%zu]: name of %zu bytes (expected 1..%d) or no handler",
					    i, len, RPC_METHOD_NAME_MAX - 1);
		if (!strncmp(m[i].name, "rpc.", 4))
			return qm_error_set(err, QM_ERR_INVAL,
					    "rpc methods[%zu]: '%s': names starting with 'rpc.' are reserved",
					    i, m[i].name);
		for (j = 0; j < i; j++)
			if (!strcmp(m[i].name, m[j].name))
				return qm_error_set(err, QM_ERR_INVAL,
						    "rpc methods[%zu]: '%s' already defined at [%zu]",
						    i, m[i].name, j);
	}
	return true;
}

static bool copy_token(rpc_server *srv, const char *token, qm_error *err)
{
	size_t len;

	if (!token)
		return true;
	len = strlen(token);
	if (len < RPC_TOKEN_MIN || len > RPC_TOKEN_MAX)
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc config: token of %zu bytes, expected %d..%d",
				    len, RPC_TOKEN_MIN, RPC_TOKEN_MAX);
	memcpy(srv->token, token, len + 1);
	srv->token_len = len;
	srv->cfg.token = srv->token;
	return true;
}

rpc_server *rpc_server_new(agent_loop *loop, const rpc_method *methods,
			   size_t n, void *ctx, const rpc_config *cfg,
			   qm_error *err)
{
	rpc_server *srv;
	size_t i;

	if (!loop || (n && !methods)) {
		qm_error_set(err, QM_ERR_INVAL, "rpc: no loop or no method table");
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		qm_error_set(err, QM_ERR_NOMEM, "rpc: server");
		return NULL;
	}
	if (cfg)
		srv->cfg = *cfg;
	else
		rpc_config_init(&srv->cfg);
	srv->cfg.token = NULL;
	srv->loop = loop;
	srv->methods = methods;
	srv->nmethods = n;
	srv->ctx = ctx;
	srv->next_conn_id = 1;
	for (i = 0; i < RPC_MAX_LISTENERS; i++)
		srv->ls[i].fd = -1;
	if (!check_limits(&srv->cfg, err) || !check_methods(methods, n, err) ||
	    !copy_token(srv, cfg ? cfg->token : NULL, err))
		goto fail;
	/* json-c counts the value itself as one level more than we do. */
	srv->tok = json_tokener_new_ex(srv->cfg.max_depth + 1);
	srv->rbuf = malloc(RPC_READ_CHUNK);
	if (!srv->tok || !srv->rbuf) {
		qm_error_set(err, QM_ERR_NOMEM, "rpc: server buffers");
		goto fail;
	}
	json_tokener_set_flags(srv->tok, JSON_TOKENER_STRICT |
					 JSON_TOKENER_VALIDATE_UTF8);
	return srv;
fail:
	rpc_server_free(srv);
	return NULL;
}

static void listener_close(struct rpc_listener *l)
{
	struct stat st;

	if (l->fd < 0)
		return;
	agent_loop_del_fd(l->srv->loop, l->fd);
	close(l->fd);
	l->fd = -1;
	/* Only our own socket file: another server may have replaced it. */
	if (l->kind == RPC_TRANSPORT_UNIX && lstat(l->path, &st) == 0 &&
	    st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->path);
}

void rpc_server_free(rpc_server *srv)
{
	size_t i;

	if (!srv)
		return;
	while (srv->conns)
		rpc__conn_close(srv->conns, "server shutting down");
	for (i = 0; i < RPC_MAX_LISTENERS; i++)
		listener_close(&srv->ls[i]);
	agent_loop_timer_del(srv->loop, srv->accept_pause);
	if (srv->tok)
		json_tokener_free(srv->tok);
	free(srv->rbuf);
	free(srv);
}

/* ---- connections ---- */

/* ---- output queue ---- */

static bool out_push(rpc_conn *conn, const char *buf, size_t len)
{
	struct rpc_chunk *c;
	size_t n;

	while (len) {
		c = conn->out_last;
		if (!c || c->tail == RPC_OUT_CHUNK) {
			c = malloc(sizeof(*c));
			if (!c)
				return false;
			c->next = NULL;
			c->head = c->tail = 0;
			if (conn->out_last)
				conn->out_last->next = c;
			else
				conn->out_first = c;
			conn->out_last = c;
		}
		n = QM_MIN(len, RPC_OUT_CHUNK - c->tail);
		memcpy(c->data + c->tail, buf, n);
		c->tail += n;
		conn->out_bytes += n;
		buf += n;
		len -= n;
	}
	return true;
}

/* Drop @n sent bytes from the front, freeing chunks as they empty. */
static void out_pop(rpc_conn *conn, size_t n)
{
	struct rpc_chunk *c;
	size_t k;

	while (n && (c = conn->out_first)) {
		k = QM_MIN(n, c->tail - c->head);
		c->head += k;
		conn->out_bytes -= k;
		n -= k;
		if (c->head < c->tail)
			break;
		conn->out_first = c->next;
		if (!conn->out_first)
			conn->out_last = NULL;
		free(c);
	}
}

static void conn_free(rpc_conn *conn)
{
	rpc_lines_destroy(&conn->in);
	out_pop(conn, conn->out_bytes);
	free(conn);
}

void rpc__conn_get(rpc_conn *conn)
{
	conn->refs++;
}

void rpc__conn_put(rpc_conn *conn)
{
	if (!--conn->refs)
		conn_free(conn);
}

static rpc_conn *conn_alloc(rpc_server *srv, int fd, rpc_transport kind)
{
	rpc_conn *conn = calloc(1, sizeof(*conn));
	int64_t now = qm_now_ns();

	if (!conn)
		return NULL;
	conn->srv = srv;
	conn->fd = fd;
	conn->kind = kind;
	conn->id = srv->next_conn_id++;
	conn->refs = 1;
	conn->uid = (uid_t)-1;
	/* The socket's permissions are the check on unix connections. */
	conn->authed = kind != RPC_TRANSPORT_TCP;
	rpc_lines_init(&conn->in, srv->cfg.max_request_bytes);
	rpc_bucket_init(&conn->rate, srv->cfg.rate_per_s, srv->cfg.rate_burst,
			now);
	rpc_bucket_init(&conn->login, srv->cfg.login_rate_per_s,
			srv->cfg.login_burst, now);
	conn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = conn;
	srv->conns = conn;
	srv->stats.conns++;
	return conn;
}

void rpc__conn_close(rpc_conn *conn, const char *why)
{
	rpc_server *srv = conn->srv;

	if (conn->closed)
		return;
	conn->closed = true;
	pr_info("conn #%llu (%s) closed: %s", (unsigned long long)conn->id,
		conn->peer, why);
	agent_loop_timer_del(srv->loop, conn->timer);
	conn->timer = NULL;
	if (conn->fd >= 0) {
		agent_loop_del_fd(srv->loop, conn->fd);
		close(conn->fd);
		conn->fd = -1;
	}
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		srv->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	conn->prev = conn->next = NULL;
	srv->stats.conns--;
	rpc__conn_detach_calls(conn);
	rpc__conn_put(conn);
}

static void on_linger(agent_loop *loop, void *opaque)
{
	rpc_conn *conn = opaque;

	conn->timer = NULL;
	rpc__conn_close(conn, "linger time over");
}

void rpc__conn_close_after_flush(rpc_conn *conn, const char *why)
{
	if (conn->closed || conn->closing)
		return;
	if (conn->kind == RPC_TRANSPORT_MEMORY) {
		rpc__conn_close(conn, why);
		return;
	}
	pr_info("conn #%llu (%s) closing: %s", (unsigned long long)conn->id,
		conn->peer, why);
	conn->closing = true;
	agent_loop_timer_del(conn->srv->loop, conn->timer);
	conn->timer = agent_loop_timer_add(conn->srv->loop, RPC_LINGER_MS,
					   on_linger, conn, NULL);
	if (!conn->timer)
		rpc__conn_close(conn, "no memory for the linger timer");
}

static void conn_drop_slow(rpc_conn *conn, size_t need)
{
	char why[160];

	snprintf(why, sizeof(why),
		 "dropped: %zu bytes of output pending exceeds the limit of %zu bytes",
		 conn->out_bytes + need,
		 conn->srv->cfg.max_output_bytes);
	pr_warn("conn #%llu (%s) %s", (unsigned long long)conn->id, conn->peer,
		why);
	conn->srv->stats.dropped++;
	rpc__conn_close(conn, why);
}

/* Queue one line (@s without its newline); false if the connection is
 * dropped instead. Whole lines only, so readers never see half of one. */
static bool conn_append_line(rpc_conn *conn, const char *s, size_t len)
{
	if (conn->out_bytes + len + 1 > conn->srv->cfg.max_output_bytes) {
		conn_drop_slow(conn, len + 1);
		return false;
	}
	if (!out_push(conn, s, len) || !out_push(conn, "\n", 1)) {
		rpc__conn_close(conn, "no memory for output");
		return false;
	}
	return true;
}

bool rpc__conn_send(rpc_conn *conn, json_object *msg)
{
	const char *s;
	size_t len;
	bool ok = false;

	if (!conn->closed && !conn->closing) {
		s = json_object_to_json_string_length(msg,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
			&len);
		if (s)
			ok = conn_append_line(conn, s, len);
		else
			rpc__conn_close(conn, "cannot serialize a response");
	}
	json_object_put(msg);
	return ok && !conn->closing;
}

/* ---- socket I/O ---- */

static void conn_set_events(rpc_conn *conn)
{
	uint32_t ev = EPOLLIN;

	if (conn->closed || conn->fd < 0)
		return;
	if (conn->out_bytes)
		ev |= EPOLLOUT;
	/* Back-pressure: a client that sends requests without reading the
	 * answers waits instead of being dropped. */
	if (!conn->closing &&
	    conn->out_bytes > conn->srv->cfg.max_output_bytes / 2)
		ev &= ~EPOLLIN;
	if (conn->peer_eof)
		ev &= ~EPOLLIN;
	if (ev == conn->events)
		return;
	if (!agent_loop_mod_fd(conn->srv->loop, conn->fd, ev, NULL))
		rpc__conn_close(conn, "epoll_ctl failed");
	else
		conn->events = ev;
}

static void conn_write(rpc_conn *conn)
{
	struct iovec iov[RPC_OUT_IOV];
	struct msghdr mh = { .msg_iov = iov };
	struct rpc_chunk *c;
	ssize_t n;

	while (!conn->closed && conn->out_bytes) {
		mh.msg_iovlen = 0;
		for (c = conn->out_first; c && mh.msg_iovlen < RPC_OUT_IOV;
		     c = c->next) {
			iov[mh.msg_iovlen].iov_base = c->data + c->head;
			iov[mh.msg_iovlen++].iov_len = c->tail - c->head;
		}
		n = sendmsg(conn->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			out_pop(conn, n);
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else if (n < 0 && errno != EINTR) {
			rpc__conn_close(conn, strerror(errno));
			return;
		}
	}
	if (conn->closing && !conn->closed)
		shutdown(conn->fd, SHUT_WR);
}

void rpc__conn_flush(rpc_conn *conn)
{
	if (conn->closed || conn->fd < 0)
		return;
	conn_write(conn);
	/* After the peer's EOF, close once every answer is out. */
	if (!conn->closed && conn->peer_eof && !conn->closing &&
	    !conn->ndeferred && !conn->out_bytes) {
		rpc__conn_close(conn, conn->in.len ?
				"peer closed in the middle of a request" :
				"peer closed");
		return;
	}
	conn_set_events(conn);
}

/* Lingering: read and discard until EOF (the linger timer ends a client
 * that keeps sending). */
static void conn_drain(rpc_conn *conn)
{
	ssize_t n = 1;
	int i;

	for (i = 0; i < RPC_READS_PER_WAKE && n > 0; i++)
		n = recv(conn->fd, conn->srv->rbuf, RPC_READ_CHUNK,
			 MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		rpc__conn_close(conn, "closed after an error");
}

static void conn_input(rpc_conn *conn, const char *buf, size_t len)
{
	qm_error e = QM_ERROR_INIT;

	if (rpc_lines_feed(&conn->in, buf, len, rpc__conn_line, conn, &e) ||
	    !qm_error_is_set(&e))
		return;
	if (e.code == QM_ERR_TOO_BIG)
		pr_warn("conn #%llu (%s): %s", (unsigned long long)conn->id,
			conn->peer, e.msg);
	rpc__conn_send(conn, rpc__framing_error(conn, &e));
	rpc__conn_close_after_flush(conn, e.msg);
}

/* Read and process; @all: the peer hung up, take everything it sent. */
static void conn_read(rpc_conn *conn, bool all)
{
	ssize_t n;
	int i;

	for (i = 0; all || i < RPC_READS_PER_WAKE; i++) {
		if (conn->closed || conn->closing || conn->peer_eof ||
		    !(conn->events & EPOLLIN))
			return;
		n = recv(conn->fd, conn->srv->rbuf, RPC_READ_CHUNK,
			 MSG_DONTWAIT);
		if (n > 0) {
			conn_input(conn, conn->srv->rbuf, n);
			conn_set_events(conn);
		} else if (n == 0) {
			/* Answers to what was sent before EOF still go out. */
			conn->peer_eof = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno != EINTR) {
			rpc__conn_close(conn, strerror(errno));
		}
	}
}

static void on_conn_io(agent_loop *loop, int fd, uint32_t events,
		       void *opaque)
{
	rpc_conn *conn = opaque;

	bool hup = events & (EPOLLHUP | EPOLLERR);

	rpc__conn_get(conn);
	if (conn->closing && (events & EPOLLIN))
		conn_drain(conn);
	else if (!conn->closing && (events & EPOLLIN || hup))
		conn_read(conn, hup);
	/* Nobody is left to read answers; requests read above did run. */
	if (hup)
		rpc__conn_close(conn, "peer hung up");
	rpc__conn_flush(conn);
	rpc__conn_put(conn);
}

static void on_login_timeout(agent_loop *loop, void *opaque)
{
	rpc_conn *conn = opaque;

	conn->timer = NULL;
	rpc__conn_close(conn, "no rpc.login in time");
}

void rpc__conn_authed(rpc_conn *conn)
{
	if (conn->closing)
		return;
	agent_loop_timer_del(conn->srv->loop, conn->timer);
	conn->timer = NULL;
}

/* Tell a client over the limit why, best effort, and close. */
static void refuse(rpc_server *srv, int fd)
{
	char msg[96];
	json_object *resp;
	const char *s;

	srv->stats.refused++;
	snprintf(msg, sizeof(msg), "too many connections: limit %u",
		 srv->cfg.max_conns);
	pr_warn("refusing a connection: %s", msg);
	resp = rpc__error_response(NULL, RPC_ERR_TOO_BIG, QM_ERR_TOO_BIG, msg);
	s = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
	if (send(fd, s, strlen(s), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		(void)!send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	json_object_put(resp);
	close(fd);
}

static void conn_start(rpc_server *srv, int fd, rpc_transport kind)
{
	rpc_conn *conn;
	int one = 1;

	if (srv->stats.conns >= srv->cfg.max_conns) {
		refuse(srv, fd);
		return;
	}
	conn = conn_alloc(srv, fd, kind);
	if (!conn) {
		pr_err("no memory for a connection");
		close(fd);
		return;
	}
	srv->stats.accepted++;
	rpc__describe_peer(conn);
	if (kind == RPC_TRANSPORT_TCP)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn->events = EPOLLIN;
	if (!agent_loop_add_fd(srv->loop, fd, EPOLLIN, on_conn_io, conn,
			       NULL)) {
		rpc__conn_close(conn, "cannot watch the socket");
		return;
	}
	if (!conn->authed && srv->cfg.login_timeout_ms)
		conn->timer = agent_loop_timer_add(srv->loop,
						   srv->cfg.login_timeout_ms,
						   on_login_timeout, conn, NULL);
	pr_info("conn #%llu from %s%s", (unsigned long long)conn->id,
		conn->peer, conn->authed ? "" : " (must log in)");
}

/* ---- listeners ---- */

static void set_accepting(rpc_server *srv, bool on)
{
	size_t i;

	for (i = 0; i < RPC_MAX_LISTENERS; i++)
		if (srv->ls[i].fd >= 0)
			agent_loop_mod_fd(srv->loop, srv->ls[i].fd,
					  on ? EPOLLIN : 0, NULL);
}

static void on_accept_resume(agent_loop *loop, void *opaque)
{
	rpc_server *srv = opaque;

	srv->accept_pause = NULL;
	set_accepting(srv, true);
}

static void on_listener(agent_loop *loop, int fd, uint32_t events,
			void *opaque)
{
	struct rpc_listener *l = opaque;
	rpc_server *srv = l->srv;
	int i, cfd, e;

	for (i = 0; i < ACCEPTS_PER_WAKE; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			conn_start(srv, cfd, l->kind);
			continue;
		}
		e = errno;
		if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
			pr_warn("accept on %s: %s; pausing %d ms", l->addr,
				strerror(e), ACCEPT_PAUSE_MS);
			set_accepting(srv, false);
			srv->accept_pause = agent_loop_timer_add(loop,
				ACCEPT_PAUSE_MS, on_accept_resume, srv, NULL);
			if (!srv->accept_pause)
				set_accepting(srv, true);
		}
		if (e != EINTR && e != ECONNABORTED)
			return;
	}
}

bool rpc_server_listen(rpc_server *srv, const char *addr, qm_error *err)
{
	struct rpc_listener *l = NULL;
	rpc_addr a;
	size_t i;
	bool ok;

	if (!rpc_addr_parse(addr, &a, err))
		return false;
	for (i = 0; i < RPC_MAX_LISTENERS && !l; i++)
		if (srv->ls[i].fd < 0)
			l = &srv->ls[i];
	if (!l)
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "rpc: listen on %s: already %d listeners",
				    addr, RPC_MAX_LISTENERS);
	if (a.kind == RPC_TRANSPORT_TCP && !srv->token_len)
		return qm_error_set(err, QM_ERR_INVAL,
				    "rpc: listen on %s: TCP needs a token (none configured)",
				    addr);
	memset(l, 0, sizeof(*l));
	l->srv = srv;
	l->fd = -1;
	ok = a.kind == RPC_TRANSPORT_UNIX ?
	     rpc__listen_unix(l, &a, srv->cfg.unix_mode, err) :
	     rpc__listen_tcp(l, &a, err);
	if (!ok)
		return false;
	if (!agent_loop_add_fd(srv->loop, l->fd, srv->accept_pause ? 0 :
			       EPOLLIN, on_listener, l, err)) {
		listener_close(l);
		return false;
	}
	pr_info("listening on %s%s", l->addr,
		a.kind == RPC_TRANSPORT_TCP ? " (token required)" : "");
	return true;
}

bool rpc_server_listen_addr(const rpc_server *srv, size_t i, char *buf,
			    size_t len)
{
	if (i >= RPC_MAX_LISTENERS || srv->ls[i].fd < 0)
		return false;
	return qm_format(buf, len, "%s", srv->ls[i].addr);
}

void rpc_server_get_stats(const rpc_server *srv, rpc_server_stats *out)
{
	*out = srv->stats;
}

/* ---- notifications ---- */

static bool subscribed(const rpc_conn *conn, const char *topic)
{
	unsigned i;

	for (i = 0; i < conn->ntopics; i++)
		if (!strcmp(conn->topics[i], topic))
			return true;
	return false;
}

static json_object *notification(const char *method, json_object *params)
{
	json_object *msg = json_object_new_object();

	if (!msg)
		return NULL;
	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(msg, "params", params);
	return msg;
}

int rpc_server_notify(rpc_server *srv, const char *topic, const char *method,
		      json_object *params, qm_error *err)
{
	rpc_conn *conn, *next;
	json_object *msg;
	const char *s;
	size_t len;
	int n = 0;

	if (!topic || !method || !*method ||
	    (params && !json_object_is_type(params, json_type_object))) {
		json_object_put(params);
		qm_error_set(err, QM_ERR_INVAL,
			     "rpc notify: topic '%s', method '%s', params a %s; expected names and an object",
			     topic ? topic : "(null)", method ? method : "(null)",
			     params ? rpc__type_name(json_object_get_type(params)) :
			     "nothing");
		return -1;
	}
	msg = notification(method, params);
	s = msg ? json_object_to_json_string_length(msg,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
			&len) : NULL;
	if (!s) {
		json_object_put(msg ? msg : params);
		qm_error_set(err, QM_ERR_NOMEM, "rpc notify %s", method);
		return -1;
	}
	for (conn = srv->conns; conn; conn = next) {
		next = conn->next;
		if (conn->closing || !subscribed(conn, topic))
			continue;
		if (conn_append_line(conn, s, len)) {
			n++;
			rpc__conn_flush(conn);
		}
	}
	srv->stats.notifications += n;
	json_object_put(msg);
	return n;
}

/* ---- memory connections ---- */

rpc_conn *rpc_conn_new_memory(rpc_server *srv, rpc_transport kind,
			      qm_error *err)
{
	rpc_conn *conn;

	if (kind != RPC_TRANSPORT_TCP && kind != RPC_TRANSPORT_UNIX) {
		qm_error_set(err, QM_ERR_INVAL,
			     "rpc: memory connection of kind %d, expected %d (unix) or %d (tcp)",
			     kind, RPC_TRANSPORT_UNIX, RPC_TRANSPORT_TCP);
		return NULL;
	}
	conn = conn_alloc(srv, -1, kind);
	if (!conn) {
		qm_error_set(err, QM_ERR_NOMEM, "rpc: connection");
		return NULL;
	}
	conn->kind = RPC_TRANSPORT_MEMORY;
	conn->refs++;           /* the owner's */
	snprintf(conn->peer, sizeof(conn->peer), "memory %s",
		 kind == RPC_TRANSPORT_TCP ? "tcp" : "unix");
	return conn;
}

bool rpc_conn_feed(rpc_conn *conn, const void *buf, size_t len)
{
	if (conn->closed || conn->closing)
		return false;
	rpc__conn_get(conn);
	conn_input(conn, buf, len);
	rpc__conn_put(conn);
	return rpc_conn_is_open(conn);
}

char *rpc_conn_take_output(rpc_conn *conn, size_t *len)
{
	char *buf = malloc(conn->out_bytes + 1);
	struct rpc_chunk *c;
	size_t n = 0;

	if (!buf)
		return NULL;
	for (c = conn->out_first; c; c = c->next) {
		memcpy(buf + n, c->data + c->head, c->tail - c->head);
		n += c->tail - c->head;
	}
	buf[n] = '\0';
	*len = n;
	out_pop(conn, n);
	return buf;
}

bool rpc_conn_is_open(const rpc_conn *conn)
{
	return !conn->closed && !conn->closing;
}

void rpc_conn_free(rpc_conn *conn)
{
	if (!conn)
		return;
	rpc__conn_close(conn, "freed by its owner");
	rpc__conn_put(conn);
}
