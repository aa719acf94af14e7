/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Soft-dirty: the kernel probe (after CRIU's kerndat) and the soft-dirty
 * tracker (the contract, with its races, is in dirtylog.h).
 *
 * The probe proves the feature on the kind of memory guests use: a shared
 * memfd page is mapped, soft-dirty bits are cleared (clear_refs "4"), the
 * page is written, and pagemap must then show bit 55 for it. A kernel
 * without CONFIG_MEM_SOFT_DIRTY accepts the write to clear_refs but never
 * sets the bit. QMIG_SOFT_DIRTY=off forces the fallback (for tests).
 *
 * The tracker keeps per page a frame tag (what pagemap showed last round)
 * and two bitmaps: candidates of this round and "stale" pages (reported
 * dirty, not since marked sent with a new hash). The pagemap and
 * clear_refs files of QEMU stay open for the tracker's life.
 */
#define LOG_PREFIX "dirtylog"
/* /proc/PID/maps of a QEMU: a few hundred lines; refuse the absurd. */
#define DL_MAPS_MAX (64u << 20)
#include "dirtylog/tracker-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGETLBFS_MAGIC_NR 0x958458f6

static bool forced_off(void)
{
	const char *env = getenv("QMIG_SOFT_DIRTY");

	return env && !strcmp(env, "off");
}

int dl_pagemap_soft_dirty(uint64_t entry)
{
	return (int)((entry >> DL_PM_SOFT_DIRTY_BIT) & 1);
}

static int write_clear_refs(pid_t pid)
{
	char path[64];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "4", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}

static int read_pagemap_entry(pid_t pid, const void *addr, uint64_t *entry)
{
	char path[64];
	off_t off = (off_t)((uintptr_t)addr / DL_PAGE_SIZE) * 8;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, entry, 8, off) != 8)
		rc = errno ? -errno : -EIO;
	close(fd);
	return rc;
}

dl_softdirty_probe_result dl_softdirty_probe(char *why, size_t why_len)
{
	dl_softdirty_probe_result res = DL_SD_ERROR;
	uint64_t entry = 0;
	volatile uint8_t *page;
	int fd, rc;

	if (forced_off()) {
		snprintf(why, why_len, "disabled by QMIG_SOFT_DIRTY=off");
		return DL_SD_NO;
	}
	fd = memfd_create("qmig-sd-probe", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, DL_PAGE_SIZE) < 0) {
		snprintf(why, why_len, "probe memfd: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return DL_SD_ERROR;
	}
	page = mmap(NULL, DL_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fd, 0);
	close(fd);
	if (page == MAP_FAILED) {
		snprintf(why, why_len, "probe mmap: %s", strerror(errno));
		return DL_SD_ERROR;
	}
	page[0] = 1; /* fault it in before clearing */
	rc = write_clear_refs(getpid());
	if (rc < 0) {
		snprintf(why, why_len, "/proc/self/clear_refs: %s",
			 strerror(-rc));
		goto out;
	}
	page[0] = 2;
	rc = read_pagemap_entry(getpid(), (const void *)page, &entry);
	if (rc < 0) {
		snprintf(why, why_len, "/proc/self/pagemap: %s", strerror(-rc));
		goto out;
	}
	if (dl_pagemap_soft_dirty(entry)) {
		res = DL_SD_YES;
		snprintf(why, why_len, "soft-dirty works");
	} else {
		res = DL_SD_NO;
		snprintf(why, why_len, "kernel does not set soft-dirty bits "
			 "(no CONFIG_MEM_SOFT_DIRTY)");
	}
out:
	munmap((void *)page, DL_PAGE_SIZE);
	return res;
}


/* ---- the soft-dirty tracker ---- */

typedef struct sd_region {
	dl_map_seg seg[DL_SD_MAX_SEGS];
	int nseg;
} sd_region;

