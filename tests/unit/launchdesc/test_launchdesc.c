/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of agent/launchdesc.c: the source argv rewritten for the
 * destination QEMU (a table of accepted command lines with their exact
 * output, a table of refused ones with their exact message), the lists the
 * destination agent consumes, /proc of a real process, JSON both ways.
 *
 * The binary doubles as the process that the /proc test reads: started
 * with LD_TEST_CHILD=1 in its environment it waits to be killed.
 */
#include "tests/qmig_test.h"
#include "agent/launchdesc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define QEMU "/usr/bin/qemu-system-x86_64"
#define VMDIR "/state/vms/vm1"

static const ld_opts opts = {
	.state_dir = "/state",
	.vm_name = "vm1",
	.qemu_binary = QEMU,
};

/* ---- helpers ---- */

/* A description of "QEMU @in..." run from @cwd ("/src" if NULL). */
static void desc_of(ld_desc *d, const char *const *in, const char *cwd)
{
	const char *v[64] = { "/opt/qemu/bin/qemu-system-x86_64" };
	qm_error e = QM_ERROR_INIT;
	size_t n = 1;

	for (; in[n - 1]; n++) {
		assert_true(n < QM_ARRAY_SIZE(v));
		v[n] = in[n - 1];
	}
	if (!ld_desc_set(d, v, n, cwd ? cwd : "/src", &e))
		fail_msg("ld_desc_set: %s", e.msg);
}

/* @r's argv must be QEMU, @out..., "-incoming", "defer", "-S". */
static void assert_argv(const ld_result *r, const char *const *out,
			const char *why)
{
	static const char *const tail[] = { "-incoming", "defer", "-S" };
	size_t n;

	assert_string_equal(r->argv[0], QEMU);
	for (n = 0; out[n]; n++) {
		if (n + 1 >= r->argc || strcmp(r->argv[n + 1], out[n]))
			fail_msg("%s: argv[%zu] is \"%s\", expected \"%s\"", why,
				 n + 1, n + 1 < r->argc ? r->argv[n + 1] :
				 "(end)", out[n]);
	}
	if (r->argc != n + 4)
		fail_msg("%s: %zu arguments, expected %zu (next: \"%s\")", why,
			 r->argc, n + 4, r->argv[n + 1]);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(r->argv[n + 1 + i], tail[i]);
	assert_null(r->argv[r->argc]);
}

/* Rewrite "QEMU @in..." from @cwd with @o; true on success, else the
 * message in @e. */
static bool rewrite(const char *const *in, const char *cwd, const ld_opts *o,
		    ld_result *r, qm_error *e)
{
	ld_desc d;
	bool ok;

	desc_of(&d, in, cwd);
	qm_error_clear(e);
	ok = ld_rewrite(&d, o, r, e);
	ld_desc_free(&d);
	if (!ok) {
		assert_true(qm_error_is_set(e));
		assert_null(r->argv);
		assert_int_equal(r->npaths, 0);
	}
	return ok;
}

static void must_rewrite(const char *const *in, const char *cwd,
			 ld_result *r)
{
	qm_error e = QM_ERROR_INIT;

	if (!rewrite(in, cwd, &opts, r, &e))
		fail_msg("refused: %s", e.msg);
}

static void must_refuse(const char *const *in, const char *cwd,
			const ld_opts *o, const char *msg)
{
	qm_error e = QM_ERROR_INIT;
	ld_result r;

	if (rewrite(in, cwd, o ? o : &opts, &r, &e)) {
		ld_result_free(&r);
		fail_msg("accepted, expected: %s", msg);
	}
	assert_string_equal(e.msg, msg);
}

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- the table of accepted command lines ---- */

typedef struct good_case {
	const char *why;
	const char *cwd;
	const char *in[40];
	const char *out[40];
} good_case;

/* The test launcher's argv (tools/launch/launch.c, build_argv()). */
#define LAUNCHER_IN \
	"-name", "vm1", "-nodefaults", "-no-user-config", "-display", "none", \
	"-accel", "tcg", "-m", "256M", "-object", \
	"memory-backend-file,id=ram0,size=256M,mem-path=/dev/shm/qmig-vm1-7-Ab3xYz.ram,share=on", \
	"-machine", "pc,memory-backend=ram0", \
	"-qmp", "unix:/tmp/qmig-vm1-Q2w3e4/qmp.sock,server=on,wait=off", \
	"-chardev", "file,id=serial0,path=/tmp/qmig-vm1-Q2w3e4/serial.log", \
	"-serial", "chardev:serial0", "-kernel", "/images/qmig-guest.elf", \
	"-append", "ws=64M rate=2000", "-S"

