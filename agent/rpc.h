/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc: qmigd's JSON-RPC 2.0 server, and a small blocking client for
 * qmigctl and the tests. docs/API.md describes the protocol for clients;
 * this header is the contract for the code on both ends.
 *
 * Transport: newline-delimited JSON (one JSON value per line) over a unix
 * stream socket ("unix:/run/qmig/qmigd.sock") or TCP
 * ("tcp:127.0.0.1:7000", "tcp:[::1]:7000").
 *  - unix: the socket file is created with mode 0600 (or 0660,
 *    rpc_config.unix_mode) before the server listens; its permissions are
 *    the access check, so unix connections are trusted. The peer's uid and
 *    pid (SO_PEERCRED) are recorded for the logs. A stale socket left by a
 *    dead server is replaced; a live one, or a path that is not a socket,
 *    is refused.
 *  - tcp: needs a token (rpc_config.token). Every method except
 *    rpc.challenge and rpc.login answers RPC_ERR_UNAUTHORIZED until the
 *    connection proved it holds the token: rpc.challenge gives a fresh
 *    server nonce, rpc.login {client_nonce, proof} answers it with an
 *    HMAC-SHA256 keyed by the token, and the result carries the server's
 *    own proof (agent/rpc-auth.c). The token never crosses the network
 *    and a captured login cannot be replayed.
 *
 * Shape (libuv): the server registers its listeners and connections on the
 * caller's agent_loop (agent/loop.h) and does all its work from loop
 * callbacks, so the same loop also serves QMP connections, transport
 * completions and timers:
 *
 *   agent_loop_new() -> rpc_server_new(loop, methods, ...)
 *                    -> rpc_server_listen(srv, "unix:...")  (any number)
 *                    -> agent_loop_run(loop)   handlers run from here
 *
 *   client line ──▶ framing (limit, one value per line) ──▶ parse (depth)
 *      ──▶ request checks ──▶ rate limit ──▶ auth ──▶ method lookup
 *      ──▶ params checks ──▶ handler ──▶ result | error | deferred
 *      ──▶ response line (batches: one array line, when all are done)
 *
 * Handlers never block: they run on the loop thread and everything else
 * (every other client, every migration) waits while one runs. Work that
 * takes time is started by the handler and finished later from a loop
 * callback, with rpc_call_defer() + rpc_call_complete() / rpc_call_fail().
 *
 * Errors: a handler returns NULL with *err set; the error's qm_errcode
 * picks the JSON-RPC code (rpc_code_from_qm()), or the handler picks one
 * itself with rpc_error_set(). Every error response carries
 * "data": {"code": "<qm_errcode name>", "message": "<details>"}.
 *
 * Threads: a server, its calls and its connections belong to the loop's
 * thread. A client belongs to one thread at a time.
 */
#ifndef QMIG_AGENT_RPC_H
#define QMIG_AGENT_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "agent/loop.h"
#include "common/common.h"

/* ---- limits and defaults (rpc_config_init()) ---- */

#define RPC_DEFAULT_MAX_REQUEST	(1u << 20)  /* bytes in one line */
#define RPC_DEFAULT_MAX_DEPTH	32          /* array/object nesting */
#define RPC_DEFAULT_MAX_BATCH	64          /* requests in one batch */
#define RPC_DEFAULT_MAX_OUTPUT	(4u << 20)  /* unsent bytes per conn */
#define RPC_DEFAULT_RATE	200.0       /* requests/s per conn */
#define RPC_DEFAULT_BURST	400.0
#define RPC_DEFAULT_LOGIN_RATE	1.0         /* rpc.login attempts/s */
#define RPC_DEFAULT_LOGIN_BURST	3.0
#define RPC_DEFAULT_MAX_CONNS	64
#define RPC_DEFAULT_MAX_DEFERRED 64         /* deferred calls per conn */
#define RPC_DEFAULT_LOGIN_TIMEOUT_MS 10000  /* TCP conns must log in */
#define RPC_DEFAULT_UNIX_MODE	0600
/* Lingering close: after a fatal error response the server stops
 * processing input, sends its last bytes and a FIN, then discards input
 * until EOF or this long, so the client can read the error (closing with
 * unread input makes TCP send a reset that may destroy it). */
