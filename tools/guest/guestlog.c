/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guestlog.c: parse the workload guest's serial output (see guestlog.h for
 * the line grammar and the contract).
 *
 * Three layers: line assembly (gl_log_feed, which knows nothing about the
 * grammar), one parser per line kind behind a table (gl_kinds), and the
 * judgements built on the parsed state (continuity, follow-and-wait).
 */
#define LOG_PREFIX "guestlog"
#include "tools/guest/guestlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Safety net for gl_follow_wait: re-read even without an inotify event,
 * in case events were dropped (queue overflow). */
#define GL_POLL_SLICE_MS 100

/* ---- small parsing helpers ---- */

/* Strict decimal: digits only, no sign, no spaces, no overflow. */
static bool parse_dec(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* Strict hex with a mandatory 0x prefix. */
static bool parse_hex(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int d;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2])
		return false;
	for (s += 2; *s; s++) {
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return false;
		if (v >> 60)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static bool parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (!parse_dec(s, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Next space-separated token of *s, NUL-terminated in place; NULL at end. */
static char *next_tok(char **s)
{
	char *t = *s;

	while (*t == ' ')
		t++;
	if (!*t) {
		*s = t;
		return NULL;
	}
	*s = t;
	while (**s && **s != ' ')
		(*s)++;
	if (**s)
		*(*s)++ = '\0';
	return t;
}

/* Split "key=value" in place; false if there is no '='. */
static bool split_kv(char *tok, char **val)
{
	char *eq = strchr(tok, '=');

	if (!eq || eq == tok)
		return false;
	*eq = '\0';
	*val = eq + 1;
	return true;
}

/* Keep the start of a line for diagnostics; longer text is cut. */
static void keep_text(char *dst, const char *src)
{
	size_t n = strnlen(src, GL_TEXT_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- boot line ---- */

enum field_type { F_DEC64, F_DEC32, F_HEX, F_STR };

struct field {
	const char *key;
	size_t off;
	enum field_type type;
	bool required;
};

#define BOOT_F(k, m, t, r) { k, offsetof(gl_boot, m), t, r }
static const struct field boot_fields[] = {
	BOOT_F("ws", ws, F_DEC64, true),
	BOOT_F("pages", pages, F_DEC64, true),
	BOOT_F("base", base, F_HEX, true),
	BOOT_F("table", table, F_HEX, true),
	BOOT_F("seqaddr", seqaddr, F_HEX, false),
	BOOT_F("inflight", inflight, F_HEX, false),
	BOOT_F("rate", rate, F_DEC32, false),
	BOOT_F("zero", zero, F_DEC32, false),
	BOOT_F("dup", dup, F_DEC32, false),
	BOOT_F("hb", hb_ms, F_DEC32, false),
	BOOT_F("tsc_khz", tsc_khz, F_DEC32, false),
	BOOT_F("hot", hot, F_DEC32, false),
	BOOT_F("hotw", hotw, F_DEC32, false),
	BOOT_F("seed", seed, F_DEC32, false),
	BOOT_F("pattern", pattern, F_STR, false),
};

static bool set_field(void *obj, const struct field *f, const char *val)
{
	char *p = (char *)obj + f->off;

	switch (f->type) {
	case F_DEC64:
		return parse_dec(val, (uint64_t *)p);
	case F_DEC32:
		return parse_u32(val, (uint32_t *)p);
	case F_HEX:
		return parse_hex(val, (uint64_t *)p);
	case F_STR:
		if (!*val || strlen(val) >= sizeof(((gl_boot *)0)->pattern))
			return false;
		strcpy(p, val);
		return true;
	}
	return false;
}

/*
 * key=value tokens into @obj by @fields; unknown keys are skipped (the
 * guest may add fields), a token without '=' or a bad value is not.
 * Returns a bitmask of the fields found, or -1 if malformed.
 */
static int64_t parse_fields(char *args, void *obj, const struct field *fields,
			    size_t n)
{
	int64_t found = 0;
	char *tok, *val;
	size_t i;

	while ((tok = next_tok(&args))) {
		if (!split_kv(tok, &val))
			return -1;
		for (i = 0; i < n; i++)
			if (!strcmp(tok, fields[i].key))
				break;
		if (i == n)
			continue;
		if (!set_field(obj, &fields[i], val))
			return -1;
		found |= (int64_t)1 << i;
	}
	return found;
}

static bool parse_boot(gl_log *log, char *args, int64_t ts)
{
	gl_boot b;
	uint64_t ver;
	char *tok = next_tok(&args);
	int64_t found;
	size_t i;

	memset(&b, 0, sizeof(b));
	if (!tok || tok[0] != 'v' || !parse_dec(tok + 1, &ver) || ver > 999)
		return false;
	b.version = (unsigned)ver;
	found = parse_fields(args, &b, boot_fields, QM_ARRAY_SIZE(boot_fields));
	if (found < 0)
		return false;
	for (i = 0; i < QM_ARRAY_SIZE(boot_fields); i++)
		if (boot_fields[i].required && !(found & ((int64_t)1 << i)))
			return false;
	log->boot = b;
	log->boots++;
	return true;
}

/* ---- the other line kinds ---- */

static bool parse_ready(gl_log *log, char *args, int64_t ts)
{
	if (*args)
		return false;
	if (!log->ready) {
		log->ready = true;
		log->ready_ts = ts;
	}
	return true;
}

/* "HB <seq>" arguments; shared with gl_continuity_check(). */
static bool hb_seq_of(char *args, uint64_t *seq)
{
	char *tok = next_tok(&args);

	return tok && parse_dec(tok, seq) && !next_tok(&args);
}

static void hb_note_gap(gl_log *log, const gl_hb *prev, const gl_hb *hb)
{
	int64_t gap;

	if (prev->ts == GL_TS_NONE || hb->ts == GL_TS_NONE)
		return;
	gap = hb->ts - prev->ts;
	if (gap > log->hb_max_gap_ns) {
		log->hb_max_gap_ns = gap;
		log->hb_gap_from = *prev;
		log->hb_gap_to = *hb;
	}
}

static bool parse_hb(gl_log *log, char *args, int64_t ts)
{
	gl_hb hb = { .ts = ts };

	if (!hb_seq_of(args, &hb.seq))
		return false;
	if (!log->hb_count) {
		log->hb_first = hb;
	} else {
		if (hb.seq != log->hb_last.seq + 1 && !log->hb_seq_breaks++) {
			log->hb_break_from = log->hb_last;
			log->hb_break_to = hb;
		}
		hb_note_gap(log, &log->hb_last, &hb);
	}
	log->hb_last = hb;
	log->hb_count++;
	return true;
}

#define STAT_F(k, m) { k, offsetof(gl_stat, m), F_DEC64, false }
static const struct field stat_fields[] = {
	STAT_F("t", t), STAT_F("hb", hb), STAT_F("writes", writes),
	STAT_F("checks", checks), STAT_F("passes", passes),
	STAT_F("pass_ms", pass_ms), STAT_F("corrupt", corrupt),
};

static bool parse_stat(gl_log *log, char *args, int64_t ts)
{
	gl_stat st;

	memset(&st, 0, sizeof(st));
	if (parse_fields(args, &st, stat_fields,
			 QM_ARRAY_SIZE(stat_fields)) < 0)
		return false;
	st.ts = ts;
	log->stat = st;
	log->stats++;
	log->corrupt_total = QM_MAX(log->corrupt_total, st.corrupt);
	return true;
}

/* "found=<w0>,<w1>" */
static bool parse_found(char *val, gl_corrupt *c)
{
	char *comma = strchr(val, ',');

	if (!comma)
		return false;
	*comma = '\0';
	return parse_u32(val, &c->w0) && parse_u32(comma + 1, &c->w1);
}

static bool parse_corrupt(gl_log *log, char *args, int64_t ts)
{
	gl_corrupt c;
	char *tok, *val;

	memset(&c, 0, sizeof(c));
	tok = next_tok(&args);
	if (!tok || !parse_u32(tok, &c.page))
		return false;
	tok = next_tok(&args);
	if (!tok || !split_kv(tok, &val) || strcmp(tok, "gen") ||
	    !parse_u32(val, &c.gen))
		return false;
	tok = next_tok(&args);
	if (!tok || !split_kv(tok, &val) || strcmp(tok, "found") ||
	    !parse_found(val, &c))
		return false;
	if (log->corrupt_kept < GL_CORRUPT_KEEP)
		log->corrupt[log->corrupt_kept++] = c;
	log->corrupt_lines++;
	log->corrupt_total = QM_MAX(log->corrupt_total, log->corrupt_lines);
	return true;
}

static bool parse_corrupt_count(gl_log *log, char *args, int64_t ts)
{
	char *tok = next_tok(&args);
	uint64_t n;

	if (!tok || !parse_dec(tok, &n) || next_tok(&args))
		return false;
	log->corrupt_total = QM_MAX(log->corrupt_total, n);
	return true;
}

static bool parse_info(gl_log *log, char *args, int64_t ts)
{
	return true;
}

static bool parse_warn(gl_log *log, char *args, int64_t ts)
{
	log->warnings++;
	keep_text(log->last_warning, args);
	return true;
}

static const struct gl_kind {
	const char *kw;
	bool (*parse)(gl_log *log, char *args, int64_t ts);
} gl_kinds[] = {
	{ "QMIG-GUEST", parse_boot },
	{ "READY", parse_ready },
	{ "HB", parse_hb },
	{ "STAT", parse_stat },
	{ "CORRUPT", parse_corrupt },
	{ "CORRUPT-COUNT", parse_corrupt_count },
	{ "INFO", parse_info },
	{ "WARN", parse_warn },
};

/* Split @line (NUL-terminated, writable) into keyword and arguments. */
static const struct gl_kind *line_kind(char *line, char **args)
{
	char *sp = strchr(line, ' ');
	size_t i;

	*args = sp ? sp + 1 : line + strlen(line);
	if (sp)
		*sp = '\0';
	for (i = 0; i < QM_ARRAY_SIZE(gl_kinds); i++)
		if (!strcmp(line, gl_kinds[i].kw))
			return &gl_kinds[i];
	return NULL;
}

static void parse_line(gl_log *log, const char *text, size_t len, int64_t ts)
{
	char line[GL_LINE_MAX], copy[GL_LINE_MAX], *args;
	const struct gl_kind *k;

	memcpy(line, text, len);
	line[len] = '\0';
	memcpy(copy, line, len + 1);
	log->lines++;
	k = line_kind(line, &args);
	if (k && k->parse(log, args, ts))
		return;
	log->malformed++;
	keep_text(log->last_malformed, copy);
}

/* ---- line assembly ---- */

void gl_log_init(gl_log *log, unsigned flags)
{
	memset(log, 0, sizeof(*log));
	log->flags = flags;
	log->ready_ts = GL_TS_NONE;
	log->partial_ts = GL_TS_NONE;
	log->head_ts = GL_TS_NONE;
}

static void hold_head(gl_log *log)
{
	log->head_done = true;
	log->head_overflow = log->partial_overflow;
	memcpy(log->head, log->partial, log->partial_len);
	log->head_len = log->partial_len;
	log->head[log->head_len] = '\0';
	log->head_ts = log->partial_ts;
}

static void end_line(gl_log *log)
{
	if ((log->flags & GL_LOG_CONTINUES) && !log->head_done) {
		hold_head(log);
	} else if (log->partial_overflow) {
		log->lines++;
		log->malformed++;
		keep_text(log->last_malformed, log->partial);
	} else if (log->partial_len) {
		parse_line(log, log->partial, log->partial_len,
			   log->partial_ts);
	}
	log->partial_len = 0;
	log->partial[0] = '\0';
	log->partial_overflow = false;
	log->partial_ts = GL_TS_NONE;
}

/* Append a span without '\n' to the unfinished line. */
static void add_span(gl_log *log, const char *s, size_t n, int64_t ts)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r')
			continue;
		if (!log->partial_len && !log->partial_overflow)
			log->partial_ts = ts;	/* the line starts now */
		if (log->partial_len < GL_LINE_MAX - 1)
			log->partial[log->partial_len++] = s[i];
		else
			log->partial_overflow = true;
	}
	log->partial[log->partial_len] = '\0';
}

void gl_log_feed(gl_log *log, const void *buf, size_t len, int64_t ts_ns)
{
	const char *p = buf, *end = p + len, *nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		add_span(log, p, (size_t)((nl ? nl : end) - p), ts_ns);
		if (!nl)
			break;
		end_line(log);
		p = nl + 1;
	}
}

bool gl_log_read_file(gl_log *log, const char *path, int64_t ts_ns,
		      qm_error *err)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return qm_error_errno(err, errno, "opening serial log %s",
				      path);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		gl_log_feed(log, buf, (size_t)n, ts_ns);
	}
	if (n < 0) {
		qm_error_errno(err, errno, "reading serial log %s", path);
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* ---- continuity ---- */

const char *gl_verdict_name(gl_verdict v)
{
	static const char *const names[GL_VERDICT__COUNT] = {
		"UNKNOWN", "OK", "LOST_UPDATES", "GAP",
	};

	return v >= 0 && v < GL_VERDICT__COUNT ? names[v] : "?";
}

/* Parse one line on its own, in a scratch log. */
static void parse_alone(gl_log *one, const char *line, size_t len,
			int64_t ts)
{
	gl_log_init(one, 0);
	gl_log_feed(one, line, len, ts);
	gl_log_feed(one, "\n", 1, ts);
}

/* No unfinished source line: the held-back head is simply @dst's first
 * line, older than anything @dst parsed. */
static void head_alone(const gl_log *dst, gl_continuity *out)
{
	gl_log one;

	if (dst->head_overflow)
		return;
	parse_alone(&one, dst->head, dst->head_len, dst->head_ts);
	if (one.hb_count) {
		out->dst_has_hb = true;
		out->dst_first = one.hb_first;
	}
}

/*
 * The line that straddles the two logs: @src's unfinished line completed
 * by the head @dst held back. The source started it, so it is the
 * source's next line: if it is a heartbeat, its number is the source's
 * last + 1, stamped when the source started it. A joined line that does
 * not parse, or a heartbeat with another number, means the destination
 * finished printing from a stale buffer: its memory is older than the
 * source's, even if its heartbeat counter happens to be current.
 */
static void join_head(const gl_log *src, const gl_log *dst,
		      gl_continuity *out)
{
	size_t n = src->partial_len + dst->head_len;
	char line[2 * GL_LINE_MAX];
	gl_log one;

	if (!(dst->flags & GL_LOG_CONTINUES) || !dst->head_done)
		return;
	if (!src->partial_len && !src->partial_overflow) {
		head_alone(dst, out);
		return;
	}
	out->joined = true;
	memcpy(line, src->partial, src->partial_len);
	memcpy(line + src->partial_len, dst->head, dst->head_len);
	line[n] = '\0';
	keep_text(out->joined_line, line);
	if (src->partial_overflow || dst->head_overflow || n >= GL_LINE_MAX) {
		out->join_bad = true;
		return;
	}
	parse_alone(&one, line, n, src->partial_ts);
	if (one.malformed ||
	    (one.hb_count && out->src_has_hb &&
	     one.hb_last.seq != out->src_last.seq + 1)) {
		out->join_bad = true;
		return;
	}
	if (one.hb_count) {
		out->src_has_hb = true;
		out->src_last = one.hb_last;
	}
}

static gl_verdict verdict_of(gl_continuity *out)
{
	if (out->join_bad) {
		snprintf(out->why, sizeof(out->why), "the source's unfinished "
			 "line was completed from stale memory: \"%.60s\"",
			 out->joined_line);
		return GL_VERDICT_LOST_UPDATES;
	}
	if (!out->src_has_hb || !out->dst_has_hb) {
		snprintf(out->why, sizeof(out->why),
			 "%s log has no heartbeat%s",
			 out->src_has_hb ? "destination" : "source",
			 out->src_has_hb ? " yet" : "");
		return GL_VERDICT_UNKNOWN;
	}
	if (out->seq_delta == 1)
		return GL_VERDICT_OK;
	return out->seq_delta <= 0 ? GL_VERDICT_LOST_UPDATES : GL_VERDICT_GAP;
}

gl_verdict gl_continuity_check(const gl_log *src, const gl_log *dst,
			       gl_continuity *out)
{
	memset(out, 0, sizeof(*out));
	out->downtime_ns = GL_TS_NONE;
	out->src_has_hb = src->hb_count > 0;
	out->src_last = src->hb_last;
	out->dst_has_hb = dst->hb_count > 0;
	out->dst_first = dst->hb_first;
	join_head(src, dst, out);
	if (out->src_has_hb && out->dst_has_hb) {
		out->seq_delta = (int64_t)(out->dst_first.seq -
					   out->src_last.seq);
		if (out->src_last.ts != GL_TS_NONE &&
		    out->dst_first.ts != GL_TS_NONE)
			out->downtime_ns = out->dst_first.ts - out->src_last.ts;
	}
	out->verdict = verdict_of(out);
	return out->verdict;
}

/* ---- following a file ---- */

bool gl_follow_open(gl_follow *f, const char *path, unsigned flags,
		    qm_error *err)
{
	memset(f, 0, sizeof(*f));
	f->fd = f->ifd = -1;
	gl_log_init(&f->log, flags);
	if (strlen(path) >= sizeof(f->path))
		return qm_error_set(err, QM_ERR_TOO_BIG,
				    "serial log path: %zu bytes exceeds %zu",
				    strlen(path), sizeof(f->path) - 1);
	strcpy(f->path, path);
	/* Watch before the first read, so no write falls between the two. */
	f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (f->ifd < 0)
		return qm_error_errno(err, errno, "inotify_init1");
	if (inotify_add_watch(f->ifd, path, IN_MODIFY) < 0) {
		qm_error_errno(err, errno, "watching serial log %s", path);
		goto fail;
	}
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		qm_error_errno(err, errno, "opening serial log %s", path);
		goto fail;
	}
	if (gl_follow_process(f, err) < 0)
		goto fail;
	return true;
fail:
	gl_follow_close(f);
	return false;
}

int gl_follow_fd(const gl_follow *f)
{
	return f->ifd;
}

static void drain_events(int ifd)
{
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(ifd, buf, sizeof(buf)) > 0)
		;
}

