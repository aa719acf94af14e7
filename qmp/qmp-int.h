/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp internals shared by the files of qmp/ (not part of the contract;
 * tests may include it to look inside).
 *
 *   sock.c      addresses, connecting with a timeout, SO_PEERCRED
 *   conn.c      the object, buffers, qmp_process(), dying
 *   session.c   greeting, commands and their ids, replies, events
 *   stream.c    JSON framing
 *   parse.c     pure parsers of results, enum tables
 *   call.c      blocking wrappers (poll loops)
 *   commands.c  typed helpers
 */
#ifndef QMIG_QMP_INT_H
#define QMIG_QMP_INT_H

#include "qmp/qmp.h"
#include "qmp/stream.h"

/* Bytes read per recv(2); a message may span any number of reads. */
#define QMP_READ_CHUNK		65536
/* Ids of recently timed-out commands, remembered so that their late
 * replies are dropped quietly instead of being reported as unknown. */
#define QMP_EXPIRED_IDS		16

/* One submitted command, from qmp_execute() until its callback. */
struct qmp_cmd {
	struct qmp_cmd *next;
	int64_t id;
	int64_t submit_ns;    /* CLOCK_MONOTONIC */
	int64_t deadline_ns;  /* 0 = none */
	qmp_cmd_cb cb;
	void *opaque;
	char *wire;           /* serialized until it moves to the out buffer */
	size_t wire_len;
	bool sent;            /* in the out buffer (or written) */
	char name[QMP_NAME_MAX];
};

struct qmp_conn {
	int fd;
	qmp_state state;
	qm_error dead_err;             /* why it died */
	pid_t peer_pid;
	int default_timeout_ms;
	int64_t greeting_deadline_ns;  /* 0 once the greeting arrived */
	int in_callback;               /* > 0 while a user callback runs */
	bool has_greeting;
	qmp_greeting greeting;

	qmp_stream stream;
	char *rbuf;                    /* QMP_READ_CHUNK bytes */

	char *out;                     /* bytes not yet written */
	size_t out_off, out_len, out_cap;

	struct qmp_cmd *cmds;          /* pending, in submission order */
	struct qmp_cmd **cmds_tail;
	size_t ncmds;
	int64_t next_id;
	int64_t expired[QMP_EXPIRED_IDS];
	unsigned expired_pos;

	json_object *evq[QMP_EVENT_QUEUE_MAX]; /* ring, oldest at ev_head */
	size_t ev_head, ev_len;
	qmp_event_state ev;
	qmp_event_cb ev_cb;
	void *ev_opaque;
};

/* ---- conn.c ---- */
/* Kill the connection with @why (first reason wins): close the socket,
 * drop pending output, complete every pending command with @why. */
void qmp__fail(qmp_conn *conn, const qm_error *why);
/* Append to the out buffer. */
bool qmp__out_append(qmp_conn *conn, const char *buf, size_t len,
		     qm_error *err);
/* Start the handshake on a connected, non-blocking socket. */
void qmp__attach(qmp_conn *conn, int fd, pid_t peer_pid);

/* ---- sock.c ---- */
/* Connect to @addr (see qmp_connect); returns the non-blocking fd or -1.
 * *peer_pid gets SO_PEERCRED's pid for unix sockets, else 0. */
int qmp__sock_connect(const char *addr, int timeout_ms, pid_t *peer_pid,
		      qm_error *err);
/* SO_PEERCRED pid of a unix socket, 0 if not available. */
pid_t qmp__peer_pid(int fd);

/* ---- session.c ---- */
/* qmp_stream_msg_fn for the connection: classify and dispatch. */
bool qmp__on_message(void *opaque, json_object *msg, qm_error *err);
/* Complete every pending command with @why (connection death or free). */
void qmp__complete_all(qmp_conn *conn, const qm_error *why);
/* Complete commands whose deadline is <= @now_ns with QM_ERR_TIMEOUT;
 * kill the connection if the greeting is overdue. */
void qmp__expire(qmp_conn *conn, int64_t now_ns);
/* Earliest deadline (ns), or 0 if none. */
int64_t qmp__next_deadline(const qmp_conn *conn);
/* The most recently submitted pending command's name, or NULL. */
const char *qmp__last_pending(const qmp_conn *conn);
void qmp__events_clear(qmp_conn *conn);

/* ---- parse.c: typed member access for parsers and the session ----
 * @w names where the object sits, for messages:
 * "query-migrate: field 'ram.transferred' is a string, expected an integer".
 */
typedef struct qmp_where {
	const char *what;     /* command or message, e.g. "query-memdev" */
	char path[64];        /* prefix of member names, e.g. "[2]." */
} qmp_where;

bool qmp__expect(json_object *v, const qmp_where *w, const char *key,
		 json_type want, qm_error *err);
/* Look up @key. Absent: *out = NULL, error iff @req. Present with another
 * type: error. */
bool qmp__member(json_object *obj, const qmp_where *w, const char *key,
		 json_type want, bool req, json_object **out, qm_error *err);
/* As qmp__member, converting; absent optional members leave *out alone
 * and set *has (if non-NULL) to false. */
bool qmp__get_int(json_object *obj, const qmp_where *w, const char *key,
		  bool req, int64_t *out, bool *has, qm_error *err);
bool qmp__get_uint(json_object *obj, const qmp_where *w, const char *key,
		   bool req, uint64_t *out, bool *has, qm_error *err);
bool qmp__get_bool(json_object *obj, const qmp_where *w, const char *key,
		   bool req, bool *out, bool *has, qm_error *err);
bool qmp__get_double(json_object *obj, const qmp_where *w, const char *key,
		     bool req, double *out, bool *has, qm_error *err);
/* Strings longer than @len - 1 are an error (names), or cut (@trunc,
 * for text meant for people). */
bool qmp__get_str(json_object *obj, const qmp_where *w, const char *key,
		  bool req, char *out, size_t len, bool trunc, bool *has,
		  qm_error *err);
/* A short, single-line rendering of @obj for messages. */
const char *qmp__snippet(json_object *obj, char *buf, size_t len);

#endif /* QMIG_QMP_INT_H */