static const good_case good[] = {
	{ "the launcher's argv: RAM file, QMP socket and serial file move, "
	  "the kernel stays, -S is dropped, the rest is byte for byte",
	  NULL, { LAUNCHER_IN },
	  { "-name", "vm1", "-nodefaults", "-no-user-config", "-display", "none",
	    "-accel", "tcg", "-m", "256M", "-object",
	    "memory-backend-file,id=ram0,size=256M,mem-path=" VMDIR "/qmig-vm1-7-Ab3xYz.ram,share=on",
	    "-machine", "pc,memory-backend=ram0",
	    "-qmp", "unix:" VMDIR "/qmp.sock,server=on,wait=off",
	    "-chardev", "file,id=serial0,path=" VMDIR "/serial.log",
	    "-serial", "chardev:serial0", "-kernel", "/images/qmig-guest.elf",
	    "-append", "ws=64M rate=2000" } },
	{ "a memfd backend has no path: kept as it is",
	  NULL,
	  { "-m", "512M", "-object",
	    "memory-backend-memfd,id=mem,size=512M,share=on",
	    "-machine", "q35,memory-backend=mem",
	    "-qmp", "unix:/run/vm/q.sock,server=on,wait=off" },
	  { "-m", "512M", "-object",
	    "memory-backend-memfd,id=mem,size=512M,share=on",
	    "-machine", "q35,memory-backend=mem",
	    "-qmp", "unix:" VMDIR "/q.sock,server=on,wait=off" } },
	{ "NUMA: two file backends move, -numa is kept",
	  NULL,
	  { "-m", "2G", "-smp", "2", "-object",
	    "memory-backend-file,id=m0,size=1G,mem-path=/dev/hugepages/vm-n0,share=on,host-nodes=0,policy=bind",
	    "-object",
	    "memory-backend-file,id=m1,size=1G,mem-path=/dev/hugepages/vm-n1,share=on,host-nodes=1,policy=bind",
	    "-numa", "node,nodeid=0,cpus=0,memdev=m0",
	    "-numa", "node,nodeid=1,cpus=1,memdev=m1" },
	  { "-m", "2G", "-smp", "2", "-object",
	    "memory-backend-file,id=m0,size=1G,mem-path=" VMDIR "/vm-n0,share=on,host-nodes=0,policy=bind",
	    "-object",
	    "memory-backend-file,id=m1,size=1G,mem-path=" VMDIR "/vm-n1,share=on,host-nodes=1,policy=bind",
	    "-numa", "node,nodeid=0,cpus=0,memdev=m0",
	    "-numa", "node,nodeid=1,cpus=1,memdev=m1" } },
	{ "relative paths: moved files keep their file name, kept files are "
	  "joined to the source cwd",
	  "/home/op/vm one",
	  { "-object", "memory-backend-file,id=ram0,size=64M,mem-path=ram/vm.ram,share=on",
	    "-chardev", "file,id=s0,path=../logs/serial.log",
	    "-serial", "chardev:s0", "-pidfile", "./qemu.pid",
	    "-kernel", "guest.elf", "-initrd", "mods/a.mod",
	    "-drive", "file=disks/root.qcow2,format=qcow2,if=virtio" },
	  { "-object", "memory-backend-file,id=ram0,size=64M,mem-path=" VMDIR "/vm.ram,share=on",
	    "-chardev", "file,id=s0,path=" VMDIR "/serial.log",
	    "-serial", "chardev:s0", "-pidfile", VMDIR "/qemu.pid",
	    "-kernel", "/home/op/vm one/guest.elf",
	    "-initrd", "/home/op/vm one/mods/a.mod",
	    "-drive", "file=/home/op/vm one/disks/root.qcow2,format=qcow2,if=virtio" } },
	{ "\",,\" escapes a comma: unescaped to find the file name, "
	  "re-escaped in the new value; file: takes the rest literally",
	  NULL,
	  { "-chardev", "file,id=s0,path=/tmp/a,,b/ser,,ial.log",
	    "-qmp", "unix:/tmp/x,,y/q,,mp.sock,server=on,wait=off",
	    "-serial", "file:/tmp/p,q/con,sole.log",
	    "-drive", "file=/img/a,,b.qcow2,format=qcow2",
	    "-name", "guest=a,,b", "-append", "console=ttyS0,115200" },
	  { "-chardev", "file,id=s0,path=" VMDIR "/ser,,ial.log",
	    "-qmp", "unix:" VMDIR "/q,,mp.sock,server=on,wait=off",
	    "-serial", "file:" VMDIR "/con,sole.log",
	    "-drive", "file=/img/a,,b.qcow2,format=qcow2",
	    "-name", "guest=a,,b", "-append", "console=ttyS0,115200" } },
	{ "-S, -daemonize and every -incoming are dropped",
	  NULL,
	  { "-S", "-daemonize", "-incoming", "tcp:0:4444", "-name", "x",
	    "-incoming", "defer" },
	  { "-name", "x" } },
	{ "pidfile, log, chardev logfile and a socket in flag syntax move; "
	  "the flags stay as written",
	  NULL,
	  { "-pidfile", "/run/qemu/vm1.pid", "-D", "/var/log/qemu/vm1.log",
	    "-d", "guest_errors",
	    "-chardev", "socket,id=c,path=/tmp/c.sock,server,nowait,logfile=/var/log/c.log",
	    "-mon", "chardev=c,mode=control" },
	  { "-pidfile", VMDIR "/vm1.pid", "-D", VMDIR "/vm1.log",
	    "-d", "guest_errors",
	    "-chardev", "socket,id=c,path=" VMDIR "/c.sock,server,nowait,logfile=" VMDIR "/c.log",
	    "-mon", "chardev=c,mode=control" } },
	{ "compat chardev forms: unix: (also after mon:), pipe:, none, null",
	  NULL,
	  { "-monitor", "unix:/tmp/hmp.sock,server=on,wait=off",
	    "-serial", "mon:unix:/tmp/con.sock,server=on,wait=off",
	    "-serial", "pipe:/tmp/fifo", "-monitor", "none",
	    "-serial", "null", "-qmp", "mon:file:/tmp/qmp.out" },
	  { "-monitor", "unix:" VMDIR "/hmp.sock,server=on,wait=off",
	    "-serial", "mon:unix:" VMDIR "/con.sock,server=on,wait=off",
	    "-serial", "pipe:" VMDIR "/fifo", "-monitor", "none",
	    "-serial", "null", "-qmp", "mon:file:" VMDIR "/qmp.out" } },
	{ "networking: a tap gets script=no,downscript=no appended; user "
	  "and -nic none are kept",
	  NULL,
	  { "-netdev", "tap,id=n0,ifname=tap0",
	    "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56",
	    "-netdev", "user,id=n1,restrict=on",
	    "-netdev", "tap,id=n2,ifname=tap1,script=no,downscript=",
	    "-nic", "none" },
	  { "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
	    "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56",
	    "-netdev", "user,id=n1,restrict=on",
	    "-netdev", "tap,id=n2,ifname=tap1,script=no,downscript=",
	    "-nic", "none" } },
	{ "block devices: -blockdev filename and nested file.filename are "
	  "disks, relative ones made absolute",
	  "/vm",
	  { "-blockdev", "driver=file,node-name=f0,filename=disk.raw",
	    "-blockdev", "raw,node-name=d0,file=f0",
	    "-device", "virtio-blk-pci,drive=d0",
	    "-blockdev", "driver=qcow2,node-name=q0,file.driver=file,file.filename=/img/q.qcow2",
	    "-drive", "if=pflash,format=raw,readonly=on,file=/fw/OVMF_CODE.fd",
	    "-drive", "if=none,id=cd,media=cdrom,file=" },
	  { "-blockdev", "driver=file,node-name=f0,filename=/vm/disk.raw",
	    "-blockdev", "raw,node-name=d0,file=f0",
	    "-device", "virtio-blk-pci,drive=d0",
	    "-blockdev", "driver=qcow2,node-name=q0,file.driver=file,file.filename=/img/q.qcow2",
	    "-drive", "if=pflash,format=raw,readonly=on,file=/fw/OVMF_CODE.fd",
	    "-drive", "if=none,id=cd,media=cdrom,file=" } },
	{ "firmware: a bare name is QEMU's (kept), a path is external; "
	  "-machine kernel/initrd are images",
	  "/boot",
	  { "-bios", "bios-256k.bin", "-device", "e1000,romfile=",
	    "-device", "virtio-net-pci,romfile=efi-virtio.rom",
	    "-machine", "q35,kernel=vmlinuz,initrd=initrd.img,append=quiet" },
	  { "-bios", "bios-256k.bin", "-device", "e1000,romfile=",
	    "-device", "virtio-net-pci,romfile=efi-virtio.rom",
	    "-machine", "q35,kernel=/boot/vmlinuz,initrd=/boot/initrd.img,append=quiet" } },
	{ "multiboot modules: each module's path is external, its "
	  "arguments and escapes are kept",
	  "/img",
	  { "-kernel", "/img/k", "-initrd",
	    "mod1.bin arg1 arg2,/abs/mod2.bin,mod,,3.bin x" },
	  { "-kernel", "/img/k", "-initrd",
	    "/img/mod1.bin arg1 arg2,/abs/mod2.bin,/img/mod,,3.bin x" } },
	{ "guest-shape options and --double-dash spellings are copied byte "
	  "for byte",
	  NULL,
	  { "--name", "x", "--nodefaults", "-global", "isa-fdc.fdtypeA=none",
	    "-global", "driver=cfi.pflash01,property=secure,value=on",
	    "-rtc", "base=utc,clock=host", "-sandbox", "on,obsolete=deny",
	    "-overcommit", "mem-lock=off", "-msg", "timestamp=on",
	    "-M", "pc", "-vga", "none", "-nographic", "-no-reboot",
	    "-enable-kvm", "-cpu", "max,+x2apic", "-smp", "2,sockets=1",
	    "-boot", "order=c,menu=off",
	    "-uuid", "6b3e2d3c-1b1e-4c36-9d51-6a1d3f7e5a10",
	    "-action", "panic=pause", "-object", "iothread,id=io0",
	    "-object", "rng-random,id=rng0,filename=/dev/urandom",
	    "-device", "virtio-rng-pci,rng=rng0" },
	  { "--name", "x", "--nodefaults", "-global", "isa-fdc.fdtypeA=none",
	    "-global", "driver=cfi.pflash01,property=secure,value=on",
	    "-rtc", "base=utc,clock=host", "-sandbox", "on,obsolete=deny",
	    "-overcommit", "mem-lock=off", "-msg", "timestamp=on",
	    "-M", "pc", "-vga", "none", "-nographic", "-no-reboot",
	    "-enable-kvm", "-cpu", "max,+x2apic", "-smp", "2,sockets=1",
	    "-boot", "order=c,menu=off",
	    "-uuid", "6b3e2d3c-1b1e-4c36-9d51-6a1d3f7e5a10",
	    "-action", "panic=pause", "-object", "iothread,id=io0",
	    "-object", "rng-random,id=rng0,filename=/dev/urandom",
	    "-device", "virtio-rng-pci,rng=rng0" } },
	{ "the same file referenced twice is one file, not a clash",
	  NULL,
	  { "-chardev", "file,id=s0,path=/tmp/d/s.log,logfile=/tmp/d/s.log",
	    "-serial", "chardev:s0" },
	  { "-chardev", "file,id=s0,path=" VMDIR "/s.log,logfile=" VMDIR "/s.log",
	    "-serial", "chardev:s0" } },
};

