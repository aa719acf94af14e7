/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a scenario produced: one "run" line per migration as it ends, then
 * markdown tables (median [min-max] over repetitions), the ratios qmig /
 * the best QEMU method, the scenario's targets judged, and, with --out,
 * the same tables, the data files and a gnuplot script for the plots.
 */
#include "tools/bench/bm.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Everything the tables say goes to stdout and, with --out, to NAME.md. */
static FILE *g_md;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (g_md) {
		va_start(ap, fmt);
		vfprintf(g_md, fmt, ap);
		va_end(ap);
	}
}

/* ---- the machine, read at run time ---- */

static void first_line_of(const char *cmd, char *buf, size_t len)
{
	FILE *p = popen(cmd, "r");

	buf[0] = '\0';
	if (p && fgets(buf, (int)len, p))
		buf[strcspn(buf, "\n")] = '\0';
	if (p)
		pclose(p);
}

static void cpu_model(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "?");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(buf, len, "%s", c + 2);
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
}

static double mem_gib(void)
{
	return (double)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE) /
	       (1u << 30);
}

static char g_machine[512];

static const char *machine(void)
{
	struct utsname u;
	char model[128], qemu[128], cmd[300];
	const char *accel;

	if (g_machine[0])
		return g_machine;
	cpu_model(model, sizeof(model));
	snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null",
		 ql_qemu_binary() ? ql_qemu_binary() : "qemu-system-x86_64");
	first_line_of(cmd, qemu, sizeof(qemu));
	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "?");
	/* The launcher's own choice (launch.h): QMIG_ACCEL, else KVM only
	 * where it has real hardware virtualisation. */
	accel = getenv("QMIG_ACCEL");
	if (!accel || !*accel || !strcmp(accel, "auto"))
		accel = ql_kvm_usable(NULL, 0) ? "kvm" : "tcg";
	snprintf(g_machine, sizeof(g_machine), "%ld CPUs (%s), %.1f GiB RAM, "
		 "Linux %s, %s, accel %s", sysconf(_SC_NPROCESSORS_ONLN), model,
		 mem_gib(), u.release, qemu[0] ? qemu : "QEMU ?", accel);
	return g_machine;
}

void bm_report_header(const bm_scenario *s, const char *link_note)
{
	printf("# bench-migrate scenario=%s ram=%lluM append=\"%s\" reps=%d "
	       "max_downtime_ms=%g deadline_s=%g warmup_ms=%d verify=%s "
	       "return_trip=%d\n", s->name, (unsigned long long)(s->ram >> 20),
	       s->append, s->reps, s->max_downtime_ms, s->deadline_s,
	       s->warmup_ms, s->verify, s->return_trip);
	printf("# link bandwidth_mbit=%g rtt_ms=%g loss_pct=%g: %s\n",
	       s->link.bw_mbit, s->link.rtt_ms, s->link.loss_pct, link_note);
	printf("# machine: %s; load1 %.2f\n", machine(), bm_load1());
	fflush(stdout);
}

static double pred_err_pct(const bm_run *r)
{
	if (r->downtime_ms <= 0 || r->predicted_ms <= 0)
		return -1;
	return fabs(r->predicted_ms - r->downtime_ms) / r->downtime_ms * 100;
}

void bm_report_run(const bm_scenario *s, int m, const bm_run *r)
{
	printf("run scenario=%s method=%s rep=%d status=%s phase=%s "
	       "total_ms=%.0f downtime_ms=%.1f predicted_ms=%.1f "
	       "pred_err_pct=%.1f gv_ms=%.1f wire_bytes=%llu "
	       "reported_bytes=%llu cpu_s=%.2f cpu_agents_s=%.2f rounds=%lld "
	       "throttle_max=%lld pages_have=%llu mismatches=%lld "
	       "continuity=%s corrupt=%lld hb_breaks=%lld dst_alloc_mb=%.0f "
	       "deadline_met=%s load=%.2f parts=%s predicted_parts=%s "
	       "error=\"%s\"\n", s->name,
	       bm_method_name[m], r->rep, r->status, r->phase, r->total_ms,
	       r->downtime_ms, r->predicted_ms, pred_err_pct(r),
	       r->gv_ms, (unsigned long long)r->wire_bytes,
	       (unsigned long long)r->reported_bytes, r->cpu_s, r->cpu_agents_s,
	       (long long)r->rounds, (long long)r->throttle_max,
	       (unsigned long long)r->pages_have, (long long)r->mismatches,
	       r->continuity ? r->continuity : "-", (long long)r->corrupt,
	       (long long)r->breaks, r->dst_alloc / 1048576.0,
	       s->deadline_s > 0 ? (r->deadline_met ? "yes" : "no") : "-",
	       r->load, r->parts[0] ? r->parts : "-",
	       r->pparts[0] ? r->pparts : "-", r->error);
	fflush(stdout);
}