#define RPC_LINGER_MS		2000

#define RPC_MAX_LISTENERS	4
#define RPC_TOPIC_MAX		32  /* bytes of a topic name, with the NUL */
#define RPC_MAX_TOPICS		16  /* subscriptions per connection */
#define RPC_TOKEN_MIN		16  /* bytes */
#define RPC_TOKEN_MAX		256
#define RPC_AUTH_HEX		64  /* hex of a nonce or an HMAC-SHA256 */
#define RPC_AUTH_NONCE_MIN_HEX	32  /* a client nonce: 16..64 bytes, hex */
#define RPC_AUTH_NONCE_MAX_HEX	128
#define RPC_METHOD_NAME_MAX	64  /* method names in tables */
#define RPC_PEER_MAX		96  /* "unix uid 1000 pid 4242" etc. */
#define RPC_ADDR_MAX		160 /* "unix:PATH" or "tcp:HOST:PORT" */

#define RPC_CLIENT_MAX_LINE	(64u << 20) /* responses the client takes */
#define RPC_CLIENT_QUEUE_MAX	1024        /* queued notifications */
#define RPC_CLIENT_MAX_DEPTH	1024        /* nesting the client takes */

/* ---- error codes ----
 * JSON-RPC 2.0's own codes, then qmig's application codes (-32000 to
 * -32099, the spec's "server error" range). Numbers are stable.
 */
typedef enum rpc_errcode {
	RPC_ERR_PARSE = -32700,            /* not JSON; id is null */
	RPC_ERR_INVALID_REQUEST = -32600,  /* JSON, not a valid request */
	RPC_ERR_METHOD_NOT_FOUND = -32601,
	RPC_ERR_INVALID_PARAMS = -32602,
	RPC_ERR_INTERNAL = -32603,

	RPC_ERR_VM_NOT_FOUND = -32001,
	RPC_ERR_VM_BUSY = -32002,          /* the VM is migrating */
	RPC_ERR_MIGRATION_NOT_FOUND = -32003,
	RPC_ERR_UNSUPPORTED = -32004,      /* host, QEMU or config lacks it */
	RPC_ERR_NOT_ALLOWED = -32005,      /* not in the current state */
	RPC_ERR_UNAUTHORIZED = -32006,     /* rpc.login missing or failed */
	RPC_ERR_RATE_LIMITED = -32007,     /* request rate over the limit */
	RPC_ERR_TOO_BIG = -32008,          /* a value over a named limit */
	RPC_ERR_TIMEOUT = -32009,          /* a deadline passed */
	RPC_ERR_PEER = -32010,             /* peer agent or transport failed */
	RPC_ERR_QEMU = -32011,             /* QEMU answered with an error */
	RPC_ERR_CANCELLED = -32012,
	RPC_ERR_SYSTEM = -32013,           /* a system call failed here */
} rpc_errcode;

/* Number of codes above (a test asserts it, so adding one forces a look
 * at the mapping tables and docs/API.md). */
#define RPC_ERR__COUNT		18

/* rpc_code_message - the short "message" member for @code ("Parse error",
 * "VM not found", ...); "Server error" for codes qmig does not define. */
const char *rpc_code_message(int code);
/* rpc_code_from_qm - the JSON-RPC code for an error of class @c:
 * INVAL -> INVALID_PARAMS, NOTFOUND -> VM_NOT_FOUND, STATE -> NOT_ALLOWED,
 * UNSUPPORTED, TOO_BIG, TIMEOUT, CANCELLED -> themselves, QMP -> QEMU,
 * PROTO/CLOSED -> PEER, IO -> SYSTEM, NOMEM and others -> INTERNAL. */
int rpc_code_from_qm(qm_errcode c);
/* rpc_code_to_qm - the qm_errcode named in "data.code" when code @code is
 * chosen explicitly (rpc_error_set()). */
qm_errcode rpc_code_to_qm(int code);
/* rpc_qm_code_from_name - inverse of qm_errcode_name(); QM_ERR__COUNT if
 * @name is not one. */
qm_errcode rpc_qm_code_from_name(const char *name);