/* Each accepted command line gives exactly its expected output. */
static void test_good_table(void **state)
{
	ld_result r;

	for (size_t i = 0; i < QM_ARRAY_SIZE(good); i++) {
		must_rewrite(good[i].in, good[i].cwd, &r);
		assert_argv(&r, good[i].out, good[i].why);
		assert_string_equal(r.vm_dir, VMDIR);
		ld_result_free(&r);
	}
}

/* The output is a fixed point: rewriting it again (from the VM directory)
 * gives the same argv, so nothing the destination emits would itself be
 * refused or moved elsewhere. */
static void test_good_idempotent(void **state)
{
	qm_error e = QM_ERROR_INIT;
	ld_result r1, r2;
	ld_desc d;

	for (size_t i = 0; i < QM_ARRAY_SIZE(good); i++) {
		must_rewrite(good[i].in, good[i].cwd, &r1);
		assert_true(ld_desc_set(&d, (const char *const *)r1.argv,
					r1.argc, r1.vm_dir, &e));
		if (!ld_rewrite(&d, &opts, &r2, &e))
			fail_msg("%s: second pass refused: %s", good[i].why,
				 e.msg);
		assert_int_equal(r2.argc, r1.argc);
		for (size_t j = 0; j < r1.argc; j++)
			assert_string_equal(r2.argv[j], r1.argv[j]);
		ld_desc_free(&d);
		ld_result_free(&r1);
		ld_result_free(&r2);
	}
}

/* ---- the table of refused command lines ---- */

typedef struct bad_case {
	const char *why;
	const char *in[12];
	const char *msg;
} bad_case;

