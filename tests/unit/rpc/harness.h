/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test harness for the rpc unit tests: a server with a table of test
 * methods, run by its own agent_loop in a thread of the test, listening on
 * a unix socket in a fresh temporary directory and (optionally) on
 * loopback TCP with TH_TOKEN. The test's own thread drives clients
 * (rpc_client, blocking) against it.
 *
 * Everything the handlers touch lives in th_ctx and is only touched from
 * the loop thread; tests read it through the "test.*" methods (a call's
 * answer orders it after everything the connection sent before).
 *
 * Test methods:
 *   test.echo {any}           -> params
 *   test.add {a, b}           -> {"sum": a + b}
 *   test.types {s, i, b, d, o, a}  every getter once, i in 0..100
 *   test.bump                 counts calls; send it as a notification
 *   test.count                -> {"count": test.bump calls so far}
 *   test.fail                 QM_ERR_NOTFOUND "vm 'ghost' not found"
 *   test.busy                 rpc_error_set(RPC_ERR_VM_BUSY, ...)
 *   test.null                 returns neither result nor error
 *   test.notify {topic, count, size}  count notifications "test.event"
 *                             {"seq": i, "pad": size bytes}
 *   test.defer {ms, fail?}    answered after ms (ms < 0: on test.release)
 *   test.release              answers every held call -> {"released": n}
 *   test.defer_now            defers, then completes inside the handler
 *   test.stats                -> rpc_server_get_stats() as an object
 *   test.public               callable before rpc.login -> {}
 *   test.peer                 -> {"peer": rpc_call_peer(), "uid", "conn"}
 */
#ifndef QMIG_TEST_RPC_HARNESS_H
#define QMIG_TEST_RPC_HARNESS_H

#include <pthread.h>
#include <stdbool.h>

#include "tests/qmig_test.h"
#include "agent/rpc.h"

#define TH_TOKEN	"0123456789abcdef0123456789abcdef"
#define TH_TIMEOUT_MS	5000
#define TH_MAX_DEFER	128

struct th_defer {
	rpc_call *call;
	agent_loop_timer *timer;
	bool fail;
	struct th_ctx *ctx;
};

struct th_ctx {
	rpc_server *srv;
	agent_loop *loop;
	int bumps;
	struct th_defer defer[TH_MAX_DEFER];
};

typedef struct th_server {
	agent_loop *loop;
	rpc_server *srv;
	pthread_t thread;
	struct th_ctx ctx;
	char dir[128];
	char unix_addr[RPC_ADDR_MAX];
	char tcp_addr[RPC_ADDR_MAX];
} th_server;

/* The test configuration: rpc_config_init() + TH_TOKEN. */
void th_config(rpc_config *cfg);
/* Start a server with @cfg (NULL: th_config()), listening on unix and,
 * if @tcp, on tcp:127.0.0.1:0. */
void th_start(th_server *t, const rpc_config *cfg, bool tcp);
/* Stop the loop thread, free the server, answer calls still held. */
void th_stop(th_server *t);

rpc_client *th_connect(const char *addr);
/* Call @method with @params (JSON text or NULL); assert success and
 * return the result (caller puts it). */
json_object *th_call(rpc_client *cl, const char *method, const char *params);
/* Call and assert an error with JSON-RPC code @code whose message
 * contains @substr (if non-NULL). */
void th_call_err(rpc_client *cl, const char *method, const char *params,
		 int code, const char *substr);
/* Send @line (a newline is added) and return the next message read. */
json_object *th_raw(rpc_client *cl, const char *line);
/* Assert @resp is an error response with @code and id @id_json (JSON
 * text, e.g. "null", "7", "\"a\""); its data.message contains @substr. */
void th_assert_error(json_object *resp, int code, const char *id_json,
		     const char *substr);
/* Assert nothing arrives within @ms. */
void th_assert_silent(rpc_client *cl, int ms);
/* Assert the server closes the connection within TH_TIMEOUT_MS (after
 * whatever it still sends, which is discarded). */
void th_assert_closed(rpc_client *cl);
/* Integer member @key of the object @o. */
int64_t th_int(json_object *o, const char *key);
/* Stats through test.stats. */
int64_t th_stat(rpc_client *cl, const char *name);

#endif
