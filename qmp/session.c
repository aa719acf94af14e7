/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp session: what the messages mean. The greeting starts capabilities
 * negotiation, replies complete commands by id, events become state and
 * queue entries. Anything else is a protocol error that ends the
 * connection, because QMP has no way to resynchronise.
 */
#define LOG_PREFIX "qmp"
#include "qmp/qmp-int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the command list ---- */

static struct qmp_cmd *cmd_unlink(qmp_conn *conn, struct qmp_cmd **pp)
{
	struct qmp_cmd *c = *pp;

	*pp = c->next;
	if (conn->cmds_tail == &c->next)
		conn->cmds_tail = pp;
	conn->ncmds--;
	c->next = NULL;
	return c;
}

/* Only sent commands can be answered: an id we have not sent yet is as
 * unknown as any other. */
static struct qmp_cmd *cmd_take(qmp_conn *conn, int64_t id)
{
	struct qmp_cmd **pp;

	for (pp = &conn->cmds; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id && (*pp)->sent)
			return cmd_unlink(conn, pp);
	return NULL;
}

static void cmd_free(struct qmp_cmd *c)
{
	free(c->wire);
	free(c);
}

static void cmd_complete(qmp_conn *conn, struct qmp_cmd *c,
			 json_object *result, const qm_error *e)
{
	if (c->cb) {
		conn->in_callback++;
		c->cb(conn, result, e, c->opaque);
		conn->in_callback--;
	} else if (e) {
		pr_debug("%s (id %lld, no callback): %s", c->name,
			 (long long)c->id, e->msg);
	}
	cmd_free(c);
}

void qmp__complete_all(qmp_conn *conn, const qm_error *why)
{
	while (conn->cmds)
		cmd_complete(conn, cmd_unlink(conn, &conn->cmds), NULL, why);
}

const char *qmp__last_pending(const qmp_conn *conn)
{
	const struct qmp_cmd *c, *last = NULL;

	for (c = conn->cmds; c; c = c->next)
		last = c;
	return last ? last->name : NULL;
}

/* ---- submitting ---- */

static bool cmd_send(qmp_conn *conn, struct qmp_cmd *c, qm_error *err)
{
	if (!qmp__out_append(conn, c->wire, c->wire_len, err))
		return false;
	free(c->wire);
	c->wire = NULL;
	c->sent = true;
	return true;
}

/* Serialize {"execute", "id", "arguments"} into c->wire; consumes @args. */
static bool cmd_serialize(struct qmp_cmd *c, json_object *args,
			  qm_error *err)
{
	json_object *msg = json_object_new_object();
	const char *s;

	if (!msg ||
	    json_object_object_add(msg, "execute",
				   json_object_new_string(c->name)) ||
	    json_object_object_add(msg, "id", json_object_new_int64(c->id)) ||
	    (args && json_object_object_add(msg, "arguments", args))) {
		/* json-c leaves the value with us when adding fails. */
		if (!json_object_object_get_ex(msg, "arguments", NULL))
			json_object_put(args);
		json_object_put(msg);
		return qm_error_set(err, QM_ERR_NOMEM, "%s: building the command",
				    c->name);
	}
	s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	c->wire_len = strlen(s) + 1; /* + "\n" */
	if (c->wire_len > QMP_MAX_MSG_BYTES) {
		qm_error_set(err, QM_ERR_TOO_BIG,
			     "%s: command is %zu bytes, limit %u", c->name,
			     c->wire_len, QMP_MAX_MSG_BYTES);
	} else if ((c->wire = malloc(c->wire_len))) {
		memcpy(c->wire, s, c->wire_len - 1);
		c->wire[c->wire_len - 1] = '\n';
	} else {
		qm_error_set(err, QM_ERR_NOMEM, "%s: %zu bytes", c->name,
			     c->wire_len);
	}
	json_object_put(msg);
	return c->wire != NULL;
}

