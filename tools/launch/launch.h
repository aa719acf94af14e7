/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * launch: start QEMU for the test guest (and qmigd), the way the tests,
 * the demo and the benchmarks need it, and tear it down without leaving
 * anything behind.
 *
 * What a started VM looks like:
 *
 *   run dir (mkdtemp under $TMPDIR)      guest RAM (shared backend)
 *   ├── qmp.sock    QMP, unix socket     /dev/shm/qmig-<name>-<pid>-XXXXXX.ram
 *   ├── serial.log  guest serial port     (memory-backend-file, share=on)
 *   └── qemu.log    QEMU's stderr        or memory-backend-memfd, share=on
 *
 * QEMU runs with -nodefaults -no-user-config -display none, the pc machine
 * with its RAM on the backend (-machine memory-backend=ram0), TCG unless
 * KVM has real hardware virtualisation (see ql_kvm_usable()). The child
 * gets PR_SET_PDEATHSIG(SIGKILL), so a test that crashes takes its QEMU with
 * it; ql_vm_stop() removes the run dir and the RAM file.
 *
 * Not thread-safe per ql_vm; distinct ql_vm objects are independent.
 */
#ifndef QMIG_LAUNCH_H
#define QMIG_LAUNCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

typedef enum ql_accel {
	QL_ACCEL_AUTO = 0, /* KVM if ql_kvm_usable(), else TCG */
	QL_ACCEL_TCG,
	QL_ACCEL_KVM,
} ql_accel;

typedef enum ql_mem {
	QL_MEM_FILE = 0,   /* memory-backend-file on shm_dir, share=on */
	QL_MEM_MEMFD,      /* memory-backend-memfd, share=on */
	QL_MEM_PRIVATE,    /* plain anonymous RAM (not usable by the agent) */
} ql_mem;

typedef struct ql_vm_opts {
	const char *name;        /* VM name, used in file names; default "vm" */
	uint64_t ram_bytes;      /* default 256 MiB */
	ql_mem mem;
	const char *shm_dir;     /* default /dev/shm */
	const char *kernel;      /* default ql_guest_kernel(); "" = no kernel */
	const char *append;      /* guest command line, may be NULL */
	ql_accel accel;          /* QMIG_ACCEL=tcg|kvm|auto overrides AUTO */
	bool paused;             /* -S */
	const char *incoming;    /* -incoming VALUE, e.g. "defer"; NULL = none */
	const char *const *extra_args; /* NULL-terminated, appended as is */
	int start_timeout_ms;    /* wait for the QMP socket; default 10000 */
	const char *netns;       /* run in the network namespace of that name
				  * (/run/netns/NAME, e.g. a rig side, see
				  * tools/rig/rig.h); NULL = the caller's */
} ql_vm_opts;

#define QL_PATH_MAX 256

typedef struct ql_vm {
	pid_t pid;               /* 0 when not running */
	bool exited;             /* reaped by ql_vm_alive(); see wait_status */
	int wait_status;
	char name[64];
	char dir[QL_PATH_MAX];         /* run dir, removed by ql_vm_stop */
	char qmp_path[QL_PATH_MAX];
	char serial_path[QL_PATH_MAX];
	char log_path[QL_PATH_MAX];    /* QEMU's stdout+stderr */
	char mem_path[QL_PATH_MAX];    /* "" unless QL_MEM_FILE */
	uint64_t ram_bytes;
	bool kvm;                /* accelerator actually chosen */
	char **argv;             /* NULL-terminated, owned; for diagnostics */
} ql_vm;

/*
 * ql_vm_start: build argv from @o, start QEMU and wait until its QMP socket
 * accepts connections.
 * Returns: true on success. On failure *err says why (including the tail of
 * QEMU's own stderr if it exited) and nothing is left running or on disk.
 */
bool ql_vm_start(ql_vm *vm, const ql_vm_opts *o, qm_error *err);

/*
 * ql_vm_stop: SIGTERM, wait up to 5 s, then SIGKILL; reap; remove the run
 * dir and the RAM file. Safe to call twice and on a VM that never started.
 * Returns: QEMU's wait status (also when ql_vm_alive() reaped it
 * earlier), or -1 if it never ran.
 */
int ql_vm_stop(ql_vm *vm);

/* ql_vm_alive: true while the QEMU process exists and is not a zombie we
 * have reaped. Reaps it if it exited. */
bool ql_vm_alive(ql_vm *vm);

/*
 * ql_kvm_usable: true when /dev/kvm can create a VM and the CPU advertises
 * vmx or svm (the emulated /dev/kvm on some hosts has neither and is slower
 * than TCG). When false, @why (if non-NULL) gets the reason.
 */
bool ql_kvm_usable(char *why, size_t why_len);

/* Path of the built test guest (QMIG_GUEST env overrides the build path). */
const char *ql_guest_kernel(void);

/* Path of the QEMU binary (QMIG_QEMU env overrides qemu-system-x86_64);
 * NULL if it cannot be found in PATH. */
const char *ql_qemu_binary(void);

/* ---- qmigd, for tests, the demo and the benchmarks ---- */

typedef struct ql_agent {
	pid_t pid;
	char dir[QL_PATH_MAX];       /* temp dir: state/, rpc.sock, qmigd.log */
	char rpc[QL_PATH_MAX + 8];   /* "unix:DIR/rpc.sock" */
	char state_dir[QL_PATH_MAX];
	char log_path[QL_PATH_MAX];
	char netns[64];              /* its network namespace; "" = ours */
	bool exited;
	int wait_status;
} ql_agent;

/*
 * ql_agent_start: run qmigd (QMIG_QMIGD env, else the built one) with a
 * fresh state dir and a unix RPC socket in a temp dir, plus @extra_args
 * (NULL-terminated, may be NULL), and wait until the socket accepts.
 * PR_SET_PDEATHSIG as for QEMU. On failure the log's tail is in *err.
 */
bool ql_agent_start(ql_agent *a, const char *name,
		    const char *const *extra_args, qm_error *err);
/* As ql_agent_start, with qmigd in the network namespace @netns
 * (/run/netns/NAME; NULL = the caller's): its TCP listeners and peers are
 * that namespace's, its unix RPC socket stays reachable by path. */
bool ql_agent_start_ns(ql_agent *a, const char *name, const char *netns,
		       const char *const *extra_args, qm_error *err);
/* SIGTERM, wait up to 5 s, SIGKILL; remove the temp dir (unless
 * QMIG_KEEP). Returns the wait status (-1 if it never ran). */
int ql_agent_stop(ql_agent *a);
/* SIGKILL now (a crash, for fault tests); files are kept for a restart. */
void ql_agent_kill(ql_agent *a);
/* Run qmigd again where one was killed: same state dir, RPC socket and
 * namespace, so it has to recover from what the dead one left; with
 * @extra_args, its output appended to "qmigd-restart.log" beside the
 * first log; wait until its socket accepts. @a must not be running. */
bool ql_agent_restart(ql_agent *a, const char *const *extra_args,
		      qm_error *err);
bool ql_agent_alive(ql_agent *a);
/* Path of the qmigd binary. */
const char *ql_qmigd_binary(void);

#endif /* QMIG_LAUNCH_H */
