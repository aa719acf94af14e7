/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "tests/qmig_test.h"
#include "tests/unit/qmp/fake.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void rec_cb(qmp_conn *conn, json_object *result, const qm_error *err,
	    void *opaque)
{
	rec *r = opaque;

	r->calls++;
	if (r->order)
		r->order[(*r->norder)++] = r->tag;
	if (err) {
		/* Exactly one of result/err, as the contract says. */
		assert_null(result);
		r->has_err = true;
		r->err = *err;
		return;
	}
	assert_non_null(result);
	snprintf(r->result, sizeof(r->result), "%s",
		 json_object_to_json_string_ext(result,
						JSON_C_TO_STRING_PLAIN));
}

void fake_start(fake *f)
{
	qm_error err = QM_ERROR_INIT;
	int sv[2];

	memset(f, 0, sizeof(*f));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	f->fd = sv[1];
	assert_int_equal(fcntl(f->fd, F_SETFL, O_NONBLOCK), 0);
	f->conn = qmp_conn_new(&err);
	assert_non_null(f->conn);
	assert_true(qmp_connect_fd(f->conn, sv[0], &err));
	assert_int_equal(qmp_get_state(f->conn), QMP_STATE_GREETING);
}

void fake_close_server(fake *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

void fake_stop(fake *f)
{
	qmp_conn_free(f->conn);
	f->conn = NULL;
	fake_close_server(f);
}

void fake_send_n(fake *f, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n) {
		w = send(f->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			/* Socket full: let the client drain it. */
			fake_pump(f);
			continue;
		}
		assert_true(w > 0);
		p += w;
		n -= w;
	}
}

void fake_send(fake *f, const char *s)
{
	fake_send_n(f, s, strlen(s));
}

int fake_pump(fake *f)
{
	qm_error_clear(&f->err);
	return qmp_process(f->conn, POLLIN | POLLOUT, &f->err);
}

static void read_available(fake *f)
{
	ssize_t n;

	for (;;) {
		n = recv(f->fd, f->in + f->inlen, sizeof(f->in) - f->inlen - 1,
			 MSG_DONTWAIT);
		if (n <= 0)
			return;
		f->inlen += n;
	}
}

json_object *fake_recv(fake *f)
{
	json_object *o;
	char *nl;
	size_t len;

	fake_pump(f);
	read_available(f);
	f->in[f->inlen] = '\0';
	nl = memchr(f->in, '\n', f->inlen);
	if (!nl)
		return NULL;
	*nl = '\0';
	o = json_tokener_parse(f->in);
	assert_non_null(o);
	len = nl + 1 - f->in;
	memmove(f->in, nl + 1, f->inlen - len);
	f->inlen -= len;
	return o;
}

int64_t fake_expect(fake *f, const char *name)
{
	json_object *o = fake_recv(f), *v;
	int64_t id;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "execute", &v));
	assert_string_equal(json_object_get_string(v), name);
	assert_true(json_object_object_get_ex(o, "id", &v));
	assert_true(json_object_is_type(v, json_type_int));
	id = json_object_get_int64(v);
	assert_true(id > 0);
	json_object_put(o);
	return id;
}

bool fake_idle(fake *f)
{
	fake_pump(f);
	read_available(f);
	return f->inlen == 0;
}

void fake_reply(fake *f, int64_t id, const char *ret_json)
{
	char buf[8192];

	snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %lld}\r\n",
		 ret_json, (long long)id);
	fake_send(f, buf);
}

void fake_handshake(fake *f)
{
	int64_t id;

	fake_send(f, FAKE_GREETING);
	id = fake_expect(f, "qmp_capabilities");
	assert_int_equal(qmp_get_state(f->conn), QMP_STATE_NEGOTIATING);
	fake_reply(f, id, "{}");
	assert_int_equal(fake_pump(f), 0);
	assert_int_equal(qmp_get_state(f->conn), QMP_STATE_READY);
}

/* ---- scripted server thread ---- */

static void sendall(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;

	while (n) {
		w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* client gone: the test will notice */
		s += w;
		n -= w;
	}
}

/* Read one '\n'-terminated line (blocking); false on EOF. */
static bool read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c == '\n') {
			buf[n] = '\0';
			return true;
		}
		if (n + 1 < len)
			buf[n++] = c;
	}
	return false;
}

/* Bounded copy without snprintf's truncation warnings. */
static void copy_str(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void script_fail(fake_script *s, const char *what, const char *a,
			const char *b)
{
	char buf[sizeof(s->failure)];
	size_t n;

	if (s->failure[0])
		return;
	copy_str(buf, sizeof(buf), what);
	n = strlen(buf);
	copy_str(buf + n, sizeof(buf) - n, a);
	n = strlen(buf);
	copy_str(buf + n, sizeof(buf) - n, b);
	copy_str(s->failure, sizeof(s->failure), buf);
}

static bool script_step(fake_script *s, const fake_step *st, const char *line)
{
	char buf[8192];
	json_object *o = json_tokener_parse(line), *v = NULL, *id = NULL;

	if (!o || !json_object_object_get_ex(o, "execute", &v) ||
	    !json_object_object_get_ex(o, "id", &id) ||
	    strcmp(json_object_get_string(v), st->expect)) {
		script_fail(s, "unexpected command line, wanted ", st->expect,
			    line);
		json_object_put(o);
		return false;
	}
	if (st->before)
		sendall(s->fd, st->before);
	if (st->ret)
		snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %s}\r\n",
			 st->ret, json_object_to_json_string(id));
	else if (st->error_class)
		snprintf(buf, sizeof(buf),
			 "{\"error\": {\"class\": \"%s\", \"desc\": \"scripted\"}, \"id\": %s}\r\n",
			 st->error_class, json_object_to_json_string(id));
	else
		buf[0] = '\0';
	sendall(s->fd, buf);
	if (st->after)
		sendall(s->fd, st->after);
	json_object_put(o);
	return true;
}

static void *script_thread(void *opaque)
{
	static const fake_step caps = { .expect = "qmp_capabilities",
					.ret = "{}" };
	fake_script *s = opaque;
	char line[8192];
	const fake_step *st;

	sendall(s->fd, FAKE_GREETING);
	if (!read_line(s->fd, line, sizeof(line)) ||
	    !script_step(s, &caps, line))
		goto out;
	for (st = s->steps; st->expect; st++) {
		if (!read_line(s->fd, line, sizeof(line))) {
			script_fail(s, "EOF while expecting ", st->expect, "");
			break;
		}
		if (s->nsteps_done < FAKE_MAX_STEPS)
			copy_str(s->got[s->nsteps_done], sizeof(s->got[0]),
				 line);
		s->nsteps_done++;
		if (!script_step(s, st, line))
			break;
		if (st->close_after) {
			close(s->fd);
			return NULL;
		}
	}
out:
	/* Wait for the client to hang up before closing: closing first
	 * would turn unread commands into a reset. */
	while (read_line(s->fd, line, sizeof(line)))
		;
	close(s->fd);
	return NULL;
}

int fake_script_start(fake_script *s, const fake_step *steps)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	s->fd = sv[1];
	s->steps = steps;
	assert_int_equal(pthread_create(&s->thread, NULL, script_thread, s),
			 0);
	return sv[0];
}

void fake_script_join(fake_script *s)
{
	pthread_join(s->thread, NULL);
}