static const bad_case bad[] = {
	{ "an option off the allow-list",
	  { "-run-with", "user=root" }, "-run-with: option not allowed" },
	{ "legacy -mem-path (a backend needs an id the agent can find)",
	  { "-mem-path", "/dev/hugepages" }, "-mem-path: option not allowed" },
	{ "a bare argument is a disk image to QEMU",
	  { "-m", "1G", "disk.img" },
	  "disk.img: not an option (QEMU would take it as a disk image)" },
	{ "an option without its value",
	  { "-name", "x", "-m" }, "-m: option needs a value" },
	{ "an object type off the list",
	  { "-object", "secret,id=s0,file=/etc/shadow" },
	  "-object secret,id=s0,file=/etc/shadow: object type secret is not allowed" },
	{ "a parameter off the object type's list",
	  { "-object", "memory-backend-ram,id=r,size=1G,foo=bar" },
	  "-object memory-backend-ram,id=r,size=1G,foo=bar: parameter foo is not allowed for memory-backend-ram" },
	{ "rng-random reading another host file",
	  { "-object", "rng-random,id=r,filename=/etc/shadow" },
	  "-object rng-random,id=r,filename=/etc/shadow: filename=/etc/shadow: only /dev/random and /dev/urandom are allowed" },
	{ "a file backend without mem-path",
	  { "-object", "memory-backend-file,id=r,size=1G" },
	  "-object memory-backend-file,id=r,size=1G: memory-backend-file without mem-path" },
	{ "JSON syntax",
	  { "-object", "{\"qom-type\":\"secret\",\"id\":\"s\"}" },
	  "-object {\"qom-type\":\"secret\",\"id\":\"s\"}: JSON syntax is not supported, use key=value" },
	{ "a key given twice (QEMU would take the last one)",
	  { "-chardev", "file,id=s,path=/tmp/a,path=/etc/passwd" },
	  "-chardev file,id=s,path=/tmp/a,path=/etc/passwd: parameter path is given twice" },
	{ "an implied key given again explicitly",
	  { "-chardev", "file,id=s,path=/tmp/a,backend=socket" },
	  "-chardev file,id=s,path=/tmp/a,backend=socket: parameter backend is given twice" },
	{ "a tap that runs a script",
	  { "-netdev", "tap,id=n0,script=/etc/qemu-ifup" },
	  "-netdev tap,id=n0,script=/etc/qemu-ifup: script=/etc/qemu-ifup would run a program; only script=no is allowed" },
	{ "a tap that runs a downscript",
	  { "-netdev", "tap,id=n0,script=no,downscript=/tmp/x.sh" },
	  "-netdev tap,id=n0,script=no,downscript=/tmp/x.sh: downscript=/tmp/x.sh would run a program; only downscript=no is allowed" },
	{ "a tap through the bridge helper",
	  { "-netdev", "tap,id=n0,helper=/usr/lib/qemu/qemu-bridge-helper" },
	  "-netdev tap,id=n0,helper=/usr/lib/qemu/qemu-bridge-helper: helper= runs a helper program" },
	{ "user networking forwarding a host port",
	  { "-nic", "user,hostfwd=tcp::2222-:22" },
	  "-nic user,hostfwd=tcp::2222-:22: hostfwd= listens on host ports" },
	{ "user networking running a command for a guest connection",
	  { "-netdev", "user,id=n,guestfwd=tcp:10.0.2.100:1-cmd:sh" },
	  "-netdev user,id=n,guestfwd=tcp:10.0.2.100:1-cmd:sh: guestfwd= can run a command" },
	{ "-nic none with parameters",
	  { "-nic", "none,model=e1000" },
	  "-nic none,model=e1000: none takes no parameters" },
	{ "a network type off the list",
	  { "-netdev", "socket,id=n,listen=:1234" },
	  "-netdev socket,id=n,listen=:1234: network type socket is not allowed (user, tap)" },
	{ "a path ending in \"..\"",
	  { "-pidfile", "/run/.." },
	  "-pidfile /run/..: path ends in \"..\", not in a file name" },
	{ "a path ending in '/'",
	  { "-object", "memory-backend-file,id=r,size=1G,mem-path=/dev/shm/" },
	  "-object memory-backend-file,id=r,size=1G,mem-path=/dev/shm/: mem-path ends in '/', not in a file name" },
	{ "an empty path",
	  { "-chardev", "file,id=s,path=" },
	  "-chardev file,id=s,path=: path is empty" },
	{ "a TCP chardev (listening on arbitrary ports)",
	  { "-chardev", "socket,id=c,host=0.0.0.0,port=4444,server=on" },
	  "-chardev socket,id=c,host=0.0.0.0,port=4444,server=on: parameter host is not allowed for chardev socket" },
	{ "a socket chardev without a path",
	  { "-chardev", "socket,id=c,server=on" },
	  "-chardev socket,id=c,server=on: no path: only unix sockets are allowed" },
	{ "an abstract socket (not a file)",
	  { "-chardev", "socket,id=c,path=x,abstract=on" },
	  "-chardev socket,id=c,path=x,abstract=on: abstract=on: abstract sockets are not allowed" },
	{ "a stdio chardev",
	  { "-chardev", "stdio,id=c" },
	  "-chardev stdio,id=c: chardev backend stdio is not allowed (file, socket, pipe, null, ringbuf, memory)" },
	{ "a TCP serial port",
	  { "-serial", "tcp::4444,server=on" },
	  "-serial tcp::4444,server=on: character device not allowed (none, null, chardev:ID, file:PATH, pipe:PATH, unix:PATH)" },
	{ "a host tty as serial port",
	  { "-serial", "/dev/ttyS0" },
	  "-serial /dev/ttyS0: character device not allowed (none, null, chardev:ID, file:PATH, pipe:PATH, unix:PATH)" },
	{ "-qmp none is not QEMU syntax",
	  { "-qmp", "none" },
	  "-qmp none: character device not allowed (null, chardev:ID, file:PATH, pipe:PATH, unix:PATH)" },
	{ "a unix: monitor rebinding its backend",
	  { "-monitor", "unix:/tmp/m,backend=file" },
	  "-monitor unix:/tmp/m,backend=file: parameter backend is not allowed for unix:" },
	{ "an exec: migration URI",
	  { "-incoming", "exec:cat /tmp/state" },
	  "-incoming exec:cat /tmp/state: exec: migration runs a shell command" },
	{ "a device that loads a host file into the guest",
	  { "-device", "loader,file=/etc/shadow,addr=0x1000" },
	  "-device loader,file=/etc/shadow,addr=0x1000: device loader is not allowed: it reaches host devices, files or daemons" },
	{ "host PCI passthrough",
	  { "-device", "driver=vfio-pci,host=01:00.0" },
	  "-device driver=vfio-pci,host=01:00.0: device vfio-pci is not allowed: it reaches host devices, files or daemons" },
	{ "an option ROM read from a host path",
	  { "-device", "e1000,romfile=/etc/shadow" },
	  "-device e1000,romfile=/etc/shadow: romfile=/etc/shadow: only empty or a firmware name without '/' is allowed" },
	{ "a device property naming a host file",
	  { "-device", "ipmi-bmc-sim,id=b,sdrfile=/etc/shadow" },
	  "-device ipmi-bmc-sim,id=b,sdrfile=/etc/shadow: property sdrfile names a host file or device" },
	{ "-global setting a host path property",
	  { "-global", "e1000.romfile=/etc/passwd" },
	  "-global e1000.romfile=/etc/passwd: romfile=/etc/passwd: only empty or a firmware name without '/' is allowed" },
	{ "-global on a refused driver",
	  { "-global", "driver=vfio-pci,property=x-no-mmap,value=on" },
	  "-global driver=vfio-pci,property=x-no-mmap,value=on: device vfio-pci is not allowed: it reaches host devices, files or daemons" },
	{ "a disk through a protocol (network block device)",
	  { "-drive", "file=nbd:10.0.0.1:10809,format=raw" },
	  "-drive file=nbd:10.0.0.1:10809,format=raw: file has the protocol prefix \"nbd:\"; only plain files and block devices are allowed" },
	{ "a disk given as json: (any driver, any option)",
	  { "-drive", "file=json:{\"driver\":\"vvfat\"}" },
	  "-drive file=json:{\"driver\":\"vvfat\"}: file has the protocol prefix \"json:\"; only plain files and block devices are allowed" },
	{ "a block driver off the list",
	  { "-drive", "file=/x,format=vvfat" },
	  "-drive file=/x,format=vvfat: format=vvfat: block driver not allowed (file, host_device, host_cdrom, raw, qcow2, null-co, null-aio)" },
	{ "a -blockdev driver off the list (nested)",
	  { "-blockdev", "driver=raw,node-name=d,file.driver=vvfat,file.dir=/" },
	  "-blockdev driver=raw,node-name=d,file.driver=vvfat,file.dir=/: file.driver=vvfat: block driver not allowed (file, host_device, host_cdrom, raw, qcow2, null-co, null-aio)" },
	{ "a -blockdev parameter off the list",
	  { "-blockdev", "driver=file,node-name=f,filename=/x,x-foo=1" },
	  "-blockdev driver=file,node-name=f,filename=/x,x-foo=1: parameter x-foo is not allowed for -blockdev" },
	{ "-display other than none",
	  { "-display", "vnc=:0" }, "-display vnc=:0: only -display none is allowed" },
	{ "-machine dumpdtb writes a host file",
	  { "-machine", "virt,dumpdtb=/etc/cron.d/x" },
	  "-machine virt,dumpdtb=/etc/cron.d/x: dumpdtb writes a host file" },
	{ "-machine is keyval: no flags",
	  { "-machine", "pc,usb" },
	  "-machine pc,usb: parameter usb has no value" },
	{ "an accelerator off the list",
	  { "-accel", "xen" },
	  "-accel xen: accelerator xen is not allowed (kvm, tcg)" },
	{ "-boot splash reads a host file",
	  { "-boot", "menu=on,splash=/etc/shadow" },
	  "-boot menu=on,splash=/etc/shadow: splash= reads a host file" },
	{ "-mon with an unknown mode",
	  { "-mon", "chardev=c,mode=gdb" },
	  "-mon chardev=c,mode=gdb: mode=gdb is not readline or control" },
	{ "a new value QEMU would misread as key=value",
	  { "-qmp", "unix:/t,,u/a=b.sock,server=on" },
	  "-qmp unix:/t,,u/a=b.sock,server=on: rewritten path /state/vms/vm1/a=b.sock would be read as key=value" },
	{ "two moved files with one file name (the attach-time rule)",
	  { "-chardev", "file,id=a,path=/x/serial.log",
	    "-chardev", "file,id=b,path=/y/serial.log" },
	  "-chardev path=/x/serial.log and -chardev path=/y/serial.log: both become serial.log in the VM directory" },
	{ "a pipe claims NAME.in and NAME.out too",
	  { "-serial", "pipe:/a/con", "-D", "/b/con.out" },
	  "-serial /a/con and -D /b/con.out: both become con.out in the VM directory" },
};

