/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pure helpers of the soft-dirty tracker: classify pagemap entries, read
 * them window by window through a callback, and find where a file is mapped
 * in a /proc/PID/maps text. No system calls here, so unit tests drive them
 * with hand-drawn entries and maps text.
 */
#define LOG_PREFIX "dirtylog"
#include "dirtylog/dirtylog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * What a page looked like at a read: 0 when not present (a hole in QEMU's
 * page table or swapped shmem), else a bit for "present" plus the low 31
 * bits of the PFN. Private swap entries get their own constant so that
 * present <-> swapped is a change too. 31 bits of PFN cover 8 TiB of host
 * memory; beyond that two frames may share a tag, which costs nothing but a
 * missed "moved" signal for pages that were also not written.
 */
static uint32_t frame_tag(uint64_t e)
{
	if ((e >> DL_PM_PRESENT_BIT) & 1)
		return 0x80000000u | (uint32_t)(e & 0x7fffffffu);
	if ((e >> DL_PM_SWAPPED_BIT) & 1)
		return 0x40000000u;
	return 0;
}

uint64_t dl_pagemap_classify(const uint64_t *ent, size_t n, uint32_t *tag,
			     uint64_t *cand, uint64_t bit0, dl_pm_counts *c)
{
	uint64_t found = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t e = ent[i], b = bit0 + i;
		uint32_t now = frame_tag(e);
		bool sd = dl_pagemap_soft_dirty(e);
		bool moved = now != tag[i];

		c->soft_dirty += sd;
		c->moved += moved;
		c->present += (e >> DL_PM_PRESENT_BIT) & 1;
		c->swapped += (e >> DL_PM_SWAPPED_BIT) & 1;
		tag[i] = now;
		if (sd || moved) {
			cand[b / 64] |= 1ULL << (b % 64);
			found++;
		}
	}
	c->entries += n;
	return found;
}

bool dl_pagemap_scan(dl_pm_read_fn rd, void *opaque, uint64_t vpage,
		     uint64_t n, uint64_t *buf, size_t window, uint32_t *tag,
		     uint64_t *cand, uint64_t bit0, dl_pm_counts *c,
		     qm_error *err)
{
	uint64_t done = 0;

	if (!window)
		return qm_error_set(err, QM_ERR_INVAL, "pagemap window of 0 "
				    "entries");
	while (done < n) {
		size_t want = (size_t)QM_MIN(n - done, (uint64_t)window);
		long got = rd(opaque, buf, want, vpage + done);

		c->reads++;
		if (got <= 0 || (size_t)got > want) {
			int e = got < 0 ? (int)-got : EIO;

			return qm_error_errno(err, e, "reading pagemap at "
					      "address 0x%llx (%zu entries, "
					      "got %ld)",
					      (unsigned long long)
					      ((vpage + done) << DL_PAGE_SHIFT),
					      want, got);
		}
		dl_pagemap_classify(buf, (size_t)got, tag + done, cand,
				    bit0 + done, c);
		done += (uint64_t)got;
	}
	return true;
}

/* ---- /proc/PID/maps ---- */

bool dl_parse_maps_line(const char *line, dl_map_entry *out)
{
	unsigned long long start, end, off, ino;
	char perms[8];
	int path_at = 0;

	memset(out, 0, sizeof(*out));
	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms,
		   &off, &out->dev_major, &out->dev_minor, &ino, &path_at) < 7 ||
	    end <= start || strlen(perms) != 4)
		return false;
	out->start = start;
	out->end = end;
	out->offset = off;
	out->inode = ino;
	out->shared = perms[3] == 's';
	if (path_at > 0) {
		size_t n = strcspn(line + path_at, "\n");

		if (n >= sizeof(out->path))
			n = sizeof(out->path) - 1;
		memcpy(out->path, line + path_at, n);
		out->path[n] = '\0';
	}
	return true;
}

static int seg_cmp(const void *a, const void *b)
{
	const dl_map_seg *x = a, *y = b;

	return x->page < y->page ? -1 : x->page > y->page;
}

/* Turn one matching line into a segment clipped to file pages [0, npages);
 * false if it maps nothing of them (e.g. only a tail past the size). */
static bool line_to_seg(const dl_map_entry *m, uint64_t npages,
			dl_map_seg *s)
{
	uint64_t first = m->offset >> DL_PAGE_SHIFT;
	uint64_t len = (m->end - m->start) >> DL_PAGE_SHIFT;

	if (first >= npages || !len)
		return false;
	s->vaddr = m->start;
	s->page = first;
	s->npages = QM_MIN(len, npages - first);
	return true;
}

/* Segments sorted by page must tile [0, npages) exactly. */
static bool check_cover(const dl_map_seg *s, int n, uint64_t npages,
			qm_error *err)
{
	uint64_t next = 0;

	for (int i = 0; i < n; i++) {
		if (s[i].page > next)
			return qm_error_set(err, QM_ERR_UNSUPPORTED,
					    "pages %llu-%llu are not mapped",
					    (unsigned long long)next,
					    (unsigned long long)s[i].page - 1);
		if (s[i].page < next)
			return qm_error_set(err, QM_ERR_UNSUPPORTED,
					    "page %llu is mapped twice (at "
					    "0x%llx and in an earlier mapping)",
					    (unsigned long long)s[i].page,
					    (unsigned long long)s[i].vaddr);
		next = s[i].page + s[i].npages;
	}
	if (next < npages)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
				    "pages %llu-%llu are not mapped",
				    (unsigned long long)next,
				    (unsigned long long)npages - 1);
	return true;
}

int dl_maps_find(const char *maps, unsigned dev_major, unsigned dev_minor,
		 uint64_t ino, uint64_t npages, dl_map_seg *out, int max,
		 qm_error *err)
{
	const char *line, *next;
	int n = 0, priv = 0;
	dl_map_entry m;

	for (line = maps; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			next++;
		if (!dl_parse_maps_line(line, &m) || m.inode != ino ||
		    m.dev_major != dev_major || m.dev_minor != dev_minor)
			continue;
		if (!m.shared) {
			priv++;
			continue;
		}
		if (n == max) {
			qm_error_set(err, QM_ERR_TOO_BIG, "mapped in more than "
				     "%d pieces", max);
			return -1;
		}
		n += line_to_seg(&m, npages, &out[n]);
	}
	if (!n) {
		qm_error_set(err, QM_ERR_NOTFOUND, "device %x:%x inode %llu is "
			     "not mapped shared (%d private mappings)",
			     dev_major, dev_minor, (unsigned long long)ino, priv);
		return -1;
	}
	qsort(out, (size_t)n, sizeof(*out), seg_cmp);
	return check_cover(out, n, npages, err) ? n : -1;
}
