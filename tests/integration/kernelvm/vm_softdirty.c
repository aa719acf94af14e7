/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The soft-dirty tracker against a kernel that has soft-dirty. A forked
 * writer plays QEMU: it owns a shared memfd (the guest RAM), writes the
 * pages it is told to over a pipe, or writes continuously until told to
 * stop. This process maps the same memfd through /proc/WRITER/fd/N as a
 * region and tracks it with qemu_pid = the writer; the freeze hook stops
 * the writer with SIGSTOP and waits for /proc/PID/stat to say 'T'.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define REGION_PAGES 16384        /* 64 MiB */
#define DATA_PAGES 12288          /* written at start; the rest are holes */
#define RACE_PACE_NS 25000        /* one write per 25 us: a sweep of the
				   * data pages takes ~300 ms, several rounds */
#define RACE_MIN_ROUNDS 3
#define RACE_MAX_ROUNDS 200

/* ---- the writer ("QEMU") ---- */

typedef struct wcmd {
	char op;        /* W page, F every a-th page, R sweep, Q quit */
	uint32_t a, b;
	uint64_t v;
} wcmd;

/* Write @v into page @p (index, value, and a word at the end, so the hash
 * changes); v == 0 stores the bytes already there: soft-dirty, same hash. */
static void page_write(uint8_t *base, uint64_t p, uint64_t v)
{
	volatile uint64_t *w = (volatile uint64_t *)(base +
						     p * DL_PAGE_SIZE);

	if (!v) {
		w[1] = w[1];
		return;
	}
	w[0] = p;
	w[1] = v;
	w[511] = p ^ v;
}

/* Write each page of [a, b) once, in order, one write per v ns, with a
 * value no earlier sweep wrote. */
static uint64_t sweep_writes(uint8_t *base, const wcmd *c, uint64_t gen)
{
	int64_t next = qm_now_ns();

	for (uint64_t p = c->a; p < c->b; p++) {
		while (qm_now_ns() < next)
			;
		next += (int64_t)c->v;
		page_write(base, p, gen << 32 | p);
	}
	return c->b - c->a;
}

