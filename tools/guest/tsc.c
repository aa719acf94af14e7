/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tsc.c: measure the TSC frequency against the PIT.
 *
 * PIT channel 2 is the one whose gate software controls (port 0x61 bit 0)
 * and whose output it can read back (bit 5), so it can time an interval
 * without interrupts: program a one-shot count (mode 0), open the gate,
 * and spin until the output goes high. The same method as Linux's
 * pit_calibrate_tsc(). Under TCG both the PIT and the TSC follow host
 * time, so the result is the host TSC rate.
 */
#include "guest.h"

#define PIT_HZ		1193182u
#define PIT_CH2		0x42
#define PIT_CMD		0x43
#define PORT_B		0x61	/* bit 0 gate 2, bit 1 speaker, bit 5 out 2 */
#define PIT_CH2_MODE0	0xb0	/* channel 2, lobyte/hibyte, mode 0, binary */

u32 tsc_calibrate_khz(u32 ms)
{
	u32 latch = PIT_HZ / 1000u * ms;
	u8 saved = inb(PORT_B);
	u64 t0, t1;
	u32 spins;

	if (latch > 0xffff)	/* 16-bit counter: at most about 54 ms */
		latch = 0xffff;
	outb(PORT_B, (u8)((saved & ~0x02) | 0x01));	/* gate on, no beep */
	outb(PIT_CMD, PIT_CH2_MODE0);
	outb(PIT_CH2, (u8)(latch & 0xff));
	outb(PIT_CH2, (u8)(latch >> 8));
	t0 = rdtsc();
	for (spins = 0; !(inb(PORT_B) & 0x20); spins++)
		if (spins > 100000000u)
			break;
	t1 = rdtsc();
	outb(PORT_B, saved);
	if (spins > 100000000u || t1 <= t0)
		return 0;
	/* kHz = ticks / (latch / PIT_HZ) / 1000; fits: ticks * PIT_HZ < 2^64
	 * for any interval under a few hours. */
	return (u32)div_u64_u32((t1 - t0) * PIT_HZ, latch * 1000u, NULL);
}
