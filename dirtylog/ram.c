/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM regions: map backend files, find their allocated extents, hash
 * what is really in them.
 */
#define LOG_PREFIX "dirtylog"
#include "dirtylog/dirtylog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void dl_ram_init(dl_ram *ram)
{
	memset(ram, 0, sizeof(*ram));
	for (int i = 0; i < DL_MAX_REGIONS; i++)
		ram->regions[i].fd = -1;
}

static bool open_backend(const char *path, uint64_t size, unsigned flags,
			 int *fd_out, qm_error *err)
{
	int oflags = O_CLOEXEC | ((flags & DL_MAP_WRITE) ? O_RDWR : O_RDONLY);
	struct stat st;
	int fd;

	if (flags & DL_MAP_CREATE)
		oflags |= O_CREAT;
	fd = open(path, oflags, 0600);
	if (fd < 0)
		return qm_error_errno(err, errno, "RAM backend %s", path);
	if ((flags & DL_MAP_CREATE) && ftruncate(fd, size) < 0) {
		qm_error_errno(err, errno, "RAM backend %s: sizing to %llu bytes",
			       path, (unsigned long long)size);
		close(fd);
		return false;
	}
	if (fstat(fd, &st) < 0) {
		qm_error_errno(err, errno, "RAM backend %s: fstat", path);
		close(fd);
		return false;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		qm_error_set(err, QM_ERR_INVAL,
			     "RAM backend %s: file is %llu bytes, the VM's "
			     "backend is %llu bytes", path,
			     (unsigned long long)st.st_size,
			     (unsigned long long)size);
		close(fd);
		return false;
	}
	*fd_out = fd;
	return true;
}

bool dl_ram_add_file(dl_ram *ram, const char *id, const char *path,
		     uint64_t expected_size, unsigned flags, qm_error *err)
{
	dl_region *r;
	int prot = PROT_READ | ((flags & DL_MAP_WRITE) ? PROT_WRITE : 0);
	int fd = -1;
	void *p;

	if (ram->nregions >= DL_MAX_REGIONS)
		return qm_error_set(err, QM_ERR_INVAL,
				    "RAM backend %s: more than %d regions", id,
				    DL_MAX_REGIONS);
	if (!expected_size || expected_size % DL_PAGE_SIZE)
		return qm_error_set(err, QM_ERR_INVAL,
				    "RAM backend %s: size %llu is not a non-zero "
				    "multiple of %u", id,
				    (unsigned long long)expected_size,
				    DL_PAGE_SIZE);
	if (!open_backend(path, expected_size, flags, &fd, err))
		return false;
	p = mmap(NULL, expected_size, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		qm_error_errno(err, errno, "RAM backend %s: mmap %llu bytes",
			       path, (unsigned long long)expected_size);
		close(fd);
		return false;
	}
	r = &ram->regions[ram->nregions++];
	memset(r, 0, sizeof(*r));
	if (!qm_format(r->id, sizeof(r->id), "%s", id ? id : ""))
		pr_warn("memdev id '%s' truncated", id);
	if (!qm_format(r->path, sizeof(r->path), "%s", path))
		pr_warn("backend path '%s' truncated in reports", path);
	r->fd = fd;
	r->base = p;
	r->size = expected_size;
	r->npages = expected_size / DL_PAGE_SIZE;
	r->first_page = ram->npages;
	r->writable = flags & DL_MAP_WRITE;
	ram->npages += r->npages;
	return true;
}

void dl_ram_close(dl_ram *ram)
{
	for (int i = 0; i < ram->nregions; i++) {
		dl_region *r = &ram->regions[i];

		if (r->base)
			munmap(r->base, r->size);
		if (r->fd >= 0)
			close(r->fd);
	}
	dl_ram_init(ram);
}

const dl_region *dl_ram_region_of(const dl_ram *ram, uint64_t page)
{
	for (int i = 0; i < ram->nregions; i++) {
		const dl_region *r = &ram->regions[i];

		if (page >= r->first_page && page - r->first_page < r->npages)
			return r;
	}
	return NULL;
}

uint8_t *dl_ram_page(const dl_ram *ram, uint64_t page)
{
	const dl_region *r = dl_ram_region_of(ram, page);

	if (!r)
		return NULL;
	return r->base + ((page - r->first_page) << DL_PAGE_SHIFT);
}

int dl_region_next_data(const dl_region *r, uint64_t page, uint64_t *start,
			uint64_t *end)
{
	off_t off = (off_t)(page << DL_PAGE_SHIFT), data, hole;

	if (page >= r->npages)
		return 0;
	data = lseek(r->fd, off, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO)
			return 0;
		if (errno != EINVAL)
			return -errno;
		/* No SEEK_DATA on this filesystem: everything is data. */
		*start = page;
		*end = r->npages;
		return 1;
	}
	hole = lseek(r->fd, data, SEEK_HOLE);
	if (hole < 0)
		return -errno;
	/* Extents are page-granular on tmpfs/hugetlbfs; round outwards so a
	 * partially allocated page is still read. */
	*start = (uint64_t)data >> DL_PAGE_SHIFT;
	*end = ((uint64_t)hole + DL_PAGE_SIZE - 1) >> DL_PAGE_SHIFT;
	if (*end > r->npages)
		*end = r->npages;
	return 1;
}

