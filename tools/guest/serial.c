/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * serial.c: COM1 output, polled, and a printf that knows just enough
 * (%s %.*s %c %u %d %x %llu %llx %%).
 *
 * Polling instead of interrupts keeps the guest free of an IDT: with
 * interrupts off nothing can preempt the workload loop, so the time
 * between two heartbeats is spent only in our own code.
 */
#include "guest.h"

#define COM1		0x3f8
#define UART_THR	0	/* transmit holding register (DLAB=0) */
#define UART_DLL	0	/* divisor latch low (DLAB=1) */
#define UART_IER	1
#define UART_DLM	1
#define UART_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define LSR_THRE	0x20	/* transmitter holding register empty */

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);	/* no interrupts */
	outb(COM1 + UART_LCR, 0x80);	/* DLAB on */
	outb(COM1 + UART_DLL, 0x01);	/* 115200 baud */
	outb(COM1 + UART_DLM, 0x00);
	outb(COM1 + UART_LCR, 0x03);	/* 8N1, DLAB off */
	outb(COM1 + UART_FCR, 0xc7);	/* FIFO on, cleared */
	outb(COM1 + UART_MCR, 0x03);	/* DTR, RTS; OUT2 off: no IRQ line */
}

static void serial_putc(char c)
{
	unsigned spin;

	/* QEMU's UART drains at once; the bound only guards a wedged port. */
	for (spin = 0; spin < 1000000; spin++)
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
	outb(COM1 + UART_THR, (u8)c);
}

struct out {
	char buf[320];
	size_t len;
};

static void out_c(struct out *o, char c)
{
	if (o->len < sizeof(o->buf))
		o->buf[o->len++] = c;
}

static void out_s(struct out *o, const char *s)
{
	while (*s)
		out_c(o, *s++);
}

static void out_sn(struct out *o, const char *s, int n)
{
	while (n-- > 0 && *s)
		out_c(o, *s++);
}

static void out_u64(struct out *o, u64 v, u32 base)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[24];
	int n = 0;
	u32 r;

	do {
		v = div_u64_u32(v, base, &r);
		tmp[n++] = digits[r];
	} while (v);
	while (n)
		out_c(o, tmp[--n]);
}

/* One conversion at *fmt (just past the '%'); returns chars consumed. */
static int out_conv(struct out *o, const char *fmt, va_list *ap)
{
	s64 sv;

	switch (fmt[0]) {
	case 's':
		out_s(o, va_arg(*ap, const char *));
		return 1;
	case 'c':
		out_c(o, (char)va_arg(*ap, int));
		return 1;
	case 'u':
		out_u64(o, va_arg(*ap, u32), 10);
		return 1;
	case 'x':
		out_u64(o, va_arg(*ap, u32), 16);
		return 1;
	case 'd':
		sv = va_arg(*ap, int);
		if (sv < 0) {
			out_c(o, '-');
			sv = -sv;
		}
		out_u64(o, (u64)sv, 10);
		return 1;
	case '.':
		if (fmt[1] == '*' && fmt[2] == 's') {
			sv = va_arg(*ap, int);
			out_sn(o, va_arg(*ap, const char *), (int)sv);
			return 3;
		}
		break;
	case 'l':
		if (fmt[1] == 'l' && (fmt[2] == 'u' || fmt[2] == 'x')) {
			out_u64(o, va_arg(*ap, unsigned long long),
				fmt[2] == 'u' ? 10 : 16);
			return 3;
		}
		break;
	case '%':
		out_c(o, '%');
		return 1;
	}
	out_c(o, '?');
	return fmt[0] ? 1 : 0;
}

/*
 * Format into a buffer first, then send: a line leaves the guest in one
 * burst, which keeps the window where a migration can split it short.
 */
void gprintf(const char *fmt, ...)
{
	struct out o = { .len = 0 };
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	while (*fmt) {
		if (*fmt != '%') {
			out_c(&o, *fmt++);
			continue;
		}
		fmt++;
		fmt += out_conv(&o, fmt, &ap);
	}
	va_end(ap);
	for (i = 0; i < o.len; i++)
		serial_putc(o.buf[i]);
}