/* Queue a command; send it now if @send_now (else when READY). */
static int64_t submit(qmp_conn *conn, const char *name, json_object *args,
		      int timeout_ms, qmp_cmd_cb cb, void *opaque,
		      bool send_now, qm_error *err)
{
	struct qmp_cmd *c = calloc(1, sizeof(*c));

	if (!c) {
		json_object_put(args);
		qm_error_set(err, QM_ERR_NOMEM, "%s: no memory", name);
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->id = conn->next_id;
	c->cb = cb;
	c->opaque = opaque;
	if (timeout_ms == 0)
		timeout_ms = conn->default_timeout_ms;
	c->submit_ns = qm_now_ns();
	if (timeout_ms != QMP_TIMEOUT_NONE)
		c->deadline_ns = c->submit_ns + (int64_t)timeout_ms * 1000000;
	if (!cmd_serialize(c, args, err) ||
	    (send_now && !cmd_send(conn, c, err))) {
		cmd_free(c);
		return -1;
	}
	conn->next_id++;
	*conn->cmds_tail = c;
	conn->cmds_tail = &c->next;
	conn->ncmds++;
	return c->id;
}

/* QMP command names are letters, digits, '-' and '_'. */
static bool check_name(const char *cmd, qm_error *err)
{
	size_t i, n;

	if (!cmd || !*cmd)
		return qm_error_set(err, QM_ERR_INVAL, "QMP: empty command name");
	n = strlen(cmd);
	if (n >= QMP_NAME_MAX)
		return qm_error_set(err, QM_ERR_INVAL,
				    "QMP: command name is %zu bytes long, limit %d",
				    n, QMP_NAME_MAX - 1);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)cmd[i]) && cmd[i] != '-' &&
		    cmd[i] != '_')
			return qm_error_set(err, QM_ERR_INVAL,
					    "QMP: command name '%s' has character 0x%02x at %zu",
					    cmd, (unsigned char)cmd[i], i);
	return true;
}

static bool check_execute(qmp_conn *conn, const char *cmd, json_object *args,
			  int timeout_ms, qm_error *err)
{
	if (conn->state == QMP_STATE_NEW)
		return qm_error_set(err, QM_ERR_STATE,
				    "QMP: %s: not connected", cmd ? cmd : "");
	if (conn->state == QMP_STATE_DEAD)
		return qm_error_set(err, QM_ERR_CLOSED, "%s",
				    conn->dead_err.msg);
	if (!check_name(cmd, err))
		return false;
	if (args && !json_object_is_type(args, json_type_object))
		return qm_error_set(err, QM_ERR_INVAL,
				    "%s: arguments are a JSON %s, expected an object",
				    cmd,
				    json_type_to_name(json_object_get_type(args)));
	if (timeout_ms < 0 && timeout_ms != QMP_TIMEOUT_NONE)
		return qm_error_set(err, QM_ERR_INVAL,
				    "%s: timeout %d ms, expected >= 0 or QMP_TIMEOUT_NONE",
				    cmd, timeout_ms);
	return true;
}

int64_t qmp_execute(qmp_conn *conn, const char *cmd, json_object *args,
		    int timeout_ms, qmp_cmd_cb cb, void *opaque,
		    qm_error *err)
{
	if (!check_execute(conn, cmd, args, timeout_ms, err)) {
		json_object_put(args);
		return -1;
	}
	return submit(conn, cmd, args, timeout_ms, cb, opaque,
		      conn->state == QMP_STATE_READY, err);
}

/* ---- greeting and negotiation ---- */

static void caps_done(qmp_conn *conn, json_object *result, const qm_error *e,
		      void *opaque)
{
	qm_error why = QM_ERROR_INIT;
	struct qmp_cmd *c;

	if (conn->state == QMP_STATE_DEAD)
		return;
	if (e) {
		qm_error_set(&why, e->code == QM_ERR_TIMEOUT ? QM_ERR_TIMEOUT :
			     QM_ERR_PROTO,
			     "QMP: capabilities negotiation failed: %s", e->msg);
		qmp__fail(conn, &why);
		return;
	}
	conn->state = QMP_STATE_READY;
	/* Commands submitted before READY go out now, in order. */
	for (c = conn->cmds; c; c = c->next) {
		if (!c->sent && !cmd_send(conn, c, &why)) {
			qmp__fail(conn, &why);
			return;
		}
	}
}