typedef struct sd_state {
	pid_t pid;
	int pm_fd, cr_fd;         /* QEMU's pagemap and clear_refs */
	bool (*freeze)(void *opaque, bool stop, qm_error *err);
	void *opaque;
	uint32_t *tag;            /* per page: frame seen at the last read */
	uint64_t *cand;           /* bitmap: pages to look at this round */
	uint64_t *stale;          /* bitmap: dirty, not since marked sent */
	uint64_t *buf;            /* one pagemap window */
	sd_region reg[DL_MAX_REGIONS];
	bool need_full;           /* first round, or the last one failed */
	dl_sd_stats last;
} sd_state;

static const dl_tracker_ops soft_dirty_ops;

static long pm_read(void *opaque, uint64_t *buf, size_t n, uint64_t vpage)
{
	const int *fd = opaque;
	ssize_t got = pread(*fd, buf, n * sizeof(*buf),
			    (off_t)(vpage * sizeof(*buf)));

	return got < 0 ? -errno : (long)(got / (ssize_t)sizeof(*buf));
}

/* Where every region is mapped in QEMU, from one read of its maps. Done
 * each round, outside the freeze: it is cheap and follows VMA splits. */
static bool resolve_maps(const dl_tracker *t, sd_state *s, qm_error *err)
{
	char path[64];
	char *maps;
	bool ok = true;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)s->pid);
	maps = qm_read_file(path, DL_MAPS_MAX, NULL, err);
	if (!maps)
		return false;
	for (int i = 0; ok && i < t->ram->nregions; i++) {
		const dl_region *r = &t->ram->regions[i];
		struct stat st;
		int n;

		if (fstat(r->fd, &st) < 0) {
			ok = qm_error_errno(err, errno, "RAM backend %s: fstat",
					    r->path);
			break;
		}
		n = dl_maps_find(maps, major(st.st_dev), minor(st.st_dev),
				 st.st_ino, r->npages, s->reg[i].seg,
				 DL_SD_MAX_SEGS, err);
		if (n < 0) {
			qm_error_prepend(err, "RAM backend %s in process %d",
					 r->path, (int)s->pid);
			ok = false;
		}
		s->reg[i].nseg = n;
	}
	free(maps);
	return ok;
}

static bool read_pagemap(const dl_tracker *t, sd_state *s, dl_pm_counts *pc,
			 qm_error *err)
{
	for (int i = 0; i < t->ram->nregions; i++) {
		const dl_region *r = &t->ram->regions[i];

		for (int k = 0; k < s->reg[i].nseg; k++) {
			const dl_map_seg *g = &s->reg[i].seg[k];
			uint64_t first = r->first_page + g->page;

			if (!dl_pagemap_scan(pm_read, &s->pm_fd,
					     g->vaddr >> DL_PAGE_SHIFT,
					     g->npages, s->buf, DL_PM_WINDOW,
					     s->tag + first, s->cand, first, pc,
					     err)) {
				qm_error_prepend(err, "RAM backend %s",
						 r->path);
				return false;
			}
		}
	}
	return true;
}

static bool clear_refs(const sd_state *s, qm_error *err)
{
	if (pwrite(s->cr_fd, "4", 1, 0) != 1)
		return qm_error_errno(err, errno, "/proc/%d/clear_refs",
				      (int)s->pid);
	return true;
}

/* Run the freeze hook; on failure add its error to @err unless one is
 * already set (the first error wins), with a default if it set none. */
static bool call_freeze(const sd_state *s, bool stop, qm_error *err)
{
	qm_error e = QM_ERROR_INIT;

	if (s->freeze(s->opaque, stop, &e))
		return true;
	if (!qm_error_is_set(&e))
		qm_error_set(&e, QM_ERR_STATE, "freeze hook failed");
	qm_error_prepend(&e, "%s QEMU (pid %d) for the soft-dirty read",
			 stop ? "stopping" : "resuming", (int)s->pid);
	if (err && !qm_error_is_set(err))
		*err = e;
	return false;
}

/*
 * Freeze the writers, read pagemap, clear the bits, resume. Nothing may run
 * in QEMU between the read and the clear (see the races in dirtylog.h).
 * A hook that fails to stop must leave QEMU running: no resume is sent.
 */
