/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * boot.c: read the multiboot (v1) information and lay out guest memory.
 *
 *   1 MiB
 *   ├── guest image (.text .rodata .data .bss, stack in .bss)
 *   ├── boot data the loader put after the image (QEMU: the command line)
 *   ├── generation table   u32 per working-set page     <- table=
 *   ├── working set        pages * 4 KiB, page aligned    <- base=
 *   └── ... up to the end of that RAM range (at most 4 GiB)
 *
 * Only the RAM range that holds the image is used, and only below 4 GiB:
 * with paging off a 32-bit guest cannot address more, and the host finds
 * page i at base + i * 4096 only if the working set is contiguous.
 * Everything the loader left above the image is stepped over, so the
 * working set starts out as fresh (zero) RAM.
 */
#include "guest.h"

#define MB_BOOT_MAGIC	0x2badb002u
#define MBI_MEM		(1u << 0)
#define MBI_CMDLINE	(1u << 2)
#define MBI_MODS	(1u << 3)
#define MBI_MMAP	(1u << 6)
#define MMAP_RAM	1u
#define FOUR_GIB	(1ull << 32)

struct mb_info {
	u32 flags;
	u32 mem_lower, mem_upper;	/* KiB below 1 MiB / above 1 MiB */
	u32 boot_device;
	u32 cmdline;
	u32 mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
};

struct mb_mod {
	u32 start, end, string, reserved;
};

struct mb_mmap {
	u32 size;	/* of the rest of the entry, excluding this field */
	u64 addr, len;
	u32 type;
} __attribute__((packed));

extern char __image_start[], __image_end[];	/* linker.ld */

/* Move *free past [addr, addr + len) if that lies above the image start. */
static void step_over(u64 *free, u32 addr, u64 len)
{
	if (addr >= (u32)__image_start && addr + len > *free)
		*free = addr + len;
}

static void copy_cmdline(const struct mb_info *mbi, char *out, size_t len,
			 u64 *free)
{
	const char *s = (const char *)mbi->cmdline;
	size_t n;

	out[0] = '\0';
	if (!(mbi->flags & MBI_CMDLINE) || !s)
		return;
	n = strlen(s);
	step_over(free, mbi->cmdline, n + 1);
	if (n >= len) {
		gprintf("WARN command line truncated to %u bytes\n",
			(u32)len - 1);
		n = len - 1;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

static void step_over_mods(const struct mb_info *mbi, u64 *free)
{
	const struct mb_mod *m = (const struct mb_mod *)mbi->mods_addr;
	u32 i;

	if (!(mbi->flags & MBI_MODS))
		return;
	step_over(free, mbi->mods_addr, (u64)mbi->mods_count * sizeof(*m));
	for (i = 0; i < mbi->mods_count; i++) {
		step_over(free, m[i].start, m[i].end - m[i].start);
		if (m[i].string)
			step_over(free, m[i].string,
				  strlen((const char *)m[i].string) + 1);
	}
}

/* End of the RAM range holding @addr, capped at 4 GiB; 0 if none. */
static u64 ram_end_mmap(const struct mb_info *mbi, u64 addr)
{
	u32 off = 0;
	u64 end;

	while (off < mbi->mmap_length) {
		const struct mb_mmap *e =
			(const struct mb_mmap *)(mbi->mmap_addr + off);

		end = e->addr + e->len;
		if (end > FOUR_GIB)
			end = FOUR_GIB;
		if (e->type == MMAP_RAM && e->addr <= addr && addr < end)
			return end;
		off += e->size + 4;
	}
	return 0;
}

bool boot_read(u32 magic, u32 mbi_addr, char *cmdline, size_t len,
	       struct layout *lay)
{
	const struct mb_info *mbi = (const struct mb_info *)mbi_addr;
	u64 free = (u32)__image_end;
	const char *how = "mmap";

	if (magic != MB_BOOT_MAGIC) {
		gprintf("WARN not started by a multiboot loader (eax=0x%x)\n",
			magic);
		return false;
	}
	step_over(&free, mbi_addr, sizeof(*mbi));
	copy_cmdline(mbi, cmdline, len, &free);
	step_over_mods(mbi, &free);
	if (mbi->flags & MBI_MMAP)
		step_over(&free, mbi->mmap_addr, mbi->mmap_length);
	free = ALIGN_UP(free, PAGE_SIZE);
	lay->free_start = (u32)free;
	lay->ram_end = 0;
	if (mbi->flags & MBI_MMAP)
		lay->ram_end = ram_end_mmap(mbi, free);
	if (!lay->ram_end && (mbi->flags & MBI_MEM)) {
		lay->ram_end = (1ull << 20) + (u64)mbi->mem_upper * 1024;
		how = "mem_upper";
	}
	gprintf("INFO memory: image 0x%x-0x%x, free from 0x%x to 0x%llx (%s)\n",
		(u32)__image_start, (u32)__image_end, lay->free_start,
		(unsigned long long)lay->ram_end, how);
	if (lay->ram_end < free + 3 * PAGE_SIZE) {
		gprintf("WARN no RAM above the image\n");
		return false;
	}
	return true;
}

void layout_place(struct layout *lay, u64 ws_bytes)
{
	u64 avail = lay->ram_end - lay->free_start;
	u64 want = ws_bytes >> 12;
	/* One page of slack covers rounding the table up to a page. */
	u64 max = div_u64_u32(avail - PAGE_SIZE, PAGE_SIZE + 4, NULL);

	if (want > max) {
		gprintf("WARN ws=%llu does not fit, clamped to %llu\n",
			(unsigned long long)ws_bytes,
			(unsigned long long)(max << 12));
		want = max;
	}
	lay->pages = (u32)want;
	lay->table = lay->free_start;
	lay->base = lay->table + (u32)ALIGN_UP((u64)lay->pages * 4, PAGE_SIZE);
}