/* Each refused command line is refused with exactly its message. */
static void test_bad_table(void **state)
{
	for (size_t i = 0; i < QM_ARRAY_SIZE(bad); i++) {
		print_message("refused: %s\n", bad[i].why);
		must_refuse(bad[i].in, NULL, NULL, bad[i].msg);
	}
}

/* ---- what the destination agent consumes ---- */

/* The launcher's argv gives the RAM file with its id and size, the QMP
 * socket to connect to, the serial file, and the kernel to check. */
static void test_launcher_lists(void **state)
{
	const ld_path *p;
	ld_result r;

	must_rewrite(A(LAUNCHER_IN), NULL, &r);
	assert_int_equal(r.npaths, 3);
	p = ld_result_find(&r, LD_PATH_MEMORY, "ram0");
	assert_non_null(p);
	assert_string_equal(p->src, "/dev/shm/qmig-vm1-7-Ab3xYz.ram");
	assert_string_equal(p->dst, VMDIR "/qmig-vm1-7-Ab3xYz.ram");
	assert_true(p->has_size);
	assert_int_equal(p->size, 256ULL << 20);
	assert_string_equal(p->option, "-object");
	assert_string_equal(p->key, "mem-path");
	p = ld_result_qmp(&r);
	assert_non_null(p);
	assert_string_equal(p->dst, VMDIR "/qmp.sock");
	assert_true(p->socket && p->server);
	p = ld_result_find(&r, LD_PATH_SERIAL, NULL);
	assert_non_null(p);
	assert_string_equal(p->id, "serial0");
	assert_string_equal(p->dst, VMDIR "/serial.log");
	assert_int_equal(r.nbackends, 1);
	assert_int_equal(r.backends[0].type, LD_BACKEND_FILE);
	assert_true(r.backends[0].share);
	assert_int_equal(r.backends[0].path, 0);
	assert_int_equal(r.next, 1);
	assert_int_equal(r.ext[0].kind, LD_EXT_KERNEL);
	assert_string_equal(r.ext[0].path, "/images/qmig-guest.elf");
	ld_result_free(&r);
}

/* memfd and ram backends are listed without a path, with QEMU's share
 * default (on for memfd); sizes follow QEMU's suffixes and fractions. */
static void test_backends(void **state)
{
	ld_result r;

	must_rewrite(A("-object", "memory-backend-memfd,id=a,size=1.5G",
		       "-object", "memory-backend-ram,id=b,size=0x100000",
		       "-object", "memory-backend-file,id=c,size=2k,mem-path=/m/c,share=off",
		       "-object", "memory-backend-memfd,id=d,share=no"),
		     NULL, &r);
	assert_int_equal(r.nbackends, 4);
	assert_int_equal(r.backends[0].type, LD_BACKEND_MEMFD);
	assert_true(r.backends[0].share);
	assert_int_equal(r.backends[0].size, 3ULL << 29);
	assert_int_equal(r.backends[0].path, -1);
	assert_int_equal(r.backends[1].type, LD_BACKEND_RAM);
	assert_false(r.backends[1].share);
	assert_int_equal(r.backends[1].size, 1 << 20);
	assert_int_equal(r.backends[2].size, 2048);
	assert_false(r.backends[2].share);
	assert_int_equal(r.backends[2].path, 0);
	assert_string_equal(r.paths[0].dst, VMDIR "/c");
	assert_false(r.backends[3].share);
	assert_false(r.backends[3].has_size);
	ld_result_free(&r);
	must_refuse(A("-object", "memory-backend-ram,id=b,size=1.5"), NULL,
		    NULL, "-object memory-backend-ram,id=b,size=1.5: size=1.5 is not a size");
	must_refuse(A("-object", "memory-backend-ram,id=b,size=64M,share=maybe"),
		    NULL, NULL, "-object memory-backend-ram,id=b,size=64M,share=maybe: share=maybe is not a boolean");
}

/* Relative paths resolve against the source cwd: src_abs is normalised
 * for moved files, kept files are joined but not normalised. */
static void test_relative(void **state)
{
	ld_result r;

	must_rewrite(good[3].in, good[3].cwd, &r);
	assert_string_equal(r.paths[0].src_abs, "/home/op/vm one/ram/vm.ram");
	assert_string_equal(r.paths[1].src, "../logs/serial.log");
	assert_string_equal(r.paths[1].src_abs, "/home/op/logs/serial.log");
	assert_int_equal(r.paths[1].kind, LD_PATH_SERIAL);
	assert_string_equal(r.paths[2].src_abs, "/home/op/vm one/qemu.pid");
	assert_int_equal(r.paths[2].kind, LD_PATH_PIDFILE);
	assert_int_equal(r.next, 3);
	assert_string_equal(r.ext[2].src, "disks/root.qcow2");
	assert_string_equal(r.ext[2].path, "/home/op/vm one/disks/root.qcow2");
	assert_string_equal(r.ext[2].key, "file");
	assert_int_equal(r.ext[2].kind, LD_EXT_DISK);
	ld_result_free(&r);
}

/* A chardev takes the role of what uses it: -mon mode=control makes it
 * the QMP socket, -serial chardev: or a serial device the serial port,
 * plain -mon a monitor; QMP wins over serial wins over monitor. */
