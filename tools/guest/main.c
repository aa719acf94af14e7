/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c: boot the workload guest: serial, TSC, command line, memory
 * layout, the boot line the host parses, then the workload loop.
 */
#include "guest.h"

#define TSC_CAL_MS	50
#define TSC_FALLBACK_KHZ 2000000u

void guest_main(u32 magic, u32 mbi_addr);

static char cmdline[1024];

static void halt(void)
{
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

static u32 tsc_khz(void)
{
	u32 khz = tsc_calibrate_khz(TSC_CAL_MS);

	if (!khz) {
		gprintf("WARN PIT channel 2 did not count, assuming %u kHz\n",
			TSC_FALLBACK_KHZ);
		return TSC_FALLBACK_KHZ;
	}
	gprintf("INFO tsc %u kHz (PIT channel 2, %u ms)\n", khz, TSC_CAL_MS);
	return khz;
}

/* The one line the host needs: keep the field order, only append. */
static void boot_line(const struct params *p, const struct layout *lay,
		      u32 khz)
{
	gprintf("QMIG-GUEST v1 ws=%llu pages=%u base=0x%x table=0x%x rate=%u "
		"pattern=%s zero=%u dup=%u hb=%u tsc_khz=%u hot=%u hotw=%u "
		"seed=%u seqaddr=0x%x inflight=0x%x\n",
		(unsigned long long)lay->pages * PAGE_SIZE, lay->pages,
		lay->base, lay->table, p->rate, pattern_name(p->pattern),
		p->zero, p->dup, p->hb_ms, khz, p->hot, p->hotw, p->seed,
		(u32)&gstate.hb_seq, (u32)&gstate.inflight);
}

void guest_main(u32 magic, u32 mbi_addr)
{
	struct params prm;
	struct layout lay;
	u32 khz;

	serial_init();
	if (!boot_read(magic, mbi_addr, cmdline, sizeof(cmdline), &lay))
		halt();
	gprintf("INFO cmdline '%s'\n", cmdline);
	params_defaults(&prm);
	params_parse(&prm, cmdline);
	khz = tsc_khz();
	layout_place(&lay, prm.ws);
	boot_line(&prm, &lay, khz);
	workload_run(&prm, &lay, khz);
}
