/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmig-guestlog: summarise the workload guest's serial log, or judge a
 * switchover from the source's and the destination's logs.
 *
 *   qmig-guestlog FILE [--follow SECONDS] [--json]
 *   qmig-guestlog --continuity SRC DST [--json]
 *   qmig-guestlog --ram RAMFILE FILE [--json]
 *
 * With --follow it watches FILE for SECONDS and stamps bytes as they
 * arrive, so heartbeat gaps are real; a file read after the fact has no
 * timestamps, and gaps and downtime print as n/a.
 *
 * --ram checks the guest's pages in its RAM backend file against its
 * generation table (boot line taken from FILE); the guest must be stopped.
 *
 * Exit status: 0 done (continuity: verdict OK; ram: no bad page); 1
 * continuity verdict not OK, or bad pages; 2 bad usage or a file that
 * cannot be read.
 */
#define LOG_PREFIX "qmig-guestlog"
#include "tools/guest/guestlog.h"

#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#define EXIT_NOT_OK	1
#define EXIT_USAGE	2

struct opts {
	bool json;
	bool continuity;
	bool ram;
	int follow_s;		/* -1: read once */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: qmig-guestlog FILE [--follow SECONDS] [--json]\n"
		"       qmig-guestlog --continuity SRC DST [--json]\n"
		"       qmig-guestlog --ram RAMFILE FILE [--json]\n");
}

static void die_err(const qm_error *err)
{
	pr_err("%s", err->msg);
	exit(EXIT_USAGE);
}

/* ---- text output ---- */

static void print_ms(const char *label, int64_t ns)
{
	if (ns == GL_TS_NONE)
		printf("%s n/a (no timestamps)\n", label);
	else
		printf("%s %.3f ms\n", label, ns / 1e6);
}

static void text_boot(const gl_log *l)
{
	const gl_boot *b = &l->boot;

	if (!l->boots) {
		printf("boot:        (no boot line)\n");
		return;
	}
	printf("boot:        v%u ws=%" PRIu64 " pages=%" PRIu64 " base=0x%"
	       PRIx64 " table=0x%" PRIx64 " pattern=%s rate=%u zero=%u dup=%u"
	       " hb=%u tsc_khz=%u\n", b->version, b->ws, b->pages, b->base,
	       b->table, b->pattern, b->rate, b->zero, b->dup, b->hb_ms,
	       b->tsc_khz);
	if (l->boots > 1)
		printf("             (%u boot lines: the guest rebooted)\n",
		       l->boots);
}

static void text_hb(const gl_log *l)
{
	printf("heartbeats:  %" PRIu64, l->hb_count);
	if (l->hb_count)
		printf(" (first %" PRIu64 ", last %" PRIu64 ")",
		       l->hb_first.seq, l->hb_last.seq);
	printf(", seq breaks %" PRIu64 "\n", l->hb_seq_breaks);
	if (l->hb_seq_breaks)
		printf("             first break: HB %" PRIu64 " then HB %"
		       PRIu64 "\n", l->hb_break_from.seq, l->hb_break_to.seq);
	if (l->hb_count < 2 || l->hb_max_gap_ns == 0) {
		printf("max gap:     n/a\n");
		return;
	}
	printf("max gap:     %.3f ms between HB %" PRIu64 " and HB %" PRIu64
	       "\n", l->hb_max_gap_ns / 1e6, l->hb_gap_from.seq,
	       l->hb_gap_to.seq);
}