static bool on_greeting(qmp_conn *conn, json_object *msg, qm_error *err)
{
	const qmp_greeting *g = &conn->greeting;

	if (conn->state != QMP_STATE_GREETING)
		return qm_error_set(err, QM_ERR_PROTO,
				    "QMP: unexpected second greeting (message %llu)",
				    (unsigned long long)conn->stream.nmsgs);
	if (!qmp_parse_greeting(msg, &conn->greeting, err)) {
		qm_error_prepend(err, "QMP");
		return false;
	}
	conn->has_greeting = true;
	conn->greeting_deadline_ns = 0;
	conn->state = QMP_STATE_NEGOTIATING;
	pr_debug("QEMU %d.%d.%d (%s), %u capabilities offered", g->major,
		 g->minor, g->micro, g->package, g->ncaps);
	/* Capabilities are not enabled (no "oob"): in-band is all we use. */
	return submit(conn, "qmp_capabilities", NULL, 0, caps_done, NULL,
		      true, err) > 0;
}

/* ---- replies ---- */

static void error_from_reply(const char *name, json_object *error,
			     qm_error *e)
{
	qmp_where w = { name, "" };
	char cls[QMP_ENUM_STR_MAX], desc[QM_ERROR_MSG_MAX];

	if (!qmp__expect(error, &w, "error", json_type_object, e))
		return;
	snprintf(w.path, sizeof(w.path), "error.");
	/* Class and desc are cut rather than refused: an unknown long
	 * class still maps to "unknown", and desc is only for people. */
	if (!qmp__get_str(error, &w, "class", true, cls, sizeof(cls), true,
			  NULL, e) ||
	    !qmp__get_str(error, &w, "desc", true, desc, sizeof(desc), true,
			  NULL, e))
		return;
	qm_error_set(e, QM_ERR_QMP, "%s: %s", name, desc);
	e->subclass = qmp_err_class_from_str(cls);
}

static void reply_complete(qmp_conn *conn, struct qmp_cmd *c,
			   json_object *msg)
{
	json_object *ret = NULL, *error = NULL;
	bool has_ret = json_object_object_get_ex(msg, "return", &ret);
	bool has_err = json_object_object_get_ex(msg, "error", &error);
	qm_error e = QM_ERROR_INIT;

	if (has_ret && has_err)
		qm_error_set(&e, QM_ERR_PROTO,
			     "%s: reply has both 'return' and 'error'", c->name);
	else if (has_err)
		error_from_reply(c->name, error, &e);
	else if (!ret)
		qm_error_set(&e, QM_ERR_PROTO, "%s: reply has 'return': null",
			     c->name);
	if (qm_error_is_set(&e))
		cmd_complete(conn, c, NULL, &e);
	else
		cmd_complete(conn, c, ret, NULL);
}

static bool was_expired(const qmp_conn *conn, int64_t id)
{
	unsigned i;

	for (i = 0; i < QMP_EXPIRED_IDS; i++)
		if (conn->expired[i] == id)
			return true;
	return false;
}

static bool on_reply(qmp_conn *conn, json_object *msg, qm_error *err)
{
	char snip[160];
	json_object *idv;
	struct qmp_cmd *c = NULL;

	if (conn->state == QMP_STATE_GREETING)
		return qm_error_set(err, QM_ERR_PROTO,
				    "QMP: reply before the greeting: %s",
				    qmp__snippet(msg, snip, sizeof(snip)));
	if (!json_object_object_get_ex(msg, "id", &idv)) {
		/* We number every command, so QEMU answering without an id
		 * means it could not read one of them. */
		if (conn->ncmds)
			return qm_error_set(err, QM_ERR_PROTO,
				"QMP: reply without an id while %zu command%s pending (last: %s): %s",
				conn->ncmds, conn->ncmds == 1 ? " is" : "s are",
				qmp__last_pending(conn),
				qmp__snippet(msg, snip, sizeof(snip)));
		pr_warn("QMP: ignoring a reply without an id: %s",
			qmp__snippet(msg, snip, sizeof(snip)));
		return true;
	}
	if (json_object_is_type(idv, json_type_int))
		c = cmd_take(conn, json_object_get_int64(idv));
	if (c) {
		reply_complete(conn, c, msg);
	} else if (json_object_is_type(idv, json_type_int) &&
		   was_expired(conn, json_object_get_int64(idv))) {
		pr_debug("QMP: dropping the late reply to timed-out id %lld",
			 (long long)json_object_get_int64(idv));
	} else {
		pr_warn("QMP: ignoring a reply with unknown id %s",
			qmp__snippet(idv, snip, sizeof(snip)));
	}
	return true;
}

