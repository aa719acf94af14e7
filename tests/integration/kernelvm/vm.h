/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The in-VM test program (runs as /init of the test initramfs): shared
 * helpers. Results go to the serial console as TAP lines that the host
 * driver checks:
 *
 *   ok 3 - soft-dirty: round 0 hashes every data page
 *   not ok 4 - ... (what was wanted, what was seen)
 *   # info lines (figures, reasons)
 *   1..N
 *   # kernelvm: done
 */
#ifndef QMIG_KERNELVM_VM_H
#define QMIG_KERNELVM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "dirtylog/dirtylog.h"

/* Print "ok N - what" or "not ok N - what"; returns @ok. */
bool vm_check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print "# ..." */
void vm_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Number of checks printed so far. */
int vm_checks(void);

/* The groups of checks. */
void vm_softdirty_tests(void);
void vm_numa_tests(void);

#endif