static void text_summary(const char *path, const gl_log *l)
{
	unsigned i;

	printf("file:        %s\n", path);
	text_boot(l);
	printf("ready:       %s\n", l->ready ? "yes" : "no");
	text_hb(l);
	printf("corrupt:     %" PRIu64 " (lines %" PRIu64 ")\n",
	       l->corrupt_total, l->corrupt_lines);
	for (i = 0; i < l->corrupt_kept; i++)
		printf("             page %u gen=%u found=%u,%u\n",
		       l->corrupt[i].page, l->corrupt[i].gen,
		       l->corrupt[i].w0, l->corrupt[i].w1);
	if (l->stats)
		printf("stat:        t=%" PRIu64 " writes=%" PRIu64 " checks=%"
		       PRIu64 " passes=%" PRIu64 " pass_ms=%" PRIu64 "\n",
		       l->stat.t, l->stat.writes, l->stat.checks,
		       l->stat.passes, l->stat.pass_ms);
	printf("lines:       %" PRIu64 " (malformed %" PRIu64 ", warnings %"
	       PRIu64 ")\n", l->lines, l->malformed, l->warnings);
	if (l->malformed)
		printf("             last malformed: \"%s\"\n",
		       l->last_malformed);
	if (l->warnings)
		printf("             last warning: \"%s\"\n", l->last_warning);
	if (l->partial_len)
		printf("unfinished:  \"%s\"\n", l->partial);
}

static void text_continuity(const gl_continuity *c)
{
	if (c->src_has_hb)
		printf("source last HB:       %" PRIu64 "%s\n", c->src_last.seq,
		       c->joined && !c->join_bad ?
		       " (line completed by the destination)" : "");
	if (c->dst_has_hb)
		printf("destination first HB: %" PRIu64 "\n", c->dst_first.seq);
	if (c->joined)
		printf("joined line:          \"%s\"%s\n", c->joined_line,
		       c->join_bad ? " (stale: not the source's next line)" :
		       "");
	printf("verdict:              %s\n", gl_verdict_name(c->verdict));
	if (c->why[0])
		printf("why:                  %s\n", c->why);
	if (c->src_has_hb && c->dst_has_hb)
		print_ms("downtime:            ", c->downtime_ns);
}

/* ---- JSON output ---- */

static void jset(json_object *o, const char *k, json_object *v)
{
	json_object_object_add(o, k, v);
}

static json_object *jint(uint64_t v)
{
	return json_object_new_uint64(v);
}

static json_object *jms(int64_t ns)
{
	return ns == GL_TS_NONE ? NULL : json_object_new_double(ns / 1e6);
}

static json_object *json_boot(const gl_log *l)
{
	const gl_boot *b = &l->boot;
	json_object *o;

	if (!l->boots)
		return NULL;
	o = json_object_new_object();
	jset(o, "version", jint(b->version));
	jset(o, "ws", jint(b->ws));
	jset(o, "pages", jint(b->pages));
	jset(o, "base", jint(b->base));
	jset(o, "table", jint(b->table));
	jset(o, "seqaddr", jint(b->seqaddr));
	jset(o, "inflight", jint(b->inflight));
	jset(o, "pattern", json_object_new_string(b->pattern));
	jset(o, "rate", jint(b->rate));
	jset(o, "hot", jint(b->hot));
	jset(o, "hotw", jint(b->hotw));
	jset(o, "zero", jint(b->zero));
	jset(o, "dup", jint(b->dup));
	jset(o, "hb_ms", jint(b->hb_ms));
	jset(o, "seed", jint(b->seed));
	jset(o, "tsc_khz", jint(b->tsc_khz));
	return o;
}

static json_object *json_hb(const gl_log *l)
{
	json_object *o = json_object_new_object();

	jset(o, "count", jint(l->hb_count));
	jset(o, "first", l->hb_count ? jint(l->hb_first.seq) : NULL);
	jset(o, "last", l->hb_count ? jint(l->hb_last.seq) : NULL);
	jset(o, "seq_breaks", jint(l->hb_seq_breaks));
	if (l->hb_max_gap_ns > 0) {
		jset(o, "max_gap_ms", jms(l->hb_max_gap_ns));
		jset(o, "max_gap_from", jint(l->hb_gap_from.seq));
		jset(o, "max_gap_to", jint(l->hb_gap_to.seq));
	} else {
		jset(o, "max_gap_ms", NULL);
	}
	return o;
}

static json_object *json_corrupt(const gl_log *l)
{
	json_object *o = json_object_new_object();
	json_object *pages = json_object_new_array();
	unsigned i;

	jset(o, "total", jint(l->corrupt_total));
	jset(o, "lines", jint(l->corrupt_lines));
	for (i = 0; i < l->corrupt_kept; i++)
		json_object_array_add(pages, jint(l->corrupt[i].page));
	jset(o, "pages", pages);
	return o;
}