int dl_region_extents(const dl_region *r, dl_extent **out, size_t *n)
{
	dl_extent *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	uint64_t p = 0, s, e;
	int rc;

	while ((rc = dl_region_next_data(r, p, &s, &e)) > 0) {
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = (dl_extent){ s, e };
		p = e;
	}
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static bool hash_region_range(const dl_region *r, const dl_hasher *h,
			      uint64_t from, uint64_t to, dl_hash *out,
			      qm_error *err)
{
	uint64_t p = from, ds, de;

	while (p < to) {
		int rc = dl_region_next_data(r, p, &ds, &de);

		if (rc < 0)
			return qm_error_errno(err, -rc, "RAM backend %s: "
					      "SEEK_DATA at page %llu", r->path,
					      (unsigned long long)p);
		if (rc == 0 || ds >= to)
			ds = de = to;
		for (; p < ds; p++)
			out[p - from] = h->zero;
		for (; p < de && p < to; p++)
			out[p - from] = dl_hash_page(h, r->base +
						     (p << DL_PAGE_SHIFT));
	}
	return true;
}

static bool in_ram(const dl_ram *ram, uint64_t first, uint64_t n,
		   qm_error *err)
{
	if (first <= ram->npages && n <= ram->npages - first)
		return true;
	return qm_error_set(err, QM_ERR_INVAL, "pages %llu+%llu outside RAM "
			    "of %llu pages", (unsigned long long)first,
			    (unsigned long long)n,
			    (unsigned long long)ram->npages);
}

bool dl_ram_hash_pages(const dl_ram *ram, const dl_hasher *h, uint64_t first,
		       uint64_t n, dl_hash *out, qm_error *err)
{
	uint64_t done = 0;

	if (!in_ram(ram, first, n, err))
		return false;
	while (done < n) {
		const dl_region *r = dl_ram_region_of(ram, first + done);
		uint64_t rel = first + done - r->first_page;
		uint64_t cnt = QM_MIN(n - done, r->npages - rel);

		if (!hash_region_range(r, h, rel, rel + cnt, out + done, err))
			return false;
		done += cnt;
	}
	return true;
}

/* ---- views: extents listed once ---- */

void dl_ram_view_close(dl_ram_view *v)
{
	for (int i = 0; i < DL_MAX_REGIONS; i++)
		free(v->ext[i]);
	memset(v, 0, sizeof(*v));
}

bool dl_ram_view_open(dl_ram_view *v, const dl_ram *ram, qm_error *err)
{
	memset(v, 0, sizeof(*v));
	v->ram = ram;
	for (int i = 0; i < ram->nregions; i++) {
		int rc = dl_region_extents(&ram->regions[i], &v->ext[i],
					   &v->next[i]);

		if (rc < 0) {
			dl_ram_view_close(v);
			return qm_error_errno(err, -rc, "RAM backend %s: listing "
					      "allocated extents",
					      ram->regions[i].path);
		}
	}
	return true;
}

bool dl_ram_view_allocated(const dl_ram_view *v, int ri, uint64_t page)
{
	const dl_extent *x = v->ext[ri];
	size_t lo = 0, hi = v->next[ri];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (page < x[mid].start)
			hi = mid;
		else if (page >= x[mid].end)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool dl_ram_view_hash(const dl_ram_view *v, const dl_hasher *h,
		      uint64_t first, uint64_t n, dl_hash *out, qm_error *err)
{
	const dl_ram *ram = v->ram;

	if (!in_ram(ram, first, n, err))
		return false;
	for (uint64_t i = 0; i < n; i++) {
		const dl_region *r = dl_ram_region_of(ram, first + i);
		int ri = (int)(r - ram->regions);
		uint64_t rel = first + i - r->first_page;

		out[i] = dl_ram_view_allocated(v, ri, rel) ?
			 dl_hash_page(h, r->base + (rel << DL_PAGE_SHIFT)) :
			 h->zero;
	}
	return true;
}

/*
 * Through the file descriptors, not the mapping: pread() of a hole in
 * tmpfs (or any filesystem) returns zeros without allocating it, where a
 * load through a shared mapping would allocate the page. So no extent
 * listing is needed, which is what makes this the cheaper way to hash a
 * few pages of a large RAM; for most of a RAM, a view skips the holes
 * instead of reading them.
 */
#define PREAD_PAGES 16

bool dl_ram_hash_pread(const dl_ram *ram, const dl_hasher *h, uint64_t first,
		       uint64_t n, dl_hash *out, qm_error *err)
{
	uint8_t *buf;
	uint64_t i = 0;
	bool ok = true;

	if (!in_ram(ram, first, n, err))
		return false;
	buf = malloc(PREAD_PAGES * DL_PAGE_SIZE);
	if (!buf)
		return qm_error_set(err, QM_ERR_NOMEM, "read buffer");
	while (ok && i < n) {
		const dl_region *r = dl_ram_region_of(ram, first + i);
		uint64_t rel = first + i - r->first_page;
		/* One read per run of pages inside one region. */
		uint64_t k = QM_MIN(QM_MIN((uint64_t)PREAD_PAGES, n - i),
				    r->npages - rel);
		size_t len = (size_t)(k << DL_PAGE_SHIFT);
		ssize_t got = pread(r->fd, buf, len, (off_t)(rel << DL_PAGE_SHIFT));

		if (got != (ssize_t)len) {
			ok = qm_error_errno(err, got < 0 ? errno : EIO,
					    "RAM backend %s: reading pages "
					    "%llu+%llu", r->path,
					    (unsigned long long)(first + i),
					    (unsigned long long)k);
			break;
		}
		for (uint64_t j = 0; j < k; j++)
			out[i + j] = dl_hash_page(h, buf + (j << DL_PAGE_SHIFT));
		i += k;
	}
	free(buf);
	return ok;
}
