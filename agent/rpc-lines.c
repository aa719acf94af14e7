/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpc lines: newline framing and token buckets.
 *
 * Unlike QMP (JSON values back to back, qmp/stream.c), JSON-RPC here puts
 * one value per line, so a malformed request costs one error response and
 * the next line is parsed afresh: the framing only has to find newlines.
 * Lines wholly inside one read are handed over in place; only the tail of
 * a line cut by a read boundary is copied, into a buffer that never grows
 * past the line limit.
 */
#define LOG_PREFIX "rpc"
#include "agent/rpc.h"

#include <stdlib.h>
#include <string.h>

void rpc_lines_init(rpc_lines *lb, size_t max)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max;
}

void rpc_lines_destroy(rpc_lines *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

static bool lines_keep(rpc_lines *lb, const char *buf, size_t n,
		       qm_error *err)
{
	size_t cap;
	char *p;

	if (lb->len + n > lb->cap) {
		cap = QM_MAX(lb->cap * 2, lb->len + n);
		cap = QM_MAX(cap, (size_t)4096);
		cap = QM_MIN(cap, lb->max + 1);   /* + the newline */
		p = realloc(lb->buf, cap);
		if (!p)
			return qm_error_set(err, QM_ERR_NOMEM,
					    "request buffer of %zu bytes", cap);
		lb->buf = p;
		lb->cap = cap;
	}
	memcpy(lb->buf + lb->len, buf, n);
	lb->len += n;
	return true;
}

bool rpc_lines_feed(rpc_lines *lb, const char *buf, size_t len,
		    rpc_line_fn fn, void *opaque, qm_error *err)
{
	const char *nl;
	size_t off = 0, n, total;
	bool more;

	while (off < len) {
		nl = memchr(buf + off, '\n', len - off);
		n = nl ? (size_t)(nl - (buf + off)) : len - off;
		if (lb->len + n > lb->max) {
			total = lb->len + n;
			lb->len = 0;
			return qm_error_set(err, QM_ERR_TOO_BIG,
					    "request of at least %zu bytes exceeds the limit of %zu bytes",
					    total, lb->max);
		}
		if (!nl)
			return lines_keep(lb, buf + off, n, err);
		if (!lb->len) {
			more = fn(opaque, buf + off, n + 1);
		} else {
			if (!lines_keep(lb, buf + off, n + 1, err))
				return false;
			total = lb->len;
			lb->len = 0;
			more = fn(opaque, lb->buf, total);
		}
		off += n + 1;
		if (!more)
			return false;
	}
	return true;
}

void rpc_bucket_init(rpc_bucket *b, double rate, double burst,
		     int64_t now_ns)
{
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst;
	b->last_ns = now_ns;
}

bool rpc_bucket_take(rpc_bucket *b, int64_t now_ns)
{
	if (b->rate <= 0)
		return true;
	if (now_ns > b->last_ns) {
		b->tokens += (double)(now_ns - b->last_ns) * b->rate / 1e9;
		b->tokens = QM_MIN(b->tokens, b->burst);
		b->last_ns = now_ns;
	}
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}
