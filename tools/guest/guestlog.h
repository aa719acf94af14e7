/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guestlog: read what the workload guest (tools/guest) prints on its
 * serial port, as it arrives, and judge a switchover from it.
 *
 *   guest --COM1--> QEMU -serial file:LOG --IN_MODIFY--> gl_follow
 *                                                           |  read(); stamp
 *                                                           v  CLOCK_MONOTONIC
 *                                  gl_log_feed(log, bytes, len, ts_ns)
 *                                                           |  lines, parse
 *                                                           v
 *                  gl_log: boot fields, READY, heartbeats, gaps, CORRUPT, STAT
 *
 *   source LOG "...HB 41\nHB 4" --+
 *                                 +-- gl_continuity_check() --> OK
 *   dest LOG   "2\nHB 43\n..."  --+   LOST_UPDATES / GAP / UNKNOWN, downtime
 *
 * Lines (one per '\n'; '\r' is dropped; empty lines are ignored):
 *   QMIG-GUEST v1 ws=N pages=N base=0xH table=0xH [key=value ...]
 *   READY
 *   HB <seq>
 *   STAT [key=value ...]         (t hb writes checks passes pass_ms corrupt)
 *   CORRUPT <page> gen=<g> found=<w0>,<w1> [key=value ...]
 *   CORRUPT-COUNT <n>
 *   INFO <text>   WARN <text>
 * Anything else, or a known line that does not parse, counts as malformed.
 * Unknown key=value fields in the boot, STAT and CORRUPT lines are skipped,
 * so the guest may append fields.
 *
 * Timestamps: a line is stamped with the timestamp of the chunk holding
 * its first byte, i.e. when the guest started printing it. GL_TS_NONE
 * means "unknown" (a file read after the fact); gaps and downtime are only
 * computed between known timestamps.
 *
 * Ownership: gl_log is plain memory with no allocations; the caller owns
 * it (embed it, copy it). gl_follow owns two file descriptors, released by
 * gl_follow_close().
 *
 * Threads: none inside. A gl_log or gl_follow is used by one thread at a
 * time; distinct objects are independent.
 */
#ifndef QMIG_GUESTLOG_H
#define QMIG_GUESTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "tools/guest/page.h"

#define GL_LINE_MAX	512	/* longer lines are malformed */
#define GL_CORRUPT_KEEP	10	/* the guest prints at most 10 itself */
#define GL_TS_NONE	INT64_MIN
#define GL_TEXT_MAX	96	/* kept copies of WARN / malformed lines */

/* gl_log_init() flags */
enum {
	/*
	 * This log continues another one (a migration destination): the bytes
	 * before its first '\n' may be the tail of the other log's unfinished
	 * last line, so they are held back in @head instead of being parsed.
	 * gl_continuity_check() joins them with the other log's @partial.
	 */
	GL_LOG_CONTINUES = 1u << 0,
};

/* The boot line. */
typedef struct gl_boot {
	unsigned version;	/* from "v1" */
	uint64_t ws;		/* bytes */
	uint64_t pages;
	uint64_t base;		/* guest-physical address of page 0 */
	uint64_t table;		/* guest-physical address of the table */
	uint64_t seqaddr;	/* guest-physical address of the HB counter */
	uint64_t inflight;	/* ... of the in-flight write (index + 1) */
	uint32_t rate, zero, dup, hb_ms, tsc_khz, hot, hotw, seed;
	char pattern[16];
} gl_boot;

/* A heartbeat: its number and when its line started arriving. */
typedef struct gl_hb {
	uint64_t seq;
	int64_t ts;		/* CLOCK_MONOTONIC ns or GL_TS_NONE */
} gl_hb;

/* One CORRUPT line. */
typedef struct gl_corrupt {
	uint32_t page, gen, w0, w1;
} gl_corrupt;

/* The last STAT line; missing keys stay 0. */
typedef struct gl_stat {
	uint64_t t, hb, writes, checks, passes, pass_ms, corrupt;
	int64_t ts;
} gl_stat;