int64_t gl_follow_process(gl_follow *f, qm_error *err)
{
	char buf[65536];
	int64_t total = 0;
	struct stat st;
	ssize_t n;

	if (f->fd < 0) {
		qm_error_set(err, QM_ERR_STATE, "serial log %s is closed",
			     f->path);
		return -1;
	}
	drain_events(f->ifd);
	if (fstat(f->fd, &st) < 0) {
		qm_error_errno(err, errno, "stat %s", f->path);
		return -1;
	}
	/* QEMU only appends; a shorter file is a new one, not our stream. */
	if ((uint64_t)st.st_size < f->offset) {
		qm_error_set(err, QM_ERR_STATE, "serial log %s shrank from %"
			     PRIu64 " to %jd bytes", f->path, f->offset,
			     (intmax_t)st.st_size);
		return -1;
	}
	for (;;) {
		n = pread(f->fd, buf, sizeof(buf), (off_t)f->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			qm_error_errno(err, errno, "reading %s at %" PRIu64,
				       f->path, f->offset);
			return -1;
		}
		if (n == 0)
			return total;
		gl_log_feed(&f->log, buf, (size_t)n, qm_now_ns());
		f->offset += (uint64_t)n;
		total += n;
	}
}

bool gl_follow_wait(gl_follow *f, gl_pred pred, const void *arg,
		    const char *what, int timeout_ms, qm_error *err)
{
	int64_t deadline = qm_now_ms() + timeout_ms, left;
	struct pollfd pfd = { .fd = f->ifd, .events = POLLIN };

	for (;;) {
		if (gl_follow_process(f, err) < 0)
			return false;
		if (pred(&f->log, arg))
			return true;
		left = deadline - qm_now_ms();
		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)QM_MIN(left, GL_POLL_SLICE_MS)) < 0 &&
		    errno != EINTR)
			return qm_error_errno(err, errno, "poll on %s",
					      f->path);
	}
	return qm_error_set(err, QM_ERR_TIMEOUT,
			    "waiting for %s in %s: timed out after %d ms "
			    "(%" PRIu64 " lines, ready %s, %" PRIu64
			    " heartbeats, last %" PRIu64 ")",
			    what, f->path, timeout_ms, f->log.lines,
			    f->log.ready ? "yes" : "no", f->log.hb_count,
			    f->log.hb_last.seq);
}

bool gl_pred_ready(const gl_log *log, const void *arg)
{
	return log->ready;
}

bool gl_pred_hb_count(const gl_log *log, const void *arg)
{
	return log->hb_count >= *(const uint64_t *)arg;
}

bool gl_pred_corrupt(const gl_log *log, const void *arg)
{
	return log->corrupt_total > 0;
}

bool gl_follow_wait_ready(gl_follow *f, int timeout_ms, qm_error *err)
{
	return gl_follow_wait(f, gl_pred_ready, NULL, "READY", timeout_ms, err);
}

bool gl_follow_wait_hb(gl_follow *f, uint64_t count, int timeout_ms,
		       qm_error *err)
{
	char what[48];

	snprintf(what, sizeof(what), "%" PRIu64 " heartbeats", count);
	return gl_follow_wait(f, gl_pred_hb_count, &count, what, timeout_ms,
			      err);
}

bool gl_follow_wait_corrupt(gl_follow *f, int timeout_ms, qm_error *err)
{
	return gl_follow_wait(f, gl_pred_corrupt, NULL, "a CORRUPT line",
			      timeout_ms, err);
}

void gl_follow_close(gl_follow *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->ifd >= 0)
		close(f->ifd);
	f->fd = f->ifd = -1;
}