static void test_chardev_roles(void **state)
{
	const ld_path *p;
	ld_result r;

	must_rewrite(A("-chardev", "socket,id=q,path=/a/q.sock,server=on,wait=off",
		       "-chardev", "socket,id=h,path=/a/h.sock,server=on,wait=off",
		       "-chardev", "file,id=s,path=/a/s.log",
		       "-chardev", "file,id=t,path=/a/t.log",
		       "-chardev", "file,id=u,path=/a/u.log",
		       "-chardev", "socket,id=x,path=/a/x.sock,server=on,wait=off,mux=on",
		       "-mon", "chardev=q,mode=control", "-mon", "h",
		       "-serial", "chardev:s",
		       "-device", "isa-serial,chardev=t",
		       "-mon", "chardev=x", "-serial", "chardev:x",
		       "-chardev", "file,id=w,path=/a/w.log",
		       "-monitor", "chardev:w",
		       "-chardev", "socket,id=y,path=/a/y.sock,server=on,wait=off",
		       "-qmp", "chardev:y"),
		     NULL, &r);
	assert_int_equal(r.paths[0].kind, LD_PATH_QMP);
	assert_int_equal(r.paths[1].kind, LD_PATH_MONITOR);
	assert_int_equal(r.paths[2].kind, LD_PATH_SERIAL);
	assert_int_equal(r.paths[3].kind, LD_PATH_SERIAL);
	assert_int_equal(r.paths[4].kind, LD_PATH_CHARDEV);
	assert_int_equal(r.paths[5].kind, LD_PATH_SERIAL);
	assert_int_equal(r.paths[6].kind, LD_PATH_MONITOR);
	assert_int_equal(r.paths[7].kind, LD_PATH_QMP);
	p = ld_result_qmp(&r);
	assert_non_null(p);
	assert_string_equal(p->id, "q");
	assert_null(ld_result_find(&r, LD_PATH_MEMORY, NULL));
	ld_result_free(&r);
	/* A QMP socket QEMU only connects to is no socket to connect to. */
	must_rewrite(A("-qmp", "unix:/a/q.sock,server=off"), NULL, &r);
	assert_non_null(ld_result_find(&r, LD_PATH_QMP, NULL));
	assert_null(ld_result_qmp(&r));
	ld_result_free(&r);
}

/* ld_validate is what the source runs on attach: it accepts the
 * launcher's argv and refuses two files with one name there already. */
static void test_validate(void **state)
{
	qm_error e = QM_ERROR_INIT;
	ld_desc d;

	desc_of(&d, A(LAUNCHER_IN), NULL);
	assert_true(ld_validate(&d, &e));
	assert_false(qm_error_is_set(&e));
	ld_desc_free(&d);
	desc_of(&d, A("-object", "memory-backend-file,id=r,size=1G,mem-path=/dev/shm/vm",
		      "-pidfile", "/run/vm"), NULL);
	assert_false(ld_validate(&d, &e));
	assert_int_equal(e.code, QM_ERR_INVAL);
	assert_string_equal(e.msg, "-object mem-path=/dev/shm/vm and -pidfile /run/vm: both become vm in the VM directory");
	ld_desc_free(&d);
}

/* Names the destination agent uses itself, the unix socket length limit
 * and the image roots are refused at rewrite time. */
static void test_destination_limits(void **state)
{
	static const char *const reserved[] = { "incoming.sock", NULL };
	static const char *const roots[] = { "/images", "/srv/vm/", NULL };
	ld_opts o = opts;
	char sock[160];
	ld_result r;
	qm_error e = QM_ERROR_INIT;

	o.reserved_names = reserved;
	must_refuse(A("-qmp", "unix:/tmp/incoming.sock,server=on"), NULL, &o,
		    "-qmp path=/tmp/incoming.sock: file name incoming.sock is reserved by the destination agent");
	o = opts;
	snprintf(sock, sizeof(sock), "unix:/tmp/%0*d.sock,server=on",
		 LD_UNIX_PATH_MAX - (int)strlen(VMDIR "/.sock") + 1, 0);
	assert_false(rewrite(A("-qmp", sock), NULL, &o, &r, &e));
	assert_int_equal(e.code, QM_ERR_TOO_BIG);
	assert_non_null(strstr(e.msg, "over the unix socket limit of 107"));
	snprintf(sock, sizeof(sock), "unix:/tmp/%0*d.sock,server=on",
		 LD_UNIX_PATH_MAX - (int)strlen(VMDIR "/.sock"), 0);
	must_rewrite(A("-qmp", sock), NULL, &r);
	assert_int_equal(strlen(r.paths[0].dst), LD_UNIX_PATH_MAX);
	ld_result_free(&r);
	o.image_roots = roots;
	assert_true(rewrite(A("-kernel", "/images/k", "-drive", "file=/srv/vm/d.img"),
			    NULL, &o, &r, &e));
	ld_result_free(&r);
	must_refuse(A("-drive", "file=/images/../etc/shadow,format=raw"), NULL,
		    &o, "-drive file=/images/../etc/shadow,format=raw: file /images/../etc/shadow is outside the image roots");
	must_refuse(A("-kernel", "../k"), "/images", &o,
		    "-kernel ../k: path /images/../k is outside the image roots");
}

/* The destination's own settings are checked: a VM name or state dir
 * that could put files elsewhere is refused before anything else. */
static void test_opts_refused(void **state)
{
	static const char *const names[] = { "../x", "", ".hidden", "a/b",
					     "a b", NULL };
	static const char *const dirs[] = { "state", "/a/../b", "/a//b",
					    "/a/", "/", "/a,b", NULL };
	qm_error e = QM_ERROR_INIT;
	ld_opts o = opts;
	ld_result r;

	for (const char *const *n = names; *n; n++) {
		o.vm_name = *n;
		assert_false(rewrite(A("-name", "x"), NULL, &o, &r, &e));
		assert_non_null(strstr(e.msg, "VM name"));
	}
	o = opts;
	for (const char *const *dd = dirs; *dd; dd++) {
		o.state_dir = *dd;
		assert_false(rewrite(A("-name", "x"), NULL, &o, &r, &e));
		assert_non_null(strstr(e.msg, "state dir"));
	}
	o = opts;
	o.qemu_binary = "qemu-system-x86_64";
	assert_false(rewrite(A("-name", "x"), NULL, &o, &r, &e));
	assert_string_equal(e.msg, "QEMU binary qemu-system-x86_64 is not an absolute path");
}

/* Limits on the description: argument count, argument size, total
 * size, cwd; ld_rewrite checks them again on a hand-made description. */