static void writer_main(int cmd_fd, int ack_fd)
{
	int fd = memfd_create("guest-ram", 0);
	uint64_t sweeps = 0;
	uint8_t *base;
	wcmd c;

	if (fd < 0 || ftruncate(fd, (off_t)REGION_PAGES * DL_PAGE_SIZE) < 0)
		_exit(2);
	base = mmap(NULL, (size_t)REGION_PAGES * DL_PAGE_SIZE,
		    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		_exit(2);
	for (uint64_t p = 0; p < DATA_PAGES; p++)
		page_write(base, p, 1);
	if (write(ack_fd, &fd, sizeof(fd)) != sizeof(fd))
		_exit(2);
	while (read(cmd_fd, &c, sizeof(c)) == sizeof(c)) {
		uint64_t r = 0;

		if (c.op == 'Q')
			_exit(0);
		if (c.op == 'W')
			page_write(base, c.a, c.v);
		if (c.op == 'F')
			for (uint64_t p = 0; p < DATA_PAGES; p += c.a, r++)
				page_write(base, p, c.v);
		if (c.op == 'R')
			r = sweep_writes(base, &c, ++sweeps);
		if (write(ack_fd, &r, sizeof(r)) != sizeof(r))
			_exit(2);
	}
	_exit(0);
}

typedef struct writer {
	pid_t pid;
	int cmd, ack, memfd;
} writer;

static bool writer_start(writer *w)
{
	int c[2], a[2];

	if (pipe(c) < 0 || pipe(a) < 0)
		return false;
	w->pid = fork();
	if (w->pid == 0) {
		close(c[1]);
		close(a[0]);
		writer_main(c[0], a[1]);
	}
	close(c[0]);
	close(a[1]);
	w->cmd = c[1];
	w->ack = a[0];
	return w->pid > 0 &&
	       read(w->ack, &w->memfd, sizeof(w->memfd)) == sizeof(w->memfd);
}

static void writer_send(const writer *w, char op, uint32_t a, uint32_t b,
			uint64_t v)
{
	wcmd c = { .op = op, .a = a, .b = b, .v = v };

	if (write(w->cmd, &c, sizeof(c)) != sizeof(c))
		vm_info("writer command %c: %s", op, strerror(errno));
}

static uint64_t writer_ack(const writer *w)
{
	uint64_t r = 0;

	if (read(w->ack, &r, sizeof(r)) != sizeof(r))
		vm_info("writer ack: %s", strerror(errno));
	return r;
}

static uint64_t writer_do(const writer *w, char op, uint32_t a, uint64_t v)
{
	writer_send(w, op, a, 0, v);
	return writer_ack(w);
}

static void writer_stop(writer *w)
{
	writer_send(w, 'Q', 0, 0, 0);
	waitpid(w->pid, NULL, 0);
	close(w->cmd);
	close(w->ack);
}

/* ---- freeze hooks ---- */

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* SIGSTOP, then wait until the writer really is stopped: a signal is only
 * acted on when the process next runs. */
static bool stop_writer(void *opaque, bool stop, qm_error *err)
{
	pid_t pid = *(const pid_t *)opaque;

	if (kill(pid, stop ? SIGSTOP : SIGCONT) < 0)
		return qm_error_errno(err, errno, "kill(%d)", (int)pid);
	if (!stop)
		return true;
	for (int i = 0; i < 20000; i++) {
		if (proc_state(pid) == 'T')
			return true;
		usleep(100);
	}
	return qm_error_set(err, QM_ERR_TIMEOUT, "process %d not stopped "
			    "after 2 s (state %c)", (int)pid, proc_state(pid));
}

/* The negative control: claims to freeze, stops nothing. */
static bool no_freeze(void *opaque, bool stop, qm_error *err)
{
	return true;
}

/* ---- the checks ---- */

typedef struct sd_ctx {
	writer w;
	dl_ram ram;
	dl_hasher h;
	dl_hash *now;              /* REGION_PAGES hashes for checks */
	uint8_t buf[DL_PAGE_SIZE]; /* a page copied out, as the sender does */
} sd_ctx;

static dl_tracker *new_tracker(sd_ctx *c, dl_tracker_kind kind,
			       bool (*freeze)(void *, bool, qm_error *))
{
	dl_tracker_opts o = { .kind = kind, .threads = 2,
			      .qemu_pid = c->w.pid, .freeze = freeze,
			      .freeze_opaque = &c->w.pid,
			      .assume_dest_zero = true };
	qm_error err = QM_ERROR_INIT;
	dl_tracker *t = dl_tracker_new(&c->ram, &c->h, &o, &err);

	if (!t)
		vm_check(false, "create %s tracker: %s", kind ==
			 DL_TRACKER_SOFT_DIRTY ? "soft-dirty" : "hash-scan",
			 err.msg);
	return t;
}

static bool round_ok(dl_tracker *t, unsigned flags, dl_round_stats *st,
		     dl_sd_stats *sd)
{
	qm_error err = QM_ERROR_INIT;

	memset(sd, 0, sizeof(*sd));
	if (!dl_tracker_round(t, flags, st, &err))
		return vm_check(false, "round: %s", err.msg);
	dl_tracker_softdirty_stats(t, sd);
	return true;
}

/* Send every dirty page the way the engine does: copy it out, hash the
 * copy, mark it sent with that hash. Skips @keep (held back), if any. */
static uint64_t send_dirty(sd_ctx *c, dl_tracker *t, int64_t keep)
{
	uint64_t cur = 0, s, l, n = 0;

	while (dl_tracker_next_run(t, &cur, &s, &l)) {
		for (uint64_t p = s; p < s + l; p++) {
			if ((int64_t)p == keep)
				continue;
			memcpy(c->buf, dl_ram_page(&c->ram, p), DL_PAGE_SIZE);
			dl_tracker_mark_sent(t, p, dl_hash_page(&c->h, c->buf));
			n++;
		}
	}
	return n;
}

/* Pages neither reported dirty nor equal to their last-sent hash: writes
 * the tracker lost. Holes hash as zero without being read. */
static uint64_t lost_pages(sd_ctx *c, const dl_tracker *t)
{
	uint64_t lost = 0;

	if (!dl_ram_hash_pages(&c->ram, &c->h, 0, REGION_PAGES, c->now, NULL))
		return UINT64_MAX;
	for (uint64_t p = 0; p < REGION_PAGES; p++)
		if (!dl_tracker_is_dirty(t, p) &&
		    !dl_hash_eq(c->now[p], dl_tracker_sent_hash(t, p)))
			lost++;
	return lost;
}

/* Round 0 is a full hash-scan: every data page hashed, holes not read.
 * Checked on the first tracker (@strict), when the layout is known. */
static bool check_round0(sd_ctx *c, dl_tracker *t, bool strict)
{
	dl_round_stats st;
	dl_sd_stats sd;

	if (!round_ok(t, 0, &st, &sd))
		return false;
	send_dirty(c, t, -1);
	if (!strict)
		return true;
	vm_check(sd.full && st.pages_scanned == DATA_PAGES &&
		 st.pages_holes == REGION_PAGES - DATA_PAGES &&
		 st.pages_dirty == DATA_PAGES,
		 "soft-dirty: round 0 is full: %llu hashed, %llu holes, %llu "
		 "dirty (want %d, %d, %d)", (unsigned long long)st.pages_scanned,
		 (unsigned long long)st.pages_holes,
		 (unsigned long long)st.pages_dirty, DATA_PAGES,
		 REGION_PAGES - DATA_PAGES, DATA_PAGES);
	vm_info("round 0: pagemap %llu entries in %llu reads, frozen %.2f ms",
		(unsigned long long)sd.pm.entries,
		(unsigned long long)sd.pm.reads, sd.freeze_ns / 1e6);
	vm_check(sd.pm.reads == (REGION_PAGES + DL_PM_WINDOW - 1) /
		 DL_PM_WINDOW, "soft-dirty: one pagemap read per window of %d "
		 "(%llu reads for %d pages)", DL_PM_WINDOW,
		 (unsigned long long)sd.pm.reads, REGION_PAGES);
	return true;
}

/* Nothing written: nothing hashed, nothing dirty. */
static void check_idle(dl_tracker *t, const char *when)
{
	dl_round_stats st;
	dl_sd_stats sd;

	if (!round_ok(t, 0, &st, &sd))
		return;
	vm_check(!sd.full && st.pages_dirty == 0 && sd.pm.soft_dirty == 0 &&
		 st.pages_scanned == sd.candidates,
		 "soft-dirty: idle round %s: %llu dirty, %llu soft-dirty, "
		 "%llu hashed, %llu moved", when,
		 (unsigned long long)st.pages_dirty,
		 (unsigned long long)sd.pm.soft_dirty,
		 (unsigned long long)st.pages_scanned,
		 (unsigned long long)sd.pm.moved);
}

/* The writer writes a known set, one page with the bytes it already had:
 * exactly the changed pages are dirty, and only the written pages are
 * hashed (soft-dirty count), not the region. */
static void check_known_writes(sd_ctx *c, dl_tracker *t)
{
	static const uint32_t pages[] = { 3, 4, 100, 511, 512, 4095, 6000,
					  13000, REGION_PAGES - 1 };
	const uint32_t same = 6000; /* rewritten with identical bytes */
	uint64_t want = QM_ARRAY_SIZE(pages) - 1, right = 0;
	dl_round_stats st;
	dl_sd_stats sd;

	for (size_t i = 0; i < QM_ARRAY_SIZE(pages); i++)
		writer_do(&c->w, 'W', pages[i], pages[i] == same ? 0 : 77);
	if (!round_ok(t, 0, &st, &sd))
		return;
	for (size_t i = 0; i < QM_ARRAY_SIZE(pages); i++)
		right += dl_tracker_is_dirty(t, pages[i]) == (pages[i] != same);
	vm_check(st.pages_dirty == want && right == QM_ARRAY_SIZE(pages),
		 "soft-dirty: exactly the %llu changed pages are dirty (%llu "
		 "dirty, %llu/%zu verdicts right, same-bytes page %s)",
		 (unsigned long long)want, (unsigned long long)st.pages_dirty,
		 (unsigned long long)right, QM_ARRAY_SIZE(pages),
		 dl_tracker_is_dirty(t, same) ? "dirty" : "clean");
	vm_check(sd.pm.soft_dirty == QM_ARRAY_SIZE(pages) &&
		 st.pages_scanned == sd.pm.soft_dirty,
		 "soft-dirty: hashed only the soft-dirty pages: %llu hashed, "
		 "%llu soft-dirty (want %zu), %llu moved",
		 (unsigned long long)st.pages_scanned,
		 (unsigned long long)sd.pm.soft_dirty, QM_ARRAY_SIZE(pages),
		 (unsigned long long)sd.pm.moved);
}

/* A dirty page the engine holds back stays dirty next round although the
 * guest does not write it again; once sent it is clean. */
static void check_held_back(sd_ctx *c, dl_tracker *t)
{
	dl_round_stats st;
	dl_sd_stats sd;

	send_dirty(c, t, 100);
	if (!round_ok(t, 0, &st, &sd))
		return;
	vm_check(st.pages_dirty == 1 && dl_tracker_is_dirty(t, 100) &&
		 st.pages_scanned == 1 && sd.stale == 1 &&
		 sd.pm.soft_dirty == 0,
		 "soft-dirty: held-back page re-checked: %llu dirty, page 100 "
		 "%s, %llu hashed, %llu stale", (unsigned long long)st.pages_dirty,
		 dl_tracker_is_dirty(t, 100) ? "dirty" : "clean",
		 (unsigned long long)st.pages_scanned,
		 (unsigned long long)sd.stale);
	send_dirty(c, t, -1);
	check_idle(t, "after sending it");
}

typedef struct race_result {
	uint64_t lost;            /* UINT64_MAX: a round failed */
	uint64_t checked;         /* pages written, not dirty at the end */
	uint64_t max_scanned;
	int64_t max_freeze;
} race_result;

/* Pages the writer has written during the race that the final round does
 * not report: the ones the lost-write check really looks at. */
static uint64_t checked_pages(const dl_tracker *t)
{
	uint64_t n = 0;

	for (uint64_t p = 0; p < DATA_PAGES; p++)
		n += !dl_tracker_is_dirty(t, p);
	return n;
}

static bool writer_busy(const writer *w)
{
	struct pollfd pfd = { .fd = w->ack, .events = POLLIN };

	return poll(&pfd, 1, 0) == 0;
}

/*
 * Rounds while the writer sweeps the data pages once (each page written
 * exactly once), each round followed by sending the dirty pages, until the
 * sweep is over; then a final round. A write that fell between a round's
 * pagemap read and its clear is never repeated: if the tracker let it
 * slip, the page is neither dirty nor equal to its last-sent hash. Pages
 * written before the last racing round were sent and are clean at the end,
 * so the check always has pages to look at, however fast the machine.
 */
static race_result race_rounds(sd_ctx *c, dl_tracker *t)
{
	race_result res = { .lost = UINT64_MAX };
	dl_round_stats st;
	dl_sd_stats sd;
	uint64_t writes;
	int r;

	writer_send(&c->w, 'R', 0, DATA_PAGES, RACE_PACE_NS);
	for (r = 0; r < RACE_MAX_ROUNDS; r++) {
		if (!round_ok(t, 0, &st, &sd))
			break;
		send_dirty(c, t, -1);
		res.max_scanned = QM_MAX(res.max_scanned, st.pages_scanned);
		res.max_freeze = QM_MAX(res.max_freeze, sd.freeze_ns);
		if (r + 1 >= RACE_MIN_ROUNDS && !writer_busy(&c->w))
			break;
	}
	writes = writer_ack(&c->w);
	if (!round_ok(t, 0, &st, &sd))
		return res;
	res.lost = lost_pages(c, t);
	res.checked = checked_pages(t);
	vm_info("race: %llu writes, %d rounds, max %llu hashed, final round "
		"%llu dirty, %llu written pages checked, %llu lost",
		(unsigned long long)writes, r + 1,
		(unsigned long long)res.max_scanned,
		(unsigned long long)st.pages_dirty,
		(unsigned long long)res.checked, (unsigned long long)res.lost);
	return res;
}

/* The lost write the freeze prevents, made certain: the writer writes a
 * page and its soft-dirty bit is cleared before the tracker reads it (as a
 * clear after an unfrozen read would). The write is invisible to the
 * tracker, and the lost-write check must see exactly that page. */
static void check_lost_write_seen(sd_ctx *c, dl_tracker *t)
{
	char path[64];
	dl_round_stats st;
	dl_sd_stats sd;
	uint64_t lost;
	int fd;

	writer_do(&c->w, 'W', 42, 0xdead0042);
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)c->w.pid);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "4", 1) != 1)
		vm_info("%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (!round_ok(t, 0, &st, &sd))
		return;
	lost = lost_pages(c, t);
	vm_check(lost == 1 && !dl_tracker_is_dirty(t, 42),
		 "soft-dirty: control: a write whose bit is cleared unread is "
		 "lost and the check sees it (%llu lost, page 42 %s)",
		 (unsigned long long)lost,
		 dl_tracker_is_dirty(t, 42) ? "dirty" : "clean");
}