typedef struct gl_log {
	unsigned flags;

	/* Results: read them, do not write them. */
	unsigned boots;		/* boot lines seen; @boot is the last */
	gl_boot boot;
	bool ready;
	int64_t ready_ts;

	uint64_t lines;		/* non-empty lines parsed */
	uint64_t malformed;
	char last_malformed[GL_TEXT_MAX];
	uint64_t warnings;
	char last_warning[GL_TEXT_MAX];

	uint64_t hb_count;
	gl_hb hb_first, hb_last;
	/* Largest host-time gap between consecutive heartbeats, and the
	 * heartbeats either side of it (0 / unset until two stamped HBs). */
	int64_t hb_max_gap_ns;
	gl_hb hb_gap_from, hb_gap_to;
	/* Heartbeats whose seq is not the previous one + 1; the first. */
	uint64_t hb_seq_breaks;
	gl_hb hb_break_from, hb_break_to;

	uint64_t corrupt_lines;	/* CORRUPT lines seen */
	uint64_t corrupt_total;	/* max of lines seen and guest-reported count */
	unsigned corrupt_kept;
	gl_corrupt corrupt[GL_CORRUPT_KEEP];

	unsigned stats;		/* STAT lines seen; @stat is the last */
	gl_stat stat;

	/* The unfinished last line (no '\n' yet) and when it started. */
	char partial[GL_LINE_MAX];
	size_t partial_len;
	int64_t partial_ts;
	bool partial_overflow;

	/* GL_LOG_CONTINUES: the held-back first line. */
	bool head_done;
	bool head_overflow;
	char head[GL_LINE_MAX];
	size_t head_len;
	int64_t head_ts;
} gl_log;

/* gl_log_init: reset @log to "nothing seen"; @flags: GL_LOG_*. */
void gl_log_init(gl_log *log, unsigned flags);

/*
 * gl_log_feed: parse @len bytes of serial output that arrived at @ts_ns
 * (CLOCK_MONOTONIC ns, or GL_TS_NONE). Chunks may split lines anywhere;
 * feeding a stream in any split gives the same result as feeding it whole,
 * except for the timestamps. Never fails: bad lines are counted.
 */
void gl_log_feed(gl_log *log, const void *buf, size_t len, int64_t ts_ns);

/*
 * gl_log_read_file: feed the whole of @path to @log, stamped @ts_ns.
 * Returns: false and *err (QM_ERR_IO) if the file cannot be read; bytes
 * read before the error stay fed.
 */
bool gl_log_read_file(gl_log *log, const char *path, int64_t ts_ns,
		      qm_error *err);

/* ---- continuity across a switchover ---- */

typedef enum gl_verdict {
	GL_VERDICT_UNKNOWN = 0,	/* a side has no heartbeat: cannot judge */
	GL_VERDICT_OK,		/* dest first == source last + 1 */
	GL_VERDICT_LOST_UPDATES,/* dest first <= source last, or a bad join:
				 * the destination runs on older memory */
	GL_VERDICT_GAP,		/* dest first > source last + 1 */
	GL_VERDICT__COUNT
} gl_verdict;

typedef struct gl_continuity {
	gl_verdict verdict;
	bool src_has_hb, dst_has_hb;
	gl_hb src_last;		/* source's last heartbeat */
	gl_hb dst_first;	/* destination's first heartbeat */
	int64_t seq_delta;	/* dst_first.seq - src_last.seq; 1 is right */
	/* dst_first.ts - src_last.ts: guest-visible downtime; GL_TS_NONE if
	 * either timestamp is unknown. */
	int64_t downtime_ns;
	/* The source's unfinished last line was completed by the head of the
	 * destination log ("HB 4" + "2" = "HB 42", counted for the source). */
	bool joined;
	char joined_line[GL_TEXT_MAX];
	/* ... but the joined line is not the source's next line (malformed,
	 * or a heartbeat other than the source's last + 1): the destination
	 * finished it from stale memory. Makes the verdict LOST_UPDATES. */
	bool join_bad;
	char why[160];		/* for UNKNOWN and a bad join: the reason */
} gl_continuity;

/*
 * gl_continuity_check: compare the source log @src (fed to its end) with
 * the destination log @dst (initialised with GL_LOG_CONTINUES, fed so
 * far) and fill @out. Pure: neither log changes, so it may be called again
 * as @dst grows. If @dst lacks GL_LOG_CONTINUES, its first line is taken
 * as it was parsed and @src's unfinished line is ignored.
 *
 * A line the source left unfinished must be completed by the destination
 * into the source's next line. Native pre-copy under TCG was seen to
 * resume a guest mid-line from a stale stack buffer ("H" + "B 4475" after
 * HB 4527) while the heartbeat counter itself was current: that is
 * reported as LOST_UPDATES with @join_bad, not judged by numbers alone.
 * Returns: out->verdict.
 */
gl_verdict gl_continuity_check(const gl_log *src, const gl_log *dst,
			       gl_continuity *out);

/* Stable upper-case name: "UNKNOWN", "OK", "LOST_UPDATES", "GAP". */
const char *gl_verdict_name(gl_verdict v);

/* ---- following a growing file ---- */

typedef struct gl_follow {
	gl_log log;
	int fd;			/* the serial log, read-only */
	int ifd;		/* inotify, IN_MODIFY on the file */
	uint64_t offset;	/* bytes fed so far */
	char path[256];
} gl_follow;