static bool sd_collect(const dl_tracker *t, sd_state *s, dl_pm_counts *pc,
		       qm_error *err)
{
	int64_t t0;
	bool ok;

	if (!resolve_maps(t, s, err) || !call_freeze(s, true, err))
		return false;
	t0 = qm_now_ns();
	ok = read_pagemap(t, s, pc, err) && clear_refs(s, err);
	s->last.freeze_ns = qm_now_ns() - t0;
	return call_freeze(s, false, err) && ok;
}

/* Add the stale pages to the candidates; returns (stale, candidates). */
static void merge_stale(const dl_tracker *t, sd_state *s, uint64_t *stale,
			uint64_t *cand)
{
	*stale = *cand = 0;
	for (uint64_t w = 0; w < t->nwords; w++) {
		*stale += (uint64_t)__builtin_popcountll(s->stale[w]);
		s->cand[w] |= s->stale[w];
		*cand += (uint64_t)__builtin_popcountll(s->cand[w]);
	}
}

static bool sd_round(dl_tracker *t, unsigned flags, dl_scan_counts *c,
		     qm_error *err)
{
	sd_state *s = t->impl;
	bool full = s->need_full;
	dl_pm_counts pc = { 0 };
	uint64_t stale = 0, cand = t->npages;

	/* Until this round completes, a failure anywhere (bits cleared but
	 * candidates not hashed, tags half updated) forces a full round. */
	s->need_full = true;
	memset(s->cand, 0, t->nwords * sizeof(*s->cand));
	if (!sd_collect(t, s, &pc, err) || !dl_refresh_extents(t, err))
		return false;
	if (!full)
		merge_stale(t, s, &stale, &cand);
	dl_scan_pages(t, flags, full ? NULL : s->cand, c);
	/* What still differs from the last-sent hash is re-checked next
	 * round even if not written again: the engine may hold it back. */
	if (flags & DL_ROUND_ADOPT)
		memset(s->stale, 0, t->nwords * sizeof(*s->stale));
	else
		memcpy(s->stale, t->dirty, t->nwords * sizeof(*s->stale));
	s->need_full = false;
	s->last.pm = pc;
	s->last.stale = stale;
	s->last.candidates = cand;
	s->last.full = full;
	pr_debug("soft-dirty round %llu: %llu soft-dirty, %llu moved, %llu "
		 "stale, %llu hashed%s", (unsigned long long)t->round,
		 (unsigned long long)pc.soft_dirty,
		 (unsigned long long)pc.moved, (unsigned long long)stale,
		 (unsigned long long)c->scanned, full ? " (full)" : "");
	return true;
}

/* A page marked sent with a new hash matches what the destination holds
 * (the bytes were copied after this round's clear; a later write leaves a
 * soft-dirty bit). Marked with the old hash again, it stays stale. */
static void sd_sent(dl_tracker *t, uint64_t page, dl_hash old, dl_hash now)
{
	sd_state *s = t->impl;

	if (!dl_hash_eq(old, now))
		__atomic_fetch_and(&s->stale[page / 64],
				   ~(1ULL << (page % 64)), __ATOMIC_RELAXED);
}

static void sd_free(sd_state *s)
{
	if (!s)
		return;
	if (s->pm_fd >= 0)
		close(s->pm_fd);
	if (s->cr_fd >= 0)
		close(s->cr_fd);
	free(s->tag);
	free(s->cand);
	free(s->stale);
	free(s->buf);
	free(s);
}

static void sd_destroy(dl_tracker *t)
{
	sd_free(t->impl);
	t->impl = NULL;
}

static const dl_tracker_ops soft_dirty_ops = {
	.name = "soft-dirty",
	.round = sd_round,
	.destroy = sd_destroy,
	.sent = sd_sent,
};

bool dl_tracker_softdirty_stats(const dl_tracker *t, dl_sd_stats *out)
{
	const sd_state *s = t->impl;

	if (t->ops != &soft_dirty_ops)
		return false;
	*out = s->last;
	return true;
}

