/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who may talk to the server: the TCP token and rpc.login (over loopback
 * TCP), trusted unix connections, the unix socket file (mode, stale and
 * live sockets, paths that are not sockets), connection limits.
 */
#include "tests/unit/rpc/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CASE(name, fn) { name, fn, NULL, NULL, NULL }

/* Before rpc.login a TCP connection gets Unauthorized for every method
 * (its notifications do not run), except methods flagged NOAUTH. */
static void test_tcp_needs_login(void **state)
{
	static const char note[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"test.bump\"}\n";
	qm_error err = QM_ERROR_INIT;
	th_server t;
	rpc_client *cl;
	json_object *r;

	th_start(&t, NULL, true);
	cl = th_connect(t.tcp_addr);
	th_call_err(cl, "test.count", NULL, RPC_ERR_UNAUTHORIZED,
		    "method 'test.count' needs rpc.login first");
	th_call_err(cl, "rpc.subscribe", "{\"topics\": [\"vm\"]}",
		    RPC_ERR_UNAUTHORIZED, NULL);
	assert_true(rpc_client_send_raw(cl, note, strlen(note), 1000, &err));
	th_assert_silent(cl, 50);
	/* Unknown methods are still "not found", not "unauthorized". */
	th_call_err(cl, "no.such", NULL, RPC_ERR_METHOD_NOT_FOUND, NULL);
	r = th_call(cl, "test.public", NULL);
	json_object_put(r);
	assert_true(rpc_client_login(cl, TH_TOKEN, 1000, &err));
	r = th_call(cl, "test.count", NULL);
	assert_int_equal(th_int(r, "count"), 0);
	json_object_put(r);
	rpc_client_free(cl);
	th_stop(&t);
}

/* The nonce of a fresh rpc.challenge on @cl. */
static void challenge(rpc_client *cl, char nonce[RPC_AUTH_HEX + 1])
{
	json_object *r = th_call(cl, "rpc.challenge", NULL);
	const char *n = json_object_get_string(json_object_object_get(r,
								      "nonce"));

	assert_non_null(n);
	assert_int_equal(strlen(n), RPC_AUTH_HEX);
	strcpy(nonce, n);
	json_object_put(r);
}

/* rpc.login params answering @nonce with @token's proof. */
static void login_params(const char *token, const char *nonce, char *out,
			 size_t len)
{
	static const char cn[] = "0123456789abcdef0123456789abcdef";
	char proof[RPC_AUTH_HEX + 1];
	qm_error err = QM_ERROR_INIT;

	assert_true(rpc_auth_proof(token, false, nonce, cn, proof, &err));
	snprintf(out, len, "{\"client_nonce\": \"%s\", \"proof\": \"%s\"}",
		 cn, proof);
}

/* A wrong token is Unauthorized and logged as a failure; repeated wrong
 * tokens are rate limited (3 attempts, then 1/s), even the right one
 * while the bucket is empty; the connection stays open throughout. The
 * token itself is never accepted on the wire. */
static void test_wrong_token(void **state)
{
	qm_error err = QM_ERROR_INIT;
	th_server t;
	rpc_client *cl, *ux;
	char nonce[RPC_AUTH_HEX + 1], p[256];
	int i;

	th_start(&t, NULL, true);
	cl = th_connect(t.tcp_addr);
	th_call_err(cl, "rpc.login", "{\"token\": \"" TH_TOKEN "\"}",
		    RPC_ERR_INVALID_PARAMS, "unknown member 'token'");
	th_call_err(cl, "rpc.login", "{\"client_nonce\": 12, \"proof\": \"x\"}",
		    RPC_ERR_INVALID_PARAMS,
		    "params: member 'client_nonce' is an integer, expected a string");
	th_call_err(cl, "rpc.login", "{\"client_nonce\": \"00\", \"proof\": \"x\"}",
		    RPC_ERR_INVALID_PARAMS, "client_nonce must be 32 to 128");
	for (i = 0; i < 3; i++) {
		assert_false(rpc_client_login(cl, i == 1 ? TH_TOKEN "x" :
					      "0123456789abcdef0123456789abcdeF",
					      1000, &err));
		assert_int_equal(err.subclass, RPC_ERR_UNAUTHORIZED);
		assert_non_null(strstr(err.msg, "rpc.login: wrong token"));
		qm_error_clear(&err);
	}
	challenge(cl, nonce);
	login_params("nope-nope-nope-nope", nonce, p, sizeof(p));
	th_call_err(cl, "rpc.login", p, RPC_ERR_RATE_LIMITED,
		    "too many attempts (3 failed)");
	assert_false(rpc_client_login(cl, TH_TOKEN, 1000, &err));
	assert_int_equal(err.subclass, RPC_ERR_RATE_LIMITED);
	th_call_err(cl, "test.count", NULL, RPC_ERR_UNAUTHORIZED, NULL);
	ux = th_connect(t.unix_addr);
	assert_int_equal(th_stat(ux, "login_failures"), 3);
	assert_int_equal(th_stat(ux, "rate_limited"), 2);
	/* One attempt per second comes back. */
	usleep(1100 * 1000);
	qm_error_clear(&err);
	assert_true(rpc_client_login(cl, TH_TOKEN, 1000, &err));
	rpc_client_free(ux);
	rpc_client_free(cl);
	th_stop(&t);
}

/* A login seen on the wire is worthless: replayed on another connection
 * (its challenge differs), replayed on the same one (the challenge was
 * used up), or sent without asking for a challenge. */
static void test_login_replay(void **state)
{
	qm_error err = QM_ERROR_INIT;
	char nonce[RPC_AUTH_HEX + 1], p[256];
	th_server t;
	rpc_client *a, *b;
	json_object *r;

	th_start(&t, NULL, true);
	a = th_connect(t.tcp_addr);
	b = th_connect(t.tcp_addr);
	th_call_err(b, "rpc.login", "{\"client_nonce\": "
		    "\"0123456789abcdef0123456789abcdef\", \"proof\": \"00\"}",
		    RPC_ERR_NOT_ALLOWED, "call rpc.challenge first");
	challenge(a, nonce);
	login_params(TH_TOKEN, nonce, p, sizeof(p));
	r = th_call(a, "rpc.login", p);
	assert_true(json_object_get_boolean(json_object_object_get(r,
							"authenticated")));
	json_object_put(r);
	/* The same bytes, same connection: the challenge is gone. */
	th_call_err(a, "rpc.login", p, RPC_ERR_NOT_ALLOWED,
		    "call rpc.challenge first");
	/* The same bytes on another connection, after its own challenge. */
	challenge(b, nonce);
	th_call_err(b, "rpc.login", p, RPC_ERR_UNAUTHORIZED,
		    "rpc.login: wrong token");
	th_call_err(b, "test.count", NULL, RPC_ERR_UNAUTHORIZED, NULL);
	/* Two challenges never repeat. */
	{
		char n2[RPC_AUTH_HEX + 1];

		challenge(b, n2);
		assert_string_not_equal(nonce, n2);
	}
	assert_true(rpc_client_login(b, TH_TOKEN, 1000, &err));
	rpc_client_free(a);
	rpc_client_free(b);
	th_stop(&t);
}

/* The proof binds the token, both nonces and the direction: the
 * server's proof is not the client's. */
static void test_proof_binds_everything(void **state)
{
	static const char s1[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			  s2[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
			  c1[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	char base[RPC_AUTH_HEX + 1], x[RPC_AUTH_HEX + 1];
	qm_error err = QM_ERROR_INIT;

	assert_true(rpc_auth_proof(TH_TOKEN, false, s1, c1, base, &err));
	assert_int_equal(strlen(base), RPC_AUTH_HEX);
	assert_true(rpc_auth_proof(TH_TOKEN, false, s1, c1, x, &err));
	assert_true(rpc_auth_equal(base, x));
	assert_true(rpc_auth_proof(TH_TOKEN "x", false, s1, c1, x, &err));
	assert_false(rpc_auth_equal(base, x));
	assert_true(rpc_auth_proof(TH_TOKEN, false, s2, c1, x, &err));
	assert_false(rpc_auth_equal(base, x));
	assert_true(rpc_auth_proof(TH_TOKEN, true, s1, c1, x, &err));
	assert_false(rpc_auth_equal(base, x));
	assert_true(rpc_auth_proof(TH_TOKEN, false, c1, s1, x, &err));
	assert_false(rpc_auth_equal(base, x));
	assert_false(rpc_auth_equal(base, "short"));
	assert_true(rpc_auth_nonce_ok(c1));
	assert_false(rpc_auth_nonce_ok("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"));
	assert_false(rpc_auth_nonce_ok("bbbb"));
}

/* The right token opens every method; logging in again is harmless; a
 * unix connection is trusted without logging in, and its peer uid and
 * pid are recorded. */
static void test_right_token_and_unix(void **state)
{
	qm_error err = QM_ERROR_INIT;
	th_server t;
	rpc_client *tcp, *ux;
	json_object *r;
	char want[64];

	th_start(&t, NULL, true);
	tcp = th_connect(t.tcp_addr);
	assert_true(rpc_client_login(tcp, TH_TOKEN, 1000, &err));
	assert_true(rpc_client_login(tcp, TH_TOKEN, 1000, &err));
	r = th_call(tcp, "test.add", "{\"a\": 1, \"b\": 1}");
	json_object_put(r);
	r = th_call(tcp, "test.peer", NULL);
	assert_int_equal(strncmp(json_object_get_string(
		json_object_object_get(r, "peer")), "tcp 127.0.0.1:", 14), 0);
	assert_int_equal(th_int(r, "uid"), -1);
	json_object_put(r);
	ux = th_connect(t.unix_addr);
	r = th_call(ux, "test.peer", NULL);
	snprintf(want, sizeof(want), "unix uid %u pid %d", (unsigned)getuid(),
		 (int)getpid());
	assert_string_equal(json_object_get_string(
		json_object_object_get(r, "peer")), want);
	assert_int_equal(th_int(r, "uid"), (int)getuid());
	json_object_put(r);
	/* Unix connections are in already; a login there is checked like
	 * any other and a wrong one does not lock them out. */
	assert_false(rpc_client_login(ux, "whatever-it-is-not-right", 1000,
				      &err));
	qm_error_clear(&err);
	assert_true(rpc_client_login(ux, TH_TOKEN, 1000, &err));
	r = th_call(ux, "test.count", NULL);
	json_object_put(r);
	rpc_client_free(tcp);
	rpc_client_free(ux);
	th_stop(&t);
}

/* A TCP connection that does not log in within login_timeout_ms is
 * closed; one that did is not. */
static void test_login_timeout(void **state)
{
	qm_error err = QM_ERROR_INIT;
	rpc_config cfg;
	th_server t;
	rpc_client *idle, *in;
	json_object *r;

	th_config(&cfg);
	cfg.login_timeout_ms = 200;
	th_start(&t, &cfg, true);
	idle = th_connect(t.tcp_addr);
	in = th_connect(t.tcp_addr);
	assert_true(rpc_client_login(in, TH_TOKEN, 1000, &err));
	th_assert_closed(idle);
	usleep(100 * 1000);
	r = th_call(in, "test.count", NULL);
	json_object_put(r);
	rpc_client_free(idle);
	rpc_client_free(in);
	th_stop(&t);
}

static json_object *m_none(void *ctx, rpc_call *call, json_object *params,
			   qm_error *err)
{
	return NULL;
}

/* TCP needs a token, and tokens have a minimum length; the config and
 * the method table are checked entry by entry. */
static void test_config_checks(void **state)
{
	static const rpc_method dup[] = {
		{ "a.b", m_none, NULL, 0 },
		{ "a.b", m_none, NULL, 0 },
	};
	static const rpc_method reserved[] = {
		{ "rpc.login", m_none, NULL, 0 },
	};
	qm_error err = QM_ERROR_INIT;
	agent_loop *loop = agent_loop_new(NULL);
	rpc_server *srv;
	rpc_config cfg;

	rpc_config_init(&cfg);
	srv = rpc_server_new(loop, NULL, 0, NULL, &cfg, &err);
	assert_non_null(srv);
	assert_false(rpc_server_listen(srv, "tcp:127.0.0.1:0", &err));
	assert_int_equal(err.code, QM_ERR_INVAL);
	assert_non_null(strstr(err.msg, "TCP needs a token"));
	qm_error_clear(&err);
	assert_false(rpc_server_listen(srv, "udp:1.2.3.4:5", &err));
	assert_non_null(strstr(err.msg, "expected unix:PATH or tcp:HOST:PORT"));
	rpc_server_free(srv);
#define BAD(field, value, substr)                                       \
	do {                                                            \
		rpc_config_init(&cfg);                                  \
		cfg.field = value;                                      \
		qm_error_clear(&err);                                   \
		assert_null(rpc_server_new(loop, NULL, 0, NULL, &cfg,   \
					   &err));                      \
		assert_int_equal(err.code, QM_ERR_INVAL);               \
		if (!strstr(err.msg, substr))                           \
			fail_msg("'%s' lacks '%s'", err.msg, substr);   \
	} while (0)
	BAD(token, "short", "token of 5 bytes, expected 16..256");
	BAD(unix_mode, 0666, "unix_mode 0666, expected 0600 or 0660");
	BAD(max_depth, 1, "max_depth 1, expected 2..1000");
	BAD(max_request_bytes, 10, "max_request_bytes 10");
	BAD(max_output_bytes, 100, "max_output_bytes 100");
	BAD(rate_burst, 0.5, "bursts 0.5");
	BAD(max_conns, 0, "max_conns 0");
#undef BAD
	qm_error_clear(&err);
	assert_null(rpc_server_new(loop, dup, 2, NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "'a.b' already defined at [0]"));
	qm_error_clear(&err);
	assert_null(rpc_server_new(loop, reserved, 1, NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "names starting with 'rpc.' are reserved"));
	agent_loop_free(loop);
}

static mode_t sock_mode(const th_server *t)
{
	struct stat st;

	assert_int_equal(lstat(t->unix_addr + 5, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	return st.st_mode & 07777;
}

/* The unix socket is created with mode 0600 whatever the umask, or 0660
 * when configured. */
static void test_socket_mode(void **state)
{
	mode_t old = umask(0);
	rpc_config cfg;
	th_server t;

	th_start(&t, NULL, false);
	assert_int_equal(sock_mode(&t), 0600);
	th_stop(&t);
	umask(077);
	th_config(&cfg);
	cfg.unix_mode = 0660;
	th_start(&t, &cfg, false);
	assert_int_equal(sock_mode(&t), 0660);
	th_stop(&t);
	umask(old);
}

static void temp_dir(char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, len, "%s/qmig-rpc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
}

/* A path that exists and is not a socket is never replaced; a stale
 * socket (nobody listening) is; a live one is refused and keeps
 * working; a server only unlinks its own socket file. */
static void test_socket_path_rules(void **state)
{
	qm_error err = QM_ERROR_INIT;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	agent_loop *loop = agent_loop_new(NULL);
	char dir[128], addr[200], *path = addr + 5;
	rpc_server *a, *b;
	struct stat st;
	int fd;

	temp_dir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/s", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	a = rpc_server_new(loop, NULL, 0, NULL, NULL, &err);
	assert_false(rpc_server_listen(a, addr, &err));
	assert_int_equal(err.code, QM_ERR_STATE);
	assert_non_null(strstr(err.msg, "exists and is not a socket"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(unlink(path), 0);

	/* A stale socket: bound, then its owner went away. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	qm_error_clear(&err);
	assert_true(rpc_server_listen(a, addr, &err));

	/* A second server on a live socket is refused. */
	b = rpc_server_new(loop, NULL, 0, NULL, NULL, &err);
	assert_false(rpc_server_listen(b, addr, &err));
	assert_int_equal(err.code, QM_ERR_STATE);
	assert_non_null(strstr(err.msg, "in use by a running server"));
	rpc_server_free(b);
	assert_int_equal(lstat(path, &st), 0);

	/* Someone replaced the socket file: it is not ours to remove. */
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	rpc_server_free(a);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	agent_loop_free(loop);
}

/* Beyond max_conns a connection gets one error line and is closed; the
 * others go on. */
static void test_max_conns(void **state)
{
	qm_error err = QM_ERROR_INIT;
	rpc_client *c1, *c2, *c3;
	rpc_config cfg;
	th_server t;
	json_object *r;

	th_config(&cfg);
	cfg.max_conns = 2;
	th_start(&t, &cfg, false);
	c1 = th_connect(t.unix_addr);
	c2 = th_connect(t.unix_addr);
	r = th_call(c2, "test.count", NULL);    /* both accepted by now */
	json_object_put(r);
	c3 = th_connect(t.unix_addr);
	r = rpc_client_read(c3, TH_TIMEOUT_MS, &err);
	th_assert_error(r, RPC_ERR_TOO_BIG, "null",
			"too many connections: limit 2");
	json_object_put(r);
	th_assert_closed(c3);
	r = th_call(c1, "test.count", NULL);
	json_object_put(r);
	assert_int_equal(th_stat(c1, "refused"), 1);
	rpc_client_free(c1);
	rpc_client_free(c2);
	rpc_client_free(c3);
	th_stop(&t);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		CASE("/rpc/auth/tcp-needs-login", test_tcp_needs_login),
		CASE("/rpc/auth/wrong-token", test_wrong_token),
		CASE("/rpc/auth/login-replay", test_login_replay),
		CASE("/rpc/auth/proof-binds-everything",
		     test_proof_binds_everything),
		CASE("/rpc/auth/right-token-and-unix",
		     test_right_token_and_unix),
		CASE("/rpc/auth/login-timeout", test_login_timeout),
		CASE("/rpc/auth/config-checks", test_config_checks),
		CASE("/rpc/sock/mode", test_socket_mode),
		CASE("/rpc/sock/path-rules", test_socket_path_rules),
		CASE("/rpc/sock/max-conns", test_max_conns),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("rpc-auth", tests, NULL, NULL);
}