/*
 * gl_follow_open: open @path (which must exist: QEMU creates it at start),
 * watch it with inotify and feed what it already holds (stamped now).
 * @flags go to gl_log_init().
 * Returns: false and *err (QM_ERR_IO, QM_ERR_TOO_BIG for a long path)
 * on failure, with nothing left open.
 */
bool gl_follow_open(gl_follow *f, const char *path, unsigned flags,
		    qm_error *err);

/* gl_follow_fd: the descriptor to poll for POLLIN; then call
 * gl_follow_process(). */
int gl_follow_fd(const gl_follow *f);

/*
 * gl_follow_process: drain pending inotify events and feed every new byte
 * of the file, each read() stamped with qm_now_ns() right after it
 * returns. Never blocks. Safe to call without an event (it just reads).
 * Returns: bytes fed (0 if none), or -1 and *err: QM_ERR_IO on a failed
 * read, QM_ERR_STATE if the file shrank (it was truncated or replaced).
 */
int64_t gl_follow_process(gl_follow *f, qm_error *err);

/* A condition on the log, for gl_follow_wait(). */
typedef bool (*gl_pred)(const gl_log *log, const void *arg);

bool gl_pred_ready(const gl_log *log, const void *arg);	 /* arg unused */
bool gl_pred_hb_count(const gl_log *log, const void *arg); /* uint64_t * */
bool gl_pred_corrupt(const gl_log *log, const void *arg); /* arg unused */

/*
 * gl_follow_wait: process the file until @pred(&f->log, @arg) holds or
 * @timeout_ms passes (checked before waiting, so a condition that already
 * holds returns at once). @what names the condition in error messages.
 * Returns: true when it holds; false and *err: QM_ERR_TIMEOUT (the message
 * says how far the log got), or an error of gl_follow_process().
 */
bool gl_follow_wait(gl_follow *f, gl_pred pred, const void *arg,
		    const char *what, int timeout_ms, qm_error *err);

/* Shorthands: the guest printed READY; @count heartbeats in total; a
 * CORRUPT or CORRUPT-COUNT line. */
bool gl_follow_wait_ready(gl_follow *f, int timeout_ms, qm_error *err);
bool gl_follow_wait_hb(gl_follow *f, uint64_t count, int timeout_ms,
		       qm_error *err);
bool gl_follow_wait_corrupt(gl_follow *f, int timeout_ms, qm_error *err);

/* gl_follow_close: close the descriptors; the log stays readable. Safe to
 * call twice. */
void gl_follow_close(gl_follow *f);

/* ---- checking guest RAM from the host (guestram.c) ---- */

typedef struct gl_ram_report {
	uint64_t pages;		/* working-set pages checked */
	uint64_t kinds[GP_KIND__COUNT]; /* pages by expected kind */
	uint64_t bad;		/* pages that differ, not counting in flight */
	unsigned kept;
	gl_corrupt first[GL_CORRUPT_KEEP]; /* gen expected, w0/w1 found */
	bool hb_seq_valid;	/* the boot line gave seqaddr */
	uint32_t hb_seq;	/* heartbeat number stored in guest RAM */
	bool inflight_valid;	/* the boot line gave inflight */
	uint32_t inflight;	/* page being written + 1; 0 = none */
	bool inflight_bad;	/* that page was half written: not counted */
} gl_ram_report;

/*
 * gl_ram_check: check every working-set page of a guest's RAM against its
 * generation table, as the guest itself does (page.h), and read the
 * heartbeat counter. Use it where the guest cannot check itself: on a
 * destination that is still paused, or on a source after it stopped.
 * @ram: the RAM from guest-physical address 0 (on the pc machine the RAM
 *       backend file is laid out that way below 3 GiB), @len bytes, e.g. a
 *       read-only mapping of the backend file.
 * @boot: the boot line of that guest (base, table, pages, zero, dup).
 * The guest must not run meanwhile (QMP stop, or SIGSTOP of QEMU): a page
 * it writes during the check may be reported bad. The one write a stopped
 * guest may have left half done is known from its inflight word and is
 * not counted as bad (see @inflight_bad).
 * Returns: true with @out filled (bad pages are a result, not an error);
 * false and *err: QM_ERR_INVAL if @boot has no pages, QM_ERR_TOO_BIG if
 * the table or the working set end beyond @len.
 */
bool gl_ram_check(const void *ram, uint64_t len, const gl_boot *boot,
		  gl_ram_report *out, qm_error *err);

/*
 * gl_ram_check_file: gl_ram_check() on the RAM backend file @path, read
 * with pread() so holes stay holes. Returns false and *err: QM_ERR_IO if
 * it cannot be read, QM_ERR_NOMEM, or an error of gl_ram_check().
 */
bool gl_ram_check_file(const char *path, const gl_boot *boot,
		       gl_ram_report *out, qm_error *err);

#endif /* QMIG_GUESTLOG_H */