/* ---- addresses ---- */

typedef enum rpc_transport {
	RPC_TRANSPORT_NONE = 0,
	RPC_TRANSPORT_UNIX,
	RPC_TRANSPORT_TCP,
	RPC_TRANSPORT_MEMORY,   /* rpc_conn_new_memory(), tests and fuzzing */
} rpc_transport;

typedef struct rpc_addr {
	rpc_transport kind;     /* UNIX or TCP */
	char path[108];         /* UNIX: sockaddr_un.sun_path */
	char host[64];          /* TCP: numeric or a name, no brackets */
	uint16_t port;          /* TCP; 0 = any (listen only) */
} rpc_addr;

/*
 * rpc_addr_parse - parse "unix:PATH" or "tcp:HOST:PORT" ("tcp:[V6]:PORT").
 * Returns: true, or false with QM_ERR_INVAL naming what is wrong.
 */
bool rpc_addr_parse(const char *s, rpc_addr *out, qm_error *err);

/* ---- the server ---- */

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;
typedef struct rpc_conn rpc_conn;

/*
 * rpc_handler_fn - a method.
 * @ctx: rpc_server_new()'s @ctx (the agent).
 * @params: the request's "params", an object (an empty one when the
 *          request had none); borrowed, valid until the call is answered
 *          (so also while it is deferred).
 * @err: where to put the error (the call's own; rpc_error_set() and the
 *       rpc_param_*() getters fill the same one).
 * Returns: the result (ownership passes to the server), or NULL with *err
 * set, or NULL after rpc_call_defer(). A result together with an error is
 * answered with the error.
 */
typedef json_object *(*rpc_handler_fn)(void *ctx, rpc_call *call,
				       json_object *params, qm_error *err);

/* Flags of a method. */
#define RPC_METHOD_NOAUTH	(1u << 0)  /* callable before rpc.login */

typedef struct rpc_method {
	const char *name;
	rpc_handler_fn handler;
	/*
	 * Members @params may have (NULL-terminated): any other member is
	 * answered with RPC_ERR_INVALID_PARAMS "unknown member 'x'" before
	 * the handler runs, so a misspelt option never goes unnoticed.
	 * NULL: no check (the handler looks at params itself).
	 */
	const char *const *params;
	unsigned flags;
} rpc_method;

typedef struct rpc_config {
	size_t max_request_bytes;  /* one line, without its newline */
	int max_depth;             /* nesting; the request object is 1 */
	size_t max_batch;
	size_t max_output_bytes;   /* unsent output; beyond: drop the conn */
	double rate_per_s;         /* per connection; 0 = no limit */
	double rate_burst;
	double login_rate_per_s;   /* rpc.login attempts per connection */
	double login_burst;
	unsigned max_conns;
	unsigned max_deferred;     /* deferred calls per connection */
	int login_timeout_ms;      /* 0 = none */
	unsigned unix_mode;        /* 0600 or 0660 */
	/* Shared secret for TCP clients (copied; RPC_TOKEN_MIN to
	 * RPC_TOKEN_MAX bytes). NULL: TCP listeners are refused. */
	const char *token;
	/* Topics rpc.subscribe accepts (NULL-terminated, borrowed for the
	 * server's life). NULL: any well-formed topic name. */
	const char *const *topics;
} rpc_config;

/* rpc_config_init - the defaults above, no token, no topic list. */
void rpc_config_init(rpc_config *cfg);

/*
 * rpc_server_new - create a server that will run on @loop.
 * @methods: @n entries, borrowed for the server's life (a static table).
 *           Names must be unique, at most RPC_METHOD_NAME_MAX - 1 bytes,
 *           and must not start with "rpc." (reserved by JSON-RPC for the
 *           server's own methods: rpc.login, rpc.subscribe,
 *           rpc.unsubscribe).
 * @ctx: passed to every handler.
 * @cfg: NULL for the defaults; copied.
 * Returns: the server, or NULL with QM_ERR_INVAL (bad table or config,
 * naming the entry or field) or QM_ERR_NOMEM.
 */
rpc_server *rpc_server_new(agent_loop *loop, const rpc_method *methods,
			   size_t n, void *ctx, const rpc_config *cfg,
			   qm_error *err);

