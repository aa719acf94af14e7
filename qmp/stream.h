/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp stream: cut a byte stream into top-level JSON objects (internal to
 * qmp/, also used by the unit tests and the fuzz harness).
 *
 * QMP has no length prefix: messages are JSON objects back to back, with
 * optional whitespace (QEMU sends "\r\n") in between, arriving in arbitrary
 * pieces. json-c's incremental tokener keeps the partial parse between
 * calls, so the stream keeps no byte buffer of its own; it only counts how
 * many bytes the current message has used, to enforce @max_bytes before
 * json-c has allocated more than that.
 *
 * After an error the stream stays failed: QMP cannot resynchronise inside
 * a byte stream, so the connection must be closed.
 */
#ifndef QMIG_QMP_STREAM_H
#define QMIG_QMP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/common.h"

typedef struct qmp_stream {
	struct json_tokener *tok;
	size_t max_bytes;   /* limit for one message */
	size_t msg_bytes;   /* bytes of the current message so far */
	uint64_t nmsgs;     /* complete messages delivered */
	bool in_msg;        /* a message has started (non-blank byte seen) */
	bool failed;
} qmp_stream;

/*
 * qmp_stream_msg_fn: one complete message. Takes ownership of @msg (always
 * a JSON object). Returns false to stop feeding (with *err set if it was
 * an error, or without if the consumer just wants to stop).
 */
typedef bool (*qmp_stream_msg_fn)(void *opaque, json_object *msg,
				  qm_error *err);

/* qmp_stream_init: @max_bytes per message, nesting limit QMP_MAX_DEPTH.
 * Returns false with QM_ERR_NOMEM. */
bool qmp_stream_init(qmp_stream *s, size_t max_bytes, qm_error *err);
void qmp_stream_destroy(qmp_stream *s);

/*
 * qmp_stream_feed: parse @len bytes, calling @fn for each message they
 * complete, in order.
 * Returns: true when all bytes were consumed. false on malformed JSON, a
 * top-level value that is not an object (QM_ERR_PROTO), a message beyond
 * max_bytes (QM_ERR_TOO_BIG), or when @fn returned false.
 */
bool qmp_stream_feed(qmp_stream *s, const char *buf, size_t len,
		     qmp_stream_msg_fn fn, void *opaque, qm_error *err);

/* True between the first byte of a message and its end: EOF now would
 * cut a message. */
static inline bool qmp_stream_mid_message(const qmp_stream *s)
{
	return s->in_msg;
}

#endif /* QMIG_QMP_STREAM_H */