static json_object *json_stat(const gl_log *l)
{
	json_object *o;

	if (!l->stats)
		return NULL;
	o = json_object_new_object();
	jset(o, "t", jint(l->stat.t));
	jset(o, "writes", jint(l->stat.writes));
	jset(o, "checks", jint(l->stat.checks));
	jset(o, "passes", jint(l->stat.passes));
	jset(o, "pass_ms", jint(l->stat.pass_ms));
	jset(o, "corrupt", jint(l->stat.corrupt));
	return o;
}

static json_object *json_summary(const char *path, const gl_log *l)
{
	json_object *o = json_object_new_object();

	jset(o, "file", json_object_new_string(path));
	jset(o, "boot", json_boot(l));
	jset(o, "boots", jint(l->boots));
	jset(o, "ready", json_object_new_boolean(l->ready));
	jset(o, "hb", json_hb(l));
	jset(o, "corrupt", json_corrupt(l));
	jset(o, "stat", json_stat(l));
	jset(o, "lines", jint(l->lines));
	jset(o, "malformed", jint(l->malformed));
	jset(o, "last_malformed", l->malformed ?
	     json_object_new_string(l->last_malformed) : NULL);
	jset(o, "warnings", jint(l->warnings));
	jset(o, "last_warning", l->warnings ?
	     json_object_new_string(l->last_warning) : NULL);
	jset(o, "unfinished", l->partial_len ?
	     json_object_new_string(l->partial) : NULL);
	return o;
}

static json_object *json_continuity(const gl_continuity *c)
{
	json_object *o = json_object_new_object();

	jset(o, "verdict", json_object_new_string(gl_verdict_name(c->verdict)));
	jset(o, "src_last", c->src_has_hb ? jint(c->src_last.seq) : NULL);
	jset(o, "dst_first", c->dst_has_hb ? jint(c->dst_first.seq) : NULL);
	jset(o, "seq_delta", c->src_has_hb && c->dst_has_hb ?
	     json_object_new_int64(c->seq_delta) : NULL);
	jset(o, "downtime_ms", jms(c->downtime_ns));
	jset(o, "joined", json_object_new_boolean(c->joined));
	jset(o, "joined_line", c->joined ?
	     json_object_new_string(c->joined_line) : NULL);
	jset(o, "join_bad", json_object_new_boolean(c->join_bad));
	jset(o, "why", c->why[0] ? json_object_new_string(c->why) : NULL);
	return o;
}

static void print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* ---- modes ---- */

static void follow(gl_follow *f, int seconds)
{
	int64_t deadline = qm_now_ms() + (int64_t)seconds * 1000, left;
	struct pollfd pfd = { .fd = gl_follow_fd(f), .events = POLLIN };
	qm_error err = QM_ERROR_INIT;

	while ((left = deadline - qm_now_ms()) > 0) {
		poll(&pfd, 1, (int)QM_MIN(left, 100));
		if (gl_follow_process(f, &err) < 0)
			die_err(&err);
	}
}

static int summary(const char *path, const struct opts *o)
{
	qm_error err = QM_ERROR_INIT;
	gl_follow f;
	gl_log log;

	if (o->follow_s >= 0) {
		if (!gl_follow_open(&f, path, 0, &err))
			die_err(&err);
		follow(&f, o->follow_s);
		gl_follow_close(&f);
		log = f.log;
	} else {
		gl_log_init(&log, 0);
		if (!gl_log_read_file(&log, path, GL_TS_NONE, &err))
			die_err(&err);
	}
	if (o->json)
		print_json(json_summary(path, &log));
	else
		text_summary(path, &log);
	return 0;
}