/*
 * rpc_server_free - close every connection and listener, unlink the unix
 * sockets this server created (if they are still its own) and free.
 * Deferred calls stay valid until completed; their answers are dropped.
 * Memory connections are closed; their owners still rpc_conn_free() them.
 * Not from a loop callback of this server. NULL is a no-op.
 */
void rpc_server_free(rpc_server *srv);

/*
 * rpc_server_listen - accept connections on @addr (see rpc_addr_parse();
 * "tcp:127.0.0.1:0" picks a free port, see rpc_server_listen_addr()).
 * Returns: true, or false with QM_ERR_INVAL (bad address; TCP without a
 * token), QM_ERR_STATE (unix path in use by a live server, or not a
 * socket), QM_ERR_TOO_BIG (RPC_MAX_LISTENERS), QM_ERR_IO.
 */
bool rpc_server_listen(rpc_server *srv, const char *addr, qm_error *err);

/* rpc_server_listen_addr - listener @i's address as "unix:PATH" or
 * "tcp:HOST:PORT" with the real port. Returns false if there is no
 * listener @i or @len is too small. */
bool rpc_server_listen_addr(const rpc_server *srv, size_t i, char *buf,
			    size_t len);

/*
 * rpc_server_notify - send the notification
 * {"jsonrpc": "2.0", "method": @method, "params": @params} to every
 * connection subscribed to @topic. @params: an object or NULL; ownership
 * taken in all cases. A connection whose unsent output would exceed
 * max_output_bytes is dropped (logged); the others are unaffected.
 * Returns: the number of connections it was queued for, or -1 with
 * QM_ERR_INVAL (bad topic, method or params) or QM_ERR_NOMEM.
 */
int rpc_server_notify(rpc_server *srv, const char *topic, const char *method,
		      json_object *params, qm_error *err);

typedef struct rpc_server_stats {
	uint64_t accepted;       /* connections */
	uint64_t refused;        /* over max_conns */
	uint64_t dropped;        /* slow readers */
	uint64_t requests;       /* calls and notifications, batch elements
				  * counted one by one */
	uint64_t errors;         /* error responses */
	uint64_t rate_limited;
	uint64_t login_failures;
	uint64_t notifications;  /* queued, per connection */
	unsigned conns;          /* open now */
} rpc_server_stats;

void rpc_server_get_stats(const rpc_server *srv, rpc_server_stats *out);

/* ---- calls: for handlers ---- */

const char *rpc_call_method(const rpc_call *call);
/* True if the request had no id: whatever the handler returns is
 * dropped (it still runs). */
bool rpc_call_is_notification(const rpc_call *call);
/* "unix uid 1000 pid 4242", "tcp 127.0.0.1:43210"; "gone" once the
 * connection closed. For logs. */
const char *rpc_call_peer(const rpc_call *call);
/* Connection number (as in the server's log lines); 0 once gone. */
uint64_t rpc_call_conn_id(const rpc_call *call);
/* The peer's uid on unix sockets, (uid_t)-1 otherwise. */
uid_t rpc_call_peer_uid(const rpc_call *call);

/*
 * rpc_call_defer - answer later. The handler returns NULL; the call and
 * its params stay valid until rpc_call_complete() or rpc_call_fail(),
 * which the owner must call exactly once, from the loop thread, even if
 * the connection closed meanwhile (the answer is then dropped) and even
 * after rpc_server_free().
 * Returns: true, or false with QM_ERR_TOO_BIG when the connection already
 * has max_deferred calls pending (the handler then returns NULL and the
 * client gets that error).
 */
bool rpc_call_defer(rpc_call *call, qm_error *err);
/* Answer a deferred call with @result (ownership taken; NULL is JSON
 * null) and free it. */
void rpc_call_complete(rpc_call *call, json_object *result);
/* Answer a deferred call with @err (code @code, or 0 for
 * rpc_code_from_qm(err->code)) and free it. */
void rpc_call_fail(rpc_call *call, int code, const qm_error *err);
/* True once the connection of a deferred call is gone: its answer will
 * be dropped, work for it may stop early (it must still be completed). */