static void test_limits(void **state)
{
	static char big[LD_MAX_ARG_LEN + 2];
	const char *v[LD_MAX_ARGS + 1];
	qm_error e = QM_ERROR_INIT;
	ld_desc d;
	ld_result r;

	for (size_t i = 0; i < QM_ARRAY_SIZE(v); i++)
		v[i] = i % 2 ? "-nodefaults" : "-no-user-config";
	assert_false(ld_desc_set(&d, v, LD_MAX_ARGS + 1, "/", &e));
	assert_string_equal(e.msg, "argv has 1025 arguments, over the limit of 1024");
	assert_null(d.argv);
	qm_error_clear(&e);
	assert_true(ld_desc_set(&d, v, LD_MAX_ARGS, "/", &e));
	ld_desc_free(&d);
	/* built by hand, bypassing ld_desc_set */
	d.argv = (char **)v;
	d.argc = LD_MAX_ARGS + 1;
	d.cwd = (char *)"/";
	assert_false(ld_rewrite(&d, &opts, &r, &e));
	assert_int_equal(e.code, QM_ERR_TOO_BIG);
	assert_string_equal(e.msg, "argv has 1025 arguments, over the limit of 1024");
	memset(big, 'a', sizeof(big) - 1);
	v[1] = big;
	qm_error_clear(&e);
	assert_false(ld_desc_set(&d, v, 2, "/", &e));
	assert_string_equal(e.msg, "argv[1] is 16385 bytes, over the limit of 16384");
	big[LD_MAX_ARG_LEN] = '\0';
	for (size_t i = 1; i < 20; i++)
		v[i] = big;
	qm_error_clear(&e);
	assert_false(ld_desc_set(&d, v, 20, "/", &e));
	assert_string_equal(e.msg, "argv is 311331 bytes, over the limit of 262144");
	qm_error_clear(&e);
	assert_false(ld_desc_set(&d, v, 1, "relative", &e));
	assert_string_equal(e.msg, "cwd relative is not an absolute path");
}

/* /proc/PID/cmdline bytes: NUL-separated, an empty argument is kept, a
 * missing final NUL is tolerated, an empty buffer is refused. */
static void test_cmdline_bytes(void **state)
{
	static const char buf[] = "qemu\0-append\0\0-name\0a b,c";
	qm_error e = QM_ERROR_INIT;
	ld_desc d;

	assert_true(ld_desc_from_cmdline(&d, buf, sizeof(buf), "/x", &e));
	assert_int_equal(d.argc, 5);
	assert_string_equal(d.argv[2], "");
	assert_string_equal(d.argv[4], "a b,c");
	assert_null(d.argv[5]);
	ld_desc_free(&d);
	assert_true(ld_desc_from_cmdline(&d, buf, sizeof(buf) - 1, "/x", &e));
	assert_int_equal(d.argc, 5);
	assert_string_equal(d.argv[4], "a b,c");
	ld_desc_free(&d);
	assert_false(ld_desc_from_cmdline(&d, buf, 0, "/x", &e));
	assert_string_equal(e.msg, "command line is empty");
}

/* ---- a real process ---- */

static const char *const child_argv[] = {
	"qemu-system-x86_64", "-name", "vm one", "-append", "",
	"-chardev", "file,id=s0,path=serial,,1.log", "-serial", "chardev:s0",
	"-S", NULL
};

/* argv and cwd of a live process come back from /proc exactly: spaces,
 * an empty argument, commas, a cwd with a space; its relative chardev
 * path resolves against that cwd. */
static void test_proc_real(void **state)
{
	char dir[] = "/tmp/ld test.XXXXXX", buf[1];
	static char env0[] = "LD_TEST_CHILD=1";
	char *envp[] = { env0, NULL };
	qm_error e = QM_ERROR_INIT;
	int sync[2];
	ld_result r;
	ld_desc d;
	pid_t pid;
	size_t n;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (chdir(dir) == 0)
			execve("/proc/self/exe", (char **)child_argv, envp);
		_exit(127);
	}
	close(sync[1]);
	/* EOF once the child has exec'ed (or died). */
	assert_int_equal(read(sync[0], buf, 1), 0);
	close(sync[0]);
	assert_true(ld_desc_from_pid(&d, pid, &e));
	for (n = 0; child_argv[n]; n++)
		assert_string_equal(d.argv[n], child_argv[n]);
	assert_int_equal(d.argc, n);
	assert_string_equal(d.cwd, dir);
	assert_true(ld_rewrite(&d, &opts, &r, &e));
	assert_string_equal(r.paths[0].dst, VMDIR "/serial,1.log");
	assert_string_equal(r.argv[6], "file,id=s0,path=" VMDIR "/serial,,1.log");
	ld_result_free(&r);
	ld_desc_free(&d);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	rmdir(dir);
}

/* A process that is gone is an error naming the /proc file. */
static void test_proc_gone(void **state)
{
	qm_error e = QM_ERROR_INIT;
	char want[64];
	ld_desc d;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	assert_false(ld_desc_from_pid(&d, pid, &e));
	snprintf(want, sizeof(want), "/proc/%d/cwd: %s", (int)pid,
		 strerror(ENOENT));
	assert_string_equal(e.msg, want);
	assert_null(d.argv);
}

/* ---- kept files on this host ---- */

/* Kept files must exist with the right type; with image roots, a symlink
 * leading out of them is refused after resolution. */
static void test_check_external(void **state)
{
	static const char *const roots_ok[] = { "/", NULL };
	const char *roots[2] = { NULL, NULL };
	char dir[] = "/tmp/ldext.XXXXXX", in[64], path[128], out[128];
	char link[128], want[512];
	qm_error e = QM_ERROR_INIT;
	ld_result r;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(in, sizeof(in), "%s/in", dir);
	assert_int_equal(mkdir(in, 0700), 0);
	snprintf(path, sizeof(path), "%s/k.elf", in);
	snprintf(out, sizeof(out), "%s/outside.img", dir);
	snprintf(link, sizeof(link), "%s/disk.img", in);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	fd = open(out, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink("../outside.img", link), 0);

	must_rewrite(A("-kernel", "k.elf", "-drive", "file=disk.img,format=raw"),
		     in, &r);
	assert_true(ld_check_external(&r, roots_ok, &e));
	assert_true(ld_check_external(&r, NULL, &e));
	roots[0] = in;
	assert_false(ld_check_external(&r, roots, &e));
	assert_int_equal(e.code, QM_ERR_INVAL);
	snprintf(want, sizeof(want),
		 "-drive file=%s: resolves to %s, outside the image roots",
		 link, out);
	assert_string_equal(e.msg, want);
	ld_result_free(&r);

	must_rewrite(A("-kernel", "/nonexistent/k"), NULL, &r);
	qm_error_clear(&e);
	assert_false(ld_check_external(&r, NULL, &e));
	assert_int_equal(e.code, QM_ERR_NOTFOUND);
	assert_string_equal(e.msg, "-kernel /nonexistent/k: No such file or directory");
	ld_result_free(&r);

	must_rewrite(A("-initrd", in), NULL, &r);
	qm_error_clear(&e);
	assert_false(ld_check_external(&r, NULL, &e));
	snprintf(want, sizeof(want), "-initrd %s: not a regular file", in);
	assert_string_equal(e.msg, want);
	ld_result_free(&r);
	unlink(link);
	unlink(path);
	unlink(out);
	rmdir(in);
	rmdir(dir);
}