/* ---- setup ---- */

/* Does reading pagemap show PFNs to us? Without CAP_SYS_ADMIN the kernel
 * zeroes them, and only present/absent changes can be seen. */
static bool pfns_hidden(void)
{
	volatile uint64_t probe = 1;
	uint64_t e = 0;

	if (read_pagemap_entry(getpid(), (const void *)&probe, &e) < 0)
		return true;
	return ((e >> DL_PM_PRESENT_BIT) & 1) && !(e & DL_PM_PFN_MASK);
}

/* Reasons soft-dirty cannot work for @o, before touching the kernel. */
static bool sd_config_ok(const dl_tracker *t, const dl_tracker_opts *o,
			 char *why, size_t why_len)
{
	if (forced_off()) {
		snprintf(why, why_len, "disabled by QMIG_SOFT_DIRTY=off");
		return false;
	}
	if (o->qemu_pid <= 0) {
		snprintf(why, why_len, "no QEMU pid to read pagemap from");
		return false;
	}
	if (!o->freeze) {
		snprintf(why, why_len, "no freeze hook: a guest write between "
			 "reading pagemap and clearing the bits would be lost");
		return false;
	}
	for (int i = 0; i < t->ram->nregions; i++) {
		struct statfs sfs;

		if (fstatfs(t->ram->regions[i].fd, &sfs) == 0 &&
		    (unsigned long)sfs.f_type == HUGETLBFS_MAGIC_NR) {
			snprintf(why, why_len, "RAM backend %s is on hugetlbfs: "
				 "pagemap has no per-page soft-dirty bits there",
				 t->ram->regions[i].path);
			return false;
		}
	}
	return true;
}

static sd_state *sd_alloc(const dl_tracker *t, pid_t pid, char *why,
			  size_t why_len)
{
	sd_state *s = calloc(1, sizeof(*s));
	char path[64];

	if (!s) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	s->pid = pid;
	s->cr_fd = -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	s->pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->pm_fd >= 0) {
		snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
		s->cr_fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (s->cr_fd < 0) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		sd_free(s);
		return NULL;
	}
	s->tag = calloc(t->npages ? t->npages : 1, sizeof(*s->tag));
	s->cand = calloc(t->nwords ? t->nwords : 1, sizeof(*s->cand));
	s->stale = calloc(t->nwords ? t->nwords : 1, sizeof(*s->stale));
	s->buf = malloc(DL_PM_WINDOW * sizeof(*s->buf));
	if (!s->tag || !s->cand || !s->stale || !s->buf) {
		snprintf(why, why_len, "out of memory for %llu pages",
			 (unsigned long long)t->npages);
		sd_free(s);
		return NULL;
	}
	s->need_full = true;
	return s;
}

bool dl_softdirty_setup(dl_tracker *t, const dl_tracker_opts *o, char *why,
			size_t why_len)
{
	qm_error err = QM_ERROR_INIT;
	sd_state *s;

	if (!sd_config_ok(t, o, why, why_len) ||
	    dl_softdirty_probe(why, why_len) != DL_SD_YES)
		return false;
	s = sd_alloc(t, o->qemu_pid, why, why_len);
	if (!s)
		return false;
	if (!resolve_maps(t, s, &err)) {
		snprintf(why, why_len, "%s", err.msg);
		sd_free(s);
		return false;
	}
	s->freeze = o->freeze;
	s->opaque = o->freeze_opaque;
	s->last.pfn_hidden = pfns_hidden();
	if (s->last.pfn_hidden)
		pr_warn("soft-dirty: pagemap hides PFNs (no CAP_SYS_ADMIN); a "
			"page punched out and faulted back in between rounds "
			"is only caught by verification");
	t->impl = s;
	t->impl_bytes = t->npages * sizeof(*s->tag) +
			2 * t->nwords * sizeof(*s->cand);
	t->ops = &soft_dirty_ops;
	pr_info("dirty tracking: soft-dirty on process %d (%d regions)",
		(int)o->qemu_pid, t->ram->nregions);
	return true;
}