static void check_race(sd_ctx *c)
{
	dl_tracker *t = new_tracker(c, DL_TRACKER_SOFT_DIRTY, stop_writer);
	race_result r;

	if (!t)
		return;
	check_round0(c, t, false);
	r = race_rounds(c, t);
	vm_check(r.lost == 0 && r.checked > 0, "soft-dirty: no write lost "
		 "while the writer runs (%llu lost of %llu written pages not "
		 "reported at the end)", (unsigned long long)r.lost,
		 (unsigned long long)r.checked);
	vm_info("race: writer frozen at most %.2f ms per round",
		r.max_freeze / 1e6);
	check_lost_write_seen(c, t);
	dl_tracker_free(t);

	/* The same without a real freeze: writes between the pagemap read
	 * and the clear get lost. Shown, not required: it is a race. */
	t = new_tracker(c, DL_TRACKER_SOFT_DIRTY, no_freeze);
	if (!t)
		return;
	check_round0(c, t, false);
	r = race_rounds(c, t);
	vm_info("control without freeze: %llu pages lost", (unsigned long
		long)r.lost);
	dl_tracker_free(t);
}

static void bench_one(sd_ctx *c, dl_tracker *sdt, dl_tracker *hst, int pct)
{
	dl_round_stats a, b;
	dl_sd_stats sd, unused;
	uint64_t written = 0;

	if (pct)
		written = writer_do(&c->w, 'F', 100 / pct, 2000 + pct);
	if (!round_ok(sdt, DL_ROUND_ADOPT, &a, &sd) ||
	    !round_ok(hst, DL_ROUND_ADOPT, &b, &unused))
		return;
	vm_check(a.pages_dirty == b.pages_dirty && a.pages_dirty == written,
		 "bench %d%%: soft-dirty and hash-scan agree (%llu, %llu dirty, "
		 "%llu written)", pct, (unsigned long long)a.pages_dirty,
		 (unsigned long long)b.pages_dirty, (unsigned long long)written);
	vm_info("bench dirty=%d%% pages=%d softdirty_ms=%.2f freeze_ms=%.2f "
		"hashed=%llu hashscan_ms=%.2f softdirty_pages_per_s=%.0f "
		"hashscan_pages_per_s=%.0f", pct, REGION_PAGES, a.find_ns / 1e6,
		sd.freeze_ns / 1e6, (unsigned long long)a.pages_scanned,
		b.find_ns / 1e6, REGION_PAGES * 1e9 / (double)a.find_ns,
		REGION_PAGES * 1e9 / (double)b.find_ns);
}