/* ---- JSON ---- */

/* A description survives the wire: JSON text and back, every byte of
 * every argument and the cwd. */
static void test_json_roundtrip(void **state)
{
	static const char *const v[] = {
		"/usr/bin/qemu-system-x86_64", "-append", "a \"q\" \\ é\t,,x",
		"", "-name", "vm,,1", NULL
	};
	qm_error e = QM_ERROR_INIT;
	json_object *j, *back;
	ld_desc d, d2;

	assert_true(ld_desc_set(&d, v, 6, "/home/op/vm one", &e));
	j = ld_desc_to_json(&d, &e);
	assert_non_null(j);
	back = json_tokener_parse(json_object_to_json_string(j));
	assert_non_null(back);
	assert_true(ld_desc_from_json(&d2, back, &e));
	assert_int_equal(d2.argc, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(d2.argv[i], v[i]);
	assert_string_equal(d2.cwd, "/home/op/vm one");
	json_object_put(j);
	json_object_put(back);
	ld_desc_free(&d);
	ld_desc_free(&d2);
}

typedef struct json_case {
	const char *json;
	qm_errcode code;
	const char *msg;
} json_case;

static const json_case hostile[] = {
	{ "[1]", QM_ERR_PROTO, "launch description is an array, expected an object" },
	{ "{\"version\":1,\"argv\":[\"q\"],\"cwd\":\"/\",\"env\":{}}",
	  QM_ERR_PROTO, "launch description: unknown member \"env\"" },
	{ "{\"version\":1,\"cwd\":\"/\"}", QM_ERR_PROTO,
	  "launch description: member argv is missing" },
	{ "{\"version\":\"1\",\"argv\":[\"q\"],\"cwd\":\"/\"}", QM_ERR_PROTO,
	  "launch description: version is a string, expected an integer" },
	{ "{\"version\":2,\"argv\":[\"q\"],\"cwd\":\"/\"}", QM_ERR_PROTO,
	  "launch description: version 2, expected 1" },
	{ "{\"version\":1,\"argv\":\"q -S\",\"cwd\":\"/\"}", QM_ERR_PROTO,
	  "launch description: argv is a string, expected an array" },
	{ "{\"version\":1,\"argv\":[],\"cwd\":\"/\"}", QM_ERR_PROTO,
	  "launch description: argv is empty" },
	{ "{\"version\":1,\"argv\":[\"q\",7],\"cwd\":\"/\"}", QM_ERR_PROTO,
	  "launch description: argv[1] is an integer, expected a string" },
	{ "{\"version\":1,\"argv\":[\"q\",null],\"cwd\":\"/\"}", QM_ERR_PROTO,
	  "launch description: argv[1] is null, expected a string" },
	{ "{\"version\":1,\"argv\":[\"q\",\"-name\",\"a\\u0000b\"],\"cwd\":\"/\"}",
	  QM_ERR_PROTO, "launch description: argv[2] contains a NUL byte" },
	{ "{\"version\":1,\"argv\":[\"q\"],\"cwd\":\"/a\\u0000b\"}", QM_ERR_PROTO,
	  "launch description: cwd contains a NUL byte" },
	{ "{\"version\":1,\"argv\":[\"q\"],\"cwd\":\"tmp\"}", QM_ERR_PROTO,
	  "launch description: cwd tmp is not an absolute path of at most 4095 bytes" },
	{ "{\"version\":1,\"argv\":[\"q\"],\"cwd\":[\"/\"]}", QM_ERR_PROTO,
	  "launch description: cwd is an array, expected a string" },
};

static void check_hostile(const char *text, qm_errcode code, const char *msg)
{
	qm_error e = QM_ERROR_INIT;
	json_object *j = json_tokener_parse(text);
	ld_desc d;

	assert_non_null(j);
	assert_false(ld_desc_from_json(&d, j, &e));
	assert_int_equal(e.code, code);
	assert_string_equal(e.msg, msg);
	assert_null(d.argv);
	assert_null(d.cwd);
	json_object_put(j);
}

/* A hostile peer's JSON is refused with a message naming the member:
 * wrong types, unknown members, NUL bytes, and every size limit. */
static void test_json_hostile(void **state)
{
	size_t big = LD_MAX_ARGS + 1, n;
	char *text, *p;

	for (size_t i = 0; i < QM_ARRAY_SIZE(hostile); i++)
		check_hostile(hostile[i].json, hostile[i].code, hostile[i].msg);

	/* 1025 arguments */
	text = malloc(64 + big * 4);
	assert_non_null(text);
	p = text + sprintf(text, "{\"version\":1,\"cwd\":\"/\",\"argv\":[");
	for (size_t i = 0; i < big; i++)
		p += sprintf(p, "%s\"\"", i ? "," : "");
	strcpy(p, "]}");
	check_hostile(text, QM_ERR_TOO_BIG,
		      "launch description: argv has 1025 arguments, over the limit of 1024");
	free(text);

	/* one argument one byte over, then 20 arguments at the limit */
	n = LD_MAX_ARG_LEN + 1;
	text = malloc(64 + 20 * (n + 3));
	assert_non_null(text);
	p = text + sprintf(text, "{\"version\":1,\"cwd\":\"/\",\"argv\":[\"q\",\"");
	memset(p, 'a', n);
	strcpy(p + n, "\"]}");
	check_hostile(text, QM_ERR_TOO_BIG,
		      "launch description: argv[1] is 16385 bytes, over the limit of 16384");
	p = text + sprintf(text, "{\"version\":1,\"cwd\":\"/\",\"argv\":[\"q\"");
	for (size_t i = 0; i < 19; i++) {
		*p++ = ',';
		*p++ = '"';
		memset(p, 'a', LD_MAX_ARG_LEN);
		p += LD_MAX_ARG_LEN;
		*p++ = '"';
	}
	strcpy(p, "]}");
	check_hostile(text, QM_ERR_TOO_BIG,
		      "launch description: argv is over 262144 bytes");
	free(text);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_table),
		cmocka_unit_test(test_good_idempotent),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_launcher_lists),
		cmocka_unit_test(test_backends),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_chardev_roles),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_destination_limits),
		cmocka_unit_test(test_opts_refused),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_cmdline_bytes),
		cmocka_unit_test(test_proc_real),
		cmocka_unit_test(test_proc_gone),
		cmocka_unit_test(test_check_external),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_hostile),
	};

	if (getenv("LD_TEST_CHILD")) {
		/* The process test_proc_real reads: wait to be killed. */
		for (;;)
			pause();
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
