/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * entry.S: multiboot (v1) header and entry point.
 *
 * The loader enters in 32-bit protected mode, flat segments, paging off,
 * EAX = multiboot magic, EBX = physical address of the multiboot info.
 * We never load segment registers and never enable interrupts, so the
 * loader's GDT is all we need and there is no IDT.
 */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003	/* page-aligned modules, memory info */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	movl	$stack_top, %esp
	pushl	$0		/* clear EFLAGS: IF off, DF off */
	popfl
	pushl	%ebx
	pushl	%eax
	call	guest_main
1:	cli
	hlt
	jmp	1b

	.bss
	.align 16
stack:
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