bool rpc_call_abandoned(const rpc_call *call);

/*
 * rpc_error_set - fail the call with JSON-RPC code @code and a message
 * (first error wins, as with qm_error_set()). "data.code" is
 * rpc_code_to_qm(@code). Returns NULL, so a handler can
 * `return rpc_error_set(call, RPC_ERR_VM_BUSY, "vm '%s' is migrating", n);`
 */
json_object *rpc_error_set(rpc_call *call, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Typed params getters. Each looks up member @name of @params:
 *  - present with the right type: *out is set, returns true;
 *  - absent and optional: *out is left alone (preset the default),
 *    returns true;
 *  - absent and @required, or of another type: the call fails with
 *    RPC_ERR_INVALID_PARAMS "params: member 'vm' is an integer, expected
 *    a string" (or "... is required (a string)"), returns false.
 * Strings are borrowed from @params and never contain a NUL byte.
 * Integers must be JSON integers within [@min, @max] (the message gives
 * both the value and the range); json-c clamps integers beyond 64 bits to
 * the nearest 64-bit value, which the range then usually refuses. Doubles
 * accept integers too and must be finite.
 */
bool rpc_param_string(json_object *params, const char *name, bool required,
		      const char **out, rpc_call *call);
bool rpc_param_int64(json_object *params, const char *name, bool required,
		     int64_t min, int64_t max, int64_t *out, rpc_call *call);
bool rpc_param_bool(json_object *params, const char *name, bool required,
		    bool *out, rpc_call *call);
bool rpc_param_double(json_object *params, const char *name, bool required,
		      double *out, rpc_call *call);
bool rpc_param_object(json_object *params, const char *name, bool required,
		      json_object **out, rpc_call *call);
bool rpc_param_array(json_object *params, const char *name, bool required,
		     json_object **out, rpc_call *call);

/* ---- the blocking client (qmigctl, tests) ---- */

typedef struct rpc_client rpc_client;

/*
 * rpc_client_connect - connect to a server at @addr within @timeout_ms.
 * Returns: the client (free with rpc_client_free()), or NULL with
 * QM_ERR_INVAL, QM_ERR_IO, QM_ERR_TIMEOUT, QM_ERR_NOTFOUND (name does not
 * resolve), QM_ERR_NOMEM.
 */
rpc_client *rpc_client_connect(const char *addr, int timeout_ms,
			       qm_error *err);
void rpc_client_free(rpc_client *cl);
int rpc_client_fd(const rpc_client *cl);

/*
 * rpc_client_call - call @method with @params (ownership taken in all
 * cases; an object or NULL) and wait up to @timeout_ms (-1: forever) for
 * its response. Notifications that arrive meanwhile are queued for
 * rpc_client_next_notification(); responses to earlier calls that timed
 * out are dropped.
 * Returns: the result (caller owns it), or NULL with *err set:
 *  - the server answered with an error: err->subclass is the JSON-RPC
 *    code, err->code the qm_errcode named by data.code (QM_ERR_PROTO if
 *    absent or unknown), err->msg "METHOD: <data.message or message>";
 *  - QM_ERR_TIMEOUT, QM_ERR_CLOSED, QM_ERR_IO, QM_ERR_TOO_BIG, or
 *    QM_ERR_PROTO (not a JSON-RPC response, or a JSON null result: qmig's
 *    methods return objects; use rpc_client_call_ok() when the result
 *    does not matter, as qmp_call() does).
 */
json_object *rpc_client_call(rpc_client *cl, const char *method,
			     json_object *params, int timeout_ms,
			     qm_error *err);
/* rpc_client_call for methods whose result does not matter (any result,
 * null included, is success). */
bool rpc_client_call_ok(rpc_client *cl, const char *method,
			json_object *params, int timeout_ms, qm_error *err);
/* The login handshake's pieces (agent/rpc-auth.c), shared by both ends:
 * a fresh random nonce; the proof HMAC-SHA256(token, "qmig rpc login
 * v1\n" first "\n" second) (@server: "qmig rpc server v1"), in hex; a
 * constant-time comparison; whether @n is an acceptable client nonce. */
bool rpc_auth_nonce(char out[RPC_AUTH_HEX + 1], qm_error *err);
bool rpc_auth_proof(const char *token, bool server, const char *first,
		    const char *second, char out[RPC_AUTH_HEX + 1],
		    qm_error *err);
bool rpc_auth_equal(const char *a, const char *b);
bool rpc_auth_nonce_ok(const char *n);
/* rpc.challenge + rpc.login with @token, and check the server's proof:
 * false with RPC_ERR_UNAUTHORIZED (wrong token), RPC_ERR_RATE_LIMITED, or
 * QM_ERR_PROTO if the server could not prove it holds the token. */
bool rpc_client_login(rpc_client *cl, const char *token, int timeout_ms,
		      qm_error *err);
/* rpc.subscribe to @n @topics. */
bool rpc_client_subscribe(rpc_client *cl, const char *const *topics,
			  size_t n, int timeout_ms, qm_error *err);
/* Send a notification (no id, no response). @params: ownership taken. */
bool rpc_client_notify(rpc_client *cl, const char *method,
		       json_object *params, qm_error *err);

/*
 * rpc_client_next_notification - the oldest queued notification, or the
 * next one to arrive within @timeout_ms (0: only what is queued or
 * readable now). Returns the whole message {"jsonrpc", "method",
 * "params"} (caller owns it), or NULL with QM_ERR_TIMEOUT, QM_ERR_CLOSED,
 * ... . Responses read meanwhile are dropped. Notifications beyond
 * RPC_CLIENT_QUEUE_MAX while nobody reads them drop the oldest
 * (rpc_client_dropped()).
 */
json_object *rpc_client_next_notification(rpc_client *cl, int timeout_ms,
					  qm_error *err);
uint64_t rpc_client_dropped(const rpc_client *cl);

/* Raw access, for tests: send bytes as they are; read the next line's
 * JSON value, whatever it is (queued notifications come first). A line
 * that is not JSON is QM_ERR_PROTO; EOF is QM_ERR_CLOSED. */
bool rpc_client_send_raw(rpc_client *cl, const void *buf, size_t len,
			 int timeout_ms, qm_error *err);
json_object *rpc_client_read(rpc_client *cl, int timeout_ms, qm_error *err);

/* ======================================================================
 * Internals shared by agent/rpc*.c, the unit tests and the fuzz target.
 * Not for handlers or qmigd.
 * ======================================================================
 *
 *   rpc.c         server, listeners, connections, I/O, notify
 *   rpc-addr.c    addresses, listening sockets, client connect, peers
 *   rpc-lines.c   line framing, token buckets
 *   rpc-proto.c   parse, validate, dispatch, batches, rpc.* methods
 *   rpc-call.c    calls, responses, error codes, params getters
 *   rpc-client.c  the blocking client
 */

/* Bytes read per recv(2). */
#define RPC_READ_CHUNK		65536
/* Reads per wake-up per connection, so one busy client cannot starve the
 * others (level-triggered: the rest is read on the next iteration). */
#define RPC_READS_PER_WAKE	16
/* Output is queued in chunks of this size, freed as they are sent: a
 * burst does not leave its peak allocated on an idle connection, and
 * nothing is moved or reallocated while a slow client drains. */
#define RPC_OUT_CHUNK		(16u << 10)
/* Chunks handed to one sendmsg(2). */
#define RPC_OUT_IOV		16

struct rpc_chunk {
	struct rpc_chunk *next;
	size_t head, tail;          /* sent up to head, filled up to tail */
	char data[RPC_OUT_CHUNK];
};

/* Line framing: bytes of an unfinished line are kept until its newline. */
typedef struct rpc_lines {
	char *buf;
	size_t len, cap;
	size_t max;          /* longest line, without its newline */
} rpc_lines;

/* rpc_line_fn - one complete line, *with* its '\n' (@len counts it);
 * return false to stop feeding. */
typedef bool (*rpc_line_fn)(void *opaque, const char *line, size_t len);

void rpc_lines_init(rpc_lines *lb, size_t max);
void rpc_lines_destroy(rpc_lines *lb);
/*
 * rpc_lines_feed - cut @len bytes into lines, calling @fn for each one
 * they complete. Lines inside @buf are passed without copying.
 * Returns: true when every byte was consumed; false when @fn returned
 * false (err untouched), or with QM_ERR_TOO_BIG as soon as a line passes
 * @max bytes without a newline, or QM_ERR_NOMEM.
 */
bool rpc_lines_feed(rpc_lines *lb, const char *buf, size_t len,
		    rpc_line_fn fn, void *opaque, qm_error *err);

/* Token bucket: @rate tokens/s up to @burst; rate 0 = unlimited. */
typedef struct rpc_bucket {
	double rate, burst, tokens;
	int64_t last_ns;
} rpc_bucket;

void rpc_bucket_init(rpc_bucket *b, double rate, double burst,
		     int64_t now_ns);
/* Take one token if there is one. */
bool rpc_bucket_take(rpc_bucket *b, int64_t now_ns);

/* A batch whose answer waits for deferred calls. */
struct rpc_batch {
	rpc_conn *conn;             /* NULL once the connection is gone */
	json_object *resps;         /* array of responses so far */
	size_t pending;             /* calls not answered, + 1 while parsing */
};

typedef enum rpc_call_state {
	RPC_CALL_RUNNING = 0,       /* handler on the stack */
	RPC_CALL_DEFERRED,          /* waiting for complete/fail */
	RPC_CALL_DONE,              /* answered from inside the handler */
} rpc_call_state;

struct rpc_call {
	rpc_conn *conn;             /* NULL once the connection is gone */
	struct rpc_batch *batch;    /* NULL for a single request */
	struct rpc_call *prev, *next; /* conn's deferred calls */
	json_object *req;           /* the request (ref held) */
	json_object *id;            /* borrowed from req; NULL: JSON null */
	bool notification;          /* the request had no id */
	bool in_handler;            /* the handler is on the stack */
	json_object *params;        /* ref held */
	json_object *result;        /* RPC_CALL_DONE with success */
	const char *method;         /* borrowed from req */
	rpc_call_state state;
	int code;                   /* explicit JSON-RPC code, 0 = mapped */
	qm_error err;
	int64_t start_ns;
};

struct rpc_conn {
	rpc_server *srv;
	struct rpc_conn *prev, *next;  /* srv->conns */
	uint64_t id;
	int fd;                     /* -1: memory connection or closed */
	rpc_transport kind;
	unsigned refs;              /* life + owner + stack frames */
	bool closed;                /* gone from the server */
	bool closing;               /* lingering: last output, then close */
	bool authed;
	bool peer_eof;
	uint32_t events;            /* epoll interest registered */
	uid_t uid;                  /* SO_PEERCRED; (uid_t)-1 if none */
	char peer[RPC_PEER_MAX];
	rpc_lines in;
	struct rpc_chunk *out_first, *out_last;  /* unsent output */
	size_t out_bytes;
	rpc_bucket rate, login;
	char topics[RPC_MAX_TOPICS][RPC_TOPIC_MAX];
	unsigned ntopics;
	struct rpc_call *deferred;  /* list of deferred calls */
	unsigned ndeferred;
	unsigned login_failures;
	char challenge[RPC_AUTH_HEX + 1]; /* rpc.challenge's nonce; "" = none
					   * outstanding (used up by a login) */
	agent_loop_timer *timer;    /* login timeout, then linger */
};

struct rpc_listener {
	rpc_server *srv;
	int fd;                     /* -1: slot unused */
	rpc_transport kind;
	char addr[RPC_ADDR_MAX];    /* as rpc_server_listen_addr() gives */
	char path[108];             /* UNIX: to unlink on free */
	dev_t dev;                  /* UNIX: the socket file we made */
	ino_t ino;
};

struct rpc_server {
	agent_loop *loop;
	const rpc_method *methods;
	size_t nmethods;
	void *ctx;
	rpc_config cfg;             /* cfg.token points to token[] */
	char token[RPC_TOKEN_MAX + 1];
	size_t token_len;
	struct json_tokener *tok;   /* shared: one line is parsed at a time */
	char *rbuf;                 /* RPC_READ_CHUNK */
	struct rpc_listener ls[RPC_MAX_LISTENERS];
	agent_loop_timer *accept_pause; /* out of fds: retry later */
	rpc_conn *conns;
	uint64_t next_conn_id;
	rpc_server_stats stats;
};

/* ---- rpc.c ---- */
/* Queue one JSON value as a line (ownership of @msg taken). Drops the
 * connection if max_output_bytes would be exceeded. Returns false if the
 * connection is closed or closing afterwards. */
bool rpc__conn_send(rpc_conn *conn, json_object *msg);
/* Write what the socket takes and update the epoll interest. */
void rpc__conn_flush(rpc_conn *conn);
/* Close now (logged with @why). The struct lives on while referenced. */
void rpc__conn_close(rpc_conn *conn, const char *why);
/* Send what is queued, then close (lingering, see RPC_LINGER_MS). */
void rpc__conn_close_after_flush(rpc_conn *conn, const char *why);
void rpc__conn_get(rpc_conn *conn);
void rpc__conn_put(rpc_conn *conn);
/* Stop the login timer: the connection logged in. */
void rpc__conn_authed(rpc_conn *conn);

/*
 * rpc_conn_new_memory - a connection with no socket, for the fuzz target
 * and the tests: input comes from rpc_conn_feed(), output stays queued
 * (rpc_conn_take_output()). @kind: TCP (must log in) or UNIX (trusted).
 * The caller owns it: rpc_conn_free().
 */
rpc_conn *rpc_conn_new_memory(rpc_server *srv, rpc_transport kind,
			      qm_error *err);
/* Feed bytes as if read from the socket. Returns false once the
 * connection is closed or closing (nothing more is processed). */
bool rpc_conn_feed(rpc_conn *conn, const void *buf, size_t len);
/* All output queued so far, NUL-terminated (caller frees it), and its
 * length in *len; the queue is emptied. NULL if out of memory. */
char *rpc_conn_take_output(rpc_conn *conn, size_t *len);
bool rpc_conn_is_open(const rpc_conn *conn);
void rpc_conn_free(rpc_conn *conn);

/* ---- rpc-addr.c ---- */
/* Listening socket for @a (unix: stale-socket handling and mode as
 * documented above). Fills l->fd, addr, path, dev, ino. */
bool rpc__listen_unix(struct rpc_listener *l, const rpc_addr *a,
		      unsigned mode, qm_error *err);
bool rpc__listen_tcp(struct rpc_listener *l, const rpc_addr *a,
		     qm_error *err);
/* Describe an accepted socket into conn->peer and conn->uid. */
void rpc__describe_peer(rpc_conn *conn);
/* Connected, non-blocking socket to @a within @timeout_ms, or -1. */
int rpc__connect(const rpc_addr *a, const char *addr, int timeout_ms,
		 qm_error *err);

/* ---- rpc-proto.c ---- */
/* rpc_line_fn of a connection: parse, dispatch, answer one line. */
bool rpc__conn_line(void *opaque, const char *line, size_t len);
/* The error response for a fatal framing error (e.g. oversized line). */
json_object *rpc__framing_error(rpc_conn *conn, const qm_error *err);

/* ---- rpc-call.c ---- */
/* @params: reference taken over (put on failure). NULL: no memory. */
rpc_call *rpc__call_new(rpc_conn *conn, struct rpc_batch *batch,
			json_object *req, json_object *id, bool notification,
			const char *method, json_object *params);
/* After the handler returned @result: the response (NULL for
 * notifications and deferred calls); frees the call unless deferred. */
json_object *rpc__call_finish(rpc_call *call, json_object *result);
/* The error response {"jsonrpc", "error": {code, message, data}, "id"}.
 * @id: borrowed (a new reference is taken); NULL -> JSON null. */
json_object *rpc__error_response(json_object *id, int code, qm_errcode qc,
				 const char *msg);
/* The connection is going away: detach its deferred calls. */
void rpc__conn_detach_calls(rpc_conn *conn);
/* Release a batch hold, sending its array when the last one goes. */
void rpc__batch_release(struct rpc_batch *b);
/* "an integer", "a string", ... for messages. */
const char *rpc__type_name(json_type t);

#endif /* QMIG_AGENT_RPC_H */
