/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp stream: JSON message framing on top of json-c's incremental tokener.
 */
#define LOG_PREFIX "qmp-stream"
#include "qmp/stream.h"
#include "qmp/qmp.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

bool qmp_stream_init(qmp_stream *s, size_t max_bytes, qm_error *err)
{
	memset(s, 0, sizeof(*s));
	s->tok = json_tokener_new_ex(QMP_MAX_DEPTH);
	if (!s->tok)
		return qm_error_set(err, QM_ERR_NOMEM,
				    "QMP: cannot allocate a JSON tokener");
	/*
	 * STRICT rejects what QEMU never sends (comments, single quotes,
	 * trailing commas); ALLOW_TRAILING_CHARS lets one read hold several
	 * messages, which STRICT alone would refuse. No VALIDATE_UTF8: json-c
	 * 0.16 forgets a half-validated character between calls, so a
	 * multi-byte character split across two reads would be rejected.
	 */
	json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT |
				       JSON_TOKENER_ALLOW_TRAILING_CHARS);
	s->max_bytes = max_bytes;
	return true;
}

void qmp_stream_destroy(qmp_stream *s)
{
	if (s->tok)
		json_tokener_free(s->tok);
	s->tok = NULL;
}

static size_t skip_blank(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (buf[i] == ' ' || buf[i] == '\t' ||
			   buf[i] == '\r' || buf[i] == '\n'))
		i++;
	return i;
}

static bool syntax_error(qmp_stream *s, const char *buf, size_t n,
			 size_t at, qm_error *err)
{
	enum json_tokener_error je = json_tokener_get_error(s->tok);
	unsigned char c = at < n ? (unsigned char)buf[at] : 0;
	char got[16];

	s->failed = true;
	if (at >= n)
		snprintf(got, sizeof(got), "end of input");
	else if (isprint(c))
		snprintf(got, sizeof(got), "'%c'", c);
	else
		snprintf(got, sizeof(got), "byte 0x%02x", c);
	return qm_error_set(err, QM_ERR_PROTO,
			    "QMP: message %llu: malformed JSON at byte %zu (%s): %s",
			    (unsigned long long)s->nmsgs + 1, s->msg_bytes + at,
			    got, json_tokener_error_desc(je));
}

/*
 * Feed at most what the size limit still allows. On return *used bytes
 * were consumed and *msg is a complete message or NULL (need more input).
 */
static bool feed_one(qmp_stream *s, const char *buf, size_t avail,
		     size_t *used, json_object **msg, qm_error *err)
{
	size_t n = QM_MIN(avail, s->max_bytes - s->msg_bytes);
	enum json_tokener_error je;
	json_object *obj;
	size_t end;

	*msg = NULL;
	*used = 0;
	if (n == 0) {
		s->failed = true;
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "QMP: message %llu exceeds the limit of %zu bytes (%zu bytes read, still incomplete)",
				    (unsigned long long)s->nmsgs + 1,
				    s->max_bytes, s->msg_bytes);
	}
	n = QM_MIN(n, (size_t)INT_MAX);
	obj = json_tokener_parse_ex(s->tok, buf, (int)n);
	je = json_tokener_get_error(s->tok);
	if (je == json_tokener_continue) {
		s->msg_bytes += n;
		*used = n;
		return true;
	}
	end = json_tokener_get_parse_end(s->tok);
	if (je != json_tokener_success)
		return syntax_error(s, buf, n, end, err);
	if (end == 0 || end > n) {
		/* json-c made no progress: never loop on it. */
		json_object_put(obj);
		return syntax_error(s, buf, n, 0, err);
	}
	s->msg_bytes += end;
	*used = end;
	s->in_msg = false;
	s->nmsgs++;
	json_tokener_reset(s->tok);
	if (!json_object_is_type(obj, json_type_object)) {
		s->failed = true;
		qm_error_set(err, QM_ERR_PROTO,
			     "QMP: message %llu is a JSON %s, expected an object",
			     (unsigned long long)s->nmsgs,
			     json_type_to_name(json_object_get_type(obj)));
		json_object_put(obj);
		return false;
	}
	*msg = obj;
	return true;
}

bool qmp_stream_feed(qmp_stream *s, const char *buf, size_t len,
		     qmp_stream_msg_fn fn, void *opaque, qm_error *err)
{
	size_t off = 0, used;
	json_object *msg;

	if (s->failed)
		return qm_error_set(err, QM_ERR_STATE,
				    "QMP: stream already failed");
	while (off < len) {
		if (!s->in_msg) {
			/* Blanks between messages belong to no message. */
			off += skip_blank(buf + off, len - off);
			if (off == len)
				break;
			s->in_msg = true;
			s->msg_bytes = 0;
		}
		if (!feed_one(s, buf + off, len - off, &used, &msg, err))
			return false;
		off += used;
		if (msg && !fn(opaque, msg, err))
			return false;
	}
	return true;
}
