/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guestram.c: check the workload guest's memory from the host, with the
 * same page contract (page.h) the guest uses on itself.
 *
 * The file variant reads with pread() rather than mapping: a read fault on
 * a hole of a shared tmpfs mapping allocates the page, pread() of a hole
 * does not, so checking never grows the backend file.
 */
#define LOG_PREFIX "guestram"
#include "tools/guest/guestlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_PAGES 256u	/* 1 MiB per pread */

static bool ram_bounds(uint64_t len, const gl_boot *b, qm_error *err)
{
	uint64_t ws_end = b->base + b->pages * GP_PAGE_SIZE;

	if (!b->pages)
		return qm_error_set(err, QM_ERR_INVAL,
				    "boot line: no working-set pages");
	if (b->table + b->pages * 4 > len)
		return qm_error_set(err, QM_ERR_TOO_BIG, "generation table "
				    "ends at 0x%" PRIx64 ", RAM is 0x%" PRIx64
				    " bytes", b->table + b->pages * 4, len);
	if (ws_end > len)
		return qm_error_set(err, QM_ERR_TOO_BIG, "working set ends at "
				    "0x%" PRIx64 ", RAM is 0x%" PRIx64 " bytes",
				    ws_end, len);
	return true;
}

static bool in_ram(uint64_t len, uint64_t addr)
{
	return addr && addr + 4 <= len;
}

static void check_page(const gl_boot *b, uint32_t idx, uint32_t gen,
		       const uint32_t *page, gl_ram_report *out)
{
	int kind = gp_kind_of(idx, gen, b->zero, b->dup);
	gl_corrupt *c;

	out->pages++;
	out->kinds[kind]++;
	if (gp_first_bad(page, idx, gen, kind) == GP_PAGE_WORDS)
		return;
	if (out->inflight && idx == out->inflight - 1) {
		out->inflight_bad = true;
		return;
	}
	if (out->bad++ >= GL_CORRUPT_KEEP)
		return;
	c = &out->first[out->kept++];
	c->page = idx;
	c->gen = gen;
	c->w0 = page[0];
	c->w1 = page[1];
}

bool gl_ram_check(const void *ram, uint64_t len, const gl_boot *boot,
		  gl_ram_report *out, qm_error *err)
{
	const uint8_t *r = ram;
	const uint32_t *table = (const uint32_t *)(r + boot->table);
	uint64_t i;

	memset(out, 0, sizeof(*out));
	if (!ram_bounds(len, boot, err))
		return false;
	/* Read the state words first: they say which page is in flight. */
	if (in_ram(len, boot->seqaddr)) {
		out->hb_seq_valid = true;
		memcpy(&out->hb_seq, r + boot->seqaddr, 4);
	}
	if (in_ram(len, boot->inflight)) {
		out->inflight_valid = true;
		memcpy(&out->inflight, r + boot->inflight, 4);
	}
	for (i = 0; i < boot->pages; i++)
		check_page(boot, (uint32_t)i, table[i], (const uint32_t *)
			   (r + boot->base + i * GP_PAGE_SIZE), out);
	return true;
}

static bool pread_full(int fd, void *buf, size_t n, uint64_t off,
		       qm_error *err)
{
	uint8_t *p = buf;
	ssize_t r;

	while (n) {
		r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return qm_error_errno(err, r ? errno : EIO,
					      "reading at 0x%" PRIx64, off);
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return true;
}

static bool check_fd(int fd, uint64_t len, const gl_boot *b,
		     gl_ram_report *out, uint32_t *table, uint32_t *buf,
		     qm_error *err)
{
	uint64_t i, j, n;

	if (!ram_bounds(len, b, err) ||
	    !pread_full(fd, table, b->pages * 4, b->table, err))
		return false;
	if (in_ram(len, b->seqaddr)) {
		if (!pread_full(fd, &out->hb_seq, 4, b->seqaddr, err))
			return false;
		out->hb_seq_valid = true;
	}
	if (in_ram(len, b->inflight)) {
		if (!pread_full(fd, &out->inflight, 4, b->inflight, err))
			return false;
		out->inflight_valid = true;
	}
	for (i = 0; i < b->pages; i += n) {
		n = QM_MIN(b->pages - i, CHUNK_PAGES);
		if (!pread_full(fd, buf, n * GP_PAGE_SIZE,
				b->base + i * GP_PAGE_SIZE, err))
			return false;
		for (j = 0; j < n; j++)
			check_page(b, (uint32_t)(i + j), table[i + j],
				   buf + j * GP_PAGE_WORDS, out);
	}
	return true;
}

bool gl_ram_check_file(const char *path, const gl_boot *boot,
		       gl_ram_report *out, qm_error *err)
{
	uint32_t *table = NULL, *buf = NULL;
	struct stat st;
	bool ok = false;
	int fd;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return qm_error_errno(err, errno, "opening RAM file %s", path);
	if (fstat(fd, &st) < 0) {
		qm_error_errno(err, errno, "stat RAM file %s", path);
		goto out;
	}
	table = malloc(QM_MAX(boot->pages, 1) * 4);
	buf = malloc(CHUNK_PAGES * GP_PAGE_SIZE);
	if (!table || !buf) {
		qm_error_set(err, QM_ERR_NOMEM, "RAM file %s: no memory for "
			     "%" PRIu64 " pages", path, boot->pages);
		goto out;
	}
	ok = check_fd(fd, (uint64_t)st.st_size, boot, out, table, buf, err);
	if (!ok)
		qm_error_prepend(err, "RAM file %s", path);
out:
	free(table);
	free(buf);
	close(fd);
	return ok;
}