/* ---- events ---- */

void qmp__events_clear(qmp_conn *conn)
{
	while (conn->ev_len) {
		json_object_put(conn->evq[conn->ev_head]);
		conn->ev_head = (conn->ev_head + 1) % QMP_EVENT_QUEUE_MAX;
		conn->ev_len--;
	}
	conn->ev_head = 0;
}

static void event_push(qmp_conn *conn, json_object *msg)
{
	if (conn->ev_len == QMP_EVENT_QUEUE_MAX) {
		json_object_put(conn->evq[conn->ev_head]);
		conn->ev_head = (conn->ev_head + 1) % QMP_EVENT_QUEUE_MAX;
		conn->ev_len--;
		if (!conn->ev.dropped++)
			pr_warn("QMP: event queue full (%d), dropping the oldest",
				QMP_EVENT_QUEUE_MAX);
	}
	conn->evq[(conn->ev_head + conn->ev_len) % QMP_EVENT_QUEUE_MAX] = msg;
	conn->ev_len++;
}

/* Update qmp_event_state; parse into locals first so a bad event leaves
 * the state as it was. */
static bool event_record(qmp_conn *conn, const char *name, json_object *data,
			 qm_error *err)
{
	char what[QMP_NAME_MAX + 16], str[QMP_ENUM_STR_MAX] = "";
	qmp_where w = { what, "data." };
	qmp_event_state *ev = &conn->ev;
	bool guest = false;

	snprintf(what, sizeof(what), "QMP event %s", name);
	if (!strcmp(name, "STOP")) {
		ev->stop_seen++;
	} else if (!strcmp(name, "RESUME")) {
		ev->resume_seen++;
	} else if (!strcmp(name, "SHUTDOWN")) {
		if (data && (!qmp__get_bool(data, &w, "guest", false, &guest,
					    NULL, err) ||
			     !qmp__get_str(data, &w, "reason", false, str,
					   sizeof(str), true, NULL, err)))
			return false;
		ev->shutdown_seen++;
		ev->shutdown_guest = guest;
		memcpy(ev->shutdown_reason, str, sizeof(str));
	} else if (!strcmp(name, "MIGRATION")) {
		if (!data)
			return qm_error_set(err, QM_ERR_PROTO,
					    "%s: field 'data' is missing", what);
		if (!qmp__get_str(data, &w, "status", true, str, sizeof(str),
				  false, NULL, err))
			return false;
		ev->migration_seen++;
		ev->migration = qmp_mig_status_from_str(str);
		memcpy(ev->migration_str, str, sizeof(str));
	}
	return true;
}

/* Takes ownership of @msg. */
static bool on_event(qmp_conn *conn, json_object *msg, qm_error *err)
{
	qmp_where w = { "QMP event", "" };
	json_object *name, *data;
	char snip[160];

	if (conn->state == QMP_STATE_GREETING) {
		qm_error_set(err, QM_ERR_PROTO, "QMP: event before the greeting: %s",
			     qmp__snippet(msg, snip, sizeof(snip)));
		goto fail;
	}
	if (!qmp__member(msg, &w, "event", json_type_string, true, &name,
			 err) ||
	    !qmp__member(msg, &w, "data", json_type_object, false, &data,
			 err) ||
	    !event_record(conn, json_object_get_string(name), data, err))
		goto fail;
	conn->ev.received++;
	if (!conn->ev_cb) {
		event_push(conn, msg);
		return true;
	}
	conn->in_callback++;
	conn->ev_cb(conn, json_object_get_string(name), msg, conn->ev_opaque);
	conn->in_callback--;
	json_object_put(msg);
	return conn->state != QMP_STATE_DEAD;
fail:
	json_object_put(msg);
	return false;
}