/* Cost of a round of each tracker as a function of the dirty fraction;
 * both must find the same pages. */
static void bench(sd_ctx *c)
{
	static const int pcts[] = { 0, 1, 10, 50 };
	dl_tracker *sdt = new_tracker(c, DL_TRACKER_SOFT_DIRTY, stop_writer);
	dl_tracker *hst = new_tracker(c, DL_TRACKER_HASH_SCAN, NULL);
	dl_round_stats st;
	dl_sd_stats sd;

	if (sdt && hst && round_ok(sdt, DL_ROUND_ADOPT, &st, &sd) &&
	    round_ok(hst, DL_ROUND_ADOPT, &st, &sd)) {
		for (size_t i = 0; i < QM_ARRAY_SIZE(pcts); i++)
			bench_one(c, sdt, hst, pcts[i]);
		vm_check(dl_tracker_memory_bytes(sdt) * 100 <=
			 (uint64_t)REGION_PAGES * DL_PAGE_SIZE,
			 "soft-dirty: tracker state %llu bytes is within 1%% "
			 "of RAM", (unsigned long long)
			 dl_tracker_memory_bytes(sdt));
	}
	dl_tracker_free(sdt);
	dl_tracker_free(hst);
}

static bool sd_setup(sd_ctx *c)
{
	qm_error err = QM_ERROR_INIT;
	char path[64];

	dl_ram_init(&c->ram);
	c->now = calloc(REGION_PAGES, sizeof(*c->now));
	if (!c->now || !writer_start(&c->w))
		return vm_check(false, "soft-dirty: start the writer");
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)c->w.pid,
		 c->w.memfd);
	if (!dl_ram_add_file(&c->ram, "ram0", path,
			     (uint64_t)REGION_PAGES * DL_PAGE_SIZE, 0, &err) ||
	    !dl_hasher_init(&c->h, "kernelvm", 8, &err))
		return vm_check(false, "soft-dirty: map the writer's memfd: "
				"%s", err.msg);
	return true;
}

void vm_softdirty_tests(void)
{
	static sd_ctx c;
	char why[256] = "";
	dl_tracker *t;

	if (!vm_check(dl_softdirty_probe(why, sizeof(why)) == DL_SD_YES,
		      "soft-dirty: the probe says yes (%s)", why))
		return;
	if (sd_setup(&c)) {
		t = new_tracker(&c, DL_TRACKER_SOFT_DIRTY, stop_writer);
		if (t && vm_check(!strcmp(dl_tracker_name(t), "soft-dirty"),
				  "soft-dirty: tracker in use: %s",
				  dl_tracker_name(t)) &&
		    check_round0(&c, t, true)) {
			check_idle(t, "after round 0");
			check_known_writes(&c, t);
			check_held_back(&c, t);
		}
		dl_tracker_free(t);
		check_race(&c);
		bench(&c);
	}
	if (c.w.pid > 0)
		writer_stop(&c.w);
	dl_ram_close(&c.ram);
	free(c.now);
}
