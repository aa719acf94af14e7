/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirtylog: guest RAM access, dirty tracking and page hashes.
 *
 * The guest's RAM lives in shared memory backends (tmpfs/hugetlbfs files, or
 * memfds reached through /proc/PID/fd). The agent maps each backend as a
 * region; regions are numbered into one page space:
 *
 *   page index   0 ........ n0-1 | n0 ......... n0+n1-1 | ...
 *   region       ram0 (node 0)   | ram1 (node 1)        | ...
 *
 * Hashes are XXH3-128 keyed with a per-migration random secret
 * (XXH3_128bits_withSecret): a guest cannot craft collisions it does not
 * know the secret for, so dedup and verification cannot be poisoned, and a
 * hash is meaningless outside its migration.
 *
 * A tracker answers, once per round, "which pages hold content other than
 * what was last marked sent". Two implementations sit behind one ops table:
 *
 *  - hash-scan: hash every allocated page and compare with the last-sent
 *    hash. Works everywhere, finds real content changes only (a page
 *    rewritten with the same bytes is not resent). Holes in the backend file
 *    (lseek SEEK_DATA/SEEK_HOLE) are known zero and never read: reading a
 *    hole through a shared tmpfs mapping would allocate it.
 *  - soft-dirty: only pages whose soft-dirty bit is set are hashed (kernel
 *    CONFIG_MEM_SOFT_DIRTY; probed at run time, falls back to hash-scan).
 *
 * Races, and why they are harmless:
 *  - The guest writes a page after the scan hashed it: the next round sees
 *    the new content (its hash differs from the last-sent one).
 *  - The guest writes a page between the sender's copy and the hash it
 *    records: dl_tracker_mark_sent() must be given the hash of the bytes
 *    actually sent, so the next round compares against what the destination
 *    really holds. Either way the final pass runs with the vCPUs stopped and
 *    the destination verifies its real memory before it may run, so no race
 *    can make a wrong page reach a running guest.
 *
 * Per-page state is 26 bytes (last-sent hash, 32 bits of the hash the last
 * scan saw, times dirtied, a mask of the last 8 rounds it was dirty in,
 * last round dirtied) plus one bit of dirty bitmap: about 0.64% of guest
 * RAM.
 *
 * Threads: a dl_ram and a dl_tracker belong to one thread (the migration's);
 * dl_tracker_round() runs its own worker threads internally.
 * dl_tracker_mark_sent() may be called from several threads at once for
 * distinct pages.
 */
#ifndef QMIG_DIRTYLOG_H
#define QMIG_DIRTYLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

#define DL_PAGE_SHIFT 12
#define DL_PAGE_SIZE (1u << DL_PAGE_SHIFT)
#define DL_SECRET_SIZE 192        /* XXH3_SECRET_DEFAULT_SIZE */
#define DL_MAX_REGIONS 16
#define DL_CHUNK_PAGES 512        /* 2 MiB: unit of work for scan threads */
#define DL_MAX_THREADS 64

/* ---- hashing ---- */

typedef struct dl_hash {
	uint64_t lo, hi;
} dl_hash;

typedef struct dl_hasher {
	uint8_t secret[DL_SECRET_SIZE];
	dl_hash zero;                /* hash of an all-zero page */
} dl_hasher;

/* Derive the secret from @seed (any length > 0): the same seed gives the
 * same hashes, which is how both agents of a migration agree. */
bool dl_hasher_init(dl_hasher *h, const void *seed, size_t seed_len,
		    qm_error *err);
/* Fill @seed_out (DL_SECRET_SIZE bytes) from getrandom() and init from it. */
bool dl_hasher_init_random(dl_hasher *h, uint8_t seed_out[DL_SECRET_SIZE],
			   qm_error *err);
dl_hash dl_hash_page(const dl_hasher *h, const void *page);
static inline bool dl_hash_eq(dl_hash a, dl_hash b)
{
	return a.lo == b.lo && a.hi == b.hi;
}
/* True if the 4 KiB page is all zero bytes. */
bool dl_page_is_zero(const void *page);

/* ---- RAM regions ---- */

enum {
	DL_MAP_WRITE = 1 << 0,   /* map read-write (destination) */
	DL_MAP_CREATE = 1 << 1,  /* create the file and size it (destination) */
};

typedef struct dl_region {
	char id[64];             /* QEMU memdev id, e.g. "ram0" */
	char path[256];          /* file the mapping comes from */
	int fd;
	uint8_t *base;
	uint64_t size;           /* bytes, multiple of DL_PAGE_SIZE */
	uint64_t first_page;     /* index of its first page in the page space */
	uint64_t npages;
	bool writable;
} dl_region;

typedef struct dl_ram {
	dl_region regions[DL_MAX_REGIONS];
	int nregions;
	uint64_t npages;         /* total over all regions */
} dl_ram;

void dl_ram_init(dl_ram *ram);
/*
 * dl_ram_add_file: map the backend at @path as the next region.
 * @expected_size: the size QEMU reports for the backend; the file must have
 * exactly this size (with DL_MAP_CREATE it is created, or truncated to it).
 * Errors: QM_ERR_IO (open/mmap, naming the path), QM_ERR_INVAL (size not a
 * multiple of the page size, file size differs from @expected_size, too
 * many regions).
 */
bool dl_ram_add_file(dl_ram *ram, const char *id, const char *path,
		     uint64_t expected_size, unsigned flags, qm_error *err);
void dl_ram_close(dl_ram *ram);
/* Region holding @page, or NULL if out of range. */
const dl_region *dl_ram_region_of(const dl_ram *ram, uint64_t page);
/* Address of @page in the mapping, NULL if out of range. */
uint8_t *dl_ram_page(const dl_ram *ram, uint64_t page);

/*
 * dl_region_next_data: find the first allocated page at or after @page
 * (region-relative) with lseek(SEEK_DATA), and the end of that data extent.
 * Returns 1 with [*start, *end) set, 0 if the rest of the region is a hole,
 * -errno on failure. Filesystems without SEEK_DATA report all data.
 */
int dl_region_next_data(const dl_region *r, uint64_t page, uint64_t *start,
			uint64_t *end);

/* An allocated extent of a region: pages [start, end), region-relative. */
typedef struct dl_extent {
	uint64_t start, end;
} dl_extent;

/*
 * dl_region_extents: list the allocated extents of @r in one sequential
 * walk (a SEEK_HOLE from the middle of a large extent walks to its end, so
 * callers that split the region into chunks must not ask per chunk).
 * *@out is malloc'ed, owned by the caller (free it), *@n extents.
 * Returns 0 or -errno.
 */
int dl_region_extents(const dl_region *r, dl_extent **out, size_t *n);

/*
 * dl_ram_view: the allocated extents of every region, listed once (one
 * sequential walk per region), so that many lookups or hashes of page
 * ranges cost no system call. Rebuild it when the allocation may have
 * changed (the trackers do, once per round; verification, once per pass
 * over a stopped VM). dl_ram_view_close() frees it; a closed or zeroed
 * view can be closed again.
 */
typedef struct dl_ram_view {
	const dl_ram *ram;
	dl_extent *ext[DL_MAX_REGIONS];
	size_t next[DL_MAX_REGIONS];
} dl_ram_view;

bool dl_ram_view_open(dl_ram_view *v, const dl_ram *ram, qm_error *err);
void dl_ram_view_close(dl_ram_view *v);
/* Whether region-relative page @page of region @ri is allocated. */
bool dl_ram_view_allocated(const dl_ram_view *v, int ri, uint64_t page);
/* Hash pages [first, first + n): holes hash as h->zero without a read.
 * Returns false (QM_ERR_INVAL) for a range outside the RAM. */
bool dl_ram_view_hash(const dl_ram_view *v, const dl_hasher *h,
		      uint64_t first, uint64_t n, dl_hash *out, qm_error *err);
/* The same without a view: read through the file descriptors, where a
 * hole reads as zeros and is not allocated. Cheaper than listing the
 * extents of a large RAM to hash a few pages; QM_ERR_INVAL outside the
 * RAM, QM_ERR_IO if a read fails. */
bool dl_ram_hash_pread(const dl_ram *ram, const dl_hasher *h, uint64_t first,
		       uint64_t n, dl_hash *out, qm_error *err);

/*
 * dl_ram_hash_pages: hash pages [first, first + n) of @ram into @out,
 * reading only allocated extents (holes get h->zero). One extent walk per
 * call: to hash many ranges, open a dl_ram_view once instead.
 */
bool dl_ram_hash_pages(const dl_ram *ram, const dl_hasher *h, uint64_t first,
		       uint64_t n, dl_hash *out, qm_error *err);

/* ---- discovering a running VM's RAM (QMP) ---- */

typedef struct qmp_conn qmp_conn;

typedef enum dl_backend_kind {
	DL_BACKEND_UNKNOWN = 0,
	DL_BACKEND_FILE,         /* memory-backend-file (tmpfs, hugetlbfs) */
	DL_BACKEND_MEMFD,        /* memory-backend-memfd */
	DL_BACKEND_RAM,          /* memory-backend-ram: not readable */
} dl_backend_kind;

typedef struct dl_backend_info {
	dl_backend_kind kind;
	char path[256];          /* what the agent opened: mem-path or
				  * /proc/PID/fd/N for a memfd */
} dl_backend_info;

const char *dl_backend_kind_name(dl_backend_kind k);

/*
 * dl_discover: map every memory backend of the VM behind @q, read-only,
 * as regions sorted by backend id (a NUMA guest gives several regions; the
 * page numbering does not depend on QEMU's command-line order).
 * @pid: QEMU's pid, or 0 to take it from the QMP socket (SO_PEERCRED).
 * @ram must be freshly dl_ram_init()ed; @info gets one entry per region.
 * Errors (QM_ERR_UNSUPPORTED, _NOTFOUND, _INVAL, _IO, QMP errors) say which
 * backend and why: not shared, no backend at all, a file that is gone or
 * is not the one QEMU maps (deleted, replaced, resized), a backend kind
 * the agent cannot read, ambiguous same-sized memfds. On failure nothing
 * stays mapped.
 */
bool dl_discover(qmp_conn *q, pid_t pid, dl_ram *ram,
		 dl_backend_info info[DL_MAX_REGIONS], qm_error *err);

/*
 * dl_discover_failed_on_ram: whether an error of dl_discover() says the
 * RAM cannot be mapped (a backend not shared, of a kind the agent cannot
 * read, a file gone or not the one QEMU maps, ...), as opposed to a
 * failure to talk to QEMU (QMP, timeout, out of memory). A VM of the
 * first kind can still be described (dl_describe) and moved by QEMU.
 */
bool dl_discover_failed_on_ram(const qm_error *err);

/* One memory backend as QEMU reports it (query-memdev, qom-list). */
typedef struct dl_memdev {
	char id[128];            /* QEMU's object id (QMP_NAME_MAX) */
	uint64_t size;           /* bytes */
	dl_backend_kind kind;
	bool share;
} dl_memdev;

/*
 * dl_describe: the VM's memory backends as QEMU reports them, sorted by
 * id as dl_discover() numbers them, without mapping anything (for a VM
 * whose RAM the agent cannot read). *@n backends go into @out; *@bytes is
 * their total, or QEMU's base memory (query-memory-size-summary) when
 * there is no backend. Errors: QMP errors, QM_ERR_UNSUPPORTED for more
 * than DL_MAX_REGIONS backends.
 */
bool dl_describe(qmp_conn *q, dl_memdev out[DL_MAX_REGIONS], int *n,
		 uint64_t *bytes, qm_error *err);

/* One parsed /proc/PID/maps line (exposed for unit tests). */
typedef struct dl_map_entry {
	uint64_t start, end;
	uint64_t offset;         /* file offset of start */
	unsigned dev_major, dev_minor;
	uint64_t inode;
	bool shared;
	char path[512];
} dl_map_entry;
bool dl_parse_maps_line(const char *line, dl_map_entry *out);

/* ---- trackers ---- */

typedef enum dl_tracker_kind {
	DL_TRACKER_AUTO = 0,      /* soft-dirty if it works here, else hash-scan */
	DL_TRACKER_HASH_SCAN,
	DL_TRACKER_SOFT_DIRTY,
} dl_tracker_kind;

typedef struct dl_tracker_opts {
	dl_tracker_kind kind;
	int threads;              /* scan threads; 0 = number of online CPUs */
	pid_t qemu_pid;           /* soft-dirty: the process mapping the RAM */
	/* soft-dirty: stop (@stop true) or resume every writer of guest RAM
	 * in qemu_pid (the agent: QMP stop/cont). Returns only once writes
	 * have really ceased; if stopping fails it leaves QEMU running (no
	 * resume follows). Called from the thread running the round.
	 * Without it soft-dirty is refused (see the soft-dirty section). */
	bool (*freeze)(void *opaque, bool stop, qm_error *err);
	void *freeze_opaque;
	/* If true (the default for a fresh destination), every page starts as
	 * "sent as zero": round 0 then reports only pages with non-zero
	 * content. If false, round 0 reports every page. */
	bool assume_dest_zero;
} dl_tracker_opts;

typedef struct dl_round_stats {
	uint64_t round;           /* 0 for the first round */
	uint64_t pages_scanned;   /* pages hashed */
	uint64_t pages_holes;     /* pages skipped as holes */
	uint64_t pages_dirty;     /* pages whose content differs from last sent */
	uint64_t pages_dirty_zero;/* of those, now all zero */
	uint64_t pages_changed;   /* written since the previous round's scan
				   * (pages_dirty also counts pages still
				   * unsent: held back, or never marked sent) */
	int64_t find_ns;          /* wall time this round took */
	int64_t interval_ns;      /* since the previous round started */
	double dirty_pages_per_s; /* pages_changed / interval (0 for round 0) */
	double dirty_bytes_per_s;
} dl_round_stats;

typedef struct dl_tracker dl_tracker;

/*
 * dl_tracker_new: create a tracker over @ram (which must outlive it) with
 * hashes from @h. With DL_TRACKER_AUTO the soft-dirty probe decides; why it
 * fell back is logged and available from dl_tracker_fallback_reason().
 * Returns NULL with *err set on failure (e.g. SOFT_DIRTY requested and
 * unavailable, or out of memory).
 */
dl_tracker *dl_tracker_new(const dl_ram *ram, const dl_hasher *h,
			   const dl_tracker_opts *o, qm_error *err);
void dl_tracker_free(dl_tracker *t);
const char *dl_tracker_name(const dl_tracker *t);  /* "hash-scan" ... */
const char *dl_tracker_fallback_reason(const dl_tracker *t); /* "" if none */

/* Round flags. */
enum {
	/* Treat every changed page as sent with its current hash (used to
	 * measure dirty rates without a transfer, and by tests). */
	DL_ROUND_ADOPT = 1 << 0,
};

/*
 * dl_tracker_round: find the pages whose content differs from the hash last
 * marked sent, into the tracker's dirty bitmap (replacing the previous
 * round's), update per-page history, fill @st.
 */
bool dl_tracker_round(dl_tracker *t, unsigned flags, dl_round_stats *st,
		      qm_error *err);

/* The dirty bitmap of the last round: bit p set = page p changed. */
const uint64_t *dl_tracker_dirty_bitmap(const dl_tracker *t);
bool dl_tracker_is_dirty(const dl_tracker *t, uint64_t page);

/*
 * dl_tracker_next_run: iterate the last round's dirty pages as runs of
 * consecutive pages. Start with *cursor = 0; each call returns true and sets
 * [*start, *start + *len) for the next run, false at the end.
 */
bool dl_tracker_next_run(const dl_tracker *t, uint64_t *cursor,
			 uint64_t *start, uint64_t *len);

/* Record that @page was sent with content hashing to @h. */
void dl_tracker_mark_sent(dl_tracker *t, uint64_t page, dl_hash h);
/* Last-sent hash of @page (h->zero initially with assume_dest_zero). */
dl_hash dl_tracker_sent_hash(const dl_tracker *t, uint64_t page);

/* History: rounds in which the page was found dirty (saturates at 255), and
 * the last such round (0 if never). A page is hot if it was dirty in at
 * least @min_rounds of the last @window rounds (window <= 8), counting the
 * last completed round. */
unsigned dl_tracker_dirty_count(const dl_tracker *t, uint64_t page);
uint64_t dl_tracker_last_dirty_round(const dl_tracker *t, uint64_t page);
bool dl_tracker_is_hot(const dl_tracker *t, uint64_t page, unsigned window,
		       unsigned min_rounds);

/* Bytes of per-page state the tracker holds (for the 1% budget). */
uint64_t dl_tracker_memory_bytes(const dl_tracker *t);

/*
 * dl_measure_dirty_rate: measure how fast the content of @ram changes over
 * @ms milliseconds with a private tracker (no effect on any migration).
 * Fills @st from the second round (pages and bytes per second of pages
 * whose content changed during the interval).
 */
bool dl_measure_dirty_rate(const dl_ram *ram, const dl_tracker_opts *o,
			   int ms, dl_round_stats *st, qm_error *err);

/* ---- soft-dirty ----
 *
 * The soft-dirty tracker asks the kernel which pages QEMU wrote since the
 * last round instead of hashing all of RAM. Each region's virtual address
 * range in QEMU is found in /proc/PID/maps (the shared mapping whose device
 * and inode match the region's fd; a mapping split into several VMAs is
 * followed piece by piece). A round k >= 1 then runs:
 *
 *   freeze(stop) -> read pagemap (one pread per DL_PM_WINDOW entries)
 *                -> clear_refs "4" -> freeze(resume)
 *                -> list extents -> hash candidates, compare holes with zero
 *
 * Candidates are the pages whose pagemap entry says soft-dirty, whose frame
 * changed since the previous round (not present now and present before,
 * or the other way round, or another PFN: a page punched out and faulted
 * back in reads as zero without being written), and the pages reported
 * dirty before and not since marked sent with a new hash (held back by the
 * engine). Every other page of a data extent is known unchanged and is not
 * read; hole pages are compared with the zero hash as in hash-scan. Round 0
 * (and the round after a failed one) is a full hash-scan: soft-dirty bits
 * say nothing about what the destination holds. It still reads pagemap and
 * clears the bits first, so round 1 sees every write made after round 0
 * started hashing.
 *
 * Races, and why this order:
 *  - Reading pagemap and clearing the bits are two system calls; a write
 *    between them sets a bit that the clear then wipes: the write would be
 *    lost for good. Hence the freeze hook around both (CRIU freezes the
 *    task for the same reason); the vCPUs are paused for the pagemap
 *    read (2 MiB of entries per GiB of guest RAM) and the clear, not for
 *    the hashing.
 *  - A write after the clear sets the bit again: the page is a candidate
 *    next round, whatever this round's hash saw. Pages are hashed after
 *    the clear, so the hash never predates the bits it relies on.
 *  - dl_tracker_mark_sent() must get the hash of bytes copied after the
 *    round that reported the page started (never carry a copy across a
 *    round): a later write then leaves a soft-dirty bit, an earlier one
 *    would not.
 *  - The extents are listed after the clear, so a hole filled before it
 *    is read as data, and one filled after it is soft-dirty next round.
 *
 * What it cannot see, so where hash-scan must be used instead (the final
 * verification catches any of these, at the cost of a resend):
 *  - writes to guest RAM from another process's mapping (vhost-user
 *    backends) or through pages pinned before the clear (VFIO): only
 *    QEMU's own page tables are read;
 *  - hugetlbfs backends: pagemap reports soft-dirty for hugetlb mappings
 *    per mapping (VM_SOFTDIRTY), not per page; such regions are refused
 *    at setup;
 *  - a second user of clear_refs on the same QEMU (CRIU, another tracker):
 *    the clears steal each other's bits.
 * Cost to the guest: clear_refs write-protects every QEMU PTE, so the first
 * write to each page after a round takes a minor fault.
 *
 * Without a freeze hook, a qemu_pid, kernel support (the probe), or with
 * QMIG_SOFT_DIRTY=off, AUTO falls back to hash-scan with the reason in
 * dl_tracker_fallback_reason() and SOFT_DIRTY is refused with it.
 */

#define DL_PM_SOFT_DIRTY_BIT 55
#define DL_PM_PRESENT_BIT 63
#define DL_PM_SWAPPED_BIT 62
#define DL_PM_PFN_MASK ((1ULL << 55) - 1)
#define DL_PM_WINDOW 4096         /* pagemap entries per pread (32 KiB) */
#define DL_SD_MAX_SEGS 64         /* VMAs one region may be split into */

typedef enum dl_softdirty_probe_result {
	DL_SD_YES,      /* the kernel sets soft-dirty bits on shared memory */
	DL_SD_NO,       /* it does not (or disabled by QMIG_SOFT_DIRTY=off) */
	DL_SD_ERROR,    /* the probe itself failed; see why */
} dl_softdirty_probe_result;

/* Probe soft-dirty on a shared page of this process; @why says what was
 * found. Cheap enough to call once at start-up; callers cache it. */
dl_softdirty_probe_result dl_softdirty_probe(char *why, size_t why_len);
/* Soft-dirty bit of one 64-bit /proc/PID/pagemap entry. */
int dl_pagemap_soft_dirty(uint64_t entry);

/* Counts from classifying pagemap entries. */
typedef struct dl_pm_counts {
	uint64_t entries;         /* entries classified */
	uint64_t soft_dirty;      /* bit 55 set */
	uint64_t moved;           /* frame changed since the previous read */
	uint64_t present, swapped;
	uint64_t reads;           /* read calls (pread on /proc/PID/pagemap) */
} dl_pm_counts;

/*
 * dl_pagemap_classify: pure function over one window of @n pagemap entries.
 * @tag[i] holds what was seen for page i at the previous read (0 = not
 * present) and is updated. Page i is a candidate, and bit @bit0 + i of
 * @cand is set, when its entry is soft-dirty or its tag changed; the bit is
 * never cleared here. Counts are added to @c. Returns the candidates.
 */
uint64_t dl_pagemap_classify(const uint64_t *ent, size_t n, uint32_t *tag,
			     uint64_t *cand, uint64_t bit0, dl_pm_counts *c);

/* Reads @n entries for virtual pages from @vpage into @buf; returns the
 * entries read (may be short, never 0 unless an error), or -errno. */
typedef long (*dl_pm_read_fn)(void *opaque, uint64_t *buf, size_t n,
			      uint64_t vpage);

/*
 * dl_pagemap_scan: read the entries of virtual pages [@vpage, @vpage + @n)
 * in windows of @window entries (one @rd call per window unless a read
 * comes back short) into @buf (@window entries) and classify them as
 * dl_pagemap_classify() does, @tag[0] and bit @bit0 standing for @vpage.
 * Errors: a failing or empty read, naming the virtual address.
 */
bool dl_pagemap_scan(dl_pm_read_fn rd, void *opaque, uint64_t vpage,
		     uint64_t n, uint64_t *buf, size_t window, uint32_t *tag,
		     uint64_t *cand, uint64_t bit0, dl_pm_counts *c,
		     qm_error *err);

/* Where part of a region is mapped: region pages [page, page + npages) at
 * virtual address @vaddr of the QEMU process. */
typedef struct dl_map_seg {
	uint64_t vaddr, page, npages;
} dl_map_seg;

/*
 * dl_maps_find: in the text of /proc/PID/maps, find the shared mappings of
 * the file with device @dev_major:@dev_minor and inode @ino, and return how
 * they cover file pages [0, @npages) as segments sorted by page (at most
 * @max). Private mappings of the file are ignored (guest writes through
 * them never reach the file). Returns the number of segments, or -1 with
 * *err: not mapped shared (QM_ERR_NOTFOUND), part of the file not mapped
 * or mapped twice, naming the pages (QM_ERR_UNSUPPORTED), more than @max
 * pieces (QM_ERR_TOO_BIG).
 */
int dl_maps_find(const char *maps, unsigned dev_major, unsigned dev_minor,
		 uint64_t ino, uint64_t npages, dl_map_seg *out, int max,
		 qm_error *err);

/* Per-round figures of the soft-dirty tracker (the last round's). */
typedef struct dl_sd_stats {
	dl_pm_counts pm;          /* from this round's pagemap read */
	uint64_t stale;           /* held-back pages re-checked */
	uint64_t candidates;      /* pages the round had to look at */
	bool full;                /* the round was a full hash-scan */
	bool pfn_hidden;          /* pagemap shows no PFNs (no CAP_SYS_ADMIN):
				   * only present/absent changes are seen */
	int64_t freeze_ns;        /* writers stopped: pagemap read + clear */
} dl_sd_stats;

/* Fill @out for a soft-dirty tracker; false (and @out untouched) for any
 * other tracker. */
bool dl_tracker_softdirty_stats(const dl_tracker *t, dl_sd_stats *out);

/* ---- destination placement (NUMA) ----
 *
 * The destination creates its backend file (DL_MAP_CREATE | DL_MAP_WRITE),
 * then binds each region to the guest NUMA node's host node before any page
 * of it is allocated: a memory policy moves no page that already exists.
 *
 *  - tmpfs and memfd: the policy is stored with the file (shmem shared
 *    policy), so pages the destination QEMU allocates later through its own
 *    mapping follow it too.
 *  - hugetlbfs: the policy belongs to the agent's mapping only; pages the
 *    agent writes land on the node, pages QEMU allocates itself follow
 *    QEMU's policy (give the memory backend host-nodes= and policy=bind).
 *
 * A host with one node, or a kernel without NUMA: binding to node 0 does
 * nothing and succeeds (the reason is logged once per call); any other node
 * is an error naming the nodes that exist.
 */

enum {
	/* MPOL_PREFERRED instead of MPOL_BIND: allocate elsewhere when the
	 * node is full rather than fail the guest's page fault (SIGBUS). */
	DL_BIND_PREFERRED = 1 << 0,
};

/*
 * dl_ram_bind_node: set the memory policy of region @region (index into
 * ram->regions) to host node @node (MPOL_BIND, or MPOL_PREFERRED with
 * DL_BIND_PREFERRED). Call before the first touch; pages already allocated
 * stay where they are (logged with their count).
 * Errors: QM_ERR_INVAL (no such region, node out of range or without
 * memory, naming the node and the nodes that have memory), QM_ERR_IO
 * (mbind failed).
 */
bool dl_ram_bind_node(dl_ram *ram, int region, int node, unsigned flags,
		      qm_error *err);

/*
 * dl_ram_page_node: the host node holding @page (move_pages() query), or
 * -errno: -ENOENT when the page is not allocated or not mapped in this
 * process, -EINVAL when @page is out of range.
 */
int dl_ram_page_node(const dl_ram *ram, uint64_t page);

#endif /* QMIG_DIRTYLOG_H */