json_object *qmp_event_pop(qmp_conn *conn)
{
	json_object *ev;

	if (!conn->ev_len)
		return NULL;
	ev = conn->evq[conn->ev_head];
	conn->evq[conn->ev_head] = NULL;
	conn->ev_head = (conn->ev_head + 1) % QMP_EVENT_QUEUE_MAX;
	conn->ev_len--;
	return ev;
}

size_t qmp_event_count(const qmp_conn *conn)
{
	return conn->ev_len;
}

const qmp_event_state *qmp_event_state_get(const qmp_conn *conn)
{
	return &conn->ev;
}

void qmp_event_state_reset(qmp_conn *conn)
{
	memset(&conn->ev, 0, sizeof(conn->ev));
}

void qmp_set_event_cb(qmp_conn *conn, qmp_event_cb cb, void *opaque)
{
	conn->ev_cb = cb;
	conn->ev_opaque = opaque;
}

/* ---- dispatch ---- */

bool qmp__on_message(void *opaque, json_object *msg, qm_error *err)
{
	qmp_conn *conn = opaque;
	char snip[160];
	bool ok;

	if (json_object_object_get_ex(msg, "event", NULL))
		return on_event(conn, msg, err);
	if (json_object_object_get_ex(msg, "QMP", NULL))
		ok = on_greeting(conn, msg, err);
	else if (json_object_object_get_ex(msg, "return", NULL) ||
		 json_object_object_get_ex(msg, "error", NULL))
		ok = on_reply(conn, msg, err);
	else
		ok = qm_error_set(err, QM_ERR_PROTO,
				  "QMP: message %llu is neither a greeting, a reply nor an event: %s",
				  (unsigned long long)conn->stream.nmsgs,
				  qmp__snippet(msg, snip, sizeof(snip)));
	json_object_put(msg);
	return ok && conn->state != QMP_STATE_DEAD;
}

/* ---- deadlines ---- */

int64_t qmp__next_deadline(const qmp_conn *conn)
{
	const struct qmp_cmd *c;
	int64_t dl = 0;

	if (conn->state == QMP_STATE_GREETING)
		dl = conn->greeting_deadline_ns;
	for (c = conn->cmds; c; c = c->next)
		if (c->deadline_ns && (!dl || c->deadline_ns < dl))
			dl = c->deadline_ns;
	return dl;
}

static struct qmp_cmd **first_overdue(qmp_conn *conn, int64_t now_ns)
{
	struct qmp_cmd **pp;

	for (pp = &conn->cmds; *pp; pp = &(*pp)->next)
		if ((*pp)->deadline_ns && (*pp)->deadline_ns <= now_ns)
			return pp;
	return NULL;
}

void qmp__expire(qmp_conn *conn, int64_t now_ns)
{
	qm_error e = QM_ERROR_INIT;
	struct qmp_cmd **pp, *c;

	if (conn->state == QMP_STATE_GREETING && conn->greeting_deadline_ns &&
	    now_ns >= conn->greeting_deadline_ns) {
		qm_error_set(&e, QM_ERR_TIMEOUT,
			     "QMP: no greeting from QEMU within %d ms",
			     conn->default_timeout_ms);
		qmp__fail(conn, &e);
		return;
	}
	/* Look again after each callback: it may have submitted more. */
	while (conn->state != QMP_STATE_DEAD &&
	       (pp = first_overdue(conn, now_ns))) {
		c = cmd_unlink(conn, pp);
		if (c->sent) {
			conn->expired[conn->expired_pos++ % QMP_EXPIRED_IDS] =
				c->id;
		}
		qm_error_clear(&e);
		qm_error_set(&e, QM_ERR_TIMEOUT,
			     "%s: no reply from QEMU within %lld ms", c->name,
			     (long long)(c->deadline_ns - c->submit_ns) /
				     1000000);
		cmd_complete(conn, c, NULL, &e);
	}
}