/* ---- aggregation ---- */

typedef struct agg {
	double med, min, max;
	int n;
} agg;

/* The numbers a table shows, per run; negative = unknown. */
typedef struct rowv {
	double total, down, pred, prederr, gv, wire, reported, cpu;
} rowv;

static const bm_scenario *S;
static bm_run (*R)[BM_MAX_REPS];

static rowv row_of(const bm_run *r)
{
	return (rowv){ .total = r->total_ms,
		       .down = r->downtime_ms, .pred = r->predicted_ms,
		       .prederr = pred_err_pct(r), .gv = r->gv_ms,
		       .wire = (double)r->wire_bytes,
		       .reported = (double)r->reported_bytes, .cpu = r->cpu_s };
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median, min, max of the field at @off over method @m's correct runs
 * (every completed run if @any). */
static agg agg_v(int m, size_t off, bool any)
{
	double v[BM_MAX_REPS];
	agg a = { 0 };

	for (int i = 0; i < S->reps; i++) {
		const bm_run *r = &R[m][i];
		rowv rv = row_of(r);
		double x = *(const double *)((const char *)&rv + off);

		if ((any ? r->completed : r->correct) && x >= 0)
			v[a.n++] = x;
	}
	if (!a.n)
		return a;
	qsort(v, a.n, sizeof(v[0]), cmp_double);
	a.min = v[0];
	a.max = v[a.n - 1];
	a.med = a.n % 2 ? v[a.n / 2] : (v[a.n / 2 - 1] + v[a.n / 2]) / 2;
	return a;
}

static void cell(agg a, double scale, const char *fmt)
{
	char m[32], lo[32], hi[32];

	if (!a.n) {
		out(" – |");
		return;
	}
	snprintf(m, sizeof(m), fmt, a.med / scale);
	snprintf(lo, sizeof(lo), fmt, a.min / scale);
	snprintf(hi, sizeof(hi), fmt, a.max / scale);
	if (a.n == 1 || !strcmp(lo, hi))
		out(" %s |", m);
	else
		out(" %s [%s–%s] |", m, lo, hi);
}

static int count(int m, bool correct)
{
	int n = 0;

	for (int i = 0; i < S->reps; i++)
		n += correct ? R[m][i].correct : R[m][i].completed;
	return n;
}

static void table(bool any)
{
	out("\n| method | %s | total s | downtime ms | predicted ms | "
	    "prediction error %% | guest-visible ms | wire MB | reported MB "
	    "| CPU s |%s\n", any ? "completed / runs" : "correct / runs",
	    S->deadline_s > 0 ? " deadline met |" : "");
	out("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |%s\n",
	    S->deadline_s > 0 ? " --- |" : "");
	for (int m = 0; m < M__COUNT; m++) {
		int ok = count(m, true), done = count(m, false), met = 0;

		if (!S->methods[m] || (any && ok == done))
			continue;
		for (int i = 0; i < S->reps; i++)
			met += R[m][i].deadline_met;
		out(any ? "| *%s* | *%d / %d* |" : "| %s | %d / %d |",
		    bm_method_name[m], any ? done : ok, S->reps);
		cell(agg_v(m, offsetof(rowv, total), any), 1000, "%.2f");
		cell(agg_v(m, offsetof(rowv, down), any), 1, "%.0f");
		cell(agg_v(m, offsetof(rowv, pred), any), 1, "%.0f");
		cell(agg_v(m, offsetof(rowv, prederr), any), 1, "%.0f");
		cell(agg_v(m, offsetof(rowv, gv), any), 1, "%.0f");
		cell(agg_v(m, offsetof(rowv, wire), any), 1e6, "%.1f");
		cell(agg_v(m, offsetof(rowv, reported), any), 1e6, "%.1f");
		cell(agg_v(m, offsetof(rowv, cpu), any), 1, "%.2f");
		if (S->deadline_s > 0)
			out(" %d / %d |", met, S->reps);
		out("\n");
	}
}

/* Pages a destination already held (a return trip): worth a line. */
static void have_line(void)
{
	double v[BM_MAX_REPS];
	int n = 0;

	for (int i = 0; i < S->reps; i++)
		if (R[M_QMIG][i].correct && R[M_QMIG][i].pages_have)
			v[n++] = (double)R[M_QMIG][i].pages_have;
	if (!n)
		return;
	qsort(v, n, sizeof(v[0]), cmp_double);
	out("\nqmig sent %.0f pages (%.0f MiB; median of %d runs) as HAVE "
	    "references to content the destination already held.\n",
	    n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2,
	    (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) / 256, n);
}

/* Two failure messages say the same, numbers aside. */
static bool same_reason(const char *a, const char *b)
{
	for (;;) {
		while (*a >= '0' && *a <= '9')
			a++;
		while (*b >= '0' && *b <= '9')
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* Why runs failed, one line per distinct (method, status, reason). */
static void failures(void)
{
	bool any = false;

	for (int m = 0; m < M__COUNT; m++)
		for (int i = 0; i < S->reps && S->methods[m]; i++) {
			const bm_run *r = &R[m][i];
			bool dup = false;

			if (r->correct)
				continue;
			for (int j = 0; j < i && !dup; j++)
				dup = !R[m][j].correct &&
				      same_reason(R[m][j].error, r->error);
			if (dup)
				continue;
			if (!any)
				out("\nFailures (first of each kind):\n\n");
			any = true;
			out("- %s rep %d: %s: %.300s\n", bm_method_name[m],
			    r->rep, r->status, r->error);
		}
}

/* The best QEMU method: lowest median total time over correct runs; if
 * none was ever correct, over completed runs (*any set). -1: none. */
static int best_qemu(bool *any)
{
	int best = -1;

	for (int pass = 0; pass < 2 && best < 0; pass++) {
		double bt = 0;

		*any = pass == 1;
		for (int m = M_QEMU; m < M__COUNT; m++) {
			agg a;

			if (!S->methods[m])
				continue;
			a = agg_v(m, offsetof(rowv, total), *any);
			if (a.n && (best < 0 || a.med < bt)) {
				best = m;
				bt = a.med;
			}
		}
	}
	return best;
}

static double ratio(size_t off, int best, bool any)
{
	agg q = agg_v(M_QMIG, off, false), b = agg_v(best, off, any);

	return q.n && b.n && b.med > 0 ? q.med / b.med : -1;
}

static void ratio_line(const char *what, double v)
{
	if (v >= 0)
		out("| %s | %.2f |\n", what, v);
	else
		out("| %s | n/a |\n", what);
}

/* The targets, judged; kept for the one-line summary (NAME.summary.tsv). */
enum { T_TOTAL, T_BYTES, T_DOWNTIME, T_DEADLINE, T_PREDICTION, T__COUNT };
static const char *const tkey[T__COUNT] = { "total", "bytes", "downtime",
					    "deadline", "prediction" };
static struct {
	int met[T__COUNT];	/* 1 met, 0 not met, -1 n/a, -2 no target */
	char what[T__COUNT][80];
	char text[T__COUNT][160];
} g_sum;

static void verdict(int t, const char *what, int met, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* @met: 1 met, 0 not met, -1 not applicable. */
static void verdict(int t, const char *what, int met, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_sum.text[t], sizeof(g_sum.text[t]), fmt, ap);
	va_end(ap);
	snprintf(g_sum.what[t], sizeof(g_sum.what[t]), "%s", what);
	g_sum.met[t] = met;
	out("| %s | %s | %s |\n", what, met > 0 ? "**met**" : met ? "n/a" :
	    "**not met**", g_sum.text[t]);
}

static void ratio_target(int t, double want, double got, int best, bool any)
{
	char w[64];

	snprintf(w, sizeof(w), "%s ≤ %.2g× best QEMU", t == T_TOTAL ?
		 "total time" : "bytes on the wire", want);
	if (got < 0)
		verdict(t, w, -1, "no ratio: %s", count(M_QMIG, true) ?
			"no QEMU method completed" : "no correct qmig run");
	else
		verdict(t, w, got <= want, "%.2f vs %s%s", got,
			bm_method_name[best], any ? " (its completed runs; "
			"none correct)" : "");
}

static void targets(int best, bool any)
{
	const bm_targets *t = &S->targets;
	agg pe = agg_v(M_QMIG, offsetof(rowv, prederr), false);
	int conv = 0, within = 0, met = 0;
	double worst = 0;
	char w[80];

	for (int i = 0; i < T__COUNT; i++)
		g_sum.met[i] = -2;
	if (!t->total_ratio && !t->bytes_ratio && !t->downtime_within_max &&
	    !t->deadline && !t->prediction_err_pct)
		return;
	out("\n| target | | measured |\n| --- | --- | --- |\n");
	if (t->total_ratio > 0)
		ratio_target(T_TOTAL, t->total_ratio, best >= 0 ?
			     ratio(offsetof(rowv, total), best, any) : -1,
			     best, any);
	if (t->bytes_ratio > 0)
		ratio_target(T_BYTES, t->bytes_ratio, best >= 0 ?
			     ratio(offsetof(rowv, wire), best, any) : -1,
			     best, any);
	for (int i = 0; i < S->reps; i++) {
		const bm_run *r = &R[M_QMIG][i];

		within += r->correct && r->downtime_ms >= 0 &&
			  r->downtime_ms <= S->max_downtime_ms;
		worst = r->correct ? QM_MAX(worst, r->downtime_ms) : worst;
		met += r->deadline_met;
	}
	for (int m = M_QEMU; m < M__COUNT; m++)
		conv += S->methods[m] && count(m, false) > 0;
	if (t->downtime_within_max) {
		snprintf(w, sizeof(w), "downtime ≤ max_downtime_ms (%g)",
			 S->max_downtime_ms);
		verdict(T_DOWNTIME, w, conv ? within == S->reps : -1,
			"%d / %d qmig runs within (worst %.0f ms)%s", within,
			S->reps, worst, conv ? "" :
			"; no QEMU method converged");
	}
	if (t->deadline && S->deadline_s > 0)
		verdict(T_DEADLINE, "qmig converges within the deadline",
			met == S->reps, "%d / %d runs within %g s", met,
			S->reps, S->deadline_s);
	if (t->prediction_err_pct > 0) {
		snprintf(w, sizeof(w), "median downtime-prediction error ≤ "
			 "%g%%", t->prediction_err_pct);
		if (!pe.n)
			verdict(T_PREDICTION, w, -1, "no correct qmig run");
		else
			verdict(T_PREDICTION, w,
				pe.med <= t->prediction_err_pct,
				"%.0f%% [%.0f–%.0f] over %d runs", pe.med,
				pe.min, pe.max, pe.n);
	}
}

static void ratios(void)
{
	bool any = false;
	int best = best_qemu(&any);

	if (best < 0 || !S->methods[M_QMIG] || !count(M_QMIG, true)) {
		out("\nNo ratio: it needs a correct qmig run and a QEMU method "
		    "that completed.\n");
		targets(-1, false);
		return;
	}
	out("\nRatios qmig / %s (medians; %s):\n\n| | qmig / %s |\n"
	    "| --- | --- |\n", bm_method_name[best],
	    any ? "no QEMU method was correct: against its completed runs, "
		  "which FAILED (correctness)"
		: "the best correct QEMU method", bm_method_name[best]);
	ratio_line("total time", ratio(offsetof(rowv, total), best, any));
	ratio_line("bytes on the wire", ratio(offsetof(rowv, wire), best, any));
	ratio_line("downtime (reported)", ratio(offsetof(rowv, down), best,
						any));
	ratio_line("guest-visible downtime", ratio(offsetof(rowv, gv), best,
						   any));
	ratio_line("CPU", ratio(offsetof(rowv, cpu), best, any));
	targets(best, any);
}

/* ---- data files and the plot script ---- */

static FILE *open_out(const char *dir, const char *name, const char *ext)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
	f = fopen(path, "w");
	if (!f)
		bm_die("%s: %m", path);
	return f;
}

/* One line: the scenario's verdicts, for the table across scenarios. */
static void write_summary(const char *dir)
{
	FILE *f = open_out(dir, S->name, ".summary.tsv");

	fprintf(f, "# scenario\tkey\ttarget\tverdict\tmeasured\n");
	for (int t = 0; t < T__COUNT; t++)
		if (g_sum.met[t] > -2)
			fprintf(f, "%s\t%s\t%s\t%s\t%s\n", S->name, tkey[t],
				g_sum.what[t], g_sum.met[t] > 0 ? "met" :
				g_sum.met[t] ? "n/a" : "not met",
				g_sum.text[t]);
	fclose(f);
}

static void write_runs(const char *dir)
{
	FILE *f = open_out(dir, S->name, ".runs.tsv");

	fprintf(f, "# scenario\tmethod\trep\tstatus\tcorrect\ttotal_ms\t"
		"downtime_ms\tpredicted_ms\tpred_err_pct\tgv_ms\twire_bytes\t"
		"cpu_s\tdeadline_met\tload\n");
	for (int m = 0; m < M__COUNT; m++)
		for (int i = 0; i < S->reps && S->methods[m]; i++) {
			const bm_run *r = &R[m][i];

			fprintf(f, "%s\t%s\t%d\t%s\t%d\t%.0f\t%.1f\t%.1f\t"
				"%.1f\t%.1f\t%llu\t%.2f\t%d\t%.2f\n", S->name,
				bm_method_name[m], r->rep, r->status,
				r->correct, r->total_ms, r->downtime_ms,
				r->predicted_ms, pred_err_pct(r), r->gv_ms,
				(unsigned long long)r->wire_bytes, r->cpu_s,
				r->deadline_met, r->load);
		}
	fclose(f);
}

/* One gnuplot data block per qmig repetition (two blank lines apart). */
static void write_rounds(const char *dir)
{
	FILE *f = open_out(dir, S->name, ".rounds.tsv");

	fprintf(f, "# rep\tround\tpages_sent\tbytes\tdirty_pages\t"
		"duration_ms\tpredicted_downtime_ms\n");
	for (int i = 0; i < S->reps; i++) {
		const bm_run *r = &R[M_QMIG][i];

		for (int k = 0; k < r->nround; k++)
			fprintf(f, "%d\t%u\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\n",
				r->rep, r->round[k].round,
				r->round[k].pages_sent, r->round[k].bytes,
				r->round[k].dirty_pages,
				r->round[k].duration_ms,
				r->round[k].predicted_ms);
		fprintf(f, "\n\n");
	}
	fclose(f);
}

static void write_plot(const char *dir)
{
	FILE *f = open_out(dir, S->name, ".gp");
	const char *n = S->name;
	int most = 0;

	for (int i = 0; i < S->reps; i++)
		most = QM_MAX(most, R[M_QMIG][i].nround);

	fprintf(f, "# Written by bench-migrate: qmig's pre-copy rounds in "
		"scenario %s.\n# gnuplot %s.gp (in this directory) writes "
		"%s-rounds.svg.\n", n, n, n);
	fprintf(f, "set terminal svg size 900,640 dynamic font 'sans,11'\n"
		"set output '%s-rounds.svg'\n"
		"set multiplot layout 2,1 title \"%s: qmig's pre-copy rounds, "
		"one line per repetition\"\n"
		"set key top right\nset grid\nset xlabel 'round'\n"
		"%s"
		"set yrange [0:*]\nset y2range [0:*]\n"
		"set ylabel 'MB sent in the round'\n"
		"set y2label 'dirty pages found (thousands)'\n"
		"set y2tics\nset ytics nomirror\n", n, n,
		most <= 20 ? "set xtics 1\nset xrange [-0.5:*]\n" : "");
	fprintf(f, "plot for [i=0:%d] '%s.rounds.tsv' index i using 2:($4/1e6) "
		"with linespoints lw 2 title sprintf('MB sent, rep %%d', i+1), "
		"\\\n     for [i=0:%d] '' index i using 2:($5/1e3) axes x1y2 "
		"with linespoints dt 2 title sprintf('dirty pages, rep %%d', "
		"i+1)\n",
		S->reps - 1, n, S->reps - 1);
	fprintf(f, "unset y2label\nunset y2tics\nset ytics mirror\n"
		"set ylabel 'ms'\n"
		"plot for [i=0:%d] '%s.rounds.tsv' index i using 2:7 with "
		"linespoints lw 2 title sprintf('predicted downtime, rep %%d', "
		"i+1), %g with lines dt 3 lc rgb 'red' title "
		"'max\\_downtime\\_ms'\n"
		"unset multiplot\n", S->reps - 1, n, S->max_downtime_ms);
	fclose(f);
}

static void link_text(char *buf, size_t len)
{
	const bm_link_params *l = &S->link;
	size_t n;

	if (!bm_link_is_rig()) {
		snprintf(buf, len, "loopback, unshaped");
		return;
	}
	if (l->bw_mbit > 0)
		snprintf(buf, len, "%g Mbit/s", l->bw_mbit);
	else
		snprintf(buf, len, "unshaped");
	n = strlen(buf);
	snprintf(buf + n, len - n, ", %g ms RTT added", l->rtt_ms);
	n = strlen(buf);
	if (l->loss_pct > 0)
		snprintf(buf + n, len - n, ", %g%% loss", l->loss_pct);
}

/* What ran, where, under what load. */
static void describe(const char *link_note)
{
	double lo = 1e9, hi = 0;
	char link[160];

	for (int m = 0; m < M__COUNT; m++)
		for (int i = 0; i < S->reps && S->methods[m]; i++) {
			lo = QM_MIN(lo, R[m][i].load);
			hi = QM_MAX(hi, R[m][i].load);
		}
	link_text(link, sizeof(link));
	out("Guest %llu MiB, `%s`, %.1f s warm-up; link %s; max_downtime_ms "
	    "%g", (unsigned long long)(S->ram >> 20), S->append,
	    S->warmup_ms / 1000.0, link, S->max_downtime_ms);
	if (S->deadline_s > 0)
		out(", deadline %g s (%s)", S->deadline_s,
		    S->on_deadline_force ? "force" : "abort");
	if (S->return_trip)
		out("; measured: the way back, B → A, %.1f s after A → B",
		    S->return_after_ms / 1000.0);
	out(". %d repetition%s; load average %.1f–%.1f.\n\n", S->reps,
	    S->reps > 1 ? "s" : "", lo, hi);
	out("Link: %s. Machine: %s.\n", link_note, machine());
}

void bm_report_summary(const bm_scenario *s,
		       bm_run runs[M__COUNT][BM_MAX_REPS],
		       const char *link_note, const char *dir)
{
	int incorrect = 0;

	S = s;
	R = runs;
	if (dir)
		g_md = open_out(dir, s->name, ".md");
	out("\n### %s: %s\n\n", s->name, s->title);
	describe(link_note);
	for (int m = 0; m < M__COUNT; m++)
		for (int i = 0; i < s->reps && s->methods[m]; i++)
			incorrect += runs[m][i].completed &&
				     !runs[m][i].correct;
	table(false);
	if (incorrect) {
		out("\nEvery completed run, FAILED (correctness) included, for "
		    "scale only (those destinations were never run):\n");
		table(true);
	}
	have_line();
	failures();
	ratios();
	if (dir) {
		fclose(g_md);
		g_md = NULL;
		write_runs(dir);
		write_summary(dir);
		write_rounds(dir);
		write_plot(dir);
	}
	fflush(stdout);
}
