/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest.h: shared declarations of the qmig workload guest.
 *
 * The guest is a 32-bit multiboot kernel, freestanding, single CPU, with
 * interrupts off and paging off: every pointer is a physical address. It
 * links against nothing, not even libgcc, so 64-bit division goes through
 * div_u64_u32() below.
 */
#ifndef QMIG_GUEST_H
#define QMIG_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;

#define PAGE_SIZE	4096u
#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~(u64)((a) - 1))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define barrier()	__asm__ __volatile__("" ::: "memory")

static inline void outb(u16 port, u8 v)
{
	__asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* ---- lib.c: the few libc/libgcc pieces we need ---- */
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* n / d with the remainder in *rem (if non-NULL); d must not be 0. */
u64 div_u64_u32(u64 n, u32 d, u32 *rem);
/* Parse a decimal number ("0x" prefix: hex) of exactly @len chars. */
bool parse_u64(const char *s, size_t len, u64 *out);
/* Parse "64M", "1G", "4096", "8k" (powers of 1024). */
bool parse_size(const char *s, size_t len, u64 *out);
bool str_eq(const char *s, size_t len, const char *lit);

/* ---- serial.c: COM1, polled ---- */
void serial_init(void);
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- tsc.c ---- */
/* TSC frequency measured against PIT channel 2 over @ms milliseconds;
 * 0 if the PIT never answered. */
u32 tsc_calibrate_khz(u32 ms);

/* ---- params.c: the kernel command line ---- */
enum pattern { PAT_SEQ = 0, PAT_RAND, PAT_HOTCOLD };

struct params {
	u64 ws;		/* requested working-set bytes */
	u32 rate;	/* page writes per second, 0 = unthrottled */
	enum pattern pattern;
	u32 hot;	/* % of pages that are hot */
	u32 hotw;	/* % of writes that go to hot pages */
	u32 zero;	/* % of writes that write an all-zero page */
	u32 dup;	/* % of writes that write a duplicate content */
	u32 hb_ms;	/* heartbeat interval, 0 = none */
	u32 seed;
};

void params_defaults(struct params *p);
/* Warns (WARN line) about unknown keys and bad values, keeps defaults. */
void params_parse(struct params *p, const char *cmdline);
const char *pattern_name(enum pattern pat);

/* ---- boot.c: multiboot information and memory layout ---- */
struct layout {
	u32 free_start;	/* first byte after the image and boot data */
	u64 ram_end;	/* end of the RAM range holding free_start, <= 4 GiB */
	u32 table;	/* generation table: u32 per page */
	u32 base;	/* working-set page 0 */
	u32 pages;
};

/* Copies the command line into @cmdline and finds the usable RAM range.
 * Returns false (after printing why) if the boot data is unusable. */
bool boot_read(u32 magic, u32 mbi_addr, char *cmdline, size_t len,
	       struct layout *lay);
/* Place table and working set; clamps @ws_bytes to what fits. */
void layout_place(struct layout *lay, u64 ws_bytes);

/* ---- workload.c ---- */
struct guest_state {
	u32 hb_seq;	/* last heartbeat number printed */
	u32 inflight;	/* page being written, index + 1; 0 = none */
};
extern volatile struct guest_state gstate;
void workload_run(const struct params *p, const struct layout *lay,
		  u32 tsc_khz) __attribute__((noreturn));

#endif /* QMIG_GUEST_H */