static int continuity(const char *src_path, const char *dst_path,
		      const struct opts *o)
{
	qm_error err = QM_ERROR_INIT;
	gl_log src, dst;
	gl_continuity c;

	gl_log_init(&src, 0);
	gl_log_init(&dst, GL_LOG_CONTINUES);
	if (!gl_log_read_file(&src, src_path, GL_TS_NONE, &err) ||
	    !gl_log_read_file(&dst, dst_path, GL_TS_NONE, &err))
		die_err(&err);
	gl_continuity_check(&src, &dst, &c);
	if (o->json)
		print_json(json_continuity(&c));
	else
		text_continuity(&c);
	return c.verdict == GL_VERDICT_OK ? 0 : EXIT_NOT_OK;
}

static void text_ram(const gl_ram_report *r)
{
	unsigned i;
	int k;

	printf("pages:       %" PRIu64 "\n", r->pages);
	printf("by kind:    ");
	for (k = 0; k < GP_KIND__COUNT; k++)
		printf(" %s=%" PRIu64, gp_kind_name(k), r->kinds[k]);
	printf("\nbad pages:   %" PRIu64 "\n", r->bad);
	for (i = 0; i < r->kept; i++)
		printf("             page %u gen=%u found=%u,%u\n",
		       r->first[i].page, r->first[i].gen, r->first[i].w0,
		       r->first[i].w1);
	if (r->hb_seq_valid)
		printf("HB in RAM:   %u\n", r->hb_seq);
	if (r->inflight)
		printf("in flight:   page %u (%s)\n", r->inflight - 1,
		       r->inflight_bad ? "half written, not counted" :
		       "complete");
}

static json_object *json_ram(const gl_ram_report *r)
{
	json_object *o = json_object_new_object();
	json_object *kinds = json_object_new_object();
	json_object *bad = json_object_new_array();
	unsigned i;
	int k;

	jset(o, "pages", jint(r->pages));
	for (k = 0; k < GP_KIND__COUNT; k++)
		jset(kinds, gp_kind_name(k), jint(r->kinds[k]));
	jset(o, "kinds", kinds);
	jset(o, "bad", jint(r->bad));
	for (i = 0; i < r->kept; i++)
		json_object_array_add(bad, jint(r->first[i].page));
	jset(o, "bad_pages", bad);
	jset(o, "hb_seq", r->hb_seq_valid ? jint(r->hb_seq) : NULL);
	jset(o, "inflight_page", r->inflight ? jint(r->inflight - 1) : NULL);
	jset(o, "inflight_bad", json_object_new_boolean(r->inflight_bad));
	return o;
}

static int ram_check(const char *ram_path, const char *log_path,
		     const struct opts *o)
{
	qm_error err = QM_ERROR_INIT;
	gl_ram_report r;
	gl_log log;

	gl_log_init(&log, 0);
	if (!gl_log_read_file(&log, log_path, GL_TS_NONE, &err))
		die_err(&err);
	if (!log.boots) {
		pr_err("%s has no boot line", log_path);
		return EXIT_USAGE;
	}
	if (!gl_ram_check_file(ram_path, &log.boot, &r, &err))
		die_err(&err);
	if (o->json)
		print_json(json_ram(&r));
	else
		text_ram(&r);
	return r.bad ? EXIT_NOT_OK : 0;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "follow", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "continuity", no_argument, NULL, 'c' },
		{ "ram", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int c;

	o->follow_s = -1;
	while ((c = getopt_long(argc, argv, "f:jcrh", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 0 || v > 86400) {
				pr_err("--follow: '%s' is not 0..86400 seconds",
				       optarg);
				exit(EXIT_USAGE);
			}
			o->follow_s = (int)v;
			break;
		case 'j': o->json = true; break;
		case 'c': o->continuity = true; break;
		case 'r': o->ram = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(EXIT_USAGE);
		}
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int npos;

	parse_opts(argc, argv, &o);
	npos = argc - optind;
	if (o.continuity && o.ram)
		npos = -1;
	if (o.continuity && npos == 2 && o.follow_s < 0)
		return continuity(argv[optind], argv[optind + 1], &o);
	if (o.ram && npos == 2 && o.follow_s < 0)
		return ram_check(argv[optind], argv[optind + 1], &o);
	if (!o.continuity && !o.ram && npos == 1)
		return summary(argv[optind], &o);
	usage(stderr);
	return EXIT_USAGE;
}
